//! The manager over real HTTP: labels to objects, rollback, restarts, races, on the config API
//! emulator and on upstream's real config API server; Keystone, retries, fail-over, malformed
//! bodies and bearer tokens on the emulator (its faults and tokens).

mod common;

use std::time::Duration;

use common::*;
use contrail_mesos::applets::manager;
use contrail_mesos::clients::contrail::config_api::AuthConfig;
use contrail_mesos::domain::settings::Settings;
use contrail_mesos_sim::config_api::{ConfigApiOptions, ConfigApiSim, KeystoneCreds};
use serde_json::{Value, json};

fn post(url: &str, path: &str, body: &Value, token: Option<&str>) -> (u16, Value) {
    let mut req = http().post(format!("{url}{path}"));
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let mut r = req.send_json(body).expect("request");
    let status = r.status().as_u16();
    let v = r.body_mut().read_json::<Value>().unwrap_or(Value::Null);
    (status, v)
}

/// ADD of (cid, ifname) with these labels.
fn add(url: &str, cid: &str, ifname: &str, labels: &[(&str, &str)]) -> (u16, Value) {
    post(
        url,
        "/add_cni_info",
        &node_add_body(cid, ifname, labels),
        None,
    )
}

/// DEL of (cid, eth0), with upstream's body.
fn del(url: &str, cid: &str) -> (u16, Value) {
    post(
        url,
        "/del_cni_info",
        &json!({"cid": cid, "cmd": "DEL", "args": "{}"}),
        None,
    )
}

both_backends! {
    every_label_becomes_the_right_objects: Real;
    tasks_without_labels_get_the_default_pod_task_network: Real;
    failures_roll_back_and_answer_the_cni_code: Real;
    restart_between_add_and_del: Real;
    two_managers_racing_the_same_add: Real;
    concurrent_interfaces_of_one_container: Real;
    del_detaches_floating_ips_it_did_not_allocate: Real;
    a_network_made_again_is_found_again: Real;
    api_failing_midway_rolls_back: Real;
    retries_503_and_fails_over: Real;
}

/// A manager of the test's cluster.
fn start(env: &Env) -> manager::Running {
    manager::start(env.settings()).expect("manager")
}

fn every_label_becomes_the_right_objects(env: Env) {
    let (c, m) = (&env.config, start(&env));
    let cid = env.cid();
    let fips = format!("{}(10.66.77.123),{}", env.pool(), env.pool2());
    let mut labels = env.blue();
    labels.push(("floating-ips", &fips));
    labels.push(("security-groups", env.sg()));
    labels.push(("network-ip", "5.5.5.77"));
    let (status, a) = add(&m.url(), &cid, "eth0", &labels);
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["cid"], cid.as_str());
    assert_eq!(
        a["vm-uuid"],
        cid.as_str(),
        "a canonical container id is the VM uuid"
    );
    let i = &a["interfaces"][0];
    assert_eq!(i["ifname"], "eth0");
    assert_eq!(i["ip-address"], "5.5.5.77");
    assert_eq!(i["plen"], 24);
    assert_eq!(i["gateway"], gateway_dns(c, &env.blue_fq()).0.as_str());
    assert_eq!(i["vn-fq-name"], env.fq_str("blue-network"));
    assert_eq!(i["security-groups"], json!([env.sg()]));
    let f = i["floating-ips"].as_array().expect("floating ips");
    assert_eq!(f.len(), 2);
    assert_eq!(f[0], "10.66.77.123");

    let vm = c
        .get("virtual-machine", &cid)
        .expect("VM with uuid = container id");
    assert_eq!(vm["fq_name"], json!([cid]));
    assert_eq!(vm["server_type"], "container");
    let kv = vm["annotations"]["key_value_pair"].to_string();
    assert!(kv.contains("\"owner\"") && kv.contains("\"mesos\""), "{kv}");
    let vmi_uuid = i["vmi-uuid"].as_str().expect("vmi uuid");
    let vmi = c.get("virtual-machine-interface", vmi_uuid).expect("VMI");
    assert_eq!(vmi["virtual_machine_refs"][0]["uuid"], cid.as_str());
    assert_eq!(vmi["virtual_network_refs"][0]["uuid"], i["vn-uuid"]);
    assert_eq!(
        vmi["virtual_machine_interface_mac_addresses"]["mac_address"][0],
        i["mac-address"]
    );
    assert_eq!(
        vmi["instance_ip_back_refs"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        vmi["floating_ip_back_refs"].as_array().map(Vec::len),
        Some(2)
    );
    let vr = c
        .find("virtual-router", &["default-global-system-config", &node()])
        .expect("VR");
    assert!(
        vr["virtual_machine_refs"].to_string().contains(&cid),
        "router links the VM"
    );
    let ipam = c.find("network-ipam", &env.fq("blue-network-ipam"));
    assert!(ipam.is_some(), "network created with its IPAM");

    let (status, _) = del(&m.url(), &cid);
    assert_eq!(status, 200);
    assert_eq!(env.counts(), [0, 0, 0, 0]);
    let vr = c
        .find("virtual-router", &["default-global-system-config", &node()])
        .expect("VR");
    assert!(
        !vr["virtual_machine_refs"].to_string().contains(&cid),
        "router link removed"
    );
    assert!(
        c.find("virtual-network", &env.blue_fq()).is_some(),
        "networks stay"
    );
    // DEL again: nothing to do, still 200.
    let (status, _) = del(&m.url(), &cid);
    assert_eq!(status, 200);
    m.shutdown();
}

fn tasks_without_labels_get_the_default_pod_task_network(env: Env) {
    let (c, m) = (&env.config, start(&env));
    let cid = env.cid();
    let (status, a) = add(&m.url(), &cid, "eth0", &[]);
    assert_eq!(status, 200, "{a}");
    let ip = a["interfaces"][0]["ip-address"]
        .as_str()
        .expect("ip")
        .to_string();
    let net: ipnet::IpNet = "10.32.0.0/12".parse().expect("net");
    assert!(
        net.contains(&ip.parse::<std::net::IpAddr>().expect("ip")),
        "{ip}"
    );
    let net = env.cluster_fq("default-pod-task-network");
    let net: Vec<&str> = net.iter().map(String::as_str).collect();
    assert!(c.find("virtual-network", &net).is_some());
    m.shutdown();
}

fn failures_roll_back_and_answer_the_cni_code(env: Env) {
    let m = start(&env);
    let project = env.project.as_str();
    let missing_pool = format!("{}:missing", env.fq_str("__public__"));
    // (labels, HTTP status, CNI code, what the message names)
    type Case<'a> = (Vec<(&'static str, &'a str)>, u16, u64, &'static str);
    let cases: Vec<Case> = vec![
        (
            vec![("networks", "nope"), ("project-name", project)],
            404,
            100,
            "nope",
        ),
        (
            vec![
                ("networks", "blue-network"),
                ("project-name", project),
                ("network-subnets", "5.5.5.0/24"),
                ("floating-ips", &missing_pool),
            ],
            404,
            100,
            "missing",
        ),
        (
            vec![
                ("networks", "blue-network"),
                ("project-name", project),
                ("network-subnets", "5.5.5.0/24"),
                ("security-groups", "nosuchsg"),
            ],
            404,
            100,
            "nosuchsg",
        ),
        (
            vec![
                ("networks", "blue-network"),
                ("project-name", project),
                ("network-subnets", "5.5.5.0/33"),
            ],
            400,
            7,
            "network-subnets",
        ),
        (
            vec![
                ("networks", "blue-network"),
                ("project-name", project),
                ("network-subnets", "5.5.5.0/24"),
                ("network-ip", "7.7.7.7"),
            ],
            400,
            7,
            "network-ip",
        ),
    ];
    for (labels, status, code, needle) in cases {
        let (s, a) = add(&m.url(), &env.cid(), "eth0", &labels);
        assert_eq!(
            (s, a["error"]["code"].as_u64()),
            (status, Some(code)),
            "{a}"
        );
        assert!(
            a["error"]["msg"]
                .as_str()
                .unwrap_or_default()
                .contains(needle),
            "{a}"
        );
        assert_eq!(env.counts(), [0, 0, 0, 0]);
    }
    // Taken addresses: the second task asks for what the first holds.
    let first = env.cid();
    let fip = format!("{}(10.66.77.9)", env.pool());
    let labels = [
        ("networks", "blue-network"),
        ("network-subnets", "5.5.5.0/24"),
        ("project-name", project),
        ("network-ip", "5.5.5.9"),
        ("floating-ips", fip.as_str()),
    ];
    let (s, _) = add(&m.url(), &first, "eth0", &labels);
    assert_eq!(s, 200);
    let before = env.counts();
    let (s, a) = add(&m.url(), &env.cid(), "eth0", &labels);
    assert_eq!((s, a["error"]["code"].as_u64()), (409, Some(101)), "{a}");
    assert_eq!(env.counts(), before, "the second task left nothing");
    // Only the floating IP is taken: VM, interface and instance IP were created, then undone.
    let labels2 = [
        ("networks", "blue-network"),
        ("project-name", project),
        ("floating-ips", fip.as_str()),
    ];
    let (s, a) = add(&m.url(), &env.cid(), "eth0", &labels2);
    assert_eq!((s, a["error"]["code"].as_u64()), (409, Some(101)), "{a}");
    assert!(
        a["error"]["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("10.66.77.9")
    );
    assert_eq!(env.counts(), before, "rolled back mid-way");
    m.shutdown();
}

fn api_failing_midway_rolls_back(env: Env) {
    let (c, m) = (&env.config, start(&env));
    // Warm the network, then make the third config API call of the next ADD fail.
    let (s, _) = add(&m.url(), &env.cid(), "eth0", &env.blue());
    assert_eq!(s, 200);
    let before = env.counts();
    // Slow calls make "after `skip` calls" land where it should.
    c.set_latency(Duration::from_millis(30));
    for skip in 1..6 {
        c.reset_request_count();
        let cid = env.cid();
        // Let `skip` calls through, then fail one with 500 (not retried).
        let url = m.url();
        let b = node_add_body(&cid, "eth0", &env.blue());
        let cfg = c.url();
        let handle = std::thread::spawn(move || post(&url, "/add_cni_info", &b, None));
        // The emulator counts requests; arm the fault once `skip` have been served.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while c.request_count() < skip && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        c.fail_next(1, 500);
        let (s, a) = handle.join().expect("request");
        c.fail_next(0, 500);
        if s == 200 {
            // The fault landed after the last call; undo through DEL.
            del(&m.url(), &cid);
        } else {
            assert!(
                a["error"]["msg"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(&cfg),
                "{a}"
            );
        }
        assert_eq!(env.counts(), before, "after a fault at call {skip}: {a}");
    }
    m.shutdown();
}

fn restart_between_add_and_del(env: Env) {
    let m = start(&env);
    let cid = env.cid();
    assert_eq!(add(&m.url(), &cid, "eth0", &env.blue()).0, 200);
    m.shutdown();
    let m2 = start(&env);
    assert_eq!(del(&m2.url(), &cid).0, 200);
    assert_eq!(
        env.counts(),
        [0, 0, 0, 0],
        "a new manager finds the objects in Contrail"
    );
    m2.shutdown();
}

fn two_managers_racing_the_same_add(env: Env) {
    let (c, m1) = (&env.config, start(&env));
    let m2 = start(&env);
    for _ in 0..5 {
        let cid = env.cid();
        let mut labels = env.blue();
        labels.push(("floating-ips", env.pool()));
        let b = node_add_body(&cid, "eth0", &labels);
        let (a1, a2) = std::thread::scope(|s| {
            let x = s.spawn(|| post(&m1.url(), "/add_cni_info", &b, None));
            let y = s.spawn(|| post(&m2.url(), "/add_cni_info", &b, None));
            (x.join().expect("m1"), y.join().expect("m2"))
        });
        assert_eq!((a1.0, a2.0), (200, 200), "{} {}", a1.1, a2.1);
        assert_eq!(a1.1["interfaces"], a2.1["interfaces"], "same objects");
        assert_eq!(c.count("virtual-machine-interface"), 1);
        assert_eq!(c.count("instance-ip"), 1);
        assert_eq!(c.count("floating-ip"), 1);
        assert_eq!(del(&m2.url(), &cid).0, 200);
        assert_eq!(env.counts(), [0, 0, 0, 0]);
    }
    m1.shutdown();
    m2.shutdown();
}

fn concurrent_interfaces_of_one_container(env: Env) {
    let m = start(&env);
    let cid = env.cid();
    let (a, b) = std::thread::scope(|s| {
        let x = s.spawn(|| add(&m.url(), &cid, "eth0", &env.blue()));
        let y = s.spawn(|| add(&m.url(), &cid, "eth1", &env.blue()));
        (x.join().expect("eth0"), y.join().expect("eth1"))
    });
    assert_eq!((a.0, b.0), (200, 200), "{} {}", a.1, b.1);
    assert_eq!(env.counts()[..3], [1, 2, 2]);
    let del_body = |i: &str| json!({"cid": cid, "args": "{}", "ifname": i});
    assert_eq!(
        post(&m.url(), "/del_cni_info", &del_body("eth0"), None).0,
        200
    );
    assert_eq!(
        env.counts()[..3],
        [1, 1, 1],
        "the VM stays while eth1 exists"
    );
    let vr = env
        .config
        .find("virtual-router", &["default-global-system-config", &node()])
        .expect("router");
    assert!(
        vr["virtual_machine_refs"].to_string().contains(&cid),
        "the node's router still links the VM of eth1: {vr}"
    );
    assert_eq!(
        post(&m.url(), "/del_cni_info", &del_body("eth1"), None).0,
        200
    );
    assert_eq!(env.counts(), [0, 0, 0, 0]);
    m.shutdown();
}

fn admin(token_url: &str, password: &str) -> AuthConfig {
    AuthConfig {
        token_url: token_url.to_string(),
        user: "admin".into(),
        password: password.into(),
        tenant: "admin".into(),
        user_domain: "Default".into(),
        project_domain: "Default".into(),
    }
}

#[test]
fn keystone_auth_with_token_expiry() {
    for v3 in [true, false] {
        let config = ConfigApiSim::start(ConfigApiOptions {
            keystone: Some(KeystoneCreds {
                user: "admin".into(),
                password: "s3cret".into(),
                tenant: "admin".into(),
            }),
            ..ConfigApiOptions::default()
        })
        .expect("emulator");
        let token_url = if v3 {
            config.keystone_v3_url()
        } else {
            config.keystone_v2_url()
        };
        let mut settings = manager_settings(&config.url());
        settings.auth = Some(admin(&token_url, "s3cret"));
        // Seeding goes through the handle, not HTTP, so it needs no token.
        let env = Env::on_emulator(config);
        let m = manager::start(settings).expect("manager");
        let cid = new_cid();
        let (s, a) = add(&m.url(), &cid, "eth0", &env.blue());
        assert_eq!(s, 200, "v3={v3}: {a}");
        env.config.sim().expire_tokens();
        let (s, a) = del(&m.url(), &cid);
        assert_eq!(s, 200, "re-authenticates after 401: {a}");
        assert_eq!(env.counts(), [0, 0, 0, 0]);
        m.shutdown();
    }
    // Wrong password: a clear error, never the password.
    let config = ConfigApiSim::start(ConfigApiOptions {
        keystone: Some(KeystoneCreds {
            user: "admin".into(),
            password: "right".into(),
            tenant: "admin".into(),
        }),
        ..ConfigApiOptions::default()
    })
    .expect("emulator");
    let mut settings = manager_settings(&config.url());
    settings.auth = Some(admin(&config.keystone_v3_url(), "wrong-pw-123"));
    let env = Env::on_emulator(config);
    let m = manager::start(settings).expect("manager");
    let (s, a) = add(&m.url(), &env.cid(), "eth0", &env.blue());
    assert_ne!(s, 200);
    let text = a.to_string();
    assert!(
        text.contains("Keystone") && !text.contains("wrong-pw-123"),
        "{text}"
    );
    m.shutdown();
}

fn retries_503_and_fails_over(env: Env) {
    let (c, m) = (&env.config, start(&env));
    c.fail_next(2, 503);
    let cid = env.cid();
    let (s, a) = add(&m.url(), &cid, "eth0", &env.blue());
    assert_eq!(s, 200, "two 503s are retried: {a}");
    m.shutdown();
    // The first endpoint is down; the second answers.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    let mut settings = env.settings();
    settings.vnc_endpoints = vec![dead, c.url()];
    let m = manager::start(settings).expect("manager");
    let (s, a) = del(&m.url(), &cid);
    assert_eq!(s, 200, "{a}");
    assert_eq!(env.counts(), [0, 0, 0, 0]);
    // Every endpoint down: code 11 naming the endpoint.
    c.set_down(true).expect("down");
    let (s, a) = add(&m.url(), &env.cid(), "eth0", &env.blue());
    assert_eq!((s, a["error"]["code"].as_u64()), (503, Some(11)), "{a}");
    c.set_down(false).expect("up");
    m.shutdown();
}

#[test]
fn malformed_requests_never_stop_the_service() {
    let env = Env::emulator();
    let m = start(&env);
    let url = m.url();
    let junk: Vec<&[u8]> = vec![
        b"",
        b"{",
        b"[]",
        b"null",
        b"{\"cid\": 5}",
        b"{\"cid\": \"../x\"}",
        b"{\"cid\": \"c\", \"args\": 7}",
        b"{\"cid\": \"c\", \"args\": \"{not json\"}",
        b"{\"cid\": \"c\", \"ifname\": \"waytoolonginterface\"}",
        &[0xff, 0xfe],
    ];
    for j in junk {
        let mut r = http()
            .post(format!("{url}/add_cni_info"))
            .send(j)
            .expect("answer");
        let status = r.status().as_u16();
        let v: Value = r.body_mut().read_json().unwrap_or(Value::Null);
        assert_eq!(status, 400, "{:?} -> {v}", String::from_utf8_lossy(j));
        assert!(v["error"]["code"].as_u64().is_some(), "{v}");
    }
    let r = http().get(format!("{url}/nope")).call().expect("answer");
    assert_eq!(r.status().as_u16(), 404);
    let r = http()
        .get(format!("{url}/add_cni_info"))
        .call()
        .expect("answer");
    assert_eq!(r.status().as_u16(), 405);
    let (s, _) = add(&url, &new_cid(), "eth0", &env.blue());
    assert_eq!(s, 200, "still serving");
    let mut r = http()
        .get(format!("{url}/metrics"))
        .call()
        .expect("metrics");
    let text = r.body_mut().read_to_string().expect("text");
    assert!(
        text.contains(
            "contrail_mesos_manager_requests_total{endpoint=\"/add_cni_info\",status=\"400\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains("contrail_mesos_manager_objects_created_total{type=\"virtual-machine\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("contrail_mesos_manager_config_api_calls_total"),
        "{text}"
    );
    m.shutdown();
}

#[test]
fn bearer_token_is_required_when_configured() {
    let env = Env::emulator();
    let dir = Scratch::new("token");
    let file = dir.0.join("token");
    std::fs::write(&file, "  tok-123\n").expect("token file");
    let mut settings: Settings = env.settings();
    settings.token_file = Some(file);
    let m = manager::start(settings).expect("manager");
    let b = node_add_body(&new_cid(), "eth0", &env.blue());
    assert_eq!(post(&m.url(), "/add_cni_info", &b, None).0, 401);
    assert_eq!(post(&m.url(), "/add_cni_info", &b, Some("tok-12")).0, 401);
    assert_eq!(
        http()
            .get(format!("{}/healthz", m.url()))
            .call()
            .expect("answer")
            .status()
            .as_u16(),
        401
    );
    assert_eq!(post(&m.url(), "/add_cni_info", &b, Some("tok-123")).0, 200);
    m.shutdown();
}

fn del_detaches_floating_ips_it_did_not_allocate(env: Env) {
    let (c, m) = (&env.config, start(&env));
    let cid = env.cid();
    let (s, a) = add(&m.url(), &cid, "eth0", &env.blue());
    assert_eq!(s, 200, "{a}");
    let vmi = a["interfaces"][0]["vmi-uuid"]
        .as_str()
        .expect("vmi")
        .to_string();
    // An operator's floating IP (e.g. `fip associate`, or a load balancer's) bound to the task.
    let pool: Vec<&str> = env.pool().split(':').collect();
    let mut fq: Vec<Value> = pool.iter().map(|p| json!(p)).collect();
    fq.push(json!("operator-fip"));
    let fip = c
        .create(
            "floating-ip",
            json!({"fq_name": fq, "parent_type": "floating-ip-pool",
                   "project_refs": [{"to": ["default-domain", env.project]}],
                   "virtual_machine_interface_refs": [{"to": env.fq(&format!("{cid}@eth0")), "uuid": vmi}]}),
        )
        .expect("operator floating IP");
    let (s, a) = del(&m.url(), &cid);
    assert_eq!(s, 200, "{a}");
    let kept = c
        .get("floating-ip", &fip)
        .expect("the operator's floating IP stays");
    assert!(
        kept["virtual_machine_interface_refs"]
            .as_array()
            .is_none_or(|r| r.is_empty()),
        "{kept}"
    );
    assert_eq!(env.counts()[..3], [0, 0, 0]);
    m.shutdown();
}

fn a_network_made_again_is_found_again(env: Env) {
    let (c, m) = (&env.config, start(&env));
    // The first ADD creates the network, the second finds it (by name).
    let (first, second) = (env.cid(), env.cid());
    assert_eq!(add(&m.url(), &first, "eth0", &env.blue()).0, 200);
    assert_eq!(add(&m.url(), &second, "eth0", &env.blue()).0, 200);
    assert_eq!(del(&m.url(), &first).0, 200);
    assert_eq!(del(&m.url(), &second).0, 200);
    // An operator deletes blue-network and makes it again: same name, new uuid.
    let blue = env.blue_fq();
    let old = c.find("virtual-network", &blue).expect("network");
    let old_uuid = old["uuid"].as_str().expect("uuid").to_string();
    assert_eq!(c.delete("virtual-network", &old_uuid), 200);
    let new_uuid = c
        .add_network(&blue, &["5.5.5.0/24"])
        .expect("network again");
    assert_ne!(old_uuid, new_uuid);
    let second = env.cid();
    let (s, a) = add(&m.url(), &second, "eth0", &env.blue());
    assert_eq!(
        s, 200,
        "the manager's cached uuid is stale; it must look again: {a}"
    );
    assert_eq!(a["interfaces"][0]["vn-uuid"], new_uuid.as_str());
    assert_eq!(del(&m.url(), &second).0, 200);
    assert_eq!(env.counts(), [0, 0, 0, 0]);
    m.shutdown();
}
