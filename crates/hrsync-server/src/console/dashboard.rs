//! The dashboard: per mapping its last run (status, counts, duration, HR fetch health), the
//! next scheduled run, plans awaiting approval, held runs, and the review, dead-letter and
//! recent-run lists, each from one API page (never a whole table).

use super::ConsoleState;
use super::client::enc;
use super::form::items;
use super::page::{Ctx, PageResult, tpl};
use axum::Router;
use axum::routing::get;
use minijinja::context;
use serde_json::{Value, json};

pub(super) const TEMPLATES: &[(&str, &str)] = &[(
    "dashboard.html",
    include_str!("../../console/templates/dashboard.html"),
)];

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new().route("/console/", get(dashboard))
}

/// "20" or "20+" when the page had more.
fn count(v: &Value) -> String {
    let n = items(v).len();
    if v.get("next_cursor").is_some_and(|c| !c.is_null()) {
        format!("{n}+")
    } else {
        n.to_string()
    }
}

async fn dashboard(ctx: Ctx) -> PageResult {
    let fail = |e| ctx.problem(&e);
    let mappings = ctx.get("/api/v1/mappings?limit=200").await.map_err(fail)?;
    let automations = ctx
        .get("/api/v1/automations?limit=200")
        .await
        .map_err(fail)?;
    let recent = ctx.get("/api/v1/runs?limit=15").await.map_err(fail)?;
    let approvals = ctx.get("/api/v1/approvals?limit=100").await.map_err(fail)?;
    let review = ctx.get("/api/v1/review?limit=100").await.map_err(fail)?;
    let dead = ctx
        .get("/api/v1/outbox?state=dead&limit=100")
        .await
        .map_err(fail)?;
    let waiting = items(&approvals);
    let autos = items(&automations);
    let mut rows = Vec::new();
    for m in items(&mappings) {
        let name = m.get("name").and_then(Value::as_str).unwrap_or_default();
        let last = ctx
            .get(&format!("/api/v1/runs?mapping={}&limit=1", enc(name)))
            .await
            .map_err(fail)?;
        let last = items(&last).into_iter().next();
        let mut next = Vec::new();
        for a in &autos {
            let runs_it = a.get("mapping").and_then(Value::as_str) == Some(name)
                || a.get("mappings")
                    .and_then(Value::as_array)
                    .is_some_and(|l| l.iter().any(|x| x.as_str() == Some(name)));
            if !runs_it {
                continue;
            }
            let aname = a.get("name").and_then(Value::as_str).unwrap_or_default();
            if let Ok(n) = ctx
                .get(&format!("/api/v1/automations/{}/next", enc(aname)))
                .await
            {
                next.push(json!({"automation": aname, "next": n}));
            }
        }
        let awaiting = waiting
            .iter()
            .filter(|w| w.get("mapping").and_then(Value::as_str) == Some(name))
            .count();
        rows.push(json!({
            "name": name,
            "description": m.get("description"),
            "category": m.get("category"),
            "last": last,
            "next": next,
            "awaiting": awaiting,
        }));
    }
    Ok(ctx.render(
        "dashboard.html",
        context! {
            mappings => tpl(&Value::Array(rows)),
            recent => tpl(&Value::Array(items(&recent))),
            awaiting => tpl(&Value::Array(waiting)),
            review_count => count(&review),
            dead_count => count(&dead),
        },
    ))
}
