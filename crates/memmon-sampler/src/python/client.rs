//! The client side of the hook's socket protocol: one request line, one JSON reply line.

use serde::Deserialize;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// What memmon sends: the hook reads one line and answers with a snapshot.
const REQUEST: &[u8] = b"snapshot\n";
/// A reply is ten sites and two numbers; anything far larger is not the hook talking.
const MAX_REPLY: u64 = 1 << 20;

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
}

/// Asks the hook listening on `socket` for a snapshot; every read and write is bounded by
/// `timeout`, so a stopped or wedged client costs at most that long per step.
pub(crate) fn query(socket: &Path, timeout: Duration) -> io::Result<Snapshot> {
    let mut stream = UnixStream::connect(socket)?;
    // A zero timeout means "block forever" to the OS: never ask for that.
    let timeout = timeout.max(Duration::from_millis(1));
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(REQUEST)?;
    let mut line = String::new();
    BufReader::new(io::Read::take(&stream, MAX_REPLY)).read_line(&mut line)?;
    parse_reply(&line)
}

/// Parses one reply line.
pub(crate) fn parse_reply(line: &str) -> io::Result<Snapshot> {
    serde_json::from_str(line.trim_end())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("hook reply: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_hooks_reply() {
        let s = parse_reply(
            "{\"pid\":7,\"current\":100,\"peak\":200,\"sites\":[[\"/a/b.py:3\",64,2]]}\n",
        );
        assert_eq!(
            s.ok(),
            Some(Snapshot {
                pid: 7,
                current: 100,
                peak: 200,
                sites: vec![("/a/b.py:3".into(), 64, 2)],
            })
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_reply("hello").is_err());
        assert!(parse_reply("").is_err());
    }
}
