//! Checks of what an editor has not saved yet (issue 16): one attribute format checked offline
//! as `hrsync check` compiles it (syntax, unknown filters and functions) and against the fields
//! the endpoints' last tests discovered, and the preview of a mapping definition as it would be
//! saved (the `explain` of one person), all without writing anything.

use super::problem::{FieldError, Problem};
use super::resources::{name_of, read_file};
use super::{ApiState, blocking};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hrsync_auth::http::AsOperator;
use hrsync_config::Config;
use hrsync_config::edit::{self, Edit, KeyPath};
use hrsync_mapping::{AttrSpec, Mapper, MappingSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A format to check.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct FormatCheck {
    /// The format (`{first_name}.{last_name|lower}`).
    pub format: String,
    /// The attribute it is for (in messages; default `value`).
    pub attribute: Option<String>,
    /// The integration whose discovered fields the format's fields are compared with.
    pub integration: Option<String>,
    /// Its endpoint (default: the integration's first list endpoint).
    pub endpoint: Option<String>,
    /// Joined endpoints: their fields count as `{endpoint.field}` and as `{field}`.
    #[serde(default)]
    pub join: Vec<String>,
}

/// What the check found.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FormatChecked {
    /// The format compiles and every field it reads was discovered (or nothing was tested).
    pub ok: bool,
    /// Why it does not compile (syntax, an unknown filter or function).
    pub errors: Vec<String>,
    /// The HR fields it reads.
    pub fields: Vec<String>,
    /// Fields it reads that the last tests did not discover.
    pub unknown_fields: Vec<String>,
    /// Which tests the fields were compared with (`integration/endpoint`); empty: none was
    /// tested, so fields were not compared.
    pub compared_with: Vec<String>,
}

/// Compiles `format` as a mapping attribute: the fields it reads, or why it does not compile.
pub fn compile(attribute: &str, format: &str) -> Result<Vec<String>, String> {
    let spec = MappingSpec {
        name: "format-check".into(),
        primary_key: "hrsync_format_check_key".into(),
        source_id_field: None,
        rdn_attribute: attribute.into(),
        parent_dn: "ou=check".into(),
        key_attribute: "hrsync-format-check-key".into(),
        attributes: vec![AttrSpec {
            name: attribute.into(),
            format: format.into(),
            required: false,
        }],
        leaver_when: None,
        ou: Vec::new(),
        groups: Vec::new(),
        scope_when: None,
        out_of_scope: Default::default(),
        unique: Vec::new(),
        dates: Default::default(),
    };
    let m = Mapper::new(spec).map_err(|e| match e {
        hrsync_mapping::MappingError::Format { reason, .. } => reason,
        other => other.to_string(),
    })?;
    Ok(m.read_fields()
        .into_keys()
        .filter(|f| f != "hrsync_format_check_key")
        .collect())
}

/// A field read is known when it was discovered, or is inside or above a discovered one.
fn known(field: &str, discovered: &BTreeSet<String>) -> bool {
    discovered.contains(field)
        || discovered
            .iter()
            .any(|d| d.starts_with(&format!("{field}.")) || field.starts_with(&format!("{d}.")))
}

/// Checks one attribute format offline, as `hrsync check` compiles formats (syntax, unknown
/// filters and functions), and compares the fields it reads with the fields the last tests
/// of the integration's endpoints discovered. Writes nothing.
#[utoipa::path(
    post,
    path = "/api/v1/formats/check",
    tag = "mappings",
    operation_id = "check_format",
    request_body = FormatCheck,
    responses(
        (status = 200, description = "What the check found (`ok`, `errors`, `unknown_fields`)", body = FormatChecked),
        (status = 403, description = "Not an operator", body = Problem),
    )
)]
pub async fn check_format(
    State(st): State<ApiState>,
    _operator: AsOperator,
    Json(req): Json<FormatCheck>,
) -> Result<Json<FormatChecked>, Problem> {
    let attribute = req
        .attribute
        .clone()
        .filter(|a| !a.trim().is_empty())
        .unwrap_or_else(|| "value".into());
    let (errors, fields) = match compile(&attribute, &req.format) {
        Ok(f) => (Vec::new(), f),
        Err(e) => (vec![e], Vec::new()),
    };
    let mut discovered = BTreeSet::new();
    let mut compared_with = Vec::new();
    if let Some(i) = req.integration.as_deref().filter(|i| !i.is_empty()) {
        let main = req
            .endpoint
            .clone()
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| "default".into());
        if let Some(d) = super::discovery::discovered(&st, i, &main).await? {
            compared_with.push(format!("{i}/{}", d.endpoint));
            discovered.extend(d.fields.into_iter().map(|f| f.field));
        }
        for j in &req.join {
            if let Some(d) = super::discovery::discovered(&st, i, j).await? {
                compared_with.push(format!("{i}/{j}"));
                for f in d.fields {
                    discovered.insert(format!("{j}.{}", f.field));
                    discovered.insert(f.field);
                }
            }
        }
    }
    let unknown_fields: Vec<String> = if compared_with.is_empty() {
        Vec::new()
    } else {
        fields
            .iter()
            .filter(|f| !known(f, &discovered))
            .cloned()
            .collect()
    };
    Ok(Json(FormatChecked {
        ok: errors.is_empty() && unknown_fields.is_empty(),
        errors,
        fields,
        unknown_fields,
        compared_with,
    }))
}

/// A mapping definition to preview for one person, unsaved.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DraftPreview {
    /// The person's HR primary key.
    pub person: String,
    /// The mapping as `POST /api/v1/mappings` takes it (replacing the saved one of that name,
    /// if there is one, for this preview only).
    #[schema(value_type = Object)]
    pub mapping: serde_json::Value,
}

/// Previews an unsaved mapping definition for one person (as `hrsync explain`: the HR record,
/// each attribute with the format and fields it came from, the entry today, what a run would
/// do and why). The configuration is read as it is now with the definition in place of (or
/// added to) its mappings, in memory only: nothing is written.
#[utoipa::path(
    post,
    path = "/api/v1/mapping-previews",
    tag = "mappings",
    operation_id = "preview_draft_mapping",
    request_body = DraftPreview,
    responses(
        (status = 200, description = "The explanation", body = Object),
        (status = 400, description = "The definition has no name", body = Problem),
        (status = 403, description = "Not an operator", body = Problem),
        (status = 422, description = "The configuration with this definition is not valid, or the person cannot be explained", body = Problem),
    )
)]
pub async fn preview_draft(
    State(st): State<ApiState>,
    _operator: AsOperator,
    Json(req): Json<DraftPreview>,
) -> Result<Response, Problem> {
    let name = name_of(&req.mapping)
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| Problem::bad_request("the mapping needs a \"name\""))?
        .to_string();
    let file = read_file(&st).await?;
    let exists = edit::elements(&file.text, "mapping")?
        .iter()
        .any(|m| name_of(m) == Some(name.as_str()));
    let at = KeyPath::key("mapping");
    let edits = if exists {
        vec![Edit::Set {
            path: at.then_name(name.clone()),
            value: req.mapping.clone(),
        }]
    } else {
        vec![Edit::Append {
            path: at,
            value: req.mapping.clone(),
        }]
    };
    let text = edit::apply(&file.text, &edits)?;
    let path = st.svc.cfg.path.clone();
    let handle = tokio::runtime::Handle::current();
    let person = req.person;
    let e = blocking(move || {
        let invalid = |e: String| {
            Problem::invalid(vec![FieldError {
                key: format!("mapping[{name}]"),
                message: e,
            }])
        };
        let cfg = Config::parse(&path, text).map_err(|e| invalid(e.to_string()))?;
        let job = cfg.job(&name).map_err(|e| invalid(e.to_string()))?;
        let store = hrsync_state::Store::open(&cfg.state_path()).map_err(Problem::internal)?;
        let opts = hrsync_engine::explain::Options::default();
        handle
            .block_on(hrsync_engine::explain::explain(
                &job, &store, &person, &opts,
            ))
            .map_err(|e| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "preview", e.to_string()))
    })
    .await?;
    Ok(Json(e).into_response())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_format_compiles_or_says_why() {
        assert_eq!(
            compile("cn", "{first} {last|lower}").unwrap(),
            vec!["first".to_string(), "last".to_string()]
        );
        assert!(compile("cn", "{first|nosuchfilter}").is_err());
        assert!(compile("cn", "{{ first ").is_err());
        let d: BTreeSet<String> = ["department.display", "id"].map(String::from).into();
        assert!(known("department", &d) && known("department.display", &d));
        assert!(!known("dept", &d));
    }
}
