//! Service VIPs (contract §5): Marathon VIP labels become Contrail native load balancers that
//! follow the tasks.
//!
//! - [`label`]: VIP labels and names, as dcos-l4lb reads them (pure);
//! - [`desired`]: Marathon's apps and pods, the master's tasks and the cluster's interfaces
//!   → the VIPs Contrail should hold (pure);
//! - [`actual`]: Contrail's lists → the VIPs it holds (pure);
//! - [`diff`]: the steps between them, in the order the API server allows (pure);
//! - [`objects`]: the objects' names, uuids and bodies (pure);
//! - [`sync`]: one pass (reads, steps);
//! - this module: the loop. Stateless: every pass reads everything and Contrail is the store,
//!   so several managers, or one restarted in the middle of a change, converge on the same
//!   objects. A pass runs every `vip_sync_interval`, and soon after Marathon's event stream
//!   says something changed (when Marathon offers the stream; polling alone is correct).

pub mod sync;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::service::Service;

/// The event types that may change a VIP (`docs/docs/event-bus.md`).
pub const EVENT_TYPES: &[&str] = &[
    "event_stream_attached",
    "status_update_event",
    "instance_changed_event",
    "instance_health_changed_event",
    "health_status_changed_event",
    "unknown_instance_terminated_event",
    "app_terminated_event",
    "api_post_event",
    "pod_created_event",
    "pod_updated_event",
    "pod_deleted_event",
    "deployment_success",
    "deployment_failed",
];

/// Wakes the loop before its interval is up.
#[derive(Default)]
pub struct Trigger {
    fired: Mutex<bool>,
    cv: Condvar,
}

impl Trigger {
    pub fn fire(&self) {
        *self.fired.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cv.notify_all();
    }

    /// Wait up to `timeout` for a fire; returns whether one came (and clears it).
    fn wait(&self, timeout: Duration) -> bool {
        let mut fired = self.fired.lock().unwrap_or_else(|p| p.into_inner());
        let deadline = Instant::now() + timeout;
        while !*fired {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            fired = self
                .cv
                .wait_timeout(fired, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        *fired = false;
        true
    }
}

/// A running VIP loop.
pub struct VipLoop {
    thread: JoinHandle<()>,
    trigger: Arc<Trigger>,
}

impl VipLoop {
    /// Run a pass now (as an event would).
    pub fn poke(&self) {
        self.trigger.fire();
    }

    /// Stop (the caller has set the stop flag); waits for a pass in progress. The event
    /// reader is not waited for: it ends at its next read.
    pub fn join(self) {
        self.trigger.fire();
        let _ = self.thread.join();
    }
}

/// Events arriving this close together are one change.
const SETTLE: Duration = Duration::from_millis(20);
/// Every so many passes, VIP interfaces left without a load balancer are looked for.
const SWEEP_EVERY: u64 = 12;

/// Start the loop (and the event reader), or say why not.
pub fn start(svc: &Arc<Service>, stop: &Arc<AtomicBool>) -> anyhow::Result<Option<VipLoop>> {
    let s = &svc.settings;
    if s.vip_sync_interval.is_zero() {
        log::info!("VIPs are off (vip_sync_interval = 0)");
        return Ok(None);
    }
    let (Some(marathon), Some(master)) = (s.marathon_url.clone(), s.mesos_master_url.clone())
    else {
        log::warn!("VIPs are off: they need [MESOS] marathon_url and mesos_master_url");
        return Ok(None);
    };
    let interval = s.vip_sync_interval;
    let src = sync::Sources::new(&marathon, &master, Duration::from_secs(30))?;
    let trigger = Arc::new(Trigger::default());
    {
        let events = crate::clients::marathon::Marathon::new(&marathon, Duration::from_secs(30))?;
        let (trigger, stop) = (Arc::clone(&trigger), Arc::clone(stop));
        std::thread::Builder::new()
            .name("vip-events".into())
            .spawn(move || read_events(&events, &trigger, &stop))
            .context("cannot start the Marathon event reader")?;
    }
    let (svc, stop, t) = (Arc::clone(svc), Arc::clone(stop), Arc::clone(&trigger));
    let thread = std::thread::Builder::new()
        .name("vip-sync".into())
        .spawn(move || run_loop(&svc, &src, &t, &stop, interval))
        .context("cannot start the VIP loop")?;
    log::info!("VIPs: every {interval:?} and on Marathon's events, from {marathon} and {master}");
    Ok(Some(VipLoop { thread, trigger }))
}

/// What the loop remembers between passes: only what to log again.
#[derive(Default)]
struct Seen {
    passes: u64,
    refused: BTreeSet<String>,
    warnings: BTreeSet<String>,
    failing: bool,
    changed: bool,
}

fn run_loop(
    svc: &Service,
    src: &sync::Sources,
    trigger: &Trigger,
    stop: &AtomicBool,
    interval: Duration,
) {
    let mut seen = Seen::default();
    let mut first = true;
    // After a pass that could not read or change everything, the next comes sooner (from 1 s,
    // doubling), so a long interval driven by events does not leave a failure for an hour.
    let mut retry = RETRY_FIRST;
    let mut wait = interval;
    while !stop.load(Ordering::SeqCst) {
        if !first && trigger.wait(wait) {
            // Marathon sends several events for one change: take them as one.
            std::thread::sleep(SETTLE);
            trigger.wait(Duration::ZERO);
        }
        first = false;
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if pass(svc, src, &mut seen) {
            retry = RETRY_FIRST;
            wait = interval;
        } else {
            wait = retry.min(interval);
            retry = (retry * 2).min(RETRY_MAX);
        }
    }
}

const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);

/// `scheme://host...` without the user information a URL may carry.
fn shown(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
            format!("{scheme}://{host}")
        }
        None => url.to_string(),
    }
}

/// One pass, with its logging; false when it could not read or change everything.
fn pass(svc: &Service, src: &sync::Sources, seen: &mut Seen) -> bool {
    seen.passes += 1;
    // The first pass, every so many, and the one after a pass that changed something also
    // look for interfaces a pass stopped before making their load balancer.
    let sweep = seen.passes == 1 || seen.changed || seen.passes.is_multiple_of(SWEEP_EVERY);
    let view = match sync::run_once(svc, src, sweep) {
        Ok(r) => r,
        Err(e) => {
            if !seen.failing {
                log::warn!("{e}; nothing changed");
            } else {
                log::debug!("{e}; nothing changed");
            }
            seen.failing = true;
            return false;
        }
    };
    if seen.failing {
        log::info!("VIPs: Marathon, the master and Contrail readable again");
        seen.failing = false;
    }
    let refused: BTreeSet<String> = view
        .refused
        .iter()
        .map(|r| {
            let owners: Vec<&str> = r.owners.iter().map(String::as_str).collect();
            format!(
                "VIP {} of {} refused: {}",
                r.key,
                owners.join(", "),
                r.reason
            )
        })
        .collect();
    for r in refused.difference(&seen.refused) {
        log::warn!("{r}");
    }
    seen.refused = refused;
    let warnings: BTreeSet<String> = view.warnings.iter().cloned().collect();
    for w in warnings.difference(&seen.warnings) {
        log::warn!("VIPs: {w}");
    }
    seen.warnings = warnings;
    for f in &view.failed {
        log::warn!("{f}; retried next pass");
    }
    if view.created + view.deleted > 0 {
        log::info!(
            "VIPs: {} objects made, {} removed in {:?}; {} VIPs, {} members",
            view.created,
            view.deleted,
            view.took,
            view.vips,
            view.members
        );
    }
    if view.swept > 0 {
        log::info!(
            "VIPs: {} interfaces without a load balancer removed",
            view.swept
        );
    }
    seen.changed = view.created + view.deleted > 0 || !view.failed.is_empty();
    view.failed.is_empty()
}

/// Attach to Marathon's event stream and fire the trigger on every event; reattach with
/// backoff when it fails or ends (each attach fires it too: events may have been missed).
fn read_events(
    marathon: &crate::clients::marathon::Marathon,
    trigger: &Trigger,
    stop: &AtomicBool,
) {
    let mut pause = Duration::from_millis(100);
    let mut warned = false;
    while !stop.load(Ordering::SeqCst) {
        match marathon.events(EVENT_TYPES, Duration::from_secs(45)) {
            Ok(mut stream) => {
                log::info!(
                    "VIPs: following Marathon's events at {}",
                    shown(stream.url())
                );
                warned = false;
                pause = Duration::from_millis(100);
                trigger.fire();
                loop {
                    match stream.next_event() {
                        Ok(Some(ev)) => {
                            if stop.load(Ordering::SeqCst) {
                                return;
                            }
                            log::debug!("Marathon event {ev:?}");
                            trigger.fire();
                        }
                        Ok(None) => {
                            log::info!("VIPs: Marathon closed its event stream; reattaching");
                            break;
                        }
                        Err(e) => {
                            log::info!("VIPs: {e:#}; reattaching");
                            break;
                        }
                    }
                }
            }
            Err(e) if !warned => {
                log::warn!("VIPs: no event stream ({e:#}); polling, and retrying");
                warned = true;
            }
            Err(e) => log::debug!("VIPs: no event stream: {e:#}"),
        }
        let until = Instant::now() + pause;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        pause = (pause * 2).min(Duration::from_secs(30));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_credentials() {
        assert_eq!(
            shown("http://u:secret@marathon:8080/x"),
            "http://marathon:8080/x"
        );
        assert_eq!(shown("http://10.0.0.1:8080"), "http://10.0.0.1:8080");
        assert_eq!(shown("marathon"), "marathon");
    }

    #[test]
    fn a_fired_trigger_wakes_the_wait_once() {
        let t = Trigger::default();
        assert!(!t.wait(Duration::from_millis(1)));
        t.fire();
        assert!(t.wait(Duration::from_secs(5)));
        assert!(!t.wait(Duration::ZERO), "cleared");
    }
}
