//! Issue #20's evidence line: exact bytes, the constraints every new line keeps, a parser that
//! accepts exactly the printed shapes, and a snapshot.

use memmon_format::{parse_line, EvidenceKind, EvidenceLine, LogFormat, Record};

fn format() -> LogFormat {
    LogFormat::with_zone(jiff::tz::TimeZone::fixed(jiff::tz::offset(9)))
}

fn lines() -> Vec<Record> {
    let f = format();
    vec![
        f.evidence("memory_usage.evidence/20261205-143000-4242-usr2.txt"),
        f.evidence("memory_usage.evidence/20261205-150000-4242-horizon.txt"),
        f.evidence_oom(Some(
            "memory_usage.evidence/20261205-150000-4242-horizon.txt",
        )),
        f.evidence_oom(None),
        f.evidence_exit("memory_usage.evidence/20261205-150000-4242-warning.txt"),
    ]
}

#[test]
fn exact_lines() {
    let f = format();
    assert_eq!(
        f.evidence("memory_usage.evidence/20261205-143000-4242-usr2.txt")
            .to_string(),
        "  [証拠] 保存: memory_usage.evidence/20261205-143000-4242-usr2.txt"
    );
    assert_eq!(
        f.evidence_oom(Some("memory_usage.evidence/20261205-143000-4242-floor.txt"))
            .to_string(),
        "  [証拠] OOMキラーによる終了の直前: memory_usage.evidence/20261205-143000-4242-floor.txt"
    );
    assert_eq!(
        f.evidence_oom(None).to_string(),
        "  [証拠] OOMキラーによる終了の直前: なし"
    );
    assert_eq!(
        f.evidence_exit("m.evidence/20261205-143000-4242-floor.txt")
            .to_string(),
        "  [証拠] 終了の直前: m.evidence/20261205-143000-4242-floor.txt"
    );
    // A control character never splits the line.
    assert_eq!(
        f.evidence("a\nb.evidence/x.txt").to_string(),
        "  [証拠] 保存: a_b.evidence/x.txt"
    );
}

#[test]
fn lines_read_back_as_the_same_bytes() {
    for record in lines() {
        let text = record.to_string();
        let parsed = parse_line(&text);
        assert_eq!(parsed, record, "{text}");
        assert_eq!(parsed.to_string(), text);
    }
    let Record::Evidence(EvidenceLine { kind, path }) =
        parse_line("  [証拠] OOMキラーによる終了の直前: なし")
    else {
        panic!("not an evidence line");
    };
    assert_eq!((kind, path), (EvidenceKind::OomKilled, None));
}

#[test]
fn other_shapes_are_not_evidence_lines() {
    for line in [
        "  [証拠] ",
        "  [証拠] 保存: ",
        "  [証拠] 保存:x",
        "  [証拠] 別: x",
        " [証拠] 保存: x",
        "[証拠] 保存: x",
        "  [証拠] OOMキラーによる終了の直前: ",
        "  [証拠] 終了の直前: ",
        "  [証拠] 終了の直前:x",
    ] {
        assert!(
            matches!(parse_line(line), Record::Other(_)),
            "{line:?} parsed"
        );
    }
}

/// The guide's grep recipes and spreadsheet steps must find what they found before.
#[test]
fn no_line_has_a_forbidden_word_or_misses_the_indent() {
    for record in lines() {
        let line = record.to_string();
        assert!(
            line.starts_with("  [") && !line.starts_with("   "),
            "{line}"
        );
        for word in ["初期比", "警告", "ピーク", "RSS:", "VMS:", "経過:"] {
            assert!(!line.contains(word), "{line} contains {word}");
        }
    }
}

#[test]
fn evidence_lines_snapshot() {
    let text: Vec<String> = lines().iter().map(ToString::to_string).collect();
    insta::assert_snapshot!(text.join("\n"));
}
