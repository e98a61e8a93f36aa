//! Contrail's native load balancer: the load balancer, its listeners, pools and members.

use serde::{Deserialize, Serialize};

use super::{KeyValuePairs, Ref, unset};

/// `LoadbalancerType` (the fields this project reads).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadbalancerProperties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vip_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operating_status: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Loadbalancer {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uuid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fq_name: Vec<String>,
    #[serde(skip_serializing_if = "KeyValuePairs::is_empty")]
    pub annotations: KeyValuePairs,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loadbalancer_provider: Option<String>,
    #[serde(skip_serializing_if = "unset")]
    pub loadbalancer_properties: LoadbalancerProperties,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub virtual_machine_interface_refs: Vec<Ref>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub service_appliance_set_refs: Vec<Ref>,
    #[serde(skip_serializing)]
    pub loadbalancer_listener_back_refs: Vec<Ref>,
}

resource!(Loadbalancer, "loadbalancer", Some("project"));

/// `LoadbalancerListenerType` (the fields this project reads).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListenerProperties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_port: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadbalancerListener {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uuid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fq_name: Vec<String>,
    #[serde(skip_serializing_if = "KeyValuePairs::is_empty")]
    pub annotations: KeyValuePairs,
    #[serde(skip_serializing_if = "unset")]
    pub loadbalancer_listener_properties: ListenerProperties,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub loadbalancer_refs: Vec<Ref>,
}

resource!(
    LoadbalancerListener,
    "loadbalancer-listener",
    Some("project")
);

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadbalancerPool {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uuid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fq_name: Vec<String>,
    #[serde(skip_serializing_if = "KeyValuePairs::is_empty")]
    pub annotations: KeyValuePairs,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub loadbalancer_listener_refs: Vec<Ref>,
    /// Its members (children: `to` and `uuid` only).
    #[serde(skip_serializing)]
    pub loadbalancer_members: Vec<Ref>,
}

resource!(LoadbalancerPool, "loadbalancer-pool", Some("project"));

/// `LoadbalancerMemberType` (the fields this project reads).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemberProperties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_port: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadbalancerMember {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uuid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fq_name: Vec<String>,
    #[serde(skip_serializing)]
    pub parent_uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "KeyValuePairs::is_empty")]
    pub annotations: KeyValuePairs,
    #[serde(skip_serializing_if = "unset")]
    pub loadbalancer_member_properties: MemberProperties,
}

resource!(
    LoadbalancerMember,
    "loadbalancer-member",
    Some("loadbalancer-pool")
);
