//! `sg`: security groups.

use anyhow::{Context, Result, anyhow, bail};
use clap::{Subcommand, ValueEnum};
use ipnet::IpNet;
use serde::Serialize;
use serde_json::Value;

use super::common::{CommonOpts, emit, require_id};
use super::fip::{task_interface, task_label};
use super::table::{cell, render};
use crate::clients::contrail::config_api::{ApiErrorKind, ConfigApi, ListQuery, RefOp};
use crate::domain::contrail::{
    AddressType, PolicyEntries, PolicyRule, PortType, Resource, SecurityGroup, SubnetType,
    VirtualMachineInterface, to_value,
};
use crate::domain::fqname::FqName;
use crate::domain::ids;

#[derive(clap::Args, Debug, Clone)]
pub struct SgArgs {
    #[command(flatten)]
    pub common: CommonOpts,
    #[command(subcommand)]
    pub cmd: SgCmd,
}

#[derive(Subcommand, Debug, Clone)]
pub enum SgCmd {
    /// Security groups with their rule and user counts.
    List,
    /// One security group: rules and the task interfaces using it.
    Show {
        /// The security group: domain:project:name or uuid.
        sg: String,
    },
    /// Create a security group.
    Create {
        /// domain:project:name
        fqname: String,
        /// A rule: DIRECTION,PROTOCOL,PORTS,REMOTE, e.g. ingress,tcp,80-90,10.0.0.0/8 or
        /// egress,any,any,sg:default-domain:p:web. Repeatable.
        #[arg(long = "rule", value_name = "RULE")]
        rules: Vec<String>,
    },
    /// Delete a security group; refused while interfaces use it, unless --force detaches them.
    Delete {
        /// The security group: domain:project:name or uuid.
        sg: String,
        /// Detach it from the interfaces that use it first.
        #[arg(long)]
        force: bool,
    },
    /// Add a rule.
    AddRule {
        /// The security group: domain:project:name or uuid.
        sg: String,
        /// Traffic into the task (ingress) or out of it (egress).
        #[arg(long, value_enum)]
        direction: Direction,
        /// tcp, udp, icmp, any, or an IP protocol number.
        #[arg(long, default_value = "any")]
        protocol: String,
        /// A port or a range (80, 8000-8080); any when absent.
        #[arg(long, value_name = "PORTS")]
        ports: Option<String>,
        /// Remote addresses.
        #[arg(long, value_name = "CIDR", conflicts_with = "remote_sg")]
        cidr: Option<IpNet>,
        /// Remote security group (domain:project:name).
        #[arg(long, value_name = "FQNAME")]
        remote_sg: Option<String>,
    },
    /// Attach a security group to a task's interface.
    Attach {
        /// The security group: domain:project:name or uuid.
        sg: String,
        /// The task's container id.
        #[arg(long, value_name = "CONTAINER_ID")]
        task: String,
        /// The task's interface.
        #[arg(long, default_value = "eth0")]
        ifname: String,
    },
    /// Detach a security group from a task's interface.
    Detach {
        /// The security group: domain:project:name or uuid.
        sg: String,
        /// The task's container id.
        #[arg(long, value_name = "CONTAINER_ID")]
        task: String,
        /// The task's interface.
        #[arg(long, default_value = "eth0")]
        ifname: String,
    },
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ingress,
    Egress,
}

pub fn run(a: &SgArgs) -> Result<()> {
    let settings = a.common.settings()?;
    let api = a.common.api(&settings)?;
    let json = a.common.json;
    match &a.cmd {
        SgCmd::List => list(&api, json),
        SgCmd::Show { sg } => {
            let (uuid, _) = find(&api, sg)?;
            show(&api, &uuid, json, None)
        }
        SgCmd::Create { fqname, rules } => create(&api, fqname, rules, json),
        SgCmd::Delete { sg, force } => delete(&api, sg, *force, json),
        SgCmd::AddRule {
            sg,
            direction,
            protocol,
            ports,
            cidr,
            remote_sg,
        } => {
            let remote = match (cidr, remote_sg) {
                (Some(c), _) => Remote::Cidr(*c),
                (None, Some(s)) => {
                    Remote::Group(FqName::parse(s).map_err(|e| anyhow!("--remote-sg: {e}"))?)
                }
                (None, None) => Remote::Cidr("0.0.0.0/0".parse().map_err(|_| anyhow!("constant"))?),
            };
            let rule = Rule {
                direction: *direction,
                protocol: protocol_name(protocol)?,
                ports: port_range(ports.as_deref())?,
                remote,
            };
            add_rule(&api, sg, rule, json)
        }
        SgCmd::Attach { sg, task, ifname } => attach(&api, sg, task, ifname, RefOp::Add, json),
        SgCmd::Detach { sg, task, ifname } => attach(&api, sg, task, ifname, RefOp::Delete, json),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    Cidr(IpNet),
    Group(FqName),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub direction: Direction,
    pub protocol: String,
    pub ports: (i64, i64),
    pub remote: Remote,
}

fn protocol_name(p: &str) -> Result<String> {
    let p = p.trim().to_ascii_lowercase();
    match p.as_str() {
        "tcp" | "udp" | "icmp" | "icmp6" | "any" => Ok(p),
        n if n.parse::<u8>().is_ok() => Ok(p),
        _ => bail!("protocol {p:?} is not tcp, udp, icmp, icmp6, any or a number 0-255"),
    }
}

fn port_range(s: Option<&str>) -> Result<(i64, i64)> {
    let Some(s) = s.map(str::trim).filter(|s| !s.is_empty() && *s != "any") else {
        return Ok((0, 65535));
    };
    let parse = |p: &str| -> Result<i64> {
        p.trim()
            .parse::<u16>()
            .map(i64::from)
            .map_err(|_| anyhow!("port {p:?} in {s:?} is not 0-65535"))
    };
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => (parse(s)?, parse(s)?),
    };
    if a > b {
        bail!("port range {s:?} ends before it starts");
    }
    Ok((a, b))
}

/// `DIRECTION,PROTOCOL,PORTS,REMOTE`.
pub fn parse_rule(spec: &str) -> Result<Rule> {
    let parts: Vec<&str> = spec.splitn(4, ',').map(str::trim).collect();
    let [dir, proto, ports, remote] = parts.as_slice() else {
        bail!(
            "rule {spec:?} must be DIRECTION,PROTOCOL,PORTS,REMOTE (e.g. ingress,tcp,80,0.0.0.0/0)"
        );
    };
    let direction = match dir.to_ascii_lowercase().as_str() {
        "ingress" => Direction::Ingress,
        "egress" => Direction::Egress,
        other => bail!("rule {spec:?}: direction {other:?} is not ingress or egress"),
    };
    let remote =
        match remote.strip_prefix("sg:") {
            Some(g) => Remote::Group(FqName::parse(g).map_err(|e| anyhow!("rule {spec:?}: {e}"))?),
            None => Remote::Cidr(remote.parse().map_err(|_| {
                anyhow!("rule {spec:?}: remote {remote:?} is not a CIDR or sg:FQNAME")
            })?),
        };
    Ok(Rule {
        direction,
        protocol: protocol_name(proto)?,
        ports: port_range(Some(ports))?,
        remote,
    })
}

/// The `PolicyRuleType` Contrail stores: the remote end is the source for ingress and the
/// destination for egress; the other end is `local`.
pub fn policy_rule(r: &Rule) -> PolicyRule {
    let remote = match &r.remote {
        Remote::Cidr(n) => AddressType {
            subnet: Some(SubnetType {
                ip_prefix: Some(n.network().to_string()),
                ip_prefix_len: Some(u64::from(n.prefix_len())),
            }),
            ..AddressType::default()
        },
        Remote::Group(g) => AddressType {
            security_group: Some(g.to_string()),
            ..AddressType::default()
        },
    };
    let ethertype = match &r.remote {
        Remote::Cidr(IpNet::V6(_)) => "IPv6",
        _ => "IPv4",
    };
    let local = AddressType {
        security_group: Some("local".into()),
        ..AddressType::default()
    };
    let range = |start: i64, end: i64| PortType {
        start_port: Some(start),
        end_port: Some(end),
    };
    let (src, dst) = match r.direction {
        Direction::Ingress => (remote, local),
        Direction::Egress => (local, remote),
    };
    PolicyRule {
        rule_uuid: Some(uuid::Uuid::new_v4().to_string()),
        direction: Some(">".into()),
        protocol: Some(r.protocol.clone()),
        ethertype: Some(ethertype.into()),
        src_addresses: vec![src],
        src_ports: vec![range(0, 65535)],
        dst_addresses: vec![dst],
        dst_ports: vec![range(r.ports.0, r.ports.1)],
        ..PolicyRule::default()
    }
}

/// A rule as the CLI shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleView {
    /// `ingress` or `egress`.
    pub direction: String,
    pub protocol: String,
    /// `any`, a port, or a range `a-b`.
    pub ports: String,
    /// A CIDR, `sg:FQNAME`, `local` or `any`.
    pub remote: String,
}

/// What a stored rule means: the end that is not `local` is the remote one, the source of an
/// ingress rule and the destination of an egress rule.
fn describe_rule(rule: &PolicyRule) -> RuleView {
    let addr = |a: &AddressType| -> String {
        if let Some(sg) = &a.security_group {
            return if sg == "local" {
                "local".into()
            } else {
                format!("sg:{sg}")
            };
        }
        if let Some(SubnetType {
            ip_prefix: Some(p),
            ip_prefix_len: Some(l),
        }) = &a.subnet
        {
            return format!("{p}/{l}");
        }
        "any".into()
    };
    let src = rule.src_addresses.first().map(addr).unwrap_or_default();
    let dst = rule.dst_addresses.first().map(addr).unwrap_or_default();
    let (direction, remote) = if dst == "local" {
        ("ingress", src)
    } else {
        ("egress", dst)
    };
    let port = rule.dst_ports.first();
    let (s, e) = (
        port.and_then(|p| p.start_port).unwrap_or(0),
        port.and_then(|p| p.end_port).unwrap_or(65535),
    );
    let ports = if (s, e) == (0, 65535) || (s, e) == (-1, -1) {
        "any".to_string()
    } else if s == e {
        s.to_string()
    } else {
        format!("{s}-{e}")
    };
    RuleView {
        direction: direction.to_string(),
        protocol: rule.protocol.clone().unwrap_or_else(|| "any".into()),
        ports,
        remote,
    }
}

/// A security group by uuid or fq-name.
pub fn find(api: &ConfigApi, s: &str) -> Result<(String, FqName)> {
    if ids::is_canonical_uuid(s) {
        let sg = api
            .read_opt_as::<SecurityGroup>(s, &["fq_name"])
            .with_context(|| format!("reading security group {s}"))?
            .ok_or_else(|| anyhow!("security group {s} does not exist"))?;
        if sg.fq_name.is_empty() {
            bail!("security group {s} has no fq_name");
        }
        return Ok((s.to_string(), FqName::from_checked_parts(sg.fq_name)));
    }
    let fq = FqName::parse(s).map_err(|e| anyhow!("security group: {e}"))?;
    if fq.len() != 3 {
        bail!("security group {fq} must be domain:project:name or a uuid");
    }
    let uuid = require_id(api, SecurityGroup::TYPE, &fq)?;
    Ok((uuid, fq))
}

const SG_FIELDS: &[&str] = &[
    "fq_name",
    "security_group_entries",
    "virtual_machine_interface_back_refs",
];

/// A task interface using a security group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub uuid: String,
    /// `container/ifname` (see [`task_label`]).
    pub task: String,
}

fn users(sg: &SecurityGroup) -> Vec<User> {
    sg.virtual_machine_interface_back_refs
        .iter()
        .map(|r| User {
            uuid: r.uuid.clone(),
            task: task_label(r),
        })
        .collect()
}

fn rules(sg: &SecurityGroup, fq: &str) -> Result<Vec<RuleView>> {
    Ok(sg
        .rules()
        .with_context(|| format!("security group {fq} has a rule that cannot be read"))?
        .iter()
        .map(describe_rule)
        .collect())
}

/// One line of `sg list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SgSummary {
    pub fq_name: Option<String>,
    pub uuid: String,
    pub rules: usize,
    pub users: usize,
}

/// What `sg show` (and the commands that change a group) print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SgView {
    pub fq_name: String,
    pub uuid: String,
    pub rules: Vec<RuleView>,
    pub users: Vec<User>,
}

/// What `sg delete` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deleted {
    /// The group's fq-name.
    pub deleted: String,
    pub uuid: String,
    /// The interfaces it was detached from (`--force`).
    pub detached: Vec<User>,
}

fn list(api: &ConfigApi, json: bool) -> Result<()> {
    let sgs = api
        .list_as::<SecurityGroup>(&ListQuery::detail(SG_FIELDS))
        .context("listing security groups")?;
    let doc: Vec<SgSummary> = sgs
        .iter()
        .map(|s| SgSummary {
            fq_name: (!s.fq_name.is_empty()).then(|| s.fq_name.join(":")),
            uuid: s.uuid.clone(),
            rules: s.policy_rules().len(),
            users: s.virtual_machine_interface_back_refs.len(),
        })
        .collect();
    emit(json, &doc, || {
        let rows: Vec<Vec<String>> = doc
            .iter()
            .map(|d| {
                vec![
                    cell(d.fq_name.as_deref().unwrap_or_default()),
                    d.rules.to_string(),
                    d.users.to_string(),
                    cell(&d.uuid),
                ]
            })
            .collect();
        render(&["SECURITY GROUP", "RULES", "USERS", "UUID"], &rows)
    })
}

fn show(api: &ConfigApi, uuid: &str, json: bool, verb: Option<&str>) -> Result<()> {
    let sg = api
        .read_as::<SecurityGroup>(uuid, SG_FIELDS)
        .with_context(|| format!("reading security group {uuid}"))?;
    let fq = sg.fq_name.join(":");
    let doc = SgView {
        rules: rules(&sg, &fq)?,
        users: users(&sg),
        fq_name: fq,
        uuid: uuid.to_string(),
    };
    emit(json, &doc, || {
        let rows: Vec<Vec<String>> = doc
            .rules
            .iter()
            .map(|r| {
                [&r.direction, &r.protocol, &r.ports, &r.remote]
                    .into_iter()
                    .map(cell)
                    .collect()
            })
            .collect();
        let u: Vec<&str> = doc.users.iter().map(|u| u.task.as_str()).collect();
        format!(
            "{}security group {} ({uuid})\n{}used by: {}\n",
            verb.map(|v| format!("{v}: ")).unwrap_or_default(),
            doc.fq_name,
            render(&["DIRECTION", "PROTOCOL", "PORTS", "REMOTE"], &rows),
            if u.is_empty() {
                "-".to_string()
            } else {
                u.join(", ")
            }
        )
    })
}

fn create(api: &ConfigApi, fqname: &str, specs: &[String], json: bool) -> Result<()> {
    let fq = FqName::parse(fqname).map_err(|e| anyhow!("security group: {e}"))?;
    if fq.len() != 3 {
        bail!("security group {fq} must be domain:project:name");
    }
    let rules = specs
        .iter()
        .map(|s| parse_rule(s))
        .collect::<Result<Vec<_>>>()?;
    for r in &rules {
        if let Remote::Group(g) = &r.remote
            && g != &fq
        {
            find(api, &g.to_string())?;
        }
    }
    let sg = SecurityGroup {
        fq_name: fq.parts().to_vec(),
        security_group_entries: to_value(&PolicyEntries::of(
            &rules.iter().map(policy_rule).collect::<Vec<_>>(),
        )),
        ..SecurityGroup::default()
    };
    let uuid = api.create(&sg).map_err(|e| {
        let context = match e.kind {
            ApiErrorKind::Conflict => format!("security group {fq} already exists"),
            ApiErrorKind::NotFound | ApiErrorKind::BadRequest => format!(
                "creating security group {fq}: project {} missing or request refused",
                fq.parent().map(|p| p.to_string()).unwrap_or_default()
            ),
            _ => format!("creating security group {fq}"),
        };
        anyhow::Error::new(e).context(context)
    })?;
    show(api, &uuid, json, Some("created"))
}

fn delete(api: &ConfigApi, s: &str, force: bool, json: bool) -> Result<()> {
    let (uuid, fq) = find(api, s)?;
    let sg = api
        .read_as::<SecurityGroup>(&uuid, SG_FIELDS)
        .with_context(|| format!("reading security group {fq}"))?;
    let users = users(&sg);
    if !users.is_empty() {
        if !force {
            let names: Vec<&str> = users.iter().map(|u| u.task.as_str()).collect();
            bail!(
                "security group {fq} is used by {} interface(s): {}; detach them or use --force",
                names.len(),
                names.join(", ")
            );
        }
        for u in users.iter().filter(|u| !u.uuid.is_empty()) {
            api.ref_update(
                VirtualMachineInterface::TYPE,
                &u.uuid,
                SecurityGroup::TYPE,
                &uuid,
                RefOp::Delete,
                None,
            )
            .with_context(|| format!("detaching {fq} from {}", u.task))?;
        }
    }
    api.delete(SecurityGroup::TYPE, &uuid)
        .with_context(|| format!("deleting security group {fq}"))?;
    let doc = Deleted {
        deleted: fq.to_string(),
        uuid: uuid.clone(),
        detached: users,
    };
    emit(json, &doc, || {
        format!("deleted security group {fq} ({uuid})\n")
    })
}

fn add_rule(api: &ConfigApi, s: &str, rule: Rule, json: bool) -> Result<()> {
    let (uuid, fq) = find(api, s)?;
    if let Remote::Group(g) = &rule.remote
        && g != &fq
    {
        find(api, &g.to_string())?;
    }
    let sg = api
        .read_as::<SecurityGroup>(&uuid, &["security_group_entries"])
        .with_context(|| format!("reading security group {fq}"))?;
    let mut entries: Vec<Value> = sg.policy_rules().to_vec();
    entries.push(to_value(&policy_rule(&rule)));
    let changed = SecurityGroup {
        security_group_entries: to_value(&PolicyEntries {
            policy_rule: entries,
        }),
        ..SecurityGroup::default()
    };
    api.update(&uuid, &changed)
        .with_context(|| format!("adding a rule to security group {fq}"))?;
    show(api, &uuid, json, Some("rule added"))
}

fn attach(api: &ConfigApi, s: &str, task: &str, ifname: &str, op: RefOp, json: bool) -> Result<()> {
    let (uuid, fq) = find(api, s)?;
    let vmi = task_interface(api, task, ifname)?;
    let (doing, done) = match op {
        RefOp::Add => ("attaching", "attached"),
        RefOp::Delete => ("detaching", "detached"),
    };
    api.ref_update(
        VirtualMachineInterface::TYPE,
        &vmi,
        SecurityGroup::TYPE,
        &uuid,
        op,
        None,
    )
    .with_context(|| format!("{doing} {fq} on {task}/{ifname}"))?;
    show(api, &uuid, json, Some(done))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_specs() {
        let r = parse_rule("ingress,tcp,80-90,10.0.0.0/8").expect("valid");
        assert_eq!(r.ports, (80, 90));
        let j = to_value(&policy_rule(&r));
        assert_eq!(j["src_addresses"][0]["subnet"]["ip_prefix"], "10.0.0.0");
        assert_eq!(j["dst_addresses"][0]["security_group"], "local");
        assert_eq!(j["dst_ports"][0]["start_port"], 80);
        let typed = |j: Value| -> PolicyRule { serde_json::from_value(j).expect("decodes") };
        assert_eq!(
            describe_rule(&typed(j)),
            RuleView {
                direction: "ingress".into(),
                protocol: "tcp".into(),
                ports: "80-90".into(),
                remote: "10.0.0.0/8".into()
            }
        );
        let r = parse_rule("egress,any,any,sg:d:p:web").expect("valid");
        let j = to_value(&policy_rule(&r));
        assert_eq!(j["dst_addresses"][0]["security_group"], "d:p:web");
        let d = describe_rule(&typed(j));
        assert_eq!((d.direction.as_str(), d.ports.as_str()), ("egress", "any"));
        assert_eq!(d.remote, "sg:d:p:web");
        for bad in [
            "ingress,tcp,80",
            "sideways,tcp,80,0.0.0.0/0",
            "ingress,tcp,90-80,0.0.0.0/0",
            "ingress,foo,80,0.0.0.0/0",
            "ingress,tcp,80,nowhere",
        ] {
            assert!(parse_rule(bad).is_err(), "{bad}");
        }
    }
}
