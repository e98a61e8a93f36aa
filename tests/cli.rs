//! The operator CLIs `fip` and `sg`, on the config API emulator and on upstream's real config
//! API server: every sub-command and its error paths.

mod common;

use std::process::Command;

use common::*;
use contrail_mesos::applets::manager;
use serde_json::{Value, json};

both_backends! {
    fip_lifecycle: Real;
    fip_errors_name_what_is_wrong: Real;
    sg_lifecycle_and_errors: Real;
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        assert_eq!(self.code, 0, "failed: {}", self.stderr);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    fn ok(&self) {
        assert_eq!(self.code, 0, "failed: {}", self.stderr);
    }

    /// Failed, with a message naming `needle`.
    fn refused(&self, needle: &str) {
        assert_ne!(self.code, 0, "succeeded: {}", self.stdout);
        assert!(
            self.stderr.contains(needle),
            "error should name {needle:?}: {}",
            self.stderr
        );
    }
}

fn cli(args: &[&str]) -> Out {
    let out = Command::new(BIN).args(args).output().expect("run CLI");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// One task (container `cid`, eth0) made by the manager.
fn task(env: &Env) -> String {
    let m = manager::start(env.settings()).expect("manager");
    let cid = env.cid();
    let conf = json!({"cniVersion": "0.2.0", "contrail": {"vrouter-ip": "127.0.0.1"},
        "args": {"labels": {"networks": "blue-network", "network-subnets": "5.5.5.0/24", "project-name": env.project}}});
    // The labels as a {key: value} object in args.labels, as runtimes other than Mesos send.
    let (status, a) = post_json(
        &format!("{}/add_cni_info", m.url()),
        &json!({"cid": cid, "cmd": "ADD", "args": conf.to_string(), "node": node_info()}),
    );
    assert_eq!(status, 200, "{a}");
    m.shutdown();
    cid
}

fn fip_lifecycle(env: Env) {
    let (c, cid) = (&env.config, task(&env));
    let api = c.url();
    let (pool, pool2) = (env.pool(), env.pool2());
    let a = cli(&[
        "fip",
        "--api",
        &api,
        "allocate",
        pool,
        "--address",
        "10.66.77.40",
        "--json",
    ])
    .json();
    assert_eq!(a["address"], "10.66.77.40");
    assert_eq!(a["pool"], pool);
    assert_eq!(a["project"], format!("default-domain:{}", env.project));
    let uuid = a["uuid"].as_str().expect("uuid").to_string();
    // Any free address, options after the arguments.
    let b = cli(&["fip", "allocate", pool2, "--api", &api, "--json"]).json();
    assert!(
        b["address"].as_str().is_some_and(|x| x.starts_with("10.")),
        "{b}"
    );

    let l = cli(&["fip", "--api", &api, "--json", "list"]).json();
    let ours = |l: &Value| {
        l["floating_ips"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["pool"] == pool || f["pool"] == pool2)
            .count()
    };
    assert_eq!(ours(&l), 2, "{l}");
    assert!(
        l["pools"]
            .as_array()
            .is_some_and(|p| p.iter().any(|x| x["pool"] == pool && x["allocated"] == 1))
    );
    let only = cli(&["fip", "--api", &api, "--json", "list", "--pool", pool]).json();
    assert_eq!(
        only["floating_ips"].as_array().map(Vec::len),
        Some(1),
        "{only}"
    );

    let r = cli(&[
        "fip",
        "--api",
        &api,
        "--json",
        "associate",
        "10.66.77.40",
        "--task",
        &cid,
    ])
    .json();
    assert_eq!(r["bound_to"][0]["task"], format!("{cid}/eth0"));
    let vmi = contrail_mesos::domain::ids::vmi_uuid(&cid, "eth0");
    assert_eq!(
        c.get("floating-ip", &uuid).expect("fip")["virtual_machine_interface_refs"][0]["uuid"],
        vmi.as_str()
    );
    let table = cli(&["fip", "--api", &api, "list"]);
    assert_eq!(table.code, 0);
    assert!(
        table.stdout.contains("ADDRESS") && table.stdout.contains(&format!("{cid}/eth0")),
        "{}",
        table.stdout
    );

    let r = cli(&["fip", "--api", &api, "--json", "disassociate", &uuid]).json();
    assert_eq!(r["bound_to"], json!([]));
    cli(&["fip", "--api", &api, "--json", "release", "10.66.77.40"]).json();
    assert!(c.get("floating-ip", &uuid).is_none());
    assert_eq!(c.count("floating-ip"), 1);
}

fn fip_errors_name_what_is_wrong(env: Env) {
    let (c, cid) = (&env.config, task(&env));
    let api = c.url();
    let pool = env.pool();
    let nopool = format!("{}:nopool", env.fq_str("__public__"));
    cli(&["fip", "--api", &api, "allocate", &nopool]).refused("nopool");
    cli(&["fip", "--api", &api, "allocate", "a:b"]).refused("a:b");
    cli(&[
        "fip",
        "--api",
        &api,
        "allocate",
        pool,
        "--address",
        "192.0.2.1",
    ])
    .refused("192.0.2.1");
    let held = cli(&[
        "fip",
        "--api",
        &api,
        "--json",
        "allocate",
        pool,
        "--address",
        "10.66.77.41",
    ])
    .json();
    cli(&[
        "fip",
        "--api",
        &api,
        "associate",
        "10.66.77.41",
        "--task",
        &cid,
    ])
    .ok();
    let taken = cli(&[
        "fip",
        "--api",
        &api,
        "allocate",
        pool,
        "--address",
        "10.66.77.41",
    ]);
    taken.refused("taken");
    assert!(
        taken.stderr.contains(held["uuid"].as_str().unwrap_or("?")) && taken.stderr.contains(&cid),
        "owner named: {}",
        taken.stderr
    );
    cli(&[
        "fip",
        "--api",
        &api,
        "associate",
        "10.66.77.41",
        "--task",
        "no-such-task",
    ])
    .refused("no-such-task");
    cli(&["fip", "--api", &api, "release", "10.66.77.99"]).refused("10.66.77.99");
    cli(&["fip", "--api", &api, "release", "not-an-ip"]).refused("not-an-ip");
    let dead = "http://127.0.0.1:9";
    cli(&["fip", "--api", dead, "list"]).refused(dead);
}

fn sg_lifecycle_and_errors(env: Env) {
    let (c, cid) = (&env.config, task(&env));
    let api = c.url();
    let fq = &env.fq_str("web");
    let sg = env.sg();
    let s = cli(&[
        "sg",
        "--api",
        &api,
        "--json",
        "create",
        fq,
        "--rule",
        "ingress,tcp,80-90,10.0.0.0/8",
        "--rule",
        "egress,any,any,0.0.0.0/0",
    ])
    .json();
    assert_eq!(s["rules"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        s["rules"][0],
        json!({"direction": "ingress", "protocol": "tcp", "ports": "80-90", "remote": "10.0.0.0/8"})
    );
    cli(&["sg", "--api", &api, "create", fq]).refused("already exists");
    cli(&[
        "sg",
        "--api",
        &api,
        "create",
        fq,
        "--rule",
        "sideways,tcp,1,0.0.0.0/0",
    ])
    .refused("sideways");

    let s = cli(&[
        "sg",
        "--api",
        &api,
        "--json",
        "add-rule",
        fq,
        "--direction",
        "ingress",
        "--protocol",
        "udp",
        "--ports",
        "53",
        "--remote-sg",
        sg,
    ])
    .json();
    assert_eq!(s["rules"][2]["remote"], format!("sg:{sg}"));
    cli(&[
        "sg",
        "--api",
        &api,
        "add-rule",
        fq,
        "--direction",
        "ingress",
        "--remote-sg",
        &env.fq_str("ghost"),
    ])
    .refused("ghost");

    let s = cli(&["sg", "--api", &api, "--json", "attach", fq, "--task", &cid]).json();
    assert_eq!(s["users"][0]["task"], format!("{cid}/eth0"));
    let listed = cli(&["sg", "--api", &api, "--json", "list"]).json();
    assert!(
        listed.as_array().is_some_and(|l| l
            .iter()
            .any(|x| x["fq_name"] == *fq && x["users"] == 1 && x["rules"] == 3)),
        "{listed}"
    );
    let shown = cli(&["sg", "--api", &api, "show", fq]);
    assert!(
        shown.stdout.contains("DIRECTION") && shown.stdout.contains(&format!("{cid}/eth0")),
        "{}",
        shown.stdout
    );

    let refused = cli(&["sg", "--api", &api, "delete", fq]);
    refused.refused("used by");
    assert!(
        refused.stderr.contains(&format!("{cid}/eth0")),
        "users named: {}",
        refused.stderr
    );
    let s = cli(&["sg", "--api", &api, "--json", "detach", fq, "--task", &cid]).json();
    assert_eq!(s["users"], json!([]));
    cli(&["sg", "--api", &api, "attach", fq, "--task", &cid]).ok();
    let d = cli(&["sg", "--api", &api, "--json", "delete", fq, "--force"]).json();
    assert_eq!(d["detached"].as_array().map(Vec::len), Some(1));
    assert!(c.find("security-group", &env.fq("web")).is_none());
    let vmi = c
        .get(
            "virtual-machine-interface",
            &contrail_mesos::domain::ids::vmi_uuid(&cid, "eth0"),
        )
        .expect("vmi");
    assert!(
        vmi["security_group_refs"]
            .as_array()
            .is_none_or(|r| r.is_empty()),
        "{vmi}"
    );

    cli(&["sg", "--api", &api, "show", &env.fq_str("nope")]).refused("nope");
    cli(&["sg", "--api", &api, "attach", sg, "--task", "ghost-task"]).refused("ghost-task");
}
