//! `python-hook-ratio` and `tracemalloc-ratio`: what memmon's Python hook costs an
//! allocation-heavy client beyond tracemalloc's own cost, and what tracemalloc itself costs it;
//! `python-hook-cpu-share`: the CPU the hook's snapshot thread used over the loop's time, both
//! measured inside the same hooked run (the part of the first figure that machine drift between
//! runs cannot move).
//!
//! One pure-Python workload (`xtask/bench/py_alloc.py`) runs three ways in interleaved rounds:
//! plain, with `PYTHONTRACEMALLOC=1`, and under `memmon run --startup-delay 0 --interval 0.1
//! --detail`, whose hook traces from the workload's start (the first sample comes before it)
//! with 1 frame and serves the snapshot memmon asks for every 10th sample. The script times its own loop, so neither interpreter nor memmon start-up is in the
//! figures. Its iteration count is calibrated first, under tracemalloc, so that a traced run
//! lasts about the plan's target on whatever machine runs the bench (a fixed count would be
//! too short for a snapshot on a fast machine); every side then runs that same count.
//!
//! What the hook adds is its snapshots, and a snapshot's cost grows with the client's live
//! traces: the workload keeps 1 000 to 2 000 small records alive (some 10 to 20 thousand
//! traces with the interpreter's own, a small heap), so a client holding more live objects pays
//! more than this figure. A bigger heap would also make a quick run end before its first
//! snapshot is answered (the snapshot thread shares the GIL with the loop).

use super::child::poll;
use super::figures::{parse_values, Figure, Unit};
use super::stats::{interleaved, median, median_ratio};
use crate::cmd::Cmd;
use crate::{fail, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The workload, written into the bench's directory so memmon's log names its lines.
const SCRIPT: &str = include_str!("../../bench/py_alloc.py");

const HOOK_NAME: &str = "python-hook-ratio";
const TRACEMALLOC_NAME: &str = "tracemalloc-ratio";
/// The CPU of the hook's thread over the loop's time, both measured inside the hooked client
/// during the same loop: unlike the ratio of two runs, a change in machine speed between runs
/// (up to 2x here) moves both sides of it alike.
const SHARE_NAME: &str = "python-hook-cpu-share";

/// memmon's interval on the hooked side: with a detail block every 10th sample, the client is
/// asked for a snapshot about once a second.
const INTERVAL: &str = "0.1";

/// How long each calibration run loops, and how many there are. The fastest counts: a burst of
/// load from another process during one would make every run too short for a snapshot, and
/// runs a little long only cost time.
const CALIBRATION: Duration = Duration::from_millis(300);
const CALIBRATIONS: usize = 2;

/// The most iterations a run may be given, whatever the calibration says.
const MAX_ITERATIONS: u64 = 50_000_000;

/// A run still going after this long is stopped and the figures fail: a hung client or memmon
/// must not hang CI.
const DEADLINE: Duration = Duration::from_secs(120);

/// How often a running workload is checked; its timing is its own, so this costs it nothing.
const POLL: Duration = Duration::from_millis(20);

/// The line that opens each tracemalloc block in memmon's log.
const BLOCK: &str = "  [tracemalloc] Current:";

/// The checks that memmon's hook can run in this `python3` (see the hook's docstring).
const PROBE: &str = "import sys, socket, tracemalloc\n\
                     sys.exit(0 if sys.version_info >= (3, 8) and hasattr(socket, 'AF_UNIX') else 3)";

/// One way of running the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// `python3 py_alloc.py …`, without `PYTHONTRACEMALLOC`.
    Plain,
    /// The same with `PYTHONTRACEMALLOC=1`.
    Traced,
    /// `memmon run --startup-delay 0 --interval 0.1 --detail --log LOG -- python3 py_alloc.py …`.
    Hooked,
}

/// The sides in the order `interleaved` numbers them.
const SIDES: [Side; 3] = [Side::Plain, Side::Traced, Side::Hooked];

/// Seconds of the workload's loop per side, one entry per round; tracemalloc blocks per
/// hooked run; and why the hooked side stopped, if it did (the other ratio is still worth
/// having then), with whether that was a run that ended before its first snapshot came.
#[derive(Debug, Default)]
struct Times {
    plain: Vec<f64>,
    traced: Vec<f64>,
    hooked: Vec<f64>,
    /// Per hooked run: the other threads' CPU seconds over the loop's seconds.
    hook_cpu: Vec<f64>,
    blocks: Vec<usize>,
    hook_failure: Option<String>,
    unanswered: bool,
}

/// The bench's `python-hook-ratio`, `python-hook-cpu-share` and `tracemalloc-ratio` lines: `rounds` interleaved rounds
/// of runs lasting about `traced_secs` under tracemalloc, with `memmon` for the hooked side,
/// files in `dir`.
pub fn figures(rounds: usize, traced_secs: f64, memmon: &Path, dir: &Path) -> Vec<Figure> {
    if let Some(reason) = unavailable() {
        return vec![
            Figure::skipped(HOOK_NAME, reason.clone()),
            Figure::skipped(SHARE_NAME, reason.clone()),
            Figure::skipped(TRACEMALLOC_NAME, reason),
        ];
    }
    let bench = Bench {
        memmon,
        dir,
        script: dir.join("py_alloc.py"),
    };
    let times = match bench.measure(rounds, traced_secs) {
        Ok(t) => t,
        Err(e) => {
            return vec![
                Figure::failed(HOOK_NAME, e.0.clone()),
                Figure::failed(SHARE_NAME, e.0.clone()),
                Figure::failed(TRACEMALLOC_NAME, e.0),
            ]
        }
    };
    let missing = "no round measured";
    let (ratio, share) = match times.hook_failure {
        Some(reason) => (
            Figure::failed(HOOK_NAME, reason.clone()),
            Figure::failed(SHARE_NAME, reason),
        ),
        None => (
            Figure::from_option(
                HOOK_NAME,
                median_ratio(&times.hooked, &times.traced),
                Unit::Ratio,
                missing,
            ),
            Figure::from_option(SHARE_NAME, median(&times.hook_cpu), Unit::Ratio, missing),
        ),
    };
    vec![
        ratio,
        share,
        Figure::from_option(
            TRACEMALLOC_NAME,
            median_ratio(&times.traced, &times.plain),
            Unit::Ratio,
            missing,
        ),
    ]
}

/// Why the hook cannot be measured here, or `None` when `python3` can run it.
pub(super) fn unavailable() -> Option<String> {
    match Command::new("python3")
        .args(["-c", PROBE])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(s) if s.success() => None,
        Ok(_) => Some(
            "python3 lacks what memmon's hook needs (Python 3.8+ with tracemalloc and Unix sockets)"
                .into(),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Some("python3 is not installed".into())
        }
        Err(e) => Some(format!("python3 cannot run: {e}")),
    }
}

/// Where the runs happen.
struct Bench<'a> {
    memmon: &'a Path,
    dir: &'a Path,
    script: PathBuf,
}

impl Bench<'_> {
    fn measure(&self, rounds: usize, traced_secs: f64) -> Result<Times> {
        let started = Instant::now();
        std::fs::write(&self.script, SCRIPT)
            .map_err(|e| fail!("cannot write {}: {e}", self.script.display()))?;
        let mut iterations = self.calibrate(traced_secs)?;
        let mut times = self.rounds(rounds, iterations, traced_secs)?;
        if times.unanswered {
            // Most likely the machine got busier after the calibration: once more, longer.
            // A hook that never answers fails again, at the cost of one more try.
            iterations = iterations.saturating_mul(2).min(MAX_ITERATIONS);
            eprintln!(
                "bench: a hooked run ended before its first snapshot came; again with twice \
                 the iterations"
            );
            times = self.rounds(rounds, iterations, 2.0 * traced_secs)?;
        }
        eprintln!(
            "bench: python loop seconds: plain {:?}, traced {:?}, hooked {:?} \
             (tracemalloc blocks per hooked run {:?}, the hook thread's CPU over the loop's \
             time {:?}); {:.1} s in all",
            rounded(&times.plain),
            rounded(&times.traced),
            rounded(&times.hooked),
            times.blocks,
            rounded(&times.hook_cpu),
            started.elapsed().as_secs_f64()
        );
        Ok(times)
    }

    /// `rounds` interleaved rounds of the three sides, each running `iterations`.
    fn rounds(&self, rounds: usize, iterations: u64, traced_secs: f64) -> Result<Times> {
        eprintln!(
            "bench: python workload of {iterations} iterations (about {traced_secs:.1} s under \
             tracemalloc), {rounds} rounds of plain, PYTHONTRACEMALLOC=1, and `{}`",
            self.command(Side::Hooked, "run", &iterations.to_string())
        );
        let mut times = Times::default();
        for (i, kind) in interleaved(SIDES.len(), rounds).into_iter().enumerate() {
            let side = SIDES[kind];
            match side {
                Side::Plain => times.plain.push(self.run(side, iterations)?.secs),
                Side::Traced => times.traced.push(self.run(side, iterations)?.secs),
                // After one failure the hooked side's figure is lost: spare the time.
                Side::Hooked if times.hook_failure.is_some() => {}
                Side::Hooked => match self.run(side, iterations) {
                    // Without a block the round did not measure the hook.
                    Ok(run) if run.blocks == 0 => {
                        times.unanswered = true;
                        times.hook_failure = Some(format!(
                            "memmon's log of round {} has no tracemalloc block, so the hook was \
                             never measured (the loop ran {:.2} s; the first snapshot is asked \
                             for about 0.9 s after the start){}",
                            i / SIDES.len() + 1,
                            run.secs,
                            run.said
                        ));
                    }
                    Ok(run) => {
                        times.hooked.push(run.secs);
                        times.hook_cpu.push(run.others_cpu / run.secs);
                        times.blocks.push(run.blocks);
                    }
                    Err(e) => times.hook_failure = Some(e.0),
                },
            }
        }
        Ok(times)
    }

    /// The iteration count for a traced run of about `traced_secs`, at the fastest rate of
    /// [`CALIBRATIONS`] short traced runs.
    fn calibrate(&self, traced_secs: f64) -> Result<u64> {
        let c = self.command(
            Side::Traced,
            "calibrate",
            &CALIBRATION.as_secs_f64().to_string(),
        );
        eprintln!("bench: {c} (×{CALIBRATIONS})");
        let mut fastest = 0.0f64;
        for _ in 0..CALIBRATIONS {
            let ran = run(&c, false, self.dir)?;
            let out = ran.success(&c)?;
            let done = one_value(out, "py-alloc-iterations");
            let secs = one_value(out, "py-alloc-seconds");
            match (done, secs) {
                (Some(done), Some(secs)) => fastest = fastest.max(done / secs),
                _ => {
                    return Err(fail!(
                        "`{c}` printed no `py-alloc-iterations: N` and `py-alloc-seconds: S` \
                         lines: {:?}",
                        out.trim()
                    ))
                }
            }
        }
        Ok(iterations_for(traced_secs, fastest))
    }

    /// One run of `side`.
    fn run(&self, side: Side, iterations: u64) -> Result<Measured> {
        let c = self.command(side, "run", &iterations.to_string());
        let out = run(&c, side != Side::Traced, self.dir)?;
        let log_text = (side == Side::Hooked).then(|| {
            let text = std::fs::read_to_string(self.log());
            let _ = std::fs::remove_file(self.log());
            text
        });
        let stdout = out.success(&c)?;
        let secs = one_value(stdout, "py-alloc-seconds").ok_or_else(|| {
            fail!(
                "`{c}` printed no `py-alloc-seconds: S` line: {:?}",
                stdout.trim()
            )
        })?;
        // A hooked run that answered a snapshot used some CPU beside the loop; the others
        // report none (`one_value` takes only positive values).
        let others_cpu = one_value(stdout, "py-alloc-other-threads-cpu-seconds").unwrap_or(0.0);
        let blocks = match log_text {
            Some(text) => tracemalloc_blocks(
                &text.map_err(|e| fail!("cannot read {}: {e}", self.log().display()))?,
            ),
            None => 0,
        };
        Ok(Measured {
            secs,
            others_cpu,
            blocks,
            said: explain(&out.stderr),
        })
    }

    fn log(&self) -> PathBuf {
        self.dir.join("py-hook.log")
    }

    /// The command of `side` running the workload in `mode` (`run` or `calibrate`) with
    /// `amount`. It runs in the bench's directory, where no `client_config.json` can change
    /// memmon's settings.
    fn command(&self, side: Side, mode: &str, amount: &str) -> Cmd {
        let c = match side {
            Side::Plain => Cmd::new("python3"),
            Side::Traced => Cmd::new("python3").env("PYTHONTRACEMALLOC", "1"),
            // The first sample at once: the hook then traces the workload from its start, as
            // `PYTHONTRACEMALLOC=1` does on the traced side, so the two compare like for like.
            Side::Hooked => Cmd::new(self.memmon.display().to_string())
                .args(["run", "--startup-delay", "0", "--interval", INTERVAL])
                .args(["--detail", "--log"])
                .path_arg(&self.log())
                .args(["--", "python3"]),
        };
        c.path_arg(&self.script).args([mode, amount]).cwd(self.dir)
    }
}

/// What one run of the workload measured.
struct Measured {
    /// Seconds of the loop.
    secs: f64,
    /// CPU seconds of the process's other threads during the loop.
    others_cpu: f64,
    /// Tracemalloc blocks in memmon's log (hooked side only; 0 for the others).
    blocks: usize,
    /// What its stderr said that may explain a missing block (see [`explain`]).
    said: String,
}

/// What a finished run left.
struct Ran {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// The stdout of a run that exited 0; else a failure naming `c` and what it said.
    fn success(&self, c: &Cmd) -> Result<&str> {
        if self.status.success() {
            Ok(&self.stdout)
        } else {
            Err(fail!(
                "`{c}` failed ({}){}",
                self.status,
                explain(&self.stderr)
            ))
        }
    }
}

/// Runs `c` with stdout and stderr in files of `dir` (nothing of it reaches the bench's own
/// output, and no pipe can fill up), without `PYTHONTRACEMALLOC` when `unset`, stopping it
/// past [`DEADLINE`].
fn run(c: &Cmd, unset: bool, dir: &Path) -> Result<Ran> {
    let (out_path, err_path) = (dir.join("py.stdout"), dir.join("py.stderr"));
    let create = |p: &Path| {
        std::fs::File::create(p).map_err(|e| fail!("cannot create {}: {e}", p.display()))
    };
    let mut command = c.command();
    if unset {
        command.env_remove("PYTHONTRACEMALLOC");
    }
    command
        .stdin(Stdio::null())
        .stdout(create(&out_path)?)
        .stderr(create(&err_path)?);
    let mut child = command
        .spawn()
        .map_err(|e| fail!("cannot run `{}`: {e}", c.program))?;
    let started = Instant::now();
    let status = loop {
        match poll(&mut child, c, started, DEADLINE)? {
            Some(status) => break status,
            None => std::thread::sleep(POLL),
        }
    };
    let read = |p: &Path| {
        std::fs::read(p)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| fail!("cannot read {}: {e}", p.display()))
    };
    Ok(Ran {
        status,
        stdout: read(&out_path)?,
        stderr: read(&err_path)?,
    })
}

/// The one value of `name` in the workload's stdout: exactly one line of it, a finite number
/// above zero; `None` otherwise.
fn one_value(stdout: &str, name: &str) -> Option<f64> {
    match parse_values(stdout).get(name).map(Vec::as_slice) {
        Some(&[v]) if v.is_finite() && v > 0.0 => Some(v),
        _ => None,
    }
}

/// Iterations for a traced run of about `target` s at `per_s` iterations a second: rounded up
/// to a thousand, at most [`MAX_ITERATIONS`].
fn iterations_for(target: f64, per_s: f64) -> u64 {
    let thousands = (target * per_s / 1000.0).ceil().max(1.0);
    // A float-to-int `as` saturates, and the bound makes any huge value moot.
    ((thousands as u64).saturating_mul(1000)).min(MAX_ITERATIONS)
}

/// How many tracemalloc blocks a memmon log holds.
fn tracemalloc_blocks(log: &str) -> usize {
    log.lines().filter(|l| l.starts_with(BLOCK)).count()
}

/// What a run's stderr says about why it went wrong, as `: …` to append to a message, or
/// nothing: memmon's and the hook's own lines (`memmon: …`, `[memmon] …`), else the last line
/// that is not one of memmon's sample echoes.
fn explain(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().map(str::trim).collect();
    let own: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("memmon:") || l.starts_with("[memmon]"))
        .collect();
    let said = if own.is_empty() {
        lines
            .iter()
            .rev()
            .find(|l| !l.is_empty() && !l.starts_with("[MemoryMonitor]"))
            .map(|l| vec![*l])
            .unwrap_or_default()
    } else {
        own
    };
    if said.is_empty() {
        String::new()
    } else {
        format!(": {}", said.join("; "))
    }
}

/// Seconds to the millisecond, for the progress line.
fn rounded(secs: &[f64]) -> Vec<f64> {
    secs.iter().map(|s| (s * 1000.0).round() / 1000.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workload_prints_one_positive_value_per_name() {
        let out = "py-alloc-iterations: 26000\npy-alloc-seconds: 0.402531\n";
        assert_eq!(one_value(out, "py-alloc-iterations"), Some(26000.0));
        assert_eq!(one_value(out, "py-alloc-seconds"), Some(0.402531));
        let run = "py-alloc-seconds: 1.5\npy-alloc-other-threads-cpu-seconds: 0.025\n";
        assert_eq!(one_value(run, "py-alloc-seconds"), Some(1.5));
        assert_eq!(
            one_value(run, "py-alloc-other-threads-cpu-seconds"),
            Some(0.025)
        );
        // Lines a client or a hook might add around it are ignored.
        let noisy = "starting\npy-alloc-seconds: 2.5 s\n[memmon] note\n";
        assert_eq!(one_value(noisy, "py-alloc-seconds"), Some(2.5));
    }

    #[test]
    fn a_missing_repeated_or_meaningless_value_is_none() {
        assert_eq!(one_value("", "py-alloc-seconds"), None);
        assert_eq!(
            one_value("py-alloc-seconds: soon\n", "py-alloc-seconds"),
            None
        );
        assert_eq!(one_value("py-alloc-seconds: 0\n", "py-alloc-seconds"), None);
        assert_eq!(
            one_value("py-alloc-seconds: -1\n", "py-alloc-seconds"),
            None
        );
        assert_eq!(
            one_value("py-alloc-seconds: NaN\n", "py-alloc-seconds"),
            None
        );
        assert_eq!(
            one_value("py-alloc-seconds: inf\n", "py-alloc-seconds"),
            None
        );
        let twice = "py-alloc-seconds: 1\npy-alloc-seconds: 2\n";
        assert_eq!(one_value(twice, "py-alloc-seconds"), None);
    }

    #[test]
    fn iterations_scale_the_calibration_to_the_target() {
        // 26 000 iterations in 0.4 s: 1.2 s is three times as many.
        assert_eq!(iterations_for(1.2, 26_000.0 / 0.4), 78_000);
        assert_eq!(iterations_for(2.5, 1_000.0 / 0.3), 9_000);
        assert_eq!(iterations_for(1.0, 1e-9), 1_000);
        assert_eq!(iterations_for(1.0, 0.0), 1_000);
        assert_eq!(iterations_for(1e9, 1e18), MAX_ITERATIONS);
    }

    #[test]
    fn tracemalloc_blocks_are_counted_from_memmon_log() {
        let log = "\
[2026-11-25 11:10:27] 経過: 00:00:00 | RSS: 21.16MB (初期比: +19.71MB) | VMS: 96.25MB
  [tracemalloc] Current: 2.82MB, Peak: 2.84MB
  [Top 10 メモリ消費箇所]
    /tmp/py_alloc.py:32: size=924 KiB, count=10285, average=92 B
[2026-11-25 11:10:28] 経過: 00:00:01 | RSS: 30.00MB (初期比: +28.55MB) | VMS: 99.00MB
  [tracemalloc] Current: 3.10MB, Peak: 3.20MB
";
        assert_eq!(tracemalloc_blocks(log), 2);
        assert_eq!(tracemalloc_blocks("  [smaps] Rss: 21.16MB\n"), 0);
        assert_eq!(tracemalloc_blocks(""), 0);
    }

    #[test]
    fn explain_prefers_memmon_and_hook_lines_over_sample_echoes() {
        let stderr = "[MemoryMonitor] モニタリング開始 (間隔: 0.1秒)\n\
                      memmon: cannot set up the Python tracemalloc hook: denied; detail comes from smaps\n\
                      [MemoryMonitor] [2026-11-25 11:10:27] 経過: 00:00:00\n\
                      [memmon] tracemalloc hook disabled: starting: boom\n";
        assert_eq!(
            explain(stderr),
            ": memmon: cannot set up the Python tracemalloc hook: denied; detail comes from \
             smaps; [memmon] tracemalloc hook disabled: starting: boom"
        );
        let traceback = "Traceback (most recent call last):\n  File \"x\"\nValueError: bad\n\
                         [MemoryMonitor] モニタリング停止\n";
        assert_eq!(explain(traceback), ": ValueError: bad");
        assert_eq!(explain("[MemoryMonitor] only echoes\n"), "");
        assert_eq!(explain(""), "");
    }

    #[test]
    fn the_hooked_side_runs_memmon_with_the_detail_block_at_a_tenth_of_a_second() {
        let dir = Path::new("/b");
        let bench = Bench {
            memmon: Path::new("/t/release/memmon"),
            dir,
            script: dir.join("py_alloc.py"),
        };
        assert_eq!(
            bench.command(Side::Hooked, "run", "5000").to_string(),
            "cd /b && /t/release/memmon run --startup-delay 0 --interval 0.1 --detail --log \
             /b/py-hook.log -- python3 /b/py_alloc.py run 5000"
        );
        assert_eq!(
            bench.command(Side::Traced, "calibrate", "0.4").to_string(),
            "cd /b && PYTHONTRACEMALLOC=1 python3 /b/py_alloc.py calibrate 0.4"
        );
        assert_eq!(
            bench.command(Side::Plain, "run", "5000").to_string(),
            "cd /b && python3 /b/py_alloc.py run 5000"
        );
    }
}
