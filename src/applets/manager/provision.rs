//! Start-up provisioning: the cluster project; the two cluster policies
//! (`<cluster>-default-ip-fabric-np`, `<cluster>-default-pod-service-np`); the pod-task IPAM and
//! network (for tasks without a `networks` label), with fabric forwarding or SNAT as configured
//! when the network is made; the service IPAM and network (for VIPs); the ip-fabric policy on
//! the ip-fabric network; SNAT port-translation pools and the Mesos-DNS link-local service in
//! the global-vrouter-config.
//!
//! It converges to the settings and changes nothing that already is as they say: every object
//! is looked up before it is made, read before it is written, and only what differs is sent
//! (only the changed properties, only the missing references). Several managers may run it at
//! once. The shapes are upstream's (`cluster.rs`); the order is that of `_provision_cluster` in
//! `vnc_mesos.py`, with the policies made before the networks so that a new network is created
//! with its policies.

use ipnet::IpNet;
use serde_json::{Map, Value, json};

use super::cluster::{self, FabricMode, LinkLocal};
use super::plan;
use super::service::{Service, api_error};
use crate::clients::contrail::config_api::{ApiError, RefOp};
use crate::domain::contrail::{
    GlobalVrouterConfig, NetworkIpam, NetworkPolicy, PolicyRule, VirtualNetwork,
};
use crate::domain::error::{CniError, Code};
use crate::domain::fqname::FqName;

/// The uuids of the cluster's networks and policies, and what could not be made as the
/// settings say (the rest was; provisioning is tried again later).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    pub pod_task: String,
    pub service: String,
    pub ip_fabric_policy: String,
    pub pod_service_policy: String,
    pub incomplete: Vec<CniError>,
}

/// Provision the cluster (see the module). An error stops it at a step later steps need; a
/// step nothing depends on (the global-vrouter-config, a changed subnet list or DNS servers
/// of an IPAM) that fails is listed in [`Provisioned::incomplete`] and the rest goes on.
pub fn provision(svc: &Service) -> Result<Provisioned, CniError> {
    let s = &svc.settings;
    let mut incomplete = Vec::new();
    project(svc)?;
    if let Err(e) = global_vrouter_config(svc) {
        incomplete.push(e);
    }
    let fabric = cluster::ip_fabric_network();
    let fabric_uuid = svc
        .api
        .fqname_to_id("virtual-network", &fabric)
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
        })?;

    let ip_fabric_np = s.ip_fabric_policy();
    let pod_service_np = s.pod_service_policy();
    let ip_fabric_policy = policy(svc, &ip_fabric_np, &cluster::ip_fabric_rules(&ip_fabric_np))?;
    let pod_service_policy = policy(
        svc,
        &pod_service_np,
        &cluster::pod_service_rules(&s.pod_task_network(), &s.service_network()),
    )?;
    let both = [
        (ip_fabric_np.clone(), ip_fabric_policy.clone()),
        (pod_service_np.clone(), pod_service_policy.clone()),
    ];

    let mode = FabricMode::of(s);
    let pod_ipam = flat_ipam(
        svc,
        &s.pod_task_ipam(),
        &s.pod_task_subnets,
        &mut incomplete,
    )?;
    let pod_ipam = match mode {
        FabricMode::Forwarding => (
            s.ip_fabric_ipam(),
            flat_ipam(
                svc,
                &s.ip_fabric_ipam(),
                &s.ip_fabric_subnets,
                &mut incomplete,
            )?,
        ),
        _ => (s.pod_task_ipam(), pod_ipam),
    };
    let pod_task = network(
        svc,
        &s.pod_task_network(),
        &pod_ipam,
        &both,
        Some((mode, &fabric_uuid)),
    )?;
    let service_ipam = flat_ipam(svc, &s.service_ipam(), &s.service_subnets, &mut incomplete)?;
    let service = network(
        svc,
        &s.service_network(),
        &(s.service_ipam(), service_ipam),
        &both,
        None,
    )?;
    attach(
        svc,
        &fabric,
        &fabric_uuid,
        &[(ip_fabric_np, ip_fabric_policy.clone())],
    )?;
    Ok(Provisioned {
        pod_task,
        service,
        ip_fabric_policy,
        pod_service_policy,
        incomplete,
    })
}

fn project(svc: &Service) -> Result<(), CniError> {
    let project = svc.settings.project();
    let (_, created) = svc
        .api
        .find_or_create("project", plan::project_body(&project))
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
fn policy(svc: &Service, fq: &FqName, rules: &[PolicyRule]) -> Result<String, CniError> {
    let body = cluster::policy_body(fq, rules, &svc.settings.cluster_name);
    let (uuid, created) = svc
        .api
        .find_or_create("network-policy", body)
        .map_err(|e| api_error(&e, &format!("creating network-policy {fq}")))?;
    if created {
        svc.metrics.created("network-policy");
        log::info!("created network-policy {fq}");
        return Ok(uuid);
    }
    let np: NetworkPolicy = svc
        .api
        .read_as(&uuid, &["network_policy_entries"])
        .map_err(|e| api_error(&e, &format!("reading network-policy {fq}")))?;
    if let Some(rules) = cluster::rules_to_write(np.policy_rules(), rules) {
        svc.api
            .update(
                "network-policy",
                &uuid,
                json!({"network_policy_entries": {"policy_rule": rules}}),
            )
            .map_err(|e| api_error(&e, &format!("updating the rules of network-policy {fq}")))?;
        log::info!("network-policy {fq}: rules put back to the cluster's");
    }
    Ok(uuid)
}

/// A flat-subnet IPAM with `subnets` and, when configured, the tenant DNS servers; made, or
/// changed where it differs. A refused change (a subnet still in use) is noted in `incomplete`.
fn flat_ipam(
    svc: &Service,
    fq: &FqName,
    subnets: &[IpNet],
    incomplete: &mut Vec<CniError>,
) -> Result<String, CniError> {
    let dns = &svc.settings.dns_nameservers;
    let body = cluster::with_dns(plan::flat_ipam_body(fq, subnets), dns);
    let (uuid, created) = svc
        .api
        .find_or_create("network-ipam", body)
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
            &["ipam_subnet_method", "ipam_subnets", "network_ipam_mgmt"],
        )
        .map_err(|e| api_error(&e, &format!("reading network-ipam {fq}")))?;
    let mut change = Map::new();
    if let Some(list) = cluster::flat_subnets_to_write(&ipam.ipam_subnets.subnets, subnets) {
        change.insert("ipam_subnets".into(), json!({"subnets": list}));
    }
    if let Some(mgmt) = cluster::mgmt_to_write(&ipam.network_ipam_mgmt, dns) {
        change.insert("network_ipam_mgmt".into(), mgmt);
    }
    if change.is_empty() {
        return Ok(uuid);
    }
    let what: Vec<String> = change.keys().cloned().collect();
    match svc.api.update("network-ipam", &uuid, Value::Object(change)) {
        Ok(()) => log::info!(
            "network-ipam {fq}: {} set to the settings'",
            what.join(", ")
        ),
        Err(e) => {
            let err = CniError::new(
                Code::Internal,
                format!(
                    "network-ipam {fq} keeps its {}: Contrail refused the settings' \
                     (subnets {subnets:?}, DNS servers {dns:?}): {e}",
                    what.join(" and ")
                ),
            );
            log::error!("{}", err.msg);
            incomplete.push(err);
        }
    }
    Ok(uuid)
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
    let body = cluster::cluster_network_body(
        plan::flat_network_body(fq, ipam, ipam_uuid),
        policies,
        fabric,
    );
    let (uuid, created) = svc
        .api
        .find_or_create("virtual-network", body)
        .map_err(|e| api_error(&e, &format!("creating virtual network {fq}")))?;
    if created {
        svc.metrics.created("virtual-network");
        log::info!("created network {fq}");
        for (np, np_uuid) in policies {
            relax(svc, fq, &uuid, np, np_uuid)?;
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
    for (np, np_uuid) in policies.iter().filter(|(_, u)| !vn.has_policy(u)) {
        // Relaxed first: the mark is kept on the policy whether the reference exists yet or
        // not, so a stop between the two calls leaves nothing half done.
        relax(svc, fq, uuid, np, np_uuid)?;
        svc.api
            .ref_update(
                "virtual-network",
                uuid,
                "network-policy",
                np_uuid,
                RefOp::Add,
                Some(cluster::policy_attr(0)),
            )
            .map_err(|e| api_error(&e, &format!("attaching network-policy {np} to {fq}")))?;
        log::info!("attached network-policy {np} to network {fq}");
    }
    Ok(())
}

/// Let the policy be deleted while the network refers to it (the reference goes with it).
pub fn relax(
    svc: &Service,
    fq: &FqName,
    uuid: &str,
    np: &FqName,
    np_uuid: &str,
) -> Result<(), CniError> {
    svc.api.ref_relax_for_delete(uuid, np_uuid).map_err(|e| {
        api_error(
            &e,
            &format!("relaxing the reference of network {fq} to network-policy {np} for delete"),
        )
    })
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
    let mut change = Map::new();
    if s.ip_fabric_snat
        && let Some(pools) = cluster::pools_to_write(&gvc.port_translation_pools)
    {
        change.insert("port_translation_pools".into(), pools);
    }
    let link_local = LinkLocal::mesos_dns(s);
    let taken = match cluster::link_local_to_write(
        &gvc.linklocal_services,
        &s.mesos_dns_link_local_name(),
        link_local.as_ref(),
    ) {
        Ok(Some(entries)) => {
            change.insert("linklocal_services".into(), entries);
            None
        }
        Ok(None) => None,
        Err(e) => Some(CniError::new(Code::AddressConflict, e.to_string())),
    };
    if !change.is_empty() {
        let what: Vec<String> = change.keys().cloned().collect();
        svc.api
            .update("global-vrouter-config", &uuid, Value::Object(change))
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
