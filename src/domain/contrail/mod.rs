//! The Contrail object model: the objects this project reads back and writes, typed, and the
//! conventions it writes (references, annotations, the marks on the objects the manager owns).
//!
//! One struct per resource type serves both ways. Field names are the API server's
//! (`vnc_api/gen/resource_common.py`). Reading, every field has a default, so a read with
//! `fields=` that leaves some out still decodes. Writing, a field left empty is not sent (the
//! server keeps what it has), and what only the server writes (back-references, `id_perms`,
//! `parent_uuid`) is never sent. The client wraps a body as `{<type>: {...}}` and adds the
//! `parent_type` of [`Resource::PARENT`]; every request body the project sends is built from
//! these types.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::fqname::FqName;

/// Marks every object the manager creates (annotation `owner`).
pub const OWNER: &str = "mesos";
/// The `kind` annotation of a task's virtual-machine.
pub const KIND: &str = "MesosTask";

/// A resource type of the config API.
pub trait Resource: DeserializeOwned + Serialize {
    /// The type as the API spells it in paths and bodies (`virtual-machine`).
    const TYPE: &'static str;
    /// The type of its parent, sent as `parent_type` when it is made (`None`: it has none,
    /// or the server finds it: `config-root` children).
    const PARENT: Option<&'static str>;

    /// Its fq-name, as read or as it is to be made.
    fn fq_name(&self) -> &[String];
}

/// `impl Resource` for a model struct with an `fq_name` field.
macro_rules! resource {
    ($t:ty, $ty:literal, $parent:expr) => {
        impl $crate::domain::contrail::Resource for $t {
            const TYPE: &'static str = $ty;
            const PARENT: Option<&'static str> = $parent;

            fn fq_name(&self) -> &[String] {
                &self.fq_name
            }
        }
    };
}

mod dns;
mod lb;
mod network;
mod task;

pub use dns::*;
pub use lb::*;
pub use network::*;
pub use task::*;

/// A reference (`*_refs`) or back-reference (`*_back_refs`). Written as `{to, uuid, attr}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ref {
    pub to: Vec<String>,
    pub uuid: String,
    pub attr: Value,
}

impl Ref {
    /// A reference to `fq` (`uuid`), without attributes.
    pub fn new(fq: &FqName, uuid: &str) -> Ref {
        Ref {
            to: fq.parts().to_vec(),
            uuid: uuid.to_string(),
            attr: Value::Null,
        }
    }

    /// A reference with attributes (`VnSubnetsType`, `VirtualNetworkPolicyType`, ...).
    pub fn with_attr(fq: &FqName, uuid: &str, attr: &impl Serialize) -> Ref {
        Ref {
            attr: to_value(attr),
            ..Ref::new(fq, uuid)
        }
    }

    /// The target's fq-name.
    pub fn fq_name(&self) -> Option<FqName> {
        FqName::from_read(&self.to)
    }

    /// The target's fq-name as `a:b:c`.
    pub fn fq_string(&self) -> String {
        self.to.join(":")
    }
}

/// A typed value as JSON. The model's types serialize to JSON whatever they hold (no map has
/// a key other than a string), so this cannot fail.
pub fn to_value(v: &impl Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
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

    /// The manager's mark (`owner`, `cluster`) followed by `more`.
    pub fn ours(cluster: &str, more: &[(&str, &str)]) -> Self {
        let mut pairs = vec![("owner", OWNER), ("cluster", cluster)];
        pairs.extend_from_slice(more);
        Self::from_pairs(&pairs)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.key_value_pair
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| kv.value.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.key_value_pair.is_empty()
    }
}

/// Whether annotations mark an object as the manager's, for this cluster.
pub fn is_ours(annotations: &KeyValuePairs, cluster: &str) -> bool {
    annotations.get("owner") == Some(OWNER) && annotations.get("cluster") == Some(cluster)
}

/// `IdPermsType`: when the object was made (the server's record, never written) and whether it
/// is enabled (written on the load balancer's objects, as kube-manager does).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdPerms {
    #[serde(skip_serializing)]
    pub created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable: Option<bool>,
}

impl IdPerms {
    /// `{"enable": true}`.
    pub fn enabled() -> Self {
        Self {
            created: None,
            enable: Some(true),
        }
    }
}

/// `PermType2`: the owning project (a uuid) and its access.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Perms2 {
    pub owner: String,
    pub owner_access: i64,
}

impl Perms2 {
    /// Owned by `project` (its uuid) with every right, as kube-manager sets it.
    pub fn owned_by(project: &str) -> Self {
        Self {
            owner: project.to_string(),
            owner_access: 7,
        }
    }
}

/// `skip_serializing_if` for properties whose default is "not set".
pub(crate) fn unset<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        let back: KeyValuePairs = serde_json::from_value(to_value(&a)).expect("decodes");
        assert_eq!(back, a);
        assert_eq!(
            to_value(&KeyValuePairs::from_pairs(&[("k", "v")])),
            json!({"key_value_pair": [{"key": "k", "value": "v"}]})
        );
    }
}
