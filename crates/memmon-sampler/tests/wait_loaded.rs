//! `wait_until_loaded`: it returns once the program's text is mapped (never on a process
//! mid-`execve`, whose `statm` counts no text), at its limit otherwise, and at once when there
//! is nothing to read.
#![allow(clippy::unwrap_used)] // a panic in a test harness is a failed test

use memmon_sampler::wait_until_loaded;
use std::time::{Duration, Instant};

fn root(name: &str, statm: Option<&str>) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("memmon-wait-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("42")).unwrap();
    if let Some(text) = statm {
        std::fs::write(dir.join("42/statm"), text).unwrap();
    }
    dir
}

#[test]
fn it_waits_for_the_text_to_be_mapped_and_no_longer() {
    // Mid-execve: one page of stack, no text. The program is mapped 100 ms later.
    let dir = root("mapped", Some("1 1 0 0 0 1 0\n"));
    let statm = dir.join("42/statm");
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        std::fs::write(&statm, "700 400 300 20 0 200 0\n").unwrap();
    });
    let t0 = Instant::now();
    wait_until_loaded(&dir, 42, Duration::from_secs(60));
    let waited = t0.elapsed();
    writer.join().unwrap();
    assert!(waited >= Duration::from_millis(100), "{waited:?}");
    assert!(waited < Duration::from_secs(60), "{waited:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn it_gives_up_at_its_limit_and_returns_at_once_without_statm() {
    let dir = root("never", Some("1 1 0 0 0 1 0\n"));
    let t0 = Instant::now();
    wait_until_loaded(&dir, 42, Duration::from_millis(50));
    assert!(t0.elapsed() >= Duration::from_millis(50));
    // Loaded already, or nothing to read: no wait at all (a limit it would otherwise hit).
    let loaded = root("loaded", Some("700 400 300 20 0 200 0\n"));
    let gone = root("gone", None);
    for dir in [&loaded, &gone] {
        let t0 = Instant::now();
        wait_until_loaded(dir, 42, Duration::from_secs(60));
        assert!(t0.elapsed() < Duration::from_secs(60));
    }
    for d in [dir, loaded, gone] {
        let _ = std::fs::remove_dir_all(d);
    }
}
