//! `make bench-vip`: the VIP loop against the emulators (config API with svc-monitor's native
//! driver, Marathon, the Mesos master). Prints figures and targets; nothing is asserted on
//! time.
//!
//! - how long from a Marathon change (a task more, a task less) to Contrail holding it, by
//!   polling alone (events refused, `vip_sync_interval` 0.5 s) and on Marathon's event stream
//!   (`vip_sync_interval` one hour);
//! - config API calls of a pass that adds one member, and of one that removes one;
//! - with `dns_domain`: how long from a new app with a named VIP to its DNS record in the
//!   cluster's virtual-DNS, by polling alone and on the event stream;
//! - one pass over 1,000 VIP apps of 10 tasks each with nothing to change (target: at most
//!   1 s and 3 config API calls), without and with `dns_domain` (4 calls: the records' list).

use std::time::{Duration, Instant};

use contrail_mesos::applets::manager::{self, vip};
use contrail_mesos::domain::settings::Settings;
use contrail_mesos_sim::config_api::{ConfigApiOptions, ConfigApiSim};
use contrail_mesos_sim::marathon::{self as ma, CONTRAIL_NETWORK, MarathonSim};
use contrail_mesos_sim::mesos::{self as ms, MesosSim};
use serde_json::{Value, json};

const TASKS_PER_APP: usize = 10;

/// `BENCH_SMOKE=1`: a short run (CI: the bench still works).
fn smoke() -> bool {
    std::env::var_os("BENCH_SMOKE").is_some()
}

fn apps_n() -> usize {
    if smoke() { 20 } else { 1_000 }
}

fn changes_n() -> usize {
    if smoke() { 3 } else { 20 }
}

struct World {
    config: ConfigApiSim,
    marathon: MarathonSim,
    mesos: MesosSim,
    network: (Vec<String>, String),
}

/// A task: its container (a VM of the cluster with one interface) and Marathon's view.
struct Task {
    cid: String,
    ip: String,
    json: Value,
}

fn world() -> World {
    let config = ConfigApiSim::start(ConfigApiOptions {
        svc_monitor: true,
        ..ConfigApiOptions::default()
    })
    .expect("config API emulator");
    let net = ["default-domain", "default-project", "bench-net"];
    let vn = config
        .add_network(&net, &["10.100.0.0/16"])
        .expect("network");
    World {
        config,
        marathon: MarathonSim::start("127.0.0.1:0").expect("marathon"),
        mesos: MesosSim::start("127.0.0.1:0").expect("mesos"),
        network: (net.iter().map(|s| s.to_string()).collect(), vn),
    }
}

impl World {
    /// A container VM of cluster `mesos` with one interface, as the manager's ADD leaves it.
    fn task(&self, app: &str, n: usize) -> Task {
        let cid = uuid::Uuid::new_v4().to_string();
        self.config
            .create(
                "virtual-machine",
                json!({"uuid": cid, "fq_name": [cid], "server_type": "container",
                "annotations": {"key_value_pair": [{"key": "owner", "value": "mesos"},
                    {"key": "cluster", "value": "mesos"}, {"key": "container-id", "value": cid}]}}),
            )
            .expect("vm");
        self.config
            .create(
                "virtual-machine-interface",
                json!({"fq_name": ["default-domain", "default-project", format!("{cid}@eth0")],
                    "parent_type": "project",
                    "virtual_network_refs": [{"to": self.network.0, "uuid": self.network.1}],
                    "virtual_machine_refs": [{"to": [cid], "uuid": cid}]}),
            )
            .expect("vmi");
        let ip = format!("10.100.{}.{}", n / 250, n % 250 + 1);
        Task {
            json: ma::app_task(app, "agent1", &ip, ms::SLAVE_ID),
            cid,
            ip,
        }
    }

    fn publish(&self, apps: &[(String, Vec<&Task>)]) {
        let mut running = Vec::new();
        let mut defs = Vec::new();
        for (id, tasks) in apps {
            for t in tasks {
                running.push(ms::running_task(
                    t.json["id"].as_str().unwrap_or_default(),
                    &t.cid,
                    &t.ip,
                ));
            }
            let mapping = ma::port_mapping(
                "http",
                8080,
                "tcp",
                10101,
                &[("VIP_0", &format!("{id}:80"))],
            );
            let app =
                ma::with_port_mappings(ma::networks_app(id, CONTRAIL_NETWORK, &[]), vec![mapping]);
            defs.push(ma::with_tasks(
                app,
                tasks.iter().map(|t| t.json.clone()).collect(),
            ));
        }
        self.mesos.set_tasks(running, vec![]);
        self.marathon.set_apps(defs).expect("apps");
    }

    fn settings(&self, interval: Duration) -> Settings {
        self.settings_dns(interval, false)
    }

    /// With `dns_domain`: named VIPs get records in the cluster's virtual-DNS.
    fn settings_dns(&self, interval: Duration, dns: bool) -> Settings {
        Settings {
            dns_domain: dns.then(|| "l4lb.thisdcos.directory".to_string()),
            listen_ip: "127.0.0.1".into(),
            listen_port: 0,
            vnc_endpoints: vec![self.config.url()],
            reconcile_interval: Duration::ZERO,
            vnc_timeout: Duration::from_secs(60),
            marathon_url: Some(self.marathon.url()),
            mesos_master_url: Some(self.mesos.url()),
            vip_sync_interval: interval,
            ..Settings::default()
        }
    }

    /// Wait (30 s at most) until the config API holds `n` objects of `ty`.
    fn wait_count(&self, ty: &str, n: usize) {
        let t = Instant::now();
        while self.config.count(ty) != n {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "no convergence to {n} {ty}s"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// With `events`, wait until the manager follows Marathon's event stream.
    fn wait_subscribed(&self, events: bool) {
        while events && self.marathon.event_subscribers() == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn wait_service_network(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self
                .config
                .find(
                    "virtual-network",
                    &[
                        "default-domain",
                        "mesos-default",
                        "mesos-default-service-network",
                    ],
                )
                .is_some()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the manager did not provision the service network");
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Polling alone every 0.5 s, or an hour between passes (events do the work).
fn interval(events: bool) -> Duration {
    if events {
        Duration::from_secs(3600)
    } else {
        Duration::from_millis(500)
    }
}

/// Changes come at any moment of the interval, not right after a pass.
fn pause() {
    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) * 2;
    std::thread::sleep(Duration::from_millis(30 + jitter));
}

/// Change Marathon changes_n() times (a task more, then a task less) and time each until
/// Contrail holds the new member count.
fn latency(events: bool) -> Vec<Duration> {
    let w = world();
    w.marathon.set_events_enabled(events);
    let tasks: Vec<Task> = (0..3).map(|n| w.task("/web", n)).collect();
    let base: Vec<&Task> = tasks.iter().take(2).collect();
    w.publish(&[("/web".into(), base.clone())]);
    let m = manager::start(w.settings(interval(events))).expect("manager");
    let wait = |n: usize| w.wait_count("loadbalancer-member", n);
    wait(2);
    w.wait_subscribed(events);
    let mut took = Vec::new();
    for i in 0..changes_n() {
        let (apps, n) = if i % 2 == 0 {
            (tasks.iter().collect::<Vec<_>>(), 3)
        } else {
            (base.clone(), 2)
        };
        pause();
        let t = Instant::now();
        w.publish(&[("/web".into(), apps)]);
        wait(n);
        took.push(t.elapsed());
    }
    m.shutdown();
    took.sort();
    took
}

/// A new app with a named VIP, changes_n() times, each timed until its DNS record is in the
/// virtual-DNS (the app then goes again, untimed, until its record is gone).
fn record_latency(events: bool) -> Vec<Duration> {
    let w = world();
    w.marathon.set_events_enabled(events);
    let base = w.task("/web", 0);
    let fresh = w.task("/fresh", 1);
    w.publish(&[("/web".into(), vec![&base])]);
    let m = manager::start(w.settings_dns(interval(events), true)).expect("manager");
    let wait = |n: usize| w.wait_count("virtual-DNS-record", n);
    wait(1);
    w.wait_subscribed(events);
    let mut took = Vec::new();
    for i in 0..changes_n() {
        let name = format!("/fresh{i}");
        pause();
        let t = Instant::now();
        w.publish(&[("/web".into(), vec![&base]), (name, vec![&fresh])]);
        wait(2);
        took.push(t.elapsed());
        w.publish(&[("/web".into(), vec![&base])]);
        wait(1);
    }
    m.shutdown();
    took.sort();
    took
}

/// 1,000 VIP apps x 10 tasks, in step: the first pass, then three passes with nothing to
/// change; `dns`: with `dns_domain` (a record per VIP).
fn idle_pass(dns: bool) {
    let w = world();
    let seeding = Instant::now();
    let tasks: Vec<Task> = (0..apps_n() * TASKS_PER_APP)
        .map(|n| w.task(&format!("/app{}", n / TASKS_PER_APP), n))
        .collect();
    let apps: Vec<(String, Vec<&Task>)> = tasks
        .chunks(TASKS_PER_APP)
        .enumerate()
        .map(|(i, c)| (format!("/app{i}"), c.iter().collect()))
        .collect();
    w.publish(&apps);
    let m = manager::start(w.settings_dns(Duration::ZERO, dns)).expect("manager");
    w.wait_service_network();
    let src = vip::sync::Sources::new(&w.marathon.url(), &w.mesos.url(), Duration::from_secs(120))
        .expect("sources");
    let with = if dns {
        "with dns_domain"
    } else {
        "without dns_domain"
    };
    println!(
        "{with}: seeded {} container VMs and interfaces, {} apps, the master's {} tasks in {:.1} s",
        tasks.len(),
        apps_n(),
        tasks.len(),
        seeding.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let made = vip::sync::run_once(&m.service, &src, false).expect("first pass");
    println!(
        "first pass: {} VIPs, {} members, {} DNS records, {} objects made with {} config API calls in {:.1} s",
        made.vips,
        made.members,
        made.records,
        made.created,
        made.calls,
        t.elapsed().as_secs_f64()
    );
    assert!(made.failed.is_empty(), "{:?}", made.failed);
    let mut passes = Vec::new();
    for _ in 0..3 {
        let r = vip::sync::run_once(&m.service, &src, false).expect("pass");
        assert_eq!(r.created + r.deleted, 0, "nothing to change");
        passes.push(r);
    }
    let mut took: Vec<Duration> = passes.iter().map(|r| r.took).collect();
    took.sort();
    let calls = if dns { 4 } else { 3 };
    println!(
        "pass over {} VIPs x {TASKS_PER_APP} tasks {with}, nothing to change: {:.0} ms median of 3 (target <= 1000 ms), {} config API calls (target <= {calls})",
        apps_n(),
        percentile(&took, 0.5).as_secs_f64() * 1e3,
        passes[0].calls
    );
    m.shutdown();
}

/// Run `measure` by polling alone, then on the event stream, and print each one's figures.
fn report_latency(what: &str, unit: &str, measure: fn(bool) -> Vec<Duration>) {
    for (events, how) in [
        (false, "polling alone (every 0.5 s)"),
        (true, "Marathon's event stream"),
    ] {
        let took = measure(events);
        println!(
            "{what}, {how}: p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms over {} {unit}",
            percentile(&took, 0.5).as_secs_f64() * 1e3,
            percentile(&took, 0.9).as_secs_f64() * 1e3,
            took.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
            changes_n(),
        );
    }
}

fn main() {
    println!(
        "VIP loop against the emulators (config API with svc-monitor, Marathon, Mesos master)"
    );
    println!();
    report_latency("Marathon change -> Contrail in step", "changes", latency);
    println!(
        "  (polling: up to the interval, half of it on average; events: a pass 20 ms after \
         Marathon's first event of a change, to gather the rest)"
    );
    println!();

    // Calls per member change, one pass each.
    let w = world();
    let m = manager::start(w.settings(Duration::ZERO)).expect("manager");
    w.wait_service_network();
    let src = vip::sync::Sources::new(&w.marathon.url(), &w.mesos.url(), Duration::from_secs(60))
        .expect("sources");
    let tasks: Vec<Task> = (0..3).map(|n| w.task("/web", n)).collect();
    w.publish(&[("/web".into(), tasks.iter().take(2).collect())]);
    let first = vip::sync::run_once(&m.service, &src, false).expect("pass");
    w.publish(&[("/web".into(), tasks.iter().collect())]);
    let add = vip::sync::run_once(&m.service, &src, false).expect("pass");
    w.publish(&[("/web".into(), tasks.iter().take(2).collect())]);
    let remove = vip::sync::run_once(&m.service, &src, false).expect("pass");
    println!(
        "config API calls: a new VIP with 2 members {} ({} objects made); a member added {}; a member removed {} (3 of each are the pass's reads, 1 the read of svc-monitor's floating IP)",
        first.calls, first.created, add.calls, remove.calls
    );
    m.shutdown();
    drop(w);
    println!();

    // A named VIP's DNS record after its app appears.
    report_latency(
        "new app with a named VIP -> its DNS record in the virtual-DNS",
        "apps",
        record_latency,
    );
    println!();

    // 1,000 VIP apps x 10 tasks, in step: one pass, without and with records.
    idle_pass(false);
    println!();
    idle_pass(true);
}
