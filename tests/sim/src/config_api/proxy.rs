//! A proxy in front of any config API (upstream's real server, in practice) with the emulator's
//! request accounting and faults: it counts requests per method and resource type, delays
//! them, fails the next N with a status, and goes down and comes back, exactly as the emulator
//! does for its own requests. So a test or a benchmark can count a client's calls, or inject
//! faults into them, while upstream's server answers them.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use serde_json::Value;

use contrail_mesos::http::server::{Handler, Request, Response, Server};

use super::faults::Faults;
use super::server::kind_of;

/// Largest request body forwarded.
const MAX_BODY: usize = 64 << 20;

/// A running proxy. Dropping it stops it.
pub struct ConfigApiProxy {
    server: Server,
    faults: Arc<Faults>,
    target: String,
}

impl ConfigApiProxy {
    /// Listen on a free loopback port and forward to `target` (`http://host:port`).
    pub fn start(target: &str, workers: usize) -> Result<Self> {
        let target = target.trim_end_matches('/').to_string();
        let faults = Arc::new(Faults::default());
        let http: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_global(Some(Duration::from_secs(120)))
            .max_idle_connections_per_host(workers.max(1))
            .build()
            .into();
        let (to, f) = (target.clone(), Arc::clone(&faults));
        let handler: Arc<Handler> = Arc::new(move |req: Request| forward(&http, &to, &f, req));
        let server = Server::start("127.0.0.1:0", workers.max(1), MAX_BODY, handler)?;
        Ok(ConfigApiProxy {
            server,
            faults,
            target,
        })
    }

    /// The proxy's URL, for clients.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The server it forwards to.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Fail the next `n` requests with `status` (not forwarded).
    pub fn fail_next(&self, n: usize, status: u16) {
        self.faults.fail_next(n, status);
    }

    /// Delay every request by `d` (zero to stop).
    pub fn set_latency(&self, d: Duration) {
        self.faults.set_latency(d);
    }

    /// Go down (connections refused, open ones cut) or come back on the same port.
    pub fn set_down(&self, down: bool) -> Result<()> {
        self.server.set_down(down)
    }

    /// Requests received.
    pub fn request_count(&self) -> u64 {
        self.faults.requests()
    }

    /// Requests that may change something (as the emulator counts them).
    pub fn write_count(&self) -> u64 {
        self.faults.writes()
    }

    /// Requests per method and per resource type, as the emulator's `GET /_sim/stats`.
    pub fn stats(&self) -> Value {
        self.faults.stats()
    }

    pub fn reset_request_count(&self) {
        self.faults.reset();
    }
}

fn forward(http: &ureq::Agent, target: &str, faults: &Faults, req: Request) -> Response {
    let path = req.path.trim_end_matches('/');
    faults.count(
        &kind_of(if path.is_empty() { "/" } else { path }),
        &req.method,
    );
    let latency = faults.latency();
    if !latency.is_zero() {
        std::thread::sleep(latency);
    }
    if let Some(status) = faults.take_failure() {
        return Response::text(status, "Service unavailable (fault injected by the proxy)");
    }
    let mut url = format!("{target}{}", req.raw_path);
    if !req.query.is_empty() {
        url.push('?');
        url.push_str(&req.query);
    }
    let pass = ["Content-Type", "X-Auth-Token", "Accept"];
    macro_rules! with_headers {
        ($builder:expr) => {{
            let mut b = $builder;
            for name in pass {
                if let Some(v) = req.header(name) {
                    b = b.header(name, v);
                }
            }
            b
        }};
    }
    let sent = match req.method.as_str() {
        "GET" => with_headers!(http.get(&url)).call(),
        "DELETE" => with_headers!(http.delete(&url)).call(),
        "HEAD" => with_headers!(http.head(&url)).call(),
        "POST" => with_headers!(http.post(&url)).send(&req.body[..]),
        "PUT" => with_headers!(http.put(&url)).send(&req.body[..]),
        other => return Response::text(405, format!("{other} is not forwarded")),
    };
    let mut resp = match sent {
        Ok(r) => r,
        Err(e) => return Response::text(502, format!("proxy: {url}: {e}")),
    };
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("text/plain; charset=utf-8")
        .to_string();
    let body = match resp
        .body_mut()
        .with_config()
        .limit(MAX_BODY as u64)
        .read_to_vec()
    {
        Ok(b) => b,
        Err(e) => return Response::text(502, format!("proxy: reading {url}: {e}")),
    };
    log::debug!(
        "proxy: {} {} {} -> {status}",
        req.method,
        req.raw_path,
        String::from_utf8_lossy(&req.body)
    );
    Response {
        status,
        headers: vec![("Content-Type".into(), content_type)],
        body,
        stream: None,
    }
}
