//! HTTP routes of the manager. Every request is answered; none can stop the service.

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use super::service::Service;
use super::{add, provision, teardown};
use crate::domain::error::{CniError, Code};
use crate::domain::ids::valid_container_id;
use crate::domain::manager_api::{ADD_PATH, AddAnswer, CniInfo, DEL_PATH, ErrorAnswer, ErrorBody};
use crate::domain::netconf::NetConf;
use crate::domain::plan::{self, NodeIdentity, TaskRequest};
use crate::http::server::{Request, Response};

/// Build the request handler. `token` is the shared secret every request must carry.
pub fn handler(svc: Arc<Service>, token: Option<String>) -> Arc<crate::http::server::Handler> {
    Arc::new(move |req: Request| {
        let started = Instant::now();
        let endpoint = match req.path.as_str() {
            ADD_PATH | DEL_PATH | "/healthz" | "/metrics" | "/" => req.path.clone(),
            _ => "other".to_string(),
        };
        let resp = if !authorized(&req, token.as_deref()) {
            error(
                401,
                CniError::new(Code::InvalidEnvironment, "missing or wrong bearer token"),
            )
            .with_header("WWW-Authenticate", "Bearer")
        } else {
            route(&svc, &req)
        };
        svc.metrics
            .request(&endpoint, resp.status, started.elapsed());
        resp
    })
}

fn authorized(req: &Request, token: Option<&str>) -> bool {
    let Some(expected) = token else { return true };
    let Some(given) = req
        .header("Authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
    else {
        return false;
    };
    // Constant-time comparison: the answer's timing says nothing about the token.
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

fn route(svc: &Service, req: &Request) -> Response {
    match (req.method.as_str(), req.path.as_str()) {
        ("POST", ADD_PATH) => respond(cni_call(svc, req, true)),
        ("POST", DEL_PATH) => respond(cni_call(svc, req, false)),
        ("GET", "/healthz") => health(svc),
        ("GET", "/metrics") => {
            Response::text(200, svc.metrics.render(svc.api.calls(), svc.api.errors()))
                .with_header("Content-Type", "text/plain; version=0.0.4")
        }
        ("GET", "/") => answer(
            200,
            &Index {
                links: &[ADD_PATH, DEL_PATH, "/healthz", "/metrics"],
                service: "contrail-mesos manager",
            },
        ),
        (_, ADD_PATH | DEL_PATH | "/healthz" | "/metrics" | "/") => error(
            405,
            CniError::new(
                Code::InvalidEnvironment,
                format!("method {} not allowed on {}", req.method, req.path),
            ),
        ),
        _ => error(
            404,
            CniError::new(
                Code::InvalidEnvironment,
                format!("no such endpoint {}", req.path),
            ),
        ),
    }
}

/// `GET /`: what the manager serves.
#[derive(serde::Serialize)]
struct Index<'a> {
    links: &'a [&'a str],
    service: &'a str,
}

/// `GET /healthz`.
#[derive(serde::Serialize)]
struct Health<'a> {
    status: &'a str,
    config_api: &'a str,
    cluster: &'a str,
    provisioning: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    provisioning_failed: Option<&'a [String]>,
    /// With `dns_domain`: the cluster's virtual-DNS.
    #[serde(skip_serializing_if = "Option::is_none")]
    virtual_dns: Option<VirtualDnsHealth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ipams_dns_not_switched: Option<Vec<super::service::IpamRefused>>,
}

#[derive(serde::Serialize)]
struct VirtualDnsHealth {
    server: String,
    domain: String,
}

fn health(svc: &Service) -> Response {
    let provisioning = svc.provisioning();
    let failed = match &provisioning {
        super::service::Provisioning::Failed(why) => Some(why.as_slice()),
        _ => None,
    };
    let virtual_dns = svc
        .settings
        .dns_domain
        .as_ref()
        .map(|domain| VirtualDnsHealth {
            server: svc.settings.virtual_dns().to_string(),
            domain: domain.clone(),
        });
    // IPAMs whose DNS method Contrail refused to change (with or without dns_domain).
    let refused = svc.dns_refused();
    answer(
        200,
        &Health {
            status: "ok",
            config_api: svc.api.endpoint(),
            cluster: &svc.settings.cluster_name,
            provisioning: provisioning.as_str(),
            provisioning_failed: failed,
            virtual_dns,
            ipams_dns_not_switched: (!refused.is_empty()).then_some(refused),
        },
    )
}

/// A JSON answer of a typed body.
fn answer(status: u16, body: &impl serde::Serialize) -> Response {
    Response::json(status, &serde_json::to_value(body).unwrap_or(Value::Null))
}

fn error(status: u16, e: CniError) -> Response {
    let body = ErrorAnswer {
        error: ErrorBody {
            code: e.code.value(),
            msg: e.msg,
        },
    };
    answer(status, &body)
}

fn respond(r: Result<AddAnswer, CniError>) -> Response {
    match r {
        Ok(a) => answer(200, &a),
        Err(e) => error(e.code.http_status(), e),
    }
}

fn decode(req: &Request) -> Result<(CniInfo, Value), CniError> {
    let body: Value = serde_json::from_slice(&req.body).map_err(|e| {
        CniError::new(
            Code::DecodingFailure,
            format!("request body is not JSON: {e}"),
        )
    })?;
    let info: CniInfo = serde_json::from_value(body.clone()).map_err(|e| {
        CniError::new(
            Code::DecodingFailure,
            format!("request body is not {{\"cid\", \"cmd\", \"args\"}}: {e}"),
        )
    })?;
    if !valid_container_id(&info.cid) {
        return Err(CniError::new(
            Code::InvalidEnvironment,
            format!("cid {:?} is not a valid container id", info.cid),
        ));
    }
    if let Err(e) = crate::domain::ifname::validate_ifname(info.ifname()) {
        return Err(CniError::new(
            Code::InvalidEnvironment,
            format!("ifname: {e:#}"),
        ));
    }
    Ok((info, body))
}

fn cni_call(svc: &Service, req: &Request, is_add: bool) -> Result<AddAnswer, CniError> {
    let (info, body) = decode(req)?;
    let cid = info.cid.clone();
    let ifname = info.ifname().to_string();
    let vm_uuid = crate::domain::ids::vm_uuid(&cid);
    let key = format!("{cid}/{ifname}");
    if !is_add {
        svc.exclusive(&key, || teardown::del_interface(svc, &cid, &ifname))?;
        log::info!("DEL {cid}/{ifname} done");
        return Ok(AddAnswer {
            cid,
            vm_uuid,
            interfaces: Some(Vec::new()),
        });
    }
    let conf_doc = info
        .config(&body)
        .map_err(|e| CniError::new(Code::DecodingFailure, e.to_string()))?;
    let conf = NetConf::from_value(conf_doc)?;
    let labels = crate::domain::labels::parse(conf.label_pairs())
        .map_err(|e| CniError::new(Code::InvalidNetworkConfig, e.to_string()))?;
    let node = info.node.clone().unwrap_or_default();
    let task = TaskRequest {
        cid: cid.clone(),
        ifname: ifname.clone(),
        labels,
        node: NodeIdentity {
            vrouter_ip: Some(conf.contrail.vrouter_ip.clone()),
            hostname: Some(node.hostname).filter(|h| !h.is_empty()),
            addresses: node.addresses,
            cluster_name: conf.contrail.cluster_name.clone(),
        },
    };
    let p = plan::plan(&task, &svc.settings)
        .map_err(|e| CniError::new(Code::InvalidNetworkConfig, e.to_string()))?;
    let added = svc.exclusive(&key, || {
        if p.network == svc.settings.pod_task_network()
            && svc
                .uuid_of("virtual-network", &p.network)
                .ok()
                .flatten()
                .is_none()
        {
            provision::provision(svc)?;
        }
        add::add(svc, &p)
    })?;
    let info = added.interface;
    log::info!(
        "ADD {cid}/{ifname}: {} {} in {}",
        info.ips
            .iter()
            .map(|i| i.ip_address.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        info.mac_address,
        info.vn_fq_name
    );
    Ok(AddAnswer {
        cid,
        vm_uuid: added.vm_uuid,
        interfaces: Some(vec![info]),
    })
}
