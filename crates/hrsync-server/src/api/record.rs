//! The audit of state-changing requests: a middleware that records every request whose method
//! can change something (whatever its answer: a refused one is recorded too) with the
//! operator, how they were known, the source address, the route, the status, and what the
//! handler says it changed ([`Changed`], a response extension: a config edit's redacted diff,
//! the run started, the token created — never a secret). `GET /api/v1/audit/requests` lists
//! them.

use super::paging::{Page, PageQuery};
use super::problem::Problem;
use super::{ApiState, blocking, client_address};
use axum::Json;
use axum::extract::{MatchedPath, Query, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Utc};
use hrsync_auth::http::{AsViewer, authenticate_async, is_safe};
use hrsync_auth::{Principal, Via};
use hrsync_state::api_requests::{ApiRequestFilter, ApiRequestRow, NewApiRequest};
use serde::Deserialize;

/// What a request changed, in words, for its audit row (a response extension).
#[derive(Debug, Clone)]
pub struct Changed(pub String);

/// Who acted when the request itself carried no credentials (a sign-in: the user name
/// tried), for its audit row (a response extension).
#[derive(Debug, Clone)]
pub struct Actor(pub String);

fn via_text(via: Via) -> &'static str {
    match via {
        Via::Session => "session",
        Via::Token => "token",
        Via::BreakGlass => "break-glass",
    }
}

/// The middleware (`from_fn_with_state`).
pub async fn record(State(st): State<ApiState>, mut req: Request, next: Next) -> Response {
    if is_safe(req.method()) {
        return next.run(req).await;
    }
    // Authenticated once here; the handler's extractor finds the principal in the request.
    let who: Option<Principal> =
        authenticate_async(st.auth.clone(), req.method().clone(), req.headers().clone())
            .await
            .ok();
    if let Some(p) = &who {
        req.extensions_mut().insert(p.clone());
    }
    // Refused (a missing CSRF token, say): whose session or token it was still goes into
    // the audit (it is refused all the same by the handler's extractor).
    let refused = match who {
        Some(_) => None,
        None => authenticate_async(st.auth.clone(), Method::GET, req.headers().clone())
            .await
            .ok(),
    };
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let path = req.uri().path().to_string();
    let source = client_address(req.extensions()).map(|a| a.ip().to_string());
    let resp = next.run(req).await;
    let detail = resp
        .extensions()
        .get::<Changed>()
        .map(|c| c.0.clone())
        .unwrap_or_default();
    let (operator, via) = match (&who, &refused, resp.extensions().get::<Actor>()) {
        (Some(p), _, _) => (p.audit_name(), via_text(p.via)),
        (None, Some(p), _) => (p.audit_name(), "refused"),
        (None, None, Some(a)) => (a.0.clone(), "none"),
        (None, None, None) => ("anonymous".to_string(), "none"),
    };
    let status = resp.status().as_u16();
    let svc = st.svc.clone();
    let recorded = blocking(move || {
        let store = svc.store().map_err(Problem::internal)?;
        store
            .api_request_record(&NewApiRequest {
                at: Utc::now(),
                operator: &operator,
                via,
                source: source.as_deref(),
                method: &method,
                route: &route,
                path: &path,
                status,
                detail: &detail,
            })
            .map_err(Problem::internal)?;
        Ok(())
    })
    .await;
    if recorded.is_err() {
        tracing::error!("the API request above was not recorded in the request audit");
    }
    resp
}

/// Filters of `GET /api/v1/audit/requests`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestFilter {
    /// Only this operator's requests (`alice`, `token:ci`, `break-glass:root`, `anonymous`).
    pub operator: Option<String>,
    /// Requests at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Requests before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
}

/// A recorded request.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RequestView {
    pub id: i64,
    pub at: String,
    pub operator: String,
    /// `session`, `token`, `break-glass`; `refused` (known, but the request was not
    /// authenticated: no CSRF token); `none`.
    pub via: String,
    pub source: Option<String>,
    pub method: String,
    pub route: String,
    pub path: String,
    pub status: u16,
    pub detail: String,
}

impl From<ApiRequestRow> for RequestView {
    fn from(r: ApiRequestRow) -> RequestView {
        RequestView {
            id: r.id,
            at: r.at,
            operator: r.operator,
            via: r.via,
            source: r.source,
            method: r.method,
            route: r.route,
            path: r.path,
            status: r.status,
            detail: r.detail,
        }
    }
}

/// The audit of the API's state-changing requests, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/audit/requests",
    tag = "audit",
    params(RequestFilter, PageQuery),
    responses(
        (status = 200, description = "A page of requests", body = Page<RequestView>),
        (status = 401, description = "Not signed in", body = Problem),
    )
)]
pub async fn requests(
    State(st): State<ApiState>,
    _viewer: AsViewer,
    Query(filter): Query<RequestFilter>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<RequestView>>, Problem> {
    let before = page.before()?;
    let limit = page.limit();
    let svc = st.svc.clone();
    let rows = blocking(move || {
        let store = svc.store().map_err(Problem::internal)?;
        let f = ApiRequestFilter {
            operator: filter.operator.as_deref(),
            since: filter.since,
            until: filter.until,
        };
        store
            .api_requests(&f, before, limit + 1)
            .map_err(Problem::internal)
    })
    .await?;
    let rows: Vec<RequestView> = rows.into_iter().map(RequestView::from).collect();
    Ok(Json(Page::from_rows(rows, limit, |r| r.id)))
}
