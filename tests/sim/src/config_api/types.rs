//! Per-type rules of the real API server (Juniper/contrail-controller R2005,
//! `src/config/api-server/vnc_cfg_api_server/`: `resources/virtual_network.py`,
//! `network_ipam.py`, `instance_ip.py`, `floating_ip.py`, `virtual_machine_interface.py`,
//! `network_policy.py` (see `policy.rs`) and `vnc_addr_mgmt.py`): subnets (IPv4 and IPv6) and
//! address pools of networks and flat-subnet IPAMs, address allocation for instance-ips and
//! floating-ips, MAC addresses of interfaces, server-assigned ids, provider networks (a network
//! refers to at most one, ip-fabric), the rules of network policies, the IPAM DNS method
//! changes refused while interfaces exist (`network_ipam.py` `is_change_allowed`). R2005 has no
//! `global_vrouter_config.py`: the global-vrouter-config is checked against the schema only.
//! Statuses and messages are upstream's:
//!
//! - a subnet `net_check_subnet` refuses (subnet uuid, allocation pool, gateway, DNS address)
//!   is 409, overlapping subnets 400, a subnet the allocator cannot be built for (DNS name
//!   server, `alloc_unit`, overlapping allocation pools, a pool too small to hand anything out
//!   such as a /31 or /32) 500, as `virtual_network.py` / `network_ipam.py` map them;
//! - an instance-ip that gets no address is 400 with `AddrMgmt`'s text ("has exhausted
//!   subnet", "has invalid subnet", "has no defined subnets"); an `instance_ip_family` the
//!   requested address does not have finds no subnet, so is the same 400 "exhausted";
//! - every failed floating-ip allocation is 500 (`floating_ip.py` catches all); floating IPs
//!   come from IPv4 subnets only (`ip_alloc_req`'s `asked_ip_version` defaults to 4 and
//!   `floating_ip.py` passes none).
//!
//! Upstream quirks kept on purpose, so that clients meet them here first:
//! - `subnet_uuid` naming an exhausted user-defined subnet: `_net_ip_alloc_req` returns no
//!   address instead of failing, and the instance-ip is created without
//!   `instance_ip_address` (200);
//! - a floating-ip-pool with `floating_ip_pool_subnets`: `floating_ip.py` allocates from every
//!   listed subnet (keeping the last address, leaking the others), and any failure there is
//!   500 "'AddrMgmt' object has no attribute 'AddrMgmtSubnetExhausted'";
//! - the server never sets `instance_ip_family`;
//! - interface bindings naming a host no virtual-router has, while some router exists, get
//!   `vif_type` `vhostuser` (`_is_dpdk_enabled` answers with the router list).
//!
//! Every hook checks first and changes state last, so a refused request leaves no trace
//! (except where upstream leaks, as above).

use std::collections::{BTreeSet, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::dns;
use super::error::{ApiError, ApiResult};
use super::ipam::{Pool, default_gw_dns, parse_subnet, pools_hold_addresses, subnet_name};
use super::policy::check_network_policy_rules;
use super::pyfmt::{list_repr, value_str};
use super::schema::falsy;
use super::store::{Obj, Store};

/// The global system config every router and the global-vrouter-config hang off.
pub const GSC: &str = "default-global-system-config";
const IP_FABRIC_VN: [&str; 3] = ["default-domain", "default-project", "ip-fabric"];
const LINK_LOCAL_VN: [&str; 3] = ["default-domain", "default-project", "__link_local__"];
const FLAT: &str = "flat-subnet";

/// ip-fabric and link-local: the server creates them and never allocates from them.
pub fn is_system_vn(fq: &[String]) -> bool {
    fq == IP_FABRIC_VN || fq == LINK_LOCAL_VN
}

fn new_uuid() -> String {
    Uuid::new_v4().to_string()
}

fn str_prop<'a>(o: &'a Obj, name: &str) -> Option<&'a str> {
    o.props.get(name).and_then(Value::as_str)
}

/// Hook before an object is stored.
pub fn before_create(store: &mut Store, obj: &mut Obj) -> ApiResult<()> {
    match obj.ty.as_str() {
        "virtual-network" => vn_create(store, obj),
        "network-ipam" => ipam_write(store, obj, None, &HashSet::new()),
        "instance-ip" => iip_create(store, obj),
        "floating-ip" => fip_create(store, obj),
        "virtual-machine-interface" => vmi_create(store, obj),
        "security-group" => {
            let id = store.alloc_sg_id();
            obj.props
                .insert("security_group_id".into(), Value::from(id));
            fill_rule_uuids(obj, "security_group_entries");
            Ok(())
        }
        "network-policy" => check_network_policy_rules(obj.props.get_mut("network_policy_entries")),
        "floating-ip-pool" => fip_pool_create(store, obj),
        "virtual-DNS" => {
            dns::check_server(store, obj, None)?;
            dns::share_with_domain(obj);
            Ok(())
        }
        "virtual-DNS-record" => dns::check_record(store, obj, None),
        _ => Ok(()),
    }
}

/// `floating_ip_pool.py` pre_dbe_create: the subnets a pool names must be subnets of its
/// network (400).
fn fip_pool_create(store: &Store, pool: &Obj) -> ApiResult<()> {
    if pool
        .parent
        .as_ref()
        .is_none_or(|(t, _)| t != "virtual-network")
    {
        return Ok(());
    }
    let wanted: Vec<String> = pool
        .props
        .get("floating_ip_pool_subnets")
        .and_then(|s| s.get("subnet_uuid"))
        .and_then(Value::as_array)
        .map(|a| a.iter().map(value_str).collect())
        .unwrap_or_default();
    if wanted.is_empty() {
        return Ok(());
    }
    let n = pool.fq_name.len();
    let vn_fq = pool.fq_name.get(..n.saturating_sub(1)).unwrap_or_default();
    let Some(vn) = store
        .find("virtual-network", vn_fq)
        .and_then(|u| store.get(u))
    else {
        return Ok(());
    };
    let have: Vec<&str> = vn
        .refs
        .get("network_ipam_refs")
        .into_iter()
        .flatten()
        .flat_map(|r| {
            r.attr
                .get("ipam_subnets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter_map(|s| s.get("subnet_uuid").and_then(Value::as_str))
        .collect();
    match wanted.iter().find(|w| !have.contains(&w.as_str())) {
        Some(w) => Err(ApiError::bad_request(format!(
            "Subnet {w} was not found in virtual-network {}",
            vn.uuid
        ))),
        None => Ok(()),
    }
}

/// Hook before an update is stored. `new` is the stored object with the request applied,
/// `changed` the keys the request carried.
pub fn before_update(
    store: &mut Store,
    old: &Obj,
    new: &mut Obj,
    changed: &HashSet<String>,
) -> ApiResult<()> {
    match old.ty.as_str() {
        // `virtual_network.py` lets every update of the link-local network through.
        "virtual-network" if old.fq_name == LINK_LOCAL_VN => Ok(()),
        "virtual-network" => {
            let requested = new.props.get("virtual_network_network_id");
            if changed.contains("virtual_network_network_id")
                && requested.is_some_and(|v| !v.is_null())
                && requested != old.props.get("virtual_network_network_id")
            {
                return Err(ApiError::new(403, "Cannot update the virtual network ID"));
            }
            if changed.contains("virtual_network_network_id")
                && let Some(id) = old.props.get("virtual_network_network_id")
            {
                new.props
                    .insert("virtual_network_network_id".into(), id.clone());
            }
            if changed.contains("is_provider_network") {
                let req = new.props.get("is_provider_network").unwrap_or(&Value::Null);
                if *req != Value::Bool(is_provider(old)) {
                    return Err(ApiError::bad_request(format!(
                        "Update is_provider_network property of VN ({}) is not allowed",
                        old.uuid
                    )));
                }
            }
            if changed.contains("virtual_network_refs") {
                check_provider_network(store, new, is_provider(old))?;
            }
            if changed.contains("network_ipam_refs") {
                let plan = vn_subnets(store, new, Some(old))?;
                plan.apply(store, &new.uuid);
            } else if changed.contains("virtual_network_properties") {
                check_flat_needs_l3(store, new)?;
            }
            Ok(())
        }
        "network-ipam" => ipam_write(store, new, Some(old), changed),
        "instance-ip" => {
            let req = new.props.get("instance_ip_address").and_then(Value::as_str);
            let db = old.props.get("instance_ip_address").and_then(Value::as_str);
            if changed.contains("instance_ip_address") && req.is_some() && req != db {
                return Err(ApiError::bad_request(
                    "Instance IP Address can not be changed",
                ));
            }
            // a gateway address stays on router ports
            let vn = old
                .refs
                .get("virtual_network_refs")
                .and_then(|r| r.first())
                .map(|r| r.uuid.clone());
            if let (Some(vn), Some(addr)) = (vn, db)
                && changed.contains("virtual_machine_interface_refs")
                && !store.get(&vn).is_some_and(|v| is_system_vn(&v.fq_name))
                && is_gateway(store, &vn, addr)
                && vmi_has_vm_ref(store, new)
            {
                return Err(ApiError::bad_request(
                    "Gateway IP cannot be used by VM port",
                ));
            }
            Ok(())
        }
        "security-group" => {
            if let Some(id) = old.props.get("security_group_id") {
                new.props.insert("security_group_id".into(), id.clone());
            }
            fill_rule_uuids(new, "security_group_entries");
            Ok(())
        }
        // `network_policy.py` checks the rules the request carries.
        "network-policy" if changed.contains("network_policy_entries") => {
            check_network_policy_rules(new.props.get_mut("network_policy_entries"))
        }
        "virtual-DNS" => dns::check_server(store, new, Some(changed)),
        "virtual-DNS-record" => dns::check_record(store, new, Some(changed)),
        _ => Ok(()),
    }
}

/// Hook before an object is removed, after the children and back-reference checks
/// (`pre_dbe_delete`).
pub fn before_delete(store: &Store, obj: &Obj) -> ApiResult<()> {
    match obj.ty.as_str() {
        "virtual-DNS" => dns::check_server_delete(store, obj),
        _ => Ok(()),
    }
}

/// Hook after an object was removed: give its addresses and pools back; an interface bound
/// to a host takes that host's virtual-router off its VM.
pub fn after_delete(store: &mut Store, obj: &Obj) {
    match obj.ty.as_str() {
        // `resources/virtual_machine_interface.py` `pre_dbe_delete`: with a
        // `virtual_machine_interface_bindings` `host_id`, `_check_vrouter_link` removes the
        // reference from `[default-global-system-config, <host_id>]` to the interface's
        // (first) VM, whatever other interfaces that VM still has.
        "virtual-machine-interface" => {
            let host = obj
                .props
                .get("virtual_machine_interface_bindings")
                .and_then(|b| {
                    b["key_value_pair"]
                        .as_array()?
                        .iter()
                        .find(|kv| kv["key"] == "host_id")?["value"]
                        .as_str()
                        .map(str::to_string)
                });
            let vm = obj
                .refs
                .get("virtual_machine_refs")
                .and_then(|r| r.first())
                .map(|r| r.uuid.clone());
            if let (Some(host), Some(vm)) = (host, vm) {
                let router = [GSC.to_string(), host];
                if let Some(vr) = store.find("virtual-router", &router).map(str::to_string) {
                    store.remove_ref(&vr, "virtual_machine_refs", &vm);
                }
            }
        }
        "virtual-network" | "network-ipam" => store.ipam.remove_owner(&obj.uuid),
        "instance-ip" => {
            let vn = obj
                .refs
                .get("virtual_network_refs")
                .and_then(|r| r.first())
                .map(|r| r.uuid.clone());
            if let (Some(vn), Some(ip)) = (vn, addr_prop(obj, "instance_ip_address")) {
                release(store, &vn, ip, &obj.uuid);
            }
        }
        "floating-ip" => {
            if let Some(vn) = fip_network(store, obj)
                && let Some(ip) = addr_prop(obj, "floating_ip_address")
            {
                release(store, &vn, ip, &obj.uuid);
            }
        }
        _ => {}
    }
}

fn addr_prop(obj: &Obj, name: &str) -> Option<IpAddr> {
    str_prop(obj, name).and_then(|s| s.parse().ok())
}

// ---------------------------------------------------------------------------------------------
// subnets of networks and IPAMs

/// Pools to create, change and drop, decided during the checks.
#[derive(Default)]
struct SubnetPlan {
    add: Vec<(String, Pool)>,
    /// existing subnets whose pool changes (new DNS address, more allocation pools)
    change: Vec<(String, Pool)>,
    remove: Vec<String>,
}

impl SubnetPlan {
    /// The pool of each requested subnet: an existing one (changed as the request says) or a
    /// new one, each recorded in the plan. `dns_moves` as in [`changed_pool`].
    fn pools<'a>(
        &mut self,
        store: &Store,
        owner: &str,
        fq: &str,
        subnets: impl IntoIterator<Item = &'a SubnetReq>,
        existing: &BTreeSet<String>,
        dns_moves: bool,
    ) -> ApiResult<Vec<Pool>> {
        let mut pools = Vec::new();
        for s in subnets {
            let pool = match store
                .ipam
                .get(owner, &s.name)
                .filter(|_| existing.contains(&s.name))
            {
                Some(db) => match changed_pool(fq, s, db, dns_moves)? {
                    Some(p) => {
                        self.change.push((s.name.clone(), p.clone()));
                        p
                    }
                    None => db.clone(),
                },
                None => {
                    let p = new_pool(fq, s)?;
                    self.add.push((s.name.clone(), p.clone()));
                    p
                }
            };
            pools.push(pool);
        }
        Ok(pools)
    }

    fn apply(self, store: &mut Store, owner: &str) {
        for name in self.remove {
            store.ipam.remove(owner, &name);
        }
        for (name, pool) in self.add.into_iter().chain(self.change) {
            store.ipam.insert(owner, &name, pool);
        }
    }
}

/// An optional address-like field: absent, null, empty and the string "None" are none (as
/// `if gw and gw != 'None'`).
fn text_opt(entry: &Map<String, Value>, key: &str) -> Option<String> {
    entry
        .get(key)
        .filter(|v| !falsy(v))
        .map(value_str)
        .filter(|s| s != "None")
}

/// One user-defined subnet of a request, as `net_check_subnet` sees it.
struct SubnetReq {
    name: String,
    net: IpNet,
    gw: Option<String>,
    dns: Option<String>,
    from_start: bool,
    /// allocation pools as given (strings) and parsed
    pools_raw: Vec<(String, String)>,
    pools: Vec<(IpAddr, IpAddr)>,
    nameservers: Vec<String>,
    alloc_unit: i64,
}

/// The subnet of an `IpamSubnetType` entry. The schema check has normalised `ip_prefix`; an
/// entry without one is a 400 here (upstream: a 500 KeyError).
fn entry_net(e: &Map<String, Value>) -> ApiResult<IpNet> {
    let subnet = e.get("subnet").and_then(Value::as_object);
    let prefix = subnet
        .and_then(|s| s.get("ip_prefix"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let len = subnet
        .and_then(|s| s.get("ip_prefix_len"))
        .and_then(Value::as_i64)
        .unwrap_or(-1);
    parse_subnet(prefix, len).ok_or_else(|| {
        ApiError::bad_request(format!(
            "Bad Request, invalid subnet ip_prefix {prefix:?} ip_prefix_len {len}"
        ))
    })
}

/// `AddrMgmt.net_check_subnet`: the checks on one subnet before anything is allocated.
/// `Err(Ok(msg))` is the server's refusal (the caller's status, 409 upstream), `Err(Err(e))`
/// a malformed entry.
fn check_subnet(entry: &Value) -> Result<SubnetReq, Result<String, ApiError>> {
    let Some(e) = entry.as_object() else {
        return Err(Err(ApiError::bad_request(
            "Bad Request, ipam_subnets entries must be IpamSubnetType objects",
        )));
    };
    let net = entry_net(e).map_err(Err)?;
    let name = subnet_name(&net);
    if let Some(u) = e.get("subnet_uuid").filter(|v| !falsy(v))
        && u.as_str().is_none_or(|s| Uuid::parse_str(s).is_err())
    {
        return Err(Ok(format!(
            "Invalid subnet-uuid {} in subnet:{name}",
            value_str(u)
        )));
    }
    let mut pools_raw = Vec::new();
    let mut pools = Vec::new();
    for p in e
        .get("allocation_pools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let start = p.get("start").map(value_str).unwrap_or("None".into());
        let end = p.get("end").map(value_str).unwrap_or("None".into());
        // netaddr.IPRange: both parse, in the start's family, start <= end
        let parsed = match (start.parse::<IpAddr>(), end.parse::<IpAddr>()) {
            (Ok(s), Ok(t)) if s.is_ipv4() == t.is_ipv4() && s <= t => Some((s, t)),
            _ => None,
        };
        let Some((s, t)) = parsed else {
            return Err(Ok(format!(
                "Invalid allocation Pool start:{start}, end:{end} in subnet:{name}"
            )));
        };
        if !net.contains(&s) || !net.contains(&t) {
            return Err(Ok(format!(
                "allocation pool start:{start}, end:{end} out of cidr:{name}"
            )));
        }
        pools_raw.push((start, end));
        pools.push((s, t));
    }
    let gw = text_opt(e, "default_gateway");
    if let Some(g) = &gw {
        let Ok(ip) = g.parse::<IpAddr>() else {
            return Err(Ok(format!("Invalid gateway Ip address:{g}")));
        };
        // netaddr compares addresses of different families by version: never in the cidr
        let inside = || {
            let (first, last) = (net.network(), net.broadcast());
            let lo = super::ipam::from_int(super::ipam::to_int(first).saturating_add(1), &net);
            let hi = super::ipam::from_int(super::ipam::to_int(last).saturating_sub(1), &net);
            ip.is_ipv4() == lo.is_ipv4() && lo <= ip && ip <= hi
        };
        if !ip.is_unspecified() && !inside() {
            return Err(Ok(format!("gateway Ip {g} out of cidr: {name}")));
        }
    }
    let dns = text_opt(e, "dns_server_address");
    if let Some(d) = &dns
        && d.parse::<IpAddr>().is_err()
    {
        return Err(Ok(format!("Invalid Dns Server Ip address:{d}")));
    }
    let nameservers = e
        .get("dns_nameservers")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(value_str).collect())
        .unwrap_or_default();
    let alloc_unit = e
        .get("alloc_unit")
        .filter(|v| !falsy(v))
        .and_then(Value::as_i64)
        .unwrap_or(1);
    Ok(SubnetReq {
        name,
        net,
        gw,
        dns,
        from_start: e.get("addr_from_start").is_some_and(|v| !falsy(v)),
        pools_raw,
        pools,
        nameservers,
        alloc_unit,
    })
}

/// `_validate_subnet_alloc_pools`' overlap check, pairwise in the order of
/// `_check_subnet_alloc_pools` (sorted by the start string, descending).
fn pools_overlap(raw: &[(String, String)], parsed: &[(IpAddr, IpAddr)]) -> bool {
    let mut pools: Vec<(&String, (IpAddr, IpAddr))> = raw
        .iter()
        .map(|(s, _)| s)
        .zip(parsed.iter().copied())
        .collect();
    pools.sort_by(|a, b| b.0.cmp(a.0));
    for (i, (_, (s, e))) in pools.iter().enumerate() {
        for (_, (ns, ne)) in &pools[i + 1..] {
            if (s >= ns && s <= ne) || (e >= ns && e <= ne) {
                return true;
            }
        }
    }
    false
}

/// The allocator of a new subnet: `_check_subnet_alloc_pools` and `Subnet.__init__` (500 in
/// `virtual_network.py` / `network_ipam.py`). `fq` is the owner's fq_name joined by `:`.
fn new_pool(fq: &str, s: &SubnetReq) -> ApiResult<Pool> {
    let invalid = |msg: String| ApiError::new(500, msg);
    if pools_overlap(&s.pools_raw, &s.pools) {
        return Err(invalid(format!(
            "Virtual-Network({fq}) has invalid subnet({}:overlapping alloc-pools)",
            s.name
        )));
    }
    let full = format!("{fq}:{}", s.name);
    let prefix = format!("{}/{}", s.net.network(), s.net.prefix_len());
    let (def_gw, def_dns) = default_gw_dns(s.net, s.from_start);
    let gw = match &s.gw {
        Some(g) => g.parse::<IpAddr>().ok(),
        None => Some(def_gw),
    };
    let dns = match &s.dns {
        Some(d) => d.parse::<IpAddr>().ok(),
        None => Some(def_dns),
    };
    if let Some(ns) = s.nameservers.iter().find(|n| n.parse::<IpAddr>().is_err()) {
        return Err(invalid(format!(
            "subnet({full}) has Invalid DNS Nameserver({ns})"
        )));
    }
    if s.alloc_unit < 1 || s.alloc_unit & (s.alloc_unit - 1) != 0 {
        return Err(invalid(format!(
            "Virtual-Network({full}) has invalid alloc_unit({}) in subnet({prefix}) reason: \
             Not power of 2",
            s.alloc_unit
        )));
    }
    if s.alloc_unit != 1 {
        return Err(ApiError::bad_request(format!(
            "Bad Request, alloc_unit {} is not emulated (only 1)",
            s.alloc_unit
        )));
    }
    if !pools_hold_addresses(&s.net, gw, dns, &s.pools) {
        return Err(invalid(format!(
            "Virtual-Network({full}) has invalid alloc_unit(1) in subnet({prefix}) reason: \
             Pool range<=block_alloc_unit"
        )));
    }
    Ok(Pool::new(s.net, gw, dns, s.from_start, &s.pools))
}

/// An existing subnet in a request (`net_update_req` / `ipam_update_req`: the gateway check,
/// `_check_subnet_alloc_pools`, then `_create_subnet_objs`): the pool as it becomes, `None`
/// when unchanged, or the server's 500. `dns_moves`: a virtual network's subnet takes a new
/// DNS address (or the default one when the request has none); an IPAM's keeps its own.
fn changed_pool(fq: &str, s: &SubnetReq, db: &Pool, dns_moves: bool) -> ApiResult<Option<Pool>> {
    let invalid = |what: &str| {
        ApiError::new(
            500,
            format!("Virtual-Network({fq}) has invalid subnet({what})"),
        )
    };
    if let Some(g) = &s.gw {
        let db_gw = db.gw.map(|g| g.to_string().to_lowercase());
        if Some(g.to_lowercase()) != db_gw {
            return Err(invalid(&s.name));
        }
    }
    let mut pool = db.clone();
    let mut changed = false;
    let db_pools = db.configured();
    if !s.pools.is_empty() || !db_pools.is_empty() {
        if pools_overlap(&s.pools_raw, &s.pools) {
            return Err(invalid(&format!("{}:overlapping alloc-pools", s.name)));
        }
        if !db_pools.is_empty() {
            if s.pools.len() < db_pools.len() {
                return Err(invalid(&format!(
                    "{}:allocation pool delete is not allowed",
                    s.name
                )));
            }
            if db_pools.iter().any(|p| !s.pools.contains(p)) {
                return Err(invalid(&format!(
                    "{}:Allocation pool delete is not allowed",
                    s.name
                )));
            }
            if s.pools.len() > db_pools.len() {
                pool.change_ranges(&s.pools);
                changed = true;
            }
        }
    }
    if dns_moves {
        let new_dns = match &s.dns {
            Some(d) => d.parse::<IpAddr>().ok(),
            None => Some(default_gw_dns(s.net, db.addr_from_start()).1),
        };
        if let Some(new_dns) = new_dns.filter(|d| Some(*d) != db.dns) {
            if pool.contains(new_dns) && pool.is_allocated(new_dns) {
                return Err(invalid(&s.name));
            }
            pool.move_dns(new_dns);
            changed = true;
        }
    }
    Ok(changed.then_some(pool))
}

fn check_overlap(nets: &[IpNet]) -> ApiResult<()> {
    for (i, a) in nets.iter().enumerate() {
        for b in &nets[i + 1..] {
            if a.contains(b) || b.contains(a) {
                return Err(ApiError::bad_request(format!(
                    "Overlapping addresses: [IPNetwork('{a}'), IPNetwork('{b}')]"
                )));
            }
        }
    }
    Ok(())
}

/// `_check_subnet_delete`: no instance-ip of the network, then no floating-ip of its pools,
/// may hold an address in a subnet being removed (409).
fn check_subnet_delete(store: &Store, vn_uuid: &str, removed: &[IpNet]) -> ApiResult<()> {
    if removed.is_empty() {
        return Ok(());
    }
    let hit = |addr: Option<&str>| -> Option<String> {
        let s = addr?;
        let ip: IpAddr = s.parse().ok()?;
        removed
            .iter()
            .any(|n| n.contains(&ip))
            .then(|| s.to_string())
    };
    let mut iips = store.referrers_of_type(vn_uuid, "instance-ip");
    iips.sort();
    for u in &iips {
        if let Some(ip) = hit(store
            .get(u)
            .and_then(|o| str_prop(o, "instance_ip_address")))
        {
            return Err(ApiError::conflict(format!(
                "Cannot Delete IP Block, IP({ip}) is in use"
            )));
        }
    }
    for pool in store.children_of_type(vn_uuid, "floating-ip-pool") {
        for f in store.children_of_type(&pool, "floating-ip") {
            if let Some(ip) = hit(store
                .get(&f)
                .and_then(|o| str_prop(o, "floating_ip_address")))
            {
                return Err(ApiError::conflict(format!(
                    "Cannot Delete IP Block, Floating IP({ip}) is in use"
                )));
            }
        }
    }
    Ok(())
}

/// The subnets an IPAM object declares (flat-subnet IPAMs), in order.
fn ipam_nets(ipam: &Obj) -> Vec<(String, IpNet)> {
    let subnets = ipam
        .props
        .get("ipam_subnets")
        .and_then(|v| v.get("subnets"))
        .and_then(Value::as_array);
    subnets
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let sub = s.get("subnet")?;
            let net = parse_subnet(
                sub.get("ip_prefix")?.as_str()?,
                sub.get("ip_prefix_len")?.as_i64()?,
            )?;
            Some((subnet_name(&net), net))
        })
        .collect()
}

fn is_flat(ipam: &Obj) -> bool {
    str_prop(ipam, "ipam_subnet_method") == Some(FLAT)
}

fn check_flat_needs_l3(store: &Store, vn: &Obj) -> ApiResult<()> {
    let any_flat = vn
        .refs
        .get("network_ipam_refs")
        .into_iter()
        .flatten()
        .any(|r| store.get(&r.uuid).is_some_and(is_flat));
    let mode = vn
        .props
        .get("virtual_network_properties")
        .and_then(|p| p.get("forwarding_mode"))
        .and_then(Value::as_str);
    if any_flat && mode != Some("l3") {
        return Err(ApiError::bad_request(
            "flat-subnet is allowed only with l3 network",
        ));
    }
    Ok(())
}

/// Write the subnet's server-side values back into its entry (`_create_subnet_objs`).
fn write_back(entry: &mut Value, pool: &Pool, fill_uuid: bool) {
    if let Some(e) = entry.as_object_mut() {
        let show = |a: Option<IpAddr>| a.map_or("None".to_string(), |a| a.to_string());
        e.insert("default_gateway".into(), Value::String(show(pool.gw)));
        e.insert("dns_server_address".into(), Value::String(show(pool.dns)));
        if fill_uuid && e.get("subnet_uuid").is_none_or(falsy) {
            e.insert("subnet_uuid".into(), Value::String(new_uuid()));
        }
    }
}

/// `_check_ipam_network_subnets` + `net_check_subnet_delete` + `net_validate_subnet_update`
/// + `net_create_req` / `net_update_req` (`virtual_network.py`, `vnc_addr_mgmt.py`).
fn vn_subnets(store: &Store, vn: &mut Obj, old: Option<&Obj>) -> ApiResult<SubnetPlan> {
    let owner = vn.uuid.clone();
    let fq = vn.fq_name.join(":");
    let existing: BTreeSet<String> = if old.is_some() {
        store.ipam.subnets(&owner).into_iter().collect()
    } else {
        BTreeSet::new()
    };
    let mut flat_nets = Vec::new();
    // (ref index, entry index, checked subnet)
    let mut user: Vec<(usize, usize, SubnetReq)> = Vec::new();
    let refs = vn.refs.entry("network_ipam_refs".into()).or_default();
    for (ri, r) in refs.iter_mut().enumerate() {
        let Some(ipam) = store.get(&r.uuid) else {
            return Err(ApiError::bad_request(format!(
                "Unknown network-ipam {}",
                r.uuid
            )));
        };
        let Some(subnets) = r
            .attr
            .as_object_mut()
            .and_then(|a| a.get_mut("ipam_subnets"))
            .and_then(Value::as_array_mut)
        else {
            return Err(ApiError::bad_request(format!(
                "Bad reference: network_ipam_refs to {} needs attr {{\"ipam_subnets\": [...]}} \
                 (VnSubnetsType)",
                list_repr(&r.to)
            )));
        };
        if is_flat(ipam) {
            flat_nets.extend(ipam_nets(ipam).into_iter().map(|(_, n)| n));
            let user_defined = subnets.iter().any(|s| {
                s.get("subnet")
                    .and_then(|s| s.get("ip_prefix"))
                    .is_some_and(|p| !p.is_null())
            });
            if user_defined {
                return Err(ApiError::bad_request(
                    "with flat-subnet, network can not have user-defined subnet",
                ));
            }
        } else {
            for (ei, entry) in subnets.iter().enumerate() {
                match check_subnet(entry) {
                    Ok(s) => user.push((ri, ei, s)),
                    Err(Ok(msg)) => return Err(ApiError::conflict(msg)),
                    Err(Err(e)) => return Err(e),
                }
            }
        }
    }
    check_flat_needs_l3(store, vn)?;
    // `net_check_subnet_quota` reads the parent's quota: a network without a parent fails
    if vn.parent.is_none() {
        return Err(ApiError::new(500, "KeyError: 'parent_uuid'"));
    }
    let mut all = flat_nets;
    all.extend(user.iter().map(|(_, _, s)| s.net));
    check_overlap(&all)?;

    let names: BTreeSet<String> = user.iter().map(|(_, _, s)| s.name.clone()).collect();
    let mut plan = SubnetPlan {
        remove: existing.difference(&names).cloned().collect(),
        ..SubnetPlan::default()
    };
    if let Some(old) = old {
        let removed: Vec<IpNet> = plan
            .remove
            .iter()
            .filter_map(|n| store.ipam.get(&owner, n).map(|p| p.net))
            .collect();
        check_subnet_delete(store, &owner, &removed)?;
        check_gateway_updates(old, vn)?;
    }
    // net_create_req / net_update_req: allocators of new subnets, changes of existing ones
    let pools = plan.pools(
        store,
        &owner,
        &fq,
        user.iter().map(|(_, _, s)| s),
        &existing,
        true,
    )?;
    let refs = vn.refs.entry("network_ipam_refs".into()).or_default();
    for ((ri, ei, _), pool) in user.iter().zip(&pools) {
        if let Some(entry) = refs
            .get_mut(*ri)
            .and_then(|r| r.attr.get_mut("ipam_subnets"))
            .and_then(|s| s.get_mut(*ei))
        {
            write_back(entry, pool, true);
        }
    }
    // flat-subnet links hold one subnet uuid, made by the server
    for r in refs.iter_mut() {
        if !store.get(&r.uuid).is_some_and(is_flat) {
            continue;
        }
        if let Some(subnets) = r.attr.get_mut("ipam_subnets").and_then(Value::as_array_mut)
            && (old.is_none() || subnets.is_empty())
        {
            subnets.clear();
            subnets.push(json!({ "subnet_uuid": new_uuid() }));
        }
    }
    if refs.is_empty() {
        vn.refs.remove("network_ipam_refs");
    }
    Ok(plan)
}

/// `net_validate_subnet_update`: per IPAM link kept by the update, `_validate_subnet_update`.
fn check_gateway_updates(old: &Obj, new: &Obj) -> ApiResult<()> {
    let entries = |r: &super::store::Ref| -> Vec<Value> {
        r.attr
            .get("ipam_subnets")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for req_ref in new.refs.get("network_ipam_refs").into_iter().flatten() {
        let db_ref = old
            .refs
            .get("network_ipam_refs")
            .into_iter()
            .flatten()
            .find(|r| r.uuid == req_ref.uuid);
        if let Some(db_ref) = db_ref {
            validate_subnet_update(&entries(req_ref), &entries(db_ref))?;
        }
    }
    Ok(())
}

/// `_validate_subnet_update`: the gateway of a subnet kept by an update may only be left out
/// or be the default one (400). Strings compare, lowercased, as upstream does.
fn validate_subnet_update(reqs: &[Value], dbs: &[Value]) -> ApiResult<()> {
    for req in reqs {
        let Some(req_cidr) = req.get("subnet") else {
            continue;
        };
        let req_gw = req
            .get("default_gateway")
            .filter(|v| !falsy(v))
            .map(|v| value_str(v).to_lowercase());
        for db in dbs {
            if req_cidr.is_null() || db.get("subnet").is_none_or(|d| d != req_cidr) {
                continue;
            }
            let Some(net) = db.as_object().and_then(|e| entry_net(e).ok()) else {
                continue;
            };
            let db_gw = db
                .get("default_gateway")
                .filter(|v| !falsy(v))
                .map(|v| value_str(v).to_lowercase())
                .filter(|g| g != "none");
            let from_start = db.get("addr_from_start").is_some_and(|v| !falsy(v));
            let df_gw = default_gw_dns(net, from_start).0.to_string();
            if db_gw != req_gw {
                let invalid = match &req_gw {
                    None => db_gw.as_deref() != Some(df_gw.as_str()),
                    Some(g) => g != "none" && *g != df_gw,
                };
                if invalid {
                    let show = |g: &Option<String>| g.clone().unwrap_or("None".into());
                    return Err(ApiError::bad_request(format!(
                        "default gateway change is not allowed orig:{}, new: {}",
                        show(&db_gw),
                        show(&req_gw)
                    )));
                }
            }
        }
    }
    Ok(())
}

fn vn_create(store: &mut Store, vn: &mut Obj) -> ApiResult<()> {
    if vn
        .props
        .get("virtual_network_network_id")
        .is_some_and(|v| !v.is_null())
    {
        return Err(ApiError::new(403, "Cannot set the virtual network ID"));
    }
    let plan = vn_subnets(store, vn, None)?;
    // The server's own networks (ip-fabric, link-local) are made without these checks.
    if !is_system_vn(&vn.fq_name) {
        if vn
            .props
            .get("is_provider_network")
            .is_some_and(|v| !falsy(v))
        {
            return Err(ApiError::bad_request(format!(
                "Non provider VN ({}) can not be configured with is_provider_network = True",
                vn.uuid
            )));
        }
        check_provider_network(store, vn, is_provider(vn))?;
    }
    let id = store.alloc_vn_id();
    vn.props
        .insert("virtual_network_network_id".into(), Value::from(id));
    plan.apply(store, &vn.uuid);
    Ok(())
}

fn is_provider(vn: &Obj) -> bool {
    vn.props
        .get("is_provider_network")
        .is_some_and(|v| *v == Value::Bool(true))
}

/// `_check_provider_network` of `virtual_network.py`: a network that is not a provider
/// network may refer to exactly one network, and that one a provider network (ip-fabric); a
/// provider network may refer to no provider network (400).
fn check_provider_network(store: &Store, vn: &Obj, provider: bool) -> ApiResult<()> {
    let refs = vn
        .refs
        .get("virtual_network_refs")
        .map(Vec::as_slice)
        .unwrap_or_default();
    if refs.is_empty() {
        return Ok(());
    }
    let uuids: Vec<&str> = refs.iter().map(|r| r.uuid.as_str()).collect();
    if !provider && refs.len() != 1 {
        return Err(ApiError::bad_request(format!(
            "Non Provider VN ({}) can connect to one provider VN but trying to connect to VN ({})",
            vn.uuid,
            list_repr(&uuids)
        )));
    }
    let providers = uuids
        .iter()
        .filter(|u| store.get(u).is_some_and(is_provider))
        .count();
    if provider && providers > 0 {
        return Err(ApiError::bad_request(format!(
            "Provider VN ({}) can not connect to another provider VN ({})",
            vn.uuid,
            list_repr(&uuids)
        )));
    }
    if !provider && providers != 1 {
        return Err(ApiError::bad_request(format!(
            "Non Provider VN ({}) can connect only to one provider VN but not ({})",
            vn.uuid,
            list_repr(&uuids)
        )));
    }
    Ok(())
}

/// `network_ipam.py` `pre_dbe_update`'s first check (`ipam_mgmt_check`): a request that
/// carries a `network_ipam_mgmt` over a stored one (both non-empty) may change the DNS method
/// only as `is_change_allowed` lets it while an interface is on one of the IPAM's networks
/// (`is_active_vm_present`: a network referring to the IPAM has an interface back-ref).
/// 400 "Cannot change DNS Method  with active VMs referring to the IPAM" (two spaces), as
/// upstream's real API server answers (checked against `contrail-api-server/start.py`).
fn check_dns_method(
    store: &Store,
    old: &Obj,
    new: &Obj,
    changed: &HashSet<String>,
) -> ApiResult<()> {
    if !changed.contains("network_ipam_mgmt") {
        return Ok(());
    }
    let mgmt = |o: &Obj| {
        o.props
            .get("network_ipam_mgmt")
            .filter(|m| !falsy(m))
            .cloned()
    };
    let (Some(was), Some(asked)) = (mgmt(old), mgmt(new)) else {
        return Ok(());
    };
    let method = |m: &Value| {
        m.get("ipam_dns_method")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let (was, asked) = (method(&was), method(&asked));
    if dns_change_allowed(was.as_deref(), asked.as_deref()) {
        return Ok(());
    }
    let active = store
        .referrers_of_type(&old.uuid, "virtual-network")
        .iter()
        .any(|vn| {
            !store
                .referrers_of_type(vn, "virtual-machine-interface")
                .is_empty()
        });
    if active {
        return Err(ApiError::bad_request(
            "Cannot change DNS Method  with active VMs referring to the IPAM",
        ));
    }
    Ok(())
}

/// `network_ipam.py` `is_change_allowed` once an interface exists: a method unset (`None`)
/// stays unset; `tenant-dns-server` stays; `default-dns-server` and `virtual-dns-server` may
/// become anything but `tenant-dns-server` or unset; `none` may become anything.
fn dns_change_allowed(was: Option<&str>, asked: Option<&str>) -> bool {
    match was {
        Some("default-dns-server" | "virtual-dns-server") => {
            !matches!(asked, None | Some("tenant-dns-server"))
        }
        Some("tenant-dns-server") | None => asked == was,
        Some(_) => true,
    }
}

/// `network_ipam.py` pre_dbe_create / pre_dbe_update with `ipam_create_req` /
/// `ipam_update_req`: overlap (400) comes before the subnet checks (409) here.
fn ipam_write(
    store: &mut Store,
    ipam: &mut Obj,
    old: Option<&Obj>,
    changed: &HashSet<String>,
) -> ApiResult<()> {
    if let Some(old) = old {
        check_dns_method(store, old, ipam, changed)?;
        let old_method = str_prop(old, "ipam_subnet_method");
        if changed.contains("ipam_subnet_method")
            && str_prop(ipam, "ipam_subnet_method") != old_method
        {
            return Err(ApiError::bad_request(
                "ipam_subnet_method can not be changed",
            ));
        }
        if !is_flat(old) {
            if changed.contains("ipam_subnets") {
                return Err(ApiError::bad_request(
                    "ipam-subnets are allowed only with flat-subnet",
                ));
            }
            return Ok(());
        }
        if !changed.contains("ipam_subnets") {
            return Ok(());
        }
    }
    let flat = is_flat(ipam);
    let present = ipam.props.get("ipam_subnets").is_some_and(|v| !v.is_null());
    if present && !flat {
        return Err(ApiError::bad_request(
            "ipam-subnets are allowed only with flat-subnet",
        ));
    }
    if !flat || !present {
        return Ok(());
    }
    let owner = ipam.uuid.clone();
    let fq = ipam.fq_name.join(":");
    let existing: BTreeSet<String> = if old.is_some() {
        store.ipam.subnets(&owner).into_iter().collect()
    } else {
        BTreeSet::new()
    };
    let Some(list) = ipam
        .props
        .get_mut("ipam_subnets")
        .and_then(|v| v.as_object_mut())
        .map(|o| o.entry("subnets").or_insert(Value::Array(Vec::new())))
        .and_then(Value::as_array_mut)
    else {
        return Err(ApiError::bad_request(
            "Bad Request, ipam_subnets must be {\"subnets\": [IpamSubnetType...]}",
        ));
    };
    let mut nets = Vec::new();
    for entry in list.iter() {
        let e = entry.as_object().ok_or_else(|| {
            ApiError::bad_request("Bad Request, subnets entries must be IpamSubnetType objects")
        })?;
        nets.push(entry_net(e)?);
    }
    check_overlap(&nets)?;
    let mut checked = Vec::new();
    for entry in list.iter() {
        match check_subnet(entry) {
            Ok(s) => checked.push(s),
            Err(Ok(msg)) => return Err(ApiError::conflict(msg)),
            Err(Err(e)) => return Err(e),
        }
    }
    let names: BTreeSet<String> = checked.iter().map(|s| s.name.clone()).collect();
    let mut plan = SubnetPlan {
        remove: existing.difference(&names).cloned().collect(),
        ..SubnetPlan::default()
    };
    // ipam_check_subnet_delete: the networks using this IPAM must not hold addresses there
    let removed: Vec<IpNet> = plan
        .remove
        .iter()
        .filter_map(|n| store.ipam.get(&owner, n).map(|p| p.net))
        .collect();
    if !removed.is_empty() {
        for vn in store.referrers_of_type(&owner, "virtual-network") {
            check_subnet_delete(store, &vn, &removed)?;
        }
    }
    if let Some(old) = old {
        // ipam_validate_subnet_update
        let db_list = old
            .props
            .get("ipam_subnets")
            .and_then(|v| v.get("subnets"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        validate_subnet_update(list, &db_list)?;
    }
    let pools = plan.pools(store, &owner, &fq, &checked, &existing, false)?;
    for (entry, pool) in list.iter_mut().zip(&pools) {
        // flat IPAM subnets get no subnet_uuid from the server
        write_back(entry, pool, false);
    }
    plan.apply(store, &owner);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// address allocation

enum AddrErr {
    /// `AddrMgmtSubnetInvalid`: the requested subnet uuid is not on the network.
    Invalid(String),
    /// `AddrMgmtSubnetExhausted`
    Exhausted(String),
    /// anything else
    Other(String),
}

impl AddrErr {
    fn msg(self) -> String {
        match self {
            AddrErr::Invalid(m) | AddrErr::Exhausted(m) | AddrErr::Other(m) => m,
        }
    }
}

/// An allocation: the address (none when upstream hands out none without failing), the
/// subnet uuid, and whether the address is the requested gateway or DNS address, which comes
/// back as the request spelled it (nothing is reserved for it).
type Alloc = (Option<IpAddr>, Option<String>, bool);

/// What a request asks for.
struct Ask<'a> {
    /// `subnet_uuid`
    sub: Option<&'a str>,
    /// the requested address as given, and parsed
    addr: Option<(&'a str, IpAddr)>,
    /// 4 or 6 (`instance_ip_family`); floating IPs: always 4
    version: Option<u8>,
    owner: &'a str,
}

impl Ask<'_> {
    fn version_ok(&self, pool: &Pool) -> bool {
        match self.version {
            Some(4) => pool.net.network().is_ipv4(),
            Some(6) => pool.net.network().is_ipv6(),
            _ => true,
        }
    }

    /// The requested address is the subnet's gateway or DNS address (string comparison,
    /// as upstream does it): it is returned as is, nothing reserved.
    fn is_gw_or_dns(&self, pool: &Pool) -> bool {
        let show = |a: Option<IpAddr>| a.map(|a| a.to_string());
        self.addr.is_some_and(|(s, _)| {
            Some(s.to_string()) == show(pool.gw) || Some(s.to_string()) == show(pool.dns)
        })
    }
}

struct Net<'a> {
    vn: &'a Obj,
}

impl Net<'_> {
    fn exhausted(&self, tried: &[String]) -> AddrErr {
        AddrErr::Exhausted(format!(
            "Virtual-Network({}) has exhausted subnet({})",
            list_repr(&self.vn.fq_name),
            list_repr(tried)
        ))
    }

    fn invalid(&self, sub: &str) -> AddrErr {
        AddrErr::Invalid(format!(
            "Virtual-Network({}) has invalid subnet({sub})",
            list_repr(&self.vn.fq_name)
        ))
    }

    /// User-defined subnets of the network: (subnet name, subnet uuid), in order.
    fn user_subnets(&self) -> Vec<(String, Option<String>)> {
        let mut out = Vec::new();
        for r in self.vn.refs.get("network_ipam_refs").into_iter().flatten() {
            let subnets = r.attr.get("ipam_subnets").and_then(Value::as_array);
            for s in subnets.into_iter().flatten() {
                let Some(sub) = s.get("subnet") else { continue };
                let net = sub
                    .get("ip_prefix")
                    .and_then(Value::as_str)
                    .zip(sub.get("ip_prefix_len").and_then(Value::as_i64))
                    .and_then(|(p, l)| parse_subnet(p, l));
                if let Some(net) = net {
                    let uuid = s
                        .get("subnet_uuid")
                        .and_then(Value::as_str)
                        .map(String::from);
                    out.push((subnet_name(&net), uuid));
                }
            }
        }
        out
    }

    /// Flat-subnet IPAM links: (ipam uuid, subnet uuids stored on the link). A link with no
    /// entries is skipped, as `_ipam_ip_alloc_req` does.
    fn flat_links(&self) -> Vec<(String, Vec<String>)> {
        let mut out = Vec::new();
        for r in self.vn.refs.get("network_ipam_refs").into_iter().flatten() {
            let subnets = r
                .attr
                .get("ipam_subnets")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let Some(first) = subnets.first() else {
                continue;
            };
            if first
                .get("subnet")
                .and_then(|s| s.get("ip_prefix"))
                .is_some()
            {
                continue;
            }
            let uuids = subnets
                .iter()
                .filter_map(|s| s.get("subnet_uuid").and_then(Value::as_str))
                .map(String::from)
                .collect();
            out.push((r.uuid.clone(), uuids));
        }
        out
    }
}

/// `_net_ip_alloc_req`: allocation from the network's own subnets.
fn net_alloc(store: &mut Store, net: &Net, ask: &Ask) -> Result<Alloc, AddrErr> {
    let subnets = net.user_subnets();
    if subnets.is_empty() {
        return Err(AddrErr::Other(format!(
            "Virtual-Network({}) has no defined subnets",
            list_repr(&net.vn.fq_name)
        )));
    }
    let mut found = false;
    let mut tried = Vec::new();
    for (name, sn_uuid) in subnets {
        if let Some(sub) = ask.sub {
            if sn_uuid.as_deref() != Some(sub) {
                continue;
            }
            found = true;
        }
        let Some(pool) = store.ipam.get_mut(&net.vn.uuid, &name) else {
            continue;
        };
        if !ask.version_ok(pool) {
            continue;
        }
        if ask.is_gw_or_dns(pool) {
            return Ok((ask.addr.map(|(_, ip)| ip), sn_uuid, true));
        }
        if let Some((_, ip)) = ask.addr {
            if !pool.contains(ip) {
                continue;
            }
            tried.push(name);
            return Ok((pool.reserve(ip, ask.owner).then_some(ip), sn_uuid, false));
        }
        tried.push(name);
        let ip = pool.alloc(ask.owner);
        // with a subnet uuid, an exhausted subnet gives no address and no error
        if ip.is_some() || ask.sub.is_some() {
            return Ok((ip, sn_uuid, false));
        }
    }
    match ask.sub {
        Some(sub) if !found => Err(net.invalid(sub)),
        _ => Err(net.exhausted(&tried)),
    }
}

/// `_ipam_ip_alloc_req` / `_ipam_ip_alloc`: allocation from the flat-subnet IPAMs the network
/// links to.
fn ipam_alloc(store: &mut Store, net: &Net, ask: &Ask) -> Result<Alloc, AddrErr> {
    let mut found = false;
    let mut tried = Vec::new();
    for (ipam_uuid, link_uuids) in net.flat_links() {
        let mut sn_uuid = link_uuids.first().cloned();
        if let Some(sub) = ask.sub {
            if !link_uuids.iter().any(|u| u == sub) {
                continue;
            }
            found = true;
            sn_uuid = Some(sub.to_string());
        }
        let names: Vec<String> = store
            .get(&ipam_uuid)
            .map(|o| ipam_nets(o).into_iter().map(|(n, _)| n).collect())
            .unwrap_or_default();
        tried.clear();
        let mut got = None;
        let mut as_given = false;
        for name in names {
            let Some(pool) = store.ipam.get_mut(&ipam_uuid, &name) else {
                continue;
            };
            if !ask.version_ok(pool) {
                continue;
            }
            if ask.is_gw_or_dns(pool) {
                got = ask.addr.map(|(_, ip)| ip);
                as_given = true;
                break;
            }
            if let Some((_, ip)) = ask.addr {
                if !pool.contains(ip) {
                    continue;
                }
                tried.push(name);
                got = pool.reserve(ip, ask.owner).then_some(ip);
                break;
            }
            tried.push(name);
            got = pool.alloc(ask.owner);
            if got.is_some() || ask.sub.is_some() {
                break;
            }
        }
        if got.is_some() {
            return Ok((got, sn_uuid, as_given));
        }
    }
    match ask.sub {
        Some(sub) if !found => Err(net.invalid(sub)),
        _ => Err(net.exhausted(&tried)),
    }
}

/// `ip_alloc_req`
fn ip_alloc(store: &mut Store, net: &Net, ask: &Ask) -> Result<Alloc, AddrErr> {
    if ask.sub.is_some() || ask.addr.is_some() {
        return match ipam_alloc(store, net, ask) {
            Err(AddrErr::Invalid(_) | AddrErr::Exhausted(_)) => net_alloc(store, net, ask),
            other => other,
        };
    }
    let mode =
        str_prop(net.vn, "address_allocation_mode").unwrap_or("user-defined-subnet-preferred");
    match mode {
        "flat-subnet-only" => ipam_alloc(store, net, ask),
        "user-defined-subnet-only" => net_alloc(store, net, ask),
        "flat-subnet-preferred" => {
            ipam_alloc(store, net, ask).or_else(|_| net_alloc(store, net, ask))
        }
        _ => net_alloc(store, net, ask).or_else(|_| ipam_alloc(store, net, ask)),
    }
}

/// Pools that may hold addresses of a network: its own, then its flat IPAMs'.
fn pool_owners(store: &Store, vn_uuid: &str) -> Vec<String> {
    let mut owners = vec![vn_uuid.to_string()];
    if let Some(vn) = store.get(vn_uuid) {
        for r in vn.refs.get("network_ipam_refs").into_iter().flatten() {
            owners.push(r.uuid.clone());
        }
    }
    owners
}

/// `is_ip_allocated` (network, last address, gateway and DNS count as allocated).
fn is_allocated(store: &Store, vn_uuid: &str, ip: IpAddr) -> bool {
    let owners = pool_owners(store, vn_uuid);
    // upstream looks at the IPAM pools first, then the network's own
    for owner in owners.iter().skip(1).chain(owners.first()) {
        for name in store.ipam.subnets(owner) {
            if let Some(p) = store.ipam.get(owner, &name)
                && p.contains(ip)
            {
                return p.is_allocated(ip);
            }
        }
    }
    false
}

/// `is_gateway_ip`: the address, as given, is some subnet's `default_gateway` string.
fn is_gateway(store: &Store, vn_uuid: &str, addr: &str) -> bool {
    pool_owners(store, vn_uuid).iter().any(|owner| {
        store.ipam.subnets(owner).iter().any(|n| {
            store
                .ipam
                .get(owner, n)
                .and_then(|p| p.gw)
                .is_some_and(|g| g.to_string() == addr)
        })
    })
}

fn release(store: &mut Store, vn_uuid: &str, ip: IpAddr, owner: &str) {
    for pool_owner in pool_owners(store, vn_uuid) {
        for name in store.ipam.subnets(&pool_owner) {
            if let Some(p) = store.ipam.get_mut(&pool_owner, &name)
                && p.contains(ip)
            {
                p.release(ip, owner);
                return;
            }
        }
    }
}

/// A requested address: upstream parses it with netaddr (and fails with a 500 traceback on
/// junk); here junk is a 400.
fn requested_addr<'a>(obj: &'a Obj, field: &str) -> ApiResult<Option<(&'a str, IpAddr)>> {
    match obj.props.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(|ip| Some((s.as_str(), ip)))
            .map_err(|_| {
                ApiError::bad_request(format!("Bad Request, {field} {s:?} is not an IP address"))
            }),
        Some(other) => Err(ApiError::bad_request(format!(
            "Bad Request, {field} must be a string, got {other}"
        ))),
    }
}

/// `instance_ip.py` pre_dbe_create.
fn iip_create(store: &mut Store, iip: &mut Obj) -> ApiResult<()> {
    let has = |f: &str| iip.refs.get(f).is_some_and(|r| !r.is_empty());
    if has("virtual_router_refs") && has("network_ipam_refs") {
        return Err(ApiError::bad_request(
            "virtual_router_refs and ipam_refs are not allowed",
        ));
    }
    if has("virtual_router_refs") && has("virtual_network_refs") {
        return Err(ApiError::bad_request(
            "router_refs and network_refs are not allowed",
        ));
    }
    let Some(vn_uuid) = iip
        .refs
        .get("virtual_network_refs")
        .and_then(|r| r.first())
        .map(|r| r.uuid.clone())
    else {
        return Err(ApiError::bad_request(
            "Bad Request, instance-ip needs virtual_network_refs: there is no network to \
             allocate the address from",
        ));
    };
    let Some(vn) = store.get(&vn_uuid).cloned() else {
        return Err(ApiError::bad_request(format!(
            "Unknown virtual-network {vn_uuid}"
        )));
    };
    if is_system_vn(&vn.fq_name) {
        return Ok(());
    }
    let asked = requested_addr(iip, "instance_ip_address")?;
    if let Some((text, ip)) = asked
        && is_allocated(store, &vn_uuid, ip)
    {
        if !is_gateway(store, &vn_uuid, text) {
            return Err(ApiError::conflict("IP address already in use"));
        }
        if vmi_has_vm_ref(store, iip) {
            return Err(ApiError::bad_request(
                "Gateway IP cannot be used by VM port",
            ));
        }
    }
    let version = match str_prop(iip, "instance_ip_family") {
        Some("v4") => Some(4),
        Some("v6") => Some(6),
        _ => None,
    };
    let ask = Ask {
        sub: str_prop(iip, "subnet_uuid"),
        addr: asked,
        version,
        owner: &iip.uuid,
    };
    let net = Net { vn: &vn };
    let (ip, sn_uuid, as_given) =
        ip_alloc(store, &net, &ask).map_err(|e| ApiError::bad_request(e.msg()))?;
    let ip = ip.map(|a| match asked {
        Some((text, _)) if as_given => text.to_string(),
        _ => a.to_string(),
    });
    match ip {
        Some(a) => iip
            .props
            .insert("instance_ip_address".into(), Value::String(a)),
        None => iip.props.remove("instance_ip_address"),
    };
    match sn_uuid {
        Some(s) => iip.props.insert("subnet_uuid".into(), Value::String(s)),
        None => iip.props.remove("subnet_uuid"),
    };
    Ok(())
}

fn vmi_has_vm_ref(store: &Store, iip: &Obj) -> bool {
    iip.refs
        .get("virtual_machine_interface_refs")
        .into_iter()
        .flatten()
        .any(|r| {
            store
                .get(&r.uuid)
                .is_some_and(|vmi| vmi.refs.contains_key("virtual_machine_refs"))
        })
}

/// The network a pool floating-ip draws from: `fq_name[:-2]`, as `floating_ip.py` finds it.
fn fip_network(store: &Store, fip: &Obj) -> Option<String> {
    if fip.parent.as_ref().is_some_and(|(t, _)| t == "instance-ip") {
        return None;
    }
    let n = fip.fq_name.len();
    let vn_fq = fip.fq_name.get(..n.checked_sub(2)?)?;
    store.find("virtual-network", vn_fq).map(str::to_string)
}

/// `floating_ip.py` pre_dbe_create.
fn fip_create(store: &mut Store, fip: &mut Obj) -> ApiResult<()> {
    if fip.parent.as_ref().is_some_and(|(t, _)| t == "instance-ip") {
        if requested_addr(fip, "floating_ip_address")?.is_none() {
            return Err(ApiError::bad_request(
                "Bad Request, a floating-ip under an instance-ip gets no address from the \
                 server: floating_ip_address is required",
            ));
        }
        return Ok(());
    }
    // no project_refs: the project of the fq_name
    if fip.refs.get("project_refs").is_none_or(Vec::is_empty) {
        let pfq = fip.fq_name.get(..2).unwrap_or_default().to_vec();
        let Some(p) = store.find("project", &pfq).map(str::to_string) else {
            return Err(ApiError::new(
                500,
                format!("Name {} not found", super::pyfmt::pformat_list(&pfq)),
            ));
        };
        fip.refs.insert(
            "project_refs".into(),
            vec![super::store::Ref {
                to: pfq,
                uuid: p,
                attr: Value::Null,
            }],
        );
    }
    let vn_fq = fip
        .fq_name
        .get(..fip.fq_name.len().saturating_sub(2))
        .unwrap_or_default()
        .to_vec();
    let asked = requested_addr(fip, "floating_ip_address")?;
    let vn_uuid = store.find("virtual-network", &vn_fq).map(str::to_string);
    if let (Some((_, ip)), Some(vn)) = (asked, &vn_uuid)
        && is_allocated(store, vn, ip)
    {
        return Err(ApiError::conflict("IP address already in use"));
    }
    let Some(vn) = vn_uuid.and_then(|u| store.get(&u).cloned()) else {
        return Err(ApiError::new(
            500,
            format!("Virtual Network({}) not found", list_repr(&vn_fq)),
        ));
    };
    let pool_subnets: Vec<String> = fip
        .parent
        .as_ref()
        .and_then(|(_, p)| store.get(p))
        .and_then(|p| p.props.get("floating_ip_pool_subnets"))
        .and_then(|s| s.get("subnet_uuid"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let net = Net { vn: &vn };
    let mut ask = Ask {
        sub: None,
        addr: asked,
        version: Some(4),
        owner: &fip.uuid,
    };
    // floating_ip.py turns every allocation failure into a 500
    let addr = if pool_subnets.is_empty() {
        let (ip, _, as_given) =
            ip_alloc(store, &net, &ask).map_err(|e| ApiError::new(500, e.msg()))?;
        ip.map(|a| match asked {
            Some((text, _)) if as_given => text.to_string(),
            _ => a.to_string(),
        })
    } else {
        // every listed subnet, none skipped: its `except cls.addr_mgmt.AddrMgmtSubnet...`
        // names no attribute of AddrMgmt, so any failure is that AttributeError
        let broken = || {
            ApiError::new(
                500,
                "'AddrMgmt' object has no attribute 'AddrMgmtSubnetExhausted'",
            )
        };
        let mut last = None;
        for sub in &pool_subnets {
            ask.sub = Some(sub);
            let (ip, _, _) = ip_alloc(store, &net, &ask).map_err(|_| broken())?;
            last = ip;
        }
        Some(last.ok_or_else(broken)?.to_string())
    };
    match addr {
        Some(a) => {
            fip.props
                .insert("floating_ip_address".into(), Value::String(a));
        }
        None => {
            fip.props.remove("floating_ip_address");
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// other types

/// `virtual_machine_interface.py` pre_dbe_create: a network is required; the MAC addresses
/// given are kept (`-` turned into `:`), else one is derived from the uuid; the bindings get
/// the server's `vnic_type` and `vif_type`.
fn vmi_create(store: &Store, vmi: &mut Obj) -> ApiResult<()> {
    if vmi
        .refs
        .get("virtual_network_refs")
        .is_none_or(Vec::is_empty)
    {
        return Err(ApiError::bad_request(
            "Virtual Machine Interface must have valide Virtual Network reference",
        ));
    }
    let given: Vec<String> = vmi
        .props
        .get("virtual_machine_interface_mac_addresses")
        .and_then(|m| m.get("mac_address"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|m| m.replace('-', ":"))
                .collect()
        })
        .unwrap_or_default();
    let macs = if given.is_empty() {
        vec![mac_from_uuid(&vmi.uuid)]
    } else {
        given
    };
    vmi.props.insert(
        "virtual_machine_interface_mac_addresses".into(),
        json!({ "mac_address": macs }),
    );
    vmi_bindings(store, vmi);
    Ok(())
}

/// The bindings as pre_dbe_create leaves them for a `normal` port: `vif_type` `vrouter` and
/// `vnic_type` `normal` when absent; then, unless the port's host is a DPDK virtual-router,
/// no `vif_type` at all. A host that names no virtual-router while some exist counts as DPDK
/// (`_is_dpdk_enabled` returns the router list as its answer): `vif_type` `vhostuser`.
fn vmi_bindings(store: &Store, vmi: &mut Obj) {
    let uuid = vmi.uuid.clone();
    let Some(kvps) = vmi
        .props
        .get_mut("virtual_machine_interface_bindings")
        .and_then(|b| b.get_mut("key_value_pair"))
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    let get = |kvps: &[Value], key: &str| -> Option<Value> {
        kvps.iter()
            .rev()
            .find(|kv| kv.get("key").and_then(Value::as_str) == Some(key))
            .map(|kv| kv.get("value").cloned().unwrap_or(Value::Null))
    };
    let vnic = get(kvps, "vnic_type");
    if matches!(
        vnic.as_ref().and_then(Value::as_str),
        Some("direct" | "virtio-forwarder")
    ) {
        return; // SR-IOV and virtio-forwarder ports are not emulated
    }
    if get(kvps, "vif_type").is_none() {
        kvps.push(json!({"key": "vif_type", "value": "vrouter"}));
    }
    if vnic.is_none() {
        kvps.push(json!({"key": "vnic_type", "value": "normal"}));
    }
    if get(kvps, "vnic_type").as_ref().and_then(Value::as_str) != Some("normal") {
        return;
    }
    let host = get(kvps, "host_id").map(|v| value_str(&v));
    let dpdk = match host.as_deref() {
        None | Some("") | Some("null") | Some("None") => false,
        Some(h) => {
            let gsc = GSC.to_string();
            let exact = store.find("virtual-router", &[gsc, h.to_string()]);
            let short = h.split('.').next().unwrap_or_default();
            let routers = store.uuids_of_type("virtual-router");
            let by_label = routers.iter().find(|u| {
                store.get(u).is_some_and(|r| {
                    r.fq_name
                        .last()
                        .is_some_and(|n| n.split('.').any(|label| label == short))
                })
            });
            match exact.or(by_label.map(String::as_str)) {
                Some(u) => store
                    .get(u)
                    .and_then(|r| r.props.get("virtual_router_dpdk_enabled"))
                    .is_some_and(|v| !falsy(v)),
                None => !routers.is_empty(),
            }
        }
    };
    let set = |kvps: &mut Vec<Value>, key: &str, value: Option<Value>| {
        let pos = kvps
            .iter()
            .position(|kv| kv.get("key").and_then(Value::as_str) == Some(key));
        match (pos, value) {
            (Some(i), Some(v)) => kvps[i]["value"] = v,
            (Some(i), None) => {
                kvps.remove(i);
            }
            (None, Some(v)) => kvps.push(json!({"key": key, "value": v})),
            (None, None) => {}
        }
    };
    if dpdk {
        let tap: String = format!("tap{uuid}").chars().take(14).collect();
        // json.dumps with Python's separators
        let details = format!(
            "{{\"vhostuser_mode\": \"server\", \"vhostuser_socket\": \
             \"/var/run/vrouter/uvh_vif_{tap}\", \"vhostuser_vrouter_plug\": true}}"
        );
        set(kvps, "vif_type", Some(json!("vhostuser")));
        set(kvps, "vif_details", Some(Value::String(details)));
    } else {
        set(kvps, "vif_type", None);
    }
}

/// `AddrMgmt.mac_alloc`: `02:` followed by uuid characters 0-8 and 9-11.
pub fn mac_from_uuid(uuid: &str) -> String {
    let c: Vec<char> = uuid.chars().collect();
    let pick = |a: usize, b: usize| {
        c.get(a..b)
            .map(|s| s.iter().collect::<String>())
            .unwrap_or_default()
    };
    format!(
        "02:{}:{}:{}:{}:{}",
        pick(0, 2),
        pick(2, 4),
        pick(4, 6),
        pick(6, 8),
        pick(9, 11)
    )
}

/// Policy and security-group rules get a `rule_uuid` from the server.
fn fill_rule_uuids(obj: &mut Obj, field: &str) {
    let rules = obj
        .props
        .get_mut(field)
        .and_then(|e| e.get_mut("policy_rule"))
        .and_then(Value::as_array_mut);
    for rule in rules.into_iter().flatten() {
        if let Some(r) = rule.as_object_mut()
            && r.get("rule_uuid").is_none_or(Value::is_null)
        {
            r.insert("rule_uuid".into(), Value::String(new_uuid()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_comes_from_the_uuid() {
        assert_eq!(
            mac_from_uuid("0a1b2c3d-4e5f-4a6b-8c7d-0123456789ab"),
            "02:0a:1b:2c:3d:4e"
        );
    }
}
