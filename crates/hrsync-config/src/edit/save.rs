//! Reading, preparing and saving a config file: the file's SHA-256 is the optimistic
//! concurrency token (`If-Match`); a save re-checks it under an exclusive lock and replaces
//! the file atomically (temp file with the file's permissions, fsync, rename, fsync of the
//! directory).

use super::doc::Edit;
use super::fsio::{create_temp, sync_dir};
use super::ops::apply;
use super::{EditError, io_error, secrets};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A config file as read: its text and the SHA-256 hex of its bytes (the ETag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    pub text: String,
    pub hash: String,
}

impl ConfigFile {
    pub fn read(path: &Path) -> Result<ConfigFile, EditError> {
        let bytes =
            std::fs::read(path).map_err(|e| io_error(path, "cannot read the config file", e))?;
        let hash = hash_of(&bytes);
        let text = String::from_utf8(bytes).map_err(|_| EditError::NotUtf8 {
            path: path.display().to_string(),
        })?;
        Ok(ConfigFile { text, hash })
    }
}

/// SHA-256 hex (lower case) of bytes.
pub fn hash_of(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// An edit checked and validated, ready to save: nothing is written yet. `before` and `after`
/// are the file's texts as they are (a hand edit may have left a literal secret in them): show
/// `diff`, which is redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub before: String,
    pub after: String,
    /// Unified diff from `before` to `after`, literal secrets redacted (empty: no change).
    pub diff: String,
    pub hash_before: String,
    pub hash_after: String,
}

impl Prepared {
    /// Whether the edit changes the file at all.
    pub fn changes_anything(&self) -> bool {
        self.hash_before != self.hash_after
    }
}

/// `If-Match` as HTTP sends it (`"…"`, `W/"…"`) or bare, compared with a hash.
fn matches(if_match: &str, hash: &str) -> bool {
    let t = if_match.trim();
    let t = t.strip_prefix("W/").unwrap_or(t);
    t.trim_matches('"').eq_ignore_ascii_case(hash)
}

/// The unified diff between two texts (empty when equal), named after the file.
pub fn unified_diff(before: &str, after: &str, name: &str) -> String {
    if before == after {
        return String::new();
    }
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config.toml".into())
}

/// Applies `edits` to the file's current text and validates the result, writing nothing.
/// `Conflict` when the file's hash is not `if_match`; `Invalid` with the validation's errors.
pub fn prepare(
    path: &Path,
    edits: &[Edit],
    if_match: &str,
    validate: impl Fn(&str) -> Result<(), Vec<String>>,
) -> Result<Prepared, EditError> {
    let current = ConfigFile::read(path)?;
    if !matches(if_match, &current.hash) {
        return Err(EditError::Conflict {
            current_hash: current.hash,
        });
    }
    let after = apply(&current.text, edits)?;
    finish(path, current, after, validate)
}

/// As [`prepare`], with the whole new text instead of edits (a restore, a text editor).
pub fn prepare_text(
    path: &Path,
    new_text: &str,
    if_match: &str,
    validate: impl Fn(&str) -> Result<(), Vec<String>>,
) -> Result<Prepared, EditError> {
    let current = ConfigFile::read(path)?;
    if !matches(if_match, &current.hash) {
        return Err(EditError::Conflict {
            current_hash: current.hash,
        });
    }
    finish(path, current, new_text.to_string(), validate)
}

fn finish(
    path: &Path,
    current: ConfigFile,
    after: String,
    validate: impl Fn(&str) -> Result<(), Vec<String>>,
) -> Result<Prepared, EditError> {
    validate(&after).map_err(EditError::Invalid)?;
    let diff = unified_diff(
        &secrets::redact(&current.text),
        &secrets::redact(&after),
        &file_name(path),
    );
    Ok(Prepared {
        hash_after: hash_of(after.as_bytes()),
        before: current.text,
        after,
        diff,
        hash_before: current.hash,
    })
}

/// Saves a prepared edit: re-checks, under the file's lock, that the file is still the one it
/// was prepared from (`Conflict` if another save or a hand edit came between), then replaces
/// it atomically. A symlinked config is written where the link points, the link stays.
pub fn save_atomic(path: &Path, prepared: &Prepared) -> Result<(), EditError> {
    let real = real_path(path)?;
    let _lock = FileLock::exclusive(&real)?;
    write_locked(&real, prepared)
}

/// The file a path names, symlinks followed.
pub(crate) fn real_path(path: &Path) -> Result<PathBuf, EditError> {
    std::fs::canonicalize(path).map_err(|e| io_error(path, "cannot find the config file", e))
}

/// Writes `prepared.after` over `real` if its hash is still `prepared.hash_before`. The
/// caller holds the lock.
pub(crate) fn write_locked(real: &Path, prepared: &Prepared) -> Result<(), EditError> {
    let current = ConfigFile::read(real)?;
    if current.hash != prepared.hash_before {
        return Err(EditError::Conflict {
            current_hash: current.hash,
        });
    }
    let meta =
        std::fs::metadata(real).map_err(|e| io_error(real, "cannot read the config file", e))?;
    let dir = parent(real);
    let (tmp, mut file) = create_temp(dir, &file_name(real), 0o600)?;
    let written = (|| {
        let mine = file.metadata()?;
        if (mine.uid(), mine.gid()) != (meta.uid(), meta.gid()) {
            // Keep the owner when allowed (root); otherwise the file becomes ours, as any
            // editor that saves by rename would make it.
            let _ = std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()));
        }
        file.set_permissions(std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        file.write_all(prepared.after.as_bytes())?;
        file.sync_all()
    })();
    drop(file);
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, real)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error(real, "cannot replace the config file", e));
    }
    sync_dir(dir)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// An exclusive `flock` on `.<name>.lock` beside a config file, held until dropped: saves
/// (and outside-edit checks) of the same file, in this process or another, take turns.
pub(crate) struct FileLock {
    _file: File,
}

impl FileLock {
    pub(crate) fn exclusive(real: &Path) -> Result<FileLock, EditError> {
        let lock = parent(real).join(format!(".{}.lock", file_name(real)));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock)
            .map_err(|e| io_error(&lock, "cannot open the lock file", e))?;
        loop {
            // SAFETY: flock on a file descriptor this function owns, open for its lifetime.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(FileLock { _file: file });
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(io_error(&lock, "cannot lock", e));
            }
        }
    }
}
