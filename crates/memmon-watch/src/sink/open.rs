//! Opening the log: what the log path may name, and the one kind of symlink memmon follows.
//!
//! memmon often runs as root, so the log path must never let another user redirect its writes.
//! A plain path is opened with `O_NOFOLLOW`: a symlink planted there is refused, and a FIFO or a
//! socket is refused (`O_NONBLOCK` makes even the `open` of a FIFO return at once).
//!
//! A symlink at the log path is followed only when nobody but root and memmon's user could have
//! put it there, and only to something memmon writes "as is" (the spec: `/dev/null`,
//! `/dev/stdout`), never to a regular file that rotation would then miss:
//!
//! - every link on the way is owned by root or memmon's effective user, and sits in a directory
//!   owned by one of them that neither group nor others can write. This is stricter than the
//!   kernel's `protected_symlinks` (which trusts a link in a sticky world-writable directory
//!   when its owner is the follower or the directory's owner): in a sticky directory another
//!   user can still hard-link a root-owned symlink from elsewhere on the same file system
//!   under the log's name when `protected_hardlinks` is off, so memmon follows no link in any
//!   directory another user can write, sticky or not;
//! - a link in `/proc/<memmon's pid>/fd` (what `/dev/stdout`, `/dev/stderr` and `/dev/fd/N`
//!   lead to) names a file memmon already has open: nobody can redirect it by planting a
//!   name. It is opened as `/proc/self/fd/N`, a path no other user has a part in, and written
//!   as is whatever it is: a terminal, `/dev/null`, a file the shell opened, or a pipe
//!   (`memmon run --log /dev/stdout … | cat`). A pipe keeps `O_NONBLOCK`: a reader that does
//!   not keep up makes a write fail (counted as lost samples, then the lost-samples line), never
//!   blocks memmon. A socket (systemd's journal stream) cannot be opened through `/proc` and is
//!   refused by the kernel (`ENXIO`);
//! - any other chain must end at a character device (`/dev/null`, a terminal): written as is,
//!   blocking as a device always was. A link to a regular file is refused: rotation renames
//!   the log path (the link), so the file would grow forever, and that file has a path of its
//!   own to give; a link to a FIFO or anything else is refused.

use crate::lang::{tr, Lang};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// How many symlinks a chain may hold (`/dev/stdout` → `/proc/self/fd/1` is two).
const MAX_LINKS: usize = 8;

/// The file at the log path, opened for appending.
pub(super) struct Opened {
    /// The open file.
    pub file: File,
    /// A regular file named by the log path itself: rotated, and checked for moves and
    /// truncation. Anything else (a device, memmon's own output) is written as is.
    pub regular: bool,
}

/// Why memmon will not write to what the log path names.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// A FIFO or a socket named by the path itself.
    #[error("not a regular file or a device (a FIFO or a socket would block memmon)")]
    Pipe,
    /// A symlink owned by another user.
    #[error("the symlink {link} belongs to user {uid}, not to root or memmon's user, so it is not followed")]
    LinkOwner {
        /// The link.
        link: String,
        /// Its owner.
        uid: u32,
    },
    /// A symlink in a directory another user can write (or owns).
    #[error("the symlink {link} is in a directory another user can write, so it is not followed")]
    LinkDirectory {
        /// The link.
        link: String,
    },
    /// A symlink chain that ends at a regular file.
    #[error("the symlink leads to the regular file {target}; give that file's own path (rotation renames the log path, not what a link points at)")]
    LinkToFile {
        /// Where the chain ends.
        target: String,
    },
    /// A symlink chain that ends at something else memmon does not write (a FIFO, a socket, a
    /// block device, a directory).
    #[error("the symlink leads to {target}, which is neither a character device nor memmon's own output")]
    LinkToOther {
        /// Where the chain ends.
        target: String,
    },
}

impl Refusal {
    /// The reason in `lang` (`Display` is the English one).
    pub fn message(&self, lang: Lang) -> String {
        match self {
            Refusal::Pipe => tr!(
                lang,
                "通常のファイルでもデバイスでもありません (FIFO やソケットは memmon を止めてしまいます)",
                "not a regular file or a device (a FIFO or a socket would block memmon)"
            ),
            Refusal::LinkOwner { link, uid } => tr!(
                lang,
                "シンボリックリンク {link} の所有者はユーザー {uid} で、root でも memmon のユーザーでもないため、たどりません",
                "the symlink {link} belongs to user {uid}, not to root or memmon's user, so it is not followed"
            ),
            Refusal::LinkDirectory { link } => tr!(
                lang,
                "シンボリックリンク {link} は他のユーザーが書き込めるディレクトリにあるため、たどりません",
                "the symlink {link} is in a directory another user can write, so it is not followed"
            ),
            Refusal::LinkToFile { target } => tr!(
                lang,
                "シンボリックリンクの先は通常のファイル {target} です。そのファイル自身のパスを指定してください (ローテーションはリンク先ではなくログのパスを名前変更します)",
                "the symlink leads to the regular file {target}; give that file's own path (rotation renames the log path, not what a link points at)"
            ),
            Refusal::LinkToOther { target } => tr!(
                lang,
                "シンボリックリンクの先 {target} は文字デバイスでも memmon 自身の出力でもありません",
                "the symlink leads to {target}, which is neither a character device nor memmon's own output"
            ),
        }
    }
}

/// Why the log could not be opened: the OS said no, or memmon refused.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// An error of the OS (missing directory, permissions, a symlink `O_NOFOLLOW` met).
    #[error(transparent)]
    Os(#[from] io::Error),
    /// What the path names is not for memmon to write.
    #[error(transparent)]
    Refused(#[from] Refusal),
}

impl Failure {
    /// The reason in `lang`; the OS's error text stays as the OS gives it.
    pub fn message(&self, lang: Lang) -> String {
        match self {
            Failure::Os(e) => e.to_string(),
            Failure::Refused(r) => r.message(lang),
        }
    }
}

impl From<Failure> for io::Error {
    fn from(f: Failure) -> io::Error {
        match f {
            Failure::Os(e) => e,
            Failure::Refused(r) => io::Error::other(r),
        }
    }
}

/// Opens the log at `path` for appending, by the rules of this module.
pub(super) fn open_log(path: &Path) -> Result<Opened, Failure> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => open_through_link(path),
        // Anything else, or nothing yet: `O_NOFOLLOW` refuses a link planted meanwhile.
        _ => open_plain(path),
    }
}

fn open_plain(path: &Path) -> Result<Opened, Failure> {
    // O_NONBLOCK: a FIFO planted at the log path would otherwise block `open` until a reader
    // comes, and the command would never start (with no reader it fails at once: ENXIO).
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if kind.is_fifo() || kind.is_socket() {
        return Err(Refusal::Pipe.into());
    }
    // Writes to a terminal or another device block as they always did.
    rustix::fs::fcntl_setfl(&file, rustix::fs::OFlags::APPEND).map_err(io::Error::from)?;
    Ok(Opened {
        file,
        regular: kind.is_file(),
    })
}

fn open_through_link(path: &Path) -> Result<Opened, Failure> {
    let euid = rustix::process::geteuid().as_raw();
    let mine = |uid: u32| uid == 0 || uid == euid;
    let mut at = path.to_path_buf();
    for _ in 0..=MAX_LINKS {
        let meta = fs::symlink_metadata(&at)?;
        if !meta.file_type().is_symlink() {
            return open_device(&at, &meta);
        }
        let link = at.display().to_string();
        if !mine(meta.uid()) {
            return Err(Refusal::LinkOwner {
                link,
                uid: meta.uid(),
            }
            .into());
        }
        let dir = match at.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let dir_meta = fs::metadata(&dir)?;
        if !mine(dir_meta.uid()) || dir_meta.mode() & 0o022 != 0 {
            return Err(Refusal::LinkDirectory { link }.into());
        }
        if let Some(fd) = own_fd(&dir, &at) {
            return open_own_fd(fd);
        }
        let target = fs::read_link(&at)?;
        at = dir.join(target);
    }
    Err(io::Error::from_raw_os_error(libc::ELOOP).into())
}

/// The end of a chain of trusted links: a character device, opened without following anything
/// further and checked to be the very file the chain led to.
fn open_device(at: &Path, seen: &fs::Metadata) -> Result<Opened, Failure> {
    let target = at.display().to_string();
    if seen.file_type().is_file() {
        return Err(Refusal::LinkToFile { target }.into());
    }
    if !seen.file_type().is_char_device() {
        return Err(Refusal::LinkToOther { target }.into());
    }
    let file = OpenOptions::new()
        .append(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(at)?;
    let meta = file.metadata()?;
    // A directory on the way could have been swapped between the look and the open.
    if (meta.dev(), meta.ino()) != (seen.dev(), seen.ino()) || !meta.file_type().is_char_device() {
        return Err(Refusal::LinkToOther { target }.into());
    }
    rustix::fs::fcntl_setfl(&file, rustix::fs::OFlags::APPEND).map_err(io::Error::from)?;
    Ok(Opened {
        file,
        regular: false,
    })
}

/// `N` when `link` is `N` in memmon's own `/proc/PID/fd` (reached as `/proc/self/fd`,
/// `/dev/fd`, …).
fn own_fd(dir: &Path, link: &Path) -> Option<u32> {
    let fd: u32 = link.file_name()?.to_str()?.parse().ok()?;
    let own = PathBuf::from(format!("/proc/{}/fd", std::process::id()));
    (fs::canonicalize(dir).ok()? == own).then_some(fd)
}

/// Opens memmon's own descriptor `fd` anew, as `/proc/self/fd/N`: a new open file of its own,
/// so `O_NONBLOCK` here never changes the command's stdout.
fn open_own_fd(fd: u32) -> Result<Opened, Failure> {
    let file = OpenOptions::new()
        .append(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(format!("/proc/self/fd/{fd}"))?;
    let kind = file.metadata()?.file_type();
    if !kind.is_fifo() {
        // A terminal or a file blocks as it always did; only a pipe is written without
        // blocking (a reader that stops must not stop memmon).
        rustix::fs::fcntl_setfl(&file, rustix::fs::OFlags::APPEND).map_err(io::Error::from)?;
    }
    Ok(Opened {
        file,
        regular: false,
    })
}
