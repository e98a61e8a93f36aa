//! Labels → the Contrail objects of one task interface, and the JSON bodies that create them.
//! Pure: no I/O. The executor walks this plan forward and its journal backwards.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{Value, json};

use crate::fqname::FqName;
use crate::ids;
use crate::labels::NetworkRequest;
use crate::settings::Settings;

/// Marks every object the manager creates (`annotations.key_value_pair`).
pub const OWNER: &str = "mesos";
pub const KIND: &str = "MesosTask";

/// One ADD or DEL, as the manager received it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRequest {
    pub cid: String,
    pub ifname: String,
    pub labels: NetworkRequest,
    /// The CNI's `vrouter-ip`: the virtual-router to link the VM to.
    pub vrouter_ip: Option<String>,
    /// The CNI's `cluster-name`: the virtual-router's name when none has `vrouter_ip`.
    pub node_name: Option<String>,
}

/// A network to create when it does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSpec {
    pub ipam: FqName,
    pub subnets: Vec<IpNet>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FipSpec {
    pub pool: FqName,
    pub fq_name: FqName,
    pub uuid: String,
    pub address: Option<IpAddr>,
}

/// Everything one interface needs, in creation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub cid: String,
    pub ifname: String,
    pub cluster: String,
    pub project: FqName,
    pub network: FqName,
    /// Set when the labels give subnets: create the network with them if it is missing.
    pub create_network: Option<NetworkSpec>,
    pub vm_uuid: String,
    pub vm_fq_name: FqName,
    pub vmi_uuid: String,
    pub vmi_fq_name: FqName,
    pub iip_uuid: String,
    pub iip_fq_name: FqName,
    pub ip: Option<IpAddr>,
    pub security_groups: Vec<FqName>,
    pub floating_ips: Vec<FipSpec>,
    pub router_ip: Option<String>,
    pub router_name: Option<String>,
}

/// Build the plan. Errors name the label that cannot be turned into a name.
pub fn plan(req: &TaskRequest, settings: &Settings) -> Result<Plan, String> {
    let l = &req.labels;
    let cluster = l
        .cluster_name
        .clone()
        .unwrap_or_else(|| settings.cluster_name.clone());
    let default_project = settings.project();
    let domain = l
        .domain
        .clone()
        .unwrap_or_else(|| default_project.parts()[0].clone());
    let project_name = l
        .project
        .clone()
        .unwrap_or_else(|| default_project.name().to_string());
    let project = FqName::new([domain, project_name]).map_err(|e| format!("project: {e}"))?;
    let (network, create_network) = match &l.network {
        Some(net) => {
            let fq = net.resolve(&project);
            let spec = (!l.subnets.is_empty()).then(|| NetworkSpec {
                ipam: fq
                    .parent()
                    .and_then(|p| p.child(&format!("{}-ipam", fq.name())).ok())
                    .unwrap_or_else(|| fq.clone()),
                subnets: l.subnets.clone(),
            });
            (fq, spec)
        }
        None => (settings.pod_task_network(), None),
    };
    let name = ids::vmi_name(&req.cid, &req.ifname);
    let vmi_fq_name = project
        .child(&name)
        .map_err(|e| format!("interface name: {e}"))?;
    let iip_fq_name = FqName::new([name.clone()]).map_err(|e| format!("instance-ip name: {e}"))?;
    let vm_fq_name = FqName::new([req.cid.clone()]).map_err(|e| format!("container id: {e}"))?;
    let floating_ips = l
        .floating_ips
        .iter()
        .enumerate()
        .map(|(i, f)| {
            Ok(FipSpec {
                pool: f.pool.clone(),
                fq_name: f
                    .pool
                    .child(&ids::fip_name(&req.cid, &req.ifname, i))
                    .map_err(|e| format!("floating-ip name: {e}"))?,
                uuid: ids::fip_uuid(&req.cid, &req.ifname, i),
                address: f.address,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Plan {
        cid: req.cid.clone(),
        ifname: req.ifname.clone(),
        cluster,
        security_groups: l
            .security_groups
            .iter()
            .map(|sg| sg.resolve(&project))
            .collect(),
        project,
        network,
        create_network,
        vm_uuid: ids::vm_uuid(&req.cid),
        vm_fq_name,
        vmi_uuid: ids::vmi_uuid(&req.cid, &req.ifname),
        vmi_fq_name,
        iip_uuid: ids::iip_uuid(&req.cid, &req.ifname),
        iip_fq_name,
        ip: l.ip,
        floating_ips,
        router_ip: req.vrouter_ip.clone().filter(|s| !s.is_empty()),
        router_name: req.node_name.clone().filter(|s| !s.is_empty()),
    })
}

/// A ref as the config API wants it.
pub fn reference(fq: &FqName, uuid: &str) -> Value {
    json!({"to": fq.to_json(), "uuid": uuid, "attr": null})
}

fn kv(pairs: &[(&str, &str)]) -> Value {
    let list: Vec<Value> = pairs
        .iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    json!({"key_value_pair": list})
}

/// Subnet entries for a network-ipam ref attr or a flat IPAM.
pub fn subnet_entries(subnets: &[IpNet]) -> Vec<Value> {
    subnets
        .iter()
        .map(|n| json!({"subnet": {"ip_prefix": n.network().to_string(), "ip_prefix_len": n.prefix_len()}}))
        .collect()
}

pub fn project_body(project: &FqName) -> Value {
    json!({"fq_name": project.to_json(), "parent_type": "domain"})
}

/// A user-defined-subnet IPAM for a network created from labels.
pub fn ipam_body(ipam: &FqName) -> Value {
    json!({"fq_name": ipam.to_json(), "parent_type": "project"})
}

/// A network with its subnets on the IPAM ref.
pub fn network_body(network: &FqName, spec: &NetworkSpec, ipam_uuid: &str) -> Value {
    let mut r = reference(&spec.ipam, ipam_uuid);
    r["attr"] = json!({"ipam_subnets": subnet_entries(&spec.subnets)});
    json!({
        "fq_name": network.to_json(),
        "parent_type": "project",
        "network_ipam_refs": [r],
        "virtual_network_properties": {"forwarding_mode": "l3"},
    })
}

/// The flat-subnet IPAM of the pod-task network.
pub fn flat_ipam_body(ipam: &FqName, subnets: &[IpNet]) -> Value {
    json!({
        "fq_name": ipam.to_json(),
        "parent_type": "project",
        "ipam_subnet_method": "flat-subnet",
        "ipam_subnets": {"subnets": subnet_entries(subnets)},
    })
}

/// The default pod-task network: flat-subnet-only, addresses from its IPAM.
pub fn pod_task_network_body(network: &FqName, ipam: &FqName, ipam_uuid: &str) -> Value {
    let mut r = reference(ipam, ipam_uuid);
    r["attr"] = json!({"ipam_subnets": []});
    json!({
        "fq_name": network.to_json(),
        "parent_type": "project",
        "address_allocation_mode": "flat-subnet-only",
        "network_ipam_refs": [r],
        "virtual_network_properties": {"forwarding_mode": "l3"},
    })
}

pub fn vm_body(p: &Plan, created_at: &str) -> Value {
    json!({
        "uuid": p.vm_uuid,
        "fq_name": p.vm_fq_name.to_json(),
        "display_name": p.cid,
        "server_type": "container",
        "annotations": kv(&[("owner", OWNER), ("cluster", &p.cluster), ("kind", KIND),
                            ("container-id", &p.cid), ("created", created_at)]),
    })
}

pub fn vmi_body(p: &Plan, vn_uuid: &str, sg_uuids: &[String]) -> Value {
    let sgs: Vec<Value> = p
        .security_groups
        .iter()
        .zip(sg_uuids)
        .map(|(fq, u)| reference(fq, u))
        .collect();
    let mac = ids::mac_from_uuid(&p.vmi_uuid).unwrap_or_default();
    json!({
        "uuid": p.vmi_uuid,
        "fq_name": p.vmi_fq_name.to_json(),
        "parent_type": "project",
        "display_name": format!("{}/{}", p.cid, p.ifname),
        "virtual_network_refs": [reference(&p.network, vn_uuid)],
        "virtual_machine_refs": [reference(&p.vm_fq_name, &p.vm_uuid)],
        "security_group_refs": sgs,
        "virtual_machine_interface_mac_addresses": {"mac_address": [mac]},
        "port_security_enabled": true,
        "annotations": kv(&[("owner", OWNER), ("cluster", &p.cluster), ("interface", &p.ifname),
                            ("network", &p.network.to_string())]),
    })
}

pub fn iip_body(p: &Plan, vn_uuid: &str) -> Value {
    let mut body = json!({
        "uuid": p.iip_uuid,
        "fq_name": p.iip_fq_name.to_json(),
        "virtual_network_refs": [reference(&p.network, vn_uuid)],
        "virtual_machine_interface_refs": [reference(&p.vmi_fq_name, &p.vmi_uuid)],
    });
    if let Some(ip) = p.ip {
        body["instance_ip_address"] = ip.to_string().into();
        body["instance_ip_family"] = if ip.is_ipv4() { "v4" } else { "v6" }.into();
    }
    body
}

pub fn fip_body(p: &Plan, fip: &FipSpec, project_uuid: &str) -> Value {
    let mut body = json!({
        "uuid": fip.uuid,
        "fq_name": fip.fq_name.to_json(),
        "parent_type": "floating-ip-pool",
        "project_refs": [reference(&p.project, project_uuid)],
        "virtual_machine_interface_refs": [reference(&p.vmi_fq_name, &p.vmi_uuid)],
    });
    if let Some(a) = fip.address {
        body["floating_ip_address"] = a.to_string().into();
    }
    body
}

/// The VM is one of ours, from this cluster (annotations owner/cluster).
pub fn is_ours(vm: &Value, cluster: &str) -> bool {
    annotation(vm, "owner") == Some(OWNER) && annotation(vm, "cluster") == Some(cluster)
}

/// A value from `annotations.key_value_pair`.
pub fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj["annotations"]["key_value_pair"]
        .as_array()?
        .iter()
        .find(|kv| kv["key"].as_str() == Some(key))
        .and_then(|kv| kv["value"].as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels;

    fn req(pairs: &[(&str, &str)]) -> TaskRequest {
        TaskRequest {
            cid: "5baff64c-d028-47ba-864e-a5ee679fc069".into(),
            ifname: "eth0".into(),
            labels: labels::parse(pairs.iter().copied()).expect("labels"),
            vrouter_ip: Some("10.0.0.7".into()),
            node_name: Some("agent-7".into()),
        }
    }

    #[test]
    fn seed_labels_to_objects() {
        let p = plan(
            &req(&[
                ("networks", "blue-network"),
                ("network-subnets", "5.5.5.0/24"),
                ("project-name", "default-project"),
                ("domain-name", "default-domain"),
                (
                    "floating-ips",
                    "default-domain:default-project:__public__:__fip_pool_public__(10.66.77.123)",
                ),
                (
                    "security-groups",
                    "default-domain:default-project:security_groups_mesos",
                ),
            ]),
            &Settings::default(),
        )
        .expect("plan");
        assert_eq!(p.project.to_string(), "default-domain:default-project");
        assert_eq!(
            p.network.to_string(),
            "default-domain:default-project:blue-network"
        );
        let spec = p.create_network.clone().expect("network from labels");
        assert_eq!(
            spec.ipam.to_string(),
            "default-domain:default-project:blue-network-ipam"
        );
        assert_eq!(
            spec.subnets,
            vec!["5.5.5.0/24".parse::<IpNet>().expect("net")]
        );
        assert_eq!(p.vm_uuid, "5baff64c-d028-47ba-864e-a5ee679fc069");
        assert_eq!(
            p.vm_fq_name.parts(),
            ["5baff64c-d028-47ba-864e-a5ee679fc069"]
        );
        assert_eq!(
            p.vmi_fq_name.name(),
            "5baff64c-d028-47ba-864e-a5ee679fc069__eth0"
        );
        assert_eq!(
            p.security_groups[0].to_string(),
            "default-domain:default-project:security_groups_mesos"
        );
        assert_eq!(
            p.floating_ips[0].fq_name.parent(),
            Some(p.floating_ips[0].pool.clone())
        );
        assert_eq!(p.cluster, "mesos");
        assert_eq!(p.router_ip.as_deref(), Some("10.0.0.7"));

        let vm = vm_body(&p, "2026-01-01T00:00:00");
        assert_eq!(vm["server_type"], "container");
        assert!(is_ours(&vm, "mesos"));
        assert!(!is_ours(&vm, "other"));
        let vmi = vmi_body(&p, "vn-uuid", &["sg-uuid".to_string()]);
        assert_eq!(vmi["virtual_network_refs"][0]["uuid"], "vn-uuid");
        assert_eq!(vmi["virtual_machine_refs"][0]["uuid"], p.vm_uuid);
        assert_eq!(
            vmi["security_group_refs"][0]["to"][2],
            "security_groups_mesos"
        );
        assert_eq!(vmi["parent_type"], "project");
        let fip = fip_body(&p, &p.floating_ips[0], "proj-uuid");
        assert_eq!(fip["floating_ip_address"], "10.66.77.123");
        assert_eq!(fip["project_refs"][0]["uuid"], "proj-uuid");
        assert_eq!(fip["virtual_machine_interface_refs"][0]["uuid"], p.vmi_uuid);
        let net = network_body(&p.network, &spec, "ipam-uuid");
        assert_eq!(
            net["network_ipam_refs"][0]["attr"]["ipam_subnets"][0]["subnet"]["ip_prefix"],
            "5.5.5.0"
        );
        assert_eq!(
            net["network_ipam_refs"][0]["attr"]["ipam_subnets"][0]["subnet"]["ip_prefix_len"],
            24
        );
    }

    #[test]
    fn defaults_without_labels() {
        let p = plan(&req(&[]), &Settings::default()).expect("plan");
        assert_eq!(p.project.to_string(), "default-domain:mesos-default");
        assert_eq!(
            p.network.to_string(),
            "default-domain:mesos-default:mesos-default-pod-task-network"
        );
        assert!(p.create_network.is_none());
        let iip = iip_body(&p, "vn");
        assert!(iip.get("instance_ip_address").is_none());
    }

    #[test]
    fn requested_address_and_cluster_override() {
        let p = plan(
            &req(&[
                ("networks", "d:p:n"),
                ("network-ip", "5.5.5.10"),
                ("cluster-name", "c2"),
            ]),
            &Settings::default(),
        )
        .expect("plan");
        assert_eq!(p.network.to_string(), "d:p:n");
        assert!(
            p.create_network.is_none(),
            "no subnets: the network must exist"
        );
        assert_eq!(iip_body(&p, "vn")["instance_ip_address"], "5.5.5.10");
        assert_eq!(p.cluster, "c2");
    }

    #[test]
    fn different_interfaces_get_different_objects() {
        let a = plan(&req(&[]), &Settings::default()).expect("plan");
        let mut r = req(&[]);
        r.ifname = "eth1".into();
        let b = plan(&r, &Settings::default()).expect("plan");
        assert_eq!(a.vm_uuid, b.vm_uuid);
        assert_ne!(a.vmi_uuid, b.vmi_uuid);
        assert_ne!(a.iip_fq_name, b.iip_fq_name);
    }
}
