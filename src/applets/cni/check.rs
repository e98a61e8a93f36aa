//! CHECK: the interface, its MAC, addresses and default route still match `prevResult`, the
//! host end exists, and the agent still has the port.

use super::result::AddResult;
use super::{Ctx, portfile};
use crate::clients::contrail::agent::AddPortMsg;
use crate::domain::error::{CniError, Code};
use crate::netlink::{self, IpFamily, Netlink};

pub fn check(ctx: &Ctx<'_>) -> Result<(), CniError> {
    let prev = ctx.conf.prev_result.as_ref().ok_or_else(|| {
        CniError::new(
            Code::InvalidNetworkConfig,
            "CHECK needs prevResult in the network configuration",
        )
    })?;
    let prev =
        AddResult::parse(prev).map_err(|e| CniError::new(Code::DecodingFailure, e.to_string()))?;
    let port = recorded_port(ctx)?;
    host_end_exists(ctx, &port)?;
    container_end_matches(ctx, &prev)?;
    match ctx.agent.port(&port.vm_uuid, &port.vmi_uuid) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(CniError::new(
            Code::UnknownContainer,
            format!(
                "vRouter agent at {} no longer has port {}",
                ctx.agent.base(),
                port.vmi_uuid
            ),
        )),
        Err(e) => Err(CniError::new(
            Code::TryAgainLater,
            format!("vRouter agent at {}: {e}", ctx.agent.base()),
        )),
    }
}

fn nl(e: anyhow::Error) -> CniError {
    CniError::new(Code::NetlinkFailure, format!("{e:#}"))
}

/// The plugin's record of this interface of this container.
fn recorded_port(ctx: &Ctx<'_>) -> Result<AddPortMsg, CniError> {
    let args = ctx.args;
    ctx.ensure_records()?;
    portfile::read_container(&ctx.conf.contrail.config_dir, &args.container_id)
        .map_err(|e| CniError::new(Code::IoFailure, format!("{e:#}")))?
        .into_iter()
        .filter_map(|f| f.msg.ok())
        .find(|m| m.vm_ifname == args.ifname && m.vm_id == args.container_id)
        .ok_or_else(|| {
            CniError::new(
                Code::UnknownContainer,
                format!(
                    "no port recorded for {} of container {}",
                    args.ifname, args.container_id
                ),
            )
        })
}

fn host_end_exists(ctx: &Ctx<'_>, port: &AddPortMsg) -> Result<(), CniError> {
    let mut host = Netlink::new().map_err(nl)?;
    match host.link_by_name(&port.host_ifname).map_err(nl)? {
        Some(_) => Ok(()),
        None => Err(CniError::new(
            Code::UnknownContainer,
            format!(
                "host interface {} of {} is gone",
                port.host_ifname, ctx.args.container_id
            ),
        )),
    }
}

/// The container's interface is up with `prev`'s MAC, addresses and default routes.
fn container_end_matches(ctx: &Ctx<'_>, prev: &AddResult) -> Result<(), CniError> {
    let args = ctx.args;
    let netns = args.netns.clone().unwrap_or_default();
    let ns = super::open_netns(&netns)?;
    let mut inside = Netlink::in_netns(&ns).map_err(nl)?;
    let link = inside
        .link_by_name(&args.ifname)
        .map_err(nl)?
        .ok_or_else(|| {
            CniError::new(
                Code::UnknownContainer,
                format!("interface {} is gone from {}", args.ifname, netns.display()),
            )
        })?;
    let mismatch =
        |what: String| CniError::new(Code::Internal, format!("CHECK {}: {what}", args.ifname));
    let idx = prev
        .interfaces
        .iter()
        .position(|i| i.name == args.ifname && i.sandbox.is_some());
    // (`mac` is optional in a result: without one there is nothing to compare.)
    if let Some(i) = idx.filter(|i| !prev.interfaces[*i].mac.is_empty()) {
        let said = &prev.interfaces[i].mac;
        let want = netlink::parse_mac(said).map_err(|e| {
            CniError::new(
                Code::DecodingFailure,
                format!("prevResult interfaces[{i}].mac {said:?}: {e}"),
            )
        })?;
        if link.mac != Some(want) {
            return Err(mismatch(format!(
                "MAC is {}, prevResult says {said}",
                link.mac
                    .map(|m| netlink::format_mac(&m))
                    .unwrap_or_default(),
            )));
        }
    }
    if !link.up {
        return Err(mismatch("interface is down".into()));
    }
    let have = inside.addresses(Some(link.index)).map_err(nl)?;
    for ip in prev
        .ips
        .iter()
        .filter(|ip| ip.interface.is_none() || ip.interface == idx)
    {
        if !have.iter().any(|(_, a)| *a == ip.address) {
            return Err(mismatch(format!("address {} is missing", ip.address)));
        }
    }
    for r in prev.routes.iter().filter(|r| r.dst.prefix_len() == 0) {
        let family = if r.dst.addr().is_ipv4() {
            IpFamily::V4
        } else {
            IpFamily::V6
        };
        let routes = inside.default_routes(family).map_err(nl)?;
        if !routes.iter().any(|d| r.gw.is_none() || d.gateway == r.gw) {
            return Err(mismatch(format!(
                "default route via {} is missing",
                r.gw.map(|g| g.to_string()).unwrap_or_default()
            )));
        }
    }
    Ok(())
}
