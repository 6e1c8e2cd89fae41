//! The signals memmon passes on: what a service manager, a terminal or a user sends reaches the
//! command; job-control stops stop both; an ignored signal stays ignored (`nohup`).

use crate::util::{wait_for, Dir, Running};
use rustix::process::{kill_process, Pid, Signal};
use std::os::unix::process::CommandExt;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

/// A Python command that notes each signal it gets in `got`, and whether SIGHUP was ignored
/// when it started.
const CLIENT: &str = r#"
import os, signal, time
open("hup", "w").write("ignored" if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN else "default")
def note(sig, frame):
    with open("got", "a") as f: f.write(signal.Signals(sig).name + "\n")
for s in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGALRM):
    signal.signal(s, note)
open("client.pid", "w").write(str(os.getpid()))
while True: time.sleep(0.02)
"#;

fn start(d: &Dir, nohup: bool) -> Running {
    d.write("client.py", CLIENT);
    let memmon = env!("CARGO_BIN_EXE_memmon");
    let trap = if nohup { "trap '' HUP; " } else { "" };
    std::process::Command::new("sh")
        .current_dir(&d.path)
        .env("TZ", "Asia/Tokyo")
        .arg("-c")
        .arg(format!(
            "{trap}exec \"$0\" run --startup-delay 0 --interval 0.2 --log m.log -- python3 client.py"
        ))
        .arg(memmon)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        // A process group of its own, whose leader's parent (this test) is outside it: never
        // an orphaned group, whose members the kernel does not stop on SIGTSTP, whatever
        // became of the group the tests run in (a CI job backgrounded by a shell that left).
        .process_group(0)
        .spawn()
        .map(Running)
        .unwrap()
}

fn to(r: &Running, sig: Signal) {
    kill_process(Pid::from_raw(r.id() as i32).unwrap(), sig).unwrap();
}

/// The state letter of `/proc/PID/stat` (`T`: stopped).
fn state(pid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.chars().next().unwrap()
}

#[test]
fn user_and_terminal_signals_reach_the_command_and_quit_ends_both() {
    let d = Dir::new("signals-pass");
    let mut memmon = start(&d, false);
    wait_for("the client", || d.join("client.pid").exists());
    for sig in [Signal::USR1, Signal::USR2, Signal::WINCH, Signal::ALARM] {
        to(&memmon, sig);
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_for("three signals", || {
        std::fs::read_to_string(d.join("got")).is_ok_and(|t| t.lines().count() == 3)
    });
    // SIGUSR2 is memmon's own (an evidence bundle now): the command never sees it.
    wait_for("the SIGUSR2 bundle named in the log", || {
        std::fs::read_to_string(d.join("m.log"))
            .is_ok_and(|t| t.contains("  [証拠] 保存: m.evidence/"))
    });
    to(&memmon, Signal::USR2);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(d.read("got"), "SIGUSR1\nSIGWINCH\nSIGALRM\n");
    let bundles: Vec<String> = std::fs::read_dir(d.join("m.evidence"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        bundles.len(),
        1,
        "one bundle per trigger and run: {bundles:?}"
    );
    assert!(bundles[0].ends_with("-usr2.txt"), "{bundles:?}");
    let bundle = std::fs::read_to_string(d.join("m.evidence").join(&bundles[0])).unwrap();
    let child = d.read("client.pid");
    assert!(bundle.contains("トリガー: usr2\n"), "{bundle}");
    assert!(
        bundle.contains(&format!("## プロセス {child}: status\n")),
        "{bundle}"
    );
    assert!(bundle.contains("## meminfo\n"), "{bundle}");
    assert_eq!(d.read("hup"), "default");
    // SIGQUIT: the client dies of it (Python's default), and so does memmon, after its footer.
    to(&memmon, Signal::QUIT);
    let status = memmon.0.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGQUIT), "{status:?}");
    let log = d.read("m.log");
    assert!(
        log.contains("プロセス終了: シグナル 3 (SIGQUIT)\n"),
        "{log}"
    );
    assert!(log.ends_with(&format!("{}\n", "=".repeat(80))), "{log}");
}

#[test]
fn a_job_control_stop_stops_the_command_and_memmon_and_cont_resumes_both() {
    let d = Dir::new("signals-tstp");
    let mut memmon = start(&d, false);
    wait_for("the client", || d.join("client.pid").exists());
    let client: u32 = d.read("client.pid").trim().parse().unwrap();
    to(&memmon, Signal::TSTP);
    wait_for("both stopped", || {
        state(client) == 'T' && state(memmon.id()) == 'T'
    });
    to(&memmon, Signal::CONT);
    wait_for("both running", || {
        state(client) != 'T' && state(memmon.id()) != 'T'
    });
    to(&memmon, Signal::TERM);
    let status = memmon.0.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
}

#[test]
fn a_signal_ignored_at_start_stays_ignored_for_memmon_and_the_command() {
    let d = Dir::new("signals-nohup");
    let mut memmon = start(&d, true);
    wait_for("the client", || d.join("client.pid").exists());
    assert_eq!(d.read("hup"), "ignored");
    to(&memmon, Signal::HUP);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        memmon.0.try_wait().unwrap().is_none(),
        "memmon ended on an ignored SIGHUP"
    );
    to(&memmon, Signal::TERM);
    let status = memmon.0.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
}
