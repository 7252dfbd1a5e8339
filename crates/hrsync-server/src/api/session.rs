//! Sign-in and sign-out: `POST /api/v1/session` (a directory account, or the break-glass
//! admin), `GET /api/v1/session` (who am I), `DELETE /api/v1/session`.

use super::problem::Problem;
use super::record::{Actor, Changed};
use super::{ApiState, ClientAddr};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use hrsync_auth::{AuthError, Principal, Role, sessions};
use hrsync_model::secret::Secret;
use serde::{Deserialize, Serialize};

/// A sign-in.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct Credentials {
    /// The directory user name (its `uid` or `sAMAccountName`, as `[server.auth]` says).
    pub user: String,
    #[schema(format = Password)]
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Who a request acts as.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Me {
    pub user: String,
    /// The directory entry (directory sign-ins only).
    pub dn: Option<String>,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    /// `session`, `token` or `break-glass`.
    pub via: String,
    /// The name the audit records.
    pub audit_name: String,
}

impl From<&Principal> for Me {
    fn from(p: &Principal) -> Me {
        Me {
            user: p.name.clone(),
            dn: p.dn.clone(),
            role: p.role.as_str().to_string(),
            via: serde_json::to_value(p.via)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            audit_name: p.audit_name(),
        }
    }
}

/// A new session.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignedIn {
    #[serde(flatten)]
    pub me: Me,
    /// Send back in `X-CSRF-Token` on every state-changing request of this session.
    pub csrf_token: String,
    /// When the session ends at the latest (it also ends after being idle).
    pub expires_at: DateTime<Utc>,
}

/// Signs in: opens a session (cookie `hrsync_session`, HttpOnly, SameSite=Strict, Secure over
/// TLS) and returns its CSRF token. A session cookie sent along is ended (never reused).
#[utoipa::path(
    post,
    path = "/api/v1/session",
    tag = "session",
    security(()),
    request_body = Credentials,
    responses(
        (status = 201, description = "Signed in; the cookie is set", body = SignedIn),
        (status = 401, description = "Wrong user name or password", body = Problem),
        (status = 403, description = "The account is in none of the role groups", body = Problem),
        (status = 429, description = "Too many failed sign-ins: try again later (Retry-After)", body = Problem),
    )
)]
pub async fn login(
    State(st): State<ApiState>,
    headers: HeaderMap,
    ClientAddr(addr): ClientAddr,
    Json(c): Json<Credentials>,
) -> Response {
    let source = addr.map(|a| a.ip());
    // The session a cookie sent along names ends: a sign-in never keeps an old session id.
    if let Some(old) = cookie(&headers) {
        let (auth, old) = (st.auth.clone(), old.to_string());
        let _ = tokio::task::spawn_blocking(move || auth.logout(&old)).await;
    }
    let user = c.user.trim().to_string();
    let password = Secret::new(c.password);
    let actor = Actor(user.clone());
    match st.auth.login(&user, &password, source).await {
        Ok(s) => {
            let body = SignedIn {
                me: Me::from(&s.principal),
                csrf_token: s.csrf_token.clone(),
                expires_at: s.expires_at,
            };
            let mut resp = (StatusCode::CREATED, Json(body)).into_response();
            if let Ok(v) = HeaderValue::from_str(&s.set_cookie(st.secure)) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp.extensions_mut().insert(actor);
            resp.extensions_mut().insert(Changed(format!(
                "signed in as {} ({})",
                s.principal.audit_name(),
                s.principal.role
            )));
            resp
        }
        Err(e) => {
            let why = format!("sign-in refused: {}", e.kind());
            let mut resp = e.into_response();
            resp.extensions_mut().insert(actor);
            resp.extensions_mut().insert(Changed(why));
            resp
        }
    }
}

fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(sessions::cookie_value)
}

/// Who the request acts as (a session or a token).
#[utoipa::path(
    get,
    path = "/api/v1/session",
    tag = "session",
    responses(
        (status = 200, description = "The principal", body = Me),
        (status = 401, description = "Not signed in", body = Problem),
    )
)]
pub async fn current(p: Principal) -> Result<Json<Me>, Problem> {
    p.require(Role::Viewer)?;
    Ok(Json(Me::from(&p)))
}

/// Signs out: the session ends on the server (its cookie no longer works anywhere).
#[utoipa::path(
    delete,
    path = "/api/v1/session",
    tag = "session",
    responses(
        (status = 204, description = "Signed out; the cookie is cleared"),
        (status = 401, description = "Not signed in", body = Problem),
        (status = 403, description = "No CSRF token", body = Problem),
    )
)]
pub async fn logout(
    State(st): State<ApiState>,
    p: Principal,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    if p.via == hrsync_auth::Via::Token {
        return Err(Problem::bad_request(
            "an API token has no session to end: revoke it instead (DELETE /api/v1/tokens/{name})",
        ));
    }
    let value = cookie(&headers)
        .ok_or(AuthError::Unauthenticated)?
        .to_string();
    let auth = st.auth.clone();
    tokio::task::spawn_blocking(move || auth.logout(&value))
        .await
        .map_err(Problem::internal)??;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&sessions::clear_cookie(st.secure)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp.extensions_mut()
        .insert(Changed(format!("signed out {}", p.audit_name())));
    Ok(resp)
}
