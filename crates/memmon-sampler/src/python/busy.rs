//! One conversation per process at a time.
//!
//! The hook serves one connection at a time, so a second query to a process still busy with
//! an earlier one (its answer slow, or a `start` not yet answered) would only queue behind it in
//! the hook's backlog. [`PythonDetail`](super::PythonDetail)'s query threads therefore take a
//! [`Claim`] on the process first: a snapshot request waits (until its own deadline) for the
//! earlier conversation to end instead of reporting the process silent at once, which is what
//! wrote `応答なし (0s)` for processes that were answering. At most one thread talks to a process
//! and at most one more waits for it, so a stopped process never piles up threads.

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// The processes some thread is talking to; cloned into each query thread.
#[derive(Debug, Clone, Default)]
pub(super) struct Busy {
    inner: Arc<(Mutex<HashSet<u32>>, Condvar)>,
}

/// The right to talk to one process, given back when dropped (also by a thread that panics).
#[derive(Debug)]
pub(super) struct Claim {
    busy: Busy,
    pid: u32,
}

impl Busy {
    /// The set stays usable even if a thread panicked while holding its lock.
    fn lock(&self) -> MutexGuard<'_, HashSet<u32>> {
        self.inner.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Claims `pid` if no one is talking to it.
    pub(super) fn try_claim(&self, pid: u32) -> Option<Claim> {
        self.lock().insert(pid).then(|| Claim {
            busy: self.clone(),
            pid,
        })
    }

    /// Claims `pid`, waiting for the thread talking to it to finish, but not past `deadline`.
    pub(super) fn claim_by(&self, pid: u32, deadline: Instant) -> Option<Claim> {
        let mut set = self.lock();
        loop {
            if set.insert(pid) {
                return Some(Claim {
                    busy: self.clone(),
                    pid,
                });
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if left.is_zero() {
                return None;
            }
            set = self
                .inner
                .1
                .wait_timeout(set, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Whether no thread talks to any process (tests wait for the threads to let go).
    #[cfg(test)]
    pub(super) fn is_idle(&self) -> bool {
        self.lock().is_empty()
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.busy.lock().remove(&self.pid);
        self.busy.inner.1.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_claim_is_exclusive_and_given_back_when_dropped() {
        let busy = Busy::default();
        let first = busy.try_claim(7);
        assert!(first.is_some());
        assert!(busy.try_claim(7).is_none());
        assert!(busy.try_claim(8).is_some());
        drop(first);
        assert!(busy.try_claim(7).is_some());
        assert!(busy.is_idle());
    }

    #[test]
    fn a_waiting_claim_gets_the_process_once_the_earlier_one_ends() {
        let busy = Busy::default();
        let first = busy.try_claim(7);
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(first);
        });
        let asked = Instant::now();
        let second = busy.claim_by(7, asked + Duration::from_secs(5));
        assert!(second.is_some());
        assert!(asked.elapsed() >= Duration::from_millis(90));
        assert!(asked.elapsed() < Duration::from_secs(4));
        let _ = release.join();
    }

    #[test]
    fn a_waiting_claim_gives_up_at_its_deadline() {
        let busy = Busy::default();
        let _first = busy.try_claim(7);
        let asked = Instant::now();
        assert!(busy
            .claim_by(7, asked + Duration::from_millis(100))
            .is_none());
        assert!(asked.elapsed() >= Duration::from_millis(100));
        assert!(busy.claim_by(7, asked).is_none());
    }
}
