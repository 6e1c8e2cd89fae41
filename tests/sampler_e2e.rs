//! The procfs sampler end to end (issue 17, items 12 and 13): `--children` on forked workers
//! that share their parent's pages, and the `[smaps]` block of a target with 30,000 mappings.

use crate::util::{assert_well_formed, parse_log, samples, Dir, Running};
use memmon_format::Record;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Allocates and touches 50 MiB, forks 20 children that sleep holding it (shared,
/// copy-on-write), waits 3 s and ends them.
const FORK_20_SHARING_50_MIB: &str = r#"
import os, time
buf = bytearray(50 << 20)
for i in range(0, len(buf), 4096):
    buf[i] = 1
kids = []
for _ in range(20):
    pid = os.fork()
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    kids.append(pid)
time.sleep(3)
for pid in kids:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
"#;

#[test]
fn children_sharing_their_parents_pages_count_them_once() {
    let d = Dir::new("children-private");
    let out = d
        .memmon()
        .args([
            "run",
            "--children",
            "--startup-delay",
            "1",
            "--interval",
            "0.2",
            "--duration",
            "1.5",
            "--log",
            "m.log",
            "--",
            "python3",
            "-c",
            FORK_20_SHARING_50_MIB,
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let text = d.read("m.log");
    let recs = parse_log(&d.join("m.log"));
    assert_well_formed(&recs, &text);
    let rss: Vec<f64> = samples(&recs).iter().map(|s| s.rss_mb).collect();
    assert!(rss.len() >= 5, "{text}");
    // The parent holds ~58 MB; a plain sum of RSS over the 21 processes reads ~1,200 MB.
    for mb in &rss {
        assert!((50.0..120.0).contains(mb), "RSS {mb} MB in:\n{text}");
    }
    // Every descendant's smaps_rollup is readable here: nothing to say.
    assert!(!stderr.contains("--children"), "{stderr}");
}

/// Maps 30,000 one-page anonymous regions with alternating protections (so they stay 30,000
/// mappings, ~24 MB of `smaps`), prints `ready` and sleeps until killed.
const MAP_30000: &str = r#"
import mmap, time
maps = []
for i in range(30000):
    prot = mmap.PROT_READ if i % 2 else mmap.PROT_READ | mmap.PROT_WRITE
    maps.append(mmap.mmap(-1, 4096, prot=prot))
print("ready", flush=True)
time.sleep(120)
"#;

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn smaps_of_30000_mappings_neither_grows_memmon_nor_delays_a_sample() {
    let d = Dir::new("smaps-many");
    let mut target = Command::new("python3")
        .args(["-c", MAP_30000])
        .stdout(Stdio::piped())
        .spawn()
        .map(Running)
        .unwrap();
    let mut line = String::new();
    BufReader::new(target.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    let pid = target.id().to_string();
    let mut memmon = d
        .memmon()
        .args([
            "run",
            "--pid",
            &pid,
            "--startup-delay",
            "0",
            "--interval",
            "0.1",
            "--duration",
            "4",
            "--detail",
            "--log",
            "m.log",
        ])
        .stderr(Stdio::null())
        .spawn()
        .map(Running)
        .unwrap();
    // VmHWM only grows: its last reading before memmon ends is its peak.
    let (started, mut hwm) = (Instant::now(), 0);
    while memmon.0.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(30) {
        hwm = vm_hwm_kib(memmon.id()).unwrap_or(hwm).max(hwm);
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = memmon.wait();
    let _ = target.0.kill();
    let _ = target.0.wait();
    assert!(status.success(), "{status:?}");
    let text = d.read("m.log");
    let recs = parse_log(&d.join("m.log"));
    assert_well_formed(&recs, &text);
    let lines = samples(&recs).len();
    let blocks: Vec<_> = recs
        .iter()
        .filter(|r| matches!(r, Record::Smaps { .. }))
        .collect();
    eprintln!(
        "memmon VmHWM {hwm} KiB, {lines} sample lines, {} smaps blocks",
        blocks.len()
    );
    // k × 0.1 < 4: 40 deadlines. Reading ~24 MB of smaps takes the kernel ~0.06 s and a
    // debug build's parser ~0.7 s: on the sampling thread that cost ~7 deadlines at each of
    // the blocks due at the 10th, 20th, 30th sample (the 40th's is still being read at stop).
    // On a loaded 2-core machine a few deadlines are missed whatever memmon does (CI saw one
    // block and 40 lines there); the old code lost 14 of 40 on an idle one.
    assert!(lines >= 34, "{lines} sample lines of 40:\n{text}");
    assert!(!blocks.is_empty(), "no smaps block:\n{text}");
    // The whole smaps text alone was 24 MB; streamed, memmon stays a few MiB.
    assert!(hwm > 0 && hwm < 16 * 1024, "memmon VmHWM {hwm} KiB");
}

#[test]
fn children_whose_private_memory_cannot_be_read_are_named_once_on_stderr() {
    // The sampler's fixture tree: 4242 → 4243 (smaps only: 152 kB private), 4246
    // (smaps_rollup: 100 kB private), 4247 (neither: its RSS, 200 pages).
    let d = Dir::new("children-notice");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../memmon-sampler/tests/fixtures/proc");
    let out = d
        .memmon()
        .args([
            "run",
            "--children",
            "--startup-delay",
            "0",
            "--pid",
            "4242",
            "--interval",
            "0.1",
            "--duration",
            "0.5",
            "--log",
            "m.log",
            "--proc-root",
        ])
        .arg(&root)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr.matches("memmon: --children:").count(), 2, "{stderr}");
    assert_eq!(stderr.matches("process 4247").count(), 1, "{stderr}");
    let page = memmon_sampler::page_size();
    let rss = (1200 * page + 252 * 1024) as f64 / 1048576.0;
    let recs = parse_log(&d.join("m.log"));
    let lines = samples(&recs);
    assert_eq!(lines.len(), 5);
    for s in lines {
        assert_eq!(format!("{:.2}", s.rss_mb), format!("{rss:.2}"));
    }
}
