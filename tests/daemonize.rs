//! A command that daemonizes: memmon is the tree's child subreaper, so what the command leaves
//! running stays in sight. With `--children` it is watched until the last of it ends; without,
//! the run ends with the command and names what is left. Orphans are reaped by PID, never the
//! command, whose status is memmon's exit line and exit status.

use crate::util::{assert_well_formed, parse_log, samples, wait_for, Dir, Running};
use memmon_format::{ExitKind, Record};
use rustix::process::{kill_process, Pid, Signal};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A daemon: holds 40 MiB (touched), writes its PID to `daemon.pid`, lives `SECS` seconds
/// (its first argument), then exits.
const DAEMON: &str = r#"
import os, sys, time
held = bytearray(40 << 20)
for i in range(0, len(held), 4096): held[i] = 1
with open("daemon.pid.tmp", "w") as f: f.write(str(os.getpid()))
os.rename("daemon.pid.tmp", "daemon.pid")
time.sleep(float(sys.argv[1]))
"#;

/// memmon in front of `sh -c SCRIPT`, with `extra` flags, stderr piped. A daemon started
/// there must not keep memmon's stderr open (as a real one closes its streams): reading it to
/// the end would wait for the daemon.
fn start(d: &Dir, extra: &[&str], script: &str) -> Running {
    d.write("daemon.py", DAEMON);
    d.memmon()
        .args(["run", "--startup-delay", "0", "--interval", "0.1"])
        .args(extra)
        .args(["--log", "m.log", "--", "sh", "-c", script])
        .stderr(Stdio::piped())
        .spawn()
        .map(Running)
        .unwrap()
}

fn stderr_of(r: &mut Running) -> String {
    use std::io::Read;
    let mut s = String::new();
    if let Some(mut e) = r.0.stderr.take() {
        let _ = e.read_to_string(&mut s);
    }
    s
}

/// `/proc/PID/stat`'s state and parent, `None` when the process is gone.
fn state_and_parent(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat[stat.rfind(')')? + 1..].split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    Some((state, fields.next()?.parse().ok()?))
}

/// Whether the process has ended (gone, or a zombie nobody reaped yet).
fn ended(pid: u32) -> bool {
    state_and_parent(pid).is_none_or(|(state, _)| state == 'Z' || state == 'X')
}

/// memmon's children that are zombies (ended, not reaped).
fn zombie_children(memmon: u32) -> Vec<u32> {
    let mut zombies = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{memmon}/task")) else {
        return zombies;
    };
    for task in tasks.flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for pid in children.split_ascii_whitespace() {
            let pid: u32 = pid.parse().unwrap();
            if state_and_parent(pid).is_some_and(|(state, _)| state == 'Z') {
                zombies.push(pid);
            }
        }
    }
    zombies
}

/// Kills a daemon a test left running (a failed test must not leave it behind).
struct Reap(Option<u32>);

impl Drop for Reap {
    fn drop(&mut self) {
        if let Some(pid) = self.0.and_then(|p| Pid::from_raw(p as i32)) {
            let _ = kill_process(pid, Signal::KILL);
        }
    }
}

fn daemon_pid(d: &Dir) -> u32 {
    wait_for("the daemon's PID file", || d.join("daemon.pid").exists());
    d.read("daemon.pid").trim().parse().unwrap()
}

#[test]
fn with_children_a_daemon_the_command_leaves_is_watched_until_it_ends() {
    let d = Dir::new("daemonize-watched");
    let t0 = Instant::now();
    // A double fork: the subshell exits at once, so the daemon is orphaned before the command
    // (sh) ends, with status 3, while the daemon still has 2 s to live.
    let mut r = start(
        &d,
        &["--children"],
        "(python3 daemon.py 2 </dev/null >/dev/null 2>&1 &); while [ ! -e daemon.pid ]; do sleep 0.05; done; sleep 0.3; exit 3",
    );
    let daemon = daemon_pid(&d);
    let guard = Reap(Some(daemon));
    // Re-parented to memmon, the subreaper, not to init.
    wait_for("the daemon re-parented to memmon", || {
        state_and_parent(daemon).is_some_and(|(_, parent)| parent == r.id())
    });
    let status = r.wait();
    let took = t0.elapsed();
    let err = stderr_of(&mut r);
    drop(guard);

    assert_eq!(
        status.code(),
        Some(3),
        "memmon ends as the command did; {err}"
    );
    assert!(ended(daemon), "memmon ended before the daemon");
    assert!(took >= Duration::from_secs(2), "ended after {took:?}");
    let text = d.read("m.log");
    let log = parse_log(&d.join("m.log"));
    assert_well_formed(&log, &text);
    // The spec: the exit line comes after the last sample line, right before the footer, and
    // memmon has no log line of its own for the descendants (stderr says it).
    let exit_at = log
        .iter()
        .position(|r| *r == Record::ProcessExit(ExitKind::Code(3)))
        .unwrap();
    let last_sample = log
        .iter()
        .rposition(|r| matches!(r, Record::Sample(_)))
        .unwrap();
    let end_at = log
        .iter()
        .position(|r| matches!(r, Record::End { .. }))
        .unwrap();
    assert!(last_sample < exit_at && exit_at < end_at, "{text}");
    assert!(!text.contains("子孫プロセス"), "{text}");
    // Samples went on after the command's end (about 0.5 s in) while the daemon lived its 2 s,
    // its 40 MiB in them (the very last may catch it freeing as it exits).
    let all = samples(&log);
    assert!(all.len() >= 12, "{text}");
    assert!(
        all.iter().any(|s| s.elapsed_secs >= 1 && s.rss_mb >= 40.0),
        "{text}"
    );
    assert_eq!(
        log.iter()
            .filter(|r| matches!(r, Record::ProcessExit(_)))
            .count(),
        1,
        "{text}"
    );
    assert!(
        err.contains("最後の1個が終了するまで監視を続けます"),
        "{err}"
    );
    assert!(
        err.contains("コマンドの子孫プロセスがすべて終了しました"),
        "{err}"
    );
}

#[test]
fn without_children_the_run_ends_with_the_command_and_names_what_is_left() {
    let d = Dir::new("daemonize-unwatched");
    let t0 = Instant::now();
    let mut r = start(
        &d,
        &["--lang", "en"],
        "(python3 daemon.py 30 </dev/null >/dev/null 2>&1 &); while [ ! -e daemon.pid ]; do sleep 0.05; done; exit 0",
    );
    let daemon = daemon_pid(&d);
    let _guard = Reap(Some(daemon));
    let status = r.wait();
    let err = stderr_of(&mut r);
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(10), "{err}");
    assert!(!ended(daemon), "the daemon is left running");
    let text = d.read("m.log");
    // The exit line, and no log line for the daemon (the spec has none).
    assert!(text.contains("プロセス終了: 終了コード 0\n"), "{text}");
    assert!(!text.contains("子孫プロセス"), "{text}");
    let log = parse_log(&d.join("m.log"));
    assert_well_formed(&log, &text);
    assert!(matches!(log.last(), Some(Record::Rule)), "{text}");
    assert!(
        err.contains(&format!(
            "memmon: the command has ended; 1 of its descendants (PID {daemon}) still run, unwatched (--children watches them)"
        )),
        "{err}"
    );
}

#[test]
fn after_the_command_a_stop_signal_ends_the_run_at_once_and_leaves_the_daemon_alone() {
    let d = Dir::new("daemonize-stop");
    let mut r = start(
        &d,
        &["--children"],
        "(python3 daemon.py 30 </dev/null >/dev/null 2>&1 &); while [ ! -e daemon.pid ]; do sleep 0.05; done; touch exiting; exit 3",
    );
    let daemon = daemon_pid(&d);
    let _guard = Reap(Some(daemon));
    // The command has ended, and memmon (sampling every 0.1 s) has seen it.
    wait_for("the command's last step", || d.join("exiting").exists());
    std::thread::sleep(Duration::from_millis(700));
    let t0 = Instant::now();
    kill_process(Pid::from_raw(r.id() as i32).unwrap(), Signal::TERM).unwrap();
    let status = r.wait();
    let err = stderr_of(&mut r);
    assert!(t0.elapsed() < Duration::from_secs(5), "{err}");
    assert_eq!(status.code(), Some(3), "the command's status; {err}");
    assert!(
        !ended(daemon),
        "the daemon was not the command's tree any more"
    );
    let text = d.read("m.log");
    let log = parse_log(&d.join("m.log"));
    assert_well_formed(&log, &text);
    assert!(matches!(log.last(), Some(Record::Rule)), "{text}");
    assert!(text.contains("プロセス終了: 終了コード 3\n"), "{text}");
    // The footer's 最終メモリ is a fresh sample of the daemon.
    let last = log.iter().rev().find_map(|r| match r {
        Record::Final { mb } => *mb,
        _ => None,
    });
    assert!(last.is_some_and(|mb| mb >= 40.0), "{text}");
}

#[test]
fn orphans_that_end_are_reaped_and_never_left_as_zombies() {
    let d = Dir::new("daemonize-zombies");
    // Twenty short-lived orphans while the command lives on.
    let mut r = start(
        &d,
        &[],
        "for i in $(seq 20); do (sleep 0.05 &); done; touch forked; sleep 4; exit 0",
    );
    wait_for("the orphans forked", || d.join("forked").exists());
    // They ended (0.05 s) as memmon's children, the subreaper's: reaped within a moment, while
    // memmon and the command still run (a memmon that ended would list no zombie either).
    let until = Instant::now() + Duration::from_millis(1500);
    let mut zombies = zombie_children(r.id());
    while !zombies.is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
        zombies = zombie_children(r.id());
    }
    assert!(zombies.is_empty(), "zombies under memmon: {zombies:?}");
    assert!(r.0.try_wait().unwrap().is_none(), "memmon still runs");
    let status = r.wait();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn the_commands_status_is_never_taken_by_the_orphans_reaper() {
    // Orphans ending at the very moment the command does, with and without --children: the
    // reaper collects them by PID, never the command, whose code reaches the exit line and
    // memmon's own status every time.
    for round in 0..8 {
        let d = Dir::new(&format!("daemonize-status-{round}"));
        let extra: &[&str] = if round % 2 == 0 { &["--children"] } else { &[] };
        let mut r = start(
            &d,
            extra,
            "for i in 1 2 3 4 5 6; do (sleep 0.3 &); done; sleep 0.3; exit 7",
        );
        let status = r.wait();
        let err = stderr_of(&mut r);
        assert_eq!(status.code(), Some(7), "round {round}: {err}");
        let log = parse_log(&d.join("m.log"));
        assert!(
            log.contains(&Record::ProcessExit(ExitKind::Code(7))),
            "round {round}: {}",
            d.read("m.log")
        );
        assert!(matches!(log.last(), Some(Record::Rule)), "round {round}");
    }
}
