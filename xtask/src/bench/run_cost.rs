//! What watching costs: `memmon run --pid` against a bare loop doing the same reads and writes
//! (and a psutil loop, the Python way, where psutil is installed), each watching the same
//! `sleep` at the same interval, in interleaved rounds.
//!
//! Per round and watcher: start it, let it settle (start-up is not steady state), read its CPU
//! time and its log's line count, wait the measuring window, read both again; the CPU delta over
//! the lines written in between is the cost per sample. Then its peak RSS (VmHWM), then kill it.

use super::procfs::{count_lines, cpu_ns, peak_rss_kib};
use super::stats::interleaved;
use crate::{fail, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Seconds between samples for every watcher: fast enough that a few seconds hold hundreds of
/// samples, slow enough that each watcher sleeps between them as it does in the field.
pub const INTERVAL: &str = "0.01";

/// How long a watcher runs before its measuring window opens.
const SETTLE: Duration = Duration::from_millis(500);

/// A watcher under test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watcher {
    /// `target/<triple>/release/memmon run --pid PID --interval 0.01 --log LOG`.
    Memmon(PathBuf),
    /// xtask's `run_limit` example: `run_limit PID 0.01 LOG`.
    Limit(PathBuf),
    /// `python3 -c PSUTIL_LOOP PID 0.01 LOG`.
    PythonPeer,
}

/// The psutil peer: samples the same figures and appends memmon's sample line, paced by
/// absolute deadlines like memmon (missed ones skipped).
const PSUTIL_LOOP: &str = r#"
import sys, time, datetime, psutil
pid, iv, path = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
p = psutil.Process(pid)
f = open(path, "a", buffering=1, encoding="utf-8")
start = time.monotonic(); k = 0; base = None; peak = 0.0
while True:
    m = p.memory_info(); v = psutil.virtual_memory()
    rss = m.rss / 1048576; vms = m.vms / 1048576
    base = rss if base is None else base; peak = max(peak, rss)
    e = int(time.monotonic() - start)
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    f.write("[%s] 経過: %02d:%02d:%02d | RSS: %.2fMB (初期比: %+.2fMB) | VMS: %.2fMB | ピーク: %.2fMB | システム: %.1f%% (%.0fMB空き)\n"
            % (now, e // 3600, e // 60 % 60, e % 60, rss, rss - base, vms, peak, v.percent, v.available / 1048576))
    now = time.monotonic(); k += 1
    while start + k * iv <= now: k += 1
    time.sleep(start + k * iv - now)
"#;

impl Watcher {
    fn label(&self) -> &'static str {
        match self {
            Watcher::Memmon(_) => "memmon",
            Watcher::Limit(_) => "limit",
            Watcher::PythonPeer => "python-peer",
        }
    }

    fn command(&self, pid: u32, log: &Path) -> Command {
        let mut c = match self {
            Watcher::Memmon(bin) => {
                let mut c = Command::new(bin);
                c.args([
                    "run",
                    "--startup-delay",
                    "0",
                    "--pid",
                    &pid.to_string(),
                    "--interval",
                    INTERVAL,
                    "--log",
                ]);
                c
            }
            Watcher::Limit(bin) => {
                let mut c = Command::new(bin);
                c.args([&pid.to_string(), INTERVAL]);
                c
            }
            Watcher::PythonPeer => {
                let mut c = Command::new("python3");
                c.args(["-c", PSUTIL_LOOP, &pid.to_string(), INTERVAL]);
                c
            }
        };
        c.arg(log);
        // memmon echoes each sample to stderr; to /dev/null, as under systemd without a journal.
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }
}

/// A child killed and reaped however the bench leaves its scope.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One watcher's measurements: one entry per round.
#[derive(Debug, Default, Clone)]
pub struct Cost {
    /// CPU per sample in the measuring window, µs.
    pub cpu_per_sample_us: Vec<f64>,
    /// Peak RSS at the end of the round, KiB.
    pub peak_rss_kib: Vec<f64>,
}

/// Runs `rounds` interleaved rounds of every watcher, each measured for `window`, all watching
/// one `sleep` child; returns the costs in the order of `watchers`.
pub fn measure(
    watchers: &[Watcher],
    rounds: usize,
    window: Duration,
    dir: &Path,
) -> Result<Vec<Cost>> {
    let target = Command::new("sleep")
        .arg("3600")
        .spawn()
        .map_err(|e| fail!("cannot start `sleep`: {e}"))?;
    let target = Reaped(target);
    let pid = target.0.id();
    let mut costs = vec![Cost::default(); watchers.len()];
    for (i, kind) in interleaved(watchers.len(), rounds).into_iter().enumerate() {
        let watcher = &watchers[kind];
        let log = dir.join(format!("run-{i}-{}.log", watcher.label()));
        let (cpu, rss) = one_round(watcher, pid, &log, window)?;
        costs[kind].cpu_per_sample_us.push(cpu);
        costs[kind].peak_rss_kib.push(rss);
        let _ = std::fs::remove_file(&log);
    }
    drop(target);
    Ok(costs)
}

fn one_round(watcher: &Watcher, pid: u32, log: &Path, window: Duration) -> Result<(f64, f64)> {
    let child = watcher
        .command(pid, log)
        .spawn()
        .map_err(|e| fail!("cannot start the {} watcher: {e}", watcher.label()))?;
    let mut child = Reaped(child);
    let wpid = child.0.id();
    std::thread::sleep(SETTLE);
    let (cpu1, lines1) = (cpu_ns(wpid)?, count_lines(log)?);
    std::thread::sleep(window);
    let (cpu2, lines2) = (cpu_ns(wpid)?, count_lines(log)?);
    let rss = peak_rss_kib(wpid)?;
    if let Ok(Some(status)) = child.0.try_wait() {
        return Err(fail!(
            "the {} watcher exited early ({status})",
            watcher.label()
        ));
    }
    let samples = lines2.saturating_sub(lines1);
    if samples == 0 {
        return Err(fail!(
            "the {} watcher wrote no sample in {:.1} s",
            watcher.label(),
            window.as_secs_f64()
        ));
    }
    let cpu_us = cpu2.saturating_sub(cpu1) as f64 / 1e3 / samples as f64;
    Ok((cpu_us, rss as f64))
}

/// Why the psutil peer cannot run here, or `None` when it can (`python3 -c 'import psutil'`
/// succeeds). The bench never installs psutil.
pub fn python_peer_unavailable() -> Option<String> {
    match Command::new("python3")
        .args(["-c", "import psutil"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => None,
        Ok(_) => Some("psutil is not installed for python3 (the bench never installs it)".into()),
        Err(e) => Some(format!("python3 cannot run: {e}")),
    }
}
