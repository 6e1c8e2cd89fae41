//! The client side of the hook's socket protocol (`docs/hook-protocol.md`): one request line,
//! one JSON reply line.

use serde::Deserialize;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// The protocol's version, sent in every request and in `MEMMON_HOOK_PROTOCOL`; the hook's
/// `_PROTOCOL` is the same number (a test checks it), and every reply carries it back.
pub const PROTOCOL: u32 = 1;

/// A reply is ten sites and two numbers; anything far larger is not the hook talking.
const MAX_REPLY: u64 = 1 << 20;

/// What memmon asks a hooked process; each is a verb of `docs/hook-protocol.md` and an entry of
/// the hook's `_REQUESTS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Request {
    /// Start tracing now (memmon's first sample): the reply is a [`Started`].
    Start,
    /// The traced memory and the top sites: the reply is a [`Snapshot`].
    Snapshot,
    /// Call glibc's `malloc_trim(0)` once: the reply is a [`Trimmed`].
    Trim,
    /// The object types that grew since the previous `types`: the reply is a [`Types`].
    Types,
    /// Issue #20's capture: top sites with tracebacks and the object types, absolute: the
    /// reply is an [`Evidence`].
    Evidence,
}

impl Request {
    /// The request line: `VERB VERSION\n`.
    pub(crate) fn line(self) -> String {
        let verb = match self {
            Request::Start => "start",
            Request::Snapshot => "snapshot",
            Request::Trim => "trim",
            Request::Types => "types",
            Request::Evidence => "evidence",
        };
        format!("{verb} {PROTOCOL}\n")
    }
}

/// What every reply carries: the protocol's version, and an error instead of an answer.
#[derive(Debug, Deserialize)]
struct Envelope {
    v: u32,
    #[serde(default)]
    error: Option<String>,
}

/// One process's tracemalloc snapshot, as the hook sends it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Snapshot {
    /// The answering process (`os.getpid()`).
    pub pid: u32,
    /// `tracemalloc.get_traced_memory()[0]`.
    pub current: u64,
    /// `tracemalloc.get_traced_memory()[1]`.
    pub peak: u64,
    /// `["file.py:123", size, count]`, largest first.
    pub sites: Vec<(String, u64, u64)>,
    /// `tracemalloc.get_tracemalloc_memory()`: tracemalloc's own tables. `None` from a hook
    /// older than the field.
    #[serde(default)]
    pub own: Option<u64>,
    /// Why the sites were left out (too little memory left for the copy of the traces), or
    /// `null`.
    #[serde(default)]
    pub sites_skipped: Option<String>,
}

/// The answer to [`Request::Trim`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Trimmed {
    /// The answering process.
    pub pid: u32,
    /// What `malloc_trim(0)` returned (whether memory went back to the system); `null` (`None`)
    /// when the process has no `malloc_trim` (not glibc) and nothing was called.
    pub released: Option<bool>,
}

/// The answer to [`Request::Types`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Types {
    /// The answering process.
    pub pid: u32,
    /// `[name, count, bytes]` growth since the previous `types`, fastest growing first.
    pub types: Vec<(String, i64, i64)>,
    /// False when the walk (this one or the previous) was cut by the hook's time budget.
    pub complete: bool,
}

/// The answer to [`Request::Evidence`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Evidence {
    /// The answering process.
    pub pid: u32,
    /// Tracing was off and started for this capture: the sites show only what was allocated
    /// since.
    pub started_now: bool,
    /// `[location, size, count, [frame, …]]`, largest first; the traceback most recent frame
    /// first.
    pub sites: Vec<(String, u64, u64, Vec<String>)>,
    /// `[name, count, bytes]` by shallow bytes, largest first.
    pub types: Vec<(String, u64, u64)>,
    /// False when the types walk was cut by the hook's time budget.
    pub complete: bool,
    /// Why the sites and types were not taken (too little memory left for the list of
    /// objects), or `null`.
    #[serde(default)]
    pub sites_skipped: Option<String>,
    /// How the sites were estimated (`null` when they were not taken).
    #[serde(default)]
    pub sampled: Option<Sampled>,
}

/// `evidence`'s `"sampled"`: how its sites were estimated (docs/hook-protocol.md).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Sampled {
    /// One object in this many was sampled.
    pub step: u64,
    /// Objects whose traceback was read.
    pub samples: u64,
    /// Large payloads counted one by one.
    pub large: u64,
    /// Containers with many items, their items sampled.
    pub containers: u64,
    /// Bytes the estimate puts on the client's lines.
    pub estimated: u64,
    /// tracemalloc's traced bytes at the capture.
    pub traced: u64,
}

/// The answer to [`Request::Start`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Started {
    /// The answering process.
    pub pid: u32,
    /// Whether it traces now (always, unless tracemalloc could not start).
    pub tracing: bool,
}

/// Sends `request` to the hook listening on `socket` and reads its reply line; every read and
/// write is bounded by `timeout`, so a stopped or wedged client costs at most that long per step.
pub(crate) fn ask(socket: &Path, request: Request, timeout: Duration) -> io::Result<String> {
    let mut stream = UnixStream::connect(socket)?;
    // A zero timeout means "block forever" to the OS: never ask for that.
    let timeout = timeout.max(Duration::from_millis(1));
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(request.line().as_bytes())?;
    let mut line = String::new();
    BufReader::new(io::Read::take(&stream, MAX_REPLY)).read_line(&mut line)?;
    Ok(line)
}

/// Asks for a snapshot.
pub(crate) fn query(socket: &Path, timeout: Duration) -> io::Result<Snapshot> {
    parse_reply(&ask(socket, Request::Snapshot, timeout)?)
}

/// Asks the process to start tracing.
pub(crate) fn start(socket: &Path, timeout: Duration) -> io::Result<Started> {
    parse_reply(&ask(socket, Request::Start, timeout)?)
}

/// Asks for one probe of issue #19 (`trim`, `types`) or #20 (`evidence`).
pub(crate) fn probe<T: serde::de::DeserializeOwned>(
    socket: &Path,
    request: Request,
    timeout: Duration,
) -> io::Result<T> {
    parse_reply(&ask(socket, request, timeout)?)
}

/// Whether `e` is a hook's answer that it does not know the request: a hook older than the
/// request (the protocol's version stays the same when a verb is added).
pub(crate) fn is_unsupported(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Unsupported
}

/// Parses one reply line: the version must be ours and the hook must not report an error (an
/// unknown request is [`io::ErrorKind::Unsupported`], see [`is_unsupported`]).
pub(crate) fn parse_reply<T: serde::de::DeserializeOwned>(line: &str) -> io::Result<T> {
    let invalid = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
    let line = line.trim_end();
    let envelope: Envelope =
        serde_json::from_str(line).map_err(|e| invalid(format!("hook reply: {e}")))?;
    if envelope.v != PROTOCOL {
        return Err(invalid(format!(
            "hook speaks protocol {}, memmon {PROTOCOL}",
            envelope.v
        )));
    }
    if let Some(error) = envelope.error {
        let kind = if error.starts_with("unknown request ") {
            io::ErrorKind::Unsupported
        } else {
            io::ErrorKind::InvalidData
        };
        return Err(io::Error::new(kind, format!("hook: {error}")));
    }
    serde_json::from_str(line).map_err(|e| invalid(format!("hook reply: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_hooks_reply() {
        let s: io::Result<Snapshot> = parse_reply(
            "{\"current\":100,\"peak\":200,\"sites\":[[\"/a/b.py:3\",64,2]],\"v\":1,\"pid\":7}\n",
        );
        assert_eq!(
            s.ok(),
            Some(Snapshot {
                pid: 7,
                current: 100,
                peak: 200,
                sites: vec![("/a/b.py:3".into(), 64, 2)],
                own: None,
                sites_skipped: None,
            })
        );
        let s: io::Result<Snapshot> =
            parse_reply("{\"current\":1,\"peak\":2,\"sites\":[],\"own\":4096,\"v\":1,\"pid\":7}");
        assert_eq!(s.ok().and_then(|s| s.own), Some(4096));
        let s: io::Result<Snapshot> = parse_reply(
            "{\"current\":1,\"peak\":2,\"sites\":[],\"own\":4096,\"sites_skipped\":\"memory\",\"v\":1,\"pid\":7}",
        );
        assert_eq!(
            s.ok().and_then(|s| s.sites_skipped).as_deref(),
            Some("memory")
        );
        let trimmed: io::Result<Trimmed> = parse_reply("{\"released\":null,\"v\":1,\"pid\":7}");
        assert_eq!(
            trimmed.ok(),
            Some(Trimmed {
                pid: 7,
                released: None
            })
        );
        let types: io::Result<Types> = parse_reply(
            "{\"types\":[[\"__main__.Card\",3,168]],\"complete\":false,\"objects\":9,\"v\":1,\"pid\":7}",
        );
        assert_eq!(
            types.ok(),
            Some(Types {
                pid: 7,
                types: vec![("__main__.Card".into(), 3, 168)],
                complete: false
            })
        );
        let evidence: io::Result<Evidence> = parse_reply(
            "{\"started_now\":true,\"frames\":5,\"sites\":[[\"a.py:3\",64,2,[\"a.py:3\",\"a.py:9\"]]],\
             \"sites_complete\":true,\"sites_skipped\":null,\"sampled\":{\"step\":3,\"samples\":40,\
             \"large\":1,\"containers\":2,\"estimated\":5000,\"traced\":6000},\
             \"types\":[[\"__main__.Card\",3,168]],\"complete\":false,\"objects\":9,\"v\":1,\"pid\":7}",
        );
        let skipped: io::Result<Evidence> = parse_reply(
            "{\"started_now\":false,\"sites\":[],\"sites_skipped\":\"memory\",\"types\":[],\
             \"complete\":true,\"v\":1,\"pid\":7}",
        );
        assert_eq!(
            skipped.ok().and_then(|e| e.sites_skipped).as_deref(),
            Some("memory")
        );
        assert_eq!(
            evidence.ok(),
            Some(Evidence {
                pid: 7,
                started_now: true,
                sites: vec![(
                    "a.py:3".into(),
                    64,
                    2,
                    vec!["a.py:3".into(), "a.py:9".into()]
                )],
                types: vec![("__main__.Card".into(), 3, 168)],
                complete: false,
                sites_skipped: None,
                sampled: Some(Sampled {
                    step: 3,
                    samples: 40,
                    large: 1,
                    containers: 2,
                    estimated: 5000,
                    traced: 6000,
                }),
            })
        );
        let started: io::Result<Started> = parse_reply("{\"tracing\":true,\"v\":1,\"pid\":7}\n");
        assert_eq!(
            started.ok(),
            Some(Started {
                pid: 7,
                tracing: true
            })
        );
    }

    #[test]
    fn rejects_garbage_another_version_and_errors() {
        assert!(parse_reply::<Snapshot>("hello").is_err());
        assert!(parse_reply::<Snapshot>("").is_err());
        // The reply of the unversioned hook (before protocol 1) is refused, not misread.
        let old = parse_reply::<Snapshot>("{\"pid\":7,\"current\":1,\"peak\":2,\"sites\":[]}");
        assert!(old.is_err());
        let other = parse_reply::<Started>("{\"tracing\":true,\"v\":2,\"pid\":7}");
        let message = other.err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(message, "hook speaks protocol 2, memmon 1");
        let error = parse_reply::<Started>("{\"error\":\"unknown request 'x'\",\"v\":1,\"pid\":7}");
        let error = error.err();
        assert!(error.as_ref().is_some_and(is_unsupported));
        let message = error.map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(message, "hook: unknown request 'x'");
        let failed = parse_reply::<Types>("{\"error\":\"types failed: X\",\"v\":1,\"pid\":7}");
        assert!(failed.err().is_some_and(|e| !is_unsupported(&e)));
    }

    #[test]
    fn request_lines_carry_the_version() {
        assert_eq!(Request::Start.line(), "start 1\n");
        assert_eq!(Request::Snapshot.line(), "snapshot 1\n");
        assert_eq!(Request::Trim.line(), "trim 1\n");
        assert_eq!(Request::Types.line(), "types 1\n");
        assert_eq!(Request::Evidence.line(), "evidence 1\n");
    }
}
