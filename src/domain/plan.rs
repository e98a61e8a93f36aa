//! A task interface's plan: labels → the Contrail objects of one interface (names, uuids,
//! what to create and in which order), and those objects as the config API is sent them.
//! Pure: no I/O. The manager's executor walks this plan forward and its journal backwards.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

use crate::domain::contrail::{
    FloatingIp, InstanceIp, IpamSubnetType, IpamSubnets, KIND, KeyValuePairs, MacAddresses,
    NetworkIpam, Perms2, Project, Ref, VirtualMachine, VirtualMachineInterface, VirtualNetwork,
    VirtualNetworkType, to_value,
};
use crate::domain::fqname::{FqName, NameError};
use crate::domain::ids::{self, Family};
use crate::domain::labels::NetworkRequest;
use crate::domain::manager_api::{InterfaceInfo, IpInfo};
use crate::domain::settings::Settings;

/// Who the plugin's node is: what it takes to find the node's virtual-router.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeIdentity {
    /// The CNI's `vrouter-ip`.
    pub vrouter_ip: Option<String>,
    /// The node's host name, as `gethostname` gives it.
    pub hostname: Option<String>,
    /// The node's own addresses.
    pub addresses: Vec<String>,
    /// The CNI's `cluster-name` (upstream's name of the router).
    pub cluster_name: Option<String>,
}

/// One way to find the node's virtual-router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouterProbe {
    /// The router whose `virtual_router_ip_address` is this one.
    Address(String),
    /// The router named `[default-global-system-config, <name>]`.
    Name(String),
    /// A router whose address is any of these.
    AnyAddress(Vec<String>),
}

impl std::fmt::Display for RouterProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouterProbe::Address(a) => write!(f, "address {a} (vrouter-ip)"),
            RouterProbe::Name(n) => write!(f, "name {n}"),
            RouterProbe::AnyAddress(a) => write!(f, "the node's addresses {}", a.join(", ")),
        }
    }
}

/// The probes in the order contract section 4 gives: a non-loopback `vrouter-ip`, the host
/// name, its first label, the node's addresses, then `cluster-name`. Duplicates are dropped.
pub fn router_probes(node: &NodeIdentity) -> Vec<RouterProbe> {
    let mut out: Vec<RouterProbe> = Vec::new();
    let mut push = |p: RouterProbe| {
        if !out.contains(&p) {
            out.push(p);
        }
    };
    if let Some(ip) = node
        .vrouter_ip
        .as_deref()
        .and_then(|v| v.trim().parse::<IpAddr>().ok())
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
    {
        push(RouterProbe::Address(ip.to_string()));
    }
    if let Some(host) = node
        .hostname
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        push(RouterProbe::Name(host.to_string()));
        if let Some((first, _)) = host.split_once('.').filter(|(f, _)| !f.is_empty()) {
            push(RouterProbe::Name(first.to_string()));
        }
    }
    let addresses: Vec<String> = node
        .addresses
        .iter()
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
        .map(|ip| ip.to_string())
        .collect();
    if !addresses.is_empty() {
        push(RouterProbe::AnyAddress(addresses));
    }
    if let Some(name) = node
        .cluster_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        push(RouterProbe::Name(name.to_string()));
    }
    out
}

/// One ADD or DEL, as the manager received it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRequest {
    pub cid: String,
    pub ifname: String,
    pub labels: NetworkRequest,
    pub node: NodeIdentity,
}

/// A network to create when it does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSpec {
    pub ipam: FqName,
    pub subnets: Vec<IpNet>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FipSpec {
    pub pool: FqName,
    pub fq_name: FqName,
    pub uuid: String,
    pub address: Option<IpAddr>,
}

/// Everything one interface needs, in creation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub cid: String,
    pub ifname: String,
    pub cluster: String,
    pub project: FqName,
    pub network: FqName,
    /// Set when the labels give subnets: create the network with them if it is missing.
    pub create_network: Option<NetworkSpec>,
    pub vm_uuid: String,
    pub vm_fq_name: FqName,
    pub vmi_uuid: String,
    pub vmi_fq_name: FqName,
    /// The address `network-ip` asks for.
    pub ip: Option<IpAddr>,
    pub security_groups: Vec<FqName>,
    pub floating_ips: Vec<FipSpec>,
    /// Network policies (label `network-policies`) the network must have.
    pub policies: Vec<FqName>,
    /// The instance IPs' names, IPv4's then IPv6's.
    pub iip_fq_names: [FqName; 2],
    /// How to find the node's virtual-router, in order.
    pub routers: Vec<RouterProbe>,
}

impl Plan {
    /// The name of the instance IP of `family`.
    pub fn iip_fq_name(&self, family: Family) -> &FqName {
        match family {
            Family::V4 => &self.iip_fq_names[0],
            Family::V6 => &self.iip_fq_names[1],
        }
    }
}

/// Why a request cannot be planned: an object it needs cannot be named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    /// What could not be named (`project`, `interface name`, ...).
    pub what: &'static str,
    pub cause: NameError,
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.what, self.cause)
    }
}

impl std::error::Error for PlanError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

fn named<T>(what: &'static str, r: Result<T, NameError>) -> Result<T, PlanError> {
    r.map_err(|cause| PlanError { what, cause })
}

/// Build the plan. Errors name the label that cannot be turned into a name.
pub fn plan(req: &TaskRequest, settings: &Settings) -> Result<Plan, PlanError> {
    let l = &req.labels;
    let cluster = l
        .cluster_name
        .clone()
        .unwrap_or_else(|| settings.cluster_name.clone());
    let default_project = settings.project();
    let domain = l
        .domain
        .clone()
        .unwrap_or_else(|| default_project.parts()[0].clone());
    let project_name = l
        .project
        .clone()
        .unwrap_or_else(|| default_project.name().to_string());
    let project = named("project", FqName::new([domain, project_name]))?;
    let (network, create_network) = match &l.network {
        Some(net) => {
            let fq = net.resolve(&project);
            let spec = match l.subnets.is_empty() {
                true => None,
                false => Some(NetworkSpec {
                    ipam: named("network-ipam name", label_ipam(&fq))?,
                    subnets: l.subnets.clone(),
                }),
            };
            (fq, spec)
        }
        None => (settings.pod_task_network(), None),
    };
    let vmi_fq_name = named(
        "interface name",
        project.child(&ids::vmi_name(&req.cid, &req.ifname)),
    )?;
    let vm_fq_name = named("container id", FqName::new([req.cid.clone()]))?;
    let floating_ips = l
        .floating_ips
        .iter()
        .enumerate()
        .map(|(i, f)| {
            Ok(FipSpec {
                pool: f.pool.clone(),
                fq_name: named(
                    "floating-ip name",
                    f.pool.child(&ids::fip_name(&req.cid, &req.ifname, i)),
                )?,
                uuid: ids::fip_uuid(&req.cid, &req.ifname, i),
                address: f.address,
            })
        })
        .collect::<Result<Vec<_>, PlanError>>()?;
    let iip_fq_names = [Family::V4, Family::V6].map(|f| {
        named(
            "instance-ip name",
            FqName::new([ids::iip_name(&req.cid, &req.ifname, f)]),
        )
    });
    let [v4, v6] = iip_fq_names;
    let iip_fq_names = [v4?, v6?];
    Ok(Plan {
        cid: req.cid.clone(),
        ifname: req.ifname.clone(),
        cluster,
        security_groups: l
            .security_groups
            .iter()
            .map(|sg| sg.resolve(&project))
            .collect(),
        policies: l
            .network_policies
            .iter()
            .map(|np| np.resolve(&project))
            .collect(),
        project,
        network,
        create_network,
        vm_uuid: ids::vm_uuid(&req.cid),
        vm_fq_name,
        vmi_uuid: ids::vmi_uuid(&req.cid, &req.ifname),
        vmi_fq_name,
        ip: l.ip,
        floating_ips,
        iip_fq_names,
        routers: router_probes(&req.node),
    })
}

/// One subnet of a network, as its IPAM ref (or flat-subnet IPAM) describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    pub net: IpNet,
    pub gateway: Option<IpAddr>,
    pub dns: Option<IpAddr>,
    /// `subnet_uuid` of a subnet defined on the network itself (not of a flat-subnet IPAM's).
    pub uuid: Option<String>,
}

impl Subnet {
    /// Read one `IpamSubnetType` (`{"subnet": {"ip_prefix", "ip_prefix_len"}, "default_gateway",
    /// "dns_server_address", "subnet_uuid"}`); `None` without a usable prefix.
    pub fn from_ipam_subnet(v: &Value, own: bool) -> Option<Subnet> {
        let prefix = v["subnet"]["ip_prefix"].as_str()?.parse::<IpAddr>().ok()?;
        let len = u8::try_from(v["subnet"]["ip_prefix_len"].as_u64()?).ok()?;
        let net = IpNet::new(prefix, len).ok()?.trunc();
        let addr = |k: &str| {
            v[k].as_str()
                .and_then(|a| a.parse::<IpAddr>().ok())
                .filter(|a| !a.is_unspecified() && Family::of(a) == Family::of_net(&net))
        };
        Some(Subnet {
            net,
            gateway: addr("default_gateway"),
            dns: addr("dns_server_address"),
            uuid: own
                .then(|| v["subnet_uuid"].as_str().map(str::to_string))
                .flatten()
                .filter(|u| !u.is_empty()),
        })
    }
}

/// Every subnet of a network: the ones defined on its IPAM refs, and for a ref without any
/// (a flat-subnet IPAM) that IPAM's own, given in `flat` by IPAM uuid.
pub fn network_subnets(vn: &VirtualNetwork, flat: &[(String, NetworkIpam)]) -> Vec<Subnet> {
    let mut out = Vec::new();
    for r in &vn.network_ipam_refs {
        let own = VirtualNetwork::own_subnets(r);
        if !own.is_empty() {
            out.extend(
                own.into_iter()
                    .filter_map(|s| Subnet::from_ipam_subnet(s, true)),
            );
        } else if let Some((_, ipam)) = flat.iter().find(|(u, _)| *u == r.uuid) {
            out.extend(
                ipam.ipam_subnets
                    .subnets
                    .iter()
                    .filter_map(|s| Subnet::from_ipam_subnet(s, false)),
            );
        }
    }
    out
}

/// One instance IP to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IipSpec {
    pub family: Family,
    pub uuid: String,
    pub fq_name: FqName,
    pub address: Option<IpAddr>,
    pub subnet_uuid: Option<String>,
}

/// Why no instance IP can be planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressPlanError {
    /// The requested address is in none of the network's subnets.
    Outside { address: IpAddr, network: String },
}

impl std::fmt::Display for AddressPlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AddressPlanError::Outside { address, network } => write!(
                f,
                "address {address} (label network-ip) is outside every subnet of network {network}"
            ),
        }
    }
}

/// One instance IP per address family the network has subnets of (IPv4 first), each pinned
/// to its subnet when the family has only one (as kube-manager does) or when `network-ip`
/// asks for an address in it. A network whose subnets are unknown gets one instance IP of the
/// requested address's family (IPv4 without one), and the server decides.
pub fn instance_ips(p: &Plan, subnets: &[Subnet]) -> Result<Vec<IipSpec>, AddressPlanError> {
    if let Some(a) = p.ip
        && !subnets.is_empty()
        && !subnets.iter().any(|s| s.net.contains(&a))
    {
        return Err(AddressPlanError::Outside {
            address: a,
            network: p.network.to_string(),
        });
    }
    let mut families: Vec<Family> = subnets.iter().map(|s| Family::of_net(&s.net)).collect();
    families.sort();
    families.dedup();
    if families.is_empty() {
        families.push(p.ip.as_ref().map(Family::of).unwrap_or(Family::V4));
    }
    let mut out = Vec::new();
    for family in families {
        let address = p.ip.filter(|a| Family::of(a) == family);
        let of_family: Vec<&Subnet> = subnets
            .iter()
            .filter(|s| Family::of_net(&s.net) == family)
            .collect();
        let pinned = match address {
            Some(a) => of_family.iter().find(|s| s.net.contains(&a)).copied(),
            None if of_family.len() == 1 => of_family.first().copied(),
            None => None,
        };
        out.push(IipSpec {
            family,
            uuid: ids::iip_uuid(&p.cid, &p.ifname, family),
            fq_name: p.iip_fq_name(family).clone(),
            address,
            subnet_uuid: pinned.and_then(|s| s.uuid.clone()),
        });
    }
    Ok(out)
}

/// The subnet holding `ip`, if any.
pub fn subnet_holding<'a>(subnets: &'a [Subnet], ip: &IpAddr) -> Option<&'a Subnet> {
    subnets.iter().find(|s| s.net.contains(ip))
}

/// The IPAM a network made from labels gets: `<network>-ipam` in the network's project.
pub fn label_ipam(network: &FqName) -> Result<FqName, NameError> {
    match network.parent() {
        Some(parent) => parent.child(&format!("{}-ipam", network.name())),
        None => Ok(network.clone()),
    }
}

/// What the executor made (or found) for an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Made {
    pub vmi_uuid: String,
    pub vn_uuid: String,
    pub mac: String,
    /// The instance IPs' addresses, IPv4's first.
    pub addresses: Vec<IpAddr>,
    pub floating_ips: Vec<String>,
}

/// The ADD's answer for the interface: each address with its subnet's prefix length, gateway
/// and DNS address (the first one also at the top level, for upstream's plugin), and the
/// nameservers and search domains the settings give the CNI result.
pub fn answer(p: &Plan, settings: &Settings, subnets: &[Subnet], made: Made) -> InterfaceInfo {
    let ips: Vec<IpInfo> = made
        .addresses
        .iter()
        .map(|ip| {
            let s = subnet_holding(subnets, ip);
            let text = |a: Option<IpAddr>| a.map(|a| a.to_string()).unwrap_or_default();
            IpInfo {
                family: Family::of(ip).as_str().to_string(),
                ip_address: ip.to_string(),
                plen: s
                    .map(|s| s.net.prefix_len())
                    .unwrap_or(Family::of(ip).max_prefix_len()),
                gateway: text(s.and_then(|s| s.gateway)),
                dns_server: text(s.and_then(|s| s.dns)),
            }
        })
        .collect();
    let first = ips.first().cloned().unwrap_or_default();
    InterfaceInfo {
        ifname: p.ifname.clone(),
        vmi_uuid: made.vmi_uuid,
        vn_uuid: made.vn_uuid,
        vn_fq_name: p.network.to_string(),
        mac_address: made.mac,
        ip_address: first.ip_address,
        plen: first.plen,
        gateway: first.gateway,
        dns_server: first.dns_server,
        ips,
        floating_ips: made.floating_ips,
        security_groups: p.security_groups.iter().map(ToString::to_string).collect(),
        dns_nameservers: settings
            .result_nameservers()
            .iter()
            .map(ToString::to_string)
            .collect(),
        dns_search: settings.dns_search.clone(),
    }
}

/// The project, when the manager makes it (the cluster's, or one a new network goes in).
pub fn project(fq: &FqName) -> Project {
    Project {
        fq_name: fq.parts().to_vec(),
        ..Project::default()
    }
}

/// The IPAM a network made from labels refers to ([`label_ipam`] names it), with the DNS
/// `network_ipam_mgmt` the settings give.
pub fn network_ipam(ipam: &FqName, mgmt: Value) -> NetworkIpam {
    NetworkIpam {
        fq_name: ipam.parts().to_vec(),
        network_ipam_mgmt: mgmt,
        ..NetworkIpam::default()
    }
}

/// A network made from labels: its subnets on the IPAM reference, routed, with `policies`.
pub fn network(
    network: &FqName,
    spec: &NetworkSpec,
    ipam_uuid: &str,
    policies: Vec<Ref>,
) -> VirtualNetwork {
    VirtualNetwork {
        fq_name: network.parts().to_vec(),
        network_ipam_refs: vec![Ref::ipam(&spec.ipam, ipam_uuid, &spec.subnets)],
        network_policy_refs: policies,
        virtual_network_properties: Some(VirtualNetworkType::l3()),
        ..VirtualNetwork::default()
    }
}

/// A flat-subnet IPAM (the cluster's pod-task, ip-fabric and service IPAMs) with `subnets`
/// and the DNS `network_ipam_mgmt` the settings give.
pub fn flat_ipam(ipam: &FqName, subnets: &[IpNet], mgmt: Value) -> NetworkIpam {
    NetworkIpam {
        fq_name: ipam.parts().to_vec(),
        ipam_subnet_method: Some("flat-subnet".into()),
        ipam_subnets: IpamSubnets {
            subnets: subnets
                .iter()
                .map(|n| to_value(&IpamSubnetType::of(n)))
                .collect(),
        },
        network_ipam_mgmt: mgmt,
        ..NetworkIpam::default()
    }
}

/// A cluster network (pod-task, service): flat-subnet-only, addresses from its IPAM.
pub fn flat_network(network: &FqName, ipam: &FqName, ipam_uuid: &str) -> VirtualNetwork {
    VirtualNetwork {
        fq_name: network.parts().to_vec(),
        address_allocation_mode: Some("flat-subnet-only".into()),
        network_ipam_refs: vec![Ref::ipam(ipam, ipam_uuid, &[])],
        virtual_network_properties: Some(VirtualNetworkType::l3()),
        ..VirtualNetwork::default()
    }
}

/// The task's virtual-machine: named after the container, marked as the manager's.
pub fn vm(p: &Plan, created_at: &str) -> VirtualMachine {
    VirtualMachine {
        uuid: p.vm_uuid.clone(),
        fq_name: p.vm_fq_name.parts().to_vec(),
        display_name: Some(p.cid.clone()),
        server_type: Some("container".into()),
        annotations: KeyValuePairs::ours(
            &p.cluster,
            &[
                ("kind", KIND),
                ("container-id", &p.cid),
                ("created", created_at),
            ],
        ),
        ..VirtualMachine::default()
    }
}

/// What the interface refers to, once looked up or created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceRefs<'a> {
    pub vm_uuid: &'a str,
    pub vn_uuid: &'a str,
    pub project_uuid: &'a str,
    pub sg_uuids: &'a [String],
    /// The name of the node's virtual-router (the binding's `host_id`).
    pub router: &'a str,
}

/// The interface: the network, the VM, its security groups, bound to the node's router and
/// owned by the project (both as kube-manager sets them).
pub fn vmi(p: &Plan, r: &InterfaceRefs<'_>) -> VirtualMachineInterface {
    VirtualMachineInterface {
        uuid: p.vmi_uuid.clone(),
        fq_name: p.vmi_fq_name.parts().to_vec(),
        display_name: Some(format!("{}/{}", p.cid, p.ifname)),
        virtual_network_refs: vec![Ref::new(&p.network, r.vn_uuid)],
        virtual_machine_refs: vec![Ref::new(&p.vm_fq_name, r.vm_uuid)],
        security_group_refs: p
            .security_groups
            .iter()
            .zip(r.sg_uuids)
            .map(|(fq, u)| Ref::new(fq, u))
            .collect(),
        virtual_machine_interface_mac_addresses: MacAddresses {
            mac_address: ids::mac_from_uuid(&p.vmi_uuid).into_iter().collect(),
        },
        virtual_machine_interface_bindings: KeyValuePairs::from_pairs(&[("host_id", r.router)]),
        perms2: Some(Perms2::owned_by(r.project_uuid)),
        port_security_enabled: Some(true),
        annotations: KeyValuePairs::ours(
            &p.cluster,
            &[
                ("container-id", &p.cid),
                ("interface", &p.ifname),
                ("network", &p.network.to_string()),
            ],
        ),
        ..VirtualMachineInterface::default()
    }
}

/// One instance IP of the interface, pinned to a subnet or an address when the plan says.
pub fn iip(p: &Plan, iip: &IipSpec, vn_uuid: &str, vmi_uuid: &str) -> InstanceIp {
    InstanceIp {
        uuid: iip.uuid.clone(),
        fq_name: iip.fq_name.parts().to_vec(),
        instance_ip_family: Some(iip.family.as_str().into()),
        instance_ip_address: iip.address.map(|a| a.to_string()),
        subnet_uuid: iip.subnet_uuid.clone(),
        virtual_network_refs: vec![Ref::new(&p.network, vn_uuid)],
        virtual_machine_interface_refs: vec![Ref::new(&p.vmi_fq_name, vmi_uuid)],
        annotations: KeyValuePairs::ours(&p.cluster, &[]),
        ..InstanceIp::default()
    }
}

/// One floating IP of the interface, under its pool, owned by the task's project.
pub fn fip(p: &Plan, fip: &FipSpec, project_uuid: &str, vmi_uuid: &str) -> FloatingIp {
    FloatingIp {
        uuid: fip.uuid.clone(),
        fq_name: fip.fq_name.parts().to_vec(),
        floating_ip_address: fip.address.map(|a| a.to_string()),
        project_refs: vec![Ref::new(&p.project, project_uuid)],
        virtual_machine_interface_refs: vec![Ref::new(&p.vmi_fq_name, vmi_uuid)],
        annotations: KeyValuePairs::ours(&p.cluster, &[]),
        ..FloatingIp::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contrail::Resource;
    use crate::domain::labels;
    use serde_json::json;

    // The objects as the config API is sent them.
    fn vm_body(p: &Plan, created_at: &str) -> Value {
        to_value(&vm(p, created_at))
    }
    fn vmi_body(p: &Plan, r: &InterfaceRefs<'_>) -> Value {
        to_value(&vmi(p, r))
    }
    fn iip_body(p: &Plan, i: &IipSpec, vn: &str, vmi: &str) -> Value {
        to_value(&iip(p, i, vn, vmi))
    }
    fn fip_body(p: &Plan, f: &FipSpec, project: &str, vmi: &str) -> Value {
        to_value(&fip(p, f, project, vmi))
    }
    fn network_body(n: &FqName, spec: &NetworkSpec, ipam: &str) -> Value {
        to_value(&network(n, spec, ipam, Vec::new()))
    }

    fn req(pairs: &[(&str, &str)]) -> TaskRequest {
        TaskRequest {
            cid: "5baff64c-d028-47ba-864e-a5ee679fc069".into(),
            ifname: "eth0".into(),
            labels: labels::parse(pairs.iter().copied()).expect("labels"),
            node: NodeIdentity {
                vrouter_ip: Some("10.0.0.7".into()),
                hostname: Some("agent-7.dc1.example".into()),
                addresses: vec!["10.0.0.7".into(), "2001:db8::7".into()],
                cluster_name: Some("mesos".into()),
            },
        }
    }

    #[test]
    fn seed_labels_to_objects() {
        let p = plan(
            &req(&[
                ("networks", "blue-network"),
                ("network-subnets", "5.5.5.0/24"),
                ("project-name", "default-project"),
                ("domain-name", "default-domain"),
                (
                    "floating-ips",
                    "default-domain:default-project:__public__:__fip_pool_public__(10.66.77.123)",
                ),
                (
                    "security-groups",
                    "default-domain:default-project:security_groups_mesos",
                ),
            ]),
            &Settings::default(),
        )
        .expect("plan");
        assert_eq!(p.project.to_string(), "default-domain:default-project");
        assert_eq!(
            p.network.to_string(),
            "default-domain:default-project:blue-network"
        );
        let spec = p.create_network.clone().expect("network from labels");
        assert_eq!(
            spec.ipam.to_string(),
            "default-domain:default-project:blue-network-ipam"
        );
        assert_eq!(
            spec.subnets,
            vec!["5.5.5.0/24".parse::<IpNet>().expect("net")]
        );
        assert_eq!(p.vm_uuid, "5baff64c-d028-47ba-864e-a5ee679fc069");
        assert_eq!(
            p.vm_fq_name.parts(),
            ["5baff64c-d028-47ba-864e-a5ee679fc069"]
        );
        assert_eq!(
            p.vmi_fq_name.name(),
            "5baff64c-d028-47ba-864e-a5ee679fc069@eth0"
        );
        assert_eq!(
            p.security_groups[0].to_string(),
            "default-domain:default-project:security_groups_mesos"
        );
        assert_eq!(
            p.floating_ips[0].fq_name.parent(),
            Some(p.floating_ips[0].pool.clone())
        );
        assert_eq!(p.cluster, "mesos");

        let vm: VirtualMachine =
            serde_json::from_value(vm_body(&p, "2026-01-01T00:00:00")).expect("a VM");
        assert!(vm.is_container());
        assert!(vm.is_ours("mesos"));
        assert!(!vm.is_ours("other"));
        assert_eq!(vm.container_id(), Some(p.cid.as_str()));
        let sgs = ["sg-uuid".to_string()];
        let refs = InterfaceRefs {
            vm_uuid: &p.vm_uuid,
            vn_uuid: "vn-uuid",
            project_uuid: "proj-uuid",
            sg_uuids: &sgs,
            router: "agent-7.dc1.example",
        };
        let vmi = vmi_body(&p, &refs);
        assert_eq!(vmi["virtual_network_refs"][0]["uuid"], "vn-uuid");
        assert_eq!(vmi["virtual_machine_refs"][0]["uuid"], p.vm_uuid);
        assert_eq!(
            vmi["security_group_refs"][0]["to"][2],
            "security_groups_mesos"
        );
        assert_eq!(VirtualMachineInterface::PARENT, Some("project"));
        assert_eq!(
            vmi["virtual_machine_interface_bindings"]["key_value_pair"][0],
            json!({"key": "host_id", "value": "agent-7.dc1.example"})
        );
        assert_eq!(vmi["perms2"]["owner"], "proj-uuid");
        let typed: VirtualMachineInterface =
            serde_json::from_value(vmi.clone()).expect("an interface");
        assert_eq!(typed.annotations.get("container-id"), Some(p.cid.as_str()));
        assert_eq!(typed.ifname(), "eth0");
        let fip = fip_body(&p, &p.floating_ips[0], "proj-uuid", &p.vmi_uuid);
        assert_eq!(fip["floating_ip_address"], "10.66.77.123");
        assert_eq!(fip["project_refs"][0]["uuid"], "proj-uuid");
        assert_eq!(fip["virtual_machine_interface_refs"][0]["uuid"], p.vmi_uuid);
        let net = network_body(&p.network, &spec, "ipam-uuid");
        assert_eq!(
            net["network_ipam_refs"][0]["attr"]["ipam_subnets"][0]["subnet"]["ip_prefix"],
            "5.5.5.0"
        );
        assert_eq!(
            net["network_ipam_refs"][0]["attr"]["ipam_subnets"][0]["subnet"]["ip_prefix_len"],
            24
        );
    }

    #[test]
    fn defaults_without_labels() {
        let p = plan(&req(&[]), &Settings::default()).expect("plan");
        assert_eq!(p.project.to_string(), "default-domain:mesos-default");
        assert_eq!(
            p.network.to_string(),
            "default-domain:mesos-default:mesos-default-pod-task-network"
        );
        assert!(p.create_network.is_none());
        let iips = instance_ips(&p, &[]).expect("iips");
        assert_eq!(iips.len(), 1);
        let iip = iip_body(&p, &iips[0], "vn", &p.vmi_uuid);
        assert!(iip.get("instance_ip_address").is_none());
        assert_eq!(iip["instance_ip_family"], "v4");
        assert!(iip.get("subnet_uuid").is_none());
    }

    #[test]
    fn requested_address_and_cluster_override() {
        let p = plan(
            &req(&[
                ("networks", "d:p:n"),
                ("network-ip", "5.5.5.10"),
                ("cluster-name", "c2"),
            ]),
            &Settings::default(),
        )
        .expect("plan");
        assert_eq!(p.network.to_string(), "d:p:n");
        assert!(
            p.create_network.is_none(),
            "no subnets: the network must exist"
        );
        let iips = instance_ips(&p, &[]).expect("iips");
        assert_eq!(
            iip_body(&p, &iips[0], "vn", &p.vmi_uuid)["instance_ip_address"],
            "5.5.5.10"
        );
        assert_eq!(p.cluster, "c2");
    }

    #[test]
    fn network_policies_resolve_in_the_task_project() {
        let p = plan(
            &req(&[
                ("project-name", "web"),
                (
                    "network-policies",
                    "allow-web,default-domain:shared:allow-dns",
                ),
            ]),
            &Settings::default(),
        )
        .expect("plan");
        let names: Vec<String> = p.policies.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "default-domain:web:allow-web",
                "default-domain:shared:allow-dns"
            ]
        );
        assert!(
            plan(&req(&[]), &Settings::default())
                .expect("plan")
                .policies
                .is_empty()
        );
    }

    #[test]
    fn different_interfaces_get_different_objects() {
        let a = plan(&req(&[]), &Settings::default()).expect("plan");
        let mut r = req(&[]);
        r.ifname = "eth1".into();
        let b = plan(&r, &Settings::default()).expect("plan");
        assert_eq!(a.vm_uuid, b.vm_uuid);
        assert_ne!(a.vmi_uuid, b.vmi_uuid);
        assert_ne!(a.iip_fq_names, b.iip_fq_names);
    }

    fn subnet(net: &str, uuid: Option<&str>) -> Subnet {
        Subnet {
            net: net.parse().expect("net"),
            gateway: None,
            dns: None,
            uuid: uuid.map(str::to_string),
        }
    }

    #[test]
    fn one_instance_ip_per_family_pinned_to_a_lone_subnet() {
        let p = plan(&req(&[("networks", "n")]), &Settings::default()).expect("plan");
        let subnets = [
            subnet("2001:db8:1::/64", Some("s6")),
            subnet("5.5.5.0/24", Some("s4")),
        ];
        let iips = instance_ips(&p, &subnets).expect("iips");
        assert_eq!(
            iips.iter().map(|i| i.family).collect::<Vec<_>>(),
            [Family::V4, Family::V6]
        );
        assert_eq!(iips[0].subnet_uuid.as_deref(), Some("s4"));
        assert_eq!(iips[1].subnet_uuid.as_deref(), Some("s6"));
        assert_ne!(iips[0].uuid, iips[1].uuid);
        assert_eq!(
            iip_body(&p, &iips[1], "vn", "vmi")["instance_ip_family"],
            "v6"
        );
        // Two IPv4 subnets: the server picks; an address pins its own subnet.
        let two = [
            subnet("5.5.5.0/24", Some("a")),
            subnet("6.6.6.0/24", Some("b")),
        ];
        assert_eq!(instance_ips(&p, &two).expect("iips")[0].subnet_uuid, None);
        let p = plan(
            &req(&[("networks", "n"), ("network-ip", "6.6.6.9")]),
            &Settings::default(),
        )
        .expect("plan");
        let iips = instance_ips(&p, &two).expect("iips");
        assert_eq!(iips[0].subnet_uuid.as_deref(), Some("b"));
        assert_eq!(iips[0].address, Some("6.6.6.9".parse().expect("ip")));
    }

    #[test]
    fn v6_only_network_and_address_outside() {
        let p = plan(
            &req(&[("networks", "n"), ("network-ip", "2001:db8:1::10")]),
            &Settings::default(),
        )
        .expect("plan");
        let v6 = [subnet("2001:db8:1::/64", None)];
        let iips = instance_ips(&p, &v6).expect("iips");
        assert_eq!(iips.len(), 1);
        assert_eq!(iips[0].family, Family::V6);
        assert_eq!(p.iip_fq_name(Family::V6).name(), iips[0].fq_name.name());
        let e = instance_ips(&p, &[subnet("5.5.5.0/24", None)]).expect_err("outside");
        assert!(e.to_string().contains("2001:db8:1::10"), "{e}");
    }

    #[test]
    fn a_network_subnets_own_or_flat_and_cached() {
        let vn: VirtualNetwork = serde_json::from_value(json!({"uuid": "vn", "network_ipam_refs": [
            {"to": ["d", "p", "user"], "uuid": "ipam-user", "attr": {"ipam_subnets": [
                {"subnet": {"ip_prefix": "5.5.5.0", "ip_prefix_len": 24}, "default_gateway": "5.5.5.1",
                 "subnet_uuid": "s1"},
                {"subnet": {"ip_prefix": "2001:db8::", "ip_prefix_len": 64}, "subnet_uuid": "s2"}]}},
            {"to": ["d", "p", "flat"], "uuid": "ipam-flat", "attr": {"ipam_subnets": [{"subnet_uuid": "x"}]}}]}))
        .expect("network");
        let flat: NetworkIpam = serde_json::from_value(json!({"uuid": "ipam-flat",
            "ipam_subnets": {"subnets": [{"subnet": {"ip_prefix": "10.32.0.0", "ip_prefix_len": 12}}]}}))
        .expect("ipam");
        let subnets = network_subnets(&vn, &[("ipam-flat".into(), flat)]);
        assert_eq!(
            subnets
                .iter()
                .map(|s| s.net.to_string())
                .collect::<Vec<_>>(),
            ["5.5.5.0/24", "2001:db8::/64", "10.32.0.0/12"]
        );
        assert_eq!(subnets[0].uuid.as_deref(), Some("s1"));
        assert_eq!(subnets[2].uuid, None, "a flat IPAM's subnet is not pinned");
    }

    #[test]
    fn subnets_read_from_ipam_entries() {
        let s = Subnet::from_ipam_subnet(
            &json!({"subnet": {"ip_prefix": "5.5.5.0", "ip_prefix_len": 24},
                    "default_gateway": "5.5.5.1", "dns_server_address": "5.5.5.2",
                    "subnet_uuid": "u"}),
            true,
        )
        .expect("subnet");
        assert_eq!(s.net.to_string(), "5.5.5.0/24");
        assert_eq!(s.gateway, Some("5.5.5.1".parse().expect("ip")));
        assert_eq!(s.uuid.as_deref(), Some("u"));
        let flat = Subnet::from_ipam_subnet(
            &json!({"subnet": {"ip_prefix": "10.32.0.0", "ip_prefix_len": 12}, "subnet_uuid": "u",
                    "default_gateway": "0.0.0.0"}),
            false,
        )
        .expect("subnet");
        assert_eq!((flat.uuid, flat.gateway), (None, None));
        assert!(Subnet::from_ipam_subnet(&json!({"subnet_uuid": "u"}), true).is_none());
    }

    #[test]
    fn router_probes_follow_the_contract_order() {
        let node = NodeIdentity {
            vrouter_ip: Some("127.0.0.1".into()),
            hostname: Some("agent-7.dc1.example".into()),
            addresses: vec!["10.0.0.7".into(), "127.0.0.1".into(), "junk".into()],
            cluster_name: Some("mesos".into()),
        };
        assert_eq!(
            router_probes(&node),
            vec![
                RouterProbe::Name("agent-7.dc1.example".into()),
                RouterProbe::Name("agent-7".into()),
                RouterProbe::AnyAddress(vec!["10.0.0.7".into()]),
                RouterProbe::Name("mesos".into()),
            ]
        );
        // An upstream plugin sends only vrouter-ip and cluster-name.
        let upstream = NodeIdentity {
            vrouter_ip: Some("10.0.0.7".into()),
            cluster_name: Some("agent-7".into()),
            ..NodeIdentity::default()
        };
        assert_eq!(
            router_probes(&upstream),
            vec![
                RouterProbe::Address("10.0.0.7".into()),
                RouterProbe::Name("agent-7".into())
            ]
        );
        // A short host name that is also the cluster name is asked once.
        let short = NodeIdentity {
            hostname: Some("agent-7".into()),
            cluster_name: Some("agent-7".into()),
            ..NodeIdentity::default()
        };
        assert_eq!(
            router_probes(&short),
            vec![RouterProbe::Name("agent-7".into())]
        );
        assert!(router_probes(&NodeIdentity::default()).is_empty());
    }
}
