//! The CNI's calls to the manager (`POST /add_cni_info`, `/del_cni_info`, `GET /healthz`).

use std::time::Duration;

use serde_json::Value;

use crate::domain::error::{CniError, Code};
use crate::domain::manager_api::{ADD_PATH, AddAnswer, CniInfo, DEL_PATH, ErrorAnswer, NodeInfo};
use crate::http::client::{self as http_client, ClientOptions};

pub struct ManagerClient {
    urls: Vec<String>,
    token: Option<String>,
    http: ureq::Agent,
}

/// What one ADD or DEL tells the manager.
pub struct Call<'a> {
    pub cid: &'a str,
    pub ifname: &'a str,
    /// The CNI stdin, forwarded as upstream's plugin does.
    pub stdin: &'a str,
    pub node: Option<&'a NodeInfo>,
}

/// What a call produced.
pub enum Outcome {
    Answer(AddAnswer),
    /// No manager answered; the request may or may not have been applied.
    Unreachable(CniError),
}

impl ManagerClient {
    pub fn new(
        urls: Vec<String>,
        token: Option<String>,
        timeout: Duration,
    ) -> Result<Self, CniError> {
        let http = http_client::agent(&ClientOptions::default().with_timeout(timeout))
            .map_err(|e| CniError::new(Code::Internal, format!("HTTP client: {e:#}")))?;
        Ok(Self { urls, token, http })
    }

    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// ADD: the manager creates (or finds) the objects and describes the interface.
    pub fn add(&self, call: &Call<'_>) -> Result<Outcome, CniError> {
        self.call(ADD_PATH, "ADD", call)
    }

    /// DEL: the manager removes the interface's objects.
    pub fn del(&self, call: &Call<'_>) -> Result<Outcome, CniError> {
        self.call(DEL_PATH, "DEL", call)
    }

    /// Reachable and answering.
    pub fn health(&self) -> Result<(), CniError> {
        let mut last = String::new();
        for base in &self.urls {
            let url = format!("{base}/healthz");
            match self.with_auth(self.http.get(&url)).call() {
                Ok(mut r) if r.status().as_u16() == 200 => {
                    let _ = http_client::body_text(&mut r, 64 * 1024);
                    return Ok(());
                }
                Ok(mut r) => {
                    let status = r.status().as_u16();
                    last = format!(
                        "{url} answered {status}: {}",
                        http_client::body_text(&mut r, 4096).trim()
                    );
                }
                Err(e) => last = format!("{url}: {}", http_client::describe(&e)),
            }
        }
        Err(CniError::new(
            Code::PluginNotAvailable,
            format!("manager not available: {last}"),
        ))
    }

    fn with_auth<B>(&self, req: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(t) => req.header("Authorization", format!("Bearer {t}")),
            None => req,
        }
    }

    fn call(&self, path: &str, cmd: &str, call: &Call<'_>) -> Result<Outcome, CniError> {
        let body = CniInfo {
            cid: call.cid.to_string(),
            cmd: cmd.to_string(),
            args: Value::String(call.stdin.to_string()),
            ifname: Some(call.ifname.to_string()),
            node: call.node.cloned(),
        };
        let mut failures = Vec::new();
        for base in &self.urls {
            let url = format!("{base}{path}");
            let mut resp = match self.with_auth(self.http.post(&url)).send_json(&body) {
                Ok(r) => r,
                Err(e) => {
                    failures.push(format!("{url}: {}", http_client::describe(&e)));
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let text = http_client::body_text(&mut resp, 16 * 1024 * 1024);
            if status == 200 {
                let answer: AddAnswer = serde_json::from_str(&text).map_err(|e| {
                    CniError::new(
                        Code::DecodingFailure,
                        format!(
                            "manager at {url} answered 200 with a body that is not its answer: {e}"
                        ),
                    )
                })?;
                return Ok(Outcome::Answer(answer));
            }
            if let Ok(err) = serde_json::from_str::<ErrorAnswer>(&text) {
                return Err(CniError::from_wire(err.error.code, err.error.msg)
                    .with_details(format!("manager at {url} answered {status}")));
            }
            if matches!(status, 502..=504) {
                failures.push(format!("{url} answered {status}"));
                continue;
            }
            let c = if status == 401 || status == 403 {
                Code::InvalidNetworkConfig
            } else {
                Code::Internal
            };
            return Err(CniError::new(
                c,
                format!("manager at {url} answered {status}: {}", text.trim()),
            ));
        }
        Ok(Outcome::Unreachable(CniError::new(
            Code::TryAgainLater,
            format!("manager unreachable: {}", failures.join("; ")),
        )))
    }
}
