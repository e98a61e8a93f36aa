//! The ADD result, rendered in each spec version's shape, and read back from `prevResult`.
//! Pure: no I/O.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;
use serde_json::Value;

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
        let shape = version::shape(cni_version);
        let mut out = Rendered {
            cni_version,
            ip4: None,
            ip6: None,
            interfaces: None,
            ips: None,
            routes: Vec::new(),
            dns: &self.dns,
        };
        match shape {
            Shape::Legacy => {
                let legacy = |v4: bool| {
                    let ipc = self.ips.iter().find(|i| i.address.addr().is_ipv4() == v4)?;
                    Some(LegacyIp {
                        ip: ipc.address.to_string(),
                        gateway: ipc.gateway.map(|g| g.to_string()),
                        routes: self
                            .routes
                            .iter()
                            .filter(|r| r.dst.addr().is_ipv4() == v4)
                            .map(RouteOut::of)
                            .collect(),
                    })
                };
                out.ip4 = legacy(true);
                out.ip6 = legacy(false);
            }
            shape => {
                let with_mtu = version::at_least(cni_version, "1.1.0");
                out.interfaces = Some(
                    self.interfaces
                        .iter()
                        .map(|i| InterfaceOut {
                            name: &i.name,
                            mac: &i.mac,
                            sandbox: i.sandbox.as_deref(),
                            mtu: i.mtu.filter(|_| with_mtu),
                        })
                        .collect(),
                );
                out.ips = Some(
                    self.ips
                        .iter()
                        .map(|ipc| IpOut {
                            version: (shape == Shape::Interfaces03).then(|| {
                                if ipc.address.addr().is_ipv4() {
                                    "4"
                                } else {
                                    "6"
                                }
                            }),
                            interface: ipc.interface,
                            address: ipc.address.to_string(),
                            gateway: ipc.gateway.map(|g| g.to_string()),
                        })
                        .collect(),
                );
                out.routes = self.routes.iter().map(RouteOut::of).collect();
            }
        }
        serde_json::to_value(&out).unwrap_or(Value::Null)
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

/// A result as one version of the spec writes it (`ip4`/`ip6` for 0.1.0 and 0.2.0, else
/// `interfaces`/`ips`/`routes`); `dns` in every version.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Rendered<'a> {
    cni_version: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip4: Option<LegacyIp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip6: Option<LegacyIp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interfaces: Option<Vec<InterfaceOut<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ips: Option<Vec<IpOut>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<RouteOut>,
    #[serde(serialize_with = "dns_out")]
    dns: &'a Dns,
}

/// 0.1.0/0.2.0's `ip4` and `ip6`.
#[derive(Debug, Serialize)]
struct LegacyIp {
    ip: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<RouteOut>,
}

#[derive(Debug, Serialize)]
struct InterfaceOut<'a> {
    name: &'a str,
    mac: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sandbox: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mtu: Option<u32>,
}

#[derive(Debug, Serialize)]
struct IpOut {
    /// 0.3.x only.
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interface: Option<usize>,
    address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway: Option<String>,
}

#[derive(Debug, Serialize)]
struct RouteOut {
    dst: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    gw: Option<String>,
}

impl RouteOut {
    fn of(r: &Route) -> Self {
        Self {
            dst: r.dst.to_string(),
            gw: r.gw.map(|g| g.to_string()),
        }
    }
}

/// `dns`, its empty fields left out.
fn dns_out<S: serde::Serializer>(d: &&Dns, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct DnsOut<'a> {
        #[serde(skip_serializing_if = "<[String]>::is_empty")]
        nameservers: &'a [String],
        #[serde(skip_serializing_if = "Option::is_none")]
        domain: Option<&'a str>,
        #[serde(skip_serializing_if = "<[String]>::is_empty")]
        search: &'a [String],
        #[serde(skip_serializing_if = "<[String]>::is_empty")]
        options: &'a [String],
    }
    DnsOut {
        nameservers: &d.nameservers,
        domain: d.domain.as_deref(),
        search: &d.search,
        options: &d.options,
    }
    .serialize(s)
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
    use serde_json::json;

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
