//! Samplers against real processes whose memory the test controls (Linux only: they read the
//! real `/proc`).

#![cfg(target_os = "linux")]

use memmon_core::{DetailSource, SampleError, Sampler};
use memmon_sampler::{
    auto_sampler, oom_kills, ProcfsOptions, ProcfsSampler, SmapsSource, SysinfoSampler,
};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

const MIB: i64 = 1024 * 1024;

/// Prints `base`, waits for a line, allocates and touches 64 MiB, prints `ready`, waits for
/// stdin to close.
const ALLOCATE_64_MIB: &str = r#"
import sys
print("base", flush=True)
sys.stdin.readline()
b = bytearray(64 << 20)
for i in range(0, len(b), 4096):
    b[i] = 1
print("ready", flush=True)
sys.stdin.readline()
"#;

struct Script {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Script {
    fn spawn(command: &mut Command) -> Script {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the test script");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Script {
            child,
            stdin,
            stdout,
        }
    }

    fn expect_line(&mut self, expected: &str) {
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .expect("read the script's stdout");
        assert_eq!(line.trim_end(), expected);
    }

    fn go(&mut self) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(b"\n").expect("write to the script");
        stdin.flush().expect("flush the script's stdin");
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn growth(before: u64, after: u64) -> i64 {
    after as i64 - before as i64
}

fn assert_about_64_mib(growth: i64) {
    assert!(
        (60 * MIB..=72 * MIB).contains(&growth),
        "RSS grew by {:.2} MiB, expected about 64",
        growth as f64 / MIB as f64
    );
}

#[test]
fn procfs_sees_touched_memory_then_the_exit() {
    let mut script = Script::spawn(Command::new("python3").args(["-c", ALLOCATE_64_MIB]));
    script.expect_line("base");
    let mut sampler = ProcfsSampler::new(script.pid(), ProcfsOptions::default()).unwrap();
    let base = sampler.sample().unwrap();
    script.go();
    script.expect_line("ready");
    let grown = sampler.sample().unwrap();
    assert_about_64_mib(growth(base.rss, grown.rss));
    assert!(grown.vms >= grown.rss);
    assert!(grown.sys_total >= grown.sys_available && grown.sys_total > 0);

    script.child.kill().unwrap();
    script.child.wait().unwrap();
    let pid = script.pid();
    assert_eq!(sampler.sample(), Err(SampleError::Exited { pid }));
}

#[test]
fn a_killed_but_unreaped_child_has_exited() {
    let mut script = Script::spawn(Command::new("python3").args(["-c", ALLOCATE_64_MIB]));
    script.expect_line("base");
    let mut sampler = ProcfsSampler::new(script.pid(), ProcfsOptions::default()).unwrap();
    script.child.kill().unwrap();
    // Not waited for: a zombie until the test's Drop reaps it. Poll until the kernel has torn
    // its memory down.
    let pid = script.pid();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match sampler.sample() {
            Err(e) => break assert_eq!(e, SampleError::Exited { pid }),
            Ok(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            Ok(r) => panic!("still alive after 10 s: {r:?}"),
        }
    }
}

#[test]
fn children_option_sees_a_grandchilds_memory() {
    // `; true` keeps sh from exec'ing python3, so python3 is sh's child, not sh itself.
    let shell = format!("python3 -c '{ALLOCATE_64_MIB}'; true");
    let mut script = Script::spawn(Command::new("sh").args(["-c", &shell]));
    script.expect_line("base");
    let pid = script.pid();
    let tree = ProcfsOptions {
        children: true,
        ..ProcfsOptions::default()
    };
    let mut with = ProcfsSampler::new(pid, tree).unwrap();
    let mut without = ProcfsSampler::new(pid, ProcfsOptions::default()).unwrap();
    let (base_with, base_without) = (with.sample().unwrap(), without.sample().unwrap());
    assert!(
        base_with.rss > base_without.rss,
        "python3's memory is counted"
    );
    script.go();
    script.expect_line("ready");
    assert_about_64_mib(growth(base_with.rss, with.sample().unwrap().rss));
    let sh_growth = growth(base_without.rss, without.sample().unwrap().rss);
    assert!(
        sh_growth.abs() < 4 * MIB,
        "sh alone grew by {sh_growth} bytes"
    );

    // Closing stdin ends python3, then sh.
    drop(script.stdin.take());
    script.child.wait().unwrap();
    assert_eq!(with.sample(), Err(SampleError::Exited { pid }));
}

#[test]
fn sysinfo_sees_touched_memory_too() {
    let mut script = Script::spawn(Command::new("python3").args(["-c", ALLOCATE_64_MIB]));
    script.expect_line("base");
    let mut sampler = SysinfoSampler::new(script.pid(), false).unwrap();
    assert_eq!(sampler.pid(), script.pid());
    let base = sampler.sample().unwrap();
    script.go();
    script.expect_line("ready");
    let grown = sampler.sample().unwrap();
    assert_about_64_mib(growth(base.rss, grown.rss));
    assert!(grown.sys_total > 0);
    script.child.kill().unwrap();
    script.child.wait().unwrap();
    let pid = script.pid();
    assert_eq!(sampler.sample(), Err(SampleError::Exited { pid }));
}

#[test]
fn sysinfo_with_children_sees_a_grandchild() {
    let shell = format!("python3 -c '{ALLOCATE_64_MIB}'; true");
    let mut script = Script::spawn(Command::new("sh").args(["-c", &shell]));
    script.expect_line("base");
    let mut sampler = SysinfoSampler::new(script.pid(), true).unwrap();
    let base = sampler.sample().unwrap();
    script.go();
    script.expect_line("ready");
    assert_about_64_mib(growth(base.rss, sampler.sample().unwrap().rss));
}

/// No Linux PID reaches this (`pid_max` is at most 2^22).
const NO_SUCH_PID: u32 = 4_000_000_000;

#[test]
fn a_nonexistent_pid_has_exited_for_every_reader() {
    let exited = SampleError::Exited { pid: NO_SUCH_PID };
    let tree = ProcfsOptions {
        children: true,
        ..ProcfsOptions::default()
    };
    assert_eq!(
        ProcfsSampler::new(NO_SUCH_PID, ProcfsOptions::default()).unwrap_err(),
        exited
    );
    assert_eq!(ProcfsSampler::new(NO_SUCH_PID, tree).unwrap_err(), exited);
    assert_eq!(SysinfoSampler::new(NO_SUCH_PID, false).unwrap_err(), exited);
    assert_eq!(
        SmapsSource::new(NO_SUCH_PID, "/proc").detail().unwrap_err(),
        exited
    );
    assert_eq!(
        auto_sampler(NO_SUCH_PID, ProcfsOptions::default()).err(),
        Some(exited)
    );
}

#[test]
fn auto_sampler_falls_back_to_sysinfo_without_a_proc_root() {
    let options = ProcfsOptions {
        root: "/nonexistent-proc-root".into(),
        children: false,
    };
    let mut sampler = auto_sampler(std::process::id(), options).unwrap();
    assert!(sampler.sample().unwrap().rss > 0);
}

#[test]
fn smaps_of_this_process_is_ordered_and_bounded() {
    let mut source = SmapsSource::new(std::process::id(), "/proc");
    let blocks = source.detail().unwrap();
    let [memmon_core::Detail::Smaps {
        threads,
        fds,
        sites,
        ..
    }] = blocks.as_slice()
    else {
        panic!("expected one smaps block, got {blocks:?}");
    };
    assert!(*threads >= 1 && *fds >= 3);
    assert!(!sites.is_empty() && sites.len() <= 10);
    assert!(sites.windows(2).all(|w| w[0].size >= w[1].size));
}

#[test]
fn the_real_oom_counter_reads() {
    assert!(oom_kills(Path::new("/proc")).is_ok());
}
