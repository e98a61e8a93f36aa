//! Integration tests over real HTTP (ureq), checking what a client of the real API sees.

use std::collections::HashSet;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{ConfigApiOptions, ConfigApiSim, KeystoneCreds};

const D: &str = "default-domain";

struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

struct Reply {
    status: u16,
    text: String,
    token: Option<String>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

fn agent(timeout: Option<Duration>) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(timeout)
        .build()
        .into()
}

impl Client {
    fn new(sim: &ConfigApiSim) -> Self {
        Client {
            agent: agent(Some(Duration::from_secs(30))),
            base: sim.url(),
            token: None,
        }
    }

    fn finish(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
        let mut r = match r {
            Ok(r) => r,
            Err(e) => panic!("transport error: {e}"),
        };
        let token = r
            .headers()
            .get("X-Subject-Token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = r
            .body_mut()
            .with_config()
            .limit(512 << 20)
            .read_to_string()
            .unwrap_or_default();
        Reply {
            status: r.status().as_u16(),
            text,
            token,
        }
    }

    fn try_send(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let url = format!("{}{path}", self.base);
        let tok = self.token.clone().unwrap_or_default();
        match method {
            "GET" => {
                let mut rq = self.agent.get(&url);
                if self.token.is_some() {
                    rq = rq.header("X-Auth-Token", &tok);
                }
                rq.call()
            }
            "PATCH" => self.agent.patch(&url).send(body.unwrap_or_default()),
            "DELETE" => {
                let mut rq = self.agent.delete(&url);
                if self.token.is_some() {
                    rq = rq.header("X-Auth-Token", &tok);
                }
                rq.call()
            }
            _ => {
                let mut rq = if method == "PUT" {
                    self.agent.put(&url)
                } else {
                    self.agent.post(&url)
                };
                rq = rq.header("Content-Type", "application/json");
                if self.token.is_some() {
                    rq = rq.header("x-auth-token", &tok);
                }
                rq.send(body.unwrap_or_default())
            }
        }
    }

    fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let bytes = body.map(|b| b.to_string().into_bytes());
        Self::finish(self.try_send(method, path, bytes.as_deref()))
    }

    fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None)
    }

    fn post(&self, path: &str, body: Value) -> Reply {
        self.send("POST", path, Some(&body))
    }

    fn put(&self, path: &str, body: Value) -> Reply {
        self.send("PUT", path, Some(&body))
    }

    fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, None)
    }

    /// POST /<type>s, expecting 200; returns the uuid.
    fn create(&self, ty: &str, obj: Value) -> String {
        let r = self.post(&format!("/{ty}s"), json!({ ty: obj }));
        assert_eq!(r.status, 200, "create {ty}: {}", r.text);
        r.json()[ty]["uuid"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// GET /<type>/<uuid>, expecting 200; returns the inner object.
    fn read(&self, ty: &str, uuid: &str) -> Value {
        let r = self.get(&format!("/{ty}/{uuid}"));
        assert_eq!(r.status, 200, "read {ty} {uuid}: {}", r.text);
        r.json()[ty].clone()
    }
}

fn start() -> ConfigApiSim {
    match ConfigApiSim::start(ConfigApiOptions::default()) {
        Ok(s) => s,
        Err(e) => panic!("start: {e:#}"),
    }
}

fn ok<T>(r: anyhow::Result<T>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{e:#}"),
    }
}

fn network(c: &Client, project: &str, name: &str, subnets: Value) -> String {
    c.create(
        "virtual-network",
        json!({
            "fq_name": [D, project, name],
            "parent_type": "project",
            "network_ipam_refs": [{
                "to": [D, "default-project", "default-network-ipam"],
                "attr": {"ipam_subnets": subnets}
            }]
        }),
    )
}

fn subnet(prefix: &str, len: u8) -> Value {
    json!({"subnet": {"ip_prefix": prefix, "ip_prefix_len": len}})
}

fn iip(c: &Client, name: &str, vn: &str, extra: Value) -> Reply {
    let mut o = json!({"fq_name": [name], "virtual_network_refs": [{"uuid": vn}]});
    if let (Some(m), Value::Object(e)) = (o.as_object_mut(), extra) {
        m.extend(e);
    }
    c.post("/instance-ips", json!({ "instance-ip": o }))
}

fn iip_uuid(r: &Reply) -> String {
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["instance-ip"]["uuid"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_default()
}

#[test]
fn fresh_server_has_the_default_objects() {
    let sim = start();
    let c = Client::new(&sim);
    for (ty, fq) in [
        ("domain", vec![D]),
        ("project", vec![D, "default-project"]),
        ("global-system-config", vec!["default-global-system-config"]),
        (
            "global-vrouter-config",
            vec![
                "default-global-system-config",
                "default-global-vrouter-config",
            ],
        ),
        (
            "network-ipam",
            vec![D, "default-project", "default-network-ipam"],
        ),
        ("virtual-network", vec![D, "default-project", "ip-fabric"]),
        (
            "virtual-network",
            vec![D, "default-project", "__link_local__"],
        ),
    ] {
        let r = c.post("/fqname-to-id", json!({"type": ty, "fq_name": fq}));
        assert_eq!(r.status, 200, "{ty} {fq:?}: {}", r.text);
    }
    let home = c.get("/").json();
    assert!(home["links"].as_array().is_some_and(|l| l.len() > 5));
    // `_db_init_entries` in api_server.py: an empty global-vrouter-config (no port-translation
    // pools, no link-local services: the deployer adds those), a provider ip-fabric network.
    let gvc = sim
        .find(
            "global-vrouter-config",
            &[
                "default-global-system-config",
                "default-global-vrouter-config",
            ],
        )
        .unwrap_or_default();
    assert!(gvc.get("port_translation_pools").is_none(), "{gvc}");
    assert!(gvc.get("linklocal_services").is_none(), "{gvc}");
    assert_eq!(gvc["parent_type"], "global-system-config");
    let ip_fabric = sim.find("virtual-network", &[D, "default-project", "ip-fabric"]);
    assert_eq!(
        ip_fabric.as_ref().map(|v| v["is_provider_network"].clone()),
        Some(json!(true))
    );
    let uuid = ip_fabric.map(|v| v["uuid"].as_str().unwrap_or_default().to_string());
    let r = c.delete(&format!("/virtual-network/{}", uuid.unwrap_or_default()));
    assert_eq!(r.status, 409, "{}", r.text);
}

#[test]
fn create_read_update_delete() {
    let sim = start();
    let c = Client::new(&sim);
    let r = c.post(
        "/projects",
        json!({"project": {"fq_name": [D, "p1"], "parent_type": "domain"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let created = r.json()["project"].clone();
    let p = created["uuid"].as_str().unwrap_or_default().to_string();
    assert_eq!(created["name"], "p1");
    assert_eq!(created["fq_name"], json!([D, "p1"]));
    assert_eq!(created["parent_type"], "domain");
    assert_eq!(created["href"], format!("{}/project/{p}", sim.url()));
    assert!(
        created["parent_href"]
            .as_str()
            .is_some_and(|h| h.contains("/domain/"))
    );

    // project with no parent_type: upstream links no parent, though domain is the only
    // parent type (http_resource_create looks a parent up only when parent_type is given)
    let q = c.create("project", json!({"fq_name": [D, "p2"]}));
    let got = c.read("project", &q);
    assert!(
        got.get("parent_type").is_none() && got.get("parent_uuid").is_none(),
        "{got}"
    );
    let domain = sim
        .find("domain", &[D])
        .map(|d| d["uuid"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    let children = c.read("domain", &domain)["projects"].clone();
    assert!(
        !children.to_string().contains(&q) && children.to_string().contains(&p),
        "{children}"
    );

    let vn = network(&c, "p1", "vn1", json!([subnet("10.1.0.0", 24)]));
    let got = c.read("virtual-network", &vn);
    assert_eq!(got["display_name"], "vn1");
    assert_eq!(got["parent_uuid"], p.as_str());
    assert_eq!(got["id_perms"]["enable"], true);
    assert_eq!(got["id_perms"]["user_visible"], true);
    let created_at = got["id_perms"]["created"].as_str().unwrap_or_default();
    assert!(created_at.len() >= 19 && created_at.contains('T') && !created_at.ends_with('Z'));
    assert!(got["id_perms"]["uuid"]["uuid_mslong"].is_u64());
    assert!(got["virtual_network_network_id"].is_i64());
    assert!(got["perms2"]["owner"].is_string());

    let r = c.put(
        &format!("/virtual-network/{vn}"),
        json!({"virtual-network": {
            "fq_name": [D, "p1", "vn1"],
            "display_name": "first network",
            "annotations": {"key_value_pair": [{"key": "owner", "value": "mesos"}]}
        }}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["virtual-network"]["uuid"], vn.as_str());
    let got = c.read("virtual-network", &vn);
    assert_eq!(got["display_name"], "first network");
    assert_eq!(got["annotations"]["key_value_pair"][0]["value"], "mesos");
    // the subnets were not touched by an update that did not carry them
    assert_eq!(
        got["network_ipam_refs"][0]["attr"]["ipam_subnets"][0]["subnet"]["ip_prefix"],
        "10.1.0.0"
    );

    let r = c.put(
        &format!("/virtual-network/{vn}"),
        json!({"virtual-network": {"fq_name": [D, "p1", "other"]}}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    let r = c.put(
        &format!("/virtual-network/{vn}"),
        json!({"virtual-network": {"uuid": "5e3d2a5c-9d6b-4b8e-9c1a-2f3e4d5c6b7a"}}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    let r = c.put(
        "/virtual-network/5e3d2a5c-9d6b-4b8e-9c1a-2f3e4d5c6b7a",
        json!({"virtual-network": {"display_name": "x"}}),
    );
    assert_eq!(r.status, 404, "{}", r.text);

    // wrong type in the path is a 404 too
    assert_eq!(c.get(&format!("/project/{vn}")).status, 404);
    assert_eq!(c.delete(&format!("/virtual-network/{vn}")).status, 200);
    assert_eq!(c.get(&format!("/virtual-network/{vn}")).status, 404);
    let r = c.delete(&format!("/virtual-network/{vn}"));
    assert_eq!(r.status, 404);
    assert!(r.text.contains("does not exist"), "{}", r.text);
    assert!(sim.get("virtual-network", &vn).is_none());
}

#[test]
fn duplicate_fq_name_and_uuid_are_conflicts() {
    let sim = start();
    let c = Client::new(&sim);
    let vm = c.create(
        "virtual-machine",
        json!({"fq_name": ["vm-a"], "uuid": "0a1b2c3d-4e5f-4a6b-8c7d-0123456789ab"}),
    );
    assert_eq!(vm, "0a1b2c3d-4e5f-4a6b-8c7d-0123456789ab");
    let r = c.post(
        "/virtual-machines",
        json!({"virtual-machine": {"fq_name": ["vm-a"]}}),
    );
    assert_eq!(r.status, 409);
    assert!(
        r.text.contains("'vm-a'") && r.text.contains("already exists with uuid"),
        "{}",
        r.text
    );
    assert!(r.text.contains(&vm), "{}", r.text);
    let r = c.post(
        "/virtual-machines",
        json!({"virtual-machine": {"fq_name": ["vm-b"], "uuid": vm}}),
    );
    assert_eq!(r.status, 409);
    assert!(
        r.text.contains("already exists with fq_name") && r.text.contains("'vm-a'"),
        "{}",
        r.text
    );
    // same name, other type: fine
    c.create(
        "virtual-router",
        json!({"fq_name": ["default-global-system-config", "vm-a"]}),
    );
}

#[test]
fn non_canonical_uuid_is_refused() {
    let sim = start();
    let c = Client::new(&sim);
    for bad in [
        "0A1B2C3D-4E5F-4A6B-8C7D-0123456789AB",
        "0a1b2c3d4e5f4a6b8c7d0123456789ab",
        "not-a-uuid",
    ] {
        let r = c.post(
            "/virtual-machines",
            json!({"virtual-machine": {"fq_name": ["vm"], "uuid": bad}}),
        );
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert!(r.text.contains("Invalid UUID format"), "{}", r.text);
    }
    assert_eq!(sim.count("virtual-machine"), 0);
    // an empty uuid is no uuid: the server picks one
    let u = c.create("virtual-machine", json!({"fq_name": ["vm"], "uuid": ""}));
    assert!(uuid::Uuid::parse_str(&u).is_ok(), "{u}");
}

#[test]
fn parents_are_checked_like_upstream() {
    let sim = start();
    let c = Client::new(&sim);
    // a missing parent: `_ensure_perms2_present` looks it up first (404), unless the request
    // names the owner; then the parent check proper answers 400
    let r = c.post(
        "/virtual-networks",
        json!({"virtual-network": {"fq_name": [D, "nope", "vn"], "parent_type": "project"}}),
    );
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.text, "Name['default-domain', 'nope'] not found");
    let r = c.post(
        "/virtual-networks",
        json!({"virtual-network": {"fq_name": [D, "nope", "vn"], "parent_type": "project",
                                   "perms2": {"owner": "someone"}}}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        r.text,
        "Parent ['default-domain', 'nope'] type project does not exist"
    );
    // parent types are matched as the schema spells them
    let r = c.post(
        "/floating-ip-pools",
        json!({"floating-ip-pool": {"fq_name": [D, "default-project", "ip-fabric", "p0"],
                                    "parent_type": "virtual_network"}}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.text.starts_with("Invalid parent type: virtual_network."),
        "{}",
        r.text
    );
    let r = c.post(
        "/virtual-machine-interfaces",
        json!({"virtual-machine-interface": {"fq_name": ["i"], "parent_type": "config-root"}}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.text.starts_with("Invalid parent type: config-root."),
        "{}",
        r.text
    );
    // VMI may live under a project, a virtual-machine or a virtual-router: parent_type needed
    let r = c.post(
        "/virtual-machine-interfaces",
        json!({"virtual-machine-interface": {"fq_name": [D, "default-project", "i"]}}),
    );
    assert_eq!(r.status, 400);
    assert!(r.text.contains("Missing parent type"), "{}", r.text);
    let r = c.post(
        "/virtual-networks",
        json!({"virtual-network": {"fq_name": [D, "default-project", "x"], "parent_type": "domain"}}),
    );
    assert_eq!(r.status, 400);
    assert!(r.text.contains("Invalid parent type"), "{}", r.text);
    let r = c.post(
        "/virtual-machines",
        json!({"virtual-machine": {"fq_name": ["a", "b"]}}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    let r = c.post(
        "/virtual-machines",
        json!({"virtual-machine": {"display_name": "x"}}),
    );
    assert_eq!(r.status, 400);
    assert!(r.text.contains("no fq_name"), "{}", r.text);
    // floating-ip-pool: the only parent type (virtual-network) is implied for the checks,
    // but no parent is linked (and none is needed: the owner comes from the request)
    let pool = c.create(
        "floating-ip-pool",
        json!({"fq_name": [D, "default-project", "ghost", "pool"], "perms2": {"owner": "x"}}),
    );
    assert!(
        c.read("floating-ip-pool", &pool)
            .get("parent_uuid")
            .is_none()
    );
    let r = c.post(
        "/floating-ip-pools",
        json!({"floating-ip-pool": {"fq_name": [D, "default-project", "ghost", "pool2"]}}),
    );
    assert_eq!(r.status, 404, "{}", r.text);
}

#[test]
fn refs_resolve_and_back_refs_and_children_appear() {
    let sim = start();
    let c = Client::new(&sim);
    let p = ok(sim.add_project(&[D, "p"]));
    let vn = ok(sim.add_network(&[D, "p", "vn"], &["10.2.0.0/24"]));
    let vm = c.create("virtual-machine", json!({"fq_name": ["vm1"]}));
    let vmi = c.create(
        "virtual-machine-interface",
        json!({
            "fq_name": [D, "p", "vmi1"], "parent_type": "project",
            "virtual_network_refs": [{"to": [D, "p", "vn"]}],
            "virtual_machine_refs": [{"uuid": vm, "attr": null}]
        }),
    );
    let got = c.read("virtual-machine-interface", &vmi);
    let r = &got["virtual_network_refs"][0];
    assert_eq!(r["uuid"], vn.as_str());
    assert_eq!(r["to"], json!([D, "p", "vn"]));
    assert_eq!(r["attr"], Value::Null);
    assert_eq!(r["href"], format!("{}/virtual-network/{vn}", sim.url()));
    assert_eq!(got["virtual_machine_refs"][0]["to"], json!(["vm1"]));

    let vn_obj = c.read("virtual-network", &vn);
    assert_eq!(
        vn_obj["virtual_machine_interface_back_refs"][0]["uuid"],
        vmi.as_str()
    );
    assert_eq!(
        vn_obj["virtual_machine_interface_back_refs"][0]["to"],
        json!([D, "p", "vmi1"])
    );
    let proj = c.read("project", &p);
    let kids: HashSet<String> = proj["virtual_networks"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(
            proj["virtual_machine_interfaces"]
                .as_array()
                .into_iter()
                .flatten(),
        )
        .filter_map(|k| k["uuid"].as_str().map(str::to_string))
        .collect();
    assert!(kids.contains(&vn) && kids.contains(&vmi), "{proj}");
    assert_eq!(
        proj["network_ipams"][0]["to"],
        json!([D, "p", "default-network-ipam"])
    );

    let q = c
        .get(&format!(
            "/project/{p}?exclude_children=true&exclude_back_refs=true"
        ))
        .json();
    assert!(q["project"].get("virtual_networks").is_none());
    let q = c
        .get(&format!("/virtual-network/{vn}?exclude_back_refs=true"))
        .json();
    assert!(
        q["virtual-network"]
            .get("virtual_machine_interface_back_refs")
            .is_none()
    );
    assert!(q["virtual-network"].get("network_ipam_refs").is_some());
    let q = c
        .get(&format!(
            "/virtual-network/{vn}?fields=display_name,virtual_machine_interface_back_refs"
        ))
        .json();
    let o = &q["virtual-network"];
    assert_eq!(o["display_name"], "vn");
    assert!(o.get("virtual_machine_interface_back_refs").is_some());
    assert!(o.get("network_ipam_refs").is_none() && o.get("virtual_network_network_id").is_none());
    assert_eq!(o["uuid"], vn.as_str());
    assert_eq!(o["fq_name"], json!([D, "p", "vn"]));
    let q = c
        .get(&format!("/virtual-network/{vn}?exclude_hrefs=true"))
        .json();
    assert!(q["virtual-network"].get("href").is_none());
    assert!(
        q["virtual-network"]["network_ipam_refs"][0]
            .get("href")
            .is_none()
    );

    // the handle sees the same thing
    let h = sim.get("virtual-network", &vn).unwrap_or_default();
    assert_eq!(
        h["virtual_machine_interface_back_refs"][0]["uuid"],
        vmi.as_str()
    );
}

#[test]
fn ref_to_missing_object_is_refused() {
    let sim = start();
    let c = Client::new(&sim);
    for r in [
        json!({"to": [D, "default-project", "nope"]}),
        json!({"uuid": "5e3d2a5c-9d6b-4b8e-9c1a-2f3e4d5c6b7a"}),
    ] {
        let resp = c.post(
            "/virtual-machine-interfaces",
            json!({"virtual-machine-interface": {
                "fq_name": [D, "default-project", "i"], "parent_type": "project",
                "virtual_network_refs": [r]
            }}),
        );
        assert_eq!(resp.status, 400, "{}", resp.text);
        assert!(resp.text.contains("Unknown reference"), "{}", resp.text);
    }
    assert_eq!(sim.count("virtual-machine-interface"), 0);
}

#[test]
fn delete_is_refused_while_referenced_or_with_children() {
    let sim = start();
    let c = Client::new(&sim);
    let p = ok(sim.add_project(&[D, "p"]));
    let vn = ok(sim.add_network(&[D, "p", "vn"], &["10.3.0.0/24"]));
    let vmi = c.create(
        "virtual-machine-interface",
        json!({"fq_name": [D, "p", "i"], "parent_type": "project",
               "virtual_network_refs": [{"to": [D, "p", "vn"]}]}),
    );
    let r = c.delete(&format!("/virtual-network/{vn}"));
    assert_eq!(r.status, 409);
    assert!(
        r.text.starts_with("Delete when resource still referred: ["),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains(&format!("/virtual-machine-interface/{vmi}")),
        "{}",
        r.text
    );
    let r = c.delete(&format!("/project/{p}"));
    assert_eq!(r.status, 409);
    assert!(
        r.text.starts_with("Delete when children still present: ["),
        "{}",
        r.text
    );

    let r = c.post(
        "/ref-update",
        json!({"type": "virtual-machine-interface", "uuid": vmi, "ref-type": "virtual-network",
               "ref-uuid": vn, "operation": "DELETE"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["uuid"], vmi.as_str());
    assert!(
        c.read("virtual-machine-interface", &vmi)
            .get("virtual_network_refs")
            .is_none()
    );
    assert_eq!(c.delete(&format!("/virtual-network/{vn}")).status, 200);

    // a relaxed reference does not block
    let vn2 = ok(sim.add_network(&[D, "p", "vn2"], &["10.4.0.0/24"]));
    let np = c.create(
        "network-policy",
        json!({"fq_name": [D, "p", "np"], "parent_type": "project"}),
    );
    let r = c.put(
        &format!("/virtual-network/{vn2}"),
        json!({"virtual-network": {"network_policy_refs": [{"to": [D, "p", "np"],
            "attr": {"sequence": {"major": 0, "minor": 0}, "timer": null}}]}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(c.delete(&format!("/network-policy/{np}")).status, 409);
    let r = c.post(
        "/ref-relax-for-delete",
        json!({"uuid": vn2, "ref-uuid": np}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(c.delete(&format!("/network-policy/{np}")).status, 200);
    let r = c.post("/ref-relax-for-delete", json!({"uuid": vn2}));
    assert_eq!(r.status, 400);
}

#[test]
fn ref_update_adds_replaces_deletes_and_validates() {
    let sim = start();
    let c = Client::new(&sim);
    let vr = ok(sim.add_virtual_router("node1", "192.168.0.11"));
    let vm = c.create("virtual-machine", json!({"fq_name": ["vm1"]}));
    let add = |attr: Value| {
        c.post(
            "/ref-update",
            json!({"type": "virtual-router", "uuid": vr, "ref-type": "virtual-machine",
                   "ref-fq-name": ["vm1"], "operation": "ADD", "attr": attr}),
        )
    };
    assert_eq!(add(Value::Null).status, 200);
    let got = c.read("virtual-router", &vr);
    assert_eq!(
        got["virtual_machine_refs"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(got["virtual_machine_refs"][0]["uuid"], vm.as_str());
    let back = c.read("virtual-machine", &vm);
    assert_eq!(back["virtual_router_back_refs"][0]["uuid"], vr.as_str());

    // ADD of an existing ref replaces its attr; still one ref
    let vn = ok(sim.add_network(&[D, "p", "vn"], &["10.5.0.0/24"]));
    let np = c.create("network-policy", json!({"fq_name": [D, "p", "np"]}));
    for minor in [0, 7] {
        let r = c.post(
            "/ref-update",
            json!({"type": "virtual-network", "uuid": vn, "ref-type": "network-policy",
                   "ref-uuid": np, "operation": "ADD",
                   "attr": {"sequence": {"major": 0, "minor": minor}}}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let got = c.read("virtual-network", &vn);
    assert_eq!(got["network_policy_refs"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        got["network_policy_refs"][0]["attr"]["sequence"]["minor"],
        7
    );
    // the ipam ref kept its subnets
    assert_eq!(
        got["network_ipam_refs"][0]["attr"]["ipam_subnets"][0]["subnet"]["ip_prefix"],
        "10.5.0.0"
    );

    // DELETE of an absent ref is fine
    let del = json!({"type": "virtual-router", "uuid": vr, "ref-type": "virtual-machine",
                     "ref-uuid": "5e3d2a5c-9d6b-4b8e-9c1a-2f3e4d5c6b7a", "operation": "DELETE"});
    assert_eq!(c.post("/ref-update", del).status, 200);

    for (body, status) in [
        // api_server.py resolves the type first: a missing one is "Resource type 'None'"
        (
            json!({"uuid": vr, "ref-type": "virtual-machine", "ref-uuid": vm, "operation": "ADD"}),
            404,
        ),
        (
            json!({"type": "virtual-router", "ref-type": "virtual-machine", "ref-uuid": vm, "operation": "ADD"}),
            400,
        ),
        (
            json!({"type": "widget", "uuid": vr, "ref-type": "virtual-machine", "ref-uuid": vm, "operation": "ADD"}),
            404,
        ),
        (
            json!({"type": "virtual-router", "uuid": vr, "ref-type": "widget", "ref-uuid": vm, "operation": "ADD"}),
            404,
        ),
        (
            json!({"type": "virtual-router", "uuid": vr, "ref-type": "virtual-machine", "ref-uuid": vm, "operation": "MERGE"}),
            400,
        ),
        (
            json!({"type": "virtual-router", "uuid": vr, "ref-type": "virtual-machine", "operation": "ADD"}),
            400,
        ),
        (
            json!({"type": "virtual-router", "uuid": "5e3d2a5c-9d6b-4b8e-9c1a-2f3e4d5c6b7a", "ref-type": "virtual-machine", "ref-uuid": vm, "operation": "ADD"}),
            404,
        ),
        (
            json!({"type": "virtual-router", "uuid": vr, "ref-type": "virtual-machine", "ref-uuid": "5e3d2a5c-9d6b-4b8e-9c1a-2f3e4d5c6b7a", "operation": "ADD"}),
            404,
        ),
        (
            json!({"type": "virtual-router", "uuid": vr, "ref-type": "virtual-machine", "ref-fq-name": ["ghost"], "operation": "ADD"}),
            404,
        ),
    ] {
        let r = c.post("/ref-update", body.clone());
        assert_eq!(r.status, status, "{body}: {}", r.text);
    }
    // a type the object may not refer to: upstream stores a link no read shows, and says 200
    let r = c.post(
        "/ref-update",
        json!({"type": "virtual-machine", "uuid": vm, "ref-type": "virtual-network",
               "ref-uuid": vn, "operation": "ADD"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        c.read("virtual-machine", &vm)
            .get("virtual_network_refs")
            .is_none()
    );
    assert!(
        c.read("virtual-network", &vn)
            .get("virtual_machine_back_refs")
            .is_none()
    );
    // the underscore spelling of a type is accepted here, as _validate_resource_type does
    let r = c.post(
        "/ref-update",
        json!({"type": "virtual_router", "uuid": vr, "ref-type": "virtual_machine",
               "ref-uuid": vm, "operation": "ADD"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    // lowercase operation is accepted, as upstream upper-cases it
    let r = c.post(
        "/ref-update",
        json!({"type": "virtual-router", "uuid": vr, "ref-type": "virtual-machine",
               "ref-uuid": vm, "operation": "delete"}),
    );
    assert_eq!(r.status, 200);
    assert!(
        c.read("virtual-router", &vr)
            .get("virtual_machine_refs")
            .is_none()
    );
}

#[test]
fn fqname_to_id_and_id_to_fqname() {
    let sim = start();
    let c = Client::new(&sim);
    let p = ok(sim.add_project(&[D, "p"]));
    let r = c.post(
        "/fqname-to-id",
        json!({"type": "project", "fq_name": [D, "p"]}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["uuid"], p.as_str());
    let r = c.post(
        "/fqname-to-id",
        json!({"type": "project", "fq_name": [D, "nope"]}),
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.text, "Name ['default-domain', 'nope'] not found");
    let r = c.post("/id-to-fqname", json!({"uuid": p}));
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"fq_name": [D, "p"], "type": "project"}));
    let r = c.post(
        "/id-to-fqname",
        json!({"uuid": "5e3d2a5c-9d6b-4b8e-9c1a-2f3e4d5c6b7a"}),
    );
    assert_eq!(r.status, 404);
    let r = c.post(
        "/fqname-to-id",
        json!({"type": "project", "fq_name": "default-domain:p"}),
    );
    assert_eq!(r.status, 400);
}

#[test]
fn list_supports_detail_fields_filters_parent_back_ref_and_count() {
    let sim = start();
    let c = Client::new(&sim);
    let pa = ok(sim.add_project(&[D, "pa"]));
    let pb = ok(sim.add_project(&[D, "pb"]));
    let vna = ok(sim.add_network(&[D, "pa", "vn"], &["10.6.0.0/24"]));
    let mut vms = Vec::new();
    for i in 0..6 {
        let server_type = if i % 2 == 0 {
            "container"
        } else {
            "baremetal-server"
        };
        vms.push(c.create(
            "virtual-machine",
            json!({"fq_name": [format!("vm{i}")], "server_type": server_type}),
        ));
    }
    let mut vmis = Vec::new();
    for (i, proj) in ["pa", "pa", "pb"].iter().enumerate() {
        let mut o = json!({"fq_name": [D, proj, format!("i{i}")], "parent_type": "project",
                           "virtual_network_refs": [{"uuid": vna}],
                           "port_security_enabled": i == 0});
        if i < 2 {
            o["virtual_machine_refs"] = json!([{"uuid": vms[i]}]);
        }
        vmis.push(c.create("virtual-machine-interface", o));
    }

    let r = c.get("/virtual-machines").json();
    let list = r["virtual-machines"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(list.len(), 6);
    assert!(
        list.iter()
            .all(|e| e["href"].is_string() && e["fq_name"].is_array() && e["uuid"].is_string())
    );
    assert!(list[0].get("server_type").is_none());
    assert_eq!(list[0]["fq_name"], json!(["vm0"]));

    let r = c.get("/virtual-machines?detail=true").json();
    let list = r["virtual-machines"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(list.len(), 6);
    assert_eq!(list[0]["virtual-machine"]["server_type"], "container");
    assert_eq!(list[0]["virtual-machine"]["name"], "vm0");
    // like upstream, detail carries properties and refs, back-refs only when asked for
    assert!(
        list[0]["virtual-machine"]
            .get("virtual_machine_interface_back_refs")
            .is_none()
    );
    let r = c
        .get("/virtual-machines?detail=true&fields=virtual_machine_interface_back_refs")
        .json();
    let list = r["virtual-machines"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        list[0]["virtual-machine"]["virtual_machine_interface_back_refs"][0]["uuid"],
        vmis[0].as_str()
    );
    assert_eq!(list[0]["virtual-machine"]["server_type"], "container");

    let r = c.get("/virtual-machines?fields=server_type").json();
    let list = r["virtual-machines"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(list[1]["server_type"], "baremetal-server");
    assert!(list[1].get("display_name").is_none());

    let r = c
        .get("/virtual-machines?filters=server_type==container")
        .json();
    assert_eq!(r["virtual-machines"].as_array().map(Vec::len), Some(3));
    let r = c
        .get("/virtual-machines?filters=server_type==%22container%22")
        .json();
    assert_eq!(r["virtual-machines"].as_array().map(Vec::len), Some(3));
    let r = c
        .get("/virtual-machines?filters=server_type==container,server_type==baremetal-server")
        .json();
    assert_eq!(r["virtual-machines"].as_array().map(Vec::len), Some(6));
    let r = c
        .get("/virtual-machine-interfaces?filters=port_security_enabled==true")
        .json();
    assert_eq!(
        r["virtual-machine-interfaces"].as_array().map(Vec::len),
        Some(1)
    );
    let r = c.get("/virtual-machines?filters=display_name==vm3").json();
    assert_eq!(r["virtual-machines"][0]["uuid"], vms[3].as_str());
    assert_eq!(c.get("/virtual-machines?filters=server_type").status, 400);

    let r = c
        .get(&format!("/virtual-machine-interfaces?parent_id={pa}"))
        .json();
    assert_eq!(
        r["virtual-machine-interfaces"].as_array().map(Vec::len),
        Some(2)
    );
    let r = c
        .get(&format!("/virtual-machine-interfaces?parent_id={pa},{pb}"))
        .json();
    assert_eq!(
        r["virtual-machine-interfaces"].as_array().map(Vec::len),
        Some(3)
    );
    let r = c
        .get("/virtual-machine-interfaces?parent_fq_name_str=default-domain:pb&parent_type=project")
        .json();
    assert_eq!(r["virtual-machine-interfaces"][0]["uuid"], vmis[2].as_str());
    let r = c
        .get("/virtual-machine-interfaces?parent_fq_name_str=default-domain:nope")
        .json();
    assert_eq!(r["virtual-machine-interfaces"], json!([]));

    let r = c
        .get(&format!(
            "/virtual-machine-interfaces?back_ref_id={}",
            vms[1]
        ))
        .json();
    let l = r["virtual-machine-interfaces"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(l.len(), 1);
    assert_eq!(l[0]["uuid"], vmis[1].as_str());
    let r = c
        .get(&format!(
            "/virtual-machine-interfaces?back_ref_id={vna}&count=true"
        ))
        .json();
    assert_eq!(r["virtual-machine-interfaces"]["count"], 3);

    let r = c
        .get(&format!(
            "/virtual-machines?obj_uuids={},{}&detail=true",
            vms[4], vms[5]
        ))
        .json();
    let l = r["virtual-machines"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(l.len(), 2);
    assert_eq!(l[0]["virtual-machine"]["uuid"], vms[4].as_str());

    let r = c.get("/virtual-machines?count=true").json();
    assert_eq!(r, json!({"virtual-machines": {"count": 6}}));
    let r = c
        .get("/virtual-machines?count=true&filters=server_type==container")
        .json();
    assert_eq!(r["virtual-machines"]["count"], 3);
    let r = c.get("/floating-ips").json();
    assert_eq!(r, json!({"floating-ips": []}));

    let r = c.post(
        "/list-bulk-collection",
        json!({"type": "virtual-machine", "obj_uuids": format!("{},{}", vms[0], vms[1]), "detail": true}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json()["virtual-machines"].as_array().map(Vec::len),
        Some(2)
    );
}

#[test]
fn instance_ip_allocates_from_the_end_skipping_gateway_and_dns() {
    let sim = start();
    let c = Client::new(&sim);
    ok(sim.add_project(&[D, "p"]));
    let vn = network(&c, "p", "vn", json!([subnet("10.10.0.0", 24)]));
    let attr = &c.read("virtual-network", &vn)["network_ipam_refs"][0]["attr"]["ipam_subnets"][0];
    assert_eq!(attr["default_gateway"], "10.10.0.254");
    assert_eq!(attr["dns_server_address"], "10.10.0.253");
    let subnet_uuid = attr["subnet_uuid"].as_str().unwrap_or_default().to_string();
    assert!(uuid::Uuid::parse_str(&subnet_uuid).is_ok());

    let a = iip_uuid(&iip(&c, "a", &vn, json!({})));
    let got = c.read("instance-ip", &a);
    assert_eq!(got["instance_ip_address"], "10.10.0.252");
    // the server never sets the family (instance_ip.py)
    assert!(got.get("instance_ip_family").is_none(), "{got}");
    assert_eq!(got["subnet_uuid"], subnet_uuid.as_str());
    let b = iip_uuid(&iip(&c, "b", &vn, json!({})));
    assert_eq!(
        c.read("instance-ip", &b)["instance_ip_address"],
        "10.10.0.251"
    );

    // gateway .1 and DNS .2 given explicitly, addresses from the start
    let vn2 = network(
        &c,
        "p",
        "vn2",
        json!([{"subnet": {"ip_prefix": "10.11.0.0", "ip_prefix_len": 24},
                "default_gateway": "10.11.0.1", "dns_server_address": "10.11.0.2",
                "addr_from_start": true}]),
    );
    for expect in ["10.11.0.3", "10.11.0.4"] {
        let u = iip_uuid(&iip(&c, &format!("s{expect}"), &vn2, json!({})));
        assert_eq!(c.read("instance-ip", &u)["instance_ip_address"], expect);
    }
    // from the start without explicit addresses: gateway .1, DNS .2
    let vn3 = network(
        &c,
        "p",
        "vn3",
        json!([{"subnet": {"ip_prefix": "10.12.0.0", "ip_prefix_len": 24}, "addr_from_start": true}]),
    );
    let s = &c.read("virtual-network", &vn3)["network_ipam_refs"][0]["attr"]["ipam_subnets"][0];
    assert_eq!(
        (
            s["default_gateway"].as_str(),
            s["dns_server_address"].as_str()
        ),
        (Some("10.12.0.1"), Some("10.12.0.2"))
    );
    let u = iip_uuid(&iip(&c, "t", &vn3, json!({})));
    assert_eq!(
        c.read("instance-ip", &u)["instance_ip_address"],
        "10.12.0.3"
    );

    // subnet_uuid picks the subnet
    let vn4 = network(
        &c,
        "p",
        "vn4",
        json!([subnet("10.13.0.0", 24), subnet("10.14.0.0", 24)]),
    );
    let subs =
        c.read("virtual-network", &vn4)["network_ipam_refs"][0]["attr"]["ipam_subnets"].clone();
    let second = subs[1]["subnet_uuid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let u = iip_uuid(&iip(&c, "u", &vn4, json!({"subnet_uuid": second})));
    assert_eq!(
        c.read("instance-ip", &u)["instance_ip_address"],
        "10.14.0.252"
    );
    let u = iip_uuid(&iip(&c, "u2", &vn4, json!({})));
    assert_eq!(
        c.read("instance-ip", &u)["instance_ip_address"],
        "10.13.0.252"
    );
    let r = iip(
        &c,
        "u3",
        &vn4,
        json!({"subnet_uuid": "5e3d2a5c-9d6b-4b8e-9c1a-2f3e4d5c6b7a"}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("has invalid subnet"), "{}", r.text);

    let r = c.post(
        "/instance-ips",
        json!({"instance-ip": {"fq_name": ["nonet"]}}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
}

#[test]
fn instance_ip_requested_addresses() {
    let sim = start();
    let c = Client::new(&sim);
    let vn = ok(sim.add_network(&[D, "p", "vn"], &["10.20.0.0/24"]));
    let a = iip_uuid(&iip(
        &c,
        "a",
        &vn,
        json!({"instance_ip_address": "10.20.0.10"}),
    ));
    assert_eq!(
        c.read("instance-ip", &a)["instance_ip_address"],
        "10.20.0.10"
    );
    let r = iip(&c, "b", &vn, json!({"instance_ip_address": "10.20.0.10"}));
    assert_eq!(r.status, 409);
    assert_eq!(r.text, "IP address already in use");
    // the DNS address and the network address are never handed out
    for taken in ["10.20.0.253", "10.20.0.0", "10.20.0.255"] {
        let r = iip(&c, "c", &vn, json!({"instance_ip_address": taken}));
        assert_eq!(r.status, 409, "{taken}: {}", r.text);
    }
    let r = iip(&c, "d", &vn, json!({"instance_ip_address": "10.99.0.1"}));
    assert_eq!(r.status, 400);
    assert!(r.text.contains("has exhausted subnet"), "{}", r.text);
    let r = iip(&c, "e", &vn, json!({"instance_ip_address": "not-an-ip"}));
    assert_eq!(r.status, 400);
    // the gateway may be taken by a router port, not by a VM's port
    let g = iip_uuid(&iip(
        &c,
        "gw",
        &vn,
        json!({"instance_ip_address": "10.20.0.254"}),
    ));
    assert_eq!(
        c.read("instance-ip", &g)["instance_ip_address"],
        "10.20.0.254"
    );
    let vm = c.create("virtual-machine", json!({"fq_name": ["vm"]}));
    let vmi = c.create(
        "virtual-machine-interface",
        json!({"fq_name": [D, "p", "i"], "parent_type": "project",
               "virtual_network_refs": [{"uuid": vn}], "virtual_machine_refs": [{"uuid": vm}]}),
    );
    let r = iip(
        &c,
        "gw2",
        &vn,
        json!({"instance_ip_address": "10.20.0.254", "virtual_machine_interface_refs": [{"uuid": vmi}]}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.text, "Gateway IP cannot be used by VM port");
    // the address of an instance-ip cannot change
    let r = c.put(
        &format!("/instance-ip/{a}"),
        json!({"instance-ip": {"instance_ip_address": "10.20.0.11"}}),
    );
    assert_eq!(r.status, 400);
    // ip-fabric: no allocation at all
    let fabric = sim
        .find("virtual-network", &[D, "default-project", "ip-fabric"])
        .map(|v| v["uuid"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    let f = iip_uuid(&iip(
        &c,
        "fab",
        &fabric,
        json!({"instance_ip_address": "192.168.1.5"}),
    ));
    assert_eq!(
        c.read("instance-ip", &f)["instance_ip_address"],
        "192.168.1.5"
    );
}

#[test]
fn addresses_run_out_and_come_back_on_delete() {
    let sim = start();
    let c = Client::new(&sim);
    // /29: .0 network, .7 broadcast, .6 gateway, .5 DNS -> .4 .3 .2 .1 usable
    let vn = ok(sim.add_network(&[D, "p", "small"], &["10.30.0.0/29"]));
    let mut got = Vec::new();
    for i in 0..4 {
        let u = iip_uuid(&iip(&c, &format!("x{i}"), &vn, json!({})));
        got.push((
            u.clone(),
            c.read("instance-ip", &u)["instance_ip_address"].clone(),
        ));
    }
    let addrs: Vec<&str> = got.iter().filter_map(|(_, a)| a.as_str()).collect();
    assert_eq!(addrs, ["10.30.0.4", "10.30.0.3", "10.30.0.2", "10.30.0.1"]);
    let r = iip(&c, "x4", &vn, json!({}));
    assert_eq!(r.status, 400);
    assert!(
        r.text
            .contains("Virtual-Network(['default-domain', 'p', 'small']) has exhausted subnet("),
        "{}",
        r.text
    );
    assert_eq!(sim.count("instance-ip"), 4);
    assert_eq!(c.delete(&format!("/instance-ip/{}", got[1].0)).status, 200);
    let u = iip_uuid(&iip(&c, "x5", &vn, json!({})));
    assert_eq!(
        c.read("instance-ip", &u)["instance_ip_address"],
        "10.30.0.3"
    );
    assert_eq!(c.delete(&format!("/instance-ip/{u}")).status, 200);
    let u = iip_uuid(&iip(
        &c,
        "x6",
        &vn,
        json!({"instance_ip_address": "10.30.0.3"}),
    ));
    assert_eq!(
        c.read("instance-ip", &u)["instance_ip_address"],
        "10.30.0.3"
    );
}

#[test]
fn subnet_updates_follow_upstream_rules() {
    let sim = start();
    let c = Client::new(&sim);
    let vn = ok(sim.add_network(&[D, "p", "vn"], &["10.40.0.0/24"]));
    let ipam = [D, "p", "default-network-ipam"];
    iip_uuid(&iip(&c, "a", &vn, json!({})));
    let old =
        c.read("virtual-network", &vn)["network_ipam_refs"][0]["attr"]["ipam_subnets"][0].clone();
    // dropping a subnet that has addresses in use
    let r = c.put(
        &format!("/virtual-network/{vn}"),
        json!({"virtual-network": {"network_ipam_refs": [{"to": ipam, "attr": {"ipam_subnets": [subnet("10.41.0.0", 24)]}}]}}),
    );
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(
        r.text
            .contains("Cannot Delete IP Block, IP(10.40.0.252) is in use"),
        "{}",
        r.text
    );
    // changing the gateway of an existing subnet
    let mut moved = old.clone();
    moved["default_gateway"] = json!("10.40.0.1");
    let r = c.put(
        &format!("/virtual-network/{vn}"),
        json!({"virtual-network": {"network_ipam_refs": [{"to": ipam, "attr": {"ipam_subnets": [moved]}}]}}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.text.contains("default gateway change is not allowed"),
        "{}",
        r.text
    );
    // adding a subnet keeps the allocations of the old one
    let r = c.put(
        &format!("/virtual-network/{vn}"),
        json!({"virtual-network": {"network_ipam_refs": [{"to": ipam, "attr": {"ipam_subnets": [old, subnet("10.41.0.0", 24)]}}]}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = iip(&c, "b", &vn, json!({"instance_ip_address": "10.40.0.252"}));
    assert_eq!(r.status, 409, "{}", r.text);
    let r = iip(&c, "c", &vn, json!({"instance_ip_address": "10.41.0.20"}));
    assert_eq!(r.status, 200, "{}", r.text);
    // overlapping subnets and a gateway outside the subnet are refused
    let r = c.post(
        "/virtual-networks",
        json!({"virtual-network": {"fq_name": [D, "p", "ov"], "parent_type": "project",
            "network_ipam_refs": [{"to": ipam, "attr": {"ipam_subnets": [subnet("10.50.0.0", 16), subnet("10.50.1.0", 24)]}}]}}),
    );
    assert_eq!(r.status, 400);
    assert!(r.text.contains("Overlapping addresses"), "{}", r.text);
    let r = c.post(
        "/virtual-networks",
        json!({"virtual-network": {"fq_name": [D, "p", "gw"], "parent_type": "project",
            "network_ipam_refs": [{"to": ipam, "attr": {"ipam_subnets": [{"subnet": {"ip_prefix": "10.51.0.0", "ip_prefix_len": 24}, "default_gateway": "10.52.0.1"}]}}]}}),
    );
    assert_eq!(r.status, 409, "{}", r.text);
    let r = c.post(
        "/virtual-networks",
        json!({"virtual-network": {"fq_name": [D, "p", "bad"], "parent_type": "project",
            "network_ipam_refs": [{"to": ipam, "attr": {"ipam_subnets": [subnet("10.53.0.300", 24)]}}]}}),
    );
    assert_eq!(r.status, 400);
    assert!(r.text.contains("10.53.0.300/24"), "{}", r.text);
}

/// `network_ipam.py` `is_change_allowed`: every DNS method change, with and without an
/// interface on the IPAM's network, answered as upstream's real API server answered each
/// (`contrail-api-server/start.py`, tf-controller 6a674397). `-` is no `network_ipam_mgmt` on
/// create and `null` in the update; `dhcp` a `network_ipam_mgmt` with DHCP options and no
/// method; `{}` an empty one.
#[test]
fn ipam_dns_method_changes_follow_is_change_allowed() {
    let sim = start();
    let c = Client::new(&sim);
    c.create(
        "virtual-DNS",
        json!({"fq_name": [D, "vdns"], "parent_type": "domain",
               "virtual_DNS_data": {"domain_name": "x.example", "record_order": "random",
                                    "dynamic_records_from_client": false,
                                    "default_ttl_seconds": 60}}),
    );
    let mgmt = |m: &str| match m {
        "-" => Value::Null,
        "{}" => json!({}),
        "dhcp" => json!({"dhcp_option_list": {"dhcp_option": [
            {"dhcp_option_name": "15", "dhcp_option_value": "x"}]}}),
        "tenant-dns-server" => json!({"ipam_dns_method": m, "ipam_dns_server":
            {"tenant_dns_server_address": {"ip_address": ["10.0.0.2"]}}}),
        "virtual-dns-server" => json!({"ipam_dns_method": m, "ipam_dns_server":
            {"virtual_dns_server_name": "default-domain:vdns"}}),
        other => json!({"ipam_dns_method": other}),
    };
    // What the real server refused (400) once an interface is on the network; all else 200.
    let refused: HashSet<(&str, &str)> = [
        ("dhcp", "none"),
        ("dhcp", "default-dns-server"),
        ("dhcp", "tenant-dns-server"),
        ("dhcp", "virtual-dns-server"),
        ("default-dns-server", "dhcp"),
        ("default-dns-server", "tenant-dns-server"),
        ("tenant-dns-server", "dhcp"),
        ("tenant-dns-server", "none"),
        ("tenant-dns-server", "default-dns-server"),
        ("tenant-dns-server", "virtual-dns-server"),
        ("virtual-dns-server", "dhcp"),
        ("virtual-dns-server", "tenant-dns-server"),
    ]
    .into_iter()
    .collect();
    let olds = [
        "-",
        "{}",
        "dhcp",
        "none",
        "default-dns-server",
        "tenant-dns-server",
        "virtual-dns-server",
    ];
    let news = [
        "-",
        "dhcp",
        "none",
        "default-dns-server",
        "tenant-dns-server",
        "virtual-dns-server",
    ];
    let mut n = 0;
    for with_interface in [true, false] {
        for old in olds {
            for new in news.iter().copied().filter(|m| *m != old) {
                n += 1;
                let name = format!("dns-{n}");
                let mut body = json!({"fq_name": [D, "default-project", &name],
                                      "parent_type": "project"});
                if old != "-" {
                    body["network_ipam_mgmt"] = mgmt(old);
                }
                let ipam = c.create("network-ipam", body);
                let vn = format!("vn-{name}");
                c.create(
                    "virtual-network",
                    json!({"fq_name": [D, "default-project", &vn], "parent_type": "project",
                           "network_ipam_refs": [{"to": [D, "default-project", &name],
                               "attr": {"ipam_subnets": [subnet(&format!("10.{n}.0.0"), 24)]}}]}),
                );
                if with_interface {
                    c.create(
                        "virtual-machine-interface",
                        json!({"fq_name": [D, "default-project", format!("vmi-{name}")],
                               "parent_type": "project",
                               "virtual_network_refs": [{"to": [D, "default-project", &vn]}]}),
                    );
                }
                let r = c.put(
                    &format!("/network-ipam/{ipam}"),
                    json!({"network-ipam": {"network_ipam_mgmt": mgmt(new)}}),
                );
                let want = if with_interface && refused.contains(&(old, new)) {
                    400
                } else {
                    200
                };
                assert_eq!(
                    r.status, want,
                    "{old} -> {new}, interface {with_interface}: {}",
                    r.text
                );
                if want == 400 {
                    assert_eq!(
                        r.text,
                        "Cannot change DNS Method  with active VMs referring to the IPAM"
                    );
                    assert_eq!(
                        c.read("network-ipam", &ipam).get("network_ipam_mgmt"),
                        (old != "-").then(|| mgmt(old)).as_ref(),
                        "a refused change changes nothing"
                    );
                }
            }
        }
    }
}

#[test]
fn flat_subnet_ipam_is_shared_by_networks() {
    let sim = start();
    let c = Client::new(&sim);
    ok(sim.add_project(&[D, "mesos-default"]));
    let ipam = c.create(
        "network-ipam",
        json!({"fq_name": [D, "mesos-default", "pod-task-ipam"], "parent_type": "project",
               "ipam_subnet_method": "flat-subnet",
               "ipam_subnets": {"subnets": [{"subnet": {"ip_prefix": "10.32.0.0", "ip_prefix_len": 29}}]}}),
    );
    let ip = c.read("network-ipam", &ipam);
    let s = &ip["ipam_subnets"]["subnets"][0];
    assert_eq!(s["default_gateway"], "10.32.0.6");
    assert_eq!(s["dns_server_address"], "10.32.0.5");
    // network_ipam.py gives IPAM subnets no uuid (only network links get one)
    assert!(s.get("subnet_uuid").is_none(), "{s}");

    let mk = |name: &str, mode: Value| {
        c.post(
            "/virtual-networks",
            json!({"virtual-network": {
                "fq_name": [D, "mesos-default", name], "parent_type": "project",
                "address_allocation_mode": "flat-subnet-only",
                "virtual_network_properties": mode,
                "network_ipam_refs": [{"to": [D, "mesos-default", "pod-task-ipam"], "attr": {"ipam_subnets": []}}]
            }}),
        )
    };
    let r = mk("l2", json!({"forwarding_mode": "l2_l3"}));
    assert_eq!(r.status, 400);
    assert_eq!(r.text, "flat-subnet is allowed only with l3 network");
    let r1 = mk("pods-a", json!({"forwarding_mode": "l3"}));
    let r2 = mk("pods-b", json!({"forwarding_mode": "l3"}));
    assert_eq!(
        (r1.status, r2.status),
        (200, 200),
        "{} {}",
        r1.text,
        r2.text
    );
    let vn_a = r1.json()["virtual-network"]["uuid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let vn_b = r2.json()["virtual-network"]["uuid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let link =
        c.read("virtual-network", &vn_a)["network_ipam_refs"][0]["attr"]["ipam_subnets"].clone();
    assert_eq!(link.as_array().map(Vec::len), Some(1));
    let link_uuid = link[0]["subnet_uuid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!link_uuid.is_empty());

    let mut seen = HashSet::new();
    for (i, vn) in [&vn_a, &vn_b, &vn_a, &vn_b].iter().enumerate() {
        let u = iip_uuid(&iip(&c, &format!("pod{i}"), vn, json!({})));
        let got = c.read("instance-ip", &u);
        assert!(
            seen.insert(
                got["instance_ip_address"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            )
        );
        if *vn == &vn_a {
            assert_eq!(got["subnet_uuid"], link_uuid.as_str());
        }
    }
    let mut addrs: Vec<String> = seen.into_iter().collect();
    addrs.sort();
    assert_eq!(addrs, ["10.32.0.1", "10.32.0.2", "10.32.0.3", "10.32.0.4"]);
    let r = iip(&c, "pod9", &vn_b, json!({}));
    assert_eq!(r.status, 400, "{}", r.text);

    let r = c.post(
        "/virtual-networks",
        json!({"virtual-network": {"fq_name": [D, "mesos-default", "mixed"], "parent_type": "project",
               "virtual_network_properties": {"forwarding_mode": "l3"},
               "network_ipam_refs": [{"to": [D, "mesos-default", "pod-task-ipam"],
                                      "attr": {"ipam_subnets": [subnet("10.33.0.0", 24)]}}]}}),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.text
            .contains("with flat-subnet, network can not have user-defined subnet"),
        "{}",
        r.text
    );
    let r = c.post(
        "/network-ipams",
        json!({"network-ipam": {"fq_name": [D, "mesos-default", "bad"], "parent_type": "project",
               "ipam_subnets": {"subnets": [subnet("10.34.0.0", 24)]}}}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.text, "ipam-subnets are allowed only with flat-subnet");
}

#[test]
fn floating_ips_come_from_the_pool_network() {
    let sim = start();
    let c = Client::new(&sim);
    let p = ok(sim.add_project(&[D, "p"]));
    ok(sim.add_network(&[D, "p", "public"], &["172.16.0.0/24"]));
    ok(sim.add_fip_pool(&[D, "p", "public"], "pool"));
    let fq = |name: &str| json!([D, "p", "public", "pool", name]);
    // no project_refs: floating_ip.py refers the project of the fq_name
    let r = c.post(
        "/floating-ips",
        json!({"floating-ip": {"fq_name": fq("f0"), "parent_type": "floating-ip-pool"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let f0 = r.json()["floating-ip"]["uuid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let got = c.read("floating-ip", &f0);
    assert_eq!(got["project_refs"][0]["uuid"], p.as_str());
    assert_eq!(got["floating_ip_address"], "172.16.0.252");
    assert_eq!(c.delete(&format!("/floating-ip/{f0}")).status, 200);
    let f1 = c.create(
        "floating-ip",
        json!({"fq_name": fq("f1"), "parent_type": "floating-ip-pool", "project_refs": [{"uuid": p}]}),
    );
    assert_eq!(
        c.read("floating-ip", &f1)["floating_ip_address"],
        "172.16.0.252"
    );
    let f2 = c.create(
        "floating-ip",
        json!({"fq_name": fq("f2"), "parent_type": "floating-ip-pool", "project_refs": [{"uuid": p}],
               "floating_ip_address": "172.16.0.77"}),
    );
    assert_eq!(
        c.read("floating-ip", &f2)["floating_ip_address"],
        "172.16.0.77"
    );
    let r = c.post(
        "/floating-ips",
        json!({"floating-ip": {"fq_name": fq("f3"), "parent_type": "floating-ip-pool",
               "project_refs": [{"uuid": p}], "floating_ip_address": "172.16.0.77"}}),
    );
    assert_eq!(r.status, 409);
    assert_eq!(r.text, "IP address already in use");
    let r = c.post(
        "/floating-ips",
        json!({"floating-ip": {"fq_name": fq("f4"), "parent_type": "floating-ip-pool",
               "project_refs": [{"uuid": p}], "floating_ip_address": "10.0.0.1"}}),
    );
    assert_eq!(
        r.status, 500,
        "upstream floating_ip.py answers 500: {}",
        r.text
    );
    // floating-ips share the network's pool with instance-ips
    let vn = sim
        .find("virtual-network", &[D, "p", "public"])
        .map(|v| v["uuid"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    let r = iip(
        &c,
        "clash",
        &vn,
        json!({"instance_ip_address": "172.16.0.252"}),
    );
    assert_eq!(r.status, 409);
    assert_eq!(c.delete(&format!("/floating-ip/{f2}")).status, 200);
    let r = iip(
        &c,
        "reuse",
        &vn,
        json!({"instance_ip_address": "172.16.0.77"}),
    );
    assert_eq!(r.status, 200, "{}", r.text);

    // a floating-ip under an instance-ip gets no address from the server
    let owner_iip = iip_uuid(&iip(&c, "vip", &vn, json!({})));
    let r = c.post(
        "/floating-ips",
        json!({"floating-ip": {"fq_name": ["vip", "f5"], "parent_type": "instance-ip",
               "project_refs": [{"uuid": p}]}}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    let f6 = c.create(
        "floating-ip",
        json!({"fq_name": ["vip", "f6"], "parent_type": "instance-ip", "project_refs": [{"uuid": p}],
               "floating_ip_address": "172.16.0.251"}),
    );
    assert_eq!(
        c.read("floating-ip", &f6)["floating_ip_address"],
        "172.16.0.251"
    );
    let r = c.delete(&format!("/instance-ip/{owner_iip}"));
    assert_eq!(r.status, 409, "{}", r.text);
}

#[test]
fn interfaces_get_a_mac_from_their_uuid() {
    let sim = start();
    let c = Client::new(&sim);
    let vn = ok(sim.add_network(&[D, "p", "vn"], &["10.60.0.0/24"]));
    let vmi = c.create(
        "virtual-machine-interface",
        json!({"fq_name": [D, "p", "i1"], "parent_type": "project",
               "uuid": "8c0d3e4f-1a2b-4c3d-9e8f-0a1b2c3d4e5f",
               "virtual_network_refs": [{"uuid": vn}]}),
    );
    let got = c.read("virtual-machine-interface", &vmi);
    assert_eq!(
        got["virtual_machine_interface_mac_addresses"],
        json!({"mac_address": ["02:8c:0d:3e:4f:1a"]})
    );
    let other = c.create(
        "virtual-machine-interface",
        json!({"fq_name": [D, "p", "i2"], "parent_type": "project",
               "virtual_network_refs": [{"uuid": vn}],
               "virtual_machine_interface_mac_addresses": {"mac_address": ["02-aa-bb-cc-dd-ee"]}}),
    );
    assert_eq!(
        c.read("virtual-machine-interface", &other)["virtual_machine_interface_mac_addresses"]["mac_address"]
            [0],
        "02:aa:bb:cc:dd:ee"
    );
    let r = c.post(
        "/virtual-machine-interfaces",
        json!({"virtual-machine-interface": {"fq_name": [D, "p", "i3"], "parent_type": "project"}}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
}

#[test]
fn schema_validation_traps() {
    let sim = start();
    let c = Client::new(&sim);
    ok(sim.add_project(&[D, "p"]));
    let lb = |props: Value| {
        c.post(
            "/loadbalancers",
            json!({"loadbalancer": {"fq_name": [D, "p", "lb"], "parent_type": "project",
                   "loadbalancer_provider": "native", "loadbalancer_properties": props}}),
        )
    };
    let r =
        lb(json!({"vip_address": "10.0.0.1", "admin_state": true, "id_perms": {"enable": true}}));
    assert_eq!(r.status, 400);
    assert!(
        r.text.starts_with(
            "Bad property in create: Error validating property loadbalancer_properties"
        ),
        "{}",
        r.text
    );
    assert!(
        r.text.contains("does not have field id_perms"),
        "{}",
        r.text
    );
    let r = lb(json!({"vip_address": "10.0.0.1", "admin_state": "yes"}));
    assert_eq!(r.status, 400, "{}", r.text);
    let r = lb(
        json!({"status": null, "provisioning_status": "ACTIVE", "operating_status": "ONLINE",
                      "vip_subnet_id": null, "vip_address": "10.0.0.1", "admin_state": true}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = c.post(
        "/network-ipams",
        json!({"network-ipam": {"fq_name": [D, "p", "i"], "parent_type": "project", "ipam_subnet_method": "flat"}}),
    );
    assert_eq!(r.status, 400);
    assert!(r.text.contains("value must be one of"), "{}", r.text);
    let r = c.post(
        "/loadbalancer-healthmonitors",
        json!({"loadbalancer-healthmonitor": {"fq_name": [D, "p", "hm"], "parent_type": "project"}}),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.text
            .contains("loadbalancer_healthmonitor_properties property is missing"),
        "{}",
        r.text
    );
    // annotation values are strings
    let r = c.post(
        "/virtual-machines",
        json!({"virtual-machine": {"fq_name": ["vm"], "annotations": {"key_value_pair": [{"key": "index", "value": 0}]}}}),
    );
    assert_eq!(
        r.status, 200,
        "a falsy value is not checked upstream: {}",
        r.text
    );
    let r = c.post(
        "/virtual-machines",
        json!({"virtual-machine": {"fq_name": ["vm2"], "annotations": {"key_value_pair": [{"key": "index", "value": 1}]}}}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    // an ipam reference without attr
    let r = c.post(
        "/virtual-networks",
        json!({"virtual-network": {"fq_name": [D, "p", "na"], "parent_type": "project",
               "network_ipam_refs": [{"to": [D, "default-project", "default-network-ipam"]}]}}),
    );
    assert_eq!(r.status, 400);
    assert!(r.text.starts_with("Bad reference in create:"), "{}", r.text);
    // fields the schema does not define for a type are dropped without an error, as the
    // server stores only prop_fields and ref_fields (vnc_cassandra.py object_create); so is a
    // reference to a type the resource may not refer to
    let vn = sim
        .find("virtual-network", &[D, "default-project", "ip-fabric"])
        .map(|v| v["uuid"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    let vm = c.create(
        "virtual-machine",
        json!({"fq_name": ["vm3"], "annotation": "typo", "server_type": "container",
               "virtual_network_refs": [{"uuid": vn}]}),
    );
    let got = c.read("virtual-machine", &vm);
    assert!(got.get("annotation").is_none());
    assert!(got.get("virtual_network_refs").is_none());
    assert_eq!(got["server_type"], "container");
    let r = c.put(
        &format!("/virtual-machine/{vm}"),
        json!({"virtual-machine": {"colour": "blue", "display_name": "v"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(c.read("virtual-machine", &vm).get("colour").is_none());
    // types outside the schema have no routes at all
    let r = c.post("/widgets", json!({"widget": {"fq_name": ["w"]}}));
    assert_eq!((r.status, r.text.as_str()), (404, "Not found: '/widgets'"));
    assert_eq!(c.get("/widgets").status, 404);
    assert_eq!(c.get(&format!("/widget/{vm}")).status, 404);
    assert_eq!(c.delete(&format!("/widget/{vm}")).status, 404);
    let r = c.post("/fqname-to-id", json!({"type": "widget", "fq_name": ["w"]}));
    assert_eq!(
        (r.status, r.text.as_str()),
        (404, "Resource type 'widget' not found")
    );
    assert!(sim.create("widget", json!({"fq_name": ["w"]})).is_err());
    // a known collection with another method is bottle's 405
    assert_eq!(c.send("DELETE", "/virtual-machines", None).status, 405);
    // perms2 with the owner, as kube-manager sends it on interfaces, is accepted and kept
    let vmi = c.create(
        "virtual-machine-interface",
        json!({"fq_name": [D, "p", "i"], "parent_type": "project",
               "virtual_network_refs": [{"uuid": vn}],
               "perms2": {"owner": "0123456789abcdef0123456789abcdef", "owner_access": 7}}),
    );
    assert_eq!(
        c.read("virtual-machine-interface", &vmi)["perms2"]["owner"],
        "0123456789abcdef0123456789abcdef"
    );
    let r = c.post(
        "/virtual-machine-interfaces",
        json!({"virtual-machine-interface": {"fq_name": [D, "p", "i2"], "parent_type": "project",
               "virtual_network_refs": [{"uuid": vn}], "perms2": {"owner": "x", "owner_access": 9}}}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.text
            .contains("owner_access: value must be between 0 and 7"),
        "{}",
        r.text
    );
    // enum inside a list inside a property, and an unknown key in a reference attribute
    let r = c.post(
        "/network-policys",
        json!({"network-policy": {"fq_name": [D, "p", "np"], "parent_type": "project",
               "network_policy_entries": {"policy_rule": [{"direction": "<>", "ethertype": "IPv5"}]}}}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.text.contains("ethertype: value must be one of"),
        "{}",
        r.text
    );
    let np = c.create(
        "network-policy",
        json!({"fq_name": [D, "p", "np"], "parent_type": "project"}),
    );
    let r = c.post(
        "/ref-update",
        json!({"type": "virtual-network", "uuid": vn, "ref-type": "network-policy", "ref-uuid": np,
               "operation": "ADD", "attr": {"sequence": {"major": 0, "minor": 0}, "rank": 1}}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.text.starts_with(
            "Bad reference in ref-update: Error validating reference network_policy_refs"
        ) && r.text.ends_with("does not have field rank"),
        "{}",
        r.text
    );
}

#[test]
fn malformed_requests_get_400_and_the_server_survives() {
    let sim = start();
    let c = Client::new(&sim);
    let raw = |method: &str, path: &str, body: &[u8]| {
        Client::finish(c.try_send(method, path, Some(body)))
    };
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("POST", "/virtual-networks", b"{not json".to_vec()),
        ("POST", "/virtual-networks", b"[1,2]".to_vec()),
        ("POST", "/virtual-networks", br#"{"virtual-network": 5}"#.to_vec()),
        ("POST", "/virtual-networks", br#"{"project": {"fq_name": ["a"]}}"#.to_vec()),
        ("POST", "/virtual-networks", br#"{"virtual-network": {"fq_name": "a:b:c"}}"#.to_vec()),
        ("POST", "/virtual-networks", br#"{"virtual-network": {"fq_name": ["a", 1, "c"]}}"#.to_vec()),
        ("POST", "/virtual-machines", br#"{"virtual-machine": {"fq_name": ["x"], "uuid": 7}}"#.to_vec()),
        ("POST", "/virtual-machines", br#"{"virtual-machine": {"fq_name": ["x"], "parent_type": 3}}"#.to_vec()),
        ("POST", "/virtual-machine-interfaces", br#"{"virtual-machine-interface": {"fq_name": ["default-domain","default-project","i"], "parent_type": "project", "virtual_network_refs": "vn"}}"#.to_vec()),
        ("POST", "/virtual-machine-interfaces", br#"{"virtual-machine-interface": {"fq_name": ["default-domain","default-project","i"], "parent_type": "project", "virtual_network_refs": [5]}}"#.to_vec()),
        ("POST", "/virtual-machine-interfaces", br#"{"virtual-machine-interface": {"fq_name": ["default-domain","default-project","i"], "parent_type": "project", "virtual_network_refs": [{"to": "x"}]}}"#.to_vec()),
        ("POST", "/virtual-networks", br#"{"virtual-network": {"fq_name": ["default-domain","default-project","v"], "parent_type": "project", "network_ipam_refs": [{"to": ["default-domain","default-project","default-network-ipam"], "attr": {"ipam_subnets": [{"subnet": {"ip_prefix": 10, "ip_prefix_len": "x"}}]}}]}}"#.to_vec()),
        ("POST", "/virtual-networks", br#"{"virtual-network": {"fq_name": ["default-domain","default-project","v"], "parent_type": "project", "network_ipam_refs": [{"to": ["default-domain","default-project","default-network-ipam"], "attr": {"ipam_subnets": "x"}}]}}"#.to_vec()),
        ("POST", "/instance-ips", br#"{"instance-ip": {"fq_name": ["i"], "virtual_network_refs": [{"to": ["default-domain","default-project","ip-fabric"]}], "instance_ip_address": 17}}"#.to_vec()),
        ("POST", "/fqname-to-id", br#"{"type": 4, "fq_name": []}"#.to_vec()),
        ("POST", "/id-to-fqname", br#"{"uuid": ["x"]}"#.to_vec()),
        ("POST", "/ref-update", b"null".to_vec()),
        ("POST", "/ref-update", br#"{"type": "project", "uuid": 1, "ref-type": "x", "operation": "ADD"}"#.to_vec()),
        ("PUT", "/project/5e3d2a5c-9d6b-4b8e-9c1a-2f3e4d5c6b7a", b"{{".to_vec()),
        ("POST", "/_sim/fault", br#"{"fail_next": -1}"#.to_vec()),
    ];
    for (method, path, body) in cases {
        let r = raw(method, path, &body);
        assert_eq!(
            r.status,
            400,
            "{method} {path} {}: {}",
            String::from_utf8_lossy(&body),
            r.text
        );
    }
    let r = c.get("/virtual-machines?detail=true&filters=a==1==2");
    assert_eq!(r.status, 400);
    assert_eq!(c.get("/a/b/c").status, 404);
    assert_eq!(
        c.get("/virtual_networks").status,
        404,
        "only dashed type names are routed"
    );
    assert_eq!(c.send("PATCH", "/projects", None).status, 405);
    // still alive and unchanged
    assert_eq!(c.get("/projects").status, 200);
    // the three seeded networks only
    assert_eq!(sim.count("virtual-network"), 3);
}

fn keystone_sim() -> ConfigApiSim {
    let opts = ConfigApiOptions {
        keystone: Some(KeystoneCreds {
            user: "admin".into(),
            password: "secret".into(),
            tenant: "admin".into(),
        }),
        ..Default::default()
    };
    match ConfigApiSim::start(opts) {
        Ok(s) => s,
        Err(e) => panic!("{e:#}"),
    }
}

fn v3_body(password: &str) -> Value {
    json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "password": password, "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}
    }})
}

#[test]
fn keystone_v3_tokens_guard_the_api() {
    let sim = keystone_sim();
    let mut c = Client::new(&sim);
    assert_eq!(c.get("/projects").status, 401);
    c.token = Some("forged".into());
    assert_eq!(c.get("/projects").status, 401);
    c.token = None;
    let url = sim.keystone_v3_url();
    assert!(url.ends_with("/v3/auth/tokens") && url.starts_with(&sim.url()));
    let r = c.post("/v3/auth/tokens", v3_body("wrong"));
    assert_eq!(r.status, 401);
    let r = c.post("/v3/auth/tokens", v3_body("secret"));
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.json()["token"]["expires_at"].is_string());
    let token = r.token.clone();
    assert!(token.is_some());
    c.token = token;
    assert_eq!(c.get("/projects").status, 200);
    assert_eq!(
        c.post("/fqname-to-id", json!({"type": "domain", "fq_name": [D]}))
            .status,
        200
    );
    sim.expire_tokens();
    assert_eq!(c.get("/projects").status, 401);
    let again = Client::new(&sim).post("/v3/auth/tokens", v3_body("secret"));
    assert_eq!(again.status, 201);
    c.token = again.token;
    assert_eq!(c.get("/projects").status, 200);
    // other scope than the configured tenant
    let mut other = v3_body("secret");
    other["auth"]["scope"]["project"]["name"] = json!("demo");
    assert_eq!(c.post("/v3/auth/tokens", other).status, 401);
    assert_eq!(c.post("/v3/auth/tokens", json!({"auth": 1})).status, 400);
    // the handle needs no token
    assert!(sim.count("domain") >= 1);
}

#[test]
fn keystone_v2_tokens_and_expiry() {
    let sim = keystone_sim();
    let mut c = Client::new(&sim);
    let body = |pw: &str| json!({"auth": {"passwordCredentials": {"username": "admin", "password": pw}, "tenantName": "admin"}});
    assert!(sim.keystone_v2_url().ends_with("/v2.0/tokens"));
    assert_eq!(c.post("/v2.0/tokens", body("nope")).status, 401);
    let r = c.post("/v2.0/tokens", body("secret"));
    assert_eq!(r.status, 200, "{}", r.text);
    let access = r.json()["access"].clone();
    assert!(access["token"]["expires"].is_string());
    c.token = access["token"]["id"].as_str().map(str::to_string);
    assert_eq!(c.get("/virtual-networks").status, 200);
    let r = Client::finish(c.try_send("POST", "/_sim/expire-tokens", Some(b"{}")));
    assert_eq!(r.status, 200);
    assert_eq!(c.get("/virtual-networks").status, 401);
    // keystone requests are not API requests
    sim.reset_request_count();
    c.post("/v2.0/tokens", body("secret"));
    assert_eq!(sim.request_count(), 0);
}

#[test]
fn keystone_is_absent_unless_enabled() {
    let sim = start();
    let c = Client::new(&sim);
    assert_eq!(c.post("/v3/auth/tokens", v3_body("x")).status, 404);
    assert_eq!(c.get("/projects").status, 200);
}

#[test]
fn fail_next_returns_the_status_exactly_n_times_and_requests_are_counted() {
    let sim = start();
    let c = Client::new(&sim);
    sim.fail_next(3, 503);
    let statuses: Vec<u16> = (0..5).map(|_| c.get("/projects").status).collect();
    assert_eq!(statuses, [503, 503, 503, 200, 200]);
    let r = c.post("/_sim/fault", json!({"fail_next": 2, "status": 500}));
    assert_eq!(r.status, 200, "{}", r.text);
    let statuses: Vec<u16> = (0..3)
        .map(|_| {
            c.post("/fqname-to-id", json!({"type": "domain", "fq_name": [D]}))
                .status
        })
        .collect();
    assert_eq!(statuses, [500, 500, 200]);

    sim.reset_request_count();
    assert_eq!(sim.request_count(), 0);
    c.get("/projects");
    c.get(&format!("/project/{}", ok(sim.add_project(&[D, "x"]))));
    c.post("/fqname-to-id", json!({"type": "domain", "fq_name": [D]}));
    let stats = c.get("/_sim/stats");
    assert_eq!(stats.status, 200);
    let stats = stats.json();
    assert_eq!(stats["requests"], 3);
    assert_eq!(stats["by_type"]["project"], 2);
    assert_eq!(stats["by_type"]["fqname-to-id"], 1);
    assert_eq!(sim.request_count(), 3, "/_sim requests are not counted");
    assert_eq!(c.post("/_sim/reset-stats", json!({})).status, 200);
    assert_eq!(sim.request_count(), 0);
}

#[test]
fn latency_is_added_to_every_request() {
    let sim = start();
    let c = Client::new(&sim);
    c.get("/projects");
    sim.set_latency(Duration::from_millis(150));
    let t = Instant::now();
    assert_eq!(c.get("/projects").status, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
    sim.set_latency(Duration::ZERO);
    let r = c.post("/_sim/fault", json!({"latency_ms": 120}));
    assert_eq!(r.status, 200);
    let t = Instant::now();
    c.get("/projects");
    assert!(
        t.elapsed() >= Duration::from_millis(120),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn going_down_refuses_connections_and_coming_back_uses_the_same_port() {
    let sim = start();
    let vn = ok(sim.add_network(&[D, "p", "vn"], &["10.70.0.0/24"]));
    // an agent with a pooled keep-alive connection, as a real client has
    let c = Client {
        agent: agent(Some(Duration::from_secs(10))),
        base: sim.url(),
        token: None,
    };
    assert_eq!(c.get("/projects").status, 200);
    let port = sim.port();
    ok(sim.set_down(true));
    let refused = TcpStream::connect(("127.0.0.1", port));
    assert!(
        refused.as_ref().err().map(|e| e.kind()) == Some(std::io::ErrorKind::ConnectionRefused),
        "{refused:?}"
    );
    let t = Instant::now();
    let r = c.try_send("GET", "/projects", None);
    assert!(r.is_err(), "a request while down must fail");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "failed only after {:?}",
        t.elapsed()
    );
    ok(sim.set_down(false));
    assert_eq!(sim.port(), port);
    assert_eq!(c.get(&format!("/virtual-network/{vn}")).status, 200);

    // the same over HTTP: down for a while, then back
    let r = c.post("/_sim/fault", json!({"down_ms": 400}));
    assert_eq!(r.status, 200);
    std::thread::sleep(Duration::from_millis(200));
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    std::thread::sleep(Duration::from_millis(600));
    let fresh = Client::new(&sim);
    assert_eq!(fresh.get("/projects").status, 200);
}

#[test]
fn handle_helpers() {
    let sim = start();
    let out = ok(sim.add_project(&[D, "mesos"]));
    // helpers are idempotent
    let again = ok(sim.add_project(&[D, "mesos"]));
    assert_eq!(again, out);
    assert_eq!(sim.list("project").len(), sim.count("project"));
    assert!(
        sim.add_network(&[D, "mesos", "bad"], &["10.0.0.0"])
            .is_err()
    );
    // create() takes the object or the wrapped object
    let a = ok(sim.create("virtual-machine", json!({"fq_name": ["a"]})));
    let b = ok(sim.create(
        "virtual-machine",
        json!({"virtual-machine": {"fq_name": ["b"]}}),
    ));
    assert_ne!(a, b);
    assert!(
        sim.create("virtual-machine", json!({"fq_name": ["a"]}))
            .is_err()
    );
}

#[test]
fn concurrent_requests_are_atomic() {
    let sim = start();
    let vn = ok(sim.add_network(&[D, "p", "vn"], &["10.80.0.0/24"]));
    let url = sim.url();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let (url, vn) = (url.clone(), vn.clone());
            std::thread::spawn(move || {
                let c = Client {
                    agent: agent(Some(Duration::from_secs(30))),
                    base: url,
                    token: None,
                };
                let dup = c
                    .post(
                        "/virtual-machines",
                        json!({"virtual-machine": {"fq_name": ["same"]}}),
                    )
                    .status;
                let addrs: Vec<String> = (0..10)
                    .map(|j| {
                        let r = iip(&c, &format!("t{i}-{j}"), &vn, json!({}));
                        let u = iip_uuid(&r);
                        c.read("instance-ip", &u)["instance_ip_address"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string()
                    })
                    .collect();
                (dup, addrs)
            })
        })
        .collect();
    let mut created = 0;
    let mut all = HashSet::new();
    for h in handles {
        let (dup, addrs) = match h.join() {
            Ok(v) => v,
            Err(_) => panic!("worker panicked"),
        };
        if dup == 200 {
            created += 1;
        } else {
            assert_eq!(dup, 409);
        }
        for a in addrs {
            assert!(all.insert(a.clone()), "address {a} handed out twice");
        }
    }
    assert_eq!(created, 1);
    assert_eq!(all.len(), 80);
}

#[test]
fn listing_10000_vms_with_detail_is_complete_and_fast() {
    let sim = start();
    let mut uuids = HashSet::new();
    let t = Instant::now();
    for i in 0..10_000 {
        let u = ok(sim.create(
            "virtual-machine",
            json!({"fq_name": [format!("task-{i:05}")], "server_type": "container",
                   "annotations": {"key_value_pair": [{"key": "owner", "value": "mesos"}]}}),
        ));
        uuids.insert(u);
    }
    println!("created 10000 virtual-machines in {:?}", t.elapsed());
    let c = Client::new(&sim);
    let t = Instant::now();
    let r = c.get("/virtual-machines?detail=true");
    let took = t.elapsed();
    assert_eq!(r.status, 200);
    let list = r.json()["virtual-machines"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    println!(
        "GET /virtual-machines?detail=true: {} objects, {} bytes in {took:?}",
        list.len(),
        r.text.len()
    );
    assert_eq!(list.len(), 10_000);
    let listed: HashSet<String> = list
        .iter()
        .filter_map(|e| e["virtual-machine"]["uuid"].as_str().map(str::to_string))
        .collect();
    assert_eq!(listed, uuids);
    assert!(
        list.iter()
            .all(|e| e["virtual-machine"]["server_type"] == "container")
    );
    let t = Instant::now();
    let r = c.get("/virtual-machines?count=true").json();
    println!("count in {:?}", t.elapsed());
    assert_eq!(r["virtual-machines"]["count"], 10_000);
}

#[test]
fn put_replaces_reference_lists_wholesale() {
    let sim = start();
    let c = Client::new(&sim);
    let vn = ok(sim.add_network(&[D, "p", "vn"], &["10.90.0.0/24"]));
    let sg1 = ok(sim.add_security_group(&[D, "p", "sg1"]));
    let sg2 = ok(sim.add_security_group(&[D, "p", "sg2"]));
    let vmi = c.create(
        "virtual-machine-interface",
        json!({"fq_name": [D, "p", "i"], "parent_type": "project",
               "virtual_network_refs": [{"uuid": vn}],
               "security_group_refs": [{"to": [D, "p", "sg1"]}, {"to": [D, "p", "sg2"]}]}),
    );
    assert_eq!(
        c.read("security-group", &sg1)["virtual_machine_interface_back_refs"][0]["uuid"],
        vmi.as_str()
    );
    let r = c.put(
        &format!("/virtual-machine-interface/{vmi}"),
        json!({"virtual-machine-interface": {"security_group_refs": [{"to": [D, "p", "sg2"]}]}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let got = c.read("virtual-machine-interface", &vmi);
    assert_eq!(got["security_group_refs"].as_array().map(Vec::len), Some(1));
    assert_eq!(got["security_group_refs"][0]["uuid"], sg2.as_str());
    assert_eq!(
        got["virtual_network_refs"][0]["uuid"],
        vn.as_str(),
        "other ref fields untouched"
    );
    assert!(
        c.read("security-group", &sg1)
            .get("virtual_machine_interface_back_refs")
            .is_none()
    );
    assert_eq!(c.delete(&format!("/security-group/{sg1}")).status, 200);
    assert_eq!(c.delete(&format!("/security-group/{sg2}")).status, 409);
    let r = c.put(
        &format!("/virtual-machine-interface/{vmi}"),
        json!({"virtual-machine-interface": {"security_group_refs": []}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        c.read("virtual-machine-interface", &vmi)
            .get("security_group_refs")
            .is_none()
    );
    assert_eq!(c.delete(&format!("/security-group/{sg2}")).status, 200);
    // a property set to null is stored as null, a missing one is left alone
    let r = c.put(
        &format!("/virtual-machine-interface/{vmi}"),
        json!({"virtual-machine-interface": {"display_name": null}}),
    );
    assert_eq!(r.status, 200);
    let got = c.read("virtual-machine-interface", &vmi);
    assert_eq!(got["display_name"], Value::Null);
    assert!(got["virtual_machine_interface_mac_addresses"]["mac_address"][0].is_string());
}

#[test]
fn ref_update_stays_cheap_on_an_object_with_many_refs() {
    let sim = start();
    let vr = ok(sim.add_virtual_router("node1", "192.168.0.11"));
    let n = 2_000;
    let vms: Vec<String> = (0..n)
        .map(|i| {
            ok(sim.create(
                "virtual-machine",
                json!({"fq_name": [format!("vm-{i:05}")]}),
            ))
        })
        .collect();
    let c = Client::new(&sim);
    let t = Instant::now();
    for vm in &vms {
        let r = c.post(
            "/ref-update",
            json!({"type": "virtual-router", "uuid": vr, "ref-type": "virtual-machine",
                   "ref-uuid": vm, "operation": "ADD"}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
    }
    println!(
        "{n} ref-update ADD on one virtual-router in {:?}",
        t.elapsed()
    );
    let got = c.read("virtual-router", &vr);
    assert_eq!(
        got["virtual_machine_refs"].as_array().map(Vec::len),
        Some(n)
    );
    assert_eq!(
        c.read("virtual-machine", &vms[7])["virtual_router_back_refs"][0]["uuid"],
        vr.as_str()
    );
    let t = Instant::now();
    for vm in vms.iter().step_by(2) {
        let r = c.post(
            "/ref-update",
            json!({"type": "virtual-router", "uuid": vr, "ref-type": "virtual-machine",
                   "ref-uuid": vm, "operation": "DELETE"}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
    }
    println!("{} ref-update DELETE in {:?}", n / 2, t.elapsed());
    let got = c.read("virtual-router", &vr);
    let left: HashSet<&str> = got["virtual_machine_refs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["uuid"].as_str())
        .collect();
    let expect: HashSet<&str> = vms.iter().skip(1).step_by(2).map(String::as_str).collect();
    assert_eq!(left, expect);
    assert_eq!(
        c.delete(&format!("/virtual-machine/{}", vms[0])).status,
        200
    );
    assert_eq!(
        c.delete(&format!("/virtual-machine/{}", vms[1])).status,
        409
    );
}

fn uuid_of(r: &Reply, ty: &str) -> String {
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()[ty]["uuid"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn subnets_of(c: &Client, vn: &str) -> Value {
    c.read("virtual-network", vn)["network_ipam_refs"][0]["attr"]["ipam_subnets"].clone()
}

fn address(c: &Client, iip_reply: &Reply) -> Value {
    c.read("instance-ip", &iip_uuid(iip_reply))["instance_ip_address"].clone()
}

#[test]
fn ipv6_and_dual_stack_subnets() {
    let sim = start();
    let c = Client::new(&sim);
    ok(sim.add_project(&[D, "p"]));
    let vn = network(
        &c,
        "p",
        "dual",
        json!([subnet("10.70.0.0", 24), subnet("FD00:70::5", 64)]),
    );
    let subs = subnets_of(&c, &vn);
    // the prefix is normalised; the gateway and DNS address are the last-but-one and -two
    assert_eq!(
        subs[1]["subnet"],
        json!({"ip_prefix": "fd00:70::", "ip_prefix_len": 64})
    );
    assert_eq!(subs[1]["default_gateway"], "fd00:70::ffff:ffff:ffff:fffe");
    assert_eq!(
        subs[1]["dns_server_address"],
        "fd00:70::ffff:ffff:ffff:fffd"
    );
    let v4_uuid = subs[0]["subnet_uuid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let v6_uuid = subs[1]["subnet_uuid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(!v6_uuid.is_empty() && v4_uuid != v6_uuid);

    // no family: the first subnet with room, in order
    assert_eq!(address(&c, &iip(&c, "a", &vn, json!({}))), "10.70.0.252");
    let r = iip(&c, "b", &vn, json!({"instance_ip_family": "v6"}));
    let b = c.read("instance-ip", &iip_uuid(&r));
    assert_eq!(b["instance_ip_address"], "fd00:70::ffff:ffff:ffff:fffc");
    assert_eq!(b["subnet_uuid"], v6_uuid.as_str());
    assert_eq!(b["instance_ip_family"], "v6");
    let r = iip(&c, "c", &vn, json!({"instance_ip_family": "v4"}));
    assert_eq!(address(&c, &r), "10.70.0.251");
    // a subnet uuid picks the subnet, whatever its family
    let r = iip(&c, "d", &vn, json!({"subnet_uuid": v6_uuid}));
    assert_eq!(address(&c, &r), "fd00:70::ffff:ffff:ffff:fffb");
    let r = iip(
        &c,
        "d2",
        &vn,
        json!({"subnet_uuid": v6_uuid, "instance_ip_family": "v4"}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        r.text,
        "Virtual-Network(['default-domain', 'p', 'dual']) has exhausted subnet([])"
    );

    // requested IPv6 addresses: stored in canonical form, taken once
    let r = iip(
        &c,
        "e",
        &vn,
        json!({"instance_ip_address": "FD00:70:0::10", "instance_ip_family": "v6"}),
    );
    assert_eq!(address(&c, &r), "fd00:70::10");
    let r = iip(&c, "f", &vn, json!({"instance_ip_address": "fd00:70::10"}));
    assert_eq!(
        (r.status, r.text.as_str()),
        (409, "IP address already in use")
    );
    // the DNS address, the network address and the last address are never handed out
    for taken in [
        "fd00:70::ffff:ffff:ffff:fffd",
        "fd00:70::",
        "fd00:70::ffff:ffff:ffff:ffff",
    ] {
        let r = iip(&c, "g", &vn, json!({"instance_ip_address": taken}));
        assert_eq!(r.status, 409, "{taken}: {}", r.text);
    }
    // the gateway goes to a router port only
    let r = iip(
        &c,
        "gw",
        &vn,
        json!({"instance_ip_address": "fd00:70::ffff:ffff:ffff:fffe"}),
    );
    assert_eq!(address(&c, &r), "fd00:70::ffff:ffff:ffff:fffe");
    let vm = c.create("virtual-machine", json!({"fq_name": ["vm"]}));
    let vmi = c.create(
        "virtual-machine-interface",
        json!({"fq_name": [D, "p", "i"], "parent_type": "project",
               "virtual_network_refs": [{"uuid": vn}], "virtual_machine_refs": [{"uuid": vm}]}),
    );
    let r = iip(
        &c,
        "gw2",
        &vn,
        json!({"instance_ip_address": "fd00:70::ffff:ffff:ffff:fffe",
               "virtual_machine_interface_refs": [{"uuid": vmi}]}),
    );
    assert_eq!(
        (r.status, r.text.as_str()),
        (400, "Gateway IP cannot be used by VM port")
    );

    // a family the requested address does not have finds no subnet
    for (family, addr) in [("v4", "fd00:70::20"), ("v6", "10.70.0.20")] {
        let r = iip(
            &c,
            "h",
            &vn,
            json!({"instance_ip_address": addr, "instance_ip_family": family}),
        );
        assert_eq!(r.status, 400, "{family} {addr}: {}", r.text);
        assert!(r.text.ends_with("has exhausted subnet([])"), "{}", r.text);
    }
    // an address outside every subnet
    let r = iip(&c, "i", &vn, json!({"instance_ip_address": "fd00:99::1"}));
    assert_eq!(r.status, 400, "{}", r.text);

    // an IPv6-only network has nothing for v4
    let v6 = network(&c, "p", "v6only", json!([subnet("fd00:71::", 64)]));
    let r = iip(&c, "j", &v6, json!({"instance_ip_family": "v4"}));
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.ends_with("has exhausted subnet([])"), "{}", r.text);
    assert_eq!(
        address(&c, &iip(&c, "k", &v6, json!({}))),
        "fd00:71::ffff:ffff:ffff:fffc"
    );
    // addresses come back on delete
    let k = sim
        .find("instance-ip", &["k"])
        .map(|v| v["uuid"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    assert_eq!(c.delete(&format!("/instance-ip/{k}")).status, 200);
    assert_eq!(
        address(&c, &iip(&c, "k2", &v6, json!({}))),
        "fd00:71::ffff:ffff:ffff:fffc"
    );
}

#[test]
fn ipv6_subnets_run_out_and_a_pinned_subnet_may_give_no_address() {
    let sim = start();
    let c = Client::new(&sim);
    ok(sim.add_project(&[D, "p"]));
    // /125: eight addresses less network, last, gateway ::6 and DNS ::5
    let vn = network(
        &c,
        "p",
        "small",
        json!([subnet("10.72.0.0", 29), subnet("fd00:72::", 125)]),
    );
    let v6_uuid = subnets_of(&c, &vn)[1]["subnet_uuid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let got: Vec<Value> = (0..4)
        .map(|i| {
            address(
                &c,
                &iip(
                    &c,
                    &format!("x{i}"),
                    &vn,
                    json!({"instance_ip_family": "v6"}),
                ),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            json!("fd00:72::4"),
            json!("fd00:72::3"),
            json!("fd00:72::2"),
            json!("fd00:72::1")
        ]
    );
    let r = iip(&c, "x4", &vn, json!({"instance_ip_family": "v6"}));
    assert_eq!(r.status, 400, "{}", r.text);
    // user-defined-subnet-preferred: after the network's subnets, _ipam_ip_alloc_req fails
    // last, with nothing tried
    assert_eq!(
        r.text,
        "Virtual-Network(['default-domain', 'p', 'small']) has exhausted subnet([])"
    );
    let r = c.put(
        &format!("/virtual-network/{vn}"),
        json!({"virtual-network": {"address_allocation_mode": "user-defined-subnet-only"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let r = iip(&c, "x4", &vn, json!({"instance_ip_family": "v6"}));
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            400,
            "Virtual-Network(['default-domain', 'p', 'small']) has exhausted subnet(['fd00:72::/125'])"
        )
    );
    // upstream's _net_ip_alloc_req returns no address, and no error, for an exhausted subnet
    // named by its uuid: the instance-ip exists without an address
    let r = iip(&c, "x5", &vn, json!({"subnet_uuid": v6_uuid}));
    let x5 = c.read("instance-ip", &iip_uuid(&r));
    assert!(x5.get("instance_ip_address").is_none(), "{x5}");
    assert_eq!(x5["subnet_uuid"], v6_uuid.as_str());
    // IPv4 still has room
    assert_eq!(address(&c, &iip(&c, "x6", &vn, json!({}))), "10.72.0.4");
}

#[test]
fn flat_subnet_ipams_hold_ipv6_too() {
    let sim = start();
    let c = Client::new(&sim);
    ok(sim.add_project(&[D, "p"]));
    let ipam = c.create(
        "network-ipam",
        json!({"fq_name": [D, "p", "flat"], "parent_type": "project",
               "ipam_subnet_method": "flat-subnet",
               "ipam_subnets": {"subnets": [subnet("10.73.0.0", 24), subnet("fd00:73::", 64)]}}),
    );
    let s = c.read("network-ipam", &ipam)["ipam_subnets"]["subnets"][1].clone();
    assert_eq!(s["default_gateway"], "fd00:73::ffff:ffff:ffff:fffe");
    assert_eq!(s["dns_server_address"], "fd00:73::ffff:ffff:ffff:fffd");
    let vn = c.create(
        "virtual-network",
        json!({"fq_name": [D, "p", "pods"], "parent_type": "project",
               "address_allocation_mode": "flat-subnet-only",
               "virtual_network_properties": {"forwarding_mode": "l3"},
               "network_ipam_refs": [{"to": [D, "p", "flat"], "attr": {"ipam_subnets": []}}]}),
    );
    assert_eq!(address(&c, &iip(&c, "a", &vn, json!({}))), "10.73.0.252");
    assert_eq!(
        address(&c, &iip(&c, "b", &vn, json!({"instance_ip_family": "v6"}))),
        "fd00:73::ffff:ffff:ffff:fffc"
    );
    let r = iip(&c, "c", &vn, json!({"instance_ip_address": "fd00:73::9"}));
    assert_eq!(address(&c, &r), "fd00:73::9");
    // a flat IPAM's subnets are checked for overlap before anything else (400)
    let r = c.post(
        "/network-ipams",
        json!({"network-ipam": {"fq_name": [D, "p", "flat2"], "parent_type": "project",
               "ipam_subnet_method": "flat-subnet",
               "ipam_subnets": {"subnets": [
                   {"subnet": {"ip_prefix": "fd00:74::", "ip_prefix_len": 64}, "subnet_uuid": "nope"},
                   subnet("fd00:74::", 96)]}}}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        r.text,
        "Overlapping addresses: [IPNetwork('fd00:74::/64'), IPNetwork('fd00:74::/96')]"
    );
}

#[test]
fn subnet_errors_are_upstreams() {
    let sim = start();
    let c = Client::new(&sim);
    ok(sim.add_project(&[D, "p"]));
    let before = sim.count("virtual-network");
    let post = |name: &str, subnets: Value| {
        c.post(
            "/virtual-networks",
            json!({"virtual-network": {"fq_name": [D, "p", name], "parent_type": "project",
                   "network_ipam_refs": [{"to": [D, "default-project", "default-network-ipam"],
                                          "attr": {"ipam_subnets": subnets}}]}}),
        )
    };
    let with = |extra: Value| {
        let mut e = subnet("10.80.0.0", 24);
        if let (Some(m), Value::Object(x)) = (e.as_object_mut(), extra) {
            m.extend(x);
        }
        json!([e])
    };
    // net_check_subnet: 409
    for (extra, msg) in [
        (
            json!({"subnet_uuid": "xyz"}),
            "Invalid subnet-uuid xyz in subnet:10.80.0.0/24",
        ),
        (
            json!({"allocation_pools": [{"start": "10.80.0.20", "end": "10.80.0.10"}]}),
            "Invalid allocation Pool start:10.80.0.20, end:10.80.0.10 in subnet:10.80.0.0/24",
        ),
        (
            json!({"allocation_pools": [{"start": "10.81.0.1", "end": "10.81.0.5"}]}),
            "allocation pool start:10.81.0.1, end:10.81.0.5 out of cidr:10.80.0.0/24",
        ),
        (
            json!({"default_gateway": "10.81.0.1"}),
            "gateway Ip 10.81.0.1 out of cidr: 10.80.0.0/24",
        ),
        (
            json!({"default_gateway": "10.80.0.255"}),
            "gateway Ip 10.80.0.255 out of cidr: 10.80.0.0/24",
        ),
        (
            json!({"default_gateway": "gw"}),
            "Invalid gateway Ip address:gw",
        ),
        (
            json!({"dns_server_address": "dns"}),
            "Invalid Dns Server Ip address:dns",
        ),
    ] {
        let r = post("bad", with(extra.clone()));
        assert_eq!((r.status, r.text.as_str()), (409, msg), "{extra}");
    }
    let r = post(
        "bad",
        json!([{"subnet": {"ip_prefix": "fd00:80::", "ip_prefix_len": 64}, "default_gateway": "10.0.0.1"}]),
    );
    assert_eq!(
        (r.status, r.text.as_str()),
        (409, "gateway Ip 10.0.0.1 out of cidr: fd00:80::/64")
    );
    // 0.0.0.0 and :: are accepted as "no gateway"
    let r = post("nogw", with(json!({"default_gateway": "0.0.0.0"})));
    assert_eq!(r.status, 200, "{}", r.text);
    // overlap: 400, IPv4 and IPv6 alike; the families never overlap each other
    let r = post(
        "ov4",
        json!([subnet("10.84.0.0", 16), subnet("10.84.1.0", 24)]),
    );
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            400,
            "Overlapping addresses: [IPNetwork('10.84.0.0/16'), IPNetwork('10.84.1.0/24')]"
        )
    );
    let r = post(
        "ov6",
        json!([subnet("fd00:80::", 64), subnet("fd00:80::", 96)]),
    );
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            400,
            "Overlapping addresses: [IPNetwork('fd00:80::/64'), IPNetwork('fd00:80::/96')]"
        )
    );
    // Subnet.__init__ / net_create_req: 500
    let r = post("n31", json!([subnet("10.82.0.0", 31)]));
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            500,
            "Virtual-Network(default-domain:p:n31:10.82.0.0/31) has invalid alloc_unit(1) in \
             subnet(10.82.0.0/31) reason: Pool range<=block_alloc_unit"
        )
    );
    let r = post(
        "pools",
        with(
            json!({"allocation_pools": [{"start": "10.80.0.10", "end": "10.80.0.20"},
                                         {"start": "10.80.0.15", "end": "10.80.0.30"}]}),
        ),
    );
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            500,
            "Virtual-Network(default-domain:p:pools) has invalid subnet(10.80.0.0/24:overlapping \
             alloc-pools)"
        )
    );
    let r = post(
        "ns",
        with(json!({"dns_nameservers": ["8.8.8.8", "resolver"]})),
    );
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            500,
            "subnet(default-domain:p:ns:10.80.0.0/24) has Invalid DNS Nameserver(resolver)"
        )
    );
    // the extremes of the address space do not upset the arithmetic
    let top = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    let r = post(
        "top",
        json!([{"subnet": {"ip_prefix": top, "ip_prefix_len": 128}, "default_gateway": "::1"}]),
    );
    assert_eq!(r.status, 409, "{}", r.text);
    let r = post("top", json!([subnet(top, 128)]));
    assert_eq!(r.status, 500, "{}", r.text);
    let r = post("all", json!([subnet("::", 0)]));
    assert_eq!(r.status, 200, "{}", r.text);
    let all = uuid_of(&r, "virtual-network");
    assert_eq!(
        address(&c, &iip(&c, "all", &all, json!({}))),
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffc"
    );
    // a network without parent_type fails in the subnet quota check (KeyError)
    let r = c.post(
        "/virtual-networks",
        json!({"virtual-network": {"fq_name": [D, "p", "orphan"]}}),
    );
    assert_eq!(
        (r.status, r.text.as_str()),
        (500, "KeyError: 'parent_uuid'")
    );
    // nothing of the refused ones stayed
    assert_eq!(sim.count("virtual-network"), before + 2);

    // an allocation pool: allocation inside it, a request anywhere in the subnet
    let vn = post(
        "pooled",
        with(json!({"allocation_pools": [{"start": "10.80.0.10", "end": "10.80.0.11"}]})),
    );
    let vn = uuid_of(&vn, "virtual-network");
    assert_eq!(address(&c, &iip(&c, "p1", &vn, json!({}))), "10.80.0.11");
    let r = iip(&c, "p2", &vn, json!({"instance_ip_address": "10.80.0.100"}));
    assert_eq!(address(&c, &r), "10.80.0.100");
    // the gateway lies outside the pool, so it is not reserved: a VM port may not take it,
    // but nothing else holds it either
    let r = iip(&c, "p3", &vn, json!({"instance_ip_address": "10.80.0.254"}));
    assert_eq!(address(&c, &r), "10.80.0.254");
}

#[test]
fn subnet_updates_move_dns_and_refuse_deleting_used_blocks() {
    let sim = start();
    let c = Client::new(&sim);
    ok(sim.add_project(&[D, "p"]));
    let ipam = json!([D, "default-project", "default-network-ipam"]);
    let first = json!({"subnet": {"ip_prefix": "10.90.0.0", "ip_prefix_len": 24},
                       "dns_server_address": "10.90.0.2"});
    let vn = network(&c, "p", "vn", json!([first]));
    let put = |subnets: Value| {
        c.put(
            &format!("/virtual-network/{vn}"),
            json!({"virtual-network": {"network_ipam_refs": [{"to": ipam, "attr": {"ipam_subnets": subnets}}]}}),
        )
    };
    // an update without the DNS address puts back the default one (_create_subnet_objs)
    let r = put(json!([subnet("10.90.0.0", 24)]));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(subnets_of(&c, &vn)[0]["dns_server_address"], "10.90.0.253");
    let r = iip(&c, "a", &vn, json!({"instance_ip_address": "10.90.0.2"}));
    assert_eq!(address(&c, &r), "10.90.0.2");
    let r = iip(&c, "b", &vn, json!({"instance_ip_address": "10.90.0.253"}));
    assert_eq!(r.status, 409, "{}", r.text);
    // a DNS address already handed out: 500
    let r = put(
        json!([{"subnet": {"ip_prefix": "10.90.0.0", "ip_prefix_len": 24},
                        "dns_server_address": "10.90.0.2"}]),
    );
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            500,
            "Virtual-Network(default-domain:p:vn) has invalid subnet(10.90.0.0/24)"
        )
    );

    // a floating IP keeps its subnet too
    let pool_vn = ok(sim.add_network(&[D, "p", "public"], &["10.91.0.0/24", "10.92.0.0/24"]));
    ok(sim.add_fip_pool(&[D, "p", "public"], "pool"));
    let f = c.create(
        "floating-ip",
        json!({"fq_name": [D, "p", "public", "pool", "f"], "parent_type": "floating-ip-pool"}),
    );
    assert_eq!(
        c.read("floating-ip", &f)["floating_ip_address"],
        "10.91.0.252"
    );
    let r = c.put(
        &format!("/virtual-network/{pool_vn}"),
        json!({"virtual-network": {"network_ipam_refs": [{"to": [D, "p", "default-network-ipam"],
               "attr": {"ipam_subnets": [subnet("10.92.0.0", 24)]}}]}}),
    );
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            409,
            "Cannot Delete IP Block, Floating IP(10.91.0.252) is in use"
        )
    );
}

#[test]
fn floating_ips_are_ipv4_only_and_pool_subnets_behave_as_upstream() {
    let sim = start();
    let c = Client::new(&sim);
    ok(sim.add_project(&[D, "p"]));
    ok(sim.add_network(&[D, "p", "v6"], &["fd00:75::/64"]));
    ok(sim.add_fip_pool(&[D, "p", "v6"], "pool"));
    let r = c.post(
        "/floating-ips",
        json!({"floating-ip": {"fq_name": [D, "p", "v6", "pool", "f"], "parent_type": "floating-ip-pool"}}),
    );
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            500,
            "Virtual-Network(['default-domain', 'p', 'v6']) has exhausted subnet([])"
        )
    );
    let dual = ok(sim.add_network(&[D, "p", "dual"], &["10.76.0.0/24", "fd00:76::/64"]));
    ok(sim.add_fip_pool(&[D, "p", "dual"], "pool"));
    let r = c.post(
        "/floating-ips",
        json!({"floating-ip": {"fq_name": [D, "p", "dual", "pool", "f"], "parent_type": "floating-ip-pool",
               "floating_ip_address": "fd00:76::5"}}),
    );
    assert_eq!(r.status, 500, "{}", r.text);
    assert!(r.text.ends_with("has exhausted subnet([])"), "{}", r.text);

    // floating_ip_pool_subnets: every listed subnet is allocated from, the last address kept
    let subs = subnets_of(&c, &dual);
    let uuids: Vec<String> = (0..2)
        .map(|i| {
            subs[i]["subnet_uuid"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let net4 = ok(sim.add_network(&[D, "p", "two"], &["10.77.0.0/24", "10.78.0.0/24"]));
    let subs = subnets_of(&c, &net4);
    let two: Vec<String> = (0..2)
        .map(|i| {
            subs[i]["subnet_uuid"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let pool = c.create(
        "floating-ip-pool",
        json!({"fq_name": [D, "p", "two", "sel"], "parent_type": "virtual-network",
               "floating_ip_pool_subnets": {"subnet_uuid": two}}),
    );
    let f = c.create(
        "floating-ip",
        json!({"fq_name": [D, "p", "two", "sel", "f"], "parent_type": "floating-ip-pool"}),
    );
    assert_eq!(
        c.read("floating-ip", &f)["floating_ip_address"],
        "10.78.0.252"
    );
    // the first subnet's address was taken too, and stays taken
    let r = iip(
        &c,
        "probe",
        &net4,
        json!({"instance_ip_address": "10.77.0.252"}),
    );
    assert_eq!(r.status, 409, "{}", r.text);
    // a listed subnet that fails: floating_ip.py's broken except clause
    let bad = c.create(
        "floating-ip-pool",
        json!({"fq_name": [D, "p", "dual", "sel"], "parent_type": "virtual-network",
               "floating_ip_pool_subnets": {"subnet_uuid": [uuids[1]]}}),
    );
    let _ = pool;
    let _ = bad;
    let r = c.post(
        "/floating-ips",
        json!({"floating-ip": {"fq_name": [D, "p", "dual", "sel", "f"], "parent_type": "floating-ip-pool"}}),
    );
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            500,
            "'AddrMgmt' object has no attribute 'AddrMgmtSubnetExhausted'"
        )
    );
}

#[test]
fn already_exists_may_name_an_object_of_another_uuid() {
    let sim = start();
    let c = Client::new(&sim);
    let mine = "0a1b2c3d-4e5f-4a6b-8c7d-0123456789ab";
    let theirs = c.create(
        "virtual-machine",
        json!({"fq_name": ["task-1"], "uuid": "5e3d2a5c-9d6b-4b8e-9c1a-2f3e4d5c6b7a"}),
    );
    let r = c.post(
        "/virtual-machines",
        json!({"virtual-machine": {"fq_name": ["task-1"], "uuid": mine}}),
    );
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            409,
            format!("['task-1'] already exists with uuid: {theirs}").as_str()
        )
    );
    let r = c.post(
        "/fqname-to-id",
        json!({"type": "virtual-machine", "fq_name": ["task-1"]}),
    );
    assert_eq!(r.json()["uuid"], theirs.as_str());
    assert_eq!(c.get(&format!("/virtual-machine/{mine}")).status, 404);
}

#[test]
fn interface_bindings_and_macs_as_the_server_leaves_them() {
    let sim = start();
    let c = Client::new(&sim);
    let vn = ok(sim.add_network(&[D, "p", "vn"], &["10.95.0.0/24"]));
    let vmi = |name: &str, extra: Value| {
        let mut o = json!({"fq_name": [D, "p", name], "parent_type": "project",
                           "virtual_network_refs": [{"uuid": vn}]});
        if let (Some(m), Value::Object(e)) = (o.as_object_mut(), extra) {
            m.extend(e);
        }
        let u = c.create("virtual-machine-interface", o);
        c.read("virtual-machine-interface", &u)
    };
    let kv = |v: &Value| -> Vec<(String, Value)> {
        v["virtual_machine_interface_bindings"]["key_value_pair"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                (
                    p["key"].as_str().unwrap_or_default().to_string(),
                    p["value"].clone(),
                )
            })
            .collect()
    };
    let bindings = |host: &str| {
        json!({"virtual_machine_interface_bindings":
                                       {"key_value_pair": [{"key": "host_id", "value": host}]}})
    };
    // no virtual-router at all: an ordinary port, without vif_type
    let got = vmi("a", bindings("node-1"));
    assert_eq!(
        kv(&got),
        [
            ("host_id".into(), json!("node-1")),
            ("vnic_type".into(), json!("normal"))
        ]
    );
    // the host's router exists: the same
    ok(sim.add_virtual_router("node-1", "192.0.2.1"));
    let got = vmi("b", bindings("node-1.example.com"));
    assert_eq!(kv(&got).len(), 2, "{got}");
    // a host no router has, while routers exist: upstream takes it for DPDK
    let got = vmi("c", bindings("elsewhere"));
    let pairs = kv(&got);
    assert!(
        pairs.contains(&("vif_type".into(), json!("vhostuser"))),
        "{pairs:?}"
    );
    assert!(
        pairs.iter().any(|(k, v)| k == "vif_details"
            && v.as_str()
                .is_some_and(|s| s.contains("\"vhostuser_mode\": \"server\""))),
        "{pairs:?}"
    );
    // every MAC given is kept
    let got = vmi(
        "d",
        json!({"virtual_machine_interface_mac_addresses": {"mac_address": ["02-00-00-00-00-01", "02:00:00:00:00:02"]}}),
    );
    assert_eq!(
        got["virtual_machine_interface_mac_addresses"]["mac_address"],
        json!(["02:00:00:00:00:01", "02:00:00:00:00:02"])
    );
}

#[test]
fn floating_ip_pool_subnets_must_be_the_networks() {
    let sim = start();
    let c = Client::new(&sim);
    let vn = ok(sim.add_network(&[D, "p", "pub"], &["10.96.0.0/24"]));
    let r = c.post(
        "/floating-ip-pools",
        json!({"floating-ip-pool": {"fq_name": [D, "p", "pub", "sel"], "parent_type": "virtual-network",
               "floating_ip_pool_subnets": {"subnet_uuid": ["5e3d2a5c-9d6b-4b8e-9c1a-2f3e4d5c6b7a"]}}}),
    );
    assert_eq!(
        (r.status, r.text),
        (
            400,
            format!(
                "Subnet 5e3d2a5c-9d6b-4b8e-9c1a-2f3e4d5c6b7a was not found in virtual-network {vn}"
            )
        )
    );
}

fn ip_fabric_rule(np: &str) -> Value {
    json!({"direction": "<>", "protocol": "any", "ethertype": "IPv4",
           "action_list": {"simple_action": "pass"},
           "src_addresses": [{"network_policy": np}],
           "src_ports": [{"start_port": -1, "end_port": -1}],
           "dst_addresses": [{"virtual_network": "default-domain:default-project:ip-fabric"}],
           "dst_ports": [{"start_port": -1, "end_port": -1}]})
}

#[test]
fn network_policy_rules_are_checked_as_network_policy_py_does() {
    let sim = start();
    let c = Client::new(&sim);
    ok(sim.add_project(&[D, "p"]));
    let rule = ip_fabric_rule("default-domain:p:np");
    let body = |rules: Value| {
        json!({"network-policy": {"fq_name": [D, "p", "np"], "parent_type": "project",
               "network_policy_entries": {"policy_rule": rules}}})
    };
    // Two equal rules: 409, nothing made.
    let r = c.post("/network-policys", body(json!([rule, rule])));
    assert_eq!(
        (r.status, r.text.as_str()),
        (409, "Rule already exists : None")
    );
    assert_eq!(sim.count("network-policy"), 0);
    // Unknown keys in PolicyRuleType are the schema's 400; so is a bad direction.
    let mut odd = rule.clone();
    odd["ether_type"] = json!("IPv4");
    let r = c.post("/network-policys", body(json!([odd])));
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("PolicyRuleType"), "{}", r.text);
    let mut odd = rule.clone();
    odd["direction"] = json!("<");
    assert_eq!(c.post("/network-policys", body(json!([odd]))).status, 400);
    // A rule naming a security group, or without an action.
    let mut sg = rule.clone();
    sg["dst_addresses"] = json!([{"security_group": "local"}]);
    let r = c.post("/network-policys", body(json!([sg])));
    assert_eq!(r.status, 400);
    assert!(r.text.contains("security group"), "{}", r.text);
    let mut bare = rule.clone();
    bare["action_list"] = Value::Null;
    let r = c.post("/network-policys", body(json!([bare])));
    assert_eq!((r.status, r.text.as_str()), (400, "Action is required"));

    // A good one: each rule gets a uuid.
    let uuid = uuid_of(
        &c.post("/network-policys", body(json!([rule]))),
        "network-policy",
    );
    let got = c.read("network-policy", &uuid);
    let stored = got["network_policy_entries"]["policy_rule"][0].clone();
    let rule_uuid = stored["rule_uuid"].as_str().unwrap_or_default().to_string();
    assert!(!rule_uuid.is_empty(), "{stored}");
    // An update that repeats the stored rule with its uuid is a duplicate too, named by it.
    let r = c.put(
        &format!("/network-policy/{uuid}"),
        json!({"network-policy": {"network_policy_entries": {"policy_rule": [stored, rule]}}}),
    );
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.text, format!("Rule already exists : {rule_uuid}"));
    // An update without entries is not checked; one with a new rule is, and keeps the uuid.
    let r = c.put(
        &format!("/network-policy/{uuid}"),
        json!({"network-policy": {"display_name": "x"}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let mut other = rule.clone();
    other["protocol"] = json!("tcp");
    let r = c.put(
        &format!("/network-policy/{uuid}"),
        json!({"network-policy": {"network_policy_entries": {"policy_rule": [stored, other]}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let rules = c.read("network-policy", &uuid)["network_policy_entries"]["policy_rule"].clone();
    assert_eq!(rules[0]["rule_uuid"], rule_uuid.as_str());
    assert!(rules[1]["rule_uuid"].is_string());
    let mut bad = rule.clone();
    bad["protocol"] = json!("300");
    let r = c.put(
        &format!("/network-policy/{uuid}"),
        json!({"network-policy": {"network_policy_entries": {"policy_rule": [bad]}}}),
    );
    assert_eq!(
        (r.status, r.text.as_str()),
        (400, "Rule with invalid protocol : 300")
    );
}

#[test]
fn relaxed_references_as_vnc_cassandra_keeps_them() {
    let sim = start();
    let c = Client::new(&sim);
    let vn = ok(sim.add_network(&[D, "p", "vn"], &["10.7.0.0/24"]));
    let np = c.create(
        "network-policy",
        json!({"fq_name": [D, "p", "np"], "parent_type": "project"}),
    );
    let attach = |op: &str| {
        c.post(
            "/ref-update",
            json!({"type": "virtual-network", "uuid": vn, "ref-type": "network-policy",
                   "ref-uuid": np, "operation": op,
                   "attr": {"sequence": {"major": 0, "minor": 0}, "timer": null}}),
        )
    };
    // Relaxed before the reference exists: the mark is on the policy's row.
    let r = c.post("/ref-relax-for-delete", json!({"uuid": vn, "ref-uuid": np}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(attach("ADD").status, 200);
    // Dropped and added again: still relaxed.
    assert_eq!(attach("DELETE").status, 200);
    assert_eq!(attach("ADD").status, 200);
    let got = c.read("virtual-network", &vn);
    assert_eq!(got["network_policy_refs"][0]["uuid"], np.as_str());
    // Deleting the policy takes the relaxed reference with it.
    let r = c.delete(&format!("/network-policy/{np}"));
    assert_eq!(r.status, 200, "{}", r.text);
    let got = c.read("virtual-network", &vn);
    assert!(got.get("network_policy_refs").is_none(), "{got}");
    // An unknown referrer is 404.
    let r = c.post(
        "/ref-relax-for-delete",
        json!({"uuid": "0b7d0c6e-1c65-4d0c-9c1f-000000000000", "ref-uuid": vn}),
    );
    assert_eq!(r.status, 404, "{}", r.text);
    // Not relaxed: the reference blocks the delete.
    let np2 = c.create(
        "network-policy",
        json!({"fq_name": [D, "p", "np2"], "parent_type": "project"}),
    );
    let r = c.post(
        "/ref-update",
        json!({"type": "virtual-network", "uuid": vn, "ref-type": "network-policy",
               "ref-uuid": np2, "operation": "ADD", "attr": {"sequence": {"major": 1, "minor": 0}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(c.delete(&format!("/network-policy/{np2}")).status, 409);
}

#[test]
fn provider_network_refs_as_virtual_network_py_checks_them() {
    let sim = start();
    let c = Client::new(&sim);
    ok(sim.add_project(&[D, "p"]));
    let fabric = [D, "default-project", "ip-fabric"];
    let flat = c.create(
        "network-ipam",
        json!({"fq_name": [D, "p", "flat"], "parent_type": "project",
               "ipam_subnet_method": "flat-subnet",
               "ipam_subnets": {"subnets": [subnet("10.64.0.0", 12)]}}),
    );
    let vn_body = |name: &str, extra: Value| {
        let mut b = json!({"fq_name": [D, "p", name], "parent_type": "project",
            "address_allocation_mode": "flat-subnet-only",
            "network_ipam_refs": [{"to": [D, "p", "flat"], "uuid": flat, "attr": {"ipam_subnets": []}}],
            "virtual_network_properties": {"forwarding_mode": "l3"}});
        if let (Some(m), Some(e)) = (b.as_object_mut(), extra.as_object()) {
            m.extend(e.clone());
        }
        json!({ "virtual-network": b })
    };
    // Forwarding over the fabric: one reference, to ip-fabric.
    let r = c.post(
        "/virtual-networks",
        vn_body(
            "fwd",
            json!({"virtual_network_refs": [{"to": fabric, "attr": null}]}),
        ),
    );
    let fwd = uuid_of(&r, "virtual-network");
    let got = c.read("virtual-network", &fwd);
    assert_eq!(got["virtual_network_refs"][0]["to"], json!(fabric));
    // A reference to a network that is no provider network.
    let plain = ok(sim.add_network(&[D, "p", "plain"], &["10.9.0.0/24"]));
    let r = c.post(
        "/virtual-networks",
        vn_body(
            "bad",
            json!({"virtual_network_refs": [{"uuid": plain, "attr": null}]}),
        ),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.text
            .contains("can connect only to one provider VN but not"),
        "{}",
        r.text
    );
    // Two references.
    let r = c.post(
        "/virtual-networks",
        vn_body(
            "two",
            json!({"virtual_network_refs": [{"to": fabric, "attr": null}, {"uuid": plain, "attr": null}]}),
        ),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.text.contains("can connect to one provider VN"),
        "{}",
        r.text
    );
    // Nobody makes a provider network but the server.
    let r = c.post(
        "/virtual-networks",
        vn_body("prov", json!({"is_provider_network": true})),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    let r = c.put(
        &format!("/virtual-network/{fwd}"),
        json!({"virtual-network": {"is_provider_network": true}}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("is not allowed"), "{}", r.text);
    // ref-update takes the same checks.
    let r = c.post(
        "/ref-update",
        json!({"type": "virtual-network", "uuid": fwd, "ref-type": "virtual-network",
               "ref-uuid": plain, "operation": "ADD", "attr": null}),
    );
    assert_eq!(r.status, 400, "{}", r.text);
    // ip-fabric takes policies by ref-update like any network.
    let np = c.create(
        "network-policy",
        json!({"fq_name": [D, "p", "np"], "parent_type": "project"}),
    );
    let ip_fabric = sim
        .find("virtual-network", &fabric)
        .and_then(|v| v["uuid"].as_str().map(str::to_string))
        .unwrap_or_default();
    let r = c.post(
        "/ref-update",
        json!({"type": "virtual-network", "uuid": ip_fabric, "ref-type": "network-policy",
               "ref-uuid": np, "operation": "ADD", "attr": {"sequence": {"major": 0, "minor": 0}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn global_vrouter_config_is_checked_against_the_schema_only() {
    let sim = start();
    let c = Client::new(&sim);
    let gvc = sim
        .find(
            "global-vrouter-config",
            &[
                "default-global-system-config",
                "default-global-vrouter-config",
            ],
        )
        .and_then(|v| v["uuid"].as_str().map(str::to_string))
        .unwrap_or_default();
    let put = |body: Value| {
        c.put(
            &format!("/global-vrouter-config/{gvc}"),
            json!({"global-vrouter-config": body}),
        )
    };
    // Upstream's Mesos manager sends port_count (a string) and port_range; kube-manager only
    // port_range.
    let r = put(json!({"port_translation_pools": {"port_translation_pool": [
        {"protocol": "tcp", "port_count": "1024", "port_range": {"start_port": 56000, "end_port": 57023}},
        {"protocol": "udp", "port_range": {"start_port": 57024, "end_port": 58047}}]},
        "linklocal_services": {"linklocal_service_entry": [
            {"linklocal_service_name": "metadata", "linklocal_service_ip": "169.254.169.254",
             "linklocal_service_port": 80, "ip_fabric_service_ip": ["127.0.0.1"],
             "ip_fabric_service_port": 8775}]}}));
    assert_eq!(r.status, 200, "{}", r.text);
    let got = c.read("global-vrouter-config", &gvc);
    assert_eq!(
        got["port_translation_pools"]["port_translation_pool"][1]["port_range"]["end_port"],
        58047
    );
    assert_eq!(
        got["linklocal_services"]["linklocal_service_entry"][0]["linklocal_service_name"],
        "metadata"
    );
    for bad in [
        json!({"port_translation_pools": {"port_translation_pool": [{"protocol": "tcp", "port_range": {"start": 1}}]}}),
        json!({"port_translation_pools": {"port_translation_pool": [{"protocol": "tcp", "port_range": {"start_port": 70000, "end_port": 70001}}]}}),
        json!({"linklocal_services": {"linklocal_service_entry": [{"name": "x"}]}}),
        json!({"linklocal_services": {"linklocal_service_entry": [{"linklocal_service_port": "fifty-three"}]}}),
    ] {
        let r = put(bad.clone());
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
    }
}

/// `virtual_dns.py` and `virtual_dns_record.py`, answered as upstream's server answers the same
/// requests (`../shared/contrail-api-server`, checked request by request).
#[test]
fn virtual_dns_and_records_follow_upstreams_rules() {
    let sim = start();
    let c = Client::new(&sim);
    let vd = |name: &str, extra: Value| {
        let mut data = json!({"domain_name": "l4lb.thisdcos.directory", "record_order": "random",
                              "default_ttl_seconds": 60, "dynamic_records_from_client": false});
        for (k, v) in extra.as_object().into_iter().flatten() {
            data[k] = v.clone();
        }
        json!({"virtual-DNS": {"fq_name": [D, name], "parent_type": "domain", "virtual_DNS_data": data}})
    };
    let answer = |r: Reply| (r.status, r.text.trim().to_string());
    let made = c.post("/virtual-DNSs", vd("mesos-dns", json!({})));
    assert_eq!(made.status, 200, "{}", made.text);
    let server = made.json()["virtual-DNS"]["uuid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let special = (
        403,
        "Special characters are not allowed in Virtual DNS server name".to_string(),
    );
    assert_eq!(
        answer(c.post("/virtual-DNSs", vd("a.b", json!({})))),
        special
    );
    assert_eq!(
        answer(c.post("/virtual-DNSs", vd("a_b", json!({})))),
        special
    );
    assert_eq!(
        answer(c.post(
            "/virtual-DNSs",
            vd("x1", json!({"domain_name": "bad_name"}))
        )),
        (
            403,
            "Domain name does not adhere to DNS name requirements".into()
        )
    );
    let r = c.post("/virtual-DNSs", vd("x2", json!({"record_order": "Random"})));
    assert_eq!(r.status, 400);
    assert!(
        r.text
            .contains("record_order: value must be one of ['fixed', 'random', 'round-robin']"),
        "{}",
        r.text
    );
    assert_eq!(
        answer(c.post(
            "/virtual-DNSs",
            vd("x3", json!({"default_ttl_seconds": -1}))
        )),
        (400, "Invalid value for TTL".into())
    );
    assert_eq!(
        c.post(
            "/virtual-DNSs",
            vd("x4", json!({"next_virtual_DNS": "10.0.0.53"}))
        )
        .status,
        200
    );
    assert_eq!(
        answer(c.post(
            "/virtual-DNSs",
            vd("x5", json!({"next_virtual_DNS": "nonsense"}))
        )),
        (
            400,
            "Invalid Virtual Forwarder(next virtual dns server)".into()
        )
    );
    let r = c.post(
        "/virtual-DNSs",
        json!({"virtual-DNS": {"fq_name": [D, "x8"], "parent_type": "domain",
               "virtual_DNS_data": {"domain_name": "a.b", "record_order": "random"}}}),
    );
    assert_eq!(answer(r), (500, "KeyError: 'default_ttl_seconds'".into()));
    // Updates are checked on the request's own dict.
    assert_eq!(
        answer(c.put(
            &format!("/virtual-DNS/{server}"),
            json!({"virtual-DNS": {"annotations": {"key_value_pair": [{"key": "a", "value": "b"}]}}})
        )),
        (500, "KeyError: 'virtual_DNS_data'".into())
    );
    // Forwarding loops and servers others forward to.
    assert_eq!(c.post("/virtual-DNSs", vd("ynext", json!({}))).status, 200);
    assert_eq!(
        c.post(
            "/virtual-DNSs",
            vd("z", json!({"next_virtual_DNS": "default-domain:ynext"}))
        )
        .status,
        200
    );
    let y = sim
        .find("virtual-DNS", &[D, "ynext"])
        .and_then(|o| o["uuid"].as_str().map(str::to_string))
        .unwrap_or_default();
    let loop_data = json!({"domain_name": "a.b", "record_order": "fixed", "default_ttl_seconds": 30,
                           "next_virtual_DNS": "default-domain:z"});
    assert_eq!(
        answer(c.put(
            &format!("/virtual-DNS/{y}"),
            json!({"virtual-DNS": {"virtual_DNS_data": loop_data}})
        )),
        (500, "KeyError: 'fq_name'".into())
    );
    assert_eq!(
        answer(c.put(
            &format!("/virtual-DNS/{y}"),
            json!({"virtual-DNS": {"fq_name": [D, "ynext"], "virtual_DNS_data": loop_data}})
        )),
        (
            403,
            "Cannot have Virtual DNS Servers referring to each other".into()
        )
    );
    assert_eq!(
        answer(c.delete(&format!("/virtual-DNS/{y}"))),
        (
            403,
            "Virtual DNS server is referred by other virtual DNS servers".into()
        )
    );

    // Records.
    let rec = |n: &str, extra: Value| {
        let mut data = json!({"record_name": "web.marathon", "record_type": "A", "record_class": "IN",
                              "record_data": "10.96.0.5", "record_ttl_seconds": 60});
        for (k, v) in extra.as_object().into_iter().flatten() {
            data[k] = v.clone();
        }
        json!({"virtual-DNS-record": {"fq_name": [D, "mesos-dns", n], "parent_type": "virtual-DNS",
               "virtual_DNS_record_data": data}})
    };
    assert_eq!(
        c.post("/virtual-DNS-records", rec("r1", json!({}))).status,
        200
    );
    // record names are not unique
    assert_eq!(
        c.post("/virtual-DNS-records", rec("r7", json!({}))).status,
        200
    );
    let r = c.post(
        "/virtual-DNS-records",
        rec("r2", json!({"record_type": "SRV"})),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.text.contains(
            "record_type: value must be one of ['A', 'AAAA', 'CNAME', 'PTR', 'NS', 'MX']"
        ),
        "{}",
        r.text
    );
    for (extra, want) in [
        (
            json!({"record_name": "web_x.marathon"}),
            "Record name does not adhere to DNS name requirements",
        ),
        (json!({"record_data": "10.96.0"}), "Invalid IP address"),
        (json!({"record_ttl_seconds": -5}), "Invalid value for TTL"),
        (json!({"record_type": "AAAA"}), "Invalid IPv6 address"),
        (
            json!({"record_type": "CNAME", "record_data": "a_b"}),
            "Record data does not adhere to DNS name requirements",
        ),
    ] {
        assert_eq!(
            answer(c.post("/virtual-DNS-records", rec("rx", extra))),
            (403, want.into())
        );
    }
    let r1 = sim
        .find("virtual-DNS-record", &[D, "mesos-dns", "r1"])
        .and_then(|o| o["uuid"].as_str().map(str::to_string))
        .unwrap_or_default();
    assert_eq!(
        answer(c.put(
            &format!("/virtual-DNS-record/{r1}"),
            json!({"virtual-DNS-record": {"display_name": "zz"}})
        )),
        (500, "KeyError: 'virtual_DNS_record_data'".into())
    );
    let moved = json!({"virtual-DNS-record": {"virtual_DNS_record_data": {"record_name": "web.marathon",
        "record_type": "A", "record_class": "IN", "record_data": "10.96.0.9", "record_ttl_seconds": 60}}});
    assert_eq!(
        c.put(&format!("/virtual-DNS-record/{r1}"), moved).status,
        200
    );

    // A server with records, or one an IPAM refers to, stays.
    let r = c.delete(&format!("/virtual-DNS/{server}"));
    assert_eq!(r.status, 409);
    assert!(
        r.text.starts_with("Delete when children still present: ["),
        "{}",
        r.text
    );
    c.create(
        "network-ipam",
        json!({"fq_name": [D, "default-project", "ipam-v"], "parent_type": "project",
               "network_ipam_mgmt": {"ipam_dns_method": "virtual-dns-server",
                                     "ipam_dns_server": {"virtual_dns_server_name": "default-domain:z"}},
               "virtual_DNS_refs": [{"to": [D, "z"]}]}),
    );
    let z = sim
        .find("virtual-DNS", &[D, "z"])
        .and_then(|o| o["uuid"].as_str().map(str::to_string))
        .unwrap_or_default();
    let r = c.delete(&format!("/virtual-DNS/{z}"));
    assert_eq!(r.status, 409);
    assert!(
        r.text.starts_with("Delete when resource still referred: ["),
        "{}",
        r.text
    );
}
