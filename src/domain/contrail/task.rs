//! The objects of a task's interface: its virtual-machine and interface, instance and
//! floating IPs, the node's virtual-router, security groups, projects.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{IdPerms, KeyValuePairs, Perms2, PolicyRule, Ref, is_ours, unset};
use crate::domain::fqname::FqName;
use crate::domain::ids;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VirtualMachine {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uuid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fq_name: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_type: Option<String>,
    #[serde(skip_serializing_if = "KeyValuePairs::is_empty")]
    pub annotations: KeyValuePairs,
    #[serde(skip_serializing)]
    pub id_perms: IdPerms,
    #[serde(skip_serializing)]
    pub virtual_machine_interface_back_refs: Vec<Ref>,
    #[serde(skip_serializing)]
    pub virtual_router_back_refs: Vec<Ref>,
}

resource!(VirtualMachine, "virtual-machine", None);

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

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MacAddresses {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mac_address: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VirtualMachineInterface {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uuid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fq_name: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub perms2: Option<Perms2>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_security_enabled: Option<bool>,
    /// A VIP interface's owner (`MESOS:LOADBALANCER`, as kube-manager's `K8S:LOADBALANCER`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_machine_interface_device_owner: Option<String>,
    #[serde(skip_serializing_if = "KeyValuePairs::is_empty")]
    pub annotations: KeyValuePairs,
    #[serde(skip_serializing_if = "KeyValuePairs::is_empty")]
    pub virtual_machine_interface_bindings: KeyValuePairs,
    #[serde(skip_serializing_if = "unset")]
    pub virtual_machine_interface_mac_addresses: MacAddresses,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub virtual_machine_refs: Vec<Ref>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub virtual_network_refs: Vec<Ref>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_group_refs: Vec<Ref>,
    #[serde(skip_serializing)]
    pub instance_ip_back_refs: Vec<Ref>,
    #[serde(skip_serializing)]
    pub floating_ip_back_refs: Vec<Ref>,
}

resource!(
    VirtualMachineInterface,
    "virtual-machine-interface",
    Some("project")
);

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

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceIp {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uuid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fq_name: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_ip_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_ip_family: Option<String>,
    /// The subnet the address is taken from (a network's own subnet, by its `subnet_uuid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet_uuid: Option<String>,
    #[serde(skip_serializing_if = "KeyValuePairs::is_empty")]
    pub annotations: KeyValuePairs,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub virtual_machine_interface_refs: Vec<Ref>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub virtual_network_refs: Vec<Ref>,
}

resource!(InstanceIp, "instance-ip", None);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FloatingIp {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uuid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fq_name: Vec<String>,
    #[serde(skip_serializing)]
    pub parent_uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floating_ip_address: Option<String>,
    #[serde(skip_serializing_if = "KeyValuePairs::is_empty")]
    pub annotations: KeyValuePairs,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub project_refs: Vec<Ref>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub virtual_machine_interface_refs: Vec<Ref>,
    /// Port translation (svc-monitor's native driver sets it on a VIP's floating IP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floating_ip_port_mappings: Option<PortMappings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floating_ip_port_mappings_enable: Option<bool>,
}

/// `PortMappings` (vnc_cfg.xsd).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PortMappings {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<PortMap>,
}

/// `PortMap`: traffic to `src_port` (of `protocol`) goes to `dst_port`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PortMap {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    pub src_port: i64,
    pub dst_port: i64,
}

resource!(FloatingIp, "floating-ip", Some("floating-ip-pool"));

impl FloatingIp {
    /// The pool's fq-name (the floating IP's parent).
    pub fn pool(&self) -> Option<FqName> {
        FqName::from_read(&self.fq_name)?.parent()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FloatingIpPool {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uuid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fq_name: Vec<String>,
    #[serde(skip_serializing)]
    pub parent_uuid: Option<String>,
}

resource!(FloatingIpPool, "floating-ip-pool", Some("virtual-network"));

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VirtualRouter {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uuid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fq_name: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_router_ip_address: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub virtual_machine_refs: Vec<Ref>,
}

resource!(
    VirtualRouter,
    "virtual-router",
    Some("global-system-config")
);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SecurityGroup {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uuid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fq_name: Vec<String>,
    /// `PolicyEntriesType`: `{"policy_rule": [...]}`.
    #[serde(skip_serializing_if = "Value::is_null")]
    pub security_group_entries: Value,
    #[serde(skip_serializing)]
    pub virtual_machine_interface_back_refs: Vec<Ref>,
}

resource!(SecurityGroup, "security-group", Some("project"));

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

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Project {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uuid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fq_name: Vec<String>,
}

resource!(Project, "project", Some("domain"));
