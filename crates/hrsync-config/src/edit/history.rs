//! The configuration's history in the state database: every saved version (who, when, from
//! where, the diff, the hashes, the text), hand edits found by their hash, restore.
//!
//! Versions are keyed by the config file's absolute path (symlinks not followed, so that a
//! link switched to another checkout keeps one history). Texts and diffs are stored with
//! literal secrets redacted ([`secrets::redact`]).

use super::save::{
    ConfigFile, FileLock, Prepared, prepare_text, real_path, unified_diff, write_locked,
};
use super::{EditError, io_error, secrets};
use chrono::Utc;
use hrsync_state::Store;
use hrsync_state::config_history::{ConfigChangeKind, NewConfigVersion};
use std::path::Path;

/// The operator recorded for versions hrsync found rather than saved (an outside edit, the
/// first version seen).
pub const FOUND_BY: &str = "hrsync";

/// The comment of an outside edit's version.
pub const OUTSIDE_COMMENT: &str = "edited outside hrsync";

/// The key of a config file's versions: its absolute path.
pub fn history_key(path: &Path) -> Result<String, EditError> {
    std::path::absolute(path)
        .map(|p| p.display().to_string())
        .map_err(|e| io_error(path, "cannot make the path absolute", e))
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config.toml".into())
}

/// Makes the history's newest version of `key` the file as it is (`text`, `hash`): records
/// the first version (`initial`) or an outside edit, unless that is already so. Returns the
/// new version's id. Recorded only if no other version was recorded meanwhile.
fn catch_up(
    store: &mut Store,
    key: &str,
    name: &str,
    text: &str,
    hash: &str,
) -> Result<Option<i64>, EditError> {
    let last = store.config_history_last_for(key)?;
    let now = Utc::now();
    let redacted = secrets::redact(text);
    match last {
        None => Ok(store.config_history_record_after(
            &NewConfigVersion {
                at: now,
                operator: FOUND_BY,
                source: None,
                path: key,
                hash_before: None,
                hash_after: hash,
                kind: ConfigChangeKind::Initial,
                diff: "",
                text: &redacted,
                comment: Some("the first version hrsync saw"),
            },
            None,
        )?),
        Some(l) if l.info.hash_after == hash => Ok(None),
        Some(l) => {
            let diff = unified_diff(&l.text, &redacted, name);
            Ok(store.config_history_record_after(
                &NewConfigVersion {
                    at: now,
                    operator: FOUND_BY,
                    source: None,
                    path: key,
                    hash_before: Some(&l.info.hash_after),
                    hash_after: hash,
                    kind: ConfigChangeKind::Outside,
                    diff: &diff,
                    text: &redacted,
                    comment: Some(OUTSIDE_COMMENT),
                },
                Some(l.info.id),
            )?)
        }
    }
}

/// Records a saved version. When the history does not know the version the edit started from
/// (no history yet, or a hand edit since), that version is recorded first (`initial` or
/// `outside`), so that every version can be restored. Returns the saved version's id.
pub fn record_save(
    store: &mut Store,
    path: &Path,
    prepared: &Prepared,
    operator: &str,
    address: Option<&str>,
    kind: ConfigChangeKind,
    comment: Option<&str>,
) -> Result<i64, EditError> {
    let key = history_key(path)?;
    let name = name_of(path);
    let known = store
        .config_history_last_for(&key)?
        .map(|l| l.info.hash_after);
    if known.as_deref() != Some(prepared.hash_after.as_str()) {
        catch_up(store, &key, &name, &prepared.before, &prepared.hash_before)?;
    }
    let text = secrets::redact(&prepared.after);
    Ok(store.config_history_record(&NewConfigVersion {
        at: Utc::now(),
        operator,
        source: address,
        path: &key,
        hash_before: Some(&prepared.hash_before),
        hash_after: &prepared.hash_after,
        kind,
        diff: &prepared.diff,
        text: &text,
        comment,
    })?)
}

/// [`save_atomic`](super::save_atomic) and [`record_save`] under one hold of the file's
/// lock, so that an outside-edit check running at the same time cannot take the save for a
/// hand edit. Returns the version's id. If recording fails after the file was written, the
/// error is returned and the next [`detect_outside_edit`] records the version.
pub fn save_and_record(
    store: &mut Store,
    path: &Path,
    prepared: &Prepared,
    operator: &str,
    address: Option<&str>,
    kind: ConfigChangeKind,
    comment: Option<&str>,
) -> Result<i64, EditError> {
    let real = real_path(path)?;
    let _lock = FileLock::exclusive(&real)?;
    write_locked(&real, prepared)?;
    record_save(store, path, prepared, operator, address, kind, comment)
}

/// Compares the file with the newest version in the history: a file changed since is
/// recorded as edited outside hrsync (with the diff from the last known text), a file with no
/// history as its first version. Returns the id of the version recorded, None when the
/// history already has the file as it is.
pub fn detect_outside_edit(store: &mut Store, path: &Path) -> Result<Option<i64>, EditError> {
    let real = real_path(path)?;
    // Without write access to the directory there is no lock, and no save through hrsync
    // either: the check goes on without it.
    let _lock = FileLock::exclusive(&real).ok();
    let file = ConfigFile::read(&real)?;
    let key = history_key(path)?;
    catch_up(store, &key, &name_of(path), &file.text, &file.hash)
}

/// Restores the version `version_id` of this file: prepared (validated, `If-Match` checked)
/// as an edit to that text, saved, recorded as `restore`. Returns the saved edit and the new
/// version's id.
pub fn restore(
    store: &mut Store,
    path: &Path,
    version_id: i64,
    if_match: &str,
    validate: impl Fn(&str) -> Result<(), Vec<String>>,
    operator: &str,
    address: Option<&str>,
) -> Result<(Prepared, i64), EditError> {
    let key = history_key(path)?;
    let version = store
        .config_history_get(version_id)?
        .filter(|v| v.info.path == key)
        .ok_or(EditError::VersionNotFound { id: version_id })?;
    let prepared = prepare_text(path, &version.text, if_match, validate)?;
    let comment = format!("restore of version {version_id}");
    let id = save_and_record(
        store,
        path,
        &prepared,
        operator,
        address,
        ConfigChangeKind::Restore,
        Some(&comment),
    )?;
    Ok((prepared, id))
}
