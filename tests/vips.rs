//! Service VIPs: Marathon VIP labels become native load balancers in the config API, following
//! the tasks as they come, go, die, and as labels change; Marathon or the master unreadable
//! changes nothing; two managers, or a restarted one, converge on the same objects; a member
//! task's teardown takes its members and svc-monitor's floating IP off its interface, also when a
//! member is added while it goes. svc-monitor's floating IP holds the current members'
//! interfaces and one port map per port with members (the driver itself never takes anything
//! off). On the config API emulator with svc-monitor's native driver emulated, and on upstream's
//! real config API server with upstream's svc-monitor and schema transformer (Marathon and the
//! Mesos master emulated on both).

mod common;

use std::time::{Duration, Instant};

use common::*;
use contrail_mesos::applets::manager::{self, metrics};
use contrail_mesos::clients::contrail::config_api::{ApiOptions, ConfigApi};
use contrail_mesos::domain::fqname::FqName;
use contrail_mesos::domain::vip::{label::VipKey, objects::Names};
use contrail_mesos_sim::marathon::{self as ma, CONTRAIL_NETWORK, MarathonSim};
use contrail_mesos_sim::mesos::{self as ms, MesosSim};
use serde_json::{Value, json};

both_backends! {
    a_vip_follows_its_tasks_by_polling_alone: RealWithDaemons;
    marathon_events_drive_passes_and_the_stream_is_reattached: RealWithDaemons;
    health_checked_tasks_join_when_healthy_and_leave_on_the_health_event: RealWithDaemons;
    pod_members_follow_their_containers_health: RealWithDaemons;
    label_changes_move_listeners_members_and_vips: RealWithDaemons;
    marathon_or_the_master_unreadable_removes_nothing: RealWithDaemons;
    two_managers_converge_on_the_same_objects_and_a_restart_finishes_their_work: RealWithDaemons;
    a_member_tasks_teardown_takes_its_members_and_the_vip_off_its_interface: RealWithDaemons;
    pod_endpoints_declare_vips_too: RealWithDaemons;
    status_lists_each_vip_with_its_members_and_what_is_missing_or_extra: RealWithDaemons;
    a_vip_that_drops_a_port_loses_its_port_map: RealWithDaemons;
    an_unhealthy_task_leaves_the_vip_floating_ip_and_comes_back_when_healthy: RealWithDaemons;
}

/// One task: its container's interface as the manager made it, and its Marathon task.
#[derive(Clone)]
struct Task {
    cid: String,
    ip: String,
    vmi: String,
    vm: String,
    /// The Marathon task (its `state` is what Marathon reports).
    json: Value,
}

impl Task {
    fn id(&self) -> String {
        self.json["id"].as_str().unwrap_or_default().to_string()
    }

    fn with_state(&self, state: &str) -> Task {
        let mut t = self.clone();
        t.json["state"] = json!(state);
        t
    }

    /// With one health check result per check, alive as given (`[]`: none yet).
    fn with_health(&self, alive: &[bool]) -> Task {
        let mut t = self.clone();
        t.json = ma::with_health(t.json, alive);
        t
    }
}

/// An app: its definition (with port mappings) and its tasks.
struct App {
    def: Value,
    tasks: Vec<Task>,
}

fn web_app(w: &World, id: &str, mappings: Vec<Value>, tasks: &[&Task]) -> App {
    App {
        def: ma::with_port_mappings(
            ma::networks_app(id, CONTRAIL_NETWORK, &w.env.blue()),
            mappings,
        ),
        tasks: tasks.iter().map(|t| (*t).clone()).collect(),
    }
}

/// The pod `/pod` on blue-network with these containers, its `web` container's endpoint `http`
/// (8080) declaring VIP `/pod-web:80`.
fn web_pod(w: &World, containers: &[&str]) -> Value {
    ma::with_endpoints(
        ma::pod("/pod", CONTRAIL_NETWORK, &w.env.blue(), containers),
        "web",
        vec![ma::endpoint(
            "http",
            8080,
            &["tcp"],
            &[("VIP_0", "/pod-web:80")],
        )],
    )
}

fn mapping(container_port: u16, protocol: &str, labels: &[(&str, &str)]) -> Value {
    ma::port_mapping("http", container_port, protocol, 10101, labels)
}

struct World {
    env: Env,
    marathon: MarathonSim,
    mesos: MesosSim,
    /// Makes the tasks' interfaces (its VIP loop is off).
    adder: Option<manager::Running>,
}

fn world(env: Env) -> World {
    let marathon = MarathonSim::start("127.0.0.1:0").expect("marathon");
    let mesos = MesosSim::start("127.0.0.1:0").expect("mesos");
    let adder = manager::start(env.settings()).expect("manager");
    World {
        env,
        marathon,
        mesos,
        adder: Some(adder),
    }
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

impl World {
    fn adder_url(&self) -> String {
        self.adder.as_ref().map(|m| m.url()).unwrap_or_default()
    }

    /// A task of `app` on blue-network, its interface made as the CNI plugin would.
    fn task(&self, app: &str) -> Task {
        let cid = self.env.cid();
        let labels: Vec<Value> = self
            .env
            .blue()
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        let conf = json!({"cniVersion": "0.2.0", "contrail": {"vrouter-ip": "127.0.0.1"},
            "args": {"org.apache.mesos": {"network_info": {"labels": {"labels": labels}}}}});
        let mut r = http()
            .post(format!("{}/add_cni_info", self.adder_url()))
            .send_json(
                json!({"cid": cid, "cmd": "ADD", "args": conf.to_string(), "node": node_info()}),
            )
            .expect("ADD");
        assert_eq!(r.status().as_u16(), 200);
        let a: Value = r.body_mut().read_json().expect("answer");
        let i = &a["interfaces"][0];
        let ip = i["ip-address"].as_str().expect("ip").to_string();
        Task {
            json: ma::app_task(app, &node(), &ip, ms::SLAVE_ID),
            vmi: i["vmi-uuid"].as_str().expect("vmi").to_string(),
            vm: a["vm-uuid"].as_str().expect("vm").to_string(),
            cid,
            ip,
        }
    }

    /// An instance of `/pod` with these containers at `t`'s address; the master runs its `web`
    /// container nested under the executor's container, the one the CNI plugin ran for (`t`'s).
    fn pod_instance(&self, t: &Task, containers: &[&str]) -> Value {
        let inst = ma::pod_instance("/pod", &node(), CONTRAIL_NETWORK, &t.ip, containers);
        let web_task = inst["containers"][0]["containerId"]
            .as_str()
            .expect("id")
            .to_string();
        self.mesos.set_tasks(
            vec![ms::running_pod_task(
                &web_task,
                &t.cid,
                &self.env.cid(),
                &t.ip,
            )],
            vec![],
        );
        inst
    }

    fn del(&self, t: &Task) {
        let (status, body) = self.try_del(t);
        assert_eq!(status, 200, "{body}");
    }

    /// A CNI DEL: the manager's status and answer.
    fn try_del(&self, t: &Task) -> (u16, Value) {
        let mut r = http()
            .post(format!("{}/del_cni_info", self.adder_url()))
            .send_json(json!({"cid": t.cid, "cmd": "DEL", "args": "{}"}))
            .expect("DEL");
        let status = r.status().as_u16();
        (status, r.body_mut().read_json().unwrap_or(Value::Null))
    }

    /// What Marathon and the master report: these apps; running tasks in the master's
    /// `tasks`, terminal ones in `completed_tasks`.
    fn set(&self, apps: &[App]) {
        let (mut running, mut done) = (Vec::new(), Vec::new());
        for app in apps {
            for t in &app.tasks {
                let state = t.json["state"].as_str().unwrap_or_default();
                if ["TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST"].contains(&state) {
                    done.push(ms::terminal_task(&t.id(), &t.cid, state));
                } else {
                    running.push(ms::running_task(&t.id(), &t.cid, &t.ip));
                }
            }
        }
        self.mesos.set_tasks(running, done);
        self.marathon
            .set_apps(
                apps.iter()
                    .map(|a| {
                        ma::with_tasks(
                            a.def.clone(),
                            a.tasks.iter().map(|t| t.json.clone()).collect(),
                        )
                    })
                    .collect(),
            )
            .expect("apps");
    }

    fn vip_settings(&self, interval: Duration) -> contrail_mesos::domain::settings::Settings {
        let mut s = self.env.settings();
        s.marathon_url = Some(self.marathon.url());
        s.mesos_master_url = Some(self.mesos.url());
        s.vip_sync_interval = interval;
        s
    }

    fn vip_manager(&self, interval: Duration) -> manager::Running {
        manager::start(self.vip_settings(interval)).expect("VIP manager")
    }

    fn lbs(&self) -> Vec<Value> {
        self.env.config.list("loadbalancer")
    }

    fn lb(&self, key: &str) -> Option<Value> {
        self.lbs()
            .into_iter()
            .find(|lb| annotation(lb, "name") == Some(key.to_string()))
    }

    /// (address, port, vmi) of every member, sorted.
    fn members(&self) -> Vec<(String, u64, String)> {
        let mut v: Vec<(String, u64, String)> = self
            .env
            .config
            .list("loadbalancer-member")
            .iter()
            .map(|m| {
                let p = &m["loadbalancer_member_properties"];
                (
                    p["address"].as_str().unwrap_or_default().to_string(),
                    p["protocol_port"].as_u64().unwrap_or_default(),
                    annotation(m, "vmi").unwrap_or_default(),
                )
            })
            .collect();
        v.sort();
        v
    }

    /// svc-monitor's floating IP of a VIP: under the instance IP of its load balancer's VIP
    /// interface.
    fn vip_fip(&self, lb: &Value) -> Option<Value> {
        let vmi = self.env.config.get(
            "virtual-machine-interface",
            lb["virtual_machine_interface_refs"][0]["uuid"].as_str()?,
        )?;
        let iip = self.env.config.get(
            "instance-ip",
            vmi["instance_ip_back_refs"][0]["uuid"].as_str()?,
        )?;
        self.env
            .config
            .get("floating-ip", iip["floating_ips"][0]["uuid"].as_str()?)
    }

    /// (protocol, port, target) of each port map of svc-monitor's floating IP, sorted.
    fn port_maps(&self, lb: &Value) -> Vec<(String, u64, u64)> {
        let mut v: Vec<(String, u64, u64)> = self
            .vip_fip(lb)
            .map(|f| f["floating_ip_port_mappings"]["port_mappings"].clone())
            .and_then(|m| m.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|m| {
                (
                    m["protocol"].as_str().unwrap_or_default().to_string(),
                    m["src_port"].as_u64().unwrap_or_default(),
                    m["dst_port"].as_u64().unwrap_or_default(),
                )
            })
            .collect();
        v.sort();
        v
    }

    /// Every VIP object there is, by type.
    fn vip_objects(&self) -> [usize; 6] {
        [
            "loadbalancer",
            "loadbalancer-listener",
            "loadbalancer-pool",
            "loadbalancer-member",
        ]
        .map(|t| self.env.config.count(t))
        .into_iter()
        .chain([
            self.env
                .config
                .list("virtual-machine-interface")
                .iter()
                .filter(|v| v["virtual_machine_interface_device_owner"] == "MESOS:LOADBALANCER")
                .count(),
            self.env
                .config
                .list("floating-ip")
                .iter()
                .filter(|f| f["parent_type"] == "instance-ip")
                .count(),
        ])
        .collect::<Vec<_>>()
        .try_into()
        .unwrap_or([usize::MAX; 6])
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(m) = self.adder.take() {
            m.shutdown();
        }
    }
}

fn annotation(obj: &Value, key: &str) -> Option<String> {
    obj["annotations"]["key_value_pair"]
        .as_array()?
        .iter()
        .find(|kv| kv["key"] == key)
        .and_then(|kv| kv["value"].as_str().map(str::to_string))
}

fn fip_vmis(fip: &Value) -> Vec<String> {
    let mut v: Vec<String> = fip["virtual_machine_interface_refs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["uuid"].as_str().map(str::to_string))
        .collect();
    v.sort();
    v
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn in_service_subnets(ip: &str) -> bool {
    ip.parse::<std::net::Ipv4Addr>().is_ok_and(|a| {
        "10.96.0.0/12"
            .parse::<ipnet::Ipv4Net>()
            .is_ok_and(|n| n.contains(&a))
    })
}

fn a_vip_follows_its_tasks_by_polling_alone(env: Env) {
    let w = world(env);
    // Marathon behind something that does not pass its event stream: polling must do.
    w.marathon.set_events_enabled(false);
    let (t1, t2) = (w.task("/web"), w.task("/web"));
    let m80 = || mapping(8080, "tcp", &[("VIP_0", "/web:80")]);
    w.set(&[web_app(&w, "/web", vec![m80()], &[&t1, &t2])]);
    let m = w.vip_manager(Duration::from_millis(100));

    // Create: the load balancer and everything under it.
    wait_for("two members", || w.members().len() == 2);
    let lb = w.lb("web.marathon").expect("the VIP's load balancer");
    assert_eq!(lb["loadbalancer_provider"], "native");
    let props = lb["loadbalancer_properties"]
        .as_object()
        .expect("properties");
    assert_eq!(props.len(), 6, "all six keys: {props:?}");
    assert_eq!(props["provisioning_status"], "ACTIVE");
    let vip = props["vip_address"]
        .as_str()
        .expect("an address")
        .to_string();
    assert!(in_service_subnets(&vip), "{vip} from the service network");
    assert_eq!(
        lb["service_appliance_set_refs"][0]["to"],
        json!(["default-global-system-config", "native"])
    );
    for (k, v) in [
        ("owner", "mesos"),
        ("cluster", w.env.cluster.as_str()),
        ("kind", "vip"),
        ("vip", "/web"),
    ] {
        assert_eq!(annotation(&lb, k).as_deref(), Some(v), "annotation {k}");
    }
    let vip_vmi = w
        .env
        .config
        .get(
            "virtual-machine-interface",
            lb["virtual_machine_interface_refs"][0]["uuid"]
                .as_str()
                .expect("ref"),
        )
        .expect("VIP interface");
    assert_eq!(
        vip_vmi["virtual_network_refs"][0]["to"],
        json!(w.env.cluster_fq("default-service-network"))
    );
    // The VIP's instance IP names the service subnet, as kube-manager's does.
    let service_net = w
        .env
        .config
        .get(
            "virtual-network",
            vip_vmi["virtual_network_refs"][0]["uuid"]
                .as_str()
                .expect("ref"),
        )
        .expect("service network");
    let link = &service_net["network_ipam_refs"][0];
    assert_eq!(link["to"][2], format!("{}-service-ipam", w.env.cluster));
    let vip_iip = w
        .env
        .config
        .get(
            "instance-ip",
            vip_vmi["instance_ip_back_refs"][0]["uuid"]
                .as_str()
                .expect("ref"),
        )
        .expect("VIP instance IP");
    assert_eq!(
        vip_iip["subnet_uuid"],
        link["attr"]["ipam_subnets"][0]["subnet_uuid"]
    );
    let listeners = w.env.config.list("loadbalancer-listener");
    assert_eq!(listeners.len(), 1);
    assert_eq!(
        listeners[0]["loadbalancer_listener_properties"]["protocol"],
        "TCP"
    );
    assert_eq!(
        listeners[0]["loadbalancer_listener_properties"]["protocol_port"],
        80
    );
    assert_eq!(listeners[0]["loadbalancer_refs"][0]["uuid"], lb["uuid"]);
    let pools = w.env.config.list("loadbalancer-pool");
    assert_eq!(
        pools[0]["loadbalancer_listener_refs"][0]["uuid"],
        listeners[0]["uuid"]
    );
    assert_eq!(w.members(), {
        let mut v = vec![
            (t1.ip.clone(), 8080, t1.vmi.clone()),
            (t2.ip.clone(), 8080, t2.vmi.clone()),
        ];
        v.sort();
        v
    });
    for member in w.env.config.list("loadbalancer-member") {
        let vmi = annotation(&member, "vmi").expect("vmi");
        let t = if vmi == t1.vmi { &t1 } else { &t2 };
        assert_eq!(annotation(&member, "vm").as_deref(), Some(t.vm.as_str()));
    }
    // svc-monitor put the VIP on both members, port 80 to 8080.
    wait_for("svc-monitor's floating IP on both", || {
        w.vip_fip(&lb).is_some_and(|f| fip_vmis(&f).len() == 2)
    });
    let fip = w.vip_fip(&lb).expect("floating IP");
    assert_eq!(fip["floating_ip_address"], vip.as_str());
    assert_eq!(fip_vmis(&fip), sorted(&[&t1.vmi, &t2.vmi]));
    assert_eq!(
        fip["floating_ip_port_mappings"],
        json!({"port_mappings": [{"protocol": "TCP", "src_port": 80, "dst_port": 8080}]})
    );

    // Scale up.
    let t3 = w.task("/web");
    w.set(&[web_app(&w, "/web", vec![m80()], &[&t1, &t2, &t3])]);
    wait_for("three members", || w.members().len() == 3);
    wait_for("the third on the floating IP", || {
        w.vip_fip(&lb).is_some_and(|f| fip_vmis(&f).len() == 3)
    });

    // Scale down: t3 is killed (Marathon forgets it, the master has it completed).
    w.set(&[web_app(&w, "/web", vec![m80()], &[&t1, &t2])]);
    wait_for("t3's member gone", || {
        w.members().iter().all(|m| m.2 != t3.vmi)
    });
    w.del(&t3);
    assert!(
        w.env
            .config
            .get("virtual-machine-interface", &t3.vmi)
            .is_none(),
        "t3's interface went with its DEL"
    );

    // A task dies (still listed, TASK_FAILED): its member goes, the other stays.
    w.set(&[web_app(
        &w,
        "/web",
        vec![m80()],
        &[&t1, &t2.with_state("TASK_FAILED")],
    )]);
    wait_for("only t1 left", || {
        w.members() == vec![(t1.ip.clone(), 8080, t1.vmi.clone())]
    });
    // The pass that removed the member puts the floating IP right after its steps.
    wait_for("only t1 on the VIP's floating IP", || {
        w.vip_fip(&lb)
            .is_some_and(|f| fip_vmis(&f) == std::slice::from_ref(&t1.vmi))
    });
    assert_eq!(
        w.lb("web.marathon").map(|l| l["uuid"].clone()),
        Some(lb["uuid"].clone()),
        "same VIP"
    );

    // The app goes: everything goes.
    w.set(&[]);
    wait_for("no VIP object left", || w.vip_objects() == [0; 6]);
    assert_eq!(
        w.env.config.count("instance-ip"),
        2,
        "only t1 and t2 addresses are left"
    );
    // The pass sets its gauge once its deletes are done: wait for the end of that pass.
    wait_for("the VIP gauge at zero", || {
        m.service.metrics.gauge(metrics::VIPS) == 0.0
    });
    assert!(m.service.metrics.counter(metrics::VIP_SYNC_RUNS) >= 3);
    m.shutdown();
    for t in [&t1, &t2] {
        w.del(t);
    }
    assert_eq!(w.env.counts(), [0, 0, 0, 0], "nothing left");
}

fn marathon_events_drive_passes_and_the_stream_is_reattached(env: Env) {
    let w = world(env);
    let t1 = w.task("/web");
    // An hour between passes: only the first pass and the event stream can act.
    let m = w.vip_manager(Duration::from_secs(3600));
    wait_for("the event stream", || w.marathon.event_subscribers() == 1);
    w.set(&[web_app(
        &w,
        "/web",
        vec![mapping(8080, "tcp", &[("VIP_0", "/web:80")])],
        &[&t1],
    )]);
    wait_for("the VIP made on Marathon's events", || {
        w.members().len() == 1
    });
    // Marathon restarts: the reader reattaches and the next change still comes through.
    w.marathon.set_down(true).expect("down");
    std::thread::sleep(Duration::from_millis(200));
    w.marathon.set_down(false).expect("up");
    wait_for("reattached", || w.marathon.event_subscribers() == 1);
    w.set(&[]);
    wait_for("the VIP removed on Marathon's events", || {
        w.vip_objects() == [0; 6]
    });
    m.shutdown();
}

/// Health as marathon-lb reads it (contract §5): a task of an app with health checks joins its
/// VIP once its results are in and alive, and leaves when one fails, on Marathon's health
/// events (an hour between passes: only events can act).
fn health_checked_tasks_join_when_healthy_and_leave_on_the_health_event(env: Env) {
    let w = world(env);
    let (t1, t2) = (w.task("/web"), w.task("/web"));
    let m = w.vip_manager(Duration::from_secs(3600));
    wait_for("the event stream", || w.marathon.event_subscribers() == 1);
    // One definition throughout: only the tasks' health changes (Marathon publishes no
    // api_post_event, no status update, only its health events).
    let def = ma::with_health_checks(
        web_app(
            &w,
            "/web",
            vec![mapping(8080, "tcp", &[("VIP_0", "/web:80")])],
            &[],
        )
        .def,
        1,
    );
    let app = |tasks: &[&Task]| App {
        def: def.clone(),
        tasks: tasks.iter().map(|t| (*t).clone()).collect(),
    };
    let member = |t: &Task| (t.ip.clone(), 8080, t.vmi.clone());
    // t2 has just started: no result yet (the grace period). Only t1 serves.
    w.set(&[app(&[&t1.with_health(&[true]), &t2.with_health(&[])])]);
    wait_for("t1's member", || w.members().contains(&member(&t1)));
    assert_eq!(
        w.members(),
        [member(&t1)],
        "t2 without a result is no member"
    );
    // t2's first result, alive: Marathon publishes the health events, and t2 joins.
    w.set(&[app(&[&t1.with_health(&[true]), &t2.with_health(&[true])])]);
    wait_for("t2's member", || w.members().len() == 2);
    // t1 fails its check: it leaves within the event latency, not at the next poll.
    let failed = Instant::now();
    w.set(&[app(&[&t1.with_health(&[false]), &t2.with_health(&[true])])]);
    wait_for("t1's member gone", || w.members() == [member(&t2)]);
    let took = failed.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "the member left {took:?} after the health event"
    );
    assert!(w.lb("web.marathon").is_some(), "the VIP stays");
    m.shutdown();
    for t in [&t1, &t2] {
        w.del(t);
    }
}

/// The same for a pod: its container's health check result as the pod status carries it
/// (the checked endpoint's `healthy`, the `healthy` condition), on the instance's health
/// event.
fn pod_members_follow_their_containers_health(env: Env) {
    let w = world(env);
    let t = w.task("/pod");
    let def = ma::with_health_check(web_pod(&w, &["web"]), "web", Some("http"));
    let inst = w.pod_instance(&t, &["web"]);
    let status = |h: Option<bool>| {
        ma::pod_status(
            &def,
            vec![ma::with_container_health(&def, inst.clone(), "web", h)],
        )
    };
    w.marathon
        .set_pods(vec![def.clone()], vec![status(None)])
        .expect("pods");
    let m = w.vip_manager(Duration::from_secs(3600));
    wait_for("the pod's VIP", || w.lb("pod-web.marathon").is_some());
    assert!(w.members().is_empty(), "no health result yet: no member");
    w.marathon
        .set_pods(vec![def.clone()], vec![status(Some(true))])
        .expect("pods");
    wait_for("the pod's member", || {
        w.members() == vec![(t.ip.clone(), 8080, t.vmi.clone())]
    });
    let failed = Instant::now();
    w.marathon
        .set_pods(vec![def.clone()], vec![status(Some(false))])
        .expect("pods");
    wait_for("the member gone", || w.members().is_empty());
    assert!(
        failed.elapsed() < Duration::from_secs(5),
        "{:?}",
        failed.elapsed()
    );
    m.shutdown();
    w.del(&t);
}

fn label_changes_move_listeners_members_and_vips(env: Env) {
    let w = world(env);
    let (t1, t2) = (w.task("/web"), w.task("/web"));
    let m = w.vip_manager(Duration::from_millis(100));
    let app = |m: Vec<Value>| web_app(&w, "/web", m, &[&t1, &t2]);
    w.set(&[app(vec![mapping(8080, "tcp", &[("VIP_0", "/web:80")])])]);
    wait_for("two members", || w.members().len() == 2);
    let lb = w.lb("web.marathon").expect("lb");

    // The container port changes: every member is replaced; svc-monitor keeps 80's map to the
    // old port, the manager moves it.
    w.set(&[app(vec![mapping(9090, "tcp", &[("VIP_0", "/web:80")])])]);
    wait_for("members on 9090", || {
        w.members().iter().all(|m| m.1 == 9090) && w.members().len() == 2
    });
    wait_for("port map to 9090", || {
        w.vip_fip(&lb).is_some_and(|f| {
            f["floating_ip_port_mappings"]["port_mappings"]
                == json!([{"protocol": "TCP", "src_port": 80, "dst_port": 9090}])
                && fip_vmis(&f).len() == 2
        })
    });

    // The VIP port changes and UDP joins: listeners 81/tcp and 81/udp replace 80/tcp.
    w.set(&[app(vec![mapping(9090, "udp,tcp", &[("VIP_0", "/web:81")])])]);
    wait_for("two listeners on 81", || {
        let mut l: Vec<(String, u64)> = w
            .env
            .config
            .list("loadbalancer-listener")
            .iter()
            .map(|l| {
                let p = &l["loadbalancer_listener_properties"];
                (
                    p["protocol"].as_str().unwrap_or_default().to_string(),
                    p["protocol_port"].as_u64().unwrap_or_default(),
                )
            })
            .collect();
        l.sort();
        l == [("TCP".to_string(), 81), ("UDP".to_string(), 81)] && w.members().len() == 4
    });
    assert_eq!(
        w.lb("web.marathon").map(|l| l["uuid"].clone()),
        Some(lb["uuid"].clone())
    );
    wait_for("port maps for both protocols", || {
        w.vip_fip(&lb).is_some_and(|f| {
            let mut maps: Vec<String> = f["floating_ip_port_mappings"]["port_mappings"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| m.to_string())
                .collect();
            maps.sort();
            maps.len() == 2 && maps.iter().all(|m| m.contains("\"src_port\":81"))
        })
    });

    // The VIP becomes an address in the service subnets: a new load balancer at it, the
    // named one gone.
    w.set(&[app(vec![mapping(
        9090,
        "tcp",
        &[("VIP_0", "10.96.0.50:80")],
    )])]);
    wait_for("the address VIP alone", || {
        w.lb("web.marathon").is_none() && w.lb("10.96.0.50").is_some() && w.members().len() == 2
    });
    let at = w.lb("10.96.0.50").expect("lb");
    assert_eq!(at["loadbalancer_properties"]["vip_address"], "10.96.0.50");
    assert_eq!(annotation(&at, "vip").as_deref(), Some("10.96.0.50"));
    wait_for("svc-monitor's floating IP at the address", || {
        w.vip_fip(&at)
            .is_some_and(|f| f["floating_ip_address"] == "10.96.0.50")
    });

    // An address outside service_subnets is refused: nothing made, a metric says so.
    w.set(&[app(vec![mapping(
        9090,
        "tcp",
        &[("VIP_0", "192.168.7.7:80")],
    )])]);
    wait_for("refused and nothing left", || {
        m.service.metrics.gauge(metrics::VIPS_REFUSED) == 1.0 && w.vip_objects() == [0; 6]
    });
    let text = m.service.metrics.render(0, 0);
    assert!(
        text.contains("contrail_mesos_manager_vips_refused 1"),
        "{text}"
    );
    m.shutdown();
}

fn marathon_or_the_master_unreadable_removes_nothing(env: Env) {
    let w = world(env);
    let t1 = w.task("/web");
    w.marathon.set_events_enabled(false);
    w.set(&[web_app(
        &w,
        "/web",
        vec![mapping(8080, "tcp", &[("VIP_0", "/web:80")])],
        &[&t1],
    )]);
    let m = w.vip_manager(Duration::from_millis(50));
    // svc-monitor makes its floating IP on its own time.
    wait_for("the VIP and svc-monitor's floating IP", || {
        w.members().len() == 1 && w.vip_objects()[5] == 1
    });
    let before = w.vip_objects();
    let errors = || m.service.metrics.counter(metrics::VIP_SYNC_ERRORS);

    // Marathon down.
    let e0 = errors();
    w.marathon.set_down(true).expect("down");
    wait_for("failed passes", || errors() >= e0 + 3);
    assert_eq!(w.vip_objects(), before);
    w.marathon.set_down(false).expect("up");

    // The master answers nonsense, then is down.
    let e0 = errors();
    w.mesos
        .set_state(json!({"not": "a state"}))
        .expect("odd state");
    wait_for("failed passes", || errors() >= e0 + 3);
    assert_eq!(w.vip_objects(), before);
    let e0 = errors();
    w.mesos.set_down(true).expect("down");
    wait_for("failed passes", || errors() >= e0 + 3);
    assert_eq!(w.vip_objects(), before);
    w.mesos.set_down(false).expect("up");

    // The master lists no task yet for a task Marathon runs: its member stays.
    w.mesos.set_tasks(vec![], vec![]);
    let runs = m.service.metrics.counter(metrics::VIP_SYNC_RUNS);
    wait_for("more passes", || {
        m.service.metrics.counter(metrics::VIP_SYNC_RUNS) >= runs + 3
    });
    assert_eq!(
        w.vip_objects(),
        before,
        "a task the master does not place decides nothing"
    );

    // Everything readable again: the app goes, so does the VIP.
    w.set(&[]);
    wait_for("the VIP removed", || w.vip_objects() == [0; 6]);
    m.shutdown();
}

fn two_managers_converge_on_the_same_objects_and_a_restart_finishes_their_work(env: Env) {
    let w = world(env);
    let ts: Vec<Task> = (0..4).map(|_| w.task("/web")).collect();
    let refs: Vec<&Task> = ts.iter().collect();
    let app = |tasks: &[&Task]| {
        web_app(
            &w,
            "/web",
            vec![mapping(8080, "udp,tcp", &[("VIP_0", "/web:80")])],
            tasks,
        )
    };
    w.set(&[app(&refs)]);
    let a = w.vip_manager(Duration::from_millis(60));
    let b = w.vip_manager(Duration::from_millis(70));
    wait_for("eight members", || w.members().len() == 8);
    // A few more passes of both: nothing doubles, nothing flaps.
    let runs = |m: &manager::Running| m.service.metrics.counter(metrics::VIP_SYNC_RUNS);
    let (ra, rb) = (runs(&a), runs(&b));
    wait_for("more passes", || runs(&a) >= ra + 3 && runs(&b) >= rb + 3);
    assert_eq!(w.vip_objects(), [1, 2, 2, 8, 1, 1]);
    w.set(&[app(&refs[..2])]);
    wait_for("four members", || w.members().len() == 4);
    w.set(&[]);
    wait_for("nothing", || w.vip_objects() == [0; 6]);
    a.shutdown();
    b.shutdown();

    // A manager stopped in the middle of making a VIP (its interface and address made, no load
    // balancer): a restarted one finishes it on the same objects.
    let names = Names::new(
        &w.env.cluster,
        &FqName::new(w.env.cluster_project()).expect("fq"),
    );
    let key = VipKey::Named("web.marathon".into());
    let api = ConfigApi::new(ApiOptions::new(vec![w.env.config.url()])).expect("client");
    let service = w.env.cluster_fq("default-service-network");
    let net = FqName::new(service.clone()).expect("fq");
    let service: Vec<&str> = service.iter().map(String::as_str).collect();
    let net_uuid = w
        .env
        .config
        .find("virtual-network", &service)
        .expect("service network")["uuid"]
        .as_str()
        .expect("uuid")
        .to_string();
    api.create(&names.vmi(&key, "/web", &net, &net_uuid))
        .expect("VIP interface");
    api.create(&names.iip(&key, "/web", &net, &net_uuid, "v4", None))
        .expect("VIP address");
    w.set(&[app(&refs[..1])]);
    let c = w.vip_manager(Duration::from_millis(60));
    wait_for("the VIP finished", || w.members().len() == 2);
    assert_eq!(w.vip_objects(), [1, 2, 2, 2, 1, 1]);
    assert_eq!(
        w.lb("web.marathon")
            .map(|l| l["virtual_machine_interface_refs"][0]["uuid"].clone()),
        Some(json!(names.vmi_uuid(&key))),
        "on the interface made before"
    );
    c.shutdown();

    // Stopped in the middle of removing one (load balancer gone, interface and address left)
    // while the app went: a restarted one removes the rest.
    for ty in [
        "loadbalancer-member",
        "loadbalancer-pool",
        "loadbalancer-listener",
        "loadbalancer",
    ] {
        for o in w.env.config.list(ty) {
            api.delete(ty, o["uuid"].as_str().expect("uuid")).expect(ty);
        }
    }
    w.set(&[]);
    assert_eq!(w.vip_objects()[4], 1, "the interface is left");
    let d = w.vip_manager(Duration::from_millis(60));
    wait_for("the leftover interface removed", || {
        w.vip_objects() == [0; 6]
    });
    d.shutdown();
}

fn a_member_tasks_teardown_takes_its_members_and_the_vip_off_its_interface(env: Env) {
    let w = world(env);
    let (t1, t2, t3) = (w.task("/web"), w.task("/web"), w.task("/web"));
    w.set(&[web_app(
        &w,
        "/web",
        vec![mapping(8080, "tcp", &[("VIP_0", "/web:80")])],
        &[&t1, &t2, &t3],
    )]);
    // One pass at start, then only on events (the DELs below change nothing in Marathon).
    w.marathon.set_events_enabled(false);
    let m = w.vip_manager(Duration::from_secs(3600));
    wait_for("three members", || w.members().len() == 3);
    let lb = w.lb("web.marathon").expect("lb");
    wait_for("svc-monitor's floating IP on all three", || {
        w.vip_fip(&lb).is_some_and(|f| fip_vmis(&f).len() == 3)
    });

    // CNI DEL while Marathon still lists the task (Mesos tears the container down first):
    // the interface goes, with its member, and the floating IP no longer names it.
    w.del(&t1);
    assert!(
        w.env
            .config
            .get("virtual-machine-interface", &t1.vmi)
            .is_none(),
        "t1's interface deleted"
    );
    assert!(
        w.members().iter().all(|m| m.2 != t1.vmi),
        "t1's member deleted"
    );
    let fip = w.vip_fip(&lb).expect("floating IP");
    assert_eq!(fip_vmis(&fip), sorted(&[&t2.vmi, &t3.vmi]));

    // Reconciliation of a container the master no longer runs: the same.
    let mut rs = w.vip_settings(Duration::from_secs(3600));
    rs.reconcile_grace = Duration::ZERO;
    let reconciler = manager::start(rs).expect("manager");
    w.mesos
        .set_tasks(vec![ms::running_task(&t3.id(), &t3.cid, &t3.ip)], vec![]);
    let master =
        contrail_mesos::clients::mesos::MesosMaster::new(&w.mesos.url(), Duration::from_secs(5))
            .expect("client");
    let r = manager::reconcile::run_once(&reconciler.service, &master).expect("reconcile");
    assert_eq!(r.deleted, std::slice::from_ref(&t2.cid), "{r:?}");
    assert!(
        w.env
            .config
            .get("virtual-machine-interface", &t2.vmi)
            .is_none()
    );
    assert_eq!(w.members(), [(t3.ip.clone(), 8080, t3.vmi.clone())]);
    assert_eq!(
        fip_vmis(&w.vip_fip(&lb).expect("fip")),
        std::slice::from_ref(&t3.vmi)
    );
    reconciler.shutdown();
    m.shutdown();
    w.del(&t3);
    assert_eq!(w.members(), Vec::<(String, u64, String)>::new());
}

fn pod_endpoints_declare_vips_too(env: Env) {
    let w = world(env);
    let t = w.task("/pod");
    let def = web_pod(&w, &["web", "side"]);
    let status = ma::pod_status(&def, vec![w.pod_instance(&t, &["web", "side"])]);
    w.marathon.set_pods(vec![def], vec![status]).expect("pods");
    let m = w.vip_manager(Duration::from_millis(100));
    wait_for("the pod's member", || {
        w.members() == vec![(t.ip.clone(), 8080, t.vmi.clone())]
    });
    assert!(w.lb("pod-web.marathon").is_some());
    w.marathon.set_pods(vec![], vec![]).expect("no pods");
    wait_for("nothing", || w.vip_objects() == [0; 6]);
    m.shutdown();
}

fn status_json(w: &World) -> Value {
    let conf = w.env.cluster_conf();
    let out = std::process::Command::new(BIN)
        .args([
            "status",
            "-c",
            &conf.path.display().to_string(),
            "--api",
            &w.env.config.url(),
            "--marathon",
            &w.marathon.url(),
            "--mesos",
            &w.mesos.url(),
            "--json",
        ])
        .output()
        .expect("status");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn status_lists_each_vip_with_its_members_and_what_is_missing_or_extra(env: Env) {
    let w = world(env);
    let (t1, t2, t3) = (w.task("/web"), w.task("/web"), w.task("/web"));
    let app = |tasks: &[&Task]| {
        web_app(
            &w,
            "/web",
            vec![mapping(
                8080,
                "tcp",
                &[("VIP_0", "/web:80"), ("VIP_1", "192.168.9.9:53")],
            )],
            tasks,
        )
    };
    w.set(&[app(&[&t1, &t2])]);
    let m = w.vip_manager(Duration::from_secs(3600));
    wait_for("two members", || w.members().len() == 2);
    m.shutdown();
    let doc = status_json(&w);
    let vips = doc["vips"].as_array().expect("a vips list");
    assert_eq!(vips.len(), 2, "{vips:?}");
    let refused = &vips[0];
    assert_eq!(refused["name"], "192.168.9.9");
    assert!(
        refused["refused"]
            .as_str()
            .is_some_and(|r| r.contains("outside service_subnets"))
    );
    let web = &vips[1];
    let address =
        w.lb("web.marathon").expect("lb")["loadbalancer_properties"]["vip_address"].clone();
    assert_eq!(web["name"], "web.marathon");
    assert_eq!(web["vip"], "/web");
    assert_eq!(web["address"], address);
    assert_eq!(web["apps"], json!(["/web"]));
    assert_eq!(web["ports"], json!(["80/tcp"]));
    let mut members: Vec<(String, String)> = web["members"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            assert_eq!(m["port"], 8080);
            assert_eq!(m["vip_port"], "80/tcp");
            (
                m["task"].as_str().unwrap_or_default().to_string(),
                m["address"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    members.sort();
    let mut want = vec![(t1.id(), t1.ip.clone()), (t2.id(), t2.ip.clone())];
    want.sort();
    assert_eq!(members, want);
    assert_eq!(
        (web["missing"].clone(), web["extra"].clone()),
        (json!([]), json!([]))
    );

    // With no manager running, Marathon moves on: t3 is missing, t2 is extra.
    w.set(&[app(&[&t1, &t3])]);
    let doc = status_json(&w);
    let web = &doc["vips"][1];
    assert_eq!(
        web["missing"],
        json!([format!("member {} {}:8080 on 80/tcp", t3.id(), t3.ip)])
    );
    assert_eq!(web["extra"], json!([format!("member {}:8080", t2.ip)]));
    let conf = w.env.cluster_conf();
    let table = std::process::Command::new(BIN)
        .args([
            "status",
            "-c",
            &conf.path.display().to_string(),
            "--api",
            &w.env.config.url(),
            "--marathon",
            &w.marathon.url(),
            "--mesos",
            &w.mesos.url(),
        ])
        .output()
        .expect("status");
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("VIP") && text.contains("web.marathon"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "missing: member {} {}:8080 on 80/tcp",
            t3.id(),
            t3.ip
        )),
        "{text}"
    );
    assert!(
        text.contains("refused: VIP 192.168.9.9 is outside service_subnets"),
        "{text}"
    );
}

fn a_vip_that_drops_a_port_loses_its_port_map(env: Env) {
    let w = world(env);
    let (t1, t2) = (w.task("/web"), w.task("/web"));
    let app = |mappings: Vec<Value>| web_app(&w, "/web", mappings, &[&t1, &t2]);
    let m80 = || mapping(8080, "tcp", &[("VIP_0", "/web:80")]);
    let m81 = || ma::port_mapping("admin", 8081, "tcp", 10102, &[("VIP_1", "/web:81")]);
    w.set(&[app(vec![m80(), m81()])]);
    let m = w.vip_manager(Duration::from_millis(100));
    wait_for("four members", || w.members().len() == 4);
    let lb = w.lb("web.marathon").expect("lb");
    let tcp = |port, to| ("TCP".to_string(), port, to);
    wait_for("both ports mapped", || {
        w.port_maps(&lb) == [tcp(80, 8080), tcp(81, 8081)]
    });

    // 81 goes from the labels: its listener, pool and members go, and so does its map
    // (svc-monitor would keep it: traffic to 81 would still reach the tasks' 8081).
    w.set(&[app(vec![m80()])]);
    wait_for("81's map gone", || {
        w.env.config.count("loadbalancer-listener") == 1 && w.port_maps(&lb) == [tcp(80, 8080)]
    });
    assert_eq!(
        fip_vmis(&w.vip_fip(&lb).expect("floating IP")),
        sorted(&[&t1.vmi, &t2.vmi]),
        "both tasks still serve 80"
    );
    m.shutdown();
}

fn an_unhealthy_task_leaves_the_vip_floating_ip_and_comes_back_when_healthy(env: Env) {
    let w = world(env);
    let (t1, t2) = (w.task("/web"), w.task("/web"));
    let alive = |t: &Task, ok: bool| {
        let mut t = t.clone();
        t.json["healthCheckResults"] = json!([{"alive": ok, "consecutiveFailures": 0}]);
        t
    };
    let app = |a: &Task, b: &Task| {
        let mut app = web_app(
            &w,
            "/web",
            vec![mapping(8080, "tcp", &[("VIP_0", "/web:80")])],
            &[a, b],
        );
        app.def["healthChecks"] = json!([{"protocol": "MESOS_TCP", "portIndex": 0}]);
        app
    };
    w.set(&[app(&alive(&t1, true), &alive(&t2, true))]);
    let m = w.vip_manager(Duration::from_millis(100));
    wait_for("two members", || w.members().len() == 2);
    let lb = w.lb("web.marathon").expect("lb");
    let on_fip = || w.vip_fip(&lb).map(|f| fip_vmis(&f)).unwrap_or_default();
    wait_for("both on the floating IP", || {
        on_fip() == sorted(&[&t1.vmi, &t2.vmi])
    });

    // t2 fails its health check: its member goes, and its interface leaves the floating IP
    // (svc-monitor would leave it on: the VIP would still send it traffic).
    w.set(&[app(&alive(&t1, true), &alive(&t2, false))]);
    wait_for("t2 off the floating IP", || {
        w.members().len() == 1 && on_fip() == std::slice::from_ref(&t1.vmi)
    });

    // Healthy again: a member again, and on the floating IP again (svc-monitor, which has
    // seen that interface in this pool, would not put it back).
    w.set(&[app(&alive(&t1, true), &alive(&t2, true))]);
    wait_for("t2 back on the floating IP", || {
        w.members().len() == 2 && on_fip() == sorted(&[&t1.vmi, &t2.vmi])
    });
    m.shutdown();
}

/// The VIP's pool, and a member body for a task in it.
fn member_for(w: &World, t: &Task) -> contrail_mesos::domain::contrail::LoadbalancerMember {
    use contrail_mesos::domain::vip::label::{Protocol, VipPort};
    use contrail_mesos::domain::vip::objects::Backend;
    let names = Names::new(
        &w.env.cluster,
        &FqName::new(w.env.cluster_project()).expect("fq"),
    );
    let port = VipPort {
        port: 80,
        protocol: Protocol::Tcp,
    };
    assert!(w.env.config.count("loadbalancer-pool") == 1, "one pool");
    names.member(
        &VipKey::Named("web.marathon".into()),
        port,
        &Backend {
            address: t.ip.parse().expect("ip"),
            port: 8080,
            vmi: t.vmi.clone(),
            vm: t.vm.clone(),
        },
    )
}

/// The VIP /web:80 of `tasks` made by one pass of a manager (then only on events, and those
/// are off), with svc-monitor's floating IP on every task: (that manager, the floating IP's
/// uuid).
fn web_vip_of(w: &World, tasks: &[&Task]) -> (manager::Running, String) {
    w.set(&[web_app(
        w,
        "/web",
        vec![mapping(8080, "tcp", &[("VIP_0", "/web:80")])],
        tasks,
    )]);
    w.marathon.set_events_enabled(false);
    let m = w.vip_manager(Duration::from_secs(3600));
    let all: Vec<&str> = tasks.iter().map(|t| t.vmi.as_str()).collect();
    let fip = || {
        w.lb("web.marathon")
            .and_then(|lb| w.vip_fip(&lb))
            .filter(|f| fip_vmis(f) == sorted(&all))
    };
    wait_for("every task on the floating IP", || fip().is_some());
    let uuid = fip().and_then(|f| f["uuid"].as_str().map(str::to_string));
    (m, uuid.expect("floating IP"))
}

#[test]
fn a_member_added_while_its_task_goes_does_not_stop_the_del() {
    // A hook before a request: the emulator's alone.
    let w = world(Env::emulator_for(Backend::RealWithDaemons));
    let (t1, t2) = (w.task("/web"), w.task("/web"));
    let (m, fip) = web_vip_of(&w, &[&t1]);
    assert_eq!(w.members().len(), 1);

    // t2 goes. Just as its DEL deletes its interface (taken off every floating IP a moment
    // before), t2 becomes a member (a manager whose VIP pass still saw it start): svc-monitor,
    // whose pool has not seen t2's interface, puts it on the VIP's floating IP.
    let api = ConfigApi::new(ApiOptions::new(vec![w.env.config.url()])).expect("client");
    let body = member_for(&w, &t2);
    let handle = w.env.config.sim().handle();
    let (fip2, vmi2) = (fip.clone(), t2.vmi.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    w.env.config.sim().before(
        "DELETE",
        &format!("/virtual-machine-interface/{}", t2.vmi),
        move || {
            api.create(&body).expect("t2's member");
            let on = handle
                .get("floating-ip", &fip2)
                .is_some_and(|f| fip_vmis(&f).contains(&vmi2));
            tx.send(on).expect("send");
        },
    );
    w.del(&t2);
    assert_eq!(
        rx.try_recv(),
        Ok(true),
        "svc-monitor put t2 on the floating IP during the DEL"
    );
    assert!(
        w.env
            .config
            .get("virtual-machine-interface", &t2.vmi)
            .is_none()
    );
    assert!(w.env.config.get("virtual-machine", &t2.vm).is_none());
    assert_eq!(
        fip_vmis(&w.env.config.get("floating-ip", &fip).expect("floating IP")),
        std::slice::from_ref(&t1.vmi)
    );
    // The member made for t2 goes with the next pass; only t1's objects and the VIP's are left.
    m.poke_vips();
    wait_for("t2's member gone", || {
        w.members() == [(t1.ip.clone(), 8080, t1.vmi.clone())]
    });
    assert_eq!(
        w.env.counts(),
        [1, 2, 2, 1],
        "t1's VM, interface and address; the VIP's interface, address and floating IP"
    );
    m.shutdown();
}

#[test]
fn a_del_gives_up_on_an_interface_put_back_on_a_floating_ip_for_ever() {
    // A hook before every delete: the emulator's alone.
    let w = world(Env::emulator_for(Backend::RealWithDaemons));
    let (t1, t2) = (w.task("/web"), w.task("/web"));
    let (m, fip) = web_vip_of(&w, &[&t1, &t2]);
    m.shutdown();

    // Something puts t2's interface back on the floating IP before every delete of it.
    fn put_back(
        api: ConfigApi,
        handle: contrail_mesos_sim::config_api::ConfigHandle,
        fip: String,
        vmi: String,
    ) {
        let path = format!("/virtual-machine-interface/{vmi}");
        let next = handle.clone();
        handle.before("DELETE", &path, move || {
            api.ref_update(
                "floating-ip",
                &fip,
                "virtual-machine-interface",
                &vmi,
                contrail_mesos::clients::contrail::config_api::RefOp::Add,
                None,
            )
            .expect("put back");
            put_back(api, next, fip, vmi);
        });
    }
    let api = ConfigApi::new(ApiOptions::new(vec![w.env.config.url()])).expect("client");
    put_back(
        api,
        w.env.config.sim().handle(),
        fip.clone(),
        t2.vmi.clone(),
    );
    let started = Instant::now();
    let (status, body) = w.try_del(&t2);
    let took = started.elapsed();
    assert_ne!(status, 200, "{body}");
    let msg = body["error"]["msg"].as_str().unwrap_or_default();
    assert!(
        msg.contains(&format!("floating-ip {fip}")) && msg.contains("still held"),
        "{msg}"
    );
    assert!(
        took >= manager::teardown::DETACH_BUDGET && took < Duration::from_secs(10),
        "bounded by the budget, within the CNI plugin's wait: {took:?}"
    );
}
