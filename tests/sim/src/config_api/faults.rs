//! Fault injection and request accounting: fail the next N API requests with a status, add a
//! fixed latency, run an action just before a given request is served, count requests per
//! resource type.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

/// An action run once, just before the first request with this method and path is served.
struct Hook {
    method: String,
    path: String,
    action: Box<dyn FnOnce() + Send>,
}

#[derive(Default)]
pub struct Faults {
    /// (requests still to fail, status to fail them with)
    fail: Mutex<(usize, u16)>,
    latency_us: AtomicU64,
    requests: AtomicU64,
    /// Requests that may change something: PUT, DELETE, and POST but the read actions.
    writes: AtomicU64,
    by_type: Mutex<BTreeMap<String, u64>>,
    by_method: Mutex<BTreeMap<String, u64>>,
    hooks: Mutex<Vec<Hook>>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("requests", &self.requests())
            .finish_non_exhaustive()
    }
}

impl Faults {
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut f = self.fail.lock().unwrap_or_else(|e| e.into_inner());
        *f = (n, status);
    }

    /// The status to fail this request with, if a failure is pending (consumes one).
    pub fn take_failure(&self) -> Option<u16> {
        let mut f = self.fail.lock().unwrap_or_else(|e| e.into_inner());
        if f.0 == 0 {
            return None;
        }
        f.0 -= 1;
        Some(f.1)
    }

    /// Run `action` once, just before the next `method` request on `path` is served (the
    /// request waits for it; no lock of the emulator is held, so it may call the emulator).
    pub fn before(&self, method: &str, path: &str, action: Box<dyn FnOnce() + Send>) {
        self.hooks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Hook {
                method: method.to_string(),
                path: path.to_string(),
                action,
            });
    }

    /// The action to run before this request, if one waits for it (taken: it runs once).
    pub fn take_hook(&self, method: &str, path: &str) -> Option<Box<dyn FnOnce() + Send>> {
        let mut hooks = self.hooks.lock().unwrap_or_else(|e| e.into_inner());
        let i = hooks
            .iter()
            .position(|h| h.method == method && h.path == path)?;
        Some(hooks.remove(i).action)
    }

    pub fn set_latency(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.latency_us.store(us, Ordering::SeqCst);
    }

    pub fn latency(&self) -> Duration {
        Duration::from_micros(self.latency_us.load(Ordering::SeqCst))
    }

    /// Count one API request against a resource type (or action name) and method.
    pub fn count(&self, kind: &str, method: &str) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let read = method == "GET"
            || (method == "POST"
                && matches!(
                    kind,
                    "fqname-to-id" | "id-to-fqname" | "list-bulk-collection"
                ));
        if !read {
            self.writes.fetch_add(1, Ordering::SeqCst);
        }
        let mut t = self.by_type.lock().unwrap_or_else(|e| e.into_inner());
        *t.entry(kind.to_string()).or_default() += 1;
        drop(t);
        let mut m = self.by_method.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(method.to_string()).or_default() += 1;
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    pub fn reset(&self) {
        self.requests.store(0, Ordering::SeqCst);
        self.writes.store(0, Ordering::SeqCst);
        self.by_type
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.by_method
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// `GET /_sim/stats`.
    pub fn stats(&self) -> Value {
        let by_type = self
            .by_type
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let by_method = self
            .by_method
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let pending = self.fail.lock().unwrap_or_else(|e| e.into_inner()).0;
        json!({
            "requests": self.requests(),
            "writes": self.writes(),
            "by_type": by_type,
            "by_method": by_method,
            "pending_failures": pending,
            "latency_ms": self.latency().as_secs_f64() * 1000.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_consumed_and_counts_reset() {
        let f = Faults::default();
        f.fail_next(2, 503);
        assert_eq!(f.take_failure(), Some(503));
        assert_eq!(f.take_failure(), Some(503));
        assert_eq!(f.take_failure(), None);
        f.count("project", "GET");
        f.count("project", "POST");
        f.count("fqname-to-id", "POST");
        f.count("ref-relax-for-delete", "POST");
        assert_eq!(f.requests(), 4);
        assert_eq!(
            f.writes(),
            2,
            "a create and a relax change things; a lookup does not"
        );
        assert_eq!(f.stats()["by_type"]["project"], 2);
        f.reset();
        assert_eq!((f.requests(), f.writes()), (0, 0));
    }

    #[test]
    fn a_hook_runs_once_for_its_request() {
        let f = Faults::default();
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let r = std::sync::Arc::clone(&ran);
        f.before(
            "DELETE",
            "/virtual-machine-interface/x",
            Box::new(move || {
                r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }),
        );
        assert!(f.take_hook("GET", "/virtual-machine-interface/x").is_none());
        assert!(
            f.take_hook("DELETE", "/virtual-machine-interface/y")
                .is_none()
        );
        let hook = f.take_hook("DELETE", "/virtual-machine-interface/x");
        hook.expect("the hook")();
        assert!(
            f.take_hook("DELETE", "/virtual-machine-interface/x")
                .is_none()
        );
        assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
