//! Daemons and other orphans of the command's tree.
//!
//! A command may start a daemon and exit (a double fork, `setsid`, `nohup … &`). The daemon's
//! parent dies and the kernel re-parents it to the nearest child subreaper, else to init: out
//! of the tree `--children` sums and out of memmon's sight, while it still runs and holds
//! memory. So memmon makes itself a child subreaper (`PR_SET_CHILD_SUBREAPER`) before it
//! starts the command: the tree's orphans become memmon's children and stay watched.
//!
//! Their exit status is nobody's business, but it must be collected or they linger as
//! zombies. A thread reaps them on each SIGCHLD, one by one by PID (`waitid(P_PID, WNOHANG)`
//! on each child memmon has), never the command: its status belongs to the waiter thread,
//! and a `waitpid(-1)` could take it, and memmon's exit line and exit status with it.
//!
//! When the command ends while some of its tree still runs: with `--children` its exit line is
//! written, then a line that says monitoring goes on, and sampling continues until the last of
//! them ends (then the footer; memmon still ends as the command ended). Without `--children`
//! the command was what was watched: the run ends at once, with a line that names what is left
//! running. Once the command has ended, a stop signal ends the run at once: what it left is
//! neither signalled nor waited for (it was not the command's tree when the stop came, and
//! under systemd's `KillMode=mixed` systemd itself ends what is left of the unit).

use super::words::exit_kind;
use super::{Ctx, Wake};
use crate::exit::Ending;
use crate::lang::tr;
use memmon_core::{SampleError, Sampler};
use memmon_sampler::{ProcfsOptions, ProcfsSampler};
use memmon_watch::say;
use memmon_watch::session::{Final, Session};
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};
use signal_hook::consts::SIGCHLD;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;

/// memmon as the child subreaper of the command's tree.
pub(super) struct Adoption {
    /// memmon's PID: the orphans' new parent.
    me: u32,
    /// Where the tree is read (`--proc-root`).
    proc_root: PathBuf,
    /// The command's PID once it runs (0 before): never reaped here.
    command: Arc<AtomicU32>,
    /// Whether a reaper thread runs (not when SIGCHLD was ignored at start: the kernel then
    /// reaps memmon's children itself).
    reaper: bool,
}

impl Adoption {
    /// Makes memmon a child subreaper and starts the reaper thread, which tells `tx` of each
    /// orphan it reaped. `None` when that cannot be had (no `prctl`, no thread): orphans then
    /// go to init, as they did before memmon adopted them.
    pub(super) fn start(proc_root: &Path, tx: Sender<Wake>) -> Option<Adoption> {
        let me = rustix::process::getpid();
        if let Err(e) = rustix::process::set_child_subreaper(Some(me)) {
            tracing::debug!("not a child subreaper: {e}");
            return None;
        }
        let command = Arc::new(AtomicU32::new(0));
        // A SIGCHLD ignored when memmon started stays ignored (see `signals`), and the kernel
        // then reaps memmon's children at once: no zombie to collect.
        let reaper = !crate::signals::ignored_at_start(SIGCHLD);
        if reaper {
            if let Err(e) = start_reaper(me.as_raw_nonzero().get() as u32, &command, tx) {
                // Adopted orphans would stay zombies: better not adopt them.
                tracing::debug!("no reaper thread ({e}); not a child subreaper");
                let _ = rustix::process::set_child_subreaper(None);
                return None;
            }
        }
        Some(Adoption {
            me: me.as_raw_nonzero().get() as u32,
            proc_root: proc_root.to_path_buf(),
            command,
            reaper,
        })
    }

    /// The command runs as `pid`: from now on the reaper collects every other child. One round
    /// runs at once, for orphans that ended while the PID was not known yet.
    pub(super) fn command_started(&self, pid: u32) {
        self.command.store(pid, Ordering::Release);
        if self.reaper {
            let _ = rustix::process::kill_process(rustix::process::getpid(), Signal::CHILD);
        }
    }

    /// The live processes the command's tree left with memmon (not the command itself).
    pub(super) fn left(&self) -> Vec<u32> {
        let command = self.command.load(Ordering::Acquire);
        memmon_sampler::adopted(&self.proc_root, self.me, command).unwrap_or_default()
    }
}

/// Starts the thread that reaps memmon's children other than the command, on each SIGCHLD.
fn start_reaper(me: u32, command: &Arc<AtomicU32>, tx: Sender<Wake>) -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([SIGCHLD])?;
    let command = Arc::clone(command);
    std::thread::Builder::new()
        .name("memmon-reaper".into())
        .spawn(move || {
            for _ in signals.forever() {
                let command = command.load(Ordering::Acquire);
                // Before the command's PID is known, any child may be the command: nothing is
                // reaped (`command_started` asks for a round once it is known).
                if command == 0 {
                    continue;
                }
                // The children files are read while children come and go, and the kernel
                // does not promise a consistent list then: after a round that reaped, one more.
                let mut reaped = false;
                while reap(me, command) > 0 {
                    reaped = true;
                }
                if reaped {
                    // The loop may be gone (the run is ending): nobody needs to know then.
                    let _ = tx.send(Wake::Reaped);
                }
            }
        })?;
    Ok(())
}

/// Collects every ended child of memmon but `command`, each by its own PID; returns how many.
fn reap(me: u32, command: u32) -> usize {
    // memmon's own children, so the real /proc whatever `--proc-root` says.
    let Ok(children) = memmon_sampler::children(Path::new("/proc"), me) else {
        return 0;
    };
    children
        .into_iter()
        .filter(|&pid| pid != command)
        .filter_map(|pid| Pid::from_raw(i32::try_from(pid).ok()?))
        .filter(|&pid| {
            // WNOHANG: a child that still runs is left alone; ECHILD (reaped meanwhile, or not
            // memmon's child any more) is nothing to do.
            let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG;
            matches!(
                rustix::process::waitid(WaitId::Pid(pid), options),
                Ok(Some(_))
            )
        })
        .count()
}

/// The command's sampler: with `--children` and an adoption, its tree takes in the orphans
/// memmon adopted and outlives the command. A command already gone when its files are opened
/// (it daemonized at once) is watched through the first orphan it left.
pub(super) fn tree_sampler(
    pid: u32,
    options: ProcfsOptions,
    adoption: Option<&Adoption>,
) -> Result<Box<dyn Sampler + Send>, SampleError> {
    let Some(adoption) = adoption.filter(|_| options.children && options.root.is_dir()) else {
        return memmon_sampler::auto_sampler(pid, options);
    };
    match ProcfsSampler::new(pid, options.clone()) {
        Ok(sampler) => Ok(Box::new(sampler.with_adopter(adoption.me))),
        Err(e @ (SampleError::Exited { .. } | SampleError::Zombie { .. })) => adoption
            .left()
            .into_iter()
            .find_map(|orphan| ProcfsSampler::new(orphan, options.clone()).ok())
            .map(|sampler| Box::new(sampler.with_adopter(adoption.me)) as Box<dyn Sampler + Send>)
            .ok_or(e),
        Err(e) => Err(e),
    }
}

/// How many PIDs a stderr notice names before `…`.
const LISTED_PIDS: usize = 8;

/// `101, 102, …`: the first PIDs of `pids`, as the stderr notices list them.
fn pid_list(pids: &[u32]) -> String {
    let shown = LISTED_PIDS;
    let mut text: Vec<String> = pids.iter().take(shown).map(u32::to_string).collect();
    if pids.len() > shown {
        text.push("…".into());
    }
    text.join(", ")
}

impl Ctx<'_> {
    /// The command ended with `status`. Nothing of its tree left: the exit line and the footer,
    /// as ever. Descendants left running: without `--children` the same, and stderr names them;
    /// with it, stderr says monitoring goes on, and the session is handed back to be watched
    /// until [`Ctx::tree_ended`], whose footer follows the command's exit line (the spec puts
    /// that line after the last sample line, and has no log line for the descendants).
    pub(super) fn command_exited(
        &self,
        mut session: Session,
        status: ExitStatus,
    ) -> ControlFlow<Ending, Session> {
        let left = self
            .adoption
            .as_ref()
            .map(Adoption::left)
            .unwrap_or_default();
        let kind = exit_kind(status);
        if left.is_empty() {
            session.finish(Some(kind), Final::Gone);
            return ControlFlow::Break(Ending::like(status));
        }
        let (count, pids) = (left.len(), pid_list(&left));
        let lang = self.lang();
        if !self.args.children {
            say!("memmon: {}", tr!(lang,
                "コマンドは終了しました。子孫プロセス {count}個 (PID {pids}) が監視されずに実行中のまま残ります (監視するには --children)",
                "the command has ended; {count} of its descendants (PID {pids}) still run, unwatched (--children watches them)"));
            session.finish(Some(kind), Final::Gone);
            return ControlFlow::Break(Ending::like(status));
        }
        say!("memmon: {}", tr!(lang,
            "コマンドは終了しました。子孫プロセス {count}個 (PID {pids}) が実行中のため、最後の1個が終了するまで監視を続けます",
            "the command has ended; {count} of its descendants (PID {pids}) still run: memmon watches them until the last one ends"));
        // Its PID, and its tree's, may now be reused by strangers: no signal goes there.
        self.forwarder.command_gone();
        session.command_ended(kind);
        ControlFlow::Continue(session)
    }

    /// Whether anything the command left still runs (see [`Ctx::command_exited`]).
    pub(super) fn tree_left(&self) -> bool {
        self.adoption
            .as_ref()
            .is_some_and(|adoption| !adoption.left().is_empty())
    }

    /// The last of what the command left has ended: the footer, and memmon ends as the
    /// command ended.
    pub(super) fn tree_ended(&self, session: Session, status: ExitStatus) -> Ending {
        say!(
            "memmon: {}",
            tr!(
                self.lang(),
                "コマンドの子孫プロセスがすべて終了しました。監視を終えます",
                "the command's last descendant has ended; monitoring stops"
            )
        );
        session.finish(None, Final::Gone);
        Ending::like(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_lists_stop_after_eight() {
        assert_eq!(pid_list(&[7]), "7");
        assert_eq!(
            pid_list(&[1, 2, 3, 4, 5, 6, 7, 8]),
            "1, 2, 3, 4, 5, 6, 7, 8"
        );
        assert_eq!(
            pid_list(&[1, 2, 3, 4, 5, 6, 7, 8, 9]),
            "1, 2, 3, 4, 5, 6, 7, 8, …"
        );
    }
}
