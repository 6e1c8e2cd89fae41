//! The tracemalloc block of an unmodified Python client, watched from outside.
//!
//! `memmon run` writes memmon's `sitecustomize.py` ([`HOOK_SOURCE`]) into a private directory
//! ([`HookDir`]) and puts that directory first on the child's `PYTHONPATH`. Every Python process
//! started in the watched tree then chains to its own `sitecustomize`, starts `tracemalloc`, and
//! answers snapshot requests on `<dir>/<pid>.sock`. [`PythonDetail`] asks every such process for
//! a snapshot when a detail block is due and turns the replies into [`Detail::Traced`] blocks, or
//! [`Detail::NoAnswer`] for a process that stays silent past the timeout.
//!
//! Only processes that inherited memmon's environment open a socket in the directory, so the
//! sockets found there are exactly the Python processes of the watched tree; no tree walk is
//! needed to find them.

mod client;

use crate::smaps::SmapsSource;
use client::Snapshot;
use memmon_config::DetailSourceKind;
use memmon_core::{Detail, DetailSource, SampleError, Site};
use std::collections::HashSet;
use std::ffi::OsString;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// The hook Python runs at startup (its own documentation describes the protocol).
pub const HOOK_SOURCE: &str = include_str!("sitecustomize.py");
/// The environment variable naming the hook's directory (the channel); the hook is inert
/// without it.
pub const HOOK_DIR_VAR: &str = "MEMMON_HOOK_DIR";
/// The environment variable carrying `tracemalloc_frames`.
pub const FRAMES_VAR: &str = "MEMMON_TRACEMALLOC_FRAMES";

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
    /// kept after it), the channel, and the traceback depth.
    pub fn apply(&self, command: &mut Command, frames: u32) {
        let mut pythonpath = OsString::from(self.path.as_os_str());
        if let Some(old) = std::env::var_os("PYTHONPATH").filter(|p| !p.is_empty()) {
            pythonpath.push(":");
            pythonpath.push(old);
        }
        command
            .env("PYTHONPATH", pythonpath)
            .env(HOOK_DIR_VAR, &self.path)
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

/// How [`PythonDetail`] behaves.
#[derive(Debug, Clone)]
pub struct PythonOptions {
    /// Ask every Python process of the tree (else only the watched process).
    pub children: bool,
    /// How long to wait for replies (`tracemalloc_timeout`).
    pub timeout: Duration,
    /// `Auto`: smaps of the watched process when no Python process answers; `Both`: smaps after
    /// the tracemalloc blocks; `Python` (and `Smaps`, which should not build this): hook only.
    pub kind: DetailSourceKind,
}

/// How one process's request ended.
enum Outcome {
    Answer(Snapshot),
    /// Timed out: the process exists but did not answer.
    Silent,
    /// Not a live hook (exited, exec'd into something else, garbage): left out of the block.
    Gone,
}

/// The detail source for Python processes running memmon's hook; see the module docs.
///
/// Requests go to all processes at once, each on a short-lived thread, and `detail` waits at
/// most `timeout` for all of them together. A process still busy with an earlier request is
/// reported silent at once rather than asked again, so a stopped process never piles up threads.
#[derive(Debug)]
pub struct PythonDetail {
    pid: u32,
    proc_root: PathBuf,
    dir: PathBuf,
    options: PythonOptions,
    smaps: SmapsSource,
    in_flight: Arc<Mutex<HashSet<u32>>>,
}

impl PythonDetail {
    /// A source for the tree of `pid` whose hook directory is `dir`.
    pub fn new(
        pid: u32,
        proc_root: impl Into<PathBuf>,
        dir: impl Into<PathBuf>,
        options: PythonOptions,
    ) -> Self {
        let proc_root = proc_root.into();
        PythonDetail {
            pid,
            smaps: SmapsSource::new(pid, proc_root.clone()),
            proc_root,
            dir: dir.into(),
            options,
            in_flight: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    /// The PIDs with a socket in the directory: the watched process first, then by PID.
    fn sockets(&self) -> Vec<u32> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut pids: Vec<u32> = entries
            .filter_map(|e| {
                let name = e.ok()?.file_name();
                name.to_str()?.strip_suffix(".sock")?.parse().ok()
            })
            .filter(|&p| self.options.children || p == self.pid)
            .collect();
        pids.sort_by_key(|&p| (p != self.pid, p));
        pids
    }

    /// Asks every process in `pids` at once; waits at most the timeout for all of them.
    fn ask(&self, pids: &[u32]) -> Vec<(u32, Outcome)> {
        let timeout = self.options.timeout;
        let (tx, rx) = mpsc::channel();
        let mut results: Vec<(u32, Option<Outcome>)> = Vec::with_capacity(pids.len());
        for &pid in pids {
            let busy = !lock(&self.in_flight).insert(pid);
            if busy {
                results.push((pid, Some(Outcome::Silent)));
                continue;
            }
            let socket = self.dir.join(format!("{pid}.sock"));
            let alive = self.proc_root.join(pid.to_string());
            let (tx, in_flight) = (tx.clone(), Arc::clone(&self.in_flight));
            let spawned = std::thread::Builder::new()
                .name("memmon-python".into())
                .spawn(move || {
                    let outcome = match client::query(&socket, timeout) {
                        Ok(s) => Outcome::Answer(s),
                        Err(e) if is_timeout(&e) => Outcome::Silent,
                        Err(_) => {
                            // A process that died without removing its socket (SIGKILL):
                            // the stale name goes, so it is not asked again.
                            if !alive.exists() {
                                let _ = std::fs::remove_file(&socket);
                            }
                            Outcome::Gone
                        }
                    };
                    lock(&in_flight).remove(&pid);
                    let _ = tx.send((pid, outcome));
                });
            match spawned {
                Ok(_) => results.push((pid, None)),
                Err(_) => {
                    lock(&self.in_flight).remove(&pid);
                    results.push((pid, Some(Outcome::Gone)));
                }
            }
        }
        drop(tx);
        let deadline = Instant::now() + timeout;
        while results.iter().any(|(_, o)| o.is_none()) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((pid, outcome)) => {
                    if let Some(slot) = results.iter_mut().find(|(p, o)| *p == pid && o.is_none()) {
                        slot.1 = Some(outcome);
                    }
                }
                // Past the deadline (or every thread done): the rest are silent.
                Err(_) => break,
            }
        }
        results
            .into_iter()
            .map(|(pid, o)| (pid, o.unwrap_or(Outcome::Silent)))
            .collect()
    }
}

impl DetailSource for PythonDetail {
    fn detail(&mut self) -> Result<Vec<Detail>, SampleError> {
        let pids = self.sockets();
        let outcomes = self.ask(&pids);
        let outcomes: Vec<(u32, Outcome)> = outcomes
            .into_iter()
            .filter(|(_, o)| !matches!(o, Outcome::Gone))
            .collect();
        // Exactly the original's line when one process is all there is.
        let single = outcomes.len() == 1;
        let mut blocks: Vec<Detail> = outcomes
            .into_iter()
            .map(|(pid, outcome)| match outcome {
                Outcome::Answer(s) => traced(s, (!single).then_some(pid)),
                _ => Detail::NoAnswer {
                    pid,
                    waited: self.options.timeout,
                },
            })
            .collect();
        match self.options.kind {
            DetailSourceKind::Auto if blocks.is_empty() => self.smaps.detail(),
            DetailSourceKind::Both => match self.smaps.detail() {
                Ok(more) => {
                    blocks.extend(more);
                    Ok(blocks)
                }
                Err(e) if blocks.is_empty() => Err(e),
                // The tracemalloc blocks stand on their own.
                Err(_) => Ok(blocks),
            },
            _ => Ok(blocks),
        }
    }
}

fn traced(s: Snapshot, pid: Option<u32>) -> Detail {
    Detail::Traced {
        pid,
        current: s.current,
        peak: s.peak,
        sites: s
            .sites
            .into_iter()
            .take(10)
            .map(|(location, size, count)| Site {
                location,
                size,
                count,
            })
            .collect(),
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The in-flight set stays usable even if a query thread panicked while holding it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
        drop(dir);
        assert!(!path.exists());
    }

    #[test]
    fn no_sockets_with_python_only_gives_no_block() {
        let dir = std::env::temp_dir().join(format!("memmon-py-empty-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let mut source = PythonDetail::new(
            std::process::id(),
            "/proc",
            &dir,
            PythonOptions {
                children: true,
                timeout: Duration::from_millis(100),
                kind: DetailSourceKind::Python,
            },
        );
        assert_eq!(source.detail().ok(), Some(vec![]));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
