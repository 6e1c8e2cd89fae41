//! The tracemalloc block of an unmodified Python client, watched from outside.
//!
//! `memmon run` writes memmon's `sitecustomize.py` ([`HOOK_SOURCE`]) into a private directory
//! ([`HookDir`]) and puts that directory first on the child's `PYTHONPATH`. Every Python process
//! started in the watched tree then chains to its own `sitecustomize` and answers requests on
//! `<dir>/<pid>.sock` (the protocol: `docs/hook-protocol.md`, version [`PROTOCOL`]).
//!
//! Tracing starts at memmon's first sample, as the original monitor's did once the client had
//! loaded: [`PythonDetail`]'s [`DetailSource::on_first_sample`] leaves the marker
//! [`TRACE_FROM_START`] in the directory, then asks every process already there to `start`; a
//! process started later sees the marker and traces from its own start. The client's imports
//! are then neither traced (tracemalloc's tables for them cost as much as the client's heap) nor
//! shown among its sites.
//!
//! When a detail block is due, [`PythonDetail`] asks every process for a snapshot and turns the
//! replies into [`Detail::Traced`] blocks, or [`Detail::NoAnswer`] for a process that stays
//! silent past the timeout. It implements the non-blocking side of [`DetailSource`]
//! (`request`/`poll`), so `memmon run` keeps sampling while the answers are on their way.
//!
//! Issue #19's probes ask the same processes on demand, each answering on its own, waiting at
//! most the timeout: [`DetailSource::trim`] (`trim`: glibc's `malloc_trim(0)`, once) and
//! [`DetailSource::growing_types`] (`types`: a bounded walk of the collector's objects); a hook
//! older than a probe answers that it does not know it, and is left out of the answers.
//! Issue #20's [`DetailSource::evidence`] (`evidence`: the top sites with a traceback each and
//! the object types by count and bytes, tracing started on the spot if it was off) is asked the
//! same way.
//! [`DetailSource::traced_overhead`] is tracemalloc's own memory as the last snapshots gave it.
//!
//! Only processes that inherited memmon's environment open a socket in the directory, so the
//! sockets found there are exactly the Python processes of the watched tree; no tree walk is
//! needed to find them.

mod busy;
mod client;
mod hook_dir;

use crate::smaps::SmapsSource;
use busy::Busy;
pub use client::PROTOCOL;
use client::{Request, Snapshot};
pub use hook_dir::HookDir;
use memmon_core::{
    Detail, DetailResult, DetailSource, EvidenceReply, Site, SiteEstimate, TracedSite, TrimReply,
    TypeCount, TypeGrowth, TypesReply,
};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::mpsc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// The hook Python runs at startup (its own documentation describes the protocol).
pub const HOOK_SOURCE: &str = include_str!("sitecustomize.py");
/// The environment variable naming the hook's directory (the channel); the hook is inert
/// without it.
pub const HOOK_DIR_VAR: &str = "MEMMON_HOOK_DIR";
/// The environment variable carrying `tracemalloc_frames`.
pub const FRAMES_VAR: &str = "MEMMON_TRACEMALLOC_FRAMES";
/// The environment variable carrying [`PROTOCOL`]: a hook of another version stays inert.
pub const PROTOCOL_VAR: &str = "MEMMON_HOOK_PROTOCOL";
/// The environment variable that overrides the `types` walk's time budget, in milliseconds
/// (read by the hook at its start; memmon never sets it, the default is 500).
pub const TYPES_BUDGET_VAR: &str = "MEMMON_TYPES_BUDGET_MS";
/// The file memmon creates in the hook's directory at its first sample: a Python process that
/// starts afterwards traces from its own start.
pub const TRACE_FROM_START: &str = "trace-from-start";

/// How [`PythonDetail`] behaves.
#[derive(Debug, Clone)]
pub struct PythonOptions {
    /// Ask every Python process of the tree (else only the watched process).
    pub children: bool,
    /// How long to wait for replies (`tracemalloc_timeout`).
    pub timeout: Duration,
    /// When the watched process's smaps block joins the tracemalloc blocks.
    pub smaps: WithSmaps,
}

/// When [`PythonDetail`] adds the smaps block of the watched process. The caller maps the
/// configuration's `detail_source` onto it (`auto`, `both`, `python`): the sampler knows no
/// configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WithSmaps {
    /// Only when no Python process answered (`detail_source = "auto"`).
    WhenNoAnswer,
    /// After the tracemalloc blocks, always (`"both"`).
    Always,
    /// Never: the hook only (`"python"`).
    Never,
}

/// How one process's request ended.
enum Outcome {
    Answer(Snapshot),
    /// Timed out: the process exists but did not answer.
    Silent,
    /// Not a live hook (exited, exec'd into something else, garbage): left out of the block.
    Gone,
}

/// One process's answer, as a query thread sends it back.
struct Reply {
    /// Which request it answers: a late answer to an abandoned request is dropped.
    request: u64,
    pid: u32,
    outcome: Outcome,
}

/// The request in flight: who was asked, and what has come back so far.
struct InFlight {
    id: u64,
    sent: Instant,
    /// In block order: the watched process first, then by PID.
    outcomes: Vec<(u32, Option<Outcome>)>,
}

impl InFlight {
    fn complete(&self) -> bool {
        self.outcomes.iter().all(|(_, o)| o.is_some())
    }
}

/// The detail source for Python processes running memmon's hook; see the module docs.
///
/// [`DetailSource::request`] asks all processes at once, each on a short-lived thread, and
/// returns without waiting; the threads wake the caller as answers come, and
/// [`DetailSource::poll`] turns them into blocks once every process has answered or the
/// timeout has passed. A process still busy with an earlier conversation (an abandoned
/// request's query, the `start` of the first sample) is asked once that ends, within this
/// request's timeout: it is reported silent only if the whole timeout passes without an answer,
/// never at once (see `busy.rs`). [`DetailSource::detail`] does the same and waits for it (at
/// most the timeout).
pub struct PythonDetail {
    pid: u32,
    proc_root: PathBuf,
    dir: PathBuf,
    options: PythonOptions,
    smaps: SmapsSource,
    /// Processes with a query thread talking to them (even for an abandoned request).
    busy: Busy,
    replies_tx: mpsc::Sender<Reply>,
    replies: mpsc::Receiver<Reply>,
    in_flight: Option<InFlight>,
    next_id: u64,
    /// tracemalloc's own memory, summed over the last block's answers that carried it.
    overhead: Option<u64>,
    /// Why a process of the last block left its sites out (`PID N: reason`), the first one.
    skipped: Option<String>,
}

impl std::fmt::Debug for PythonDetail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PythonDetail")
            .field("pid", &self.pid)
            .field("dir", &self.dir)
            .field("options", &self.options)
            .field("in_flight", &self.in_flight.as_ref().map(|r| r.id))
            .finish_non_exhaustive()
    }
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
        let (replies_tx, replies) = mpsc::channel();
        PythonDetail {
            pid,
            smaps: SmapsSource::new(pid, proc_root.clone()),
            proc_root,
            dir: dir.into(),
            options,
            busy: Busy::default(),
            replies_tx,
            replies,
            in_flight: None,
            next_id: 0,
            overhead: None,
            skipped: None,
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

    /// Leaves the [`TRACE_FROM_START`] marker, then asks every process already listening to
    /// start tracing, each on a short-lived thread; nothing waits for the answers (a process
    /// that misses the request starts at its first snapshot request, see the protocol).
    fn start_tracing(&mut self) {
        // The marker goes first: a hook binds its socket before it looks for the marker, so
        // every process is either listed below or sees the marker (or both: `start` is
        // idempotent). Should it fail, later processes start at their first snapshot request.
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(self.dir.join(TRACE_FROM_START));
        let timeout = self.options.timeout;
        for pid in self.sockets() {
            let Some(claim) = self.busy.try_claim(pid) else {
                continue;
            };
            let socket = self.dir.join(format!("{pid}.sock"));
            // Should no thread start, the claim is dropped with the closure and the process is
            // free for its first snapshot request.
            let _ = std::thread::Builder::new()
                .name("memmon-python".into())
                .spawn(move || {
                    // A failure here is the snapshot's to report: a process that is gone or
                    // silent shows as such in the next block.
                    let _ = client::start(&socket, timeout);
                    drop(claim);
                });
        }
    }

    /// Asks every process with a socket at once, each on its own thread; `waker` is woken as
    /// each answer arrives. A thread whose process is busy with an earlier conversation waits
    /// for it to end, within this request's timeout, then asks for what time is left.
    fn send(&mut self, waker: &Waker) -> InFlight {
        let id = self.next_id;
        self.next_id += 1;
        let sent = Instant::now();
        let deadline = sent + self.options.timeout;
        let mut outcomes = Vec::new();
        for pid in self.sockets() {
            let socket = self.dir.join(format!("{pid}.sock"));
            let alive = self.proc_root.join(pid.to_string());
            let (tx, busy, waker) = (self.replies_tx.clone(), self.busy.clone(), waker.clone());
            let spawned = std::thread::Builder::new()
                .name("memmon-python".into())
                .spawn(move || {
                    let outcome = match busy.claim_by(pid, deadline) {
                        // Still talking to an earlier request for the whole timeout.
                        None => Outcome::Silent,
                        Some(claim) => {
                            let left = deadline.saturating_duration_since(Instant::now());
                            let outcome = match client::query(&socket, left) {
                                Ok(s) => Outcome::Answer(s),
                                Err(e) if is_timeout(&e) => Outcome::Silent,
                                Err(_) => {
                                    // A process that died without removing its socket
                                    // (SIGKILL): the stale name goes, so it is not asked again.
                                    if !alive.exists() {
                                        let _ = std::fs::remove_file(&socket);
                                    }
                                    Outcome::Gone
                                }
                            };
                            drop(claim);
                            outcome
                        }
                    };
                    let _ = tx.send(Reply {
                        request: id,
                        pid,
                        outcome,
                    });
                    waker.wake();
                });
            match spawned {
                Ok(_) => outcomes.push((pid, None)),
                Err(_) => outcomes.push((pid, Some(Outcome::Gone))),
            }
        }
        InFlight { id, sent, outcomes }
    }

    /// Files one reply with the request it answers (late replies to older requests go).
    fn file(&mut self, reply: Reply) {
        let Some(req) = self.in_flight.as_mut() else {
            return;
        };
        if reply.request != req.id {
            return;
        }
        if let Some(slot) = req
            .outcomes
            .iter_mut()
            .find(|(p, o)| *p == reply.pid && o.is_none())
        {
            slot.1 = Some(reply.outcome);
        }
    }

    /// Takes every reply that has arrived, without waiting.
    fn drain(&mut self) {
        while let Ok(reply) = self.replies.try_recv() {
            self.file(reply);
        }
    }

    /// Ends the request in flight: the blocks of those that answered, `NoAnswer` for those
    /// that did not, and smaps as `options.smaps` asks.
    fn finish(&mut self) -> DetailResult {
        let Some(req) = self.in_flight.take() else {
            return Ok(Vec::new());
        };
        let waited = req.sent.elapsed();
        let outcomes: Vec<(u32, Outcome)> = req
            .outcomes
            .into_iter()
            .map(|(pid, o)| (pid, o.unwrap_or(Outcome::Silent)))
            .filter(|(_, o)| !matches!(o, Outcome::Gone))
            .collect();
        self.overhead = outcomes
            .iter()
            .filter_map(|(_, o)| match o {
                Outcome::Answer(s) => s.own,
                _ => None,
            })
            .reduce(u64::saturating_add);
        self.skipped = outcomes.iter().find_map(|(pid, o)| match o {
            Outcome::Answer(s) => s
                .sites_skipped
                .as_ref()
                .map(|why| format!("PID {pid}: {why}")),
            _ => None,
        });
        // Exactly the original's line when one process is all there is.
        let single = outcomes.len() == 1;
        let mut blocks: Vec<Detail> = outcomes
            .into_iter()
            .map(|(pid, outcome)| match outcome {
                Outcome::Answer(s) => traced(s, (!single).then_some(pid)),
                // The silent ones were given the whole timeout unless the caller gave up
                // earlier; the line says how long memmon actually waited.
                _ => Detail::NoAnswer {
                    pid,
                    waited: waited.min(self.options.timeout),
                },
            })
            .collect();
        match self.options.smaps {
            WithSmaps::WhenNoAnswer if blocks.is_empty() => self.smaps.detail(),
            WithSmaps::Always => match self.smaps.detail() {
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

/// What one probe got back: the replies, in the sockets' order, and how many processes answered
/// that they do not know the request (older hooks).
struct Probed<T> {
    replies: Vec<T>,
    unsupported: usize,
}

impl PythonDetail {
    /// Sends `request` to every process with a socket, each on its own thread, and waits for
    /// the answers until the timeout. A process busy with another conversation (a snapshot in
    /// flight) is waited for within the same timeout; one that is silent, gone or answers an
    /// error is left out.
    fn probe<T>(&self, request: Request) -> Probed<T>
    where
        T: serde::de::DeserializeOwned + Send + 'static,
    {
        let deadline = Instant::now() + self.options.timeout;
        let (tx, rx) = mpsc::channel();
        let mut asked = 0;
        for (index, pid) in self.sockets().into_iter().enumerate() {
            let socket = self.dir.join(format!("{pid}.sock"));
            let (tx, busy) = (tx.clone(), self.busy.clone());
            let spawned = std::thread::Builder::new()
                .name("memmon-python".into())
                .spawn(move || {
                    let reply = busy.claim_by(pid, deadline).map(|claim| {
                        let left = deadline.saturating_duration_since(Instant::now());
                        let reply = client::probe::<T>(&socket, request, left);
                        drop(claim);
                        reply
                    });
                    let _ = tx.send((index, reply));
                });
            if spawned.is_ok() {
                asked += 1;
            }
        }
        drop(tx);
        let mut replies = Vec::new();
        let mut unsupported = 0;
        for _ in 0..asked {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((index, Some(Ok(reply)))) => replies.push((index, reply)),
                Ok((_, Some(Err(e)))) if client::is_unsupported(&e) => unsupported += 1,
                Ok(_) => {}
                // Past the deadline: the rest are silent.
                Err(_) => break,
            }
        }
        replies.sort_by_key(|(index, _)| *index);
        Probed {
            replies: replies.into_iter().map(|(_, r)| r).collect(),
            unsupported,
        }
    }
}

impl DetailSource for PythonDetail {
    fn on_first_sample(&mut self) {
        self.start_tracing();
    }

    fn detail(&mut self) -> DetailResult {
        if let Poll::Ready(r) = self.request(Waker::noop()) {
            return r;
        }
        let deadline = self
            .in_flight
            .as_ref()
            .map_or_else(Instant::now, |r| r.sent + self.options.timeout);
        while self.in_flight.as_ref().is_some_and(|r| !r.complete()) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.replies.recv_timeout(left) {
                Ok(reply) => self.file(reply),
                // Past the deadline: the rest are silent.
                Err(_) => break,
            }
        }
        self.finish()
    }

    fn request(&mut self, waker: &Waker) -> Poll<DetailResult> {
        // A request still in flight (the caller did not poll it to the end) is dropped: its
        // late replies no longer match and are discarded.
        let req = self.send(waker);
        self.in_flight = Some(req);
        self.poll(false)
    }

    fn poll(&mut self, give_up: bool) -> Poll<DetailResult> {
        self.drain();
        let Some(req) = self.in_flight.as_ref() else {
            return Poll::Ready(Ok(Vec::new()));
        };
        if give_up || req.complete() || req.sent.elapsed() >= self.options.timeout {
            Poll::Ready(self.finish())
        } else {
            Poll::Pending
        }
    }

    fn timeout(&self) -> Duration {
        self.options.timeout
    }

    fn traced_overhead(&self) -> Option<u64> {
        self.overhead
    }

    fn sites_skipped(&self) -> Option<String> {
        self.skipped.clone()
    }

    /// `None` when every process that answered is a hook without `trim` (older than it).
    fn trim(&mut self) -> Option<Vec<TrimReply>> {
        let probed = self.probe::<client::Trimmed>(Request::Trim);
        if probed.replies.is_empty() && probed.unsupported > 0 {
            return None;
        }
        Some(
            probed
                .replies
                .into_iter()
                .map(|t| TrimReply {
                    pid: t.pid,
                    called: t.released,
                })
                .collect(),
        )
    }

    /// `None` when every process that answered is a hook without `types` (older than it).
    fn growing_types(&mut self) -> Option<Vec<TypesReply>> {
        let probed = self.probe::<client::Types>(Request::Types);
        if probed.replies.is_empty() && probed.unsupported > 0 {
            return None;
        }
        Some(
            probed
                .replies
                .into_iter()
                .map(|t| TypesReply {
                    pid: t.pid,
                    types: t
                        .types
                        .into_iter()
                        .map(|(name, count, bytes)| TypeGrowth { name, count, bytes })
                        .collect(),
                    complete: t.complete,
                })
                .collect(),
        )
    }

    /// `None` when every process that answered is a hook without `evidence` (older than it).
    fn evidence(&mut self) -> Option<Vec<EvidenceReply>> {
        let probed = self.probe::<client::Evidence>(Request::Evidence);
        if probed.replies.is_empty() && probed.unsupported > 0 {
            return None;
        }
        Some(probed.replies.into_iter().map(evidence_reply).collect())
    }
}

/// At most this many sites and types of an evidence capture are kept (the bundle shows 10
/// and 20; the hook sends no more).
const EVIDENCE_SITES: usize = 10;
const EVIDENCE_TYPES: usize = 20;

fn evidence_reply(e: client::Evidence) -> EvidenceReply {
    EvidenceReply {
        pid: e.pid,
        started_now: e.started_now,
        sites: e
            .sites
            .into_iter()
            .take(EVIDENCE_SITES)
            .map(|(location, size, count, traceback)| TracedSite {
                location,
                size,
                count,
                traceback,
            })
            .collect(),
        types: e
            .types
            .into_iter()
            .take(EVIDENCE_TYPES)
            .map(|(name, count, bytes)| TypeCount { name, count, bytes })
            .collect(),
        types_complete: e.complete,
        sites_skipped: e.sites_skipped,
        estimate: e.sampled.map(|s| SiteEstimate {
            step: s.step,
            samples: s.samples,
            large: s.large,
            containers: s.containers,
            estimated_bytes: s.estimated,
            traced_bytes: s.traced,
        }),
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

#[cfg(test)]
mod tests;
