//! Reconciliation against the Mesos master emulator, on the config API emulator and on
//! upstream's real config API server: orphans go after the grace period, running tasks stay,
//! other clusters and other owners are never touched, an unreachable master means nothing
//! is deleted, and a running task whose node's router was made again is linked to it.

mod common;

use std::time::{Duration, Instant};

use common::*;
use contrail_mesos::applets::manager::{self, metrics, reconcile, teardown};
use contrail_mesos::clients::mesos::MesosMaster;
use contrail_mesos::domain::ids;
use contrail_mesos_sim::mesos::{self as msim, MesosSim};
use serde_json::json;

both_backends! {
    orphans_go_running_tasks_and_foreign_vms_stay: Real;
    the_loop_runs_on_its_interval_and_two_managers_do_not_fight: Real;
    a_running_task_is_linked_to_its_nodes_router_made_again: Real;
}

fn add(env: &Env, url: &str, cid: &str) {
    let (status, a) = node_add(url, cid, &env.blue());
    assert_eq!(status, 200, "{a}");
}

/// A container VM someone else made: another cluster, or not ours at all.
fn foreign_vm(c: &Api, cid: &str, owner: &str, cluster: &str) {
    c.create(
        "virtual-machine",
        json!({"fq_name": [cid], "uuid": contrail_mesos::domain::ids::vm_uuid(cid), "server_type": "container",
               "annotations": {"key_value_pair": [{"key": "owner", "value": owner}, {"key": "cluster", "value": cluster},
                   {"key": "created", "value": "2020-01-01T00:00:00Z"}]}}),
    )
    .expect("foreign VM");
}

fn vm_exists(c: &Api, cid: &str) -> bool {
    c.find("virtual-machine", &[cid]).is_some()
}

fn settings(
    env: &Env,
    master: &MesosSim,
    grace: Duration,
    interval: Duration,
) -> contrail_mesos::domain::settings::Settings {
    let mut s = env.settings();
    s.mesos_master_url = Some(master.url());
    s.reconcile_grace = grace;
    s.reconcile_interval = interval;
    s
}

fn orphans_go_running_tasks_and_foreign_vms_stay(env: Env) {
    let config = &env.config;
    let master = MesosSim::start("127.0.0.1:0").expect("master");
    let (running, pod_exec, orphan, completed) = (env.cid(), env.cid(), env.cid(), env.cid());
    let (other_cluster, not_ours) = (env.cid(), env.cid());
    master
        .set_state(msim::state_with_tasks(
            vec![
                msim::running_task("web.1", &running, "5.5.5.10"),
                msim::running_pod_task("pod.inst-1.c1", &pod_exec, &new_cid(), "5.5.5.11"),
            ],
            vec![msim::terminal_task("old.1", &completed, "TASK_FINISHED")],
        ))
        .expect("state");
    // A long grace first: nothing is old enough.
    let m = manager::start(settings(
        &env,
        &master,
        Duration::from_secs(3600),
        Duration::ZERO,
    ))
    .expect("manager");
    for cid in [&running, &pod_exec, &orphan, &completed] {
        add(&env, &m.url(), cid);
    }
    foreign_vm(config, &other_cluster, "mesos", &env.tagged("dc2"));
    foreign_vm(config, &not_ours, "k8s", &env.cluster);
    let mm = MesosMaster::new(&master.url(), Duration::from_secs(5)).expect("client");
    let r = reconcile::run_once(&m.service, &mm).expect("run");
    assert_eq!((r.examined, r.alive, r.too_young), (4, 2, 2), "{r:?}");
    assert!(r.deleted.is_empty());
    m.shutdown();

    // No grace: the orphan and the completed task's container go.
    let m =
        manager::start(settings(&env, &master, Duration::ZERO, Duration::ZERO)).expect("manager");
    let r = reconcile::run_once(&m.service, &mm).expect("run");
    let mut deleted = r.deleted.clone();
    deleted.sort();
    let mut want = vec![orphan.clone(), completed.clone()];
    want.sort();
    assert_eq!(deleted, want, "{r:?}");
    assert!(
        vm_exists(config, &running) && vm_exists(config, &pod_exec),
        "running tasks kept"
    );
    assert!(vm_exists(config, &other_cluster), "other cluster untouched");
    assert!(vm_exists(config, &not_ours), "other owner untouched");
    assert!(!vm_exists(config, &orphan) && !vm_exists(config, &completed));
    // The orphans' interfaces and addresses went with them.
    assert_eq!(config.count("virtual-machine-interface"), 2);
    assert_eq!(config.count("instance-ip"), 2);
    assert_eq!(
        m.service
            .metrics
            .counter(metrics::RECONCILE_ORPHANS_DELETED),
        2
    );
    let text = m.service.metrics.render(0, 0);
    assert!(text.contains("reconcile_orphans_deleted_total 2"), "{text}");

    // The master is unreachable, or answers nonsense: nothing is deleted.
    master
        .set_state(json!({"frameworks": []}))
        .expect("empty state");
    master.set_down(true).expect("down");
    let e = reconcile::run_once(&m.service, &mm).expect_err("master down");
    assert!(format!("{e:#}").contains(&master.url()), "{e:#}");
    master.set_down(false).expect("up");
    master
        .set_state(json!({"not": "a state"}))
        .expect("odd state");
    assert!(reconcile::run_once(&m.service, &mm).is_err());
    assert!(vm_exists(config, &running) && vm_exists(config, &pod_exec));
    assert_eq!(m.service.metrics.counter(metrics::RECONCILE_FAILURES), 2);
    m.shutdown();
}

fn the_loop_runs_on_its_interval_and_two_managers_do_not_fight(env: Env) {
    let config = &env.config;
    let master = MesosSim::start("127.0.0.1:0").expect("master");
    master
        .set_state(msim::state_with_tasks(vec![], vec![]))
        .expect("state");
    let quiet =
        manager::start(settings(&env, &master, Duration::ZERO, Duration::ZERO)).expect("manager");
    let orphans: Vec<String> = (0..5).map(|_| env.cid()).collect();
    for cid in &orphans {
        add(&env, &quiet.url(), cid);
    }
    quiet.shutdown();
    let a = manager::start(settings(
        &env,
        &master,
        Duration::ZERO,
        Duration::from_millis(100),
    ))
    .expect("manager a");
    let b = manager::start(settings(
        &env,
        &master,
        Duration::ZERO,
        Duration::from_millis(130),
    ))
    .expect("manager b");
    let deadline = Instant::now() + Duration::from_secs(20);
    while config.count("virtual-machine") > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(env.counts(), [0, 0, 0, 0], "every orphan removed, once");
    let removed = a
        .service
        .metrics
        .counter(metrics::RECONCILE_ORPHANS_DELETED)
        + b.service
            .metrics
            .counter(metrics::RECONCILE_ORPHANS_DELETED);
    assert_eq!(
        removed, 5,
        "each orphan counted by the manager that removed it"
    );
    a.shutdown();
    b.shutdown();
}

/// A node provisioned again (its virtual-router deleted and made anew under another uuid)
/// takes its running tasks' VMs off every router: the node's agent would no longer learn their
/// ports. The next run links each to the router named after the host its interface is bound
/// to, once; a task whose router is gone for good stays as it is (and alive), and a task
/// younger than the grace period (an ADD between making its VM and linking it) is left alone.
fn a_running_task_is_linked_to_its_nodes_router_made_again(env: Env) {
    let config = &env.config;
    let (host, ip) = own_router(&env, "reprovisioned", 96);
    let (gone_host, gone_ip) = own_router(&env, "decommissioned", 95);
    let (task, stranded) = (env.cid(), env.cid());
    let master = MesosSim::start("127.0.0.1:0").expect("master");
    master
        .set_state(msim::state_with_tasks(
            vec![
                msim::running_task("web.1", &task, "5.5.5.10"),
                msim::running_task("web.2", &stranded, "5.5.5.11"),
            ],
            vec![],
        ))
        .expect("state");
    let m =
        manager::start(settings(&env, &master, Duration::ZERO, Duration::ZERO)).expect("manager");
    let add_on = |cid: &str, host: &str, ip: &str| {
        let body = add_body(
            cid,
            "eth0",
            packaged_contrail(json!({"cluster-name": env.cluster})),
            &env.blue(),
            Some(json!({"hostname": host, "addresses": [ip]})),
        );
        let (s, a) = post_json(&format!("{}/add_cni_info", m.url()), &body);
        assert_eq!(s, 200, "{a}");
    };
    add_on(&task, &host, &ip);
    add_on(&stranded, &gone_host, &gone_ip);
    assert!(linked(config, &host, &task) && linked(config, &gone_host, &stranded));
    let mm = MesosMaster::new(&master.url(), Duration::from_secs(5)).expect("client");
    let r = reconcile::run_once(&m.service, &mm).expect("run");
    assert!(r.relinked.is_empty(), "linked tasks are left alone: {r:?}");

    let old = delete_router(config, &host);
    let new = config.add_virtual_router(&host, &ip).expect("router again");
    assert_ne!(old, new);
    delete_router(config, &gone_host);
    assert!(!linked(config, &host, &task), "the new router starts empty");

    // A long grace: the VMs are too young to be touched.
    let young = manager::start(settings(
        &env,
        &master,
        Duration::from_secs(3600),
        Duration::ZERO,
    ))
    .expect("manager");
    let r = reconcile::run_once(&young.service, &mm).expect("run");
    assert!(r.relinked.is_empty(), "{r:?}");
    assert!(!linked(config, &host, &task));
    young.shutdown();

    let r = reconcile::run_once(&m.service, &mm).expect("run");
    assert_eq!(r.relinked, vec![task.clone()], "{r:?}");
    assert!(r.deleted.is_empty() && r.failed.is_empty(), "{r:?}");
    assert!(
        linked(config, &host, &task),
        "the task's VM is on the new router"
    );
    assert!(
        vm_exists(config, &stranded),
        "a running task is never removed"
    );
    // What the run found for the stranded task: no router named after its host.
    let (vm, vmi) = (ids::vm_uuid(&stranded), ids::vmi_uuid(&stranded, "eth0"));
    assert_eq!(
        teardown::relink_vm(&m.service, &vm, &vmi).map_err(|e| e.msg),
        Ok(teardown::Relink::NoRouter(gone_host.clone()))
    );
    let r = reconcile::run_once(&m.service, &mm).expect("run");
    assert!(r.relinked.is_empty(), "once: {r:?}");
    assert_eq!(
        m.service
            .metrics
            .counter(metrics::RECONCILE_ROUTERS_RELINKED),
        1
    );
    let text = m.service.metrics.render(0, 0);
    assert!(
        text.contains("reconcile_routers_relinked_total 1"),
        "{text}"
    );

    // The tasks end: their DELs leave nothing, the new router keeps nothing of them.
    for cid in [&task, &stranded] {
        let (s, a) = post_json(&format!("{}/del_cni_info", m.url()), &del_body(cid, "eth0"));
        assert_eq!(s, 200, "{a}");
    }
    assert!(!linked(config, &host, &task));
    assert_eq!(env.counts(), [0, 0, 0, 0], "nothing left behind");
    delete_router(config, &host);
    m.shutdown();
}
