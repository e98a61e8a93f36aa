//! Keystone token authentication (v3 and v2.0) for the config API.

use serde_json::{Value, json};

use super::error::{ApiError, ApiErrorKind};
use crate::domain::settings::AuthConfig;
use crate::http::client as http_client;

/// Ask Keystone for a token.
pub fn fetch_token(cfg: &AuthConfig, http: &ureq::Agent) -> Result<String, ApiError> {
    let body = if cfg.is_v3() {
        json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": cfg.user, "domain": {"name": cfg.user_domain}, "password": cfg.password}}},
            "scope": {"project": {"name": cfg.tenant, "domain": {"name": cfg.project_domain}}}}})
    } else {
        json!({"auth": {"passwordCredentials": {"username": cfg.user, "password": cfg.password},
                        "tenantName": cfg.tenant}})
    };
    let what = format!("Keystone at {} (user {:?})", cfg.token_url, cfg.user);
    let mut resp = http.post(&cfg.token_url).send_json(&body).map_err(|e| {
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
    let token = if cfg.is_v3() {
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
