//! The rules of the live diagnosis (`memmon run`, issue #19): what the comparison of Python's
//! traced bytes with anonymous memory leads to, what the `malloc_trim` probe's before and
//! after mean, and when threads or descriptors name the cause. Pure functions of the figures
//! the watching loop measured, so the loop decides nothing itself and every rule is tested
//! with literal numbers. (`memmon analyze` decides offline with [`crate::attribute`] over a
//! whole run's slopes.)

use crate::breakdown::Breakdown;
use crate::bytes::MIB;
use crate::diagnosis::{Cause, TrimOutcome};

/// Growth of anonymous memory below this is not worth splitting into Python and native.
pub const MIN_ANON_GROWTH: i64 = MIB as i64;
/// Python's share of the anonymous growth from which Python objects carry it.
pub const PYTHON_SHARE: f64 = 0.5;
/// Python's share below which Python is flat and native memory carries the growth.
pub const FLAT_SHARE: f64 = 0.25;
/// A drop by `malloc_trim` of at least this share of the native growth (and at least 1 MiB)
/// is memory the allocator kept but could return.
pub const RETURNED_SHARE: f64 = 0.25;
/// Threads or descriptors more than when the leak was suspected that name a cause (the hook's
/// own connection during a request is one socket more for a moment: not a leak).
pub const COUNT_GROWTH: u64 = 3;

/// What to ask next, once Python's share of the anonymous growth is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextProbe {
    /// Python's bytes carry it: ask for the object types that grow.
    Types,
    /// Python is flat, native memory grows: the `malloc_trim` probe.
    Trim,
    /// A mix: nothing more to ask.
    Nothing,
}

/// Splits the growth of anonymous memory (`anon`, bytes) by Python's traced growth (`python`,
/// bytes, less tracemalloc's own memory): `None` while anonymous memory grew too little to
/// say; otherwise the cause it points to and what to ask next.
pub fn split_growth(anon: i64, python: i64) -> Option<(Cause, NextProbe)> {
    if anon < MIN_ANON_GROWTH {
        return None;
    }
    let share = python as f64 / anon as f64;
    Some(if share >= PYTHON_SHARE {
        (Cause::ObjectsKept, NextProbe::Types)
    } else if share < FLAT_SHARE {
        (Cause::Native, NextProbe::Trim)
    } else {
        (Cause::Native, NextProbe::Nothing)
    })
}

/// What the probe measured: `called` (some process could call `malloc_trim`), the tree's
/// resident bytes right before and after, and the native growth it was asked about.
pub fn trim_outcome(called: bool, before: u64, after: u64, native_growth: i64) -> TrimOutcome {
    if !called {
        return TrimOutcome::Unavailable;
    }
    let drop = before as f64 - after as f64;
    let enough = (native_growth as f64 * RETURNED_SHARE).max(MIB as f64);
    if drop >= enough {
        TrimOutcome::Returned
    } else {
        TrimOutcome::Unchanged
    }
}

impl TrimOutcome {
    /// The cause a probe's outcome names for native growth.
    pub fn cause(self) -> Cause {
        match self {
            TrimOutcome::Returned => Cause::NativeFragmentation,
            TrimOutcome::Unchanged => Cause::NativeHeld,
            TrimOutcome::Unavailable => Cause::Native,
        }
    }
}

/// Threads and descriptors that keep growing name their cause whatever memory does (a
/// thread's stack and a connection's buffers are anonymous memory too): what the counts say
/// from the breakdown when the leak was suspected (`then`) to `now`.
pub fn count_cause(then: &Breakdown, now: &Breakdown) -> Option<Cause> {
    let grew = |a: u64, b: u64| b.saturating_sub(a) >= COUNT_GROWTH;
    if grew(then.threads, now.threads) {
        Some(Cause::ThreadsNeverEnd)
    } else if grew(
        then.fds.sockets.saturating_add(then.fds.files),
        now.fds.sockets.saturating_add(now.fds.files),
    ) {
        Some(Cause::ConnectionsNotClosed)
    } else if grew(
        then.fds.pipes.saturating_add(then.fds.other),
        now.fds.pipes.saturating_add(now.fds.other),
    ) {
        Some(Cause::DescriptorsNotClosed)
    } else {
        None
    }
}

/// Whether a cause comes from the counts (it outranks what memory says).
pub fn is_count_cause(cause: Cause) -> bool {
    matches!(
        cause,
        Cause::ThreadsNeverEnd | Cause::ConnectionsNotClosed | Cause::DescriptorsNotClosed
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breakdown::FdCounts;
    use proptest::prelude::*;

    const M: i64 = MIB as i64;

    #[test]
    fn shares_split_python_from_native() {
        assert_eq!(split_growth(M - 1, 0), None);
        assert_eq!(
            split_growth(40 * M, 39 * M),
            Some((Cause::ObjectsKept, NextProbe::Types))
        );
        assert_eq!(
            split_growth(40 * M, 20 * M),
            Some((Cause::ObjectsKept, NextProbe::Types))
        );
        assert_eq!(
            split_growth(40 * M, 19 * M),
            Some((Cause::Native, NextProbe::Nothing))
        );
        assert_eq!(
            split_growth(40 * M, 9 * M),
            Some((Cause::Native, NextProbe::Trim))
        );
        assert_eq!(
            split_growth(40 * M, -3 * M),
            Some((Cause::Native, NextProbe::Trim))
        );
    }

    #[test]
    fn the_probe_names_what_it_measured() {
        let mib = MIB;
        assert_eq!(
            trim_outcome(false, 100 * mib, 10 * mib, 60 * M),
            TrimOutcome::Unavailable
        );
        assert_eq!(
            trim_outcome(true, 100 * mib, 60 * mib, 60 * M),
            TrimOutcome::Returned
        );
        assert_eq!(
            trim_outcome(true, 100 * mib, 86 * mib, 60 * M),
            TrimOutcome::Unchanged
        );
        assert_eq!(
            trim_outcome(true, 100 * mib, 85 * mib, 60 * M),
            TrimOutcome::Returned
        );
        // A small growth still needs a drop of a whole MiB.
        assert_eq!(
            trim_outcome(true, 10 * mib, 10 * mib - 600_000, M),
            TrimOutcome::Unchanged
        );
        // RSS that grew while the probe ran is no drop.
        assert_eq!(
            trim_outcome(true, 10 * mib, 12 * mib, 60 * M),
            TrimOutcome::Unchanged
        );
        assert_eq!(TrimOutcome::Returned.cause(), Cause::NativeFragmentation);
        assert_eq!(TrimOutcome::Unchanged.cause(), Cause::NativeHeld);
    }

    fn counts(threads: u64, sockets: u64, files: u64, pipes: u64) -> Breakdown {
        Breakdown {
            threads,
            fds: FdCounts {
                sockets,
                files,
                pipes,
                other: 2,
            },
            ..Breakdown::default()
        }
    }

    #[test]
    fn counts_name_their_cause_from_three_more() {
        let then = counts(4, 1, 2, 0);
        assert_eq!(count_cause(&then, &counts(6, 2, 3, 1)), None);
        assert_eq!(
            count_cause(&then, &counts(7, 1, 2, 0)),
            Some(Cause::ThreadsNeverEnd)
        );
        assert_eq!(
            count_cause(&then, &counts(4, 2, 4, 0)),
            Some(Cause::ConnectionsNotClosed)
        );
        assert_eq!(
            count_cause(&then, &counts(4, 1, 2, 3)),
            Some(Cause::DescriptorsNotClosed)
        );
        // Fewer than before is never a leak.
        assert_eq!(count_cause(&counts(40, 30, 20, 10), &then), None);
        assert!(is_count_cause(Cause::ThreadsNeverEnd) && !is_count_cause(Cause::Native));
    }

    proptest! {
        /// The split depends on Python's share only: scaling both growths keeps it.
        #[test]
        fn the_split_is_scale_free(anon in 1i64..(1 << 40), share in -1.0f64..2.0, k in 1i64..64) {
            let anon = anon.max(MIN_ANON_GROWTH);
            let python = (anon as f64 * share) as i64;
            let a = split_growth(anon, python);
            let b = split_growth(anon.saturating_mul(k), python.saturating_mul(k));
            prop_assume!((python as f64 / anon as f64 - PYTHON_SHARE).abs() > 1e-9);
            prop_assume!((python as f64 / anon as f64 - FLAT_SHARE).abs() > 1e-9);
            prop_assert_eq!(a.map(|x| x.1), b.map(|x| x.1));
        }

        /// A bigger drop never makes "returned" into "unchanged".
        #[test]
        fn a_bigger_drop_is_never_less_returned(before in 0u64..(1 << 40), d1 in 0u64..(1 << 30), extra in 0u64..(1 << 30), native in 0i64..(1 << 40)) {
            let small = trim_outcome(true, before + d1 + extra, before + extra, native);
            let big = trim_outcome(true, before + d1 + extra, before, native);
            prop_assert!(!(small == TrimOutcome::Returned && big == TrimOutcome::Unchanged));
        }
    }
}
