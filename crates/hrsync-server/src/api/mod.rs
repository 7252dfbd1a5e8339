//! The REST API, `/api/v1` (issue 15 §2): JSON over axum, documented by an OpenAPI 3.1
//! document generated from the handlers (`GET /api/v1/openapi.json`).
//!
//! - Who: every route but sign-in needs a session (cookie + `X-CSRF-Token` on state-changing
//!   requests) or an API token (`Authorization: Bearer hrs_…`); each handler states the role
//!   it needs with its extractor (`AsViewer`, `AsOperator`, `AsAdmin` of `hrsync_auth::http`).
//! - Errors: RFC 9457 problem+json with a stable `type` per kind ([`problem`]).
//! - Lists: cursor paging ([`paging`]).
//! - Every state-changing request is recorded with the operator, the source address and what
//!   changed ([`record`]).
//!
//! Routes are registered only through `utoipa_axum::routes!`, which takes each handler's path
//! and method from its `#[utoipa::path]`: the router and the document cannot drift apart.

// A `Problem` (~130 bytes) is the error of nearly every function here and is built once per
// failed request: boxing it would buy nothing.
#![allow(clippy::result_large_err)]

mod actions;
mod audit;
mod config;
mod directory;
mod discovery;
mod drafts;
mod health;
mod ops;
pub mod paging;
mod plans;
pub mod problem;
mod record;
mod resource_routes;
mod resources;
#[cfg(test)]
mod resources_tests;
mod run_now;
pub(crate) mod runs;
mod session;
mod tokens;
mod webhook_try;

use crate::Service;
use axum::extract::FromRef;
use hrsync_auth::Auth;
use std::sync::{Arc, OnceLock};
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use record::Changed;

/// What every handler gets.
#[derive(Clone)]
pub struct ApiState {
    pub svc: Arc<Service>,
    pub auth: Arc<Auth>,
    /// Served over TLS: cookies carry `Secure`.
    pub secure: bool,
    /// The OpenAPI document, rendered once.
    doc: Arc<OnceLock<String>>,
}

impl FromRef<ApiState> for Arc<Auth> {
    fn from_ref(s: &ApiState) -> Arc<Auth> {
        s.auth.clone()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hrsync",
        description = "hrsync's REST API: integrations, mappings, webhooks, orchestrations, automations, runs, plans, approvals, audit and the configuration, with the roles viewer < operator < admin. Errors are RFC 9457 problem details (application/problem+json) whose `type` is `urn:hrsync:problem:<kind>`. Lists are paged by cursor (`limit`, `cursor` → `next_cursor`).",
        license(name = "Apache-2.0 OR MIT")
    ),
    modifiers(&Security),
    components(schemas(problem::Problem, problem::FieldError)),
    security(("session" = []), ("token" = []))
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                hrsync_auth::sessions::COOKIE_NAME,
                "The session cookie set by POST /api/v1/session; state-changing requests also send the session's CSRF token in X-CSRF-Token.",
            ))),
        );
        c.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token (`hrsync token create`)."))
                    .build(),
            ),
        );
    }
}

/// Every route with its documentation.
fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::openapi_json))
        .routes(routes!(health::health))
        .routes(routes!(health::metrics))
        .routes(routes!(session::login, session::current, session::logout))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(config::get_config))
        .routes(routes!(config::edit))
        .routes(routes!(config::history))
        .routes(routes!(config::version))
        .routes(routes!(config::restore))
        .routes(routes!(record::requests))
        .routes(routes!(runs::start))
        .routes(routes!(runs::get))
        .routes(routes!(runs::events))
        .routes(routes!(runs::cancel))
        .routes(routes!(audit::audit))
        .routes(routes!(audit::runs))
        .routes(routes!(audit::person))
        .routes(routes!(plans::list))
        .routes(routes!(plans::get))
        .routes(routes!(plans::changes))
        .routes(routes!(plans::approvals))
        .routes(routes!(plans::approve))
        .routes(routes!(plans::reject))
        .routes(routes!(ops::outbox))
        .routes(routes!(ops::replay))
        .routes(routes!(ops::cancel))
        .routes(routes!(ops::deliveries))
        .routes(routes!(ops::review))
        .routes(routes!(ops::adopt))
        .routes(routes!(ops::new_account))
        .routes(routes!(ops::reopen))
        .routes(routes!(actions::test_endpoint))
        .routes(routes!(actions::preview))
        .routes(routes!(actions::next))
        .routes(routes!(actions::pause))
        .routes(routes!(actions::resume))
        .routes(routes!(actions::test_webhook))
        .routes(routes!(discovery::fields))
        .routes(routes!(discovery::macros))
        .routes(routes!(drafts::check_format))
        .routes(routes!(drafts::preview_draft))
        .routes(routes!(run_now::run_automation))
        .routes(routes!(run_now::orphans))
        .routes(routes!(run_now::run_orchestration))
        .routes(routes!(directory::search))
        .routes(routes!(webhook_try::test_definition))
        .routes(routes!(
            resource_routes::integrations::list,
            resource_routes::integrations::create
        ))
        .routes(routes!(
            resource_routes::integrations::get,
            resource_routes::integrations::replace,
            resource_routes::integrations::delete
        ))
        .routes(routes!(
            resource_routes::endpoints::list,
            resource_routes::endpoints::create
        ))
        .routes(routes!(
            resource_routes::endpoints::get,
            resource_routes::endpoints::replace,
            resource_routes::endpoints::delete
        ))
        .routes(routes!(
            resource_routes::mappings::list,
            resource_routes::mappings::create
        ))
        .routes(routes!(
            resource_routes::mappings::get,
            resource_routes::mappings::replace,
            resource_routes::mappings::delete
        ))
        .routes(routes!(
            resource_routes::webhooks::list,
            resource_routes::webhooks::create
        ))
        .routes(routes!(
            resource_routes::webhooks::get,
            resource_routes::webhooks::replace,
            resource_routes::webhooks::delete
        ))
        .routes(routes!(
            resource_routes::orchestrations::list,
            resource_routes::orchestrations::create
        ))
        .routes(routes!(
            resource_routes::orchestrations::get,
            resource_routes::orchestrations::replace,
            resource_routes::orchestrations::delete
        ))
        .routes(routes!(
            resource_routes::automations::list,
            resource_routes::automations::create
        ))
        .routes(routes!(
            resource_routes::automations::get,
            resource_routes::automations::replace,
            resource_routes::automations::delete
        ))
}

/// The OpenAPI document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

/// The API's router, its state given.
pub fn router(svc: Arc<Service>, auth: Arc<Auth>, secure: bool) -> axum::Router {
    let (router, doc) = routes().split_for_parts();
    let state = ApiState {
        svc,
        auth,
        secure,
        doc: Arc::new(OnceLock::new()),
    };
    let _ = state
        .doc
        .set(doc.to_pretty_json().unwrap_or_else(|_| "{}".into()));
    router
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            record::record,
        ))
        .with_state(state)
}

/// The client's address (the listener puts it into every request).
pub(crate) fn client_address(ext: &axum::http::Extensions) -> Option<std::net::SocketAddr> {
    ext.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0)
}

/// The client's address as an extractor (None in a test without a listener).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<std::net::SocketAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_address(&parts.extensions)))
    }
}

/// Runs blocking work (the state database, the file) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, problem::Problem> + Send + 'static,
) -> Result<T, problem::Problem> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(problem::Problem::internal)?
}
