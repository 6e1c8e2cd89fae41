//! What the idle hook costs a Python process memmon starts with tracemalloc off (#19: the hook
//! goes into every Python process memmon starts, and listens until asked):
//!
//! - `python-idle-hook-rss-kib`: the RSS it adds, per process;
//! - `python-idle-hook-cpu-us-per-s`: the CPU it adds while the client idles, per second;
//! - `python-idle-hook-startup-us`: the time it adds to the interpreter's start.
//!
//! The client is a minimal Python (`IDLE`: prints its PID, then sleeps): what the hook adds is
//! its own (a socket, a thread, `_socket` and `threading` loaded), whatever the client holds, so
//! a bigger client would only add noise to a difference. It runs alone and under
//! `memmon run --startup-delay 0 --interval 1` (tracemalloc off, the default) in interleaved
//! rounds; after a settling time its RSS (`VmRSS`) is read and its CPU (every thread's
//! `schedstat`, nanoseconds) over a window. Each figure is the median over rounds of the
//! per-round difference, hooked − alone.
//!
//! Start-up is the time from spawning `memmon run --startup-delay 0` to the first line a Python
//! that prints and exits writes, with `--python-hook off` and with the default `auto`: the
//! difference is the hook's (its directory, `sitecustomize` loaded, the socket and thread
//! started), not memmon's own start. The same Python alone is timed too, for the stderr summary.

use super::child::{poll, stop};
use super::figures::{Figure, Unit};
use super::procfs::cpu_ns;
use super::python_hook::unavailable;
use super::stats::{interleaved, median};
use crate::cmd::Cmd;
use crate::{fail, Result};
use std::io::Read as _;
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const RSS_NAME: &str = "python-idle-hook-rss-kib";
const CPU_NAME: &str = "python-idle-hook-cpu-us-per-s";
const STARTUP_NAME: &str = "python-idle-hook-startup-us";

/// The idle client: its PID on its first line, then a sleep of argv[1] seconds.
const IDLE: &str = "import os, sys, time
print('idle: ready pid %d' % os.getpid(), flush=True)
time.sleep(float(sys.argv[1]))
";

/// The start-up client: one line, then exit.
const HELLO: &str = "print('up', flush=True)";

/// From the client's first line to the first reading: its start-up done, memmon's first sample
/// (at once) taken.
const SETTLE: Duration = Duration::from_millis(500);
/// How long the client sleeps past the window, so that it is alive at the window's end.
const MARGIN: Duration = Duration::from_millis(500);
/// A run still going after this long is stopped and the figures fail.
const DEADLINE: Duration = Duration::from_secs(60);
/// How often a run is checked.
const POLL: Duration = Duration::from_millis(10);

/// The bench's three idle-hook lines: `rounds` rounds of the idle client each side measured over
/// `window`, `start_rounds` rounds of the start-up sides, with `memmon`, files in `dir`.
pub fn figures(
    rounds: usize,
    window: Duration,
    start_rounds: usize,
    memmon: &Path,
    dir: &Path,
) -> Vec<Figure> {
    if let Some(reason) = unavailable() {
        return [RSS_NAME, CPU_NAME, STARTUP_NAME]
            .into_iter()
            .map(|n| Figure::skipped(n, reason.clone()))
            .collect();
    }
    let dir = dir.join("python_idle");
    if let Err(e) = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("idle.py"), IDLE))
        .and_then(|()| std::fs::write(dir.join("hello.py"), HELLO))
    {
        let why = format!("cannot prepare {}: {e}", dir.display());
        return [RSS_NAME, CPU_NAME, STARTUP_NAME]
            .into_iter()
            .map(|n| Figure::failed(n, why.clone()))
            .collect();
    }
    let mut out = match idle(rounds, window, memmon, &dir) {
        Ok((rss, cpu)) => vec![
            Figure::from_option(RSS_NAME, median(&rss), Unit::Kib, "no round measured"),
            Figure::from_option(CPU_NAME, median(&cpu), Unit::Us, "no round measured"),
        ],
        Err(e) => vec![
            Figure::failed(RSS_NAME, e.0.clone()),
            Figure::failed(CPU_NAME, e.0),
        ],
    };
    out.push(match startup(start_rounds, memmon, &dir) {
        Ok(added) => Figure::from_option(STARTUP_NAME, median(&added), Unit::Us, "no round"),
        Err(e) => Figure::failed(STARTUP_NAME, e.0),
    });
    out
}

/// What one idle run measured: the client's RSS in KiB, its CPU in µs per second of window.
struct Idle {
    rss_kib: f64,
    cpu_us_per_s: f64,
}

/// Per round, hooked − alone: the RSS in KiB and the CPU in µs per second.
fn idle(
    rounds: usize,
    window: Duration,
    memmon: &Path,
    dir: &Path,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let sleep = (SETTLE + window + MARGIN).as_secs_f64().to_string();
    let alone = Cmd::new("python3").args(["idle.py", &sleep]).cwd(dir);
    let hooked = Cmd::new(memmon.display().to_string())
        .args(["run", "--startup-delay", "0", "--interval", "1"])
        .args(["--log", "idle.log", "--", "python3", "idle.py", &sleep])
        .cwd(dir);
    eprintln!(
        "bench: the idle hook, {rounds} rounds of a {:.1} s window: `{alone}` and `{hooked}`",
        window.as_secs_f64()
    );
    let sides = [&alone, &hooked];
    let mut runs: [Vec<Idle>; 2] = [Vec::new(), Vec::new()];
    for side in interleaved(sides.len(), rounds) {
        runs[side].push(idle_run(sides[side], window, dir)?);
    }
    let [alone, hooked] = runs;
    let diff = |f: fn(&Idle) -> f64| -> Vec<f64> {
        hooked
            .iter()
            .zip(&alone)
            .map(|(h, a)| f(h) - f(a))
            .collect()
    };
    let (rss, cpu) = (diff(|r| r.rss_kib), diff(|r| r.cpu_us_per_s));
    let med = |runs: &[Idle], f: fn(&Idle) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    eprintln!(
        "bench: the idle client's RSS, KiB: alone {:?}, hooked {:?}; CPU, us/s: alone {:?}, \
         hooked {:?} (medians)",
        med(&alone, |r| r.rss_kib),
        med(&hooked, |r| r.rss_kib),
        med(&alone, |r| r.cpu_us_per_s),
        med(&hooked, |r| r.cpu_us_per_s),
    );
    Ok((rss, cpu))
}

/// One run of the idle client: its PID from its first line, then its RSS and CPU over `window`
/// after [`SETTLE`]; the run is then waited for (it ends by itself).
fn idle_run(c: &Cmd, window: Duration, dir: &Path) -> Result<Idle> {
    let out_path = dir.join("idle.stdout");
    let stdout = std::fs::File::create(&out_path)
        .map_err(|e| fail!("cannot create {}: {e}", out_path.display()))?;
    let mut child = c
        .command()
        .env_remove("PYTHONTRACEMALLOC")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| fail!("cannot run `{}`: {e}", c.program))?;
    let started = Instant::now();
    let pid = loop {
        if let Some(status) = poll(&mut child, c, started, DEADLINE)? {
            return Err(fail!(
                "`{c}` ended ({status}) before its client said its PID"
            ));
        }
        let text = std::fs::read_to_string(&out_path).unwrap_or_default();
        if let Some(pid) = ready_pid(&text) {
            break pid;
        }
        std::thread::sleep(POLL);
    };
    std::thread::sleep(SETTLE);
    let measured = (|| {
        let before = cpu_ns(pid)?;
        let from = Instant::now();
        std::thread::sleep(window);
        let cpu = cpu_ns(pid)?.saturating_sub(before);
        let secs = from.elapsed().as_secs_f64();
        let rss = vm_rss_kib(pid).ok_or_else(|| fail!("cannot read the RSS of PID {pid}"))?;
        Ok(Idle {
            rss_kib: rss,
            cpu_us_per_s: cpu as f64 / 1e3 / secs,
        })
    })();
    let status = loop {
        match poll(&mut child, c, started, DEADLINE) {
            Ok(Some(status)) => break status,
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => return Err(e),
        }
    };
    if !status.success() {
        return Err(fail!("`{c}` failed ({status})"));
    }
    measured
}

/// Per round, the hook's start-up time in µs: (memmon with the hook) − (memmon without it).
fn startup(rounds: usize, memmon: &Path, dir: &Path) -> Result<Vec<f64>> {
    let alone = Cmd::new("python3").arg("hello.py").cwd(dir);
    let under = |hook: &str| {
        Cmd::new(memmon.display().to_string())
            .args(["run", "--startup-delay", "0", "--python-hook", hook])
            .args(["--log", "hello.log", "--", "python3", "hello.py"])
            .cwd(dir)
    };
    let sides = [alone, under("off"), under("auto")];
    eprintln!(
        "bench: start-up, {rounds} rounds of `{}`, `{}` and `{}`",
        sides[0], sides[1], sides[2]
    );
    let mut times: [Vec<f64>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for side in interleaved(sides.len(), rounds) {
        times[side].push(first_line_us(&sides[side])?);
    }
    let added: Vec<f64> = times[2].iter().zip(&times[1]).map(|(h, o)| h - o).collect();
    eprintln!(
        "bench: time to the first line, us (medians): python alone {:?}, under memmon without \
         the hook {:?}, with it {:?}",
        median(&times[0]),
        median(&times[1]),
        median(&times[2])
    );
    Ok(added)
}

/// Microseconds from spawning `c` to its first byte on stdout; then the run is waited for.
fn first_line_us(c: &Cmd) -> Result<f64> {
    let started = Instant::now();
    let mut child = c
        .command()
        .env_remove("PYTHONTRACEMALLOC")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| fail!("cannot run `{}`: {e}", c.program))?;
    let Some(mut stdout) = child.stdout.take() else {
        stop(&mut child);
        return Err(fail!("`{c}`: no stdout pipe"));
    };
    // Read on a thread so that a client that never prints cannot hang the bench.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut byte = [0u8; 1];
        let got = stdout.read(&mut byte).map(|n| (n, Instant::now()));
        let _ = tx.send(got);
        // Drained to the end, so the client never blocks on a full pipe.
        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
    });
    let first = rx.recv_timeout(DEADLINE);
    let status = loop {
        match poll(&mut child, c, started, DEADLINE) {
            Ok(Some(status)) => break status,
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => return Err(e),
        }
    };
    match first {
        Ok(Ok((1, at))) if status.success() => Ok(at.duration_since(started).as_secs_f64() * 1e6),
        _ => Err(fail!("`{c}` printed nothing or failed ({status})")),
    }
}

/// The PID in the client's `idle: ready pid N` line.
fn ready_pid(stdout: &str) -> Option<u32> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("idle: ready pid "))
        .and_then(|pid| pid.trim().parse().ok())
}

/// `VmRSS` of `pid` in KiB; `None` once it is gone.
fn vm_rss_kib(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_clients_pid_is_read_from_its_line() {
        assert_eq!(ready_pid("idle: ready pid 4242\n"), Some(4242));
        assert_eq!(ready_pid("idle: ready pi"), None);
        assert_eq!(ready_pid(""), None);
    }
}
