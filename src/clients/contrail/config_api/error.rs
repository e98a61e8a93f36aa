//! Errors of the config API client, typed by what a caller does about them.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// No server answered (connection refused, timeout, every endpoint down), or every answer
    /// was 502/503/504 within the retry budget.
    Unavailable,
    NotFound,
    Conflict,
    BadRequest,
    /// 401 even after authenticating again, or Keystone refused the credentials.
    Unauthorized,
    Forbidden,
    /// Any other status.
    Server,
    /// A 2xx answer that is not the JSON expected.
    Decode,
}

/// A failed call. `message` says what was asked of which server and what it answered; it never
/// contains a token or password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ApiErrorKind,
    pub status: Option<u16>,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ApiErrorKind, status: Option<u16>, message: impl Into<String>) -> Self {
        Self {
            kind,
            status,
            message: message.into(),
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.kind == ApiErrorKind::NotFound
    }

    pub fn is_conflict(&self) -> bool {
        self.kind == ApiErrorKind::Conflict
    }

    pub fn kind_for_status(status: u16) -> ApiErrorKind {
        match status {
            400 => ApiErrorKind::BadRequest,
            401 => ApiErrorKind::Unauthorized,
            403 => ApiErrorKind::Forbidden,
            404 => ApiErrorKind::NotFound,
            409 => ApiErrorKind::Conflict,
            502..=504 => ApiErrorKind::Unavailable,
            _ => ApiErrorKind::Server,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}
