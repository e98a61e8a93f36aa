//! STATUS and GC (CNI 1.1.0).

use std::collections::HashSet;

use super::error::{CniError, code};
use super::{Ctx, portfile};
use crate::netlink::Netlink;

/// Ready when the manager (in mesos mode) and the vRouter agent answer.
pub fn status(ctx: &Ctx<'_>) -> Result<(), CniError> {
    if ctx.conf.contrail.mode == "mesos" {
        ctx.manager.health()?;
    }
    ctx.agent.ping().map_err(|e| {
        CniError::new(
            code::PLUGIN_NOT_AVAILABLE,
            format!("vRouter agent at {} not available: {e}", ctx.agent.base()),
        )
    })
}

/// Remove the local ports (host interface, port file, agent port) of every attachment that
/// is not in `cni.dev/attachments`. Keeps going on errors and reports them all.
pub fn gc(ctx: &Ctx<'_>) -> Result<(), CniError> {
    let c = &ctx.conf.contrail;
    let keep: HashSet<(String, String)> = ctx
        .conf
        .attachments
        .iter()
        .flatten()
        .map(|a| (a.container_id.clone(), a.ifname.clone()))
        .collect();
    let files = portfile::read_all(&c.config_dir)
        .map_err(|e| CniError::new(code::IO_FAILURE, format!("{e:#}")))?;
    let mut host =
        Netlink::new().map_err(|e| CniError::new(code::NETLINK_FAILURE, format!("{e:#}")))?;
    let mut failures = Vec::new();
    for f in files {
        let Ok(m) = &f.msg else {
            log::warn!("GC: skipping unreadable port file {}", f.path.display());
            continue;
        };
        if keep.contains(&(m.vm_id.clone(), m.vm_ifname.clone())) {
            continue;
        }
        log::info!(
            "GC: removing {}/{} ({})",
            m.vm_id,
            m.vm_ifname,
            m.host_ifname
        );
        if let Err(e) = host.delete_link_by_name(&m.host_ifname) {
            failures.push(format!("removing {}: {e:#}", m.host_ifname));
        }
        if let Err(e) = portfile::remove(&f.path) {
            failures.push(format!("{e:#}"));
        }
        let dir_left = f.path.parent().is_some_and(|d| d.exists());
        let target = dir_left.then_some(m.vmi_uuid.as_str());
        if let Err(e) = ctx.agent.delete(&m.vm_uuid, target) {
            failures.push(format!(
                "vRouter agent at {}: removing port {}: {e}",
                ctx.agent.base(),
                m.vmi_uuid
            ));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CniError::new(
            code::IO_FAILURE,
            format!("GC: {}", failures.join("; ")),
        ))
    }
}
