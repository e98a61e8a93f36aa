//! Emulator of the vRouter agent's port-IPC REST API (upstream
//! `src/vnsw/agent/port_ipc/{rest_server.cc,port_ipc_handler.cc,rest_common.cc}`, the
//! multi-interface agent).
//!
//! Routes (UUID path segments are lowercase, as the agent's regexes require):
//! - `POST /vm` `{time, vm-id, vm-uuid, vm-name, host-ifname, vm-ifname, vm-namespace, vn-uuid,
//!   vmi-uuid}` registers a port (re-posting an interface replaces it) → 200 `{}`. A missing or
//!   invalid required field → 500 `{"error":"{ Invalid or missing data for <vm-uuid> }"}` (UUID
//!   fields) or `... field for <host-ifname> }` (string fields), as `GetUuidMember` /
//!   `GetStringMember` word it; unlike upstream, a UUID that does not parse is refused too.
//! - `GET /vm/<vm-uuid>` and `GET /vm/<vm-uuid>/<vmi-uuid>` → a JSON array of ports
//!   (`MakeJsonFromVmi`), or 404 `{"error":"{ Not Found }"}` until every port asked for is
//!   ready: registered, the readiness delay elapsed since its POST, and its config known with
//!   an address.
//! - `GET /vm-cfg/<vm-name>` → a JSON array, one element per interface of the virtual-machine
//!   with that name (`MakeJsonFromVmiConfig`), or 404 while the VM is unknown.
//! - `DELETE /vm/<vm-uuid>` removes every port of the VM → 200 `{}`, also for an unknown VM.
//!   `DELETE /vm/<vm-uuid>/<vmi-uuid>` removes one port → 200 `{}`: **our extension**, the
//!   upstream agent only has the first form.
//! - Anything else → 404 `{"error":"Unknown Request"}` (upstream `HandleRequest` sends it through
//!   `SendErrorResponse`, hence the JSON wrapping).
//!
//! Port config comes from a Contrail config API read over HTTP with the upstream shapes (see
//! [`config`]), or is seeded in-process with [`AgentSim::set_port_config`] (seeded config wins).
//!
//! Emulator control (not upstream): `POST /_sim/agent` `{"ready_delay_ms", "reject_next",
//! "check_host_ifname"}` (any subset; answers the current knobs), `GET /_sim/agent` (knobs and
//! counters), `GET /_sim/ports` (the registered ports, in the agent's port-file shape),
//! `PUT /_sim/port-config/<vmi-uuid>` with a [`PortConfig`] as JSON, and
//! `DELETE /_sim/port-config/<vmi-uuid>`.

mod config;
pub mod release;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::httpd::Server as Service;
use crate::httpd::{Handler, Request, Response};
use config::{ConfigApi, RouterFilter, VmCfg};
pub use release::{AgentRelease, RELEASE_NAMES, UnknownRelease};

/// What the real agent calls itself in `author`.
const AUTHOR: &str = "contrail-vrouter-agent";
const NIL_UUID: &str = "00000000-0000-0000-0000-000000000000";
/// `rx-vlan-id`, `tx-vlan-id` and `vlan-id` of an interface without VLAN.
const NO_VLAN: i64 = -1;

/// How to start an [`AgentSim`].
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// `host:port`; port 0 picks a free one. Default `127.0.0.1:0`.
    pub listen: String,
    /// Base URL of a Contrail config API to learn port config from (e.g. `http://127.0.0.1:8082`).
    pub config_api_url: Option<String>,
    /// Sent as `X-Auth-Token` to the config API.
    pub auth_token: Option<String>,
    /// Read config straight from a config API emulator in this process instead of over HTTP
    /// (takes precedence over `config_api_url`).
    pub config_api_local: Option<crate::sim::config_api::ConfigHandle>,
    /// The `virtual-router` this agent runs on, by name (its fq-name's last element). When this
    /// or `vrouter_ip` is set, only VMs referred to by that router are known, as with the real
    /// agent.
    pub vrouter_name: Option<String>,
    /// The `virtual-router` this agent runs on, by `virtual_router_ip_address`.
    pub vrouter_ip: Option<String>,
    /// A port is reported only this long after its POST (each re-POST restarts the wait).
    pub ready_delay: Duration,
    /// Refuse a POST whose `host-ifname` is not in `/sys/class/net` (the agent's `check_port`).
    pub check_host_ifname: bool,
}

impl Default for AgentOptions {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            config_api_url: None,
            auth_token: None,
            config_api_local: None,
            vrouter_name: None,
            vrouter_ip: None,
            ready_delay: Duration::ZERO,
            check_host_ifname: false,
        }
    }
}

/// A port as registered by `POST /vm` (the fields of the agent's own port file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct RegisteredPort {
    pub vm_uuid: String,
    pub vmi_uuid: String,
    pub vn_uuid: String,
    pub vm_id: String,
    pub vm_name: String,
    pub host_ifname: String,
    pub vm_ifname: String,
    pub vm_namespace: String,
    /// The `time` field of the POST, as sent.
    pub time: String,
}

/// The configuration of one interface, as the agent learns it from Contrail. Seeded with
/// [`AgentSim::set_port_config`] (or `PUT /_sim/port-config/<vmi>`); also what the config API
/// reader produces.
///
/// Empty or absent fields fall back: `vm_uuid` to the POSTed `vm-uuid`, `vn_uuid` to the POSTed
/// `vn-uuid`, `project_uuid` to the nil UUID, `mac` to `02:` + the first five bytes of the
/// interface UUID (the API server's scheme), `gateway` / `dns` to the addresses the API server
/// reserves (last usable address minus one / minus two). The port is ready once `ip` or `v6_ip`
/// is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PortConfig {
    /// The virtual-machine's UUID (`instance-id`, and `vm-uuid` in `/vm-cfg`).
    pub vm_uuid: Option<String>,
    /// The virtual-machine's name: makes the interface visible in `GET /vm-cfg/<name>`.
    pub vm_name: Option<String>,
    pub vn_uuid: String,
    /// The network's fq-name joined with `:` (`vn-name` in `/vm-cfg`).
    pub vn_name: String,
    pub project_uuid: String,
    pub mac: String,
    pub ip: Option<Ipv4Addr>,
    pub plen: u8,
    pub gateway: Option<Ipv4Addr>,
    pub dns: Option<Ipv4Addr>,
    pub v6_ip: Option<Ipv6Addr>,
    /// Only used to compute the default IPv6 gateway / DNS (the agent reports no IPv6 length).
    pub v6_plen: u8,
    pub v6_gateway: Option<Ipv6Addr>,
    pub v6_dns: Option<Ipv6Addr>,
    /// The interface's annotations (`annotations.key_value_pair`), as `[key, value]` pairs.
    pub annotations: Vec<(String, String)>,
}

impl PortConfig {
    /// An IPv4 port: address, prefix length, gateway; everything else defaulted.
    pub fn v4(ip: Ipv4Addr, plen: u8, gateway: Ipv4Addr) -> Self {
        Self {
            ip: Some(ip),
            plen,
            gateway: Some(gateway),
            ..Self::default()
        }
    }

    fn ready(&self) -> bool {
        self.ip.is_some() || self.v6_ip.is_some()
    }

    fn v4_reserved(&self, back: u32) -> Option<Ipv4Addr> {
        let net = IpNet::new(IpAddr::V4(self.ip?), self.plen).ok()?;
        let IpNet::V4(net) = net else { return None };
        let first = u32::from(net.network());
        let a = u32::from(net.broadcast()).checked_sub(back)?;
        (a > first).then(|| Ipv4Addr::from(a))
    }

    fn v6_reserved(&self, back: u128) -> Option<Ipv6Addr> {
        let net = IpNet::new(IpAddr::V6(self.v6_ip?), self.v6_plen).ok()?;
        let IpNet::V6(net) = net else { return None };
        let first = u128::from(net.network());
        let a = u128::from(net.broadcast()).checked_sub(back)?;
        (a > first).then(|| Ipv6Addr::from(a))
    }
}

/// Request counters of the port API (`/_sim/*` is not counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AgentStats {
    /// `POST /vm`, including refused ones.
    pub posts: u64,
    /// `POST /vm` refused by `reject_next`.
    pub rejected_posts: u64,
    /// `GET /vm/...` and `GET /vm-cfg/...`.
    pub gets: u64,
    /// Of those, the ones answered 404.
    pub not_found: u64,
    /// `DELETE /vm/...`.
    pub deletes: u64,
}

/// A running agent emulator. Dropping it stops it.
pub struct AgentSim {
    shared: Arc<Shared>,
    service: Service,
}

struct Shared {
    state: Mutex<State>,
}

struct State {
    ports: BTreeMap<String, PortEntry>,
    seeded: HashMap<String, PortConfig>,
    ready_delay: Duration,
    reject_next: u64,
    check_host_ifname: bool,
    config_url: Option<String>,
    config: Option<Arc<ConfigApi>>,
    router: RouterFilter,
    stats: AgentStats,
}

#[derive(Clone)]
struct PortEntry {
    port: RegisteredPort,
    posted: Instant,
    /// Config learnt from the config API (kept until the port is re-posted or deleted).
    learnt: Option<PortConfig>,
}

impl AgentSim {
    pub fn start(opts: AgentOptions) -> Result<Self> {
        let config = match &opts.config_api_local {
            Some(h) => Some(Arc::new(ConfigApi::Local(h.clone()))),
            None => opts
                .config_api_url
                .as_deref()
                .map(|u| Arc::new(ConfigApi::new(u, opts.auth_token.clone()))),
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                ports: BTreeMap::new(),
                seeded: HashMap::new(),
                ready_delay: opts.ready_delay,
                reject_next: 0,
                check_host_ifname: opts.check_host_ifname,
                config_url: opts.config_api_url.clone(),
                config,
                router: RouterFilter {
                    name: opts.vrouter_name.clone(),
                    ip: opts.vrouter_ip.clone(),
                },
                stats: AgentStats::default(),
            }),
        });
        let for_handler = Arc::clone(&shared);
        let handler: Arc<Handler> = Arc::new(move |req: Request| for_handler.handle(&req));
        let service = Service::start(&opts.listen, 8, 1 << 20, handler)?;
        Ok(Self { shared, service })
    }

    /// `http://host:port`.
    pub fn url(&self) -> String {
        self.service.url()
    }

    pub fn port(&self) -> u16 {
        self.service.local_addr().port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.service.local_addr()
    }

    /// The registered ports, ordered by interface UUID.
    pub fn ports(&self) -> Vec<RegisteredPort> {
        self.shared
            .lock()
            .ports
            .values()
            .map(|e| e.port.clone())
            .collect()
    }

    /// Applies to every port, counted from its own POST.
    pub fn set_ready_delay(&self, delay: Duration) {
        self.shared.lock().ready_delay = delay;
    }

    /// Refuse the next `n` `POST /vm` with 500 and an error body.
    pub fn reject_next_posts(&self, n: u64) {
        self.shared.lock().reject_next = n;
    }

    pub fn set_check_host_ifname(&self, check: bool) {
        self.shared.lock().check_host_ifname = check;
    }

    /// Go down (connections refused, open ones cut) or come back up on the same address.
    /// Registered ports survive, as the agent reloads its port files on restart.
    pub fn set_down(&self, down: bool) -> Result<()> {
        self.service.set_down(down)
    }

    pub fn is_down(&self) -> bool {
        self.service.is_down()
    }

    /// Seed (or replace) the config of one interface; it takes precedence over the config API.
    pub fn set_port_config(&self, vmi_uuid: &str, cfg: PortConfig) {
        self.shared.lock().seeded.insert(canonical(vmi_uuid), cfg);
    }

    pub fn clear_port_config(&self, vmi_uuid: &str) {
        self.shared.lock().seeded.remove(&canonical(vmi_uuid));
    }

    /// Learn port config from this config API from now on (`None`: only seeded config).
    pub fn set_config_api(&self, url: Option<&str>, auth_token: Option<String>) {
        let mut st = self.shared.lock();
        st.config = url.map(|u| Arc::new(ConfigApi::new(u, auth_token)));
        st.config_url = url.map(str::to_string);
        for e in st.ports.values_mut() {
            e.learnt = None;
        }
    }

    pub fn stats(&self) -> AgentStats {
        self.shared.lock().stats
    }
}

/// Lowercase hyphenated form of a UUID; other strings are only lowercased.
fn canonical(s: &str) -> String {
    uuid::Uuid::parse_str(s)
        .map(|u| u.hyphenated().to_string())
        .unwrap_or_else(|_| s.to_ascii_lowercase())
}

/// The agent's route regexes accept exactly `[0-9a-f]{8}-[0-9a-f]{4}-...-[0-9a-f]{12}`.
fn is_route_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

fn error(status: u16, msg: &str) -> Response {
    Response::json(status, &json!({ "error": msg }))
}

fn not_found() -> Response {
    error(404, "{ Not Found }")
}

fn ok_empty() -> Response {
    Response::json(200, &json!({}))
}

fn now_string() -> String {
    humantime::format_rfc3339_micros(SystemTime::now()).to_string()
}

/// `/sys/class/net/<name>` exists (names with `/` or `..` never do).
fn host_ifname_exists(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && !name.contains('/')
        && name != "."
        && name != ".."
        && Path::new("/sys/class/net").join(name).exists()
}

/// `02:` + the first five bytes of the interface UUID, like the API server's MAC allocation.
fn default_mac(vmi_uuid: &str) -> String {
    let hex: Vec<char> = vmi_uuid.chars().filter(char::is_ascii_hexdigit).collect();
    let mut mac = String::from("02");
    for pair in hex.chunks(2).take(5) {
        mac.push(':');
        mac.extend(pair.iter().map(char::to_ascii_lowercase));
    }
    mac
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn handle(&self, req: &Request) -> Response {
        let path = req.path.as_str();
        let method = req.method.as_str();
        if let Some(rest) = path.strip_prefix("/_sim/") {
            return self.control(method, rest, req);
        }
        match (method, path) {
            ("POST", "/vm") => return self.post_vm(&req.body),
            ("GET", p) if p.starts_with("/vm-cfg/") => {
                return self.get_vm_cfg(&p["/vm-cfg/".len()..]);
            }
            _ => {}
        }
        if let Some(rest) = path.strip_prefix("/vm/") {
            let mut parts = rest.split('/');
            let vm = parts.next().filter(|s| is_route_uuid(s));
            let vmi = parts.next();
            let extra = parts.next();
            if let (Some(vm), None) = (vm, extra) {
                match (method, vmi) {
                    ("GET", None) => return self.get_vm(vm, None),
                    ("GET", Some(vmi)) if is_route_uuid(vmi) => return self.get_vm(vm, Some(vmi)),
                    ("DELETE", None) => return self.delete_vm(vm, None),
                    ("DELETE", Some(vmi)) if is_route_uuid(vmi) => {
                        return self.delete_vm(vm, Some(vmi));
                    }
                    _ => {}
                }
            }
        }
        error(404, "Unknown Request")
    }

    fn post_vm(&self, body: &[u8]) -> Response {
        let check_ifname = {
            let mut st = self.lock();
            st.stats.posts += 1;
            if st.reject_next > 0 {
                st.reject_next -= 1;
                st.stats.rejected_posts += 1;
                return error(500, "{ Port rejected by the emulator (reject_next) }");
            }
            st.check_host_ifname
        };
        let text = String::from_utf8_lossy(body);
        let doc: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => return error(500, &format!("{{ Invalid Json string ==> {text} }}")),
        };
        let Some(obj) = doc.as_object() else {
            return error(500, &format!("{{ Unexpected Json string ==> {text} }}"));
        };
        let uuid_field = |name: &str| -> Result<String, Response> {
            obj.get(name)
                .and_then(Value::as_str)
                .and_then(|s| uuid::Uuid::parse_str(s).ok())
                .map(|u| u.hyphenated().to_string())
                .ok_or_else(|| error(500, &format!("{{ Invalid or missing data for <{name}> }}")))
        };
        let string_field = |name: &str| -> Result<String, Response> {
            obj.get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| error(500, &format!("{{ Invalid or missing field for <{name}> }}")))
        };
        let optional = |name: &str| {
            obj.get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        // The order of the checks is the agent's (`MakeAddVmVnPortRequest`).
        let port = (|| -> Result<RegisteredPort, Response> {
            let vm_uuid = uuid_field("vm-uuid")?;
            let host_ifname = string_field("host-ifname")?;
            if check_ifname && !host_ifname_exists(&host_ifname) {
                return Err(error(500, "{ Interface does not exist in OS }"));
            }
            let vm_name = string_field("vm-name")?;
            let vn_uuid = uuid_field("vn-uuid")?;
            let vmi_uuid = uuid_field("vmi-uuid")?;
            Ok(RegisteredPort {
                vm_uuid,
                vmi_uuid,
                vn_uuid,
                vm_id: optional("vm-id"),
                vm_name,
                host_ifname,
                vm_ifname: optional("vm-ifname"),
                vm_namespace: optional("vm-namespace"),
                time: optional("time"),
            })
        })();
        let port = match port {
            Ok(p) => p,
            Err(resp) => return resp,
        };
        log::debug!(
            "agent-sim: port {} of vm {} ({})",
            port.vmi_uuid,
            port.vm_uuid,
            port.host_ifname
        );
        self.lock().ports.insert(
            port.vmi_uuid.clone(),
            PortEntry {
                port,
                posted: Instant::now(),
                learnt: None,
            },
        );
        ok_empty()
    }

    fn get_vm(&self, vm: &str, vmi: Option<&str>) -> Response {
        let (entries, delay, seeded, api, router) = {
            let mut st = self.lock();
            st.stats.gets += 1;
            let entries: Vec<PortEntry> = st
                .ports
                .values()
                .filter(|e| e.port.vm_uuid == vm && vmi.is_none_or(|v| e.port.vmi_uuid == v))
                .cloned()
                .collect();
            let seeded: HashMap<String, PortConfig> = entries
                .iter()
                .filter_map(|e| {
                    st.seeded
                        .get(&e.port.vmi_uuid)
                        .map(|c| (e.port.vmi_uuid.clone(), c.clone()))
                })
                .collect();
            (
                entries,
                st.ready_delay,
                seeded,
                st.config.clone(),
                st.router.clone(),
            )
        };
        let answer = self.render_ports(&entries, delay, &seeded, api.as_deref(), &router);
        match answer {
            Some(v) => Response::json(200, &v),
            None => {
                self.lock().stats.not_found += 1;
                not_found()
            }
        }
    }

    /// The `GET /vm` array, or `None` (404) when any port asked for is not ready.
    fn render_ports(
        &self,
        entries: &[PortEntry],
        delay: Duration,
        seeded: &HashMap<String, PortConfig>,
        api: Option<&ConfigApi>,
        router: &RouterFilter,
    ) -> Option<Value> {
        if entries.is_empty() || entries.iter().any(|e| e.posted.elapsed() < delay) {
            return None;
        }
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            let cfg = match (seeded.get(&e.port.vmi_uuid), &e.learnt) {
                (Some(c), _) => c.clone(),
                (None, Some(c)) => c.clone(),
                (None, None) => {
                    let learnt = match api?.port_config(&e.port.vmi_uuid, router) {
                        Ok(c) => c?,
                        Err(err) => {
                            log::debug!("agent-sim: config API: {err:#}");
                            return None;
                        }
                    };
                    if let Some(stored) = self.lock().ports.get_mut(&e.port.vmi_uuid) {
                        if stored.posted == e.posted {
                            stored.learnt = Some(learnt.clone());
                        }
                    }
                    learnt
                }
            };
            if !cfg.ready() {
                return None;
            }
            out.push(port_json(&e.port, &cfg));
        }
        Some(Value::Array(out))
    }

    fn get_vm_cfg(&self, name: &str) -> Response {
        let (seeded, known, api, router) = {
            let mut st = self.lock();
            st.stats.gets += 1;
            let mut seeded: Vec<(String, PortConfig)> = st
                .seeded
                .iter()
                .filter(|(_, c)| c.vm_name.as_deref() == Some(name))
                .map(|(k, c)| (k.clone(), c.clone()))
                .collect();
            seeded.sort_by(|a, b| a.0.cmp(&b.0));
            let known: HashMap<String, RegisteredPort> = seeded
                .iter()
                .filter_map(|(k, _)| st.ports.get(k).map(|e| (k.clone(), e.port.clone())))
                .collect();
            (seeded, known, st.config.clone(), st.router.clone())
        };
        let items: Option<Vec<VmCfg>> = if !seeded.is_empty() {
            Some(
                seeded
                    .into_iter()
                    .map(|(vmi, c)| {
                        let posted = known.get(&vmi);
                        VmCfg {
                            vm_uuid: c
                                .vm_uuid
                                .clone()
                                .or_else(|| posted.map(|p| p.vm_uuid.clone()))
                                .unwrap_or_else(|| NIL_UUID.to_string()),
                            vn_uuid: if c.vn_uuid.is_empty() {
                                posted.map(|p| p.vn_uuid.clone()).unwrap_or_default()
                            } else {
                                c.vn_uuid.clone()
                            },
                            vn_name: c.vn_name.clone(),
                            mac: if c.mac.is_empty() {
                                default_mac(&vmi)
                            } else {
                                c.mac.clone()
                            },
                            annotations: c.annotations.clone(),
                            vmi_uuid: vmi,
                        }
                    })
                    .collect(),
            )
        } else if let Some(api) = api {
            match api.vm_cfg(name, &router) {
                Ok(items) => items,
                Err(err) => {
                    log::debug!("agent-sim: config API: {err:#}");
                    None
                }
            }
        } else {
            None
        };
        match items {
            Some(items) if !items.is_empty() => {
                Response::json(200, &Value::Array(items.iter().map(vm_cfg_json).collect()))
            }
            _ => {
                self.lock().stats.not_found += 1;
                not_found()
            }
        }
    }

    fn delete_vm(&self, vm: &str, vmi: Option<&str>) -> Response {
        let mut st = self.lock();
        st.stats.deletes += 1;
        st.ports
            .retain(|_, e| !(e.port.vm_uuid == vm && vmi.is_none_or(|v| e.port.vmi_uuid == v)));
        ok_empty()
    }

    fn knobs(st: &State) -> Value {
        json!({
            "ready_delay_ms": u64::try_from(st.ready_delay.as_millis()).unwrap_or(u64::MAX),
            "reject_next": st.reject_next,
            "check_host_ifname": st.check_host_ifname,
            "config_api_url": st.config_url,
            "ports": st.ports.len(),
            "stats": st.stats,
        })
    }

    fn control(&self, method: &str, rest: &str, req: &Request) -> Response {
        match (method, rest) {
            ("GET", "agent") => Response::json(200, &Self::knobs(&self.lock())),
            ("POST", "agent") => {
                let Ok(Value::Object(body)) = req.json() else {
                    return error(400, "expected a JSON object");
                };
                let delay = body.get("ready_delay_ms");
                let reject = body.get("reject_next");
                let check = body.get("check_host_ifname");
                if delay.is_some_and(|v| v.as_u64().is_none())
                    || reject.is_some_and(|v| v.as_u64().is_none())
                    || check.is_some_and(|v| v.as_bool().is_none())
                {
                    return error(
                        400,
                        "ready_delay_ms and reject_next are non-negative integers, \
                         check_host_ifname a boolean",
                    );
                }
                let mut st = self.lock();
                if let Some(ms) = delay.and_then(Value::as_u64) {
                    st.ready_delay = Duration::from_millis(ms);
                }
                if let Some(n) = reject.and_then(Value::as_u64) {
                    st.reject_next = n;
                }
                if let Some(c) = check.and_then(Value::as_bool) {
                    st.check_host_ifname = c;
                }
                Response::json(200, &Self::knobs(&st))
            }
            ("GET", "ports") => {
                let ports: Vec<RegisteredPort> =
                    self.lock().ports.values().map(|e| e.port.clone()).collect();
                Response::json(200, &json!(ports))
            }
            (m, r) if r.starts_with("port-config/") => {
                let vmi = canonical(&r["port-config/".len()..]);
                if vmi.is_empty() {
                    return error(400, "missing interface UUID");
                }
                match m {
                    "PUT" => match serde_json::from_slice::<PortConfig>(&req.body) {
                        Ok(cfg) => {
                            self.lock().seeded.insert(vmi, cfg);
                            ok_empty()
                        }
                        Err(e) => error(400, &format!("invalid port config: {e}")),
                    },
                    "DELETE" => {
                        self.lock().seeded.remove(&vmi);
                        ok_empty()
                    }
                    _ => error(405, "use PUT or DELETE"),
                }
            }
            _ => error(404, "Unknown Request"),
        }
    }
}

/// One element of `GET /vm/...` (`MakeJsonFromVmi`).
fn port_json(port: &RegisteredPort, cfg: &PortConfig) -> Value {
    let or = |s: &str, fallback: &str| {
        if s.is_empty() {
            fallback.to_string()
        } else {
            s.to_string()
        }
    };
    let mut m = Map::new();
    m.insert("id".into(), json!(port.vmi_uuid));
    m.insert(
        "instance-id".into(),
        json!(cfg.vm_uuid.clone().unwrap_or_else(|| port.vm_uuid.clone())),
    );
    m.insert("vn-id".into(), json!(or(&cfg.vn_uuid, &port.vn_uuid)));
    m.insert(
        "vm-project-id".into(),
        json!(or(&cfg.project_uuid, NIL_UUID)),
    );
    m.insert(
        "mac-address".into(),
        json!(or(&cfg.mac, &default_mac(&port.vmi_uuid))),
    );
    m.insert("system-name".into(), json!(port.host_ifname));
    m.insert("rx-vlan-id".into(), json!(NO_VLAN));
    m.insert("tx-vlan-id".into(), json!(NO_VLAN));
    m.insert("vhostuser-mode".into(), json!(0));
    if let Some(ip) = cfg.ip {
        let unset = Ipv4Addr::UNSPECIFIED;
        m.insert("ip-address".into(), json!(ip.to_string()));
        m.insert("plen".into(), json!(cfg.plen));
        let dns = cfg.dns.or_else(|| cfg.v4_reserved(2)).unwrap_or(unset);
        m.insert("dns-server".into(), json!(dns.to_string()));
        let gw = cfg.gateway.or_else(|| cfg.v4_reserved(1)).unwrap_or(unset);
        m.insert("gateway".into(), json!(gw.to_string()));
    }
    if let Some(ip) = cfg.v6_ip {
        let unset = Ipv6Addr::UNSPECIFIED;
        m.insert("v6-ip-address".into(), json!(ip.to_string()));
        let dns = cfg.v6_dns.or_else(|| cfg.v6_reserved(2)).unwrap_or(unset);
        m.insert("v6-dns-server".into(), json!(dns.to_string()));
        let gw = cfg
            .v6_gateway
            .or_else(|| cfg.v6_reserved(1))
            .unwrap_or(unset);
        m.insert("v6-gateway".into(), json!(gw.to_string()));
    }
    m.insert("author".into(), json!(AUTHOR));
    m.insert("time".into(), json!(now_string()));
    Value::Object(m)
}

/// One element of `GET /vm-cfg/<name>` (`MakeJsonFromVmiConfig`).
fn vm_cfg_json(c: &VmCfg) -> Value {
    let mut v = json!({
        "id": c.vmi_uuid,
        "vm-uuid": c.vm_uuid,
        "vn-id": c.vn_uuid,
        "vn-name": c.vn_name,
        "mac-address": c.mac,
        "sub-interface": false,
        "vlan-id": NO_VLAN,
    });
    if !c.annotations.is_empty() {
        v["annotations"] = c
            .annotations
            .iter()
            .map(|(k, val)| Value::String(format!("{{{k}:{val}}}")))
            .collect();
    }
    v
}

#[cfg(test)]
pub(crate) mod tests;
