//! Blocking HTTP clients (ureq) with timeouts on every call, and one way to tell "could not
//! reach the peer" from "the peer answered with an error".

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// Timeouts and TLS settings of one client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    /// The whole call: connect, send, receive.
    pub timeout: Duration,
    /// PEM file with the CA certificates to trust for https (default: the bundled web roots).
    pub ca_file: Option<std::path::PathBuf>,
    /// Idle connections kept per host (the manager talks to one config API from many threads).
    pub max_idle_per_host: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            timeout: Duration::from_secs(30),
            ca_file: None,
            max_idle_per_host: 8,
        }
    }
}

impl ClientOptions {
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self.connect_timeout = self.connect_timeout.min(timeout);
        self
    }
}

/// Build an agent: 4xx/5xx come back as responses, not errors; every phase has a deadline.
pub fn agent(opts: &ClientOptions) -> Result<ureq::Agent> {
    let mut cfg = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(opts.connect_timeout))
        .timeout_global(Some(opts.timeout))
        .max_idle_connections(opts.max_idle_per_host.max(1) * 4)
        .max_idle_connections_per_host(opts.max_idle_per_host.max(1))
        // ureq's 128 KiB per-connection buffers, times a pool of idle connections, would
        // dominate the manager's memory; our requests and answers are a few KiB.
        .input_buffer_size(32 * 1024)
        .output_buffer_size(16 * 1024)
        .max_response_header_size(32 * 1024)
        .user_agent(concat!("contrail-mesos/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = &opts.ca_file {
        cfg = cfg.tls_config(tls_with_ca(ca)?);
    }
    Ok(ureq::Agent::with_parts(
        cfg.build(),
        ureq::unversioned::transport::DefaultConnector::new(),
        LiteralFirst::default(),
    ))
}

/// An agent for a long-lived streamed answer (server-sent events): deadlines to connect and to
/// get the answer's head, then only a limit on how long one read may wait (`idle`: longer
/// than the peer's heartbeat), so the stream may run for days yet a dead peer is noticed.
pub fn stream_agent(connect: Duration, head: Duration, idle: Duration) -> Result<ureq::Agent> {
    let cfg = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(connect))
        .timeout_recv_response(Some(head))
        .timeout_per_read(Some(idle))
        .max_idle_connections(0)
        .input_buffer_size(64 * 1024)
        .user_agent(concat!("contrail-mesos/", env!("CARGO_PKG_VERSION")));
    Ok(ureq::Agent::with_parts(
        cfg.build(),
        ureq::unversioned::transport::DefaultConnector::new(),
        LiteralFirst::default(),
    ))
}

/// Resolves IP-literal hosts in place and hands names to ureq's resolver. ureq runs every
/// lookup that has a deadline on a thread of its own; for the IP addresses the CNI plugin and
/// the manager are normally given, that thread (and its malloc arena) is pure cost.
#[derive(Debug, Default)]
struct LiteralFirst(ureq::unversioned::resolver::DefaultResolver);

impl ureq::unversioned::resolver::Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let literal = uri.host().and_then(|h| {
            h.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .ok()
        });
        let port = uri.port_u16().or(match uri.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        });
        match (literal, port) {
            (Some(ip), Some(port)) => {
                let mut out = self.empty();
                out.push(std::net::SocketAddr::new(ip, port));
                Ok(out)
            }
            _ => self.0.resolve(uri, config, timeout),
        }
    }
}

fn tls_with_ca(path: &Path) -> Result<ureq::tls::TlsConfig> {
    let pem =
        std::fs::read(path).with_context(|| format!("cannot read CA file {}", path.display()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        let item = item.with_context(|| format!("CA file {} is not valid PEM", path.display()))?;
        if let ureq::tls::PemItem::Certificate(c) = item {
            certs.push(c);
        }
    }
    if certs.is_empty() {
        bail!("CA file {} holds no certificate", path.display());
    }
    Ok(ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
        .build())
}

/// A read-only JSON peer (Marathon, the Mesos master): `GET` with every error naming the peer
/// and its URL.
pub struct JsonPeer {
    name: &'static str,
    url: String,
    http: ureq::Agent,
}

impl JsonPeer {
    pub fn new(name: &'static str, url: &str, timeout: Duration) -> Result<Self> {
        Ok(Self {
            name,
            url: url.trim_end_matches('/').to_string(),
            http: agent(&ClientOptions::default().with_timeout(timeout))?,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// `GET <url><path>`: the answer of a 200 read straight from the wire into `T` (no copy
    /// of the whole answer is held while it is read), else an error naming the URL.
    pub fn get_typed<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        let url = format!("{}{path}", self.url);
        let mut resp = self
            .http
            .get(&url)
            .header("Accept", "application/json")
            .call()
            .map_err(|e| anyhow::anyhow!("{} {url}: {}", self.name, describe(&e)))?;
        let status = resp.status().as_u16();
        if status != 200 {
            let body = body_text(&mut resp, 64 * 1024);
            bail!("{} {url} answered {status}: {}", self.name, body.trim());
        }
        let reader = resp
            .into_body()
            .into_with_config()
            .limit(MAX_ANSWER)
            .reader();
        serde_json::from_reader(std::io::BufReader::with_capacity(64 * 1024, reader)).with_context(
            || {
                format!(
                    "{} {url} answered something that is not what it should be",
                    self.name
                )
            },
        )
    }
}

/// The largest answer a [`JsonPeer`] reads.
const MAX_ANSWER: u64 = 512 * 1024 * 1024;

/// True when the error means the peer could not be reached or did not answer in time (a
/// transient condition worth retrying), as opposed to a malformed request or reply.
pub fn is_unreachable(e: &ureq::Error) -> bool {
    matches!(
        e,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::HostNotFound
            | ureq::Error::ConnectionFailed
            | ureq::Error::Protocol(_)
    )
}

/// A short description of a transport error without request details (no headers, no tokens).
pub fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection failed".into(),
        ureq::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

/// Read a body as text, at most `limit` bytes; errors become a note in the text.
pub fn body_text(resp: &mut ureq::http::Response<ureq::Body>, limit: u64) -> String {
    resp.body_mut()
        .with_config()
        .limit(limit)
        .read_to_string()
        .unwrap_or_else(|e| format!("<unreadable body: {e}>"))
}

#[cfg(test)]
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_peer_is_reported_as_such() {
        let a =
            agent(&ClientOptions::default().with_timeout(Duration::from_secs(2))).expect("agent");
        let e = a
            .get(format!("http://127.0.0.1:{}/", closed_port()))
            .call()
            .expect_err("refused");
        assert!(is_unreachable(&e), "{e}");
        assert!(!describe(&e).is_empty());
    }

    #[test]
    fn missing_ca_file_is_named() {
        let opts = ClientOptions {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..ClientOptions::default()
        };
        let e = agent(&opts).expect_err("missing file");
        assert!(format!("{e:#}").contains("/nonexistent/ca.pem"));
    }
}
