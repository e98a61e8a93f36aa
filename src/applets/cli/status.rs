//! `status`: Marathon app tasks and pod instances joined with their Contrail networking, the
//! orphaned container VMs, then each VIP against what Marathon declares; with `dns_domain`,
//! the cluster's virtual-DNS and the cluster's IPAMs that do not use it.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use serde::Serialize;

use super::common::{CommonOpts, emit_streamed};
use super::table::{cell, render};
use super::vips::{self, VipRow};
use crate::clients::contrail::config_api::{ConfigApi, ListQuery};
use crate::clients::marathon::Marathon;
use crate::clients::mesos::MesosMaster;
use crate::domain::contrail::{
    FloatingIp, InstanceIp, Loadbalancer, LoadbalancerListener, LoadbalancerMember,
    LoadbalancerPool, NetworkIpam, Ref, Resource, VirtualDns, VirtualDnsRecord, VirtualMachine,
    VirtualMachineInterface, VirtualNetwork,
};
use crate::domain::dns::{self, IpamOff};
use crate::domain::marathon::Snapshot;
use crate::domain::mesos::MasterState;
use crate::domain::settings::Settings;
use crate::domain::vip::desired::Interfaces;
use crate::domain::vip::desired::task_vm;
use crate::domain::vip::{self as vip_model, objects::Names};

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

/// One task interface as Contrail has it. (Serialized fields in sorted order, as `status
/// --json` prints them: see [`emit_streamed`].)
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Iface {
    /// The floating IPs bound to it.
    pub floating_ips: Vec<String>,
    pub ifname: String,
    /// Its instance IPs.
    pub ips: Vec<String>,
    pub mac: String,
    /// The virtual network's fq-name.
    pub network: String,
    /// The virtual network's uuid (not printed).
    #[serde(skip)]
    pub network_uuid: String,
    /// The fq-names of its network's policies, in their sequence order.
    pub policies: Vec<String>,
    /// The fq-names of its security groups.
    pub security_groups: Vec<String>,
    /// The interface's uuid (not printed).
    #[serde(skip)]
    pub uuid: String,
}

/// A container VM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerVm {
    pub uuid: String,
    /// Marked by the manager of this cluster.
    pub ours: bool,
    /// When it was made, as recorded (empty when unknown).
    pub created: String,
}

/// Container VMs and their interfaces, indexed for the join.
#[derive(Debug, Default)]
pub struct ContrailView {
    /// container id -> its VM
    pub vms: HashMap<String, ContainerVm>,
    /// vm uuid -> interfaces, by interface name
    pub ifaces: HashMap<String, Vec<Iface>>,
    /// address -> vm uuid
    pub by_ip: HashMap<String, String>,
}

/// One row: a Marathon app task or pod instance and its Contrail interfaces, borrowed from
/// what was read (50,000 rows cost no copy of their strings). Fields in sorted order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TaskRow<'a> {
    /// The CNI networks the app or pod asked for.
    pub cni_networks: Vec<&'a str>,
    /// The container whose VM the row joined, if any.
    pub container_id: Option<&'a str>,
    pub host: &'a str,
    /// The app or pod id (`/grp/web`).
    pub id: &'a str,
    pub interfaces: Vec<&'a Iface>,
    /// `app` or `pod`.
    pub kind: &'static str,
    pub state: &'a str,
    /// The task id (apps) or instance id (pods).
    pub task: &'a str,
}

/// A container VM of ours that no task claims. Fields in sorted order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Orphan {
    pub container_id: String,
    pub created: String,
    pub ips: Vec<String>,
    pub vm_uuid: String,
}

/// What `status` prints. Fields in sorted order; the VIP rows (few) go through a JSON tree,
/// which sorts theirs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Status<'a> {
    /// The cluster's virtual-DNS (with `dns_domain`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns: Option<&'a DnsStatus>,
    pub orphans: Vec<Orphan>,
    pub tasks: Vec<TaskRow<'a>>,
    #[serde(serialize_with = "keys_sorted")]
    pub vips: &'a [VipRow],
}

/// The cluster's virtual-DNS and the IPAMs that should use it. Fields in sorted order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DnsStatus {
    /// `dns_domain`.
    pub domain: String,
    /// The IPAMs of the cluster's networks that do not use it (Contrail refuses to switch an
    /// IPAM from an unset method or `tenant-dns-server` while interfaces are on its networks).
    pub ipams_not_on_it: Vec<IpamOff>,
    /// The domain the virtual-DNS in Contrail serves; `None` when there is none.
    pub serves: Option<String>,
    /// Its fq-name.
    pub server: String,
}

fn keys_sorted<S: serde::Serializer>(rows: &&[VipRow], s: S) -> Result<S::Ok, S::Error> {
    serde_json::to_value(rows)
        .map_err(serde::ser::Error::custom)?
        .serialize(s)
}

/// Addresses by the interface they belong to: interface uuid -> addresses.
type AddressesOf = HashMap<String, Vec<String>>;

/// Record `address` (an instance or floating IP's) for each interface it refers to.
fn add_address(out: &mut AddressesOf, address: Option<&str>, refs: &[Ref]) {
    let Some(a) = address else { return };
    for r in refs.iter().filter(|r| !r.uuid.is_empty()) {
        out.entry(r.uuid.clone()).or_default().push(a.to_string());
    }
}

/// A container VM as the view keeps it, by its container id.
fn container_vm(vm: &VirtualMachine, cluster: &str) -> Option<(String, ContainerVm)> {
    if !vm.is_container() || vm.uuid.is_empty() {
        return None;
    }
    Some((
        vm.container_id().unwrap_or_default().to_string(),
        ContainerVm {
            uuid: vm.uuid.clone(),
            ours: vm.is_ours(cluster),
            created: vm.created_text().unwrap_or_default().to_string(),
        },
    ))
}

/// An interface as the view keeps it (its addresses still apart), with its VM's uuid.
fn iface_of(vmi: &VirtualMachineInterface) -> Option<(String, Iface)> {
    if vmi.uuid.is_empty() {
        return None;
    }
    let vm = vmi
        .virtual_machine_refs
        .iter()
        .map(|r| r.uuid.as_str())
        .find(|u| !u.is_empty())?;
    let vn = vmi.virtual_network_refs.first();
    Some((
        vm.to_string(),
        Iface {
            uuid: vmi.uuid.clone(),
            ifname: vmi.ifname(),
            network: vn.map(Ref::fq_string).unwrap_or_default(),
            network_uuid: vn.map(|r| r.uuid.clone()).unwrap_or_default(),
            mac: vmi.mac().unwrap_or_default().to_string(),
            security_groups: vmi.security_group_refs.iter().map(Ref::fq_string).collect(),
            ..Iface::default()
        },
    ))
}

impl ContrailView {
    /// Build from the lists of virtual-machines, interfaces, instance-ips and floating-ips.
    pub fn build(
        vms: &[VirtualMachine],
        vmis: &[VirtualMachineInterface],
        iips: &[InstanceIp],
        fips: &[FloatingIp],
        cluster: &str,
    ) -> Self {
        let mut ips = AddressesOf::new();
        for i in iips {
            add_address(
                &mut ips,
                i.instance_ip_address.as_deref(),
                &i.virtual_machine_interface_refs,
            );
        }
        let mut fip_of = AddressesOf::new();
        for f in fips {
            add_address(
                &mut fip_of,
                f.floating_ip_address.as_deref(),
                &f.virtual_machine_interface_refs,
            );
        }
        Self::assemble(
            vms.iter()
                .filter_map(|vm| container_vm(vm, cluster))
                .collect(),
            vmis.iter().filter_map(iface_of).collect(),
            ips,
            fip_of,
        )
    }

    /// Put together what the lists gave: container VMs, interfaces with their VMs' uuids, and
    /// the instance and floating IPs of each interface.
    fn assemble(
        vms: HashMap<String, ContainerVm>,
        ifaces: Vec<(String, Iface)>,
        mut ips: AddressesOf,
        mut fip_of: AddressesOf,
    ) -> Self {
        let mut view = ContrailView {
            vms,
            ..ContrailView::default()
        };
        for (vm, mut iface) in ifaces {
            iface.ips = ips.remove(&iface.uuid).unwrap_or_default();
            iface.floating_ips = fip_of.remove(&iface.uuid).unwrap_or_default();
            for a in &iface.ips {
                view.by_ip.insert(a.clone(), vm.clone());
            }
            view.ifaces.entry(vm).or_default().push(iface);
        }
        for list in view.ifaces.values_mut() {
            list.sort_by(|a, b| a.ifname.cmp(&b.ifname));
        }
        view
    }

    /// Give every interface its network's policies.
    pub fn with_policies(mut self, vns: &[VirtualNetwork]) -> Self {
        let by_uuid: HashMap<&str, Vec<String>> = vns
            .iter()
            .map(|vn| (vn.uuid.as_str(), vn.policies()))
            .collect();
        for iface in self.ifaces.values_mut().flatten() {
            if let Some(p) = by_uuid.get(iface.network_uuid.as_str()) {
                iface.policies = p.clone();
            }
        }
        self
    }
}

/// The join: rows for Marathon's app tasks and pod instances, then orphans (our container VMs
/// no instance claims and, when the master is known, no running task holds).
pub fn join<'a>(
    marathon: &'a Snapshot,
    master: Option<&'a MasterState>,
    view: &'a ContrailView,
) -> Status<'a> {
    let by_task = master.map(MasterState::by_task_id).unwrap_or_default();
    let cid_of_vm: HashMap<&str, &str> = view
        .vms
        .iter()
        .map(|(c, vm)| (vm.uuid.as_str(), c.as_str()))
        .collect();
    let mut claimed: HashSet<&str> = HashSet::new();
    let mut tasks = Vec::new();
    for inst in marathon.instances() {
        let mut vms: Vec<&str> = inst
            .task_ids()
            .into_iter()
            .filter_map(|t| by_task.get(t))
            .flat_map(|mt| mt.container_ids())
            .filter_map(|c| view.vms.get(c).map(|vm| vm.uuid.as_str()))
            .collect();
        if vms.is_empty() {
            vms = inst
                .ips()
                .into_iter()
                .filter_map(|ip| view.by_ip.get(ip).map(String::as_str))
                .collect();
        }
        vms.dedup();
        claimed.extend(vms.iter().copied());
        tasks.push(TaskRow {
            kind: inst.kind(),
            id: inst.owner(),
            task: inst.id(),
            host: inst.host(),
            state: inst.state(),
            container_id: vms.iter().find_map(|v| cid_of_vm.get(v).copied()),
            cni_networks: inst.cni_networks(),
            interfaces: vms
                .iter()
                .flat_map(|v| view.ifaces.get(*v).into_iter().flatten())
                .collect(),
        });
    }
    let alive = master
        .map(MasterState::alive_container_ids)
        .unwrap_or_default();
    let mut orphans: Vec<Orphan> = view
        .vms
        .iter()
        .filter(|(cid, vm)| {
            vm.ours && !claimed.contains(vm.uuid.as_str()) && !alive.contains(cid.as_str())
        })
        .map(|(cid, vm)| Orphan {
            container_id: cid.clone(),
            vm_uuid: vm.uuid.clone(),
            created: vm.created.clone(),
            ips: view
                .ifaces
                .get(&vm.uuid)
                .into_iter()
                .flatten()
                .flat_map(|i| i.ips.iter().cloned())
                .collect(),
        })
        .collect();
    orphans.sort_by(|a, b| a.container_id.cmp(&b.container_id));
    Status {
        tasks,
        orphans,
        vips: &[],
        dns: None,
    }
}

/// The aligned table of a [`join`] result.
pub fn table(doc: &Status) -> String {
    let mut rows = Vec::new();
    for t in &doc.tasks {
        // One column over the task's interfaces: each interface's value, lists joined by `,`,
        // interfaces by a space.
        let col = |f: fn(&Iface) -> String| -> String {
            t.interfaces
                .iter()
                .map(|i| f(i))
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        };
        rows.push(vec![
            cell(t.id),
            cell(t.task),
            cell(t.host),
            cell(t.state),
            cell(col(|i| i.network.clone())),
            cell(col(|i| i.ips.join(","))),
            cell(col(|i| i.mac.clone())),
            cell(col(|i| i.floating_ips.join(","))),
            cell(col(|i| i.security_groups.join(","))),
            cell(col(|i| i.policies.join(","))),
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
            "POLICIES",
        ],
        &rows,
    );
    let orphans: Vec<Vec<String>> = doc
        .orphans
        .iter()
        .map(|o| {
            vec![
                cell(&o.container_id),
                cell(&o.vm_uuid),
                cell(o.ips.join(",")),
                cell(&o.created),
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
    out.push('\n');
    out.push_str(&vips::table(doc.vips));
    if let Some(d) = &doc.dns {
        out.push('\n');
        out.push_str(&dns_table(d));
    }
    out
}

/// The virtual-DNS lines, under the VIP table.
fn dns_table(d: &DnsStatus) -> String {
    let mut out = match &d.serves {
        None => format!("virtual-DNS {}: missing (the manager makes it)\n", d.server),
        Some(s) if *s != d.domain => format!(
            "virtual-DNS {} serves {s}, not dns_domain {} (the manager puts it right)\n",
            d.server, d.domain
        ),
        Some(s) => format!("virtual-DNS {} serves {s}\n", d.server),
    };
    if d.ipams_not_on_it.is_empty() {
        out.push_str("every IPAM of the cluster's networks uses it\n");
        return out;
    }
    out.push_str(&format!(
        "IPAMs not on it (tasks on their networks do not resolve {} names):\n",
        d.domain
    ));
    let body: Vec<Vec<String>> = d
        .ipams_not_on_it
        .iter()
        .map(|i| vec![cell(&i.ipam), cell(&i.method), cell(i.networks.join(","))])
        .collect();
    out.push_str(&render(&["IPAM", "DNS METHOD", "NETWORKS"], &body));
    out
}

/// Every `T` the config API has (detail, only `fields`).
fn list<T: Resource>(api: &ConfigApi, fields: &[&str]) -> Result<Vec<T>> {
    let mut out = Vec::new();
    each(api, fields, |t| out.push(t))?;
    Ok(out)
}

/// Every `T` the config API has (detail, only `fields`), handed to `f` as it is read.
fn each<T: Resource>(api: &ConfigApi, fields: &[&str], f: impl FnMut(T)) -> Result<()> {
    api.list_each::<T>(&ListQuery::detail(fields), f)
        .with_context(|| format!("cannot list {}s from the Contrail config API", T::TYPE))
}

/// What a reader thread returned; a panic is an error.
fn joined<T>(h: std::thread::ScopedJoinHandle<'_, Result<T>>) -> Result<T> {
    h.join()
        .unwrap_or_else(|_| Err(anyhow!("a reader thread panicked")))
}

/// What `status` read, and the VIP rows computed from it; [`Collected::status`] joins the rest.
pub struct Collected {
    pub marathon: Snapshot,
    /// `None`: the master could not be read (rows are joined by address only).
    pub master: Option<MasterState>,
    pub view: ContrailView,
    pub vips: Vec<VipRow>,
    /// With `dns_domain`: the cluster's virtual-DNS and the IPAMs not on it.
    pub dns: Option<DnsStatus>,
}

impl Collected {
    /// The document `status` prints, borrowed from what was read.
    pub fn status(&self) -> Status<'_> {
        Status {
            vips: &self.vips,
            dns: self.dns.as_ref(),
            ..join(&self.marathon, self.master.as_ref(), &self.view)
        }
    }
}

/// Read everything: Contrail (nine list calls), Marathon, the master.
pub fn collect(
    api: &ConfigApi,
    marathon: &Marathon,
    master: Option<&MesosMaster>,
    settings: &Settings,
) -> Result<Collected> {
    let cluster = settings.cluster_name.as_str();
    // Independent reads: in parallel, so the wait is the slowest peer, not their sum. The
    // long lists are read object by object into what the view keeps of them.
    let (view, snapshot, state, vip_lists) = std::thread::scope(|s| {
        let view = s.spawn(|| read_view(api, cluster));
        let snapshot = s.spawn(|| marathon.snapshot());
        let state = s.spawn(|| master.map(|m| m.state()));
        let vip_lists = s.spawn(|| read_vip_lists(api, settings));
        (
            joined(view),
            snapshot
                .join()
                .unwrap_or_else(|_| Err(anyhow!("the Marathon reader panicked"))),
            state
                .join()
                .unwrap_or_else(|_| Some(Err(anyhow!("the Mesos master reader panicked")))),
            joined(vip_lists),
        )
    });
    let (view, interfaces, vns) = view?;
    let snapshot = snapshot?;
    let state = match state {
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            eprintln!(
                "warning: {e:#}; joining by IP address only, orphans not checked against running tasks, VIP members not checked"
            );
            None
        }
        None => None,
    };
    // The VIPs: what the manager would compute, against what Contrail holds.
    let no_master = MasterState::default();
    let desired = vip_model::desired::compute(&vip_model::desired::Inputs {
        apps: &snapshot.apps,
        pods: &snapshot.pods,
        master: state.as_ref().unwrap_or(&no_master),
        interfaces: &interfaces,
        service_subnets: &settings.service_subnets,
    });
    drop(interfaces);
    let names = Names::of(settings);
    let (mut vip_lists, dns_lists) = vip_lists?;
    let dns = dns_lists.map(|(records, servers, ipams)| {
        vip_lists.records = records;
        dns_status(settings, &servers, &vns, &ipams)
    });
    let vips = vips::rows(
        &desired,
        &vip_lists,
        &names,
        cluster,
        settings.dns_domain.as_deref(),
    );
    Ok(Collected {
        marathon: snapshot,
        master: state,
        view,
        vips,
        dns,
    })
}

/// With `dns_domain`: the VIPs' records, the virtual-DNSs and the IPAMs.
type DnsLists = (Vec<VirtualDnsRecord>, Vec<VirtualDns>, Vec<NetworkIpam>);

/// The task side of Contrail (container VMs, interfaces, instance and floating IPs, networks),
/// read in parallel, each list object by object into what the view keeps of it: the view, the
/// task interfaces (with their addresses, for the VIPs) and the networks.
fn read_view(
    api: &ConfigApi,
    cluster: &str,
) -> Result<(ContrailView, Interfaces, Vec<VirtualNetwork>)> {
    let (vms, vmis, iips, fips, vns) = std::thread::scope(|s| {
        let vms = s.spawn(|| {
            let (mut containers, mut tasks) = (HashMap::new(), Interfaces::new());
            each::<VirtualMachine>(
                api,
                &[
                    "fq_name",
                    "server_type",
                    "annotations",
                    "id_perms",
                    "virtual_machine_interface_back_refs",
                ],
                |vm| {
                    containers.extend(container_vm(&vm, cluster));
                    tasks.extend(task_vm(&vm, cluster));
                },
            )?;
            Ok((containers, tasks))
        });
        let vmis = s.spawn(|| {
            let mut out = Vec::new();
            each::<VirtualMachineInterface>(
                api,
                &[
                    "fq_name",
                    "annotations",
                    "virtual_machine_refs",
                    "virtual_network_refs",
                    "security_group_refs",
                    "virtual_machine_interface_mac_addresses",
                ],
                |vmi| out.extend(iface_of(&vmi)),
            )?;
            Ok(out)
        });
        let iips = s.spawn(|| {
            let mut out = AddressesOf::new();
            each::<InstanceIp>(
                api,
                &["instance_ip_address", "virtual_machine_interface_refs"],
                |i| {
                    add_address(
                        &mut out,
                        i.instance_ip_address.as_deref(),
                        &i.virtual_machine_interface_refs,
                    )
                },
            )?;
            Ok(out)
        });
        let fips = s.spawn(|| {
            let mut out = AddressesOf::new();
            each::<FloatingIp>(
                api,
                &["floating_ip_address", "virtual_machine_interface_refs"],
                |f| {
                    add_address(
                        &mut out,
                        f.floating_ip_address.as_deref(),
                        &f.virtual_machine_interface_refs,
                    )
                },
            )?;
            Ok(out)
        });
        let vns = s.spawn(|| {
            list::<VirtualNetwork>(
                api,
                &["fq_name", "network_policy_refs", "network_ipam_refs"],
            )
        });
        (
            joined(vms),
            joined(vmis),
            joined(iips),
            joined(fips),
            joined(vns),
        )
    });
    let ((containers, mut interfaces), ips, vns) = (vms?, iips?, vns?);
    // The VIPs need each task interface's addresses (to tell a VM's several apart).
    for vm in interfaces.values_mut() {
        for i in &mut vm.ifaces {
            i.addresses = ips
                .get(&i.uuid)
                .into_iter()
                .flatten()
                .filter_map(|a| a.parse().ok())
                .collect();
        }
    }
    let view = ContrailView::assemble(containers, vmis?, ips, fips?).with_policies(&vns);
    Ok((view, interfaces, vns))
}

/// The load balancers' objects (and with `dns_domain` the DNS objects), read in parallel.
fn read_vip_lists(api: &ConfigApi, settings: &Settings) -> Result<(vips::Lists, Option<DnsLists>)> {
    std::thread::scope(|s| {
        let lbs = s.spawn(|| list::<Loadbalancer>(api, vip_model::actual::LB_FIELDS));
        let listeners = s.spawn(|| {
            list::<LoadbalancerListener>(
                api,
                &["loadbalancer_listener_properties", "loadbalancer_refs"],
            )
        });
        let pools = s.spawn(|| list::<LoadbalancerPool>(api, vip_model::actual::POOL_FIELDS));
        let members = s.spawn(|| {
            list::<LoadbalancerMember>(api, &["annotations", "loadbalancer_member_properties"])
        });
        // With dns_domain: the records, the virtual-DNSs and the IPAMs.
        let dns_lists = s.spawn(|| match settings.dns_domain {
            None => Ok(None),
            Some(_) => Ok(Some((
                list::<VirtualDnsRecord>(api, vip_model::actual::RECORD_FIELDS)?,
                list::<VirtualDns>(api, &["virtual_DNS_data"])?,
                list::<NetworkIpam>(api, &["network_ipam_mgmt", "virtual_DNS_refs"])?,
            ))),
        });
        let vip_lists = (|| {
            Ok::<_, anyhow::Error>(vips::Lists {
                lbs: joined(lbs)?,
                listeners: joined(listeners)?,
                pools: joined(pools)?,
                members: joined(members)?,
                records: Vec::new(),
            })
        })();
        vip_lists.and_then(|l| Ok((l, joined(dns_lists)?)))
    })
}

/// The cluster's virtual-DNS as Contrail holds it, and the cluster's IPAMs not on it.
fn dns_status(
    settings: &Settings,
    servers: &[VirtualDns],
    vns: &[VirtualNetwork],
    ipams: &[NetworkIpam],
) -> DnsStatus {
    let server = settings.virtual_dns();
    let serves = servers
        .iter()
        .find(|v| v.fq_name == server.parts())
        .map(|v| {
            v.virtual_dns_data["domain_name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        });
    DnsStatus {
        server: server.to_string(),
        domain: settings.dns_domain.clone().unwrap_or_default(),
        serves,
        ipams_not_on_it: dns::ipams_off(
            &server,
            vns,
            ipams,
            &[settings.pod_task_network(), settings.service_network()],
            &[settings.ip_fabric_policy(), settings.pod_service_policy()],
        ),
    }
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
    let read = collect(&api, &marathon, Some(&master), &settings)?;
    let doc = read.status();
    emit_streamed(a.common.json, &doc, || table(&doc))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::domain::contrail::KeyValuePairs;
    use crate::domain::marathon::{App, PodStatus, Task};

    const CLUSTER: &str = "mesos";

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn to(fq: &[&str], uuid: &str) -> Ref {
        Ref {
            to: strings(fq),
            uuid: uuid.into(),
            attr: Value::Null,
        }
    }

    /// A container VM the manager of `cluster` made.
    fn vm_of(cluster: &str, uuid: &str, cid: &str) -> VirtualMachine {
        VirtualMachine {
            uuid: uuid.into(),
            fq_name: strings(&[cid]),
            server_type: Some("container".into()),
            annotations: KeyValuePairs::from_pairs(&[
                ("owner", "mesos"),
                ("cluster", cluster),
                ("container-id", cid),
                ("created", "2026-01-02T03:04:05Z"),
            ]),
            ..VirtualMachine::default()
        }
    }

    fn vm(uuid: &str, cid: &str) -> VirtualMachine {
        vm_of(CLUSTER, uuid, cid)
    }

    fn vmi(
        uuid: &str,
        vm: &str,
        cid: &str,
        ifname: &str,
        network: &str,
    ) -> VirtualMachineInterface {
        VirtualMachineInterface {
            uuid: uuid.into(),
            fq_name: strings(&["d", "p", &format!("{cid}@{ifname}")]),
            virtual_machine_refs: vec![to(&[cid], vm)],
            virtual_network_refs: vec![to(&["d", "p", network], &format!("vn-{network}"))],
            security_group_refs: vec![to(&["d", "p", "sg1"], "sg")],
            virtual_machine_interface_mac_addresses: serde_json::from_value(
                json!({"mac_address": [format!("02:00:00:00:00:{}", &uuid[uuid.len() - 1..])]}),
            )
            .expect("mac"),
            ..VirtualMachineInterface::default()
        }
    }

    fn iip(address: &str, vmi: &str) -> InstanceIp {
        InstanceIp {
            instance_ip_address: Some(address.into()),
            virtual_machine_interface_refs: vec![to(&[], vmi)],
            ..InstanceIp::default()
        }
    }

    fn fip(address: &str, vmis: &[&str]) -> FloatingIp {
        FloatingIp {
            floating_ip_address: Some(address.into()),
            virtual_machine_interface_refs: vmis.iter().map(|u| to(&[], u)).collect(),
            ..FloatingIp::default()
        }
    }

    fn app(owner: &str, task: &str) -> App {
        App {
            id: owner.into(),
            tasks: vec![Task {
                id: task.into(),
                ..Task::default()
            }],
            ..App::default()
        }
    }

    /// A pod with one instance at `ip`, its containers unknown to the master.
    fn pod(owner: &str, instance: &str, ip: &str) -> PodStatus {
        serde_json::from_value(json!({"id": owner, "spec": {"id": owner},
            "instances": [{"id": instance, "networks": [{"addresses": [ip]}]}]}))
        .expect("a pod status")
    }

    fn marathon(apps: Vec<App>, pods: Vec<PodStatus>) -> Snapshot {
        Snapshot { apps, pods }
    }

    /// The master: (task, container) pairs it runs, and those it lists as completed.
    fn master(running: &[(&str, &str)], done: &[(&str, &str)]) -> MasterState {
        let tasks = |list: &[(&str, &str)], state: &str| -> Vec<Value> {
            list.iter()
                .map(|(t, c)| {
                    json!({"id": t, "state": state,
                    "statuses": [{"container_status": {"container_id": {"value": c}}}]})
                })
                .collect()
        };
        serde_json::from_value(json!({"frameworks": [{"id": "marathon",
            "tasks": tasks(running, "TASK_RUNNING"), "completed_tasks": tasks(done, "TASK_FINISHED")}]}))
        .expect("a master state")
    }

    #[test]
    fn joins_by_container_id_and_by_ip_and_lists_orphans() {
        let view = ContrailView::build(
            &[vm("vm1", "c1"), vm("vm2", "c2"), vm("vm3", "c3")],
            &[
                vmi("i1", "vm1", "c1", "eth0", "blue"),
                vmi("i2", "vm2", "c2", "eth0", "blue"),
                vmi("i3", "vm3", "c3", "eth0", "blue"),
            ],
            &[
                iip("5.5.5.3", "i1"),
                iip("5.5.5.4", "i2"),
                iip("5.5.5.5", "i3"),
            ],
            &[fip("10.66.77.123", &["i1"])],
            CLUSTER,
        );
        let instances = marathon(
            vec![app("/web", "web.1")],
            vec![pod("/pod", "pod.1", "5.5.5.4")],
        );
        let state = master(&[("web.1", "c1")], &[]);
        let doc = join(&instances, Some(&state), &view);
        let t0 = &doc.tasks[0];
        assert_eq!(t0.container_id, Some("c1"));
        let i = &t0.interfaces[0];
        assert_eq!(i.ips, ["5.5.5.3"]);
        assert_eq!(i.floating_ips, ["10.66.77.123"]);
        assert_eq!(i.security_groups, ["d:p:sg1"]);
        assert_eq!(i.network, "d:p:blue");
        let t1 = &doc.tasks[1];
        assert_eq!(t1.interfaces[0].ips, ["5.5.5.4"], "pod joined by IP");
        assert_eq!(t1.container_id, Some("c2"));
        let orphans: Vec<&str> = doc
            .orphans
            .iter()
            .map(|o| o.container_id.as_str())
            .collect();
        assert_eq!(orphans, ["c3"]);
        assert_eq!(doc.orphans[0].ips, ["5.5.5.5"]);
        let t = table(&doc);
        assert!(
            t.contains("10.66.77.123") && t.contains("orphaned container VMs:") && t.contains("c3"),
            "{t}"
        );
    }

    #[test]
    fn a_task_with_two_interfaces_has_both_and_each_its_own_floating_ips() {
        let view = ContrailView::build(
            &[vm("vm1", "c1")],
            // Listed out of order: rows show interfaces by name.
            &[
                vmi("i2", "vm1", "c1", "eth1", "red"),
                vmi("i1", "vm1", "c1", "eth0", "blue"),
            ],
            &[iip("6.6.6.3", "i2"), iip("5.5.5.3", "i1")],
            &[
                fip("10.66.77.9", &["i2"]),
                fip("10.66.77.10", &["i-elsewhere"]),
                FloatingIp {
                    floating_ip_address: None,
                    virtual_machine_interface_refs: vec![to(&[], "i1")],
                    ..FloatingIp::default()
                },
            ],
            CLUSTER,
        );
        // Without the master the instance is joined by its second interface's address.
        let pods = marathon(vec![], vec![pod("/pod", "pod.1", "6.6.6.3")]);
        let doc = join(&pods, None, &view);
        let ifs = &doc.tasks[0].interfaces;
        let names: Vec<&str> = ifs.iter().map(|i| i.ifname.as_str()).collect();
        assert_eq!(names, ["eth0", "eth1"]);
        assert_eq!((ifs[0].uuid.as_str(), ifs[1].uuid.as_str()), ("i1", "i2"));
        assert_eq!(ifs[0].network, "d:p:blue");
        assert_eq!(ifs[1].network, "d:p:red");
        assert_eq!(ifs[0].ips, ["5.5.5.3"]);
        assert_eq!(ifs[1].ips, ["6.6.6.3"]);
        assert!(ifs[0].floating_ips.is_empty(), "{:?}", ifs[0]);
        assert_eq!(ifs[1].floating_ips, ["10.66.77.9"]);
        assert_eq!(
            (ifs[0].mac.as_str(), ifs[1].mac.as_str()),
            ("02:00:00:00:00:1", "02:00:00:00:00:2")
        );
        assert!(
            doc.orphans.is_empty(),
            "claimed by the pod: {:?}",
            doc.orphans
        );
        let t = table(&doc);
        let row = t.lines().nth(1).unwrap_or_default();
        assert!(
            row.contains("d:p:blue d:p:red")
                && row.contains("5.5.5.3 6.6.6.3")
                && row.contains("10.66.77.9")
                && row.contains("d:p:sg1 d:p:sg1"),
            "{t}"
        );
    }

    #[test]
    fn orphans_are_our_container_vms_no_task_claims_or_runs() {
        let theirs = vm_of("other-cluster", "vm-theirs", "c-theirs");
        let mut unmarked = vm("vm-unmarked", "c-unmarked");
        unmarked.annotations = KeyValuePairs::default();
        let mut not_container = vm("vm-nc", "c-nc");
        not_container.server_type = Some("virtual-server".into());
        let mut by_server = vm("vm-old", "c-old");
        by_server.annotations =
            KeyValuePairs::from_pairs(&[("owner", "mesos"), ("cluster", CLUSTER)]);
        by_server.id_perms.created = Some("2025-05-05T05:05:05.000000".into());
        let view = ContrailView::build(
            &[
                vm("vm-claimed", "c-claimed"),
                vm("vm-lost", "c-lost"),
                vm("vm-running", "c-running"),
                theirs,
                unmarked,
                not_container,
                by_server,
            ],
            &[
                vmi("i-lost", "vm-lost", "c-lost", "eth0", "blue"),
                vmi("i-lost2", "vm-lost", "c-lost", "eth1", "red"),
            ],
            &[iip("5.5.5.9", "i-lost"), iip("6.6.6.9", "i-lost2")],
            &[],
            CLUSTER,
        );
        assert!(!view.vms.contains_key("c-nc"), "not a container VM");
        let instances = marathon(vec![app("/web", "web.1")], vec![]);
        // A task Marathon does not know (another framework) still holds its VM.
        let state = master(&[("web.1", "c-claimed"), ("other.1", "c-running")], &[]);
        let doc = join(&instances, Some(&state), &view);
        assert_eq!(doc.tasks[0].container_id, Some("c-claimed"));
        assert_eq!(
            doc.orphans,
            [
                Orphan {
                    container_id: "c-lost".into(),
                    vm_uuid: "vm-lost".into(),
                    created: "2026-01-02T03:04:05Z".into(),
                    ips: strings(&["5.5.5.9", "6.6.6.9"]),
                },
                Orphan {
                    container_id: "c-old".into(),
                    vm_uuid: "vm-old".into(),
                    created: "2025-05-05T05:05:05.000000".into(),
                    ips: vec![],
                },
            ]
        );
        // A finished task holds nothing.
        let state = master(&[("web.1", "c-claimed")], &[("other.1", "c-running")]);
        let doc = join(&instances, Some(&state), &view);
        let names: Vec<&str> = doc
            .orphans
            .iter()
            .map(|o| o.container_id.as_str())
            .collect();
        assert_eq!(names, ["c-lost", "c-old", "c-running"]);
        // Without the master, nothing claims by container: only addresses do.
        let doc = join(&instances, None, &view);
        assert_eq!(doc.tasks[0].container_id, None);
        assert!(doc.tasks[0].interfaces.is_empty());
        let names: Vec<&str> = doc
            .orphans
            .iter()
            .map(|o| o.container_id.as_str())
            .collect();
        assert_eq!(names, ["c-claimed", "c-lost", "c-old", "c-running"]);
        let t = table(&doc);
        assert!(t.contains("5.5.5.9,6.6.6.9"), "{t}");
    }

    #[test]
    fn json_is_the_documented_shape() {
        let view = ContrailView::build(
            &[vm("vm1", "c1"), vm("vm2", "c2")],
            &[vmi("i1", "vm1", "c1", "eth0", "blue")],
            &[iip("5.5.5.3", "i1")],
            &[fip("10.66.77.5", &["i1"])],
            CLUSTER,
        )
        .with_policies(&[blue_with_policies()]);
        let web: App = serde_json::from_value(json!({"id": "/web",
            "networks": [{"mode": "container", "name": "contrail-cni-plugin"}],
            "tasks": [{"id": "web.1", "host": "agent1", "state": "TASK_RUNNING"}]}))
        .expect("an app");
        let apps = marathon(vec![web, app("/gone", "gone.1")], vec![]);
        let state = master(&[("web.1", "c1")], &[]);
        let doc = join(&apps, Some(&state), &view);
        assert_eq!(
            serde_json::to_value(&doc).expect("JSON"),
            json!({
                "tasks": [
                    {"kind": "app", "id": "/web", "task": "web.1", "host": "agent1",
                     "state": "TASK_RUNNING", "container_id": "c1",
                     "cni_networks": ["contrail-cni-plugin"],
                     "interfaces": [{"ifname": "eth0", "network": "d:p:blue", "ips": ["5.5.5.3"],
                                     "mac": "02:00:00:00:00:1", "floating_ips": ["10.66.77.5"],
                                     "security_groups": ["d:p:sg1"],
                                     "policies": ["d:p:mesos-default-ip-fabric-np", "d:p:allow-web"]}]},
                    {"kind": "app", "id": "/gone", "task": "gone.1", "host": "", "state": "",
                     "container_id": null, "cni_networks": [], "interfaces": []}
                ],
                "orphans": [{"container_id": "c2", "vm_uuid": "vm2",
                             "created": "2026-01-02T03:04:05Z", "ips": []}],
                "vips": []
            })
        );
        // Written as it is serialized, the keys come out sorted, as `emit` prints documents.
        let rows = [VipRow {
            name: "web.marathon".into(),
            vip: "/web".into(),
            ..VipRow::default()
        }];
        let with_vips = Status {
            vips: &rows,
            ..doc.clone()
        };
        assert_eq!(
            serde_json::to_string_pretty(&with_vips).expect("streamed"),
            serde_json::to_string_pretty(&serde_json::to_value(&with_vips).expect("tree"))
                .expect("sorted"),
        );
        let t = table(&doc);
        assert!(
            t.lines()
                .any(|l| l.starts_with("/gone") && l.contains(" -")),
            "{t}"
        );
        assert!(
            t.lines().next().unwrap_or_default().contains("POLICIES"),
            "{t}"
        );
        assert!(
            t.contains("d:p:mesos-default-ip-fabric-np,d:p:allow-web"),
            "{t}"
        );
    }

    /// The network `blue` (uuid `vn-blue`) with two policies, referred to out of their order.
    fn blue_with_policies() -> VirtualNetwork {
        let seq = |major: i64| json!({"sequence": {"major": major, "minor": 0}, "timer": null});
        VirtualNetwork {
            uuid: "vn-blue".into(),
            fq_name: strings(&["d", "p", "blue"]),
            network_policy_refs: vec![
                Ref {
                    attr: seq(2),
                    ..to(&["d", "p", "allow-web"], "np2")
                },
                Ref {
                    attr: seq(0),
                    ..to(&["d", "p", "mesos-default-ip-fabric-np"], "np1")
                },
            ],
            ..VirtualNetwork::default()
        }
    }

    #[test]
    fn each_interface_shows_its_own_networks_policies() {
        let view = ContrailView::build(
            &[vm("vm1", "c1")],
            &[
                vmi("i1", "vm1", "c1", "eth0", "blue"),
                vmi("i2", "vm1", "c1", "eth1", "red"),
            ],
            &[iip("5.5.5.3", "i1"), iip("6.6.6.3", "i2")],
            &[],
            CLUSTER,
        )
        .with_policies(&[blue_with_policies()]);
        let apps = marathon(vec![app("/web", "web.1")], vec![]);
        let state = master(&[("web.1", "c1")], &[]);
        let doc = join(&apps, Some(&state), &view);
        let ifs = &doc.tasks[0].interfaces;
        assert_eq!(
            ifs[0].policies,
            ["d:p:mesos-default-ip-fabric-np", "d:p:allow-web"],
            "in sequence order"
        );
        assert!(ifs[1].policies.is_empty(), "red has none: {:?}", ifs[1]);
    }
}
