//! `memmon run`: start a command (or attach to a PID), watch it on the schedule, pass signals
//! on, and leave a log that ends with a footer whatever happens.

use crate::cli::RunArgs;
use crate::console::Console;
use crate::metrics::{Metrics, MetricsOptions};
use crate::session::{Attempt, Session, SessionParts};
use crate::settings;
use crate::sink::{LogSink, SinkOptions};
use memmon_config::DetailSourceKind;
use memmon_core::DetailSource;
use memmon_core::{MonitorSettings, SampleError, MIB};
use memmon_format::ExitKind;
use memmon_sampler::{HookDir, ProcfsOptions, PythonDetail, PythonOptions, SmapsSource};
use rustix::process::{Pid, PidfdFlags, Signal};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::iterator::SignalsInfo;
use signal_hook::low_level::siginfo::Cause;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

/// A second SIGINT within this window skips the graceful wait.
const DOUBLE_INTERRUPT: Duration = Duration::from_secs(2);
/// How long a sample that found the command gone waits for its exit status.
const EXIT_GRACE: Duration = Duration::from_secs(2);

pub(crate) enum Wake {
    Signal {
        number: i32,
        from_kernel: bool,
    },
    ChildExited(ExitStatus),
    ChildWaitFailed(String),
    TargetGone,
    /// A pending detail block may be complete.
    Detail,
}

/// Wakes `memmon run`'s loop when a Python process answers a snapshot request.
struct DetailWaker(Sender<Wake>);

impl std::task::Wake for DetailWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // The loop may be gone (the run is ending): nothing is waiting for the answer then.
        let _ = self.0.send(Wake::Detail);
    }
}

/// The spec's default `startup_delay` for a command memmon starts: the users' start script
/// waits up to 30 s for the card reader, then the client imports its libraries.
const DEFAULT_STARTUP_DELAY: Duration = Duration::from_secs(60);

/// Exit code for bad usage, configuration, or a process that cannot be watched.
pub const EXIT_USAGE: i32 = 2;

/// Runs `memmon run` and returns the process exit code.
pub fn run(args: RunArgs) -> i32 {
    let resolved = match settings::resolve_run(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("memmon: {e}");
            return EXIT_USAGE;
        }
    };
    let config = resolved.config;
    if args.command.is_empty() && args.pid.is_none() {
        eprintln!("memmon: nothing to watch: give a COMMAND after `--`, or --pid PID (see memmon run --help)");
        return EXIT_USAGE;
    }
    let (tx, rx) = mpsc::channel();
    if let Err(e) = watch_signals(tx.clone()) {
        eprintln!("memmon: cannot install signal handlers: {e}");
        return EXIT_USAGE;
    }

    if !config.enabled {
        let source = resolved
            .source
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the configuration".into());
        if args.command.is_empty() {
            eprintln!("memmon: monitoring is disabled (enabled: false in {source}); nothing to do (use --enable to monitor anyway)");
            return 0;
        }
        eprintln!("memmon: monitoring is disabled (enabled: false in {source}); running the command unmonitored (use --enable to monitor)");
        return match spawn(&args, &tx, None) {
            Ok((pid, pidfd)) => wait_unmonitored(pid, pidfd.as_ref(), &rx),
            Err(code) => code,
        };
    }

    let sink_options = SinkOptions {
        max_bytes: (config.max_log_mb * MIB as f64) as u64,
        keep: config.keep_logs,
        sync: config.interval.as_secs_f64() >= 1.0,
    };
    let sink = match LogSink::open(&config.log_file, sink_options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("memmon: {e}");
            return EXIT_USAGE;
        }
    };

    let mut child_pidfd = None;
    // The hook's directory lives until `run` returns (every exit path drops it).
    let hook = (args.pid.is_none()
        && config.tracemalloc
        && config.detail_source != DetailSourceKind::Smaps)
        .then(|| match HookDir::create() {
            Ok(h) => Some(h),
            Err(e) => {
                eprintln!("memmon: cannot set up the Python tracemalloc hook: {e}; detail comes from smaps");
                None
            }
        })
        .flatten();
    let pid = match args.pid {
        Some(pid) => pid,
        None => match spawn(
            &args,
            &tx,
            hook.as_ref().map(|h| (h, config.tracemalloc_frames)),
        ) {
            Ok((pid, pidfd)) => {
                child_pidfd = pidfd;
                pid
            }
            Err(code) => return code,
        },
    };
    let command_mode = args.pid.is_none();

    let options = ProcfsOptions {
        root: args.proc_root.clone(),
        children: args.children,
    };
    let sampler = match memmon_sampler::auto_sampler(pid, options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("memmon: cannot watch process {pid}: {}", explain(&e));
            if command_mode {
                // The command runs anyway: memmon's trouble must not take it down.
                return wait_unmonitored(pid, child_pidfd.as_ref(), &rx);
            }
            return EXIT_USAGE;
        }
    };
    if !command_mode {
        watch_pid(pid, tx.clone());
    }
    let detail = config.tracemalloc.then(|| -> Box<dyn DetailSource + Send> {
        match &hook {
            Some(h) => Box::new(PythonDetail::new(
                pid,
                args.proc_root.clone(),
                h.path(),
                PythonOptions {
                    children: args.children,
                    timeout: config.tracemalloc_timeout,
                    kind: config.detail_source,
                },
            )),
            None => Box::new(SmapsSource::new(pid, args.proc_root.clone())),
        }
    });
    let proc_root = args.proc_root.is_dir().then(|| args.proc_root.clone());
    let metrics = match Metrics::start(MetricsOptions {
        name: metrics_name(&config, &args, pid),
        textfile: config.prom_textfile.clone(),
        listen: config.metrics_listen,
    }) {
        Ok(m) => m,
        Err(e) => {
            // The command is already running: memmon watches it anyway, without metrics.
            eprintln!("memmon: {e}; metrics are off for this run");
            None
        }
    };
    let mut session = Session::start(SessionParts {
        sampler,
        detail,
        sink,
        settings: MonitorSettings {
            warn_threshold: MonitorSettings::threshold_from_mib(config.warn_threshold_mb),
            detail_every: Some(config.detail_every),
        },
        interval: config.interval,
        duration: args.duration,
        startup_delay: config.startup_delay.unwrap_or(if command_mode {
            DEFAULT_STARTUP_DELAY
        } else {
            Duration::ZERO
        }),
        pid,
        proc_root,
        console: Console::plain(),
        metrics,
        waker: Waker::from(Arc::new(DetailWaker(tx.clone()))),
    });

    let pidfd = child_pidfd;
    let mut last_interrupt: Option<Instant> = None;
    loop {
        let Some(deadline) = session.next_deadline() else {
            // Duration over: footer now, then the command keeps running unmonitored.
            session.finish(None, true);
            return if command_mode {
                wait_unmonitored(pid, pidfd.as_ref(), &rx)
            } else {
                0
            };
        };
        // Wait for the deadline, handling whatever wakes us first.
        loop {
            let now = Instant::now();
            if deadline <= now {
                // A due sample goes first: a signal that came with it is handled right after,
                // so even a run stopped at once has a sample for its footer.
                break;
            }
            // A pending detail block that times out before the sample is written on time.
            let until = match session.detail_deadline() {
                Some(d) if d < deadline => d,
                _ => deadline,
            };
            match rx.recv_timeout(until.saturating_duration_since(now)) {
                Err(RecvTimeoutError::Timeout) => {
                    if until < deadline {
                        session.detail_ready();
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
                Ok(Wake::Detail) => session.detail_ready(),
                Ok(Wake::Signal {
                    number,
                    from_kernel,
                }) => {
                    if !command_mode {
                        session.finish(None, true);
                        return 0;
                    }
                    let now = Instant::now();
                    let repeat = number == SIGINT
                        && last_interrupt.is_some_and(|t| now.duration_since(t) < DOUBLE_INTERRUPT);
                    if number == SIGINT {
                        last_interrupt = Some(now);
                    }
                    if repeat {
                        send(pid, pidfd.as_ref(), Signal::KILL);
                        session.finish(None, false);
                        return 130;
                    }
                    // A terminal's Ctrl-C already reached the command (same process group).
                    if !from_kernel {
                        if let Some(sig) = Signal::from_named_raw(number) {
                            send(pid, pidfd.as_ref(), sig);
                        }
                    }
                }
                Ok(Wake::ChildExited(status)) => {
                    session.finish(Some(exit_kind(status)), false);
                    return exit_code(status);
                }
                Ok(Wake::ChildWaitFailed(e)) => {
                    eprintln!("memmon: lost track of the command: {e}");
                    session.finish(None, false);
                    return EXIT_USAGE;
                }
                Ok(Wake::TargetGone) => {
                    session.target_gone();
                    session.finish(None, false);
                    return 0;
                }
            }
        }
        match session.sample() {
            Attempt::Sampled | Attempt::Failed => {}
            Attempt::Gone if command_mode => {
                // The command is ending: its exit status is on its way.
                match rx.recv_timeout(EXIT_GRACE) {
                    Ok(Wake::ChildExited(status)) => {
                        session.finish(Some(exit_kind(status)), false);
                        return exit_code(status);
                    }
                    _ => continue,
                }
            }
            Attempt::Gone => {
                session.target_gone();
                session.finish(None, false);
                return 0;
            }
        }
    }
}

/// The metrics' `name` label: the config's `name`, else the command's file name (stable across
/// restarts, unlike a PID), else `pid-N` for --pid.
fn metrics_name(config: &memmon_config::Config, args: &RunArgs, pid: u32) -> String {
    if let Some(n) = &config.name {
        return n.clone();
    }
    args.command
        .first()
        .and_then(|c| std::path::Path::new(c).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("pid-{pid}"))
}

/// Starts the command with stdin, stdout and stderr passed through, and a thread that reports
/// its exit. Spawn failures give the shell's codes: 127 not found, 126 not executable.
/// With a hook (and `tracemalloc_frames`), Python processes of the command load memmon's
/// `sitecustomize` and serve tracemalloc snapshots.
fn spawn(
    args: &RunArgs,
    tx: &Sender<Wake>,
    hook: Option<(&HookDir, u32)>,
) -> Result<(u32, Option<OwnedFd>), i32> {
    let Some((program, rest)) = args.command.split_first() else {
        return Err(EXIT_USAGE);
    };
    let mut command = Command::new(program);
    command.args(rest);
    if let Some((hook, frames)) = hook {
        hook.apply(&mut command, frames);
    }
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("memmon: cannot start {}: {e}", program.to_string_lossy());
            return Err(match e.kind() {
                std::io::ErrorKind::NotFound => 127,
                _ => 126,
            });
        }
    };
    let pid = child.id();
    // A pidfd names this very process, so a signal can never reach a reused PID.
    let pidfd = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .and_then(|p| rustix::process::pidfd_open(p, PidfdFlags::empty()).ok());
    let tx = tx.clone();
    let waiter = std::thread::Builder::new()
        .name("memmon-wait".into())
        .spawn(move || {
            let msg = match child.wait() {
                Ok(status) => Wake::ChildExited(status),
                Err(e) => Wake::ChildWaitFailed(e.to_string()),
            };
            let _ = tx.send(msg);
        });
    if let Err(e) = waiter {
        // Without the waiter memmon cannot tell when the command ends; the command still runs.
        eprintln!("memmon: cannot start a thread: {e}");
        return Err(EXIT_USAGE);
    }
    Ok((pid, pidfd))
}

/// Waits for the command without monitoring it, passing signals on; returns its exit code.
fn wait_unmonitored(pid: u32, pidfd: Option<&OwnedFd>, rx: &Receiver<Wake>) -> i32 {
    let mut last_interrupt: Option<Instant> = None;
    loop {
        match rx.recv() {
            Ok(Wake::ChildExited(status)) => return exit_code(status),
            Ok(Wake::ChildWaitFailed(e)) => {
                eprintln!("memmon: lost track of the command: {e}");
                return EXIT_USAGE;
            }
            Ok(Wake::Signal {
                number,
                from_kernel,
            }) => {
                let now = Instant::now();
                if number == SIGINT
                    && last_interrupt.is_some_and(|t| now.duration_since(t) < DOUBLE_INTERRUPT)
                {
                    send(pid, pidfd, Signal::KILL);
                    return 130;
                }
                if number == SIGINT {
                    last_interrupt = Some(now);
                }
                if !from_kernel {
                    if let Some(sig) = Signal::from_named_raw(number) {
                        send(pid, pidfd, sig);
                    }
                }
            }
            Ok(Wake::TargetGone | Wake::Detail) => {}
            Err(_) => return EXIT_USAGE,
        }
    }
}

/// Sends a signal to the command, through its pidfd when there is one.
fn send(pid: u32, pidfd: Option<&OwnedFd>, sig: Signal) {
    let result = match pidfd {
        Some(fd) => rustix::process::pidfd_send_signal(fd, sig),
        None => match i32::try_from(pid).ok().and_then(Pid::from_raw) {
            Some(p) => rustix::process::kill_process(p, sig),
            None => return,
        },
    };
    if let Err(e) = result {
        tracing::debug!("signal {sig:?} to {pid} not delivered: {e}");
    }
}

/// SIGINT, SIGTERM and SIGHUP arrive as messages, with whether the kernel (a terminal) sent them.
pub(crate) fn watch_signals(tx: Sender<Wake>) -> std::io::Result<()> {
    let mut signals = SignalsInfo::<WithOrigin>::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("memmon-signals".into())
        .spawn(move || {
            for origin in signals.forever() {
                let wake = Wake::Signal {
                    number: origin.signal,
                    from_kernel: origin.cause == Cause::Kernel,
                };
                if tx.send(wake).is_err() {
                    break;
                }
            }
        })?;
    Ok(())
}

/// With --pid, a pidfd becomes readable when the process exits: memmon stops at once instead
/// of at the next sample. Without pidfd support the next sample notices.
fn watch_pid(pid: u32, tx: Sender<Wake>) {
    let Some(fd) = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .and_then(|p| rustix::process::pidfd_open(p, PidfdFlags::empty()).ok())
    else {
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("memmon-pid".into())
        .spawn(move || {
            use rustix::event::{poll, PollFd, PollFlags};
            let mut fds = [PollFd::new(&fd, PollFlags::IN)];
            loop {
                match poll(&mut fds, None) {
                    Ok(n) if n > 0 => break,
                    Ok(_) | Err(rustix::io::Errno::INTR) => continue,
                    Err(_) => return,
                }
            }
            let _ = tx.send(Wake::TargetGone);
        });
    if let Err(e) = spawned {
        tracing::debug!("no pid watcher thread: {e}");
    }
}

fn exit_kind(status: ExitStatus) -> ExitKind {
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitKind::Code(code),
        (None, Some(sig)) => ExitKind::Signal {
            number: sig,
            name: signal_name(sig).to_string(),
        },
        (None, None) => ExitKind::Code(-1),
    }
}

fn exit_code(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        (None, None) => EXIT_USAGE,
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => "SIG?",
    }
}

/// Turns a sampler error into advice for the user.
fn explain(e: &SampleError) -> String {
    match e {
        SampleError::Exited { pid } => format!("no process {pid} exists"),
        SampleError::PermissionDenied { path } => format!(
            "permission denied reading {path}: the process belongs to another user; run memmon as that user (or root)"
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(15)), 143);
        assert_eq!(
            exit_kind(ExitStatus::from_raw(9)),
            ExitKind::Signal {
                number: 9,
                name: "SIGKILL".into()
            }
        );
    }
}
