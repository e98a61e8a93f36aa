//! What the manager makes at start and for networks made from labels: the cluster policies and
//! their attachments (relaxed for delete), fabric SNAT or forwarding, the operator's
//! global-vrouter-config kept, the IPAMs' DNS method (never `tenant-dns-server`, and what
//! Contrail refuses to change reported), the `network-policies` label, the CNI answer's
//! nameservers and search domains. The manager over real HTTP against the config API emulator, which
//! checks every body against upstream's schema and refuses duplicate rules as upstream does.

mod common;

use std::time::Duration;

use common::*;
use contrail_mesos::applets::manager::{self, service::Provisioning};
use contrail_mesos::domain::settings::Settings;
use contrail_mesos_sim::config_api::{ConfigApiOptions, ConfigApiSim};
use serde_json::{Value, json};

const D: &str = "default-domain";
const PROJECT: [&str; 2] = [D, "mesos-default"];
const IP_FABRIC: [&str; 3] = [D, "default-project", "ip-fabric"];
const GVC: [&str; 2] = [
    "default-global-system-config",
    "default-global-vrouter-config",
];

fn cluster(name: &str) -> [&str; 3] {
    [PROJECT[0], PROJECT[1], name]
}

const FABRIC_NP: &str = "mesos-default-ip-fabric-np";
const POD_SERVICE_NP: &str = "mesos-default-pod-service-np";
const SERVICE_NP: &str = "mesos-default-service-np";
const POD_TASK: &str = "mesos-default-pod-task-network";
const SERVICE: &str = "mesos-default-service-network";

fn emulator() -> ConfigApiSim {
    let c = ConfigApiSim::start(ConfigApiOptions::default()).expect("config API emulator");
    seed(&c);
    c
}

/// Start a manager and wait for its provisioning to end; it must be complete.
fn start(settings: Settings) -> manager::Running {
    let m = manager::start(settings).expect("manager");
    let state = m.wait_provisioned(Duration::from_secs(30));
    assert_eq!(state, Provisioning::Done, "provisioning");
    m
}

fn settings(c: &ConfigApiSim, f: impl FnOnce(&mut Settings)) -> Settings {
    let mut s = manager_settings(&c.url());
    f(&mut s);
    s
}

fn find(c: &ConfigApiSim, ty: &str, fq: &[&str]) -> Value {
    c.find(ty, fq)
        .unwrap_or_else(|| panic!("{ty} {} does not exist", fq.join(":")))
}

fn uuid(v: &Value) -> String {
    v["uuid"].as_str().unwrap_or_default().to_string()
}

/// The policies a network refers to: (fq-name, sequence major, minor).
fn policies(c: &ConfigApiSim, fq: &[&str]) -> Vec<(String, i64, i64)> {
    find(c, "virtual-network", fq)["network_policy_refs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let to: Vec<&str> = r["to"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            (
                to.join(":"),
                r["attr"]["sequence"]["major"].as_i64().unwrap_or(-1),
                r["attr"]["sequence"]["minor"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

fn fq(name: &str) -> String {
    format!("{D}:mesos-default:{name}")
}

fn rules(c: &ConfigApiSim, name: &str) -> Vec<Value> {
    find(c, "network-policy", &cluster(name))["network_policy_entries"]["policy_rule"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A rule without the uuid the server gave it.
fn bare(mut rule: Value) -> Value {
    if let Some(m) = rule.as_object_mut() {
        m.remove("rule_uuid");
    }
    rule
}

/// Everything provisioning touches, as the config API returns it (timestamps included).
fn snapshot(c: &ConfigApiSim) -> Value {
    json!({
        "policies": c.list("network-policy"),
        "networks": c.list("virtual-network"),
        "ipams": c.list("network-ipam"),
        "projects": c.list("project"),
        "gvc": c.list("global-vrouter-config"),
    })
}

/// Delete a cluster policy as an operator does (it is relaxed for delete: it can go while
/// attached, and the networks lose it).
fn delete_policy(c: &ConfigApiSim, name: &str) {
    let np = uuid(&find(c, "network-policy", &cluster(name)));
    let r = http()
        .delete(format!("{}/network-policy/{np}", c.url()))
        .call()
        .expect("request");
    assert_eq!(r.status().as_u16(), 200, "{name} can be deleted");
}

/// The manager's `/healthz`, which must say that provisioning failed.
fn failed_health(m: &manager::Running) -> Value {
    let mut r = http()
        .get(format!("{}/healthz", m.url()))
        .call()
        .expect("healthz");
    let health: Value = r.body_mut().read_json().unwrap_or_default();
    assert_eq!(health["provisioning"], "failed", "{health}");
    health
}

fn del(m: &manager::Running, cid: &str) {
    let (s, a) = post_json(&format!("{}/del_cni_info", m.url()), &del_body(cid, "eth0"));
    assert_eq!(s, 200, "{a}");
}

#[test]
fn start_makes_the_cluster_policies_and_attaches_them_relaxed() {
    let c = emulator();
    let m = start(manager_settings(&c.url()));
    // The ip-fabric policy: upstream's one rule, with its ethertype.
    let np = find(&c, "network-policy", &cluster(FABRIC_NP));
    assert_eq!(np["parent_type"], "project");
    assert!(
        rules(&c, FABRIC_NP)[0]["rule_uuid"].is_string(),
        "the server's uuid"
    );
    let fabric = "default-domain:default-project:ip-fabric";
    for (name, src, dst) in [
        // Every network the policy is attached to and ip-fabric.
        (FABRIC_NP, json!({"network_policy": fq(FABRIC_NP)}), fabric),
        // The two cluster networks.
        (
            POD_SERVICE_NP,
            json!({"virtual_network": fq(POD_TASK)}),
            &fq(SERVICE),
        ),
        // Every network the policy is attached to and the service network.
        (
            SERVICE_NP,
            json!({"network_policy": fq(SERVICE_NP)}),
            &fq(SERVICE),
        ),
    ] {
        let got: Vec<Value> = rules(&c, name).into_iter().map(bare).collect();
        assert_eq!(
            got,
            [
                json!({"direction": "<>", "protocol": "any", "ethertype": "IPv4",
                    "action_list": {"simple_action": "pass"},
                    "src_addresses": [src],
                    "src_ports": [{"start_port": -1, "end_port": -1}],
                    "dst_addresses": [{"virtual_network": dst}],
                    "dst_ports": [{"start_port": -1, "end_port": -1}]})
            ],
            "{name}: one rule, both ways"
        );
    }
    // Attached with sequence 0.0: ip-fabric gets the first, both cluster networks both, the
    // service network the service policy too.
    let both = vec![(fq(FABRIC_NP), 0, 0), (fq(POD_SERVICE_NP), 0, 0)];
    let all = vec![
        (fq(FABRIC_NP), 0, 0),
        (fq(POD_SERVICE_NP), 0, 0),
        (fq(SERVICE_NP), 0, 0),
    ];
    assert_eq!(policies(&c, &cluster(POD_TASK)), both);
    assert_eq!(policies(&c, &cluster(SERVICE)), all);
    assert_eq!(policies(&c, &IP_FABRIC), vec![(fq(FABRIC_NP), 0, 0)]);
    // No fabric SNAT nor forwarding by default.
    let pod = find(&c, "virtual-network", &cluster(POD_TASK));
    assert_eq!(pod["fabric_snat"], false);
    assert!(pod.get("virtual_network_refs").is_none(), "{pod}");
    assert_eq!(
        pod["network_ipam_refs"][0]["to"],
        json!(cluster("mesos-pod-task-ipam"))
    );
    // No pools or link-local entries unless asked for.
    let gvc = find(&c, "global-vrouter-config", &GVC);
    assert!(gvc.get("port_translation_pools").is_none(), "{gvc}");
    assert!(gvc.get("linklocal_services").is_none(), "{gvc}");
    m.shutdown();

    // Relaxed for delete: an operator removes the policies while attached, and the networks
    // lose them; the next start puts both back.
    for name in [FABRIC_NP, POD_SERVICE_NP, SERVICE_NP] {
        delete_policy(&c, name);
    }
    assert!(policies(&c, &cluster(POD_TASK)).is_empty());
    assert!(policies(&c, &IP_FABRIC).is_empty());
    let m = start(manager_settings(&c.url()));
    assert_eq!(policies(&c, &cluster(POD_TASK)), both);
    assert_eq!(policies(&c, &cluster(SERVICE)), all);
    assert_eq!(policies(&c, &IP_FABRIC), vec![(fq(FABRIC_NP), 0, 0)]);
    m.shutdown();
}

#[test]
fn a_second_start_changes_nothing() {
    let c = emulator();
    let full = |s: &mut Settings| {
        s.ip_fabric_snat = true;
        s.dns_nameservers = vec!["10.64.0.53".parse().expect("ip")];
        s.dns_search = vec!["marathon.mesos".into()];
        s.mesos_dns_link_local = Some("169.254.169.253:53".parse().expect("addr"));
    };
    let m = start(settings(&c, full));
    // A network made from labels: the next start looks at it too, and changes nothing.
    let cid = new_cid();
    let (s, a) = node_add(&m.url(), &cid, &blue());
    assert_eq!(s, 200, "{a}");
    del(&m, &cid);
    m.shutdown();
    let first = c.request_count();
    let before = snapshot(&c);
    c.reset_request_count();
    let m = start(settings(&c, full));
    let (reads, writes) = (c.request_count(), c.write_count());
    m.shutdown();
    assert_eq!(writes, 0, "{}", c.stats());
    assert!(
        reads > 0 && reads < first,
        "looked, did not make: {reads} requests after {first}: {}",
        c.stats()
    );
    assert_eq!(
        snapshot(&c),
        before,
        "nothing changed, not even a timestamp"
    );
}

#[test]
fn a_changed_config_converges_and_duplicates_nothing() {
    let c = emulator();
    let m = start(manager_settings(&c.url()));
    m.shutdown();
    let ipam = find(&c, "network-ipam", &cluster("mesos-pod-task-ipam"));
    let old_subnet = ipam["ipam_subnets"]["subnets"][0].clone();
    assert_eq!(
        ipam["network_ipam_mgmt"],
        json!({"ipam_dns_method": "default-dns-server"})
    );

    // Someone edits the ip-fabric policy: a deny and a copy of another rule.
    let np = find(&c, "network-policy", &cluster(FABRIC_NP));
    let ours = rules(&c, FABRIC_NP)[0].clone();
    let ours_before = ours.clone();
    let mut deny = bare(ours.clone());
    deny["action_list"]["simple_action"] = "deny".into();
    deny["protocol"] = "tcp".into();
    let r = http()
        .put(format!("{}/network-policy/{}", c.url(), uuid(&np)))
        .send_json(
            json!({"network-policy": {"network_policy_entries": {"policy_rule": [deny, ours]}}}),
        )
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);

    let changed = |s: &mut Settings| {
        s.pod_task_subnets = vec![
            "10.32.0.0/12".parse().expect("net"),
            "10.48.0.0/12".parse().expect("net"),
        ];
        s.dns_nameservers = vec![
            "10.64.0.53".parse().expect("ip"),
            "10.64.0.54".parse().expect("ip"),
        ];
        s.ip_fabric_snat = true;
    };
    let m = start(settings(&c, changed));
    m.shutdown();
    // Subnets: the old one kept whole (its subnet uuid), the new one added.
    let ipam = find(&c, "network-ipam", &cluster("mesos-pod-task-ipam"));
    let subnets = ipam["ipam_subnets"]["subnets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(subnets.len(), 2, "{subnets:?}");
    assert_eq!(subnets[0]["subnet_uuid"], old_subnet["subnet_uuid"]);
    assert_eq!(subnets[1]["subnet"]["ip_prefix"], "10.48.0.0");
    // The nameservers go to the tasks' results, never into the IPAMs.
    for name in ["mesos-pod-task-ipam", "mesos-service-ipam"] {
        let ipam = find(&c, "network-ipam", &cluster(name));
        assert_eq!(
            ipam["network_ipam_mgmt"],
            json!({"ipam_dns_method": "default-dns-server"}),
            "{name}"
        );
    }
    // The policy's rules are the cluster's again: ours, whole (its uuid kept), no deny.
    assert_eq!(rules(&c, FABRIC_NP), vec![ours_before]);
    // One reference each, still.
    let both = vec![(fq(FABRIC_NP), 0, 0), (fq(POD_SERVICE_NP), 0, 0)];
    assert_eq!(policies(&c, &cluster(POD_TASK)), both);
    assert_eq!(policies(&c, &IP_FABRIC), vec![(fq(FABRIC_NP), 0, 0)]);
    // SNAT: the pools were added, but the existing network keeps the mode it was made with.
    let gvc = find(&c, "global-vrouter-config", &GVC);
    assert_eq!(
        gvc["port_translation_pools"]["port_translation_pool"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        find(&c, "virtual-network", &cluster(POD_TASK))["fabric_snat"],
        false
    );

    // And again: nothing more.
    c.reset_request_count();
    let before = snapshot(&c);
    let m = start(settings(&c, changed));
    m.shutdown();
    assert_eq!(c.write_count(), 0, "{}", c.stats());
    assert_eq!(snapshot(&c), before);
}

#[test]
fn fabric_snat_or_forwarding_when_the_network_is_made() {
    // SNAT: the pod-task network SNATs to the fabric, the service network never.
    let c = emulator();
    let m = start(settings(&c, |s| s.ip_fabric_snat = true));
    m.shutdown();
    assert_eq!(
        find(&c, "virtual-network", &cluster(POD_TASK))["fabric_snat"],
        true
    );
    assert!(
        find(&c, "virtual-network", &cluster(SERVICE))
            .get("fabric_snat")
            .is_none()
    );
    // Forwarding wins: routed over ip-fabric with addresses from the ip-fabric subnets.
    let c = emulator();
    let m = start(settings(&c, |s| {
        s.ip_fabric_snat = true;
        s.ip_fabric_forwarding = true;
        s.ip_fabric_subnets = vec!["10.64.0.0/16".parse().expect("net")];
    }));
    let pod = find(&c, "virtual-network", &cluster(POD_TASK));
    assert_eq!(pod["fabric_snat"], false);
    assert_eq!(pod["virtual_network_refs"][0]["to"], json!(IP_FABRIC));
    assert_eq!(
        pod["network_ipam_refs"][0]["to"],
        json!(cluster("mesos-ip-fabric-ipam"))
    );
    let ipam = find(&c, "network-ipam", &cluster("mesos-ip-fabric-ipam"));
    assert_eq!(ipam["ipam_subnet_method"], "flat-subnet");
    assert_eq!(
        ipam["ipam_subnets"]["subnets"][0]["subnet"],
        json!({"ip_prefix": "10.64.0.0", "ip_prefix_len": 16})
    );
    // A task on it gets a fabric address.
    let cid = new_cid();
    let (s, a) = node_add(&m.url(), &cid, &[]);
    assert_eq!(s, 200, "{a}");
    let ip = a["interfaces"][0]["ip-address"]
        .as_str()
        .unwrap_or_default();
    assert!(ip.starts_with("10.64."), "{ip}");
    del(&m, &cid);
    m.shutdown();
}

#[test]
fn the_operators_global_vrouter_config_is_kept() {
    let c = emulator();
    let gvc = uuid(&find(&c, "global-vrouter-config", &GVC));
    let metadata = json!({"linklocal_service_name": "metadata",
        "linklocal_service_ip": "169.254.169.254", "linklocal_service_port": 80,
        "ip_fabric_service_ip": ["127.0.0.1"], "ip_fabric_service_port": 8775});
    let their_tcp =
        json!({"protocol": "tcp", "port_range": {"start_port": 40000, "end_port": 40999}});
    let operator = json!({"global-vrouter-config": {
        "port_translation_pools": {"port_translation_pool": [their_tcp]},
        "linklocal_services": {"linklocal_service_entry": [metadata]},
        "encapsulation_priorities": {"encapsulation": ["MPLSoUDP", "MPLSoGRE", "VXLAN"]}}});
    let r = http()
        .put(format!("{}/global-vrouter-config/{gvc}", c.url()))
        .send_json(&operator)
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    let with_dns = |s: &mut Settings| {
        s.ip_fabric_snat = true;
        s.dns_nameservers = vec!["10.64.0.53".parse().expect("ip")];
        s.mesos_dns_link_local = Some("169.254.169.253:53".parse().expect("addr"));
    };
    let m = start(settings(&c, with_dns));
    m.shutdown();
    let got = find(&c, "global-vrouter-config", &GVC);
    assert_eq!(
        got["port_translation_pools"]["port_translation_pool"],
        json!([their_tcp, {"protocol": "udp", "port_range": {"start_port": 57024, "end_port": 58047}}]),
        "the operator's TCP pool stays; UDP had none"
    );
    assert_eq!(
        got["linklocal_services"]["linklocal_service_entry"],
        json!([metadata, {"linklocal_service_name": "mesos-mesos-dns",
            "linklocal_service_ip": "169.254.169.253", "linklocal_service_port": 53,
            "ip_fabric_service_ip": ["10.64.0.53"], "ip_fabric_service_port": 53}])
    );
    assert_eq!(
        got["encapsulation_priorities"],
        operator["global-vrouter-config"]["encapsulation_priorities"]
    );
    // Another nameserver moves our entry alone; turned off, it goes, the operator's stays.
    let m = start(settings(&c, |s| {
        with_dns(s);
        s.dns_nameservers = vec!["10.64.0.54".parse().expect("ip")];
    }));
    m.shutdown();
    let got = find(&c, "global-vrouter-config", &GVC);
    assert_eq!(
        got["linklocal_services"]["linklocal_service_entry"][1]["ip_fabric_service_ip"],
        json!(["10.64.0.54"])
    );
    let m = start(settings(&c, |s| s.ip_fabric_snat = true));
    m.shutdown();
    let got = find(&c, "global-vrouter-config", &GVC);
    assert_eq!(
        got["linklocal_services"]["linklocal_service_entry"],
        json!([metadata])
    );
    assert_eq!(
        got["port_translation_pools"]["port_translation_pool"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

#[test]
fn a_link_local_address_an_operator_uses_is_not_taken() {
    let c = emulator();
    let gvc = uuid(&find(&c, "global-vrouter-config", &GVC));
    let theirs = json!({"linklocal_service_name": "corp-dns",
        "linklocal_service_ip": "169.254.169.253", "linklocal_service_port": 53,
        "ip_fabric_service_ip": ["10.1.1.1"], "ip_fabric_service_port": 53});
    let r = http()
        .put(format!("{}/global-vrouter-config/{gvc}", c.url()))
        .send_json(json!({"global-vrouter-config": {"linklocal_services": {"linklocal_service_entry": [theirs]}}}))
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    let m = manager::start(settings(&c, |s| {
        s.ip_fabric_snat = true;
        s.dns_nameservers = vec!["10.64.0.53".parse().expect("ip")];
        s.mesos_dns_link_local = Some("169.254.169.253:53".parse().expect("addr"));
    }))
    .expect("manager");
    let Provisioning::Failed(why) = m.wait_provisioned(Duration::from_secs(30)) else {
        panic!("provisioning must report the refused entry");
    };
    assert!(
        why.iter()
            .any(|w| w.contains("169.254.169.253:53") && w.contains("corp-dns")),
        "{why:?}"
    );
    // The /healthz answer says so too.
    let health = failed_health(&m);
    assert!(
        health["provisioning_failed"]
            .to_string()
            .contains("corp-dns"),
        "{health}"
    );
    m.shutdown();
    // Theirs untouched; the rest made (pools, policies, networks).
    let got = find(&c, "global-vrouter-config", &GVC);
    assert_eq!(
        got["linklocal_services"]["linklocal_service_entry"],
        json!([theirs])
    );
    assert!(got["port_translation_pools"].is_object(), "{got}");
    assert_eq!(policies(&c, &cluster(POD_TASK)).len(), 2);
}

#[test]
fn networks_made_from_labels_get_the_cluster_policies_and_dns() {
    let c = emulator();
    let m = start(settings(&c, |s| {
        s.dns_nameservers = vec!["10.64.0.53".parse().expect("ip")];
        s.dns_search = vec!["marathon.mesos".into(), "mesos".into()];
    }));
    let cid = new_cid();
    let (s, a) = node_add(&m.url(), &cid, &blue());
    assert_eq!(s, 200, "{a}");
    assert_eq!(
        a["interfaces"][0]["dns-search"],
        json!(["marathon.mesos", "mesos"])
    );
    assert_eq!(
        a["interfaces"][0]["dns-nameservers"],
        json!(["10.64.0.53"]),
        "the answer carries the nameservers: the plugin needs no extra config"
    );
    assert_eq!(
        policies(&c, BLUE),
        vec![
            (fq(FABRIC_NP), 0, 0),
            (fq(POD_SERVICE_NP), 0, 0),
            (fq(SERVICE_NP), 0, 0)
        ],
        "the service policy connects it with the service network (VIPs)"
    );
    let ipam = find(
        &c,
        "network-ipam",
        &[D, "default-project", "blue-network-ipam"],
    );
    assert_eq!(
        ipam["network_ipam_mgmt"],
        json!({"ipam_dns_method": "default-dns-server"}),
        "never tenant-dns-server"
    );
    del(&m, &cid);
    // Relaxed: the cluster policy can go while blue-network refers to it.
    delete_policy(&c, POD_SERVICE_NP);
    assert_eq!(
        policies(&c, BLUE),
        vec![(fq(FABRIC_NP), 0, 0), (fq(SERVICE_NP), 0, 0)]
    );
    m.shutdown();

    // Without attach_cluster_policies, none; no nameservers configured: none in the answer
    // (the plugin takes the agent's), and the IPAM gets default-dns-server all the same.
    let m = start(settings(&c, |s| s.attach_cluster_policies = false));
    let cid = new_cid();
    let red = [
        ("networks", "red-network"),
        ("network-subnets", "6.6.6.0/24"),
        ("project-name", "default-project"),
    ];
    let (s, a) = node_add(&m.url(), &cid, &red);
    assert_eq!(s, 200, "{a}");
    assert!(a["interfaces"][0].get("dns-search").is_none(), "{a}");
    assert!(a["interfaces"][0].get("dns-nameservers").is_none(), "{a}");
    assert!(policies(&c, &[D, "default-project", "red-network"]).is_empty());
    let ipam = find(
        &c,
        "network-ipam",
        &[D, "default-project", "red-network-ipam"],
    );
    assert_eq!(
        ipam["network_ipam_mgmt"],
        json!({"ipam_dns_method": "default-dns-server"})
    );
    del(&m, &cid);
    m.shutdown();
}

/// Networks made from labels before the service policy existed get it at the next start (they
/// are the networks holding both the ip-fabric and the pod-service policy); an operator's
/// network with only one of them does not, nor any with attach_cluster_policies off.
#[test]
fn networks_made_earlier_from_labels_get_the_service_policy_at_start() {
    let c = emulator();
    c.add_network(&[D, "default-project", "green"], &["7.7.7.0/24"])
        .expect("green");
    let m = start(manager_settings(&c.url()));
    let (blue_task, green_task) = (new_cid(), new_cid());
    let (s, a) = node_add(&m.url(), &blue_task, &blue());
    assert_eq!(s, 200, "{a}");
    // The operator's green network gets the ip-fabric policy through a label.
    let (s, a) = node_add(
        &m.url(),
        &green_task,
        &[
            ("networks", "green"),
            ("project-name", "default-project"),
            ("network-policies", &fq(FABRIC_NP)),
        ],
    );
    assert_eq!(s, 200, "{a}");
    m.shutdown();
    // As an earlier version left the cluster: no service policy anywhere.
    delete_policy(&c, SERVICE_NP);
    let both = vec![(fq(FABRIC_NP), 0, 0), (fq(POD_SERVICE_NP), 0, 0)];
    assert_eq!(policies(&c, BLUE), both);
    let green = [D, "default-project", "green"];
    let greens = vec![(fq(FABRIC_NP), 0, 0)];
    assert_eq!(policies(&c, &green), greens);

    let all = vec![
        (fq(FABRIC_NP), 0, 0),
        (fq(POD_SERVICE_NP), 0, 0),
        (fq(SERVICE_NP), 0, 0),
    ];
    let m = start(manager_settings(&c.url()));
    m.shutdown();
    assert_eq!(
        policies(&c, BLUE),
        all,
        "blue-network reaches the VIPs again"
    );
    assert_eq!(policies(&c, &cluster(SERVICE)), all);
    assert_eq!(
        policies(&c, &green),
        greens,
        "not a network the manager made"
    );

    // attach_cluster_policies off: the service network gets it, blue-network is left alone.
    delete_policy(&c, SERVICE_NP);
    let m = start(settings(&c, |s| s.attach_cluster_policies = false));
    assert_eq!(policies(&c, BLUE), both);
    assert_eq!(policies(&c, &cluster(SERVICE)), all);
    del(&m, &blue_task);
    del(&m, &green_task);
    m.shutdown();
}

/// An IPAM an earlier version made with `tenant-dns-server` is given `default-dns-server` at
/// start when Contrail allows it (no interface on its networks); when Contrail refuses
/// (`network_ipam.py` `is_change_allowed`), provisioning says so in `/healthz` and in the log,
/// naming the IPAM and the reason, keeps the rest, and tries again until it is done.
#[test]
fn ipams_made_earlier_with_tenant_dns_are_switched_or_reported() {
    let c = emulator();
    c.add_project(&PROJECT).expect("project");
    let tenant = json!({"ipam_dns_method": "tenant-dns-server",
        "ipam_dns_server": {"tenant_dns_server_address": {"ip_address": ["10.64.0.53"]}}});
    for (name, prefix) in [
        ("mesos-pod-task-ipam", "10.32.0.0"),
        ("mesos-service-ipam", "10.96.0.0"),
    ] {
        c.create(
            "network-ipam",
            json!({"fq_name": cluster(name), "parent_type": "project",
                   "ipam_subnet_method": "flat-subnet",
                   "ipam_subnets": {"subnets": [{"subnet": {"ip_prefix": prefix, "ip_prefix_len": 12}}]},
                   "network_ipam_mgmt": tenant}),
        )
        .expect("IPAM as an earlier version made it");
    }
    // The pod-task network with a running task's interface on it.
    c.create(
        "virtual-network",
        json!({"fq_name": cluster(POD_TASK), "parent_type": "project",
               "address_allocation_mode": "flat-subnet-only",
               "virtual_network_properties": {"forwarding_mode": "l3"},
               "network_ipam_refs": [{"to": cluster("mesos-pod-task-ipam"),
                                      "attr": {"ipam_subnets": []}}]}),
    )
    .expect("pod-task network");
    let vmi = c
        .create(
            "virtual-machine-interface",
            json!({"fq_name": cluster("running-task"), "parent_type": "project",
                   "virtual_network_refs": [{"to": cluster(POD_TASK)}]}),
        )
        .expect("a task's interface");

    // The binary, as an operator runs it: the log names the IPAM and the reason.
    let dir = Scratch::new("dns");
    let (file, log) = (dir.0.join("contrail-mesos.conf"), dir.0.join("manager.log"));
    std::fs::write(
        &file,
        format!(
            "[MESOS]\nmesos_cni_port = 0\nreconcile_interval = 0\n[VNC]\nvnc_endpoint_ip = {}\n\
             [DEFAULTS]\nlog_file = {}\n",
            c.url(),
            log.display()
        ),
    )
    .expect("config file");
    let mut child = std::process::Command::new(BIN)
        .args(["manager", "-c"])
        .arg(&file)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run the manager");
    let refused = "network-ipam default-domain:mesos-default:mesos-pod-task-ipam keeps DNS \
                   method tenant-dns-server";
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut logged = String::new();
    while std::time::Instant::now() < deadline && !logged.contains(refused) {
        std::thread::sleep(Duration::from_millis(50));
        logged = std::fs::read_to_string(&log).unwrap_or_default();
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = logged
        .lines()
        .find(|l| l.contains(refused))
        .unwrap_or_else(|| panic!("no log line names the refused IPAM: {logged}"));
    for reason in [
        "Cannot change DNS Method",
        "is_change_allowed",
        "default-dns-server",
        "SERVFAIL",
    ] {
        assert!(line.contains(reason), "{reason} missing from {line}");
    }

    let m = manager::start(manager_settings(&c.url())).expect("manager");
    let Provisioning::Failed(why) = m.wait_provisioned(Duration::from_secs(30)) else {
        panic!("provisioning must report the IPAM it could not switch");
    };
    assert!(
        why.iter()
            .any(|w| w.contains(refused) && w.contains("Cannot change DNS Method")),
        "{why:?}"
    );
    let health = failed_health(&m);
    assert!(
        health["provisioning_failed"].to_string().contains(refused),
        "{health}"
    );
    // Kept as it is; the service IPAM, with no interface, is switched and its servers go; the
    // rest is provisioned.
    let ipam = |name| find(&c, "network-ipam", &cluster(name))["network_ipam_mgmt"].clone();
    assert_eq!(ipam("mesos-pod-task-ipam"), tenant);
    assert_eq!(
        ipam("mesos-service-ipam"),
        json!({"ipam_dns_method": "default-dns-server"})
    );
    assert_eq!(policies(&c, &cluster(POD_TASK)).len(), 2);

    // The task goes: the next attempt switches the IPAM, and provisioning is done.
    let r = http()
        .delete(format!("{}/virtual-machine-interface/{vmi}", c.url()))
        .call()
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while m.service.provisioning() != Provisioning::Done && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(m.service.provisioning(), Provisioning::Done);
    assert_eq!(
        ipam("mesos-pod-task-ipam"),
        json!({"ipam_dns_method": "default-dns-server"})
    );
    m.shutdown();
}

/// An operator's policy in the default project (what an `allow-...` policy looks like).
fn operator_policy(c: &ConfigApiSim, name: &str) -> String {
    c.create(
        "network-policy",
        json!({"fq_name": [D, "default-project", name], "parent_type": "project",
               "network_policy_entries": {"policy_rule": [{
                   "direction": ">", "protocol": "tcp", "ethertype": "IPv4",
                   "action_list": {"simple_action": "pass"},
                   "src_addresses": [{"virtual_network": "any"}],
                   "src_ports": [{"start_port": -1, "end_port": -1}],
                   "dst_addresses": [{"virtual_network": "default-domain:default-project:blue-network"}],
                   "dst_ports": [{"start_port": 80, "end_port": 80}]}]}}),
    )
    .expect("operator policy")
}

#[test]
fn network_policies_label_attaches_once_and_teardown_keeps_it() {
    let c = emulator();
    operator_policy(&c, "allow-web");
    operator_policy(&c, "allow-dns");
    let m = start(manager_settings(&c.url()));
    let mut labels = blue();
    labels.push((
        "network-policies",
        "allow-web, default-domain:default-project:allow-dns",
    ));
    let (a, b) = (new_cid(), new_cid());
    for cid in [&a, &b] {
        let (s, r) = node_add(&m.url(), cid, &labels);
        assert_eq!(s, 200, "{r}");
    }
    let want = vec![
        (fq(FABRIC_NP), 0, 0),
        (fq(POD_SERVICE_NP), 0, 0),
        (fq(SERVICE_NP), 0, 0),
        ("default-domain:default-project:allow-web".to_string(), 3, 0),
        ("default-domain:default-project:allow-dns".to_string(), 4, 0),
    ];
    assert_eq!(policies(&c, BLUE), want, "each once, after the cluster's");
    del(&m, &a);
    del(&m, &b);
    assert_eq!(policies(&c, BLUE), want, "task teardown keeps them");
    assert_eq!(counts(&c), [0, 0, 0, 0]);
    m.shutdown();
}

#[test]
fn a_missing_policy_is_error_100_and_nothing_is_left() {
    let c = emulator();
    operator_policy(&c, "allow-web");
    c.add_network(&[D, "default-project", "green"], &["7.7.7.0/24"])
        .expect("green");
    let m = start(manager_settings(&c.url()));
    let before = counts(&c);
    for (labels, missing) in [
        (
            vec![
                ("networks", "green"),
                ("project-name", "default-project"),
                ("network-policies", "allow-web,nope"),
            ],
            "default-domain:default-project:nope",
        ),
        (
            vec![
                ("networks", "purple"),
                ("network-subnets", "8.8.8.0/24"),
                ("network-policies", "default-domain:elsewhere:allow-web"),
            ],
            "default-domain:elsewhere:allow-web",
        ),
    ] {
        let cid = new_cid();
        let (s, a) = node_add(&m.url(), &cid, &labels);
        assert_eq!(s, 404, "{a}");
        assert_eq!(a["error"]["code"], 100, "{a}");
        let msg = a["error"]["msg"].as_str().unwrap_or_default();
        assert!(
            msg.contains(missing) && msg.contains("network-policies"),
            "{msg}"
        );
        assert_eq!(counts(&c), before, "nothing of the ADD is left");
    }
    assert!(
        policies(&c, &[D, "default-project", "green"]).is_empty(),
        "no policy attached"
    );
    m.shutdown();
}

#[test]
fn bad_config_is_refused_at_start_with_its_message() {
    let c = emulator();
    let overlapping = settings(&c, |s| {
        s.service_subnets = vec!["10.32.0.0/16".parse().expect("net")];
    });
    let e = manager::start(overlapping)
        .err()
        .expect("an overlapping service subnet is refused");
    assert!(
        format!("{e:#}").contains("service_subnets 10.32.0.0/16 overlaps [MESOS] pod_task_subnets"),
        "{e:#}"
    );
    // The binary, as an operator runs it.
    let dir = Scratch::new("conf");
    let file = dir.0.join("contrail-mesos.conf");
    std::fs::write(
        &file,
        format!(
            "[MESOS]\nmesos_cni_port = 0\nip_fabric_subnets = 10.64.0.0/12\n\
             service_subnets = 10.64.8.0/24\n[VNC]\nvnc_endpoint_ip = {}\n",
            c.url()
        ),
    )
    .expect("config file");
    let out = std::process::Command::new(BIN)
        .args(["manager", "-c"])
        .arg(&file)
        .output()
        .expect("run the manager");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "service_subnets 10.64.8.0/24 overlaps [MESOS] ip_fabric_subnets 10.64.0.0/12"
        ),
        "{err}"
    );
    assert_eq!(c.count("network-policy"), 0, "nothing was made");
}
