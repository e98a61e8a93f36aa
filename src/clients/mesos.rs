//! Client of the Mesos master's `GET /master/state`, and the pure reading of its answer.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Result, bail};
use serde::Deserialize;

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

/// What this project reads of `/master/state`, typed: the rest of the (large) answer is skipped
/// while it is read, never held.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct MasterState {
    pub slaves: Vec<Slave>,
    /// `None` when the answer has no `frameworks` list (not a master's answer).
    pub frameworks: Option<Vec<Framework>>,
    pub completed_frameworks: Vec<Framework>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Slave {
    pub id: String,
    pub hostname: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Framework {
    pub tasks: Vec<RawTask>,
    pub unreachable_tasks: Vec<RawTask>,
    pub completed_tasks: Vec<RawTask>,
}

/// A task as the master lists it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct RawTask {
    pub id: String,
    pub name: String,
    pub framework_id: String,
    pub slave_id: String,
    pub state: String,
    pub statuses: Vec<TaskStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct TaskStatus {
    pub container_status: ContainerStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ContainerStatus {
    pub container_id: Option<ContainerId>,
    pub network_infos: Vec<NetworkInfo>,
}

/// A container id and, for a nested container, its parent's.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ContainerId {
    pub value: Option<String>,
    pub parent: Option<Box<ContainerId>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct NetworkInfo {
    pub ip_addresses: Vec<IpAddress>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct IpAddress {
    pub ip_address: Option<String>,
}

/// Every task of every framework, active and completed.
pub fn tasks(state: &MasterState) -> Vec<MasterTask> {
    let hosts: Vec<(&str, &str)> = state
        .slaves
        .iter()
        .map(|s| (s.id.as_str(), s.hostname.as_str()))
        .collect();
    let mut out = Vec::new();
    let frameworks = state
        .frameworks
        .iter()
        .flatten()
        .chain(&state.completed_frameworks);
    for fw in frameworks {
        for (list, live) in [
            (&fw.tasks, true),
            (&fw.unreachable_tasks, true),
            (&fw.completed_tasks, false),
        ] {
            for t in list {
                out.push(task(t, live, &hosts));
            }
        }
    }
    out
}

fn task(t: &RawTask, live: bool, hosts: &[(&str, &str)]) -> MasterTask {
    let mut container_ids: Vec<String> = Vec::new();
    let mut ips: Vec<String> = Vec::new();
    for st in &t.statuses {
        let cs = &st.container_status;
        let mut id = cs.container_id.as_ref();
        while let Some(c) = id {
            if let Some(v) = &c.value
                && !container_ids.iter().any(|x| x == v)
            {
                container_ids.push(v.clone());
            }
            id = c.parent.as_deref();
        }
        for ip in cs.network_infos.iter().flat_map(|ni| &ni.ip_addresses) {
            if let Some(a) = &ip.ip_address
                && !ips.iter().any(|x| x == a)
            {
                ips.push(a.clone());
            }
        }
    }
    MasterTask {
        id: t.id.clone(),
        name: t.name.clone(),
        framework_id: t.framework_id.clone(),
        active: live && !TERMINAL_STATES.contains(&t.state.as_str()),
        state: t.state.clone(),
        host: hosts
            .iter()
            .find(|(id, _)| *id == t.slave_id)
            .map(|(_, h)| h.to_string())
            .unwrap_or_default(),
        container_ids,
        ips,
    }
}

/// Container ids (and their parents) of every task that is still running or may be.
pub fn alive_container_ids(state: &MasterState) -> HashSet<String> {
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
    pub fn state(&self) -> Result<MasterState> {
        let v: MasterState = self.0.get_typed("/master/state")?;
        if v.frameworks.is_none() {
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

    fn state() -> MasterState {
        serde_json::from_value(json!({
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
        }))
        .expect("a master state")
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
