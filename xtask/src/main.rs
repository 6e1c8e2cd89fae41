//! `cargo xtask`: project automation, one subcommand per task.
//!
//! - `pi-deploy`: build `memmon` for the Raspberry Pi (aarch64 Linux, glibc linked
//!   statically), check the binary, and package it with its systemd files (`pi_deploy.rs`).
//! - `bench`: memmon's cost against its limits and peers, one `name: value unit` line per
//!   figure (`bench/`, figures in `BENCHMARKS.md`).
//!
//! Run it through the alias in `.cargo/config.toml`: `cargo xtask pi-deploy --help`.
//! Exit status: 0 done, 2 bad usage or a failed step (the message says which and why).

mod bench;
mod cmd;
mod elf;
mod pi_deploy;
mod prereq;
mod templates;
#[cfg(test)]
mod testutil;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

/// What `cargo xtask` alone, or an unknown subcommand, prints.
const USAGE: &str = "\
usage: cargo xtask <TASK> [OPTIONS]

tasks:
  pi-deploy   build memmon for the Raspberry Pi (aarch64), verify it, package it;
              `cargo xtask pi-deploy --help` for its options
  bench       build in release and measure memmon's cost against its limits and
              peers; `--quick` (under a minute after the build) for CI
";

/// A failure that ends the task: the message is printed as `xtask: <message>`, exit 2.
#[derive(Debug)]
pub struct Failure(pub String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The result of a task step.
pub type Result<T> = std::result::Result<T, Failure>;

/// Builds a [`Failure`] from a format string.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => { $crate::Failure(format!($($arg)*)) };
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("pi-deploy") => pi_deploy::main(&args[1..]),
        Some("bench") => bench::main(&args[1..]),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(fail!("unknown task {other:?}\n\n{USAGE}")),
        None => Err(fail!("no task given\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::from(2)
        }
    }
}

/// The workspace root: xtask's manifest lives one level below it.
pub fn project_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    match manifest_dir.parent() {
        Some(root) => root.to_path_buf(),
        // CARGO_MANIFEST_DIR is an absolute path cargo gives at build time; it has a parent.
        None => manifest_dir,
    }
}
