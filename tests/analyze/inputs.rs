//! `memmon analyze` on what logrotate, shells and careless command lines hand it (issue 17,
//! items 10 and 16): an output that is an input, empty and header-only rotated files, a
//! copytruncate set whose files start in the same second, streams, absurd figures.

use super::{analyze, json, ok_stdout, t0, Gen, REFERENCE};
use crate::util::Dir;
use jiff::civil::DateTime;
use jiff::SignedDuration;
use memmon_format::{Record, SampleLine};
use std::io::Write as _;
use std::process::Stdio;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit 2, an error naming both files, nothing on stdout.
fn refused(d: &Dir, args: &[&str], names: [&str; 2]) {
    let out = analyze(d, args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    for name in names {
        assert!(err.contains(name), "{args:?}: {err} does not name {name}");
    }
    assert!(out.stdout.is_empty(), "{args:?}");
}

#[test]
fn an_output_that_is_an_input_is_refused_and_nothing_is_written() {
    let d = Dir::new("analyze-out-is-in");
    d.write("m.log", REFERENCE);
    std::os::unix::fs::symlink("m.log", d.join("link.csv")).unwrap();
    std::os::unix::fs::symlink("m.log", d.join("link.svg")).unwrap();
    std::fs::hard_link(d.join("m.log"), d.join("hard.csv")).unwrap();
    std::fs::create_dir(d.join("sub")).unwrap();
    refused(&d, &["--csv", "m.log", "m.log"], ["--csv m.log", "m.log"]);
    refused(
        &d,
        &["--csv", "./sub/../m.log", "m.log"],
        ["sub/../m.log", "input m.log"],
    );
    refused(&d, &["--csv", "link.csv", "m.log"], ["link.csv", "m.log"]);
    refused(&d, &["--csv", "hard.csv", "m.log"], ["hard.csv", "m.log"]);
    refused(&d, &["--plot", "link.svg", "m.log"], ["link.svg", "m.log"]);
    // The input through a link is the same file as the output by its own name.
    refused(
        &d,
        &["--csv", "m.log", "link.csv"],
        ["--csv m.log", "link.csv"],
    );
    // Two outputs to one file: the second would overwrite the first.
    refused(
        &d,
        &["--csv", "o.svg", "--plot", "./o.svg", "m.log"],
        ["--plot ./o.svg", "--csv o.svg"],
    );
    assert_eq!(d.read("m.log"), REFERENCE, "the log was written to");
    assert!(!d.join("o.svg").exists());
    // A different file is fine.
    let out = analyze(&d, &["--csv", "out.csv", "m.log"]);
    ok_stdout(&out);
    assert!(d.read("out.csv").lines().count() > 60);
    assert_eq!(d.read("m.log"), REFERENCE);
}

#[test]
fn an_empty_rotated_file_is_skipped_with_a_note() {
    let d = Dir::new("analyze-empty");
    d.write("c.log", REFERENCE);
    d.write("c.log.1", "");
    d.write("c.log.2", "\n\n");
    let v = json(&d, &["c.log", "c.log.1", "c.log.2"]);
    assert_eq!(v["runs"].as_array().unwrap().len(), 1);
    assert_eq!(v["runs"][0]["samples"], 60);
    assert_eq!(v["files"], serde_json::json!(["c.log"]));
    assert_eq!(v["empty_files"], serde_json::json!(["c.log.1", "c.log.2"]));
    let text = ok_stdout(&analyze(&d, &["c.log.1", "c.log", "c.log.2"]));
    assert!(
        text.contains("空のため読み飛ばしたファイル: c.log.1, c.log.2\n"),
        "{text}"
    );
    let en = ok_stdout(&analyze(&d, &["--lang", "en", "c.log", "c.log.1"]));
    assert!(en.contains("Skipped as empty: c.log.1\n"), "{en}");
    // A report with no empty file says nothing of them (and its JSON has no such key).
    assert!(json(&d, &["c.log"]).get("empty_files").is_none());
    // Nothing but empty files: nothing to analyse, said so.
    let out = analyze(&d, &["c.log.1", "c.log.2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("c.log.1, c.log.2: empty"),
        "{}",
        stderr(&out)
    );
}

/// One sample line of a run that started at `start`.
fn sample(g: &mut Gen, start: DateTime, elapsed: u64) {
    let rss = 30.0 + elapsed as f64 / 100.0;
    g.line(Record::Sample(SampleLine {
        at: start + SignedDuration::from_secs(elapsed as i64),
        elapsed_secs: elapsed,
        rss_mb: rss,
        growth_mb: rss - 30.0,
        vms_mb: 130.0,
        peak_mb: rss,
        sys_percent: 40.0,
        sys_available_mb: 1024.0,
    }));
}

#[test]
fn a_live_log_holding_only_a_continuation_header_continues_the_run() {
    let d = Dir::new("analyze-cont-only");
    let mut g = Gen::new(1);
    g.header(t0(), "1");
    for e in 0..30 {
        sample(&mut g, t0(), e);
    }
    d.write("m.log.1", &g.out);
    let mut live = Gen::new(2);
    live.line(Record::Continue {
        at: t0() + SignedDuration::from_secs(30),
    });
    d.write("m.log", &live.out);
    let v = json(&d, &["m.log", "m.log.1"]);
    assert_eq!(v["files"], serde_json::json!(["m.log.1", "m.log"]));
    assert_eq!(v["restarts"], 0);
    let run = &v["runs"][0];
    assert_eq!(run["samples"], 30);
    assert_eq!(run["continuations"], 1);
    // Still running: no footer, and no later run to say it was killed.
    assert_eq!(run["ended"], "open");
}

/// A copytruncate set: `m.log.11` (oldest, with the start header) to the live `m.log`, each
/// later file opened by a continuation header written in the same second, so the first times
/// cannot order them.
#[test]
fn a_copytruncate_set_starting_in_one_second_reads_as_one_run() {
    let d = Dir::new("analyze-copytruncate");
    let names: Vec<String> = (0..12)
        .map(|n| match n {
            0 => "m.log".to_owned(),
            n => format!("m.log.{n}"),
        })
        .collect();
    for (n, name) in names.iter().enumerate() {
        let mut g = Gen::new(n as u64 + 1);
        if n == 11 {
            g.header(t0(), "1");
        } else {
            g.line(Record::Continue { at: t0() });
        }
        let from = (11 - n as u64) * 10;
        for e in from..from + 10 {
            sample(&mut g, t0(), e);
        }
        d.write(name, &g.out);
    }
    // Given in string order (.1, .10, .11, .2 …) and in the shell's reverse of it.
    let mut sorted: Vec<&str> = names.iter().map(String::as_str).collect();
    sorted.sort();
    let mut reversed = sorted.clone();
    reversed.reverse();
    // The same files spelled differently are still one set.
    let spelled: Vec<String> = sorted.iter().map(|n| format!("./{n}")).collect();
    let mut mixed: Vec<&str> = sorted.clone();
    mixed[3] = &spelled[3];
    mixed[7] = &spelled[7];
    for given in [sorted, reversed, mixed] {
        let v = json(&d, &given);
        let want: Vec<String> = names
            .iter()
            .rev()
            .map(
                |n| match given.iter().find(|g| g.trim_start_matches("./") == n) {
                    Some(g) => (*g).to_owned(),
                    None => n.clone(),
                },
            )
            .collect();
        assert_eq!(v["files"], serde_json::json!(want));
        assert_eq!(v["restarts"], 0, "{}", v["runs"]);
        assert_eq!(v["crash_loop"], false);
        assert_eq!(v["runs"][0]["samples"], 120);
        assert_eq!(v["runs"][0]["continuations"], 11);
        assert_eq!(v["runs"][0]["duration_s"], 119);
    }
}

fn samples_of(stdout: &[u8]) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_slice(stdout).unwrap();
    assert_eq!(v["runs"].as_array().unwrap().len(), 1, "{v}");
    v["runs"][0]["samples"].clone()
}

#[test]
fn stdin_a_fifo_and_a_process_substitution_are_read_once_as_streams() {
    let d = Dir::new("analyze-streams");
    d.write("m.log", REFERENCE);
    // /dev/stdin from a pipe.
    let mut child = d
        .memmon()
        .args(["analyze", "--json", "/dev/stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(REFERENCE.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(samples_of(&out.stdout), 60);
    // A FIFO.
    let fifo = d.join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let writer = std::thread::spawn(move || std::fs::write(fifo, REFERENCE));
    let out = analyze(&d, &["--json", "fifo"]);
    writer.join().unwrap().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(samples_of(&out.stdout), 60);
    // bash's <(…), twice: two streams, ordered like files.
    let bin = env!("CARGO_BIN_EXE_memmon");
    let out = std::process::Command::new("bash")
        .current_dir(&d.path)
        .env("TZ", "Asia/Tokyo")
        .arg("-c")
        .arg(format!("'{bin}' analyze --json <(cat m.log)"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(samples_of(&out.stdout), 60);
}

#[test]
fn overflowing_or_negative_figures_are_malformed_lines() {
    let d = Dir::new("analyze-figures");
    let last = REFERENCE.lines().rfind(|l| l.contains("経過")).unwrap();
    let huge = "9".repeat(400);
    let mut log = REFERENCE.to_owned();
    // Added after the footer: taken as samples, they would join the run (63 samples).
    for bad in [
        last.replace("RSS: ", &format!("RSS: {huge}")),
        last.replace("RSS: ", "RSS: -"),
        last.replace("VMS: ", "VMS: -"),
    ] {
        log.push_str(&bad);
        log.push('\n');
    }
    d.write("m.log", &log);
    let v = json(&d, &["m.log"]);
    assert_eq!(v["garbage_lines"], 3, "{v}");
    assert_eq!(v["runs"].as_array().unwrap().len(), 1);
    assert_eq!(v["runs"][0]["samples"], 60);
    let text = ok_stdout(&analyze(&d, &["m.log"]));
    for word in ["inf", "NaN"] {
        assert!(!text.contains(word), "{text}");
    }
}
