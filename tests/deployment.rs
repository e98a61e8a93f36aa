//! What a real cluster does that a lenient emulator would hide: the node's virtual-router is
//! named after the host and sits at its fabric address, the API server answers allocation
//! failures with its own statuses, and several tasks' objects must never be confused.
//! The manager over real HTTP, on the config API emulator and on upstream's real server.

mod common;

use std::time::Duration;

use common::*;
use contrail_mesos::applets::manager;
use serde_json::{Value, json};

both_backends! {
    the_router_named_after_the_host_at_its_fabric_address: Real;
    each_way_of_finding_the_router_in_the_contract_order: Real;
    no_router_for_the_node_fails_at_once_and_leaves_nothing: Real;
    a_router_made_again_or_gone_is_looked_for_again_within_the_add: Real;
    allocation_failures_get_their_own_codes: Real;
    names_of_different_tasks_never_meet: Real;
    teardown_frees_an_address_only_this_interface_used: Real;
    dual_stack_and_ipv6_only_networks: Real;
    a_vm_that_exists_under_another_uuid_is_used_and_removed: Real;
}

fn add(url: &str, body: &Value) -> (u16, Value) {
    post_json(&format!("{url}/add_cni_info"), body)
}

fn del(url: &str, cid: &str, ifname: &str) -> (u16, Value) {
    post_json(&format!("{url}/del_cni_info"), &del_body(cid, ifname))
}

/// A manager of the test's cluster.
fn start(env: &Env) -> manager::Running {
    manager::start(env.settings()).expect("manager")
}

fn the_router_named_after_the_host_at_its_fabric_address(env: Env) {
    let (c, m) = (&env.config, start(&env));
    let host = node();
    c.add_virtual_router(&host, FABRIC_IP).expect("router");
    // Another node's router at loopback, named after the cluster (the CNI config's
    // `cluster-name`): a trap for upstream's ways.
    let decoy = env.tagged("mesos");
    c.add_virtual_router(&decoy, "127.0.0.1")
        .expect("decoy router");
    let cid = env.cid();
    let contrail = packaged_contrail(json!({"cluster-name": decoy}));
    let (s, a) = add(
        &m.url(),
        &add_body(&cid, "eth0", contrail, &env.blue(), Some(node_info())),
    );
    assert_eq!(s, 200, "{a}");
    assert!(linked(c, &host, &cid), "the host's router has the VM");
    assert!(!linked(c, &decoy, &cid), "no other router has it");
    let vmi = c
        .get(
            "virtual-machine-interface",
            a["interfaces"][0]["vmi-uuid"].as_str().expect("vmi"),
        )
        .expect("interface");
    let bindings = vmi["virtual_machine_interface_bindings"]["key_value_pair"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        bindings.contains(&json!({"key": "host_id", "value": host})),
        "bound to the router, as kube-manager binds: {bindings:?}"
    );
    let project = c
        .find("project", &["default-domain", &env.project])
        .expect("project");
    let owner = vmi["perms2"]["owner"].as_str().unwrap_or_default();
    assert_eq!(
        owner.replace('-', ""),
        project["uuid"]
            .as_str()
            .unwrap_or_default()
            .replace('-', ""),
        "owned by the project: {}",
        vmi["perms2"]
    );
    assert_eq!(del(&m.url(), &cid, "eth0").0, 200);
    assert!(!linked(c, &host, &cid));
    m.shutdown();
}

fn each_way_of_finding_the_router_in_the_contract_order(env: Env) {
    let (c, m) = (&env.config, start(&env));
    let (node17, agent9) = (env.tagged("node17"), env.tagged("agent-9"));
    // (router name, router address, contrail keys, node the plugin describes)
    let cases: Vec<(String, &str, Value, Option<Value>)> = vec![
        // A non-loopback vrouter-ip names the router by address, whatever the host.
        (
            env.tagged("by-address"),
            "10.98.0.1",
            packaged_contrail(json!({"vrouter-ip": "10.98.0.1"})),
            Some(json!({"hostname": env.tagged("by-address-host")})),
        ),
        // The first label of a fully qualified host name.
        (
            node17.clone(),
            "10.98.0.17",
            packaged_contrail(json!({})),
            Some(json!({"hostname": format!("{node17}.dc1.example.org")})),
        ),
        // One of the node's addresses.
        (
            env.tagged("fabric-name-unknown-to-the-node"),
            "10.98.0.33",
            packaged_contrail(json!({})),
            Some(
                json!({"hostname": env.tagged("other"), "addresses": ["192.0.2.1", "10.98.0.33"]}),
            ),
        ),
        // An upstream plugin: only cluster-name names the router.
        (
            agent9.clone(),
            "10.98.0.9",
            packaged_contrail(json!({"cluster-name": agent9})),
            None,
        ),
    ];
    for (name, ip, keys, node) in cases {
        c.add_virtual_router(&name, ip).expect("router");
        let cid = env.cid();
        let (s, a) = add(&m.url(), &add_body(&cid, "eth0", keys, &env.blue(), node));
        assert_eq!(s, 200, "{name}: {a}");
        assert!(linked(c, &name, &cid), "{name} has the VM");
        assert_eq!(del(&m.url(), &cid, "eth0").0, 200);
    }
    m.shutdown();
}

fn no_router_for_the_node_fails_at_once_and_leaves_nothing(env: Env) {
    let (c, m) = (&env.config, start(&env));
    c.add_virtual_router(&env.tagged("somebody-else"), "10.98.0.200")
        .expect("another node's router");
    let cid = env.cid();
    let lonely = env.tagged("lonely");
    let host = format!("{lonely}.example");
    let started = std::time::Instant::now();
    let (s, a) = add(
        &m.url(),
        &add_body(
            &cid,
            "eth0",
            packaged_contrail(json!({"cluster-name": env.cluster})),
            &env.blue(),
            Some(json!({"hostname": host, "addresses": ["10.98.0.5"]})),
        ),
    );
    assert!(started.elapsed() < Duration::from_secs(5), "fails at once");
    assert_ne!(s, 200, "{a}");
    assert_eq!(a["error"]["code"], 102, "{a}");
    let msg = a["error"]["msg"].as_str().unwrap_or_default();
    for tried in [host.as_str(), &lonely, "10.98.0.5", &env.cluster] {
        assert!(msg.contains(tried), "{tried} missing from {msg}");
    }
    assert_eq!(env.counts(), [0, 0, 0, 0], "nothing left behind");
    m.shutdown();
}

/// The router found by an earlier ADD is remembered; when the node is provisioned again (its
/// router deleted and made anew under another uuid) the next ADD links the new one, and when
/// the router is gone for good it fails with 102 naming what it tried. Neither leaves
/// anything behind. (A node of the test's own, at an address of its own: on the shared real
/// server this node's router is every test's.)
fn a_router_made_again_or_gone_is_looked_for_again_within_the_add(env: Env) {
    let (c, m) = (&env.config, start(&env));
    let (host, ip) = own_router(&env, "reprovisioned", 97);
    let add_on_host = |cid: &str| {
        add(
            &m.url(),
            &add_body(
                cid,
                "eth0",
                packaged_contrail(json!({"cluster-name": env.cluster})),
                &env.blue(),
                Some(json!({"hostname": host, "addresses": [ip]})),
            ),
        )
    };
    let first = env.cid();
    let (s, a) = add_on_host(&first);
    assert_eq!(s, 200, "{a}");
    assert!(linked(c, &host, &first));
    assert_eq!(del(&m.url(), &first, "eth0").0, 200);

    // Re-provisioned: same name and address, new uuid.
    let old = delete_router(c, &host);
    let new = c.add_virtual_router(&host, &ip).expect("router again");
    assert_ne!(old, new);
    let second = env.cid();
    let (s, a) = add_on_host(&second);
    assert_eq!(s, 200, "the next ADD links the router that exists now: {a}");
    assert!(linked(c, &host, &second), "the new router has the VM");
    assert_eq!(del(&m.url(), &second, "eth0").0, 200);
    assert_eq!(env.counts(), [0, 0, 0, 0], "nothing left behind");

    // Gone, and none made again: 102 naming what was tried and the router that went.
    let found = c
        .find("virtual-router", &["default-global-system-config", &host])
        .expect("router");
    assert_eq!(found["uuid"], new.as_str());
    // An ADD to have the router remembered, then the router goes.
    let third = env.cid();
    assert_eq!(add_on_host(&third).0, 200);
    assert_eq!(del(&m.url(), &third, "eth0").0, 200);
    delete_router(c, &host);
    let fourth = env.cid();
    let (s, a) = add_on_host(&fourth);
    assert_eq!((s, a["error"]["code"].as_u64()), (500, Some(102)), "{a}");
    let msg = a["error"]["msg"].as_str().unwrap_or_default();
    for tried in [host.as_str(), &ip, &env.cluster, new.as_str()] {
        assert!(msg.contains(tried), "{tried} missing from {msg}");
    }
    assert_eq!(env.counts(), [0, 0, 0, 0], "the failed ADD left nothing");
    m.shutdown();
}

fn allocation_failures_get_their_own_codes(env: Env) {
    let (c, m) = (&env.config, start(&env));
    let url = m.url();
    // A /29: a few usable addresses once the gateway and DNS are reserved.
    c.add_network(&env.fq("tiny"), &["7.7.7.0/29"])
        .expect("network");
    let tiny = env.fq_str("tiny");
    // Take every address of the subnet.
    let mut holders = Vec::new();
    loop {
        let cid = env.cid();
        let (s, a) = node_add(&url, &cid, &[("networks", &tiny)]);
        if s != 200 {
            assert_eq!(a["error"]["code"], 104, "exhausted subnet: {a}");
            let msg = a["error"]["msg"].as_str().unwrap_or_default();
            assert!(msg.contains("tiny"), "{msg}");
            assert_eq!(
                c.find("virtual-machine", &[&cid]),
                None,
                "the failed ADD leaves nothing"
            );
            break;
        }
        holders.push(cid);
        assert!(holders.len() < 16, "the /29 never ran out");
    }
    assert!(!holders.is_empty(), "the /29 gave no address at all");
    // A taken address.
    let (_, a) = node_add(&url, &env.cid(), &env.blue());
    assert!(a["interfaces"].is_array(), "{a}");
    let taken = a["interfaces"][0]["ip-address"]
        .as_str()
        .expect("ip")
        .to_string();
    let blue = env.fq_str("blue-network");
    let (s, a) = node_add(
        &url,
        &env.cid(),
        &[("networks", &blue), ("network-ip", &taken)],
    );
    assert_ne!(s, 200);
    assert_eq!(a["error"]["code"], 101, "taken address: {a}");
    // A floating IP that is taken, then a pool run dry.
    let pool = format!("{}(10.66.77.50)", env.pool());
    let (s, a) = node_add(&url, &env.cid(), &[("floating-ips", &pool)]);
    assert_eq!(s, 200, "{a}");
    let (_, a) = node_add(&url, &env.cid(), &[("floating-ips", &pool)]);
    assert_eq!(a["error"]["code"], 101, "taken floating IP: {a}");
    let dry = env.fq("dry");
    c.add_network(&dry, &["7.7.8.0/29"])
        .expect("a small public network");
    c.add_fip_pool(&dry, "dry-pool").expect("its pool");
    let dry_pool = format!("{}:dry-pool", env.fq_str("dry"));
    let mut fips = 0;
    loop {
        let (s, a) = node_add(&url, &env.cid(), &[("floating-ips", &dry_pool)]);
        if s != 200 {
            assert_eq!(a["error"]["code"], 104, "exhausted pool: {a}");
            assert!(
                a["error"]["msg"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("dry-pool"),
                "{a}"
            );
            break;
        }
        fips += 1;
        assert!(fips < 16, "the /29 pool never ran out");
    }
    assert!(fips > 0, "the pool gave no address at all");
    // Overlapping subnets on a new network.
    let overlap = env.fq_str("overlap");
    let (_, a) = node_add(
        &url,
        &env.cid(),
        &[
            ("networks", &overlap),
            ("network-subnets", "8.8.0.0/16,8.8.8.0/24"),
        ],
    );
    assert_eq!(a["error"]["code"], 7, "overlapping subnets: {a}");
    assert!(
        a["error"]["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("network-subnets"),
        "{a}"
    );
    m.shutdown();
}

fn names_of_different_tasks_never_meet(env: Env) {
    let (c, m) = (&env.config, start(&env));
    // The old `<container>__<ifname>` scheme named both of these `c___x`.
    let (c_, c0) = (format!("{}c_", env.tag), format!("{}c", env.tag));
    let pairs = [(c_.as_str(), "x"), (c0.as_str(), "_x")];
    for (cid, ifname) in pairs {
        let (s, a) = add(
            &m.url(),
            &add_body(
                cid,
                ifname,
                packaged_contrail(json!({})),
                &env.blue(),
                Some(node_info()),
            ),
        );
        assert_eq!(s, 200, "{cid}/{ifname}: {a}");
    }
    assert_eq!(c.count("virtual-machine-interface"), 2);
    assert_eq!(c.count("instance-ip"), 2);
    assert_eq!(del(&m.url(), &c_, "x").0, 200);
    let left = contrail_mesos::domain::ids::vmi_uuid(&c0, "_x");
    let vmi = c
        .get("virtual-machine-interface", &left)
        .expect("the other task's interface stays");
    assert_eq!(
        vmi["instance_ip_back_refs"].as_array().map(Vec::len),
        Some(1),
        "and keeps its address"
    );
    assert_eq!(del(&m.url(), &c0, "_x").0, 200);
    assert_eq!(env.counts(), [0, 0, 0, 0]);
    m.shutdown();
}

fn teardown_frees_an_address_only_this_interface_used(env: Env) {
    let (c, m) = (&env.config, start(&env));
    let (a_cid, b_cid) = (env.cid(), env.cid());
    let mut vmis = Vec::new();
    for cid in [&a_cid, &b_cid] {
        let (s, a) = node_add(&m.url(), cid, &env.blue());
        assert_eq!(s, 200, "{a}");
        vmis.push(
            a["interfaces"][0]["vmi-uuid"]
                .as_str()
                .expect("vmi")
                .to_string(),
        );
    }
    let blue = env.blue_fq();
    let vn = c.find("virtual-network", &blue).expect("network");
    let vn_ref = json!([{"to": blue, "uuid": vn["uuid"]}]);
    let vmi_ref = |cid: &str, u: &str| json!({"to": env.fq(&format!("{cid}@eth0")), "uuid": u});
    // An address someone else named, held by task A's interface alone.
    let lone = c
        .create(
            "instance-ip",
            json!({"fq_name": [env.tagged("operator-made")], "virtual_network_refs": vn_ref,
                   "virtual_machine_interface_refs": [vmi_ref(&a_cid, &vmis[0])]}),
        )
        .expect("foreign instance ip");
    // An address shared by both tasks' interfaces (a VRRP-style pair).
    let shared = c
        .create(
            "instance-ip",
            json!({"fq_name": [env.tagged("shared-vip")], "virtual_network_refs": vn_ref,
                   "virtual_machine_interface_refs": [vmi_ref(&a_cid, &vmis[0]), vmi_ref(&b_cid, &vmis[1])]}),
        )
        .expect("shared instance ip");
    assert_eq!(del(&m.url(), &a_cid, "eth0").0, 200);
    assert!(
        c.get("instance-ip", &lone).is_none(),
        "an address no other interface uses is freed"
    );
    let kept = c
        .get("instance-ip", &shared)
        .expect("a shared address stays");
    let refs = kept["virtual_machine_interface_refs"].to_string();
    assert!(
        !refs.contains(&vmis[0]) && refs.contains(&vmis[1]),
        "{refs}"
    );
    assert_eq!(del(&m.url(), &b_cid, "eth0").0, 200);
    assert!(c.get("instance-ip", &shared).is_none());
    assert_eq!(env.counts(), [0, 0, 0, 0]);
    m.shutdown();
}

fn dual_stack_and_ipv6_only_networks(env: Env) {
    let (c, m) = (&env.config, start(&env));
    let cid = env.cid();
    let labels = [
        ("networks", "dual"),
        ("project-name", &env.project),
        ("network-subnets", "5.6.7.0/24, 2001:db8:56::/64"),
    ];
    let (s, a) = node_add(&m.url(), &cid, &labels);
    assert_eq!(s, 200, "{a}");
    let i = &a["interfaces"][0];
    let ips = i["ips"].as_array().expect("ips");
    assert_eq!(ips.len(), 2, "{a}");
    assert_eq!(ips[0]["family"], "v4");
    assert_eq!(ips[1]["family"], "v6");
    assert_eq!(
        ips[1]["plen"], 64,
        "the agent reports no IPv6 length: the manager gives it"
    );
    assert!(
        ips[1]["ip-address"]
            .as_str()
            .unwrap_or_default()
            .starts_with("2001:db8:56:")
    );
    assert!(
        ips[1]["gateway"].as_str().is_some_and(|g| !g.is_empty()),
        "{a}"
    );
    assert_eq!(
        i["ip-address"], ips[0]["ip-address"],
        "the first address is IPv4"
    );
    let vn = c.find("virtual-network", &env.fq("dual")).expect("network");
    let subnets = vn["network_ipam_refs"][0]["attr"]["ipam_subnets"].clone();
    for family in ["v4", "v6"] {
        let iip = c
            .list("instance-ip")
            .into_iter()
            .find(|x| x["instance_ip_family"] == family)
            .unwrap_or_else(|| panic!("an {family} instance IP"));
        let pinned = iip["subnet_uuid"].as_str().unwrap_or_default();
        let prefix = subnets
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["subnet_uuid"] == pinned)
            .map(|s| s["subnet"]["ip_prefix"].to_string())
            .unwrap_or_default();
        assert!(
            prefix.contains(if family == "v4" {
                "5.6.7.0"
            } else {
                "2001:db8:56::"
            }),
            "{family} instance IP pinned to its subnet: {iip}"
        );
    }
    assert_eq!(del(&m.url(), &cid, "eth0").0, 200);
    assert_eq!(env.counts(), [0, 0, 0, 0], "both instance IPs go");

    // IPv6 only, with a requested address.
    let cid = env.cid();
    let labels = [
        ("networks", "six"),
        ("project-name", &env.project),
        ("network-subnets", "2001:db8:66::/64"),
        ("network-ip", "2001:db8:66::42"),
    ];
    let (s, a) = node_add(&m.url(), &cid, &labels);
    assert_eq!(s, 200, "{a}");
    let i = &a["interfaces"][0];
    assert_eq!(i["ip-address"], "2001:db8:66::42");
    assert_eq!(i["plen"], 64);
    assert_eq!(i["ips"].as_array().map(Vec::len), Some(1));
    assert_eq!(del(&m.url(), &cid, "eth0").0, 200);
    assert_eq!(env.counts(), [0, 0, 0, 0]);
    m.shutdown();
}

/// A container's VM made before this manager under another uuid (a 409 on create): the ADD
/// takes it over by name and answers its uuid; the DEL finds it by name and removes it.
fn a_vm_that_exists_under_another_uuid_is_used_and_removed(env: Env) {
    let (c, m) = (&env.config, start(&env));
    let cid = env.cid();
    let other = env.cid();
    c.create(
        "virtual-machine",
        json!({"uuid": other, "fq_name": [cid], "server_type": "container",
               "annotations": {"key_value_pair": [{"key": "owner", "value": "mesos"},
                   {"key": "cluster", "value": env.cluster}, {"key": "container-id", "value": cid}]}}),
    )
    .expect("a VM of that name");
    let (s, a) = node_add(&m.url(), &cid, &env.blue());
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["vm-uuid"], other.as_str(), "the VM that holds the name");
    let vmi = c
        .get(
            "virtual-machine-interface",
            a["interfaces"][0]["vmi-uuid"].as_str().expect("vmi"),
        )
        .expect("interface");
    assert_eq!(vmi["virtual_machine_refs"][0]["uuid"], other.as_str());
    assert!(linked(c, &node(), &other), "the router links that VM");
    assert_eq!(del(&m.url(), &cid, "eth0").0, 200);
    assert!(
        c.get("virtual-machine", &other).is_none(),
        "removed by name"
    );
    assert_eq!(env.counts(), [0, 0, 0, 0]);
    m.shutdown();
}
