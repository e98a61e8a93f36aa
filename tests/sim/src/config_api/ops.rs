//! The API operations on the store, following `api_server.py`: create, read, update, delete,
//! list, and the actions (fqname-to-id, id-to-fqname, ref-update, ref-relax-for-delete).
//!
//! Each operation runs under the store lock held by the caller, so every check-and-change is
//! atomic. Inputs are raw JSON; anything malformed is a 400 that names the field.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::SystemTime;

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::error::{ApiError, ApiResult};
use super::pyfmt::{list_repr, pformat_list, utc_isoformat, value_str};
use super::schema::{falsy, schema};
use super::store::{Obj, Ref, Select, Store, ref_target};
use super::types;

/// Keys of a request body that are not properties.
const IDENTITY: &[&str] = &[
    "uuid",
    "fq_name",
    "name",
    "parent_type",
    "parent_uuid",
    "parent_href",
    "href",
];

/// Normalise a type name: `virtual_network` and `virtual-network` are the same type.
pub fn norm_type(ty: &str) -> String {
    ty.trim().replace('_', "-")
}

fn fq_from(v: Option<&Value>, what: &str) -> ApiResult<Vec<String>> {
    let bad = || ApiError::bad_request(format!("Bad Request, {what} must be a list of strings"));
    let list = v.and_then(Value::as_array).ok_or_else(bad)?;
    list.iter()
        .map(|s| s.as_str().map(str::to_string).ok_or_else(bad))
        .collect()
}

/// A canonical uuid (lowercase, hyphenated), else 400.
fn canonical_uuid(u: &str) -> ApiResult<String> {
    match Uuid::parse_str(u) {
        Ok(p) if p.hyphenated().to_string() == u => Ok(u.to_string()),
        _ => Err(ApiError::bad_request(format!("Invalid UUID format: {u}"))),
    }
}

fn id_perms(uuid: &str, now: &str) -> Value {
    let (ms, ls) = Uuid::parse_str(uuid)
        .map(|u| u.as_u64_pair())
        .unwrap_or((0, 0));
    json!({
        "permissions": {
            "owner": "cloud-admin",
            "owner_access": 7,
            "group": "cloud-admin-group",
            "group_access": 7,
            "other_access": 7
        },
        "uuid": {"uuid_mslong": ms, "uuid_lslong": ls},
        "enable": true,
        "created": now,
        "last_modified": now,
        "description": null,
        "user_visible": true,
        "creator": null
    })
}

/// The resource type a request names, in either spelling (`virtual-network`,
/// `virtual_network`), as `_validate_resource_type` in `api_server.py` resolves it; types the
/// schema lacks are 404 "Resource type '<name>' not found".
pub fn resource_type(name: &str) -> ApiResult<String> {
    schema()
        .resolve(name.trim())
        .map(str::to_string)
        .ok_or_else(|| ApiError::not_found(format!("Resource type '{name}' not found")))
}

/// Split a request object into properties and references.
///
/// Only the fields the schema defines for the type are kept: the server validates
/// `prop_fields` and `ref_fields` only (`_validate_props_in_request`,
/// `_validate_refs_in_request`) and stores only those (`object_create` / `object_update` in
/// `cfgm_common/vnc_cassandra.py` R2005 walk `obj_class.prop_fields` and
/// `obj_class.ref_fields`), so any other key, including a reference to a type the resource
/// may not refer to, is dropped without an error. The emulator drops it too and logs it.
struct Parts {
    props: Map<String, Value>,
    refs: BTreeMap<String, Vec<Value>>,
}

fn split_fields(ty: &str, body: &Map<String, Value>) -> ApiResult<Parts> {
    let sch = schema();
    let mut props = Map::new();
    let mut refs = BTreeMap::new();
    for (k, v) in body {
        if IDENTITY.contains(&k.as_str()) {
            continue;
        }
        if sch.ref_def(ty, k).is_some() {
            let list = match v {
                Value::Null => Vec::new(),
                Value::Array(a) => a.clone(),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "Bad Request, {k} must be a list of references"
                    )));
                }
            };
            refs.insert(k.clone(), list);
        } else if sch.has_prop(ty, k) {
            props.insert(k.clone(), v.clone());
        } else if !k.ends_with("_back_refs") {
            log::warn!("cfgsim: {ty} has no field {k}: dropped, as the API server drops it");
        }
    }
    Ok(Parts { props, refs })
}

/// Validate properties and reference attributes against the schema (400 like the server).
fn validate(ty: &str, parts: &mut Parts, api: &str, create: bool) -> ApiResult<()> {
    let sch = schema();
    sch.validate_props(ty, &mut parts.props, create)
        .map_err(|e| ApiError::bad_request(format!("Bad property in {api}: {e}")))?;
    for (field, list) in parts.refs.iter_mut() {
        sch.validate_ref_attrs(ty, field, list)
            .map_err(|e| ApiError::bad_request(format!("Bad reference in {api}: {e}")))?;
    }
    Ok(())
}

/// Resolve references: `to` (fq_name) wins, as in the server's object store; a reference with
/// only a `uuid` is resolved by uuid. Duplicates (same target) collapse, the last attr wins.
fn resolve_refs(
    store: &Store,
    ty: &str,
    refs: BTreeMap<String, Vec<Value>>,
    op: &str,
) -> ApiResult<BTreeMap<String, Vec<Ref>>> {
    let mut out = BTreeMap::new();
    for (field, list) in refs {
        let target = schema()
            .ref_def(ty, &field)
            .map(|d| d.to.clone())
            .or_else(|| ref_target(&field))
            .unwrap_or_default();
        let mut resolved: Vec<Ref> = Vec::new();
        for (i, r) in list.iter().enumerate() {
            let Some(o) = r.as_object() else {
                return Err(ApiError::bad_request(format!(
                    "Bad Request, {field}[{i}] must be an object {{\"to\": [...], \"uuid\": ..., \"attr\": ...}}"
                )));
            };
            let to = match o.get("to") {
                None | Some(Value::Null) => None,
                v => Some(fq_from(v, &format!("{field}[{i}].to"))?),
            };
            let uuid = match o.get("uuid") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => {
                    return Err(ApiError::bad_request(format!(
                        "Bad Request, {field}[{i}].uuid must be a string"
                    )));
                }
            };
            let found = match (&to, &uuid) {
                (Some(fq), _) => store.find(&target, fq).map(str::to_string),
                (None, Some(u)) => store.get_typed(&target, u).map(|o| o.uuid.clone()),
                (None, None) => {
                    return Err(ApiError::bad_request(format!(
                        "Bad Request, {field}[{i}] needs \"to\" or \"uuid\""
                    )));
                }
            };
            let Some(found) = found else {
                let what = to
                    .as_ref()
                    .map(|fq| list_repr(fq))
                    .or(uuid)
                    .unwrap_or_default();
                return Err(ApiError::bad_request(format!(
                    "Unknown reference in resource {op}: {field} {target} {what} does not exist."
                )));
            };
            let fq = store
                .get(&found)
                .map(|o| o.fq_name.clone())
                .unwrap_or_default();
            let attr = o.get("attr").cloned().unwrap_or(Value::Null);
            match resolved.iter_mut().find(|x| x.uuid == found) {
                Some(x) => x.attr = attr,
                None => resolved.push(Ref {
                    to: fq,
                    uuid: found,
                    attr,
                }),
            }
        }
        out.insert(field, resolved);
    }
    Ok(out)
}

/// `validate_parent_type` in `api_server.py`: the parent type of a new object (`None` for
/// objects without a parent). The given name must be one of the schema's parent types as
/// spelled there (with dashes).
fn parent_type_for(ty: &str, given: Option<&str>, fq: &[String]) -> ApiResult<Option<String>> {
    let allowed: Vec<String> = schema().parent_types(ty).unwrap_or_default().to_vec();
    let given = given.filter(|p| !p.is_empty());
    let parent = match given {
        Some(g) => {
            if !allowed.iter().any(|a| a == g) {
                return Err(ApiError::bad_request(format!(
                    "Invalid parent type: {g}. Allowed types: {}",
                    list_repr(&allowed)
                )));
            }
            Some(g.to_string())
        }
        None => {
            if allowed.len() > 1 && !allowed.iter().any(|a| a == "config-root") {
                return Err(ApiError::bad_request(format!(
                    "Missing parent type: None. Allowed types: {}",
                    list_repr(&allowed)
                )));
            }
            if allowed.len() == 1 {
                allowed.first().cloned()
            } else {
                None
            }
        }
    };
    let parent = parent.filter(|p| p != "config-root");
    match &parent {
        None if fq.len() != 1 => Err(ApiError::bad_request(format!(
            "Invalid fq-name of an object with no parent: {}",
            list_repr(fq)
        ))),
        Some(p) if fq.len() < 2 => Err(ApiError::bad_request(format!(
            "Invalid fq-name for object with parent_type {p}: {}",
            list_repr(fq)
        ))),
        _ => Ok(parent),
    }
}

/// `http_resource_create` in `api_server.py`: `POST /<type>s`. Returns the created object's
/// uuid. The checks run in upstream's order: the type (404), `_post_validate` (fq_name and
/// name), `_validate_props_in_request` and `_validate_refs_in_request` (400), `_post_common`
/// (fq_name taken 409, `validate_parent_type` 400, `_ensure_perms2_present`, uuid format 400,
/// uuid taken 409), the parent's existence (400), the references (400), then the type's
/// `pre_dbe_create`.
///
/// Without `parent_type` the server links no parent, even for a type with a single parent
/// type: it looks the parent up only for `perms2.owner` (404 when missing), and the object
/// has no `parent_uuid` and is no child of anything.
pub fn create(store: &mut Store, ty: &str, body: &Map<String, Value>) -> ApiResult<String> {
    let ty = resource_type(ty)?;
    // _post_validate
    let fq = match body.get("fq_name") {
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request(
                "Bad Request, no fq_name in POST body",
            ));
        }
        v => fq_from(v, "fq_name")?,
    };
    let Some(name) = fq.last().cloned() else {
        return Err(ApiError::bad_request(
            "Bad Request, no fq_name in POST body",
        ));
    };
    if name.contains(':') {
        return Err(ApiError::bad_request(
            "Bad Request, name has one of invalid chars {':'}",
        ));
    }
    let mut parts = split_fields(&ty, body)?;
    validate(&ty, &mut parts, "create", true)?;

    // _post_common
    if let Some(u) = store.find(&ty, &fq) {
        return Err(ApiError::conflict(format!(
            "{} already exists with uuid: {u}",
            pformat_list(&fq)
        )));
    }
    let given_parent = match body.get("parent_type") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            return Err(ApiError::bad_request(
                "Bad Request, parent_type must be a string",
            ));
        }
    };
    let implied_parent = parent_type_for(&ty, given_parent, &fq)?;
    // `_ensure_perms2_present`
    let owner = perms2_owner(
        store,
        &ty,
        body,
        &parts.props,
        given_parent,
        &implied_parent,
        &fq,
    )?;
    let uuid = match body.get("uuid") {
        // an empty uuid counts as none, as in `_post_common`
        None | Some(Value::Null) => Uuid::new_v4().to_string(),
        Some(Value::String(u)) if u.is_empty() => Uuid::new_v4().to_string(),
        Some(Value::String(u)) => {
            let u = canonical_uuid(u)?;
            if let Some(existing) = store.get(&u) {
                return Err(ApiError::conflict(format!(
                    "{u} already exists with fq_name: {}",
                    pformat_list(&existing.fq_name)
                )));
            }
            u
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid UUID format: {}",
                value_str(other)
            )));
        }
    };
    // only a parent_type given in the request links a parent
    let parent = match given_parent.filter(|p| *p != "config-root") {
        Some(pt) => {
            let pfq = &fq[..fq.len() - 1];
            match store.find(pt, pfq) {
                Some(pu) => Some((pt.to_string(), pu.to_string())),
                None => {
                    return Err(ApiError::bad_request(format!(
                        "Parent {} type {pt} does not exist",
                        pformat_list(pfq)
                    )));
                }
            }
        }
        None => None,
    };
    let refs = resolve_refs(store, &ty, parts.refs, "create")?;

    let now = utc_isoformat(SystemTime::now());
    let mut props = parts.props;
    let mut perms = id_perms(&uuid, &now);
    if let Some(req) = props.get("id_perms").and_then(Value::as_object) {
        for k in ["enable", "description", "user_visible", "creator"] {
            if let Some(v) = req.get(k) {
                perms[k] = v.clone();
            }
        }
    }
    props.insert("id_perms".into(), perms);
    let mut perms2 = json!({"owner": owner, "owner_access": 7, "global_access": 0, "share": []});
    if let Some(req) = props.get("perms2").and_then(Value::as_object) {
        for (k, v) in req {
            perms2[k.as_str()] = v.clone();
        }
    }
    props.insert("perms2".into(), perms2);
    if props.get("display_name").is_none_or(Value::is_null) {
        props.insert("display_name".into(), Value::String(name));
    }
    let mut obj = Obj {
        ty,
        uuid: uuid.clone(),
        fq_name: fq,
        parent,
        props,
        refs: refs.into_iter().filter(|(_, r)| !r.is_empty()).collect(),
    };
    types::before_create(store, &mut obj)?;
    store.insert(obj);
    Ok(uuid)
}

/// `_ensure_perms2_present` in `api_server.py`: the owner of a new object. A project given
/// its uuid owns itself; else the request's `perms2.owner`; else, under a domain,
/// `cloud-admin`; else the parent's owner (the parent found by fq_name, 404 "Name[...] not
/// found" when missing); else `cloud-admin`.
fn perms2_owner(
    store: &Store,
    ty: &str,
    body: &Map<String, Value>,
    props: &Map<String, Value>,
    given_parent: Option<&str>,
    implied_parent: &Option<String>,
    fq: &[String],
) -> ApiResult<String> {
    let given_uuid = body.get("uuid").and_then(Value::as_str);
    if ty == "project"
        && let Some(u) = given_uuid
    {
        return Ok(u.replace('-', ""));
    }
    let requested = props
        .get("perms2")
        .and_then(|p| p.get("owner"))
        .filter(|o| !falsy(o))
        .map(value_str);
    if let Some(o) = requested {
        return Ok(o);
    }
    let pfq = &fq[..fq.len().saturating_sub(1)];
    if pfq.is_empty() {
        return Ok("cloud-admin".into());
    }
    let parent_type = given_parent
        .map(str::to_string)
        .or_else(|| implied_parent.clone())
        .unwrap_or_default();
    if parent_type == "domain" {
        return Ok("cloud-admin".into());
    }
    match store.find(&parent_type, pfq) {
        Some(pu) => Ok(store
            .get(pu)
            .and_then(|p| p.props.get("perms2"))
            .and_then(|p| p.get("owner"))
            .and_then(Value::as_str)
            .unwrap_or("cloud-admin")
            .to_string()),
        // before the parent check proper, so a missing parent is this 404 rather than the
        // 400 "Parent ... does not exist" (which only a request with perms2.owner gets)
        None => Err(ApiError::not_found(format!(
            "Name{} not found",
            pformat_list(pfq)
        ))),
    }
}

/// The body `POST /<type>s` answers with.
pub fn create_response(store: &Store, uuid: &str, base: &str) -> Value {
    let Some(o) = store.get(uuid) else {
        return Value::Null;
    };
    let mut m = Map::new();
    m.insert(
        "name".into(),
        Value::String(o.fq_name.last().cloned().unwrap_or_default()),
    );
    m.insert("fq_name".into(), json!(o.fq_name));
    m.insert("uuid".into(), Value::String(o.uuid.clone()));
    m.insert(
        "href".into(),
        Value::String(format!("{base}/{}/{}", o.ty, o.uuid)),
    );
    if let Some((pt, pu)) = &o.parent {
        m.insert("parent_type".into(), Value::String(pt.clone()));
        m.insert("parent_uuid".into(), Value::String(pu.clone()));
        m.insert(
            "parent_href".into(),
            Value::String(format!("{base}/{pt}/{pu}")),
        );
    }
    json!({ o.ty.clone(): m })
}

/// Options of `GET /<type>/<uuid>`.
#[derive(Debug, Default, Clone)]
pub struct ReadOpts {
    pub fields: Option<HashSet<String>>,
    pub exclude_back_refs: bool,
    pub exclude_children: bool,
    pub exclude_hrefs: bool,
}

/// `GET /<type>/<uuid>`: the inner object.
pub fn read(store: &Store, ty: &str, uuid: &str, opts: &ReadOpts, base: &str) -> ApiResult<Value> {
    let ty = resource_type(ty)?;
    let Some(obj) = store.get(uuid) else {
        return Err(ApiError::not_found(format!("Unknown id: {uuid}")));
    };
    if obj.ty != ty {
        return Err(ApiError::not_found(format!(
            "No {ty} object found for id {uuid}"
        )));
    }
    let fields = opts.fields.as_ref().map(|f| {
        let mut f = f.clone();
        f.insert("id_perms".into());
        f.insert("perms2".into());
        f
    });
    let sel = match &fields {
        Some(f) => Select {
            fields: Some(f),
            ..Default::default()
        },
        None => Select {
            all_props: true,
            all_refs: true,
            all_back_refs: !opts.exclude_back_refs,
            all_children: !opts.exclude_children,
            ..Default::default()
        },
    };
    let base = (!opts.exclude_hrefs).then_some(base);
    Ok(store.render(obj, &sel, base))
}

/// `PUT /<type>/<uuid>` (also used by ref-update with `api` = "ref-update").
pub fn update(
    store: &mut Store,
    ty: &str,
    uuid: &str,
    body: &Map<String, Value>,
    api: &str,
) -> ApiResult<()> {
    let ty = resource_type(ty)?;
    let Some(old) = store.get_typed(&ty, uuid).cloned() else {
        return Err(ApiError::not_found(format!("Unknown id: {uuid}")));
    };
    if let Some(u) = body.get("uuid").filter(|v| !v.is_null())
        && u.as_str() != Some(uuid)
    {
        return Err(ApiError::bad_request(format!(
            "Bad Request, uuid cannot be changed (object {uuid}, request {})",
            value_str(u)
        )));
    }
    if let Some(f) = body.get("fq_name").filter(|v| !v.is_null()) {
        let fq = fq_from(Some(f), "fq_name")?;
        if fq != old.fq_name {
            return Err(ApiError::bad_request(format!(
                "Bad Request, fq_name cannot be changed (object {}, request {})",
                list_repr(&old.fq_name),
                list_repr(&fq)
            )));
        }
    }
    if let Some(p) = body.get("perms2").filter(|v| !v.is_null())
        && p.get("owner").is_none()
    {
        return Err(ApiError::bad_request("owner in perms2 must be present"));
    }
    let mut parts = split_fields(&ty, body)?;
    validate(&ty, &mut parts, api, false)?;
    let refs = resolve_refs(store, &ty, parts.refs, "update")?;

    let mut changed: HashSet<String> = parts.props.keys().cloned().collect();
    changed.extend(refs.keys().cloned());
    // Hooks that read the request's `fq_name` (`virtual_dns.py`) need to know it came.
    if body.get("fq_name").is_some_and(|f| !f.is_null()) {
        changed.insert("fq_name".into());
    }
    let mut new = old.clone();
    for (k, v) in parts.props {
        match k.as_str() {
            "id_perms" => {
                if let Some(req) = v.as_object() {
                    let perms = new.props.entry("id_perms").or_insert_with(|| json!({}));
                    for f in ["enable", "description"] {
                        if let Some(x) = req.get(f) {
                            perms[f] = x.clone();
                        }
                    }
                }
            }
            "perms2" => {
                if let Some(req) = v.as_object() {
                    let perms = new.props.entry("perms2").or_insert_with(|| json!({}));
                    for (f, x) in req {
                        perms[f.as_str()] = x.clone();
                    }
                }
            }
            _ => {
                new.props.insert(k, v);
            }
        }
    }
    for (field, list) in refs {
        if list.is_empty() {
            new.refs.remove(&field);
        } else {
            new.refs.insert(field, list);
        }
    }
    types::before_update(store, &old, &mut new, &changed)?;
    if let Some(perms) = new.props.get_mut("id_perms") {
        perms["last_modified"] = Value::String(utc_isoformat(SystemTime::now()));
    }
    for field in old.refs.keys() {
        if !new.refs.contains_key(field) {
            store.set_refs(uuid, field, Vec::new());
        }
    }
    for (field, list) in &new.refs {
        if old.refs.get(field) != Some(list) {
            store.set_refs(uuid, field, list.clone());
        }
    }
    for (k, v) in new.props {
        if old.props.get(&k) != Some(&v) {
            store.set_prop(uuid, &k, Some(v));
        }
    }
    Ok(())
}

fn hrefs(base: &str, items: &[(String, String)]) -> String {
    let list: Vec<String> = items
        .iter()
        .map(|(t, u)| format!("{base}/{t}/{u}"))
        .collect();
    list_repr(&list)
}

/// `DELETE /<type>/<uuid>`.
pub fn delete(store: &mut Store, ty: &str, uuid: &str, base: &str) -> ApiResult<()> {
    let ty = resource_type(ty)?;
    let Some(obj) = store.get(uuid) else {
        return Err(ApiError::not_found(format!("ID {uuid} does not exist")));
    };
    if obj.ty != ty {
        return Err(ApiError::not_found(format!(
            "No {ty} object found for id {uuid}"
        )));
    }
    if ty == "virtual-network" && types::is_system_vn(&obj.fq_name) {
        return Err(ApiError::conflict(format!(
            "Can not delete system created default virtual-network {uuid}"
        )));
    }
    let children = store.children(uuid);
    if !children.is_empty() {
        return Err(ApiError::conflict(format!(
            "Delete when children still present: {}",
            hrefs(base, &children)
        )));
    }
    // `_delete_common` in `api_server.py` checks one back-ref field after the other and
    // answers with the first that has referrers: the 409 lists the referrers of ONE type.
    // Upstream walks a set of fields (the type depends on the hash seed); here the first type
    // by name.
    let mut referrers: Vec<(String, String)> = store
        .referrers(uuid)
        .into_iter()
        .filter(|(_, from)| !store.is_relaxed(from, uuid))
        .collect();
    if let Some(first) = referrers.first().map(|(t, _)| t.clone()) {
        referrers.retain(|(t, _)| *t == first);
        return Err(ApiError::conflict(format!(
            "Delete when resource still referred: {}",
            hrefs(base, &referrers)
        )));
    }
    types::before_delete(store, obj)?;
    // `object_delete` in `vnc_cassandra.py`: the references relaxed for delete go with it.
    let field = super::store::ref_field(&ty);
    for from in store.relaxed_referrers(uuid) {
        if store.remove_ref(&from, &field, uuid) {
            log::debug!("cfgsim: {ty} {uuid} deleted: {from} loses its relaxed reference");
        }
    }
    if let Some(obj) = store.remove(uuid) {
        types::after_delete(store, &obj);
    }
    Ok(())
}

/// Options of `GET /<type>s`.
#[derive(Debug, Default, Clone)]
pub struct ListQuery {
    pub parent_ids: Option<Vec<String>>,
    pub parent_fq_name: Option<Vec<String>>,
    pub parent_type: Option<String>,
    pub back_ref_ids: Option<Vec<String>>,
    pub obj_uuids: Option<Vec<String>>,
    pub fq_names: Option<Vec<Vec<String>>>,
    pub detail: bool,
    pub count: bool,
    pub fields: Vec<String>,
    /// `filters=`, raw
    pub filters: Option<String>,
    pub exclude_hrefs: bool,
}

/// `utils.get_filters`: `a==1,b==x` -> key -> accepted values (JSON where it parses).
fn parse_filters(raw: &str) -> ApiResult<HashMap<String, Vec<Value>>> {
    let mut out: HashMap<String, Vec<Value>> = HashMap::new();
    if raw.is_empty() {
        return Ok(out);
    }
    for part in raw.split(',') {
        let pieces: Vec<&str> = part.split("==").collect();
        let [key, value] = pieces.as_slice() else {
            return Err(ApiError::bad_request(format!("Invalid filter {raw}")));
        };
        let v = serde_json::from_str::<Value>(value).unwrap_or(Value::String(value.to_string()));
        let vals = out.entry(key.to_string()).or_default();
        if !vals.contains(&v) {
            vals.push(v);
        }
    }
    Ok(out)
}

fn values_match(prop: &Value, want: &Value) -> bool {
    match (prop, want) {
        (Value::Number(a), Value::Number(b)) => a == b || a.as_f64() == b.as_f64(),
        (Value::Object(p), Value::Object(w)) => w.iter().all(|(k, v)| p.get(k) == Some(v)),
        (a, b) => a == b,
    }
}

fn passes_filters(obj: &Obj, filters: &HashMap<String, Vec<Value>>) -> bool {
    filters.iter().all(|(key, wanted)| {
        if IDENTITY.contains(&key.as_str()) || key.ends_with("_refs") {
            return true; // not a property: the server ignores it
        }
        obj.props
            .get(key)
            .is_some_and(|p| wanted.iter().any(|w| values_match(p, w)))
    })
}

/// `GET /<type>s`: the response body. Written straight from the store, so listing tens of
/// thousands of objects with detail builds no intermediate value tree.
pub fn list(store: &Store, ty: &str, q: &ListQuery, base: &str) -> ApiResult<Vec<u8>> {
    let bytes = |v: Value| v.to_string().into_bytes();
    let ty = resource_type(ty)?;
    let key = format!("{ty}s");
    let mut parents = q.parent_ids.clone();
    if let Some(pfq) = &q.parent_fq_name {
        let types: Vec<String> = match &q.parent_type {
            Some(t) => vec![resource_type(t)?],
            None => schema().parent_types(&ty).unwrap_or_default().to_vec(),
        };
        parents = Some(
            types
                .iter()
                .filter_map(|t| store.find(t, pfq).map(str::to_string))
                .collect(),
        );
    }
    let mut obj_uuids = q.obj_uuids.clone();
    if let Some(fqs) = &q.fq_names {
        let found: Vec<String> = fqs
            .iter()
            .filter_map(|fq| store.find(&ty, fq).map(str::to_string))
            .collect();
        if found.is_empty() && obj_uuids.is_none() {
            return Ok(bytes(json!({ key: [] })));
        }
        obj_uuids.get_or_insert_with(Vec::new).extend(found);
    }
    if parents.as_ref().is_some_and(Vec::is_empty)
        && obj_uuids.is_none()
        && q.back_ref_ids.is_none()
    {
        return Ok(bytes(if q.count {
            json!({ key: {"count": 0} })
        } else {
            json!({ key: [] })
        }));
    }
    let filters = parse_filters(q.filters.as_deref().unwrap_or_default())?;

    let mut candidates: Vec<String> = if let Some(ps) = &parents {
        ps.iter()
            .flat_map(|p| store.children_of_type(p, &ty))
            .collect()
    } else if let Some(targets) = &q.back_ref_ids {
        targets
            .iter()
            .flat_map(|t| store.referrers_of_type(t, &ty))
            .collect()
    } else if let Some(ids) = &obj_uuids {
        ids.clone()
    } else {
        store.uuids_of_type(&ty)
    };
    let parent_set: Option<HashSet<&str>> = parents
        .as_ref()
        .map(|p| p.iter().map(String::as_str).collect());
    let target_set: Option<HashSet<&str>> = q
        .back_ref_ids
        .as_ref()
        .map(|t| t.iter().map(String::as_str).collect());
    let uuid_set: Option<HashSet<&str>> = obj_uuids
        .as_ref()
        .map(|u| u.iter().map(String::as_str).collect());
    let mut seen = HashSet::new();
    candidates.retain(|u| seen.insert(u.clone()));
    let mut objs: Vec<&Obj> = candidates
        .iter()
        .filter_map(|u| store.get_typed(&ty, u))
        .filter(|o| {
            parent_set.as_ref().is_none_or(|ps| {
                o.parent
                    .as_ref()
                    .is_some_and(|(_, p)| ps.contains(p.as_str()))
            })
        })
        .filter(|o| {
            target_set.as_ref().is_none_or(|ts| {
                o.refs
                    .values()
                    .flatten()
                    .any(|r| ts.contains(r.uuid.as_str()))
            })
        })
        .filter(|o| {
            uuid_set
                .as_ref()
                .is_none_or(|us| us.contains(o.uuid.as_str()))
        })
        .filter(|o| passes_filters(o, &filters))
        .collect();
    objs.sort_by(|a, b| (&a.fq_name, &a.uuid).cmp(&(&b.fq_name, &b.uuid)));
    if q.count {
        return Ok(bytes(json!({ key: {"count": objs.len()} })));
    }
    let fields: HashSet<String> = q.fields.iter().cloned().collect();
    let sel = if q.detail {
        Select {
            all_props: true,
            all_refs: true,
            fields: Some(&fields),
            ..Default::default()
        }
    } else {
        Select {
            fields: Some(&fields),
            brief: true,
            ..Default::default()
        }
    };
    let href_base = (!q.exclude_hrefs).then_some(base);
    let mut out = Vec::with_capacity(64 + objs.len() * if q.detail { 768 } else { 192 });
    out.push(b'{');
    serde_json::to_writer(&mut out, &key).ok();
    out.extend_from_slice(b":[");
    for (i, o) in objs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if q.detail {
            out.push(b'{');
            serde_json::to_writer(&mut out, &ty).ok();
            out.push(b':');
            store.render_into(&mut out, o, &sel, href_base);
            out.push(b'}');
        } else {
            store.render_into(&mut out, o, &sel, href_base);
        }
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

fn field_str(body: &Map<String, Value>, key: &str) -> ApiResult<Option<String>> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::bad_request(format!(
            "Bad Request, {key} must be a string, got {other}"
        ))),
    }
}

/// `POST /fqname-to-id`.
pub fn fqname_to_id(store: &Store, body: &Map<String, Value>) -> ApiResult<Value> {
    let Some(ty) = field_str(body, "type")? else {
        return Err(ApiError::not_found("Resource type 'None' not found"));
    };
    let ty = resource_type(&ty)?;
    let fq = fq_from(body.get("fq_name"), "fq_name")?;
    match store.find(&ty, &fq) {
        Some(u) => Ok(json!({ "uuid": u })),
        None => Err(ApiError::not_found(format!(
            "Name {} not found",
            pformat_list(&fq)
        ))),
    }
}

/// `POST /id-to-fqname`.
pub fn id_to_fqname(store: &Store, body: &Map<String, Value>) -> ApiResult<Value> {
    let Some(u) = field_str(body, "uuid")? else {
        return Err(ApiError::bad_request("Bad Request, uuid missing"));
    };
    match store.get(&u) {
        Some(o) => Ok(json!({ "fq_name": o.fq_name, "type": o.ty })),
        None => Err(ApiError::not_found(format!("UUID {u} not found"))),
    }
}

/// `ref_update_http_post` in `api_server.py`: `POST /ref-update`.
///
/// Upstream resolves `type` and `ref-type` first (404 "Resource type '...' not found"; a
/// missing `type` is `'None'`), and never checks that the type may refer to `ref-type`: it
/// stores the link, which no read shows (`_render_obj_from_db` in `vnc_cassandra.py` skips
/// refs outside `ref_fields`) and answers 200. The emulator answers the same 200 and stores
/// nothing.
pub fn ref_update(store: &mut Store, body: &Map<String, Value>) -> ApiResult<Value> {
    let ty = match field_str(body, "type")? {
        Some(t) => resource_type(&t)?,
        None => return Err(ApiError::not_found("Resource type 'None' not found")),
    };
    let uuid = field_str(body, "uuid")?;
    // upstream: a missing ref-type is a 500 (None.replace); here the 400 below
    let ref_type = match field_str(body, "ref-type")? {
        Some(r) => Some(resource_type(&r)?),
        None => None,
    };
    let operation = field_str(body, "operation")?;
    let (Some(uuid), Some(ref_type), Some(operation)) =
        (uuid.clone(), ref_type.clone(), operation.clone())
    else {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "None".into());
        return Err(ApiError::bad_request(format!(
            "Bad Request: type/uuid/ref-type/operation is null: {ty}, {}, {}, {}.",
            show(&uuid),
            show(&ref_type),
            show(&operation)
        )));
    };
    let operation = operation.to_uppercase();
    if operation != "ADD" && operation != "DELETE" {
        return Err(ApiError::bad_request(format!(
            "Bad Request: operation should be add or delete: {operation}"
        )));
    }
    let ref_uuid = field_str(body, "ref-uuid")?;
    let ref_fq = match body.get("ref-fq-name") {
        None | Some(Value::Null) => None,
        v => Some(fq_from(v, "ref-fq-name")?),
    };
    let relax = body
        .get("relax_ref_for_delete")
        .is_some_and(|v| v.as_bool() == Some(true));
    let attr = body.get("attr").cloned().unwrap_or(Value::Null);
    let ref_uuid = match (ref_uuid, &ref_fq) {
        (None, None) => {
            return Err(ApiError::bad_request(
                "Bad Request: ref-uuid or ref-fq-name must be specified",
            ));
        }
        (None, Some(fq)) => match store.find(&ref_type, fq) {
            Some(u) => u.to_string(),
            None => {
                return Err(ApiError::not_found(format!(
                    "Name {} not found",
                    pformat_list(fq)
                )));
            }
        },
        (Some(u), _) => {
            if operation == "ADD" && store.get_typed(&ref_type, &u).is_none() {
                return Err(ApiError::not_found(format!("Unknown id: {u}")));
            }
            u
        }
    };
    let Some(obj) = store.get_typed(&ty, &uuid) else {
        return Err(ApiError::not_found(format!("Unknown id: {uuid}")));
    };
    let field = super::store::ref_field(&ref_type);
    if schema().ref_def(&ty, &field).is_none() {
        log::warn!(
            "cfgsim: ref-update {operation} {ty} -> {ref_type}: {ty} has no {field}; the API \
             server answers 200 and no read shows the link"
        );
        return Ok(json!({ "uuid": uuid }));
    }
    if ty == "virtual-network" && (ref_type == "network-ipam" || ref_type == "virtual-network") {
        // Subnets or the provider network change: take the full update path (with
        // `virtual_network.py`'s checks) with the whole new list.
        let mut list: Vec<Value> = obj
            .refs
            .get(&field)
            .into_iter()
            .flatten()
            .map(|r| json!({"to": r.to, "uuid": r.uuid, "attr": r.attr}))
            .collect();
        let pos = list.iter().position(|r| r["uuid"] == ref_uuid.as_str());
        match (operation.as_str(), pos) {
            ("ADD", Some(p)) => list[p]["attr"] = attr,
            ("ADD", None) => {
                let fq = store.get(&ref_uuid).map(|o| o.fq_name.clone());
                list.push(json!({"to": fq, "uuid": ref_uuid, "attr": attr}));
            }
            (_, Some(p)) => {
                list.remove(p);
            }
            (_, None) => {}
        }
        let mut req = Map::new();
        req.insert(field, Value::Array(list));
        update(store, &ty, &uuid, &req, "ref-update")?;
    } else if operation == "ADD" {
        // One reference changes: O(log n) on the indexes, however many refs the object has
        // (a virtual-router refers to every virtual-machine on its node).
        let fq = store
            .get(&ref_uuid)
            .map(|o| o.fq_name.clone())
            .unwrap_or_default();
        let mut one = [json!({"to": fq, "uuid": ref_uuid, "attr": attr})];
        schema()
            .validate_ref_attrs(&ty, &field, &mut one)
            .map_err(|e| ApiError::bad_request(format!("Bad reference in ref-update: {e}")))?;
        let [checked] = one;
        let attr = checked.get("attr").cloned().unwrap_or(Value::Null);
        store.upsert_ref(
            &uuid,
            &field,
            Ref {
                to: fq,
                uuid: ref_uuid.clone(),
                attr,
            },
        );
        touch(store, &uuid);
    } else {
        if store.remove_ref(&uuid, &field, &ref_uuid) {
            touch(store, &uuid);
        }
    }
    if relax && operation == "ADD" {
        store.relax(&uuid, &ref_uuid);
    }
    Ok(json!({ "uuid": uuid }))
}

/// Bump `id_perms.last_modified`.
fn touch(store: &mut Store, uuid: &str) {
    let perms = store
        .get(uuid)
        .and_then(|o| o.props.get("id_perms"))
        .cloned();
    if let Some(mut perms) = perms {
        perms["last_modified"] = Value::String(utc_isoformat(SystemTime::now()));
        store.set_prop(uuid, "id_perms", Some(perms));
    }
}

/// `ref_relax_for_delete_http_post` in `api_server.py`: `POST /ref-relax-for-delete`. The
/// referrer must exist (404 "uuid <uuid> not found"); the reference need not (the mark is a
/// column on the target's row, `_relax_ref_for_delete` in `vnc_cassandra.py`): a reference added
/// later is relaxed too. The mark stays when the reference is dropped, and goes when the target
/// is deleted, taking the relaxed references with it.
pub fn ref_relax(store: &mut Store, body: &Map<String, Value>) -> ApiResult<Value> {
    let uuid = field_str(body, "uuid")?;
    let ref_uuid = field_str(body, "ref-uuid")?;
    let (Some(uuid), Some(ref_uuid)) = (uuid.clone(), ref_uuid.clone()) else {
        return Err(ApiError::bad_request(format!(
            "Bad Request: Both uuid and ref-uuid should be specified: {}, {}.",
            uuid.unwrap_or_else(|| "None".into()),
            ref_uuid.unwrap_or_else(|| "None".into())
        )));
    };
    if !store.contains(&uuid) {
        return Err(ApiError::not_found(format!("uuid {uuid} not found")));
    }
    store.relax(&uuid, &ref_uuid);
    Ok(json!({ "uuid": uuid }))
}
