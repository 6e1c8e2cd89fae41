//! The hook's private directory: where `sitecustomize.py`, the clients' sockets and the
//! `trace-from-start` marker live.

use super::{FRAMES_VAR, HOOK_DIR_VAR, HOOK_SOURCE, PROTOCOL, PROTOCOL_VAR};
use std::ffi::OsString;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The hook's private directory (mode 0700): `memmon-<pid>-<random>` under a parent that only
/// memmon's effective user (or root) can write, holding `sitecustomize.py` and the clients'
/// sockets. Removed with everything in it when dropped.
///
/// The directory goes first on `sys.path` of every Python process memmon starts (as root, often),
/// and those processes can outlive memmon: so no other user may ever create, replace or write
/// it, during memmon's life or after it. Its parent is therefore one of, in order:
/// `$XDG_RUNTIME_DIR` when it is memmon's user's own; for root, `/run/memmon`; else
/// `$HOME/.cache/memmon`; each checked with every ancestor (owned by root or memmon's user, and
/// writable by no one else unless sticky). A world-writable `/tmp` never is (systemd sets no
/// `XDG_RUNTIME_DIR` for a system service's `User=`): there is then no hook, and detail comes from
/// smaps. The hook also takes the directory off its own `sys.path` once loaded.
#[derive(Debug)]
pub struct HookDir {
    path: PathBuf,
}

impl HookDir {
    /// Creates the directory and writes the hook into it.
    pub fn create() -> io::Result<HookDir> {
        // Socket paths are limited to 107 bytes: these parents are short.
        let base = private_parent()?;
        let mut last = io::Error::new(io::ErrorKind::AlreadyExists, "no free directory name");
        for attempt in 0u32..16 {
            let path = base.join(format!(
                "memmon-{}-{:016x}",
                std::process::id(),
                random(attempt)
            ));
            // create, not create_all: an existing directory (someone else's) is never reused.
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => {
                    let dir = HookDir { path };
                    dir.write_hook()?;
                    return Ok(dir);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    fn write_hook(&self) -> io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(self.path.join("sitecustomize.py"))?;
        file.write_all(HOOK_SOURCE.as_bytes())
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sets the child's environment: the directory first on `PYTHONPATH` (what was there is
    /// kept after it), the channel, the protocol's version and the traceback depth.
    pub fn apply(&self, command: &mut Command, frames: u32) {
        let mut pythonpath = OsString::from(self.path.as_os_str());
        if let Some(old) = std::env::var_os("PYTHONPATH").filter(|p| !p.is_empty()) {
            pythonpath.push(":");
            pythonpath.push(old);
        }
        command
            .env("PYTHONPATH", pythonpath)
            .env(HOOK_DIR_VAR, &self.path)
            .env(PROTOCOL_VAR, PROTOCOL.to_string())
            .env(FRAMES_VAR, frames.to_string());
    }
}

impl Drop for HookDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The first safe parent for the hook's directory (see [`HookDir`]), created when it is one of
/// memmon's own (`/run/memmon`, `~/.cache/memmon`).
fn private_parent() -> io::Result<PathBuf> {
    let euid = rustix::process::geteuid().as_raw();
    let mut why = Vec::new();
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        match check_private(&dir, euid) {
            Ok(()) => return Ok(dir),
            Err(e) => why.push(format!("$XDG_RUNTIME_DIR {}: {e}", dir.display())),
        }
    }
    let own = if euid == 0 {
        Some(PathBuf::from("/run/memmon"))
    } else {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .map(|home| home.join(".cache").join("memmon"))
    };
    if let Some(dir) = own {
        match make_private(&dir, euid) {
            Ok(()) => return Ok(dir),
            Err(e) => why.push(format!("{}: {e}", dir.display())),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "no directory that only this user can write for the Python hook ({})",
            if why.is_empty() {
                "no $XDG_RUNTIME_DIR or $HOME".to_owned()
            } else {
                why.join("; ")
            }
        ),
    ))
}

/// Creates `dir` (and a missing `.cache` above it) with mode 0700 when missing, then checks it.
fn make_private(dir: &Path, euid: u32) -> io::Result<()> {
    if let Some(parent) = dir.parent() {
        if !parent.exists() {
            // `~/.cache` itself; its parent (the home) is checked below with every ancestor.
            match std::fs::DirBuilder::new().mode(0o700).create(parent) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
        }
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    check_private(dir, euid)
}

/// `dir` is an absolute directory (not a symlink) owned by `euid` and writable by no one else,
/// and every ancestor is owned by root or `euid` and writable by no one else unless sticky
/// (`/tmp` above a user's own directory is fine: nobody else can rename entries there).
fn check_private(dir: &Path, euid: u32) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let refuse = |what: String| Err(io::Error::new(io::ErrorKind::PermissionDenied, what));
    if !dir.is_absolute() {
        return refuse("not an absolute path".into());
    }
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.file_type().is_dir() {
        return refuse("not a directory (or a symlink)".into());
    }
    if meta.uid() != euid {
        return refuse(format!("owned by uid {}, not {euid}", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return refuse(format!(
            "writable by others (mode {:o})",
            meta.mode() & 0o7777
        ));
    }
    for ancestor in dir.ancestors().skip(1) {
        let meta = std::fs::symlink_metadata(ancestor)?;
        let sticky = meta.mode() & 0o1000 != 0;
        if meta.file_type().is_symlink() {
            return refuse(format!("{} is a symlink", ancestor.display()));
        }
        if meta.uid() != 0 && meta.uid() != euid {
            return refuse(format!(
                "{} is owned by uid {}",
                ancestor.display(),
                meta.uid()
            ));
        }
        if meta.mode() & 0o022 != 0 && !sticky {
            return refuse(format!("{} is writable by others", ancestor.display()));
        }
    }
    Ok(())
}

/// A random-enough directory suffix without a dependency: std's `RandomState` is seeded from
/// the OS; uniqueness is enforced by `create` failing on an existing name anyway.
fn random(attempt: u32) -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(attempt);
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parent_another_user_owns_or_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let euid = rustix::process::geteuid().as_raw();
        let base = std::env::temp_dir().join(format!("memmon-parent-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir(&base).unwrap();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(check_private(&base, euid).is_ok());
        // Another owner (as seen from a uid that is not the owner's).
        let err = check_private(&base, euid.wrapping_add(1)).unwrap_err();
        assert!(err.to_string().contains("owned by uid"), "{err}");
        // Group- or world-writable.
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = check_private(&base, euid).unwrap_err();
        assert!(err.to_string().contains("writable by others"), "{err}");
        // A directory below one that others can write (and that is not sticky).
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o777)).unwrap();
        let inner = base.join("inner");
        std::fs::create_dir(&inner).unwrap();
        std::fs::set_permissions(&inner, std::fs::Permissions::from_mode(0o700)).unwrap();
        let err = check_private(&inner, euid).unwrap_err();
        assert!(err.to_string().contains("is writable by others"), "{err}");
        // Sticky (like /tmp): fine.
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(check_private(&inner, euid).is_ok());
        // A symlink is never followed.
        let link = base.join("link");
        std::os::unix::fs::symlink(&inner, &link).unwrap();
        assert!(check_private(&link, euid).is_err());
        assert!(check_private(Path::new("relative"), euid).is_err());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn hook_dir_is_private_holds_the_hook_and_goes_away() {
        use std::os::unix::fs::PermissionsExt;
        let dir = match HookDir::create() {
            Ok(d) => d,
            Err(e) => panic!("cannot create hook dir: {e}"),
        };
        let path = dir.path().to_path_buf();
        let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o700));
        let hook = std::fs::read_to_string(path.join("sitecustomize.py")).unwrap_or_default();
        assert_eq!(hook, HOOK_SOURCE);
        let mut cmd = Command::new("true");
        dir.apply(&mut cmd, 3);
        let envs: Vec<_> = cmd.get_envs().collect();
        assert!(envs
            .iter()
            .any(|(k, v)| *k == FRAMES_VAR && v.is_some_and(|v| v == "3")));
        assert!(envs
            .iter()
            .any(|(k, v)| *k == PROTOCOL_VAR && v.is_some_and(|v| v == "1")));
        drop(dir);
        assert!(!path.exists());
    }
}
