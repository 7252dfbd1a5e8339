//! hrsync's configuration in two phases: *raw* (what the TOML says, `deny_unknown_fields`) and
//! *resolved* (secrets loaded, mapping compiled, references checked). Every error names the
//! file, the key path and what to do. The bottom of hrsync's own crates: the engine
//! (`hrsync-engine`), the daemon (`hrsync-server`) and the CLI read it; it reads none of them.
//!
//! - [`Config::load`] / [`Config::parse`]: the file, parsed ([`RawConfig`], `raw`) and validated
//!   (`validate`); [`Config::job`]: one mapping resolved into a [`Job`] (`resolve`), its
//!   integration's endpoints into a source (`endpoints`), secrets read (`secrets`), OAuth token
//!   providers and rate limiters shared per integration (`shared`).
//! - [`daemon`]: `[serve]` (or `[server]`), `[[automation]]`, `[[event]]`, `[[orchestration]]`;
//!   [`schedule`]: cron schedules and missed runs; [`server_auth`]: `[server.tls]` and
//!   `[server.auth]` (into `hrsync_auth::AuthSettings`).
//! - [`plans`] (`[plans]`, `[mapping.approval]`, the configuration's fingerprint), [`RawNotify`]
//!   (`[[notify]]`), [`cases`] (`[[test]]`), [`statuses`] (Paycor's documented statuses),
//!   [`snapshots`] (where HR snapshots are kept).

use hrsync_directory::DirectoryConfig;
use hrsync_mapping::Mapper;
use hrsync_plan::MissingAction;
use hrsync_source::Source;
use std::path::{Path, PathBuf};

mod actions;
pub mod cases;
pub mod daemon;
pub mod edit;
mod endpoints;
mod notify;
pub mod plans;
mod raw;
mod resolve;
pub mod schedule;
mod secrets;
pub mod server_auth;
mod shared;
pub mod snapshots;
pub mod statuses;
mod validate;
pub use notify::{CAUSES, EmailChannel, RawNotify, SmtpTls};
pub use raw::*;
use shared::Shared;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: {key}: {message}")]
    Invalid {
        path: String,
        key: String,
        message: String,
    },
}

/// The header an integration's `api_key` goes in when `api_key_header` is not set.
pub(crate) const DEFAULT_API_KEY_HEADER: &str = "X-API-Key";

/// A loaded (not yet resolved) config file.
pub struct Config {
    pub path: PathBuf,
    pub raw: RawConfig,
    /// The file's text (for the fingerprint saved plans are checked against).
    text: String,
    /// What every job, webhook and orchestration step built from this config shares.
    shared: Shared,
}

/// Everything one mapping run needs, resolved.
pub struct Job {
    pub mapping: std::sync::Arc<Mapper>,
    pub description: String,
    pub category: String,
    /// `actions`, or the category's preset.
    pub actions: hrsync_model::Actions,
    pub source: Source,
    pub directory: DirectoryConfig,
    pub missing_from_hr: MissingAction,
    pub max_record_drop_percent: f64,
    pub managed_groups: Vec<String>,
    pub managed_group_bases: Vec<String>,
    pub leaver_removes_groups: bool,
    /// Attributes written only when an account is created.
    pub create_only: Vec<String>,
    pub disabled_ou: Option<String>,
    pub delete_after_days: Option<u32>,
    pub thresholds: Thresholds,
    /// `lifecycle.unlinked`.
    pub unlinked: Unlinked,
    /// `lifecycle.missing_confirmations`.
    pub missing_confirmations: u32,
    /// Attributes for secondary matching of joiners to existing accounts.
    pub match_on: Vec<String>,
    /// Attributes whose value names a person, written as that person's DN.
    pub person_refs: Vec<hrsync_plan::PersonRef>,
    /// Per person reference: the HR field the referenced value is a value of (`id` for IceHrm's
    /// supervisor with `by = "{id}"`; the primary key without `by`), when `by` is a plain
    /// field. A targeted run fetches the people named this way (a new hire's manager).
    pub ref_fields: Vec<(hrsync_model::AttrName, String)>,
    /// Orchestration templates: an applied change puts the ones it triggers in the outbox.
    pub orchestrations: Vec<daemon::RawOrchestration>,
    /// Documented HR statuses and what an undocumented one means (Paycor).
    pub statuses: Option<statuses::StatusRule>,
    /// `[mapping.approval]`: changes that need an approval before they apply.
    pub approval: Option<plans::RawApproval>,
    /// The configuration's fingerprint for this mapping (saved plans are checked against it).
    pub config_fingerprint: plans::ConfigFingerprint,
    /// `[plans] expire_hours`.
    pub plan_expiry: chrono::Duration,
    /// Where full runs keep their HR snapshot for `hrsync replay` (`None`: keep_hr_snapshots
    /// = 0).
    pub hr_snapshots: Option<snapshots::SnapshotSpec>,
}

impl Config {
    pub(crate) fn invalid(
        &self,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.display().to_string(),
            key: key.into(),
            message: message.into(),
        }
    }

    /// Directory of the config file (relative paths are relative to it).
    pub fn base_dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."))
    }

    pub fn state_path(&self) -> PathBuf {
        self.base_dir().join(&self.raw.state.path)
    }
}
