//! What Contrail should hold: the VIPs Marathon's apps and pods declare, each with its ports
//! and the members of each port. Pure: Marathon's and the master's answers and an index of
//! the cluster's task interfaces in, the desired VIPs out.
//!
//! Rules (contract §5, upstream/lb-dns.md §2.1, §2.2, §5):
//! - an app on a container network (Marathon 1.5+ `networks` in `container` mode, or the
//!   legacy `ipAddress`) declares VIPs in `container.portMappings[].labels` (legacy:
//!   `ipAddress.discovery.ports[].labels`); a pod in its containers' `endpoints[].labels`;
//!   a key starting with `VIP` (any case) is a VIP label; the mapping's protocol (`tcp`,
//!   `udp`, `udp,tcp`, a pod endpoint's list) gives one listener each; a mapping without a
//!   container port is skipped (as dcos-l4lb skips port 0);
//! - a VIP exists while a task of an app naming it runs on a Contrail interface of this
//!   cluster (its container's VM is ours), in any state short of terminal; all apps naming a
//!   VIP share it;
//! - each running task (Marathon `TASK_RUNNING`, no failing health check; a pod container
//!   `TASK_RUNNING` whose endpoint is not unhealthy) is a member of every port of the mapping:
//!   its address, its container port, its interface and VM;
//! - a task the master cannot place yet (no container id; a container with no VM of ours while
//!   the task does not run yet, as during its CNI ADD; a VM with several interfaces none of
//!   which holds the task's address) decides nothing: its VIP is not removed and members at
//!   its address stay;
//! - an address VIP outside `service_subnets` is refused (reported, never created).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

use super::label::{self, Protocol, VipKey, VipPort};
use super::objects::Backend;
use crate::clients::marathon;
use crate::clients::mesos::{MasterTask, TERMINAL_STATES};
use crate::domain::contrail::VirtualMachine;

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
struct PortDecl {
    label: label::VipLabel,
    protocols: Vec<Protocol>,
    container_port: u16,
    /// Pods: the container the endpoint belongs to (only its status counts).
    container: Option<String>,
}

/// A task as far as VIPs care.
struct TaskSeen {
    id: String,
    live: bool,
    running: bool,
    address: Option<IpAddr>,
    /// Mesos task ids whose containers may hold its network (pods: every container's).
    mesos_tasks: Vec<String>,
    /// Pods: the containers running with a healthy endpoint set (`None`: apps, any).
    running_containers: Option<BTreeSet<String>>,
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

fn labels_of(v: &Value) -> Vec<(&str, &str)> {
    v.as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
        .collect()
}

fn vip_labels(labels: &Value, what: &str, warnings: &mut Vec<String>) -> Vec<label::VipLabel> {
    let mut out = Vec::new();
    for (k, v) in labels_of(labels) {
        if !label::is_vip_key(k) {
            continue;
        }
        match label::parse(v) {
            Ok(l) => out.push(l),
            Err(e) => warnings.push(format!("{what}: label {k}: {e}")),
        }
    }
    out
}

fn port_of(v: &Value) -> Option<u16> {
    v.as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
}

/// The VIP-declaring ports of an app: `container.portMappings`, or the legacy
/// `ipAddress.discovery.ports`.
fn app_ports(app: &Value, id: &str, warnings: &mut Vec<String>) -> Vec<PortDecl> {
    let mappings = app["container"]["portMappings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| (m, &m["containerPort"]));
    let discovery = app["ipAddress"]["discovery"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| (m, &m["number"]));
    let mut out = Vec::new();
    for (m, port) in mappings.chain(discovery) {
        let labels = vip_labels(&m["labels"], &format!("app {id}"), warnings);
        if labels.is_empty() {
            continue;
        }
        let protocol = m["protocol"].as_str().unwrap_or("tcp");
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

/// The VIP-declaring endpoints of a pod spec.
fn pod_ports(spec: &Value, id: &str, warnings: &mut Vec<String>) -> Vec<PortDecl> {
    let mut out = Vec::new();
    for c in spec["containers"].as_array().into_iter().flatten() {
        let cname = c["name"].as_str().unwrap_or_default();
        for e in c["endpoints"].as_array().into_iter().flatten() {
            let labels = vip_labels(&e["labels"], &format!("pod {id}"), warnings);
            if labels.is_empty() {
                continue;
            }
            let names: Vec<&str> = e["protocol"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_else(|| vec!["tcp"]);
            let Some(protocols) = label::protocols(names.iter().copied()) else {
                warnings.push(format!(
                    "pod {id}: endpoint protocol {names:?} is not tcp or udp"
                ));
                continue;
            };
            let Some(container_port) = port_of(&e["containerPort"]) else {
                warnings.push(format!("pod {id}: a VIP endpoint without a container port"));
                continue;
            };
            for l in labels {
                out.push(PortDecl {
                    label: l,
                    protocols: protocols.clone(),
                    container_port,
                    container: Some(cname.to_string()),
                });
            }
        }
    }
    out
}

fn first_ip(list: impl Iterator<Item = IpAddr>) -> Option<IpAddr> {
    let all: Vec<IpAddr> = list.collect();
    all.iter().find(|a| a.is_ipv4()).or(all.first()).copied()
}

fn app_tasks(app: &Value) -> Vec<TaskSeen> {
    app["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            let id = t["id"].as_str()?.to_string();
            let state = t["state"].as_str().unwrap_or_default();
            let failing = t["healthCheckResults"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|h| h["alive"].as_bool() == Some(false));
            Some(TaskSeen {
                live: !TERMINAL_STATES.contains(&state),
                running: state == "TASK_RUNNING" && !failing,
                address: first_ip(
                    t["ipAddresses"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|a| a["ipAddress"].as_str()?.parse().ok()),
                ),
                mesos_tasks: vec![id.clone()],
                running_containers: None,
                id,
            })
        })
        .collect()
}

fn pod_tasks(status: &Value) -> Vec<TaskSeen> {
    status["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|inst| {
            let id = inst["id"].as_str()?.to_string();
            let live = inst["status"].as_str() != Some("TERMINAL");
            let containers: Vec<&Value> = inst["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .collect();
            let running: BTreeSet<String> = containers
                .iter()
                .filter(|c| c["status"].as_str() == Some("TASK_RUNNING"))
                .filter(|c| {
                    !c["endpoints"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|e| e["healthy"].as_bool() == Some(false))
                })
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect();
            Some(TaskSeen {
                live,
                running: live && !running.is_empty(),
                address: first_ip(
                    inst["networks"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .flat_map(|n| n["addresses"].as_array().into_iter().flatten())
                        .filter_map(|a| a.as_str()?.parse().ok()),
                ),
                mesos_tasks: containers
                    .iter()
                    .filter_map(|c| c["containerId"].as_str().map(str::to_string))
                    .collect(),
                running_containers: Some(running),
                id,
            })
        })
        .collect()
}

fn place(task: &TaskSeen, master: &HashMap<&str, &MasterTask>, ifaces: &Interfaces) -> Placed {
    let known: Vec<&MasterTask> = task
        .mesos_tasks
        .iter()
        .filter_map(|t| master.get(t.as_str()).copied())
        .collect();
    if !known.is_empty() && known.iter().all(|mt| !mt.active) {
        return Placed::Ended;
    }
    let containers: Vec<&str> = known
        .iter()
        .filter(|mt| mt.active)
        .flat_map(|mt| mt.container_ids.iter().map(String::as_str))
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

/// The containers of tasks Marathon lists whose VMs have more than one interface: their
/// instance IPs must be read to pick the task's interface.
pub fn ambiguous_containers(master: &[MasterTask], ifaces: &Interfaces) -> Vec<String> {
    let mut out: Vec<String> = master
        .iter()
        .filter(|t| t.active)
        .flat_map(|t| t.container_ids.iter())
        .filter(|c| ifaces.get(c.as_str()).is_some_and(|vm| vm.ifaces.len() > 1))
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Inputs of [`compute`].
pub struct Inputs<'a> {
    /// `GET /v2/apps?embed=apps.tasks`
    pub apps: &'a Value,
    /// `GET /v2/pods/::status`
    pub pods: &'a Value,
    /// The master's tasks.
    pub master: &'a [MasterTask],
    pub interfaces: &'a Interfaces,
    pub service_subnets: &'a [IpNet],
}

/// The desired VIPs.
pub fn compute(inp: &Inputs<'_>) -> Desired {
    let master: HashMap<&str, &MasterTask> =
        inp.master.iter().map(|t| (t.id.as_str(), t)).collect();
    let mut out = Desired::default();
    let mut sources: Vec<(String, Vec<PortDecl>, Vec<TaskSeen>)> = Vec::new();
    for app in inp.apps["apps"].as_array().into_iter().flatten() {
        let id = app["id"].as_str().unwrap_or_default().to_string();
        if marathon::app_networks(app).is_empty() {
            continue;
        }
        let ports = app_ports(app, &id, &mut out.warnings);
        if !ports.is_empty() {
            sources.push((id, ports, app_tasks(app)));
        }
    }
    for status in inp.pods.as_array().into_iter().flatten() {
        let id = status["id"].as_str().unwrap_or_default().to_string();
        let spec = &status["spec"];
        let container_net = spec["networks"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|n| n["mode"].as_str().unwrap_or("container") == "container");
        if !container_net {
            continue;
        }
        let ports = pod_ports(spec, &id, &mut out.warnings);
        if !ports.is_empty() {
            sources.push((id, ports, pod_tasks(status)));
        }
    }
    sources.sort_by(|a, b| a.0.cmp(&b.0));
    let mut refused: BTreeMap<VipKey, Refused> = BTreeMap::new();
    for (owner, ports, tasks) in &sources {
        let placed: Vec<(&TaskSeen, Placed)> = tasks
            .iter()
            .filter(|t| t.live)
            .map(|t| (t, place(t, &master, inp.interfaces)))
            .collect();
        for decl in ports {
            let key = decl.label.key.clone();
            if let VipKey::Address(a) = &key
                && !inp.service_subnets.iter().any(|n| n.contains(a))
            {
                let subnets: Vec<String> = inp
                    .service_subnets
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                let r = refused.entry(key.clone()).or_insert_with(|| Refused {
                    key: key.clone(),
                    label: decl.label.vip.clone(),
                    owners: BTreeSet::new(),
                    reason: format!("VIP {a} is outside service_subnets {}", subnets.join(",")),
                });
                r.owners.insert(owner.clone());
                continue;
            }
            let vip = out.vips.entry(key).or_insert_with(|| DesiredVip {
                label: decl.label.vip.clone(),
                ..DesiredVip::default()
            });
            vip.owners.insert(owner.clone());
            for p in &decl.protocols {
                vip.ports
                    .entry(VipPort {
                        port: decl.label.port,
                        protocol: *p,
                    })
                    .or_default();
            }
            for (task, where_) in &placed {
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
                        let container_runs = match (&task.running_containers, &decl.container) {
                            (Some(set), Some(c)) => set.contains(c),
                            _ => true,
                        };
                        let Some(address) = task.address.filter(|_| task.running && container_runs)
                        else {
                            continue;
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
                                task: task.id.clone(),
                            };
                            let list = vip.ports.entry(port).or_default();
                            if !list.iter().any(|x| x.backend == m.backend) {
                                list.push(m);
                            }
                        }
                    }
                }
            }
        }
    }
    for (key, vip) in &mut out.vips {
        for (p, members) in &mut vip.ports {
            members.sort();
            let ports: BTreeSet<u16> = members.iter().map(|m| m.backend.port).collect();
            if ports.len() > 1 {
                out.warnings.push(format!(
                    "VIP {key} {p}: members listen on different container ports {ports:?}; \
                     svc-monitor maps the listener to one of them"
                ));
            }
        }
    }
    out.vips.retain(|_, v| v.declared || v.held);
    out.refused = refused.into_values().collect();
    out
}

/// The cluster's container VMs and their interfaces by container id.
pub fn interfaces_of(vms: &[VirtualMachine], cluster: &str) -> Interfaces {
    vms.iter()
        .filter(|vm| vm.is_container() && vm.is_ours(cluster))
        .filter_map(|vm| {
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
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    fn mt(task: &str, cids: &[&str]) -> MasterTask {
        MasterTask {
            id: task.into(),
            container_ids: cids.iter().map(|c| c.to_string()).collect(),
            active: true,
            ..MasterTask::default()
        }
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

    fn run(apps: Vec<Value>, pods: Value, master: &[MasterTask], ifs: &Interfaces) -> Desired {
        let apps = json!({ "apps": apps });
        compute(&Inputs {
            apps: &apps,
            pods: &pods,
            master,
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
        let mut ended = mt("web.1", &["c1"]);
        ended.active = false;
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
        assert_eq!(ambiguous_containers(&[mt("web.1", &["c1"])], &ifs), ["c1"]);
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
    fn failing_health_checks_and_mixed_ports_are_reported() {
        let ifs: Interfaces = [
            iface("c1", "vm1", &[("i1", &[])]),
            iface("c2", "vm2", &[("i2", &[])]),
        ]
        .into();
        // `/a` (container port 8080, its task alive as given) and `/b` (9090) share VIP /web:80.
        let with_a_alive = |alive: bool| {
            let mut a1 = task("a.1", "TASK_RUNNING", "5.5.5.3");
            a1["healthCheckResults"] = json!([{ "alive": alive }]);
            run(
                vec![
                    app(
                        "/a",
                        json!([{"containerPort": 8080, "labels": {"VIP_0": "/web:80"}}]),
                        vec![a1],
                    ),
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
        let d = with_a_alive(false);
        let members = &d.vips[&web()].ports[&p(80, Protocol::Tcp)];
        assert_eq!(members.len(), 1, "the unhealthy task is no member");
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
        let d = with_a_alive(true);
        assert!(
            d.warnings
                .iter()
                .any(|w| w.contains("different container ports")),
            "{:?}",
            d.warnings
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
