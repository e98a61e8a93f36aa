//! Emulator of the Marathon REST API v2, read side (what the manager's reconciliation and the
//! `status` CLI read).
//!
//! Shapes from mesosphere/marathon (`docs/docs/rest-api/public/api/v2/{apps,pods,tasks}.raml`,
//! `types/{app,task,pod,podStatus}.raml`, `src/main/scala/mesosphere/marathon/api/v2/
//! {AppsResource,PodsResource,TasksResource,InfoEmbedResolver}.scala`, `raml/PodStatusConversion
//! .scala`, `raml/TaskConversion.scala`, `api/RestResource.scala`):
//! - `GET /v2/apps` → `{"apps":[App + counts + deployments]}`. `embed=apps.tasks` (also `tasks`,
//!   `app.tasks`, `apps.failures`, the prefixes `InfoEmbedResolver` accepts) adds `tasks`;
//!   without it there is no `tasks` key. The counts (`tasksStaged`, `tasksRunning`,
//!   `tasksHealthy`, `tasksUnhealthy`) and `deployments` are always there, as upstream.
//!   Filters: `id` (substring of the app id) and `cmd` (substring of `cmd`); `label` is ignored.
//! - `GET /v2/apps/<id>` (ids contain slashes: `/v2/apps/grp/web` is `/grp/web`) →
//!   `{"app":{... with tasks}}`; unknown → 404 `{"message":"App '/x' does not exist"}`.
//!   `GET /v2/apps/<id>/tasks` → `{"tasks":[..]}`; `GET /v2/apps/<group>/*` → `{"*":[apps]}`.
//! - `GET /v2/tasks` → `{"tasks":[..]}` (app tasks only, like upstream; `status=running|staging`
//!   filters).
//! - `GET /v2/pods` → `[Pod]`; `HEAD /v2/pods` → 204; `GET /v2/pods/<id>` → `Pod`;
//!   `GET /v2/pods/::status` → `[PodStatus]`; `GET /v2/pods/<id>::status` → `PodStatus`;
//!   unknown pod → 404 `{"message":"Pod '/x' does not exist"}`.
//! - `GET /ping` → `pong`; `GET /v2/info` → a minimal `MarathonInfo`.
//! - Unknown routes → 404 `{"message":"HTTP 404 Not Found"}`.
//!
//! - `GET /v2/events` → the event stream (server-sent events, see [`events`]).
//!
//! Ports: an app on a container network declares its ports in `container.portMappings[]`
//! (`appContainer.raml` `ContainerPortMapping`: `containerPort`, `hostPort` (absent: none),
//! `servicePort`, `protocol` `tcp`/`udp`/`udp,tcp`, `name`, `labels`, `networkNames`); a pod in
//! `containers[].endpoints[]` (`network.raml` `Endpoint`: `name`, `containerPort`, `hostPort`,
//! `protocol` as a list, `labels`, `networkNames`). VIPs are labels there (`VIP_0: /web:80`,
//! `docs/docs/networking.md`); Marathon itself does nothing with them.
//!
//! Emulator control (not upstream): `PUT /_sim/apps` with an array of apps (each may carry its
//! `tasks`), `PUT /_sim/pods` with `{"pods":[Pod..],"status":[PodStatus..]}`; both publish on
//! the event stream what Marathon publishes for the change. `POST /_sim/events` publishes an
//! event object (or an array of them) as given.

mod events;
#[cfg(test)]
mod raml;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use anyhow::{Result, bail};
use serde_json::{Map, Value, json};

use contrail_mesos::http::server::Server as Service;
use contrail_mesos::http::server::{Handler, Request, Response};

pub use super::CONTRAIL_NETWORK;

/// A running Marathon emulator. Dropping it stops it.
pub struct MarathonSim {
    shared: Arc<Shared>,
    service: Service,
}

struct Shared {
    state: Mutex<State>,
    bus: events::Bus,
}

#[derive(Default)]
struct State {
    apps: Vec<Value>,
    pods: Vec<Value>,
    statuses: Vec<Value>,
    requests: u64,
    /// `/v2/events` answers 404 (a proxy in front of Marathon that does not pass it).
    no_events: bool,
}

impl MarathonSim {
    /// Listen on `listen` (`host:port`, port 0 picks one).
    pub fn start(listen: &str) -> Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            bus: events::Bus::default(),
        });
        let for_handler = Arc::clone(&shared);
        let handler: Arc<Handler> =
            Arc::new(move |req: Request| Shared::handle(&for_handler, &req));
        let service = Service::start(listen, 4, 64 << 20, handler)?;
        Ok(Self { shared, service })
    }

    pub fn url(&self) -> String {
        self.service.url()
    }

    pub fn port(&self) -> u16 {
        self.service.local_addr().port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.service.local_addr()
    }

    /// Replace the apps. Each app is upstream-shaped JSON (see the builders); an app may carry
    /// its `tasks`. Ids get a leading `/` if they lack one.
    pub fn set_apps(&self, apps: Vec<Value>) -> Result<()> {
        self.shared.replace_apps(normalize_apps(apps)?);
        Ok(())
    }

    /// The stored apps (with their tasks).
    pub fn apps(&self) -> Vec<Value> {
        self.shared.lock().apps.clone()
    }

    /// Replace the pods: their definitions and their `PodStatus` objects.
    pub fn set_pods(&self, defs: Vec<Value>, statuses: Vec<Value>) -> Result<()> {
        let (defs, statuses) = normalize_pods(defs, statuses)?;
        self.shared.replace_pods(defs, statuses);
        Ok(())
    }

    /// Publish an event on `/v2/events` (an object with its `eventType`).
    pub fn publish(&self, event: &Value) {
        self.shared.bus.publish(event);
    }

    /// Clients attached to `/v2/events`.
    pub fn event_subscribers(&self) -> usize {
        self.shared.bus.subscribers()
    }

    /// Serve `/v2/events` or not (404, as a proxy that does not pass it; open streams stay).
    pub fn set_events_enabled(&self, on: bool) {
        self.shared.lock().no_events = !on;
    }

    /// How often an idle event stream carries a heartbeat (default 10 s, as Jetty's
    /// `EventSourceServlet`); `None`: never.
    pub fn set_event_heartbeat(&self, every: Option<std::time::Duration>) {
        self.shared.bus.set_heartbeat(every);
    }

    /// Go down (connections refused, open ones cut) or come back up on the same address.
    pub fn set_down(&self, down: bool) -> Result<()> {
        self.service.set_down(down)
    }

    pub fn is_down(&self) -> bool {
        self.service.is_down()
    }

    /// Requests served (`/_sim/*` excluded).
    pub fn requests(&self) -> u64 {
        self.shared.lock().requests
    }
}

fn absolute(id: &str) -> String {
    let trimmed = id.trim_end_matches('/');
    if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        format!("/{trimmed}")
    }
}

fn normalize_apps(apps: Vec<Value>) -> Result<Vec<Value>> {
    apps.into_iter()
        .enumerate()
        .map(|(i, mut app)| {
            let Some(id) = app.get("id").and_then(Value::as_str).map(absolute) else {
                bail!("app #{i} is not an object with a string \"id\"");
            };
            if let Some(tasks) = app.get("tasks")
                && !tasks.is_array()
            {
                bail!("app {id}: \"tasks\" is not an array");
            }
            app["id"] = json!(id);
            // Marathon writes every task's `healthCheckResults`, empty while no check has
            // reported (`TaskConversion.enrichedTaskRamlWrite`, `EnrichedTaskWritesTest`).
            for t in app
                .get_mut("tasks")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
                .filter_map(Value::as_object_mut)
            {
                t.entry("healthCheckResults").or_insert(json!([]));
            }
            Ok(app)
        })
        .collect()
}

fn normalize_pods(defs: Vec<Value>, statuses: Vec<Value>) -> Result<(Vec<Value>, Vec<Value>)> {
    let fix = |kind: &str, list: Vec<Value>| -> Result<Vec<Value>> {
        list.into_iter()
            .enumerate()
            .map(|(i, mut v)| {
                let Some(id) = v.get("id").and_then(Value::as_str).map(absolute) else {
                    bail!("{kind} #{i} is not an object with a string \"id\"");
                };
                v["id"] = json!(id);
                Ok(v)
            })
            .collect()
    };
    Ok((fix("pod", defs)?, fix("pod status", statuses)?))
}

fn message(status: u16, msg: &str) -> Response {
    Response::json(status, &json!({ "message": msg }))
}

/// The tasks an app carries.
fn tasks_of(app: &Value) -> &[Value] {
    app.get("tasks")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The app as Marathon renders an `AppInfo`: the definition plus counts and deployments (unless
/// the stored app already has them), plus `tasks` when embedded.
fn app_info(app: &Value, with_tasks: bool) -> Value {
    let tasks = tasks_of(app);
    let mut out = app.clone();
    let Some(obj) = out.as_object_mut() else {
        return out;
    };
    let count = |pred: &dyn Fn(&Value) -> bool| tasks.iter().filter(|t| pred(t)).count();
    let state = |t: &Value| {
        t.get("state")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let health = |t: &Value| -> Option<bool> {
        let results = t.get("healthCheckResults")?.as_array()?;
        if results.is_empty() {
            return None;
        }
        Some(
            results
                .iter()
                .all(|r| r.get("alive").and_then(Value::as_bool) == Some(true)),
        )
    };
    let counts = [
        (
            "tasksStaged",
            count(&|t| matches!(state(t).as_str(), "TASK_STAGING" | "TASK_STARTING")),
        ),
        ("tasksRunning", count(&|t| state(t) == "TASK_RUNNING")),
        ("tasksHealthy", count(&|t| health(t) == Some(true))),
        ("tasksUnhealthy", count(&|t| health(t) == Some(false))),
    ];
    for (k, n) in counts {
        obj.entry(k).or_insert(json!(n));
    }
    obj.entry("deployments").or_insert(json!([]));
    if !with_tasks {
        obj.remove("tasks");
        obj.remove("lastTaskFailure");
    } else {
        obj.entry("tasks").or_insert(json!([]));
    }
    out
}

/// Does the `embed` query ask for tasks (`InfoEmbedResolver.resolveApp`)?
fn embeds_tasks(req: &Request) -> bool {
    req.query_pairs()
        .into_iter()
        .filter(|(k, _)| k == "embed")
        .any(|(_, v)| {
            let bare = ["group.apps.", "apps.", "app."]
                .iter()
                .find_map(|p| v.strip_prefix(p))
                .unwrap_or(&v);
            bare == "tasks" || bare == "failures"
        })
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn replace_apps(&self, apps: Vec<Value>) {
        let mut st = self.lock();
        let changes = events::app_changes(&st.apps, &apps);
        st.apps = apps;
        // Published under the lock: events follow the changes in order.
        for e in &changes {
            self.bus.publish(e);
        }
    }

    fn replace_pods(&self, defs: Vec<Value>, statuses: Vec<Value>) {
        let mut st = self.lock();
        let changes = events::pod_changes(&st.pods, &st.statuses, &defs, &statuses);
        st.pods = defs;
        st.statuses = statuses;
        for e in &changes {
            self.bus.publish(e);
        }
    }

    /// `GET /v2/events`: 405 without `Accept: text/event-stream` (Jetty's
    /// `EventSourceServlet.doGet`), else the stream.
    fn event_stream(self: &Arc<Self>, req: &Request) -> Response {
        let accepts = req
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("accept"))
            .any(|(_, v)| v.trim() == "text/event-stream");
        if !accepts {
            return Response {
                status: 405,
                headers: vec![("Content-Type".into(), "text/html;charset=ISO-8859-1".into())],
                body: b"<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html;charset=ISO-8859-1\"/>\n<title>Error 405 </title>\n</head>\n<body>\n<h2>HTTP ERROR: 405</h2>\n<p>Problem accessing /v2/events. Reason:\n<pre>    HTTP method GET is not supported by this URL</pre></p>\n</body>\n</html>\n".to_vec(),
                stream: None,
            };
        }
        let types: Vec<String> = req
            .query_pairs()
            .into_iter()
            .filter(|(k, _)| k == "event_type")
            .map(|(_, v)| v)
            .collect();
        let remote = req.remote.map(|a| a.ip().to_string()).unwrap_or_default();
        let shared = Arc::clone(self);
        Response::streaming(
            200,
            "text/event-stream;charset=utf-8",
            Arc::new(move |out, open| shared.bus.serve(out, open, &remote, &types)),
        )
    }

    fn handle(self: &Arc<Self>, req: &Request) -> Response {
        let path = req.path.as_str();
        if let Some(rest) = path.strip_prefix("/_sim/") {
            return self.control(req, rest);
        }
        if req.method == "GET" && path.trim_end_matches('/') == "/v2/events" {
            let mut st = self.lock();
            st.requests += 1;
            if st.no_events {
                return message(404, "HTTP 404 Not Found");
            }
            drop(st);
            return self.event_stream(req);
        }
        let mut st = self.lock();
        st.requests += 1;
        let method = req.method.as_str();
        if method == "HEAD" && path.trim_end_matches('/') == "/v2/pods" {
            return Response::text(204, "");
        }
        if method != "GET" {
            return message(405, "HTTP 405 Method Not Allowed");
        }
        if path == "/ping" {
            return Response::text(200, "pong");
        }
        if path == "/v2/info" {
            return Response::json(
                200,
                &json!({
                    "name": "marathon",
                    "version": "1.11.24",
                    "elected": true,
                    "leader": req.header("Host").unwrap_or("localhost:8080"),
                    "frameworkId": super::FRAMEWORK_ID,
                }),
            );
        }
        if path == "/v2/apps" || path == "/v2/apps/" {
            return Self::list_apps(&st, req);
        }
        if let Some(rest) = path.strip_prefix("/v2/apps/") {
            return Self::app_route(&st, rest);
        }
        if path == "/v2/tasks" || path == "/v2/tasks/" {
            let wanted = req.query_param("status");
            let tasks: Vec<Value> = st
                .apps
                .iter()
                .flat_map(|a| tasks_of(a).iter())
                .filter(|t| {
                    let s = t.get("state").and_then(Value::as_str).unwrap_or_default();
                    match wanted.as_deref() {
                        Some("running") => s == "TASK_RUNNING",
                        Some("staging") => s == "TASK_STAGING" || s == "TASK_STARTING",
                        _ => true,
                    }
                })
                .cloned()
                .collect();
            return Response::json(200, &json!({ "tasks": tasks }));
        }
        if path == "/v2/pods" || path == "/v2/pods/" {
            return Response::json(200, &Value::Array(st.pods.clone()));
        }
        if let Some(rest) = path.strip_prefix("/v2/pods/") {
            return Self::pod_route(&st, rest);
        }
        message(404, "HTTP 404 Not Found")
    }

    fn list_apps(st: &State, req: &Request) -> Response {
        let with_tasks = embeds_tasks(req);
        let id_filter = req.query_param("id").filter(|s| !s.is_empty());
        let cmd_filter = req.query_param("cmd").filter(|s| !s.is_empty());
        let contains = |app: &Value, key: &str, needle: &Option<String>| {
            needle.as_ref().is_none_or(|n| {
                app.get(key)
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.contains(n.as_str()))
            })
        };
        let apps: Vec<Value> = st
            .apps
            .iter()
            .filter(|a| contains(a, "id", &id_filter) && contains(a, "cmd", &cmd_filter))
            .map(|a| app_info(a, with_tasks))
            .collect();
        Response::json(200, &json!({ "apps": apps }))
    }

    fn find_app<'a>(st: &'a State, id: &str) -> Option<&'a Value> {
        st.apps
            .iter()
            .find(|a| a.get("id").and_then(Value::as_str) == Some(id))
    }

    fn app_route(st: &State, rest: &str) -> Response {
        if rest == "*" || rest.ends_with("/*") {
            let group = absolute(rest.trim_end_matches('*'));
            let prefix = if group == "/" {
                "/".to_string()
            } else {
                format!("{group}/")
            };
            let apps: Vec<Value> = st
                .apps
                .iter()
                .filter(|a| {
                    a.get("id")
                        .and_then(Value::as_str)
                        .is_some_and(|id| id.starts_with(&prefix))
                })
                .map(|a| app_info(a, true))
                .collect();
            if apps.is_empty() && group != "/" {
                return message(404, &format!("Group '{group}' does not exist"));
            }
            return Response::json(200, &json!({ "*": apps }));
        }
        if let Some(app_id) = rest.strip_suffix("/tasks") {
            let id = absolute(app_id);
            return match Self::find_app(st, &id) {
                Some(app) => Response::json(200, &json!({ "tasks": tasks_of(app) })),
                None => message(404, &format!("App '{id}' does not exist")),
            };
        }
        let id = absolute(rest);
        match Self::find_app(st, &id) {
            Some(app) => Response::json(200, &json!({ "app": app_info(app, true) })),
            None => message(404, &format!("App '{id}' does not exist")),
        }
    }

    fn pod_route(st: &State, rest: &str) -> Response {
        if rest == "::status" {
            return Response::json(200, &Value::Array(st.statuses.clone()));
        }
        let by_id = |list: &[Value], id: &str| {
            list.iter()
                .find(|p| p.get("id").and_then(Value::as_str) == Some(id))
                .cloned()
        };
        if let Some(pod) = rest.strip_suffix("::status") {
            let id = absolute(pod);
            return match by_id(&st.statuses, &id) {
                Some(s) => Response::json(200, &s),
                None => message(404, &format!("Pod '{id}' does not exist")),
            };
        }
        if rest.contains("::") {
            return message(404, "HTTP 404 Not Found");
        }
        let id = absolute(rest);
        match by_id(&st.pods, &id) {
            Some(p) => Response::json(200, &p),
            None => message(404, &format!("Pod '{id}' does not exist")),
        }
    }

    fn control(&self, req: &Request, rest: &str) -> Response {
        let body = match (req.method.as_str(), rest) {
            ("POST", "events") => {
                return match req.json() {
                    Ok(Value::Array(list)) if list.iter().all(Value::is_object) => {
                        list.iter().for_each(|e| self.bus.publish(e));
                        Response::json(200, &json!({"published": list.len()}))
                    }
                    Ok(e @ Value::Object(_)) => {
                        self.bus.publish(&e);
                        Response::json(200, &json!({"published": 1}))
                    }
                    Ok(_) => message(400, "expected an event object or an array of them"),
                    Err(e) => message(400, &format!("{e:#}")),
                };
            }
            ("PUT", "apps" | "pods") => match req.json() {
                Ok(v) => v,
                Err(e) => return message(400, &format!("{e:#}")),
            },
            ("GET", "apps") => return Response::json(200, &Value::Array(self.lock().apps.clone())),
            _ => return message(404, "HTTP 404 Not Found"),
        };
        let result = if rest == "apps" {
            match body {
                Value::Array(apps) => normalize_apps(apps).map(|apps| self.replace_apps(apps)),
                _ => Err(anyhow::anyhow!("expected a JSON array of apps")),
            }
        } else {
            let list = |k: &str| match body.get(k) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(a)) => Ok(a.clone()),
                Some(_) => Err(anyhow::anyhow!("\"{k}\" must be an array")),
            };
            list("pods")
                .and_then(|pods| Ok((pods, list("status")?)))
                .and_then(|(pods, status)| normalize_pods(pods, status))
                .map(|(pods, status)| self.replace_pods(pods, status))
        };
        match result {
            Ok(()) => Response::json(200, &json!({})),
            Err(e) => message(400, &format!("{e:#}")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Builders of upstream-shaped JSON.

fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

fn labels_object(labels: &[(&str, &str)]) -> Value {
    Value::Object(
        labels
            .iter()
            .map(|(k, v)| ((*k).to_string(), json!(v)))
            .collect::<Map<String, Value>>(),
    )
}

/// The fields every app has, as Marathon renders an app definition.
fn base_app(id: &str) -> Map<String, Value> {
    let version = now();
    let obj = json!({
        "id": absolute(id),
        "cmd": "sleep 3600",
        "args": null,
        "user": null,
        "env": {},
        "instances": 0,
        "cpus": 0.1,
        "mem": 64.0,
        "disk": 0.0,
        "gpus": 0,
        "executor": "",
        "constraints": [],
        "uris": [],
        "fetch": [],
        "storeUrls": [],
        "backoffSeconds": 1,
        "backoffFactor": 1.15,
        "maxLaunchDelaySeconds": 3600,
        "healthChecks": [],
        "readinessChecks": [],
        "dependencies": [],
        "upgradeStrategy": {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0},
        "labels": {},
        "version": version,
        "versionInfo": {"lastScalingAt": version, "lastConfigChangeAt": version},
        "killSelection": "YOUNGEST_FIRST",
        "unreachableStrategy": {"inactiveAfterSeconds": 0, "expungeAfterSeconds": 0},
        "requirePorts": false,
        "portDefinitions": [],
        "secrets": {},
    });
    match obj {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// An app in the legacy IP-per-task form (Marathon 0.14–1.4, `network.raml` `IpAddress`):
/// `ipAddress: {groups, labels, discovery, networkName}` with a Mesos (UCR) container.
pub fn legacy_app(id: &str, network_name: &str, labels: &[(&str, &str)]) -> Value {
    let mut app = base_app(id);
    app.insert(
        "container".into(),
        json!({"type": "MESOS", "volumes": [], "docker": {"image": "busybox", "forcePullImage": false}}),
    );
    app.insert(
        "ipAddress".into(),
        json!({
            "groups": [],
            "labels": labels_object(labels),
            "discovery": {"ports": []},
            "networkName": network_name,
        }),
    );
    Value::Object(app)
}

/// An app in the Marathon 1.5+ form: `networks: [{mode: "container", name, labels}]`.
pub fn networks_app(id: &str, network_name: &str, labels: &[(&str, &str)]) -> Value {
    let mut app = base_app(id);
    app.insert(
        "container".into(),
        json!({
            "type": "MESOS",
            "volumes": [],
            "docker": {"image": "busybox", "forcePullImage": false, "parameters": []},
            "portMappings": [],
        }),
    );
    app.insert(
        "networks".into(),
        json!([{"name": network_name, "mode": "container", "labels": labels_object(labels)}]),
    );
    Value::Object(app)
}

/// A container port mapping (`appContainer.raml` `ContainerPortMapping`) as Marathon renders
/// it in container mode: no `hostPort` (none is allocated), the `servicePort` it assigned,
/// `labels` always there, `networkNames` left out when empty.
pub fn port_mapping(
    name: &str,
    container_port: u16,
    protocol: &str,
    service_port: u16,
    labels: &[(&str, &str)],
) -> Value {
    json!({
        "containerPort": container_port,
        "labels": labels_object(labels),
        "name": name,
        "protocol": protocol,
        "servicePort": service_port,
    })
}

/// The app with these `container.portMappings` (an app built by [`networks_app`]).
pub fn with_port_mappings(mut app: Value, mappings: Vec<Value>) -> Value {
    if let Some(c) = app.get_mut("container").and_then(Value::as_object_mut) {
        c.insert("portMappings".into(), Value::Array(mappings));
    }
    app
}

/// A pod endpoint (`network.raml` `Endpoint`): `protocol` is a list (`["tcp"]`,
/// `["udp", "tcp"]`), `labels` left out when empty.
pub fn endpoint(
    name: &str,
    container_port: u16,
    protocols: &[&str],
    labels: &[(&str, &str)],
) -> Value {
    let mut e = json!({"name": name, "containerPort": container_port, "protocol": protocols});
    if !labels.is_empty() {
        e["labels"] = labels_object(labels);
    }
    e
}

/// The pod with `key` of its container `container` set to `value`.
fn with_in_container(mut pod: Value, container: &str, key: &str, value: Value) -> Value {
    for c in pod
        .get_mut("containers")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if c.get("name").and_then(Value::as_str) == Some(container) {
            c[key] = value.clone();
        }
    }
    pod
}

/// The pod with these endpoints on its container `container`.
pub fn with_endpoints(pod: Value, container: &str, endpoints: Vec<Value>) -> Value {
    with_in_container(pod, container, "endpoints", Value::Array(endpoints))
}

/// A Marathon task id for an app: the path without the leading `/`, `/` → `_`, then `.<uuid>`.
pub fn task_id(app_id: &str) -> String {
    let path = absolute(app_id);
    format!(
        "{}.{}",
        path.trim_start_matches('/').replace('/', "_"),
        uuid::Uuid::new_v4()
    )
}

/// A running app task (`task.raml` `Task`) with one IPv4 address.
pub fn app_task(app_id: &str, host: &str, ip: &str, slave_id: &str) -> Value {
    let t = now();
    json!({
        "id": task_id(app_id),
        "appId": absolute(app_id),
        "host": host,
        "slaveId": slave_id,
        "state": "TASK_RUNNING",
        "stagedAt": t,
        "startedAt": t,
        "version": t,
        "ports": [],
        "servicePorts": [],
        "ipAddresses": [{"ipAddress": ip, "protocol": "IPv4"}],
        "localVolumes": [],
        "healthCheckResults": [],
        "role": "*",
    })
}

/// The app with `count` health checks (`healthCheck.raml` `AppHealthCheck` as Marathon renders
/// it, every default written: `raml/HealthCheckConversion.scala`), here Marathon's own HTTP
/// checks on the first port.
pub fn with_health_checks(mut app: Value, count: usize) -> Value {
    let check = json!({"gracePeriodSeconds": 300, "intervalSeconds": 60, "maxConsecutiveFailures": 3,
        "path": "/", "portIndex": 0, "protocol": "HTTP", "ipProtocol": "IPv4", "timeoutSeconds": 20,
        "delaySeconds": 15, "ignoreHttp1xx": false});
    app["healthChecks"] = Value::Array(vec![check; count]);
    app
}

/// One health check's result for an app task (`healthCheck.raml` `Health`, as
/// `raml/HealthConversion.scala` writes `core/health/Health.scala`: absent times left out).
/// `alive`: the last check passed; else it failed once, after a success.
pub fn health_result(task: &Value, alive: bool) -> Value {
    let t = now();
    let id = task.get("id").and_then(Value::as_str).unwrap_or_default();
    let mut h = json!({
        "alive": alive,
        "consecutiveFailures": if alive { 0 } else { 1 },
        "firstSuccess": t,
        "instanceId": events::instance_of_task(id),
        "lastSuccess": t,
    });
    if !alive {
        // Health.alive: the last success is not later than the last failure.
        h["lastFailure"] = json!(t);
        h["lastFailureCause"] = json!("HTTP 503 Service Unavailable");
    }
    h
}

/// The task with one result per health check, alive as given (`[]`: none has reported, as in
/// the grace period).
pub fn with_health(mut task: Value, alive: &[bool]) -> Value {
    let results: Vec<Value> = alive.iter().map(|a| health_result(&task, *a)).collect();
    task["healthCheckResults"] = Value::Array(results);
    task
}

/// The app with these tasks (and `instances` set to their number).
pub fn with_tasks(mut app: Value, tasks: Vec<Value>) -> Value {
    if let Some(obj) = app.as_object_mut() {
        obj.insert("instances".into(), json!(tasks.len()));
        obj.insert("tasks".into(), Value::Array(tasks));
    }
    app
}

/// A pod definition (`pod.raml`) joining one container network.
pub fn pod(id: &str, network_name: &str, labels: &[(&str, &str)], containers: &[&str]) -> Value {
    json!({
        "id": absolute(id),
        "version": now(),
        "labels": {},
        "scaling": {"kind": "fixed", "instances": 1},
        "containers": containers.iter().map(|name| json!({
            "name": name,
            "exec": {"command": {"shell": "sleep 3600"}},
            "resources": {"cpus": 0.1, "mem": 32.0, "disk": 0.0, "gpus": 0},
            "endpoints": [],
            "volumeMounts": [],
            "artifacts": [],
            "labels": {},
        })).collect::<Vec<_>>(),
        "networks": [{"name": network_name, "mode": "container", "labels": labels_object(labels)}],
        "volumes": [],
        "secrets": {},
        "executorResources": {"cpus": 0.1, "mem": 32.0, "disk": 10.0},
    })
}

/// A running pod instance (`podStatus.raml` `PodInstanceStatus`): id `<pod>.instance-<uuid>`,
/// one container status per container (`containerId` is the Mesos task id
/// `<instance>.<container>`), and the network with its address.
pub fn pod_instance(
    pod_id: &str,
    agent_hostname: &str,
    network_name: &str,
    ip: &str,
    containers: &[&str],
) -> Value {
    let t = now();
    let path = absolute(pod_id);
    let instance = format!(
        "{}.instance-{}",
        path.trim_start_matches('/').replace('/', "_"),
        uuid::Uuid::new_v4()
    );
    json!({
        "id": instance,
        "status": "STABLE",
        "statusSince": t,
        "conditions": [],
        "agentHostname": agent_hostname,
        "agentId": super::SLAVE_ID,
        "resources": {"cpus": 0.1 * (containers.len() as f64 + 1.0), "mem": 32.0 * (containers.len() as f64 + 1.0), "disk": 10.0, "gpus": 0},
        "networks": [{"name": network_name, "addresses": [ip]}],
        "containers": containers.iter().map(|name| json!({
            "name": name,
            "status": "TASK_RUNNING",
            "statusSince": t,
            "conditions": [],
            "containerId": format!("{instance}.{name}"),
            "endpoints": [],
            "resources": {"cpus": 0.1, "mem": 32.0, "disk": 0.0, "gpus": 0},
            "lastUpdated": t,
            "lastChanged": t,
        })).collect::<Vec<_>>(),
        "specReference": format!("/v2/pods{path}::versions/{t}"),
        "localVolumes": [],
        "lastUpdated": t,
        "lastChanged": t,
        "role": "*",
    })
}

/// The pod with a health check on its container `container` (`healthCheck.raml`
/// `HealthCheck`): HTTP on `endpoint`, or a command when `None`.
pub fn with_health_check(pod: Value, container: &str, endpoint: Option<&str>) -> Value {
    let mut check = match endpoint {
        Some(ep) => json!({"http": {"endpoint": ep, "path": "/", "scheme": "HTTP"}}),
        None => json!({"exec": {"command": {"shell": "true"}}}),
    };
    for (k, v) in [
        ("gracePeriodSeconds", 300),
        ("intervalSeconds", 60),
        ("maxConsecutiveFailures", 3),
        ("timeoutSeconds", 20),
        ("delaySeconds", 15),
    ] {
        check[k] = json!(v);
    }
    with_in_container(pod, container, "healthCheck", check)
}

/// `PodStatusConversion.HEALTH_REPORTED` / `HEALTH_UNREPORTED`.
const HEALTH_REPORTED: &str = "health-reported-by-mesos";
const HEALTH_UNREPORTED: &str = "health-unreported-by-mesos";

/// The instance (of `pod_def`) with Mesos' health result for the running container
/// `container`: `None` while none has come. As `PodStatusConversion` writes it: the checked
/// endpoint's `healthy` (left out while unreported, `endpointStatuses`), the container's
/// `healthy` condition (`maybeHealthCondition`: `false` with reason
/// `health-unreported-by-mesos` while unreported), and the instance `DEGRADED` while a
/// container's condition is `false`, else `STABLE` (`podInstanceState`).
pub fn with_container_health(
    pod_def: &Value,
    mut instance: Value,
    container: &str,
    healthy: Option<bool>,
) -> Value {
    let t = now();
    fill_endpoints(pod_def, &mut instance);
    let endpoint = pod_def
        .get("containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
        .and_then(|c| c.get("healthCheck"))
        .and_then(|h| h.get("http").or(h.get("tcp")))
        .and_then(|p| p.get("endpoint"))
        .and_then(Value::as_str)
        .map(str::to_string);
    for c in instance
        .get_mut("containers")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter(|c| c.get("name").and_then(Value::as_str) == Some(container))
    {
        for e in c
            .get_mut("endpoints")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object_mut)
        {
            if e.get("name").and_then(Value::as_str) == endpoint.as_deref() {
                match healthy {
                    Some(h) => e.insert("healthy".into(), json!(h)),
                    None => e.remove("healthy"),
                };
            }
        }
        c["conditions"] = json!([{"name": "healthy", "lastChanged": t, "lastUpdated": t,
            "value": healthy.unwrap_or(false).to_string(),
            "reason": if healthy.is_some() { HEALTH_REPORTED } else { HEALTH_UNREPORTED }}]);
    }
    let unhealthy = instance
        .get("containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|c| {
            c.get("conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .any(|c| {
            c.get("name") == Some(&json!("healthy")) && c.get("value") == Some(&json!("false"))
        });
    if let Some(o) = instance.as_object_mut() {
        if unhealthy {
            o.insert("status".into(), json!("DEGRADED"));
            o.insert(
                "message".into(),
                json!("at least one container is not healthy"),
            );
        } else {
            o.insert("status".into(), json!("STABLE"));
            o.remove("message");
        }
    }
    instance
}

/// Each container status of `inst` lists the endpoints of its container's spec
/// (`ContainerEndpointStatus` `name`) unless it lists some already.
fn fill_endpoints(pod_def: &Value, inst: &mut Value) {
    let spec_endpoints = |name: &str| -> Vec<Value> {
        pod_def
            .get("containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|c| c.get("name").and_then(Value::as_str) == Some(name))
            .flat_map(|c| {
                c.get("endpoints")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            })
            .map(|e| json!({"name": e.get("name").cloned().unwrap_or(Value::Null)}))
            .collect()
    };
    for c in inst
        .get_mut("containers")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let name = c
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let listed = c
            .get("endpoints")
            .and_then(Value::as_array)
            .is_some_and(|e| !e.is_empty());
        if !listed {
            c["endpoints"] = Value::Array(spec_endpoints(&name));
        }
    }
}

/// The `PodStatus` of a pod definition with these instances. Each instance's container
/// statuses list the endpoints of their container's spec (`ContainerEndpointStatus` `name`).
pub fn pod_status(pod_def: &Value, mut instances: Vec<Value>) -> Value {
    let t = now();
    for inst in &mut instances {
        fill_endpoints(pod_def, inst);
    }
    json!({
        "id": pod_def.get("id").cloned().unwrap_or(Value::Null),
        "spec": pod_def,
        "status": "STABLE",
        "statusSince": t,
        "instances": instances,
        "terminationHistory": [],
        "lastUpdated": t,
        "lastChanged": t,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::tests::{get, put_json};

    fn sim_with_apps() -> MarathonSim {
        let sim = MarathonSim::start("127.0.0.1:0").expect("start");
        let legacy = with_tasks(
            legacy_app("/grp/web", CONTRAIL_NETWORK, &[("networks", "blue")]),
            vec![app_task("/grp/web", "node-1", "10.32.0.5", "S1")],
        );
        let modern = with_tasks(
            networks_app(
                "db",
                CONTRAIL_NETWORK,
                &[("networks", "red"), ("project-name", "p")],
            ),
            vec![app_task("/db", "node-2", "10.32.0.6", "S2")],
        );
        sim.set_apps(vec![legacy, modern]).expect("apps");
        sim
    }

    #[test]
    fn apps_carry_tasks_only_when_embedded() {
        let sim = sim_with_apps();
        let (status, plain) = get(&format!("{}/v2/apps", sim.url()));
        assert_eq!(status, 200);
        let apps = plain["apps"].as_array().expect("apps array");
        assert_eq!(apps.len(), 2);
        for app in apps {
            assert!(app.get("tasks").is_none(), "no tasks without embed: {app}");
            assert_eq!(app["tasksRunning"], 1);
            assert_eq!(app["deployments"], json!([]));
        }
        let (_, embedded) = get(&format!("{}/v2/apps?embed=apps.tasks", sim.url()));
        let web = &embedded["apps"][0];
        assert_eq!(web["id"], "/grp/web");
        let task = &web["tasks"][0];
        assert_eq!(task["appId"], "/grp/web");
        assert_eq!(task["state"], "TASK_RUNNING");
        assert_eq!(task["host"], "node-1");
        assert_eq!(task["slaveId"], "S1");
        assert_eq!(
            task["ipAddresses"],
            json!([{"ipAddress": "10.32.0.5", "protocol": "IPv4"}])
        );
        let id = task["id"].as_str().expect("task id");
        assert!(id.starts_with("grp_web."), "task id {id}");
        assert!(uuid::Uuid::parse_str(&id["grp_web.".len()..]).is_ok());
        let (_, filtered) = get(&format!("{}/v2/apps?id=grp&embed=tasks", sim.url()));
        assert_eq!(filtered["apps"].as_array().map(Vec::len), Some(1));
        assert!(filtered["apps"][0]["tasks"].is_array());
    }

    #[test]
    fn app_by_id_with_slashes_and_unknown_app() {
        let sim = sim_with_apps();
        let (status, v) = get(&format!("{}/v2/apps/grp/web", sim.url()));
        assert_eq!(status, 200);
        assert_eq!(v["app"]["id"], "/grp/web");
        assert_eq!(v["app"]["tasks"].as_array().map(Vec::len), Some(1));
        let (status, v) = get(&format!("{}/v2/apps/grp/web/tasks", sim.url()));
        assert_eq!(status, 200);
        assert_eq!(v["tasks"][0]["appId"], "/grp/web");
        let (status, v) = get(&format!("{}/v2/apps/grp/*", sim.url()));
        assert_eq!(status, 200);
        assert_eq!(v["*"][0]["id"], "/grp/web");
        let (status, v) = get(&format!("{}/v2/apps/grp/nope", sim.url()));
        assert_eq!(status, 404);
        assert_eq!(v, json!({"message": "App '/grp/nope' does not exist"}));
        let (status, v) = get(&format!("{}/v2/tasks", sim.url()));
        assert_eq!(status, 200);
        assert_eq!(v["tasks"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn both_network_forms_are_served() {
        let sim = sim_with_apps();
        let (_, web) = get(&format!("{}/v2/apps/grp/web", sim.url()));
        let ip = &web["app"]["ipAddress"];
        assert_eq!(ip["networkName"], CONTRAIL_NETWORK);
        assert_eq!(ip["labels"], json!({"networks": "blue"}));
        assert!(web["app"].get("networks").is_none());
        let (_, db) = get(&format!("{}/v2/apps/db", sim.url()));
        assert_eq!(
            db["app"]["networks"],
            json!([{"name": CONTRAIL_NETWORK, "mode": "container",
                    "labels": {"networks": "red", "project-name": "p"}}])
        );
        assert!(db["app"].get("ipAddress").is_none());
        assert_eq!(db["app"]["container"]["type"], "MESOS");
    }

    #[test]
    fn pods_and_their_status() {
        let sim = MarathonSim::start("127.0.0.1:0").expect("start");
        let def = pod(
            "/grp/pod",
            CONTRAIL_NETWORK,
            &[("networks", "blue")],
            &["a", "b"],
        );
        let inst = pod_instance(
            "/grp/pod",
            "node-3",
            CONTRAIL_NETWORK,
            "10.32.0.9",
            &["a", "b"],
        );
        let status = pod_status(&def, vec![inst]);
        sim.set_pods(vec![def], vec![status]).expect("pods");
        let (code, pods) = get(&format!("{}/v2/pods", sim.url()));
        assert_eq!(code, 200);
        assert_eq!(pods[0]["id"], "/grp/pod");
        assert_eq!(pods[0]["networks"][0]["mode"], "container");
        let (code, all) = get(&format!("{}/v2/pods/::status", sim.url()));
        assert_eq!(code, 200);
        let inst = &all[0]["instances"][0];
        assert_eq!(all[0]["id"], "/grp/pod");
        assert_eq!(all[0]["spec"]["id"], "/grp/pod");
        assert_eq!(inst["agentHostname"], "node-3");
        assert_eq!(inst["status"], "STABLE");
        assert_eq!(
            inst["networks"],
            json!([{"name": CONTRAIL_NETWORK, "addresses": ["10.32.0.9"]}])
        );
        let iid = inst["id"].as_str().expect("instance id");
        assert!(iid.starts_with("grp_pod.instance-"), "{iid}");
        let containers = inst["containers"].as_array().expect("containers");
        assert_eq!(containers.len(), 2);
        assert_eq!(containers[0]["name"], "a");
        assert_eq!(containers[0]["status"], "TASK_RUNNING");
        assert_eq!(containers[0]["containerId"], format!("{iid}.a"));
        let (code, one) = get(&format!("{}/v2/pods/grp/pod::status", sim.url()));
        assert_eq!(code, 200);
        assert_eq!(one["id"], "/grp/pod");
        let (code, missing) = get(&format!("{}/v2/pods/nope::status", sim.url()));
        assert_eq!(code, 404);
        assert_eq!(missing, json!({"message": "Pod '/nope' does not exist"}));
    }

    fn stream(sim: &MarathonSim, types: &[&str]) -> contrail_mesos::clients::marathon::EventStream {
        contrail_mesos::clients::marathon::Marathon::new(
            &sim.url(),
            std::time::Duration::from_secs(5),
        )
        .expect("client")
        .events(types, std::time::Duration::from_secs(5))
        .expect("attached")
    }

    fn next(s: &mut contrail_mesos::clients::marathon::EventStream) -> (String, Value) {
        let e = s.next_sse().expect("read").expect("an event");
        let v: Value = serde_json::from_str(&e.data).expect("JSON data");
        assert_eq!(
            v["eventType"],
            e.name.as_str(),
            "the event name is its type"
        );
        (e.name, v)
    }

    /// The types of the next events, which must be `kinds`.
    fn expect_kinds(s: &mut contrail_mesos::clients::marathon::EventStream, kinds: &[&str]) {
        let got: Vec<String> = kinds.iter().map(|_| next(s).0).collect();
        assert_eq!(got, kinds);
    }

    /// What a pod's creation publishes.
    const POD_CREATED: [&str; 4] = [
        "pod_created_event",
        "status_update_event",
        "instance_changed_event",
        "deployment_success",
    ];

    #[test]
    fn the_event_stream_says_what_changed() {
        let sim = MarathonSim::start("127.0.0.1:0").expect("start");
        let (code, body) = get(&format!("{}/v2/events", sim.url()));
        assert_eq!(code, 405, "without Accept: text/event-stream: {body}");
        let mut s = stream(&sim, &[]);
        let (name, v) = next(&mut s);
        assert_eq!(name, "event_stream_attached");
        assert_eq!(v["remoteAddress"], "127.0.0.1");
        let mapping = port_mapping("http", 8080, "tcp", 10001, &[("VIP_0", "/web:80")]);
        let app = with_port_mappings(networks_app("/web", CONTRAIL_NETWORK, &[]), vec![mapping]);
        let t1 = app_task("/web", "node-1", "10.32.0.5", "S1");
        let t2 = app_task("/web", "node-1", "10.32.0.6", "S1");
        sim.set_apps(vec![with_tasks(app.clone(), vec![t1.clone(), t2.clone()])])
            .expect("apps");
        expect_kinds(
            &mut s,
            &[
                "api_post_event",
                "status_update_event",
                "instance_changed_event",
                "status_update_event",
                "instance_changed_event",
                "deployment_success",
            ],
        );
        // Scaling down (`instances` changes: an API request): the task that went is killed.
        sim.set_apps(vec![with_tasks(app, vec![t1])]).expect("apps");
        assert_eq!(next(&mut s).1["appDefinition"]["instances"], 1);
        let (_, killed) = next(&mut s);
        assert_eq!(killed["taskStatus"], "TASK_KILLED");
        assert_eq!(killed["taskId"], t2["id"]);
        assert_eq!(killed["appId"], "/web");
        assert_eq!(
            killed["ipAddresses"],
            json!([{"ipAddress": "10.32.0.6", "protocol": "IPv4"}])
        );
        assert_eq!(next(&mut s).1["condition"], "Killed");
        assert_eq!(next(&mut s).0, "deployment_success");
        // The app goes: its task is killed and the app terminated.
        sim.set_apps(vec![]).expect("apps");
        expect_kinds(
            &mut s,
            &[
                "status_update_event",
                "instance_changed_event",
                "app_terminated_event",
                "deployment_success",
            ],
        );
        // Only the asked types; events published over the control endpoint as given.
        let mut only = stream(&sim, &["app_terminated_event"]);
        let (code, _) = crate::agent::tests::post_json(
            &format!("{}/_sim/events", sim.url()),
            &json!([{"eventType": "deployment_info"}, {"eventType": "app_terminated_event", "appId": "/x"}]),
        );
        assert_eq!(code, 200);
        let (name, v) = next(&mut only);
        assert_eq!(
            (name.as_str(), v["appId"].as_str()),
            ("app_terminated_event", Some("/x"))
        );
        assert_eq!(sim.event_subscribers(), 2);
    }

    #[test]
    fn pod_changes_and_heartbeats_on_the_event_stream() {
        let sim = MarathonSim::start("127.0.0.1:0").expect("start");
        sim.set_event_heartbeat(Some(std::time::Duration::from_millis(50)));
        let mut s = stream(&sim, &[]);
        assert_eq!(next(&mut s).0, "event_stream_attached");
        let def = with_endpoints(
            pod("/p", CONTRAIL_NETWORK, &[], &["web"]),
            "web",
            vec![endpoint("http", 8080, &["tcp"], &[("VIP_0", "/p:80")])],
        );
        assert_eq!(
            def["containers"][0]["endpoints"][0]["protocol"],
            json!(["tcp"])
        );
        let inst = pod_instance("/p", "node-1", CONTRAIL_NETWORK, "10.32.0.9", &["web"]);
        let status = pod_status(&def, vec![inst]);
        assert_eq!(
            status["instances"][0]["containers"][0]["endpoints"],
            json!([{"name": "http"}])
        );
        sim.set_pods(vec![def], vec![status]).expect("pods");
        expect_kinds(&mut s, &POD_CREATED);
        // Idle: heartbeats (empty lines) keep the stream alive and carry no event.
        let (_, out) = std::thread::scope(|sc| {
            let h = sc.spawn(|| {
                std::thread::sleep(std::time::Duration::from_millis(300));
                sim.publish(&json!({"eventType": "deployment_success", "id": "late"}));
            });
            (h.join(), next(&mut s))
        });
        assert_eq!(out.1["id"], "late");
    }

    /// The emulator's answers (and `tests/fixtures/marathon/pod_status.json`, which has no
    /// published counterpart) against Marathon's RAML: every required property there, none it
    /// does not define.
    #[test]
    fn answers_are_shaped_as_marathons_raml_defines_them() {
        let mut types = raml::parse(include_str!("../../../fixtures/marathon/podStatus.raml"));
        types.extend(raml::parse(include_str!(
            "../../../fixtures/marathon/task.raml"
        )));
        types.extend(raml::parse(include_str!(
            "../../../fixtures/marathon/healthCheck.raml"
        )));
        let sim = MarathonSim::start("127.0.0.1:0").expect("start");
        let def = with_health_check(
            with_endpoints(
                pod("/p", CONTRAIL_NETWORK, &[], &["web", "side"]),
                "web",
                vec![endpoint("http", 8080, &["tcp"], &[("VIP_0", "/p:80")])],
            ),
            "web",
            Some("http"),
        );
        let inst = pod_instance(
            "/p",
            "node-1",
            CONTRAIL_NETWORK,
            "10.32.0.9",
            &["web", "side"],
        );
        let checked = with_container_health(&def, inst.clone(), "web", Some(true));
        let pending = with_container_health(&def, inst, "web", None);
        sim.set_pods(
            vec![def.clone()],
            vec![pod_status(&def, vec![checked, pending])],
        )
        .expect("pods");
        let app = with_health_checks(networks_app("/web", CONTRAIL_NETWORK, &[]), 1);
        let t = app_task("/web", "node-1", "10.32.0.5", "S1");
        sim.set_apps(vec![with_tasks(
            app,
            vec![
                with_health(t.clone(), &[false]),
                json!({"id": "web.2", "appId": "/web",
                "host": "node-1", "state": "TASK_STAGING", "role": "*"}),
            ],
        )])
        .expect("apps");
        let pod_nested = [
            ("instances", "PodInstanceStatus"),
            ("containers", "ContainerStatus"),
            ("endpoints", "ContainerEndpointStatus"),
            ("conditions", "StatusCondition"),
            ("networks", "NetworkStatus"),
        ];
        let (_, statuses) = get(&format!("{}/v2/pods/::status", sim.url()));
        let fixture: Value =
            serde_json::from_str(include_str!("../../../fixtures/marathon/pod_status.json"))
                .expect("fixture");
        let mut wrong = Vec::new();
        for (what, list) in [("emulator", &statuses), ("fixture", &fixture)] {
            for (i, p) in list.as_array().into_iter().flatten().enumerate() {
                wrong.extend(raml::check(
                    &types,
                    "PodStatus",
                    p,
                    &pod_nested,
                    &format!("{what}[{i}]"),
                ));
            }
        }
        let (_, apps) = get(&format!("{}/v2/apps?embed=apps.tasks", sim.url()));
        for (i, t) in apps["apps"][0]["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            wrong.extend(raml::check(
                &types,
                "Task",
                t,
                &[("ipAddresses", "IpAddr"), ("healthCheckResults", "Health")],
                &format!("task[{i}]"),
            ));
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
        // The states the RAML and PodStatusConversion give them.
        let inst = &statuses[0]["instances"];
        assert_eq!(inst[0]["status"], "STABLE");
        assert_eq!(inst[0]["containers"][0]["endpoints"][0]["healthy"], true);
        assert_eq!(inst[1]["status"], "DEGRADED");
        assert_eq!(inst[1]["message"], "at least one container is not healthy");
        assert!(
            inst[1]["containers"][0]["endpoints"][0]
                .get("healthy")
                .is_none()
        );
        assert_eq!(
            inst[1]["containers"][0]["conditions"][0]["reason"],
            "health-unreported-by-mesos"
        );
        // Every task carries its results, empty before the first.
        let tasks = &apps["apps"][0]["tasks"];
        assert_eq!(tasks[1]["healthCheckResults"], json!([]));
        assert_eq!(tasks[0]["healthCheckResults"][0]["alive"], false);
        assert_eq!(apps["apps"][0]["tasksUnhealthy"], 1);
    }

    #[test]
    fn health_changes_publish_marathons_health_events() {
        let sim = MarathonSim::start("127.0.0.1:0").expect("start");
        let app = with_health_checks(networks_app("/web", CONTRAIL_NETWORK, &[]), 1);
        let t = app_task("/web", "node-1", "10.32.0.5", "S1");
        let set = |results: &[bool]| {
            sim.set_apps(vec![with_tasks(
                app.clone(),
                vec![with_health(t.clone(), results)],
            )])
            .expect("apps")
        };
        set(&[]);
        let mut s = stream(&sim, &[]);
        assert_eq!(next(&mut s).0, "event_stream_attached");
        let instance = events::instance_of_task(t["id"].as_str().expect("id"));
        // The first result, alive: the check's status and the instance's health change.
        set(&[true]);
        let (name, v) = next(&mut s);
        assert_eq!(name, "health_status_changed_event");
        assert_eq!(
            (v["appId"].as_str(), v["instanceId"].as_str(), &v["alive"]),
            (Some("/web"), Some(instance.as_str()), &json!(true))
        );
        let (name, v) = next(&mut s);
        assert_eq!(name, "instance_health_changed_event");
        assert_eq!(
            (v["runSpecId"].as_str(), &v["healthy"]),
            (Some("/web"), &json!(true))
        );
        // It fails: both flip; no status update (the task still runs).
        set(&[false]);
        let got: Vec<(String, Value)> = (0..2).map(|_| next(&mut s)).collect();
        assert_eq!(got[0].0, "health_status_changed_event");
        assert_eq!(got[0].1["alive"], false);
        assert_eq!(got[1].0, "instance_health_changed_event");
        assert_eq!(got[1].1["healthy"], false);
        sim.publish(&json!({"eventType": "deployment_info", "id": "marker"}));
        assert_eq!(
            next(&mut s).0,
            "deployment_info",
            "nothing else was published"
        );

        // A pod container's health comes from Mesos: its status update and the instance's
        // health, no instance change (STABLE and DEGRADED are both Running).
        let def = with_health_check(
            with_endpoints(
                pod("/p", CONTRAIL_NETWORK, &[], &["web"]),
                "web",
                vec![endpoint("http", 8080, &["tcp"], &[])],
            ),
            "web",
            Some("http"),
        );
        let inst = pod_instance("/p", "node-1", CONTRAIL_NETWORK, "10.32.0.9", &["web"]);
        let with = |h: Option<bool>| {
            pod_status(
                &def,
                vec![with_container_health(&def, inst.clone(), "web", h)],
            )
        };
        sim.set_pods(vec![def.clone()], vec![with(None)])
            .expect("pods");
        expect_kinds(&mut s, &POD_CREATED);
        sim.set_pods(vec![def.clone()], vec![with(Some(true))])
            .expect("pods");
        let got: Vec<(String, Value)> = (0..3).map(|_| next(&mut s)).collect();
        assert_eq!(got[0].0, "status_update_event");
        assert_eq!(got[0].1["taskStatus"], "TASK_RUNNING");
        assert_eq!(got[1].0, "instance_health_changed_event");
        assert_eq!(got[1].1["healthy"], true);
        assert_eq!(got[2].0, "deployment_success");
    }

    #[test]
    fn content_over_http_and_ping() {
        let sim = MarathonSim::start("127.0.0.1:0").expect("start");
        let app = networks_app("/x", CONTRAIL_NETWORK, &[]);
        let (code, _) = put_json(&format!("{}/_sim/apps", sim.url()), &json!([app]));
        assert_eq!(code, 200);
        let (code, v) = get(&format!("{}/v2/apps/x", sim.url()));
        assert_eq!(code, 200);
        assert_eq!(v["app"]["id"], "/x");
        let (code, _) = put_json(
            &format!("{}/_sim/apps", sim.url()),
            &json!({"not": "a list"}),
        );
        assert_eq!(code, 400);
        let (code, _) = put_json(&format!("{}/_sim/apps", sim.url()), &json!([{"noid": 1}]));
        assert_eq!(code, 400);
        let def = pod("/p", CONTRAIL_NETWORK, &[], &["c"]);
        let (code, _) = put_json(
            &format!("{}/_sim/pods", sim.url()),
            &json!({"pods": [def.clone()], "status": [pod_status(&def, vec![])]}),
        );
        assert_eq!(code, 200);
        let (code, v) = get(&format!("{}/v2/pods/p", sim.url()));
        assert_eq!(code, 200);
        assert_eq!(v["id"], "/p");
        let mut resp = crate::agent::tests::agent()
            .get(format!("{}/ping", sim.url()))
            .call()
            .expect("ping");
        assert_eq!(resp.body_mut().read_to_string().expect("body"), "pong");
        let (code, v) = get(&format!("{}/v2/nothing", sim.url()));
        assert_eq!(code, 404);
        assert_eq!(v["message"], "HTTP 404 Not Found");
    }
}
