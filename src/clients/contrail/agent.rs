//! Client of the vRouter agent's port API (`:9091`), for every release since R5.0
//! (`src/vnsw/agent/port_ipc/rest_server.cc` of each release branch):
//! - `POST /vm`, `GET /vm/<vm-uuid>`, `DELETE /vm/<vm-uuid>`, `GET /vm-cfg/<vm>` everywhere;
//!   R5.0 answers `GET /vm/<vm-uuid>` with one object, later releases with a list of every
//!   port of the VM that fails (404) while any of them is not ready;
//! - `GET /vm/<vm-uuid>/<vmi-uuid>` only from R2008 on. Older agents answer it 404
//!   `{"error":"Unknown Request"}`; the client then asks `GET /vm/<vm-uuid>` for the rest of
//!   its life, so a route the agent lacks is asked at most once per run;
//! - no release removes one interface: `DELETE /vm/<vm-uuid>` drops every port of the VM, so
//!   removing one port means registering the VM's other ports again.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::http::client::{self as http_client, ClientOptions};

/// The body of `POST /vm`, as upstream's CNI sends it and as our port files record it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AddPortMsg {
    #[serde(default)]
    pub time: String,
    /// The container id (the stale-DEL guard compares it).
    pub vm_id: String,
    pub vm_uuid: String,
    pub vm_name: String,
    pub host_ifname: String,
    pub vm_ifname: String,
    #[serde(default)]
    pub vm_namespace: String,
    pub vn_uuid: String,
    pub vmi_uuid: String,
}

/// One element of `GET /vm/...`: what the agent knows about a port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct PortInfo {
    /// The interface UUID.
    pub id: String,
    pub instance_id: String,
    pub vn_id: String,
    pub vm_project_id: String,
    pub mac_address: String,
    pub system_name: String,
    pub ip_address: String,
    #[serde(deserialize_with = "lenient_u8")]
    pub plen: Option<u8>,
    pub dns_server: String,
    pub gateway: String,
    /// `v6-ip-address` (R5.1 on) or `ip6-address` (R5.0). The agent reports no IPv6 prefix
    /// length.
    #[serde(alias = "ip6-address")]
    pub v6_ip_address: String,
    pub v6_dns_server: String,
    pub v6_gateway: String,
}

impl PortInfo {
    /// The agent has an address for the port (0.0.0.0 and :: mean "not yet").
    pub fn has_ip(&self) -> bool {
        [&self.ip_address, &self.v6_ip_address].iter().any(|a| {
            a.trim()
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| !ip.is_unspecified())
        })
    }
}

/// One element of `GET /vm-cfg/<name>`. The VM's uuid is `instance-id` in the agent's answer
/// (`MakeJsonFromVmiConfig`); `vm-uuid` is read too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct VmCfg {
    pub id: String,
    #[serde(alias = "instance-id")]
    pub vm_uuid: String,
    pub vn_id: String,
    pub vn_name: String,
    pub mac_address: String,
    pub annotations: Vec<String>,
}

impl VmCfg {
    /// The value of a `"{key:value}"` annotation.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.iter().find_map(|a| {
            let inner = a.trim().trim_start_matches('{').trim_end_matches('}');
            let (k, v) = inner.split_once(':')?;
            (k.trim() == key).then_some(v.trim())
        })
    }
}

/// `plen` as a number or a numeric string; anything else is reported and left out (the
/// manager's answer gives the prefix length then).
fn lenient_u8<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    let v = Value::deserialize(d)?;
    let n = match &v {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_u64().and_then(|n| u8::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    if n.is_none() {
        log::warn!("the vRouter agent reported plen {v}, which is not a prefix length: ignored");
    }
    Ok(n)
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentError {
    /// No answer (connection refused, timeout): try again later.
    Unreachable(String),
    /// The agent answered with an error status.
    Refused { status: u16, body: String },
    /// The answer could not be decoded.
    Decode(String),
    /// The agent has no such route (404 "Unknown Request"): an older release.
    UnknownRoute,
}

impl std::fmt::Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentError::Unreachable(e) => write!(f, "unreachable: {e}"),
            AgentError::Refused { status, body } => write!(f, "answered {status}: {}", body.trim()),
            AgentError::Decode(e) => write!(f, "sent an answer that cannot be decoded: {e}"),
            AgentError::UnknownRoute => write!(f, "answered 404 Unknown Request"),
        }
    }
}

impl std::error::Error for AgentError {}

/// Whether the agent has `GET /vm/<vm>/<vmi>` (R2008 on).
const ROUTE_UNKNOWN: u8 = 0;
const ROUTE_PRESENT: u8 = 1;
const ROUTE_MISSING: u8 = 2;

/// The agent's port API.
pub struct AgentClient {
    base: String,
    http: ureq::Agent,
    per_interface_get: AtomicU8,
}

impl AgentClient {
    /// `base` like `http://127.0.0.1:9091`; `timeout` bounds every call.
    pub fn new(base: &str, timeout: Duration) -> anyhow::Result<Self> {
        let opts = ClientOptions {
            connect_timeout: timeout.min(Duration::from_secs(2)),
            timeout,
            ..ClientOptions::default()
        };
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            http: http_client::agent(&opts)?,
            per_interface_get: AtomicU8::new(ROUTE_UNKNOWN),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Register a port.
    pub fn add_port(&self, msg: &AddPortMsg) -> Result<(), AgentError> {
        let url = format!("{}/vm", self.base);
        let mut resp = self
            .http
            .post(&url)
            .send_json(msg)
            .map_err(|e| unreachable(&e))?;
        ok_or_refused(&mut resp).map(drop)
    }

    /// What the agent reports for one interface of a VM; `None` while it is not ready (404,
    /// or not yet in the VM's list). Asks `GET /vm/<vm>/<vmi>` of agents that have it.
    pub fn port(&self, vm_uuid: &str, vmi_uuid: &str) -> Result<Option<PortInfo>, AgentError> {
        if self.per_interface_get.load(Ordering::Relaxed) != ROUTE_MISSING {
            let url = format!("{}/vm/{vm_uuid}/{vmi_uuid}", self.base);
            match self.get_list::<PortInfo>(&url) {
                Ok(list) => {
                    self.per_interface_get
                        .store(ROUTE_PRESENT, Ordering::Relaxed);
                    return Ok(list.and_then(|l| pick(l, vmi_uuid)));
                }
                Err(AgentError::UnknownRoute) => {
                    log::debug!("vRouter agent at {} has no GET /vm/<vm>/<vmi>", self.base);
                    self.per_interface_get
                        .store(ROUTE_MISSING, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(self.ports(vm_uuid)?.and_then(|l| pick(l, vmi_uuid)))
    }

    /// Every port of a VM; `None` while the agent answers 404 (R5.1 on: while any of them is
    /// not ready).
    pub fn ports(&self, vm_uuid: &str) -> Result<Option<Vec<PortInfo>>, AgentError> {
        self.get_list(&format!("{}/vm/{vm_uuid}", self.base))
    }

    /// The config the agent holds for a VM name; `None` while it answers 404.
    pub fn get_vm_cfg(&self, vm_name: &str) -> Result<Option<Vec<VmCfg>>, AgentError> {
        let url = format!(
            "{}/vm-cfg/{}",
            self.base,
            crate::http::server::percent_encode(vm_name)
        );
        self.get_list(&url)
    }

    /// Remove every port of a VM. The agent answers 200 for unknown VMs.
    pub fn delete_vm(&self, vm_uuid: &str) -> Result<(), AgentError> {
        let url = format!("{}/vm/{vm_uuid}", self.base);
        let mut resp = self.http.delete(&url).call().map_err(|e| unreachable(&e))?;
        ok_or_refused(&mut resp).map(drop)
    }

    /// Remove some ports of a VM: no release removes one interface, so the VM goes and
    /// `keep` (its other ports, as they were registered) are registered again.
    pub fn remove_ports(&self, vm_uuid: &str, keep: &[AddPortMsg]) -> Result<(), AgentError> {
        self.delete_vm(vm_uuid)?;
        for msg in keep {
            self.add_port(msg)?;
        }
        Ok(())
    }

    /// Any HTTP answer means the agent is up.
    pub fn ping(&self) -> Result<(), AgentError> {
        self.http
            .get(format!("{}/", self.base))
            .call()
            .map(drop)
            .map_err(|e| unreachable(&e))
    }

    fn get_list<T: for<'de> Deserialize<'de>>(
        &self,
        url: &str,
    ) -> Result<Option<Vec<T>>, AgentError> {
        let mut resp = self.http.get(url).call().map_err(|e| unreachable(&e))?;
        if resp.status().as_u16() == 404 {
            let body = http_client::body_text(&mut resp, 64 * 1024);
            return match serde_json::from_str::<Value>(&body) {
                Ok(v) if v["error"].as_str() == Some(UNKNOWN_REQUEST) => {
                    Err(AgentError::UnknownRoute)
                }
                _ => Ok(None),
            };
        }
        let body = ok_or_refused(&mut resp)?;
        let v: Value =
            serde_json::from_str(&body).map_err(|e| AgentError::Decode(e.to_string()))?;
        // Agents before 2018 answered a single object instead of a list.
        let items = match v {
            Value::Array(a) => a,
            obj @ Value::Object(_) => vec![obj],
            other => return Err(AgentError::Decode(format!("expected a list, got {other}"))),
        };
        items
            .into_iter()
            .map(|i| serde_json::from_value(i).map_err(|e| AgentError::Decode(e.to_string())))
            .collect::<Result<Vec<T>, _>>()
            .map(Some)
    }
}

/// How the agent's `HandleRequest` answers a path no route matches (404).
const UNKNOWN_REQUEST: &str = "Unknown Request";

/// The entry of `vmi_uuid` in a `GET /vm` answer (an R5.0 object without `id` counts).
fn pick(list: Vec<PortInfo>, vmi_uuid: &str) -> Option<PortInfo> {
    let single = list.len() == 1 && list[0].id.is_empty();
    list.into_iter().find(|p| single || p.id == vmi_uuid)
}

fn unreachable(e: &ureq::Error) -> AgentError {
    AgentError::Unreachable(http_client::describe(e))
}

fn ok_or_refused(resp: &mut ureq::http::Response<ureq::Body>) -> Result<String, AgentError> {
    let status = resp.status().as_u16();
    let body = http_client::body_text(resp, 16 * 1024 * 1024);
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        Err(AgentError::Refused { status, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_info_reads_upstream_fields() {
        let v = serde_json::json!({"id": "vmi", "instance-id": "vm", "vn-id": "vn", "vm-project-id": "p",
            "mac-address": "02:00:00:00:00:01", "system-name": "tapx", "rx-vlan-id": -1, "tx-vlan-id": -1,
            "vhostuser-mode": 0, "ip-address": "5.5.5.3", "plen": 24, "dns-server": "5.5.5.2",
            "gateway": "5.5.5.1", "v6-ip-address": "", "v6-dns-server": "", "v6-gateway": "",
            "author": "agent", "time": "now"});
        let p: PortInfo = serde_json::from_value(v).expect("decodes");
        assert_eq!(p.plen, Some(24));
        assert!(p.has_ip());
        let p: PortInfo =
            serde_json::from_value(serde_json::json!({"ip-address": "0.0.0.0", "plen": "16"}))
                .expect("decodes");
        assert!(!p.has_ip());
        assert_eq!(p.plen, Some(16));
    }

    #[test]
    fn vm_cfg_annotations() {
        let c: VmCfg = serde_json::from_value(serde_json::json!({"id": "x",
            "annotations": ["{index:0/1}", "{interface:eth1}", "{network:default-domain:p:n}"]}))
        .expect("decodes");
        assert_eq!(c.annotation("index"), Some("0/1"));
        assert_eq!(c.annotation("interface"), Some("eth1"));
        assert_eq!(c.annotation("network"), Some("default-domain:p:n"));
        assert_eq!(c.annotation("missing"), None);
    }

    #[test]
    fn add_msg_uses_upstream_field_names() {
        let m = AddPortMsg {
            time: "t".into(),
            vm_id: "c".into(),
            vm_uuid: "u".into(),
            vm_name: "c".into(),
            host_ifname: "tap".into(),
            vm_ifname: "eth0".into(),
            vm_namespace: "/ns".into(),
            vn_uuid: "vn".into(),
            vmi_uuid: "vmi".into(),
        };
        let v = serde_json::to_value(&m).expect("encodes");
        for k in [
            "time",
            "vm-id",
            "vm-uuid",
            "vm-name",
            "host-ifname",
            "vm-ifname",
            "vm-namespace",
            "vn-uuid",
            "vmi-uuid",
        ] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
    }
}
