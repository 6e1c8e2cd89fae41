//! A crash loop: a command that exits at once, started over and over (systemd's
//! `Restart=always`). Every start leaves its header, its exit line and a footer, whatever the
//! timing, and `analyze` counts every run.

use crate::util::{parse_log, Dir};
use memmon_format::Record;

#[test]
fn every_start_of_a_command_that_exits_at_once_leaves_a_complete_run() {
    let d = Dir::new("crash-loop");
    let starts = 40;
    for i in 0..starts {
        // Half with the default start-up delay (the exit comes long before any sample), half
        // sampling at once (the exit races memmon's first reads of /proc).
        let delay = if i % 2 == 0 { "60" } else { "0" };
        let status = d
            .memmon()
            .args([
                "run",
                "--startup-delay",
                delay,
                "--interval",
                "0.1",
                "--log",
                "m.log",
            ])
            .args(["--", "sh", "-c", "exit 7"])
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(7), "start {i}");
    }
    let records = parse_log(&d.join("m.log"));
    let count = |f: fn(&Record) -> bool| records.iter().filter(|r| f(r)).count();
    assert_eq!(count(|r| matches!(r, Record::Start { .. })), starts);
    assert_eq!(
        count(|r| matches!(r, Record::ProcessExit(memmon_format::ExitKind::Code(7)))),
        starts
    );
    assert_eq!(count(|r| matches!(r, Record::End { .. })), starts);
    assert_eq!(count(|r| matches!(r, Record::Unmonitored { .. })), 0);
    let out = d
        .memmon()
        .args(["analyze", "m.log", "--json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        json["runs"].as_array().map(Vec::len),
        Some(starts),
        "{json:#}"
    );
}
