//! Where bundles are kept: a directory beside the log (`memory_usage.log` →
//! `memory_usage.evidence/`, `docs/evidence.md`).
//!
//! memmon often runs as root and the log's directory may be another user's to write, so the
//! directory is made with `mkdirat` (mode 0700) and opened with `O_NOFOLLOW | O_DIRECTORY`: a
//! symlink planted at its name is refused, never followed. An existing directory is used only
//! when it is memmon's user's own and neither group nor others can write it. Every file
//! operation after that goes through the directory's descriptor (`openat`, `renameat`,
//! `unlinkat`), so no path is looked up again once the directory was checked. A bundle is
//! written to `.tmp-…` (created `O_EXCL | O_NOFOLLOW`, mode 0600), fsynced, renamed into place,
//! and the directory fsynced.
//!
//! Kept: at most `evidence_max` bundles, the oldest (by name: the name starts with its local
//! time) removed first, except a bundle an OOM line of the log named. That record is a marker
//! file in the same directory, `.oom-NAME` (empty), written when the OOM line is: it survives
//! restarts, rotation and `Restart=always` loops without reading any log back. Protected
//! bundles are never removed by memmon (a crash loop's later bundles cannot evict them); the
//! directory then holds them on top of the `evidence_max` others until someone removes them.

use rustix::fs::{self as rfs, Mode, OFlags};
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub(crate) use memmon_core::bundle_name::TRIGGERS;
// The marker of a bundle an OOM line named: `.oom-NAME` (memmon-core's rule, which report reads).
use memmon_core::bundle_name::OOM_MARKER_PREFIX as PROTECT_PREFIX;

/// A bundle on its way.
const TMP_PREFIX: &str = ".tmp-";

/// The evidence directory of one log.
#[derive(Debug)]
pub(crate) struct Store {
    /// The log's directory.
    parent: PathBuf,
    /// The directory's name in it.
    name: OsString,
    /// At most this many unprotected bundles are kept.
    max: usize,
}

/// The directory's name for the log at `log` (memmon-core's rule).
pub(crate) fn dir_name(log: &Path) -> OsString {
    let file = log
        .file_name()
        .map_or_else(|| OsString::from("memmon"), OsString::from);
    memmon_core::bundle_name::evidence_dir_name(&file)
}

/// Whether `name` is a bundle's: `YYYYMMDD-HHMMSS-PID-TRIGGER.txt`.
pub(crate) fn is_bundle_name(name: &str) -> bool {
    memmon_core::bundle_name::parse_bundle_name(name).is_some()
}

impl Store {
    /// The store beside the log at `log`, keeping `max` bundles. Nothing is created until the
    /// first bundle.
    pub(crate) fn beside(log: &Path, max: usize) -> Store {
        let parent = match log.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Store {
            parent,
            name: dir_name(log),
            max,
        }
    }

    /// The directory's path.
    pub(crate) fn path(&self) -> PathBuf {
        self.parent.join(&self.name)
    }

    /// The directory's name (for the log line's relative path).
    pub(crate) fn name(&self) -> &std::ffi::OsStr {
        &self.name
    }

    /// Makes (mode 0700) or opens the directory, never through a symlink, refusing one another
    /// user owns or can write.
    fn open_dir(&self) -> io::Result<OwnedFd> {
        let parent = rfs::open(
            &self.parent,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        match rfs::mkdirat(&parent, self.name.as_os_str(), Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        let dir = rfs::openat(
            &parent,
            self.name.as_os_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => io::Error::other(format!(
                "{} is not a directory (a symlink is never followed)",
                self.path().display()
            )),
            e => e.into(),
        })?;
        let st = rfs::fstat(&dir)?;
        let euid = rustix::process::geteuid().as_raw();
        if st.st_uid != euid {
            return Err(io::Error::other(format!(
                "{} belongs to user {}, not to memmon's user {euid}",
                self.path().display(),
                st.st_uid
            )));
        }
        if st.st_mode & 0o022 != 0 {
            return Err(io::Error::other(format!(
                "{} can be written by other users (mode {:o})",
                self.path().display(),
                st.st_mode & 0o7777
            )));
        }
        Ok(dir)
    }

    /// Writes one bundle under `name` (temporary file, fsync, rename, directory fsync), then
    /// removes the oldest unprotected bundles past `max`. Returns the bundle's path.
    pub(crate) fn write(&self, name: &str, text: &[u8]) -> io::Result<PathBuf> {
        let dir = self.open_dir()?;
        let tmp = format!(
            "{TMP_PREFIX}{}-{}",
            std::process::id(),
            name.trim_end_matches(".txt")
        );
        let _ = rfs::unlinkat(&dir, tmp.as_str(), rfs::AtFlags::empty());
        let fd = rfs::openat(
            &dir,
            tmp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?;
        let mut file = File::from(fd);
        let written = file.write_all(text).and_then(|()| file.sync_all());
        drop(file);
        if let Err(e) = written {
            let _ = rfs::unlinkat(&dir, tmp.as_str(), rfs::AtFlags::empty());
            return Err(e);
        }
        rfs::renameat(&dir, tmp.as_str(), &dir, name)?;
        rfs::fsync(&dir)?;
        self.evict(&dir, name);
        Ok(self.path().join(name))
    }

    /// Marks `name` as named by an OOM line: never removed to make room.
    pub(crate) fn protect(&self, name: &str) -> io::Result<()> {
        let dir = self.open_dir()?;
        let marker = format!("{PROTECT_PREFIX}{name}");
        match rfs::openat(
            &dir,
            marker.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        ) {
            Ok(_) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        rfs::fsync(&dir)?;
        Ok(())
    }

    /// Removes the oldest unprotected bundles while more than `max` are there (`newest` never).
    fn evict(&self, dir: &OwnedFd, newest: &str) {
        let Ok(names) = list(dir) else {
            return;
        };
        let protected: Vec<&str> = names
            .iter()
            .filter_map(|n| n.strip_prefix(PROTECT_PREFIX))
            .collect();
        let mut bundles: Vec<&String> = names
            .iter()
            .filter(|n| is_bundle_name(n) && !protected.contains(&n.as_str()))
            .collect();
        bundles.sort();
        let mut over = bundles.len().saturating_sub(self.max);
        for name in bundles {
            if over == 0 {
                break;
            }
            if name == newest {
                continue;
            }
            if rfs::unlinkat(dir, name.as_str(), rfs::AtFlags::empty()).is_ok() {
                over -= 1;
            }
        }
        let _ = rfs::fsync(dir);
    }
}

/// The names in the directory (UTF-8 ones only: bundle names are ASCII).
fn list(dir: &OwnedFd) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    for entry in rfs::Dir::read_from(dir)? {
        let entry = entry?;
        if let Ok(name) = std::str::from_utf8(entry.file_name().to_bytes()) {
            if name != "." && name != ".." {
                out.push(name.to_owned());
            }
        }
    }
    Ok(out)
}

/// The bundles in `dir` that a marker protects (for tests and `analyze`).
pub fn protected_bundles(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let name = std::str::from_utf8(name.as_bytes()).ok()?.to_owned();
            name.strip_prefix(PROTECT_PREFIX).map(str::to_owned)
        })
        .collect();
    out.sort();
    out
}
