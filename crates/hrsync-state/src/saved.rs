//! Saved plans (issue 14 §1-2): a run's stored plan kept for a later `apply --plan`, what each
//! of its changes assumed about HR, and the approval decisions on it.
//!
//! A plan's items are addressed by the part of the plan they sit in (`change`: the plan's
//! changes, by their `seq` in `plan_changes`; `held`: held by a threshold; `approval`: waiting
//! for an approval, both in the plan header) and their index there.

use crate::{Result, Store, sql};
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

/// A saved plan: the run whose plan it is, and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SavedPlanRow {
    /// The run that made the plan: the plan's id.
    pub run_id: i64,
    pub mapping: String,
    /// The fingerprint of the configuration the plan was made with (JSON, per part).
    pub config_fp: String,
    /// Who made the plan (the run's operator).
    pub saved_by: String,
    pub saved_at: String,
    pub expires_at: String,
    /// `open` (may be applied), `applied` (an `apply --plan` ran it), `rejected` (every item
    /// waiting for approval was rejected).
    pub status: String,
    /// The last run that applied (some of) it.
    pub applied_run: Option<i64>,
}

/// One change of a saved plan: what it assumed about HR, whether it needs an approval, the
/// decision, and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct PlanItem {
    /// `change`, `held` or `approval`.
    pub part: String,
    pub idx: i64,
    pub hr_key: String,
    pub kind: String,
    /// The HR record's fingerprint when planned (JSON: field → hash); None: not in HR.
    pub hr_fp: Option<String>,
    /// Why it needs an approval (the classes, e.g. `disable,move`); None: it does not.
    pub needs: Option<String>,
    /// `approved` or `rejected`.
    pub decision: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub comment: Option<String>,
    /// The run that applied it (or skipped it as stale).
    pub applied_run: Option<i64>,
    /// `applied`, `failed: …` or `stale: …`.
    pub outcome: Option<String>,
}

/// An approval decision on one item.
#[derive(Debug, Clone)]
pub struct Decision<'a> {
    pub part: &'a str,
    pub idx: i64,
    /// `approved` or `rejected`.
    pub decision: &'a str,
    pub by: &'a str,
    pub comment: Option<&'a str>,
}

fn saved_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SavedPlanRow> {
    Ok(SavedPlanRow {
        run_id: r.get(0)?,
        mapping: r.get(1)?,
        config_fp: r.get(2)?,
        saved_by: r.get(3)?,
        saved_at: r.get(4)?,
        expires_at: r.get(5)?,
        status: r.get(6)?,
        applied_run: r.get(7)?,
    })
}

impl Store {
    /// Makes run `row.run_id`'s stored plan a saved plan with these items (one transaction;
    /// saving again replaces the items' assumptions, keeping nothing of earlier decisions).
    /// This database's key for the HR fingerprints of saved plans (32 random bytes, made on
    /// first use; several processes asking at once get the same). Fingerprints are keyed so
    /// that a plan file's hashes cannot be matched against guessed values (a salary, a birth
    /// date) by anyone without the state database.
    pub fn fingerprint_key(&self) -> Result<Vec<u8>> {
        const NAME: &str = "fingerprint_key";
        let get = |s: &Store| -> Result<Option<Vec<u8>>> {
            Ok(s.conn
                .prepare_cached(sql::META_GET)?
                .query_row([NAME], |r| r.get(0))
                .optional()?)
        };
        if let Some(k) = get(self)? {
            return Ok(k);
        }
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| crate::StateError::Random(e.to_string()))?;
        self.conn
            .prepare_cached(sql::META_INSERT_NEW)?
            .execute(params![NAME, key.to_vec()])?;
        // Another process may have made it first: theirs is the key.
        get(self)?.ok_or_else(|| crate::StateError::Random("the key was not stored".into()))
    }

    pub fn save_saved_plan(&mut self, row: &SavedPlanRow, items: &[PlanItem]) -> Result<()> {
        let tx = self.write()?;
        tx.prepare_cached(sql::SAVED_PLAN_UPSERT)?.execute(params![
            row.run_id,
            row.mapping,
            row.config_fp,
            row.saved_by,
            row.saved_at,
            row.expires_at
        ])?;
        {
            let mut st = tx.prepare_cached(sql::PLAN_ITEM_INSERT)?;
            for i in items {
                st.execute(params![
                    row.run_id, i.part, i.idx, i.hr_key, i.kind, i.hr_fp, i.needs
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The saved plan of run `run_id`, if it is one.
    pub fn saved_plan(&self, run_id: i64) -> Result<Option<SavedPlanRow>> {
        Ok(self
            .conn
            .prepare_cached(sql::SAVED_PLAN_GET)?
            .query_row(params![run_id], saved_row)
            .optional()?)
    }

    /// Saved plans with this status (`open`, `applied`), oldest first.
    pub fn saved_plans(&self, status: &str) -> Result<Vec<SavedPlanRow>> {
        let mut st = self.conn.prepare_cached(sql::SAVED_PLANS_WITH_STATUS)?;
        let rows = st.query_map(params![status], saved_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Saved plans newest first, with one status and/or of one mapping, `limit` of them with
    /// an id below `before` (the cursor).
    pub fn saved_plans_page(
        &self,
        status: Option<&str>,
        mapping: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<SavedPlanRow>> {
        let mut st = self.conn.prepare_cached(sql::SAVED_PLANS_PAGE)?;
        let rows = st.query_map(
            params![
                before.unwrap_or(i64::MAX),
                status,
                mapping,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            saved_row,
        )?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    pub fn set_saved_plan_status(
        &self,
        run_id: i64,
        status: &str,
        applied_run: Option<i64>,
    ) -> Result<()> {
        self.conn
            .prepare_cached(sql::SAVED_PLAN_SET_STATUS)?
            .execute(params![run_id, status, applied_run])?;
        Ok(())
    }

    /// The items of a saved plan, by part and index.
    pub fn plan_items(&self, run_id: i64) -> Result<Vec<PlanItem>> {
        let mut st = self.conn.prepare_cached(sql::PLAN_ITEMS_OF_RUN)?;
        let rows = st.query_map(params![run_id], |r| {
            Ok(PlanItem {
                part: r.get(0)?,
                idx: r.get(1)?,
                hr_key: r.get(2)?,
                kind: r.get(3)?,
                hr_fp: r.get(4)?,
                needs: r.get(5)?,
                decision: r.get(6)?,
                decided_by: r.get(7)?,
                decided_at: r.get(8)?,
                comment: r.get(9)?,
                applied_run: r.get(10)?,
                outcome: r.get(11)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Records approval decisions (one transaction).
    pub fn decide_items(
        &mut self,
        run_id: i64,
        decisions: &[Decision<'_>],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self.write()?;
        {
            let mut st = tx.prepare_cached(sql::PLAN_ITEM_DECIDE)?;
            for d in decisions {
                st.execute(params![
                    run_id,
                    d.part,
                    d.idx,
                    d.decision,
                    d.by,
                    at.to_rfc3339(),
                    d.comment
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Records what run `applied_run` did with items of saved plan `run_id`: (part, idx,
    /// outcome).
    pub fn mark_items(
        &mut self,
        run_id: i64,
        outcomes: &[(String, i64, String)],
        applied_run: i64,
    ) -> Result<()> {
        let tx = self.write()?;
        {
            let mut st = tx.prepare_cached(sql::PLAN_ITEM_APPLIED)?;
            for (part, idx, outcome) in outcomes {
                st.execute(params![run_id, part, idx, applied_run, outcome])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_saved_plan_keeps_items_decisions_and_outcomes() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.db")).unwrap();
        let now = Utc::now();
        let run = s.start_run("plan", "m", now).unwrap();
        let row = SavedPlanRow {
            run_id: run,
            mapping: "m".into(),
            config_fp: "{}".into(),
            saved_by: "alice".into(),
            saved_at: now.to_rfc3339(),
            expires_at: now.to_rfc3339(),
            status: "open".into(),
            applied_run: None,
        };
        let items = vec![
            PlanItem {
                part: "change".into(),
                idx: 0,
                hr_key: "E1".into(),
                kind: "update".into(),
                hr_fp: Some("{\"a\":\"1\"}".into()),
                ..Default::default()
            },
            PlanItem {
                part: "approval".into(),
                idx: 0,
                hr_key: "E2".into(),
                kind: "disable".into(),
                needs: Some("disable".into()),
                ..Default::default()
            },
        ];
        s.save_saved_plan(&row, &items).unwrap();
        assert_eq!(s.saved_plan(run).unwrap().unwrap(), row);
        assert_eq!(s.saved_plans("open").unwrap(), vec![row.clone()]);
        s.decide_items(
            run,
            &[Decision {
                part: "approval",
                idx: 0,
                decision: "approved",
                by: "bob",
                comment: Some("ok"),
            }],
            now,
        )
        .unwrap();
        s.mark_items(run, &[("change".into(), 0, "applied".into())], 7)
            .unwrap();
        s.set_saved_plan_status(run, "applied", Some(7)).unwrap();
        let got = s.plan_items(run).unwrap();
        assert_eq!(got[0].part, "approval");
        assert_eq!(got[0].decision.as_deref(), Some("approved"));
        assert_eq!(got[0].decided_by.as_deref(), Some("bob"));
        assert_eq!(got[0].comment.as_deref(), Some("ok"));
        assert_eq!(got[1].outcome.as_deref(), Some("applied"));
        assert_eq!(got[1].applied_run, Some(7));
        assert_eq!(s.saved_plan(run).unwrap().unwrap().status, "applied");
        assert!(s.saved_plans("open").unwrap().is_empty());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod fingerprint_key_tests {
    use crate::Store;

    #[test]
    fn the_key_is_random_per_database_and_stays() {
        let dir = tempfile::tempdir().unwrap();
        let a = Store::open(&dir.path().join("a.db")).unwrap();
        let k = a.fingerprint_key().unwrap();
        assert_eq!(k.len(), 32);
        assert_eq!(a.fingerprint_key().unwrap(), k);
        drop(a);
        assert_eq!(
            Store::open(&dir.path().join("a.db"))
                .unwrap()
                .fingerprint_key()
                .unwrap(),
            k,
            "kept across opens"
        );
        let b = Store::open(&dir.path().join("b.db")).unwrap();
        assert_ne!(b.fingerprint_key().unwrap(), k);
    }
}
