//! Routes in the main table: add and list.

use std::fmt;
use std::net::IpAddr;

use anyhow::{Result, bail};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::{Netlink, errno_of};

/// A unicast route of the main table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub destination: IpNet,
    pub gateway: Option<IpAddr>,
    /// Output interface index.
    pub oif: Option<u32>,
}

impl fmt::Display for Route {
    /// `ip route` style: `0.0.0.0/0 via 10.0.0.1 dev 3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.destination)?;
        if let Some(gateway) = self.gateway {
            write!(f, " via {gateway}")?;
        }
        if let Some(oif) = self.oif {
            write!(f, " dev {oif}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpFamily {
    V4,
    V6,
}

impl IpFamily {
    fn address_family(self) -> AddressFamily {
        match self {
            IpFamily::V4 => AddressFamily::Inet,
            IpFamily::V6 => AddressFamily::Inet6,
        }
    }

    /// `0.0.0.0/0` or `::/0`.
    fn any(self) -> IpNet {
        match self {
            IpFamily::V4 => IpNet::V4(Ipv4Net::default()),
            IpFamily::V6 => IpNet::V6(Ipv6Net::default()),
        }
    }
}

impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IpFamily::V4 => "IPv4",
            IpFamily::V6 => "IPv6",
        })
    }
}

impl Netlink {
    /// `ip route add DEST [via GW] [dev OIF] proto boot` in the main table
    /// (`NLM_F_CREATE | NLM_F_EXCL`). Without a gateway an IPv4 route gets link scope, like
    /// ip(8) does.
    pub fn add_route(&mut self, route: &Route) -> Result<()> {
        let op = format!("add route {route}");
        let v4 = route.destination.addr().is_ipv4();
        if route.gateway.is_some_and(|gateway| gateway.is_ipv4() != v4) {
            bail!("{op}: gateway and destination are of different IP families");
        }
        let mut msg = RouteMessage::default();
        msg.header.address_family = if v4 {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.kind = RouteType::Unicast;
        msg.header.scope = if v4 && route.gateway.is_none() {
            RouteScope::Link
        } else {
            RouteScope::Universe
        };
        msg.header.destination_prefix_length = route.destination.prefix_len();
        if route.destination.prefix_len() > 0 {
            msg.attributes
                .push(RouteAttribute::Destination(RouteAddress::from(
                    route.destination.addr(),
                )));
        }
        if let Some(gateway) = route.gateway {
            msg.attributes
                .push(RouteAttribute::Gateway(RouteAddress::from(gateway)));
        }
        if let Some(oif) = route.oif {
            msg.attributes.push(RouteAttribute::Oif(oif));
        }
        self.request_op(
            &op,
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )?;
        Ok(())
    }

    /// The unicast routes of the main table (empty when it does not exist yet). A multipath route
    /// is listed once per next hop.
    pub fn routes(&mut self, family: IpFamily) -> Result<Vec<Route>> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = family.address_family();
        // With strict checking the kernel filters the dump by table.
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        let op = format!("list {family} routes");
        let replies = match self.dump(&op, RouteNetlinkMessage::GetRoute(msg)) {
            Ok(replies) => replies,
            // The kernel creates the main table with its first route; until then it is absent.
            Err(e) if errno_of(&e) == Some(libc::ENOENT) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut routes = Vec::new();
        for reply in &replies {
            if let RouteNetlinkMessage::NewRoute(msg) = reply {
                routes.extend(routes_of(msg, family));
            }
        }
        Ok(routes)
    }

    /// The main table's default routes (`0.0.0.0/0` or `::/0`).
    pub fn default_routes(&mut self, family: IpFamily) -> Result<Vec<Route>> {
        let mut routes = self.routes(family)?;
        routes.retain(|route| route.destination.prefix_len() == 0);
        Ok(routes)
    }
}

/// The [`Route`]s an `RTM_NEWROUTE` describes; none unless it is a main-table unicast route.
fn routes_of(msg: &RouteMessage, family: IpFamily) -> Vec<Route> {
    if msg.header.address_family != family.address_family() || msg.header.kind != RouteType::Unicast
    {
        return Vec::new();
    }
    let mut table = u32::from(msg.header.table);
    let mut destination = None;
    let mut gateway = None;
    let mut oif = None;
    let mut hops = Vec::new();
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(addr) => destination = ip_of(addr),
            RouteAttribute::Gateway(addr) => gateway = ip_of(addr),
            RouteAttribute::Oif(index) => oif = Some(*index),
            RouteAttribute::MultiPath(next_hops) => hops = next_hops.clone(),
            _ => {}
        }
    }
    if table != u32::from(RouteHeader::RT_TABLE_MAIN) {
        return Vec::new();
    }
    let destination = match destination {
        Some(ip) => match IpNet::new(ip, msg.header.destination_prefix_length) {
            Ok(net) => net,
            Err(_) => return Vec::new(),
        },
        None => family.any(),
    };
    if hops.is_empty() {
        return vec![Route {
            destination,
            gateway,
            oif,
        }];
    }
    hops.iter()
        .map(|hop| Route {
            destination,
            gateway: hop.attributes.iter().find_map(|attr| match attr {
                RouteAttribute::Gateway(addr) => ip_of(addr),
                _ => None,
            }),
            oif: (hop.interface_index != 0).then_some(hop.interface_index),
        })
        .collect()
}

fn ip_of(addr: &RouteAddress) -> Option<IpAddr> {
    match addr {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}
