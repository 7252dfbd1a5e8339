//! Health, metrics and the API's own document.

use super::ApiState;
use super::problem::Problem;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use hrsync_auth::http::AsViewer;

/// The OpenAPI 3.1 document of this API (generated from the handlers).
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    responses(
        (status = 200, description = "The document", content_type = "application/json"),
        (status = 401, description = "Not signed in", body = Problem),
    )
)]
pub async fn openapi_json(State(st): State<ApiState>, _viewer: AsViewer) -> Response {
    let mut r = st.doc.get().cloned().unwrap_or_default().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// The daemon's health, as `/healthz` says it, for a signed-in client.
#[utoipa::path(
    get,
    path = "/api/v1/health",
    tag = "meta",
    responses(
        (status = 200, description = "`{\"status\": \"ok\"}`, or `degraded` with the reason", body = Object),
        (status = 401, description = "Not signed in", body = Problem),
    )
)]
pub async fn health(State(st): State<ApiState>, _viewer: AsViewer) -> Response {
    crate::health_response(&st.svc).into_response()
}

/// Prometheus metrics, as `/metrics` serves them.
#[utoipa::path(
    get,
    path = "/api/v1/metrics",
    tag = "meta",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain"),
        (status = 401, description = "Not signed in", body = Problem),
    )
)]
pub async fn metrics(_viewer: AsViewer) -> Response {
    crate::metrics_response().into_response()
}
