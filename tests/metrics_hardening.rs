//! Prometheus output under attack (issue 17): a user who can write the textfile collector's
//! directory plants symlinks at root's files, and clients that connect and stall try to take
//! `/metrics` down. Each test drives the real binary.

use crate::metrics::parse_exposition;
use crate::util::{parse_log, samples, Dir, Running};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

/// `nobody`: the unprivileged user the attacks run as.
const NOBODY: u32 = 65534;

/// The attacker, run as `nobody` in the collector's directory until the stop file appears (or
/// 20 s at most): it plants a symlink to the victim at the temp name memmon used to use
/// (`.memmon.prom.PID.tmp`, guessable from memmon's PID), swaps any temp file it sees for such
/// a link (racing memmon between create and rename), and plants one at `memmon.prom` itself.
/// Prints how many links it planted.
const ATTACKER: &str = r#"
import os, sys, time
d, victim, pid, stop = sys.argv[1:5]
guessed = ".memmon.prom.%s.tmp" % pid
planted = 0
def plant(name):
    global planted
    p = os.path.join(d, name)
    try:
        os.unlink(p)
    except OSError:
        pass
    try:
        os.symlink(victim, p)
        planted += 1
    except OSError:
        pass
end = time.monotonic() + 20
while time.monotonic() < end and not os.path.exists(stop):
    plant(guessed)
    for n in os.listdir(d):
        if n.endswith(".tmp") and n != guessed and not os.path.islink(os.path.join(d, n)):
            plant(n)
    if not os.path.islink(os.path.join(d, "memmon.prom")):
        plant("memmon.prom")
    time.sleep(0.0005)
print(planted)
"#;

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[test]
fn a_symlink_planted_in_the_collector_directory_never_redirects_the_textfile() {
    if !is_root() {
        eprintln!("skipped: the attack needs root (memmon) and an unprivileged user (nobody)");
        return;
    }
    // The system's Python: a per-user install (pyenv under /root) is out of nobody's reach.
    let python = "/usr/bin/python3";
    if !std::path::Path::new(python).exists() {
        eprintln!("skipped: no {python} for the attacker to run as nobody");
        return;
    }
    let d = Dir::new("metrics-planted-symlink");
    std::fs::set_permissions(&d.path, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A root-owned file in a directory nobody cannot write.
    let victim = d.join("victim.conf");
    std::fs::write(&victim, "precious\n").unwrap();
    let before = std::fs::metadata(&victim).unwrap();
    // The collector's directory, owned by the attacker.
    let collector = d.join("collector");
    std::fs::create_dir(&collector).unwrap();
    std::os::unix::fs::chown(&collector, Some(NOBODY), Some(NOBODY)).unwrap();
    std::fs::set_permissions(&collector, std::fs::Permissions::from_mode(0o755)).unwrap();
    let stop = d.join("stop-attack");
    let prom = collector.join("memmon.prom");

    let mut memmon = Command::new("sh")
        .current_dir(&d.path)
        .env("TZ", "Asia/Tokyo")
        .arg("-c")
        .arg("umask 022; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_memmon"))
        .args(["run", "--startup-delay", "0.3", "--interval", "0.05"])
        .args(["--log", "m.log", "--name", "reader-07", "--prom-textfile"])
        .arg(&prom)
        .args(["--", "sleep", "3.5"])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map(Running)
        .unwrap();
    // `exec` keeps the PID: the attacker knows memmon's PID as any user can (`ps`).
    let mut attacker = Command::new(python)
        .arg("-c")
        .arg(ATTACKER)
        .arg(&collector)
        .arg(&victim)
        .arg(memmon.id().to_string())
        .arg(&stop)
        .uid(NOBODY)
        .gid(NOBODY)
        .stdout(Stdio::piped())
        .spawn()
        .map(Running)
        .unwrap();
    // The attack runs over the first write (before the first sample) and ~40 samples.
    std::thread::sleep(Duration::from_millis(2300));
    std::fs::write(&stop, "").unwrap();
    let mut out = String::new();
    if let Some(mut o) = attacker.0.stdout.take() {
        std::io::Read::read_to_string(&mut o, &mut out).unwrap();
    }
    assert!(attacker.wait().success(), "attacker: {out}");
    let planted: u64 = out.trim().parse().unwrap();
    assert!(planted >= 10, "the attacker planted only {planted} links");

    let status = memmon.wait();
    let mut stderr = String::new();
    if let Some(mut e) = memmon.0.stderr.take() {
        std::io::Read::read_to_string(&mut e, &mut stderr).unwrap();
    }
    assert_eq!(status.code(), Some(0), "{stderr}");

    // The victim is untouched: same content, same inode, not written since.
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    let after = std::fs::symlink_metadata(&victim).unwrap();
    assert!(after.file_type().is_file());
    assert_eq!(
        (after.ino(), after.mtime(), after.mtime_nsec(), after.size()),
        (
            before.ino(),
            before.mtime(),
            before.mtime_nsec(),
            before.size()
        )
    );
    // The samples after the attack stopped replaced whatever it left at `memmon.prom`: a
    // regular root-owned file, readable by the collector, holding the last sample.
    let meta = std::fs::symlink_metadata(&prom).unwrap();
    assert!(meta.file_type().is_file(), "{meta:?}");
    assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o644));
    let m = parse_exposition(&std::fs::read_to_string(&prom).unwrap());
    let n = samples(&parse_log(&d.join("m.log"))).len();
    assert!(n >= 40, "{n} samples");
    assert_eq!(m["memmon_samples_total"], n as f64);
    // No temp file of memmon's is left for the collector or the attacker.
    for entry in std::fs::read_dir(&collector).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            name == "memmon.prom" || kind.is_symlink(),
            "left behind: {name} ({kind:?})"
        );
    }
}
