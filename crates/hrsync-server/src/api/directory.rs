//! Looking people and groups up in the configured directory (the console's users-and-groups
//! picker, for a webhook's Test & Save and an orchestration's "Run on…"):
//! `GET /api/v1/directory/search?q=&kind=users|groups`.
//!
//! Operator and above: the picker serves only operator actions (testing a webhook, running an
//! orchestration), and the search reads any person under the base DN (names, mail, sign-in
//! names), not only the accounts hrsync manages, so a viewer, who can do neither, does not
//! get it. Each search binds with the configuration's directory account, escapes every typed
//! value (RFC 4515), and stops at [`LIMIT`] entries and [`TIME_LIMIT`].

use super::problem::Problem;
use super::{ApiState, blocking};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use hrsync_auth::http::AsOperator;
use hrsync_directory::lookup::{Found, LookupKind};
use hrsync_directory::{Directory, DirectoryConfig};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Entries per search at most.
pub const LIMIT: usize = 25;
/// How long the server may search.
pub const TIME_LIMIT: Duration = Duration::from_secs(5);

/// `?q=&kind=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// What to look for: part of a sign-in name (`uid` / `sAMAccountName`), a name (`cn`,
    /// `displayName`), a mail address or an HR key (the key attribute); for groups, part of
    /// the `cn`. Empty: the first entries.
    #[serde(default)]
    pub q: String,
    /// `users` (default) or `groups`.
    pub kind: Option<String>,
}

/// One person or group found.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DirectoryEntry {
    pub dn: String,
    /// `displayName`, else `cn`.
    pub name: String,
    /// The key attribute's value: the person's HR key (what a webhook test or an
    /// orchestration run takes). Absent: the account is not linked to HR.
    pub key: Option<String>,
    pub mail: Option<String>,
    /// The sign-in name (`uid` or `sAMAccountName`).
    pub login: Option<String>,
    /// A group's member DNs (at most 200).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<String>>,
    /// A group's number of members.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_count: Option<usize>,
}

impl From<Found> for DirectoryEntry {
    fn from(f: Found) -> DirectoryEntry {
        DirectoryEntry {
            dn: f.dn,
            name: f.name,
            key: f.key,
            mail: f.mail,
            login: f.login,
            members: f.members,
            member_count: f.member_count,
        }
    }
}

/// What a search found.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DirectorySearch {
    /// `users` or `groups`.
    pub kind: String,
    pub q: String,
    /// The key attribute (`employeeNumber`, `employeeID` …).
    pub key_attribute: String,
    pub items: Vec<DirectoryEntry>,
    /// More matched than were returned (the size or time limit): type more to narrow.
    pub truncated: bool,
    pub limit: usize,
}

/// The directory of the configuration the daemon runs, for one short search.
fn directory_config(cfg: &hrsync_config::Config) -> Result<DirectoryConfig, Problem> {
    let d = &cfg.raw.directory;
    let base = cfg.base_dir();
    let password = d.bind_password.resolve(&base).map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "directory-search",
            format!("directory.bind_password: {e}"),
        )
    })?;
    // One short search: one connection, one operation, at most 30 seconds.
    let mut c = d.connection(&base, password);
    c.connections = 1;
    c.in_flight = 1;
    c.timeout = Duration::from_secs(d.timeout_secs.clamp(1, 30));
    Ok(c)
}

/// Searches the directory for users or groups (at most 25, within 5 seconds; every typed value
/// escaped).
#[utoipa::path(
    get,
    path = "/api/v1/directory/search",
    operation_id = "search_directory",
    tag = "directory",
    params(SearchQuery),
    responses(
        (status = 200, description = "What matched", body = DirectorySearch),
        (status = 400, description = "An unknown kind", body = Problem),
        (status = 403, description = "Not an operator", body = Problem),
        (status = 422, description = "The directory refused or could not be reached (the LDAP result and the DN are named)", body = Problem),
    )
)]
pub async fn search(
    State(st): State<ApiState>,
    _operator: AsOperator,
    Query(q): Query<SearchQuery>,
) -> Result<Json<DirectorySearch>, Problem> {
    let kind = match q.kind.as_deref().unwrap_or("users") {
        "users" | "user" => LookupKind::Users,
        "groups" | "group" => LookupKind::Groups,
        other => {
            return Err(Problem::bad_request(format!(
                "kind is users or groups, not {other:?}"
            )));
        }
    };
    if q.q.chars().count() > 256 {
        return Err(Problem::bad_request("q is at most 256 characters"));
    }
    let cfg = st.svc.cfg.clone();
    let dc = blocking(move || directory_config(&cfg)).await?;
    let key_attribute = dc.key_attribute.clone();
    let failed = |e: hrsync_directory::DirError| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "directory-search",
            e.to_string(),
        )
    };
    let dir = Directory::connect(dc).await.map_err(failed)?;
    let found = dir.lookup(kind, &q.q, LIMIT, TIME_LIMIT).await;
    dir.close().await;
    let found = found.map_err(failed)?;
    Ok(Json(DirectorySearch {
        kind: match kind {
            LookupKind::Users => "users",
            LookupKind::Groups => "groups",
        }
        .into(),
        q: q.q,
        key_attribute,
        items: found.items.into_iter().map(DirectoryEntry::from).collect(),
        truncated: found.truncated,
        limit: LIMIT,
    }))
}
