//! How the agent emulator learns port configuration from a Contrail config API, over HTTP and
//! with the upstream REST shapes only (so it works against the project's config API emulator or
//! any upstream-shaped server).
//!
//! The real agent learns the same facts through the control node (XMPP); the objects and fields
//! it ends up with are these:
//! - `GET /virtual-machine-interface/<uuid>`: `virtual_machine_refs`, `virtual_network_refs`,
//!   `virtual_machine_interface_mac_addresses.mac_address[0]`, `instance_ip_back_refs`,
//!   `parent_uuid` (the project), `annotations.key_value_pair`.
//! - `GET /instance-ip/<uuid>`: `instance_ip_address`, `instance_ip_family`, `subnet_uuid`.
//! - `GET /virtual-network/<uuid>`: `network_ipam_refs[].attr.ipam_subnets[]` (`subnet.ip_prefix`,
//!   `subnet.ip_prefix_len`, `default_gateway`, `dns_server_address`, `subnet_uuid`,
//!   `addr_from_start`); for flat-subnet IPAMs (empty `ipam_subnets` on the ref) the referenced
//!   `GET /network-ipam/<uuid>`'s `ipam_subnets.subnets[]`.
//! - `POST /fqname-to-id` `{"type":"virtual-machine","fq_name":[name]}`, then
//!   `GET /virtual-machine/<uuid>`: `virtual_machine_interface_back_refs`,
//!   `virtual_router_back_refs` (and `GET /virtual-router/<uuid>` for
//!   `virtual_router_ip_address` when the emulator is bound to a router IP); when no back-ref
//!   matches, `GET /virtual-routers?detail=true` and the routers' `virtual_machine_refs`.
//!
//! A missing gateway or DNS address falls back to what the API server would have reserved
//! (`vnc_addr_mgmt.py`: the last usable address minus one / minus two, or first plus one / plus
//! two with `addr_from_start`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use ipnet::IpNet;
use serde_json::{Value, json};

use super::PortConfig;
use crate::httpd::percent_encode;

/// The router the emulated agent runs on; `None` fields are not checked.
#[derive(Debug, Clone, Default)]
pub(super) struct RouterFilter {
    pub name: Option<String>,
    pub ip: Option<String>,
}

impl RouterFilter {
    fn active(&self) -> bool {
        self.name.is_some() || self.ip.is_some()
    }
}

/// One element of a `/vm-cfg/<name>` answer.
#[derive(Debug, Clone)]
pub(super) struct VmCfg {
    pub vmi_uuid: String,
    pub vm_uuid: String,
    pub vn_uuid: String,
    pub vn_name: String,
    pub mac: String,
    pub annotations: Vec<(String, String)>,
}

/// Where the agent learns config: a config API over HTTP, or the config API emulator of the same
/// process read directly (as a real agent answers from config it already holds).
pub(super) enum ConfigApi {
    Http {
        base: String,
        token: Option<String>,
        http: ureq::Agent,
    },
    Local(crate::sim::config_api::ConfigHandle),
}

impl ConfigApi {
    pub(super) fn new(base: &str, token: Option<String>) -> Self {
        let http: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(1)))
            .timeout_global(Some(Duration::from_secs(3)))
            .build()
            .into();
        Self::Http {
            base: base.trim_end_matches('/').to_string(),
            token,
            http,
        }
    }

    /// One HTTP call: the JSON of a 200, `None` on 404, an error naming the URL otherwise.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Option<Value>> {
        let Self::Http { base, token, http } = self else {
            bail!("no HTTP config API configured");
        };
        let url = format!("{base}{path}");
        let what = format!("{method} {url}");
        let result = match body {
            Some(b) => {
                let mut req = http.post(&url).header("Accept", "application/json");
                if let Some(t) = token {
                    req = req.header("X-Auth-Token", t);
                }
                req.send_json(b)
            }
            None => {
                let mut req = http.get(&url).header("Accept", "application/json");
                if let Some(t) = token {
                    req = req.header("X-Auth-Token", t);
                }
                req.call()
            }
        };
        let mut resp = result.map_err(|e| anyhow!("{what}: {e}"))?;
        match resp.status().as_u16() {
            200 => resp
                .body_mut()
                .read_json()
                .map(Some)
                .map_err(|e| anyhow!("{what}: {e}")),
            404 => Ok(None),
            s => bail!("{what}: status {s}"),
        }
    }

    /// `GET /<kind>/<uuid>`: the object, `None` on 404.
    fn get(&self, kind: &str, uuid: &str) -> Result<Option<Value>> {
        if let Self::Local(h) = self {
            return Ok(h.get(kind, uuid));
        }
        let path = format!("/{kind}/{}", percent_encode(uuid));
        let Some(mut v) = self.call("GET", &path, None)? else {
            return Ok(None);
        };
        match v.get_mut(kind).map(Value::take) {
            Some(obj) if obj.is_object() => Ok(Some(obj)),
            _ => bail!("GET {path}: the answer has no \"{kind}\" object"),
        }
    }

    /// `POST /fqname-to-id`: the uuid, `None` on 404.
    fn fq_name_to_id(&self, kind: &str, fq_name: &[&str]) -> Result<Option<String>> {
        if let Self::Local(h) = self {
            return Ok(h
                .find(kind, fq_name)
                .and_then(|o| o.get("uuid").and_then(Value::as_str).map(str::to_string)));
        }
        let body = json!({"type": kind, "fq_name": fq_name});
        let Some(v) = self.call("POST", "/fqname-to-id", Some(body))? else {
            return Ok(None);
        };
        v.get("uuid")
            .and_then(Value::as_str)
            .map(|s| Some(s.to_string()))
            .ok_or_else(|| anyhow!("POST /fqname-to-id: no uuid in the answer"))
    }

    /// `GET /<kind>s?detail=true`: the objects, `None` when the server has no such list.
    fn list(&self, kind: &str) -> Result<Option<Vec<Value>>> {
        if let Self::Local(h) = self {
            return Ok(Some(h.list(kind)));
        }
        let path = format!("/{kind}s?detail=true");
        let Some(v) = self.call("GET", &path, None)? else {
            return Ok(None);
        };
        let items = v
            .get(format!("{kind}s"))
            .and_then(Value::as_array)
            .ok_or_else(|| anyhow!("GET {path}: no \"{kind}s\" list"))?;
        Ok(Some(
            items.iter().filter_map(|i| i.get(kind).cloned()).collect(),
        ))
    }

    /// Is the virtual-machine (`vm_uuid`, its object `vm`) referred to by the router this agent
    /// runs on? Read from the VM's `virtual_router_back_refs`, else from the routers'
    /// `virtual_machine_refs` (`GET /virtual-routers?detail=true`), for servers that do not
    /// render back-refs.
    fn on_router(&self, vm_uuid: &str, vm: &Value, router: &RouterFilter) -> Result<bool> {
        if !router.active() {
            return Ok(true);
        }
        let name_ok = |fq_name: &[String]| {
            router
                .name
                .as_deref()
                .is_none_or(|n| fq_name.last().map(String::as_str) == Some(n))
        };
        let ip_ok = |vr: &Value| {
            router.ip.as_deref().is_none_or(|ip| {
                vr.get("virtual_router_ip_address").and_then(Value::as_str) == Some(ip)
            })
        };
        for r in refs(vm, "virtual_router_back_refs") {
            if !name_ok(&r.fq_name) {
                continue;
            }
            if router.ip.is_some() {
                match self.get("virtual-router", &r.uuid)? {
                    Some(vr) if ip_ok(&vr) => {}
                    _ => continue,
                }
            }
            return Ok(true);
        }
        let Some(routers) = self.list("virtual-router")? else {
            return Ok(false);
        };
        Ok(routers.iter().any(|vr| {
            let fq_name: Vec<String> = vr
                .get("fq_name")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            name_ok(&fq_name)
                && ip_ok(vr)
                && refs(vr, "virtual_machine_refs")
                    .iter()
                    .any(|r| r.uuid == vm_uuid)
        }))
    }

    /// What `GET /vm/<vm>/<vmi>` reports once the agent has the port's config: `None` while
    /// something is missing (the agent answers 404 and the CNI retries).
    pub(super) fn port_config(
        &self,
        vmi_uuid: &str,
        router: &RouterFilter,
    ) -> Result<Option<PortConfig>> {
        let Some(vmi) = self.get("virtual-machine-interface", vmi_uuid)? else {
            return Ok(None);
        };
        let Some(vm_ref) = refs(&vmi, "virtual_machine_refs").into_iter().next() else {
            return Ok(None);
        };
        if router.active() {
            let Some(vm) = self.get("virtual-machine", &vm_ref.uuid)? else {
                return Ok(None);
            };
            if !self.on_router(&vm_ref.uuid, &vm, router)? {
                return Ok(None);
            }
        }
        let Some(vn_ref) = refs(&vmi, "virtual_network_refs").into_iter().next() else {
            return Ok(None);
        };
        let Some(mac) = vmi_mac(&vmi) else {
            return Ok(None);
        };
        let mut v4: Option<(Ipv4Addr, Option<String>)> = None;
        let mut v6: Option<(Ipv6Addr, Option<String>)> = None;
        for iip_ref in refs(&vmi, "instance_ip_back_refs") {
            let Some(iip) = self.get("instance-ip", &iip_ref.uuid)? else {
                continue;
            };
            let Some(addr) = iip
                .get("instance_ip_address")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<IpAddr>().ok())
            else {
                continue;
            };
            let subnet_uuid = iip
                .get("subnet_uuid")
                .and_then(Value::as_str)
                .map(str::to_string);
            match addr {
                IpAddr::V4(a) if v4.is_none() => v4 = Some((a, subnet_uuid)),
                IpAddr::V6(a) if v6.is_none() => v6 = Some((a, subnet_uuid)),
                _ => {}
            }
        }
        if v4.is_none() && v6.is_none() {
            return Ok(None);
        }
        let Some(vn) = self.get("virtual-network", &vn_ref.uuid)? else {
            return Ok(None);
        };
        let subnets = self.subnets(&vn)?;
        let mut cfg = PortConfig {
            vm_uuid: Some(vm_ref.uuid.clone()),
            vn_uuid: vn_ref.uuid.clone(),
            vn_name: vn_ref.fq_name.join(":"),
            project_uuid: vmi
                .get("parent_uuid")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            mac,
            annotations: annotations(&vmi),
            ..PortConfig::default()
        };
        let found_v4 = v4.and_then(|(addr, subnet_uuid)| {
            find_subnet(&subnets, IpAddr::V4(addr), subnet_uuid.as_deref()).map(|s| (addr, s))
        });
        if let Some((addr, s)) = found_v4 {
            cfg.ip = Some(addr);
            cfg.plen = s.prefix.prefix_len();
            cfg.gateway = s.gateway().and_then(as_v4);
            cfg.dns = s.dns().and_then(as_v4);
        }
        let found_v6 = v6.and_then(|(addr, subnet_uuid)| {
            find_subnet(&subnets, IpAddr::V6(addr), subnet_uuid.as_deref()).map(|s| (addr, s))
        });
        if let Some((addr, s)) = found_v6 {
            cfg.v6_ip = Some(addr);
            cfg.v6_gateway = s.gateway().and_then(as_v6);
            cfg.v6_dns = s.dns().and_then(as_v6);
        }
        if cfg.ip.is_none() && cfg.v6_ip.is_none() {
            // "Missing IPAM entry for request. Retry"
            return Ok(None);
        }
        Ok(Some(cfg))
    }

    /// The subnets of a virtual-network: per-network ones from the IPAM refs' attributes, or,
    /// for flat-subnet IPAMs, those of the IPAM object itself.
    fn subnets(&self, vn: &Value) -> Result<Vec<Subnet>> {
        let mut out = Vec::new();
        for r in vn
            .get("network_ipam_refs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            // Entries with a prefix are the network's own subnets; a flat-subnet IPAM leaves
            // entries holding only a subnet_uuid (or none), and then its subnets apply.
            let on_ref: Vec<Subnet> = r
                .pointer("/attr/ipam_subnets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|s| s.pointer("/subnet/ip_prefix").is_some_and(Value::is_string))
                .filter_map(Subnet::parse)
                .collect();
            match (!on_ref.is_empty()).then_some(on_ref) {
                Some(list) => out.extend(list),
                None => {
                    let Some(uuid) = r.get("uuid").and_then(Value::as_str) else {
                        continue;
                    };
                    if let Some(ipam) = self.get("network-ipam", uuid)? {
                        out.extend(
                            ipam.pointer("/ipam_subnets/subnets")
                                .and_then(Value::as_array)
                                .into_iter()
                                .flatten()
                                .filter_map(Subnet::parse),
                        );
                    }
                }
            }
        }
        Ok(out)
    }

    /// What `GET /vm-cfg/<name>` reports: every interface of the virtual-machine named `name`,
    /// ordered by interface uuid (the agent walks a `std::set` of uuids). `None` while the VM, one
    /// of its interfaces or an interface's network is not known.
    pub(super) fn vm_cfg(&self, name: &str, router: &RouterFilter) -> Result<Option<Vec<VmCfg>>> {
        let Some(vm_uuid) = self.fq_name_to_id("virtual-machine", &[name])? else {
            return Ok(None);
        };
        let Some(vm) = self.get("virtual-machine", &vm_uuid)? else {
            return Ok(None);
        };
        if !self.on_router(&vm_uuid, &vm, router)? {
            return Ok(None);
        }
        let mut vmi_uuids: Vec<String> = refs(&vm, "virtual_machine_interface_back_refs")
            .into_iter()
            .map(|r| r.uuid)
            .collect();
        if vmi_uuids.is_empty() {
            return Ok(None);
        }
        vmi_uuids.sort();
        vmi_uuids.dedup();
        let mut out = Vec::with_capacity(vmi_uuids.len());
        for uuid in vmi_uuids {
            let Some(vmi) = self.get("virtual-machine-interface", &uuid)? else {
                return Ok(None);
            };
            let Some(vn_ref) = refs(&vmi, "virtual_network_refs").into_iter().next() else {
                return Ok(None);
            };
            let Some(mac) = vmi_mac(&vmi) else {
                return Ok(None);
            };
            out.push(VmCfg {
                vmi_uuid: uuid,
                vm_uuid: vm_uuid.clone(),
                vn_uuid: vn_ref.uuid,
                vn_name: vn_ref.fq_name.join(":"),
                mac,
                annotations: annotations(&vmi),
            });
        }
        Ok(Some(out))
    }
}

struct Ref {
    uuid: String,
    fq_name: Vec<String>,
}

/// The `{"to":[..],"uuid":..}` entries of a ref or back-ref list.
fn refs(obj: &Value, field: &str) -> Vec<Ref> {
    obj.get(field)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some(Ref {
                uuid: r.get("uuid")?.as_str()?.to_string(),
                fq_name: r
                    .get("to")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

fn vmi_mac(vmi: &Value) -> Option<String> {
    vmi.pointer("/virtual_machine_interface_mac_addresses/mac_address/0")
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn annotations(obj: &Value) -> Vec<(String, String)> {
    obj.pointer("/annotations/key_value_pair")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|kv| {
            Some((
                kv.get("key")?.as_str()?.to_string(),
                kv.get("value")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            ))
        })
        .collect()
}

fn as_v4(a: IpAddr) -> Option<Ipv4Addr> {
    match a {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    }
}

fn as_v6(a: IpAddr) -> Option<Ipv6Addr> {
    match a {
        IpAddr::V6(a) => Some(a),
        IpAddr::V4(_) => None,
    }
}

/// One `IpamSubnetType`.
#[derive(Debug, Clone)]
struct Subnet {
    prefix: IpNet,
    gateway: Option<IpAddr>,
    dns: Option<IpAddr>,
    uuid: Option<String>,
    addr_from_start: bool,
}

impl Subnet {
    fn parse(v: &Value) -> Option<Self> {
        let ip: IpAddr = v.pointer("/subnet/ip_prefix")?.as_str()?.parse().ok()?;
        let len = u8::try_from(v.pointer("/subnet/ip_prefix_len")?.as_u64()?).ok()?;
        let prefix = IpNet::new(ip, len).ok()?.trunc();
        let addr = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<IpAddr>().ok())
        };
        Some(Self {
            prefix,
            gateway: addr("default_gateway"),
            dns: addr("dns_server_address"),
            uuid: v
                .get("subnet_uuid")
                .and_then(Value::as_str)
                .map(str::to_string),
            addr_from_start: v
                .get("addr_from_start")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }

    /// The address `offset` from the start (`from_start`) or back from the last address.
    fn reserved(&self, offset: u128) -> Option<IpAddr> {
        let from_start = self.addr_from_start;
        match self.prefix {
            IpNet::V4(n) => {
                let first = u128::from(u32::from(n.network()));
                let last = u128::from(u32::from(n.broadcast()));
                let a = if from_start {
                    first.checked_add(offset)?
                } else {
                    last.checked_sub(offset)?
                };
                if !(first..=last).contains(&a) {
                    return None;
                }
                Some(IpAddr::V4(Ipv4Addr::from(u32::try_from(a).ok()?)))
            }
            IpNet::V6(n) => {
                let first = u128::from(n.network());
                let last = u128::from(n.broadcast());
                let a = if from_start {
                    first.checked_add(offset)?
                } else {
                    last.checked_sub(offset)?
                };
                (first..=last)
                    .contains(&a)
                    .then_some(IpAddr::V6(Ipv6Addr::from(a)))
            }
        }
    }

    fn gateway(&self) -> Option<IpAddr> {
        self.gateway.or_else(|| self.reserved(1))
    }

    fn dns(&self) -> Option<IpAddr> {
        self.dns.or_else(|| self.reserved(2))
    }
}

/// The subnet an instance IP was allocated from: by `subnet_uuid` when the instance IP names
/// one, else the first subnet containing the address.
fn find_subnet<'a>(subnets: &'a [Subnet], addr: IpAddr, uuid: Option<&str>) -> Option<&'a Subnet> {
    uuid.and_then(|u| {
        subnets
            .iter()
            .find(|s| s.uuid.as_deref() == Some(u) && s.prefix.contains(&addr))
    })
    .or_else(|| subnets.iter().find(|s| s.prefix.contains(&addr)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_addresses_follow_the_api_server() {
        let s = Subnet::parse(&json!({"subnet": {"ip_prefix": "10.1.2.0", "ip_prefix_len": 24}}))
            .expect("subnet");
        assert_eq!(s.gateway(), Some("10.1.2.254".parse().expect("ip")));
        assert_eq!(s.dns(), Some("10.1.2.253".parse().expect("ip")));
        let s = Subnet::parse(
            &json!({"subnet": {"ip_prefix": "10.1.2.0", "ip_prefix_len": 24},
            "addr_from_start": true, "dns_server_address": "10.1.2.9"}),
        )
        .expect("subnet");
        assert_eq!(s.gateway(), Some("10.1.2.1".parse().expect("ip")));
        assert_eq!(s.dns(), Some("10.1.2.9".parse().expect("ip")));
        let s = Subnet::parse(&json!({"subnet": {"ip_prefix": "fd00::", "ip_prefix_len": 64}}))
            .expect("subnet");
        assert_eq!(
            s.gateway(),
            Some("fd00::ffff:ffff:ffff:fffe".parse().expect("ip"))
        );
    }

    #[test]
    fn subnet_is_found_by_uuid_then_by_prefix() {
        let subnets: Vec<Subnet> = [
            json!({"subnet": {"ip_prefix": "10.0.0.0", "ip_prefix_len": 8}, "subnet_uuid": "a"}),
            json!({"subnet": {"ip_prefix": "10.1.0.0", "ip_prefix_len": 16}, "subnet_uuid": "b"}),
        ]
        .iter()
        .filter_map(Subnet::parse)
        .collect();
        let ip: IpAddr = "10.1.0.5".parse().expect("ip");
        assert_eq!(
            find_subnet(&subnets, ip, Some("b")).map(|s| s.prefix.prefix_len()),
            Some(16)
        );
        assert_eq!(
            find_subnet(&subnets, ip, None).map(|s| s.prefix.prefix_len()),
            Some(8)
        );
        assert!(find_subnet(&subnets, "11.0.0.1".parse().expect("ip"), None).is_none());
    }
}
