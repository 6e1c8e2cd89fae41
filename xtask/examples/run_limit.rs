//! The least a watcher must do per sample, for `cargo xtask bench` (`run-limit-cpu-per-sample-us`).
//!
//! `run_limit PID INTERVAL_SECS LOG` keeps `/proc/PID/statm` and `/proc/meminfo` open, and at
//! every deadline (start + k × interval, missed deadlines skipped, as memmon's schedule does)
//! reads both with one `pread` each into a fixed buffer and appends one line of a sample line's
//! length to LOG. No memmon crate, no parsing, no allocation in the loop: the bench compares
//! `memmon run` against this. It runs until it is killed, or the process ends.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [pid, interval, log] = args.as_slice() else {
        return Err("usage: run_limit PID INTERVAL_SECS LOG".to_string());
    };
    let interval: f64 = interval
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s > 0.0)
        .ok_or_else(|| format!("bad interval {interval:?}"))?;
    let interval = Duration::from_secs_f64(interval);
    let open = |p: String| File::open(&p).map_err(|e| format!("cannot open {p}: {e}"));
    let statm = open(format!("/proc/{pid}/statm"))?;
    let meminfo = open("/proc/meminfo".to_string())?;
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("cannot open {log}: {e}"))?;

    let mut buf = [0u8; 8192];
    // A line as long as memmon's sample line (about 150 bytes of UTF-8), written with one write.
    let mut line = [b'.'; 150];
    line[149] = b'\n';
    let start = Instant::now();
    let mut k: u32 = 0;
    loop {
        let n = statm
            .read_at(&mut buf, 0)
            .map_err(|e| format!("statm: {e}"))?;
        if n == 0 {
            return Ok(()); // the process has exited
        }
        meminfo
            .read_at(&mut buf, 0)
            .map_err(|e| format!("meminfo: {e}"))?;
        line[0] = b'0' + (k % 10) as u8;
        log.write_all(&line).map_err(|e| format!("log: {e}"))?;

        // The next deadline still ahead of now: a late wake-up skips samples, never bunches them.
        let now = Instant::now();
        let mut next = start + interval * k;
        while next <= now {
            k += 1;
            next = start + interval * k;
        }
        std::thread::sleep(next - now);
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("run_limit: {e}");
            ExitCode::from(2)
        }
    }
}
