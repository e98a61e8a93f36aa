//! DEL: best effort and idempotent. Local side first (host interface, port file, agent port),
//! then the manager; a manager that cannot be reached is logged, not an error (its
//! reconciliation finishes the Contrail side).

use super::manager_client::Outcome;
use super::{Ctx, portfile};
use crate::clients::contrail::agent::AddPortMsg;
use crate::domain::error::{CniError, Code};
use crate::domain::ids;
use crate::netlink::Netlink;

pub fn del(ctx: &Ctx<'_>) -> Result<(), CniError> {
    let (args, c) = (ctx.args, &ctx.conf.contrail);
    let lock = ctx.lock_container(&args.container_id)?;
    let files = portfile::read_container(&c.config_dir, &args.container_id)
        .map_err(|e| CniError::new(Code::IoFailure, format!("{e:#}")))?;
    // The stale-DEL guard: a port recorded for another container means this DEL is about a
    // container that has since been replaced. Touch nothing.
    if let Some(other) = files
        .iter()
        .filter_map(|f| f.msg.as_ref().ok())
        .find(|m| m.vm_id != args.container_id)
    {
        log::warn!(
            "DEL {}/{}: port files under {} belong to container {}; ignoring this DEL",
            args.container_id,
            args.ifname,
            portfile::container_dir(&c.config_dir, &args.container_id).display(),
            other.vm_id
        );
        return Ok(());
    }
    let derived_vmi = ids::vmi_uuid(&args.container_id, &args.ifname);
    let mine: Vec<_> = files
        .iter()
        .filter(|f| f.records(&args.ifname, &derived_vmi))
        .collect();
    let vm_uuid = mine
        .iter()
        .find_map(|f| f.msg.as_ref().ok().map(|m| m.vm_uuid.clone()))
        .unwrap_or_else(|| ids::vm_uuid(&args.container_id));
    let vmi_uuid = mine
        .iter()
        .find_map(|f| f.msg.as_ref().ok().map(|m| m.vmi_uuid.clone()))
        .unwrap_or(derived_vmi);
    let tap = mine
        .iter()
        .find_map(|f| f.msg.as_ref().ok().map(|m| m.host_ifname.clone()))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| ids::tap_name(&args.container_id, &args.ifname));

    // A failure names its code: the kernel's (103) wins over a port file's (5).
    let mut failures: Vec<(Code, String)> = Vec::new();
    // One socket for the host end and for the node's identity the manager is told.
    let mut host = Netlink::new();
    if let Ok(nl) = &mut host {
        ctx.learn_node(nl);
    }
    match host.and_then(|mut nl| nl.delete_link_by_name(&tap)) {
        Ok(true) => log::info!("DEL {}/{}: removed {tap}", args.container_id, args.ifname),
        Ok(false) => {}
        Err(e) => failures.push((
            Code::NetlinkFailure,
            format!("removing host interface {tap}: {e:#}"),
        )),
    }
    for f in &mine {
        if let Err(e) = portfile::remove(&f.path) {
            failures.push((Code::IoFailure, format!("{e:#}")));
        }
    }
    // Without a port file of this interface while the container has others, the agent has
    // nothing of this interface to forget: leave the others' ports alone.
    let others_recorded = files.len() > mine.len();
    if !mine.is_empty() || !others_recorded {
        release_agent_port(ctx, &vm_uuid, &vmi_uuid);
    }
    drop(lock);
    tell_manager(ctx);
    if failures.is_empty() {
        return Ok(());
    }
    let c = if failures.iter().any(|(c, _)| *c == Code::NetlinkFailure) {
        Code::NetlinkFailure
    } else {
        Code::IoFailure
    };
    let msg: Vec<String> = failures.into_iter().map(|(_, m)| m).collect();
    Err(CniError::new(c, msg.join("; ")))
}

/// Remove this interface's port from the agent. No release removes one interface, so the VM
/// goes and its other ports still recorded in port files are registered again.
pub fn release_agent_port(ctx: &Ctx<'_>, vm_uuid: &str, vmi_uuid: &str) {
    let keep: Vec<AddPortMsg> =
        portfile::read_container(&ctx.conf.contrail.config_dir, &ctx.args.container_id)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|f| f.msg.ok())
            .filter(|m| m.vm_uuid == vm_uuid && m.vmi_uuid != vmi_uuid)
            .collect();
    if let Err(e) = ctx.agent.remove_ports(vm_uuid, &keep) {
        log::warn!(
            "vRouter agent at {}: removing port {vmi_uuid} of {vm_uuid} ({} other port(s) kept): {e}",
            ctx.agent.base(),
            keep.len()
        );
    }
}

/// Ask the manager to remove the Contrail objects; failures are logged only.
pub fn tell_manager(ctx: &Ctx<'_>) {
    if ctx.conf.contrail.mode != "mesos" {
        return;
    }
    match ctx.manager.del(&ctx.manager_call()) {
        Ok(Outcome::Answer(_)) => {}
        Ok(Outcome::Unreachable(e)) => log::warn!(
            "DEL {}/{}: {}; the manager's reconciliation will remove the Contrail objects",
            ctx.args.container_id,
            ctx.args.ifname,
            e.msg
        ),
        Err(e) => log::warn!(
            "DEL {}/{}: manager refused: {} ({})",
            ctx.args.container_id,
            ctx.args.ifname,
            e.msg,
            e.details
        ),
    }
}
