//! `status`: Marathon app tasks and pod instances joined with their Contrail networking, then
//! the orphaned container VMs.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use anyhow::{Result, anyhow};
use serde_json::{Value, json};

use super::common::{CommonOpts, emit};
use super::table::{cell, render};
use crate::clients::contrail::config_api::{ConfigApi, ListQuery};
use crate::clients::contrail::model::{self, KeyValuePairs};
use crate::clients::marathon::{Instance, Marathon};
use crate::clients::mesos::{self, MasterTask, MesosMaster};
use crate::domain::fqname::FqName;

#[derive(clap::Args, Debug, Clone)]
pub struct StatusArgs {
    #[command(flatten)]
    pub common: CommonOpts,
    /// Marathon URL [default: from -c, else http://127.0.0.1:8080].
    #[arg(long, value_name = "URL", global = true)]
    pub marathon: Option<String>,
    /// Mesos master URL [default: from -c, else http://127.0.0.1:5050].
    #[arg(long, value_name = "URL", global = true)]
    pub mesos: Option<String>,
}

/// One task interface as Contrail has it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Iface {
    pub uuid: String,
    pub ifname: String,
    pub network: String,
    pub ips: Vec<String>,
    pub mac: String,
    pub floating_ips: Vec<String>,
    pub security_groups: Vec<String>,
}

/// Container VMs and their interfaces, indexed for the join.
#[derive(Debug, Default)]
pub struct ContrailView {
    /// container id -> (vm uuid, ours, created)
    pub vms: HashMap<String, (String, bool, String)>,
    /// vm uuid -> interfaces
    pub ifaces: HashMap<String, Vec<Iface>>,
    /// address -> vm uuid
    pub by_ip: HashMap<String, String>,
}

fn annotations(v: &Value) -> KeyValuePairs {
    serde_json::from_value(v["annotations"].clone()).unwrap_or_default()
}

fn annotation(v: &Value, key: &str) -> Option<String> {
    annotations(v).get(key).map(str::to_string)
}

fn refs<'a>(v: &'a Value, f: &str) -> impl Iterator<Item = &'a Value> {
    v[f].as_array().into_iter().flatten()
}

fn fq_str(v: &Value) -> String {
    FqName::from_json(v)
        .map(|f| f.to_string())
        .unwrap_or_default()
}

impl ContrailView {
    /// Build from the detail lists of virtual-machines, interfaces, instance-ips, floating-ips.
    pub fn build(
        vms: &[Value],
        vmis: &[Value],
        iips: &[Value],
        fips: &[Value],
        cluster: &str,
    ) -> Self {
        let mut view = ContrailView::default();
        for vm in vms
            .iter()
            .filter(|v| v["server_type"].as_str() == Some("container"))
        {
            let Some(uuid) = vm["uuid"].as_str() else {
                continue;
            };
            let cid = annotation(vm, "container-id")
                .or_else(|| FqName::from_json(&vm["fq_name"]).map(|f| f.name().to_string()))
                .unwrap_or_default();
            let created = annotation(vm, "created")
                .or_else(|| vm["id_perms"]["created"].as_str().map(str::to_string))
                .unwrap_or_default();
            view.vms.insert(
                cid,
                (
                    uuid.to_string(),
                    model::is_ours(&annotations(vm), cluster),
                    created.to_string(),
                ),
            );
        }
        let mut ips: HashMap<&str, Vec<String>> = HashMap::new();
        for iip in iips {
            if let Some(a) = iip["instance_ip_address"].as_str() {
                for r in refs(iip, "virtual_machine_interface_refs") {
                    if let Some(u) = r["uuid"].as_str() {
                        ips.entry(u).or_default().push(a.to_string());
                    }
                }
            }
        }
        let mut fip_of: HashMap<&str, Vec<String>> = HashMap::new();
        for f in fips {
            if let Some(a) = f["floating_ip_address"].as_str() {
                for r in refs(f, "virtual_machine_interface_refs") {
                    if let Some(u) = r["uuid"].as_str() {
                        fip_of.entry(u).or_default().push(a.to_string());
                    }
                }
            }
        }
        for vmi in vmis {
            let Some(uuid) = vmi["uuid"].as_str() else {
                continue;
            };
            let Some(vm) = refs(vmi, "virtual_machine_refs").find_map(|r| r["uuid"].as_str())
            else {
                continue;
            };
            let name = FqName::from_json(&vmi["fq_name"])
                .map(|f| f.name().to_string())
                .unwrap_or_default();
            let ifname = annotation(vmi, "interface")
                .or_else(|| crate::domain::ids::parse_vmi_name(&name).map(|(_, i)| i.to_string()))
                .unwrap_or(name);
            let iface = Iface {
                uuid: uuid.to_string(),
                ifname,
                network: refs(vmi, "virtual_network_refs")
                    .map(|r| fq_str(&r["to"]))
                    .next()
                    .unwrap_or_default(),
                ips: ips.remove(uuid).unwrap_or_default(),
                mac: vmi["virtual_machine_interface_mac_addresses"]["mac_address"][0]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                floating_ips: fip_of.remove(uuid).unwrap_or_default(),
                security_groups: refs(vmi, "security_group_refs")
                    .map(|r| fq_str(&r["to"]))
                    .collect(),
            };
            for a in &iface.ips {
                view.by_ip.insert(a.clone(), vm.to_string());
            }
            view.ifaces.entry(vm.to_string()).or_default().push(iface);
        }
        for list in view.ifaces.values_mut() {
            list.sort_by(|a, b| a.ifname.cmp(&b.ifname));
        }
        view
    }
}

/// The join: rows for instances, then orphans (our container VMs no instance claims and, when
/// the master is known, no running task holds).
pub fn join(instances: &[Instance], master: Option<&[MasterTask]>, view: &ContrailView) -> Value {
    let by_task: HashMap<&str, &MasterTask> = master
        .unwrap_or_default()
        .iter()
        .map(|t| (t.id.as_str(), t))
        .collect();
    let cid_of_vm: HashMap<&str, &str> = view
        .vms
        .iter()
        .map(|(c, (u, _, _))| (u.as_str(), c.as_str()))
        .collect();
    let vm_of_cid: HashMap<&str, &str> = view
        .vms
        .iter()
        .map(|(c, (u, _, _))| (c.as_str(), u.as_str()))
        .collect();
    let mut claimed: HashSet<&str> = HashSet::new();
    let mut rows = Vec::new();
    for inst in instances {
        let mut cids: Vec<String> = Vec::new();
        for t in &inst.task_ids {
            if let Some(mt) = by_task.get(t.as_str()) {
                cids.extend(mt.container_ids.iter().cloned());
            }
        }
        let mut vms: Vec<&str> = cids
            .iter()
            .filter_map(|c| vm_of_cid.get(c.as_str()).copied())
            .collect();
        if vms.is_empty() {
            vms = inst
                .ips
                .iter()
                .filter_map(|ip| view.by_ip.get(ip).map(String::as_str))
                .collect();
        }
        vms.dedup();
        claimed.extend(vms.iter().copied());
        let container = vms
            .iter()
            .find_map(|v| cid_of_vm.get(v).map(|c| c.to_string()));
        let ifaces: Vec<&Iface> = vms
            .iter()
            .flat_map(|v| view.ifaces.get(*v).into_iter().flatten())
            .collect();
        rows.push(json!({
            "kind": inst.kind, "id": inst.owner, "task": inst.id, "host": inst.host, "state": inst.state,
            "container_id": container, "cni_networks": inst.networks,
            "interfaces": ifaces.iter().map(|i| json!({
                "ifname": i.ifname, "network": i.network, "ips": i.ips, "mac": i.mac,
                "floating_ips": i.floating_ips, "security_groups": i.security_groups})).collect::<Vec<_>>(),
        }));
    }
    let alive: HashSet<String> = master
        .map(|m| {
            m.iter()
                .filter(|t| t.active)
                .flat_map(|t| t.container_ids.iter().cloned())
                .collect()
        })
        .unwrap_or_default();
    let mut orphans: Vec<Value> = view
        .vms
        .iter()
        .filter(|(cid, (uuid, ours, _))| {
            *ours && !claimed.contains(uuid.as_str()) && !alive.contains(*cid)
        })
        .map(|(cid, (uuid, _, created))| {
            let ips: Vec<&String> = view
                .ifaces
                .get(uuid)
                .into_iter()
                .flatten()
                .flat_map(|i| &i.ips)
                .collect();
            json!({"container_id": cid, "vm_uuid": uuid, "created": created, "ips": ips})
        })
        .collect();
    orphans.sort_by(|a, b| a["container_id"].as_str().cmp(&b["container_id"].as_str()));
    json!({"tasks": rows, "orphans": orphans})
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// The aligned table of a [`join`] result.
pub fn table(doc: &Value) -> String {
    let mut rows = Vec::new();
    for t in doc["tasks"].as_array().into_iter().flatten() {
        let ifs: Vec<&Value> = t["interfaces"].as_array().into_iter().flatten().collect();
        let col = |k: &str| -> String {
            ifs.iter()
                .map(|i| match &i[k] {
                    Value::Array(_) => strings(&i[k]).join(","),
                    other => other.as_str().unwrap_or_default().to_string(),
                })
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        };
        rows.push(vec![
            cell(t["id"].as_str().unwrap_or_default()),
            cell(t["task"].as_str().unwrap_or_default()),
            cell(t["host"].as_str().unwrap_or_default()),
            cell(t["state"].as_str().unwrap_or_default()),
            cell(col("network")),
            cell(col("ips")),
            cell(col("mac")),
            cell(col("floating_ips")),
            cell(col("security_groups")),
        ]);
    }
    let mut out = render(
        &[
            "APP/POD",
            "TASK",
            "HOST",
            "STATE",
            "NETWORK",
            "IP",
            "MAC",
            "FLOATING IPS",
            "SECURITY GROUPS",
        ],
        &rows,
    );
    let orphans: Vec<Vec<String>> = doc["orphans"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            vec![
                cell(o["container_id"].as_str().unwrap_or_default()),
                cell(o["vm_uuid"].as_str().unwrap_or_default()),
                cell(strings(&o["ips"]).join(",")),
                cell(o["created"].as_str().unwrap_or_default()),
            ]
        })
        .collect();
    out.push('\n');
    if orphans.is_empty() {
        out.push_str("no orphaned container VMs\n");
    } else {
        out.push_str("orphaned container VMs:\n");
        out.push_str(&render(
            &["CONTAINER", "VM UUID", "IP", "CREATED"],
            &orphans,
        ));
    }
    out
}

/// Read everything: Contrail (four list calls), Marathon, the master.
pub fn collect(
    api: &ConfigApi,
    marathon: &Marathon,
    master: Option<&MesosMaster>,
    cluster: &str,
) -> Result<Value> {
    let list = |ty: &str, fields: &[&str]| {
        api.list(ty, &ListQuery::detail(fields))
            .map_err(|e| anyhow!("cannot list {ty}s from the Contrail config API: {e}"))
    };
    // Six independent reads: in parallel, so the wait is the slowest peer, not their sum.
    let (vms, vmis, iips, fips, instances, state) = std::thread::scope(|s| {
        let vms = s.spawn(|| {
            list(
                "virtual-machine",
                &["fq_name", "server_type", "annotations", "id_perms"],
            )
        });
        let vmis = s.spawn(|| {
            list(
                "virtual-machine-interface",
                &[
                    "fq_name",
                    "annotations",
                    "virtual_machine_refs",
                    "virtual_network_refs",
                    "security_group_refs",
                    "virtual_machine_interface_mac_addresses",
                ],
            )
        });
        let iips = s.spawn(|| {
            list(
                "instance-ip",
                &["instance_ip_address", "virtual_machine_interface_refs"],
            )
        });
        let fips = s.spawn(|| {
            list(
                "floating-ip",
                &["floating_ip_address", "virtual_machine_interface_refs"],
            )
        });
        let instances = s.spawn(|| marathon.instances());
        let state = s.spawn(|| master.map(|m| m.state()));
        let join = |h: std::thread::ScopedJoinHandle<'_, Result<Vec<Value>>>| {
            h.join()
                .unwrap_or_else(|_| Err(anyhow!("a reader thread panicked")))
        };
        (
            join(vms),
            join(vmis),
            join(iips),
            join(fips),
            instances
                .join()
                .unwrap_or_else(|_| Err(anyhow!("the Marathon reader panicked"))),
            state.join().unwrap_or(None),
        )
    });
    let view = ContrailView::build(&vms?, &vmis?, &iips?, &fips?, cluster);
    let instances = instances?;
    let tasks = match state {
        Some(Ok(s)) => Some(mesos::tasks(&s)),
        Some(Err(e)) => {
            eprintln!(
                "warning: {e:#}; joining by IP address only, orphans not checked against running tasks"
            );
            None
        }
        None => None,
    };
    Ok(join(&instances, tasks.as_deref(), &view))
}

pub fn run(a: &StatusArgs) -> Result<()> {
    let settings = a.common.settings()?;
    let api = a.common.api(&settings)?;
    let timeout = Duration::from_secs(a.common.timeout.max(1));
    let marathon_url = a
        .marathon
        .clone()
        .or(settings.marathon_url.clone())
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let mesos_url = a
        .mesos
        .clone()
        .or(settings.mesos_master_url.clone())
        .unwrap_or_else(|| "http://127.0.0.1:5050".into());
    let marathon = Marathon::new(&marathon_url, timeout)?;
    let master = MesosMaster::new(&mesos_url, timeout)?;
    let doc = collect(&api, &marathon, Some(&master), &settings.cluster_name)?;
    emit(a.common.json, &doc, || table(&doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm(uuid: &str, cid: &str) -> Value {
        json!({"uuid": uuid, "fq_name": [cid], "server_type": "container",
               "annotations": {"key_value_pair": [{"key": "owner", "value": "mesos"}, {"key": "cluster", "value": "mesos"},
                                                  {"key": "container-id", "value": cid}]}})
    }

    fn vmi(uuid: &str, vm: &str, cid: &str) -> Value {
        json!({"uuid": uuid, "fq_name": ["d", "p", format!("{cid}@eth0")],
               "virtual_machine_refs": [{"to": [cid], "uuid": vm}],
               "virtual_network_refs": [{"to": ["d", "p", "blue"], "uuid": "vn"}],
               "security_group_refs": [{"to": ["d", "p", "sg1"], "uuid": "sg"}],
               "virtual_machine_interface_mac_addresses": {"mac_address": ["02:00:00:00:00:01"]}})
    }

    #[test]
    fn joins_by_container_id_and_by_ip_and_lists_orphans() {
        let view = ContrailView::build(
            &[vm("vm1", "c1"), vm("vm2", "c2"), vm("vm3", "c3")],
            &[
                vmi("i1", "vm1", "c1"),
                vmi("i2", "vm2", "c2"),
                vmi("i3", "vm3", "c3"),
            ],
            &[
                json!({"instance_ip_address": "5.5.5.3", "virtual_machine_interface_refs": [{"uuid": "i1"}]}),
                json!({"instance_ip_address": "5.5.5.4", "virtual_machine_interface_refs": [{"uuid": "i2"}]}),
                json!({"instance_ip_address": "5.5.5.5", "virtual_machine_interface_refs": [{"uuid": "i3"}]}),
            ],
            &[
                json!({"floating_ip_address": "10.66.77.123", "virtual_machine_interface_refs": [{"uuid": "i1"}]}),
            ],
            "mesos",
        );
        let instances = vec![
            Instance {
                kind: "app",
                owner: "/web".into(),
                id: "web.1".into(),
                task_ids: vec!["web.1".into()],
                ..Default::default()
            },
            Instance {
                kind: "pod",
                owner: "/pod".into(),
                id: "pod.1".into(),
                ips: vec!["5.5.5.4".into()],
                ..Default::default()
            },
        ];
        let master = vec![MasterTask {
            id: "web.1".into(),
            container_ids: vec!["c1".into()],
            active: true,
            ..Default::default()
        }];
        let doc = join(&instances, Some(&master), &view);
        let t0 = &doc["tasks"][0];
        assert_eq!(t0["container_id"], "c1");
        assert_eq!(t0["interfaces"][0]["ips"][0], "5.5.5.3");
        assert_eq!(t0["interfaces"][0]["floating_ips"][0], "10.66.77.123");
        assert_eq!(t0["interfaces"][0]["security_groups"][0], "d:p:sg1");
        assert_eq!(t0["interfaces"][0]["network"], "d:p:blue");
        assert_eq!(
            doc["tasks"][1]["interfaces"][0]["ips"][0], "5.5.5.4",
            "pod joined by IP"
        );
        assert_eq!(doc["orphans"].as_array().map(Vec::len), Some(1));
        assert_eq!(doc["orphans"][0]["container_id"], "c3");
        let t = table(&doc);
        assert!(
            t.contains("10.66.77.123") && t.contains("orphaned container VMs:") && t.contains("c3"),
            "{t}"
        );
    }
}
