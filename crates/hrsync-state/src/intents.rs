//! Write-ahead for the audit: a change is recorded as an *intent* (committed) before it is
//! sent to the directory, and its result replaces the intent in the same transaction that
//! writes its audit row. A process killed in between leaves intents behind; the next run
//! marks the dead run `interrupted` and turns each of its intents into one provisional audit
//! row (`unknown (interrupted)`), which reconciliation against the directory settles: the
//! change took effect (the row says so) or it did not (the row goes: nothing happened; the
//! run's stored plan still lists the change). Every change that reached the directory thus has
//! exactly one audit row, whenever the process died.

use crate::{AppliedChange, LinkRow, Result, Store, process, sql};
use chrono::{DateTime, Utc};
use hrsync_model::{Change, ChangeKind};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;

/// The audit message of a change whose run died before the directory answered.
pub const UNKNOWN_INTERRUPTED: &str = "unknown (interrupted)";

/// The audit message of an unknown change that reconciliation found applied.
pub const APPLIED_AFTER_INTERRUPTION: &str =
    "applied (found in the directory after the run was interrupted)";

/// A run without an owner (started by a version that did not record it) still `running`
/// after this long is taken for dead.
const OWNERLESS_STALE_HOURS: i64 = 24;

/// Everything one batch of results changes in the state, written in one transaction (so that
/// a crash never leaves an audited create without its link or its name in the ledger).
#[derive(Debug, Clone, Default)]
pub struct Results<'a> {
    /// The audit rows (each resolves the change's intent).
    pub changes: &'a [AppliedChange<'a>],
    /// Names given to new accounts: (attribute, value, HR key), as for `record_names`.
    pub names: &'a [(String, String, String)],
    /// Links to insert or refresh, as for `upsert_links`.
    pub links: &'a [LinkRow],
    /// Links to forget (deleted accounts), as for `remove_links`.
    pub removed_links: &'a [String],
}

/// A run whose process died, as `recover_interrupted` found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InterruptedRun {
    pub id: i64,
    pub command: String,
    pub mapping: String,
    pub owner: Option<String>,
    pub started_at: String,
    /// Changes sent (or about to be) without a recorded result: now `unknown (interrupted)`
    /// in the audit, to be reconciled.
    pub unknown: usize,
}

/// A change of an interrupted run whose result is unknown: whether it took effect is for
/// the directory to tell (see [`Store::resolve_intents`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnresolvedIntent {
    pub run_id: i64,
    pub seq: i64,
    /// The planned change (key, kind, DN, new DN, attributes before → after).
    pub change: Change,
    /// When it was about to be sent.
    pub at: String,
    /// The directory did not show it when last asked ([`IntentOutcome::NotYet`]): it has no
    /// audit row now; one comes back if it shows up after all.
    pub absent: bool,
    /// When its run was found interrupted (its process had died by then).
    pub interrupted_at: Option<DateTime<Utc>>,
    /// A later run audited the same kind of change for the person (a create again, say): that
    /// row stands for it, whatever this one became.
    pub superseded: bool,
}

/// What reconciliation found for an unknown change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntentOutcome {
    /// The directory shows the change: its audit row becomes a success (for a change that was
    /// `absent`, its row comes back as a success, unless a later run audited the same kind of
    /// change for the person, which then stands for it).
    Applied,
    /// The directory does not show it, and will not any more: it never took effect, its
    /// provisional row goes and the intent is forgotten.
    NotApplied,
    /// The directory does not show it yet. A server may still carry out an operation it
    /// received just before the process died: the provisional row goes (nothing is known to
    /// have happened), but the intent stays `absent`, to be checked again by later runs until
    /// it shows up ([`IntentOutcome::Applied`]) or it is too late for it
    /// ([`IntentOutcome::NotApplied`]). Creates still `absent` count as unfinished (see
    /// [`Store::unfinished_creates`]).
    NotYet,
}

const PENDING: &str = "pending";
const UNKNOWN: &str = "unknown";
const ABSENT: &str = "absent";

/// Who a run is: its mapping, trigger and operator (copied onto each of its audit rows).
type RunMeta = (String, Option<String>, Option<String>);

/// Inserts one audit row of a run's change (nothing when the run already has a row for
/// `seq`); returns how many rows were added.
#[allow(clippy::too_many_arguments)]
fn insert_change(
    insert: &mut rusqlite::CachedStatement<'_>,
    run_id: i64,
    seq: i64,
    c: &Change,
    ok: bool,
    rc: Option<i64>,
    message: &str,
    at: &str,
    meta: &RunMeta,
) -> Result<usize> {
    let (mapping, trigger, operator) = meta;
    Ok(insert.execute(params![
        run_id,
        seq,
        c.key,
        c.kind.as_str(),
        c.dn,
        c.new_dn,
        c.reason,
        serde_json::to_string(&c.attrs)?,
        ok,
        rc,
        message,
        at,
        mapping,
        trigger,
        operator
    ])?)
}

/// Writes audit rows, one per (run, seq): each takes its change's intent; a change whose run
/// was already taken for dead settles its provisional row instead of adding a second one,
/// and a result recorded twice is not added twice.
pub(crate) fn insert_results(
    tx: &Transaction<'_>,
    run_id: i64,
    items: &[AppliedChange<'_>],
) -> Result<()> {
    let meta = run_meta(tx, run_id)?;
    let mut take = tx.prepare_cached(sql::INTENT_TAKE)?;
    let mut settle = tx.prepare_cached(sql::CHANGE_SETTLE_UNKNOWN)?;
    let mut insert = tx.prepare_cached(sql::CHANGE_INSERT)?;
    for it in items {
        let seq = it.seq as i64;
        let at = it.at.to_rfc3339();
        let rc = it.rc.map(i64::from);
        let intent: Option<String> = take
            .query_row(params![run_id, seq], |r| r.get(0))
            .optional()?;
        if intent.as_deref() == Some(UNKNOWN)
            && settle.execute(params![
                run_id,
                seq,
                it.ok,
                rc,
                it.message,
                at,
                UNKNOWN_INTERRUPTED
            ])? > 0
        {
            continue;
        }
        insert_change(
            &mut insert,
            run_id,
            seq,
            it.change,
            it.ok,
            rc,
            it.message,
            &at,
            &meta,
        )?;
    }
    Ok(())
}

/// The planned change of an intent: from its JSON (the intent's or the run's stored plan);
/// without one (never the case when the plan was saved), what the intent row itself says.
fn intent_change(json: Option<String>, key: String, kind: &str, dn: String) -> Change {
    if let Some(c) = json.and_then(|j| serde_json::from_str::<Change>(&j).ok()) {
        return c;
    }
    let kind = ChangeKind::parse(kind).unwrap_or(ChangeKind::Update);
    Change {
        kind,
        key,
        dn,
        new_dn: None,
        uuid: None,
        attrs: Vec::new(),
        reason: "(the planned change was not stored)".into(),
    }
}

/// The audit row of an `absent` change that showed up in the directory after all: a
/// success, unless a later run audited the same kind of change for the person (that row
/// stands for it: one row per change that reached the directory).
fn restore_applied(tx: &Transaction<'_>, run_id: i64, seq: i64) -> Result<()> {
    let Some((json, key, kind, dn, at, mapping)) = tx
        .prepare_cached(sql::INTENT_CHANGE)?
        .query_row(params![run_id, seq], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })
        .optional()?
    else {
        return Ok(());
    };
    let c = intent_change(json, key, &kind, dn);
    // A create planned again as a pre-hire's (or the other way round) is the same account.
    let sibling = match c.kind {
        ChangeKind::Create => ChangeKind::CreateDisabled,
        ChangeKind::CreateDisabled => ChangeKind::Create,
        k => k,
    };
    let later = tx
        .prepare_cached(sql::CHANGE_OF_KEY_AFTER)?
        .exists(params![
            c.key,
            run_id,
            mapping,
            c.kind.as_str(),
            sibling.as_str()
        ])?;
    if later {
        return Ok(());
    }
    let meta = run_meta(tx, run_id)?;
    insert_change(
        &mut tx.prepare_cached(sql::CHANGE_INSERT)?,
        run_id,
        seq,
        &c,
        true,
        None,
        APPLIED_AFTER_INTERRUPTION,
        &at,
        &meta,
    )?;
    Ok(())
}

/// A run's mapping, trigger and operator (for its audit rows).
fn run_meta(tx: &Transaction<'_>, run_id: i64) -> Result<RunMeta> {
    Ok(tx
        .prepare_cached(sql::RUN_META)?
        .query_row(params![run_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?)
}

impl Store {
    /// Write-ahead: these changes of the run (seq = index in the run's saved plan) are about
    /// to be sent to the directory. Commit this before sending them; record their results
    /// with `record_results` (or `record_changes`). Recording an intent again, or for a
    /// change that already has its result, changes nothing.
    pub fn record_intents(
        &mut self,
        run_id: i64,
        items: &[(usize, &Change)],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let at = at.to_rfc3339();
        let tx = self.write()?;
        {
            let mapping: String = tx
                .prepare_cached(sql::RUN_MAPPING)?
                .query_row(params![run_id], |r| r.get(0))?;
            let mut planned = tx.prepare_cached(sql::PLAN_CHANGE_EXISTS)?;
            let mut st = tx.prepare_cached(sql::INTENT_INSERT)?;
            for (seq, c) in items {
                let seq = *seq as i64;
                // The change is kept with the intent only when the run's stored plan does not
                // have it (the plan is saved before the apply: intents stay small).
                let json = if planned.exists(params![run_id, seq])? {
                    None
                } else {
                    Some(serde_json::to_string(c)?)
                };
                st.execute(params![
                    run_id,
                    seq,
                    mapping,
                    c.key,
                    c.kind.as_str(),
                    c.dn,
                    json,
                    at
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Records a batch of results in one transaction: the audit rows (resolving their
    /// intents), the names given, the links made and the links of deleted accounts.
    pub fn record_results(
        &mut self,
        run_id: i64,
        mapping: &str,
        results: &Results<'_>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self.write()?;
        insert_results(&tx, run_id, results.changes)?;
        crate::people::insert_names(&tx, mapping, results.names, at)?;
        crate::people::upsert_links(&tx, mapping, results.links, at)?;
        crate::people::delete_links(&tx, mapping, results.removed_links)?;
        tx.commit()?;
        Ok(())
    }

    /// Marks runs still `running` whose process is gone (a process of this host that no
    /// longer exists, see [`process::owner_is_dead`]; a run without a recorded owner after 24
    /// hours) as `interrupted`, and turns each of their intents into one audit row
    /// `unknown (interrupted)`. Call it at the start of a run (an apply: after taking the
    /// mapping's lock). Returns the runs it marked.
    pub fn recover_interrupted(&mut self, now: DateTime<Utc>) -> Result<Vec<InterruptedRun>> {
        self.recover_interrupted_with(now, &process::owner_is_dead)
    }

    /// [`Store::recover_interrupted`] with another test of whether an owner is dead.
    pub fn recover_interrupted_with(
        &mut self,
        now: DateTime<Utc>,
        is_dead: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<InterruptedRun>> {
        let me = process::owner_id();
        let stale = now - chrono::Duration::hours(OWNERLESS_STALE_HOURS);
        let tx = self.write()?;
        let mut out = Vec::new();
        {
            let running: Vec<InterruptedRun> = tx
                .prepare_cached(sql::RUNS_RUNNING)?
                .query_map([], |r| {
                    Ok(InterruptedRun {
                        id: r.get(0)?,
                        command: r.get(1)?,
                        mapping: r.get(2)?,
                        owner: r.get(3)?,
                        started_at: r.get(4)?,
                        unknown: 0,
                    })
                })?
                .collect::<std::result::Result<_, _>>()?;
            let mut pending = tx.prepare_cached(sql::INTENTS_PENDING_OF_RUN)?;
            let mut insert = tx.prepare_cached(sql::CHANGE_INSERT)?;
            let mut mark = tx.prepare_cached(sql::INTENTS_MARK_UNKNOWN)?;
            let mut interrupt = tx.prepare_cached(sql::RUN_INTERRUPT)?;
            for mut run in running {
                let dead = match run.owner.as_deref() {
                    Some(o) => o != me && is_dead(o),
                    None => DateTime::parse_from_rfc3339(&run.started_at)
                        .is_ok_and(|s| s.with_timezone(&Utc) < stale),
                };
                if !dead {
                    continue;
                }
                let intents: Vec<(i64, Change, String)> = pending
                    .query_map(params![run.id], |r| {
                        Ok((
                            r.get(0)?,
                            intent_change(r.get(1)?, r.get(3)?, &r.get::<_, String>(4)?, r.get(5)?),
                            r.get(2)?,
                        ))
                    })?
                    .collect::<std::result::Result<_, _>>()?;
                let meta = run_meta(&tx, run.id)?;
                for (seq, c, at) in &intents {
                    run.unknown += insert_change(
                        &mut insert,
                        run.id,
                        *seq,
                        c,
                        false,
                        None,
                        UNKNOWN_INTERRUPTED,
                        at,
                        &meta,
                    )?;
                }
                mark.execute(params![run.id])?;
                let who = run.owner.as_deref().unwrap_or("an unrecorded process");
                let error = if run.unknown > 0 {
                    format!(
                        "interrupted: the process ({who}) ended during the run; {} change(s) sent without an answer are in the audit as {UNKNOWN_INTERRUPTED}",
                        run.unknown
                    )
                } else {
                    format!("interrupted: the process ({who}) ended during the run")
                };
                interrupt.execute(params![run.id, now.to_rfc3339(), error])?;
                out.push(run);
            }
        }
        tx.commit()?;
        Ok(out)
    }

    /// Changes of the mapping's interrupted runs whose result is unknown, oldest first: check
    /// each against the directory and settle it with [`Store::resolve_intents`].
    pub fn unresolved_intents(&self, mapping: &str) -> Result<Vec<UnresolvedIntent>> {
        let mut st = self.conn.prepare_cached(sql::INTENTS_UNRESOLVED)?;
        let rows = st.query_map(params![mapping], |r| {
            Ok(UnresolvedIntent {
                run_id: r.get(0)?,
                seq: r.get(1)?,
                change: intent_change(r.get(2)?, r.get(4)?, &r.get::<_, String>(5)?, r.get(6)?),
                at: r.get(3)?,
                absent: r.get::<_, String>(7)? == ABSENT,
                interrupted_at: r
                    .get::<_, Option<String>>(8)?
                    .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                    .map(|t| t.with_timezone(&Utc)),
                superseded: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Settles unknown (and `absent`) changes of interrupted runs: (run id, seq, outcome),
    /// see [`IntentOutcome`]. Returns how many were settled for good (`Applied`,
    /// `NotApplied`); an already settled one is skipped.
    pub fn resolve_intents(&mut self, items: &[(i64, i64, IntentOutcome)]) -> Result<usize> {
        let tx = self.write()?;
        let mut n = 0;
        {
            let mut status = tx.prepare_cached(sql::INTENT_STATUS)?;
            let mut forget = tx.prepare_cached(sql::INTENT_RESOLVE)?;
            let mut absent = tx.prepare_cached(sql::INTENT_MARK_ABSENT)?;
            let mut applied = tx.prepare_cached(sql::CHANGE_SETTLE_APPLIED)?;
            let mut drop = tx.prepare_cached(sql::CHANGE_DROP_UNKNOWN)?;
            for (run_id, seq, outcome) in items {
                let Some(now) = status
                    .query_row(params![run_id, seq], |r| r.get::<_, String>(0))
                    .optional()?
                else {
                    continue;
                };
                match (now.as_str(), outcome) {
                    (UNKNOWN, IntentOutcome::Applied) => {
                        forget.execute(params![run_id, seq, UNKNOWN])?;
                        applied.execute(params![
                            run_id,
                            seq,
                            APPLIED_AFTER_INTERRUPTION,
                            UNKNOWN_INTERRUPTED
                        ])?;
                        n += 1;
                    }
                    (UNKNOWN, IntentOutcome::NotApplied) => {
                        forget.execute(params![run_id, seq, UNKNOWN])?;
                        drop.execute(params![run_id, seq, UNKNOWN_INTERRUPTED])?;
                        n += 1;
                    }
                    (UNKNOWN, IntentOutcome::NotYet) => {
                        absent.execute(params![run_id, seq])?;
                        drop.execute(params![run_id, seq, UNKNOWN_INTERRUPTED])?;
                    }
                    (ABSENT, IntentOutcome::Applied) => {
                        restore_applied(&tx, *run_id, *seq)?;
                        forget.execute(params![run_id, seq, ABSENT])?;
                        n += 1;
                    }
                    (ABSENT, IntentOutcome::NotApplied) => {
                        forget.execute(params![run_id, seq, ABSENT])?;
                        n += 1;
                    }
                    _ => {}
                }
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// Intents still pending (not yet answered) of a run: (seq, HR key, kind, DN).
    pub fn pending_intents(&self, run_id: i64) -> Result<Vec<(i64, String, String, String)>> {
        let mut st = self.conn.prepare_cached(sql::INTENTS_PENDING_BRIEF)?;
        let rows = st.query_map(params![run_id, PENDING], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }
}
