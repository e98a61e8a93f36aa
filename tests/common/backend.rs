//! The config API a test runs against: the project's emulator (a fresh one per test), or
//! upstream's real config API server (one per test binary, shared by its tests), alone or with
//! upstream's schema transformer and svc-monitor. The same test body runs on each
//! ([`both_backends!`]). On the real server the test's clients (managers, CLIs, the agent
//! emulator) go through a proxy of its own ([`ConfigApiProxy`]) that counts their requests and
//! injects faults as the emulator does; what only the emulator can do (Keystone, svc-monitor's
//! driver emulated in-process) stays in emulator-only tests.
//!
//! On the shared real server every test works in names of its own: its containers' ids start
//! with its tag, its networks, pools and security group live in a project named after it, and
//! its manager's cluster is named after it, so its objects (whose fq-names all hold the tag)
//! are counted and listed apart from the other tests'. What is shared: upstream's default
//! objects (ip-fabric, the global-vrouter-config) and this node's virtual-router.

use std::sync::OnceLock;

use contrail_mesos::domain::settings::Settings;
use contrail_mesos_sim::config_api::{ConfigApiOptions, ConfigApiProxy, ConfigApiSim};
use contrail_mesos_sim::config_rest::ConfigRest;
use contrail_mesos_sim::real_api::{RealApi, RealApiOptions};
use serde_json::Value;

use super::{FABRIC_IP, POOL, POOL2, PUBLIC, SG, Scratch, manager_settings, node};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The project's config API emulator, a fresh one for the test.
    Emulator,
    /// Upstream's real config API server, shared by the tests of this binary.
    Real,
    /// Upstream's real config API server with its schema transformer and svc-monitor.
    RealWithDaemons,
}

static REAL: OnceLock<Result<RealApi, String>> = OnceLock::new();
static REAL_DAEMONS: OnceLock<Result<RealApi, String>> = OnceLock::new();

/// This binary's real server (started by the first test that asks).
fn shared_real(daemons: bool) -> Result<&'static RealApi, String> {
    let cell = if daemons { &REAL_DAEMONS } else { &REAL };
    cell.get_or_init(|| {
        RealApi::start(RealApiOptions { daemons }).map_err(|e| {
            format!(
                "upstream's config API server{} did not start: {e:#}",
                if daemons { " with its daemons" } else { "" }
            )
        })
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// The config API of one test.
pub struct Api {
    /// The test's own reads and writes (straight to the server, not counted).
    rest: ConfigRest,
    sim: Option<ConfigApiSim>,
    /// On the real server: what the test's clients are given.
    proxy: Option<ConfigApiProxy>,
    /// On the shared real server: the test's tag, which every fq-name of its objects holds.
    scope: Option<String>,
}

impl Api {
    /// The URL to give the clients under test.
    pub fn url(&self) -> String {
        match (&self.sim, &self.proxy) {
            (Some(s), _) => s.url(),
            (None, Some(p)) => p.url(),
            (None, None) => self.rest.url().to_string(),
        }
    }

    /// Fail the clients' next `n` requests with `status`.
    pub fn fail_next(&self, n: usize, status: u16) {
        match (&self.sim, &self.proxy) {
            (Some(s), _) => s.fail_next(n, status),
            (None, Some(p)) => p.fail_next(n, status),
            (None, None) => unreachable!("a real server without its proxy"),
        }
    }

    /// Delay each of the clients' requests by `d`.
    pub fn set_latency(&self, d: std::time::Duration) {
        match (&self.sim, &self.proxy) {
            (Some(s), _) => s.set_latency(d),
            (None, Some(p)) => p.set_latency(d),
            (None, None) => unreachable!("a real server without its proxy"),
        }
    }

    /// The config API goes down for the clients (or comes back).
    pub fn set_down(&self, down: bool) -> anyhow::Result<()> {
        match (&self.sim, &self.proxy) {
            (Some(s), _) => s.set_down(down),
            (None, Some(p)) => p.set_down(down),
            (None, None) => unreachable!("a real server without its proxy"),
        }
    }

    /// The clients' requests so far.
    pub fn request_count(&self) -> u64 {
        match (&self.sim, &self.proxy) {
            (Some(s), _) => s.request_count(),
            (None, Some(p)) => p.request_count(),
            (None, None) => unreachable!("a real server without its proxy"),
        }
    }

    /// The clients' requests that may change something.
    pub fn write_count(&self) -> u64 {
        match (&self.sim, &self.proxy) {
            (Some(s), _) => s.write_count(),
            (None, Some(p)) => p.write_count(),
            (None, None) => unreachable!("a real server without its proxy"),
        }
    }

    /// The clients' requests per method and resource type.
    pub fn stats(&self) -> Value {
        match (&self.sim, &self.proxy) {
            (Some(s), _) => s.stats(),
            (None, Some(p)) => p.stats(),
            (None, None) => unreachable!("a real server without its proxy"),
        }
    }

    pub fn reset_request_count(&self) {
        match (&self.sim, &self.proxy) {
            (Some(s), _) => s.reset_request_count(),
            (None, Some(p)) => p.reset_request_count(),
            (None, None) => unreachable!("a real server without its proxy"),
        }
    }

    pub fn is_real(&self) -> bool {
        self.sim.is_none()
    }

    /// The emulator, for what only it can do (faults, latency, counters).
    pub fn sim(&self) -> &ConfigApiSim {
        self.sim
            .as_ref()
            .expect("an emulator-only step in a test on the real server")
    }

    pub fn rest(&self) -> &ConfigRest {
        &self.rest
    }

    /// Whether an object named `fq` is this test's (always, on its own emulator).
    pub fn in_scope(&self, fq: &[String]) -> bool {
        self.scope
            .as_deref()
            .is_none_or(|tag| fq.iter().any(|part| part.contains(tag)))
    }

    /// Create an object (`POST /<type>s`; on the emulator through its handle, no token needed).
    pub fn create(&self, ty: &str, body: Value) -> anyhow::Result<String> {
        match &self.sim {
            Some(s) => s.create(ty, body),
            None => self.rest.create(ty, body),
        }
    }

    /// The object as `GET /<type>/<uuid>` returns it.
    pub fn get(&self, ty: &str, uuid: &str) -> Option<Value> {
        match &self.sim {
            Some(s) => s.get(ty, uuid),
            None => self.rest.get(ty, uuid),
        }
    }

    pub fn find(&self, ty: &str, fq: &[&str]) -> Option<Value> {
        match &self.sim {
            Some(s) => s.find(ty, fq),
            None => self.rest.find(ty, fq),
        }
    }

    /// The test's objects of a type, in fq-name order.
    pub fn list(&self, ty: &str) -> Vec<Value> {
        match &self.sim {
            Some(s) => s.list(ty),
            None => self.rest.list_where(ty, |fq| self.in_scope(fq)),
        }
    }

    /// How many objects of a type the test has.
    pub fn count(&self, ty: &str) -> usize {
        match &self.sim {
            Some(s) => s.count(ty),
            None => self
                .rest
                .list_names(ty)
                .expect("list objects")
                .iter()
                .filter(|(_, fq)| self.in_scope(fq))
                .count(),
        }
    }

    /// `DELETE /<type>/<uuid>` over HTTP: the status.
    pub fn delete(&self, ty: &str, uuid: &str) -> u16 {
        self.rest.delete(ty, uuid).expect("DELETE")
    }

    pub fn add_project(&self, fq: &[&str]) -> anyhow::Result<String> {
        match &self.sim {
            Some(s) => s.add_project(fq),
            None => self.rest.add_project(fq),
        }
    }

    pub fn add_network(&self, fq: &[&str], subnets: &[&str]) -> anyhow::Result<String> {
        match &self.sim {
            Some(s) => s.add_network(fq, subnets),
            None => self.rest.add_network(fq, subnets),
        }
    }

    pub fn add_fip_pool(&self, network_fq: &[&str], pool: &str) -> anyhow::Result<String> {
        match &self.sim {
            Some(s) => s.add_fip_pool(network_fq, pool),
            None => self.rest.add_fip_pool(network_fq, pool),
        }
    }

    pub fn add_security_group(&self, fq: &[&str]) -> anyhow::Result<String> {
        match &self.sim {
            Some(s) => s.add_security_group(fq),
            None => self.rest.add_security_group(fq),
        }
    }

    pub fn add_virtual_router(&self, name: &str, ip: &str) -> anyhow::Result<String> {
        match &self.sim {
            Some(s) => s.add_virtual_router(name, ip),
            None => self.rest.add_virtual_router(name, ip),
        }
    }
}

/// One test's config API and the names it works in.
pub struct Env {
    pub config: Api,
    pub backend: Backend,
    /// Eight hex digits every name of the test holds (empty on the emulator).
    pub tag: String,
    /// The manager's cluster name (`mesos` on the emulator).
    pub cluster: String,
    /// The project of the test's networks, pools and security group (`default-project` on the
    /// emulator).
    pub project: String,
    pool: String,
    pool2: String,
    sg: String,
}

impl Env {
    /// A fresh emulator with the default options, seeded ([`Env::seed`]).
    pub fn emulator() -> Env {
        Self::emulator_with(ConfigApiOptions::default())
    }

    /// The emulator a test on `real` is paired with: svc-monitor's driver emulated where the
    /// real server runs upstream's.
    pub fn emulator_for(real: Backend) -> Env {
        Self::emulator_with(ConfigApiOptions {
            svc_monitor: real == Backend::RealWithDaemons,
            ..ConfigApiOptions::default()
        })
    }

    pub fn emulator_with(opts: ConfigApiOptions) -> Env {
        Self::on_emulator(ConfigApiSim::start(opts).expect("config API emulator"))
    }

    /// On an emulator the test started, seeded (through its handle: no token needed).
    pub fn on_emulator(sim: ConfigApiSim) -> Env {
        let env = Env {
            config: Api {
                rest: ConfigRest::new(&sim.url()),
                sim: Some(sim),
                proxy: None,
                scope: None,
            },
            backend: Backend::Emulator,
            tag: String::new(),
            cluster: "mesos".into(),
            project: PUBLIC[1].into(),
            pool: POOL.into(),
            pool2: POOL2.into(),
            sg: SG.into(),
        };
        env.seed();
        env
    }

    /// The test's environment on `backend`, seeded. `None` when the real server cannot run
    /// here (the test is skipped with the reason; under CI it fails instead).
    pub fn new(backend: Backend, test: &str) -> Option<Env> {
        let daemons = match backend {
            Backend::Emulator => return Some(Self::emulator()),
            Backend::Real => false,
            Backend::RealWithDaemons => true,
        };
        let server = match shared_real(daemons) {
            Ok(s) => s,
            Err(why) => {
                contrail_mesos_sim::require(false, test, &why);
                return None;
            }
        };
        let tag = format!("{:08x}", rand_u32());
        let project = format!("p{tag}");
        let public = format!("{}:{project}:{}", PUBLIC[0], PUBLIC[2]);
        let env = Env {
            config: Api {
                rest: ConfigRest::new(&server.url()),
                sim: None,
                proxy: Some(ConfigApiProxy::start(&server.url(), 16).expect("proxy")),
                scope: Some(tag.clone()),
            },
            backend,
            cluster: format!("m{tag}"),
            pool: format!("{public}:__fip_pool_public__"),
            pool2: format!("{public}:__fip_pool_public2__"),
            sg: format!("{}:{project}:security_groups_mesos", PUBLIC[0]),
            project,
            tag,
        };
        env.seed();
        Some(env)
    }

    /// What an operator has: a public network with two pools and a security group (in the
    /// test's project), and this node's virtual-router, named after the host, at its fabric
    /// address.
    pub fn seed(&self) {
        let public = self.public();
        let c = &self.config;
        c.add_network(&public, &["10.66.77.0/24", "10.33.44.0/24"])
            .expect("public network");
        c.add_fip_pool(&public, "__fip_pool_public__")
            .expect("pool");
        c.add_fip_pool(&public, "__fip_pool_public2__")
            .expect("pool2");
        c.add_security_group(&self.fq("security_groups_mesos"))
            .expect("security group");
        c.add_virtual_router(&node(), FABRIC_IP)
            .expect("virtual router");
    }

    /// A container id: a UUID, which starts with the test's tag on the real server.
    pub fn cid(&self) -> String {
        let id = super::new_cid();
        if self.tag.is_empty() {
            id
        } else {
            format!("{}{}", self.tag, &id[8..])
        }
    }

    /// `name`, with the test's tag on the real server (for names shared by the whole server:
    /// virtual-routers, instance IPs, ...).
    pub fn tagged(&self, name: &str) -> String {
        if self.tag.is_empty() {
            name.to_string()
        } else {
            format!("{name}-{}", self.tag)
        }
    }

    /// `[default-domain, <project>, name]`
    pub fn fq<'a>(&'a self, name: &'a str) -> [&'a str; 3] {
        [PUBLIC[0], &self.project, name]
    }

    /// `default-domain:<project>:name`
    pub fn fq_str(&self, name: &str) -> String {
        self.fq(name).join(":")
    }

    /// The public network with the floating-IP pools.
    pub fn public(&self) -> [&str; 3] {
        self.fq(PUBLIC[2])
    }

    pub fn pool(&self) -> &str {
        &self.pool
    }

    pub fn pool2(&self) -> &str {
        &self.pool2
    }

    pub fn sg(&self) -> &str {
        &self.sg
    }

    /// blue-network's fq-name.
    pub fn blue_fq(&self) -> [&str; 3] {
        self.fq("blue-network")
    }

    /// The seed's labels: blue-network 5.5.5.0/24 in the test's project.
    pub fn blue(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("networks", "blue-network"),
            ("network-subnets", "5.5.5.0/24"),
            ("project-name", &self.project),
            ("domain-name", PUBLIC[0]),
        ]
    }

    /// The cluster project `[default-domain, <cluster>-default]`.
    pub fn cluster_project(&self) -> [String; 2] {
        [PUBLIC[0].to_string(), format!("{}-default", self.cluster)]
    }

    /// An object of the cluster, `default-domain:<cluster>-default:<cluster>-<suffix>`.
    pub fn cluster_fq(&self, suffix: &str) -> [String; 3] {
        let [d, p] = self.cluster_project();
        [d, p, format!("{}-{suffix}", self.cluster)]
    }

    /// A manager's settings for this test: its config API and its cluster.
    pub fn settings(&self) -> Settings {
        let mut s = manager_settings(&self.config.url());
        s.cluster_name = self.cluster.clone();
        s
    }

    /// A manager configuration file naming the test's cluster, for the CLIs' `-c`.
    pub fn cluster_conf(&self) -> ConfFile {
        let dir = Scratch::new("conf");
        let path = dir.0.join("contrail-mesos.conf");
        std::fs::write(
            &path,
            format!("[MESOS]\nmesos_cluster_name = {}\n", self.cluster),
        )
        .expect("config file");
        ConfFile { path, _dir: dir }
    }

    /// Objects of the four per-task types: VMs, interfaces, instance IPs, floating IPs.
    pub fn counts(&self) -> [usize; 4] {
        [
            "virtual-machine",
            "virtual-machine-interface",
            "instance-ip",
            "floating-ip",
        ]
        .map(|t| self.config.count(t))
    }
}

/// A configuration file, removed on drop.
pub struct ConfFile {
    pub path: std::path::PathBuf,
    _dir: Scratch,
}

fn rand_u32() -> u32 {
    let b = *uuid::Uuid::new_v4().as_bytes();
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Each `name: Real;` (or `name: RealWithDaemons;`) turns `fn name(env: Env)` into two tests:
/// `name::emulator` on a fresh emulator (running svc-monitor's driver when the real server runs
/// the daemons) and `name::real_api` on this binary's real server. `cargo test real_api` runs
/// the real-server tier alone. `name: Real, ignore = "why";` marks the real-server test
/// ignored: a known difference of upstream's that the product does not handle yet (`cargo test
/// -- --include-ignored` runs it).
#[macro_export]
macro_rules! both_backends {
    ($($name:ident: $real:ident $(, ignore = $why:literal)?;)*) => {$(
        mod $name {
            #[test]
            fn emulator() {
                super::$name(super::common::Env::emulator_for(
                    super::common::Backend::$real,
                ))
            }

            #[test]
            $(#[ignore = $why])?
            fn real_api() {
                if let Some(env) = super::common::Env::new(
                    super::common::Backend::$real,
                    concat!(module_path!(), "::real_api"),
                ) {
                    super::$name(env)
                }
            }
        }
    )*};
}
