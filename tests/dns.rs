//! Contrail's own DNS for the cluster (`[MESOS] dns_domain`), on the config API emulator and on
//! upstream's real config API server (the real-server tier, which enforces
//! `resources/virtual_dns.py`, `virtual_dns_record.py` and `network_ipam.py` itself):
//! - the manager keeps the virtual-DNS `<cluster>-dns` with the contract's data and puts the
//!   cluster's IPAMs, the IPAMs of networks made from labels and the IPAMs it makes on it; an
//!   IPAM Contrail refuses to switch (interfaces on an IPAM with `tenant-dns-server`) is named
//!   in `/healthz`, `/metrics` and `status` until its interfaces go and it is switched; with
//!   `dns_domain` off again the IPAMs go back to `default-dns-server` and the virtual-DNS goes;
//! - each named VIP has one A record with its address, made, put right and removed by the VIP
//!   loop; two managers make one record; a record whose VIP is gone goes at the next pass; an
//!   address VIP has none.
//!
//! Each test runs on a fresh emulator and on upstream's real server (`both_backends!`, the
//! real-server tier).

mod common;

use std::time::{Duration, Instant};

use common::*;
use contrail_mesos::applets::cli::status;
use contrail_mesos::applets::manager::{self, metrics, service::Provisioning};
use contrail_mesos::clients::contrail::config_api::{ApiOptions, ConfigApi};
use contrail_mesos::clients::marathon::Marathon;
use contrail_mesos::clients::mesos::MesosMaster;
use contrail_mesos::domain::contrail::KeyValuePairs;
use contrail_mesos::domain::settings::Settings;
use contrail_mesos_sim::marathon::{self as ma, CONTRAIL_NETWORK, MarathonSim};
use contrail_mesos_sim::mesos::{self as ms, MesosSim};
use serde_json::{Value, json};

both_backends! {
    virtual_dns_and_the_ipams_on_it: Real;
    named_vips_have_one_record_each: Real;
    turning_dns_off_removes_the_records_and_the_server: Real;
}

const DOMAIN: &str = "l4lb.thisdcos.directory";

/// The cluster's virtual-DNS, `[default-domain, <cluster>-dns]`.
fn vdns(env: &Env) -> [String; 2] {
    ["default-domain".into(), format!("{}-dns", env.cluster)]
}

fn strs(fq: &[String]) -> Vec<&str> {
    fq.iter().map(String::as_str).collect()
}

/// The uuid of an object, when it exists.
fn id(env: &Env, ty: &str, fq: &[&str]) -> Option<String> {
    env.config
        .find(ty, fq)
        .and_then(|o| o["uuid"].as_str().map(str::to_string))
}

fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

fn settings(env: &Env, dns: bool) -> Settings {
    let mut s = env.settings();
    s.dns_nameservers = vec!["10.0.0.2".parse().expect("ip")];
    if dns {
        s.dns_domain = Some(DOMAIN.into());
    }
    s
}

/// The labels of a network made from labels in the test's project.
fn labels<'a>(env: &'a Env, network: &'a str, subnet: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("networks", network),
        ("network-subnets", subnet),
        ("project-name", &env.project),
        ("domain-name", "default-domain"),
    ]
}

/// The IPAM's DNS: (method, server name, referred virtual-DNS uuids).
fn ipam_dns(env: &Env, fq: &[String]) -> (String, String, Vec<String>) {
    let ipam = env
        .config
        .find("network-ipam", &strs(fq))
        .expect("the IPAM");
    let m = &ipam["network_ipam_mgmt"];
    (
        m["ipam_dns_method"].as_str().unwrap_or("unset").to_string(),
        m["ipam_dns_server"]["virtual_dns_server_name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        ipam["virtual_DNS_refs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["uuid"].as_str().map(str::to_string))
            .collect(),
    )
}

fn health(m: &manager::Running) -> Value {
    let mut r = http()
        .get(format!("{}/healthz", m.url()))
        .call()
        .expect("healthz");
    r.body_mut().read_json().expect("json")
}

fn metric(m: &manager::Running, name: &str) -> String {
    let mut r = http()
        .get(format!("{}/metrics", m.url()))
        .call()
        .expect("metrics");
    let text = r.body_mut().read_to_string().expect("text");
    text.lines()
        .find(|l| l.starts_with(&format!("contrail_mesos_manager_{name} ")))
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or_default()
        .to_string()
}

/// `status --json`'s `dns`, read as the CLI reads it.
fn status_dns(api_url: &str, s: &Settings) -> Value {
    let marathon = MarathonSim::start("127.0.0.1:0").expect("marathon");
    let mesos = MesosSim::start("127.0.0.1:0").expect("mesos");
    let api = ConfigApi::new(ApiOptions::new(vec![api_url.to_string()])).expect("client");
    let doc = status::collect(
        &api,
        &Marathon::new(&marathon.url(), Duration::from_secs(10)).expect("marathon client"),
        Some(&MesosMaster::new(&mesos.url(), Duration::from_secs(10)).expect("master client")),
        s,
    )
    .expect("status");
    serde_json::to_value(doc.status()).expect("json")["dns"].clone()
}

/// The IPAMs: the cluster's two, and blue's, red's and green's (networks made from labels).
struct Ipams {
    pod: [String; 3],
    service: [String; 3],
    blue: [String; 3],
    red: [String; 3],
    green: [String; 3],
}

impl Ipams {
    fn of(env: &Env) -> Ipams {
        let own = |name: &str| env.fq(name).map(str::to_string);
        Ipams {
            pod: env.cluster_fq("pod-task-ipam"),
            service: env.cluster_fq("service-ipam"),
            blue: own("blue-network-ipam"),
            red: own("red-network-ipam"),
            green: own("green-network-ipam"),
        }
    }
}

/// `dns_domain` on, a refused IPAM, its switch once its task goes, `dns_domain` off again.
fn virtual_dns_and_the_ipams_on_it(env: Env) {
    let (c, url, ipams) = (&env.config, env.config.url(), Ipams::of(&env));
    let vdns_fq = vdns(&env);
    let vdns_fq = strs(&vdns_fq);

    // An earlier manager, without dns_domain: a task on blue-network, and one on red-network
    // whose IPAM an older version made with tenant-dns-server.
    let m = manager::start(settings(&env, false)).expect("manager");
    assert_eq!(
        m.wait_provisioned(Duration::from_secs(30)),
        Provisioning::Done
    );
    c.create(
        "network-ipam",
        json!({"fq_name": ipams.red, "parent_type": "project",
               "network_ipam_mgmt": {"ipam_dns_method": "tenant-dns-server",
                   "ipam_dns_server": {"tenant_dns_server_address": {"ip_address": ["10.0.0.2"]}}}}),
    )
    .expect("red-network-ipam");
    let (red, blue) = (env.cid(), env.cid());
    for (cid, l) in [
        (&red, labels(&env, "red-network", "6.6.6.0/24")),
        (&blue, labels(&env, "blue-network", "5.5.5.0/24")),
    ] {
        let (status, a) = node_add(&m.url(), cid, &l);
        assert_eq!(status, 200, "{a}");
    }
    assert_eq!(
        id(&env, "virtual-DNS", &vdns_fq),
        None,
        "off: no virtual-DNS"
    );
    m.shutdown();

    // dns_domain on.
    let on = settings(&env, true);
    let m = manager::start(on.clone()).expect("manager");
    let Provisioning::Failed(why) = m.wait_provisioned(Duration::from_secs(30)) else {
        panic!("red-network-ipam cannot be switched while its task runs")
    };
    assert!(
        why.iter().any(|w| w.contains("red-network-ipam")
            && w.contains("keeps DNS method tenant-dns-server")
            && w.contains("is_change_allowed")),
        "{why:?}"
    );
    let vdns = c.find("virtual-DNS", &vdns_fq).expect("the virtual-DNS");
    assert_eq!(
        vdns["virtual_DNS_data"],
        json!({"domain_name": DOMAIN, "dynamic_records_from_client": false,
               "record_order": "random", "default_ttl_seconds": 60, "external_visible": true,
               "next_virtual_DNS": "10.0.0.2"})
    );
    let vdns_uuid = vdns["uuid"].as_str().expect("uuid").to_string();
    let on_it = (
        "virtual-dns-server".to_string(),
        vdns_fq.join(":"),
        vec![vdns_uuid.clone()],
    );
    for ipam in [&ipams.pod, &ipams.service, &ipams.blue] {
        assert_eq!(ipam_dns(&env, ipam), on_it, "{ipam:?}");
    }
    assert_eq!(ipam_dns(&env, &ipams.red).0, "tenant-dns-server");
    let h = health(&m);
    assert_eq!(
        h["ipams_dns_not_switched"],
        json!([{"ipam": ipams.red.join(":"), "method": "tenant-dns-server",
                "wanted": "virtual-dns-server",
                "error": h["ipams_dns_not_switched"][0]["error"]}]),
        "{h}"
    );
    assert_eq!(h["virtual_dns"]["server"], vdns_fq.join(":"));
    assert_eq!(metric(&m, metrics::IPAMS_DNS_REFUSED), "1");
    let dns = status_dns(&url, &on);
    assert_eq!(dns["serves"], DOMAIN);
    assert_eq!(
        dns["ipams_not_on_it"],
        json!([{"ipam": ipams.red.join(":"), "method": "tenant-dns-server",
                "networks": [env.fq_str("red-network")]}])
    );

    // A network made now: its IPAM on the virtual-DNS from the start; the task's nameserver
    // is the agent's (the ADD answer carries no dns_nameservers).
    let green = env.cid();
    let (status, a) = node_add(
        &m.url(),
        &green,
        &labels(&env, "green-network", "7.7.7.0/24"),
    );
    assert_eq!(status, 200, "{a}");
    assert_eq!(ipam_dns(&env, &ipams.green), on_it);
    assert!(
        a["interfaces"][0]
            .get("dns-nameservers")
            .is_none_or(|n| n == &json!([])),
        "{a}"
    );

    // red's task goes: the next attempt switches its IPAM.
    let (status, _) = post_json(
        &format!("{}/del_cni_info", m.url()),
        &del_body(&red, "eth0"),
    );
    assert_eq!(status, 200);
    wait_for("red-network-ipam switched", 60, || {
        m.service.provisioning() == Provisioning::Done
    });
    assert_eq!(ipam_dns(&env, &ipams.red), on_it);
    assert!(health(&m).get("ipams_dns_not_switched").is_none());
    assert_eq!(metric(&m, metrics::IPAMS_DNS_REFUSED), "0");
    assert_eq!(status_dns(&url, &on)["ipams_not_on_it"], json!([]));
    m.shutdown();

    // dns_domain off again, tasks still on blue and green: every IPAM back on
    // default-dns-server without the reference, and the virtual-DNS gone.
    let m = manager::start(settings(&env, false)).expect("manager");
    assert_eq!(
        m.wait_provisioned(Duration::from_secs(30)),
        Provisioning::Done
    );
    for ipam in [
        &ipams.pod,
        &ipams.service,
        &ipams.blue,
        &ipams.red,
        &ipams.green,
    ] {
        assert_eq!(
            ipam_dns(&env, ipam),
            ("default-dns-server".into(), String::new(), vec![]),
            "{ipam:?}"
        );
    }
    assert_eq!(id(&env, "virtual-DNS", &vdns_fq), None, "removed");
    for cid in [&blue, &green] {
        let (status, _) = post_json(&format!("{}/del_cni_info", m.url()), &del_body(cid, "eth0"));
        assert_eq!(status, 200);
    }
    m.shutdown();
}

/// A task of an app: the manager made its interface (ADD), Marathon and the master run it.
struct Task {
    cid: String,
    ip: String,
    json: Value,
}

fn add_task(env: &Env, m: &manager::Running, app: &str) -> Task {
    let cid = env.cid();
    let (status, a) = node_add(&m.url(), &cid, &labels(env, "blue-network", "5.5.5.0/24"));
    assert_eq!(status, 200, "{a}");
    let ip = a["interfaces"][0]["ip-address"]
        .as_str()
        .expect("ip")
        .to_string();
    Task {
        json: ma::app_task(app, &node(), &ip, ms::SLAVE_ID),
        cid,
        ip,
    }
}

/// Marathon runs these apps (id, VIP label, tasks); the master runs their tasks.
fn publish(marathon: &MarathonSim, mesos: &MesosSim, apps: &[(&str, &str, &[&Task])]) {
    let mut running = Vec::new();
    let mut defs = Vec::new();
    for (id, vip, tasks) in apps {
        for t in *tasks {
            running.push(ms::running_task(
                t.json["id"].as_str().unwrap_or_default(),
                &t.cid,
                &t.ip,
            ));
        }
        let app = ma::with_port_mappings(
            ma::networks_app(id, CONTRAIL_NETWORK, &[]),
            vec![ma::port_mapping(
                "http",
                8080,
                "tcp",
                10101,
                &[("VIP_0", vip)],
            )],
        );
        defs.push(ma::with_tasks(
            app,
            tasks.iter().map(|t| t.json.clone()).collect(),
        ));
    }
    mesos.set_tasks(running, vec![]);
    marathon.set_apps(defs).expect("apps");
}

/// An object's annotation, read as the manager reads it.
fn annotation(obj: &Value, key: &str) -> Option<String> {
    serde_json::from_value::<KeyValuePairs>(obj["annotations"].clone())
        .ok()?
        .get(key)
        .map(str::to_string)
}

/// The records under the cluster's virtual-DNS: (name, data).
fn records(env: &Env) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = env
        .config
        .list("virtual-DNS-record")
        .iter()
        .map(|r| {
            let d = &r["virtual_DNS_record_data"];
            (
                d["record_name"].as_str().unwrap_or_default().to_string(),
                d["record_data"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn vip_address(env: &Env, name: &str) -> Option<String> {
    env.config
        .list("loadbalancer")
        .iter()
        .find(|lb| annotation(lb, "name").as_deref() == Some(name))
        .and_then(|lb| {
            lb["loadbalancer_properties"]["vip_address"]
                .as_str()
                .map(str::to_string)
        })
}

/// The annotations of a VIP's record of this cluster.
fn record_marks(env: &Env, vip: &str, name: &str) -> Value {
    json!({"key_value_pair": [{"key": "owner", "value": "mesos"},
        {"key": "cluster", "value": env.cluster}, {"key": "kind", "value": "vip"},
        {"key": "vip", "value": vip}, {"key": "name", "value": name}]})
}

/// Make a VIP's A record of this cluster under its virtual-DNS, as a manager would.
fn add_record(env: &Env, vip: &str, name: &str, address: &str) {
    let [d, server] = vdns(env);
    env.config
        .create(
            "virtual-DNS-record",
            json!({"fq_name": [d, server, format!("{}__vip__{name}", env.cluster)],
                   "parent_type": "virtual-DNS",
                   "virtual_DNS_record_data": {"record_name": name, "record_type": "A",
                       "record_class": "IN", "record_data": address, "record_ttl_seconds": 60},
                   "annotations": record_marks(env, vip, name)}),
        )
        .expect("a record");
}

/// Named VIPs' records through the VIP loop.
fn named_vips_have_one_record_each(env: Env) {
    let url = env.config.url();
    let marathon = MarathonSim::start("127.0.0.1:0").expect("marathon");
    let mesos = MesosSim::start("127.0.0.1:0").expect("mesos");
    let mut s = settings(&env, true);
    // The manager that serves the ADDs (its VIP loop off).
    let adder = manager::start(s.clone()).expect("manager");
    assert_eq!(
        adder.wait_provisioned(Duration::from_secs(30)),
        Provisioning::Done
    );
    let (w1, w2, d1) = (
        add_task(&env, &adder, "/web"),
        add_task(&env, &adder, "/web"),
        add_task(&env, &adder, "/db"),
    );
    publish(
        &marathon,
        &mesos,
        &[
            ("/web", "/web:80", &[&w1, &w2]),
            ("/db", "10.96.0.10:5432", &[&d1]),
        ],
    );
    s.marathon_url = Some(marathon.url());
    s.mesos_master_url = Some(mesos.url());
    s.vip_sync_interval = Duration::from_millis(100);
    let m1 = manager::start(s.clone()).expect("VIP manager");

    // web.marathon: one A record with the VIP's address; the address VIP has none.
    wait_for("web.marathon's record", 30, || records(&env).len() == 1);
    wait_for("both VIPs", 30, || {
        vip_address(&env, "10.96.0.10").is_some()
    });
    let at = vip_address(&env, "web.marathon").expect("web.marathon's address");
    let [d, server] = vdns(&env);
    let rec_name = format!("{}__vip__web.marathon", env.cluster);
    let rec = env
        .config
        .find("virtual-DNS-record", &[&d, &server, &rec_name])
        .expect("the record");
    assert_eq!(
        rec["virtual_DNS_record_data"],
        json!({"record_name": "web.marathon", "record_type": "A", "record_class": "IN",
               "record_data": at, "record_ttl_seconds": 60})
    );
    for (k, v) in [
        ("owner", "mesos"),
        ("cluster", env.cluster.as_str()),
        ("kind", "vip"),
        ("vip", "/web"),
        ("name", "web.marathon"),
    ] {
        assert_eq!(annotation(&rec, k).as_deref(), Some(v), "annotation {k}");
    }
    let rec_uuid = rec["uuid"].as_str().expect("uuid").to_string();

    // A second manager: still one record; both count it.
    let m2 = manager::start(s.clone()).expect("second VIP manager");
    wait_for("the second manager's passes", 30, || {
        m2.service.metrics.counter(metrics::VIP_SYNC_RUNS) >= 3
            && m2.service.metrics.gauge(metrics::VIP_DNS_RECORDS) == 1.0
    });
    assert_eq!(records(&env), vec![("web.marathon".into(), at.clone())]);
    assert_eq!(m1.service.metrics.gauge(metrics::VIP_DNS_RECORDS), 1.0);
    m2.shutdown();

    // A record holding another address is put right; a record of a VIP no task names goes.
    env.config
        .rest()
        .update(
            "virtual-DNS-record",
            &rec_uuid,
            json!({"virtual_DNS_record_data": {"record_name": "web.marathon",
                   "record_type": "A", "record_class": "IN", "record_data": "10.96.0.99",
                   "record_ttl_seconds": 60}}),
        )
        .expect("another address");
    add_record(&env, "/old", "old.marathon", "10.96.0.98");
    wait_for("the record put right and the stray one gone", 30, || {
        records(&env) == vec![("web.marathon".into(), at.clone())]
    });
    let status_row = {
        let api_client = ConfigApi::new(ApiOptions::new(vec![url.clone()])).expect("client");
        let doc = status::collect(
            &api_client,
            &Marathon::new(&marathon.url(), Duration::from_secs(10)).expect("client"),
            Some(&MesosMaster::new(&mesos.url(), Duration::from_secs(10)).expect("client")),
            &s,
        )
        .expect("status");
        let v = serde_json::to_value(doc.status()).expect("json");
        v["vips"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["name"] == "web.marathon")
            .cloned()
            .expect("web.marathon's row")
    };
    assert_eq!(
        status_row["dns"],
        json!({"name": format!("web.marathon.{DOMAIN}"), "address": at, "in_step": true})
    );

    // /web goes: its record goes with it; /db stays.
    publish(&marathon, &mesos, &[("/db", "10.96.0.10:5432", &[&d1])]);
    wait_for("web.marathon's record gone", 30, || {
        records(&env).is_empty() && vip_address(&env, "web.marathon").is_none()
    });
    assert!(vip_address(&env, "10.96.0.10").is_some());
    m1.shutdown();
    for t in [&w1, &w2, &d1] {
        let (status, _) = post_json(
            &format!("{}/del_cni_info", adder.url()),
            &del_body(&t.cid, "eth0"),
        );
        assert_eq!(status, 200);
    }
    adder.shutdown();
}

/// `dns_domain` off with records in the virtual-DNS: they go with it (upstream refuses to
/// delete a virtual-DNS with records: the records first).
fn turning_dns_off_removes_the_records_and_the_server(env: Env) {
    let m = manager::start(settings(&env, true)).expect("manager");
    assert_eq!(
        m.wait_provisioned(Duration::from_secs(30)),
        Provisioning::Done
    );
    m.shutdown();
    for (vip, name) in [("/web", "web.marathon"), ("/db", "db.marathon")] {
        add_record(&env, vip, name, "10.96.0.3");
    }
    assert_eq!(records(&env).len(), 2);
    let m = manager::start(settings(&env, false)).expect("manager");
    assert_eq!(
        m.wait_provisioned(Duration::from_secs(30)),
        Provisioning::Done
    );
    let vdns_fq = vdns(&env);
    assert_eq!(id(&env, "virtual-DNS", &strs(&vdns_fq)), None);
    assert!(records(&env).is_empty());
    m.shutdown();
}
