//! Contrail's own DNS: a virtual-DNS server and its records.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{KeyValuePairs, unset};

/// A virtual-DNS: its `VirtualDnsType`, kept whole (an update must carry all of it:
/// `virtual_dns.py` reads every key of the request's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VirtualDns {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uuid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fq_name: Vec<String>,
    #[serde(skip_serializing_if = "KeyValuePairs::is_empty")]
    pub annotations: KeyValuePairs,
    #[serde(rename = "virtual_DNS_data", skip_serializing_if = "Value::is_null")]
    pub virtual_dns_data: Value,
}

resource!(VirtualDns, "virtual-DNS", Some("domain"));

/// `VirtualDnsType` as the manager writes it for the cluster's virtual-DNS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VirtualDnsType {
    pub domain_name: String,
    pub dynamic_records_from_client: bool,
    pub record_order: String,
    pub default_ttl_seconds: i64,
    pub external_visible: bool,
    #[serde(rename = "next_virtual_DNS", skip_serializing_if = "Option::is_none")]
    pub next_virtual_dns: Option<String>,
}

/// `VirtualDnsRecordType` (the fields this project writes; a stored one may hold nulls).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DnsRecordData {
    pub record_name: Option<String>,
    pub record_type: Option<String>,
    pub record_class: Option<String>,
    pub record_data: Option<String>,
    pub record_ttl_seconds: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VirtualDnsRecord {
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
    #[serde(rename = "virtual_DNS_record_data", skip_serializing_if = "unset")]
    pub data: DnsRecordData,
}

resource!(VirtualDnsRecord, "virtual-DNS-record", Some("virtual-DNS"));
