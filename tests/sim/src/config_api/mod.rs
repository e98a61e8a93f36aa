//! In-memory emulator of the Contrail (Tungsten Fabric) config API server (VNC API, port 8082).
//!
//! It follows upstream's API server (Juniper/contrail-controller R2005,
//! `src/config/api-server/vnc_cfg_api_server/`: `api_server.py`, `vnc_addr_mgmt.py`,
//! `resources/*.py`) and the schema vnc_api is generated from (PyPI `contrail-api-client`
//! 2005, `vnc_api/gen/resource_common.py` and `resource_xsd.py`, as `schema.txt`; `make
//! schema` regenerates it): the REST shapes, status codes and messages, the routes (one per
//! resource type of the schema), every property and reference attribute checked against the
//! schema, parent and reference rules, back-references, delete refusal while referenced,
//! subnet and address management for IPv4 and IPv6 (gateway and DNS at the end of the subnet
//! unless `addr_from_start`, allocation from the end, `instance_ip_family`, `subnet_uuid`,
//! the allocator's 65536-address window), flat-subnet IPAMs shared by networks, MAC
//! allocation. Optional Keystone (v3 and v2.0) authentication, fault injection (fail the next
//! N requests, latency, go down and come back) and request counters support the tests,
//! benchmarks and the demo.
//!
//! Like upstream, and so on purpose: fields a type does not have (including references to
//! types it may not refer to) are dropped without an error; a `ref-update` to such a type
//! answers 200 and changes nothing visible; an object created without `parent_type` gets no
//! parent; upstream's known quirks in address allocation are kept (see `types.rs`).
//!
//! Where it knowingly differs from upstream:
//! - an instance-ip needs `virtual_network_refs` (allocation through `network_ipam_refs` or
//!   `virtual_router_refs` is not emulated), and a floating-ip under an instance-ip needs
//!   `floating_ip_address` (upstream stores none and breaks later);
//! - malformed input (an unparsable address or subnet, a reference or attribute of the wrong
//!   shape, an interface without a network, a missing `ref-type`) is a 400 naming the field
//!   where upstream answers a 500 with a traceback; a PUT that changes `fq_name` or `uuid` is
//!   a 400 (upstream ignores those keys); `alloc_unit` other than 1 is refused (400);
//! - no routing-instance children, quotas, RBAC, pagination, `/prop-collection-*` or
//!   `/virtual-network/<id>/ip-alloc`: so no `routing_instance_refs` on an interface, and no
//!   default application-policy-set on a project (upstream makes one at create, and again with
//!   a ref-update on every read of the project, which stamps its `last_modified`,
//!   `resources/project.py` `pre_dbe_read`).
//!
//! The real-server tier (`cargo test real_api`, `tests/common/backend.rs`) runs the same tests on
//! upstream's server; `tests/config_api.rs` pins what it answers that this emulator must too.
//!
//! With [`ConfigApiOptions::svc_monitor`] it also does what contrail-svc-monitor's native
//! load-balancer driver does (`svc_monitor.rs`): the `native` service-appliance-set at start,
//! a floating IP under each native load balancer's VIP address, and each new member's
//! interface and port map added to it (never taken off).
//!
//! ```no_run
//! use contrail_mesos_sim::config_api::{ConfigApiOptions, ConfigApiSim};
//! let sim = ConfigApiSim::start(ConfigApiOptions::default())?;
//! let vn = sim.add_network(&["default-domain", "p", "vn"], &["10.0.0.0/24"])?;
//! println!("{} has network {vn}", sim.url());
//! # anyhow::Ok(())
//! ```

mod dns;
mod error;
mod faults;
pub(crate) mod ipam;
mod keystone;
mod ops;
mod policy;
mod proxy;
mod pyfmt;
mod schema;
mod seed;
mod server;
mod store;
mod svc_monitor;
mod types;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use serde_json::{Map, Value};

use contrail_mesos::http::server::{Handler, Request};

pub use error::ApiError;
pub use proxy::ConfigApiProxy;

use contrail_mesos::http::server::Server as Service;
use faults::Faults;
use keystone::Keystone;
use ops::ReadOpts;
use store::Store;

/// Largest request body accepted.
const MAX_BODY: usize = 64 << 20;

/// Options of [`ConfigApiSim::start`].
#[derive(Debug, Clone)]
pub struct ConfigApiOptions {
    /// `host:port` to listen on; port 0 picks a free one. Default `127.0.0.1:0`.
    pub listen: String,
    /// HTTP worker threads. Default 16.
    pub workers: usize,
    /// Require Keystone tokens for every API request when set.
    pub keystone: Option<KeystoneCreds>,
    /// Create what a fresh Contrail has (default domain and project, global system config,
    /// default IPAM, ip-fabric and link-local networks). Default true.
    pub seed_defaults: bool,
    /// Also act as contrail-svc-monitor's native load-balancer driver: create the
    /// `opencontrail` and `native` service-appliance-sets, put a floating IP under each native
    /// load balancer's VIP address and add each new member's interface and port map to it.
    /// Default false (an API server alone).
    pub svc_monitor: bool,
}

impl Default for ConfigApiOptions {
    fn default() -> Self {
        ConfigApiOptions {
            listen: "127.0.0.1:0".into(),
            workers: 16,
            keystone: None,
            seed_defaults: true,
            svc_monitor: false,
        }
    }
}

/// The one Keystone user the emulator accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeystoneCreds {
    pub user: String,
    pub password: String,
    pub tenant: String,
}

/// State shared by the HTTP handler and the handle.
pub(crate) struct Inner {
    store: Mutex<Store>,
    keystone: Option<Keystone>,
    faults: Faults,
    /// The public listener and the HTTP server behind it; taken out when the emulator stops.
    front: Mutex<Option<Service>>,
    url: String,
    closed: AtomicBool,
    /// The emulated svc-monitor's driver state, when it runs.
    svc_monitor: Option<Mutex<svc_monitor::Driver>>,
}

impl Inner {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// svc-monitor's reaction to a write the API server answered 200.
    fn svc_monitor_on_write(&self, ty: &str, uuid: &str, op: svc_monitor::Op) {
        if let Some(driver) = &self.svc_monitor {
            let mut store = self.store();
            let mut driver = driver.lock().unwrap_or_else(|e| e.into_inner());
            svc_monitor::on_write(&mut store, &mut driver, ty, uuid, op);
        }
    }

    fn set_down(&self, down: bool) -> Result<()> {
        if !down && self.closed.load(Ordering::SeqCst) {
            return Ok(());
        }
        match self
            .front
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            Some(f) => f.set_down(down),
            None => Ok(()),
        }
    }
}

/// A running emulator. Dropping it stops the server.
pub struct ConfigApiSim {
    inner: Arc<Inner>,
    /// Where the handler finds `inner`; emptied on drop to break the handler → inner cycle.
    slot: Arc<Mutex<Option<Arc<Inner>>>>,
    port: u16,
}

fn api<T>(r: Result<T, ApiError>) -> Result<T> {
    r.map_err(|e| anyhow!("config API emulator: {e}"))
}

fn owned(fq: &[&str]) -> Vec<String> {
    fq.iter().map(|s| s.to_string()).collect()
}

impl ConfigApiSim {
    /// Start listening.
    pub fn start(opts: ConfigApiOptions) -> Result<Self> {
        let mut store = Store::new();
        if opts.seed_defaults {
            api(seed::defaults(&mut store)).context("seeding the default objects")?;
        }
        if opts.svc_monitor {
            api(svc_monitor::start_up(&mut store))
                .context("the service-appliance-sets svc-monitor creates")?;
        }
        // The HTTP server listens on an internal port; the gate owns the public one.
        let inner_slot: Arc<Mutex<Option<Arc<Inner>>>> = Arc::new(Mutex::new(None));
        let slot = Arc::clone(&inner_slot);
        let handler: Arc<Handler> = Arc::new(move |req: Request| {
            let inner = slot.lock().unwrap_or_else(|e| e.into_inner()).clone();
            match inner {
                Some(inner) => server::handle(&inner, req),
                None => contrail_mesos::http::server::Response::text(503, "starting\n"),
            }
        });
        let front = Service::start(&opts.listen, opts.workers.max(1), MAX_BODY, handler)?;
        let addr = front.local_addr();
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            addr.ip().to_string()
        };
        let inner = Arc::new(Inner {
            store: Mutex::new(store),
            keystone: opts.keystone.map(Keystone::new),
            faults: Faults::default(),
            front: Mutex::new(Some(front)),
            url: format!("http://{host}:{}", addr.port()),
            closed: AtomicBool::new(false),
            svc_monitor: opts.svc_monitor.then(Default::default),
        });
        *inner_slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&inner));
        Ok(ConfigApiSim {
            inner,
            slot: inner_slot,
            port: addr.port(),
        })
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        self.inner.url.clone()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn keystone_v3_url(&self) -> String {
        format!("{}/v3/auth/tokens", self.url())
    }

    pub fn keystone_v2_url(&self) -> String {
        format!("{}/v2.0/tokens", self.url())
    }

    /// Create an object with the same rules as `POST /<type>s`. `body` is the object, or
    /// `{"<type>": object}`. Returns the uuid.
    pub fn create(&self, ty: &str, body: Value) -> Result<String> {
        let ty = ops::norm_type(ty);
        let obj: Map<String, Value> = match body {
            Value::Object(mut m) => match m.remove(&ty) {
                Some(Value::Object(inner)) if m.is_empty() => inner,
                Some(other) => {
                    m.insert(ty.clone(), other);
                    m
                }
                None => m,
            },
            other => return Err(anyhow!("{ty}: the body must be a JSON object, got {other}")),
        };
        api(ops::create(&mut self.inner.store(), &ty, &obj))
    }

    /// A project (and its domain when missing); returns the existing one if present.
    pub fn add_project(&self, fq: &[&str]) -> Result<String> {
        api(seed::add_project(&mut self.inner.store(), &owned(fq)))
    }

    /// A network with user-defined subnets (`"10.0.0.0/24"`, `"fd00::/64"`) on the project's
    /// `default-network-ipam`; project and IPAM are created when missing.
    pub fn add_network(&self, fq: &[&str], subnets: &[&str]) -> Result<String> {
        api(seed::add_network(
            &mut self.inner.store(),
            &owned(fq),
            &owned(subnets),
        ))
    }

    pub fn add_fip_pool(&self, network_fq: &[&str], pool: &str) -> Result<String> {
        api(seed::add_fip_pool(
            &mut self.inner.store(),
            &owned(network_fq),
            pool,
        ))
    }

    pub fn add_security_group(&self, fq: &[&str]) -> Result<String> {
        api(seed::add_security_group(
            &mut self.inner.store(),
            &owned(fq),
        ))
    }

    /// `[default-global-system-config, name]` with `virtual_router_ip_address`.
    pub fn add_virtual_router(&self, name: &str, ip: &str) -> Result<String> {
        api(seed::add_virtual_router(&mut self.inner.store(), name, ip))
    }

    /// The object as `GET /<type>/<uuid>` returns it (refs, back-refs, children).
    pub fn get(&self, ty: &str, uuid: &str) -> Option<Value> {
        self.handle().get(ty, uuid)
    }

    pub fn find(&self, ty: &str, fq: &[&str]) -> Option<Value> {
        self.handle().find(ty, fq)
    }

    /// Every object of a type, each as [`ConfigApiSim::get`] returns it, in fq_name order.
    pub fn list(&self, ty: &str) -> Vec<Value> {
        self.handle().list(ty)
    }

    /// A read-only view of the store for emulators in the same process (the agent emulator
    /// learns port config through it as a real agent holds config in memory).
    pub fn handle(&self) -> ConfigHandle {
        ConfigHandle {
            inner: Arc::clone(&self.inner),
        }
    }

    pub fn count(&self, ty: &str) -> usize {
        self.inner.store().count_type(&ops::norm_type(ty))
    }

    /// Fail the next `n` API requests with `status`.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.inner.faults.fail_next(n, status);
    }

    /// Run `action` once, just before the next `method` request on `path` (e.g.
    /// `/virtual-machine-interface/<uuid>`) is served: something that happens meanwhile. The
    /// request waits for it; the action may call the emulator.
    pub fn before(&self, method: &str, path: &str, action: impl FnOnce() + Send + 'static) {
        self.handle().before(method, path, action);
    }

    /// Delay every API request by `d` (zero to stop).
    pub fn set_latency(&self, d: Duration) {
        self.inner.faults.set_latency(d);
    }

    /// Go down (connections refused, open ones cut) or come back on the same port.
    pub fn set_down(&self, down: bool) -> Result<()> {
        self.inner.set_down(down)
    }

    /// Revoke every Keystone token: the next API request gets 401; authenticating again works.
    pub fn expire_tokens(&self) {
        if let Some(ks) = &self.inner.keystone {
            ks.expire_all();
        }
    }

    /// API requests served (Keystone and `/_sim/*` excluded).
    pub fn request_count(&self) -> u64 {
        self.inner.faults.requests()
    }

    /// API requests that may change something (PUT, DELETE, POST other than the lookups
    /// fqname-to-id, id-to-fqname and list-bulk-collection), since the last reset.
    pub fn write_count(&self) -> u64 {
        self.inner.faults.writes()
    }

    /// Requests per method and per resource type (or action), as `GET /_sim/stats` shows.
    pub fn stats(&self) -> Value {
        self.inner.faults.stats()
    }

    pub fn reset_request_count(&self) {
        self.inner.faults.reset();
    }
}

/// Reads of the emulator's store without HTTP; see [`ConfigApiSim::handle`].
#[derive(Clone)]
pub struct ConfigHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ConfigHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigHandle")
            .field("url", &self.inner.url)
            .finish()
    }
}

impl ConfigHandle {
    /// [`ConfigApiSim::before`] (an action may set up the next one).
    pub fn before(&self, method: &str, path: &str, action: impl FnOnce() + Send + 'static) {
        self.inner.faults.before(method, path, Box::new(action));
    }

    /// The object as `GET /<type>/<uuid>` returns it (refs, back-refs, children).
    pub fn get(&self, ty: &str, uuid: &str) -> Option<Value> {
        ops::read(
            &self.inner.store(),
            ty,
            uuid,
            &ReadOpts::default(),
            &self.inner.url,
        )
        .ok()
    }

    pub fn find(&self, ty: &str, fq: &[&str]) -> Option<Value> {
        let uuid = self
            .inner
            .store()
            .find(&ops::norm_type(ty), &owned(fq))?
            .to_string();
        self.get(ty, &uuid)
    }

    /// Every object of a type, each as [`ConfigApiSim::get`] returns it, in fq_name order.
    pub fn list(&self, ty: &str) -> Vec<Value> {
        let store = self.inner.store();
        let ty = ops::norm_type(ty);
        store
            .uuids_of_type(&ty)
            .iter()
            .filter_map(|u| ops::read(&store, &ty, u, &ReadOpts::default(), &self.inner.url).ok())
            .collect()
    }
}

impl Drop for ConfigApiSim {
    fn drop(&mut self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        let front = self
            .inner
            .front
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(front);
        self.slot.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}
