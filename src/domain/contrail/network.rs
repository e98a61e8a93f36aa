//! Networks, IPAMs, network policies and their rules, the global vRouter config.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{KeyValuePairs, Ref, to_value, unset};
use crate::domain::fqname::FqName;

/// `IpamSubnets` of a flat-subnet IPAM.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IpamSubnets {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkIpam {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uuid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fq_name: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipam_subnet_method: Option<String>,
    #[serde(skip_serializing_if = "unset")]
    pub ipam_subnets: IpamSubnets,
    /// `IpamType` (DNS method and servers, DHCP options), kept whole.
    #[serde(skip_serializing_if = "Value::is_null")]
    pub network_ipam_mgmt: Value,
    /// The virtual-DNS it uses (`virtual-dns-server`). `None`: not read, or not to be written;
    /// `Some(vec![])` writes that it uses none.
    #[serde(rename = "virtual_DNS_refs", skip_serializing_if = "Option::is_none")]
    pub virtual_dns_refs: Option<Vec<Ref>>,
    #[serde(skip_serializing)]
    pub virtual_network_back_refs: Vec<Ref>,
}

resource!(NetworkIpam, "network-ipam", Some("project"));

impl NetworkIpam {
    /// Its `virtual_DNS_refs`, as read (none when not read).
    pub fn dns_refs(&self) -> &[Ref] {
        self.virtual_dns_refs.as_deref().unwrap_or_default()
    }
}

/// The DNS part of an `IpamType` (`network_ipam_mgmt`) as the manager writes it: the method and,
/// for `virtual-dns-server`, the server's name (`IpamDnsAddressType`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IpamDnsMgmt {
    pub ipam_dns_method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipam_dns_server: Option<IpamDnsAddress>,
}

/// `IpamDnsAddressType` (the virtual-DNS server's name only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IpamDnsAddress {
    pub virtual_dns_server_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VirtualNetwork {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uuid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fq_name: Vec<String>,
    /// Each ref's `attr` is a `VnSubnetsType` (`{"ipam_subnets": [...]}`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub network_ipam_refs: Vec<Ref>,
    /// Each ref's `attr` is a `VirtualNetworkPolicyType` (`{"sequence": {"major", "minor"}}`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub network_policy_refs: Vec<Ref>,
    /// The provider network it is routed over (`ip_fabric_forwarding`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub virtual_network_refs: Vec<Ref>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fabric_snat: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_provider_network: Option<bool>,
    /// `flat-subnet-only`: addresses come from the IPAM's own subnets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_allocation_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_network_properties: Option<VirtualNetworkType>,
}

/// `VirtualNetworkType` (the forwarding mode only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VirtualNetworkType {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarding_mode: Option<String>,
}

impl VirtualNetworkType {
    /// Routed (`l3`), as every network the manager makes.
    pub fn l3() -> Self {
        Self {
            forwarding_mode: Some("l3".into()),
        }
    }
}

/// `VnSubnetsType`: the attribute of a network's reference to an IPAM (the subnets defined on
/// the network; none for a flat-subnet IPAM's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VnSubnetsType {
    pub ipam_subnets: Vec<IpamSubnetType>,
}

/// `IpamSubnetType` as the manager writes a new one: the prefix; the server fills in the
/// gateway, the DNS address and the `subnet_uuid`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IpamSubnetType {
    pub subnet: SubnetType,
}

impl IpamSubnetType {
    pub fn of(net: &IpNet) -> Self {
        Self {
            subnet: SubnetType {
                ip_prefix: Some(net.network().to_string()),
                ip_prefix_len: Some(u64::from(net.prefix_len())),
            },
        }
    }
}

/// `VirtualNetworkPolicyType`: the attribute of a network's reference to a policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VirtualNetworkPolicyType {
    pub sequence: SequenceType,
}

/// `SequenceType`: policies apply in (major, minor) order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SequenceType {
    pub major: i64,
    pub minor: i64,
}

impl Ref {
    /// A network's reference to a policy, applied at (`major`, 0).
    pub fn policy(fq: &FqName, uuid: &str, major: i64) -> Ref {
        Ref::with_attr(fq, uuid, &VirtualNetworkPolicyType::at(major))
    }

    /// A network's reference to an IPAM, with the subnets defined on the network.
    pub fn ipam(fq: &FqName, uuid: &str, subnets: &[IpNet]) -> Ref {
        let attr = VnSubnetsType {
            ipam_subnets: subnets.iter().map(IpamSubnetType::of).collect(),
        };
        Ref::with_attr(fq, uuid, &attr)
    }
}

impl VirtualNetworkPolicyType {
    pub fn at(major: i64) -> Self {
        Self {
            sequence: SequenceType { major, minor: 0 },
        }
    }
}

resource!(VirtualNetwork, "virtual-network", Some("project"));

impl VirtualNetwork {
    /// The fq-names of its policies, in the order of their `sequence` (major, minor), then of
    /// their names. (Not of the references: the API server lists them in the order of the
    /// policies' uuids, `vnc_cassandra.py` `_render_obj_from_db` reading its `ref:` columns in
    /// column order.)
    pub fn policies(&self) -> Vec<String> {
        let seq = |r: &Ref, k: &str| r.attr["sequence"][k].as_i64().unwrap_or(i64::MAX);
        let mut refs: Vec<(i64, i64, String)> = self
            .network_policy_refs
            .iter()
            .map(|r| (seq(r, "major"), seq(r, "minor"), r.fq_string()))
            .collect();
        refs.sort();
        refs.into_iter().map(|(_, _, fq)| fq).collect()
    }

    /// Whether it refers to the policy `uuid`.
    pub fn has_policy(&self, uuid: &str) -> bool {
        self.network_policy_refs.iter().any(|r| r.uuid == uuid)
    }

    /// The `IpamSubnetType` entries on the ref to `ipam` that define a prefix of their own
    /// (a flat-subnet IPAM's ref holds none).
    pub fn own_subnets(r: &Ref) -> Vec<&Value> {
        r.attr["ipam_subnets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["subnet"]["ip_prefix"].is_string())
            .collect()
    }
}

/// `PolicyRuleType`: one rule of a security group or a network policy (the fields this
/// project reads and writes; a rule written as this type carries only those, none empty).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ethertype: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_list: Option<ActionList>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub src_addresses: Vec<AddressType>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub src_ports: Vec<PortType>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dst_addresses: Vec<AddressType>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dst_ports: Vec<PortType>,
}

/// `PolicyEntriesType`: the rules of a security group or a network policy. Rules read back
/// are kept whole (every field, the ones this project does not read included).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyEntries {
    pub policy_rule: Vec<Value>,
}

impl PolicyEntries {
    /// Entries of typed rules.
    pub fn of(rules: &[PolicyRule]) -> Self {
        Self {
            policy_rule: rules.iter().map(to_value).collect(),
        }
    }
}

/// `ActionListType` (the simple action only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActionList {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simple_action: Option<String>,
}

/// `AddressType`: one end of a rule: a security group (`local` for the group's own members), a
/// subnet, a virtual network (`domain:project:name`, or `any`) or a network policy (every
/// network the policy is attached to); none of them is any address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AddressType {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet: Option<SubnetType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_network: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_policy: Option<String>,
}

/// `SubnetType`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SubnetType {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_prefix_len: Option<u64>,
}

/// `PortType`: a port range (-1..-1: any port).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PortType {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_port: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_port: Option<i64>,
}

/// A network policy; its rules are kept whole (`network_policy_entries.policy_rule`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkPolicy {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uuid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fq_name: Vec<String>,
    #[serde(skip_serializing_if = "Value::is_null")]
    pub network_policy_entries: Value,
    #[serde(skip_serializing_if = "KeyValuePairs::is_empty")]
    pub annotations: KeyValuePairs,
    #[serde(skip_serializing)]
    pub virtual_network_back_refs: Vec<Ref>,
}

resource!(NetworkPolicy, "network-policy", Some("project"));

impl NetworkPolicy {
    /// The rules as stored, whole.
    pub fn policy_rules(&self) -> &[Value] {
        self.network_policy_entries["policy_rule"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

/// The global vRouter config; the properties this project merges into are kept whole.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GlobalVrouterConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uuid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fq_name: Vec<String>,
    /// `PortTranslationPools`: `{"port_translation_pool": [...]}`, each pool kept whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_translation_pools: Option<PortTranslationPools>,
    /// `LinklocalServicesTypes`: `{"linklocal_service_entry": [...]}`, each entry kept whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linklocal_services: Option<LinklocalServices>,
}

/// `PortTranslationPools`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PortTranslationPools {
    pub port_translation_pool: Vec<Value>,
}

/// `PortTranslationPool` as the manager adds one: a protocol and a port range.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PortTranslationPool {
    pub protocol: String,
    pub port_range: PortType,
}

/// `LinklocalServicesTypes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LinklocalServices {
    pub linklocal_service_entry: Vec<Value>,
}

/// `LinklocalServiceEntryType`, as `link_local_manager.py` writes one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LinklocalServiceEntry {
    pub linklocal_service_name: String,
    pub linklocal_service_ip: String,
    pub linklocal_service_port: u16,
    pub ip_fabric_service_ip: Vec<String>,
    pub ip_fabric_service_port: u16,
}

resource!(
    GlobalVrouterConfig,
    "global-vrouter-config",
    Some("global-system-config")
);
