//! What the emulated agent learns from a Contrail config API, read over HTTP with the upstream
//! REST shapes only (so it works against the project's config API emulator or any
//! upstream-shaped server), or straight from the config API emulator of the same process.
//!
//! The real agent is sent config by the control node (XMPP): only what hangs off its own
//! `virtual-router`, the one whose fq-name is `[default-global-system-config, <host name>]`
//! (virtual-router → virtual-machine → virtual-machine-interface → instance-ip,
//! virtual-network → network-ipam). So a virtual-machine is learnt only when that router refers
//! to it; a router of another name, or one found by its address, does not count, and its
//! `virtual_router_ip_address` plays no part.
//!
//! Per interface, the agent keeps (Juniper/contrail-controller, branch R2008):
//! - `src/vnsw/agent/oper/vm_interface_config.cc`: the VM and network it refers to, its first
//!   MAC address, its annotations; `BuildInstanceIp`: the primary address of each family is the
//!   lowest one among the instance IPs that are not `instance_ip_secondary`,
//!   `service_instance_ip` or `service_health_check_ip` (the family is the address's own;
//!   `0.0.0.0` and `::` are skipped);
//! - `src/vnsw/agent/oper/vn.cc`: the network's subnets, from the IPAM refs' `ipam_subnets`, or
//!   the IPAM's own `ipam_subnets.subnets` when its `ipam_subnet_method` is `flat-subnet`
//!   (`BuildData`); a subnet's DNS server is its `dns_server_address`, or its `default_gateway`
//!   when that is absent or unspecified (`BuildVnIpamData`); subnets are kept sorted by
//!   (prefix, length) and an address belongs to the first that contains it (`GetIpam`). The
//!   instance IP's `subnet_uuid` plays no part.
//! - `src/vnsw/agent/oper/vm.cc`: a virtual-machine is found by name through its fq-name
//!   (`VmTable::GetVmUuid`).
//!
//! Objects read: `GET /virtual-machine/<uuid>` (`virtual_machine_interface_back_refs`,
//! `virtual_router_back_refs`), `POST /fqname-to-id` and `GET /virtual-router/<uuid>`
//! (`virtual_machine_refs`) for the agent's own router when the VM's back-refs do not show it,
//! `GET /virtual-machine-interface/<uuid>`, `GET /instance-ip/<uuid>`,
//! `GET /virtual-network/<uuid>`, `GET /network-ipam/<uuid>`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use ipnet::IpNet;
use serde_json::{Value, json};

use contrail_mesos::http::server::percent_encode;

/// The first element of every virtual-router's fq-name.
pub(super) const GLOBAL_SYSTEM_CONFIG: &str = "default-global-system-config";

/// One interface as the agent holds it once it has its config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct VmiConfig {
    pub vmi_uuid: String,
    /// The virtual-machine the interface refers to.
    pub vm_uuid: String,
    /// The network the interface refers to (`None`: no ref, the agent's nil uuid).
    pub vn_uuid: Option<String>,
    /// The network's fq-name joined with `:`, when the agent holds the network itself.
    pub vn_name: Option<String>,
    /// The first of `virtual_machine_interface_mac_addresses`, as configured (empty: none).
    pub mac: String,
    pub annotations: Vec<(String, String)>,
    /// The primary IPv4 address, if any.
    pub ip4: Option<Ipv4Addr>,
    /// The primary IPv6 address, if any.
    pub ip6: Option<Ipv6Addr>,
    /// The subnet holding the primary IPv4 address (`0.0.0.0` when there is none).
    pub ipam4: Option<Ipam>,
    /// The subnet holding the primary IPv6 address (`::` when there is none).
    pub ipam6: Option<Ipam>,
}

/// What the agent reports from a subnet (`VnIpam`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ipam {
    pub plen: u8,
    pub gateway: IpAddr,
    pub dns: IpAddr,
}

/// Where the agent learns config: a config API over HTTP, or the config API emulator of the same
/// process read directly.
pub(super) enum ConfigApi {
    Http {
        base: String,
        token: Option<String>,
        http: ureq::Agent,
    },
    Local(crate::config_api::ConfigHandle),
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

    /// Does the agent's own router (`[default-global-system-config, host]`) refer to the
    /// virtual-machine `vm_uuid` (object `vm`)? Read from the VM's `virtual_router_back_refs`,
    /// else from the router's `virtual_machine_refs`, for servers that do not render back-refs.
    fn on_own_router(&self, host: &str, vm_uuid: &str, vm: &Value) -> Result<bool> {
        let own = [GLOBAL_SYSTEM_CONFIG, host];
        let is_own = |fq: &[String]| fq.len() == 2 && fq[0] == own[0] && fq[1] == own[1];
        if refs(vm, "virtual_router_back_refs")
            .iter()
            .any(|r| is_own(&r.fq_name))
        {
            return Ok(true);
        }
        let Some(router_uuid) = self.fq_name_to_id("virtual-router", &own)? else {
            return Ok(false);
        };
        let Some(router) = self.get("virtual-router", &router_uuid)? else {
            return Ok(false);
        };
        Ok(refs(&router, "virtual_machine_refs")
            .iter()
            .any(|r| r.uuid == vm_uuid))
    }

    /// The virtual-machine `vm_uuid` as the agent on `host` holds it: `None` when the agent does
    /// not learn it (unknown, or not referred to by the agent's own router); else its interfaces
    /// (`vmvn_to_vmi_tree_`), ordered by uuid.
    pub(super) fn vm_interfaces(
        &self,
        host: &str,
        vm_uuid: &str,
    ) -> Result<Option<Vec<VmiConfig>>> {
        let Some(vm) = self.get("virtual-machine", vm_uuid)? else {
            return Ok(None);
        };
        if !self.on_own_router(host, vm_uuid, &vm)? {
            return Ok(None);
        }
        let mut vmi_uuids: Vec<String> = refs(&vm, "virtual_machine_interface_back_refs")
            .into_iter()
            .map(|r| r.uuid)
            .collect();
        vmi_uuids.sort();
        vmi_uuids.dedup();
        let mut out = Vec::with_capacity(vmi_uuids.len());
        for uuid in vmi_uuids {
            let Some(vmi) = self.get("virtual-machine-interface", &uuid)? else {
                continue;
            };
            if first_ref(&vmi, "virtual_machine_refs").is_some_and(|r| r.uuid == vm_uuid) {
                out.push(self.vmi_config(&uuid, vm_uuid, &vmi)?);
            }
        }
        Ok(Some(out))
    }

    /// The uuid of the virtual-machine whose fq-name is `[name]`, when the agent on `host`
    /// learns it.
    pub(super) fn vm_by_name(&self, host: &str, name: &str) -> Result<Option<String>> {
        let Some(vm_uuid) = self.fq_name_to_id("virtual-machine", &[name])? else {
            return Ok(None);
        };
        let Some(vm) = self.get("virtual-machine", &vm_uuid)? else {
            return Ok(None);
        };
        Ok(self.on_own_router(host, &vm_uuid, &vm)?.then_some(vm_uuid))
    }

    /// One interface, when the agent on `host` learns it (through its virtual-machine).
    pub(super) fn interface(&self, host: &str, vmi_uuid: &str) -> Result<Option<VmiConfig>> {
        let Some(vmi) = self.get("virtual-machine-interface", vmi_uuid)? else {
            return Ok(None);
        };
        let Some(vm_ref) = first_ref(&vmi, "virtual_machine_refs") else {
            return Ok(None);
        };
        let Some(vm) = self.get("virtual-machine", &vm_ref.uuid)? else {
            return Ok(None);
        };
        if !self.on_own_router(host, &vm_ref.uuid, &vm)? {
            return Ok(None);
        }
        self.vmi_config(vmi_uuid, &vm_ref.uuid, &vmi).map(Some)
    }

    fn vmi_config(&self, vmi_uuid: &str, vm_uuid: &str, vmi: &Value) -> Result<VmiConfig> {
        let mut ip4: Option<Ipv4Addr> = None;
        let mut ip6: Option<Ipv6Addr> = None;
        for iip_ref in refs(vmi, "instance_ip_back_refs") {
            let Some(iip) = self.get("instance-ip", &iip_ref.uuid)? else {
                continue;
            };
            let flag = |k: &str| iip.get(k).and_then(Value::as_bool).unwrap_or(false);
            if flag("instance_ip_secondary")
                || flag("service_instance_ip")
                || flag("service_health_check_ip")
            {
                continue;
            }
            match iip
                .get("instance_ip_address")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<IpAddr>().ok())
            {
                Some(IpAddr::V4(a)) if !a.is_unspecified() => {
                    ip4 = Some(ip4.map_or(a, |b| b.min(a)));
                }
                Some(IpAddr::V6(a)) if !a.is_unspecified() => {
                    ip6 = Some(ip6.map_or(a, |b| b.min(a)));
                }
                _ => {}
            }
        }
        let vn_ref = first_ref(vmi, "virtual_network_refs");
        let vn = match &vn_ref {
            Some(r) => self.get("virtual-network", &r.uuid)?,
            None => None,
        };
        let subnets = match &vn {
            Some(vn) => self.subnets(vn)?,
            None => Vec::new(),
        };
        let ipam = |a: IpAddr| find_ipam(&subnets, a);
        Ok(VmiConfig {
            vmi_uuid: vmi_uuid.to_string(),
            vm_uuid: vm_uuid.to_string(),
            vn_uuid: vn_ref.map(|r| r.uuid),
            vn_name: vn.as_ref().map(|v| fq_name(v).join(":")),
            mac: vmi
                .pointer("/virtual_machine_interface_mac_addresses/mac_address/0")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            annotations: annotations(vmi),
            ipam4: ipam(IpAddr::V4(ip4.unwrap_or(Ipv4Addr::UNSPECIFIED))),
            ipam6: ipam(IpAddr::V6(ip6.unwrap_or(Ipv6Addr::UNSPECIFIED))),
            ip4,
            ip6,
        })
    }

    /// The subnets of a virtual-network, sorted as the agent keeps them.
    fn subnets(&self, vn: &Value) -> Result<Vec<Subnet>> {
        let mut out = Vec::new();
        for r in vn
            .get("network_ipam_refs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let on_ref: Vec<Subnet> = r
                .pointer("/attr/ipam_subnets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Subnet::parse)
                .collect();
            if !on_ref.is_empty() {
                out.extend(on_ref);
                continue;
            }
            // No subnet on the ref: a flat-subnet IPAM carries them itself.
            let Some(uuid) = r.get("uuid").and_then(Value::as_str) else {
                continue;
            };
            let Some(ipam) = self.get("network-ipam", uuid)? else {
                continue;
            };
            let flat = ipam
                .get("ipam_subnet_method")
                .and_then(Value::as_str)
                .is_some_and(|m| m.eq_ignore_ascii_case("flat-subnet"));
            if flat {
                out.extend(
                    ipam.pointer("/ipam_subnets/subnets")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Subnet::parse),
                );
            }
        }
        out.sort_by_key(|s| (s.prefix.is_ipv6(), s.prefix, s.plen));
        Ok(out)
    }
}

/// What the agent still holds when the config API cannot be read: the last answers it had
/// (the real agent keeps its config while the control node is away). A read that succeeds
/// replaces them; one that finds nothing forgets them.
#[derive(Debug, Default)]
pub(super) struct Learnt {
    vms: HashMap<String, Vec<VmiConfig>>,
    names: HashMap<String, String>,
    vmis: HashMap<String, VmiConfig>,
}

fn remember<T: Clone>(
    cache: &mut HashMap<String, T>,
    key: &str,
    read: Result<Option<T>>,
) -> Option<T> {
    match read {
        Ok(Some(v)) => {
            cache.insert(key.to_string(), v.clone());
            Some(v)
        }
        Ok(None) => {
            cache.remove(key);
            None
        }
        Err(e) => {
            log::debug!("agent-sim: config API: {e:#}");
            cache.get(key).cloned()
        }
    }
}

impl Learnt {
    pub(super) fn vm_interfaces(
        &mut self,
        vm_uuid: &str,
        read: Result<Option<Vec<VmiConfig>>>,
    ) -> Option<Vec<VmiConfig>> {
        remember(&mut self.vms, vm_uuid, read)
    }

    pub(super) fn vm_by_name(
        &mut self,
        name: &str,
        read: Result<Option<String>>,
    ) -> Option<String> {
        remember(&mut self.names, name, read)
    }

    pub(super) fn interface(
        &mut self,
        vmi_uuid: &str,
        read: Result<Option<VmiConfig>>,
    ) -> Option<VmiConfig> {
        let failed = read.is_err();
        let found = remember(&mut self.vmis, vmi_uuid, read);
        if found.is_none() && failed {
            return self
                .vms
                .values()
                .flatten()
                .find(|c| c.vmi_uuid == vmi_uuid)
                .cloned();
        }
        found
    }

    pub(super) fn clear(&mut self) {
        self.vms.clear();
        self.names.clear();
        self.vmis.clear();
    }
}

struct Ref {
    uuid: String,
    fq_name: Vec<String>,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn fq_name(obj: &Value) -> Vec<String> {
    strings(obj.get("fq_name"))
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
                fq_name: strings(r.get("to")),
            })
        })
        .collect()
}

fn first_ref(obj: &Value, field: &str) -> Option<Ref> {
    refs(obj, field).into_iter().next()
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

/// One `IpamSubnetType` as the agent keeps it (`VnIpam`).
#[derive(Debug, Clone)]
struct Subnet {
    /// `subnet.ip_prefix` as configured (not truncated to the length).
    prefix: IpAddr,
    plen: u8,
    gateway: IpAddr,
    dns: IpAddr,
}

impl Subnet {
    fn parse(v: &Value) -> Option<Self> {
        let prefix: IpAddr = v.pointer("/subnet/ip_prefix")?.as_str()?.parse().ok()?;
        let plen = u8::try_from(v.pointer("/subnet/ip_prefix_len")?.as_u64()?).ok()?;
        IpNet::new(prefix, plen).ok()?;
        let addr = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<IpAddr>().ok())
        };
        // An unparsable gateway is the unspecified address; a missing or unspecified DNS server
        // is the gateway (`VnTable::BuildVnIpamData`).
        let unspecified = match prefix {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let gateway = addr("default_gateway").unwrap_or(unspecified);
        let dns = addr("dns_server_address")
            .filter(|a| !a.is_unspecified())
            .unwrap_or(gateway);
        Some(Self {
            prefix,
            plen,
            gateway,
            dns,
        })
    }

    fn contains(&self, a: IpAddr) -> bool {
        IpNet::new(self.prefix, self.plen).is_ok_and(|n| n.trunc().contains(&a))
    }
}

/// `VnEntry::GetIpam`: the first subnet (in the agent's order) that holds the address.
fn find_ipam(subnets: &[Subnet], a: IpAddr) -> Option<Ipam> {
    subnets.iter().find(|s| s.contains(a)).map(|s| Ipam {
        plen: s.plen,
        gateway: s.gateway,
        dns: s.dns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnets(list: &[Value]) -> Vec<Subnet> {
        let mut v: Vec<Subnet> = list.iter().filter_map(Subnet::parse).collect();
        v.sort_by_key(|s| (s.prefix.is_ipv6(), s.prefix, s.plen));
        v
    }

    #[test]
    fn dns_falls_back_to_the_gateway_and_the_first_sorted_subnet_wins() {
        let s = subnets(&[
            json!({"subnet": {"ip_prefix": "10.1.0.0", "ip_prefix_len": 16},
                   "default_gateway": "10.1.0.1", "dns_server_address": "0.0.0.0"}),
            json!({"subnet": {"ip_prefix": "10.0.0.0", "ip_prefix_len": 8},
                   "default_gateway": "10.0.0.1", "dns_server_address": "10.0.0.2"}),
            json!({"subnet": {"ip_prefix": "fd00::", "ip_prefix_len": 64}}),
        ]);
        let a = find_ipam(&s, "10.1.0.5".parse().expect("ip")).expect("found");
        assert_eq!(a.plen, 8, "10.0.0.0/8 sorts before 10.1.0.0/16");
        let a = find_ipam(&s, "10.200.0.5".parse().expect("ip")).expect("found");
        assert_eq!(a.dns, "10.0.0.2".parse::<IpAddr>().expect("ip"));
        let only16 = subnets(&[
            json!({"subnet": {"ip_prefix": "10.1.0.0", "ip_prefix_len": 16},
                   "default_gateway": "10.1.0.1", "dns_server_address": "0.0.0.0"}),
        ]);
        let a = find_ipam(&only16, "10.1.0.5".parse().expect("ip")).expect("found");
        assert_eq!(a.dns, a.gateway, "unspecified DNS is the gateway");
        let a = find_ipam(&s, "fd00::5".parse().expect("ip")).expect("found");
        assert_eq!(a.gateway, "::".parse::<IpAddr>().expect("ip"));
        assert!(find_ipam(&s, "0.0.0.0".parse().expect("ip")).is_none());
        assert!(find_ipam(&s, "::".parse().expect("ip")).is_none());
    }
}
