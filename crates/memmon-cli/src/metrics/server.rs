//! `--metrics-listen`: `GET /metrics` (and `HEAD`) on a small blocking server of its own.
//!
//! Sampling must never wait for a client, so the server shares nothing with the session but
//! the last rendered text (`Shared`, swapped whole per sample; a reader holds the lock only to
//! clone an `Arc`). One thread accepts; a fixed pool of workers answers from a bounded queue.
//! Each connection gets read and write timeouts and an overall deadline, so a client that
//! connects and sends nothing (or trickles bytes) holds one worker for a few seconds at most;
//! when every worker is busy and the queue is full, new connections get a 503 and are closed
//! instead of piling up threads.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread;
use std::time::{Duration, Instant};

/// The text served, replaced whole at every sample.
pub type Shared = Arc<RwLock<Arc<str>>>;

/// Workers answering requests; a scrape takes microseconds, so a few cover many scrapers.
const WORKERS: usize = 4;
/// Accepted connections waiting for a worker before new ones are turned away.
const QUEUE: usize = 16;
/// Longest wait for one read of the request.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest time a client may take to send its whole request head.
const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// Longest wait for one write of the response.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest request head read; Prometheus sends a few hundred bytes.
const MAX_HEAD: usize = 8 * 1024;
/// A pause after a failed accept (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Why the server did not start.
#[derive(Debug)]
pub enum StartError {
    /// Binding the address failed.
    Bind(std::io::Error),
    /// A thread could not start.
    Thread(std::io::Error),
}

/// A running server; dropping it closes the port.
pub struct Server {
    addr: SocketAddr,
    closed: Arc<AtomicBool>,
}

impl Server {
    /// Binds `addr` and starts the threads; returns the server (whose `addr` has the real port
    /// when `addr`'s was 0).
    pub fn start(addr: SocketAddr, text: Shared) -> Result<Server, StartError> {
        let listener = TcpListener::bind(addr).map_err(StartError::Bind)?;
        let addr = listener.local_addr().map_err(StartError::Bind)?;
        let (tx, rx) = mpsc::sync_channel::<TcpStream>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..WORKERS {
            let rx = Arc::clone(&rx);
            let text = Arc::clone(&text);
            thread::Builder::new()
                .name(format!("memmon-http-{i}"))
                .spawn(move || work(&rx, &text))
                .map_err(StartError::Thread)?;
        }
        let closed = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&closed);
        thread::Builder::new()
            .name("memmon-http-accept".into())
            .spawn(move || accept(&listener, &tx, &flag))
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
        // The acceptor sleeps in accept(): flag it, then wake it with a connection of our own.
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

fn accept(listener: &TcpListener, queue: &SyncSender<TcpStream>, closed: &AtomicBool) {
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::debug!("metrics: accept failed: {e}");
                thread::sleep(ACCEPT_BACKOFF);
                continue;
            }
        };
        if closed.load(Ordering::SeqCst) {
            // Dropping the sender ends the workers once the queue is drained.
            return;
        }
        match queue.try_send(stream) {
            Ok(()) => {}
            Err(TrySendError::Full(stream)) => busy(stream),
            Err(TrySendError::Disconnected(_)) => return,
        }
    }
}

/// Turns a connection away without waiting on it: the short answer fits the socket buffer of
/// a fresh connection, and a non-blocking write gives up rather than wait.
fn busy(mut stream: TcpStream) {
    let _ = stream.set_nonblocking(true);
    let _ = stream.write_all(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
}

fn work(queue: &Mutex<Receiver<TcpStream>>, text: &RwLock<Arc<str>>) {
    loop {
        // The lock is held only while waiting for the next connection, never while serving.
        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(stream) = next else {
            return;
        };
        if let Err(e) = serve(stream, text) {
            tracing::debug!("metrics: connection ended: {e}");
        }
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

/// The end of the request head (after the blank line), if it has arrived.
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Reads the request head under the deadline: `Ok(Ok(head))`, `Ok(Err(route))` for a head to
/// refuse, or an I/O error (timed out, or closed before sending anything) to answer with silence.
fn read_head(stream: &mut TcpStream) -> std::io::Result<Result<Vec<u8>, Route>> {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = head_end(&buf) {
            buf.truncate(end);
            return Ok(Ok(buf));
        }
        if buf.len() > MAX_HEAD {
            return Ok(Err(Route::BadRequest));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ErrorKind::TimedOut.into());
        }
        stream.set_read_timeout(Some(left.min(READ_TIMEOUT)))?;
        match stream.read(&mut chunk) {
            Ok(0) if buf.is_empty() => return Err(ErrorKind::UnexpectedEof.into()),
            // A head cut short: answer what arrived (a bare request line is still routable).
            Ok(0) => return Ok(Ok(buf)),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn serve(mut stream: TcpStream, text: &RwLock<Arc<str>>) -> std::io::Result<()> {
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let _ = stream.set_nodelay(true);
    let route = match read_head(&mut stream)? {
        Ok(head) => route(&head),
        Err(route) => route,
    };
    let response = match route {
        Route::Metrics { body } => {
            let current = Arc::clone(&text.read().unwrap_or_else(PoisonError::into_inner));
            respond(
                &mut stream,
                "200 OK",
                super::render::CONTENT_TYPE,
                "",
                &current,
                body,
            )
        }
        Route::NotFound => respond(
            &mut stream,
            "404 Not Found",
            "text/plain; charset=utf-8",
            "",
            "not found: memmon serves /metrics\n",
            true,
        ),
        Route::MethodNotAllowed => respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "Allow: GET, HEAD\r\n",
            "method not allowed: use GET or HEAD\n",
            true,
        ),
        Route::BadRequest => respond(
            &mut stream,
            "400 Bad Request",
            "text/plain; charset=utf-8",
            "",
            "bad request\n",
            true,
        ),
    };
    response?;
    // Close politely: a client that sent a body it was not asked for would otherwise get a
    // reset that can destroy the response before it reads it.
    stream.shutdown(Shutdown::Write)?;
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut sink = [0u8; 1024];
    for _ in 0..64 {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    Ok(())
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    extra: &str,
    body: &str,
    send_body: bool,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    );
    let mut out = Vec::with_capacity(head.len() + body.len());
    out.extend_from_slice(head.as_bytes());
    if send_body {
        out.extend_from_slice(body.as_bytes());
    }
    stream.write_all(&out)?;
    stream.flush()
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

    #[test]
    fn finds_the_end_of_the_head() {
        assert_eq!(head_end(b"GET / HTTP/1.0\r\n\r\nbody"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.0\n\n"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.0\r\n"), None);
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
        // More idle connections than workers: the scrape still gets through once they time
        // out, and they never block the writer of the text.
        let idle: Vec<_> = (0..WORKERS + 2)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        *text.write().unwrap() = Arc::from("a 2\n");
        let started = Instant::now();
        let r = get(addr, "GET /metrics HTTP/1.0\r\n\r\n");
        assert!(started.elapsed() < REQUEST_DEADLINE * 2);
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.ends_with("\r\n\r\na 2\n"), "{r}");
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
