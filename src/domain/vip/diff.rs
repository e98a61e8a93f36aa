//! Desired against actual: the steps that make Contrail hold the desired VIPs, in the order
//! the API server allows (upstream/lb-dns.md §1.4, §1.5). Pure.
//!
//! Objects are compared by their derived uuids ([`Names`]): a listener, pool or member with
//! the uuid the desired one would have is that one. Removals come first: whole VIPs no task
//! names any more, then within each VIP the members that went, then the listeners that went;
//! then what is missing, outermost first (VIP interface, instance IP, load balancer; listener,
//! pool; members).
//!
//! With a virtual-DNS ([`Names::dns`]), each named VIP has one record holding its address: a
//! record whose VIP goes (or that is not the VIP's one record) is removed before anything
//! else, so no name points at an address being given up; a missing or changed one is made or
//! put right last, once the VIP has its address.
//!
//! svc-monitor's native driver makes the floating IP under the VIP's instance IP and adds
//! each new member's interface and port map to it, but never takes one off and never moves a
//! port map (contract §5; `driver.py`: its delete handlers find the object already gone, and
//! `_add_port_map` keeps a map that exists), and adds an interface again only to a pool that
//! has not seen it (it updates its own cached copy of the floating IP). [`fip_fix`] says
//! what the manager changes on that floating IP so that it holds the VIP's current members'
//! interfaces and one port map per port that has members.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::actual::{Actual, ActualVip, DriverFip};
use super::desired::{Desired, DesiredVip, Member};
use super::label::{VipKey, VipPort};
use super::objects::Names;
use crate::domain::contrail::PortMap;

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Remove a whole VIP: each pool's members, the pools, the listeners, the load balancer,
    /// the floating IPs under its instance IPs, the instance IPs, the VIP interface.
    DeleteVip {
        key: VipKey,
        lb: String,
        vmi: Option<String>,
        /// (pool, its members)
        pools: Vec<(String, Vec<String>)>,
        listeners: Vec<String>,
    },
    /// Remove one member; with `keep`, only when its address is none of those (the executor
    /// reads it).
    DeleteMember {
        key: VipKey,
        member: String,
        keep: BTreeSet<IpAddr>,
    },
    /// Remove one listener with its pool and the pool's members.
    DeleteListener {
        key: VipKey,
        listener: String,
        pools: Vec<(String, Vec<String>)>,
    },
    /// Make the VIP interface, its instance IP and the load balancer.
    CreateVip { key: VipKey, label: String },
    /// Make a listener (and its pool).
    CreateListener {
        key: VipKey,
        label: String,
        port: VipPort,
    },
    /// Make the pool of an existing listener.
    CreatePool {
        key: VipKey,
        label: String,
        port: VipPort,
    },
    CreateMember {
        key: VipKey,
        port: VipPort,
        member: Member,
    },
    /// Make a named VIP's DNS record; `address` `None`: the one the VIP gets in this pass
    /// (its `CreateVip` comes first).
    CreateRecord {
        key: VipKey,
        label: String,
        address: Option<IpAddr>,
    },
    /// Write a record's data again (its address changed); `address` as for `CreateRecord`.
    UpdateRecord {
        key: VipKey,
        record: String,
        address: Option<IpAddr>,
    },
    /// Remove a record (its VIP went, or it is not the VIP's one record).
    DeleteRecord { key: VipKey, record: String },
}

impl Step {
    pub fn key(&self) -> &VipKey {
        match self {
            Step::DeleteVip { key, .. }
            | Step::DeleteMember { key, .. }
            | Step::DeleteListener { key, .. }
            | Step::CreateVip { key, .. }
            | Step::CreateListener { key, .. }
            | Step::CreatePool { key, .. }
            | Step::CreateMember { key, .. }
            | Step::CreateRecord { key, .. }
            | Step::UpdateRecord { key, .. }
            | Step::DeleteRecord { key, .. } => key,
        }
    }
}

fn pools_of(a: &ActualVip, listener: &str) -> Vec<(String, Vec<String>)> {
    a.pools
        .iter()
        .filter(|(_, p)| p.listener == listener)
        .map(|(u, p)| (u.clone(), p.members.iter().cloned().collect()))
        .collect()
}

/// The steps, in order.
pub fn diff(desired: &Desired, actual: &Actual, names: &Names) -> Vec<Step> {
    let (mut out, records) = record_steps(desired, actual, names);
    for (key, a) in &actual.vips {
        if desired.vips.contains_key(key) {
            continue;
        }
        out.push(Step::DeleteVip {
            key: key.clone(),
            lb: a.lb.clone(),
            vmi: a.vmi.clone(),
            pools: a
                .pools
                .iter()
                .map(|(u, p)| (u.clone(), p.members.iter().cloned().collect()))
                .collect(),
            listeners: a.listeners.iter().cloned().collect(),
        });
    }
    for (key, d) in &desired.vips {
        match actual.vips.get(key) {
            None if d.declared => create_all(&mut out, key, d, names),
            None => {}
            // Only tasks not placed yet name it: left as it is.
            Some(_) if !d.declared => {}
            Some(a) => update(&mut out, key, d, a, names),
        }
    }
    out.extend(records);
    out
}

/// The records' steps: (removals, made or put right). Only with a virtual-DNS. A named VIP
/// that Marathon declares has one record, `Names::record_uuid`, with the address its load
/// balancer holds (or gets in this pass); a record of a VIP only tasks not placed yet name is
/// left as it is; every other record of the cluster's VIPs goes.
fn record_steps(desired: &Desired, actual: &Actual, names: &Names) -> (Vec<Step>, Vec<Step>) {
    let (mut deletes, mut puts) = (Vec::new(), Vec::new());
    if names.dns.is_none() {
        return (deletes, puts);
    }
    let wanted = |key: &VipKey| match (key, desired.vips.get(key)) {
        (VipKey::Named(_), Some(d)) => Some(d),
        _ => None,
    };
    for r in &actual.records {
        let keep = match wanted(&r.key) {
            Some(d) if !d.declared => true,
            Some(_) => r.uuid == names.record_uuid(&r.key),
            None => false,
        };
        if !keep {
            deletes.push(Step::DeleteRecord {
                key: r.key.clone(),
                record: r.uuid.clone(),
            });
        }
    }
    for (key, d) in &desired.vips {
        if wanted(key).is_none() || !d.declared {
            continue;
        }
        // The address the load balancer holds; none when it is made in this pass.
        let address = actual
            .vips
            .get(key)
            .and_then(|a| a.address.as_deref())
            .and_then(|a| a.parse::<IpAddr>().ok());
        let uuid = names.record_uuid(key);
        match actual.records.iter().find(|r| r.uuid == uuid) {
            None => puts.push(Step::CreateRecord {
                key: key.clone(),
                label: d.label.clone(),
                address,
            }),
            Some(r) if address.is_some_and(|a| r.data == names.record_data(key, a)) => {}
            Some(_) => puts.push(Step::UpdateRecord {
                key: key.clone(),
                record: uuid,
                address,
            }),
        }
    }
    (deletes, puts)
}

fn create_members(out: &mut Vec<Step>, key: &VipKey, port: VipPort, members: &[Member]) {
    for m in members {
        out.push(Step::CreateMember {
            key: key.clone(),
            port,
            member: m.clone(),
        });
    }
}

fn create_all(out: &mut Vec<Step>, key: &VipKey, d: &DesiredVip, _names: &Names) {
    out.push(Step::CreateVip {
        key: key.clone(),
        label: d.label.clone(),
    });
    for (port, members) in &d.ports {
        out.push(Step::CreateListener {
            key: key.clone(),
            label: d.label.clone(),
            port: *port,
        });
        create_members(out, key, *port, members);
    }
}

fn update(out: &mut Vec<Step>, key: &VipKey, d: &DesiredVip, a: &ActualVip, names: &Names) {
    let listeners: BTreeMap<String, VipPort> = d
        .ports
        .keys()
        .map(|p| (names.listener_uuid(key, *p), *p))
        .collect();
    let mut creates = Vec::new();
    let mut deletes = Vec::new();
    for (port, members) in &d.ports {
        let listener = names.listener_uuid(key, *port);
        let pool = names.pool_uuid(key, *port);
        if !a.listeners.contains(&listener) {
            creates.push(Step::CreateListener {
                key: key.clone(),
                label: d.label.clone(),
                port: *port,
            });
            create_members(&mut creates, key, *port, members);
            continue;
        }
        let Some(have) = a.pools.get(&pool) else {
            creates.push(Step::CreatePool {
                key: key.clone(),
                label: d.label.clone(),
                port: *port,
            });
            create_members(&mut creates, key, *port, members);
            continue;
        };
        let want: BTreeMap<String, &Member> = members
            .iter()
            .map(|m| (names.member_uuid(key, *port, &m.backend), m))
            .collect();
        for (uuid, m) in &want {
            if !have.members.contains(uuid) {
                creates.push(Step::CreateMember {
                    key: key.clone(),
                    port: *port,
                    member: (*m).clone(),
                });
            }
        }
        for uuid in &have.members {
            if !want.contains_key(uuid) {
                deletes.push(Step::DeleteMember {
                    key: key.clone(),
                    member: uuid.clone(),
                    keep: d.keep.clone(),
                });
            }
        }
    }
    for l in &a.listeners {
        if !listeners.contains_key(l) {
            deletes.push(Step::DeleteListener {
                key: key.clone(),
                listener: l.clone(),
                pools: pools_of(a, l),
            });
        }
    }
    out.extend(deletes);
    out.extend(creates);
}

/// What to change on the driver's floating IP of a VIP.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FipFix {
    pub fip: String,
    /// The whole new port map list, when it changes.
    pub port_mappings: Option<Vec<PortMap>>,
    /// Interfaces of current members that are not on it.
    pub attach: Vec<String>,
    /// Interfaces on it that are no current member's.
    pub detach: Vec<String>,
}

/// What makes the driver's floating IP `fip` of a VIP match the desired VIP `d`, or `None`:
/// - interfaces: those of the members of every port; the others are taken off, except while
///   tasks not placed yet may hold members (`d.keep`), whose interfaces are not known;
/// - port maps: one per port that has members, to a port one of them listens on (a map that
///   already does stays, else the first member's port); a map of a port the VIP no longer
///   has goes, as does the map of a port left without members (unless `d.keep`).
pub fn fip_fix(d: &DesiredVip, fip: &DriverFip) -> Option<FipFix> {
    let careful = !d.keep.is_empty();
    let port_of = |m: &PortMap| {
        d.ports.keys().copied().find(|p| {
            i64::from(p.port) == m.src_port
                && p.protocol.as_contrail().eq_ignore_ascii_case(&m.protocol)
        })
    };
    let mut maps: Vec<PortMap> = Vec::new();
    let mut mapped: BTreeSet<VipPort> = BTreeSet::new();
    for m in &fip.port_mappings {
        let Some(p) = port_of(m) else { continue };
        if mapped.contains(&p) {
            continue;
        }
        let members = &d.ports[&p];
        let kept = match members.first() {
            None if careful => m.clone(),
            None => continue,
            Some(_)
                if members
                    .iter()
                    .any(|x| i64::from(x.backend.port) == m.dst_port) =>
            {
                m.clone()
            }
            Some(first) => PortMap {
                dst_port: i64::from(first.backend.port),
                ..m.clone()
            },
        };
        mapped.insert(p);
        maps.push(kept);
    }
    for (p, members) in &d.ports {
        if let (Some(first), false) = (members.first(), mapped.contains(p)) {
            maps.push(PortMap {
                protocol: p.protocol.as_contrail().to_string(),
                src_port: i64::from(p.port),
                dst_port: i64::from(first.backend.port),
            });
        }
    }
    let wanted: BTreeSet<&str> = d
        .ports
        .values()
        .flatten()
        .map(|m| m.backend.vmi.as_str())
        .collect();
    let fix = FipFix {
        fip: fip.uuid.clone(),
        port_mappings: (maps != fip.port_mappings).then_some(maps),
        attach: wanted
            .iter()
            .filter(|v| !fip.vmis.contains(**v))
            .map(|v| v.to_string())
            .collect(),
        detach: if careful {
            Vec::new()
        } else {
            fip.vmis
                .iter()
                .filter(|v| !wanted.contains(v.as_str()))
                .cloned()
                .collect()
        },
    };
    let unchanged = fix.port_mappings.is_none() && fix.attach.is_empty() && fix.detach.is_empty();
    (!unchanged).then_some(fix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::vip::actual::{ActualPool, ActualRecord};
    use crate::domain::vip::label::Protocol;
    use crate::domain::vip::objects::Backend;
    use crate::domain::vip::objects::test_names;

    fn web() -> VipKey {
        VipKey::Named("web.marathon".into())
    }

    const P80: VipPort = VipPort {
        port: 80,
        protocol: Protocol::Tcp,
    };
    const P81: VipPort = VipPort {
        port: 81,
        protocol: Protocol::Tcp,
    };

    fn member(ip: &str, port: u16, n: u8) -> Member {
        Member {
            backend: Backend {
                address: ip.parse().expect("ip"),
                port,
                vmi: format!("vmi{n}"),
                vm: format!("vm{n}"),
            },
            task: format!("web.{n}"),
        }
    }

    fn desired(ports: &[(VipPort, Vec<Member>)]) -> Desired {
        let mut d = Desired::default();
        d.vips.insert(
            web(),
            DesiredVip {
                label: "/web".into(),
                owners: ["/web".to_string()].into(),
                ports: ports.iter().cloned().collect(),
                declared: true,
                ..DesiredVip::default()
            },
        );
        d
    }

    /// What Contrail holds after `steps` ran from nothing (the executor's effect, by uuid).
    fn actual_for(d: &Desired) -> Actual {
        let n = test_names();
        let mut a = Actual::default();
        for (key, v) in &d.vips {
            let mut av = ActualVip {
                lb: n.lb_uuid(key),
                vmi: Some(n.vmi_uuid(key)),
                label: v.label.clone(),
                ..ActualVip::default()
            };
            for (p, members) in &v.ports {
                av.listeners.insert(n.listener_uuid(key, *p));
                av.pools.insert(
                    n.pool_uuid(key, *p),
                    ActualPool {
                        listener: n.listener_uuid(key, *p),
                        members: members
                            .iter()
                            .map(|m| n.member_uuid(key, *p, &m.backend))
                            .collect(),
                    },
                );
            }
            a.vips.insert(key.clone(), av);
        }
        a
    }

    fn kinds(steps: &[Step]) -> Vec<&'static str> {
        steps
            .iter()
            .map(|s| match s {
                Step::DeleteVip { .. } => "delete-vip",
                Step::DeleteMember { .. } => "delete-member",
                Step::DeleteListener { .. } => "delete-listener",
                Step::CreateVip { .. } => "create-vip",
                Step::CreateListener { .. } => "create-listener",
                Step::CreatePool { .. } => "create-pool",
                Step::CreateMember { .. } => "create-member",
                Step::CreateRecord { .. } => "create-record",
                Step::UpdateRecord { .. } => "update-record",
                Step::DeleteRecord { .. } => "delete-record",
            })
            .collect()
    }

    fn dns_names() -> Names {
        test_names().with_dns(
            crate::domain::fqname::FqName::new(["default-domain", "mesos-dns"]).expect("fq"),
        )
    }

    fn record(n: &Names, key: &VipKey, uuid: Option<String>, at: &str) -> ActualRecord {
        ActualRecord {
            uuid: uuid.unwrap_or_else(|| n.record_uuid(key)),
            key: key.clone(),
            data: n.record_data(key, at.parse().expect("ip")),
        }
    }

    #[test]
    fn a_named_vip_gets_its_record_last_and_loses_it_first() {
        let n = dns_names();
        let d = desired(&[(P80, vec![member("5.5.5.3", 8080, 1)])]);
        // A new VIP: the record after everything, with the address the pass learns.
        let steps = diff(&d, &Actual::default(), &n);
        assert_eq!(
            kinds(&steps),
            [
                "create-vip",
                "create-listener",
                "create-member",
                "create-record"
            ]
        );
        assert!(
            matches!(&steps[3], Step::CreateRecord { address: None, label, .. } if label == "/web")
        );
        assert_eq!(
            kinds(&diff(&d, &Actual::default(), &test_names())),
            ["create-vip", "create-listener", "create-member"],
            "no virtual-DNS, no record"
        );
        // Made: in step; a VIP whose record is missing gets it with the address it holds.
        let mut a = actual_for(&d);
        if let Some(v) = a.vips.get_mut(&web()) {
            v.address = Some("10.96.0.3".into());
        }
        let steps = diff(&d, &a, &n);
        assert!(
            matches!(steps.as_slice(), [Step::CreateRecord { address: Some(x), .. }] if x.to_string() == "10.96.0.3"),
            "{steps:?}"
        );
        a.records = vec![record(&n, &web(), None, "10.96.0.3")];
        assert!(diff(&d, &a, &n).is_empty(), "in step");
        // The address changed: written again.
        a.records = vec![record(&n, &web(), None, "10.96.0.9")];
        let steps = diff(&d, &a, &n);
        assert!(
            matches!(steps.as_slice(), [Step::UpdateRecord { address: Some(x), record, .. }]
                if x.to_string() == "10.96.0.3" && *record == n.record_uuid(&web())),
            "{steps:?}"
        );
        // The VIP goes: its record first, then the VIP.
        let steps = diff(&Desired::default(), &a, &n);
        assert_eq!(kinds(&steps), ["delete-record", "delete-vip"]);
    }

    #[test]
    fn stray_records_go_and_held_ones_stay() {
        let n = dns_names();
        let d = desired(&[(P80, vec![member("5.5.5.3", 8080, 1)])]);
        let mut a = actual_for(&d);
        if let Some(v) = a.vips.get_mut(&web()) {
            v.address = Some("10.96.0.3".into());
        }
        let gone = VipKey::Named("old.marathon".into());
        let ip = VipKey::Address("10.96.0.10".parse().expect("ip"));
        a.records = vec![
            record(&n, &web(), None, "10.96.0.3"),
            // A second record for web (another name, e.g. an older server's), one for a VIP no
            // task names, one for an address VIP (which has none).
            record(&n, &web(), Some("dup".into()), "10.96.0.3"),
            record(&n, &gone, None, "10.96.0.7"),
            record(&n, &ip, None, "10.96.0.10"),
        ];
        let steps = diff(&d, &a, &n);
        let deleted: Vec<&str> = steps
            .iter()
            .filter_map(|s| match s {
                Step::DeleteRecord { record, .. } => Some(record.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(deleted.len(), 3, "{deleted:?}");
        assert!(deleted.contains(&"dup") && !deleted.contains(&n.record_uuid(&web()).as_str()));
        // Only tasks not placed yet name it: its record stays, none is made.
        let mut held = desired(&[(P80, vec![])]);
        if let Some(v) = held.vips.get_mut(&web()) {
            v.declared = false;
            v.held = true;
        }
        a.records.truncate(1);
        assert!(diff(&held, &a, &n).is_empty());
        a.records.clear();
        assert!(diff(&held, &a, &n).is_empty());
    }

    #[test]
    fn a_new_vip_is_made_outside_in() {
        let d = desired(&[(
            P80,
            vec![member("5.5.5.3", 8080, 1), member("5.5.5.4", 8080, 2)],
        )]);
        let steps = diff(&d, &Actual::default(), &test_names());
        assert_eq!(
            kinds(&steps),
            [
                "create-vip",
                "create-listener",
                "create-member",
                "create-member"
            ]
        );
        assert!(
            diff(&d, &actual_for(&d), &test_names()).is_empty(),
            "in step: nothing to do"
        );
    }

    #[test]
    fn scaling_adds_and_removes_members_removals_first() {
        let before = desired(&[(
            P80,
            vec![member("5.5.5.3", 8080, 1), member("5.5.5.4", 8080, 2)],
        )]);
        let after = desired(&[(
            P80,
            vec![member("5.5.5.4", 8080, 2), member("5.5.5.5", 8080, 3)],
        )]);
        let steps = diff(&after, &actual_for(&before), &test_names());
        assert_eq!(kinds(&steps), ["delete-member", "create-member"]);
        let Step::DeleteMember { member: gone, .. } = &steps[0] else {
            panic!("{steps:?}")
        };
        assert_eq!(
            gone,
            &test_names().member_uuid(&web(), P80, &member("5.5.5.3", 8080, 1).backend)
        );
    }

    #[test]
    fn a_changed_container_port_replaces_every_member_and_a_changed_vip_port_the_listener() {
        let before = desired(&[(P80, vec![member("5.5.5.3", 8080, 1)])]);
        let after = desired(&[(P80, vec![member("5.5.5.3", 9090, 1)])]);
        assert_eq!(
            kinds(&diff(&after, &actual_for(&before), &test_names())),
            ["delete-member", "create-member"]
        );
        let moved = desired(&[(P81, vec![member("5.5.5.3", 8080, 1)])]);
        let steps = diff(&moved, &actual_for(&before), &test_names());
        assert_eq!(
            kinds(&steps),
            ["delete-listener", "create-listener", "create-member"]
        );
        let Step::DeleteListener { pools, .. } = &steps[0] else {
            panic!("{steps:?}")
        };
        assert_eq!(pools[0].1.len(), 1, "with its pool's member");
    }

    #[test]
    fn a_vip_no_task_names_goes_whole_and_a_held_one_stays() {
        let before = desired(&[(P80, vec![member("5.5.5.3", 8080, 1)])]);
        let steps = diff(&Desired::default(), &actual_for(&before), &test_names());
        assert_eq!(kinds(&steps), ["delete-vip"]);
        let Step::DeleteVip {
            pools,
            listeners,
            vmi,
            ..
        } = &steps[0]
        else {
            panic!("{steps:?}")
        };
        assert_eq!((pools.len(), listeners.len(), vmi.is_some()), (1, 1, true));
        let mut held = desired(&[(P80, vec![])]);
        if let Some(v) = held.vips.get_mut(&web()) {
            v.declared = false;
            v.held = true;
        }
        assert!(diff(&held, &actual_for(&before), &test_names()).is_empty());
        assert!(
            diff(&held, &Actual::default(), &test_names()).is_empty(),
            "never made"
        );
    }

    #[test]
    fn keep_addresses_ride_on_member_removals_and_missing_pools_are_remade() {
        let before = desired(&[(P80, vec![member("5.5.5.3", 8080, 1)])]);
        let mut after = desired(&[(P80, vec![])]);
        if let Some(v) = after.vips.get_mut(&web()) {
            v.keep.insert("5.5.5.3".parse().expect("ip"));
        }
        let steps = diff(&after, &actual_for(&before), &test_names());
        let [Step::DeleteMember { keep, .. }] = steps.as_slice() else {
            panic!("{steps:?}")
        };
        assert_eq!(keep.len(), 1);
        let mut no_pool = actual_for(&before);
        if let Some(v) = no_pool.vips.get_mut(&web()) {
            v.pools.clear();
        }
        assert_eq!(
            kinds(&diff(&before, &no_pool, &test_names())),
            ["create-pool", "create-member"]
        );
    }

    fn pm(protocol: &str, src: i64, dst: i64) -> PortMap {
        PortMap {
            protocol: protocol.into(),
            src_port: src,
            dst_port: dst,
        }
    }

    fn driver_fip(vmis: &[&str], maps: Vec<PortMap>) -> DriverFip {
        DriverFip {
            uuid: "fip".into(),
            vmis: vmis.iter().map(|s| s.to_string()).collect(),
            port_mappings: maps,
        }
    }

    #[test]
    fn a_floating_ip_in_step_is_left_alone() {
        let d = desired(&[
            (
                P80,
                vec![member("5.5.5.3", 8080, 1), member("5.5.5.4", 8080, 2)],
            ),
            (P81, vec![member("5.5.5.3", 8081, 1)]),
        ]);
        let v = &d.vips[&web()];
        let fip = driver_fip(
            &["vmi1", "vmi2"],
            vec![pm("TCP", 80, 8080), pm("TCP", 81, 8081)],
        );
        assert_eq!(fip_fix(v, &fip), None);
    }

    #[test]
    fn a_dropped_port_loses_its_map_and_a_gone_member_its_interface() {
        let d = desired(&[(P80, vec![member("5.5.5.3", 8080, 1)])]);
        let v = &d.vips[&web()];
        // 81 was dropped; task 2 is no member any more.
        let fip = driver_fip(
            &["vmi1", "vmi2"],
            vec![pm("TCP", 80, 8080), pm("TCP", 81, 8081)],
        );
        assert_eq!(
            fip_fix(v, &fip),
            Some(FipFix {
                fip: "fip".into(),
                port_mappings: Some(vec![pm("TCP", 80, 8080)]),
                attach: vec![],
                detach: vec!["vmi2".into()],
            })
        );
        // The same port over UDP is another port.
        let fip = driver_fip(&["vmi1"], vec![pm("UDP", 80, 8080), pm("tcp", 80, 8080)]);
        assert_eq!(
            fip_fix(v, &fip).and_then(|f| f.port_mappings),
            Some(vec![pm("tcp", 80, 8080)])
        );
    }

    #[test]
    fn a_changed_container_port_moves_the_map_and_a_member_back_is_put_back() {
        let d = desired(&[(P80, vec![member("5.5.5.3", 9090, 1)])]);
        let v = &d.vips[&web()];
        let fip = driver_fip(&[], vec![pm("TCP", 80, 8080), pm("TCP", 80, 9090)]);
        assert_eq!(
            fip_fix(v, &fip),
            Some(FipFix {
                fip: "fip".into(),
                port_mappings: Some(vec![pm("TCP", 80, 9090)]),
                attach: vec!["vmi1".into()],
                detach: vec![],
            }),
            "one map per port, to a port a member listens on"
        );
        // A port with members and no map gets one; a port left without members loses its.
        let d = desired(&[
            (P80, vec![]),
            (
                P81,
                vec![member("5.5.5.3", 8081, 1), member("5.5.5.4", 8082, 2)],
            ),
        ]);
        let fip = driver_fip(&["vmi1", "vmi2"], vec![pm("TCP", 80, 8080)]);
        assert_eq!(
            fip_fix(&d.vips[&web()], &fip).and_then(|f| f.port_mappings),
            Some(vec![pm("TCP", 81, 8081)])
        );
        // Members on different ports: the map to one of them stays.
        let fip = driver_fip(&["vmi1", "vmi2"], vec![pm("TCP", 81, 8082)]);
        assert_eq!(fip_fix(&d.vips[&web()], &fip), None);
    }

    #[test]
    fn tasks_not_placed_yet_keep_interfaces_and_maps() {
        let mut d = desired(&[(P80, vec![]), (P81, vec![member("5.5.5.3", 8081, 1)])]);
        if let Some(v) = d.vips.get_mut(&web()) {
            v.keep.insert("5.5.5.9".parse().expect("ip"));
        }
        let fip = driver_fip(
            &["vmi1", "vmi9"],
            vec![pm("TCP", 80, 8080), pm("TCP", 81, 8081), pm("TCP", 99, 99)],
        );
        assert_eq!(
            fip_fix(&d.vips[&web()], &fip),
            Some(FipFix {
                fip: "fip".into(),
                port_mappings: Some(vec![pm("TCP", 80, 8080), pm("TCP", 81, 8081)]),
                attach: vec![],
                detach: vec![],
            }),
            "a port the VIP no longer has still goes"
        );
    }
}
