//! Editing the configuration safely (issue 15 §4). The TOML file stays the single source of
//! truth; an edit through the API:
//!
//! 1. is data ([`Edit`]: set, remove, append at a [`KeyPath`] such as
//!    `integration[icehrm].endpoint[get_employees].page_size`), applied with `toml_edit`
//!    ([`apply`]) so that comments, order and layout elsewhere survive;
//! 2. is prepared against the file's hash ([`prepare`]: `If-Match`, [`EditError::Conflict`]
//!    when it is stale) and validated by the caller's check ([`EditError::Invalid`]), with a
//!    unified diff to show; nothing is written until
//! 3. [`save_atomic`] (or [`save_and_record`]) re-checks the hash under an exclusive lock and
//!    replaces the file atomically, keeping its permissions;
//! 4. is recorded in the state database's config history ([`record_save`]), where hand edits
//!    are found by their hash ([`detect_outside_edit`]) and any version can be restored
//!    ([`restore`]).
//!
//! Secrets never enter the file: an edit that would write a literal value under a
//! secret-looking key is refused ([`EditError::LiteralSecret`]); a value sent to the API is
//! written to a 0600 file ([`write_secret_file`]) and the config references it
//! (`{ file = "…" }`, [`file_reference`]).
//!
//! Self-contained (no import from the rest of this crate), for the config crate.

mod doc;
mod fsio;
mod history;
mod ops;
mod path;
mod save;
mod secrets;
#[cfg(test)]
mod tests;
mod view;

pub use doc::Edit;
pub use history::{
    FOUND_BY, OUTSIDE_COMMENT, detect_outside_edit, history_key, record_save, restore,
    save_and_record,
};
pub use hrsync_state::config_history::ConfigChangeKind;
pub use ops::apply;
pub use path::{KeyPath, PathSyntaxError, Segment};
pub use save::{ConfigFile, Prepared, hash_of, prepare, prepare_text, save_atomic, unified_diff};
pub use secrets::{REDACTED, check_edit, file_reference, is_secret_key, redact, write_secret_file};
pub use view::{elements, mask};

/// Why an edit was refused or failed. No variant carries a secret value or a line of the file.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The file changed since the client read it (HTTP 412): `If-Match` is stale.
    #[error(
        "the config file changed since it was read (its hash is now {current_hash}): reload it and edit again"
    )]
    Conflict { current_hash: String },
    /// The edited config fails validation (the errors of `check`).
    #[error("the edited config is not valid: {}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The edit would write a literal secret into the file.
    #[error(
        "{path}: a secret is not written into the config; send it as a secret (stored in a 0600 file) or reference it: {{ env = \"VAR\" }} or {{ file = \"path\" }}"
    )]
    LiteralSecret { path: String },
    #[error("{path}: {reason}")]
    BadPath { path: String, reason: String },
    #[error(transparent)]
    PathSyntax(#[from] PathSyntaxError),
    #[error("{path}: no such key or element")]
    NotFound { path: String },
    #[error("{path}: {count} elements have this name")]
    Ambiguous { path: String, count: usize },
    #[error("{path} is {found}, not {expected}")]
    WrongType {
        path: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("{path}: {reason}")]
    BadValue { path: String, reason: String },
    /// The file on disk is not TOML (a hand edit in progress?).
    #[error("the config file is not valid TOML{}: {message}", .line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Parse {
        line: Option<usize>,
        message: String,
    },
    #[error("{path} is not UTF-8 text")]
    NotUtf8 { path: String },
    #[error("no version {id} of this config file in the history")]
    VersionNotFound { id: i64 },
    #[error("bad secret file name {name:?}: letters, digits, '.', '_', '-', not starting with '.'")]
    BadSecretName { name: String },
    #[error("{path}: {what}: {source}")]
    Io {
        path: String,
        what: &'static str,
        source: std::io::Error,
    },
    #[error(transparent)]
    State(#[from] hrsync_state::StateError),
}

pub(crate) fn io_error(
    path: &std::path::Path,
    what: &'static str,
    source: std::io::Error,
) -> EditError {
    EditError::Io {
        path: path.display().to_string(),
        what,
        source,
    }
}
