//! The cost of one sample, for `cargo xtask bench`.
//!
//! `cargo run --release -p memmon-sampler --example sample_bench [ITERS] [ROUNDS]` watches a
//! `sleep` child and, in each round, times ITERS back-to-back samples of three kinds:
//!
//! - `sample-ns`: [`ProcfsSampler::sample`], the path `memmon run` takes on Linux;
//! - `sample-limit-ns`: the same two files (`/proc/PID/statm`, `/proc/meminfo`) kept open and read
//!   with one `pread` each into a fixed buffer, no parsing: the least any sampler must do;
//! - `sysinfo-sample-ns`: [`SysinfoSampler::sample`], the portable fallback.
//!
//! It prints one `name: NANOSECONDS` line per kind and round (xtask takes the medians and the
//! per-round ratios). The order of the kinds rotates from round to round, so drift in machine
//! load spreads over all of them.

use memmon_core::Sampler;
use memmon_sampler::{ProcfsOptions, ProcfsSampler, SysinfoSampler};
use std::fs::File;
use std::hint::black_box;
use std::os::unix::fs::FileExt;
use std::process::{Child, Command, ExitCode};
use std::time::Instant;

/// Kills the watched child however the benchmark ends.
struct Target(Child);

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The bare loop: the files stay open and are read from offset 0 into one fixed buffer.
struct Limit {
    statm: File,
    meminfo: File,
    buf: [u8; 8192],
}

impl Limit {
    fn sample(&mut self) -> std::io::Result<usize> {
        let a = self.statm.read_at(&mut self.buf, 0)?;
        let b = self.meminfo.read_at(&mut self.buf, 0)?;
        Ok(a + b)
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u32>());
    let iters = args.next().and_then(Result::ok).unwrap_or(20_000).max(1);
    let rounds = args.next().and_then(Result::ok).unwrap_or(7).max(1);

    let child = Command::new("sleep")
        .arg("3600")
        .spawn()
        .map_err(|e| format!("cannot start `sleep`: {e}"))?;
    let target = Target(child);
    let pid = target.0.id();

    let mut procfs = ProcfsSampler::new(pid, ProcfsOptions::default())
        .map_err(|e| format!("procfs sampler: {e}"))?;
    let mut sysinfo = SysinfoSampler::new(pid, false).map_err(|e| format!("sysinfo: {e}"))?;
    let open = |p: String| File::open(&p).map_err(|e| format!("cannot open {p}: {e}"));
    let mut limit = Limit {
        statm: open(format!("/proc/{pid}/statm"))?,
        meminfo: open("/proc/meminfo".to_string())?,
        buf: [0; 8192],
    };

    // One closure per kind, timed the same way; each returns ns per sample.
    let mut time = |kind: usize| -> Result<f64, String> {
        let start = Instant::now();
        for _ in 0..iters {
            match kind {
                0 => {
                    black_box(procfs.sample().map_err(|e| e.to_string())?);
                }
                1 => {
                    black_box(limit.sample().map_err(|e| e.to_string())?);
                }
                _ => {
                    black_box(sysinfo.sample().map_err(|e| e.to_string())?);
                }
            }
        }
        Ok(start.elapsed().as_nanos() as f64 / f64::from(iters))
    };
    let names = ["sample-ns", "sample-limit-ns", "sysinfo-sample-ns"];
    // Warm-up: page in the code and let the kernel's caches settle.
    for kind in 0..names.len() {
        time(kind)?;
    }
    for round in 0..rounds as usize {
        for k in 0..names.len() {
            let kind = (k + round) % names.len();
            let ns = time(kind)?;
            println!("{}: {ns:.1}", names[kind]);
        }
    }
    drop(target);
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sample_bench: {e}");
            ExitCode::from(2)
        }
    }
}
