//! Ending the way the command ended, so that systemd sees what it would see without memmon.
//!
//! An exit status N gives N. A command killed by signal S makes memmon die of S itself (after
//! its footer): systemd counts a service killed by SIGTERM, SIGINT, SIGHUP or SIGPIPE as a
//! clean stop, but exit status 143 as a failure. What systemd cannot see is whether a core
//! was dumped: memmon makes itself non-dumpable first, so systemd-coredump never records a
//! crash of memmon for the command's crash.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// How `memmon` ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// `exit(N)`.
    Code(i32),
    /// Death by this signal, as the command died.
    Signal(i32),
}

impl Ending {
    /// The command's own ending.
    pub fn like(status: ExitStatus) -> Ending {
        match (status.code(), status.signal()) {
            (Some(code), _) => Ending::Code(code),
            (None, Some(sig)) => Ending::Signal(sig),
            (None, None) => Ending::Code(crate::run::EXIT_USAGE),
        }
    }
}

/// Ends the process. Call it only once every destructor that matters has run (the hook's
/// directory is removed by its guard): dying by a signal runs none.
pub fn end(ending: Ending) -> ! {
    match ending {
        Ending::Code(code) => std::process::exit(code),
        Ending::Signal(sig) => die_by(sig),
    }
}

/// Signals whose default action dumps core.
fn dumps_core(sig: i32) -> bool {
    matches!(
        sig,
        libc::SIGQUIT
            | libc::SIGILL
            | libc::SIGTRAP
            | libc::SIGABRT
            | libc::SIGBUS
            | libc::SIGFPE
            | libc::SIGSEGV
            | libc::SIGXCPU
            | libc::SIGXFSZ
            | libc::SIGSYS
    )
}

/// Dies of `sig`: its default action restored (signal-hook's handler is still installed, and
/// Rust ignores SIGPIPE), unblocked, raised on this thread. Should the signal not end the
/// process (its default action is to ignore it, or it cannot be raised), `_exit(128 + sig)`:
/// the shell's code, never an abort (which would read as SIGABRT with a core).
fn die_by(sig: i32) -> ! {
    if dumps_core(sig) {
        let _ =
            rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
    }
    // SAFETY: plain libc calls on local, zero-initialised structures; `sigaction` and
    // `pthread_sigmask` only read them. Nothing here touches Rust-managed memory.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(sig, &action, std::ptr::null_mut());
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
        libc::_exit(128 + sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_s_ending_is_kept() {
        assert_eq!(Ending::like(ExitStatus::from_raw(3 << 8)), Ending::Code(3));
        assert_eq!(Ending::like(ExitStatus::from_raw(15)), Ending::Signal(15));
        // Killed with a core (0x80): still the signal; systemd cannot see "dumped" from memmon.
        assert_eq!(
            Ending::like(ExitStatus::from_raw(0x80 | 11)),
            Ending::Signal(11)
        );
        assert!(dumps_core(libc::SIGQUIT) && !dumps_core(libc::SIGTERM));
    }
}
