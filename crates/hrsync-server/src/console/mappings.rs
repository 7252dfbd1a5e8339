//! Mappings: the list and the "Data Source – LDAP Attribute Mapping" editor (attribute ← field
//! rows from the discovered fields, custom formats checked as you type), live preview on a
//! chosen person. Every action is a call of the REST API: the format check
//! (`POST /api/v1/formats/check`), the preview of the unsaved definition
//! (`POST /api/v1/mapping-previews`) and the save (`POST`/`PUT /api/v1/mappings` with
//! `If-Match`), so an invalid mapping is refused by the API's validation and nothing is saved.

use super::ConsoleState;
use super::client::{ApiError, enc};

use super::form::{Fields, all, field, items, text as s};
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
        "mappings_list.html",
        include_str!("../../console/templates/mappings_list.html"),
    ),
    (
        "mappings_edit.html",
        include_str!("../../console/templates/mappings_edit.html"),
    ),
    (
        "mappings_row.html",
        include_str!("../../console/templates/mappings_row.html"),
    ),
    (
        "mappings_fields.html",
        include_str!("../../console/templates/mappings_fields.html"),
    ),
    (
        "mappings_format.html",
        include_str!("../../console/templates/mappings_format.html"),
    ),
    (
        "mappings_preview.html",
        include_str!("../../console/templates/mappings_preview.html"),
    ),
];

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/mappings", get(list))
        .route("/console/mappings/new", get(new_mapping))
        .route("/console/mappings/save", post(save))
        .route("/console/mappings/preview", post(preview))
        .route("/console/mappings/format-check", get(format_check))
        .route("/console/mappings/fields", get(fields))
        .route("/console/mappings/{name}", get(edit))
}

/// Automation categories (`category`): what each stands for (its preset of actions).
const CATEGORIES: &[(&str, &str)] = &[
    (
        "user-provisioning",
        "Whole lifecycle: create, update, disable, delete",
    ),
    ("user-creation", "User creation (create only)"),
    (
        "user-modification",
        "User modification (update, rename, move, groups)",
    ),
    ("user-disable", "User disable"),
    ("user-deletion", "User deletion"),
];

/// Directory attributes offered in the attribute column (typing any other is allowed).
const LDAP_ATTRIBUTES: &[&str] = &[
    "uid",
    "cn",
    "sn",
    "givenName",
    "displayName",
    "initials",
    "mail",
    "title",
    "departmentNumber",
    "department",
    "company",
    "o",
    "ou",
    "employeeType",
    "manager",
    "telephoneNumber",
    "mobile",
    "l",
    "st",
    "street",
    "postalCode",
    "c",
    "roomNumber",
    "physicalDeliveryOfficeName",
    "description",
    "preferredLanguage",
    "sAMAccountName",
    "userPrincipalName",
];

async fn list(ctx: Ctx) -> PageResult {
    let all = ctx
        .get("/api/v1/mappings?limit=500")
        .await
        .map_err(|e| ctx.problem(&e))?;
    Ok(ctx.render(
        "mappings_list.html",
        context! { mappings => tpl(&Value::Array(items(&all))) },
    ))
}

/// The join list as the form shows it: endpoint names, comma-separated.
fn join_text(m: &Value) -> String {
    m.get("join")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|j| {
                    j.as_str()
                        .or_else(|| j.get("endpoint").and_then(Value::as_str))
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// A saved mapping as the editor's form values.
fn form_of(m: &Value) -> Value {
    let attrs: Vec<Value> = m
        .get("attributes")
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    let format = v
                        .as_str()
                        .or_else(|| v.get("format").and_then(Value::as_str))
                        .unwrap_or_default();
                    json!({"name": k, "format": format, "options": v.is_object()})
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "name": s(m, "name"),
        "description": s(m, "description"),
        "category": m.get("category").and_then(Value::as_str).unwrap_or("user-provisioning"),
        "integration": s(m, "integration"),
        "endpoint": s(m, "endpoint"),
        "join": join_text(m),
        "primary_key": s(m, "primary_key"),
        "rdn_attribute": m.get("rdn_attribute").and_then(Value::as_str).unwrap_or("uid"),
        "scope_when": s(m, "scope_when"),
        "out_of_scope": m.get("out_of_scope").and_then(Value::as_str).unwrap_or("ignore"),
        "leaver_when": s(m, "leaver_when"),
        "enabled": m.get("enabled").and_then(Value::as_bool).unwrap_or(true),
        "approval_require": m.pointer("/approval/require").cloned().unwrap_or_else(|| json!([])),
        "approval_four_eyes": m.pointer("/approval/four_eyes").and_then(Value::as_bool).unwrap_or(false),
        "attributes": attrs,
    })
}

/// The submitted form as the editor's form values (rows as typed).
fn form_of_fields(f: &Fields) -> Value {
    let names = all(f, "attr_name");
    let formats = all(f, "attr_format");
    let attrs: Vec<Value> = names
        .iter()
        .zip(formats.iter())
        .map(|(n, v)| json!({"name": n, "format": v}))
        .collect();
    let mut o = Map::new();
    for k in [
        "name",
        "description",
        "category",
        "integration",
        "endpoint",
        "join",
        "primary_key",
        "rdn_attribute",
        "scope_when",
        "out_of_scope",
        "leaver_when",
        "preview_key",
    ] {
        o.insert(k.into(), json!(field(f, k)));
    }
    o.insert("enabled".into(), json!(field(f, "enabled") == "true"));
    o.insert("approval_require".into(), json!(all(f, "approval_require")));
    o.insert(
        "approval_four_eyes".into(),
        json!(field(f, "approval_four_eyes") == "true"),
    );
    o.insert("attributes".into(), Value::Array(attrs));
    Value::Object(o)
}

/// The mapping as the API takes it: the saved one (`base`, its keys the form does not show
/// kept) with the form's values.
fn mapping_body(base: Option<&Value>, f: &Fields) -> Value {
    let mut o = base.and_then(Value::as_object).cloned().unwrap_or_default();
    let text = |o: &mut Map<String, Value>, k: &str| {
        let v = field(f, k).trim();
        if v.is_empty() {
            o.remove(k);
        } else {
            o.insert(k.into(), json!(v));
        }
    };
    for k in [
        "name",
        "description",
        "category",
        "integration",
        "endpoint",
        "primary_key",
        "rdn_attribute",
        "scope_when",
        "leaver_when",
    ] {
        text(&mut o, k);
    }
    // The "enabled" box: unchecked is `enabled = false`; checked keeps the default (true).
    if field(f, "enabled_shown") == "1" {
        if field(f, "enabled") == "true" {
            if o.contains_key("enabled") {
                o.insert("enabled".into(), json!(true));
            }
        } else {
            o.insert("enabled".into(), json!(false));
        }
    }
    // Approval (`[mapping.approval]`): which changes wait for an approval, and four-eyes; its
    // other keys (auto_apply) kept.
    if field(f, "approval_shown") == "1" {
        let require: Vec<String> = all(f, "approval_require")
            .into_iter()
            .filter(|c| hrsync_config::plans::APPROVAL_CLASSES.contains(c))
            .map(str::to_string)
            .collect();
        let four_eyes = field(f, "approval_four_eyes") == "true";
        let mut a = o
            .get("approval")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        a.insert("require".into(), json!(require));
        a.insert("four_eyes".into(), json!(four_eyes));
        let empty = require.is_empty() && !four_eyes && a.len() == 2;
        if empty {
            o.remove("approval");
        } else {
            o.insert("approval".into(), Value::Object(a));
        }
    }
    let oos = field(f, "out_of_scope").trim();
    if oos.is_empty() || (oos == "ignore" && !o.contains_key("out_of_scope")) {
        o.remove("out_of_scope");
    } else {
        o.insert("out_of_scope".into(), json!(oos));
    }
    // Joins: kept as they were ({ endpoint, required } tables too) when still named.
    let old_joins: Vec<Value> = o
        .get("join")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let joins: Vec<Value> = field(f, "join")
        .split(',')
        .map(str::trim)
        .filter(|j| !j.is_empty())
        .map(|j| {
            old_joins
                .iter()
                .find(|x| {
                    x.as_str() == Some(j) || x.get("endpoint").and_then(Value::as_str) == Some(j)
                })
                .cloned()
                .unwrap_or_else(|| json!(j))
        })
        .collect();
    if joins.is_empty() {
        o.remove("join");
    } else {
        o.insert("join".into(), Value::Array(joins));
    }
    // Attributes in the form's order; a table's other keys (required, unique …) are kept.
    let old_attrs = o
        .get("attributes")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut attrs = Map::new();
    for (n, v) in all(f, "attr_name").into_iter().zip(all(f, "attr_format")) {
        let (n, v) = (n.trim(), v.trim());
        // A row without a format maps nothing (the editor's way to drop one).
        if v.is_empty() {
            continue;
        }
        let value = match old_attrs.get(n) {
            Some(Value::Object(t)) => {
                let mut t = t.clone();
                t.insert("format".into(), json!(v));
                Value::Object(t)
            }
            _ => json!(v),
        };
        attrs.insert(n.to_string(), value);
    }
    o.insert("attributes".into(), Value::Object(attrs));
    Value::Object(o)
}

#[derive(Deserialize, Default)]
struct NewQuery {
    integration: Option<String>,
}

/// What every editor page needs besides the form: integrations, their endpoints, the
/// discovered fields of the chosen one, categories, directory attributes.
async fn editor(
    ctx: &Ctx,
    form: Value,
    original: Option<&str>,
    etag: Option<String>,
    problem: Option<&ApiError>,
    saved: bool,
) -> Response {
    let integrations = ctx
        .get("/api/v1/integrations?limit=500")
        .await
        .map(|v| items(&v))
        .unwrap_or_default();
    let mut form = form;
    if s(&form, "integration").is_empty()
        && let Some(first) = integrations.first()
        && let Some(o) = form.as_object_mut()
    {
        o.insert("integration".into(), json!(s(first, "name")));
    }
    let data = field_data(ctx, &form).await;
    let categories: Vec<Value> = CATEGORIES
        .iter()
        .map(|(k, l)| json!({"value": k, "label": l}))
        .collect();
    let status = problem
        .map(|e| e.status)
        .unwrap_or(axum::http::StatusCode::OK);
    let problem = problem.map(|e| e.problem.clone()).unwrap_or(Value::Null);
    // Errors of the API about one attribute go next to its row.
    let attr_errors: Map<String, Value> = problem
        .get("errors")
        .and_then(Value::as_array)
        .map(|errs| {
            let mut m = Map::new();
            for e in errs {
                let text = format!("{} {}", s(e, "key"), s(e, "message"));
                if let Some(a) = form.get("attributes").and_then(Value::as_array) {
                    for row in a {
                        let n = s(row, "name");
                        if !n.is_empty()
                            && (text.contains(&format!("attribute {n}:"))
                                || text.contains(&format!("attributes.{n}")))
                        {
                            m.insert(n.to_string(), json!(s(e, "message")));
                        }
                    }
                }
            }
            m
        })
        .unwrap_or_default();
    ctx.render_status(
        status,
        "mappings_edit.html",
        context! {
            form => tpl(&form),
            original => original.unwrap_or_default(),
            etag => etag.unwrap_or_default(),
            integrations => tpl(&Value::Array(integrations)),
            endpoints => tpl(&data.0),
            hr_fields => tpl(&data.1),
            tested => tpl(&data.2),
            categories => tpl(&Value::Array(categories)),
            ldap_attributes => LDAP_ATTRIBUTES.to_vec(),
            approval_classes => hrsync_config::plans::APPROVAL_CLASSES.to_vec(),
            problem => tpl(&problem),
            attr_errors => tpl(&Value::Object(attr_errors)),
            saved => saved,
        },
    )
}

/// The chosen integration's endpoint names, the fields its endpoint's (and joins') last tests
/// discovered, and which tests they came from.
async fn field_data(ctx: &Ctx, form: &Value) -> (Value, Value, Value) {
    let integration = s(form, "integration");
    if integration.is_empty() {
        return (json!([]), json!([]), json!([]));
    }
    let macros = ctx
        .get(&format!("/api/v1/integrations/{}/macros", enc(integration)))
        .await
        .unwrap_or(Value::Null);
    let endpoints: Vec<Value> = macros
        .get("endpoints")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|e| json!(s(e, "name"))).collect())
        .unwrap_or_default();
    let main = match s(form, "endpoint") {
        "" => "default".to_string(),
        e => e.to_string(),
    };
    let mut fields: Vec<Value> = Vec::new();
    let mut tested: Vec<Value> = Vec::new();
    let mut add = |d: &Value, prefix: Option<&str>| {
        for f in d
            .get("fields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = s(f, "field");
            let shown = match prefix {
                Some(p) => format!("{p}.{name}"),
                None => name.to_string(),
            };
            fields.push(json!({"field": shown, "types": f.get("types"), "present": f.get("present"), "records": d.get("records")}));
        }
        tested.push(json!({"endpoint": d.get("endpoint"), "at": d.get("tested_at"), "by": d.get("tested_by")}));
    };
    if let Ok(d) = ctx
        .get(&format!(
            "/api/v1/integrations/{}/endpoints/{}/fields",
            enc(integration),
            enc(&main)
        ))
        .await
    {
        add(&d, None);
    }
    for j in s(form, "join")
        .split(',')
        .map(str::trim)
        .filter(|j| !j.is_empty())
    {
        if let Ok(d) = ctx
            .get(&format!(
                "/api/v1/integrations/{}/endpoints/{}/fields",
                enc(integration),
                enc(j)
            ))
            .await
        {
            add(&d, Some(j));
        }
    }
    (
        Value::Array(endpoints),
        Value::Array(fields),
        Value::Array(tested),
    )
}

async fn new_mapping(ctx: Ctx, Query(q): Query<NewQuery>) -> PageResult {
    let r = ctx
        .call(Method::GET, "/api/v1/config", None, None)
        .await
        .map_err(|e| ctx.problem(&e))?;
    let form = json!({
        "name": "", "description": "", "category": "user-provisioning",
        "integration": q.integration.unwrap_or_default(), "endpoint": "", "join": "",
        "primary_key": "", "rdn_attribute": "uid", "scope_when": "", "out_of_scope": "ignore",
        "leaver_when": "", "enabled": true,
        "attributes": [{"name": "uid", "format": ""}, {"name": "cn", "format": ""}, {"name": "sn", "format": ""}],
    });
    Ok(editor(&ctx, form, None, r.etag(), None, false).await)
}

#[derive(Deserialize, Default)]
struct EditQuery {
    saved: Option<String>,
}

async fn edit(ctx: Ctx, Path(name): Path<String>, Query(q): Query<EditQuery>) -> PageResult {
    let r = ctx
        .call(
            Method::GET,
            &format!("/api/v1/mappings/{}", enc(&name)),
            None,
            None,
        )
        .await
        .map_err(|e| ctx.problem(&e))?;
    Ok(editor(
        &ctx,
        form_of(&r.body),
        Some(&name),
        r.etag(),
        None,
        q.saved.is_some(),
    )
    .await)
}

/// Save: create (`POST`) or replace (`PUT`) with the page's `If-Match`; refused: the editor
/// again, the API's errors inline, nothing saved.
async fn save(ctx: Ctx, Form(f): Form<Fields>) -> Response {
    let original = field(&f, "original").to_string();
    let etag = field(&f, "etag").to_string();
    let result = async {
        if original.is_empty() {
            let body = mapping_body(None, &f);
            ctx.call(Method::POST, "/api/v1/mappings", Some(&body), Some(&etag))
                .await
        } else {
            let path = format!("/api/v1/mappings/{}", enc(&original));
            let cur = ctx.call(Method::GET, &path, None, None).await?;
            let body = mapping_body(Some(&cur.body), &f);
            ctx.call(Method::PUT, &path, Some(&body), Some(&etag)).await
        }
    }
    .await;
    match result {
        Ok(_) => {
            let name = if original.is_empty() {
                field(&f, "name").trim().to_string()
            } else {
                original
            };
            Redirect::to(&format!("/console/mappings/{}?saved=1", enc(&name))).into_response()
        }
        Err(e) => {
            let orig = (!original.is_empty()).then_some(original.as_str());
            editor(
                &ctx,
                form_of_fields(&f),
                orig,
                Some(etag.clone()),
                Some(&e),
                false,
            )
            .await
        }
    }
}

#[derive(Deserialize, Default)]
struct FormatQuery {
    attr_format: Option<String>,
    attr_name: Option<String>,
    integration: Option<String>,
    endpoint: Option<String>,
    join: Option<String>,
}

/// The inline check of one format as it is typed (a fragment).
async fn format_check(ctx: Ctx, Query(q): Query<FormatQuery>) -> Response {
    let format = q.attr_format.unwrap_or_default();
    if format.trim().is_empty() {
        return ctx.render("mappings_format.html", context! { empty => true });
    }
    let body = json!({
        "format": format,
        "attribute": q.attr_name,
        "integration": q.integration,
        "endpoint": q.endpoint,
        "join": q.join.unwrap_or_default().split(',').map(str::trim).filter(|j| !j.is_empty()).collect::<Vec<_>>(),
    });
    match ctx
        .call(Method::POST, "/api/v1/formats/check", Some(&body), None)
        .await
    {
        Ok(r) => ctx.render("mappings_format.html", context! { c => tpl(&r.body) }),
        Err(e) => ctx.problem(&e),
    }
}

#[derive(Deserialize, Default)]
struct FieldsQuery {
    integration: Option<String>,
    endpoint: Option<String>,
    join: Option<String>,
}

/// The discovered fields' datalist for another integration or endpoint (a fragment).
async fn fields(ctx: Ctx, Query(q): Query<FieldsQuery>) -> Response {
    let form = json!({
        "integration": q.integration.unwrap_or_default(),
        "endpoint": q.endpoint.unwrap_or_default(),
        "join": q.join.unwrap_or_default(),
    });
    let (endpoints, hr_fields, tested) = field_data(&ctx, &form).await;
    ctx.render(
        "mappings_fields.html",
        context! { form => tpl(&form), endpoints => tpl(&endpoints), hr_fields => tpl(&hr_fields), tested => tpl(&tested) },
    )
}

/// Live preview of the form's mapping (saved or not) for one person (a fragment).
async fn preview(ctx: Ctx, Form(f): Form<Fields>) -> Response {
    let person = field(&f, "preview_key").trim().to_string();
    if person.is_empty() {
        return ctx.render("mappings_preview.html", context! { missing => true });
    }
    let original = field(&f, "original");
    let base = if original.is_empty() {
        None
    } else {
        ctx.get(&format!("/api/v1/mappings/{}", enc(original)))
            .await
            .ok()
    };
    let mapping = mapping_body(base.as_ref(), &f);
    match ctx
        .call(
            Method::POST,
            "/api/v1/mapping-previews",
            Some(&json!({"person": person, "mapping": mapping})),
            None,
        )
        .await
    {
        Ok(r) => ctx.render("mappings_preview.html", context! { e => tpl(&r.body) }),
        Err(e) => ctx.problem(&e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_form_keeps_what_it_does_not_show() {
        let saved = json!({
            "name": "staff", "integration": "hr", "primary_key": "id", "ou": ["{dept}"],
            "join": [{"endpoint": "details", "required": false}],
            "attributes": {"uid": "{id}", "cn": {"format": "{first}", "required": true}},
        });
        let f = form(&[
            ("name", "staff"),
            ("integration", "hr"),
            ("primary_key", "id"),
            ("join", "details, pay"),
            ("attr_name", "uid"),
            ("attr_format", "{id|lower}"),
            ("attr_name", "cn"),
            ("attr_format", "{first} {last}"),
            ("attr_name", ""),
            ("attr_format", ""),
        ]);
        let b = mapping_body(Some(&saved), &f);
        assert_eq!(b["ou"], json!(["{dept}"]));
        assert_eq!(
            b["join"],
            json!([{"endpoint": "details", "required": false}, "pay"])
        );
        assert_eq!(b["attributes"]["uid"], json!("{id|lower}"));
        assert_eq!(
            b["attributes"]["cn"],
            json!({"format": "{first} {last}", "required": true})
        );
        assert!(b.get("description").is_none());
        assert_eq!(b["attributes"].as_object().unwrap().len(), 2);
    }
}
