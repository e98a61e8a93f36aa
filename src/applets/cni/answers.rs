//! What the plugin makes of the agent's and the manager's answers, without I/O: which
//! `/vm-cfg` entry is this interface's, which addresses and prefix lengths to configure, and
//! the result it prints.

use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;

use super::result::{AddResult, Dns, Interface, IpConfig, Route};
use crate::clients::contrail::agent::{PortInfo, VmCfg};
use crate::domain::ids::Family;
use crate::domain::manager_api::InterfaceInfo;
use crate::netlink;

/// The `/vm-cfg` entry of interface `ifname`: the one annotated `interface:<ifname>`, else the
/// only one, else the one whose `index:i/n` annotation has the number `ifname` ends with
/// (`eth1` is index 1), as upstream's CNI counts.
pub fn pick_vm_cfg<'a>(list: &'a [VmCfg], ifname: &str) -> Option<&'a VmCfg> {
    list.iter()
        .find(|e| e.annotation("interface") == Some(ifname))
        .or_else(|| (list.len() == 1).then(|| &list[0]))
        .or_else(|| {
            let n = ifname.trim_start_matches(|ch: char| !ch.is_ascii_digit());
            list.iter()
                .find(|e| e.annotation("index").and_then(|i| i.split('/').next()) == Some(n))
        })
}

fn ip_or_none(s: &str) -> Option<IpAddr> {
    s.trim()
        .parse::<IpAddr>()
        .ok()
        .filter(|a| !a.is_unspecified())
}

/// Why the agent's answer gives no address to configure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressError {
    /// Neither family has a usable address.
    None { v4: String, v6: String },
    /// A prefix length too long for its address.
    PrefixLength { address: IpAddr, plen: u8 },
}

impl std::fmt::Display for AddressError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AddressError::None { v4, v6 } => {
                write!(f, "the agent reported no usable address ({v4:?}, {v6:?})")
            }
            AddressError::PrefixLength { address, plen } => {
                write!(f, "prefix length {plen} does not fit {address}")
            }
        }
    }
}

impl std::error::Error for AddressError {}

/// The addresses the agent reports, with their gateways. Prefix lengths: the agent's for IPv4,
/// else the manager's (the agent reports none for IPv6); without either, a host prefix (the
/// gateway is then reached on-link).
pub fn addresses(
    info: &PortInfo,
    manager: Option<&InterfaceInfo>,
) -> Result<Vec<(IpNet, Option<IpAddr>)>, AddressError> {
    let manager_plen = |ip: &IpAddr| {
        manager.and_then(|m| {
            m.ips
                .iter()
                .find(|i| i.ip_address.parse::<IpAddr>().ok().as_ref() == Some(ip))
                .map(|i| i.plen)
                .or_else(|| {
                    (m.ip_address.parse::<IpAddr>().ok().as_ref() == Some(ip)).then_some(m.plen)
                })
                .filter(|p| *p > 0)
        })
    };
    let mut out = Vec::new();
    for (addr, agent_plen, gateway) in [
        (&info.ip_address, info.plen, &info.gateway),
        (&info.v6_ip_address, None, &info.v6_gateway),
    ] {
        let Some(ip) = ip_or_none(addr) else { continue };
        let plen = agent_plen
            .filter(|p| *p > 0)
            .or_else(|| manager_plen(&ip))
            .unwrap_or(Family::of(&ip).max_prefix_len());
        let net =
            IpNet::new(ip, plen).map_err(|_| AddressError::PrefixLength { address: ip, plen })?;
        out.push((net, ip_or_none(gateway)));
    }
    if out.is_empty() {
        return Err(AddressError::None {
            v4: info.ip_address.clone(),
            v6: info.v6_ip_address.clone(),
        });
    }
    Ok(out)
}

/// What the container interface ended up with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configured {
    pub mac: Option<[u8; 6]>,
    /// Addresses with their gateways.
    pub addrs: Vec<(IpNet, Option<IpAddr>)>,
    /// Default routes through this interface (added now or already there).
    pub routes: Vec<Route>,
}

/// Where the interface is: its name and namespace, the host end's name and MAC, the MTU.
#[derive(Debug, Clone, Copy)]
pub struct Placement<'a> {
    pub ifname: &'a str,
    pub netns: &'a Path,
    pub tap: &'a str,
    pub tap_mac: Option<[u8; 6]>,
    pub mtu: u32,
}

/// What Contrail gives the result's `dns`: the manager's nameservers (its `dns_nameservers`,
/// in order) when it names any, else the DNS servers the agent reports for the port (the
/// subnet's service address, where the agent's DNS proxy answers); the manager's search
/// domains.
pub fn contrail_dns(info: &PortInfo, manager: Option<&InterfaceInfo>) -> Dns {
    let nameservers = match manager.map(|m| &m.dns_nameservers) {
        Some(listed) if !listed.is_empty() => listed.clone(),
        _ => [&info.dns_server, &info.v6_dns_server]
            .into_iter()
            .filter_map(|d| ip_or_none(d))
            .map(|a| a.to_string())
            .collect(),
    };
    Dns {
        nameservers,
        search: manager.map(|m| m.dns_search.clone()).unwrap_or_default(),
        ..Dns::default()
    }
}

/// The network configuration's `dns` merged with what Contrail gives, as the reference plugins
/// merge a configuration's `dns` with their IPAM's: the configuration's values first, then
/// Contrail's, each once (addresses compared as addresses, domains without case or a final
/// dot); the configuration's `domain` wins.
pub fn merge_dns(conf: &Dns, contrail: Dns) -> Dns {
    fn merged(first: &[String], then: Vec<String>, key: fn(&str) -> String) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for v in first.iter().cloned().chain(then) {
            if !out.iter().any(|o| key(o) == key(&v)) {
                out.push(v);
            }
        }
        out
    }
    let address = |s: &str| {
        s.parse::<IpAddr>()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| s.to_string())
    };
    let domain = |s: &str| s.trim_end_matches('.').to_ascii_lowercase();
    Dns {
        nameservers: merged(&conf.nameservers, contrail.nameservers, address),
        domain: conf.domain.clone().or(contrail.domain),
        search: merged(&conf.search, contrail.search, domain),
        options: merged(&conf.options, contrail.options, str::to_string),
    }
}

/// The result, from what was configured (no further kernel queries): the host end and the
/// container end, the addresses on the container end, the default routes, and `dns`.
pub fn build_result(at: &Placement<'_>, done: Configured, dns: Dns) -> AddResult {
    let mac = |m: Option<[u8; 6]>| m.map(|m| netlink::format_mac(&m)).unwrap_or_default();
    AddResult {
        interfaces: vec![
            Interface {
                name: at.tap.to_string(),
                mac: mac(at.tap_mac),
                sandbox: None,
                mtu: Some(at.mtu),
            },
            Interface {
                name: at.ifname.to_string(),
                mac: mac(done.mac),
                sandbox: Some(at.netns.display().to_string()),
                mtu: Some(at.mtu),
            },
        ],
        ips: done
            .addrs
            .into_iter()
            .map(|(address, gateway)| IpConfig {
                address,
                gateway,
                interface: Some(1),
            })
            .collect(),
        routes: done.routes,
        dns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::manager_api::IpInfo;
    use serde_json::json;

    fn cfg(id: &str, annotations: &[&str]) -> VmCfg {
        serde_json::from_value(json!({"id": id, "annotations": annotations})).expect("vm-cfg")
    }

    #[test]
    fn vm_cfg_pick_rule() {
        let two = [cfg("a", &["{index:0/2}"]), cfg("b", &["{index:1/2}"])];
        assert_eq!(pick_vm_cfg(&two, "eth1").map(|c| c.id.as_str()), Some("b"));
        assert_eq!(pick_vm_cfg(&two, "eth0").map(|c| c.id.as_str()), Some("a"));
        assert_eq!(pick_vm_cfg(&two, "eth7"), None);
        let named = [
            cfg("a", &["{interface:net1}"]),
            cfg("b", &["{interface:eth0}"]),
        ];
        assert_eq!(
            pick_vm_cfg(&named, "eth0").map(|c| c.id.as_str()),
            Some("b")
        );
        let one = [cfg("only", &[])];
        assert_eq!(
            pick_vm_cfg(&one, "eth3").map(|c| c.id.as_str()),
            Some("only")
        );
        assert_eq!(pick_vm_cfg(&[], "eth0"), None);
    }

    fn port(v: serde_json::Value) -> PortInfo {
        serde_json::from_value(v).expect("port")
    }

    #[test]
    fn prefix_lengths_from_the_agent_then_the_manager() {
        let info = port(
            json!({"ip-address": "5.5.5.3", "plen": 24, "gateway": "5.5.5.1",
            "v6-ip-address": "2001:db8::3", "v6-gateway": "2001:db8::1"}),
        );
        let manager = InterfaceInfo {
            ips: vec![IpInfo {
                family: "v6".into(),
                ip_address: "2001:db8::3".into(),
                plen: 64,
                ..IpInfo::default()
            }],
            ..InterfaceInfo::default()
        };
        let got = addresses(&info, Some(&manager)).expect("addresses");
        assert_eq!(got[0].0.to_string(), "5.5.5.3/24");
        assert_eq!(got[1].0.to_string(), "2001:db8::3/64");
        assert_eq!(got[1].1, Some("2001:db8::1".parse().expect("ip")));
        // Without the manager (kube-style modes), a host prefix.
        let got = addresses(&info, None).expect("addresses");
        assert_eq!(got[1].0.to_string(), "2001:db8::3/128");
        // IPv6 only; unspecified addresses are "none".
        let v6 = port(json!({"ip-address": "0.0.0.0", "v6-ip-address": "2001:db8::9"}));
        assert_eq!(addresses(&v6, None).expect("v6").len(), 1);
        let none = port(json!({"ip-address": "0.0.0.0", "ip6-address": "::"}));
        assert!(matches!(
            addresses(&none, None),
            Err(AddressError::None { .. })
        ));
        let bad = port(json!({"ip-address": "5.5.5.3", "plen": 40}));
        assert!(matches!(
            addresses(&bad, None),
            Err(AddressError::PrefixLength { .. })
        ));
    }

    #[test]
    fn result_from_what_was_configured() {
        let info = port(
            json!({"ip-address": "5.5.5.3", "plen": 24, "dns-server": "5.5.5.2",
            "v6-dns-server": "::"}),
        );
        let at = Placement {
            ifname: "eth0",
            netns: Path::new("/var/run/netns/x"),
            tap: "tapabc",
            tap_mac: Some([2, 0, 0, 0, 0, 1]),
            mtu: 1400,
        };
        let done = Configured {
            mac: Some([2, 0, 0, 0, 0, 2]),
            addrs: addresses(&info, None).expect("addresses"),
            routes: Vec::new(),
        };
        let r = build_result(&at, done, contrail_dns(&info, None));
        assert_eq!(r.interfaces[0].name, "tapabc");
        assert_eq!(r.interfaces[1].sandbox.as_deref(), Some("/var/run/netns/x"));
        assert_eq!(r.interfaces[1].mac, "02:00:00:00:00:02");
        assert_eq!(r.ips[0].interface, Some(1));
        assert_eq!(r.dns.nameservers, vec!["5.5.5.2"]);
    }

    #[test]
    fn dns_is_the_configurations_then_contrails_each_once() {
        let info = port(json!({"ip-address": "5.5.5.3", "dns-server": "5.5.5.2",
                               "v6-dns-server": "2001:db8::2"}));
        let manager = InterfaceInfo {
            dns_search: vec!["marathon.mesos".into(), "mesos".into()],
            ..InterfaceInfo::default()
        };
        let contrail = contrail_dns(&info, Some(&manager));
        assert_eq!(contrail.nameservers, ["5.5.5.2", "2001:db8::2"]);
        assert_eq!(contrail.search, ["marathon.mesos", "mesos"]);
        // The manager's nameservers, in its order, instead of the agent's.
        let listed = InterfaceInfo {
            dns_nameservers: vec!["10.64.0.54".into(), "10.64.0.53".into()],
            ..manager.clone()
        };
        assert_eq!(
            contrail_dns(&info, Some(&listed)).nameservers,
            ["10.64.0.54", "10.64.0.53"]
        );
        // Nothing configured: Contrail's alone.
        assert_eq!(merge_dns(&Dns::default(), contrail.clone()), contrail);
        let conf = Dns {
            nameservers: vec!["10.0.0.53".into(), "2001:db8:0::2".into()],
            domain: Some("dc1.example".into()),
            search: vec!["Mesos.".into(), "dc1.example".into()],
            options: vec!["ndots:2".into()],
        };
        assert_eq!(
            merge_dns(&conf, contrail),
            Dns {
                nameservers: vec!["10.0.0.53".into(), "2001:db8:0::2".into(), "5.5.5.2".into()],
                domain: Some("dc1.example".into()),
                search: vec![
                    "Mesos.".into(),
                    "dc1.example".into(),
                    "marathon.mesos".into()
                ],
                options: vec!["ndots:2".into()],
            }
        );
    }
}
