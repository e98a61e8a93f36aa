//! Counters and a latency histogram, served as Prometheus text on `GET /metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct State {
    /// (endpoint, status) -> count
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    created: BTreeMap<String, u64>,
    deleted: BTreeMap<String, u64>,
    counters: BTreeMap<&'static str, u64>,
    gauges: BTreeMap<&'static str, f64>,
    histograms: BTreeMap<&'static str, Histogram>,
}

/// The manager's metrics. All methods are cheap and thread-safe.
#[derive(Default)]
pub struct Metrics {
    state: Mutex<State>,
}

/// Named counters (beyond requests and objects).
pub const RECONCILE_RUNS: &str = "reconcile_runs_total";
pub const RECONCILE_FAILURES: &str = "reconcile_failures_total";
pub const RECONCILE_ORPHANS_DELETED: &str = "reconcile_orphans_deleted_total";
/// Running containers' VMs linked to their node's router again (the router was made again).
pub const RECONCILE_ROUTERS_RELINKED: &str = "reconcile_routers_relinked_total";
pub const ROLLBACKS: &str = "add_rollbacks_total";
pub const VIP_SYNC_RUNS: &str = "vip_sync_runs_total";
/// Passes that changed nothing because Marathon, the master or Contrail could not be read,
/// and changes that failed.
pub const VIP_SYNC_ERRORS: &str = "vip_sync_errors_total";
/// Gauges: VIPs and members of this cluster in Contrail after the last pass, VIPs refused.
pub const VIPS: &str = "vips";
pub const VIP_MEMBERS: &str = "vip_members";
pub const VIPS_REFUSED: &str = "vips_refused";
/// Gauge: the named VIPs' records in the cluster's virtual-DNS after the last pass.
pub const VIP_DNS_RECORDS: &str = "vip_dns_records";
/// Gauge: the cluster's IPAMs whose DNS method Contrail refused to change (last attempt).
pub const IPAMS_DNS_REFUSED: &str = "ipams_dns_not_switched";
/// Histogram: how long a VIP pass took.
pub const VIP_SYNC_SECONDS: &str = "vip_sync_duration_seconds";

const HELP: &[(&str, &str)] = &[
    (
        RECONCILE_ROUTERS_RELINKED,
        "Running containers' VMs linked to their node's virtual-router again.",
    ),
    (VIP_SYNC_RUNS, "VIP passes run."),
    (
        VIP_SYNC_ERRORS,
        "VIP passes that read nothing usable, and VIP changes that failed.",
    ),
    (
        VIPS,
        "VIPs of this cluster in Contrail after the last pass.",
    ),
    (VIP_MEMBERS, "Load-balancer members of those VIPs."),
    (
        VIPS_REFUSED,
        "VIPs Marathon names that are not made (an address outside service_subnets).",
    ),
    (VIP_SYNC_SECONDS, "How long a VIP pass took."),
    (
        VIP_DNS_RECORDS,
        "Records of named VIPs in the cluster's virtual-DNS after the last pass (dns_domain).",
    ),
    (
        IPAMS_DNS_REFUSED,
        "IPAMs of the cluster whose DNS method Contrail refused to change at the last provisioning attempt (interfaces on their networks).",
    ),
];

impl Histogram {
    fn observe(&mut self, secs: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += secs;
        self.count += 1;
    }
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut g = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut g)
    }

    pub fn request(&self, endpoint: &str, status: u16, took: Duration) {
        self.with(|s| {
            *s.requests
                .entry((endpoint.to_string(), status))
                .or_default() += 1;
            s.latency
                .entry(endpoint.to_string())
                .or_default()
                .observe(took.as_secs_f64());
        });
    }

    pub fn set_gauge(&self, name: &'static str, v: f64) {
        self.with(|s| s.gauges.insert(name, v));
    }

    pub fn gauge(&self, name: &'static str) -> f64 {
        self.with(|s| s.gauges.get(name).copied().unwrap_or(0.0))
    }

    pub fn observe(&self, name: &'static str, took: Duration) {
        self.with(|s| {
            s.histograms
                .entry(name)
                .or_default()
                .observe(took.as_secs_f64())
        });
    }

    pub fn created(&self, ty: &str) {
        self.with(|s| *s.created.entry(ty.to_string()).or_default() += 1);
    }

    pub fn deleted(&self, ty: &str) {
        self.with(|s| *s.deleted.entry(ty.to_string()).or_default() += 1);
    }

    pub fn inc(&self, name: &'static str, by: u64) {
        self.with(|s| *s.counters.entry(name).or_default() += by);
    }

    pub fn counter(&self, name: &'static str) -> u64 {
        self.with(|s| s.counters.get(name).copied().unwrap_or(0))
    }

    /// Prometheus text exposition format; `api_calls`/`api_errors` come from the client.
    pub fn render(&self, api_calls: u64, api_errors: u64) -> String {
        let mut out = String::new();
        let help = |name: &str| {
            HELP.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, h)| *h)
                .unwrap_or_default()
        };
        self.with(|s| {
            family(
                &mut out,
                "requests_total",
                "Requests served, by endpoint and status.",
                "counter",
            );
            for ((ep, st), n) in &s.requests {
                sample(
                    &mut out,
                    "requests_total",
                    &format!("endpoint=\"{ep}\",status=\"{st}\""),
                    n,
                );
            }
            family(
                &mut out,
                "request_duration_seconds",
                "Request latency.",
                "histogram",
            );
            for (ep, h) in &s.latency {
                histogram(
                    &mut out,
                    "request_duration_seconds",
                    &format!("endpoint=\"{ep}\""),
                    h,
                );
            }
            for (name, n, text) in [
                (
                    "config_api_calls_total",
                    api_calls,
                    "HTTP calls to the Contrail config API.",
                ),
                (
                    "config_api_errors_total",
                    api_errors,
                    "Config API calls that failed.",
                ),
            ] {
                family(&mut out, name, text, "counter");
                sample(&mut out, name, "", n);
            }
            for (name, map, text) in [
                (
                    "objects_created_total",
                    &s.created,
                    "Contrail objects created, by type.",
                ),
                (
                    "objects_deleted_total",
                    &s.deleted,
                    "Contrail objects deleted, by type.",
                ),
            ] {
                family(&mut out, name, text, "counter");
                for (ty, n) in map {
                    sample(&mut out, name, &format!("type=\"{ty}\""), n);
                }
            }
            for name in [
                RECONCILE_RUNS,
                RECONCILE_FAILURES,
                RECONCILE_ORPHANS_DELETED,
                RECONCILE_ROUTERS_RELINKED,
                ROLLBACKS,
                VIP_SYNC_RUNS,
                VIP_SYNC_ERRORS,
            ] {
                family(&mut out, name, help(name), "counter");
                sample(
                    &mut out,
                    name,
                    "",
                    s.counters.get(name).copied().unwrap_or(0),
                );
            }
            for name in [
                VIPS,
                VIP_MEMBERS,
                VIPS_REFUSED,
                VIP_DNS_RECORDS,
                IPAMS_DNS_REFUSED,
            ] {
                family(&mut out, name, help(name), "gauge");
                sample(
                    &mut out,
                    name,
                    "",
                    s.gauges.get(name).copied().unwrap_or(0.0),
                );
            }
            let empty = Histogram::default();
            let name = VIP_SYNC_SECONDS;
            family(&mut out, name, help(name), "histogram");
            histogram(&mut out, name, "", s.histograms.get(name).unwrap_or(&empty));
        });
        out
    }
}

/// The prefix of every metric.
const PREFIX: &str = "contrail_mesos_manager";

/// A family's `# HELP` (when there is one) and `# TYPE` lines.
fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    if !help.is_empty() {
        let _ = writeln!(out, "# HELP {PREFIX}_{name} {help}");
    }
    let _ = writeln!(out, "# TYPE {PREFIX}_{name} {kind}");
}

/// One sample, with its labels (`a="b",c="d"`, or none).
fn sample(out: &mut String, name: &str, labels: &str, value: impl std::fmt::Display) {
    let labels = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = writeln!(out, "{PREFIX}_{name}{labels} {value}");
}

/// A histogram's buckets, sum and count.
fn histogram(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    let with = |le: &str| match labels {
        "" => format!("le=\"{le}\""),
        l => format!("{l},le=\"{le}\""),
    };
    for (i, b) in BUCKETS.iter().enumerate() {
        let c = h.counts.get(i).copied().unwrap_or(0);
        sample(out, &format!("{name}_bucket"), &with(&b.to_string()), c);
    }
    sample(out, &format!("{name}_bucket"), &with("+Inf"), h.count);
    sample(out, &format!("{name}_sum"), labels, h.sum);
    sample(out, &format!("{name}_count"), labels, h.count);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.request("/add_cni_info", 200, Duration::from_millis(7));
        m.request("/add_cni_info", 200, Duration::from_millis(70));
        m.created("virtual-machine");
        m.inc(RECONCILE_RUNS, 1);
        let t = m.render(12, 1);
        assert!(
            t.contains(
                "contrail_mesos_manager_requests_total{endpoint=\"/add_cni_info\",status=\"200\"} 2"
            ),
            "{t}"
        );
        assert!(
            t.contains(
                "_request_duration_seconds_bucket{endpoint=\"/add_cni_info\",le=\"0.01\"} 1"
            ),
            "{t}"
        );
        assert!(
            t.contains("_request_duration_seconds_count{endpoint=\"/add_cni_info\"} 2"),
            "{t}"
        );
        assert!(
            t.contains("contrail_mesos_manager_config_api_calls_total 12"),
            "{t}"
        );
        assert!(
            t.contains("objects_created_total{type=\"virtual-machine\"} 1"),
            "{t}"
        );
        assert!(
            t.contains("contrail_mesos_manager_reconcile_runs_total 1"),
            "{t}"
        );
    }

    #[test]
    fn vip_gauges_and_pass_durations() {
        let m = Metrics::default();
        m.set_gauge(VIPS, 3.0);
        m.set_gauge(VIP_MEMBERS, 7.0);
        m.set_gauge(VIP_DNS_RECORDS, 2.0);
        m.set_gauge(IPAMS_DNS_REFUSED, 1.0);
        m.observe(VIP_SYNC_SECONDS, Duration::from_millis(30));
        m.inc(VIP_SYNC_ERRORS, 2);
        let t = m.render(0, 0);
        for needle in [
            "# TYPE contrail_mesos_manager_vips gauge",
            "contrail_mesos_manager_vips 3",
            "contrail_mesos_manager_vip_members 7",
            "contrail_mesos_manager_vips_refused 0",
            "contrail_mesos_manager_vip_dns_records 2",
            "# TYPE contrail_mesos_manager_ipams_dns_not_switched gauge",
            "contrail_mesos_manager_ipams_dns_not_switched 1",
            "contrail_mesos_manager_vip_sync_duration_seconds_bucket{le=\"0.05\"} 1",
            "contrail_mesos_manager_vip_sync_duration_seconds_count 1",
            "contrail_mesos_manager_vip_sync_errors_total 2",
        ] {
            assert!(t.contains(needle), "{needle} in {t}");
        }
        assert_eq!(m.gauge(VIPS), 3.0);
    }
}
