//! What contrail-svc-monitor's native load-balancer driver does to the config (an option of
//! the emulator: a real API server without svc-monitor does none of it).
//!
//! Followed upstream (Juniper/contrail-controller R2005, `src/config/svc-monitor/svc_monitor/`:
//! `loadbalancer_agent.py` `_create_default_service_appliance_set`, and
//! `services/loadbalancer/drivers/native/driver.py` `OpencontrailLoadbalancerDriver`):
//! - at start-up, the service-appliance-sets `[default-global-system-config, opencontrail]`
//!   and `[..., native]` with their `service_appliance_driver` and `perms2` (cloud-admin, RWX,
//!   global RX);
//! - for a `loadbalancer` whose `loadbalancer_provider` is `native` and that refers to a VIP
//!   interface (`_update_loadbalancer_props`): one floating IP per instance IP of that
//!   interface, a child of the instance IP, with its address, `floating_ip_traffic_direction`
//!   `ingress` and `project_refs` to the interface's project (uuid = name = uuid4);
//! - each member (`_update_member_props`): its interface (the `vmi` annotation; a member whose
//!   interface does not exist is skipped) referred to by those floating IPs, and a port map
//!   `(TCP|UDP, listener port → member port)` added when the listener has none yet
//!   (`_add_port_map` keeps an existing `(protocol, src_port)`, so the first member's port
//!   stays); `floating_ip_port_mappings_enable` true;
//! - a member removed (`_clear_member_props`): its interface taken off; the pool's last member
//!   also takes the listener's port map (`_delete_port_map`, matched on `src_port`), as does a
//!   removed listener (`_clear_listener_props`);
//! - the load balancer removed (`_clear_loadbalancer_props`): its floating IPs emptied and
//!   deleted.
//!
//! svc-monitor learns changes from the API server's message bus and acts shortly after; the
//! emulator acts right after each write that touches a load balancer's objects, under the same
//! store lock, so a test sees the result at once. Where upstream's driver takes an interface
//! off the floating IP while another member of the same load balancer still uses it (a task
//! in two pools), the emulator keeps it: refs are the union of the current members' interfaces.
//! External floating IPs on the VIP interface and health monitors are not emulated.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::error::ApiResult;
use super::ops;
use super::seed::{GSC, ensure};
use super::store::Store;

/// The driver's memory (upstream keeps it in Cassandra as the load balancer's driver info):
/// load balancer → instance IP → the floating IP made for it.
#[derive(Debug, Default)]
pub struct Driver {
    lbs: BTreeMap<String, BTreeMap<String, String>>,
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

fn str_of<'a>(v: Option<&'a Value>, key: &str) -> Option<&'a str> {
    v.and_then(|v| v.get(key)).and_then(Value::as_str)
}

fn first_ref<'a>(store: &'a Store, uuid: &str, field: &str) -> Vec<&'a str> {
    store
        .get(uuid)
        .and_then(|o| o.refs.get(field))
        .map(|r| r.iter().map(|r| r.uuid.as_str()).collect())
        .unwrap_or_default()
}

/// The load balancers a write to `ty` `uuid` concerns (looked up before the write for an
/// update or delete, after it for a create or update).
pub fn concerned(store: &Store, ty: &str, uuid: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let lbs_of_listener = |l: &str, out: &mut BTreeSet<String>| {
        for lb in first_ref(store, l, "loadbalancer_refs") {
            out.insert(lb.to_string());
        }
    };
    let lbs_of_pool = |p: &str, out: &mut BTreeSet<String>| {
        for l in first_ref(store, p, "loadbalancer_listener_refs") {
            lbs_of_listener(l, out);
        }
    };
    let lbs_of_vmi = |v: &str, out: &mut BTreeSet<String>| {
        out.extend(store.referrers_of_type(v, "loadbalancer"));
    };
    match ty {
        "loadbalancer" => {
            out.insert(uuid.to_string());
        }
        "loadbalancer-listener" => lbs_of_listener(uuid, &mut out),
        "loadbalancer-pool" => lbs_of_pool(uuid, &mut out),
        "loadbalancer-member" => {
            if let Some((_, pool)) = store.get(uuid).and_then(|m| m.parent.clone()) {
                lbs_of_pool(&pool, &mut out);
            }
        }
        "instance-ip" => {
            for v in first_ref(store, uuid, "virtual_machine_interface_refs") {
                lbs_of_vmi(v, &mut out);
            }
        }
        "floating-ip" => {
            if let Some((pt, iip)) = store.get(uuid).and_then(|f| f.parent.clone())
                && pt == "instance-ip"
            {
                for v in first_ref(store, &iip, "virtual_machine_interface_refs") {
                    lbs_of_vmi(v, &mut out);
                }
            }
        }
        "virtual-machine-interface" => lbs_of_vmi(uuid, &mut out),
        _ => {}
    }
    out
}

/// Bring the floating IPs of these load balancers in step with their members. Errors are
/// logged, as svc-monitor logs them; nothing is refused to the client whose write triggered
/// this.
pub fn converge(store: &mut Store, driver: &mut Driver, lbs: &BTreeSet<String>) {
    for lb in lbs {
        if let Err(e) = converge_one(store, driver, lb) {
            log::warn!("cfgsim svc-monitor: loadbalancer {lb}: {}", e.msg);
        }
    }
}

/// One member's interface and port.
struct Member {
    vmi: String,
    port: Value,
}

fn converge_one(store: &mut Store, driver: &mut Driver, lb: &str) -> ApiResult<()> {
    let native = store.get_typed("loadbalancer", lb).is_some_and(|o| {
        o.props.get("loadbalancer_provider").and_then(Value::as_str) == Some("native")
    });
    let vip_vmi = if native {
        first_ref(store, lb, "virtual_machine_interface_refs")
            .first()
            .map(|s| s.to_string())
    } else {
        None
    };
    let Some(vip_vmi) = vip_vmi.filter(|v| store.contains(v)) else {
        // `_clear_loadbalancer_props`: the load balancer is gone (or no longer ours to drive).
        for (_, fip) in driver.lbs.remove(lb).unwrap_or_default() {
            remove_fip(store, &fip)?;
        }
        return Ok(());
    };
    let iips = store.referrers_of_type(&vip_vmi, "instance-ip");
    let known = driver.lbs.entry(lb.to_string()).or_default();
    for (iip, fip) in known.clone() {
        if !iips.contains(&iip) || !store.contains(&fip) {
            remove_fip(store, &fip)?;
            known.remove(&iip);
        }
    }
    for iip in &iips {
        if known.contains_key(iip) {
            continue;
        }
        if let Some(fip) = create_fip(store, iip, &vip_vmi)? {
            known.insert(iip.clone(), fip);
        }
    }
    // Listeners of the load balancer: (protocol, port) -> the members of its pool.
    let mut listeners: Vec<(String, Value, Vec<Member>)> = Vec::new();
    for l in store.referrers_of_type(lb, "loadbalancer-listener") {
        let props = store
            .get(&l)
            .and_then(|o| o.props.get("loadbalancer_listener_properties"));
        let protocol = if str_of(props, "protocol") == Some("UDP") {
            "UDP"
        } else {
            "TCP"
        };
        let src = props
            .and_then(|p| p.get("protocol_port"))
            .cloned()
            .unwrap_or(Value::Null);
        let mut members = Vec::new();
        for pool in store.referrers_of_type(&l, "loadbalancer-pool") {
            for m in store.children_of_type(&pool, "loadbalancer-member") {
                let Some(obj) = store.get(&m) else { continue };
                let vmi = obj
                    .props
                    .get("annotations")
                    .and_then(|a| a.get("key_value_pair"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find(|kv| kv.get("key").and_then(Value::as_str) == Some("vmi"))
                    .and_then(|kv| kv.get("value"))
                    .and_then(Value::as_str);
                // `virtual_machine_interface_read` NoIdError: the member is skipped.
                let Some(vmi) =
                    vmi.filter(|v| store.get_typed("virtual-machine-interface", v).is_some())
                else {
                    continue;
                };
                let port = obj
                    .props
                    .get("loadbalancer_member_properties")
                    .and_then(|p| p.get("protocol_port"))
                    .cloned()
                    .unwrap_or(Value::Null);
                members.push(Member {
                    vmi: vmi.to_string(),
                    port,
                });
            }
        }
        listeners.push((protocol.to_string(), src, members));
    }
    let vmis: BTreeSet<&str> = listeners
        .iter()
        .flat_map(|(_, _, m)| m.iter().map(|m| m.vmi.as_str()))
        .collect();
    for fip in known.values() {
        let Some(obj) = store.get(fip) else { continue };
        let have: BTreeSet<&str> = obj
            .refs
            .get("virtual_machine_interface_refs")
            .into_iter()
            .flatten()
            .map(|r| r.uuid.as_str())
            .collect();
        let old_maps: Vec<Value> = obj
            .props
            .get("floating_ip_port_mappings")
            .and_then(|p| p.get("port_mappings"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut maps: Vec<Value> = Vec::new();
        // Kept: the maps of listeners that still have members.
        for m in &old_maps {
            let live = listeners.iter().any(|(proto, src, members)| {
                m.get("src_port") == Some(src)
                    && m.get("protocol").and_then(Value::as_str) == Some(proto.as_str())
                    && !members.is_empty()
            });
            if live {
                maps.push(m.clone());
            }
        }
        // Added: a listener with members and no map yet, to its first member's port.
        for (proto, src, members) in &listeners {
            let Some(first) = members.first() else {
                continue;
            };
            let exists = maps.iter().any(|m| {
                m.get("src_port") == Some(src)
                    && m.get("protocol").and_then(Value::as_str) == Some(proto.as_str())
            });
            if !exists {
                maps.push(json!({"protocol": proto, "src_port": src, "dst_port": first.port}));
            }
        }
        if have == vmis && maps == old_maps {
            continue;
        }
        let mut body = Map::new();
        body.insert(
            "virtual_machine_interface_refs".into(),
            Value::Array(
                vmis.iter()
                    .map(|v| {
                        let to = store.get(v).map(|o| o.fq_name.clone()).unwrap_or_default();
                        json!({"to": to, "uuid": v})
                    })
                    .collect(),
            ),
        );
        body.insert(
            "floating_ip_port_mappings_enable".into(),
            Value::Bool(!maps.is_empty()),
        );
        body.insert(
            "floating_ip_port_mappings".into(),
            json!({ "port_mappings": maps }),
        );
        let fip = fip.clone();
        ops::update(store, "floating-ip", &fip, &body, "svc-monitor")?;
    }
    Ok(())
}

/// The instance-ip child floating IP `_update_loadbalancer_props` creates.
fn create_fip(store: &mut Store, iip: &str, vip_vmi: &str) -> ApiResult<Option<String>> {
    let Some(iip_obj) = store.get(iip) else {
        return Ok(None);
    };
    let Some(address) = iip_obj
        .props
        .get("instance_ip_address")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return Ok(None);
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
    ops::create(store, "floating-ip", &body).map(Some)
}

/// Empty the floating IP's interfaces, then delete it; gone is fine.
fn remove_fip(store: &mut Store, fip: &str) -> ApiResult<()> {
    if store.get_typed("floating-ip", fip).is_none() {
        return Ok(());
    }
    let mut body = Map::new();
    body.insert("virtual_machine_interface_refs".into(), json!([]));
    ops::update(store, "floating-ip", fip, &body, "svc-monitor")?;
    ops::delete(store, "floating-ip", fip, "")
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::config_api::{ConfigApiOptions, ConfigApiSim};
    use contrail_mesos::clients::contrail::config_api::{ApiOptions, ConfigApi};

    const P: [&str; 2] = ["default-domain", "p"];

    fn fq(name: &str) -> Value {
        json!([P[0], P[1], name])
    }

    fn kv(pairs: &[(&str, &str)]) -> Value {
        json!({"key_value_pair": pairs.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>()})
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

        fn create(&self, ty: &str, body: Value) -> String {
            self.api.create(ty, body).expect(ty)
        }

        fn vmi(&self, name: &str, network: &str) -> String {
            self.create(
                "virtual-machine-interface",
                json!({"fq_name": fq(name), "parent_type": "project",
                       "virtual_network_refs": [{"to": fq(network)}]}),
            )
        }

        fn iip(&self, name: &str, vmi: &str, network: &str, address: &str) -> String {
            self.create(
                "instance-ip",
                json!({"fq_name": [name], "instance_ip_address": address,
                       "virtual_network_refs": [{"to": fq(network)}],
                       "virtual_machine_interface_refs": [{"uuid": vmi}]}),
            )
        }

        fn member(&self, name: &str, vmi: &str, port: u16) -> String {
            self.create(
                "loadbalancer-member",
                json!({"fq_name": [P[0], P[1], "pool", name], "parent_type": "loadbalancer-pool",
                       "loadbalancer_member_properties": {"admin_state": true, "status": null,
                           "status_description": null, "protocol_port": port, "weight": 1,
                           "address": null, "subnet_id": null},
                       "annotations": kv(&[("vmi", vmi)])}),
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
    }

    fn refs(fip: &Value) -> Vec<String> {
        let mut v: Vec<String> = fip["virtual_machine_interface_refs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["uuid"].as_str().map(str::to_string))
            .collect();
        v.sort();
        v
    }

    fn vip(env: &Env, provider: &str) -> (String, String) {
        let vip_vmi = env.vmi("vip", "svc");
        let vip_iip = env.iip("vip-iip", &vip_vmi, "svc", "10.96.0.10");
        env.create(
            "loadbalancer",
            json!({"fq_name": fq("lb"), "parent_type": "project", "loadbalancer_provider": provider,
                   "loadbalancer_properties": {"status": null, "provisioning_status": "ACTIVE",
                       "operating_status": "ONLINE", "vip_subnet_id": null,
                       "vip_address": "10.96.0.10", "admin_state": true},
                   "virtual_machine_interface_refs": [{"uuid": vip_vmi}]}),
        );
        env.create(
            "loadbalancer-listener",
            json!({"fq_name": fq("listener"), "parent_type": "project",
                   "loadbalancer_refs": [{"to": fq("lb")}],
                   "loadbalancer_listener_properties": {"protocol": "TCP", "protocol_port": 80,
                       "admin_state": true, "connection_limit": null,
                       "default_tls_container": null, "sni_containers": []}}),
        );
        env.create(
            "loadbalancer-pool",
            json!({"fq_name": fq("pool"), "parent_type": "project",
                   "loadbalancer_listener_refs": [{"to": fq("listener")}],
                   "loadbalancer_pool_properties": {"protocol": "TCP", "admin_state": true}}),
        );
        (vip_vmi, vip_iip)
    }

    #[test]
    fn the_native_driver_keeps_the_vip_floating_ip_on_the_members() {
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
        assert!(
            env.sim
                .find(
                    "service-appliance-set",
                    &["default-global-system-config", "opencontrail"]
                )
                .is_some()
        );
        let (t1, t2) = (env.vmi("t1", "tasks"), env.vmi("t2", "tasks"));
        env.iip("t1-iip", &t1, "tasks", "5.5.5.3");
        env.iip("t2-iip", &t2, "tasks", "5.5.5.4");
        let (_, vip_iip) = vip(&env, "native");
        let fips = env.fips_of(&vip_iip);
        assert_eq!(fips.len(), 1, "one floating IP under the VIP's instance IP");
        let fip = fips[0]["uuid"].as_str().expect("uuid").to_string();
        assert_eq!(fips[0]["floating_ip_address"], "10.96.0.10");
        assert_eq!(fips[0]["floating_ip_traffic_direction"], "ingress");
        assert_eq!(fips[0]["project_refs"][0]["to"], json!(P));
        assert!(refs(&fips[0]).is_empty());

        let m1 = env.member("m1", &t1, 8080);
        let f = env.sim.get("floating-ip", &fip).expect("fip");
        assert_eq!(refs(&f), std::slice::from_ref(&t1));
        assert_eq!(f["floating_ip_port_mappings_enable"], true);
        assert_eq!(
            f["floating_ip_port_mappings"],
            json!({"port_mappings": [{"protocol": "TCP", "src_port": 80, "dst_port": 8080}]})
        );
        let m2 = env.member("m2", &t2, 9090);
        env.member("m-nowhere", "5e0e9a25-33a8-4bd9-9d4d-3f2f9e6bd8b1", 8080);
        let f = env.sim.get("floating-ip", &fip).expect("fip");
        let mut both = vec![t1.clone(), t2.clone()];
        both.sort();
        assert_eq!(refs(&f), both, "a member without an interface is skipped");
        assert_eq!(
            f["floating_ip_port_mappings"]["port_mappings"][0]["dst_port"], 8080,
            "the first member's port stays"
        );
        // A member interface cannot go while the floating IP refers to it, and taking it off
        // while the member exists does not last: svc-monitor puts it back.
        assert!(env.api.delete("virtual-machine-interface", &t1).is_err());
        env.api
            .ref_update(
                "floating-ip",
                &fip,
                "virtual-machine-interface",
                &t1,
                contrail_mesos::clients::contrail::config_api::RefOp::Delete,
                None,
            )
            .expect("detach");
        assert_eq!(refs(&env.sim.get("floating-ip", &fip).expect("fip")), both);
        env.api
            .delete("loadbalancer-member", &m1)
            .expect("member 1 goes");
        let f = env.sim.get("floating-ip", &fip).expect("fip");
        assert_eq!(refs(&f), std::slice::from_ref(&t2));
        assert_eq!(
            f["floating_ip_port_mappings"]["port_mappings"][0]["dst_port"],
            8080
        );
        env.api
            .delete("virtual-machine-interface", &t1)
            .expect_err("its instance IP still refers");
        env.api
            .delete("loadbalancer-member", &m2)
            .expect("member 2 goes");
        let f = env.sim.get("floating-ip", &fip).expect("fip");
        assert!(refs(&f).is_empty());
        assert_eq!(f["floating_ip_port_mappings"], json!({"port_mappings": []}));
        assert_eq!(f["floating_ip_port_mappings_enable"], false);
        // The load balancer goes: so does its floating IP, and then the instance IP can.
        for m in env.sim.list("loadbalancer-member") {
            env.api
                .delete("loadbalancer-member", m["uuid"].as_str().expect("uuid"))
                .expect("member");
        }
        for (ty, name) in [
            ("loadbalancer-pool", "pool"),
            ("loadbalancer-listener", "listener"),
            ("loadbalancer", "lb"),
        ] {
            let u = env.sim.find(ty, &[P[0], P[1], name]).expect("object")["uuid"]
                .as_str()
                .expect("uuid")
                .to_string();
            env.api.delete(ty, &u).expect(ty);
        }
        assert!(env.sim.get("floating-ip", &fip).is_none());
        env.api
            .delete("instance-ip", &vip_iip)
            .expect("the VIP's instance IP");
    }

    #[test]
    fn no_svc_monitor_no_floating_ip_and_only_native_load_balancers() {
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
        let (_, iip) = vip(&plain, "native");
        assert!(
            plain.fips_of(&iip).is_empty(),
            "an API server alone makes none"
        );
        let env = Env::new(true);
        let (_, iip) = vip(&env, "opencontrail");
        assert!(env.fips_of(&iip).is_empty(), "not the native driver's");
    }
}
