//! The Mesos master's `GET /master/state`, typed: the frameworks' tasks with the containers
//! and addresses of their statuses, and the agents; reconciliation, the VIP loop and `status`
//! read these types.
//!
//! Shapes from apache/mesos `src/master/readonly_handler.cpp` (the `/state` writer, `Full<
//! Framework>`, `SlaveWriter`) and `src/common/http.cpp` (`json(Task)`, `json(TaskStatus)`,
//! `json(ContainerStatus)`, `json(NetworkInfo)`); upstream's one published example
//! (`docs/endpoints/master/state.md`) is a test fixture. Only the fields read here are kept
//! (the rest of a large answer is skipped as it is read); `frameworks` is required, so an
//! answer that is not a master's state never reads as "nothing runs".

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

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

/// Whether a task in `state` is over.
pub fn is_terminal(state: &str) -> bool {
    TERMINAL_STATES.contains(&state)
}

/// `GET /master/state`, what this project reads of it: the frameworks' tasks.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct MasterState {
    pub frameworks: Vec<Framework>,
    #[serde(default)]
    pub completed_frameworks: Vec<Framework>,
}

/// A framework's tasks.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Framework {
    pub tasks: Vec<Task>,
    pub unreachable_tasks: Vec<Task>,
    pub completed_tasks: Vec<Task>,
}

/// A task as the master lists it (`json(Task)`): its id, state and the containers and
/// addresses of its statuses.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Task {
    pub id: String,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub statuses: Vec<TaskStatus>,
}

/// `json(TaskStatus)`: only its container.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct TaskStatus {
    pub container_status: Option<ContainerStatus>,
}

/// `json(ContainerStatus)`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ContainerStatus {
    pub container_id: Option<ContainerId>,
    pub network_infos: Vec<NetworkInfo>,
}

/// A container id and, for a nested container (a pod's task under its executor), its
/// parent's.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ContainerId {
    pub value: String,
    #[serde(default)]
    pub parent: Option<Box<ContainerId>>,
}

/// `json(NetworkInfo)`: the addresses (the CNI result's, as Mesos learnt them).
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

/// Where the master lists a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    Active,
    Unreachable,
    Completed,
}

/// A task of the state, with where it is listed.
#[derive(Debug, Clone, Copy)]
pub struct TaskRef<'a> {
    pub task: &'a Task,
    pub listed: Listed,
}

fn push_once<'a>(list: &mut Vec<&'a str>, v: &'a str) {
    if !list.contains(&v) {
        list.push(v);
    }
}

impl<'a> TaskRef<'a> {
    pub fn id(&self) -> &'a str {
        &self.task.id
    }

    /// Still running or may be: listed under `tasks` or `unreachable_tasks`, in a state short
    /// of terminal.
    pub fn active(&self) -> bool {
        self.listed != Listed::Completed && !is_terminal(&self.task.state)
    }

    /// Container ids of its statuses, each with its parents (a pod's executor), each once.
    pub fn container_ids(&self) -> Vec<&'a str> {
        let mut out = Vec::new();
        for cs in self.task.statuses.iter().flat_map(|s| &s.container_status) {
            let mut id = cs.container_id.as_ref();
            while let Some(c) = id {
                push_once(&mut out, &c.value);
                id = c.parent.as_deref();
            }
        }
        out
    }

    /// Addresses of its statuses' `network_infos`, each once.
    pub fn ips(&self) -> Vec<&'a str> {
        let mut out = Vec::new();
        for a in self
            .task
            .statuses
            .iter()
            .flat_map(|s| &s.container_status)
            .flat_map(|cs| &cs.network_infos)
            .flat_map(|n| &n.ip_addresses)
            .filter_map(|a| a.ip_address.as_deref())
        {
            push_once(&mut out, a);
        }
        out
    }
}

fn listed(list: &[Task], listed: Listed) -> impl Iterator<Item = TaskRef<'_>> {
    list.iter().map(move |task| TaskRef { task, listed })
}

impl MasterState {
    /// Every task of every framework, registered or completed: active, unreachable and
    /// completed ones.
    pub fn tasks(&self) -> impl Iterator<Item = TaskRef<'_>> {
        self.frameworks
            .iter()
            .chain(&self.completed_frameworks)
            .flat_map(|fw| {
                listed(&fw.tasks, Listed::Active)
                    .chain(listed(&fw.unreachable_tasks, Listed::Unreachable))
                    .chain(listed(&fw.completed_tasks, Listed::Completed))
            })
    }

    /// The tasks by task id. A task id listed twice (a completed copy of a running task):
    /// the active entry wins.
    pub fn by_task_id(&self) -> HashMap<&str, TaskRef<'_>> {
        let mut out: HashMap<&str, TaskRef<'_>> = HashMap::new();
        for t in self.tasks() {
            let keep = out.get(t.id()).is_some_and(|old| old.active());
            if !keep {
                out.insert(t.id(), t);
            }
        }
        out
    }

    /// Container ids (and their parents) of every task that is still running or may be.
    pub fn alive_container_ids(&self) -> HashSet<&str> {
        self.tasks()
            .filter(TaskRef::active)
            .flat_map(|t| t.container_ids())
            .collect()
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
                 "statuses": [{"container_status": {"container_id": {"value": "c-completed"}}}]},
                 {"id": "web.1", "state": "TASK_KILLED",
                 "statuses": [{"container_status": {"container_id": {"value": "c-running"}}}]}]}]
        }))
        .expect("a master state")
    }

    #[test]
    fn alive_ids_include_parents_and_skip_terminal_and_completed() {
        let s = state();
        let alive = s.alive_container_ids();
        for id in ["c-running", "child", "c-pod-executor", "c-unreachable"] {
            assert!(alive.contains(id), "{id} must count as alive");
        }
        for id in ["c-killed", "c-completed"] {
            assert!(!alive.contains(id), "{id} must count as gone");
        }
    }

    #[test]
    fn task_details() {
        let s = state();
        let by_id = s.by_task_id();
        let web = by_id["web.1"];
        assert!(web.active(), "the running entry wins over a completed copy");
        assert_eq!(web.ips(), ["5.5.5.3"]);
        assert_eq!(by_id["pod.1"].container_ids(), ["child", "c-pod-executor"]);
        assert!(!by_id["dead.1"].active());
    }

    /// Upstream's published `/master/state` example (`tests/fixtures/mesos`): a master with no
    /// frameworks runs nothing.
    #[test]
    fn mesos_state_example() {
        let s: MasterState =
            serde_json::from_str(include_str!("../../tests/fixtures/mesos/master_state.json"))
                .expect("upstream's example reads");
        assert!(s.frameworks.is_empty() && s.completed_frameworks.is_empty());
        assert_eq!(s.tasks().count(), 0);
        assert!(s.alive_container_ids().is_empty());
    }

    #[test]
    fn an_answer_without_frameworks_is_no_state() {
        let e =
            serde_json::from_value::<MasterState>(json!({"slaves": []})).expect_err("not a state");
        assert!(e.to_string().contains("frameworks"), "{e}");
    }
}
