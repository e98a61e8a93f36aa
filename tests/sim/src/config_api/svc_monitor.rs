//! What contrail-svc-monitor's native load-balancer driver does to the config (an option of
//! the emulator: a real API server without svc-monitor does none of it).
//!
//! Followed upstream: tf-controller `src/config/svc-monitor/svc_monitor/`
//! (`loadbalancer_agent.py`, `config_db.py`, `reaction_map.py`, and
//! `services/loadbalancer/drivers/native/driver.py` `OpencontrailLoadbalancerDriver`), with
//! the client library it writes through (tf-api-client `vnc_api.py` `_object_update`), and
//! what upstream's running svc-monitor does over REST
//! (`shared/contrail-api-server/check-daemons.py lb`). Each rule below names its function.
//!
//! - At start-up, the service-appliance-sets `[default-global-system-config, opencontrail]`
//!   and `[..., native]` (`LoadbalancerAgent._create_default_service_appliance_set`).
//! - svc-monitor learns each write from the API server's message bus; the dependency tracker
//!   (`reaction_map.py`) then evaluates the written object and what depends on it: a member
//!   its pool, a pool its listener, a listener its load balancer, an interface or a floating
//!   IP the load balancers referring to the interface(s). An instance IP evaluates nothing.
//!   The emulator does this right after each write the API server answered 200, under the
//!   store lock, so a test sees the result at once (upstream: about a second later).
//! - A load balancer (`LoadbalancerSM.add` → `loadbalancer_add`): `loadbalancer_get_reqdict`
//!   reads `loadbalancer_properties['vip_subnet_id']` and `['vip_address']` (a missing key
//!   raises: nothing is made); only provider `native` is this driver's
//!   (`_get_driver_for_loadbalancer`; the haproxy driver is not emulated).
//!   `_update_loadbalancer_props`: when the VIP interface's instance IPs differ from the ones
//!   the driver info holds, one floating IP per new instance IP, a child of it, name = uuid =
//!   a uuid4, with its address, `floating_ip_traffic_direction` `ingress` and `project_refs` to
//!   the interface's project; then `_update_pool_member_props` puts the pools' cached members
//!   on it. An instance IP gone from the interface raises (the call passes the interface as
//!   `iip_id` twice: a `TypeError`), so nothing is done.
//! - A pool (`LoadbalancerPoolSM.add` → `loadbalancer_pool_add`): `_update_pool_props` caches
//!   the floating IP of each of the load balancer's instance IPs, read once (`pool.lb_fips`),
//!   and reads them again only when those instance IPs change; then every member of the pool
//!   whose request dict is new or changed (`loadbalancer_member_add`) gets
//!   `_update_member_props`.
//! - A member (`_update_member_props`): its interface (the `vmi` annotation; read once and
//!   cached in `pool.member_vmis`; a member whose interface does not exist is skipped) is
//!   added to each cached floating IP object; `floating_ip_update` sends only what changed
//!   against that object (`_object_update`): a `/ref-update` ADD of that one reference when
//!   the cached object does not hold it yet, nothing when it does. So an interface taken off
//!   the floating IP by someone else is not put back for a member the pool has seen, and is
//!   put back for a member new to a pool whose cache lacks it. Then `_add_port_map` reads the
//!   floating IP and adds `(TCP|UDP, listener port → member port)` when no map of that
//!   `(protocol, src_port)` exists (the first member's port stays), with
//!   `floating_ip_port_mappings_enable` true.
//! - A listener (`listener_add`): `listener_get_reqdict` needs `protocol_port`, `protocol`,
//!   `admin_state` and `connection_limit`; `create_listener` does nothing, and
//!   `_update_listener_props` fails on a changed one (`old_listener.props` of a dict): a
//!   listener's port map never moves.
//! - Deletes: `LoadbalancerSM.delete`, `LoadbalancerPoolSM.delete`,
//!   `LoadbalancerMemberSM.delete` and `LoadbalancerListenerSM.delete` pop the object from
//!   their cache before calling the driver, whose `_clear_*_props` then look it up, find
//!   nothing and return. So no interface and no port map is ever taken off, and the floating
//!   IP stays after its load balancer is gone; the driver info of a deleted load balancer and
//!   the caches of a deleted pool or member are dropped (`loadbalancer_remove`).
//!
//! Not emulated: floating IPs on the VIP interface itself (external IPs), health monitors, a
//! member without a `vmi` annotation (upstream looks its interface up by address,
//! `_get_vmi_uuid`), v1 pools (no listener), svc-monitor's restart (its caches start empty).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::error::{ApiError, ApiResult};
use super::ops;
use super::seed::{GSC, ensure};
use super::store::Store;

/// What a write did to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    Update,
    Delete,
}

/// svc-monitor's memory for the native driver.
#[derive(Debug, Default)]
pub struct Driver {
    /// The driver info of each load balancer (`loadbalancer_driver_info_insert`,
    /// `lb_instance_ips`): the VIP interface's instance IPs it has handled.
    lbs: BTreeMap<String, BTreeSet<String>>,
    /// `LoadbalancerPoolSM` caches.
    pools: BTreeMap<String, Pool>,
    /// `LoadbalancerMemberSM.last_sent`: the member's request dict last handed to the driver.
    members: BTreeMap<String, Value>,
}

/// A pool's caches.
#[derive(Debug, Default)]
struct Pool {
    /// `pool.lb_instance_ips`.
    lb_iips: BTreeSet<String>,
    /// `pool.lb_fips`: instance IP → the floating IP object read for it.
    lb_fips: BTreeMap<String, CachedFip>,
    /// `pool.member_vmis`: member → its interface.
    member_vmis: BTreeMap<String, String>,
}

/// A floating IP object the driver keeps: its uuid and the interfaces its refs hold.
#[derive(Debug)]
struct CachedFip {
    uuid: String,
    vmis: BTreeSet<String>,
}

/// `_create_default_service_appliance_set` for both providers svc-monitor registers.
pub fn start_up(store: &mut Store) -> ApiResult<()> {
    for (name, driver) in [
        (
            "opencontrail",
            "svc_monitor.services.loadbalancer.drivers.ha_proxy.driver.OpencontrailLoadbalancerDriver",
        ),
        (
            "native",
            "svc_monitor.services.loadbalancer.drivers.native.driver.OpencontrailLoadbalancerDriver",
        ),
    ] {
        ensure(
            store,
            "service-appliance-set",
            &[GSC.to_string(), name.to_string()],
            Some("global-system-config"),
            json!({
                "service_appliance_driver": driver,
                "perms2": {"owner": "cloud-admin", "owner_access": 7, "global_access": 5, "share": []},
            }),
        )?;
    }
    Ok(())
}

fn refs_of(store: &Store, uuid: &str, field: &str) -> Vec<String> {
    store
        .get(uuid)
        .and_then(|o| o.refs.get(field))
        .map(|r| r.iter().map(|r| r.uuid.clone()).collect())
        .unwrap_or_default()
}

fn first_ref(store: &Store, uuid: &str, field: &str) -> Option<String> {
    refs_of(store, uuid, field).into_iter().next()
}

fn prop<'a>(store: &'a Store, uuid: &str, name: &str) -> Option<&'a Value> {
    store.get(uuid).and_then(|o| o.props.get(name))
}

/// svc-monitor's reaction to a write the API server answered 200. Errors are logged, as
/// svc-monitor logs the exceptions its handlers raise; the client's write stands.
pub fn on_write(store: &mut Store, driver: &mut Driver, ty: &str, uuid: &str, op: Op) {
    if op == Op::Delete {
        // The `*SM.delete` class methods: the object leaves svc-monitor's cache first, so
        // the driver's clear handlers find nothing to do.
        match ty {
            "loadbalancer" => {
                driver.lbs.remove(uuid);
            }
            "loadbalancer-pool" => {
                driver.pools.remove(uuid);
            }
            "loadbalancer-member" => {
                driver.members.remove(uuid);
            }
            _ => {}
        }
        return;
    }
    // `reaction_map.py`: what the written object makes svc-monitor evaluate, in order.
    let mut pools = Vec::new();
    let mut lbs = Vec::new();
    match ty {
        "loadbalancer" => lbs.push(uuid.to_string()),
        "loadbalancer-listener" => lbs.extend(first_ref(store, uuid, "loadbalancer_refs")),
        "loadbalancer-pool" => pools.push(uuid.to_string()),
        "loadbalancer-member" => {
            if let Some((_, pool)) = store.get(uuid).and_then(|m| m.parent.clone()) {
                pools.push(pool);
            }
        }
        "virtual-machine-interface" => lbs.extend(store.referrers_of_type(uuid, "loadbalancer")),
        "floating-ip" => {
            for vmi in refs_of(store, uuid, "virtual_machine_interface_refs") {
                lbs.extend(store.referrers_of_type(&vmi, "loadbalancer"));
            }
        }
        _ => {}
    }
    for pool in &pools {
        // loadbalancer_pool → loadbalancer_listener → loadbalancer
        if let Some(l) = first_ref(store, pool, "loadbalancer_listener_refs") {
            lbs.extend(first_ref(store, &l, "loadbalancer_refs"));
        }
        if let Err(e) = evaluate_pool(store, driver, pool) {
            log::warn!("cfgsim svc-monitor: loadbalancer-pool {pool}: {}", e.msg);
        }
    }
    for lb in &lbs {
        if let Err(e) = evaluate_lb(store, driver, lb) {
            log::warn!("cfgsim svc-monitor: loadbalancer {lb}: {}", e.msg);
        }
    }
}

/// `LoadbalancerSM.add` → `loadbalancer_add` → `_update_loadbalancer_props`.
fn evaluate_lb(store: &mut Store, driver: &mut Driver, lb: &str) -> ApiResult<()> {
    let Some(obj) = store.get_typed("loadbalancer", lb) else {
        return Ok(());
    };
    // `loadbalancer_get_reqdict`
    let props = obj.props.get("loadbalancer_properties");
    for key in ["vip_subnet_id", "vip_address"] {
        if props.and_then(|p| p.get(key)).is_none() {
            return Err(ApiError::bad_request(format!(
                "loadbalancer_get_reqdict: KeyError: '{key}'"
            )));
        }
    }
    if obj
        .props
        .get("loadbalancer_provider")
        .and_then(Value::as_str)
        != Some("native")
    {
        return Ok(());
    }
    let Some(vip_vmi) = first_ref(store, lb, "virtual_machine_interface_refs")
        .filter(|v| store.get_typed("virtual-machine-interface", v).is_some())
    else {
        return Ok(());
    };
    let current: BTreeSet<String> = store
        .referrers_of_type(&vip_vmi, "instance-ip")
        .into_iter()
        .collect();
    let handled = driver.lbs.get(lb).cloned().unwrap_or_default();
    if current == handled {
        return Ok(());
    }
    if let Some(old) = handled.difference(&current).next() {
        return Err(ApiError::bad_request(format!(
            "_update_loadbalancer_props: instance-ip {old} left the VIP interface: TypeError: \
             _get_floating_ip() got multiple values for argument 'iip_id'"
        )));
    }
    let new: Vec<String> = current.difference(&handled).cloned().collect();
    for iip in &new {
        create_fip(store, iip, &vip_vmi)?;
    }
    // `_update_pool_member_props`: each listener's pool puts its cached members on the new
    // floating IPs, reading each once.
    for listener in store.referrers_of_type(lb, "loadbalancer-listener") {
        let Some(pool) = store
            .referrers_of_type(&listener, "loadbalancer-pool")
            .into_iter()
            .next()
        else {
            continue;
        };
        let (protocol, src) = listener_port(store, &listener);
        let p = driver.pools.entry(pool).or_default();
        for iip in &new {
            let mut cached = read_fip(store, iip);
            for (member, vmi) in p.member_vmis.clone() {
                if store.get_typed("loadbalancer-member", &member).is_none() {
                    continue;
                }
                let Some(c) = cached.as_mut() else {
                    return Err(ApiError::not_found(format!(
                        "_add_port_map: instance-ip {iip} has no floating IP"
                    )));
                };
                add_vmi_ref(store, c, &vmi)?;
                add_port_map(store, &c.uuid, protocol, &src, &member_port(store, &member))?;
            }
            p.lb_iips.insert(iip.clone());
            if let Some(c) = cached {
                p.lb_fips.insert(iip.clone(), c);
            }
        }
    }
    driver.lbs.insert(lb.to_string(), current);
    Ok(())
}

/// `LoadbalancerPoolSM.add`: `_update_pool_props`, then `loadbalancer_member_add` for each
/// member.
fn evaluate_pool(store: &mut Store, driver: &mut Driver, pool: &str) -> ApiResult<()> {
    if store.get_typed("loadbalancer-pool", pool).is_none() {
        return Ok(());
    }
    let Some(listener) = first_ref(store, pool, "loadbalancer_listener_refs") else {
        return Ok(());
    };
    let lb = store
        .get_typed("loadbalancer-listener", &listener)
        .and_then(|_| first_ref(store, &listener, "loadbalancer_refs"))
        .filter(|lb| store.get_typed("loadbalancer", lb).is_some())
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "LoadbalancerPoolSM.add: listener {listener} or its load balancer is gone"
            ))
        })?;
    if prop(store, &lb, "loadbalancer_provider").and_then(Value::as_str) != Some("native") {
        return Ok(());
    }
    let (protocol, src) = listener_port(store, &listener);
    let p = driver.pools.entry(pool.to_string()).or_default();
    // `_update_pool_props`: the cache is read again only when the load balancer's instance
    // IPs changed.
    if let Some(lb_iips) = driver.lbs.get(&lb)
        && *lb_iips != p.lb_iips
    {
        p.lb_fips.clear();
        for iip in lb_iips {
            if let Some(c) = read_fip(store, iip) {
                p.lb_fips.insert(iip.clone(), c);
            }
        }
        p.lb_iips = lb_iips.clone();
    }
    for member in store.children_of_type(pool, "loadbalancer-member") {
        // `loadbalancer_member_add`: `create_member` or `update_member` when the request
        // dict is new or changed; `last_sent` is set whatever the driver did.
        let sent = member_reqdict(store, &member);
        if driver.members.insert(member.clone(), sent.clone()).as_ref() == Some(&sent) {
            continue;
        }
        if let Err(e) = update_member_props(store, p, &member, protocol, &src) {
            log::warn!(
                "cfgsim svc-monitor: loadbalancer-member {member}: {}",
                e.msg
            );
        }
    }
    Ok(())
}

/// `loadbalancer_member_get_reqdict`: what tells a changed member.
fn member_reqdict(store: &Store, member: &str) -> Value {
    json!({
        "vmi": member_vmi(store, member),
        "enable": prop(store, member, "id_perms").and_then(|p| p.get("enable")),
        "props": prop(store, member, "loadbalancer_member_properties"),
    })
}

/// The `vmi` annotation (`LoadbalancerMemberSM.update`: the first one).
fn member_vmi(store: &Store, member: &str) -> Option<String> {
    prop(store, member, "annotations")
        .and_then(|a| a.get("key_value_pair"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|kv| kv.get("key").and_then(Value::as_str) == Some("vmi"))
        .and_then(|kv| kv.get("value"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn member_port(store: &Store, member: &str) -> Value {
    prop(store, member, "loadbalancer_member_properties")
        .and_then(|p| p.get("protocol_port"))
        .cloned()
        .unwrap_or(Value::Null)
}

/// A listener's (protocol of the port map, port): `UDP` stays `UDP`, anything else is `TCP`.
fn listener_port(store: &Store, listener: &str) -> (&'static str, Value) {
    let props = prop(store, listener, "loadbalancer_listener_properties");
    let protocol = match props
        .and_then(|p| p.get("protocol"))
        .and_then(Value::as_str)
    {
        Some("UDP") => "UDP",
        _ => "TCP",
    };
    let port = props
        .and_then(|p| p.get("protocol_port"))
        .cloned()
        .unwrap_or(Value::Null);
    (protocol, port)
}

/// `_update_member_props`.
fn update_member_props(
    store: &mut Store,
    p: &mut Pool,
    member: &str,
    protocol: &str,
    src: &Value,
) -> ApiResult<()> {
    let vmi = match p.member_vmis.get(member) {
        Some(v) => v.clone(),
        None => {
            // `virtual_machine_interface_read`; NoIdError: the member is skipped.
            let Some(v) = member_vmi(store, member)
                .filter(|v| store.get_typed("virtual-machine-interface", v).is_some())
            else {
                return Ok(());
            };
            p.member_vmis.insert(member.to_string(), v.clone());
            v
        }
    };
    let dst = member_port(store, member);
    for c in p.lb_fips.values_mut() {
        add_vmi_ref(store, c, &vmi)?;
        add_port_map(store, &c.uuid, protocol, src, &dst)?;
    }
    Ok(())
}

/// `fip.add_virtual_machine_interface(vmi)` then `floating_ip_update(fip)` on a kept object:
/// a `/ref-update` ADD when the object does not hold the interface yet, else nothing.
fn add_vmi_ref(store: &mut Store, c: &mut CachedFip, vmi: &str) -> ApiResult<()> {
    if !c.vmis.insert(vmi.to_string()) {
        return Ok(());
    }
    let fq = store
        .get(vmi)
        .map(|o| o.fq_name.clone())
        .unwrap_or_default();
    let mut body = Map::new();
    body.insert("type".into(), json!("floating-ip"));
    body.insert("uuid".into(), json!(c.uuid));
    body.insert("ref-type".into(), json!("virtual-machine-interface"));
    body.insert("ref-uuid".into(), json!(vmi));
    body.insert("ref-fq-name".into(), json!(fq));
    body.insert("operation".into(), json!("ADD"));
    body.insert("attr".into(), Value::Null);
    ops::ref_update(store, &body).map(|_| ())
}

/// `_add_port_map`: read the floating IP; add the map unless one of that `(protocol,
/// src_port)` exists.
fn add_port_map(
    store: &mut Store,
    fip: &str,
    protocol: &str,
    src: &Value,
    dst: &Value,
) -> ApiResult<()> {
    if store.get_typed("floating-ip", fip).is_none() {
        return Err(ApiError::not_found(format!(
            "_add_port_map: floating_ip_read: Unknown id: {fip}"
        )));
    }
    let mut maps: Vec<Value> = prop(store, fip, "floating_ip_port_mappings")
        .and_then(|p| p.get("port_mappings"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if maps.iter().any(|m| {
        m.get("src_port") == Some(src)
            && m.get("protocol").and_then(Value::as_str) == Some(protocol)
    }) {
        return Ok(());
    }
    maps.push(json!({"protocol": protocol, "src_port": src, "dst_port": dst}));
    let mut body = Map::new();
    body.insert(
        "floating_ip_port_mappings".into(),
        json!({ "port_mappings": maps }),
    );
    body.insert("floating_ip_port_mappings_enable".into(), Value::Bool(true));
    ops::update(store, "floating-ip", fip, &body, "svc-monitor")
}

/// `_get_floating_ip(iip_id=...)`: the first floating IP under the instance IP, read now.
fn read_fip(store: &Store, iip: &str) -> Option<CachedFip> {
    let uuid = store
        .children_of_type(iip, "floating-ip")
        .into_iter()
        .next()?;
    let vmis = refs_of(store, &uuid, "virtual_machine_interface_refs")
        .into_iter()
        .collect();
    Some(CachedFip { uuid, vmis })
}

/// The instance-ip child floating IP `_update_loadbalancer_props` creates.
fn create_fip(store: &mut Store, iip: &str, vip_vmi: &str) -> ApiResult<()> {
    let Some(iip_obj) = store.get(iip) else {
        return Err(ApiError::not_found(format!(
            "instance_ip_read: Unknown id: {iip}"
        )));
    };
    let Some(address) = iip_obj
        .props
        .get("instance_ip_address")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return Err(ApiError::bad_request(format!(
            "instance-ip {iip} has no address for the floating IP"
        )));
    };
    let uuid = uuid::Uuid::new_v4().to_string();
    let mut fq = iip_obj.fq_name.clone();
    fq.push(uuid.clone());
    let mut body = Map::new();
    body.insert("fq_name".into(), json!(fq));
    body.insert("parent_type".into(), json!("instance-ip"));
    body.insert("uuid".into(), json!(uuid));
    body.insert("floating_ip_address".into(), json!(address));
    body.insert("floating_ip_traffic_direction".into(), json!("ingress"));
    let project = store.get(vip_vmi).and_then(|v| match &v.parent {
        Some((t, p)) if t == "project" => store.get(p).map(|p| p.fq_name.clone()),
        _ => None,
    });
    if let Some(p) = project {
        body.insert("project_refs".into(), json!([{ "to": p }]));
    }
    ops::create(store, "floating-ip", &body).map(|_| ())
}

#[cfg(test)]
mod tests {
    //! Each scenario is one that upstream's running svc-monitor was put through
    //! (`shared/contrail-api-server/check-daemons.py lb`, and the same objects with a second
    //! listener), with what it did.

    use serde_json::{Value, json};

    use crate::config_api::{ConfigApiOptions, ConfigApiSim};
    use contrail_mesos::clients::contrail::config_api::{ApiOptions, ConfigApi, RefOp};

    const P: [&str; 2] = ["default-domain", "p"];

    fn fq(name: &str) -> Value {
        json!([P[0], P[1], name])
    }

    struct Env {
        sim: ConfigApiSim,
        api: ConfigApi,
    }

    impl Env {
        fn new(svc_monitor: bool) -> Env {
            let sim = ConfigApiSim::start(ConfigApiOptions {
                svc_monitor,
                ..ConfigApiOptions::default()
            })
            .expect("emulator");
            sim.add_network(&[P[0], P[1], "svc"], &["10.96.0.0/24"])
                .expect("service network");
            sim.add_network(&[P[0], P[1], "tasks"], &["5.5.5.0/24"])
                .expect("task network");
            let api = ConfigApi::new(ApiOptions::new(vec![sim.url()])).expect("client");
            Env { sim, api }
        }

        /// `POST /<type>s` over HTTP, as a client sends it (svc-monitor follows requests).
        fn create(&self, ty: &str, body: Value) -> String {
            let mut r = ureq::post(format!("{}/{ty}s", self.sim.url()))
                .send_json(json!({ ty: body }))
                .expect(ty);
            let answer: Value = r.body_mut().read_json().expect("JSON answer");
            answer[ty]["uuid"].as_str().expect("uuid").to_string()
        }

        /// `PUT /<type>/<uuid>` over HTTP.
        fn update(&self, ty: &str, uuid: &str, body: Value) {
            ureq::put(format!("{}/{ty}/{uuid}", self.sim.url()))
                .send_json(json!({ ty: body }))
                .expect(ty);
        }

        /// An interface with an instance IP; returns (interface, instance IP).
        fn vmi(&self, name: &str, network: &str, address: &str) -> (String, String) {
            let vmi = self.create(
                "virtual-machine-interface",
                json!({"fq_name": fq(name), "parent_type": "project",
                       "virtual_network_refs": [{"to": fq(network)}]}),
            );
            let iip = self.create(
                "instance-ip",
                json!({"fq_name": [format!("{name}-iip")], "instance_ip_address": address,
                       "virtual_network_refs": [{"to": fq(network)}],
                       "virtual_machine_interface_refs": [{"uuid": vmi}]}),
            );
            (vmi, iip)
        }

        /// A listener on `port` of load balancer `lb` and its pool (kube-manager's shapes).
        fn listener(&self, lb: &str, port: u16) -> (String, String) {
            let name = format!("{lb}-TCP-{port}");
            let l = self.create(
                "loadbalancer-listener",
                json!({"fq_name": fq(&name), "parent_type": "project",
                       "loadbalancer_refs": [{"to": fq(lb)}],
                       "loadbalancer_listener_properties": {"protocol": "TCP",
                           "protocol_port": port, "admin_state": true, "connection_limit": null,
                           "default_tls_container": null, "sni_containers": []}}),
            );
            let p = self.create(
                "loadbalancer-pool",
                json!({"fq_name": fq(&format!("{name}-pool")), "parent_type": "project",
                       "loadbalancer_listener_refs": [{"to": fq(&name)}],
                       "loadbalancer_pool_properties": {"protocol": "TCP",
                           "loadbalancer_method": null, "admin_state": true}}),
            );
            (l, p)
        }

        /// A VIP interface at 10.96.0.10, a native load balancer `lb` with `props` as its
        /// `loadbalancer_properties`, and a listener on 80 with its pool. Returns (VIP
        /// instance IP, listener, pool).
        fn vip(&self, provider: &str, props: Value) -> (String, String, String) {
            let (vip_vmi, vip_iip) = self.vmi("vip", "svc", "10.96.0.10");
            self.create(
                "loadbalancer",
                json!({"fq_name": fq("lb"), "parent_type": "project",
                       "loadbalancer_provider": provider, "loadbalancer_properties": props,
                       "virtual_machine_interface_refs": [{"uuid": vip_vmi}]}),
            );
            let (l, p) = self.listener("lb", 80);
            (vip_iip, l, p)
        }

        fn member(&self, pool: &str, name: &str, vmi: &str, port: u16) -> String {
            let pool_fq = self.sim.get("loadbalancer-pool", pool).expect("pool")["fq_name"].clone();
            let mut m = pool_fq.as_array().cloned().unwrap_or_default();
            m.push(json!(name));
            self.create(
                "loadbalancer-member",
                json!({"fq_name": m, "parent_type": "loadbalancer-pool",
                       "loadbalancer_member_properties": {"admin_state": true, "status": null,
                           "status_description": null, "protocol_port": port, "weight": 1,
                           "address": null, "subnet_id": null},
                       "annotations": {"key_value_pair": [{"key": "vmi", "value": vmi}]}}),
            )
        }

        /// The floating IPs under an instance IP.
        fn fips_of(&self, iip: &str) -> Vec<Value> {
            self.sim
                .get("instance-ip", iip)
                .and_then(|v| v["floating_ips"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|r| self.sim.get("floating-ip", r["uuid"].as_str()?))
                .collect()
        }

        /// (interfaces, port maps) of the one floating IP under `iip`.
        fn fip(&self, iip: &str) -> (Vec<String>, Vec<(String, u64, u64)>) {
            let fips = self.fips_of(iip);
            assert_eq!(fips.len(), 1, "one floating IP under the VIP: {fips:?}");
            let f = &fips[0];
            assert_eq!(f["floating_ip_port_mappings_enable"], true);
            let mut vmis: Vec<String> = f["virtual_machine_interface_refs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["uuid"].as_str().map(str::to_string))
                .collect();
            vmis.sort();
            let maps = f["floating_ip_port_mappings"]["port_mappings"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| {
                    (
                        m["protocol"].as_str().unwrap_or_default().to_string(),
                        m["src_port"].as_u64().unwrap_or_default(),
                        m["dst_port"].as_u64().unwrap_or_default(),
                    )
                })
                .collect();
            (vmis, maps)
        }

        fn detach(&self, iip: &str, vmi: &str) {
            let fip = self.fips_of(iip)[0]["uuid"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            self.api
                .ref_update(
                    "floating-ip",
                    &fip,
                    "virtual-machine-interface",
                    vmi,
                    RefOp::Delete,
                    None,
                )
                .expect("detach");
        }

        fn delete(&self, ty: &str, uuid: &str) {
            self.api.delete(ty, uuid).expect(ty);
        }
    }

    fn kube_props() -> Value {
        json!({"status": null, "provisioning_status": "ACTIVE", "operating_status": "ONLINE",
               "vip_subnet_id": null, "vip_address": "10.96.0.10", "admin_state": true})
    }

    fn sorted(v: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    fn map(port: u64, dst: u64) -> (String, u64, u64) {
        ("TCP".to_string(), port, dst)
    }

    #[test]
    fn members_are_attached_and_nothing_is_ever_taken_off() {
        let env = Env::new(true);
        let sas = env
            .sim
            .find(
                "service-appliance-set",
                &["default-global-system-config", "native"],
            )
            .expect("svc-monitor registers the native driver at start");
        assert!(
            sas["service_appliance_driver"]
                .as_str()
                .is_some_and(|d| d.ends_with("native.driver.OpencontrailLoadbalancerDriver"))
        );
        let (t1, t1_iip) = env.vmi("t1", "tasks", "5.5.5.3");
        let (t2, _) = env.vmi("t2", "tasks", "5.5.5.4");
        let (t3, _) = env.vmi("t3", "tasks", "5.5.5.5");
        let (vip_iip, listener, pool) = env.vip("native", kube_props());
        let fips = env.fips_of(&vip_iip);
        assert_eq!(fips.len(), 1, "one floating IP under the VIP's instance IP");
        let f = &fips[0];
        assert_eq!(f["fq_name"][1], f["uuid"], "named by its uuid");
        assert_eq!(f["floating_ip_address"], "10.96.0.10");
        assert_eq!(f["floating_ip_traffic_direction"], "ingress");
        assert_eq!(f["project_refs"][0]["to"], json!(P));

        let m1 = env.member(&pool, "m1", &t1, 8080);
        let m2 = env.member(&pool, "m2", &t2, 8080);
        let m3 = env.member(&pool, "m3", &t3, 8080);
        assert_eq!(
            env.fip(&vip_iip),
            (sorted(&[&t1, &t2, &t3]), vec![map(80, 8080)])
        );

        // Member 1's interface cannot go while its instance IP, then the floating IP, refer
        // to it; taken off the floating IP by its owner, it goes.
        let err = env
            .api
            .delete("virtual-machine-interface", &t1)
            .expect_err("its instance IP refers to it");
        assert!(err.is_conflict(), "{err}");
        env.delete("instance-ip", &t1_iip);
        let err = env
            .api
            .delete("virtual-machine-interface", &t1)
            .expect_err("the floating IP refers to it");
        assert!(err.message.contains("floating-ip"), "{err}");
        env.detach(&vip_iip, &t1);
        env.delete("virtual-machine-interface", &t1);
        assert_eq!(
            env.fip(&vip_iip),
            (sorted(&[&t2, &t3]), vec![map(80, 8080)])
        );
        env.delete("loadbalancer-member", &m1);
        assert_eq!(
            env.fip(&vip_iip),
            (sorted(&[&t2, &t3]), vec![map(80, 8080)])
        );

        // Member 2 goes, its interface stays: still on the floating IP.
        env.delete("loadbalancer-member", &m2);
        assert_eq!(
            env.fip(&vip_iip),
            (sorted(&[&t2, &t3]), vec![map(80, 8080)])
        );

        // Member 3's interface taken off, then its member deleted.
        env.detach(&vip_iip, &t3);
        env.delete("loadbalancer-member", &m3);
        assert_eq!(env.fip(&vip_iip), (vec![t2.clone()], vec![map(80, 8080)]));

        // A new member: its interface alone is added.
        let (t4, _) = env.vmi("t4", "tasks", "5.5.5.6");
        let m4 = env.member(&pool, "m4", &t4, 8080);
        assert_eq!(
            env.fip(&vip_iip),
            (sorted(&[&t2, &t4]), vec![map(80, 8080)])
        );

        // Taken off, then the member changes: not put back.
        env.detach(&vip_iip, &t4);
        env.update(
            "loadbalancer-member",
            &m4,
            json!({"loadbalancer_member_properties": {"address": null,
                    "protocol_port": 8080, "weight": 2, "admin_state": true}}),
        );
        assert_eq!(env.fip(&vip_iip), (vec![t2.clone()], vec![map(80, 8080)]));

        // The service goes: the floating IP stays, as it was.
        env.delete("loadbalancer-member", &m4);
        let lb = env
            .sim
            .find("loadbalancer", &[P[0], P[1], "lb"])
            .expect("lb")["uuid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        env.delete("loadbalancer-pool", &pool);
        env.delete("loadbalancer-listener", &listener);
        env.delete("loadbalancer", &lb);
        assert_eq!(env.fip(&vip_iip), (vec![t2.clone()], vec![map(80, 8080)]));
        let err = env
            .api
            .delete("instance-ip", &vip_iip)
            .expect_err("the floating IP is a child of the VIP's instance IP");
        assert!(err.is_conflict(), "{err}");
    }

    #[test]
    fn a_pool_adds_an_interface_it_has_not_seen_and_port_maps_never_move_or_go() {
        let env = Env::new(true);
        let (t1, _) = env.vmi("t1", "tasks", "5.5.5.3");
        let (t2, _) = env.vmi("t2", "tasks", "5.5.5.4");
        let (t3, _) = env.vmi("t3", "tasks", "5.5.5.5");
        let (vip_iip, _, pool) = env.vip("native", kube_props());
        let m1 = env.member(&pool, "m1", &t1, 8080);
        // The first member's port stays the listener's.
        env.member(&pool, "m2", &t2, 9090);
        assert_eq!(
            env.fip(&vip_iip),
            (sorted(&[&t1, &t2]), vec![map(80, 8080)])
        );

        // Taken off, its member deleted and made again in the same pool: not put back.
        env.detach(&vip_iip, &t1);
        env.delete("loadbalancer-member", &m1);
        env.member(&pool, "m1b", &t1, 8080);
        assert_eq!(env.fip(&vip_iip), (vec![t2.clone()], vec![map(80, 8080)]));

        // An interface the pool has not seen: added.
        env.member(&pool, "m3", &t3, 8080);
        assert_eq!(
            env.fip(&vip_iip),
            (sorted(&[&t2, &t3]), vec![map(80, 8080)])
        );

        // A new listener's pool reads the floating IP afresh: t1 is put back, with 81's map.
        let (l81, p81) = env.listener("lb", 81);
        let m81 = env.member(&p81, "m4", &t1, 8081);
        let maps = vec![map(80, 8080), map(81, 8081)];
        assert_eq!(env.fip(&vip_iip), (sorted(&[&t1, &t2, &t3]), maps.clone()));

        // The listener's port changes: its map stays; the listener goes: its map stays.
        env.update(
            "loadbalancer-listener",
            &l81,
            json!({"loadbalancer_listener_properties": {"protocol": "TCP",
                    "protocol_port": 82, "admin_state": true, "connection_limit": null,
                    "default_tls_container": null}}),
        );
        assert_eq!(env.fip(&vip_iip), (sorted(&[&t1, &t2, &t3]), maps.clone()));
        env.delete("loadbalancer-member", &m81);
        env.delete("loadbalancer-pool", &p81);
        env.delete("loadbalancer-listener", &l81);
        assert_eq!(env.fip(&vip_iip), (sorted(&[&t1, &t2, &t3]), maps));
    }

    #[test]
    fn no_floating_ip_without_svc_monitor_a_native_provider_or_every_property_key() {
        let plain = Env::new(false);
        assert!(
            plain
                .sim
                .find(
                    "service-appliance-set",
                    &["default-global-system-config", "native"]
                )
                .is_none()
        );
        let (iip, _, _) = plain.vip("native", kube_props());
        assert!(
            plain.fips_of(&iip).is_empty(),
            "an API server alone makes none"
        );
        let env = Env::new(true);
        let (iip, _, _) = env.vip("opencontrail", kube_props());
        assert!(env.fips_of(&iip).is_empty(), "not the native driver's");
        // Null keys left out (a client skipping None): `loadbalancer_get_reqdict` raises.
        let env = Env::new(true);
        let (iip, _, _) = env.vip(
            "native",
            json!({"provisioning_status": "ACTIVE", "operating_status": "ONLINE",
                   "vip_address": "10.96.0.10", "admin_state": true}),
        );
        assert!(env.fips_of(&iip).is_empty(), "no vip_subnet_id key");
    }
}
