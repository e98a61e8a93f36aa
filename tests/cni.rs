//! The CNI plugin run exactly as the Mesos agent runs it, against the emulators and an
//! in-process manager, in real network namespaces. Needs root; skips with a reason otherwise.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use contrail_mesos_sim::agent::AgentRelease;
use serde_json::{Value, json};

both_backends! {
    add_and_del_in_every_result_version: Real;
    seed_labels_floating_ips_and_security_group: Real;
    failed_adds_roll_back_and_name_the_cause: Real;
    sixteen_parallel_adds: Real;
    eth0_and_eth1_of_one_container_in_parallel: Real;
    repeated_add_is_idempotent: Real;
    every_agent_release: Real;
    dual_stack_and_ipv6_only_tasks: Real;
    dns_search_and_the_configurations_dns_in_every_result_version: Real;
    ports_come_back_after_an_agent_restart_at_every_release: Real;
    the_agents_delete_of_a_vm_leaves_the_plugins_records: Real;
    records_of_an_older_install_are_migrated: Real;
    dns_nameservers_reach_the_result_in_every_version: Real;
}

fn agent_ports(c: &Cluster, cid: &str) -> usize {
    c.agent.ports().iter().filter(|p| p.vm_id == cid).count()
}

/// Where the plugin keeps the records of a container's ports: its own dot-directory in
/// `config-dir`, which no vRouter agent release writes, reloads or removes.
fn records(c: &Cluster, cid: &str) -> PathBuf {
    c.config_dir().join(".contrail-mesos").join(cid)
}

/// The plugin's record of one interface.
fn record(c: &Cluster, cid: &str, ifname: &str) -> PathBuf {
    records(c, cid).join(contrail_mesos::domain::ids::vmi_uuid(cid, ifname))
}

fn port_files(c: &Cluster, cid: &str) -> usize {
    std::fs::read_dir(records(c, cid))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Nothing of this container is left anywhere.
fn assert_gone(c: &Cluster, cid: &str, ifname: &str) {
    assert!(
        host_link(&tap(cid, ifname)).is_none(),
        "host interface left"
    );
    assert_eq!(port_files(c, cid), 0, "port files left");
    // The agent's own file (R5.0) or directory (R5.1 on) of the VM: the container id is the
    // VM's uuid and its name.
    assert!(
        !c.config_dir().join(cid).exists(),
        "the agent's port file left"
    );
    assert_eq!(agent_ports(c, cid), 0, "agent port left");
    let vmi = contrail_mesos::domain::ids::vmi_uuid(cid, ifname);
    assert!(
        c.config.get("virtual-machine-interface", &vmi).is_none(),
        "interface left in Contrail"
    );
    assert!(
        c.config.find("virtual-machine", &[cid]).is_none(),
        "VM left in Contrail"
    );
}

fn add_and_del_in_every_result_version(env: Env) {
    if !root("add_and_del_in_every_result_version") {
        return;
    }
    let c = Cluster::on(env);
    for version in [
        None,
        Some("0.1.0"),
        Some("0.2.0"),
        Some("0.3.0"),
        Some("0.3.1"),
        Some("0.4.0"),
        Some("1.0.0"),
        Some("1.1.0"),
    ] {
        let ns = Netns::new();
        let cid = c.cid();
        let conf = c.netconf(version, &c.blue());
        let r = cni("ADD", &cid, "eth0", Some(&ns.path), &conf).ok();
        let v = version.unwrap_or("0.1.0");
        assert_eq!(r["cniVersion"], v);
        // What the agent reports is what the interface gets.
        let port = &c
            .agent
            .ports()
            .into_iter()
            .find(|p| p.vm_id == cid)
            .expect("agent has the port");
        assert_eq!(port.host_ifname, tap(&cid, "eth0"));
        assert_eq!(port.vm_ifname, "eth0");
        assert_eq!(port.vm_name, cid);
        let addrs = ns.addrs("eth0");
        assert_eq!(addrs.len(), 1, "{addrs:?}");
        assert!(
            addrs[0].starts_with("5.5.5.") && addrs[0].ends_with("/24"),
            "{addrs:?}"
        );
        let (gw, dns) = gateway_dns(&c.config, &c.blue_fq());
        assert!(gw.starts_with("5.5.5."), "{gw}");
        assert_eq!(ns.default_gateway().as_deref(), Some(gw.as_str()));
        let link = ns.link("eth0").expect("eth0 exists");
        assert!(
            link["flags"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == "UP"))
        );
        let vmi = c
            .config
            .get("virtual-machine-interface", &port.vmi_uuid)
            .expect("VMI in Contrail");
        let mac = vmi["virtual_machine_interface_mac_addresses"]["mac_address"][0].clone();
        assert_eq!(link["address"], mac);
        if contrail_mesos::domain::cni_version::at_least(v, "0.3.0") {
            assert_eq!(r["ips"][0]["address"], addrs[0].as_str());
            assert_eq!(r["ips"][0]["gateway"], gw.as_str());
            assert_eq!(r["interfaces"][1]["name"], "eth0");
            assert_eq!(r["interfaces"][1]["mac"], mac);
            assert_eq!(r["interfaces"][1]["sandbox"], ns.path.display().to_string());
            assert_eq!(
                r["ips"][0].get("version").is_some(),
                !contrail_mesos::domain::cni_version::at_least(v, "1.0.0")
            );
            assert_eq!(r["routes"][0], json!({"dst": "0.0.0.0/0", "gw": gw}));
        } else {
            assert_eq!(r["ip4"]["ip"], addrs[0].as_str());
            assert_eq!(r["ip4"]["gateway"], gw.as_str());
            assert!(r.get("ips").is_none());
        }
        assert_eq!(r["dns"]["nameservers"][0], dns.as_str());
        assert!(host_link(&tap(&cid, "eth0")).is_some());
        assert_eq!(port_files(&c, &cid), 1);

        let d = cni("DEL", &cid, "eth0", Some(&ns.path), &conf);
        assert_eq!((d.code, d.stdout.as_str()), (0, ""), "{}", d.stderr);
        assert_gone(&c, &cid, "eth0");
        assert!(ns.link("eth0").is_none());
        // Again: still success.
        let d = cni("DEL", &cid, "eth0", Some(&ns.path), &conf);
        assert_eq!(d.code, 0, "{}", d.stdout);
    }
    // Networks stay.
    assert!(c.config.find("virtual-network", &c.blue_fq()).is_some());
}

fn seed_labels_floating_ips_and_security_group(env: Env) {
    if !root("seed_labels_floating_ips_and_security_group") {
        return;
    }
    let c = Cluster::on(env);
    let ns = Netns::new();
    let cid = c.cid();
    let mut labels = c.blue();
    let fips = format!("{}(10.66.77.123), {}( 10.33.44.11 )", c.pool(), c.pool2());
    labels.push(("floating-ips", &fips));
    labels.push(("security-groups", c.sg()));
    let conf = c.netconf(Some("0.2.0"), &labels);
    cni("ADD", &cid, "eth0", Some(&ns.path), &conf).ok();
    let vmi_uuid = contrail_mesos::domain::ids::vmi_uuid(&cid, "eth0");
    let vmi = c
        .config
        .get("virtual-machine-interface", &vmi_uuid)
        .expect("VMI");
    assert_eq!(
        vmi["security_group_refs"][0]["to"][2],
        "security_groups_mesos"
    );
    let fips: Vec<Value> = c.config.list("floating-ip");
    let addrs: Vec<&str> = fips
        .iter()
        .filter_map(|f| f["floating_ip_address"].as_str())
        .collect();
    assert!(
        addrs.contains(&"10.66.77.123") && addrs.contains(&"10.33.44.11"),
        "{addrs:?}"
    );
    for f in &fips {
        assert_eq!(
            f["virtual_machine_interface_refs"][0]["uuid"],
            vmi_uuid.as_str()
        );
        assert!(f["project_refs"].as_array().is_some_and(|r| !r.is_empty()));
    }
    cni("DEL", &cid, "eth0", Some(&ns.path), &conf).ok();
    assert_eq!(c.config.count("floating-ip"), 0, "floating IPs released");
    assert_gone(&c, &cid, "eth0");
}

#[test]
fn del_without_netns_and_after_the_namespace_is_gone() {
    if !root("del_without_netns_and_after_the_namespace_is_gone") {
        return;
    }
    let c = Cluster::start();
    let conf = c.netconf(Some("0.2.0"), &c.blue());
    // No CNI_NETNS (Mesos after a reboot).
    let ns = Netns::new();
    let cid = c.cid();
    cni("ADD", &cid, "eth0", Some(&ns.path), &conf).ok();
    let d = cni("DEL", &cid, "eth0", None, &conf);
    assert_eq!(d.code, 0, "{} {}", d.stdout, d.stderr);
    assert_gone(&c, &cid, "eth0");
    // The namespace deleted first.
    let ns = Netns::new();
    let cid = c.cid();
    cni("ADD", &cid, "eth0", Some(&ns.path), &conf).ok();
    let path = ns.path.clone();
    ns.remove();
    let d = cni("DEL", &cid, "eth0", Some(&path), &conf);
    assert_eq!(d.code, 0, "{} {}", d.stdout, d.stderr);
    assert_gone(&c, &cid, "eth0");
    drop(ns);
}

/// A DEL whose only failure is a port file it cannot remove says so with code 5 (I/O), not
/// as a kernel failure, and still removes everything else.
#[test]
fn del_that_fails_only_on_the_port_file_is_an_io_error() {
    if !root("del_that_fails_only_on_the_port_file_is_an_io_error") {
        return;
    }
    let c = Cluster::start();
    let ns = Netns::new();
    let cid = c.cid();
    let conf = c.netconf(Some("0.4.0"), &c.blue());
    cni("ADD", &cid, "eth0", Some(&ns.path), &conf).ok();
    // The container's port directory becomes read-only (a bind mount of itself).
    let dir = records(&c, &cid);
    let d = dir.display().to_string();
    let sh = |cmd: &str| {
        let ok = std::process::Command::new("sh")
            .args(["-c", cmd])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "{cmd}");
    };
    sh(&format!(
        "mount --bind '{d}' '{d}' && mount -o remount,bind,ro '{d}'"
    ));
    let r = cni("DEL", &cid, "eth0", Some(&ns.path), &conf);
    sh(&format!("umount '{d}'"));
    r.err(5);
    assert!(
        r.json()["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("port file"),
        "{}",
        r.stdout
    );
    assert!(
        host_link(&tap(&cid, "eth0")).is_none(),
        "the link is gone anyway"
    );
    assert_eq!(agent_ports(&c, &cid), 0, "the agent port is gone anyway");
    // Once the file can go, DEL again finishes the job.
    cni("DEL", &cid, "eth0", Some(&ns.path), &conf).ok();
    assert_gone(&c, &cid, "eth0");
}

/// Port files are not synced to disk: a host crash can leave one empty. DEL removes the empty
/// file named after its interface along with everything else, and leaves another
/// interface's unreadable file alone.
#[test]
fn del_removes_its_port_file_left_empty_by_a_crash() {
    if !root("del_removes_its_port_file_left_empty_by_a_crash") {
        return;
    }
    let c = Cluster::start();
    let ns = Netns::new();
    let cid = c.cid();
    let conf = c.netconf(Some("1.0.0"), &c.blue());
    cni("ADD", &cid, "eth0", Some(&ns.path), &conf).ok();
    let dir = records(&c, &cid);
    let file = dir.join(contrail_mesos::domain::ids::vmi_uuid(&cid, "eth0"));
    assert!(file.is_file(), "ADD wrote {}", file.display());
    std::fs::write(&file, b"").expect("empty the port file");
    let other = dir.join(contrail_mesos::domain::ids::vmi_uuid(&cid, "eth1"));
    std::fs::write(&other, b"").expect("another interface's empty file");
    cni("DEL", &cid, "eth0", Some(&ns.path), &conf).ok();
    assert!(!file.exists(), "DEL left its empty port file");
    assert!(other.exists(), "DEL removed another interface's file");
    assert!(
        host_link(&tap(&cid, "eth0")).is_none(),
        "host interface left"
    );
    std::fs::remove_file(&other).expect("remove the other file");
    cni("DEL", &cid, "eth0", Some(&ns.path), &conf).ok();
    assert_gone(&c, &cid, "eth0");
}

#[test]
fn stale_del_touches_nothing() {
    if !root("stale_del_touches_nothing") {
        return;
    }
    let c = Cluster::start();
    let ns = Netns::new();
    let cid = c.cid();
    let conf = c.netconf(Some("0.2.0"), &c.blue());
    cni("ADD", &cid, "eth0", Some(&ns.path), &conf).ok();
    // The port file now says another container owns this directory's port.
    let dir = records(&c, &cid);
    let file = std::fs::read_dir(&dir)
        .expect("port dir")
        .next()
        .expect("a file")
        .expect("entry")
        .path();
    let mut doc: Value =
        serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
    doc["vm-id"] = "some-other-container".into();
    std::fs::write(&file, doc.to_string()).expect("write");
    let before = c.counts();
    let d = cni("DEL", &cid, "eth0", Some(&ns.path), &conf);
    assert_eq!((d.code, d.stdout.as_str()), (0, ""));
    assert!(host_link(&tap(&cid, "eth0")).is_some(), "link untouched");
    assert!(file.exists(), "port file untouched");
    assert_eq!(agent_ports(&c, &cid), 1, "agent port untouched");
    assert_eq!(c.counts(), before, "no manager request");
    // Clean up for real.
    doc["vm-id"] = cid.clone().into();
    std::fs::write(&file, doc.to_string()).expect("write");
    cni("DEL", &cid, "eth0", Some(&ns.path), &conf).ok();
    assert_gone(&c, &cid, "eth0");
}

#[test]
fn bad_input_is_refused_before_any_side_effect() {
    if !root("bad_input_is_refused_before_any_side_effect") {
        return;
    }
    let c = Cluster::start();
    let ns = Netns::new();
    let conf = c.netconf(Some("1.0.0"), &c.blue());
    let cid = c.cid();
    // Malformed JSON.
    cni_raw(
        "ADD",
        &cid,
        "eth0",
        Some(&ns.path),
        b"{\"cniVersion\":",
        &[],
    )
    .err(6);
    // Missing environment.
    let e = cni("ADD", &cid, "", Some(&ns.path), &conf).err(4);
    assert!(
        e["msg"].as_str().unwrap_or_default().contains("CNI_IFNAME"),
        "{e}"
    );
    // A container id that could escape the port directory.
    cni("ADD", "../x", "eth0", Some(&ns.path), &conf).err(4);
    assert!(!c.ports.0.join("x").exists() && !c.config_dir().join("x").exists());
    // 16-character interface name.
    cni("ADD", &cid, "eth0123456789abc", Some(&ns.path), &conf).err(4);
    // Unknown version.
    let mut bad = conf.clone();
    bad["cniVersion"] = "9.9.9".into();
    let e = cni("ADD", &cid, "eth0", Some(&ns.path), &bad).err(1);
    assert!(e["details"].as_str().unwrap_or_default().contains("9.9.9"));
    // Bad labels name the key.
    let e = cni(
        "ADD",
        &cid,
        "eth0",
        Some(&ns.path),
        &c.netconf(Some("1.0.0"), &[("network-subnets", "5.5.5.0/33")]),
    )
    .err(7);
    assert!(
        e["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("network-subnets"),
        "{e}"
    );
    let e = cni(
        "ADD",
        &cid,
        "eth0",
        Some(&ns.path),
        &c.netconf(Some("1.0.0"), &[("floating-ips", "a:b(1.2.3.4)")]),
    )
    .err(7);
    assert!(
        e["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("floating-ips"),
        "{e}"
    );
    // CNI_ARGS with an unknown key, with and without IgnoreUnknown.
    let stdin = conf.to_string();
    cni_raw(
        "ADD",
        &cid,
        "eth0",
        Some(&ns.path),
        stdin.as_bytes(),
        &[("CNI_ARGS", "FOO=bar")],
    )
    .err(4);
    assert_eq!(c.counts(), [0, 0, 0, 0], "nothing created");
    assert_eq!(port_files(&c, &cid), 0);
    assert!(host_link(&tap(&cid, "eth0")).is_none());
    let r = cni_raw(
        "ADD",
        &cid,
        "eth0",
        Some(&ns.path),
        stdin.as_bytes(),
        &[("CNI_ARGS", "IgnoreUnknown=1;FOO=bar")],
    );
    r.ok();
    cni("DEL", &cid, "eth0", Some(&ns.path), &conf).ok();
}

/// An ADD that fails after side effects leaves nothing behind.
fn failed_add_leaves_nothing(c: &Cluster, labels: &[(&str, &str)], code: u64, needle: &str) {
    let ns = Netns::new();
    let cid = c.cid();
    let before = c.counts();
    let conf = c.netconf(Some("0.2.0"), labels);
    let e = cni("ADD", &cid, "eth0", Some(&ns.path), &conf).err(code);
    assert!(
        e["msg"].as_str().unwrap_or_default().contains(needle),
        "{e} should name {needle}"
    );
    assert_eq!(c.counts(), before, "Contrail objects left after {needle}");
    assert!(ns.link("eth0").is_none());
    assert_gone(c, &cid, "eth0");
    // Mesos runs DEL after a failed ADD; it must succeed.
    cni("DEL", &cid, "eth0", Some(&ns.path), &conf).ok();
}

fn failed_adds_roll_back_and_name_the_cause(env: Env) {
    if !root("failed_adds_roll_back_and_name_the_cause") {
        return;
    }
    let c = Cluster::on(env);
    failed_add_leaves_nothing(
        &c,
        &[("networks", "no-such-network")],
        100,
        "no-such-network",
    );
    let mut l = c.blue();
    let nopool = format!("{}:nopool", c.fq_str("__public__"));
    l.push(("floating-ips", &nopool));
    failed_add_leaves_nothing(&c, &l, 100, "nopool");
    let mut l = c.blue();
    let nosg = c.fq_str("nosg");
    l.push(("security-groups", &nosg));
    failed_add_leaves_nothing(&c, &l, 100, "nosg");
    // A requested address outside the network.
    let l = [
        ("networks", "blue-network"),
        ("network-subnets", "5.5.5.0/24"),
        ("project-name", &c.project),
        ("network-ip", "5.5.5.10"),
    ];
    let ns = Netns::new();
    let holder = c.cid();
    let conf = c.netconf(Some("0.2.0"), &l);
    cni("ADD", &holder, "eth0", Some(&ns.path), &conf).ok();
    // The same address again: taken.
    failed_add_leaves_nothing(&c, &l, 101, "5.5.5.10");
    // A floating IP that is taken, after the VM, interface and instance IP were created.
    let mut l = c.blue();
    let taken = format!("{}(10.66.77.50)", c.pool());
    l.push(("floating-ips", &taken));
    let ns2 = Netns::new();
    let first = c.cid();
    cni(
        "ADD",
        &first,
        "eth0",
        Some(&ns2.path),
        &c.netconf(Some("0.2.0"), &l),
    )
    .ok();
    failed_add_leaves_nothing(&c, &l, 101, "10.66.77.50");
    cni(
        "DEL",
        &first,
        "eth0",
        Some(&ns2.path),
        &c.netconf(Some("0.2.0"), &l),
    )
    .ok();
    cni("DEL", &holder, "eth0", Some(&ns.path), &conf).ok();
    // The agent refuses the port.
    c.agent.reject_next_posts(1);
    failed_add_leaves_nothing(&c, &c.blue(), 102, "rejected");
}

#[test]
fn rollback_when_the_agent_never_becomes_ready() {
    if !root("rollback_when_the_agent_never_becomes_ready") {
        return;
    }
    let c = Cluster::start();
    c.agent.set_ready_delay(Duration::from_secs(3600));
    let ns = Netns::new();
    let cid = c.cid();
    let mut conf = c.netconf(Some("0.2.0"), &c.blue());
    conf["contrail"]["poll-timeout"] = json!(0.1);
    conf["contrail"]["poll-retries"] = json!(5);
    let started = std::time::Instant::now();
    let e = cni("ADD", &cid, "eth0", Some(&ns.path), &conf).err(11);
    let msg = e["msg"].as_str().unwrap_or_default().to_string();
    assert!(msg.contains("did not report port"), "{msg}");
    eprintln!("gave up after {:?} (budget 0.5 s)", started.elapsed());
    assert_gone(&c, &cid, "eth0");
    assert_eq!(c.counts(), [0, 0, 0, 0]);
}

fn sixteen_parallel_adds(env: Env) {
    if !root("sixteen_parallel_adds") {
        return;
    }
    let c = Cluster::on(env);
    let conf = c.netconf(Some("0.2.0"), &c.blue());
    let work: Vec<(Netns, String)> = (0..16).map(|_| (Netns::new(), c.cid())).collect();
    let results: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = work
            .iter()
            .map(|(ns, cid)| s.spawn(|| cni("ADD", cid, "eth0", Some(&ns.path), &conf).ok()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let mut ips: Vec<String> = results
        .iter()
        .map(|r| r["ip4"]["ip"].as_str().unwrap_or_default().to_string())
        .collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 16, "distinct addresses: {ips:?}");
    assert_eq!(c.config.count("virtual-machine"), 16);
    std::thread::scope(|s| {
        for (ns, cid) in &work {
            let conf = &conf;
            s.spawn(move || cni("DEL", cid, "eth0", Some(&ns.path), conf).ok());
        }
    });
    for (_, cid) in &work {
        assert_gone(&c, cid, "eth0");
    }
}

fn eth0_and_eth1_of_one_container_in_parallel(env: Env) {
    if !root("eth0_and_eth1_of_one_container_in_parallel") {
        return;
    }
    let c = Cluster::on(env);
    c.config
        .add_network(&c.fq("red"), &["6.6.6.0/24"])
        .expect("red network");
    let ns = Netns::new();
    let cid = c.cid();
    let conf0 = c.netconf(Some("0.2.0"), &c.blue());
    let red = c.fq_str("red");
    let conf1 = c.netconf(Some("0.2.0"), &[("networks", &red)]);
    let (r0, r1) = std::thread::scope(|s| {
        let a = s.spawn(|| cni("ADD", &cid, "eth0", Some(&ns.path), &conf0));
        let b = s.spawn(|| cni("ADD", &cid, "eth1", Some(&ns.path), &conf1));
        (a.join().expect("eth0"), b.join().expect("eth1"))
    });
    r0.ok();
    r1.ok();
    assert_eq!(
        c.config.count("virtual-machine"),
        1,
        "one VM for the container"
    );
    assert_eq!(c.config.count("virtual-machine-interface"), 2);
    assert!(ns.addrs("eth0")[0].starts_with("5.5.5."));
    assert!(ns.addrs("eth1")[0].starts_with("6.6.6."));
    assert!(ns.default_gateway().is_some());
    assert_eq!(
        ns.ip_json(&["route", "show", "default"])
            .as_array()
            .map(Vec::len),
        Some(1),
        "one default route"
    );
    let (d0, d1) = std::thread::scope(|s| {
        let a = s.spawn(|| cni("DEL", &cid, "eth0", Some(&ns.path), &conf0));
        let b = s.spawn(|| cni("DEL", &cid, "eth1", Some(&ns.path), &conf1));
        (a.join().expect("eth0"), b.join().expect("eth1"))
    });
    d0.ok();
    d1.ok();
    assert_gone(&c, &cid, "eth0");
    assert_gone(&c, &cid, "eth1");
    assert_eq!(c.counts(), [0, 0, 0, 0]);
}

#[test]
fn check_status_and_gc() {
    if !root("check_status_and_gc") {
        return;
    }
    let mut c = Cluster::start();
    let ns = Netns::new();
    let cid = c.cid();
    let conf = c.netconf(Some("1.1.0"), &c.blue());
    let r = cni("ADD", &cid, "eth0", Some(&ns.path), &conf).ok();
    let mut check = conf.clone();
    check["prevResult"] = r.clone();
    cni("CHECK", &cid, "eth0", Some(&ns.path), &check).ok();
    // CHECK notices a missing address.
    let addr = ns.addrs("eth0")[0].clone();
    let _ = std::process::Command::new("ip")
        .args(["-n", &ns.name, "addr", "del", &addr, "dev", "eth0"])
        .status();
    let e = cni("CHECK", &cid, "eth0", Some(&ns.path), &check);
    assert_ne!(e.code, 0);
    assert!(
        e.json()["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("missing"),
        "{}",
        e.stdout
    );
    cni("DEL", &cid, "eth0", Some(&ns.path), &conf).ok();
    assert_ne!(
        cni("CHECK", &cid, "eth0", Some(&ns.path), &check).code,
        0,
        "CHECK after DEL fails"
    );

    cni_raw("STATUS", "", "", None, conf.to_string().as_bytes(), &[]).ok();

    // GC: two containers, only one still valid.
    let (ns_a, ns_b) = (Netns::new(), Netns::new());
    let (a, b) = (c.cid(), c.cid());
    cni("ADD", &a, "eth0", Some(&ns_a.path), &conf).ok();
    cni("ADD", &b, "eth0", Some(&ns_b.path), &conf).ok();
    let mut gc = conf.clone();
    gc["cni.dev/attachments"] = json!([{"containerID": a, "ifname": "eth0"}]);
    cni_raw("GC", "", "", None, gc.to_string().as_bytes(), &[]).ok();
    assert!(
        host_link(&tap(&a, "eth0")).is_some(),
        "valid attachment kept"
    );
    assert!(
        host_link(&tap(&b, "eth0")).is_none(),
        "stale attachment removed"
    );
    assert_eq!(port_files(&c, &b), 0);
    assert_eq!(agent_ports(&c, &b), 0);
    assert_eq!(agent_ports(&c, &a), 1);

    // STATUS reports the manager down with code 50; DEL still cleans the local side.
    let url = c.stop_manager();
    let e = cni_raw("STATUS", "", "", None, conf.to_string().as_bytes(), &[]).err(50);
    assert!(e["msg"].as_str().unwrap_or_default().contains(&url), "{e}");
    let d = cni("DEL", &a, "eth0", Some(&ns_a.path), &conf);
    assert_eq!(d.code, 0, "{} {}", d.stdout, d.stderr);
    assert!(host_link(&tap(&a, "eth0")).is_none());
    assert_eq!(port_files(&c, &a), 0);
    assert_eq!(agent_ports(&c, &a), 0);
}

fn repeated_add_is_idempotent(env: Env) {
    if !root("repeated_add_is_idempotent") {
        return;
    }
    let c = Cluster::on(env);
    let ns = Netns::new();
    let cid = c.cid();
    let conf = c.netconf(Some("1.0.0"), &c.blue());
    let first = cni("ADD", &cid, "eth0", Some(&ns.path), &conf).ok();
    let second = cni("ADD", &cid, "eth0", Some(&ns.path), &conf).ok();
    assert_eq!(first["ips"], second["ips"]);
    assert_eq!(first["interfaces"], second["interfaces"]);
    assert_eq!(c.counts(), [1, 1, 1, 0]);
    // An interface of that name that is not ours is refused.
    let other = c.cid();
    let e = cni("ADD", &other, "eth0", Some(&ns.path), &conf);
    assert_ne!(e.code, 0);
    assert!(
        e.json()["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("already exists"),
        "{}",
        e.stdout
    );
    assert_eq!(c.counts(), [1, 1, 1, 0], "the refused ADD created nothing");
    cni("DEL", &cid, "eth0", Some(&ns.path), &conf).ok();
    assert_gone(&c, &cid, "eth0");
}

#[test]
fn upstream_style_manager_answer_falls_back_to_the_agent_config() {
    if !root("upstream_style_manager_answer_falls_back_to_the_agent_config") {
        return;
    }
    use contrail_mesos::http::server::{Request, Response, Server};
    use std::sync::Arc;
    let c = Cluster::start();
    // A manager that works like upstream's: answers with an echo of the request, while the
    // objects get created (here: by forwarding to ours and dropping its answer).
    let real = c.manager_url();
    let http = http();
    let echo = Server::start(
        "127.0.0.1:0",
        2,
        1 << 20,
        Arc::new(move |req: Request| {
            let _ = http.post(format!("{real}{}", req.path)).send(&req.body[..]);
            Response::json(
                200,
                &serde_json::from_slice::<Value>(&req.body).unwrap_or(Value::Null),
            )
        }),
    )
    .expect("echo manager");
    let ns = Netns::new();
    let cid = c.cid();
    let mut conf = c.netconf(Some("0.2.0"), &c.blue());
    conf["contrail"]["manager-url"] = echo.url().into();
    let r = cni("ADD", &cid, "eth0", Some(&ns.path), &conf).ok();
    assert!(
        r["ip4"]["ip"]
            .as_str()
            .unwrap_or_default()
            .starts_with("5.5.5.")
    );
    assert!(ns.addrs("eth0")[0].starts_with("5.5.5."));
    cni("DEL", &cid, "eth0", Some(&ns.path), &conf).ok();
    assert_gone(&c, &cid, "eth0");
}

#[test]
fn netns_that_does_not_exist_is_unknown_container() {
    let c = Cluster::start();
    let cid = c.cid();
    let conf = c.netconf(Some("1.0.0"), &c.blue());
    cni(
        "ADD",
        &cid,
        "eth0",
        Some(Path::new("/var/run/netns/does-not-exist-cm")),
        &conf,
    )
    .err(3);
    assert_eq!(c.counts(), [0, 0, 0, 0]);
}

#[test]
fn manager_token_is_sent_from_the_token_file() {
    if !root("manager_token_is_sent_from_the_token_file") {
        return;
    }
    let mut c = Cluster::start();
    let secret = Scratch::new("secret");
    let file = secret.0.join("token");
    std::fs::write(&file, "tok-42\n").expect("token file");
    c.restart_manager_with(|s| s.token_file = Some(file.clone()));
    let ns = Netns::new();
    let cid = c.cid();
    let mut conf = c.netconf(Some("0.2.0"), &c.blue());
    let e = cni("ADD", &cid, "eth0", Some(&ns.path), &conf).err(4);
    assert!(
        e["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("bearer token"),
        "{e}"
    );
    assert_gone(&c, &cid, "eth0");
    conf["contrail"]["manager-token-file"] = file.display().to_string().into();
    cni("ADD", &cid, "eth0", Some(&ns.path), &conf).ok();
    cni("DEL", &cid, "eth0", Some(&ns.path), &conf).ok();
    assert_gone(&c, &cid, "eth0");
}

/// Every agent release, as its port API is: R5.0 (one object per VM), R5.1 to R2005 (a list,
/// no `GET /vm/<vm>/<vmi>`), R2008 on. The plugin asks a route the agent lacks at most once per
/// run, and the DEL of one of two interfaces leaves the agent listing exactly the other.
fn every_agent_release(env: Env) {
    if !root("every_agent_release") {
        return;
    }
    let mut c = Cluster::on(env);
    c.config
        .add_network(&c.fq("red"), &["6.6.6.0/24"])
        .expect("red network");
    let red = c.fq_str("red");
    for release in RELEASES {
        c.new_agent(release);
        let ns = Netns::new();
        let cid = c.cid();
        let conf0 = c.netconf(Some("0.4.0"), &c.blue());
        let conf1 = c.netconf(Some("0.4.0"), &[("networks", &red)]);
        // One run of the plugin: at most one request the agent has no route for.
        let run = |cmd: &str, ifname: &str, conf: &Value| {
            let before = c.agent.stats().unknown_requests;
            let r = cni(cmd, &cid, ifname, Some(&ns.path), conf);
            let asked = c.agent.stats().unknown_requests - before;
            assert!(
                asked <= 1,
                "{release}: {cmd} {ifname} asked {asked} unknown routes"
            );
            r
        };
        let check = |ifname: &str, conf: &Value, prev: &Value| {
            let mut c = conf.clone();
            c["prevResult"] = prev.clone();
            run("CHECK", ifname, &c)
        };
        let r0 = run("ADD", "eth0", &conf0).ok();
        assert!(ns.addrs("eth0")[0].starts_with("5.5.5."), "{release}");
        check("eth0", &conf0, &r0).ok();
        if release.multi_interface() {
            let r1 = run("ADD", "eth1", &conf1).ok();
            assert!(ns.addrs("eth1")[0].starts_with("6.6.6."), "{release}");
            check("eth1", &conf1, &r1).ok();
            assert_eq!(agent_ports(&c, &cid), 2, "{release}");
            run("DEL", "eth1", &conf1).ok();
            let left: Vec<String> = c
                .agent
                .ports()
                .into_iter()
                .filter(|p| p.vm_id == cid)
                .map(|p| p.vm_ifname)
                .collect();
            assert_eq!(left, ["eth0"], "{release}: the agent lists exactly eth0");
            check("eth0", &conf0, &r0).ok();
        }
        run("DEL", "eth0", &conf0).ok();
        assert_gone(&c, &cid, "eth0");
        assert_eq!(c.counts(), [0, 0, 0, 0], "{release}");
    }
}

/// A dual-stack task: both addresses on eth0 (IPv6 with the subnet's prefix length, which the
/// agent does not report), both default routes, both families in every result version; and a
/// task with IPv6 only.
fn dual_stack_and_ipv6_only_tasks(env: Env) {
    if !root("dual_stack_and_ipv6_only_tasks") {
        return;
    }
    let c = Cluster::on(env);
    let labels = [
        ("networks", "dual"),
        ("project-name", &c.project),
        ("network-subnets", "5.6.7.0/24,2001:db8:56::/64"),
    ];
    for version in ["0.2.0", "1.0.0"] {
        let ns = Netns::new();
        let cid = c.cid();
        let conf = c.netconf(Some(version), &labels);
        let r = cni("ADD", &cid, "eth0", Some(&ns.path), &conf).ok();
        let v = ns.ip_json(&["addr", "show", "dev", "eth0"]);
        let global: Vec<String> = v[0]["addr_info"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["scope"] == "global")
            .map(|a| {
                format!(
                    "{}/{}",
                    a["local"].as_str().unwrap_or_default(),
                    a["prefixlen"]
                )
            })
            .collect();
        assert!(
            global
                .iter()
                .any(|a| a.starts_with("5.6.7.") && a.ends_with("/24")),
            "{global:?}"
        );
        assert!(
            global
                .iter()
                .any(|a| a.starts_with("2001:db8:56:") && a.ends_with("/64")),
            "{global:?}"
        );
        let v6_default = ns.ip_json(&["-6", "route", "show", "default"]);
        assert_eq!(
            v6_default.as_array().map(Vec::len),
            Some(1),
            "an IPv6 default route"
        );
        if version == "0.2.0" {
            assert!(
                r["ip4"]["ip"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("5.6.7."),
                "{r}"
            );
            assert!(
                r["ip6"]["ip"].as_str().unwrap_or_default().ends_with("/64"),
                "{r}"
            );
        } else {
            let ips = r["ips"].as_array().expect("ips");
            assert_eq!(ips.len(), 2, "{r}");
            assert!(
                ips.iter().any(|i| i["address"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("2001:db8:56:")),
                "{r}"
            );
            let mut check = conf.clone();
            check["prevResult"] = r.clone();
            cni("CHECK", &cid, "eth0", Some(&ns.path), &check).ok();
        }
        cni("DEL", &cid, "eth0", Some(&ns.path), &conf).ok();
        assert_gone(&c, &cid, "eth0");
    }
    let ns = Netns::new();
    let cid = c.cid();
    let conf = c.netconf(
        Some("1.0.0"),
        &[
            ("networks", "six"),
            ("project-name", &c.project),
            ("network-subnets", "2001:db8:66::/64"),
        ],
    );
    let r = cni("ADD", &cid, "eth0", Some(&ns.path), &conf).ok();
    let ips = r["ips"].as_array().expect("ips");
    assert_eq!(ips.len(), 1, "{r}");
    assert!(
        ips[0]["address"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/64"),
        "{r}"
    );
    assert!(
        ips[0]["gateway"].as_str().is_some_and(|g| g.contains(':')),
        "{r}"
    );
    cni("DEL", &cid, "eth0", Some(&ns.path), &conf).ok();
    assert_gone(&c, &cid, "eth0");
}

/// The manager's `dns_search` reaches the result's `dns.search` in the 0.2.0 shape Mesos
/// parses and in 1.0.0; a `dns` object in the network configuration comes first, merged with
/// what Contrail gives without duplicates.
fn dns_search_and_the_configurations_dns_in_every_result_version(env: Env) {
    if !root("dns_search_and_the_configurations_dns_in_every_result_version") {
        return;
    }
    let mut c = Cluster::on(env);
    c.restart_manager_with(|s| s.dns_search = vec!["marathon.mesos".into(), "mesos".into()]);
    for version in ["0.2.0", "1.0.0"] {
        for with_conf in [false, true] {
            let ns = Netns::new();
            let cid = c.cid();
            let mut conf = c.netconf(Some(version), &c.blue());
            if with_conf {
                conf["dns"] = json!({"nameservers": ["10.64.0.53"], "domain": "corp.example",
                    "search": ["mesos.", "corp.example"], "options": ["ndots:2"]});
            }
            let r = cni("ADD", &cid, "eth0", Some(&ns.path), &conf).ok();
            // The DNS server the agent reports for blue-network's subnet.
            let (_, agent_dns) = gateway_dns(&c.config, &c.blue_fq());
            let want = if with_conf {
                json!({"nameservers": ["10.64.0.53", agent_dns],
                       "domain": "corp.example",
                       "search": ["mesos.", "corp.example", "marathon.mesos"],
                       "options": ["ndots:2"]})
            } else {
                json!({"nameservers": [agent_dns], "search": ["marathon.mesos", "mesos"]})
            };
            assert_eq!(
                r["dns"], want,
                "{version}, configuration dns {with_conf}: {r}"
            );
            if version == "0.2.0" {
                assert!(r["ip4"]["ip"].is_string(), "{r}");
            } else {
                assert!(r["ips"][0]["address"].is_string(), "{r}");
            }
            cni("DEL", &cid, "eth0", Some(&ns.path), &conf).ok();
            assert_gone(&c, &cid, "eth0");
        }
    }
}

/// The agent releases whose port files differ (`contrail_mesos_sim::agent::port_files`).
const RELEASES: [AgentRelease; 3] = [AgentRelease::R5_0, AgentRelease::R5_1, AgentRelease::R2008];

/// What the agent reports for a VM (`GET /vm/<uuid>`, one object in R5.0, a list later): its
/// interfaces' `address/plen`; `None` while it reports nothing.
fn agent_reports(c: &Cluster, vm: &str) -> Option<Vec<String>> {
    let mut r = http()
        .get(format!("{}/vm/{vm}", c.agent.url()))
        .call()
        .expect("GET /vm");
    if r.status().as_u16() != 200 {
        return None;
    }
    let v: Value = r.body_mut().read_json().expect("JSON");
    let list = match v {
        Value::Array(a) => a,
        one => vec![one],
    };
    let mut out: Vec<String> = list
        .iter()
        .map(|p| {
            format!(
                "{}/{}",
                p["ip-address"].as_str().unwrap_or_default(),
                p["plen"]
            )
        })
        .collect();
    out.sort();
    Some(out)
}

/// The agent's ports of a container: (ifname, host interface, interface uuid), sorted.
fn agent_ports_of(c: &Cluster, cid: &str) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = c
        .agent
        .ports()
        .into_iter()
        .filter(|p| p.vm_id == cid)
        .map(|p| (p.vm_ifname, p.host_ifname, p.vmi_uuid))
        .collect();
    v.sort();
    v
}

/// The red network (made once) and a 1.1.0 configuration on it.
fn red(c: &Cluster) -> Value {
    let red = c.fq("red");
    if c.config.find("virtual-network", &red).is_none() {
        c.config
            .add_network(&red, &["6.6.6.0/24"])
            .expect("red network");
    }
    c.netconf(Some("1.1.0"), &[("networks", &c.fq_str("red"))])
}

/// The vRouter agent restarts while tasks run: at every release every port is back from the
/// agent's own port files (R5.0: a file per VM uuid; R5.1: a directory per VM uuid; R2008: a
/// directory per VM name; Mesos container ids are both), with no plugin run, and none of the
/// plugin's records is taken for a port.
fn ports_come_back_after_an_agent_restart_at_every_release(env: Env) {
    if !root("ports_come_back_after_an_agent_restart_at_every_release") {
        return;
    }
    let mut c = Cluster::on(env);
    for release in RELEASES {
        c.new_agent(release);
        let conf0 = c.netconf(Some("1.1.0"), &c.blue());
        let conf1 = red(&c);
        let tasks: Vec<(Netns, String)> = (0..2).map(|_| (Netns::new(), c.cid())).collect();
        for (ns, cid) in &tasks {
            cni("ADD", cid, "eth0", Some(&ns.path), &conf0).ok();
        }
        let (ns1, cid1) = &tasks[1];
        if release.multi_interface() {
            cni("ADD", cid1, "eth1", Some(&ns1.path), &conf1).ok();
        }
        let state = |c: &Cluster| -> Vec<_> {
            tasks
                .iter()
                .map(|(_, cid)| (agent_ports_of(c, cid), agent_reports(c, cid)))
                .collect()
        };
        let before = state(&c);
        assert!(
            before.iter().all(|(p, a)| !p.is_empty() && a.is_some()),
            "{release}: {before:?}"
        );
        let total = c.agent.ports().len();
        let posts = c.agent.stats().posts;

        let reload = c.agent.restart();
        assert!(reload.refused.is_empty(), "{release}: {reload:?}");
        assert_eq!(state(&c), before, "{release}: every port is back");
        assert_eq!(c.agent.ports().len(), total, "{release}: and only those");
        assert_eq!(c.agent.stats().posts, posts, "{release}: no plugin run");
        // The addresses the agent reports are the tasks'.
        let reported = agent_reports(&c, cid1).unwrap_or_default();
        assert!(
            reported.contains(&ns1.addrs("eth0")[0]),
            "{release}: {reported:?}"
        );
        if release.multi_interface() {
            assert!(
                reported.contains(&ns1.addrs("eth1")[0]),
                "{release}: {reported:?}"
            );
            cni("DEL", cid1, "eth1", Some(&ns1.path), &conf1).ok();
            assert!(!record(&c, cid1, "eth1").exists());
        }
        for (ns, cid) in &tasks {
            cni("DEL", cid, "eth0", Some(&ns.path), &conf0).ok();
            assert_gone(&c, cid, "eth0");
        }
        assert_gone(&c, cid1, "eth1");
    }
}

/// The agent's DELETE of a VM (asked directly here, as `vrouter-port-control --oper=delete`
/// does) removes the agent's port files of the VM and never the plugin's records: a DEL of one
/// interface afterwards still knows the other one and registers it again, and that port then
/// survives an agent restart.
fn the_agents_delete_of_a_vm_leaves_the_plugins_records(env: Env) {
    if !root("the_agents_delete_of_a_vm_leaves_the_plugins_records") {
        return;
    }
    let mut c = Cluster::on(env);
    for release in [AgentRelease::R5_1, AgentRelease::R2008] {
        c.new_agent(release);
        let conf0 = c.netconf(Some("1.1.0"), &c.blue());
        let conf1 = red(&c);
        let ns = Netns::new();
        let cid = c.cid();
        cni("ADD", &cid, "eth0", Some(&ns.path), &conf0).ok();
        cni("ADD", &cid, "eth1", Some(&ns.path), &conf1).ok();
        let agents_dir = c.config_dir().join(&cid);
        assert!(agents_dir.is_dir(), "{release}: the agent's port directory");

        let deleted = http()
            .delete(format!("{}/vm/{cid}", c.agent.url()))
            .call()
            .expect("DELETE /vm");
        assert_eq!(deleted.status().as_u16(), 200);
        assert!(
            !agents_dir.exists(),
            "{release}: the agent removed its own files"
        );
        assert!(agent_ports_of(&c, &cid).is_empty());
        for ifname in ["eth0", "eth1"] {
            assert!(
                record(&c, &cid, ifname).is_file(),
                "{release}: {ifname}'s record kept"
            );
        }

        cni("DEL", &cid, "eth0", Some(&ns.path), &conf0).ok();
        let left: Vec<String> = agent_ports_of(&c, &cid).into_iter().map(|p| p.0).collect();
        assert_eq!(
            left,
            ["eth1"],
            "{release}: eth1 registered again from its record"
        );
        assert!(!record(&c, &cid, "eth0").exists());
        assert!(record(&c, &cid, "eth1").is_file());
        c.agent.restart();
        let left: Vec<String> = agent_ports_of(&c, &cid).into_iter().map(|p| p.0).collect();
        assert_eq!(left, ["eth1"], "{release}: and back after a restart");

        cni("DEL", &cid, "eth1", Some(&ns.path), &conf1).ok();
        assert_gone(&c, &cid, "eth0");
        assert_gone(&c, &cid, "eth1");
    }
}

/// An older install kept its record at `config-dir/<container id>/<vmi uuid>`, a path the
/// agent writes too: written before the agent's POST, it left the agent no file of its own
/// (R5.0: the directory took the VM's file path; R5.1, R2008: the record took the file's).
/// The first run of this version moves the record into the plugin's own directory, never
/// removes a directory the agent keeps files in, and the agent gets its own port file back:
/// the port survives the next agent restart, and DEL works as usual.
fn records_of_an_older_install_are_migrated(env: Env) {
    use std::os::unix::fs::MetadataExt;
    if !root("records_of_an_older_install_are_migrated") {
        return;
    }
    let mut c = Cluster::on(env);
    for release in RELEASES {
        c.new_agent(release);
        let conf = c.netconf(Some("1.1.0"), &c.blue());
        let ns = Netns::new();
        let cid = c.cid();
        let r = cni("ADD", &cid, "eth0", Some(&ns.path), &conf).ok();
        let vmi = contrail_mesos::domain::ids::vmi_uuid(&cid, "eth0");

        // The node as the older install left it.
        let rec = std::fs::read(record(&c, &cid, "eth0")).expect("the record");
        std::fs::remove_dir_all(c.config_dir().join(".contrail-mesos")).expect("rm");
        let old = c.config_dir().join(&cid);
        if old.is_dir() {
            std::fs::remove_dir_all(&old).expect("rm the agent's directory");
        } else {
            std::fs::remove_file(&old).expect("rm the agent's file");
        }
        std::fs::create_dir(&old).expect("mkdir");
        std::fs::write(old.join(&vmi), &rec).expect("the old record");
        let old_inode = std::fs::metadata(&old).expect("stat").ino();

        // The first run of the plugin since: CHECK.
        let mut check = conf.clone();
        check["prevResult"] = r;
        cni("CHECK", &cid, "eth0", Some(&ns.path), &check).ok();
        assert_eq!(
            std::fs::read(record(&c, &cid, "eth0")).ok(),
            Some(rec.clone()),
            "{release}: the record moved"
        );
        let agents = |p: &Path| -> Value {
            serde_json::from_slice(&std::fs::read(p).unwrap_or_default()).unwrap_or_default()
        };
        if release == AgentRelease::R5_0 {
            // The directory is gone; the agent wrote its own file in its place.
            assert!(old.is_file(), "{release}: the agent's own file");
            assert_eq!(agents(&old)["author"], "/usr/bin/contrail-vrouter-agent");
        } else {
            // The agent's directory stayed (the same one), with the agent's own file.
            assert_eq!(
                std::fs::metadata(&old).expect("kept").ino(),
                old_inode,
                "{release}"
            );
            let mine = agents(&old.join(&vmi));
            assert_eq!(
                mine["author"], "/usr/bin/contrail-vrouter-agent",
                "{release}"
            );
            assert_eq!(
                std::fs::read_dir(&old).expect("dir").count(),
                1,
                "{release}"
            );
        }

        let before = agent_ports_of(&c, &cid);
        c.agent.restart();
        assert_eq!(
            agent_ports_of(&c, &cid),
            before,
            "{release}: back after a restart"
        );
        assert_eq!(agent_reports(&c, &cid), Some(ns.addrs("eth0")), "{release}");
        cni("DEL", &cid, "eth0", Some(&ns.path), &conf).ok();
        assert_gone(&c, &cid, "eth0");
    }
}

/// With the manager's `dns_nameservers` the result's `dns.nameservers` is that list, in its
/// order, in every result version (0.1.0/0.2.0 `dns` beside `ip4`, later `dns` beside `ips`),
/// with no plugin configuration: the manager's answer carries it. The task's network is made
/// with `default-dns-server`, never the list as `tenant-dns-server` (the agent's DNS proxy
/// answers SERVFAIL for that method).
fn dns_nameservers_reach_the_result_in_every_version(env: Env) {
    if !root("dns_nameservers_reach_the_result_in_every_version") {
        return;
    }
    let mut c = Cluster::on(env);
    c.restart_manager_with(|s| {
        s.dns_nameservers = vec![
            "10.64.0.54".parse().expect("ip"),
            "10.64.0.53".parse().expect("ip"),
        ]
    });
    for version in contrail_mesos::domain::cni_version::SUPPORTED {
        let ns = Netns::new();
        let cid = c.cid();
        let conf = c.netconf(Some(version), &c.blue());
        let r = cni("ADD", &cid, "eth0", Some(&ns.path), &conf).ok();
        assert_eq!(
            r["dns"],
            json!({"nameservers": ["10.64.0.54", "10.64.0.53"]}),
            "{version}: {r}"
        );
        assert!(
            r["ip4"]["ip"].is_string() || r["ips"][0]["address"].is_string(),
            "{version}: {r}"
        );
        cni("DEL", &cid, "eth0", Some(&ns.path), &conf).ok();
        assert_gone(&c, &cid, "eth0");
    }
    let ipam = c
        .config
        .find("network-ipam", &c.fq("blue-network-ipam"))
        .expect("the IPAM blue-network was made with");
    assert_eq!(
        ipam["network_ipam_mgmt"],
        json!({"ipam_dns_method": "default-dns-server"})
    );
}
