//! Emulator of the Mesos master's HTTP state endpoints.
//!
//! Shapes from apache/mesos `src/master/http.cpp` / `src/master/readonly_handler.cpp` (the
//! `/state` writer, `Full<Framework>`, `SlaveWriter`) and `src/common/http.cpp` (`json(Task)`,
//! `json(TaskStatus)`, `json(ContainerStatus)`, `json(NetworkInfo)`):
//! - `GET /master/state` (also `/master/state.json`, `/state`, `/state.json`) → the state object:
//!   `frameworks[{id, name, active, ..., tasks[], unreachable_tasks[], completed_tasks[]}]`,
//!   `completed_frameworks[]`, `slaves[{id, hostname, ...}]`, plus the master's own fields.
//!   Each task is `{id, name, framework_id, executor_id, slave_id, state, resources, role,
//!   statuses[{state, timestamp, container_status{container_id{value, parent?{value}},
//!   network_infos[{ip_addresses[{protocol, ip_address}], name, labels?}]}}]}`. Note that in
//!   this endpoint a `NetworkInfo`'s `labels` is an *array* of `{key, value}` (the `Labels`
//!   writer), unlike the protobuf JSON Mesos hands to CNI plugins (`{"labels":[..]}`).
//! - `GET /master/frameworks` → `{frameworks, completed_frameworks, unregistered_frameworks}`,
//!   `GET /master/slaves` → `{slaves, recovered_slaves}`, `GET /master/tasks` → `{tasks}` (all
//!   tasks of the registered frameworks: active, unreachable and completed), all cut from the
//!   same state. `GET /master/health` / `/health` → 200.
//! - Anything else → 404 with an empty body.
//!
//! The state is set whole (in-process with [`MesosSim::set_state`], over HTTP with
//! `PUT /_sim/state`); the builders below produce upstream-shaped pieces.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use serde_json::{Value, json};

use contrail_mesos::http::server::Server as Service;
use contrail_mesos::http::server::{Handler, Request, Response};

pub use super::{FRAMEWORK_ID, SLAVE_ID};
/// The agent hostname the builders use.
pub const SLAVE_HOSTNAME: &str = "mesos-agent-1";
/// The Mesos version the emulated master reports.
pub const VERSION: &str = "1.11.0";

/// A running Mesos master emulator. Dropping it stops it.
pub struct MesosSim {
    shared: Arc<Shared>,
    service: Service,
}

struct Shared {
    state: Mutex<(Value, u64)>,
}

impl MesosSim {
    /// Listen on `listen` (`host:port`, port 0 picks one). The initial state has no frameworks
    /// and one agent.
    pub fn start(listen: &str) -> Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new((state(Vec::new(), vec![slave(SLAVE_ID, SLAVE_HOSTNAME)]), 0)),
        });
        let for_handler = Arc::clone(&shared);
        let handler: Arc<Handler> = Arc::new(move |req: Request| for_handler.handle(&req));
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

    /// Replace the whole state (an object shaped like `/master/state`, see [`state`]).
    pub fn set_state(&self, state: Value) -> Result<()> {
        check_state(&state)?;
        self.shared.lock().0 = state;
        Ok(())
    }

    /// Shorthand: one active framework (Marathon) with these tasks, on the default agent.
    pub fn set_tasks(&self, tasks: Vec<Value>, completed: Vec<Value>) {
        self.shared.lock().0 = state_with_tasks(tasks, completed);
    }

    pub fn state(&self) -> Value {
        self.shared.lock().0.clone()
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
        self.shared.lock().1
    }
}

fn check_state(v: &Value) -> Result<()> {
    let Some(obj) = v.as_object() else {
        bail!("the state must be a JSON object");
    };
    for key in ["frameworks", "completed_frameworks", "slaves"] {
        if obj.get(key).is_some_and(|x| !x.is_array()) {
            bail!("\"{key}\" must be an array");
        }
    }
    Ok(())
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, (Value, u64)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn handle(&self, req: &Request) -> Response {
        if req.path == "/_sim/state" {
            return match req.method.as_str() {
                "PUT" => match req.json().and_then(|v| check_state(&v).map(|()| v)) {
                    Ok(v) => {
                        self.lock().0 = v;
                        Response::json(200, &json!({}))
                    }
                    Err(e) => Response::text(400, format!("{e:#}\n")),
                },
                "GET" => Response::json(200, &self.lock().0),
                _ => Response::text(405, ""),
            };
        }
        let mut guard = self.lock();
        guard.1 += 1;
        let st = &guard.0;
        if req.method != "GET" {
            return Response::text(405, "");
        }
        match req.path.as_str() {
            "/master/state" | "/master/state.json" | "/state" | "/state.json" => {
                Response::json(200, st)
            }
            "/master/frameworks" | "/frameworks" => Response::json(
                200,
                &json!({
                    "frameworks": array(st, "frameworks"),
                    "completed_frameworks": array(st, "completed_frameworks"),
                    "unregistered_frameworks": array(st, "unregistered_frameworks"),
                }),
            ),
            "/master/slaves" | "/slaves" => Response::json(
                200,
                &json!({
                    "slaves": array(st, "slaves"),
                    "recovered_slaves": array(st, "recovered_slaves"),
                }),
            ),
            "/master/tasks" | "/tasks" => {
                let tasks: Vec<&Value> = array(st, "frameworks")
                    .iter()
                    .flat_map(|f| {
                        ["tasks", "unreachable_tasks", "completed_tasks"]
                            .into_iter()
                            .flat_map(move |k| array(f, k).iter())
                    })
                    .collect();
                Response::json(200, &json!({ "tasks": tasks }))
            }
            "/master/health" | "/health" => Response::text(200, ""),
            _ => Response::text(404, ""),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Builders of upstream-shaped JSON.

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

fn resources(cpus: f64, mem: f64) -> Value {
    json!({"cpus": cpus, "gpus": 0.0, "mem": mem, "disk": 0.0})
}

/// `NetworkInfo` as the state endpoint writes it: one IPv4 address on the Contrail network.
fn network_infos(ip: &str) -> Value {
    json!([{
        "ip_addresses": [{"protocol": "IPv4", "ip_address": ip}],
        "name": super::CONTRAIL_NETWORK,
    }])
}

fn task(task_id: &str, executor_id: &str, state: &str, statuses: Vec<Value>) -> Value {
    json!({
        "id": task_id,
        "name": task_id.split('.').next().unwrap_or(task_id),
        "framework_id": FRAMEWORK_ID,
        "executor_id": executor_id,
        "slave_id": SLAVE_ID,
        "state": state,
        "resources": resources(0.1, 64.0),
        "role": "*",
        "statuses": statuses,
    })
}

/// A running command task (`executor_id` "") in a top-level container, with its IP.
pub fn running_task(task_id: &str, container_id: &str, ip: &str) -> Value {
    task(
        task_id,
        "",
        "TASK_RUNNING",
        vec![json!({
            "state": "TASK_RUNNING",
            "timestamp": now_secs(),
            "container_status": {
                "container_id": {"value": container_id},
                "network_infos": network_infos(ip),
            },
        })],
    )
}

/// A running task of a pod (task group): a nested container whose `parent` is the executor's
/// container, which is the one the CNI plugin ran for (`CNI_CONTAINERID`).
pub fn running_pod_task(
    task_id: &str,
    executor_container_id: &str,
    container_id: &str,
    ip: &str,
) -> Value {
    let executor = task_id.rsplit_once('.').map_or(task_id, |(i, _)| i);
    task(
        task_id,
        &format!("instance-{executor}"),
        "TASK_RUNNING",
        vec![json!({
            "state": "TASK_RUNNING",
            "timestamp": now_secs(),
            "container_status": {
                "container_id": {
                    "value": container_id,
                    "parent": {"value": executor_container_id},
                },
                "network_infos": network_infos(ip),
            },
        })],
    )
}

/// A task that ran in `container_id` and ended in `state` (`TASK_FINISHED`, `TASK_KILLED`,
/// `TASK_FAILED`, `TASK_LOST`, ...): put it in `completed_tasks`.
pub fn terminal_task(task_id: &str, container_id: &str, state: &str) -> Value {
    let t = now_secs();
    task(
        task_id,
        "",
        state,
        vec![
            json!({
                "state": "TASK_RUNNING",
                "timestamp": t - 1.0,
                "container_status": {"container_id": {"value": container_id}},
            }),
            json!({
                "state": state,
                "timestamp": t,
                "container_status": {"container_id": {"value": container_id}},
            }),
        ],
    )
}

/// A registered framework (`Full<Framework>`), with `framework_id` of its tasks set to `id`.
pub fn framework(id: &str, name: &str, tasks: Vec<Value>, completed_tasks: Vec<Value>) -> Value {
    let own = |mut list: Vec<Value>| {
        for t in &mut list {
            if let Some(obj) = t.as_object_mut() {
                obj.insert("framework_id".into(), json!(id));
            }
        }
        list
    };
    let t = now_secs();
    json!({
        "id": id,
        "name": name,
        "used_resources": resources(0.0, 0.0),
        "offered_resources": resources(0.0, 0.0),
        "capabilities": ["PARTITION_AWARE"],
        "hostname": "localhost",
        "webui_url": "",
        "active": true,
        "connected": true,
        "recovered": false,
        "user": "root",
        "failover_timeout": 604800.0,
        "checkpoint": true,
        "registered_time": t,
        "unregistered_time": 0.0,
        "resources": resources(0.0, 0.0),
        "role": "*",
        "tasks": own(tasks),
        "unreachable_tasks": [],
        "completed_tasks": own(completed_tasks),
        "offers": [],
        "executors": [],
    })
}

/// A registered agent (`SlaveWriter`).
pub fn slave(id: &str, hostname: &str) -> Value {
    json!({
        "id": id,
        "hostname": hostname,
        "port": 5051,
        "attributes": {},
        "pid": format!("slave(1)@127.0.0.1:5051"),
        "registered_time": now_secs(),
        "resources": resources(4.0, 8192.0),
        "used_resources": resources(0.0, 0.0),
        "offered_resources": resources(0.0, 0.0),
        "reserved_resources": {},
        "unreserved_resources": resources(4.0, 8192.0),
        "active": true,
        "deactivated": false,
        "version": VERSION,
        "capabilities": ["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"],
    })
}

/// The whole `/master/state` object.
pub fn state(frameworks: Vec<Value>, slaves: Vec<Value>) -> Value {
    let t = now_secs();
    json!({
        "version": VERSION,
        "build_date": "2020-11-11 00:00:00",
        "build_time": 1_605_052_800.0,
        "build_user": "root",
        "start_time": t,
        "elected_time": t,
        "id": "4f0b8c27-5e8d-4c1a-9a3b-7e21d6c0f5aa",
        "pid": "master@127.0.0.1:5050",
        "hostname": "localhost",
        "activated_slaves": slaves.len() as f64,
        "deactivated_slaves": 0.0,
        "unreachable_slaves": 0.0,
        "leader": "master@127.0.0.1:5050",
        "flags": {},
        "slaves": slaves,
        "recovered_slaves": [],
        "frameworks": frameworks,
        "completed_frameworks": [],
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    })
}

/// One active "marathon" framework ([`FRAMEWORK_ID`]) with these tasks, on the default agent.
pub fn state_with_tasks(tasks: Vec<Value>, completed: Vec<Value>) -> Value {
    state(
        vec![framework(FRAMEWORK_ID, "marathon", tasks, completed)],
        vec![slave(SLAVE_ID, SLAVE_HOSTNAME)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::tests::{get, put_json};

    #[test]
    fn state_shape_and_aliases() {
        let sim = MesosSim::start("127.0.0.1:0").expect("start");
        sim.set_tasks(
            vec![running_task("web.1", "c-1", "10.32.0.5")],
            vec![terminal_task("old.1", "c-0", "TASK_FINISHED")],
        );
        for path in ["/master/state", "/state", "/master/state.json"] {
            let (code, st) = get(&format!("{}{path}", sim.url()));
            assert_eq!(code, 200, "{path}");
            let fw = &st["frameworks"][0];
            assert_eq!(fw["id"], FRAMEWORK_ID);
            assert_eq!(fw["name"], "marathon");
            assert_eq!(fw["active"], true);
            assert_eq!(fw["unreachable_tasks"], json!([]));
            let t = &fw["tasks"][0];
            assert_eq!(t["id"], "web.1");
            assert_eq!(t["framework_id"], FRAMEWORK_ID);
            assert_eq!(t["slave_id"], SLAVE_ID);
            assert_eq!(t["executor_id"], "");
            assert_eq!(t["state"], "TASK_RUNNING");
            let cs = &t["statuses"][0]["container_status"];
            assert_eq!(cs["container_id"], json!({"value": "c-1"}));
            assert_eq!(
                cs["network_infos"][0]["ip_addresses"],
                json!([{"protocol": "IPv4", "ip_address": "10.32.0.5"}])
            );
            assert!(t["statuses"][0]["timestamp"].is_f64());
            let done = &fw["completed_tasks"][0];
            assert_eq!(done["state"], "TASK_FINISHED");
            assert_eq!(done["statuses"][1]["state"], "TASK_FINISHED");
            assert_eq!(st["completed_frameworks"], json!([]));
            assert_eq!(st["slaves"][0]["id"], SLAVE_ID);
            assert_eq!(st["slaves"][0]["hostname"], SLAVE_HOSTNAME);
        }
        let (code, tasks) = get(&format!("{}/master/tasks", sim.url()));
        assert_eq!(code, 200);
        assert_eq!(tasks["tasks"].as_array().map(Vec::len), Some(2));
        let (code, _) = get(&format!("{}/master/nothing", sim.url()));
        assert_eq!(code, 404);
    }

    #[test]
    fn nested_container_ids_for_pods() {
        let sim = MesosSim::start("127.0.0.1:0").expect("start");
        let fw = framework(
            "fw-2",
            "marathon",
            vec![running_pod_task(
                "p.instance-1.a",
                "exec-c",
                "child-c",
                "10.32.0.7",
            )],
            vec![],
        );
        sim.set_state(state(vec![fw], vec![slave("S9", "node-9")]))
            .expect("state");
        let (_, st) = get(&format!("{}/master/state", sim.url()));
        let t = &st["frameworks"][0]["tasks"][0];
        assert_eq!(t["framework_id"], "fw-2");
        assert_eq!(t["executor_id"], "instance-p.instance-1");
        assert_eq!(
            t["statuses"][0]["container_status"]["container_id"],
            json!({"value": "child-c", "parent": {"value": "exec-c"}})
        );
        assert_eq!(st["slaves"][0]["hostname"], "node-9");
    }

    #[test]
    fn large_answers_on_a_kept_alive_connection_are_not_delayed() {
        // Responses larger than the HTTP server's 1 KiB write buffer used to stall ~40 ms each
        // (Nagle + delayed ACK); 20 of them would take 800 ms.
        let sim = MesosSim::start("127.0.0.1:0").expect("start");
        let tasks = (0..30)
            .map(|i| running_task(&format!("t.{i}"), &format!("c-{i}"), "10.0.0.1"))
            .collect();
        sim.set_tasks(tasks, vec![]);
        let client = crate::agent::tests::agent();
        let url = format!("{}/master/state", sim.url());
        let t = std::time::Instant::now();
        for _ in 0..20 {
            let mut resp = client.get(&url).call().expect("state");
            let body = resp.body_mut().read_to_string().expect("body");
            assert!(body.len() > 4096);
        }
        let took = t.elapsed();
        assert!(
            took < std::time::Duration::from_millis(400),
            "20 requests took {took:?}"
        );
    }

    #[test]
    fn state_over_http_and_down_up() {
        let sim = MesosSim::start("127.0.0.1:0").expect("start");
        let body = state_with_tasks(vec![running_task("t.1", "c-9", "10.0.0.9")], vec![]);
        let (code, _) = put_json(&format!("{}/_sim/state", sim.url()), &body);
        assert_eq!(code, 200);
        let (code, _) = put_json(&format!("{}/_sim/state", sim.url()), &json!([1]));
        assert_eq!(code, 400);
        let (_, st) = get(&format!("{}/master/state", sim.url()));
        assert_eq!(st["frameworks"][0]["tasks"][0]["id"], "t.1");
        let url = sim.url();
        sim.set_down(true).expect("down");
        assert!(sim.is_down());
        let refused = crate::agent::tests::agent()
            .get(format!("{url}/master/state"))
            .call();
        assert!(refused.is_err(), "a down master refuses connections");
        sim.set_down(false).expect("up");
        assert_eq!(sim.url(), url, "same address after coming back");
        let (code, st) = get(&format!("{url}/master/state"));
        assert_eq!(code, 200);
        assert_eq!(st["frameworks"][0]["tasks"][0]["id"], "t.1");
    }
}
