//! [`analyze`](crate::analyze) as a library call: the report goes to the caller's writer, a
//! failure comes back as an [`Error`](crate::Error), nothing is printed.
#![allow(clippy::unwrap_used)]

use super::tests::Gen;
use super::{analyze, Error, Lang, Request};
use jiff::civil::date;
use std::io::{self, Write};

/// A log of one short run in a fresh directory (removed by `tempfile`).
fn log_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let t0 = date(2025, 11, 21).at(9, 0, 0, 0);
    let mut g = Gen::new(3);
    g.header(t0, "60");
    g.samples(t0, 60, 30, 0.1, |_| 40.0);
    let path = dir.path().join("memory_usage.log");
    std::fs::write(&path, &g.out).unwrap();
    (dir, path)
}

#[test]
fn the_report_goes_to_the_callers_writer() {
    let (_dir, log) = log_dir();
    let mut request = Request {
        logs: vec![log],
        json: true,
        ..Request::default()
    };
    let mut out = Vec::new();
    analyze(&request, &mut out).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(json["runs"].as_array().map(Vec::len), Some(1));

    request.json = false;
    request.lang = Lang::En;
    let mut out = Vec::new();
    analyze(&request, &mut out).unwrap();
    assert!(!out.is_empty());
}

#[test]
fn failures_come_back_as_errors() {
    let (dir, log) = log_dir();
    let before = std::fs::read(&log).unwrap();
    // An output that is the input: refused, the log left as it was.
    let request = Request {
        logs: vec![log.clone()],
        csv: Some(log.clone()),
        ..Request::default()
    };
    let err = analyze(&request, &mut Vec::new()).unwrap_err();
    assert!(matches!(err, Error::Clash(_)), "{err:?}");
    assert_eq!(std::fs::read(&log).unwrap(), before);

    let missing = Request {
        logs: vec![dir.path().join("missing.log")],
        ..Request::default()
    };
    let err = analyze(&missing, &mut Vec::new()).unwrap_err();
    assert!(matches!(err, Error::File(_)), "{err:?}");

    /// A writer whose reader is gone.
    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let request = Request {
        logs: vec![log],
        ..Request::default()
    };
    let err = analyze(&request, &mut Closed).unwrap_err();
    assert!(matches!(err, Error::Report(_)), "{err:?}");
    assert!(err.to_string().starts_with("writing the report: "), "{err}");
}

/// Issue #20: each run lists the bundles written during it (its PID, between its header and
/// its end, or without one any time after), in JSON and text; a bundle of another PID, from
/// before the run, or another file, is not its.
#[test]
fn each_run_lists_its_bundles() {
    let (dir, log) = log_dir();
    let evidence = dir.path().join("memory_usage.evidence");
    std::fs::create_dir(&evidence).unwrap();
    for name in [
        "20251121-091000-4242-usr2.txt",
        "20251121-091500-4242-warning.txt",
        "20251121-091000-999-usr2.txt",
        "20251121-083000-4242-floor.txt",
        "notes.txt",
    ] {
        std::fs::write(evidence.join(name), "# memmon 証拠バンドル\n").unwrap();
    }
    let mut request = Request {
        logs: vec![log],
        json: true,
        ..Request::default()
    };
    let mut out = Vec::new();
    analyze(&request, &mut out).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        json["runs"][0]["bundles"],
        serde_json::json!([
            "memory_usage.evidence/20251121-091000-4242-usr2.txt",
            "memory_usage.evidence/20251121-091500-4242-warning.txt"
        ])
    );
    request.json = false;
    let mut out = Vec::new();
    analyze(&request, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("証拠バンドル 2件: memory_usage.evidence/20251121-091000-4242-usr2.txt, memory_usage.evidence/20251121-091500-4242-warning.txt"),
        "{text}"
    );
}
