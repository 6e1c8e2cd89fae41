//! `--prom-textfile`: the rendered text written atomically for node_exporter's textfile
//! collector, which reads every `*.prom` file of its directory at each scrape and must never
//! see half a file.

use crate::lang::{current, tr};
use crate::say;
use std::fs::{File, Permissions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The textfile and whether its last write failed.
pub struct TextFile {
    path: PathBuf,
    /// The temp files' name before the random part: `.NAME.`.
    prefix: String,
    /// Whether the last write failed, so a failure streak is reported once, not every sample.
    failing: bool,
}

impl TextFile {
    /// A textfile at `path`; nothing is written until the first sample.
    pub fn new(path: PathBuf) -> Self {
        // A leading dot and the `.tmp` suffix keep the collector (which reads `*.prom`) from
        // reading the temp file itself.
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "memmon.prom".into());
        TextFile {
            path,
            prefix: format!(".{file_name}."),
            failing: false,
        }
    }

    /// Replaces the file's content with `text`. A failure is reported on stderr once per
    /// streak and retried at the next sample: metrics must never stop the monitoring.
    pub fn write(&mut self, text: &str) {
        match self.replace(text) {
            Ok(()) => {
                if self.failing {
                    let path = self.path.display();
                    say!(
                        "memmon: {}",
                        tr!(
                            current(),
                            "メトリクスをまた {path} に書けるようになりました",
                            "metrics written to {path} again"
                        )
                    );
                }
                self.failing = false;
            }
            Err(e) => {
                if !self.failing {
                    let path = self.path.display();
                    say!(
                        "memmon: {}",
                        tr!(
                            current(),
                            "メトリクスを {path} に書けません: {e}。サンプルごとに書き直します",
                            "cannot write metrics to {path}: {e}; retrying every sample"
                        )
                    );
                }
                self.failing = true;
            }
        }
    }

    /// Write a temp file, flush it to disk, then rename it over the target: a reader sees
    /// the old file or the new one, and after a power cut (a Pi's SD card) never an empty one.
    ///
    /// memmon often runs as root, and the collector's directory may be writable by others.
    /// The temp file therefore gets a fresh random name and is created with
    /// `O_CREAT | O_EXCL` (`tempfile`), which fails on anything already there, a symlink
    /// included, and is retried under another name: nothing planted in the directory can
    /// redirect the write. The rename replaces a symlink planted at the target itself, never
    /// its target. A temp file left by a failed write is removed when `temp` is dropped.
    fn replace(&self, text: &str) -> std::io::Result<()> {
        // Same directory, so the rename is atomic (one file system).
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let mut temp = tempfile::Builder::new()
            .prefix(&self.prefix)
            .suffix(".tmp")
            // As the log: 0644 less the umask, so node_exporter's own user can read it.
            .permissions(Permissions::from_mode(0o644))
            .tempfile_in(dir)?;
        temp.write_all(text.as_bytes())?;
        temp.as_file().sync_all()?;
        temp.persist(&self.path).map_err(|e| e.error)?;
        // The rename itself is durable once the directory is synced; failing that is harmless
        // (the next sample's rename will be), so it is not an error.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_recovers_after_a_failure() {
        let dir = std::env::temp_dir().join(format!("memmon-textfile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sub").join("memmon.prom");
        let mut t = TextFile::new(path.clone());
        // The directory does not exist yet: a failure, not a panic, and no temp file.
        t.write("a 1\n");
        assert!(t.failing);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        t.write("a 2\n");
        assert!(!t.failing);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a 2\n");
        t.write("a 3\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a 3\n");
        let names: Vec<_> = std::fs::read_dir(dir.join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("memmon.prom")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_symlink_planted_at_the_target_or_an_old_temp_name_is_replaced_not_followed() {
        let dir = std::env::temp_dir().join(format!("memmon-textfile-link-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let path = dir.join("memmon.prom");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        // The name the temp file had before: guessable from the PID.
        let old = dir.join(format!(".memmon.prom.{}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, &old).unwrap();
        let mut t = TextFile::new(path.clone());
        t.write("a 1\n");
        assert!(!t.failing);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_file(), "{meta:?}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a 1\n");
        // Readable by node_exporter's user unless the umask says otherwise.
        assert_eq!(meta.permissions().mode() & 0o600, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
