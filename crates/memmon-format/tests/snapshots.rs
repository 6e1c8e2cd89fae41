//! Every line shape, written from memmon-core events of a scripted run, snapshotted.
//!
//! The snapshots are reviewed like code: each line was checked against `spec/log-format.md`.

use memmon_core::{
    Detail, IntervalSpec, Monitor, MonitorSettings, Reading, SampleError, Site, Stamp, MIB,
};
use memmon_format::{console, parse_line, write_records, ExitKind, LogFormat, Record};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// 2026-11-24 19:00:39 JST, the reference log's start.
const START: u64 = 1_795_514_439;
const PID: u32 = 4638;

fn jst() -> LogFormat {
    LogFormat::with_zone(jiff::tz::TimeZone::fixed(jiff::tz::offset(9)))
}

fn stamp(elapsed_ms: u64) -> Stamp {
    let elapsed = Duration::from_millis(elapsed_ms);
    Stamp {
        // The wall clock runs 250 ms ahead of the monotonic start: timestamps truncate.
        wall: SystemTime::UNIX_EPOCH + Duration::from_secs(START) + elapsed,
        elapsed,
    }
}

fn reading(i: u64) -> Reading {
    Reading {
        rss: 15 * MIB + i * 6 * MIB + i * 7919,
        vms: 90 * MIB + i * 6 * MIB + 745_000,
        sys_total: 24_000 * MIB,
        sys_available: 23_686 * MIB - i * 3 * MIB + 400_000,
    }
}

fn sites(n: u64) -> Vec<Site> {
    (0..n)
        .map(|i| Site {
            location: format!("/srv/app/worker.py:{}", 100 + i),
            size: (10 * MIB) >> (2 * i),
            count: if i == 10 { 0 } else { 11 + i },
        })
        .collect()
}

fn details() -> Vec<Detail> {
    vec![
        Detail::Traced {
            pid: None,
            current: 10 * MIB + 10_000,
            peak: 10 * MIB + 42_000,
            sites: {
                let mut s = sites(11);
                // A zero count (average left out) in the top 10.
                s[9].count = 0;
                s
            },
        },
        Detail::Smaps {
            anonymous: 55 * MIB + 123_456,
            swap: 0,
            threads: 4,
            fds: 17,
            sites: vec![
                Site {
                    location: "[heap]".to_owned(),
                    size: 52 * MIB,
                    count: 1,
                },
                Site {
                    location: "[anon]".to_owned(),
                    size: 2_051_000,
                    count: 12,
                },
                Site {
                    location: "/usr/lib/x86_64-linux-gnu/libc.so.6".to_owned(),
                    size: 1_531_904,
                    count: 5,
                },
            ],
        },
        Detail::Traced {
            pid: Some(4242),
            current: 3 * MIB,
            peak: 4 * MIB + 1,
            sites: sites(2),
        },
        Detail::NoAnswer {
            pid: 4243,
            waited: Duration::from_millis(5_000),
        },
    ]
}

/// Pushes a sample's records: the line, its warning, and the detail blocks when one is due.
fn sample(
    format: &LogFormat,
    monitor: &mut Monitor,
    records: &mut Vec<Record>,
    at_ms: u64,
    r: Reading,
) {
    let out = monitor.on_sample(stamp(at_ms), r);
    records.push(format.sample(&out.sample));
    if let Some(w) = &out.warning {
        records.push(format.warning(w));
    }
    if out.detail_due {
        for detail in details() {
            records.extend(format.detail(&detail));
        }
    }
}

/// The log of two scripted runs appended to one file.
///
/// Run 1: a start header, 11 samples crossing the 50 MiB threshold, a detail block of every
/// source on the 10th, an OOM kill, the log reopened (continuation header, lost samples), a
/// failed sample, the command killed by a signal, and a footer without a fresh sample.
/// Run 2: a decimal interval, truncated 経過, and a fresh footer whose run time rounds half to
/// even.
fn scripted_log() -> String {
    let format = jst();
    let mut monitor = Monitor::new(MonitorSettings::default());
    let mut records = format.header(stamp(0).wall, PID, IntervalSpec::Integer(5), false);
    for i in 0..11 {
        sample(
            &format,
            &mut monitor,
            &mut records,
            i * 5_000 + 250,
            reading(i),
        );
        if i == 10 {
            records.push(format.oom(1));
        }
    }
    records.extend(format.header(stamp(57_100).wall, PID, IntervalSpec::Integer(5), true));
    records.push(format.lost_samples(1, "No space left on device (os error 28)"));
    sample(&format, &mut monitor, &mut records, 60_250, reading(12));
    let failed = monitor.on_failure(stamp(65_250), SampleError::Exited { pid: PID });
    records.push(format.failed(&failed));
    records.push(format.process_exit(ExitKind::Signal {
        number: 9,
        name: "SIGKILL".to_owned(),
    }));
    records.extend(format.footer(&monitor.finish(stamp(65_500), None)));

    let mut monitor = Monitor::new(MonitorSettings::default());
    let restart = 80_000;
    records.extend(format.header(
        stamp(restart).wall,
        PID + 1,
        IntervalSpec::Decimal(2.5),
        false,
    ));
    for (i, rss) in [20 * MIB, 20 * MIB - 1, 21 * MIB].into_iter().enumerate() {
        let at = stamp(restart + 2_500 * i as u64);
        let out = monitor.on_sample(
            Stamp {
                wall: at.wall,
                elapsed: at.elapsed - Duration::from_millis(restart),
            },
            Reading { rss, ..reading(1) },
        );
        records.push(format.sample(&out.sample));
    }
    let end = stamp(restart + 6_500);
    let end = Stamp {
        wall: end.wall,
        elapsed: end.elapsed - Duration::from_millis(restart),
    };
    let summary = monitor.finish(
        end,
        Some(Reading {
            rss: 19 * MIB,
            ..reading(1)
        }),
    );
    records.extend(format.footer(&summary));
    let mut out = Vec::new();
    write_records(&mut out, &records).expect("a Vec takes any write");
    String::from_utf8(out).expect("records are UTF-8")
}

#[test]
fn scripted_run_log() {
    let log = scripted_log();
    insta::assert_snapshot!(log);
}

#[test]
fn scripted_run_log_reads_back() {
    let log = scripted_log();
    let mut again = String::new();
    for line in log.lines() {
        let record = parse_line(line);
        assert!(!matches!(record, Record::Other(_)), "unknown: {line}");
        again.push_str(&record.to_string());
        again.push('\n');
    }
    assert_eq!(again, log);
}

/// Two runs that end before their first sample line (the command exits during the start-up
/// delay): the first with no fresh sample possible (every memory figure `-`), the second with
/// one (最終メモリ and ピークメモリ from it, 初期メモリ and メモリ増加量 `-`).
fn footers_before_any_sample() -> String {
    let format = jst();
    let mut records = format.header(stamp(0).wall, PID, IntervalSpec::Integer(300), false);
    records.push(format.process_exit(ExitKind::Code(1)));
    let monitor = Monitor::new(MonitorSettings::default());
    records.extend(format.footer(&monitor.finish(stamp(2_400), None)));
    records.extend(format.header(
        stamp(10_000).wall,
        PID + 1,
        IntervalSpec::Integer(300),
        false,
    ));
    let monitor = Monitor::new(MonitorSettings::default());
    let end = Stamp {
        wall: stamp(41_000).wall,
        elapsed: Duration::from_millis(31_000),
    };
    records.extend(format.footer(&monitor.finish(end, Some(reading(0)))));
    let mut out = Vec::new();
    write_records(&mut out, &records).expect("a Vec takes any write");
    String::from_utf8(out).expect("records are UTF-8")
}

#[test]
fn footer_without_sample_lines() {
    let log = footers_before_any_sample();
    insta::assert_snapshot!(log);
    // Every line reads back as itself, the `-` figures as `None`.
    let mut again = String::new();
    let mut none = 0;
    for line in log.lines() {
        let record = parse_line(line);
        assert!(!matches!(record, Record::Other(_)), "unknown: {line}");
        if matches!(
            record,
            Record::Initial { mb: None }
                | Record::Final { mb: None }
                | Record::Peak { mb: None }
                | Record::Increase { mb: None }
        ) {
            none += 1;
        }
        again.push_str(&record.to_string());
        again.push('\n');
    }
    assert_eq!(again, log);
    assert_eq!(none, 4 + 2);
}

#[test]
fn console_lines() {
    let format = jst();
    let mut monitor = Monitor::new(MonitorSettings::default());
    monitor.on_sample(stamp(0), reading(0));
    let out = monitor.on_sample(stamp(45_000), reading(9));
    let sample = format.sample(&out.sample);
    let warning = out.warning.map(|w| format.warning(&w)).unwrap();
    let path = Path::new("/home/pi/app/memory_usage.log");
    let lines = [
        console::test_start(),
        console::tracemalloc_enabled(),
        console::log_file(path),
        console::start(IntervalSpec::Integer(5)),
        console::test_iteration(0, 1),
        console::sample(&sample),
        console::warning(&warning),
        console::error(SampleError::Exited { pid: PID }),
        console::test_iteration(50, 51),
        console::test_interrupted(),
        console::stop(path),
        console::test_done(),
    ];
    insta::assert_snapshot!(lines.join("\n"));
}

#[test]
fn process_exit_lines() {
    let format = jst();
    let lines = [
        format.process_exit(ExitKind::Code(0)),
        format.process_exit(ExitKind::Code(1)),
        format.process_exit(ExitKind::Signal {
            number: 15,
            name: "SIGTERM".to_owned(),
        }),
    ];
    let text: Vec<String> = lines.iter().map(ToString::to_string).collect();
    insta::assert_snapshot!(text.join("\n"), @r"
    プロセス終了: 終了コード 0
    プロセス終了: 終了コード 1
    プロセス終了: シグナル 15 (SIGTERM)
    ");
}

#[test]
fn unmonitored_run() {
    // A run memmon could not monitor: its header, then the one line that says why.
    let format = jst();
    let mut records = format.header(stamp(0).wall, PID, IntervalSpec::Integer(300), false);
    records
        .push(format.unmonitored(
            "client_config.json:4:5: invalid JSON: trailing comma at line 4 column 5",
        ));
    let text: Vec<String> = records.iter().map(ToString::to_string).collect();
    insta::assert_snapshot!(text.join("\n"));
}

/// The breakdown line (issue #19 item 1): a typical tree, an empty one, a large one with swap.
#[test]
fn breakdown_lines() {
    use memmon_core::{Breakdown, FdCounts};
    let format = jst();
    let lines: Vec<String> = [
        Breakdown {
            anon: 30 * MIB + 125_830,
            file: 8 * MIB + 419_431,
            shmem: MIB + 209_716,
            swap: 0,
            threads: 4,
            fds: FdCounts {
                sockets: 3,
                files: 5,
                pipes: 2,
                other: 4,
            },
        },
        Breakdown::default(),
        Breakdown {
            anon: 1_843 * MIB + 7,
            file: 96 * MIB + 5_000,
            shmem: 0,
            swap: 512 * MIB + 5_243,
            threads: 131,
            fds: FdCounts {
                sockets: 1_024,
                files: 77,
                pipes: 0,
                other: 12,
            },
        },
    ]
    .iter()
    .map(|b| {
        let line = format.breakdown(b).to_string();
        assert_eq!(parse_line(&line).to_string(), line);
        line
    })
    .collect();
    insta::assert_snapshot!(lines.join("\n"));
}

/// Issue #19's diagnosis lines: each escalation action, Python's share (growing, shrinking),
/// each trim outcome, and types lines (several, none, cut short).
#[test]
fn diagnosis_lines() {
    use memmon_core::{TypeGrowth, TypesReply};
    use memmon_format::{Investigation, TrimOutcome};
    let format = jst();
    let mut records = Vec::new();
    for action in [
        Investigation::Started,
        Investigation::AlreadyTracing,
        Investigation::NoHookPid,
        Investigation::HookOff,
        Investigation::NotAsked,
    ] {
        records.push(format.escalation(2330.0, 1500.4, 8.2 * MIB as f64, action));
    }
    records.push(format.native(6 * MIB as i64, 104_858, 600.0));
    records.push(format.native(-(MIB as i64), 3 * MIB as i64, 0.4));
    records.push(format.trim(120 * MIB + 524_288, 80 * MIB, TrimOutcome::Returned));
    records.push(format.trim(64 * MIB, 64 * MIB - 4_096, TrimOutcome::Unchanged));
    records.push(format.trim(64 * MIB, 64 * MIB, TrimOutcome::Unavailable));
    let reply = |types: Vec<TypeGrowth>, complete| TypesReply {
        pid: 4242,
        types,
        complete,
    };
    let grew = |name: &str, count, bytes| TypeGrowth {
        name: name.to_owned(),
        count,
        bytes,
    };
    records.push(format.types(&reply(
        vec![
            grew("__main__.Card", 1200, 115_200),
            grew("dict", 1200, 220_000),
            grew("weird, name\twith spaces", 3, -64),
        ],
        true,
    )));
    records.push(format.types(&reply(vec![], true)));
    records.push(format.types(&reply(vec![grew("list", -2, -112)], false)));
    let lines: Vec<String> = records
        .iter()
        .map(|r| {
            let line = r.to_string();
            assert_eq!(parse_line(&line).to_string(), line);
            assert!(!matches!(parse_line(&line), Record::Other(_)), "{line}");
            line
        })
        .collect();
    insta::assert_snapshot!(lines.join("\n"));
}
