//! API tokens (admin): `GET /api/v1/tokens`, `POST /api/v1/tokens` (the token is in this
//! answer only; hrsync keeps its hash), `DELETE /api/v1/tokens/{name}`.

use super::paging::{Page, PageQuery};
use super::problem::Problem;
use super::record::Changed;
use super::{ApiState, blocking};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use hrsync_auth::http::AsAdmin;
use hrsync_auth::{Role, TokenInfo};
use serde::{Deserialize, Serialize};

/// A token as listed: never the token itself nor its hash.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
}

impl From<TokenInfo> for TokenView {
    fn from(t: TokenInfo) -> TokenView {
        TokenView {
            id: t.id,
            name: t.name,
            role: t.role.as_str().to_string(),
            created_at: t.created_at,
            created_by: t.created_by,
            expires_at: t.expires_at,
            last_used: t.last_used,
            revoked_at: t.revoked_at,
            revoked_by: t.revoked_by,
        }
    }
}

/// A token to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewTokenRequest {
    /// A name to know it by (unique among live tokens).
    pub name: String,
    /// `viewer`, `operator` or `admin`.
    pub role: String,
    /// Days until it expires; absent: it never expires.
    pub expires_in_days: Option<u32>,
}

/// A created token: `token` is shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// Send as `Authorization: Bearer <token>`. hrsync keeps only its hash: it cannot be shown again.
    pub token: String,
    #[serde(flatten)]
    pub info: TokenView,
}

/// API tokens, live and revoked.
#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    operation_id = "list_tokens",
    tag = "tokens",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of tokens", body = Page<TokenView>),
        (status = 403, description = "Not an admin", body = Problem),
    )
)]
pub async fn list(
    State(st): State<ApiState>,
    _admin: AsAdmin,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<TokenView>>, Problem> {
    let auth = st.auth.clone();
    let all = blocking(move || Ok(auth.tokens()?)).await?;
    let views: Vec<TokenView> = all.into_iter().map(TokenView::from).collect();
    Ok(Json(Page::of_all(views, &page)?))
}

/// Creates a token.
#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    tag = "tokens",
    request_body = NewTokenRequest,
    responses(
        (status = 201, description = "Created; the token is in this answer only", body = CreatedToken),
        (status = 400, description = "Bad name or role", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
    )
)]
pub async fn create(
    State(st): State<ApiState>,
    AsAdmin(p): AsAdmin,
    Json(req): Json<NewTokenRequest>,
) -> Result<Response, Problem> {
    let role: Role = req
        .role
        .parse()
        .map_err(|e: hrsync_auth::UnknownRole| Problem::bad_request(e.to_string()))?;
    let expires = req
        .expires_in_days
        .map(|d| Utc::now() + Duration::days(i64::from(d)));
    let (auth, by, name) = (st.auth.clone(), p.audit_name(), req.name.clone());
    let made = blocking(move || Ok(auth.create_token(&name, role, expires, &by)?)).await?;
    let view = TokenView::from(made.info.clone());
    let changed = Changed(format!(
        "created API token {:?} with role {}",
        view.name, view.role
    ));
    let mut resp = (
        StatusCode::CREATED,
        Json(CreatedToken {
            token: made.secret.clone(),
            info: view,
        }),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.extensions_mut().insert(changed);
    Ok(resp)
}

/// Revokes a live token (by name or id): it stops working at once.
#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{name}",
    tag = "tokens",
    params(("name" = String, Path, description = "The token's name or id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No live token of that name", body = Problem),
    )
)]
pub async fn revoke(
    State(st): State<ApiState>,
    AsAdmin(p): AsAdmin,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    let (auth, by, n) = (st.auth.clone(), p.audit_name(), name.clone());
    let id = blocking(move || Ok(auth.revoke_token(&n, &by)?)).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.extensions_mut()
        .insert(Changed(format!("revoked API token {name:?} (id {id})")));
    Ok(resp)
}
