//! Keystone token authentication (v3 and v2.0) for the config API.

use std::fmt;

use serde_json::{Value, json};

use super::error::{ApiError, ApiErrorKind};
use crate::http::client as http_client;

/// Credentials from the `[AUTH]` section.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// The full token URL: `.../v3/auth/tokens` or `.../v2.0/tokens`.
    pub token_url: String,
    pub user: String,
    pub password: String,
    pub tenant: String,
    pub user_domain: String,
    pub project_domain: String,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("token_url", &self.token_url)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("tenant", &self.tenant)
            .finish()
    }
}

impl AuthConfig {
    pub fn is_v3(&self) -> bool {
        self.token_url.contains("/v3")
    }

    /// Ask Keystone for a token.
    pub fn fetch_token(&self, http: &ureq::Agent) -> Result<String, ApiError> {
        let body = if self.is_v3() {
            json!({"auth": {
                "identity": {"methods": ["password"], "password": {"user": {
                    "name": self.user, "domain": {"name": self.user_domain}, "password": self.password}}},
                "scope": {"project": {"name": self.tenant, "domain": {"name": self.project_domain}}}}})
        } else {
            json!({"auth": {"passwordCredentials": {"username": self.user, "password": self.password},
                            "tenantName": self.tenant}})
        };
        let what = format!("Keystone at {} (user {:?})", self.token_url, self.user);
        let mut resp = http.post(&self.token_url).send_json(&body).map_err(|e| {
            ApiError::new(
                ApiErrorKind::Unavailable,
                None,
                format!("{what}: {}", http_client::describe(&e)),
            )
        })?;
        let status = resp.status().as_u16();
        let header_token = resp
            .headers()
            .get("X-Subject-Token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = http_client::body_text(&mut resp, 4 * 1024 * 1024);
        if !(200..300).contains(&status) {
            let kind = match ApiError::kind_for_status(status) {
                ApiErrorKind::NotFound | ApiErrorKind::BadRequest => ApiErrorKind::Unauthorized,
                k => k,
            };
            return Err(ApiError::new(
                kind,
                Some(status),
                format!("{what} refused the credentials: status {status}"),
            ));
        }
        let token = if self.is_v3() {
            header_token
        } else {
            serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["access"]["token"]["id"].as_str().map(str::to_string))
        };
        token.filter(|t| !t.is_empty()).ok_or_else(|| {
            ApiError::new(
                ApiErrorKind::Decode,
                Some(status),
                format!("{what} answered {status} without a token"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let a = AuthConfig {
            token_url: "http://k/v3/auth/tokens".into(),
            user: "admin".into(),
            password: "s3cret-pw".into(),
            tenant: "admin".into(),
            user_domain: "Default".into(),
            project_domain: "Default".into(),
        };
        let d = format!("{a:?}");
        assert!(!d.contains("s3cret-pw"), "{d}");
        assert!(a.is_v3());
    }
}
