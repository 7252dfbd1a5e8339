//! What an integration offers the console's screens besides its configuration (issue 16):
//! the fields an endpoint's last "Test & Save" discovered (kept in the state database by
//! `POST …/endpoints/{endpoint}/test`, never a value), and the macros its endpoints'
//! URL, headers, query and body may use.

use super::problem::Problem;
use super::{ApiState, blocking};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hrsync_auth::http::AsViewer;
use hrsync_config::{Config, RawPaging};
use hrsync_engine::endpoint_test::EndpointTest;
use hrsync_state::discovered::{Discovered, DiscoveredField};
use serde::Serialize;

/// Keeps the fields a test discovered (called by the test action after a test).
pub(crate) async fn keep(st: &ApiState, t: &EndpointTest, by: String) {
    let d = Discovered {
        integration: t.integration.clone(),
        endpoint: t.endpoint.clone(),
        tested_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        tested_by: by,
        records: t.fetch.records as u64,
        complete: t.fetch.complete,
        fields: t
            .profile
            .fields
            .iter()
            .map(|(field, f)| DiscoveredField {
                field: field.clone(),
                types: f.types.iter().map(|t| t.to_string()).collect(),
                present: f.present as u64,
            })
            .collect(),
    };
    let svc = st.svc.clone();
    let r = blocking(move || {
        let mut store = svc.store().map_err(Problem::internal)?;
        store.save_discovered(&d).map_err(Problem::internal)
    })
    .await;
    if let Err(e) = r {
        tracing::warn!(
            "cannot keep the fields the endpoint test discovered: {}",
            e.detail
        );
    }
}

/// The discovered fields of an endpoint (`default`: the integration's first list endpoint).
pub(crate) async fn discovered(
    st: &ApiState,
    integration: &str,
    endpoint: &str,
) -> Result<Option<Discovered>, Problem> {
    let mut endpoint = endpoint.to_string();
    if endpoint == "default" {
        let cfg = st.svc.cfg.path.clone();
        let i = integration.to_string();
        endpoint = blocking(move || {
            let cfg = Config::load(&cfg).map_err(|e| {
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-config",
                    e.to_string(),
                )
            })?;
            let it = cfg
                .raw
                .integrations
                .iter()
                .find(|x| x.name == i)
                .ok_or_else(|| Problem::not_found(format!("no integration named {i:?}")))?;
            Ok(cfg.primary_endpoint(it, None))
        })
        .await?;
    }
    let svc = st.svc.clone();
    let i = integration.to_string();
    blocking(move || {
        let store = svc.store().map_err(Problem::internal)?;
        store.discovered(&i, &endpoint).map_err(Problem::internal)
    })
    .await
}

/// The fields the last "Test & Save" of an endpoint discovered: each field's path, JSON types
/// and how many records had a value (no values), when and by whom it was tested.
#[utoipa::path(
    get,
    path = "/api/v1/integrations/{name}/endpoints/{endpoint}/fields",
    tag = "integrations",
    operation_id = "get_discovered_fields",
    params(
        ("name" = String, Path, description = "The integration"),
        ("endpoint" = String, Path, description = "The endpoint (`default`: the integration's first list endpoint)"),
    ),
    responses(
        (status = 200, description = "What the last test found", body = Object),
        (status = 404, description = "Never tested", body = Problem),
    )
)]
pub async fn fields(
    State(st): State<ApiState>,
    _viewer: AsViewer,
    Path((name, endpoint)): Path<(String, String)>,
) -> Result<Json<Discovered>, Problem> {
    discovered(&st, &name, &endpoint)
        .await?
        .map(Json)
        .ok_or_else(|| {
            Problem::not_found(format!(
                "endpoint {endpoint:?} of integration {name:?} was never tested: POST …/test discovers its fields"
            ))
        })
}

/// One macro an endpoint may use.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MacroInfo {
    /// `companyName` (written `{companyName}`).
    pub name: String,
    pub description: String,
    /// The value of a static macro of the integration (`macros = { … }`); none for the others.
    pub value: Option<String>,
}

/// An endpoint of the integration and the macros it may use.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EndpointMacros {
    pub name: String,
    /// Built into the integration's kind (IceHrm's `get_employees`, CSV's `rows`, Paycor's
    /// presets): not editable.
    pub preset: bool,
    /// Called once per record of another endpoint (`for_each`).
    pub fan_out: bool,
    /// Its own macros besides the integration's (paging, fan-out).
    pub macros: Vec<MacroInfo>,
}

/// What an integration's endpoints may use.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Macros {
    pub integration: String,
    pub kind: String,
    /// Macros every endpoint of the integration may use.
    pub macros: Vec<MacroInfo>,
    pub endpoints: Vec<EndpointMacros>,
}

fn info(name: &str, description: &str, value: Option<String>) -> MacroInfo {
    MacroInfo {
        name: name.into(),
        description: description.into(),
        value,
    }
}

/// The macros of `integration` in `cfg`, as the configuration's checks allow them.
pub(crate) fn macros_of(cfg: &Config, integration: &str) -> Option<Macros> {
    let it = cfg
        .raw
        .integrations
        .iter()
        .find(|x| x.name == integration)?;
    let mut macros: Vec<MacroInfo> = it
        .macros
        .iter()
        .map(|(k, v)| info(k, "set in this integration's macros", Some(v.clone())))
        .collect();
    let api = it.kind != "csv";
    if api {
        macros.push(info(
            hrsync_source::rest::LAST_RUN_TIME,
            "the start of the last successful run (RFC 3339, UTC; 1970-01-01T00:00:00Z before the first)",
            None,
        ));
    }
    if it.kind == "paycor" {
        macros.push(info(
            "legalEntityId",
            "the integration's legal_entity_id",
            it.legal_entity_id.map(|v| v.to_string()),
        ));
    }
    let (lists, fan_outs) = cfg.endpoint_names(it);
    let mut endpoints = Vec::new();
    for name in lists.iter().chain(&fan_outs) {
        let custom = it.endpoints.iter().find(|e| &e.name == name);
        let mut own = Vec::new();
        if let Some(e) = custom {
            let paging: &[(&str, &str)] = match &e.pagination {
                RawPaging::None => &[],
                RawPaging::Page { .. } => &[
                    ("page", "the page number of this request"),
                    ("limit", "the page size"),
                ],
                RawPaging::Offset { .. } => &[
                    ("offset", "the offset of this request"),
                    ("limit", "the page size"),
                ],
                RawPaging::Cursor { .. } => &[
                    ("cursor", "the cursor of the next page (empty on the first)"),
                    ("limit", "the page size"),
                ],
                RawPaging::NextUrl { .. } | RawPaging::LinkHeader { .. } => {
                    &[("limit", "the page size")]
                }
            };
            own.extend(paging.iter().map(|(n, d)| info(n, d, None)));
            if let Some(f) = &e.for_each {
                own.push(info(
                    &f.as_macro,
                    &format!(
                        "field {:?} of each record of endpoint {:?} (one call each)",
                        f.field, f.endpoint
                    ),
                    None,
                ));
            }
        }
        endpoints.push(EndpointMacros {
            name: name.clone(),
            preset: custom.is_none(),
            fan_out: fan_outs.contains(name),
            macros: own,
        });
    }
    Some(Macros {
        integration: it.name.clone(),
        kind: it.kind.clone(),
        macros,
        endpoints,
    })
}

/// The endpoints of an integration (its kind's presets and its own) and the macros each may
/// use in its URL, headers, query and body: the integration's static macros, `{lastRunTime}`,
/// Paycor's `{legalEntityId}`, the paging values of the endpoint's style and a fan-out's value.
#[utoipa::path(
    get,
    path = "/api/v1/integrations/{name}/macros",
    tag = "integrations",
    operation_id = "get_integration_macros",
    params(("name" = String, Path, description = "The integration")),
    responses(
        (status = 200, description = "Its endpoints and their macros", body = Macros),
        (status = 404, description = "No such integration", body = Problem),
        (status = 422, description = "The configuration is not valid", body = Problem),
    )
)]
pub async fn macros(
    State(st): State<ApiState>,
    _viewer: AsViewer,
    Path(name): Path<String>,
) -> Result<Json<Macros>, Problem> {
    let path = st.svc.cfg.path.clone();
    blocking(move || {
        let cfg = Config::load(&path).map_err(|e| {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-config",
                e.to_string(),
            )
        })?;
        macros_of(&cfg, &name)
            .map(Json)
            .ok_or_else(|| Problem::not_found(format!("no integration named {name:?}")))
    })
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const CFG: &str = r#"
[[integration]]
name = "pay"
kind = "paycor"
base_url = "http://127.0.0.1:1"
subscription_key = { env = "K" }
token = { env = "T" }
legal_entity_id = 42

[[integration]]
name = "acme"
kind = "rest"
base_url = "http://127.0.0.1:1"
token = { env = "T" }
macros = { companyName = "acme" }

[[integration.endpoint]]
name = "employees"
path = "/c/{companyName}/employees"
pagination = { style = "cursor", param = "after", next = "$.next" }

[[integration.endpoint]]
name = "details"
path = "/employees/{employeeId}"
for_each = { endpoint = "employees", field = "id", as = "employeeId" }

[directory]
url = "ldap://127.0.0.1:1"
bind_dn = "cn=admin,dc=example,dc=com"
bind_password = { env = "P" }
base_dn = "dc=example,dc=com"
users_ou = "ou=people,dc=example,dc=com"

[[mapping]]
name = "m"
integration = "acme"
endpoint = "employees"
primary_key = "id"
[mapping.attributes]
uid = "{id}"
"#;

    fn names(v: &[MacroInfo]) -> Vec<&str> {
        v.iter().map(|m| m.name.as_str()).collect()
    }

    #[test]
    fn each_endpoint_lists_the_macros_the_configuration_accepts() {
        let cfg = Config::parse(std::path::Path::new("/tmp/x.toml"), CFG.into()).unwrap();
        let pay = macros_of(&cfg, "pay").unwrap();
        assert_eq!(names(&pay.macros), ["lastRunTime", "legalEntityId"]);
        assert_eq!(pay.macros[1].value.as_deref(), Some("42"));
        assert!(!pay.endpoints.is_empty() && pay.endpoints.iter().all(|e| e.preset));
        let acme = macros_of(&cfg, "acme").unwrap();
        assert_eq!(names(&acme.macros), ["companyName", "lastRunTime"]);
        let list = &acme.endpoints[0];
        assert_eq!((list.name.as_str(), list.fan_out), ("employees", false));
        assert_eq!(names(&list.macros), ["cursor", "limit"]);
        let fan = &acme.endpoints[1];
        assert_eq!((fan.name.as_str(), fan.fan_out), ("details", true));
        assert_eq!(names(&fan.macros), ["employeeId"]);
        assert!(macros_of(&cfg, "nope").is_none());
    }
}
