//! `python-hook-rss-ratio`: what memmon's tracemalloc hook costs a client in memory. The users'
//! 34 MB client measured 72.8 MB under memmon when it was traced from the interpreter's start
//! (every import traced) and grew at each snapshot; the target is ≤ 1.10.
//!
//! The client is the tests' stand-in of the Pi's (`tests/pi_client/`: 40-odd MB of tables and
//! libraries loaded at start-up, then a card loop with worker threads, sqlite and HTTP on
//! loopback). It runs alone and under `memmon run --startup-delay 1.5 --interval 0.1 --detail`
//! in interleaved rounds; the hooked client starts tracing at memmon's first sample, once
//! loaded, and answers a snapshot about every second. Its RSS (`VmRSS` of the Python process,
//! read every 50 ms) is taken over the last half second before it exits, after its snapshots;
//! the figure is the median over rounds of hooked / alone.

use super::child::poll;
use super::figures::{Figure, Unit};
use super::python_hook::unavailable;
use super::stats::{interleaved, median, median_ratio};
use crate::cmd::Cmd;
use crate::{fail, Result};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

const NAME: &str = "python-hook-rss-ratio";

/// The client and the tables it imports, written into the bench's directory.
const CLIENT: &str = include_str!("../../../tests/pi_client/pi_client.py");
const ROSTER: &str = include_str!("../../../tests/pi_client/roster.py");

/// memmon's first sample comes this long after the client's start: it loads in well under a
/// second here, so tracing starts once it has, as it would on the Pi with the default 60 s.
const STARTUP_DELAY: &str = "1.5";
/// A detail block (a snapshot) every 10th sample: about once a second.
const INTERVAL: &str = "0.1";
/// How often the client's RSS is read, and how much of its end is its steady RSS.
const POLL: Duration = Duration::from_millis(50);
const STEADY: Duration = Duration::from_millis(500);
/// A run still going after this long is stopped and the figure fails.
const DEADLINE: Duration = Duration::from_secs(60);

/// The bench's `python-hook-rss-ratio` line: `rounds` rounds of each side, the client's card
/// loop running `loop_secs`, with `memmon` for the hooked side, files in `dir`.
pub fn figure(rounds: usize, loop_secs: f64, memmon: &Path, dir: &Path) -> Figure {
    if let Some(reason) = unavailable() {
        return Figure::skipped(NAME, reason);
    }
    match measure(rounds, loop_secs, memmon, dir) {
        Ok((alone, hooked)) => Figure::from_option(
            NAME,
            median_ratio(&hooked, &alone),
            Unit::Ratio,
            "no round measured",
        ),
        Err(e) => Figure::failed(NAME, e.0),
    }
}

/// Per round, the client's steady RSS in KiB: alone, and under memmon.
fn measure(
    rounds: usize,
    loop_secs: f64,
    memmon: &Path,
    dir: &Path,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let dir = dir.join("pi_client");
    std::fs::create_dir_all(&dir).map_err(|e| fail!("cannot create {}: {e}", dir.display()))?;
    for (name, text) in [("pi_client.py", CLIENT), ("roster.py", ROSTER)] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| fail!("cannot write {}: {e}", path.display()))?;
    }
    let sides = [false, true];
    eprintln!(
        "bench: the Pi client stand-in, {loop_secs} s of card loop, {rounds} rounds alone and \
         `{}`",
        command(memmon, &dir, true, loop_secs)
    );
    let (mut alone, mut hooked) = (Vec::new(), Vec::new());
    let started = Instant::now();
    for side in interleaved(sides.len(), rounds) {
        let hook = sides[side];
        let rss = run(&command(memmon, &dir, hook, loop_secs), &dir)?;
        if hook {
            let log = std::fs::read_to_string(dir.join("memory_usage.log")).unwrap_or_default();
            let _ = std::fs::remove_file(dir.join("memory_usage.log"));
            if !log.contains("  [tracemalloc] Current:") {
                return Err(fail!(
                    "memmon's log has no tracemalloc block: the hooked client was never asked \
                     for a snapshot, so the figure would not measure one"
                ));
            }
            hooked.push(rss);
        } else {
            alone.push(rss);
        }
    }
    eprintln!(
        "bench: the client's steady RSS, KiB: alone {alone:?}, under memmon {hooked:?} (median \
         {:?} / {:?}); {:.1} s in all",
        median(&alone),
        median(&hooked),
        started.elapsed().as_secs_f64()
    );
    Ok((alone, hooked))
}

/// The client alone, or under memmon with tracemalloc.
fn command(memmon: &Path, dir: &Path, hook: bool, loop_secs: f64) -> Cmd {
    let c = if hook {
        Cmd::new(memmon.display().to_string())
            .args([
                "run",
                "--startup-delay",
                STARTUP_DELAY,
                "--interval",
                INTERVAL,
            ])
            .args(["--detail", "--log", "memory_usage.log", "--", "python3"])
    } else {
        Cmd::new("python3")
    };
    c.arg("pi_client.py")
        .env("PI_CLIENT_SECONDS", loop_secs.to_string())
        .cwd(dir)
}

/// Runs `c` and returns the client's steady RSS in KiB: the median of its `VmRSS` over the
/// last [`STEADY`] of its life. The client's PID is read from its `pi_client: ready pid N`.
fn run(c: &Cmd, dir: &Path) -> Result<f64> {
    let out_path = dir.join("client.stdout");
    let create = |p: &Path| {
        std::fs::File::create(p).map_err(|e| fail!("cannot create {}: {e}", p.display()))
    };
    let _ = std::fs::remove_file(dir.join("attendance.db"));
    let mut command = c.command();
    command
        .env_remove("PYTHONTRACEMALLOC")
        .stdin(Stdio::null())
        .stdout(create(&out_path)?)
        .stderr(create(&dir.join("client.stderr"))?);
    let mut child = command
        .spawn()
        .map_err(|e| fail!("cannot run `{}`: {e}", c.program))?;
    let started = Instant::now();
    let mut client: Option<PathBuf> = None;
    // (when, KiB) of every reading of the client's RSS.
    let mut readings: Vec<(Instant, f64)> = Vec::new();
    let status = loop {
        if let Some(status) = poll(&mut child, c, started, DEADLINE)? {
            break status;
        }
        if client.is_none() {
            client = std::fs::read_to_string(&out_path)
                .ok()
                .and_then(|out| ready_pid(&out))
                .map(|pid| PathBuf::from(format!("/proc/{pid}/status")));
        }
        if let Some(rss) = client.as_deref().and_then(vm_rss_kib) {
            readings.push((Instant::now(), rss));
        }
        std::thread::sleep(POLL);
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    if !status.success() || !stdout.contains("pi_client: done ") {
        let stderr = std::fs::read_to_string(dir.join("client.stderr")).unwrap_or_default();
        return Err(fail!(
            "`{c}` failed ({status}): {}",
            stderr.lines().last().unwrap_or("no output")
        ));
    }
    steady(&readings).ok_or_else(|| fail!("`{c}`: the client's RSS could not be read"))
}

/// The PID in the client's `pi_client: ready pid N` line.
fn ready_pid(stdout: &str) -> Option<u32> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("pi_client: ready pid "))
        .and_then(|pid| pid.trim().parse().ok())
}

/// `VmRSS` in KiB from a `/proc/PID/status`; `None` once the process is gone (or a zombie).
fn vm_rss_kib(status: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(status).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The median of the readings taken in the last [`STEADY`] before the last one.
fn steady(readings: &[(Instant, f64)]) -> Option<f64> {
    let (end, _) = *readings.last()?;
    let tail: Vec<f64> = readings
        .iter()
        .filter(|(at, _)| end.duration_since(*at) <= STEADY)
        .map(|&(_, kib)| kib)
        .collect();
    median(&tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clients_pid_and_rss_are_read_from_its_lines() {
        assert_eq!(ready_pid("pi_client: ready pid 4242\nmore\n"), Some(4242));
        assert_eq!(ready_pid("pi_client: ready pi"), None);
        let dir = std::env::temp_dir().join(format!("memmon-xtask-rss-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let status = dir.join("status");
        let _ = std::fs::write(
            &status,
            "Name:\tpython3\nVmHWM:\t   45000 kB\nVmRSS:\t   44228 kB\n",
        );
        assert_eq!(vm_rss_kib(&status), Some(44228.0));
        let _ = std::fs::write(&status, "Name:\tpython3\nState:\tZ (zombie)\n");
        assert_eq!(vm_rss_kib(&status), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_steady_rss_is_the_median_of_the_last_half_second() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let readings = [
            (at(0), 10.0),
            (at(400), 50.0),
            (at(1000), 40.0),
            (at(1200), 44.0),
            (at(1400), 42.0),
        ];
        assert_eq!(steady(&readings), Some(42.0));
        assert_eq!(steady(&[]), None);
    }

    #[test]
    fn the_hooked_side_starts_tracing_after_the_clients_start_up() {
        let c = command(Path::new("/m/memmon"), Path::new("/b"), true, 3.5);
        assert_eq!(
            c.to_string(),
            "cd /b && PI_CLIENT_SECONDS=3.5 /m/memmon run --startup-delay 1.5 --interval 0.1 --detail --log \
             memory_usage.log -- python3 pi_client.py"
        );
    }
}
