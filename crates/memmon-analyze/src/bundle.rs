//! Evidence bundles as `memmon report` reads them (docs/evidence.md): where they are beside a
//! log, which files are bundles, and the allocation sites with their tracebacks.
//!
//! Only what the report shows is parsed; the rest of a bundle travels in the archive as written.

use std::path::{Path, PathBuf};

pub use memmon_core::bundle_name::TRIGGERS;

/// The evidence directory beside `log`: the file name with its last extension replaced by
/// `.evidence` (`memory_usage.log` → `memory_usage.evidence/`), or `.evidence` appended.
pub fn evidence_dir(log: &Path) -> Option<PathBuf> {
    let name = log.file_name()?;
    Some(log.with_file_name(memmon_core::bundle_name::evidence_dir_name(name)))
}

/// Where the bundles of `log` may be: its evidence directory, and for a rotated log
/// (`memory_usage.log.1`) the live log's (`memory_usage.evidence/`), which memmon keeps using.
pub fn evidence_dirs(log: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = evidence_dir(log).into_iter().collect();
    let name = log.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if let Some((live, n)) = name.rsplit_once('.') {
        if !live.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
            dirs.extend(evidence_dir(&log.with_file_name(live)));
        }
    }
    dirs
}

/// Whether `name` is a bundle's: `YYYYMMDD-HHMMSS-PID-TRIGGER.txt`.
pub fn is_bundle_name(name: &str) -> bool {
    memmon_core::bundle_name::parse_bundle_name(name).is_some()
}

/// The bundles in the evidence directories beside each log ([`evidence_dirs`]), oldest first (by the time in their
/// names, then the name), each directory once. Symlinks and anything not a regular file are
/// left out. A missing or unreadable directory has none.
pub fn find(logs: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    for dir in logs.iter().flat_map(|l| evidence_dirs(l)) {
        let canonical = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
        if dirs.contains(&canonical) {
            continue;
        }
        dirs.push(canonical);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let regular = entry.file_type().is_ok_and(|t| t.is_file());
            if regular && is_bundle_name(name) {
                found.push((name.to_owned(), entry.path()));
            }
        }
    }
    // The name starts with the time, so sorting by name is by time.
    found.sort();
    found.into_iter().map(|(_, p)| p).collect()
}

/// Whether an OOM line named the bundle at `path`: the recorder's marker `.oom-NAME` beside it
/// (docs/evidence.md, "Kept"). A marker that cannot be looked at counts as none.
pub fn oom_named(path: &Path) -> bool {
    let Some(name) = path.file_name() else {
        return false;
    };
    let marker = memmon_core::bundle_name::oom_marker_name(name);
    path.with_file_name(marker).symlink_metadata().is_ok()
}

/// One allocation site of a bundle: `N. LOCATION: size=SIZE, count=N` and its traceback.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleSite {
    /// The Python process.
    pub pid: u32,
    /// The site line after its number, as written (`client.py:42: size=12.0 MiB, count=1200`).
    pub line: String,
    /// The traceback, most recent frame first.
    pub frames: Vec<String>,
}

/// What the report takes from a bundle.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    /// The trigger (`## 概要`'s `トリガー:`).
    pub trigger: Option<String>,
    /// The time (`時刻:`).
    pub time: Option<String>,
    /// The allocation sites of every Python process, in the bundle's order.
    pub sites: Vec<BundleSite>,
    /// Notes of the sites sections (tracemalloc started for the capture).
    pub notes: Vec<String>,
    /// The bundle was cut to its size bound.
    pub truncated: bool,
}

/// Reads the parts of a bundle the report shows; anything else is ignored.
pub fn parse(text: &str) -> Parsed {
    let mut p = Parsed::default();
    let mut sites_of: Option<u32> = None;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            sites_of = heading
                .strip_prefix("Python ")
                .and_then(|r| r.strip_suffix(": 割り当て箇所"))
                .and_then(|pid| pid.trim().parse().ok());
            continue;
        }
        if line.starts_with("(切り詰め:") {
            p.truncated = true;
            continue;
        }
        let Some(pid) = sites_of else {
            if let Some(t) = line.strip_prefix("トリガー:") {
                p.trigger.get_or_insert_with(|| t.trim().to_owned());
            } else if let Some(t) = line.strip_prefix("時刻:") {
                p.time.get_or_insert_with(|| t.trim().to_owned());
            }
            continue;
        };
        if let Some(frame) = line.strip_prefix("    ") {
            if let Some(site) = p.sites.last_mut().filter(|s| s.pid == pid) {
                site.frames.push(frame.trim().to_owned());
            }
        } else if let Some((n, rest)) = line.split_once(". ") {
            if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
                p.sites.push(BundleSite {
                    pid,
                    line: rest.trim().to_owned(),
                    frames: Vec::new(),
                });
            }
        } else if !line.trim().is_empty() {
            p.notes.push(line.trim().to_owned());
        }
    }
    p
}

/// Gives each run the bundles written during it (issue #20: `analyze` lists each run's
/// bundles): same PID, and a time from the run's header to its end (any time after the header
/// for a run whose end the log does not show: the last run of a crash). When runs of the same
/// PID overlap, the latest gets it. Bundles are named `DIR/NAME`, the evidence directory's own
/// name.
pub fn assign(runs: &mut [crate::runs::RunSummary], bundles: &[PathBuf]) {
    for path in bundles {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(parsed) = memmon_core::bundle_name::parse_bundle_name(name) else {
            continue;
        };
        let [y, mo, d, h, mi, sec] = parsed.at.map(|v| v as i16);
        let Ok(at) =
            jiff::civil::DateTime::new(y, mo as i8, d as i8, h as i8, mi as i8, sec as i8, 0)
        else {
            continue;
        };
        let pid = parsed.pid;
        let shown = match path
            .parent()
            .and_then(|d| d.file_name())
            .and_then(|d| d.to_str())
        {
            Some(dir) => format!("{dir}/{name}"),
            None => name.to_owned(),
        };
        let run = runs.iter_mut().rev().find(|r| {
            r.pid == Some(pid)
                && r.started.is_none_or(|s| s <= at)
                && r.ended.is_none_or(|e| at <= e)
        });
        if let Some(run) = run {
            run.bundles.push(shown);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_bundle_name("20261205-143000-4242-usr2.txt"));
        assert!(is_bundle_name("20261205-143000-1-pressure.txt"));
        assert!(!is_bundle_name("20261205-143000-4242-usr1.txt"));
        assert!(!is_bundle_name(".tmp-20261205-143000-4242-usr2.txt"));
        assert!(!is_bundle_name("2026125-143000-4242-usr2.txt"));
        assert!(!is_bundle_name("20261205-143000-4242-usr2"));
        assert_eq!(
            evidence_dir(Path::new("/a/memory_usage.log")),
            Some(PathBuf::from("/a/memory_usage.evidence"))
        );
        assert_eq!(
            evidence_dir(Path::new("log")),
            Some(PathBuf::from("log.evidence"))
        );
        assert_eq!(
            evidence_dirs(Path::new("/a/memory_usage.log.3")),
            [
                PathBuf::from("/a/memory_usage.log.evidence"),
                PathBuf::from("/a/memory_usage.evidence")
            ]
        );
        assert_eq!(evidence_dirs(Path::new("/a/m.log")).len(), 1);
    }

    #[test]
    fn sites_and_frames() {
        let text = "# memmon 証拠バンドル\n## 概要\nトリガー: horizon\n時刻: 2026-12-05 14:30:00\n\
PID: 4242\n## 直近のサンプル\n1. not a site\n## Python 4242: 割り当て箇所\n\
注意: tracemalloc はこの取得のために開始されました。それ以降の割り当てだけが見えます。\n\
1. client.py:42: size=12.0 MiB, count=1200\n    client.py:42\n    client.py:88\n\
2. lib.py:7: size=1.0 KiB, count=3\n    lib.py:7\n## Python 4242: 型\ndict: 3個, 0.01MB\n\
(切り詰め: 100 バイト省略)\n";
        let p = parse(text);
        assert_eq!(p.trigger.as_deref(), Some("horizon"));
        assert_eq!(p.time.as_deref(), Some("2026-12-05 14:30:00"));
        assert_eq!(p.sites.len(), 2);
        assert_eq!(p.sites[0].line, "client.py:42: size=12.0 MiB, count=1200");
        assert_eq!(p.sites[0].frames, ["client.py:42", "client.py:88"]);
        assert_eq!(p.sites[1].frames, ["lib.py:7"]);
        assert_eq!(p.notes.len(), 1);
        assert!(p.truncated);
    }
}
