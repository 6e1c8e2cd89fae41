//! The names of issue #20's evidence bundles (`docs/evidence.md`), shared by the flight
//! recorder that writes them and `memmon analyze`/`memmon report` that find them: the
//! directory beside a log, and `YYYYMMDD-HHMMSS-PID-TRIGGER.txt`. Names only: nothing here
//! touches the file system.

use std::ffi::{OsStr, OsString};
use std::path::Path;

/// The triggers a bundle's name may carry, in the recorder's `Trigger` order.
pub const TRIGGERS: [&str; 6] = [
    "usr2",
    "warning",
    "escalation",
    "horizon",
    "floor",
    "pressure",
];

/// The marker beside a bundle an OOM line named is this prefix and the bundle's name
/// (`.oom-20261205-143000-4242-usr2.txt`): the recorder never evicts such a bundle, and
/// `memmon report` leaves it out of its archive only after every other.
pub const OOM_MARKER_PREFIX: &str = ".oom-";

/// The name of the marker that protects the bundle named `bundle`.
pub fn oom_marker_name(bundle: &OsStr) -> OsString {
    let mut marker = OsString::from(OOM_MARKER_PREFIX);
    marker.push(bundle);
    marker
}

/// The evidence directory's name for a log file named `log_name`: its last extension replaced
/// by `.evidence` (`memory_usage.log` → `memory_usage.evidence`), appended when it has none.
pub fn evidence_dir_name(log_name: &OsStr) -> OsString {
    Path::new(log_name)
        .with_extension("evidence")
        .into_os_string()
}

/// What a bundle's name says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleName {
    /// Local date and time of the capture: year, month, day, hour, minute, second.
    pub at: [u16; 6],
    /// The watched process.
    pub pid: u32,
    /// Which trigger, one of [`TRIGGERS`].
    pub trigger: &'static str,
}

/// Reads `YYYYMMDD-HHMMSS-PID-TRIGGER.txt` (`None`: not a bundle's name).
pub fn parse_bundle_name(name: &str) -> Option<BundleName> {
    let stem = name.strip_suffix(".txt")?;
    let mut parts = stem.splitn(4, '-');
    let (day, time, pid, trigger) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(day, 8) && digits(time, 6)) || pid.is_empty() || pid.len() > 10 {
        return None;
    }
    if !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |s: &str, from: usize, len: usize| s.get(from..from + len)?.parse::<u16>().ok();
    Some(BundleName {
        at: [
            num(day, 0, 4)?,
            num(day, 4, 2)?,
            num(day, 6, 2)?,
            num(time, 0, 2)?,
            num(time, 2, 2)?,
            num(time, 4, 2)?,
        ],
        pid: pid.parse().ok()?,
        trigger: TRIGGERS.iter().copied().find(|t| *t == trigger)?,
    })
}

/// The name of a bundle captured at local time `at` (as in [`BundleName::at`]).
pub fn bundle_name(at: [u16; 6], pid: u32, trigger: &str) -> String {
    let [y, mo, d, h, mi, s] = at;
    format!("{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}-{pid}-{trigger}.txt")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_and_directories() {
        assert_eq!(
            evidence_dir_name(OsStr::new("memory_usage.log")),
            "memory_usage.evidence"
        );
        assert_eq!(evidence_dir_name(OsStr::new("a.b.log")), "a.b.evidence");
        assert_eq!(evidence_dir_name(OsStr::new("log")), "log.evidence");
        assert_eq!(
            oom_marker_name(OsStr::new("20261205-143000-4242-usr2.txt")),
            ".oom-20261205-143000-4242-usr2.txt"
        );
        assert_eq!(
            parse_bundle_name("20261205-143000-4242-usr2.txt"),
            Some(BundleName {
                at: [2026, 12, 5, 14, 30, 0],
                pid: 4242,
                trigger: "usr2"
            })
        );
        for bad in [
            "20261205-143000-4242-other.txt",
            ".oom-20261205-143000-4242-usr2.txt",
            "2026120-143000-4242-usr2.txt",
            "20261205-143000--usr2.txt",
            "20261205-143000-42a-usr2.txt",
            "20261205-143000-4242-usr2",
        ] {
            assert_eq!(parse_bundle_name(bad), None, "{bad}");
        }
    }

    proptest! {
        /// Every name written reads back as written.
        #[test]
        fn a_written_name_reads_back(
            y in 1000u16..10000, mo in 1u16..13, d in 1u16..32, h in 0u16..24, mi in 0u16..60,
            s in 0u16..60, pid in any::<u32>(), t in 0usize..6,
        ) {
            let at = [y, mo, d, h, mi, s];
            let name = bundle_name(at, pid, TRIGGERS[t]);
            prop_assert_eq!(parse_bundle_name(&name), Some(BundleName { at, pid, trigger: TRIGGERS[t] }));
        }

        /// Any text parses or not without a panic.
        #[test]
        fn any_name_is_safe(name in "\\PC{0,40}") {
            let _ = parse_bundle_name(&name);
        }
    }
}
