//! [`SmapsSource`]: the detail block for a process watched from outside, from `/proc/PID/smaps`.

use crate::error::{io_error, is_gone, parse_error};
use crate::procfs::lines::{each_line, LineError};
use crate::procfs::parse::{parse_smaps_rollup, parse_status, Smaps, SmapsStream};
use memmon_core::{Detail, DetailResult, DetailSource, SampleError, Site};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};
use std::time::Duration;

/// How many sites a detail block lists (the log's `[Top 10 メモリ消費箇所]`).
const TOP: usize = 10;

/// How long a request waits for the worker at most. Reading `smaps` costs the kernel about
/// 4 µs a mapping (30,000 mappings: 0.11 s), so this is only reached by a process with
/// millions of mappings or a machine that has stopped; the block is then left out.
const TIMEOUT: Duration = Duration::from_secs(120);

/// Summarises `/proc/PID/smaps` into one [`Detail::Smaps`]: anonymous and swapped memory
/// (`smaps_rollup`), thread count (`status`), open descriptors (`fd/`), and the mappings grouped
/// by path, the 10 largest by summed RSS (ties ordered by path, so blocks are deterministic).
///
/// `smaps` is streamed through a fixed buffer into a bounded summary (at most
/// [`MAX_GROUPS`](crate::parse::MAX_GROUPS) paths, the rest in `[other]`), so memmon's own
/// memory does not grow with the target's mappings. [`DetailSource::request`] reads it on a
/// worker thread and wakes the caller when the block is ready, so the sample line is never
/// held up by it; [`DetailSource::detail`] reads it on the caller's thread.
///
/// Reading `smaps` needs the same rights as `ptrace` reading the process: for another user's
/// process it fails with [`SampleError::PermissionDenied`]. It walks every page table of the
/// process, so it is asked only every 10th sample.
#[derive(Debug)]
pub struct SmapsSource {
    pid: u32,
    dir: PathBuf,
    /// The worker's answer, while one is being read (or was given up on and still runs).
    worker: Option<Worker>,
}

#[derive(Debug)]
struct Worker {
    answer: Receiver<DetailResult>,
    /// Whom the worker wakes: the latest request's waker.
    waker: Arc<Mutex<Waker>>,
    /// The caller stopped waiting: its answer, when it comes, is dropped.
    abandoned: bool,
}

impl SmapsSource {
    /// A source for process `pid` under the proc root `root` (`/proc`, or a fixture tree).
    /// Nothing is read until [`DetailSource::detail`].
    pub fn new(pid: u32, root: impl Into<PathBuf>) -> Self {
        SmapsSource {
            pid,
            dir: root.into().join(pid.to_string()),
            worker: None,
        }
    }

    /// The process whose mappings are read.
    pub fn pid(&self) -> u32 {
        self.pid
    }
}

/// Reads a small file of the process (`smaps_rollup`, `status`). Mapping paths are file names,
/// which may be any bytes, so the text is converted lossily rather than rejected.
fn read_small(dir: &Path, name: &str) -> Result<String, (io::Error, PathBuf)> {
    let path = dir.join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(e) => Err((e, path)),
    }
}

/// Streams `smaps` line by line through one 8 KiB buffer into a bounded summary.
fn stream_smaps(dir: &Path, pid: u32) -> Result<(Smaps, u64, u64), SampleError> {
    let path = dir.join("smaps");
    let file = File::open(&path).map_err(|e| io_error(&e, &path, Some(pid)))?;
    let mut stream = SmapsStream::default();
    let mut buf = Vec::new();
    let read = each_line(file, &mut buf, |line| {
        stream.line(&String::from_utf8_lossy(line))
    });
    match read {
        Ok(()) => {}
        Err(LineError::Io(e)) => return Err(io_error(&e, &path, Some(pid))),
        Err(LineError::Parse(e)) => return Err(parse_error(e, &path)),
    }
    if stream.lines() == 0 && !dir.join("status").exists() {
        // An open smaps of a process that dies while it is read reads empty.
        return Err(SampleError::Exited { pid });
    }
    let smaps = stream.finish();
    let (anonymous, swap) = (smaps.anonymous, smaps.swap);
    Ok((smaps, anonymous, swap))
}

/// Open descriptors, best effort: 0 when the `fd` directory may not be listed (it needs
/// ptrace rights, stricter than `status`), and the entries read so far when listing fails
/// midway. A count is a hint in a detail block, not worth failing the whole block for.
fn fds(dir: &Path, pid: u32) -> Result<u64, SampleError> {
    let path = dir.join("fd");
    let entries = match std::fs::read_dir(&path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Ok(0),
        Err(e) => return Err(io_error(&e, &path, Some(pid))),
    };
    let mut count = 0;
    for entry in entries {
        match entry {
            Ok(_) => count += 1,
            Err(_) => break,
        }
    }
    Ok(count)
}

/// The whole block of process `pid`, whose `/proc` directory is `dir`.
fn collect(dir: &Path, pid: u32) -> DetailResult {
    let (smaps, smaps_anonymous, smaps_swap) = stream_smaps(dir, pid)?;

    // smaps_rollup's sums are taken in one pass, so they are consistent with each other;
    // kernels before 4.14 lack it and the sums of smaps stand in.
    let (anonymous, swap) = match read_small(dir, "smaps_rollup") {
        Ok(text) => {
            let path = dir.join("smaps_rollup");
            let rollup = parse_smaps_rollup(&text).map_err(|e| parse_error(e, &path))?;
            (rollup.anonymous, rollup.swap)
        }
        Err((e, _)) if is_gone(&e) && dir.join("status").exists() => (smaps_anonymous, smaps_swap),
        Err((e, path)) => return Err(io_error(&e, &path, Some(pid))),
    };

    let path = dir.join("status");
    let text = read_small(dir, "status").map_err(|(e, path)| io_error(&e, &path, Some(pid)))?;
    let threads = parse_status(&text)
        .map_err(|e| parse_error(e, &path))?
        .threads;
    let fds = fds(dir, pid)?;

    let sites = smaps
        .groups
        .into_iter()
        .take(TOP)
        .map(|g| Site {
            location: g.path,
            size: g.rss,
            count: g.count,
        })
        .collect();
    Ok(vec![Detail::Smaps {
        anonymous,
        swap,
        threads,
        fds,
        sites,
    }])
}

impl DetailSource for SmapsSource {
    fn detail(&mut self) -> DetailResult {
        collect(&self.dir, self.pid)
    }

    /// Starts reading on a worker thread and answers `Pending`; the worker wakes `waker` when
    /// the block is ready. A worker still reading for an earlier request (given up on because
    /// this one came due) is not doubled: its answer becomes this request's, so at most one
    /// walk of the target's page tables runs at a time, and a walk longer than ten intervals
    /// gives a block every walk rather than none. If no thread can be started, the block is
    /// read here.
    fn request(&mut self, waker: &Waker) -> Poll<DetailResult> {
        if let Some(worker) = &mut self.worker {
            match worker.answer.try_recv() {
                Err(TryRecvError::Empty) => {
                    *worker.waker.lock().unwrap_or_else(PoisonError::into_inner) = waker.clone();
                    worker.abandoned = false;
                    return Poll::Pending;
                }
                // A late answer to a request given up on, or a worker that died: start anew.
                Ok(_) | Err(TryRecvError::Disconnected) => self.worker = None,
            }
        }
        let (tx, rx) = mpsc::sync_channel(1);
        let shared = Arc::new(Mutex::new(waker.clone()));
        let (dir, pid, wake) = (self.dir.clone(), self.pid, Arc::clone(&shared));
        let spawned = std::thread::Builder::new()
            .name("memmon-smaps".into())
            .spawn(move || {
                // The receiver may be gone (the source dropped at the end): nothing to tell.
                let _ = tx.send(collect(&dir, pid));
                wake.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .wake_by_ref();
            });
        match spawned {
            Ok(_) => {
                self.worker = Some(Worker {
                    answer: rx,
                    waker: shared,
                    abandoned: false,
                });
                Poll::Pending
            }
            Err(_) => Poll::Ready(self.detail()),
        }
    }

    /// The worker's block once it is ready. Given up on, it completes with no block (a
    /// `NoAnswer` line is the Python hook's, not smaps'), and the worker's late answer is
    /// dropped.
    fn poll(&mut self, give_up: bool) -> Poll<DetailResult> {
        let Some(worker) = self.worker.as_mut() else {
            return Poll::Ready(Ok(Vec::new()));
        };
        if worker.abandoned {
            return Poll::Ready(Ok(Vec::new()));
        }
        match worker.answer.try_recv() {
            Ok(result) => {
                self.worker = None;
                Poll::Ready(result)
            }
            Err(TryRecvError::Empty) if give_up => {
                worker.abandoned = true;
                Poll::Ready(Ok(Vec::new()))
            }
            Err(TryRecvError::Empty) => Poll::Pending,
            Err(TryRecvError::Disconnected) => {
                self.worker = None;
                Poll::Ready(Err(SampleError::Io {
                    path: self.dir.join("smaps").display().to_string(),
                    message: "the smaps reader thread ended without an answer".to_owned(),
                }))
            }
        }
    }

    fn timeout(&self) -> Duration {
        TIMEOUT
    }
}
