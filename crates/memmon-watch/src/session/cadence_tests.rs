//! A detail cadence faster than the answers (issue 17 item 14): blocks due while a request is in
//! flight are skipped and counted, never written `応答なし` for a process that answers; one that
//! stays silent past the timeout still is.

use super::tests::{body, reading, session, traced};
use super::*;
use memmon_core::Detail;
use memmon_sampler::{MockDetail, MockSampler, PythonDetail, PythonOptions};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A source whose request stays pending until the test opens the gate, or its timeout passes
/// (then one `NoAnswer` for PID 7 with the time waited), like a Python process answering late.
struct Gated {
    open: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    timeout: Duration,
    pending: Option<Instant>,
}

impl Gated {
    fn new(timeout: Duration) -> (Self, Arc<AtomicBool>, Arc<AtomicUsize>) {
        let open = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let source = Gated {
            open: Arc::clone(&open),
            requests: Arc::clone(&requests),
            timeout,
            pending: None,
        };
        (source, open, requests)
    }
}

impl DetailSource for Gated {
    fn detail(&mut self) -> DetailResult {
        Ok(vec![traced()])
    }

    fn request(&mut self, _waker: &Waker) -> Poll<DetailResult> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.pending = Some(Instant::now());
        Poll::Pending
    }

    fn poll(&mut self, give_up: bool) -> Poll<DetailResult> {
        let Some(sent) = self.pending else {
            return Poll::Ready(Ok(Vec::new()));
        };
        if self.open.load(Ordering::SeqCst) {
            self.pending = None;
            return Poll::Ready(Ok(vec![traced()]));
        }
        if give_up || sent.elapsed() >= self.timeout {
            self.pending = None;
            return Poll::Ready(Ok(vec![Detail::NoAnswer {
                pid: 7,
                waited: sent.elapsed().min(self.timeout),
            }]));
        }
        Poll::Pending
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }
}

fn count(lines: &[String], prefix: &str) -> usize {
    lines.iter().filter(|l| l.starts_with(prefix)).count()
}

/// Blocks due at the 20th and 30th samples, while the 10th's request is still answered, are
/// neither sent nor written silent: they are counted, and the answer is the block.
#[test]
fn blocks_due_while_a_request_is_in_flight_are_skipped_and_counted() {
    let script: Vec<_> = (0..45).map(|i| Ok(reading(10 + i))).collect();
    let (dir, log, mut session) = session("skip", MockSampler::new(script), MockDetail::new([]));
    let (gated, open, requests) = Gated::new(Duration::from_secs(60));
    session.detail = Some(Box::new(gated));
    for _ in 0..35 {
        session.sample();
        session.detail_ready();
    }
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    assert_eq!(session.details_skipped, 2);
    open.store(true, Ordering::SeqCst);
    session.detail_ready();
    assert!(session.detail_deadline().is_none());
    for _ in 35..45 {
        session.sample();
        session.detail_ready();
    }
    // The 40th sample asks again: the earlier request is over.
    assert_eq!(requests.load(Ordering::SeqCst), 2);
    session.finish(None, Final::Gone);
    let lines = body(&log);
    assert_eq!(count(&lines, "  [tracemalloc] Current: "), 2, "{lines:#?}");
    assert!(!lines.iter().any(|l| l.contains("応答なし")), "{lines:#?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A process that stays silent for the whole timeout is still written `応答なし` with the time
/// waited, at the timeout, not when the next block falls due.
#[test]
fn a_process_silent_past_the_timeout_is_still_written_with_the_time_waited() {
    let script: Vec<_> = (0..30).map(|i| Ok(reading(10 + i))).collect();
    let (dir, log, mut session) = session("silent", MockSampler::new(script), MockDetail::new([]));
    let (gated, _open, requests) = Gated::new(Duration::from_millis(600));
    session.detail = Some(Box::new(gated));
    for _ in 0..25 {
        session.sample();
        session.detail_ready();
    }
    assert_eq!(session.details_skipped, 1);
    let deadline = session.detail_deadline().unwrap();
    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
    session.detail_ready();
    assert!(session.detail_deadline().is_none());
    for _ in 25..29 {
        session.sample();
        session.detail_ready();
    }
    assert_eq!(requests.load(Ordering::SeqCst), 1);
    session.finish(None, Final::Gone);
    let lines = body(&log);
    let silent: Vec<&String> = lines.iter().filter(|l| l.contains("応答なし")).collect();
    assert_eq!(
        silent,
        ["  [tracemalloc] PID 7: 応答なし (1s)"],
        "{lines:#?}"
    );
    // Written after the 25th sample line, when the timeout passed.
    let at = lines.iter().position(|l| l.contains("応答なし")).unwrap();
    assert_eq!(count(&lines[..at], "SAMPLE "), 25, "{lines:#?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The run's end waits for a request in flight until its timeout, no longer: a silent process
/// is written silent then, and the footer follows.
#[test]
fn the_end_of_the_run_waits_for_a_silent_process_until_its_timeout_only() {
    let script: Vec<_> = (0..10).map(|i| Ok(reading(10 + i))).collect();
    let (dir, log, mut session) = session("end", MockSampler::new(script), MockDetail::new([]));
    let (gated, _open, _requests) = Gated::new(Duration::from_millis(300));
    session.detail = Some(Box::new(gated));
    for _ in 0..10 {
        session.sample();
    }
    let asked = Instant::now();
    session.finish(None, Final::Gone);
    let waited = asked.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    let lines = body(&log);
    assert_eq!(
        count(&lines, "  [tracemalloc] PID 7: 応答なし (0s)"),
        1,
        "{lines:#?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A hook stand-in on `<dir>/<pid>.sock` serving requests one at a time, as the real hook
/// does, each answered `delay` after it was read, until `stop` is set.
fn slow_hook(
    dir: &std::path::Path,
    pid: u32,
    delay: Duration,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    use std::io::{BufRead, Write};
    let listener = std::os::unix::net::UnixListener::bind(dir.join(format!("{pid}.sock"))).unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let mut served = 0;
        while !stop.load(Ordering::SeqCst) {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            };
            let _ = stream.set_nonblocking(false);
            let mut line = String::new();
            let _ = std::io::BufReader::new(&stream).read_line(&mut line);
            std::thread::sleep(delay);
            let reply = if line.starts_with("start ") {
                format!("{{\"tracing\":true,\"v\":1,\"pid\":{pid}}}\n")
            } else {
                format!(
                    "{{\"current\":3145728,\"peak\":4194304,\"sites\":[[\"/app/c.py:7\",2097152,2]],\"v\":1,\"pid\":{pid}}}\n"
                )
            };
            let _ = (&stream).write_all(reply.as_bytes());
            served += 1;
        }
        served
    })
}

/// The case with memmon's real Python source over a real socket: a block due every
/// 100 ms (10 ms interval), each answer taking 150 ms. Every block written is a complete
/// answer, none is `応答なし`, and every due block is either written or counted as skipped.
#[test]
fn a_slow_answering_hook_at_a_fast_cadence_is_never_written_silent() {
    let (dir, log, mut session) = session(
        "python",
        MockSampler::new((0..150).map(|i| Ok(reading(10 + i / 10)))),
        MockDetail::new([]),
    );
    let hook_dir = dir.join("hook");
    std::fs::create_dir_all(&hook_dir).unwrap();
    let pid = std::process::id();
    let stop = Arc::new(AtomicBool::new(false));
    let hook = slow_hook(
        &hook_dir,
        pid,
        Duration::from_millis(150),
        Arc::clone(&stop),
    );
    session.detail = Some(Box::new(PythonDetail::new(
        pid,
        "/proc",
        &hook_dir,
        PythonOptions {
            children: false,
            timeout: Duration::from_secs(5),
            smaps: memmon_sampler::WithSmaps::Never,
        },
    )));
    for _ in 0..150 {
        session.sample();
        // What the run loop does when the source wakes it.
        session.detail_ready();
        std::thread::sleep(Duration::from_millis(10));
    }
    let skipped = session.details_skipped;
    session.finish(None, Final::Gone);
    stop.store(true, Ordering::SeqCst);
    let served = hook.join().unwrap();
    let lines = body(&log);
    assert!(!lines.iter().any(|l| l.contains("応答なし")), "{lines:#?}");
    let blocks: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("  [tracemalloc] Current: "))
        .map(|(i, _)| i)
        .collect();
    assert!(blocks.len() >= 3, "{lines:#?}");
    assert!(skipped >= 3, "{skipped} skipped");
    assert_eq!(blocks.len() as u64 + skipped, 15, "{lines:#?}");
    // One `start` and one snapshot per block written.
    assert_eq!(served, 1 + blocks.len());
    for at in blocks {
        assert_eq!(
            lines[at..at + 4],
            [
                "  [tracemalloc] Current: 3.00MB, Peak: 4.00MB",
                "  [Top 10 メモリ消費箇所]",
                "    /app/c.py:7: size=2048 KiB, count=2, average=1024 KiB",
                "",
            ],
            "{lines:#?}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
