#!/bin/sh
# install.sh: install memmon on a Raspberry Pi (or any aarch64 Linux with systemd).
#
#   sudo sh install.sh [UNIT]        binary + drop-in for UNIT (default attendance-client-fixed.service)
#   sudo sh install.sh --standalone  binary + memmon.service, for a program without a unit
#   sudo sh install.sh --uninstall   remove what memmon installed (files changed since are kept)
#
# It never overwrites a file an admin changed: every file it installs is recorded with its
# SHA-256 in $DESTDIR/var/lib/memmon/installed.sha256, and an existing target is replaced only
# when it is identical to the new file or still matches that record.
#
# DESTDIR=/some/dir installs under that directory instead of / (for packaging and tests);
# then no root is needed and systemctl is not called.
#
# Exit status: 0 done, 1 refused (a changed file, not root, a bad argument).
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
    sed -n '2,16s/^# \{0,1\}//p' "$0"
}

mode=dropin
unit=attendance-client-fixed.service
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

if [ "$mode" = uninstall ]; then
    if [ ! -f "$manifest" ]; then
        echo "nothing to uninstall: $manifest does not exist"
        exit 0
    fi
    # Read the list first: record() rewrites the manifest while we go.
    for target in $(awk '{ print $2 }' "$manifest"); do
        current=$(hash_of "$destdir$target")
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
        fi
        record "$target"
    done
    rm -f "$manifest"
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
    unit_source=$here/systemd/attendance-client-fixed.service.d/memmon.conf
fi
for source in "$here/memmon" "$unit_source"; do
    [ -f "$source" ] || die "$source is missing: run install.sh from the unpacked archive"
done

if [ -z "$destdir" ]; then
    machine=$(uname -m)
    [ "$machine" = aarch64 ] || die "this memmon is built for aarch64 (64-bit Raspberry Pi OS), this machine is $machine"
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

put "$binary_target" "$here/memmon" 0755
put "$unit_target" "$unit_source" 0644
reload

if [ "$mode" = standalone ]; then
    echo "Next: put your program in memmon.service (sudo systemctl edit memmon.service, see the"
    echo "comments in $unit_target), then:"
    echo "  sudo systemctl enable --now memmon.service"
else
    if [ -z "$destdir" ] && command -v systemctl >/dev/null 2>&1 \
        && ! systemctl cat "$unit" >/dev/null 2>&1; then
        echo "warning: systemd knows no unit $unit; the drop-in waits for it" >&2
    fi
    echo "Next: restart the client so it starts under memmon (the drop-in takes effect then):"
    echo "  sudo systemctl restart $unit"
    echo "The log is memory_usage.log in the unit's WorkingDirectory; switch monitoring off with"
    echo "\"enabled\": false in client_config.json."
fi
