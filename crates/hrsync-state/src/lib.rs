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
use hrsync_model::{Change, Plan, PlanSummary};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
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

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    command TEXT NOT NULL,
    mapping TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    fetch_complete INTEGER,
    records INTEGER,
    summary_json TEXT,
    plan_json TEXT,
    error TEXT
);
CREATE TABLE changes (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,
    hr_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    dn TEXT NOT NULL,
    new_dn TEXT,
    reason TEXT NOT NULL,
    attrs_json TEXT NOT NULL,
    ok INTEGER NOT NULL,
    rc INTEGER,
    message TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX changes_run ON changes(run_id);
CREATE INDEX changes_key ON changes(hr_key);
CREATE TABLE links (
    mapping TEXT NOT NULL,
    hr_key TEXT NOT NULL,
    uuid TEXT,
    dn TEXT NOT NULL,
    state TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    PRIMARY KEY (mapping, hr_key)
);
"#,
    r#"
CREATE TABLE plan_changes (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,
    change_json TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
"#,
    r#"
ALTER TABLE runs ADD COLUMN baseline_records INTEGER;
"#,
    r#"
ALTER TABLE links ADD COLUMN disabled_at TEXT;
"#,
    r#"
CREATE TABLE names (
    mapping TEXT NOT NULL,
    attr TEXT NOT NULL,
    value TEXT NOT NULL,
    hr_key TEXT NOT NULL,
    first_used TEXT NOT NULL,
    PRIMARY KEY (mapping, attr, value)
);
"#,
    r#"
CREATE TABLE review (
    mapping TEXT NOT NULL,
    hr_key TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    candidates_json TEXT NOT NULL,
    chosen_dn TEXT,
    first_seen TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    decided_by TEXT,
    PRIMARY KEY (mapping, hr_key)
);
"#,
    r#"
CREATE TABLE automations (
    name TEXT PRIMARY KEY,
    last_start TEXT,
    last_finish TEXT,
    last_status TEXT,
    last_run_id INTEGER,
    next_run TEXT,
    running_since TEXT,
    running_owner TEXT
);
CREATE TABLE hr_events (
    integration TEXT NOT NULL,
    event_id TEXT NOT NULL,
    received_at TEXT NOT NULL,
    hr_key TEXT,
    status TEXT NOT NULL,
    run_id INTEGER,
    PRIMARY KEY (integration, event_id)
);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    orchestration TEXT NOT NULL,
    mapping TEXT NOT NULL,
    hr_key TEXT NOT NULL,
    dn TEXT NOT NULL,
    event TEXT NOT NULL,
    step INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at TEXT NOT NULL,
    last_ok INTEGER NOT NULL DEFAULT 1,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox(status, next_at);
CREATE TABLE step_log (
    id INTEGER PRIMARY KEY,
    outbox_id INTEGER NOT NULL,
    step INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    at TEXT NOT NULL,
    ok INTEGER NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    webhook TEXT NOT NULL,
    hr_key TEXT,
    outbox_id INTEGER,
    step INTEGER,
    at TEXT NOT NULL,
    ok INTEGER NOT NULL,
    status INTEGER,
    attempts INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    delivery_json TEXT NOT NULL
);
"#,
];

mod automation;
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
        for (i, m) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            conn.execute_batch(&format!(
                "BEGIN; {m} PRAGMA user_version = {}; COMMIT;",
                i + 1
            ))?;
        }
        Ok(Store { conn })
    }

    pub fn start_run(&self, command: &str, mapping: &str, at: DateTime<Utc>) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO runs (command, mapping, started_at, status) VALUES (?1, ?2, ?3, 'running')",
            params![command, mapping, at.to_rfc3339()],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Stores the plan a run produced (before anything is applied).
    /// Stores the plan a run produced (before anything is applied): the header in `runs`, each
    /// change as a row of `plan_changes` (no single giant JSON string for 100k-change plans).
    pub fn save_plan(&mut self, run_id: i64, plan: &Plan) -> Result<()> {
        #[derive(Serialize)]
        struct Header<'a> {
            #[serde(flatten)]
            plan: PlanWithoutChanges<'a>,
            changes: [(); 0],
        }
        #[derive(Serialize)]
        struct PlanWithoutChanges<'a> {
            mapping: &'a str,
            target: &'a str,
            generated_at: &'a DateTime<Utc>,
            fetch: &'a hrsync_model::FetchReport,
            leavers_allowed: bool,
            leavers_withheld_reason: &'a Option<String>,
            leavers_withheld: usize,
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            held: &'a [hrsync_model::Change],
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            held_reasons: &'a [String],
            unchanged: usize,
            findings: &'a [hrsync_model::Finding],
        }
        let header = Header {
            plan: PlanWithoutChanges {
                mapping: &plan.mapping,
                target: &plan.target,
                generated_at: &plan.generated_at,
                fetch: &plan.fetch,
                leavers_allowed: plan.leavers_allowed,
                leavers_withheld_reason: &plan.leavers_withheld_reason,
                leavers_withheld: plan.leavers_withheld,
                held: &plan.held,
                held_reasons: &plan.held_reasons,
                unchanged: plan.unchanged,
                findings: &plan.findings,
            },
            changes: [],
        };
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE runs SET plan_json = ?2, fetch_complete = ?3, records = ?4, summary_json = ?5 WHERE id = ?1",
            params![
                run_id,
                serde_json::to_string(&header)?,
                plan.fetch.complete,
                plan.fetch.records as i64,
                serde_json::to_string(&plan.summary())?
            ],
        )?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO plan_changes (run_id, seq, change_json) VALUES (?1, ?2, ?3)",
            )?;
            for (i, c) in plan.changes.iter().enumerate() {
                st.execute(params![run_id, i as i64, serde_json::to_string(c)?])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Records that this run's fetch may serve as the baseline for the record-count guard (a
    /// complete fetch that was not suspect, or whose drop was accepted).
    pub fn set_baseline(&self, run_id: i64, records: usize) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET baseline_records = ?2 WHERE id = ?1",
            params![run_id, records as i64],
        )?;
        Ok(())
    }

    /// The record count of the mapping's last baseline fetch, if any.
    pub fn baseline(&self, mapping: &str) -> Result<Option<usize>> {
        let n: Option<i64> = self
            .conn
            .query_row(
                "SELECT baseline_records FROM runs WHERE mapping = ?1 AND baseline_records IS NOT NULL ORDER BY id DESC LIMIT 1",
                params![mapping],
                |r| r.get(0),
            )
            .optional()?;
        Ok(n.map(|n| n.max(0) as usize))
    }

    /// When the mapping's last clean apply started (complete fetch, every change applied, no
    /// finding: a person held back by a finding must come back in the next incremental
    /// fetch): the basis of `{lastRunTime}`.
    pub fn last_sync_start(&self, mapping: &str) -> Result<Option<DateTime<Utc>>> {
        let s: Option<String> = self
            .conn
            .query_row(
                "SELECT started_at FROM runs WHERE mapping = ?1 AND command = 'apply' AND status = 'ok' AND fetch_complete = 1
                 AND COALESCE(json_extract(summary_json, '$.findings'), 1) = 0 ORDER BY id DESC LIMIT 1",
                params![mapping],
                |r| r.get(0),
            )
            .optional()?;
        Ok(s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
            .map(|d| d.with_timezone(&Utc)))
    }

    pub fn finish_run(
        &self,
        run_id: i64,
        status: &str,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE runs SET status = ?2, error = ?3, finished_at = ?4 WHERE id = ?1",
            params![run_id, status, error, at.to_rfc3339()],
        )?;
        Ok(())
    }

    /// Appends applied changes to the audit in one transaction.
    pub fn record_changes(&mut self, run_id: i64, items: &[AppliedChange<'_>]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO changes (run_id, seq, hr_key, kind, dn, new_dn, reason, attrs_json, ok, rc, message, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            for it in items {
                let c = it.change;
                st.execute(params![
                    run_id,
                    it.seq as i64,
                    c.key,
                    c.kind.as_str(),
                    c.dn,
                    c.new_dn,
                    c.reason,
                    serde_json::to_string(&c.attrs)?,
                    it.ok,
                    it.rc.map(i64::from),
                    it.message,
                    it.at.to_rfc3339()
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn links(&self, mapping: &str) -> Result<BTreeMap<String, LinkRow>> {
        let mut st = self
            .conn
            .prepare("SELECT hr_key, uuid, dn, state FROM links WHERE mapping = ?1")?;
        let rows = st.query_map(params![mapping], |r| {
            Ok(LinkRow {
                hr_key: r.get(0)?,
                uuid: r.get(1)?,
                dn: r.get(2)?,
                state: r.get(3)?,
            })
        })?;
        let mut out = BTreeMap::new();
        for r in rows {
            let r = r?;
            out.insert(r.hr_key.clone(), r);
        }
        Ok(out)
    }

    /// Inserts or refreshes links (keeps `first_seen`; a known uuid is never replaced by NULL).
    /// When each disabled account of the mapping was disabled (for retention deletes).
    pub fn disabled_since(&self, mapping: &str) -> Result<BTreeMap<String, DateTime<Utc>>> {
        let mut st = self.conn.prepare(
            "SELECT hr_key, disabled_at FROM links WHERE mapping = ?1 AND state = 'disabled' AND disabled_at IS NOT NULL",
        )?;
        let rows = st.query_map(params![mapping], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (k, at) = row?;
            if let Ok(d) = DateTime::parse_from_rfc3339(&at) {
                out.insert(k, d.with_timezone(&Utc));
            }
        }
        Ok(out)
    }

    /// Every value of a unique attribute hrsync ever gave an account (lower-cased): a leaver's
    /// name is never given to someone else, even after the account is deleted.
    pub fn used_names(&self, mapping: &str, attr: &str) -> Result<BTreeSet<String>> {
        let mut st = self
            .conn
            .prepare("SELECT value FROM names WHERE mapping = ?1 AND attr = ?2")?;
        let rows = st.query_map(params![mapping, attr.to_lowercase()], |r| {
            r.get::<_, String>(0)
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Stores a plan's review list: new items are added, items seen again are refreshed (an
    /// `adopt` decision whose account is gone is reopened), and open items the plan no longer
    /// has (the person was matched or left) are dropped when `prune` (a full fetch; an
    /// incremental one only sees some people). Decisions are kept.
    pub fn save_review(
        &mut self,
        mapping: &str,
        items: &[hrsync_model::ReviewItem],
        prune: bool,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let at = at.to_rfc3339();
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO review (mapping, hr_key, status, reason, candidates_json, first_seen, updated_at)
                 VALUES (?1, ?2, 'open', ?3, ?4, ?5, ?5)
                 ON CONFLICT (mapping, hr_key) DO UPDATE SET status = 'open', reason = ?3,
                 candidates_json = ?4, chosen_dn = NULL, updated_at = ?5",
            )?;
            for i in items {
                st.execute(params![
                    mapping,
                    i.key,
                    i.reason,
                    serde_json::to_string(&i.candidates)?,
                    at
                ])?;
            }
            let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
            let mut open = tx.prepare_cached(
                "SELECT hr_key FROM review WHERE mapping = ?1 AND status = 'open'",
            )?;
            let stale: Vec<String> = open
                .query_map(params![mapping], |r| r.get::<_, String>(0))?
                .collect::<std::result::Result<Vec<_>, _>>()?
                .into_iter()
                .filter(|k| prune && !keys.contains(&k.as_str()))
                .collect();
            let mut del =
                tx.prepare_cached("DELETE FROM review WHERE mapping = ?1 AND hr_key = ?2")?;
            for k in stale {
                del.execute(params![mapping, k])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The review list: open items, or every item with `all`.
    pub fn review(&self, mapping: Option<&str>, all: bool) -> Result<Vec<ReviewRow>> {
        let mut st = self.conn.prepare(
            "SELECT mapping, hr_key, status, reason, candidates_json, chosen_dn, first_seen, updated_at, decided_by
             FROM review WHERE (?1 IS NULL OR mapping = ?1) AND (?2 OR status = 'open')
             ORDER BY mapping, hr_key",
        )?;
        let rows = st.query_map(params![mapping, all], |r| {
            Ok((
                ReviewRow {
                    mapping: r.get(0)?,
                    hr_key: r.get(1)?,
                    status: r.get(2)?,
                    reason: r.get(3)?,
                    candidates: Vec::new(),
                    chosen_dn: r.get(5)?,
                    first_seen: r.get(6)?,
                    updated_at: r.get(7)?,
                    decided_by: r.get(8)?,
                },
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (mut row, cands) = row?;
            row.candidates = serde_json::from_str(&cands)?;
            out.push(row);
        }
        Ok(out)
    }

    /// Records an operator's decision on a review item: `adopt` with the chosen DN, `new`, or
    /// `open` (undo). Returns false when the mapping has no such item.
    pub fn decide(
        &mut self,
        mapping: &str,
        key: &str,
        status: &str,
        chosen_dn: Option<&str>,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE review SET status = ?3, chosen_dn = ?4, decided_by = ?5, updated_at = ?6
             WHERE mapping = ?1 AND hr_key = ?2",
            params![mapping, key, status, chosen_dn, by, at.to_rfc3339()],
        )?;
        Ok(n > 0)
    }

    /// Decisions of a mapping's review items: key → (`adopt`|`new`, chosen DN).
    pub fn decisions(&self, mapping: &str) -> Result<BTreeMap<String, (String, Option<String>)>> {
        let mut st = self.conn.prepare(
            "SELECT hr_key, status, chosen_dn FROM review WHERE mapping = ?1 AND status != 'open'",
        )?;
        let rows = st.query_map(params![mapping], |r| {
            Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?)))
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Records names given to new accounts.
    pub fn record_names(
        &mut self,
        mapping: &str,
        names: &[(String, String, String)],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT OR IGNORE INTO names (mapping, attr, value, hr_key, first_used) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (attr, value, key) in names {
                st.execute(params![
                    mapping,
                    attr.to_lowercase(),
                    value.to_lowercase(),
                    key,
                    at.to_rfc3339()
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Forgets links (accounts deleted by a retention delete).
    pub fn remove_links(&mut self, mapping: &str, keys: &[String]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut st =
                tx.prepare_cached("DELETE FROM links WHERE mapping = ?1 AND hr_key = ?2")?;
            for k in keys {
                st.execute(params![mapping, k])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn upsert_links(
        &mut self,
        mapping: &str,
        rows: &[LinkRow],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let now = at.to_rfc3339();
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO links (mapping, hr_key, uuid, dn, state, first_seen, last_seen, disabled_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, CASE WHEN ?5 = 'disabled' THEN ?6 END)
                 ON CONFLICT(mapping, hr_key) DO UPDATE SET
                   uuid = COALESCE(excluded.uuid, links.uuid), dn = excluded.dn,
                   state = excluded.state, last_seen = excluded.last_seen,
                   disabled_at = CASE WHEN excluded.state = 'disabled'
                     THEN COALESCE(links.disabled_at, excluded.last_seen) END",
            )?;
            // One account, one person: an account adopted by a new key (a rehire under a new
            // employee number) is no longer linked to the old one.
            let mut other = tx.prepare_cached(
                "DELETE FROM links WHERE mapping = ?1 AND uuid = ?2 AND hr_key != ?3",
            )?;
            for r in rows {
                if let Some(u) = &r.uuid {
                    other.execute(params![mapping, u, r.hr_key])?;
                }
                st.execute(params![mapping, r.hr_key, r.uuid, r.dn, r.state, now])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub fn runs(&self, limit: usize) -> Result<Vec<RunRow>> {
        let mut st = self.conn.prepare(
            "SELECT id, command, mapping, started_at, finished_at, status, fetch_complete, records, summary_json, error
             FROM runs ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = st.query_map(params![limit as i64], |r| {
            let summary: Option<String> = r.get(8)?;
            Ok(RunRow {
                id: r.get(0)?,
                command: r.get(1)?,
                mapping: r.get(2)?,
                started_at: r.get(3)?,
                finished_at: r.get(4)?,
                status: r.get(5)?,
                fetch_complete: r.get(6)?,
                records: r.get(7)?,
                summary: summary.and_then(|s| serde_json::from_str(&s).ok()),
                error: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// The stored plan of a run.
    pub fn plan_of(&self, run_id: i64) -> Result<Option<Plan>> {
        let s: Option<Option<String>> = self
            .conn
            .query_row(
                "SELECT plan_json FROM runs WHERE id = ?1",
                params![run_id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(header) = s.flatten() else {
            return Ok(None);
        };
        let mut plan: Plan = serde_json::from_str(&header)?;
        let mut st = self
            .conn
            .prepare("SELECT change_json FROM plan_changes WHERE run_id = ?1 ORDER BY seq")?;
        let rows = st.query_map(params![run_id], |r| r.get::<_, String>(0))?;
        for r in rows {
            plan.changes.push(serde_json::from_str(&r?)?);
        }
        Ok(Some(plan))
    }

    /// Audited changes, newest run first, filtered by run and/or HR key.
    pub fn audit(
        &self,
        run: Option<i64>,
        key: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditRow>> {
        let mut st = self.conn.prepare(
            "SELECT run_id, seq, hr_key, kind, dn, new_dn, reason, attrs_json, ok, rc, message, at FROM changes
             WHERE (?1 IS NULL OR run_id = ?1) AND (?2 IS NULL OR hr_key = ?2)
             ORDER BY run_id DESC, seq ASC LIMIT ?3",
        )?;
        let rows = st.query_map(params![run, key, limit as i64], |r| {
            let attrs: String = r.get(7)?;
            Ok(AuditRow {
                run_id: r.get(0)?,
                seq: r.get(1)?,
                hr_key: r.get(2)?,
                kind: r.get(3)?,
                dn: r.get(4)?,
                new_dn: r.get(5)?,
                reason: r.get(6)?,
                attrs: serde_json::from_str(&attrs).unwrap_or(serde_json::Value::Null),
                ok: r.get(8)?,
                rc: r.get(9)?,
                message: r.get(10)?,
                at: r.get(11)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Every text column of every table, for secret-leak tests.
    pub fn dump_text(&self) -> Result<String> {
        let mut out = String::new();
        for q in [
            "SELECT COALESCE(plan_json,'') || COALESCE(summary_json,'') || COALESCE(error,'') || mapping FROM runs",
            "SELECT attrs_json || message || reason || dn FROM changes",
            "SELECT hr_key || dn || COALESCE(uuid,'') FROM links",
            "SELECT change_json FROM plan_changes",
        ] {
            let mut st = self.conn.prepare(q)?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            for r in rows {
                out.push_str(&r?);
                out.push('\n');
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use hrsync_model::{AttrChange, ChangeKind, FetchReport};

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
