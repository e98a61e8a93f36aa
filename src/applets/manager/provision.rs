//! Start-up provisioning: the cluster project; the three cluster policies
//! (`<cluster>-default-ip-fabric-np`, `<cluster>-default-pod-service-np`,
//! `<cluster>-default-service-np`); the pod-task IPAM and network (for tasks without a
//! `networks` label), with fabric forwarding or SNAT as configured when the network is made;
//! the service IPAM and network (for VIPs); the ip-fabric policy on the ip-fabric network; the
//! service policy and the IPAM DNS method of the networks made from labels earlier; SNAT
//! port-translation pools and the Mesos-DNS link-local service in the global-vrouter-config;
//! with `dns_domain`, the cluster's virtual-DNS, which every IPAM the manager keeps uses
//! (without, a virtual-DNS the manager made goes, after its IPAMs are back on
//! `default-dns-server`).
//!
//! It converges to the settings and changes nothing that already is as they say: every object
//! is looked up before it is made, read before it is written, and only what differs is sent
//! (only the changed properties, only the missing references). Several managers may run it at
//! once. The shapes are upstream's (`cluster.rs`); the order is that of `_provision_cluster` in
//! `vnc_mesos.py`, with the policies made before the networks so that a new network is created
//! with its policies.

use ipnet::IpNet;

use super::service::{IpamRefused, Service, api_error};
use crate::clients::contrail::config_api::{ApiError, ListQuery, RefOp};
use crate::domain::cluster::{self, FabricMode, IpamDns, LinkLocal};
use crate::domain::contrail::{
    GlobalVrouterConfig, IpamSubnets, NetworkIpam, NetworkPolicy, PolicyEntries, PolicyRule, Ref,
    VirtualDns, VirtualDnsRecord, VirtualNetwork, VirtualNetworkPolicyType, is_ours, to_value,
};
use crate::domain::dns;
use crate::domain::error::{CniError, Code};
use crate::domain::fqname::FqName;
use crate::domain::plan;

/// The uuids of the cluster's networks and policies, and what could not be made as the
/// settings say (the rest was; provisioning is tried again later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    pub pod_task: String,
    pub service: String,
    pub ip_fabric_policy: String,
    pub pod_service_policy: String,
    pub service_policy: String,
    pub incomplete: Vec<CniError>,
}

/// A cluster policy: its uuid and the networks that refer to it (none when just made).
struct Policy {
    uuid: String,
    networks: Vec<Ref>,
}

/// What an attempt could not make as the settings say: every failed step, and among them the
/// IPAMs whose DNS method Contrail refused to change.
#[derive(Default)]
struct Notes {
    incomplete: Vec<CniError>,
    dns_refused: Vec<IpamRefused>,
}

/// Provision the cluster (see the module). An error stops it at a step later steps need; a
/// step nothing depends on (the global-vrouter-config, a changed subnet list or DNS method of
/// an IPAM, the networks made from labels) that fails is listed in
/// [`Provisioned::incomplete`] and the rest goes on. The IPAMs whose DNS method Contrail
/// refused to change are also recorded in the service (`/healthz`, `/metrics`).
pub fn provision(svc: &Service) -> Result<Provisioned, CniError> {
    let s = &svc.settings;
    let mut notes = Notes::default();
    project(svc)?;
    let dns = match &s.dns_domain {
        Some(_) => IpamDns::Virtual {
            server: s.virtual_dns(),
            uuid: virtual_dns(svc)?,
        },
        None => IpamDns::Default,
    };
    if let Err(e) = global_vrouter_config(svc) {
        notes.incomplete.push(e);
    }
    let fabric = cluster::ip_fabric_network();
    let fabric_uuid = ip_fabric(svc, &fabric)?;
    let ip_fabric_np = s.ip_fabric_policy();
    let pod_service_np = s.pod_service_policy();
    let service_np = s.service_policy();
    let [ip_fabric_policy, pod_service_policy, service_policy] = [
        (&ip_fabric_np, cluster::ip_fabric_rules(&ip_fabric_np)),
        (
            &pod_service_np,
            cluster::pod_service_rules(&s.pod_task_network(), &s.service_network()),
        ),
        (
            &service_np,
            cluster::service_rules(&service_np, &s.service_network()),
        ),
    ]
    .map(|(fq, rules)| policy(svc, fq, &rules));
    let (ip_fabric_policy, pod_service_policy, service_policy) =
        (ip_fabric_policy?, pod_service_policy?, service_policy?);
    let both = [
        (ip_fabric_np.clone(), ip_fabric_policy.uuid.clone()),
        (pod_service_np.clone(), pod_service_policy.uuid.clone()),
    ];

    let pod_task = pod_task_network(svc, &dns, &both, &fabric_uuid, &mut notes)?;
    let service_ipam = flat_ipam(svc, &s.service_ipam(), &s.service_subnets, &dns, &mut notes)?;
    let mut all = both.to_vec();
    all.push((service_np.clone(), service_policy.uuid.clone()));
    let service = network(
        svc,
        &s.service_network(),
        &(s.service_ipam(), service_ipam),
        &all,
        None,
    )?;
    attach(
        svc,
        &fabric,
        &fabric_uuid,
        &[(ip_fabric_np, ip_fabric_policy.uuid.clone())],
    )?;
    let made = cluster::label_networks(
        &ip_fabric_policy.networks,
        &pod_service_policy.networks,
        &[&pod_task, &service],
    );
    if s.attach_cluster_policies {
        // Networks made from labels before the service policy existed get it now.
        let lacking: Vec<&Ref> = made
            .iter()
            .copied()
            .filter(|n| !service_policy.networks.iter().any(|r| r.uuid == n.uuid))
            .collect();
        give_policy(
            svc,
            &lacking,
            &(service_np, service_policy.uuid.clone()),
            &mut notes.incomplete,
        );
    }
    label_ipams_dns(svc, &made, &dns, &mut notes);
    if s.dns_domain.is_none() {
        remove_virtual_dns(svc, &mut notes.incomplete);
    }
    svc.set_dns_refused(notes.dns_refused);
    Ok(Provisioned {
        pod_task,
        service,
        ip_fabric_policy: ip_fabric_policy.uuid,
        pod_service_policy: pod_service_policy.uuid,
        service_policy: service_policy.uuid,
        incomplete: notes.incomplete,
    })
}

/// The pod-task network on its IPAM (the ip-fabric IPAM when forwarding over the fabric), with
/// the cluster's two policies and the fabric mode.
fn pod_task_network(
    svc: &Service,
    dns: &IpamDns,
    policies: &[(FqName, String)],
    fabric_uuid: &str,
    notes: &mut Notes,
) -> Result<String, CniError> {
    let s = &svc.settings;
    let mode = FabricMode::of(s);
    let pod_ipam = flat_ipam(svc, &s.pod_task_ipam(), &s.pod_task_subnets, dns, notes)?;
    let pod_ipam = match mode {
        FabricMode::Forwarding => (
            s.ip_fabric_ipam(),
            flat_ipam(svc, &s.ip_fabric_ipam(), &s.ip_fabric_subnets, dns, notes)?,
        ),
        _ => (s.pod_task_ipam(), pod_ipam),
    };
    network(
        svc,
        &s.pod_task_network(),
        &pod_ipam,
        policies,
        Some((mode, fabric_uuid)),
    )
}

/// The ip-fabric network's uuid: every config API has it.
fn ip_fabric(svc: &Service, fabric: &FqName) -> Result<String, CniError> {
    svc.api
        .fqname_to_id("virtual-network", fabric)
        .map_err(|e| api_error(&e, &format!("looking up virtual network {fabric}")))?
        .ok_or_else(|| {
            CniError::new(
                Code::ObjectMissing,
                format!(
                    "virtual network {fabric} does not exist: every Contrail config API has it; \
                     is {} one?",
                    svc.api.endpoint()
                ),
            )
        })
}

fn project(svc: &Service) -> Result<(), CniError> {
    let project = svc.settings.project();
    let (_, created) = svc
        .api
        .find_or_create(&plan::project(&project))
        .map_err(|e| {
            if e.is_not_found() || e.status == Some(400) {
                CniError::new(
                    Code::ObjectMissing,
                    format!(
                        "cannot create cluster project {project}: its domain does not exist ({e})"
                    ),
                )
            } else {
                api_error(&e, &format!("creating cluster project {project}"))
            }
        })?;
    if created {
        svc.metrics.created("project");
        log::info!("created cluster project {project}");
    }
    Ok(())
}

/// A cluster policy with exactly `rules`; made, or its rules put right.
fn policy(svc: &Service, fq: &FqName, rules: &[PolicyRule]) -> Result<Policy, CniError> {
    let (uuid, created) = svc
        .api
        .find_or_create(&cluster::policy(fq, rules, &svc.settings.cluster_name))
        .map_err(|e| api_error(&e, &format!("creating network-policy {fq}")))?;
    if created {
        svc.metrics.created("network-policy");
        log::info!("created network-policy {fq}");
        return Ok(Policy {
            uuid,
            networks: Vec::new(),
        });
    }
    let np: NetworkPolicy = svc
        .api
        .read_as(
            &uuid,
            &["network_policy_entries", "virtual_network_back_refs"],
        )
        .map_err(|e| api_error(&e, &format!("reading network-policy {fq}")))?;
    if let Some(rules) = cluster::rules_to_write(np.policy_rules(), rules) {
        let change = NetworkPolicy {
            network_policy_entries: to_value(&PolicyEntries { policy_rule: rules }),
            ..NetworkPolicy::default()
        };
        svc.api
            .update(&uuid, &change)
            .map_err(|e| api_error(&e, &format!("updating the rules of network-policy {fq}")))?;
        log::info!("network-policy {fq}: rules put back to the cluster's");
    }
    Ok(Policy {
        uuid,
        networks: np.virtual_network_back_refs,
    })
}

/// A flat-subnet IPAM with `subnets` and the DNS `dns` ([`cluster::IpamDns`]); made, or
/// changed where it differs. A refused change (a subnet still in use, a DNS method the API
/// server keeps while interfaces exist) is noted; one does not stop the other.
fn flat_ipam(
    svc: &Service,
    fq: &FqName,
    subnets: &[IpNet],
    dns: &IpamDns,
    notes: &mut Notes,
) -> Result<String, CniError> {
    let ipam = NetworkIpam {
        virtual_dns_refs: Some(dns.refs()),
        ..plan::flat_ipam(fq, subnets, dns.mgmt())
    };
    let (uuid, created) = svc
        .api
        .find_or_create(&ipam)
        .map_err(|e| api_error(&e, &format!("creating network-ipam {fq}")))?;
    if created {
        svc.metrics.created("network-ipam");
        log::info!("created network-ipam {fq} with {subnets:?}");
        return Ok(uuid);
    }
    let ipam: NetworkIpam = svc
        .api
        .read_as(
            &uuid,
            &[
                "ipam_subnet_method",
                "ipam_subnets",
                "network_ipam_mgmt",
                "virtual_DNS_refs",
            ],
        )
        .map_err(|e| api_error(&e, &format!("reading network-ipam {fq}")))?;
    if let Some(list) = cluster::flat_subnets_to_write(&ipam.ipam_subnets.subnets, subnets) {
        let change = NetworkIpam {
            ipam_subnets: IpamSubnets { subnets: list },
            ..NetworkIpam::default()
        };
        match svc.api.update(&uuid, &change) {
            Ok(()) => log::info!("network-ipam {fq}: subnets set to {subnets:?}"),
            Err(e) => {
                let err = CniError::new(
                    Code::Internal,
                    format!(
                        "network-ipam {fq} keeps its subnets: Contrail refused the settings' \
                         {subnets:?}: {e}"
                    ),
                );
                log::error!("{}", err.msg);
                notes.incomplete.push(err);
            }
        }
    }
    switch_dns(svc, fq, &uuid, &ipam, dns, notes);
    Ok(uuid)
}

/// Give an IPAM the manager keeps the DNS `want` when it has another (an earlier version set
/// `tenant-dns-server`, or none; `dns_domain` was turned on or off). The API server refuses some
/// changes while interfaces are on the IPAM's networks (`network_ipam.py` `is_change_allowed`):
/// that is noted (as incomplete, and among the refused IPAMs) and logged, naming the IPAM and
/// the reason, and tried again with the rest of provisioning.
fn switch_dns(
    svc: &Service,
    fq: &FqName,
    uuid: &str,
    stored: &NetworkIpam,
    want: &IpamDns,
    notes: &mut Notes,
) {
    let Some(change) = cluster::dns_to_write(&stored.network_ipam_mgmt, stored.dns_refs(), want)
    else {
        return;
    };
    let have = dns::method_of(&stored.network_ipam_mgmt);
    match svc.api.update(uuid, &change) {
        Ok(()) => log::info!(
            "network-ipam {fq}: DNS method {} (was {have})",
            match want {
                IpamDns::Virtual { server, .. } => format!("{} of {server}", want.method()),
                IpamDns::Default => want.method().to_string(),
            }
        ),
        // Deleted meanwhile: nothing to put right.
        Err(e) if e.is_not_found() => {}
        Err(e) if e.status != Some(400) => notes.incomplete.push(api_error(
            &e,
            &format!("setting DNS method {} on network-ipam {fq}", want.method()),
        )),
        Err(e) => {
            let s = &svc.settings;
            let tasks = match (&s.dns_domain, have) {
                (_, "tenant-dns-server") if s.result_nameservers().is_empty() => {
                    "the agent's DNS proxy answers SERVFAIL for tenant-dns-server, so tasks \
                     there resolve nothing: set [MESOS] dns_nameservers"
                        .to_string()
                }
                (Some(domain), _) => {
                    format!("tasks on its networks do not resolve the names of {domain} (the VIPs)")
                }
                (None, _) if !s.dns_nameservers.is_empty() => {
                    "tasks get [MESOS] dns_nameservers in their CNI result meanwhile".to_string()
                }
                (None, _) => "tasks get the DNS server the agent reports for their port".into(),
            };
            let err = CniError::new(
                Code::Internal,
                format!(
                    "network-ipam {fq} keeps DNS method {have}: Contrail refused {} ({e}); \
                     while interfaces are on its networks the API server allows no change from \
                     {have} (network_ipam.py is_change_allowed); {tasks}; tried again until it \
                     is done",
                    want.method()
                ),
            );
            log::error!("{}", err.msg);
            notes.dns_refused.push(IpamRefused {
                ipam: fq.to_string(),
                method: have.to_string(),
                wanted: want.method().to_string(),
                error: e.to_string(),
            });
            notes.incomplete.push(err);
        }
    }
}

/// The DNS of the IPAMs of networks made from labels (`<network>-ipam`, as
/// [`plan::label_ipam`] names them), read in one list.
fn label_ipams_dns(svc: &Service, networks: &[&Ref], dns: &IpamDns, notes: &mut Notes) {
    let wanted: Vec<FqName> = networks
        .iter()
        .filter_map(|n| n.fq_name())
        .filter_map(|n| plan::label_ipam(&n).ok())
        .collect();
    if wanted.is_empty() {
        return;
    }
    let q = ListQuery::detail(&["network_ipam_mgmt", "virtual_DNS_refs"]);
    let ipams: Vec<NetworkIpam> = match svc.api.list_as(&q) {
        Ok(list) => list,
        Err(e) => {
            notes.incomplete.push(api_error(
                &e,
                "listing network-ipams for the DNS method of networks made from labels",
            ));
            return;
        }
    };
    for ipam in ipams {
        let Some(fq) = FqName::from_read(&ipam.fq_name) else {
            continue;
        };
        if wanted.contains(&fq) {
            switch_dns(svc, &fq, &ipam.uuid, &ipam, dns, notes);
        }
    }
}

/// The DNS an IPAM the manager makes now gets: with `dns_domain`, the cluster's virtual-DNS
/// (looked up, remembered a while; made when it is missing), else `default-dns-server`.
fn ipam_dns(svc: &Service) -> Result<IpamDns, CniError> {
    let s = &svc.settings;
    if s.dns_domain.is_none() {
        return Ok(IpamDns::Default);
    }
    let server = s.virtual_dns();
    let uuid = match svc
        .uuid_of("virtual-DNS", &server)
        .map_err(|e| api_error(&e, &format!("looking up virtual-DNS {server}")))?
    {
        Some(u) => u,
        None => virtual_dns(svc)?,
    };
    Ok(IpamDns::Virtual { server, uuid })
}

/// What a network made from labels needs of the cluster: the cluster's policies it is made with
/// (with `attach_cluster_policies`) and its IPAM's DNS. Provisioning makes them; when it has not
/// run yet (or they were deleted), it runs now.
pub struct ForNewNetwork {
    pub policies: Vec<(FqName, String)>,
    pub dns: IpamDns,
}

pub fn for_new_network(svc: &Service) -> Result<ForNewNetwork, CniError> {
    Ok(ForNewNetwork {
        dns: ipam_dns(svc)?,
        policies: match svc.settings.attach_cluster_policies {
            true => cluster_policies(svc)?,
            false => Vec::new(),
        },
    })
}

/// The cluster's policies for a network made from labels (ip-fabric, pod-service, service).
/// Made by provisioning; when it has not run yet (or they were deleted), it runs now.
fn cluster_policies(svc: &Service) -> Result<Vec<(FqName, String)>, CniError> {
    let s = &svc.settings;
    let wanted = [
        s.ip_fabric_policy(),
        s.pod_service_policy(),
        s.service_policy(),
    ];
    let lookup = |fq: &FqName| {
        svc.uuid_of("network-policy", fq)
            .map_err(|e| api_error(&e, &format!("looking up network-policy {fq}")))
    };
    let mut found = Vec::new();
    for fq in &wanted {
        match lookup(fq)? {
            Some(u) => found.push((fq.clone(), u)),
            None => {
                let p = provision(svc)?;
                let [fabric, pod_service, service] = wanted;
                return Ok(vec![
                    (fabric, p.ip_fabric_policy),
                    (pod_service, p.pod_service_policy),
                    (service, p.service_policy),
                ]);
            }
        }
    }
    Ok(found)
}

/// The cluster's virtual-DNS ([`cluster::virtual_dns`]); made, or its data put right
/// (the whole `virtual_DNS_data`: upstream's update hook reads every key of it). Its uuid.
fn virtual_dns(svc: &Service) -> Result<String, CniError> {
    let s = &svc.settings;
    let fq = s.virtual_dns();
    let (uuid, created) = svc
        .api
        .find_or_create(&cluster::virtual_dns(s))
        .map_err(|e| api_error(&e, &format!("creating virtual-DNS {fq}")))?;
    if created {
        svc.metrics.created("virtual-DNS");
        log::info!(
            "created virtual-DNS {fq} for {}",
            s.dns_domain.as_deref().unwrap_or_default()
        );
        return Ok(uuid);
    }
    let stored: VirtualDns = svc
        .api
        .read_as(&uuid, &["virtual_DNS_data"])
        .map_err(|e| api_error(&e, &format!("reading virtual-DNS {fq}")))?;
    let want = cluster::virtual_dns_data(s);
    if let Some(data) = cluster::virtual_dns_data_to_write(&stored.virtual_dns_data, &want) {
        // With its fq-name: the update hook reads it when the forwarder forwards too.
        let change = VirtualDns {
            fq_name: fq.parts().to_vec(),
            virtual_dns_data: data,
            ..VirtualDns::default()
        };
        svc.api
            .update(&uuid, &change)
            .map_err(|e| api_error(&e, &format!("updating virtual-DNS {fq}")))?;
        log::info!("virtual-DNS {fq}: data put back to the settings' ({want})");
    }
    Ok(uuid)
}

/// Without `dns_domain`: the virtual-DNS the manager made for the cluster goes, with the
/// records it made in it (its IPAMs are back on `default-dns-server` by now). Contrail refuses
/// while something else still uses it (another record, an IPAM: 409): noted, and tried again.
/// A virtual-DNS of that name the manager did not make is left alone.
fn remove_virtual_dns(svc: &Service, incomplete: &mut Vec<CniError>) {
    let s = &svc.settings;
    let fq = s.virtual_dns();
    let failed = |e: ApiError, what: &str| api_error(&e, &format!("{what} virtual-DNS {fq}"));
    let uuid = match svc.api.fqname_to_id("virtual-DNS", &fq) {
        Ok(Some(u)) => u,
        Ok(None) => return,
        Err(e) => return incomplete.push(failed(e, "looking up")),
    };
    let stored = match svc.api.read_opt_as::<VirtualDns>(&uuid, &["annotations"]) {
        Ok(Some(v)) => v,
        Ok(None) => return,
        Err(e) => return incomplete.push(failed(e, "reading")),
    };
    if !is_ours(&stored.annotations, &s.cluster_name) {
        return;
    }
    let q = ListQuery {
        parent_id: vec![uuid.clone()],
        ..ListQuery::detail(&["annotations"])
    };
    let records: Vec<VirtualDnsRecord> = match svc.api.list_as(&q) {
        Ok(r) => r,
        Err(e) => return incomplete.push(failed(e, "listing the records of")),
    };
    for r in records
        .iter()
        .filter(|r| is_ours(&r.annotations, &s.cluster_name))
    {
        match svc.api.delete("virtual-DNS-record", &r.uuid) {
            Ok(true) => svc.metrics.deleted("virtual-DNS-record"),
            Ok(false) => {}
            Err(e) => {
                return incomplete.push(api_error(
                    &e,
                    &format!("deleting virtual-DNS-record {} of {fq}", r.uuid),
                ));
            }
        }
    }
    match svc.api.delete("virtual-DNS", &uuid) {
        Ok(gone) => {
            if gone {
                svc.metrics.deleted("virtual-DNS");
            }
            svc.forget_all();
            log::info!("[MESOS] dns_domain is off: virtual-DNS {fq} removed");
        }
        Err(e) if e.is_conflict() => {
            let err = CniError::new(
                Code::Internal,
                format!(
                    "[MESOS] dns_domain is off, but virtual-DNS {fq} is kept: Contrail refused \
                     its delete ({e}): something else still uses it (a record, an IPAM); \
                     tried again"
                ),
            );
            log::warn!("{}", err.msg);
            incomplete.push(err);
        }
        Err(e) => incomplete.push(failed(e, "deleting")),
    }
}

/// Attach `policy` to networks made from labels that lack it (made before it existed).
fn give_policy(
    svc: &Service,
    networks: &[&Ref],
    policy: &(FqName, String),
    incomplete: &mut Vec<CniError>,
) {
    for n in networks {
        let Some(fq) = n.fq_name() else { continue };
        match attach_one(svc, &fq, &n.uuid, policy) {
            Ok(()) => {}
            Err(e) if e.code == Code::ObjectMissing => {}
            Err(e) => {
                log::error!("{}", e.msg);
                incomplete.push(e);
            }
        }
    }
}

/// A cluster network on its IPAM with the cluster policies (and, for the pod-task network, its
/// fabric mode); made, or given the policies it lacks. The fabric mode is applied only when
/// the network is made, as upstream does: a network whose mode differs is reported.
fn network(
    svc: &Service,
    fq: &FqName,
    (ipam, ipam_uuid): &(FqName, String),
    policies: &[(FqName, String)],
    fabric: Option<(FabricMode, &str)>,
) -> Result<String, CniError> {
    let vn = cluster::cluster_network(plan::flat_network(fq, ipam, ipam_uuid), policies, fabric);
    let (uuid, created) = svc
        .api
        .find_or_create(&vn)
        .map_err(|e| api_error(&e, &format!("creating virtual network {fq}")))?;
    if created {
        svc.metrics.created("virtual-network");
        log::info!("created network {fq}");
        for policy in policies {
            relax(svc, fq, &uuid, policy)?;
        }
        return Ok(uuid);
    }
    let vn: VirtualNetwork = svc
        .api
        .read_as(
            &uuid,
            &["network_policy_refs", "virtual_network_refs", "fabric_snat"],
        )
        .map_err(|e| api_error(&e, &format!("reading virtual network {fq}")))?;
    if let Some((want, _)) = fabric {
        let have = cluster::fabric_mode_of(vn.fabric_snat, !vn.virtual_network_refs.is_empty());
        if have != want {
            log::warn!(
                "network {fq} was made with fabric mode {have:?}, the settings say {want:?}: \
                 ip_fabric_forwarding and ip_fabric_snat apply when the network is made; \
                 delete it (with its tasks gone) to change it"
            );
        }
    }
    attach_missing(svc, fq, &uuid, &vn, policies)?;
    Ok(uuid)
}

/// Attach the policies a network (looked up by uuid) lacks.
fn attach(
    svc: &Service,
    fq: &FqName,
    uuid: &str,
    policies: &[(FqName, String)],
) -> Result<(), CniError> {
    let vn: VirtualNetwork = svc
        .api
        .read_as(uuid, &["network_policy_refs"])
        .map_err(|e| api_error(&e, &format!("reading virtual network {fq}")))?;
    attach_missing(svc, fq, uuid, &vn, policies)
}

fn attach_missing(
    svc: &Service,
    fq: &FqName,
    uuid: &str,
    vn: &VirtualNetwork,
    policies: &[(FqName, String)],
) -> Result<(), CniError> {
    for policy in policies.iter().filter(|(_, u)| !vn.has_policy(u)) {
        attach_one(svc, fq, uuid, policy)?;
    }
    Ok(())
}

/// Attach a cluster policy to a network (sequence 0.0, relaxed for delete). A network gone
/// meanwhile is [`Code::ObjectMissing`].
fn attach_one(
    svc: &Service,
    fq: &FqName,
    uuid: &str,
    policy @ (np, np_uuid): &(FqName, String),
) -> Result<(), CniError> {
    // Relaxed first: the mark is kept on the policy whether the reference exists yet or not,
    // so a stop between the two calls leaves nothing half done.
    relax(svc, fq, uuid, policy)?;
    svc.api
        .ref_update(
            "virtual-network",
            uuid,
            "network-policy",
            np_uuid,
            RefOp::Add,
            Some(to_value(&VirtualNetworkPolicyType::at(0))),
        )
        .map_err(|e| gone_or(&e, &format!("attaching network-policy {np} to {fq}")))?;
    log::info!("attached network-policy {np} to network {fq}");
    Ok(())
}

/// Let the policy be deleted while the network refers to it (the reference goes with it).
pub fn relax(
    svc: &Service,
    fq: &FqName,
    uuid: &str,
    (np, np_uuid): &(FqName, String),
) -> Result<(), CniError> {
    svc.api.ref_relax_for_delete(uuid, np_uuid).map_err(|e| {
        gone_or(
            &e,
            &format!("relaxing the reference of network {fq} to network-policy {np} for delete"),
        )
    })
}

/// A failure of `what`: [`Code::ObjectMissing`] when Contrail answers 404 (the network went
/// meanwhile), else as [`api_error`].
fn gone_or(e: &ApiError, what: &str) -> CniError {
    match e.is_not_found() {
        true => CniError::new(Code::ObjectMissing, format!("{what}: {e}")),
        false => api_error(e, what),
    }
}

/// The global-vrouter-config's port-translation pools (with `ip_fabric_snat`) and the
/// Mesos-DNS link-local service (with `mesos_dns_link_local`), merged into what is there.
fn global_vrouter_config(svc: &Service) -> Result<(), CniError> {
    let s = &svc.settings;
    let fq = cluster::global_vrouter_config();
    let failed =
        |e: ApiError, what: &str| api_error(&e, &format!("{what} global-vrouter-config {fq}"));
    let uuid = svc
        .api
        .fqname_to_id("global-vrouter-config", &fq)
        .map_err(|e| failed(e, "looking up"))?
        .ok_or_else(|| {
            CniError::new(
                Code::ObjectMissing,
                format!("global-vrouter-config {fq} does not exist"),
            )
        })?;
    let gvc: GlobalVrouterConfig = svc
        .api
        .read_as(&uuid, &["port_translation_pools", "linklocal_services"])
        .map_err(|e| failed(e, "reading"))?;
    let mut change = GlobalVrouterConfig::default();
    let mut what = Vec::new();
    if s.ip_fabric_snat {
        change.port_translation_pools =
            cluster::pools_to_write(gvc.port_translation_pools.as_ref());
        if change.port_translation_pools.is_some() {
            what.push("port_translation_pools");
        }
    }
    let link_local = LinkLocal::mesos_dns(s);
    let taken = match cluster::link_local_to_write(
        gvc.linklocal_services.as_ref(),
        &s.mesos_dns_link_local_name(),
        link_local.as_ref(),
    ) {
        Ok(entries) => {
            if entries.is_some() {
                what.push("linklocal_services");
            }
            change.linklocal_services = entries;
            None
        }
        Err(e) => Some(CniError::new(Code::AddressConflict, e.to_string())),
    };
    if !what.is_empty() {
        svc.api
            .update(&uuid, &change)
            .map_err(|e| failed(e, &format!("merging {} into", what.join(" and "))))?;
        log::info!("global-vrouter-config: merged {}", what.join(" and "));
    }
    match taken {
        Some(e) => {
            log::error!("{}", e.msg);
            Err(e)
        }
        None => Ok(()),
    }
}
