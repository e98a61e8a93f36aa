//! A small synchronous HTTP/1.1 server: one thread per connection (keep-alive), and at most
//! `workers` handlers running at once.
//!
//! Used by the manager and by the emulators. A handler that panics answers 500; it never takes
//! the server down. The server can also go down and come back on the same address (the
//! emulators' fault knob), cutting open connections as a dying process would.

pub mod wire;

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde_json::Value;

/// One request, fully read.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path without the query string, percent-decoded.
    pub path: String,
    /// The path without the query string, exactly as sent (not decoded).
    pub raw_path: String,
    /// The raw query string (without `?`), empty when absent.
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub remote: Option<SocketAddr>,
}

impl Request {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The query parameters, percent-decoded, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        parse_query(&self.query)
    }

    /// The first query parameter with this name.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body).context("request body is not valid JSON")
    }
}

/// A response to send.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// A body written after the head for as long as the writer likes (server-sent events);
    /// `body` is then ignored and the connection closes when the writer returns.
    pub stream: Option<Stream>,
}

/// What writes a streamed body: it gets the connection and a check that says whether the
/// server still serves it (false once the server stops or goes down), and returns when done
/// or when a write fails.
pub type StreamWriter =
    dyn Fn(&mut dyn Write, &dyn Fn() -> bool) -> std::io::Result<()> + Send + Sync + 'static;

/// A streamed body (see [`Response::streaming`]).
#[derive(Clone)]
pub struct Stream(pub Arc<StreamWriter>);

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stream(..)")
    }
}

impl Response {
    pub fn json(status: u16, value: &Value) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: value.to_string().into_bytes(),
            stream: None,
        }
    }

    /// A response whose body `writer` produces after the head, without a length: the head
    /// says `Connection: close` and the body ends when the connection does (as Jetty's
    /// `EventSourceServlet` answers server-sent events). Not counted against the worker pool.
    pub fn streaming(status: u16, content_type: &str, writer: Arc<StreamWriter>) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), content_type.to_string())],
            body: Vec::new(),
            stream: Some(Stream(writer)),
        }
    }

    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
            body: body.into().into_bytes(),
            stream: None,
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

pub type Handler = dyn Fn(Request) -> Response + Send + Sync + 'static;

/// How long an idle keep-alive connection (or a slow request) may hold its thread.
const IDLE: Duration = Duration::from_secs(120);
/// Connections served at once; more are answered 503 and closed.
const MAX_CONNECTIONS: usize = 4096;

/// A running server. Dropping it (or [`Server::shutdown`]) closes the listener and every
/// connection, and waits for the requests in progress.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Mutex<Option<Acceptor>>,
}

struct Acceptor {
    listener: TcpListener,
    thread: JoinHandle<()>,
}

struct Shared {
    handler: Arc<Handler>,
    max_body: usize,
    workers: Semaphore,
    stopping: AtomicBool,
    conns: Mutex<HashMap<u64, TcpStream>>,
    next_id: AtomicU64,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Bounds how many handlers run at once: the worker pool.
struct Semaphore {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Semaphore {
    fn acquire(&self) -> SemaphoreGuard<'_> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            free = self
                .freed
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        SemaphoreGuard(self)
    }
}

struct SemaphoreGuard<'a>(&'a Semaphore);

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.0.freed.notify_one();
    }
}

impl Server {
    /// Listen on `listen` (`host:port`; port 0 picks a free one). At most `workers` handlers
    /// run at once; bodies larger than `max_body` bytes are refused with 413.
    pub fn start(
        listen: &str,
        workers: usize,
        max_body: usize,
        handler: Arc<Handler>,
    ) -> Result<Self> {
        let listener =
            TcpListener::bind(listen).with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener
            .local_addr()
            .with_context(|| format!("listener on {listen} has no address"))?;
        let server = Self {
            addr,
            shared: Arc::new(Shared {
                handler,
                max_body,
                workers: Semaphore {
                    free: Mutex::new(workers.max(1)),
                    freed: Condvar::new(),
                },
                stopping: AtomicBool::new(false),
                conns: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
                threads: Mutex::new(Vec::new()),
            }),
            accept: Mutex::new(None),
        };
        server.serve(listener)?;
        Ok(server)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`; an unspecified address (listening on all) is given as loopback.
    pub fn url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(if addr.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        format!("http://{addr}")
    }

    /// Go down (`true`): close the listener, so connections are refused, and cut every open
    /// connection, as when the process dies. Come back (`false`) on the same address. For the
    /// emulators only.
    pub fn set_down(&self, down: bool) -> Result<()> {
        if down {
            self.stop_accepting();
            self.cut_connections();
            return Ok(());
        }
        if self
            .accept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
        {
            return Ok(());
        }
        // The kernel may hold the port for a moment after the old socket closed.
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        let listener = loop {
            match TcpListener::bind(self.addr) {
                Ok(l) => break l,
                Err(e)
                    if e.kind() == std::io::ErrorKind::AddrInUse
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot listen on {} again", self.addr));
                }
            }
        };
        self.serve(listener)
    }

    /// Whether the server is down (see `Server::set_down`).
    pub fn is_down(&self) -> bool {
        self.accept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    /// Stop: no new connections, open ones cut, requests in progress finished.
    pub fn shutdown(self) {}

    fn serve(&self, listener: TcpListener) -> Result<()> {
        set_nodelay(&listener);
        let accept_on = listener
            .try_clone()
            .context("cannot clone the listening socket")?;
        let shared = Arc::clone(&self.shared);
        let thread = std::thread::Builder::new()
            .name("http-accept".into())
            .spawn(move || accept_loop(&accept_on, &shared))
            .context("cannot start the accept thread")?;
        *self.accept.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Acceptor { listener, thread });
        Ok(())
    }

    fn stop_accepting(&self) {
        let acceptor = self
            .accept
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(a) = acceptor {
            // shutdown(2) on the listening socket makes the accept(2) blocked in the accept
            // thread return (on Linux), so it can be joined.
            let _ = nix::sys::socket::shutdown(
                a.listener.as_raw_fd(),
                nix::sys::socket::Shutdown::Both,
            );
            let _ = a.thread.join();
        }
    }

    fn cut_connections(&self) {
        let conns: Vec<TcpStream> = self
            .shared
            .conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .map(|(_, c)| c)
            .collect();
        for c in conns {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.stop_accepting();
        self.cut_connections();
        let threads = std::mem::take(
            &mut *self
                .shared
                .threads
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for t in threads {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let stream = match stream {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => return,
            Err(e) => {
                log::debug!("http: accept failed: {e}");
                // A closed listener (set_down) or a transient error (EMFILE): do not spin.
                std::thread::sleep(Duration::from_millis(10));
                if shared.stopping.load(Ordering::SeqCst) {
                    return;
                }
                continue;
            }
        };
        let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
        let registered = {
            let mut conns = shared.conns.lock().unwrap_or_else(PoisonError::into_inner);
            if conns.len() >= MAX_CONNECTIONS {
                false
            } else {
                match stream.try_clone() {
                    Ok(c) => {
                        conns.insert(id, c);
                        true
                    }
                    Err(_) => false,
                }
            }
        };
        if !registered {
            let mut s = stream;
            let _ = s.write_all(&wire::encode(
                &Response::text(503, "too many connections\n"),
                false,
                false,
            ));
            continue;
        }
        let shared2 = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name("http-conn".into())
            .spawn(move || {
                connection(stream, &shared2, id);
                shared2
                    .conns
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&id);
            });
        match spawned {
            Ok(t) => {
                let mut threads = shared
                    .threads
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                threads.retain(|t| !t.is_finished());
                threads.push(t);
            }
            Err(e) => {
                log::warn!("http: cannot start a connection thread: {e}");
                shared
                    .conns
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&id);
            }
        }
    }
}

/// Serve one connection: requests one after the other until it closes.
fn connection(stream: TcpStream, shared: &Shared, id: u64) {
    let remote = stream.peer_addr().ok();
    let _ = stream.set_read_timeout(Some(IDLE));
    let _ = stream.set_write_timeout(Some(IDLE));
    let _ = stream.set_nodelay(true);
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut input = BufReader::with_capacity(16 * 1024, stream);
    loop {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let incoming = match wire::read_request(&mut input, &mut out, shared.max_body) {
            Ok(Some(i)) => i,
            Ok(None) => return,
            Err(wire::WireError::Io(e)) => {
                log::trace!("http: connection from {remote:?} ended: {e}");
                return;
            }
            Err(wire::WireError::Refused(status, why)) => {
                let resp = Response::text(status, format!("{why}\n"));
                let _ = out.write_all(&wire::encode(&resp, false, false));
                return;
            }
        };
        let mut request = incoming.request;
        request.remote = remote;
        let head = request.method == "HEAD";
        let (method, url) = (request.method.clone(), request.path.clone());
        let response = {
            let _worker = shared.workers.acquire();
            let handler = &shared.handler;
            catch_unwind(AssertUnwindSafe(|| handler(request))).unwrap_or_else(|_| {
                log::error!("http: handler panicked on {method} {url}");
                Response::json(
                    500,
                    &serde_json::json!({"error": {"code": 999, "msg": "internal error"}}),
                )
            })
        };
        if let Some(Stream(writer)) = &response.stream {
            if out.write_all(&wire::encode_stream_head(&response)).is_err() || head {
                return;
            }
            let open = || {
                !shared.stopping.load(Ordering::SeqCst)
                    && shared
                        .conns
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .contains_key(&id)
            };
            if let Err(e) = writer(&mut out, &open) {
                log::trace!("http: stream to {remote:?} ended: {e}");
            }
            return;
        }
        let keep = incoming.keep_alive && !shared.stopping.load(Ordering::SeqCst);
        if out.write_all(&wire::encode(&response, keep, head)).is_err() || !keep {
            return;
        }
    }
}

/// Linux passes TCP_NODELAY on to the accepted sockets.
fn set_nodelay(listener: &TcpListener) {
    if let Err(e) =
        nix::sys::socket::setsockopt(listener, nix::sys::socket::sockopt::TcpNoDelay, &true)
    {
        log::debug!("TCP_NODELAY: {e}");
    }
}

/// What [`percent_encode`] escapes: all but RFC 3986's unreserved characters.
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Split `a=b&c=d` into decoded pairs (`+` is a space).
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| percent_decode(&s.replace('+', " "));
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Decode `%XX` escapes; malformed escapes are kept as they are, bytes that are not UTF-8
/// become U+FFFD.
pub fn percent_decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Encode a query value (RFC 3986 unreserved characters are kept).
pub fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, NOT_UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_round_trip() {
        let s = "default-domain:p:n==x y/é";
        assert_eq!(percent_decode(&percent_encode(s)), s);
        assert_eq!(
            percent_encode("a b/é-_.~:=,"),
            "a%20b%2F%C3%A9-_.~%3A%3D%2C"
        );
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%41%zz"), "A%zz");
    }

    #[test]
    fn query_pairs_are_decoded() {
        let q = parse_query("detail=true&fields=a,b&filters=x%3D%3Dy&flag");
        assert_eq!(
            q,
            vec![
                ("detail".into(), "true".into()),
                ("fields".into(), "a,b".into()),
                ("filters".into(), "x==y".into()),
                ("flag".into(), "".into()),
            ]
        );
    }

    #[test]
    fn serves_requests_and_survives_a_panicking_handler() {
        let handler: Arc<Handler> = Arc::new(|r: Request| {
            if r.path == "/panic" {
                panic!("boom");
            }
            Response::text(200, format!("{} {} {}", r.method, r.path, r.query))
        });
        let server = Server::start("127.0.0.1:0", 2, 1024, handler).expect("start");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut r = agent
            .get(format!("{}/panic", server.url()))
            .call()
            .expect("call");
        assert_eq!(r.status().as_u16(), 500);
        let _ = r.body_mut().read_to_string();
        let mut r = agent
            .get(format!("{}/a%20b?x=1", server.url()))
            .call()
            .expect("call");
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.body_mut().read_to_string().expect("body"), "GET /a b x=1");
        let big = vec![b'x'; 2048];
        let r = agent
            .post(format!("{}/big", server.url()))
            .send(&big[..])
            .expect("call");
        assert_eq!(r.status().as_u16(), 413);
        server.shutdown();
    }

    #[test]
    fn streamed_bodies_run_until_the_writer_returns_or_the_server_stops() {
        use std::io::{BufRead, BufReader, Write as _};
        let handler: Arc<Handler> = Arc::new(|r: Request| {
            if r.path == "/forever" {
                return Response::streaming(
                    200,
                    "text/event-stream",
                    Arc::new(|out, open| {
                        while open() {
                            out.write_all(b"tick\n")?;
                            out.flush()?;
                            std::thread::sleep(std::time::Duration::from_millis(10));
                        }
                        Ok(())
                    }),
                );
            }
            Response::streaming(
                200,
                "text/plain",
                Arc::new(|out, _| {
                    for i in 0..3 {
                        writeln!(out, "line {i}")?;
                    }
                    Ok(())
                }),
            )
        });
        let server = Server::start("127.0.0.1:0", 1, 1024, handler).expect("start");
        let mut conn = std::net::TcpStream::connect(server.local_addr()).expect("connect");
        conn.write_all(b"GET /three HTTP/1.1\r\nHost: h\r\n\r\n")
            .expect("write");
        let mut all = String::new();
        std::io::Read::read_to_string(&mut conn, &mut all).expect("closed at the end");
        assert!(all.starts_with("HTTP/1.1 200 OK\r\n"), "{all}");
        assert!(all.contains("Connection: close\r\n"), "{all}");
        assert!(
            !all.to_ascii_lowercase().contains("content-length"),
            "{all}"
        );
        assert!(all.ends_with("\r\n\r\nline 0\nline 1\nline 2\n"), "{all}");
        // A stream that never ends on its own ends when the server stops, and does not hold
        // a worker meanwhile: a plain request is still served.
        let conn = std::net::TcpStream::connect(server.local_addr()).expect("connect");
        let mut w = conn.try_clone().expect("clone");
        w.write_all(b"GET /forever HTTP/1.1\r\nHost: h\r\n\r\n")
            .expect("write");
        let mut r = BufReader::new(conn);
        let mut line = String::new();
        while line != "tick\n" {
            line.clear();
            r.read_line(&mut line).expect("read");
        }
        let mut other = std::net::TcpStream::connect(server.local_addr()).expect("connect");
        other
            .write_all(b"GET /three HTTP/1.1\r\nHost: h\r\n\r\n")
            .expect("write");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut other, &mut text).expect("read");
        assert!(text.contains("line 2"), "{text}");
        server.shutdown();
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut r, &mut rest);
    }

    /// Send `raw` on a fresh connection and read until the server closes it.
    fn exchange(server: &Server, raw: &[u8]) -> String {
        use std::io::{Read, Write};
        let mut conn = std::net::TcpStream::connect(server.local_addr()).expect("connect");
        conn.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        conn.write_all(raw).expect("write");
        let mut answer = String::new();
        conn.read_to_string(&mut answer)
            .expect("the server closes the connection");
        answer
    }

    fn echo_server() -> Server {
        let handler: Arc<Handler> = Arc::new(|r: Request| {
            Response::text(200, format!("{} {} {:?}", r.method, r.path, r.body))
        });
        Server::start("127.0.0.1:0", 2, 1024, handler).expect("start")
    }

    /// Requests on one connection are answered in turn until one says `Connection: close`;
    /// HTTP/1.0 closes after one answer; HEAD gets the head only.
    #[test]
    fn keep_alive_until_close_and_http_1_0_closes() {
        let server = echo_server();
        let answer = exchange(
            &server,
            b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi\
              HEAD /b HTTP/1.1\r\nHost: h\r\n\r\n\
              GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n\
              GET /never HTTP/1.1\r\nHost: h\r\n\r\n",
        );
        let parts: Vec<&str> = answer.split("HTTP/1.1 200 OK\r\n").collect();
        assert_eq!(parts.len(), 4, "{answer}");
        assert!(parts[1].ends_with("Connection: keep-alive\r\n\r\nPOST /a [104, 105]"));
        assert!(parts[2].contains("Content-Length: 10\r\n"), "{answer}");
        assert!(
            parts[2].ends_with("Connection: keep-alive\r\n\r\n"),
            "{answer}"
        );
        assert!(
            parts[3].ends_with("Connection: close\r\n\r\nGET /c []"),
            "{answer}"
        );
        let answer = exchange(
            &server,
            b"GET /old HTTP/1.0\r\n\r\nGET /never HTTP/1.0\r\n\r\n",
        );
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(
            answer.ends_with("Connection: close\r\n\r\nGET /old []"),
            "{answer}"
        );
        server.shutdown();
    }

    /// Send `raw` to a fresh server: the answer has a refusal with `status_line` whose body
    /// says `why`, the connection closed after it, and nothing after it read.
    fn assert_refused(raw: &[u8], status_line: &str, why: &str) -> String {
        let server = echo_server();
        let answer = exchange(&server, raw);
        server.shutdown();
        let Some((_, refusal)) = answer.split_once(status_line) else {
            panic!("no {status_line:?} in {answer:?}");
        };
        assert!(refusal.contains("Connection: close\r\n"), "{answer}");
        assert!(refusal.contains(why), "{answer}");
        assert!(
            !refusal.contains("HTTP/1.1 "),
            "read past the refusal: {answer}"
        );
        answer
    }

    /// A request that is not HTTP/1.x is answered 400 with the reason, and the connection
    /// closed; a good request before it on the connection was answered.
    #[test]
    fn malformed_requests_are_answered_400_and_closed() {
        let answer = assert_refused(
            b"GET /ok HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nno colon\r\n\r\nGET /after HTTP/1.1\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\n",
            "header",
        );
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    }

    /// A head too large is answered 431 with the reason, and the connection closed.
    #[test]
    fn oversized_heads_are_answered_and_closed() {
        let raw = format!(
            "GET / HTTP/1.1\r\nX-Big: {}\r\n\r\nGET /after HTTP/1.1\r\n\r\n",
            "v".repeat(20_000)
        );
        let status = "HTTP/1.1 431 Request Header Fields Too Large\r\n";
        let answer = assert_refused(raw.as_bytes(), status, "header field too long");
        assert!(answer.starts_with(status), "{answer}");
    }

    /// RFC 9112 6.1: a request framed both ways is answered 400 and its connection closed,
    /// so nothing that follows it on the connection is read as another request.
    #[test]
    fn both_framings_are_refused_and_the_connection_closed() {
        let answer = assert_refused(
            b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\
              Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\n",
            "Transfer-Encoding and Content-Length",
        );
        assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    }
}
