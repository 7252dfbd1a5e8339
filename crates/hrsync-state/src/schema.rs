//! Opening the database and its schema: numbered migrations, tracked in `PRAGMA
//! user_version`, applied in one `BEGIN IMMEDIATE` transaction that re-reads the version
//! inside it, so that processes opening a fresh (or older) database at once all succeed: one
//! migrates, the others wait for it and find the schema current.

use crate::{Result, StateError, Store};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::Path;
use std::time::Duration;

/// How long a statement waits for another process's write lock. Long enough for a migration
/// of a large audit (an index build) or a batch of audit rows; every write transaction of
/// hrsync is short.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How often opening tries to switch a new database to WAL while others do the same.
const WAL_ATTEMPTS: u32 = 400;

/// What a SQLite database file starts with.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

impl Store {
    /// Opens (creating if needed) and migrates the database. Safe when several processes do
    /// it at once on a new or older database.
    pub fn open(path: &Path) -> Result<Store> {
        Self::check_path(path)?;
        let shown = path.display().to_string();
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|source| StateError::Io {
                path: shown.clone(),
                what: "cannot create its directory",
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| StateError::Open {
            path: shown.clone(),
            source,
        })?;
        Self::init(conn, &shown)
    }

    /// An in-memory database (tests).
    pub fn in_memory() -> Result<Store> {
        Self::init(Connection::open_in_memory()?, ":memory:")
    }

    /// Checks, without creating or changing anything, that `path` can be the state database:
    /// not a directory, not a file of something else (another format, another program's
    /// SQLite database, a newer hrsync's schema), and, when it does not exist yet, under a
    /// directory. For `hrsync check`. Each error names the path and what to do.
    pub fn check_path(path: &Path) -> Result<()> {
        let shown = path.display().to_string();
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                // A new database: the nearest existing ancestor must be a directory.
                let ancestor = path
                    .ancestors()
                    .skip(1)
                    .filter(|a| !a.as_os_str().is_empty())
                    .find(|a| a.exists());
                if let Some(a) = ancestor
                    && !a.is_dir()
                {
                    return Err(StateError::NotInADirectory {
                        path: shown,
                        ancestor: a.display().to_string(),
                    });
                }
                return Ok(());
            }
            Err(source) => {
                return Err(StateError::Io {
                    path: shown,
                    what: "cannot read it",
                    source,
                });
            }
        };
        if meta.is_dir() {
            return Err(StateError::IsDirectory {
                suggestion: path.join("state.db").display().to_string(),
                path: shown,
            });
        }
        if meta.len() == 0 {
            // SQLite makes an empty file a new database.
            return Ok(());
        }
        let mut head = [0u8; 16];
        let n = {
            use std::io::Read;
            let mut f = std::fs::File::open(path).map_err(|source| StateError::Io {
                path: shown.clone(),
                what: "cannot read it",
                source,
            })?;
            let mut n = 0;
            while n < head.len() {
                match f.read(&mut head[n..]) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(source) => {
                        return Err(StateError::Io {
                            path: shown,
                            what: "cannot read it",
                            source,
                        });
                    }
                }
            }
            n
        };
        if n < head.len() || &head != SQLITE_HEADER {
            return Err(StateError::NotADatabase {
                found: describe(&head[..n], meta.len()),
                path: shown,
            });
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StateError::Open {
            path: shown.clone(),
            source,
        })?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // The version and the table list are read in one read transaction (one snapshot):
        // read as two statements, another process's migration could commit between them,
        // and a database seen at version 0 with tables would look like another program's.
        let snapshot = conn.unchecked_transaction().map_err(|e| typed(e, &shown))?;
        let version = user_version(&snapshot).map_err(|e| typed(e, &shown))?;
        check_version(&snapshot, version, &shown)
    }

    fn init(mut conn: Connection, path: &str) -> Result<Store> {
        // Before anything else: any statement below may meet another process's lock.
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // In-memory databases answer `memory`; a file that is not a database fails here.
        // Switching a new database to WAL needs an exclusive lock that SQLite does not wait
        // for (no busy handler): several processes creating the file at once get
        // `database is locked` at once. Retried, bounded by attempts and the busy timeout.
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            // Asking first avoids the exclusive lock once another process made it WAL.
            let mode = conn
                .query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))
                .and_then(|m| {
                    if m.eq_ignore_ascii_case("wal") {
                        Ok(m)
                    } else {
                        conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
                    }
                });
            match mode {
                Ok(_) => break,
                Err(e)
                    if is_busy(&e)
                        && attempt < WAL_ATTEMPTS
                        && std::time::Instant::now() < deadline =>
                {
                    // A little jitter, so that processes that collided do not collide again.
                    let jitter = u64::from(
                        std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.subsec_nanos())
                            .unwrap_or(0)
                            % 5,
                    );
                    std::thread::sleep(Duration::from_millis(
                        u64::from(attempt.min(10)) * 2 + jitter,
                    ));
                }
                Err(e) => return Err(typed(e, path)),
            }
        }
        conn.execute_batch("PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;")?;
        migrate(&mut conn, path)?;
        Ok(Store { conn })
    }
}

/// What a file that is not a SQLite database looks like, in a few words.
fn describe(head: &[u8], len: u64) -> String {
    if head
        .iter()
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        format!("a text file of {len} bytes")
    } else {
        format!("{len} bytes without the SQLite header")
    }
}

/// A SQLite error about the file itself as the typed error that names the path.
fn typed(e: rusqlite::Error, path: &str) -> StateError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => StateError::NotADatabase {
            path: path.to_string(),
            found: "SQLite says: file is not a database".into(),
        },
        _ => StateError::Open {
            path: path.to_string(),
            source: e,
        },
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// The schema version is one this hrsync can use, and a version-0 database is empty (not
/// another program's). `conn` must be inside the transaction that read `version`, so that
/// the tables are seen in the same snapshot as the version.
fn check_version(conn: &Connection, version: i64, path: &str) -> Result<()> {
    if version > MIGRATIONS.len() as i64 {
        return Err(StateError::TooNew {
            path: path.to_string(),
            found: version,
            known: MIGRATIONS.len(),
        });
    }
    if version <= 0 {
        let mut st = conn.prepare(crate::sql::SCHEMA_TABLES)?;
        let tables: Vec<String> = st
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if !tables.is_empty() {
            return Err(StateError::Foreign {
                path: path.to_string(),
                tables: tables.join(", "),
            });
        }
    }
    Ok(())
}

/// Brings the schema to the current version. The version is read again inside the write
/// transaction: another process may have migrated while this one waited for the lock.
fn migrate(conn: &mut Connection, path: &str) -> Result<()> {
    let known = MIGRATIONS.len();
    if user_version(conn)? == known as i64 {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version = user_version(&tx)?;
    check_version(&tx, version, path)?;
    let from = usize::try_from(version).unwrap_or(0);
    for (i, m) in MIGRATIONS.iter().enumerate().skip(from) {
        tx.execute_batch(m).map_err(|source| StateError::Migrate {
            path: path.to_string(),
            version: i + 1,
            source,
        })?;
    }
    if from < known {
        tx.pragma_update(None, "user_version", known as i64)?;
    }
    tx.commit()?;
    Ok(())
}

/// Migration `i` brings the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE IF NOT EXISTS runs (
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
CREATE TABLE IF NOT EXISTS changes (
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
CREATE INDEX IF NOT EXISTS changes_run ON changes(run_id);
CREATE INDEX IF NOT EXISTS changes_key ON changes(hr_key);
CREATE TABLE IF NOT EXISTS links (
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
CREATE TABLE IF NOT EXISTS plan_changes (
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
CREATE TABLE IF NOT EXISTS names (
    mapping TEXT NOT NULL,
    attr TEXT NOT NULL,
    value TEXT NOT NULL,
    hr_key TEXT NOT NULL,
    first_used TEXT NOT NULL,
    PRIMARY KEY (mapping, attr, value)
);
"#,
    r#"
CREATE TABLE IF NOT EXISTS review (
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
CREATE TABLE IF NOT EXISTS automations (
    name TEXT PRIMARY KEY,
    last_start TEXT,
    last_finish TEXT,
    last_status TEXT,
    last_run_id INTEGER,
    next_run TEXT,
    running_since TEXT,
    running_owner TEXT
);
CREATE TABLE IF NOT EXISTS hr_events (
    integration TEXT NOT NULL,
    event_id TEXT NOT NULL,
    received_at TEXT NOT NULL,
    hr_key TEXT,
    status TEXT NOT NULL,
    run_id INTEGER,
    PRIMARY KEY (integration, event_id)
);
CREATE TABLE IF NOT EXISTS outbox (
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
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(status, next_at);
CREATE TABLE IF NOT EXISTS step_log (
    id INTEGER PRIMARY KEY,
    outbox_id INTEGER NOT NULL,
    step INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    at TEXT NOT NULL,
    ok INTEGER NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
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
    // 8: indexes for every per-person statement and every growing table (issue 11 §6: the
    // link upsert's "other owner of this account" delete read every link of the mapping, once
    // per link: the first plan after a 20k apply took 75 s). The indexes of `changes` come
    // with 11, which rebuilds the table.
    r#"
CREATE INDEX IF NOT EXISTS links_uuid ON links(mapping, uuid);
CREATE INDEX IF NOT EXISTS runs_mapping ON runs(mapping, command, status);
CREATE INDEX IF NOT EXISTS runs_baseline ON runs(mapping) WHERE baseline_records IS NOT NULL;
CREATE INDEX IF NOT EXISTS review_status ON review(status, mapping, hr_key);
CREATE INDEX IF NOT EXISTS hr_events_status ON hr_events(integration, status);
CREATE INDEX IF NOT EXISTS outbox_status ON outbox(status);
CREATE INDEX IF NOT EXISTS step_log_outbox ON step_log(outbox_id);
CREATE INDEX IF NOT EXISTS deliveries_webhook ON deliveries(webhook);
"#,
    // 9: write-ahead intents (issue 11 §8: kill -9 during apply lost audit rows) and the
    // owner of a run (to tell a dead run from a live one).
    r#"
ALTER TABLE runs ADD COLUMN owner TEXT;
CREATE INDEX IF NOT EXISTS runs_running ON runs(status) WHERE status = 'running';
CREATE TABLE IF NOT EXISTS intents (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,
    mapping TEXT NOT NULL,
    hr_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    dn TEXT NOT NULL,
    -- NULL when the run's stored plan has the change (plan_changes): intents stay small.
    change_json TEXT,
    at TEXT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX IF NOT EXISTS intents_unresolved ON intents(mapping, status);
"#,
    // 10: people missing from complete fetches of a source without a lookup (issue 11 §1: a
    // person missing only once is not yet a leaver).
    r#"
CREATE TABLE IF NOT EXISTS missing (
    mapping TEXT NOT NULL,
    hr_key TEXT NOT NULL,
    first_run INTEGER NOT NULL,
    since TEXT NOT NULL,
    fetches INTEGER NOT NULL,
    last_run INTEGER NOT NULL,
    PRIMARY KEY (mapping, hr_key)
);
"#,
    // 11: who and what started each run and audited change (issue 11 §7), and directory
    // writes outside a run (orchestration steps) in the same audit: `changes` is rebuilt with
    // an optional run id, the mapping (filled in from the runs), the trigger, the operator and
    // the orchestration instance.
    r#"
ALTER TABLE runs ADD COLUMN trigger TEXT;
ALTER TABLE runs ADD COLUMN operator TEXT;
CREATE TABLE changes_v11 (
    id INTEGER PRIMARY KEY,
    run_id INTEGER REFERENCES runs(id),
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
    at TEXT NOT NULL,
    mapping TEXT,
    trigger TEXT,
    operator TEXT,
    outbox_id INTEGER
);
INSERT INTO changes_v11 (id, run_id, seq, hr_key, kind, dn, new_dn, reason, attrs_json, ok, rc, message, at, mapping)
    SELECT id, run_id, seq, hr_key, kind, dn, new_dn, reason, attrs_json, ok, rc, message, at,
           (SELECT runs.mapping FROM runs WHERE runs.id = changes.run_id)
    FROM changes;
DROP TABLE changes;
ALTER TABLE changes_v11 RENAME TO changes;
CREATE INDEX IF NOT EXISTS changes_run_seq ON changes(run_id, seq);
CREATE INDEX IF NOT EXISTS changes_key_run ON changes(hr_key, run_id, seq);
CREATE INDEX IF NOT EXISTS changes_mapping_kind_at ON changes(mapping, kind, at);
"#,
    // 12: creates that did not finish (issue 11 §8: an AD account added disabled by a run that
    // was killed before its password was delivered is finished, never enabled as a rehire):
    // only these rows, so the query each plan makes follows their number, not the audit's.
    // The condition must stay exactly as `sql::UNFINISHED_CREATE_ROWS` writes it.
    r#"
CREATE INDEX IF NOT EXISTS changes_unfinished_creates ON changes(mapping, hr_key, run_id)
WHERE ((kind IN ('create', 'create-disabled', 'finish-create') AND ok = 0)
    OR (kind IN ('create', 'create-disabled')
        AND message = 'applied (found in the directory after the run was interrupted)'));
"#,
    // 13: notifications (issue 14 §6): when each channel last sent (or is sending) each cause
    // (one message per cause per window, across CLI runs and the daemon; `sending` while a
    // send is under way, `previous` given back when it fails or never finishes), and every
    // attempt, sent, failed or suppressed, for
    // `hrsync notify log`. Never the message's secrets (there are none in
    // it: the SMTP password is not part of a message).
    r#"
CREATE TABLE IF NOT EXISTS notify_state (
    channel TEXT NOT NULL,
    cause TEXT NOT NULL,
    last_sent TEXT NOT NULL,
    previous TEXT,
    sending INTEGER NOT NULL DEFAULT 0,
    suppressed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (channel, cause)
);
CREATE TABLE IF NOT EXISTS notify_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    channel TEXT NOT NULL,
    cause TEXT NOT NULL,
    outcome TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS notify_log_at ON notify_log(at);
"#,
    // 14: one person's orchestration instances (`hrsync explain`), newest first.
    r#"
CREATE INDEX IF NOT EXISTS outbox_person ON outbox(mapping, hr_key, id);
"#,
    // 15: saved plans (issue 14 §1-2): a run's stored plan (`plan_changes`, the header's held
    // and awaiting-approval changes) that may be applied later exactly as it is, with what
    // each change assumed about HR and its approval decision.
    r#"
CREATE TABLE IF NOT EXISTS saved_plans (
    run_id INTEGER PRIMARY KEY REFERENCES runs(id),
    mapping TEXT NOT NULL,
    config_fp TEXT NOT NULL,
    saved_by TEXT NOT NULL,
    saved_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    status TEXT NOT NULL,
    applied_run INTEGER
);
CREATE INDEX IF NOT EXISTS saved_plans_status ON saved_plans(status, mapping);
CREATE TABLE IF NOT EXISTS plan_items (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    part TEXT NOT NULL,
    idx INTEGER NOT NULL,
    hr_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    hr_fp TEXT,
    needs TEXT,
    decision TEXT,
    decided_by TEXT,
    decided_at TEXT,
    comment TEXT,
    applied_run INTEGER,
    outcome TEXT,
    PRIMARY KEY (run_id, part, idx)
);
"#,
    // 16: values of this database that are not rows of a table (the key of the HR
    // fingerprints in saved plans).
    r#"
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
"#,
    // 17: who may do what (issue 15 §3): server-side sessions, API tokens and failed sign-ins.
    // Secrets are stored only as SHA-256 hashes (session ids and token secrets are 256-bit
    // random values, so a plain hash is enough); the CSRF token is stored as it is (it is
    // useless without the session cookie, and the console asks for it again after a reload).
    // Times are RFC 3339 UTC with microseconds (fixed width: they compare as text).
    r#"
CREATE TABLE IF NOT EXISTS auth_sessions (
    id_hash BLOB PRIMARY KEY,
    user_name TEXT NOT NULL,
    user_dn TEXT,
    role TEXT NOT NULL,
    origin TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    source TEXT
);
CREATE INDEX IF NOT EXISTS auth_sessions_user ON auth_sessions(user_name);
CREATE INDEX IF NOT EXISTS auth_sessions_last_seen ON auth_sessions(last_seen);
CREATE INDEX IF NOT EXISTS auth_sessions_created ON auth_sessions(created_at);
CREATE TABLE IF NOT EXISTS api_tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash BLOB NOT NULL UNIQUE,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    expires_at TEXT,
    last_used TEXT,
    revoked_at TEXT,
    revoked_by TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS api_tokens_live_name ON api_tokens(name) WHERE revoked_at IS NULL;
CREATE TABLE IF NOT EXISTS login_failures (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    failures INTEGER NOT NULL,
    first_failure TEXT NOT NULL,
    locked_until TEXT,
    PRIMARY KEY (kind, key)
);
CREATE INDEX IF NOT EXISTS login_failures_first ON login_failures(first_failure);
"#,
    // 18: the configuration's history (issue 15 §4): every saved version of a config file, who
    // saved it, from where, how (`api`, `outside` = edited by hand, `restore`, `initial` = the
    // first version seen), the hashes before and after (SHA-256 hex of the file's bytes), the
    // unified diff and the full text after, so that any version can be restored. Texts are
    // stored with literal secrets redacted (the config never holds one; a hand edit might).
    // Times are RFC 3339 UTC with microseconds (fixed width: they compare as text).
    r#"
CREATE TABLE IF NOT EXISTS config_history (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    operator TEXT NOT NULL,
    source TEXT,
    path TEXT NOT NULL,
    hash_before TEXT,
    hash_after TEXT NOT NULL,
    kind TEXT NOT NULL,
    diff TEXT NOT NULL,
    text TEXT NOT NULL,
    comment TEXT
);
CREATE INDEX IF NOT EXISTS config_history_path ON config_history(path, id);
"#,
    // 19: the audit of the REST API's state-changing requests (issue 15 §3): who (the operator
    // and how they signed in), from where, what (method, route, the resource), the answer's
    // status, and what changed (a config edit's diff, redacted). Never a secret or a body.
    r#"
CREATE TABLE IF NOT EXISTS api_requests (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    operator TEXT NOT NULL,
    via TEXT NOT NULL,
    source TEXT,
    method TEXT NOT NULL,
    route TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS api_requests_operator ON api_requests(operator, id);
"#,
    // 20: the audit's filtered list in the API (issue 15 §2), newest first by id within a
    // person, a kind, a mapping, or the failures (a partial index: failures are few), so that
    // a page is read in index order whatever the audit's size.
    r#"
CREATE INDEX IF NOT EXISTS changes_key_id ON changes(hr_key, id);
CREATE INDEX IF NOT EXISTS changes_kind_id ON changes(kind, id);
CREATE INDEX IF NOT EXISTS changes_mapping_id ON changes(mapping, id);
CREATE INDEX IF NOT EXISTS changes_failed ON changes(id) WHERE ok = 0;
"#,
    // 21: one run's audit rows, newest first by id (the console's run page pages them with
    // the audit's cursor): `changes_run_seq` orders by seq and would sort the run's rows.
    r#"
CREATE INDEX IF NOT EXISTS changes_run_id ON changes(run_id, id);
"#,
    // 22: the fields an HR endpoint's last "Test & Save" discovered (issue 16), per integration
    // and endpoint: when, by whom, how many records, and each field's path, JSON types and how
    // many records had a value. No sample values: the mapping editor only needs the names.
    r#"
CREATE TABLE IF NOT EXISTS discovered_fields (
    integration TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    tested_at TEXT NOT NULL,
    tested_by TEXT NOT NULL,
    records INTEGER NOT NULL,
    complete INTEGER NOT NULL,
    fields_json TEXT NOT NULL,
    PRIMARY KEY (integration, endpoint)
);
"#,
];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::{Arc, Barrier};

    /// A database as the version before migration 8 left it, with a run and a link.
    fn old_database(path: &Path) {
        let c = Connection::open(path).unwrap();
        for m in &MIGRATIONS[..7] {
            c.execute_batch(m).unwrap();
        }
        c.pragma_update(None, "user_version", 7).unwrap();
        c.execute_batch(
            "INSERT INTO runs (command, mapping, started_at, status) VALUES ('apply', 'm', '2025-01-01T00:00:00+00:00', 'ok');
             INSERT INTO links (mapping, hr_key, uuid, dn, state, first_seen, last_seen) VALUES ('m', 'E1', 'u1', 'uid=a', 'active', 'x', 'x');
             INSERT INTO changes (run_id, seq, hr_key, kind, dn, reason, attrs_json, ok, rc, message, at)
             VALUES (1, 0, 'E1', 'disable', 'uid=a', 'left', '[]', 1, 0, '', '2025-01-01T00:00:01+00:00');",
        )
        .unwrap();
    }

    #[test]
    fn processes_upgrading_an_older_database_at_once_all_succeed() {
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("state.db");
            old_database(&path);
            let barrier = Arc::new(Barrier::new(6));
            let handles: Vec<_> = (0..6)
                .map(|_| {
                    let (path, barrier) = (path.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        Store::open(&path).map(|_| ()).map_err(|e| e.to_string())
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap().unwrap();
            }
            let s = Store::open(&path).unwrap();
            assert_eq!(
                user_version(&s.conn).unwrap(),
                MIGRATIONS.len() as i64,
                "migrated once to the current version"
            );
            assert_eq!(s.runs(10).unwrap().len(), 1);
            assert_eq!(s.links("m").unwrap()["E1"].uuid.as_deref(), Some("u1"));
            // The audit was rebuilt (migration 11) with its rows, each given its run's mapping.
            let a = s.audit(None, None, 10).unwrap();
            assert_eq!(a.len(), 1);
            assert_eq!((a[0].run_id, a[0].mapping.as_deref()), (1, Some("m")));
            let since = chrono::DateTime::parse_from_rfc3339("2025-01-01T00:00:00+00:00")
                .unwrap()
                .with_timezone(&chrono::Utc);
            assert_eq!(s.applied_since("m", "disable", since).unwrap(), 1);
        }
    }
}
