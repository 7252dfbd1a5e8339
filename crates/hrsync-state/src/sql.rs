//! Every SQL statement the store prepares, in one place, each with the way it may read its
//! tables. The query-plan test (`query_plans.rs`) runs `EXPLAIN QUERY PLAN` on every one of
//! them against the migrated schema and fails on a full scan of a table that grows with the
//! number of people or changes; another test fails on SQL written anywhere else.
//!
//! Write statements without table aliases: the query plan names a table by its alias, and the
//! test must know which table a plan line reads.

/// How a statement may read the tables it touches (see `query_plans.rs` for the exact rules).
#[cfg(test)]
#[derive(Debug, Clone, Copy)]
pub(crate) enum Access {
    /// A bounded number of rows: run once per person or change (in loops), or a lookup by
    /// key. Every read of a growing table is a search by at least one selective column (not
    /// only `mapping`, `status` and the like).
    Point,
    /// Reads a whole partition (a mapping's links, a run's plan, the pending outbox) and
    /// returns or aggregates it: its cost follows its result. A search by a coarse column
    /// is fine; a full scan of a growing table is not.
    Bulk,
    /// Newest rows first, stopped by `LIMIT`: the rows are read in index order (no sort of
    /// the whole table); a full scan only in a statement without `WHERE`.
    Newest,
    /// Reads everything on purpose (the reason is given).
    All(&'static str),
}

macro_rules! statements {
    ($( $(#[doc = $doc:literal])* $name:ident ($access:expr) = $sql:expr ; )*) => {
        $( $(#[doc = $doc])* pub(crate) const $name: &str = $sql; )*
        /// Every statement above: (name, access, SQL).
        #[cfg(test)]
        pub(crate) const ALL: &[(&str, Access, &str)] = &[ $( (stringify!($name), $access, $name) ),* ];
    };
}

/// The filters of the audit's paged list: ?2 HR key, ?3 kind, ?4 ok, ?5 mapping, ?6 since
/// (inclusive), ?7 until (exclusive); NULL: no filter.
macro_rules! audit_filters {
    () => {
        " AND (?2 IS NULL OR hr_key = ?2) AND (?3 IS NULL OR kind = ?3) AND (?4 IS NULL OR ok = ?4)
         AND (?5 IS NULL OR mapping = ?5) AND (?6 IS NULL OR at >= ?6) AND (?7 IS NULL OR at < ?7)
         AND (?9 IS NULL OR run_id = ?9)"
    };
}

statements! {
    // ---- the schema -----------------------------------------------------------------------
    SCHEMA_TABLES(Access::Bulk) =
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name";

    // ---- runs and plans -------------------------------------------------------------------
    RUN_INSERT(Access::Point) =
        "INSERT INTO runs (command, mapping, started_at, status, owner, trigger, operator)
         VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6)";
    RUN_META(Access::Point) = "SELECT mapping, trigger, operator FROM runs WHERE id = ?1";
    RUN_MAPPING(Access::Point) = "SELECT mapping FROM runs WHERE id = ?1";
    RUNS_RUNNING(Access::Bulk) =
        "SELECT id, command, mapping, owner, started_at FROM runs WHERE status = 'running' ORDER BY id";
    RUN_INTERRUPT(Access::Point) =
        "UPDATE runs SET status = 'interrupted', finished_at = ?2, error = ?3 WHERE id = ?1 AND status = 'running'";
    RUN_SAVE_PLAN(Access::Point) =
        "UPDATE runs SET plan_json = ?2, fetch_complete = ?3, records = ?4, summary_json = ?5 WHERE id = ?1";
    PLAN_CHANGE_INSERT(Access::Point) =
        "INSERT INTO plan_changes (run_id, seq, change_json) VALUES (?1, ?2, ?3)";
    RUN_SET_BASELINE(Access::Point) =
        "UPDATE runs SET baseline_records = ?2 WHERE id = ?1";
    RUN_BASELINE(Access::Newest) =
        "SELECT baseline_records FROM runs WHERE mapping = ?1 AND baseline_records IS NOT NULL ORDER BY id DESC LIMIT 1";
    RUN_LAST_SYNC_START(Access::Newest) =
        "SELECT started_at FROM runs WHERE mapping = ?1 AND command = 'apply' AND status = 'ok' AND fetch_complete = 1
         AND COALESCE(json_extract(summary_json, '$.findings'), 1) = 0 ORDER BY id DESC LIMIT 1";
    RUN_FINISH(Access::Point) =
        "UPDATE runs SET status = ?2, error = ?3, finished_at = ?4 WHERE id = ?1";
    RUNS_LIST(Access::Newest) =
        "SELECT id, command, mapping, started_at, finished_at, status, fetch_complete, records, summary_json, error,
         owner, trigger, operator
         FROM runs WHERE id < ?1 AND (?2 IS NULL OR mapping = ?2) AND (?3 IS NULL OR status = ?3)
         ORDER BY id DESC LIMIT ?4";
    RUN_GET(Access::Point) =
        "SELECT id, command, mapping, started_at, finished_at, status, fetch_complete, records, summary_json, error,
         owner, trigger, operator
         FROM runs WHERE id = ?1";
    RUN_PLAN_JSON(Access::Point) = "SELECT plan_json FROM runs WHERE id = ?1";
    PLAN_CHANGES_OF_RUN(Access::Bulk) =
        "SELECT change_json FROM plan_changes WHERE run_id = ?1 ORDER BY seq";

    // ---- the audit of API requests --------------------------------------------------------
    API_REQUEST_INSERT(Access::Point) =
        "INSERT INTO api_requests (at, operator, via, source, method, route, path, status, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
    API_REQUESTS_LIST(Access::Newest) =
        "SELECT id, at, operator, via, source, method, route, path, status, detail
         FROM api_requests
         WHERE id < ?1 AND (?2 IS NULL OR operator = ?2) AND (?3 IS NULL OR at >= ?3) AND (?4 IS NULL OR at < ?4)
         ORDER BY id DESC LIMIT ?5";

    // ---- saved plans and approvals ---------------------------------------------------------
    SAVED_PLAN_UPSERT(Access::Point) =
        "INSERT INTO saved_plans (run_id, mapping, config_fp, saved_by, saved_at, expires_at, status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'open')
         ON CONFLICT (run_id) DO UPDATE SET config_fp = ?3, expires_at = ?6";
    META_GET(Access::Point) = "SELECT value FROM meta WHERE name = ?1";
    META_INSERT_NEW(Access::Point) = "INSERT OR IGNORE INTO meta (name, value) VALUES (?1, ?2)";
    SAVED_PLAN_GET(Access::Point) =
        "SELECT run_id, mapping, config_fp, saved_by, saved_at, expires_at, status, applied_run
         FROM saved_plans WHERE run_id = ?1";
    SAVED_PLANS_WITH_STATUS(Access::Bulk) =
        "SELECT run_id, mapping, config_fp, saved_by, saved_at, expires_at, status, applied_run
         FROM saved_plans WHERE status = ?1 ORDER BY run_id";
    /// Saved plans newest first, by status and/or mapping, below a cursor (the API's list).
    SAVED_PLANS_PAGE(Access::Newest) =
        "SELECT run_id, mapping, config_fp, saved_by, saved_at, expires_at, status, applied_run
         FROM saved_plans WHERE run_id < ?1 AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR mapping = ?3)
         ORDER BY run_id DESC LIMIT ?4";
    SAVED_PLAN_SET_STATUS(Access::Point) =
        "UPDATE saved_plans SET status = ?2, applied_run = COALESCE(?3, applied_run) WHERE run_id = ?1";
    PLAN_ITEM_INSERT(Access::Point) =
        "INSERT OR REPLACE INTO plan_items (run_id, part, idx, hr_key, kind, hr_fp, needs)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    PLAN_ITEMS_OF_RUN(Access::Bulk) =
        "SELECT part, idx, hr_key, kind, hr_fp, needs, decision, decided_by, decided_at, comment,
         applied_run, outcome FROM plan_items WHERE run_id = ?1 ORDER BY part, idx";
    PLAN_ITEM_DECIDE(Access::Point) =
        "UPDATE plan_items SET decision = ?4, decided_by = ?5, decided_at = ?6, comment = ?7
         WHERE run_id = ?1 AND part = ?2 AND idx = ?3";
    PLAN_ITEM_APPLIED(Access::Point) =
        "UPDATE plan_items SET applied_run = ?4, outcome = ?5 WHERE run_id = ?1 AND part = ?2 AND idx = ?3";

    // ---- the audit ------------------------------------------------------------------------
    /// One audit row per (run, seq): a second one for the same change is not added.
    CHANGE_INSERT(Access::Point) =
        "INSERT INTO changes (run_id, seq, hr_key, kind, dn, new_dn, reason, attrs_json, ok, rc, message, at,
         mapping, trigger, operator)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15
         WHERE NOT EXISTS (SELECT 1 FROM changes WHERE run_id = ?1 AND seq = ?2)";
    /// A directory write outside a run (an orchestration step).
    CHANGE_INSERT_OUTSIDE_RUN(Access::Point) =
        "INSERT INTO changes (run_id, seq, hr_key, kind, dn, new_dn, reason, attrs_json, ok, rc, message, at,
         mapping, trigger, operator, outbox_id)
         VALUES (NULL, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";
    CHANGE_SETTLE_UNKNOWN(Access::Point) =
        "UPDATE changes SET ok = ?3, rc = ?4, message = ?5, at = ?6 WHERE run_id = ?1 AND seq = ?2 AND message = ?7";
    CHANGE_SETTLE_APPLIED(Access::Point) =
        "UPDATE changes SET ok = 1, message = ?3 WHERE run_id = ?1 AND seq = ?2 AND message = ?4";
    CHANGE_DROP_UNKNOWN(Access::Point) =
        "DELETE FROM changes WHERE run_id = ?1 AND seq = ?2 AND message = ?3";

    // ---- write-ahead intents ----------------------------------------------------------------
    INTENT_INSERT(Access::Point) =
        "INSERT OR IGNORE INTO intents (run_id, seq, mapping, hr_key, kind, dn, change_json, at, status)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending'
         WHERE NOT EXISTS (SELECT 1 FROM changes WHERE run_id = ?1 AND seq = ?2)";
    INTENT_TAKE(Access::Point) =
        "DELETE FROM intents WHERE run_id = ?1 AND seq = ?2 RETURNING status";
    PLAN_CHANGE_EXISTS(Access::Point) =
        "SELECT 1 FROM plan_changes WHERE run_id = ?1 AND seq = ?2";
    INTENTS_PENDING_OF_RUN(Access::Bulk) =
        "SELECT intents.seq, COALESCE(intents.change_json, plan_changes.change_json), intents.at,
           intents.hr_key, intents.kind, intents.dn
         FROM intents LEFT JOIN plan_changes
           ON plan_changes.run_id = intents.run_id AND plan_changes.seq = intents.seq
         WHERE intents.run_id = ?1 AND intents.status = 'pending' ORDER BY intents.seq";
    INTENTS_PENDING_BRIEF(Access::Bulk) =
        "SELECT seq, hr_key, kind, dn FROM intents WHERE run_id = ?1 AND status = ?2 ORDER BY seq";
    INTENTS_MARK_UNKNOWN(Access::Bulk) =
        "UPDATE intents SET status = 'unknown' WHERE run_id = ?1 AND status = 'pending'";
    /// Unknown changes of interrupted runs, and those not found in the directory yet
    /// (`absent`), with when their run was found interrupted and whether a later run audited
    /// the same kind of change for the person (a create and a pre-hire's create are one kind).
    INTENTS_UNRESOLVED(Access::Bulk) =
        "SELECT intents.run_id, intents.seq, COALESCE(intents.change_json, plan_changes.change_json), intents.at,
           intents.hr_key, intents.kind, intents.dn, intents.status, runs.finished_at,
           EXISTS (SELECT 1 FROM changes
             WHERE changes.hr_key = intents.hr_key AND changes.run_id > intents.run_id
               AND changes.mapping = intents.mapping
               AND (changes.kind = intents.kind
                 OR (changes.kind IN ('create', 'create-disabled')
                     AND intents.kind IN ('create', 'create-disabled'))))
         FROM intents LEFT JOIN plan_changes
           ON plan_changes.run_id = intents.run_id AND plan_changes.seq = intents.seq
         LEFT JOIN runs ON runs.id = intents.run_id
         WHERE intents.mapping = ?1 AND intents.status IN ('unknown', 'absent')
         ORDER BY intents.run_id, intents.seq";
    INTENT_RESOLVE(Access::Point) =
        "DELETE FROM intents WHERE run_id = ?1 AND seq = ?2 AND status = ?3";
    INTENT_STATUS(Access::Point) =
        "SELECT status FROM intents WHERE run_id = ?1 AND seq = ?2";
    INTENT_MARK_ABSENT(Access::Point) =
        "UPDATE intents SET status = 'absent' WHERE run_id = ?1 AND seq = ?2 AND status = 'unknown'";
    /// One change of an intent, with its run's mapping (an `absent` change found applied
    /// later gets its audit row back).
    INTENT_CHANGE(Access::Point) =
        "SELECT COALESCE(intents.change_json, plan_changes.change_json), intents.hr_key, intents.kind,
           intents.dn, intents.at, intents.mapping
         FROM intents LEFT JOIN plan_changes
           ON plan_changes.run_id = intents.run_id AND plan_changes.seq = intents.seq
         WHERE intents.run_id = ?1 AND intents.seq = ?2";
    /// A later run audited a change of this kind (?4, or ?5) for the person: it stands for
    /// them, a late-found change of an interrupted run adds no second row.
    CHANGE_OF_KEY_AFTER(Access::Point) =
        "SELECT 1 FROM changes WHERE hr_key = ?1 AND run_id > ?2 AND mapping = ?3 AND kind IN (?4, ?5) LIMIT 1";

    // ---- creates that did not finish (issue 11 §8: AD accounts left disabled by a kill) ------
    /// The people whose account's create did not finish in some run: it failed (perhaps after
    /// the account was added, before its password was delivered), its result is unknown, or
    /// it was found in the directory after the run was interrupted. The newest such run per
    /// person. The partial index `changes_unfinished_creates` holds exactly these rows: keep
    /// the condition as it is written there.
    UNFINISHED_CREATE_ROWS(Access::Bulk) =
        "SELECT hr_key, MAX(run_id) FROM changes
         WHERE mapping = ?1
           AND ((kind IN ('create', 'create-disabled', 'finish-create') AND ok = 0)
             OR (kind IN ('create', 'create-disabled')
                 AND message = 'applied (found in the directory after the run was interrupted)'))
         GROUP BY hr_key";
    /// Creates of interrupted runs still unresolved (`unknown`) or not found in the directory
    /// yet (`absent`: the directory may still have received them).
    UNFINISHED_CREATE_INTENTS(Access::Bulk) =
        "SELECT hr_key, MAX(run_id) FROM intents
         WHERE mapping = ?1 AND status IN ('unknown', 'absent')
           AND kind IN ('create', 'create-disabled', 'finish-create')
         GROUP BY hr_key";
    /// A later change finished the person's account: a create or a finish that succeeded as
    /// planned, or an enable or disable (the account was enabled by then).
    CREATE_FINISHED_AFTER(Access::Point) =
        "SELECT 1 FROM changes
         WHERE hr_key = ?1 AND run_id > ?2 AND mapping = ?3 AND ok = 1
           AND kind IN ('create', 'create-disabled', 'finish-create', 'enable', 'disable')
           AND NOT (kind IN ('create', 'create-disabled')
                    AND message = 'applied (found in the directory after the run was interrupted)')
         LIMIT 1";
    AUDIT_ALL(Access::Newest) =
        "SELECT run_id, seq, hr_key, kind, dn, new_dn, reason, attrs_json, ok, rc, message, at,
         mapping, trigger, operator, outbox_id FROM changes
         ORDER BY id DESC LIMIT ?1";
    AUDIT_OF_RUN(Access::Newest) =
        "SELECT run_id, seq, hr_key, kind, dn, new_dn, reason, attrs_json, ok, rc, message, at,
         mapping, trigger, operator, outbox_id FROM changes
         WHERE run_id = ?1 ORDER BY seq LIMIT ?2";
    AUDIT_OF_KEY(Access::Bulk) =
        "SELECT run_id, seq, hr_key, kind, dn, new_dn, reason, attrs_json, ok, rc, message, at,
         mapping, trigger, operator, outbox_id FROM changes
         WHERE hr_key = ?1 ORDER BY id DESC LIMIT ?2";
    AUDIT_OF_RUN_AND_KEY(Access::Point) =
        "SELECT run_id, seq, hr_key, kind, dn, new_dn, reason, attrs_json, ok, rc, message, at,
         mapping, trigger, operator, outbox_id FROM changes
         WHERE run_id = ?1 AND hr_key = ?2 ORDER BY seq LIMIT ?3";
    // The audit's filtered, paged list (`GET /api/v1/audit`): one statement per index that
    // drives it (migration 20), the other filters applied to the rows it reads, newest first.
    /// Every filter, reading the audit newest first by id.
    AUDIT_PAGE(Access::Newest) = concat!(
        "SELECT id, run_id, seq, hr_key, kind, dn, new_dn, reason, attrs_json, ok, rc, message, at,
         mapping, trigger, operator, outbox_id FROM changes WHERE id < ?1",
        audit_filters!(), " ORDER BY id DESC LIMIT ?8");
    /// One person's audit (`person=`).
    AUDIT_PAGE_OF_KEY(Access::Newest) = concat!(
        "SELECT id, run_id, seq, hr_key, kind, dn, new_dn, reason, attrs_json, ok, rc, message, at,
         mapping, trigger, operator, outbox_id FROM changes WHERE hr_key = ?2 AND id < ?1",
        audit_filters!(), " ORDER BY id DESC LIMIT ?8");
    /// One run's changes (`run=`).
    AUDIT_PAGE_OF_RUN(Access::Newest) = concat!(
        "SELECT id, run_id, seq, hr_key, kind, dn, new_dn, reason, attrs_json, ok, rc, message, at,
         mapping, trigger, operator, outbox_id FROM changes WHERE run_id = ?9 AND id < ?1",
        audit_filters!(), " ORDER BY id DESC LIMIT ?8");
    /// Failed changes (`result=failed`): the partial index of failures.
    AUDIT_PAGE_FAILED(Access::Newest) = concat!(
        "SELECT id, run_id, seq, hr_key, kind, dn, new_dn, reason, attrs_json, ok, rc, message, at,
         mapping, trigger, operator, outbox_id FROM changes WHERE ok = 0 AND id < ?1",
        audit_filters!(), " ORDER BY id DESC LIMIT ?8");
    /// Changes of one kind (`kind=`).
    AUDIT_PAGE_OF_KIND(Access::Newest) = concat!(
        "SELECT id, run_id, seq, hr_key, kind, dn, new_dn, reason, attrs_json, ok, rc, message, at,
         mapping, trigger, operator, outbox_id FROM changes WHERE kind = ?3 AND id < ?1",
        audit_filters!(), " ORDER BY id DESC LIMIT ?8");
    /// Changes of one mapping (`mapping=`).
    AUDIT_PAGE_OF_MAPPING(Access::Newest) = concat!(
        "SELECT id, run_id, seq, hr_key, kind, dn, new_dn, reason, attrs_json, ok, rc, message, at,
         mapping, trigger, operator, outbox_id FROM changes WHERE mapping = ?5 AND id < ?1",
        audit_filters!(), " ORDER BY id DESC LIMIT ?8");
    APPLIED_SINCE(Access::Point) =
        "SELECT COUNT(*) FROM changes WHERE mapping = ?1 AND kind = ?2 AND ok = 1 AND at >= ?3";

    // ---- links, the name ledger, the review list ------------------------------------------
    LINKS_OF_MAPPING(Access::Bulk) =
        "SELECT hr_key, uuid, dn, state FROM links WHERE mapping = ?1";
    /// One person's link (the API's person page).
    LINK_OF_PERSON(Access::Point) =
        "SELECT hr_key, uuid, dn, state FROM links WHERE mapping = ?1 AND hr_key = ?2";
    LINKS_DISABLED_SINCE(Access::Bulk) =
        "SELECT hr_key, disabled_at FROM links WHERE mapping = ?1 AND state = 'disabled' AND disabled_at IS NOT NULL";
    LINK_UPSERT(Access::Point) =
        "INSERT INTO links (mapping, hr_key, uuid, dn, state, first_seen, last_seen, disabled_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, CASE WHEN ?5 = 'disabled' THEN ?6 END)
         ON CONFLICT(mapping, hr_key) DO UPDATE SET
           uuid = COALESCE(excluded.uuid, links.uuid), dn = excluded.dn,
           state = excluded.state, last_seen = excluded.last_seen,
           disabled_at = CASE WHEN excluded.state = 'disabled'
             THEN COALESCE(links.disabled_at, excluded.last_seen) END";
    /// One account, one person: the account's link to another key goes (run once per link).
    LINK_DELETE_OTHER_OWNER(Access::Point) =
        "DELETE FROM links WHERE mapping = ?1 AND uuid = ?2 AND hr_key != ?3";
    LINK_DELETE(Access::Point) = "DELETE FROM links WHERE mapping = ?1 AND hr_key = ?2";
    NAMES_USED(Access::Bulk) = "SELECT value FROM names WHERE mapping = ?1 AND attr = ?2";
    NAME_INSERT(Access::Point) =
        "INSERT OR IGNORE INTO names (mapping, attr, value, hr_key, first_used) VALUES (?1, ?2, ?3, ?4, ?5)";
    REVIEW_UPSERT(Access::Point) =
        "INSERT INTO review (mapping, hr_key, status, reason, candidates_json, first_seen, updated_at)
         VALUES (?1, ?2, 'open', ?3, ?4, ?5, ?5)
         ON CONFLICT (mapping, hr_key) DO UPDATE SET status = 'open', reason = ?3,
         candidates_json = ?4, chosen_dn = NULL, updated_at = ?5";
    REVIEW_OPEN_KEYS(Access::Bulk) =
        "SELECT hr_key FROM review WHERE mapping = ?1 AND status = 'open'";
    REVIEW_DELETE(Access::Point) = "DELETE FROM review WHERE mapping = ?1 AND hr_key = ?2";
    REVIEW_OPEN(Access::Bulk) =
        "SELECT mapping, hr_key, status, reason, candidates_json, chosen_dn, first_seen, updated_at, decided_by
         FROM review WHERE status = 'open' ORDER BY mapping, hr_key";
    REVIEW_EVERY(Access::All("the whole review list is the result: `review list --all`")) =
        "SELECT mapping, hr_key, status, reason, candidates_json, chosen_dn, first_seen, updated_at, decided_by
         FROM review ORDER BY mapping, hr_key";
    REVIEW_OPEN_OF_MAPPING(Access::Bulk) =
        "SELECT mapping, hr_key, status, reason, candidates_json, chosen_dn, first_seen, updated_at, decided_by
         FROM review WHERE mapping = ?1 AND status = 'open' ORDER BY mapping, hr_key";
    REVIEW_EVERY_OF_MAPPING(Access::Bulk) =
        "SELECT mapping, hr_key, status, reason, candidates_json, chosen_dn, first_seen, updated_at, decided_by
         FROM review WHERE mapping = ?1 ORDER BY mapping, hr_key";
    REVIEW_DECIDE(Access::Point) =
        "UPDATE review SET status = ?3, chosen_dn = ?4, decided_by = ?5, updated_at = ?6
         WHERE mapping = ?1 AND hr_key = ?2";
    REVIEW_DECISIONS(Access::Bulk) =
        "SELECT hr_key, status, chosen_dn FROM review WHERE mapping = ?1 AND status != 'open'";

    MISSING_OF_MAPPING(Access::Bulk) =
        "SELECT hr_key, first_run, since, fetches FROM missing WHERE mapping = ?1";
    /// A complete fetch without the person: counted once per run.
    MISSING_SEEN(Access::Point) =
        "INSERT INTO missing (mapping, hr_key, first_run, since, fetches, last_run)
         VALUES (?1, ?2, ?3, ?4, 1, ?3)
         ON CONFLICT (mapping, hr_key) DO UPDATE SET
           fetches = missing.fetches + (missing.last_run != excluded.last_run),
           last_run = excluded.last_run";
    MISSING_DELETE(Access::Point) = "DELETE FROM missing WHERE mapping = ?1 AND hr_key = ?2";

    // ---- automations, events, the outbox, deliveries ---------------------------------------
    AUTOMATIONS_LIST(Access::Bulk) =
        "SELECT name, last_start, last_finish, last_status, last_run_id, next_run, running_since, running_owner
         FROM automations ORDER BY name";
    AUTOMATION_ENSURE(Access::Point) = "INSERT OR IGNORE INTO automations (name) VALUES (?1)";
    AUTOMATION_LOCK(Access::Point) =
        "UPDATE automations SET running_since = ?2, running_owner = ?3
         WHERE name = ?1 AND (running_since IS NULL OR running_since < ?4)";
    AUTOMATION_FINISH(Access::Point) =
        "UPDATE automations SET last_start = ?2, last_finish = ?3, last_status = ?4,
         last_run_id = ?5, next_run = ?6, running_since = NULL, running_owner = NULL
         WHERE name = ?1";
    AUTOMATION_RELEASE(Access::Point) =
        "UPDATE automations SET running_since = NULL, running_owner = NULL WHERE name = ?1";
    AUTOMATION_SET_NEXT(Access::Point) =
        "INSERT INTO automations (name, next_run) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET next_run = ?2";
    EVENT_RECORD(Access::Point) =
        "INSERT INTO hr_events (integration, event_id, received_at, hr_key, status)
         VALUES (?1, ?2, ?3, ?4, 'received')
         ON CONFLICT (integration, event_id) DO UPDATE SET status = 'received', received_at = ?3
         WHERE hr_events.status LIKE 'failed%'";
    EVENT_FORGET(Access::Point) =
        "DELETE FROM hr_events WHERE integration = ?1 AND event_id = ?2 AND status = 'received'";
    EVENTS_UNFINISHED(Access::Bulk) =
        "SELECT event_id, hr_key FROM hr_events WHERE integration = ?1 AND status = 'received' ORDER BY received_at";
    EVENT_STATUS(Access::Point) =
        "SELECT status, run_id FROM hr_events WHERE integration = ?1 AND event_id = ?2";
    EVENT_FINISH(Access::Point) =
        "UPDATE hr_events SET status = ?3, run_id = ?4 WHERE integration = ?1 AND event_id = ?2";
    STEP_LOG_INSERT(Access::Point) =
        "INSERT INTO step_log (outbox_id, step, attempt, at, ok, detail)
         SELECT ?1, ?2, attempts + 1, ?3, ?4, ?5 FROM outbox WHERE id = ?1";
    OUTBOX_INSERT(Access::Point) =
        "INSERT INTO outbox (orchestration, mapping, hr_key, dn, event, status, next_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6, ?6)";
    OUTBOX_DUE(Access::Bulk) =
        "SELECT id, orchestration, mapping, hr_key, dn, event, step, status, attempts, next_at, last_ok, last_error, created_at, updated_at
         FROM outbox WHERE status IN ('pending', 'running') AND next_at <= ?1 ORDER BY next_at, id LIMIT ?2";
    OUTBOX_CLAIM(Access::Point) =
        "UPDATE outbox SET status = 'running', next_at = ?3, updated_at = ?4
         WHERE id = ?1 AND step = ?2 AND status IN ('pending', 'running') AND next_at <= ?4";
    OUTBOX_COUNT(Access::Bulk) = "SELECT COUNT(*) FROM outbox WHERE status = ?1";
    OUTBOX_NEXT_DUE(Access::Bulk) =
        "SELECT MIN(next_at) FROM outbox WHERE status IN ('pending', 'running')";
    OUTBOX_ITEM(Access::Point) =
        "SELECT id, orchestration, mapping, hr_key, dn, event, step, status, attempts, next_at, last_ok, last_error, created_at, updated_at
         FROM outbox WHERE id = ?1";
    OUTBOX_LIST(Access::Newest) =
        "SELECT id, orchestration, mapping, hr_key, dn, event, step, status, attempts, next_at, last_ok, last_error, created_at, updated_at
         FROM outbox WHERE id < ?1 ORDER BY id DESC LIMIT ?2";
    /// One person's orchestration instances (`hrsync explain`).
    OUTBOX_OF_PERSON(Access::Newest) =
        "SELECT id, orchestration, mapping, hr_key, dn, event, step, status, attempts, next_at, last_ok, last_error, created_at, updated_at
         FROM outbox WHERE mapping = ?1 AND hr_key = ?2 ORDER BY id DESC LIMIT ?3";
    OUTBOX_LIST_STATUS(Access::Newest) =
        "SELECT id, orchestration, mapping, hr_key, dn, event, step, status, attempts, next_at, last_ok, last_error, created_at, updated_at
         FROM outbox WHERE status = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3";
    OUTBOX_STEP_DONE(Access::Point) =
        "UPDATE outbox SET step = ?2, status = ?3, attempts = 0, next_at = ?4, last_ok = ?5,
         last_error = CASE WHEN ?5 THEN NULL ELSE ?6 END, updated_at = ?7
         WHERE id = ?1 AND step = ?8 AND status IN ('pending', 'running')";
    OUTBOX_STEP_FAILED(Access::Point) =
        "UPDATE outbox SET attempts = attempts + 1, status = ?2, next_at = ?3, last_error = ?4, updated_at = ?5
         WHERE id = ?1 AND step = ?6 AND status IN ('pending', 'running')";
    OUTBOX_REPLAY(Access::Point) =
        "UPDATE outbox SET status = 'pending', attempts = 0, next_at = ?2, updated_at = ?2
         WHERE id = ?1 AND status = 'dead'";
    OUTBOX_CANCEL(Access::Point) =
        "UPDATE outbox SET status = 'cancelled', last_error = ?3, updated_at = ?2
         WHERE id = ?1 AND (status IN ('pending', 'dead') OR (status = 'running' AND next_at <= ?2))";
    STEP_LOG_OF(Access::Bulk) =
        "SELECT step, attempt, at, ok, detail FROM step_log WHERE outbox_id = ?1 ORDER BY id";
    DELIVERY_INSERT(Access::Point) =
        "INSERT INTO deliveries (webhook, hr_key, outbox_id, step, at, ok, status, attempts, duration_ms, delivery_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
    DELIVERIES_LIST(Access::Newest) =
        "SELECT id, webhook, hr_key, outbox_id, step, at, ok, status, attempts, duration_ms, delivery_json
         FROM deliveries WHERE id < ?1 ORDER BY id DESC LIMIT ?2";
    DELIVERIES_OF_WEBHOOK(Access::Newest) =
        "SELECT id, webhook, hr_key, outbox_id, step, at, ok, status, attempts, duration_ms, delivery_json
         FROM deliveries WHERE webhook = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3";

    // ---- who may do what: sessions, API tokens, failed sign-ins ------------------------------
    SESSION_INSERT(Access::Point) =
        "INSERT INTO auth_sessions (id_hash, user_name, user_dn, role, origin, csrf_token, created_at, last_seen, source)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)";
    SESSION_GET(Access::Point) =
        "SELECT user_name, user_dn, role, origin, csrf_token, created_at, last_seen, source
         FROM auth_sessions WHERE id_hash = ?1";
    SESSION_TOUCH(Access::Point) =
        "UPDATE auth_sessions SET last_seen = ?2 WHERE id_hash = ?1 AND last_seen < ?2";
    SESSION_DELETE(Access::Point) = "DELETE FROM auth_sessions WHERE id_hash = ?1";
    SESSIONS_DELETE_OF_USER(Access::Bulk) = "DELETE FROM auth_sessions WHERE user_name = ?1";
    SESSIONS_PURGE_IDLE(Access::Bulk) = "DELETE FROM auth_sessions WHERE last_seen < ?1";
    SESSIONS_PURGE_OLD(Access::Bulk) = "DELETE FROM auth_sessions WHERE created_at < ?1";
    API_TOKEN_INSERT(Access::Point) =
        "INSERT INTO api_tokens (name, secret_hash, role, created_at, created_by, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    API_TOKEN_LIVE_BY_NAME(Access::Point) =
        "SELECT id FROM api_tokens WHERE name = ?1 AND revoked_at IS NULL";
    API_TOKEN_BY_HASH(Access::Point) =
        "SELECT id, name, role, created_at, created_by, expires_at, last_used, revoked_at, revoked_by
         FROM api_tokens WHERE secret_hash = ?1";
    API_TOKEN_USED(Access::Point) = "UPDATE api_tokens SET last_used = ?2 WHERE id = ?1";
    API_TOKEN_REVOKE(Access::Point) =
        "UPDATE api_tokens SET revoked_at = ?2, revoked_by = ?3 WHERE id = ?1 AND revoked_at IS NULL";
    API_TOKENS_LIST(Access::Bulk) =
        "SELECT id, name, role, created_at, created_by, expires_at, last_used, revoked_at, revoked_by
         FROM api_tokens ORDER BY id";
    LOGIN_FAILURE_GET(Access::Point) =
        "SELECT failures, first_failure, locked_until FROM login_failures WHERE kind = ?1 AND key = ?2";
    LOGIN_FAILURE_PUT(Access::Point) =
        "INSERT INTO login_failures (kind, key, failures, first_failure, locked_until) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (kind, key) DO UPDATE SET failures = ?3, first_failure = ?4, locked_until = ?5";
    LOGIN_FAILURE_CLEAR(Access::Point) = "DELETE FROM login_failures WHERE kind = ?1 AND key = ?2";
    LOGIN_FAILURES_PURGE(Access::Bulk) =
        "DELETE FROM login_failures WHERE first_failure < ?1 AND (locked_until IS NULL OR locked_until < ?2)";

    // ---- the configuration's history ----------------------------------------------------------
    CONFIG_HISTORY_INSERT(Access::Point) =
        "INSERT INTO config_history (at, operator, source, path, hash_before, hash_after, kind, diff, text, comment)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
    CONFIG_HISTORY_GET(Access::Point) =
        "SELECT id, at, operator, source, path, hash_before, hash_after, kind, comment, diff, text
         FROM config_history WHERE id = ?1";
    CONFIG_HISTORY_LAST_OF_PATH(Access::Newest) =
        "SELECT id, at, operator, source, path, hash_before, hash_after, kind, comment, diff, text
         FROM config_history WHERE path = ?1 ORDER BY id DESC LIMIT 1";
    CONFIG_HISTORY_LAST_ID_OF_PATH(Access::Newest) =
        "SELECT id FROM config_history WHERE path = ?1 ORDER BY id DESC LIMIT 1";
    CONFIG_HISTORY_LIST(Access::Newest) =
        "SELECT id, at, operator, source, path, hash_before, hash_after, kind, comment
         FROM config_history WHERE id < ?1 ORDER BY id DESC LIMIT ?2";
    CONFIG_HISTORY_LIST_OF_PATH(Access::Newest) =
        "SELECT id, at, operator, source, path, hash_before, hash_after, kind, comment
         FROM config_history WHERE path = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3";

    // ---- secret-leak tests ------------------------------------------------------------------
    DUMP_RUNS(Access::All("dump_text: every text of the database, for secret-leak tests")) =
        "SELECT COALESCE(plan_json,'') || COALESCE(summary_json,'') || COALESCE(error,'') || mapping FROM runs";
    DUMP_CHANGES(Access::All("dump_text: every text of the database, for secret-leak tests")) =
        "SELECT attrs_json || message || reason || dn || COALESCE(operator, '') FROM changes";
    DUMP_LINKS(Access::All("dump_text: every text of the database, for secret-leak tests")) =
        "SELECT hr_key || dn || COALESCE(uuid,'') FROM links";
    DUMP_PLAN_CHANGES(Access::All("dump_text: every text of the database, for secret-leak tests")) =
        "SELECT change_json FROM plan_changes";
    DUMP_INTENTS(Access::All("dump_text: every text of the database, for secret-leak tests")) =
        "SELECT COALESCE(change_json, '') FROM intents";
    DUMP_CONFIG_HISTORY(Access::All("dump_text: every text of the database, for secret-leak tests")) =
        "SELECT diff || text || operator || COALESCE(comment, '') || COALESCE(source, '') FROM config_history";
}
