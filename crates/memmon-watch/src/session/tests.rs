//! Session tests with scripted samplers and detail sources: exact lines in a real log file.

use super::*;
use crate::sink::SinkOptions;
use memmon_core::{Detail, Reading, Site, MIB};
use memmon_format::{parse_line, Record};
use memmon_sampler::{MockDetail, MockSampler};
use std::time::{Duration, Instant};

pub(super) fn reading(rss_mib: u64) -> Reading {
    Reading {
        rss: rss_mib * MIB,
        vms: 4 * rss_mib * MIB,
        sys_total: 1000 * MIB,
        sys_available: 600 * MIB,
    }
}

pub(super) fn traced() -> Detail {
    Detail::Traced {
        pid: None,
        current: 3 * MIB,
        peak: 4 * MIB,
        sites: vec![Site {
            location: "leak.rs:7".into(),
            size: 3 * MIB,
            count: 3,
        }],
    }
}

/// A session writing to a fresh log in its own directory.
pub(super) fn session(
    name: &str,
    sampler: MockSampler,
    detail: MockDetail,
) -> (std::path::PathBuf, std::path::PathBuf, Session) {
    let dir = std::env::temp_dir().join(format!("memmon-session-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("m.log");
    let _ = std::fs::remove_file(&log);
    let sink = LogSink::open(
        &log,
        SinkOptions {
            max_bytes: 1 << 30,
            keep: 1,
            sync: false,
        },
    )
    .unwrap();
    let session = Session::start(SessionParts {
        sampler: Box::new(sampler),
        detail: Some(Box::new(detail)),
        sink,
        settings: MonitorSettings::default(),
        interval: IntervalSpec::Integer(1),
        duration: None,
        startup_delay: std::time::Duration::ZERO,
        lang: crate::lang::Lang::Ja,
        pid: 1,
        proc_root: None,
        console: Console::plain(),
        metrics: None,
        waker: std::task::Waker::noop().clone(),
        diagnosis: DiagnosisOptions::default(),
        dormant: None,
    });
    (dir, log, session)
}

/// The log's lines from the first sample line on (the header's time varies).
pub(super) fn body(log: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap();
    text.lines()
        .skip_while(|l| !matches!(parse_line(l), Record::Sample(_)))
        .map(|l| {
            // The sample lines' timestamps and 経過 vary; their RSS part does not.
            if matches!(parse_line(l), Record::Sample(_)) {
                format!("SAMPLE {}", l.split(" | ").nth(1).unwrap_or(""))
            } else {
                l.to_string()
            }
        })
        .collect()
}

/// The sample lines are written at once; a slow source's block follows when it is ready,
/// even after later sample lines, and never interleaves with them.
#[test]
fn a_pending_block_is_written_when_ready_and_the_samples_do_not_wait() {
    let script: Vec<_> = (0..12).map(|i| Ok(reading(10 + i))).collect();
    let (dir, log, mut session) = session(
        "pending",
        MockSampler::new(script),
        MockDetail::deferred([Ok(vec![traced()])], Duration::from_secs(5)),
    );
    for _ in 0..10 {
        session.sample();
    }
    assert!(session.detail_deadline().is_some());
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(!written.contains("[tracemalloc]"), "{written}");
    session.sample();
    session.detail_ready();
    assert!(session.detail_deadline().is_none());
    session.sample();
    session.finish(None, Final::Gone);
    let lines = body(&log);
    let at = lines
        .iter()
        .position(|l| l.starts_with("  [tracemalloc]"))
        .unwrap();
    // Ten samples, the 11th taken while the block was pending, then the block, then the 12th.
    assert_eq!(at, 11, "{lines:#?}");
    assert_eq!(
        &lines[at..at + 5],
        [
            "  [tracemalloc] Current: 3.00MB, Peak: 4.00MB",
            "  [Top 10 メモリ消費箇所]",
            "    leak.rs:7: size=3072 KiB, count=3, average=1024 KiB",
            "",
            "SAMPLE RSS: 21.00MB (初期比: +11.00MB)",
        ],
        "{lines:#?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A block still pending when the run ends is waited for (within its timeout) and written
/// before the footer: the run's end does not make an answering process silent.
#[test]
fn a_block_pending_at_the_end_is_waited_for_and_written_before_the_footer() {
    let script: Vec<_> = (0..10).map(|i| Ok(reading(10 + i))).collect();
    let (dir, log, mut session) = session(
        "pending-end",
        MockSampler::new(script),
        MockDetail::deferred([Ok(vec![traced()])], Duration::from_secs(5)),
    );
    for _ in 0..10 {
        session.sample();
    }
    session.finish(None, Final::Gone);
    let lines = body(&log);
    assert_eq!(
        &lines[10..12],
        [
            "  [tracemalloc] Current: 3.00MB, Peak: 4.00MB",
            "  [Top 10 メモリ消費箇所]"
        ],
        "{lines:#?}"
    );
    let footer = lines
        .iter()
        .position(|l| l.starts_with("モニタリング終了: "));
    assert!(footer.is_some_and(|f| f > 13), "{lines:#?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Past the timeout the caller's poll gives up: the silent process costs one line.
#[test]
fn a_pending_block_past_its_timeout_gives_the_no_answer_line() {
    let script: Vec<_> = (0..11).map(|i| Ok(reading(10 + i))).collect();
    let (dir, log, mut session) = session(
        "pending-timeout",
        MockSampler::new(script),
        MockDetail::deferred([Ok(vec![traced()])], Duration::ZERO),
    );
    for _ in 0..10 {
        session.sample();
    }
    let deadline = session.detail_deadline().unwrap();
    assert!(deadline <= Instant::now());
    session.detail_ready();
    session.sample();
    session.finish(None, Final::Gone);
    let lines = body(&log);
    assert_eq!(
        &lines[10..13],
        [
            "  [tracemalloc] PID 0: 応答なし (0s)",
            "",
            "SAMPLE RSS: 20.00MB (初期比: +10.00MB)"
        ],
        "{lines:#?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn failed_samples_write_a_line_and_do_not_count_toward_detail() {
    let mut script: Vec<_> = (0..3).map(|i| Ok(reading(10 + i))).collect();
    script.push(Err(SampleError::Io {
        path: "/proc/1/statm".into(),
        message: "boom".into(),
    }));
    script.extend((3..12).map(|i| Ok(reading(10 + i))));
    let (dir, log, mut session) = session(
        "failed",
        MockSampler::new(script),
        MockDetail::new([Ok(vec![traced()])]),
    );
    for _ in 0..13 {
        session.sample();
    }
    session.finish(None, Final::Take);
    let text = std::fs::read_to_string(&log).unwrap();
    let recs: Vec<Record> = text.lines().map(parse_line).collect();
    assert_eq!(
        text.matches("⚠️ [memmon] サンプル取得失敗: /proc/1/statm: boom\n")
            .count(),
        1
    );
    // 13 attempts, 1 failure: the detail block follows the 10th counted sample (11th attempt).
    let samples: Vec<usize> = recs
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r, Record::Sample(_)))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(samples.len(), 12);
    let tenth = samples[9];
    assert!(
        matches!(recs[tenth + 1], Record::Tracemalloc { pid: None, .. }),
        "{text}"
    );
    assert_eq!(
        text.lines().nth(tenth + 3),
        Some("    leak.rs:7: size=3072 KiB, count=3, average=1024 KiB")
    );
    assert_eq!(
        recs.iter()
            .filter(|r| matches!(r, Record::Tracemalloc { .. }))
            .count(),
        1
    );
    // The footer's fresh sample is the mock's last reading, repeated.
    assert!(
        text.contains("最終メモリ: 21.00MB\nピークメモリ: 21.00MB\nメモリ増加量: 11.00MB\n"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A source that never completes, not even when told to give up.
struct Stuck;

impl DetailSource for Stuck {
    fn detail(&mut self) -> DetailResult {
        Ok(Vec::new())
    }

    fn request(&mut self, _waker: &std::task::Waker) -> Poll<DetailResult> {
        Poll::Pending
    }

    fn poll(&mut self, _give_up: bool) -> Poll<DetailResult> {
        Poll::Pending
    }
}

/// Giving up on such a source clears its deadline, so `memmon run`'s loop does not wake at
/// once forever, and sampling goes on.
#[test]
fn a_source_that_cannot_give_up_is_not_waited_for_again() {
    let script: Vec<_> = (0..11).map(|i| Ok(reading(10 + i))).collect();
    let (dir, log, mut session) = session("stuck", MockSampler::new(script), MockDetail::new([]));
    session.detail = Some(Box::new(Stuck));
    for _ in 0..10 {
        session.sample();
    }
    assert!(session.detail_deadline().is_some());
    session.detail_ready();
    assert_eq!(session.detail_deadline(), None);
    session.sample();
    session.finish(None, Final::Gone);
    let lines = body(&log);
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("SAMPLE ")).count(),
        11,
        "{lines:#?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A command that ends before the first sample (during the start-up delay) still leaves its
/// header, its exit line and a footer, with `-` for every figure nothing measured.
#[test]
fn a_run_without_any_sample_still_ends_with_a_footer() {
    let (dir, log, session) = session("nosample", MockSampler::new([]), MockDetail::new([]));
    session.finish(Some(ExitKind::Code(3)), Final::Gone);
    let text = std::fs::read_to_string(&log).unwrap();
    let tail: Vec<&str> = text.lines().skip(6).collect();
    assert_eq!(tail[0], "プロセス終了: 終了コード 3");
    assert_eq!(tail[1], "");
    assert!(tail[3].starts_with("モニタリング終了: "), "{text}");
    assert_eq!(
        tail[4..],
        [
            "実行時間: 0秒",
            "初期メモリ: -",
            "最終メモリ: -",
            "ピークメモリ: -",
            "メモリ増加量: -",
            "================================================================================",
        ],
        "{text}"
    );
    assert!(!text.contains("サンプル取得失敗"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Stopped (Ctrl-C) before the first sample, with the process still there: 最終メモリ and
/// ピークメモリ come from the fresh sample at stop, 初期メモリ and メモリ増加量 stay `-`.
#[test]
fn a_fresh_sample_at_stop_fills_last_and_peak_only() {
    let (dir, log, session) = session(
        "freshonly",
        MockSampler::new([Ok(reading(42))]),
        MockDetail::new([]),
    );
    session.finish(None, Final::Take);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.ends_with(
            "初期メモリ: -\n最終メモリ: 42.00MB\nピークメモリ: 42.00MB\nメモリ増加量: -\n\
             ================================================================================\n"
        ),
        "{text}"
    );
    assert!(!text.contains("直前のサンプル"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Counts how often it is told of the first sample, and when (by the detail requests before).
struct FirstSample(std::sync::Arc<std::sync::Mutex<Vec<&'static str>>>);

impl DetailSource for FirstSample {
    fn detail(&mut self) -> DetailResult {
        self.0.lock().unwrap().push("detail");
        Ok(Vec::new())
    }

    fn on_first_sample(&mut self) {
        self.0.lock().unwrap().push("first sample");
    }
}

/// The detail source hears of the first sample once (tracing starts there), before any
/// request, even when that first attempt fails.
#[test]
fn the_detail_source_is_told_of_the_first_sample_once() {
    let mut script: Vec<_> = vec![Err(SampleError::Io {
        path: "/proc/1/statm".into(),
        message: "boom".into(),
    })];
    script.extend((0..10).map(|i| Ok(reading(10 + i))));
    let (dir, _log, mut session) = session("first", MockSampler::new(script), MockDetail::new([]));
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    session.detail = Some(Box::new(FirstSample(std::sync::Arc::clone(&calls))));
    assert!(calls.lock().unwrap().is_empty());
    for _ in 0..11 {
        session.sample();
    }
    session.finish(None, Final::Gone);
    assert_eq!(*calls.lock().unwrap(), ["first sample", "detail"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
