//! `memmon report`'s archive: the report folder as one `.tgz` (GitHub attaches `.zip`, `.gz`
//! and `.tgz`, not `.tar`), written with `tar` (ustar headers) through `flate2`'s gzip.

use flate2::write::GzEncoder;
use flate2::Compression;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// GitHub's bound on an attached file (25 MB), kept with a margin for the archive's headers.
pub const MAX_FILE_BYTES: u64 = 25_000_000;
/// GitHub's bound on an attached image (10 MB).
pub const MAX_IMAGE_BYTES: u64 = 10_000_000;

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
