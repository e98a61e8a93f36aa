//! Client of Marathon's REST API (`/v2/apps?embed=apps.tasks`, `/v2/pods/::status`, the event
//! stream `/v2/events`), and the pure reading of its answers.

use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::http::client::{self as http_client, JsonPeer};

/// One running app task or pod instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Instance {
    /// `app` or `pod`.
    pub kind: &'static str,
    /// The app or pod id (`/grp/web`).
    pub owner: String,
    /// Task id (apps) or instance id (pods).
    pub id: String,
    pub host: String,
    pub state: String,
    pub ips: Vec<String>,
    /// The CNI network names the app or pod asked for.
    pub networks: Vec<String>,
    /// Mesos task ids (apps: the task id; pods: `<instance>.<container>` ids when known).
    pub task_ids: Vec<String>,
}

/// The CNI network names an app asks for: the 1.5+ `networks` list or the legacy `ipAddress`.
pub fn app_networks(app: &Value) -> Vec<String> {
    let mut out: Vec<String> = app["networks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["mode"].as_str().unwrap_or("container") == "container")
        .filter_map(|n| n["name"].as_str().map(str::to_string))
        .collect();
    if let Some(n) = app["ipAddress"]["networkName"].as_str() {
        out.push(n.to_string());
    }
    out
}

/// App tasks from `GET /v2/apps?embed=apps.tasks`.
pub fn app_instances(apps: &Value) -> Vec<Instance> {
    let mut out = Vec::new();
    for app in apps["apps"].as_array().into_iter().flatten() {
        let owner = app["id"].as_str().unwrap_or_default().to_string();
        let networks = app_networks(app);
        for t in app["tasks"].as_array().into_iter().flatten() {
            let id = t["id"].as_str().unwrap_or_default().to_string();
            out.push(Instance {
                kind: "app",
                owner: owner.clone(),
                host: t["host"].as_str().unwrap_or_default().to_string(),
                state: t["state"].as_str().unwrap_or_default().to_string(),
                ips: t["ipAddresses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a["ipAddress"].as_str().map(str::to_string))
                    .collect(),
                networks: networks.clone(),
                task_ids: vec![id.clone()],
                id,
            });
        }
    }
    out
}

/// Pod instances from `GET /v2/pods/::status`.
pub fn pod_instances(statuses: &Value) -> Vec<Instance> {
    let mut out = Vec::new();
    for pod in statuses.as_array().into_iter().flatten() {
        let owner = pod["id"].as_str().unwrap_or_default().to_string();
        let networks: Vec<String> = pod["spec"]["networks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["name"].as_str().map(str::to_string))
            .collect();
        for inst in pod["instances"].as_array().into_iter().flatten() {
            let mut ips = Vec::new();
            for n in inst["networks"].as_array().into_iter().flatten() {
                for a in n["addresses"].as_array().into_iter().flatten() {
                    if let Some(a) = a.as_str()
                        && !ips.iter().any(|x| x == a)
                    {
                        ips.push(a.to_string());
                    }
                }
            }
            let containers: Vec<&Value> = inst["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .collect();
            out.push(Instance {
                kind: "pod",
                owner: owner.clone(),
                id: inst["id"].as_str().unwrap_or_default().to_string(),
                host: inst["agentHostname"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                state: inst["status"].as_str().unwrap_or_default().to_string(),
                ips,
                networks: networks.clone(),
                task_ids: containers
                    .iter()
                    .filter_map(|c| c["containerId"].as_str().map(str::to_string))
                    .collect(),
            });
        }
    }
    out
}

pub struct Marathon(JsonPeer);

/// Marathon's apps with their tasks and its pods' status, as answered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// `GET /v2/apps?embed=apps.tasks`: `{"apps": [..]}`.
    pub apps: Value,
    /// `GET /v2/pods/::status`: `[PodStatus..]`.
    pub pods: Value,
}

impl Snapshot {
    /// App tasks and pod instances.
    pub fn instances(&self) -> Vec<Instance> {
        let mut out = app_instances(&self.apps);
        out.extend(pod_instances(&self.pods));
        out
    }
}

impl Marathon {
    pub fn new(url: &str, timeout: Duration) -> Result<Self> {
        Ok(Self(JsonPeer::new("Marathon", url, timeout)?))
    }

    pub fn url(&self) -> &str {
        self.0.url()
    }

    /// Apps with their tasks, and pods' status. An answer of another shape is an error, so a
    /// proxy page or a starting Marathon never looks like "nothing runs".
    pub fn snapshot(&self) -> Result<Snapshot> {
        let apps = self.0.get_json("/v2/apps?embed=apps.tasks")?;
        if !apps["apps"].is_array() {
            bail!(
                "Marathon {}/v2/apps answered without an apps list",
                self.url()
            );
        }
        let pods = self.0.get_json("/v2/pods/::status")?;
        if !pods.is_array() {
            bail!(
                "Marathon {}/v2/pods/::status answered something other than a list",
                self.url()
            );
        }
        Ok(Snapshot { apps, pods })
    }

    /// App tasks and pod instances.
    pub fn instances(&self) -> Result<Vec<Instance>> {
        Ok(self.snapshot()?.instances())
    }

    /// Attach to the event stream (`GET /v2/events`, `Accept: text/event-stream`), asking for
    /// these event types only (all when empty). `idle`: how long a read may wait before the
    /// stream counts as dead (Marathon sends a heartbeat every 10 s).
    pub fn events(&self, types: &[&str], idle: Duration) -> Result<EventStream> {
        let query: Vec<String> = types
            .iter()
            .map(|t| format!("event_type={}", crate::http::server::percent_encode(t)))
            .collect();
        let url = if query.is_empty() {
            format!("{}/v2/events", self.url())
        } else {
            format!("{}/v2/events?{}", self.url(), query.join("&"))
        };
        let agent =
            http_client::stream_agent(Duration::from_secs(5), Duration::from_secs(30), idle)?;
        let mut resp = agent
            .get(&url)
            .header("Accept", "text/event-stream")
            .call()
            .map_err(|e| anyhow::anyhow!("Marathon {url}: {}", http_client::describe(&e)))?;
        let status = resp.status().as_u16();
        if status != 200 {
            let body = http_client::body_text(&mut resp, 4096);
            bail!("Marathon {url} answered {status}: {}", body.trim());
        }
        Ok(EventStream {
            url,
            reader: BufReader::with_capacity(64 * 1024, Box::new(resp.into_body().into_reader())),
            parser: SseParser::default(),
        })
    }
}

/// One server-sent event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field (Marathon: the event type).
    pub name: String,
    /// The `data:` lines, joined by `\n` (Marathon: the event's JSON).
    pub data: String,
}

/// The server-sent events format (WHATWG HTML "Server-sent events" §9.2.6), line by line:
/// `field: value` lines gather an event, an empty line dispatches it (an empty line with
/// nothing gathered, as Jetty's heartbeat, dispatches nothing), `:` starts a comment.
#[derive(Debug, Default)]
pub struct SseParser {
    name: String,
    data: Vec<String>,
}

impl SseParser {
    /// Feed one line (without its end); returns the event it completes.
    pub fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            if self.data.is_empty() {
                self.name.clear();
                return None;
            }
            let ev = SseEvent {
                name: std::mem::take(&mut self.name),
                data: std::mem::take(&mut self.data).join("\n"),
            };
            return Some(ev);
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => self.name = value.to_string(),
            "data" => self.data.push(value.to_string()),
            _ => {}
        }
        None
    }
}

/// The longest line an event stream may send (an `api_post_event` carries a whole app).
const MAX_SSE_LINE: u64 = 16 << 20;

/// An attached event stream.
pub struct EventStream {
    url: String,
    reader: BufReader<Box<dyn Read + Send>>,
    parser: SseParser,
}

impl EventStream {
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The next event; `None` when Marathon closed the stream. Blocks until one comes, the
    /// stream fails, or a read waits longer than the idle limit.
    pub fn next_event(&mut self) -> Result<Option<SseEvent>> {
        loop {
            let mut buf = Vec::new();
            let n = (&mut self.reader)
                .take(MAX_SSE_LINE + 1)
                .read_until(b'\n', &mut buf)
                .with_context(|| format!("Marathon event stream {}", self.url))?;
            if n == 0 {
                return Ok(None);
            }
            if n as u64 > MAX_SSE_LINE {
                bail!(
                    "Marathon event stream {}: a line longer than {MAX_SSE_LINE} bytes",
                    self.url
                );
            }
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            let line = String::from_utf8_lossy(&buf);
            if let Some(ev) = self.parser.line(&line) {
                return Ok(Some(ev));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_sent_events_as_jetty_writes_them() {
        let mut p = SseParser::default();
        let mut got = Vec::new();
        let text = "event: event_stream_attached\r\ndata: {\"a\":1}\r\n\r\n\r\n\r\n: comment\r\n\
                    event: status_update_event\ndata: line1\ndata:line2\n\ndata: nameless\n\n";
        for line in text.split('\n') {
            if let Some(e) = p.line(line.trim_end_matches('\r')) {
                got.push(e);
            }
        }
        assert_eq!(
            got,
            [
                SseEvent {
                    name: "event_stream_attached".into(),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    name: "status_update_event".into(),
                    data: "line1\nline2".into()
                },
                SseEvent {
                    name: "".into(),
                    data: "nameless".into()
                },
            ]
        );
    }

    #[test]
    fn both_app_network_forms() {
        let legacy = json!({"id": "/a", "ipAddress": {"networkName": "contrail-cni-plugin", "labels": {"networks": "blue"}}});
        let modern = json!({"id": "/b", "networks": [{"mode": "container", "name": "contrail-cni-plugin"}, {"mode": "host"}]});
        assert_eq!(app_networks(&legacy), vec!["contrail-cni-plugin"]);
        assert_eq!(app_networks(&modern), vec!["contrail-cni-plugin"]);
    }

    #[test]
    fn apps_and_pods_become_instances() {
        let apps = json!({"apps": [{"id": "/web", "networks": [{"mode": "container", "name": "n"}],
            "tasks": [{"id": "web.1", "host": "a1", "state": "TASK_RUNNING",
                       "ipAddresses": [{"ipAddress": "5.5.5.3", "protocol": "IPv4"}]}]}]});
        let i = app_instances(&apps);
        assert_eq!(i.len(), 1);
        assert_eq!(
            (
                i[0].owner.as_str(),
                i[0].ips[0].as_str(),
                i[0].host.as_str()
            ),
            ("/web", "5.5.5.3", "a1")
        );
        let pods = json!([{"id": "/pod", "spec": {"networks": [{"name": "n", "mode": "container"}]},
            "instances": [{"id": "pod.inst-1", "status": "STABLE", "agentHostname": "a2",
                "containers": [{"name": "c1", "containerId": "pod.inst-1.c1"}],
                "networks": [{"name": "n", "addresses": ["5.5.5.4"]}]}]}]);
        let p = pod_instances(&pods);
        assert_eq!(p[0].kind, "pod");
        assert_eq!(p[0].ips, vec!["5.5.5.4"]);
        assert_eq!(p[0].task_ids, vec!["pod.inst-1.c1"]);
    }
}
