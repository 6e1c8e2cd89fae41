//! When monitoring cannot be had, the command runs anyway: a bad flag value, a broken config,
//! a log memmon must refuse. memmon says why on stderr and, when it can, in the log
//! (`監視なしで実行します`), and ends as the command ends.

use super::words::{lost_track, unmonitored_notice};
use super::{spawn, watch_signals, Ctx, EXIT_USAGE};
use crate::exit::Ending;
use crate::settings;
use crate::signals::Wake;
use memmon_core::{IntervalSpec, Reading, SampleError};
use memmon_format::LogFormat;
use memmon_watch::say;
use memmon_watch::sink::{LogSink, SinkOptions};
use signal_hook::consts::SIGINT;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::SystemTime;

/// `memmon run … -- COMMAND` whose flags clap refused (a bad value, an unknown flag): the
/// command runs unmonitored, as for a broken config, with clap's message on stderr and its
/// first line in the log. `None` when this is not such a command line (then clap reports the
/// error and exits 2, as for `--pid`, help and version).
pub fn bad_arguments(raw: Vec<std::ffi::OsString>, error: &clap::Error) -> Option<Ending> {
    use clap::error::ErrorKind;
    use clap::Parser;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        return None;
    }
    if raw.get(1).is_none_or(|a| a != "run") {
        return None;
    }
    let dash = raw.iter().position(|a| a == "--")?;
    let command = &raw[dash + 1..];
    if command.is_empty()
        || raw[..dash]
            .iter()
            .any(|a| a == "--pid" || a.to_string_lossy().starts_with("--pid="))
    {
        return None;
    }
    // Only the two flags that say where the reason can go are kept, when clap takes them.
    let mut kept: Vec<std::ffi::OsString> = vec!["memmon".into(), "run".into()];
    for flag in ["--config", "--log", "--lang"] {
        if let Some(value) = flag_value(&raw[..dash], flag) {
            if flag == "--lang" && value != "en" && value != "ja" {
                continue;
            }
            kept.push(flag.into());
            kept.push(value);
        }
    }
    kept.push("--".into());
    kept.extend(command.iter().cloned());
    let args = match crate::cli::Cli::try_parse_from(&kept) {
        Ok(crate::cli::Cli {
            command: crate::cli::Command::Run(args),
        }) => *args,
        _ => return None,
    };
    let (tx, rx) = mpsc::channel();
    let forwarder = watch_signals(tx.clone(), true).unwrap_or_default();
    let config = settings::load_config(args.config.as_deref(), args.lang.get())
        .map(|r| r.config)
        .unwrap_or_default();
    let log = LogTarget {
        path: args.log.clone().unwrap_or(config.log_file),
        interval: config.interval,
    };
    let rendered = error.render().to_string();
    let why = rendered
        .lines()
        .next()
        .unwrap_or("bad arguments")
        .trim_start_matches("error: ")
        .to_owned();
    {
        use std::io::Write as _;
        let _ = write!(std::io::stderr().lock(), "memmon: {rendered}");
    }
    let ctx = Ctx {
        args: &args,
        tx,
        rx,
        forwarder,
        stop_timeout: args.stop_timeout,
        adoption: None,
    };
    Some(ctx.unmonitored(&why, Some(log), false))
}

/// The value of `--flag V` or `--flag=V` among `args`, the last one given.
fn flag_value(args: &[std::ffi::OsString], flag: &str) -> Option<std::ffi::OsString> {
    let mut found = None;
    let prefix = format!("{flag}=");
    for (i, a) in args.iter().enumerate() {
        if a == flag {
            found = args.get(i + 1).cloned();
        } else if let Some(v) = a.to_str().and_then(|s| s.strip_prefix(&prefix)) {
            found = Some(v.into());
        }
    }
    found
}

/// Where the `監視なしで実行します` line goes, and the interval its header shows.
pub(super) struct LogTarget {
    pub(super) path: PathBuf,
    pub(super) interval: IntervalSpec,
}

impl Ctx<'_> {
    /// Monitoring cannot be had: says why, starts the command anyway, writes the spec's
    /// `監視なしで実行します` line after a header when the log can take one, and ends as the
    /// command ends.
    /// `tell` false: the reason was already printed.
    pub(super) fn unmonitored(self, why: &str, log: Option<LogTarget>, tell: bool) -> Ending {
        if tell {
            say!("memmon: {why}");
        }
        say!("memmon: {}", unmonitored_notice(self.lang()));
        let (pid, pidfd) = match spawn(self.args, &self.tx, None) {
            Ok(started) => started,
            Err(code) => return Ending::Code(code),
        };
        self.set_target(pid, pidfd, None);
        if let Some(log) = log {
            let options = SinkOptions {
                max_bytes: u64::MAX,
                keep: 0,
                sync: true,
            };
            match LogSink::open(&log.path, options) {
                Ok(mut sink) => write_unmonitored(&mut sink, pid, log.interval, why),
                Err(e) => say!("memmon: {}", e.message(self.lang())),
            }
        }
        self.wait_unmonitored()
    }

    /// `enabled: false`: the command runs, memmon only passes signals and the exit on.
    pub(super) fn run_unmonitored(self) -> Ending {
        let (pid, pidfd) = match spawn(self.args, &self.tx, None) {
            Ok(started) => started,
            Err(code) => return Ending::Code(code),
        };
        self.set_target(pid, pidfd, None);
        self.wait_unmonitored()
    }

    /// Waits for the command without monitoring it (signals go on from the signal thread);
    /// ends as it ends.
    pub(super) fn wait_unmonitored(&self) -> Ending {
        loop {
            match self.rx.recv() {
                Ok(Wake::ChildExited(status)) => return Ending::like(status),
                Ok(Wake::ChildWaitFailed(e)) => {
                    say!("memmon: {}", lost_track(self.lang(), &e));
                    return Ending::Code(EXIT_USAGE);
                }
                Ok(Wake::Signal { number, killed, .. }) => {
                    let (status, killed) = self.wait_after_stop(killed);
                    return match (status, killed) {
                        (_, true) => Ending::Signal(SIGINT),
                        (Some(status), false) => Ending::like(status),
                        (None, false) => Ending::Signal(number),
                    };
                }
                Ok(Wake::TargetGone | Wake::Detail | Wake::Reaped | Wake::Evidence) => {}
                Err(_) => return Ending::Code(EXIT_USAGE),
            }
        }
    }
}

/// The sampler of a command that ended before memmon could open its `/proc` files: every
/// sample finds it gone, so the session waits for its exit status and writes the footer.
pub(super) struct Ended(pub(super) u32);

impl memmon_core::Sampler for Ended {
    fn sample(&mut self) -> Result<Reading, SampleError> {
        Err(SampleError::Exited { pid: self.0 })
    }
}

/// The header and the `監視なしで実行します` line, and nothing else of the run.
pub(super) fn write_unmonitored(sink: &mut LogSink, pid: u32, interval: IntervalSpec, why: &str) {
    let format = LogFormat::system();
    let mut records = format.header(SystemTime::now(), pid, interval, false);
    records.push(format.unmonitored(why));
    sink.write(&format, &records, 0);
}
