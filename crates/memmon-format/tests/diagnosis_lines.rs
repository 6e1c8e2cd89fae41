//! Issue #19's diagnosis lines: exact bytes, the constraints every new line keeps, and a
//! parser that accepts exactly the printed shapes (property tests).

use memmon_core::{TypeGrowth, TypesReply, MIB};
use memmon_format::{parse_line, Investigation, LogFormat, Record, TrimOutcome};
use proptest::prelude::*;

fn format() -> LogFormat {
    LogFormat::with_zone(jiff::tz::TimeZone::fixed(jiff::tz::offset(9)))
}

#[test]
fn exact_lines() {
    let f = format();
    assert_eq!(
        f.escalation(2330.0, 1500.4, 8.2 * MIB as f64, Investigation::Started)
            .to_string(),
        "  [リーク疑い] 増加率: 8.00MB/時, 根拠: 1500秒で +8.20MB の一定した増加, 調査: tracemalloc を開始しました"
    );
    assert_eq!(
        f.native(6 * MIB as i64, 104_858, 600.0).to_string(),
        "  [Python/ネイティブ] 匿名の増加: +6.00MB, Python: +0.10MB, ネイティブ: +5.90MB, 区間: 600秒"
    );
    assert_eq!(
        f.trim(120 * MIB + 524_288, 80 * MIB, TrimOutcome::Returned)
            .to_string(),
        "  [malloc_trim] 前: 120.50MB, 後: 80.00MB, 差: -40.50MB, 結果: 返却 (C のアロケータが返せる空きを保持していました: 断片化)"
    );
    let reply = TypesReply {
        pid: 7,
        types: vec![TypeGrowth {
            name: "__main__.Card".into(),
            count: 1200,
            bytes: 115_200,
        }],
        complete: true,
    };
    assert_eq!(
        f.types(&reply).to_string(),
        "  [増加した型] PID 7: __main__.Card +1200個 +0.11MB"
    );
}

/// The guide's grep recipes and spreadsheet steps must find what they found before.
#[test]
fn no_line_has_a_forbidden_word_or_misses_the_indent() {
    let f = format();
    let mut lines = Vec::new();
    for a in [
        Investigation::Started,
        Investigation::AlreadyTracing,
        Investigation::NoHookPid,
        Investigation::HookOff,
        Investigation::NotAsked,
    ] {
        lines.push(f.escalation(1.0, 60.0, 3e6, a).to_string());
    }
    for o in [
        TrimOutcome::Returned,
        TrimOutcome::Unchanged,
        TrimOutcome::Unavailable,
    ] {
        lines.push(f.trim(10, 5, o).to_string());
    }
    lines.push(f.native(1, 2, 3.0).to_string());
    lines.push(
        f.types(&TypesReply {
            pid: 1,
            types: vec![],
            complete: false,
        })
        .to_string(),
    );
    for line in &lines {
        assert!(
            line.starts_with("  [") && !line.starts_with("   "),
            "{line}"
        );
        for word in ["初期比", "警告", "ピーク", "RSS:", "VMS:", "経過:"] {
            assert!(!line.contains(word), "{line} contains {word}");
        }
        assert!(!matches!(parse_line(line), Record::Other(_)), "{line}");
    }
}

#[test]
fn near_misses_are_other_lines() {
    for line in [
        "  [リーク疑い] 増加率: 8.00MB/時, 根拠: 1500秒で +8.20MB の一定した増加, 調査: 何か",
        "  [リーク疑い] 増加率: 8.0MB/時, 根拠: 1500秒で +8.20MB の一定した増加, 調査: tracemalloc を開始しました",
        "  [Python/ネイティブ] 匿名の増加: 6.00MB, Python: +0.10MB, ネイティブ: +5.90MB, 区間: 600秒",
        "  [malloc_trim] 前: -1.00MB, 後: 80.00MB, 差: -40.50MB, 結果: 実行できません (glibc の malloc_trim がありません)",
        "  [増加した型] PID 7: __main__.Card 1200個 +0.11MB",
        "  [増加した型] PID 7: ",
        "  [増加した型] PID 7: a +1個 +0.00MB, b +1個 +0.00MB, c +1個 +0.00MB, d +1個 +0.00MB, e +1個 +0.00MB, f +1個 +0.00MB",
    ] {
        assert!(matches!(parse_line(line), Record::Other(_)), "{line}");
    }
}

fn investigation() -> impl Strategy<Value = Investigation> {
    prop_oneof![
        Just(Investigation::Started),
        Just(Investigation::AlreadyTracing),
        Just(Investigation::NoHookPid),
        Just(Investigation::HookOff),
        Just(Investigation::NotAsked),
    ]
}

fn outcome() -> impl Strategy<Value = TrimOutcome> {
    prop_oneof![
        Just(TrimOutcome::Returned),
        Just(TrimOutcome::Unchanged),
        Just(TrimOutcome::Unavailable),
    ]
}

proptest! {
    /// Any line the builders make parses back to the same record and prints the same bytes.
    #[test]
    fn every_built_line_round_trips(
        slope in -1e9f64..1e9, span in 0f64..1e9, rise in 0f64..1e15, action in investigation(),
        anon in -(1i64 << 50)..(1i64 << 50), python in -(1i64 << 50)..(1i64 << 50),
        before in 0u64..(1 << 50), after in 0u64..(1 << 50), o in outcome(),
        pid in any::<u32>(), complete in any::<bool>(),
        types in proptest::collection::vec(("\\PC{0,30}", any::<i32>(), -(1i64 << 40)..(1i64 << 40)), 0..8),
    ) {
        let f = format();
        let reply = TypesReply {
            pid,
            types: types.into_iter().map(|(name, count, bytes)| TypeGrowth { name, count: count.into(), bytes }).collect(),
            complete,
        };
        for record in [
            f.escalation(slope, span, rise, action),
            f.native(anon, python, span),
            f.trim(before, after, o),
            f.types(&reply),
        ] {
            let line = record.to_string();
            let back = parse_line(&line);
            prop_assert_eq!(back.to_string(), line.clone());
            prop_assert!(!matches!(back, Record::Other(_)), "{}", line);
        }
    }

    /// Arbitrary text after a diagnosis prefix never panics the parser, and whatever parses
    /// prints back as the same bytes.
    #[test]
    fn the_parser_accepts_only_what_it_prints(
        prefix in prop_oneof![
            Just("  [リーク疑い] 増加率: "), Just("  [Python/ネイティブ] 匿名の増加: "),
            Just("  [malloc_trim] 前: "), Just("  [増加した型] PID "),
        ],
        rest in "[0-9+\\-. ,:a-zA-Z個MB秒/時()]{0,60}",
    ) {
        let line = format!("{prefix}{rest}");
        let back = parse_line(&line);
        if !matches!(back, Record::Other(_)) {
            prop_assert_eq!(back.to_string(), line);
        }
    }
}
