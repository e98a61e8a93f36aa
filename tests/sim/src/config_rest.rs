//! What tests and the demo need of a Contrail config API, over its REST API only, so that it
//! works the same against upstream's real server ([`crate::real_api`]) and the config API
//! emulator: read, find, list and count objects, create and delete them, and seed what an
//! operator has (projects, networks, floating-IP pools, security groups, virtual-routers) with
//! the emulator's seed semantics (idempotent: what exists is kept and returned).

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use contrail_mesos::http::server::percent_encode;

/// A blocking client of one config API.
#[derive(Clone)]
pub struct ConfigRest {
    base: String,
    http: ureq::Agent,
}

impl std::fmt::Debug for ConfigRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigRest")
            .field("base", &self.base)
            .finish()
    }
}

/// An answer that is not a 200: status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub status: u16,
    pub body: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
}

impl std::error::Error for Refused {}

impl ConfigRest {
    pub fn new(base: &str) -> Self {
        let http: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        ConfigRest {
            base: base.trim_end_matches('/').to_string(),
            http,
        }
    }

    pub fn url(&self) -> &str {
        &self.base
    }

    /// One call: (status, body as JSON or, when it is not JSON, as a string).
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value)> {
        let url = format!("{}{path}", self.base);
        let what = || format!("{method} {url}");
        let result = match (method, body) {
            ("GET", _) => self.http.get(&url).call(),
            ("DELETE", _) => self.http.delete(&url).call(),
            ("POST", Some(b)) => self.http.post(&url).send_json(b),
            ("PUT", Some(b)) => self.http.put(&url).send_json(b),
            _ => bail!("{}: unsupported call", what()),
        };
        let mut resp = result.with_context(what)?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().with_context(what)?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }

    /// A call that must answer 200.
    fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let (status, v) = self.call(method, path, body)?;
        if status != 200 {
            let body = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            return Err(anyhow!(Refused { status, body })).context(format!("{method} {path}"));
        }
        Ok(v)
    }

    /// `POST /<type>s`: the new object's uuid. `body` is the object (without the type key).
    pub fn create(&self, ty: &str, body: Value) -> Result<String> {
        let v = self.ok("POST", &format!("/{ty}s"), Some(&json!({ ty: body })))?;
        uuid_in(&v[ty]).with_context(|| format!("POST /{ty}s: no uuid in {v}"))
    }

    /// `GET /<type>/<uuid>`: the object, `None` when the server does not know it.
    pub fn get(&self, ty: &str, uuid: &str) -> Option<Value> {
        self.try_get(ty, uuid).ok().flatten()
    }

    /// `GET /<type>/<uuid>`: `Ok(None)` on 404, an error on anything else but 200.
    pub fn try_get(&self, ty: &str, uuid: &str) -> Result<Option<Value>> {
        let path = format!("/{ty}/{}", percent_encode(uuid));
        match self.call("GET", &path, None)? {
            (200, mut v) => Ok(v.get_mut(ty).map(Value::take)),
            (404, _) => Ok(None),
            (s, v) => bail!("GET {path}: {s} {v}"),
        }
    }

    /// `POST /fqname-to-id`: the uuid, `None` when there is no such object.
    pub fn uuid_of(&self, ty: &str, fq: &[&str]) -> Option<String> {
        match self.call(
            "POST",
            "/fqname-to-id",
            Some(&json!({"type": ty, "fq_name": fq})),
        ) {
            Ok((200, v)) => uuid_in(&v),
            _ => None,
        }
    }

    /// The object named `fq`, as `GET /<type>/<uuid>` returns it.
    pub fn find(&self, ty: &str, fq: &[&str]) -> Option<Value> {
        self.get(ty, &self.uuid_of(ty, fq)?)
    }

    /// `GET /<type>s`: (uuid, fq_name) of every object of a type.
    pub fn list_names(&self, ty: &str) -> Result<Vec<(String, Vec<String>)>> {
        let v = self.ok("GET", &format!("/{ty}s"), None)?;
        let items = v[format!("{ty}s")]
            .as_array()
            .cloned()
            .ok_or_else(|| anyhow!("GET /{ty}s: no \"{ty}s\" list in {v}"))?;
        Ok(items
            .iter()
            .filter_map(|i| {
                let fq = i["fq_name"]
                    .as_array()?
                    .iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect();
                Some((uuid_in(i)?, fq))
            })
            .collect())
    }

    /// Every object of a type whose fq-name `keep` accepts, each as `GET` returns it, in
    /// fq-name order.
    pub fn list_where(&self, ty: &str, keep: impl Fn(&[String]) -> bool) -> Vec<Value> {
        let mut names = self.list_names(ty).unwrap_or_default();
        names.retain(|(_, fq)| keep(fq));
        names.sort_by(|a, b| a.1.cmp(&b.1));
        names.iter().filter_map(|(u, _)| self.get(ty, u)).collect()
    }

    /// `DELETE /<type>/<uuid>`: the status.
    pub fn delete(&self, ty: &str, uuid: &str) -> Result<u16> {
        Ok(self
            .call("DELETE", &format!("/{ty}/{}", percent_encode(uuid)), None)?
            .0)
    }

    /// `PUT /<type>/<uuid>` with these fields.
    pub fn update(&self, ty: &str, uuid: &str, fields: Value) -> Result<()> {
        self.ok(
            "PUT",
            &format!("/{ty}/{}", percent_encode(uuid)),
            Some(&json!({ ty: fields })),
        )
        .map(drop)
    }

    /// `POST /ref-update` (`operation` ADD or DELETE) from `ty` `uuid` to `ref_ty` `ref_uuid`.
    pub fn ref_update(
        &self,
        ty: &str,
        uuid: &str,
        ref_ty: &str,
        ref_uuid: &str,
        operation: &str,
        attr: Option<Value>,
    ) -> Result<()> {
        let mut body = json!({"type": ty, "uuid": uuid, "ref-type": ref_ty, "ref-uuid": ref_uuid,
                              "operation": operation});
        if let Some(a) = attr {
            body["attr"] = a;
        }
        self.ok("POST", "/ref-update", Some(&body)).map(drop)
    }

    /// The uuid of `ty` `fq`, created from `body` (with fq_name and parent_type) when missing;
    /// a 409 from a racing creator is read back.
    pub fn ensure(
        &self,
        ty: &str,
        fq: &[&str],
        parent_type: Option<&str>,
        mut body: Value,
    ) -> Result<String> {
        if let Some(u) = self.uuid_of(ty, fq) {
            return Ok(u);
        }
        body["fq_name"] = json!(fq);
        if let Some(p) = parent_type {
            body["parent_type"] = json!(p);
        }
        match self.create(ty, body) {
            Ok(u) => Ok(u),
            Err(e) => match e.downcast_ref::<Refused>() {
                Some(r) if r.status == 409 => self
                    .uuid_of(ty, fq)
                    .ok_or_else(|| e.context(format!("{ty} {} after 409", fq.join(":")))),
                _ => Err(e),
            },
        }
    }

    /// A project `[domain, project]` (the domain is created when missing).
    pub fn add_project(&self, fq: &[&str]) -> Result<String> {
        if fq.len() != 2 {
            bail!("a project needs an fq_name of 2 elements, got {fq:?}");
        }
        self.ensure("domain", &fq[..1], None, json!({}))?;
        self.ensure("project", fq, Some("domain"), json!({}))
    }

    /// A network `[domain, project, name]` with user-defined subnets (`10.0.0.0/24`,
    /// `fd00::/64`) on the project's `default-network-ipam` (both made when missing).
    pub fn add_network(&self, fq: &[&str], subnets: &[&str]) -> Result<String> {
        if fq.len() != 3 {
            bail!("a virtual-network needs an fq_name of 3 elements, got {fq:?}");
        }
        self.add_project(&fq[..2])?;
        let ipam = [fq[0], fq[1], "default-network-ipam"];
        self.ensure("network-ipam", &ipam, Some("project"), json!({}))?;
        let mut ipam_subnets = Vec::new();
        for s in subnets {
            let (prefix, len) = s
                .split_once('/')
                .and_then(|(p, l)| l.parse::<u8>().ok().map(|l| (p, l)))
                .ok_or_else(|| anyhow!("invalid subnet {s:?}, want prefix/len"))?;
            ipam_subnets.push(json!({"subnet": {"ip_prefix": prefix, "ip_prefix_len": len}}));
        }
        self.ensure(
            "virtual-network",
            fq,
            Some("project"),
            json!({"network_ipam_refs": [{"to": ipam, "attr": {"ipam_subnets": ipam_subnets}}]}),
        )
    }

    /// A floating-ip pool `<network fq>:<pool>`.
    pub fn add_fip_pool(&self, network_fq: &[&str], pool: &str) -> Result<String> {
        let mut fq = network_fq.to_vec();
        fq.push(pool);
        self.ensure("floating-ip-pool", &fq, Some("virtual-network"), json!({}))
    }

    /// A security group `[domain, project, name]` (the project made when missing).
    pub fn add_security_group(&self, fq: &[&str]) -> Result<String> {
        if fq.len() != 3 {
            bail!("a security-group needs an fq_name of 3 elements, got {fq:?}");
        }
        self.add_project(&fq[..2])?;
        self.ensure("security-group", fq, Some("project"), json!({}))
    }

    /// A virtual router `[default-global-system-config, name]` at `ip`.
    pub fn add_virtual_router(&self, name: &str, ip: &str) -> Result<String> {
        self.ensure(
            "virtual-router",
            &["default-global-system-config", name],
            Some("global-system-config"),
            json!({"virtual_router_ip_address": ip}),
        )
    }
}

fn uuid_in(v: &Value) -> Option<String> {
    v["uuid"].as_str().map(str::to_string)
}
