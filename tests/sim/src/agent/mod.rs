//! Emulator of the vRouter agent's port-IPC REST API (`:9091`), release by release.
//!
//! It follows Juniper/contrail-controller `src/vnsw/agent/port_ipc/rest_server.cc`,
//! `port_ipc_handler.cc`, `port_subscribe_table.cc` and `rest_common.cc` on the branches `R5.0`
//! ([`AgentRelease::R5_0`]), `R5.1` (the same files as `R1907` .. `R2005`,
//! [`AgentRelease::R5_1`]) and `R2008` (tungstenfabric/tf-controller `R2011` has the same,
//! [`AgentRelease::R2008`]). See [`release`] for the grouping.
//!
//! # Routes
//! Matched on the path as sent (not percent-decoded, no query string), whole; `<uuid>` is
//! `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}` (`rest_server.cc`
//! `RESTHandlers_`):
//!
//! | release | routes |
//! |---|---|
//! | all | `POST /vm`, `GET /vm/<uuid>`, `DELETE /vm/<uuid>` |
//! | R5.0, R5.1 .. R2005 | `GET /vm-cfg/<uuid>` (a VM uuid) |
//! | R2008 on | `GET /vm/<vm-uuid>/<vmi-uuid>`, `GET /vm-cfg/(.*)` (a VM name, empty included) |
//!
//! No release deletes one interface: `DELETE /vm/<vm>/<vmi>` is not a route. Anything else is
//! 404 `{"error":"Unknown Request"}` (`HandleRequest` through `REST::SendErrorResponse`). The
//! Nova/vCenter port API of the same server (`/port`, `/syncports`, `/gateway`, `/enable-port`,
//! `/disable-port`) is not emulated and answers the same.
//!
//! # `POST /vm`
//! The body must parse as a JSON object, else 500 `{"error":"{ Invalid Json string ==> <body> }"}`
//! or `{ Unexpected Json string ==> <body> }`. Then, in the agent's order
//! (`MakeAddVmVnPortRequest`), a missing or non-string required field is 500
//! `{ Invalid or missing data for <vm-uuid> }` (uuid fields) or `{ Invalid or missing field for
//! <host-ifname> }` (string fields):
//! - R5.0: `vm-uuid`, `vm-name`, `host-ifname`; `vn-uuid` and `vmi-uuid` are not read.
//! - R5.1 on: `vm-uuid`, `host-ifname`, `vm-name`, `vn-uuid`, `vmi-uuid`.
//!
//! `vm-id`, `vm-ifname`, `vm-namespace` are optional. A uuid string that does not parse is taken
//! as the nil uuid, without error (`StringToUuid`). With `check_host_ifname`, a `host-ifname`
//! that is not an interface here is `{ Interface does not exist in OS }`. Success is 200 `{}`.
//!
//! The agent keeps one subscription per VM in R5.0, per (VM, network, interface) from R5.1
//! (`PortSubscribeTable::AddVmVnPort`). Posting one that exists changes nothing (only its version
//! is bumped): the first POST's fields stay, its `host-ifname` included (the agent's interface
//! keeps the name it was created with, `VmInterfaceIfNameData::OnResync`).
//!
//! # What the agent knows
//! An interface is reported once (a) a POST made the agent create it (R5.0: any POST of its VM;
//! R5.1 on: a POST naming it), at least `ready_delay` ago, and (b) its config is learnt (see
//! `config.rs`): the VM is linked from the agent's own `virtual-router`, named
//! `[default-global-system-config, <host name>]`, the interface's network is known, its MAC is
//! not `00:00:00:00:00:00`, and its primary address lies in a subnet of the network (R5.0: the
//! IPv4 one; R5.1 on: IPv4 or IPv6). Config seeded with [`AgentSim::set_port_config`] stands in
//! for config learnt from Contrail, whatever the router.
//!
//! # `GET /vm/<uuid>` (`GetVmVnPort`, `MakeJsonFromVmi`)
//! - R5.0: ONE object, for the interface the agent maps the VM to (`VmVnToVmi`): of the VM's
//!   interfaces, the one on the network with the lowest uuid (several on that network: the one
//!   whose config the agent got first; here, the lowest interface uuid). Fields, in order: `id`,
//!   `instance-id`, `ip-address`, `plen`, `ip6-address` (`::` when none), `vn-id`,
//!   `vm-project-id`, `mac-address`, `system-name`, `rx-vlan-id`, `tx-vlan-id`,
//!   `vhostuser-mode`, `dns-server`, `gateway`, `author`, `time`.
//! - R5.1 on: a list of every interface the VM's config has (`VmVnToVmiSet`, ordered by uuid),
//!   404 while any of them is not reported. Fields: `id`, `instance-id`, `vn-id`,
//!   `vm-project-id`, `mac-address`, `system-name`, `rx-vlan-id`, `tx-vlan-id`, `vhostuser-mode`,
//!   then `ip-address`, `plen`, `dns-server`, `gateway` when the IPv4 address has a subnet, then
//!   `v6-ip-address`, `v6-dns-server`, `v6-gateway` when the IPv6 one has, then `author`, `time`.
//!   (No IPv6 prefix length. An IPv6-only interface has no `ip-address` or `plen`.)
//!
//! `vm-project-id` is the nil uuid (ports added through `/vm` never get a project),
//! `rx-vlan-id`/`tx-vlan-id` are 65535 (`kInvalidVlanId`), `vhostuser-mode` 0, `author` the agent's
//! `argv[0]`, `time` the agent's `duration_usecs_to_string` of the current time
//! (`hours:MM:SS[.uuuuuu]` since the epoch).
//!
//! # `GET /vm/<vm-uuid>/<vmi-uuid>` (R2008 on)
//! `[obj]` of that interface, with the fields above. As upstream, the interface need not belong to
//! the VM in the path; only the nil VM uuid is refused.
//!
//! # `GET /vm-cfg/...` (`GetVmVnCfgPort`, `MakeJsonFromVmiConfig`)
//! From config alone, before any POST:
//! - R5.0, `/vm-cfg/<vm-uuid>`: ONE object `{id, instance-id, vn-id, mac-address, sub-interface,
//!   vlan-id}` for the interface `GET /vm` would report.
//! - R5.1 .. R2005, `/vm-cfg/<vm-uuid>`: a list, one object per interface of the VM
//!   `{id, instance-id, vn-id, vn-name, mac-address, sub-interface, vlan-id[, annotations]}`,
//!   404 while a network is unknown.
//! - R2008 on, `/vm-cfg/<vm-name>`: the same list with `vm-uuid` instead of `instance-id`; the
//!   name is the virtual-machine's fq-name, as sent in the path.
//!
//! `annotations` (only when the interface has some) are strings `"{key:value}"`;
//! `sub-interface` is false, `vlan-id` 65535.
//!
//! Not found is 404 `{"error":"{ Not Found }"}`. Answers are pretty-printed as the agent's
//! rapidjson `PrettyWriter` does, lists joined by `,` without spaces, with
//! `Content-Type: application/json; charset=UTF-8`.
//!
//! # `DELETE /vm/<uuid>` (`DeleteVmVnPort`)
//! Always 200 `{}`, the VM known or not. R5.0 drops the VM's subscription. R5.1 on drops, for
//! every interface the VM's config has, the subscription (VM, the interface's network,
//! interface): every port of the VM, as posted with the network the config names. Like
//! upstream it walks the config, not the subscriptions: a port whose interface config the agent
//! no longer holds (e.g. deleted from Contrail before this call), or that was posted with
//! another network or VM, stays.
//!
//! # Port files, and a restart
//! With a port directory ([`AgentOptions::port_dir`], the plugins' `config-dir`), the agent
//! writes each `POST /vm` to its own port file, removes them on `DELETE /vm/<uuid>`, and a
//! [restart](AgentSim::restart) forgets every subscription and reloads them from those files,
//! each release as upstream does it (see [`port_files`]). Without one, no file is written and a
//! restart comes back with no port.
//!
//! # Emulator control (not upstream)
//! `POST /_sim/agent` `{"release", "ready_delay_ms", "reject_next", "check_host_ifname"}` (any
//! subset; an unknown release is 400 naming it; answers the current knobs), `GET /_sim/agent`
//! (knobs, host name, counters), `GET /_sim/ports` (the subscriptions, in the agent's port-file
//! shape), `PUT /_sim/port-config/<vmi-uuid>` with a [`PortConfig`] as JSON,
//! `DELETE /_sim/port-config/<vmi-uuid>`, and `POST /_sim/restart` (the agent restarts: answers
//! a [`Reload`]).

mod config;
mod port_files;
pub mod release;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config_api::ipam::default_gw_dns;
use config::{ConfigApi, Ipam, Learnt, VmiConfig};
use contrail_mesos::http::server::Server as Service;
use contrail_mesos::http::server::{Handler, Request, Response};
pub use release::{AgentRelease, RELEASE_NAMES, UnknownRelease};

/// `author`: the agent's `argv[0]` (`Agent::program_name`), as its packages start it.
const AUTHOR: &str = "/usr/bin/contrail-vrouter-agent";
const NIL_UUID: &str = "00000000-0000-0000-0000-000000000000";
/// `VmInterface::kInvalidVlanId`, printed as the `uint16_t` it is stored in.
const NO_VLAN: i64 = 0xFFFF;
const ZERO_MAC: &str = "00:00:00:00:00:00";

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
    pub config_api_local: Option<crate::config_api::ConfigHandle>,
    /// The agent's host name: it learns only the VMs linked from the `virtual-router` named
    /// `[default-global-system-config, <host name>]`. Default: this machine's `gethostname()`.
    pub host_name: Option<String>,
    /// The upstream release to behave as. Default: the newest.
    pub release: AgentRelease,
    /// A port is reported only this long after the POST that created it.
    pub ready_delay: Duration,
    /// Refuse a POST whose `host-ifname` is not in `/sys/class/net` (the agent's `check_port`).
    pub check_host_ifname: bool,
    /// The agent's `vm` port directory (`/var/lib/contrail/ports/vm`; the plugins'
    /// `config-dir`), created when missing. `None`: no port file is written or read.
    pub port_dir: Option<PathBuf>,
}

impl Default for AgentOptions {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            config_api_url: None,
            auth_token: None,
            config_api_local: None,
            host_name: None,
            release: AgentRelease::default(),
            ready_delay: Duration::ZERO,
            check_host_ifname: false,
            port_dir: None,
        }
    }
}

/// A port subscription made by `POST /vm` (the fields of the agent's own port file). In R5.0
/// `vn_uuid` and `vmi_uuid` are empty: that agent does not read them.
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
    /// The `time` field of the POST (or of the port file reloaded), as sent.
    pub time: String,
}

/// The configuration of one interface, standing in for what the agent learns from Contrail.
/// Seeded with [`AgentSim::set_port_config`] (or `PUT /_sim/port-config/<vmi>`); it wins over the
/// config API and needs no virtual-router.
///
/// Empty or absent fields fall back: `vm_uuid` to the POSTed `vm-uuid` (in R5.0, which posts no
/// interface, to the nil uuid: name the VM there), `vn_uuid` to the POSTed `vn-uuid`, `mac` to
/// `02:` + the first five bytes of the interface UUID (the API server's scheme), `gateway` /
/// `dns` to the addresses the API server reserves (last usable address minus one / minus two).
/// The port has an address once `ip` or `v6_ip` is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PortConfig {
    /// The virtual-machine's UUID (`instance-id`, and `vm-uuid` in `/vm-cfg`).
    pub vm_uuid: Option<String>,
    /// The virtual-machine's name: makes the interface visible in `GET /vm-cfg/<name>` (R2008).
    pub vm_name: Option<String>,
    pub vn_uuid: String,
    /// The network's fq-name joined with `:` (`vn-name` in `/vm-cfg`).
    pub vn_name: String,
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

    /// As the agent would hold it, for interface `vmi`, posted as `posted` (if it was).
    fn learnt(&self, vmi: &str, posted: Option<&RegisteredPort>) -> VmiConfig {
        let v4 = self.ip.map(|ip| {
            learnt_ipam(
                IpAddr::V4(ip),
                self.plen,
                self.gateway.map(IpAddr::V4),
                self.dns.map(IpAddr::V4),
            )
        });
        let v6 = self.v6_ip.map(|ip| {
            learnt_ipam(
                IpAddr::V6(ip),
                self.v6_plen,
                self.v6_gateway.map(IpAddr::V6),
                self.v6_dns.map(IpAddr::V6),
            )
        });
        let vn_uuid = Some(&self.vn_uuid)
            .filter(|s| !s.is_empty())
            .map(|s| canonical(s))
            .or_else(|| posted.map(|p| p.vn_uuid.clone()).filter(|s| !s.is_empty()));
        VmiConfig {
            vmi_uuid: vmi.to_string(),
            vm_uuid: self
                .vm_uuid
                .as_deref()
                .map(canonical)
                .or_else(|| posted.map(|p| p.vm_uuid.clone()))
                .unwrap_or_else(|| NIL_UUID.to_string()),
            vn_uuid,
            vn_name: Some(self.vn_name.clone()),
            mac: if self.mac.is_empty() {
                default_mac(vmi)
            } else {
                self.mac.clone()
            },
            annotations: self.annotations.clone(),
            ip4: self.ip,
            ip6: self.v6_ip,
            ipam4: v4,
            ipam6: v6,
        }
    }
}

/// The subnet details the agent learns for `ip/plen`: the given gateway and DNS, else the ones
/// the API server reserves (the unspecified address when the subnet is too small to hold one;
/// DNS falls back to the gateway).
fn learnt_ipam(ip: IpAddr, plen: u8, gateway: Option<IpAddr>, dns: Option<IpAddr>) -> Ipam {
    let (reserved_gw, reserved_dns) = match IpNet::new(ip, plen) {
        Ok(net) => {
            let (gw, dns) = default_gw_dns(net, false);
            let usable = |a: IpAddr| (a > net.network()).then_some(a);
            (usable(gw), usable(dns))
        }
        Err(_) => (None, None),
    };
    let unspecified = match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let gateway = gateway.or(reserved_gw).unwrap_or(unspecified);
    Ipam {
        plen,
        gateway,
        dns: dns.or(reserved_dns).unwrap_or(gateway),
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
    /// Of those, the ones answered 404 `{ Not Found }`.
    pub not_found: u64,
    /// `DELETE /vm/...`.
    pub deletes: u64,
    /// Requests no route of this release matches (404 Unknown Request).
    pub unknown_requests: u64,
}

/// A running agent emulator. Dropping it stops it.
pub struct AgentSim {
    shared: Arc<Shared>,
    service: Service,
}

struct Shared {
    state: Mutex<State>,
    /// What the agent holds from the config API (kept while the config API cannot be read).
    learnt: Mutex<Learnt>,
}

struct State {
    release: AgentRelease,
    host_name: String,
    ports: BTreeMap<PortKey, PortEntry>,
    seeded: HashMap<String, PortConfig>,
    ready_delay: Duration,
    reject_next: u64,
    check_host_ifname: bool,
    config_url: Option<String>,
    config: Option<Arc<ConfigApi>>,
    port_dir: Option<port_files::PortDir>,
    stats: AgentStats,
}

/// What a [restart](AgentSim::restart) reloaded from the port directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reload {
    /// The port files that became subscriptions again.
    pub reloaded: Vec<PathBuf>,
    /// The port files the agent read and refused, with its error (`AddVmVnPort`'s `err_msg`).
    pub refused: Vec<(PathBuf, String)>,
}

/// The key of a subscription: (VM, network, interface) from R5.1; (VM, "", "") in R5.0.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct PortKey {
    vm: String,
    vn: String,
    vmi: String,
}

#[derive(Debug, Clone)]
struct PortEntry {
    port: RegisteredPort,
    created: Instant,
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
        let host_name = match opts.host_name {
            Some(h) => h,
            None => nix::unistd::gethostname()
                .context("the agent's host name (gethostname)")?
                .to_string_lossy()
                .into_owned(),
        };
        let port_dir = opts
            .port_dir
            .as_deref()
            .map(port_files::PortDir::create)
            .transpose()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                release: opts.release,
                host_name,
                ports: BTreeMap::new(),
                seeded: HashMap::new(),
                ready_delay: opts.ready_delay,
                reject_next: 0,
                check_host_ifname: opts.check_host_ifname,
                config_url: opts.config_api_url.clone(),
                config,
                port_dir,
                stats: AgentStats::default(),
            }),
            learnt: Mutex::new(Learnt::default()),
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

    /// The port subscriptions, ordered by VM, network and interface uuid.
    pub fn ports(&self) -> Vec<RegisteredPort> {
        self.shared
            .lock()
            .ports
            .values()
            .map(|e| e.port.clone())
            .collect()
    }

    pub fn release(&self) -> AgentRelease {
        self.shared.lock().release
    }

    /// Behave as another release from now on (subscriptions made before keep their key).
    pub fn set_release(&self, release: AgentRelease) {
        self.shared.lock().release = release;
    }

    /// The host name whose virtual-router the agent learns VMs from.
    pub fn host_name(&self) -> String {
        self.shared.lock().host_name.clone()
    }

    /// Applies to every port, counted from the POST that created it.
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

    /// Go down (connections refused, open ones cut) or come back up on the same address: an
    /// outage of the port API, the subscriptions kept. [`restart`](Self::restart) restarts.
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
        {
            let mut st = self.shared.lock();
            st.config = url.map(|u| Arc::new(ConfigApi::new(u, auth_token)));
            st.config_url = url.map(str::to_string);
        }
        self.shared.learnt().clear();
    }

    pub fn stats(&self) -> AgentStats {
        self.shared.lock().stats
    }

    /// The agent restarts: it forgets every subscription and the config it learnt, and reloads
    /// its ports from its port files as its release's `ReloadAllPorts` does (`port_files`).
    pub fn restart(&self) -> Reload {
        self.shared.restart()
    }

    /// The agent's port directory, when it has one.
    pub fn port_dir(&self) -> Option<PathBuf> {
        self.shared
            .lock()
            .port_dir
            .as_ref()
            .map(|d| d.path().to_path_buf())
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

/// The agent's `StringToUuid`: boost's `operator>>` on a string stream, which skips whitespace
/// before each character, takes 32 hex digits (any case) with `-` after the 4th, 6th, 8th and
/// 10th byte, and ignores what follows. Anything else is the nil uuid.
fn stream_uuid(s: &str) -> String {
    let mut chars = s.bytes().filter(|b| !b" \t\n\x0b\x0c\r".contains(b));
    let mut bytes = [0u8; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        let mut hex = || chars.next().and_then(|c| (c as char).to_digit(16));
        let (Some(hi), Some(lo)) = (hex(), hex()) else {
            return NIL_UUID.to_string();
        };
        *byte = u8::try_from(hi * 16 + lo).unwrap_or(0);
        if matches!(i, 3 | 5 | 7 | 9) && chars.next() != Some(b'-') {
            return NIL_UUID.to_string();
        }
    }
    uuid::Uuid::from_bytes(bytes).hyphenated().to_string()
}

fn json_response(status: u16, body: String) -> Response {
    Response {
        status,
        headers: vec![(
            "Content-Type".into(),
            "application/json; charset=UTF-8".into(),
        )],
        body: body.into_bytes(),
        stream: None,
    }
}

/// `REST::SendErrorResponse`: `{"error":"<msg>"}`.
fn error(status: u16, msg: &str) -> Response {
    json_response(status, json!({ "error": msg }).to_string())
}

fn not_found() -> Response {
    error(404, "{ Not Found }")
}

fn unknown_request() -> Response {
    error(404, "Unknown Request")
}

fn ok_empty() -> Response {
    json_response(200, "{}".into())
}

/// `duration_usecs_to_string(UTCTimestampUsec())`: boost's `time_duration` printing of the time
/// since the epoch, `hours:MM:SS` and `.uuuuuu` when the microseconds are not zero.
fn agent_time() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs();
    let micros = d.subsec_micros();
    let mut s = format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    );
    if micros != 0 {
        s.push_str(&format!(".{micros:06}"));
    }
    s
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

/// `MacAddress::ToString` of the configured MAC: lowercase, two digits per byte; a MAC that
/// does not parse is all zeros.
fn mac_string(mac: &str) -> String {
    let parts: Vec<Option<u8>> = mac
        .split(':')
        .map(|p| {
            (1..=2)
                .contains(&p.len())
                .then(|| u8::from_str_radix(p, 16).ok())
                .flatten()
        })
        .collect();
    if parts.len() != 6 || parts.iter().any(Option::is_none) {
        return ZERO_MAC.to_string();
    }
    parts
        .iter()
        .map(|b| format!("{:02x}", b.unwrap_or(0)))
        .collect::<Vec<_>>()
        .join(":")
}

/// A value of an answer object.
enum Field {
    Str(String),
    Int(i64),
    Bool(bool),
    List(Vec<String>),
}

fn quoted(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// One object as rapidjson's `PrettyWriter` prints it (four-space indent), keys in this order.
fn pretty(fields: &[(&str, Field)]) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in fields.iter().enumerate() {
        out.push_str(if i == 0 { "\n    " } else { ",\n    " });
        out.push_str(&quoted(k));
        out.push_str(": ");
        match v {
            Field::Str(s) => out.push_str(&quoted(s)),
            Field::Int(n) => out.push_str(&n.to_string()),
            Field::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Field::List(items) if items.is_empty() => out.push_str("[]"),
            Field::List(items) => {
                let inner: Vec<String> = items
                    .iter()
                    .map(|s| format!("        {}", quoted(s)))
                    .collect();
                out.push_str(&format!("[\n{}\n    ]", inner.join(",\n")));
            }
        }
    }
    if !fields.is_empty() {
        out.push('\n');
    }
    out.push('}');
    out
}

/// The agent builds its lists by hand: `[` + objects joined by `,` + `]`.
fn list(objects: &[String]) -> String {
    format!("[{}]", objects.join(","))
}

fn v4_string(a: IpAddr) -> String {
    match a {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED.to_string(),
    }
}

fn v6_string(a: IpAddr) -> String {
    match a {
        IpAddr::V6(a) => a.to_string(),
        IpAddr::V4(_) => Ipv6Addr::UNSPECIFIED.to_string(),
    }
}

/// What one request sees: the knobs, seeds and subscriptions at its start.
struct View {
    release: AgentRelease,
    host: String,
    api: Option<Arc<ConfigApi>>,
    seeded: HashMap<String, PortConfig>,
    ports: Vec<(PortKey, PortEntry)>,
    delay: Duration,
}

impl View {
    /// The subscription that created the agent's interface `vmi` (R5.1 on): the oldest naming it.
    fn interface_entry(&self, vmi: &str) -> Option<&PortEntry> {
        self.ports
            .iter()
            .filter(|(k, _)| k.vmi == vmi)
            .map(|(_, e)| e)
            .min_by_key(|e| e.created)
    }

    /// The subscription of a VM (R5.0): the oldest for it.
    fn vm_entry(&self, vm: &str) -> Option<&PortEntry> {
        self.ports
            .iter()
            .filter(|(k, _)| k.vm == vm)
            .map(|(_, e)| e)
            .min_by_key(|e| e.created)
    }

    fn seed(&self, vmi: &str, cfg: &PortConfig) -> VmiConfig {
        cfg.learnt(vmi, self.interface_entry(vmi).map(|e| &e.port))
    }

    /// Reported by `GET /vm` (`MakeJsonFromVmi` succeeds): created long enough ago, network
    /// known, MAC not zero, and an address in a subnet.
    fn reportable(&self, cfg: &VmiConfig, entry: &PortEntry) -> bool {
        let address = match self.release {
            AgentRelease::R5_0 => cfg.ipam4.is_some(),
            _ => cfg.ipam4.is_some() || cfg.ipam6.is_some(),
        };
        entry.created.elapsed() >= self.delay
            && cfg.vn_name.is_some()
            && cfg.mac != ZERO_MAC
            && address
    }

    /// One object of `GET /vm` for this release.
    fn vm_json(&self, cfg: &VmiConfig, entry: &PortEntry) -> String {
        use Field::{Int, Str};
        let vn = cfg.vn_uuid.clone().unwrap_or_else(|| NIL_UUID.into());
        let mac = mac_string(&cfg.mac);
        let ip4 = cfg.ip4.unwrap_or(Ipv4Addr::UNSPECIFIED).to_string();
        let ip6 = cfg.ip6.unwrap_or(Ipv6Addr::UNSPECIFIED).to_string();
        let mut f: Vec<(&str, Field)> = vec![
            ("id", Str(cfg.vmi_uuid.clone())),
            ("instance-id", Str(cfg.vm_uuid.clone())),
        ];
        if self.release == AgentRelease::R5_0 {
            let Some(ipam) = cfg.ipam4 else {
                return "{}".into();
            };
            f.extend([
                ("ip-address", Str(ip4)),
                ("plen", Int(i64::from(ipam.plen))),
                ("ip6-address", Str(ip6)),
                ("vn-id", Str(vn)),
                ("vm-project-id", Str(NIL_UUID.into())),
                ("mac-address", Str(mac)),
                ("system-name", Str(entry.port.host_ifname.clone())),
                ("rx-vlan-id", Int(NO_VLAN)),
                ("tx-vlan-id", Int(NO_VLAN)),
                ("vhostuser-mode", Int(0)),
                ("dns-server", Str(v4_string(ipam.dns))),
                ("gateway", Str(v4_string(ipam.gateway))),
            ]);
        } else {
            f.extend([
                ("vn-id", Str(vn)),
                ("vm-project-id", Str(NIL_UUID.into())),
                ("mac-address", Str(mac)),
                ("system-name", Str(entry.port.host_ifname.clone())),
                ("rx-vlan-id", Int(NO_VLAN)),
                ("tx-vlan-id", Int(NO_VLAN)),
                ("vhostuser-mode", Int(0)),
            ]);
            if let Some(ipam) = cfg.ipam4 {
                f.extend([
                    ("ip-address", Str(ip4)),
                    ("plen", Int(i64::from(ipam.plen))),
                    ("dns-server", Str(v4_string(ipam.dns))),
                    ("gateway", Str(v4_string(ipam.gateway))),
                ]);
            }
            if let Some(ipam) = cfg.ipam6 {
                f.extend([
                    ("v6-ip-address", Str(ip6)),
                    ("v6-dns-server", Str(v6_string(ipam.dns))),
                    ("v6-gateway", Str(v6_string(ipam.gateway))),
                ]);
            }
        }
        f.extend([("author", Str(AUTHOR.into())), ("time", Str(agent_time()))]);
        pretty(&f)
    }

    /// One object of `GET /vm-cfg` for this release.
    fn vm_cfg_json(&self, cfg: &VmiConfig) -> String {
        use Field::{Bool, Int, List, Str};
        let vm_key = match self.release {
            AgentRelease::R2008 => "vm-uuid",
            _ => "instance-id",
        };
        let mut f: Vec<(&str, Field)> = vec![
            ("id", Str(cfg.vmi_uuid.clone())),
            (vm_key, Str(cfg.vm_uuid.clone())),
            (
                "vn-id",
                Str(cfg.vn_uuid.clone().unwrap_or_else(|| NIL_UUID.into())),
            ),
        ];
        if self.release.multi_interface() {
            f.push(("vn-name", Str(cfg.vn_name.clone().unwrap_or_default())));
        }
        f.extend([
            ("mac-address", Str(cfg.mac.clone())),
            ("sub-interface", Bool(false)),
            ("vlan-id", Int(NO_VLAN)),
        ]);
        if self.release.multi_interface() && !cfg.annotations.is_empty() {
            f.push((
                "annotations",
                List(
                    cfg.annotations
                        .iter()
                        .map(|(k, v)| format!("{{{k}:{v}}}"))
                        .collect(),
                ),
            ));
        }
        pretty(&f)
    }
}

/// The interface the R5.0 agent maps a VM to (`VmVnToVmi`: the lowest (VM, network) key).
fn r5_0_interface(list: Vec<VmiConfig>) -> Option<VmiConfig> {
    list.into_iter().min_by(|a, b| {
        let vn = |c: &VmiConfig| c.vn_uuid.clone().unwrap_or_else(|| NIL_UUID.into());
        vn(a).cmp(&vn(b)).then_with(|| a.vmi_uuid.cmp(&b.vmi_uuid))
    })
}

/// A route of the port API.
enum Route<'a> {
    PostVm,
    DeleteVm(&'a str),
    GetVm(&'a str),
    GetVmi(&'a str, &'a str),
    GetVmCfg(&'a str),
}

/// `RESTServer::RESTHandlers_` of the release.
fn route<'a>(release: AgentRelease, method: &str, path: &'a str) -> Option<Route<'a>> {
    match method {
        "POST" => (path == "/vm").then_some(Route::PostVm),
        "DELETE" => path
            .strip_prefix("/vm/")
            .filter(|vm| is_route_uuid(vm))
            .map(Route::DeleteVm),
        "GET" => {
            if let Some(arg) = path.strip_prefix("/vm-cfg/") {
                return (release == AgentRelease::R2008 || is_route_uuid(arg))
                    .then_some(Route::GetVmCfg(arg));
            }
            let rest = path.strip_prefix("/vm/")?;
            if is_route_uuid(rest) {
                return Some(Route::GetVm(rest));
            }
            let (vm, vmi) = rest.split_once('/')?;
            (release == AgentRelease::R2008 && is_route_uuid(vm) && is_route_uuid(vmi))
                .then_some(Route::GetVmi(vm, vmi))
        }
        _ => None,
    }
}

/// `AddVmVnPort` up to the subscription, for `POST /vm` and for each port file reloaded at a
/// restart: the body as rapidjson reads it, then `MakeAddVmVnPortRequest` of the release, with
/// `check_port`. `Err` is the agent's `err_msg`.
fn parse_vm_vn_port(
    release: AgentRelease,
    body: &[u8],
    check_port: bool,
) -> std::result::Result<RegisteredPort, String> {
    // rapidjson parses the body as a C string: it ends at the first NUL.
    let body = body.split(|b| *b == 0).next().unwrap_or_default();
    let text = String::from_utf8_lossy(body);
    let doc: Value =
        serde_json::from_slice(body).map_err(|_| format!("Invalid Json string ==> {text}"))?;
    let obj = doc
        .as_object()
        .ok_or_else(|| format!("Unexpected Json string ==> {text}"))?;
    let uuid_member = |name: &str| {
        obj.get(name)
            .and_then(Value::as_str)
            .map(stream_uuid)
            .ok_or_else(|| format!("Invalid or missing data for <{name}>"))
    };
    let string_member = |name: &str| {
        obj.get(name)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("Invalid or missing field for <{name}>"))
    };
    let optional = |name: &str| {
        obj.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let host_ifname_member = || {
        let name = string_member("host-ifname")?;
        if check_port && !host_ifname_exists(&name) {
            return Err("Interface does not exist in OS".to_string());
        }
        Ok(name)
    };
    // The order of the checks is the agent's (`MakeAddVmVnPortRequest`).
    let vm_uuid = uuid_member("vm-uuid")?;
    let (host_ifname, vm_name, vn_uuid, vmi_uuid) = if release.multi_interface() {
        let host_ifname = host_ifname_member()?;
        let vm_name = string_member("vm-name")?;
        let vn_uuid = uuid_member("vn-uuid")?;
        let vmi_uuid = uuid_member("vmi-uuid")?;
        (host_ifname, vm_name, vn_uuid, vmi_uuid)
    } else {
        let vm_name = string_member("vm-name")?;
        let host_ifname = host_ifname_member()?;
        (host_ifname, vm_name, String::new(), String::new())
    };
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
}

impl State {
    /// `PortSubscribeTable::AddVmVnPort`: a subscription that exists only gets a new version,
    /// nothing we keep changes.
    fn subscribe(&mut self, port: RegisteredPort) {
        let key = PortKey {
            vm: port.vm_uuid.clone(),
            vn: port.vn_uuid.clone(),
            vmi: port.vmi_uuid.clone(),
        };
        self.ports.entry(key).or_insert_with(|| PortEntry {
            port,
            created: Instant::now(),
        });
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn learnt(&self) -> MutexGuard<'_, Learnt> {
        self.learnt.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn view(&self) -> View {
        let st = self.lock();
        View {
            release: st.release,
            host: st.host_name.clone(),
            api: st.config.clone(),
            seeded: st.seeded.clone(),
            ports: st
                .ports
                .iter()
                .map(|(k, e)| (k.clone(), e.clone()))
                .collect(),
            delay: st.ready_delay,
        }
    }

    /// The interfaces the agent holds for a VM (`vmvn_to_vmi_tree_`), ordered by uuid; `None`
    /// when it knows none.
    fn vm_interfaces(&self, v: &View, vm: &str) -> Option<Vec<VmiConfig>> {
        let from_api = v.api.as_ref().and_then(|api| {
            let read = api.vm_interfaces(&v.host, vm);
            self.learnt().vm_interfaces(vm, read)
        });
        let mut by_vmi: BTreeMap<String, VmiConfig> = from_api
            .into_iter()
            .flatten()
            .filter(|c| !v.seeded.contains_key(&c.vmi_uuid))
            .map(|c| (c.vmi_uuid.clone(), c))
            .collect();
        for (vmi, cfg) in &v.seeded {
            let c = v.seed(vmi, cfg);
            if c.vm_uuid == vm {
                by_vmi.insert(vmi.clone(), c);
            }
        }
        (!by_vmi.is_empty()).then(|| by_vmi.into_values().collect())
    }

    /// `VmTable::GetVmUuid`: the uuid of the VM with this name, when the agent holds it.
    fn vm_by_name(&self, v: &View, name: &str) -> Option<String> {
        let mut seeds: Vec<(&String, &PortConfig)> = v
            .seeded
            .iter()
            .filter(|(_, c)| c.vm_name.as_deref() == Some(name))
            .collect();
        seeds.sort_by(|a, b| a.0.cmp(b.0));
        if let Some((vmi, cfg)) = seeds.first() {
            return Some(v.seed(vmi, cfg).vm_uuid);
        }
        let api = v.api.as_ref()?;
        let read = api.vm_by_name(&v.host, name);
        self.learnt().vm_by_name(name, read)
    }

    /// One interface, when the agent holds its config.
    fn interface(&self, v: &View, vmi: &str) -> Option<VmiConfig> {
        if let Some(cfg) = v.seeded.get(vmi) {
            return Some(v.seed(vmi, cfg));
        }
        let api = v.api.as_ref()?;
        let read = api.interface(&v.host, vmi);
        self.learnt().interface(vmi, read)
    }

    fn handle(&self, req: &Request) -> Response {
        if let Some(rest) = req.path.strip_prefix("/_sim/") {
            return self.control(req.method.as_str(), rest, req);
        }
        let release = self.lock().release;
        match route(release, &req.method, &req.raw_path) {
            Some(Route::PostVm) => self.post_vm(&req.body),
            Some(Route::DeleteVm(vm)) => self.delete_vm(vm),
            Some(Route::GetVm(vm)) => self.answer_get(|s, v| s.get_vm(v, vm)),
            Some(Route::GetVmi(vm, vmi)) => self.answer_get(|s, v| s.get_vmi(v, vm, vmi)),
            Some(Route::GetVmCfg(arg)) => self.answer_get(|s, v| s.get_vm_cfg(v, arg)),
            None => {
                self.lock().stats.unknown_requests += 1;
                unknown_request()
            }
        }
    }

    /// Count a GET and answer it: 200 with the body, or 404 `{ Not Found }`.
    fn answer_get(&self, f: impl FnOnce(&Self, &View) -> Option<String>) -> Response {
        let v = {
            self.lock().stats.gets += 1;
            self.view()
        };
        match f(self, &v) {
            Some(body) => json_response(200, body),
            None => {
                self.lock().stats.not_found += 1;
                not_found()
            }
        }
    }

    fn post_vm(&self, body: &[u8]) -> Response {
        let (check_ifname, release) = {
            let mut st = self.lock();
            st.stats.posts += 1;
            if st.reject_next > 0 {
                st.reject_next -= 1;
                st.stats.rejected_posts += 1;
                return error(500, "{ Port rejected by the emulator (reject_next) }");
            }
            (st.check_host_ifname, st.release)
        };
        let port = match parse_vm_vn_port(release, body, check_ifname) {
            Ok(p) => p,
            Err(msg) => return error(500, &format!("{{ {msg} }}")),
        };
        log::debug!(
            "agent-sim: port {} of vm {} ({})",
            port.vmi_uuid,
            port.vm_uuid,
            port.host_ifname
        );
        let mut st = self.lock();
        // `AddVmVnPortEntry`: the file first; a port whose file cannot be written is not
        // subscribed, and `AddVmVnPort` answers success all the same.
        if let Some(dir) = &st.port_dir
            && let Err(e) = dir.write(release, &port, &agent_time())
        {
            log::warn!("agent-sim: {e}; port {} not added", port.vmi_uuid);
            return ok_empty();
        }
        st.subscribe(port);
        ok_empty()
    }

    fn get_vm(&self, v: &View, vm: &str) -> Option<String> {
        let vm = stream_uuid(vm);
        if vm == NIL_UUID {
            return None;
        }
        let interfaces = self.vm_interfaces(v, &vm)?;
        if v.release == AgentRelease::R5_0 {
            let cfg = r5_0_interface(interfaces)?;
            let entry = v.vm_entry(&vm)?;
            return v.reportable(&cfg, entry).then(|| v.vm_json(&cfg, entry));
        }
        let mut objects = Vec::with_capacity(interfaces.len());
        for cfg in &interfaces {
            let entry = v.interface_entry(&cfg.vmi_uuid)?;
            if !v.reportable(cfg, entry) {
                return None;
            }
            objects.push(v.vm_json(cfg, entry));
        }
        Some(list(&objects))
    }

    /// `GET /vm/<vm>/<vmi>` (R2008): the interface whatever VM the path names, not nil.
    fn get_vmi(&self, v: &View, vm: &str, vmi: &str) -> Option<String> {
        if stream_uuid(vm) == NIL_UUID {
            return None;
        }
        let vmi = stream_uuid(vmi);
        let cfg = self.interface(v, &vmi)?;
        let entry = v.interface_entry(&vmi)?;
        v.reportable(&cfg, entry)
            .then(|| list(&[v.vm_json(&cfg, entry)]))
    }

    fn get_vm_cfg(&self, v: &View, arg: &str) -> Option<String> {
        let vm = match v.release {
            AgentRelease::R2008 => self.vm_by_name(v, arg)?,
            _ => Some(stream_uuid(arg)).filter(|u| u != NIL_UUID)?,
        };
        let interfaces = self.vm_interfaces(v, &vm)?;
        if v.release == AgentRelease::R5_0 {
            return r5_0_interface(interfaces).map(|cfg| v.vm_cfg_json(&cfg));
        }
        if interfaces.iter().any(|c| c.vn_name.is_none()) {
            // "VirtualNetwork not found for request. Retry"
            return None;
        }
        let objects: Vec<String> = interfaces.iter().map(|c| v.vm_cfg_json(c)).collect();
        Some(list(&objects))
    }

    fn delete_vm(&self, vm: &str) -> Response {
        let v = {
            self.lock().stats.deletes += 1;
            self.view()
        };
        let vm = stream_uuid(vm);
        if vm == NIL_UUID {
            return ok_empty();
        }
        // R5.0 drops the VM's one subscription; R5.1 on walks the VM's config
        // (`VmVnToVmiSet`), and does nothing, files included, when it holds none.
        let doomed: Vec<PortKey> = if v.release == AgentRelease::R5_0 {
            vec![PortKey {
                vm: vm.clone(),
                vn: String::new(),
                vmi: String::new(),
            }]
        } else {
            let Some(interfaces) = self.vm_interfaces(&v, &vm) else {
                return ok_empty();
            };
            interfaces
                .into_iter()
                .map(|c| PortKey {
                    vm: vm.clone(),
                    vn: c.vn_uuid.unwrap_or_else(|| NIL_UUID.into()),
                    vmi: c.vmi_uuid,
                })
                .collect()
        };
        let mut st = self.lock();
        for key in &doomed {
            st.ports.remove(key);
        }
        if let Some(dir) = &st.port_dir {
            let vmis: Vec<String> = doomed.iter().map(|k| k.vmi.clone()).collect();
            dir.delete_vm(v.release, &vm, &vmis);
        }
        ok_empty()
    }

    /// A restart: subscriptions and learnt config are gone; `ReloadAllPorts` brings the ports
    /// of the port files back (`InitDone`), without writing any file.
    fn restart(&self) -> Reload {
        self.learnt().clear();
        let mut st = self.lock();
        st.ports.clear();
        let mut report = Reload::default();
        let Some(dir) = st.port_dir.clone() else {
            return report;
        };
        let release = st.release;
        for found in dir.reload(release) {
            let parsed = found
                .content
                .and_then(|body| parse_vm_vn_port(release, &body, true));
            match parsed {
                Ok(port) => {
                    st.subscribe(port);
                    report.reloaded.push(found.path);
                }
                Err(e) => report.refused.push((found.path, e)),
            }
        }
        log::info!(
            "agent-sim: restarted as {release}: {} port file(s) reloaded, {} refused",
            report.reloaded.len(),
            report.refused.len()
        );
        report
    }

    fn knobs(st: &State) -> Value {
        json!({
            "release": st.release.to_string(),
            "host_name": st.host_name,
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
                let release = match body.get("release") {
                    None => None,
                    Some(Value::String(s)) => match s.parse::<AgentRelease>() {
                        Ok(r) => Some(r),
                        Err(e) => return error(400, &e.to_string()),
                    },
                    Some(other) => {
                        return error(400, &UnknownRelease(other.to_string()).to_string());
                    }
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
                if let Some(r) = release {
                    st.release = r;
                }
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
            ("POST", "restart") => Response::json(200, &json!(self.restart())),
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
            _ => unknown_request(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
