#!/bin/sh
# install.sh: install memmon on a Raspberry Pi (or any aarch64 Linux with systemd).
#
#   sudo sh install.sh [UNIT]        binary + drop-in wrapping UNIT's own ExecStart=
#                                    (default attendance-client-fixed.service)
#   sudo sh install.sh --standalone  binary + memmon.service, for a program without a unit
#   sudo sh install.sh --uninstall   remove what memmon installed (files changed since are kept)
#
# The drop-in is written for the unit as systemd has it (systemctl show: its files, then the
# unit's last ExecStart=): the unit's command, prefixes and quoting kept, runs after
# `memmon run --children --`, from the unit's own WorkingDirectory= as its own User=. When the
# unit cannot be wrapped faithfully, nothing is written and the unit stays as it is.
#
# It never overwrites a file an admin changed: every file it installs is recorded with its
# SHA-256 in $DESTDIR/var/lib/memmon/installed.sha256, and an existing target is replaced only
# when it is identical to the new file or still matches that record.
#
# DESTDIR=/some/dir installs under that directory instead of / (for packaging and tests): no
# root is needed, the unit's files are read below DESTDIR, and systemctl is only asked to show
# the unit (never to reload).
#
# Exit status: 0 done, 1 refused (a changed file, a unit it cannot wrap, not root, a bad
# argument).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
destdir=${DESTDIR:-}
state_dir="$destdir/var/lib/memmon"
manifest="$state_dir/installed.sha256"
unit_dir="$destdir/etc/systemd/system"

die() {
    echo "install.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '2,24s/^# \{0,1\}//p' "$0"
}

mode=dropin
unit=attendance-client-fixed.service
dropin_template=systemd/attendance-client-fixed.service.d/memmon.conf
for arg in "$@"; do
    case $arg in
        --standalone) mode=standalone ;;
        --uninstall) mode=uninstall ;;
        -h|--help) usage; exit 0 ;;
        -*) die "unknown option $arg (try --help)" ;;
        */*) die "a unit name has no '/': $arg" ;;
        *.service) unit=$arg ;;
        *) die "expected a unit name ending in .service, got $arg" ;;
    esac
done

command -v sha256sum >/dev/null 2>&1 || die "sha256sum is missing (package coreutils)"
if [ -z "$destdir" ] && [ "$(id -u)" != 0 ]; then
    die "run as root: sudo sh $0 $*"
fi

# The hash of a file, or nothing when it does not exist.
hash_of() {
    if [ -f "$1" ]; then sha256sum < "$1" | cut -d' ' -f1; fi
}

# The hash memmon recorded for target path $1 (without DESTDIR), or nothing.
recorded() {
    if [ -f "$manifest" ]; then
        awk -v p="$1" '$2 == p { h = $1 } END { if (h != "") print h }' "$manifest"
    fi
}

# Replaces (or adds) the record of target $1 with hash $2; with no $2, removes it.
record() {
    mkdir -p "$state_dir"
    tmp="$manifest.tmp"
    if [ -f "$manifest" ]; then
        awk -v p="$1" '$2 != p' "$manifest" > "$tmp"
    else
        : > "$tmp"
    fi
    if [ -n "${2:-}" ]; then
        printf '%s %s\n' "$2" "$1" >> "$tmp"
    fi
    mv "$tmp" "$manifest"
}

# Succeeds when target $1 (without DESTDIR) may be replaced by source $2: it does not exist,
# it already has the new contents, or it still is what memmon installed last time.
may_replace() {
    current=$(hash_of "$destdir$1")
    [ -z "$current" ] && return 0
    [ "$current" = "$(hash_of "$2")" ] && return 0
    [ "$current" = "$(recorded "$1")" ] && return 0
    return 1
}

# Copies $2 to target $1 (without DESTDIR) with mode $3 and records it. It writes a temporary
# file and renames it, so a running memmon binary can be replaced ("text file busy" otherwise).
put() {
    mkdir -p "$(dirname "$destdir$1")"
    cp "$2" "$destdir$1.memmon-new"
    chmod "$3" "$destdir$1.memmon-new"
    mv -f "$destdir$1.memmon-new" "$destdir$1"
    record "$1" "$(hash_of "$destdir$1")"
    echo "installed $destdir$1"
}

reload() {
    if [ -n "$destdir" ]; then
        echo "DESTDIR is set: not running systemctl daemon-reload"
    elif command -v systemctl >/dev/null 2>&1; then
        echo "systemctl daemon-reload"
        systemctl daemon-reload
    else
        echo "systemctl not found: not reloading systemd"
    fi
}

# The last ExecStart= values of the [Service] section of the unit files given, in the order
# systemd reads them, one command a line: an empty ExecStart= clears the list, as in systemd.
# It follows systemd's file syntax: comment lines (# ;) are skipped, a line ending in an odd
# number of backslashes continues on the next one (the backslash becomes a space), keys and
# values are trimmed. The value is printed raw, so its quoting, specifiers (%h) and $VARS stay
# exactly as systemd will read them in the drop-in.
exec_starts() {
    awk '
        function handle(line,   k, v, eq) {
            gsub(/^[ \t\r\n]+|[ \t\r\n]+$/, "", line)
            if (line == "") return
            if (line ~ /^\[.*\]$/) { section = substr(line, 2, length(line) - 2); return }
            if (section != "Service") return
            eq = index(line, "=")
            if (eq == 0) return
            k = substr(line, 1, eq - 1); v = substr(line, eq + 1)
            gsub(/[ \t]+$/, "", k); gsub(/^[ \t]+/, "", v)
            if (k != "ExecStart") return
            if (v == "") n = 0; else cmd[++n] = v
        }
        FNR == 1 { if (cont != "") handle(cont); cont = ""; section = "" }
        {
            line = $0
            t = line; sub(/^[ \t]+/, "", t)
            if (t ~ /^[#;]/) next
            line = cont line
            i = length(line); b = 0
            while (i > 0 && substr(line, i, 1) == "\\") { b++; i-- }
            if (b % 2 == 1) { cont = substr(line, 1, length(line) - 1) " "; next }
            cont = ""
            handle(line)
        }
        END { if (cont != "") handle(cont); for (i = 1; i <= n; i++) print cmd[i] }
    ' "$@"
}

# Property $1 from the `systemctl show` answer in $show (KEY=VALUE lines, in systemd's order,
# not the order asked for; a property systemd leaves out is empty).
prop() {
    printf '%s\n' "$show" | sed -n "s/^$1=//p" | head -n 1
}

# The commands of $unit's ExecStart= as systemd has them loaded, one a line, words joined by
# spaces: systemctl show prints `ExecStart={ path=P ; argv[]=A B C ; ignore_errors=no ; … }`.
loaded_argv() {
    systemctl show -p ExecStart "$unit" 2>/dev/null \
        | sed -n 's/^ExecStart={ path=[^;]* ; argv\[\]=\(.*\) ; ignore_errors=.*$/\1/p'
}

# After daemon-reload: systemd must run memmon with the unit's command, exactly what it ran
# before (when that is known). Otherwise the drop-in could leave the unit with no command or
# the wrong one, so it is taken back (the previous file restored, or removed), systemd is
# reloaded again, and install.sh fails: the unit runs as it did before.
check_loaded() {
    after=$(loaded_argv)
    # A systemctl that prints ExecStart= in a form this script does not know cannot be checked
    # this way: say so, and leave the drop-in (its line was written the way systemd reads it).
    shown=$(systemctl show -p ExecStart "$unit" 2>/dev/null | grep -c '^ExecStart={' || true)
    if [ -z "$after" ] && [ "$shown" != 0 ]; then
        echo "warning: cannot read systemctl show's ExecStart= here; check by hand: systemctl show -p ExecStart $unit" >&2
        return 0
    fi
    head="/usr/local/bin/memmon run --children -- "
    problem=
    if [ "$(printf '%s' "$after" | grep -c '^' || true)" != 1 ]; then
        problem="systemd has $(printf '%s' "$after" | grep -c '^' || true) ExecStart= commands for $unit after the reload"
    else
        case $after in
            "$head"*) ;;
            *) problem="systemd runs '$after' for $unit after the reload, not memmon" ;;
        esac
    fi
    if [ -z "$problem" ] && [ -n "$baseline" ] && [ "$after" != "$head$baseline" ]; then
        problem="systemd reads the wrapped command as '${after#"$head"}', the unit's own as '$baseline'"
    fi
    [ -n "$problem" ] || return 0
    if [ -f "$work/previous.conf" ]; then
        put "$unit_target" "$work/previous.conf" 0644
    else
        rm -f "$unit_target"
        rmdir "$(dirname "$unit_target")" 2>/dev/null || true
        record "$unit_target"
    fi
    systemctl daemon-reload
    die "$problem. The drop-in was taken back and systemd reloaded: $unit runs as before, unwatched. Please report this with the output of: systemctl cat $unit"
}

# Writes the drop-in for $unit to $1: the template with its example ExecStart= replaced by the
# unit's own command under memmon. Dies, having written nothing outside $work, when the unit
# cannot be wrapped faithfully: the unit then runs exactly as before.
generate_dropin() {
    command -v systemctl >/dev/null 2>&1 \
        || die "systemctl not found: cannot read $unit's command. Nothing was changed."
    show=$(systemctl show -p LoadState -p FragmentPath -p DropInPaths -p WorkingDirectory -p User -p NeedDaemonReload "$unit" 2>&1) \
        || die "systemctl show $unit failed: $show. Nothing was changed."
    load_state=$(prop LoadState)
    fragment=$(prop FragmentPath)
    [ "$load_state" = loaded ] && [ -n "$fragment" ] \
        || die "systemd has no unit $unit (LoadState=$load_state): install the client's unit first, or name it (sudo sh install.sh NAME.service). Nothing was changed."
    # The unit's files as systemd reads them, without the drop-in this script writes: on a
    # second run the command is read from the unit again, not from the last wrap.
    out=$1
    set -- "$destdir$fragment"
    # DropInPaths is a space-separated list (unit file paths hold no spaces); no globbing.
    set -f
    ours_loaded=no
    for f in $(prop DropInPaths); do
        if [ "$f" = "$unit_target" ]; then ours_loaded=yes; continue; fi
        set -- "$@" "$destdir$f"
        # systemd applies drop-ins sorted by file name, whatever their directory: an ExecStart=
        # in one named after memmon.conf (override.conf, from systemctl edit) would replace
        # memmon's line, so the unit would quietly run unwatched.
        name=${f##*/}
        if [ "$(printf '%s\n%s\n' "$name" memmon.conf | LC_ALL=C sort | tail -n 1)" = "$name" ] \
            && [ "$name" != memmon.conf ] \
            && grep -Eq '^[[:space:]]*ExecStart[[:space:]]*=' "$destdir$f"; then
            die "$f sets ExecStart= and is read after memmon.conf, so it would replace memmon's command: move its ExecStart= lines into the unit, then run install.sh again. Nothing was changed."
        fi
    done
    set +f
    for f in "$@"; do
        [ -r "$f" ] || die "cannot read $f (a file of $unit). Nothing was changed."
    done
    commands=$(exec_starts "$@")
    count=$(printf '%s' "$commands" | grep -c '^' || true)
    case $count in
        0) die "$unit has no ExecStart=: there is no command to watch. Nothing was changed." ;;
        1) ;;
        *) die "$unit has $count ExecStart= commands; memmon wraps a unit with one. Nothing was changed." ;;
    esac
    # systemd's prefixes: - (failure ignored), : (no $VAR expansion), + ! !! (privileges) go in
    # front of memmon and keep their meaning; @ (an argv[0] of its own) and | (run through a
    # login shell) cannot be passed on by memmon.
    rest=$commands
    prefix=
    while :; do
        case $rest in
            [-@:+!\|]*) prefix=$prefix${rest%"${rest#?}"}; rest=${rest#?} ;;
            *) break ;;
        esac
    done
    case $prefix in
        *@*|*\|*) die "$unit's ExecStart= starts with '$prefix', which memmon cannot pass on: $commands. Nothing was changed; see README-pi.md to wrap it by hand." ;;
    esac
    first=${rest%%[ 	]*}
    case $first in
        memmon|*/memmon) die "$unit already runs memmon ($commands). Nothing was changed." ;;
    esac
    wrapped="ExecStart=$prefix/usr/local/bin/memmon run --children -- $rest"
    MEMMON_EXEC_START=$wrapped awk '
        !done && index($0, "ExecStart=/usr/local/bin/memmon run ") == 1 { print ENVIRON["MEMMON_EXEC_START"]; done = 1; next }
        { print }
        END { if (!done) exit 1 }
    ' "$here/$dropin_template" > "$out" \
        || die "$here/$dropin_template has no ExecStart=/usr/local/bin/memmon line: use the archive's file"
    # What systemd runs now, to compare with what it runs once the drop-in is loaded; only
    # when what it has loaded is the unit alone, as on disk.
    baseline=
    if [ -z "$destdir" ] && [ "$ours_loaded" = no ] && [ "$(prop NeedDaemonReload)" = no ]; then
        baseline=$(loaded_argv)
    fi
    user=$(prop User)
    dir=$(prop WorkingDirectory)
    echo "$unit runs: $commands"
    echo "  as ${user:-root}, in ${dir:-/ (no WorkingDirectory=)}; the drop-in runs it under memmon there"
    [ -n "$dir" ] || echo "warning: $unit has no WorkingDirectory=: memmon would write memory_usage.log in /, which ${user:-root} may not be allowed to; set WorkingDirectory= in the unit" >&2
}

if [ "$mode" = uninstall ]; then
    if [ ! -f "$manifest" ]; then
        echo "nothing to uninstall: $manifest does not exist"
        exit 0
    fi
    # Read the list first: record() rewrites the manifest while we go. Unit files come before
    # the binary: a unit file kept because the admin changed it may still start memmon, and
    # removing the binary under it would make that unit fail, so the binary then stays too.
    binary=/usr/local/bin/memmon
    keep_binary=0
    for target in $(awk -v b="$binary" '$2 != b { print $2 } $2 == b { last = $2 } END { if (last != "") print last }' "$manifest"); do
        current=$(hash_of "$destdir$target")
        if [ "$target" = "$binary" ] && [ "$keep_binary" = 1 ] && [ -n "$current" ]; then
            echo "kept $destdir$target: a unit file kept above still starts it" >&2
            continue
        fi
        if [ -z "$current" ]; then
            echo "already gone: $destdir$target"
        elif [ "$current" = "$(recorded "$target")" ]; then
            rm -f "$destdir$target"
            echo "removed $destdir$target"
            # A drop-in directory memmon's file was alone in goes too.
            case $target in
                */*.service.d/memmon.conf) rmdir "$(dirname "$destdir$target")" 2>/dev/null || true ;;
            esac
        else
            echo "kept $destdir$target: changed since memmon installed it" >&2
            if grep -q "$binary" "$destdir$target" 2>/dev/null; then keep_binary=1; fi
        fi
        record "$target"
    done
    # The manifest goes when it lists nothing more (a kept binary stays listed, so a later
    # --uninstall removes it).
    [ -s "$manifest" ] || rm -f "$manifest"
    rmdir "$state_dir" 2>/dev/null || true
    reload
    echo "memmon is uninstalled. Restart the units that used it, e.g.:"
    echo "  sudo systemctl restart attendance-client-fixed.service"
    exit 0
fi

# The files of this install: target (without DESTDIR), source, mode.
binary_target=/usr/local/bin/memmon
if [ "$mode" = standalone ]; then
    unit_target=/etc/systemd/system/memmon.service
    unit_source=$here/systemd/memmon.service
else
    unit_target=/etc/systemd/system/$unit.d/memmon.conf
    unit_source=$here/$dropin_template
fi
for source in "$here/memmon" "$unit_source"; do
    [ -f "$source" ] || die "$source is missing: run install.sh from the unpacked archive"
done

if [ -z "$destdir" ]; then
    machine=$(uname -m)
    [ "$machine" = aarch64 ] || die "this memmon is built for aarch64 (64-bit Raspberry Pi OS), this machine is $machine"
fi

if [ "$mode" = dropin ]; then
    # A private directory (mode 0700, a name nobody can guess) for the generated drop-in.
    work=$(mktemp -d) || die "cannot create a temporary directory"
    trap 'rm -rf "$work"' EXIT
    trap 'exit 1' HUP INT TERM
    unit_source=$work/memmon.conf
    generate_dropin "$unit_source"
fi

# Check every target before writing any, so a refusal leaves the system as it was.
refused=0
for pair in "$binary_target:$here/memmon" "$unit_target:$unit_source"; do
    target=${pair%%:*}
    if ! may_replace "$target" "${pair#*:}"; then
        echo "refusing to overwrite $destdir$target: it exists and differs from what memmon installed." >&2
        echo "  Compare it with ${pair#*:}, move it away or merge by hand, then run install.sh again." >&2
        refused=1
    fi
done
[ "$refused" = 0 ] || exit 1

if [ "$mode" = dropin ] && [ -f "$destdir$unit_target" ]; then
    cp "$destdir$unit_target" "$work/previous.conf"
fi
put "$binary_target" "$here/memmon" 0755
put "$unit_target" "$unit_source" 0644
reload
if [ "$mode" = dropin ] && [ -z "$destdir" ] && command -v systemctl >/dev/null 2>&1; then
    check_loaded
fi

if [ "$mode" = standalone ]; then
    echo "Next: put your program in memmon.service (sudo systemctl edit memmon.service, see the"
    echo "comments in $unit_target), then:"
    echo "  sudo systemctl enable --now memmon.service"
else
    echo "Next: restart the client so it starts under memmon (the drop-in takes effect then):"
    echo "  sudo systemctl restart $unit"
    echo "The log is memory_usage.log in the unit's WorkingDirectory; switch monitoring off with"
    echo "\"enabled\": false in client_config.json."
fi
