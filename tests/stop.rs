//! Stopping: the final sample first, then the stop signal to the whole watched tree, then the
//! footer, and memmon ends as the command ended (the wait status systemd sees).

use crate::util::{parse_log, samples, wait_for, Dir, Running};
use memmon_format::{ExitKind, Record};
use rustix::process::{kill_process, Pid, Signal};
use std::os::unix::process::CommandExt;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A Python client that holds 30 MiB, writes its PID, and on SIGTERM writes `got-term` and
/// lets go of its memory before it dies of the signal (so a final sample taken after the
/// signal would be late).
const CLIENT: &str = r#"
import os, signal, time
held = bytearray(30 << 20)
for i in range(0, len(held), 4096): held[i] = 1
def stop(sig, frame):
    global held
    held = None
    open("got-term", "w").write("yes")
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
signal.signal(signal.SIGTERM, stop)
open("client.pid", "w").write(str(os.getpid()))
while True: time.sleep(0.05)
"#;

/// Whether the process has ended: gone, or a zombie nobody reaped yet (re-parented to an init
/// that does not reap, as in a container).
fn ended(pid: Pid) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero()))
        .map(|stat| {
            stat.rfind(')')
                .and_then(|i| stat[i + 2..].chars().next())
                .is_some_and(|state| state == 'Z' || state == 'X')
        })
        .unwrap_or(true)
}

fn pid_in(d: &Dir, file: &str) -> Pid {
    Pid::from_raw(d.read(file).trim().parse().unwrap()).unwrap()
}

/// memmon in front of `sh -c 'python3 …; echo after'`: sh does not `exec` (a launcher that
/// stays), so the client is a grandchild only the tree walk can reach.
fn start(d: &Dir, extra: &[&str]) -> Running {
    d.write("client.py", CLIENT);
    d.memmon()
        .args([
            "run",
            "--startup-delay",
            "0",
            "--interval",
            "0.1",
            "--children",
        ])
        .args(extra)
        .args([
            "--log",
            "m.log",
            "--",
            "sh",
            "-c",
            "python3 client.py; echo after",
        ])
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

#[test]
fn sigterm_takes_the_final_sample_then_reaches_the_whole_tree_and_memmon_dies_of_it() {
    let d = Dir::new("stop-tree");
    let mut memmon = start(&d, &[]);
    wait_for("the client", || {
        d.join("client.pid").exists() && samples(&parse_log(&d.join("m.log"))).len() >= 2
    });
    kill_process(Pid::from_raw(memmon.id() as i32).unwrap(), Signal::TERM).unwrap();
    let status = memmon.0.wait().unwrap();
    let err = stderr_of(&mut memmon);
    // sh (the command) died of SIGTERM: so does memmon, which systemd counts as a clean stop.
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?} {err}");
    assert!(!status.core_dumped());
    // The grandchild got the signal too (sh alone would have left it running), and memmon
    // waited for it to finish its stop: it is gone when memmon is.
    assert_eq!(d.read("got-term"), "yes");
    assert!(
        ended(pid_in(&d, "client.pid")),
        "memmon ended before the client it signalled"
    );
    let recs = parse_log(&d.join("m.log"));
    assert_eq!(recs.last(), Some(&Record::Rule), "{}", d.read("m.log"));
    assert!(recs.contains(&Record::ProcessExit(ExitKind::Signal {
        number: 15,
        name: "SIGTERM".into()
    })));
    // The final sample was taken before the signal went on: the client still held its
    // 30 MiB, and no stand-in line was needed.
    assert!(!recs.contains(&Record::LastGoodUsed), "{}", d.read("m.log"));
    let last = recs.iter().find_map(|r| match r {
        Record::Final { mb } => *mb,
        _ => None,
    });
    assert!(
        last.is_some_and(|mb| mb > 30.0),
        "{last:?}\n{}",
        d.read("m.log")
    );
}

#[test]
fn sigterm_to_memmon_and_the_client_at_once_is_still_a_clean_stop_with_a_footer() {
    // What KillMode=control-group does: every process of the unit gets SIGTERM together.
    let d = Dir::new("stop-group");
    let mut memmon = start(&d, &[]);
    wait_for("the client", || {
        d.join("client.pid").exists() && samples(&parse_log(&d.join("m.log"))).len() >= 2
    });
    let client = pid_in(&d, "client.pid");
    kill_process(client, Signal::TERM).unwrap();
    kill_process(Pid::from_raw(memmon.id() as i32).unwrap(), Signal::TERM).unwrap();
    let status = memmon.0.wait().unwrap();
    let err = stderr_of(&mut memmon);
    // sh either died of SIGTERM or, its client gone first, ran its `echo` and exited 0: both
    // are what systemd counts as a clean stop, and memmon ends the same way.
    assert!(
        status.signal() == Some(libc::SIGTERM) || status.code() == Some(0),
        "{status:?} {err}"
    );
    let recs = parse_log(&d.join("m.log"));
    assert_eq!(recs.last(), Some(&Record::Rule), "{}", d.read("m.log"));
    assert!(recs.iter().any(|r| matches!(r, Record::Final { .. })));
}

#[test]
fn a_command_that_ignores_the_stop_signal_is_waited_for_within_the_stop_timeout() {
    let d = Dir::new("stop-timeout");
    let mut memmon = d
        .memmon()
        .args(["run", "--startup-delay", "0", "--interval", "0.1"])
        .args([
            "--stop-timeout",
            "1",
            "--lang",
            "en",
            "--log",
            "m.log",
            "--",
        ])
        .args([
            "sh",
            "-c",
            "trap '' TERM; echo $$ > sh.pid; while :; do sleep 0.05; done",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .map(Running)
        .unwrap();
    wait_for("the command", || d.join("sh.pid").exists());
    let t0 = Instant::now();
    kill_process(Pid::from_raw(memmon.id() as i32).unwrap(), Signal::TERM).unwrap();
    let status = memmon.0.wait().unwrap();
    let waited = t0.elapsed();
    let sh = pid_in(&d, "sh.pid");
    let still_running = rustix::process::test_kill_process(sh).is_ok();
    let _ = kill_process(sh, Signal::KILL);
    // sh held memmon's stderr too: read it once sh is gone.
    let err = stderr_of(&mut memmon);
    // memmon waited at least the second it was given, then ended by the stop signal it got.
    assert!(waited >= Duration::from_millis(950), "{waited:?}");
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?} {err}");
    assert!(
        err.contains("did not end within 1 s of the stop signal (--stop-timeout)"),
        "{err}"
    );
    assert!(
        still_running,
        "the command was not left to the service manager"
    );
    let recs = parse_log(&d.join("m.log"));
    assert_eq!(recs.last(), Some(&Record::Rule), "{}", d.read("m.log"));
}

/// The processes other than memmon (`memmon`) whose environment holds `marker`: the command
/// memmon started, and nothing else, since the marker is unique to one try.
fn processes_marked(marker: &str, memmon: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != memmon)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == marker.as_bytes()))
        })
        .filter(|&pid| !ended(Pid::from_raw(pid as i32).unwrap()))
        .collect()
}

/// memmon's signal thread runs (so its handlers are installed).
fn signal_thread_runs(pid: u32) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/task")).is_ok_and(|tasks| {
        tasks.filter_map(Result::ok).any(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|comm| comm.trim() == "memmon-signals")
        })
    })
}

/// A run whose stop signal came before its command existed: the log has the header, the
/// command's exit by SIGTERM and a footer from a fresh sample, memmon died of SIGTERM, and
/// the command is not left running.
fn assert_stopped_at_once(d: &Dir, status: std::process::ExitStatus, err: &str) {
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?} {err}");
    let text = d.read("m.log");
    let recs = parse_log(&d.join("m.log"));
    assert!(
        matches!(recs[..2], [Record::Rule, Record::Start { .. }]),
        "{text}"
    );
    assert!(
        recs.contains(&Record::ProcessExit(ExitKind::Signal {
            number: 15,
            name: "SIGTERM".into()
        })),
        "{text}\n{err}"
    );
    assert!(!recs.contains(&Record::LastGoodUsed), "{text}");
    assert!(
        recs.iter().any(|r| matches!(r, Record::End { .. })),
        "{text}"
    );
    assert_eq!(recs.last(), Some(&Record::Rule), "{text}");
}

#[test]
fn a_stop_signal_before_the_command_is_started_reaches_it_as_soon_as_it_runs() {
    // The config is a FIFO: memmon waits in its config loading, handlers installed and no
    // command yet, until the test writes the config. SIGTERM comes in that wait.
    let d = Dir::new("stop-early");
    for round in 0..3 {
        let _ = std::fs::remove_file(d.join("m.log"));
        let config = d.join("c.json");
        let _ = std::fs::remove_file(&config);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &config,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let (mut memmon, marker) = start_marked(&d, &["--config", "c.json"], "fifo", round);
        wait_for("memmon's signal thread", || signal_thread_runs(memmon.id()));
        kill_process(Pid::from_raw(memmon.id() as i32).unwrap(), Signal::TERM).unwrap();
        // memmon is still reading its config: nothing has started.
        std::thread::sleep(Duration::from_millis(100));
        assert!(memmon.0.try_wait().unwrap().is_none(), "memmon ended early");
        assert_eq!(processes_marked(&marker, memmon.id()), Vec::<u32>::new());
        std::fs::write(&config, r#"{"memory_monitor": {"interval": 0.1}}"#).unwrap();
        let t0 = Instant::now();
        let status = memmon.wait();
        // Before, the loop alone heard of the stop and waited --stop-timeout (20 s) for a
        // command nobody had signalled, which then ran on after memmon.
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
        let err = stderr_of(&mut memmon);
        assert_stopped_at_once(&d, status, &err);
        assert_eq!(
            processes_marked(&marker, memmon.id()),
            Vec::<u32>::new(),
            "{err}"
        );
    }
}

/// `memmon run FLAGS --startup-delay 30 --stop-timeout 20 --log m.log -- sleep 30`, its
/// processes marked by an environment variable unique to this test and round (returned, for
/// `processes_marked`), stderr piped.
fn start_marked(d: &Dir, flags: &[&str], tag: &str, round: u64) -> (Running, String) {
    let marker = format!("MEMMON_E2E_EARLY={tag}-{}-{round}", std::process::id());
    let (key, value) = marker.split_once('=').unwrap();
    let memmon = d
        .memmon()
        .arg("run")
        .args(flags)
        .args([
            "--startup-delay",
            "30",
            "--stop-timeout",
            "20",
            "--log",
            "m.log",
        ])
        .args(["--", "sleep", "30"])
        .env(key, value)
        .stderr(Stdio::piped())
        // Never an orphaned process group (see `signals::start`): the job-stop test needs the
        // kernel to stop the command on SIGTSTP.
        .process_group(0)
        .spawn()
        .map(Running)
        .unwrap();
    (memmon, marker)
}

#[test]
fn a_stop_signal_at_any_moment_of_the_start_is_never_lost() {
    // SIGTERM from right after the exec to well after the spawn, over the moments memmon
    // loads its config, opens the log, prepares the hook and starts the command.
    let d = Dir::new("stop-early-race");
    for round in 0..24u64 {
        let _ = std::fs::remove_file(d.join("m.log"));
        let (mut memmon, marker) = start_marked(&d, &["--detail", "--children"], "race", round);
        std::thread::sleep(Duration::from_micros(round * 500));
        let t0 = Instant::now();
        kill_process(Pid::from_raw(memmon.id() as i32).unwrap(), Signal::TERM).unwrap();
        let status = memmon.wait();
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
        let err = stderr_of(&mut memmon);
        if d.join("m.log").exists() {
            assert_stopped_at_once(&d, status, &err);
        } else {
            // Before `main` (the loader, the runtime): memmon dies of SIGTERM as any process
            // would, before it started anything.
            assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?} {err}");
        }
        assert_eq!(
            processes_marked(&marker, memmon.id()),
            Vec::<u32>::new(),
            "{err}"
        );
    }
}

/// The process state letter of `/proc/PID/stat` (`T` stopped), or `?` when gone.
fn state_of(pid: u32) -> char {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").and_then(|(_, r)| r.chars().next()))
        .unwrap_or('?')
}

#[test]
fn a_job_stop_before_the_command_is_started_stops_it_as_soon_as_it_runs() {
    // As above: memmon waits in its config loading (a FIFO), handlers installed, no command.
    // A SIGTSTP then is kept for the command, memmon does not stop in its start-up (it would
    // never start the command); once the command runs it gets the stop, then memmon stops.
    // (Seen as a flake of `signals::a_job_control_stop…` under load: a stop that won the race
    // with the command's start was dropped for it, and memmon stopped alone.)
    let d = Dir::new("stop-early-tstp");
    let config = d.join("c.json");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &config,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let (mut memmon, marker) = start_marked(&d, &["--config", "c.json"], "tstp", 0);
    wait_for("memmon's signal thread", || signal_thread_runs(memmon.id()));
    kill_process(Pid::from_raw(memmon.id() as i32).unwrap(), Signal::TSTP).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_ne!(
        state_of(memmon.id()),
        'T',
        "memmon stopped before its command ran"
    );
    std::fs::write(&config, r#"{"memory_monitor": {"interval": 0.1}}"#).unwrap();
    let mut command = Vec::new();
    wait_for("the command started", || {
        command = processes_marked(&marker, memmon.id());
        !command.is_empty()
    });
    wait_for("both stopped", || {
        state_of(command[0]) == 'T' && state_of(memmon.id()) == 'T'
    });
    kill_process(Pid::from_raw(memmon.id() as i32).unwrap(), Signal::CONT).unwrap();
    wait_for("both running", || {
        state_of(command[0]) != 'T' && state_of(memmon.id()) != 'T'
    });
    kill_process(Pid::from_raw(memmon.id() as i32).unwrap(), Signal::TERM).unwrap();
    let status = memmon.wait();
    let err = stderr_of(&mut memmon);
    assert_stopped_at_once(&d, status, &err);
}
