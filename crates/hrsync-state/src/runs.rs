//! Runs and their plans.

use crate::{Result, RunRow, Store, Trigger, process, sql};
use chrono::{DateTime, Utc};
use hrsync_model::Plan;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

impl Store {
    /// Starts a run (status `running`, owned by this process: see `recover_interrupted`),
    /// with the operator of this process and no trigger: prefer [`Store::start_run_as`].
    pub fn start_run(&self, command: &str, mapping: &str, at: DateTime<Utc>) -> Result<i64> {
        self.insert_run(command, mapping, None, &process::operator_name(), at)
    }

    /// Starts a run, recording what started it and who (its audit rows carry both).
    pub fn start_run_as(
        &self,
        command: &str,
        mapping: &str,
        trigger: Trigger,
        operator: &str,
        at: DateTime<Utc>,
    ) -> Result<i64> {
        self.insert_run(command, mapping, Some(trigger), operator, at)
    }

    fn insert_run(
        &self,
        command: &str,
        mapping: &str,
        trigger: Option<Trigger>,
        operator: &str,
        at: DateTime<Utc>,
    ) -> Result<i64> {
        self.conn.prepare_cached(sql::RUN_INSERT)?.execute(params![
            command,
            mapping,
            at.to_rfc3339(),
            process::owner_id(),
            trigger.map(Trigger::as_str),
            operator
        ])?;
        Ok(self.conn.last_insert_rowid())
    }

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
            managed: usize,
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            awaiting_approval: &'a [hrsync_model::Change],
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            stale: &'a [hrsync_model::StaleChange],
            #[serde(skip_serializing_if = "Option::is_none")]
            from_plan: Option<i64>,
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
                managed: plan.managed,
                awaiting_approval: &plan.awaiting_approval,
                stale: &plan.stale,
                from_plan: plan.from_plan,
            },
            changes: [],
        };
        let tx = self.write()?;
        tx.prepare_cached(sql::RUN_SAVE_PLAN)?.execute(params![
            run_id,
            serde_json::to_string(&header)?,
            plan.fetch.complete,
            plan.fetch.records as i64,
            serde_json::to_string(&plan.summary())?
        ])?;
        {
            let mut st = tx.prepare_cached(sql::PLAN_CHANGE_INSERT)?;
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
        self.conn
            .prepare_cached(sql::RUN_SET_BASELINE)?
            .execute(params![run_id, records as i64])?;
        Ok(())
    }

    /// The record count of the mapping's last baseline fetch, if any.
    pub fn baseline(&self, mapping: &str) -> Result<Option<usize>> {
        let n: Option<i64> = self
            .conn
            .prepare_cached(sql::RUN_BASELINE)?
            .query_row(params![mapping], |r| r.get(0))
            .optional()?;
        Ok(n.map(|n| n.max(0) as usize))
    }

    /// When the mapping's last clean apply started (complete fetch, every change applied, no
    /// finding: a person held back by a finding must come back in the next incremental
    /// fetch): the basis of `{lastRunTime}`.
    pub fn last_sync_start(&self, mapping: &str) -> Result<Option<DateTime<Utc>>> {
        let s: Option<String> = self
            .conn
            .prepare_cached(sql::RUN_LAST_SYNC_START)?
            .query_row(params![mapping], |r| r.get(0))
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
        let error = error.map(hrsync_model::text::clip_message);
        self.conn.prepare_cached(sql::RUN_FINISH)?.execute(params![
            run_id,
            status,
            error.as_deref(),
            at.to_rfc3339()
        ])?;
        Ok(())
    }

    pub fn runs(&self, limit: usize) -> Result<Vec<RunRow>> {
        self.runs_page(None, None, None, limit)
    }

    /// Runs newest first, of one mapping and/or with one status, `limit` of them with an id
    /// below `before` (the cursor).
    pub fn runs_page(
        &self,
        mapping: Option<&str>,
        status: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<RunRow>> {
        let mut st = self.conn.prepare_cached(sql::RUNS_LIST)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let before = before.unwrap_or(i64::MAX);
        let rows = st.query_map(params![before, mapping, status, limit], run_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// One run.
    pub fn run(&self, id: i64) -> Result<Option<RunRow>> {
        Ok(self
            .conn
            .prepare_cached(sql::RUN_GET)?
            .query_row(params![id], run_row)
            .optional()?)
    }

    /// The stored plan of a run.
    pub fn plan_of(&self, run_id: i64) -> Result<Option<Plan>> {
        let s: Option<Option<String>> = self
            .conn
            .prepare_cached(sql::RUN_PLAN_JSON)?
            .query_row(params![run_id], |r| r.get(0))
            .optional()?;
        let Some(header) = s.flatten() else {
            return Ok(None);
        };
        let mut plan: Plan = serde_json::from_str(&header)?;
        let mut st = self.conn.prepare_cached(sql::PLAN_CHANGES_OF_RUN)?;
        let rows = st.query_map(params![run_id], |r| r.get::<_, String>(0))?;
        for r in rows {
            plan.changes.push(serde_json::from_str(&r?)?);
        }
        Ok(Some(plan))
    }
}

/// A row of `RUNS_LIST` or `RUN_GET`.
fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRow> {
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
        owner: r.get(10)?,
        trigger: r.get(11)?,
        operator: r.get(12)?,
    })
}
