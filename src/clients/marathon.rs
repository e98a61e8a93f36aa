//! Client of Marathon's REST API (`/v2/apps?embed=apps.tasks`, `/v2/pods/::status`), and the
//! pure reading of its answers.

use std::time::Duration;

use anyhow::{Result, bail};
use serde_json::Value;

use crate::http::client::JsonPeer;

/// One running app task or pod instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Instance {
    /// `app` or `pod`.
    pub kind: &'static str,
    /// The app or pod id (`/grp/web`).
    pub owner: String,
    /// Task id (apps) or instance id (pods).
    pub id: String,
    pub host: String,
    pub state: String,
    pub ips: Vec<String>,
    /// The CNI network names the app or pod asked for.
    pub networks: Vec<String>,
    /// Mesos task ids (apps: the task id; pods: `<instance>.<container>` ids when known).
    pub task_ids: Vec<String>,
}

/// The CNI network names an app asks for: the 1.5+ `networks` list or the legacy `ipAddress`.
pub fn app_networks(app: &Value) -> Vec<String> {
    let mut out: Vec<String> = app["networks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["mode"].as_str().unwrap_or("container") == "container")
        .filter_map(|n| n["name"].as_str().map(str::to_string))
        .collect();
    if let Some(n) = app["ipAddress"]["networkName"].as_str() {
        out.push(n.to_string());
    }
    out
}

/// App tasks from `GET /v2/apps?embed=apps.tasks`.
pub fn app_instances(apps: &Value) -> Vec<Instance> {
    let mut out = Vec::new();
    for app in apps["apps"].as_array().into_iter().flatten() {
        let owner = app["id"].as_str().unwrap_or_default().to_string();
        let networks = app_networks(app);
        for t in app["tasks"].as_array().into_iter().flatten() {
            let id = t["id"].as_str().unwrap_or_default().to_string();
            out.push(Instance {
                kind: "app",
                owner: owner.clone(),
                host: t["host"].as_str().unwrap_or_default().to_string(),
                state: t["state"].as_str().unwrap_or_default().to_string(),
                ips: t["ipAddresses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a["ipAddress"].as_str().map(str::to_string))
                    .collect(),
                networks: networks.clone(),
                task_ids: vec![id.clone()],
                id,
            });
        }
    }
    out
}

/// Pod instances from `GET /v2/pods/::status`.
pub fn pod_instances(statuses: &Value) -> Vec<Instance> {
    let mut out = Vec::new();
    for pod in statuses.as_array().into_iter().flatten() {
        let owner = pod["id"].as_str().unwrap_or_default().to_string();
        let networks: Vec<String> = pod["spec"]["networks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["name"].as_str().map(str::to_string))
            .collect();
        for inst in pod["instances"].as_array().into_iter().flatten() {
            let mut ips = Vec::new();
            for n in inst["networks"].as_array().into_iter().flatten() {
                for a in n["addresses"].as_array().into_iter().flatten() {
                    if let Some(a) = a.as_str()
                        && !ips.iter().any(|x| x == a)
                    {
                        ips.push(a.to_string());
                    }
                }
            }
            let containers: Vec<&Value> = inst["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .collect();
            out.push(Instance {
                kind: "pod",
                owner: owner.clone(),
                id: inst["id"].as_str().unwrap_or_default().to_string(),
                host: inst["agentHostname"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                state: inst["status"].as_str().unwrap_or_default().to_string(),
                ips,
                networks: networks.clone(),
                task_ids: containers
                    .iter()
                    .filter_map(|c| c["containerId"].as_str().map(str::to_string))
                    .collect(),
            });
        }
    }
    out
}

pub struct Marathon(JsonPeer);

impl Marathon {
    pub fn new(url: &str, timeout: Duration) -> Result<Self> {
        Ok(Self(JsonPeer::new("Marathon", url, timeout)?))
    }

    pub fn url(&self) -> &str {
        self.0.url()
    }

    /// App tasks and pod instances.
    pub fn instances(&self) -> Result<Vec<Instance>> {
        let apps = self.0.get_json("/v2/apps?embed=apps.tasks")?;
        if !apps["apps"].is_array() {
            bail!(
                "Marathon {}/v2/apps answered without an apps list",
                self.url()
            );
        }
        let mut out = app_instances(&apps);
        out.extend(pod_instances(&self.0.get_json("/v2/pods/::status")?));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_app_network_forms() {
        let legacy = json!({"id": "/a", "ipAddress": {"networkName": "contrail-cni-plugin", "labels": {"networks": "blue"}}});
        let modern = json!({"id": "/b", "networks": [{"mode": "container", "name": "contrail-cni-plugin"}, {"mode": "host"}]});
        assert_eq!(app_networks(&legacy), vec!["contrail-cni-plugin"]);
        assert_eq!(app_networks(&modern), vec!["contrail-cni-plugin"]);
    }

    #[test]
    fn apps_and_pods_become_instances() {
        let apps = json!({"apps": [{"id": "/web", "networks": [{"mode": "container", "name": "n"}],
            "tasks": [{"id": "web.1", "host": "a1", "state": "TASK_RUNNING",
                       "ipAddresses": [{"ipAddress": "5.5.5.3", "protocol": "IPv4"}]}]}]});
        let i = app_instances(&apps);
        assert_eq!(i.len(), 1);
        assert_eq!(
            (
                i[0].owner.as_str(),
                i[0].ips[0].as_str(),
                i[0].host.as_str()
            ),
            ("/web", "5.5.5.3", "a1")
        );
        let pods = json!([{"id": "/pod", "spec": {"networks": [{"name": "n", "mode": "container"}]},
            "instances": [{"id": "pod.inst-1", "status": "STABLE", "agentHostname": "a2",
                "containers": [{"name": "c1", "containerId": "pod.inst-1.c1"}],
                "networks": [{"name": "n", "addresses": ["5.5.5.4"]}]}]}]);
        let p = pod_instances(&pods);
        assert_eq!(p[0].kind, "pod");
        assert_eq!(p[0].ips, vec!["5.5.5.4"]);
        assert_eq!(p[0].task_ids, vec!["pod.inst-1.c1"]);
    }
}
