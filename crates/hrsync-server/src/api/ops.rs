//! Day-to-day decisions and queues, as the CLI has them: the orchestration outbox
//! (`hrsync orchestrate list|replay|cancel`), the webhook delivery log, and the review list of
//! people hrsync would not match alone (`hrsync review list|adopt|new|reopen`).

use super::audit::OutboxView;
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
use hrsync_state::{Cancelled, DeliveryRow, ReviewRow};
use serde::{Deserialize, Serialize};

/// Filters of `GET /api/v1/outbox`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// Only instances in this state: `pending`, `running`, `done`, `dead` (the dead-letter
    /// list) or `cancelled`.
    pub state: Option<String>,
}

/// Orchestration instances, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/outbox",
    tag = "orchestrations",
    params(OutboxQuery, PageQuery),
    responses(
        (status = 200, description = "A page of orchestration instances", body = Page<OutboxView>),
        (status = 401, description = "Not signed in", body = Problem),
    )
)]
pub async fn outbox(
    State(st): State<ApiState>,
    _viewer: AsViewer,
    Query(q): Query<OutboxQuery>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<OutboxView>>, Problem> {
    let before = page.before()?;
    let limit = page.limit();
    let svc = st.svc.clone();
    let rows = blocking(move || {
        let store = svc.store().map_err(Problem::internal)?;
        store
            .outbox_page(nonempty(&q.state), before, limit + 1)
            .map_err(Problem::internal)
    })
    .await?;
    let rows: Vec<OutboxView> = rows.into_iter().map(OutboxView::from).collect();
    Ok(Json(Page::from_rows(rows, limit, |r| r.id)))
}

fn done(status: StatusCode, what: String) -> Response {
    let mut resp = status.into_response();
    resp.extensions_mut().insert(Changed(what));
    resp
}

/// Puts a dead-lettered instance back in the queue at the step that failed.
#[utoipa::path(
    post,
    path = "/api/v1/outbox/{id}/replay",
    tag = "orchestrations",
    params(("id" = i64, Path, description = "The instance")),
    responses(
        (status = 204, description = "Queued again"),
        (status = 403, description = "Not an operator", body = Problem),
        (status = 409, description = "Not on the dead-letter list", body = Problem),
    )
)]
pub async fn replay(
    State(st): State<ApiState>,
    AsOperator(p): AsOperator,
    Path(id): Path<i64>,
) -> Result<Response, Problem> {
    let svc = st.svc.clone();
    let queued = blocking(move || {
        let mut store = svc.store().map_err(Problem::internal)?;
        store.replay(id, Utc::now()).map_err(Problem::internal)
    })
    .await?;
    if !queued {
        return Err(Problem::conflict(format!(
            "#{id} is not on the dead-letter list (GET /api/v1/outbox?state=dead)"
        )));
    }
    st.svc.wake_worker.notify_one();
    Ok(done(
        StatusCode::NO_CONTENT,
        format!(
            "orchestration #{id} queued again at the step that failed, by {}",
            p.audit_name()
        ),
    ))
}

/// Cancels a pending or dead instance: none of its steps runs any more.
#[utoipa::path(
    post,
    path = "/api/v1/outbox/{id}/cancel",
    operation_id = "cancel_outbox_step",
    tag = "orchestrations",
    params(("id" = i64, Path, description = "The instance")),
    responses(
        (status = 204, description = "Cancelled"),
        (status = 403, description = "Not an operator", body = Problem),
        (status = 404, description = "No such instance", body = Problem),
        (status = 409, description = "Finished, or a worker runs its step now", body = Problem),
    )
)]
pub async fn cancel(
    State(st): State<ApiState>,
    AsOperator(p): AsOperator,
    Path(id): Path<i64>,
) -> Result<Response, Problem> {
    let svc = st.svc.clone();
    let by = p.audit_name();
    let by2 = by.clone();
    let outcome = blocking(move || {
        let mut store = svc.store().map_err(Problem::internal)?;
        store
            .cancel(id, &by2, Utc::now())
            .map_err(Problem::internal)
    })
    .await?;
    match outcome {
        Cancelled::Done { step } => Ok(done(
            StatusCode::NO_CONTENT,
            format!(
                "orchestration #{id} cancelled before step {} by {by}",
                step + 1
            ),
        )),
        Cancelled::NotFound => Err(Problem::not_found(format!(
            "no orchestration instance #{id}"
        ))),
        Cancelled::Finished { status } => Err(Problem::conflict(format!(
            "#{id} has finished ({status}): there is nothing left to cancel"
        ))),
        Cancelled::Running { until } => Err(Problem::conflict(format!(
            "#{id}: a worker is running one of its steps now{}; try again when it is done",
            until
                .map(|t| format!(" (until {} at the latest)", t.to_rfc3339()))
                .unwrap_or_default()
        ))),
    }
}

/// Filters of `GET /api/v1/deliveries`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Only this webhook's calls.
    pub webhook: Option<String>,
}

/// One webhook call, as logged: the request (secret headers `[redacted]`) and the response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: i64,
    pub webhook: String,
    pub hr_key: Option<String>,
    pub outbox_id: Option<i64>,
    pub step: Option<i64>,
    pub at: String,
    pub ok: bool,
    /// The HTTP status of the last response.
    pub status: Option<i64>,
    pub attempts: i64,
    pub duration_ms: i64,
    /// The request and response (secrets redacted).
    #[schema(value_type = Object)]
    pub delivery: serde_json::Value,
}

/// Header names whose values are secrets whatever the log says (the log stores them
/// redacted already: this is a second guard on the way out).
fn secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "authorization"
        || n == "proxy-authorization"
        || n == "cookie"
        || n == "set-cookie"
        || [
            "token",
            "secret",
            "password",
            "api-key",
            "apikey",
            "signature",
        ]
        .iter()
        .any(|s| n.contains(s))
}

/// Redacts secret header values anywhere in a delivery (`headers` as `[[name, value], …]`).
fn redact(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                if k == "headers"
                    && let serde_json::Value::Array(hs) = val
                {
                    for h in hs.iter_mut() {
                        if let serde_json::Value::Array(pair) = h
                            && let [serde_json::Value::String(name), value] = pair.as_mut_slice()
                            && secret_header(name)
                        {
                            *value = serde_json::Value::String("[redacted]".into());
                        }
                    }
                } else {
                    redact(val);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(redact),
        _ => {}
    }
}

impl From<DeliveryRow> for DeliveryView {
    fn from(r: DeliveryRow) -> DeliveryView {
        let mut delivery = r.delivery;
        redact(&mut delivery);
        DeliveryView {
            id: r.id,
            webhook: r.webhook,
            hr_key: r.hr_key,
            outbox_id: r.outbox_id,
            step: r.step,
            at: r.at,
            ok: r.ok,
            status: r.status,
            attempts: r.attempts,
            duration_ms: r.duration_ms,
            delivery,
        }
    }
}

/// Webhook calls, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/deliveries",
    tag = "orchestrations",
    params(DeliveriesQuery, PageQuery),
    responses(
        (status = 200, description = "A page of webhook calls", body = Page<DeliveryView>),
        (status = 401, description = "Not signed in", body = Problem),
    )
)]
pub async fn deliveries(
    State(st): State<ApiState>,
    _viewer: AsViewer,
    Query(q): Query<DeliveriesQuery>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<DeliveryView>>, Problem> {
    let before = page.before()?;
    let limit = page.limit();
    let svc = st.svc.clone();
    let rows = blocking(move || {
        let store = svc.store().map_err(Problem::internal)?;
        store
            .deliveries_page(nonempty(&q.webhook), before, limit + 1)
            .map_err(Problem::internal)
    })
    .await?;
    let rows: Vec<DeliveryView> = rows.into_iter().map(DeliveryView::from).collect();
    Ok(Json(Page::from_rows(rows, limit, |r| r.id)))
}

/// Filters of `GET /api/v1/review`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReviewQuery {
    /// Only this mapping's people.
    pub mapping: Option<String>,
    /// Also the people decided already (default: only those awaiting a decision).
    pub all: Option<bool>,
}

/// A person awaiting a decision (or decided), with the candidate accounts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReviewView {
    pub mapping: String,
    pub hr_key: String,
    /// `open`, `adopt` or `new`.
    pub status: String,
    pub reason: String,
    /// The accounts that might be theirs.
    #[schema(value_type = Vec<Object>)]
    pub candidates: Vec<serde_json::Value>,
    pub chosen_dn: Option<String>,
    pub first_seen: String,
    pub updated_at: String,
    pub decided_by: Option<String>,
}

impl From<ReviewRow> for ReviewView {
    fn from(r: ReviewRow) -> ReviewView {
        ReviewView {
            candidates: r
                .candidates
                .iter()
                .filter_map(|c| serde_json::to_value(c).ok())
                .collect(),
            mapping: r.mapping,
            hr_key: r.hr_key,
            status: r.status,
            reason: r.reason,
            chosen_dn: r.chosen_dn,
            first_seen: r.first_seen,
            updated_at: r.updated_at,
            decided_by: r.decided_by,
        }
    }
}

/// The review list: people hrsync found candidate accounts for but would not link alone.
#[utoipa::path(
    get,
    path = "/api/v1/review",
    tag = "review",
    params(ReviewQuery, PageQuery),
    responses(
        (status = 200, description = "A page of the review list", body = Page<ReviewView>),
        (status = 401, description = "Not signed in", body = Problem),
    )
)]
pub async fn review(
    State(st): State<ApiState>,
    _viewer: AsViewer,
    Query(q): Query<ReviewQuery>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<ReviewView>>, Problem> {
    let svc = st.svc.clone();
    let rows = blocking(move || {
        let store = svc.store().map_err(Problem::internal)?;
        store
            .review(nonempty(&q.mapping), q.all.unwrap_or(false))
            .map_err(Problem::internal)
    })
    .await?;
    let views: Vec<ReviewView> = rows.into_iter().map(ReviewView::from).collect();
    Ok(Json(Page::of_all(views, &page)?))
}

/// The account to adopt.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct AdoptRequest {
    /// The DN of the account: one of the candidates.
    pub dn: String,
}

/// Records a review decision as `hrsync review adopt|new|reopen` does; it takes effect on the
/// next plan or apply.
async fn review_decide(
    st: ApiState,
    by: String,
    mapping: String,
    key: String,
    status: &'static str,
    dn: Option<String>,
) -> Result<Response, Problem> {
    let svc = st.svc.clone();
    let (m, k, d, who) = (mapping.clone(), key.clone(), dn.clone(), by.clone());
    blocking(move || {
        let mut store = svc.store().map_err(Problem::internal)?;
        let item = store
            .review(Some(&m), true)
            .map_err(Problem::internal)?
            .into_iter()
            .find(|r| r.hr_key == k)
            .ok_or_else(|| {
                Problem::not_found(format!("{k:?} is not on the review list of mapping {m:?}"))
            })?;
        if let Some(d) = &d
            && !item
                .candidates
                .iter()
                .any(|c| hrsync_model::dn::same(&c.dn, d))
        {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not-a-candidate",
                format!(
                    "{d} is not one of the candidates of {k:?}: {:?}",
                    item.candidates.iter().map(|c| &c.dn).collect::<Vec<_>>()
                ),
            ));
        }
        store
            .decide(&m, &k, status, d.as_deref(), &who, Utc::now())
            .map_err(Problem::internal)?;
        Ok(())
    })
    .await?;
    let what = match status {
        "adopt" => format!(
            "review {mapping}/{key}: adopt {} (by {by})",
            dn.unwrap_or_default()
        ),
        "new" => format!("review {mapping}/{key}: create a new account (by {by})"),
        _ => format!("review {mapping}/{key}: back on the review list (by {by})"),
    };
    Ok(done(StatusCode::NO_CONTENT, what))
}

/// This account is the person's: the next apply links it.
#[utoipa::path(
    post,
    path = "/api/v1/review/{mapping}/{key}/adopt",
    tag = "review",
    params(
        ("mapping" = String, Path, description = "The mapping"),
        ("key" = String, Path, description = "The person's HR key"),
    ),
    request_body = AdoptRequest,
    responses(
        (status = 204, description = "Decided; takes effect on the next plan or apply"),
        (status = 403, description = "Not an operator", body = Problem),
        (status = 404, description = "Not on the review list", body = Problem),
        (status = 422, description = "Not one of the candidates", body = Problem),
    )
)]
pub async fn adopt(
    State(st): State<ApiState>,
    AsOperator(p): AsOperator,
    Path((mapping, key)): Path<(String, String)>,
    Json(req): Json<AdoptRequest>,
) -> Result<Response, Problem> {
    review_decide(st, p.audit_name(), mapping, key, "adopt", Some(req.dn)).await
}

/// None of the candidates is the person: the next apply creates a new account.
#[utoipa::path(
    post,
    path = "/api/v1/review/{mapping}/{key}/new",
    tag = "review",
    params(
        ("mapping" = String, Path, description = "The mapping"),
        ("key" = String, Path, description = "The person's HR key"),
    ),
    responses(
        (status = 204, description = "Decided; takes effect on the next plan or apply"),
        (status = 403, description = "Not an operator", body = Problem),
        (status = 404, description = "Not on the review list", body = Problem),
    )
)]
pub async fn new_account(
    State(st): State<ApiState>,
    AsOperator(p): AsOperator,
    Path((mapping, key)): Path<(String, String)>,
) -> Result<Response, Problem> {
    review_decide(st, p.audit_name(), mapping, key, "new", None).await
}

/// Undoes a decision: the person is back on the review list.
#[utoipa::path(
    post,
    path = "/api/v1/review/{mapping}/{key}/reopen",
    tag = "review",
    params(
        ("mapping" = String, Path, description = "The mapping"),
        ("key" = String, Path, description = "The person's HR key"),
    ),
    responses(
        (status = 204, description = "Back on the list"),
        (status = 403, description = "Not an operator", body = Problem),
        (status = 404, description = "Not on the review list", body = Problem),
    )
)]
pub async fn reopen(
    State(st): State<ApiState>,
    AsOperator(p): AsOperator,
    Path((mapping, key)): Path<(String, String)>,
) -> Result<Response, Problem> {
    review_decide(st, p.audit_name(), mapping, key, "open", None).await
}
