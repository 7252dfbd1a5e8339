//! Actions on the configuration's resources (issue 15 §2): test an HR endpoint, preview a
//! mapping for one person, pause and resume an automation, its next run times. Each reads the
//! configuration file as it is now (what a client just saved), not the one the daemon runs.

use super::problem::Problem;
use super::resources::{self, name_of};
use super::{ApiState, ClientAddr, blocking};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hrsync_auth::http::{AsOperator, AsViewer};
use hrsync_config::Config;
use hrsync_config::edit::{Edit, KeyPath};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The configuration file, loaded as a run would load it.
async fn load(st: &ApiState) -> Result<Arc<Config>, Problem> {
    let path = super::config::config_path(st);
    blocking(move || {
        Config::load(&path).map(Arc::new).map_err(|e| {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-config",
                e.to_string(),
            )
        })
    })
    .await
}

/// Calls an HR endpoint for real (as `hrsync endpoint test` does): the request (secrets
/// redacted), whether the fetch was complete, records, pages, time, and each field's types,
/// fill count and samples (sensitive ones masked).
#[utoipa::path(
    post,
    path = "/api/v1/integrations/{name}/endpoints/{endpoint}/test",
    tag = "integrations",
    params(
        ("name" = String, Path, description = "The integration"),
        ("endpoint" = String, Path, description = "The endpoint (`default`: the integration's own, for the preconfigured kinds)"),
    ),
    responses(
        (status = 200, description = "What the endpoint answered", body = Object),
        (status = 403, description = "Not an operator", body = Problem),
        (status = 422, description = "No such integration or endpoint, or the configuration is not valid", body = Problem),
    )
)]
pub async fn test_endpoint(
    State(st): State<ApiState>,
    AsOperator(p): AsOperator,
    Path((name, endpoint)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let cfg = load(&st).await?;
    let ep = (endpoint != "default").then_some(endpoint.as_str());
    let t = hrsync_engine::endpoint_test::test(
        &cfg,
        &name,
        ep,
        hrsync_engine::endpoint_test::Samples::Masked,
    )
    .await
    .map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "endpoint-test",
            e.to_string(),
        )
    })?;
    // The discovered fields are kept for the console's mapping editor.
    super::discovery::keep(&st, &t, p.audit_name()).await;
    let mut resp = Json(&t).into_response();
    resp.extensions_mut().insert(super::Changed(format!(
        "{} tested endpoint {:?} of integration {name:?}: {} record(s), {}",
        p.audit_name(),
        t.endpoint,
        t.fetch.records,
        if t.fetch.complete {
            "complete"
        } else {
            "incomplete"
        }
    )));
    Ok(resp)
}

/// Whom a preview is for.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PreviewRequest {
    /// The person's HR primary key.
    pub person: String,
}

/// One person through the mapping (as `hrsync explain`): the HR record, each attribute with
/// the format and fields it came from, the directory entry, what a run would do and why, and
/// recent history. Sensitive HR values are masked.
#[utoipa::path(
    post,
    path = "/api/v1/mappings/{name}/preview",
    tag = "mappings",
    request_body = PreviewRequest,
    params(("name" = String, Path, description = "The mapping")),
    responses(
        (status = 200, description = "The explanation", body = Object),
        (status = 403, description = "Not an operator", body = Problem),
        (status = 404, description = "No such mapping", body = Problem),
        (status = 422, description = "The person cannot be explained (HR or the directory failed)", body = Problem),
    )
)]
pub async fn preview(
    State(st): State<ApiState>,
    _operator: AsOperator,
    Path(name): Path<String>,
    Json(req): Json<PreviewRequest>,
) -> Result<Response, Problem> {
    let cfg = load(&st).await?;
    if !cfg.mapping_names().contains(&name) {
        return Err(Problem::not_found(format!("no mapping named {name:?}")));
    }
    let handle = tokio::runtime::Handle::current();
    let e = blocking(move || {
        let job = cfg.job(&name).map_err(|e| {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-config",
                e.to_string(),
            )
        })?;
        let store = hrsync_state::Store::open(&cfg.state_path()).map_err(Problem::internal)?;
        let opts = hrsync_engine::explain::Options::default();
        handle
            .block_on(hrsync_engine::explain::explain(
                &job,
                &store,
                &req.person,
                &opts,
            ))
            .map_err(|e| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "preview", e.to_string()))
    })
    .await?;
    Ok(Json(e).into_response())
}

/// `?count=` of the next run times.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NextQuery {
    /// How many (1-100, default 5).
    pub count: Option<usize>,
}

/// An automation's schedule.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NextRuns {
    pub automation: String,
    pub schedule: String,
    /// The schedule in words (UTC).
    pub description: String,
    /// False: paused (`enabled = false`); the times are when it would run.
    pub enabled: bool,
    pub next: Vec<String>,
    /// What the scheduler has stored: its next run, the last run's status and end, and
    /// since when a run holds its lock.
    pub scheduled_next: Option<String>,
    pub last_status: Option<String>,
    pub last_finish: Option<String>,
    pub running_since: Option<String>,
}

/// An automation's next run times, with its schedule in words.
#[utoipa::path(
    get,
    path = "/api/v1/automations/{name}/next",
    tag = "automations",
    params(("name" = String, Path, description = "The automation"), NextQuery),
    responses(
        (status = 200, description = "The next run times (UTC)", body = NextRuns),
        (status = 404, description = "No such automation", body = Problem),
    )
)]
pub async fn next(
    State(st): State<ApiState>,
    _viewer: AsViewer,
    Path(name): Path<String>,
    Query(q): Query<NextQuery>,
) -> Result<Json<NextRuns>, Problem> {
    let file = resources::read_file(&st).await?;
    let a = hrsync_config::edit::elements(&file.text, "automation")?
        .into_iter()
        .find(|e| name_of(e) == Some(name.as_str()))
        .ok_or_else(|| Problem::not_found(format!("no automation named {name:?}")))?;
    let schedule = a
        .get("schedule")
        .and_then(|s| s.as_str())
        .unwrap_or_default()
        .to_string();
    let enabled = a.get("enabled").and_then(|e| e.as_bool()).unwrap_or(true);
    let cron = hrsync_config::schedule::parse(&schedule)
        .map_err(|e| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-config", e))?;
    let mut next = Vec::new();
    let mut t = chrono::Utc::now();
    for _ in 0..q.count.unwrap_or(5).clamp(1, 100) {
        match hrsync_config::schedule::next_after(&cron, t) {
            Some(n) => {
                next.push(n.to_rfc3339());
                t = n;
            }
            None => break,
        }
    }
    let svc = st.svc.clone();
    let n = name.clone();
    let row = blocking(move || {
        let store = svc.store().map_err(Problem::internal)?;
        store.automation(&n).map_err(Problem::internal)
    })
    .await?;
    let at = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.to_rfc3339());
    Ok(Json(NextRuns {
        automation: name,
        description: cron.describe(),
        schedule,
        enabled,
        next,
        scheduled_next: at(row.as_ref().and_then(|r| r.next_run)),
        last_status: row.as_ref().and_then(|r| r.last_status.clone()),
        last_finish: at(row.as_ref().and_then(|r| r.last_finish)),
        running_since: at(row.as_ref().and_then(|r| r.running_since)),
    }))
}

async fn set_enabled(
    st: &ApiState,
    p: &hrsync_auth::Principal,
    addr: Option<std::net::SocketAddr>,
    headers: &HeaderMap,
    name: &str,
    enabled: bool,
) -> Result<Response, Problem> {
    // A one-key edit: `If-Match` is optional (without it, the file as it is now).
    let if_match = resources::current_if_match(st, headers).await?;
    let path = KeyPath::key("automation")
        .then_name(name)
        .then_key("enabled");
    let saved = super::config::save_edits(
        st,
        if_match,
        vec![Edit::Set {
            path,
            value: serde_json::Value::Bool(enabled),
        }],
        false,
        Some(format!(
            "automation {name} {}",
            if enabled { "resumed" } else { "paused" }
        )),
        p.audit_name(),
        addr.map(|a| a.ip().to_string()),
    )
    .await?;
    let what = format!(
        "{} automation {name:?}:\n{}",
        if enabled { "resumed" } else { "paused" },
        saved.result.diff
    );
    let mut resp = saved.into_response();
    resp.extensions_mut().insert(super::Changed(what));
    Ok(resp)
}

/// Pauses an automation: `enabled = false` in the configuration (saved as an edit, in the
/// history; the daemon reloads). `If-Match` is optional.
#[utoipa::path(
    post,
    path = "/api/v1/automations/{name}/pause",
    tag = "automations",
    params(("name" = String, Path, description = "The automation"), ("If-Match" = Option<String>, Header, description = "The file's hash as read (optional)")),
    responses(
        (status = 200, description = "Paused (diff empty: it was paused)", body = super::config::EditResult),
        (status = 403, description = "Not an operator", body = Problem),
        (status = 404, description = "No such automation", body = Problem),
        (status = 412, description = "The file changed since it was read", body = Problem),
    )
)]
pub async fn pause(
    State(st): State<ApiState>,
    AsOperator(p): AsOperator,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    set_enabled(&st, &p, addr, &headers, &name, false).await
}

/// Resumes an automation: `enabled = true`.
#[utoipa::path(
    post,
    path = "/api/v1/automations/{name}/resume",
    tag = "automations",
    params(("name" = String, Path, description = "The automation"), ("If-Match" = Option<String>, Header, description = "The file's hash as read (optional)")),
    responses(
        (status = 200, description = "Resumed (diff empty: it was running)", body = super::config::EditResult),
        (status = 403, description = "Not an operator", body = Problem),
        (status = 404, description = "No such automation", body = Problem),
        (status = 412, description = "The file changed since it was read", body = Problem),
    )
)]
pub async fn resume(
    State(st): State<ApiState>,
    AsOperator(p): AsOperator,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    set_enabled(&st, &p, addr, &headers, &name, true).await
}

/// Whom a webhook test is for.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct WebhookTestRequest {
    /// HR primary keys of people.
    #[serde(default)]
    pub users: Vec<String>,
    /// DNs of groups: every member with a key.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The mapping whose accounts and HR records fill the macros (needed with several).
    pub mapping: Option<String>,
}

/// Calls a webhook for real for chosen people (as `hrsync webhook test`): for each, the
/// request (secrets redacted) and the response's status and body. Recorded as deliveries.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{name}/test",
    tag = "webhooks",
    request_body = WebhookTestRequest,
    params(("name" = String, Path, description = "The webhook")),
    responses(
        (status = 200, description = "Each person's call", body = Object),
        (status = 400, description = "Nobody chosen, or no mapping named when there are several", body = Problem),
        (status = 403, description = "Not an operator", body = Problem),
        (status = 422, description = "No such webhook, or the directory or HR failed", body = Problem),
    )
)]
pub async fn test_webhook(
    State(st): State<ApiState>,
    AsOperator(p): AsOperator,
    Path(name): Path<String>,
    Json(req): Json<WebhookTestRequest>,
) -> Result<Response, Problem> {
    if req.users.is_empty() && req.groups.is_empty() {
        return Err(Problem::bad_request("name at least one user or group"));
    }
    let cfg = load(&st).await?;
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
            .map_err(|e| {
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "webhook-test",
                    format!("{e:#}"),
                )
            })
    })
    .await?;
    let ok = tests.iter().filter(|t| t.delivery.ok).count();
    let mut resp = Json(&tests).into_response();
    resp.extensions_mut().insert(super::Changed(format!(
        "{} called webhook {name:?} for {} person(s): {ok} ok",
        p.audit_name(),
        tests.len()
    )));
    Ok(resp)
}
