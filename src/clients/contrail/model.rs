//! The Contrail objects this project reads back, typed (only the fields it uses; the config
//! API sends more), and the conventions it writes: references, annotations, the marks on the
//! objects the manager owns.
//!
//! Field names are the API server's (`vnc_api/gen/resource_common.py`). Every field has a
//! default, so a read with `fields=` that leaves some out still decodes.

use std::time::SystemTime;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::fqname::FqName;
use crate::domain::ids;

/// Marks every object the manager creates (annotation `owner`).
pub const OWNER: &str = "mesos";
/// The `kind` annotation of a task's virtual-machine.
pub const KIND: &str = "MesosTask";

/// A resource type of the config API.
pub trait Resource: DeserializeOwned {
    /// The type as the API spells it in paths and bodies (`virtual-machine`).
    const TYPE: &'static str;
}

/// A reference (`*_refs`) or back-reference (`*_back_refs`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ref {
    pub to: Vec<String>,
    pub uuid: String,
    pub attr: Value,
}

impl Ref {
    /// The target's fq-name.
    pub fn fq_name(&self) -> Option<FqName> {
        FqName::from_json(&Value::from(self.to.clone()))
    }

    /// The target's fq-name as `a:b:c`.
    pub fn fq_string(&self) -> String {
        self.to.join(":")
    }
}

/// A ref as the config API wants it in a body.
pub fn reference(fq: &FqName, uuid: &str) -> Value {
    json!({"to": fq.to_json(), "uuid": uuid, "attr": null})
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyValuePair {
    pub key: String,
    pub value: String,
}

/// `KeyValuePairs`: annotations, interface bindings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyValuePairs {
    pub key_value_pair: Vec<KeyValuePair>,
}

impl KeyValuePairs {
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self {
            key_value_pair: pairs
                .iter()
                .map(|(k, v)| KeyValuePair {
                    key: k.to_string(),
                    value: v.to_string(),
                })
                .collect(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.key_value_pair
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| kv.value.as_str())
    }

    /// The body form.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Annotations as a body wants them.
pub fn kv(pairs: &[(&str, &str)]) -> Value {
    KeyValuePairs::from_pairs(pairs).to_json()
}

/// Whether annotations mark an object as the manager's, for this cluster.
pub fn is_ours(annotations: &KeyValuePairs, cluster: &str) -> bool {
    annotations.get("owner") == Some(OWNER) && annotations.get("cluster") == Some(cluster)
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct IdPerms {
    pub created: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct VirtualMachine {
    pub uuid: String,
    pub fq_name: Vec<String>,
    pub display_name: Option<String>,
    pub server_type: Option<String>,
    pub annotations: KeyValuePairs,
    pub id_perms: IdPerms,
    pub virtual_machine_interface_back_refs: Vec<Ref>,
    pub virtual_router_back_refs: Vec<Ref>,
}

impl Resource for VirtualMachine {
    const TYPE: &'static str = "virtual-machine";
}

impl VirtualMachine {
    pub fn is_container(&self) -> bool {
        self.server_type.as_deref() == Some("container")
    }

    /// Marked by the manager of `cluster`.
    pub fn is_ours(&self, cluster: &str) -> bool {
        is_ours(&self.annotations, cluster)
    }

    /// The container id: the `container-id` annotation, else the VM's name.
    pub fn container_id(&self) -> Option<&str> {
        self.annotations
            .get("container-id")
            .or(self.fq_name.last().map(String::as_str))
    }

    /// When it was made, as recorded: the `created` annotation, else the server's record.
    pub fn created_text(&self) -> Option<&str> {
        self.annotations
            .get("created")
            .or(self.id_perms.created.as_deref())
    }

    /// When it was made: the `created` annotation, else the server's record.
    pub fn created(&self) -> Option<SystemTime> {
        self.annotations
            .get("created")
            .or(self.id_perms.created.as_deref())
            .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct MacAddresses {
    pub mac_address: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct VirtualMachineInterface {
    pub uuid: String,
    pub fq_name: Vec<String>,
    pub annotations: KeyValuePairs,
    pub virtual_machine_interface_bindings: KeyValuePairs,
    pub virtual_machine_interface_mac_addresses: MacAddresses,
    pub virtual_machine_refs: Vec<Ref>,
    pub virtual_network_refs: Vec<Ref>,
    pub security_group_refs: Vec<Ref>,
    pub instance_ip_back_refs: Vec<Ref>,
    pub floating_ip_back_refs: Vec<Ref>,
}

impl Resource for VirtualMachineInterface {
    const TYPE: &'static str = "virtual-machine-interface";
}

impl VirtualMachineInterface {
    pub fn mac(&self) -> Option<&str> {
        self.virtual_machine_interface_mac_addresses
            .mac_address
            .first()
            .map(String::as_str)
    }

    /// The task interface's name: the `interface` annotation, else what the interface's own
    /// name says (`<container>@<ifname>`), else that name.
    pub fn ifname(&self) -> String {
        let name = self.fq_name.last().map(String::as_str).unwrap_or_default();
        self.annotations
            .get("interface")
            .or_else(|| ids::parse_vmi_name(name).map(|(_, i)| i))
            .unwrap_or(name)
            .to_string()
    }

    /// The VM it belongs to.
    pub fn vm_uuid(&self) -> Option<&str> {
        self.virtual_machine_refs.first().map(|r| r.uuid.as_str())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct InstanceIp {
    pub uuid: String,
    pub fq_name: Vec<String>,
    pub instance_ip_address: Option<String>,
    pub instance_ip_family: Option<String>,
    pub virtual_machine_interface_refs: Vec<Ref>,
    pub virtual_network_refs: Vec<Ref>,
}

impl Resource for InstanceIp {
    const TYPE: &'static str = "instance-ip";
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FloatingIp {
    pub uuid: String,
    pub fq_name: Vec<String>,
    pub parent_uuid: Option<String>,
    pub floating_ip_address: Option<String>,
    pub project_refs: Vec<Ref>,
    pub virtual_machine_interface_refs: Vec<Ref>,
}

impl Resource for FloatingIp {
    const TYPE: &'static str = "floating-ip";
}

impl FloatingIp {
    /// The pool's fq-name (the floating IP's parent).
    pub fn pool(&self) -> Option<FqName> {
        FqName::from_json(&Value::from(self.fq_name.clone()))?.parent()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FloatingIpPool {
    pub uuid: String,
    pub fq_name: Vec<String>,
    pub parent_uuid: Option<String>,
}

impl Resource for FloatingIpPool {
    const TYPE: &'static str = "floating-ip-pool";
}

/// `IpamSubnets` of a flat-subnet IPAM.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct IpamSubnets {
    pub subnets: Vec<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct NetworkIpam {
    pub uuid: String,
    pub fq_name: Vec<String>,
    pub ipam_subnet_method: Option<String>,
    pub ipam_subnets: IpamSubnets,
    /// `IpamType` (DNS method and servers, DHCP options), kept whole.
    pub network_ipam_mgmt: Value,
}

impl Resource for NetworkIpam {
    const TYPE: &'static str = "network-ipam";
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct VirtualNetwork {
    pub uuid: String,
    pub fq_name: Vec<String>,
    /// Each ref's `attr` is a `VnSubnetsType` (`{"ipam_subnets": [...]}`).
    pub network_ipam_refs: Vec<Ref>,
    /// Each ref's `attr` is a `VirtualNetworkPolicyType` (`{"sequence": {"major", "minor"}}`).
    pub network_policy_refs: Vec<Ref>,
    /// The provider network it is routed over (`ip_fabric_forwarding`).
    pub virtual_network_refs: Vec<Ref>,
    pub fabric_snat: Option<bool>,
    pub is_provider_network: Option<bool>,
}

impl Resource for VirtualNetwork {
    const TYPE: &'static str = "virtual-network";
}

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

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct VirtualRouter {
    pub uuid: String,
    pub fq_name: Vec<String>,
    pub virtual_router_ip_address: Option<String>,
    pub virtual_machine_refs: Vec<Ref>,
}

impl Resource for VirtualRouter {
    const TYPE: &'static str = "virtual-router";
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct SecurityGroup {
    pub uuid: String,
    pub fq_name: Vec<String>,
    /// `PolicyEntriesType`: `{"policy_rule": [...]}`.
    pub security_group_entries: Value,
    pub virtual_machine_interface_back_refs: Vec<Ref>,
}

impl Resource for SecurityGroup {
    const TYPE: &'static str = "security-group";
}

impl SecurityGroup {
    /// The rules as stored (`security_group_entries.policy_rule`), whole: a rule written back
    /// keeps every field, the ones this project does not read included.
    pub fn policy_rules(&self) -> &[Value] {
        self.security_group_entries["policy_rule"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The rules, typed.
    pub fn rules(&self) -> Result<Vec<PolicyRule>, serde_json::Error> {
        self.policy_rules()
            .iter()
            .map(PolicyRule::deserialize)
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
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct NetworkPolicy {
    pub uuid: String,
    pub fq_name: Vec<String>,
    pub network_policy_entries: Value,
    pub annotations: KeyValuePairs,
    pub virtual_network_back_refs: Vec<Ref>,
}

impl Resource for NetworkPolicy {
    const TYPE: &'static str = "network-policy";
}

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
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct GlobalVrouterConfig {
    pub uuid: String,
    pub fq_name: Vec<String>,
    /// `PortTranslationPools`: `{"port_translation_pool": [...]}`.
    pub port_translation_pools: Value,
    /// `LinklocalServicesTypes`: `{"linklocal_service_entry": [...]}`.
    pub linklocal_services: Value,
}

impl Resource for GlobalVrouterConfig {
    const TYPE: &'static str = "global-vrouter-config";
}

/// `LoadbalancerType` (the fields this project reads).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct LoadbalancerProperties {
    pub vip_address: Option<String>,
    pub provisioning_status: Option<String>,
    pub operating_status: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Loadbalancer {
    pub uuid: String,
    pub fq_name: Vec<String>,
    pub annotations: KeyValuePairs,
    pub loadbalancer_provider: Option<String>,
    pub loadbalancer_properties: LoadbalancerProperties,
    pub virtual_machine_interface_refs: Vec<Ref>,
    pub service_appliance_set_refs: Vec<Ref>,
    pub loadbalancer_listener_back_refs: Vec<Ref>,
}

impl Resource for Loadbalancer {
    const TYPE: &'static str = "loadbalancer";
}

/// `LoadbalancerListenerType` (the fields this project reads).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ListenerProperties {
    pub protocol: Option<String>,
    pub protocol_port: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct LoadbalancerListener {
    pub uuid: String,
    pub fq_name: Vec<String>,
    pub annotations: KeyValuePairs,
    pub loadbalancer_listener_properties: ListenerProperties,
    pub loadbalancer_refs: Vec<Ref>,
}

impl Resource for LoadbalancerListener {
    const TYPE: &'static str = "loadbalancer-listener";
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct LoadbalancerPool {
    pub uuid: String,
    pub fq_name: Vec<String>,
    pub annotations: KeyValuePairs,
    pub loadbalancer_listener_refs: Vec<Ref>,
    /// Its members (children: `to` and `uuid` only).
    pub loadbalancer_members: Vec<Ref>,
}

impl Resource for LoadbalancerPool {
    const TYPE: &'static str = "loadbalancer-pool";
}

/// `LoadbalancerMemberType` (the fields this project reads).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct MemberProperties {
    pub address: Option<String>,
    pub protocol_port: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct LoadbalancerMember {
    pub uuid: String,
    pub fq_name: Vec<String>,
    pub parent_uuid: Option<String>,
    pub display_name: Option<String>,
    pub annotations: KeyValuePairs,
    pub loadbalancer_member_properties: MemberProperties,
}

impl Resource for LoadbalancerMember {
    const TYPE: &'static str = "loadbalancer-member";
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Project {
    pub uuid: String,
    pub fq_name: Vec<String>,
}

impl Resource for Project {
    const TYPE: &'static str = "project";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_in_sequence_then_name_order_whatever_the_order_of_the_refs() {
        let np = |name: &str, uuid: &str, major: i64| Ref {
            to: vec!["d".into(), "p".into(), name.into()],
            uuid: uuid.into(),
            attr: json!({"sequence": {"major": major, "minor": 0}}),
        };
        // As the API server lists them: by uuid.
        let vn = VirtualNetwork {
            network_policy_refs: vec![
                np("c-pod-service-np", "1", 0),
                np("allow-web", "2", 2),
                np("c-ip-fabric-np", "3", 0),
            ],
            ..VirtualNetwork::default()
        };
        assert_eq!(
            vn.policies(),
            [
                "d:p:c-ip-fabric-np",
                "d:p:c-pod-service-np",
                "d:p:allow-web"
            ]
        );
    }

    #[test]
    fn decodes_what_the_server_sends_and_tolerates_what_it_leaves_out() {
        let vm: VirtualMachine = serde_json::from_value(json!({
            "uuid": "u", "fq_name": ["c1"], "server_type": "container",
            "annotations": {"key_value_pair": [{"key": "owner", "value": "mesos"},
                {"key": "cluster", "value": "dc1"}, {"key": "created", "value": "2026-01-02T03:04:05Z"}]},
            "id_perms": {"created": "2025-01-01T00:00:00.000000", "enable": true},
            "virtual_machine_interface_back_refs": [{"to": ["d", "p", "c1@eth0"], "uuid": "i", "href": "h"}],
            "href": "ignored"
        }))
        .expect("decodes");
        assert!(vm.is_container() && vm.is_ours("dc1") && !vm.is_ours("dc2"));
        assert_eq!(vm.container_id(), Some("c1"));
        assert!(vm.created().is_some());
        assert_eq!(
            vm.virtual_machine_interface_back_refs[0].fq_string(),
            "d:p:c1@eth0"
        );
        let sparse: VirtualMachine = serde_json::from_value(json!({"uuid": "u"})).expect("sparse");
        assert_eq!(sparse.container_id(), None);
        let vmi: VirtualMachineInterface = serde_json::from_value(json!({
            "fq_name": ["d", "p", "c1@eth3"],
            "virtual_machine_interface_mac_addresses": {"mac_address": ["02:00:00:00:00:01"]}
        }))
        .expect("decodes");
        assert_eq!(vmi.ifname(), "eth3");
        assert_eq!(vmi.mac(), Some("02:00:00:00:00:01"));
    }

    #[test]
    fn security_group_rules_read_typed_and_kept_whole() {
        let sg: SecurityGroup = serde_json::from_value(json!({
            "uuid": "s", "fq_name": ["d", "p", "web"],
            "security_group_entries": {"policy_rule": [
                {"rule_uuid": "r1", "direction": ">", "protocol": "tcp", "ethertype": "IPv4",
                 "src_addresses": [{"subnet": {"ip_prefix": "10.0.0.0", "ip_prefix_len": 8},
                                    "security_group": null, "virtual_network": null}],
                 "src_ports": [{"start_port": 0, "end_port": 65535}],
                 "dst_addresses": [{"security_group": "local"}],
                 "dst_ports": [{"start_port": 80, "end_port": 90}],
                 "action_list": null, "application": []}
            ]}
        }))
        .expect("decodes");
        assert_eq!(sg.policy_rules().len(), 1);
        assert_eq!(sg.policy_rules()[0]["application"], json!([]), "kept whole");
        let rules = sg.rules().expect("typed");
        assert_eq!(rules[0].protocol.as_deref(), Some("tcp"));
        assert_eq!(
            rules[0].src_addresses[0].subnet,
            Some(SubnetType {
                ip_prefix: Some("10.0.0.0".into()),
                ip_prefix_len: Some(8)
            })
        );
        assert_eq!(
            rules[0].dst_addresses[0].security_group.as_deref(),
            Some("local")
        );
        assert_eq!(rules[0].dst_ports[0].end_port, Some(90));
        assert!(SecurityGroup::default().rules().expect("none").is_empty());
    }

    #[test]
    fn created_as_recorded() {
        let mut vm = VirtualMachine::default();
        assert_eq!(vm.created_text(), None);
        vm.id_perms.created = Some("2025-01-01T00:00:00.000000".into());
        assert_eq!(vm.created_text(), Some("2025-01-01T00:00:00.000000"));
        vm.annotations = KeyValuePairs::from_pairs(&[("created", "2026-01-02T03:04:05Z")]);
        assert_eq!(vm.created_text(), Some("2026-01-02T03:04:05Z"));
    }

    #[test]
    fn annotations_round_trip() {
        let a = KeyValuePairs::from_pairs(&[("owner", OWNER), ("cluster", "c")]);
        assert!(is_ours(&a, "c"));
        let back: KeyValuePairs = serde_json::from_value(a.to_json()).expect("decodes");
        assert_eq!(back, a);
        assert_eq!(
            kv(&[("k", "v")]),
            json!({"key_value_pair": [{"key": "k", "value": "v"}]})
        );
    }
}
