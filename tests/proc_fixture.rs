//! `memmon run` pointed at a fixture `/proc` tree (the hidden `--proc-root`): exact numbers in,
//! exact lines out, including the OOM line, which no real test machine should produce.

use crate::util::{parse_log, Dir, Running};
use memmon_format::Record;
use std::os::unix::fs::FileExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

const PID: &str = "4242";

/// Overwrites a file in place, same length: memmon keeps `statm` and `meminfo` open and re-reads
/// them at offset 0, as it does with the kernel's files.
fn poke(path: &std::path::Path, text: &str) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(text.as_bytes(), 0).unwrap();
}

fn wait_for(d: &Dir, log: &str, what: &str, n: usize) {
    let t0 = Instant::now();
    loop {
        let text = std::fs::read_to_string(d.join(log)).unwrap_or_default();
        if text.matches(what).count() >= n {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "never saw {what:?} ×{n}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn fixture_numbers_give_exact_lines_warning_and_oom() {
    let d = Dir::new("proc-fixture");
    let proc_dir = d.join("proc");
    std::fs::create_dir_all(proc_dir.join(PID)).unwrap();
    let page = memmon_sampler::page_size();
    // 10000 pages resident, 20000 pages virtual.
    d.write("proc/4242/statm", "20000 10000 500 100 0 3000 0\n");
    d.write(
        "proc/4242/status",
        "Name:\tclient\nState:\tS (sleeping)\nThreads:\t3\n",
    );
    d.write(
        "proc/meminfo",
        "MemTotal:        1024000 kB\nMemFree:          100000 kB\nMemAvailable:     512000 kB\n",
    );
    d.write("proc/vmstat", "nr_free_pages 1\noom_kill 3\n");

    let mut memmon = d
        .memmon()
        .args([
            "run",
            "--startup-delay",
            "0",
            "--pid",
            PID,
            "--interval",
            "0.1",
            "--log",
            "m.log",
            "--proc-root",
        ])
        .arg(&proc_dir)
        .stderr(Stdio::null())
        .spawn()
        .map(Running)
        .unwrap();
    wait_for(&d, "m.log", " 経過: ", 2);
    // RSS grows by 13000 pages; the kernel's OOM killer fires twice.
    poke(
        &proc_dir.join("4242/statm"),
        "20000 23000 500 100 0 3000 0\n",
    );
    std::fs::write(proc_dir.join("vmstat.new"), "nr_free_pages 1\noom_kill 5\n").unwrap();
    std::fs::rename(proc_dir.join("vmstat.new"), proc_dir.join("vmstat")).unwrap();
    wait_for(&d, "m.log", "OOMキラー", 1);
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(memmon.id() as i32).unwrap(),
        rustix::process::Signal::INT,
    )
    .unwrap();
    assert_eq!(memmon.wait().code(), Some(0));

    let text = d.read("m.log");
    let mb = |pages: u64| format!("{:.2}", (pages * page) as f64 / 1048576.0);
    let first = text.lines().find(|l| l.contains(" 経過: ")).unwrap();
    assert!(
        first.ends_with(&format!(
            "経過: 00:00:00 | RSS: {}MB (初期比: +0.00MB) | VMS: {}MB | ピーク: {}MB | システム: 50.0% (500MB空き)",
            mb(10000),
            mb(20000),
            mb(10000)
        )),
        "{first}"
    );
    let grown = mb(23000);
    let growth = mb(13000);
    let lines: Vec<&str> = text.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.contains(&format!("RSS: {grown}MB")))
        .unwrap();
    assert!(
        lines[i].contains(&format!("(初期比: +{growth}MB)")),
        "{}",
        lines[i]
    );
    if (13000 * page) as f64 / 1048576.0 > 50.0 {
        assert_eq!(
            lines[i + 1],
            format!("⚠️ [警告] メモリが初期値から {growth}MB 増加しています")
        );
    }
    // Exactly one OOM line, for the 2 new kills, right after its sample (and warning).
    assert_eq!(
        text.matches("⚠️ [警告] OOMキラーが発動しました (+2)\n")
            .count(),
        1,
        "{text}"
    );
    // The footer: SIGINT with --pid takes one fresh final sample (the process is still there).
    let recs = parse_log(&d.join("m.log"));
    let n = recs.len();
    assert_eq!(recs[n - 1], Record::Rule);
    assert!(!recs.contains(&Record::LastGoodUsed));
    assert!(
        text.contains(&format!(
            "最終メモリ: {grown}MB\nピークメモリ: {grown}MB\nメモリ増加量: {growth}MB\n"
        )),
        "{text}"
    );
}
