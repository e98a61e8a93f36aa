//! The Contrail objects of one VIP: names, uuids and the objects as they are made. Pure.
//!
//! Shapes as kube-manager writes them (`kube_manager/vnc/loadbalancer.py`
//! `ServiceLbManager._create_virtual_interface` / `create`, `ServiceLbListenerManager.create`,
//! `ServiceLbPoolManager.create`, `ServiceLbMemberManager.create`, upstream/lb-dns.md §1.3),
//! with every field of each property type present (vnc_api serializes them all, and
//! svc-monitor indexes some directly). Names and uuids derive from (cluster, VIP, port,
//! backend), so every manager of the cluster makes the same objects and a restarted one finds
//! what it started.

use std::net::IpAddr;

use super::label::{VipKey, VipPort};
use crate::domain::contrail::{
    DnsRecordData, IdPerms, InstanceIp, KeyValuePairs, ListenerProperties, Loadbalancer,
    LoadbalancerListener, LoadbalancerMember, LoadbalancerPool, LoadbalancerProperties,
    MemberProperties, PoolProperties, Ref, VirtualDnsRecord, VirtualMachineInterface,
};
use crate::domain::dns;
use crate::domain::fqname::FqName;
use crate::domain::ids;
use crate::domain::settings::Settings;

/// The `kind` annotation of a VIP's objects.
pub const KIND: &str = "vip";
/// The `virtual_machine_interface_device_owner` of a VIP interface (kube-manager writes
/// `K8S:LOADBALANCER`; the field is "for openstack compatibility, not used by system").
pub const DEVICE_OWNER: &str = "MESOS:LOADBALANCER";
/// svc-monitor's native driver, as it registers itself.
pub const NATIVE_SAS: [&str; 2] = ["default-global-system-config", "native"];
/// The TTL of a VIP's DNS record (contract §5).
pub const RECORD_TTL: i64 = 60;

/// One member of a pool: a running task's interface.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Backend {
    /// The task's address (the member's `address`).
    pub address: IpAddr,
    /// The container port (the member's `protocol_port`).
    pub port: u16,
    /// The task interface's uuid (annotation `vmi`).
    pub vmi: String,
    /// The container's VM uuid (annotation `vm`).
    pub vm: String,
}

/// Where a cluster's VIP objects live and what they are called.
#[derive(Debug, Clone)]
pub struct Names {
    pub cluster: String,
    /// The cluster project.
    pub project: FqName,
    /// The cluster's virtual-DNS, where named VIPs have their records (`dns_domain`); `None`:
    /// no records.
    pub dns: Option<FqName>,
}

impl Names {
    pub fn new(cluster: &str, project: &FqName) -> Self {
        Names {
            cluster: cluster.to_string(),
            project: project.clone(),
            dns: None,
        }
    }

    /// The names of the settings' cluster, with its virtual-DNS when `dns_domain` is set.
    pub fn of(s: &Settings) -> Self {
        Names {
            dns: s.dns_domain.as_ref().map(|_| s.virtual_dns()),
            ..Names::new(&s.cluster_name, &s.project())
        }
    }

    /// Named VIPs have records in the virtual-DNS `server`.
    pub fn with_dns(self, server: FqName) -> Self {
        Names {
            dns: Some(server),
            ..self
        }
    }

    /// `<cluster>__vip__<vip>` (`:` of an IPv6 VIP written `_`, as names cannot hold `:`).
    pub fn base(&self, key: &VipKey) -> String {
        format!(
            "{}__vip__{}",
            self.cluster,
            key.to_string().replace(':', "_")
        )
    }

    fn text(&self, key: &VipKey) -> String {
        format!("{}/{key}", self.cluster)
    }

    fn in_project(&self, name: &str) -> FqName {
        self.project
            .child(name)
            .unwrap_or_else(|_| self.project.clone())
    }

    pub fn lb_uuid(&self, key: &VipKey) -> String {
        ids::vip_object_uuid("lb", &self.text(key))
    }

    pub fn lb_fq(&self, key: &VipKey) -> FqName {
        self.in_project(&self.base(key))
    }

    pub fn vmi_uuid(&self, key: &VipKey) -> String {
        ids::vip_object_uuid("vmi", &self.text(key))
    }

    pub fn vmi_fq(&self, key: &VipKey) -> FqName {
        self.in_project(&self.base(key))
    }

    pub fn iip_uuid(&self, key: &VipKey) -> String {
        ids::vip_object_uuid("iip", &self.text(key))
    }

    /// Instance IPs have no parent: `[<base>]`.
    pub fn iip_fq(&self, key: &VipKey) -> FqName {
        FqName::new([self.base(key)]).unwrap_or_else(|_| self.project.clone())
    }

    /// `<base>-TCP-80`, the listener's and its pool's name (kube-manager names both alike).
    pub fn listener_name(&self, key: &VipKey, p: VipPort) -> String {
        format!("{}-{}-{}", self.base(key), p.protocol.as_contrail(), p.port)
    }

    pub fn listener_uuid(&self, key: &VipKey, p: VipPort) -> String {
        ids::vip_object_uuid("listener", &format!("{}/{p}", self.text(key)))
    }

    pub fn listener_fq(&self, key: &VipKey, p: VipPort) -> FqName {
        self.in_project(&self.listener_name(key, p))
    }

    pub fn pool_uuid(&self, key: &VipKey, p: VipPort) -> String {
        ids::vip_object_uuid("pool", &format!("{}/{p}", self.text(key)))
    }

    pub fn pool_fq(&self, key: &VipKey, p: VipPort) -> FqName {
        self.in_project(&self.listener_name(key, p))
    }

    /// A member's uuid says everything about it: a member whose task, interface or port
    /// changed is another member.
    pub fn member_uuid(&self, key: &VipKey, p: VipPort, b: &Backend) -> String {
        ids::vip_object_uuid(
            "member",
            &format!(
                "{}/{p}/{}/{}:{}/{}",
                self.text(key),
                b.vmi,
                b.address,
                b.port,
                b.vm
            ),
        )
    }

    pub fn member_fq(&self, key: &VipKey, p: VipPort, b: &Backend) -> FqName {
        let uuid = self.member_uuid(key, p, b);
        self.pool_fq(key, p)
            .child(&uuid)
            .unwrap_or_else(|_| self.pool_fq(key, p))
    }

    /// Derived from the virtual-DNS too: a record left under another one is another record.
    pub fn record_uuid(&self, key: &VipKey) -> String {
        let server = self.dns.as_ref().map(FqName::to_string).unwrap_or_default();
        ids::vip_object_uuid("record", &format!("{server}/{}", self.text(key)))
    }

    /// A named VIP's record: `<base>` under the virtual-DNS (record names are not unique in
    /// Contrail; the derived fq-name is what makes two managers make one record). `None`
    /// without a virtual-DNS.
    pub fn record_fq(&self, key: &VipKey) -> Option<FqName> {
        self.dns
            .as_ref()
            .and_then(|d| d.child(&self.base(key)).ok())
    }

    /// What a named VIP's record holds (`VirtualDnsRecordType`): its name (`web.marathon`,
    /// relative to the virtual-DNS's domain), `A` (`AAAA` for an IPv6 VIP), `IN`, the VIP's
    /// address, TTL 60 s.
    pub fn record_data(&self, key: &VipKey, address: IpAddr) -> DnsRecordData {
        DnsRecordData {
            record_name: Some(key.to_string()),
            record_type: Some(dns::record_type(&address).to_string()),
            record_class: Some("IN".to_string()),
            record_data: Some(address.to_string()),
            record_ttl_seconds: Some(RECORD_TTL),
        }
    }

    /// A named VIP's record in the virtual-DNS (`None` without one), marked as the VIP's.
    pub fn record(&self, key: &VipKey, label: &str, address: IpAddr) -> Option<VirtualDnsRecord> {
        let fq = self.record_fq(key)?;
        Some(VirtualDnsRecord {
            fq_name: fq.parts().to_vec(),
            uuid: self.record_uuid(key),
            display_name: Some(key.to_string()),
            data: self.record_data(key, address),
            annotations: self.marks(key, label),
            ..VirtualDnsRecord::default()
        })
    }

    /// Annotations of the VIP's own objects.
    fn marks(&self, key: &VipKey, label: &str) -> KeyValuePairs {
        KeyValuePairs::ours(
            &self.cluster,
            &[("kind", KIND), ("vip", label), ("name", &key.to_string())],
        )
    }

    /// The VIP interface, in the service network (`_create_virtual_interface`).
    pub fn vmi(
        &self,
        key: &VipKey,
        label: &str,
        network: &FqName,
        network_uuid: &str,
    ) -> VirtualMachineInterface {
        VirtualMachineInterface {
            fq_name: self.vmi_fq(key).parts().to_vec(),
            uuid: self.vmi_uuid(key),
            display_name: Some(key.to_string()),
            virtual_network_refs: vec![Ref::new(network, network_uuid)],
            virtual_machine_interface_device_owner: Some(DEVICE_OWNER.into()),
            annotations: self.marks(key, label),
            ..VirtualMachineInterface::default()
        }
    }

    /// The VIP's instance IP: the address asked for (an address VIP), else allocated from
    /// the service network; `family` `v4`/`v6` for an allocated one; `subnet_uuid` the
    /// service subnet's (kube-manager's `_create_virtual_interface` sets it, from
    /// `_get_service_ipam_subnet_uuid`).
    pub fn iip(
        &self,
        key: &VipKey,
        label: &str,
        network: &FqName,
        network_uuid: &str,
        family: &str,
        subnet_uuid: Option<&str>,
    ) -> InstanceIp {
        let (address, family) = match key {
            VipKey::Address(a) => (Some(a.to_string()), if a.is_ipv4() { "v4" } else { "v6" }),
            VipKey::Named(_) => (None, family),
        };
        InstanceIp {
            fq_name: self.iip_fq(key).parts().to_vec(),
            uuid: self.iip_uuid(key),
            display_name: Some(key.to_string()),
            instance_ip_address: address,
            instance_ip_family: Some(family.into()),
            subnet_uuid: subnet_uuid.map(str::to_string),
            virtual_network_refs: vec![Ref::new(network, network_uuid)],
            virtual_machine_interface_refs: vec![Ref::new(&self.vmi_fq(key), &self.vmi_uuid(key))],
            annotations: self.marks(key, label),
        }
    }

    /// The load balancer (`ServiceLbManager.create`): provider `native`, all six
    /// `loadbalancer_properties`, the VIP interface, svc-monitor's `native` appliance set when
    /// it exists.
    pub fn lb(&self, key: &VipKey, label: &str, address: &str, sas: Option<&str>) -> Loadbalancer {
        Loadbalancer {
            fq_name: self.lb_fq(key).parts().to_vec(),
            uuid: self.lb_uuid(key),
            display_name: Some(key.to_string()),
            loadbalancer_provider: Some("native".into()),
            loadbalancer_properties: LoadbalancerProperties {
                status: None,
                provisioning_status: Some("ACTIVE".into()),
                operating_status: Some("ONLINE".into()),
                vip_subnet_id: None,
                vip_address: Some(address.into()),
                admin_state: Some(true),
            },
            virtual_machine_interface_refs: vec![Ref::new(&self.vmi_fq(key), &self.vmi_uuid(key))],
            service_appliance_set_refs: sas
                .map(|u| Ref::new(&native_sas(), u))
                .into_iter()
                .collect(),
            annotations: self.marks(key, label),
            ..Loadbalancer::default()
        }
    }

    /// One listener (`ServiceLbListenerManager.create`): `protocol_port` is the VIP port.
    pub fn listener(&self, key: &VipKey, label: &str, p: VipPort) -> LoadbalancerListener {
        LoadbalancerListener {
            fq_name: self.listener_fq(key, p).parts().to_vec(),
            uuid: self.listener_uuid(key, p),
            display_name: Some(self.listener_name(key, p)),
            id_perms: Some(IdPerms::enabled()),
            loadbalancer_refs: vec![Ref::new(&self.lb_fq(key), &self.lb_uuid(key))],
            loadbalancer_listener_properties: ListenerProperties {
                protocol: Some(p.protocol.as_contrail().into()),
                protocol_port: Some(i64::from(p.port)),
                admin_state: Some(true),
                connection_limit: None,
                default_tls_container: None,
                sni_containers: Vec::new(),
            },
            annotations: self.marks(key, label),
        }
    }

    /// The listener's pool (`ServiceLbPoolManager.create`): no method (the native driver
    /// balances by ECMP hashing).
    pub fn pool(&self, key: &VipKey, label: &str, p: VipPort) -> LoadbalancerPool {
        LoadbalancerPool {
            fq_name: self.pool_fq(key, p).parts().to_vec(),
            uuid: self.pool_uuid(key, p),
            display_name: Some(self.listener_name(key, p)),
            id_perms: Some(IdPerms::enabled()),
            loadbalancer_listener_refs: vec![Ref::new(
                &self.listener_fq(key, p),
                &self.listener_uuid(key, p),
            )],
            loadbalancer_pool_properties: Some(PoolProperties {
                admin_state: Some(true),
                protocol: Some(p.protocol.as_contrail().into()),
                ..PoolProperties::default()
            }),
            annotations: self.marks(key, label),
            ..LoadbalancerPool::default()
        }
    }

    /// One member (`ServiceLbMemberManager.create`): the task's address and container port;
    /// the interface only in the `vmi` annotation, as svc-monitor reads it. Its display name
    /// is that interface's uuid, so a task's teardown finds its members with one filtered list.
    pub fn member(&self, key: &VipKey, p: VipPort, b: &Backend) -> LoadbalancerMember {
        LoadbalancerMember {
            fq_name: self.member_fq(key, p, b).parts().to_vec(),
            uuid: self.member_uuid(key, p, b),
            display_name: Some(b.vmi.clone()),
            id_perms: Some(IdPerms::enabled()),
            loadbalancer_member_properties: MemberProperties {
                admin_state: Some(true),
                protocol_port: Some(i64::from(b.port)),
                weight: Some(1),
                address: Some(b.address.to_string()),
                ..MemberProperties::default()
            },
            annotations: KeyValuePairs::from_pairs(&[("vmi", &b.vmi), ("vm", &b.vm)]),
            ..LoadbalancerMember::default()
        }
    }
}

/// svc-monitor's `native` service-appliance-set.
pub fn native_sas() -> FqName {
    FqName::from_checked_parts(NATIVE_SAS.iter().map(|s| s.to_string()).collect())
}

/// The `subnet_uuid` of the service network's subnet for a VIP: on the network's link to the
/// service IPAM (`network_ipam_refs` attr `ipam_subnets`; kube-manager's
/// `VirtualNetworkKM.get_ipam_subnet_uuid`). A flat-subnet link holds one, made by the API
/// server; on a link with its own subnets, the one holding an address VIP, or the first of
/// `family` (`v4`/`v6`) for a named one. `None` when there is none.
pub fn service_subnet_uuid(
    network_ipam_refs: &[Ref],
    ipam: &FqName,
    key: &VipKey,
    family: &str,
) -> Option<String> {
    let subnets = network_ipam_refs
        .iter()
        .filter(|r| r.fq_name().as_ref() == Some(ipam))
        .flat_map(|r| {
            r.attr["ipam_subnets"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        });
    for s in subnets {
        let Some(uuid) = s["subnet_uuid"].as_str() else {
            continue;
        };
        let prefix = s["subnet"]["ip_prefix"]
            .as_str()
            .zip(s["subnet"]["ip_prefix_len"].as_u64())
            .and_then(|(p, l)| format!("{p}/{l}").parse::<ipnet::IpNet>().ok());
        let fits = match (prefix, key) {
            (None, _) => true,
            (Some(net), VipKey::Address(a)) => net.contains(a),
            (Some(net), VipKey::Named(_)) => (family == "v6") == matches!(net, ipnet::IpNet::V6(_)),
        };
        if fits {
            return Some(uuid.to_string());
        }
    }
    None
}

/// The names of cluster `mesos` in project `default-domain:mesos-default`, for tests.
#[cfg(test)]
pub(super) fn test_names() -> Names {
    Names::new(
        "mesos",
        &FqName::new(["default-domain", "mesos-default"]).expect("fq"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contrail::{Resource, to_value};
    use crate::domain::vip::label::Protocol;
    use serde_json::{Value, json};

    #[test]
    fn names_and_uuids_are_derived_and_distinct() {
        let n = test_names();
        let web = VipKey::Named("web.marathon".into());
        let ip = VipKey::Address("fd00::10".parse().expect("ip"));
        let p80 = VipPort {
            port: 80,
            protocol: Protocol::Tcp,
        };
        let p80u = VipPort {
            port: 80,
            protocol: Protocol::Udp,
        };
        assert_eq!(n.base(&web), "mesos__vip__web.marathon");
        assert_eq!(n.base(&ip), "mesos__vip__fd00__10");
        assert_eq!(
            n.listener_name(&web, p80),
            "mesos__vip__web.marathon-TCP-80"
        );
        assert_eq!(
            n.lb_fq(&web).to_string(),
            "default-domain:mesos-default:mesos__vip__web.marathon"
        );
        assert_eq!(n.lb_uuid(&web), test_names().lb_uuid(&web), "stable");
        assert_ne!(n.lb_uuid(&web), n.vmi_uuid(&web));
        assert_ne!(n.listener_uuid(&web, p80), n.listener_uuid(&web, p80u));
        assert_ne!(n.listener_uuid(&web, p80), n.pool_uuid(&web, p80));
        let other = Names::new("dc2", &n.project);
        assert_ne!(n.lb_uuid(&web), other.lb_uuid(&web), "per cluster");
        let b = Backend {
            address: "5.5.5.3".parse().expect("ip"),
            port: 8080,
            vmi: "i1".into(),
            vm: "v1".into(),
        };
        let moved = Backend {
            port: 9090,
            ..b.clone()
        };
        assert_ne!(
            n.member_uuid(&web, p80, &b),
            n.member_uuid(&web, p80, &moved)
        );
        assert_eq!(n.member_fq(&web, p80, &b).len(), 4);
    }

    #[test]
    fn bodies_carry_every_property_key() {
        let n = test_names();
        let web = VipKey::Named("web.marathon".into());
        let vn = FqName::new([
            "default-domain",
            "mesos-default",
            "mesos-default-service-network",
        ])
        .expect("fq");
        let lb = to_value(&n.lb(&web, "/web", "10.96.0.3", Some("sas")));
        let props = lb["loadbalancer_properties"].as_object().expect("props");
        assert_eq!(props.len(), 6);
        assert_eq!(lb["loadbalancer_provider"], "native");
        assert_eq!(lb["service_appliance_set_refs"][0]["to"], json!(NATIVE_SAS));
        assert!(
            to_value(&n.lb(&web, "/web", "10.96.0.3", None))
                .get("service_appliance_set_refs")
                .is_none()
        );
        let p = VipPort {
            port: 80,
            protocol: Protocol::Udp,
        };
        let l = to_value(&n.listener(&web, "/web", p));
        assert_eq!(
            l["loadbalancer_listener_properties"]
                .as_object()
                .map(|o| o.len()),
            Some(6)
        );
        assert_eq!(l["loadbalancer_listener_properties"]["protocol"], "UDP");
        let pool = to_value(&n.pool(&web, "/web", p));
        assert_eq!(
            pool["loadbalancer_pool_properties"]
                .as_object()
                .map(|o| o.len()),
            Some(8)
        );
        let b = Backend {
            address: "5.5.5.3".parse().expect("ip"),
            port: 8080,
            vmi: "i1".into(),
            vm: "v1".into(),
        };
        let m = to_value(&n.member(&web, p, &b));
        assert_eq!(
            m["loadbalancer_member_properties"]
                .as_object()
                .map(|o| o.len()),
            Some(7)
        );
        assert_eq!(
            m["annotations"],
            json!({"key_value_pair": [{"key": "vmi", "value": "i1"}, {"key": "vm", "value": "v1"}]})
        );
        let iip = to_value(&n.iip(&web, "/web", &vn, "vn", "v4", Some("sub")));
        assert!(iip.get("instance_ip_address").is_none(), "allocated");
        assert_eq!(iip["subnet_uuid"], "sub");
        let a = VipKey::Address("10.96.0.10".parse().expect("ip"));
        let iip = to_value(&n.iip(&a, "10.96.0.10", &vn, "vn", "v4", None));
        assert_eq!(iip["instance_ip_address"], "10.96.0.10");
        assert!(iip.get("subnet_uuid").is_none());
        let vmi = to_value(&n.vmi(&web, "/web", &vn, "vn"));
        let marks = &vmi["annotations"]["key_value_pair"];
        assert!(marks.to_string().contains("\"kind\"") && marks.to_string().contains("/web"));
    }

    #[test]
    fn a_named_vips_record_is_under_the_virtual_dns_with_the_vips_address() {
        let n = test_names();
        let web = VipKey::Named("web.marathon".into());
        let at: IpAddr = "10.96.0.3".parse().expect("ip");
        assert_eq!(n.record_fq(&web), None, "no virtual-DNS, no record");
        assert!(n.record(&web, "/web", at).is_none());
        let s = Settings {
            dns_domain: Some("l4lb.thisdcos.directory".into()),
            ..Settings::default()
        };
        let n = Names::of(&s);
        assert_eq!(
            n.record_fq(&web).map(|f| f.to_string()).as_deref(),
            Some("default-domain:mesos-dns:mesos__vip__web.marathon")
        );
        assert_ne!(n.record_uuid(&web), n.lb_uuid(&web));
        let body = to_value(&n.record(&web, "/web", at).expect("a record"));
        assert_eq!(VirtualDnsRecord::PARENT, Some("virtual-DNS"));
        assert_eq!(
            body["virtual_DNS_record_data"],
            json!({"record_name": "web.marathon", "record_type": "A", "record_class": "IN",
                   "record_data": "10.96.0.3", "record_ttl_seconds": 60})
        );
        let marks = body["annotations"].to_string();
        for part in ["\"owner\"", "\"kind\"", "\"vip\"", "/web", "web.marathon"] {
            assert!(marks.contains(part), "{part} in {marks}");
        }
        let six = n.record_data(&web, "fd00::3".parse().expect("ip"));
        assert_eq!(six.record_type.as_deref(), Some("AAAA"));
    }

    #[test]
    fn the_service_subnet_uuid_comes_from_the_link_to_the_service_ipam() {
        let ipam =
            FqName::new(["default-domain", "mesos-default", "mesos-service-ipam"]).expect("fq");
        let link = |to: &FqName, subnets: Value| Ref {
            to: to.parts().to_vec(),
            uuid: "u".into(),
            attr: json!({ "ipam_subnets": subnets }),
        };
        let other =
            FqName::new(["default-domain", "default-project", "default-network-ipam"]).expect("fq");
        let web = VipKey::Named("web.marathon".into());
        let flat = [
            link(&other, json!([{"subnet_uuid": "not-this"}])),
            link(&ipam, json!([{"subnet_uuid": "flat"}])),
        ];
        assert_eq!(
            service_subnet_uuid(&flat, &ipam, &web, "v4").as_deref(),
            Some("flat")
        );
        let own = [link(
            &ipam,
            json!([
                {"subnet": {"ip_prefix": "10.96.0.0", "ip_prefix_len": 24}, "subnet_uuid": "a"},
                {"subnet": {"ip_prefix": "fd00:96::", "ip_prefix_len": 64}, "subnet_uuid": "six"},
                {"subnet": {"ip_prefix": "10.97.0.0", "ip_prefix_len": 24}, "subnet_uuid": "b"}
            ]),
        )];
        let at = |a: &str| VipKey::Address(a.parse().expect("ip"));
        assert_eq!(
            service_subnet_uuid(&own, &ipam, &at("10.97.0.9"), "v4").as_deref(),
            Some("b")
        );
        assert_eq!(
            service_subnet_uuid(&own, &ipam, &web, "v6").as_deref(),
            Some("six")
        );
        assert_eq!(
            service_subnet_uuid(&own, &ipam, &web, "v4").as_deref(),
            Some("a")
        );
        assert_eq!(
            service_subnet_uuid(&own, &ipam, &at("10.98.0.1"), "v4"),
            None
        );
        assert_eq!(service_subnet_uuid(&flat[..1], &ipam, &web, "v4"), None);
    }
}
