//! ADD: manager → veth → port file → agent → wait for the agent → configure → result.
//! Every side effect is recorded; any failure undoes them all.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;

use super::answers::{self, Configured, Placement};
use super::manager_client::Outcome;
use super::poll::{Poll, poll};
use super::result::{AddResult, Route};
use super::{Ctx, portfile};
use crate::clients::contrail::agent::{AddPortMsg, AgentError, PortInfo};
use crate::domain::error::{CniError, Code};
use crate::domain::ids;
use crate::domain::manager_api::InterfaceInfo;
use crate::netlink::{self, IpFamily, NetNs, Netlink, VethSpec};

/// Where the interface goes in Contrail: what the manager (or the agent's config) says.
#[derive(Debug, Clone)]
struct PortPlan {
    vm_uuid: String,
    vmi_uuid: String,
    vn_uuid: String,
    mac: Option<[u8; 6]>,
    manager: Option<InterfaceInfo>,
}

/// What to undo if the ADD fails.
#[derive(Default)]
struct Undo {
    manager: bool,
    tap: Option<String>,
    port_file: Option<PathBuf>,
    agent: Option<(String, String)>,
}

pub fn add(ctx: &Ctx<'_>) -> Result<AddResult, CniError> {
    let args = ctx.args;
    // Validate everything before the first side effect.
    crate::domain::labels::parse(ctx.conf.label_pairs())
        .map_err(|e| CniError::new(Code::InvalidNetworkConfig, e.to_string()))?;
    let netns_path = args.netns.clone().unwrap_or_default();
    let ns = super::open_netns(&netns_path)?;
    let tap = ids::tap_name(&args.container_id, &args.ifname);
    let mut host = Netlink::new().map_err(|e| nl_err(e, "opening a netlink socket"))?;
    // The socket in the container is opened by a thread that enters its namespace: meanwhile
    // look at the host side.
    let (inside, recorded, tap_exists) = std::thread::scope(|s| {
        let inside = Netlink::spawn_in_netns(s, &ns);
        let recorded = recorded_port(ctx);
        let tap_exists = host
            .link_by_name(&tap)
            .map_err(|e| nl_err(e, "looking up the host interface"));
        let inside = inside
            .and_then(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("the worker panicked")))
            })
            .map_err(|e| nl_err(e, "opening a netlink socket in the container"));
        (inside, recorded, tap_exists)
    });
    let mut inside = inside?;
    let tap_exists = tap_exists?.is_some();
    let inside_link = inside
        .link_by_name(&args.ifname)
        .map_err(|e| nl_err(e, "looking up the container interface"))?;
    let recorded = match recorded? {
        // The interface exists without a record: perhaps an older install's, not moved yet.
        None if inside_link.is_some() => {
            ctx.ensure_records()?;
            recorded_port(ctx)?
        }
        r => r,
    };
    let repeat = recorded.is_some() && tap_exists && inside_link.is_some();
    if inside_link.is_some() && !repeat {
        return Err(CniError::new(
            Code::InvalidEnvironment,
            format!(
                "interface {} already exists in {}",
                args.ifname,
                netns_path.display()
            ),
        ));
    }

    let mut undo = Undo::default();
    // The veth does not depend on the manager's answer (its MAC is set once the agent has
    // reported the port): create it while the manager works.
    let (port, veth) = std::thread::scope(|s| {
        let veth = (!repeat).then(|| {
            s.spawn(|| create_veth(&mut host, &ns, &tap, &args.ifname, ctx.conf.contrail.mtu))
        });
        let port = resolve_port(ctx, &mut undo);
        let veth = veth.map(|h| {
            h.join().unwrap_or_else(|_| {
                Err(CniError::new(
                    Code::Internal,
                    "creating the veth: worker panicked",
                ))
            })
        });
        (port, veth)
    });
    if let Some(Ok(())) = veth {
        undo.tap = Some(tap.clone());
    }
    let port = match (port, veth) {
        (Ok(p), None | Some(Ok(()))) => p,
        (Err(e), _) | (_, Some(Err(e))) => {
            if !repeat {
                run_undo(ctx, undo, &mut host);
            }
            return Err(e);
        }
    };
    log::debug!("manager placed {} in {}", port.vmi_uuid, port.vn_uuid);
    let result = attach(ctx, &ns, &mut host, &mut inside, &tap, &port, &mut undo);
    if result.is_err() && !repeat {
        run_undo(ctx, undo, &mut host);
    }
    result
}

fn nl_err(e: anyhow::Error, what: &str) -> CniError {
    CniError::new(Code::NetlinkFailure, format!("{what}: {e:#}"))
}

/// The port file of this (container, ifname), if an earlier ADD wrote one.
fn recorded_port(ctx: &Ctx<'_>) -> Result<Option<AddPortMsg>, CniError> {
    let files = portfile::read_container(&ctx.conf.contrail.config_dir, &ctx.args.container_id)
        .map_err(|e| CniError::new(Code::IoFailure, format!("{e:#}")))?;
    Ok(files
        .into_iter()
        .filter_map(|f| f.msg.ok())
        .find(|m| m.vm_ifname == ctx.args.ifname && m.vm_id == ctx.args.container_id))
}

fn resolve_port(ctx: &Ctx<'_>, undo: &mut Undo) -> Result<PortPlan, CniError> {
    let args = ctx.args;
    if ctx.conf.contrail.mode != "mesos" {
        return from_vm_cfg(ctx);
    }
    let answer = match ctx.manager.add(&ctx.manager_call())? {
        Outcome::Answer(a) => a,
        Outcome::Unreachable(e) => {
            // It may have created objects before the connection broke: undo them too.
            undo.manager = true;
            return Err(e);
        }
    };
    undo.manager = true;
    let Some(interfaces) = answer.interfaces else {
        // Upstream's manager answers with an echo and works asynchronously.
        log::info!("manager answered without interfaces; waiting for the vRouter agent's config");
        return from_vm_cfg(ctx);
    };
    let info = interfaces
        .into_iter()
        .find(|i| i.ifname == args.ifname)
        .ok_or_else(|| {
            CniError::new(
                Code::DecodingFailure,
                format!("manager answered without interface {}", args.ifname),
            )
        })?;
    Ok(PortPlan {
        vm_uuid: if answer.vm_uuid.is_empty() {
            ids::vm_uuid(&args.container_id)
        } else {
            answer.vm_uuid
        },
        vmi_uuid: info.vmi_uuid.clone(),
        vn_uuid: info.vn_uuid.clone(),
        mac: netlink::parse_mac(&info.mac_address).ok(),
        manager: Some(info),
    })
}

/// Poll `GET /vm-cfg/<container id>` (upstream's asynchronous manager, or kube-style modes).
fn from_vm_cfg(ctx: &Ctx<'_>) -> Result<PortPlan, CniError> {
    let (args, c) = (ctx.args, &ctx.conf.contrail);
    let found = poll(
        c.poll_budget(),
        c.poll_timeout,
        || -> Result<_, CniError> {
            match ctx.agent.get_vm_cfg(&args.container_id) {
                Ok(Some(list)) if !list.is_empty() => {
                    Ok(match answers::pick_vm_cfg(&list, &args.ifname) {
                        Some(e) => Poll::Ready(e.clone()),
                        None => Poll::NotYet(format!(
                            "no interface {} among {} configured",
                            args.ifname,
                            list.len()
                        )),
                    })
                }
                Ok(_) => Ok(Poll::NotYet(
                    "the agent has no config for it yet (404)".into(),
                )),
                Err(AgentError::Refused { status, body }) => Ok(Poll::NotYet(format!(
                    "agent answered {status}: {}",
                    body.trim()
                ))),
                Err(e) => Ok(Poll::NotYet(e.to_string())),
            }
        },
    )?
    .map_err(|reason| {
        CniError::new(
            Code::TryAgainLater,
            format!(
                "vRouter agent at {} had no config for container {} within {:?}: {reason}",
                ctx.agent.base(),
                args.container_id,
                c.poll_budget()
            ),
        )
    })?;
    Ok(PortPlan {
        vm_uuid: if found.vm_uuid.is_empty() {
            ids::vm_uuid(&args.container_id)
        } else {
            found.vm_uuid.clone()
        },
        vmi_uuid: found.id.clone(),
        vn_uuid: found.vn_id.clone(),
        mac: netlink::parse_mac(&found.mac_address).ok(),
        manager: None,
    })
}

#[allow(clippy::too_many_arguments)]
fn attach(
    ctx: &Ctx<'_>,
    ns: &NetNs,
    host: &mut Netlink,
    inside: &mut Netlink,
    tap: &str,
    port: &PortPlan,
    undo: &mut Undo,
) -> Result<AddResult, CniError> {
    let (args, c) = (ctx.args, &ctx.conf.contrail);
    let netns_path = ns.path().to_path_buf();
    let tap_link = host
        .link_by_name(tap)
        .map_err(|e| nl_err(e, "looking up the host interface"))?
        .ok_or_else(|| {
            CniError::new(
                Code::NetlinkFailure,
                format!("host interface {tap} vanished"),
            )
        })?;
    host.set_up(tap_link.index)
        .map_err(|e| nl_err(e, &format!("setting {tap} up")))?;
    if let Err(e) = netlink::set_ipv6_accept_ra(tap, 0) {
        log::debug!("{e:#}");
    }

    let msg = AddPortMsg {
        time: humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string(),
        vm_id: args.container_id.clone(),
        vm_uuid: port.vm_uuid.clone(),
        vm_name: args.container_id.clone(),
        host_ifname: tap.to_string(),
        vm_ifname: args.ifname.clone(),
        vm_namespace: netns_path.display().to_string(),
        vn_uuid: port.vn_uuid.clone(),
        vmi_uuid: port.vmi_uuid.clone(),
    };
    log::debug!(
        "{tap}/{} created; registering port {} with the agent",
        args.ifname,
        port.vmi_uuid
    );
    // Removing a port the agent never took is harmless; not removing one it took is a leak.
    undo.agent = Some((port.vm_uuid.clone(), port.vmi_uuid.clone()));
    // Another interface's DEL of this container re-registers the ports it finds recorded:
    // record and register this one without it running in between.
    let lock = ctx.lock_container(&args.container_id)?;
    // The record first, as upstream's plugin does: a port the agent holds is always recorded.
    let path = portfile::write(&c.config_dir, &msg)
        .map_err(|e| CniError::new(Code::IoFailure, format!("{e:#}")))?;
    undo.port_file = Some(path);
    register_port(ctx, &msg)?;
    drop(lock);
    let info = wait_for_port(ctx, port)?;
    log::debug!(
        "agent reports {}/{} gateway {}",
        info.ip_address,
        info.plen.unwrap_or(0),
        info.gateway
    );
    let done = configure(inside, &args.ifname, &netns_path, &info, port)?;
    let at = Placement {
        ifname: &args.ifname,
        netns: &netns_path,
        tap,
        tap_mac: tap_link.mac,
        mtu: c.mtu,
    };
    let dns = answers::merge_dns(
        &ctx.conf.dns,
        answers::contrail_dns(&info, port.manager.as_ref()),
    );
    Ok(answers::build_result(&at, done, dns))
}

/// The veth, its peer created directly in the container with its final name, both down.
fn create_veth(
    host: &mut Netlink,
    ns: &NetNs,
    tap: &str,
    ifname: &str,
    mtu: u32,
) -> Result<(), CniError> {
    let spec = VethSpec {
        host_name: tap,
        peer_name: ifname,
        peer_ns: ns,
        mtu: Some(mtu),
        host_mac: None,
        peer_mac: None,
    };
    match host.create_veth(&spec) {
        Ok(()) => Ok(()),
        Err(e) if netlink::errno_of(&e) == Some(libc::EEXIST) => {
            // A host end left by an ADD that died before writing its port file: its name is
            // ours alone (a digest of this container and ifname), so replace it.
            log::warn!("replacing stale host interface {tap}");
            host.delete_link_by_name(tap)
                .map_err(|e| nl_err(e, &format!("removing stale {tap}")))?;
            host.create_veth(&spec)
                .map_err(|e| nl_err(e, &format!("creating veth {tap} / {ifname}")))
        }
        Err(e) => Err(nl_err(e, &format!("creating veth {tap} / {ifname}"))),
    }
}

fn register_port(ctx: &Ctx<'_>, msg: &AddPortMsg) -> Result<(), CniError> {
    let c = &ctx.conf.contrail;
    poll(c.poll_budget(), c.poll_timeout, || {
        match ctx.agent.add_port(msg) {
            Ok(()) => Ok(Poll::Ready(())),
            Err(AgentError::Refused { status, body }) => Err(CniError::new(
                Code::AgentRejected,
                format!(
                    "vRouter agent at {} rejected port {} ({} of container {}): {status} {}",
                    ctx.agent.base(),
                    msg.vmi_uuid,
                    msg.vm_ifname,
                    msg.vm_id,
                    body.trim()
                ),
            )),
            Err(e) => Ok(Poll::NotYet(e.to_string())),
        }
    })?
    .map_err(|reason| {
        CniError::new(
            Code::TryAgainLater,
            format!("vRouter agent at {} {reason}", ctx.agent.base()),
        )
    })
}

fn wait_for_port(ctx: &Ctx<'_>, port: &PortPlan) -> Result<PortInfo, CniError> {
    let c = &ctx.conf.contrail;
    poll(c.poll_budget(), c.poll_timeout, || -> Result<_, CniError> {
        Ok(match ctx.agent.port(&port.vm_uuid, &port.vmi_uuid) {
            Ok(Some(p)) if p.has_ip() => Poll::Ready(p),
            Ok(Some(_)) => Poll::NotYet("the agent has no address for it yet".into()),
            Ok(None) => Poll::NotYet("the agent does not report it ready yet (404)".into()),
            Err(e) => Poll::NotYet(e.to_string()),
        })
    })?
    .map_err(|reason| {
        CniError::new(
            Code::TryAgainLater,
            format!(
                "vRouter agent at {} did not report port {} of container {} ready within {:?}: {reason}",
                ctx.agent.base(),
                port.vmi_uuid,
                ctx.args.container_id,
                c.poll_budget()
            ),
        )
    })
}

fn configure(
    inside: &mut Netlink,
    ifname: &str,
    netns: &Path,
    info: &PortInfo,
    port: &PortPlan,
) -> Result<Configured, CniError> {
    let at = |what: &str| format!("{what} of {ifname} in {}", netns.display());
    let link = inside
        .link_by_name(ifname)
        .map_err(|e| nl_err(e, &at("looking up")))?
        .ok_or_else(|| {
            CniError::new(
                Code::NetlinkFailure,
                format!("{ifname} vanished from {}", netns.display()),
            )
        })?;
    let mac = set_mac(inside, &link, wanted_mac(info, port), &at)?;
    let addrs = answers::addresses(info, port.manager.as_ref()).map_err(|e| {
        CniError::new(
            Code::DecodingFailure,
            format!("port {}: {e}", port.vmi_uuid),
        )
    })?;
    for (net, _) in &addrs {
        if let Err(e) = inside.add_address(link.index, *net)
            && netlink::errno_of(&e) != Some(libc::EEXIST)
        {
            return Err(nl_err(e, &at(&format!("adding address {net}"))));
        }
    }
    inside
        .set_up(link.index)
        .map_err(|e| nl_err(e, &at("setting up")))?;
    let mut routes = Vec::new();
    for (net, gw) in &addrs {
        if let Some(gw) = gw {
            routes.extend(default_route(inside, link.index, net, *gw, &addrs, &at)?);
        }
    }
    Ok(Configured { mac, addrs, routes })
}

/// The MAC the interface gets: the agent's, else the one the manager gave. An agent MAC that
/// cannot be read is said in the log.
fn wanted_mac(info: &PortInfo, port: &PortPlan) -> Option<[u8; 6]> {
    match netlink::parse_mac(&info.mac_address) {
        Ok(mac) => Some(mac),
        Err(e) => {
            if !info.mac_address.is_empty() {
                log::warn!(
                    "port {}: the vRouter agent's MAC {:?} cannot be read ({e}); the manager's is used",
                    port.vmi_uuid,
                    info.mac_address
                );
            }
            port.mac
        }
    }
}

/// Give the link `want` (down while it changes); the MAC it ends with.
fn set_mac(
    inside: &mut Netlink,
    link: &netlink::Link,
    want: Option<[u8; 6]>,
    at: &dyn Fn(&str) -> String,
) -> Result<Option<[u8; 6]>, CniError> {
    let Some(want) = want.filter(|w| link.mac != Some(*w)) else {
        return Ok(link.mac);
    };
    if link.up {
        inside
            .set_down(link.index)
            .map_err(|e| nl_err(e, &at("setting down")))?;
    }
    inside
        .set_mac(link.index, want)
        .map_err(|e| nl_err(e, &at("setting the MAC")))?;
    Ok(Some(want))
}

/// The default route of `net`'s family via `gw`, unless another interface (or a repeated ADD)
/// routes by default already: the route this interface has (none when it is another's).
fn default_route(
    inside: &mut Netlink,
    index: u32,
    net: &IpNet,
    gw: IpAddr,
    addrs: &[(IpNet, Option<IpAddr>)],
    at: &dyn Fn(&str) -> String,
) -> Result<Vec<Route>, CniError> {
    let family = if net.addr().is_ipv4() {
        IpFamily::V4
    } else {
        IpFamily::V6
    };
    let existing = inside
        .default_routes(family)
        .map_err(|e| nl_err(e, &at("listing default routes")))?;
    if !existing.is_empty() {
        return Ok(existing
            .into_iter()
            .filter(|r| r.oif == Some(index) && r.gateway == Some(gw))
            .map(|r| Route {
                dst: r.destination,
                gw: r.gateway,
            })
            .collect());
    }
    if !addrs.iter().any(|(n, _)| n.contains(&gw)) {
        // A host prefix (the agent and the manager gave none): the gateway is reached on the
        // link, as the vRouter answers for it.
        let host = IpNet::new(gw, ids::Family::of(&gw).max_prefix_len())
            .map_err(|_| CniError::new(Code::Internal, "host prefix of the gateway"))?;
        let on_link = netlink::Route {
            destination: host,
            gateway: None,
            oif: Some(index),
        };
        if let Err(e) = inside.add_route(&on_link)
            && netlink::errno_of(&e) != Some(libc::EEXIST)
        {
            return Err(nl_err(e, &at(&format!("adding on-link route to {gw}"))));
        }
    }
    let any = match family {
        IpFamily::V4 => IpNet::from(ipnet::Ipv4Net::default()),
        IpFamily::V6 => IpNet::from(ipnet::Ipv6Net::default()),
    };
    let route = netlink::Route {
        destination: any,
        gateway: Some(gw),
        oif: Some(index),
    };
    if let Err(e) = inside.add_route(&route)
        && netlink::errno_of(&e) != Some(libc::EEXIST)
    {
        return Err(nl_err(e, &at(&format!("adding default route via {gw}"))));
    }
    Ok(vec![Route {
        dst: route.destination,
        gw: route.gateway,
    }])
}

/// Undo in reverse: port file and agent port, host interface (which takes the container end
/// with it), and the manager's objects.
fn run_undo(ctx: &Ctx<'_>, undo: Undo, host: &mut Netlink) {
    if undo.port_file.is_some() || undo.agent.is_some() {
        let lock = ctx.lock_container(&ctx.args.container_id);
        if let Err(e) = &lock {
            log::warn!("rollback: {}", e.msg);
        }
        if let Some(p) = &undo.port_file
            && let Err(e) = portfile::remove(p)
        {
            log::warn!("rollback: {e:#}");
        }
        if let Some((vm, vmi)) = &undo.agent {
            super::del::release_agent_port(ctx, vm, vmi);
        }
    }
    if let Some(tap) = &undo.tap
        && let Err(e) = host.delete_link_by_name(tap)
    {
        log::warn!("rollback: removing {tap}: {e:#}");
    }
    if undo.manager {
        super::del::tell_manager(ctx);
    }
}
