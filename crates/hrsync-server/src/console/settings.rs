//! Settings: operators and roles (the directory groups of `[server.auth]` and who is signed in
//! here), API tokens (admin: create — the token is shown once, on the answer page, and never
//! again — and revoke), the configuration's history with each version's diff and Restore
//! (admin, `If-Match` with the file's current hash), and the notification channels.

use super::ConsoleState;
use super::client::enc;
use super::page::{Ctx, PageResult, tpl};
use super::webhooks::{Fields, api_errors, err, field, items};
use axum::extract::Path;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::context;
use serde_json::{Value, json};

pub(super) const TEMPLATES: &[(&str, &str)] = &[
    (
        "settings_index.html",
        include_str!("../../console/templates/settings_index.html"),
    ),
    (
        "settings_token.html",
        include_str!("../../console/templates/settings_token.html"),
    ),
    (
        "settings_version.html",
        include_str!("../../console/templates/settings_version.html"),
    ),
];

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/settings", get(index))
        .route("/console/settings/tokens", post(create_token))
        .route("/console/settings/tokens/{name}/revoke", post(revoke_token))
        .route("/console/settings/history/{id}", get(version))
        .route("/console/settings/history/{id}/restore", post(restore))
        .route("/console/settings/notify/{name}", post(edit_notify))
}

/// What the settings page shows; `errors` and `form` when a token form was refused.
async fn page(ctx: &Ctx, errors: Vec<Value>, form: Value, status: StatusCode) -> PageResult {
    let fail = |e| ctx.problem(&e);
    let me = ctx.get("/api/v1/session").await.map_err(fail)?;
    let tokens = if ctx.can_admin() {
        Some(items(
            &ctx.get("/api/v1/tokens?limit=200").await.map_err(fail)?,
        ))
    } else {
        None
    };
    let history = ctx
        .get("/api/v1/config/history?limit=25")
        .await
        .map_err(fail)?;
    let config = ctx
        .call(Method::GET, "/api/v1/config", None, None)
        .await
        .map_err(fail)?;
    let config_hash = config.etag().unwrap_or_default();
    let text = config
        .body
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or("");
    let notify = hrsync_config::edit::elements(text, "notify").unwrap_or_default();
    let s = ctx.st.auth.settings();
    let groups = &s.directory.groups;
    let roles = json!([
        {"role": "admin", "can": "everything, the configuration and tokens included", "groups": groups.admin},
        {"role": "operator", "can": "plan, apply, approve, replay, test webhooks, run orchestrations and automations", "groups": groups.operator},
        {"role": "viewer", "can": "read", "groups": groups.viewer},
    ]);
    Ok(ctx.render_status(
        status,
        "settings_index.html",
        context! {
            signed_in => tpl(&me),
            roles => tpl(&roles),
            directory_url => s.directory.url.clone(),
            user_base => s.directory.user_base.clone(),
            break_glass => s.break_glass.as_ref().map(|b| b.user.clone()),
            tokens => tokens.map(|t| tpl(&Value::Array(t))),
            history => tpl(&Value::Array(items(&history))),
            history_next => history.get("next_cursor").cloned().map(|c| tpl(&c)),
            notify => tpl(&Value::Array(notify)),
            causes => hrsync_config::CAUSES.to_vec(),
            config_hash,
            errors => tpl(&Value::Array(errors)),
            form => tpl(&form),
        },
    ))
}

async fn index(ctx: Ctx) -> PageResult {
    page(&ctx, Vec::new(), json!({}), StatusCode::OK).await
}

/// Creates a token; the answer page is the only place its value is ever shown.
async fn create_token(ctx: Ctx, Form(f): Form<Fields>) -> PageResult {
    let name = field(&f, "name");
    let role = field(&f, "role");
    let days = field(&f, "expires_in_days");
    let form = json!({"name": name, "role": role, "expires_in_days": days});
    let mut body = json!({"name": name, "role": role});
    if !days.is_empty() {
        match days.parse::<u32>() {
            Ok(d) if d > 0 => body["expires_in_days"] = json!(d),
            _ => {
                return page(
                    &ctx,
                    vec![err(
                        "expires_in_days",
                        "a whole number of days (empty: never)",
                    )],
                    form,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            }
        }
    }
    match ctx
        .call(Method::POST, "/api/v1/tokens", Some(&body), None)
        .await
    {
        Ok(r) => {
            let mut resp = ctx.render("settings_token.html", context! { created => tpl(&r.body) });
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(resp)
        }
        Err(e) if e.status == StatusCode::FORBIDDEN => Err(ctx.problem(&e)),
        Err(e) => page(&ctx, api_errors(&e), form, e.status).await,
    }
}

async fn revoke_token(ctx: Ctx, Path(name): Path<String>) -> PageResult {
    ctx.call(
        Method::DELETE,
        &format!("/api/v1/tokens/{}", enc(&name)),
        None,
        None,
    )
    .await
    .map_err(|e| ctx.problem(&e))?;
    Ok(Redirect::to("/console/settings#tokens").into_response())
}

/// Edits a notification channel: the causes it is told about (all of them: the default, the
/// key removed) and its window, as one config edit (`If-Match`).
async fn edit_notify(ctx: Ctx, Path(name): Path<String>, Form(f): Form<Fields>) -> PageResult {
    let on: Vec<String> = f
        .iter()
        .filter(|(k, _)| k == "on")
        .map(|(_, v)| v.clone())
        .collect();
    let at = |k: &str| format!("notify[{name}].{k}");
    let mut edits = Vec::new();
    if on.len() == hrsync_config::CAUSES.len() {
        if field(&f, "had_on") == "1" {
            edits.push(json!({"op": "remove", "path": at("on")}));
        }
    } else if on.is_empty() {
        return page(
            &ctx,
            vec![err(
                &at("on"),
                "choose at least one cause (a channel told nothing is better removed)",
            )],
            json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    } else {
        edits.push(json!({"op": "set", "path": at("on"), "value": on}));
    }
    let hours = field(&f, "window_hours");
    if !hours.is_empty() {
        match hours.parse::<u64>() {
            Ok(h) if h > 0 => {
                edits.push(json!({"op": "set", "path": at("window_hours"), "value": h}))
            }
            _ => {
                return page(
                    &ctx,
                    vec![err(&at("window_hours"), "a whole number of hours")],
                    json!({}),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            }
        }
    }
    if edits.is_empty() {
        return Ok(Redirect::to("/console/settings#notifications").into_response());
    }
    let body = json!({"edits": edits, "comment": format!("notification channel {name} (console)")});
    match ctx
        .call(
            Method::POST,
            "/api/v1/config/edits",
            Some(&body),
            Some(&field(&f, "hash")),
        )
        .await
    {
        Ok(_) => Ok(Redirect::to("/console/settings#notifications").into_response()),
        Err(e) if e.status == StatusCode::FORBIDDEN => Err(ctx.problem(&e)),
        Err(e) => page(&ctx, api_errors(&e), json!({}), e.status).await,
    }
}

/// A unified diff as lines with their kind (`add`, `del`, `hunk`, `ctx`).
fn diff_lines(diff: &str) -> Vec<Value> {
    diff.lines()
        .map(|l| {
            let kind = if l.starts_with("+++") || l.starts_with("---") {
                "file"
            } else if l.starts_with('+') {
                "add"
            } else if l.starts_with('-') {
                "del"
            } else if l.starts_with("@@") {
                "hunk"
            } else {
                "ctx"
            };
            json!({"kind": kind, "text": l})
        })
        .collect()
}

async fn version_page(ctx: &Ctx, id: i64, errors: Vec<Value>, status: StatusCode) -> PageResult {
    let v = ctx
        .get(&format!("/api/v1/config/history/{id}"))
        .await
        .map_err(|e| ctx.problem(&e))?;
    let current = ctx
        .call(Method::GET, "/api/v1/config", None, None)
        .await
        .map_err(|e| ctx.problem(&e))?;
    let hash = current.etag().unwrap_or_default();
    let diff = v.get("diff").and_then(Value::as_str).unwrap_or("");
    let is_current = v.get("hash_after").and_then(Value::as_str) == Some(hash.as_str());
    Ok(ctx.render_status(
        status,
        "settings_version.html",
        context! {
            v => tpl(&v),
            lines => tpl(&Value::Array(diff_lines(diff))),
            hash,
            is_current,
            errors => tpl(&Value::Array(errors)),
        },
    ))
}

async fn version(ctx: Ctx, Path(id): Path<i64>) -> PageResult {
    version_page(&ctx, id, Vec::new(), StatusCode::OK).await
}

async fn restore(ctx: Ctx, Path(id): Path<i64>, Form(f): Form<Fields>) -> PageResult {
    let hash = field(&f, "hash");
    match ctx
        .call(
            Method::POST,
            &format!("/api/v1/config/history/{id}/restore"),
            None,
            Some(&hash),
        )
        .await
    {
        Ok(r) => {
            let v = r.body.get("version").and_then(Value::as_i64).unwrap_or(id);
            Ok(Redirect::to(&format!("/console/settings/history/{v}")).into_response())
        }
        Err(e) if e.status == StatusCode::FORBIDDEN => Err(ctx.problem(&e)),
        Err(e) => version_page(&ctx, id, api_errors(&e), e.status).await,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn diff_lines_have_kinds() {
        let l = super::diff_lines("--- a\n+++ b\n@@ -1 +1 @@\n-x\n+y\n z");
        let kinds: Vec<&str> = l.iter().filter_map(|v| v["kind"].as_str()).collect();
        assert_eq!(kinds, ["file", "file", "hunk", "del", "add", "ctx"]);
    }
}
