//! The plugin driven by a real CNI client: libcni's cnitool (built by `.ci/deps` from Debian's
//! golang-github-appc-cni source). Needs root.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;
use serde_json::{Value, json};

/// cnitool from $CNITOOL (which must then exist) or target/tools.
fn cnitool() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CNITOOL") {
        let p = PathBuf::from(p);
        assert!(
            p.exists(),
            "CNITOOL={} does not exist; run .ci/deps",
            p.display()
        );
        return Some(p);
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/tools/cnitool");
    contrail_mesos_sim::require(p.exists(), "cnitool", "not built (run .ci/deps)").then_some(p)
}

fn run(
    tool: &PathBuf,
    confdir: &std::path::Path,
    verb: &str,
    net: &str,
    ns: &Netns,
) -> (bool, String, String) {
    let out = Command::new(tool)
        .args([verb, net, &ns.path.display().to_string()])
        .env("NETCONFPATH", confdir)
        .env("CNI_PATH", plugin_dir())
        .env("CNI_IFNAME", "eth0")
        .output()
        .expect("run cnitool");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The plugin's records (`config-dir/.contrail-mesos/<container id>/<vmi uuid>`).
fn records(c: &Cluster) -> Vec<PathBuf> {
    let dirs = std::fs::read_dir(c.config_dir().join(".contrail-mesos"));
    dirs.into_iter()
        .flatten()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
        .map(|f| f.path())
        .collect()
}

fn plugin_conf(c: &Cluster) -> Value {
    let mut p = c.netconf(None, &[]);
    p["args"] = json!({"labels": {"networks": "blue-network", "network-subnets": "5.5.5.0/24",
                                   "project-name": "default-project", "domain-name": "default-domain"}});
    p
}

#[test]
fn cnitool_add_check_del_with_a_conflist() {
    if !root("cnitool_add_check_del_with_a_conflist") {
        return;
    }
    let Some(tool) = cnitool() else { return };
    let c = Cluster::start();
    let dir = Scratch::new("netconf");
    let mut plugin = plugin_conf(&c);
    plugin.as_object_mut().map(|o| o.remove("name"));
    let list = json!({"cniVersion": "1.0.0", "name": "contrail-test", "plugins": [plugin]});
    std::fs::write(dir.0.join("10-contrail.conflist"), list.to_string()).expect("conflist");
    let ns = Netns::new();
    let (ok, out, err) = run(&tool, &dir.0, "add", "contrail-test", &ns);
    assert!(ok, "cnitool add: {out} {err}");
    let r: Value = serde_json::from_str(&out).expect("result JSON");
    assert_eq!(r["cniVersion"], "1.0.0");
    let addr = r["ips"][0]["address"]
        .as_str()
        .expect("address")
        .to_string();
    assert!(addr.starts_with("5.5.5."), "{r}");
    assert_eq!(ns.addrs("eth0"), vec![addr.clone()]);
    assert_eq!(r["interfaces"][1]["name"], "eth0");
    assert_eq!(r["interfaces"][1]["sandbox"], ns.path.display().to_string());
    assert_eq!(c.config.count("virtual-machine"), 1);
    assert_eq!(records(&c).len(), 1, "the plugin's record of eth0");
    let (ok, out, err) = run(&tool, &dir.0, "check", "contrail-test", &ns);
    assert!(ok, "cnitool check: {out} {err}");
    let (ok, out, err) = run(&tool, &dir.0, "del", "contrail-test", &ns);
    assert!(ok, "cnitool del: {out} {err}");
    assert!(ns.link("eth0").is_none());
    assert_eq!(c.counts(), [0, 0, 0, 0]);
    assert!(c.agent.ports().is_empty());
    assert!(records(&c).is_empty(), "records left: {:?}", records(&c));
    let (ok, _, _) = run(&tool, &dir.0, "del", "contrail-test", &ns);
    assert!(ok, "second del succeeds");
    let (ok, _, _) = run(&tool, &dir.0, "check", "contrail-test", &ns);
    assert!(!ok, "check after del fails");
}

#[test]
fn cnitool_with_a_single_plugin_conf_in_older_versions() {
    if !root("cnitool_with_a_single_plugin_conf_in_older_versions") {
        return;
    }
    let Some(tool) = cnitool() else { return };
    let c = Cluster::start();
    for version in ["0.3.1", "0.4.0"] {
        let dir = Scratch::new("netconf");
        let mut conf = plugin_conf(&c);
        conf["cniVersion"] = version.into();
        conf["name"] = "contrail-single".into();
        std::fs::write(dir.0.join("10-contrail.conf"), conf.to_string()).expect("conf");
        let ns = Netns::new();
        let (ok, out, err) = run(&tool, &dir.0, "add", "contrail-single", &ns);
        assert!(ok, "cnitool add {version}: {out} {err}");
        let r: Value = serde_json::from_str(&out).expect("result JSON");
        assert_eq!(r["cniVersion"], version);
        assert_eq!(
            r["ips"][0]["version"], "4",
            "0.3.x/0.4.0 results carry ips[].version"
        );
        let (ok, out, err) = run(&tool, &dir.0, "del", "contrail-single", &ns);
        assert!(ok, "cnitool del {version}: {out} {err}");
        assert_eq!(c.counts(), [0, 0, 0, 0]);
    }
}
