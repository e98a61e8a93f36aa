//! `contrail-mesos status` against Marathon and Mesos master emulators, on the config API
//! emulator and on upstream's real config API server: an app in the legacy ipAddress form, an
//! app in the networks form, a pod, and an orphan; table and JSON; unreachable services named.

mod common;

use std::process::Command;

use common::*;
use contrail_mesos::applets::manager;
use contrail_mesos_sim::marathon::{self as ma, MarathonSim};
use contrail_mesos_sim::mesos::{self as ms, MesosSim};
use serde_json::{Value, json};

both_backends! {
    json_and_table_join_marathon_mesos_and_contrail: Real;
    unreachable_services_are_named: Real;
}

fn add(url: &str, cid: &str, labels: &[(&str, &str)]) -> Value {
    let (status, a) = node_add(url, cid, labels);
    assert_eq!(status, 200, "{a}");
    a["interfaces"][0].clone()
}

/// `status` with `args`, for the cluster `w`'s manager serves (its config file).
fn status(w: &World, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .arg("status")
        .args(args)
        .arg("-c")
        .arg(&w.conf.path)
        .output()
        .expect("run status");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

struct World {
    env: Env,
    marathon: MarathonSim,
    mesos: MesosSim,
    ips: Vec<String>,
    orphan: String,
    /// The manager's config file, naming the cluster.
    conf: ConfFile,
}

fn world(env: Env) -> World {
    let m = manager::start(env.settings()).expect("manager");
    let (c_legacy, c_new, c_pod, orphan) = (env.cid(), env.cid(), env.cid(), env.cid());
    let mut labels = env.blue();
    let fip = format!("{}(10.66.77.5)", env.pool());
    labels.push(("floating-ips", &fip));
    labels.push(("security-groups", env.sg()));
    let legacy = add(&m.url(), &c_legacy, &labels);
    let modern = add(&m.url(), &c_new, &env.blue());
    let pod = add(&m.url(), &c_pod, &env.blue());
    add(&m.url(), &orphan, &env.blue());
    m.shutdown();
    let ip = |i: &Value| i["ip-address"].as_str().unwrap_or_default().to_string();
    let ips = vec![ip(&legacy), ip(&modern), ip(&pod)];

    let marathon = MarathonSim::start("127.0.0.1:0").expect("marathon");
    let t_legacy = ma::app_task("/legacy", "agent1", &ips[0], ms::SLAVE_ID);
    let t_new = ma::app_task("/web", "agent1", &ips[1], ms::SLAVE_ID);
    let legacy_id = t_legacy["id"].as_str().unwrap_or_default().to_string();
    let new_id = t_new["id"].as_str().unwrap_or_default().to_string();
    marathon
        .set_apps(vec![
            ma::with_tasks(
                ma::legacy_app(
                    "/legacy",
                    "contrail-cni-plugin",
                    &[("networks", "blue-network")],
                ),
                vec![t_legacy],
            ),
            ma::with_tasks(
                ma::networks_app(
                    "/web",
                    "contrail-cni-plugin",
                    &[("networks", "blue-network")],
                ),
                vec![t_new],
            ),
        ])
        .expect("apps");
    let pod_def = ma::pod(
        "/pod",
        "contrail-cni-plugin",
        &[("networks", "blue-network")],
        &["c1"],
    );
    let inst = ma::pod_instance("/pod", "agent2", "contrail-cni-plugin", &ips[2], &["c1"]);
    let pod_task = inst["containers"][0]["containerId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    marathon
        .set_pods(
            vec![pod_def.clone()],
            vec![ma::pod_status(&pod_def, vec![inst])],
        )
        .expect("pods");
    let mesos = MesosSim::start("127.0.0.1:0").expect("mesos");
    mesos
        .set_state(ms::state_with_tasks(
            vec![
                ms::running_task(&legacy_id, &c_legacy, &ips[0]),
                ms::running_task(&new_id, &c_new, &ips[1]),
                ms::running_pod_task(&pod_task, &c_pod, &env.cid(), &ips[2]),
            ],
            vec![],
        ))
        .expect("state");
    World {
        conf: env.cluster_conf(),
        env,
        marathon,
        mesos,
        ips,
        orphan,
    }
}

fn json_and_table_join_marathon_mesos_and_contrail(env: Env) {
    let w = world(env);
    let (api, mar, mes) = (w.env.config.url(), w.marathon.url(), w.mesos.url());
    // Global options after the sub-command and before it.
    let (code, out, err) = status(
        &w,
        &["--api", &api, "--marathon", &mar, "--mesos", &mes, "--json"],
    );
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).expect("JSON");
    let tasks = doc["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 3, "{doc}");
    let row = |id: &str| {
        tasks
            .iter()
            .find(|t| t["id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let legacy = row("/legacy");
    assert_eq!(legacy["kind"], "app");
    assert_eq!(
        legacy["cni_networks"],
        json!(["contrail-cni-plugin"]),
        "legacy ipAddress form read"
    );
    assert_eq!(
        row("/web")["cni_networks"],
        json!(["contrail-cni-plugin"]),
        "networks form read"
    );
    assert_eq!(legacy["host"], "agent1");
    assert_eq!(legacy["interfaces"][0]["ips"][0], w.ips[0].as_str());
    assert_eq!(legacy["interfaces"][0]["floating_ips"][0], "10.66.77.5");
    assert_eq!(legacy["interfaces"][0]["security_groups"][0], w.env.sg());
    assert_eq!(
        legacy["interfaces"][0]["network"],
        w.env.fq_str("blue-network")
    );
    assert!(
        legacy["interfaces"][0]["mac"]
            .as_str()
            .is_some_and(|m| m.starts_with("02:"))
    );
    // blue-network was made from labels: it has the cluster's policies.
    assert_eq!(
        legacy["interfaces"][0]["policies"],
        json!([
            w.env.cluster_fq("default-ip-fabric-np").join(":"),
            w.env.cluster_fq("default-pod-service-np").join(":"),
            w.env.cluster_fq("default-service-np").join(":")
        ])
    );
    assert_eq!(row("/web")["interfaces"][0]["ips"][0], w.ips[1].as_str());
    let pod = row("/pod");
    assert_eq!(pod["kind"], "pod");
    assert_eq!(pod["host"], "agent2");
    assert_eq!(pod["interfaces"][0]["ips"][0], w.ips[2].as_str());
    let orphans = doc["orphans"].as_array().expect("orphans");
    assert_eq!(orphans.len(), 1);
    assert_eq!(orphans[0]["container_id"], w.orphan.as_str());

    let (code, table, err) = status(&w, &["--api", &api, "--marathon", &mar, "--mesos", &mes]);
    assert_eq!(code, 0, "{err}");
    let header = table.lines().next().unwrap_or_default();
    for col in [
        "APP/POD",
        "TASK",
        "HOST",
        "STATE",
        "NETWORK",
        "IP",
        "MAC",
        "FLOATING IPS",
        "SECURITY GROUPS",
        "POLICIES",
    ] {
        assert!(header.contains(col), "{header}");
    }
    let legacy_line = table
        .lines()
        .find(|l| l.starts_with("/legacy"))
        .expect("legacy row");
    assert!(
        legacy_line.contains(&w.ips[0])
            && legacy_line.contains("10.66.77.5")
            && legacy_line.contains(&w.env.cluster_fq("default-ip-fabric-np")[2]),
        "{legacy_line}"
    );
    // Columns line up: every row's IP starts where the header's IP column does.
    let col = header.find("IP ").expect("IP column");
    assert_eq!(legacy_line.find(&w.ips[0]), Some(col), "{table}");
    assert!(
        table.contains("orphaned container VMs:") && table.contains(&w.orphan),
        "{table}"
    );
}

fn unreachable_services_are_named(env: Env) {
    let w = world(env);
    let dead = format!("http://127.0.0.1:{}", {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    });
    let (code, _, err) = status(
        &w,
        &[
            "--api",
            &w.env.config.url(),
            "--marathon",
            &dead,
            "--mesos",
            &w.mesos.url(),
        ],
    );
    assert_ne!(code, 0);
    assert!(err.contains("Marathon") && err.contains(&dead), "{err}");
    let (code, _, err) = status(
        &w,
        &[
            "--api",
            &dead,
            "--marathon",
            &w.marathon.url(),
            "--mesos",
            &w.mesos.url(),
        ],
    );
    assert_ne!(code, 0);
    assert!(err.contains("Contrail") && err.contains(&dead), "{err}");
    // Without the master the join falls back to addresses, with a warning.
    let (code, out, err) = status(
        &w,
        &[
            "--api",
            &w.env.config.url(),
            "--marathon",
            &w.marathon.url(),
            "--mesos",
            &dead,
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&dead), "{err}");
    let doc: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(doc["tasks"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        doc["tasks"][0]["interfaces"].as_array().map(Vec::len),
        Some(1)
    );
}
