//! Client of the Mesos master's `GET /master/state`, and the pure reading of its answer.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Result, bail};
use serde_json::Value;

use crate::http::client::JsonPeer;

/// Task states after which a task's container is gone.
pub const TERMINAL_STATES: &[&str] = &[
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_LOST",
    "TASK_ERROR",
    "TASK_DROPPED",
    "TASK_GONE",
    "TASK_GONE_BY_OPERATOR",
];

/// One task the master reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MasterTask {
    pub id: String,
    pub name: String,
    pub framework_id: String,
    pub state: String,
    /// The agent's host name.
    pub host: String,
    /// Container ids from the latest status: the task's own and every parent (pod executors).
    pub container_ids: Vec<String>,
    /// Addresses from `container_status.network_infos[].ip_addresses[]`.
    pub ips: Vec<String>,
    /// Reported under `tasks` (not `completed_tasks`) with a non-terminal state.
    pub active: bool,
}

/// Every task of every framework, active and completed.
pub fn tasks(state: &Value) -> Vec<MasterTask> {
    let hosts: Vec<(String, String)> = state["slaves"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            Some((
                s["id"].as_str()?.to_string(),
                s["hostname"].as_str()?.to_string(),
            ))
        })
        .collect();
    let mut out = Vec::new();
    let frameworks = ["frameworks", "completed_frameworks"]
        .iter()
        .flat_map(|k| state[k].as_array().into_iter().flatten());
    for fw in frameworks {
        for (list, live) in [
            ("tasks", true),
            ("unreachable_tasks", true),
            ("completed_tasks", false),
        ] {
            for t in fw[list].as_array().into_iter().flatten() {
                out.push(task(t, live, &hosts));
            }
        }
    }
    out
}

fn task(t: &Value, live: bool, hosts: &[(String, String)]) -> MasterTask {
    let state = t["state"].as_str().unwrap_or_default().to_string();
    let mut container_ids = Vec::new();
    let mut ips = Vec::new();
    for st in t["statuses"].as_array().into_iter().flatten() {
        let cs = &st["container_status"];
        let mut id = &cs["container_id"];
        while let Some(v) = id["value"].as_str() {
            if !container_ids.iter().any(|c| c == v) {
                container_ids.push(v.to_string());
            }
            id = &id["parent"];
        }
        for ni in cs["network_infos"].as_array().into_iter().flatten() {
            for ip in ni["ip_addresses"].as_array().into_iter().flatten() {
                if let Some(a) = ip["ip_address"].as_str()
                    && !ips.iter().any(|x| x == a)
                {
                    ips.push(a.to_string());
                }
            }
        }
    }
    let slave = t["slave_id"].as_str().unwrap_or_default();
    MasterTask {
        id: t["id"].as_str().unwrap_or_default().to_string(),
        name: t["name"].as_str().unwrap_or_default().to_string(),
        framework_id: t["framework_id"].as_str().unwrap_or_default().to_string(),
        active: live && !TERMINAL_STATES.contains(&state.as_str()),
        state,
        host: hosts
            .iter()
            .find(|(id, _)| id == slave)
            .map(|(_, h)| h.clone())
            .unwrap_or_default(),
        container_ids,
        ips,
    }
}

/// Container ids (and their parents) of every task that is still running or may be.
pub fn alive_container_ids(state: &Value) -> HashSet<String> {
    tasks(state)
        .into_iter()
        .filter(|t| t.active)
        .flat_map(|t| t.container_ids)
        .collect()
}

/// The master's HTTP API.
pub struct MesosMaster(JsonPeer);

impl MesosMaster {
    pub fn new(url: &str, timeout: Duration) -> Result<Self> {
        Ok(Self(JsonPeer::new("Mesos master", url, timeout)?))
    }

    pub fn url(&self) -> &str {
        self.0.url()
    }

    /// `GET /master/state`. An answer without a `frameworks` list is an error, so a proxy page
    /// or a half-started master never looks like "nothing runs".
    pub fn state(&self) -> Result<Value> {
        let v = self.0.get_json("/master/state")?;
        if !v["frameworks"].is_array() {
            bail!(
                "Mesos master {}/master/state answered without a frameworks list",
                self.url()
            );
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state() -> Value {
        json!({
            "slaves": [{"id": "s1", "hostname": "agent1"}],
            "frameworks": [{"id": "fw", "tasks": [
                {"id": "web.1", "framework_id": "fw", "slave_id": "s1", "state": "TASK_RUNNING",
                 "statuses": [{"state": "TASK_RUNNING", "container_status": {
                    "container_id": {"value": "c-running"},
                    "network_infos": [{"ip_addresses": [{"protocol": "IPv4", "ip_address": "5.5.5.3"}]}]}}]},
                {"id": "pod.1", "framework_id": "fw", "slave_id": "s1", "state": "TASK_STAGING",
                 "statuses": [{"state": "TASK_STARTING", "container_status": {
                    "container_id": {"value": "child", "parent": {"value": "c-pod-executor"}}}}]},
                {"id": "dead.1", "state": "TASK_KILLED",
                 "statuses": [{"container_status": {"container_id": {"value": "c-killed"}}}]}
            ],
            "unreachable_tasks": [{"id": "u.1", "state": "TASK_UNREACHABLE",
                 "statuses": [{"container_status": {"container_id": {"value": "c-unreachable"}}}]}],
            "completed_tasks": [{"id": "old.1", "state": "TASK_RUNNING",
                 "statuses": [{"container_status": {"container_id": {"value": "c-completed"}}}]}]}]
        })
    }

    #[test]
    fn alive_ids_include_parents_and_skip_terminal_and_completed() {
        let alive = alive_container_ids(&state());
        for id in ["c-running", "child", "c-pod-executor", "c-unreachable"] {
            assert!(alive.contains(id), "{id} must count as alive");
        }
        for id in ["c-killed", "c-completed"] {
            assert!(!alive.contains(id), "{id} must count as gone");
        }
    }

    #[test]
    fn task_details() {
        let t = tasks(&state());
        let web = t.iter().find(|t| t.id == "web.1").expect("web task");
        assert_eq!(web.host, "agent1");
        assert_eq!(web.ips, vec!["5.5.5.3"]);
        assert!(web.active);
    }

    #[test]
    fn unreachable_master_names_its_url() {
        let m = MesosMaster::new("http://127.0.0.1:1/", Duration::from_secs(2)).expect("client");
        let e = m.state().expect_err("nothing listens");
        assert!(
            format!("{e:#}").contains("http://127.0.0.1:1/master/state"),
            "{e:#}"
        );
    }
}
