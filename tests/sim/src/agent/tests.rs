//! Tests of the agent emulator over real HTTP, release by release, plus the small HTTP helpers
//! the other emulators' tests share.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;
use contrail_mesos::http::server::{Request as HttpRequest, Response as HttpResponse, Server};

pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn finish(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>, what: &str) -> (u16, Value) {
    let (status, text) = finish_text(resp, what);
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

fn finish_text(
    resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    what: &str,
) -> (u16, String) {
    let mut resp = resp.unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap_or_default())
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

const RELEASES: [AgentRelease; 3] = [AgentRelease::R5_0, AgentRelease::R5_1, AgentRelease::R2008];

// ---------------------------------------------------------------------------------------------
// A tiny upstream-shaped config API.

/// Linked from router node-1 (its back-refs show it); interfaces M1 (blue) and M4 (flat).
const VM1: &str = "11111111-1111-4111-8111-111111111111";
/// Linked from router node-2 only.
const VM2: &str = "22222222-2222-4222-8222-222222222222";
/// Linked from router node-1, seen only from the router's side (no back-refs rendered).
const VM3: &str = "33333333-3333-4333-8333-333333333333";
/// Linked from router node-1; one IPv6-only interface.
const VM6: &str = "66666666-6666-4666-8666-666666666666";
/// Not in the config API at all.
const VM9: &str = "99999999-9999-4999-8999-999999999999";
const M1: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const M2: &str = "aaaaaaaa-0000-4000-8000-000000000002";
const M3: &str = "aaaaaaaa-0000-4000-8000-000000000003";
const M4: &str = "aaaaaaaa-0000-4000-8000-000000000004";
const M6: &str = "aaaaaaaa-0000-4000-8000-000000000006";
/// The flat-subnet network: its uuid sorts before blue's.
const VN_FLAT: &str = "cccccccc-0000-4000-8000-000000000001";
const VN_BLUE: &str = "cccccccc-0000-4000-8000-000000000002";
const IPAM_FLAT: &str = "dddddddd-0000-4000-8000-000000000002";
const VR1: &str = "eeeeeeee-0000-4000-8000-000000000001";
const VR2: &str = "eeeeeeee-0000-4000-8000-000000000002";
const PROJECT: &str = "7f7f7f7f-1234-4321-8765-0123456789ab";
const NIL: &str = "00000000-0000-0000-0000-000000000000";
const TOKEN: &str = "s3cret";
const GSC: &str = "default-global-system-config";

fn fake_config_api() -> Server {
    let mut objects: HashMap<String, Value> = HashMap::new();
    let mut put = |kind: &str, uuid: &str, body: Value| {
        let mut body = body;
        body["uuid"] = json!(uuid);
        objects.insert(format!("{kind}/{uuid}"), json!({ kind: body }));
    };
    let vn_ref =
        |uuid: &str, name: &str| json!([{"to": ["default-domain", "proj", name], "uuid": uuid}]);
    let back = |uuids: &[&str]| -> Value {
        uuids
            .iter()
            .map(|u| json!({"to": [u], "uuid": u}))
            .collect()
    };
    let vmi = |vm: &str, vn: Value, mac: &str, iips: &[&str]| {
        json!({
            "fq_name": ["default-domain", "proj", format!("{vm}-if")],
            "parent_type": "project",
            "parent_uuid": PROJECT,
            "virtual_machine_refs": [{"to": [vm], "uuid": vm}],
            "virtual_network_refs": vn,
            "virtual_machine_interface_mac_addresses": {"mac_address": [mac]},
            "instance_ip_back_refs": back(iips),
            "annotations": {"key_value_pair": [
                {"key": "index", "value": "0/1"},
                {"key": "interface", "value": "eth0"},
            ]},
        })
    };
    put(
        "virtual-machine-interface",
        M1,
        vmi(
            VM1,
            vn_ref(VN_BLUE, "blue"),
            "02:AA:BB:CC:DD:01",
            &["i-v4", "i-v6", "i-secondary", "i-high"],
        ),
    );
    put(
        "virtual-machine-interface",
        M4,
        vmi(
            VM1,
            vn_ref(VN_FLAT, "flat"),
            "02:aa:bb:cc:dd:04",
            &["i-flat4"],
        ),
    );
    put(
        "virtual-machine-interface",
        M2,
        vmi(VM2, vn_ref(VN_BLUE, "blue"), "02:aa:bb:cc:dd:02", &["i-m2"]),
    );
    put(
        "virtual-machine-interface",
        M3,
        vmi(
            VM3,
            vn_ref(VN_FLAT, "flat"),
            "02:aa:bb:cc:dd:03",
            &["i-flat3"],
        ),
    );
    put(
        "virtual-machine-interface",
        M6,
        vmi(
            VM6,
            vn_ref(VN_BLUE, "blue"),
            "02:aa:bb:cc:dd:06",
            &["i-v6only"],
        ),
    );
    let router_ref = |uuid: &str, host: &str| json!([{"to": [GSC, host], "uuid": uuid}]);
    let vm = |name: &str, vmis: &[&str], router: Option<Value>| {
        let mut v = json!({
            "fq_name": [name],
            "server_type": "container",
            "virtual_machine_interface_back_refs": back(vmis),
        });
        if let Some(r) = router {
            v["virtual_router_back_refs"] = r;
        }
        v
    };
    put(
        "virtual-machine",
        VM1,
        vm("task-1", &[M1, M4], Some(router_ref(VR1, "node-1"))),
    );
    put(
        "virtual-machine",
        VM2,
        vm("task-2", &[M2], Some(router_ref(VR2, "node-2"))),
    );
    put("virtual-machine", VM3, vm("task-3", &[M3], None));
    put(
        "virtual-machine",
        VM6,
        vm("task-6", &[M6], Some(router_ref(VR1, "node-1"))),
    );
    let router = |host: &str, ip: &str, vms: &[&str]| {
        json!({
            "fq_name": [GSC, host],
            "virtual_router_ip_address": ip,
            "virtual_machine_refs": back(vms),
        })
    };
    put(
        "virtual-router",
        VR1,
        router("node-1", "192.0.2.1", &[VM1, VM3, VM6]),
    );
    put("virtual-router", VR2, router("node-2", "192.0.2.2", &[VM2]));
    let iip = |addr: &str, extra: Value| {
        let mut v = json!({"instance_ip_address": addr, "subnet_uuid": "s-16"});
        if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
            v.extend(extra);
        }
        v
    };
    put(
        "instance-ip",
        "i-v4",
        iip("10.32.0.7", json!({"instance_ip_family": "v4"})),
    );
    put("instance-ip", "i-high", iip("10.32.0.200", json!({})));
    put(
        "instance-ip",
        "i-secondary",
        iip("10.32.0.3", json!({"instance_ip_secondary": true})),
    );
    put(
        "instance-ip",
        "i-v6",
        iip("fd00::7", json!({"instance_ip_family": "v6"})),
    );
    put("instance-ip", "i-m2", iip("10.32.0.8", json!({})));
    put("instance-ip", "i-flat3", iip("172.16.0.9", json!({})));
    put("instance-ip", "i-flat4", iip("172.16.0.4", json!({})));
    put(
        "instance-ip",
        "i-v6only",
        iip("fd00::6", json!({"instance_ip_family": "v6"})),
    );
    // Listed /16 before /12: the agent sorts them, so the /12 holds 10.32.0.7.
    put(
        "virtual-network",
        VN_BLUE,
        json!({"fq_name": ["default-domain", "proj", "blue"], "network_ipam_refs": [{
            "to": ["default-domain", "proj", "ipam"],
            "uuid": "dddddddd-0000-4000-8000-000000000001",
            "attr": {"ipam_subnets": [
                {"subnet": {"ip_prefix": "10.32.0.0", "ip_prefix_len": 16},
                 "default_gateway": "10.32.255.254", "dns_server_address": "10.32.255.253",
                 "subnet_uuid": "s-16"},
                {"subnet": {"ip_prefix": "10.32.0.0", "ip_prefix_len": 12},
                 "default_gateway": "10.32.0.1", "dns_server_address": "10.32.0.2",
                 "subnet_uuid": "s-12"},
                {"subnet": {"ip_prefix": "fd00::", "ip_prefix_len": 64},
                 "default_gateway": "fd00::1"},
            ]},
        }]}),
    );
    put(
        "virtual-network",
        VN_FLAT,
        json!({"fq_name": ["default-domain", "proj", "flat"], "network_ipam_refs": [{
            "to": ["default-domain", "proj", "flat-ipam"], "uuid": IPAM_FLAT,
            "attr": {"ipam_subnets": []},
        }]}),
    );
    put(
        "network-ipam",
        IPAM_FLAT,
        json!({"ipam_subnet_method": "flat-subnet", "ipam_subnets": {"subnets": [
            {"subnet": {"ip_prefix": "172.16.0.0", "ip_prefix_len": 24},
             "default_gateway": "172.16.0.1"},
        ]}}),
    );
    let names: HashMap<(String, Vec<String>), &'static str> = [
        ("virtual-machine", vec!["task-1"], VM1),
        ("virtual-machine", vec!["task-2"], VM2),
        ("virtual-machine", vec!["task-3"], VM3),
        ("virtual-machine", vec!["task-6"], VM6),
        ("virtual-router", vec![GSC, "node-1"], VR1),
        ("virtual-router", vec![GSC, "node-2"], VR2),
    ]
    .into_iter()
    .map(|(t, fq, u)| {
        (
            (t.to_string(), fq.into_iter().map(String::from).collect()),
            u,
        )
    })
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
                let ty = body["type"].as_str().unwrap_or_default().to_string();
                let fq: Vec<String> = body["fq_name"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect();
                match names.get(&(ty, fq.clone())) {
                    Some(uuid) => HttpResponse::json(200, &json!({"uuid": uuid})),
                    None => HttpResponse::text(404, format!("Name {fq:?} not found")),
                }
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

/// An agent on host `host` learning from `api`, as `release`.
fn agent_on(api: &Server, host: &str, release: AgentRelease) -> AgentSim {
    start(AgentOptions {
        config_api_url: Some(api.url()),
        auth_token: Some(TOKEN.into()),
        host_name: Some(host.into()),
        release,
        ..AgentOptions::default()
    })
}

fn start(opts: AgentOptions) -> AgentSim {
    AgentSim::start(opts).expect("agent sim starts")
}

/// What the CNI posts for interface `vmi` of `vm`.
fn add_msg(vm: &str, vmi: &str, vn: &str, tap: &str) -> Value {
    json!({
        "time": "2024-01-01 00:00:00",
        "vm-id": vm,
        "vm-uuid": vm,
        "vm-name": vm,
        "host-ifname": tap,
        "vm-ifname": "eth0",
        "vm-namespace": format!("/var/run/mesos/isolators/network/cni/{vm}/ns"),
        "vn-uuid": vn,
        "vmi-uuid": vmi,
    })
}

fn post_port(sim: &AgentSim, vm: &str, vmi: &str, vn: &str, tap: &str) {
    let (code, body) = post_json(&format!("{}/vm", sim.url()), &add_msg(vm, vmi, vn, tap));
    assert_eq!((code, body), (200, json!({})), "POST /vm {vmi}");
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("an object: {v}"))
        .keys()
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn sorted(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("a list: {list}"))
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect()
}

/// The agent's `time`: `hours:MM:SS` and maybe `.uuuuuu`.
fn is_agent_time(s: &str) -> bool {
    let (hms, frac) = s.split_once('.').unwrap_or((s, ""));
    let parts: Vec<&str> = hms.split(':').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| p.len() >= 2 && p.bytes().all(|b| b.is_ascii_digit()))
        && (frac.is_empty() || (frac.len() == 6 && frac.bytes().all(|b| b.is_ascii_digit())))
}

fn unknown() -> (u16, Value) {
    (404, json!({"error": "Unknown Request"}))
}

fn not_found() -> (u16, Value) {
    (404, json!({"error": "{ Not Found }"}))
}

// ---------------------------------------------------------------------------------------------

#[test]
fn route_table_per_release() {
    let sim = start(AgentOptions::default());
    let url = sim.url();
    let http = agent();
    let call = |method: &str, path: &str| -> (u16, Value) {
        let u = format!("{url}{path}");
        let resp = match method {
            "GET" => http.get(&u).call(),
            "DELETE" => http.delete(&u).call(),
            "PUT" => http.put(&u).send(&b"{}"[..]),
            "POST" => http.post(&u).send(&b"{}"[..]),
            "HEAD" => http.head(&u).call(),
            _ => unreachable!("method {method}"),
        };
        finish(resp, &u)
    };
    // Letters in both, so that upper case differs.
    let vm = "5baff64c-d028-47ba-864e-a5ee679fc069";
    let vmi = M1;
    for release in RELEASES {
        let (code, knobs) = post_json(
            &format!("{url}/_sim/agent"),
            &json!({"release": release.to_string()}),
        );
        assert_eq!((code, &knobs["release"]), (200, &json!(release.name())));
        let r2008 = release == AgentRelease::R2008;
        // Every upstream route answers, and not with "Unknown Request".
        assert_eq!(
            call("POST", "/vm"),
            (
                500,
                json!({"error": "{ Invalid or missing data for <vm-uuid> }"})
            ),
            "{release} POST /vm"
        );
        assert_eq!(call("GET", &format!("/vm/{vm}")), not_found(), "{release}");
        assert_eq!(
            call("DELETE", &format!("/vm/{vm}")),
            (200, json!({})),
            "{release}"
        );
        assert_eq!(
            call("GET", &format!("/vm-cfg/{vm}")),
            not_found(),
            "{release}"
        );
        // R2008's own routes.
        let vm_vmi = call("GET", &format!("/vm/{vm}/{vmi}"));
        let by_name = call("GET", "/vm-cfg/task-1.container");
        let empty_name = call("GET", "/vm-cfg/");
        if r2008 {
            assert_eq!(vm_vmi, not_found(), "{release}");
            assert_eq!(by_name, not_found(), "{release}");
            assert_eq!(empty_name, not_found(), "{release}");
        } else {
            assert_eq!(vm_vmi, unknown(), "{release}: no per-interface GET");
            assert_eq!(by_name, unknown(), "{release}: /vm-cfg takes a uuid");
            assert_eq!(empty_name, unknown(), "{release}");
        }
        // Not routes in any release.
        for (method, path) in [
            ("DELETE", format!("/vm/{vm}/{vmi}")),
            ("GET", format!("/vm/{}", vm.to_uppercase())),
            ("DELETE", format!("/vm/{}", vm.to_uppercase())),
            ("GET", format!("/vm/{vm}/")),
            ("GET", format!("/vm/{vm}/{vmi}/x")),
            ("GET", format!("/vm/{vm}/nope")),
            ("GET", format!("/vm/%35{}", &vm[1..])),
            ("GET", "/vm/".into()),
            ("GET", "/vm".into()),
            ("PUT", "/vm".into()),
            ("POST", "/vm/".into()),
            ("POST", format!("/vm/{vm}")),
            ("PUT", format!("/vm/{vm}")),
            ("HEAD", format!("/vm/{vm}")),
            ("DELETE", "/vm-cfg/x".into()),
            ("DELETE", format!("/vm-cfg/{vm}")),
            ("POST", format!("/vm-cfg/{vm}")),
            ("GET", format!("/vm-cfg/{}", vm.to_uppercase())),
            ("GET", "/foo".into()),
            ("POST", "/port".into()),
            ("GET", format!("/port/{vmi}")),
            ("POST", "/syncports".into()),
        ] {
            let got = call(method, &path);
            if method == "HEAD" {
                assert_eq!(got.0, 404, "{release} {method} {path}");
                continue;
            }
            if r2008 && method == "GET" && path.starts_with("/vm-cfg/") {
                // Any name is a route in R2008.
                assert_eq!(got, not_found(), "{release} {method} {path}");
                continue;
            }
            assert_eq!(got, unknown(), "{release} {method} {path}");
        }
    }
    // The control endpoint refuses an unknown release, naming it, and keeps the current one.
    let (code, body) = post_json(&format!("{url}/_sim/agent"), &json!({"release": "R4.1"}));
    assert_eq!(code, 400);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("\"R4.1\"")),
        "{body}"
    );
    let (_, knobs) = get(&format!("{url}/_sim/agent"));
    assert_eq!(knobs["release"], "R2008");
    assert_eq!(sim.release(), AgentRelease::R2008);
    for (name, release) in [
        ("R1912", AgentRelease::R5_1),
        ("R2011", AgentRelease::R2008),
    ] {
        let (code, knobs) = post_json(&format!("{url}/_sim/agent"), &json!({"release": name}));
        assert_eq!((code, &knobs["release"]), (200, &json!(release.name())));
        assert_eq!(sim.release(), release);
    }
}

#[test]
fn r2008_answers_lists_and_one_interface() {
    let api = fake_config_api();
    let sim = agent_on(&api, "node-1", AgentRelease::R2008);
    let url = sim.url();

    // /vm-cfg by name answers from config, before any POST.
    let (code, body) = get(&format!("{url}/vm-cfg/task-1"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body,
        json!([
            {"id": M1, "vm-uuid": VM1, "vn-id": VN_BLUE, "vn-name": "default-domain:proj:blue",
             "mac-address": "02:AA:BB:CC:DD:01", "sub-interface": false, "vlan-id": 65535,
             "annotations": ["{index:0/1}", "{interface:eth0}"]},
            {"id": M4, "vm-uuid": VM1, "vn-id": VN_FLAT, "vn-name": "default-domain:proj:flat",
             "mac-address": "02:aa:bb:cc:dd:04", "sub-interface": false, "vlan-id": 65535,
             "annotations": ["{index:0/1}", "{interface:eth0}"]},
        ])
    );
    assert_eq!(
        get(&format!("{url}/vm-cfg/{VM1}")),
        not_found(),
        "by name only"
    );
    assert_eq!(get(&format!("{url}/vm-cfg/no-such-task")), not_found());

    // Not posted yet: 404, as a list and as one interface.
    assert_eq!(get(&format!("{url}/vm/{VM1}")), not_found());
    assert_eq!(get(&format!("{url}/vm/{VM1}/{M1}")), not_found());
    post_port(&sim, VM1, M1, VN_BLUE, "tapm1");
    // M4 is an interface of the VM too and is not posted: the list stays 404.
    assert_eq!(get(&format!("{url}/vm/{VM1}")), not_found());
    let (code, body) = get(&format!("{url}/vm/{VM1}/{M1}"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(ids(&body), vec![M1]);
    let p = &body[0];
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
            "v6-ip-address",
            "v6-dns-server",
            "v6-gateway",
            "author",
            "time",
        ])
    );
    assert_eq!(p["instance-id"], VM1);
    assert_eq!(p["vn-id"], VN_BLUE);
    assert_eq!(p["vm-project-id"], NIL);
    assert_eq!(p["mac-address"], "02:aa:bb:cc:dd:01");
    assert_eq!(p["system-name"], "tapm1");
    assert_eq!(
        (&p["rx-vlan-id"], &p["tx-vlan-id"]),
        (&json!(65535), &json!(65535))
    );
    assert_eq!(p["vhostuser-mode"], 0);
    // The lowest address that is not secondary; the first subnet in the agent's order.
    assert_eq!(p["ip-address"], "10.32.0.7");
    assert_eq!(p["plen"], 12);
    assert_eq!(p["gateway"], "10.32.0.1");
    assert_eq!(p["dns-server"], "10.32.0.2");
    assert_eq!(p["v6-ip-address"], "fd00::7");
    assert_eq!(p["v6-gateway"], "fd00::1");
    assert_eq!(p["v6-dns-server"], "fd00::1", "no DNS address: the gateway");
    assert_eq!(p["author"], "/usr/bin/contrail-vrouter-agent");
    assert!(
        is_agent_time(p["time"].as_str().unwrap_or_default()),
        "{}",
        p["time"]
    );
    // The interface is answered whatever VM the path names (upstream does not check), but not
    // under the nil VM.
    let (code, body) = get(&format!("{url}/vm/{VM9}/{M1}"));
    assert_eq!((code, ids(&body)), (200, vec![M1]));
    assert_eq!(get(&format!("{url}/vm/{NIL}/{M1}")), not_found());

    // Re-posting with another tap changes nothing; posting M4 completes the VM.
    post_port(&sim, VM1, M1, VN_BLUE, "tapother");
    post_port(&sim, VM1, M4, VN_FLAT, "tapm4");
    let (code, text) = finish_text(agent().get(format!("{url}/vm/{VM1}")).call(), "GET");
    assert_eq!(code, 200, "{text}");
    assert!(
        text.starts_with(&format!("[{{\n    \"id\": \"{M1}\",\n    \"instance-id\"")),
        "pretty-printed like rapidjson: {text}"
    );
    assert!(
        text.contains("\n},{\n"),
        "objects joined by a bare comma: {text}"
    );
    let body: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(ids(&body), vec![M1, M4], "ordered by interface uuid");
    assert_eq!(
        body[0]["system-name"], "tapm1",
        "the first POST's tap stays"
    );
    let flat = &body[1];
    assert_eq!(flat["ip-address"], "172.16.0.4");
    assert_eq!(
        (&flat["plen"], &flat["gateway"]),
        (&json!(24), &json!("172.16.0.1"))
    );
    assert_eq!(flat["dns-server"], "172.16.0.1");
    assert!(flat.get("v6-ip-address").is_none());
    assert_eq!(sim.ports().len(), 2);
    let stats = sim.stats();
    assert_eq!((stats.posts, stats.not_found), (3, 6));
}

#[test]
fn r5_1_lists_by_vm_uuid_only() {
    let api = fake_config_api();
    let sim = agent_on(&api, "node-1", AgentRelease::R5_1);
    let url = sim.url();
    let (code, body) = get(&format!("{url}/vm-cfg/{VM1}"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body[0],
        json!({"id": M1, "instance-id": VM1, "vn-id": VN_BLUE,
               "vn-name": "default-domain:proj:blue", "mac-address": "02:AA:BB:CC:DD:01",
               "sub-interface": false, "vlan-id": 65535,
               "annotations": ["{index:0/1}", "{interface:eth0}"]})
    );
    assert_eq!(ids(&body), vec![M1, M4]);
    assert_eq!(get(&format!("{url}/vm-cfg/task-1")), unknown());
    post_port(&sim, VM1, M1, VN_BLUE, "tapm1");
    assert_eq!(
        get(&format!("{url}/vm/{VM1}")),
        not_found(),
        "M4 not posted"
    );
    assert_eq!(get(&format!("{url}/vm/{VM1}/{M1}")), unknown());
    post_port(&sim, VM1, M4, VN_FLAT, "tapm4");
    let (code, body) = get(&format!("{url}/vm/{VM1}"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(ids(&body), vec![M1, M4]);
    assert_eq!(body[0]["v6-ip-address"], "fd00::7");
    assert!(body[0].get("ip6-address").is_none());
}

#[test]
fn r5_0_answers_one_object_for_the_vm() {
    let api = fake_config_api();
    let sim = agent_on(&api, "node-1", AgentRelease::R5_0);
    let url = sim.url();
    // The interface on the network with the lowest uuid: M4 (flat), not M1.
    let (code, body) = get(&format!("{url}/vm-cfg/{VM1}"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body,
        json!({"id": M4, "instance-id": VM1, "vn-id": VN_FLAT,
               "mac-address": "02:aa:bb:cc:dd:04", "sub-interface": false, "vlan-id": 65535})
    );
    assert_eq!(
        get(&format!("{url}/vm/{VM1}")),
        not_found(),
        "nothing posted"
    );
    // The single-interface agent reads neither vn-uuid nor vmi-uuid.
    let post = |tap: &str| {
        post_json(
            &format!("{url}/vm"),
            &json!({"vm-uuid": VM1, "vm-name": "task-1", "host-ifname": tap, "vm-id": "c1"}),
        )
    };
    assert_eq!(post("tapfirst"), (200, json!({})));
    assert_eq!(post("tapsecond"), (200, json!({})));
    let ports = sim.ports();
    assert_eq!(ports.len(), 1, "one subscription per VM");
    assert_eq!(
        (
            ports[0].vmi_uuid.as_str(),
            ports[0].vn_uuid.as_str(),
            ports[0].host_ifname.as_str()
        ),
        ("", "", "tapfirst")
    );
    let (code, body) = get(&format!("{url}/vm/{VM1}"));
    assert_eq!(code, 200, "{body}");
    assert!(body.is_object(), "one object, not a list: {body}");
    assert_eq!(
        keys(&body),
        sorted(&[
            "id",
            "instance-id",
            "ip-address",
            "plen",
            "ip6-address",
            "vn-id",
            "vm-project-id",
            "mac-address",
            "system-name",
            "rx-vlan-id",
            "tx-vlan-id",
            "vhostuser-mode",
            "dns-server",
            "gateway",
            "author",
            "time",
        ])
    );
    assert_eq!(body["id"], M4);
    assert_eq!(body["system-name"], "tapfirst", "the first POST wins");
    assert_eq!(body["ip-address"], "172.16.0.4");
    assert_eq!(body["ip6-address"], "::");
    assert_eq!(body["plen"], 24);
    // Field order as the agent writes them.
    let (_, text) = finish_text(agent().get(format!("{url}/vm/{VM1}")).call(), "GET");
    let order: Vec<usize> = [
        "\"id\"",
        "\"instance-id\"",
        "\"ip-address\"",
        "\"plen\"",
        "\"ip6-address\"",
        "\"vn-id\"",
        "\"dns-server\"",
        "\"gateway\"",
        "\"author\"",
    ]
    .iter()
    .map(|k| text.find(k).unwrap_or(usize::MAX))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    // DELETE drops the VM's subscription.
    assert_eq!(delete(&format!("{url}/vm/{VM1}")), (200, json!({})));
    assert!(sim.ports().is_empty());
    assert_eq!(get(&format!("{url}/vm/{VM1}")), not_found());
}

#[test]
fn a_vm_on_another_hosts_router_is_never_learnt() {
    let api = fake_config_api();
    for release in RELEASES {
        let r2008 = release == AgentRelease::R2008;
        // `/vm-cfg` takes the VM's name from R2008, its uuid before.
        let cfg_path =
            |name: &str, uuid: &str| format!("/vm-cfg/{}", if r2008 { name } else { uuid });
        // The interfaces a GET /vm answer names (R5.0 answers one object).
        let answered = |body: &Value| -> Vec<String> {
            match body {
                Value::Array(_) => ids(body).into_iter().map(String::from).collect(),
                other => vec![other["id"].as_str().unwrap_or_default().to_string()],
            }
        };
        // VM2 hangs off router node-2 (address 192.0.2.2).
        for host in ["node-1", "192.0.2.2", "node-2.example.com"] {
            let sim = agent_on(&api, host, release);
            let url = sim.url();
            post_port(&sim, VM2, M2, VN_BLUE, "tapm2");
            for _ in 0..3 {
                let what = format!("{release} on {host}");
                assert_eq!(get(&format!("{url}/vm/{VM2}")), not_found(), "{what}");
                let cfg = cfg_path("task-2", VM2);
                assert_eq!(get(&format!("{url}{cfg}")), not_found(), "{what}");
                if r2008 {
                    assert_eq!(get(&format!("{url}/vm/{VM2}/{M2}")), not_found(), "{what}");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // The agent named like the router learns it.
        let sim = agent_on(&api, "node-2", release);
        let url = sim.url();
        assert_eq!(get(&format!("{url}{}", cfg_path("task-2", VM2))).0, 200);
        post_port(&sim, VM2, M2, VN_BLUE, "tapm2");
        let (code, body) = get(&format!("{url}/vm/{VM2}"));
        assert_eq!(
            (code, answered(&body)),
            (200, vec![M2.to_string()]),
            "{release}"
        );
        let cfg = cfg_path("task-1", VM1);
        assert_eq!(
            get(&format!("{url}{cfg}")),
            not_found(),
            "{release}: VM1 is node-1's"
        );
        // A VM linked only from the router's side (no back-refs rendered) is learnt too.
        let sim = agent_on(&api, "node-1", release);
        let url = sim.url();
        post_port(&sim, VM3, M3, VN_FLAT, "tapm3");
        let (code, body) = get(&format!("{url}/vm/{VM3}"));
        assert_eq!(
            (code, answered(&body)),
            (200, vec![M3.to_string()]),
            "{release}"
        );
        assert_eq!(get(&format!("{url}{}", cfg_path("task-3", VM3))).0, 200);
    }
}

#[test]
fn ipv6_only_interface() {
    let api = fake_config_api();
    for release in RELEASES {
        let sim = agent_on(&api, "node-1", release);
        let url = sim.url();
        post_port(&sim, VM6, M6, VN_BLUE, "tapm6");
        let got = get(&format!("{url}/vm/{VM6}"));
        if release == AgentRelease::R5_0 {
            // The single-interface agent needs an IPv4 subnet.
            assert_eq!(got, not_found(), "{release}");
            continue;
        }
        let (code, body) = got;
        assert_eq!(code, 200, "{release}: {body}");
        let p = &body[0];
        assert_eq!(p["v6-ip-address"], "fd00::6");
        assert_eq!(p["v6-gateway"], "fd00::1");
        assert_eq!(p["v6-dns-server"], "fd00::1");
        for absent in [
            "ip-address",
            "plen",
            "gateway",
            "dns-server",
            "v6-plen",
            "ip6-address",
        ] {
            assert!(p.get(absent).is_none(), "{release}: {absent} in {p}");
        }
    }
}

#[test]
fn delete_drops_every_port_of_the_vm() {
    let api = fake_config_api();
    for release in [AgentRelease::R5_1, AgentRelease::R2008] {
        let sim = agent_on(&api, "node-1", release);
        let url = sim.url();
        post_port(&sim, VM1, M1, VN_BLUE, "tapm1");
        post_port(&sim, VM1, M4, VN_FLAT, "tapm4");
        post_port(&sim, VM3, M3, VN_FLAT, "tapm3");
        assert_eq!(get(&format!("{url}/vm/{VM1}")).0, 200);
        // No per-interface delete.
        assert_eq!(delete(&format!("{url}/vm/{VM1}/{M1}")), unknown());
        assert_eq!(sim.ports().len(), 3);
        assert_eq!(
            delete(&format!("{url}/vm/{VM1}")),
            (200, json!({})),
            "{release}"
        );
        let left: Vec<String> = sim.ports().into_iter().map(|p| p.vmi_uuid).collect();
        assert_eq!(left, vec![M3], "{release}");
        assert_eq!(get(&format!("{url}/vm/{VM1}")), not_found());
        assert_eq!(
            get(&format!("{url}/vm/{VM3}")).0,
            200,
            "{release}: VM3 untouched"
        );
        // Unknown VMs, and the nil one, are fine.
        assert_eq!(delete(&format!("{url}/vm/{VM9}")), (200, json!({})));
        assert_eq!(delete(&format!("{url}/vm/{NIL}")), (200, json!({})));
        assert_eq!(delete(&format!("{url}/vm/{VM1}")), (200, json!({})));
        assert_eq!(sim.stats().deletes, 4);
    }
}

#[test]
fn post_errors_name_the_field_in_the_agents_order() {
    for release in RELEASES {
        let sim = start(AgentOptions {
            release,
            ..AgentOptions::default()
        });
        let url = format!("{}/vm", sim.url());
        let order: &[(&str, &str)] = if release == AgentRelease::R5_0 {
            &[
                ("vm-uuid", "data"),
                ("vm-name", "field"),
                ("host-ifname", "field"),
            ]
        } else {
            &[
                ("vm-uuid", "data"),
                ("host-ifname", "field"),
                ("vm-name", "field"),
                ("vn-uuid", "data"),
                ("vmi-uuid", "data"),
            ]
        };
        // Remove every required field: the first in the agent's order is named; then put them
        // back one by one.
        let mut msg = add_msg(VM1, M1, VN_BLUE, "tap1");
        for (field, _) in order {
            msg.as_object_mut().expect("object").remove(*field);
        }
        for (field, kind) in order {
            let (code, body) = post_json(&url, &msg);
            assert_eq!(
                (code, body),
                (
                    500,
                    json!({"error": format!("{{ Invalid or missing {kind} for <{field}> }}")})
                ),
                "{release}"
            );
            msg[*field] = add_msg(VM1, M1, VN_BLUE, "tap1")[*field].clone();
        }
        // Not a string: the same error.
        let mut bad = add_msg(VM1, M1, VN_BLUE, "tap1");
        bad["vm-uuid"] = json!(42);
        assert_eq!(
            post_json(&url, &bad),
            (
                500,
                json!({"error": "{ Invalid or missing data for <vm-uuid> }"})
            )
        );
        assert_eq!(
            post_raw(&url, "{not json"),
            (
                500,
                json!({"error": "{ Invalid Json string ==> {not json }"})
            )
        );
        assert_eq!(
            post_raw(&url, "[1,2]"),
            (
                500,
                json!({"error": "{ Unexpected Json string ==> [1,2] }"})
            )
        );
        assert!(
            sim.ports().is_empty(),
            "{release}: nothing registered by bad POSTs"
        );
        // A uuid that does not parse is the nil uuid, not an error; uuids are stored lowercase;
        // optional fields may be absent.
        let (code, _) = post_json(
            &url,
            &json!({"vm-uuid": VM1.to_uppercase(), "vm-name": "n", "host-ifname": "tap9",
                    "vn-uuid": "not-a-uuid", "vmi-uuid": M1}),
        );
        assert_eq!(code, 200, "{release}");
        let ports = sim.ports();
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].vm_uuid, VM1);
        assert_eq!(ports[0].vm_id, "");
        if release.multi_interface() {
            assert_eq!(
                (ports[0].vn_uuid.as_str(), ports[0].vmi_uuid.as_str()),
                (NIL, M1)
            );
        }
        assert_eq!(sim.stats().posts, order.len() as u64 + 4);
    }
}

#[test]
fn stream_uuid_reads_like_the_agent() {
    assert_eq!(stream_uuid(VM1), VM1);
    assert_eq!(stream_uuid(&VM1.to_uppercase()), VM1);
    assert_eq!(stream_uuid(&format!(" {VM1}trailing")), VM1);
    assert_eq!(
        stream_uuid("11111111111141118111111111111111"),
        NIL,
        "dashes required"
    );
    assert_eq!(stream_uuid("not-a-uuid"), NIL);
    assert_eq!(stream_uuid(&VM1[..35]), NIL);
    assert_eq!(stream_uuid(""), NIL);
}

#[test]
fn readiness_delay_counts_from_the_first_post() {
    let delay = Duration::from_millis(400);
    let sim = start(AgentOptions {
        ready_delay: delay,
        ..AgentOptions::default()
    });
    sim.set_port_config(
        M1,
        PortConfig::v4([10, 1, 0, 5].into(), 24, [10, 1, 0, 1].into()),
    );
    let url = sim.url();
    let posted = Instant::now();
    post_port(&sim, VM1, M1, VN_BLUE, "tap1");
    let ready_at = loop {
        let (code, _) = get(&format!("{url}/vm/{VM1}"));
        if code == 200 {
            break posted.elapsed();
        }
        assert_eq!(code, 404);
        assert!(posted.elapsed() < delay * 10, "never became ready");
        // A re-POST does not restart the wait: the subscription exists.
        post_port(&sim, VM1, M1, VN_BLUE, "tap1");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        ready_at >= delay,
        "ready after {ready_at:?}, delay {delay:?}"
    );
    assert!(
        ready_at < delay * 5,
        "the re-POSTs restarted the wait: {ready_at:?}"
    );
    sim.set_ready_delay(Duration::from_secs(3600));
    assert_eq!(get(&format!("{url}/vm/{VM1}")), not_found());
    sim.set_ready_delay(Duration::ZERO);
    assert_eq!(get(&format!("{url}/vm/{VM1}")).0, 200);
}

#[test]
fn learnt_config_stays_while_the_config_api_is_unreachable() {
    let api = fake_config_api();
    let sim = agent_on(&api, "node-1", AgentRelease::R2008);
    let url = sim.url();
    post_port(&sim, VM1, M1, VN_BLUE, "tapm1");
    post_port(&sim, VM3, M3, VN_FLAT, "tapm3");
    assert_eq!(get(&format!("{url}/vm/{VM1}/{M1}")).0, 200);
    // A wrong token or an unreachable config API: nothing new is learnt, never a crash.
    sim.set_config_api(Some(&api.url()), Some("wrong".into()));
    assert_eq!(get(&format!("{url}/vm/{VM3}")), not_found());
    assert_eq!(get(&format!("{url}/vm-cfg/task-1")), not_found());
    sim.set_config_api(Some(&api.url()), Some(TOKEN.into()));
    assert_eq!(get(&format!("{url}/vm/{VM1}/{M1}")).0, 200);
    assert_eq!(get(&format!("{url}/vm-cfg/task-1")).0, 200);
    // What was learnt stays while the config API is away, as with the control node.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    drop(api);
    let (code, body) = get(&format!("{url}/vm/{VM1}/{M1}"));
    assert_eq!((code, ids(&body)), (200, vec![M1]));
    assert_eq!(get(&format!("{url}/vm-cfg/task-1")).0, 200);
    assert_eq!(get(&format!("{url}/vm/{VM3}")), not_found(), "never learnt");
    sim.set_config_api(Some(&format!("http://{closed}")), Some(TOKEN.into()));
    assert_eq!(
        get(&format!("{url}/vm/{VM1}/{M1}")),
        not_found(),
        "a new API: nothing held"
    );
}

#[test]
fn seeded_config_stands_in_for_contrail() {
    let sim = start(AgentOptions::default());
    let url = sim.url();
    assert_eq!(get(&format!("{url}/vm-cfg/task-1.container")), not_found());
    post_port(&sim, VM1, M1, VN_BLUE, "tap1");
    assert_eq!(get(&format!("{url}/vm/{VM1}")), not_found(), "no config");
    let (code, _) = put_json(
        &format!("{url}/_sim/port-config/{M1}"),
        &json!({"ip": "10.5.0.3", "plen": 16, "gateway": "10.5.0.1", "vm_name": "task-1.container",
                "vn_name": "default-domain:p:blue", "annotations": [["index", "0/2"]]}),
    );
    assert_eq!(code, 200);
    sim.set_port_config(
        M4,
        PortConfig {
            vm_uuid: Some(VM1.into()),
            vm_name: Some("task-1.container".into()),
            v6_ip: Some("fd00::6".parse().expect("ip")),
            v6_plen: 64,
            ..PortConfig::default()
        },
    );
    // M4 is part of the VM and not posted: the list waits for it.
    assert_eq!(get(&format!("{url}/vm/{VM1}")), not_found());
    let (code, body) = get(&format!("{url}/vm/{VM1}/{M1}"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(body[0]["ip-address"], "10.5.0.3");
    assert_eq!(
        body[0]["dns-server"], "10.5.255.253",
        "the API server's reserved address"
    );
    assert_eq!(body[0]["vn-id"], VN_BLUE, "the posted network");
    post_port(&sim, VM1, M4, VN_BLUE, "tap4");
    let (code, body) = get(&format!("{url}/vm/{VM1}"));
    assert_eq!((code, ids(&body)), (200, vec![M1, M4]), "{body}");
    assert_eq!(body[1]["v6-gateway"], "fd00::ffff:ffff:ffff:fffe");
    assert_eq!(
        body[1]["mac-address"], "02:aa:aa:aa:aa:00",
        "MAC from the interface uuid"
    );
    let (code, body) = get(&format!("{url}/vm-cfg/task-1.container"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body[0]["vm-uuid"], VM1,
        "the registered VM when the seed names none"
    );
    assert_eq!(body[0]["vn-id"], VN_BLUE);
    assert_eq!(body[0]["annotations"], json!(["{index:0/2}"]));
    assert!(body[1].get("annotations").is_none());
    // DELETE knows the seeded interfaces as the VM's.
    assert_eq!(delete(&format!("{url}/vm/{VM1}")), (200, json!({})));
    assert!(sim.ports().is_empty());
    let (code, _) = put_json(&format!("{url}/_sim/port-config/{M1}"), &json!({"ip": 5}));
    assert_eq!(code, 400);
    assert_eq!(delete(&format!("{url}/_sim/port-config/{M1}")).0, 200);
}

#[test]
fn reject_next_refuses_posts_then_recovers() {
    let sim = start(AgentOptions::default());
    let url = sim.url();
    sim.reject_next_posts(2);
    for _ in 0..2 {
        let (code, body) = post_json(&format!("{url}/vm"), &add_msg(VM1, M1, VN_BLUE, "t"));
        assert_eq!(code, 500);
        assert!(body["error"].is_string(), "{body}");
    }
    assert!(sim.ports().is_empty());
    post_port(&sim, VM1, M1, VN_BLUE, "t");
    // The same knob over HTTP.
    let (code, knobs) = post_json(&format!("{url}/_sim/agent"), &json!({"reject_next": 1}));
    assert_eq!(code, 200);
    assert_eq!(knobs["reject_next"], 1);
    assert_eq!(
        post_json(&format!("{url}/vm"), &add_msg(VM1, M4, VN_BLUE, "t")).0,
        500
    );
    post_port(&sim, VM1, M4, VN_BLUE, "t");
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
    assert_eq!(knobs["host_name"], sim.host_name());
    let (code, ports) = get(&format!("{url}/_sim/ports"));
    assert_eq!(code, 200);
    assert_eq!(ports[0]["vmi-uuid"], M1);
    assert_eq!(ports[0]["host-ifname"], "t");
    assert_eq!(
        ports[0]["vm-namespace"],
        format!("/var/run/mesos/isolators/network/cni/{VM1}/ns")
    );
}

#[test]
fn host_name_defaults_to_this_machine() {
    let sim = start(AgentOptions::default());
    let host = nix::unistd::gethostname().expect("hostname");
    assert_eq!(sim.host_name(), host.to_string_lossy());
    assert_eq!(sim.release(), AgentRelease::R2008);
}

#[test]
fn goes_down_and_comes_back_on_the_same_port() {
    let sim = start(AgentOptions::default());
    let url = sim.url();
    sim.set_port_config(
        M1,
        PortConfig::v4([10, 1, 0, 5].into(), 24, [10, 1, 0, 1].into()),
    );
    // One client with a pooled keep-alive connection across the outage.
    let client = agent();
    let call = |client: &ureq::Agent| client.get(format!("{url}/vm/{VM1}")).call();
    post_port(&sim, VM1, M1, VN_BLUE, "t");
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
fn host_ifname_check_refuses_missing_interfaces() {
    let sim = start(AgentOptions {
        check_host_ifname: true,
        ..AgentOptions::default()
    });
    let url = format!("{}/vm", sim.url());
    // `lo` exists in every network namespace.
    assert_eq!(post_json(&url, &add_msg(VM1, M1, VN_BLUE, "lo")).0, 200);
    let (code, body) = post_json(&url, &add_msg(VM1, M4, VN_BLUE, "tapdoesnotexist"));
    assert_eq!(
        (code, body),
        (500, json!({"error": "{ Interface does not exist in OS }"}))
    );
    assert_eq!(post_json(&url, &add_msg(VM1, M4, VN_BLUE, "../lo")).0, 500);
    sim.set_check_host_ifname(false);
    assert_eq!(
        post_json(&url, &add_msg(VM1, M4, VN_BLUE, "tapdoesnotexist")).0,
        200
    );
}

// ---------------------------------------------------------------------------------------------
// Port files and restarts (`port_files`).

/// A scratch directory, removed on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("cm-agent-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An agent on node-1 as `release`, keeping its port files in `dir`.
fn agent_with_files(api: &Server, release: AgentRelease, dir: &Scratch) -> AgentSim {
    start(AgentOptions {
        config_api_url: Some(api.url()),
        auth_token: Some(TOKEN.into()),
        host_name: Some("node-1".into()),
        release,
        port_dir: Some(dir.0.clone()),
        ..AgentOptions::default()
    })
}

/// POST interface `vmi` of VM1 (named `task-1` in Contrail), its host end `lo` (an interface
/// that exists, for the reload's check).
fn post_vm1(sim: &AgentSim, vmi: &str, vn: &str, vm_name: &str) {
    let mut msg = add_msg(VM1, vmi, vn, "lo");
    msg["vm-id"] = json!("task-1");
    msg["vm-name"] = json!(vm_name);
    let (code, body) = post_json(&format!("{}/vm", sim.url()), &msg);
    assert_eq!((code, body), (200, json!({})), "POST /vm {vmi}");
}

/// The subscriptions, without the `time` (a reloaded port has the file's).
fn subscriptions(sim: &AgentSim) -> Vec<(String, String, String, String)> {
    let mut v: Vec<_> = sim
        .ports()
        .into_iter()
        .map(|p| (p.vm_uuid, p.vmi_uuid, p.host_ifname, p.vm_id))
        .collect();
    v.sort();
    v
}

fn read_json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn each_release_writes_its_port_files_where_upstream_does() {
    let api = fake_config_api();
    // R5.0: one regular file per VM, named by its uuid; a second interface writes nothing.
    let dir = Scratch::new("r50");
    let sim = agent_with_files(&api, AgentRelease::R5_0, &dir);
    post_vm1(&sim, M1, VN_BLUE, "task-1");
    post_vm1(&sim, M4, VN_FLAT, "task-1");
    let file = dir.0.join(VM1);
    assert!(file.is_file());
    // `MakeVmVnPortJson` (its keys and their order: `port_files`' own tests); R5.0 reads no
    // interface.
    let v = read_json(&file);
    assert_eq!(
        (v["vm-uuid"].as_str(), v["vm-id"].as_str()),
        (Some(VM1), Some("task-1"))
    );
    assert_eq!(
        (v["host-ifname"].as_str(), v.get("vmi-uuid")),
        (Some("lo"), None)
    );
    assert_eq!(v["author"], AUTHOR);
    assert!(is_agent_time(v["time"].as_str().unwrap_or_default()), "{v}");
    assert_eq!(std::fs::read_dir(&dir.0).expect("dir").count(), 1);

    // R5.1: a directory per VM uuid, a file per interface.
    let dir = Scratch::new("r51");
    let sim = agent_with_files(&api, AgentRelease::R5_1, &dir);
    post_vm1(&sim, M1, VN_BLUE, "task-1");
    post_vm1(&sim, M4, VN_FLAT, "task-1");
    for (vmi, vn) in [(M1, VN_BLUE), (M4, VN_FLAT)] {
        let v = read_json(&dir.0.join(VM1).join(vmi));
        assert_eq!(v["vmi-uuid"], vmi);
        assert_eq!(v["vn-uuid"], vn);
        assert_eq!(v["vm-name"], "task-1");
    }

    // R2008: the directory is named after the VM's name.
    let dir = Scratch::new("r2008");
    let sim = agent_with_files(&api, AgentRelease::R2008, &dir);
    post_vm1(&sim, M1, VN_BLUE, "task-1");
    assert!(dir.0.join("task-1").join(M1).is_file());
    assert!(!dir.0.join(VM1).exists());

    // A file is never overwritten: a re-POST keeps the first content.
    let before = std::fs::read(dir.0.join("task-1").join(M1)).expect("file");
    std::thread::sleep(Duration::from_millis(2));
    post_vm1(&sim, M1, VN_BLUE, "task-1");
    assert_eq!(
        std::fs::read(dir.0.join("task-1").join(M1)).expect("file"),
        before
    );
}

#[test]
fn a_restart_reloads_what_each_release_reloads() {
    let api = fake_config_api();
    for release in RELEASES {
        let dir = Scratch::new("reload");
        let sim = agent_with_files(&api, release, &dir);
        let url = sim.url();
        post_vm1(&sim, M1, VN_BLUE, "task-1");
        if release.multi_interface() {
            post_vm1(&sim, M4, VN_FLAT, "task-1");
        }
        let before = subscriptions(&sim);
        let answer_before = get(&format!("{url}/vm/{VM1}"));
        assert_eq!(answer_before.0, 200, "{release}");

        // What no release reloads: a dot-directory holding a directory of port records (a
        // plugin's), a directory not named by a uuid holding a valid file (read by R2008
        // only), an empty file (CEM-21113), a port whose host interface is gone.
        let valid = |vmi: &str, vm_name: &str, tap: &str| {
            let mut m = add_msg(VM3, vmi, VN_FLAT, tap);
            m["vm-name"] = json!(vm_name);
            m.to_string()
        };
        let records = dir.0.join(".contrail-mesos").join("task-3");
        std::fs::create_dir_all(&records).expect("mkdir");
        std::fs::write(records.join(M3), valid(M3, "task-3", "lo")).expect("write");
        std::fs::create_dir_all(dir.0.join("task-3")).expect("mkdir");
        std::fs::write(dir.0.join("task-3").join(M3), valid(M3, "task-3", "lo")).expect("write");
        let (empty, gone) = match release {
            AgentRelease::R5_0 => (dir.0.join(VM2), dir.0.join(VM6)),
            _ => {
                let d = dir.0.join(VM2);
                std::fs::create_dir_all(&d).expect("mkdir");
                (d.join(M2), d.join(M6))
            }
        };
        std::fs::write(&empty, b"").expect("write");
        std::fs::write(&gone, valid(M6, VM2, "tapisgone")).expect("write");

        let report = sim.restart();
        let reloaded_m3 = release == AgentRelease::R2008;
        let mut expect = before.clone();
        if reloaded_m3 {
            expect.push((VM3.into(), M3.into(), "lo".into(), VM3.into()));
            expect.sort();
        }
        assert_eq!(subscriptions(&sim), expect, "{release}");
        assert_eq!(
            report.reloaded.len(),
            before.len() + usize::from(reloaded_m3),
            "{release}: {report:?}"
        );
        let refused: Vec<(&std::path::Path, &str)> = report
            .refused
            .iter()
            .map(|(p, e)| (p.as_path(), e.as_str()))
            .collect();
        assert_eq!(
            refused,
            vec![
                (empty.as_path(), "Invalid Json string ==> "),
                (gone.as_path(), "Interface does not exist in OS"),
            ],
            "{release}"
        );
        // The port answers again, without any POST since.
        let posts = sim.stats().posts;
        assert_eq!(get(&format!("{url}/vm/{VM1}")).0, 200, "{release}");
        assert_eq!(sim.stats().posts, posts);
        // A reload writes no file.
        assert!(std::fs::read(&empty).expect("kept").is_empty());
    }
}

#[test]
fn r5_0_loses_a_port_whose_file_path_is_taken() {
    // `WriteJsonToFile` counts anything at the path as written: a directory named after the
    // VM's uuid (what a plugin keeping `config-dir/<container id>/` makes when the container
    // id is the VM's uuid) leaves the port without a file, and a restart without the port.
    let api = fake_config_api();
    let dir = Scratch::new("shadow");
    std::fs::create_dir_all(dir.0.join(VM1)).expect("mkdir");
    let sim = agent_with_files(&api, AgentRelease::R5_0, &dir);
    post_vm1(&sim, M1, VN_BLUE, "task-1");
    assert_eq!(sim.ports().len(), 1, "subscribed all the same");
    assert!(dir.0.join(VM1).is_dir());
    let report = sim.restart();
    assert!(report.reloaded.is_empty(), "{report:?}");
    assert!(sim.ports().is_empty());
    assert_eq!(get(&format!("{}/vm/{VM1}", sim.url())), not_found());
}

#[test]
fn a_port_whose_file_cannot_be_written_is_not_added() {
    // R5.1: a regular file at the VM's directory path: the directory is not made (something
    // is there), the file cannot be written, and the agent answers {} without the port.
    let api = fake_config_api();
    let dir = Scratch::new("unwritable");
    std::fs::create_dir_all(&dir.0).expect("mkdir");
    std::fs::write(dir.0.join(VM1), b"x").expect("write");
    let sim = agent_with_files(&api, AgentRelease::R5_1, &dir);
    post_vm1(&sim, M1, VN_BLUE, "task-1");
    assert!(sim.ports().is_empty());
    assert_eq!(sim.stats().posts, 1);
}

#[test]
fn delete_removes_the_files_as_each_release_does() {
    let api = fake_config_api();
    // R5.0: the VM's regular file.
    let dir = Scratch::new("del50");
    let sim = agent_with_files(&api, AgentRelease::R5_0, &dir);
    post_vm1(&sim, M1, VN_BLUE, "task-1");
    assert_eq!(delete(&format!("{}/vm/{VM1}", sim.url())), (200, json!({})));
    assert!(!dir.0.join(VM1).exists());
    assert!(sim.ports().is_empty());

    // R5.1: the VM's whole directory, whatever else it holds.
    let dir = Scratch::new("del51");
    let sim = agent_with_files(&api, AgentRelease::R5_1, &dir);
    post_vm1(&sim, M1, VN_BLUE, "task-1");
    post_vm1(&sim, M4, VN_FLAT, "task-1");
    std::fs::write(dir.0.join(VM1).join("someone-elses"), b"{}").expect("write");
    // A VM whose config the agent does not hold: nothing is removed.
    std::fs::create_dir_all(dir.0.join(VM9)).expect("mkdir");
    std::fs::write(dir.0.join(VM9).join(M2), b"{}").expect("write");
    assert_eq!(delete(&format!("{}/vm/{VM9}", sim.url())), (200, json!({})));
    assert!(dir.0.join(VM9).join(M2).is_file());
    assert_eq!(delete(&format!("{}/vm/{VM1}", sim.url())), (200, json!({})));
    assert!(!dir.0.join(VM1).exists());
    assert!(sim.ports().is_empty());
    assert!(sim.restart().reloaded.is_empty());

    // R2008 writes under the VM's name but deletes by its uuid: a VM named otherwise keeps its
    // files, and a restart brings its ports back (upstream's behaviour). Named by its uuid
    // (as Mesos container ids are), its files go.
    let dir = Scratch::new("del2008");
    let sim = agent_with_files(&api, AgentRelease::R2008, &dir);
    post_vm1(&sim, M1, VN_BLUE, "task-1");
    std::fs::create_dir_all(dir.0.join(VM1)).expect("mkdir");
    std::fs::write(dir.0.join(VM1).join("anything"), b"{}").expect("write");
    assert_eq!(delete(&format!("{}/vm/{VM1}", sim.url())), (200, json!({})));
    assert!(
        !dir.0.join(VM1).exists(),
        "the directory named by the uuid goes"
    );
    assert!(
        dir.0.join("task-1").join(M1).is_file(),
        "the one it wrote stays"
    );
    assert!(sim.ports().is_empty());
    assert_eq!(sim.restart().reloaded, vec![dir.0.join("task-1").join(M1)]);
    assert_eq!(sim.ports().len(), 1);
    std::fs::remove_dir_all(dir.0.join("task-1")).expect("rm");
    sim.restart();
    post_vm1(&sim, M1, VN_BLUE, VM1);
    assert!(dir.0.join(VM1).join(M1).is_file());
    assert_eq!(delete(&format!("{}/vm/{VM1}", sim.url())), (200, json!({})));
    assert!(!dir.0.join(VM1).exists());
}

#[test]
fn restart_endpoint_and_no_port_directory() {
    let api = fake_config_api();
    let dir = Scratch::new("endpoint");
    let sim = agent_with_files(&api, AgentRelease::R5_1, &dir);
    assert_eq!(sim.port_dir(), Some(dir.0.clone()));
    assert!(dir.0.is_dir(), "made at start");
    post_vm1(&sim, M1, VN_BLUE, "task-1");
    let (code, body) = post_json(&format!("{}/_sim/restart", sim.url()), &json!({}));
    assert_eq!(code, 200, "{body}");
    let file = dir.0.join(VM1).join(M1).display().to_string();
    assert_eq!(body, json!({"reloaded": [file], "refused": []}));
    assert_eq!(sim.ports().len(), 1);

    // Without a port directory nothing is written, and a restart comes back empty.
    let sim = agent_on(&api, "node-1", AgentRelease::R5_1);
    assert_eq!(sim.port_dir(), None);
    post_vm1(&sim, M1, VN_BLUE, "task-1");
    assert_eq!(sim.restart(), Reload::default());
    assert!(sim.ports().is_empty());
}
