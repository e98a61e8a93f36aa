//! Tests of the agent emulator over real HTTP, plus the small HTTP helpers the other emulators'
//! tests share.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;
use crate::httpd::{Request as HttpRequest, Response as HttpResponse, Server};

pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn finish(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>, what: &str) -> (u16, Value) {
    let mut resp = resp.unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// GET; the body as JSON (or as a JSON string when it is not JSON).
pub(crate) fn get(url: &str) -> (u16, Value) {
    finish(agent().get(url).call(), url)
}

pub(crate) fn put_json(url: &str, body: &Value) -> (u16, Value) {
    finish(agent().put(url).send_json(body), url)
}

pub(crate) fn post_json(url: &str, body: &Value) -> (u16, Value) {
    finish(agent().post(url).send_json(body), url)
}

pub(crate) fn post_raw(url: &str, body: &str) -> (u16, Value) {
    finish(agent().post(url).send(body.as_bytes()), url)
}

pub(crate) fn delete(url: &str) -> (u16, Value) {
    finish(agent().delete(url).call(), url)
}

const VM: &str = "5baff64c-d028-47ba-864e-a5ee679fc069";
const VM_B: &str = "6c8e2f10-1111-4a2b-9c3d-0123456789ab";
const VMI_1: &str = "0a1b2c3d-0000-4000-8000-000000000001";
const VMI_2: &str = "0a1b2c3d-0000-4000-8000-000000000002";
const VMI_3: &str = "0a1b2c3d-0000-4000-8000-000000000003";
const VN: &str = "9e9e9e9e-aaaa-4bbb-8ccc-dddddddddddd";
const PROJECT: &str = "7f7f7f7f-1234-4321-8765-0123456789ab";

fn add_msg(vm: &str, vmi: &str, tap: &str) -> Value {
    json!({
        "time": "2024-01-01 00:00:00",
        "vm-id": vm,
        "vm-uuid": vm,
        "vm-name": vm,
        "host-ifname": tap,
        "vm-ifname": "eth0",
        "vm-namespace": format!("/var/run/mesos/isolators/network/cni/{vm}/ns"),
        "vn-uuid": VN,
        "vmi-uuid": vmi,
    })
}

fn start(opts: AgentOptions) -> AgentSim {
    AgentSim::start(opts).expect("agent sim starts")
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    k.sort();
    k
}

fn sorted(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[test]
fn get_vm_is_404_until_ready_then_has_the_agent_fields() {
    let sim = start(AgentOptions::default());
    let url = sim.url();
    let (code, body) = get(&format!("{url}/vm/{VM}"));
    assert_eq!((code, body), (404, json!({"error": "{ Not Found }"})));

    let (code, body) = post_json(&format!("{url}/vm"), &add_msg(VM, VMI_1, "tapeth0-5baff6"));
    assert_eq!((code, body), (200, json!({})));
    // Registered but no config known yet: still 404.
    let (code, _) = get(&format!("{url}/vm/{VM}"));
    assert_eq!(code, 404);

    sim.set_port_config(
        VMI_1,
        PortConfig {
            project_uuid: PROJECT.into(),
            mac: "02:0a:1b:2c:3d:00".into(),
            dns: Some("10.32.0.2".parse().expect("ip")),
            ..PortConfig::v4(
                "10.32.0.5".parse().expect("ip"),
                12,
                "10.32.0.1".parse().expect("ip"),
            )
        },
    );
    for path in [format!("/vm/{VM}"), format!("/vm/{VM}/{VMI_1}")] {
        let (code, body) = get(&format!("{url}{path}"));
        assert_eq!(code, 200, "{path}: {body}");
        let ports = body.as_array().expect("an array");
        assert_eq!(ports.len(), 1);
        let p = &ports[0];
        assert_eq!(
            keys(p),
            sorted(&[
                "id",
                "instance-id",
                "vn-id",
                "vm-project-id",
                "mac-address",
                "system-name",
                "rx-vlan-id",
                "tx-vlan-id",
                "vhostuser-mode",
                "ip-address",
                "plen",
                "dns-server",
                "gateway",
                "author",
                "time",
            ])
        );
        assert_eq!(p["id"], VMI_1);
        assert_eq!(p["instance-id"], VM);
        assert_eq!(p["vn-id"], VN);
        assert_eq!(p["vm-project-id"], PROJECT);
        assert_eq!(p["mac-address"], "02:0a:1b:2c:3d:00");
        assert_eq!(p["system-name"], "tapeth0-5baff6");
        assert_eq!(p["rx-vlan-id"], -1);
        assert_eq!(p["tx-vlan-id"], -1);
        assert_eq!(p["vhostuser-mode"], 0);
        assert_eq!(p["ip-address"], "10.32.0.5");
        assert_eq!(p["plen"], 12);
        assert_eq!(p["gateway"], "10.32.0.1");
        assert_eq!(p["dns-server"], "10.32.0.2");
    }
    // Another interface of the same VM that is not ready makes the whole VM 404.
    let (code, _) = post_json(&format!("{url}/vm"), &add_msg(VM, VMI_2, "tapeth1-5baff6"));
    assert_eq!(code, 200);
    let (code, _) = get(&format!("{url}/vm/{VM}"));
    assert_eq!(code, 404);
    let (code, _) = get(&format!("{url}/vm/{VM}/{VMI_1}"));
    assert_eq!(code, 200);
    // IPv6 adds the v6 fields; defaults fill gateway and DNS like the API server does.
    sim.set_port_config(
        VMI_2,
        PortConfig {
            ip: Some("10.32.0.6".parse().expect("ip")),
            plen: 24,
            v6_ip: Some("fd00::6".parse().expect("ip")),
            v6_plen: 64,
            ..PortConfig::default()
        },
    );
    let (code, body) = get(&format!("{url}/vm/{VM}/{VMI_2}"));
    assert_eq!(code, 200, "{body}");
    let p = &body[0];
    assert_eq!(p["gateway"], "10.32.0.254");
    assert_eq!(p["dns-server"], "10.32.0.253");
    assert_eq!(p["v6-ip-address"], "fd00::6");
    assert_eq!(p["v6-gateway"], "fd00::ffff:ffff:ffff:fffe");
    assert_eq!(p["v6-dns-server"], "fd00::ffff:ffff:ffff:fffd");
    assert_eq!(
        p["mac-address"], "02:0a:1b:2c:3d:00",
        "default MAC from the VMI UUID"
    );
    assert_eq!(p["vm-project-id"], "00000000-0000-0000-0000-000000000000");
    let (code, body) = get(&format!("{url}/vm/{VM}"));
    assert_eq!(code, 200);
    let ids: Vec<&str> = body
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(ids, vec![VMI_1, VMI_2], "ordered by interface UUID");
}

#[test]
fn readiness_delay_counts_from_each_post() {
    let delay = Duration::from_millis(400);
    let sim = start(AgentOptions {
        ready_delay: delay,
        ..AgentOptions::default()
    });
    sim.set_port_config(
        VMI_1,
        PortConfig::v4([10, 1, 0, 5].into(), 24, [10, 1, 0, 1].into()),
    );
    let url = sim.url();
    let posted = Instant::now();
    let (code, _) = post_json(&format!("{url}/vm"), &add_msg(VM, VMI_1, "tap1"));
    assert_eq!(code, 200);
    let (code, _) = get(&format!("{url}/vm/{VM}"));
    if code == 200 {
        assert!(posted.elapsed() >= delay, "ready before the delay elapsed");
    }
    let ready_at = loop {
        let (code, _) = get(&format!("{url}/vm/{VM}"));
        if code == 200 {
            break posted.elapsed();
        }
        assert_eq!(code, 404);
        assert!(posted.elapsed() < delay * 10, "never became ready");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        ready_at >= delay,
        "ready after {ready_at:?}, delay {delay:?}"
    );
    // A re-POST restarts the wait.
    let reposted = Instant::now();
    let (code, _) = post_json(&format!("{url}/vm"), &add_msg(VM, VMI_1, "tap1"));
    assert_eq!(code, 200);
    let (code, _) = get(&format!("{url}/vm/{VM}"));
    if code == 200 {
        assert!(reposted.elapsed() >= delay);
    }
    sim.set_ready_delay(Duration::ZERO);
    let (code, _) = get(&format!("{url}/vm/{VM}"));
    assert_eq!(code, 200);
}

#[test]
fn post_with_a_missing_or_bad_required_field_is_500_naming_it() {
    let sim = start(AgentOptions::default());
    let url = format!("{}/vm", sim.url());
    for (field, kind) in [
        ("vm-uuid", "data"),
        ("host-ifname", "field"),
        ("vm-name", "field"),
        ("vn-uuid", "data"),
        ("vmi-uuid", "data"),
    ] {
        let mut msg = add_msg(VM, VMI_1, "tap1");
        msg.as_object_mut().expect("object").remove(field);
        let (code, body) = post_json(&url, &msg);
        assert_eq!(code, 500, "{field}");
        assert_eq!(
            body,
            json!({"error": format!("{{ Invalid or missing {kind} for <{field}> }}")})
        );
    }
    let mut msg = add_msg(VM, VMI_1, "tap1");
    msg["vn-uuid"] = json!("not-a-uuid");
    let (code, body) = post_json(&url, &msg);
    assert_eq!(code, 500);
    assert!(body["error"].as_str().expect("error").contains("<vn-uuid>"));
    msg["vn-uuid"] = json!(42);
    assert_eq!(post_json(&url, &msg).0, 500);
    let (code, body) = post_raw(&url, "{not json");
    assert_eq!(code, 500);
    assert!(
        body["error"]
            .as_str()
            .expect("error")
            .contains("Invalid Json string")
    );
    let (code, body) = post_raw(&url, "[1,2]");
    assert_eq!(code, 500);
    assert!(
        body["error"]
            .as_str()
            .expect("error")
            .contains("Unexpected Json string")
    );
    assert!(sim.ports().is_empty(), "nothing registered by bad POSTs");
    // Optional fields may be absent; UUIDs are stored in lowercase.
    let (code, _) = post_json(
        &url,
        &json!({"vm-uuid": VM.to_uppercase(), "vm-name": "n", "host-ifname": "tap9",
                "vn-uuid": VN, "vmi-uuid": VMI_3}),
    );
    assert_eq!(code, 200);
    let ports = sim.ports();
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0].vm_uuid, VM);
    assert_eq!(ports[0].vm_id, "");
    assert_eq!(sim.stats().posts, 10);
}

#[test]
fn delete_whole_vm_versus_one_interface() {
    let sim = start(AgentOptions::default());
    let url = sim.url();
    for (vm, vmi) in [(VM, VMI_1), (VM, VMI_2), (VM_B, VMI_3)] {
        assert_eq!(
            post_json(&format!("{url}/vm"), &add_msg(vm, vmi, "t")).0,
            200
        );
    }
    let vmis =
        |sim: &AgentSim| -> Vec<String> { sim.ports().into_iter().map(|p| p.vmi_uuid).collect() };
    assert_eq!(vmis(&sim), vec![VMI_1, VMI_2, VMI_3]);
    // One interface (our extension); the wrong VM does not match.
    assert_eq!(
        delete(&format!("{url}/vm/{VM_B}/{VMI_1}")),
        (200, json!({}))
    );
    assert_eq!(vmis(&sim), vec![VMI_1, VMI_2, VMI_3]);
    assert_eq!(delete(&format!("{url}/vm/{VM}/{VMI_1}")), (200, json!({})));
    assert_eq!(vmis(&sim), vec![VMI_2, VMI_3]);
    // The whole VM.
    assert_eq!(delete(&format!("{url}/vm/{VM}")), (200, json!({})));
    assert_eq!(vmis(&sim), vec![VMI_3]);
    // Unknown VM: still 200 {}.
    assert_eq!(delete(&format!("{url}/vm/{VM}")), (200, json!({})));
    assert_eq!(sim.stats().deletes, 4);
    let (code, _) = get(&format!("{url}/vm/{VM}"));
    assert_eq!(code, 404);
}

#[test]
fn vm_cfg_lists_the_interfaces_of_a_vm_by_name() {
    let sim = start(AgentOptions::default());
    let url = sim.url();
    let (code, body) = get(&format!("{url}/vm-cfg/task-1.container"));
    assert_eq!((code, body), (404, json!({"error": "{ Not Found }"})));
    for (vmi, mac) in [(VMI_2, "02:00:00:00:00:02"), (VMI_1, "02:00:00:00:00:01")] {
        sim.set_port_config(
            vmi,
            PortConfig {
                vm_uuid: Some(VM.into()),
                vm_name: Some("task-1.container".into()),
                vn_uuid: VN.into(),
                vn_name: "default-domain:proj:blue".into(),
                mac: mac.into(),
                annotations: vec![
                    ("index".into(), "0/2".into()),
                    ("interface".into(), "eth0".into()),
                ],
                ..PortConfig::default()
            },
        );
    }
    let (code, body) = get(&format!("{url}/vm-cfg/task-1.container"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body,
        json!([
            {"id": VMI_1, "vm-uuid": VM, "vn-id": VN, "vn-name": "default-domain:proj:blue",
             "mac-address": "02:00:00:00:00:01", "sub-interface": false, "vlan-id": -1,
             "annotations": ["{index:0/2}", "{interface:eth0}"]},
            {"id": VMI_2, "vm-uuid": VM, "vn-id": VN, "vn-name": "default-domain:proj:blue",
             "mac-address": "02:00:00:00:00:02", "sub-interface": false, "vlan-id": -1,
             "annotations": ["{index:0/2}", "{interface:eth0}"]},
        ])
    );
    let (code, _) = get(&format!("{url}/vm-cfg/other"));
    assert_eq!(code, 404);
    let (code, _) = get(&format!("{url}/vm-cfg/"));
    assert_eq!(code, 404);
}

#[test]
fn reject_next_refuses_posts_then_recovers() {
    let sim = start(AgentOptions::default());
    let url = sim.url();
    sim.reject_next_posts(2);
    for _ in 0..2 {
        let (code, body) = post_json(&format!("{url}/vm"), &add_msg(VM, VMI_1, "t"));
        assert_eq!(code, 500);
        assert!(body["error"].is_string(), "{body}");
    }
    assert!(sim.ports().is_empty());
    assert_eq!(
        post_json(&format!("{url}/vm"), &add_msg(VM, VMI_1, "t")).0,
        200
    );
    // The same knob over HTTP.
    let (code, knobs) = post_json(&format!("{url}/_sim/agent"), &json!({"reject_next": 1}));
    assert_eq!(code, 200);
    assert_eq!(knobs["reject_next"], 1);
    assert_eq!(
        post_json(&format!("{url}/vm"), &add_msg(VM, VMI_2, "t")).0,
        500
    );
    assert_eq!(
        post_json(&format!("{url}/vm"), &add_msg(VM, VMI_2, "t")).0,
        200
    );
    let stats = sim.stats();
    assert_eq!((stats.posts, stats.rejected_posts), (5, 3));
    let (code, _) = post_json(&format!("{url}/_sim/agent"), &json!({"reject_next": -1}));
    assert_eq!(code, 400);
    let (code, _) = post_raw(&format!("{url}/_sim/agent"), "nope");
    assert_eq!(code, 400);
    let (code, knobs) = post_json(
        &format!("{url}/_sim/agent"),
        &json!({"ready_delay_ms": 250}),
    );
    assert_eq!(code, 200);
    assert_eq!(knobs["ready_delay_ms"], 250);
    let (code, ports) = get(&format!("{url}/_sim/ports"));
    assert_eq!(code, 200);
    assert_eq!(ports[0]["vmi-uuid"], VMI_1);
    assert_eq!(ports[0]["host-ifname"], "t");
    assert_eq!(
        ports[0]["vm-namespace"],
        format!("/var/run/mesos/isolators/network/cni/{VM}/ns")
    );
}

#[test]
fn goes_down_and_comes_back_on_the_same_port() {
    let sim = start(AgentOptions::default());
    let url = sim.url();
    sim.set_port_config(
        VMI_1,
        PortConfig::v4([10, 1, 0, 5].into(), 24, [10, 1, 0, 1].into()),
    );
    // One client with a pooled keep-alive connection across the outage.
    let client = agent();
    let call = |client: &ureq::Agent| client.get(format!("{url}/vm/{VM}")).call();
    assert_eq!(
        post_json(&format!("{url}/vm"), &add_msg(VM, VMI_1, "t")).0,
        200
    );
    let mut resp = call(&client).expect("up");
    assert_eq!(resp.status().as_u16(), 200);
    let _ = resp.body_mut().read_to_string();

    sim.set_down(true).expect("down");
    assert!(sim.is_down());
    let t = Instant::now();
    assert!(call(&client).is_err(), "pooled connection is cut");
    assert!(call(&agent()).is_err(), "new connections are refused");
    assert!(t.elapsed() < Duration::from_secs(3), "failing is immediate");
    sim.set_down(true).expect("down twice is fine");

    sim.set_down(false).expect("up");
    assert_eq!(sim.url(), url);
    let mut resp = call(&client).expect("up again");
    assert_eq!(resp.status().as_u16(), 200, "ports survive a restart");
    let _ = resp.body_mut().read_to_string();
    sim.set_down(false).expect("up twice is fine");
}

#[test]
fn unknown_requests_and_non_route_uuids() {
    let sim = start(AgentOptions::default());
    let url = sim.url();
    let unknown = json!({"error": "Unknown Request"});
    for path in [
        "/foo".to_string(),
        "/vm".to_string(),
        format!("/vm/{}", VM.to_uppercase()),
        format!("/vm/{VM}/{VMI_1}/x"),
        format!("/vm/{VM}/nope"),
        "/vm/".to_string(),
    ] {
        assert_eq!(
            get(&format!("{url}{path}")),
            (404, unknown.clone()),
            "GET {path}"
        );
    }
    assert_eq!(
        post_json(&format!("{url}/vm/{VM}"), &json!({})),
        (404, unknown.clone())
    );
    assert_eq!(delete(&format!("{url}/vm-cfg/x")), (404, unknown.clone()));
    assert_eq!(get(&format!("{url}/_sim/nothing")).0, 404);
}

#[test]
fn host_ifname_check_refuses_missing_interfaces() {
    let sim = start(AgentOptions {
        check_host_ifname: true,
        ..AgentOptions::default()
    });
    let url = format!("{}/vm", sim.url());
    // `lo` exists in every network namespace.
    assert_eq!(post_json(&url, &add_msg(VM, VMI_1, "lo")).0, 200);
    let (code, body) = post_json(&url, &add_msg(VM, VMI_2, "tapdoesnotexist"));
    assert_eq!(
        (code, body),
        (500, json!({"error": "{ Interface does not exist in OS }"}))
    );
    assert_eq!(post_json(&url, &add_msg(VM, VMI_2, "../lo")).0, 500);
    sim.set_check_host_ifname(false);
    assert_eq!(
        post_json(&url, &add_msg(VM, VMI_2, "tapdoesnotexist")).0,
        200
    );
}

// ---------------------------------------------------------------------------------------------
// A tiny upstream-shaped config API.

const VM1: &str = "11111111-1111-4111-8111-111111111111";
const VM2: &str = "22222222-2222-4222-8222-222222222222";
const VM3: &str = "33333333-3333-4333-8333-333333333333";
const M1: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const M2: &str = "aaaaaaaa-0000-4000-8000-000000000002";
const M3: &str = "aaaaaaaa-0000-4000-8000-000000000003";
const I1: &str = "bbbbbbbb-0000-4000-8000-000000000001";
const I2: &str = "bbbbbbbb-0000-4000-8000-000000000002";
const I3: &str = "bbbbbbbb-0000-4000-8000-000000000003";
const VN1: &str = "cccccccc-0000-4000-8000-000000000001";
const VN2: &str = "cccccccc-0000-4000-8000-000000000002";
const IPAM2: &str = "dddddddd-0000-4000-8000-000000000002";
const VR1: &str = "eeeeeeee-0000-4000-8000-000000000001";
const VR2: &str = "eeeeeeee-0000-4000-8000-000000000002";
const TOKEN: &str = "s3cret";

fn fake_config_api() -> Server {
    let vn_ref =
        |uuid: &str, name: &str| json!([{"to": ["default-domain", "proj", name], "uuid": uuid}]);
    let vr_ref = |uuid: &str, host: &str| json!([{"to": ["default-global-system-config", host], "uuid": uuid}]);
    let vmi = |uuid: &str, vm: &str, vn: Value, mac: &str, iips: Vec<&str>| {
        json!({"virtual-machine-interface": {
            "uuid": uuid,
            "fq_name": ["default-domain", "proj", uuid],
            "parent_type": "project",
            "parent_uuid": PROJECT,
            "virtual_machine_refs": [{"to": [vm], "uuid": vm}],
            "virtual_network_refs": vn,
            "virtual_machine_interface_mac_addresses": {"mac_address": [mac]},
            "instance_ip_back_refs": iips.iter().map(|i| json!({"to": [i], "uuid": i})).collect::<Vec<_>>(),
            "annotations": {"key_value_pair": [
                {"key": "index", "value": "0/1"},
                {"key": "interface", "value": "eth0"},
            ]},
        }})
    };
    let vm = |uuid: &str, vmi: &str, vr: Option<Value>| {
        let mut v = json!({"virtual-machine": {
            "uuid": uuid,
            "fq_name": [uuid],
            "server_type": "container",
            "virtual_machine_interface_back_refs": [{"to": ["default-domain", "proj", vmi], "uuid": vmi}],
        }});
        if let Some(vr) = vr {
            v["virtual-machine"]["virtual_router_back_refs"] = vr;
        }
        v
    };
    let mut objects: HashMap<String, Value> = HashMap::new();
    objects.insert(
        format!("virtual-machine-interface/{M1}"),
        vmi(
            M1,
            VM1,
            vn_ref(VN1, "blue"),
            "02:aa:bb:cc:dd:01",
            vec![I1, I2],
        ),
    );
    objects.insert(
        format!("virtual-machine-interface/{M2}"),
        vmi(M2, VM2, vn_ref(VN1, "blue"), "02:aa:bb:cc:dd:02", vec![]),
    );
    objects.insert(
        format!("virtual-machine-interface/{M3}"),
        vmi(M3, VM3, vn_ref(VN2, "flat"), "02:aa:bb:cc:dd:03", vec![I3]),
    );
    objects.insert(
        format!("virtual-machine/{VM1}"),
        vm(VM1, M1, Some(vr_ref(VR1, "node-1"))),
    );
    objects.insert(
        format!("virtual-machine/{VM2}"),
        vm(VM2, M2, Some(vr_ref(VR2, "node-2"))),
    );
    // VM3's router link is only visible from the router side (no back-refs rendered).
    objects.insert(format!("virtual-machine/{VM3}"), vm(VM3, M3, None));
    let router = |uuid: &str, host: &str, ip: &str, vms: &[&str]| {
        json!({"virtual-router": {
            "uuid": uuid,
            "fq_name": ["default-global-system-config", host],
            "virtual_router_ip_address": ip,
            "virtual_machine_refs": vms.iter().map(|v| json!({"to": [v], "uuid": v})).collect::<Vec<_>>(),
        }})
    };
    let vr1 = router(VR1, "node-1", "192.0.2.1", &[VM1, VM3]);
    let vr2 = router(VR2, "node-2", "192.0.2.2", &[VM2]);
    objects.insert(
        "virtual-routers".into(),
        json!({"virtual-routers": [vr1.clone(), vr2.clone()]}),
    );
    objects.insert(format!("virtual-router/{VR1}"), vr1);
    objects.insert(format!("virtual-router/{VR2}"), vr2);
    objects.insert(
        format!("instance-ip/{I1}"),
        json!({"instance-ip": {"uuid": I1, "instance_ip_address": "10.32.0.7",
                               "instance_ip_family": "v4", "subnet_uuid": "s-b"}}),
    );
    objects.insert(
        format!("instance-ip/{I2}"),
        json!({"instance-ip": {"uuid": I2, "instance_ip_address": "fd00::7",
                               "instance_ip_family": "v6"}}),
    );
    objects.insert(
        format!("instance-ip/{I3}"),
        json!({"instance-ip": {"uuid": I3, "instance_ip_address": "172.16.0.9",
                               "instance_ip_family": "v4"}}),
    );
    objects.insert(
        format!("virtual-network/{VN1}"),
        json!({"virtual-network": {"uuid": VN1, "network_ipam_refs": [{
            "to": ["default-domain", "proj", "ipam"],
            "uuid": "dddddddd-0000-4000-8000-000000000001",
            "attr": {"ipam_subnets": [
                {"subnet": {"ip_prefix": "10.9.0.0", "ip_prefix_len": 16},
                 "default_gateway": "10.9.0.1", "dns_server_address": "10.9.0.2",
                 "subnet_uuid": "s-a"},
                {"subnet": {"ip_prefix": "10.32.0.0", "ip_prefix_len": 12},
                 "default_gateway": "10.32.0.1", "dns_server_address": "10.32.0.2",
                 "subnet_uuid": "s-b"},
                {"subnet": {"ip_prefix": "fd00::", "ip_prefix_len": 64},
                 "default_gateway": "fd00::1", "subnet_uuid": "s-c"},
            ]},
        }]}}),
    );
    objects.insert(
        format!("virtual-network/{VN2}"),
        json!({"virtual-network": {"uuid": VN2, "network_ipam_refs": [{
            "to": ["default-domain", "proj", "flat-ipam"], "uuid": IPAM2,
            "attr": {"ipam_subnets": []},
        }]}}),
    );
    objects.insert(
        format!("network-ipam/{IPAM2}"),
        json!({"network-ipam": {"uuid": IPAM2, "ipam_subnet_method": "flat-subnet",
        "ipam_subnets": {"subnets": [
            {"subnet": {"ip_prefix": "172.16.0.0", "ip_prefix_len": 24},
             "default_gateway": "172.16.0.1"},
        ]}}}),
    );
    let names: HashMap<&'static str, &'static str> =
        [("task-1", VM1), ("task-2", VM2), ("task-3", VM3)]
            .into_iter()
            .collect();
    let handler: Arc<Handler> = Arc::new(move |req: HttpRequest| {
        if req.header("X-Auth-Token") != Some(TOKEN) {
            return HttpResponse::json(401, &json!({"message": "Authentication required"}));
        }
        match (req.method.as_str(), req.path.as_str()) {
            ("POST", "/fqname-to-id") => {
                let Ok(body) = req.json() else {
                    return HttpResponse::text(400, "bad body");
                };
                let name = body["fq_name"][0].as_str().unwrap_or_default();
                match (body["type"].as_str(), names.get(name)) {
                    (Some("virtual-machine"), Some(uuid)) => {
                        HttpResponse::json(200, &json!({"uuid": uuid}))
                    }
                    _ => HttpResponse::text(404, format!("Name ['{name}'] not found")),
                }
            }
            ("GET", "/virtual-routers") if req.query_param("detail").as_deref() != Some("true") => {
                HttpResponse::text(400, "this fake only lists with detail=true")
            }
            ("GET", p) => match objects.get(p.trim_start_matches('/')) {
                Some(v) => HttpResponse::json(200, v),
                None => HttpResponse::text(404, "No object found"),
            },
            _ => HttpResponse::text(405, ""),
        }
    });
    Server::start("127.0.0.1:0", 2, 1 << 20, handler).expect("fake config API")
}

#[test]
fn learns_port_config_from_an_upstream_shaped_config_api() {
    let api = fake_config_api();
    let sim = start(AgentOptions {
        config_api_url: Some(api.url()),
        auth_token: Some(TOKEN.into()),
        vrouter_name: Some("node-1".into()),
        vrouter_ip: Some("192.0.2.1".into()),
        ..AgentOptions::default()
    });
    let url = sim.url();
    let post = |vm: &str, vmi: &str| {
        let mut msg = add_msg(vm, vmi, "tap-x");
        msg["vn-uuid"] = json!(VN1);
        assert_eq!(post_json(&format!("{url}/vm"), &msg).0, 200);
    };

    // /vm-cfg by name, through fqname-to-id and the VM's back refs.
    let (code, body) = get(&format!("{url}/vm-cfg/task-1"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body,
        json!([{"id": M1, "vm-uuid": VM1, "vn-id": VN1, "vn-name": "default-domain:proj:blue",
                "mac-address": "02:aa:bb:cc:dd:01", "sub-interface": false, "vlan-id": -1,
                "annotations": ["{index:0/1}", "{interface:eth0}"]}])
    );
    // A VM linked to another router is unknown to this agent.
    assert_eq!(get(&format!("{url}/vm-cfg/task-2")).0, 404);
    let (code, body) = get(&format!("{url}/vm-cfg/task-3"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(body[0]["vn-name"], "default-domain:proj:flat");
    assert_eq!(get(&format!("{url}/vm-cfg/no-such-task")).0, 404);

    post(VM1, M1);
    let (code, body) = get(&format!("{url}/vm/{VM1}/{M1}"));
    assert_eq!(code, 200, "{body}");
    let p = &body[0];
    assert_eq!(p["id"], M1);
    assert_eq!(p["instance-id"], VM1);
    assert_eq!(p["vn-id"], VN1);
    assert_eq!(p["vm-project-id"], PROJECT);
    assert_eq!(p["mac-address"], "02:aa:bb:cc:dd:01");
    assert_eq!(p["system-name"], "tap-x");
    assert_eq!(p["ip-address"], "10.32.0.7");
    assert_eq!(p["plen"], 12);
    assert_eq!(p["gateway"], "10.32.0.1");
    assert_eq!(p["dns-server"], "10.32.0.2");
    assert_eq!(p["v6-ip-address"], "fd00::7");
    assert_eq!(p["v6-gateway"], "fd00::1");
    assert_eq!(p["v6-dns-server"], "fd00::ffff:ffff:ffff:fffd");

    // Flat-subnet network: the subnet comes from the IPAM object; DNS defaults. VM3 is known
    // through the router's virtual_machine_refs.
    post(VM3, M3);
    let (code, body) = get(&format!("{url}/vm/{VM3}"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(body[0]["ip-address"], "172.16.0.9");
    assert_eq!(body[0]["plen"], 24);
    assert_eq!(body[0]["gateway"], "172.16.0.1");
    assert_eq!(body[0]["dns-server"], "172.16.0.253");
    assert!(body[0].get("v6-ip-address").is_none());

    // Not on this router, and no instance IP: not ready.
    post(VM2, M2);
    assert_eq!(get(&format!("{url}/vm/{VM2}")).0, 404);

    // A wrong token or an unreachable config API is "not ready", never a crash.
    sim.set_config_api(Some(&api.url()), Some("wrong".into()));
    assert_eq!(get(&format!("{url}/vm/{VM3}")).0, 404);
    assert_eq!(get(&format!("{url}/vm-cfg/task-1")).0, 404);
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    sim.set_config_api(Some(&format!("http://{closed}")), Some(TOKEN.into()));
    assert_eq!(get(&format!("{url}/vm/{VM3}")).0, 404);
    assert_eq!(get(&format!("{url}/vm-cfg/task-1")).0, 404);
    sim.set_config_api(Some(&api.url()), Some(TOKEN.into()));
    assert_eq!(get(&format!("{url}/vm/{VM3}")).0, 200);
}

#[test]
fn seeded_config_over_http() {
    let sim = start(AgentOptions::default());
    let url = sim.url();
    assert_eq!(
        post_json(&format!("{url}/vm"), &add_msg(VM, VMI_1, "t")).0,
        200
    );
    let (code, _) = put_json(
        &format!("{url}/_sim/port-config/{VMI_1}"),
        &json!({"ip": "10.5.0.3", "plen": 16, "gateway": "10.5.0.1", "vm_name": "n1"}),
    );
    assert_eq!(code, 200);
    let (code, body) = get(&format!("{url}/vm/{VM}"));
    assert_eq!(code, 200);
    assert_eq!(body[0]["ip-address"], "10.5.0.3");
    let (code, body) = get(&format!("{url}/vm-cfg/n1"));
    assert_eq!(code, 200);
    assert_eq!(
        body[0]["vm-uuid"], VM,
        "the registered VM when the seed names none"
    );
    assert_eq!(body[0]["vn-id"], VN);
    assert!(body[0].get("annotations").is_none());
    let (code, _) = put_json(
        &format!("{url}/_sim/port-config/{VMI_1}"),
        &json!({"ip": 5}),
    );
    assert_eq!(code, 400);
    assert_eq!(delete(&format!("{url}/_sim/port-config/{VMI_1}")).0, 200);
    assert_eq!(get(&format!("{url}/vm/{VM}")).0, 404);
}
