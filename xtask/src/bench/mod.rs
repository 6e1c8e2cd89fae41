//! `cargo xtask bench [--quick]`: memmon's own cost, against the least a watcher could do and
//! against its peers, as one `name: value unit` line per figure (see `BENCHMARKS.md`).
//!
//! The machine that runs it is usually shared and noisy, so every comparison runs its sides in
//! interleaved rounds (`stats::interleaved`) and reports the median; ratios are taken per round,
//! side by side, then their median. A figure this machine cannot produce for a known reason
//! prints `name: skipped: reason`; one that should have been produced and was not prints
//! `name: failed: reason` and makes the bench exit 2. Thresholds never fail it: the targets are
//! in `BENCHMARKS.md` for people to compare.

mod analyze;
mod child;
mod figures;
mod procfs;
mod python_hook;
mod python_idle;
mod python_probes;
mod python_rss;
mod run_cost;
mod stats;

use crate::cmd::{cargo, Cmd};
use crate::{fail, project_root, Result};
use figures::{parse_values, Figure, Unit};
use run_cost::Watcher;
use stats::{median, median_ratio};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage: cargo xtask bench [--quick]

Builds memmon and the bench helpers in release, then prints one `name: value unit` line per
figure (a median over interleaved rounds), or `name: skipped: reason`.

  --quick         fewer and shorter rounds: under 60 s after the build, for CI
  --only GROUP    only one group of figures: sample, run, alloc, analyze, python-hook,
                  python-rss, python-idle, python-probes or size (repeatable)
";

/// The groups `--only` names, in the order they run.
const GROUPS: [&str; 9] = [
    "sample",
    "run",
    "alloc",
    "analyze",
    "python-hook",
    "python-rss",
    "python-idle",
    "python-probes",
    "size",
];

/// How much work each figure gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plan {
    /// Samples per round and rounds of `sample_bench`.
    sample_iters: u32,
    sample_rounds: u32,
    /// Rounds and measuring window of the watchers.
    run_rounds: usize,
    run_window: Duration,
    /// Allocate/free pairs per thread and rounds of `alloc_bench`.
    alloc_pairs: u64,
    alloc_rounds: u32,
    /// Lines of the generated log and rounds of `memmon analyze`.
    analyze_lines: u64,
    analyze_rounds: usize,
    /// Rounds of the Python workload, and how long one run lasts under tracemalloc. The hooked
    /// run's first snapshot is asked for about 0.9 s in and takes the client a good fraction of
    /// a second to answer (a run that ends first logs none, and is tried again twice as long),
    /// so even a quick run lasts 1.6 s; quick mode has 2 rounds to stay near 10 s.
    py_rounds: usize,
    py_traced_run: Duration,
    /// Rounds of the Pi client stand-in alone and hooked, and how long its card loop runs
    /// (memmon's first sample comes 1.5 s after its start, a snapshot every second after that).
    py_rss_rounds: usize,
    py_rss_loop: Duration,
    /// Rounds of the idle client alone and under memmon with the idle hook, the window its RSS
    /// and CPU are measured over, and rounds of the start-up sides (a run is ~50 ms).
    py_idle_rounds: usize,
    py_idle_window: Duration,
    py_start_rounds: usize,
    /// Runs of the probes' client (`python_probes`, ~1 s each).
    py_probe_rounds: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                sample_iters: 3_000,
                sample_rounds: 5,
                run_rounds: 3,
                run_window: Duration::from_secs(1),
                alloc_pairs: 300_000,
                alloc_rounds: 9,
                analyze_lines: 200_000,
                analyze_rounds: 3,
                py_rounds: 2,
                py_traced_run: Duration::from_millis(1600),
                py_rss_rounds: 2,
                py_rss_loop: Duration::from_millis(3500),
                py_idle_rounds: 3,
                py_idle_window: Duration::from_secs(1),
                py_start_rounds: 15,
                py_probe_rounds: 3,
            }
        } else {
            Plan {
                sample_iters: 20_000,
                sample_rounds: 7,
                run_rounds: 5,
                run_window: Duration::from_secs(2),
                alloc_pairs: 10_000_000,
                alloc_rounds: 15,
                analyze_lines: 1_000_000,
                analyze_rounds: 5,
                py_rounds: 9,
                py_traced_run: Duration::from_secs(3),
                py_rss_rounds: 5,
                py_rss_loop: Duration::from_secs(6),
                py_idle_rounds: 7,
                py_idle_window: Duration::from_secs(3),
                py_start_rounds: 41,
                py_probe_rounds: 7,
            }
        }
    }
}

/// Where the release binaries land: `$CARGO_TARGET_DIR` when set (as cargo itself does), else
/// the workspace's `target/`; under the triple, since [`build`] names it with `--target`.
fn release_dir(root: &Path, triple: &str) -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    };
    target.join(triple).join("release")
}

/// The host's target triple, as the rustc cargo runs (`$RUSTC`, else `rustc`) prints it.
fn host_triple() -> Result<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let out = Cmd::new(rustc).arg("-vV").capture()?;
    out.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(|t| t.trim().to_string())
        .ok_or_else(|| fail!("`rustc -vV` printed no `host: ` line"))
}

/// A directory for the bench's logs, removed when the bench ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let dir = std::env::temp_dir().join(format!("memmon-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| fail!("cannot create {}: {e}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `cargo xtask bench ARGS`.
pub fn main(args: &[String]) -> Result<()> {
    let mut quick = false;
    let mut only: Vec<&str> = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--only" => match args.next().map(String::as_str) {
                Some(group) if GROUPS.contains(&group) => only.push(group),
                other => {
                    return Err(fail!(
                        "bench: --only takes one of {}, got {other:?}\n\n{USAGE}",
                        GROUPS.join(", ")
                    ))
                }
            },
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            other => return Err(fail!("bench: unknown option {other:?}\n\n{USAGE}")),
        }
    }
    let plan = Plan::new(quick);
    let root = project_root();
    let triple = host_triple()?;
    build(&root, &triple)?;
    let bin = release_dir(&root, &triple);
    let dir = TempDir::new()?;
    let started = Instant::now();

    let mut failures = 0;
    let mut emit = |figs: Vec<Figure>| {
        for f in figs {
            failures += usize::from(f.is_failure());
            println!("{f}");
        }
        // Lines appear as they are measured, even when stdout is a pipe (CI).
        let _ = std::io::stdout().flush();
    };
    let wanted = |group: &str| only.is_empty() || only.contains(&group);
    if wanted("sample") {
        emit(sample_figures(&plan, &bin));
    }
    if wanted("run") {
        emit(run_figures(&plan, &bin, &dir.0));
    }
    if wanted("alloc") {
        emit(alloc_figures(&plan, &bin));
    }
    if wanted("analyze") {
        emit(analyze_figure(&plan, &bin, &dir.0));
    }
    if wanted("python-hook") {
        emit(python_hook::figures(
            plan.py_rounds,
            plan.py_traced_run.as_secs_f64(),
            &bin.join("memmon"),
            &dir.0,
        ));
    }
    if wanted("python-rss") {
        emit(vec![python_rss::figure(
            plan.py_rss_rounds,
            plan.py_rss_loop.as_secs_f64(),
            &bin.join("memmon"),
            &dir.0,
        )]);
    }
    if wanted("python-idle") {
        emit(python_idle::figures(
            plan.py_idle_rounds,
            plan.py_idle_window,
            plan.py_start_rounds,
            &bin.join("memmon"),
            &dir.0,
        ));
    }
    if wanted("python-probes") {
        emit(python_probes::figures(
            plan.py_probe_rounds,
            &bin.join("memmon"),
            &dir.0,
        ));
    }
    if wanted("size") {
        emit(vec![binary_size(&bin, &dir.0)]);
    }
    eprintln!(
        "bench: measured in {:.1} s{}",
        started.elapsed().as_secs_f64(),
        if quick { " (--quick)" } else { "" }
    );
    match failures {
        0 => Ok(()),
        n => Err(fail!(
            "{n} figure(s) could not be produced (the `failed:` lines say why)"
        )),
    }
}

/// The flags that link glibc statically, as in the Pi build. `relocation-model=static` makes
/// the result a non-PIE executable as the Pi's is (rustc links aarch64 `crt-static` that way;
/// on x86_64 it would otherwise make a static PIE, which relocates its pointers at start-up
/// and so dirties pages the Pi's binary never does).
const STATIC_GLIBC: &str = "-C target-feature=+crt-static -C relocation-model=static";

/// Builds `memmon` and the helpers with the cargo that runs xtask, linked as the Pi build links
/// memmon: glibc statically (`+crt-static`, see `pi_deploy::RUSTFLAGS`), so `run-rss-kib`
/// measures what the Pi runs, and the bare loop links the same way. With an explicit
/// `--target` (the host's own triple) cargo gives `RUSTFLAGS` to these binaries only, not to
/// the build scripts and proc macros it builds for the host, which `crt-static` breaks; flags
/// already in `RUSTFLAGS` are kept.
fn build(root: &Path, triple: &str) -> Result<()> {
    if std::env::var_os("CARGO_ENCODED_RUSTFLAGS").is_some_and(|v| !v.is_empty()) {
        // It would take precedence over RUSTFLAGS and so drop the static linking.
        return Err(fail!(
            "bench: unset CARGO_ENCODED_RUSTFLAGS (use RUSTFLAGS): it would replace the Pi's \
             static linking (-C target-feature=+crt-static) and the figures would be of another build"
        ));
    }
    let rustflags = match std::env::var("RUSTFLAGS") {
        Ok(user) if !user.trim().is_empty() => format!("{user} {STATIC_GLIBC}"),
        _ => STATIC_GLIBC.to_string(),
    };
    // Static glibc is for glibc targets; any other host builds as it would anyway.
    let static_glibc = triple.ends_with("-linux-gnu");
    let builds: [&[&str]; 3] = [
        &["-p", "memmon-cli", "--bin", "memmon"],
        &[
            "-p",
            "memmon-sampler",
            "--example",
            "sample_bench",
            "--example",
            "alloc_bench",
        ],
        &["-p", "xtask", "--example", "run_limit"],
    ];
    for args in builds {
        let mut c = Cmd::new(cargo())
            .args(["build", "--release", "--target", triple])
            .args(args.iter().copied())
            .cwd(root);
        if static_glibc {
            c = c.env("RUSTFLAGS", rustflags.clone());
        }
        eprintln!("bench: {c}");
        c.run()?;
    }
    Ok(())
}

/// Runs a helper and parses its `name: number` lines; a failure becomes the message.
fn run_helper(
    program: &Path,
    args: &[String],
) -> std::result::Result<BTreeMap<String, Vec<f64>>, String> {
    let c = Cmd::new(program.display().to_string()).args(args.iter().cloned());
    eprintln!("bench: {c}");
    c.capture().map(|out| parse_values(&out)).map_err(|e| e.0)
}

/// `sample-ns`, `sample-limit-ns`, `sample-ratio`, `sysinfo-sample-ns`, `sample-vs-sysinfo`.
fn sample_figures(plan: &Plan, bin: &Path) -> Vec<Figure> {
    let names = [
        "sample-ns",
        "sample-limit-ns",
        "sample-ratio",
        "sysinfo-sample-ns",
        "sample-vs-sysinfo",
    ];
    let args = [
        plan.sample_iters.to_string(),
        plan.sample_rounds.to_string(),
    ];
    let v = match run_helper(&bin.join("examples").join("sample_bench"), &args) {
        Ok(v) => v,
        Err(e) => return names.iter().map(|n| Figure::failed(n, e.clone())).collect(),
    };
    let get = |name: &str| v.get(name).map(Vec::as_slice).unwrap_or_default();
    let (procfs, limit, sysinfo) = (
        get("sample-ns"),
        get("sample-limit-ns"),
        get("sysinfo-sample-ns"),
    );
    let missing = "sample_bench printed no such line";
    vec![
        Figure::from_option("sample-ns", median(procfs), Unit::Ns, missing),
        Figure::from_option("sample-limit-ns", median(limit), Unit::Ns, missing),
        Figure::from_option(
            "sample-ratio",
            median_ratio(procfs, limit),
            Unit::Ratio,
            missing,
        ),
        Figure::from_option("sysinfo-sample-ns", median(sysinfo), Unit::Ns, missing),
        // How many times cheaper the procfs path is than sysinfo.
        Figure::from_option(
            "sample-vs-sysinfo",
            median_ratio(sysinfo, procfs),
            Unit::Ratio,
            missing,
        ),
    ]
}

/// `run-cpu-per-sample-us`, `run-limit-…`, `run-ratio`, `run-rss-kib`, and the psutil peer's.
fn run_figures(plan: &Plan, bin: &Path, dir: &Path) -> Vec<Figure> {
    let mut watchers = vec![
        Watcher::Memmon(bin.join("memmon")),
        Watcher::Limit(bin.join("examples").join("run_limit")),
    ];
    let python_skip = run_cost::python_peer_unavailable();
    if python_skip.is_none() {
        watchers.push(Watcher::PythonPeer);
    }
    eprintln!(
        "bench: {} watchers × {} rounds of {:.1} s, interval {} s",
        watchers.len(),
        plan.run_rounds,
        plan.run_window.as_secs_f64(),
        run_cost::INTERVAL
    );
    let peer_names = [
        "python-peer-cpu-per-sample-us",
        "python-peer-rss-kib",
        "python-peer-cpu-ratio",
        "python-peer-rss-ratio",
    ];
    let costs = match run_cost::measure(&watchers, plan.run_rounds, plan.run_window, dir) {
        Ok(c) => c,
        Err(e) => {
            let mut names = vec![
                "run-cpu-per-sample-us",
                "run-limit-cpu-per-sample-us",
                "run-ratio",
                "run-rss-kib",
            ];
            if python_skip.is_none() {
                names.extend(peer_names);
            }
            let mut figs: Vec<Figure> = names
                .iter()
                .map(|n| Figure::failed(n, e.0.clone()))
                .collect();
            if let Some(reason) = python_skip {
                figs.extend(
                    peer_names
                        .iter()
                        .map(|n| Figure::skipped(n, reason.clone())),
                );
            }
            return figs;
        }
    };
    let missing = "no round measured";
    let (memmon, limit) = (&costs[0], &costs[1]);
    let mut figs = vec![
        Figure::from_option(
            "run-cpu-per-sample-us",
            median(&memmon.cpu_per_sample_us),
            Unit::Us,
            missing,
        ),
        Figure::from_option(
            "run-limit-cpu-per-sample-us",
            median(&limit.cpu_per_sample_us),
            Unit::Us,
            missing,
        ),
        Figure::from_option(
            "run-ratio",
            median_ratio(&memmon.cpu_per_sample_us, &limit.cpu_per_sample_us),
            Unit::Ratio,
            "the bare loop used no CPU time",
        ),
        Figure::from_option(
            "run-rss-kib",
            median(&memmon.peak_rss_kib),
            Unit::Kib,
            missing,
        ),
    ];
    match (python_skip, costs.get(2)) {
        (None, Some(peer)) => figs.extend([
            Figure::from_option(
                "python-peer-cpu-per-sample-us",
                median(&peer.cpu_per_sample_us),
                Unit::Us,
                missing,
            ),
            Figure::from_option(
                "python-peer-rss-kib",
                median(&peer.peak_rss_kib),
                Unit::Kib,
                missing,
            ),
            Figure::from_option(
                "python-peer-cpu-ratio",
                median_ratio(&peer.cpu_per_sample_us, &memmon.cpu_per_sample_us),
                Unit::Ratio,
                "memmon used no CPU time",
            ),
            Figure::from_option(
                "python-peer-rss-ratio",
                median_ratio(&peer.peak_rss_kib, &memmon.peak_rss_kib),
                Unit::Ratio,
                missing,
            ),
        ]),
        (reason, _) => {
            let reason = reason.unwrap_or_else(|| "the peer was not measured".to_string());
            figs.extend(
                peer_names
                    .iter()
                    .map(|n| Figure::skipped(n, reason.clone())),
            );
        }
    }
    figs
}

/// The tracking allocator's ratios, as `alloc_bench` prints them.
fn alloc_figures(plan: &Plan, bin: &Path) -> Vec<Figure> {
    let names = [
        "alloc-1t-ratio",
        "alloc-2t-ratio",
        "alloc-sites-1t-ratio",
        "alloc-sites-2t-ratio",
    ];
    let args = [plan.alloc_pairs.to_string(), plan.alloc_rounds.to_string()];
    match run_helper(&bin.join("examples").join("alloc_bench"), &args) {
        Ok(v) => names
            .iter()
            .map(|&n| {
                let value = v.get(n).and_then(|vals| median(vals));
                Figure::from_option(n, value, Unit::Ratio, "alloc_bench printed no such line")
            })
            .collect(),
        Err(e) => names.iter().map(|n| Figure::failed(n, e.clone())).collect(),
    }
}

/// `analyze-lines-per-s`: wall clock of `memmon analyze FILE --json` on a generated log.
fn analyze_figure(plan: &Plan, bin: &Path, dir: &Path) -> Vec<Figure> {
    const NAME: &str = "analyze-lines-per-s";
    let log = dir.join("analyze.log");
    let result = (|| -> Result<f64> {
        analyze::write_log(&log, plan.analyze_lines)?;
        let c = Cmd::new(bin.join("memmon").display().to_string())
            .arg("analyze")
            .path_arg(&log)
            .arg("--json");
        eprintln!(
            "bench: {c} ({} lines, {} rounds)",
            plan.analyze_lines, plan.analyze_rounds
        );
        let mut rates = Vec::new();
        for _ in 0..plan.analyze_rounds {
            let start = Instant::now();
            let json = c.capture()?;
            let secs = start.elapsed().as_secs_f64();
            let lines = analyze::json_lines(&json)
                .ok_or_else(|| fail!("`{c}` printed no \"lines\" count"))?;
            if lines != plan.analyze_lines {
                return Err(fail!("`{c}` read {lines} lines of {}", plan.analyze_lines));
            }
            rates.push(lines as f64 / secs);
        }
        median(&rates).ok_or_else(|| fail!("no round ran"))
    })();
    let _ = std::fs::remove_file(&log);
    vec![match result {
        Ok(rate) => Figure::value(NAME, rate, Unit::LinesPerS),
        Err(e) => Figure::failed(NAME, e.0),
    }]
}

/// `binary-size-kib`: a stripped copy of the release `memmon` (the build keeps line tables).
fn binary_size(bin: &Path, dir: &Path) -> Figure {
    const NAME: &str = "binary-size-kib";
    let copy = dir.join("memmon.stripped");
    let result = std::fs::copy(bin.join("memmon"), &copy)
        .map_err(|e| fail!("cannot copy {}: {e}", bin.join("memmon").display()))
        .and_then(|_| Cmd::new("strip").path_arg(&copy).run())
        .and_then(|()| {
            std::fs::metadata(&copy).map_err(|e| fail!("cannot stat {}: {e}", copy.display()))
        });
    match result {
        Ok(meta) => Figure::value(NAME, meta.len() as f64 / 1024.0, Unit::Kib),
        Err(e) => Figure::failed(NAME, e.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_does_less_of_everything() {
        let (q, f) = (Plan::new(true), Plan::new(false));
        assert!(q.sample_iters < f.sample_iters && q.run_window < f.run_window);
        assert!(q.alloc_pairs < f.alloc_pairs && q.analyze_lines < f.analyze_lines);
        assert!(q.py_rss_rounds < f.py_rss_rounds && q.py_rss_loop < f.py_rss_loop);
        assert_eq!((q.analyze_lines, f.analyze_lines), (200_000, 1_000_000));
        assert!(q.py_rounds < f.py_rounds && q.py_traced_run < f.py_traced_run);
        // Past the first snapshot of the hooked run (the 10th sample at 0.1 s).
        assert!(q.py_traced_run > Duration::from_secs(1));
    }

    #[test]
    fn an_unknown_option_is_an_error_with_usage() {
        let err = main(&["--slow".to_string()]).unwrap_err();
        assert!(
            err.0.contains("unknown option \"--slow\"") && err.0.contains("--quick"),
            "{err}"
        );
    }
}
