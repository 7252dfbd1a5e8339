//! The application catalogue and an integration's page: enable switch, authorization (secrets
//! write-only), endpoints (preset, + Add API endpoint, macro chooser) and Test & Save with the
//! field table. Every action is a call of the REST API.
//!
//! The enable switch is the integration's `enabled` key: a disabled integration makes every
//! run of a mapping that uses it refuse ("integration … is disabled; enable it or disable
//! mapping …"), so the API refuses to disable one that an enabled mapping still uses, and the
//! switch shows that refusal.

use super::ConsoleState;
use super::client::{ApiError, enc};
use super::form::{Fields, field, items, text as s};
use super::page::{Ctx, PageResult, tpl};
use axum::Router;
use axum::extract::{Form, Path, Query};
use axum::http::Method;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::context;
use serde::Deserialize;
use serde_json::{Map, Value, json};

pub(super) const TEMPLATES: &[(&str, &str)] = &[
    (
        "integrations_list.html",
        include_str!("../../console/templates/integrations_list.html"),
    ),
    (
        "integrations_catalogue.html",
        include_str!("../../console/templates/integrations_catalogue.html"),
    ),
    (
        "integrations_new.html",
        include_str!("../../console/templates/integrations_new.html"),
    ),
    (
        "integrations_show.html",
        include_str!("../../console/templates/integrations_show.html"),
    ),
    (
        "integrations_endpoint.html",
        include_str!("../../console/templates/integrations_endpoint.html"),
    ),
    (
        "integrations_test.html",
        include_str!("../../console/templates/integrations_test.html"),
    ),
];

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/applications", get(list))
        .route("/console/applications/new", get(new_form).post(create))
        .route("/console/applications/{name}", get(show))
        .route("/console/applications/{name}/enabled", post(set_enabled))
        .route("/console/applications/{name}/auth", post(save_auth))
        .route("/console/applications/{name}/macros", post(save_macros))
        .route(
            "/console/applications/{name}/endpoints",
            post(create_endpoint),
        )
        .route(
            "/console/applications/{name}/endpoints/new",
            get(new_endpoint),
        )
        .route(
            "/console/applications/{name}/endpoints/{ep}",
            post(save_endpoint),
        )
        .route(
            "/console/applications/{name}/endpoints/{ep}/test",
            post(test_endpoint),
        )
}

/// The HR applications hrsync knows: kind, label, what it is, and its preset endpoint.
pub(crate) const PRESETS: &[(&str, &str, &str, &str)] = &[
    (
        "icehrm",
        "IceHrm",
        "Open-source HRM: employees through its REST API with the admin's \"Api Access\" bearer token.",
        "get_employees",
    ),
    (
        "paycor",
        "Paycor",
        "Paycor Public API: a bearer token (or the OAuth refresh flow) plus the APIM subscription key, for one legal entity.",
        "legal_entity_employees",
    ),
    (
        "rest",
        "Custom REST",
        "Any JSON API: endpoints with URL, method, headers, parameters, paging and joins on the primary key.",
        "employees",
    ),
    (
        "csv",
        "CSV export",
        "A file the HR system exports before each run (one person per row).",
        "rows",
    ),
];

fn label_of(kind: &str) -> &str {
    PRESETS
        .iter()
        .find(|p| p.0 == kind)
        .map(|p| p.1)
        .unwrap_or(kind)
}

#[derive(Deserialize, Default)]
struct Search {
    q: Option<String>,
}

/// The catalogue: the presets and the configured integrations, filtered by `q`.
async fn list(ctx: Ctx, Query(q): Query<Search>) -> PageResult {
    let fail = |e| ctx.problem(&e);
    let q = q.q.unwrap_or_default().trim().to_lowercase();
    let all = ctx
        .get("/api/v1/integrations?limit=500")
        .await
        .map_err(fail)?;
    let matches =
        |texts: &[&str]| q.is_empty() || texts.iter().any(|t| t.to_lowercase().contains(&q));
    let presets: Vec<Value> = PRESETS
        .iter()
        .filter(|p| matches(&[p.0, p.1, p.2]))
        .map(|p| json!({"kind": p.0, "label": p.1, "about": p.2, "endpoint": p.3}))
        .collect();
    let configured: Vec<Value> = items(&all)
        .into_iter()
        .filter(|i| {
            matches(&[
                s(i, "name"),
                s(i, "kind"),
                label_of(s(i, "kind")),
                s(i, "base_url"),
            ])
        })
        .map(|i| {
            json!({
                "name": s(&i, "name"),
                "kind": s(&i, "kind"),
                "label": label_of(s(&i, "kind")),
                "where": i.get("base_url").or(i.get("path")),
                "enabled": i.get("enabled").and_then(Value::as_bool).unwrap_or(true),
            })
        })
        .collect();
    let name = if ctx.htmx && ctx.path.starts_with("/console/applications?") {
        "integrations_catalogue.html"
    } else {
        "integrations_list.html"
    };
    Ok(ctx.render(
        name,
        context! { q => q, presets => tpl(&Value::Array(presets)), configured => tpl(&Value::Array(configured)) },
    ))
}

#[derive(Deserialize, Default)]
struct NewQuery {
    kind: Option<String>,
}

fn kinds() -> Value {
    Value::Array(
        PRESETS
            .iter()
            .map(|p| json!({"kind": p.0, "label": p.1, "endpoint": p.3}))
            .collect(),
    )
}

async fn new_form(ctx: Ctx, Query(q): Query<NewQuery>) -> PageResult {
    let kind = q.kind.unwrap_or_else(|| "icehrm".into());
    let form = json!({"kind": kind, "ep_name": "employees", "ep_path": "/employees"});
    Ok(ctx.render(
        "integrations_new.html",
        context! { kinds => tpl(&kinds()), form => tpl(&form) },
    ))
}

/// A secret typed into a form: `{"secret": …}`; empty: left as it is.
fn secret(v: &str) -> Option<Value> {
    (!v.is_empty()).then(|| json!({ "secret": v }))
}

/// The new integration as the API takes it.
fn new_integration(f: &Fields) -> Value {
    let kind = field(f, "kind");
    let mut o = Map::new();
    o.insert("name".into(), json!(field(f, "name").trim()));
    o.insert("kind".into(), json!(kind));
    let base_url = field(f, "base_url").trim();
    if kind == "csv" {
        o.insert("path".into(), json!(field(f, "path").trim()));
    } else if !base_url.is_empty() {
        o.insert("base_url".into(), json!(base_url));
    }
    if let Some(t) = secret(field(f, "token")) {
        o.insert("token".into(), t);
    }
    if kind == "paycor" {
        if let Some(k) = secret(field(f, "subscription_key")) {
            o.insert("subscription_key".into(), k);
        }
        if let Ok(id) = field(f, "legal_entity_id").trim().parse::<u64>() {
            o.insert("legal_entity_id".into(), json!(id));
        }
    }
    if kind == "rest" {
        if let Some(k) = secret(field(f, "api_key")) {
            o.insert("api_key".into(), k);
        }
        let name = field(f, "ep_name").trim();
        let path = field(f, "ep_path").trim();
        if !name.is_empty() && !path.is_empty() {
            o.insert(
                "endpoint".into(),
                json!([{ "name": name, "path": path, "method": "GET" }]),
            );
        }
    }
    Value::Object(o)
}

/// The file's hash now (the `If-Match` of a write).
async fn config_etag(ctx: &Ctx) -> Result<String, ApiError> {
    let r = ctx.call(Method::GET, "/api/v1/config", None, None).await?;
    Ok(r.etag().unwrap_or_default())
}

async fn create(ctx: Ctx, Form(f): Form<Fields>) -> PageResult {
    let body = new_integration(&f);
    let etag = config_etag(&ctx).await.map_err(|e| ctx.problem(&e))?;
    match ctx
        .call(
            Method::POST,
            "/api/v1/integrations",
            Some(&body),
            Some(&etag),
        )
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!(
            "/console/applications/{}?saved=1",
            enc(field(&f, "name").trim())
        ))
        .into_response()),
        Err(e) => {
            // The form again with the API's reasons; secrets are never put back.
            let form: Map<String, Value> = f
                .iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "token" | "subscription_key" | "api_key" | "csrf"
                    )
                })
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            Ok(ctx.render_status(
                e.status,
                "integrations_new.html",
                context! { kinds => tpl(&kinds()), form => tpl(&Value::Object(form)), problem => tpl(&e.problem) },
            ))
        }
    }
}

/// Everything the page shows of one integration.
async fn page_data(ctx: &Ctx, name: &str) -> Result<Value, ApiError> {
    let reply = ctx
        .call(
            Method::GET,
            &format!("/api/v1/integrations/{}", enc(name)),
            None,
            None,
        )
        .await?;
    let it = reply.body;
    let macros = ctx
        .get(&format!("/api/v1/integrations/{}/macros", enc(name)))
        .await
        .unwrap_or(Value::Null);
    let custom: Vec<Value> = it
        .get("endpoint")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut endpoints = Vec::new();
    let listed = macros
        .get("endpoints")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for e in &listed {
        let ename = s(e, "name");
        let conf = custom.iter().find(|c| s(c, "name") == ename).cloned();
        let fields = ctx
            .get(&format!(
                "/api/v1/integrations/{}/endpoints/{}/fields",
                enc(name),
                enc(ename)
            ))
            .await
            .ok();
        endpoints.push(json!({
            "name": ename,
            "preset": e.get("preset"),
            "fan_out": e.get("fan_out"),
            "macros": e.get("macros"),
            "conf": conf.map(|c| endpoint_view(&c)),
            "discovered": fields,
        }));
    }
    let mappings: Vec<Value> = items(&ctx.get("/api/v1/mappings?limit=500").await?)
        .into_iter()
        .filter(|m| s(m, "integration") == name)
        .collect();
    let webhooks: Vec<Value> = items(&ctx.get("/api/v1/webhooks?limit=500").await?)
        .into_iter()
        .filter(|w| s(w, "auth") == name)
        .collect();
    let is_set = |k: &str| {
        it.get(k)
            .is_some_and(|v| v.get("set").and_then(Value::as_bool).unwrap_or(true))
    };
    let oauth = it.get("oauth").cloned().unwrap_or(Value::Null);
    Ok(json!({
        "name": name,
        "kind": s(&it, "kind"),
        "label": label_of(s(&it, "kind")),
        "enabled": it.get("enabled").and_then(Value::as_bool).unwrap_or(true),
        "base_url": it.get("base_url"),
        "path": it.get("path"),
        "legal_entity_id": it.get("legal_entity_id"),
        "api_key_header": it.get("api_key_header"),
        "token_set": is_set("token"),
        "api_key_set": is_set("api_key"),
        "subscription_key_set": is_set("subscription_key"),
        "oauth": {
            "on": !oauth.is_null(),
            "token_url": oauth.get("token_url"),
            "client_id": oauth.get("client_id"),
            "client_secret_set": oauth.get("client_secret").is_some(),
            "refresh_token_set": oauth.get("refresh_token").is_some(),
        },
        "macros": macros.get("macros"),
        "static_macros": it
            .get("macros")
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default(),
        "endpoints": endpoints,
        "mappings": mappings,
        "webhooks": webhooks,
        "etag": reply.headers.get("etag").and_then(|v| v.to_str().ok()).map(|v| v.trim_matches('"').to_string()),
    }))
}

/// A custom endpoint as the form shows it: headers and query as `name: value` lines.
fn endpoint_view(c: &Value) -> Value {
    let lines = |k: &str, sep: &str| -> String {
        c.get(k)
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .map(|(n, v)| format!("{n}{sep}{}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    };
    let paging = c.get("pagination").cloned().unwrap_or(Value::Null);
    json!({
        "name": s(c, "name"),
        "path": s(c, "path"),
        "method": c.get("method").and_then(Value::as_str).unwrap_or("GET"),
        "headers": lines("headers", ": "),
        "query": lines("query", "="),
        "records": c.get("records"),
        "key": c.get("key"),
        "body": c.get("body"),
        "paging_style": paging.get("style").and_then(Value::as_str).unwrap_or("none"),
        "paging": if paging.is_null() { String::new() } else { serde_json::to_string(&paging).unwrap_or_default() },
        "for_each": c.get("for_each"),
    })
}

#[derive(Deserialize, Default)]
struct ShowQuery {
    saved: Option<String>,
}

async fn show(ctx: Ctx, Path(name): Path<String>, Query(q): Query<ShowQuery>) -> PageResult {
    let it = page_data(&ctx, &name).await.map_err(|e| ctx.problem(&e))?;
    Ok(ctx.render(
        "integrations_show.html",
        context! { it => tpl(&it), saved => q.saved.is_some() },
    ))
}

/// After a change: back to the page (htmx: told to go there), or the API's refusal.
fn back(ctx: &Ctx, name: &str, r: Result<(), ApiError>) -> Response {
    let to = format!("/console/applications/{}?saved=1", enc(name));
    match r {
        Ok(()) if ctx.htmx => {
            let mut resp = axum::http::StatusCode::NO_CONTENT.into_response();
            if let Ok(v) = axum::http::HeaderValue::from_str(&to) {
                resp.headers_mut().insert("hx-redirect", v);
            }
            resp
        }
        Ok(()) => Redirect::to(&to).into_response(),
        Err(e) => ctx.problem(&e),
    }
}

/// The enable switch: `enabled` set through a configuration edit.
async fn set_enabled(ctx: Ctx, Path(name): Path<String>, Form(f): Form<Fields>) -> Response {
    let on = field(&f, "enabled") == "true";
    let r = async {
        let etag = config_etag(&ctx).await?;
        let body = json!({"edits": [{"op": "set", "path": format!("integration[{name}].enabled"), "value": on}],
            "comment": format!("integration {name} {}", if on { "enabled" } else { "disabled" })});
        ctx.call(Method::POST, "/api/v1/config/edits", Some(&body), Some(&etag))
            .await
            .map(|_| ())
    }
    .await;
    back(&ctx, &name, r)
}

/// Reads an integration for a change: its JSON and the file's hash.
async fn read_integration(ctx: &Ctx, name: &str) -> Result<(Value, String), ApiError> {
    let r = ctx
        .call(
            Method::GET,
            &format!("/api/v1/integrations/{}", enc(name)),
            None,
            None,
        )
        .await?;
    let etag = r.etag().unwrap_or_default();
    Ok((r.body, etag))
}

/// Authorization: base URL, bearer token, API key, subscription key, OAuth refresh flow.
/// Secrets typed replace the stored ones; empty fields keep them (`{"set": true}` is sent back).
async fn save_auth(ctx: Ctx, Path(name): Path<String>, Form(f): Form<Fields>) -> Response {
    let r = async {
        let (mut it, etag) = read_integration(&ctx, &name).await?;
        let Some(o) = it.as_object_mut() else {
            return Ok(());
        };
        let kind = o
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let set_text = |o: &mut Map<String, Value>, k: &str| {
            let v = field(&f, k).trim();
            if v.is_empty() {
                o.remove(k);
            } else {
                o.insert(k.into(), json!(v));
            }
        };
        if kind == "csv" {
            set_text(o, "path");
        } else {
            set_text(o, "base_url");
        }
        for k in ["token", "api_key", "subscription_key"] {
            if let Some(v) = secret(field(&f, k)) {
                o.insert(k.into(), v);
            }
            if field(&f, &format!("clear_{k}")) == "1" {
                o.remove(k);
            }
        }
        if kind == "rest" {
            set_text(o, "api_key_header");
        }
        if kind == "paycor" {
            match field(&f, "legal_entity_id").trim().parse::<u64>() {
                Ok(id) => {
                    o.insert("legal_entity_id".into(), json!(id));
                }
                Err(_) => {
                    o.remove("legal_entity_id");
                }
            }
        }
        if matches!(kind.as_str(), "paycor" | "rest") {
            let token_url = field(&f, "oauth_token_url").trim();
            if token_url.is_empty() {
                o.remove("oauth");
            } else {
                let mut oauth = o
                    .get("oauth")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                oauth.insert("token_url".into(), json!(token_url));
                oauth.insert(
                    "client_id".into(),
                    json!(field(&f, "oauth_client_id").trim()),
                );
                for (form_key, key) in [
                    ("oauth_client_secret", "client_secret"),
                    ("oauth_refresh_token", "refresh_token"),
                ] {
                    if let Some(v) = secret(field(&f, form_key)) {
                        oauth.insert(key.into(), v);
                    }
                }
                o.insert("oauth".into(), Value::Object(oauth));
            }
        }
        ctx.call(
            Method::PUT,
            &format!("/api/v1/integrations/{}", enc(&name)),
            Some(&it),
            Some(&etag),
        )
        .await
        .map(|_| ())
    }
    .await;
    back(&ctx, &name, r)
}

/// The integration's own macros (`macros = { companyName = "acme" }`), `name=value` lines.
async fn save_macros(ctx: Ctx, Path(name): Path<String>, Form(f): Form<Fields>) -> Response {
    let r = async {
        let (mut it, etag) = read_integration(&ctx, &name).await?;
        if let Some(o) = it.as_object_mut() {
            let m = pairs(field(&f, "macros"), '=');
            if m.is_empty() {
                o.remove("macros");
            } else {
                o.insert("macros".into(), Value::Object(m));
            }
        }
        ctx.call(
            Method::PUT,
            &format!("/api/v1/integrations/{}", enc(&name)),
            Some(&it),
            Some(&etag),
        )
        .await
        .map(|_| ())
    }
    .await;
    back(&ctx, &name, r)
}

/// `Name: value` lines (headers) or `name=value` lines (query) as a table.
fn pairs(text: &str, sep: char) -> Map<String, Value> {
    text.lines()
        .filter_map(|l| l.split_once(sep))
        .map(|(k, v)| (k.trim().to_string(), json!(v.trim())))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

/// An endpoint from its form, on top of what it was (keys the form does not show are kept).
fn endpoint_body(mut base: Map<String, Value>, f: &Fields) -> Result<Value, String> {
    base.insert("name".into(), json!(field(f, "ep_name").trim()));
    base.insert("path".into(), json!(field(f, "ep_path").trim()));
    let method = field(f, "ep_method").trim().to_uppercase();
    base.insert(
        "method".into(),
        json!(if method.is_empty() {
            "GET".into()
        } else {
            method
        }),
    );
    for (k, sep) in [("headers", ':'), ("query", '=')] {
        let m = pairs(field(f, &format!("ep_{k}")), sep);
        if m.is_empty() {
            base.remove(k);
        } else {
            base.insert(k.into(), Value::Object(m));
        }
    }
    for k in ["records", "key", "body"] {
        let v = field(f, &format!("ep_{k}")).trim();
        if v.is_empty() {
            base.remove(k);
        } else {
            base.insert(k.into(), json!(v));
        }
    }
    let paging = field(f, "ep_paging").trim();
    if paging.is_empty() {
        base.remove("pagination");
    } else {
        let v: Value = serde_json::from_str(paging).map_err(|e| {
            format!("paging is a JSON object such as {{\"style\": \"page\", \"size\": 100}}: {e}")
        })?;
        base.insert("pagination".into(), v);
    }
    Ok(Value::Object(base))
}

fn bad_form(message: String) -> ApiError {
    ApiError {
        status: axum::http::StatusCode::BAD_REQUEST,
        problem: json!({"type": "urn:hrsync:problem:bad-request", "title": "Bad Request", "status": 400, "detail": message}),
    }
}

async fn create_endpoint(ctx: Ctx, Path(name): Path<String>, Form(f): Form<Fields>) -> Response {
    let r = async {
        let body = endpoint_body(Map::new(), &f).map_err(bad_form)?;
        let etag = config_etag(&ctx).await?;
        ctx.call(
            Method::POST,
            &format!("/api/v1/integrations/{}/endpoints", enc(&name)),
            Some(&body),
            Some(&etag),
        )
        .await
        .map(|_| ())
    }
    .await;
    back(&ctx, &name, r)
}

async fn save_endpoint(
    ctx: Ctx,
    Path((name, ep)): Path<(String, String)>,
    Form(f): Form<Fields>,
) -> Response {
    let r = async {
        let path = format!("/api/v1/integrations/{}/endpoints/{}", enc(&name), enc(&ep));
        let cur = ctx.call(Method::GET, &path, None, None).await?;
        let etag = cur.etag().unwrap_or_default();
        let base = cur.body.as_object().cloned().unwrap_or_default();
        let body = endpoint_body(base, &f).map_err(bad_form)?;
        ctx.call(Method::PUT, &path, Some(&body), Some(&etag))
            .await
            .map(|_| ())
    }
    .await;
    back(&ctx, &name, r)
}

/// The "+ Add API endpoint" form (a fragment), with the integration's macros.
async fn new_endpoint(ctx: Ctx, Path(name): Path<String>) -> PageResult {
    let macros = ctx
        .get(&format!("/api/v1/integrations/{}/macros", enc(&name)))
        .await
        .map_err(|e| ctx.problem(&e))?;
    let ep = json!({"name": "", "conf": {"name": "", "path": "", "method": "GET", "paging_style": "none"}, "macros": [], "new": true});
    Ok(ctx.render(
        "integrations_endpoint.html",
        context! { it => tpl(&json!({"name": name, "macros": macros.get("macros")})), ep => tpl(&ep), fragment => true },
    ))
}

/// Test & Save: the endpoint called for real through the API; the answer as a fragment.
async fn test_endpoint(ctx: Ctx, Path((name, ep)): Path<(String, String)>) -> PageResult {
    let r = ctx
        .call(
            Method::POST,
            &format!(
                "/api/v1/integrations/{}/endpoints/{}/test",
                enc(&name),
                enc(&ep)
            ),
            None,
            None,
        )
        .await
        .map_err(|e| ctx.problem(&e))?;
    let t = r.body;
    let records = t
        .pointer("/profile/records")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let fields: Vec<Value> = t
        .pointer("/profile/fields")
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, f)| {
                    let present = f.get("present").and_then(Value::as_u64).unwrap_or(0);
                    json!({
                        "field": k,
                        "types": f.get("types"),
                        "present": present,
                        "fill": (present * 100).checked_div(records).unwrap_or(0),
                        "samples": f.get("samples"),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(ctx.render(
        "integrations_test.html",
        context! { t => tpl(&t), fields => tpl(&Value::Array(fields)), integration => name },
    ))
}
