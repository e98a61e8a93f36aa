//! Contrail's own DNS for the cluster (`[MESOS] dns_domain`), on the config API emulator and on
//! upstream's real config API server (`../shared/contrail-api-server`, which enforces
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
//! The real-server tests start their own server as its README says, skip when it is not
//! installed, and fail under `CI=1`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use contrail_mesos::applets::cli::status;
use contrail_mesos::applets::manager::{self, metrics, service::Provisioning};
use contrail_mesos::clients::contrail::config_api::{ApiOptions, ConfigApi};
use contrail_mesos::clients::marathon::Marathon;
use contrail_mesos::clients::mesos::MesosMaster;
use contrail_mesos::domain::contrail::KeyValuePairs;
use contrail_mesos::domain::settings::Settings;
use contrail_mesos_sim::config_api::{ConfigApiOptions, ConfigApiSim};
use contrail_mesos_sim::marathon::{self as ma, CONTRAIL_NETWORK, MarathonSim};
use contrail_mesos_sim::mesos::{self as ms, MesosSim};
use serde_json::{Value, json};

const DOMAIN: &str = "l4lb.thisdcos.directory";
const VDNS: [&str; 2] = ["default-domain", "mesos-dns"];

/// Upstream's real config API server, started as `../shared/contrail-api-server/README.md`
/// says (`start.py --port N --work-dir DIR`, `READY` when it answers); stopped on drop.
struct RealApi {
    child: Child,
    url: String,
    _work: Scratch,
}

impl RealApi {
    /// `None` (the test is skipped; under `CI=1` it fails) when the server or its venv is not
    /// installed.
    fn start(test: &str) -> Option<RealApi> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/contrail-api-server");
        let root = std::env::var_os("CONTRAIL_API_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                std::env::var_os("XDG_CACHE_HOME")
                    .map(PathBuf::from)
                    .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                    .unwrap_or_default()
                    .join("contrail-api-server")
            });
        let venv = ["venv311", "venv36"]
            .iter()
            .any(|v| root.join(v).join("bin/python").exists());
        if !contrail_mesos_sim::require(
            dir.join("start.py").is_file() && venv,
            test,
            &format!(
                "needs upstream's config API server: {} and its venv under {} (setup.sh)",
                dir.display(),
                root.display()
            ),
        ) {
            return None;
        }
        let work = Scratch::new("real-api");
        // A port nobody listens on (a server already there would answer for ours).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut child = Command::new("python3")
            .arg(dir.join("start.py"))
            .args(["--port", &port.to_string(), "--work-dir"])
            .arg(&work.0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 start.py");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                if line.starts_with("READY") {
                    let _ = tx.send(line);
                }
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(120));
        let alive = matches!(child.try_wait(), Ok(None));
        let server = RealApi {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _work: work,
        };
        assert!(
            line.is_ok() && alive,
            "upstream's config API server did not start on port {port} ({line:?}); logs in {}",
            server._work.0.display()
        );
        Some(server)
    }
}

impl Drop for RealApi {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A config API: the emulator or upstream's server.
enum Backend {
    Sim(ConfigApiSim),
    Real(RealApi),
}

impl Backend {
    fn sim() -> Backend {
        Backend::Sim(ConfigApiSim::start(ConfigApiOptions::default()).expect("config API"))
    }

    fn url(&self) -> String {
        match self {
            Backend::Sim(s) => s.url(),
            Backend::Real(r) => r.url.clone(),
        }
    }

    fn rest(&self) -> Rest {
        Rest(self.url())
    }
}

/// The config API over REST, the same on both backends.
struct Rest(String);

impl Rest {
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.0);
        let mut r = match body {
            Some(b) => http()
                .run(
                    ureq::http::Request::builder()
                        .method(method)
                        .uri(&url)
                        .header("Content-Type", "application/json")
                        .body(b.to_string())
                        .expect("request"),
                )
                .expect("config API call"),
            None => http()
                .run(
                    ureq::http::Request::builder()
                        .method(method)
                        .uri(&url)
                        .body(String::new())
                        .expect("request"),
                )
                .expect("config API call"),
        };
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn create(&self, ty: &str, body: Value) -> String {
        let (status, v) = self.call("POST", &format!("/{ty}s"), Some(&json!({ ty: body })));
        assert_eq!(status, 200, "creating {ty}: {v}");
        v[ty]["uuid"].as_str().expect("uuid").to_string()
    }

    fn put(&self, ty: &str, uuid: &str, body: Value) -> (u16, Value) {
        self.call("PUT", &format!("/{ty}/{uuid}"), Some(&json!({ ty: body })))
    }

    fn id(&self, ty: &str, fq: &[&str]) -> Option<String> {
        let (status, v) = self.call(
            "POST",
            "/fqname-to-id",
            Some(&json!({"type": ty, "fq_name": fq})),
        );
        (status == 200).then(|| v["uuid"].as_str().unwrap_or_default().to_string())
    }

    fn get(&self, ty: &str, fq: &[&str]) -> Option<Value> {
        let uuid = self.id(ty, fq)?;
        let (status, v) = self.call("GET", &format!("/{ty}/{uuid}"), None);
        (status == 200).then(|| v[ty].clone())
    }

    /// Every `ty`, with its details.
    fn list(&self, ty: &str) -> Vec<Value> {
        let (_, v) = self.call("GET", &format!("/{ty}s?detail=true"), None);
        v[format!("{ty}s")]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| o[ty].clone())
            .collect()
    }

    /// This node's virtual-router, as an operator provisions it.
    fn seed_router(&self) {
        self.create(
            "virtual-router",
            json!({"fq_name": ["default-global-system-config", node()],
                   "parent_type": "global-system-config",
                   "virtual_router_ip_address": FABRIC_IP}),
        );
    }
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

fn settings(url: &str, dns: bool) -> Settings {
    let mut s = manager_settings(url);
    s.dns_nameservers = vec!["10.0.0.2".parse().expect("ip")];
    if dns {
        s.dns_domain = Some(DOMAIN.into());
    }
    s
}

fn labels(network: &'static str, subnet: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("networks", network),
        ("network-subnets", subnet),
        ("project-name", "default-project"),
        ("domain-name", "default-domain"),
    ]
}

/// The IPAM's DNS: (method, server name, referred virtual-DNS uuids).
fn ipam_dns(api: &Rest, fq: &[&str]) -> (String, String, Vec<String>) {
    let ipam = api.get("network-ipam", fq).expect("the IPAM");
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

const POD_IPAM: [&str; 3] = ["default-domain", "mesos-default", "mesos-pod-task-ipam"];
const SERVICE_IPAM: [&str; 3] = ["default-domain", "mesos-default", "mesos-service-ipam"];
const BLUE_IPAM: [&str; 3] = ["default-domain", "default-project", "blue-network-ipam"];
const RED_IPAM: [&str; 3] = ["default-domain", "default-project", "red-network-ipam"];
const GREEN_IPAM: [&str; 3] = ["default-domain", "default-project", "green-network-ipam"];

/// `dns_domain` on, a refused IPAM, its switch once its task goes, `dns_domain` off again.
fn virtual_dns_and_the_ipams_on_it(backend: &Backend) {
    let url = backend.url();
    let api = backend.rest();
    api.seed_router();

    // An earlier manager, without dns_domain: a task on blue-network, and one on red-network
    // whose IPAM an older version made with tenant-dns-server.
    let m = manager::start(settings(&url, false)).expect("manager");
    assert_eq!(
        m.wait_provisioned(Duration::from_secs(30)),
        Provisioning::Done
    );
    api.create(
        "network-ipam",
        json!({"fq_name": RED_IPAM, "parent_type": "project",
               "network_ipam_mgmt": {"ipam_dns_method": "tenant-dns-server",
                   "ipam_dns_server": {"tenant_dns_server_address": {"ip_address": ["10.0.0.2"]}}}}),
    );
    let (red, blue) = (new_cid(), new_cid());
    for (cid, l) in [
        (&red, labels("red-network", "6.6.6.0/24")),
        (&blue, labels("blue-network", "5.5.5.0/24")),
    ] {
        let (status, a) = node_add(&m.url(), cid, &l);
        assert_eq!(status, 200, "{a}");
    }
    assert_eq!(api.id("virtual-DNS", &VDNS), None, "off: no virtual-DNS");
    m.shutdown();

    // dns_domain on.
    let on = settings(&url, true);
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
    let vdns = api.get("virtual-DNS", &VDNS).expect("the virtual-DNS");
    assert_eq!(
        vdns["virtual_DNS_data"],
        json!({"domain_name": DOMAIN, "dynamic_records_from_client": false,
               "record_order": "random", "default_ttl_seconds": 60, "external_visible": true,
               "next_virtual_DNS": "10.0.0.2"})
    );
    let vdns_uuid = vdns["uuid"].as_str().expect("uuid").to_string();
    let on_it = (
        "virtual-dns-server".to_string(),
        "default-domain:mesos-dns".to_string(),
        vec![vdns_uuid.clone()],
    );
    for ipam in [&POD_IPAM, &SERVICE_IPAM, &BLUE_IPAM] {
        assert_eq!(ipam_dns(&api, ipam), on_it, "{ipam:?}");
    }
    assert_eq!(ipam_dns(&api, &RED_IPAM).0, "tenant-dns-server");
    let h = health(&m);
    assert_eq!(
        h["ipams_dns_not_switched"],
        json!([{"ipam": RED_IPAM.join(":"), "method": "tenant-dns-server",
                "wanted": "virtual-dns-server",
                "error": h["ipams_dns_not_switched"][0]["error"]}]),
        "{h}"
    );
    assert_eq!(h["virtual_dns"]["server"], "default-domain:mesos-dns");
    assert_eq!(metric(&m, metrics::IPAMS_DNS_REFUSED), "1");
    let dns = status_dns(&url, &on);
    assert_eq!(dns["serves"], DOMAIN);
    assert_eq!(
        dns["ipams_not_on_it"],
        json!([{"ipam": RED_IPAM.join(":"), "method": "tenant-dns-server",
                "networks": ["default-domain:default-project:red-network"]}])
    );

    // A network made now: its IPAM on the virtual-DNS from the start; the task's nameserver
    // is the agent's (the ADD answer carries no dns_nameservers).
    let green = new_cid();
    let (status, a) = node_add(&m.url(), &green, &labels("green-network", "7.7.7.0/24"));
    assert_eq!(status, 200, "{a}");
    assert_eq!(ipam_dns(&api, &GREEN_IPAM), on_it);
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
    assert_eq!(ipam_dns(&api, &RED_IPAM), on_it);
    assert!(health(&m).get("ipams_dns_not_switched").is_none());
    assert_eq!(metric(&m, metrics::IPAMS_DNS_REFUSED), "0");
    assert_eq!(status_dns(&url, &on)["ipams_not_on_it"], json!([]));
    m.shutdown();

    // dns_domain off again, tasks still on blue and green: every IPAM back on
    // default-dns-server without the reference, and the virtual-DNS gone.
    let m = manager::start(settings(&url, false)).expect("manager");
    assert_eq!(
        m.wait_provisioned(Duration::from_secs(30)),
        Provisioning::Done
    );
    for ipam in [&POD_IPAM, &SERVICE_IPAM, &BLUE_IPAM, &RED_IPAM, &GREEN_IPAM] {
        assert_eq!(
            ipam_dns(&api, ipam),
            ("default-dns-server".into(), String::new(), vec![]),
            "{ipam:?}"
        );
    }
    assert_eq!(api.id("virtual-DNS", &VDNS), None, "removed");
    for cid in [&blue, &green] {
        let (status, _) = post_json(&format!("{}/del_cni_info", m.url()), &del_body(cid, "eth0"));
        assert_eq!(status, 200);
    }
    m.shutdown();
}

#[test]
fn virtual_dns_and_the_ipams_on_it_on_the_emulator() {
    virtual_dns_and_the_ipams_on_it(&Backend::sim());
}

#[test]
fn virtual_dns_and_the_ipams_on_it_on_upstreams_server() {
    if let Some(real) = RealApi::start("virtual_dns_and_the_ipams_on_it_on_upstreams_server") {
        virtual_dns_and_the_ipams_on_it(&Backend::Real(real));
    }
}

/// A task of an app: the manager made its interface (ADD), Marathon and the master run it.
struct Task {
    cid: String,
    ip: String,
    json: Value,
}

fn add_task(m: &manager::Running, app: &str) -> Task {
    let cid = new_cid();
    let (status, a) = node_add(&m.url(), &cid, &labels("blue-network", "5.5.5.0/24"));
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
fn records(api: &Rest) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = api
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

fn vip_address(api: &Rest, name: &str) -> Option<String> {
    api.list("loadbalancer")
        .iter()
        .find(|lb| annotation(lb, "name").as_deref() == Some(name))
        .and_then(|lb| {
            lb["loadbalancer_properties"]["vip_address"]
                .as_str()
                .map(str::to_string)
        })
}

/// Named VIPs' records through the VIP loop.
fn named_vips_have_one_record_each(backend: &Backend) {
    let url = backend.url();
    let api = backend.rest();
    api.seed_router();
    let marathon = MarathonSim::start("127.0.0.1:0").expect("marathon");
    let mesos = MesosSim::start("127.0.0.1:0").expect("mesos");
    let mut s = settings(&url, true);
    // The manager that serves the ADDs (its VIP loop off).
    let adder = manager::start(s.clone()).expect("manager");
    assert_eq!(
        adder.wait_provisioned(Duration::from_secs(30)),
        Provisioning::Done
    );
    let (w1, w2, d1) = (
        add_task(&adder, "/web"),
        add_task(&adder, "/web"),
        add_task(&adder, "/db"),
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
    wait_for("web.marathon's record", 30, || records(&api).len() == 1);
    wait_for("both VIPs", 30, || {
        vip_address(&api, "10.96.0.10").is_some()
    });
    let at = vip_address(&api, "web.marathon").expect("web.marathon's address");
    let fq = [VDNS[0], VDNS[1], "mesos__vip__web.marathon"];
    let rec = api.get("virtual-DNS-record", &fq).expect("the record");
    assert_eq!(
        rec["virtual_DNS_record_data"],
        json!({"record_name": "web.marathon", "record_type": "A", "record_class": "IN",
               "record_data": at, "record_ttl_seconds": 60})
    );
    for (k, v) in [
        ("owner", "mesos"),
        ("cluster", "mesos"),
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
    assert_eq!(records(&api), vec![("web.marathon".into(), at.clone())]);
    assert_eq!(m1.service.metrics.gauge(metrics::VIP_DNS_RECORDS), 1.0);
    m2.shutdown();

    // A record holding another address is put right; a record of a VIP no task names goes.
    let (status, v) = api.put(
        "virtual-DNS-record",
        &rec_uuid,
        json!({"virtual_DNS_record_data": {"record_name": "web.marathon", "record_type": "A",
               "record_class": "IN", "record_data": "10.96.0.99", "record_ttl_seconds": 60}}),
    );
    assert_eq!(status, 200, "{v}");
    api.create(
        "virtual-DNS-record",
        json!({"fq_name": [VDNS[0], VDNS[1], "mesos__vip__old.marathon"],
               "parent_type": "virtual-DNS",
               "virtual_DNS_record_data": {"record_name": "old.marathon", "record_type": "A",
                   "record_class": "IN", "record_data": "10.96.0.98", "record_ttl_seconds": 60},
               "annotations": {"key_value_pair": [{"key": "owner", "value": "mesos"},
                   {"key": "cluster", "value": "mesos"}, {"key": "kind", "value": "vip"},
                   {"key": "vip", "value": "/old"}, {"key": "name", "value": "old.marathon"}]}}),
    );
    wait_for("the record put right and the stray one gone", 30, || {
        records(&api) == vec![("web.marathon".into(), at.clone())]
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
        records(&api).is_empty() && vip_address(&api, "web.marathon").is_none()
    });
    assert!(vip_address(&api, "10.96.0.10").is_some());
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

#[test]
fn named_vips_have_one_record_each_on_the_emulator() {
    named_vips_have_one_record_each(&Backend::sim());
}

#[test]
fn named_vips_have_one_record_each_on_upstreams_server() {
    if let Some(real) = RealApi::start("named_vips_have_one_record_each_on_upstreams_server") {
        named_vips_have_one_record_each(&Backend::Real(real));
    }
}

/// `dns_domain` off with records in the virtual-DNS: they go with it (upstream refuses to
/// delete a virtual-DNS with records: the records first).
fn turning_dns_off_removes_the_records_and_the_server(backend: &Backend) {
    let api = backend.rest();
    let m = manager::start(settings(&backend.url(), true)).expect("manager");
    assert_eq!(
        m.wait_provisioned(Duration::from_secs(30)),
        Provisioning::Done
    );
    m.shutdown();
    let marks = |name: &str| {
        json!({"key_value_pair": [{"key": "owner", "value": "mesos"},
            {"key": "cluster", "value": "mesos"}, {"key": "kind", "value": "vip"},
            {"key": "name", "value": name}]})
    };
    for name in ["web.marathon", "db.marathon"] {
        api.create(
            "virtual-DNS-record",
            json!({"fq_name": [VDNS[0], VDNS[1], format!("mesos__vip__{name}")],
                   "parent_type": "virtual-DNS",
                   "virtual_DNS_record_data": {"record_name": name, "record_type": "A",
                       "record_class": "IN", "record_data": "10.96.0.3", "record_ttl_seconds": 60},
                   "annotations": marks(name)}),
        );
    }
    let m = manager::start(settings(&backend.url(), false)).expect("manager");
    assert_eq!(
        m.wait_provisioned(Duration::from_secs(30)),
        Provisioning::Done
    );
    assert_eq!(api.id("virtual-DNS", &VDNS), None);
    assert!(records(&api).is_empty());
    m.shutdown();
}

#[test]
fn turning_dns_off_removes_the_records_and_the_server_on_the_emulator() {
    turning_dns_off_removes_the_records_and_the_server(&Backend::sim());
}

#[test]
fn turning_dns_off_removes_the_records_and_the_server_on_upstreams_server() {
    if let Some(real) =
        RealApi::start("turning_dns_off_removes_the_records_and_the_server_on_upstreams_server")
    {
        turning_dns_off_removes_the_records_and_the_server(&Backend::Real(real));
    }
}
