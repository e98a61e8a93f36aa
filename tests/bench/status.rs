//! `make bench-status`: `contrail-mesos status` over 10,000 and 50,000 tasks (Marathon apps of
//! 100 tasks, the Mesos master's state, and their Contrail VMs, interfaces and addresses in the
//! config API emulator). Prints the time of the whole command, JSON and table, its peak RSS
//! and the targets (10,000 in 1 s, 50,000 in 4 s; peak RSS at most 256 MiB). Figures only.
//! `BENCH_SMOKE=1`: 200 tasks.

use std::process::Command;
use std::time::{Duration, Instant};

use contrail_mesos_sim::config_api::{ConfigApiOptions, ConfigApiSim};
use contrail_mesos_sim::marathon::{self as ma, MarathonSim};
use contrail_mesos_sim::mesos::{self as ms, MesosSim};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_contrail-mesos");

/// The most `status` may take of memory, at any size measured.
const RSS_TARGET_MIB: u64 = 256;

fn main() {
    // BENCH_SMOKE=1: a few tasks (CI: the bench still works).
    let runs: &[(usize, f64)] = if std::env::var_os("BENCH_SMOKE").is_some() {
        &[(200, 1.0)]
    } else {
        &[(10_000, 1.0), (50_000, 4.0)]
    };
    for (tasks, target) in runs {
        run(*tasks, *target);
    }
}

/// Seed `tasks` tasks in fresh emulators and time `status` over them.
fn run(tasks: usize, target_s: f64) {
    let config = ConfigApiSim::start(ConfigApiOptions::default()).expect("config API emulator");
    let net = ["default-domain", "default-project", "bench-net"];
    let vn = config
        .add_network(&net, &["10.100.0.0/16"])
        .expect("network");
    let seeded = Instant::now();
    let mut apps = Vec::new();
    let mut master_tasks = Vec::new();
    for a in 0..tasks / 100 {
        let app_id = format!("/bench/app{a}");
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let cid = uuid::Uuid::new_v4().to_string();
            let vm = cid.clone();
            config
                .create("virtual-machine", json!({"uuid": vm, "fq_name": [cid], "server_type": "container",
                    "annotations": {"key_value_pair": [{"key": "owner", "value": "mesos"}, {"key": "cluster", "value": "mesos"},
                        {"key": "container-id", "value": cid}]}}))
                .expect("vm");
            let vmi_fq = json!(["default-domain", "default-project", format!("{cid}@eth0")]);
            let vmi = config
                .create(
                    "virtual-machine-interface",
                    json!({"fq_name": vmi_fq, "parent_type": "project",
                    "virtual_network_refs": [{"to": net, "uuid": vn}],
                    "virtual_machine_refs": [{"to": [cid], "uuid": vm}]}),
                )
                .expect("vmi");
            let iip = config
                .create(
                    "instance-ip",
                    json!({"fq_name": [format!("{cid}@eth0")],
                    "virtual_network_refs": [{"to": net, "uuid": vn}],
                    "virtual_machine_interface_refs": [{"to": vmi_fq, "uuid": vmi}]}),
                )
                .expect("iip");
            let ip = config
                .get("instance-ip", &iip)
                .and_then(|v| v["instance_ip_address"].as_str().map(str::to_string))
                .expect("address");
            let t = ma::app_task(&app_id, "agent1", &ip, ms::SLAVE_ID);
            master_tasks.push(ms::running_task(
                t["id"].as_str().unwrap_or_default(),
                &cid,
                &ip,
            ));
            tasks.push(t);
        }
        apps.push(ma::with_tasks(
            ma::networks_app(&app_id, "contrail-cni-plugin", &[("networks", "bench-net")]),
            tasks,
        ));
    }
    let marathon = MarathonSim::start("127.0.0.1:0").expect("marathon");
    marathon.set_apps(apps).expect("apps");
    let mesos = MesosSim::start("127.0.0.1:0").expect("mesos");
    mesos
        .set_state(ms::state_with_tasks(master_tasks, vec![]))
        .expect("state");
    println!(
        "status benchmark: {tasks} tasks seeded in {:.1} s",
        seeded.elapsed().as_secs_f64()
    );
    // What each peer costs on its own (the emulators' side of the total).
    let http: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let api = config.url();
    let gets = [
        (
            "virtual-machines",
            format!(
                "{api}/virtual-machines?detail=true&exclude_hrefs=true&fields=fq_name,server_type,annotations,id_perms,virtual_machine_interface_back_refs"
            ),
        ),
        (
            "virtual-machine-interfaces",
            format!(
                "{api}/virtual-machine-interfaces?detail=true&exclude_hrefs=true&fields=fq_name,annotations,virtual_machine_refs,virtual_network_refs,security_group_refs,virtual_machine_interface_mac_addresses"
            ),
        ),
        (
            "instance-ips",
            format!(
                "{api}/instance-ips?detail=true&exclude_hrefs=true&fields=instance_ip_address,virtual_machine_interface_refs"
            ),
        ),
        (
            "marathon apps",
            format!("{}/v2/apps?embed=apps.tasks", marathon.url()),
        ),
        ("mesos state", format!("{}/master/state", mesos.url())),
    ];
    for parallel in [false, true] {
        println!(
            "  the peers' answers, {}:",
            if parallel {
                "all at once"
            } else {
                "one after the other"
            }
        );
        std::thread::scope(|s| {
            let handles: Vec<_> = gets
                .iter()
                .map(|(name, url)| {
                    let http = http.clone();
                    let run = move || {
                        let t = Instant::now();
                        let body = http.get(url).call().and_then(|mut r| {
                            r.body_mut().with_config().limit(1 << 30).read_to_string()
                        });
                        format!(
                            "    GET {name:<27} {:>6.0} ms, {:>5.1} MB",
                            t.elapsed().as_secs_f64() * 1000.0,
                            body.map(|b| b.len()).unwrap_or(0) as f64 / 1e6
                        )
                    };
                    if parallel {
                        Some(s.spawn(run))
                    } else {
                        println!("{}", run());
                        None
                    }
                })
                .collect();
            for h in handles.into_iter().flatten() {
                println!("{}", h.join().unwrap_or_default());
            }
        });
    }
    for (label, extra) in [("--json", Some("--json")), ("table", None)] {
        let mut times = Vec::new();
        let mut peak_kib = 0u64;
        for _ in 0..3 {
            // /usr/bin/time reports the command's peak RSS (KiB) on the last line of stderr.
            let mut cmd = Command::new("/usr/bin/time");
            cmd.args(["-f", "%M", BIN]);
            cmd.args([
                "status",
                "--api",
                &config.url(),
                "--marathon",
                &marathon.url(),
                "--mesos",
                &mesos.url(),
            ]);
            if let Some(x) = extra {
                cmd.arg(x);
            }
            let t = Instant::now();
            let out = cmd.output().expect("run status");
            times.push(t.elapsed());
            let stderr = String::from_utf8_lossy(&out.stderr);
            let mut lines: Vec<&str> = stderr.lines().collect();
            if let Some(kib) = lines.pop().and_then(|l| l.trim().parse::<u64>().ok()) {
                peak_kib = peak_kib.max(kib);
            }
            for l in lines {
                eprintln!("{l}");
            }
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let rows = String::from_utf8_lossy(&out.stdout)
                .matches("bench/app")
                .count();
            assert!(rows >= tasks, "status printed {rows} rows");
        }
        times.sort();
        let median: Duration = times[1];
        println!(
            "status {label:<6} over {tasks} tasks: median {:.2} s (runs {:?}) (target <= {target_s} s), peak RSS {:.0} MiB (target <= {RSS_TARGET_MIB} MiB)",
            median.as_secs_f64(),
            times
                .iter()
                .map(|t| format!("{:.2}", t.as_secs_f64()))
                .collect::<Vec<_>>(),
            peak_kib as f64 / 1024.0
        );
    }
}
