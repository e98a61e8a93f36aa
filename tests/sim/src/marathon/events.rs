//! Marathon's event stream, `GET /v2/events`, as server-sent events.
//!
//! Followed upstream (mesosphere/marathon @ 90619da, `docs/docs/event-bus.md`,
//! `docs/docs/rest-api/public/api/v2/events.raml` and `examples/events.txt`,
//! `src/main/scala/mesosphere/marathon/core/event/Events.scala` (the event classes),
//! `api/v2/json/Formats.scala` `eventToJson` (their JSON), `core/event/impl/stream/
//! {HttpEventStreamServlet,HttpEventStreamHandleActor}.scala`) and Jetty's
//! `EventSourceServlet` under it:
//! - the request must carry `Accept: text/event-stream`, else 405;
//! - the answer is `200`, `Content-Type: text/event-stream;charset=utf-8`, `Connection: close`
//!   and no length: the body runs until the connection closes;
//! - each event is `event: <eventType>\r\ndata: <json>\r\n\r\n`; a heartbeat `\r\n` goes out
//!   every 10 s (Jetty's `heartBeatPeriod`) when nothing else does;
//! - attaching publishes `event_stream_attached` (`{remoteAddress, eventType, timestamp}`) to
//!   every subscriber, the new one included; leaving publishes `event_stream_detached`;
//! - `event_type=` (repeatable) keeps only those types (`HttpEventSSEHandle.subscribed`);
//! - a subscriber too far behind is dropped (`maxOutStanding`).
//!
//! What feeds the bus: the emulator's control endpoints. Replacing the apps or pods emits what
//! Marathon emits for the difference (`api_post_event` and `pod_*_event` for changed
//! definitions, `status_update_event` and `instance_changed_event` for every task or instance
//! that appeared, changed state or went away, `app_terminated_event` for a removed app, one
//! `deployment_success` at the end); a task whose health results changed gets the health
//! events (below); `POST /_sim/events` publishes events as given.
//!
//! Health (`core/health/impl/HealthCheckActor.scala` `handleHealthResult`,
//! `AppHealthCheckActor.scala` `computeGlobalHealth`, `core/task/update/impl/steps/
//! PostToEventStreamStepImpl.scala`): an app task's check whose `alive` flips (a check without
//! a result counts as not alive) publishes `health_status_changed_event`
//! `{appId, instanceId, version, alive}`; the instance's health over all checks (every check
//! alive: `true`; one without a result: `null`; else `false`) changing publishes
//! `instance_health_changed_event` `{instanceId, runSpecId, healthy, runSpecVersion}`. A pod
//! container's health comes from Mesos: a status update for the container
//! (`InstanceChangedEventsGenerator`: `instance_changed_event` only when the instance's
//! condition changes, and `STABLE`/`DEGRADED` are both `Running`), then
//! `instance_health_changed_event` when the instance's health (`Instance.computeHealth`)
//! changes.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

/// Events kept for subscribers that are behind; one further behind is dropped.
const BACKLOG: usize = 4096;

/// The published events, in order.
pub(super) struct Bus {
    state: Mutex<Log>,
    published: Condvar,
}

#[derive(Default)]
struct Log {
    /// Sequence number of the next event.
    next: u64,
    /// (sequence, eventType, JSON text)
    events: VecDeque<(u64, String, String)>,
    subscribers: usize,
    heartbeat: Option<Duration>,
}

impl Default for Bus {
    fn default() -> Self {
        Bus {
            state: Mutex::new(Log {
                heartbeat: Some(Duration::from_secs(10)),
                ..Log::default()
            }),
            published: Condvar::new(),
        }
    }
}

pub(super) fn timestamp() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

impl Bus {
    fn lock(&self) -> MutexGuard<'_, Log> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publish one event (a JSON object with its `eventType`).
    pub fn publish(&self, event: &Value) {
        let ty = event
            .get("eventType")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string();
        let mut log = self.lock();
        let seq = log.next;
        log.next += 1;
        log.events.push_back((seq, ty, event.to_string()));
        while log.events.len() > BACKLOG {
            log.events.pop_front();
        }
        drop(log);
        self.published.notify_all();
    }

    pub fn subscribers(&self) -> usize {
        self.lock().subscribers
    }

    /// `None`: no heartbeat.
    pub fn set_heartbeat(&self, every: Option<Duration>) {
        self.lock().heartbeat = every;
        self.published.notify_all();
    }

    /// Serve one subscriber until its connection fails, the server stops serving it, or it
    /// falls too far behind. `types` empty: every event.
    pub fn serve(
        &self,
        out: &mut dyn Write,
        open: &dyn Fn() -> bool,
        remote: &str,
        types: &[String],
    ) -> std::io::Result<()> {
        let mut cursor = {
            let mut log = self.lock();
            log.subscribers += 1;
            log.next
        };
        struct Leave<'a>(&'a Bus, String);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.lock().subscribers -= 1;
                self.0.publish(
                    &json!({"remoteAddress": self.1, "eventType": "event_stream_detached",
                    "timestamp": timestamp()}),
                );
            }
        }
        let _leave = Leave(self, remote.to_string());
        self.publish(
            &json!({"remoteAddress": remote, "eventType": "event_stream_attached",
            "timestamp": timestamp()}),
        );
        let mut last_write = Instant::now();
        loop {
            let (batch, heartbeat) = {
                let mut log = self.lock();
                if log.next == cursor {
                    log = self
                        .published
                        .wait_timeout(log, Duration::from_millis(100))
                        .map(|(g, _)| g)
                        .unwrap_or_else(|p| p.into_inner().0);
                }
                if log.events.front().is_some_and(|(s, _, _)| *s > cursor) {
                    log::warn!("marathon sim: closing the event stream of slow consumer {remote}");
                    return Ok(());
                }
                let batch: Vec<(String, String)> = log
                    .events
                    .iter()
                    .filter(|(s, _, _)| *s >= cursor)
                    .filter(|(_, ty, _)| types.is_empty() || types.iter().any(|t| t == ty))
                    .map(|(_, ty, data)| (ty.clone(), data.clone()))
                    .collect();
                cursor = log.next;
                (batch, log.heartbeat)
            };
            if !open() {
                return Ok(());
            }
            if !batch.is_empty() {
                let mut text = String::new();
                for (ty, data) in batch {
                    text.push_str(&format!("event: {ty}\r\ndata: {data}\r\n\r\n"));
                }
                out.write_all(text.as_bytes())?;
                out.flush()?;
                last_write = Instant::now();
            } else if heartbeat.is_some_and(|h| last_write.elapsed() >= h) {
                out.write_all(b"\r\n")?;
                out.flush()?;
                last_write = Instant::now();
            }
        }
    }
}

/// `Condition` of an instance whose (app task) state is `state`
/// (`core/condition/Condition.scala`, `fromMesosState`).
fn condition_of_task(state: &str) -> &'static str {
    match state {
        "TASK_STAGING" => "Staging",
        "TASK_STARTING" => "Starting",
        "TASK_RUNNING" => "Running",
        "TASK_KILLING" => "Killing",
        "TASK_FINISHED" => "Finished",
        "TASK_FAILED" => "Failed",
        "TASK_KILLED" => "Killed",
        "TASK_ERROR" => "Error",
        "TASK_DROPPED" => "Dropped",
        "TASK_GONE" | "TASK_GONE_BY_OPERATOR" => "Gone",
        "TASK_LOST" | "TASK_UNREACHABLE" => "Unreachable",
        _ => "Unknown",
    }
}

/// `Condition` of a pod instance in `status` (`PodInstanceState`).
fn condition_of_instance(status: &str) -> &'static str {
    match status {
        "PENDING" => "Provisioned",
        "STAGING" => "Staging",
        "STABLE" | "DEGRADED" => "Running",
        "TERMINAL" => "Killed",
        _ => "Unknown",
    }
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The instance id of an app task: `<app>.<uuid>` belongs to `<app>.instance-<uuid>`; newer
/// ids (`<app>.instance-<uuid>._app.<n>`) carry theirs.
pub(super) fn instance_of_task(task_id: &str) -> String {
    if let Some(i) = task_id.find(".instance-") {
        let rest = &task_id[i + 1..];
        let end = rest.find("._").map_or(task_id.len(), |e| i + 1 + e);
        return task_id[..end].to_string();
    }
    match task_id.rsplit_once('.') {
        Some((app, uuid)) => format!("{app}.instance-{uuid}"),
        None => task_id.to_string(),
    }
}

/// `MesosStatusUpdateEvent` of an app task (or a pod container) in `state`.
fn status_update(task: &Value, run_spec: &str, state: &str, now: &str) -> Value {
    json!({
        "slaveId": text(task, "slaveId"),
        "taskId": text(task, "id"),
        "taskStatus": state,
        "message": "",
        "appId": run_spec,
        "host": text(task, "host"),
        "ipAddresses": task.get("ipAddresses").cloned().unwrap_or_else(|| json!([])),
        "ports": task.get("ports").cloned().unwrap_or_else(|| json!([])),
        "version": task.get("version").and_then(Value::as_str).unwrap_or(now),
        "eventType": "status_update_event",
        "timestamp": now,
    })
}

/// `InstanceChanged` (`Formats.InstanceChangedEventWrites`).
fn instance_changed(
    instance: &str,
    condition: &str,
    run_spec: &str,
    agent: &str,
    host: &str,
    version: &str,
    now: &str,
) -> Value {
    json!({
        "instanceId": instance,
        "condition": condition,
        "runSpecId": run_spec,
        "agentId": agent,
        "host": host,
        "runSpecVersion": version,
        "timestamp": now,
        "eventType": "instance_changed_event",
    })
}

/// An app without what changes by itself (tasks and their counts): two apps with the same
/// definition compare equal.
fn definition(app: &Value) -> Value {
    let mut d = app.clone();
    if let Some(o) = d.as_object_mut() {
        for k in [
            "tasks",
            "tasksStaged",
            "tasksRunning",
            "tasksHealthy",
            "tasksUnhealthy",
            "deployments",
            "lastTaskFailure",
        ] {
            o.remove(k);
        }
    }
    d
}

fn by_id(list: &[Value]) -> BTreeMap<&str, &Value> {
    list.iter().map(|v| (text(v, "id"), v)).collect()
}

/// The two events Marathon sends when an app task reaches `state`: the task's status update
/// and its instance's change.
fn task_events(app_id: &str, app: &Value, task: &Value, state: &str, now: &str) -> [Value; 2] {
    [
        status_update(task, app_id, state, now),
        instance_changed(
            &instance_of_task(text(task, "id")),
            condition_of_task(state),
            app_id,
            text(task, "slaveId"),
            text(task, "host"),
            text(app, "version"),
            now,
        ),
    ]
}

/// What Marathon publishes when its apps go from `old` to `new`.
pub(super) fn app_changes(old: &[Value], new: &[Value]) -> Vec<Value> {
    let now = timestamp();
    let (old, new) = (by_id(old), by_id(new));
    let mut out = Vec::new();
    let mut steps = Vec::new();
    for (id, app) in &new {
        let before = old.get(id);
        if before.is_none_or(|b| definition(b) != definition(app)) {
            out.push(
                json!({"clientIp": "127.0.0.1", "uri": format!("/v2/apps{id}"),
                "appDefinition": definition(app), "eventType": "api_post_event", "timestamp": now}),
            );
            steps.push(json!({"actions": [{"action": if before.is_some() {"RestartApplication"} else {"StartApplication"}, "app": id}]}));
        }
        let old_tasks = before
            .map(|b| by_id(super::tasks_of(b)))
            .unwrap_or_default();
        let new_tasks = by_id(super::tasks_of(app));
        let mut scaled = false;
        for (tid, task) in &new_tasks {
            let state = text(task, "state");
            let before = old_tasks.get(tid).copied();
            if before.is_none_or(|t| text(t, "state") != state) {
                scaled = true;
                out.extend(task_events(id, app, task, state, &now));
            }
            out.extend(health_events(id, app, before, task, &now));
        }
        for (tid, task) in &old_tasks {
            if new_tasks.contains_key(tid) {
                continue;
            }
            scaled = true;
            out.extend(task_events(id, app, task, "TASK_KILLED", &now));
        }
        if scaled && before.is_some() {
            steps.push(json!({"actions": [{"action": "ScaleApplication", "app": id}]}));
        }
    }
    for (id, app) in &old {
        if new.contains_key(id) {
            continue;
        }
        for task in super::tasks_of(app) {
            out.extend(task_events(id, app, task, "TASK_KILLED", &now));
        }
        out.push(json!({"appId": id, "eventType": "app_terminated_event", "timestamp": now}));
        steps.push(json!({"actions": [{"action": "StopApplication", "app": id}]}));
    }
    if !steps.is_empty() {
        out.push(deployment_success(steps, &now));
    }
    out
}

/// The result of health check `i` of an app task: `alive`, or `None` before its first result.
fn check_alive(task: &Value, i: usize) -> Option<bool> {
    task.get("healthCheckResults")?
        .as_array()?
        .get(i)?
        .get("alive")?
        .as_bool()
}

/// An instance's health over `checks` checks (`AppHealthCheckActor.computeGlobalHealth`): every
/// check alive `true`, one without a result `None`, else `false`.
fn global_health(task: Option<&Value>, checks: usize) -> Option<bool> {
    let each: Vec<Option<bool>> = (0..checks)
        .map(|i| task.and_then(|t| check_alive(t, i)))
        .collect();
    if each.iter().all(|h| *h == Some(true)) {
        Some(true)
    } else if each.iter().any(Option::is_none) {
        None
    } else {
        Some(false)
    }
}

fn instance_health_changed(
    instance: &str,
    run_spec: &str,
    healthy: Option<bool>,
    version: &str,
    now: &str,
) -> Value {
    json!({"instanceId": instance, "runSpecId": run_spec, "healthy": healthy,
        "runSpecVersion": version, "timestamp": now, "eventType": "instance_health_changed_event"})
}

/// The health events of an app task going from `before` (`None`: new) to `after`.
fn health_events(
    app_id: &str,
    app: &Value,
    before: Option<&Value>,
    after: &Value,
    now: &str,
) -> Vec<Value> {
    let checks = app
        .get("healthChecks")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if checks == 0 {
        return Vec::new();
    }
    let instance = instance_of_task(text(after, "id"));
    let version = text(app, "version");
    let mut out = Vec::new();
    for i in 0..checks {
        // `Health(instanceId)` before any result is not alive.
        let was = before.and_then(|t| check_alive(t, i)).unwrap_or(false);
        if let Some(is) = check_alive(after, i)
            && is != was
        {
            out.push(
                json!({"appId": app_id, "instanceId": instance, "version": version,
                "alive": is, "eventType": "health_status_changed_event", "timestamp": now}),
            );
        }
    }
    let (was, is) = (
        global_health(before, checks),
        global_health(Some(after), checks),
    );
    if was != is {
        out.push(instance_health_changed(&instance, app_id, is, version, now));
    }
    out
}

/// A pod container's health as its status says it: its `healthy` condition once Mesos
/// reported (`PodStatusConversion.maybeHealthCondition`), else none.
fn container_health(c: &Value) -> Option<bool> {
    c.get("conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|k| text(k, "name") == "healthy" && text(k, "reason") == "health-reported-by-mesos")
        .map(|k| text(k, "value") == "true")
}

/// A pod instance's health (`Instance.computeHealth`): a running container unhealthy `false`;
/// one not running yet `None`; else `true` when one reported healthy.
fn instance_health(inst: &Value) -> Option<bool> {
    let mut found = None;
    for c in inst
        .get("containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match (text(c, "status"), container_health(c)) {
            ("TASK_RUNNING", Some(false)) => return Some(false),
            ("TASK_RUNNING", Some(true)) => found = Some(true),
            ("TASK_RUNNING" | "TASK_FINISHED", None) => {}
            _ => return None,
        }
    }
    found
}

fn deployment_success(steps: Vec<Value>, now: &str) -> Value {
    let id = uuid::Uuid::new_v4().to_string();
    json!({"id": id, "plan": {"id": id, "steps": steps, "version": now},
        "eventType": "deployment_success", "timestamp": now})
}

/// What Marathon publishes when its pods go from (`old_defs`, `old_status`) to the new ones.
pub(super) fn pod_changes(
    old_defs: &[Value],
    old_status: &[Value],
    new_defs: &[Value],
    new_status: &[Value],
) -> Vec<Value> {
    let now = timestamp();
    let (od, nd) = (by_id(old_defs), by_id(new_defs));
    let mut out = Vec::new();
    let mut steps = Vec::new();
    for (id, def) in &nd {
        let kind = match od.get(id) {
            None => "pod_created_event",
            Some(d) if d != def => "pod_updated_event",
            Some(_) => continue,
        };
        out.push(
            json!({"clientIp": "127.0.0.1", "uri": format!("/v2/pods{id}"),
            "eventType": kind, "timestamp": now}),
        );
        steps.push(json!({"actions": [{"action": if kind == "pod_created_event" {"StartPod"} else {"RestartPod"}, "pod": id}]}));
    }
    for id in od.keys() {
        if !nd.contains_key(id) {
            out.push(
                json!({"clientIp": "127.0.0.1", "uri": format!("/v2/pods{id}"),
                "eventType": "pod_deleted_event", "timestamp": now}),
            );
            steps.push(json!({"actions": [{"action": "StopPod", "pod": id}]}));
        }
    }
    let instances = |statuses: &[Value]| -> BTreeMap<String, (String, Value)> {
        statuses
            .iter()
            .flat_map(|s| {
                let pod = text(s, "id").to_string();
                s.get("instances")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(move |i| (text(i, "id").to_string(), (pod.clone(), i.clone())))
            })
            .collect()
    };
    let (oi, ni) = (instances(old_status), instances(new_status));
    let mut changed = false;
    // `before`: the instance as it was (`None`: new or going). Its containers' status updates,
    // its change when its condition changed, its health when that changed.
    let mut emit = |pod: &str, inst: &Value, status: &str, gone: bool, before: Option<&Value>| {
        let container_was = |name: &str| {
            before
                .and_then(|b| b.get("containers"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|c| text(c, "name") == name)
        };
        let condition_changed = gone
            || before.is_none_or(|b| {
                condition_of_instance(text(b, "status")) != condition_of_instance(status)
            });
        for c in inst
            .get("containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|c| condition_changed || container_was(text(c, "name")) != Some(*c))
        {
            let state = if gone {
                "TASK_KILLED"
            } else {
                c.get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("TASK_RUNNING")
            };
            let task = json!({"id": text(c, "containerId"), "slaveId": text(inst, "agentId"),
                "host": text(inst, "agentHostname")});
            out.push(status_update(&task, pod, state, &now));
        }
        if condition_changed {
            out.push(instance_changed(
                text(inst, "id"),
                if gone {
                    "Killed"
                } else {
                    condition_of_instance(status)
                },
                pod,
                text(inst, "agentId"),
                text(inst, "agentHostname"),
                &now,
                &now,
            ));
        }
        let (was, is) = (
            before.and_then(instance_health),
            if gone { None } else { instance_health(inst) },
        );
        if was != is {
            out.push(instance_health_changed(
                text(inst, "id"),
                pod,
                is,
                &now,
                &now,
            ));
        }
    };
    for (iid, (pod, inst)) in &ni {
        let status = text(inst, "status");
        let before = oi.get(iid).map(|(_, o)| o);
        if before == Some(inst) {
            continue;
        }
        changed = true;
        emit(pod, inst, status, false, before);
    }
    for (iid, (pod, inst)) in &oi {
        if !ni.contains_key(iid) {
            changed = true;
            emit(pod, inst, "TERMINAL", true, Some(inst));
        }
    }
    if changed && steps.is_empty() {
        for id in nd.keys() {
            steps.push(json!({"actions": [{"action": "ScalePod", "pod": id}]}));
        }
    }
    if !steps.is_empty() {
        out.push(deployment_success(steps, &now));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_of_both_task_id_forms() {
        assert_eq!(
            instance_of_task("grp_web.5f1c"),
            "grp_web.instance-5f1c",
            "legacy id"
        );
        assert_eq!(
            instance_of_task("web.instance-5f1c._app.1"),
            "web.instance-5f1c"
        );
    }

    #[test]
    fn app_changes_as_marathon_publishes_them() {
        let task =
            |id: &str, state: &str| json!({"id": id, "state": state, "host": "h", "slaveId": "S"});
        let old = vec![
            json!({"id": "/a", "tasks": [task("a.1", "TASK_RUNNING"), task("a.2", "TASK_RUNNING")]}),
            json!({"id": "/gone", "tasks": [task("gone.1", "TASK_RUNNING")]}),
        ];
        let new = vec![json!({"id": "/a", "tasks": [task("a.1", "TASK_RUNNING")]})];
        let ev = app_changes(&old, &new);
        let kinds: Vec<&str> = ev.iter().map(|e| text(e, "eventType")).collect();
        assert_eq!(
            kinds,
            [
                "status_update_event",
                "instance_changed_event",
                "status_update_event",
                "instance_changed_event",
                "app_terminated_event",
                "deployment_success"
            ]
        );
        assert_eq!(ev[0]["taskId"], "a.2");
        assert_eq!(ev[0]["taskStatus"], "TASK_KILLED");
        assert_eq!(ev[1]["condition"], "Killed");
        assert_eq!(ev[1]["instanceId"], "a.instance-2");
        assert_eq!(ev[4]["appId"], "/gone");
        assert!(app_changes(&new, &new).is_empty(), "nothing changed");
    }
}
