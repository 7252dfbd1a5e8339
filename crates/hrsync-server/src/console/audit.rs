//! Runs and audit: the runs and the audit of directory changes, searchable by person, kind,
//! result, mapping and date (each list paged by the API's cursor); one run (its live progress
//! while it runs, then its status, counts, failures explained and audit rows); a person's page
//! (link, history, orchestration instances, and for operators the HR record and the entry
//! today). The helpers at the end are shared with [`super::plans`] and [`super::ops`].

use super::ConsoleState;
use super::client::{ApiError, enc};
pub(super) use super::form::items;
use super::page::{Ctx, PageResult, tpl};
use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use minijinja::context;
use serde::Deserialize;
use serde_json::{Value, json};

pub(super) const TEMPLATES: &[(&str, &str)] = &[
    (
        "audit_runs.html",
        include_str!("../../console/templates/audit_runs.html"),
    ),
    (
        "audit_rows.html",
        include_str!("../../console/templates/audit_rows.html"),
    ),
    (
        "audit_run.html",
        include_str!("../../console/templates/audit_run.html"),
    ),
    (
        "audit_run_result.html",
        include_str!("../../console/templates/audit_run_result.html"),
    ),
    (
        "audit_person.html",
        include_str!("../../console/templates/audit_person.html"),
    ),
    (
        "audit_person_live.html",
        include_str!("../../console/templates/audit_person_live.html"),
    ),
];

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/runs", get(runs))
        .route("/console/runs/{id}", get(run))
        .route("/console/runs/{id}/result", get(run_result))
        .route("/console/runs/{id}/cancel", post(cancel))
        .route("/console/people/{mapping}/{key}", get(person))
        .route("/console/people/{mapping}/{key}/live", post(person_live))
}

/// Audit rows per page.
const AUDIT_PAGE: usize = 50;
/// Runs per page.
const RUNS_PAGE: usize = 20;
/// Audit rows of one run per page.
const RUN_AUDIT_PAGE: usize = 100;

/// The filters of `/console/runs` (the form `audit-filter`).
#[derive(Debug, Default, Deserialize)]
pub(super) struct RunsFilter {
    #[serde(default)]
    person: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    result: String,
    #[serde(default)]
    mapping: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    /// The runs list's status filter.
    #[serde(default)]
    status: String,
    /// The audit's cursor.
    #[serde(default)]
    cursor: String,
    /// The runs list's cursor.
    #[serde(default)]
    runs_cursor: String,
}

/// A date or time typed into a filter: `2026-12-03` (that day's start, or for `until` the
/// next day's start, so the day is included), `2026-12-03T10:00` (UTC) or RFC 3339.
fn parse_when(s: &str, end_of_day: bool) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let d = if end_of_day { d.succ_opt()? } else { d };
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc());
    }
    for f in [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    None
}

async fn runs(ctx: Ctx, Query(f): Query<RunsFilter>) -> PageResult {
    let mut errors = Vec::new();
    let mut when = |label: &str, s: &str, end: bool| -> String {
        if s.trim().is_empty() {
            return String::new();
        }
        match parse_when(s, end) {
            Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            None => {
                errors.push(format!(
                    "{label} {s:?} is not a date: type 2026-12-03, 2026-12-03T10:00 (UTC) or an RFC 3339 time"
                ));
                String::new()
            }
        }
    };
    let since = when("From", &f.since, false);
    let until = when("Until", &f.until, true);
    // The filters as the console's own links carry them (no cursor).
    let own = qs(&[
        ("person", &f.person),
        ("kind", &f.kind),
        ("result", &f.result),
        ("mapping", &f.mapping),
        ("since", &f.since),
        ("until", &f.until),
        ("status", &f.status),
    ]);
    let audit_q = qs(&[
        ("person", f.person.trim()),
        ("kind", &f.kind),
        ("result", &f.result),
        ("mapping", &f.mapping),
        ("since", &since),
        ("until", &until),
        ("cursor", &f.cursor),
    ]);
    let audit = if errors.is_empty() {
        match ctx
            .get(&format!("/api/v1/audit?limit={AUDIT_PAGE}&{audit_q}"))
            .await
        {
            Ok(v) => v,
            Err(e) if e.status == StatusCode::BAD_REQUEST => {
                errors.push(e.detail());
                json!({"items": []})
            }
            Err(e) => return Err(ctx.problem(&e)),
        }
    } else {
        json!({"items": []})
    };
    let runs_q = qs(&[
        ("mapping", &f.mapping),
        ("status", &f.status),
        ("cursor", &f.runs_cursor),
    ]);
    let runs = ctx
        .get(&format!("/api/v1/runs?limit={RUNS_PAGE}&{runs_q}"))
        .await
        .map_err(|e| ctx.problem(&e))?;
    let mappings = mapping_names(&ctx).await;
    let link = |cursor: &str, runs_cursor: &str| {
        let paging = qs(&[("cursor", cursor), ("runs_cursor", runs_cursor)]);
        let sep = if own.is_empty() { "" } else { "&" };
        format!("/console/runs?{own}{sep}{paging}")
    };
    let runs_next = next_cursor(&runs).map(|c| link(&f.cursor, &c));
    let audit_next = next_cursor(&audit).map(|c| link(&c, &f.runs_cursor));
    Ok(ctx.render(
        "audit_runs.html",
        context! {
            f => context! {
                person => f.person, kind => f.kind, result => f.result, mapping => f.mapping,
                since => f.since, until => f.until, status => f.status,
                paged => !f.cursor.is_empty() || !f.runs_cursor.is_empty(),
            },
            errors => errors,
            mappings => mappings,
            kinds => KINDS.to_vec(),
            runs => tpl(&Value::Array(items(&runs))),
            runs_next => runs_next,
            audit => tpl(&Value::Array(audit_rows(&audit))),
            audit_next => audit_next,
        },
    ))
}

/// The kinds of change, in the order the console lists them.
pub(super) const KINDS: &[&str] = &[
    "create",
    "create-disabled",
    "update",
    "enable",
    "finish-create",
    "disable",
    "delete",
];

/// What a run page shows whatever its state.
async fn run_data(ctx: &Ctx, id: i64, cursor: &str) -> Result<Value, ApiError> {
    // A run that failed reports `finished` just before it records its status: give the
    // database a moment to catch up, then trust the event.
    let mut view = ctx.get(&format!("/api/v1/runs/{id}")).await?;
    for _ in 0..40 {
        if finished_event(&view).is_none() || !is_running(&view) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        view = ctx.get(&format!("/api/v1/runs/{id}")).await?;
    }
    let mut run = view.get("run").cloned().unwrap_or(Value::Null);
    if is_running(&view)
        && let Some(fin) = finished_event(&view)
    {
        run["status"] = fin.get("status").cloned().unwrap_or(Value::Null);
        run["error"] = fin.get("error").cloned().unwrap_or(Value::Null);
    }
    let running = run.get("status").and_then(Value::as_str) == Some("running");
    let mut out = json!({
        "run": run,
        "running": running,
        "duration": duration(&run),
        "progress": view.get("progress").cloned().unwrap_or(Value::Null),
        "orphans": view.get("orphans").cloned().unwrap_or(Value::Null),
    });
    if !running {
        let audit = ctx
            .get(&format!(
                "/api/v1/audit?run={id}&limit={RUN_AUDIT_PAGE}&{}",
                qs(&[("cursor", cursor)])
            ))
            .await?;
        let rows = audit_rows(&audit);
        let failures: Vec<Value> = rows
            .iter()
            .filter(|r| r.get("ok") == Some(&Value::Bool(false)))
            .cloned()
            .collect();
        out["audit"] = Value::Array(rows);
        out["failures"] = Value::Array(failures);
        out["audit_next"] = next_cursor(&audit)
            .map(|c| Value::String(format!("/console/runs/{id}?cursor={}", enc(&c))))
            .unwrap_or(Value::Null);
        // The saved plan this run made, if it saved one.
        if let Ok(p) = ctx.get(&format!("/api/v1/plans/{id}")).await {
            out["saved_plan"] = p;
        }
    }
    Ok(out)
}

fn is_running(view: &Value) -> bool {
    view.pointer("/run/status").and_then(Value::as_str) == Some("running")
}

/// The `finished` event of a run's live progress, if it is over.
fn finished_event(view: &Value) -> Option<&Value> {
    view.get("progress")?
        .as_array()?
        .iter()
        .find(|e| e.get("event").and_then(Value::as_str) == Some("finished"))
}

#[derive(Debug, Default, Deserialize)]
struct CursorQuery {
    #[serde(default)]
    cursor: String,
}

async fn run(ctx: Ctx, Path(id): Path<i64>, Query(q): Query<CursorQuery>) -> PageResult {
    let d = run_data(&ctx, id, &q.cursor)
        .await
        .map_err(|e| ctx.problem(&e))?;
    Ok(ctx.render("audit_run.html", context! { id => id, d => tpl(&d) }))
}

/// The finished run's part of its page (what `data-run-done` loads into the progress).
async fn run_result(ctx: Ctx, Path(id): Path<i64>) -> PageResult {
    let d = run_data(&ctx, id, "").await.map_err(|e| ctx.problem(&e))?;
    Ok(ctx.render("audit_run_result.html", context! { id => id, d => tpl(&d) }))
}

/// Cancels a run this daemon runs (operator): changes in flight complete, the rest are not
/// attempted; the page follows the run to its end.
async fn cancel(ctx: Ctx, Path(id): Path<i64>) -> PageResult {
    ctx.call(
        Method::POST,
        &format!("/api/v1/runs/{id}/cancel"),
        None,
        None,
    )
    .await
    .map_err(|e| ctx.problem(&e))?;
    Ok(go(&ctx, &format!("/console/runs/{id}")))
}

/// `12.3 s` between a run's start and end (or now).
fn duration(run: &Value) -> Value {
    let t = |k: &str| {
        run.get(k)
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    let Some(start) = t("started_at") else {
        return Value::Null;
    };
    let end = t("finished_at").unwrap_or_else(Utc::now);
    let ms = (end - start).num_milliseconds().max(0);
    Value::String(if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000)
    })
}

async fn person(ctx: Ctx, Path((mapping, key)): Path<(String, String)>) -> PageResult {
    let p = ctx
        .get(&format!("/api/v1/people/{}/{}", enc(&mapping), enc(&key)))
        .await;
    let (p, missing) = match p {
        Ok(p) => (p, None),
        // Nothing recorded yet: the page still offers the HR record and the entry today.
        Err(e) if e.status == StatusCode::NOT_FOUND => (json!({}), Some(e.detail())),
        Err(e) => return Err(ctx.problem(&e)),
    };
    let history = p
        .get("history")
        .map(|h| audit_rows(&json!({ "items": h })))
        .unwrap_or_default();
    Ok(ctx.render(
        "audit_person.html",
        context! {
            mapping => mapping, key => key, p => tpl(&p), missing => missing,
            history => tpl(&Value::Array(history)),
        },
    ))
}

/// The person through the mapping now (operator: the API's preview reads HR and the
/// directory): their HR record, their entry, what a run would do.
async fn person_live(ctx: Ctx, Path((mapping, key)): Path<(String, String)>) -> PageResult {
    let e = ctx
        .call(
            Method::POST,
            &format!("/api/v1/mappings/{}/preview", enc(&mapping)),
            Some(&json!({ "person": key })),
            None,
        )
        .await
        .map_err(|e| ctx.problem(&e))?;
    Ok(ctx.render(
        "audit_person_live.html",
        context! { mapping => mapping, key => key, e => tpl(&e.body) },
    ))
}

// ---- shared by the console's list pages -----------------------------------------------------

/// A list page's `next_cursor`.
pub(super) fn next_cursor(v: &Value) -> Option<String> {
    v.get("next_cursor")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
}

/// A query string of the pairs whose value is not empty, each value percent-encoded.
pub(super) fn qs(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Audit rows with their LDAP result's name (`noSuchObject (32)`) for the failures.
pub(super) fn audit_rows(page: &Value) -> Vec<Value> {
    items(page)
        .into_iter()
        .map(|mut r| {
            if let Some(rc) = r.get("rc").and_then(Value::as_u64)
                && r.get("ok") == Some(&Value::Bool(false))
            {
                let rc = u32::try_from(rc).unwrap_or(u32::MAX);
                r["rc_name"] = Value::String(hrsync_directory::result_code::describe(rc));
            }
            r
        })
        .collect()
}

/// The names of the mappings (for filter drop-downs); empty when the API refuses.
pub(super) async fn mapping_names(ctx: &Ctx) -> Vec<String> {
    ctx.get("/api/v1/mappings?limit=500")
        .await
        .map(|v| {
            items(&v)
                .iter()
                .filter_map(|m| m.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// After an action the API accepted: to `to` (a plain form: 303; htmx: `HX-Redirect`).
pub(super) fn go(ctx: &Ctx, to: &str) -> Response {
    if ctx.htmx {
        let mut r = StatusCode::OK.into_response();
        if let Ok(v) = HeaderValue::from_str(to) {
            r.headers_mut().insert("hx-redirect", v);
        }
        r
    } else {
        Redirect::to(to).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_dates_become_times_and_until_includes_its_day() {
        let t = |s, end| parse_when(s, end).map(|t| t.to_rfc3339());
        assert_eq!(
            t("2026-12-03", false).as_deref(),
            Some("2026-12-03T00:00:00+00:00")
        );
        assert_eq!(
            t("2026-12-03", true).as_deref(),
            Some("2026-12-04T00:00:00+00:00")
        );
        assert_eq!(
            t("2026-12-03T10:30", false).as_deref(),
            Some("2026-12-03T10:30:00+00:00")
        );
        assert_eq!(
            t("2026-12-03T10:30:00+02:00", true).as_deref(),
            Some("2026-12-03T08:30:00+00:00")
        );
        assert!(t("yesterday", false).is_none());
    }

    #[test]
    fn query_strings_skip_empty_values_and_encode_the_rest() {
        assert_eq!(
            qs(&[("a", "x y"), ("b", ""), ("c", "&=")]),
            "a=x%20y&c=%26%3D"
        );
    }
}
