//! Contrail's own DNS for the cluster (`[MESOS] dns_domain`), pure: the names upstream's API
//! server accepts (`vnc_cfg_api_server/resources/virtual_dns.py`, `VirtualDnsServer`), the
//! cluster's `virtual-DNS`, what an IPAM that uses it holds, and the type of a VIP's record.
//! The request bodies are the manager's (`applets/manager/cluster.rs` for the virtual-DNS and
//! the IPAMs, `domain/vip/objects.rs` for the records).

use std::net::IpAddr;

use serde_json::Value;

use crate::domain::contrail::{NetworkIpam, Ref, VirtualNetwork};
use crate::domain::fqname::FqName;

/// The `ipam_dns_method` of an IPAM that uses a virtual-DNS.
pub const VIRTUAL_DNS_SERVER: &str = "virtual-dns-server";

/// `VirtualDnsServer.is_valid_dns_name`: at most 255 characters, one trailing dot allowed,
/// dot-separated labels of 1 to 63 letters, digits and inner hyphens. (Upstream's pattern also
/// lets through the few non-ASCII characters Python folds onto ASCII letters; names here are
/// ASCII.)
pub fn is_valid_dns_name(name: &str) -> bool {
    if name.chars().count() > 255 {
        return false;
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// `VirtualDnsServer.validate_dns_server`: a virtual-DNS's name holds only letters, digits and
/// `-`, and does not start with `-`.
pub fn is_valid_server_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The name of a cluster's virtual-DNS: `<cluster>-dns`.
pub fn server_name(cluster: &str) -> String {
    format!("{cluster}-dns")
}

/// The cluster's virtual-DNS: `[<the cluster project's domain>, <cluster>-dns]`
/// (`default-domain:mesos-dns` by default). A virtual-DNS is a child of a domain and is shared
/// with that domain only (`VirtualDnsServer.pre_dbe_create`), so it lives in the domain of the
/// IPAMs that use it.
pub fn server(cluster: &str, project: &FqName) -> FqName {
    let domain = project.parts().first().cloned().unwrap_or_default();
    FqName::from_checked_parts(vec![domain, server_name(cluster)])
}

/// `A` for an IPv4 address, `AAAA` for an IPv6 one (`DnsRecordTypeType`).
pub fn record_type(address: &IpAddr) -> &'static str {
    match address {
        IpAddr::V4(_) => "A",
        IpAddr::V6(_) => "AAAA",
    }
}

/// Whether an IPAM (its `network_ipam_mgmt` and `virtual_DNS_refs`) uses the virtual-DNS
/// `server`: method `virtual-dns-server`, that server named in `ipam_dns_server`, and a
/// reference to it (the agent finds the server by the name; the API server keeps a referred
/// virtual-DNS from being deleted).
pub fn ipam_uses(mgmt: &Value, refs: &[Ref], server: &FqName) -> bool {
    mgmt["ipam_dns_method"].as_str() == Some(VIRTUAL_DNS_SERVER)
        && mgmt["ipam_dns_server"]["virtual_dns_server_name"].as_str()
            == Some(server.to_string().as_str())
        && refs.len() == 1
        && refs[0].fq_name().as_ref() == Some(server)
}

/// The DNS method an IPAM has, as a phrase (`unset` when none).
pub fn method_of(mgmt: &Value) -> &str {
    mgmt["ipam_dns_method"].as_str().unwrap_or("unset")
}

/// An IPAM of the cluster's networks that does not use the cluster's virtual-DNS.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IpamOff {
    pub ipam: String,
    /// Its DNS method (`unset` when none).
    pub method: String,
    /// The cluster's networks on it.
    pub networks: Vec<String>,
}

/// The IPAMs of the cluster's networks that do not use `server`, by name. The cluster's
/// networks are its own (`own`: pod-task, service) and those holding every one of `policies`
/// (the cluster's ip-fabric and pod-service policies: the networks the manager made from
/// labels; the ip-fabric network holds only the first).
pub fn ipams_off(
    server: &FqName,
    networks: &[VirtualNetwork],
    ipams: &[NetworkIpam],
    own: &[FqName],
    policies: &[FqName],
) -> Vec<IpamOff> {
    let text = |parts: &[String]| parts.join(":");
    let mut out: Vec<IpamOff> = Vec::new();
    for vn in networks {
        let name = text(&vn.fq_name);
        let ours = own.iter().any(|o| o.to_string() == name)
            || (!policies.is_empty()
                && policies.iter().all(|p| {
                    vn.network_policy_refs
                        .iter()
                        .any(|r| r.fq_name().as_ref() == Some(p))
                }));
        if !ours {
            continue;
        }
        for r in &vn.network_ipam_refs {
            let Some(ipam) = ipams.iter().find(|i| i.uuid == r.uuid) else {
                continue;
            };
            if ipam_uses(&ipam.network_ipam_mgmt, ipam.dns_refs(), server) {
                continue;
            }
            let ipam_name = text(&ipam.fq_name);
            match out.iter_mut().find(|o| o.ipam == ipam_name) {
                Some(o) => o.networks.push(name.clone()),
                None => out.push(IpamOff {
                    ipam: ipam_name,
                    method: method_of(&ipam.network_ipam_mgmt).to_string(),
                    networks: vec![name.clone()],
                }),
            }
        }
    }
    out.sort_by(|a, b| a.ipam.cmp(&b.ipam));
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn dns_names_as_upstream_checks_them() {
        for ok in [
            "l4lb.thisdcos.directory",
            "l4lb.thisdcos.directory.",
            "web.marathon",
            "a-b.c1",
            "x",
        ] {
            assert!(is_valid_dns_name(ok), "{ok}");
        }
        let long_label = "a".repeat(64);
        for bad in [
            "web_x.marathon",
            "-a.b",
            "a-.b",
            "a..b",
            "",
            ".",
            "a.b..",
            "é.com",
            long_label.as_str(),
        ] {
            assert!(!is_valid_dns_name(bad), "{bad:?}");
        }
        assert!(!is_valid_dns_name(&"a.".repeat(128)), "over 255");
        assert!(is_valid_server_name("mesos-dns") && is_valid_server_name("dc1-dns"));
        for bad in ["my_cluster-dns", "a.b-dns", "-dns", ""] {
            assert!(!is_valid_server_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_server_is_in_the_projects_domain_and_ipams_use_it_whole() {
        let project = FqName::new(["dom2", "mesos-default"]).expect("fq");
        let s = server("mesos", &project);
        assert_eq!(s.to_string(), "dom2:mesos-dns");
        let to_it = Ref {
            to: vec!["dom2".into(), "mesos-dns".into()],
            uuid: "u".into(),
            attr: Value::Null,
        };
        let mgmt = json!({"ipam_dns_method": "virtual-dns-server",
                          "ipam_dns_server": {"virtual_dns_server_name": "dom2:mesos-dns"}});
        assert!(ipam_uses(&mgmt, std::slice::from_ref(&to_it), &s));
        assert!(!ipam_uses(&mgmt, &[], &s), "no reference");
        let other = json!({"ipam_dns_method": "virtual-dns-server",
                           "ipam_dns_server": {"virtual_dns_server_name": "dom2:other"}});
        assert!(!ipam_uses(&other, std::slice::from_ref(&to_it), &s));
        assert!(!ipam_uses(
            &json!({"ipam_dns_method": "default-dns-server"}),
            &[to_it],
            &s
        ));
        assert_eq!(method_of(&Value::Null), "unset");
        assert_eq!(record_type(&"10.96.0.3".parse().expect("ip")), "A");
        assert_eq!(record_type(&"fd00::3".parse().expect("ip")), "AAAA");
    }

    #[test]
    fn the_cluster_ipams_off_the_server_are_named_with_their_networks() {
        let fq = |s: &str| FqName::parse(s).expect("fq");
        let to = |s: &str, uuid: &str| Ref {
            to: s.split(':').map(str::to_string).collect(),
            uuid: uuid.into(),
            attr: Value::Null,
        };
        let vn = |name: &str, ipams: &[(&str, &str)], policies: &[&str]| VirtualNetwork {
            fq_name: name.split(':').map(str::to_string).collect(),
            network_ipam_refs: ipams.iter().map(|(n, u)| to(n, u)).collect(),
            network_policy_refs: policies.iter().map(|p| to(p, p)).collect(),
            ..VirtualNetwork::default()
        };
        let server = fq("d:mesos-dns");
        let on = json!({"ipam_dns_method": "virtual-dns-server",
                        "ipam_dns_server": {"virtual_dns_server_name": "d:mesos-dns"}});
        let ipam = |name: &str, uuid: &str, mgmt: Value, uses: bool| NetworkIpam {
            uuid: uuid.into(),
            fq_name: name.split(':').map(str::to_string).collect(),
            network_ipam_mgmt: mgmt,
            virtual_dns_refs: if uses {
                Some(vec![to("d:mesos-dns", "vd")])
            } else {
                Some(vec![])
            },
            ..NetworkIpam::default()
        };
        let (fab, ps) = (
            "d:p:mesos-default-ip-fabric-np",
            "d:p:mesos-default-pod-service-np",
        );
        let networks = [
            vn("d:p:pod", &[("d:p:pod-ipam", "i1")], &[fab, ps]),
            vn("d:p:svc", &[("d:p:svc-ipam", "i2")], &[fab, ps]),
            vn("d:p:blue", &[("d:p:blue-ipam", "i3")], &[fab, ps]),
            vn(
                "d:default-project:ip-fabric",
                &[("d:default-project:fab-ipam", "i4")],
                &[fab],
            ),
            vn("d:p:theirs", &[("d:p:theirs-ipam", "i5")], &[]),
        ];
        let ipams = [
            ipam("d:p:pod-ipam", "i1", on.clone(), true),
            ipam("d:p:svc-ipam", "i2", on.clone(), false),
            ipam(
                "d:p:blue-ipam",
                "i3",
                json!({"ipam_dns_method": "tenant-dns-server"}),
                false,
            ),
            ipam("d:default-project:fab-ipam", "i4", Value::Null, false),
            ipam("d:p:theirs-ipam", "i5", Value::Null, false),
        ];
        let off = ipams_off(
            &server,
            &networks,
            &ipams,
            &[fq("d:p:pod"), fq("d:p:svc")],
            &[fq(fab), fq(ps)],
        );
        assert_eq!(
            off,
            vec![
                IpamOff {
                    ipam: "d:p:blue-ipam".into(),
                    method: "tenant-dns-server".into(),
                    networks: vec!["d:p:blue".into()],
                },
                IpamOff {
                    ipam: "d:p:svc-ipam".into(),
                    method: "virtual-dns-server".into(),
                    networks: vec!["d:p:svc".into()],
                },
            ],
            "the service IPAM lacks the reference; ip-fabric's and the operator's are not the cluster's"
        );
    }
}
