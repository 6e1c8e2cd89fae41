//! PythonDetail against fake hooks on real sockets.

use super::*;
use std::path::Path;
use std::sync::Arc;

/// The protocol has one description (`docs/hook-protocol.md`): its version is the one both
/// sides speak, and every request memmon sends is in its table and the hook's `_REQUESTS`.
#[test]
fn the_protocol_doc_the_hook_and_memmon_agree() {
    let doc = include_str!("../../../../docs/hook-protocol.md");
    assert!(doc.contains(&format!("**Version: {PROTOCOL}.**")));
    assert!(HOOK_SOURCE.contains(&format!("\n_PROTOCOL = {PROTOCOL}\n")));
    assert!(HOOK_SOURCE.contains(&format!("\n_MARKER = \"{TRACE_FROM_START}\"\n")));
    for request in [
        client::Request::Start,
        client::Request::Snapshot,
        client::Request::Trim,
        client::Request::Types,
        client::Request::Evidence,
    ] {
        let line = request.line();
        let verb = line.split(' ').next().unwrap_or_default();
        assert!(
            doc.contains(&format!("| `{}` |", line.trim_end())),
            "{verb}"
        );
        assert!(HOOK_SOURCE.contains(&format!("\"{verb}\": _")), "{verb}");
    }
    assert!(doc.contains(&format!("`{TYPES_BUDGET_VAR}`")));
    assert!(HOOK_SOURCE.contains(TYPES_BUDGET_VAR));
    for var in [HOOK_DIR_VAR, PROTOCOL_VAR, FRAMES_VAR] {
        assert!(doc.contains(&format!("| `{var}` |")), "{var}");
        assert!(HOOK_SOURCE.contains(var), "{var}");
    }
}

/// Counts wake-ups, as `memmon run`'s loop would receive them.
struct Count(std::sync::atomic::AtomicUsize);

impl std::task::Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A hook stand-in on `<dir>/<pid>.sock` that answers one request after `delay` and
/// returns the request line it got.
fn fake_hook(dir: &Path, pid: u32, delay: Duration) -> std::thread::JoinHandle<String> {
    let hook = fake_hook_serving(dir, pid, delay, 1);
    std::thread::spawn(move || {
        hook.join()
            .ok()
            .and_then(|l| l.into_iter().next())
            .unwrap_or_default()
    })
}

/// Like [`fake_hook`], but serves `connections` requests one after the other, as the real hook
/// does, each answered `delay` after it was read; returns the request lines.
fn fake_hook_serving(
    dir: &Path,
    pid: u32,
    delay: Duration,
    connections: usize,
) -> std::thread::JoinHandle<Vec<String>> {
    use std::io::Write;
    let listener = std::os::unix::net::UnixListener::bind(dir.join(format!("{pid}.sock")))
        .unwrap_or_else(|e| panic!("bind: {e}"));
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        for _ in 0..connections {
            let Ok((mut stream, _)) = listener.accept() else {
                break;
            };
            let mut line = String::new();
            let _ = io::BufRead::read_line(&mut io::BufReader::new(&stream), &mut line);
            std::thread::sleep(delay);
            let reply = if line.starts_with("start ") {
                format!("{{\"tracing\":true,\"v\":1,\"pid\":{pid}}}\n")
            } else if line.starts_with("trim ") {
                format!("{{\"released\":true,\"v\":1,\"pid\":{pid}}}\n")
            } else if line.starts_with("types ") {
                format!(
                    "{{\"types\":[[\"__main__.Card\",10,560],[\"list\",1,88]],\"complete\":true,\"objects\":99,\"v\":1,\"pid\":{pid}}}\n"
                )
            } else if !line.starts_with("snapshot ") {
                let verb = line.split(' ').next().unwrap_or_default();
                format!("{{\"error\":\"unknown request '{verb}'\",\"v\":1,\"pid\":{pid}}}\n")
            } else {
                format!(
                    "{{\"current\":3145728,\"peak\":4194304,\"sites\":[[\"/app/c.py:7\",2097152,2]],\"v\":1,\"pid\":{pid}}}\n"
                )
            };
            let _ = stream.write_all(reply.as_bytes());
            lines.push(line);
        }
        lines
    })
}

/// A fresh directory and a source watching this very process (alive, so never "gone").
fn fake_setup(name: &str) -> (PathBuf, u32, PythonDetail) {
    let dir = std::env::temp_dir().join(format!("memmon-py-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::create_dir_all(&dir);
    let pid = std::process::id();
    let options = PythonOptions {
        children: false,
        timeout: Duration::from_secs(5),
        smaps: WithSmaps::Never,
    };
    let source = PythonDetail::new(pid, "/proc", &dir, options);
    (dir, pid, source)
}

#[test]
fn a_request_does_not_wait_and_the_answer_wakes_the_caller() {
    let (dir, pid, mut source) = fake_setup("async");
    let hook = fake_hook(&dir, pid, Duration::from_millis(300));
    let count = Arc::new(Count(0.into()));
    let waker = Waker::from(Arc::clone(&count));
    let asked = Instant::now();
    assert!(source.request(&waker).is_pending());
    assert!(asked.elapsed() < Duration::from_millis(250));
    assert!(source.poll(false).is_pending());
    let _ = hook.join();
    let woken = Instant::now();
    while count.0.load(std::sync::atomic::Ordering::SeqCst) == 0
        && woken.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    let Poll::Ready(Ok(blocks)) = source.poll(false) else {
        panic!("the answer came but poll is not ready");
    };
    assert_eq!(
        blocks,
        vec![Detail::Traced {
            pid: None,
            current: 3 << 20,
            peak: 4 << 20,
            sites: vec![Site {
                location: "/app/c.py:7".into(),
                size: 2 << 20,
                count: 2,
            }],
        }]
    );
    // Nothing in flight any more.
    assert!(matches!(source.poll(false), Poll::Ready(Ok(ref b)) if b.is_empty()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_first_sample_leaves_the_marker_then_asks_for_start() {
    let (dir, pid, mut source) = fake_setup("start");
    let hook = fake_hook(&dir, pid, Duration::ZERO);
    source.on_first_sample();
    assert!(dir.join(TRACE_FROM_START).is_file());
    assert_eq!(hook.join().ok().as_deref(), Some("start 1\n"));
    // The start thread lets go of the process, so the next snapshot asks it again.
    let freed = Instant::now();
    while !source.busy.is_idle() && freed.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(source.busy.is_idle());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn giving_up_reports_the_silent_process_with_the_time_waited() {
    let (dir, pid, mut source) = fake_setup("giveup");
    let hook = fake_hook(&dir, pid, Duration::from_millis(1500));
    assert!(source.request(Waker::noop()).is_pending());
    std::thread::sleep(Duration::from_millis(1100));
    let Poll::Ready(Ok(blocks)) = source.poll(true) else {
        panic!("giving up must complete the request");
    };
    let [Detail::NoAnswer {
        pid: silent,
        waited,
    }] = blocks.as_slice()
    else {
        panic!("{blocks:?}");
    };
    assert_eq!(*silent, pid);
    assert!(*waited >= Duration::from_millis(1100) && *waited < Duration::from_secs(5));
    // The late answer to the abandoned request is dropped, not taken for the next one.
    let _ = hook.join();
    std::thread::sleep(Duration::from_millis(100));
    assert!(matches!(source.poll(false), Poll::Ready(Ok(ref b)) if b.is_empty()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_sockets_with_python_only_gives_no_block() {
    let dir = std::env::temp_dir().join(format!("memmon-py-empty-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let mut source = PythonDetail::new(
        std::process::id(),
        "/proc",
        &dir,
        PythonOptions {
            children: true,
            timeout: Duration::from_millis(100),
            smaps: WithSmaps::Never,
        },
    );
    assert_eq!(source.detail().ok(), Some(vec![]));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Polls until the request completes (the caller's loop, woken or at the timeout).
fn poll_until_ready(source: &mut PythonDetail, limit: Duration) -> DetailResult {
    let asked = Instant::now();
    loop {
        if let Poll::Ready(result) = source.poll(false) {
            return result;
        }
        assert!(asked.elapsed() < limit, "still pending after {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The bug of issue 17 item 14: a process still busy with an earlier conversation (here a
/// request given up on early) was reported `応答なし (0s)` at once. It is now asked once the
/// earlier conversation ends, and its answer is the block.
#[test]
fn a_process_still_busy_with_an_earlier_request_is_waited_for_not_reported_silent() {
    let (dir, pid, mut source) = fake_setup("busy");
    let hook = fake_hook_serving(&dir, pid, Duration::from_millis(300), 2);
    assert!(source.request(Waker::noop()).is_pending());
    std::thread::sleep(Duration::from_millis(50));
    // The first request is abandoned while the process is still answering it.
    assert!(matches!(source.poll(true), Poll::Ready(Ok(_))));
    let asked = Instant::now();
    assert!(source.request(Waker::noop()).is_pending());
    let blocks = poll_until_ready(&mut source, Duration::from_secs(4));
    let blocks = blocks.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(blocks.as_slice(), [Detail::Traced { pid: None, .. }]),
        "{blocks:?}"
    );
    // It waited for the first answer (about 250 ms more), then for its own (300 ms).
    assert!(
        asked.elapsed() >= Duration::from_millis(450),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(
        hook.join().ok(),
        Some(vec!["snapshot 1\n".to_owned(), "snapshot 1\n".to_owned()])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A process that never answers (stopped: the kernel still queues the connection) is silent
/// after the whole timeout, every time, never `(0s)` because an earlier query still hangs.
#[test]
fn a_hung_process_is_reported_silent_with_the_whole_timeout_every_time() {
    let (dir, pid, _) = fake_setup("hung");
    let timeout = Duration::from_millis(300);
    let mut source = PythonDetail::new(
        pid,
        "/proc",
        &dir,
        PythonOptions {
            children: false,
            timeout,
            smaps: WithSmaps::Never,
        },
    );
    // Bound and never accepting: connections queue, requests are never read.
    let listener = std::os::unix::net::UnixListener::bind(dir.join(format!("{pid}.sock")))
        .unwrap_or_else(|e| panic!("bind: {e}"));
    for _ in 0..3 {
        let asked = Instant::now();
        assert!(source.request(Waker::noop()).is_pending());
        let blocks = poll_until_ready(&mut source, Duration::from_secs(3));
        let blocks = blocks.unwrap_or_else(|e| panic!("{e}"));
        let [Detail::NoAnswer {
            pid: silent,
            waited,
        }] = blocks.as_slice()
        else {
            panic!("{blocks:?}");
        };
        assert_eq!(*silent, pid);
        assert_eq!(*waited, timeout);
        assert!(asked.elapsed() >= timeout);
    }
    drop(listener);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The hook of this version answers the probes: `trim`'s and `types`' replies become the core's
/// types, and the snapshot's `own` is the source's traced overhead.
#[test]
fn the_probes_answers_become_the_cores_replies() {
    let (dir, pid, mut source) = fake_setup("probes");
    assert_eq!(source.traced_overhead(), None);
    let hook = fake_hook_serving(&dir, pid, Duration::ZERO, 2);
    assert_eq!(
        source.trim(),
        Some(vec![TrimReply {
            pid,
            called: Some(true)
        }])
    );
    assert_eq!(
        source.growing_types(),
        Some(vec![TypesReply {
            pid,
            types: vec![
                TypeGrowth {
                    name: "__main__.Card".into(),
                    count: 10,
                    bytes: 560
                },
                TypeGrowth {
                    name: "list".into(),
                    count: 1,
                    bytes: 88
                },
            ],
            complete: true,
        }])
    );
    assert_eq!(
        hook.join().ok(),
        Some(vec!["trim 1\n".to_owned(), "types 1\n".to_owned()])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A hook older than the probes answers `unknown request`: the probe is "not supported" (`None`
/// when no process supports it), never an error, and the hook is asked again next time.
#[test]
fn a_hook_that_does_not_know_a_probe_is_not_supported_not_an_error() {
    let (dir, pid, mut source) = fake_setup("old");
    use std::io::Write;
    let listener = std::os::unix::net::UnixListener::bind(dir.join(format!("{pid}.sock")))
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let hook = std::thread::spawn(move || {
        for _ in 0..2 {
            let Ok((mut stream, _)) = listener.accept() else {
                break;
            };
            let mut line = String::new();
            let _ = io::BufRead::read_line(&mut io::BufReader::new(&stream), &mut line);
            let verb = line.split(' ').next().unwrap_or_default().to_owned();
            let reply =
                format!("{{\"error\":\"unknown request '{verb}'\",\"v\":1,\"pid\":{pid}}}\n");
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    let asked = Instant::now();
    assert_eq!(source.trim(), None);
    assert_eq!(source.growing_types(), None);
    assert!(asked.elapsed() < Duration::from_secs(4));
    let _ = hook.join();
    let _ = std::fs::remove_dir_all(&dir);
}

/// With no hooked process, the probes ask nobody and say so: nothing, at once.
#[test]
fn probes_without_sockets_answer_nothing_at_once() {
    let (dir, _, mut source) = fake_setup("noprobe");
    let asked = Instant::now();
    assert_eq!(source.trim(), Some(vec![]));
    assert_eq!(source.growing_types(), Some(vec![]));
    assert!(asked.elapsed() < Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The snapshot's `own` is summed into the overhead; a snapshot without it (an older hook)
/// gives `None`.
#[test]
fn the_traced_overhead_is_the_last_snapshots_own() {
    use std::io::Write;
    let (dir, pid, mut source) = fake_setup("own");
    let listener = std::os::unix::net::UnixListener::bind(dir.join(format!("{pid}.sock")))
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let hook = std::thread::spawn(move || {
        for own in [",\"own\":123456", ""] {
            let Ok((mut stream, _)) = listener.accept() else {
                break;
            };
            let mut line = String::new();
            let _ = io::BufRead::read_line(&mut io::BufReader::new(&stream), &mut line);
            let reply =
                format!("{{\"current\":1,\"peak\":2,\"sites\":[]{own},\"v\":1,\"pid\":{pid}}}\n");
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    assert!(matches!(source.detail(), Ok(ref b) if b.len() == 1));
    assert_eq!(source.traced_overhead(), Some(123_456));
    assert!(matches!(source.detail(), Ok(ref b) if b.len() == 1));
    assert_eq!(source.traced_overhead(), None);
    let _ = hook.join();
    let _ = std::fs::remove_dir_all(&dir);
}
