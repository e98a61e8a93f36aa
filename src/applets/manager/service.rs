//! What every handler shares: the config API client, the settings, the metrics, a short-lived
//! name→uuid cache and per-interface locks.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::metrics::Metrics;
use crate::clients::contrail::config_api::{ApiError, ApiErrorKind, ConfigApi, ListQuery};
use crate::domain::error::{CniError, Code};
use crate::domain::fqname::FqName;
use crate::domain::plan::{RouterProbe, Subnet};
use crate::domain::settings::Settings;

/// How long a name→uuid answer is trusted. Entries are dropped at once when an object they
/// name turns out to be gone.
const CACHE_TTL: Duration = Duration::from_secs(30);

pub struct Service {
    pub api: ConfigApi,
    pub settings: Settings,
    pub metrics: Metrics,
    cache: Mutex<HashMap<String, (Cached, Instant)>>,
    busy: Mutex<HashSet<String>>,
    freed: Condvar,
    /// Whether load-balancer members of this cluster may exist: false only while the VIP loop
    /// is off, or its last pass found no VIP.
    vip_members: AtomicBool,
    provisioning: Mutex<Provisioning>,
    provisioned: Condvar,
    /// IPAMs whose DNS method Contrail refused to change at the last provisioning attempt.
    dns_refused: Mutex<Vec<IpamRefused>>,
}

/// An IPAM of the cluster whose DNS method Contrail refused to change (`network_ipam.py`
/// `is_change_allowed`: not while interfaces are on its networks, from an unset method or
/// `tenant-dns-server`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IpamRefused {
    /// Its fq-name.
    pub ipam: String,
    /// The method it keeps (`unset` when none).
    pub method: String,
    /// The method the settings ask for.
    pub wanted: String,
    /// What Contrail answered.
    pub error: String,
}

/// What the manager remembers for a while (see [`CACHE_TTL`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cached {
    /// The uuid of an object, by type and fq-name.
    Uuid(String),
    /// A node's virtual-router, by the probes that found it.
    Router(Router),
    /// A network's subnets, by its uuid.
    Subnets(Vec<Subnet>),
}

/// Where start-up provisioning is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provisioning {
    /// Not tried yet, or the first attempt is running.
    Pending,
    /// Tried; these things are not as the settings say (it is tried again).
    Failed(Vec<String>),
    /// Everything is as the settings say.
    Done,
}

impl Provisioning {
    /// `pending`, `failed` or `done`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Provisioning::Pending => "pending",
            Provisioning::Failed(_) => "failed",
            Provisioning::Done => "done",
        }
    }
}

impl Service {
    pub fn new(api: ConfigApi, settings: Settings) -> Arc<Self> {
        let vips_on = settings.vips_enabled();
        Arc::new(Self {
            api,
            settings,
            metrics: Metrics::default(),
            cache: Mutex::new(HashMap::new()),
            busy: Mutex::new(HashSet::new()),
            freed: Condvar::new(),
            provisioning: Mutex::new(Provisioning::Pending),
            provisioned: Condvar::new(),
            dns_refused: Mutex::new(Vec::new()),
            vip_members: AtomicBool::new(vips_on),
        })
    }

    /// Record the outcome of a provisioning attempt.
    pub fn set_provisioning(&self, state: Provisioning) {
        *self
            .provisioning
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = state;
        self.provisioned.notify_all();
    }

    pub fn provisioning(&self) -> Provisioning {
        self.provisioning
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Wait (at most `timeout`) for the first provisioning attempt to end; its outcome, or
    /// `Pending`.
    pub fn wait_provisioned(&self, timeout: Duration) -> Provisioning {
        let guard = self
            .provisioning
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (guard, _) = self
            .provisioned
            .wait_timeout_while(guard, timeout, |p| *p == Provisioning::Pending)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.clone()
    }

    /// Record the IPAMs whose DNS method Contrail refused to change (the gauge follows).
    pub fn set_dns_refused(&self, refused: Vec<IpamRefused>) {
        self.metrics
            .set_gauge(super::metrics::IPAMS_DNS_REFUSED, refused.len() as f64);
        *self
            .dns_refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = refused;
    }

    /// The IPAMs whose DNS method Contrail refused to change at the last attempt.
    pub fn dns_refused(&self) -> Vec<IpamRefused> {
        self.dns_refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Whether a task's teardown should look for load-balancer members of its interfaces (a
    /// floating IP svc-monitor put there says so too; see `teardown`).
    pub fn may_have_vip_members(&self) -> bool {
        self.vip_members.load(Ordering::Relaxed)
    }

    /// What the last VIP pass found.
    pub fn set_vips_seen(&self, any: bool) {
        self.vip_members.store(any, Ordering::Relaxed);
    }

    /// Run `f` while no other request of this manager works on the same key.
    pub fn exclusive<T>(&self, key: &str, f: impl FnOnce() -> T) -> T {
        {
            let mut busy = self
                .busy
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            while busy.contains(key) {
                busy = self
                    .freed
                    .wait(busy)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            busy.insert(key.to_string());
        }
        struct Release<'a>(&'a Service, &'a str);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                let mut busy = self
                    .0
                    .busy
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                busy.remove(self.1);
                self.0.freed.notify_all();
            }
        }
        let _release = Release(self, key);
        f()
    }

    pub fn cached(&self, key: &str) -> Option<Cached> {
        let cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache
            .get(key)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(v, _)| v.clone())
    }

    pub fn remember(&self, key: &str, v: Cached) {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() > 10_000 {
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
        }
        cache.insert(key.to_string(), (v, Instant::now()));
    }

    pub fn forget_all(&self) {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// The uuid of `ty` named `fq`, cached.
    pub fn uuid_of(&self, ty: &str, fq: &FqName) -> Result<Option<String>, ApiError> {
        let key = format!("{ty}:{fq}");
        if let Some(Cached::Uuid(u)) = self.cached(&key) {
            return Ok(Some(u));
        }
        let found = self.api.fqname_to_id(ty, fq)?;
        if let Some(u) = &found {
            self.remember(&key, Cached::Uuid(u.clone()));
        }
        Ok(found)
    }

    /// The node's virtual-router: the first probe that finds one wins. `None` when none does.
    /// A found router is remembered for a while; a miss is not.
    pub fn find_router(&self, probes: &[RouterProbe]) -> Result<Option<Router>, ApiError> {
        let key = router_key(probes);
        if let Some(Cached::Router(r)) = self.cached(&key) {
            return Ok(Some(r));
        }
        for probe in probes {
            let found = match probe {
                RouterProbe::Address(a) => self.router_by_address(std::slice::from_ref(a))?,
                RouterProbe::AnyAddress(list) => self.router_by_address(list)?,
                RouterProbe::Name(n) => match FqName::new([ROUTER_PARENT, n.as_str()]) {
                    Ok(fq) => self
                        .api
                        .fqname_to_id("virtual-router", &fq)?
                        .map(|uuid| Router { uuid, fq_name: fq }),
                    // Not a name Contrail can hold: no router has it.
                    Err(_) => None,
                },
            };
            if let Some(r) = found {
                self.remember(&key, Cached::Router(r.clone()));
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// Forget the router remembered for `probes`: it turned out to be gone (deleted, or made
    /// again under another uuid when its node was provisioned again).
    pub fn forget_router(&self, probes: &[RouterProbe]) {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&router_key(probes));
    }

    /// A router whose `virtual_router_ip_address` is one of `addresses` (the first in their
    /// order when several match).
    fn router_by_address(&self, addresses: &[String]) -> Result<Option<Router>, ApiError> {
        let q = ListQuery {
            detail: true,
            fields: vec!["virtual_router_ip_address".into()],
            filters: addresses
                .iter()
                .map(|a| {
                    (
                        "virtual_router_ip_address".to_string(),
                        Value::String(a.clone()).to_string(),
                    )
                })
                .collect(),
            ..ListQuery::default()
        };
        let routers = self.api.list("virtual-router", &q)?;
        Ok(addresses.iter().find_map(|a| {
            routers
                .iter()
                .filter(|r| r["virtual_router_ip_address"].as_str() == Some(a.as_str()))
                .find_map(|r| {
                    Some(Router {
                        uuid: r["uuid"].as_str()?.to_string(),
                        fq_name: FqName::from_json(&r["fq_name"])?,
                    })
                })
        }))
    }
}

/// Where the router found for `probes` is remembered.
fn router_key(probes: &[RouterProbe]) -> String {
    format!("router:{probes:?}")
}

/// The parent of every virtual-router.
pub const ROUTER_PARENT: &str = "default-global-system-config";

/// A virtual-router found for a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Router {
    pub uuid: String,
    pub fq_name: FqName,
}

/// A config API failure as the CNI error the answer carries. `what` says what was being done.
pub fn api_error(e: &ApiError, what: &str) -> CniError {
    let c = match e.kind {
        ApiErrorKind::Unavailable | ApiErrorKind::Unauthorized => Code::TryAgainLater,
        _ => Code::Internal,
    };
    CniError::new(c, format!("{what}: {e}"))
}

/// The result of a scoped worker thread; a panic becomes an internal error saying what it was
/// doing.
pub fn joined<T>(r: std::thread::Result<Result<T, CniError>>, what: &str) -> Result<T, CniError> {
    r.unwrap_or_else(|_| {
        Err(CniError::new(
            Code::Internal,
            format!("{what}: worker panicked"),
        ))
    })
}
