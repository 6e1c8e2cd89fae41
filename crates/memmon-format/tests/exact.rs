//! Exact strings for the numbers where Python's layout is easy to get wrong.

use memmon_core::{
    Bytes, IntervalSpec, Monitor, MonitorSettings, Reading, Stamp, Summary, WarningEvent, MIB,
};
use memmon_format::{console, parse_line, LogFormat, Record, Size};
use std::time::{Duration, SystemTime};

fn jst() -> LogFormat {
    LogFormat::with_zone(jiff::tz::TimeZone::fixed(jiff::tz::offset(9)))
}

fn stamp(elapsed: Duration) -> Stamp {
    Stamp {
        wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000) + elapsed,
        elapsed,
    }
}

fn reading(rss: u64) -> Reading {
    Reading {
        rss,
        vms: 3 * rss,
        sys_total: 4096 * MIB,
        sys_available: 1024 * MIB,
    }
}

/// The sample lines (and warnings) of a monitor fed these RSS values, 5 s apart.
fn run(rss: &[u64]) -> Vec<String> {
    let format = jst();
    let mut monitor = Monitor::new(MonitorSettings::default());
    let mut lines = Vec::new();
    for (i, &r) in rss.iter().enumerate() {
        let out = monitor.on_sample(stamp(Duration::from_secs(5 * i as u64)), reading(r));
        lines.push(format.sample(&out.sample).to_string());
        if let Some(w) = out.warning {
            lines.push(format.warning(&w).to_string());
        }
    }
    lines
}

#[test]
fn growth_of_50_004_prints_50_00_and_still_warns() {
    let base = 10 * MIB;
    let growth = (50.004 * MIB as f64) as u64;
    let lines = run(&[base, base + growth]);
    assert!(lines[1].contains("(初期比: +50.00MB)"), "{}", lines[1]);
    assert_eq!(
        lines[2],
        "⚠️ [警告] メモリが初期値から 50.00MB 増加しています"
    );
}

#[test]
fn growth_signs() {
    let lines = run(&[10 * MIB, 10 * MIB - 1, 10 * MIB]);
    assert!(lines[0].contains("(初期比: +0.00MB)"), "{}", lines[0]);
    assert!(lines[1].contains("(初期比: -0.00MB)"), "{}", lines[1]);
    assert!(lines[2].contains("(初期比: +0.00MB)"), "{}", lines[2]);
    let warning = jst().warning(&WarningEvent {
        growth: Bytes(52 * MIB as i64 + 356_516),
    });
    assert_eq!(
        warning.to_string(),
        "⚠️ [警告] メモリが初期値から 52.34MB 増加しています"
    );
}

#[test]
fn whole_sample_line() {
    let format = jst();
    let mut monitor = Monitor::new(MonitorSettings::default());
    let out = monitor.on_sample(
        stamp(Duration::from_millis(300_999)),
        Reading {
            rss: 47_428_240,
            vms: 129_446_707,
            sys_total: 4096 * MIB,
            sys_available: 512 * MIB + 600_000,
        },
    );
    assert_eq!(
        format.sample(&out.sample).to_string(),
        "[2026-11-18 20:11:40] 経過: 00:05:00 | RSS: 45.23MB (初期比: +0.00MB) | VMS: 123.45MB | ピーク: 45.23MB | システム: 87.5% (513MB空き)"
    );
}

#[test]
fn elapsed_hours_do_not_wrap() {
    let format = jst();
    let mut monitor = Monitor::new(MonitorSettings::default());
    let out = monitor.on_sample(stamp(Duration::from_secs(100 * 3600)), reading(MIB));
    let line = format.sample(&out.sample).to_string();
    assert!(line.contains("経過: 100:00:00 |"), "{line}");
    let out = monitor.on_sample(stamp(Duration::from_millis(3_599_999)), reading(MIB));
    let line = format.sample(&out.sample).to_string();
    assert!(line.contains("経過: 00:59:59 |"), "{line}");
}

fn footer_runtime(elapsed: Duration) -> String {
    let summary = Summary {
        at: stamp(elapsed),
        initial: Some(15 * MIB),
        last: Some(14 * MIB),
        peak: Some(15 * MIB),
        growth: Some(Bytes(-(MIB as i64))),
        fresh: true,
    };
    let records = jst().footer(&summary);
    let runtime = records.iter().find(|r| matches!(r, Record::Runtime { .. }));
    runtime.map(ToString::to_string).unwrap_or_default()
}

#[test]
fn runtime_rounds_half_to_even() {
    assert_eq!(footer_runtime(Duration::from_millis(2500)), "実行時間: 2秒");
    assert_eq!(footer_runtime(Duration::from_millis(3500)), "実行時間: 4秒");
    assert_eq!(footer_runtime(Duration::from_millis(3499)), "実行時間: 3秒");
    assert_eq!(footer_runtime(Duration::from_secs(300)), "実行時間: 300秒");
}

#[test]
fn decrease_prints_minus_without_plus_for_increase() {
    let summary = Summary {
        at: stamp(Duration::from_secs(1)),
        initial: Some(15 * MIB),
        last: Some(15 * MIB - 1),
        peak: Some(15 * MIB),
        growth: Some(Bytes(-1)),
        fresh: true,
    };
    let text: Vec<String> = jst()
        .footer(&summary)
        .iter()
        .map(|r| r.to_string())
        .collect();
    assert!(
        text.contains(&"メモリ増加量: -0.00MB".to_owned()),
        "{text:?}"
    );
    assert!(text.contains(&"最終メモリ: 15.00MB".to_owned()), "{text:?}");
    assert_eq!(
        Record::Increase { mb: Some(52.32) }.to_string(),
        "メモリ増加量: 52.32MB"
    );
    assert_eq!(
        Record::Increase { mb: Some(-1.23) }.to_string(),
        "メモリ増加量: -1.23MB"
    );
}

#[test]
fn sizes_as_tracemalloc_prints_them() {
    let cases: [(f64, &str); 18] = [
        (10_490_760.0, "10.0 MiB"),
        (2051.0, "2051 B"),
        (953_344.0, "931 KiB"),
        (1_031_168.0, "1007 KiB"),
        (2051.0 / 25.0, "82 B"),
        (102_297.6, "99.9 KiB"),
        (102_359.04, "100.0 KiB"),
        (102_348.8, "100.0 KiB"),
        (102_338.56, "99.9 KiB"),
        (102_400.0, "100 KiB"),
        (10_239.0, "10239 B"),
        (10_240.0, "10.0 KiB"),
        (10_485_759.0, "10240 KiB"),
        (1e6 * 1024f64.powi(4), "1000000 TiB"),
        (100.0 * 1024f64.powi(4), "100 TiB"),
        (10.0 * 1024f64.powi(4) - 1.0, "10240 GiB"),
        (-2051.0, "-2051 B"),
        (0.0, "0 B"),
    ];
    for (bytes, want) in cases {
        assert_eq!(Size::from_bytes(bytes).to_string(), want, "{bytes}");
    }
}

#[test]
fn site_lines() {
    let site = memmon_format::SiteLine::new("<string>:1", 272, 3);
    assert_eq!(
        Record::Site(site).to_string(),
        "    <string>:1: size=272 B, count=3, average=91 B"
    );
    let empty = memmon_format::SiteLine::new("[heap]", 0, 0);
    assert_eq!(
        Record::Site(empty).to_string(),
        "    [heap]: size=0 B, count=0"
    );
}

#[test]
fn interval_texts() {
    let text = |spec| Record::Interval(memmon_format::IntervalText::from_spec(spec)).to_string();
    assert_eq!(text(IntervalSpec::Integer(300)), "モニタリング間隔: 300秒");
    assert_eq!(
        text(IntervalSpec::Decimal(300.0)),
        "モニタリング間隔: 300.0秒"
    );
    assert_eq!(text(IntervalSpec::Decimal(0.2)), "モニタリング間隔: 0.2秒");
    assert_eq!(
        text(IntervalSpec::Decimal(1e-5)),
        "モニタリング間隔: 1e-05秒"
    );
    assert_eq!(
        text(IntervalSpec::Decimal(1e16)),
        "モニタリング間隔: 1e+16秒"
    );
    assert_eq!(
        console::start(IntervalSpec::Decimal(0.2)),
        "[MemoryMonitor] モニタリング開始 (間隔: 0.2秒)"
    );
}

#[test]
fn timestamps_truncate_sub_seconds_and_follow_the_zone() {
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_000_000_999);
    assert_eq!(jst().local_time(at).to_string(), "2026-11-18T20:06:40");
    let utc = LogFormat::with_zone(jiff::tz::TimeZone::UTC);
    assert_eq!(utc.local_time(at).to_string(), "2026-11-18T11:06:40");
    let before_epoch = SystemTime::UNIX_EPOCH - Duration::from_millis(1);
    assert_eq!(
        utc.local_time(before_epoch).to_string(),
        "1969-12-31T23:59:59"
    );
}

#[test]
fn one_line_even_with_line_breaks_in_free_text() {
    let record = Record::SampleFailed {
        reason: "a\nb".to_owned(),
    };
    assert_eq!(record.to_string(), "⚠️ [memmon] サンプル取得失敗: a b");
}

#[test]
fn the_unmonitored_line_reads_back_and_stays_one_line() {
    let line = "⚠️ [memmon] 監視なしで実行します: client_config.json:3:18: invalid JSON";
    let record = parse_line(line);
    assert_eq!(
        record,
        Record::Unmonitored {
            reason: "client_config.json:3:18: invalid JSON".to_owned()
        }
    );
    assert_eq!(record.to_string(), line);
    let two_lines = Record::Unmonitored {
        reason: "a\nb".to_owned(),
    };
    assert_eq!(
        two_lines.to_string(),
        "⚠️ [memmon] 監視なしで実行します: a b"
    );
}

/// Bytes that print as `mb` with two decimals (`mb` MiB, rounded to the byte).
fn mib_bytes(mb: f64) -> u64 {
    (mb * MIB as f64).round() as u64
}

/// The breakdown of issue #19's example line.
fn example_breakdown() -> memmon_core::Breakdown {
    memmon_core::Breakdown {
        anon: mib_bytes(30.12),
        file: mib_bytes(8.40),
        shmem: mib_bytes(1.20),
        swap: 0,
        threads: 4,
        fds: memmon_core::FdCounts {
            sockets: 3,
            files: 5,
            pipes: 2,
            other: 4,
        },
    }
}

const EXAMPLE_BREAKDOWN: &str = "  [内訳] 匿名: 30.12MB, ファイル: 8.40MB, 共有: 1.20MB, スワップ: 0.00MB, スレッド: 4, FD: ソケット 3, ファイル 5, パイプ 2, その他 4";

#[test]
fn breakdown_line_exact_and_read_back() {
    let record = jst().breakdown(&example_breakdown());
    let line = record.to_string();
    assert_eq!(line, EXAMPLE_BREAKDOWN);
    let back = parse_line(&line);
    assert_eq!(back.to_string(), line);
    let Record::Breakdown(b) = back else {
        panic!("not a breakdown: {back:?}");
    };
    assert_eq!(
        (b.anon_mb, b.file_mb, b.shmem_mb, b.swap_mb),
        (30.12, 8.4, 1.2, 0.0)
    );
    assert_eq!(b.threads, 4);
    assert_eq!(b.fds, example_breakdown().fds);
    // Laid out through `put` (the log writer's path) the same as through `Display`.
    let mut buf = Vec::new();
    memmon_format::append_records(&mut buf, &[record]);
    assert_eq!(buf, format!("{EXAMPLE_BREAKDOWN}\n").into_bytes());
}

/// Issue #19's constraint: a new line never carries the words the guide's grep recipes and
/// spreadsheet steps look for, whatever its numbers.
#[test]
fn breakdown_line_has_none_of_the_forbidden_words() {
    let format = jst();
    let big = memmon_core::Breakdown {
        anon: u64::MAX,
        file: u64::MAX,
        shmem: u64::MAX,
        swap: u64::MAX,
        threads: u64::MAX,
        fds: memmon_core::FdCounts {
            sockets: u64::MAX,
            files: u64::MAX,
            pipes: u64::MAX,
            other: u64::MAX,
        },
    };
    for b in [memmon_core::Breakdown::default(), example_breakdown(), big] {
        let line = format.breakdown(&b).to_string();
        assert!(line.starts_with("  ") && !line.starts_with("   "), "{line}");
        for word in ["初期比", "警告", "ピーク", "RSS:", "VMS:", "経過:"] {
            assert!(!line.contains(word), "{word} in {line}");
        }
        assert!(matches!(parse_line(&line), Record::Breakdown(_)), "{line}");
    }
}

/// The guide's recipes (`grep "初期比" | tail -20`, `grep "警告"`, `grep "ピーク" | tail -1`) and
/// its spreadsheet step (the lines holding `RSS:` / `VMS:`) find exactly what they found before
/// when breakdown lines are added after every 10th sample. The patterns hold no regex
/// metacharacter, so `grep PATTERN` is a substring test.
#[test]
fn guide_recipes_find_the_same_lines_with_breakdown_lines() {
    let format = jst();
    let mut monitor = Monitor::new(MonitorSettings::default());
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for i in 0..35u64 {
        let out = monitor.on_sample(
            stamp(Duration::from_secs(5 * i)),
            reading(10 * MIB + i * 3 * MIB),
        );
        let mut lines = vec![format.sample(&out.sample).to_string()];
        if let Some(w) = &out.warning {
            lines.push(format.warning(w).to_string());
        }
        without.extend(lines.iter().cloned());
        with.extend(lines);
        if out.detail_due {
            let b = memmon_core::Breakdown {
                anon: i * 3 * MIB,
                ..example_breakdown()
            };
            with.push(format.breakdown(&b).to_string());
        }
    }
    assert!(with.len() == without.len() + 3, "three breakdown lines");
    let footer = monitor.finish(stamp(Duration::from_secs(200)), monitor.last_reading());
    for lines in [&mut without, &mut with] {
        lines.extend(format.footer(&footer).iter().map(|r| r.to_string()));
    }
    let grep = |lines: &[String], word: &str| -> Vec<String> {
        lines.iter().filter(|l| l.contains(word)).cloned().collect()
    };
    let tail = |mut v: Vec<String>, n: usize| v.split_off(v.len().saturating_sub(n));
    assert_eq!(
        tail(grep(&with, "初期比"), 20),
        tail(grep(&without, "初期比"), 20)
    );
    assert_eq!(grep(&with, "警告"), grep(&without, "警告"));
    assert!(!grep(&with, "警告").is_empty());
    assert_eq!(
        tail(grep(&with, "ピーク"), 1),
        tail(grep(&without, "ピーク"), 1)
    );
    for word in ["RSS:", "VMS:", "経過:", "初期比", "ピーク"] {
        assert_eq!(grep(&with, word), grep(&without, word), "{word}");
    }
}
