//! Links: veth pairs across namespaces, lookups, up/down, MAC, MTU, deletion.

use anyhow::{Context, Result, anyhow};
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkExtentMask, LinkFlags, LinkInfo, LinkMessage,
};
use std::os::fd::{AsFd, AsRawFd};

use super::{NetNs, Netlink, errno_of, format_mac, validate_ifname};

/// A veth pair: `host_name` in the socket's namespace, `peer_name` created directly in `peer_ns`.
/// `mtu` applies to both ends.
#[derive(Debug, Clone, Copy)]
pub struct VethSpec<'a> {
    pub host_name: &'a str,
    pub peer_name: &'a str,
    pub peer_ns: &'a NetNs,
    pub mtu: Option<u32>,
    pub host_mac: Option<[u8; 6]>,
    pub peer_mac: Option<[u8; 6]>,
}

/// What the kernel reports about one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `None` when the link has no 6-byte hardware address.
    pub mac: Option<[u8; 6]>,
    pub mtu: Option<u32>,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// `IFLA_INFO_KIND`: "veth", "dummy", "bridge", ...; `None` for plain devices like `lo`.
    pub kind: Option<String>,
    /// `IFLA_LINK`: for a veth, the peer's index (in the peer's namespace).
    pub peer_index: Option<u32>,
}

impl Link {
    fn from_message(msg: &LinkMessage) -> Result<Link> {
        let mut link = Link {
            index: msg.header.index,
            name: String::new(),
            mac: None,
            mtu: None,
            up: msg.header.flags.contains(LinkFlags::Up),
            kind: None,
            peer_index: None,
        };
        let mut named = false;
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::IfName(name) => {
                    link.name = name.clone();
                    named = true;
                }
                LinkAttribute::Address(bytes) => link.mac = <[u8; 6]>::try_from(&bytes[..]).ok(),
                LinkAttribute::Mtu(mtu) => link.mtu = Some(*mtu),
                LinkAttribute::Link(peer) => link.peer_index = Some(*peer),
                LinkAttribute::LinkInfo(infos) => {
                    link.kind = infos.iter().find_map(|info| match info {
                        LinkInfo::Kind(kind) => Some(kind.to_string()),
                        _ => None,
                    });
                }
                _ => {}
            }
        }
        if !named {
            return Err(anyhow!(
                "the kernel described link {} without a name",
                link.index
            ));
        }
        Ok(link)
    }
}

impl Netlink {
    /// `ip link add HOST [mtu M] [address MAC] type veth peer name PEER netns NS [mtu M] [address MAC]`
    /// in one `RTM_NEWLINK` (`NLM_F_CREATE | NLM_F_EXCL`): the peer never exists in this
    /// namespace and needs no rename.
    pub fn create_veth(&mut self, spec: &VethSpec<'_>) -> Result<()> {
        validate_ifname(spec.host_name)?;
        validate_ifname(spec.peer_name)?;
        let op = format!(
            "create veth {} (peer {} in {})",
            spec.host_name,
            spec.peer_name,
            spec.peer_ns.path().display()
        );

        let mut peer = LinkMessage::default();
        peer.attributes
            .push(LinkAttribute::IfName(spec.peer_name.to_string()));
        peer.attributes
            .push(LinkAttribute::NetNsFd(spec.peer_ns.as_fd().as_raw_fd()));
        if let Some(mtu) = spec.mtu {
            peer.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(mac) = spec.peer_mac {
            peer.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }

        let mut host = LinkMessage::default();
        host.attributes
            .push(LinkAttribute::IfName(spec.host_name.to_string()));
        if let Some(mtu) = spec.mtu {
            host.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(mac) = spec.host_mac {
            host.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }
        host.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));

        self.request_op(
            &op,
            RouteNetlinkMessage::NewLink(host),
            NLM_F_CREATE | NLM_F_EXCL,
        )?;
        Ok(())
    }

    /// The link called `name`, or `None` when there is none (ENODEV).
    pub fn link_by_name(&mut self, name: &str) -> Result<Option<Link>> {
        validate_ifname(name)?;
        let mut msg = link_query();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        self.get_link(&format!("get link {name}"), msg)
    }

    /// The link with ifindex `index`, or `None` when there is none (ENODEV).
    pub fn link_by_index(&mut self, index: u32) -> Result<Option<Link>> {
        let mut msg = link_query();
        msg.header.index = index;
        self.get_link(&format!("get link {index}"), msg)
    }

    /// All links of the socket's namespace.
    pub fn links(&mut self) -> Result<Vec<Link>> {
        let op = "list links";
        let replies = self.dump(op, RouteNetlinkMessage::GetLink(link_query()))?;
        replies
            .iter()
            .filter_map(|reply| match reply {
                RouteNetlinkMessage::NewLink(msg) => Some(Link::from_message(msg)),
                _ => None,
            })
            .collect::<Result<Vec<_>>>()
            .context(op)
    }

    pub fn set_up(&mut self, index: u32) -> Result<()> {
        self.set_admin_state(index, true)
    }

    pub fn set_down(&mut self, index: u32) -> Result<()> {
        self.set_admin_state(index, false)
    }

    pub fn set_mac(&mut self, index: u32, mac: [u8; 6]) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
        let op = format!("set MAC address of link {index} to {}", format_mac(&mac));
        self.request_op(&op, RouteNetlinkMessage::SetLink(msg), 0)?;
        Ok(())
    }

    pub fn set_mtu(&mut self, index: u32, mtu: u32) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes.push(LinkAttribute::Mtu(mtu));
        let op = format!("set MTU of link {index} to {mtu}");
        self.request_op(&op, RouteNetlinkMessage::SetLink(msg), 0)?;
        Ok(())
    }

    /// Deletes the link (for a veth, the kernel removes the peer too).
    pub fn delete_link(&mut self, index: u32) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        let op = format!("delete link {index}");
        self.request_op(&op, RouteNetlinkMessage::DelLink(msg), 0)?;
        Ok(())
    }

    /// Deletes the link called `name`; `Ok(false)` when there is no such link.
    pub fn delete_link_by_name(&mut self, name: &str) -> Result<bool> {
        validate_ifname(name)?;
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        let op = format!("delete link {name}");
        match self.request_op(&op, RouteNetlinkMessage::DelLink(msg), 0) {
            Ok(_) => Ok(true),
            Err(e) if errno_of(&e) == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn set_admin_state(&mut self, index: u32, up: bool) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.change_mask = LinkFlags::Up;
        if up {
            msg.header.flags = LinkFlags::Up;
        }
        let op = format!("set link {index} {}", if up { "up" } else { "down" });
        self.request_op(&op, RouteNetlinkMessage::SetLink(msg), 0)?;
        Ok(())
    }

    fn get_link(&mut self, op: &str, msg: LinkMessage) -> Result<Option<Link>> {
        let replies = match self.request_op(op, RouteNetlinkMessage::GetLink(msg), 0) {
            Ok(replies) => replies,
            Err(e) if errno_of(&e) == Some(libc::ENODEV) => return Ok(None),
            Err(e) => return Err(e),
        };
        let msg = replies
            .iter()
            .find_map(|reply| match reply {
                RouteNetlinkMessage::NewLink(msg) => Some(msg),
                _ => None,
            })
            .ok_or_else(|| anyhow!("{op}: the kernel acknowledged but sent no link"))?;
        Link::from_message(msg).map(Some).context(op.to_string())
    }
}

/// An `RTM_GETLINK` body that leaves statistics out of the reply (they can be large).
fn link_query() -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    msg
}
