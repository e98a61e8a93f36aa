//! What Contrail should hold: the VIPs Marathon's apps and pods declare, each with its ports
//! and the members of each port. Pure: Marathon's apps and pods, the master's state
//! ([`crate::domain::marathon`], [`crate::domain::mesos`]) and an index of the cluster's task
//! interfaces in, the desired VIPs out.
//!
//! Rules (contract §5, upstream/lb-dns.md §2.1, §2.2, §2.3, §5):
//! - an app on a container network (Marathon 1.5+ `networks` in `container` mode, or the
//!   legacy `ipAddress`) declares VIPs in `container.portMappings[].labels` (legacy:
//!   `ipAddress.discovery.ports[].labels`); a pod in its containers' `endpoints[].labels`;
//!   a key starting with `VIP` (any case) is a VIP label; the mapping's protocol (`tcp`,
//!   `udp`, `udp,tcp`, a pod endpoint's list) gives one listener each; a mapping without a
//!   container port is skipped (as dcos-l4lb skips port 0);
//! - a VIP exists while a task of an app naming it runs on a Contrail interface of this
//!   cluster (its container's VM is ours), in any state short of terminal; all apps naming a
//!   VIP share it;
//! - each serving task is a member of every port of the mapping (its address, its container
//!   port, its interface and VM): an app task `TASK_RUNNING` and, when the app has health
//!   checks, with `healthCheckResults` there and every one `alive` (marathon-lb's
//!   `get_apps`: no result yet, as in the grace period, no member); a pod container
//!   `TASK_RUNNING` whose health, when its spec has a check, the pod status reports passing
//!   (its endpoint's `healthy`, else its `healthy` condition);
//! - a task the master cannot place yet (no container id; a container with no VM of ours while
//!   the task does not run yet, as during its CNI ADD; a VM with several interfaces none of
//!   which holds the task's address) decides nothing: its VIP is not removed and members at
//!   its address stay;
//! - an address VIP outside `service_subnets` is refused (reported, never created).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;

use super::label::{self, Protocol, VipKey, VipPort};
use super::objects::Backend;
use crate::domain::contrail::VirtualMachine;
use crate::domain::marathon::{App, Labels, PodStatus};
use crate::domain::mesos::{self, MasterState, TaskRef};

/// One interface of a container VM of this cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Iface {
    pub uuid: String,
    /// Its instance IPs, when they were read (only needed to tell several apart).
    pub addresses: Vec<IpAddr>,
}

/// A container VM of this cluster and its interfaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskVm {
    pub uuid: String,
    pub ifaces: Vec<Iface>,
}

/// The cluster's container VMs by container id.
pub type Interfaces = HashMap<String, TaskVm>;

/// A member-to-be, with the task it stands for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Member {
    pub backend: Backend,
    /// The Marathon task id (apps) or instance id (pods).
    pub task: String,
}

/// One VIP Contrail should hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredVip {
    /// The label's VIP part (`/web`), from the first app naming it.
    pub label: String,
    /// The apps and pods naming it.
    pub owners: BTreeSet<String>,
    /// Its ports, each with its members.
    pub ports: BTreeMap<VipPort, Vec<Member>>,
    /// A placed task names it: it is made if missing.
    pub declared: bool,
    /// A task not placed yet names it: it is not removed.
    pub held: bool,
    /// Addresses of tasks not placed yet: members there stay.
    pub keep: BTreeSet<IpAddr>,
}

/// A VIP that is not made, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub key: VipKey,
    pub label: String,
    pub owners: BTreeSet<String>,
    pub reason: String,
}

/// Everything Contrail should hold, and what cannot be.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    pub vips: BTreeMap<VipKey, DesiredVip>,
    pub refused: Vec<Refused>,
    /// Labels or mappings that could not be read, and listeners whose members disagree on the
    /// container port (svc-monitor maps a listener to one port), as sentences.
    pub warnings: Vec<String>,
}

/// What one VIP-declaring port of an app or pod says.
struct PortDecl<'a> {
    label: label::VipLabel,
    protocols: Vec<Protocol>,
    container_port: u16,
    /// Pods: the container the endpoint belongs to (only its status counts).
    container: Option<&'a str>,
}

/// A task as far as VIPs care.
struct TaskSeen<'a> {
    id: &'a str,
    live: bool,
    /// Running (apps: `TASK_RUNNING`; pods: a container is).
    running: bool,
    /// Running and serving (its health checks, if any, passing).
    serving: bool,
    address: Option<IpAddr>,
    /// Mesos task ids whose containers may hold its network (pods: every container's).
    mesos_tasks: Vec<&'a str>,
    /// Pods: the containers running and serving (`None`: apps, any).
    serving_containers: Option<BTreeSet<&'a str>>,
}

/// Where a task's interface is.
enum Placed {
    Iface {
        vm: String,
        vmi: String,
    },
    Foreign,
    Unknown,
    /// The master says the task ended (Marathon has not caught up yet).
    Ended,
}

fn vip_labels(labels: &Labels, what: &str, warnings: &mut Vec<String>) -> Vec<label::VipLabel> {
    let mut out = Vec::new();
    for (k, v) in labels.iter().filter(|(k, _)| label::is_vip_key(k)) {
        match label::parse(v) {
            Ok(l) => out.push(l),
            Err(e) => warnings.push(format!("{what}: label {k}: {e}")),
        }
    }
    out
}

fn port_of(p: u32) -> Option<u16> {
    u16::try_from(p).ok().filter(|p| *p > 0)
}

/// The VIP-declaring ports of an app: `container.portMappings`, or the legacy
/// `ipAddress.discovery.ports`.
fn app_ports<'a>(app: &'a App, warnings: &mut Vec<String>) -> Vec<PortDecl<'a>> {
    let id = &app.id;
    let mappings = app
        .port_mappings()
        .iter()
        .map(|m| (&m.labels, m.protocol.as_str(), m.container_port));
    let discovery = app
        .discovery_ports()
        .iter()
        .map(|d| (&d.labels, d.protocol.as_str(), d.number));
    let mut out = Vec::new();
    for (labels, protocol, port) in mappings.chain(discovery) {
        let labels = vip_labels(labels, &format!("app {id}"), warnings);
        if labels.is_empty() {
            continue;
        }
        let Some(protocols) = label::protocols([protocol]) else {
            warnings.push(format!(
                "app {id}: port mapping protocol {protocol:?} is not tcp or udp"
            ));
            continue;
        };
        let Some(container_port) = port_of(port) else {
            warnings.push(format!(
                "app {id}: a VIP port mapping without a container port"
            ));
            continue;
        };
        for l in labels {
            out.push(PortDecl {
                label: l,
                protocols: protocols.clone(),
                container_port,
                container: None,
            });
        }
    }
    out
}

/// The VIP-declaring endpoints of a pod's spec.
fn pod_ports<'a>(pod: &'a PodStatus, warnings: &mut Vec<String>) -> Vec<PortDecl<'a>> {
    let id = &pod.id;
    let mut out = Vec::new();
    for c in &pod.spec.containers {
        for e in &c.endpoints {
            let labels = vip_labels(&e.labels, &format!("pod {id}"), warnings);
            if labels.is_empty() {
                continue;
            }
            let Some(protocols) = label::protocols(e.protocols()) else {
                warnings.push(format!(
                    "pod {id}: endpoint protocol {:?} is not tcp or udp",
                    e.protocol
                ));
                continue;
            };
            let Some(container_port) = e.container_port.and_then(port_of) else {
                warnings.push(format!("pod {id}: a VIP endpoint without a container port"));
                continue;
            };
            for l in labels {
                out.push(PortDecl {
                    label: l,
                    protocols: protocols.clone(),
                    container_port,
                    container: Some(c.name.as_str()),
                });
            }
        }
    }
    out
}

fn app_tasks(app: &App) -> Vec<TaskSeen<'_>> {
    app.tasks
        .iter()
        .map(|t| TaskSeen {
            id: &t.id,
            live: !mesos::is_terminal(&t.state),
            running: t.state == "TASK_RUNNING",
            serving: t.state == "TASK_RUNNING" && app.task_health(t).serves(),
            address: t.address(),
            mesos_tasks: vec![t.id.as_str()],
            serving_containers: None,
        })
        .collect()
}

fn pod_tasks(pod: &PodStatus) -> Vec<TaskSeen<'_>> {
    pod.instances
        .iter()
        .map(|inst| {
            let live = inst.is_live();
            let running: Vec<&str> = inst
                .containers
                .iter()
                .filter(|c| c.status == "TASK_RUNNING")
                .map(|c| c.name.as_str())
                .collect();
            let serving: BTreeSet<&str> = running
                .iter()
                .copied()
                .filter(|c| pod.container_health(inst, c).serves())
                .collect();
            TaskSeen {
                id: &inst.id,
                live,
                running: live && !running.is_empty(),
                serving: live && !serving.is_empty(),
                address: inst.address(),
                mesos_tasks: inst.task_ids().collect(),
                serving_containers: Some(serving),
            }
        })
        .collect()
}

fn place(task: &TaskSeen<'_>, master: &HashMap<&str, TaskRef<'_>>, ifaces: &Interfaces) -> Placed {
    let known: Vec<&TaskRef<'_>> = task
        .mesos_tasks
        .iter()
        .filter_map(|t| master.get(t))
        .collect();
    if !known.is_empty() && known.iter().all(|mt| !mt.active()) {
        return Placed::Ended;
    }
    let containers: Vec<&str> = known
        .iter()
        .filter(|mt| mt.active())
        .flat_map(|mt| mt.container_ids())
        .collect();
    if containers.is_empty() {
        return Placed::Unknown;
    }
    let Some(vm) = containers.iter().find_map(|c| ifaces.get(*c)) else {
        return Placed::Foreign;
    };
    let pick = match vm.ifaces.as_slice() {
        [] => None,
        [one] => Some(one),
        many => task
            .address
            .and_then(|a| many.iter().find(|i| i.addresses.contains(&a))),
    };
    match pick {
        Some(i) => Placed::Iface {
            vm: vm.uuid.clone(),
            vmi: i.uuid.clone(),
        },
        None => Placed::Unknown,
    }
}

/// The containers of the master's running tasks whose VMs have more than one interface: their
/// instance IPs must be read to pick the task's interface.
pub fn ambiguous_containers(master: &MasterState, ifaces: &Interfaces) -> Vec<String> {
    let mut out: Vec<String> = master
        .tasks()
        .filter(TaskRef::active)
        .flat_map(|t| t.container_ids())
        .filter(|c| ifaces.get(*c).is_some_and(|vm| vm.ifaces.len() > 1))
        .map(str::to_string)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Inputs of [`compute`].
pub struct Inputs<'a> {
    /// `GET /v2/apps?embed=apps.tasks`
    pub apps: &'a [App],
    /// `GET /v2/pods/::status`
    pub pods: &'a [PodStatus],
    /// `GET /master/state`
    pub master: &'a MasterState,
    pub interfaces: &'a Interfaces,
    pub service_subnets: &'a [IpNet],
}

/// The desired VIPs.
pub fn compute(inp: &Inputs<'_>) -> Desired {
    let master = inp.master.by_task_id();
    let mut out = Desired::default();
    let mut sources: Vec<(&str, Vec<PortDecl<'_>>, Vec<TaskSeen<'_>>)> = Vec::new();
    for app in inp.apps.iter().filter(|a| a.on_container_network()) {
        let ports = app_ports(app, &mut out.warnings);
        if !ports.is_empty() {
            sources.push((&app.id, ports, app_tasks(app)));
        }
    }
    for pod in inp.pods.iter().filter(|p| p.on_container_network()) {
        let ports = pod_ports(pod, &mut out.warnings);
        if !ports.is_empty() {
            sources.push((&pod.id, ports, pod_tasks(pod)));
        }
    }
    sources.sort_by(|a, b| a.0.cmp(b.0));
    let mut refused: BTreeMap<VipKey, Refused> = BTreeMap::new();
    for (owner, ports, tasks) in &sources {
        let placed: Vec<(&TaskSeen<'_>, Placed)> = tasks
            .iter()
            .filter(|t| t.live)
            .map(|t| (t, place(t, &master, inp.interfaces)))
            .collect();
        for decl in ports {
            let key = decl.label.key.clone();
            if let Some(reason) = outside_service_subnets(&key, inp.service_subnets) {
                let r = refused.entry(key.clone()).or_insert_with(|| Refused {
                    key: key.clone(),
                    label: decl.label.vip.clone(),
                    owners: BTreeSet::new(),
                    reason,
                });
                r.owners.insert(owner.to_string());
                continue;
            }
            let vip = out.vips.entry(key).or_insert_with(|| DesiredVip {
                label: decl.label.vip.clone(),
                ..DesiredVip::default()
            });
            vip.owners.insert(owner.to_string());
            for p in &decl.protocols {
                vip.ports
                    .entry(VipPort {
                        port: decl.label.port,
                        protocol: *p,
                    })
                    .or_default();
            }
            for (task, where_) in &placed {
                add_task(vip, decl, task, where_);
            }
        }
    }
    out.warnings.extend(mixed_container_ports(&mut out.vips));
    out.vips.retain(|_, v| v.declared || v.held);
    out.refused = refused.into_values().collect();
    out
}

/// Why an IPv4 VIP cannot be had: it lies outside `service_subnets`.
fn outside_service_subnets(key: &VipKey, service_subnets: &[IpNet]) -> Option<String> {
    let VipKey::Address(a) = key else {
        return None;
    };
    if service_subnets.iter().any(|n| n.contains(a)) {
        return None;
    }
    let subnets: Vec<String> = service_subnets.iter().map(ToString::to_string).collect();
    Some(format!(
        "VIP {a} is outside service_subnets {}",
        subnets.join(",")
    ))
}

/// What one task of a VIP's owner gives it: a member per protocol when it serves on a Contrail
/// interface of this cluster; its address kept (nothing removed) while it cannot be placed.
fn add_task(vip: &mut DesiredVip, decl: &PortDecl<'_>, task: &TaskSeen<'_>, where_: &Placed) {
    match where_ {
        Placed::Ended => {}
        Placed::Foreign if task.running => {}
        Placed::Foreign | Placed::Unknown => {
            vip.held = true;
            if let Some(a) = task.address {
                vip.keep.insert(a);
            }
        }
        Placed::Iface { vm, vmi } => {
            vip.declared = true;
            let container_serves = match (&task.serving_containers, decl.container) {
                (Some(set), Some(c)) => set.contains(c),
                _ => true,
            };
            let Some(address) = task.address.filter(|_| task.serving && container_serves) else {
                return;
            };
            for p in &decl.protocols {
                let port = VipPort {
                    port: decl.label.port,
                    protocol: *p,
                };
                let m = Member {
                    backend: Backend {
                        address,
                        port: decl.container_port,
                        vmi: vmi.clone(),
                        vm: vm.clone(),
                    },
                    task: task.id.to_string(),
                };
                let list = vip.ports.entry(port).or_default();
                if !list.iter().any(|x| x.backend == m.backend) {
                    list.push(m);
                }
            }
        }
    }
}

/// Members sorted; a warning per VIP port whose members listen on different container ports
/// (svc-monitor maps a listener to one of them).
fn mixed_container_ports(vips: &mut BTreeMap<VipKey, DesiredVip>) -> Vec<String> {
    let mut warnings = Vec::new();
    for (key, vip) in vips {
        for (p, members) in &mut vip.ports {
            members.sort();
            let ports: BTreeSet<u16> = members.iter().map(|m| m.backend.port).collect();
            if ports.len() > 1 {
                warnings.push(format!(
                    "VIP {key} {p}: members listen on different container ports {ports:?}; \
                     svc-monitor maps the listener to one of them"
                ));
            }
        }
    }
    warnings
}

/// The cluster's container VMs and their interfaces by container id, as the VIP computation
/// takes them (the interfaces' addresses are left to read when needed).
pub fn task_interfaces(vms: &[VirtualMachine], cluster: &str) -> Interfaces {
    vms.iter().filter_map(|vm| task_vm(vm, cluster)).collect()
}

/// A container VM of `cluster` as [`task_interfaces`] keeps it: its container id and its VM.
pub fn task_vm(vm: &VirtualMachine, cluster: &str) -> Option<(String, TaskVm)> {
    if !vm.is_container() || !vm.is_ours(cluster) {
        return None;
    }
    Some((
        vm.container_id()?.to_string(),
        TaskVm {
            uuid: vm.uuid.clone(),
            ifaces: vm
                .virtual_machine_interface_back_refs
                .iter()
                .map(|r| Iface {
                    uuid: r.uuid.clone(),
                    addresses: Vec::new(),
                })
                .collect(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::marathon::AppList;
    use serde_json::{Value, json};

    fn iface(cid: &str, vm: &str, vmis: &[(&str, &[&str])]) -> (String, TaskVm) {
        (
            cid.to_string(),
            TaskVm {
                uuid: vm.to_string(),
                ifaces: vmis
                    .iter()
                    .map(|(u, a)| Iface {
                        uuid: u.to_string(),
                        addresses: a.iter().filter_map(|s| s.parse().ok()).collect(),
                    })
                    .collect(),
            },
        )
    }

    /// A task the master lists with this state, in its container (the first id) nested under
    /// the others (parents).
    fn master_task(task: &str, state: &str, cids: &[&str]) -> Value {
        let mut id = Value::Null;
        for c in cids.iter().rev() {
            id = if id.is_null() {
                json!({ "value": c })
            } else {
                json!({"value": c, "parent": id})
            };
        }
        json!({"id": task, "state": state, "statuses": [{"container_status": {"container_id": id}}]})
    }

    fn mt(task: &str, cids: &[&str]) -> Value {
        master_task(task, "TASK_RUNNING", cids)
    }

    fn master(tasks: &[Value]) -> MasterState {
        serde_json::from_value(json!({"frameworks": [{"id": "marathon", "tasks": tasks}]}))
            .expect("a master state")
    }

    fn task(id: &str, state: &str, ip: &str) -> Value {
        json!({"id": id, "state": state, "ipAddresses": [{"ipAddress": ip, "protocol": "IPv4"}]})
    }

    fn app(id: &str, mappings: Value, tasks: Vec<Value>) -> Value {
        json!({"id": id, "networks": [{"mode": "container", "name": "contrail-cni-plugin"}],
               "container": {"type": "MESOS", "portMappings": mappings}, "tasks": tasks})
    }

    fn subnets() -> Vec<IpNet> {
        vec!["10.96.0.0/12".parse().expect("net")]
    }

    fn run(apps: Vec<Value>, pods: Value, tasks: &[Value], ifs: &Interfaces) -> Desired {
        let apps: AppList = serde_json::from_value(json!({ "apps": apps })).expect("apps");
        let pods: Vec<PodStatus> = serde_json::from_value(pods).expect("pods");
        compute(&Inputs {
            apps: &apps.apps,
            pods: &pods,
            master: &master(tasks),
            interfaces: ifs,
            service_subnets: &subnets(),
        })
    }

    fn web() -> VipKey {
        VipKey::Named("web.marathon".into())
    }

    fn p(port: u16, protocol: Protocol) -> VipPort {
        VipPort { port, protocol }
    }

    #[test]
    fn running_tasks_on_our_interfaces_are_members_of_every_protocol() {
        let ifs: Interfaces = [
            iface("c1", "vm1", &[("i1", &[])]),
            iface("c2", "vm2", &[("i2", &[])]),
        ]
        .into();
        let mapping = json!([{"containerPort": 8080, "protocol": "udp,tcp", "labels": {"VIP_0": "/web:80", "other": "x"}}]);
        let d = run(
            vec![app(
                "/web",
                mapping,
                vec![
                    task("web.1", "TASK_RUNNING", "5.5.5.3"),
                    task("web.2", "TASK_STAGING", "5.5.5.4"),
                ],
            )],
            json!([]),
            &[mt("web.1", &["c1"]), mt("web.2", &["c2"])],
            &ifs,
        );
        let v = &d.vips[&web()];
        assert_eq!(v.label, "/web");
        assert!(v.declared && v.keep.is_empty());
        assert_eq!(
            v.ports.keys().copied().collect::<Vec<_>>(),
            [p(80, Protocol::Tcp), p(80, Protocol::Udp)]
        );
        for members in v.ports.values() {
            assert_eq!(members.len(), 1, "only the running task");
            assert_eq!(members[0].task, "web.1");
            assert_eq!(
                members[0].backend,
                Backend {
                    address: "5.5.5.3".parse().expect("ip"),
                    port: 8080,
                    vmi: "i1".into(),
                    vm: "vm1".into()
                }
            );
        }
    }

    #[test]
    fn apps_sharing_a_vip_share_it_and_others_are_ignored() {
        let ifs: Interfaces = [
            iface("c1", "vm1", &[("i1", &[])]),
            iface("c2", "vm2", &[("i2", &[])]),
        ]
        .into();
        let m = |v: &str| json!([{"containerPort": 80, "labels": {"vip_x": v}}]);
        let host_mode = json!({"id": "/host", "portDefinitions": [{"port": 80, "labels": {"VIP_0": "/web:80"}}],
            "tasks": [task("host.1", "TASK_RUNNING", "10.0.0.1")]});
        let d = run(
            vec![
                app(
                    "/a",
                    m("/web:80"),
                    vec![task("a.1", "TASK_RUNNING", "5.5.5.3")],
                ),
                app(
                    "/b",
                    m("web:80"),
                    vec![task("b.1", "TASK_RUNNING", "5.5.5.4")],
                ),
                host_mode,
                // Tasks not on a Contrail interface of ours declare nothing.
                app(
                    "/elsewhere",
                    m("/other:80"),
                    vec![task("e.1", "TASK_RUNNING", "9.9.9.9")],
                ),
            ],
            json!([]),
            &[
                mt("a.1", &["c1"]),
                mt("b.1", &["c2"]),
                mt("e.1", &["c-foreign"]),
            ],
            &ifs,
        );
        assert_eq!(d.vips.len(), 1, "{:?}", d.vips.keys());
        let v = &d.vips[&web()];
        assert_eq!(v.owners, ["/a".to_string(), "/b".to_string()].into());
        assert_eq!(v.label, "/web", "the first app's spelling");
        assert_eq!(v.ports[&p(80, Protocol::Tcp)].len(), 2);
    }

    #[test]
    fn tasks_the_master_cannot_place_keep_what_exists() {
        let ifs: Interfaces = [iface("c1", "vm1", &[("i1", &[])])].into();
        let mapping =
            json!([{"containerPort": 8080, "protocol": "tcp", "labels": {"VIP_0": "/web:80"}}]);
        // Only an unplaced task: the VIP is kept if it exists, not made.
        let d = run(
            vec![app(
                "/web",
                mapping.clone(),
                vec![task("web.1", "TASK_RUNNING", "5.5.5.3")],
            )],
            json!([]),
            &[],
            &ifs,
        );
        let v = &d.vips[&web()];
        assert!(!v.declared && v.held);
        assert_eq!(v.keep, ["5.5.5.3".parse::<IpAddr>().expect("ip")].into());
        assert!(v.ports[&p(80, Protocol::Tcp)].is_empty());
        // A task the master reports ended is no member, even while Marathon still runs it.
        let ended = master_task("web.1", "TASK_KILLED", &["c1"]);
        let d = run(
            vec![app(
                "/web",
                mapping.clone(),
                vec![task("web.1", "TASK_RUNNING", "5.5.5.3")],
            )],
            json!([]),
            &[ended],
            &ifs,
        );
        assert!(d.vips.is_empty(), "{:?}", d.vips);
        // Dead tasks and apps without tasks name nothing.
        let d = run(
            vec![
                app(
                    "/web",
                    mapping.clone(),
                    vec![task("web.1", "TASK_KILLED", "5.5.5.3")],
                ),
                app("/idle", mapping, vec![]),
            ],
            json!([]),
            &[mt("web.1", &["c1"])],
            &ifs,
        );
        assert!(d.vips.is_empty(), "{:?}", d.vips);
    }

    #[test]
    fn a_vm_with_two_interfaces_gives_the_one_holding_the_task_address() {
        let ifs: Interfaces = [iface(
            "c1",
            "vm1",
            &[("i-blue", &["5.5.5.3"]), ("i-red", &["6.6.6.3"])],
        )]
        .into();
        let mapping = json!([{"containerPort": 8080, "labels": {"VIP_0": "/web:80"}}]);
        let d = run(
            vec![app(
                "/web",
                mapping,
                vec![task("web.1", "TASK_RUNNING", "6.6.6.3")],
            )],
            json!([]),
            &[mt("web.1", &["c1"])],
            &ifs,
        );
        assert_eq!(
            d.vips[&web()].ports[&p(80, Protocol::Tcp)][0].backend.vmi,
            "i-red"
        );
        assert_eq!(
            ambiguous_containers(&master(&[mt("web.1", &["c1"])]), &ifs),
            ["c1"]
        );
    }

    #[test]
    fn address_vips_outside_the_service_subnets_are_refused() {
        let ifs: Interfaces = [iface("c1", "vm1", &[("i1", &[])])].into();
        let mapping = json!([{"containerPort": 8080, "labels": {"VIP_0": "10.0.0.9:80", "VIP_1": "10.96.0.9:81", "VIP_2": "nonsense"}}]);
        let d = run(
            vec![app(
                "/web",
                mapping,
                vec![task("web.1", "TASK_RUNNING", "5.5.5.3")],
            )],
            json!([]),
            &[mt("web.1", &["c1"])],
            &ifs,
        );
        assert_eq!(d.refused.len(), 1);
        assert!(
            d.refused[0]
                .reason
                .contains("outside service_subnets 10.96.0.0/12")
        );
        assert_eq!(d.refused[0].owners, ["/web".to_string()].into());
        assert!(
            d.vips
                .contains_key(&VipKey::Address("10.96.0.9".parse().expect("ip")))
        );
        assert!(
            d.warnings.iter().any(|w| w.contains("VIP_2")),
            "{:?}",
            d.warnings
        );
    }

    #[test]
    fn pods_declare_vips_on_endpoints() {
        let ifs: Interfaces = [iface("exec-1", "vm1", &[("i1", &[])])].into();
        let status = json!([{"id": "/pod",
            "spec": {"id": "/pod", "networks": [{"mode": "container", "name": "n"}],
                     "containers": [{"name": "web", "endpoints": [{"name": "http", "containerPort": 8080,
                        "protocol": ["tcp"], "labels": {"VIP_0": "/pod-web:80"}}]},
                                    {"name": "side"}]},
            "instances": [{"id": "pod.instance-1", "status": "STABLE",
                "networks": [{"name": "n", "addresses": ["5.5.5.9"]}],
                "containers": [{"name": "web", "status": "TASK_RUNNING", "containerId": "pod.instance-1.web"},
                               {"name": "side", "status": "TASK_RUNNING", "containerId": "pod.instance-1.side"}]}]}]);
        let d = run(
            vec![],
            status,
            &[mt("pod.instance-1.web", &["child", "exec-1"])],
            &ifs,
        );
        let v = &d.vips[&VipKey::Named("pod-web.marathon".into())];
        let m = &v.ports[&p(80, Protocol::Tcp)][0];
        assert_eq!(
            (m.task.as_str(), m.backend.vmi.as_str(), m.backend.port),
            ("pod.instance-1", "i1", 8080)
        );
        assert_eq!(m.backend.address.to_string(), "5.5.5.9");
    }

    #[test]
    fn health_checked_tasks_serve_once_every_result_is_in_and_alive() {
        let ifs: Interfaces = [
            iface("c1", "vm1", &[("i1", &[])]),
            iface("c2", "vm2", &[("i2", &[])]),
        ]
        .into();
        // `/a` (container port 8080, one HTTP health check, its task's results as given) and
        // `/b` (9090, no health check) share VIP /web:80.
        let with_a_results = |results: Option<Value>| {
            let mut a1 = task("a.1", "TASK_RUNNING", "5.5.5.3");
            if let Some(r) = results {
                a1["healthCheckResults"] = r;
            }
            let mut a = app(
                "/a",
                json!([{"containerPort": 8080, "labels": {"VIP_0": "/web:80"}}]),
                vec![a1],
            );
            a["healthChecks"] = json!([{"protocol": "MESOS_HTTP", "path": "/", "portIndex": 0}]);
            run(
                vec![
                    a,
                    app(
                        "/b",
                        json!([{"containerPort": 9090, "labels": {"VIP_0": "/web:80"}}]),
                        vec![task("b.1", "TASK_RUNNING", "5.5.5.4")],
                    ),
                ],
                json!([]),
                &[mt("a.1", &["c1"]), mt("b.1", &["c2"])],
                &ifs,
            )
        };
        let members = |d: &Desired| -> Vec<String> {
            d.vips[&web()].ports[&p(80, Protocol::Tcp)]
                .iter()
                .map(|m| m.task.clone())
                .collect()
        };
        let result = |alive: bool| {
            json!({"alive": alive, "consecutiveFailures": 0,
            "instanceId": "a.instance-1", "lastSuccess": "2026-01-01T00:00:00.000Z"})
        };
        // No result yet: the key absent (older Marathon) or an empty list (1.5+).
        for pending in [None, Some(json!([]))] {
            let d = with_a_results(pending.clone());
            assert_eq!(
                members(&d),
                ["b.1"],
                "no result yet ({pending:?}): no member"
            );
            assert!(d.vips[&web()].declared, "the VIP stays");
        }
        let d = with_a_results(Some(json!([result(true), result(false)])));
        assert_eq!(members(&d), ["b.1"], "one check failing: no member");
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
        let d = with_a_results(Some(json!([result(true)])));
        assert_eq!(members(&d), ["a.1", "b.1"], "every result alive: a member");
        assert!(
            d.warnings
                .iter()
                .any(|w| w.contains("different container ports")),
            "{:?}",
            d.warnings
        );
    }

    #[test]
    fn pod_containers_serve_once_their_health_check_passes() {
        let ifs: Interfaces = [iface("exec-1", "vm1", &[("i1", &[])])].into();
        // The pod of Marathon's example (`pod.json`): `container1` with an HTTP health check
        // on endpoint `httpendpoint`, here with a VIP label.
        let status = |endpoint: Value, condition: Value| {
            json!([{"id": "/foo", "spec": {"id": "/foo",
                "networks": [{"mode": "container", "name": "n"}],
                "containers": [{"name": "container1",
                    "endpoints": [{"name": "httpendpoint", "containerPort": 80, "protocol": ["tcp"],
                        "labels": {"VIP_0": "/foo:80"}}],
                    "healthCheck": {"http": {"endpoint": "httpendpoint", "path": "/health"}}}]},
                "instances": [{"id": "foo.instance-1", "status": "STABLE",
                    "networks": [{"name": "n", "addresses": ["5.5.5.9"]}],
                    "containers": [{"name": "container1", "status": "TASK_RUNNING",
                        "containerId": "foo.instance-1.container1",
                        "endpoints": [endpoint], "conditions": [condition]}]}]}])
        };
        let condition = |value: &str, reason: &str| {
            json!({"name": "healthy", "value": value, "reason": reason,
                "lastChanged": "2026-01-01T00:00:00Z", "lastUpdated": "2026-01-01T00:00:00Z"})
        };
        let members = |pods: Value| -> usize {
            let d = run(
                vec![],
                pods,
                &[mt("foo.instance-1.container1", &["child", "exec-1"])],
                &ifs,
            );
            d.vips[&VipKey::Named("foo.marathon".into())].ports[&p(80, Protocol::Tcp)].len()
        };
        let unreported = condition("false", "health-unreported-by-mesos");
        assert_eq!(
            members(status(json!({"name": "httpendpoint"}), unreported)),
            0,
            "no result yet"
        );
        let healthy = condition("true", "health-reported-by-mesos");
        assert_eq!(
            members(status(
                json!({"name": "httpendpoint", "healthy": true}),
                healthy
            )),
            1
        );
        let failing = condition("false", "health-reported-by-mesos");
        assert_eq!(
            members(status(
                json!({"name": "httpendpoint", "healthy": false}),
                failing
            )),
            0
        );
    }

    #[test]
    fn legacy_ip_per_task_apps_declare_on_discovery_ports() {
        let ifs: Interfaces = [iface("c1", "vm1", &[("i1", &[])])].into();
        let app = json!({"id": "/old", "ipAddress": {"networkName": "contrail-cni-plugin",
            "discovery": {"ports": [{"number": 8080, "name": "http", "protocol": "tcp", "labels": {"VIP_0": "/old:80"}}]}},
            "tasks": [task("old.1", "TASK_RUNNING", "5.5.5.3")]});
        let d = run(vec![app], json!([]), &[mt("old.1", &["c1"])], &ifs);
        assert_eq!(
            d.vips[&VipKey::Named("old.marathon".into())].ports[&p(80, Protocol::Tcp)].len(),
            1
        );
    }
}
