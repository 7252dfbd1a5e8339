//! The schema: numbered migrations, tracked in `PRAGMA user_version`.

/// Migration `i` brings the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
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
    // 8: indexes for every per-person statement and every growing table (issue 11 §6: the
    // link upsert's "other owner of this account" delete read every link of the mapping, once
    // per link: the first plan after a 20k apply took 75 s).
    r#"
CREATE INDEX IF NOT EXISTS links_uuid ON links(mapping, uuid);
DROP INDEX IF EXISTS changes_run;
CREATE INDEX IF NOT EXISTS changes_run_seq ON changes(run_id DESC, seq);
CREATE INDEX IF NOT EXISTS changes_kind_at ON changes(kind, at);
DROP INDEX IF EXISTS changes_key;
CREATE INDEX IF NOT EXISTS changes_key_run ON changes(hr_key, run_id DESC, seq);
CREATE INDEX IF NOT EXISTS runs_mapping ON runs(mapping, command, status);
CREATE INDEX IF NOT EXISTS runs_baseline ON runs(mapping) WHERE baseline_records IS NOT NULL;
CREATE INDEX IF NOT EXISTS review_status ON review(status, mapping, hr_key);
CREATE INDEX IF NOT EXISTS hr_events_status ON hr_events(integration, status);
CREATE INDEX IF NOT EXISTS outbox_status ON outbox(status);
CREATE INDEX IF NOT EXISTS step_log_outbox ON step_log(outbox_id);
CREATE INDEX IF NOT EXISTS deliveries_webhook ON deliveries(webhook);
"#,
];
