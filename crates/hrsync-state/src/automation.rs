//! What the daemon keeps: scheduled automations (last/next run and the run lock), inbound HR
//! events (for de-duplication), the orchestration outbox (durable steps) and the webhook
//! delivery log.

use super::{Result, Store, sql};
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params, params_from_iter};
use serde::Serialize;

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse(s: Option<String>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|d| d.with_timezone(&Utc))
}

/// A scheduled automation's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AutomationRow {
    pub name: String,
    pub last_start: Option<DateTime<Utc>>,
    pub last_finish: Option<DateTime<Utc>>,
    pub last_status: Option<String>,
    pub last_run_id: Option<i64>,
    pub next_run: Option<DateTime<Utc>>,
    /// Set while a run holds the automation's lock.
    pub running_since: Option<DateTime<Utc>>,
    pub running_owner: Option<String>,
}

/// One orchestration instance: a template applied to one person, step by step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub orchestration: String,
    pub mapping: String,
    pub hr_key: String,
    pub dn: String,
    pub event: String,
    /// The next step to run (0-based).
    pub step: i64,
    /// `pending`, `running` (a worker holds its step until `next_at`), `done`, `dead` (failed
    /// for good: the dead-letter list) or `cancelled` (by `hrsync orchestrate cancel`).
    pub status: String,
    /// Failed attempts of the current step.
    pub attempts: i64,
    pub next_at: Option<DateTime<Utc>>,
    /// The previous step's result (for `when` conditions).
    pub last_ok: bool,
    pub last_error: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// One line of an orchestration's step log: (step, attempt, at, ok, detail).
pub type StepLog = (i64, i64, String, bool, String);

/// A step finished (well, or badly but with `on_error = "continue"`).
#[derive(Debug, Clone)]
pub struct StepDone {
    pub step: i64,
    pub ok: bool,
    pub detail: String,
    /// When the next step may run (a delay step puts it in the future).
    pub next_at: DateTime<Utc>,
    /// That was the last step.
    pub finished: bool,
}

/// What `Store::cancel` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancelled {
    /// Cancelled: none of its steps runs any more (it stopped before `step`).
    Done { step: i64 },
    /// No instance with that id.
    NotFound,
    /// It had finished (`done`) or was cancelled before (`cancelled`): nothing to cancel.
    Finished { status: String },
    /// A worker is running its step now (until `until` at the latest): try again after it.
    Running { until: Option<DateTime<Utc>> },
}

/// One webhook call, as logged.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRow {
    pub id: i64,
    pub webhook: String,
    pub hr_key: Option<String>,
    pub outbox_id: Option<i64>,
    pub step: Option<i64>,
    pub at: String,
    pub ok: bool,
    pub status: Option<i64>,
    pub attempts: i64,
    pub duration_ms: i64,
    /// The request (secrets redacted) and the response.
    pub delivery: serde_json::Value,
}

/// Appends one line to an orchestration's step log (attempt = failed attempts so far + 1).
fn log_step(
    tx: &rusqlite::Transaction<'_>,
    id: i64,
    step: i64,
    ok: bool,
    detail: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let n = tx.execute(sql::STEP_LOG_INSERT, params![id, step, ts(now), ok, detail])?;
    if n == 0 {
        return Err(rusqlite::Error::QueryReturnedNoRows.into());
    }
    Ok(())
}

pub(crate) fn outbox_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.get(0)?,
        orchestration: r.get(1)?,
        mapping: r.get(2)?,
        hr_key: r.get(3)?,
        dn: r.get(4)?,
        event: r.get(5)?,
        step: r.get(6)?,
        status: r.get(7)?,
        attempts: r.get(8)?,
        next_at: parse(r.get(9)?),
        last_ok: r.get::<_, i64>(10)? != 0,
        last_error: r.get(11)?,
        created_at: parse(r.get(12)?),
        updated_at: parse(r.get(13)?),
    })
}

impl Store {
    /// Every automation with state, by name.
    pub fn automations(&self) -> Result<Vec<AutomationRow>> {
        let mut st = self.conn.prepare(sql::AUTOMATIONS_LIST)?;
        let rows = st.query_map([], |r| {
            Ok(AutomationRow {
                name: r.get(0)?,
                last_start: parse(r.get(1)?),
                last_finish: parse(r.get(2)?),
                last_status: r.get(3)?,
                last_run_id: r.get(4)?,
                next_run: parse(r.get(5)?),
                running_since: parse(r.get(6)?),
                running_owner: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    pub fn automation(&self, name: &str) -> Result<Option<AutomationRow>> {
        Ok(self.automations()?.into_iter().find(|a| a.name == name))
    }

    /// Takes an automation's run lock. False when another run holds it (one run at a time per
    /// automation); a lock older than `stale` (a crashed process) is taken over.
    pub fn try_lock_automation(
        &mut self,
        name: &str,
        owner: &str,
        now: DateTime<Utc>,
        stale: chrono::Duration,
    ) -> Result<bool> {
        let tx = self.write()?;
        tx.execute(sql::AUTOMATION_ENSURE, params![name])?;
        let n = tx.execute(
            sql::AUTOMATION_LOCK,
            params![name, ts(now), owner, ts(now - stale)],
        )?;
        tx.commit()?;
        Ok(n == 1)
    }

    /// Records a finished (or refused) run, releases the lock and stores the next run time.
    #[allow(clippy::too_many_arguments)]
    pub fn finish_automation(
        &mut self,
        name: &str,
        status: &str,
        run_id: Option<i64>,
        started: DateTime<Utc>,
        finished: DateTime<Utc>,
        next_run: Option<DateTime<Utc>>,
    ) -> Result<()> {
        self.conn.execute(sql::AUTOMATION_ENSURE, params![name])?;
        self.conn.execute(
            sql::AUTOMATION_FINISH,
            params![
                name,
                ts(started),
                ts(finished),
                status,
                run_id,
                next_run.map(ts)
            ],
        )?;
        Ok(())
    }

    /// Releases a run lock (its holder died, or the run is over).
    pub fn release_lock(&mut self, name: &str) -> Result<()> {
        self.conn.execute(sql::AUTOMATION_RELEASE, params![name])?;
        Ok(())
    }

    /// Stores when an automation runs next.
    pub fn set_next_run(&mut self, name: &str, next: Option<DateTime<Utc>>) -> Result<()> {
        self.conn
            .execute(sql::AUTOMATION_SET_NEXT, params![name, next.map(ts)])?;
        Ok(())
    }

    /// Records an inbound HR event; false when this id was seen before (a replay or a
    /// duplicate delivery), which is then not acted on. An event whose run failed may be
    /// delivered again: it is accepted again.
    pub fn record_event(
        &mut self,
        integration: &str,
        event_id: &str,
        hr_key: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let n = self.conn.execute(
            sql::EVENT_RECORD,
            params![integration, event_id, ts(now), hr_key],
        )?;
        Ok(n == 1)
    }

    /// Forgets an event that could not be queued (so a re-delivery is accepted).
    pub fn forget_event(&mut self, integration: &str, event_id: &str) -> Result<()> {
        self.conn
            .execute(sql::EVENT_FORGET, params![integration, event_id])?;
        Ok(())
    }

    /// Events accepted but not yet processed (the daemon stopped first): (id, employee).
    pub fn unfinished_events(&self, integration: &str) -> Result<Vec<(String, Option<String>)>> {
        let mut st = self.conn.prepare(sql::EVENTS_UNFINISHED)?;
        let rows = st.query_map(params![integration], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// An event's status (`received`, `applied`, a run status, `failed: …`) and its run.
    pub fn event_status(
        &self,
        integration: &str,
        event_id: &str,
    ) -> Result<Option<(String, Option<i64>)>> {
        Ok(self
            .conn
            .prepare_cached(sql::EVENT_STATUS)?
            .query_row(params![integration, event_id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
    }

    pub fn finish_event(
        &mut self,
        integration: &str,
        event_id: &str,
        status: &str,
        run_id: Option<i64>,
    ) -> Result<()> {
        // A failure's message can carry what a hostile event sent: stored cut to a sane length.
        let status = hrsync_model::text::clip_message(status);
        self.conn.execute(
            sql::EVENT_FINISH,
            params![integration, event_id, status.as_ref(), run_id],
        )?;
        Ok(())
    }

    /// Puts an orchestration for one person in the outbox; returns its id.
    pub fn enqueue(
        &mut self,
        orchestration: &str,
        mapping: &str,
        hr_key: &str,
        dn: &str,
        event: &str,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        self.conn.execute(
            sql::OUTBOX_INSERT,
            params![orchestration, mapping, hr_key, dn, event, ts(now)],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Orchestrations whose next step is due, oldest first: pending ones, and running ones
    /// whose worker's lease ran out (it died mid-step).
    pub fn due_outbox(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxRow>> {
        let mut st = self.conn.prepare_cached(sql::OUTBOX_DUE)?;
        let rows = st.query_map(params![ts(now), limit as i64], outbox_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Claims the next step of an instance for one worker until `lease_until`; false when
    /// another worker has it (or it moved on). Two workers never run the same step at once.
    pub fn claim(
        &mut self,
        id: i64,
        step: i64,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let n = self.conn.execute(
            sql::OUTBOX_CLAIM,
            params![id, step, ts(lease_until), ts(now)],
        )?;
        Ok(n == 1)
    }

    /// How many orchestrations have this status.
    pub fn count_outbox(&self, status: &str) -> Result<usize> {
        let n: i64 = self
            .conn
            .query_row(sql::OUTBOX_COUNT, params![status], |r| r.get(0))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// The soonest time a pending step is due.
    pub fn next_due(&self) -> Result<Option<DateTime<Utc>>> {
        let v: Option<String> = self
            .conn
            .query_row(sql::OUTBOX_NEXT_DUE, [], |r| r.get(0))
            .optional()?
            .flatten();
        Ok(parse(v))
    }

    pub fn outbox_item(&self, id: i64) -> Result<Option<OutboxRow>> {
        Ok(self
            .conn
            .prepare_cached(sql::OUTBOX_ITEM)?
            .query_row(params![id], outbox_row)
            .optional()?)
    }

    /// Outbox rows, newest first; only `status` when given (`dead` = the dead-letter list).
    pub fn outbox(&self, status: Option<&str>, limit: usize) -> Result<Vec<OutboxRow>> {
        self.outbox_page(status, None, limit)
    }

    /// Outbox rows newest first (only `status` when given), `limit` of them with an id below
    /// `before` (the cursor).
    pub fn outbox_page(
        &self,
        status: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<OutboxRow>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let before = before.unwrap_or(i64::MAX);
        let rows = match status {
            Some(s) => self
                .conn
                .prepare_cached(sql::OUTBOX_LIST_STATUS)?
                .query_map(params![s, before, limit], outbox_row)?
                .collect::<std::result::Result<_, _>>()?,
            None => self
                .conn
                .prepare_cached(sql::OUTBOX_LIST)?
                .query_map(params![before, limit], outbox_row)?
                .collect::<std::result::Result<_, _>>()?,
        };
        Ok(rows)
    }

    /// A step finished: logged and the orchestration advanced, in one transaction (a crash
    /// before the commit runs the step again; after it, never).
    pub fn step_done(&mut self, id: i64, d: &StepDone, now: DateTime<Utc>) -> Result<()> {
        let tx = self.write()?;
        log_step(&tx, id, d.step, d.ok, &d.detail, now)?;
        tx.execute(
            sql::OUTBOX_STEP_DONE,
            params![
                id,
                d.step + 1,
                if d.finished { "done" } else { "pending" },
                ts(d.next_at),
                d.ok,
                d.detail,
                ts(now),
                d.step
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// A step failed: logged; retried at `retry_at`, or (None) the orchestration goes to the
    /// dead-letter list.
    pub fn step_failed(
        &mut self,
        id: i64,
        step: i64,
        detail: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self.write()?;
        log_step(&tx, id, step, false, detail, now)?;
        tx.execute(
            sql::OUTBOX_STEP_FAILED,
            params![
                id,
                if retry_at.is_some() {
                    "pending"
                } else {
                    "dead"
                },
                ts(retry_at.unwrap_or(now)),
                detail,
                ts(now),
                step
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Puts a dead orchestration back in the queue at the step that failed.
    pub fn replay(&mut self, id: i64, now: DateTime<Utc>) -> Result<bool> {
        let n = self
            .conn
            .execute(sql::OUTBOX_REPLAY, params![id, ts(now)])?;
        Ok(n == 1)
    }

    /// Cancels a pending or dead instance (or one whose worker died mid-step): none of its
    /// steps runs any more, and its step log says who cancelled it. A finished instance, or one
    /// a live worker is running a step of, is left as it is (see [`Cancelled`]).
    pub fn cancel(&mut self, id: i64, by: &str, now: DateTime<Utc>) -> Result<Cancelled> {
        let tx = self.write()?;
        let row = tx
            .prepare_cached(sql::OUTBOX_ITEM)?
            .query_row(params![id], outbox_row)
            .optional()?;
        let Some(row) = row else {
            return Ok(Cancelled::NotFound);
        };
        match row.status.as_str() {
            "done" | "cancelled" => return Ok(Cancelled::Finished { status: row.status }),
            "running" if row.next_at.is_none_or(|t| t > now) => {
                return Ok(Cancelled::Running { until: row.next_at });
            }
            _ => {}
        }
        let detail = format!(
            "cancelled by {by} (was {}): no further step runs",
            row.status
        );
        log_step(&tx, id, row.step, false, &detail, now)?;
        let n = tx.execute(sql::OUTBOX_CANCEL, params![id, ts(now), detail])?;
        if n != 1 {
            // Changed between the read and the update: cannot happen inside the transaction,
            // but never record a cancel that did not take.
            return Ok(Cancelled::Finished { status: row.status });
        }
        tx.commit()?;
        Ok(Cancelled::Done { step: row.step })
    }

    /// The step log of one orchestration: (step, attempt, at, ok, detail).
    pub fn step_log(&self, id: i64) -> Result<Vec<StepLog>> {
        let mut st = self.conn.prepare(sql::STEP_LOG_OF)?;
        let rows = st.query_map(params![id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Logs one webhook call (the request is already redacted by the caller).
    #[allow(clippy::too_many_arguments)]
    pub fn record_delivery(
        &mut self,
        webhook: &str,
        hr_key: Option<&str>,
        outbox: Option<(i64, i64)>,
        ok: bool,
        status: Option<u16>,
        attempts: u32,
        duration_ms: u64,
        delivery: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.conn.execute(
            sql::DELIVERY_INSERT,
            params![
                webhook,
                hr_key,
                outbox.map(|o| o.0),
                outbox.map(|o| o.1),
                ts(at),
                ok,
                status,
                attempts,
                duration_ms as i64,
                serde_json::to_string(delivery)?
            ],
        )?;
        Ok(())
    }

    /// The delivery log, newest first.
    pub fn deliveries(&self, webhook: Option<&str>, limit: usize) -> Result<Vec<DeliveryRow>> {
        self.deliveries_page(webhook, None, limit)
    }

    /// The delivery log newest first (of one webhook when given), `limit` rows with an id
    /// below `before` (the cursor).
    pub fn deliveries_page(
        &self,
        webhook: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<DeliveryRow>> {
        let mut st = self.conn.prepare_cached(match webhook {
            Some(_) => sql::DELIVERIES_OF_WEBHOOK,
            None => sql::DELIVERIES_LIST,
        })?;
        let limit = rusqlite::types::Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX));
        let before = rusqlite::types::Value::Integer(before.unwrap_or(i64::MAX));
        let p = match webhook {
            Some(w) => params_from_iter(vec![
                rusqlite::types::Value::Text(w.to_string()),
                before,
                limit,
            ]),
            None => params_from_iter(vec![before, limit]),
        };
        let rows = st.query_map(p, |r| {
            Ok((
                DeliveryRow {
                    id: r.get(0)?,
                    webhook: r.get(1)?,
                    hr_key: r.get(2)?,
                    outbox_id: r.get(3)?,
                    step: r.get(4)?,
                    at: r.get(5)?,
                    ok: r.get::<_, i64>(6)? != 0,
                    status: r.get(7)?,
                    attempts: r.get(8)?,
                    duration_ms: r.get(9)?,
                    delivery: serde_json::Value::Null,
                },
                r.get::<_, String>(10)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (mut d, json) = row?;
            d.delivery = serde_json::from_str(&json)?;
            out.push(d);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn one_run_at_a_time_and_stale_locks_are_taken_over() {
        let mut s = Store::in_memory().unwrap();
        let stale = chrono::Duration::hours(1);
        assert!(s.try_lock_automation("a", "p1", at(0), stale).unwrap());
        assert!(!s.try_lock_automation("a", "p2", at(10), stale).unwrap());
        assert!(s.try_lock_automation("b", "p2", at(10), stale).unwrap());
        s.finish_automation("a", "ok", Some(3), at(0), at(20), Some(at(60)))
            .unwrap();
        let a = s.automation("a").unwrap().unwrap();
        assert_eq!(a.next_run, Some(at(60)));
        assert!(a.running_since.is_none());
        assert!(s.try_lock_automation("a", "p2", at(30), stale).unwrap());
        // p2 crashed holding the lock: after `stale`, it is taken over.
        assert!(!s.try_lock_automation("a", "p3", at(100), stale).unwrap());
        assert!(s.try_lock_automation("a", "p3", at(4000), stale).unwrap());
    }

    #[test]
    fn events_are_recorded_once() {
        let mut s = Store::in_memory().unwrap();
        assert!(s.record_event("hr", "e1", Some("7"), at(0)).unwrap());
        assert!(!s.record_event("hr", "e1", Some("7"), at(1)).unwrap());
        assert!(s.record_event("other", "e1", None, at(1)).unwrap());
        assert_eq!(
            s.unfinished_events("hr").unwrap(),
            vec![("e1".to_string(), Some("7".to_string()))]
        );
        // A failed run: the HR system may deliver it again, and it is accepted.
        s.finish_event("hr", "e1", "failed: HR down", None).unwrap();
        assert!(s.unfinished_events("hr").unwrap().is_empty());
        assert!(s.record_event("hr", "e1", Some("7"), at(2)).unwrap());
        s.finish_event("hr", "e1", "applied", Some(4)).unwrap();
        assert!(!s.record_event("hr", "e1", Some("7"), at(3)).unwrap());
        // Not queued (shutting down): forgotten, so a re-delivery counts.
        assert!(s.record_event("hr", "e9", None, at(3)).unwrap());
        s.forget_event("hr", "e9").unwrap();
        assert!(s.record_event("hr", "e9", None, at(4)).unwrap());
    }

    #[test]
    fn steps_advance_once_and_failures_go_to_the_dead_letter_list() {
        let mut s = Store::in_memory().unwrap();
        let id = s
            .enqueue("welcome", "staff", "7", "uid=a", "created", at(0))
            .unwrap();
        assert_eq!(s.due_outbox(at(0), 10).unwrap().len(), 1);
        assert_eq!(s.count_outbox("pending").unwrap(), 1);
        // One worker claims step 0; a second cannot, until the first one's lease runs out.
        assert!(s.claim(id, 0, at(600), at(0)).unwrap());
        assert!(!s.claim(id, 0, at(600), at(1)).unwrap());
        assert!(s.due_outbox(at(1), 10).unwrap().is_empty());
        assert_eq!(
            s.due_outbox(at(601), 10).unwrap().len(),
            1,
            "lease over: due again"
        );
        let done = |step, finished, next| StepDone {
            step,
            ok: true,
            detail: "ok".into(),
            next_at: next,
            finished,
        };
        s.step_done(id, &done(0, false, at(50)), at(1)).unwrap();
        // A second completion of step 0 (a worker that ran it twice) changes nothing.
        s.step_done(id, &done(0, false, at(1)), at(2)).unwrap();
        let row = s.outbox_item(id).unwrap().unwrap();
        assert_eq!((row.step, row.next_at), (1, Some(at(50))));
        assert!(s.due_outbox(at(10), 10).unwrap().is_empty(), "delayed");
        s.step_failed(id, 1, "HTTP 500", Some(at(60)), at(55))
            .unwrap();
        s.step_failed(id, 1, "HTTP 500", None, at(61)).unwrap();
        let row = s.outbox_item(id).unwrap().unwrap();
        assert_eq!(row.status, "dead");
        assert_eq!(s.outbox(Some("dead"), 10).unwrap().len(), 1);
        assert!(s.replay(id, at(70)).unwrap());
        s.step_done(id, &done(1, true, at(71)), at(71)).unwrap();
        let row = s.outbox_item(id).unwrap().unwrap();
        assert_eq!((row.status.as_str(), row.step), ("done", 2));
        assert_eq!(s.step_log(id).unwrap().len(), 5);
    }

    #[test]
    fn cancel_stops_pending_and_dead_instances_and_refuses_finished_or_running_ones() {
        let mut s = Store::in_memory().unwrap();
        let pending = s
            .enqueue("welcome", "staff", "7", "uid=a", "created", at(0))
            .unwrap();
        assert_eq!(
            s.cancel(pending, "alice", at(1)).unwrap(),
            Cancelled::Done { step: 0 }
        );
        let row = s.outbox_item(pending).unwrap().unwrap();
        assert_eq!(row.status, "cancelled");
        assert!(s.due_outbox(at(10), 10).unwrap().is_empty(), "never runs");
        let log = s.step_log(pending).unwrap();
        assert_eq!(log.len(), 1);
        assert!(
            log[0].4.contains("cancelled by alice (was pending)"),
            "{log:?}"
        );
        // Twice: nothing to do, said so.
        assert_eq!(
            s.cancel(pending, "alice", at(2)).unwrap(),
            Cancelled::Finished {
                status: "cancelled".into()
            }
        );
        assert_eq!(s.cancel(999, "alice", at(2)).unwrap(), Cancelled::NotFound);

        // A dead instance can be cancelled (instead of replayed).
        let dead = s
            .enqueue("welcome", "staff", "8", "uid=b", "created", at(0))
            .unwrap();
        s.step_failed(dead, 0, "HTTP 500", None, at(1)).unwrap();
        assert_eq!(
            s.cancel(dead, "bob", at(2)).unwrap(),
            Cancelled::Done { step: 0 }
        );
        assert!(
            !s.replay(dead, at(3)).unwrap(),
            "a cancelled instance is not replayed"
        );

        // Running: refused while the worker's lease lasts, taken after (the worker died).
        let run = s
            .enqueue("welcome", "staff", "9", "uid=c", "created", at(0))
            .unwrap();
        assert!(s.claim(run, 0, at(600), at(0)).unwrap());
        assert_eq!(
            s.cancel(run, "carol", at(10)).unwrap(),
            Cancelled::Running {
                until: Some(at(600))
            }
        );
        assert_eq!(
            s.cancel(run, "carol", at(601)).unwrap(),
            Cancelled::Done { step: 0 }
        );
        // A worker that still finishes the step does not revive it.
        s.step_done(
            run,
            &StepDone {
                step: 0,
                ok: true,
                detail: "ok".into(),
                next_at: at(602),
                finished: false,
            },
            at(602),
        )
        .unwrap();
        assert_eq!(s.outbox_item(run).unwrap().unwrap().status, "cancelled");

        // A finished one is refused.
        let done = s
            .enqueue("welcome", "staff", "10", "uid=d", "created", at(0))
            .unwrap();
        assert!(s.claim(done, 0, at(600), at(0)).unwrap());
        s.step_done(
            done,
            &StepDone {
                step: 0,
                ok: true,
                detail: "ok".into(),
                next_at: at(1),
                finished: true,
            },
            at(1),
        )
        .unwrap();
        assert_eq!(
            s.cancel(done, "dave", at(2)).unwrap(),
            Cancelled::Finished {
                status: "done".into()
            }
        );
        assert_eq!(s.step_log(done).unwrap().len(), 1, "nothing logged");
    }
}
