//! Who this node is, as the manager needs it to find the node's virtual-router: the host name
//! (as `gethostname` gives it) and the node's own addresses.

use std::net::IpAddr;

use crate::domain::manager_api::NodeInfo;
use crate::netlink::Netlink;

/// The node's identity. A part that cannot be read is left empty (and logged): the manager
/// then has fewer ways to find the router and says which it tried.
pub fn identity(host: &mut Netlink) -> NodeInfo {
    let addresses = match host.addresses(None) {
        Ok(list) => node_addresses(list.into_iter().map(|(_, net)| net.addr())),
        Err(e) => {
            log::warn!("cannot list this node's addresses: {e:#}");
            Vec::new()
        }
    };
    NodeInfo {
        addresses,
        ..identity_without_addresses()
    }
}

/// The host name only.
pub fn identity_without_addresses() -> NodeInfo {
    let hostname = match nix::unistd::gethostname() {
        Ok(h) => h.to_string_lossy().into_owned(),
        Err(e) => {
            log::warn!("cannot read this node's host name: {e}");
            String::new()
        }
    };
    NodeInfo {
        hostname,
        addresses: Vec::new(),
    }
}

/// The addresses a virtual-router may be registered with: unicast, not loopback, not
/// link-local, not unspecified; each once, in the kernel's order.
pub fn node_addresses(all: impl IntoIterator<Item = IpAddr>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for ip in all {
        let usable = match ip {
            IpAddr::V4(a) => {
                !(a.is_loopback()
                    || a.is_link_local()
                    || a.is_unspecified()
                    || a.is_multicast()
                    || a.is_broadcast())
            }
            IpAddr::V6(a) => {
                !(a.is_loopback()
                    || a.is_unspecified()
                    || a.is_multicast()
                    || a.is_unicast_link_local())
            }
        };
        let text = ip.to_string();
        if usable && !out.contains(&text) {
            out.push(text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_addresses_a_router_can_have() {
        let all = [
            "127.0.0.1",
            "10.0.0.7",
            "169.254.169.254",
            "::1",
            "fe80::1",
            "2001:db8::7",
            "10.0.0.7",
            "0.0.0.0",
        ]
        .map(|a| a.parse::<IpAddr>().expect("address"));
        assert_eq!(node_addresses(all), vec!["10.0.0.7", "2001:db8::7"]);
    }

    #[test]
    fn reads_this_host() {
        // A netlink route socket needs no privilege.
        let mut nl = Netlink::new().expect("a netlink socket");
        let node = identity(&mut nl);
        let expected = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        assert_eq!(node.hostname, expected);
        assert!(node.addresses.iter().all(|a| a != "127.0.0.1"));
    }
}
