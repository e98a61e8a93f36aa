//! Per-type rules of the real API server (`resources/*.py`, `vnc_addr_mgmt.py`): subnets and
//! address pools of networks and flat-subnet IPAMs, address allocation for instance-ips and
//! floating-ips, MAC addresses of interfaces, server-assigned ids.
//!
//! Every hook checks first and changes state last, so a refused request leaves no trace.

use std::collections::{BTreeSet, HashSet};
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::error::{ApiError, ApiResult};
use super::ipam::{Pool, default_gw_dns, parse_subnet};
use super::pyfmt::list_repr;
use super::schema::falsy;
use super::store::{Obj, Store};

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
        "virtual-machine-interface" => vmi_create(obj),
        "security-group" => {
            let id = store.alloc_sg_id();
            obj.props
                .insert("security_group_id".into(), Value::from(id));
            fill_rule_uuids(obj, "security_group_entries");
            Ok(())
        }
        "network-policy" => {
            fill_rule_uuids(obj, "network_policy_entries");
            Ok(())
        }
        _ => Ok(()),
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
        "virtual-network" => {
            let requested = new.props.get("virtual_network_network_id");
            if changed.contains("virtual_network_network_id")
                && requested.is_some_and(|v| !v.is_null())
                && requested != old.props.get("virtual_network_network_id")
            {
                return Err(ApiError::new(403, "Cannot update the virtual network ID"));
            }
            if changed.contains("virtual_network_network_id") {
                if let Some(id) = old.props.get("virtual_network_network_id") {
                    new.props
                        .insert("virtual_network_network_id".into(), id.clone());
                }
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
            Ok(())
        }
        "security-group" => {
            if let Some(id) = old.props.get("security_group_id") {
                new.props.insert("security_group_id".into(), id.clone());
            }
            fill_rule_uuids(new, "security_group_entries");
            Ok(())
        }
        "network-policy" => {
            fill_rule_uuids(new, "network_policy_entries");
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Hook after an object was removed: give its addresses and pools back.
pub fn after_delete(store: &mut Store, obj: &Obj) {
    match obj.ty.as_str() {
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
            if let Some(vn) = fip_network(store, obj) {
                if let Some(ip) = addr_prop(obj, "floating_ip_address") {
                    release(store, &vn, ip, &obj.uuid);
                }
            }
        }
        _ => {}
    }
}

fn addr_prop(obj: &Obj, name: &str) -> Option<Ipv4Addr> {
    str_prop(obj, name).and_then(|s| s.parse().ok())
}

// ---------------------------------------------------------------------------------------------
// subnets of networks and IPAMs

/// Pools to create and subnet names to drop, decided during the checks.
#[derive(Default)]
struct SubnetPlan {
    add: Vec<(String, Pool)>,
    remove: Vec<String>,
}

impl SubnetPlan {
    fn apply(self, store: &mut Store, owner: &str) {
        for name in self.remove {
            store.ipam.remove(owner, &name);
        }
        for (name, pool) in self.add {
            store.ipam.insert(owner, &name, pool);
        }
    }
}

fn ip_opt(entry: &Map<String, Value>, key: &str) -> Option<String> {
    entry.get(key).filter(|v| !v.is_null()).map(|v| {
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
    })
}

/// One `IpamSubnetType` entry: validate like `net_check_subnet` (status `check_status`), fill
/// `subnet_uuid`, `default_gateway` and `dns_server_address`, and decide its pool.
fn plan_subnet(
    store: &Store,
    owner: &str,
    existing: &BTreeSet<String>,
    entry: &mut Value,
    check_status: u16,
    plan: &mut SubnetPlan,
) -> ApiResult<(String, Ipv4Net)> {
    let Some(e) = entry.as_object_mut() else {
        return Err(ApiError::bad_request(
            "Bad Request, ipam_subnets entries must be IpamSubnetType objects",
        ));
    };
    let subnet = e.get("subnet").and_then(Value::as_object);
    let prefix = subnet
        .and_then(|s| s.get("ip_prefix"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let len = subnet
        .and_then(|s| s.get("ip_prefix_len"))
        .and_then(Value::as_i64)
        .unwrap_or(-1);
    let Some(net) = parse_subnet(&prefix, len) else {
        return Err(ApiError::bad_request(format!(
            "Bad Request, invalid subnet ip_prefix {prefix:?} ip_prefix_len {len}: \
             an IPv4 prefix is required"
        )));
    };
    let name = format!("{}/{}", net.network(), net.prefix_len());
    let fail = |msg: String| Err(ApiError::new(check_status, msg));

    if let Some(u) = e.get("subnet_uuid").filter(|v| !v.is_null()) {
        let ok = u.as_str().is_some_and(|s| Uuid::parse_str(s).is_ok());
        if !ok {
            return fail(format!(
                "Invalid subnet-uuid {} in subnet:{name}",
                super::pyfmt::value_str(u)
            ));
        }
    } else {
        e.insert("subnet_uuid".into(), Value::String(new_uuid()));
    }
    let mut ranges = Vec::new();
    if let Some(pools) = e.get("allocation_pools").and_then(Value::as_array) {
        for p in pools {
            let start = p.get("start").and_then(Value::as_str).unwrap_or_default();
            let end = p.get("end").and_then(Value::as_str).unwrap_or_default();
            let (Ok(s), Ok(t)) = (start.parse::<Ipv4Addr>(), end.parse::<Ipv4Addr>()) else {
                return fail(format!(
                    "Invalid allocation Pool start:{start}, end:{end} in subnet:{name}"
                ));
            };
            if !net.contains(&s) || !net.contains(&t) || t < s {
                return fail(format!(
                    "allocation pool start:{start}, end:{end} out of cidr:{name}"
                ));
            }
            ranges.push((s, t));
        }
    }
    let first = u32::from(net.network());
    let last = u32::from(net.broadcast());
    let gw = match ip_opt(e, "default_gateway") {
        Some(g) => match g.parse::<Ipv4Addr>() {
            Ok(ip) => {
                let v = u32::from(ip);
                if !ip.is_unspecified()
                    && (v < first.saturating_add(1) || v > last.saturating_sub(1))
                {
                    return fail(format!("gateway Ip {g} out of cidr: {name}"));
                }
                Some(ip)
            }
            Err(_) => return fail(format!("Invalid gateway Ip address:{g}")),
        },
        None => None,
    };
    let dns = match ip_opt(e, "dns_server_address") {
        Some(d) => match d.parse::<Ipv4Addr>() {
            Ok(ip) => Some(ip),
            Err(_) => return fail(format!("Invalid Dns Server Ip address:{d}")),
        },
        None => None,
    };
    let from_start = e.get("addr_from_start").is_some_and(|v| !falsy(v));
    let (def_gw, def_dns) = default_gw_dns(net, from_start);

    let (gw, dns) = match store
        .ipam
        .get(owner, &name)
        .filter(|_| existing.contains(&name))
    {
        Some(pool) => {
            // `_validate_subnet_update`: the gateway of an existing subnet cannot change.
            let db_gw = pool.gw;
            if gw != db_gw {
                let invalid = match gw {
                    None => db_gw != Some(def_gw),
                    Some(g) => g != def_gw,
                };
                if invalid {
                    let show = |a: Option<Ipv4Addr>| a.map_or("None".into(), |a| a.to_string());
                    return Err(ApiError::bad_request(format!(
                        "default gateway change is not allowed orig:{}, new: {}",
                        show(db_gw),
                        show(gw)
                    )));
                }
            }
            (pool.gw, pool.dns)
        }
        None => {
            let gw = gw.or(Some(def_gw));
            let dns = dns.or(Some(def_dns));
            plan.add
                .push((name.clone(), Pool::new(net, gw, dns, from_start, &ranges)));
            (gw, dns)
        }
    };
    if let Some(g) = gw {
        e.insert("default_gateway".into(), Value::String(g.to_string()));
    }
    if let Some(d) = dns {
        e.insert("dns_server_address".into(), Value::String(d.to_string()));
    }
    Ok((name, net))
}

fn check_overlap(nets: &[Ipv4Net]) -> ApiResult<()> {
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

fn check_removed(store: &Store, owner: &str, removed: &[String]) -> ApiResult<()> {
    for name in removed {
        if let Some(ip) = store.ipam.get(owner, name).and_then(Pool::in_use) {
            return Err(ApiError::conflict(format!(
                "Cannot Delete IP Block, IP({ip}) is in use"
            )));
        }
    }
    Ok(())
}

/// The subnets an IPAM object declares (flat-subnet IPAMs).
fn ipam_nets(ipam: &Obj) -> Vec<(String, Ipv4Net)> {
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
            Some((format!("{}/{}", net.network(), net.prefix_len()), net))
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

/// `_check_ipam_network_subnets` + `net_create_req` / `net_update_req`.
fn vn_subnets(store: &Store, vn: &mut Obj, old: Option<&Obj>) -> ApiResult<SubnetPlan> {
    let owner = vn.uuid.clone();
    let existing: BTreeSet<String> = if old.is_some() {
        store.ipam.subnets(&owner).into_iter().collect()
    } else {
        BTreeSet::new()
    };
    let mut plan = SubnetPlan::default();
    let mut nets = Vec::new();
    let mut names = BTreeSet::new();
    let refs = vn.refs.entry("network_ipam_refs".into()).or_default();
    for r in refs.iter_mut() {
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
            nets.extend(ipam_nets(ipam).into_iter().map(|(_, n)| n));
            if old.is_none() || subnets.is_empty() {
                subnets.clear();
                subnets.push(json!({ "subnet_uuid": new_uuid() }));
            }
        } else {
            for entry in subnets.iter_mut() {
                let (name, net) = plan_subnet(store, &owner, &existing, entry, 409, &mut plan)?;
                nets.push(net);
                names.insert(name);
            }
        }
    }
    if refs.is_empty() {
        vn.refs.remove("network_ipam_refs");
    }
    check_flat_needs_l3(store, vn)?;
    check_overlap(&nets)?;
    plan.remove = existing.difference(&names).cloned().collect();
    check_removed(store, &owner, &plan.remove)?;
    Ok(plan)
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
    let id = store.alloc_vn_id();
    vn.props
        .insert("virtual_network_network_id".into(), Value::from(id));
    plan.apply(store, &vn.uuid);
    Ok(())
}

/// `network_ipam.py` pre_dbe_create / pre_dbe_update.
fn ipam_write(
    store: &mut Store,
    ipam: &mut Obj,
    old: Option<&Obj>,
    changed: &HashSet<String>,
) -> ApiResult<()> {
    if let Some(old) = old {
        let old_method = str_prop(old, "ipam_subnet_method");
        if changed.contains("ipam_subnet_method")
            && str_prop(ipam, "ipam_subnet_method") != old_method
        {
            return Err(ApiError::bad_request(
                "ipam_subnet_method can not be changed",
            ));
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
    if !flat {
        return Ok(());
    }
    let owner = ipam.uuid.clone();
    let existing: BTreeSet<String> = if old.is_some() {
        store.ipam.subnets(&owner).into_iter().collect()
    } else {
        BTreeSet::new()
    };
    let mut plan = SubnetPlan::default();
    let mut names = BTreeSet::new();
    let mut nets = Vec::new();
    if present {
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
        for entry in list.iter_mut() {
            let (name, net) = plan_subnet(store, &owner, &existing, entry, 409, &mut plan)?;
            nets.push(net);
            names.insert(name);
        }
    }
    check_overlap(&nets)?;
    plan.remove = existing.difference(&names).cloned().collect();
    check_removed(store, &owner, &plan.remove)?;
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
                    out.push((format!("{}/{}", net.network(), net.prefix_len()), uuid));
                }
            }
        }
        out
    }

    /// Flat-subnet IPAM links: (ipam uuid, subnet uuids stored on the link).
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

/// `_net_ip_alloc_req`
fn net_alloc(
    store: &mut Store,
    net: &Net,
    sub: Option<&str>,
    asked: Option<Ipv4Addr>,
    owner: &str,
) -> Result<(Ipv4Addr, Option<String>), AddrErr> {
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
        if let Some(sub) = sub {
            if sn_uuid.as_deref() != Some(sub) {
                continue;
            }
            found = true;
        }
        let Some(pool) = store.ipam.get_mut(&net.vn.uuid, &name) else {
            continue;
        };
        if let Some(ip) = asked {
            if Some(ip) == pool.gw || Some(ip) == pool.dns {
                return Ok((ip, sn_uuid));
            }
            if !pool.contains(ip) {
                continue;
            }
            tried.push(name);
            if pool.reserve(ip, owner) {
                return Ok((ip, sn_uuid));
            }
            return Err(AddrErr::Other("IP address already in use".into()));
        }
        tried.push(name);
        if let Some(ip) = pool.alloc(owner) {
            return Ok((ip, sn_uuid));
        }
    }
    match sub {
        Some(sub) if !found => Err(net.invalid(sub)),
        _ => Err(net.exhausted(&tried)),
    }
}

/// `_ipam_ip_alloc_req`: allocation from the flat-subnet IPAMs the network links to.
fn ipam_alloc(
    store: &mut Store,
    net: &Net,
    sub: Option<&str>,
    asked: Option<Ipv4Addr>,
    owner: &str,
) -> Result<(Ipv4Addr, Option<String>), AddrErr> {
    let mut found = false;
    let mut tried = Vec::new();
    for (ipam_uuid, link_uuids) in net.flat_links() {
        let mut sn_uuid = link_uuids.first().cloned();
        if let Some(sub) = sub {
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
        for name in names {
            let Some(pool) = store.ipam.get_mut(&ipam_uuid, &name) else {
                continue;
            };
            if let Some(ip) = asked {
                if Some(ip) == pool.gw || Some(ip) == pool.dns {
                    return Ok((ip, sn_uuid));
                }
                if !pool.contains(ip) {
                    continue;
                }
                tried.push(name);
                if pool.reserve(ip, owner) {
                    return Ok((ip, sn_uuid));
                }
                break;
            }
            tried.push(name);
            if let Some(ip) = pool.alloc(owner) {
                return Ok((ip, sn_uuid));
            }
        }
    }
    match sub {
        Some(sub) if !found => Err(net.invalid(sub)),
        _ => Err(net.exhausted(&tried)),
    }
}

/// `ip_alloc_req`
fn ip_alloc(
    store: &mut Store,
    net: &Net,
    sub: Option<&str>,
    asked: Option<Ipv4Addr>,
    owner: &str,
) -> Result<(Ipv4Addr, Option<String>), AddrErr> {
    if sub.is_some() || asked.is_some() {
        return match ipam_alloc(store, net, sub, asked, owner) {
            Err(AddrErr::Invalid(_) | AddrErr::Exhausted(_)) => {
                net_alloc(store, net, sub, asked, owner)
            }
            other => other,
        };
    }
    let mode =
        str_prop(net.vn, "address_allocation_mode").unwrap_or("user-defined-subnet-preferred");
    match mode {
        "flat-subnet-only" => ipam_alloc(store, net, sub, asked, owner),
        "user-defined-subnet-only" => net_alloc(store, net, sub, asked, owner),
        "flat-subnet-preferred" => ipam_alloc(store, net, sub, asked, owner)
            .or_else(|_| net_alloc(store, net, sub, asked, owner)),
        _ => net_alloc(store, net, sub, asked, owner)
            .or_else(|_| ipam_alloc(store, net, sub, asked, owner)),
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

/// `is_ip_allocated` (network, broadcast, gateway and DNS count as allocated).
fn is_allocated(store: &Store, vn_uuid: &str, ip: Ipv4Addr) -> bool {
    let owners = pool_owners(store, vn_uuid);
    // upstream looks at the IPAM pools first, then the network's own
    for owner in owners.iter().skip(1).chain(owners.first()) {
        for name in store.ipam.subnets(owner) {
            if let Some(p) = store.ipam.get(owner, &name) {
                if p.contains(ip) {
                    return p.is_allocated(ip);
                }
            }
        }
    }
    false
}

fn is_gateway(store: &Store, vn_uuid: &str, ip: Ipv4Addr) -> bool {
    pool_owners(store, vn_uuid).iter().any(|owner| {
        store
            .ipam
            .subnets(owner)
            .iter()
            .any(|n| store.ipam.get(owner, n).is_some_and(|p| p.gw == Some(ip)))
    })
}

fn release(store: &mut Store, vn_uuid: &str, ip: Ipv4Addr, owner: &str) {
    for pool_owner in pool_owners(store, vn_uuid) {
        for name in store.ipam.subnets(&pool_owner) {
            if let Some(p) = store.ipam.get_mut(&pool_owner, &name) {
                if p.contains(ip) {
                    p.release(ip, owner);
                    return;
                }
            }
        }
    }
}

fn requested_addr(obj: &Obj, field: &str) -> ApiResult<Option<Ipv4Addr>> {
    match obj.props.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| {
            ApiError::bad_request(format!("Bad Request, {field} {s:?} is not an IPv4 address"))
        }),
        Some(other) => Err(ApiError::bad_request(format!(
            "Bad Request, {field} must be a string, got {other}"
        ))),
    }
}

/// `instance_ip.py` pre_dbe_create.
fn iip_create(store: &mut Store, iip: &mut Obj) -> ApiResult<()> {
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
    let family = str_prop(iip, "instance_ip_family")
        .unwrap_or("v4")
        .to_string();
    let sub = str_prop(iip, "subnet_uuid").map(String::from);
    if let Some(ip) = asked {
        if is_allocated(store, &vn_uuid, ip) {
            if !is_gateway(store, &vn_uuid, ip) {
                return Err(ApiError::conflict("IP address already in use"));
            }
            if vmi_has_vm_ref(store, iip) {
                return Err(ApiError::bad_request(
                    "Gateway IP cannot be used by VM port",
                ));
            }
        }
    }
    if family == "v6" {
        return Err(ApiError::bad_request(format!(
            "Virtual-Network({}) has exhausted subnet([])",
            list_repr(&vn.fq_name)
        )));
    }
    let net = Net { vn: &vn };
    let (ip, sn_uuid) = ip_alloc(store, &net, sub.as_deref(), asked, &iip.uuid)
        .map_err(|e| ApiError::bad_request(e.msg()))?;
    iip.props
        .insert("instance_ip_address".into(), Value::String(ip.to_string()));
    if let Some(s) = sn_uuid {
        iip.props.insert("subnet_uuid".into(), Value::String(s));
    }
    iip.props
        .entry("instance_ip_family")
        .or_insert_with(|| Value::String("v4".into()));
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

/// The network a pool floating-ip draws from (its pool's parent).
fn fip_network(store: &Store, fip: &Obj) -> Option<String> {
    let (pt, pool) = fip.parent.as_ref()?;
    if pt != "floating-ip-pool" {
        return None;
    }
    store.get(pool)?.parent.as_ref().map(|(_, vn)| vn.clone())
}

/// `floating_ip.py` pre_dbe_create.
fn fip_create(store: &mut Store, fip: &mut Obj) -> ApiResult<()> {
    if fip.refs.get("project_refs").is_none_or(Vec::is_empty) {
        return Err(ApiError::bad_request(
            "Bad Request, floating-ip needs project_refs (the project owning the address)",
        ));
    }
    if fip.parent.as_ref().is_some_and(|(t, _)| t == "instance-ip") {
        if requested_addr(fip, "floating_ip_address")?.is_none() {
            return Err(ApiError::bad_request(
                "Bad Request, a floating-ip under an instance-ip gets no address from the \
                 server: floating_ip_address is required",
            ));
        }
        return Ok(());
    }
    let Some(vn_uuid) = fip_network(store, fip) else {
        return Ok(());
    };
    let Some(vn) = store.get(&vn_uuid).cloned() else {
        return Ok(());
    };
    let asked = requested_addr(fip, "floating_ip_address")?;
    if let Some(ip) = asked {
        if is_allocated(store, &vn_uuid, ip) {
            return Err(ApiError::conflict("IP address already in use"));
        }
    }
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
    let result = if pool_subnets.is_empty() {
        ip_alloc(store, &net, None, asked, &fip.uuid).map_err(AddrErr::msg)
    } else {
        let mut got = Err(net.exhausted(&pool_subnets).msg());
        for sub in &pool_subnets {
            match ip_alloc(store, &net, Some(sub), asked, &fip.uuid) {
                Ok(r) => {
                    got = Ok(r);
                    break;
                }
                Err(AddrErr::Exhausted(_)) => continue,
                Err(e) => {
                    got = Err(e.msg());
                    break;
                }
            }
        }
        got
    };
    // floating_ip.py turns every allocation failure into a 500
    let (ip, _) = result.map_err(|m| ApiError::new(500, m))?;
    fip.props
        .insert("floating_ip_address".into(), Value::String(ip.to_string()));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// other types

/// `virtual_machine_interface.py` pre_dbe_create: a network is required; the MAC address is
/// derived from the uuid unless exactly one is given.
fn vmi_create(vmi: &mut Obj) -> ApiResult<()> {
    if vmi
        .refs
        .get("virtual_network_refs")
        .is_none_or(Vec::is_empty)
    {
        return Err(ApiError::bad_request(
            "Virtual Machine Interface must have valide Virtual Network reference",
        ));
    }
    let given: Option<Vec<String>> = vmi
        .props
        .get("virtual_machine_interface_mac_addresses")
        .and_then(|m| m.get("mac_address"))
        .and_then(Value::as_array)
        .filter(|a| a.len() == 1)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|m| m.replace('-', ":"))
                .collect()
        });
    let macs = match given {
        Some(m) if m.len() == 1 => m,
        _ => vec![mac_from_uuid(&vmi.uuid)],
    };
    vmi.props.insert(
        "virtual_machine_interface_mac_addresses".into(),
        json!({ "mac_address": macs }),
    );
    Ok(())
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
        if let Some(r) = rule.as_object_mut() {
            if r.get("rule_uuid").is_none_or(Value::is_null) {
                r.insert("rule_uuid".into(), Value::String(new_uuid()));
            }
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
