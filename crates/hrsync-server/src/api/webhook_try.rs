//! A webhook definition called for real before it is saved: `POST /api/v1/webhook-tests`, the
//! "Test" of the console's Test & Save (test, look at the request and the response, then
//! save). The definition is checked as a saved one would be, put in place of the saved one of
//! the same name in the configuration file as it is now (or added), and called as
//! `POST /api/v1/webhooks/{name}/test` calls a saved one; each call is recorded as a delivery.
//!
//! Admin only: the request names the URL, so an operator, who may not change the
//! configuration, could otherwise send directory and HR data anywhere; an operator tests the
//! saved webhooks.

use super::problem::Problem;
use super::{ApiState, blocking};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hrsync_auth::http::AsAdmin;
use hrsync_config::Config;
use serde::Deserialize;

/// A definition to test, and for whom.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DefinitionTestRequest {
    /// The `[[webhook]]` table as JSON (as `POST /api/v1/webhooks` takes it).
    #[schema(value_type = Object)]
    pub webhook: serde_json::Value,
    /// HR primary keys of people.
    #[serde(default)]
    pub users: Vec<String>,
    /// DNs of groups: every member with a key.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The mapping whose accounts and HR records fill the macros (needed with several).
    pub mapping: Option<String>,
}

fn invalid(detail: String) -> Problem {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "webhook-test", detail)
}

/// Calls a webhook definition (not saved) for real for chosen people: for each, the request
/// (secrets redacted) and the response. Recorded as deliveries; the configuration is not
/// changed.
#[utoipa::path(
    post,
    path = "/api/v1/webhook-tests",
    operation_id = "test_webhook_definition",
    tag = "webhooks",
    request_body = DefinitionTestRequest,
    responses(
        (status = 200, description = "Each person's call", body = Object),
        (status = 400, description = "Nobody chosen, or no mapping named when there are several", body = Problem),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 422, description = "The definition is not valid, or the directory or HR failed", body = Problem),
    )
)]
pub async fn test_definition(
    State(st): State<ApiState>,
    AsAdmin(p): AsAdmin,
    Json(req): Json<DefinitionTestRequest>,
) -> Result<Response, Problem> {
    if req.users.is_empty() && req.groups.is_empty() {
        return Err(Problem::bad_request("name at least one user or group"));
    }
    let hook: hrsync_webhook::WebhookConfig =
        serde_json::from_value(req.webhook).map_err(|e| invalid(format!("webhook: {e}")))?;
    hrsync_webhook::Webhook::compile(&hook).map_err(|e| invalid(e.to_string()))?;
    let name = hook.name.clone();
    let path = super::config::config_path(&st);
    let mut cfg = blocking(move || {
        Config::load(&path).map_err(|e| {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-config",
                e.to_string(),
            )
        })
    })
    .await?;
    if let Some(i) = &hook.auth
        && !cfg.raw.integrations.iter().any(|x| &x.name == i)
    {
        return Err(invalid(format!("auth: no integration named {i:?}")));
    }
    cfg.raw.webhooks.retain(|w| w.name != name);
    cfg.raw.webhooks.push(hook);
    let mapping = match (req.mapping, cfg.mapping_names().as_slice()) {
        (Some(m), _) => m,
        (None, [one]) => one.clone(),
        (None, _) => {
            return Err(Problem::bad_request(
                "the configuration has several mappings: name one in \"mapping\"",
            ));
        }
    };
    let handle = tokio::runtime::Handle::current();
    let n = name.clone();
    let tests = blocking(move || {
        handle
            .block_on(crate::webhook_test::test(
                &cfg,
                &n,
                &mapping,
                req.users,
                &req.groups,
            ))
            .map_err(|e| invalid(format!("{e:#}")))
    })
    .await?;
    let ok = tests.iter().filter(|t| t.delivery.ok).count();
    let mut resp = Json(&tests).into_response();
    resp.extensions_mut().insert(super::Changed(format!(
        "{} called the unsaved definition of webhook {name:?} for {} person(s): {ok} ok",
        p.audit_name(),
        tests.len()
    )));
    Ok(resp)
}
