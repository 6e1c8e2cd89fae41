//! The users' launch, end to end: systemd's `memmon run --config client_config.json --children
//! -- /bin/bash start.sh` in the client's directory, on a stand-in of the Pi's client
//! (`tests/pi_client/`: a venv, a wait for the card reader, `exec python3 pi_client.py`, 40-odd
//! MB of tables and libraries loaded at start-up, worker threads, sqlite, HTTP on loopback).
//!
//! With `tracemalloc: true`, tracing starts at memmon's first sample, after the client has
//! loaded: the blocks name the client's runtime lines and none of its imports, and the client
//! is not made larger by being traced (the original monitor's 34 MB client measured 72.8 MB when
//! it was traced from the interpreter's start and grew at each snapshot).

use crate::util::{make_venv, parse_log, samples, Dir};
use memmon_format::Record;
use std::path::Path;

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
fn the_leak_line_tops_the_blocks() {
    let d = pi_dir("pi-launch-leak");
    let leak = line_of(&d, "# LEAK");
    let run = launch(&d, "8", &[("PI_CLIENT_LEAK", "1")]);
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
}
