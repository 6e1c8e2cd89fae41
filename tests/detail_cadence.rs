//! A detail cadence faster than a snapshot (issue 17 item 14), with the real binary and real
//! `python3` processes: at a 10 ms interval a block falls due every 100 ms. Before the fix,
//! a 4 s run wrote 2 blocks and 37 `応答なし (0s)` lines for a process that was answering.

use crate::util::{assert_well_formed, parse_log, samples, Dir};
use memmon_format::Record;

/// Allocates and frees small objects for `secs` seconds, so tracemalloc has many live traces
/// and a snapshot takes a while.
fn busy_python(secs: f64) -> String {
    format!(
        "import time
keep = []
t0 = time.time()
while time.time() - t0 < {secs}:
    keep.append([str(i) * 3 for i in range(2000)])
    if len(keep) > 300:
        keep = keep[150:]
"
    )
}

/// The detail blocks of a log, each checked complete: a first line, the Top 10 line, the site
/// lines (none in a snapshot taken as tracing starts) and the closing empty line, nothing else
/// inside. Returns the first lines.
fn complete_blocks(records: &[Record], text: &str) -> Vec<Record> {
    let mut firsts = Vec::new();
    for (at, record) in records.iter().enumerate() {
        if !matches!(
            record,
            Record::Tracemalloc { .. } | Record::Smaps { .. } | Record::NoAnswer { .. }
        ) {
            continue;
        }
        firsts.push(record.clone());
        if matches!(record, Record::NoAnswer { .. }) {
            assert_eq!(records.get(at + 1), Some(&Record::Blank), "{text}");
            continue;
        }
        assert_eq!(records.get(at + 1), Some(&Record::TopHeader), "{text}");
        let sites = records[at + 2..]
            .iter()
            .take_while(|r| matches!(r, Record::Site(_)))
            .count();
        assert_eq!(records.get(at + 2 + sites), Some(&Record::Blank), "{text}");
    }
    firsts
}

/// The number in memmon's closing stderr line about skipped blocks (0 when there is none).
fn skipped(stderr: &str, before: &str, after: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| l.split_once(before))
        .and_then(|(_, rest)| rest.split_once(after))
        .and_then(|(n, _)| n.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_fast_cadence_never_writes_an_answering_python_process_silent() {
    let d = Dir::new("cadence-busy");
    d.write("busy.py", &busy_python(3.0));
    let out = d
        .memmon()
        .args([
            "run",
            "--startup-delay",
            "0",
            "--interval",
            "0.01",
            "--detail",
            "--log",
            "m.log",
            "--",
            "python3",
            "busy.py",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let text = d.read("m.log");
    let records = parse_log(&d.join("m.log"));
    assert_well_formed(&records, &text);
    assert!(!text.contains("応答なし"), "{text}");
    let blocks = complete_blocks(&records, &text);
    let traced = blocks
        .iter()
        .filter(|r| matches!(r, Record::Tracemalloc { pid: None, .. }))
        .count();
    assert!(traced >= 2, "{traced} tracemalloc blocks:\n{text}");
    // Every block due is written or counted as skipped; the last one may have found the
    // process gone (no block, the footer follows).
    let due = samples(&records).len() as u64 / 10;
    let skipped = skipped(&err, "memmon: 省略した詳細ブロック: ", "件");
    let written = blocks.len() as u64;
    assert!(
        written + skipped <= due && written + skipped + 1 >= due,
        "{written} written + {skipped} skipped for {due} due\n{err}"
    );
}

#[test]
fn a_stopped_python_process_at_a_fast_cadence_is_still_written_silent_after_the_timeout() {
    let d = Dir::new("cadence-stopped");
    d.write(
        "client_config.json",
        r#"{"memory_monitor": {"enabled": true, "interval": 0.01, "tracemalloc": true, "tracemalloc_timeout": 1}}"#,
    );
    d.write("busy.py", &busy_python(30.0));
    // Stopped once it has answered (Python starts slowly on a loaded machine), resumed after
    // 2.5 s, ended once it has answered again (at most 10 s later).
    let script = "python3 busy.py & P=$!; \
                  i=0; until grep -q 'tracemalloc] Current' m.log || [ $i -ge 600 ]; do \
                  sleep 0.05; i=$((i+1)); done; \
                  kill -STOP $P; sleep 2.5; kill -CONT $P; \
                  n=$(grep -c 'tracemalloc] Current' m.log); \
                  i=0; until [ $(grep -c 'tracemalloc] Current' m.log) -gt $n ] || [ $i -ge 200 ]; do \
                  sleep 0.05; i=$((i+1)); done; \
                  kill $P; wait $P; true";
    let out = d
        .memmon()
        .args([
            "run",
            "--startup-delay",
            "0",
            "--children",
            "--lang",
            "en",
            "--log",
            "m.log",
            "--",
            "sh",
            "-c",
            script,
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let text = d.read("m.log");
    let records = parse_log(&d.join("m.log"));
    assert_well_formed(&records, &text);
    let blocks = complete_blocks(&records, &text);
    let silent: Vec<u64> = blocks
        .iter()
        .filter_map(|r| match r {
            Record::NoAnswer { secs, .. } => Some(*secs),
            _ => None,
        })
        .collect();
    // Stopped for 2.5 s with a 1 s timeout: one to three requests time out, each after the
    // whole second, none at once.
    assert!(
        !silent.is_empty() && silent.iter().all(|&s| s == 1),
        "{silent:?}\n{text}"
    );
    // Answers before the stop and after SIGCONT.
    let first_silent = blocks
        .iter()
        .position(|r| matches!(r, Record::NoAnswer { .. }))
        .unwrap();
    let last_silent = blocks
        .iter()
        .rposition(|r| matches!(r, Record::NoAnswer { .. }))
        .unwrap();
    let answered = |r: &Record| matches!(r, Record::Tracemalloc { .. });
    assert!(blocks[..first_silent].iter().any(answered), "{text}");
    assert!(blocks[last_silent..].iter().any(answered), "{text}");
    // Blocks due while memmon waited were skipped and counted (in --lang's words).
    assert!(
        skipped(&err, "memmon: detail blocks skipped: ", " ") >= 5,
        "{err}"
    );
}
