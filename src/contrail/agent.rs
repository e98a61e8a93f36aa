//! Client of the vRouter agent's port API (`:9091`): `POST /vm`, `GET /vm/<vm>[/<vmi>]`,
//! `GET /vm-cfg/<name>`, `DELETE /vm/<vm>[/<vmi>]`.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::http_client::{self, ClientOptions};

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
    pub v6_ip_address: String,
    #[serde(deserialize_with = "lenient_u8")]
    pub v6_plen: Option<u8>,
    pub v6_dns_server: String,
    pub v6_gateway: String,
}

impl PortInfo {
    /// The agent has an IPv4 address for the port (0.0.0.0 means "not yet").
    pub fn has_ip(&self) -> bool {
        !self.ip_address.is_empty() && self.ip_address != "0.0.0.0"
    }
}

/// One element of `GET /vm-cfg/<name>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct VmCfg {
    pub id: String,
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

fn lenient_u8<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(match v {
        Value::Number(n) => n.as_u64().and_then(|n| u8::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
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
}

impl std::fmt::Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentError::Unreachable(e) => write!(f, "unreachable: {e}"),
            AgentError::Refused { status, body } => write!(f, "answered {status}: {}", body.trim()),
            AgentError::Decode(e) => write!(f, "sent an answer that cannot be decoded: {e}"),
        }
    }
}

impl std::error::Error for AgentError {}

/// The agent's port API.
#[derive(Clone)]
pub struct AgentClient {
    base: String,
    http: ureq::Agent,
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

    /// The ports of a VM (or one interface of it); `None` while the agent answers 404.
    pub fn get_ports(
        &self,
        vm_uuid: &str,
        vmi_uuid: Option<&str>,
    ) -> Result<Option<Vec<PortInfo>>, AgentError> {
        let url = match vmi_uuid {
            Some(vmi) => format!("{}/vm/{vm_uuid}/{vmi}", self.base),
            None => format!("{}/vm/{vm_uuid}", self.base),
        };
        self.get_list(&url)
    }

    /// The config the agent holds for a VM name; `None` while it answers 404.
    pub fn get_vm_cfg(&self, vm_name: &str) -> Result<Option<Vec<VmCfg>>, AgentError> {
        let url = format!(
            "{}/vm-cfg/{}",
            self.base,
            crate::httpd::percent_encode(vm_name)
        );
        self.get_list(&url)
    }

    /// Remove the ports of a VM (or one interface of it). The agent answers 200 for unknown VMs.
    pub fn delete(&self, vm_uuid: &str, vmi_uuid: Option<&str>) -> Result<(), AgentError> {
        let url = match vmi_uuid {
            Some(vmi) => format!("{}/vm/{vm_uuid}/{vmi}", self.base),
            None => format!("{}/vm/{vm_uuid}", self.base),
        };
        let mut resp = self.http.delete(&url).call().map_err(|e| unreachable(&e))?;
        ok_or_refused(&mut resp).map(drop)
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
            let _ = http_client::body_text(&mut resp, 64 * 1024);
            return Ok(None);
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
