//! `make bench-manager`: task ADD and DEL through one manager process against the config API
//! emulator, at 0 ms and 5 ms per config API call and concurrency 1, 8 and 32, then against
//! upstream's real config API server (behind a counting proxy) at concurrency 1 and 8. Prints
//! throughput, latency percentiles, config API calls per task (in all, and in sequence), the
//! manager's RSS after 10,000 live tasks, and on the real server the CPU time the manager and
//! upstream's server spend per task, with the targets. Figures only; nothing is asserted on
//! time. `BENCH_SMOKE=1` runs a few tasks of each (CI: the bench still works).

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use contrail_mesos_sim::config_api::{ConfigApiOptions, ConfigApiProxy, ConfigApiSim};
use contrail_mesos_sim::config_rest::ConfigRest;
use contrail_mesos_sim::real_api::{RealApi, RealApiOptions, cpu_time};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_contrail-mesos");

struct Manager {
    child: Child,
    url: String,
}

impl Drop for Manager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(16991)
}

fn start_manager(api: &str) -> Manager {
    let port = free_port();
    let child = Command::new(BIN)
        .args([
            "manager",
            "--listen",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--vnc-endpoint",
            api,
            "--workers",
            "64",
            "--reconcile-interval",
            "0",
            "--log-level",
            "warn",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the manager");
    let url = format!("http://127.0.0.1:{port}");
    let http = agent();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if http
            .get(format!("{url}/healthz"))
            .call()
            .is_ok_and(|r| r.status().as_u16() == 200)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Manager { child, url }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// The node's router is named after its host (as in a real deployment); the plugin says so.
const NODE: &str = "bench-node-1";

fn body(cid: &str, cmd: &str) -> Value {
    let conf = json!({"cniVersion": "0.2.0", "contrail": {"vrouter-ip": "127.0.0.1", "cluster-name": "mesos"},
        "args": {"org.apache.mesos": {"network_info": {"labels": {"labels": [
            {"key": "networks", "value": "bench-net"}, {"key": "network-subnets", "value": "10.200.0.0/16"},
            {"key": "project-name", "value": "default-project"}]}}}}});
    json!({"cid": cid, "cmd": cmd, "args": conf.to_string(),
           "node": {"hostname": NODE, "addresses": ["10.64.0.9"]}})
}

/// Run `calls` over `conc` threads; returns (wall time, per-call latencies).
fn drive(url: &str, path: &str, cids: &[String], conc: usize) -> (Duration, Vec<Duration>) {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let lat: Vec<Vec<Duration>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..conc)
            .map(|_| {
                let next = &next;
                s.spawn(move || {
                    let http = agent();
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(cid) = cids.get(i) else { break };
                        let cmd = if path.contains("add") { "ADD" } else { "DEL" };
                        let t = Instant::now();
                        let r = http
                            .post(format!("{url}{path}"))
                            .send_json(body(cid, cmd))
                            .expect("request");
                        assert_eq!(r.status().as_u16(), 200, "{path} {cid}");
                        mine.push(t.elapsed());
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect()
    });
    (started.elapsed(), lat.into_iter().flatten().collect())
}

/// One row's measurement: `tasks` fresh containers ADDed then DELeted over `conc` threads,
/// with the config API calls each made (`calls`: the backend's request counter, `reset` sets
/// it to zero).
struct Round {
    add_rate: f64,
    add: Vec<Duration>,
    del_rate: f64,
    del: Vec<Duration>,
    calls_add: f64,
    calls_del: f64,
}

fn round(url: &str, tasks: usize, conc: usize, reset: &dyn Fn(), calls: &dyn Fn() -> u64) -> Round {
    let cids: Vec<String> = (0..tasks)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let one = |path: &str| {
        reset();
        let (wall, mut lat) = drive(url, path, &cids, conc);
        lat.sort();
        let per_task = calls() as f64 / tasks as f64;
        (tasks as f64 / wall.as_secs_f64(), lat, per_task)
    };
    let (add_rate, add, calls_add) = one("/add_cni_info");
    let (del_rate, del, calls_del) = one("/del_cni_info");
    Round {
        add_rate,
        add,
        del_rate,
        del,
        calls_add,
        calls_del,
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn rss_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let smoke = std::env::var_os("BENCH_SMOKE").is_some();
    emulator(smoke);
    real_server(smoke);
}

/// Calls a plain ADD makes one after the other: how much its median grows per millisecond of
/// latency added to every call (`set_latency` at 0 and at `ms`).
fn sequential_calls(url: &str, set_latency: &dyn Fn(Duration), ms: u64, tasks: usize) -> f64 {
    let mut p50 = [0.0f64; 2];
    for (i, lat) in [0, ms].into_iter().enumerate() {
        set_latency(Duration::from_millis(lat));
        let cids: Vec<String> = (0..tasks)
            .map(|_| uuid::Uuid::new_v4().to_string())
            .collect();
        let (_, mut lat) = drive(url, "/add_cni_info", &cids, 1);
        lat.sort();
        p50[i] = pct(&lat, 0.5);
        drive(url, "/del_cni_info", &cids, 1);
    }
    set_latency(Duration::ZERO);
    (p50[1] - p50[0]) / ms as f64
}

/// The same ADDs and DELs against upstream's real config API server (started here from the
/// project's launcher), behind a proxy that counts the manager's calls.
fn real_server(smoke: bool) {
    let server = match RealApi::start(RealApiOptions::default()) {
        Ok(s) => s,
        Err(e) => {
            contrail_mesos_sim::require(
                false,
                "bench-manager on upstream's config API server",
                &format!("{e:#}"),
            );
            return;
        }
    };
    let proxy = ConfigApiProxy::start(&server.url(), 64).expect("proxy");
    ConfigRest::new(&server.url())
        .add_virtual_router(NODE, "10.64.0.9")
        .expect("router");
    let m = start_manager(&proxy.url());
    println!(
        "\nupstream's config API server (vnc_cfg_api_server on its unit-test fakes, {}), one \
         manager process ({}), calls counted by a proxy",
        server.url(),
        m.url
    );
    // The network is made by the first ADD; not part of the figures.
    let warm = vec![uuid::Uuid::new_v4().to_string()];
    drive(&m.url, "/add_cni_info", &warm, 1);
    drive(&m.url, "/del_cni_info", &warm, 1);
    println!(
        "{:>5} {:>7} {:>8} {:>9} {:>9} {:>8} {:>9} {:>10} {:>10} {:>16} {:>16}",
        "conc",
        "tasks",
        "ADD/s",
        "ADD p50",
        "ADD p99",
        "DEL/s",
        "DEL p50",
        "calls/ADD",
        "calls/DEL",
        "manager CPU/task",
        "server CPU/task"
    );
    let cpu = |pid: u32| cpu_time(pid).unwrap_or_default().as_secs_f64() * 1000.0;
    for conc in [1usize, 8] {
        let tasks = match (smoke, conc) {
            (true, _) => 10,
            (_, 1) => 200,
            _ => 400,
        };
        let (m0, s0) = (cpu(m.child.id()), cpu(server.pid()));
        let r = round(
            &m.url,
            tasks,
            conc,
            &|| proxy.reset_request_count(),
            &|| proxy.request_count(),
        );
        let (m1, s1) = (cpu(m.child.id()), cpu(server.pid()));
        println!(
            "{:>5} {:>7} {:>8.1} {:>7.1}ms {:>7.1}ms {:>8.1} {:>7.1}ms {:>10.2} {:>10.2} {:>14.2}ms {:>14.2}ms",
            conc,
            tasks,
            r.add_rate,
            pct(&r.add, 0.5),
            pct(&r.add, 0.99),
            r.del_rate,
            pct(&r.del, 0.5),
            r.calls_add,
            r.calls_del,
            (m1 - m0) / tasks as f64,
            (s1 - s0) / tasks as f64,
        );
    }
    // Upstream's server answers in 10 to 20 ms and varies: a larger step than the emulator's.
    let seq = sequential_calls(
        &m.url,
        &|d| proxy.set_latency(d),
        50,
        if smoke { 10 } else { 60 },
    );
    println!(
        "calls in sequence per ADD (ADD p50 growth per ms of latency added to each call, 0 -> \
         50 ms): {seq:.1} (target <= 4); CPU per task = its ADD and its DEL"
    );
}

/// The config API emulator in this process: the rows at 0 and 5 ms per call, and memory.
fn emulator(smoke: bool) {
    let sim = ConfigApiSim::start(ConfigApiOptions {
        workers: 64,
        ..ConfigApiOptions::default()
    })
    .expect("config API emulator");
    sim.add_virtual_router(NODE, "10.64.0.9").expect("router");
    let m = start_manager(&sim.url());
    println!(
        "manager benchmark: one manager process ({}), config API emulator in this process",
        m.url
    );
    println!(
        "{:>8} {:>5} {:>7} {:>10} {:>9} {:>9} {:>10} {:>9} {:>10} {:>10}",
        "latency",
        "conc",
        "tasks",
        "ADD/s",
        "ADD p50",
        "ADD p99",
        "DEL/s",
        "DEL p50",
        "calls/ADD",
        "calls/DEL"
    );
    let mut p50 = std::collections::HashMap::new();
    let mut calls_add = 0.0f64;
    let mut add_rates = std::collections::HashMap::new();
    for latency_ms in [0u64, 5] {
        sim.set_latency(Duration::from_millis(latency_ms));
        for conc in [1usize, 8, 32] {
            let tasks = match (smoke, latency_ms, conc) {
                (true, _, _) => 20,
                (_, 0, _) => 2000,
                (_, _, 1) => 150,
                (_, _, 8) => 600,
                _ => 1500,
            };
            let r = round(&m.url, tasks, conc, &|| sim.reset_request_count(), &|| {
                sim.request_count()
            });
            add_rates.insert((latency_ms, conc), r.add_rate);
            p50.insert((latency_ms, conc), (pct(&r.add, 0.5), pct(&r.del, 0.5)));
            if (latency_ms, conc) == (5, 1) {
                calls_add = r.calls_add;
            }
            println!(
                "{:>6}ms {:>5} {:>7} {:>10.0} {:>7.1}ms {:>7.1}ms {:>10.0} {:>7.1}ms {:>10.2} {:>10.2}",
                latency_ms,
                conc,
                tasks,
                r.add_rate,
                pct(&r.add, 0.5),
                pct(&r.add, 0.99),
                r.del_rate,
                pct(&r.del, 0.5),
                r.calls_add,
                r.calls_del
            );
        }
    }
    let (add5, del5) = p50.get(&(5, 1)).copied().unwrap_or_default();
    println!(
        "at 5 ms per call, concurrency 1: ADD p50 {add5:.1} ms (target <= 4 x 5 + 3 = 23 ms: \
         at most 4 calls in sequence), DEL p50 {del5:.1} ms (4 calls in sequence = 20 ms); \
         calls per plain ADD {calls_add:.2} (target <= 6)"
    );
    let scale = add_rates.get(&(5, 32)).copied().unwrap_or(0.0)
        / add_rates.get(&(5, 1)).copied().unwrap_or(1.0);
    println!("at 5 ms per call, concurrency 32 / concurrency 1 = {scale:.1}x (target >= 8x)");
    let seq = sequential_calls(
        &m.url,
        &|d| sim.set_latency(d),
        20,
        if smoke { 10 } else { 60 },
    );
    println!(
        "calls in sequence per ADD (ADD p50 growth per ms of latency added to each call, 0 -> \
         20 ms): {seq:.1} (target <= 4)"
    );
    println!(
        "at 0 ms, best ADD/s = {:.0} (target >= 200)",
        [1, 8, 32]
            .iter()
            .filter_map(|c| add_rates.get(&(0, *c)))
            .fold(0.0f64, |a, b| a.max(*b))
    );

    // Memory: 10,000 live tasks.
    sim.set_latency(Duration::ZERO);
    let live = if smoke { 200 } else { 10_000 };
    let cids: Vec<String> = (0..live)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    let pid = m.child.id();
    let before = rss_kib(pid, "VmRSS:");
    let (wall, _) = drive(&m.url, "/add_cni_info", &cids, 32);
    let (rss, hwm) = (rss_kib(pid, "VmRSS:"), rss_kib(pid, "VmHWM:"));
    println!(
        "{live} live tasks added in {:.1} s; manager RSS {:.1} MiB (peak {:.1} MiB, {:.1} MiB before) (target with 10000: <= 30 MiB)",
        wall.as_secs_f64(),
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
        before as f64 / 1024.0
    );
    drive(&m.url, "/del_cni_info", &cids, 32);
    println!(
        "after deleting them: {:.1} MiB; virtual-machines left: {}",
        rss_kib(pid, "VmRSS:") as f64 / 1024.0,
        sim.count("virtual-machine")
    );
}
