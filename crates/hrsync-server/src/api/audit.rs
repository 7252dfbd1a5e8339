//! The read side of what hrsync did (viewer): the audit of directory changes
//! (`GET /api/v1/audit`), runs (`GET /api/v1/runs`) and one person's page
//! (`GET /api/v1/people/{mapping}/{key}`).

use super::paging::{Page, PageQuery, nonempty};
use super::problem::Problem;
use super::{ApiState, blocking};
use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use hrsync_auth::http::AsViewer;
use hrsync_state::{AuditFilter, AuditRow, OutboxRow, RunRow};
use serde::{Deserialize, Serialize};

/// Filters of `GET /api/v1/audit`; each narrows the list, all together narrow it to the rows
/// matching every one.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this person's changes (their HR key).
    pub person: Option<String>,
    /// Only changes of this kind (`create`, `update`, `move`, `disable`, `enable`, `delete`, …).
    pub kind: Option<String>,
    /// `ok`: only changes that succeeded; `failed`: only those that failed.
    pub result: Option<String>,
    /// Only changes of this mapping.
    pub mapping: Option<String>,
    /// Changes at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Changes before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Only the changes of this run.
    pub run: Option<i64>,
}

/// One audited directory change (a run's change, or an orchestration step's write).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditView {
    pub id: i64,
    /// The run; 0 for a write outside a run (an orchestration step: see `outbox_id`).
    pub run_id: i64,
    /// The change's index in the run's plan; for an orchestration step, the step.
    pub seq: i64,
    pub hr_key: String,
    pub kind: String,
    pub dn: String,
    pub new_dn: Option<String>,
    pub reason: String,
    /// The attributes written (secrets never stored).
    #[schema(value_type = Object)]
    pub attrs: serde_json::Value,
    pub ok: bool,
    /// The LDAP result code of a failure.
    pub rc: Option<i64>,
    pub message: String,
    pub at: String,
    pub mapping: Option<String>,
    /// What started it: `cli`, `schedule`, `event`, `orchestration`.
    pub trigger: Option<String>,
    pub operator: Option<String>,
    /// The orchestration instance that made the write.
    pub outbox_id: Option<i64>,
}

impl AuditView {
    fn new(id: i64, r: AuditRow) -> AuditView {
        AuditView {
            id,
            run_id: r.run_id,
            seq: r.seq,
            hr_key: r.hr_key,
            kind: r.kind,
            dn: r.dn,
            new_dn: r.new_dn,
            reason: r.reason,
            attrs: r.attrs,
            ok: r.ok,
            rc: r.rc,
            message: r.message,
            at: r.at,
            mapping: r.mapping,
            trigger: r.trigger,
            operator: r.operator,
            outbox_id: r.outbox_id,
        }
    }
}

fn result_filter(result: Option<&str>) -> Result<Option<bool>, Problem> {
    match result.filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some("ok") => Ok(Some(true)),
        Some("failed") => Ok(Some(false)),
        Some(other) => Err(Problem::bad_request(format!(
            "result={other:?}: use result=ok or result=failed"
        ))),
    }
}

/// The audit of directory changes, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "audit",
    params(AuditQuery, PageQuery),
    responses(
        (status = 200, description = "A page of audited changes", body = Page<AuditView>),
        (status = 400, description = "A bad filter or cursor", body = Problem),
        (status = 401, description = "Not signed in", body = Problem),
    )
)]
pub async fn audit(
    State(st): State<ApiState>,
    _viewer: AsViewer,
    Query(q): Query<AuditQuery>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<AuditView>>, Problem> {
    let before = page.before()?;
    let limit = page.limit();
    let ok = result_filter(q.result.as_deref())?;
    let svc = st.svc.clone();
    let rows = blocking(move || {
        let store = svc.store().map_err(Problem::internal)?;
        let f = AuditFilter {
            person: nonempty(&q.person),
            kind: nonempty(&q.kind),
            ok,
            mapping: nonempty(&q.mapping),
            since: q.since,
            until: q.until,
            run: q.run,
        };
        store
            .audit_page(&f, before, limit + 1)
            .map_err(Problem::internal)
    })
    .await?;
    let rows: Vec<AuditView> = rows
        .into_iter()
        .map(|(id, r)| AuditView::new(id, r))
        .collect();
    Ok(Json(Page::from_rows(rows, limit, |r| r.id)))
}

/// Filters of `GET /api/v1/runs`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// Only runs of this mapping.
    pub mapping: Option<String>,
    /// Only runs with this status (`running`, `ok`, `failed`, `interrupted`, …).
    pub status: Option<String>,
}

/// A run as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunView {
    pub id: i64,
    /// `plan`, `apply`, …
    pub command: String,
    pub mapping: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: String,
    pub fetch_complete: Option<bool>,
    /// HR records fetched.
    pub records: Option<i64>,
    /// Changes per kind.
    #[schema(value_type = Option<Object>)]
    pub summary: Option<serde_json::Value>,
    pub error: Option<String>,
    /// What started it (`cli`, `schedule`, `event`, `orchestration`, `api`).
    pub trigger: Option<String>,
    /// Who started it.
    pub operator: Option<String>,
}

impl From<RunRow> for RunView {
    fn from(r: RunRow) -> RunView {
        RunView {
            id: r.id,
            command: r.command,
            mapping: r.mapping,
            started_at: r.started_at,
            finished_at: r.finished_at,
            status: r.status,
            fetch_complete: r.fetch_complete,
            records: r.records,
            summary: r.summary.and_then(|s| serde_json::to_value(s).ok()),
            error: r.error,
            trigger: r.trigger,
            operator: r.operator,
        }
    }
}

/// Runs, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/runs",
    operation_id = "list_runs",
    tag = "runs",
    params(RunsQuery, PageQuery),
    responses(
        (status = 200, description = "A page of runs", body = Page<RunView>),
        (status = 401, description = "Not signed in", body = Problem),
    )
)]
pub async fn runs(
    State(st): State<ApiState>,
    _viewer: AsViewer,
    Query(q): Query<RunsQuery>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<RunView>>, Problem> {
    let before = page.before()?;
    let limit = page.limit();
    let svc = st.svc.clone();
    let rows = blocking(move || {
        let store = svc.store().map_err(Problem::internal)?;
        store
            .runs_page(nonempty(&q.mapping), nonempty(&q.status), before, limit + 1)
            .map_err(Problem::internal)
    })
    .await?;
    let rows: Vec<RunView> = rows.into_iter().map(RunView::from).collect();
    Ok(Json(Page::from_rows(rows, limit, |r| r.id)))
}

/// How many audit rows and orchestration instances a person's page shows (the newest).
const PERSON_HISTORY: usize = 200;

/// An orchestration instance, as listed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OutboxView {
    pub id: i64,
    pub orchestration: String,
    pub mapping: String,
    pub hr_key: String,
    pub dn: String,
    pub event: String,
    /// The next step to run (0-based).
    pub step: i64,
    /// `pending`, `running`, `done`, `dead` (failed for good) or `cancelled`.
    pub status: String,
    /// Failed attempts of the current step.
    pub attempts: i64,
    pub next_at: Option<DateTime<Utc>>,
    pub last_ok: bool,
    pub last_error: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<OutboxRow> for OutboxView {
    fn from(r: OutboxRow) -> OutboxView {
        OutboxView {
            id: r.id,
            orchestration: r.orchestration,
            mapping: r.mapping,
            hr_key: r.hr_key,
            dn: r.dn,
            event: r.event,
            step: r.step,
            status: r.status,
            attempts: r.attempts,
            next_at: r.next_at,
            last_ok: r.last_ok,
            last_error: r.last_error,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// What hrsync knows of one person of one mapping.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PersonView {
    pub mapping: String,
    pub key: String,
    /// Their account as linked (absent: never created nor adopted).
    pub link: Option<LinkView>,
    /// Their audited changes, newest first (the newest 200; `GET /api/v1/audit?person=` pages all).
    pub history: Vec<AuditView>,
    /// Their orchestration instances, newest first (the newest 200).
    pub orchestrations: Vec<OutboxView>,
}

/// A person's link to their account.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LinkView {
    pub dn: String,
    pub uuid: Option<String>,
    /// `active`, `disabled`, …
    pub state: String,
}

/// One person's page: link, account DN, audited changes and orchestration instances.
#[utoipa::path(
    get,
    path = "/api/v1/people/{mapping}/{key}",
    tag = "audit",
    params(
        ("mapping" = String, Path, description = "The mapping"),
        ("key" = String, Path, description = "The person's HR key"),
    ),
    responses(
        (status = 200, description = "The person", body = PersonView),
        (status = 404, description = "hrsync knows nothing of this person", body = Problem),
    )
)]
pub async fn person(
    State(st): State<ApiState>,
    _viewer: AsViewer,
    Path((mapping, key)): Path<(String, String)>,
) -> Result<Json<PersonView>, Problem> {
    let svc = st.svc.clone();
    blocking(move || {
        let store = svc.store().map_err(Problem::internal)?;
        let link = store.link(&mapping, &key).map_err(Problem::internal)?;
        let f = AuditFilter {
            person: Some(&key),
            mapping: Some(&mapping),
            ..Default::default()
        };
        let history: Vec<AuditView> = store
            .audit_page(&f, None, PERSON_HISTORY)
            .map_err(Problem::internal)?
            .into_iter()
            .map(|(id, r)| AuditView::new(id, r))
            .collect();
        let orchestrations: Vec<OutboxView> = store
            .outbox_of(&mapping, &key, PERSON_HISTORY)
            .map_err(Problem::internal)?
            .into_iter()
            .map(OutboxView::from)
            .collect();
        if link.is_none() && history.is_empty() && orchestrations.is_empty() {
            return Err(Problem::not_found(format!(
                "hrsync has no link, audited change or orchestration of {key:?} in mapping {mapping:?}"
            )));
        }
        Ok(Json(PersonView {
            mapping,
            link: link.map(|l| LinkView {
                dn: l.dn,
                uuid: l.uuid,
                state: l.state,
            }),
            key,
            history,
            orchestrations,
        }))
    })
    .await
}
