//! The manager's ini file (upstream's `contrail-mesos.conf` keys plus ours). The manager reads
//! it, and the operator CLIs use it as a source of defaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ipnet::IpNet;

use crate::domain::dns;
use crate::domain::endpoint::host_port;
use crate::domain::fqname::FqName;

/// A key's value in the ini (`section`, `key`), trimmed; `None` when missing or empty.
type Get<'a> = dyn Fn(&str, &str) -> Option<String> + 'a;

/// Every setting, with upstream's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    // [MESOS]
    pub listen_ip: String,
    pub listen_port: u16,
    pub cluster_name: String,
    pub cluster_domain: String,
    /// `[MESOS] cluster_project` as `domain:project`; default `<domain>:<cluster>-default`.
    pub cluster_project: Option<FqName>,
    pub pod_task_subnets: Vec<IpNet>,
    pub ip_fabric_subnets: Vec<IpNet>,
    /// Upstream's: route the pod-task network over the ip-fabric (wins over SNAT).
    pub ip_fabric_forwarding: bool,
    /// Upstream's: fabric SNAT on the pod-task network.
    pub ip_fabric_snat: bool,
    /// Ours: the service network's flat subnets (VIPs).
    pub service_subnets: Vec<IpNet>,
    /// Ours: networks made from labels get the cluster's ip-fabric and pod-service policies.
    pub attach_cluster_policies: bool,
    /// Ours: the CNI result's `dns.nameservers`, in order (else the agent's `dns-server`).
    pub dns_nameservers: Vec<std::net::IpAddr>,
    /// Ours: the CNI result's `dns.search`.
    pub dns_search: Vec<String>,
    /// Ours: a link-local service (`169.254.169.253:53`) for the first nameserver.
    pub mesos_dns_link_local: Option<std::net::SocketAddr>,
    /// Ours: the domain of the cluster's Contrail virtual-DNS (no trailing dot); `None`: no
    /// virtual-DNS.
    pub dns_domain: Option<String>,
    /// Ours: seconds between VIP syncs with Marathon; 0 = no VIPs.
    pub vip_sync_interval: Duration,
    pub marathon_url: Option<String>,
    pub mesos_master_url: Option<String>,
    /// 0 turns reconciliation off.
    pub reconcile_interval: Duration,
    pub reconcile_grace: Duration,
    pub token_file: Option<PathBuf>,
    /// Request workers (ours).
    pub workers: usize,
    // [VNC]
    pub vnc_endpoints: Vec<String>,
    pub vnc_port: u16,
    pub vnc_use_ssl: bool,
    pub vnc_ca_file: Option<PathBuf>,
    /// Timeout of one config API call, in seconds (ours).
    pub vnc_timeout: Duration,
    // [AUTH]
    pub auth: Option<AuthConfig>,
    // [DEFAULTS]
    pub log_file: Option<PathBuf>,
    pub log_level: Option<String>,
    /// What the file left to a default an operator should know was taken (the manager and the
    /// CLIs log each as a warning).
    pub notes: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen_ip: "127.0.0.1".into(),
            listen_port: 6991,
            cluster_name: "mesos".into(),
            cluster_domain: "default-domain".into(),
            cluster_project: None,
            pod_task_subnets: vec![v4_net([10, 32, 0, 0], 12)],
            ip_fabric_subnets: vec![v4_net([10, 64, 0, 0], 12)],
            ip_fabric_forwarding: false,
            ip_fabric_snat: false,
            service_subnets: vec![v4_net([10, 96, 0, 0], 12)],
            attach_cluster_policies: true,
            dns_nameservers: Vec::new(),
            dns_search: Vec::new(),
            mesos_dns_link_local: None,
            dns_domain: None,
            vip_sync_interval: Duration::from_secs(5),
            marathon_url: None,
            mesos_master_url: None,
            reconcile_interval: Duration::from_secs(60),
            reconcile_grace: Duration::from_secs(300),
            token_file: None,
            workers: 32,
            vnc_endpoints: vec!["127.0.0.1".into()],
            vnc_port: 8082,
            vnc_use_ssl: false,
            vnc_ca_file: None,
            vnc_timeout: Duration::from_secs(30),
            auth: None,
            log_file: None,
            log_level: None,
            notes: Vec::new(),
        }
    }
}

/// One key of the ini file: its section, name, the default as it would be written in the file
/// (`None`: absent means unset), and what it means. The defaults here and in
/// [`Settings::default`] are checked against each other by a test.
pub struct Key {
    pub section: &'static str,
    pub name: &'static str,
    pub default: Option<&'static str>,
    pub meaning: &'static str,
}

const fn key(
    section: &'static str,
    name: &'static str,
    default: Option<&'static str>,
    meaning: &'static str,
) -> Key {
    Key {
        section,
        name,
        default,
        meaning,
    }
}

/// Every key read, for the man page.
pub const KEYS: &[Key] = &[
    key(
        "MESOS",
        "mesos_cni_server",
        Some("127.0.0.1"),
        "listen address of the manager",
    ),
    key("MESOS", "mesos_cni_port", Some("6991"), "listen port"),
    key(
        "MESOS",
        "mesos_cluster_name",
        Some("mesos"),
        "cluster name, marks the objects created",
    ),
    key(
        "MESOS",
        "mesos_cluster_domain",
        Some("default-domain"),
        "domain of the cluster project",
    ),
    key(
        "MESOS",
        "cluster_project",
        None,
        "project for tasks without project-name: domain:project or {'domain':..,'project':..}; \
         absent: <domain>:<cluster>-default",
    ),
    key(
        "MESOS",
        "pod_task_subnets",
        Some("10.32.0.0/12"),
        "subnets of the default pod-task network, space or comma separated",
    ),
    key(
        "MESOS",
        "ip_fabric_subnets",
        Some("10.64.0.0/12"),
        "ip-fabric subnets",
    ),
    key(
        "MESOS",
        "ip_fabric_forwarding",
        Some("false"),
        "route the pod-task network over the ip-fabric network, with addresses from <cluster>-ip-fabric-ipam (ip_fabric_subnets); wins over ip_fabric_snat; applied when the network is made",
    ),
    key(
        "MESOS",
        "ip_fabric_snat",
        Some("false"),
        "fabric SNAT on the pod-task network, applied when the network is made; also adds the SNAT port-translation pools (tcp 56000-57023, udp 57024-58047) to the global-vrouter-config for a protocol that has none",
    ),
    key(
        "MESOS",
        "service_subnets",
        Some("10.96.0.0/12"),
        "subnets of the service network (VIPs); must not overlap pod_task_subnets or ip_fabric_subnets",
    ),
    key(
        "MESOS",
        "attach_cluster_policies",
        Some("true"),
        "networks made from labels get the cluster's ip-fabric, pod-service and service policies (relaxed for delete); the service policy connects them with the service network (VIPs)",
    ),
    key(
        "MESOS",
        "dns_nameservers",
        None,
        "comma list: the nameservers of every task's CNI result (dns.nameservers), in this order, in every result version; empty, or with dns_domain set: the DNS server the vRouter agent reports for the port (the subnet's service address, where the agent's DNS proxy forwards to the node's resolvers, or serves the virtual-DNS). IPAMs are never given them: IPAMs the manager makes use default-dns-server, or virtual-dns-server with dns_domain. With dns_domain, the first address (IPv4) is where the virtual-DNS forwards the names it does not hold (next_virtual_DNS)",
    ),
    key(
        "MESOS",
        "dns_search",
        None,
        "comma list: search domains of the CNI result's dns, in every result version (e.g. marathon.mesos)",
    ),
    key(
        "MESOS",
        "mesos_dns_link_local",
        None,
        "IPv4 IP:PORT of a link-local service <cluster>-mesos-dns in the global-vrouter-config forwarding to port 53 of the first dns_nameservers address (e.g. 169.254.169.253:53); unset removes that entry",
    ),
    key(
        "MESOS",
        "dns_domain",
        None,
        "DNS domain of the cluster's Contrail virtual-DNS <cluster>-dns in the cluster project's domain (e.g. l4lb.thisdcos.directory); set: the cluster's IPAMs and the IPAMs the manager makes use it (virtual-dns-server), each named VIP gets a record <name> (web.marathon) with its address, tasks get the vRouter agent's DNS server, and other names go to the first dns_nameservers address. Empty: no virtual-DNS (one the manager made is removed, its IPAMs go back to default-dns-server)",
    ),
    key(
        "MESOS",
        "vip_sync_interval",
        Some("5"),
        "seconds between syncs of Marathon VIPs with Contrail load balancers; 0 = no VIPs",
    ),
    key(
        "MESOS",
        "marathon_url",
        None,
        "Marathon base URL, for status",
    ),
    key(
        "MESOS",
        "mesos_master_url",
        None,
        "Mesos master base URL, for reconciliation and status",
    ),
    key(
        "MESOS",
        "reconcile_interval",
        Some("60"),
        "seconds between reconciliation runs; 0 = off",
    ),
    key(
        "MESOS",
        "reconcile_grace",
        Some("300"),
        "seconds a container VM must exist before it may be removed as orphan",
    ),
    key(
        "MESOS",
        "token_file",
        None,
        "file with the shared secret the CNI must present as Authorization: Bearer",
    ),
    key("MESOS", "workers", Some("32"), "request worker threads"),
    key(
        "VNC",
        "vnc_endpoint_ip",
        Some("127.0.0.1"),
        "config API hosts, comma separated, tried in order",
    ),
    key("VNC", "vnc_endpoint_port", Some("8082"), "config API port"),
    key(
        "VNC",
        "vnc_use_ssl",
        Some("false"),
        "use https to the config API",
    ),
    key(
        "VNC",
        "vnc_ca_file",
        None,
        "CA certificates (PEM) to verify the config API",
    ),
    key(
        "VNC",
        "vnc_timeout",
        Some("30"),
        "seconds one config API call may take",
    ),
    key(
        "AUTH",
        "auth_token_url",
        None,
        "Keystone token URL (.../v3/auth/tokens or .../v2.0/tokens); absent = no auth",
    ),
    key("AUTH", "auth_user", Some("admin"), "Keystone user"),
    key("AUTH", "auth_password", Some("admin"), "Keystone password"),
    key(
        "AUTH",
        "auth_tenant",
        Some("admin"),
        "Keystone project/tenant",
    ),
    key(
        "AUTH",
        "auth_user_domain",
        Some("Default"),
        "Keystone v3 user domain",
    ),
    key(
        "AUTH",
        "auth_project_domain",
        Some("Default"),
        "Keystone v3 project domain",
    ),
    key("DEFAULTS", "log_file", None, "log file; stderr when absent"),
    key(
        "DEFAULTS",
        "log_level",
        None,
        "error, warn, info, debug or trace; upstream's SYS_* names work too",
    ),
];

impl Settings {
    /// Read an ini file. Unknown keys are ignored; a bad value is an error naming it.
    pub fn load(path: &Path) -> Result<Settings> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("config file {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Settings> {
        let ini = ini::Ini::load_from_str_noescape(text).context("not a valid ini file")?;
        let get = |section: &str, key: &str| -> Option<String> {
            ini.iter()
                .filter(|(s, _)| s.is_some_and(|s| s.eq_ignore_ascii_case(section)))
                .flat_map(|(_, props)| props.iter())
                .filter(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.trim().to_string())
                .next_back()
                .filter(|v| !v.is_empty())
        };
        let mut s = Settings::default();
        s.parse_mesos(&get)?;
        s.parse_dns(&get)?;
        s.parse_loops(&get)?;
        s.parse_vnc(&get)?;
        s.parse_auth(&get);
        s.log_file = get("DEFAULTS", "log_file").map(PathBuf::from);
        s.log_level = get("DEFAULTS", "log_level");
        s.validate()?;
        Ok(s)
    }

    /// `[MESOS]`: the listen address, the cluster's names and subnets, its fabric modes.
    fn parse_mesos(&mut self, get: &Get<'_>) -> Result<()> {
        let s = self;
        if let Some(v) = get("MESOS", "mesos_cni_server") {
            s.listen_ip = v;
        }
        if let Some(v) = get("MESOS", "mesos_cni_port") {
            s.listen_port = parse_num(&v, "MESOS", "mesos_cni_port")?;
        }
        if let Some(v) = get("MESOS", "mesos_cluster_name") {
            s.cluster_name = v;
        }
        if let Some(v) = get("MESOS", "mesos_cluster_domain") {
            s.cluster_domain = v;
        }
        if let Some(v) = get("MESOS", "cluster_project") {
            s.cluster_project = Some(parse_project(&v, &s.cluster_domain)?);
        }
        if let Some(v) = get("MESOS", "pod_task_subnets") {
            s.pod_task_subnets = parse_cidrs(&v, "MESOS", "pod_task_subnets")?;
        }
        if let Some(v) = get("MESOS", "ip_fabric_subnets") {
            s.ip_fabric_subnets = parse_cidrs(&v, "MESOS", "ip_fabric_subnets")?;
        }
        if let Some(v) = get("MESOS", "ip_fabric_forwarding") {
            s.ip_fabric_forwarding = parse_bool(&v, "MESOS", "ip_fabric_forwarding")?;
        }
        if let Some(v) = get("MESOS", "ip_fabric_snat") {
            s.ip_fabric_snat = parse_bool(&v, "MESOS", "ip_fabric_snat")?;
        }
        if let Some(v) = get("MESOS", "service_subnets") {
            s.service_subnets = parse_cidrs(&v, "MESOS", "service_subnets")?;
        }
        if let Some(v) = get("MESOS", "attach_cluster_policies") {
            s.attach_cluster_policies = parse_bool(&v, "MESOS", "attach_cluster_policies")?;
        }
        Ok(())
    }

    /// `[MESOS]` DNS: nameservers, search domains, the Mesos-DNS link-local service,
    /// `dns_domain`.
    fn parse_dns(&mut self, get: &Get<'_>) -> Result<()> {
        let s = self;
        if let Some(v) = get("MESOS", "dns_nameservers") {
            s.dns_nameservers = list(&v)
                .map(|a| {
                    a.parse().map_err(|_| {
                        anyhow::anyhow!("[MESOS] dns_nameservers: {a:?} is not an IP address")
                    })
                })
                .collect::<Result<_>>()?;
        }
        if let Some(v) = get("MESOS", "dns_search") {
            s.dns_search = list(&v)
                .map(|d| {
                    if d.contains(|c: char| c.is_whitespace() || c.is_control()) || d.len() > 253 {
                        bail!("[MESOS] dns_search: {d:?} is not a domain name");
                    }
                    Ok(d.trim_end_matches('.').to_string())
                })
                .collect::<Result<_>>()?;
        }
        if let Some(v) = get("MESOS", "mesos_dns_link_local") {
            s.mesos_dns_link_local = Some(v.parse().map_err(|_| {
                anyhow::anyhow!("[MESOS] mesos_dns_link_local = {v:?} is not IP:PORT")
            })?);
        }
        s.dns_domain = get("MESOS", "dns_domain").map(|d| {
            let d = d.strip_suffix('.').unwrap_or(&d);
            d.to_string()
        });
        Ok(())
    }

    /// `[MESOS]` loops: VIP sync, Marathon and the master, reconciliation, the token, workers.
    fn parse_loops(&mut self, get: &Get<'_>) -> Result<()> {
        let s = self;
        if let Some(v) = get("MESOS", "vip_sync_interval") {
            s.vip_sync_interval = parse_secs(&v, "MESOS", "vip_sync_interval")?;
        }
        s.marathon_url = get("MESOS", "marathon_url").map(|u| u.trim_end_matches('/').to_string());
        s.mesos_master_url =
            get("MESOS", "mesos_master_url").map(|u| u.trim_end_matches('/').to_string());
        if let Some(v) = get("MESOS", "reconcile_interval") {
            s.reconcile_interval = parse_secs(&v, "MESOS", "reconcile_interval")?;
        }
        if let Some(v) = get("MESOS", "reconcile_grace") {
            s.reconcile_grace = parse_secs(&v, "MESOS", "reconcile_grace")?;
        }
        s.token_file = get("MESOS", "token_file").map(PathBuf::from);
        if let Some(v) = get("MESOS", "workers") {
            let n = parse_num::<usize>(&v, "MESOS", "workers")?;
            if !(1..=1024).contains(&n) {
                bail!("[MESOS] workers = {n} must be 1 to 1024");
            }
            s.workers = n;
        }
        Ok(())
    }

    /// `[VNC]`: the config API's endpoints and TLS.
    fn parse_vnc(&mut self, get: &Get<'_>) -> Result<()> {
        let s = self;
        if let Some(v) = get("VNC", "vnc_endpoint_ip") {
            s.vnc_endpoints = v
                .trim_matches(|c| c == '[' || c == ']')
                .split([',', ' '])
                .map(|e| e.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
                .filter(|e| !e.is_empty())
                .collect();
        }
        if let Some(v) = get("VNC", "vnc_endpoint_port") {
            s.vnc_port = parse_num(&v, "VNC", "vnc_endpoint_port")?;
        }
        if let Some(v) = get("VNC", "vnc_use_ssl") {
            s.vnc_use_ssl = parse_bool(&v, "VNC", "vnc_use_ssl")?;
        }
        s.vnc_ca_file = get("VNC", "vnc_ca_file").map(PathBuf::from);
        if let Some(v) = get("VNC", "vnc_timeout") {
            let t = parse_secs(&v, "VNC", "vnc_timeout")?;
            if t < Duration::from_secs(1) {
                bail!("[VNC] vnc_timeout = {v:?} must be at least 1 second");
            }
            s.vnc_timeout = t;
        }
        Ok(())
    }

    /// `[AUTH]`: Keystone, when a token URL is set.
    fn parse_auth(&mut self, get: &Get<'_>) {
        let s = self;
        if let Some(url) = get("AUTH", "auth_token_url") {
            // Upstream's defaults (contrail-mesos.conf [AUTH]), said when taken: a
            // forgotten key should not go unnoticed behind a 401.
            let mut or_default = |key: &str, default: &str| {
                get("AUTH", key).unwrap_or_else(|| {
                    s.notes.push(format!(
                        "[AUTH] {key} is not set: upstream's default is used \
                     (auth_token_url is set)"
                    ));
                    default.to_string()
                })
            };
            let auth = AuthConfig {
                token_url: url,
                user: or_default("auth_user", "admin"),
                password: or_default("auth_password", "admin"),
                tenant: or_default("auth_tenant", "admin"),
                user_domain: get("AUTH", "auth_user_domain").unwrap_or_else(|| "Default".into()),
                project_domain: get("AUTH", "auth_project_domain")
                    .unwrap_or_else(|| "Default".into()),
            };
            s.auth = Some(auth);
        }
    }

    /// Check what the names of the cluster's objects are made of: the cluster name and domain
    /// must be Contrail names, and so must every name derived from them. Called after the file
    /// and again after command-line flags; nothing falls back to another project.
    pub fn validate(&self) -> Result<()> {
        let name = |what: &str, v: &str| -> Result<()> {
            if v.contains(':') {
                bail!("{what} = {v:?} must not contain ':'");
            }
            FqName::new([v]).with_context(|| format!("{what} = {v:?}"))?;
            Ok(())
        };
        name("[MESOS] mesos_cluster_name", &self.cluster_name)?;
        name("[MESOS] mesos_cluster_domain", &self.cluster_domain)?;
        for derived in self.derived_names() {
            name("a name derived from [MESOS] mesos_cluster_name", &derived)?;
        }
        for svc in &self.service_subnets {
            for (key, nets) in [
                ("pod_task_subnets", &self.pod_task_subnets),
                ("ip_fabric_subnets", &self.ip_fabric_subnets),
            ] {
                if let Some(n) = nets.iter().find(|n| overlap(svc, n)) {
                    bail!(
                        "[MESOS] service_subnets {svc} overlaps [MESOS] {key} {n}: VIPs would \
                         shadow task or host addresses"
                    );
                }
            }
        }
        if let Some(at) = self.mesos_dns_link_local {
            let Some(first) = self.dns_nameservers.first() else {
                bail!(
                    "[MESOS] mesos_dns_link_local needs a [MESOS] dns_nameservers address to \
                     forward to"
                );
            };
            if !at.is_ipv4() {
                bail!("[MESOS] mesos_dns_link_local = {at}: link-local services are IPv4");
            }
            if !first.is_ipv4() {
                bail!(
                    "[MESOS] dns_nameservers: the first address, {first}, is what \
                     mesos_dns_link_local forwards to, over the IPv4 fabric: it must be IPv4"
                );
            }
        }
        self.validate_dns_domain()
    }

    /// `dns_domain`: a DNS name as upstream's API server checks it, a virtual-DNS name it
    /// accepts for the cluster, and an IPv4 address to forward to (`next_virtual_DNS` is an
    /// IPv4 address or another virtual-DNS: `VirtualDnsServer.validate_dns_server`).
    fn validate_dns_domain(&self) -> Result<()> {
        let Some(domain) = &self.dns_domain else {
            return Ok(());
        };
        if !dns::is_valid_dns_name(domain) {
            bail!(
                "[MESOS] dns_domain = {domain:?} is not a DNS name as Contrail checks it \
                 (virtual_dns.py): dot-separated labels of letters, digits and inner '-', each \
                 1 to 63 characters, 255 in all"
            );
        }
        let server = dns::server_name(&self.cluster_name);
        if !dns::is_valid_server_name(&server) {
            bail!(
                "[MESOS] mesos_cluster_name = {:?}: with [MESOS] dns_domain the cluster's \
                 virtual-DNS is named {server:?}, and Contrail takes only letters, digits and \
                 '-' in a virtual-DNS name (virtual_dns.py)",
                self.cluster_name
            );
        }
        if let Some(first) = self.dns_nameservers.first().filter(|a| !a.is_ipv4()) {
            bail!(
                "[MESOS] dns_nameservers: with [MESOS] dns_domain the first address, {first}, is \
                 where the virtual-DNS forwards the names it does not hold (next_virtual_DNS), \
                 and Contrail takes only an IPv4 address there"
            );
        }
        Ok(())
    }

    fn derived_names(&self) -> Vec<String> {
        let c = &self.cluster_name;
        vec![
            format!("{c}-default"),
            format!("{c}-default-pod-task-network"),
            format!("{c}-pod-task-ipam"),
            format!("{c}-default-service-network"),
            format!("{c}-service-ipam"),
            format!("{c}-ip-fabric-ipam"),
            format!("{c}-default-ip-fabric-np"),
            format!("{c}-default-pod-service-np"),
            format!("{c}-default-service-np"),
            dns::server_name(c),
        ]
    }

    /// The cluster project: `[MESOS] cluster_project`, else `<domain>:<cluster>-default`.
    pub fn project(&self) -> FqName {
        self.cluster_project.clone().unwrap_or_else(|| {
            FqName::from_checked_parts(vec![
                self.cluster_domain.clone(),
                format!("{}-default", self.cluster_name),
            ])
        })
    }

    fn cluster_object(&self, suffix: &str) -> FqName {
        let mut parts = self.project().parts().to_vec();
        parts.push(format!("{}-{suffix}", self.cluster_name));
        FqName::from_checked_parts(parts)
    }

    /// The default pod-task network for tasks without a `networks` label.
    pub fn pod_task_network(&self) -> FqName {
        self.cluster_object("default-pod-task-network")
    }

    /// The flat-subnet IPAM of the pod-task network.
    pub fn pod_task_ipam(&self) -> FqName {
        self.cluster_object("pod-task-ipam")
    }

    /// The service network, where VIPs get their addresses.
    pub fn service_network(&self) -> FqName {
        self.cluster_object("default-service-network")
    }

    /// The flat-subnet IPAM of the service network.
    pub fn service_ipam(&self) -> FqName {
        self.cluster_object("service-ipam")
    }

    /// The flat-subnet IPAM of the ip-fabric subnets (the pod-task network's, with
    /// `ip_fabric_forwarding`).
    pub fn ip_fabric_ipam(&self) -> FqName {
        self.cluster_object("ip-fabric-ipam")
    }

    /// The policy between the cluster's networks and the ip-fabric.
    pub fn ip_fabric_policy(&self) -> FqName {
        self.cluster_object("default-ip-fabric-np")
    }

    /// The name of the link-local service entry for Mesos-DNS (`mesos_dns_link_local`).
    pub fn mesos_dns_link_local_name(&self) -> String {
        format!("{}-mesos-dns", self.cluster_name)
    }

    /// The policy between the networks made from labels and the service network.
    pub fn service_policy(&self) -> FqName {
        self.cluster_object("default-service-np")
    }

    /// The policy between the pod-task and the service networks.
    pub fn pod_service_policy(&self) -> FqName {
        self.cluster_object("default-pod-service-np")
    }

    /// The cluster's virtual-DNS (used with `dns_domain`).
    pub fn virtual_dns(&self) -> FqName {
        dns::server(&self.cluster_name, &self.project())
    }

    /// The nameservers the manager puts in its ADD answer for the CNI result: none with
    /// `dns_domain` (the plugin then takes the agent's DNS server for the port, whose proxy
    /// serves the virtual-DNS), else `dns_nameservers`.
    pub fn result_nameservers(&self) -> &[std::net::IpAddr] {
        match self.dns_domain {
            Some(_) => &[],
            None => &self.dns_nameservers,
        }
    }

    /// Where the virtual-DNS forwards what it does not hold: the first `dns_nameservers`
    /// address.
    pub fn next_virtual_dns(&self) -> Option<std::net::IpAddr> {
        self.dns_nameservers.first().copied()
    }

    /// Whether the VIP loop runs: an interval, Marathon and the master.
    pub fn vips_enabled(&self) -> bool {
        !self.vip_sync_interval.is_zero()
            && self.marathon_url.is_some()
            && self.mesos_master_url.is_some()
    }

    /// Config API base URLs, one per endpoint.
    pub fn vnc_urls(&self) -> Vec<String> {
        let scheme = if self.vnc_use_ssl { "https" } else { "http" };
        self.vnc_endpoints
            .iter()
            .map(|e| {
                if e.starts_with("http://") || e.starts_with("https://") {
                    e.trim_end_matches('/').to_string()
                } else {
                    format!("{scheme}://{}", host_port(e, self.vnc_port))
                }
            })
            .collect()
    }
}

/// Credentials from the `[AUTH]` section.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// The full token URL: `.../v3/auth/tokens` or `.../v2.0/tokens`.
    pub token_url: String,
    pub user: String,
    pub password: String,
    pub tenant: String,
    pub user_domain: String,
    pub project_domain: String,
}

impl AuthConfig {
    /// Keystone v3 (`.../v3/auth/tokens`), else v2.0.
    pub fn is_v3(&self) -> bool {
        self.token_url.contains("/v3")
    }
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("token_url", &self.token_url)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("tenant", &self.tenant)
            .finish()
    }
}

/// Read a shared-secret file: surrounding whitespace stripped, empty refused.
pub fn read_token(path: &std::path::Path) -> Result<String> {
    let t = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read token file {}", path.display()))?;
    let t = t.trim().to_string();
    if t.is_empty() {
        bail!("token file {} is empty", path.display());
    }
    Ok(t)
}

fn parse_num<T: std::str::FromStr>(v: &str, section: &str, key: &str) -> Result<T> {
    v.parse()
        .map_err(|_| anyhow::anyhow!("[{section}] {key} = {v:?} is not a valid number"))
}

fn parse_secs(v: &str, section: &str, key: &str) -> Result<Duration> {
    let n: f64 = v
        .parse()
        .map_err(|_| anyhow::anyhow!("[{section}] {key} = {v:?} is not a number of seconds"))?;
    if !n.is_finite() || n < 0.0 {
        bail!("[{section}] {key} = {v:?} must be 0 or more seconds");
    }
    Ok(Duration::from_secs_f64(n))
}

/// A constant IPv4 subnet.
const fn v4_net(a: [u8; 4], len: u8) -> IpNet {
    IpNet::V4(ipnet::Ipv4Net::new_assert(
        std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]),
        len,
    ))
}

/// The entries of a comma (or space) separated list.
fn list(v: &str) -> impl Iterator<Item = &str> {
    v.split([',', ' ']).map(str::trim).filter(|e| !e.is_empty())
}

fn overlap(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn parse_bool(v: &str, section: &str, key: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => bail!("[{section}] {key} = {v:?} is not true or false"),
    }
}

fn parse_cidrs(v: &str, section: &str, key: &str) -> Result<Vec<IpNet>> {
    let nets = v
        .split([',', ' '])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            let net: IpNet = e
                .parse()
                .map_err(|_| anyhow::anyhow!("[{section}] {key}: {e:?} is not a CIDR"))?;
            if net.trunc() != net {
                bail!("[{section}] {key}: {e:?} has host bits set");
            }
            Ok(net)
        })
        .collect::<Result<Vec<_>>>()?;
    if nets.is_empty() {
        bail!("[{section}] {key} lists no subnet");
    }
    Ok(nets)
}

/// `domain:project`, a bare `project`, or upstream's `{'domain': 'd', 'project': 'p'}`.
fn parse_project(v: &str, default_domain: &str) -> Result<FqName> {
    let v = v.trim();
    if v.starts_with('{') {
        let field = |name: &str| -> Option<String> {
            let body = v.trim_matches(|c| c == '{' || c == '}');
            body.split(',').find_map(|kv| {
                let (k, val) = kv.split_once(':')?;
                (k.trim().trim_matches(|c| c == '\'' || c == '"') == name).then(|| {
                    val.trim()
                        .trim_matches(|c| c == '\'' || c == '"')
                        .to_string()
                })
            })
        };
        let domain = field("domain").unwrap_or_else(|| default_domain.to_string());
        let project = field("project")
            .ok_or_else(|| anyhow::anyhow!("[MESOS] cluster_project = {v:?} has no 'project'"))?;
        return FqName::new([domain, project])
            .with_context(|| format!("[MESOS] cluster_project = {v:?}"));
    }
    let fq = FqName::parse(v).context("[MESOS] cluster_project")?;
    match fq.len() {
        1 => Ok(
            FqName::new([default_domain.to_string(), fq.name().to_string()])
                .context("[MESOS] cluster_project")?,
        ),
        2 => Ok(fq),
        _ => bail!("[MESOS] cluster_project = {v:?} must be domain:project"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_debug_never_shows_the_password() {
        let a = AuthConfig {
            token_url: "http://k/v3/auth/tokens".into(),
            user: "admin".into(),
            password: "s3cret-pw".into(),
            tenant: "admin".into(),
            user_domain: "Default".into(),
            project_domain: "Default".into(),
        };
        let d = format!("{a:?}");
        assert!(!d.contains("s3cret-pw"), "{d}");
        assert!(a.is_v3());
    }

    #[test]
    fn upstream_file_parses() {
        let s = Settings::parse(
            "[DEFAULTS]\nlog_file = /var/log/contrail/contrail-mesos-manager.log\nlog_level = SYS_DEBUG\n\
             [MESOS]\nmesos_cni_server = 10.0.0.5\nmesos_cni_port = 6991\nmesos_cluster_name = dc1\n\
             pod_task_subnets = 10.32.0.0/12\nip_fabric_subnets = 10.64.0.0/12\n\
             cluster_project = {'domain': 'default-domain', 'project': 'mesos-system'}\n\
             unknown_key = 1\n\
             [VNC]\nvnc_endpoint_ip = 10.0.0.1, 10.0.0.2\nvnc_endpoint_port = 8082\n\
             [AUTH]\nauth_token_url = http://k:35357/v3/auth/tokens\nauth_user = admin\nauth_password = pw\nauth_tenant = admin\n",
        )
        .expect("parses");
        assert_eq!(s.listen_ip, "10.0.0.5");
        assert_eq!(s.cluster_name, "dc1");
        assert_eq!(s.project().to_string(), "default-domain:mesos-system");
        assert_eq!(
            s.vnc_urls(),
            vec!["http://10.0.0.1:8082", "http://10.0.0.2:8082"]
        );
        assert_eq!(
            s.pod_task_network().to_string(),
            "default-domain:mesos-system:dc1-default-pod-task-network"
        );
        assert!(s.auth.is_some());
        assert!(!format!("{s:?}").contains("\"pw\""));
        assert_eq!(s.log_level.as_deref(), Some("SYS_DEBUG"));
    }

    #[test]
    fn defaults() {
        let s = Settings::parse("").expect("empty file");
        assert_eq!(s.listen_port, 6991);
        assert_eq!(s.project().to_string(), "default-domain:mesos-default");
        assert_eq!(s.vnc_urls(), vec!["http://127.0.0.1:8082"]);
        assert!(s.auth.is_none());
    }

    #[test]
    fn bad_values_are_named() {
        for (text, needle) in [
            ("[MESOS]\nmesos_cni_port = abc\n", "mesos_cni_port"),
            (
                "[MESOS]\npod_task_subnets = 10.0.0.1/8\n",
                "pod_task_subnets",
            ),
            ("[MESOS]\nreconcile_interval = -1\n", "reconcile_interval"),
            ("[VNC]\nvnc_use_ssl = maybe\n", "vnc_use_ssl"),
            ("[MESOS]\nworkers = 0\n", "workers = 0 must be 1 to 1024"),
            (
                "[MESOS]\nworkers = 5000\n",
                "workers = 5000 must be 1 to 1024",
            ),
            (
                "[VNC]\nvnc_timeout = 0.2\n",
                "vnc_timeout = \"0.2\" must be at least 1 second",
            ),
            ("[MESOS]\ncluster_project = a:b:c\n", "cluster_project"),
            ("[MESOS]\nmesos_cluster_name = a:b\n", "mesos_cluster_name"),
            (
                "[MESOS]\nmesos_cluster_domain = d:x\n",
                "mesos_cluster_domain",
            ),
            (
                &format!("[MESOS]\nmesos_cluster_name = {}\n", "c".repeat(240)),
                "mesos_cluster_name",
            ),
        ] {
            let e = Settings::parse(text).expect_err(text);
            assert!(format!("{e:#}").contains(needle), "{e:#}");
        }
    }

    /// The documented defaults are what an absent key gives: writing each one into the file
    /// changes nothing.
    #[test]
    fn documented_defaults_are_the_defaults() {
        for k in KEYS {
            let Some(d) = k.default else { continue };
            // [AUTH] keys apply only with a token URL.
            let base = if k.section == "AUTH" {
                "[AUTH]\nauth_token_url = http://keystone:35357/v3/auth/tokens\n"
            } else {
                ""
            };
            let with = format!("{base}[{}]\n{} = {d}\n", k.section, k.name);
            // (Only the notes of the defaults taken differ.)
            let parsed = |text: &str| Settings {
                notes: Vec::new(),
                ..Settings::parse(text).expect("parses")
            };
            assert_eq!(
                parsed(&with),
                parsed(base),
                "[{}] {} = {d}",
                k.section,
                k.name
            );
        }
    }

    /// With a token URL, each credential left to upstream's default is said, by key (never
    /// by value); given ones are not.
    #[test]
    fn credentials_left_to_defaults_are_noted() {
        let s = Settings::parse(
            "[AUTH]\nauth_token_url = http://k:35357/v3/auth/tokens\nauth_user = ops\n",
        )
        .expect("parses");
        assert_eq!(s.auth.as_ref().map(|a| a.password.as_str()), Some("admin"));
        assert_eq!(s.notes.len(), 2, "{:?}", s.notes);
        assert!(
            s.notes[0].starts_with("[AUTH] auth_password is not set"),
            "{:?}",
            s.notes
        );
        assert!(
            s.notes[1].starts_with("[AUTH] auth_tenant is not set"),
            "{:?}",
            s.notes
        );
        assert!(
            s.notes.iter().all(|n| !n.contains("\"admin\"")),
            "{:?}",
            s.notes
        );
        let quiet = Settings::parse("[AUTH]\nauth_user = a\n").expect("parses");
        assert!(
            quiet.notes.is_empty(),
            "no token URL, no auth: {:?}",
            quiet.notes
        );
    }

    #[test]
    fn policy_and_dns_keys() {
        let s = Settings::parse(
            "[MESOS]\nattach_cluster_policies = false\ndns_nameservers = 10.0.0.2, 10.0.0.3\n\
             dns_search = marathon.mesos. mesos\nmesos_dns_link_local = 169.254.169.253:53\n\
             ip_fabric_snat = true\n",
        )
        .expect("parses");
        assert!(!s.attach_cluster_policies && s.ip_fabric_snat);
        assert_eq!(
            s.dns_nameservers,
            ["10.0.0.2", "10.0.0.3"].map(|a| a.parse::<std::net::IpAddr>().expect("ip"))
        );
        assert_eq!(s.dns_search, ["marathon.mesos", "mesos"]);
        assert_eq!(s.mesos_dns_link_local_name(), "mesos-mesos-dns");
        assert_eq!(
            s.ip_fabric_policy().to_string(),
            "default-domain:mesos-default:mesos-default-ip-fabric-np"
        );
        assert_eq!(
            s.pod_service_policy().to_string(),
            "default-domain:mesos-default:mesos-default-pod-service-np"
        );
        assert_eq!(
            s.service_policy().to_string(),
            "default-domain:mesos-default:mesos-default-service-np"
        );
        for (text, needle) in [
            (
                "[MESOS]\nservice_subnets = 10.32.1.0/24\n",
                "service_subnets 10.32.1.0/24 overlaps [MESOS] pod_task_subnets 10.32.0.0/12",
            ),
            (
                "[MESOS]\nip_fabric_subnets = 10.96.0.0/16\n",
                "overlaps [MESOS] ip_fabric_subnets 10.96.0.0/16",
            ),
            ("[MESOS]\ndns_nameservers = dns1\n", "dns_nameservers"),
            ("[MESOS]\ndns_search = a\tb\n", "dns_search"),
            (
                "[MESOS]\nmesos_dns_link_local = 169.254.169.253:53\n",
                "needs a [MESOS] dns_nameservers",
            ),
            (
                "[MESOS]\nmesos_dns_link_local = 169.254.169.253\ndns_nameservers = 10.0.0.2\n",
                "is not IP:PORT",
            ),
            (
                "[MESOS]\nmesos_dns_link_local = [fe80::1]:53\ndns_nameservers = 10.0.0.2\n",
                "link-local services are IPv4",
            ),
            (
                "[MESOS]\nmesos_dns_link_local = 169.254.169.253:53\ndns_nameservers = fd00::2\n",
                "must be IPv4",
            ),
        ] {
            let e = Settings::parse(text).expect_err(text);
            assert!(format!("{e:#}").contains(needle), "{e:#}");
        }
    }

    #[test]
    fn dns_domain_is_checked_as_contrail_checks_it() {
        let s = Settings::parse(
            "[MESOS]\ndns_domain = l4lb.thisdcos.directory.\ndns_nameservers = 10.0.0.2, fd00::2\n",
        )
        .expect("parses");
        assert_eq!(s.dns_domain.as_deref(), Some("l4lb.thisdcos.directory"));
        assert_eq!(s.virtual_dns().to_string(), "default-domain:mesos-dns");
        assert!(s.result_nameservers().is_empty(), "the agent's DNS server");
        assert_eq!(s.next_virtual_dns(), Some("10.0.0.2".parse().expect("ip")));
        let off = Settings::parse("[MESOS]\ndns_nameservers = 10.0.0.2\n").expect("parses");
        assert_eq!(off.dns_domain, None);
        assert_eq!(off.result_nameservers(), off.dns_nameservers.as_slice());
        for (text, needle) in [
            (
                "[MESOS]\ndns_domain = l4lb_x.directory\n",
                "[MESOS] dns_domain = \"l4lb_x.directory\" is not a DNS name",
            ),
            ("[MESOS]\ndns_domain = a..b\n", "dns_domain = \"a..b\""),
            (
                "[MESOS]\ndns_domain = l4lb.thisdcos.directory\nmesos_cluster_name = dc_1\n",
                "[MESOS] mesos_cluster_name = \"dc_1\": with [MESOS] dns_domain the cluster's \
                 virtual-DNS is named \"dc_1-dns\"",
            ),
            (
                "[MESOS]\ndns_domain = l4lb.thisdcos.directory\ndns_nameservers = fd00::2\n",
                "[MESOS] dns_nameservers: with [MESOS] dns_domain the first address, fd00::2",
            ),
        ] {
            let e = Settings::parse(text).expect_err(text);
            assert!(format!("{e:#}").contains(needle), "{e:#}");
        }
        // Without dns_domain, neither the cluster name nor the nameservers are held to it.
        Settings::parse("[MESOS]\nmesos_cluster_name = dc_1\ndns_nameservers = fd00::2\n")
            .expect("no virtual-DNS");
    }

    #[test]
    fn project_forms() {
        assert_eq!(parse_project("p", "d").expect("ok").to_string(), "d:p");
        assert_eq!(parse_project("x:p", "d").expect("ok").to_string(), "x:p");
        assert_eq!(
            parse_project("{'project': 'p'}", "d")
                .expect("ok")
                .to_string(),
            "d:p"
        );
    }
}
