//! ADD: run the plan against the config API. Every object this call creates is journaled;
//! on any failure the journal is undone in reverse, so a failed ADD leaves nothing but a
//! network it may have created.
//!
//! The calls on the critical path: (network lookup ∥ virtual-machine create) → interface →
//! instance IPs → reading back the allocated addresses, with the virtual-router link beside
//! the last three. The project, the router and the floating-ip pools are usually cached.
//! The policies a `network-policies` label names are looked up with the other anchors (a
//! missing one fails the ADD before anything is attached) and attached last, so that only a
//! failure to attach one of them can undo the attachments.

use std::net::IpAddr;

use super::service::{Cached, Router, Service, api_error, joined};
use crate::clients::contrail::config_api::{ApiError, ApiErrorKind, RefOp};
use crate::domain::contrail::{
    FloatingIp, InstanceIp, NetworkIpam, Ref, Resource, VirtualMachineInterface, VirtualNetwork,
    VirtualNetworkPolicyType, to_value,
};
use crate::domain::error::{CniError, Code};
use crate::domain::fqname::FqName;
use crate::domain::manager_api::InterfaceInfo;
use crate::domain::plan::{self, IipSpec, InterfaceRefs, Plan, Subnet};

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

/// What an ADD made (or found).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The virtual-machine's uuid (another than the derived one when the container's VM
    /// already existed under it).
    pub vm_uuid: String,
    pub interface: InterfaceInfo,
}

/// Create (or find) every object of the plan and describe the interface.
pub fn add(svc: &Service, p: &Plan) -> Result<Added, CniError> {
    let mut journal = Vec::new();
    match run(svc, p, &mut journal) {
        Ok(added) => Ok(added),
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
            if e.code == Code::Internal {
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

/// Create, or find what holds the fq-name already (409: its uuid may differ from ours).
/// Returns the uuid and whether this call created it.
fn created_or_found<T: Resource>(
    svc: &Service,
    obj: &T,
) -> Result<(String, Option<Undo>), ApiError> {
    let (uuid, created) = svc.api.ensure(obj)?;
    if created {
        svc.metrics.created(T::TYPE);
    }
    let undo = created.then(|| Undo::Delete(T::TYPE, uuid.clone()));
    Ok((uuid, undo))
}

fn missing(what: &str, fq: &FqName) -> CniError {
    CniError::new(Code::ObjectMissing, format!("{what} {fq} does not exist"))
}

/// What the interface hangs off, looked up (or created) before it.
struct Anchors {
    project_uuid: String,
    router: Router,
    sg_uuids: Vec<String>,
    /// The uuids of the `network-policies` label's policies, in the plan's order.
    policy_uuids: Vec<String>,
}

fn run(svc: &Service, p: &Plan, journal: &mut Vec<Undo>) -> Result<Added, CniError> {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    // The network lookup and the VM do not depend on each other, nor on the anchors.
    let (vm, network, anchors) = std::thread::scope(|scope| {
        let vm = scope.spawn(|| {
            created_or_found(svc, &plan::vm(p, &now))
                .map_err(|e| api_error(&e, &format!("creating virtual-machine {}", p.vm_fq_name)))
        });
        let network = scope.spawn(|| network(svc, p));
        let anchors = anchors(svc, p);
        (
            joined(vm.join(), "creating the virtual-machine"),
            joined(network.join(), "looking up the network"),
            anchors,
        )
    });
    let vm_uuid = match vm {
        Ok((uuid, undo)) => {
            journal.extend(undo);
            Some(uuid)
        }
        Err(e) => {
            // Report what the labels or the node got wrong before a failed create.
            anchors?;
            network?;
            return Err(e);
        }
    };
    let anchors = anchors?;
    let (vn_uuid, subnets) = network?;
    let vm_uuid = vm_uuid.unwrap_or_else(|| p.vm_uuid.clone());
    let vm_created = journal
        .iter()
        .any(|u| matches!(u, Undo::Delete("virtual-machine", _)));
    let iips = plan::instance_ips(p, &subnets)
        .map_err(|e| CniError::new(Code::AddressConflict, e.to_string()))?;

    // The router link needs only the VM: make it while the interface objects are created.
    let (link, objects) = std::thread::scope(|scope| {
        let link = scope.spawn(|| link_router(svc, p, &anchors.router, &vm_uuid, vm_created));
        let mut own = Vec::new();
        let objects = interface_objects(svc, p, &vm_uuid, &vn_uuid, &anchors, &iips, &mut own);
        (
            joined(link.join(), "linking the virtual-router"),
            (objects, own),
        )
    });
    let (objects, own) = objects;
    if let Ok(Some(undo)) = &link {
        journal.push(undo.clone());
    }
    journal.extend(own);
    let (vmi_uuid, mac, addresses, fips) = objects?;
    link?;
    attach_policies(svc, p, &vn_uuid, &anchors.policy_uuids, journal)?;

    let made = plan::Made {
        vmi_uuid,
        vn_uuid,
        mac,
        addresses,
        floating_ips: fips,
    };
    Ok(Added {
        vm_uuid,
        interface: plan::answer(p, &svc.settings, &subnets, made),
    })
}

/// Attach the label's policies the network lacks, each after the network's policies (a ref
/// with `sequence` major = the number of policies it had, minor 0). Journaled: a failure
/// later in this ADD detaches them again. Task teardown never does.
fn attach_policies(
    svc: &Service,
    p: &Plan,
    vn_uuid: &str,
    policy_uuids: &[String],
    journal: &mut Vec<Undo>,
) -> Result<(), CniError> {
    if policy_uuids.is_empty() {
        return Ok(());
    }
    let vn: VirtualNetwork = svc
        .api
        .read_as(vn_uuid, &["network_policy_refs"])
        .map_err(|e| api_error(&e, &format!("reading virtual network {}", p.network)))?;
    let mut next = i64::try_from(vn.network_policy_refs.len()).unwrap_or(i64::MAX);
    for (fq, uuid) in p.policies.iter().zip(policy_uuids) {
        if vn.has_policy(uuid) {
            continue;
        }
        svc.api
            .ref_update(
                "virtual-network",
                vn_uuid,
                "network-policy",
                uuid,
                RefOp::Add,
                Some(to_value(&VirtualNetworkPolicyType::at(next))),
            )
            .map_err(|e| {
                api_error(
                    &e,
                    &format!(
                        "attaching network-policy {fq} (label network-policies) to network {}",
                        p.network
                    ),
                )
            })?;
        journal.push(Undo::RefDelete {
            ty: "virtual-network",
            uuid: vn_uuid.to_string(),
            ref_ty: "network-policy",
            ref_uuid: uuid.clone(),
        });
        log::info!("attached network-policy {fq} to network {}", p.network);
        next = next.saturating_add(1);
    }
    Ok(())
}

/// The project, the node's router, the security groups and floating-ip pools: each must
/// exist (the cluster's project and one a new network goes in are created).
fn anchors(svc: &Service, p: &Plan) -> Result<Anchors, CniError> {
    let router = svc
        .find_router(&p.routers)
        .map_err(|e| api_error(&e, "looking up this node's virtual-router"))?
        .ok_or_else(|| no_router(p))?;
    let project_uuid = project(svc, p)?;
    let mut sg_uuids = Vec::new();
    for sg in &p.security_groups {
        let u = svc
            .uuid_of("security-group", sg)
            .map_err(|e| api_error(&e, &format!("looking up security group {sg}")))?
            .ok_or_else(|| missing("security group", sg))?;
        sg_uuids.push(u);
    }
    for f in &p.floating_ips {
        svc.uuid_of("floating-ip-pool", &f.pool)
            .map_err(|e| api_error(&e, &format!("looking up floating-ip pool {}", f.pool)))?
            .ok_or_else(|| missing("floating-ip pool", &f.pool))?;
    }
    let mut policy_uuids = Vec::new();
    for np in &p.policies {
        let u = svc
            .uuid_of("network-policy", np)
            .map_err(|e| api_error(&e, &format!("looking up network-policy {np}")))?
            .ok_or_else(|| missing("network-policy (label network-policies)", np))?;
        policy_uuids.push(u);
    }
    Ok(Anchors {
        project_uuid,
        router,
        sg_uuids,
        policy_uuids,
    })
}

fn no_router(p: &Plan) -> CniError {
    let tried = if p.routers.is_empty() {
        "the request names no node (no vrouter-ip other than a loopback address, no host \
         name, no addresses, no cluster-name)"
            .to_string()
    } else {
        p.routers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    };
    CniError::new(
        Code::AgentRejected,
        format!(
            "no virtual-router in Contrail for this node, so its vRouter agent would never \
             learn {}/{}: tried {tried}",
            p.cid, p.ifname
        ),
    )
}

type Objects = (String, String, Vec<IpAddr>, Vec<String>);

/// The interface, its instance IPs and floating IPs: its uuid, MAC, addresses and floating
/// addresses.
fn interface_objects(
    svc: &Service,
    p: &Plan,
    vm_uuid: &str,
    vn_uuid: &str,
    a: &Anchors,
    iips: &[IipSpec],
    journal: &mut Vec<Undo>,
) -> Result<Objects, CniError> {
    let refs = InterfaceRefs {
        vm_uuid,
        vn_uuid,
        project_uuid: &a.project_uuid,
        sg_uuids: &a.sg_uuids,
        router: a.router.fq_name.name(),
    };
    let (vmi_uuid, undo) = created_or_found(svc, &plan::vmi(p, &refs)).map_err(|e| {
        api_error(
            &e,
            &format!("creating virtual-machine-interface {}", p.vmi_fq_name),
        )
    })?;
    let vmi_created = undo.is_some();
    journal.extend(undo);
    let mac = if vmi_created {
        crate::domain::ids::mac_from_uuid(&vmi_uuid)
    } else {
        let vmi: VirtualMachineInterface = svc
            .api
            .read_as(&vmi_uuid, &["virtual_machine_interface_mac_addresses"])
            .map_err(|e| {
                api_error(
                    &e,
                    &format!("reading virtual-machine-interface {}", p.vmi_fq_name),
                )
            })?;
        vmi.mac().map(str::to_string)
    };
    let mac = mac.ok_or_else(|| {
        CniError::new(
            Code::Internal,
            format!(
                "virtual-machine-interface {} ({vmi_uuid}) has no MAC address",
                p.vmi_fq_name
            ),
        )
    })?;

    let mut addresses = Vec::new();
    for iip in iips {
        let (uuid, undo) = created_or_found(svc, &plan::iip(p, iip, vn_uuid, &vmi_uuid))
            .map_err(|e| iip_error(&e, iip, &p.network))?;
        let created = undo.is_some();
        journal.extend(undo);
        let address = match iip.address {
            Some(ip) if created => Some(ip),
            _ => read_address(svc, &uuid, "instance_ip_address", |i: &InstanceIp| {
                i.instance_ip_address.as_deref()
            })?,
        };
        // instance_ip.py: an instance IP pinned to a subnet with no address left is made
        // without one (and a 200).
        let address = address.ok_or_else(|| {
            CniError::new(
                Code::NoFreeAddress,
                format!(
                    "no {} address is free in network {} (instance-ip {uuid} got none)",
                    iip.family, p.network
                ),
            )
        })?;
        addresses.push(address);
    }

    let mut fips = Vec::new();
    for f in &p.floating_ips {
        let (uuid, undo) = created_or_found(svc, &plan::fip(p, f, &a.project_uuid, &vmi_uuid))
            .map_err(|e| fip_error(&e, f.address, &f.pool))?;
        let created = undo.is_some();
        journal.extend(undo);
        let addr = match f.address {
            Some(a) if created => a,
            _ => read_address(svc, &uuid, "floating_ip_address", |f: &FloatingIp| {
                f.floating_ip_address.as_deref()
            })?
            .ok_or_else(|| {
                CniError::new(
                    Code::NoFreeAddress,
                    format!(
                        "floating-ip pool {} gave floating IP {uuid} no address",
                        f.pool
                    ),
                )
            })?,
        };
        fips.push(addr.to_string());
    }

    Ok((vmi_uuid, mac, addresses, fips))
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
    match svc.api.ensure(&plan::project(&p.project)) {
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
                Code::ObjectMissing,
                format!(
                    "cannot create project {}: domain {domain} does not exist ({e})",
                    p.project
                ),
            ))
        }
        Err(e) => Err(api_error(&e, &format!("creating project {}", p.project))),
    }
}

/// The network's uuid and subnets; created with its IPAM when missing and the labels give
/// subnets.
fn network(svc: &Service, p: &Plan) -> Result<(String, Vec<Subnet>), CniError> {
    let lookup = |e: ApiError| api_error(&e, &format!("looking up virtual network {}", p.network));
    // Not cached: the uuid goes to the agent, and a network deleted and made again under the
    // same name must not be reported by its old uuid.
    if let Some(u) = svc
        .api
        .fqname_to_id("virtual-network", &p.network)
        .map_err(lookup)?
    {
        let subnets = subnets(svc, &u)?;
        return Ok((u, subnets));
    }
    let Some(spec) = &p.create_network else {
        return Err(CniError::new(
            Code::ObjectMissing,
            format!(
                "virtual network {} does not exist (give a network-subnets label to create it)",
                p.network
            ),
        ));
    };
    // What it needs of the cluster: its IPAM's DNS, the cluster's policies.
    let cluster = super::provision::for_new_network(svc)?;
    let dns = &cluster.dns;
    let (ipam_uuid, created) = svc
        .api
        .ensure(&NetworkIpam {
            virtual_dns_refs: Some(dns.refs()),
            ..plan::network_ipam(&spec.ipam, dns.mgmt())
        })
        .map_err(|e| api_error(&e, &format!("creating network-ipam {}", spec.ipam)))?;
    if created {
        svc.metrics.created("network-ipam");
    }
    // Made with the cluster's policies in the same call, so that it never exists without
    // them.
    let policies = &cluster.policies;
    let refs = policies
        .iter()
        .map(|(fq, uuid)| Ref::policy(fq, uuid, 0))
        .collect();
    let (vn_uuid, created) = svc
        .api
        .ensure(&plan::network(&p.network, spec, &ipam_uuid, refs))
        .map_err(|e| match e.kind {
            // virtual_network.py: a bad or overlapping subnet is 409 (400 for what the schema
            // check catches first).
            ApiErrorKind::BadRequest | ApiErrorKind::Conflict => CniError::new(
                Code::InvalidNetworkConfig,
                format!(
                    "Contrail refused network {} with subnets {} (label network-subnets): {e}",
                    p.network,
                    spec.subnets
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
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
        for policy in policies {
            super::provision::relax(svc, &p.network, &vn_uuid, policy)?;
        }
    }
    let subnets = subnets(svc, &vn_uuid)?;
    Ok((vn_uuid, subnets))
}

/// Creating an instance IP failed. `instance_ip.py`: a requested address in use is 409; every
/// allocation failure is 400 with the address manager's words (an exhausted subnet "has
/// exhausted subnet").
fn iip_error(e: &ApiError, iip: &IipSpec, network: &FqName) -> CniError {
    let exhausted = e.message.contains("exhausted");
    match (e.kind, iip.address) {
        (ApiErrorKind::BadRequest, _) if exhausted => CniError::new(
            Code::NoFreeAddress,
            format!(
                "no {} address is free in network {network}: {e}",
                iip.family
            ),
        ),
        (ApiErrorKind::Conflict | ApiErrorKind::BadRequest, Some(a)) => CniError::new(
            Code::AddressConflict,
            format!("address {a} (label network-ip) cannot be had in network {network}: {e}"),
        ),
        (ApiErrorKind::BadRequest, None) => CniError::new(
            Code::InvalidNetworkConfig,
            format!(
                "network {network} cannot give an {} address: {e}",
                iip.family
            ),
        ),
        _ => api_error(
            e,
            &format!("allocating an {} address in network {network}", iip.family),
        ),
    }
}

/// Creating a floating IP failed. `floating_ip.py`: a requested address in use is 409; any
/// other allocation failure is 500 (an exhausted pool "has exhausted subnet").
fn fip_error(e: &ApiError, requested: Option<IpAddr>, pool: &FqName) -> CniError {
    let exhausted = e.message.contains("exhausted");
    let allocation = matches!(e.status, Some(409) | Some(500));
    match requested {
        _ if allocation && exhausted => CniError::new(
            Code::NoFreeAddress,
            format!("no address is free in floating-ip pool {pool} (label floating-ips): {e}"),
        ),
        Some(a) if allocation => CniError::new(
            Code::AddressConflict,
            format!("floating IP {a} (label floating-ips) cannot be had from pool {pool}: {e}"),
        ),
        None if e.status == Some(500) => CniError::new(
            Code::AddressConflict,
            format!("floating-ip pool {pool} (label floating-ips) gave no address: {e}"),
        ),
        _ => api_error(e, &format!("allocating a floating IP from pool {pool}")),
    }
}

/// The address the server allocated to an instance or floating IP; `None` when it has none.
fn read_address<T: Resource>(
    svc: &Service,
    uuid: &str,
    field: &str,
    address: impl Fn(&T) -> Option<&str>,
) -> Result<Option<IpAddr>, CniError> {
    let obj: T = svc
        .api
        .read_as(uuid, &[field])
        .map_err(|e| api_error(&e, &format!("reading {} {uuid}", T::TYPE)))?;
    match address(&obj) {
        None => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| {
            CniError::new(
                Code::Internal,
                format!("{} {uuid} has {field} {text:?}, not an address", T::TYPE),
            )
        }),
    }
}

/// Link the VM to the node's virtual-router, so its agent learns the port. Returns the undo
/// step when this ADD created the VM (else the link is shared with other interfaces).
///
/// The router may be one remembered from an earlier ADD that has gone since (deleted, or made
/// again under a new uuid when the node was provisioned again): the link is then a 404, and
/// the router is looked for again, within this ADD. A 404 names the router or the VM (the
/// API server checks the VM first: `ref_update_http_post` in `api_server.py`); which one is
/// gone is asked of Contrail, so a VM deleted meanwhile (a concurrent DEL) is not taken for a
/// router that moved.
fn link_router(
    svc: &Service,
    p: &Plan,
    router: &Router,
    vm_uuid: &str,
    vm_created: bool,
) -> Result<Option<Undo>, CniError> {
    let linked = match ref_router(svc, router, vm_uuid) {
        Ok(()) => router.clone(),
        Err(e) if !e.is_not_found() => return Err(link_error(&e, router, p)),
        // The router is there: the VM went (a DEL or reconciliation of this container ran
        // meanwhile).
        Err(e) if !router_gone(svc, router)? => {
            return Err(CniError::new(
                Code::Internal,
                format!(
                    "virtual-machine {} ({vm_uuid}) was deleted while this ADD linked it to \
                     virtual-router {}: {e}",
                    p.vm_fq_name, router.fq_name
                ),
            ));
        }
        Err(_) => {
            svc.forget_router(&p.routers);
            log::warn!(
                "virtual-router {} ({}) is gone; looking for this node's router again",
                router.fq_name,
                router.uuid
            );
            let now = svc
                .find_router(&p.routers)
                .map_err(|e| api_error(&e, "looking up this node's virtual-router again"))?
                .ok_or_else(|| {
                    let mut e = no_router(p);
                    e.msg.push_str(&format!(
                        " (virtual-router {} ({}), found for it before, is gone)",
                        router.fq_name, router.uuid
                    ));
                    e
                })?;
            ref_router(svc, &now, vm_uuid).map_err(|e| link_error(&e, &now, p))?;
            log::info!(
                "virtual-router {} is now {} for {}",
                now.fq_name,
                now.uuid,
                p.vm_fq_name
            );
            now
        }
    };
    Ok(vm_created.then(|| Undo::RefDelete {
        ty: "virtual-router",
        uuid: linked.uuid,
        ref_ty: "virtual-machine",
        ref_uuid: vm_uuid.to_string(),
    }))
}

fn ref_router(svc: &Service, router: &Router, vm_uuid: &str) -> Result<(), ApiError> {
    svc.api.ref_update(
        "virtual-router",
        &router.uuid,
        "virtual-machine",
        vm_uuid,
        RefOp::Add,
        None,
    )
}

/// Whether the router is gone (one small read, only after a 404).
fn router_gone(svc: &Service, router: &Router) -> Result<bool, CniError> {
    svc.api
        .read_opt(
            "virtual-router",
            &router.uuid,
            &["virtual_router_ip_address"],
        )
        .map(|r| r.is_none())
        .map_err(|e| {
            api_error(
                &e,
                &format!(
                    "reading virtual-router {} ({})",
                    router.fq_name, router.uuid
                ),
            )
        })
}

fn link_error(e: &ApiError, router: &Router, p: &Plan) -> CniError {
    api_error(
        e,
        &format!(
            "linking virtual-router {} ({}) to {}",
            router.fq_name, router.uuid, p.vm_fq_name
        ),
    )
}

/// The subnets of a network: those on its IPAM refs, or a flat-subnet IPAM's own. Cached for
/// a while per network uuid.
fn subnets(svc: &Service, vn_uuid: &str) -> Result<Vec<Subnet>, CniError> {
    let key = format!("subnets:{vn_uuid}");
    if let Some(Cached::Subnets(s)) = svc.cached(&key) {
        return Ok(s);
    }
    let vn: VirtualNetwork = svc
        .api
        .read_as(vn_uuid, &["network_ipam_refs"])
        .map_err(|e| api_error(&e, &format!("reading virtual network {vn_uuid}")))?;
    let mut flat = Vec::new();
    for r in &vn.network_ipam_refs {
        if VirtualNetwork::own_subnets(r).is_empty() {
            let ipam: NetworkIpam = svc
                .api
                .read_as(&r.uuid, &["ipam_subnets"])
                .map_err(|e| api_error(&e, &format!("reading network-ipam {}", r.uuid)))?;
            flat.push((r.uuid.clone(), ipam));
        }
    }
    let subnets = plan::network_subnets(&vn, &flat);
    svc.remember(&key, Cached::Subnets(subnets.clone()));
    Ok(subnets)
}
