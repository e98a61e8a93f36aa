//! The ADD result, rendered in each spec version's shape, and read back from `prevResult`.
//! Pure: no I/O.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{Map, Value, json};

use crate::domain::cni_version::{self as version, Shape};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub mac: String,
    /// The netns path for interfaces inside the container; `None` on the host.
    pub sandbox: Option<String>,
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpConfig {
    pub address: IpNet,
    pub gateway: Option<IpAddr>,
    /// Index into `interfaces`.
    pub interface: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub dst: IpNet,
    pub gw: Option<IpAddr>,
}

pub use crate::domain::netconf::Dns;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddResult {
    pub interfaces: Vec<Interface>,
    pub ips: Vec<IpConfig>,
    pub routes: Vec<Route>,
    pub dns: Dns,
}

impl AddResult {
    /// The result JSON for `cni_version`.
    pub fn render(&self, cni_version: &str) -> Value {
        let mut out = Map::new();
        out.insert("cniVersion".into(), cni_version.into());
        match version::shape(cni_version) {
            Shape::Legacy => {
                for (key, v4) in [("ip4", true), ("ip6", false)] {
                    if let Some(ipc) = self.ips.iter().find(|i| i.address.addr().is_ipv4() == v4) {
                        let mut o = Map::new();
                        o.insert("ip".into(), ipc.address.to_string().into());
                        if let Some(gw) = ipc.gateway {
                            o.insert("gateway".into(), gw.to_string().into());
                        }
                        let routes: Vec<Value> = self
                            .routes
                            .iter()
                            .filter(|r| r.dst.addr().is_ipv4() == v4)
                            .map(route_json)
                            .collect();
                        if !routes.is_empty() {
                            o.insert("routes".into(), routes.into());
                        }
                        out.insert(key.into(), o.into());
                    }
                }
            }
            shape => {
                let with_mtu = version::at_least(cni_version, "1.1.0");
                let ifaces: Vec<Value> = self
                    .interfaces
                    .iter()
                    .map(|i| {
                        let mut o = json!({"name": i.name, "mac": i.mac});
                        if let Some(s) = &i.sandbox {
                            o["sandbox"] = s.clone().into();
                        }
                        if let (true, Some(m)) = (with_mtu, i.mtu) {
                            o["mtu"] = m.into();
                        }
                        o
                    })
                    .collect();
                let ips: Vec<Value> = self
                    .ips
                    .iter()
                    .map(|ipc| {
                        let mut o = Map::new();
                        if shape == Shape::Interfaces03 {
                            let v = if ipc.address.addr().is_ipv4() {
                                "4"
                            } else {
                                "6"
                            };
                            o.insert("version".into(), v.into());
                        }
                        if let Some(i) = ipc.interface {
                            o.insert("interface".into(), i.into());
                        }
                        o.insert("address".into(), ipc.address.to_string().into());
                        if let Some(gw) = ipc.gateway {
                            o.insert("gateway".into(), gw.to_string().into());
                        }
                        Value::Object(o)
                    })
                    .collect();
                out.insert("interfaces".into(), ifaces.into());
                out.insert("ips".into(), ips.into());
                if !self.routes.is_empty() {
                    let routes: Vec<Value> = self.routes.iter().map(route_json).collect();
                    out.insert("routes".into(), routes.into());
                }
            }
        }
        out.insert("dns".into(), self.dns_json());
        Value::Object(out)
    }

    fn dns_json(&self) -> Value {
        let mut o = Map::new();
        if !self.dns.nameservers.is_empty() {
            o.insert("nameservers".into(), self.dns.nameservers.clone().into());
        }
        if let Some(d) = &self.dns.domain {
            o.insert("domain".into(), d.clone().into());
        }
        if !self.dns.search.is_empty() {
            o.insert("search".into(), self.dns.search.clone().into());
        }
        if !self.dns.options.is_empty() {
            o.insert("options".into(), self.dns.options.clone().into());
        }
        Value::Object(o)
    }

    /// Read a result in any supported shape (for CHECK's `prevResult`). Fails on the first
    /// malformed field.
    pub fn parse(v: &Value) -> Result<AddResult, MalformedResult> {
        let obj = v
            .as_object()
            .ok_or_else(|| MalformedResult::new("", v, "is not an object"))?;
        let mut out = AddResult::default();
        if obj.contains_key("ips") || obj.contains_key("interfaces") {
            for (i, iface) in array(obj.get("interfaces"), "interfaces")?
                .iter()
                .enumerate()
            {
                out.interfaces.push(Interface {
                    name: str_field(iface, "name", &format!("interfaces[{i}]"))?,
                    mac: iface
                        .get("mac")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    sandbox: iface
                        .get("sandbox")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    mtu: iface.get("mtu").and_then(Value::as_u64).map(|m| m as u32),
                });
            }
            for (i, ip) in array(obj.get("ips"), "ips")?.iter().enumerate() {
                let at = format!("ips[{i}]");
                out.ips.push(IpConfig {
                    address: net(&str_field(ip, "address", &at)?, &at)?,
                    gateway: opt_ip(ip.get("gateway"), &at)?,
                    interface: ip
                        .get("interface")
                        .and_then(Value::as_u64)
                        .map(|n| n as usize),
                });
            }
            for (i, r) in array(obj.get("routes"), "routes")?.iter().enumerate() {
                out.routes.push(parse_route(r, &format!("routes[{i}]"))?);
            }
        } else {
            for key in ["ip4", "ip6"] {
                let Some(ipc) = obj.get(key).filter(|v| !v.is_null()) else {
                    continue;
                };
                out.ips.push(IpConfig {
                    address: net(&str_field(ipc, "ip", key)?, key)?,
                    gateway: opt_ip(ipc.get("gateway"), key)?,
                    interface: None,
                });
                for (i, r) in array(ipc.get("routes"), "routes")?.iter().enumerate() {
                    out.routes
                        .push(parse_route(r, &format!("{key}.routes[{i}]"))?);
                }
            }
        }
        if let Some(d) = obj.get("dns") {
            let strings = |k: &str| -> Vec<String> {
                d.get(k)
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default()
            };
            out.dns = Dns {
                nameservers: strings("nameservers"),
                domain: d.get("domain").and_then(Value::as_str).map(str::to_string),
                search: strings("search"),
                options: strings("options"),
            };
        }
        Ok(out)
    }
}

fn route_json(r: &Route) -> Value {
    let mut o = json!({"dst": r.dst.to_string()});
    if let Some(gw) = r.gw {
        o["gw"] = gw.to_string().into();
    }
    o
}

/// A `prevResult` field that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedResult {
    /// Where: `ips[0]`, `ip4.routes[1]`, ...
    pub field: String,
    pub value: String,
    pub problem: &'static str,
}

impl MalformedResult {
    fn new(field: &str, value: &Value, problem: &'static str) -> Self {
        Self {
            field: field.to_string(),
            value: value.to_string(),
            problem,
        }
    }
}

impl std::fmt::Display for MalformedResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.field.as_str() {
            "" => write!(f, "prevResult {} {}", self.value, self.problem),
            at => write!(f, "prevResult {at} {} {}", self.value, self.problem),
        }
    }
}

impl std::error::Error for MalformedResult {}

fn array<'a>(v: Option<&'a Value>, what: &str) -> Result<&'a [Value], MalformedResult> {
    match v {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(other) => Err(MalformedResult::new(what, other, "is not a list")),
    }
}

fn str_field(v: &Value, key: &str, at: &str) -> Result<String, MalformedResult> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            MalformedResult::new(
                &format!("{at}.{key}"),
                v.get(key).unwrap_or(&Value::Null),
                "is not a string",
            )
        })
}

fn net(s: &str, at: &str) -> Result<IpNet, MalformedResult> {
    s.parse()
        .map_err(|_| MalformedResult::new(at, &Value::from(s), "is not a CIDR address"))
}

fn opt_ip(v: Option<&Value>, at: &str) -> Result<Option<IpAddr>, MalformedResult> {
    let field = format!("{at}.gateway");
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(v @ Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| MalformedResult::new(&field, v, "is not an IP address")),
        Some(other) => Err(MalformedResult::new(&field, other, "is not a string")),
    }
}

fn parse_route(r: &Value, at: &str) -> Result<Route, MalformedResult> {
    Ok(Route {
        dst: net(&str_field(r, "dst", at)?, at)?,
        gw: opt_ip(r.get("gw"), at)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> AddResult {
        AddResult {
            interfaces: vec![
                Interface {
                    name: "tapabc".into(),
                    mac: "02:00:00:00:00:01".into(),
                    sandbox: None,
                    mtu: Some(1500),
                },
                Interface {
                    name: "eth0".into(),
                    mac: "02:00:00:00:00:02".into(),
                    sandbox: Some("/var/run/netns/x".into()),
                    mtu: Some(1500),
                },
            ],
            ips: vec![IpConfig {
                address: "5.5.5.3/24".parse().expect("net"),
                gateway: Some("5.5.5.1".parse().expect("ip")),
                interface: Some(1),
            }],
            routes: vec![Route {
                dst: "0.0.0.0/0".parse().expect("net"),
                gw: Some("5.5.5.1".parse().expect("ip")),
            }],
            dns: Dns {
                nameservers: vec!["5.5.5.2".into()],
                ..Dns::default()
            },
        }
    }

    #[test]
    fn legacy_shape_is_what_mesos_parses() {
        for v in ["0.1.0", "0.2.0"] {
            assert_eq!(
                sample().render(v),
                json!({"cniVersion": v,
                       "ip4": {"ip": "5.5.5.3/24", "gateway": "5.5.5.1",
                               "routes": [{"dst": "0.0.0.0/0", "gw": "5.5.5.1"}]},
                       "dns": {"nameservers": ["5.5.5.2"]}})
            );
        }
    }

    #[test]
    fn v03_shape_has_ip_versions() {
        let r = sample().render("0.3.1");
        assert_eq!(r["ips"][0]["version"], "4");
        assert_eq!(r["ips"][0]["interface"], 1);
        assert_eq!(r["interfaces"][1]["sandbox"], "/var/run/netns/x");
        assert!(r["interfaces"][1].get("mtu").is_none());
        assert!(r.get("ip4").is_none());
    }

    #[test]
    fn v1_shape_has_no_ip_versions_and_1_1_has_mtu() {
        let r = sample().render("1.0.0");
        assert!(r["ips"][0].get("version").is_none());
        assert!(r["interfaces"][1].get("mtu").is_none());
        let r = sample().render("1.1.0");
        assert_eq!(r["interfaces"][1]["mtu"], 1500);
        assert_eq!(r["routes"][0], json!({"dst": "0.0.0.0/0", "gw": "5.5.5.1"}));
    }

    #[test]
    fn round_trip_through_every_shape() {
        for v in version::SUPPORTED {
            let parsed = AddResult::parse(&sample().render(v)).expect("parses");
            assert_eq!(parsed.ips[0].address, sample().ips[0].address, "{v}");
            assert_eq!(parsed.ips[0].gateway, sample().ips[0].gateway, "{v}");
            assert_eq!(parsed.routes, sample().routes, "{v}");
            assert_eq!(parsed.dns.nameservers, vec!["5.5.5.2"], "{v}");
        }
        let parsed = AddResult::parse(&sample().render("1.0.0")).expect("parses");
        assert_eq!(parsed.interfaces[1].mac, "02:00:00:00:00:02");
    }

    #[test]
    fn malformed_prev_result_names_the_field() {
        let e = AddResult::parse(&json!({"ips": [{"address": "nope"}]})).expect_err("bad");
        assert!(e.to_string().contains("ips[0]"), "{e}");
        let e = AddResult::parse(&json!({"ip4": {"gateway": "1.1.1.1"}})).expect_err("bad");
        assert!(e.to_string().contains("ip4"), "{e}");
    }
}
