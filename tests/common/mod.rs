//! Shared test harness: the emulators, an in-process manager, network namespaces, and running
//! the built binary exactly as the Mesos agent runs a CNI plugin.
#![allow(dead_code)]

mod backend;

#[allow(unused_imports)]
pub use backend::{Api, Backend, ConfFile, Env};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use contrail_mesos::applets::manager;
use contrail_mesos::domain::settings::Settings;
use contrail_mesos_sim::agent::{AgentOptions, AgentRelease, AgentSim};
use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_contrail-mesos");

/// A CNI plugin directory with the binary installed as Mesos and libcni find it: a symlink named
/// after the network's `type`.
pub fn plugin_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("plugins-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("plugin dir");
        let link = dir.join("contrail-cni-plugin");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(BIN, &link).expect("plugin symlink");
        dir
    })
    .clone()
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn unique(tag: &str) -> String {
    format!(
        "{tag}{}x{}",
        std::process::id() % 100_000,
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// True when root; otherwise the test is skipped (and fails under CI).
pub fn root(test: &str) -> bool {
    contrail_mesos_sim::require(
        nix::unistd::geteuid().is_root(),
        test,
        "needs root to create network namespaces and links",
    )
}

/// A named network namespace (`ip netns add`), deleted on drop.
pub struct Netns {
    pub name: String,
    pub path: PathBuf,
}

impl Netns {
    pub fn new() -> Netns {
        let name = unique("cmt");
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "ip netns add {name} failed");
        Netns {
            path: PathBuf::from(format!("/var/run/netns/{name}")),
            name,
        }
    }

    /// `ip -n <ns> -j <args>` parsed.
    pub fn ip_json(&self, args: &[&str]) -> Value {
        let mut full = vec!["-n", &self.name, "-j"];
        full.extend_from_slice(args);
        let out = Command::new("ip").args(&full).output().expect("run ip");
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// The IPv4 addresses of `ifname` in this namespace.
    pub fn addrs(&self, ifname: &str) -> Vec<String> {
        let v = self.ip_json(&["addr", "show", "dev", ifname]);
        v[0]["addr_info"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["family"] == "inet")
            .map(|a| {
                format!(
                    "{}/{}",
                    a["local"].as_str().unwrap_or_default(),
                    a["prefixlen"]
                )
            })
            .collect()
    }

    pub fn link(&self, ifname: &str) -> Option<Value> {
        let v = self.ip_json(&["link", "show", "dev", ifname]);
        v.get(0).cloned()
    }

    pub fn default_gateway(&self) -> Option<String> {
        let v = self.ip_json(&["route", "show", "default"]);
        v.get(0)
            .and_then(|r| r["gateway"].as_str().map(str::to_string))
    }

    /// Delete the namespace now (the container is gone).
    pub fn remove(&self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A link on the host (the test's network namespace).
pub fn host_link(name: &str) -> Option<Value> {
    let out = Command::new("ip")
        .args(["-j", "link", "show", "dev", name])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice::<Value>(&out.stdout)
        .ok()?
        .get(0)
        .cloned()
}

/// A scratch directory, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let p = std::env::temp_dir().join(unique(&format!("cm-{tag}-")));
        std::fs::create_dir_all(&p).expect("scratch dir");
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub const PUBLIC: &[&str] = &["default-domain", "default-project", "__public__"];
pub const POOL: &str = "default-domain:default-project:__public__:__fip_pool_public__";
pub const POOL2: &str = "default-domain:default-project:__public__:__fip_pool_public2__";
pub const SG: &str = "default-domain:default-project:security_groups_mesos";
/// The fabric address of this node's virtual-router (never 127.0.0.1 on a real node).
pub const FABRIC_IP: &str = "10.64.0.7";

/// This node's host name: a real deployment names the node's virtual-router after it.
pub fn node() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .expect("host name")
}

/// What our plugin tells the manager about its node (the part of an ADD body that finds the
/// virtual-router).
pub fn node_info() -> Value {
    json!({"hostname": node(), "addresses": [FABRIC_IP]})
}

/// A config API (the emulator, or upstream's real server), the agent emulator learning from
/// it, a manager, and a port directory (the plugin's `config-dir`, where the agent keeps its own
/// port files too).
pub struct Cluster {
    pub env: Env,
    pub agent: AgentSim,
    pub manager: Option<manager::Running>,
    pub ports: Scratch,
}

impl std::ops::Deref for Cluster {
    type Target = Env;

    fn deref(&self) -> &Env {
        &self.env
    }
}

pub fn manager_settings(config_url: &str) -> Settings {
    Settings {
        listen_ip: "127.0.0.1".into(),
        listen_port: 0,
        vnc_endpoints: vec![config_url.to_string()],
        reconcile_interval: Duration::ZERO,
        workers: 8,
        vnc_timeout: Duration::from_secs(10),
        ..Settings::default()
    }
}

/// The agent emulator of a cluster on `env`'s config API (read over HTTP, as it reads
/// upstream's), behaving as `release`, and its port directory (the plugin's `config-dir`).
fn start_agent(env: &Env, release: AgentRelease) -> (AgentSim, Scratch) {
    let ports = Scratch::new("ports");
    let agent = AgentSim::start(AgentOptions {
        config_api_url: Some(env.config.url()),
        host_name: Some(node()),
        port_dir: Some(ports.0.join("vm")),
        release,
        ..AgentOptions::default()
    })
    .expect("agent emulator");
    (agent, ports)
}

impl Cluster {
    /// On a fresh emulator.
    pub fn start() -> Cluster {
        Self::on(Env::emulator())
    }

    /// On `env`'s config API: the agent emulator reads it over HTTP, as it reads upstream's.
    pub fn on(env: Env) -> Cluster {
        let (agent, ports) = start_agent(&env, AgentRelease::default());
        let manager = manager::start(env.settings()).expect("manager");
        Cluster {
            env,
            agent,
            manager: Some(manager),
            ports,
        }
    }

    /// A new agent emulator behaving as `release`, with a port directory of its own (the
    /// previous agent and its port files go): each release from a clean node, on one config
    /// API and manager.
    pub fn new_agent(&mut self, release: AgentRelease) {
        let (agent, ports) = start_agent(&self.env, release);
        self.agent = agent;
        self.ports = ports;
    }

    /// The manager runs again with the test's settings as `f` changes them.
    pub fn restart_manager_with(&mut self, f: impl FnOnce(&mut Settings)) {
        self.stop_manager();
        let mut settings = self.settings();
        f(&mut settings);
        self.manager = Some(manager::start(settings).expect("manager"));
    }

    /// The plugin's `config-dir`, which is also the agent's own port directory.
    pub fn config_dir(&self) -> PathBuf {
        self.ports.0.join("vm")
    }

    pub fn manager_url(&self) -> String {
        self.manager
            .as_ref()
            .map(|m| m.url())
            .unwrap_or_else(|| "http://127.0.0.1:9".into())
    }

    /// Stop the manager (it becomes unreachable).
    pub fn stop_manager(&mut self) -> String {
        let url = self.manager_url();
        if let Some(m) = self.manager.take() {
            m.shutdown();
        }
        url
    }

    /// The network configuration Mesos writes for a task with these labels: the packaged
    /// config (`vrouter-ip` the agent's address, `cluster-name` the cluster's name), pointed at
    /// the emulators.
    pub fn netconf(&self, version: Option<&str>, labels: &[(&str, &str)]) -> Value {
        let labels: Vec<Value> = labels
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        let agent = self.agent.addr();
        let mut conf = json!({
            "name": "contrail-cni-plugin",
            "type": "contrail-cni-plugin",
            "contrail": {
                "vrouter-ip": agent.ip().to_string(),
                "vrouter-port": agent.port(),
                "cluster-name": self.cluster,
                "mode": "mesos",
                "manager-url": self.manager_url(),
                "config-dir": self.config_dir().display().to_string(),
                "poll-timeout": 0.5,
                "poll-retries": 20,
                "log-level": "debug"
            },
            "args": {"org.apache.mesos": {"network_info": {
                "name": "contrail-cni-plugin",
                "labels": {"labels": labels},
                "ip_addresses": [{"protocol": "IPv4"}]
            }}}
        });
        if let Some(v) = version {
            conf["cniVersion"] = v.into();
        }
        conf
    }
}

/// The default gateway and DNS server Contrail recorded for the first subnet of a network.
pub fn gateway_dns(config: &Api, fq: &[&str]) -> (String, String) {
    let vn = config.find("virtual-network", fq).expect("network exists");
    let s = &vn["network_ipam_refs"][0]["attr"]["ipam_subnets"][0];
    (
        s["default_gateway"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        s["dns_server_address"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

/// What a plugin run printed.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or(Value::Null)
    }

    /// Assert success and return the result.
    pub fn ok(&self) -> Value {
        assert_eq!(
            self.code, 0,
            "plugin failed: stdout {} stderr {}",
            self.stdout, self.stderr
        );
        self.json()
    }

    /// Assert failure with this CNI code; returns the error JSON.
    pub fn err(&self, code: u64) -> Value {
        assert_ne!(self.code, 0, "plugin succeeded: {}", self.stdout);
        let v = self.json();
        assert_eq!(
            v["code"].as_u64(),
            Some(code),
            "stdout {} stderr {}",
            self.stdout,
            self.stderr
        );
        assert!(
            v["msg"].as_str().is_some_and(|m| !m.is_empty()),
            "error without msg: {v}"
        );
        v
    }
}

/// Run the plugin with exactly the environment Mesos gives it (env cleared; stdin = config).
pub fn cni(cmd: &str, cid: &str, ifname: &str, netns: Option<&Path>, conf: &Value) -> Run {
    cni_raw(cmd, cid, ifname, netns, conf.to_string().as_bytes(), &[])
}

pub fn cni_raw(
    cmd: &str,
    cid: &str,
    ifname: &str,
    netns: Option<&Path>,
    stdin: &[u8],
    extra: &[(&str, &str)],
) -> Run {
    use std::io::Write;
    let dir = plugin_dir();
    let mut c = Command::new(dir.join("contrail-cni-plugin"));
    c.env_clear()
        .env("CNI_COMMAND", cmd)
        .env("CNI_PATH", &dir)
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if !cid.is_empty() {
        c.env("CNI_CONTAINERID", cid);
    }
    if !ifname.is_empty() {
        c.env("CNI_IFNAME", ifname);
    }
    if let Some(n) = netns {
        c.env("CNI_NETNS", n);
    }
    for (k, v) in extra {
        c.env(k, v);
    }
    let mut child = c.spawn().expect("spawn plugin");
    if let Some(mut s) = child.stdin.take() {
        let _ = s.write_all(stdin);
    }
    let out = child.wait_with_output().expect("plugin output");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

pub fn new_cid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The tap name the plugin uses.
pub fn tap(cid: &str, ifname: &str) -> String {
    contrail_mesos::domain::ids::tap_name(cid, ifname)
}

/// An HTTP client for the tests: error statuses are answers, not errors; 30 s at most a call.
pub fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// POST a JSON body: the status and the JSON answer (`Null` when it is not JSON).
pub fn post_json(url: &str, body: &Value) -> (u16, Value) {
    let mut r = http().post(url).send_json(body).expect("request");
    let status = r.status().as_u16();
    (
        status,
        r.body_mut().read_json::<Value>().unwrap_or(Value::Null),
    )
}

/// The `contrail` keys of the packaged CNI config (`packaging/contrail-cni-plugin.conf`), with
/// `extra` on top.
pub fn packaged_contrail(extra: Value) -> Value {
    let mut c = json!({"vrouter-ip": "127.0.0.1", "vrouter-port": 9091, "cluster-name": "mesos",
                       "mode": "mesos"});
    if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    c
}

/// The manager body of an ADD: the CNI config (`contrail` keys, the labels in Mesos'
/// `network_info`) as a JSON string as upstream's plugin sends it, the ifname, and the node
/// our plugin describes (`None`: an upstream plugin, which sends none).
pub fn add_body(
    cid: &str,
    ifname: &str,
    contrail: Value,
    labels: &[(&str, &str)],
    node: Option<Value>,
) -> Value {
    let labels: Vec<Value> = labels
        .iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    let conf = json!({"cniVersion": "0.2.0", "name": "contrail-cni-plugin", "type": "contrail-cni-plugin",
        "contrail": contrail,
        "args": {"org.apache.mesos": {"network_info": {"name": "contrail-cni-plugin", "labels": {"labels": labels}}}}});
    let mut b = json!({"cid": cid, "cmd": "ADD", "args": conf.to_string(), "ifname": ifname});
    if let Some(n) = node {
        b["node"] = n;
    }
    b
}

/// The manager body of an ADD from our packaged plugin on this node.
pub fn node_add_body(cid: &str, ifname: &str, labels: &[(&str, &str)]) -> Value {
    add_body(
        cid,
        ifname,
        packaged_contrail(json!({})),
        labels,
        Some(node_info()),
    )
}

/// ADD of `eth0` with `labels` to the manager at `url`, from our packaged plugin on this node.
pub fn node_add(url: &str, cid: &str, labels: &[(&str, &str)]) -> (u16, Value) {
    post_json(
        &format!("{url}/add_cni_info"),
        &node_add_body(cid, "eth0", labels),
    )
}

/// The manager body of a DEL (upstream's: no labels needed).
pub fn del_body(cid: &str, ifname: &str) -> Value {
    json!({"cid": cid, "cmd": "DEL", "args": "{}", "ifname": ifname})
}

/// Whether the node's virtual-router `router` refers to the VM named `vm`.
pub fn linked(c: &Api, router: &str, vm: &str) -> bool {
    c.find("virtual-router", &["default-global-system-config", router])
        .is_some_and(|r| r["virtual_machine_refs"].to_string().contains(vm))
}

/// Delete a router (a node re-provisioned, or taken out of Contrail): its uuid.
pub fn delete_router(c: &Api, name: &str) -> String {
    let old = c
        .find("virtual-router", &["default-global-system-config", name])
        .expect("router");
    let uuid = old["uuid"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        c.delete("virtual-router", &uuid),
        200,
        "router {name} deleted"
    );
    uuid
}

/// A router of the test's own for a node named `name` (`<cluster tag>-name`), at an address
/// of its own (`10.<net>.x.y` from the tag): on the shared real server the default node's
/// router is every test's. Returns the host name and address.
pub fn own_router(env: &Env, name: &str, net: u8) -> (String, String) {
    let host = env.tagged(name);
    let tag = u32::from_str_radix(&env.tag, 16).unwrap_or(0).to_be_bytes();
    let ip = format!("10.{net}.{}.{}", tag[2], tag[3].max(1));
    env.config.add_virtual_router(&host, &ip).expect("router");
    (host, ip)
}
