//! Outbound webhooks: the list, the editor (method, URL, headers, parameters, message type,
//! body with a macro picker, the credentials of an integration) and **Test & Save**: the
//! definition as typed is called for real for the people and groups chosen with the directory
//! picker (`POST /api/v1/webhook-tests`, nothing saved), the page shows each request (secret
//! headers redacted) and response, and Save keeps it (the API validates it as `hrsync check`
//! does). An operator tests the saved definition (`POST /api/v1/webhooks/{name}/test`).
//!
//! Also the users-and-groups picker (`/console/picker`), a fragment reused by the
//! orchestrations' "Run on…": checkboxes `pick` (a person's HR key) and `pick_group` (a
//! group's DN).

use super::ConsoleState;
use super::client::{ApiError, enc};
pub(super) use super::form::items;
use super::page::{Ctx, PageResult, tpl};
use axum::extract::{Path, Query};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum::{Form, Router};
use minijinja::context;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

pub(super) const TEMPLATES: &[(&str, &str)] = &[
    (
        "webhooks_list.html",
        include_str!("../../console/templates/webhooks_list.html"),
    ),
    (
        "webhooks_edit.html",
        include_str!("../../console/templates/webhooks_edit.html"),
    ),
    (
        "webhooks_result.html",
        include_str!("../../console/templates/webhooks_result.html"),
    ),
    (
        "picker_widget.html",
        include_str!("../../console/templates/picker_widget.html"),
    ),
    (
        "picker_results.html",
        include_str!("../../console/templates/picker_results.html"),
    ),
];

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/webhooks", get(list))
        .route("/console/webhooks/new", get(new_form).post(create))
        .route("/console/webhooks/{name}", get(edit_form).post(update))
        .route(
            "/console/webhooks/{name}/delete",
            axum::routing::post(delete),
        )
        .route("/console/picker", get(picker))
}

/// A posted form: every field in order (repeated names kept).
pub(super) type Fields = Vec<(String, String)>;

/// The first value of a field, trimmed ("" when absent).
pub(super) fn field(f: &Fields, name: &str) -> String {
    f.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default()
}

/// Every non-empty value of a field, each once, in order.
pub(super) fn all(f: &Fields, name: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    f.iter()
        .filter(|(k, v)| k == name && !v.trim().is_empty())
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| seen.insert(v.clone()))
        .collect()
}

/// The names of an API page's items.
pub(super) fn names(v: &Value) -> Vec<String> {
    items(v)
        .iter()
        .filter_map(|i| i.get("name").and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// An inline form error.
pub(super) fn err(key: &str, message: impl Into<String>) -> Value {
    json!({"key": key, "message": message.into()})
}

/// The API's field errors (422) as inline errors; other refusals as one.
pub(super) fn api_errors(e: &ApiError) -> Vec<Value> {
    match e.problem.get("errors").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => list.clone(),
        _ => vec![err("", e.detail())],
    }
}

// ----- the picker -----

struct PickerQuery {
    q: String,
    kind: String,
    /// Already chosen (kept checked above the new results).
    pick: Vec<String>,
    pick_group: Vec<String>,
}

/// `/console/picker?kind=users&q=`: the directory's answer as checkboxes (an htmx fragment).
async fn picker(ctx: Ctx, Query(raw): Query<Vec<(String, String)>>) -> PageResult {
    let q = PickerQuery {
        q: field(&raw, "q"),
        kind: field(&raw, "kind"),
        pick: all(&raw, "pick"),
        pick_group: all(&raw, "pick_group"),
    };
    let kind = if q.kind == "groups" {
        "groups"
    } else {
        "users"
    };
    let found = ctx
        .get(&format!(
            "/api/v1/directory/search?kind={kind}&q={}",
            enc(&q.q)
        ))
        .await;
    let (found, problem) = match found {
        Ok(v) => (v, None),
        Err(e) => (Value::Null, Some(e)),
    };
    Ok(ctx.render(
        "picker_results.html",
        context! {
            kind,
            q => q.q.clone(),
            found => tpl(&found),
            problem => problem.as_ref().map(|e| tpl(&e.problem)),
            chosen_users => q.pick,
            chosen_groups => q.pick_group,
        },
    ))
}

/// The picker's search done by the server (a form posted with Enter, or without JavaScript):
/// `{kind, q, found, problem}` for `picker_widget.html`.
pub(super) async fn search(ctx: &Ctx, f: &Fields) -> Value {
    let kind = if field(f, "kind") == "groups" {
        "groups"
    } else {
        "users"
    };
    let q = field(f, "q");
    match ctx
        .get(&format!(
            "/api/v1/directory/search?kind={kind}&q={}",
            enc(&q)
        ))
        .await
    {
        Ok(found) => json!({"kind": kind, "q": q, "found": found}),
        Err(e) => json!({"kind": kind, "q": q, "problem": e.problem}),
    }
}

// ----- the list -----

async fn list(ctx: Ctx) -> PageResult {
    let hooks = ctx
        .get("/api/v1/webhooks?limit=200")
        .await
        .map_err(|e| ctx.problem(&e))?;
    Ok(ctx.render(
        "webhooks_list.html",
        context! { webhooks => tpl(&Value::Array(items(&hooks))) },
    ))
}

// ----- the editor -----

/// What the editor shows besides the webhook: integrations (for credentials), mappings (whose
/// accounts and HR records fill the macros) and the macros themselves.
async fn choices(ctx: &Ctx) -> Result<(Vec<String>, Vec<String>, Value), ApiError> {
    let integrations = ctx.get("/api/v1/integrations?limit=200").await?;
    let mappings = ctx.get("/api/v1/mappings?limit=200").await?;
    let macros = macros(ctx, &items(&mappings));
    Ok((names(&integrations), names(&mappings), macros))
}

/// The macros a webhook supports (hrsync-webhook: `{key}`, `{dn}`, `{event}`, `{webhook}`,
/// `{user.<attribute>}` of the account, `{hr.<field>}` of the HR record; a notification
/// channel also `{notify.*}`), with the attributes and HR fields of the configured mappings:
/// the account's attributes a test or a step reads are the mapping's own attributes, its key
/// and its naming attribute; the HR fields are those the mapping's formats name.
pub(super) fn macros(ctx: &Ctx, mappings: &[Value]) -> Value {
    let key_attribute = ctx.st.svc.cfg.raw.directory.key_attribute();
    let mut user: BTreeSet<String> = BTreeSet::from(["dn".to_string(), key_attribute]);
    let mut hr: BTreeSet<String> = BTreeSet::new();
    for m in mappings {
        if let Some(k) = m.get("primary_key").and_then(Value::as_str) {
            hr.insert(k.to_string());
        }
        if let Some(r) = m.get("rdn_attribute").and_then(Value::as_str) {
            user.insert(r.to_string());
        }
        if let Some(attrs) = m.get("attributes").and_then(Value::as_object) {
            for (a, f) in attrs {
                user.insert(a.clone());
                let format = f
                    .as_str()
                    .or_else(|| f.get("format").and_then(Value::as_str))
                    .unwrap_or_default();
                hr.extend(format_fields(format));
            }
        }
    }
    json!({
        "fixed": hrsync_webhook::FIXED_MACROS.iter().map(|m| format!("{{{m}}}")).collect::<Vec<_>>(),
        "user": user.iter().map(|a| format!("{{user.{a}}}")).collect::<Vec<_>>(),
        "hr": hr.iter().map(|f| format!("{{hr.{f}}}")).collect::<Vec<_>>(),
        "notify": hrsync_webhook::NOTIFY_MACROS.iter().map(|m| format!("{{{m}}}")).collect::<Vec<_>>(),
    })
}

/// The HR fields a mapping format names: the leading `a.b_c` of each `{…}`.
fn format_fields(format: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = format;
    while let Some(i) = rest.find('{') {
        rest = &rest[i + 1..];
        let inner = rest.trim_start_matches('{').trim_start();
        let name: String = inner
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
            .collect();
        if name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && !name.ends_with('.')
            && ![
                "if", "else", "endif", "for", "endfor", "true", "false", "none",
            ]
            .contains(&name.as_str())
        {
            out.push(name);
        }
    }
    out
}

/// Header names that carry credentials: never typed into a webhook (the TOML would hold them
/// in clear); the credentials of an integration are chosen instead (`auth`).
fn is_credential_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace('_', "-");
    n == "cookie"
        || [
            "auth",
            "token",
            "secret",
            "password",
            "passwd",
            "api-key",
            "apikey",
            "subscription-key",
            "signature",
        ]
        .iter()
        .any(|s| n.contains(s))
}

/// `Name: value` lines (headers) or `name=value` lines (parameters) as a table; errors name
/// the line.
fn pairs(text: &str, sep: char, key: &str, errors: &mut Vec<Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match line.split_once(sep) {
            Some((k, v)) if !k.trim().is_empty() => {
                out.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
            }
            _ => errors.push(err(
                key,
                format!("line {}: write it as name{sep}value", i + 1),
            )),
        }
    }
    out
}

/// The form as the API's JSON, or the inline errors (nothing is sent then).
fn to_json(f: &Fields) -> Result<Value, Vec<Value>> {
    let mut errors = Vec::new();
    let name = field(f, "name");
    if name.is_empty() {
        errors.push(err("name", "a webhook needs a name"));
    }
    let mut o = Map::new();
    o.insert("name".into(), json!(name));
    for k in ["description", "body", "auth"] {
        let v = f
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        if !v.trim().is_empty() {
            o.insert(
                k.into(),
                json!(if k == "body" { v } else { v.trim().into() }),
            );
        }
    }
    o.insert("method".into(), json!(field(f, "method").to_uppercase()));
    o.insert("url".into(), json!(field(f, "url")));
    let mt = field(f, "message_type");
    o.insert(
        "message_type".into(),
        json!(if mt.is_empty() { "json".into() } else { mt }),
    );
    let headers = pairs(&field(f, "headers"), ':', "headers", &mut errors);
    for k in headers.keys() {
        if is_credential_header(k) {
            errors.push(err(
                "headers",
                format!(
                    "header {k}: credentials never go in a webhook's headers (the configuration would hold them in clear); choose the integration whose credentials are sent under Credentials"
                ),
            ));
        }
    }
    if !headers.is_empty() {
        o.insert("headers".into(), Value::Object(headers));
    }
    let query = pairs(&field(f, "query"), '=', "query", &mut errors);
    if !query.is_empty() {
        o.insert("query".into(), Value::Object(query));
    }
    for (k, lo, hi) in [("timeout_secs", 1, 3600), ("max_attempts", 1, 10)] {
        let v = field(f, k);
        if v.is_empty() {
            continue;
        }
        match v.parse::<u64>() {
            Ok(n) if (lo..=hi).contains(&n) => {
                o.insert(k.into(), json!(n));
            }
            _ => errors.push(err(k, format!("a whole number from {lo} to {hi}"))),
        }
    }
    if errors.is_empty() {
        Ok(Value::Object(o))
    } else {
        Err(errors)
    }
}

/// A stored webhook as the form's fields (headers and parameters as lines).
fn to_form(w: &Value) -> Value {
    let lines = |k: &str, sep: &str| -> String {
        w.get(k)
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}{sep}{}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    };
    let s = |k: &str| w.get(k).and_then(Value::as_str).unwrap_or_default();
    let n = |k: &str| w.get(k).map(|v| v.to_string()).unwrap_or_default();
    json!({
        "name": s("name"), "description": s("description"), "method": s("method").to_uppercase(),
        "url": s("url"), "message_type": if s("message_type").is_empty() { "json" } else { s("message_type") },
        "body": s("body"), "auth": s("auth"), "headers": lines("headers", ": "),
        "query": lines("query", "="), "timeout_secs": n("timeout_secs"), "max_attempts": n("max_attempts"),
    })
}

/// The form as posted, for showing again (a credential header's value is never shown again).
fn echo(f: &Fields) -> Value {
    let headers: Vec<String> = field(f, "headers")
        .lines()
        .map(|l| match l.split_once(':') {
            Some((k, _)) if is_credential_header(k.trim()) => format!("{}: ", k.trim()),
            _ => l.to_string(),
        })
        .collect();
    let raw_body = f
        .iter()
        .find(|(k, _)| k == "body")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    json!({
        "name": field(f, "name"), "description": field(f, "description"), "method": field(f, "method").to_uppercase(),
        "url": field(f, "url"), "message_type": field(f, "message_type"), "body": raw_body,
        "auth": field(f, "auth"), "headers": headers.join("\n"), "query": field(f, "query"),
        "timeout_secs": field(f, "timeout_secs"), "max_attempts": field(f, "max_attempts"),
    })
}

struct Editor {
    w: Value,
    existing: bool,
    hash: String,
    errors: Vec<Value>,
    saved: Option<Value>,
    test: Option<Value>,
    picks: Vec<String>,
    pick_groups: Vec<String>,
    mapping: String,
    status: StatusCode,
    /// The picker's results, when the form was posted to search.
    picker: Option<Value>,
    /// The test was of the form as typed, not saved yet.
    tested_unsaved: bool,
}

impl Editor {
    fn new(w: Value, existing: bool, hash: String) -> Editor {
        Editor {
            w,
            existing,
            hash,
            errors: Vec::new(),
            saved: None,
            test: None,
            picks: Vec::new(),
            pick_groups: Vec::new(),
            mapping: String::new(),
            status: StatusCode::OK,
            picker: None,
            tested_unsaved: false,
        }
    }
}

async fn render_editor(ctx: &Ctx, e: Editor) -> PageResult {
    let (integrations, mappings, macros) = choices(ctx).await.map_err(|x| ctx.problem(&x))?;
    Ok(ctx.render_status(
        e.status,
        "webhooks_edit.html",
        context! {
            w => tpl(&e.w),
            existing => e.existing,
            hash => e.hash,
            errors => tpl(&Value::Array(e.errors)),
            saved => e.saved.as_ref().map(tpl),
            test => e.test.as_ref().map(tpl),
            picks => e.picks,
            pick_groups => e.pick_groups,
            mapping => e.mapping,
            picker => e.picker.as_ref().map(tpl),
            tested_unsaved => e.tested_unsaved,
            integrations,
            mappings,
            macros => tpl(&macros),
            methods => ["POST", "PUT", "PATCH", "GET", "DELETE"],
            message_types => ["json", "xml", "form"],
        },
    ))
}

async fn new_form(ctx: Ctx) -> PageResult {
    let r = ctx
        .call(Method::GET, "/api/v1/webhooks?limit=1", None, None)
        .await
        .map_err(|e| ctx.problem(&e))?;
    let w =
        json!({"method": "POST", "message_type": "json", "timeout_secs": "", "max_attempts": ""});
    render_editor(&ctx, Editor::new(w, false, r.etag().unwrap_or_default())).await
}

#[derive(Deserialize)]
struct Shown {
    saved: Option<String>,
}

async fn edit_form(ctx: Ctx, Path(name): Path<String>, Query(q): Query<Shown>) -> PageResult {
    let r = ctx
        .call(
            Method::GET,
            &format!("/api/v1/webhooks/{}", enc(&name)),
            None,
            None,
        )
        .await
        .map_err(|e| ctx.problem(&e))?;
    let mut e = Editor::new(to_form(&r.body), true, r.etag().unwrap_or_default());
    if q.saved.is_some() {
        e.saved = Some(json!({"diff": ""}));
    }
    render_editor(&ctx, e).await
}

async fn create(ctx: Ctx, Form(f): Form<Fields>) -> PageResult {
    submit(ctx, None, f).await
}

async fn update(ctx: Ctx, Path(name): Path<String>, Form(f): Form<Fields>) -> PageResult {
    submit(ctx, Some(name), f).await
}

/// Save (`action=save`), Test (`action=test`: an admin's form is called for real as it is,
/// not saved — the seed's Test & Save: test, look, then save; an operator's test calls the
/// saved webhook), or the picker's search (`action=search`, Enter in a field).
async fn submit(ctx: Ctx, existing: Option<String>, f: Fields) -> PageResult {
    let action = field(&f, "action");
    let mut e = Editor::new(echo(&f), existing.is_some(), field(&f, "hash"));
    e.picks = all(&f, "pick");
    e.pick_groups = all(&f, "pick_group");
    e.mapping = field(&f, "mapping");
    if action == "search" {
        e.picker = Some(search(&ctx, &f).await);
        return render_editor(&ctx, e).await;
    }
    let testing = action == "test";
    let may = ctx.can_admin() || (testing && existing.is_some());
    if !may {
        return Err(ctx.problem(&ApiError {
            status: StatusCode::FORBIDDEN,
            problem: json!({"type": "urn:hrsync:problem:forbidden", "title": "Forbidden", "detail": "saving a webhook needs the admin role"}),
        }));
    }
    // An operator's test is of the saved webhook: the form is not read.
    let body = if ctx.can_admin() {
        match to_json(&f) {
            Ok(b) => Some(b),
            Err(errors) => {
                e.errors = errors;
                e.status = StatusCode::UNPROCESSABLE_ENTITY;
                return render_editor(&ctx, e).await;
            }
        }
    } else {
        None
    };
    if testing {
        return test(&ctx, e, existing, body).await;
    }
    let Some(body) = body else {
        return render_editor(&ctx, e).await;
    };
    let name = field(&f, "name");
    let (method, path) = match &existing {
        None => (Method::POST, "/api/v1/webhooks?comment=console".to_string()),
        Some(n) => (
            Method::PUT,
            format!("/api/v1/webhooks/{}?comment=console", enc(n)),
        ),
    };
    match ctx.call(method, &path, Some(&body), Some(&e.hash)).await {
        Ok(_) => {
            Ok(Redirect::to(&format!("/console/webhooks/{}?saved=1", enc(&name))).into_response())
        }
        Err(x) if x.status == StatusCode::FORBIDDEN => Err(ctx.problem(&x)),
        Err(x) => {
            e.errors = api_errors(&x);
            e.status = x.status;
            render_editor(&ctx, e).await
        }
    }
}

/// Deletes a webhook (the API refuses while an orchestration step or a notification channel
/// uses it: the reason is shown on the editor).
async fn delete(ctx: Ctx, Path(name): Path<String>, Form(f): Form<Fields>) -> PageResult {
    let path = format!("/api/v1/webhooks/{}?comment=console", enc(&name));
    match ctx
        .call(Method::DELETE, &path, None, Some(&field(&f, "hash")))
        .await
    {
        Ok(_) => Ok(Redirect::to("/console/webhooks").into_response()),
        Err(x) if x.status == StatusCode::FORBIDDEN || x.status == StatusCode::NOT_FOUND => {
            Err(ctx.problem(&x))
        }
        Err(x) => {
            let r = ctx
                .call(
                    Method::GET,
                    &format!("/api/v1/webhooks/{}", enc(&name)),
                    None,
                    None,
                )
                .await
                .map_err(|e| ctx.problem(&e))?;
            let mut e = Editor::new(to_form(&r.body), true, r.etag().unwrap_or_default());
            e.errors = api_errors(&x);
            e.status = x.status;
            render_editor(&ctx, e).await
        }
    }
}

/// Calls the webhook for the people and groups chosen: the definition in the form (`body`,
/// an admin's) or the saved one (an operator's), and shows each request and response.
async fn test(
    ctx: &Ctx,
    mut e: Editor,
    existing: Option<String>,
    body: Option<Value>,
) -> PageResult {
    if e.picks.is_empty() && e.pick_groups.is_empty() {
        e.errors.push(err(
            "pick",
            "choose at least one person or group in the picker to test the webhook on",
        ));
        e.status = StatusCode::UNPROCESSABLE_ENTITY;
        return render_editor(ctx, e).await;
    }
    let mut req = json!({"users": e.picks, "groups": e.pick_groups});
    if !e.mapping.is_empty() {
        req["mapping"] = json!(e.mapping);
    }
    let path = match (body, &existing) {
        (Some(b), _) => {
            req["webhook"] = b;
            "/api/v1/webhook-tests".to_string()
        }
        (None, Some(n)) => format!("/api/v1/webhooks/{}/test", enc(n)),
        (None, None) => return render_editor(ctx, e).await,
    };
    match ctx.call(Method::POST, &path, Some(&req), None).await {
        Ok(r) => {
            e.test = Some(r.body);
            e.tested_unsaved = ctx.can_admin();
        }
        Err(x) if x.status == StatusCode::FORBIDDEN => return Err(ctx.problem(&x)),
        Err(x) => {
            e.errors = api_errors(&x);
            e.status = x.status;
        }
    }
    render_editor(ctx, e).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn formats_name_their_fields() {
        assert_eq!(
            format_fields("{first} {last}@{ department.display }"),
            vec!["first", "last", "department.display"]
        );
        assert_eq!(format_fields("plain"), Vec::<String>::new());
    }

    #[test]
    fn credential_headers_are_refused() {
        for h in [
            "Authorization",
            "X-Api-Key",
            "X-Auth-Token",
            "Cookie",
            "x_secret",
        ] {
            assert!(is_credential_header(h), "{h}");
        }
        assert!(!is_credential_header("X-Source"));
        let f: Fields = vec![
            ("name".into(), "w".into()),
            ("method".into(), "post".into()),
            ("url".into(), "http://x/".into()),
            (
                "headers".into(),
                "X-Api-Key: s3cr3t\nX-Source: hrsync".into(),
            ),
        ];
        let errs = to_json(&f).unwrap_err();
        assert!(errs[0]["message"].as_str().unwrap().contains("X-Api-Key"));
        assert!(!echo(&f).to_string().contains("s3cr3t"));
    }
}
