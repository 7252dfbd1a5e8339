//! State, runs, links and the audit trail in an embedded SQLite database.
//!
//! - `runs`: one row per `plan`/`apply`, with the plan as JSON and the summary.
//! - `changes`: the audit, append-only: every attempted change with attributes before → after,
//!   the result code and the server's text. Values come from HR and the directory; secrets are
//!   never part of a plan, so never part of the audit.
//! - `links`: HR key ↔ directory entry (stable id + last DN), so renames and moves keep the link.
//!
//! Schema changes are numbered migrations tracked in `PRAGMA user_version`.

use chrono::{DateTime, Utc};
use hrsync_model::{Change, PlanSummary};
use rusqlite::Connection;
use serde::Serialize;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("state database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("state database: cannot encode JSON: {0}")]
    Json(#[from] serde_json::Error),
}

pub type Result<T> = std::result::Result<T, StateError>;

mod audit;
mod automation;
mod people;
#[cfg(test)]
mod query_plans;
mod runs;
mod schema;
mod sql;
pub use automation::{AutomationRow, DeliveryRow, OutboxRow, StepDone, StepLog};

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
}

/// One audited change, as listed by `hrsync audit`.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub run_id: i64,
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
    /// Opens (creating if needed) and migrates the database.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path).map_err(|source| StateError::Open {
            path: path.display().to_string(),
            source,
        })?;
        Self::init(conn)
    }

    /// An in-memory database (tests).
    pub fn in_memory() -> Result<Store> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Store> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;",
        )?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        for (i, m) in schema::MIGRATIONS
            .iter()
            .enumerate()
            .skip(version.max(0) as usize)
        {
            conn.execute_batch(&format!(
                "BEGIN; {m} PRAGMA user_version = {}; COMMIT;",
                i + 1
            ))?;
        }
        Ok(Store { conn })
    }

    /// A write transaction.
    pub(crate) fn write(&mut self) -> Result<rusqlite::Transaction<'_>> {
        Ok(self.conn.transaction()?)
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
