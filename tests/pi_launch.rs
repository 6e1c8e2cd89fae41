//! The users' launch, end to end: systemd's `memmon run --config client_config.json --children
//! -- /bin/bash start.sh` in the client's directory, on a stand-in of the Pi's client
//! (`tests/pi_client/`: a venv, a wait for the card reader, `exec python3 pi_client.py`, 40-odd
//! MB of tables and libraries loaded at start-up, worker threads, sqlite, HTTP on loopback).
//!
//! With `tracemalloc: true`, tracing starts at memmon's first sample, after the client has
//! loaded: the blocks name the client's runtime lines and none of its imports, and the client
//! is not made larger by being traced (the original monitor's 34 MB client measured 72.8 MB when
//! it was traced from the interpreter's start and grew at each snapshot). Issue #20 on the same
//! launch: SIGUSR2 to memmon gives a bundle naming the leaking line, and the client runs on.

use crate::util::{make_venv, parse_log, samples, wait_for, Dir, Running};
use memmon_format::Record;
use rustix::process::{kill_process, test_kill_process, Pid, Signal};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The fixture, copied into each test's directory (the unit's working directory).
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/pi_client");

/// Seconds from the command's start to memmon's first sample: the reader wait (0.3 s) and the
/// client's loading (well under a second here) fit in it with room for a loaded machine.
const STARTUP_DELAY: &str = "4";

/// A fresh copy of the fixture with a venv of its own.
fn pi_dir(name: &str) -> Dir {
    let d = Dir::new(name);
    for file in [
        "start.sh",
        "pi_client.py",
        "roster.py",
        "client_config.json",
    ] {
        std::fs::copy(Path::new(FIXTURE).join(file), d.join(file)).unwrap();
    }
    make_venv(&d);
    d
}

/// The 1-based line of the fixture's `pi_client.py` that carries `marker` (`# RECENT`, `# LEAK`).
fn line_of(d: &Dir, marker: &str) -> usize {
    let source = d.read("pi_client.py");
    let found = source.lines().position(|l| l.ends_with(marker));
    found.map(|i| i + 1).unwrap()
}

/// What one launch left: memmon's stdout (the client's), and the log's records and text.
struct Launch {
    stdout: String,
    records: Vec<Record>,
    text: String,
}

/// `memmon run --config client_config.json --children --interval 0.2 -- /bin/bash start.sh`,
/// the client's card loop running `seconds`, `env` added; memmon and the client must succeed
/// and the hook stay silent.
fn launch(d: &Dir, seconds: &str, env: &[(&str, &str)]) -> Launch {
    let out = d
        .memmon()
        .args(["run", "--config", "client_config.json", "--children"])
        .args(["--startup-delay", STARTUP_DELAY, "--interval", "0.2"])
        .args(["--", "/bin/bash", "start.sh"])
        .env("PI_CLIENT_VENV", d.join("venv"))
        .env("PI_CLIENT_READER_WAIT", "0.3")
        .env("PI_CLIENT_SECONDS", seconds)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        !stderr.contains("[memmon]"),
        "the hook complained: {stderr}"
    );
    let text = d.read("memory_usage.log");
    Launch {
        stdout,
        records: parse_log(&d.join("memory_usage.log")),
        text,
    }
}

/// The tracemalloc blocks of a log: (traced MiB, the site locations), in order.
fn blocks(records: &[Record]) -> Vec<(f64, Vec<String>)> {
    let mut blocks: Vec<(f64, Vec<String>)> = Vec::new();
    for r in records {
        match r {
            Record::Tracemalloc {
                pid: None,
                current_mb,
                ..
            } => blocks.push((*current_mb, Vec::new())),
            Record::Site(site) => {
                if let Some(block) = blocks.last_mut() {
                    block.1.push(site.location.clone());
                }
            }
            _ => {}
        }
    }
    blocks
}

/// `memmon analyze memory_usage.log --json` in the client's directory.
fn analyze_json(d: &Dir) -> serde_json::Value {
    let out = d
        .memmon()
        .args(["analyze", "memory_usage.log", "--json"])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The client's loop ran and its workers kept up: every tap was posted and written.
fn assert_client_ran(stdout: &str) {
    assert!(stdout.starts_with("pi_client: ready pid "), "{stdout}");
    let done = stdout
        .lines()
        .find_map(|l| l.strip_prefix("pi_client: done "))
        .unwrap_or_else(|| panic!("the client did not finish: {stdout}"));
    let counts: Vec<&str> = done.split(' ').collect();
    let [_, taps, _, posted, _, written] = counts[..] else {
        panic!("{done}")
    };
    assert!(taps.parse::<u32>().unwrap() > 50, "{done}");
    assert_eq!((posted, written), (taps, taps), "{done}");
}

#[test]
fn the_blocks_name_the_clients_runtime_lines_and_tracing_does_not_grow_it() {
    let d = pi_dir("pi-launch");
    let recent = line_of(&d, "# RECENT");
    let run = launch(&d, "11", &[]);
    assert_client_ran(&run.stdout);
    let (text, records) = (&run.text, &run.records);

    let blocks = blocks(records);
    assert!(blocks.len() >= 2, "{text}");
    for (current_mb, sites) in &blocks {
        // Runtime only: the recent taps and what is in flight (the imports were 23 MiB).
        assert!(*current_mb < 3.0, "{text}");
        for site in sites {
            assert!(
                !site.contains("<frozen") && !site.contains("/roster.py:"),
                "an import-time line {site} in\n{text}"
            );
        }
    }
    // By the last block the recent list is full and the largest holder.
    let last = &blocks[blocks.len() - 1].1;
    assert!(
        last.first()
            .is_some_and(|s| s.ends_with(&format!("/pi_client.py:{recent}"))),
        "{text}"
    );

    // The client was sampled once loaded, and tracing it (snapshots included) does not make it
    // grow: its RSS stays within a few MiB of the first sample's.
    let samples = samples(records);
    assert!(samples.len() >= 25, "{text}");
    let first = samples[0].rss_mb;
    assert!((30.0..60.0).contains(&first), "{text}");
    let most = samples.iter().map(|s| s.rss_mb).fold(first, f64::max);
    assert!(most - first < 6.0, "grew {:.2} MB\n{text}", most - first);
}

#[test]
fn a_leak_on_a_known_line_tops_the_blocks_and_analyze_calls_it_a_leak_there() {
    let d = pi_dir("pi-launch-leak");
    let leak = line_of(&d, "# LEAK");
    // analyze wants a minute of samples after warm-up before it calls a trend.
    let run = launch(&d, "68", &[("PI_CLIENT_LEAK", "1")]);
    assert_client_ran(&run.stdout);
    let blocks = blocks(&run.records);
    assert!(!blocks.is_empty(), "{}", run.text);
    for (_, sites) in &blocks {
        assert!(
            sites
                .first()
                .is_some_and(|s| s.ends_with(&format!("/pi_client.py:{leak}"))),
            "{}",
            run.text
        );
    }
    let json = analyze_json(&d);
    let report = &json["runs"][0];
    assert_eq!(report["verdict"], "leak", "{json:#}");
    let top = report["growing_sites"][0]["site"].as_str().unwrap_or("");
    assert!(top.ends_with(&format!("/pi_client.py:{leak}")), "{json:#}");
}

#[test]
fn a_flat_client_under_the_defaults_never_warns_and_its_baseline_is_the_loaded_client() {
    let d = pi_dir("pi-launch-flat");
    // The defaults but a short interval: tracemalloc off, the 50 MB threshold.
    d.write(
        "client_config.json",
        r#"{"memory_monitor": {"interval": 0.2}}"#,
    );
    let run = launch(&d, "8", &[]);
    assert_client_ran(&run.stdout);
    let text = &run.text;
    assert!(
        !run.records
            .iter()
            .any(|r| matches!(r, Record::Warning { .. })),
        "{text}"
    );
    let samples = samples(&run.records);
    assert!(samples.len() >= 10, "{text}");
    for s in &samples {
        assert!(s.growth_mb.abs() <= 10.0, "{s:?}\n{text}");
    }
    // 初期メモリ is the loaded client (about 44 MB here), not bash or an exec in progress.
    let initial = run.records.iter().find_map(|r| match r {
        Record::Initial { mb } => *mb,
        _ => None,
    });
    assert_eq!(initial, Some(samples[0].rss_mb), "{text}");
    assert!(initial.is_some_and(|mb| mb > 30.0), "{text}");
}

#[test]
fn a_broken_config_still_starts_the_client_and_says_which_file() {
    let d = pi_dir("pi-launch-broken");
    // A trailing comma, as a hand edit leaves it: the client itself would have run on it.
    d.write(
        "client_config.json",
        "{\"memory_monitor\": {\"enabled\": true, \"interval\": 300,}}\n",
    );
    let out = d
        .memmon()
        .args(["run", "--config", "client_config.json", "--children", "--"])
        .args(["/bin/bash", "start.sh"])
        .env("PI_CLIENT_VENV", d.join("venv"))
        .env("PI_CLIENT_READER_WAIT", "0.3")
        .env("PI_CLIENT_SECONDS", "2")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert_client_ran_briefly(&stdout);
    assert!(
        stderr.contains("client_config.json") && stderr.contains("監視なしで実行します"),
        "{stderr}"
    );
    let records = parse_log(&d.join("memory_usage.log"));
    assert!(
        matches!(records.last(), Some(Record::Unmonitored { reason }) if reason.contains("client_config.json")),
        "{records:?}"
    );
}

/// The client started, ran its loop and ended cleanly (a short run: few taps).
fn assert_client_ran_briefly(stdout: &str) {
    assert!(stdout.starts_with("pi_client: ready pid "), "{stdout}");
    assert!(stdout.contains("pi_client: done taps "), "{stdout}");
}

/// memmon in front of the client that runs until it is stopped; returns memmon and the
/// client's PID (bash `exec`s Python: the PID in the log's header) once two samples are in.
fn start_until_stopped(d: &Dir) -> (Running, u32) {
    start_until_stopped_with(d, &[], 2)
}

/// [`start_until_stopped`] with `env` added, once `samples` samples are in.
fn start_until_stopped_with(d: &Dir, env: &[(&str, &str)], samples: usize) -> (Running, u32) {
    let memmon = d
        .memmon()
        .args(["run", "--config", "client_config.json", "--children"])
        .args(["--startup-delay", "2", "--interval", "0.2"])
        .args(["--", "/bin/bash", "start.sh"])
        .env("PI_CLIENT_VENV", d.join("venv"))
        .env("PI_CLIENT_READER_WAIT", "0.3")
        .env("PI_CLIENT_SECONDS", "0")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Running)
        .unwrap();
    let t0 = Instant::now();
    while std::fs::read_to_string(d.join("memory_usage.log"))
        .map(|t| t.matches("] 経過: ").count() < samples)
        .unwrap_or(true)
    {
        assert!(t0.elapsed() < Duration::from_secs(60), "no samples");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = d
        .read("memory_usage.log")
        .lines()
        .find_map(|l| l.strip_prefix("PID: ").map(str::to_owned))
        .and_then(|p| p.parse().ok())
        .unwrap();
    (memmon, pid)
}

/// A clean stop for systemd: exit 0, or death by SIGTERM, SIGINT, SIGHUP or SIGPIPE.
fn clean_for_systemd(status: std::process::ExitStatus) -> bool {
    status.code() == Some(0)
        || status.signal().is_some_and(|s| {
            [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGPIPE].contains(&s)
        })
}

#[test]
fn sigterm_to_memmon_alone_stops_the_client_gracefully_with_a_footer_and_no_stand_in() {
    let d = pi_dir("pi-launch-term");
    let (mut memmon, _) = start_until_stopped(&d);
    kill_process(Pid::from_raw(memmon.id() as i32).unwrap(), Signal::TERM).unwrap();
    let status = memmon.wait();
    assert!(clean_for_systemd(status), "{status:?}");
    // The client handles SIGTERM and exits 0: so does memmon.
    assert_eq!(status.code(), Some(0), "{status:?}");
    let text = d.read("memory_usage.log");
    let records = parse_log(&d.join("memory_usage.log"));
    assert!(text.contains("プロセス終了: 終了コード 0\n"), "{text}");
    assert_eq!(records.last(), Some(&Record::Rule), "{text}");
    assert!(!records.contains(&Record::LastGoodUsed), "{text}");
}

#[test]
fn sigterm_to_memmon_and_the_client_at_once_is_a_clean_stop_with_a_footer() {
    // KillMode=control-group, systemd's default: every process of the unit gets SIGTERM.
    let d = pi_dir("pi-launch-group");
    let (mut memmon, client) = start_until_stopped(&d);
    kill_process(Pid::from_raw(client as i32).unwrap(), Signal::TERM).unwrap();
    kill_process(Pid::from_raw(memmon.id() as i32).unwrap(), Signal::TERM).unwrap();
    let status = memmon.wait();
    assert!(clean_for_systemd(status), "{status:?}");
    let text = d.read("memory_usage.log");
    let records = parse_log(&d.join("memory_usage.log"));
    assert_eq!(records.last(), Some(&Record::Rule), "{text}");
    assert!(
        records
            .iter()
            .any(|r| matches!(r, Record::Final { mb: Some(_) })),
        "{text}"
    );
}

/// Issue #20 on the users' launch: `kill -USR2 <memmon>` (the safe way `--help` gives) while the
/// leaking client runs under `/bin/bash start.sh` (the venv's Python exec'd, same PID). memmon
/// keeps the signal (the client, which has no SIGUSR2 handler and would die of it, runs on),
/// writes one bundle whose Python section, from the hook in the exec'd client, names the leaking
/// line first; the log names the bundle, and again right before the exit line when SIGTERM
/// ends the run; `analyze` lists it for the run.
#[test]
fn sigusr2_on_the_real_launch_gives_a_bundle_naming_the_leaking_line_and_the_client_runs_on() {
    let d = pi_dir("pi-launch-usr2");
    let leak = line_of(&d, "# LEAK");
    // 200 taps a second: the kept list is past a thousand records by the capture.
    let env = [("PI_CLIENT_LEAK", "1"), ("PI_CLIENT_TAP", "0.005")];
    let (mut memmon, client) = start_until_stopped_with(&d, &env, 25);
    kill_process(Pid::from_raw(memmon.id() as i32).unwrap(), Signal::USR2).unwrap();
    wait_for("the bundle's line", || {
        d.read("memory_usage.log").contains("  [証拠] 保存: ")
    });
    // The client got no SIGUSR2: it is alive, and stops on SIGTERM as it always does.
    assert!(test_kill_process(Pid::from_raw(client as i32).unwrap()).is_ok());
    kill_process(Pid::from_raw(memmon.id() as i32).unwrap(), Signal::TERM).unwrap();
    let status = memmon.wait();
    assert_eq!(status.code(), Some(0), "{status:?}");
    let text = d.read("memory_usage.log");
    let saved: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("  [証拠] 保存: "))
        .collect();
    let [path] = saved[..] else {
        panic!("one bundle expected: {text}")
    };
    assert!(
        path.starts_with("memory_usage.evidence/")
            && path.ends_with(&format!("-{client}-usr2.txt")),
        "{path}"
    );
    assert!(
        text.contains(&format!(
            "  [証拠] 終了の直前: {path}\nプロセス終了: 終了コード 0\n"
        )),
        "{text}"
    );
    let bundle = d.read(path);
    let section = bundle
        .split(&format!("## Python {client}: 割り当て箇所\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no Python section for {client}:\n{bundle}"));
    let first = section
        .lines()
        .find(|l| l.starts_with("1. "))
        .unwrap_or_else(|| panic!("no site:\n{bundle}"));
    assert!(
        first.contains(&format!("/pi_client.py:{leak}: size=")),
        "{bundle}"
    );
    let json = analyze_json(&d);
    let listed = json["runs"][0]["bundles"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let name = path.rsplit('/').next().unwrap();
    assert!(
        listed
            .iter()
            .any(|b| b.as_str().is_some_and(|b| b.ends_with(name))),
        "{json:#}"
    );
}
