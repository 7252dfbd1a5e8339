//! Errors of the API as RFC 9457 problem details (`application/problem+json`), with a stable
//! `type` per kind of error (`urn:hrsync:problem:<kind>`, the same scheme as sign-in errors),
//! so a client can branch on the kind and show the `detail` to a person.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hrsync_auth::http::PROBLEM_TYPE_PREFIX;
use serde::Serialize;

/// One problem: what the client is told.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:hrsync:problem:<kind>`: stable, one per kind of error.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// For validation errors: each error with the config key it is about, as `check` names it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// For a 412: the file's current hash, to retry with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_etag: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The config key (`mapping[users].attributes.mail`) or request field.
    pub key: String,
    pub message: String,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("{PROBLEM_TYPE_PREFIX}{kind}"),
            title: status.canonical_reason().unwrap_or("error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            current_etag: None,
        }
    }
    pub fn not_found(what: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not-found", what)
    }
    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }
    pub fn conflict(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::CONFLICT, "conflict", detail)
    }
    pub fn invalid(errors: Vec<FieldError>) -> Problem {
        let mut p = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-config",
            format!(
                "the configuration would not be valid ({} error(s))",
                errors.len()
            ),
        );
        p.errors = errors;
        p
    }
    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }
    /// A state-changing request on the configuration without `If-Match`.
    pub fn precondition_required() -> Problem {
        Problem::new(
            StatusCode::PRECONDITION_REQUIRED,
            "if-match-required",
            "send If-Match with the config's hash (the ETag of GET /api/v1/config) so that two editors never overwrite each other",
        )
    }
    pub fn precondition_failed(current: String) -> Problem {
        let mut p = Problem::new(
            StatusCode::PRECONDITION_FAILED,
            "edit-conflict",
            "the configuration changed since you read it; read it again and redo your edit",
        );
        p.current_etag = Some(current);
        p
    }
    /// An internal error: logged in full, the client told only that it happened.
    pub fn internal(err: impl std::fmt::Display) -> Problem {
        tracing::error!("API request failed: {err}");
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the request failed inside hrsync; see the server's log",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_string(&self).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        resp
    }
}

impl From<hrsync_auth::AuthError> for Problem {
    fn from(e: hrsync_auth::AuthError) -> Problem {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            return Problem::internal(e);
        }
        Problem::new(status, e.kind(), e.to_string())
    }
}

impl From<hrsync_config::edit::EditError> for Problem {
    fn from(e: hrsync_config::edit::EditError) -> Problem {
        use hrsync_config::edit::EditError as E;
        match e {
            E::Conflict { current_hash } => Problem::precondition_failed(current_hash),
            E::Invalid(errors) => Problem::invalid(
                errors
                    .into_iter()
                    .map(|message| FieldError {
                        key: config_key_of(&message),
                        message,
                    })
                    .collect(),
            ),
            E::VersionNotFound { .. } | E::NotFound { .. } => {
                Problem::new(StatusCode::NOT_FOUND, "not-found", e.to_string())
            }
            E::LiteralSecret { .. } => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "literal-secret",
                e.to_string(),
            ),
            E::BadPath { .. }
            | E::PathSyntax(_)
            | E::Ambiguous { .. }
            | E::WrongType { .. }
            | E::BadValue { .. } => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "bad-edit", e.to_string())
            }
            other => Problem::internal(other),
        }
    }
}

/// The config key a validation message is about, as `check` words it (`…: mapping[users]
/// attribute mail: …` or `[directory].url: …`): the text before the first `": "` after the
/// file name, or empty when the message names none.
fn config_key_of(message: &str) -> String {
    let rest = match message.split_once(".toml: ") {
        Some((_, r)) => r,
        None => message,
    };
    match rest.split_once(": ") {
        Some((k, _)) if k.len() < 120 && !k.contains(". ") => k.to_string(),
        _ => String::new(),
    }
}
