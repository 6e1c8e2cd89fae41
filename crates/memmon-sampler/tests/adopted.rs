//! A tree adopted by a child subreaper outlives its root: with `with_adopter`, the adopter's
//! other children count as descendants, and once the watched process is gone a sample sums
//! what is left. A file of its own: the test process's children are what is counted, so no
//! other test may start any meanwhile.

#![cfg(target_os = "linux")]

use memmon_core::{SampleError, Sampler};
use memmon_sampler::{adopted, children, ProcfsOptions, ProcfsSampler};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

const MIB: u64 = 1024 * 1024;

#[test]
fn an_adopted_tree_is_summed_after_its_root_is_gone_and_ends_with_its_last_process() {
    let me = std::process::id();
    // The "command" and, beside it, a child of the adopter (as a daemon re-parented to a
    // subreaper is) that holds 48 MiB of its own until its stdin closes.
    // The command lives until the test closes its stdin: however slow the daemon's start under
    // load, the command is still there to be opened (a `sleep 0.3` was sometimes a zombie by
    // then).
    let mut command = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut daemon = Command::new("python3")
        .args([
            "-c",
            "import sys\nb = bytearray(48 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\n\
             print('ready', flush=True)\nsys.stdin.readline()",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(daemon.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    let options = ProcfsOptions {
        children: true,
        ..ProcfsOptions::default()
    };
    let mut sampler = ProcfsSampler::new(command.id(), options)
        .unwrap()
        .with_adopter(me);
    let both = sampler.sample().unwrap();
    assert!(both.rss > 48 * MIB, "{both:?}");

    let kids = children(Path::new("/proc"), me).unwrap();
    assert!(
        kids.contains(&command.id()) && kids.contains(&daemon.id()),
        "{kids:?}"
    );
    assert_eq!(
        adopted(Path::new("/proc"), me, command.id()).unwrap(),
        vec![daemon.id()]
    );

    // The root ends (a zombie first, then reaped): the daemon alone is what is left.
    drop(command.stdin.take());
    command.wait().unwrap();
    let left = sampler.sample().unwrap();
    assert!(
        left.rss > 48 * MIB && left.rss < both.rss,
        "{left:?} {both:?}"
    );
    // The breakdown sums the same tree: the daemon alone (blocked in a read, so its memory
    // barely moves between the two readings), and its one thread.
    let parts = sampler.breakdown().unwrap();
    assert!(
        parts.resident().abs_diff(left.rss) < MIB,
        "{parts:?} {left:?}"
    );
    assert_eq!(parts.threads, 1, "{parts:?}");

    drop(daemon.stdin.take());
    daemon.wait().unwrap();
    assert!(adopted(Path::new("/proc"), me, command.id())
        .unwrap()
        .is_empty());
    assert_eq!(
        sampler.sample().unwrap_err(),
        SampleError::Exited { pid: command.id() }
    );
    assert_eq!(
        sampler.breakdown().unwrap_err(),
        SampleError::Exited { pid: command.id() }
    );
}
