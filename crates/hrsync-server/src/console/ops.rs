//! Day-to-day queues: the review list (adopt an account, create a new one, reopen), orphans
//! (a plan run that lists the accounts not in HR and not managed here), the orchestration
//! outbox and its dead letters (replay, cancel), and the webhook deliveries (the request with
//! secret headers redacted, and the response).

use super::ConsoleState;
use super::audit::{go, items, jv, mapping_names, next_cursor, qs};
use super::client::enc;
use super::page::{Ctx, PageResult};
use axum::Router;
use axum::extract::{Form, Path, Query};
use axum::http::Method;
use axum::routing::{get, post};
use minijinja::context;
use serde::Deserialize;
use serde_json::{Value, json};

pub(super) const TEMPLATES: &[(&str, &str)] = &[
    (
        "ops_review.html",
        include_str!("../../console/templates/ops_review.html"),
    ),
    (
        "ops_orphans.html",
        include_str!("../../console/templates/ops_orphans.html"),
    ),
    (
        "ops_outbox.html",
        include_str!("../../console/templates/ops_outbox.html"),
    ),
    (
        "ops_deliveries.html",
        include_str!("../../console/templates/ops_deliveries.html"),
    ),
];

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/review", get(review))
        .route(
            "/console/review/{mapping}/{key}/{decision}",
            post(review_decide),
        )
        .route("/console/orphans", get(orphans).post(find_orphans))
        .route("/console/outbox", get(outbox))
        .route("/console/outbox/{id}/{action}", post(outbox_action))
        .route("/console/deliveries", get(deliveries))
}

const PAGE: usize = 50;

#[derive(Debug, Default, Deserialize)]
struct ReviewQuery {
    #[serde(default)]
    mapping: String,
    #[serde(default)]
    all: String,
    #[serde(default)]
    cursor: String,
}

async fn review(ctx: Ctx, Query(q): Query<ReviewQuery>) -> PageResult {
    let all = if q.all.is_empty() || q.all == "0" {
        ""
    } else {
        "true"
    };
    let page = ctx
        .get(&format!(
            "/api/v1/review?limit={PAGE}&{}",
            qs(&[("mapping", &q.mapping), ("all", all), ("cursor", &q.cursor)])
        ))
        .await
        .map_err(|e| ctx.problem(&e))?;
    let next = next_cursor(&page).map(|c| {
        format!(
            "/console/review?{}",
            qs(&[("mapping", &q.mapping), ("all", all), ("cursor", &c)])
        )
    });
    Ok(ctx.render(
        "ops_review.html",
        context! {
            items => jv(&Value::Array(items(&page))), next => next,
            mappings => mapping_names(&ctx).await,
            q => context! { mapping => q.mapping, all => !all.is_empty() },
        },
    ))
}

#[derive(Debug, Default, Deserialize)]
struct ReviewForm {
    /// The account to adopt.
    #[serde(default)]
    dn: String,
}

/// Adopt / new / reopen, as the API records them (operator).
async fn review_decide(
    ctx: Ctx,
    Path((mapping, key, decision)): Path<(String, String, String)>,
    Form(f): Form<ReviewForm>,
) -> PageResult {
    let (action, body) = match decision.as_str() {
        "adopt" => ("adopt", Some(json!({ "dn": f.dn }))),
        "new" => ("new", None),
        _ => ("reopen", None),
    };
    ctx.call(
        Method::POST,
        &format!("/api/v1/review/{}/{}/{action}", enc(&mapping), enc(&key)),
        body.as_ref(),
        None,
    )
    .await
    .map_err(|e| ctx.problem(&e))?;
    Ok(go(
        &ctx,
        &format!("/console/review?mapping={}", enc(&mapping)),
    ))
}

async fn orphans(ctx: Ctx) -> PageResult {
    Ok(ctx.render(
        "ops_orphans.html",
        context! { mappings => mapping_names(&ctx).await },
    ))
}

#[derive(Debug, Default, Deserialize)]
struct MappingForm {
    #[serde(default)]
    mapping: String,
}

/// Starts the orphans run of a mapping; its page shows the list when it is over.
async fn find_orphans(ctx: Ctx, Form(f): Form<MappingForm>) -> PageResult {
    let started = ctx
        .call(
            Method::POST,
            &format!("/api/v1/mappings/{}/orphans", enc(&f.mapping)),
            None,
            None,
        )
        .await
        .map_err(|e| ctx.problem(&e))?;
    let id = started
        .body
        .get("run_id")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    Ok(go(&ctx, &format!("/console/runs/{id}")))
}

#[derive(Debug, Default, Deserialize)]
struct OutboxQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    cursor: String,
}

async fn outbox(ctx: Ctx, Query(q): Query<OutboxQuery>) -> PageResult {
    let page = ctx
        .get(&format!(
            "/api/v1/outbox?limit={PAGE}&{}",
            qs(&[("state", &q.state), ("cursor", &q.cursor)])
        ))
        .await
        .map_err(|e| ctx.problem(&e))?;
    let next = next_cursor(&page).map(|c| {
        format!(
            "/console/outbox?{}",
            qs(&[("state", &q.state), ("cursor", &c)])
        )
    });
    Ok(ctx.render(
        "ops_outbox.html",
        context! {
            items => jv(&Value::Array(items(&page))), next => next, state => q.state,
            states => ["pending", "running", "done", "dead", "cancelled"],
        },
    ))
}

#[derive(Debug, Default, Deserialize)]
struct BackForm {
    /// The outbox list to come back to (`dead`, …).
    #[serde(default)]
    state: String,
}

async fn outbox_action(
    ctx: Ctx,
    Path((id, action)): Path<(i64, String)>,
    Form(f): Form<BackForm>,
) -> PageResult {
    let action = if action == "cancel" {
        "cancel"
    } else {
        "replay"
    };
    ctx.call(
        Method::POST,
        &format!("/api/v1/outbox/{id}/{action}"),
        None,
        None,
    )
    .await
    .map_err(|e| ctx.problem(&e))?;
    Ok(go(
        &ctx,
        &format!("/console/outbox?{}", qs(&[("state", &f.state)])),
    ))
}

#[derive(Debug, Default, Deserialize)]
struct DeliveriesQuery {
    #[serde(default)]
    webhook: String,
    #[serde(default)]
    cursor: String,
}

async fn deliveries(ctx: Ctx, Query(q): Query<DeliveriesQuery>) -> PageResult {
    let page = ctx
        .get(&format!(
            "/api/v1/deliveries?limit={PAGE}&{}",
            qs(&[("webhook", &q.webhook), ("cursor", &q.cursor)])
        ))
        .await
        .map_err(|e| ctx.problem(&e))?;
    let next = next_cursor(&page).map(|c| {
        format!(
            "/console/deliveries?{}",
            qs(&[("webhook", &q.webhook), ("cursor", &c)])
        )
    });
    let webhooks: Vec<String> = ctx
        .get("/api/v1/webhooks?limit=500")
        .await
        .map(|v| {
            items(&v)
                .iter()
                .filter_map(|w| w.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Ok(ctx.render(
        "ops_deliveries.html",
        context! {
            items => jv(&Value::Array(items(&page))), next => next, webhook => q.webhook,
            webhooks => webhooks,
        },
    ))
}
