//! `fip`: floating IPs.

use std::net::IpAddr;

use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use serde_json::{Value, json};

use super::common::{CommonOpts, emit};
use super::table::{cell, render};
use crate::clients::contrail::config_api::{ApiError, ApiErrorKind, ConfigApi, ListQuery, RefOp};
use crate::clients::contrail::model::reference;
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

fn fq_of(v: &Value) -> String {
    FqName::from_json(&v["fq_name"])
        .or_else(|| FqName::from_json(&v["to"]))
        .map(|f| f.to_string())
        .unwrap_or_default()
}

/// `container/ifname` for interfaces this project made (`<container>@<ifname>`), else the
/// interface's fq-name.
pub fn task_label(vmi_ref: &Value) -> String {
    let fq = FqName::from_json(&vmi_ref["to"]).or_else(|| FqName::from_json(&vmi_ref["fq_name"]));
    match fq {
        Some(f) => match ids::parse_vmi_name(f.name()) {
            Some((cid, ifname)) => format!("{cid}/{ifname}"),
            None => f.to_string(),
        },
        None => String::new(),
    }
}

fn describe(fip: &Value) -> Value {
    let fq = FqName::from_json(&fip["fq_name"]);
    json!({
        "uuid": fip["uuid"],
        "address": fip["floating_ip_address"],
        "pool": fq.as_ref().and_then(FqName::parent).map(|p| p.to_string()),
        "project": fip["project_refs"].as_array().and_then(|r| r.first()).map(fq_of),
        "bound_to": fip["virtual_machine_interface_refs"].as_array().into_iter().flatten()
            .map(|r| json!({"interface": fq_of(r), "uuid": r["uuid"], "task": task_label(r)}))
            .collect::<Vec<_>>(),
    })
}

fn fip_row(d: &Value) -> Vec<String> {
    let bound: Vec<String> = d["bound_to"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| b["task"].as_str().unwrap_or_default().to_string())
        .collect();
    vec![
        cell(d["address"].as_str().unwrap_or_default()),
        cell(d["pool"].as_str().unwrap_or_default()),
        cell(d["project"].as_str().unwrap_or_default()),
        cell(bound.join(",")),
        cell(d["uuid"].as_str().unwrap_or_default()),
    ]
}

const FIP_HEADER: &[&str] = &["ADDRESS", "POOL", "PROJECT", "BOUND TO", "UUID"];

fn list(api: &ConfigApi, pool: Option<&str>, json: bool) -> Result<()> {
    let pools = api
        .list(
            "floating-ip-pool",
            &ListQuery::detail(&["fq_name", "parent_uuid"]),
        )
        .map_err(|e| anyhow!("listing floating-ip pools: {e}"))?;
    let pools: Vec<&Value> = match pool {
        Some(p) => {
            let want = FqName::parse(p).map_err(|e| anyhow!("pool: {e}"))?;
            let hit: Vec<&Value> = pools
                .iter()
                .filter(|v| FqName::from_json(&v["fq_name"]).as_ref() == Some(&want))
                .collect();
            if hit.is_empty() {
                bail!("floating-ip pool {want} does not exist");
            }
            hit
        }
        None => pools.iter().collect(),
    };
    let mut q = ListQuery::detail(FIP_FIELDS);
    if pool.is_some() {
        q.parent_id = pools
            .iter()
            .filter_map(|p| p["uuid"].as_str().map(str::to_string))
            .collect();
    }
    let fips = api
        .list("floating-ip", &q)
        .map_err(|e| anyhow!("listing floating IPs: {e}"))?;
    let fips: Vec<Value> = fips
        .iter()
        .filter(|f| FqName::from_json(&f["fq_name"]).is_some_and(|fq| fq.len() == 5))
        .map(describe)
        .collect();
    let pool_list: Vec<Value> = pools
        .iter()
        .map(|p| {
            let fq = fq_of(p);
            let used = fips
                .iter()
                .filter(|f| f["pool"].as_str() == Some(fq.as_str()))
                .count();
            json!({"pool": fq, "uuid": p["uuid"], "allocated": used})
        })
        .collect();
    let doc = json!({"pools": pool_list, "floating_ips": fips});
    emit(json, &doc, || {
        let prow: Vec<Vec<String>> = pool_list
            .iter()
            .map(|p| {
                vec![
                    cell(p["pool"].as_str().unwrap_or_default()),
                    p["allocated"].to_string(),
                    cell(p["uuid"].as_str().unwrap_or_default()),
                ]
            })
            .collect();
        let frow: Vec<Vec<String>> = fips.iter().map(fip_row).collect();
        format!(
            "{}\n{}",
            render(&["POOL", "ALLOCATED", "UUID"], &prow),
            render(FIP_HEADER, &frow)
        )
    })
}

/// A floating IP by uuid or by address.
pub fn find_fip(api: &ConfigApi, s: &str) -> Result<Value> {
    if ids::is_canonical_uuid(s) {
        return api
            .read_opt("floating-ip", s, FIP_FIELDS)
            .map_err(|e| anyhow!("reading floating-ip {s}: {e}"))?
            .ok_or_else(|| anyhow!("floating IP {s} does not exist"));
    }
    let addr: IpAddr = s
        .parse()
        .map_err(|_| anyhow!("{s:?} is neither a floating-ip uuid nor an IP address"))?;
    let hits = fips_with_address(api, addr, &[])?;
    match hits.len() {
        0 => bail!("no floating IP has address {addr}"),
        1 => Ok(hits.into_iter().next().unwrap_or_default()),
        n => bail!(
            "{n} floating IPs have address {addr} (in pools {}); give the uuid",
            hits.iter()
                .map(|h| FqName::from_json(&h["fq_name"])
                    .and_then(|f| f.parent())
                    .map(|p| p.to_string())
                    .unwrap_or_default())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn fips_with_address(api: &ConfigApi, addr: IpAddr, parents: &[String]) -> Result<Vec<Value>> {
    let mut q = ListQuery::detail(FIP_FIELDS);
    q.filters = vec![(
        "floating_ip_address".into(),
        Value::String(addr.to_string()).to_string(),
    )];
    q.parent_id = parents.to_vec();
    let list = api
        .list("floating-ip", &q)
        .map_err(|e| anyhow!("listing floating IPs: {e}"))?;
    Ok(list
        .into_iter()
        .filter(|f| f["floating_ip_address"].as_str() == Some(addr.to_string().as_str()))
        .collect())
}

fn show(json: bool, fip: &Value, verb: &str) -> Result<()> {
    let d = describe(fip);
    emit(json, &d, || {
        format!("{verb}\n{}", render(FIP_HEADER, &[fip_row(&d)]))
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
    let pool_uuid = api
        .fqname_to_id("floating-ip-pool", &pool_fq)
        .map_err(|e| anyhow!("looking up pool {pool_fq}: {e}"))?
        .ok_or_else(|| anyhow!("floating-ip pool {pool_fq} does not exist"))?;
    let project_fq = match project {
        Some(p) => FqName::parse(p).map_err(|e| anyhow!("project: {e}"))?,
        None => FqName::new(pool_fq.parts()[..2].to_vec()).map_err(|e| anyhow!("project: {e}"))?,
    };
    let project_uuid = api
        .fqname_to_id("project", &project_fq)
        .map_err(|e| anyhow!("looking up project {project_fq}: {e}"))?
        .ok_or_else(|| anyhow!("project {project_fq} does not exist"))?;
    let uuid = uuid::Uuid::new_v4().to_string();
    let fq = pool_fq
        .child(&format!("fip-{uuid}"))
        .map_err(|e| anyhow!("{e}"))?;
    let mut body = json!({"uuid": uuid, "fq_name": fq.to_json(), "parent_type": "floating-ip-pool",
                          "project_refs": [reference(&project_fq, &project_uuid)]});
    if let Some(a) = address {
        body["floating_ip_address"] = a.to_string().into();
    }
    match api.create("floating-ip", body) {
        Ok(_) => {}
        Err(e) => return Err(refusal(api, e, address, &pool_fq, &pool_uuid)),
    }
    let fip = api
        .read("floating-ip", &uuid, FIP_FIELDS)
        .map_err(|e| anyhow!("reading the new floating IP: {e}"))?;
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
    let Some(a) = address else {
        return match e.kind {
            ApiErrorKind::Conflict => anyhow!("no address is free in pool {pool}: {e}"),
            _ => anyhow!("allocating from pool {pool}: {e}"),
        };
    };
    if let Ok(owners) = fips_with_address(api, a, &[pool_uuid.to_string()])
        && let Some(o) = owners.first()
    {
        let d = describe(o);
        let bound = d["bound_to"]
            .as_array()
            .and_then(|b| b.first())
            .and_then(|b| b["task"].as_str())
            .unwrap_or("no interface");
        return anyhow!(
            "address {a} in pool {pool} is taken by floating IP {} (bound to {bound})",
            o["uuid"].as_str().unwrap_or_default()
        );
    }
    match e.kind {
        ApiErrorKind::Conflict => anyhow!("address {a} in pool {pool} is taken: {e}"),
        ApiErrorKind::BadRequest => anyhow!(
            "address {a} is not usable in pool {pool} (outside its network's subnets?): {e}"
        ),
        _ => anyhow!("allocating {a} from pool {pool}: {e}"),
    }
}

/// The interface of a task, as the manager named it.
pub fn task_interface(api: &ConfigApi, task: &str, ifname: &str) -> Result<(String, FqName)> {
    let uuid = ids::vmi_uuid(task, ifname);
    let vmi = api
        .read_opt("virtual-machine-interface", &uuid, &["fq_name"])
        .map_err(|e| anyhow!("looking up interface {ifname} of task {task}: {e}"))?
        .ok_or_else(|| anyhow!("task {task} has no interface {ifname} in Contrail"))?;
    let fq = FqName::from_json(&vmi["fq_name"]).context("interface without fq_name")?;
    Ok((uuid, fq))
}

fn associate(api: &ConfigApi, fip: &str, task: &str, ifname: &str, json: bool) -> Result<()> {
    let f = find_fip(api, fip)?;
    let fuuid = f["uuid"].as_str().unwrap_or_default().to_string();
    let (vmi, _) = task_interface(api, task, ifname)?;
    api.ref_update(
        "floating-ip",
        &fuuid,
        "virtual-machine-interface",
        &vmi,
        RefOp::Add,
        None,
    )
    .map_err(|e| anyhow!("associating floating IP {fip} with {task}/{ifname}: {e}"))?;
    let f = api
        .read("floating-ip", &fuuid, FIP_FIELDS)
        .map_err(|e| anyhow!("reading floating IP {fip}: {e}"))?;
    show(json, &f, "associated")
}

fn disassociate(api: &ConfigApi, fip: &str, json: bool) -> Result<()> {
    let f = find_fip(api, fip)?;
    let fuuid = f["uuid"].as_str().unwrap_or_default().to_string();
    for r in f["virtual_machine_interface_refs"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(vmi) = r["uuid"].as_str() {
            api.ref_update(
                "floating-ip",
                &fuuid,
                "virtual-machine-interface",
                vmi,
                RefOp::Delete,
                None,
            )
            .map_err(|e| anyhow!("disassociating floating IP {fip} from {}: {e}", fq_of(r)))?;
        }
    }
    let f = api
        .read("floating-ip", &fuuid, FIP_FIELDS)
        .map_err(|e| anyhow!("reading floating IP {fip}: {e}"))?;
    show(json, &f, "disassociated")
}

fn release(api: &ConfigApi, fip: &str, json: bool) -> Result<()> {
    let f = find_fip(api, fip)?;
    let fuuid = f["uuid"].as_str().unwrap_or_default().to_string();
    api.delete("floating-ip", &fuuid)
        .map_err(|e| anyhow!("releasing floating IP {fip}: {e}"))?;
    show(json, &f, "released")
}
