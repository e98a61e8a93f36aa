//! The wire contract between the CNI plugin and the manager: `POST /add_cni_info` and
//! `POST /del_cni_info`. Pure serde types; both sides use them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const ADD_PATH: &str = "/add_cni_info";
pub const DEL_PATH: &str = "/del_cni_info";

/// The request body. Upstream sends `args` as the CNI stdin config encoded as a JSON string; an
/// object is accepted too. `ifname` is ours (default `eth0`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CniInfo {
    pub cid: String,
    #[serde(default)]
    pub cmd: String,
    #[serde(default)]
    pub args: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ifname: Option<String>,
    /// Ours: who the plugin's node is, so the manager can find its virtual-router.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<NodeInfo>,
}

/// The plugin's node: its host name (as `gethostname` gives it) and its addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub addresses: Vec<String>,
}

/// One address of an interface, with what its subnet says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct IpInfo {
    /// `v4` or `v6`.
    pub family: String,
    pub ip_address: String,
    pub plen: u8,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dns_server: String,
}

/// Why `args` holds no CNI config.
#[derive(Debug)]
pub enum ArgsError {
    /// A string that is not a JSON document.
    NotJson(serde_json::Error),
    /// Neither a string nor an object.
    WrongType(String),
}

impl std::fmt::Display for ArgsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArgsError::NotJson(e) => write!(f, "\"args\" is not a JSON document: {e}"),
            ArgsError::WrongType(v) => {
                write!(f, "\"args\" must be a JSON string or object, not {v}")
            }
        }
    }
}

impl std::error::Error for ArgsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ArgsError::NotJson(e) => Some(e),
            ArgsError::WrongType(_) => None,
        }
    }
}

/// One interface in the ADD answer. `ip-address`, `plen`, `gateway` and `dns-server` describe
/// its first address (IPv4 when it has one); `ips` lists every family's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct InterfaceInfo {
    pub ifname: String,
    pub vmi_uuid: String,
    pub vn_uuid: String,
    pub vn_fq_name: String,
    pub mac_address: String,
    pub ip_address: String,
    pub plen: u8,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dns_server: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpInfo>,
    #[serde(default)]
    pub floating_ips: Vec<String>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Ours: the nameservers of the CNI result's `dns`, in order (the manager's
    /// `dns_nameservers`); empty: the plugin takes the `dns-server` the agent reports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_nameservers: Vec<String>,
    /// Ours: the search domains of the CNI result's `dns` (the manager's `dns_search`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
}

/// The 200 answer to ADD (and, with no interfaces, to DEL).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddAnswer {
    #[serde(default)]
    pub cid: String,
    #[serde(rename = "vm-uuid", default)]
    pub vm_uuid: String,
    /// Absent in upstream's answer (a plain echo of the request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interfaces: Option<Vec<InterfaceInfo>>,
}

/// The error answer: `{"error": {"code": <CNI code>, "msg": ...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorAnswer {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: u32,
    pub msg: String,
}

impl CniInfo {
    /// The CNI config carried in `args` (a JSON string or an object). Upstream v1 merged the
    /// stdin keys into the body itself; `body` is used then.
    pub fn config(&self, body: &Value) -> Result<Value, ArgsError> {
        match &self.args {
            Value::String(s) => serde_json::from_str(s).map_err(ArgsError::NotJson),
            v @ Value::Object(_) => Ok(v.clone()),
            Value::Null if body.get("contrail").is_some() => Ok(body.clone()),
            Value::Null => Ok(Value::Object(Default::default())),
            other => Err(ArgsError::WrongType(other.to_string())),
        }
    }

    pub fn ifname(&self) -> &str {
        self.ifname
            .as_deref()
            .filter(|i| !i.is_empty())
            .unwrap_or("eth0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn upstream_body_with_args_string() {
        let body = json!({"cid": "c1", "cmd": "ADD", "args": "{\"cniVersion\":\"0.2.0\",\"contrail\":{}}"});
        let info: CniInfo = serde_json::from_value(body.clone()).expect("decodes");
        assert_eq!(info.ifname(), "eth0");
        assert_eq!(info.config(&body).expect("config")["cniVersion"], "0.2.0");
    }

    #[test]
    fn args_object_and_v1_merged_body() {
        let body = json!({"cid": "c1", "cmd": "ADD", "ifname": "eth1", "args": {"name": "n"}});
        let info: CniInfo = serde_json::from_value(body.clone()).expect("decodes");
        assert_eq!(info.ifname(), "eth1");
        assert_eq!(info.config(&body).expect("config")["name"], "n");
        let body = json!({"cid": "c1", "cmd": "ADD", "contrail": {"vrouter-ip": "1.2.3.4"}});
        let info: CniInfo = serde_json::from_value(body.clone()).expect("decodes");
        assert_eq!(
            info.config(&body).expect("config")["contrail"]["vrouter-ip"],
            "1.2.3.4"
        );
        let body = json!({"cid": "c1", "args": "{nope"});
        let info: CniInfo = serde_json::from_value(body.clone()).expect("decodes");
        assert!(
            info.config(&body)
                .expect_err("bad")
                .to_string()
                .contains("args")
        );
    }

    #[test]
    fn answer_field_names() {
        let a = AddAnswer {
            cid: "c".into(),
            vm_uuid: "u".into(),
            interfaces: Some(vec![InterfaceInfo {
                ifname: "eth0".into(),
                plen: 24,
                ..Default::default()
            }]),
        };
        let v = serde_json::to_value(&a).expect("encodes");
        assert!(v.get("vm-uuid").is_some());
        let i = &v["interfaces"][0];
        for k in [
            "ifname",
            "vmi-uuid",
            "vn-uuid",
            "vn-fq-name",
            "mac-address",
            "ip-address",
            "plen",
            "floating-ips",
            "security-groups",
        ] {
            assert!(i.get(k).is_some(), "missing {k}");
        }
        assert!(i.get("dns-search").is_none(), "absent when empty: {i}");
        let echo: AddAnswer =
            serde_json::from_value(json!({"cid": "c", "cmd": "ADD", "args": "{}"}))
                .expect("decodes");
        assert_eq!(echo.interfaces, None);
        // An older manager's answer (no dns-search) still decodes; a newer one carries it.
        let old: InterfaceInfo =
            serde_json::from_value(json!({"ifname": "eth0", "vmi-uuid": "u", "vn-uuid": "n",
                "vn-fq-name": "d:p:n", "mac-address": "m", "ip-address": "1.2.3.4", "plen": 24}))
            .expect("decodes");
        assert!(old.dns_search.is_empty());
        let new: InterfaceInfo = serde_json::from_value(
            json!({"ifname": "eth0", "vmi-uuid": "u", "vn-uuid": "n", "vn-fq-name": "d:p:n",
                   "mac-address": "m", "ip-address": "1.2.3.4", "plen": 24,
                   "dns-search": ["marathon.mesos"]}),
        )
        .expect("decodes");
        assert_eq!(new.dns_search, ["marathon.mesos"]);
    }
}
