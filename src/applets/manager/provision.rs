//! Start-up provisioning: the cluster project and the default pod-task network (for tasks
//! without a `networks` label). Idempotent; safe with several managers.

use super::plan;
use super::service::{Service, api_error};
use crate::domain::error::{CniError, Code};

/// Ensure the cluster project, the pod-task IPAM (flat subnets from `pod_task_subnets`) and
/// the default pod-task network exist. Returns the network's uuid.
pub fn provision(svc: &Service) -> Result<String, CniError> {
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
    let ipam = s.pod_task_ipam();
    let (ipam_uuid, created) = svc
        .api
        .ensure(
            "network-ipam",
            plan::flat_ipam_body(&ipam, &s.pod_task_subnets),
        )
        .map_err(|e| api_error(&e, &format!("creating network-ipam {ipam}")))?;
    if created {
        svc.metrics.created("network-ipam");
        log::info!("created network-ipam {ipam} with {:?}", s.pod_task_subnets);
    }
    let network = s.pod_task_network();
    let (vn_uuid, created) = svc
        .api
        .ensure(
            "virtual-network",
            plan::pod_task_network_body(&network, &ipam, &ipam_uuid),
        )
        .map_err(|e| api_error(&e, &format!("creating virtual network {network}")))?;
    if created {
        svc.metrics.created("virtual-network");
        log::info!("created pod-task network {network}");
    }
    Ok(vn_uuid)
}
