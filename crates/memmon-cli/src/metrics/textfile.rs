//! `--prom-textfile`: the rendered text written atomically for node_exporter's textfile
//! collector, which reads every `*.prom` file of its directory at each scrape and must never
//! see half a file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The textfile and whether its last write failed.
pub struct TextFile {
    path: PathBuf,
    temp: PathBuf,
    /// Whether the last write failed, so a failure streak is reported once, not every sample.
    failing: bool,
}

impl TextFile {
    /// A textfile at `path`; nothing is written until the first sample.
    pub fn new(path: PathBuf) -> Self {
        // Same directory, so the rename is atomic (one file system). A leading dot and a
        // suffix other than `.prom` keep the collector from reading the temp file itself.
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "memmon.prom".into());
        let temp = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
        TextFile {
            path,
            temp,
            failing: false,
        }
    }

    /// Replaces the file's content with `text`. A failure is reported on stderr once per
    /// streak and retried at the next sample: metrics must never stop the monitoring.
    pub fn write(&mut self, text: &str) {
        match self.replace(text) {
            Ok(()) => {
                if self.failing {
                    eprintln!("memmon: metrics written to {} again", self.path.display());
                }
                self.failing = false;
            }
            Err(e) => {
                // Leave no stray temp file behind for the next attempt or the collector.
                let _ = std::fs::remove_file(&self.temp);
                if !self.failing {
                    eprintln!(
                        "memmon: cannot write metrics to {}: {e}; retrying every sample",
                        self.path.display()
                    );
                }
                self.failing = true;
            }
        }
    }

    /// Write the temp file, flush it to disk, then rename it over the target: a reader sees
    /// the old file or the new one, and after a power cut (a Pi's SD card) never an empty one.
    fn replace(&self, text: &str) -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&self.temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&self.temp, &self.path)?;
        // The rename itself is durable once the directory is synced; failing that is harmless
        // (the next sample's rename will be), so it is not an error.
        if let Some(dir) = self.path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
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
}
