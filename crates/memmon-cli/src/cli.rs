//! The command line, as typed (clap derive). Validation against the config happens in
//! `settings.rs`, so this file stays a plain description of flags and their help.

use crate::lang::LangArg;
use clap::{Args, Parser, Subcommand};
use memmon_core::IntervalSpec;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// memmon: a memory-leak monitor that writes the original monitor's memory_usage.log.
#[derive(Debug, Parser)]
#[command(
    name = "memmon",
    version,
    about = "Watch a process's memory and write memory_usage.log, the same lines as the original Python monitor",
    long_about = "memmon watches the memory of a process (RSS, VMS, system memory) on a fixed schedule, \
writes one line per sample to memory_usage.log in the original monitor's Japanese format, warns when \
memory grew more than a threshold (50 MB), adds a detail block every 10th sample, and keeps the \
evidence across restarts (it appends, and rotates by size).",
    after_help = "EXIT STATUS:\n  0  success (with --pid: the process ended or memmon was stopped)\n  \
2  bad usage or configuration, or the process cannot be watched (with --pid, check-config)\n  \
N  with a COMMAND: the command's own exit code; when the command was killed by signal S, memmon \
writes its footer and dies of S itself, so a service manager sees what it would see without \
memmon (except a core dump: memmon never dumps one for the command)"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a command (or attach to a PID) and log its memory until it ends.
    #[command(after_help = "EXAMPLES:\n  memmon run -- python3 pi_client.py\n  \
memmon run --config client_config.json --children -- /bin/bash start_pi.sh\n  \
memmon run --pid 1234 --interval 60 --log app_memory.log\n\n\
Settings come from --config (default ./client_config.json when present, else built-in \
defaults); flags override them. With `enabled: false` in the config and no --enable, the \
command still runs, unmonitored.\n\n\
SIGNALS: HUP, INT, QUIT, TERM, USR1, WINCH, ALRM and CONT are passed on to the command. \
SIGUSR2 is memmon's own and never reaches the command: it writes an evidence bundle beside the \
log now (memory_usage.evidence/, see docs/evidence.md). `systemctl kill` signals every process of \
the unit, and SIGUSR2 ends a Python client that has no handler for it: ask with \
`systemctl kill --kill-whom=main -s USR2 UNIT` or `kill -USR2 <memmon's PID>`.")]
    Run(Box<RunArgs>),
    /// The guide's test mode: memmon watches itself while keeping 1 MiB more every interval.
    Test(TestArgs),
    /// Read memory_usage.log files and tell a leak from warm-up.
    Analyze(crate::analyze::AnalyzeArgs),
    /// Make a report to send: one folder and one .tgz for a GitHub issue.
    #[command(
        long_about = "Writes one folder (memmon-report-YYYYMMDD-HHMMSS/, or --out) and an archive \
beside it (the folder's name + .tgz) with: report.md, ready to paste into an issue (the verdict, \
the rate, the time until memory runs out, the part that grows and its cause with the guide's \
remedy, the growing lines and the last evidence bundle's tracebacks, restarts and OOM kills, the \
memory_monitor settings, memmon's version, the machine's model and memory), plot.png, the logs \
and the evidence bundles beside them (memory_usage.evidence/).",
        after_help = "Fits GitHub: report.md within 65,536 characters (long sections are cut \
with a note), the archive within 25 MB (the bundles first, the oldest left out first but never \
the newest or one an OOM line names; the logs share the rest, each keeping its newest lines; \
report.md says what was cut or left out), the plot within 10 MB, ASCII names. The tracker is \
public: of the config only the memory_monitor settings are listed (the metrics address and \
label left out); no other key (server address), no directory of the inputs; in the copies of \
the logs and bundles and in report.md, this machine's host name, the host names, e-mail \
addresses, addresses and secrets the config names outside memory_monitor, the hosts of URLs, \
and IPv4 and IPv6 addresses are masked (same length; --keep-hosts: not masked). An existing \
folder or archive, or an input, is never overwritten: the command refuses and writes nothing. \
Prints where it wrote.\n\n\
EXAMPLES:\n  memmon report memory_usage.log memory_usage.log.1\n  \
memmon report --lang en --out pi3-report memory_usage.log"
    )]
    Report(crate::report::ReportArgs),
    /// Check a configuration file and print the effective settings.
    #[command(
        after_help = "Exits 0 and prints the settings when the file is valid; prints the error \
(file, key, value, what was expected) and exits 2 when not. Unknown keys are warnings."
    )]
    CheckConfig(CheckConfigArgs),
}

/// `memmon run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Configuration file (client_config.json or memmon.toml) [default: ./client_config.json when present]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Watch an existing process instead of starting a COMMAND
    #[arg(long, value_name = "PID", conflicts_with = "command")]
    pub pid: Option<u32>,
    /// Seconds between samples, integer or decimal [config: interval, default 300]
    #[arg(long, value_name = "SECS", value_parser = parse_interval)]
    pub interval: Option<IntervalSpec>,
    /// Seconds between the command's start and the first sample, the baseline of 初期比 [config: startup_delay; default 60 for a COMMAND, 0 with --pid].
    ///
    /// A launcher's waits (start_pi.sh waits up to 30 s for the card reader) and the
    /// interpreter's imports are start-up, not growth: the original monitor only started once
    /// the client had loaded. The header is written at once and 経過 counts from it; a command
    /// that ends during the delay still leaves its header, exit line and footer. 0 samples at once.
    #[arg(long, value_name = "SECS", value_parser = parse_delay)]
    pub startup_delay: Option<Duration>,
    /// Log file [config: log_file, default memory_usage.log]
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Write a detail block every 10th sample (= tracemalloc: true): tracemalloc's block for the Python processes memmon starts, the [smaps] block otherwise [config: tracemalloc, detail_source]
    #[arg(long)]
    pub detail: bool,
    /// Warn when memory grew more than this many MB since the first sample [config: warn_threshold_mb, default 50]
    #[arg(long, value_name = "MB", value_parser = parse_non_negative)]
    pub threshold_mb: Option<f64>,
    /// Count the memory of all descendants of the process too (for `bash start_pi.sh`)
    #[arg(long)]
    pub children: bool,
    /// Stop monitoring after this many seconds, counted from the first sample (the command keeps running, memmon waits for it)
    #[arg(long, value_name = "SECS", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Rotate the log when it is larger than this many MB [config: max_log_mb, default 10]
    #[arg(long, value_name = "MB", value_parser = parse_positive)]
    pub max_log_mb: Option<f64>,
    /// How many rotated logs (.1, .2 …) to keep [config: keep_logs, default 5]
    #[arg(long, value_name = "N")]
    pub keep_logs: Option<u32>,
    /// Monitor even when the config says `enabled: false`
    #[arg(long)]
    pub enable: bool,
    /// Write Prometheus metrics to this file after every sample (atomically), for node_exporter's textfile collector [config: prom_textfile]
    #[arg(long, value_name = "PATH")]
    pub prom_textfile: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics; 127.0.0.1:9464 keeps it local, port 0 picks a free one [config: metrics_listen]
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// The `name` label of the metrics, stable across restarts [config: name, default the command's file name]
    #[arg(long, value_name = "NAME", value_parser = memmon_config::parse_name)]
    pub name: Option<String>,
    /// Whether the Python processes of COMMAND load memmon's hook: `auto` installs it (idle, no tracing, unless tracemalloc is on), `off` leaves PYTHONPATH untouched and takes detail from smaps [config: python_hook, default auto]
    #[arg(long, value_name = "auto|off", value_parser = memmon_config::parse_python_hook)]
    pub python_hook: Option<memmon_config::PythonHook>,
    /// After a stop signal (passed on to the command and its descendants), wait this many seconds for the command to end before memmon writes its footer and stops [default: 90, systemd's own stop timeout]
    #[arg(long, value_name = "SECS", value_parser = parse_duration, default_value = "90")]
    pub stop_timeout: Duration,
    /// Language of memmon's own messages on stderr (the log and the original monitor's console lines stay Japanese)
    #[arg(long, value_enum, default_value_t = LangArg::Ja)]
    pub lang: LangArg,
    /// Read process and system memory from this directory instead of /proc (for tests)
    #[arg(long, value_name = "DIR", hide = true, default_value = "/proc")]
    pub proc_root: PathBuf,
    /// The command to run and watch, after `--`
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// `memmon test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// How long the test runs, in seconds
    #[arg(long, value_name = "SECS", default_value = "300", value_parser = parse_duration)]
    pub duration: Duration,
    /// Seconds between samples (and between 1 MiB steps)
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = parse_interval)]
    pub interval: IntervalSpec,
    /// Log file
    #[arg(long, value_name = "FILE", default_value = "test_memory.log")]
    pub log: PathBuf,
    /// Language of memmon's own errors (the test's console lines and the log stay Japanese)
    #[arg(long, value_enum, default_value_t = LangArg::Ja)]
    pub lang: LangArg,
}

/// `memmon check-config`.
#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    /// The file to check (client_config.json or memmon.toml)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Language of the errors and warnings (the settings keep their key names)
    #[arg(long, value_enum, default_value_t = LangArg::Ja)]
    pub lang: LangArg,
}

fn parse_interval(s: &str) -> Result<IntervalSpec, String> {
    IntervalSpec::parse(s).map_err(|e| format!("{e}, got {s:?}"))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("expected a number of seconds, got {s:?}"))?;
    if !secs.is_finite() || secs <= 0.0 || secs > IntervalSpec::MAX_SECS as f64 {
        return Err(format!("expected a number of seconds > 0, got {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_delay(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=IntervalSpec::MAX_SECS as f64).contains(&v) => {
            Ok(Duration::from_secs_f64(v))
        }
        _ => Err(format!("expected a number of seconds >= 0, got {s:?}")),
    }
}

fn parse_positive(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("expected a number > 0, got {s:?}")),
    }
}

fn parse_non_negative(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("expected a number >= 0, got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_takes_the_command_after_double_dash() {
        let cli =
            Cli::try_parse_from(["memmon", "run", "--interval", "0.2", "--", "sh", "-c", "x"])
                .unwrap();
        let Command::Run(run) = cli.command else {
            panic!("not run")
        };
        assert_eq!(run.interval, Some(IntervalSpec::Decimal(0.2)));
        assert_eq!(run.command, ["sh", "-c", "x"]);
    }

    #[test]
    fn lang_is_japanese_unless_told() {
        use crate::lang::Lang;
        let lang_of = |args: &[&str]| match Cli::try_parse_from(args).unwrap().command {
            Command::Test(t) => t.lang.get(),
            Command::CheckConfig(c) => c.lang.get(),
            Command::Analyze(a) => a.lang.get(),
            Command::Report(r) => r.lang.get(),
            Command::Run(_) => panic!("not expected"),
        };
        assert_eq!(lang_of(&["memmon", "test"]), Lang::Ja);
        assert_eq!(lang_of(&["memmon", "test", "--lang", "en"]), Lang::En);
        assert_eq!(lang_of(&["memmon", "check-config", "c.json"]), Lang::Ja);
        assert_eq!(
            lang_of(&["memmon", "check-config", "c.json", "--lang", "en"]),
            Lang::En
        );
        assert_eq!(lang_of(&["memmon", "analyze", "x.log"]), Lang::Ja);
        assert_eq!(lang_of(&["memmon", "report", "x.log"]), Lang::Ja);
        assert_eq!(
            lang_of(&["memmon", "report", "x.log", "--lang", "en"]),
            Lang::En
        );
        assert!(Cli::try_parse_from(["memmon", "test", "--lang", "fr"]).is_err());
    }

    #[test]
    fn an_interval_below_the_floor_names_the_floor() {
        let err = Cli::try_parse_from(["memmon", "run", "--interval", "1e-9", "--", "true"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("expected at least 0.001 seconds, got \"1e-9\""),
            "{err}"
        );
    }

    #[test]
    fn bad_values_are_refused_with_the_value() {
        let err = Cli::try_parse_from(["memmon", "run", "--interval", "0", "--", "true"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("expected a number of seconds > 0, got \"0\""),
            "{err}"
        );
        assert!(Cli::try_parse_from(["memmon", "run", "--pid", "1", "--", "true"]).is_err());
    }

    #[test]
    fn an_empty_name_is_refused_by_the_config_files_rule() {
        let err = Cli::try_parse_from(["memmon", "run", "--name", "", "--", "true"])
            .unwrap_err()
            .to_string();
        // The same words as `client_config.json: memory_monitor.name: expected …, got ""`.
        assert!(
            err.contains(
                "invalid value '' for '--name <NAME>': expected a non-empty string, got \"\""
            ),
            "{err}"
        );
        let ok = Cli::try_parse_from(["memmon", "run", "--name", "reader-07", "--", "true"]);
        let Ok(Cli {
            command: Command::Run(run),
        }) = ok
        else {
            panic!("--name reader-07 refused")
        };
        assert_eq!(run.name.as_deref(), Some("reader-07"));
    }

    #[test]
    fn python_hook_takes_the_config_files_words() {
        let err = Cli::try_parse_from(["memmon", "run", "--python-hook", "no", "--", "true"])
            .unwrap_err()
            .to_string();
        // The same words as `client_config.json: memory_monitor.python_hook: expected …`.
        assert!(
            err.contains("expected one of \"auto\", \"off\", got \"no\""),
            "{err}"
        );
        let ok = Cli::try_parse_from(["memmon", "run", "--python-hook", "off", "--", "true"]);
        let Ok(Cli {
            command: Command::Run(run),
        }) = ok
        else {
            panic!("--python-hook off refused")
        };
        assert_eq!(run.python_hook, Some(memmon_config::PythonHook::Off));
    }
}
