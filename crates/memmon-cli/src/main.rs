//! The `memmon` binary: glue between clap, memmon-config, the samplers, memmon-core and
//! memmon-format. It holds no log format and no policy of its own; it knows clap, signals,
//! child processes and exit codes.

mod analyze;
mod check;
mod cli;
mod console;
mod metrics;
mod run;
mod selftest;
mod session;
mod settings;
mod sink;

use clap::Parser;

/// The binary, and only the binary, picks the global allocator. Counting only: `memmon run`
/// pays a few per-thread additions per allocation and holds no site table; `memmon test`
/// switches sites on to fill its tracemalloc block, as the original test mode did.
#[global_allocator]
static ALLOC: memmon_sampler::TrackingAllocator =
    memmon_sampler::TrackingAllocator::counting_only();

fn main() {
    // memmon's own diagnostics (RUST_LOG=memmon=debug); never written into the log file.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = cli::Cli::parse();
    let code = match cli.command {
        cli::Command::Run(args) => run::run(*args),
        cli::Command::Test(args) => selftest::test(args),
        cli::Command::Analyze(args) => analyze::run(args),
        cli::Command::CheckConfig(args) => check::check_config(args),
    };
    std::process::exit(code);
}
