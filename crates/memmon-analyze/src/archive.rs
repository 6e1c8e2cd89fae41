//! `memmon report`'s archive: the report folder as one `.tgz` (GitHub attaches `.zip`, `.gz`
//! and `.tgz`, not `.tar`), written with `tar` (ustar headers) through `flate2`'s gzip.

use flate2::write::GzEncoder;
use flate2::Compression;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// GitHub's bound on an attached file (25 MB): the archive's, kept by [`content_budget`].
pub const MAX_FILE_BYTES: u64 = 25_000_000;
/// GitHub's bound on an attached image (10 MB).
pub const MAX_IMAGE_BYTES: u64 = 10_000_000;

/// What gzip may add to what it is given, besides [`GZIP_PER_MILLE`]: its 18 bytes of header
/// and trailer, and a wide margin.
const GZIP_SLACK: u64 = 65_536;
/// What gzip may add per thousand bytes: deflate (miniz_oxide, at best compression as at
/// any) writes a block it cannot shrink as a stored block, 5 bytes per up to 64 KiB, under
/// 0.01 %; allowed: 0.1 %.
const GZIP_PER_MILLE: u64 = 1;
/// tar's end: two zero blocks (1 KiB); a whole 10 KiB record is allowed.
const TAR_END: u64 = 10_240;

/// What tar adds to one file whose path in the archive is `path_len` bytes: the 512-byte
/// header, at most 511 bytes padding the content to a block, and for a path of 100 bytes or
/// more (which a header does not hold) a GNU long-name entry: a header and the name, in blocks.
pub fn tar_entry_overhead(path_len: usize) -> u64 {
    let long = if path_len >= 100 {
        512 + (path_len as u64 + 1).div_ceil(512) * 512
    } else {
        0
    };
    512 + 511 + long
}

/// How many bytes the files' contents may add up to so that their `.tgz` ([`write_tgz`])
/// stays within `max`, whatever the contents (incompressible ones included): `path_lens` are
/// the files' paths in the archive (the folder's name, `/`, the name inside), in bytes.
pub fn content_budget(max: u64, path_lens: &[usize]) -> u64 {
    let tar_max = max.saturating_sub(GZIP_SLACK) * 1000 / (1000 + GZIP_PER_MILLE);
    let tar: u64 = path_lens.iter().map(|&l| tar_entry_overhead(l)).sum();
    tar_max.saturating_sub(tar + TAR_END)
}

/// How the copies of a report share a budget of bytes ([`content_budget`] less the plot and
/// `report.md`'s room). `bundles`: each bundle's size and whether an OOM line names it, oldest
/// first; `logs`: each log's size. Returns, per bundle, `None` when it is left out or the
/// bytes to copy of it, and per log the bytes to keep of its end.
///
/// The bundles go first: they are the evidence, and small (256 KiB each by default). When
/// they do not fit, the oldest are left out first, those an OOM line names only after every
/// other, and the newest never (it is cut instead, in the extreme where it alone is over). The
/// logs share what is left: each gets the same share, and a log smaller than its share leaves
/// the rest to the others.
pub fn share(budget: u64, bundles: &[(u64, bool)], logs: &[u64]) -> (Vec<Option<u64>>, Vec<u64>) {
    let n = bundles.len();
    let mut keep = vec![true; n];
    let mut total: u64 = bundles.iter().map(|b| b.0).sum();
    let older = 0..n.saturating_sub(1);
    let order = older
        .clone()
        .filter(|&i| !bundles[i].1)
        .chain(older.filter(|&i| bundles[i].1));
    for i in order {
        if total <= budget {
            break;
        }
        keep[i] = false;
        total -= bundles[i].0;
    }
    let mut left = budget;
    let mut caps = vec![None; n];
    for i in (0..n).rev().filter(|&i| keep[i]) {
        let cap = bundles[i].0.min(left);
        left -= cap;
        caps[i] = Some(cap);
    }
    let mut log_caps = vec![0; logs.len()];
    let mut by_size: Vec<usize> = (0..logs.len()).collect();
    by_size.sort_by_key(|&i| logs[i]);
    for (k, &i) in by_size.iter().enumerate() {
        let fair = left / (logs.len() - k) as u64;
        log_caps[i] = logs[i].min(fair);
        left -= log_caps[i];
    }
    (caps, log_caps)
}

/// The regular files under `dir`, relative to it, sorted (`/` between components).
pub fn files_under(dir: &Path) -> io::Result<Vec<String>> {
    fn walk(root: &Path, rel: &Path, out: &mut Vec<String>) -> io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(root.join(rel))?
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|e| (e.file_name(), e.file_type()))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, kind) in entries {
            let kind = kind?;
            let rel = rel.join(&name);
            if kind.is_dir() {
                walk(root, &rel, out)?;
            } else if kind.is_file() {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, Path::new(""), &mut out)?;
    Ok(out)
}

/// Writes every regular file under `dir` into a new gzip-compressed tar at `archive`, under
/// the folder's own name (`memmon-report-…/report.md`). `archive` must not exist (it is
/// created with `O_EXCL`, so nothing is overwritten, not even through a symlink). Returns the
/// names inside.
pub fn write_tgz(dir: &Path, archive: &Path) -> io::Result<Vec<String>> {
    let root = dir
        .file_name()
        .ok_or_else(|| io::Error::other("the report folder has no name"))?;
    let root = PathBuf::from(root);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(archive)?;
    let mut tar = tar::Builder::new(GzEncoder::new(file, Compression::best()));
    tar.mode(tar::HeaderMode::Deterministic);
    let mut names = Vec::new();
    for rel in files_under(dir)? {
        let name = root.join(&rel);
        let mut f = File::open(dir.join(&rel))?;
        tar.append_file(&name, &mut f)?;
        names.push(name.to_string_lossy().into_owned());
    }
    let gz = tar.into_inner()?;
    let mut file = gz.finish()?;
    file.flush()?;
    file.sync_all()?;
    Ok(names)
}

/// A name made of ASCII letters, digits, `.`, `-` and `_` only (others become `_`), never
/// empty, `.` or `..`.
pub fn ascii_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        format!("_{s}")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the sizes: the copies never add up to more than the budget, the newest
        /// bundle is never left out, a bundle an OOM line names is left out only when every
        /// older unnamed one is, and nothing gets more than its size.
        #[test]
        fn share_holds_its_budget_and_order(
            budget in 0u64..10_000,
            bundles in proptest::collection::vec((0u64..3_000, any::<bool>()), 0..12),
            logs in proptest::collection::vec(0u64..20_000, 0..4),
        ) {
            let (caps, log_caps) = share(budget, &bundles, &logs);
            prop_assert_eq!(caps.len(), bundles.len());
            prop_assert_eq!(log_caps.len(), logs.len());
            let total: u64 = caps.iter().flatten().sum::<u64>() + log_caps.iter().sum::<u64>();
            prop_assert!(total <= budget, "{} > {}", total, budget);
            if let Some(last) = caps.last() {
                prop_assert!(last.is_some());
            }
            for (i, cap) in caps.iter().enumerate() {
                if let Some(c) = cap {
                    prop_assert!(*c <= bundles[i].0);
                }
                if cap.is_none() && bundles[i].1 {
                    for j in 0..caps.len() - 1 {
                        if !bundles[j].1 {
                            prop_assert!(caps[j].is_none(), "{:?}", caps);
                        }
                    }
                }
            }
            for (i, c) in log_caps.iter().enumerate() {
                prop_assert!(*c <= logs[i]);
            }
        }
    }

    #[test]
    fn bundles_first_then_logs_share() {
        // Everything fits.
        assert_eq!(
            share(100, &[(10, false), (10, false)], &[30, 40]),
            (vec![Some(10), Some(10)], vec![30, 40])
        );
        // The logs share what is left; the smaller one leaves its rest to the other.
        assert_eq!(
            share(100, &[(20, false)], &[10, 500]),
            (vec![Some(20)], vec![10, 70])
        );
        assert_eq!(share(100, &[], &[500, 500]), (vec![], vec![50, 50]));
        // Oldest bundles out first, the OOM-named one after the others, never the newest.
        assert_eq!(
            share(
                50,
                &[(20, true), (20, false), (20, false), (20, false)],
                &[100]
            ),
            (vec![Some(20), None, None, Some(20)], vec![10])
        );
        assert_eq!(
            share(30, &[(20, true), (20, false), (20, false)], &[100]),
            (vec![None, None, Some(20)], vec![10])
        );
        assert_eq!(
            share(15, &[(20, true), (20, false)], &[5]),
            (vec![None, Some(15)], vec![0])
        );
    }

    /// Contents of exactly the budget, incompressible, make an archive within the bound.
    #[test]
    fn the_budget_holds_for_incompressible_content() {
        let d = tempfile::tempdir().unwrap();
        let folder = d.path().join("r".repeat(120));
        std::fs::create_dir_all(folder.join("logs")).unwrap();
        let names = ["report.md", "logs/a.log", "logs/b.log"];
        let lens: Vec<usize> = names.iter().map(|n| 121 + n.len()).collect();
        let max = 3_000_000;
        let budget = content_budget(max, &lens);
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut noise = |len: u64| -> Vec<u8> {
            (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect()
        };
        let sizes = [1000, budget / 2 - 1000, budget - budget / 2];
        for (n, size) in names.iter().zip(sizes) {
            std::fs::write(folder.join(n), noise(size)).unwrap();
        }
        let out = d.path().join("r.tgz");
        write_tgz(&folder, &out).unwrap();
        let len = std::fs::metadata(&out).unwrap().len();
        // gzip did expand it (the worst case), and the archive is still within the bound.
        assert!(
            len > budget && len <= max,
            "{len} of {max}, budget {budget}"
        );
    }

    #[test]
    fn ascii_names() {
        assert_eq!(ascii_name("memory_usage.log.1"), "memory_usage.log.1");
        assert_eq!(ascii_name("メモリ.log"), "___.log");
        assert_eq!(ascii_name(".."), "_..");
        assert_eq!(ascii_name(""), "_");
    }

    #[test]
    fn round_trip() {
        let d = tempfile::tempdir().unwrap();
        let folder = d.path().join("rep");
        std::fs::create_dir_all(folder.join("logs")).unwrap();
        std::fs::write(folder.join("report.md"), "# r\n").unwrap();
        std::fs::write(folder.join("logs/a.log"), "x\n").unwrap();
        let out = d.path().join("rep.tgz");
        let names = write_tgz(&folder, &out).unwrap();
        assert_eq!(names, ["rep/logs/a.log", "rep/report.md"]);
        // Never over an existing file.
        assert!(write_tgz(&folder, &out).is_err());
        let mut a = tar::Archive::new(flate2::read::GzDecoder::new(File::open(&out).unwrap()));
        let listed: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(listed, names);
    }
}
