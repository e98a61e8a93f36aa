//! Keystone token authentication (v3 and v2.0) for the config API.

use serde_json::Value;

use super::error::{ApiError, ApiErrorKind};
use crate::domain::settings::AuthConfig;
use crate::http::client as http_client;

/// Ask Keystone for a token.
pub fn fetch_token(cfg: &AuthConfig, http: &ureq::Agent) -> Result<String, ApiError> {
    let body = if cfg.is_v3() {
        serde_json::to_vec(&v3::Request::of(cfg))
    } else {
        serde_json::to_vec(&v2::Request::of(cfg))
    }
    .unwrap_or_default();
    let what = format!("Keystone at {} (user {:?})", cfg.token_url, cfg.user);
    let mut resp = http
        .post(&cfg.token_url)
        .header("Content-Type", "application/json")
        .send(&body[..])
        .map_err(|e| {
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

/// Keystone v3's password authentication scoped to a project (`POST /v3/auth/tokens`).
mod v3 {
    use serde::Serialize;

    use crate::domain::settings::AuthConfig;

    #[derive(Serialize)]
    pub struct Request<'a> {
        auth: Auth<'a>,
    }

    #[derive(Serialize)]
    struct Auth<'a> {
        identity: Identity<'a>,
        scope: Scope<'a>,
    }

    #[derive(Serialize)]
    struct Identity<'a> {
        methods: [&'a str; 1],
        password: Password<'a>,
    }

    #[derive(Serialize)]
    struct Password<'a> {
        user: User<'a>,
    }

    #[derive(Serialize)]
    struct User<'a> {
        name: &'a str,
        domain: Named<'a>,
        password: &'a str,
    }

    #[derive(Serialize)]
    struct Scope<'a> {
        project: Project<'a>,
    }

    #[derive(Serialize)]
    struct Project<'a> {
        name: &'a str,
        domain: Named<'a>,
    }

    #[derive(Serialize)]
    struct Named<'a> {
        name: &'a str,
    }

    impl<'a> Request<'a> {
        pub fn of(cfg: &'a AuthConfig) -> Self {
            Self {
                auth: Auth {
                    identity: Identity {
                        methods: ["password"],
                        password: Password {
                            user: User {
                                name: &cfg.user,
                                domain: Named {
                                    name: &cfg.user_domain,
                                },
                                password: &cfg.password,
                            },
                        },
                    },
                    scope: Scope {
                        project: Project {
                            name: &cfg.tenant,
                            domain: Named {
                                name: &cfg.project_domain,
                            },
                        },
                    },
                },
            }
        }
    }
}

/// Keystone v2.0's password credentials for a tenant (`POST /v2.0/tokens`).
mod v2 {
    use serde::Serialize;

    use crate::domain::settings::AuthConfig;

    #[derive(Serialize)]
    pub struct Request<'a> {
        auth: Auth<'a>,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Auth<'a> {
        password_credentials: Credentials<'a>,
        tenant_name: &'a str,
    }

    #[derive(Serialize)]
    struct Credentials<'a> {
        username: &'a str,
        password: &'a str,
    }

    impl<'a> Request<'a> {
        pub fn of(cfg: &'a AuthConfig) -> Self {
            Self {
                auth: Auth {
                    password_credentials: Credentials {
                        username: &cfg.user,
                        password: &cfg.password,
                    },
                    tenant_name: &cfg.tenant,
                },
            }
        }
    }
}
