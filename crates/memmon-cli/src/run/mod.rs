//! `memmon run`: start a command (or attach to a PID), watch it on the schedule, pass signals
//! on, and leave a log that ends with a footer whatever happens.
//!
//! Monitoring never keeps the command from running: whatever goes wrong with monitoring (a
//! broken config, a log that cannot be opened, a process that cannot be read), a command memmon
//! starts still runs, unmonitored, memmon says why on stderr and, when it can, in the log
//! (`監視なしで実行します`), and ends the way the command ends. Only `--pid` keeps exit 2.

use crate::cli::RunArgs;
use crate::exit::Ending;
use crate::lang::{tr, Lang};
use crate::settings;
use crate::signals::{Forwarder, Target};
use memmon_config::{Config, DetailSourceKind, PythonHook};
use memmon_core::{DetailSource, Reading};
use memmon_core::{MonitorSettings, SampleError, MIB};
use memmon_format::Investigation;
use memmon_sampler::{HookDir, ProcfsOptions, PythonDetail, PythonOptions, SmapsSource, WithSmaps};
use memmon_watch::console::Console;
use memmon_watch::evidence::EvidenceOptions;
use memmon_watch::metrics::{Metrics, MetricsOptions};
use memmon_watch::say;
use memmon_watch::session::{Attempt, DiagnosisOptions, Final, Session, SessionParts};
use memmon_watch::sink::{LogSink, SinkOptions};
use rustix::process::{Pid, PidfdFlags};
use signal_hook::consts::SIGINT;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

pub(crate) use crate::signals::{watch as watch_signals, Wake};
pub use fail_open::bad_arguments;
use fail_open::{write_unmonitored, Ended, LogTarget};
use orphans::{tree_sampler, Adoption};
use std::ops::ControlFlow;
use words::{exit_kind, explain, lost_track, unmonitored_notice};

mod fail_open;
mod orphans;
mod watch;
mod words;

/// How long a sample that found the command gone waits for its exit status.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// The spec's default `startup_delay` for a command memmon starts: the users' start script
/// waits up to 30 s for the card reader, then the client imports its libraries.
const DEFAULT_STARTUP_DELAY: Duration = Duration::from_secs(60);

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

/// Exit code for bad usage, configuration, or a process that cannot be watched.
pub const EXIT_USAGE: i32 = 2;

/// The channel, the signal thread and the settings every way of running shares.
struct Ctx<'a> {
    args: &'a RunArgs,
    tx: Sender<Wake>,
    rx: Receiver<Wake>,
    forwarder: Forwarder,
    stop_timeout: Duration,
    /// memmon as the command's child subreaper (see `orphans`), once the command is started.
    adoption: Option<Adoption>,
}

/// Runs `memmon run` and says how memmon ends.
pub fn run(args: RunArgs) -> Ending {
    crate::lang::set_current(args.lang.get());
    let command_mode = args.pid.is_none();
    if args.command.is_empty() && command_mode {
        let lang = args.lang.get();
        say!(
            "memmon: {}",
            tr!(
                lang,
                "監視するものがありません: `--` の後にコマンドを、または --pid PID を指定してください (memmon run --help)",
                "nothing to watch: give a COMMAND after `--`, or --pid PID (see memmon run --help)"
            )
        );
        return Ending::Code(EXIT_USAGE);
    }
    let (tx, rx) = mpsc::channel();
    let (forwarder, no_signals) = match watch_signals(tx.clone(), command_mode) {
        Ok(f) => (f, None),
        Err(e) => (
            Forwarder::default(),
            Some(tr!(
                args.lang.get(),
                "シグナルハンドラを設定できません: {e}",
                "cannot install signal handlers: {e}"
            )),
        ),
    };
    let ctx = Ctx {
        args: &args,
        tx,
        rx,
        forwarder,
        stop_timeout: args.stop_timeout,
        adoption: None,
    };
    if let Some(why) = no_signals {
        if !command_mode {
            say!("memmon: {why}");
            return Ending::Code(EXIT_USAGE);
        }
        return ctx.unmonitored(&why, None, true);
    }
    let resolved = match settings::resolve_run(&args) {
        Ok(r) => r,
        Err(e) => {
            let why = e.message(args.lang.get());
            if !command_mode {
                say!("memmon: {why}");
                return Ending::Code(EXIT_USAGE);
            }
            // A typo must not switch on what the user switched off: no defaults, no
            // monitoring. The log's path is the flag's, else the default one.
            let log = LogTarget {
                path: args
                    .log
                    .clone()
                    .unwrap_or_else(|| Config::default().log_file),
                interval: args.interval.unwrap_or(Config::default().interval),
            };
            return ctx.unmonitored(&why, Some(log), true);
        }
    };
    ctx.monitor(resolved.config, resolved.source.as_deref())
}

impl Ctx<'_> {
    fn lang(&self) -> Lang {
        self.args.lang.get()
    }

    fn command_mode(&self) -> bool {
        self.args.pid.is_none()
    }

    /// Watches the command (or PID) with a valid configuration.
    fn monitor(mut self, config: Config, source: Option<&Path>) -> Ending {
        let args = self.args;
        let command_mode = self.command_mode();
        let lang = self.lang();
        if !config.enabled {
            let source = source
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| lang.pick("設定", "the configuration").into());
            if !command_mode {
                say!("memmon: {}", tr!(lang,
                    "監視は無効です ({source} で enabled: false)。何もしません (それでも監視するには --enable)",
                    "monitoring is disabled (enabled: false in {source}); nothing to do (use --enable to monitor anyway)"));
                return Ending::Code(0);
            }
            say!("memmon: {}", tr!(lang,
                "監視は無効です ({source} で enabled: false)。コマンドを監視なしで実行します (監視するには --enable)",
                "monitoring is disabled (enabled: false in {source}); running the command unmonitored (use --enable to monitor)"));
            return self.run_unmonitored();
        }

        let sink_options = SinkOptions {
            max_bytes: (config.max_log_mb * MIB as f64) as u64,
            keep: config.keep_logs,
            sync: config.interval.as_secs_f64() >= 1.0,
        };
        let sink = match LogSink::open(&config.log_file, sink_options) {
            Ok(s) => s,
            Err(e) => {
                let why = e.message(lang);
                if !command_mode {
                    say!("memmon: {why}");
                    return Ending::Code(EXIT_USAGE);
                }
                return self.unmonitored(&why, None, true);
            }
        };

        // The hook goes into every command memmon starts (`python_hook: auto`), whatever
        // `tracemalloc` says: with it off the hook only listens, and memmon asks it nothing.
        // Its directory lives until `monitor` returns (every exit path drops it).
        let hook = (command_mode && config.python_hook == PythonHook::Auto)
            .then(|| match HookDir::create() {
                Ok(h) => Some(h),
                Err(e) => {
                    if python_detail(&config) {
                        say!("memmon: {}", tr!(lang,
                            "Python の tracemalloc フックを用意できません: {e}。詳細は smaps から取ります",
                            "cannot set up the Python tracemalloc hook: {e}; detail comes from smaps"));
                    } else {
                        say!("memmon: {}", tr!(lang,
                            "Python のフックを用意できません: {e}。Python のプロセスはフックなしで動きます",
                            "cannot set up the Python hook: {e}; Python processes run without it"));
                    }
                    None
                }
            })
            .flatten();
        if command_mode && config.python_hook == PythonHook::Off && python_detail(&config) {
            say!(
                "memmon: {}",
                tr!(
                    lang,
                    "python_hook が off なので tracemalloc は使えません。詳細は smaps から取ります",
                    "python_hook is off, so there is no tracemalloc; detail comes from smaps"
                )
            );
        }
        // Before the command starts, so that no orphan of its tree escapes to init.
        if command_mode && args.proc_root.is_dir() {
            self.adoption = Adoption::start(&args.proc_root, self.tx.clone());
        }
        let (pid, pidfd) = match args.pid {
            Some(pid) => (pid, None),
            None => match spawn(
                args,
                &self.tx,
                hook.as_ref().map(|h| (h, config.tracemalloc_frames)),
            ) {
                Ok(started) => started,
                Err(code) => return Ending::Code(code),
            },
        };
        if let Some(adoption) = &self.adoption {
            adoption.command_started(pid);
        }

        let options = ProcfsOptions {
            root: args.proc_root.clone(),
            children: args.children,
        };
        let proc_root = args.proc_root.is_dir().then(|| args.proc_root.clone());
        let sampler = match tree_sampler(pid, options.clone(), self.adoption.as_ref()) {
            Ok(s) => s,
            // The command ended before its `/proc` files could be opened (a crash loop's
            // instant exit): its run still gets a header, its exit line and a footer.
            Err(SampleError::Exited { .. } | SampleError::Zombie { .. }) if command_mode => {
                Box::new(Ended(pid))
            }
            Err(e) => {
                let why = explain(&e, pid, lang);
                if !command_mode {
                    say!("memmon: {why}");
                    return Ending::Code(EXIT_USAGE);
                }
                self.set_target(pid, pidfd, None);
                say!("memmon: {why}");
                say!("memmon: {}", unmonitored_notice(lang));
                let mut sink = sink;
                write_unmonitored(&mut sink, pid, config.interval, &why);
                return self.wait_unmonitored();
            }
        };
        if command_mode {
            // The signal thread's own reader: the fresh final sample is taken there, before
            // the stop signal goes on, so the footer shows the client before it stopped.
            let sampler = tree_sampler(pid, options, self.adoption.as_ref()).ok();
            self.set_target(pid, pidfd, sampler);
        } else {
            watch_pid(pid, self.tx.clone());
        }
        // With tracemalloc off, the hooked processes' source waits: a leak the trend calls
        // likely starts it (config `escalate`, issue #19).
        let dormant = hook
            .as_ref()
            .filter(|_| !python_detail(&config) && config.escalate)
            .map(|h| -> Box<dyn DetailSource + Send> {
                Box::new(PythonDetail::new(
                    pid,
                    args.proc_root.clone(),
                    h.path(),
                    PythonOptions {
                        children: args.children,
                        timeout: config.tracemalloc_timeout,
                        smaps: with_smaps(config.detail_source),
                    },
                ))
            });
        let diagnosis = DiagnosisOptions {
            breakdown: config.breakdown,
            escalate: config.escalate,
            malloc_trim_probe: config.malloc_trim_probe,
            tracing: config.tracemalloc && hook.is_some() && python_detail(&config),
            no_hook: match (command_mode, hook.is_some()) {
                (_, true) => None,
                (false, false) => Some(Investigation::NoHookPid),
                (true, false) => Some(Investigation::HookOff),
            },
            leak_line: true,
        };
        let detail = config.tracemalloc.then(|| -> Box<dyn DetailSource + Send> {
            match hook.as_ref().filter(|_| python_detail(&config)) {
                Some(h) => Box::new(PythonDetail::new(
                    pid,
                    args.proc_root.clone(),
                    h.path(),
                    PythonOptions {
                        children: args.children,
                        timeout: config.tracemalloc_timeout,
                        smaps: with_smaps(config.detail_source),
                    },
                )),
                None => Box::new(SmapsSource::new(pid, args.proc_root.clone())),
            }
        });
        let metrics = match Metrics::start(MetricsOptions {
            name: metrics_name(&config, args, pid),
            textfile: config.prom_textfile.clone(),
            listen: config.metrics_listen,
        }) {
            Ok(m) => m,
            Err(e) => {
                // The command is already running: memmon watches it anyway, without metrics.
                say!(
                    "memmon: {}",
                    tr!(
                        lang,
                        "{e}。この実行ではメトリクスを出しません",
                        "{e}; metrics are off for this run"
                    )
                );
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
            lang,
            startup_delay: config.startup_delay.unwrap_or(if command_mode {
                DEFAULT_STARTUP_DELAY
            } else {
                Duration::ZERO
            }),
            pid,
            proc_root,
            console: Console::plain(),
            metrics,
            waker: Waker::from(Arc::new(DetailWaker(self.tx.clone()))),
            diagnosis,
            dormant,
        });
        session.set_evidence(EvidenceOptions {
            on: config.evidence,
            max: config.evidence_max as usize,
            max_kb: u64::from(config.evidence_max_kb),
            horizon: config.evidence_horizon,
            floor_mb: config.evidence_floor_mb.max(0.0).round() as u64,
            pressure: config.evidence_pressure,
            children: args.children,
            ..EvidenceOptions::default()
        });
        let ending = self.watch(session);
        drop(hook);
        ending
    }

    fn set_target(
        &self,
        pid: u32,
        pidfd: Option<OwnedFd>,
        sampler: Option<Box<dyn memmon_core::Sampler + Send>>,
    ) {
        self.forwarder.set(Target {
            pid,
            pidfd: pidfd.map(Arc::new),
            proc_root: self
                .args
                .proc_root
                .is_dir()
                .then(|| self.args.proc_root.clone()),
            sampler,
            ended: false,
        });
    }
}

/// Whether the configuration asks for tracemalloc's detail from the hook: `tracemalloc` on and
/// a `detail_source` other than `smaps`. Otherwise no `PythonDetail` is built and the hook, if
/// installed, is never asked anything.
fn python_detail(config: &memmon_config::Config) -> bool {
    config.tracemalloc && config.detail_source != DetailSourceKind::Smaps
}

/// The configuration's `detail_source` as the Python detail takes it (`smaps` never builds one).
fn with_smaps(kind: DetailSourceKind) -> WithSmaps {
    match kind {
        DetailSourceKind::Auto => WithSmaps::WhenNoAnswer,
        DetailSourceKind::Both => WithSmaps::Always,
        DetailSourceKind::Python | DetailSourceKind::Smaps => WithSmaps::Never,
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
    let lang = args.lang.get();
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
            let program = program.to_string_lossy();
            say!(
                "memmon: {}",
                tr!(
                    lang,
                    "{program} を起動できません: {e}",
                    "cannot start {program}: {e}"
                )
            );
            return Err(match e.kind() {
                std::io::ErrorKind::NotFound => 127,
                _ => 126,
            });
        }
    };
    let pid = child.id();
    // A first sample taken before the program is mapped would read memmon's own child
    // mid-`execve` (0.00 MB) as the baseline; the command runs on either way.
    memmon_sampler::wait_until_loaded(&args.proc_root, pid, std::time::Duration::from_millis(200));
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
        say!(
            "memmon: {}",
            tr!(
                lang,
                "スレッドを起動できません: {e}",
                "cannot start a thread: {e}"
            )
        );
        return Err(EXIT_USAGE);
    }
    Ok((pid, pidfd))
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
