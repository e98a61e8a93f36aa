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
        let p = "contrail_mesos_manager";
        self.with(|s| {
            let _ = writeln!(
                out,
                "# HELP {p}_requests_total Requests served, by endpoint and status."
            );
            let _ = writeln!(out, "# TYPE {p}_requests_total counter");
            for ((ep, st), n) in &s.requests {
                let _ = writeln!(
                    out,
                    "{p}_requests_total{{endpoint=\"{ep}\",status=\"{st}\"}} {n}"
                );
            }
            let _ = writeln!(out, "# HELP {p}_request_duration_seconds Request latency.");
            let _ = writeln!(out, "# TYPE {p}_request_duration_seconds histogram");
            for (ep, h) in &s.latency {
                for (b, c) in BUCKETS.iter().zip(&h.counts) {
                    let _ = writeln!(
                        out,
                        "{p}_request_duration_seconds_bucket{{endpoint=\"{ep}\",le=\"{b}\"}} {c}"
                    );
                }
                let _ = writeln!(
                    out,
                    "{p}_request_duration_seconds_bucket{{endpoint=\"{ep}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "{p}_request_duration_seconds_sum{{endpoint=\"{ep}\"}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "{p}_request_duration_seconds_count{{endpoint=\"{ep}\"}} {}",
                    h.count
                );
            }
            let _ = writeln!(
                out,
                "# HELP {p}_config_api_calls_total HTTP calls to the Contrail config API."
            );
            let _ = writeln!(out, "# TYPE {p}_config_api_calls_total counter");
            let _ = writeln!(out, "{p}_config_api_calls_total {api_calls}");
            let _ = writeln!(
                out,
                "# HELP {p}_config_api_errors_total Config API calls that failed."
            );
            let _ = writeln!(out, "# TYPE {p}_config_api_errors_total counter");
            let _ = writeln!(out, "{p}_config_api_errors_total {api_errors}");
            for (name, map, help) in [
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
                let _ = writeln!(out, "# HELP {p}_{name} {help}");
                let _ = writeln!(out, "# TYPE {p}_{name} counter");
                for (ty, n) in map {
                    let _ = writeln!(out, "{p}_{name}{{type=\"{ty}\"}} {n}");
                }
            }
            let help = |name: &str| HELP.iter().find(|(n, _)| *n == name).map(|(_, h)| *h);
            for name in [
                RECONCILE_RUNS,
                RECONCILE_FAILURES,
                RECONCILE_ORPHANS_DELETED,
                ROLLBACKS,
                VIP_SYNC_RUNS,
                VIP_SYNC_ERRORS,
            ] {
                if let Some(h) = help(name) {
                    let _ = writeln!(out, "# HELP {p}_{name} {h}");
                }
                let _ = writeln!(out, "# TYPE {p}_{name} counter");
                let _ = writeln!(
                    out,
                    "{p}_{name} {}",
                    s.counters.get(name).copied().unwrap_or(0)
                );
            }
            for name in [
                VIPS,
                VIP_MEMBERS,
                VIPS_REFUSED,
                VIP_DNS_RECORDS,
                IPAMS_DNS_REFUSED,
            ] {
                if let Some(h) = help(name) {
                    let _ = writeln!(out, "# HELP {p}_{name} {h}");
                }
                let _ = writeln!(out, "# TYPE {p}_{name} gauge");
                let _ = writeln!(
                    out,
                    "{p}_{name} {}",
                    s.gauges.get(name).copied().unwrap_or(0.0)
                );
            }
            let empty = Histogram::default();
            for name in [VIP_SYNC_SECONDS] {
                let h = s.histograms.get(name).unwrap_or(&empty);
                if let Some(text) = help(name) {
                    let _ = writeln!(out, "# HELP {p}_{name} {text}");
                }
                let _ = writeln!(out, "# TYPE {p}_{name} histogram");
                for (i, b) in BUCKETS.iter().enumerate() {
                    let c = h.counts.get(i).copied().unwrap_or(0);
                    let _ = writeln!(out, "{p}_{name}_bucket{{le=\"{b}\"}} {c}");
                }
                let _ = writeln!(out, "{p}_{name}_bucket{{le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "{p}_{name}_sum {}", h.sum);
                let _ = writeln!(out, "{p}_{name}_count {}", h.count);
            }
        });
        out
    }
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
