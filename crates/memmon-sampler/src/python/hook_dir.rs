//! The hook's private directory: where `sitecustomize.py`, the clients' sockets and the
//! `trace-from-start` marker live.

use super::{FRAMES_VAR, HOOK_DIR_VAR, HOOK_SOURCE, PROTOCOL, PROTOCOL_VAR};
use std::ffi::OsString;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The hook's private directory (mode 0700): `memmon-<pid>-<random>` under `$XDG_RUNTIME_DIR`
/// (else the temporary directory), holding `sitecustomize.py` and the clients' sockets.
/// Removed with everything in it when dropped.
#[derive(Debug)]
pub struct HookDir {
    path: PathBuf,
}

impl HookDir {
    /// Creates the directory and writes the hook into it.
    pub fn create() -> io::Result<HookDir> {
        // The runtime directory is per-user, private and short (socket paths are limited to
        // 107 bytes); the temporary directory is the portable fallback.
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute() && p.is_dir())
            .unwrap_or_else(std::env::temp_dir);
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
