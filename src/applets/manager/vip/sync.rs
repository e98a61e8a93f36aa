//! One VIP pass: read Marathon, the master and Contrail, compute, change what differs.
//!
//! Contrail is read with three detail lists (load balancers with their listeners' back-refs,
//! pools with their members, container VMs with their interfaces), plus one list of instance
//! IPs when a task's VM has several interfaces, plus, with `dns_domain`, one list of DNS
//! records (the named VIPs' records); a pass with nothing to change makes no other call. Marathon, the master or Contrail unreadable or malformed: the pass changes nothing.
//!
//! After its steps, a pass reads the floating IPs svc-monitor's native driver put under the
//! instance IPs of the VIPs it changed (of every VIP on a sweep) in one more list, and makes
//! each hold the VIP's current members' interfaces and one port map per port with members
//! ([`diff::fip_fix`]): the driver takes nothing off and never moves a map.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::applets::manager::metrics;
use crate::applets::manager::service::Service;
use crate::clients::contrail::config_api::{ApiError, ListQuery, RefOp};
use crate::clients::marathon::Marathon;
use crate::clients::mesos::MesosMaster;
use crate::domain::contrail::{
    FloatingIp, InstanceIp, Loadbalancer, LoadbalancerMember, LoadbalancerPool, PortMappings, Ref,
    Resource, VirtualDnsRecord, VirtualMachine, VirtualMachineInterface, VirtualNetwork,
};
use crate::domain::fqname::FqName;
use crate::domain::marathon::Snapshot;
use crate::domain::mesos::MasterState;
use crate::domain::vip::actual::{self, Actual};
use crate::domain::vip::desired::task_interfaces;
use crate::domain::vip::desired::{self, Desired, Interfaces, Refused};
use crate::domain::vip::diff::{self, Step};
use crate::domain::vip::label::VipKey;
use crate::domain::vip::objects::{self, Names};

/// Where the pass reads what runs.
pub struct Sources {
    pub marathon: Marathon,
    pub master: MesosMaster,
}

impl Sources {
    pub fn new(marathon_url: &str, master_url: &str, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Sources {
            marathon: Marathon::new(marathon_url, timeout)?,
            master: MesosMaster::new(master_url, timeout)?,
        })
    }
}

/// Why a pass changed nothing.
#[derive(Debug)]
pub enum SyncError {
    Marathon(anyhow::Error),
    Master(anyhow::Error),
    Contrail(ApiError),
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncError::Marathon(e) => write!(f, "VIPs: cannot read Marathon: {e:#}"),
            SyncError::Master(e) => write!(f, "VIPs: cannot read the Mesos master: {e:#}"),
            SyncError::Contrail(e) => write!(f, "VIPs: cannot read Contrail's load balancers: {e}"),
        }
    }
}

impl std::error::Error for SyncError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SyncError::Marathon(e) | SyncError::Master(e) => Some(e.as_ref()),
            SyncError::Contrail(e) => Some(e),
        }
    }
}

/// What one pass saw and did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// VIPs and members of this cluster in Contrail after the pass.
    pub vips: usize,
    pub members: usize,
    pub created: usize,
    pub deleted: usize,
    pub refused: Vec<Refused>,
    pub warnings: Vec<String>,
    /// Changes that failed, as sentences.
    pub failed: Vec<String>,
    /// VIP interfaces left without a load balancer that the pass removed (when asked to look).
    pub swept: usize,
    /// svc-monitor's floating IPs of VIPs the pass corrected (interfaces, port maps).
    pub fips_fixed: usize,
    /// The named VIPs' DNS records of this cluster after the pass (`dns_domain`).
    pub records: usize,
    /// Config API calls the pass made.
    pub calls: u64,
    pub took: Duration,
}

/// What a pass reads.
pub struct View {
    pub snapshot: Snapshot,
    pub master: MasterState,
    pub lbs: Vec<Loadbalancer>,
    pub pools: Vec<LoadbalancerPool>,
    pub interfaces: Interfaces,
    /// Every DNS record (read only with `dns_domain`).
    pub records: Vec<VirtualDnsRecord>,
}

fn joined<T, E>(h: std::thread::ScopedJoinHandle<'_, Result<T, E>>, panic: E) -> Result<T, E> {
    h.join().unwrap_or(Err(panic))
}

/// Read Marathon, the master and Contrail, in parallel.
pub fn read(svc: &Service, src: &Sources) -> Result<View, SyncError> {
    let panicked = || {
        ApiError::new(
            crate::clients::contrail::config_api::ApiErrorKind::Server,
            None,
            "a reader thread panicked",
        )
    };
    let (snapshot, state, lbs, pools, vms, records) = std::thread::scope(|s| {
        let snapshot = s.spawn(|| src.marathon.snapshot());
        let state = s.spawn(|| src.master.state());
        let lbs = s.spawn(|| {
            svc.api
                .list_as::<Loadbalancer>(&ListQuery::detail(actual::LB_FIELDS))
        });
        let pools = s.spawn(|| {
            svc.api
                .list_as::<LoadbalancerPool>(&ListQuery::detail(actual::POOL_FIELDS))
        });
        let vms = s.spawn(|| {
            svc.api.list_as::<VirtualMachine>(&ListQuery::detail(&[
                "fq_name",
                "server_type",
                "annotations",
                "virtual_machine_interface_back_refs",
            ]))
        });
        let records = s.spawn(|| match svc.settings.dns_domain {
            Some(_) => svc
                .api
                .list_as::<VirtualDnsRecord>(&ListQuery::detail(actual::RECORD_FIELDS)),
            None => Ok(Vec::new()),
        });
        (
            joined(snapshot, anyhow::anyhow!("the Marathon reader panicked")),
            joined(state, anyhow::anyhow!("the master reader panicked")),
            joined(lbs, panicked()),
            joined(pools, panicked()),
            joined(vms, panicked()),
            joined(records, panicked()),
        )
    });
    let snapshot = snapshot.map_err(SyncError::Marathon)?;
    let master = state.map_err(SyncError::Master)?;
    let lbs = lbs.map_err(SyncError::Contrail)?;
    let pools = pools.map_err(SyncError::Contrail)?;
    let records = records.map_err(SyncError::Contrail)?;
    let mut interfaces = task_interfaces(
        &vms.map_err(SyncError::Contrail)?,
        &svc.settings.cluster_name,
    );
    // A VM with several interfaces: read their addresses to pick the task's.
    let ambiguous = desired::ambiguous_containers(&master, &interfaces);
    if !ambiguous.is_empty() {
        let vmis: Vec<String> = ambiguous
            .iter()
            .filter_map(|c| interfaces.get(c))
            .flat_map(|vm| vm.ifaces.iter().map(|i| i.uuid.clone()))
            .collect();
        let mut by_vmi: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
        for chunk in vmis.chunks(100) {
            let q = ListQuery {
                back_ref_id: chunk.to_vec(),
                ..ListQuery::detail(&["instance_ip_address", "virtual_machine_interface_refs"])
            };
            for iip in svc
                .api
                .list_as::<InstanceIp>(&q)
                .map_err(SyncError::Contrail)?
            {
                let Some(a) = iip
                    .instance_ip_address
                    .as_deref()
                    .and_then(|a| a.parse().ok())
                else {
                    continue;
                };
                for r in &iip.virtual_machine_interface_refs {
                    by_vmi.entry(r.uuid.clone()).or_default().push(a);
                }
            }
        }
        for c in &ambiguous {
            if let Some(vm) = interfaces.get_mut(c) {
                for i in &mut vm.ifaces {
                    i.addresses = by_vmi.get(&i.uuid).cloned().unwrap_or_default();
                }
            }
        }
    }
    Ok(View {
        snapshot,
        master,
        lbs,
        pools,
        interfaces,
        records,
    })
}

/// The desired VIPs, what Contrail holds, and the steps between them.
pub fn plan(view: &View, svc: &Service) -> (Desired, Actual, Vec<Step>) {
    let s = &svc.settings;
    let desired = desired::compute(&desired::Inputs {
        apps: &view.snapshot.apps,
        pods: &view.snapshot.pods,
        master: &view.master,
        interfaces: &view.interfaces,
        service_subnets: &s.service_subnets,
    });
    let mut actual = actual::from_lists(&view.lbs, &view.pools, &s.cluster_name);
    actual.records = actual::records_of(&view.records, &s.cluster_name);
    let names = Names::of(s);
    let steps = diff::diff(&desired, &actual, &names);
    (desired, actual, steps)
}

/// One pass; with `sweep`, also look for VIP interfaces left without a load balancer (one more
/// list call).
pub fn run_once(svc: &Service, src: &Sources, sweep: bool) -> Result<Report, SyncError> {
    let started = Instant::now();
    let calls = svc.api.calls();
    svc.metrics.inc(metrics::VIP_SYNC_RUNS, 1);
    let view = read(svc, src).inspect_err(|_| svc.metrics.inc(metrics::VIP_SYNC_ERRORS, 1))?;
    let (desired, actual, steps) = plan(&view, svc);
    let mut report = Report {
        vips: actual.vips.len(),
        members: actual.vips.values().map(|v| v.member_count()).sum(),
        records: actual.records.len(),
        refused: desired.refused.clone(),
        warnings: desired.warnings.clone(),
        ..Report::default()
    };
    let mut ex = Executor::new(svc);
    let mut failed_vips: BTreeSet<VipKey> = BTreeSet::new();
    for step in &steps {
        if failed_vips.contains(step.key()) {
            continue;
        }
        match ex.run(step) {
            Ok(()) => {}
            Err(e) => {
                failed_vips.insert(step.key().clone());
                report.failed.push(format!("VIP {}: {e}", step.key()));
            }
        }
    }
    // The driver's floating IPs: of the VIPs changed now, or of all on a sweep.
    let check: Vec<&VipKey> = desired
        .vips
        .iter()
        .filter(|(k, d)| d.declared && !failed_vips.contains(*k))
        .filter(|(k, _)| sweep || steps.iter().any(|s| s.key() == *k))
        .map(|(k, _)| k)
        .collect();
    match ex.fix_driver_fips(&desired, &check) {
        Ok(n) => report.fips_fixed = n,
        Err(e) => report.failed.push(format!("VIPs: {e}")),
    }
    if sweep {
        match self::sweep(svc, &desired, &actual) {
            Ok(n) => report.swept = n,
            Err(e) => report.failed.push(format!("VIPs: {e}")),
        }
    }
    report.created = ex.created;
    report.deleted = ex.deleted;
    report.vips = (report.vips + ex.vips_made).saturating_sub(ex.vips_removed);
    report.members = (report.members + ex.members_made).saturating_sub(ex.members_removed);
    report.records = (report.records + ex.records_made).saturating_sub(ex.records_removed);
    svc.metrics
        .inc(metrics::VIP_SYNC_ERRORS, report.failed.len() as u64);
    svc.metrics.set_gauge(metrics::VIPS, report.vips as f64);
    svc.metrics
        .set_gauge(metrics::VIP_MEMBERS, report.members as f64);
    svc.metrics
        .set_gauge(metrics::VIPS_REFUSED, report.refused.len() as f64);
    svc.metrics
        .set_gauge(metrics::VIP_DNS_RECORDS, report.records as f64);
    svc.set_vips_seen(report.vips > 0 || !desired.vips.is_empty());
    report.took = started.elapsed();
    svc.metrics.observe(metrics::VIP_SYNC_SECONDS, report.took);
    report.calls = svc.api.calls() - calls;
    Ok(report)
}

/// A failed change: what was being done, and the config API's answer.
#[derive(Debug)]
pub struct StepError {
    pub what: String,
    pub cause: ApiError,
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.cause)
    }
}

impl std::error::Error for StepError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

fn ctx<T>(r: Result<T, ApiError>, what: impl FnOnce() -> String) -> Result<T, StepError> {
    r.map_err(|cause| StepError {
        what: what(),
        cause,
    })
}

/// Runs steps against the config API.
struct Executor<'a> {
    svc: &'a Service,
    names: Names,
    /// The service network: fq-name, uuid, its IPAM links.
    network: Option<(FqName, String, Vec<Ref>)>,
    created: usize,
    deleted: usize,
    vips_made: usize,
    vips_removed: usize,
    members_made: usize,
    members_removed: usize,
    records_made: usize,
    records_removed: usize,
    /// The addresses of the VIPs made in this pass (for their records).
    addresses: BTreeMap<VipKey, IpAddr>,
}

impl<'a> Executor<'a> {
    fn new(svc: &'a Service) -> Self {
        Executor {
            svc,
            names: Names::of(&svc.settings),
            network: None,
            created: 0,
            deleted: 0,
            vips_made: 0,
            vips_removed: 0,
            members_made: 0,
            members_removed: 0,
            records_made: 0,
            records_removed: 0,
            addresses: BTreeMap::new(),
        }
    }

    /// Make `obj` (or find it made): its uuid, and whether this pass made it.
    fn ensure<T: Resource>(&mut self, obj: &T) -> Result<(String, bool), StepError> {
        let ty = T::TYPE;
        let fq = obj.fq_name().join(":");
        let (uuid, created) = ctx(self.svc.api.ensure(obj), || format!("creating {ty} {fq}"))?;
        if created {
            self.svc.metrics.created(ty);
            self.created += 1;
            log::debug!("created {ty} {fq} ({uuid})");
        }
        Ok((uuid, created))
    }

    fn delete(&mut self, ty: &str, uuid: &str) -> Result<bool, StepError> {
        let gone = ctx(self.svc.api.delete(ty, uuid), || {
            format!("deleting {ty} {uuid}")
        })?;
        if gone {
            self.svc.metrics.deleted(ty);
            self.deleted += 1;
        }
        Ok(gone)
    }

    fn service_network(&mut self) -> Result<(FqName, String, Vec<Ref>), StepError> {
        if let Some(n) = &self.network {
            return Ok(n.clone());
        }
        let fq = self.svc.settings.service_network();
        let uuid = ctx(self.svc.api.require_id("virtual-network", &fq), || {
            format!("looking up the service network {fq}")
        })?;
        let vn = ctx(
            self.svc
                .api
                .read_as::<VirtualNetwork>(&uuid, &["network_ipam_refs"]),
            || format!("reading the service network {fq}"),
        )?;
        let n = (fq, uuid, vn.network_ipam_refs);
        self.network = Some(n.clone());
        Ok(n)
    }

    fn run(&mut self, step: &Step) -> Result<(), StepError> {
        let n = self.names.clone();
        match step {
            Step::CreateVip { key, label } => self.create_vip(&n, key, label)?,
            Step::CreateListener { key, label, port } => {
                self.ensure(&n.listener(key, label, *port))?;
                self.ensure(&n.pool(key, label, *port))?;
            }
            Step::CreatePool { key, label, port } => {
                self.ensure(&n.pool(key, label, *port))?;
            }
            Step::CreateMember { key, port, member } => {
                self.ensure(&n.member(key, *port, &member.backend))?;
                self.members_made += 1;
                log::info!(
                    "VIP {key} {port}: member {} {}:{}",
                    member.task,
                    member.backend.address,
                    member.backend.port
                );
            }
            Step::DeleteMember { key, member, keep } => {
                if !keep.is_empty() {
                    let m = ctx(
                        self.svc.api.read_opt_as::<LoadbalancerMember>(
                            member,
                            &["loadbalancer_member_properties"],
                        ),
                        || format!("reading loadbalancer-member {member}"),
                    )?;
                    let at = m
                        .as_ref()
                        .and_then(|m| m.loadbalancer_member_properties.address.as_deref())
                        .and_then(|a| a.parse::<IpAddr>().ok());
                    if at.is_some_and(|a| keep.contains(&a)) {
                        return Ok(());
                    }
                }
                if self.delete("loadbalancer-member", member)? {
                    self.members_removed += 1;
                    log::info!("VIP {key}: member {member} removed");
                }
            }
            Step::DeleteListener {
                key,
                listener,
                pools,
            } => {
                for (pool, members) in pools {
                    self.delete_pool(pool, members)?;
                }
                self.delete("loadbalancer-listener", listener)?;
                log::info!("VIP {key}: listener {listener} removed");
            }
            Step::CreateRecord {
                key,
                label,
                address,
            } => self.create_record(&n, key, label, *address)?,
            Step::UpdateRecord {
                key,
                record,
                address,
            } => self.update_record(&n, key, record, *address)?,
            Step::DeleteRecord { key, record } => {
                if self.delete("virtual-DNS-record", record)? {
                    self.records_removed += 1;
                    log::info!("VIP {key}: DNS record {record} removed");
                }
            }
            Step::DeleteVip {
                key,
                lb,
                vmi,
                pools,
                listeners,
            } => {
                for (pool, members) in pools {
                    self.delete_pool(pool, members)?;
                }
                for l in listeners {
                    self.delete("loadbalancer-listener", l)?;
                }
                self.delete("loadbalancer", lb)?;
                let vmi = vmi.clone().unwrap_or_else(|| n.vmi_uuid(key));
                self.delete_vip_interface(&vmi)?;
                self.vips_removed += 1;
                log::info!("VIP {key}: no task names it any more; removed");
            }
        }
        Ok(())
    }

    /// A VIP's interface and instance IP in the service network, then its load balancer.
    fn create_vip(&mut self, n: &Names, key: &VipKey, label: &str) -> Result<(), StepError> {
        let (net, net_uuid, links) = self.service_network()?;
        self.ensure(&n.vmi(key, label, &net, &net_uuid))?;
        let family = match self.svc.settings.service_subnets.first() {
            Some(s) if s.addr().is_ipv6() => "v6",
            _ => "v4",
        };
        let ipam = self.svc.settings.service_ipam();
        let subnet = objects::service_subnet_uuid(&links, &ipam, key, family);
        if subnet.is_none() {
            log::warn!(
                "VIP {key}: the service network {net} has no {family} subnet on {ipam}; \
                 its instance IP is made without subnet_uuid"
            );
        }
        let (iip, _) =
            self.ensure(&n.iip(key, label, &net, &net_uuid, family, subnet.as_deref()))?;
        let address = match key {
            VipKey::Address(a) => a.to_string(),
            VipKey::Named(_) => {
                let read = ctx(
                    self.svc
                        .api
                        .read_as::<InstanceIp>(&iip, &["instance_ip_address"]),
                    || format!("reading instance-ip {iip}"),
                )?;
                read.instance_ip_address.ok_or_else(|| StepError {
                    what: format!("instance-ip {iip} in {net}"),
                    cause: ApiError::new(
                        crate::clients::contrail::config_api::ApiErrorKind::Server,
                        None,
                        "the service network gave the VIP no address",
                    ),
                })?
            }
        };
        let sas = ctx(
            self.svc
                .uuid_of("service-appliance-set", &objects::native_sas()),
            || "looking up the native service-appliance-set".to_string(),
        )?;
        self.ensure(&n.lb(key, label, &address, sas.as_deref()))?;
        if let Ok(a) = address.parse() {
            self.addresses.insert(key.clone(), a);
        }
        self.vips_made += 1;
        log::info!("VIP {key} ({label}) at {address}: load balancer made");
        Ok(())
    }

    /// A named VIP's DNS record, with its address.
    fn create_record(
        &mut self,
        n: &Names,
        key: &VipKey,
        label: &str,
        address: Option<IpAddr>,
    ) -> Result<(), StepError> {
        let at = self.address(key, address)?;
        let Some(record) = n.record(key, label, at) else {
            return Ok(());
        };
        if self.ensure(&record)?.1 {
            self.records_made += 1;
            log::info!("VIP {key}: DNS record {key} -> {at}");
        }
        Ok(())
    }

    /// A named VIP's DNS record put back to its address.
    fn update_record(
        &mut self,
        n: &Names,
        key: &VipKey,
        record: &str,
        address: Option<IpAddr>,
    ) -> Result<(), StepError> {
        let at = self.address(key, address)?;
        // The whole record data: upstream's update hook reads every key of it.
        let data = VirtualDnsRecord {
            data: n.record_data(key, at),
            ..VirtualDnsRecord::default()
        };
        match self.svc.api.update(record, &data) {
            Ok(()) => log::info!("VIP {key}: DNS record {key} -> {at} (updated)"),
            // Gone meanwhile: made again next pass.
            Err(e) if e.is_not_found() => {}
            Err(cause) => {
                return Err(StepError {
                    what: format!("updating the DNS record {record} of VIP {key}"),
                    cause,
                });
            }
        }
        Ok(())
    }

    /// The address of a VIP for its record: given, or the one it got in this pass.
    fn address(&self, key: &VipKey, given: Option<IpAddr>) -> Result<IpAddr, StepError> {
        given
            .or_else(|| self.addresses.get(key).copied())
            .ok_or_else(|| StepError {
                what: format!("the DNS record of VIP {key}"),
                cause: ApiError::new(
                    crate::clients::contrail::config_api::ApiErrorKind::Server,
                    None,
                    "its load balancer holds no address",
                ),
            })
    }

    /// Correct the driver's floating IPs of these VIPs (one list for all). Returns how many
    /// changed.
    fn fix_driver_fips(&mut self, desired: &Desired, keys: &[&VipKey]) -> Result<usize, StepError> {
        let by_iip: BTreeMap<String, &VipKey> =
            keys.iter().map(|k| (self.names.iip_uuid(k), *k)).collect();
        let parents: Vec<String> = by_iip.keys().cloned().collect();
        let mut fips = Vec::new();
        for chunk in parents.chunks(100) {
            let q = ListQuery {
                parent_id: chunk.to_vec(),
                ..ListQuery::detail(actual::FIP_FIELDS)
            };
            fips.extend(ctx(self.svc.api.list_as::<FloatingIp>(&q), || {
                "listing svc-monitor's floating IPs of the VIPs".to_string()
            })?);
        }
        let mut fixed = 0;
        for (iip, list) in actual::driver_fips(&fips) {
            let Some((key, d)) = by_iip
                .get(&iip)
                .and_then(|k| desired.vips.get(*k).map(|d| (*k, d)))
            else {
                continue;
            };
            for fip in &list {
                if let Some(fix) = diff::fip_fix(d, fip) {
                    self.fix_fip(key, &fix)?;
                    fixed += 1;
                }
            }
        }
        Ok(fixed)
    }

    /// Port maps first (an interface put on carries traffic at once), then the interfaces.
    /// Gone (the floating IP, or an interface torn down meanwhile) is fine.
    fn fix_fip(&mut self, key: &VipKey, fix: &diff::FipFix) -> Result<(), StepError> {
        let gone_ok = |r: Result<(), ApiError>| match r {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        };
        let f = &fix.fip;
        if let Some(maps) = &fix.port_mappings {
            let change = FloatingIp {
                floating_ip_port_mappings: Some(PortMappings {
                    port_mappings: maps.clone(),
                }),
                floating_ip_port_mappings_enable: Some(!maps.is_empty()),
                ..FloatingIp::default()
            };
            ctx(gone_ok(self.svc.api.update(f, &change)), || {
                format!("setting the port maps of floating-ip {f}")
            })?;
        }
        for (vmis, op, what) in [
            (&fix.attach, RefOp::Add, "putting"),
            (&fix.detach, RefOp::Delete, "taking"),
        ] {
            for v in vmis {
                let r = self.svc.api.ref_update(
                    "floating-ip",
                    f,
                    "virtual-machine-interface",
                    v,
                    op,
                    None,
                );
                ctx(gone_ok(r), || {
                    format!("{what} interface {v} on/off floating-ip {f}")
                })?;
            }
        }
        let maps: Vec<String> = fix
            .port_mappings
            .iter()
            .flatten()
            .map(|m| format!("{}/{}->{}", m.src_port, m.protocol, m.dst_port))
            .collect();
        log::info!(
            "VIP {key}: svc-monitor's floating-ip {f}: port maps {}, interfaces put on {:?}, \
             taken off {:?}",
            if fix.port_mappings.is_some() {
                format!("[{}]", maps.join(", "))
            } else {
                "unchanged".to_string()
            },
            fix.attach,
            fix.detach
        );
        Ok(())
    }

    fn delete_pool(&mut self, pool: &str, members: &[String]) -> Result<(), StepError> {
        for m in members {
            if self.delete("loadbalancer-member", m)? {
                self.members_removed += 1;
            }
        }
        self.delete("loadbalancer-pool", pool)?;
        Ok(())
    }

    /// The VIP interface and what holds its address: floating IPs on it are taken off (an
    /// operator's), floating IPs under its instance IPs deleted (svc-monitor's, if it has not
    /// yet), then the instance IPs and the interface.
    fn delete_vip_interface(&mut self, vmi: &str) -> Result<(), StepError> {
        let Some(v) = ctx(
            self.svc.api.read_opt_as::<VirtualMachineInterface>(
                vmi,
                &["instance_ip_back_refs", "floating_ip_back_refs"],
            ),
            || format!("reading virtual-machine-interface {vmi}"),
        )?
        else {
            return Ok(());
        };
        for f in &v.floating_ip_back_refs {
            let r = self.svc.api.ref_update(
                "floating-ip",
                &f.uuid,
                "virtual-machine-interface",
                vmi,
                RefOp::Delete,
                None,
            );
            match r {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(cause) => {
                    return Err(StepError {
                        what: format!("taking floating-ip {} off {vmi}", f.uuid),
                        cause,
                    });
                }
            }
        }
        for iip in &v.instance_ip_back_refs {
            let children = ctx(
                self.svc.api.list_as::<FloatingIp>(&ListQuery {
                    parent_id: vec![iip.uuid.clone()],
                    ..ListQuery::detail(&["fq_name"])
                }),
                || format!("listing the floating IPs of instance-ip {}", iip.uuid),
            )?;
            for f in children {
                self.delete("floating-ip", &f.uuid)?;
            }
            self.delete("instance-ip", &iip.uuid)?;
        }
        self.delete("virtual-machine-interface", vmi)?;
        Ok(())
    }
}

/// VIP interfaces of this cluster whose VIP has no load balancer and is not desired (a pass
/// stopped between making the interface and the load balancer, and the VIP went meanwhile):
/// removed. Returns how many.
pub fn sweep(svc: &Service, desired: &Desired, actual: &Actual) -> Result<usize, StepError> {
    let mut q = ListQuery::detail(&["annotations"]);
    q.filters = vec![(
        "virtual_machine_interface_device_owner".into(),
        Value::String(objects::DEVICE_OWNER.into()).to_string(),
    )];
    let vmis = ctx(svc.api.list_as::<VirtualMachineInterface>(&q), || {
        "listing VIP interfaces".to_string()
    })?;
    let mut ex = Executor::new(svc);
    let mut removed = 0;
    for v in vmis {
        let a = &v.annotations;
        if !crate::domain::contrail::is_ours(a, &svc.settings.cluster_name)
            || a.get("kind") != Some(objects::KIND)
        {
            continue;
        }
        let Some(key) = a.get("name").and_then(VipKey::parse) else {
            continue;
        };
        if desired.vips.contains_key(&key) || actual.vips.contains_key(&key) {
            continue;
        }
        ex.delete_vip_interface(&v.uuid)?;
        log::info!(
            "VIP {key}: interface {} without a load balancer removed",
            v.uuid
        );
        removed += 1;
    }
    Ok(removed)
}
