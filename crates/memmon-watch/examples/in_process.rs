//! An in-process monitor, as a Rust program would embed it: install the tracking allocator,
//! start the monitor from `client_config.json`, leak for a few seconds, stop.
//!
//! `cargo run -p memmon-watch --example in_process [CONFIG]`. Without an argument it writes a
//! temporary config (interval 1 s, tracemalloc on, a detail block every 2nd sample) and a log
//! beside it, and prints the log at the end.

use memmon_sampler::TrackingAllocator;
use memmon_watch::{Monitor, MonitorConfig};
use std::error::Error;
use std::path::PathBuf;
use std::time::Duration;

// The binary, not a library, picks the global allocator.
#[global_allocator]
static GLOBAL: TrackingAllocator = TrackingAllocator::new();

/// Keeps 256 KiB more each call, in 1 KiB blocks, never freed: the leak the log should show.
fn leak(kept: &mut Vec<Box<[u8]>>) {
    for _ in 0..256 {
        kept.push(vec![7u8; 1024].into_boxed_slice());
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let (config_path, temp) = match std::env::args_os().nth(1) {
        Some(path) => (PathBuf::from(path), false),
        None => {
            let dir =
                std::env::temp_dir().join(format!("memmon-in-process-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let log = dir.join("memory_usage.log");
            let config = dir.join("client_config.json");
            let json = format!(
                r#"{{"memory_monitor": {{"enabled": true, "interval": 1, "tracemalloc": true,
                    "detail_every": 2, "log_file": {:?}}}}}"#,
                log.display().to_string()
            );
            std::fs::write(&config, json)?;
            (config, true)
        }
    };
    let config = MonitorConfig::from_file(&config_path)?;
    let log = config.log_file.clone();
    let monitor = Monitor::start(config)?;
    let mut kept = Vec::new();
    for _ in 0..20 {
        leak(&mut kept);
        std::thread::sleep(Duration::from_millis(250));
    }
    monitor.stop()?;
    println!("{} KiB kept; log: {}", kept.len(), log.display());
    if temp {
        print!("{}", std::fs::read_to_string(&log)?);
    }
    Ok(())
}
