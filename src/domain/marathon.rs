//! Marathon's REST API v2, typed: the apps with their tasks (`GET /v2/apps?embed=apps.tasks`),
//! the pods' status (`GET /v2/pods/::status`) and the events of `/v2/events`, as far as this
//! project reads them; `status`, the VIP loop and their tests all read these types.
//!
//! Shapes from mesosphere/marathon @ 90619da (`docs/docs/rest-api/public/api/v2/types/`):
//! `app.raml` (`App`), `appContainer.raml` (`Container`, `ContainerPortMapping`),
//! `network.raml` (`Network`, `IpAddress`, `IpDiscoveryPort`, `Endpoint`), `task.raml`
//! (`Task`, `IpAddr`), `healthCheck.raml` (`AppHealthCheck`, `Health`, `HealthCheck`),
//! `pod.raml`, `podContainer.raml`, `podStatus.raml` (`PodStatus`, `PodInstanceStatus`,
//! `ContainerStatus`, `ContainerEndpointStatus`, `StatusCondition`, `NetworkStatus`), and the
//! writers behind them (`raml/TaskConversion.scala`, `raml/HealthConversion.scala`,
//! `raml/PodStatusConversion.scala`, `api/v2/json/Formats.scala` `eventToJson`).
//!
//! Reading: unknown fields are skipped (each Marathon release adds some), an optional field
//! may be absent or `null`; a field RAML requires and this project needs (an app's or task's
//! `id`, a health result's `alive`) missing, or any field of the wrong type, is an error that
//! names it, so a proxy page or a half-written answer never reads as "nothing runs". Only the
//! fields read here are kept: the answer is read straight from the wire into these types, never
//! through a JSON tree (50,000 tasks cost their few strings each, not their whole JSON).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Deserializer, Serialize};

/// `null` where Marathon writes it for an absent optional collection: the empty one.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Labels (`label.raml` `KVLabels`): string keys and values.
pub type Labels = BTreeMap<String, String>;

/// `GET /v2/apps`: `{"apps": [App..]}` (`AppList`); `apps` is required.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct AppList {
    pub apps: Vec<App>,
}

/// An app (`app.raml` `App`, rendered as `AppInfo`), with its tasks when embedded.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct App {
    pub id: String,
    /// Marathon 1.5+: the networks the tasks join.
    #[serde(default, deserialize_with = "nullable")]
    pub networks: Vec<Network>,
    /// Marathon 0.14 .. 1.4: IP-per-task (deprecated, still answered).
    #[serde(default)]
    pub ip_address: Option<IpAddress>,
    #[serde(default)]
    pub container: Option<Container>,
    #[serde(default, deserialize_with = "nullable")]
    pub health_checks: Vec<AppHealthCheck>,
    /// Present with `embed=apps.tasks`.
    #[serde(default, deserialize_with = "nullable")]
    pub tasks: Vec<Task>,
}

/// `network.raml` `Network`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    #[serde(default)]
    pub name: Option<String>,
    /// `container` (the default), `container/bridge` or `host`.
    #[serde(default = "container_mode")]
    pub mode: String,
    #[serde(default, deserialize_with = "nullable")]
    pub labels: Labels,
}

fn container_mode() -> String {
    "container".into()
}

impl Default for Network {
    fn default() -> Self {
        Network {
            name: None,
            mode: container_mode(),
            labels: Labels::new(),
        }
    }
}

impl Network {
    /// A named container network (what a CNI plugin serves).
    pub fn is_container(&self) -> bool {
        self.mode == "container"
    }
}

/// `network.raml` `IpAddress`: the legacy IP-per-task form.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpAddress {
    #[serde(default)]
    pub network_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub labels: Labels,
    #[serde(default)]
    pub discovery: Option<IpDiscovery>,
}

/// `network.raml` `IpDiscovery`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct IpDiscovery {
    #[serde(default, deserialize_with = "nullable")]
    pub ports: Vec<IpDiscoveryPort>,
}

/// `network.raml` `IpDiscoveryPort`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct IpDiscoveryPort {
    #[serde(default)]
    pub number: u32,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "tcp")]
    pub protocol: String,
    #[serde(default, deserialize_with = "nullable")]
    pub labels: Labels,
}

fn tcp() -> String {
    "tcp".into()
}

/// `appContainer.raml` `Container`: only its port mappings are read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub port_mappings: Vec<PortMapping>,
}

/// `appContainer.raml` `ContainerPortMapping`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    #[serde(default)]
    pub container_port: u32,
    #[serde(default)]
    pub host_port: Option<u32>,
    #[serde(default)]
    pub service_port: Option<u32>,
    /// `tcp` (the default), `udp` or `udp,tcp`.
    #[serde(default = "tcp")]
    pub protocol: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub labels: Labels,
}

/// `healthCheck.raml` `AppHealthCheck`: only its protocol is kept (that there is one is what
/// counts).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct AppHealthCheck {
    /// `HTTP` (the default), `HTTPS`, `TCP`, `COMMAND`, `MESOS_HTTP`, `MESOS_HTTPS`,
    /// `MESOS_TCP`.
    #[serde(default)]
    pub protocol: Option<String>,
}

/// `task.raml` `Task` (an app task as `/v2/apps?embed=apps.tasks` and `/v2/tasks` render it,
/// `TaskConversion.enrichedTaskRamlWrite`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// The Mesos task id.
    pub id: String,
    #[serde(default)]
    pub host: String,
    /// A Mesos task state (`TASK_RUNNING`..); Marathon before 0.8 wrote none (empty here).
    #[serde(default)]
    pub state: String,
    #[serde(default, deserialize_with = "nullable")]
    pub ip_addresses: Vec<TaskIpAddress>,
    /// Host ports.
    #[serde(default, deserialize_with = "nullable")]
    pub ports: Vec<u32>,
    /// The results of the app's health checks, one per check that reported: absent (older
    /// Marathon) or empty (1.5+, `EnrichedTaskWritesTest`) while none has, as in the grace
    /// period.
    #[serde(default)]
    pub health_check_results: Option<Vec<Health>>,
}

/// `task.raml` `IpAddr` (its `protocol` is not kept).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskIpAddress {
    pub ip_address: String,
}

/// `healthCheck.raml` `Health`: one health check's result for a task
/// (`raml/HealthConversion.scala`; `core/health/Health.scala`: `alive` when the last success
/// is later than the last failure).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub alive: bool,
    #[serde(default)]
    pub consecutive_failures: u32,
    /// Marathon 1.4+ (`taskId` before).
    #[serde(default, alias = "taskId")]
    pub instance_id: Option<String>,
    #[serde(default)]
    pub first_success: Option<String>,
    #[serde(default)]
    pub last_success: Option<String>,
    #[serde(default)]
    pub last_failure: Option<String>,
    #[serde(default)]
    pub last_failure_cause: Option<String>,
}

/// Where a task stands with health checks, as marathon-lb reads it (`marathon_lb.py`
/// `get_apps`: an app with `healthChecks` serves a task only once it has
/// `healthCheckResults` and every one is `alive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealthState {
    /// The app (or the pod container) has no health check.
    Unchecked,
    /// It has, and no result is in yet (just started, grace period).
    Pending,
    /// Every result is alive.
    Healthy,
    /// A result is not alive.
    Unhealthy,
}

impl HealthState {
    /// Whether a task in this state may serve (be a VIP member).
    pub fn serves(self) -> bool {
        matches!(self, HealthState::Unchecked | HealthState::Healthy)
    }
}

impl Task {
    /// The task's addresses, in Marathon's order.
    pub fn ips(&self) -> impl Iterator<Item = &str> {
        self.ip_addresses.iter().map(|a| a.ip_address.as_str())
    }

    /// The address a member gets: the first IPv4 one, else the first.
    pub fn address(&self) -> Option<IpAddr> {
        first_address(self.ips())
    }

    /// Its health, for an app with `checks` health checks. Marathon 1.5+ writes `[]` where
    /// older releases left the key out: both mean no result yet.
    pub fn health(&self, checks: usize) -> HealthState {
        if checks == 0 {
            return HealthState::Unchecked;
        }
        match self.health_check_results.as_deref() {
            None | Some([]) => HealthState::Pending,
            Some(results) if results.iter().all(|h| h.alive) => HealthState::Healthy,
            Some(_) => HealthState::Unhealthy,
        }
    }
}

/// The first IPv4 address of a list, else its first address; unparsable entries are skipped.
pub fn first_address<'a>(list: impl Iterator<Item = &'a str>) -> Option<IpAddr> {
    let mut first = None;
    for a in list.filter_map(|a| a.parse::<IpAddr>().ok()) {
        if a.is_ipv4() {
            return Some(a);
        }
        first.get_or_insert(a);
    }
    first
}

impl App {
    /// The CNI network names the app asks for: its container networks, or the legacy
    /// `ipAddress.networkName`.
    pub fn cni_networks(&self) -> impl Iterator<Item = &str> {
        self.networks
            .iter()
            .filter(|n| n.is_container())
            .filter_map(|n| n.name.as_deref())
            .chain(
                self.ip_address
                    .as_ref()
                    .and_then(|i| i.network_name.as_deref()),
            )
    }

    /// On a container network (its tasks get an address of their own).
    pub fn on_container_network(&self) -> bool {
        self.cni_networks().next().is_some()
    }

    /// Its container port mappings.
    pub fn port_mappings(&self) -> &[PortMapping] {
        self.container
            .as_ref()
            .map(|c| c.port_mappings.as_slice())
            .unwrap_or_default()
    }

    /// The legacy `ipAddress.discovery.ports`.
    pub fn discovery_ports(&self) -> &[IpDiscoveryPort] {
        self.ip_address
            .as_ref()
            .and_then(|i| i.discovery.as_ref())
            .map(|d| d.ports.as_slice())
            .unwrap_or_default()
    }

    /// A task's health, with this app's health checks.
    pub fn task_health(&self, task: &Task) -> HealthState {
        task.health(self.health_checks.len())
    }
}

/// `GET /v2/pods/::status`: `[PodStatus..]`.
pub type PodStatusList = Vec<PodStatus>;

/// `podStatus.raml` `PodStatus`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct PodStatus {
    pub id: String,
    /// The pod's definition (`pod.raml` `Pod`).
    pub spec: Pod,
    /// `DEGRADED`, `STABLE` or `TERMINAL`.
    #[serde(default)]
    pub status: String,
    #[serde(default, deserialize_with = "nullable")]
    pub instances: Vec<PodInstance>,
}

/// `pod.raml` `Pod`: its networks and containers.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Pod {
    #[serde(default)]
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub networks: Vec<Network>,
    #[serde(default, deserialize_with = "nullable")]
    pub containers: Vec<PodContainer>,
}

/// `podContainer.raml` `PodContainer`: its name, endpoints and health check.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodContainer {
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub endpoints: Vec<Endpoint>,
    #[serde(default)]
    pub health_check: Option<PodHealthCheck>,
}

/// `network.raml` `Endpoint`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub name: String,
    #[serde(default)]
    pub container_port: Option<u32>,
    #[serde(default)]
    pub host_port: Option<u32>,
    /// Left out when empty (`pragma.omitEmpty`): `tcp`.
    #[serde(default, deserialize_with = "nullable")]
    pub protocol: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub labels: Labels,
}

impl Endpoint {
    /// Its protocols (`["tcp"]` when none is given).
    pub fn protocols(&self) -> impl Iterator<Item = &str> {
        let default: &[&str] = if self.protocol.is_empty() {
            &["tcp"]
        } else {
            &[]
        };
        self.protocol
            .iter()
            .map(String::as_str)
            .chain(default.iter().copied())
    }
}

/// `healthCheck.raml` `HealthCheck` (a pod container's): HTTP or TCP on an endpoint, or a
/// command.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct PodHealthCheck {
    #[serde(default)]
    pub http: Option<EndpointCheck>,
    #[serde(default)]
    pub tcp: Option<EndpointCheck>,
    #[serde(default)]
    pub exec: Option<serde::de::IgnoredAny>,
}

/// `check.raml` `HttpCheck` / `TcpCheck`: the endpoint checked.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct EndpointCheck {
    #[serde(default)]
    pub endpoint: String,
}

impl PodHealthCheck {
    /// The endpoint an HTTP or TCP check probes (`PodStatusConversion.healthCheckEndpoint`).
    pub fn endpoint(&self) -> Option<&str> {
        self.http
            .as_ref()
            .or(self.tcp.as_ref())
            .map(|c| c.endpoint.as_str())
    }
}

/// `podStatus.raml` `PodInstanceStatus`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodInstance {
    pub id: String,
    /// `PENDING`, `STAGING`, `STABLE`, `DEGRADED` or `TERMINAL`.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub agent_hostname: Option<String>,
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub networks: Vec<NetworkStatus>,
    #[serde(default, deserialize_with = "nullable")]
    pub containers: Vec<ContainerStatus>,
}

/// `podStatus.raml` `NetworkStatus`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct NetworkStatus {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub addresses: Vec<String>,
}

/// `podStatus.raml` `ContainerStatus` (`PodStatusConversion.taskToContainerStatus`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    pub name: String,
    /// The Mesos task state (`TASK_RUNNING`..).
    #[serde(default)]
    pub status: String,
    /// The Mesos task id of the container.
    #[serde(default)]
    pub container_id: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub endpoints: Vec<ContainerEndpointStatus>,
    #[serde(default, deserialize_with = "nullable")]
    pub conditions: Vec<StatusCondition>,
}

/// `podStatus.raml` `ContainerEndpointStatus`: `healthy` only where a health check probes the
/// endpoint and Mesos reported it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerEndpointStatus {
    pub name: String,
    #[serde(default)]
    pub allocated_host_port: Option<u32>,
    #[serde(default)]
    pub healthy: Option<bool>,
}

/// `podStatus.raml` `StatusCondition`; a container with a health check carries `healthy`
/// (`value` `true`/`false`, `reason` `health-reported-by-mesos` or
/// `health-unreported-by-mesos`) once it ran.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct StatusCondition {
    pub name: String,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub reason: Option<String>,
}

impl PodStatus {
    /// The CNI network names the pod asks for.
    pub fn cni_networks(&self) -> impl Iterator<Item = &str> {
        self.spec
            .networks
            .iter()
            .filter(|n| n.is_container())
            .filter_map(|n| n.name.as_deref())
    }

    /// On a container network.
    pub fn on_container_network(&self) -> bool {
        self.cni_networks().next().is_some()
    }

    /// Health of `container` of `instance`, as the pod status says it
    /// (`PodStatusConversion.endpointStatuses` and `maybeHealthCondition`): unchecked when the
    /// spec gives the container no health check; else the `healthy` of the endpoint an HTTP or
    /// TCP check probes, else the container's `healthy` condition; no result yet (no value,
    /// reason `health-unreported-by-mesos`, or the container not running yet): pending.
    pub fn container_health(&self, instance: &PodInstance, container: &str) -> HealthState {
        let status = instance.containers.iter().find(|c| c.name == container);
        let says = |healthy: bool| {
            if healthy {
                HealthState::Healthy
            } else {
                HealthState::Unhealthy
            }
        };
        let check = self
            .spec
            .containers
            .iter()
            .find(|c| c.name == container)
            .and_then(|c| c.health_check.as_ref());
        let Some(check) = check else {
            // No check in the spec: an endpoint still said to be unhealthy counts.
            return match status
                .is_some_and(|s| s.endpoints.iter().any(|e| e.healthy == Some(false)))
            {
                true => HealthState::Unhealthy,
                false => HealthState::Unchecked,
            };
        };
        let Some(status) = status else {
            return HealthState::Pending;
        };
        if let Some(healthy) = check
            .endpoint()
            .and_then(|ep| status.endpoints.iter().find(|e| e.name == ep))
            .and_then(|e| e.healthy)
        {
            return says(healthy);
        }
        match status.conditions.iter().find(|c| c.name == "healthy") {
            Some(c) if c.reason.as_deref() == Some(HEALTH_UNREPORTED) => HealthState::Pending,
            Some(c) => says(c.value == "true"),
            None => HealthState::Pending,
        }
    }
}

/// `PodStatusConversion.HEALTH_UNREPORTED`: the container has a health check and Mesos has
/// reported no result yet.
pub const HEALTH_UNREPORTED: &str = "health-unreported-by-mesos";

impl PodInstance {
    /// Its addresses over all networks, each once, in order.
    pub fn ips(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for a in self.networks.iter().flat_map(|n| &n.addresses) {
            if !out.contains(&a.as_str()) {
                out.push(a);
            }
        }
        out
    }

    /// The address a member gets: the first IPv4 one, else the first.
    pub fn address(&self) -> Option<IpAddr> {
        first_address(
            self.networks
                .iter()
                .flat_map(|n| &n.addresses)
                .map(String::as_str),
        )
    }

    /// The Mesos task ids of its containers (`containerId`).
    pub fn task_ids(&self) -> impl Iterator<Item = &str> {
        self.containers
            .iter()
            .filter_map(|c| c.container_id.as_deref())
    }

    /// Not being torn down.
    pub fn is_live(&self) -> bool {
        self.status != "TERMINAL"
    }
}

/// What Marathon runs: its apps with their tasks, and its pods' status.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub apps: Vec<App>,
    pub pods: Vec<PodStatus>,
}

/// One app task or pod instance, borrowed from a [`Snapshot`].
#[derive(Debug, Clone, Copy)]
pub enum Instance<'a> {
    App {
        app: &'a App,
        task: &'a Task,
    },
    Pod {
        pod: &'a PodStatus,
        instance: &'a PodInstance,
    },
}

impl<'a> Instance<'a> {
    /// `app` or `pod`.
    pub fn kind(&self) -> &'static str {
        match self {
            Instance::App { .. } => "app",
            Instance::Pod { .. } => "pod",
        }
    }

    /// The app or pod id (`/grp/web`).
    pub fn owner(&self) -> &'a str {
        match self {
            Instance::App { app, .. } => &app.id,
            Instance::Pod { pod, .. } => &pod.id,
        }
    }

    /// The task id (apps) or instance id (pods).
    pub fn id(&self) -> &'a str {
        match self {
            Instance::App { task, .. } => &task.id,
            Instance::Pod { instance, .. } => &instance.id,
        }
    }

    pub fn host(&self) -> &'a str {
        match self {
            Instance::App { task, .. } => &task.host,
            Instance::Pod { instance, .. } => instance.agent_hostname.as_deref().unwrap_or(""),
        }
    }

    /// The task state (apps) or instance status (pods).
    pub fn state(&self) -> &'a str {
        match self {
            Instance::App { task, .. } => &task.state,
            Instance::Pod { instance, .. } => &instance.status,
        }
    }

    pub fn ips(&self) -> Vec<&'a str> {
        match self {
            Instance::App { task, .. } => task.ips().collect(),
            Instance::Pod { instance, .. } => instance.ips(),
        }
    }

    /// The CNI network names the app or pod asks for.
    pub fn cni_networks(&self) -> Vec<&'a str> {
        match self {
            Instance::App { app, .. } => app.cni_networks().collect(),
            Instance::Pod { pod, .. } => pod.cni_networks().collect(),
        }
    }

    /// Mesos task ids (apps: the task id; pods: every container's).
    pub fn task_ids(&self) -> Vec<&'a str> {
        match self {
            Instance::App { task, .. } => vec![task.id.as_str()],
            Instance::Pod { instance, .. } => instance.task_ids().collect(),
        }
    }
}

impl Snapshot {
    /// App tasks, then pod instances.
    pub fn instances(&self) -> impl Iterator<Item = Instance<'_>> {
        let tasks = self.apps.iter().flat_map(|app| {
            app.tasks
                .iter()
                .map(move |task| Instance::App { app, task })
        });
        let pods = self.pods.iter().flat_map(|pod| {
            pod.instances
                .iter()
                .map(move |instance| Instance::Pod { pod, instance })
        });
        tasks.chain(pods)
    }
}

/// An event of `/v2/events` (`docs/docs/event-bus.md`; `Formats.eventToJson`): the SSE event
/// name is its `eventType`, its data the JSON below. Only what decides VIP passes is typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `status_update_event` (`MesosStatusUpdateEvent`).
    StatusUpdate(StatusUpdate),
    /// `instance_changed_event` (`InstanceChangedEventWrites`).
    InstanceChanged(InstanceChanged),
    /// `health_status_changed_event` (`HealthStatusChanged`, from `HealthCheckActor` when a
    /// Marathon health check's `alive` flips).
    HealthStatusChanged(HealthStatusChanged),
    /// `instance_health_changed_event` (`InstanceHealthChangedEventWrites`, from
    /// `AppHealthCheckActor` and `PostToEventStreamStepImpl` when an instance's health flips).
    InstanceHealthChanged(InstanceHealthChanged),
    /// Any other type, by name.
    Other(String),
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusUpdate {
    pub task_id: String,
    #[serde(default)]
    pub task_status: String,
    #[serde(default)]
    pub app_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceChanged {
    pub instance_id: String,
    #[serde(default)]
    pub condition: String,
    #[serde(default)]
    pub run_spec_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthStatusChanged {
    #[serde(default)]
    pub app_id: String,
    pub instance_id: String,
    pub alive: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceHealthChanged {
    pub instance_id: String,
    #[serde(default)]
    pub run_spec_id: String,
    /// `null` while not every check has reported.
    #[serde(default)]
    pub healthy: Option<bool>,
}

impl Event {
    /// The event of type `name` with JSON `data`.
    pub fn parse(name: &str, data: &str) -> Result<Event, serde_json::Error> {
        Ok(match name {
            "status_update_event" => Event::StatusUpdate(serde_json::from_str(data)?),
            "instance_changed_event" => Event::InstanceChanged(serde_json::from_str(data)?),
            "health_status_changed_event" => {
                Event::HealthStatusChanged(serde_json::from_str(data)?)
            }
            "instance_health_changed_event" => {
                Event::InstanceHealthChanged(serde_json::from_str(data)?)
            }
            other => Event::Other(other.to_string()),
        })
    }

    /// Its `eventType`.
    pub fn name(&self) -> &str {
        match self {
            Event::StatusUpdate(_) => "status_update_event",
            Event::InstanceChanged(_) => "instance_changed_event",
            Event::HealthStatusChanged(_) => "health_status_changed_event",
            Event::InstanceHealthChanged(_) => "instance_health_changed_event",
            Event::Other(n) => n,
        }
    }

    /// A task's or instance's health changed: a VIP member may have to go or come.
    pub fn is_health(&self) -> bool {
        matches!(
            self,
            Event::HealthStatusChanged(_) | Event::InstanceHealthChanged(_)
        )
    }
}

#[cfg(test)]
mod tests {
    //! The model against Marathon's own published payloads (`tests/fixtures/marathon`, each
    //! with its source in the README there).

    use super::*;

    fn fixture<T: serde::de::DeserializeOwned>(text: &str) -> T {
        serde_json::from_str(text).expect("Marathon's example reads")
    }

    #[derive(Deserialize)]
    struct TaskList {
        tasks: Vec<Task>,
    }

    #[test]
    fn marathons_app_list_example() {
        let list: AppList = fixture(include_str!("../../tests/fixtures/marathon/app_list.json"));
        let app = &list.apps[0];
        assert_eq!(app.id, "/myapp");
        // `"container": null`, no networks: not on a container network, no tasks embedded.
        assert!(app.container.is_none() && !app.on_container_network());
        assert!(app.tasks.is_empty() && app.health_checks.is_empty());
    }

    #[test]
    fn marathons_app_example_with_its_vip_label_and_health_check() {
        let app: App = fixture(include_str!("../../tests/fixtures/marathon/app.json"));
        assert_eq!(app.id, "/foo");
        assert_eq!(app.health_checks.len(), 1);
        assert_eq!(app.health_checks[0].protocol.as_deref(), Some("HTTP"));
        // The legacy IP-per-task form: discovery ports, no network name.
        let d = app.discovery_ports();
        assert_eq!((d[0].number, d[0].protocol.as_str()), (8080, "tcp"));
        assert_eq!(d[0].name.as_deref(), Some("rest-endpoint"));
        assert_eq!(
            app.ip_address.as_ref().map(|i| i.labels.clone()),
            Some([("environment".to_string(), "dev".to_string())].into())
        );
        assert!(!app.on_container_network(), "ipAddress names no network");
        // Its port mappings sit under `container.docker` (bridge mode): not the container's.
        assert!(app.port_mappings().is_empty());
    }

    #[test]
    fn marathons_task_examples() {
        let list: TaskList = fixture(include_str!("../../tests/fixtures/marathon/tasks.json"));
        let t = &list.tasks[0];
        assert_eq!(
            (t.id.as_str(), t.host.as_str(), t.state.as_str()),
            (
                "frontend-foosball.083be411-5d1f-11e5-88f7-56b91e7a505b",
                "srv4.example.com",
                "TASK_RUNNING"
            )
        );
        assert_eq!(t.ports, [31292]);
        assert_eq!(t.address(), None, "host networking: no task address");
        assert_eq!(t.health(0), HealthState::Unchecked);
        let staging: TaskList =
            fixture(include_str!("../../tests/fixtures/marathon/app_tasks.json"));
        let t = &staging.tasks[0];
        assert_eq!(t.state, "TASK_STAGING");
        assert_eq!(
            t.id,
            "minecraft_survival-world.instance-564bd685-4c30-11e5-98c1-be5b2935a987"
        );
    }

    #[test]
    fn marathons_health_check_results_example() {
        let list: TaskList = fixture(include_str!(
            "../../tests/fixtures/marathon/tasks_with_health.json"
        ));
        assert_eq!(list.tasks.len(), 2);
        let t = &list.tasks[0];
        let results = t.health_check_results.as_deref().unwrap_or_default();
        assert_eq!(results.len(), 1);
        assert!(results[0].alive);
        assert_eq!(results[0].consecutive_failures, 0);
        assert_eq!(
            results[0].instance_id.as_deref(),
            Some("bridged-webapp.eb76c51f-4b4a-11e4-ae49-56847afe9799"),
            "older Marathon's taskId"
        );
        assert_eq!(results[0].last_failure, None, "null");
        assert_eq!(t.health(1), HealthState::Healthy);
        // That release wrote no task state.
        assert_eq!(t.state, "");
    }

    #[test]
    fn a_task_serves_only_once_every_result_is_in_and_alive() {
        let task = |results: Option<Vec<bool>>| Task {
            id: "web.1".into(),
            state: "TASK_RUNNING".into(),
            health_check_results: results.map(|r| {
                r.into_iter()
                    .map(|alive| Health {
                        alive,
                        ..Health::default()
                    })
                    .collect()
            }),
            ..Task::default()
        };
        // No health check: results do not matter (marathon-lb looks only when there are).
        assert!(task(None).health(0).serves());
        assert!(task(Some(vec![false])).health(0).serves());
        // Health checks, no result yet (older Marathon: no key; 1.5+: an empty list).
        assert_eq!(task(None).health(1), HealthState::Pending);
        assert_eq!(task(Some(vec![])).health(1), HealthState::Pending);
        assert!(!task(None).health(1).serves());
        assert!(!task(Some(vec![])).health(2).serves());
        assert_eq!(task(Some(vec![true, true])).health(2), HealthState::Healthy);
        assert!(task(Some(vec![true])).health(1).serves());
        assert_eq!(
            task(Some(vec![true, false])).health(2),
            HealthState::Unhealthy
        );
        assert!(!task(Some(vec![true, false])).health(2).serves());
    }

    #[test]
    fn marathons_pod_example_with_its_endpoint_and_health_check() {
        let pod: Pod = fixture(include_str!("../../tests/fixtures/marathon/pod.json"));
        assert_eq!(pod.id, "/foo");
        assert_eq!(pod.networks[0].name.as_deref(), Some("my-network"));
        assert!(pod.networks[0].is_container());
        let c = &pod.containers[0];
        assert_eq!(c.name, "container1");
        let e = &c.endpoints[0];
        assert_eq!(
            (e.name.as_str(), e.container_port, e.host_port),
            ("httpendpoint", Some(80), Some(0))
        );
        assert_eq!(e.protocols().collect::<Vec<_>>(), ["tcp"]);
        assert_eq!(
            c.health_check.as_ref().and_then(PodHealthCheck::endpoint),
            Some("httpendpoint")
        );
    }

    #[test]
    fn pod_status_as_podstatus_raml_defines_it() {
        let list: PodStatusList = fixture(include_str!(
            "../../tests/fixtures/marathon/pod_status.json"
        ));
        let pod = &list[0];
        assert_eq!(pod.id, "/foo");
        assert!(pod.on_container_network());
        assert_eq!(pod.cni_networks().collect::<Vec<_>>(), ["my-network"]);
        let (up, new) = (&pod.instances[0], &pod.instances[1]);
        assert_eq!(up.status, "STABLE");
        assert_eq!(up.agent_hostname.as_deref(), Some("agent1.example.com"));
        assert_eq!(up.ips(), ["10.0.1.7"]);
        assert_eq!(up.address(), "10.0.1.7".parse().ok());
        assert_eq!(
            up.task_ids().collect::<Vec<_>>(),
            ["foo.instance-4e31d2a5-d3b8-11e6-9b60-0242ac110002.container1"],
            "containerId: the Mesos task id"
        );
        assert_eq!(pod.container_health(up, "container1"), HealthState::Healthy);
        assert_eq!(new.status, "DEGRADED");
        assert_eq!(
            pod.container_health(new, "container1"),
            HealthState::Pending
        );
        let snapshot = Snapshot {
            apps: vec![],
            pods: list.clone(),
        };
        let rows: Vec<(&str, &str, &str)> = snapshot
            .instances()
            .map(|i| (i.kind(), i.owner(), i.host()))
            .collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0], ("pod", "/foo", "agent1.example.com"));
    }

    #[test]
    fn pod_container_health_from_endpoint_or_condition() {
        let mut list: PodStatusList = fixture(include_str!(
            "../../tests/fixtures/marathon/pod_status.json"
        ));
        let pod = &mut list[0];
        let mut inst = pod.instances[0].clone();
        // The checked endpoint turns unhealthy.
        inst.containers[0].endpoints[0].healthy = Some(false);
        assert_eq!(
            pod.container_health(&inst, "container1"),
            HealthState::Unhealthy
        );
        // A command check (no endpoint): the condition decides.
        pod.spec.containers[0].health_check = Some(PodHealthCheck {
            exec: Some(serde::de::IgnoredAny),
            ..PodHealthCheck::default()
        });
        inst.containers[0].endpoints[0].healthy = None;
        assert_eq!(
            pod.container_health(&inst, "container1"),
            HealthState::Healthy
        );
        inst.containers[0].conditions[0].value = "false".into();
        assert_eq!(
            pod.container_health(&inst, "container1"),
            HealthState::Unhealthy
        );
        // Not running yet: no condition at all.
        inst.containers[0].conditions.clear();
        assert_eq!(
            pod.container_health(&inst, "container1"),
            HealthState::Pending
        );
        // No health check in the spec.
        pod.spec.containers[0].health_check = None;
        assert_eq!(
            pod.container_health(&inst, "container1"),
            HealthState::Unchecked
        );
    }

    #[test]
    fn wrong_answers_name_what_is_wrong() {
        let e = serde_json::from_str::<AppList>(r#"{"message": "proxy"}"#).expect_err("no apps");
        assert!(e.to_string().contains("apps"), "{e}");
        let e = serde_json::from_str::<AppList>(
            r#"{"apps": [{"id": "/a", "tasks": [{"id": "a.1", "healthCheckResults": [{"consecutiveFailures": 1}]}]}]}"#,
        )
        .expect_err("a result without alive");
        assert!(e.to_string().contains("alive"), "{e}");
        // Unknown fields and nulls where Marathon writes them are fine.
        let ok: AppList = serde_json::from_str(
            r#"{"apps": [{"id": "/a", "networks": null, "container": {"portMappings": null}, "new": 1}]}"#,
        )
        .expect("tolerated");
        assert!(ok.apps[0].port_mappings().is_empty());
    }
}
