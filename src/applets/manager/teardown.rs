//! DEL and orphan removal: floating IPs, instance IPs, the interface, the router link and the
//! VM, in the order the config API requires. Never a network. Gone is success.
//!
//! Which address holders are ours is decided by uuid: the ones derived from the interface's
//! (container, ifname), taken from the request or from the objects' annotations, never parsed
//! out of a name. Everything else is only detached, except an instance IP that has no other
//! interface: its address would otherwise stay taken for good.
//!
//! An interface that is a member of a VIP's load balancer loses its members first (found by
//! their `vmi` annotation), so that none is left pointing at an interface that is gone.
//! svc-monitor's native driver puts every member's interface on the VIP's floating IP (under
//! the VIP's instance IP) and never takes it off, so the interface is taken off every
//! floating IP the task does not own before it is deleted; and when the delete still meets a
//! reference (409: something put it on a floating IP again meanwhile, e.g. a member added
//! while the task goes), the interface is read again, taken off again and the delete retried,
//! for up to [`DETACH_BUDGET`].

use std::time::{Duration, Instant};

use super::service::{ROUTER_PARENT, Service, api_error, joined};
use crate::clients::contrail::config_api::{ApiError, ListQuery, RefOp};
use crate::domain::contrail::{
    InstanceIp, LoadbalancerMember, VirtualMachine, VirtualMachineInterface,
};
use crate::domain::error::CniError;
use crate::domain::fqname::FqName;
use crate::domain::ids::{self, Family};

/// How long a teardown keeps taking its interface off floating IPs that something puts it on
/// again, before the delete fails: well within the 10 s the CNI plugin waits for a DEL.
pub const DETACH_BUDGET: Duration = Duration::from_secs(5);
/// The longest pause between two such retries.
const DETACH_PAUSE: Duration = Duration::from_millis(200);

/// What a DEL reads of the container's VM.
const VM_FIELDS: &[&str] = &[
    "annotations",
    "virtual_machine_interface_back_refs",
    "virtual_router_back_refs",
];

/// Remove the objects of one task interface, and the VM when no interface is left. The
/// interface and its VM are read at once; when the VM has no other interface its router links
/// go while the interface's objects are removed, so a plain DEL takes four calls in sequence
/// (reads, instance IP, interface, VM).
pub fn del_interface(svc: &Service, cid: &str, ifname: &str) -> Result<(), CniError> {
    let owner = Owner { cid, ifname };
    let vm_uuid = ids::vm_uuid(cid);
    let vmi_uuid = ids::vmi_uuid(cid, ifname);
    let (vmi, vm) = std::thread::scope(|s| {
        let vm = s.spawn(|| read_vm(svc, &vm_uuid, VM_FIELDS));
        let vmi = read_vmi(svc, &vmi_uuid);
        (vmi, joined(vm.join(), "reading the virtual-machine"))
    });
    match (vmi?, vm?) {
        (Some(vmi), Some(vm))
            if vm
                .virtual_machine_interface_back_refs
                .iter()
                .all(|r| r.uuid == vmi_uuid) =>
        {
            let (removed, unlinked) = std::thread::scope(|s| {
                let unlinked = s.spawn(|| unlink_routers(svc, &vm));
                let removed = remove_read_interface(svc, &vmi_uuid, &vmi, Some(owner));
                (removed, joined(unlinked.join(), "unlinking the routers"))
            });
            removed?;
            delete_unlinked_vm(svc, &vm_uuid, unlinked?)?;
            return Ok(());
        }
        (Some(vmi), vm) => {
            // Its VM may hold the container's name under another uuid (an ADD took it over).
            let vm_id = vmi.vm_uuid().unwrap_or(&vm_uuid).to_string();
            remove_read_interface(svc, &vmi_uuid, &vmi, Some(owner))?;
            if delete_vm_if_unused(svc, &vm_id)? == Some(false) {
                relink_bound_router(svc, &vmi, &vm_id, vm.as_ref())?;
            }
            return Ok(());
        }
        (None, Some(vm)) => {
            if vm.virtual_machine_interface_back_refs.is_empty() {
                let unlinked = unlink_routers(svc, &vm)?;
                delete_unlinked_vm(svc, &vm_uuid, unlinked)?;
            }
            return Ok(());
        }
        (None, None) => {}
    }
    // The container's VM may exist under another uuid (made before this manager, whose ADD
    // then took it over): find it by name, and its interface by annotation.
    let Ok(fq) = FqName::new([cid]) else {
        return Ok(());
    };
    let other = svc
        .api
        .fqname_to_id("virtual-machine", &fq)
        .map_err(|e| api_error(&e, &format!("looking up virtual-machine {fq}")))?;
    let Some(other) = other else { return Ok(()) };
    let vm = read_vm(
        svc,
        &other,
        &["annotations", "virtual_machine_interface_back_refs"],
    )?;
    let Some(vm) = vm.filter(|vm| vm.is_ours(&svc.settings.cluster_name)) else {
        return Ok(());
    };
    let mut removed = None;
    for r in &vm.virtual_machine_interface_back_refs {
        let u = r.uuid.as_str();
        let Some(vmi) = read_vmi(svc, u)? else {
            continue;
        };
        if vmi.annotations.get("interface") == Some(ifname) {
            remove_read_interface(svc, u, &vmi, Some(owner))?;
            removed = Some(vmi);
        }
    }
    if delete_vm_if_unused(svc, &other)? == Some(false)
        && let Some(vmi) = removed
    {
        relink_bound_router(svc, &vmi, &other, None)?;
    }
    Ok(())
}

/// The virtual-router `vr` refers to the VM (again).
fn link_router(svc: &Service, vr: &str, vm_uuid: &str) -> Result<(), ApiError> {
    svc.api.ref_update(
        "virtual-router",
        vr,
        "virtual-machine",
        vm_uuid,
        RefOp::Add,
        None,
    )
}

/// Upstream's API server takes the virtual-router an interface is bound to (its
/// `virtual_machine_interface_bindings` `host_id`) off the interface's VM when the interface is
/// deleted, even though the VM keeps other interfaces (`resources/virtual_machine_interface.py`
/// `pre_dbe_delete` through `_check_vrouter_link`). Link it again, so that the node's agent
/// goes on learning the VM's other interfaces. `known`: the VM as read before, with its
/// routers.
/// Returns the router linked, if any (none: the interface is bound to no host, or no router
/// of that name exists).
fn relink_bound_router(
    svc: &Service,
    vmi: &VirtualMachineInterface,
    vm_uuid: &str,
    known: Option<&VirtualMachine>,
) -> Result<Option<String>, CniError> {
    let Some(host) = vmi.virtual_machine_interface_bindings.get("host_id") else {
        return Ok(None);
    };
    let router = [ROUTER_PARENT, host];
    let from_vm = known.and_then(|vm| {
        vm.virtual_router_back_refs
            .iter()
            .find(|r| r.to == router)
            .map(|r| r.uuid.clone())
    });
    let vr = match from_vm {
        Some(u) => u,
        None => {
            let Ok(fq) = FqName::new(router) else {
                return Ok(None);
            };
            match svc.api.fqname_to_id("virtual-router", &fq) {
                Ok(Some(u)) => u,
                Ok(None) => return Ok(None),
                Err(e) => return Err(api_error(&e, &format!("looking up virtual-router {fq}"))),
            }
        }
    };
    match link_router(svc, &vr, vm_uuid) {
        Ok(()) => Ok(Some(vr)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(api_error(
            &e,
            &format!("linking virtual-router {host} to {vm_uuid} again"),
        )),
    }
}

/// What [`relink_vm`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relink {
    /// Linked to this router.
    Linked(String),
    /// The interface is gone (its task went meanwhile).
    InterfaceGone,
    /// The interface is bound to no host.
    Unbound,
    /// No virtual-router is named after the host the interface is bound to (yet).
    NoRouter(String),
}

/// Link a running task's VM, which no virtual-router refers to, to the router its interface
/// is bound to (reconciliation: the node's router was deleted and made again under a new
/// uuid, which drops the old router's links, so the node's agent no longer learns the task's
/// ports).
pub fn relink_vm(svc: &Service, vm_uuid: &str, vmi_uuid: &str) -> Result<Relink, CniError> {
    let Some(vmi) = read_vmi(svc, vmi_uuid)? else {
        return Ok(Relink::InterfaceGone);
    };
    let Some(host) = vmi.virtual_machine_interface_bindings.get("host_id") else {
        return Ok(Relink::Unbound);
    };
    Ok(match relink_bound_router(svc, &vmi, vm_uuid, None)? {
        Some(router) => Relink::Linked(router),
        None => Relink::NoRouter(host.to_string()),
    })
}

/// Remove a VM and everything hanging off it (reconciliation). Returns whether it was
/// deleted.
pub fn remove_vm(svc: &Service, vm_uuid: &str) -> Result<bool, CniError> {
    let vm = read_vm(
        svc,
        vm_uuid,
        &["annotations", "virtual_machine_interface_back_refs"],
    )?;
    let Some(vm) = vm else { return Ok(false) };
    let cid = vm.annotations.get("container-id");
    for r in &vm.virtual_machine_interface_back_refs {
        remove_interface_of(svc, &r.uuid, cid)?;
    }
    remove_vm_if_unused(svc, vm_uuid)
}

/// The (container, ifname) an interface was made for.
#[derive(Debug, Clone, Copy)]
struct Owner<'a> {
    cid: &'a str,
    ifname: &'a str,
}

fn read_vm(
    svc: &Service,
    vm_uuid: &str,
    fields: &[&str],
) -> Result<Option<VirtualMachine>, CniError> {
    svc.api
        .read_opt_as(vm_uuid, fields)
        .map_err(|e| api_error(&e, &format!("reading virtual-machine {vm_uuid}")))
}

fn count_delete(svc: &Service, ty: &str, uuid: &str) -> Result<(), ApiError> {
    if svc.api.delete(ty, uuid)? {
        svc.metrics.deleted(ty);
    }
    Ok(())
}

fn detach(svc: &Service, ty: &str, uuid: &str, vmi_uuid: &str) -> Result<(), ApiError> {
    svc.api
        .ref_update(
            ty,
            uuid,
            "virtual-machine-interface",
            vmi_uuid,
            RefOp::Delete,
            None,
        )
        .or_else(|e| if e.is_not_found() { Ok(()) } else { Err(e) })
}

const VMI_FIELDS: &[&str] = &[
    "annotations",
    "virtual_machine_interface_bindings",
    "virtual_machine_refs",
    "floating_ip_back_refs",
    "instance_ip_back_refs",
];

/// Remove an interface found through its VM (reconciliation): its (container, ifname) come
/// from the VM's and the interface's annotations.
fn remove_interface_of(svc: &Service, vmi_uuid: &str, cid: Option<&str>) -> Result<(), CniError> {
    let Some(vmi) = read_vmi(svc, vmi_uuid)? else {
        return Ok(());
    };
    let cid = vmi.annotations.get("container-id").or(cid);
    let ifname = vmi.annotations.get("interface");
    let owner = cid.zip(ifname).map(|(cid, ifname)| Owner { cid, ifname });
    remove_read_interface(svc, vmi_uuid, &vmi, owner)
}

fn read_vmi(svc: &Service, vmi_uuid: &str) -> Result<Option<VirtualMachineInterface>, CniError> {
    svc.api
        .read_opt_as(vmi_uuid, VMI_FIELDS)
        .map_err(|e| api_error(&e, &format!("reading virtual-machine-interface {vmi_uuid}")))
}

fn remove_read_interface(
    svc: &Service,
    vmi_uuid: &str,
    vmi: &VirtualMachineInterface,
    owner: Option<Owner<'_>>,
) -> Result<(), CniError> {
    // A floating IP under an instance IP (fq-name [instance-ip, name]) is svc-monitor's: the
    // interface is a load-balancer member.
    let lb_fip = vmi.floating_ip_back_refs.iter().any(|r| r.to.len() == 2);
    if lb_fip || svc.may_have_vip_members() {
        remove_members_of(svc, vmi_uuid, lb_fip)?;
    }
    release_holders(svc, vmi_uuid, vmi, owner)?;
    delete_detached(svc, vmi_uuid, owner)
}

/// Take the interface off its floating IPs (deleting this project's own) and release its
/// instance IPs.
fn release_holders(
    svc: &Service,
    vmi_uuid: &str,
    vmi: &VirtualMachineInterface,
    owner: Option<Owner<'_>>,
) -> Result<(), CniError> {
    let fips: Vec<&str> = vmi
        .floating_ip_back_refs
        .iter()
        .map(|r| r.uuid.as_str())
        .collect();
    for u in &fips {
        // Floating IPs this project allocated are deleted; ones an operator (or a load
        // balancer's svc-monitor) put on the interface are only taken off it.
        let ours = owner.is_some_and(|o| ids::is_own_fip(u, o.cid, o.ifname, fips.len() + 8));
        let result = if ours {
            count_delete(svc, "floating-ip", u)
        } else {
            detach(svc, "floating-ip", u, vmi_uuid)
        };
        result.map_err(|e| {
            api_error(
                &e,
                &format!("releasing floating-ip {u} of interface {vmi_uuid}"),
            )
        })?;
    }
    for r in &vmi.instance_ip_back_refs {
        release_instance_ip(svc, &r.uuid, vmi_uuid, owner)?;
    }
    Ok(())
}

/// Delete an interface whose holders were released. Still referred to (409): read it again;
/// floating IPs or instance IPs on it again are released again and the delete retried until
/// [`DETACH_BUDGET`] has passed; none shown (a server that does not report back-refs hid the
/// address holders): ours, which have derived uuids, are removed once and the delete retried.
fn delete_detached(
    svc: &Service,
    vmi_uuid: &str,
    owner: Option<Owner<'_>>,
) -> Result<(), CniError> {
    let what = || format!("deleting virtual-machine-interface {vmi_uuid}");
    let deadline = Instant::now() + DETACH_BUDGET;
    let mut pause = Duration::from_millis(10);
    let mut derived_removed = false;
    let mut attempt = 0u32;
    loop {
        let conflict = match count_delete(svc, "virtual-machine-interface", vmi_uuid) {
            Err(e) if e.is_conflict() => e,
            other => return other.map_err(|e| api_error(&e, &what())),
        };
        let Some(vmi) = read_vmi(svc, vmi_uuid)? else {
            return Ok(());
        };
        let held: Vec<String> = vmi
            .floating_ip_back_refs
            .iter()
            .map(|r| format!("floating-ip {}", r.uuid))
            .chain(
                vmi.instance_ip_back_refs
                    .iter()
                    .map(|r| format!("instance-ip {}", r.uuid)),
            )
            .collect();
        if held.is_empty() {
            match owner {
                Some(o) if !derived_removed => {
                    derived_removed = true;
                    remove_derived_holders(svc, o);
                    continue;
                }
                _ => return Err(api_error(&conflict, &what())),
            }
        }
        if Instant::now() >= deadline {
            return Err(api_error(
                &conflict,
                &format!(
                    "{}: still held by {} after taking it off for {DETACH_BUDGET:?}",
                    what(),
                    held.join(", ")
                ),
            ));
        }
        log::info!(
            "virtual-machine-interface {vmi_uuid} is held again by {} (retry {}): taking it off \
             and deleting it again",
            held.join(", "),
            attempt + 1
        );
        if attempt > 0 {
            std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
            pause = (pause * 2).min(DETACH_PAUSE);
        }
        attempt += 1;
        release_holders(svc, vmi_uuid, &vmi, owner)?;
    }
}

/// Delete the load-balancer members whose `vmi` annotation is this interface. The VIP loop
/// names its members' display name after the interface, so one filtered list finds them; when
/// svc-monitor's floating IP says the interface is a member and that list finds none, every
/// member is read.
fn remove_members_of(svc: &Service, vmi_uuid: &str, lb_fip: bool) -> Result<(), CniError> {
    let what = |e: ApiError| {
        api_error(
            &e,
            &format!("removing the load-balancer members of interface {vmi_uuid}"),
        )
    };
    let mut q = ListQuery::detail(&["annotations"]);
    q.filters = vec![(
        "display_name".into(),
        serde_json::Value::String(vmi_uuid.to_string()).to_string(),
    )];
    let mut members = svc.api.list_as::<LoadbalancerMember>(&q).map_err(what)?;
    members.retain(|m| m.annotations.get("vmi") == Some(vmi_uuid));
    if members.is_empty() && lb_fip {
        members = svc
            .api
            .list_as::<LoadbalancerMember>(&ListQuery::detail(&["annotations"]))
            .map_err(what)?;
        members.retain(|m| m.annotations.get("vmi") == Some(vmi_uuid));
    }
    for m in &members {
        count_delete(svc, "loadbalancer-member", &m.uuid).map_err(what)?;
        log::info!(
            "removed load-balancer member {} of interface {vmi_uuid}",
            m.uuid
        );
    }
    Ok(())
}

/// An instance IP of ours, or one no other interface uses, is deleted (its address is
/// freed); one shared with other interfaces is only taken off this one.
fn release_instance_ip(
    svc: &Service,
    iip_uuid: &str,
    vmi_uuid: &str,
    owner: Option<Owner<'_>>,
) -> Result<(), CniError> {
    let ours = owner.is_some_and(|o| {
        Family::ALL
            .iter()
            .any(|f| ids::iip_uuid(o.cid, o.ifname, *f) == iip_uuid)
    });
    let what = |e: ApiError| {
        api_error(
            &e,
            &format!("releasing instance-ip {iip_uuid} of interface {vmi_uuid}"),
        )
    };
    let shared = if ours {
        false
    } else {
        let Some(iip) = svc
            .api
            .read_opt_as::<InstanceIp>(iip_uuid, &["virtual_machine_interface_refs"])
            .map_err(what)?
        else {
            return Ok(());
        };
        iip.virtual_machine_interface_refs
            .iter()
            .any(|r| r.uuid != vmi_uuid)
    };
    if shared {
        detach(svc, "instance-ip", iip_uuid, vmi_uuid).map_err(what)
    } else {
        count_delete(svc, "instance-ip", iip_uuid).map_err(what)
    }
}

/// Delete the instance IPs and floating IPs this project would have made for the interface
/// (by their derived uuids). Gone is fine.
fn remove_derived_holders(svc: &Service, o: Owner<'_>) {
    for i in 0.. {
        match svc
            .api
            .delete("floating-ip", &ids::fip_uuid(o.cid, o.ifname, i))
        {
            Ok(true) => svc.metrics.deleted("floating-ip"),
            Ok(false) | Err(_) => break,
        }
    }
    for f in Family::ALL {
        if let Ok(true) = svc
            .api
            .delete("instance-ip", &ids::iip_uuid(o.cid, o.ifname, f))
        {
            svc.metrics.deleted("instance-ip");
        }
    }
}

/// Unlink the routers and delete the VM when no interface refers to it. Returns whether the VM
/// was deleted. A VM that gained an interface meanwhile (409) stays.
pub fn remove_vm_if_unused(svc: &Service, vm_uuid: &str) -> Result<bool, CniError> {
    Ok(delete_vm_if_unused(svc, vm_uuid)? == Some(true))
}

/// Like [`remove_vm_if_unused`]; `None` when there is no such VM.
fn delete_vm_if_unused(svc: &Service, vm_uuid: &str) -> Result<Option<bool>, CniError> {
    let Some(vm) = read_vm(svc, vm_uuid, VM_FIELDS)? else {
        return Ok(None);
    };
    if !vm.virtual_machine_interface_back_refs.is_empty() {
        return Ok(Some(false));
    }
    let unlinked = unlink_routers(svc, &vm)?;
    delete_unlinked_vm(svc, vm_uuid, unlinked).map(Some)
}

/// Take the VM off every virtual-router that links it. Returns those routers.
fn unlink_routers(svc: &Service, vm: &VirtualMachine) -> Result<Vec<String>, CniError> {
    let mut unlinked = Vec::new();
    for r in &vm.virtual_router_back_refs {
        let vr = r.uuid.as_str();
        match svc.api.ref_update(
            "virtual-router",
            vr,
            "virtual-machine",
            &vm.uuid,
            RefOp::Delete,
            None,
        ) {
            Ok(()) => unlinked.push(vr.to_string()),
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                return Err(api_error(
                    &e,
                    &format!("unlinking virtual-router {vr} from {}", vm.uuid),
                ));
            }
        }
    }
    Ok(unlinked)
}

/// Delete a VM whose routers were just unlinked; one that gained an interface meanwhile (409)
/// stays, linked again. Returns whether it was deleted.
fn delete_unlinked_vm(
    svc: &Service,
    vm_uuid: &str,
    unlinked: Vec<String>,
) -> Result<bool, CniError> {
    match svc.api.delete("virtual-machine", vm_uuid) {
        Ok(gone) => {
            if gone {
                svc.metrics.deleted("virtual-machine");
            }
            Ok(gone)
        }
        Err(e) if e.is_conflict() => {
            // An interface was added meanwhile: put the router links back so its agent keeps
            // learning the VM.
            log::info!("virtual-machine {vm_uuid} gained a reference meanwhile; kept: {e}");
            for vr in unlinked {
                if let Err(e) = link_router(svc, &vr, vm_uuid) {
                    log::warn!("relinking virtual-router {vr} to {vm_uuid}: {e}");
                }
            }
            Ok(false)
        }
        Err(e) => Err(api_error(
            &e,
            &format!("deleting virtual-machine {vm_uuid}"),
        )),
    }
}
