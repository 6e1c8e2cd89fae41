//! The original monitor's real log: every line parses to a known record and re-formats to the
//! same bytes.

use memmon_format::{parse_line, Record, Size, SizeUnit};

const LOG: &str = include_str!("fixtures/original-test-mode.log");

#[test]
fn every_line_is_known() {
    for (n, line) in LOG.lines().enumerate() {
        let record = parse_line(line);
        assert!(
            !matches!(record, Record::Other(_)),
            "line {} not recognised: {line}",
            n + 1
        );
    }
}

#[test]
fn whole_file_reformats_identically() {
    let mut text = String::new();
    for line in LOG.lines() {
        text.push_str(&parse_line(line).to_string());
        text.push('\n');
    }
    assert_eq!(text, LOG);
}

#[test]
fn counts_match_the_test_mode_run() {
    let records: Vec<Record> = LOG.lines().map(parse_line).collect();
    let count = |f: fn(&Record) -> bool| records.iter().filter(|r| f(r)).count();
    assert_eq!(count(|r| matches!(r, Record::Sample(_))), 60);
    assert_eq!(count(|r| matches!(r, Record::Warning { .. })), 10);
    assert_eq!(
        count(|r| matches!(r, Record::Tracemalloc { pid: None, .. })),
        6
    );
    assert_eq!(count(|r| matches!(r, Record::TopHeader)), 6);
    assert_eq!(count(|r| matches!(r, Record::Site(_))), 60);
    assert_eq!(count(|r| matches!(r, Record::Rule)), 4);
}

#[test]
fn typed_values_are_read() {
    let records: Vec<Record> = LOG.lines().map(parse_line).collect();
    assert_eq!(records[2], Record::Pid(4638));
    let Record::Interval(interval) = &records[3] else {
        panic!("{:?}", records[3]);
    };
    assert_eq!((interval.secs(), interval.text()), (5.0, "5"));
    let Record::Sample(first) = &records[6] else {
        panic!("{:?}", records[6]);
    };
    assert_eq!(first.elapsed_secs, 0);
    assert_eq!(first.rss_mb, 15.20);
    assert_eq!(first.growth_mb, 0.0);
    assert_eq!(first.sys_available_mb, 23686.0);
    assert_eq!(first.at.to_string(), "2026-11-24T19:00:39");
    let Record::Site(site) = &records[18] else {
        panic!("{:?}", records[18]);
    };
    assert_eq!(
        site.location,
        "/home/raspberry/Desktop/attendance/card_reader_improved/memory_monitor.py:236"
    );
    assert_eq!(
        site.size,
        Size {
            value: 10.0,
            unit: SizeUnit::MiB,
            one_decimal: true
        }
    );
    assert_eq!(site.count, 11);
    assert_eq!(
        &records[records.len() - 7..],
        [
            Record::End {
                at: jiff::civil::date(2026, 11, 24).at(19, 5, 39, 0)
            },
            Record::Runtime { secs: 300 },
            Record::Initial { mb: Some(15.20) },
            Record::Final { mb: Some(74.54) },
            Record::Peak { mb: Some(74.52) },
            Record::Increase { mb: Some(59.34) },
            Record::Rule,
        ]
    );
}

/// A power cut can stop the log at any byte. Every truncation of the reference log parses
/// without a panic: the complete lines still read back as themselves, and the cut one is at
/// worst `Other`.
#[test]
fn every_truncation_of_the_reference_log_parses() {
    let bytes = LOG.as_bytes();
    for cut in 0..=bytes.len() {
        let text = String::from_utf8_lossy(&bytes[..cut]);
        let mut lines = text.split('\n').peekable();
        while let Some(line) = lines.next() {
            let record = memmon_format::parse_line(line);
            if lines.peek().is_some() {
                assert_eq!(record.to_string(), line, "cut at {cut}");
            }
        }
    }
}
