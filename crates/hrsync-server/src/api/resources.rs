//! The configuration's resources as REST collections (issue 15 §2): integrations (and their
//! endpoints), mappings, webhooks, orchestrations and automations, each an element of an
//! array of tables of the TOML file (`[[mapping]]`) named by its `name`.
//!
//! - Reads show each element as JSON, read from the file as it is now; a secret-looking key
//!   shows only whether it is set, and its `{ env }`/`{ file }` reference when it is one,
//!   never a value (`hrsync_config::edit::elements`).
//! - Writes (admin, `If-Match` with the file's hash) are config edits, saved as
//!   `POST /api/v1/config/edits` saves (validation, atomic save, history, reload): create
//!   appends an element, replace sets it (kept keys keep their comments), delete removes it.
//! - A secret in a written resource is `{"secret": "…"}`: its value goes to a 0600 file in
//!   `secrets/` beside the config and the TOML gets `{ file = "…" }`. A secret shown as
//!   `{"set": true}` and sent back unchanged keeps its reference; `{"set": false}` removes it;
//!   a literal string is refused (422 `literal-secret`).

use super::config::{etag, save_edits};
use super::problem::Problem;
use super::{ApiState, blocking};

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hrsync_config::edit::{self, ConfigFile, Edit, KeyPath};
use serde::Deserialize;
use serde_json::{Map, Value as Json};
use std::path::{Path, PathBuf};

/// A collection of resources: a top-level array of tables, or the endpoints of one
/// integration.
#[derive(Debug, Clone)]
pub(crate) enum Coll {
    /// The array's TOML key (`mapping`) and what one element is called (`mapping`).
    Top(&'static str),
    /// `[[integration.endpoint]]` of this integration.
    Endpoints(String),
}

impl Coll {
    /// The path of the array.
    fn path(&self) -> KeyPath {
        match self {
            Coll::Top(key) => KeyPath::key(*key),
            Coll::Endpoints(i) => KeyPath::key("integration")
                .then_name(i.clone())
                .then_key("endpoint"),
        }
    }

    /// What one element is called in messages.
    fn label(&self) -> String {
        match self {
            Coll::Top(key) => (*key).to_string(),
            Coll::Endpoints(i) => format!("endpoint of integration {i:?}"),
        }
    }

    /// A prefix for the names of secret files of this collection's elements.
    fn file_prefix(&self) -> String {
        match self {
            Coll::Top(key) => (*key).to_string(),
            Coll::Endpoints(i) => format!("integration-{i}-endpoint"),
        }
    }

    /// The elements as shown (secrets masked).
    fn read(&self, text: &str) -> Result<Vec<Json>, Problem> {
        match self {
            Coll::Top(key) => Ok(edit::elements(text, key)?),
            Coll::Endpoints(i) => {
                let integration = edit::elements(text, "integration")?
                    .into_iter()
                    .find(|e| name_of(e) == Some(i.as_str()))
                    .ok_or_else(|| Problem::not_found(format!("no integration named {i:?}")))?;
                Ok(match integration.get("endpoint") {
                    Some(Json::Array(a)) => a.clone(),
                    _ => Vec::new(),
                })
            }
        }
    }
}

pub(crate) fn name_of(v: &Json) -> Option<&str> {
    v.get("name").and_then(Json::as_str)
}

/// `?dry_run=true&comment=…` of a write.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WriteQuery {
    /// Validate and show the diff; write nothing.
    pub dry_run: Option<bool>,
    /// Why, kept in the history.
    pub comment: Option<String>,
}

/// Who writes, and how.
pub(crate) struct Writer {
    pub operator: String,
    pub address: Option<String>,
    pub if_match: String,
    pub query: WriteQuery,
}

/// What a write does.
pub(crate) enum Op {
    Create(Json),
    Replace(String, Json),
    Delete(String),
}

pub(crate) async fn read_file(st: &ApiState) -> Result<ConfigFile, Problem> {
    let path = super::config::config_path(st);
    blocking(move || Ok(ConfigFile::read(&path)?)).await
}

fn with_etag(mut resp: Response, hash: &str) -> Response {
    if let Some(v) = etag(hash) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// The collection, paged.
pub(crate) async fn list(
    st: &ApiState,
    coll: &Coll,
    page: &super::paging::PageQuery,
) -> Result<Response, Problem> {
    let file = read_file(st).await?;
    let all = coll.read(&file.text)?;
    let page = super::paging::Page::of_all(all, page)?;
    Ok(with_etag(axum::Json(page).into_response(), &file.hash))
}

/// One element (its `ETag` is the file's hash, for the `If-Match` of a write).
pub(crate) async fn get(st: &ApiState, coll: &Coll, name: &str) -> Result<Response, Problem> {
    let file = read_file(st).await?;
    let one = find(coll, &file.text, name)?
        .ok_or_else(|| Problem::not_found(format!("no {} named {name:?}", coll.label())))?;
    Ok(with_etag(axum::Json(one).into_response(), &file.hash))
}

fn find(coll: &Coll, text: &str, name: &str) -> Result<Option<Json>, Problem> {
    Ok(coll
        .read(text)?
        .into_iter()
        .find(|e| name_of(e) == Some(name)))
}

/// `If-Match` as sent, without quotes or a weak prefix.
fn bare(if_match: &str) -> &str {
    let t = if_match.trim();
    t.strip_prefix("W/").unwrap_or(t).trim_matches('"')
}

/// Where secret values sent to the API are kept: `secrets/` beside the config file.
pub(crate) fn secrets_dir(config: &Path) -> PathBuf {
    let dir = config
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::path::absolute(dir)
        .unwrap_or_else(|_| dir.to_path_buf())
        .join("secrets")
}

/// Creates, replaces or deletes an element, as a config edit.
pub(crate) async fn write(
    st: &ApiState,
    coll: &Coll,
    op: Op,
    w: Writer,
) -> Result<Response, Problem> {
    let file = read_file(st).await?;
    if bare(&w.if_match) != file.hash {
        return Err(Problem::precondition_failed(file.hash));
    }
    let label = coll.label();
    let (verb, name, existing, body) = match op {
        Op::Create(body) => {
            let name = body_name(&body)?.to_string();
            if find(coll, &file.text, &name)?.is_some() {
                return Err(Problem::conflict(format!(
                    "a {label} named {name:?} exists: replace it with PUT, or choose another name"
                )));
            }
            ("created", name, None, Some(body))
        }
        Op::Replace(name, mut body) => {
            let existing = find(coll, &file.text, &name)?
                .ok_or_else(|| Problem::not_found(format!("no {label} named {name:?}")))?;
            match body.as_object_mut() {
                None => return Err(Problem::bad_request("the body is a JSON object")),
                Some(o) => match o.get("name").map(Json::as_str) {
                    None => {
                        o.insert("name".into(), Json::String(name.clone()));
                    }
                    Some(Some(n)) if n == name => {}
                    Some(_) => {
                        return Err(Problem::bad_request(format!(
                            "the body's name is not {name:?}: a {label} is renamed by creating the new one and deleting the old"
                        )));
                    }
                },
            }
            ("replaced", name, Some(existing), Some(body))
        }
        Op::Delete(name) => {
            let existing = find(coll, &file.text, &name)?
                .ok_or_else(|| Problem::not_found(format!("no {label} named {name:?}")))?;
            ("deleted", name, Some(existing), None)
        }
    };
    let config = super::config::config_path(st);
    let dir = secrets_dir(&config);
    let at = coll.path().then_name(name.clone());
    let mut written = Vec::new();
    let edits = match body {
        Some(mut body) => {
            let prefix = format!("{}-{name}", coll.file_prefix());
            let d = dir.clone();
            let resolved = {
                let existing = existing.clone();
                blocking(move || {
                    let mut written = Vec::new();
                    let r =
                        resolve_secrets(&mut body, existing.as_ref(), &prefix, &d, &mut written);
                    Ok((r, body, written))
                })
                .await?
            };
            let (r, body, files) = resolved;
            written = files;
            if let Err(e) = r {
                remove_files(&written);
                return Err(e);
            }
            if existing.is_some() {
                vec![Edit::Set {
                    path: at,
                    value: body,
                }]
            } else {
                vec![Edit::Append {
                    path: coll.path(),
                    value: body,
                }]
            }
        }
        None => vec![Edit::Remove { path: at }],
    };
    let dry_run = w.query.dry_run.unwrap_or(false);
    let saved = save_edits(
        st,
        w.if_match,
        edits,
        dry_run,
        w.query.comment,
        w.operator,
        w.address,
    )
    .await;
    let saved = match saved {
        Ok(s) if s.result.saved => s,
        other => {
            remove_files(&written);
            return other.map(|s| s.into_response());
        }
    };
    // Secret files of ours that the file no longer names are removed.
    let old = existing.as_ref().map(file_refs).unwrap_or_default();
    if !old.is_empty()
        && let Ok(now) = read_file(st).await
    {
        let gone: Vec<PathBuf> = old
            .into_iter()
            .filter(|p| p.starts_with(&dir) && !now.text.contains(&p.display().to_string()))
            .collect();
        remove_files(&gone);
    }
    let created = verb == "created";
    let what = format!("{verb} {label} {name:?}:\n{}", saved.result.diff);
    let mut resp = saved.into_response();
    if created {
        *resp.status_mut() = StatusCode::CREATED;
    }
    resp.extensions_mut().insert(super::Changed(what));
    Ok(resp)
}

fn body_name(body: &Json) -> Result<&str, Problem> {
    match name_of(body) {
        Some(n) if !n.trim().is_empty() && n.trim() == n => Ok(n),
        _ => Err(Problem::bad_request(
            "the body is a JSON object with a \"name\" (a non-empty string without spaces around it)",
        )),
    }
}

fn remove_files(files: &[PathBuf]) {
    for f in files {
        if let Err(e) = std::fs::remove_file(f)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("cannot remove the secret file {}: {e}", f.display());
        }
    }
}

/// The `{ file }` references of secrets in a shown element.
fn file_refs(v: &Json) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn walk(v: &Json, out: &mut Vec<PathBuf>) {
        match v {
            Json::Object(o) => {
                for (k, x) in o {
                    if edit::is_secret_key(k) {
                        if let Some(f) = x.get("file").and_then(Json::as_str) {
                            out.push(PathBuf::from(f));
                        }
                    } else {
                        walk(x, out);
                    }
                }
            }
            Json::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(v, &mut out);
    out
}

/// What a client sent at a secret key.
enum SecretSent {
    /// `{"secret": "…"}`: a value to store.
    Value(String),
    /// `{"set": true}` as shown: keep what the file has.
    Keep,
    /// `{"set": false}`: no secret.
    Unset,
    /// `{"env": …}` or `{"file": …}` (with `"set"` or not).
    Reference(Json),
    /// Anything else (a literal: refused by the edit's check).
    Other,
}

fn secret_sent(v: &Json) -> SecretSent {
    let Json::Object(o) = v else {
        return SecretSent::Other;
    };
    if o.len() == 1
        && let Some(Json::String(s)) = o.get("secret")
    {
        return SecretSent::Value(s.clone());
    }
    let set = o.get("set").and_then(Json::as_bool);
    let rest: Map<String, Json> = o
        .iter()
        .filter(|(k, _)| k.as_str() != "set")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    match (set, rest.len()) {
        (Some(true), 0) => SecretSent::Keep,
        (Some(false), 0) => SecretSent::Unset,
        (_, 1)
            if rest
                .iter()
                .all(|(k, v)| (k == "env" || k == "file") && v.is_string()) =>
        {
            SecretSent::Reference(Json::Object(rest))
        }
        _ => SecretSent::Other,
    }
}

/// A file name from `prefix` and a key path: letters, digits, `.`, `_`, `-`, with a
/// timestamp and a random part so that a refused save never touches a file in use.
fn secret_file_name(prefix: &str) -> String {
    let clean: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(150)
        .collect();
    let clean = clean.trim_start_matches('.');
    format!(
        "{clean}-{}-{:04x}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S"),
        fastrand::u16(..)
    )
}

/// Replaces the secrets a client sent by what the file is to hold: a value goes to a new
/// 0600 file in `dir` (listed in `written`) and becomes its `{ file }` reference; a shown
/// `{"set": true}` becomes the reference the file has (`current`, as shown); `{"set": false}`
/// removes the key.
fn resolve_secrets(
    v: &mut Json,
    current: Option<&Json>,
    prefix: &str,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> Result<(), Problem> {
    match v {
        Json::Object(o) => {
            let mut drop = Vec::new();
            for (k, x) in o.iter_mut() {
                let cur = current.and_then(|c| c.get(k));
                let here = format!("{prefix}-{k}");
                if !edit::is_secret_key(k) {
                    resolve_secrets(x, cur, &here, dir, written)?;
                    continue;
                }
                match secret_sent(x) {
                    SecretSent::Value(s) => {
                        let file = edit::write_secret_file(dir, &secret_file_name(&here), &s)?;
                        written.push(file.clone());
                        *x = edit::file_reference(&file);
                    }
                    SecretSent::Keep => match cur.map(secret_sent) {
                        Some(SecretSent::Reference(r)) => *x = r,
                        Some(SecretSent::Keep) => {
                            return Err(Problem::new(
                                StatusCode::UNPROCESSABLE_ENTITY,
                                "literal-secret",
                                format!(
                                    "{here}: the file holds this secret as a literal, which cannot be kept: send it as {{\"secret\": \"…\"}} or a reference"
                                ),
                            ));
                        }
                        _ => drop.push(k.clone()),
                    },
                    SecretSent::Unset => drop.push(k.clone()),
                    SecretSent::Reference(r) => *x = r,
                    SecretSent::Other => {}
                }
            }
            for k in drop {
                o.remove(&k);
            }
            Ok(())
        }
        Json::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                let cur = match (name_of(x), current.and_then(Json::as_array)) {
                    (Some(n), Some(c)) => c.iter().find(|e| name_of(e) == Some(n)),
                    (None, Some(c)) => c.get(i),
                    _ => None,
                };
                let here = match name_of(x) {
                    Some(n) => format!("{prefix}-{n}"),
                    None => format!("{prefix}-{i}"),
                };
                resolve_secrets(x, cur, &here, dir, written)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The write's `If-Match`, operator and address.
pub(crate) fn writer(
    p: &hrsync_auth::Principal,
    addr: Option<std::net::SocketAddr>,
    headers: &HeaderMap,
    query: WriteQuery,
) -> Result<Writer, Problem> {
    Ok(Writer {
        operator: p.audit_name(),
        address: addr.map(|a| a.ip().to_string()),
        if_match: super::config::if_match(headers)?,
        query,
    })
}

/// The file's current hash as an `If-Match` (for an operator's one-key edit that needs none).
pub(crate) async fn current_if_match(
    st: &ApiState,
    headers: &HeaderMap,
) -> Result<String, Problem> {
    match headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        Some(v) => Ok(v.to_string()),
        None => Ok(read_file(st).await?.hash),
    }
}
