//! A minimal Keystone: password authentication for one user/tenant, v3 (`POST /v3/auth/tokens`,
//! token in `X-Subject-Token`) and v2.0 (`POST /v2.0/tokens`, token in `access.token.id`).
//! Tokens live an hour; [`Keystone::expire_all`] revokes them all at once. Request bodies are
//! read with `Value` indexing, which yields `null` for anything missing or mistyped, so a
//! malformed body is a 400, never a panic.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde_json::json;
use uuid::Uuid;

use super::KeystoneCreds;
use super::pyfmt::{utc_rfc3339_micros, utc_rfc3339_seconds};
use contrail_mesos::http::server::{Request, Response};

const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

pub struct Keystone {
    creds: KeystoneCreds,
    user_id: String,
    project_id: String,
    tokens: Mutex<HashMap<String, SystemTime>>,
}

fn error(status: u16, title: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"error": {"code": status, "title": title, "message": message}}),
    )
}

fn unauthorized() -> Response {
    error(
        401,
        "Unauthorized",
        "The request you have made requires authentication.",
    )
}

fn bad_request(message: &str) -> Response {
    error(400, "Bad Request", message)
}

impl Keystone {
    pub fn new(creds: KeystoneCreds) -> Self {
        Keystone {
            creds,
            user_id: Uuid::new_v4().simple().to_string(),
            project_id: Uuid::new_v4().simple().to_string(),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    fn issue(&self) -> (String, SystemTime, SystemTime) {
        let token = format!("gAAAAA{}", Uuid::new_v4().simple());
        let now = SystemTime::now();
        let expires = now + TOKEN_LIFETIME;
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.clone(), expires);
        (token, now, expires)
    }

    /// Whether a token from `X-Auth-Token` is valid now.
    pub fn valid(&self, token: Option<&str>) -> bool {
        let Some(token) = token else {
            return false;
        };
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens
            .get(token.trim())
            .is_some_and(|exp| *exp > SystemTime::now())
    }

    pub fn expire_all(&self) {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    fn tenant_ok(&self, name: Option<&str>, id: Option<&str>) -> bool {
        match (name, id) {
            (None, None) => true,
            (Some(n), _) => n == self.creds.tenant,
            (None, Some(i)) => i == self.project_id,
        }
    }

    /// `POST /v3/auth/tokens`.
    pub fn v3(&self, req: &Request) -> Response {
        let Ok(body) = req.json() else {
            return bad_request("The request body is not valid JSON.");
        };
        let identity = &body["auth"]["identity"];
        let methods = identity["methods"].as_array();
        if !methods.is_some_and(|m| m.iter().any(|x| x == "password")) {
            return bad_request("auth.identity.methods must include \"password\".");
        }
        let user = &identity["password"]["user"];
        let (Some(name), Some(password)) = (user["name"].as_str(), user["password"].as_str())
        else {
            return bad_request(
                "auth.identity.password.user needs \"name\" and \"password\" strings.",
            );
        };
        if name != self.creds.user || password != self.creds.password {
            return unauthorized();
        }
        let project = &body["auth"]["scope"]["project"];
        if !self.tenant_ok(project["name"].as_str(), project["id"].as_str()) {
            return unauthorized();
        }
        let (token, now, expires) = self.issue();
        let domain = json!({"id": "default", "name": "Default"});
        let body = json!({"token": {
            "methods": ["password"],
            "user": {"id": self.user_id, "name": self.creds.user, "domain": domain},
            "project": {"id": self.project_id, "name": self.creds.tenant, "domain": domain},
            "roles": [{"id": Uuid::new_v4().simple().to_string(), "name": "admin"}],
            "catalog": [],
            "issued_at": utc_rfc3339_micros(now),
            "expires_at": utc_rfc3339_micros(expires),
        }});
        Response::json(201, &body).with_header("X-Subject-Token", &token)
    }

    /// `POST /v2.0/tokens`.
    pub fn v2(&self, req: &Request) -> Response {
        let Ok(body) = req.json() else {
            return bad_request("The request body is not valid JSON.");
        };
        let auth = &body["auth"];
        let creds = &auth["passwordCredentials"];
        let (Some(name), Some(password)) = (creds["username"].as_str(), creds["password"].as_str())
        else {
            return bad_request(
                "auth.passwordCredentials needs \"username\" and \"password\" strings.",
            );
        };
        if name != self.creds.user || password != self.creds.password {
            return unauthorized();
        }
        if !self.tenant_ok(auth["tenantName"].as_str(), auth["tenantId"].as_str()) {
            return unauthorized();
        }
        let (token, now, expires) = self.issue();
        let tenant = json!({"id": self.project_id, "name": self.creds.tenant, "enabled": true});
        let body = json!({"access": {
            "token": {
                "id": token,
                "issued_at": utc_rfc3339_micros(now),
                "expires": utc_rfc3339_seconds(expires),
                "tenant": tenant,
            },
            "user": {
                "id": self.user_id,
                "name": self.creds.user,
                "username": self.creds.user,
                "roles": [{"name": "admin"}],
            },
            "serviceCatalog": [],
            "metadata": {"is_admin": 0, "roles": []},
        }});
        Response::json(200, &body)
    }
}
