//! ADD: run the plan against the config API. Every object this call creates is journaled;
//! on any failure the journal is undone in reverse, so a failed ADD leaves nothing but a
//! network it may have created.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

use super::plan::{self, Plan};
use super::service::{Service, api_error};
use crate::cni::error::{CniError, code};
use crate::contrail::config_api::{ApiError, ApiErrorKind, RefOp};
use crate::fqname::FqName;
use crate::manager_api::InterfaceInfo;

/// An undo step.
#[derive(Debug, Clone)]
enum Undo {
    Delete(&'static str, String),
    RefDelete {
        ty: &'static str,
        uuid: String,
        ref_ty: &'static str,
        ref_uuid: String,
    },
}

/// Create (or find) every object of the plan and describe the interface.
pub fn add(svc: &Service, p: &Plan) -> Result<InterfaceInfo, CniError> {
    let mut journal = Vec::new();
    match run(svc, p, &mut journal) {
        Ok(info) => Ok(info),
        Err(e) => {
            if !journal.is_empty() {
                svc.metrics.inc(super::metrics::ROLLBACKS, 1);
                log::warn!(
                    "ADD {}/{} failed ({}); undoing {} step(s)",
                    p.cid,
                    p.ifname,
                    e.msg,
                    journal.len()
                );
                rollback(svc, journal);
            }
            // A stale cached uuid (an object deleted and made again) shows up as a refused
            // reference, which is neither "missing", "taken" nor "unreachable": only then is
            // the cache the suspect, and the next attempt asks Contrail again.
            if e.code == code::INTERNAL {
                svc.forget_all();
            }
            Err(e)
        }
    }
}

fn rollback(svc: &Service, journal: Vec<Undo>) {
    for step in journal.into_iter().rev() {
        let result = match &step {
            Undo::Delete(ty, uuid) => svc.api.delete(ty, uuid).map(|gone| {
                if gone {
                    svc.metrics.deleted(ty);
                }
            }),
            Undo::RefDelete {
                ty,
                uuid,
                ref_ty,
                ref_uuid,
            } => svc
                .api
                .ref_update(ty, uuid, ref_ty, ref_uuid, RefOp::Delete, None),
        };
        match result {
            Ok(()) => {}
            // Someone else (a concurrent ADD of the same container) uses it now.
            Err(e) if e.is_conflict() => log::info!("rollback left {step:?} in place: {e}"),
            Err(e) if e.is_not_found() => {}
            Err(e) => log::error!("rollback of {step:?} failed; reconciliation will retry: {e}"),
        }
    }
}

fn created_or_found(
    svc: &Service,
    journal: &mut Vec<Undo>,
    ty: &'static str,
    body: Value,
) -> Result<(String, bool), ApiError> {
    let (uuid, created) = svc.api.ensure(ty, body)?;
    if created {
        svc.metrics.created(ty);
        journal.push(Undo::Delete(ty, uuid.clone()));
    }
    Ok((uuid, created))
}

fn missing(what: &str, fq: &FqName) -> CniError {
    CniError::new(code::OBJECT_MISSING, format!("{what} {fq} does not exist"))
}

fn run(svc: &Service, p: &Plan, journal: &mut Vec<Undo>) -> Result<InterfaceInfo, CniError> {
    // Resolve and create what the interface hangs off first; nothing to undo yet.
    let project_uuid = project(svc, p)?;
    let vn_uuid = network(svc, p)?;
    let mut sg_uuids = Vec::new();
    for sg in &p.security_groups {
        let u = svc
            .api
            .fqname_to_id("security-group", sg)
            .map_err(|e| api_error(&e, &format!("looking up security group {sg}")))?
            .ok_or_else(|| missing("security group", sg))?;
        sg_uuids.push(u);
    }
    for f in &p.floating_ips {
        svc.uuid_of("floating-ip-pool", &f.pool)
            .map_err(|e| api_error(&e, &format!("looking up floating-ip pool {}", f.pool)))?
            .ok_or_else(|| missing("floating-ip pool", &f.pool))?;
    }

    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let (_, vm_created) = created_or_found(svc, journal, "virtual-machine", plan::vm_body(p, &now))
        .map_err(|e| api_error(&e, &format!("creating virtual-machine {}", p.vm_fq_name)))?;

    // The router link needs only the VM: make it while the interface objects are created.
    let (router, objects) = std::thread::scope(|scope| {
        let link = scope.spawn(|| link_router(svc, p, vm_created));
        let objects = interface_objects(svc, p, &vn_uuid, &sg_uuids, &project_uuid, journal);
        (link.join(), objects)
    });
    let router = router.unwrap_or_else(|_| {
        Err(CniError::new(
            code::INTERNAL,
            "linking the virtual-router: worker panicked",
        ))
    });
    if let Ok(Some(undo)) = &router {
        journal.push(undo.clone());
    }
    let (mac, ip, fips) = objects?;
    router?;

    let (plen, gateway, dns) = subnet_of(svc, &vn_uuid, ip)?;
    Ok(InterfaceInfo {
        ifname: p.ifname.clone(),
        vmi_uuid: p.vmi_uuid.clone(),
        vn_uuid,
        vn_fq_name: p.network.to_string(),
        mac_address: mac,
        ip_address: ip.to_string(),
        plen,
        gateway,
        dns_server: dns,
        floating_ips: fips,
        security_groups: p.security_groups.iter().map(ToString::to_string).collect(),
    })
}

type Objects = (String, IpAddr, Vec<String>);

/// The interface, its instance IP and floating IPs: MAC, address and floating addresses.
fn interface_objects(
    svc: &Service,
    p: &Plan,
    vn_uuid: &str,
    sg_uuids: &[String],
    project_uuid: &str,
    journal: &mut Vec<Undo>,
) -> Result<Objects, CniError> {
    let (_, vmi_created) = created_or_found(
        svc,
        journal,
        "virtual-machine-interface",
        plan::vmi_body(p, vn_uuid, sg_uuids),
    )
    .map_err(|e| {
        api_error(
            &e,
            &format!("creating virtual-machine-interface {}", p.vmi_fq_name),
        )
    })?;
    let mac = if vmi_created {
        crate::ids::mac_from_uuid(&p.vmi_uuid).unwrap_or_default()
    } else {
        let vmi = svc
            .api
            .read(
                "virtual-machine-interface",
                &p.vmi_uuid,
                &["virtual_machine_interface_mac_addresses"],
            )
            .map_err(|e| {
                api_error(
                    &e,
                    &format!("reading virtual-machine-interface {}", p.vmi_fq_name),
                )
            })?;
        vmi["virtual_machine_interface_mac_addresses"]["mac_address"][0]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };

    let (iip_uuid, iip_created) =
        created_or_found(svc, journal, "instance-ip", plan::iip_body(p, vn_uuid))
            .map_err(|e| address_error(e, p.ip, &format!("network {}", p.network)))?;
    let ip = match p.ip {
        Some(ip) if iip_created => ip,
        _ => read_address(svc, "instance-ip", &iip_uuid, "instance_ip_address")?,
    };

    let mut fips = Vec::new();
    for f in &p.floating_ips {
        let (uuid, created) = created_or_found(
            svc,
            journal,
            "floating-ip",
            plan::fip_body(p, f, project_uuid),
        )
        .map_err(|e| address_error(e, f.address, &format!("floating-ip pool {}", f.pool)))?;
        let addr = match f.address {
            Some(a) if created => a,
            _ => read_address(svc, "floating-ip", &uuid, "floating_ip_address")?,
        };
        fips.push(addr.to_string());
    }

    Ok((mac, ip, fips))
}

/// The project must exist, except the cluster's own project and one the labels want a new
/// network in: those are created.
fn project(svc: &Service, p: &Plan) -> Result<String, CniError> {
    let lookup = |e: ApiError| api_error(&e, &format!("looking up project {}", p.project));
    if let Some(u) = svc.uuid_of("project", &p.project).map_err(lookup)? {
        return Ok(u);
    }
    if p.create_network.is_none() && p.project != svc.settings.project() {
        return Err(missing("project", &p.project));
    }
    match svc.api.ensure("project", plan::project_body(&p.project)) {
        Ok((u, created)) => {
            if created {
                svc.metrics.created("project");
                log::info!("created project {}", p.project);
            }
            Ok(u)
        }
        Err(e) if e.is_not_found() || e.kind == ApiErrorKind::BadRequest => {
            let domain = p.project.parent().unwrap_or_else(|| p.project.clone());
            Err(CniError::new(
                code::OBJECT_MISSING,
                format!(
                    "cannot create project {}: domain {domain} does not exist ({e})",
                    p.project
                ),
            ))
        }
        Err(e) => Err(api_error(&e, &format!("creating project {}", p.project))),
    }
}

/// The network's uuid; created with its IPAM when missing and the labels give subnets.
fn network(svc: &Service, p: &Plan) -> Result<String, CniError> {
    let lookup = |e: ApiError| api_error(&e, &format!("looking up virtual network {}", p.network));
    // Not cached: the uuid goes to the agent, and a network deleted and made again under the
    // same name must not be reported by its old uuid.
    if let Some(u) = svc
        .api
        .fqname_to_id("virtual-network", &p.network)
        .map_err(lookup)?
    {
        return Ok(u);
    }
    let Some(spec) = &p.create_network else {
        return Err(CniError::new(
            code::OBJECT_MISSING,
            format!(
                "virtual network {} does not exist (give a network-subnets label to create it)",
                p.network
            ),
        ));
    };
    let (ipam_uuid, created) = svc
        .api
        .ensure("network-ipam", plan::ipam_body(&spec.ipam))
        .map_err(|e| api_error(&e, &format!("creating network-ipam {}", spec.ipam)))?;
    if created {
        svc.metrics.created("network-ipam");
    }
    let (vn_uuid, created) = svc
        .api
        .ensure(
            "virtual-network",
            plan::network_body(&p.network, spec, &ipam_uuid),
        )
        .map_err(|e| match e.kind {
            ApiErrorKind::BadRequest => CniError::new(
                code::INVALID_NETWORK_CONFIG,
                format!(
                    "Contrail refused network {} with subnets {:?}: {e}",
                    p.network, spec.subnets
                ),
            ),
            _ => api_error(&e, &format!("creating virtual network {}", p.network)),
        })?;
    if created {
        svc.metrics.created("virtual-network");
        log::info!(
            "created virtual network {} with {:?}",
            p.network,
            spec.subnets
        );
    }
    Ok(vn_uuid)
}

/// Creating an address holder failed: a 409 that is not "this name exists" or a 400 for a
/// requested address means the address is taken, outside the subnets, or none is free.
fn address_error(e: ApiError, requested: Option<IpAddr>, where_: &str) -> CniError {
    match (e.kind, requested) {
        (ApiErrorKind::Conflict, Some(a)) | (ApiErrorKind::BadRequest, Some(a)) => CniError::new(
            code::ADDRESS_CONFLICT,
            format!("address {a} cannot be had in {where_}: {e}"),
        ),
        (ApiErrorKind::Conflict, None) => CniError::new(
            code::ADDRESS_CONFLICT,
            format!("no address is free in {where_}: {e}"),
        ),
        _ => api_error(&e, &format!("allocating an address in {where_}")),
    }
}

fn read_address(svc: &Service, ty: &str, uuid: &str, field: &str) -> Result<IpAddr, CniError> {
    let obj = svc
        .api
        .read(ty, uuid, &[field])
        .map_err(|e| api_error(&e, &format!("reading {ty} {uuid}")))?;
    obj[field]
        .as_str()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| {
            CniError::new(
                code::INTERNAL,
                format!("{ty} {uuid} has no usable {field}: {}", obj[field]),
            )
        })
}

/// Link the VM to the virtual-router of the CNI's node, so the agent learns the port. Returns
/// the undo step when this ADD created the VM (else the link is shared with other interfaces).
fn link_router(svc: &Service, p: &Plan, vm_created: bool) -> Result<Option<Undo>, CniError> {
    let router = svc
        .find_router(p.router_ip.as_deref(), p.router_name.as_deref())
        .map_err(|e| api_error(&e, "looking up the virtual-router"))?;
    let Some((vr_uuid, vr_fq)) = router else {
        log::warn!(
            "no virtual-router with address {} or name {}: the vRouter agent will not learn {}",
            p.router_ip.as_deref().unwrap_or("-"),
            p.router_name.as_deref().unwrap_or("-"),
            p.vm_fq_name
        );
        return Ok(None);
    };
    svc.api
        .ref_update(
            "virtual-router",
            &vr_uuid,
            "virtual-machine",
            &p.vm_uuid,
            RefOp::Add,
            None,
        )
        .map_err(|e| {
            api_error(
                &e,
                &format!("linking virtual-router {vr_fq} to {}", p.vm_fq_name),
            )
        })?;
    Ok(vm_created.then(|| Undo::RefDelete {
        ty: "virtual-router",
        uuid: vr_uuid,
        ref_ty: "virtual-machine",
        ref_uuid: p.vm_uuid.clone(),
    }))
}

/// Prefix length, gateway and DNS server of the subnet holding `ip` on the network (user
/// subnets on the IPAM ref, or the IPAM's flat subnets).
fn subnet_of(svc: &Service, vn_uuid: &str, ip: IpAddr) -> Result<(u8, String, String), CniError> {
    let key = format!("subnets:{vn_uuid}");
    let subnets = match svc.cached(&key) {
        Some(v) => v,
        None => {
            let vn = svc
                .api
                .read("virtual-network", vn_uuid, &["network_ipam_refs"])
                .map_err(|e| api_error(&e, &format!("reading virtual network {vn_uuid}")))?;
            let mut all = Vec::new();
            for r in vn["network_ipam_refs"].as_array().into_iter().flatten() {
                // Entries with a prefix are the network's own subnets; a flat-subnet IPAM
                // leaves entries holding only a subnet_uuid (or none): its subnets apply.
                let user: Vec<Value> = r["attr"]["ipam_subnets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|s| s["subnet"]["ip_prefix"].is_string())
                    .cloned()
                    .collect();
                if !user.is_empty() {
                    all.extend(user);
                } else if let Some(ipam) = r["uuid"].as_str() {
                    let obj = svc
                        .api
                        .read("network-ipam", ipam, &["ipam_subnets"])
                        .map_err(|e| api_error(&e, &format!("reading network-ipam {ipam}")))?;
                    all.extend(
                        obj["ipam_subnets"]["subnets"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default(),
                    );
                }
            }
            let v = Value::Array(all);
            svc.remember(&key, v.clone());
            v
        }
    };
    for s in subnets.as_array().into_iter().flatten() {
        let prefix = s["subnet"]["ip_prefix"]
            .as_str()
            .and_then(|a| a.parse::<IpAddr>().ok());
        let len = s["subnet"]["ip_prefix_len"]
            .as_u64()
            .and_then(|l| u8::try_from(l).ok());
        if let (Some(prefix), Some(len)) = (prefix, len)
            && let Ok(net) = IpNet::new(prefix, len)
            && net.contains(&ip)
        {
            let text = |k: &str| s[k].as_str().unwrap_or_default().to_string();
            return Ok((len, text("default_gateway"), text("dns_server_address")));
        }
    }
    Ok((
        if ip.is_ipv4() { 32 } else { 128 },
        String::new(),
        String::new(),
    ))
}
