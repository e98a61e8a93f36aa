//! The network configuration on the plugin's stdin. Pure: no I/O.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::cni_version as version;
use crate::domain::endpoint::host_port;
use crate::domain::error::{CniError, Code};

/// Every `"contrail"` key with its default and meaning (for `--help` and the man page). A
/// default in parentheses means "unset"; the others are checked against
/// [`ContrailConf::default`] by a test.
pub const KEYS: &[(&str, &str, &str)] = &[
    (
        "vrouter-ip",
        "127.0.0.1",
        "address of the vRouter agent's port API; also names this node's virtual-router",
    ),
    (
        "vrouter-port",
        "9091",
        "port of the vRouter agent's port API",
    ),
    (
        "config-dir",
        "/var/lib/contrail/ports/vm",
        "the vRouter agent's port directory; the plugin's records are in <config-dir>/.contrail-mesos/<container-id>/<vmi-uuid>",
    ),
    (
        "poll-timeout",
        "3",
        "seconds: the longest pause between two polls of the agent",
    ),
    (
        "poll-retries",
        "20",
        "the wait for the agent is bounded by poll-timeout x poll-retries",
    ),
    (
        "mode",
        "mesos",
        "\"mesos\" asks the manager; any other value only polls the agent's /vm-cfg",
    ),
    (
        "cluster-name",
        "(none)",
        "name of this node's virtual-router when none has the vrouter-ip address",
    ),
    ("mesos-ip", "127.0.0.1", "manager address"),
    ("mesos-port", "6991", "manager port (a number or a string)"),
    ("mtu", "1500", "MTU of both ends of the veth"),
    ("log-file", "(stderr)", "log file"),
    (
        "log-level",
        "(unset: warn)",
        "error, warn, info, debug, trace, or 1-5 (upstream writes \"4\" for debug)",
    ),
    (
        "manager-url",
        "(none)",
        "manager base URL(s), comma separated, tried in order; overrides mesos-ip/mesos-port",
    ),
    (
        "manager-token-file",
        "(none)",
        "file with the bearer token the manager expects",
    ),
];

/// The `"contrail"` keys (upstream names and defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct ContrailConf {
    pub vrouter_ip: String,
    pub vrouter_port: u16,
    pub config_dir: PathBuf,
    /// The longest single wait between two polls of the agent.
    pub poll_timeout: Duration,
    pub poll_retries: u32,
    pub mode: String,
    pub cluster_name: Option<String>,
    pub mesos_ip: String,
    pub mesos_port: u16,
    pub mtu: u32,
    pub log_file: Option<PathBuf>,
    pub log_level: Option<String>,
    /// Ours: the manager's base URL(s), overriding mesos-ip/mesos-port. Tried in order.
    pub manager_urls: Vec<String>,
    /// Ours: a file holding the bearer token the manager expects.
    pub manager_token_file: Option<PathBuf>,
}

impl Default for ContrailConf {
    fn default() -> Self {
        Self {
            vrouter_ip: "127.0.0.1".into(),
            vrouter_port: 9091,
            config_dir: PathBuf::from("/var/lib/contrail/ports/vm"),
            poll_timeout: Duration::from_secs(3),
            poll_retries: 20,
            mode: "mesos".into(),
            cluster_name: None,
            mesos_ip: "127.0.0.1".into(),
            mesos_port: 6991,
            mtu: 1500,
            log_file: None,
            log_level: None,
            manager_urls: Vec::new(),
            manager_token_file: None,
        }
    }
}

impl ContrailConf {
    /// The vRouter agent's base URL.
    pub fn agent_url(&self) -> String {
        format!("http://{}", host_port(&self.vrouter_ip, self.vrouter_port))
    }

    /// The manager base URLs to try, in order.
    pub fn manager_urls(&self) -> Vec<String> {
        if self.manager_urls.is_empty() {
            vec![format!(
                "http://{}",
                host_port(&self.mesos_ip, self.mesos_port)
            )]
        } else {
            self.manager_urls.clone()
        }
    }

    /// The total time the plugin waits for the agent: poll-timeout x poll-retries.
    pub fn poll_budget(&self) -> Duration {
        self.poll_timeout.saturating_mul(self.poll_retries)
    }
}

/// One `cni.dev/attachments` entry (GC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub container_id: String,
    pub ifname: String,
}

/// CNI's DNS settings: the well-known `dns` key of a network configuration (what the operator
/// wants in every result of this network, before what Contrail gives), and the `dns` of a
/// result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dns {
    pub nameservers: Vec<String>,
    pub domain: Option<String>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

/// The parsed stdin.
#[derive(Debug, Clone)]
pub struct NetConf {
    /// `cniVersion`, or "0.1.0" when absent.
    pub cni_version: String,
    pub name: String,
    pub plugin_type: String,
    pub contrail: ContrailConf,
    /// The task's labels, in order: Mesos' `network_info` labels, then `args.labels`/`args.cni.labels`.
    pub labels: Vec<(String, String)>,
    pub prev_result: Option<Value>,
    /// `cni.dev/attachments` (GC only).
    pub attachments: Option<Vec<Attachment>>,
    /// The `dns` key (empty when absent).
    pub dns: Dns,
    /// The whole document, forwarded to the manager as upstream does.
    pub raw: Value,
}

impl NetConf {
    /// Parse stdin. Undecodable JSON is code 6; a key with a bad value is code 7 naming it.
    pub fn parse(stdin: &[u8]) -> Result<NetConf, CniError> {
        let raw: Value = serde_json::from_slice(stdin).map_err(|e| {
            CniError::new(
                Code::DecodingFailure,
                format!("cannot decode the network configuration on stdin: {e}"),
            )
        })?;
        Self::from_value(raw)
    }

    pub fn from_value(raw: Value) -> Result<NetConf, CniError> {
        let top = raw.as_object().ok_or_else(|| {
            CniError::new(
                Code::DecodingFailure,
                "the network configuration on stdin is not a JSON object",
            )
        })?;
        let cni_version = match top.get("cniVersion") {
            None | Some(Value::Null) => version::IMPLICIT.to_string(),
            Some(Value::String(s)) if s.trim().is_empty() => version::IMPLICIT.to_string(),
            Some(Value::String(s)) => s.trim().to_string(),
            Some(other) => return Err(bad("cniVersion", other, "must be a string like \"0.2.0\"")),
        };
        let name = opt_string(top.get("name"), "name")?.unwrap_or_default();
        let plugin_type = opt_string(top.get("type"), "type")?.unwrap_or_default();
        let contrail = match top.get("contrail") {
            None | Some(Value::Null) => ContrailConf::default(),
            Some(Value::Object(_)) => parse_contrail(&raw["contrail"])?,
            Some(other) => return Err(bad("contrail", other, "must be an object")),
        };
        let labels = labels(&raw)?;
        let prev_result = top.get("prevResult").filter(|v| !v.is_null()).cloned();
        let attachments = match top.get("cni.dev/attachments") {
            None | Some(Value::Null) => None,
            Some(v) => Some(attachments(v)?),
        };
        let dns = match top.get("dns") {
            None | Some(Value::Null) => Dns::default(),
            Some(v) => dns(v)?,
        };
        Ok(NetConf {
            cni_version,
            name,
            plugin_type,
            contrail,
            labels,
            prev_result,
            attachments,
            dns,
            raw,
        })
    }

    /// Label pairs as `&str`s, for [`crate::domain::labels::parse`].
    pub fn label_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

fn bad(key: &str, value: &Value, why: &str) -> CniError {
    CniError::new(
        Code::InvalidNetworkConfig,
        format!("network configuration key {key:?} has a bad value {value}: {why}"),
    )
}

fn opt_string(v: Option<&Value>, key: &str) -> Result<Option<String>, CniError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(bad(key, other, "must be a string")),
    }
}

/// A number, or a string holding one (upstream writes `"mesos-port": "6991"`).
fn number(v: &Value, key: &str) -> Result<f64, CniError> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    n.filter(|n| n.is_finite())
        .ok_or_else(|| bad(key, v, "must be a number"))
}

fn integer(v: &Value, key: &str, min: u64, max: u64) -> Result<u64, CniError> {
    let n = number(v, key)?;
    if n.fract() != 0.0 || n < min as f64 || n > max as f64 {
        return Err(bad(
            key,
            v,
            &format!("must be a whole number from {min} to {max}"),
        ));
    }
    Ok(n as u64)
}

fn parse_contrail(c: &Value) -> Result<ContrailConf, CniError> {
    let mut out = ContrailConf::default();
    let Some(obj) = c.as_object() else {
        return Ok(out);
    };
    for (k, v) in obj {
        if v.is_null() {
            continue;
        }
        let key = format!("contrail.{k}");
        let key = key.as_str();
        match k.as_str() {
            "vrouter-ip" => out.vrouter_ip = host(v, key)?,
            "vrouter-port" => out.vrouter_port = integer(v, key, 1, 65535)? as u16,
            "config-dir" => out.config_dir = PathBuf::from(path(v, key)?),
            "poll-timeout" => {
                let secs = number(v, key)?;
                if secs <= 0.0 || secs > 3600.0 {
                    return Err(bad(key, v, "must be seconds, more than 0 and at most 3600"));
                }
                out.poll_timeout = Duration::from_secs_f64(secs);
            }
            "poll-retries" => out.poll_retries = integer(v, key, 1, 100_000)? as u32,
            "mode" => out.mode = non_empty(v, key)?,
            "cluster-name" => out.cluster_name = Some(non_empty(v, key)?),
            "mesos-ip" => out.mesos_ip = host(v, key)?,
            "mesos-port" => out.mesos_port = integer(v, key, 1, 65535)? as u16,
            "mtu" => out.mtu = integer(v, key, 68, 65535)? as u32,
            "log-file" => {
                let p = path(v, key)?;
                out.log_file = (!p.is_empty()).then(|| PathBuf::from(p));
            }
            "log-level" => {
                out.log_level = Some(match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    other => return Err(bad(key, other, "must be a level name or number")),
                })
            }
            "manager-url" => {
                let s = non_empty(v, key)?;
                let urls: Vec<String> = s
                    .split(',')
                    .map(|u| u.trim().trim_end_matches('/').to_string())
                    .filter(|u| !u.is_empty())
                    .collect();
                for u in &urls {
                    if !(u.starts_with("http://") || u.starts_with("https://")) {
                        return Err(bad(key, v, "must be http:// or https:// URLs"));
                    }
                }
                out.manager_urls = urls;
            }
            "manager-token-file" => out.manager_token_file = Some(PathBuf::from(path(v, key)?)),
            _ => {}
        }
    }
    Ok(out)
}

fn non_empty(v: &Value, key: &str) -> Result<String, CniError> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        other => Err(bad(key, other, "must be a non-empty string")),
    }
}

fn path(v: &Value, key: &str) -> Result<String, CniError> {
    match v {
        Value::String(s) if !s.contains('\0') => Ok(s.clone()),
        other => Err(bad(key, other, "must be a path")),
    }
}

fn host(v: &Value, key: &str) -> Result<String, CniError> {
    let s = non_empty(v, key)?;
    let valid = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'));
    if !valid {
        return Err(bad(key, v, "must be an IP address or host name"));
    }
    Ok(s.trim_start_matches('[').trim_end_matches(']').to_string())
}

/// Labels from `args["org.apache.mesos"].network_info.labels.labels`, `args.labels`
/// (`[{key,value}]` or `{key: value}`) and `args.cni.labels`.
fn labels(raw: &Value) -> Result<Vec<(String, String)>, CniError> {
    let mut out = Vec::new();
    let Some(args) = raw.get("args").filter(|a| !a.is_null()) else {
        return Ok(out);
    };
    if !args.is_object() {
        return Err(bad("args", args, "must be an object"));
    }
    if let Some(mesos) = args.get("org.apache.mesos").filter(|v| !v.is_null()) {
        let list = mesos
            .get("network_info")
            .and_then(|n| n.get("labels"))
            .and_then(|l| l.get("labels"));
        if let Some(list) = list.filter(|l| !l.is_null()) {
            push_labels(
                &mut out,
                list,
                "args[\"org.apache.mesos\"].network_info.labels.labels",
            )?;
        }
    }
    if let Some(list) = args.get("labels").filter(|l| !l.is_null()) {
        push_labels(&mut out, list, "args.labels")?;
    }
    if let Some(list) = args
        .get("cni")
        .and_then(|c| c.get("labels"))
        .filter(|l| !l.is_null())
    {
        push_labels(&mut out, list, "args.cni.labels")?;
    }
    Ok(out)
}

fn label_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn push_labels(out: &mut Vec<(String, String)>, v: &Value, key: &str) -> Result<(), CniError> {
    match v {
        Value::Array(items) => {
            for item in items {
                let k = item.get("key").and_then(Value::as_str).ok_or_else(|| {
                    bad(
                        key,
                        item,
                        "every label must be an object with a string \"key\"",
                    )
                })?;
                let val = item.get("value").map(label_value).unwrap_or_default();
                out.push((k.to_string(), val));
            }
            Ok(())
        }
        Value::Object(map) => {
            for (k, val) in map {
                out.push((k.clone(), label_value(val)));
            }
            Ok(())
        }
        other => Err(bad(
            key,
            other,
            "must be a list of {key, value} or an object",
        )),
    }
}

/// `{"nameservers": [..], "domain": "..", "search": [..], "options": [..]}`; every key
/// optional, unknown keys ignored.
fn dns(v: &Value) -> Result<Dns, CniError> {
    let obj = v
        .as_object()
        .ok_or_else(|| bad("dns", v, "must be an object"))?;
    let list = |k: &str| -> Result<Vec<String>, CniError> {
        let key = format!("dns.{k}");
        match obj.get(k) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| match i {
                    Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
                    other => Err(bad(&key, other, "every entry must be a non-empty string")),
                })
                .collect(),
            Some(other) => Err(bad(&key, other, "must be a list of strings")),
        }
    };
    let nameservers = list("nameservers")?;
    if let Some(bad_ns) = nameservers
        .iter()
        .find(|n| n.parse::<std::net::IpAddr>().is_err())
    {
        return Err(bad(
            "dns.nameservers",
            &Value::from(bad_ns.as_str()),
            "every entry must be an IP address",
        ));
    }
    let domain = match obj.get("domain") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Some(other) => return Err(bad("dns.domain", other, "must be a string")),
    };
    Ok(Dns {
        nameservers,
        domain,
        search: list("search")?,
        options: list("options")?,
    })
}

fn attachments(v: &Value) -> Result<Vec<Attachment>, CniError> {
    let key = "cni.dev/attachments";
    let items = v
        .as_array()
        .ok_or_else(|| bad(key, v, "must be a list of {containerID, ifname}"))?;
    items
        .iter()
        .map(|item| {
            let get = |f: &str| {
                item.get(f)
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| bad(key, item, &format!("entry needs a string {f:?}")))
            };
            Ok(Attachment {
                container_id: get("containerID")?,
                ifname: get("ifname")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each documented default, written into the config, gives the default config.
    #[test]
    fn documented_defaults_are_the_defaults() {
        for (k, d, _) in KEYS {
            if d.starts_with('(') {
                continue;
            }
            let v: Value = d
                .parse::<f64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(*d));
            let parsed = parse_contrail(&serde_json::json!({ *k: v })).expect(k);
            assert_eq!(parsed, ContrailConf::default(), "contrail.{k} = {d}");
        }
    }
    use serde_json::json;

    #[test]
    fn upstream_dcos_config_parses() {
        let conf = NetConf::from_value(json!({
            "cniVersion": "0.3.1", "name": "contrail-cni-plugin", "type": "contrail-cni-plugin",
            "contrail": {"vrouter-ip": "10.84.22.27", "vrouter-port": 9091, "config-dir": "/var/lib/contrail/ports/vm",
                "poll-timeout": 5, "poll-retries": 15, "log-file": "/var/log/contrail/cni/opencontrail.log",
                "log-level": "4", "mode": "mesos", "cluster-name": "mesos", "mesos-ip": "10.0.0.1", "mesos-port": "6991"},
            "args": {"org.apache.mesos": {"network_info": {"name": "contrail-cni-plugin",
                "labels": {"labels": [{"key": "networks", "value": "blue-network"},
                                      {"key": "network-subnets", "value": "5.5.5.0/24"}]},
                "ip_addresses": [{"protocol": "IPv4"}]}}}
        }))
        .expect("parses");
        assert_eq!(conf.cni_version, "0.3.1");
        assert_eq!(conf.contrail.mesos_port, 6991);
        assert_eq!(conf.contrail.poll_timeout, Duration::from_secs(5));
        assert_eq!(conf.contrail.poll_budget(), Duration::from_secs(75));
        assert_eq!(conf.contrail.agent_url(), "http://10.84.22.27:9091");
        assert_eq!(conf.contrail.manager_urls(), vec!["http://10.0.0.1:6991"]);
        assert_eq!(conf.contrail.log_level.as_deref(), Some("4"));
        assert_eq!(
            conf.labels,
            vec![
                ("networks".to_string(), "blue-network".to_string()),
                ("network-subnets".to_string(), "5.5.5.0/24".to_string())
            ]
        );
    }

    #[test]
    fn defaults_and_implicit_version() {
        let conf = NetConf::parse(br#"{"name":"n","type":"contrail-cni-plugin"}"#).expect("parses");
        assert_eq!(conf.cni_version, "0.1.0");
        assert_eq!(conf.contrail, ContrailConf::default());
        assert_eq!(conf.contrail.poll_budget(), Duration::from_secs(60));
        assert!(conf.labels.is_empty());
    }

    #[test]
    fn other_runtime_label_forms() {
        let conf = NetConf::from_value(json!({"args": {"labels": {"networks": "a"}, "cni": {"labels": [{"key": "project-name", "value": "p"}]}}}))
            .expect("parses");
        assert_eq!(conf.labels.len(), 2);
        let conf =
            NetConf::from_value(json!({"args": {"labels": [{"key": "networks", "value": "b"}]}}))
                .expect("parses");
        assert_eq!(conf.labels, vec![("networks".into(), "b".into())]);
    }

    #[test]
    fn escaped_slashes_are_fine() {
        let conf =
            NetConf::parse(br#"{"contrail":{"config-dir":"\/tmp\/ports"}}"#).expect("parses");
        assert_eq!(conf.contrail.config_dir, PathBuf::from("/tmp/ports"));
    }

    #[test]
    fn bad_values_name_the_key() {
        for (doc, key) in [
            (
                json!({"contrail": {"vrouter-port": "abc"}}),
                "contrail.vrouter-port",
            ),
            (
                json!({"contrail": {"mesos-port": 70000}}),
                "contrail.mesos-port",
            ),
            (
                json!({"contrail": {"poll-timeout": 0}}),
                "contrail.poll-timeout",
            ),
            (
                json!({"contrail": {"poll-retries": 1.5}}),
                "contrail.poll-retries",
            ),
            (json!({"contrail": {"mtu": 10}}), "contrail.mtu"),
            (
                json!({"contrail": {"vrouter-ip": "a b"}}),
                "contrail.vrouter-ip",
            ),
            (
                json!({"contrail": {"manager-url": "ftp://x"}}),
                "contrail.manager-url",
            ),
            (json!({"contrail": 5}), "contrail"),
            (json!({"cniVersion": 1}), "cniVersion"),
            (json!({"args": {"labels": 5}}), "args.labels"),
            (
                json!({"args": {"org.apache.mesos": {"network_info": {"labels": {"labels": [{"value": "x"}]}}}}}),
                "org.apache.mesos",
            ),
            (
                json!({"cni.dev/attachments": [{"containerID": "a"}]}),
                "cni.dev/attachments",
            ),
            (json!({"dns": "10.0.0.2"}), "dns"),
            (
                json!({"dns": {"nameservers": "10.0.0.2"}}),
                "dns.nameservers",
            ),
            (json!({"dns": {"nameservers": ["ns1"]}}), "dns.nameservers"),
            (json!({"dns": {"search": [1]}}), "dns.search"),
            (json!({"dns": {"domain": ["a"]}}), "dns.domain"),
            (json!({"dns": {"options": [""]}}), "dns.options"),
        ] {
            let e = NetConf::from_value(doc.clone()).expect_err(&format!("{doc} must fail"));
            assert_eq!(e.code, Code::InvalidNetworkConfig, "{doc}");
            assert!(e.msg.contains(key), "{} does not name {key}", e.msg);
        }
    }

    #[test]
    fn dns_key() {
        let conf = NetConf::from_value(json!({"dns": {"nameservers": ["10.0.0.2", " fd00::2 "],
            "domain": "mesos", "search": ["marathon.mesos"], "options": ["ndots:2"], "other": 1}}))
        .expect("parses");
        assert_eq!(
            conf.dns,
            Dns {
                nameservers: vec!["10.0.0.2".into(), "fd00::2".into()],
                domain: Some("mesos".into()),
                search: vec!["marathon.mesos".into()],
                options: vec!["ndots:2".into()],
            }
        );
        let none = NetConf::from_value(json!({"dns": null})).expect("parses");
        assert_eq!(none.dns, Dns::default());
    }

    #[test]
    fn undecodable_input_is_code_6() {
        assert_eq!(
            NetConf::parse(b"{nope").expect_err("bad json").code,
            Code::DecodingFailure
        );
        assert_eq!(
            NetConf::parse(b"[1]").expect_err("not an object").code,
            Code::DecodingFailure
        );
        assert_eq!(
            NetConf::parse(b"").expect_err("empty").code,
            Code::DecodingFailure
        );
    }

    #[test]
    fn manager_url_list_and_ipv6_hosts() {
        let conf = NetConf::from_value(json!({"contrail": {"manager-url": "http://a:1/, http://b:2", "vrouter-ip": "fd00::1"}}))
            .expect("parses");
        assert_eq!(
            conf.contrail.manager_urls(),
            vec!["http://a:1", "http://b:2"]
        );
        assert_eq!(conf.contrail.agent_url(), "http://[fd00::1]:9091");
    }

    #[test]
    fn gc_attachments() {
        let conf = NetConf::from_value(json!({"cniVersion": "1.1.0", "cni.dev/attachments": [{"containerID": "c1", "ifname": "eth0"}]}))
            .expect("parses");
        assert_eq!(
            conf.attachments,
            Some(vec![Attachment {
                container_id: "c1".into(),
                ifname: "eth0".into()
            }])
        );
    }
}
