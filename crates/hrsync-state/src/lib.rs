//! State, runs, links and the audit trail in an embedded SQLite database.
//!
//! - `runs`: one row per `plan`/`apply`, with the plan as JSON and the summary.
//! - `changes`: the audit, append-only: every attempted change with attributes before → after,
//!   the result code and the server's text. Values come from HR and the directory; secrets are
//!   never part of a plan, so never part of the audit.
//!   One row per change of a run (run id, seq); a change of a run whose process died before
//!   the directory answered has a provisional row `unknown (interrupted)` until reconciled.
//! - `intents`: write-ahead: changes about to be sent, replaced by their audit row when the
//!   answer is recorded (see `record_intents`, `recover_interrupted`).
//! - `links`: HR key ↔ directory entry (stable id + last DN), so renames and moves keep the link.
//! - `auth_sessions`, `api_tokens`, `login_failures`: who may use the API (see [`auth`]).
//! - `config_history`: every saved version of the configuration file (see [`config_history`]).
//!
//! Schema changes are numbered migrations tracked in `PRAGMA user_version`.

use chrono::{DateTime, Utc};
use hrsync_model::{Change, PlanSummary};
use rusqlite::Connection;
use serde::Serialize;

/// What can go wrong with the state database. The variants about the file itself name the
/// path and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error(
        "state database {path} is a directory, not a file: set `[state] path` to a file, for example {suggestion}"
    )]
    IsDirectory { path: String, suggestion: String },
    #[error(
        "state database {path} cannot be created: {ancestor} is not a directory; set `[state] path` to a file in a directory"
    )]
    NotInADirectory { path: String, ancestor: String },
    #[error(
        "state database {path} is not a SQLite database ({found}): set `[state] path` to a new file, or move this file away"
    )]
    NotADatabase { path: String, found: String },
    #[error(
        "state database {path} is a SQLite database of another program (tables: {tables}), not an hrsync state database: set `[state] path` to a new file"
    )]
    Foreign { path: String, tables: String },
    #[error(
        "state database {path} has schema version {found}, newer than this hrsync knows ({known}): run the newer hrsync, or restore the state from before the upgrade"
    )]
    TooNew {
        path: String,
        found: i64,
        known: usize,
    },
    #[error("state database {path}: {what}: {source}")]
    Io {
        path: String,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("state database {path}: migration to schema version {version} failed: {source}")]
    Migrate {
        path: String,
        version: usize,
        source: rusqlite::Error,
    },
    #[error("state database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("state database: the operating system's random generator failed: {0}")]
    Random(String),
    #[error("state database: cannot encode JSON: {0}")]
    Json(#[from] serde_json::Error),
}

pub type Result<T> = std::result::Result<T, StateError>;

pub mod api_requests;
mod audit;
pub mod auth;
mod automation;
pub mod config_history;
pub mod discovered;
mod explain;
mod intents;
mod missing;
mod notify;
mod people;
pub mod process;
#[cfg(test)]
mod query_plans;
mod runs;
mod saved;
mod schema;
mod sql;
mod unfinished;
pub use audit::AuditFilter;
pub use automation::{AutomationRow, Cancelled, DeliveryRow, OutboxRow, StepDone, StepLog};
pub use intents::{
    APPLIED_AFTER_INTERRUPTION, IntentOutcome, InterruptedRun, Results, UNKNOWN_INTERRUPTED,
    UnresolvedIntent,
};
pub use missing::MissingSince;
pub use notify::{NOTIFY_CLAIM_LEASE, NotificationRow};
pub use process::{operator_name, owner_id};
pub use saved::{Decision, PlanItem, SavedPlanRow};

/// A person on the review list (secondary matching found no single account) and, once an
/// operator decided, the decision: `open`, `adopt` (the account `chosen_dn` is theirs) or `new`
/// (none is: create one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewRow {
    pub mapping: String,
    pub hr_key: String,
    pub status: String,
    pub reason: String,
    pub candidates: Vec<hrsync_model::ReviewCandidate>,
    pub chosen_dn: Option<String>,
    pub first_seen: String,
    pub updated_at: String,
    pub decided_by: Option<String>,
}

/// A stored link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkRow {
    pub hr_key: String,
    pub uuid: Option<String>,
    pub dn: String,
    pub state: String,
}

impl LinkRow {
    /// How a link's state is stored: `disabled` or `active`.
    pub fn state_of(disabled: bool) -> String {
        if disabled { "disabled" } else { "active" }.to_string()
    }

    /// Whether the account was disabled when the link was stored; None for a state
    /// [`LinkRow::state_of`] does not write.
    pub fn disabled(&self) -> Option<bool> {
        match self.state.as_str() {
            "disabled" => Some(true),
            "active" => Some(false),
            _ => None,
        }
    }
}

/// One run, as listed by `hrsync runs`.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub command: String,
    pub mapping: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: String,
    pub fetch_complete: Option<bool>,
    pub records: Option<i64>,
    pub summary: Option<PlanSummary>,
    pub error: Option<String>,
    /// The process that ran it (`<host> pid <pid>`).
    pub owner: Option<String>,
    /// What started it (`cli`, `schedule`, `event`, `orchestration`), when recorded.
    pub trigger: Option<String>,
    /// Who started it (see `process::operator_name`).
    pub operator: Option<String>,
}

/// One audited change, as listed by `hrsync audit`.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    /// The run; 0 for a write outside a run (an orchestration step: see `outbox_id`).
    pub run_id: i64,
    /// The change's index in the run's plan; for an orchestration step, the step.
    pub seq: i64,
    pub hr_key: String,
    pub kind: String,
    pub dn: String,
    pub new_dn: Option<String>,
    pub reason: String,
    pub attrs: serde_json::Value,
    pub ok: bool,
    pub rc: Option<i64>,
    pub message: String,
    pub at: String,
    pub mapping: Option<String>,
    /// What started the write: `cli`, `schedule`, `event`, `orchestration`.
    pub trigger: Option<String>,
    /// Who: the operator of the run or step.
    pub operator: Option<String>,
    /// The orchestration instance that made the write (outside a run).
    pub outbox_id: Option<i64>,
}

/// What started a run or a directory write, as the audit records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A command typed by an operator (or a script).
    #[default]
    Cli,
    /// A scheduled automation of the daemon.
    Schedule,
    /// An HR event (webhook) received by the daemon.
    Event,
    /// An orchestration step.
    Orchestration,
    /// A request to the REST API.
    Api,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Cli => "cli",
            Trigger::Schedule => "schedule",
            Trigger::Event => "event",
            Trigger::Orchestration => "orchestration",
            Trigger::Api => "api",
        }
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A directory write made outside a run (an orchestration step such as `set_attribute`),
/// for the audit.
#[derive(Debug, Clone)]
pub struct DirectoryWrite<'a> {
    pub mapping: &'a str,
    /// What was written: the entry (`dn`), the person (`key`), the kind (`update` for
    /// `set_attribute`, `enable`, `disable` …), attributes before → after, and why.
    pub change: &'a Change,
    pub ok: bool,
    pub rc: Option<u32>,
    pub message: &'a str,
    pub trigger: Trigger,
    pub operator: &'a str,
    /// The orchestration instance and step that made it.
    pub outbox: Option<(i64, i64)>,
    pub at: DateTime<Utc>,
}

/// The result of applying one change, as the audit records it.
#[derive(Debug, Clone)]
pub struct AppliedChange<'a> {
    pub seq: usize,
    pub change: &'a Change,
    pub ok: bool,
    pub rc: Option<u32>,
    pub message: &'a str,
    pub at: DateTime<Utc>,
}

pub struct Store {
    conn: Connection,
}

impl Store {
    /// A write transaction. `BEGIN IMMEDIATE`: it takes the write lock at once (waiting for
    /// another writer up to the busy timeout) instead of failing with `database is locked`
    /// when a read turns into a write while another process writes.
    pub(crate) fn write(&mut self) -> Result<rusqlite::Transaction<'_>> {
        Ok(self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use hrsync_model::{AttrChange, ChangeKind, FetchReport, Plan};

    #[test]
    fn runs_changes_and_links_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut s = Store::open(&path).unwrap();
        let now = Utc::now();
        let run = s.start_run("apply", "m", now).unwrap();
        let change = Change {
            kind: ChangeKind::Update,
            key: "E1".into(),
            dn: "uid=a,ou=p".into(),
            new_dn: None,
            uuid: None,
            attrs: vec![AttrChange {
                attr: "title".into(),
                before: vec!["A".into()],
                after: vec!["B".into()],
            }],
            reason: "HR changed title".into(),
        };
        let plan = Plan {
            mapping: "m".into(),
            target: "t".into(),
            generated_at: now,
            fetch: FetchReport {
                complete: true,
                records: 1,
                ..Default::default()
            },
            leavers_allowed: true,
            leavers_withheld_reason: None,
            leavers_withheld: 0,
            changes: vec![change.clone()],
            held: vec![],
            held_reasons: vec![],
            unchanged: 0,
            findings: vec![],
            review: vec![],
            ..Default::default()
        };
        s.save_plan(run, &plan).unwrap();
        s.record_changes(
            run,
            &[AppliedChange {
                seq: 0,
                change: &change,
                ok: false,
                rc: Some(50),
                message: "insufficient access",
                at: now,
            }],
        )
        .unwrap();
        s.finish_run(run, "partial", None, now).unwrap();
        drop(s);

        // reopen: migrations are not re-run, data is there
        let mut s = Store::open(&path).unwrap();
        let runs = s.runs(10).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].summary.as_ref().unwrap().update, 1);
        assert_eq!(s.plan_of(run).unwrap().unwrap(), plan);
        let a = s.audit(None, Some("E1"), 10).unwrap();
        assert_eq!(a[0].rc, Some(50));
        assert_eq!(a[0].attrs[0]["before"][0], "A");

        s.upsert_links(
            "m",
            &[LinkRow {
                hr_key: "E1".into(),
                uuid: Some("u1".into()),
                dn: "uid=a".into(),
                state: "active".into(),
            }],
            now,
        )
        .unwrap();
        s.upsert_links(
            "m",
            &[LinkRow {
                hr_key: "E1".into(),
                uuid: None,
                dn: "uid=b".into(),
                state: "disabled".into(),
            }],
            now,
        )
        .unwrap();
        let l = s.links("m").unwrap();
        assert_eq!(l["E1"].uuid.as_deref(), Some("u1"));
        assert_eq!(l["E1"].dn, "uid=b");
    }
}
