//! `fip`: floating IPs.

use std::net::IpAddr;

use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use serde::Serialize;
use serde_json::Value;

use super::common::{CommonOpts, emit, require_id};
use super::table::{cell, render};
use crate::clients::contrail::config_api::{ApiError, ApiErrorKind, ConfigApi, ListQuery, RefOp};
use crate::domain::contrail::{FloatingIp, FloatingIpPool, Ref, Resource, VirtualMachineInterface};
use crate::domain::fqname::FqName;
use crate::domain::ids;

#[derive(clap::Args, Debug, Clone)]
pub struct FipArgs {
    #[command(flatten)]
    pub common: CommonOpts,
    #[command(subcommand)]
    pub cmd: FipCmd,
}

#[derive(Subcommand, Debug, Clone)]
pub enum FipCmd {
    /// Pools, and floating IPs with their pool, project and the task interface they are bound to.
    List {
        /// Only this pool (domain:project:network:pool).
        #[arg(long, value_name = "POOL")]
        pool: Option<String>,
    },
    /// Allocate a floating IP from a pool.
    Allocate {
        /// The pool: domain:project:network:pool.
        pool: String,
        /// The address to take (must be free and inside the pool's network).
        #[arg(long, value_name = "IP")]
        address: Option<IpAddr>,
        /// The project that owns it [default: the pool's].
        #[arg(long, value_name = "FQNAME")]
        project: Option<String>,
    },
    /// Bind a floating IP to a task's interface.
    Associate {
        /// The floating IP: uuid or address.
        fip: String,
        /// The task's container id.
        #[arg(long, value_name = "CONTAINER_ID")]
        task: String,
        /// The task's interface.
        #[arg(long, default_value = "eth0")]
        ifname: String,
    },
    /// Unbind a floating IP from every interface.
    Disassociate {
        /// The floating IP: uuid or address.
        fip: String,
    },
    /// Give a floating IP back to its pool.
    Release {
        /// The floating IP: uuid or address.
        fip: String,
    },
}

pub fn run(a: &FipArgs) -> Result<()> {
    let settings = a.common.settings()?;
    let api = a.common.api(&settings)?;
    let json = a.common.json;
    match &a.cmd {
        FipCmd::List { pool } => list(&api, pool.as_deref(), json),
        FipCmd::Allocate {
            pool,
            address,
            project,
        } => allocate(&api, pool, *address, project.as_deref(), json),
        FipCmd::Associate { fip, task, ifname } => associate(&api, fip, task, ifname, json),
        FipCmd::Disassociate { fip } => disassociate(&api, fip, json),
        FipCmd::Release { fip } => release(&api, fip, json),
    }
}

const FIP_FIELDS: &[&str] = &[
    "fq_name",
    "floating_ip_address",
    "project_refs",
    "virtual_machine_interface_refs",
    "parent_uuid",
];

const POOL_FIELDS: &[&str] = &["fq_name", "parent_uuid"];

/// `container/ifname` for interfaces this project made (`<container>@<ifname>`), else the
/// interface's fq-name.
pub fn task_label(vmi: &Ref) -> String {
    match vmi.fq_name() {
        Some(f) => match ids::parse_vmi_name(f.name()) {
            Some((cid, ifname)) => format!("{cid}/{ifname}"),
            None => f.to_string(),
        },
        None => String::new(),
    }
}

/// An interface a floating IP is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Binding {
    /// The interface's fq-name.
    pub interface: String,
    pub uuid: String,
    /// `container/ifname` (see [`task_label`]).
    pub task: String,
}

/// A floating IP as the CLI shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FipView {
    pub uuid: String,
    pub address: Option<String>,
    /// The pool's fq-name.
    pub pool: Option<String>,
    /// The owning project's fq-name.
    pub project: Option<String>,
    pub bound_to: Vec<Binding>,
}

impl From<&FloatingIp> for FipView {
    fn from(fip: &FloatingIp) -> Self {
        Self {
            uuid: fip.uuid.clone(),
            address: fip.floating_ip_address.clone(),
            pool: fip.pool().map(|p| p.to_string()),
            project: fip.project_refs.first().map(Ref::fq_string),
            bound_to: fip
                .virtual_machine_interface_refs
                .iter()
                .map(|r| Binding {
                    interface: r.fq_string(),
                    uuid: r.uuid.clone(),
                    task: task_label(r),
                })
                .collect(),
        }
    }
}

impl FipView {
    fn row(&self) -> Vec<String> {
        let bound: Vec<&str> = self.bound_to.iter().map(|b| b.task.as_str()).collect();
        vec![
            cell(self.address.as_deref().unwrap_or_default()),
            cell(self.pool.as_deref().unwrap_or_default()),
            cell(self.project.as_deref().unwrap_or_default()),
            cell(bound.join(",")),
            cell(&self.uuid),
        ]
    }
}

const FIP_HEADER: &[&str] = &["ADDRESS", "POOL", "PROJECT", "BOUND TO", "UUID"];

/// A pool and how many floating IPs it has given out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolView {
    /// The pool's fq-name.
    pub pool: String,
    pub uuid: String,
    pub allocated: usize,
}

/// What `fip list` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FipList {
    pub pools: Vec<PoolView>,
    pub floating_ips: Vec<FipView>,
}

impl FipList {
    fn table(&self) -> String {
        let prow: Vec<Vec<String>> = self
            .pools
            .iter()
            .map(|p| vec![cell(&p.pool), p.allocated.to_string(), cell(&p.uuid)])
            .collect();
        let frow: Vec<Vec<String>> = self.floating_ips.iter().map(FipView::row).collect();
        format!(
            "{}\n{}",
            render(&["POOL", "ALLOCATED", "UUID"], &prow),
            render(FIP_HEADER, &frow)
        )
    }
}

fn list(api: &ConfigApi, pool: Option<&str>, json: bool) -> Result<()> {
    let pools: Vec<FloatingIpPool> = match pool {
        Some(p) => {
            let want = FqName::parse(p).map_err(|e| anyhow!("pool: {e}"))?;
            let uuid = require_id(api, FloatingIpPool::TYPE, &want)?;
            vec![
                api.read_as::<FloatingIpPool>(&uuid, POOL_FIELDS)
                    .with_context(|| format!("reading floating-ip pool {want}"))?,
            ]
        }
        None => api
            .list_as::<FloatingIpPool>(&ListQuery::detail(POOL_FIELDS))
            .context("listing floating-ip pools")?,
    };
    let mut q = ListQuery::detail(FIP_FIELDS);
    if pool.is_some() {
        q.parent_id = pools.iter().map(|p| p.uuid.clone()).collect();
    }
    let fips: Vec<FipView> = api
        .list_as::<FloatingIp>(&q)
        .context("listing floating IPs")?
        .iter()
        .filter(|f| f.fq_name.len() == 5)
        .map(FipView::from)
        .collect();
    let pools: Vec<PoolView> = pools
        .iter()
        .map(|p| {
            let fq = p.fq_name.join(":");
            let allocated = fips
                .iter()
                .filter(|f| f.pool.as_deref() == Some(fq.as_str()))
                .count();
            PoolView {
                pool: fq,
                uuid: p.uuid.clone(),
                allocated,
            }
        })
        .collect();
    let doc = FipList {
        pools,
        floating_ips: fips,
    };
    emit(json, &doc, || doc.table())
}

/// A floating IP by uuid or by address.
pub fn find_fip(api: &ConfigApi, s: &str) -> Result<FloatingIp> {
    if ids::is_canonical_uuid(s) {
        return api
            .read_opt_as::<FloatingIp>(s, FIP_FIELDS)
            .with_context(|| format!("reading floating-ip {s}"))?
            .ok_or_else(|| anyhow!("floating IP {s} does not exist"));
    }
    let addr: IpAddr = s
        .parse()
        .map_err(|_| anyhow!("{s:?} is neither a floating-ip uuid nor an IP address"))?;
    let mut hits = fips_with_address(api, addr, &[])?;
    match hits.len() {
        0 => bail!("no floating IP has address {addr}"),
        1 => Ok(hits.remove(0)),
        n => bail!(
            "{n} floating IPs have address {addr} (in pools {}); give the uuid",
            hits.iter()
                .map(|h| h.pool().map(|p| p.to_string()).unwrap_or_default())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn fips_with_address(api: &ConfigApi, addr: IpAddr, parents: &[String]) -> Result<Vec<FloatingIp>> {
    let mut q = ListQuery::detail(FIP_FIELDS);
    q.filters = vec![(
        "floating_ip_address".into(),
        Value::String(addr.to_string()).to_string(),
    )];
    q.parent_id = parents.to_vec();
    let list = api
        .list_as::<FloatingIp>(&q)
        .context("listing floating IPs")?;
    let addr = addr.to_string();
    Ok(list
        .into_iter()
        .filter(|f| f.floating_ip_address.as_deref() == Some(addr.as_str()))
        .collect())
}

fn show(json: bool, fip: &FloatingIp, verb: &str) -> Result<()> {
    let d = FipView::from(fip);
    emit(json, &d, || {
        format!("{verb}\n{}", render(FIP_HEADER, &[d.row()]))
    })
}

fn allocate(
    api: &ConfigApi,
    pool: &str,
    address: Option<IpAddr>,
    project: Option<&str>,
    json: bool,
) -> Result<()> {
    let pool_fq = FqName::parse(pool).map_err(|e| anyhow!("pool: {e}"))?;
    if pool_fq.len() != 4 {
        bail!("pool {pool_fq} must be domain:project:network:pool");
    }
    let pool_uuid = require_id(api, FloatingIpPool::TYPE, &pool_fq)?;
    let project_fq = match project {
        Some(p) => FqName::parse(p).map_err(|e| anyhow!("project: {e}"))?,
        None => FqName::new(pool_fq.parts()[..2].to_vec()).map_err(|e| anyhow!("project: {e}"))?,
    };
    let project_uuid = require_id(api, "project", &project_fq)?;
    let uuid = uuid::Uuid::new_v4().to_string();
    let fq = pool_fq
        .child(&format!("fip-{uuid}"))
        .map_err(|e| anyhow!("{e}"))?;
    let fip = FloatingIp {
        uuid: uuid.clone(),
        fq_name: fq.parts().to_vec(),
        floating_ip_address: address.map(|a| a.to_string()),
        project_refs: vec![Ref::new(&project_fq, &project_uuid)],
        ..FloatingIp::default()
    };
    if let Err(e) = api.create(&fip) {
        return Err(refusal(api, e, address, &pool_fq, &pool_uuid));
    }
    let fip = api
        .read_as::<FloatingIp>(&uuid, FIP_FIELDS)
        .context("reading the new floating IP")?;
    show(json, &fip, "allocated")
}

/// Why an allocation was refused, naming the owner of a taken address.
fn refusal(
    api: &ConfigApi,
    e: ApiError,
    address: Option<IpAddr>,
    pool: &FqName,
    pool_uuid: &str,
) -> anyhow::Error {
    let kind = e.kind;
    let e = anyhow::Error::new(e);
    let Some(a) = address else {
        return match kind {
            ApiErrorKind::Conflict => e.context(format!("no address is free in pool {pool}")),
            _ => e.context(format!("allocating from pool {pool}")),
        };
    };
    if let Ok(owners) = fips_with_address(api, a, &[pool_uuid.to_string()])
        && let Some(o) = owners.first()
    {
        let bound = o
            .virtual_machine_interface_refs
            .first()
            .map(task_label)
            .unwrap_or_else(|| "no interface".into());
        return e.context(format!(
            "address {a} in pool {pool} is taken by floating IP {} (bound to {bound})",
            o.uuid
        ));
    }
    match kind {
        ApiErrorKind::Conflict => e.context(format!("address {a} in pool {pool} is taken")),
        ApiErrorKind::BadRequest => e.context(format!(
            "address {a} is not usable in pool {pool} (outside its network's subnets?)"
        )),
        _ => e.context(format!("allocating {a} from pool {pool}")),
    }
}

/// The uuid of a task's interface, as the manager named it.
pub fn task_interface(api: &ConfigApi, task: &str, ifname: &str) -> Result<String> {
    let uuid = ids::vmi_uuid(task, ifname);
    api.read_opt_as::<VirtualMachineInterface>(&uuid, &["fq_name"])
        .with_context(|| format!("looking up interface {ifname} of task {task}"))?
        .ok_or_else(|| anyhow!("task {task} has no interface {ifname} in Contrail"))?;
    Ok(uuid)
}

fn associate(api: &ConfigApi, fip: &str, task: &str, ifname: &str, json: bool) -> Result<()> {
    let f = find_fip(api, fip)?;
    let vmi = task_interface(api, task, ifname)?;
    api.ref_update(
        FloatingIp::TYPE,
        &f.uuid,
        VirtualMachineInterface::TYPE,
        &vmi,
        RefOp::Add,
        None,
    )
    .with_context(|| format!("associating floating IP {fip} with {task}/{ifname}"))?;
    let f = api
        .read_as::<FloatingIp>(&f.uuid, FIP_FIELDS)
        .with_context(|| format!("reading floating IP {fip}"))?;
    show(json, &f, "associated")
}

fn disassociate(api: &ConfigApi, fip: &str, json: bool) -> Result<()> {
    let f = find_fip(api, fip)?;
    for r in f
        .virtual_machine_interface_refs
        .iter()
        .filter(|r| !r.uuid.is_empty())
    {
        api.ref_update(
            FloatingIp::TYPE,
            &f.uuid,
            VirtualMachineInterface::TYPE,
            &r.uuid,
            RefOp::Delete,
            None,
        )
        .with_context(|| format!("disassociating floating IP {fip} from {}", r.fq_string()))?;
    }
    let f = api
        .read_as::<FloatingIp>(&f.uuid, FIP_FIELDS)
        .with_context(|| format!("reading floating IP {fip}"))?;
    show(json, &f, "disassociated")
}

fn release(api: &ConfigApi, fip: &str, json: bool) -> Result<()> {
    let f = find_fip(api, fip)?;
    api.delete(FloatingIp::TYPE, &f.uuid)
        .with_context(|| format!("releasing floating IP {fip}"))?;
    show(json, &f, "released")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_floating_ip_is_shown_with_its_pool_project_and_tasks() {
        let fip: FloatingIp = serde_json::from_value(json!({
            "uuid": "f1", "fq_name": ["d", "p", "pub", "pool", "fip-1"],
            "floating_ip_address": "10.66.77.5",
            "project_refs": [{"to": ["d", "p"], "uuid": "p1"}],
            "virtual_machine_interface_refs": [
                {"to": ["d", "p", "c1@eth0"], "uuid": "i1"},
                {"to": ["d", "p", "port-x"], "uuid": "i2"}
            ]
        }))
        .expect("decodes");
        let v = FipView::from(&fip);
        assert_eq!(v.pool.as_deref(), Some("d:p:pub:pool"));
        assert_eq!(v.project.as_deref(), Some("d:p"));
        assert_eq!(v.bound_to[0].task, "c1/eth0");
        assert_eq!(v.bound_to[1].task, "d:p:port-x", "not ours: the fq-name");
        assert_eq!(
            serde_json::to_value(&v).expect("JSON"),
            json!({"uuid": "f1", "address": "10.66.77.5", "pool": "d:p:pub:pool", "project": "d:p",
                   "bound_to": [{"interface": "d:p:c1@eth0", "uuid": "i1", "task": "c1/eth0"},
                                {"interface": "d:p:port-x", "uuid": "i2", "task": "d:p:port-x"}]})
        );
        assert_eq!(
            v.row(),
            [
                "10.66.77.5",
                "d:p:pub:pool",
                "d:p",
                "c1/eth0,d:p:port-x",
                "f1"
            ]
        );
        let bare = FipView::from(&FloatingIp::default());
        assert_eq!(bare.row(), ["-", "-", "-", "-", "-"]);
    }
}
