//! The audit: every attempted change, append-only.

use crate::{AppliedChange, AuditRow, DirectoryWrite, Result, Store, sql};
use chrono::{DateTime, Utc};
use rusqlite::params;

fn audit_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRow> {
    audit_row_from(r, 0)
}

/// An audit row whose columns start at `o` (after the id, in the paged list).
fn audit_row_from(r: &rusqlite::Row<'_>, o: usize) -> rusqlite::Result<AuditRow> {
    let attrs: String = r.get(o + 7)?;
    Ok(AuditRow {
        run_id: r.get::<_, Option<i64>>(o)?.unwrap_or(0),
        seq: r.get(o + 1)?,
        hr_key: r.get(o + 2)?,
        kind: r.get(o + 3)?,
        dn: r.get(o + 4)?,
        new_dn: r.get(o + 5)?,
        reason: r.get(o + 6)?,
        attrs: serde_json::from_str(&attrs).unwrap_or(serde_json::Value::Null),
        ok: r.get(o + 8)?,
        rc: r.get(o + 9)?,
        message: r.get(o + 10)?,
        at: r.get(o + 11)?,
        mapping: r.get(o + 12)?,
        trigger: r.get(o + 13)?,
        operator: r.get(o + 14)?,
        outbox_id: r.get(o + 15)?,
    })
}

/// The filters of [`Store::audit_page`]; None: no filter.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter<'a> {
    /// One person (HR key).
    pub person: Option<&'a str>,
    /// One kind of change (`create`, `update`, `disable`, …).
    pub kind: Option<&'a str>,
    /// Only the changes that succeeded (true) or failed (false).
    pub ok: Option<bool>,
    pub mapping: Option<&'a str>,
    /// Changes at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Changes before this time.
    pub until: Option<DateTime<Utc>>,
    /// One run's changes.
    pub run: Option<i64>,
}

/// A time as the audit's `at` compares with it (RFC 3339, `+00:00`: the audit writes
/// `to_rfc3339`, whose fraction of a second, when there is one, sorts after the whole second).
fn audit_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
}

impl Store {
    /// The audit filtered, newest first: `limit` rows with an id below `before` (the cursor),
    /// each with its id. The most selective filter given picks the index read (a run, a
    /// person, the failures, a kind, a mapping), so a page costs about its size, not the
    /// audit's.
    pub fn audit_page(
        &self,
        f: &AuditFilter<'_>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<(i64, AuditRow)>> {
        let statement = if f.run.is_some() {
            sql::AUDIT_PAGE_OF_RUN
        } else if f.person.is_some() {
            sql::AUDIT_PAGE_OF_KEY
        } else if f.ok == Some(false) {
            sql::AUDIT_PAGE_FAILED
        } else if f.kind.is_some() {
            sql::AUDIT_PAGE_OF_KIND
        } else if f.mapping.is_some() {
            sql::AUDIT_PAGE_OF_MAPPING
        } else {
            sql::AUDIT_PAGE
        };
        let rows = self
            .conn
            .prepare_cached(statement)?
            .query_map(
                params![
                    before.unwrap_or(i64::MAX),
                    f.person,
                    f.kind,
                    f.ok,
                    f.mapping,
                    f.since.map(audit_time),
                    f.until.map(audit_time),
                    i64::try_from(limit).unwrap_or(i64::MAX),
                    f.run
                ],
                |r| Ok((r.get::<_, i64>(0)?, audit_row_from(r, 1)?)),
            )?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Appends applied changes to the audit in one transaction (each resolves its change's
    /// intent, see `record_intents`; a result recorded twice is audited once).
    pub fn record_changes(&mut self, run_id: i64, items: &[AppliedChange<'_>]) -> Result<()> {
        let tx = self.write()?;
        crate::intents::insert_results(&tx, run_id, items)?;
        tx.commit()?;
        Ok(())
    }

    /// Records a directory write made outside a run (an orchestration step), in the same
    /// audit as the changes of runs. Returns the audit row's id.
    pub fn record_write(&mut self, w: &DirectoryWrite<'_>) -> Result<i64> {
        let c = w.change;
        self.conn
            .prepare_cached(sql::CHANGE_INSERT_OUTSIDE_RUN)?
            .execute(params![
                w.outbox.map_or(0, |o| o.1),
                c.key,
                c.kind.as_str(),
                c.dn,
                c.new_dn,
                c.reason,
                serde_json::to_string(&c.attrs)?,
                w.ok,
                w.rc.map(i64::from),
                w.message,
                w.at.to_rfc3339(),
                w.mapping,
                w.trigger.as_str(),
                w.operator,
                w.outbox.map(|o| o.0)
            ])?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Audited changes: newest first (a run's changes in plan order), filtered by run and/or
    /// HR key. Writes outside a run (orchestration steps) have run id 0.
    pub fn audit(
        &self,
        run: Option<i64>,
        key: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditRow>> {
        let limit = limit as i64;
        let rows = match (run, key) {
            (None, None) => self
                .conn
                .prepare_cached(sql::AUDIT_ALL)?
                .query_map(params![limit], audit_row)?
                .collect::<std::result::Result<_, _>>()?,
            (Some(run), None) => self
                .conn
                .prepare_cached(sql::AUDIT_OF_RUN)?
                .query_map(params![run, limit], audit_row)?
                .collect::<std::result::Result<_, _>>()?,
            (None, Some(key)) => self
                .conn
                .prepare_cached(sql::AUDIT_OF_KEY)?
                .query_map(params![key, limit], audit_row)?
                .collect::<std::result::Result<_, _>>()?,
            (Some(run), Some(key)) => self
                .conn
                .prepare_cached(sql::AUDIT_OF_RUN_AND_KEY)?
                .query_map(params![run, key, limit], audit_row)?
                .collect::<std::result::Result<_, _>>()?,
        };
        Ok(rows)
    }

    /// Successful changes of one kind (`disable`, `delete`) a mapping applied since `since`.
    pub fn applied_since(&self, mapping: &str, kind: &str, since: DateTime<Utc>) -> Result<usize> {
        let n: i64 = self
            .conn
            .prepare_cached(sql::APPLIED_SINCE)?
            .query_row(params![mapping, kind, since.to_rfc3339()], |r| r.get(0))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Every text column of every table, for secret-leak tests.
    pub fn dump_text(&self) -> Result<String> {
        let mut out = String::new();
        for q in [
            sql::DUMP_RUNS,
            sql::DUMP_CHANGES,
            sql::DUMP_LINKS,
            sql::DUMP_PLAN_CHANGES,
            sql::DUMP_INTENTS,
            sql::DUMP_CONFIG_HISTORY,
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
