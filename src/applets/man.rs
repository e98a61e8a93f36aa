//! Man pages, generated from the clap definitions plus the tables the code itself uses (config
//! keys, labels, error codes), so they cannot drift from the program.

use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};

use crate::applets as app;
use crate::domain::error::Code;
use crate::domain::labels;
use crate::domain::netconf as config;
use crate::domain::settings;

/// Writes extra sections of a page.
type Section = fn(&mut Roff);

/// `(file name, roff text)` of every page.
pub fn pages() -> Vec<(String, String)> {
    let mut out = vec![(
        "contrail-mesos.1".to_string(),
        page(app::command(), "1", &[top_sections]),
    )];
    let applets: [(&str, &str, &[Section]); 5] = [
        ("cni", "8", &[cni_sections]),
        ("manager", "8", &[manager_sections]),
        ("fip", "1", &[cli_sections]),
        ("sg", "1", &[cli_sections]),
        ("status", "1", &[cli_sections, status_sections]),
    ];
    for (name, section, extra) in applets {
        let Some(cmd) = app::command().find_subcommand(name).cloned() else {
            continue;
        };
        let full = format!("{}-{name}", app::NAME);
        let cmd = cmd
            .name(full.clone())
            .bin_name(full.clone())
            .version(env!("CARGO_PKG_VERSION"));
        out.push((format!("{full}.{section}"), page(cmd, section, extra)));
    }
    out
}

fn page(cmd: clap::Command, section: &str, extra: &[Section]) -> String {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let name = cmd.get_name().to_uppercase();
    let has_subcommands = cmd.has_subcommands();
    let sub_cmds: Vec<clap::Command> = cmd.get_subcommands().cloned().collect();
    let man = Man::new(cmd)
        .title(name)
        .section(section)
        .source(format!("{} {}", app::NAME, env!("CARGO_PKG_VERSION")))
        .manual("contrail-mesos manual");
    let mut buf = Vec::new();
    let _ = man.render_title(&mut buf);
    let _ = man.render_name_section(&mut buf);
    let _ = man.render_synopsis_section(&mut buf);
    let _ = man.render_description_section(&mut buf);
    let _ = man.render_options_section(&mut buf);
    let mut roff = Roff::new();
    if has_subcommands {
        subcommands(&mut roff, &sub_cmds);
    }
    for f in extra {
        f(&mut roff);
    }
    see_also(&mut roff);
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    text.push_str(&roff.to_roff());
    text
}

/// Each sub-command with its usage and arguments (clap_mangen would point at pages per
/// sub-command instead).
fn subcommands(roff: &mut Roff, subs: &[clap::Command]) {
    roff.control("SH", ["COMMANDS"]);
    for sub in subs {
        let mut sub = sub.clone();
        let usage = sub.render_usage().to_string();
        let usage = usage.trim_start_matches("Usage:").trim().to_string();
        roff.control("TP", []);
        roff.text([bold(usage)]);
        roff.text([roman(
            sub.get_about().map(|a| a.to_string()).unwrap_or_default(),
        )]);
        for arg in sub
            .get_arguments()
            .filter(|a| !a.is_global_set() && !a.is_hide_set())
        {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            let name = match (arg.get_short(), arg.get_long()) {
                (_, Some(l)) => format!("--{l}"),
                (Some(s), None) => format!("-{s}"),
                (None, None) => id.to_uppercase(),
            };
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            roff.control("RS", []);
            roff.control("TP", []);
            roff.text([bold(name)]);
            roff.text([roman(help)]);
            roff.control("RE", []);
        }
    }
}

fn table(roff: &mut Roff, heading: &str, rows: &[(String, String)]) {
    roff.control("SH", [heading]);
    for (k, v) in rows {
        roff.control("TP", []);
        roff.text([bold(k.clone())]);
        roff.text([roman(v.clone())]);
    }
}

fn para(roff: &mut Roff, text: &str) {
    roff.control("PP", []);
    roff.text([roman(text)]);
}

fn codes(roff: &mut Roff) {
    let rows: Vec<(String, String)> = Code::ALL
        .iter()
        .map(|c| (c.to_string(), c.meaning().to_string()))
        .collect();
    table(roff, "ERROR CODES", &rows);
}

fn top_sections(roff: &mut Roff) {
    roff.control("SH", ["APPLETS"]);
    para(
        roff,
        "Install the binary once and symlink the applet names to it: contrail-mesos-cni (or contrail-cni-plugin, the upstream DC/OS name, or any CNI type name: the binary is the CNI plugin whenever CNI_COMMAND is set), contrail-mesos-manager, contrail-mesos-fip, contrail-mesos-sg, contrail-mesos-status.",
    );
    roff.control("SH", ["EXIT STATUS"]);
    para(
        roff,
        "0 on success, 1 on failure (the message names what was wrong), 2 on a usage error. The cni applet exits 1 with the CNI error JSON on stdout.",
    );
}

fn cni_sections(roff: &mut Roff) {
    table(
        roff,
        "ENVIRONMENT",
        &[
            ("CNI_COMMAND".into(), "ADD, DEL, CHECK (0.4.0+), VERSION, STATUS and GC (1.1.0).".into()),
            ("CNI_CONTAINERID".into(), "The container id; must match ^[A-Za-z0-9][A-Za-z0-9_.-]*$ (else code 4, before any side effect).".into()),
            ("CNI_NETNS".into(), "The container's network namespace (required for ADD and CHECK; DEL works without it).".into()),
            ("CNI_IFNAME".into(), "The interface to create in the container, at most 15 characters.".into()),
            ("CNI_PATH".into(), "Plugin search path (not used).".into()),
            ("CNI_ARGS".into(), "KEY=VALUE;... Unknown keys are an error unless IgnoreUnknown=1 or true is present.".into()),
        ],
    );
    let rows: Vec<(String, String)> = config::KEYS
        .iter()
        .map(|(k, d, m)| (format!("contrail.{k}"), format!("{m} (default {d})")))
        .collect();
    table(roff, "CONFIGURATION", &rows);
    para(
        roff,
        "The network configuration on stdin is one plugin object (Mesos reads only single-plugin files). cniVersion selects the result format: 0.1.0 and 0.2.0 print ip4/dns, which is what Mesos parses (use 0.2.0 with Mesos); 0.3.0 to 1.1.0 print interfaces/ips/routes. A configuration without cniVersion means 0.1.0.",
    );
    roff.control("SH", ["DNS"]);
    para(
        roff,
        "The result's dns, in every version, is what the task's resolver uses (Mesos writes the task's /etc/resolv.conf from it; a task on a CNI network gets no DHCP). nameservers: the network configuration's dns.nameservers first, then the manager's dns_nameservers in their order when it has any and no dns_domain (its ADD answer carries them: nothing to configure here), else the DNS server the vRouter agent reports for the port (with the manager's dns_domain it serves the cluster's virtual-DNS), the subnet's service address, where the agent's DNS proxy forwards to the node's resolvers (Mesos-DNS, dcos-dns). search: the configuration's, then the manager's dns_search. Each value once; the configuration's domain and options are kept.",
    );
    let rows: Vec<(String, String)> = labels::KEYS
        .iter()
        .map(|(k, m)| (k.to_string(), m.to_string()))
        .collect();
    table(roff, "LABELS", &rows);
    para(
        roff,
        "Labels come from args[\"org.apache.mesos\"].network_info.labels.labels (Marathon's ipAddress.labels or networks[].labels), or args.labels for other runtimes. Unknown labels are ignored; a malformed value is error 7 naming the label.",
    );
    roff.control("SH", ["FILES"]);
    para(
        roff,
        "<config-dir>/.contrail-mesos/<container-id>/<vmi-uuid>: the plugin's record of each interface, written atomically, recording vm-id (the container id). A DEL whose container id does not match a recorded vm-id touches nothing. The container's record directory is also its lock: no vRouter agent release removes one interface of a VM, so a DEL removes the VM's ports and registers the others again, and an ADD or DEL of another interface of the same container waits meanwhile.",
    );
    para(
        roff,
        "<config-dir> itself is the vRouter agent's own port directory: the agent writes a port file there for each port it is told of (R5.0: <vm-uuid>; R5.1 to R2005: <vm-uuid>/<vmi-uuid>; R2008 on: <vm-name>/<vmi-uuid>), removes <vm-uuid> on a DELETE of the VM, and reloads its files when it restarts, so the ports of running tasks come back without any plugin run. No release writes, reloads or removes anything in .contrail-mesos.",
    );
    para(
        roff,
        "Records an older version kept at <config-dir>/<container-id>/<vmi-uuid> are moved to .contrail-mesos by the first plugin run that finds no .contrail-mesos; the live ports among them are registered with the agent again so that it writes its own port files, and an old directory is removed only when empty, never one the agent keeps files in.",
    );
    roff.control("SH", ["VROUTER AGENT"]);
    para(
        roff,
        "Every agent release since R5.0 is supported: GET /vm/<vm>/<vmi> (R2008 on) is asked once, and on 404 Unknown Request the plugin reads GET /vm/<vm> for the rest of its run (R5.0 answers one object, R5.1 to R2005 a list). The plugin tells the manager its node (host name and addresses) so that the manager links the task to the node's own virtual-router; see contrail-mesos-manager(8).",
    );
    roff.control("SH", ["EXIT STATUS"]);
    para(
        roff,
        "0 on success (the result JSON on stdout for ADD). 1 on failure, with {\"cniVersion\",\"code\",\"msg\",\"details\"} on stdout. DEL succeeds when things are already gone, without CNI_NETNS, and when the manager cannot be reached.",
    );
    codes(roff);
    roff.control("SH", ["EXAMPLE"]);
    para(
        roff,
        "A Mesos network file, e.g. /opt/mesosphere/etc/dcos/network/cni/contrail-cni-plugin.conf: {\"cniVersion\":\"0.2.0\",\"name\":\"contrail-cni-plugin\",\"type\":\"contrail-cni-plugin\",\"contrail\":{\"vrouter-ip\":\"10.0.0.5\",\"vrouter-port\":9091,\"cluster-name\":\"agent-5\",\"mesos-ip\":\"127.0.0.1\",\"mesos-port\":\"6991\",\"config-dir\":\"/var/lib/contrail/ports/vm\",\"poll-timeout\":5,\"poll-retries\":15,\"log-file\":\"/var/log/contrail/cni/opencontrail.log\"}}",
    );
}

fn manager_sections(roff: &mut Roff) {
    let rows: Vec<(String, String)> = settings::KEYS
        .iter()
        .map(|k| {
            let meaning = match k.default {
                Some(d) => format!("{} (default {d})", k.meaning),
                None => k.meaning.to_string(),
            };
            (format!("[{}] {}", k.section, k.name), meaning)
        })
        .collect();
    table(roff, "CONFIGURATION FILE", &rows);
    para(
        roff,
        "Unknown keys are ignored. Command-line flags override the file.",
    );
    table(
        roff,
        "REST API",
        &[
            ("POST /add_cni_info".into(), "Body {\"cid\",\"cmd\",\"args\"} (args: the CNI configuration as a JSON string or object) plus optional \"ifname\" (eth0). Answers 200 once every Contrail object exists: {\"cid\",\"vm-uuid\",\"interfaces\":[{\"ifname\",\"vmi-uuid\",\"vn-uuid\",\"vn-fq-name\",\"mac-address\",\"ip-address\",\"plen\",\"gateway\",\"floating-ips\",\"security-groups\",\"dns-nameservers\",\"dns-search\"}]} (dns-nameservers: dns_nameservers, dns-search: dns_search, each absent when empty). Errors: 4xx/5xx with {\"error\":{\"code\",\"msg\"}} using the codes below; a failed ADD leaves nothing behind (policies a network-policies label names are attached last, and detached again if attaching one fails).".into()),
            ("POST /del_cni_info".into(), "Same body. Removes floating IPs, instance IPs, the interface, the router link and (when no interface is left) the VM. Never a network.".into()),
            ("GET /healthz".into(), "200 while serving: {\"status\",\"config_api\",\"cluster\",\"provisioning\"}, provisioning pending, failed (with provisioning_failed: what is not as the settings say; it is tried again) or done; with dns_domain \"virtual_dns\": {\"server\",\"domain\"}; while Contrail refuses to change an IPAM's DNS method \"ipams_dns_not_switched\": [{\"ipam\",\"method\",\"wanted\",\"error\"}].".into()),
            ("GET /metrics".into(), "Prometheus text: requests by endpoint and status, latency histogram, config API calls and errors, objects created and deleted, reconciliation runs and orphans removed, VIPs and their members, VIPs refused, the named VIPs' DNS records (vip_dns_records), the IPAMs Contrail refused to switch (ipams_dns_not_switched), VIP passes, their errors and durations.".into()),
        ],
    );
    para(
        roff,
        "With token_file set, every request needs Authorization: Bearer <token> (401 otherwise).",
    );
    roff.control("SH", ["THE NODE'S VIRTUAL-ROUTER"]);
    para(
        roff,
        "A node's vRouter agent learns a port only when the task's virtual-machine is linked from the agent's own virtual-router, [default-global-system-config, <its host name>], whose address is the node's fabric address. Our plugin adds \"node\": {\"hostname\",\"addresses\"} to each request; the manager takes, in this order, the router whose virtual_router_ip_address is a non-loopback vrouter-ip, the one named after the host name, then after its first label, one whose address is one of the node's, then the one named cluster-name (all an upstream plugin's request carries). It looks before creating anything: with none, the ADD fails at once with code 102 naming every way it tried, and leaves nothing. The interface is bound to that router (virtual_machine_interface_bindings host_id) and owned by the project (perms2).",
    );
    roff.control("SH", ["PROVISIONING"]);
    para(
        roff,
        "At start, and again with growing pauses until it is complete, the manager makes in the cluster project <mesos_cluster_domain>:<cluster>-default (cluster_project): the network-policy <cluster>-default-ip-fabric-np, one rule: direction <>, protocol any, ports any, ethertype IPv4, action pass, between every network the policy is attached to (source network_policy: the policy itself) and default-domain:default-project:ip-fabric; the network-policy <cluster>-default-pod-service-np, the same rule between the pod-task and the service networks; the network-policy <cluster>-default-service-np, the same rule between every network it is attached to (source network_policy: the policy itself) and the service network; the flat-subnet IPAMs <cluster>-pod-task-ipam (pod_task_subnets) and <cluster>-service-ipam (service_subnets), and with ip_fabric_forwarding <cluster>-ip-fabric-ipam (ip_fabric_subnets), each with ipam_dns_method default-dns-server (with dns_domain: the cluster's virtual-DNS, see DNS); the networks <cluster>-default-pod-task-network and <cluster>-default-service-network, each made with the first two policies (a reference with sequence 0.0), the service network with the service policy too. It attaches the ip-fabric policy to default-domain:default-project:ip-fabric. Every attachment is relaxed for delete (POST /ref-relax-for-delete). The policies and the pod-task network are what upstream's Mesos and Kubernetes managers make. Contrail's schema transformer connects two networks only when a rule of a policy attached to both names each of them: the service policy connects each network made from labels with the service network (so their tasks reach the VIPs), and those networks not with each other.",
    );
    para(
        roff,
        "Each start looks every object up, reads it, and writes only what differs from the settings: IPAM subnets (kept entries keep their subnet uuid; Contrail refuses to remove a subnet still in use, which is reported and retried), the DNS method of its IPAMs (see DNS), the rules of the three policies (they are the manager's: other rules in them are removed; attach your own policies with the network-policies label), missing attachments, and the service policy on networks made from labels before it existed (those holding both the ip-fabric and the pod-service policy; with attach_cluster_policies). A start with unchanged settings writes nothing. ip_fabric_forwarding (a reference to ip-fabric, addresses from <cluster>-ip-fabric-ipam) or ip_fabric_snat (fabric_snat) apply when the pod-task network is made: to change them, remove that network when no task uses it and restart.",
    );
    para(
        roff,
        "The global-vrouter-config default-global-system-config:default-global-vrouter-config is merged into, never replaced: with ip_fabric_snat, upstream's port-translation pool for tcp (56000-57023) and for udp (57024-58047), each only when that protocol has none; with mesos_dns_link_local, the link-local service <cluster>-mesos-dns (merged by name; an entry of another name on the same address and port is left alone and reported). Everything else there stays as the operator set it.",
    );
    para(
        roff,
        "Networks made from labels get the three policies in the call that makes them (attach_cluster_policies), relaxed for delete, and their IPAM <network>-ipam ipam_dns_method default-dns-server (with dns_domain: the cluster's virtual-DNS). The network-policies label attaches existing policies to the task's network after the policies it has (sequence major = their number), once, not relaxed for delete (detach a policy before deleting it, as Contrail wants); task teardown never detaches them.",
    );
    para(
        roff,
        "Removing them: stop the managers first (a manager makes what is missing again). The policies are relaxed for delete, so they can be deleted while attached, and the networks lose them: DELETE /network-policy/<uuid> on the config API (uuid from POST /fqname-to-id with {\"type\":\"network-policy\",\"fq_name\":[...]}). Then, once no task uses them, the networks and their IPAMs, and the <cluster>-mesos-dns entry and the pools in the global-vrouter-config with a PUT of its linklocal_services and port_translation_pools.",
    );
    roff.control("SH", ["DNS"]);
    para(
        roff,
        "A task's resolvers are the CNI result's dns.nameservers: dns_nameservers in their order when set (the ADD answer carries them to the plugin), else the DNS server the vRouter agent reports for the port (the subnet's service address, where the agent's DNS proxy forwards to the node's resolvers, e.g. Mesos-DNS or dcos-dns); dns.search is dns_search. The manager never sets an IPAM's ipam_dns_method to tenant-dns-server: the agent hands tenant servers only to DHCP clients and its DNS proxy answers SERVFAIL for that method, and once interfaces exist the config API refuses to change the method away from tenant-dns-server or from unset (network_ipam.py is_change_allowed). IPAMs it makes get default-dns-server. At every start the IPAMs it made (the cluster's, and <network>-ipam of the networks made from labels, found as those holding both the ip-fabric and the pod-service policy) are given default-dns-server when they have another method (an earlier version set tenant-dns-server); when the config API refuses because interfaces are on their networks, the log and /healthz (provisioning failed) name the IPAM, its method and the reason, the rest is provisioned, and it is tried again until the change is allowed (once no interface is left there).",
    );
    para(
        roff,
        "With dns_domain the manager keeps the virtual-DNS [<the cluster project's domain>, <cluster>-dns] (default-domain:mesos-dns), marked with annotations owner, cluster and kind dns: virtual_DNS_data {domain_name: dns_domain, dynamic_records_from_client: false, record_order: random, default_ttl_seconds: 60, external_visible: true, next_virtual_DNS: the first dns_nameservers address when set}, made first (its data put back when it differs: the whole virtual_DNS_data, which the config API's update hook reads). external_visible makes Contrail's DNS (contrail-named on the control nodes) answer the domain to queries that do not come through a vRouter agent, e.g. Mesos-DNS forwarding the zone to it (controller src/dns/bind/named_config.cc). The cluster's IPAMs, those of the networks made from labels and every IPAM it makes then use it: network_ipam_mgmt {ipam_dns_method: virtual-dns-server, ipam_dns_server: {virtual_dns_server_name: <its fq-name>}} (other settings kept) and a virtual_DNS_refs reference, written in one update. A switch the config API refuses (from an unset method or tenant-dns-server while interfaces are on the IPAM's networks) is reported as above, in /healthz ipams_dns_not_switched and in the ipams_dns_not_switched gauge, and tried again. The CNI result's nameserver is then the agent's DNS server for the port, dns_nameservers or not: the agent's proxy asks the virtual-DNS, which answers its records and forwards other names to next_virtual_DNS. Each named VIP has a record there (see VIPS). At start, a dns_domain the config API would refuse (virtual_dns.py: dot-separated labels of letters, digits and inner '-', 1 to 63 characters each, 255 in all; one trailing dot is dropped), a cluster name whose <cluster>-dns has other characters than letters, digits and '-', and an IPv6 first dns_nameservers address are refused, naming the key. Without dns_domain, IPAMs on the virtual-DNS go back to default-dns-server without the reference (always allowed), then the manager deletes the records it made in its virtual-DNS and the virtual-DNS (a virtual-DNS of that name it did not make is left alone; one something else still uses is reported and tried again).",
    );
    roff.control("SH", ["MESOS-DNS, MARATHON-LB AND DCOS-L4LB"]);
    para(
        roff,
        "Mesos-DNS runs on the masters on host networking and reads task addresses from the master (IPSources with netinfo first; the CNI result must be cniVersion 0.2.0); tasks reach it through <cluster>-default-ip-fabric-np (the cluster's networks <-> ip-fabric, where the hosts are) or mesos_dns_link_local. marathon-lb runs on host networking on public agents; its backend apps on Contrail carry HAPROXY_GROUP (and HAPROXY_0_VHOST, a servicePort); it proxies to each task's ipAddresses[0] and container port, which the ip-fabric policy makes reachable from the hosts (the vRouter needs --enable_vhost_vmi_policy; or ip_fabric_forwarding). dcos-l4lb's VIP labels (VIP_0 on port mappings or pod endpoints) are made Contrail native load balancers by the manager for tasks on Contrail networks, reached from every network of the cluster through <cluster>-default-pod-service-np and <cluster>-default-service-np and from the hosts through the ip-fabric policy; dcos-l4lb keeps serving host and bridge tasks.",
    );
    para(
        roff,
        "DNS: with dns_domain = l4lb.thisdcos.directory, tasks on Contrail networks resolve <app>.marathon.l4lb.thisdcos.directory (the name DC/OS gives a named VIP) to the Contrail VIP through the agent's DNS server, and every other name through next_virtual_DNS: give Mesos-DNS's (or dcos-dns's) address, one the control nodes reach on port 53, as the first dns_nameservers entry. The other way, hosts resolve the VIP names when Mesos-DNS (0.6 and later) forwards the zone to the control nodes: \"zoneResolvers\": {\"l4lb.thisdcos.directory\": [\"<control node>\"]}. On DC/OS, dcos-dns already answers that domain on the hosts with dcos-l4lb's addresses: leave it so, or choose another dns_domain.",
    );
    roff.control("SH", ["RECONCILIATION"]);
    para(
        roff,
        "Every reconcile_interval seconds the manager lists this cluster's container VMs (owner mesos, cluster <mesos_cluster_name>) and removes those whose container the Mesos master does not report in an active, non-terminal task and that are older than reconcile_grace. A running task's VM that no virtual-router refers to (the node's router was deleted and made again under a new uuid, which takes the old router's links with it) and that is older than reconcile_grace is linked to the router named after the host its interface is bound to, so that the node's agent learns its ports again (counted in reconcile_routers_relinked_total). If the master cannot be read, nothing is deleted or linked.",
    );
    roff.control("SH", ["VIPS"]);
    para(
        roff,
        "With marathon_url, mesos_master_url and a vip_sync_interval above 0, every vip_sync_interval seconds and soon after Marathon's event stream (/v2/events) reports a change, the manager reads Marathon's apps with their tasks and its pods, the master's tasks and this cluster's load balancers, and makes Contrail hold one native load balancer per VIP: a port mapping or pod endpoint label whose key starts with VIP (any case), value <vip>:<port>; an IP <vip> is that address (refused when outside service_subnets), a name (/web) is web.marathon with an address from the service network. In the cluster project: a VIP interface and instance IP in <cluster>-default-service-network, a loadbalancer (provider native), one listener and pool per port and protocol (tcp, udp, udp,tcp) and one member per serving task on a Contrail interface of this cluster (address = the task's IP, protocol_port = its container port, annotations vmi and vm). Serving: an app task TASK_RUNNING and, when its app has health checks, with its healthCheckResults there and every one alive (no result yet, as in the grace period: no member, as marathon-lb reads it); a pod container TASK_RUNNING whose health check, if it has one, passes in the pod status (its endpoint's healthy, else its healthy condition). Marathon's health events (health_status_changed_event, instance_health_changed_event) start a pass at once, so a member that turns unhealthy leaves within the event latency. A VIP no task names any more is removed, with the floating IP svc-monitor made under its instance IP. svc-monitor's native driver (which must run) puts each new member's interface on that floating IP with a port map, but takes nothing off and never moves a map: after changing a VIP (and on every twelfth pass) the manager makes it hold the current members' interfaces and one port map per port that has members (a dropped port's map goes, a changed container port's map follows). If Marathon, the master or Contrail cannot be read, nothing is changed. A task's teardown removes its members first, takes its interface off every floating IP it does not own, and when the interface is put back on one meanwhile (a member added as the task goes) takes it off again and retries for up to 5 s. With dns_domain, each named VIP Marathon declares has one virtual-DNS-record [<domain>, <cluster>-dns, <cluster>__vip__<name>] (a derived uuid, so several managers make one; record names are not unique in Contrail) with annotations owner, cluster, kind vip, vip and name, and virtual_DNS_record_data {record_name: web.marathon, record_type: A (AAAA for an IPv6 VIP), record_class: IN, record_data: the VIP's address, record_ttl_seconds: 60}, made after its VIP, written again when the address differs, and removed before the VIP is; every other record marked as a VIP's of this cluster (its VIP gone, or a second one) goes at the next pass. A pass lists the records in one more call.",
    );
    roff.control("SH", ["SIGNALS"]);
    para(
        roff,
        "SIGTERM and SIGINT stop the service after the requests in progress.",
    );
    codes(roff);
}

fn cli_sections(roff: &mut Roff) {
    roff.control("SH", ["GLOBAL OPTIONS"]);
    para(
        roff,
        "--api, -c/--config, --json and --timeout are accepted before or after the sub-command. Without --api the config API endpoints, TLS settings and Keystone credentials come from the manager's ini file given with -c.",
    );
    roff.control("SH", ["EXIT STATUS"]);
    para(
        roff,
        "0 on success; 1 when a service cannot be reached (the message names its URL) or when the request is refused (the message names the pool, address, group or task); 2 on a usage error.",
    );
}

fn status_sections(roff: &mut Roff) {
    roff.control("SH", ["OUTPUT"]);
    para(
        roff,
        "One row per Marathon app task and pod instance: app or pod id, task id, agent host, state, network, IP, MAC, floating IPs, security groups and the network's policies (in their sequence order); then the orphaned container VMs (ours, claimed by no task, not running per the Mesos master); then one row per VIP: its name (web.marathon, or its address), address, ports and protocols, the apps and pods naming it, its members (task, address:port), and whether Contrail is in step with what Marathon declares (what is missing, what is extra) or why the VIP is refused. With the manager's dns_domain (-c FILE): a DNS column with each named VIP's record (web.marathon.<dns_domain> -> its address, or no record; a missing, changed or extra record is listed as missing or extra), then the cluster's virtual-DNS (the domain it serves, or missing) and the IPAMs of the cluster's networks (pod-task, service, and the networks holding the ip-fabric and pod-service policies) that do not use it, with their DNS method. --json prints {\"tasks\":[...],\"orphans\":[...],\"vips\":[{\"name\",\"vip\",\"address\",\"apps\",\"ports\",\"members\":[{\"task\",\"address\",\"port\",\"vip_port\"}],\"missing\",\"extra\",\"refused\",\"dns\":{\"name\",\"address\",\"in_step\"}}],\"dns\":{\"server\",\"domain\",\"serves\",\"ipams_not_on_it\":[{\"ipam\",\"method\",\"networks\"}]}} (dns only with dns_domain), each task's interfaces with ifname, network, ips, mac, floating_ips, security_groups and policies.",
    );
}

fn see_also(roff: &mut Roff) {
    roff.control("SH", ["SEE ALSO"]);
    roff.text([
        bold("contrail-mesos"),
        roman("(1), "),
        bold("contrail-mesos-cni"),
        roman("(8), "),
        bold("contrail-mesos-manager"),
        roman("(8), "),
        bold("contrail-mesos-fip"),
        roman("(1), "),
        bold("contrail-mesos-sg"),
        roman("(1), "),
        bold("contrail-mesos-status"),
        roman("(1)"),
    ]);
}
