//! Issue #19's breakdown against real processes: a Python child that opens a socketpair, a
//! pipe and files, then stops itself (SIGSTOP) so that nothing changes between the sample and
//! the breakdown, whose resident parts must then add up to the sample's RSS exactly.

#![cfg(target_os = "linux")]

use memmon_core::{FdCounts, Sampler};
use memmon_sampler::{ProcfsOptions, ProcfsSampler};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Closes every inherited descriptor past the standard three (the test harness may hold some),
/// opens a socketpair, a pipe, a file by path and an unnamed temporary file (`… (deleted)`),
/// optionally forks a child that inherits them all, prints `ready CHILD_PID` and stops.
const OPEN_THEN_STOP: &str = r#"
import os, signal, socket, sys, tempfile
os.closerange(3, 65536)
a, b = socket.socketpair()
r, w = os.pipe()
f = open(sys.executable, "rb")
t = tempfile.TemporaryFile()
heap = bytearray(8 << 20)
for i in range(0, len(heap), 4096):
    heap[i] = 1
child = 0
if sys.argv[1] == "fork":
    child = os.fork()
    if child == 0:
        # Private memory of its own, written after the fork.
        mine = bytearray(4 << 20)
        for i in range(0, len(mine), 4096):
            mine[i] = 2
        os.kill(os.getpid(), signal.SIGSTOP)
        os._exit(0)
print("ready", child, flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
"#;

/// Starts `python3 ARGS` and reads the first line it prints (the script says it is ready).
fn python_line(args: &[&str], stdin: Stdio) -> (Child, String) {
    let mut child = Command::new("python3")
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut line)
        .expect("read the script's line");
    (child, line)
}

struct Stopped {
    child: Child,
    forked: Option<u32>,
}

impl Stopped {
    fn spawn(fork: bool) -> Stopped {
        let (child, line) = python_line(
            &["-c", OPEN_THEN_STOP, if fork { "fork" } else { "alone" }],
            Stdio::piped(),
        );
        let forked: u32 = line
            .trim()
            .strip_prefix("ready ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected line {line:?}"));
        let stopped = Stopped {
            forked: (forked != 0).then_some(forked),
            child,
        };
        wait_stopped(stopped.child.id());
        if let Some(pid) = stopped.forked {
            wait_stopped(pid);
        }
        stopped
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        // SIGKILL ends a stopped process too.
        if let Some(pid) = self.forked {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_stopped(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, s)| s.trim_start().chars().next());
        if state == Some('T') {
            return;
        }
        assert!(Instant::now() < deadline, "{pid} never stopped: {stat:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What one copy of the script holds: stdin and stdout are pipes from this test, stderr is
/// `/dev/null` (a device: other), then the socketpair, the pipe's two ends, the executable and
/// the deleted temporary file.
const ONE_PROCESS_FDS: FdCounts = FdCounts {
    sockets: 2,
    files: 2,
    pipes: 4,
    other: 1,
};

#[test]
fn a_stopped_process_breaks_down_into_its_rss_and_its_descriptors() {
    let stopped = Stopped::spawn(false);
    let pid = stopped.child.id();
    let mut sampler = ProcfsSampler::new(pid, ProcfsOptions::default()).unwrap();
    let rss = sampler.sample().unwrap().rss;
    let b = sampler.breakdown().unwrap();
    assert_eq!(b.fds, ONE_PROCESS_FDS, "{b:?}");
    assert_eq!(b.threads, 1);
    // Nothing runs in a stopped process: statm's resident field and status's three parts are
    // the same kernel counters, read at two moments between which none of them moved.
    assert_eq!(b.resident(), rss, "{b:?}");
    assert!(b.anon >= 8 << 20, "the 8 MiB heap is anonymous: {b:?}");
    assert!(b.file > 0, "the interpreter's code is file-backed: {b:?}");
    // And status agrees with itself: VmRSS is the sum of its parts.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let vm_rss = memmon_sampler::parse::parse_status(&status).unwrap().vm_rss;
    assert_eq!(vm_rss, Some(b.resident()));
}

#[test]
fn a_stopped_tree_breaks_down_into_the_rss_children_counts() {
    let stopped = Stopped::spawn(true);
    let pid = stopped.child.id();
    let options = ProcfsOptions {
        children: true,
        ..ProcfsOptions::default()
    };
    let mut sampler = ProcfsSampler::new(pid, options).unwrap();
    let rss = sampler.sample().unwrap().rss;
    let b = sampler.breakdown().unwrap();
    let two = |n: u64| 2 * n;
    let expected_fds = FdCounts {
        sockets: two(ONE_PROCESS_FDS.sockets),
        files: two(ONE_PROCESS_FDS.files),
        pipes: two(ONE_PROCESS_FDS.pipes),
        other: two(ONE_PROCESS_FDS.other),
    };
    assert_eq!(b.fds, expected_fds, "{b:?}");
    assert_eq!(b.threads, 2);
    // The parent's RSS plus the child's private memory, split: exactly the sample's RSS.
    assert_eq!(b.resident(), rss, "{b:?}");
    // The child's 4 MiB written after the fork are private and anonymous; the parent's heap
    // it shares is not counted for it again.
    let alone = {
        let mut s = ProcfsSampler::new(pid, ProcfsOptions::default()).unwrap();
        s.breakdown().unwrap()
    };
    assert!(b.anon >= alone.anon + (4 << 20), "{b:?} vs {alone:?}");
    assert!(
        b.anon < alone.anon + (8 << 20),
        "shared heap counted twice: {b:?}"
    );
    assert_eq!(b.shmem, alone.shmem, "a descendant adds no shared memory");
}

/// Duplicates one file descriptor until the process holds 10,000 of them (fewer if its hard
/// limit is lower), prints how many it opened and stops.
const MANY_FDS_THEN_STOP: &str = r#"
import os, resource, signal, sys
os.closerange(3, 65536)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = 10_000
if hard != resource.RLIM_INFINITY:
    want = min(want, hard - 16)
if soft != resource.RLIM_INFINITY and soft < want + 16:
    resource.setrlimit(resource.RLIMIT_NOFILE, (want + 16, hard))
f = os.open(sys.executable, os.O_RDONLY)
fds = [f] + [os.dup(f) for _ in range(want - 1)]
print(len(fds), flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
"#;

#[test]
fn ten_thousand_descriptors_are_all_counted() {
    let (child, line) = python_line(&["-c", MANY_FDS_THEN_STOP], Stdio::null());
    let opened: u64 = line.trim().parse().expect("a count");
    let stopped = Stopped {
        child,
        forked: None,
    };
    wait_stopped(stopped.child.id());
    let mut sampler = ProcfsSampler::new(stopped.child.id(), ProcfsOptions::default()).unwrap();
    let b = sampler.breakdown().unwrap();
    // stdin and stderr are /dev/null; stdout, the pipe to this test, was closed when the
    // reader above was dropped but is still open in the child.
    assert_eq!(
        b.fds,
        FdCounts {
            sockets: 0,
            files: opened,
            pipes: 1,
            other: 2,
        }
    );
    assert!(opened >= 1000, "only {opened} descriptors could be opened");
}
