//! Fixtures: the objects a fresh Contrail has, and helpers that create projects, networks,
//! floating-ip pools, security groups and virtual routers through the emulator's handle (over
//! HTTP, on the emulator and on upstream's server alike, `config_rest::ConfigRest` does the
//! same). The helpers go through the same create path as `POST /<type>s`. They are idempotent:
//! an object that already exists is returned as is.

use serde_json::{Map, Value, json};

use super::error::{ApiError, ApiResult};
use super::ops;
use super::store::Store;
pub use super::types::GSC;

fn strings(fq: &[&str]) -> Vec<String> {
    fq.iter().map(|s| s.to_string()).collect()
}

/// Find `ty` `fq`, or create it from `body` (fq_name and parent_type are added).
pub fn ensure(
    store: &mut Store,
    ty: &str,
    fq: &[String],
    parent_type: Option<&str>,
    body: Value,
) -> ApiResult<String> {
    if let Some(u) = store.find(ty, fq) {
        return Ok(u.to_string());
    }
    let mut m = match body {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    m.insert("fq_name".into(), json!(fq));
    if let Some(p) = parent_type {
        m.insert("parent_type".into(), json!(p));
    }
    ops::create(store, ty, &m)
}

/// What a fresh API server creates at start-up (`_db_init_entries` and
/// `create_singleton_entry` in Juniper/contrail-controller R2005
/// `src/config/api-server/vnc_cfg_api_server/api_server.py`), as far as clients of this
/// project meet it: the global system config (AS 64512), an empty global-vrouter-config under
/// it (port-translation pools and link-local services are the deployer's), the default
/// domain, project, IPAM and virtual network, and the networks ip-fabric (`is_provider_network`, made without
/// `virtual_network.py`'s checks, as singletons are) and `__link_local__`. Routing instances,
/// the default fabric, policy management, tags and alarms are not emulated.
pub fn defaults(store: &mut Store) -> ApiResult<()> {
    let gsc = [GSC.to_string()];
    ensure(
        store,
        "global-system-config",
        &gsc,
        None,
        json!({"autonomous_system": 64512}),
    )?;
    ensure(
        store,
        "global-vrouter-config",
        &strings(&[GSC, "default-global-vrouter-config"]),
        Some("global-system-config"),
        json!({}),
    )?;
    add_project(store, &strings(&["default-domain", "default-project"]))?;
    let p = ["default-domain", "default-project"];
    ensure(
        store,
        "network-ipam",
        &strings(&[p[0], p[1], "default-network-ipam"]),
        Some("project"),
        json!({}),
    )?;
    ensure(
        store,
        "virtual-network",
        &strings(&[p[0], p[1], "default-virtual-network"]),
        Some("project"),
        json!({}),
    )?;
    ensure(
        store,
        "virtual-network",
        &strings(&[p[0], p[1], "ip-fabric"]),
        Some("project"),
        json!({"is_provider_network": true}),
    )?;
    ensure(
        store,
        "virtual-network",
        &strings(&[p[0], p[1], "__link_local__"]),
        Some("project"),
        json!({}),
    )?;
    Ok(())
}

fn need_len(fq: &[String], n: usize, what: &str) -> ApiResult<()> {
    if fq.len() != n {
        return Err(ApiError::bad_request(format!(
            "{what} needs an fq_name of {n} elements, got {fq:?}"
        )));
    }
    Ok(())
}

/// A project `[domain, project]`; the domain is created when missing.
pub fn add_project(store: &mut Store, fq: &[String]) -> ApiResult<String> {
    need_len(fq, 2, "a project")?;
    ensure(store, "domain", &fq[..1], None, json!({}))?;
    ensure(store, "project", fq, Some("domain"), json!({}))
}

/// A network `[domain, project, name]` with user-defined subnets (`10.0.0.0/24`) on the
/// project's `default-network-ipam` (both created when missing).
pub fn add_network(store: &mut Store, fq: &[String], subnets: &[String]) -> ApiResult<String> {
    need_len(fq, 3, "a virtual-network")?;
    add_project(store, &fq[..2])?;
    let ipam_fq = vec![fq[0].clone(), fq[1].clone(), "default-network-ipam".into()];
    ensure(store, "network-ipam", &ipam_fq, Some("project"), json!({}))?;
    let mut ipam_subnets = Vec::new();
    for s in subnets {
        let (prefix, len) = s
            .split_once('/')
            .and_then(|(p, l)| l.parse::<u8>().ok().map(|l| (p, l)))
            .ok_or_else(|| {
                ApiError::bad_request(format!("invalid subnet {s:?}, want prefix/len"))
            })?;
        ipam_subnets.push(json!({"subnet": {"ip_prefix": prefix, "ip_prefix_len": len}}));
    }
    ensure(
        store,
        "virtual-network",
        fq,
        Some("project"),
        json!({"network_ipam_refs": [{"to": ipam_fq, "attr": {"ipam_subnets": ipam_subnets}}]}),
    )
}

/// A floating-ip pool `<network fq>:<pool>`.
pub fn add_fip_pool(store: &mut Store, network_fq: &[String], pool: &str) -> ApiResult<String> {
    let mut fq = network_fq.to_vec();
    fq.push(pool.to_string());
    ensure(
        store,
        "floating-ip-pool",
        &fq,
        Some("virtual-network"),
        json!({}),
    )
}

/// A security group `[domain, project, name]` (project created when missing).
pub fn add_security_group(store: &mut Store, fq: &[String]) -> ApiResult<String> {
    need_len(fq, 3, "a security-group")?;
    add_project(store, &fq[..2])?;
    ensure(store, "security-group", fq, Some("project"), json!({}))
}

/// A virtual router `[default-global-system-config, name]` with its IP address.
pub fn add_virtual_router(store: &mut Store, name: &str, ip: &str) -> ApiResult<String> {
    let gsc = [GSC.to_string()];
    ensure(store, "global-system-config", &gsc, None, json!({}))?;
    ensure(
        store,
        "virtual-router",
        &[GSC.to_string(), name.to_string()],
        Some("global-system-config"),
        json!({"virtual_router_ip_address": ip}),
    )
}
