//! The cluster's own Contrail objects, pure (no I/O): the two cluster policies and their rules,
//! how networks refer to them, the fabric mode of the pod-task network, the subnets and DNS of
//! flat IPAMs, the cluster's virtual-DNS (`dns_domain`), and the merges into the global-vrouter-config (fabric-SNAT port-translation
//! pools, link-local services) that keep what an operator configured there.
//! `provision.rs` and `add.rs` make the calls.
//!
//! The shapes are upstream's: Juniper/contrail-controller R2005
//! `src/container/mesos-manager/mesos_manager/vnc/vnc_mesos.py` (`_provision_cluster`,
//! `_create_np_vn_policy`, `_attach_policy`, `_allocate_fabric_snat_port_translation_pools`,
//! `_create_network`) and `src/container/kube-manager/kube_manager/vnc/vnc_kubernetes.py`
//! (`_create_vn_vn_policy`, `_create_attach_policy`), and
//! `kube_manager/common/link_local_manager.py`. Where upstream replaces (the pools, set
//! wholesale) or sends a stale object (the policy update that sends the freshly built object),
//! this module computes the change and nothing else: `None` means "leave it as it is".

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use serde_json::{Map, Value};

use crate::domain::contrail::{
    ActionList, AddressType, IpamDnsAddress, IpamDnsMgmt, IpamSubnetType, KeyValuePairs,
    LinklocalServiceEntry, LinklocalServices, NetworkIpam, NetworkPolicy, PolicyEntries,
    PolicyRule, PortTranslationPool, PortTranslationPools, PortType, Ref, VirtualDns,
    VirtualDnsType, VirtualNetwork, to_value,
};
use crate::domain::dns;
use crate::domain::fqname::FqName;
use crate::domain::settings::Settings;

/// The fabric's network, which every Contrail API server creates.
pub const IP_FABRIC: [&str; 3] = ["default-domain", "default-project", "ip-fabric"];
/// The one global vRouter config.
pub const GLOBAL_VROUTER_CONFIG: [&str; 2] = [
    "default-global-system-config",
    "default-global-vrouter-config",
];

pub fn ip_fabric_network() -> FqName {
    FqName::from_checked_parts(IP_FABRIC.iter().map(|s| s.to_string()).collect())
}

pub fn global_vrouter_config() -> FqName {
    FqName::from_checked_parts(
        GLOBAL_VROUTER_CONFIG
            .iter()
            .map(|s| s.to_string())
            .collect(),
    )
}

fn any_port() -> Vec<PortType> {
    vec![PortType {
        start_port: Some(-1),
        end_port: Some(-1),
    }]
}

fn network(fq: &FqName) -> AddressType {
    AddressType {
        virtual_network: Some(fq.to_string()),
        ..AddressType::default()
    }
}

/// A `<>` pass rule for any protocol and port between two ends, IPv4 (`ethertype` is required
/// by the schema; vnc_api fills it in, a raw client must send it).
pub fn pass_rule(src: AddressType, dst: AddressType) -> PolicyRule {
    PolicyRule {
        direction: Some("<>".into()),
        protocol: Some("any".into()),
        ethertype: Some("IPv4".into()),
        action_list: Some(ActionList {
            simple_action: Some("pass".into()),
        }),
        src_addresses: vec![src],
        src_ports: any_port(),
        dst_addresses: vec![dst],
        dst_ports: any_port(),
        ..PolicyRule::default()
    }
}

/// `<cluster>-default-ip-fabric-np`: every network the policy is attached to (the source is the
/// policy itself) and the ip-fabric network, both ways.
pub fn ip_fabric_rules(policy: &FqName) -> Vec<PolicyRule> {
    vec![pass_rule(
        attached_to(policy),
        network(&ip_fabric_network()),
    )]
}

/// Every network `policy` is attached to, as a rule's end.
fn attached_to(policy: &FqName) -> AddressType {
    AddressType {
        network_policy: Some(policy.to_string()),
        ..AddressType::default()
    }
}

/// `<cluster>-default-service-np`: every network the policy is attached to (the networks made
/// from labels and the service network; the source is the policy itself) and the service
/// network, both ways, so that tasks on any network reach the VIPs. The schema transformer
/// connects two networks only when a rule of a policy attached to both names each end; this
/// one connects each network it is attached to with the service network, and no two of those
/// networks with each other (checked against upstream's schema transformer:
/// `contrail-api-server/start-with-daemons.py`).
pub fn service_rules(policy: &FqName, service: &FqName) -> Vec<PolicyRule> {
    vec![pass_rule(attached_to(policy), network(service))]
}

/// `<cluster>-default-pod-service-np`: the pod-task and the service networks, both ways (one
/// rule per pair of networks, as `_create_vn_vn_policy`).
pub fn pod_service_rules(pod_task: &FqName, service: &FqName) -> Vec<PolicyRule> {
    vec![pass_rule(network(pod_task), network(service))]
}

/// A cluster policy with its rules, marked as the manager's.
pub fn policy(fq: &FqName, rules: &[PolicyRule], cluster: &str) -> NetworkPolicy {
    NetworkPolicy {
        fq_name: fq.parts().to_vec(),
        network_policy_entries: to_value(&PolicyEntries::of(rules)),
        annotations: KeyValuePairs::ours(cluster, &[]),
        ..NetworkPolicy::default()
    }
}

/// A value as it means something: without what a client may leave out or send empty (null,
/// `[]`, `{}`), whole numbers as integers (`-1.0` is `-1`).
fn stripped(v: &Value) -> Value {
    fn strip(v: &Value) -> Option<Value> {
        match v {
            Value::Null => None,
            Value::Array(a) if a.is_empty() => None,
            Value::Array(a) => Some(Value::Array(a.iter().filter_map(strip).collect())),
            Value::Object(m) => {
                let kept: Map<String, Value> = m
                    .iter()
                    .filter_map(|(k, v)| strip(v).map(|v| (k.clone(), v)))
                    .collect();
                (!kept.is_empty()).then_some(Value::Object(kept))
            }
            Value::Number(n) => Some(
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                    .map(|f| Value::from(f as i64))
                    .unwrap_or_else(|| v.clone()),
            ),
            other => Some(other.clone()),
        }
    }
    strip(v).unwrap_or(Value::Null)
}

/// A rule as it means something: [`stripped`], without what the server adds (`rule_uuid`,
/// timestamps), and `ethertype` IPv4 when absent (the schema's default).
fn meaning(rule: &Value) -> Value {
    let mut v = stripped(rule);
    if let Some(m) = v.as_object_mut() {
        for k in ["rule_uuid", "created", "last_modified"] {
            m.remove(k);
        }
        m.entry("ethertype").or_insert_with(|| "IPv4".into());
    }
    v
}

/// Whether two rules mean the same.
pub fn same_rule(a: &Value, b: &Value) -> bool {
    meaning(a) == meaning(b)
}

/// The rules to write so that a policy holds exactly `wanted` (in that order), or `None` when
/// it does already. A stored rule that means a wanted one is kept whole (its `rule_uuid`
/// stays); rules that are not wanted go: the cluster policies are the manager's.
pub fn rules_to_write(stored: &[Value], wanted: &[PolicyRule]) -> Option<Vec<Value>> {
    let wanted = PolicyEntries::of(wanted).policy_rule;
    let mut taken = vec![false; stored.len()];
    let mut out = Vec::with_capacity(wanted.len());
    for w in &wanted {
        match (0..stored.len()).find(|&i| !taken[i] && same_rule(&stored[i], w)) {
            Some(i) => {
                taken[i] = true;
                out.push(stored[i].clone());
            }
            None => out.push(w.clone()),
        }
    }
    let unchanged = stored.len() == wanted.len() && taken.iter().all(|t| *t);
    (!unchanged).then_some(out)
}

/// The networks made from labels with the cluster's policies, as the policies' back-references
/// show them: those holding both the ip-fabric and the pod-service policy, the cluster's own
/// networks (uuids in `own`) aside.
pub fn label_networks<'a>(fabric: &'a [Ref], pod_service: &[Ref], own: &[&str]) -> Vec<&'a Ref> {
    fabric
        .iter()
        .filter(|r| pod_service.iter().any(|p| p.uuid == r.uuid))
        .filter(|r| !own.contains(&r.uuid.as_str()))
        .collect()
}

/// References to the cluster policies, sequence 0.0 as upstream attaches them.
pub fn cluster_policy_refs(policies: &[(FqName, String)]) -> Vec<Ref> {
    policies
        .iter()
        .map(|(fq, uuid)| Ref::policy(fq, uuid, 0))
        .collect()
}

/// How the pod-task network reaches the fabric, when it is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FabricMode {
    /// Routed over the ip-fabric network, with addresses from the ip-fabric subnets
    /// (`ip_fabric_forwarding`; wins over SNAT).
    Forwarding,
    /// Fabric SNAT (`ip_fabric_snat`).
    Snat,
    /// Neither: only the ip-fabric policy connects it.
    Policy,
}

impl FabricMode {
    pub fn of(s: &Settings) -> FabricMode {
        match (s.ip_fabric_forwarding, s.ip_fabric_snat) {
            (true, _) => FabricMode::Forwarding,
            (false, true) => FabricMode::Snat,
            (false, false) => FabricMode::Policy,
        }
    }
}

/// A cluster network (pod-task or service) with its policies; the pod-task network also with
/// its fabric mode (`fabric_snat`, or a reference to ip-fabric). `vn` is
/// [`crate::domain::plan::flat_network`]'s.
pub fn cluster_network(
    vn: VirtualNetwork,
    policies: &[(FqName, String)],
    fabric: Option<(FabricMode, &str)>,
) -> VirtualNetwork {
    let mut vn = VirtualNetwork {
        network_policy_refs: cluster_policy_refs(policies),
        ..vn
    };
    if let Some((mode, ip_fabric_uuid)) = fabric {
        vn.fabric_snat = Some(mode == FabricMode::Snat);
        if mode == FabricMode::Forwarding {
            vn.virtual_network_refs = vec![Ref::new(&ip_fabric_network(), ip_fabric_uuid)];
        }
    }
    vn
}

/// The fabric mode an existing network has.
pub fn fabric_mode_of(fabric_snat: Option<bool>, routed_over_fabric: bool) -> FabricMode {
    match (routed_over_fabric, fabric_snat) {
        (true, _) => FabricMode::Forwarding,
        (false, Some(true)) => FabricMode::Snat,
        _ => FabricMode::Policy,
    }
}

/// The DNS an IPAM the manager makes (or keeps, the cluster's) gives its networks. The one home
/// of the method.
///
/// Never `tenant-dns-server`: the agent hands tenant servers only to DHCP clients and its DNS
/// proxy answers SERVFAIL for that method (controller `src/vnsw/agent/services/dns_handler.cc`),
/// while a task on a CNI network takes its resolvers from the CNI result; and once interfaces
/// exist the API server lets no IPAM leave `tenant-dns-server` nor an unset method
/// (`network_ipam.py` `is_change_allowed`), so the method is set when the IPAM is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpamDns {
    /// `default-dns-server`: the agent's DNS proxy at the subnet's service address forwards to
    /// the node's resolvers (Mesos-DNS, dcos-dns). From it the API server allows a change to
    /// `virtual-dns-server` even with interfaces present.
    Default,
    /// `virtual-dns-server` (`[MESOS] dns_domain`): the agent's DNS proxy asks Contrail's DNS
    /// for the cluster's virtual-DNS (`server`, its `uuid`), which holds the VIPs' records and
    /// forwards the rest to its `next_virtual_DNS`. The API server allows a change back to
    /// `default-dns-server` at any time.
    Virtual { server: FqName, uuid: String },
}

impl IpamDns {
    /// The `ipam_dns_method`.
    pub fn method(&self) -> &'static str {
        match self {
            IpamDns::Default => "default-dns-server",
            IpamDns::Virtual { .. } => dns::VIRTUAL_DNS_SERVER,
        }
    }

    /// The `network_ipam_mgmt` (`IpamType`) of an IPAM the manager makes: the method, and for
    /// a virtual-DNS its name (`IpamDnsAddressType.virtual_dns_server_name`, how the agent
    /// finds it).
    pub fn mgmt(&self) -> Value {
        let server = match self {
            IpamDns::Default => None,
            IpamDns::Virtual { server, .. } => Some(IpamDnsAddress {
                virtual_dns_server_name: server.to_string(),
            }),
        };
        to_value(&IpamDnsMgmt {
            ipam_dns_method: self.method().into(),
            ipam_dns_server: server,
        })
    }

    /// The IPAM's `virtual_DNS_refs`: the virtual-DNS it uses, or none.
    pub fn refs(&self) -> Vec<Ref> {
        match self {
            IpamDns::Default => Vec::new(),
            IpamDns::Virtual { server, uuid } => vec![Ref::new(server, uuid)],
        }
    }

    /// Whether an IPAM's stored `network_ipam_mgmt` and `virtual_DNS_refs` are this.
    pub fn holds(&self, mgmt: &Value, refs: &[Ref]) -> bool {
        match self {
            IpamDns::Default => dns_method_of(mgmt) == Some(self.method()) && refs.is_empty(),
            IpamDns::Virtual { server, .. } => dns::ipam_uses(mgmt, refs, server),
        }
    }
}

/// What to write (one update, so that a refused method change changes nothing) so that an
/// IPAM's DNS is `want`: its `network_ipam_mgmt` with the method (and server) replaced, its other
/// settings (DHCP options, host routes) kept and the servers of another method dropped (the
/// tenant servers of `tenant-dns-server`); its `virtual_DNS_refs` when they differ. `None` when
/// the IPAM holds `want` already.
pub fn dns_to_write(stored: &Value, refs: &[Ref], want: &IpamDns) -> Option<NetworkIpam> {
    if want.holds(stored, refs) {
        return None;
    }
    let mut mgmt = match stored {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    mgmt.remove("ipam_dns_server");
    if let Value::Object(m) = want.mgmt() {
        mgmt.extend(m);
    }
    let wanted: Vec<&str> = match want {
        IpamDns::Default => Vec::new(),
        IpamDns::Virtual { uuid, .. } => vec![uuid.as_str()],
    };
    let have: Vec<&str> = refs.iter().map(|r| r.uuid.as_str()).collect();
    Some(NetworkIpam {
        network_ipam_mgmt: Value::Object(mgmt),
        virtual_dns_refs: (have != wanted).then(|| want.refs()),
        ..NetworkIpam::default()
    })
}

/// The `ipam_dns_method` of a stored `network_ipam_mgmt` (`None`: unset).
pub fn dns_method_of(mgmt: &Value) -> Option<&str> {
    mgmt["ipam_dns_method"].as_str()
}

/// TTL of the cluster virtual-DNS's records when they give none (`default_ttl_seconds`), and of
/// the VIPs' records.
pub const DNS_TTL: i64 = 60;

/// The cluster's virtual-DNS data (`VirtualDnsType`): `domain_name` = `dns_domain`, records
/// served in random order, TTL 60 s, no records from clients, and the names it does not hold
/// forwarded to the first `dns_nameservers` address (none: left out). `external_visible`:
/// Contrail's DNS (`contrail-named` on the control nodes) serves the domain also to queries
/// that do not come through a vRouter agent (hosts, Mesos-DNS forwarding to it): each
/// virtual-DNS is a view only the agent's queries select, and the view every other query gets
/// holds the zones of the virtual-DNS servers marked so (controller
/// `src/dns/bind/named_config.cc`, `WriteViewConfig`, `WriteDefaultView`).
pub fn virtual_dns_data(s: &Settings) -> Value {
    to_value(&VirtualDnsType {
        domain_name: s.dns_domain.clone().unwrap_or_default(),
        dynamic_records_from_client: false,
        record_order: "random".into(),
        default_ttl_seconds: DNS_TTL,
        external_visible: true,
        next_virtual_dns: s.next_virtual_dns().map(|n| n.to_string()),
    })
}

/// The cluster's virtual-DNS, under its domain, marked as the manager's.
pub fn virtual_dns(s: &Settings) -> VirtualDns {
    VirtualDns {
        fq_name: s.virtual_dns().parts().to_vec(),
        virtual_dns_data: virtual_dns_data(s),
        annotations: KeyValuePairs::ours(&s.cluster_name, &[("kind", "dns")]),
        ..VirtualDns::default()
    }
}

/// The whole `virtual_DNS_data` to write (upstream's update hook reads every key of it from
/// the request) so that the stored data holds `want`'s keys, the others kept; a
/// `next_virtual_DNS` `want` lacks is cleared. `None` when it does already.
pub fn virtual_dns_data_to_write(stored: &Value, want: &Value) -> Option<Value> {
    let mut out = match stored {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let mut changed = false;
    if let Value::Object(w) = want {
        for (k, v) in w {
            if stripped(&out.get(k).cloned().unwrap_or(Value::Null)) != stripped(v) {
                out.insert(k.clone(), v.clone());
                changed = true;
            }
        }
        if !w.contains_key("next_virtual_DNS")
            && !stripped(&out.get("next_virtual_DNS").cloned().unwrap_or(Value::Null)).is_null()
        {
            out.insert("next_virtual_DNS".into(), Value::Null);
            changed = true;
        }
    }
    changed.then_some(Value::Object(out))
}

fn entry_net(e: &Value) -> Option<IpNet> {
    let prefix: IpAddr = e["subnet"]["ip_prefix"].as_str()?.parse().ok()?;
    let len = u8::try_from(e["subnet"]["ip_prefix_len"].as_u64()?).ok()?;
    IpNet::new(prefix, len).ok().map(|n| n.trunc())
}

/// The subnets to write so that a flat IPAM holds exactly `want` (in that order), or `None`
/// when it does already. Entries kept are kept whole (their `subnet_uuid`, gateway, DNS
/// address and allocation pools stay).
pub fn flat_subnets_to_write(stored: &[Value], want: &[IpNet]) -> Option<Vec<Value>> {
    let mut have: Vec<(IpNet, &Value)> = stored
        .iter()
        .filter_map(|e| entry_net(e).map(|n| (n, e)))
        .collect();
    have.dedup_by_key(|(n, _)| *n);
    let same = have.len() == stored.len()
        && have.len() == want.len()
        && want.iter().all(|w| have.iter().any(|(n, _)| n == w));
    if same {
        return None;
    }
    Some(
        want.iter()
            .map(|w| match have.iter().find(|(n, _)| n == w) {
                Some((_, e)) => (*e).clone(),
                None => to_value(&IpamSubnetType::of(w)),
            })
            .collect(),
    )
}

/// One fabric-SNAT port-translation pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnatPool {
    pub protocol: &'static str,
    pub start: u16,
    pub end: u16,
}

/// Upstream's pools: 1024 host ports per protocol from 56000.
pub const SNAT_POOLS: [SnatPool; 2] = [
    SnatPool {
        protocol: "tcp",
        start: 56000,
        end: 57023,
    },
    SnatPool {
        protocol: "udp",
        start: 57024,
        end: 58047,
    },
];

/// A pool's protocol as the agent reads it: a name, or its IP protocol number.
fn protocol_name(p: &str) -> String {
    match p.trim().to_ascii_lowercase().as_str() {
        "6" => "tcp".into(),
        "17" => "udp".into(),
        other => other.to_string(),
    }
}

/// The `port_translation_pools` to write: the stored pools, whole, plus upstream's pool for
/// each protocol that has none (only `port_range`, as kube-manager sets it: the schema makes
/// `port_count` and `port_range` exclusive). `None` when every protocol has a pool.
pub fn pools_to_write(stored: Option<&PortTranslationPools>) -> Option<PortTranslationPools> {
    let mut pools: Vec<Value> = stored
        .map(|p| p.port_translation_pool.clone())
        .unwrap_or_default();
    let has = |pools: &[Value], proto: &str| {
        pools.iter().any(|p| {
            p["protocol"]
                .as_str()
                .is_some_and(|q| protocol_name(q) == proto)
        })
    };
    let mut added = false;
    for pool in SNAT_POOLS {
        if !has(&pools, pool.protocol) {
            pools.push(to_value(&PortTranslationPool {
                protocol: pool.protocol.into(),
                port_range: PortType {
                    start_port: Some(i64::from(pool.start)),
                    end_port: Some(i64::from(pool.end)),
                },
            }));
            added = true;
        }
    }
    added.then_some(PortTranslationPools {
        port_translation_pool: pools,
    })
}

/// A link-local service: `ip:port` inside every task network forwarded to a fabric address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkLocal {
    pub name: String,
    pub ip: Ipv4Addr,
    pub port: u16,
    pub fabric_ip: Ipv4Addr,
    pub fabric_port: u16,
}

impl LinkLocal {
    /// The Mesos-DNS entry the settings ask for: `mesos_dns_link_local` forwarded to port 53
    /// of the first `dns_nameservers` address. `None` when not asked for, or when either
    /// address is not IPv4 (`Settings::validate` refuses that).
    pub fn mesos_dns(s: &Settings) -> Option<LinkLocal> {
        let at = s.mesos_dns_link_local?;
        let (IpAddr::V4(ip), Some(IpAddr::V4(fabric_ip))) = (at.ip(), s.dns_nameservers.first())
        else {
            return None;
        };
        Some(LinkLocal {
            name: s.mesos_dns_link_local_name(),
            ip,
            port: at.port(),
            fabric_ip: *fabric_ip,
            fabric_port: 53,
        })
    }

    /// `LinklocalServiceEntryType`, as `link_local_manager.py` writes it.
    pub fn entry(&self) -> Value {
        to_value(&LinklocalServiceEntry {
            linklocal_service_name: self.name.clone(),
            linklocal_service_ip: self.ip.to_string(),
            linklocal_service_port: self.port,
            ip_fabric_service_ip: vec![self.fabric_ip.to_string()],
            ip_fabric_service_port: self.fabric_port,
        })
    }
}

/// Why the link-local entry cannot be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkLocalTaken {
    pub wanted: String,
    /// The name of the entry that has the address and port.
    pub by: String,
    pub at: String,
}

impl std::fmt::Display for LinkLocalTaken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "link-local service {} ([MESOS] mesos_dns_link_local): {} is taken by the \
             global-vrouter-config's entry {:?}, which is left as it is",
            self.wanted, self.at, self.by
        )
    }
}

impl std::error::Error for LinkLocalTaken {}

/// The `linklocal_services` to write: entries merged by name. With `want`, the entry named
/// `name` is added or made equal to it; without, an entry named `name` is removed. Other
/// entries stay whole; one of them holding `want`'s address and port is an error (nothing is
/// replaced). `Ok(None)`: nothing to change.
pub fn link_local_to_write(
    stored: Option<&LinklocalServices>,
    name: &str,
    want: Option<&LinkLocal>,
) -> Result<Option<LinklocalServices>, LinkLocalTaken> {
    let mut entries: Vec<Value> = stored
        .map(|l| l.linklocal_service_entry.clone())
        .unwrap_or_default();
    let services = |linklocal_service_entry| LinklocalServices {
        linklocal_service_entry,
    };
    let pos = entries
        .iter()
        .position(|e| e["linklocal_service_name"] == name);
    let Some(want) = want else {
        return Ok(pos.map(|i| {
            entries.remove(i);
            services(entries)
        }));
    };
    if let Some(other) = entries.iter().find(|e| {
        e["linklocal_service_name"] != name
            && e["linklocal_service_ip"]
                .as_str()
                .and_then(|a| a.parse().ok())
                == Some(want.ip)
            && e["linklocal_service_port"].as_u64() == Some(u64::from(want.port))
    }) {
        return Err(LinkLocalTaken {
            wanted: name.to_string(),
            by: other["linklocal_service_name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            at: format!("{}:{}", want.ip, want.port),
        });
    }
    let entry = want.entry();
    match pos {
        Some(i) if stripped(&entries[i]) == stripped(&entry) => Ok(None),
        Some(i) => {
            entries[i] = entry;
            Ok(Some(services(entries)))
        }
        None => {
            entries.push(entry);
            Ok(Some(services(entries)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contrail::Resource;
    use serde_json::json;

    // The functions under test, at the level of the JSON the config API is sent and answers.
    fn policy_body(fq: &FqName, rules: &[PolicyRule], cluster: &str) -> Value {
        to_value(&policy(fq, rules, cluster))
    }
    fn typed<T: serde::de::DeserializeOwned>(v: &Value) -> Option<T> {
        (!v.is_null()).then(|| serde_json::from_value(v.clone()).expect("decodes"))
    }
    fn pools(stored: &Value) -> Option<Value> {
        pools_to_write(typed(stored).as_ref()).map(|p| to_value(&p))
    }
    fn link_local(
        stored: &Value,
        name: &str,
        want: Option<&LinkLocal>,
    ) -> Result<Option<Value>, LinkLocalTaken> {
        link_local_to_write(typed(stored).as_ref(), name, want).map(|l| l.map(|l| to_value(&l)))
    }
    fn with_dns(mut ipam: Value, dns: &IpamDns) -> Value {
        ipam["network_ipam_mgmt"] = dns.mgmt();
        if let IpamDns::Virtual { .. } = dns {
            ipam["virtual_DNS_refs"] = to_value(&dns.refs());
        }
        ipam
    }
    fn dns_change(stored: &Value, refs: &[Ref], want: &IpamDns) -> Option<Value> {
        dns_to_write(stored, refs, want).map(|c| to_value(&c))
    }
    fn virtual_dns_body(s: &Settings) -> Value {
        to_value(&virtual_dns(s))
    }

    fn fq(s: &str) -> FqName {
        FqName::parse(s).expect("fq-name")
    }

    #[test]
    fn ip_fabric_policy_is_upstreams_rule_with_ethertype() {
        let np = fq("default-domain:mesos-default:mesos-default-ip-fabric-np");
        let body = policy_body(&np, &ip_fabric_rules(&np), "mesos");
        assert_eq!(
            body["network_policy_entries"],
            json!({"policy_rule": [{
                "direction": "<>", "protocol": "any", "ethertype": "IPv4",
                "action_list": {"simple_action": "pass"},
                "src_addresses": [{"network_policy": "default-domain:mesos-default:mesos-default-ip-fabric-np"}],
                "src_ports": [{"start_port": -1, "end_port": -1}],
                "dst_addresses": [{"virtual_network": "default-domain:default-project:ip-fabric"}],
                "dst_ports": [{"start_port": -1, "end_port": -1}]}]})
        );
        assert_eq!(NetworkPolicy::PARENT, Some("project"));
        assert_eq!(body["fq_name"], np.to_json());
        assert_eq!(body["annotations"]["key_value_pair"][0]["value"], "mesos");
        let sn = fq("d:p:d-default-service-np");
        let sv = serde_json::to_value(&service_rules(&sn, &fq("d:p:svc"))[0]).expect("rule");
        assert_eq!(
            (&sv["src_addresses"], &sv["dst_addresses"], &sv["direction"]),
            (
                &json!([{"network_policy": "d:p:d-default-service-np"}]),
                &json!([{"virtual_network": "d:p:svc"}]),
                &json!("<>")
            ),
            "the networks it is attached to <-> the service network"
        );
        let ps = pod_service_rules(&fq("d:p:pod"), &fq("d:p:svc"));
        let v = serde_json::to_value(&ps[0]).expect("rule");
        assert_eq!(v["src_addresses"], json!([{"virtual_network": "d:p:pod"}]));
        assert_eq!(v["dst_addresses"], json!([{"virtual_network": "d:p:svc"}]));
        assert_eq!(v["direction"], "<>");
    }

    #[test]
    fn rules_converge_without_duplicates_and_keep_uuids() {
        let np = fq("d:p:np");
        let wanted = ip_fabric_rules(&np);
        let mine = serde_json::to_value(&wanted[0]).expect("rule");
        // As stored: a uuid added, and as vnc_api writes it, every other field null or empty
        // and no ethertype.
        let mut stored = mine.clone();
        stored["rule_uuid"] = "r1".into();
        stored["application"] = json!([]);
        stored["rule_sequence"] = Value::Null;
        stored["action_list"]["log"] = Value::Null;
        stored["src_ports"][0]["start_port"] = json!(-1.0);
        if let Some(m) = stored.as_object_mut() {
            m.remove("ethertype");
        }
        assert_eq!(rules_to_write(std::slice::from_ref(&stored), &wanted), None);
        // Missing: written. Twice stored: once kept. Changed: replaced.
        assert_eq!(rules_to_write(&[], &wanted), Some(vec![mine.clone()]));
        let twice = rules_to_write(&[stored.clone(), stored.clone()], &wanted).expect("change");
        assert_eq!(twice, vec![stored.clone()]);
        let mut deny = stored.clone();
        deny["action_list"]["simple_action"] = "deny".into();
        let fixed = rules_to_write(&[deny, stored.clone()], &wanted).expect("change");
        assert_eq!(fixed, vec![stored.clone()], "the uuid r1 stays");
        let mut v6 = mine.clone();
        v6["ethertype"] = "IPv6".into();
        assert!(!same_rule(&v6, &mine));
    }

    #[test]
    fn label_networks_hold_both_policies_and_are_not_the_clusters() {
        let r = |u: &str| Ref {
            to: vec!["d".into(), "p".into(), u.into()],
            uuid: u.into(),
            attr: Value::Null,
        };
        let fabric = [r("ip-fabric"), r("pod"), r("svc"), r("blue"), r("theirs")];
        let pod_service = [r("pod"), r("svc"), r("blue")];
        let got: Vec<&str> = label_networks(&fabric, &pod_service, &["pod", "svc"])
            .iter()
            .map(|n| n.uuid.as_str())
            .collect();
        assert_eq!(got, ["blue"]);
    }

    #[test]
    fn networks_refer_to_the_policies_and_the_fabric_mode_is_applied() {
        let base = VirtualNetwork {
            fq_name: vec!["d".into(), "p".into(), "n".into()],
            ..VirtualNetwork::default()
        };
        let pols = [
            (fq("d:p:a"), "ua".to_string()),
            (fq("d:p:b"), "ub".to_string()),
        ];
        let body = |fabric| to_value(&cluster_network(base.clone(), &pols, fabric));
        let fwd = body(Some((FabricMode::Forwarding, "f")));
        assert_eq!(
            fwd["network_policy_refs"][1],
            json!({"to": ["d", "p", "b"], "uuid": "ub",
                   "attr": {"sequence": {"major": 0, "minor": 0}}})
        );
        assert_eq!(fwd["virtual_network_refs"][0]["to"], json!(IP_FABRIC));
        assert_eq!(fwd["fabric_snat"], false);
        let snat = body(Some((FabricMode::Snat, "f")));
        assert_eq!(snat["fabric_snat"], true);
        assert!(snat.get("virtual_network_refs").is_none());
        let service = body(None);
        assert!(service.get("fabric_snat").is_none());
        let s = Settings {
            ip_fabric_forwarding: true,
            ip_fabric_snat: true,
            ..Settings::default()
        };
        assert_eq!(
            FabricMode::of(&s),
            FabricMode::Forwarding,
            "forwarding wins"
        );
        assert_eq!(fabric_mode_of(Some(true), false), FabricMode::Snat);
        assert_eq!(fabric_mode_of(None, false), FabricMode::Policy);
    }

    #[test]
    fn pools_are_added_only_for_a_protocol_without_one() {
        let ours_tcp =
            json!({"protocol": "tcp", "port_range": {"start_port": 56000, "end_port": 57023}});
        let ours_udp =
            json!({"protocol": "udp", "port_range": {"start_port": 57024, "end_port": 58047}});
        assert_eq!(
            pools(&Value::Null),
            Some(json!({"port_translation_pool": [ours_tcp, ours_udp]}))
        );
        // An operator's TCP pool (by number) stays as it is; only UDP is added.
        let theirs = json!({"protocol": "6", "port_count": "500"});
        assert_eq!(
            pools(&json!({"port_translation_pool": [theirs]})),
            Some(json!({"port_translation_pool": [theirs, ours_udp]}))
        );
        let both = json!({"port_translation_pool": [
            {"protocol": "UDP", "port_range": {"start_port": 1000, "end_port": 1999}},
            {"protocol": "tcp", "port_count": "100"}]});
        assert_eq!(pools(&both), None);
    }

    fn dns_entry() -> LinkLocal {
        LinkLocal {
            name: "mesos-mesos-dns".into(),
            ip: Ipv4Addr::new(169, 254, 169, 253),
            port: 53,
            fabric_ip: Ipv4Addr::new(10, 0, 0, 2),
            fabric_port: 53,
        }
    }

    #[test]
    fn link_local_entries_merge_by_name() {
        let metadata = json!({"linklocal_service_name": "metadata",
            "linklocal_service_ip": "169.254.169.254", "linklocal_service_port": 80,
            "ip_fabric_service_ip": ["127.0.0.1"], "ip_fabric_service_port": 8775});
        let want = dns_entry();
        let stored = json!({"linklocal_service_entry": [metadata]});
        let added = link_local(&stored, &want.name, Some(&want))
            .expect("free")
            .expect("added");
        assert_eq!(
            added["linklocal_service_entry"],
            json!([metadata, {"linklocal_service_name": "mesos-mesos-dns",
                "linklocal_service_ip": "169.254.169.253", "linklocal_service_port": 53,
                "ip_fabric_service_ip": ["10.0.0.2"], "ip_fabric_service_port": 53}])
        );
        // Present and equal: nothing; another nameserver: that entry changes, alone.
        assert_eq!(link_local(&added, &want.name, Some(&want)), Ok(None));
        let moved = LinkLocal {
            fabric_ip: Ipv4Addr::new(10, 0, 0, 3),
            ..want.clone()
        };
        let changed = link_local(&added, &want.name, Some(&moved))
            .expect("ours")
            .expect("changed");
        assert_eq!(changed["linklocal_service_entry"][0], metadata);
        assert_eq!(
            changed["linklocal_service_entry"][1]["ip_fabric_service_ip"],
            json!(["10.0.0.3"])
        );
        // Not wanted any more: ours goes, the operator's stays; absent: nothing to do.
        let removed = link_local(&changed, &want.name, None)
            .expect("ours")
            .expect("removed");
        assert_eq!(removed["linklocal_service_entry"], json!([metadata]));
        assert_eq!(link_local(&removed, &want.name, None), Ok(None));
        // An operator's entry on the same address and port is not replaced.
        let mut theirs = metadata.clone();
        theirs["linklocal_service_ip"] = "169.254.169.253".into();
        theirs["linklocal_service_port"] = 53.into();
        let e = link_local(
            &json!({"linklocal_service_entry": [theirs]}),
            &want.name,
            Some(&want),
        )
        .expect_err("taken");
        assert_eq!(e.by, "metadata");
        assert!(e.to_string().contains("169.254.169.253:53"), "{e}");
    }

    fn vdns() -> IpamDns {
        IpamDns::Virtual {
            server: fq("default-domain:mesos-dns"),
            uuid: "vd".into(),
        }
    }

    fn to_vdns(uuid: &str) -> Ref {
        Ref {
            to: vec!["default-domain".into(), "mesos-dns".into()],
            uuid: uuid.into(),
            attr: Value::Null,
        }
    }

    #[test]
    fn ipam_dns_and_subnets_converge() {
        let dns = IpamDns::Default;
        assert_eq!(
            with_dns(json!({}), &dns),
            json!({"network_ipam_mgmt": {"ipam_dns_method": "default-dns-server"}}),
            "a new IPAM: default-dns-server, never the nameservers"
        );
        // No network_ipam_mgmt, or one without a method: set.
        assert_eq!(
            dns_change(&Value::Null, &[], &dns),
            Some(json!({"network_ipam_mgmt": {"ipam_dns_method": "default-dns-server"}}))
        );
        let dhcp = json!({"dhcp_option_list": {"dhcp_option": [{"dhcp_option_name": "15", "dhcp_option_value": "mesos"}]}});
        let mut want = dhcp.clone();
        want["ipam_dns_method"] = "default-dns-server".into();
        assert_eq!(
            dns_change(&dhcp, &[], &dns),
            Some(json!({"network_ipam_mgmt": want.clone()})),
            "DHCP kept"
        );
        // tenant-dns-server (an earlier version's): the method changes, the servers go, the
        // rest stays.
        let mut tenant = dhcp.clone();
        tenant["ipam_dns_method"] = "tenant-dns-server".into();
        tenant["ipam_dns_server"] =
            json!({"tenant_dns_server_address": {"ip_address": ["10.0.0.2"]}});
        assert_eq!(dns_method_of(&tenant), Some("tenant-dns-server"));
        assert_eq!(
            dns_change(&tenant, &[], &dns),
            Some(json!({"network_ipam_mgmt": want.clone()}))
        );
        // Already so: nothing.
        assert_eq!(dns_change(&want, &[], &dns), None);
        assert_eq!(dns_method_of(&Value::Null), None);
    }

    #[test]
    fn ipams_switch_to_the_virtual_dns_and_back_in_one_update() {
        let on = vdns();
        let made = with_dns(json!({"fq_name": ["d", "p", "i"]}), &on);
        assert_eq!(
            made["network_ipam_mgmt"],
            json!({"ipam_dns_method": "virtual-dns-server",
                   "ipam_dns_server": {"virtual_dns_server_name": "default-domain:mesos-dns"}})
        );
        assert_eq!(
            made["virtual_DNS_refs"],
            json!([{"to": ["default-domain", "mesos-dns"], "uuid": "vd", "attr": null}])
        );
        // From default-dns-server (DHCP options kept): method, server and reference at once.
        let dhcp = json!({"ipam_dns_method": "default-dns-server",
            "dhcp_option_list": {"dhcp_option": [{"dhcp_option_name": "15", "dhcp_option_value": "x"}]}});
        let change = dns_change(&dhcp, &[], &on).expect("switch");
        assert_eq!(
            change["network_ipam_mgmt"]["ipam_dns_server"]["virtual_dns_server_name"],
            "default-domain:mesos-dns"
        );
        assert_eq!(
            change["network_ipam_mgmt"]["dhcp_option_list"],
            dhcp["dhcp_option_list"]
        );
        assert_eq!(change["virtual_DNS_refs"][0]["uuid"], "vd");
        // Switched: nothing; the reference lost: only it differs, the method is written as is.
        let stored = change["network_ipam_mgmt"].clone();
        assert_eq!(dns_change(&stored, &[to_vdns("vd")], &on), None);
        let fix = dns_change(&stored, &[], &on).expect("the reference");
        assert_eq!(fix["network_ipam_mgmt"], stored);
        assert_eq!(fix["virtual_DNS_refs"].as_array().map(Vec::len), Some(1));
        // Another server named, or a second reference: ours only.
        let mut other = stored.clone();
        other["ipam_dns_server"]["virtual_dns_server_name"] = "default-domain:x".into();
        let fix = dns_change(&other, &[to_vdns("x")], &on).expect("ours");
        assert_eq!(fix["network_ipam_mgmt"], stored);
        assert_eq!(fix["virtual_DNS_refs"][0]["uuid"], "vd");
        assert!(dns_change(&stored, &[to_vdns("vd"), to_vdns("x")], &on).is_some());
        // dns_domain off again: back to default-dns-server, the reference dropped.
        let back = dns_change(&stored, &[to_vdns("vd")], &IpamDns::Default).expect("back");
        assert_eq!(
            back,
            json!({"network_ipam_mgmt": {"ipam_dns_method": "default-dns-server",
                                         "dhcp_option_list": dhcp["dhcp_option_list"]},
                   "virtual_DNS_refs": []})
        );
    }

    #[test]
    fn the_virtual_dns_is_the_contracts_and_converges_whole() {
        let s = Settings {
            dns_domain: Some("l4lb.thisdcos.directory".into()),
            dns_nameservers: vec!["10.0.0.2".parse().expect("ip")],
            ..Settings::default()
        };
        let body = virtual_dns_body(&s);
        assert_eq!(body["fq_name"], json!(["default-domain", "mesos-dns"]));
        assert_eq!(VirtualDns::PARENT, Some("domain"));
        let want = json!({"domain_name": "l4lb.thisdcos.directory",
            "dynamic_records_from_client": false, "record_order": "random",
            "default_ttl_seconds": 60, "external_visible": true, "next_virtual_DNS": "10.0.0.2"});
        assert_eq!(body["virtual_DNS_data"], want);
        // As stored (every other field null): nothing to write.
        let mut stored = want.clone();
        stored["floating_ip_record"] = Value::Null;
        stored["reverse_resolution"] = Value::Null;
        assert_eq!(virtual_dns_data_to_write(&stored, &want), None);
        // Another domain: the whole data, the rest kept.
        stored["domain_name"] = "old.example".into();
        stored["reverse_resolution"] = true.into();
        let put = virtual_dns_data_to_write(&stored, &want).expect("changed");
        assert_eq!(put["domain_name"], "l4lb.thisdcos.directory");
        assert_eq!(put["reverse_resolution"], true);
        assert_eq!(put["default_ttl_seconds"], 60);
        // No nameservers any more: the forwarder is cleared.
        let none = virtual_dns_data(&Settings {
            dns_nameservers: Vec::new(),
            ..s.clone()
        });
        assert!(none.get("next_virtual_DNS").is_none());
        let put = virtual_dns_data_to_write(&want, &none).expect("cleared");
        assert_eq!(put["next_virtual_DNS"], Value::Null);
        assert_eq!(virtual_dns_data_to_write(&put, &none), None);
    }

    #[test]
    fn flat_subnets_converge() {
        let net = |s: &str| s.parse::<IpNet>().expect("net");
        let stored = vec![
            json!({"subnet": {"ip_prefix": "10.32.0.0", "ip_prefix_len": 12},
                                 "subnet_uuid": "s1", "default_gateway": "10.47.255.254"}),
        ];
        assert_eq!(flat_subnets_to_write(&stored, &[net("10.32.0.0/12")]), None);
        let grown = flat_subnets_to_write(&stored, &[net("10.32.0.0/12"), net("10.48.0.0/12")])
            .expect("grown");
        assert_eq!(grown[0], stored[0], "kept whole");
        assert_eq!(
            grown[1],
            json!({"subnet": {"ip_prefix": "10.48.0.0", "ip_prefix_len": 12}})
        );
        let moved = flat_subnets_to_write(&stored, &[net("10.48.0.0/12")]).expect("moved");
        assert_eq!(moved.len(), 1);
        assert_eq!(moved[0]["subnet"]["ip_prefix"], "10.48.0.0");
    }
}
