//! Work started on demand (issue 15 §2): an automation run now as the scheduler runs it, a
//! mapping's orphans, an orchestration template for chosen people. Each uses what the
//! daemon runs (its configuration, its run thread, its orchestration worker), not the
//! configuration file as saved since.

use super::problem::Problem;
use super::record::Changed;
use super::runs::{RunWhat, Started, launch};
use super::{ApiState, blocking};
use crate::orchestrate::Queued;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hrsync_auth::http::AsOperator;
use hrsync_engine::RunOptions;
use serde::{Deserialize, Serialize};

/// A 202 with a started run's id and where to watch it.
fn started(run_id: i64, mapping: &str, mode: &str, what: String) -> Response {
    let mut resp = (
        StatusCode::ACCEPTED,
        Json(Started {
            run_id,
            mapping: mapping.to_string(),
            mode: mode.to_string(),
            status_url: format!("/api/v1/runs/{run_id}"),
            events_url: format!("/api/v1/runs/{run_id}/events"),
        }),
    )
        .into_response();
    resp.extensions_mut().insert(Changed(what));
    resp
}

fn busy(mapping: &str) -> Problem {
    Problem::conflict(format!(
        "a run of mapping {mapping:?} is in progress: wait for it, or cancel it"
    ))
}

/// Runs a configured automation now, exactly as the scheduler runs it when it is due: its
/// lock (a second run is refused), the mapping's approved saved plans applied first when it
/// applies (`auto_apply`; separate runs), the sync in the automation's mode and fetch, and its
/// last run stored (its next run stays the schedule's). A paused automation runs too (it is
/// asked for by name). Answers once the sync is recorded, with its run id: watch it at
/// `events_url`, cancel it with `POST /api/v1/runs/{id}/cancel`.
#[utoipa::path(
    post,
    path = "/api/v1/automations/{name}/run",
    operation_id = "run_automation",
    tag = "automations",
    params(("name" = String, Path, description = "The automation")),
    responses(
        (status = 202, description = "Started", body = Started),
        (status = 403, description = "Not an operator", body = Problem),
        (status = 404, description = "No such automation in the running configuration", body = Problem),
        (status = 409, description = "A run of the automation holds its lock, or a run of its mapping is in progress", body = Problem),
        (status = 422, description = "The run failed before it started (the reason is given)", body = Problem),
    )
)]
pub async fn run_automation(
    State(st): State<ApiState>,
    AsOperator(p): AsOperator,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    let Some(a) = st.svc.cfg.raw.automations.iter().find(|a| a.name == name) else {
        return Err(Problem::not_found(format!(
            "no automation named {name:?} in the configuration the daemon runs"
        )));
    };
    let mapping = a.mapping.clone();
    if st.svc.mapping_busy(&mapping) {
        return Err(busy(&mapping));
    }
    let opts = RunOptions {
        operator: Some(p.audit_name()),
        trigger: hrsync_state::Trigger::Api,
        ..RunOptions::default()
    };
    let what = RunWhat::Automation { name: name.clone() };
    let (run_id, mode) = launch(&st, what, opts).await?;
    Ok(started(
        run_id,
        &mapping,
        mode,
        format!("ran automation {name:?} now: run {run_id} ({mode} of mapping {mapping:?})"),
    ))
}

/// Finds a mapping's orphans: accounts under the directory base that carry a key its HR does
/// not have and that it never created or adopted (what `hrsync orphans` lists). They are known
/// only by planning (stored plans do not keep them), so this starts a plan run with a full
/// fetch (recorded like any plan; the directory is read, never changed) and answers its id at
/// once. When the run is over, `GET /api/v1/runs/{id}` carries `orphans` (while this daemon
/// runs): the list, whether the fetch was complete (without it there is no list) and whether
/// the mapping owns accounts at all.
#[utoipa::path(
    post,
    path = "/api/v1/mappings/{name}/orphans",
    operation_id = "find_orphans",
    tag = "mappings",
    params(("name" = String, Path, description = "The mapping")),
    responses(
        (status = 202, description = "The plan run started: its orphans are in GET status_url once it finished", body = Started),
        (status = 403, description = "Not an operator", body = Problem),
        (status = 404, description = "No such mapping in the running configuration", body = Problem),
        (status = 409, description = "A run of the mapping is in progress", body = Problem),
        (status = 422, description = "The run failed before it started (the reason is given)", body = Problem),
    )
)]
pub async fn orphans(
    State(st): State<ApiState>,
    AsOperator(p): AsOperator,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    if !st.svc.cfg.mapping_names().contains(&name) {
        return Err(Problem::not_found(format!(
            "no enabled mapping {name:?} (mappings: {})",
            st.svc.cfg.mapping_names().join(", ")
        )));
    }
    if st.svc.mapping_busy(&name) {
        return Err(busy(&name));
    }
    let opts = RunOptions {
        full_fetch: true,
        operator: Some(p.audit_name()),
        trigger: hrsync_state::Trigger::Api,
        ..RunOptions::default()
    };
    let what = RunWhat::Orphans {
        mapping: name.clone(),
    };
    let (run_id, mode) = launch(&st, what, opts).await?;
    Ok(started(
        run_id,
        &name,
        mode,
        format!("started run {run_id}: orphans of mapping {name:?}"),
    ))
}

/// Whom an orchestration is run for.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct OrchestrationRunRequest {
    /// HR primary keys of people.
    #[serde(default)]
    pub users: Vec<String>,
    /// DNs of groups: every member with a key.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The mapping whose accounts are used (needed with several, unless the template names
    /// one: the template's wins).
    pub mapping: Option<String>,
}

/// An orchestration queued for people.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrchestrationQueued {
    pub orchestration: String,
    pub mapping: String,
    /// One instance per person (each once), in the outbox: `GET /api/v1/outbox`.
    pub instances: Vec<Queued>,
}

/// Applies an orchestration template to chosen people now (as `hrsync orchestrate run`): one
/// instance per person (event `manual`) in the outbox, whose steps the daemon's orchestration
/// worker runs at once (woken), then as they fall due. Groups are expanded from the directory.
#[utoipa::path(
    post,
    path = "/api/v1/orchestrations/{name}/run",
    operation_id = "run_orchestration",
    tag = "orchestrations",
    request_body = OrchestrationRunRequest,
    params(("name" = String, Path, description = "The orchestration template")),
    responses(
        (status = 202, description = "Queued: the instances", body = OrchestrationQueued),
        (status = 400, description = "Nobody chosen, or no mapping named when there are several", body = Problem),
        (status = 403, description = "Not an operator", body = Problem),
        (status = 404, description = "No such orchestration in the running configuration", body = Problem),
        (status = 422, description = "The groups could not be read from the directory, or the mapping is not valid", body = Problem),
    )
)]
pub async fn run_orchestration(
    State(st): State<ApiState>,
    AsOperator(p): AsOperator,
    Path(name): Path<String>,
    Json(req): Json<OrchestrationRunRequest>,
) -> Result<Response, Problem> {
    if req.users.is_empty() && req.groups.is_empty() {
        return Err(Problem::bad_request("name at least one user or group"));
    }
    let cfg = st.svc.cfg.clone();
    let Some(t) = cfg.raw.orchestrations.iter().find(|o| o.name == name) else {
        return Err(Problem::not_found(format!(
            "no orchestration named {name:?} in the configuration the daemon runs"
        )));
    };
    let names = cfg.mapping_names();
    let mapping = match (&t.mapping, req.mapping, names.as_slice()) {
        (Some(m), _, _) => m.clone(),
        (None, Some(m), _) if names.contains(&m) => m,
        (None, Some(m), _) => {
            return Err(Problem::bad_request(format!(
                "no enabled mapping {m:?} (mappings: {})",
                names.join(", ")
            )));
        }
        (None, None, [one]) => one.clone(),
        (None, None, _) => {
            return Err(Problem::bad_request(
                "the configuration has several mappings: name one in \"mapping\"",
            ));
        }
    };
    let handle = tokio::runtime::Handle::current();
    let (n, m) = (name.clone(), mapping.clone());
    let instances = blocking(move || {
        handle
            .block_on(crate::orchestrate::enqueue_for(
                &cfg,
                &n,
                &m,
                req.users,
                &req.groups,
            ))
            .map_err(|e| {
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "orchestration-run",
                    format!("{e:#}"),
                )
            })
    })
    .await?;
    st.svc.wake_worker.notify_one();
    let ids: Vec<String> = instances.iter().map(|q| format!("#{}", q.id)).collect();
    let mut resp = (
        StatusCode::ACCEPTED,
        Json(OrchestrationQueued {
            orchestration: name.clone(),
            mapping,
            instances,
        }),
    )
        .into_response();
    resp.extensions_mut().insert(Changed(format!(
        "{} queued orchestration {name:?} for {} person(s): {}",
        p.audit_name(),
        ids.len(),
        ids.join(", ")
    )));
    Ok(resp)
}
