//! Blocking client of the Contrail config (VNC) API.
//!
//! One ureq agent (connections reused across threads), connect and overall timeouts on every
//! call, bounded retries with backoff on transport errors and 502/503/504, fail-over across the
//! configured endpoints, Keystone tokens refreshed once on 401. Tokens never reach a log line
//! or an error message.

pub mod auth;
pub mod error;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::Value;

pub use crate::domain::settings::AuthConfig;
use crate::domain::settings::Settings;
pub use error::{ApiError, ApiErrorKind};

use crate::domain::contrail::Resource;
use crate::domain::fqname::FqName;
use crate::http::client::{self as http_client, ClientOptions};
use crate::http::server::percent_encode;

/// How to reach the config API.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// Base URLs (`http://10.0.0.1:8082`), tried in order on failure.
    pub endpoints: Vec<String>,
    pub http: ClientOptions,
    pub auth: Option<AuthConfig>,
    /// Extra attempts after the first on transport errors and 502/503/504.
    pub retries: u32,
    /// The first pause between attempts; doubles, capped at 2 s.
    pub backoff: Duration,
}

impl ApiOptions {
    /// The options the manager's settings (`[VNC]`, `[AUTH]`) give.
    pub fn from_settings(s: &Settings) -> Self {
        let mut o = ApiOptions::new(s.vnc_urls());
        o.http = ClientOptions {
            ca_file: s.vnc_ca_file.clone(),
            max_idle_per_host: s.workers.max(8),
            ..ClientOptions::default()
        }
        .with_timeout(s.vnc_timeout);
        o.auth = s.auth.clone();
        o
    }

    pub fn new(endpoints: Vec<String>) -> Self {
        Self {
            endpoints,
            http: ClientOptions::default(),
            auth: None,
            retries: 4,
            backoff: Duration::from_millis(100),
        }
    }
}

/// A list query (`GET /<type>s?...`).
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub detail: bool,
    pub fields: Vec<String>,
    pub parent_id: Vec<String>,
    pub back_ref_id: Vec<String>,
    pub obj_uuids: Vec<String>,
    /// `field==value` pairs.
    pub filters: Vec<(String, String)>,
    /// Leave out every `href` (the API server's `exclude_hrefs`): a third of a list's bytes.
    pub exclude_hrefs: bool,
}

impl ListQuery {
    /// A detail list of these fields, without hrefs (nothing here follows them).
    pub fn detail(fields: &[&str]) -> Self {
        Self {
            detail: true,
            fields: fields.iter().map(|f| f.to_string()).collect(),
            exclude_hrefs: true,
            ..Self::default()
        }
    }

    fn to_query(&self) -> String {
        let mut q: Vec<String> = Vec::new();
        if self.detail {
            q.push("detail=true".into());
        }
        if self.exclude_hrefs {
            q.push("exclude_hrefs=true".into());
        }
        let mut list = |k: &str, v: &[String]| {
            if !v.is_empty() {
                q.push(format!("{k}={}", percent_encode(&v.join(","))));
            }
        };
        list("fields", &self.fields);
        list("parent_id", &self.parent_id);
        list("back_ref_id", &self.back_ref_id);
        list("obj_uuids", &self.obj_uuids);
        if !self.filters.is_empty() {
            let f: Vec<String> = self
                .filters
                .iter()
                .map(|(k, v)| format!("{k}=={v}"))
                .collect();
            q.push(format!("filters={}", percent_encode(&f.join(","))));
        }
        q.join("&")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RefOp {
    Add,
    Delete,
}

/// The config API client. Cheap to clone; clones share connections, token and counters.
#[derive(Clone)]
pub struct ConfigApi {
    inner: Arc<Inner>,
}

struct Inner {
    endpoints: Vec<String>,
    http: ureq::Agent,
    auth: Option<AuthConfig>,
    token: Mutex<Option<String>>,
    current: AtomicUsize,
    retries: u32,
    backoff: Duration,
    calls: AtomicU64,
    errors: AtomicU64,
}

impl ConfigApi {
    pub fn new(opts: ApiOptions) -> anyhow::Result<Self> {
        let endpoints: Vec<String> = opts
            .endpoints
            .iter()
            .map(|e| e.trim().trim_end_matches('/').to_string())
            .filter(|e| !e.is_empty())
            .collect();
        if endpoints.is_empty() {
            anyhow::bail!("no Contrail config API endpoint configured");
        }
        Ok(Self {
            inner: Arc::new(Inner {
                endpoints,
                http: http_client::agent(&opts.http)?,
                auth: opts.auth,
                token: Mutex::new(None),
                current: AtomicUsize::new(0),
                retries: opts.retries,
                backoff: opts.backoff,
                calls: AtomicU64::new(0),
                errors: AtomicU64::new(0),
            }),
        })
    }

    /// The endpoint requests currently go to.
    pub fn endpoint(&self) -> &str {
        let i = self.inner.current.load(Ordering::Relaxed) % self.inner.endpoints.len();
        &self.inner.endpoints[i]
    }

    pub fn endpoints(&self) -> &[String] {
        &self.inner.endpoints
    }

    /// HTTP requests sent to the config API so far (retries included, Keystone excluded).
    pub fn calls(&self) -> u64 {
        self.inner.calls.load(Ordering::Relaxed)
    }

    /// Calls that ended in an error answer or no answer.
    pub fn errors(&self) -> u64 {
        self.inner.errors.load(Ordering::Relaxed)
    }

    /// `POST /<type>s` with `obj` and its `parent_type`; returns the new object's uuid.
    pub fn create<T: Resource>(&self, obj: &T) -> Result<String, ApiError> {
        let path = format!("/{}s", T::TYPE);
        let body = Envelope::create(obj).to_body();
        let resp = self.request("POST", &path, Some(&body))?;
        resp[T::TYPE]["uuid"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| self.decode_error("POST", &path, "no uuid in the answer"))
    }

    /// Create, or find the object that already holds this fq-name (409). Returns the uuid and
    /// whether this call created it. A 409 for a uuid held under another fq-name stays an error.
    pub fn ensure<T: Resource>(&self, obj: &T) -> Result<(String, bool), ApiError> {
        match self.create(obj) {
            Ok(uuid) => Ok((uuid, true)),
            Err(e) if e.is_conflict() => {
                let fq = FqName::new(obj.fq_name()).map_err(|_| e.clone())?;
                match self.fqname_to_id(T::TYPE, &fq)? {
                    Some(uuid) => Ok((uuid, false)),
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The uuid of the object named as `obj`, created from `obj` when there is none (a lookup
    /// first, so that finding it changes nothing). Returns whether this call created it; a
    /// create that loses a race (409) reads the winner's uuid.
    pub fn find_or_create<T: Resource>(&self, obj: &T) -> Result<(String, bool), ApiError> {
        if let Ok(fq) = FqName::new(obj.fq_name())
            && let Some(uuid) = self.fqname_to_id(T::TYPE, &fq)?
        {
            return Ok((uuid, false));
        }
        self.ensure(obj)
    }

    /// `PUT /<type>/<uuid>` with what `obj` sets (its empty fields are not sent, and keep
    /// their stored values).
    pub fn update<T: Resource>(&self, uuid: &str, obj: &T) -> Result<(), ApiError> {
        let body = Envelope::update(obj).to_body();
        self.request("PUT", &format!("/{}/{uuid}", T::TYPE), Some(&body))
            .map(drop)
    }

    /// `GET /<type>/<uuid>` with optional `fields=`; the object itself (unwrapped).
    pub fn read(&self, ty: &str, uuid: &str, fields: &[&str]) -> Result<Value, ApiError> {
        let mut path = format!("/{ty}/{uuid}");
        if !fields.is_empty() {
            path.push_str(&format!("?fields={}", percent_encode(&fields.join(","))));
        }
        let mut resp = self.request("GET", &path, None)?;
        match resp.get_mut(ty).map(Value::take) {
            Some(v @ Value::Object(_)) => Ok(v),
            _ => Err(self.decode_error("GET", &path, &format!("no {ty:?} object in the answer"))),
        }
    }

    /// Like [`read`](Self::read), `None` on 404.
    pub fn read_opt(
        &self,
        ty: &str,
        uuid: &str,
        fields: &[&str],
    ) -> Result<Option<Value>, ApiError> {
        match self.read(ty, uuid, fields) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// [`read`](Self::read) into a typed object.
    pub fn read_as<T: Resource>(&self, uuid: &str, fields: &[&str]) -> Result<T, ApiError> {
        let v = self.read(T::TYPE, uuid, fields)?;
        self.decode(T::TYPE, v)
    }

    /// [`read_opt`](Self::read_opt) into a typed object.
    pub fn read_opt_as<T: Resource>(
        &self,
        uuid: &str,
        fields: &[&str],
    ) -> Result<Option<T>, ApiError> {
        match self.read_opt(T::TYPE, uuid, fields)? {
            Some(v) => self.decode(T::TYPE, v).map(Some),
            None => Ok(None),
        }
    }

    /// [`list`](Self::list) with `detail`, into typed objects. The answer
    /// (`{"<type>s": [{"<type>": {...}}, ...]}`) is read from the wire straight into them: a
    /// list of 50,000 objects costs their size, neither the answer's text nor a JSON tree.
    pub fn list_as<T: Resource>(&self, q: &ListQuery) -> Result<Vec<T>, ApiError> {
        let mut out = Vec::new();
        self.list_each(q, |t| out.push(t))?;
        Ok(out)
    }

    /// [`list_as`](Self::list_as), handing each object to `each` as it is read instead of
    /// keeping the list: a caller that keeps a few fields of 50,000 objects holds those only.
    pub fn list_each<T: Resource>(
        &self,
        q: &ListQuery,
        mut each: impl FnMut(T),
    ) -> Result<(), ApiError> {
        let q = ListQuery {
            detail: true,
            ..q.clone()
        };
        let key = format!("{}s", T::TYPE);
        let path = format!("/{key}?{}", q.to_query());
        let found = self.request_with("GET", &path, None, |body| {
            let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(
                64 * 1024,
                body,
            ));
            let found = serde::de::DeserializeSeed::deserialize(
                Listed::<T, _> {
                    each: &mut each,
                    of: std::marker::PhantomData,
                },
                &mut de,
            )?;
            de.end()?;
            Ok(found)
        })?;
        if found {
            Ok(())
        } else {
            Err(self.decode_error("GET", &path, &format!("no {key:?} list in the answer")))
        }
    }

    fn decode<T: Resource>(&self, ty: &str, v: Value) -> Result<T, ApiError> {
        serde_json::from_value(v).map_err(|e| {
            ApiError::new(
                ApiErrorKind::Decode,
                None,
                format!(
                    "Contrail config API {}: a {ty} that cannot be read: {e}",
                    self.endpoint()
                ),
            )
        })
    }

    /// The uuid of the `ty` named `fq`; a missing one is a `NotFound` error saying that it does
    /// not exist.
    pub fn require_id(&self, ty: &str, fq: &FqName) -> Result<String, ApiError> {
        self.fqname_to_id(ty, fq)?.ok_or_else(|| {
            ApiError::new(
                ApiErrorKind::NotFound,
                Some(404),
                format!("{ty} {fq} does not exist"),
            )
        })
    }

    /// `DELETE /<type>/<uuid>`; `Ok(false)` when it was already gone.
    pub fn delete(&self, ty: &str, uuid: &str) -> Result<bool, ApiError> {
        match self.request("DELETE", &format!("/{ty}/{uuid}"), None) {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `GET /<type>s?...`: with `detail`, the objects themselves; else `{href, fq_name, uuid}`.
    pub fn list(&self, ty: &str, q: &ListQuery) -> Result<Vec<Value>, ApiError> {
        let query = q.to_query();
        let path = if query.is_empty() {
            format!("/{ty}s")
        } else {
            format!("/{ty}s?{query}")
        };
        let mut resp = self.request("GET", &path, None)?;
        let key = format!("{ty}s");
        let Some(Value::Array(items)) = resp.get_mut(&key).map(Value::take) else {
            return Err(self.decode_error("GET", &path, &format!("no {key:?} list in the answer")));
        };
        Ok(items
            .into_iter()
            .map(|mut item| match item.get_mut(ty).map(Value::take) {
                Some(inner @ Value::Object(_)) if q.detail => inner,
                _ => item,
            })
            .collect())
    }

    /// `POST /fqname-to-id`; `None` when no such object.
    pub fn fqname_to_id(&self, ty: &str, fq: &FqName) -> Result<Option<String>, ApiError> {
        let body = body(&FqNameToId { ty, fq_name: fq });
        match self.request("POST", "/fqname-to-id", Some(&body)) {
            Ok(v) => v["uuid"]
                .as_str()
                .map(|u| Some(u.to_string()))
                .ok_or_else(|| self.decode_error("POST", "/fqname-to-id", "no uuid in the answer")),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /id-to-fqname`; `None` when no such object.
    pub fn id_to_fqname(&self, uuid: &str) -> Result<Option<(String, FqName)>, ApiError> {
        match self.request("POST", "/id-to-fqname", Some(&body(&IdToFqName { uuid }))) {
            Ok(v) => {
                let fq = FqName::from_json(&v["fq_name"]);
                let ty = v["type"].as_str().map(str::to_string);
                match (ty, fq) {
                    (Some(t), Some(f)) => Ok(Some((t, f))),
                    _ => Err(self.decode_error(
                        "POST",
                        "/id-to-fqname",
                        "no type/fq_name in the answer",
                    )),
                }
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /ref-update`: add (or re-attr) or remove the ref `ty/uuid -> ref_ty/ref_uuid`.
    pub fn ref_update(
        &self,
        ty: &str,
        uuid: &str,
        ref_ty: &str,
        ref_uuid: &str,
        op: RefOp,
        attr: Option<Value>,
    ) -> Result<(), ApiError> {
        let body = body(&RefUpdate {
            ty,
            uuid,
            ref_ty,
            ref_uuid,
            operation: op,
            attr,
        });
        self.request("POST", "/ref-update", Some(&body)).map(drop)
    }

    /// `POST /ref-relax-for-delete`: the reference `uuid -> ref_uuid` (present or to come) no
    /// longer keeps `ref_uuid` from being deleted; deleting it drops the reference.
    pub fn ref_relax_for_delete(&self, uuid: &str, ref_uuid: &str) -> Result<(), ApiError> {
        let body = body(&RefRelax { uuid, ref_uuid });
        self.request("POST", "/ref-relax-for-delete", Some(&body))
            .map(drop)
    }

    fn decode_error(&self, method: &str, path: &str, what: &str) -> ApiError {
        ApiError::new(
            ApiErrorKind::Decode,
            None,
            format!(
                "Contrail config API {method} {}{path}: {what}",
                self.endpoint()
            ),
        )
    }

    fn token(&self, force: bool) -> Result<Option<String>, ApiError> {
        let Some(auth) = &self.inner.auth else {
            return Ok(None);
        };
        let mut guard = self
            .inner
            .token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if force || guard.is_none() {
            *guard = Some(auth::fetch_token(auth, &self.inner.http)?);
        }
        Ok(guard.clone())
    }

    /// One logical call, with retries, fail-over and one re-authentication.
    fn request(&self, method: &str, path: &str, body: Option<&[u8]>) -> Result<Value, ApiError> {
        self.request_with(method, path, body, |answer| {
            let mut text = String::new();
            answer
                .read_to_string(&mut text)
                .map_err(serde_json::Error::io)?;
            if text.trim().is_empty() {
                Ok(Value::Null)
            } else {
                serde_json::from_str(&text)
            }
        })
    }

    /// One logical call whose 2xx answer `decode` reads from the wire (straight into typed
    /// objects, without its text or a `Value` tree in between).
    fn request_with<T>(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        mut decode: impl FnMut(&mut dyn std::io::Read) -> serde_json::Result<T>,
    ) -> Result<T, ApiError> {
        let inner = &*self.inner;
        let mut reauthed = false;
        let mut pause = inner.backoff;
        let mut attempt = 0u32;
        loop {
            let token = match self.token(false) {
                Ok(t) => t,
                Err(e) if e.kind == ApiErrorKind::Unavailable && attempt < inner.retries => {
                    attempt += 1;
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(2));
                    log::debug!("{}; retrying", e.message);
                    continue;
                }
                Err(e) => return Err(e),
            };
            let base = self.endpoint().to_string();
            let url = format!("{base}{path}");
            let what = format!("Contrail config API {method} {url}");
            inner.calls.fetch_add(1, Ordering::Relaxed);
            let outcome = send(&inner.http, method, &url, token.as_deref(), body);
            let err = match outcome {
                Ok((status, resp)) if (200..300).contains(&status) => {
                    let mut answer = resp
                        .into_body()
                        .into_with_config()
                        .limit(MAX_ANSWER)
                        .reader();
                    return decode(&mut answer).map_err(|e| {
                        inner.errors.fetch_add(1, Ordering::Relaxed);
                        let how = if e.is_io() {
                            "cannot read the answer"
                        } else {
                            "answer is not JSON"
                        };
                        ApiError::new(
                            ApiErrorKind::Decode,
                            Some(status),
                            format!("{what}: {how}: {e}"),
                        )
                    });
                }
                Ok((401, _)) if inner.auth.is_some() && !reauthed => {
                    reauthed = true;
                    inner.errors.fetch_add(1, Ordering::Relaxed);
                    self.token(true)?;
                    continue;
                }
                Ok((status, mut resp)) => ApiError::new(
                    ApiError::kind_for_status(status),
                    Some(status),
                    format!(
                        "{what}: {status} {}",
                        short(&http_client::body_text(&mut resp, 64 * 1024))
                    ),
                ),
                Err(e) => ApiError::new(ApiErrorKind::Unavailable, None, format!("{what}: {e}")),
            };
            inner.errors.fetch_add(1, Ordering::Relaxed);
            if err.kind != ApiErrorKind::Unavailable {
                return Err(err);
            }
            if attempt >= inner.retries {
                return Err(ApiError {
                    message: format!("{} (gave up after {} attempts)", err.message, attempt + 1),
                    ..err
                });
            }
            log::debug!("{}; retrying", err.message);
            // Fail over: the next attempt goes to the next endpoint.
            inner.current.fetch_add(1, Ordering::Relaxed);
            attempt += 1;
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }
}

/// A request body: the JSON text of `v`.
fn body(v: &impl Serialize) -> Vec<u8> {
    // The bodies are the model's types and the small structs below: nothing in them fails to
    // serialize (no map key other than a string).
    serde_json::to_vec(v).unwrap_or_default()
}

/// `{<type>: {parent_type?, ...}}`: a create (with the type's parent) or an update.
struct Envelope<'a, T> {
    obj: &'a T,
    parent: Option<&'static str>,
}

impl<'a, T: Resource> Envelope<'a, T> {
    fn create(obj: &'a T) -> Self {
        Self {
            obj,
            parent: T::PARENT,
        }
    }

    fn update(obj: &'a T) -> Self {
        Self { obj, parent: None }
    }

    fn to_body(&self) -> Vec<u8> {
        body(self)
    }
}

impl<T: Resource> Serialize for Envelope<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Inner<'a, T> {
            #[serde(skip_serializing_if = "Option::is_none")]
            parent_type: Option<&'static str>,
            #[serde(flatten)]
            obj: &'a T,
        }
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(
            T::TYPE,
            &Inner {
                parent_type: self.parent,
                obj: self.obj,
            },
        )?;
        m.end()
    }
}

/// `POST /fqname-to-id`.
#[derive(Serialize)]
struct FqNameToId<'a> {
    #[serde(rename = "type")]
    ty: &'a str,
    fq_name: &'a FqName,
}

/// `POST /id-to-fqname`.
#[derive(Serialize)]
struct IdToFqName<'a> {
    uuid: &'a str,
}

/// `POST /ref-update`.
#[derive(Serialize)]
struct RefUpdate<'a> {
    #[serde(rename = "type")]
    ty: &'a str,
    uuid: &'a str,
    #[serde(rename = "ref-type")]
    ref_ty: &'a str,
    #[serde(rename = "ref-uuid")]
    ref_uuid: &'a str,
    operation: RefOp,
    attr: Option<Value>,
}

/// `POST /ref-relax-for-delete`.
#[derive(Serialize)]
struct RefRelax<'a> {
    uuid: &'a str,
    #[serde(rename = "ref-uuid")]
    ref_uuid: &'a str,
}

fn short(text: &str) -> String {
    let t = text.trim();
    if t.len() > 500 {
        let mut end = 500;
        while !t.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &t[..end])
    } else {
        t.to_string()
    }
}

/// The largest answer read.
const MAX_ANSWER: u64 = 256 * 1024 * 1024;

/// Send one request; the answer's status and the answer, its body not read yet.
fn send(
    http: &ureq::Agent,
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> Result<(u16, ureq::http::Response<ureq::Body>), String> {
    const JSON: &str = "application/json";
    let result = match (method, body) {
        ("GET", _) => with_token(http.get(url), token).call(),
        ("DELETE", _) => with_token(http.delete(url), token).call(),
        ("PUT", Some(b)) => with_token(http.put(url), token)
            .header("Content-Type", JSON)
            .send(b),
        ("POST", Some(b)) => with_token(http.post(url), token)
            .header("Content-Type", JSON)
            .send(b),
        ("PUT", None) => with_token(http.put(url), token).send_empty(),
        (_, _) => with_token(http.post(url), token).send_empty(),
    };
    match result {
        Ok(resp) => Ok((resp.status().as_u16(), resp)),
        Err(e) => Err(http_client::describe(&e)),
    }
}

/// A list answer, `{"<type>s": [{"<type>": {...}}, ...], ...}`, its objects handed to `each`
/// as they are read; deserializes to whether the list was there.
struct Listed<'a, T, F> {
    each: &'a mut F,
    of: std::marker::PhantomData<T>,
}

impl<'de, T: Resource, F: FnMut(T)> serde::de::DeserializeSeed<'de> for Listed<'_, T, F> {
    type Value = bool;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: Resource, F: FnMut(T)> serde::de::Visitor<'de> for Listed<'_, T, F> {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "an object with a {:?} list", format!("{}s", T::TYPE))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            if key.strip_suffix('s') == Some(T::TYPE) {
                map.next_value_seed(Items::<T, F> {
                    each: &mut *self.each,
                    of: std::marker::PhantomData,
                })?;
                found = true;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// The list itself, each entry's object handed on.
struct Items<'a, T, F> {
    each: &'a mut F,
    of: std::marker::PhantomData<T>,
}

impl<'de, T: Resource, F: FnMut(T)> serde::de::DeserializeSeed<'de> for Items<'_, T, F> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T: Resource, F: FnMut(T)> serde::de::Visitor<'de> for Items<'_, T, F> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a list of {:?} entries", T::TYPE)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(Entry(t)) = seq.next_element::<Entry<T>>()? {
            (self.each)(t);
        }
        Ok(())
    }
}

/// One list entry, `{"<type>": {...}}`.
struct Entry<T>(T);

impl<'de, T: Resource> serde::Deserialize<'de> for Entry<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct One<T>(std::marker::PhantomData<T>);
        impl<'de, T: Resource> serde::de::Visitor<'de> for One<T> {
            type Value = Entry<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "a list entry with {:?}", T::TYPE)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut found = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == T::TYPE {
                        found = Some(map.next_value::<T>()?);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                found.map(Entry).ok_or_else(|| {
                    serde::de::Error::custom(format!("a list entry without {:?}", T::TYPE))
                })
            }
        }
        d.deserialize_map(One(std::marker::PhantomData))
    }
}

fn with_token<B>(req: ureq::RequestBuilder<B>, token: Option<&str>) -> ureq::RequestBuilder<B> {
    let req = req.header("Accept", "application/json");
    match token {
        Some(t) => req.header("X-Auth-Token", t),
        None => req,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_query_encoding() {
        let q = ListQuery {
            detail: true,
            fields: vec!["a".into(), "b_refs".into()],
            parent_id: vec!["p1".into()],
            filters: vec![("server_type".into(), "container".into())],
            ..ListQuery::default()
        };
        assert_eq!(
            q.to_query(),
            "detail=true&fields=a%2Cb_refs&parent_id=p1&filters=server_type%3D%3Dcontainer"
        );
        assert_eq!(ListQuery::default().to_query(), "");
    }

    #[test]
    fn unreachable_endpoints_give_unavailable_after_retries() {
        let (a, b) = (
            crate::http::client::closed_port(),
            crate::http::client::closed_port(),
        );
        let mut opts = ApiOptions::new(vec![
            format!("http://127.0.0.1:{a}"),
            format!("http://127.0.0.1:{b}/"),
        ]);
        opts.retries = 2;
        opts.backoff = Duration::from_millis(1);
        let api = ConfigApi::new(opts).expect("client");
        let e = api.read("project", "x", &[]).expect_err("nothing listens");
        assert_eq!(e.kind, ApiErrorKind::Unavailable, "{}", e.message);
        assert!(e.message.contains("http://127.0.0.1:"), "{}", e.message);
        assert_eq!(api.calls(), 3);
    }

    #[test]
    fn no_endpoint_is_an_error() {
        assert!(ConfigApi::new(ApiOptions::new(vec![" ".into()])).is_err());
    }
}
