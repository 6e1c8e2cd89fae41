//! An output of `memmon analyze` (`--csv`, `--plot`) is never one of its inputs, nor another
//! output: `memmon analyze --csv X X` once replaced the log X with one CSV header line. Checked
//! before anything is read or written, so a refused command leaves every file as it was.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// An output that names a file already in use by the command.
#[derive(Debug, thiserror::Error)]
#[error(
    "{what} {}: the same file as {other_what} {}; nothing was written",
    output.display(),
    other.display()
)]
pub struct Clash {
    /// The output's flag (`--csv`, `--plot`).
    pub what: &'static str,
    /// The output as given.
    pub output: PathBuf,
    /// `the input` or the other output's flag.
    pub other_what: &'static str,
    /// The input (or other output) as given.
    pub other: PathBuf,
}

/// What identifies a file: its device and inode when it exists (a hard link or a symlink to
/// it has the same), and its canonical path (where it would be created, when it does not).
struct Identity {
    inode: Option<(u64, u64)>,
    canonical: Option<PathBuf>,
}

impl Identity {
    fn of(path: &Path) -> Identity {
        // `metadata` follows links: a symlink to the log is the log. Not opened, so a FIFO
        // given as an input is not consumed here.
        let inode = std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
        let canonical = std::fs::canonicalize(path).ok().or_else(|| {
            // Not there yet: where it would be, through its directory's links.
            let name = path.file_name()?;
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            std::fs::canonicalize(parent).ok().map(|d| d.join(name))
        });
        Identity { inode, canonical }
    }

    fn same(&self, other: &Identity) -> bool {
        fn both<T: PartialEq>(a: &Option<T>, b: &Option<T>) -> bool {
            a.is_some() && a == b
        }
        both(&self.inode, &other.inode) || both(&self.canonical, &other.canonical)
    }
}

/// Refuses an output that is an input or an earlier output (same file, also through links).
pub fn check(inputs: &[PathBuf], outputs: &[(&'static str, &Path)]) -> Result<(), Clash> {
    let ins: Vec<Identity> = inputs.iter().map(|p| Identity::of(p)).collect();
    let mut seen: Vec<(&'static str, &Path, Identity)> = Vec::new();
    for &(what, output) in outputs {
        let id = Identity::of(output);
        let clash = |other_what, other: &Path| Clash {
            what,
            output: output.to_owned(),
            other_what,
            other: other.to_owned(),
        };
        if let Some((input, _)) = inputs.iter().zip(&ins).find(|(_, i)| id.same(i)) {
            return Err(clash("the input", input));
        }
        if let Some((w, p, _)) = seen.iter().find(|(_, _, i)| id.same(i)) {
            return Err(clash(w, p));
        }
        seen.push((what, output, id));
    }
    Ok(())
}
