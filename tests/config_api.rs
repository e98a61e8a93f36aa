//! What upstream's config API server answers that the product and the emulators rely on, asked
//! over REST of the config API emulator and of upstream's real server alike: each test pins
//! one difference found between the two (the emulator now answers as upstream).

mod common;

use common::*;
use serde_json::{Value, json};

both_backends! {
    references_come_in_the_order_of_their_targets_uuids: Real;
    a_409_names_the_referrers_of_one_type: Real;
    deleting_an_interface_bound_to_a_host_takes_that_hosts_router_off_its_vm: Real;
    fields_select_what_comes_back: Real;
    instance_ips_come_from_the_top_of_the_subnet: Real;
    unknown_ids_and_names_are_404_with_upstreams_bodies: Real;
}

fn refs(obj: &Value, field: &str) -> Vec<String> {
    obj[field]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["uuid"].as_str().map(str::to_string))
        .collect()
}

/// A network in the test's project with one /24.
fn network(env: &Env, name: &str, cidr: &str) -> String {
    env.config
        .add_network(&env.fq(name), &[cidr])
        .expect("network")
}

/// An interface on `net` referring to the VM named `vm`, with `extra` fields.
fn interface(env: &Env, name: &str, net: &str, vm: &str, mut extra: Value) -> String {
    extra["fq_name"] = json!(env.fq(name));
    extra["parent_type"] = json!("project");
    extra["virtual_network_refs"] = json!([{"to": env.fq(net)}]);
    extra["virtual_machine_refs"] = json!([{"to": [vm]}]);
    env.config
        .create("virtual-machine-interface", extra)
        .expect("interface")
}

fn references_come_in_the_order_of_their_targets_uuids(env: Env) {
    let c = &env.config;
    network(&env, "n", "10.1.1.0/24");
    // Security groups made with uuids in descending order, referred to in ascending order.
    let mut sgs: Vec<(String, String)> = ["f", "a", "c"]
        .iter()
        .map(|first| {
            let name = env.tagged(&format!("sg-{first}"));
            let uuid = format!("{first}{}", &env.cid()[1..]);
            c.create(
                "security-group",
                json!({"uuid": uuid, "fq_name": env.fq(&name), "parent_type": "project"}),
            )
            .expect("security group");
            (uuid, name)
        })
        .collect();
    let vm = env.cid();
    c.create("virtual-machine", json!({"fq_name": [vm], "uuid": vm}))
        .expect("vm");
    let sg_refs: Vec<Value> = sgs.iter().map(|(_, n)| json!({"to": env.fq(n)})).collect();
    let vmi = interface(
        &env,
        &env.tagged("i"),
        "n",
        &vm,
        json!({"security_group_refs": sg_refs}),
    );
    sgs.sort();
    let want: Vec<String> = sgs.into_iter().map(|(u, _)| u).collect();
    let got = refs(
        &c.get("virtual-machine-interface", &vmi).expect("interface"),
        "security_group_refs",
    );
    assert_eq!(got, want, "in uuid order, not in request order");
}

fn a_409_names_the_referrers_of_one_type(env: Env) {
    let c = &env.config;
    let vn = network(&env, "n", "10.1.2.0/24");
    let vm = env.cid();
    c.create("virtual-machine", json!({"fq_name": [vm], "uuid": vm}))
        .expect("vm");
    let name = env.tagged("i");
    interface(&env, &name, "n", &vm, json!({}));
    c.create(
        "instance-ip",
        json!({"fq_name": [env.tagged("ip")], "virtual_network_refs": [{"to": env.fq("n")}],
               "virtual_machine_interface_refs": [{"to": env.fq(&name)}]}),
    )
    .expect("instance ip");
    let (status, body) = c
        .rest()
        .call("DELETE", &format!("/virtual-network/{vn}"), None)
        .expect("DELETE");
    assert_eq!(status, 409, "{body}");
    let text = body.as_str().unwrap_or_default();
    assert!(
        text.starts_with("Delete when resource still referred: ["),
        "{text}"
    );
    let types: std::collections::BTreeSet<&str> = ["/virtual-machine-interface/", "/instance-ip/"]
        .into_iter()
        .filter(|t| text.contains(t))
        .collect();
    assert_eq!(types.len(), 1, "one type of referrer: {text}");
}

fn deleting_an_interface_bound_to_a_host_takes_that_hosts_router_off_its_vm(env: Env) {
    let c = &env.config;
    network(&env, "n", "10.1.3.0/24");
    let host = env.tagged("host");
    let vm = env.cid();
    c.create("virtual-machine", json!({"fq_name": [vm], "uuid": vm}))
        .expect("vm");
    let vr = c.add_virtual_router(&host, "10.98.7.7").expect("router");
    c.rest()
        .ref_update("virtual-router", &vr, "virtual-machine", &vm, "ADD", None)
        .expect("link");
    let bound = json!({"virtual_machine_interface_bindings":
        {"key_value_pair": [{"key": "host_id", "value": host}]}});
    let eth0 = interface(&env, &env.tagged("eth0"), "n", &vm, bound.clone());
    interface(&env, &env.tagged("eth1"), "n", &vm, bound);
    let linked = || {
        refs(
            &c.get("virtual-router", &vr).expect("router"),
            "virtual_machine_refs",
        )
    };
    assert_eq!(linked(), std::slice::from_ref(&vm));
    assert_eq!(c.delete("virtual-machine-interface", &eth0), 200);
    assert!(
        linked().is_empty(),
        "the router lost the VM, though eth1 is still on it"
    );
}

fn fields_select_what_comes_back(env: Env) {
    let c = &env.config;
    network(&env, "n", "10.1.4.0/24");
    let vm = env.cid();
    c.create("virtual-machine", json!({"fq_name": [vm], "uuid": vm}))
        .expect("vm");
    let vmi = interface(
        &env,
        &env.tagged("i"),
        "n",
        &vm,
        json!({"display_name": "shown only when asked"}),
    );
    let (status, v) = c
        .rest()
        .call(
            "GET",
            &format!("/virtual-machine-interface/{vmi}?fields=virtual_machine_refs"),
            None,
        )
        .expect("GET");
    assert_eq!(status, 200, "{v}");
    let o = &v["virtual-machine-interface"];
    assert_eq!(refs(o, "virtual_machine_refs"), [vm]);
    for absent in [
        "display_name",
        "virtual_network_refs",
        "virtual_machine_interface_mac_addresses",
    ] {
        assert!(o.get(absent).is_none(), "{absent} not asked for: {o}");
    }
    for present in ["uuid", "fq_name", "id_perms", "perms2"] {
        assert!(o.get(present).is_some(), "{present} always comes: {o}");
    }
}

fn instance_ips_come_from_the_top_of_the_subnet(env: Env) {
    let c = &env.config;
    network(&env, "n", "10.1.5.0/24");
    let vn = c.find("virtual-network", &env.fq("n")).expect("network");
    let subnet = &vn["network_ipam_refs"][0]["attr"]["ipam_subnets"][0];
    assert_eq!(subnet["default_gateway"], "10.1.5.254");
    assert_eq!(subnet["dns_server_address"], "10.1.5.253");
    let got: Vec<String> = (0..2)
        .map(|i| {
            let u = c
                .create(
                    "instance-ip",
                    json!({"fq_name": [env.tagged(&format!("ip{i}"))],
                           "virtual_network_refs": [{"to": env.fq("n")}]}),
                )
                .expect("instance ip");
            c.get("instance-ip", &u).expect("instance ip")["instance_ip_address"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(got, ["10.1.5.252", "10.1.5.251"], "downwards from the top");
}

fn unknown_ids_and_names_are_404_with_upstreams_bodies(env: Env) {
    let rest = env.config.rest();
    let id = "00000000-0000-0000-0000-0000000000aa";
    for (method, path, body, want) in [
        (
            "GET",
            format!("/virtual-network/{id}"),
            None,
            format!("Unknown id: {id}"),
        ),
        (
            "DELETE",
            format!("/virtual-network/{id}"),
            None,
            format!("ID {id} does not exist"),
        ),
        (
            "POST",
            "/fqname-to-id".to_string(),
            Some(json!({"type": "virtual-network", "fq_name": ["a", "b", env.tagged("c")]})),
            format!("Name ['a', 'b', '{}'] not found", env.tagged("c")),
        ),
    ] {
        let (status, v) = rest.call(method, &path, body.as_ref()).expect("call");
        assert_eq!(
            (status, v.as_str().unwrap_or_default()),
            (404, want.as_str())
        );
    }
}
