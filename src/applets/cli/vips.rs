//! The VIP part of `status`: each VIP with its address, ports, apps and members (and, with
//! `dns_domain`, the named VIP's DNS record), and what is missing or extra against what
//! Marathon declares (the manager's own desired-versus-actual computation, read-only).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use super::table::{cell, render};
use crate::domain::contrail::{
    Loadbalancer, LoadbalancerListener, LoadbalancerMember, LoadbalancerPool, VirtualDnsRecord,
};
use crate::domain::vip::actual;
use crate::domain::vip::desired::Desired;
use crate::domain::vip::diff::{self, Step};
use crate::domain::vip::label::{VipKey, VipPort};
use crate::domain::vip::objects::Names;

/// One member as Contrail holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VipMember {
    /// The Marathon task (or pod instance) it stands for, when Marathon still declares it.
    pub task: Option<String>,
    pub address: String,
    pub port: u16,
    /// The VIP port it serves (`80/tcp`).
    pub vip_port: String,
}

/// One VIP: what Contrail holds and what it lacks or has too much of.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VipRow {
    /// `web.marathon`, or the address of an address VIP.
    pub name: String,
    /// The label's VIP part (`/web`).
    pub vip: String,
    pub address: Option<String>,
    /// The apps and pods naming it.
    pub apps: Vec<String>,
    /// `80/tcp`, ...
    pub ports: Vec<String>,
    pub members: Vec<VipMember>,
    /// What Contrail lacks, as phrases (`member web.2 5.5.5.4:8080 on 80/tcp`).
    pub missing: Vec<String>,
    /// What Contrail has that no task declares.
    pub extra: Vec<String>,
    /// Why the VIP is not made (an address outside service_subnets).
    pub refused: Option<String>,
    /// A named VIP's record in the cluster's virtual-DNS (with `dns_domain`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns: Option<VipDns>,
}

/// A named VIP's DNS record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VipDns {
    /// The name tasks resolve (`web.marathon.l4lb.thisdcos.directory`).
    pub name: String,
    /// The address the record holds; `None` while there is no record.
    pub address: Option<String>,
    /// Whether Contrail holds the one record with the VIP's address.
    pub in_step: bool,
}

/// This cluster's VIP objects as listed.
#[derive(Debug, Clone, Default)]
pub struct Lists {
    pub lbs: Vec<Loadbalancer>,
    pub listeners: Vec<LoadbalancerListener>,
    pub pools: Vec<LoadbalancerPool>,
    pub members: Vec<LoadbalancerMember>,
    /// DNS records (listed only with `dns_domain`).
    pub records: Vec<VirtualDnsRecord>,
}

fn port_of(l: &LoadbalancerListener) -> Option<String> {
    let p = &l.loadbalancer_listener_properties;
    Some(format!(
        "{}/{}",
        p.protocol_port?,
        p.protocol.as_deref()?.to_ascii_lowercase()
    ))
}

/// The rows: desired and actual VIPs joined, refused ones too; sorted by name. With
/// `dns_domain` (and `names` with the virtual-DNS), each named VIP's record.
pub fn rows(
    desired: &Desired,
    lists: &Lists,
    names: &Names,
    cluster: &str,
    dns_domain: Option<&str>,
) -> Vec<VipRow> {
    let mut actual = actual::from_lists(&lists.lbs, &lists.pools, cluster);
    actual.records = actual::records_of(&lists.records, cluster);
    let steps = diff::diff(desired, &actual, names);
    let listener_port: HashMap<&str, String> = lists
        .listeners
        .iter()
        .filter_map(|l| Some((l.uuid.as_str(), port_of(l)?)))
        .collect();
    let member_by_uuid: HashMap<&str, &LoadbalancerMember> =
        lists.members.iter().map(|m| (m.uuid.as_str(), m)).collect();
    // member uuid -> the task it stands for
    let mut task_of: HashMap<String, String> = HashMap::new();
    for (key, v) in &desired.vips {
        for (p, ms) in &v.ports {
            for m in ms {
                task_of.insert(names.member_uuid(key, *p, &m.backend), m.task.clone());
            }
        }
    }
    let mut out: BTreeMap<VipKey, VipRow> = BTreeMap::new();
    for (key, v) in &desired.vips {
        let row = out.entry(key.clone()).or_default();
        row.vip = v.label.clone();
        row.apps = v.owners.iter().cloned().collect();
        row.ports = v.ports.keys().map(VipPort::to_string).collect();
    }
    for (key, a) in &actual.vips {
        let row = out.entry(key.clone()).or_default();
        if row.vip.is_empty() {
            row.vip = a.label.clone();
        }
        row.address = a.address.clone();
        let mut ports: BTreeSet<String> = row.ports.iter().cloned().collect();
        for l in &a.listeners {
            if let Some(p) = listener_port.get(l.as_str()) {
                ports.insert(p.clone());
            }
        }
        row.ports = ports.into_iter().collect();
        for pool in a.pools.values() {
            let vip_port = listener_port
                .get(pool.listener.as_str())
                .cloned()
                .unwrap_or_default();
            for uuid in &pool.members {
                let Some(m) = member_by_uuid.get(uuid.as_str()) else {
                    continue;
                };
                let p = &m.loadbalancer_member_properties;
                row.members.push(VipMember {
                    task: task_of.get(uuid).cloned(),
                    address: p.address.clone().unwrap_or_default(),
                    port: p
                        .protocol_port
                        .and_then(|x| u16::try_from(x).ok())
                        .unwrap_or(0),
                    vip_port: vip_port.clone(),
                });
            }
        }
        row.members
            .sort_by(|x, y| (&x.vip_port, &x.address).cmp(&(&y.vip_port, &y.address)));
    }
    if let Some(domain) = dns_domain {
        add_records(&mut out, &actual, &steps, names, domain);
    }
    for step in &steps {
        let Some(row) = out.get_mut(step.key()) else {
            continue;
        };
        note_step(row, step, &listener_port, &member_by_uuid);
    }
    for r in &desired.refused {
        let row = out.entry(r.key.clone()).or_default();
        row.vip = r.label.clone();
        row.apps = r.owners.iter().cloned().collect();
        row.refused = Some(r.reason.clone());
    }
    out.into_iter()
        .map(|(key, mut row)| {
            row.name = key.to_string();
            if row.address.is_none()
                && let VipKey::Address(a) = &key
            {
                row.address = Some(a.to_string());
            }
            row
        })
        .collect()
}

/// Each named VIP's own record, and a row for a record whose VIP is gone (to show as extra).
fn add_records(
    out: &mut BTreeMap<VipKey, VipRow>,
    actual: &actual::Actual,
    steps: &[Step],
    names: &Names,
    domain: &str,
) {
    for r in &actual.records {
        out.entry(r.key.clone()).or_default();
    }
    for (key, row) in out.iter_mut() {
        let VipKey::Named(name) = key else { continue };
        let own = names.record_uuid(key);
        row.dns = Some(VipDns {
            name: format!("{name}.{domain}"),
            address: actual
                .records
                .iter()
                .find(|r| r.uuid == own)
                .and_then(|r| r.data.record_data.clone()),
            in_step: !steps.iter().any(|s| {
                s.key() == key
                    && matches!(
                        s,
                        Step::CreateRecord { .. }
                            | Step::UpdateRecord { .. }
                            | Step::DeleteRecord { .. }
                    )
            }),
        });
    }
}

/// What a step the manager would take says of its VIP: something missing or extra.
fn note_step(
    row: &mut VipRow,
    step: &Step,
    listener_port: &HashMap<&str, String>,
    member_by_uuid: &HashMap<&str, &LoadbalancerMember>,
) {
    match step {
        Step::CreateVip { .. } => row.missing.push("load balancer".into()),
        Step::CreateListener { port, .. } => row.missing.push(format!("listener {port}")),
        Step::CreatePool { port, .. } => row.missing.push(format!("pool {port}")),
        Step::CreateMember { port, member, .. } => row.missing.push(format!(
            "member {} {}:{} on {port}",
            member.task, member.backend.address, member.backend.port
        )),
        Step::DeleteVip { .. } => row
            .extra
            .push("load balancer (no task names this VIP)".into()),
        Step::DeleteListener { listener, .. } => row.extra.push(format!(
            "listener {}",
            listener_port
                .get(listener.as_str())
                .cloned()
                .unwrap_or_else(|| listener.clone())
        )),
        Step::CreateRecord { .. } => row.missing.push("DNS record".into()),
        Step::UpdateRecord { .. } => row.missing.push(format!(
            "DNS record with the address {}",
            row.address.as_deref().unwrap_or("of the VIP")
        )),
        Step::DeleteRecord { record, .. } => row.extra.push(format!("DNS record {record}")),
        Step::DeleteMember { member, keep, .. } => {
            // At the address of a task the master does not place yet: the manager keeps it.
            let kept = member_by_uuid
                .get(member.as_str())
                .and_then(|m| m.loadbalancer_member_properties.address.as_deref())
                .and_then(|a| a.parse().ok())
                .is_some_and(|a| keep.contains(&a));
            if !kept {
                row.extra.push(describe_member(member_by_uuid, member));
            }
        }
    }
}

fn describe_member(member_by_uuid: &HashMap<&str, &LoadbalancerMember>, uuid: &str) -> String {
    match member_by_uuid.get(uuid) {
        Some(m) => format!(
            "member {}:{}",
            m.loadbalancer_member_properties
                .address
                .as_deref()
                .unwrap_or("?"),
            m.loadbalancer_member_properties.protocol_port.unwrap_or(0)
        ),
        None => format!("member {uuid}"),
    }
}

/// The VIP table, under the task table.
pub fn table(rows: &[VipRow]) -> String {
    if rows.is_empty() {
        return "no VIPs\n".into();
    }
    // The DNS column only with dns_domain (some row has a record, or lacks one).
    let with_dns = rows.iter().any(|r| r.dns.is_some());
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let members: Vec<String> = r
                .members
                .iter()
                .map(|m| {
                    format!(
                        "{} {}:{}",
                        m.task.as_deref().unwrap_or("?"),
                        m.address,
                        m.port
                    )
                })
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let state = if let Some(why) = &r.refused {
                format!("refused: {why}")
            } else if r.missing.is_empty() && r.extra.is_empty() {
                "in step".to_string()
            } else {
                let mut parts = Vec::new();
                if !r.missing.is_empty() {
                    parts.push(format!("missing: {}", r.missing.join(", ")));
                }
                if !r.extra.is_empty() {
                    parts.push(format!("extra: {}", r.extra.join(", ")));
                }
                parts.join("; ")
            };
            let mut row = vec![
                cell(&r.name),
                cell(r.address.as_deref().unwrap_or_default()),
                cell(r.ports.join(",")),
                cell(r.apps.join(",")),
                cell(members.join(", ")),
                cell(state),
            ];
            if with_dns {
                row.insert(
                    2,
                    cell(match &r.dns {
                        Some(d) => match &d.address {
                            Some(a) => format!("{} -> {a}", d.name),
                            None => format!("{} (no record)", d.name),
                        },
                        None => String::new(),
                    }),
                );
            }
            row
        })
        .collect();
    let mut heads = vec!["VIP", "ADDRESS", "PORTS", "APPS/PODS", "MEMBERS", "STATE"];
    if with_dns {
        heads.insert(2, "DNS");
    }
    render(&heads, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contrail::{
        KeyValuePairs, ListenerProperties, LoadbalancerProperties, MemberProperties, Ref,
    };
    use crate::domain::fqname::FqName;
    use crate::domain::vip::desired::{DesiredVip, Member, Refused};
    use crate::domain::vip::label::Protocol;
    use crate::domain::vip::objects::Backend;

    fn names() -> Names {
        Names::new("mesos", &FqName::new(["d", "mesos-default"]).expect("fq"))
    }

    fn r(uuid: &str) -> Ref {
        Ref {
            uuid: uuid.into(),
            ..Ref::default()
        }
    }

    fn member(n: u8) -> Member {
        Member {
            backend: Backend {
                address: format!("5.5.5.{n}").parse().expect("ip"),
                port: 8080,
                vmi: format!("vmi{n}"),
                vm: format!("vm{n}"),
            },
            task: format!("web.{n}"),
        }
    }

    #[test]
    fn members_missing_extra_and_refused() {
        let n = names();
        let key = VipKey::Named("web.marathon".into());
        let p = VipPort {
            port: 80,
            protocol: Protocol::Tcp,
        };
        let mut desired = Desired::default();
        desired.vips.insert(
            key.clone(),
            DesiredVip {
                label: "/web".into(),
                owners: ["/web".to_string()].into(),
                ports: [(p, vec![member(3), member(4)])].into(),
                declared: true,
                ..DesiredVip::default()
            },
        );
        desired.refused.push(Refused {
            key: VipKey::Address("192.168.0.1".parse().expect("ip")),
            label: "192.168.0.1".into(),
            owners: ["/db".to_string()].into(),
            reason: "VIP 192.168.0.1 is outside service_subnets 10.96.0.0/12".into(),
        });
        let (listener, pool) = (n.listener_uuid(&key, p), n.pool_uuid(&key, p));
        let held = n.member_uuid(&key, p, &member(3).backend);
        let lists = Lists {
            lbs: vec![Loadbalancer {
                uuid: "lb".into(),
                annotations: KeyValuePairs::from_pairs(&[
                    ("owner", "mesos"),
                    ("cluster", "mesos"),
                    ("kind", "vip"),
                    ("vip", "/web"),
                    ("name", "web.marathon"),
                ]),
                loadbalancer_properties: LoadbalancerProperties {
                    vip_address: Some("10.96.0.3".into()),
                    ..LoadbalancerProperties::default()
                },
                loadbalancer_listener_back_refs: vec![r(&listener)],
                ..Loadbalancer::default()
            }],
            listeners: vec![LoadbalancerListener {
                uuid: listener.clone(),
                loadbalancer_listener_properties: ListenerProperties {
                    protocol: Some("TCP".into()),
                    protocol_port: Some(80),
                    ..ListenerProperties::default()
                },
                ..LoadbalancerListener::default()
            }],
            pools: vec![LoadbalancerPool {
                uuid: pool,
                loadbalancer_listener_refs: vec![r(&listener)],
                loadbalancer_members: vec![r(&held), r("stale")],
                ..LoadbalancerPool::default()
            }],
            members: vec![
                LoadbalancerMember {
                    uuid: held,
                    loadbalancer_member_properties: MemberProperties {
                        address: Some("5.5.5.3".into()),
                        protocol_port: Some(8080),
                        ..MemberProperties::default()
                    },
                    ..LoadbalancerMember::default()
                },
                LoadbalancerMember {
                    uuid: "stale".into(),
                    loadbalancer_member_properties: MemberProperties {
                        address: Some("5.5.5.9".into()),
                        protocol_port: Some(8080),
                        ..MemberProperties::default()
                    },
                    ..LoadbalancerMember::default()
                },
            ],
            records: Vec::new(),
        };
        let rows = rows(&desired, &lists, &n, "mesos", None);
        assert_eq!(rows.len(), 2);
        let refused = &rows[0];
        assert_eq!(refused.name, "192.168.0.1");
        assert!(
            refused
                .refused
                .as_deref()
                .is_some_and(|r| r.contains("outside"))
        );
        let web = &rows[1];
        assert_eq!(
            (web.name.as_str(), web.vip.as_str(), web.address.as_deref()),
            ("web.marathon", "/web", Some("10.96.0.3"))
        );
        assert_eq!(web.ports, ["80/tcp"]);
        assert_eq!(
            web.members[0],
            VipMember {
                task: Some("web.3".into()),
                address: "5.5.5.3".into(),
                port: 8080,
                vip_port: "80/tcp".into()
            }
        );
        assert_eq!(web.members[1].task, None, "nobody declares it");
        assert_eq!(web.missing, ["member web.4 5.5.5.4:8080 on 80/tcp"]);
        assert_eq!(web.extra, ["member 5.5.5.9:8080"]);
        let t = table(&rows);
        assert!(t.contains("refused: VIP 192.168.0.1 is outside"), "{t}");
        assert!(
            t.contains("missing: member web.4 5.5.5.4:8080 on 80/tcp; extra: member 5.5.5.9:8080"),
            "{t}"
        );
        assert!(t.contains("web.3 5.5.5.3:8080"), "{t}");
        assert!(!t.contains("DNS"), "no DNS column without dns_domain: {t}");
        assert_eq!(table(&[]), "no VIPs\n");
    }

    #[test]
    fn named_vips_show_their_records_and_whether_they_are_in_step() {
        use crate::domain::contrail::VirtualDnsRecord;
        let n = names().with_dns(FqName::new(["d", "mesos-dns"]).expect("fq"));
        let web = VipKey::Named("web.marathon".into());
        let db = VipKey::Named("db.marathon".into());
        let mut desired = Desired::default();
        for key in [&web, &db] {
            desired.vips.insert(
                key.clone(),
                DesiredVip {
                    label: format!("/{}", key.to_string().replace(".marathon", "")),
                    declared: true,
                    ..DesiredVip::default()
                },
            );
        }
        let marks = |key: &VipKey| {
            KeyValuePairs::from_pairs(&[
                ("owner", "mesos"),
                ("cluster", "mesos"),
                ("kind", "vip"),
                ("name", &key.to_string()),
            ])
        };
        let lb = |key: &VipKey, at: &str| Loadbalancer {
            uuid: n.lb_uuid(key),
            annotations: marks(key),
            loadbalancer_properties: LoadbalancerProperties {
                vip_address: Some(at.into()),
                ..LoadbalancerProperties::default()
            },
            ..Loadbalancer::default()
        };
        let record = |uuid: String, key: &VipKey, at: &str| VirtualDnsRecord {
            uuid,
            annotations: marks(key),
            data: n.record_data(key, at.parse().expect("ip")),
            ..VirtualDnsRecord::default()
        };
        let gone = VipKey::Named("old.marathon".into());
        let lists = Lists {
            lbs: vec![lb(&web, "10.96.0.3"), lb(&db, "10.96.0.4")],
            records: vec![
                record(n.record_uuid(&web), &web, "10.96.0.3"),
                // db's record holds an old address; old.marathon's VIP is gone.
                record(n.record_uuid(&db), &db, "10.96.0.9"),
                record(n.record_uuid(&gone), &gone, "10.96.0.7"),
            ],
            ..Lists::default()
        };
        let rows = rows(
            &desired,
            &lists,
            &n,
            "mesos",
            Some("l4lb.thisdcos.directory"),
        );
        let by = |name: &str| rows.iter().find(|r| r.name == name).expect(name);
        assert_eq!(
            by("web.marathon").dns,
            Some(VipDns {
                name: "web.marathon.l4lb.thisdcos.directory".into(),
                address: Some("10.96.0.3".into()),
                in_step: true,
            })
        );
        let db_row = by("db.marathon");
        assert_eq!(
            db_row
                .dns
                .as_ref()
                .map(|d| (d.address.as_deref(), d.in_step)),
            Some((Some("10.96.0.9"), false))
        );
        assert_eq!(db_row.missing, ["DNS record with the address 10.96.0.4"]);
        let old = by("old.marathon");
        assert_eq!(old.extra, [format!("DNS record {}", n.record_uuid(&gone))]);
        let t = table(&rows);
        assert!(
            t.contains("web.marathon.l4lb.thisdcos.directory -> 10.96.0.3"),
            "{t}"
        );
        assert!(t.lines().next().is_some_and(|h| h.contains("DNS")), "{t}");
    }
}
