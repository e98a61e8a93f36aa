//! Reconciliation: container VMs of this cluster whose container the Mesos master no longer
//! reports running, and that are older than the grace period, are removed like a DEL would;
//! running tasks' VMs that no virtual-router refers to any more (the node's router was made
//! again under a new uuid) are linked to the router their interface is bound to.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use anyhow::Context;

use super::metrics;
use super::service::Service;
use super::teardown::{self, Relink};
use crate::clients::contrail::config_api::ListQuery;
use crate::clients::mesos::MesosMaster;
use crate::domain::contrail::VirtualMachine;

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub examined: usize,
    pub alive: usize,
    pub too_young: usize,
    pub deleted: Vec<String>,
    pub failed: Vec<String>,
    /// Running containers whose VM was linked to its node's router again.
    pub relinked: Vec<String>,
}

/// A container VM of ours: its uuid, container id and age.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerVm {
    pub uuid: String,
    pub container_id: String,
    pub created: Option<SystemTime>,
    /// Whether a virtual-router refers to it.
    pub linked: bool,
    /// Its interfaces' uuids.
    pub interfaces: Vec<String>,
}

/// The fields one list call asks for.
pub const VM_FIELDS: &[&str] = &[
    "fq_name",
    "server_type",
    "annotations",
    "id_perms",
    "virtual_router_back_refs",
    "virtual_machine_interface_back_refs",
];

/// Our container VMs of `cluster` in a `virtual-machines` detail list.
pub fn our_vms(list: &[VirtualMachine], cluster: &str) -> Vec<ContainerVm> {
    list.iter()
        .filter(|vm| vm.is_container() && vm.is_ours(cluster))
        .filter_map(|vm| {
            Some(ContainerVm {
                uuid: vm.uuid.clone(),
                container_id: vm.container_id()?.to_string(),
                created: vm.created(),
                linked: !vm.virtual_router_back_refs.is_empty(),
                interfaces: vm
                    .virtual_machine_interface_back_refs
                    .iter()
                    .map(|r| r.uuid.clone())
                    .collect(),
            })
        })
        .collect()
}

/// Older than `grace` at `now` (a VM of unknown age counts as old).
fn is_old(vm: &ContainerVm, grace: Duration, now: SystemTime) -> bool {
    vm.created
        .is_none_or(|c| now.duration_since(c).unwrap_or_default() >= grace)
}

/// The running containers whose VM no router refers to: alive, with an interface, and older
/// than `grace` (a younger one may be an ADD between making the VM and linking it).
pub fn unlinked<'a>(
    vms: &'a [ContainerVm],
    alive: &HashSet<&str>,
    grace: Duration,
    now: SystemTime,
) -> Vec<&'a ContainerVm> {
    vms.iter()
        .filter(|vm| alive.contains(vm.container_id.as_str()))
        .filter(|vm| !vm.linked && !vm.interfaces.is_empty() && is_old(vm, grace, now))
        .collect()
}

/// The orphans: not alive, and older than `grace` (a VM of unknown age counts as old).
pub fn orphans(
    vms: Vec<ContainerVm>,
    alive: &HashSet<&str>,
    grace: Duration,
    now: SystemTime,
) -> (Vec<ContainerVm>, usize, usize) {
    let (mut out, mut alive_n, mut young) = (Vec::new(), 0, 0);
    for vm in vms {
        if alive.contains(vm.container_id.as_str()) {
            alive_n += 1;
        } else if !is_old(&vm, grace, now) {
            young += 1;
        } else {
            out.push(vm);
        }
    }
    (out, alive_n, young)
}

/// One run. If the master cannot be read, nothing is deleted.
pub fn run_once(svc: &Service, master: &MesosMaster) -> anyhow::Result<Report> {
    svc.metrics.inc(metrics::RECONCILE_RUNS, 1);
    let state = master.state().inspect_err(|e| {
        svc.metrics.inc(metrics::RECONCILE_FAILURES, 1);
        log::warn!("reconciliation: {e:#}; deleting nothing");
    })?;
    let alive = state.alive_container_ids();
    let list = svc
        .api
        .list_as::<VirtualMachine>(&ListQuery::detail(VM_FIELDS))
        .inspect_err(|_| svc.metrics.inc(metrics::RECONCILE_FAILURES, 1))
        .context("reconciliation: listing virtual machines")?;
    let vms = our_vms(&list, &svc.settings.cluster_name);
    let examined = vms.len();
    let (grace, now) = (svc.settings.reconcile_grace, SystemTime::now());
    let mut report = Report {
        examined,
        ..Report::default()
    };
    for vm in unlinked(&vms, &alive, grace, now) {
        relink(svc, vm, &mut report);
    }
    let (orphans, alive_n, too_young) = orphans(vms, &alive, grace, now);
    report.alive = alive_n;
    report.too_young = too_young;
    for vm in orphans {
        match teardown::remove_vm(svc, &vm.uuid) {
            // Another manager got there first, or the container came back.
            Ok(false) => {}
            Ok(true) => {
                log::info!(
                    "reconciliation removed container {} (virtual-machine {})",
                    vm.container_id,
                    vm.uuid
                );
                svc.metrics.inc(metrics::RECONCILE_ORPHANS_DELETED, 1);
                report.deleted.push(vm.container_id);
            }
            Err(e) => {
                log::warn!(
                    "reconciliation could not remove container {}: {}",
                    vm.container_id,
                    e.msg
                );
                report.failed.push(vm.container_id);
            }
        }
    }
    Ok(report)
}

/// Link a running container's VM to its node's router again; a failure is logged and counted,
/// and tried again at the next run.
fn relink(svc: &Service, vm: &ContainerVm, report: &mut Report) {
    // Every interface of a task is bound to the same node: the first names the router.
    let Some(vmi) = vm.interfaces.first() else {
        return;
    };
    match teardown::relink_vm(svc, &vm.uuid, vmi) {
        Ok(Relink::Linked(router)) => {
            log::info!(
                "reconciliation linked container {} (virtual-machine {}) to virtual-router {router}: \
                 no router referred to it (the node's router was made again)",
                vm.container_id,
                vm.uuid
            );
            svc.metrics.inc(metrics::RECONCILE_ROUTERS_RELINKED, 1);
            report.relinked.push(vm.container_id.clone());
        }
        // The task went meanwhile: the next run sees it gone.
        Ok(Relink::InterfaceGone) => {}
        Ok(Relink::Unbound) => log::warn!(
            "reconciliation: no virtual-router refers to running container {} (virtual-machine \
             {}), and its interface {vmi} is bound to no host",
            vm.container_id,
            vm.uuid
        ),
        Ok(Relink::NoRouter(host)) => log::warn!(
            "reconciliation: no virtual-router refers to running container {} (virtual-machine \
             {}), and there is no virtual-router {host} (the host its interface {vmi} is bound \
             to); that node's agent does not learn its ports until the router exists",
            vm.container_id,
            vm.uuid
        ),
        Err(e) => {
            svc.metrics.inc(metrics::RECONCILE_FAILURES, 1);
            log::warn!(
                "reconciliation could not link container {} to its node's router: {}",
                vm.container_id,
                e.msg
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn typed(v: Value) -> VirtualMachine {
        serde_json::from_value(v).expect("a VM")
    }

    fn vm(uuid: &str, cid: &str, cluster: &str, owner: &str, created: &str) -> VirtualMachine {
        typed(
            json!({"uuid": uuid, "fq_name": [cid], "server_type": "container",
               "annotations": {"key_value_pair": [{"key": "owner", "value": owner},
                   {"key": "cluster", "value": cluster}, {"key": "created", "value": created}]}}),
        )
    }

    #[test]
    fn only_our_old_dead_containers_are_orphans() {
        let list = vec![
            vm("u1", "alive", "mesos", "mesos", "2020-01-01T00:00:00Z"),
            vm("u2", "dead-old", "mesos", "mesos", "2020-01-01T00:00:00Z"),
            vm("u3", "dead-young", "mesos", "mesos", "2099-01-01T00:00:00Z"),
            vm(
                "u4",
                "other-cluster",
                "dc2",
                "mesos",
                "2020-01-01T00:00:00Z",
            ),
            vm("u5", "not-ours", "mesos", "k8s", "2020-01-01T00:00:00Z"),
            typed(json!({"uuid": "u6", "fq_name": ["vm"], "server_type": "virtual-server"})),
        ];
        let vms = our_vms(&list, "mesos");
        assert_eq!(vms.len(), 3);
        let alive: HashSet<&str> = ["alive"].into();
        let now = humantime::parse_rfc3339("2030-01-01T00:00:00Z").expect("time");
        let (o, alive_n, young) = orphans(vms, &alive, Duration::from_secs(60), now);
        assert_eq!(
            o.iter()
                .map(|v| v.container_id.as_str())
                .collect::<Vec<_>>(),
            vec!["dead-old"]
        );
        assert_eq!((alive_n, young), (1, 1));
    }

    #[test]
    fn id_perms_created_is_the_fallback_age() {
        let v = json!({"uuid": "u", "fq_name": ["c"], "server_type": "container",
            "annotations": {"key_value_pair": [{"key": "owner", "value": "mesos"}, {"key": "cluster", "value": "mesos"}]},
            "id_perms": {"created": "2026-11-25T10:11:12.123456"}});
        let vms = our_vms(&[typed(v)], "mesos");
        assert!(vms[0].created.is_some());
    }

    #[test]
    fn only_old_running_vms_with_an_interface_and_no_router_are_linked_again() {
        let with = |v: &mut Value, routers: bool, vmis: bool| {
            if routers {
                v["virtual_router_back_refs"] =
                    json!([{"to": ["default-global-system-config", "n1"], "uuid": "vr"}]);
            }
            if vmis {
                v["virtual_machine_interface_back_refs"] =
                    json!([{"to": ["default-domain", "p", "i"], "uuid": "vmi-1"}]);
            }
        };
        let mk = |uuid: &str, cid: &str, created: &str, routers: bool, vmis: bool| {
            let mut v = json!({"uuid": uuid, "fq_name": [cid], "server_type": "container",
                "annotations": {"key_value_pair": [{"key": "owner", "value": "mesos"},
                    {"key": "cluster", "value": "mesos"}, {"key": "created", "value": created}]}});
            with(&mut v, routers, vmis);
            typed(v)
        };
        let old = "2020-01-01T00:00:00Z";
        let list = vec![
            mk("u1", "unlinked", old, false, true),
            mk("u2", "linked", old, true, true),
            mk("u3", "dead", old, false, true),
            mk("u4", "young", "2099-01-01T00:00:00Z", false, true),
            mk("u5", "no-interface", old, false, false),
        ];
        let vms = our_vms(&list, "mesos");
        assert_eq!(vms[0].interfaces, vec!["vmi-1".to_string()]);
        assert!(vms[1].linked && !vms[0].linked);
        let alive: HashSet<&str> = ["unlinked", "linked", "young", "no-interface"].into();
        let now = humantime::parse_rfc3339("2030-01-01T00:00:00Z").expect("time");
        let picked: Vec<&str> = unlinked(&vms, &alive, Duration::from_secs(60), now)
            .iter()
            .map(|v| v.container_id.as_str())
            .collect();
        assert_eq!(picked, vec!["unlinked"]);
    }
}
