//! Saved plans and their approvals, as `hrsync runs`, `hrsync approvals` and `hrsync approve`
//! show and decide them: `GET /api/v1/plans`, `GET /api/v1/plans/{id}`,
//! `GET /api/v1/plans/{id}/changes`, `GET /api/v1/approvals` (viewer) and
//! `POST /api/v1/plans/{id}/approve|reject` (operator; under `approval.four_eyes` the operator
//! who made the plan cannot decide on it).

use super::paging::{Page, PageQuery, nonempty};
use super::problem::Problem;
use super::record::Changed;
use super::{ApiState, blocking};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use hrsync_auth::http::{AsOperator, AsViewer};
use hrsync_engine::plans::{self, PlanError, SavedPlan, approval};
use hrsync_state::{SavedPlanRow, Store};
use serde::{Deserialize, Serialize};

fn plan_problem(e: PlanError) -> Problem {
    match e {
        PlanError::NotSaved(_) | PlanError::NoPlan(_) => Problem::not_found(e.to_string()),
        other => Problem::internal(other),
    }
}

/// Filters of `GET /api/v1/plans`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlansQuery {
    /// Only plans with this status: `open` (may be applied), `applied`, `rejected`.
    pub status: Option<String>,
    /// Only plans of this mapping.
    pub mapping: Option<String>,
}

/// A saved plan as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlanView {
    /// The plan's id: the run that made it.
    pub id: i64,
    pub mapping: String,
    /// Who made it (the run's operator).
    pub planned_by: String,
    pub saved_at: String,
    pub expires_at: String,
    /// `open`, `applied` or `rejected`.
    pub status: String,
    /// The last run that applied (some of) it.
    pub applied_run: Option<i64>,
}

impl From<SavedPlanRow> for PlanView {
    fn from(r: SavedPlanRow) -> PlanView {
        PlanView {
            id: r.run_id,
            mapping: r.mapping,
            planned_by: r.saved_by,
            saved_at: r.saved_at,
            expires_at: r.expires_at,
            status: r.status,
            applied_run: r.applied_run,
        }
    }
}

/// Saved plans, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/plans",
    operation_id = "list_plans",
    tag = "plans",
    params(PlansQuery, PageQuery),
    responses(
        (status = 200, description = "A page of saved plans", body = Page<PlanView>),
        (status = 401, description = "Not signed in", body = Problem),
    )
)]
pub async fn list(
    State(st): State<ApiState>,
    _viewer: AsViewer,
    Query(q): Query<PlansQuery>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<PlanView>>, Problem> {
    let before = page.before()?;
    let limit = page.limit();
    let svc = st.svc.clone();
    let rows = blocking(move || {
        let store = svc.store().map_err(Problem::internal)?;
        store
            .saved_plans_page(nonempty(&q.status), nonempty(&q.mapping), before, limit + 1)
            .map_err(Problem::internal)
    })
    .await?;
    let rows: Vec<PlanView> = rows.into_iter().map(PlanView::from).collect();
    Ok(Json(Page::from_rows(rows, limit, |r| r.id)))
}

/// One saved plan with its counts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlanDetail {
    #[serde(flatten)]
    pub plan: PlanView,
    /// The plan's changes per kind.
    #[schema(value_type = Object)]
    pub summary: serde_json::Value,
    /// Changes to apply, held by a threshold, and awaiting an approval.
    pub changes: usize,
    pub held: usize,
    pub awaiting_approval: usize,
    /// Of the changes that need an approval: decided neither way, approved, rejected.
    pub waiting: usize,
    pub approved: usize,
    pub rejected: usize,
    /// Why changes were held.
    pub held_reasons: Vec<String>,
}

fn load(store: &Store, id: i64) -> Result<(SavedPlanRow, SavedPlan), Problem> {
    let row = store
        .saved_plan(id)
        .map_err(Problem::internal)?
        .ok_or_else(|| Problem::not_found(format!("no saved plan {id}")))?;
    let saved = plans::load_unchecked(store, id).map_err(plan_problem)?;
    Ok((row, saved))
}

/// One saved plan.
#[utoipa::path(
    get,
    path = "/api/v1/plans/{id}",
    operation_id = "get_plan",
    tag = "plans",
    params(("id" = i64, Path, description = "The plan (the run that made it)")),
    responses(
        (status = 200, description = "The plan", body = PlanDetail),
        (status = 404, description = "No saved plan of that id", body = Problem),
    )
)]
pub async fn get(
    State(st): State<ApiState>,
    _viewer: AsViewer,
    Path(id): Path<i64>,
) -> Result<Json<PlanDetail>, Problem> {
    let svc = st.svc.clone();
    blocking(move || {
        let store = svc.store().map_err(Problem::internal)?;
        let (row, saved) = load(&store, id)?;
        let needing = approval::of_plan_all(&saved);
        let count = |d: Option<&str>| {
            needing
                .iter()
                .filter(|w| w.decision.as_deref() == d)
                .count()
        };
        Ok(Json(PlanDetail {
            summary: serde_json::to_value(saved.plan.summary()).map_err(Problem::internal)?,
            changes: saved.plan.changes.len(),
            held: saved.plan.held.len(),
            awaiting_approval: saved.plan.awaiting_approval.len(),
            waiting: count(None),
            approved: count(Some("approved")),
            rejected: count(Some("rejected")),
            held_reasons: saved.plan.held_reasons.clone(),
            plan: PlanView::from(row),
        }))
    })
    .await
}

/// Filters of `GET /api/v1/plans/{id}/changes`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// Only changes of this kind (`create`, `update`, `disable`, …).
    pub kind: Option<String>,
    /// Only changes in this state: `planned` (needs no approval, not applied yet), `waiting`
    /// (for an approval), `approved`, `rejected`, `applied`, `failed`, `stale`.
    pub status: Option<String>,
    /// Only changes whose HR key or DN (before or after a move) contains this text, any case.
    pub q: Option<String>,
}

/// One attribute of a change: its values before and after (empty after: removed).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AttrChangeView {
    pub attr: String,
    pub before: Vec<String>,
    pub after: Vec<String>,
}

/// One change of a saved plan.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlanChangeView {
    /// `change` (to apply), `held` (by a threshold) or `approval` (awaiting one).
    pub part: String,
    /// Its index in its part.
    pub idx: i64,
    pub key: String,
    pub kind: String,
    pub dn: String,
    pub new_dn: Option<String>,
    pub reason: String,
    /// Each attribute written, before → after (for a create: every attribute, before empty).
    pub attrs: Vec<AttrChangeView>,
    /// See the `status` filter.
    pub status: String,
    /// The classes that need an approval (`disable,move`), if any.
    pub needs: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub comment: Option<String>,
    /// `applied`, `failed: …` or `stale: …` once an apply ran it.
    pub outcome: Option<String>,
}

fn change_views(saved: &SavedPlan) -> Vec<PlanChangeView> {
    saved
        .items
        .iter()
        .filter_map(|i| {
            let c = saved.change(&i.part, i.idx.max(0) as usize)?;
            let needs = i.needs.clone().filter(|n| !n.is_empty());
            let status = match (&i.outcome, &i.decision, &needs) {
                (Some(o), _, _) => o.split(':').next().unwrap_or(o).trim().to_string(),
                (None, Some(d), _) => d.clone(),
                (None, None, Some(_)) => "waiting".to_string(),
                (None, None, None) => "planned".to_string(),
            };
            Some(PlanChangeView {
                part: i.part.clone(),
                idx: i.idx,
                key: c.key.clone(),
                kind: c.kind.as_str().to_string(),
                dn: c.dn.clone(),
                new_dn: c.new_dn.clone(),
                reason: c.reason.clone(),
                attrs: c
                    .attrs
                    .iter()
                    .map(|a| AttrChangeView {
                        attr: a.attr.to_string(),
                        before: a.before.clone(),
                        after: a.after.clone(),
                    })
                    .collect(),
                status,
                needs,
                decided_by: i.decided_by.clone(),
                decided_at: i.decided_at.clone(),
                comment: i.comment.clone(),
                outcome: i.outcome.clone(),
            })
        })
        .collect()
}

/// Whether a change's HR key or DN (either) contains `t` (lower case), any case.
fn matches_text(c: &PlanChangeView, t: &str) -> bool {
    c.key.to_lowercase().contains(t)
        || c.dn.to_lowercase().contains(t)
        || c.new_dn
            .as_deref()
            .is_some_and(|d| d.to_lowercase().contains(t))
}

/// A saved plan's changes, in plan order (the whole plan is read for each page).
#[utoipa::path(
    get,
    path = "/api/v1/plans/{id}/changes",
    tag = "plans",
    params(("id" = i64, Path, description = "The plan"), ChangesQuery, PageQuery),
    responses(
        (status = 200, description = "A page of the plan's changes", body = Page<PlanChangeView>),
        (status = 404, description = "No saved plan of that id", body = Problem),
    )
)]
pub async fn changes(
    State(st): State<ApiState>,
    _viewer: AsViewer,
    Path(id): Path<i64>,
    Query(q): Query<ChangesQuery>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<PlanChangeView>>, Problem> {
    let svc = st.svc.clone();
    let all = blocking(move || {
        let store = svc.store().map_err(Problem::internal)?;
        let (_, saved) = load(&store, id)?;
        let text = nonempty(&q.q).map(str::to_lowercase);
        Ok(change_views(&saved)
            .into_iter()
            .filter(|c| nonempty(&q.kind).is_none_or(|k| c.kind == k))
            .filter(|c| nonempty(&q.status).is_none_or(|s| c.status == s))
            .filter(|c| text.as_deref().is_none_or(|t| matches_text(c, t)))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(Json(Page::of_all(all, &page)?))
}

/// Filters of `GET /api/v1/approvals`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApprovalsQuery {
    /// Only this mapping's.
    pub mapping: Option<String>,
}

/// A change waiting for an approval (held by a threshold or needing one by its class).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WaitingView {
    pub plan: i64,
    pub mapping: String,
    pub planned_by: String,
    pub saved_at: String,
    pub expires_at: String,
    pub part: String,
    pub idx: i64,
    pub key: String,
    pub kind: String,
    pub dn: String,
    pub new_dn: Option<String>,
    pub reason: String,
    /// The classes that need the approval.
    pub needs: String,
}

impl From<approval::Waiting> for WaitingView {
    fn from(w: approval::Waiting) -> WaitingView {
        WaitingView {
            plan: w.plan,
            mapping: w.mapping,
            planned_by: w.planned_by,
            saved_at: w.saved_at,
            expires_at: w.expires_at,
            part: w.part,
            idx: w.idx,
            key: w.key,
            kind: w.kind,
            dn: w.dn,
            new_dn: w.new_dn,
            reason: w.reason,
            needs: w.needs,
        }
    }
}

/// What waits for an approval in the open saved plans (`hrsync approvals`), oldest plan first;
/// a change planned again by a later plan is listed once, in the newest.
#[utoipa::path(
    get,
    path = "/api/v1/approvals",
    tag = "plans",
    params(ApprovalsQuery, PageQuery),
    responses(
        (status = 200, description = "A page of changes waiting for approval", body = Page<WaitingView>),
        (status = 401, description = "Not signed in", body = Problem),
    )
)]
pub async fn approvals(
    State(st): State<ApiState>,
    _viewer: AsViewer,
    Query(q): Query<ApprovalsQuery>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<WaitingView>>, Problem> {
    let svc = st.svc.clone();
    let all = blocking(move || {
        let store = svc.store().map_err(Problem::internal)?;
        approval::pending(&store, nonempty(&q.mapping), Utc::now()).map_err(plan_problem)
    })
    .await?;
    let views: Vec<WaitingView> = all.into_iter().map(WaitingView::from).collect();
    Ok(Json(Page::of_all(views, &page)?))
}

/// A decision on a saved plan.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct DecisionRequest {
    /// The changes decided on, each an HR key or a class (`disable`, `move`, …) as
    /// `hrsync approve --only/--reject` takes them; absent or empty: every change waiting.
    #[serde(default)]
    pub changes: Vec<String>,
    pub comment: Option<String>,
}

/// What a decision decided.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DecidedView {
    pub key: String,
    pub kind: String,
    pub dn: String,
    /// `approved` or `rejected`.
    pub decision: String,
}

fn approve_problem(e: approval::ApproveError) -> Problem {
    use approval::ApproveError as E;
    match e {
        E::Plan(p) => plan_problem(p),
        E::FourEyes { .. } => Problem::new(StatusCode::FORBIDDEN, "four-eyes", e.to_string()),
        E::NoMatch(..) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "no-match", e.to_string()),
        E::NothingWaiting(_) | E::Rejected { .. } | E::Expired { .. } => {
            Problem::conflict(e.to_string())
        }
    }
}

async fn decide(
    st: ApiState,
    operator: String,
    id: i64,
    body: Option<DecisionRequest>,
    reject: bool,
) -> Result<Response, Problem> {
    let body = body.unwrap_or_default();
    let svc = st.svc.clone();
    let by = operator.clone();
    let decided = blocking(move || {
        let mut store = svc.store().map_err(Problem::internal)?;
        let (row, saved) = load(&store, id)?;
        // The mapping's approval rules as `Config::job` gives them, read without resolving
        // the mapping's secrets (an approval needs neither HR nor the directory).
        let rules = svc
            .cfg
            .raw
            .mappings
            .iter()
            .find(|m| m.name == row.mapping)
            .ok_or_else(|| {
                Problem::conflict(format!(
                    "plan {id}'s mapping {:?} is no longer in the configuration",
                    row.mapping
                ))
            })?
            .approval
            .clone()
            .filter(|a| !a.require.is_empty());
        let changes = if reject && body.changes.is_empty() {
            // Reject everything waiting: each by its key.
            approval::of_plan(&saved)
                .into_iter()
                .filter(|w| w.decision.is_none())
                .map(|w| w.key)
                .collect()
        } else {
            body.changes.clone()
        };
        let req = if reject {
            // `only` as well: without it, every other change waiting would be approved.
            approval::Request {
                only: changes.clone(),
                reject: changes,
                comment: body.comment.clone(),
            }
        } else {
            approval::Request {
                only: changes,
                reject: Vec::new(),
                comment: body.comment.clone(),
            }
        };
        approval::approve(&mut store, rules.as_ref(), id, &req, &by, Utc::now())
            .map_err(approve_problem)
    })
    .await?;
    let views: Vec<DecidedView> = decided
        .into_iter()
        .filter(|d| !reject || d.decision == "rejected")
        .map(|d| DecidedView {
            key: d.key,
            kind: d.kind,
            dn: d.dn,
            decision: d.decision,
        })
        .collect();
    let approved = views.iter().filter(|d| d.decision == "approved").count();
    let changed = Changed(format!(
        "plan {id}: {approved} change(s) approved, {} rejected by {operator}",
        views.len() - approved
    ));
    let mut resp = Json(views).into_response();
    resp.extensions_mut().insert(changed);
    Ok(resp)
}

/// Approves changes of a saved plan (all waiting, or those named), as `hrsync approve` does;
/// the plan is then applied by `apply --plan` or the daemon (`approval.auto_apply`).
#[utoipa::path(
    post,
    path = "/api/v1/plans/{id}/approve",
    tag = "plans",
    params(("id" = i64, Path, description = "The plan")),
    request_body(content = Option<DecisionRequest>, description = "Which changes (default: all waiting) and a comment"),
    responses(
        (status = 200, description = "What was decided", body = Vec<DecidedView>),
        (status = 403, description = "Not an operator, or the plan's own maker under four-eyes", body = Problem),
        (status = 404, description = "No saved plan of that id", body = Problem),
        (status = 409, description = "Nothing waits, a change was rejected before, or the plan expired", body = Problem),
        (status = 422, description = "A change named matches nothing waiting", body = Problem),
    )
)]
pub async fn approve(
    State(st): State<ApiState>,
    AsOperator(p): AsOperator,
    Path(id): Path<i64>,
    body: Option<Json<DecisionRequest>>,
) -> Result<Response, Problem> {
    decide(st, p.audit_name(), id, body.map(|b| b.0), false).await
}

/// Rejects changes of a saved plan (all waiting, or those named): a rejection is final.
#[utoipa::path(
    post,
    path = "/api/v1/plans/{id}/reject",
    tag = "plans",
    params(("id" = i64, Path, description = "The plan")),
    request_body(content = Option<DecisionRequest>, description = "Which changes (default: all waiting) and a comment"),
    responses(
        (status = 200, description = "What was decided", body = Vec<DecidedView>),
        (status = 403, description = "Not an operator, or the plan's own maker under four-eyes", body = Problem),
        (status = 404, description = "No saved plan of that id", body = Problem),
        (status = 409, description = "Nothing waits, or the plan expired", body = Problem),
        (status = 422, description = "A change named matches nothing waiting", body = Problem),
    )
)]
pub async fn reject(
    State(st): State<ApiState>,
    AsOperator(p): AsOperator,
    Path(id): Path<i64>,
    body: Option<Json<DecisionRequest>>,
) -> Result<Response, Problem> {
    decide(st, p.audit_name(), id, body.map(|b| b.0), true).await
}
