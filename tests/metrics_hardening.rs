//! Prometheus output under attack (issue 17): a user who can write the textfile collector's
//! directory plants symlinks at root's files, and clients that connect and stall try to take
//! `/metrics` down. Each test drives the real binary.

use crate::metrics::parse_exposition;
use crate::util::{parse_log, samples, Dir, Running};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

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

/// Bytes a trickling client sends, one at a time: a request whose head never ends.
const TRICKLE: &[u8] = b"GET /metrics HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// A `/proc/PID/status` figure (`Threads`, `VmRSS` in kB, …).
fn status_field(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// One scrape: its status code and how long the answer took.
fn scrape(addr: SocketAddr) -> (u16, Duration) {
    let started = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: memmon\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let code = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, started.elapsed())
}

#[test]
fn idle_and_trickling_clients_never_take_metrics_down() {
    // 500 connections of the test's own and memmon's: lift the soft limit where it is low.
    if let Some(hard) = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum {
        let _ = rustix::process::setrlimit(
            rustix::process::Resource::Nofile,
            rustix::process::Rlimit {
                current: Some(hard.min(4096)),
                maximum: Some(hard),
            },
        );
    }
    let d = Dir::new("metrics-slow-clients");
    let mut memmon = d
        .memmon()
        .args(["run", "--startup-delay", "0", "--interval", "0.1"])
        .args(["--log", "m.log", "--name", "reader-07"])
        .args(["--metrics-listen", "127.0.0.1:0", "--", "sleep", "9"])
        .stderr(Stdio::piped())
        .spawn()
        .map(Running)
        .unwrap();
    let pid = memmon.id();
    let stderr = memmon.0.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut all = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push(line);
        }
        all
    });
    let addr: SocketAddr = loop {
        let line = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        if let Some(rest) = line.strip_prefix("memmon: metrics at http://") {
            break rest.strip_suffix("/metrics").unwrap().parse().unwrap();
        }
    };
    // Before the attack: a scrape works, and memmon's threads, memory and descriptors.
    assert_eq!(scrape(addr).0, 200);
    let threads = status_field(pid, "Threads");
    let rss_kib = status_field(pid, "VmRSS");
    let fds = open_fds(pid);

    // 250 connections that say nothing and 250 that trickle a byte every 200 ms; then, as
    // in the report, 20 new trickling connections a second for the rest of the attack.
    let idle: Vec<TcpStream> = (0..250)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let trickler = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let mut slow: Vec<(TcpStream, usize)> = (0..250)
                .map(|_| (TcpStream::connect(addr).unwrap(), 0))
                .collect();
            // Bounded in time and count whatever happens: at most 8 s, 160 rounds.
            let end = Instant::now() + Duration::from_secs(8);
            for round in 0..160 {
                if stop.load(Ordering::SeqCst) || Instant::now() > end {
                    break;
                }
                if round % 4 == 0 {
                    for (s, sent) in &mut slow {
                        let _ = s.write(&TRICKLE[*sent % TRICKLE.len()..][..1]);
                        *sent += 1;
                    }
                }
                if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
                    slow.push((s, 0));
                }
                thread::sleep(Duration::from_millis(50));
            }
            slow.len()
        })
    };
    thread::sleep(Duration::from_millis(500));
    let samples_before = samples_in(&d);

    // Every scrape meanwhile is answered, promptly: 10 scrapes over ~4 s.
    let mut answers = Vec::new();
    let mut peak_fds = 0;
    for _ in 0..10 {
        answers.push(scrape(addr));
        peak_fds = peak_fds.max(open_fds(pid));
        thread::sleep(Duration::from_millis(400));
    }
    let threads_during = status_field(pid, "Threads");
    let rss_during = status_field(pid, "VmRSS");
    let samples_during = samples_in(&d) - samples_before;
    stop.store(true, Ordering::SeqCst);
    let held = trickler.join().unwrap();
    drop(idle);

    eprintln!(
        "held {held}; scrapes {answers:?}; threads {threads} → {threads_during}; \
         fds {fds} → {peak_fds}; VmRSS {rss_kib} → {rss_during} KiB; {samples_during} samples"
    );
    assert!(held >= 300, "the attack held only {held} connections");
    for (code, took) in &answers {
        assert_eq!(*code, 200, "scrapes during the attack: {answers:?}");
        assert!(*took < Duration::from_secs(1), "{answers:?}");
    }
    // Bounded: no thread per client, far fewer descriptors than clients, little memory.
    assert_eq!(threads_during, threads, "threads");
    assert!(peak_fds < fds + 200, "{fds} → {peak_fds} descriptors");
    assert!(
        rss_during < rss_kib + 2048,
        "VmRSS {rss_kib} → {rss_during} KiB"
    );
    // Sampling kept its schedule (every 0.1 s; at least 30 samples in ~4 s).
    assert!(
        samples_during >= 30,
        "{samples_during} samples during the attack"
    );

    let status = memmon.wait();
    let stderr = reader.join().unwrap().join("\n");
    assert_eq!(status.code(), Some(0), "{stderr}");
}

/// Sample lines in `m.log` so far (complete lines only).
fn samples_in(d: &Dir) -> usize {
    let text = std::fs::read_to_string(d.join("m.log")).unwrap_or_default();
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    complete
        .lines()
        .filter(|l| {
            matches!(
                memmon_format::parse_line(l),
                memmon_format::Record::Sample(_)
            )
        })
        .count()
}
