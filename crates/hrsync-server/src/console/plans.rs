//! Plans: plan now (a saved plan, then the run's page with its live progress), the saved
//! plans (and those awaiting approval), one plan's changes grouped by kind with before → after
//! per attribute and the reason (filtered by kind and status and searched by person or DN on
//! the server, paged by cursor), approve / reject with four-eyes shown, and apply with live
//! progress. Every action is the API's (`POST /api/v1/runs`, `POST /api/v1/plans/{id}/…`).

use super::ConsoleState;
use super::audit::{KINDS, go, items, jv, mapping_names, next_cursor, qs};
use super::client::enc;
use super::page::{Ctx, PageResult};
use axum::extract::{Form, Path, Query};
use axum::http::Method;
use axum::routing::{get, post};
use axum::{Router, response::Response};
use minijinja::context;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(super) const TEMPLATES: &[(&str, &str)] = &[
    (
        "plans_list.html",
        include_str!("../../console/templates/plans_list.html"),
    ),
    (
        "plans_show.html",
        include_str!("../../console/templates/plans_show.html"),
    ),
];

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/plans", get(list))
        .route("/console/plans/now", post(plan_now))
        .route("/console/plans/{id}", get(show))
        .route("/console/plans/{id}/decide", post(decide))
        .route("/console/plans/{id}/apply", post(apply))
}

/// Changes per page of a plan.
const CHANGES_PAGE: usize = 100;
/// Plans per page.
const PLANS_PAGE: usize = 50;

#[derive(Debug, Default, Deserialize)]
struct MappingForm {
    #[serde(default)]
    mapping: String,
}

/// Plan now: a plan run that saves its plan; its page follows it.
async fn plan_now(ctx: Ctx, Form(f): Form<MappingForm>) -> PageResult {
    let started = ctx
        .call(
            Method::POST,
            "/api/v1/runs",
            Some(&json!({"mapping": f.mapping, "mode": "plan", "save": true})),
            None,
        )
        .await
        .map_err(|e| ctx.problem(&e))?;
    Ok(to_run(&ctx, &started.body))
}

/// To the page of the run the API started.
fn to_run(ctx: &Ctx, started: &Value) -> Response {
    let id = started.get("run_id").and_then(Value::as_i64).unwrap_or(0);
    go(ctx, &format!("/console/runs/{id}"))
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    awaiting: String,
    #[serde(default)]
    mapping: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    cursor: String,
}

async fn list(ctx: Ctx, Query(q): Query<ListQuery>) -> PageResult {
    let awaiting = !q.awaiting.is_empty() && q.awaiting != "0";
    let mappings = mapping_names(&ctx).await;
    if awaiting {
        // Changes waiting for an approval, one row per plan.
        let page = ctx
            .get(&format!(
                "/api/v1/approvals?limit=500&{}",
                qs(&[("mapping", &q.mapping), ("cursor", &q.cursor)])
            ))
            .await
            .map_err(|e| ctx.problem(&e))?;
        let mut by_plan: BTreeMap<i64, Value> = BTreeMap::new();
        for w in items(&page) {
            let id = w.get("plan").and_then(Value::as_i64).unwrap_or(0);
            let e = by_plan.entry(id).or_insert_with(|| {
                json!({
                    "id": id, "mapping": w.get("mapping"), "planned_by": w.get("planned_by"),
                    "saved_at": w.get("saved_at"), "expires_at": w.get("expires_at"),
                    "status": "open", "waiting": 0, "kinds": {},
                })
            });
            e["waiting"] = json!(e["waiting"].as_i64().unwrap_or(0) + 1);
            let kind = w
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            let n = e["kinds"][&kind].as_i64().unwrap_or(0);
            e["kinds"][&kind] = json!(n + 1);
        }
        let plans: Vec<Value> = by_plan.into_values().collect();
        let next = next_cursor(&page).map(|c| {
            format!(
                "/console/plans?{}",
                qs(&[("awaiting", "1"), ("mapping", &q.mapping), ("cursor", &c)])
            )
        });
        return Ok(ctx.render(
            "plans_list.html",
            context! {
                awaiting => true, q => context! { mapping => q.mapping, status => q.status },
                mappings => mappings, plans => jv(&Value::Array(plans)), next => next,
            },
        ));
    }
    let page = ctx
        .get(&format!(
            "/api/v1/plans?limit={PLANS_PAGE}&{}",
            qs(&[
                ("mapping", &q.mapping),
                ("status", &q.status),
                ("cursor", &q.cursor)
            ])
        ))
        .await
        .map_err(|e| ctx.problem(&e))?;
    let next = next_cursor(&page).map(|c| {
        format!(
            "/console/plans?{}",
            qs(&[
                ("mapping", &q.mapping),
                ("status", &q.status),
                ("cursor", &c)
            ])
        )
    });
    Ok(ctx.render(
        "plans_list.html",
        context! {
            awaiting => false, q => context! { mapping => q.mapping, status => q.status },
            mappings => mappings, plans => jv(&Value::Array(items(&page))), next => next,
        },
    ))
}

#[derive(Debug, Default, Deserialize)]
struct ShowQuery {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    cursor: String,
}

/// What a DN change does: `move`, `rename` or `move + rename` (None without a new DN).
fn dn_change(dn: &str, new_dn: Option<&str>) -> Option<&'static str> {
    let new = new_dn?;
    let (ra, pa) = split_rdn(dn);
    let (rb, pb) = split_rdn(new);
    let moves = !pa.eq_ignore_ascii_case(pb);
    let renames = !ra.eq_ignore_ascii_case(rb);
    match (moves, renames) {
        (true, true) => Some("move + rename"),
        (true, false) => Some("move"),
        (false, true) => Some("rename"),
        (false, false) => Some("case of the name"),
    }
}

/// A DN's first RDN and its parent (a `\,` is part of the RDN).
fn split_rdn(dn: &str) -> (&str, &str) {
    let bytes = dn.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b',' => return (dn[..i].trim(), dn[i + 1..].trim()),
            _ => i += 1,
        }
    }
    (dn.trim(), "")
}

async fn show(ctx: Ctx, Path(id): Path<i64>, Query(q): Query<ShowQuery>) -> PageResult {
    let plan = ctx
        .get(&format!("/api/v1/plans/{id}"))
        .await
        .map_err(|e| ctx.problem(&e))?;
    let filters = [
        ("kind", q.kind.as_str()),
        ("status", q.status.as_str()),
        ("q", q.q.trim()),
    ];
    let page = ctx
        .get(&format!(
            "/api/v1/plans/{id}/changes?limit={CHANGES_PAGE}&{}",
            qs(&[
                ("kind", &q.kind),
                ("status", &q.status),
                ("q", q.q.trim()),
                ("cursor", &q.cursor)
            ])
        ))
        .await
        .map_err(|e| ctx.problem(&e))?;
    // Grouped by kind, in the console's order of kinds, each group in plan order.
    let mut groups: Vec<(String, Vec<Value>)> = Vec::new();
    for mut c in items(&page) {
        let kind = c
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        let dn = c.get("dn").and_then(Value::as_str).unwrap_or_default();
        if let Some(what) = dn_change(dn, c.get("new_dn").and_then(Value::as_str)) {
            c["dn_change"] = json!(what);
        }
        match groups.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, v)) => v.push(c),
            None => groups.push((kind, vec![c])),
        }
    }
    groups.sort_by_key(|(k, _)| KINDS.iter().position(|x| x == k).unwrap_or(KINDS.len()));
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(k, v)| json!({"kind": k, "changes": v}))
        .collect();
    let mapping = plan
        .get("mapping")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    // The mapping's approval rules (four-eyes); the plan page works without them.
    let approval = ctx
        .get(&format!("/api/v1/mappings/{}", enc(&mapping)))
        .await
        .ok()
        .and_then(|m| m.get("approval").cloned())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let next = next_cursor(&page).map(|c| {
        let mut all = filters.to_vec();
        all.push(("cursor", &c));
        format!("/console/plans/{id}?{}", qs(&all))
    });
    Ok(ctx.render(
        "plans_show.html",
        context! {
            id => id, plan => jv(&plan), approval => jv(&approval),
            groups => jv(&Value::Array(groups)), next => next,
            q => context! { kind => q.kind, status => q.status, q => q.q, paged => !q.cursor.is_empty() },
            kinds => KINDS.to_vec(),
            statuses => ["planned", "waiting", "approved", "rejected", "applied", "failed", "stale"],
        },
    ))
}

#[derive(Debug, Default, Deserialize)]
struct DecideForm {
    /// `approve` or `reject`.
    #[serde(default)]
    decision: String,
    #[serde(default)]
    comment: String,
    /// One change (its HR key); empty: every change waiting.
    #[serde(default)]
    key: String,
}

/// Approve or reject (all waiting, or one change): the API decides who may (four-eyes).
async fn decide(ctx: Ctx, Path(id): Path<i64>, Form(f): Form<DecideForm>) -> PageResult {
    let action = if f.decision == "reject" {
        "reject"
    } else {
        "approve"
    };
    let mut body = json!({});
    if !f.comment.trim().is_empty() {
        body["comment"] = json!(f.comment.trim());
    }
    if !f.key.is_empty() {
        body["changes"] = json!([f.key]);
    }
    ctx.call(
        Method::POST,
        &format!("/api/v1/plans/{id}/{action}"),
        Some(&body),
        None,
    )
    .await
    .map_err(|e| ctx.problem(&e))?;
    Ok(go(&ctx, &format!("/console/plans/{id}")))
}

/// Apply exactly this saved plan; the run's page follows it.
async fn apply(ctx: Ctx, Path(id): Path<i64>) -> PageResult {
    let plan = ctx
        .get(&format!("/api/v1/plans/{id}"))
        .await
        .map_err(|e| ctx.problem(&e))?;
    let mapping = plan.get("mapping").cloned().unwrap_or(Value::Null);
    let started = ctx
        .call(
            Method::POST,
            "/api/v1/runs",
            Some(&json!({"mapping": mapping, "mode": "apply", "plan": id})),
            None,
        )
        .await
        .map_err(|e| ctx.problem(&e))?;
    Ok(to_run(&ctx, &started.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dn_changes_are_named() {
        let d = "uid=a,ou=x,dc=e";
        assert_eq!(dn_change(d, None), None);
        assert_eq!(dn_change(d, Some("uid=a,ou=y,dc=e")), Some("move"));
        assert_eq!(dn_change(d, Some("uid=b,ou=x,dc=e")), Some("rename"));
        assert_eq!(dn_change(d, Some("uid=b,ou=y,dc=e")), Some("move + rename"));
        assert_eq!(split_rdn(r"cn=Doe\, Jane,ou=x"), (r"cn=Doe\, Jane", "ou=x"));
    }
}
