//! The configuration through the API (issue 15 §4): read it (redacted, with its hash as the
//! `ETag`), edit it (`If-Match` required; validated by the same code as `hrsync check`; a
//! dry run shows the diff), its history (list, one version with its diff, restore). A save
//! replaces the file atomically, is recorded in the history and in the request audit with its
//! diff, and makes `hrsync serve` reload, as a SIGHUP does.

use super::paging::{Page, PageQuery};
use super::problem::Problem;
use super::record::Changed;
use super::{ApiState, ClientAddr, blocking};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use hrsync_auth::http::{AsAdmin, AsViewer};
use hrsync_config::edit::{self, ConfigChangeKind, ConfigFile, Edit};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The configuration file as it is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConfigView {
    pub path: String,
    /// SHA-256 of the file: send it back in `If-Match` to edit.
    pub hash: String,
    /// The file's text, any literal secret redacted.
    pub text: String,
}

/// A batch of edits, applied together or not at all.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct EditRequest {
    /// Each `{"op": "set"|"remove"|"append", "path": "mapping[users].attributes.mail", "value": …}`.
    #[schema(value_type = Vec<Object>)]
    pub edits: Vec<serde_json::Value>,
    /// Validate and show the diff; write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Why, kept in the history.
    pub comment: Option<String>,
}

/// What an edit did (or would do, in a dry run).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EditResult {
    pub saved: bool,
    /// The history's version id of the saved file.
    pub version: Option<i64>,
    pub hash_before: String,
    /// The file's hash now (the next `If-Match`).
    pub hash_after: String,
    /// Unified diff, secrets redacted (empty: nothing changed).
    pub diff: String,
    /// Whether the running daemon was asked to take the new file (as a SIGHUP does).
    pub reloading: bool,
}

pub(crate) fn config_path(st: &ApiState) -> PathBuf {
    st.svc.cfg.path.clone()
}

pub(crate) fn etag(hash: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("\"{hash}\"")).ok()
}

pub(crate) fn if_match(headers: &HeaderMap) -> Result<String, Problem> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(Problem::precondition_required)
}

/// The configuration: path, hash (also the `ETag`) and text (secrets redacted).
#[utoipa::path(
    get,
    path = "/api/v1/config",
    tag = "config",
    responses(
        (status = 200, description = "The file", body = ConfigView),
        (status = 401, description = "Not signed in", body = Problem),
    )
)]
pub async fn get_config(
    State(st): State<ApiState>,
    _viewer: AsViewer,
) -> Result<Response, Problem> {
    let path = config_path(&st);
    let svc = st.svc.clone();
    let file = blocking(move || {
        // A hand edit since the last save is recorded before anyone edits on top of it.
        if let Ok(mut store) = svc.store()
            && let Err(e) = edit::detect_outside_edit(&mut store, &path)
        {
            tracing::warn!("cannot check the config file for outside edits: {e}");
        }
        Ok(ConfigFile::read(&path)?)
    })
    .await?;
    let view = ConfigView {
        path: config_path(&st).display().to_string(),
        text: edit::redact(&file.text),
        hash: file.hash.clone(),
    };
    let mut resp = Json(view).into_response();
    if let Some(v) = etag(&file.hash) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    Ok(resp)
}

/// The outcome of a save, as the API answers it.
pub(crate) struct Saved {
    pub result: EditResult,
}

impl IntoResponse for Saved {
    fn into_response(self) -> Response {
        let hash = self.result.hash_after.clone();
        let diff = self.result.diff.clone();
        let saved = self.result.saved;
        let mut resp = Json(self.result).into_response();
        if let Some(v) = etag(&hash) {
            resp.headers_mut().insert(header::ETAG, v);
        }
        if saved {
            resp.extensions_mut()
                .insert(Changed(format!("config saved:\n{diff}")));
        }
        resp
    }
}

/// Applies `edits` to the file (checked against `If-Match`, validated as `hrsync check`
/// validates) and saves it unless `dry_run`; the history and the running daemon follow.
pub(crate) async fn save_edits(
    st: &ApiState,
    if_match: String,
    edits: Vec<Edit>,
    dry_run: bool,
    comment: Option<String>,
    operator: String,
    address: Option<String>,
) -> Result<Saved, Problem> {
    for e in &edits {
        edit::check_edit(e)?;
    }
    let path = config_path(st);
    let svc = st.svc.clone();
    let (prepared, version) = blocking(move || {
        let prepared = edit::prepare(&path, &edits, &if_match, |t| {
            crate::validate::text(&path, t)
        })?;
        if dry_run || !prepared.changes_anything() {
            return Ok((prepared, None));
        }
        let mut store = svc.store().map_err(Problem::internal)?;
        let id = edit::save_and_record(
            &mut store,
            &path,
            &prepared,
            &operator,
            address.as_deref(),
            ConfigChangeKind::Api,
            comment.as_deref(),
        )?;
        Ok((prepared, Some(id)))
    })
    .await?;
    let saved = version.is_some();
    let reloading = saved && st.svc.request_reload();
    Ok(Saved {
        result: EditResult {
            saved,
            version,
            hash_before: prepared.hash_before,
            hash_after: prepared.hash_after,
            diff: prepared.diff,
            reloading,
        },
    })
}

/// Edits the configuration: every edit applies or none; the answer has the diff. Requires
/// `If-Match` with the hash the client read (412 with the current hash when the file changed
/// since; 428 without it).
#[utoipa::path(
    post,
    path = "/api/v1/config/edits",
    tag = "config",
    request_body = EditRequest,
    params(("If-Match" = String, Header, description = "The file's hash as read (its ETag)")),
    responses(
        (status = 200, description = "Saved (or, in a dry run, what would change)", body = EditResult),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 412, description = "The file changed since it was read", body = Problem),
        (status = 422, description = "The edited configuration is not valid; each error names its key", body = Problem),
        (status = 428, description = "No If-Match", body = Problem),
    )
)]
pub async fn edit(
    State(st): State<ApiState>,
    AsAdmin(p): AsAdmin,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Json(req): Json<EditRequest>,
) -> Result<Saved, Problem> {
    let if_match = if_match(&headers)?;
    let edits = req
        .edits
        .iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value::<Edit>(v.clone())
                .map_err(|e| Problem::bad_request(format!("edits[{i}]: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    save_edits(
        &st,
        if_match,
        edits,
        req.dry_run,
        req.comment,
        p.audit_name(),
        addr.map(|a| a.ip().to_string()),
    )
    .await
}

/// A version as listed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VersionView {
    pub id: i64,
    pub at: String,
    pub operator: String,
    pub source: Option<String>,
    pub hash_before: Option<String>,
    pub hash_after: String,
    /// `api`, `outside` (edited by hand), `restore`, `initial`.
    pub kind: String,
    pub comment: Option<String>,
    /// With `GET /api/v1/config/history/{id}`: the diff from the version before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// With `GET /api/v1/config/history/{id}`: the file's text (secrets redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl From<hrsync_state::config_history::ConfigVersionInfo> for VersionView {
    fn from(v: hrsync_state::config_history::ConfigVersionInfo) -> VersionView {
        VersionView {
            id: v.id,
            at: v.at.to_rfc3339(),
            operator: v.operator,
            source: v.source,
            hash_before: v.hash_before,
            hash_after: v.hash_after,
            kind: v.kind.as_str().to_string(),
            comment: v.comment,
            diff: None,
            text: None,
        }
    }
}

/// The configuration's saved versions, newest first (a hand edit is found and recorded
/// first).
#[utoipa::path(
    get,
    path = "/api/v1/config/history",
    tag = "config",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of versions", body = Page<VersionView>),
        (status = 401, description = "Not signed in", body = Problem),
    )
)]
pub async fn history(
    State(st): State<ApiState>,
    _viewer: AsViewer,
    Query(page): Query<PageQuery>,
) -> Result<Json<Page<VersionView>>, Problem> {
    let before = page.before()?;
    let limit = page.limit();
    let path = config_path(&st);
    let svc = st.svc.clone();
    let rows = blocking(move || {
        let mut store = svc.store().map_err(Problem::internal)?;
        edit::detect_outside_edit(&mut store, &path)?;
        let key = edit::history_key(&path)?;
        store
            .config_history_list(Some(&key), before, limit + 1)
            .map_err(Problem::internal)
    })
    .await?;
    let views: Vec<VersionView> = rows.into_iter().map(VersionView::from).collect();
    Ok(Json(Page::from_rows(views, limit, |v| v.id)))
}

/// One version with its diff and text.
#[utoipa::path(
    get,
    path = "/api/v1/config/history/{id}",
    tag = "config",
    params(("id" = i64, Path, description = "The version's id")),
    responses(
        (status = 200, description = "The version", body = VersionView),
        (status = 404, description = "No such version of this file", body = Problem),
    )
)]
pub async fn version(
    State(st): State<ApiState>,
    _viewer: AsViewer,
    Path(id): Path<i64>,
) -> Result<Json<VersionView>, Problem> {
    let path = config_path(&st);
    let svc = st.svc.clone();
    let v = blocking(move || {
        let store = svc.store().map_err(Problem::internal)?;
        let key = edit::history_key(&path)?;
        store
            .config_history_get(id)
            .map_err(Problem::internal)?
            .filter(|v| v.info.path == key)
            .ok_or_else(|| Problem::not_found(format!("no version {id} of this config file")))
    })
    .await?;
    let mut view = VersionView::from(v.info);
    view.diff = Some(v.diff);
    view.text = Some(v.text);
    Ok(Json(view))
}

/// Restores a version: validated like an edit, saved, recorded as `restore`. Requires
/// `If-Match` with the current hash.
#[utoipa::path(
    post,
    path = "/api/v1/config/history/{id}/restore",
    tag = "config",
    params(
        ("id" = i64, Path, description = "The version to restore"),
        ("If-Match" = String, Header, description = "The file's current hash"),
    ),
    responses(
        (status = 200, description = "Restored", body = EditResult),
        (status = 403, description = "Not an admin", body = Problem),
        (status = 404, description = "No such version", body = Problem),
        (status = 412, description = "The file changed since it was read", body = Problem),
        (status = 422, description = "That version is not valid any more", body = Problem),
    )
)]
pub async fn restore(
    State(st): State<ApiState>,
    AsAdmin(p): AsAdmin,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Saved, Problem> {
    let if_match = if_match(&headers)?;
    let path = config_path(&st);
    let svc = st.svc.clone();
    let (operator, address) = (p.audit_name(), addr.map(|a| a.ip().to_string()));
    let (prepared, version) = blocking(move || {
        let mut store = svc.store().map_err(Problem::internal)?;
        Ok(edit::restore(
            &mut store,
            &path,
            id,
            &if_match,
            |t| crate::validate::text(&path, t),
            &operator,
            address.as_deref(),
        )?)
    })
    .await?;
    let reloading = st.svc.request_reload();
    Ok(Saved {
        result: EditResult {
            saved: true,
            version: Some(version),
            hash_before: prepared.hash_before,
            hash_after: prepared.hash_after,
            diff: prepared.diff,
            reloading,
        },
    })
}
