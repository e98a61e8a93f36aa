//! STATUS and GC (CNI 1.1.0).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::{Ctx, portfile};
use crate::clients::contrail::agent::AddPortMsg;
use crate::domain::error::{CniError, Code};
use crate::netlink::Netlink;

/// Ready when the manager (in mesos mode) and the vRouter agent answer.
pub fn status(ctx: &Ctx<'_>) -> Result<(), CniError> {
    if ctx.conf.contrail.mode == "mesos" {
        ctx.manager.health()?;
    }
    ctx.agent.ping().map_err(|e| {
        CniError::new(
            Code::PluginNotAvailable,
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
    ctx.ensure_records()?;
    let containers: BTreeSet<String> = portfile::read_all(&c.config_dir)
        .map_err(|e| CniError::new(Code::IoFailure, format!("{e:#}")))?
        .into_iter()
        .filter_map(|f| {
            let dir = f.path.parent()?.file_name()?;
            Some(dir.to_string_lossy().into_owned())
        })
        .collect();
    let mut host =
        Netlink::new().map_err(|e| CniError::new(Code::NetlinkFailure, format!("{e:#}")))?;
    let mut failures = Vec::new();
    for cid in containers {
        if let Err(e) = gc_container(ctx, &cid, &keep, &mut host, &mut failures) {
            failures.push(format!("{e:#}"));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CniError::new(
            Code::IoFailure,
            format!("GC: {}", failures.join("; ")),
        ))
    }
}

/// GC of one container's ports, under its lock. No agent release removes one interface, so
/// a VM losing some ports is dropped and the rest registered again.
fn gc_container(
    ctx: &Ctx<'_>,
    cid: &str,
    keep: &HashSet<(String, String)>,
    host: &mut Netlink,
    failures: &mut Vec<String>,
) -> anyhow::Result<()> {
    let dir = &ctx.conf.contrail.config_dir;
    let _lock = ctx
        .lock_container(cid)
        .map_err(|e| anyhow::anyhow!("{}", e.msg))?;
    // VM uuid -> (ports kept, whether any is removed)
    let mut by_vm: BTreeMap<String, (Vec<AddPortMsg>, bool)> = BTreeMap::new();
    for f in portfile::read_container(dir, cid)? {
        let Ok(m) = f.msg else {
            log::warn!("GC: skipping unreadable port file {}", f.path.display());
            continue;
        };
        let entry = by_vm.entry(m.vm_uuid.clone()).or_default();
        if keep.contains(&(m.vm_id.clone(), m.vm_ifname.clone())) {
            entry.0.push(m);
            continue;
        }
        log::info!(
            "GC: removing {}/{} ({})",
            m.vm_id,
            m.vm_ifname,
            m.host_ifname
        );
        entry.1 = true;
        if let Err(e) = host.delete_link_by_name(&m.host_ifname) {
            failures.push(format!("removing {}: {e:#}", m.host_ifname));
        }
        if let Err(e) = portfile::remove(&f.path) {
            failures.push(format!("{e:#}"));
        }
    }
    for (vm, (kept, removed)) in by_vm {
        if !removed {
            continue;
        }
        if let Err(e) = ctx.agent.remove_ports(&vm, &kept) {
            failures.push(format!(
                "vRouter agent at {}: removing ports of {vm}: {e}",
                ctx.agent.base(),
            ));
        }
    }
    Ok(())
}
