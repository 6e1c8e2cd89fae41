//! Signals memmon receives, passed on to the watched tree.
//!
//! memmon forwards what a service manager, a terminal or a user sends: HUP, INT, QUIT, TERM,
//! USR1, WINCH, ALRM and CONT; the job-control stops (TSTP, TTIN, TTOU) are forwarded and
//! then memmon stops itself, as the command did. CHLD is never forwarded (memmon's own wakes the
//! thread that reaps the orphans it adopts, see `run::orphans`), and SEGV, BUS, ILL and
//! FPE are memmon's own faults, not the command's. USR2 is memmon's own too: it asks for an
//! evidence bundle now (issue #20's flight recorder) and is never passed on. `systemctl kill`
//! signals every process of the unit unless `--kill-whom=main` is given, and SIGUSR2 ends a
//! Python client that has no handler for it: ask with `systemctl kill --kill-whom=main -s USR2
//! UNIT` or `kill -USR2 <memmon's PID>`. A signal that was ignored when memmon started
//! (`nohup`) gets no handler, so it stays ignored in memmon and, inherited, in the command.
//!
//! Signals are handled on their own thread, where they arrive. For the stop signals (TERM,
//! INT, HUP, QUIT) that thread first takes the fresh final sample, then forwards the signal to
//! the command and every descendant at once, and only then tells the main loop. So forwarding
//! never waits behind a log write or an `fdatasync` (an SD card can stall for seconds), and the
//! footer's 最終メモリ is the client as it was before it began to stop.
//!
//! A stop signal that arrives before the command is known (while memmon reads its config,
//! opens the log, prepares the hook, spawns) is kept and goes on as soon as the command is
//! handed over ([`Forwarder::set`]): the command is started and stopped at once, as it would
//! have been had it been there, so the run still gets its header, exit line and footer and
//! memmon ends as the command did. Before, it was told to the loop alone, which then waited
//! `--stop-timeout` for a command nobody had signalled and left it running.

use memmon_core::{Reading, Sampler};
use rustix::process::{Pid, PidfdFlags, Signal};
use signal_hook::consts::{
    SIGALRM, SIGCONT, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGTSTP, SIGTTIN, SIGTTOU, SIGUSR1,
    SIGUSR2, SIGWINCH,
};
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

/// At most this many stop signals are kept for a command not started yet.
const EARLY_KEPT: usize = 8;

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
    /// An orphan memmon adopted as the command's subreaper ended and was reaped (see
    /// `run::orphans`): the command's tree may be gone.
    Reaped,
    /// SIGUSR2: an evidence bundle now (never passed on to the command).
    Evidence,
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
    /// The command has ended: signals go to no process (its PID, and its tree's, may be
    /// reused); only the fresh sample is still taken.
    pub ended: bool,
}

/// What the signal thread knows of the command.
#[derive(Default)]
struct Slot {
    /// The command, once it runs.
    target: Option<Target>,
    /// Whether a command is to come (`memmon run -- COMMAND`); with `--pid` stop signals are
    /// the loop's alone.
    command: bool,
    /// Stop signals that arrived before the command was known, in order, each with whether
    /// it was a second SIGINT within [`DOUBLE_INTERRUPT`].
    early: Vec<(i32, bool)>,
    /// Other forwarded signals (SIGUSR1, a job-control stop, …) sent to memmon before the
    /// command was known: kept for it, in order, as stop signals are, so that a `kill -TSTP`
    /// that wins the race with memmon's start-up still stops the command (and then memmon).
    early_other: Vec<i32>,
}

/// Hands the signal thread the command once it runs.
#[derive(Clone, Default)]
pub(crate) struct Forwarder {
    slot: Arc<Mutex<Slot>>,
    /// The descendants a stop signal went to (pinned by pidfds), for the loop to wait for.
    stopping: Arc<Mutex<Vec<OwnedFd>>>,
    /// Where an early stop signal is told to the loop once it went on (`None`: no signal
    /// thread, so there is nothing early).
    tx: Option<Sender<Wake>>,
}

impl Forwarder {
    /// From now on, stop signals go on to `target`'s tree; a stop signal that arrived before
    /// goes on now, exactly as if it arrived now (final sample first, then the tree, then the
    /// loop is told). Ctrl-C from the terminal included: the command was not there to get it.
    pub fn set(&self, target: Target) {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        let early = std::mem::take(&mut slot.early);
        let early_other = std::mem::take(&mut slot.early_other);
        let target = slot.target.insert(target);
        let mut stop_self = false;
        for number in early_other {
            if let Some(sig) = Signal::from_named_raw(number) {
                let _ = signal_tree(target, sig);
            }
            stop_self |= JOB_STOPS.contains(&number);
        }
        if let Some(tx) = &self.tx {
            for (number, repeat) in early {
                if !stop(target, number, repeat, true, tx, &self.stopping) {
                    break;
                }
            }
        }
        drop(slot);
        if stop_self {
            // Stopped as the command now is; SIGCONT (forwarded too) resumes both.
            let _ = rustix::process::kill_process(rustix::process::getpid(), Signal::STOP);
        }
    }

    /// The command has ended (its status was collected): from now on a stop signal goes to no
    /// tree, since its PID may be reused by an unrelated process whose children must never get
    /// memmon's signals. The fresh final sample is still taken (of what the command left).
    pub fn command_gone(&self) {
        if let Some(target) = self
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .target
            .as_mut()
        {
            target.ended = true;
        }
    }

    /// Waits until every descendant a stop signal went to has ended, or until `until`: a
    /// client behind a launcher that does not `exec` is still finishing its graceful stop
    /// when the launcher is gone, and under `KillMode=mixed` systemd kills whatever is left
    /// of the unit as soon as memmon exits. Daemonized descendants (re-parented out of the
    /// tree before the signal) were never signalled and are not waited for.
    pub fn wait_for_stopped(&self, until: std::time::Instant) {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let mut fds =
            std::mem::take(&mut *self.stopping.lock().unwrap_or_else(PoisonError::into_inner));
        while !fds.is_empty() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            let mut polled: Vec<PollFd<'_>> = fds
                .iter()
                .map(|fd| PollFd::new(fd, PollFlags::IN))
                .collect();
            let timeout = Timespec::try_from(left).ok();
            match poll(&mut polled, timeout.as_ref()) {
                Ok(0) => return,
                Ok(_) => {
                    // A pidfd is readable once its process has ended.
                    let ended: Vec<bool> = polled.iter().map(|p| !p.revents().is_empty()).collect();
                    drop(polled);
                    let mut ended = ended.into_iter();
                    fds.retain(|_| !ended.next().unwrap_or(false));
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => return,
            }
        }
    }
}

/// Signals that end a run: the final sample is taken before they go on.
const STOPS: [i32; 4] = [SIGTERM, SIGINT, SIGHUP, SIGQUIT];
/// Signals that are only passed on.
const PASSED: [i32; 4] = [SIGUSR1, SIGWINCH, SIGALRM, SIGCONT];
/// memmon's own: an evidence bundle now, never passed on.
const KEPT: [i32; 1] = [SIGUSR2];
/// Job-control stops: passed on, then memmon stops itself.
const JOB_STOPS: [i32; 3] = [SIGTSTP, SIGTTIN, SIGTTOU];

/// The stop signals [`hold_stops`] blocked (bit `n` for signal `n`), for [`release_stops`].
static HELD: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Blocks the stop signals (and SIGUSR2, whose default action would end memmon too) that
/// memmon's start did not already block, first thing in `main`:
/// until the handlers are in place a stop signal would kill memmon with its default action,
/// leaving no log (and, after the spawn, a command nobody stops). Blocked, it waits, pending,
/// for [`release_stops`] once the handlers are installed, and is then kept for the command
/// like any early stop signal. Only the start of the process before `main` stays exposed.
pub(crate) fn hold_stops() {
    let mut held = 0u64;
    // SAFETY: sigset_t values are local and initialised by `sigemptyset`/`pthread_sigmask`
    // before use; `pthread_sigmask` only changes the calling thread's mask (the only thread).
    unsafe {
        let mut current: libc::sigset_t = std::mem::zeroed();
        let mut block: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        if libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut current) != 0 {
            return;
        }
        for sig in STOPS.into_iter().chain(KEPT) {
            if libc::sigismember(&current, sig) == 0 {
                libc::sigaddset(&mut block, sig);
                held |= 1 << sig;
            }
        }
        if libc::pthread_sigmask(libc::SIG_BLOCK, &block, std::ptr::null_mut()) == 0 {
            HELD.store(held, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// Unblocks what [`hold_stops`] blocked (once; later calls do nothing): a stop signal that
/// came meanwhile is delivered now, to memmon's handler if one is installed, else with its
/// default action, as it would have been.
pub(crate) fn release_stops() {
    let held = HELD.swap(0, std::sync::atomic::Ordering::SeqCst);
    if held == 0 {
        return;
    }
    // SAFETY: as in `hold_stops`; the set is local and initialised by `sigemptyset`.
    unsafe {
        let mut unblock: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut unblock);
        for sig in STOPS.into_iter().chain(KEPT) {
            if held & (1 << sig) != 0 {
                libc::sigaddset(&mut unblock, sig);
            }
        }
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &unblock, std::ptr::null_mut());
    }
}

/// Whether `sig` was ignored when memmon started (`nohup`, a parent's `SIG_IGN`).
pub(crate) fn ignored_at_start(sig: i32) -> bool {
    // SAFETY: `sigaction` with a null new action only reads the current one into `old`, a
    // local zero-initialised structure.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

/// Starts the signal thread; every stop signal becomes a [`Wake::Signal`] on `tx`. `command`:
/// a command is to come ([`Forwarder::set`]), so a stop signal before it is kept for it.
pub(crate) fn watch(tx: Sender<Wake>, command: bool) -> std::io::Result<Forwarder> {
    let wanted: Vec<i32> = STOPS
        .iter()
        .chain(&PASSED)
        .chain(&KEPT)
        .chain(&JOB_STOPS)
        .copied()
        .filter(|&sig| !ignored_at_start(sig))
        .collect();
    let registered = SignalsInfo::<WithOrigin>::new(wanted);
    // Handlers in place (or none to be had): a stop signal held since `main` began arrives
    // now, and is kept for the command (or, without handlers, acts as it always would).
    release_stops();
    let mut signals = registered?;
    let forwarder = Forwarder {
        slot: Arc::new(Mutex::new(Slot {
            command,
            ..Slot::default()
        })),
        stopping: Arc::default(),
        tx: Some(tx.clone()),
    };
    let shared = Arc::clone(&forwarder.slot);
    let stopping = Arc::clone(&forwarder.stopping);
    std::thread::Builder::new()
        .name("memmon-signals".into())
        .spawn(move || {
            let mut last_interrupt: Option<Instant> = None;
            for origin in signals.forever() {
                let number = origin.signal;
                // A terminal's keys (Ctrl-C, Ctrl-\\, Ctrl-Z) and a window resize already
                // reached the whole foreground group, the command included.
                let from_kernel = origin.cause == Cause::Kernel;
                if KEPT.contains(&number) {
                    if tx.send(Wake::Evidence).is_err() {
                        break;
                    }
                    continue;
                }
                let mut guard = shared.lock().unwrap_or_else(PoisonError::into_inner);
                if !STOPS.contains(&number) {
                    if let Some(target) = guard.target.as_ref() {
                        if !from_kernel {
                            if let Some(sig) = Signal::from_named_raw(number) {
                                let _ = signal_tree(target, sig);
                            }
                        }
                    } else if guard.command && !from_kernel {
                        // Before the command runs: kept for it, and memmon stops (for a job
                        // stop) only once the command has it (see `Forwarder::set`).
                        if guard.early_other.len() < EARLY_KEPT {
                            guard.early_other.push(number);
                        }
                        continue;
                    }
                    drop(guard);
                    if JOB_STOPS.contains(&number) {
                        // Stopped as the command is; SIGCONT (forwarded too) resumes both.
                        let _ =
                            rustix::process::kill_process(rustix::process::getpid(), Signal::STOP);
                    }
                    continue;
                }
                let now = Instant::now();
                let repeat = number == SIGINT
                    && last_interrupt.is_some_and(|t| now.duration_since(t) < DOUBLE_INTERRUPT);
                if number == SIGINT {
                    last_interrupt = Some(now);
                }
                let slot = &mut *guard;
                let Some(target) = slot.target.as_mut() else {
                    if slot.command {
                        // Before the command runs: kept for it (see `Forwarder::set`). A few
                        // are plenty (a stop, a second Ctrl-C); a flood is not kept whole.
                        if slot.early.len() < EARLY_KEPT {
                            slot.early.push((number, repeat));
                        }
                        continue;
                    }
                    // --pid: the loop alone is told.
                    drop(guard);
                    let wake = Wake::Signal {
                        number,
                        fresh: None,
                        killed: false,
                    };
                    if tx.send(wake).is_err() {
                        break;
                    }
                    continue;
                };
                // A terminal's Ctrl-C already reached the whole foreground group: its
                // processes are only waited for.
                let told = stop(target, number, repeat, !from_kernel, &tx, &stopping);
                drop(guard);
                if !told {
                    break;
                }
            }
        })?;
    Ok(forwarder)
}

/// A stop signal for the command's tree: the fresh final sample, the loop told, then the
/// signal to the tree (`forward` false: only the tree's processes are pinned, for the loop to
/// wait for), or SIGKILL for a second SIGINT (`repeat`). Returns whether the loop was told
/// (it is gone otherwise).
fn stop(
    target: &mut Target,
    number: i32,
    repeat: bool,
    forward: bool,
    tx: &Sender<Wake>,
    stopping: &Mutex<Vec<OwnedFd>>,
) -> bool {
    // The loop is told before the signal goes on, so it hears of the stop before the
    // command's death can reach it from the waiter thread; it then waits for the `stopping`
    // list, held here until every process was signalled.
    let mut stopping = stopping.lock().unwrap_or_else(PoisonError::into_inner);
    let (fresh, sig) = if repeat {
        (None, Some(Signal::KILL))
    } else {
        let fresh = target.sampler.as_mut().and_then(|s| s.sample().ok());
        (fresh, Signal::from_named_raw(number).filter(|_| forward))
    };
    let told = tx.send(Wake::Signal {
        number,
        fresh,
        killed: repeat,
    });
    let pinned = match sig {
        Some(sig) => signal_tree(target, sig),
        None => pin_descendants(target)
            .into_iter()
            .map(|(_, fd)| fd)
            .collect(),
    };
    stopping.extend(pinned);
    told.is_ok()
}

/// Sends `sig` to the command and to every descendant it has now. The descendants are listed
/// first: once the command is gone its children are re-parented and can no longer be found.
/// A launcher that does not `exec` would otherwise die alone and leave its client without the
/// stop signal.
pub(crate) fn signal_tree(target: &Target, sig: Signal) -> Vec<OwnedFd> {
    if target.ended {
        return Vec::new();
    }
    let pinned = pin_descendants(target);
    send(target.pid, target.pidfd.as_deref(), sig);
    for (pid, fd) in &pinned {
        send(*pid, Some(fd), sig);
    }
    pinned.into_iter().map(|(_, fd)| fd).collect()
}

/// The command's descendants now, each pinned by a pidfd. A listed PID may have ended and been
/// reused since (PIDs wrap at 32,768 on many systems): a pidfd pins whichever process has it
/// now, and it is kept only if that process's parent is in the tree. All are checked before any
/// signal goes: once the command dies of it, its children are re-parented and could no longer
/// be told from strangers.
fn pin_descendants(target: &Target) -> Vec<(u32, OwnedFd)> {
    let Some(root) = target.proc_root.as_deref().filter(|_| !target.ended) else {
        return Vec::new();
    };
    let descendants = memmon_sampler::descendants(root, target.pid).unwrap_or_default();
    let mut tree: Vec<u32> = descendants.clone();
    tree.push(target.pid);
    descendants
        .into_iter()
        .filter_map(|pid| {
            let fd = i32::try_from(pid)
                .ok()
                .and_then(Pid::from_raw)
                .and_then(|p| rustix::process::pidfd_open(p, PidfdFlags::empty()).ok())?;
            parent_of(root, pid)
                .is_some_and(|parent| tree.contains(&parent))
                .then_some((pid, fd))
        })
        .collect()
}

/// The parent PID from `/proc/PID/stat` (after the command name, which may hold `)`).
fn parent_of(root: &std::path::Path, pid: u32) -> Option<u32> {
    let stat = std::fs::read(root.join(pid.to_string()).join("stat")).ok()?;
    let after = &stat[stat.iter().rposition(|&b| b == b')')? + 1..];
    let text = std::str::from_utf8(after).ok()?;
    text.split_ascii_whitespace().nth(1)?.parse().ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parent_is_read_past_the_command_name() {
        let me = std::process::id();
        let parent = rustix::process::getppid().map(|p| p.as_raw_nonzero().get() as u32);
        assert_eq!(parent_of(std::path::Path::new("/proc"), me), parent);
        assert_eq!(parent_of(std::path::Path::new("/proc"), u32::MAX), None);
    }
}
