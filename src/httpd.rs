//! A small synchronous HTTP/1.1 server: a listener plus a bounded pool of worker threads.
//!
//! Used by the manager and by the emulators. Each worker takes one request at a time, so the
//! pool size bounds the work in flight. A handler that panics answers 500; it never takes the
//! server down.

use std::io::Read;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use anyhow::{Context, Result, anyhow};
use serde_json::Value;

/// One request, fully read.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path without the query string, percent-decoded.
    pub path: String,
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
}

impl Response {
    pub fn json(status: u16, value: &Value) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: value.to_string().into_bytes(),
        }
    }

    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
            body: body.into().into_bytes(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

pub type Handler = dyn Fn(Request) -> Response + Send + Sync + 'static;

/// A running server. Dropping it (or calling [`Server::shutdown`]) stops the listener and the
/// workers.
pub struct Server {
    addr: SocketAddr,
    inner: Arc<tiny_http::Server>,
    stopping: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
}

impl Server {
    /// Listen on `listen` (`host:port`; port 0 picks a free one) with `workers` threads. Bodies
    /// larger than `max_body` bytes are refused with 413.
    pub fn start(
        listen: &str,
        workers: usize,
        max_body: usize,
        handler: Arc<Handler>,
    ) -> Result<Self> {
        let listener = std::net::TcpListener::bind(listen)
            .with_context(|| format!("cannot listen on {listen}"))?;
        // Small writes (headers, then a body) must not wait for the peer's delayed ACK; Linux
        // passes TCP_NODELAY on to the accepted sockets.
        set_nodelay(&listener);
        let inner = tiny_http::Server::from_listener(listener, None)
            .map_err(|e| anyhow!("cannot serve on {listen}: {e}"))?;
        let addr = inner
            .server_addr()
            .to_ip()
            .ok_or_else(|| anyhow!("listener on {listen} has no IP address"))?;
        let inner = Arc::new(inner);
        let stopping = Arc::new(AtomicBool::new(false));
        let workers = (0..workers.max(1))
            .map(|i| {
                let inner = Arc::clone(&inner);
                let stopping = Arc::clone(&stopping);
                let handler = Arc::clone(&handler);
                std::thread::Builder::new()
                    .name(format!("http-{i}"))
                    .spawn(move || worker(&inner, &stopping, &*handler, max_body))
                    .context("cannot start an HTTP worker thread")
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            addr,
            inner,
            stopping,
            workers,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop accepting, let the workers finish their current request, and join them.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        for _ in 0..self.workers.len() {
            self.inner.unblock();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn set_nodelay(listener: &std::net::TcpListener) {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: setsockopt(2) on a socket we own, with a pointer to a live c_int and its size.
    let rc = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        log::debug!("TCP_NODELAY: {}", std::io::Error::last_os_error());
    }
}

fn worker(server: &tiny_http::Server, stopping: &AtomicBool, handler: &Handler, max_body: usize) {
    while !stopping.load(Ordering::SeqCst) {
        let mut req = match server.recv() {
            Ok(r) => r,
            Err(e) => {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                log::warn!("http: accepting a request failed: {e}");
                continue;
            }
        };
        if stopping.load(Ordering::SeqCst) {
            let _ = req.respond(to_tiny(Response::text(503, "shutting down\n")));
            return;
        }
        let response = match read_request(&mut req, max_body) {
            Ok(r) => match catch_unwind(AssertUnwindSafe(|| handler(r))) {
                Ok(resp) => resp,
                Err(_) => {
                    log::error!("http: handler panicked on {} {}", req.method(), req.url());
                    Response::json(
                        500,
                        &serde_json::json!({"error": {"code": 999, "msg": "internal error"}}),
                    )
                }
            },
            Err(resp) => resp,
        };
        if let Err(e) = req.respond(to_tiny(response)) {
            log::debug!("http: writing the response failed: {e}");
        }
    }
}

fn read_request(req: &mut tiny_http::Request, max_body: usize) -> Result<Request, Response> {
    let url = req.url().to_string();
    let (raw_path, query) = match url.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (url.clone(), String::new()),
    };
    let mut body = Vec::new();
    let limit = u64::try_from(max_body)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    if let Err(e) = req.as_reader().take(limit).read_to_end(&mut body) {
        return Err(Response::text(
            400,
            format!("cannot read request body: {e}\n"),
        ));
    }
    if body.len() > max_body {
        return Err(Response::text(
            413,
            format!("request body larger than {max_body} bytes\n"),
        ));
    }
    Ok(Request {
        method: req.method().as_str().to_ascii_uppercase(),
        path: percent_decode(&raw_path),
        query,
        headers: req
            .headers()
            .iter()
            .map(|h| (h.field.as_str().to_string(), h.value.as_str().to_string()))
            .collect(),
        body,
        remote: req.remote_addr().copied(),
    })
}

fn to_tiny(resp: Response) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let mut out = tiny_http::Response::from_data(resp.body).with_status_code(resp.status);
    for (k, v) in resp.headers {
        if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            out.add_header(h);
        }
    }
    out
}

/// Split `a=b&c=d` into decoded pairs (`+` is a space).
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

/// Decode `%XX` escapes; malformed escapes are kept as they are.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Encode a query value (RFC 3986 unreserved characters are kept).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_round_trip() {
        let s = "default-domain:p:n==x y/é";
        assert_eq!(percent_decode(&percent_encode(s)), s);
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
}
