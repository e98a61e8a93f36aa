//! Contrail's native load balancer: the load balancer, its listeners, pools and members.
//!
//! Their properties are written with every key, `null` where there is no value, as
//! kube-manager's vnc_api writes them: svc-monitor's native driver reads each key of them
//! (a `loadbalancer_properties` without `vip_subnet_id` makes it raise and do nothing).

use serde::{Deserialize, Serialize};

use super::{IdPerms, KeyValuePairs, Ref, unset};

/// `LoadbalancerType`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadbalancerProperties {
    pub status: Option<String>,
    pub provisioning_status: Option<String>,
    pub operating_status: Option<String>,
    pub vip_subnet_id: Option<String>,
    pub vip_address: Option<String>,
    pub admin_state: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Loadbalancer {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uuid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fq_name: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
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

/// `LoadbalancerListenerType`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListenerProperties {
    pub protocol: Option<String>,
    pub protocol_port: Option<i64>,
    pub admin_state: Option<bool>,
    pub connection_limit: Option<i64>,
    pub default_tls_container: Option<String>,
    pub sni_containers: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadbalancerListener {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uuid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fq_name: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_perms: Option<IdPerms>,
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

/// `LoadbalancerPoolType`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PoolProperties {
    pub status: Option<String>,
    pub status_description: Option<String>,
    pub admin_state: Option<bool>,
    pub protocol: Option<String>,
    pub loadbalancer_method: Option<String>,
    pub subnet_id: Option<String>,
    pub session_persistence: Option<String>,
    pub persistence_cookie_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadbalancerPool {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uuid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fq_name: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_perms: Option<IdPerms>,
    #[serde(skip_serializing_if = "KeyValuePairs::is_empty")]
    pub annotations: KeyValuePairs,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loadbalancer_pool_properties: Option<PoolProperties>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub loadbalancer_listener_refs: Vec<Ref>,
    /// Its members (children: `to` and `uuid` only).
    #[serde(skip_serializing)]
    pub loadbalancer_members: Vec<Ref>,
}

resource!(LoadbalancerPool, "loadbalancer-pool", Some("project"));

/// `LoadbalancerMemberType`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemberProperties {
    pub admin_state: Option<bool>,
    pub status: Option<String>,
    pub status_description: Option<String>,
    pub protocol_port: Option<i64>,
    pub weight: Option<i64>,
    pub address: Option<String>,
    pub subnet_id: Option<String>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_perms: Option<IdPerms>,
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
