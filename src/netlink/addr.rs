//! Interface addresses: add and list.

use std::net::IpAddr;

use anyhow::{Context, Result};
use ipnet::IpNet;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::{Netlink, errno_of};

impl Netlink {
    /// `ip addr add ADDR/LEN [brd +] dev INDEX` (`NLM_F_CREATE | NLM_F_EXCL`). An address that is
    /// already there fails with EEXIST, which the caller may tolerate.
    pub fn add_address(&mut self, index: u32, addr: IpNet) -> Result<()> {
        let mut msg = AddressMessage::default();
        msg.header.index = index;
        msg.header.prefix_len = addr.prefix_len();
        msg.attributes.push(AddressAttribute::Local(addr.addr()));
        msg.attributes.push(AddressAttribute::Address(addr.addr()));
        match addr {
            IpNet::V4(v4) => {
                msg.header.family = AddressFamily::Inet;
                // /31 and /32 have no broadcast address (RFC 3021); the kernel leaves it out too.
                if v4.prefix_len() < 31 {
                    msg.attributes
                        .push(AddressAttribute::Broadcast(v4.broadcast()));
                }
            }
            IpNet::V6(_) => msg.header.family = AddressFamily::Inet6,
        }
        let op = format!("add address {addr} to link {index}");
        match self.request_op(
            &op,
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        ) {
            Ok(_) => Ok(()),
            Err(e) if addr.addr().is_ipv6() && errno_of(&e) == Some(libc::EACCES) => {
                Err(e.context(format!("{op}: is IPv6 disabled on link {index}?")))
            }
            Err(e) => Err(e),
        }
    }

    /// All addresses (IPv4 and IPv6) as `(ifindex, address/prefix)`, only those of link `index`
    /// when given.
    pub fn addresses(&mut self, index: Option<u32>) -> Result<Vec<(u32, IpNet)>> {
        let mut msg = AddressMessage::default();
        msg.header.index = index.unwrap_or(0);
        let op = match index {
            Some(index) => format!("list addresses of link {index}"),
            None => "list addresses".to_string(),
        };
        let replies = self.dump(&op, RouteNetlinkMessage::GetAddress(msg))?;
        let mut out = Vec::new();
        for reply in &replies {
            let RouteNetlinkMessage::NewAddress(msg) = reply else {
                continue;
            };
            if index.is_some_and(|index| index != msg.header.index) {
                continue;
            }
            if let Some(net) = address_of(msg).with_context(|| op.clone())? {
                out.push((msg.header.index, net));
            }
        }
        Ok(out)
    }
}

/// The local address of an `RTM_NEWADDR`: `IFA_LOCAL` when present (on point-to-point links
/// `IFA_ADDRESS` is the peer), else `IFA_ADDRESS` (IPv6 usually sends only that).
fn address_of(msg: &AddressMessage) -> Result<Option<IpNet>> {
    let mut local = None;
    let mut address = None;
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            _ => {}
        }
    }
    let Some(ip): Option<IpAddr> = local.or(address) else {
        return Ok(None);
    };
    let net = IpNet::new(ip, msg.header.prefix_len).with_context(|| {
        format!(
            "the kernel reported address {ip} with prefix length {} on link {}",
            msg.header.prefix_len, msg.header.index
        )
    })?;
    Ok(Some(net))
}
