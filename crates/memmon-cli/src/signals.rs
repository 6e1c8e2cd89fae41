//! Signals memmon receives, and the stop signal passed on to the watched tree.
//!
//! The stop signals (SIGTERM, SIGINT, SIGHUP) are handled on their own thread, where they
//! arrive: that thread takes the fresh final sample, then forwards the signal to the command
//! and every descendant at once, and only then tells the main loop. So forwarding never waits
//! behind a log write or an `fdatasync` (an SD card can stall for seconds), and the footer's
//! 最終メモリ is the client as it was before it began to stop.

use memmon_core::{Reading, Sampler};
use rustix::process::{Pid, Signal};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::iterator::SignalsInfo;
use signal_hook::low_level::siginfo::Cause;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A second SIGINT within this window kills the command's tree instead of waiting for it.
const DOUBLE_INTERRUPT: Duration = Duration::from_secs(2);

/// What wakes `memmon run`'s loop.
pub(crate) enum Wake {
    /// A stop signal arrived (and was already passed on, when there is a command).
    Signal {
        /// The signal's number.
        number: i32,
        /// The fresh sample taken before the signal was forwarded.
        fresh: Option<Reading>,
        /// A second SIGINT: the tree was sent SIGKILL.
        killed: bool,
    },
    /// The command ended.
    ChildExited(ExitStatus),
    /// Waiting for the command failed.
    ChildWaitFailed(String),
    /// The process watched with `--pid` is gone.
    TargetGone,
    /// A pending detail block may be complete.
    Detail,
}

/// The command the signals go on to.
pub(crate) struct Target {
    /// The command's PID.
    pub pid: u32,
    /// A pidfd names this very process, so a signal never reaches a reused PID.
    pub pidfd: Option<Arc<OwnedFd>>,
    /// Where descendants are found (`None`: no procfs, only the command is signalled).
    pub proc_root: Option<PathBuf>,
    /// Reads the final sample before the signal goes on (`None`: unmonitored).
    pub sampler: Option<Box<dyn Sampler + Send>>,
}

/// Hands the signal thread the command once it runs.
#[derive(Clone, Default)]
pub(crate) struct Forwarder {
    target: Arc<Mutex<Option<Target>>>,
}

impl Forwarder {
    /// From now on, stop signals go on to `target`'s tree.
    pub fn set(&self, target: Target) {
        *self.target.lock().unwrap_or_else(PoisonError::into_inner) = Some(target);
    }
}

/// Starts the signal thread; every stop signal becomes a [`Wake::Signal`] on `tx`.
pub(crate) fn watch(tx: Sender<Wake>) -> std::io::Result<Forwarder> {
    let mut signals = SignalsInfo::<WithOrigin>::new([SIGINT, SIGTERM, SIGHUP])?;
    let forwarder = Forwarder::default();
    let shared = Arc::clone(&forwarder.target);
    std::thread::Builder::new()
        .name("memmon-signals".into())
        .spawn(move || {
            let mut last_interrupt: Option<Instant> = None;
            for origin in signals.forever() {
                let number = origin.signal;
                let from_kernel = origin.cause == Cause::Kernel;
                let now = Instant::now();
                let repeat = number == SIGINT
                    && last_interrupt.is_some_and(|t| now.duration_since(t) < DOUBLE_INTERRUPT);
                if number == SIGINT {
                    last_interrupt = Some(now);
                }
                let mut fresh = None;
                let mut killed = false;
                if let Some(target) = shared
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_mut()
                {
                    if repeat {
                        signal_tree(target, Signal::KILL);
                        killed = true;
                    } else {
                        fresh = target.sampler.as_mut().and_then(|s| s.sample().ok());
                        // A terminal's Ctrl-C already reached the whole foreground group.
                        if !from_kernel {
                            if let Some(sig) = Signal::from_named_raw(number) {
                                signal_tree(target, sig);
                            }
                        }
                    }
                }
                let wake = Wake::Signal {
                    number,
                    fresh,
                    killed,
                };
                if tx.send(wake).is_err() {
                    break;
                }
            }
        })?;
    Ok(forwarder)
}

/// Sends `sig` to the command and to every descendant it has now. The descendants are listed
/// first: once the command is gone its children are re-parented and can no longer be found.
/// A launcher that does not `exec` would otherwise die alone and leave its client without the
/// stop signal.
pub(crate) fn signal_tree(target: &Target, sig: Signal) {
    let descendants = target
        .proc_root
        .as_deref()
        .and_then(|root| memmon_sampler::descendants(root, target.pid).ok())
        .unwrap_or_default();
    send(target.pid, target.pidfd.as_deref(), sig);
    for pid in descendants {
        send(pid, None, sig);
    }
}

/// Sends a signal to one process, through its pidfd when there is one.
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
