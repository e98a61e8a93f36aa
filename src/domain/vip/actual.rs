//! What Contrail holds: this cluster's VIP load balancers, their listeners and pools and the
//! members of each pool, from two detail lists (load balancers with their listeners'
//! back-refs, pools with their member children); the floating IPs svc-monitor's native
//! driver put under the VIPs' instance IPs; and the named VIPs' DNS records. Pure.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::label::VipKey;
use super::objects::KIND;
use crate::domain::contrail::{
    DnsRecordData, FloatingIp, Loadbalancer, LoadbalancerPool, PortMap, VirtualDnsRecord, is_ours,
};

/// The fields of the load balancer list.
pub const LB_FIELDS: &[&str] = &[
    "annotations",
    "loadbalancer_provider",
    "loadbalancer_properties",
    "virtual_machine_interface_refs",
    "loadbalancer_listener_back_refs",
];

/// The fields of the pool list.
pub const POOL_FIELDS: &[&str] = &[
    "annotations",
    "loadbalancer_listener_refs",
    "loadbalancer_members",
];

/// The fields of the list of the driver's floating IPs.
pub const FIP_FIELDS: &[&str] = &[
    "parent_uuid",
    "virtual_machine_interface_refs",
    "floating_ip_port_mappings",
];

/// The fields of the list of DNS records.
pub const RECORD_FIELDS: &[&str] = &["annotations", "virtual_DNS_record_data"];

/// A DNS record marked as a VIP's of this cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActualRecord {
    pub uuid: String,
    /// The VIP it is for (annotation `name`).
    pub key: VipKey,
    pub data: DnsRecordData,
}

/// The records of this cluster's VIPs (annotations `owner` mesos, `cluster`, `kind` vip and
/// the VIP's `name`), from a list of every record.
pub fn records_of(list: &[VirtualDnsRecord], cluster: &str) -> Vec<ActualRecord> {
    list.iter()
        .filter(|r| is_ours(&r.annotations, cluster) && r.annotations.get("kind") == Some(KIND))
        .filter_map(|r| {
            Some(ActualRecord {
                uuid: r.uuid.clone(),
                key: r.annotations.get("name").and_then(VipKey::parse)?,
                data: r.data.clone(),
            })
        })
        .collect()
}

/// A floating IP svc-monitor's native driver made under a VIP's instance IP
/// (`_update_loadbalancer_props`): the interfaces on it and its port maps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriverFip {
    pub uuid: String,
    pub vmis: BTreeSet<String>,
    pub port_mappings: Vec<PortMap>,
}

/// The driver's floating IPs by the instance IP they are under.
pub fn driver_fips(fips: &[FloatingIp]) -> BTreeMap<String, Vec<DriverFip>> {
    let mut out: BTreeMap<String, Vec<DriverFip>> = BTreeMap::new();
    for f in fips {
        let Some(parent) = &f.parent_uuid else {
            continue;
        };
        out.entry(parent.clone()).or_default().push(DriverFip {
            uuid: f.uuid.clone(),
            vmis: f
                .virtual_machine_interface_refs
                .iter()
                .map(|r| r.uuid.clone())
                .collect(),
            port_mappings: f
                .floating_ip_port_mappings
                .as_ref()
                .map(|m| m.port_mappings.clone())
                .unwrap_or_default(),
        });
    }
    out
}

/// One pool and its members' uuids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActualPool {
    pub listener: String,
    pub members: BTreeSet<String>,
}

/// One VIP as Contrail holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActualVip {
    pub lb: String,
    /// The `vip` annotation.
    pub label: String,
    pub address: Option<String>,
    /// The VIP interface.
    pub vmi: Option<String>,
    pub listeners: BTreeSet<String>,
    /// Pools of its listeners, by uuid.
    pub pools: BTreeMap<String, ActualPool>,
}

impl ActualVip {
    pub fn member_count(&self) -> usize {
        self.pools.values().map(|p| p.members.len()).sum()
    }
}

/// This cluster's VIPs in Contrail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actual {
    pub vips: BTreeMap<VipKey, ActualVip>,
    /// The VIPs' DNS records (read only with `dns_domain`).
    pub records: Vec<ActualRecord>,
}

/// The VIP load balancers of `cluster` (annotations `owner` mesos, `cluster`, `kind` vip and
/// the VIP's `name`), with the pools of their listeners.
pub fn from_lists(lbs: &[Loadbalancer], pools: &[LoadbalancerPool], cluster: &str) -> Actual {
    let mut out = Actual::default();
    let mut by_listener: HashMap<&str, VipKey> = HashMap::new();
    for lb in lbs {
        if !is_ours(&lb.annotations, cluster) || lb.annotations.get("kind") != Some(KIND) {
            continue;
        }
        let Some(key) = lb.annotations.get("name").and_then(VipKey::parse) else {
            log::warn!(
                "loadbalancer {} is marked as a VIP of cluster {cluster} but names no VIP; left alone",
                lb.uuid
            );
            continue;
        };
        for l in &lb.loadbalancer_listener_back_refs {
            by_listener.insert(l.uuid.as_str(), key.clone());
        }
        out.vips.insert(
            key,
            ActualVip {
                lb: lb.uuid.clone(),
                label: lb.annotations.get("vip").unwrap_or_default().to_string(),
                address: lb.loadbalancer_properties.vip_address.clone(),
                vmi: lb
                    .virtual_machine_interface_refs
                    .first()
                    .map(|r| r.uuid.clone()),
                listeners: lb
                    .loadbalancer_listener_back_refs
                    .iter()
                    .map(|r| r.uuid.clone())
                    .collect(),
                pools: BTreeMap::new(),
            },
        );
    }
    for p in pools {
        let Some((listener, key)) = p.loadbalancer_listener_refs.iter().find_map(|r| {
            by_listener
                .get(r.uuid.as_str())
                .map(|k| (r.uuid.clone(), k))
        }) else {
            continue;
        };
        if let Some(v) = out.vips.get_mut(key) {
            v.pools.insert(
                p.uuid.clone(),
                ActualPool {
                    listener,
                    members: p
                        .loadbalancer_members
                        .iter()
                        .map(|m| m.uuid.clone())
                        .collect(),
                },
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contrail::{KeyValuePairs, Ref};

    fn r(uuid: &str) -> Ref {
        Ref {
            uuid: uuid.into(),
            ..Ref::default()
        }
    }

    #[test]
    fn only_this_clusters_vips_with_their_pools() {
        let mark = |cluster: &str, name: &str| {
            KeyValuePairs::from_pairs(&[
                ("owner", "mesos"),
                ("cluster", cluster),
                ("kind", "vip"),
                ("vip", "/web"),
                ("name", name),
            ])
        };
        let lbs = vec![
            Loadbalancer {
                uuid: "lb1".into(),
                annotations: mark("mesos", "web.marathon"),
                virtual_machine_interface_refs: vec![r("vmi1")],
                loadbalancer_listener_back_refs: vec![r("l1"), r("l2")],
                ..Loadbalancer::default()
            },
            Loadbalancer {
                uuid: "lb-other".into(),
                annotations: mark("dc2", "web.marathon"),
                loadbalancer_listener_back_refs: vec![r("l9")],
                ..Loadbalancer::default()
            },
            Loadbalancer {
                uuid: "lb-k8s".into(),
                annotations: KeyValuePairs::from_pairs(&[("owner", "k8s"), ("cluster", "mesos")]),
                ..Loadbalancer::default()
            },
            Loadbalancer {
                uuid: "lb-unnamed".into(),
                annotations: mark("mesos", "Not A Name"),
                ..Loadbalancer::default()
            },
        ];
        let pools = vec![
            LoadbalancerPool {
                uuid: "p1".into(),
                loadbalancer_listener_refs: vec![r("l1")],
                loadbalancer_members: vec![r("m1"), r("m2")],
                ..LoadbalancerPool::default()
            },
            LoadbalancerPool {
                uuid: "p9".into(),
                loadbalancer_listener_refs: vec![r("l9")],
                ..LoadbalancerPool::default()
            },
        ];
        let a = from_lists(&lbs, &pools, "mesos");
        assert_eq!(a.vips.len(), 1);
        let v = &a.vips[&VipKey::Named("web.marathon".into())];
        assert_eq!(
            (v.lb.as_str(), v.vmi.as_deref(), v.label.as_str()),
            ("lb1", Some("vmi1"), "/web")
        );
        assert_eq!(v.listeners.len(), 2);
        assert_eq!(v.pools.len(), 1);
        assert_eq!(v.pools["p1"].listener, "l1");
        assert_eq!(v.member_count(), 2);
    }

    #[test]
    fn records_of_this_clusters_vips() {
        let rec = |uuid: &str, marks: &[(&str, &str)]| VirtualDnsRecord {
            uuid: uuid.into(),
            annotations: KeyValuePairs::from_pairs(marks),
            data: DnsRecordData {
                record_name: Some("web.marathon".into()),
                record_data: Some("10.96.0.3".into()),
                ..DnsRecordData::default()
            },
            ..VirtualDnsRecord::default()
        };
        let ours = [("owner", "mesos"), ("cluster", "mesos"), ("kind", "vip")];
        let got = records_of(
            &[
                rec("r1", &[ours[0], ours[1], ours[2], ("name", "web.marathon")]),
                rec(
                    "other-cluster",
                    &[
                        ours[0],
                        ("cluster", "dc2"),
                        ours[2],
                        ("name", "web.marathon"),
                    ],
                ),
                rec("operators", &[]),
                rec("unnamed", &ours),
            ],
            "mesos",
        );
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            (got[0].uuid.as_str(), &got[0].key),
            ("r1", &VipKey::Named("web.marathon".into()))
        );
        assert_eq!(got[0].data.record_data.as_deref(), Some("10.96.0.3"));
    }

    #[test]
    fn driver_fips_by_instance_ip() {
        let fip = |uuid: &str, parent: Option<&str>, vmis: &[&str]| FloatingIp {
            uuid: uuid.into(),
            parent_uuid: parent.map(str::to_string),
            virtual_machine_interface_refs: vmis.iter().map(|u| r(u)).collect(),
            ..FloatingIp::default()
        };
        let mut mapped = fip("f2", Some("iip2"), &[]);
        mapped.floating_ip_port_mappings = Some(crate::domain::contrail::PortMappings {
            port_mappings: vec![PortMap {
                protocol: "TCP".into(),
                src_port: 80,
                dst_port: 8080,
            }],
        });
        let got = driver_fips(&[
            fip("f1", Some("iip1"), &["a", "b"]),
            mapped,
            fip("orphan", None, &["c"]),
        ]);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(
            got["iip1"][0].vmis,
            ["a", "b"].iter().map(|s| s.to_string()).collect()
        );
        assert!(got["iip1"][0].port_mappings.is_empty());
        assert_eq!(got["iip2"][0].port_mappings[0].dst_port, 8080);
    }
}
