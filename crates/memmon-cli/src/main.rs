//! The `memmon` binary: glue between clap, memmon-config, the samplers, memmon-core,
//! memmon-format and memmon-analyze. It holds no log format and no policy of its own; it knows
//! clap, signals, child processes and exit codes.

mod analyze;
mod check;
mod cli;
mod exit;
mod lang;
mod report;
mod run;
mod selftest;
mod settings;
mod signals;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The binary, and only the binary, picks the global allocator. Counting only: `memmon run`
/// pays a few per-thread additions per allocation and holds no site table; `memmon test`
/// switches sites on to fill its tracemalloc block, as the original test mode did.
#[global_allocator]
static ALLOC: memmon_sampler::TrackingAllocator =
    memmon_sampler::TrackingAllocator::counting_only();

fn main() {
    // Until `memmon run` (or `test`) has its handlers, a stop signal waits (see
    // `signals::hold_stops`); every other way out releases it first.
    signals::hold_stops();
    init_diagnostics();
    let cli = match <cli::Cli as clap::Parser>::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // A bad flag value of `memmon run` must not keep its command from running.
            if let Some(ending) = run::bad_arguments(std::env::args_os().collect(), &e) {
                exit::end(ending);
            }
            signals::release_stops();
            e.exit()
        }
    };
    if matches!(
        cli.command,
        cli::Command::Analyze(_) | cli::Command::Report(_) | cli::Command::CheckConfig(_)
    ) {
        signals::release_stops();
    }
    let ending = match cli.command {
        cli::Command::Run(args) => run::run(*args),
        cli::Command::Test(args) => exit::Ending::Code(selftest::test(args)),
        cli::Command::Analyze(args) => exit::Ending::Code(analyze::run(args)),
        cli::Command::Report(args) => exit::Ending::Code(report::run(args)),
        cli::Command::CheckConfig(args) => exit::Ending::Code(check::check_config(args)),
    };
    exit::end(ending);
}

/// memmon's own diagnostics (`RUST_LOG=memmon=debug`) on stderr; never written into the log file.
///
/// `RUST_LOG` is read as `Targets` (`warn`, `memmon=debug,warn`: a default level and levels per
/// target), not as an `EnvFilter`: the span and field filters an `EnvFilter` adds need the
/// `regex` engine, which cost about 0.6 MiB of the stripped binary and 0.3 MiB of resident code
/// while memmon watches. Unset or unreadable, it means `warn`, as before.
fn init_diagnostics() {
    let targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::WARN));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    // A subscriber already set (there is none in this binary) just keeps the first one.
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(targets)
        .try_init();
}
