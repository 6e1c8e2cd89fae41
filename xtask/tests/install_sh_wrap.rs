//! The drop-in install.sh writes wraps the unit's own command wherever the checkout is and
//! whoever its user is. Two Pis, two checkouts in different places (one with spaces in its
//! path, one with a relative command), two users: the drop-in's command line is executed as
//! systemd would (as the unit's User=, from its WorkingDirectory=, with systemd's PATH) against
//! a stand-in memmon and a stand-in start_pi.sh that record who, where and what they ran, and
//! compared with the unit's own command run the same way. Units memmon cannot wrap faithfully
//! are refused with nothing written.
//!
//! Running as another user needs root (CI runs as root); otherwise the commands run as the
//! current user and the test says so.

// Test helpers panic on a broken test environment; that is the failure we want.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The PATH systemd gives a service.
const SYSTEMD_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Stand-in start_pi.sh: records its pid, parent, directory, user and arguments, then `exec`s
/// the "client" in the same PID, as the users' script does.
const START_PI: &str = r#"#!/bin/bash
printf 'pid=%s\nppid=%s\ncwd=%s\nuser=%s\nargs=%s\n' "$$" "$PPID" "$PWD" "$(id -un)" "$*" > start_pi.ran
exec /bin/sh -c 'echo "client=$$" >> start_pi.ran'
"#;

/// Stand-in memmon: records the same, then starts the command after `--` as its child and
/// exits with its status, as `memmon run` does.
const MEMMON: &str = r#"#!/bin/sh
printf 'pid=%s\ncwd=%s\nuser=%s\nargs=%s\n' "$$" "$PWD" "$(id -un)" "$*" > memmon.ran
while [ $# -gt 0 ] && [ "$1" != -- ]; do shift; done
shift
"$@"
"#;

/// A user of the test's own, removed on drop when the test created it.
struct User {
    name: String,
    uid: u32,
    gid: u32,
    created: bool,
}

impl User {
    fn id(name: &str, flag: &str) -> Option<u32> {
        let o = Command::new("id").arg(flag).arg(name).output().ok()?;
        String::from_utf8_lossy(&o.stdout).trim().parse().ok()
    }

    fn new(name: &str) -> Self {
        let mut created = false;
        if Self::id(name, "-u").is_none() {
            let o = Command::new("useradd")
                .args(["--no-create-home", "--shell", "/usr/sbin/nologin", name])
                .output()
                .unwrap();
            assert!(o.status.success(), "useradd {name}: {}", text(&o));
            created = true;
        }
        User {
            name: name.into(),
            uid: Self::id(name, "-u").unwrap(),
            gid: Self::id(name, "-g").unwrap(),
            created,
        }
    }

    /// The user running the test (when it cannot switch users).
    fn current() -> Self {
        let name = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        User {
            uid: Self::id(&name, "-u").unwrap(),
            gid: Self::id(&name, "-g").unwrap(),
            name,
            created: false,
        }
    }
}

impl Drop for User {
    fn drop(&mut self) {
        if self.created {
            let _ = Command::new("userdel").arg(&self.name).output();
        }
    }
}

/// What a stand-in wrote: key=value lines.
fn record(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e} (the command did not run?)", path.display()));
    std::fs::remove_file(path).unwrap();
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn get<'a>(rec: &'a [(String, String)], key: &str) -> &'a str {
    &rec.iter().find(|(k, _)| k == key).unwrap().1
}

/// Runs an ExecStart= value as systemd would: as `user`, from `dir`, systemd's PATH; the
/// installed memmon path points at the stand-in.
fn run_as_systemd(value: &str, user: &User, dir: &Path, memmon: &Path) {
    let (_, mut argv) = split_exec(value);
    if argv[0] == "/usr/local/bin/memmon" {
        argv[0] = memmon.display().to_string();
    }
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(dir)
        .env_clear()
        .env("PATH", SYSTEMD_PATH)
        .env("LANG", "C.UTF-8");
    if User::id("root", "-u") == Some(user.uid) || !is_root() {
        // Already that user.
    } else {
        cmd.uid(user.uid).gid(user.gid);
    }
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{argv:?} in {}: {}",
        dir.display(),
        text(&o)
    );
}

fn is_root() -> bool {
    User::id(&User::current().name, "-u") == Some(0)
}

/// A checkout owned by `user` at `dir`, with the stand-in start_pi.sh.
fn checkout(dir: &Path, user: &User) {
    write(&dir.join("start_pi.sh"), START_PI, 0o755);
    write(&dir.join("client_config.json"), "{}\n", 0o644);
    for d in dir.ancestors().take(4) {
        let _ = std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755));
    }
    std::os::unix::fs::chown(dir, Some(user.uid), Some(user.gid)).unwrap();
}

/// Checks one Pi: installs, then runs the unit's own command and the drop-in's, and compares.
fn check_pi(pi: &Pi, pkg: &Path, user: &User, dir: &Path, exec_start: &str, memmon: &Path) {
    let unit = users_unit(&user.name, &dir.display().to_string(), exec_start);
    pi.unit(UNIT, &unit);
    let o = pi.install(pkg, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("as {}, in {}", user.name, dir.display())),
        "{}",
        text(&o)
    );
    let drop_in = pi.drop_in();
    let d = directives(&drop_in);
    assert_eq!(
        d[..3],
        ["[Service]", "KillMode=mixed", "ExecStart="],
        "{d:?}"
    );
    assert_eq!(d.len(), 4, "{d:?}");
    let (prefix, _) = split_exec(exec_start);
    let command = &exec_start[prefix.len()..];
    let wrapped = last_exec_start(&drop_in);
    assert_eq!(
        wrapped,
        format!("{prefix}/usr/local/bin/memmon run --children -- {command}")
    );

    // The unit alone.
    run_as_systemd(exec_start, user, dir, memmon);
    let alone = record(&dir.join("start_pi.ran"));
    assert_eq!(get(&alone, "cwd"), dir.display().to_string());
    assert_eq!(get(&alone, "user"), user.name);
    assert_eq!(get(&alone, "client"), get(&alone, "pid"), "exec: same PID");

    // With the drop-in: memmon runs as the user in the checkout, the script as its child,
    // seeing what it saw alone.
    run_as_systemd(wrapped, user, dir, memmon);
    let watched = record(&dir.join("start_pi.ran"));
    let memmon_rec = record(&dir.join("memmon.ran"));
    assert_eq!(get(&memmon_rec, "cwd"), dir.display().to_string());
    assert_eq!(get(&memmon_rec, "user"), user.name);
    assert!(
        get(&memmon_rec, "args").starts_with("run --children -- /bin/bash "),
        "{memmon_rec:?}"
    );
    assert_eq!(get(&watched, "ppid"), get(&memmon_rec, "pid"));
    for key in ["cwd", "user", "args"] {
        assert_eq!(get(&watched, key), get(&alone, key), "{key}");
    }
    verify_with_systemd(pi, memmon);
}

/// systemd's own parser on the unit plus the generated drop-in, when systemd-analyze is
/// installed: no warning (an unparsable line is only a warning to it, and would leave the unit
/// without ExecStart=).
fn verify_with_systemd(pi: &Pi, memmon: &Path) {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze verify skipped: systemd-analyze is not installed");
        return;
    }
    let units = pi.root.parent().unwrap().join("units");
    let unit_dir = pi.root.join(UNIT_DIR);
    let dropins = units.join(format!("{UNIT}.d"));
    std::fs::create_dir_all(&dropins).unwrap();
    std::fs::copy(unit_dir.join(UNIT), units.join(UNIT)).unwrap();
    // verify checks that the command exists: point it at the stand-in.
    let drop_in = pi
        .drop_in()
        .replace("/usr/local/bin/memmon", &memmon.display().to_string());
    std::fs::write(dropins.join("memmon.conf"), drop_in).unwrap();
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .arg(units.join(UNIT))
        .env("SYSTEMD_UNIT_PATH", format!("{}:", units.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // Run by `nobody` (not root), the units' User= is nobody, which systemd warns about.
    let stderr = String::from_utf8_lossy(&o.stderr);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.contains("Special user nobody configured"))
        .collect();
    assert_eq!(warnings, Vec::<&str>::new(), "systemd-analyze verify");
}

#[test]
fn the_drop_in_wraps_each_units_own_command_for_its_own_user_and_checkout() {
    let tmp = Temp::new("install-sh-wrap");
    let pkg = package(&tmp.0, "memmon\n");
    let memmon = tmp.0.join("memmon-standin");
    write(&memmon, MEMMON, 0o755);
    let (a, b) = if is_root() {
        (User::new("memmon-test-pi"), User::new("memmon-test-rpi"))
    } else {
        eprintln!("not root: both checkouts run as the current user (different users need root)");
        (User::current(), User::current())
    };

    // Pi 1: the guide's layout, the unit runs `/bin/bash start_pi.sh` relative to its checkout.
    let dir_a = tmp
        .0
        .join("home/pi/Desktop/attendance/card_reader_improved");
    checkout(&dir_a, &a);
    let pi1 = Pi::new(&tmp.0, "pi1");
    check_pi(&pi1, &pkg, &a, &dir_a, "/bin/bash start_pi.sh", &memmon);

    // Pi 2: elsewhere, spaces in the path, an absolute quoted script, failure ignored (-).
    let dir_b = tmp.0.join("srv/card reader/attendance client");
    checkout(&dir_b, &b);
    let pi2 = Pi::new(&tmp.0, "pi2");
    let exec_b = format!("-/bin/bash \"{}/start_pi.sh\"", dir_b.display());
    check_pi(&pi2, &pkg, &b, &dir_b, &exec_b, &memmon);

    // The users' setup script moves the checkout and rewrites the unit; install.sh again
    // rewrites the drop-in it installed to match.
    let dir_c: PathBuf = tmp.0.join("home/pi/attendance");
    checkout(&dir_c, &a);
    check_pi(&pi1, &pkg, &a, &dir_c, "/bin/bash start_pi.sh", &memmon);
}

/// A unit whose command memmon cannot wrap: refused, exit 1, nothing written.
#[test]
fn a_unit_it_cannot_wrap_is_left_as_it_is() {
    let tmp = Temp::new("install-sh-refuse");
    let pkg = package(&tmp.0, "memmon\n");
    let dir = "/home/pi/attendance";
    // (case, the unit's ExecStart=, a drop-in (file name, text), what install.sh says)
    for (name, unit, dropin, needle) in [
        ("missing", None, None, "systemd has no unit"),
        (
            "argv0",
            Some("@/bin/bash pi-client start_pi.sh"),
            None,
            "starts with '@'",
        ),
        (
            "two-commands",
            Some("/bin/true"),
            Some(("10-local.conf", "[Service]\nExecStart=/bin/false\n")),
            "2 ExecStart= commands",
        ),
        (
            "cleared",
            Some("/bin/bash start_pi.sh"),
            Some(("10-local.conf", "[Service]\nExecStart=\n")),
            "has no ExecStart=",
        ),
        (
            "wrapped-already",
            Some("/opt/memmon/memmon run -- /bin/bash start_pi.sh"),
            None,
            "already runs memmon",
        ),
        // `systemctl edit`'s file sorts after memmon.conf: its ExecStart= would win.
        (
            "overridden",
            Some("/bin/true"),
            Some((
                "override.conf",
                "[Service]\nExecStart=\nExecStart=/bin/bash start_pi.sh\n",
            )),
            "is read after memmon.conf",
        ),
    ] {
        let pi = Pi::new(&tmp.0, name);
        if let Some(exec) = unit {
            pi.unit(UNIT, &users_unit("pi", dir, exec));
        }
        if let Some((file, text)) = dropin {
            let path = pi.root.join(UNIT_DIR).join(format!("{UNIT}.d/{file}"));
            write(&path, text, 0o644);
        }
        let before = files(&pi.root);
        let o = pi.install(&pkg, &[]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", text(&o));
        assert!(text(&o).contains(needle), "{name}: {}", text(&o));
        assert!(text(&o).contains("Nothing was changed"), "{name}");
        assert_eq!(files(&pi.root), before, "{name}");
    }
}

/// systemd's file syntax as the drop-in reads it: a later drop-in's ExecStart= replaces the
/// unit's (after an empty one), continuation lines join, comments and other sections are not
/// commands, prefixes stay in front of memmon.
#[test]
fn the_command_is_read_as_systemd_reads_the_units_files() {
    let tmp = Temp::new("install-sh-syntax");
    let pkg = package(&tmp.0, "memmon\n");
    let pi = Pi::new(&tmp.0, "pi");
    pi.unit(
        UNIT,
        "[Unit]\nDescription=ExecStart=/bin/not-this\n\n[Service]\nUser=pi\n\
         WorkingDirectory=/home/pi/x\nExecStart=/bin/old\n",
    );
    write(
        &pi.root
            .join(UNIT_DIR)
            .join(format!("{UNIT}.d/10-local.conf")),
        "[Service]\n# ExecStart=/bin/commented\nExecStart=\n ExecStart = +/bin/bash \\\n  \
         'start pi.sh' \\\\\n; ExecStart=/bin/semicolon-comment\n",
        0o644,
    );
    let o = pi.install(&pkg, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        last_exec_start(&pi.drop_in()),
        "+/usr/local/bin/memmon run --children -- /bin/bash    'start pi.sh' \\\\"
    );
}

/// install.sh on a live system (no DESTDIR) checks, after `systemctl daemon-reload`, that
/// systemd now runs memmon with the command it ran before, and takes the drop-in back when
/// not. Run in a private mount namespace whose /etc/systemd/system, /usr/local/bin and
/// /var/lib are empty tmpfs, so the machine's own are not touched; `systemctl` is the
/// stand-in (systemd is not PID 1 here) and `uname -m` says aarch64.
#[test]
fn on_a_live_system_a_drop_in_systemd_does_not_take_is_taken_back() {
    if !is_root() {
        eprintln!("skipped: a live install (no DESTDIR) needs root");
        return;
    }
    if !Command::new("unshare")
        .args(["-m", "true"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("skipped: cannot make a mount namespace here (unshare -m)");
        return;
    }
    let tmp = Temp::new("install-sh-live");
    let pkg = package(&tmp.0, "memmon\n");
    let bin = tmp.0.join("bin");
    write(
        &bin.join("systemctl"),
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake-systemctl"),
        )
        .unwrap(),
        0o755,
    );
    write(
        &bin.join("uname"),
        "#!/bin/sh\n[ \"$1\" = -m ] && echo aarch64 || exec /bin/uname \"$@\"\n",
        0o755,
    );
    let out = tmp.0.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let unit = users_unit("pi", "/home/pi/attendance", "/bin/bash start_pi.sh");
    let moved = users_unit("pi", "/home/pi/elsewhere", "/bin/bash run.sh");
    // Five installs: a good one; the unit changes and systemd "cannot parse" memmon's line
    // (the previous drop-in comes back); the same on a Pi without a previous drop-in; a unit
    // systemd reads otherwise than install.sh; a systemctl that prints ExecStart= otherwise.
    let script = format!(
        r#"set -u
mount -t tmpfs tmpfs /etc/systemd/system && mount -t tmpfs tmpfs /usr/local/bin && mount -t tmpfs tmpfs /var/lib || exit 90
export PATH="{bin}:$PATH" FAKE_SYSTEMCTL_ROOT=/ FAKE_SYSTEMCTL_LOG="{out}/calls"
cat > /etc/systemd/system/{UNIT} <<'UNIT'
{unit}UNIT
sh "{pkg}/install.sh" > "{out}/1.txt" 2>&1; echo $? > "{out}/1.rc"
cp /etc/systemd/system/{UNIT}.d/memmon.conf "{out}/1.conf"
cat > /etc/systemd/system/{UNIT} <<'UNIT'
{moved}UNIT
FAKE_SYSTEMCTL_IGNORE="memmon run" sh "{pkg}/install.sh" > "{out}/2.txt" 2>&1; echo $? > "{out}/2.rc"
cp /etc/systemd/system/{UNIT}.d/memmon.conf "{out}/2.conf"
rm -f /etc/systemd/system/{UNIT}.d/memmon.conf /var/lib/memmon/installed.sha256
FAKE_SYSTEMCTL_IGNORE="memmon run" sh "{pkg}/install.sh" > "{out}/3.txt" 2>&1; echo $? > "{out}/3.rc"
ls -A /etc/systemd/system > "{out}/3.ls"
cat /var/lib/memmon/installed.sha256 > "{out}/3.manifest"
printf '[Service]\nExecStart=/bin/bash \\\nstart_pi.sh\n' > /etc/systemd/system/{UNIT}
sh "{pkg}/install.sh" > "{out}/4.txt" 2>&1; echo $? > "{out}/4.rc"
ls -A /etc/systemd/system > "{out}/4.ls"
cat > /etc/systemd/system/{UNIT} <<'UNIT'
{unit}UNIT
FAKE_SYSTEMCTL_OTHER_FORMAT=1 sh "{pkg}/install.sh" > "{out}/5.txt" 2>&1; echo $? > "{out}/5.rc"
"#,
        bin = bin.display(),
        out = out.display(),
        pkg = pkg.display(),
    );
    let o = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();

    // 1: installed, reloaded, and systemd runs memmon with the unit's command.
    assert_eq!(read("1.rc"), "0\n", "{}", read("1.txt"));
    assert!(
        read("1.txt").contains("systemctl daemon-reload"),
        "{}",
        read("1.txt")
    );
    assert_eq!(
        last_exec_start(&read("1.conf")),
        "/usr/local/bin/memmon run --children -- /bin/bash start_pi.sh"
    );
    // 2: systemd skipped memmon's line: the previous drop-in is back, exit 1.
    assert_eq!(read("2.rc"), "1\n", "{}", read("2.txt"));
    assert!(read("2.txt").contains("taken back"), "{}", read("2.txt"));
    assert_eq!(read("2.conf"), read("1.conf"));
    // 3: no previous drop-in: none is left, nor its record, nor its directory.
    assert_eq!(read("3.rc"), "1\n", "{}", read("3.txt"));
    assert!(
        read("3.txt").contains("0 ExecStart= commands"),
        "{}",
        read("3.txt")
    );
    assert_eq!(read("3.ls"), format!("{UNIT}\n"));
    assert!(
        !read("3.manifest").contains(".service.d/"),
        "{}",
        read("3.manifest")
    );
    // 4: systemd (here the stand-in, which knows no continuation line) reads the unit's
    // command otherwise than install.sh did: memmon would run something else, taken back.
    assert_eq!(read("4.rc"), "1\n", "{}", read("4.txt"));
    assert!(
        read("4.txt").contains(
            "reads the wrapped command as '/bin/bash start_pi.sh', the unit's own as '/bin/bash "
        ),
        "{}",
        read("4.txt")
    );
    assert_eq!(read("4.ls"), format!("{UNIT}\n"));
    // 5: a systemctl whose ExecStart= install.sh cannot read: installed, with a warning.
    assert_eq!(read("5.rc"), "0\n", "{}", read("5.txt"));
    assert!(read("5.txt").contains("check by hand"), "{}", read("5.txt"));
    // Every install reloaded systemd; each taken-back one reloaded it again.
    let reloads = read("calls").matches("systemctl daemon-reload").count();
    assert_eq!(reloads, 8, "{}", read("calls"));
}
