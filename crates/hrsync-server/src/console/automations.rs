//! Automations: the list (schedule in words, next run, last result) with Run now and
//! Pause/Resume, and the editor: cron with its plain-words description and next five run
//! times as you type (croner's own describer, through `hrsync_config::schedule`; times are
//! UTC, as the scheduler runs them), mapping, mode, fetch and what happens after downtime.

use super::ConsoleState;
use super::client::{ApiError, enc};
use super::page::{Ctx, PageResult};
use super::webhooks::{Fields, api_errors, err, field, items, jv, names};
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::context;
use serde::Deserialize;
use serde_json::{Map, Value, json};

pub(super) const TEMPLATES: &[(&str, &str)] = &[
    (
        "automations_list.html",
        include_str!("../../console/templates/automations_list.html"),
    ),
    (
        "automations_edit.html",
        include_str!("../../console/templates/automations_edit.html"),
    ),
    (
        "automations_schedule.html",
        include_str!("../../console/templates/automations_schedule.html"),
    ),
];

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/automations", get(list))
        .route("/console/automations/describe", get(describe))
        .route("/console/automations/new", get(new_form).post(create))
        .route("/console/automations/{name}", get(edit_form).post(update))
        .route("/console/automations/{name}/run", post(run_now))
        .route("/console/automations/{name}/pause", post(pause))
        .route("/console/automations/{name}/resume", post(resume))
        .route("/console/automations/{name}/delete", post(delete))
}

/// A schedule in words with its next `n` run times (UTC), or why it is not one.
pub(super) fn schedule_words(expr: &str, n: usize) -> Value {
    if expr.trim().is_empty() {
        return json!({"schedule": expr});
    }
    match hrsync_config::schedule::parse(expr.trim()) {
        Err(e) => json!({"schedule": expr, "error": e}),
        Ok(cron) => {
            let mut next = Vec::new();
            let mut t = chrono::Utc::now();
            for _ in 0..n {
                match hrsync_config::schedule::next_after(&cron, t) {
                    Some(x) => {
                        next.push(x.to_rfc3339());
                        t = x;
                    }
                    None => break,
                }
            }
            json!({"schedule": expr, "description": cron.describe(), "next": next})
        }
    }
}

async fn list(ctx: Ctx) -> PageResult {
    let all = ctx
        .get("/api/v1/automations?limit=200")
        .await
        .map_err(|e| ctx.problem(&e))?;
    let mut rows = Vec::new();
    for a in items(&all) {
        let name = a.get("name").and_then(Value::as_str).unwrap_or_default();
        let next = ctx
            .get(&format!("/api/v1/automations/{}/next?count=1", enc(name)))
            .await
            .ok();
        rows.push(json!({"a": a, "next": next}));
    }
    Ok(ctx.render(
        "automations_list.html",
        context! { automations => jv(&Value::Array(rows)) },
    ))
}

#[derive(Deserialize)]
struct Describe {
    #[serde(default)]
    schedule: String,
}

/// The schedule field's live description (an htmx fragment).
async fn describe(ctx: Ctx, Query(q): Query<Describe>) -> PageResult {
    Ok(ctx.render(
        "automations_schedule.html",
        context! { s => jv(&schedule_words(&q.schedule, 5)) },
    ))
}

fn to_json(f: &Fields) -> Result<Value, Vec<Value>> {
    let mut errors = Vec::new();
    let mut o = Map::new();
    for k in ["name", "mapping", "schedule"] {
        let v = field(f, k);
        if v.is_empty() {
            errors.push(err(k, format!("{k} is required")));
        }
        o.insert(k.into(), json!(v));
    }
    let d = field(f, "description");
    if !d.is_empty() {
        o.insert("description".into(), json!(d));
    }
    if let Some(e) = schedule_words(&field(f, "schedule"), 0).get("error") {
        errors.push(err("schedule", e.as_str().unwrap_or_default()));
    }
    for (k, allowed) in [
        ("mode", &["apply", "plan"][..]),
        ("fetch", &["incremental", "full"][..]),
        ("missed", &["run_once", "skip"][..]),
    ] {
        let v = field(f, k);
        if v.is_empty() {
            continue;
        }
        if !allowed.contains(&v.as_str()) {
            errors.push(err(k, format!("one of {}", allowed.join(", "))));
        }
        o.insert(k.into(), json!(v));
    }
    o.insert("enabled".into(), json!(!field(f, "enabled").is_empty()));
    if errors.is_empty() {
        Ok(Value::Object(o))
    } else {
        Err(errors)
    }
}

struct Editor {
    a: Value,
    existing: bool,
    hash: String,
    errors: Vec<Value>,
    saved: bool,
    next: Option<Value>,
    status: StatusCode,
}

async fn render_editor(ctx: &Ctx, e: Editor) -> PageResult {
    let mappings = names(
        &ctx.get("/api/v1/mappings?limit=200")
            .await
            .map_err(|x| ctx.problem(&x))?,
    );
    let schedule = e.a.get("schedule").and_then(Value::as_str).unwrap_or("");
    Ok(ctx.render_status(
        e.status,
        "automations_edit.html",
        context! {
            a => jv(&e.a),
            existing => e.existing,
            hash => e.hash,
            errors => jv(&Value::Array(e.errors)),
            saved => e.saved,
            next => e.next.as_ref().map(jv),
            s => jv(&schedule_words(schedule, 5)),
            mappings,
        },
    ))
}

async fn new_form(ctx: Ctx) -> PageResult {
    let r = ctx
        .call(Method::GET, "/api/v1/automations?limit=1", None, None)
        .await
        .map_err(|e| ctx.problem(&e))?;
    let a = json!({"schedule": "0 2 * * *", "mode": "apply", "fetch": "incremental", "missed": "run_once", "enabled": true});
    render_editor(
        &ctx,
        Editor {
            a,
            existing: false,
            hash: r.etag().unwrap_or_default(),
            errors: Vec::new(),
            saved: false,
            next: None,
            status: StatusCode::OK,
        },
    )
    .await
}

#[derive(Deserialize)]
struct Shown {
    saved: Option<String>,
}

async fn load(ctx: &Ctx, name: &str) -> Result<Editor, ApiError> {
    let r = ctx
        .call(
            Method::GET,
            &format!("/api/v1/automations/{}", enc(name)),
            None,
            None,
        )
        .await?;
    let next = ctx
        .get(&format!("/api/v1/automations/{}/next?count=5", enc(name)))
        .await
        .ok();
    let mut a = r.body.clone();
    if a.get("enabled").is_none() {
        a["enabled"] = json!(true);
    }
    Ok(Editor {
        a,
        existing: true,
        hash: r.etag().unwrap_or_default(),
        errors: Vec::new(),
        saved: false,
        next,
        status: StatusCode::OK,
    })
}

async fn edit_form(ctx: Ctx, Path(name): Path<String>, Query(q): Query<Shown>) -> PageResult {
    let mut e = load(&ctx, &name).await.map_err(|x| ctx.problem(&x))?;
    e.saved = q.saved.is_some();
    render_editor(&ctx, e).await
}

async fn create(ctx: Ctx, Form(f): Form<Fields>) -> PageResult {
    submit(ctx, None, f).await
}

async fn update(ctx: Ctx, Path(name): Path<String>, Form(f): Form<Fields>) -> PageResult {
    submit(ctx, Some(name), f).await
}

async fn submit(ctx: Ctx, existing: Option<String>, f: Fields) -> PageResult {
    let echo = json!({
        "name": field(&f, "name"), "description": field(&f, "description"), "mapping": field(&f, "mapping"),
        "schedule": field(&f, "schedule"), "mode": field(&f, "mode"), "fetch": field(&f, "fetch"),
        "missed": field(&f, "missed"), "enabled": !field(&f, "enabled").is_empty(),
    });
    let mut e = Editor {
        a: echo,
        existing: existing.is_some(),
        hash: field(&f, "hash"),
        errors: Vec::new(),
        saved: false,
        next: None,
        status: StatusCode::UNPROCESSABLE_ENTITY,
    };
    let body = match to_json(&f) {
        Ok(b) => b,
        Err(errors) => {
            e.errors = errors;
            return render_editor(&ctx, e).await;
        }
    };
    let name = field(&f, "name");
    let (method, path) = match &existing {
        None => (
            Method::POST,
            "/api/v1/automations?comment=console".to_string(),
        ),
        Some(n) => (
            Method::PUT,
            format!("/api/v1/automations/{}?comment=console", enc(n)),
        ),
    };
    match ctx.call(method, &path, Some(&body), Some(&e.hash)).await {
        Ok(_) => Ok(
            Redirect::to(&format!("/console/automations/{}?saved=1", enc(&name))).into_response(),
        ),
        Err(x) if x.status == StatusCode::FORBIDDEN => Err(ctx.problem(&x)),
        Err(x) => {
            e.errors = api_errors(&x);
            e.status = x.status;
            render_editor(&ctx, e).await
        }
    }
}

async fn delete(ctx: Ctx, Path(name): Path<String>, Form(f): Form<Fields>) -> PageResult {
    let path = format!("/api/v1/automations/{}?comment=console", enc(&name));
    match ctx
        .call(Method::DELETE, &path, None, Some(&field(&f, "hash")))
        .await
    {
        Ok(_) => Ok(Redirect::to("/console/automations").into_response()),
        Err(x) if x.status == StatusCode::FORBIDDEN || x.status == StatusCode::NOT_FOUND => {
            Err(ctx.problem(&x))
        }
        Err(x) => {
            let mut e = load(&ctx, &name).await.map_err(|y| ctx.problem(&y))?;
            e.errors = api_errors(&x);
            e.status = x.status;
            render_editor(&ctx, e).await
        }
    }
}

async fn run_now(ctx: Ctx, Path(name): Path<String>) -> PageResult {
    let r = ctx
        .call(
            Method::POST,
            &format!("/api/v1/automations/{}/run", enc(&name)),
            None,
            None,
        )
        .await
        .map_err(|e| ctx.problem(&e))?;
    match r.body.get("run_id").and_then(Value::as_i64) {
        Some(id) => Ok(Redirect::to(&format!("/console/runs/{id}")).into_response()),
        None => Ok(Redirect::to("/console/runs").into_response()),
    }
}

async fn toggle(ctx: Ctx, name: String, verb: &str) -> PageResult {
    ctx.call(
        Method::POST,
        &format!("/api/v1/automations/{}/{verb}", enc(&name)),
        None,
        None,
    )
    .await
    .map_err(|e| ctx.problem(&e))?;
    Ok(Redirect::to("/console/automations").into_response())
}

async fn pause(ctx: Ctx, Path(name): Path<String>) -> PageResult {
    toggle(ctx, name, "pause").await
}

async fn resume(ctx: Ctx, Path(name): Path<String>) -> PageResult {
    toggle(ctx, name, "resume").await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn a_schedule_is_described_with_its_next_times() {
        let s = super::schedule_words("*/15 * * * *", 5);
        assert_eq!(s["next"].as_array().unwrap().len(), 5);
        assert!(!s["description"].as_str().unwrap().is_empty());
        assert!(super::schedule_words("every monday", 5)["error"].is_string());
    }
}
