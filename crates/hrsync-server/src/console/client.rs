//! The console's client of the REST API: a request to `/api/v1/…` made in process (the API's
//! router called with `oneshot`) with the browser's session cookie, its CSRF token and its
//! address, so that the API's role check, validation and request audit see the console's
//! requests exactly as they would see the browser's.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::Value;
use std::net::SocketAddr;
use tower::ServiceExt;

/// The largest API answer the console reads (a page of a list is far smaller).
const MAX_BODY: usize = 32 * 1024 * 1024;

/// Who the API calls are made for.
#[derive(Clone)]
pub struct Caller {
    /// The `Cookie` header to send (the session cookie only).
    pub cookie: String,
    /// The session's CSRF token (sent on every state-changing request).
    pub csrf: String,
    pub addr: Option<SocketAddr>,
}

/// What the API answered (2xx).
#[derive(Debug, Clone)]
#[allow(dead_code)] // status and etag: read by the pages of the next commits
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The JSON body (`Null` when empty; a string when not JSON).
    pub body: Value,
}

#[allow(dead_code)]
impl Reply {
    /// The `ETag` header without its quotes (the config's hash for `If-Match`).
    pub fn etag(&self) -> Option<String> {
        self.headers
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim_matches('"').to_string())
    }
}

/// What the API refused (its problem details), or a failure to ask it.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// The problem+json body (`type`, `title`, `detail`, `errors`).
    pub problem: Value,
}

#[allow(dead_code)] // detail, kind: read by the pages of the next commits
impl ApiError {
    pub fn detail(&self) -> String {
        self.problem
            .get("detail")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| self.status.to_string())
    }
    /// The problem's kind (`forbidden`, `invalid-config`, `edit-conflict` …).
    pub fn kind(&self) -> &str {
        self.problem
            .get("type")
            .and_then(Value::as_str)
            .and_then(|t| t.rsplit(':').next())
            .unwrap_or("")
    }
    fn internal(detail: String) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            problem: serde_json::json!({"type": "urn:hrsync:problem:internal", "title": "Internal Server Error", "detail": detail}),
        }
    }
}

/// Calls the API: `path` starts with `/api/v1/`; `body` is sent as JSON; `if_match` as
/// `If-Match`.
pub async fn call(
    api: &Router,
    who: &Caller,
    method: Method,
    path: &str,
    body: Option<&Value>,
    if_match: Option<&str>,
) -> Result<Reply, ApiError> {
    let mut req = Request::builder()
        .method(method.clone())
        .uri(path)
        .header(header::COOKIE, &who.cookie)
        .header(header::ACCEPT, "application/json");
    if !hrsync_auth::http::is_safe(&method) {
        req = req.header(hrsync_auth::sessions::CSRF_HEADER, &who.csrf);
    }
    if let Some(tag) = if_match {
        req = req.header(header::IF_MATCH, format!("\"{tag}\""));
    }
    let body = match body {
        Some(v) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(serde_json::to_vec(v).map_err(|e| ApiError::internal(e.to_string()))?)
        }
        None => Body::empty(),
    };
    let mut req = req
        .body(body)
        .map_err(|e| ApiError::internal(format!("cannot build the API request {path}: {e}")))?;
    if let Some(addr) = who.addr {
        req.extensions_mut().insert(ConnectInfo(addr));
    }
    let resp = api
        .clone()
        .oneshot(req)
        .await
        .map_err(|e| ApiError::internal(format!("the API did not answer {path}: {e}")))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), MAX_BODY)
        .await
        .map_err(|e| ApiError::internal(format!("cannot read the API's answer to {path}: {e}")))?;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    if status.is_success() {
        Ok(Reply {
            status,
            headers,
            body,
        })
    } else {
        let problem = if body.is_object() {
            body
        } else {
            serde_json::json!({"title": status.canonical_reason(), "status": status.as_u16(), "detail": body.as_str().unwrap_or_default()})
        };
        Err(ApiError { status, problem })
    }
}

/// Percent-encodes one path segment or query value for an API path.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_hostile_segments() {
        assert_eq!(super::enc("a b/c?d#é"), "a%20b%2Fc%3Fd%23%C3%A9");
        assert_eq!(super::enc("emp-1_x.y~"), "emp-1_x.y~");
    }
}
