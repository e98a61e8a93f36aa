//! Start-up provisioning: the cluster project, the default pod-task network (for tasks without
//! a `networks` label) and the service network (for VIPs). Idempotent; safe with several
//! managers.

use ipnet::IpNet;

use super::plan;
use super::service::{Service, api_error};
use crate::domain::error::{CniError, Code};
use crate::domain::fqname::FqName;

/// Ensure the cluster project, the pod-task IPAM (flat subnets from `pod_task_subnets`) and
/// the default pod-task network, and the service IPAM and network (`service_subnets`) exist.
pub fn provision(svc: &Service) -> Result<Provisioned, CniError> {
    let s = &svc.settings;
    let project = s.project();
    let (_, created) = svc
        .api
        .ensure("project", plan::project_body(&project))
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
    let pod_task = flat_network(
        svc,
        &s.pod_task_ipam(),
        &s.pod_task_subnets,
        &s.pod_task_network(),
    )?;
    let service = flat_network(
        svc,
        &s.service_ipam(),
        &s.service_subnets,
        &s.service_network(),
    )?;
    Ok(Provisioned { pod_task, service })
}

/// The uuids of the cluster's networks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    pub pod_task: String,
    pub service: String,
}

/// A flat-subnet IPAM with `subnets` and a network that takes its addresses from it.
fn flat_network(
    svc: &Service,
    ipam: &FqName,
    subnets: &[IpNet],
    network: &FqName,
) -> Result<String, CniError> {
    let (ipam_uuid, created) = svc
        .api
        .ensure("network-ipam", plan::flat_ipam_body(ipam, subnets))
        .map_err(|e| api_error(&e, &format!("creating network-ipam {ipam}")))?;
    if created {
        svc.metrics.created("network-ipam");
        log::info!("created network-ipam {ipam} with {subnets:?}");
    }
    let (vn_uuid, created) = svc
        .api
        .ensure(
            "virtual-network",
            plan::flat_network_body(network, ipam, &ipam_uuid),
        )
        .map_err(|e| api_error(&e, &format!("creating virtual network {network}")))?;
    if created {
        svc.metrics.created("virtual-network");
        log::info!("created network {network}");
    }
    Ok(vn_uuid)
}
