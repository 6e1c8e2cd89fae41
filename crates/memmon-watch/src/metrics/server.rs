//! `--metrics-listen`: `GET /metrics` (and `HEAD`) on a small server of its own: one thread,
//! one `poll(2)` loop over non-blocking sockets.
//!
//! Sampling must never wait for a client, so the server shares nothing with the session but
//! the last rendered text (`Shared`, swapped whole per sample; a reader holds the lock only to
//! clone an `Arc`).
//!
//! Slow clients must not take the endpoint down either. A thread (or a pooled worker) per
//! connection lets clients that connect and send nothing, or trickle a byte a second, hold
//! every worker, so scrapes waited or were turned away with 503. Here no connection holds
//! anything but a table slot: the loop serves whichever socket is ready, each connection has
//! deadlines (the request head within [`REQUEST_DEADLINE`] of the accept, the answer within
//! [`WRITE_DEADLINE`]), and the table has [`MAX_CONNECTIONS`] slots. When it is full, a new
//! connection evicts the oldest one that has not finished its request: a scrape sends its
//! request at once and is answered within a turn or two, while the idle and the trickling are
//! the old ones. Threads (one) and memory (the table, at most [`MAX_LINE`] of request line per
//! slot) stay bounded whatever the clients do.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};

/// The text served, replaced whole at every sample.
pub type Shared = Arc<RwLock<Arc<str>>>;

/// Connections held at once; the next one evicts the oldest that has not sent its request.
/// Prometheus keeps one connection per scrape; a few scrapers need a few slots.
const MAX_CONNECTIONS: usize = 128;
/// New connections taken per turn of the loop, so a burst of connections cannot evict one
/// accepted a moment ago before the loop has read its request.
const ACCEPTS_PER_TURN: usize = 16;
/// Longest time a client may take to send its whole request head, from the accept.
const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// Longest time a client may take to read the answer.
const WRITE_DEADLINE: Duration = Duration::from_secs(5);
/// How long the server reads (and drops) what a client still sends after the answer, so
/// that closing does not reset the connection before the client has read the answer.
const LINGER: Duration = Duration::from_millis(200);
/// Most bytes read and dropped after the answer before closing anyway.
const MAX_LINGER_BYTES: usize = 64 * 1024;
/// Largest request head read; Prometheus sends a few hundred bytes.
const MAX_HEAD: usize = 8 * 1024;
/// Largest request line kept (the only part of the head routed on).
const MAX_LINE: usize = 1024;
/// The longest `poll` wait, so the loop sees the stop flag even if the wake-up connection
/// of `Drop` does not arrive.
const TICK: Duration = Duration::from_secs(1);
/// A pause after a failed accept (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Why the server did not start.
#[derive(Debug)]
pub enum StartError {
    /// Binding the address failed.
    Bind(std::io::Error),
    /// The thread could not start.
    Thread(std::io::Error),
}

/// A running server; dropping it closes the port.
pub struct Server {
    addr: SocketAddr,
    closed: Arc<AtomicBool>,
}

impl Server {
    /// Binds `addr` and starts the thread; returns the server (whose `addr` has the real port
    /// when `addr`'s was 0).
    pub fn start(addr: SocketAddr, text: Shared) -> Result<Server, StartError> {
        let listener = TcpListener::bind(addr).map_err(StartError::Bind)?;
        let addr = listener.local_addr().map_err(StartError::Bind)?;
        listener.set_nonblocking(true).map_err(StartError::Bind)?;
        let closed = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&closed);
        thread::Builder::new()
            .name("memmon-http".into())
            .spawn(move || Loop::new(listener, text).run(&flag))
            .map_err(StartError::Thread)?;
        Ok(Server { addr, closed })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // The loop sleeps in poll(): flag it, then wake it with a connection of our own.
        // If memmon stops but the command runs on (--duration), the port closes and Prometheus
        // sees `up == 0` instead of a frozen sample.
        self.closed.store(true, Ordering::SeqCst);
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, Duration::from_millis(200));
    }
}

/// A request head read so far. Only the request line is kept; the rest is counted and
/// scanned for the blank line that ends the head.
#[derive(Debug, Default)]
struct Head {
    line: Vec<u8>,
    line_done: bool,
    /// Bytes received.
    total: usize,
    /// Whether the last byte ended a line (a `\r` before a `\n` does not count).
    at_line_start: bool,
}

impl Head {
    /// Takes bytes received; `Some(route)` once the head is complete (or refused).
    fn feed(&mut self, bytes: &[u8]) -> Option<Route> {
        for &b in bytes {
            self.total += 1;
            if self.total > MAX_HEAD {
                return Some(Route::BadRequest);
            }
            if !self.line_done {
                if b == b'\n' {
                    self.line_done = true;
                } else if self.line.len() < MAX_LINE {
                    self.line.push(b);
                } else {
                    return Some(Route::BadRequest);
                }
            }
            if b == b'\n' {
                if self.at_line_start {
                    return Some(route(&self.line));
                }
                self.at_line_start = true;
            } else if b != b'\r' {
                self.at_line_start = false;
            }
        }
        None
    }

    /// The route of a head cut short by the client's end of stream: a bare request line is
    /// still routable; nothing at all gets no answer.
    fn at_eof(&self) -> Option<Route> {
        (self.total > 0).then(|| route(&self.line))
    }
}

/// Where a connection is.
enum State {
    /// Reading the request head.
    Reading(Head),
    /// Sending the answer: `out[sent..]` is left.
    Writing { out: Vec<u8>, sent: usize },
    /// Answer sent, write side shut: dropping what the client still sends until it closes.
    Lingering { drained: usize },
}

/// One accepted connection.
struct Conn {
    stream: TcpStream,
    accepted: Instant,
    /// When the connection is closed whatever its state.
    deadline: Instant,
    state: State,
}

/// What the loop does with a connection after serving it.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    Keep,
    Close,
}

/// The server's loop and its connection table.
struct Loop {
    listener: TcpListener,
    text: Shared,
    conns: Vec<Conn>,
    /// Each connection's readiness from the last `poll`, in table order.
    ready: Vec<PollFlags>,
}

impl Loop {
    fn new(listener: TcpListener, text: Shared) -> Loop {
        Loop {
            listener,
            text,
            conns: Vec::new(),
            ready: Vec::new(),
        }
    }

    fn run(mut self, closed: &AtomicBool) {
        loop {
            if closed.load(Ordering::SeqCst) {
                // Dropping the listener and the table closes the port and every connection.
                return;
            }
            let now = Instant::now();
            // A connection past its deadline is closed without an answer.
            self.conns.retain(|c| c.deadline > now);
            let wait = self
                .conns
                .iter()
                .map(|c| c.deadline.saturating_duration_since(now))
                .min()
                .unwrap_or(TICK)
                .min(TICK);
            let listener_ready = match self.poll(wait) {
                Ok(ready) => ready,
                Err(e) => {
                    if e != rustix::io::Errno::INTR {
                        tracing::debug!("metrics: poll failed: {e}");
                        thread::sleep(ACCEPT_BACKOFF);
                    }
                    continue;
                }
            };
            // Connections first: one accepted earlier is served before new ones can evict it.
            let now = Instant::now();
            let mut i = 0;
            while i < self.conns.len() {
                let ready = self.ready.get(i).copied().unwrap_or(PollFlags::empty());
                if !ready.is_empty() && self.step(i, now) == Next::Close {
                    // Order does not matter (eviction looks at `accepted`), and the next
                    // connection's readiness moves with it.
                    self.conns.swap_remove(i);
                    self.ready.swap_remove(i);
                } else {
                    i += 1;
                }
            }
            if listener_ready && self.accept(closed) {
                return;
            }
        }
    }

    /// Waits for readiness; records each connection's in `ready` and returns the listener's.
    fn poll(&mut self, wait: Duration) -> rustix::io::Result<bool> {
        let timeout = Timespec::try_from(wait).unwrap_or(Timespec {
            tv_sec: 1,
            tv_nsec: 0,
        });
        let mut fds = Vec::with_capacity(self.conns.len() + 1);
        fds.push(PollFd::new(&self.listener, PollFlags::IN));
        for c in &self.conns {
            let events = match c.state {
                State::Writing { .. } => PollFlags::OUT,
                State::Reading(_) | State::Lingering { .. } => PollFlags::IN,
            };
            fds.push(PollFd::new(&c.stream, events));
        }
        rustix::event::poll(&mut fds, Some(&timeout))?;
        self.ready.clear();
        self.ready.extend(fds[1..].iter().map(PollFd::revents));
        Ok(!fds[0].revents().is_empty())
    }

    /// Takes up to [`ACCEPTS_PER_TURN`] new connections; true when the server is closing.
    fn accept(&mut self, closed: &AtomicBool) -> bool {
        for _ in 0..ACCEPTS_PER_TURN {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of file descriptors, most likely: free a slot and wait a little.
                    tracing::debug!("metrics: accept failed: {e}");
                    self.evict();
                    thread::sleep(ACCEPT_BACKOFF);
                    return false;
                }
            };
            if closed.load(Ordering::SeqCst) {
                return true;
            }
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let _ = stream.set_nodelay(true);
            if self.conns.len() >= MAX_CONNECTIONS {
                self.evict();
            }
            let now = Instant::now();
            self.conns.push(Conn {
                stream,
                accepted: now,
                deadline: now + REQUEST_DEADLINE,
                state: State::Reading(Head::default()),
            });
            self.ready.push(PollFlags::empty());
            // A scraper sends its request with the connection: it is often here already.
            let last = self.conns.len() - 1;
            if self.step(last, now) == Next::Close {
                self.conns.pop();
                self.ready.pop();
            }
        }
        false
    }

    /// Closes the oldest connection still waiting for its request (the idle and the
    /// trickling), or the oldest of all if every one has been answered.
    fn evict(&mut self) {
        let oldest = |waiting: bool| {
            self.conns
                .iter()
                .enumerate()
                .filter(|(_, c)| !waiting || matches!(c.state, State::Reading(_)))
                .min_by_key(|(_, c)| c.accepted)
                .map(|(i, _)| i)
        };
        if let Some(i) = oldest(true).or_else(|| oldest(false)) {
            self.conns.swap_remove(i);
            self.ready.swap_remove(i);
        }
    }

    /// Moves connection `i` on as far as its socket allows without waiting.
    fn step(&mut self, i: usize, now: Instant) -> Next {
        let text = &self.text;
        let Some(conn) = self.conns.get_mut(i) else {
            return Next::Close;
        };
        let mut chunk = [0u8; 1024];
        loop {
            match &mut conn.state {
                State::Reading(head) => {
                    let route = match conn.stream.read(&mut chunk) {
                        Ok(0) => match head.at_eof() {
                            Some(route) => route,
                            None => return Next::Close,
                        },
                        Ok(n) => match head.feed(&chunk[..n]) {
                            Some(route) => route,
                            None => continue,
                        },
                        Err(e) => return wait_or_close(&e),
                    };
                    conn.state = State::Writing {
                        out: answer(&route, text),
                        sent: 0,
                    };
                    conn.deadline = now + WRITE_DEADLINE;
                }
                State::Writing { out, sent } => match conn.stream.write(&out[*sent..]) {
                    Ok(0) => return Next::Close,
                    Ok(n) => {
                        *sent += n;
                        if *sent >= out.len() {
                            if conn.stream.shutdown(Shutdown::Write).is_err() {
                                return Next::Close;
                            }
                            conn.state = State::Lingering { drained: 0 };
                            conn.deadline = now + LINGER;
                        }
                    }
                    Err(e) => return wait_or_close(&e),
                },
                State::Lingering { drained } => match conn.stream.read(&mut chunk) {
                    Ok(0) => return Next::Close,
                    Ok(n) => {
                        *drained += n;
                        if *drained > MAX_LINGER_BYTES {
                            return Next::Close;
                        }
                    }
                    Err(e) => return wait_or_close(&e),
                },
            }
        }
    }
}

/// After a failed read or write: wait for the socket if it would block, else close.
fn wait_or_close(e: &std::io::Error) -> Next {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::Interrupted => Next::Keep,
        _ => Next::Close,
    }
}

/// The whole answer to a request, status line to body.
fn answer(route: &Route, text: &RwLock<Arc<str>>) -> Vec<u8> {
    match route {
        Route::Metrics { body } => {
            let current = Arc::clone(&text.read().unwrap_or_else(PoisonError::into_inner));
            respond("200 OK", super::render::CONTENT_TYPE, "", &current, *body)
        }
        Route::NotFound => respond(
            "404 Not Found",
            "text/plain; charset=utf-8",
            "",
            "not found: memmon serves /metrics\n",
            true,
        ),
        Route::MethodNotAllowed => respond(
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "Allow: GET, HEAD\r\n",
            "method not allowed: use GET or HEAD\n",
            true,
        ),
        Route::BadRequest => respond(
            "400 Bad Request",
            "text/plain; charset=utf-8",
            "",
            "bad request\n",
            true,
        ),
    }
}

/// What a request asked for.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    /// 200 with the text; `body: false` for HEAD.
    Metrics { body: bool },
    /// 404.
    NotFound,
    /// 405.
    MethodNotAllowed,
    /// 400.
    BadRequest,
}

/// Routes a request head (up to the blank line).
fn route(head: &[u8]) -> Route {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let Ok(line) = std::str::from_utf8(&head[..line_end]) else {
        return Route::BadRequest;
    };
    let mut parts = line.split_ascii_whitespace();
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::BadRequest;
    };
    if !version.starts_with("HTTP/1.") {
        return Route::BadRequest;
    }
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    if path != "/metrics" {
        return Route::NotFound;
    }
    match method {
        "GET" => Route::Metrics { body: true },
        "HEAD" => Route::Metrics { body: false },
        _ => Route::MethodNotAllowed,
    }
}

fn respond(status: &str, content_type: &str, extra: &str, body: &str, send_body: bool) -> Vec<u8> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    let mut out = Vec::with_capacity(head.len() + body.len());
    out.extend_from_slice(head.as_bytes());
    if send_body {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_requests() {
        assert_eq!(
            route(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Route::Metrics { body: true }
        );
        assert_eq!(
            route(b"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Route::Metrics { body: false }
        );
        assert_eq!(route(b"GET /other HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route(b"POST /other HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(
            route(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Route::MethodNotAllowed
        );
        assert_eq!(route(b"GET /metrics\r\n\r\n"), Route::BadRequest);
        assert_eq!(route(b"GET /metrics SPDY/3\r\n\r\n"), Route::BadRequest);
        assert_eq!(route(b"\xff\xfe\r\n\r\n"), Route::BadRequest);
        assert_eq!(route(b""), Route::BadRequest);
    }

    /// Feeds `bytes` in pieces of `step` bytes: the route once complete, with the bytes fed.
    fn feed(bytes: &[u8], step: usize) -> (Option<Route>, usize) {
        let mut head = Head::default();
        for piece in bytes.chunks(step) {
            if let Some(route) = head.feed(piece) {
                return (Some(route), head.total);
            }
        }
        (None, head.total)
    }

    #[test]
    fn finds_the_end_of_the_head_however_it_arrives() {
        for step in [1, 2, 3, 1024] {
            let get = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nbody";
            assert_eq!(feed(get, step), (Some(Route::Metrics { body: true }), 34));
            assert_eq!(
                feed(b"HEAD /metrics HTTP/1.0\n\n", step),
                (Some(Route::Metrics { body: false }), 24)
            );
            assert_eq!(feed(b"GET /metrics HTTP/1.0\r\nHost: x\r\n", step).0, None);
        }
        // A head cut short by the client's end of stream is routed on its request line.
        let mut head = Head::default();
        assert_eq!(head.at_eof(), None);
        assert_eq!(head.feed(b"GET /metrics HTTP/1.0\r\n"), None);
        assert_eq!(head.at_eof(), Some(Route::Metrics { body: true }));
        // Endless headers, or an endless request line, are refused, not stored.
        let mut long = b"GET /metrics HTTP/1.0\r\n".to_vec();
        long.extend(std::iter::repeat_n(b"X-A: b\r\n".as_slice(), 2000).flatten());
        assert_eq!(feed(&long, 100).0, Some(Route::BadRequest));
        let endless = vec![b'a'; MAX_LINE + 1];
        let mut head = Head::default();
        assert_eq!(head.feed(&endless), Some(Route::BadRequest));
        assert!(head.line.capacity() <= MAX_LINE);
    }

    fn get(addr: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_the_current_text_and_survives_idle_clients() {
        let text: Shared = Arc::new(RwLock::new(Arc::from("a 1\n")));
        let server = Server::start("127.0.0.1:0".parse().unwrap(), Arc::clone(&text)).unwrap();
        let addr = server.addr();
        // More idle connections than the table holds: the scrape is answered at once, not
        // after the idle ones time out, and they never block the writer of the text.
        let mut idle: Vec<_> = (0..MAX_CONNECTIONS + 8)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        *text.write().unwrap() = Arc::from("a 2\n");
        let started = Instant::now();
        let r = get(addr, "GET /metrics HTTP/1.0\r\n\r\n");
        assert!(
            started.elapsed() < REQUEST_DEADLINE,
            "{:?}",
            started.elapsed()
        );
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.ends_with("\r\n\r\na 2\n"), "{r}");
        // The oldest idle connection was evicted to make room: closed, well before its
        // deadline.
        idle[0]
            .set_read_timeout(Some(REQUEST_DEADLINE / 2))
            .unwrap();
        let mut byte = [0u8; 1];
        match idle[0].read(&mut byte) {
            Ok(n) => assert_eq!(n, 0),
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
        }
        let h = get(addr, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(
            h.contains("Content-Length: 4\r\n") && h.ends_with("\r\n\r\n"),
            "{h}"
        );
        drop(idle);
        drop(server);
        // The port closes once the server is dropped.
        thread::sleep(Duration::from_millis(200));
        assert!(TcpStream::connect(addr).is_err());
    }
}
