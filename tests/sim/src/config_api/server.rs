//! HTTP routing: `contrail_mesos::http::server` requests to the store operations, plus the Keystone endpoints
//! and the `/_sim/*` control endpoints.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::Inner;
use super::error::{ApiError, ApiResult};
use super::ops::{self, ListQuery, ReadOpts, norm_type};
use super::pyfmt::str_repr;
use super::schema::schema;
use super::svc_monitor::Op;
use contrail_mesos::http::server::{Request, Response};

/// Handle one request.
pub fn handle(inner: &Arc<Inner>, req: Request) -> Response {
    let path = req.path.trim_end_matches('/').to_string();
    let path = if path.is_empty() {
        "/".to_string()
    } else {
        path
    };
    if let Some(rest) = path.strip_prefix("/_sim/") {
        return sim_control(inner, &req, rest);
    }
    if path == "/v3/auth/tokens" || path == "/v2.0/tokens" {
        let Some(ks) = &inner.keystone else {
            return Response::text(404, "Keystone is not enabled on this emulator\n");
        };
        sleep(inner.faults.latency());
        if req.method != "POST" {
            return Response::text(405, "Method Not Allowed\n");
        }
        return if path.starts_with("/v3") {
            ks.v3(&req)
        } else {
            ks.v2(&req)
        };
    }

    inner.faults.count(&kind_of(&path), &req.method);
    sleep(inner.faults.latency());
    if let Some(status) = inner.faults.take_failure() {
        return Response::text(
            status,
            "Service unavailable (fault injected by the emulator)",
        );
    }
    if let Some(ks) = &inner.keystone
        && !ks.valid(req.header("X-Auth-Token"))
    {
        return Response::text(401, "Authentication required")
            .with_header("WWW-Authenticate", "Keystone uri='/v3'");
    }
    let base = match req.header("Host") {
        Some(h) if !h.is_empty() => format!("http://{h}"),
        _ => inner.url.clone(),
    };
    let written = written_object(&req, &path);
    if let Some(action) = inner.faults.take_hook(&req.method, &path) {
        action();
    }
    let resp = match route(inner, &req, &path, &base) {
        Ok(resp) => resp,
        Err(e) => Response::text(e.status, e.msg),
    };
    if resp.status == 200
        && inner.svc_monitor.is_some()
        && let Some((ty, uuid, op)) = written
    {
        let uuid = uuid.or_else(|| {
            serde_json::from_slice::<Value>(&resp.body)
                .ok()
                .and_then(|v| v[ty.as_str()]["uuid"].as_str().map(str::to_string))
        });
        if let Some(u) = uuid {
            inner.svc_monitor_on_write(&ty, &u, op);
        }
    }
    resp
}

/// The object a write request changes and how: (type, uuid, op), the uuid unknown for a
/// create until it is answered. `None` for reads.
fn written_object(req: &Request, path: &str) -> Option<(String, Option<String>, Op)> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (req.method.as_str(), segs.as_slice()) {
        ("POST", ["ref-update"]) => {
            let body: Value = serde_json::from_slice(&req.body).ok()?;
            Some((
                norm_type(body["type"].as_str()?),
                body["uuid"].as_str().map(str::to_string),
                Op::Update,
            ))
        }
        ("POST", [coll]) if !is_action(coll) => {
            Some((norm_type(coll.strip_suffix('s')?), None, Op::Create))
        }
        ("PUT", [ty, uuid]) => Some((norm_type(ty), Some(uuid.to_string()), Op::Update)),
        ("DELETE", [ty, uuid]) => Some((norm_type(ty), Some(uuid.to_string()), Op::Delete)),
        _ => None,
    }
}

fn sleep(d: Duration) {
    if !d.is_zero() {
        std::thread::sleep(d);
    }
}

/// The resource type (or action) a path is about, for the statistics.
pub(super) fn kind_of(path: &str) -> String {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segs.as_slice() {
        [""] => "/".into(),
        [one] if is_action(one) => (*one).into(),
        [coll] => norm_type(coll.strip_suffix('s').unwrap_or(coll)),
        [ty, ..] => norm_type(ty),
        [] => "/".into(),
    }
}

fn is_action(s: &str) -> bool {
    matches!(
        s,
        "fqname-to-id"
            | "id-to-fqname"
            | "ref-update"
            | "ref-relax-for-delete"
            | "list-bulk-collection"
    )
}

fn body_object(req: &Request) -> ApiResult<Map<String, Value>> {
    let v: Value = serde_json::from_slice(&req.body).map_err(|e| {
        ApiError::bad_request(format!("Bad Request, the body is not valid JSON: {e}"))
    })?;
    match v {
        Value::Object(m) => Ok(m),
        other => Err(ApiError::bad_request(format!(
            "Bad Request, the body must be a JSON object, got {other}"
        ))),
    }
}

/// `{"<type>": {...}}` -> the inner object.
fn wrapped(req: &Request, ty: &str) -> ApiResult<Map<String, Value>> {
    let mut outer = body_object(req)?;
    match outer.remove(ty) {
        Some(Value::Object(m)) => Ok(m),
        Some(other) => Err(ApiError::bad_request(format!(
            "Bad Request, \"{ty}\" must be an object, got {other}"
        ))),
        None => Err(ApiError::bad_request(format!(
            "Bad Request, the body must be {{\"{ty}\": {{...}}}}"
        ))),
    }
}

fn json_ok(v: &Value) -> Response {
    Response::json(200, v)
}

fn json_bytes(body: Vec<u8>) -> Response {
    Response {
        status: 200,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body,
        stream: None,
    }
}

fn split_list(s: &str, sep: char) -> Vec<String> {
    s.split(sep)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

/// The routes of the real server: its actions, and for every resource type of the schema
/// (only the dashed spelling) `/<type>s` (POST, GET) and `/<type>/<id>` (GET, PUT, DELETE),
/// as `_generate_resource_crud_uri` in `api_server.py` registers them. Anything else is
/// bottle's 404 "Not found: '<path>'"; a routed path with another method is its 405.
fn route(inner: &Arc<Inner>, req: &Request, path: &str, base: &str) -> ApiResult<Response> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = req.method.as_str();
    let sch = schema();
    let not_found = || ApiError::not_found(format!("Not found: {}", str_repr(path)));
    let not_allowed = || ApiError::new(405, "Method not allowed.");
    match (method, segs.as_slice()) {
        ("GET", [""]) => Ok(json_ok(&homepage(base))),
        ("POST", ["fqname-to-id"]) => {
            let body = body_object(req)?;
            Ok(json_ok(&ops::fqname_to_id(&inner.store(), &body)?))
        }
        ("POST", ["id-to-fqname"]) => {
            let body = body_object(req)?;
            Ok(json_ok(&ops::id_to_fqname(&inner.store(), &body)?))
        }
        ("POST", ["ref-update"]) => {
            let body = body_object(req)?;
            Ok(json_ok(&ops::ref_update(&mut inner.store(), &body)?))
        }
        ("POST", ["ref-relax-for-delete"]) => {
            let body = body_object(req)?;
            Ok(json_ok(&ops::ref_relax(&mut inner.store(), &body)?))
        }
        ("POST", ["list-bulk-collection"]) => {
            let body = body_object(req)?;
            let (ty, q) = bulk_query(&body)?;
            let store = inner.store();
            let body = ops::list(&store, &ty, &q, base)?;
            drop(store);
            Ok(json_bytes(body))
        }
        (_, [one]) if is_action(one) => Err(not_allowed()),
        (_, [coll]) => {
            let Some(ty) = coll.strip_suffix('s').filter(|t| sch.is_resource(t)) else {
                return Err(not_found());
            };
            match method {
                "POST" => {
                    let body = wrapped(req, ty)?;
                    let mut store = inner.store();
                    let uuid = ops::create(&mut store, ty, &body)?;
                    let v = ops::create_response(&store, &uuid, base);
                    drop(store);
                    Ok(json_ok(&v))
                }
                "GET" => {
                    let q = list_query(req);
                    let store = inner.store();
                    let body = ops::list(&store, ty, &q, base)?;
                    drop(store);
                    Ok(json_bytes(body))
                }
                _ => Err(not_allowed()),
            }
        }
        (_, [ty, uuid]) if sch.is_resource(ty) => match method {
            "GET" => {
                let opts = read_opts(req);
                let store = inner.store();
                let v = ops::read(&store, ty, uuid, &opts, base)?;
                drop(store);
                Ok(json_ok(&json!({ *ty: v })))
            }
            "PUT" => {
                let body = wrapped(req, ty)?;
                ops::update(&mut inner.store(), ty, uuid, &body, "http_put")?;
                Ok(json_ok(
                    &json!({ *ty: {"uuid": uuid, "href": format!("{base}/{ty}/{uuid}")} }),
                ))
            }
            "DELETE" => {
                ops::delete(&mut inner.store(), ty, uuid, base)?;
                Ok(Response::text(200, ""))
            }
            _ => Err(not_allowed()),
        },
        _ => Err(not_found()),
    }
}

fn read_opts(req: &Request) -> ReadOpts {
    let q = req.query_pairs();
    let has = |k: &str| q.iter().any(|(n, _)| n == k);
    ReadOpts {
        fields: q
            .iter()
            .find(|(n, _)| n == "fields")
            .map(|(_, v)| split_list(v, ',').into_iter().collect::<HashSet<_>>()),
        exclude_back_refs: has("exclude_back_refs"),
        exclude_children: has("exclude_children"),
        exclude_hrefs: has("exclude_hrefs"),
    }
}

fn list_query(req: &Request) -> ListQuery {
    let q = req.query_pairs();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let truthy = |k: &str| get(k).is_some_and(|v| v.to_lowercase().contains("true"));
    ListQuery {
        parent_ids: get("parent_id").map(|v| split_list(&v, ',')),
        parent_fq_name: get("parent_fq_name_str")
            .map(|v| v.split(':').map(str::to_string).collect()),
        parent_type: get("parent_type"),
        back_ref_ids: get("back_ref_id").map(|v| split_list(&v, ',')),
        obj_uuids: get("obj_uuids").map(|v| split_list(&v, ',')),
        fq_names: get("fq_names").map(|v| {
            split_list(&v, ',')
                .iter()
                .map(|f| f.split(':').map(str::to_string).collect())
                .collect()
        }),
        detail: truthy("detail"),
        count: truthy("count"),
        fields: get("fields")
            .map(|v| split_list(&v, ','))
            .unwrap_or_default(),
        filters: get("filters"),
        exclude_hrefs: get("exclude_hrefs").is_some(),
    }
}

/// `POST /list-bulk-collection`, used by clients when the ids do not fit in a query string.
fn bulk_query(body: &Map<String, Value>) -> ApiResult<(String, ListQuery)> {
    let text = |k: &str| -> ApiResult<Option<String>> {
        match body.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Array(a)) => Ok(Some(
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
            )),
            Some(other) => Err(ApiError::bad_request(format!(
                "Bad Request, {k} must be a comma separated string, got {other}"
            ))),
        }
    };
    let flag = |k: &str| body.get(k).is_some_and(|v| v.as_bool() == Some(true));
    let Some(ty) = text("type")? else {
        return Err(ApiError::not_found("Resource type 'None' not found"));
    };
    let q = ListQuery {
        parent_ids: text("parent_id")?.map(|v| split_list(&v, ',')),
        back_ref_ids: text("back_ref_id")?.map(|v| split_list(&v, ',')),
        obj_uuids: text("obj_uuids")?.map(|v| split_list(&v, ',')),
        detail: flag("detail"),
        count: flag("count"),
        fields: text("fields")?
            .map(|v| split_list(&v, ','))
            .unwrap_or_default(),
        filters: text("filters")?,
        exclude_hrefs: flag("exclude_hrefs"),
        ..Default::default()
    };
    Ok((ty, q))
}

/// `homepage_http_get`: the actions and, per resource type, its collection and base links.
fn homepage(base: &str) -> Value {
    let mut links = vec![
        json!({"link": {"rel": "root", "href": format!("{base}/config-root"), "name": "config-root"}}),
    ];
    for (uri, name) in [
        ("/fqname-to-id", "name-to-id"),
        ("/id-to-fqname", "id-to-name"),
        ("/ref-update", "ref-update"),
        ("/ref-relax-for-delete", "ref-relax-for-delete"),
        ("/list-bulk-collection", "list-bulk-collection"),
    ] {
        links.push(json!({"link": {"rel": "action", "href": format!("{base}{uri}"), "name": name, "method": "POST"}}));
    }
    for ty in schema().resource_types() {
        links.push(
            json!({"link": {"rel": "collection", "href": format!("{base}/{ty}s"), "name": ty}}),
        );
        links.push(
            json!({"link": {"rel": "resource-base", "href": format!("{base}/{ty}"), "name": ty}}),
        );
    }
    json!({"href": base, "links": links})
}

fn sim_control(inner: &Arc<Inner>, req: &Request, rest: &str) -> Response {
    let result: ApiResult<Value> = match (req.method.as_str(), rest) {
        ("GET", "stats") => Ok(inner.faults.stats()),
        ("POST", "reset-stats") => {
            inner.faults.reset();
            Ok(json!({"ok": true}))
        }
        ("POST", "expire-tokens") => {
            if let Some(ks) = &inner.keystone {
                ks.expire_all();
            }
            Ok(json!({"ok": true}))
        }
        ("POST", "fault") => body_object(req).and_then(|b| fault(inner, &b)),
        _ => Err(ApiError::not_found("Not Found")),
    };
    match result {
        Ok(v) => Response::json(200, &v),
        Err(e) => Response::text(e.status, e.msg),
    }
}

fn num(body: &Map<String, Value>, key: &str) -> ApiResult<Option<u64>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            ApiError::bad_request(format!("{key} must be a non-negative integer, got {v}"))
        }),
    }
}

/// `POST /_sim/fault`: `{"fail_next": N, "status": S}`, `{"latency_ms": L}`, `{"down_ms": D}`.
fn fault(inner: &Arc<Inner>, body: &Map<String, Value>) -> ApiResult<Value> {
    let mut applied = Map::new();
    if let Some(n) = num(body, "fail_next")? {
        let status = num(body, "status")?.unwrap_or(503);
        let status = u16::try_from(status)
            .ok()
            .filter(|s| (100..=599).contains(s))
            .ok_or_else(|| ApiError::bad_request("status must be an HTTP status code"))?;
        inner
            .faults
            .fail_next(usize::try_from(n).unwrap_or(usize::MAX), status);
        applied.insert("fail_next".into(), json!(n));
        applied.insert("status".into(), json!(status));
    }
    if let Some(ms) = num(body, "latency_ms")? {
        inner.faults.set_latency(Duration::from_millis(ms));
        applied.insert("latency_ms".into(), json!(ms));
    }
    if let Some(ms) = num(body, "down_ms")? {
        let inner = Arc::clone(inner);
        std::thread::spawn(move || {
            // let this response get out first
            std::thread::sleep(Duration::from_millis(50));
            if let Err(e) = inner.set_down(true) {
                log::warn!("cfgsim: going down: {e:#}");
            }
            std::thread::sleep(Duration::from_millis(ms));
            if let Err(e) = inner.set_down(false) {
                log::warn!("cfgsim: coming back: {e:#}");
            }
        });
        applied.insert("down_ms".into(), json!(ms));
    }
    if applied.is_empty() {
        return Err(ApiError::bad_request(
            "expected fail_next (+status), latency_ms or down_ms",
        ));
    }
    Ok(Value::Object(applied))
}
