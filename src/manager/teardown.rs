//! DEL and orphan removal: floating IPs, instance IPs, the interface, the router link and the
//! VM, in the order the config API requires. Never a network. Gone is success.

use serde_json::Value;

use super::service::{Service, api_error};
use crate::cni::error::CniError;
use crate::contrail::config_api::{ApiError, RefOp};
use crate::fqname::FqName;
use crate::ids;

/// Remove the objects of one task interface, and the VM when no interface is left.
pub fn del_interface(svc: &Service, cid: &str, ifname: &str) -> Result<(), CniError> {
    remove_interface(svc, &ids::vmi_uuid(cid, ifname))?;
    remove_vm_if_unused(svc, &ids::vm_uuid(cid))?;
    Ok(())
}

/// Remove a VM and everything hanging off it (reconciliation).
pub fn remove_vm(svc: &Service, vm_uuid: &str) -> Result<bool, CniError> {
    let vm = svc
        .api
        .read_opt(
            "virtual-machine",
            vm_uuid,
            &["virtual_machine_interface_back_refs"],
        )
        .map_err(|e| api_error(&e, &format!("reading virtual-machine {vm_uuid}")))?;
    let Some(vm) = vm else { return Ok(false) };
    for r in refs(&vm, "virtual_machine_interface_back_refs") {
        if let Some(u) = r["uuid"].as_str() {
            remove_interface(svc, u)?;
        }
    }
    remove_vm_if_unused(svc, vm_uuid)
}

fn refs<'a>(obj: &'a Value, field: &str) -> impl Iterator<Item = &'a Value> {
    obj[field].as_array().into_iter().flatten()
}

fn name_of(r: &Value) -> String {
    FqName::from_json(&r["to"])
        .map(|f| f.name().to_string())
        .unwrap_or_default()
}

fn count_delete(svc: &Service, ty: &str, uuid: &str) -> Result<(), ApiError> {
    if svc.api.delete(ty, uuid)? {
        svc.metrics.deleted(ty);
    }
    Ok(())
}

/// An address holder on an interface: back-ref field, type, and whether a holder of this name
/// is one this project made for the interface.
type Holder<'a> = (&'static str, &'static str, &'a dyn Fn(&str) -> bool);

/// Floating IPs this project allocated are deleted; ones an operator (or a load balancer)
/// associated are only detached. Instance IPs likewise. Then the interface itself.
pub fn remove_interface(svc: &Service, vmi_uuid: &str) -> Result<(), CniError> {
    let fields = ["fq_name", "floating_ip_back_refs", "instance_ip_back_refs"];
    let vmi = svc
        .api
        .read_opt("virtual-machine-interface", vmi_uuid, &fields)
        .map_err(|e| api_error(&e, &format!("reading virtual-machine-interface {vmi_uuid}")))?;
    let Some(vmi) = vmi else { return Ok(()) };
    let vmi_name = FqName::from_json(&vmi["fq_name"])
        .map(|f| f.name().to_string())
        .unwrap_or_default();
    let own_fip = format!("{vmi_name}{}", ids::FIP_MARK);
    let holders: [Holder<'_>; 2] = [
        ("floating_ip_back_refs", "floating-ip", &|name| {
            name.starts_with(&own_fip)
        }),
        ("instance_ip_back_refs", "instance-ip", &|name| {
            name == vmi_name
        }),
    ];
    for (field, ty, ours) in holders {
        for r in refs(&vmi, field) {
            let Some(u) = r["uuid"].as_str() else {
                continue;
            };
            let result = if ours(&name_of(r)) {
                count_delete(svc, ty, u)
            } else {
                svc.api
                    .ref_update(
                        ty,
                        u,
                        "virtual-machine-interface",
                        vmi_uuid,
                        RefOp::Delete,
                        None,
                    )
                    .or_else(|e| if e.is_not_found() { Ok(()) } else { Err(e) })
            };
            result.map_err(|e| {
                api_error(&e, &format!("releasing {ty} {u} of interface {vmi_uuid}"))
            })?;
        }
    }
    let deleted = match count_delete(svc, "virtual-machine-interface", vmi_uuid) {
        // Still referred to: a server that does not report back-refs hid the address holders.
        // Ours have names derived from the interface; remove them by those and try again.
        Err(e) if e.is_conflict() => {
            remove_derived_holders(svc, &vmi_name);
            count_delete(svc, "virtual-machine-interface", vmi_uuid)
        }
        other => other,
    };
    deleted.map_err(|e| {
        api_error(
            &e,
            &format!("deleting virtual-machine-interface {vmi_uuid}"),
        )
    })
}

/// Delete the instance IP and floating IPs this project would have made for the interface
/// named `<container>__<ifname>` (their UUIDs are derived from it). Gone is fine.
fn remove_derived_holders(svc: &Service, vmi_name: &str) {
    let Some((cid, ifname)) = ids::split_vmi_name(vmi_name) else {
        return;
    };
    for i in 0.. {
        match svc
            .api
            .delete("floating-ip", &ids::fip_uuid(cid, ifname, i))
        {
            Ok(true) => svc.metrics.deleted("floating-ip"),
            Ok(false) | Err(_) => break,
        }
    }
    if let Ok(true) = svc.api.delete("instance-ip", &ids::iip_uuid(cid, ifname)) {
        svc.metrics.deleted("instance-ip");
    }
}

/// Unlink the routers and delete the VM when no interface refers to it. Returns whether the VM
/// was deleted. A VM that gained an interface meanwhile (409) stays.
pub fn remove_vm_if_unused(svc: &Service, vm_uuid: &str) -> Result<bool, CniError> {
    let fields = [
        "virtual_machine_interface_back_refs",
        "virtual_router_back_refs",
    ];
    let vm = svc
        .api
        .read_opt("virtual-machine", vm_uuid, &fields)
        .map_err(|e| api_error(&e, &format!("reading virtual-machine {vm_uuid}")))?;
    let Some(vm) = vm else { return Ok(false) };
    if refs(&vm, "virtual_machine_interface_back_refs")
        .next()
        .is_some()
    {
        return Ok(false);
    }
    let mut unlinked = Vec::new();
    for r in refs(&vm, "virtual_router_back_refs") {
        let Some(vr) = r["uuid"].as_str() else {
            continue;
        };
        unlinked.push(vr.to_string());
        match svc.api.ref_update(
            "virtual-router",
            vr,
            "virtual-machine",
            vm_uuid,
            RefOp::Delete,
            None,
        ) {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                return Err(api_error(
                    &e,
                    &format!("unlinking virtual-router {vr} from {vm_uuid}"),
                ));
            }
        }
    }
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
                if let Err(e) = svc.api.ref_update(
                    "virtual-router",
                    &vr,
                    "virtual-machine",
                    vm_uuid,
                    RefOp::Add,
                    None,
                ) {
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
