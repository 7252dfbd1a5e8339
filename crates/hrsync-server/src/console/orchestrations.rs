//! Orchestration templates: the list, the editor (trigger events, mapping, steps in order —
//! webhooks and directory actions — with their conditions and retries), and "Run on…": the
//! template applied now to people and groups chosen with the directory picker
//! (`POST /api/v1/orchestrations/{name}/run`). Every write goes through the API.

use super::ConsoleState;
use super::client::{ApiError, enc};
use super::page::{Ctx, PageResult, tpl};
use super::webhooks::{Fields, all, api_errors, err, field, items, names, search};
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
        "orchestrations_list.html",
        include_str!("../../console/templates/orchestrations_list.html"),
    ),
    (
        "orchestrations_edit.html",
        include_str!("../../console/templates/orchestrations_edit.html"),
    ),
];

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/orchestrations", get(list))
        .route("/console/orchestrations/new", get(new_form).post(create))
        .route(
            "/console/orchestrations/{name}",
            get(edit_form).post(update),
        )
        .route("/console/orchestrations/{name}/run", post(run))
        .route("/console/orchestrations/{name}/delete", post(delete))
}

/// The actions a step may take, with what its "target" and "value" fields mean.
const ACTIONS: &[(&str, &str)] = &[
    ("webhook", "call a webhook"),
    ("disable", "disable the account"),
    ("enable", "enable the account"),
    ("move", "move the account (target: the new parent DN)"),
    ("add_group", "add to a group (target: the group's DN)"),
    (
        "remove_group",
        "remove from a group (target: the group's DN)",
    ),
    (
        "set_attribute",
        "set an attribute (target: the attribute, value: macros allowed)",
    ),
    ("reset_password", "reset the password"),
    ("delay", "wait (value: seconds)"),
];

async fn list(ctx: Ctx) -> PageResult {
    let all = ctx
        .get("/api/v1/orchestrations?limit=200")
        .await
        .map_err(|e| ctx.problem(&e))?;
    Ok(ctx.render(
        "orchestrations_list.html",
        context! { orchestrations => tpl(&Value::Array(items(&all))) },
    ))
}

/// A stored step as a form row.
fn row(s: &Value) -> Value {
    let g = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or_default();
    let action = g("action");
    let target = match action {
        "move" => g("to"),
        "add_group" | "remove_group" => g("group"),
        "set_attribute" => g("attribute"),
        _ => "",
    };
    let value = match action {
        "delay" => s.get("seconds").map(|v| v.to_string()).unwrap_or_default(),
        _ => g("value").to_string(),
    };
    json!({
        "action": action, "webhook": g("webhook"), "target": target, "value": value,
        "when": if g("when").is_empty() { "previous_ok" } else { g("when") },
        "on_error": if g("on_error").is_empty() { "retry" } else { g("on_error") },
        "max_attempts": s.get("max_attempts").map(|v| v.to_string()).unwrap_or_default(),
    })
}

fn blank_row() -> Value {
    json!({"action": "webhook", "webhook": "", "target": "", "value": "", "when": "previous_ok", "on_error": "retry", "max_attempts": ""})
}

/// The posted step rows, in order (every row posts each of its fields once).
fn rows(f: &Fields) -> Vec<Value> {
    let col = |k: &str| -> Vec<String> {
        f.iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_string())
            .collect()
    };
    let (a, w, t, v, wh, oe, ma) = (
        col("step_action"),
        col("step_webhook"),
        col("step_target"),
        col("step_value"),
        col("step_when"),
        col("step_on_error"),
        col("step_max_attempts"),
    );
    let at = |c: &Vec<String>, i: usize| c.get(i).cloned().unwrap_or_default();
    (0..a.len())
        .map(|i| {
            json!({
                "action": at(&a, i), "webhook": at(&w, i), "target": at(&t, i), "value": at(&v, i),
                "when": at(&wh, i), "on_error": at(&oe, i), "max_attempts": at(&ma, i),
            })
        })
        .collect()
}

/// Whether a row is the empty one left for a new step (or one set to be removed).
fn is_empty(r: &Value) -> bool {
    let g = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default();
    g("action").is_empty()
        || (g("action") == "webhook" && g("webhook").is_empty() && g("target").is_empty())
}

/// The form as the API's JSON, or the inline errors.
fn to_json(f: &Fields) -> Result<Value, Vec<Value>> {
    let mut errors = Vec::new();
    let name = field(f, "name");
    if name.is_empty() {
        errors.push(err("name", "a template needs a name"));
    }
    let mut o = Map::new();
    o.insert("name".into(), json!(name));
    let d = field(f, "description");
    if !d.is_empty() {
        o.insert("description".into(), json!(d));
    }
    let m = field(f, "mapping");
    if !m.is_empty() {
        o.insert("mapping".into(), json!(m));
    }
    o.insert("on".into(), json!(all(f, "on")));
    let ma = field(f, "max_attempts");
    if !ma.is_empty() {
        match ma.parse::<u32>() {
            Ok(n) if (1..=100).contains(&n) => {
                o.insert("max_attempts".into(), json!(n));
            }
            _ => errors.push(err("max_attempts", "a whole number from 1 to 100")),
        }
    }
    let mut steps = Vec::new();
    for (i, r) in rows(f).iter().filter(|r| !is_empty(r)).enumerate() {
        let g = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or_default();
        let key = format!("steps[{i}]");
        let mut s = Map::new();
        let action = g("action");
        s.insert("action".into(), json!(action));
        let target = g("target");
        let value = g("value");
        match action {
            "webhook" => {
                if g("webhook").is_empty() {
                    errors.push(err(&key, "choose the webhook this step calls"));
                }
                s.insert("webhook".into(), json!(g("webhook")));
            }
            "move" => {
                s.insert("to".into(), json!(target));
            }
            "add_group" | "remove_group" => {
                s.insert("group".into(), json!(target));
            }
            "set_attribute" => {
                s.insert("attribute".into(), json!(target));
                s.insert("value".into(), json!(value));
            }
            "delay" => match value.parse::<u64>() {
                Ok(n) => {
                    s.insert("seconds".into(), json!(n));
                }
                Err(_) => errors.push(err(&key, "a delay step waits a whole number of seconds")),
            },
            _ => {}
        }
        if g("when") != "previous_ok" && !g("when").is_empty() {
            s.insert("when".into(), json!(g("when")));
        }
        if g("on_error") != "retry" && !g("on_error").is_empty() {
            s.insert("on_error".into(), json!(g("on_error")));
        }
        if !g("max_attempts").is_empty() {
            match g("max_attempts").parse::<u32>() {
                Ok(n) if (1..=100).contains(&n) => {
                    s.insert("max_attempts".into(), json!(n));
                }
                _ => errors.push(err(&key, "attempts: a whole number from 1 to 100")),
            }
        }
        steps.push(Value::Object(s));
    }
    if steps.is_empty() {
        errors.push(err("steps", "a template needs at least one step"));
    }
    o.insert("steps".into(), Value::Array(steps));
    if errors.is_empty() {
        Ok(Value::Object(o))
    } else {
        Err(errors)
    }
}

struct Editor {
    t: Value,
    steps: Vec<Value>,
    existing: bool,
    hash: String,
    errors: Vec<Value>,
    saved: bool,
    run: Option<Value>,
    picker: Option<Value>,
    picks: Vec<String>,
    pick_groups: Vec<String>,
    status: StatusCode,
    /// Steps were reordered (not saved yet).
    moved: bool,
}

impl Editor {
    fn new(t: Value, steps: Vec<Value>, existing: bool, hash: String) -> Editor {
        Editor {
            t,
            steps,
            existing,
            hash,
            errors: Vec::new(),
            saved: false,
            run: None,
            picker: None,
            picks: Vec::new(),
            pick_groups: Vec::new(),
            status: StatusCode::OK,
            moved: false,
        }
    }
}

async fn render_editor(ctx: &Ctx, mut e: Editor) -> PageResult {
    let fail = |x: ApiError| ctx.problem(&x);
    let webhooks = names(&ctx.get("/api/v1/webhooks?limit=200").await.map_err(fail)?);
    let mappings = names(&ctx.get("/api/v1/mappings?limit=200").await.map_err(fail)?);
    if !e.steps.iter().any(is_empty) {
        e.steps.push(blank_row());
    }
    let events: Vec<&str> = hrsync_config::daemon::EVENTS.to_vec();
    Ok(ctx.render_status(
        e.status,
        "orchestrations_edit.html",
        context! {
            t => tpl(&e.t),
            steps => tpl(&Value::Array(e.steps)),
            existing => e.existing,
            hash => e.hash,
            errors => tpl(&Value::Array(e.errors)),
            saved => e.saved,
            moved => e.moved,
            run => e.run.as_ref().map(tpl),
            picker => e.picker.as_ref().map(tpl),
            picks => e.picks,
            pick_groups => e.pick_groups,
            webhooks,
            mappings,
            events,
            actions => ACTIONS.iter().map(|(a, d)| json!({"value": a, "label": d})).map(|v| tpl(&v)).collect::<Vec<_>>(),
        },
    ))
}

async fn new_form(ctx: Ctx) -> PageResult {
    let r = ctx
        .call(Method::GET, "/api/v1/orchestrations?limit=1", None, None)
        .await
        .map_err(|e| ctx.problem(&e))?;
    let t = json!({"name": "", "on": [], "max_attempts": ""});
    render_editor(
        &ctx,
        Editor::new(t, Vec::new(), false, r.etag().unwrap_or_default()),
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
            &format!("/api/v1/orchestrations/{}", enc(name)),
            None,
            None,
        )
        .await?;
    let steps = r
        .body
        .get("steps")
        .and_then(Value::as_array)
        .map(|s| s.iter().map(row).collect())
        .unwrap_or_default();
    let mut t = r.body.clone();
    if let Some(o) = t.as_object_mut() {
        let ma = o.get("max_attempts").map(|v| v.to_string());
        o.insert("max_attempts".into(), json!(ma.unwrap_or_default()));
    }
    Ok(Editor::new(t, steps, true, r.etag().unwrap_or_default()))
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

/// Save (`action=save`) or one more step row (`action=add_step`, nothing saved).
async fn submit(ctx: Ctx, existing: Option<String>, f: Fields) -> PageResult {
    let echo = json!({
        "name": field(&f, "name"), "description": field(&f, "description"), "mapping": field(&f, "mapping"),
        "on": all(&f, "on"), "max_attempts": field(&f, "max_attempts"),
    });
    let mut e = Editor::new(echo, rows(&f), existing.is_some(), field(&f, "hash"));
    let action = field(&f, "action");
    if action == "add_step" {
        e.steps.retain(|r| !is_empty(r));
        e.steps.push(blank_row());
        return render_editor(&ctx, e).await;
    }
    // `up-N`: step N (from 1) one place earlier; nothing saved.
    if let Some(n) = action.strip_prefix("up-") {
        if let Ok(n) = n.parse::<usize>()
            && n >= 2
            && n <= e.steps.len()
        {
            e.steps.swap(n - 1, n - 2);
        }
        e.moved = true;
        return render_editor(&ctx, e).await;
    }
    let body = match to_json(&f) {
        Ok(b) => b,
        Err(errors) => {
            e.errors = errors;
            e.status = StatusCode::UNPROCESSABLE_ENTITY;
            return render_editor(&ctx, e).await;
        }
    };
    let name = field(&f, "name");
    let (method, path) = match &existing {
        None => (
            Method::POST,
            "/api/v1/orchestrations?comment=console".to_string(),
        ),
        Some(n) => (
            Method::PUT,
            format!("/api/v1/orchestrations/{}?comment=console", enc(n)),
        ),
    };
    match ctx.call(method, &path, Some(&body), Some(&e.hash)).await {
        Ok(_) => Ok(
            Redirect::to(&format!("/console/orchestrations/{}?saved=1", enc(&name)))
                .into_response(),
        ),
        Err(x) if x.status == StatusCode::FORBIDDEN => Err(ctx.problem(&x)),
        Err(x) => {
            e.errors = api_errors(&x);
            e.status = x.status;
            render_editor(&ctx, e).await
        }
    }
}

/// Deletes a template (instances already queued keep running from the outbox).
async fn delete(ctx: Ctx, Path(name): Path<String>, Form(f): Form<Fields>) -> PageResult {
    let path = format!("/api/v1/orchestrations/{}?comment=console", enc(&name));
    match ctx
        .call(Method::DELETE, &path, None, Some(&field(&f, "hash")))
        .await
    {
        Ok(_) => Ok(Redirect::to("/console/orchestrations").into_response()),
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

/// "Run on…": the template for the people and groups chosen (`action=search`: the picker's
/// search, nothing run).
async fn run(ctx: Ctx, Path(name): Path<String>, Form(f): Form<Fields>) -> PageResult {
    let mut e = load(&ctx, &name).await.map_err(|x| ctx.problem(&x))?;
    e.picks = all(&f, "pick");
    e.pick_groups = all(&f, "pick_group");
    if field(&f, "action") == "search" {
        e.picker = Some(search(&ctx, &f).await);
        return render_editor(&ctx, e).await;
    }
    if e.picks.is_empty() && e.pick_groups.is_empty() {
        e.errors.push(err(
            "pick",
            "choose at least one person or group to run it on",
        ));
        e.status = StatusCode::UNPROCESSABLE_ENTITY;
        return render_editor(&ctx, e).await;
    }
    let mut req = json!({"users": e.picks, "groups": e.pick_groups});
    let m = field(&f, "run_mapping");
    if !m.is_empty() {
        req["mapping"] = json!(m);
    }
    match ctx
        .call(
            Method::POST,
            &format!("/api/v1/orchestrations/{}/run", enc(&name)),
            Some(&req),
            None,
        )
        .await
    {
        Ok(r) => e.run = Some(r.body),
        Err(x) if x.status == StatusCode::FORBIDDEN => return Err(ctx.problem(&x)),
        Err(x) => {
            e.errors = api_errors(&x);
            e.status = x.status;
        }
    }
    render_editor(&ctx, e).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn f(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn step_rows_become_steps_and_the_empty_row_is_dropped() {
        let mut form = f(&[("name", "onboard"), ("on", "created"), ("on", "rehired")]);
        for (a, w, t, v, when) in [
            ("webhook", "hello", "", "", "previous_ok"),
            ("add_group", "", "cn=staff,dc=x", "", "always"),
            ("delay", "", "", "60", "previous_ok"),
            ("webhook", "", "", "", "previous_ok"),
        ] {
            form.extend(f(&[
                ("step_action", a),
                ("step_webhook", w),
                ("step_target", t),
                ("step_value", v),
                ("step_when", when),
                ("step_on_error", "retry"),
                ("step_max_attempts", ""),
            ]));
        }
        let j = to_json(&form).unwrap();
        assert_eq!(j["on"], json!(["created", "rehired"]));
        assert_eq!(
            j["steps"],
            json!([
                {"action": "webhook", "webhook": "hello"},
                {"action": "add_group", "group": "cn=staff,dc=x", "when": "always"},
                {"action": "delay", "seconds": 60},
            ])
        );
        let none = f(&[("name", "x")]);
        assert!(to_json(&none).is_err());
    }
}
