//! The stages of a full run ([`super::run_inner`]) and of every run's end
//! ([`super::conclude`]), each a function over the run's context [`RunCtx`], in the order
//! those two call them. What one stage makes for the next is handed on, not kept beside.

use super::{
    Baseline, EngineError, HrRecordResult, LOG_TARGET, Mode, Progress, READ_AHEAD, RunOptions,
    RunReport, RunStatus, Timings, Ui, map_record, ref_attrs,
};
use crate::plans::{Fingerprinter, HrFingerprint};
use crate::progress::{RunEvent, Stage, StageState};
use crate::replay::snapshot::Writer;
use chrono::{DateTime, Utc};
use hrsync_config::Job;
use hrsync_directory::{Directory, Outcome};
use hrsync_model::{Change, ChangeKind, FetchReport, Plan};
use hrsync_plan::{ObservedLink, Planner};
use hrsync_state::{AppliedChange, LinkRow, StateError, Store};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What every stage of a run works with, beside what the stages hand each other: the job,
/// the state database, how and when the run runs, the caller's hooks, and where its timings
/// go.
pub(crate) struct RunCtx<'a> {
    pub(crate) job: &'a Job,
    pub(crate) store: &'a mut Store,
    pub(crate) mode: Mode,
    pub(crate) now: DateTime<Utc>,
    pub(crate) ui: &'a mut dyn Ui,
    pub(crate) run_id: i64,
    pub(crate) timings: &'a mut Timings,
    /// Where progress goes, and whether the run is cancelled.
    pub(crate) progress: &'a Progress,
}

// ---- run_inner: a full run ------------------------------------------------------------

/// Which people a full run fetches. Incremental fetch (`{lastRunTime}`): only people changed
/// since the last successful sync come back, so absence from HR means nothing and the count
/// guard does not apply. The first run (no earlier sync) asks from the epoch: a full fetch.
pub(super) struct FetchWindow {
    /// Incremental: from when (the last successful sync's start, less an overlap).
    since: Option<DateTime<Utc>>,
}

impl FetchWindow {
    /// Stage: the window of this run.
    pub(super) fn of(ctx: &RunCtx<'_>, opts: &RunOptions) -> Result<FetchWindow, EngineError> {
        // Five minutes of overlap absorb clock differences between HR and this host; records
        // fetched twice are harmless (the plan is idempotent).
        let since = if ctx.job.source.uses_last_run_time() && !opts.full_fetch {
            ctx.store
                .last_sync_start(&ctx.job.mapping.spec().name)?
                .map(|d| d - chrono::Duration::minutes(5))
        } else {
            None
        };
        Ok(FetchWindow { since })
    }

    pub(super) fn incremental(&self) -> bool {
        self.since.is_some()
    }

    /// The job's source, asking for the people of this window.
    fn source(&self, job: &Job) -> hrsync_source::Source {
        let mut source = job.source.clone();
        source.set_last_run_time(
            self.since
                .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        );
        source
    }

    /// What the plan does about people missing from HR: nothing, after an incremental fetch.
    pub(super) fn missing(&self, job: &Job) -> hrsync_plan::MissingAction {
        if self.incremental() {
            hrsync_plan::MissingAction::Ignore
        } else {
            job.missing_from_hr
        }
    }

    /// Says so in the fetch's notes when the fetch was incremental.
    pub(super) fn note(&self, fetch: &mut FetchReport) {
        if let Some(d) = self.since {
            fetch.notes.push(format!(
                "incremental fetch: people changed since {} (the last successful sync); nobody is treated as missing from HR",
                d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
    }
}

/// Stage: saved plans keep each person's HR fingerprint (what the change assumed about HR).
pub(super) fn fingerprinter(
    ctx: &RunCtx<'_>,
    opts: &RunOptions,
) -> Result<Option<Fingerprinter>, EngineError> {
    Ok(if opts.save || ctx.job.approval.is_some() {
        Some(Fingerprinter::new(ctx.job, ctx.store.fingerprint_key()?))
    } else {
        None
    })
}

/// One mapped record as it crosses from the fetch task: the result, how long mapping it
/// took, and its HR fingerprint when the plan is saved.
type Mapped = (HrRecordResult, Duration, Option<(String, HrFingerprint)>);

/// What the fetch task ends with: the fetch's report, how long it took (mapping included),
/// and the HR snapshot's writer.
type FetchEnd = (
    Result<FetchReport, hrsync_source::SourceError>,
    Duration,
    Option<Writer>,
);

/// The HR fetch under way. Fetching (HTTP + JSON) and mapping run on their own task, so they
/// use the other core while this task reads the directory and plans; results come over a
/// channel.
pub(super) struct Fetch {
    task: tokio::task::JoinHandle<FetchEnd>,
    rx: tokio::sync::mpsc::UnboundedReceiver<Mapped>,
    /// Why the HR snapshot for `hrsync replay` is not kept.
    snapshot_note: Option<String>,
}

impl Fetch {
    /// Stage: starts fetching and mapping the people of `window`, each record checked
    /// against the directory's `schema`.
    pub(super) fn start(
        ctx: &RunCtx<'_>,
        window: &FetchWindow,
        schema: Option<std::sync::Arc<hrsync_directory::Schema>>,
        fingerprinter: Option<Fingerprinter>,
    ) -> Fetch {
        let job = ctx.job;
        let source = window.source(job);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Mapped>();
        let mapper = job.mapping.clone();
        let refs = ref_attrs(job);
        let statuses = job.statuses.clone();
        let today = ctx.now.date_naive();
        let dialect = job.directory.dialect;
        let creates = job.actions.allows(hrsync_model::Action::Create);
        let keep = mapper.referenced_fields();
        let (mut snapshot, snapshot_note) = start_snapshot(ctx, window, &keep);
        let task = tokio::spawn(async move {
            let t = Instant::now();
            let report = source
                .fetch_with(Some(&keep), |rec| {
                    let t = Instant::now();
                    let mapped = map_record(
                        &mapper,
                        dialect,
                        schema.as_deref(),
                        &refs,
                        statuses.as_ref(),
                        &rec,
                        today,
                        creates,
                    );
                    let fp = fingerprinter.as_ref().and_then(|f| f.of(&mapper, &rec));
                    // The receiver only goes away when the run is failing anyway.
                    let _ = tx.send((mapped, t.elapsed(), fp));
                    if let Some(w) = snapshot.as_mut() {
                        w.push(&rec);
                    }
                })
                .await;
            (report, t.elapsed(), snapshot)
        });
        Fetch {
            task,
            rx,
            snapshot_note,
        }
    }

    /// Stops the fetch (the run is failing).
    pub(super) fn abort(&self) {
        self.task.abort();
    }

    /// Stage 1-4: the fetch and mapping go on while the directory is read, both feeding the
    /// planner, which pairs people with entries as they meet. Neither the HR records nor the
    /// directory snapshot is ever held whole in memory.
    pub(super) async fn pair(
        mut self,
        planner: Planner,
        dir: Directory,
        connect_time: Duration,
    ) -> Result<Paired, EngineError> {
        let map_time = Cell::new(Duration::ZERO);
        let plan_time = Cell::new(Duration::ZERO);
        let mut fingerprints = BTreeMap::new();
        let planner = RefCell::new(planner);
        // The two futures below run on this task (join!), never at the same instant, and each
        // borrow of the planner ends inside its own synchronous step, so the RefCell never
        // sees two borrows.
        // The directory is usually read faster than HR pages arrive, and every entry read
        // ahead waits in memory for its person (about 1 KB each): the read may run at most
        // READ_AHEAD entries ahead of the HR records received, until the fetch ends.
        let pace = tokio::sync::Semaphore::new(READ_AHEAD);
        let rx = &mut self.rx;
        let plan_records = async {
            while let Some((r, mapping_took, fp)) = rx.recv().await {
                pace.add_permits(1);
                map_time.set(map_time.get() + mapping_took);
                if let Some((k, f)) = fp {
                    fingerprints.insert(k, f);
                }
                let t = Instant::now();
                r.feed(&mut planner.borrow_mut());
                plan_time.set(plan_time.get() + t.elapsed());
            }
            // The fetch is over (done, failed or cancelled): the rest of the directory unpaced.
            pace.close();
        };
        let stop_fetch = self.task.abort_handle();
        let read_directory = async {
            let t = Instant::now();
            let read = async {
                dir.snapshot_paced(
                    |e| {
                        let t = Instant::now();
                        planner.borrow_mut().add_entry(e);
                        plan_time.set(plan_time.get() + t.elapsed());
                    },
                    Some(&pace),
                )
                .await?;
                Ok::<_, hrsync_directory::DirError>(dir)
            };
            let res = read.await;
            if res.is_err() {
                // No plan without the directory: do not wait for the rest of the HR fetch.
                stop_fetch.abort();
            }
            res.map(|dir| (dir, t.elapsed() + connect_time))
        };
        let ((), directory) = tokio::join!(plan_records, read_directory);
        // The directory's error first: on one, the fetch task was cancelled on purpose.
        let (dir, snapshot_time) = directory?;
        let (fetched, fetch_time, snapshot) = self
            .task
            .await
            .map_err(|e| EngineError::Task(e.to_string()))?;
        let report = fetched?;
        Ok(Paired {
            planner: planner.into_inner(),
            fetched: Fetched {
                report,
                snapshot,
                snapshot_note: self.snapshot_note,
            },
            dir,
            fingerprints,
            times: StageTimes {
                map: map_time.get(),
                plan: plan_time.get(),
                fetch: fetch_time,
                snapshot: snapshot_time,
            },
        })
    }
}

/// A full run keeps what it fetched for `hrsync replay` (written on a blocking thread; kept
/// only if the fetch turns out complete): the writer, or why there is none.
fn start_snapshot(
    ctx: &RunCtx<'_>,
    window: &FetchWindow,
    keep: &std::collections::BTreeSet<String>,
) -> (Option<Writer>, Option<String>) {
    match &ctx.job.hr_snapshots {
        Some(s) if !window.incremental() => match Writer::start(
            s,
            ctx.run_id,
            &ctx.job.mapping.spec().name,
            ctx.now,
            keep.iter().cloned().collect(),
        ) {
            Ok(w) => (Some(w), None),
            Err(e) => (None, Some(e.to_string())),
        },
        _ => (None, None),
    }
}

/// The fetch and the directory, paired up in the planner.
pub(super) struct Paired {
    pub(super) planner: Planner,
    pub(super) fetched: Fetched,
    pub(super) dir: Directory,
    pub(super) fingerprints: BTreeMap<String, HrFingerprint>,
    pub(super) times: StageTimes,
}

/// The fetch, done.
pub(super) struct Fetched {
    report: FetchReport,
    snapshot: Option<Writer>,
    snapshot_note: Option<String>,
}

impl Fetched {
    /// Stage: the HR snapshot is kept if the fetch was complete and full (or its writer drops
    /// it), and the fetch's report says when it is not kept.
    pub(super) async fn keep_hr_snapshot(self, window: &FetchWindow) -> FetchReport {
        let Fetched {
            mut report,
            snapshot,
            mut snapshot_note,
        } = self;
        if let Some(w) = snapshot {
            match w.finish(report.complete && !window.incremental()).await {
                Ok(Some((path, n))) => tracing::info!(
                    target: LOG_TARGET,
                    path = %path.display(),
                    records = n,
                    "HR snapshot kept for hrsync replay"
                ),
                Ok(None) => {}
                Err(e) => snapshot_note = Some(e.to_string()),
            }
        }
        if let Some(e) = snapshot_note {
            report
                .notes
                .push(format!("HR snapshot for `hrsync replay` not kept: {e}"));
        }
        report
    }
}

/// Time spent per stage so far.
pub(super) struct StageTimes {
    map: Duration,
    pub(super) plan: Duration,
    /// The fetch task's, mapping included.
    fetch: Duration,
    /// Connecting to and reading the directory.
    snapshot: Duration,
}

impl StageTimes {
    pub(super) fn record(&self, timings: &mut Timings) {
        timings.map_ms = self.map.as_millis() as u64;
        timings.plan_ms = self.plan.as_millis() as u64;
        timings.fetch_ms = self.fetch.saturating_sub(self.map).as_millis() as u64;
        timings.snapshot_ms = self.snapshot.as_millis() as u64;
    }
}

/// The fetch, map and snapshot stages are over (their times recorded): said with what the
/// fetch got.
pub(super) fn fetched(ctx: &RunCtx<'_>, fetch: &FetchReport) {
    let p = ctx.progress;
    let t = &ctx.timings;
    p.stage(Stage::Fetch, StageState::Finished, Some(t.fetch_ms));
    p.stage(Stage::Map, StageState::Finished, Some(t.map_ms));
    p.stage(Stage::Snapshot, StageState::Finished, Some(t.snapshot_ms));
    p.emit(|| RunEvent::Fetched {
        records: fetch.records,
        pages: fetch.pages,
        complete: fetch.complete,
    });
}

/// Stage: the record-count guard. A complete fetch with far fewer people than the last good
/// one is more likely an HR-side filter or permission change than a mass exodus: its
/// leavers are withheld, unless the operator accepted the drop. Whether they were (the
/// count is then no new baseline).
pub(super) fn guard_record_count(
    ctx: &RunCtx<'_>,
    opts: &RunOptions,
    window: &FetchWindow,
    fetch: &mut FetchReport,
    planner: &mut Planner,
) -> Result<bool, EngineError> {
    let job = ctx.job;
    if fetch.complete
        && !window.incremental()
        && let Some(baseline) = ctx.store.baseline(&job.mapping.spec().name)?
        && baseline > 0
    {
        let drop = (baseline as f64 - fetch.records as f64) / baseline as f64 * 100.0;
        if drop > job.max_record_drop_percent {
            let what = format!(
                "the HR fetch has {} records, {drop:.0}% fewer than the last good fetch ({baseline})",
                fetch.records
            );
            if opts.accept_record_drop {
                fetch
                    .notes
                    .push(format!("{what}; accepted with --accept-drop"));
            } else {
                planner.withhold_leavers(format!(
                    "{what}, beyond lifecycle.max_record_drop_percent = {}; check HR, then run again with --accept-drop if these people really left",
                    job.max_record_drop_percent
                ));
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Stage: the plan, with what the run may record about its fetch. People who are leavers
/// only because the list missed them are confirmed first; then the creates get their unique
/// names.
pub(super) async fn plan(
    ctx: &mut RunCtx<'_>,
    window: &FetchWindow,
    planner: Planner,
    fetch: FetchReport,
    suspect: bool,
    dir: &Directory,
) -> Result<(Plan, Vec<ObservedLink>, Baseline), EngineError> {
    let complete = fetch.complete && !window.incremental();
    let baseline = Baseline {
        records: fetch.records,
        set: complete && !suspect,
        prune_review: complete,
    };
    let (mut plan, observed) = planner.finish(fetch);
    let full = complete && plan.leavers_allowed;
    crate::confirm::confirm_missing(ctx.job, ctx.store, &mut plan, ctx.run_id, ctx.now, full)
        .await?;
    super::assign_unique(ctx.job, ctx.store, dir, &mut plan).await?;
    Ok((plan, observed, baseline))
}

/// Stage: what waits for an operator. Changes over the blast-radius thresholds are held
/// (unless confirmed for release), and those needing approval wait for it.
pub(super) fn hold(ctx: &RunCtx<'_>, opts: &RunOptions, plan: &mut Plan) {
    let job = ctx.job;
    let managed = plan.managed;
    let confirmed = crate::plans::approval::confirmable(
        plan,
        job.approval.as_ref(),
        &opts.confirmed_held,
        ctx.run_id,
    );
    crate::guards::hold(plan, &job.thresholds, managed, confirmed, ctx.run_id);
    crate::plans::approval::held_hint(plan, job.approval.as_ref(), ctx.run_id);
    crate::plans::approval::gate(plan, job.approval.as_ref());
}

// ---- conclude: every run's end -----------------------------------------------------------

/// Stage: stores the plan, the review items (those not in it dropped when the fetch saw
/// everyone), the new record-count baseline, and the links of every entry seen for a person
/// in HR whose link changed (the planner hands on only those: fills in uuids of entries
/// created by earlier runs, follows renames made outside hrsync).
pub(super) fn record_plan(
    ctx: &mut RunCtx<'_>,
    plan: &Plan,
    observed: Vec<ObservedLink>,
    baseline: &Baseline,
) -> Result<(), EngineError> {
    let spec = ctx.job.mapping.spec();
    let seen_links: Vec<LinkRow> = observed
        .into_iter()
        .map(|o| LinkRow {
            hr_key: o.key,
            uuid: o.uuid,
            dn: o.dn,
            state: LinkRow::state_of(o.disabled),
        })
        .collect();
    ctx.store.save_plan(ctx.run_id, plan)?;
    ctx.store
        .save_review(&spec.name, &plan.review, baseline.prune_review, ctx.now)?;
    if baseline.set {
        ctx.store.set_baseline(ctx.run_id, baseline.records)?;
    }
    ctx.store.upsert_links(&spec.name, &seen_links, ctx.now)?;
    Ok(())
}

/// The plan is stored: said with what it holds.
pub(super) fn planned(ctx: &RunCtx<'_>, plan: &Plan) {
    ctx.progress.emit(|| {
        let mut by_kind = BTreeMap::new();
        for c in &plan.changes {
            *by_kind.entry(c.kind.as_str().to_string()).or_insert(0) += 1;
        }
        RunEvent::Planned {
            total: plan.changes.len(),
            by_kind,
            held: plan.held.len(),
            awaiting_approval: plan.awaiting_approval.len(),
        }
    });
}

/// The report of a run cancelled before its plan was made (`plan` has what it fetched).
pub(crate) fn cancelled(run_id: i64, plan: Plan) -> RunReport {
    let mut r = unapplied(run_id, plan);
    r.cancelled = true;
    r
}

/// The report of a run that has applied nothing (yet).
pub(super) fn unapplied(run_id: i64, plan: Plan) -> RunReport {
    RunReport {
        run_id,
        status: RunStatus::Ok,
        plan,
        applied_ok: 0,
        applied_failed: 0,
        applied_not_attempted: 0,
        applied: false,
        queued_orchestrations: 0,
        timings: Timings::default(),
        hr_fingerprints: Default::default(),
        foreign_plan: false,
        cancelled: false,
    }
}

/// Stage: the end of a run that applies nothing (a plan, nothing to do, or the operator
/// said no). An apply still settles the changes of interrupted runs with the directory.
pub(super) async fn close_unapplied(
    ctx: &mut RunCtx<'_>,
    dir: Directory,
) -> Result<(), EngineError> {
    if ctx.mode == Mode::Apply {
        crate::recover::settle_absent(ctx.store, &dir, &ctx.job.mapping.spec().name).await?;
    }
    dir.close().await;
    Ok(())
}

/// Stage 5: apply + audit. Write-ahead: every change is recorded as an intent (committed)
/// before anything is sent, and each result settles its intent in the batch that audits it;
/// a process killed in between leaves intents that the next run reconciles with the
/// directory, so every change that reached it has exactly one audit row.
pub(super) async fn apply(
    ctx: &mut RunCtx<'_>,
    changes: &[Change],
    dir: &Directory,
) -> Result<Applied, EngineError> {
    let intents: Vec<(usize, &Change)> = changes.iter().enumerate().collect();
    ctx.store.record_intents(ctx.run_id, &intents, Utc::now())?;
    ctx.ui.apply_started(changes.len());
    // A mapping that only modifies owns no account: it writes no links.
    let mut applied = Applied::new(ctx.job.actions.owns(), changes.len());
    applied.progress(ctx, true);
    // Cancelled: the changes not sent yet are not attempted (one in flight completes).
    let progress = ctx.progress;
    let cancelled_by = std::cell::OnceCell::new();
    let mut left_by_cancel = 0usize;
    hrsync_directory::apply_until(
        dir,
        changes,
        || progress.cancelled(),
        |o| {
            if !o.attempted && o.message.starts_with(hrsync_directory::CANCELLED) {
                // Who cancelled, in the audit row of each change not attempted.
                left_by_cancel += 1;
                let by = cancelled_by.get_or_init(|| progress.cancelled_by());
                let mut o = o.clone();
                if let Some(by) = by {
                    o.message = o.message.replacen(
                        hrsync_directory::CANCELLED,
                        &format!("{} by {by}", hrsync_directory::CANCELLED),
                        1,
                    );
                }
                applied.result(ctx, changes, &o);
            } else {
                applied.result(ctx, changes, o);
            }
        },
    )
    .await;
    applied.flush(ctx, changes);
    applied.progress(ctx, true);
    ctx.ui.apply_finished();
    applied.cancelled = left_by_cancel > 0;
    Ok(applied)
}

/// Stage: changes of interrupted runs not found before are settled with the directory (this
/// apply may have done them again); not when the audit could not be written.
pub(super) async fn settle_interrupted(
    ctx: &mut RunCtx<'_>,
    applied: &Applied,
    dir: &Directory,
) -> Result<(), EngineError> {
    if applied.audit_error.is_none() {
        crate::recover::settle_absent(ctx.store, dir, &ctx.job.mapping.spec().name).await
    } else {
        Ok(())
    }
}

/// An apply under way: its results counted, written in batches as they arrive, and the first
/// errors writing them.
pub(super) struct Applied {
    owns: bool,
    /// Results not yet written.
    pending: Vec<Outcome>,
    ok: usize,
    failed: usize,
    not_attempted: usize,
    queued: usize,
    audit_error: Option<StateError>,
    queue_error: Option<StateError>,
    /// How many changes the apply has, and when progress was last sent.
    total: usize,
    last_progress: Option<Instant>,
    /// The run was cancelled during the apply: changes were left not attempted.
    cancelled: bool,
}

/// How often an apply sends its progress at most.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

impl Applied {
    fn new(owns: bool, total: usize) -> Self {
        Applied {
            owns,
            pending: Vec::new(),
            ok: 0,
            failed: 0,
            not_attempted: 0,
            queued: 0,
            audit_error: None,
            queue_error: None,
            total,
            last_progress: None,
            cancelled: false,
        }
    }

    /// Sends the apply's progress: when `now` (its start and end), else for the first
    /// result and when it was last sent long enough ago.
    fn progress(&mut self, ctx: &RunCtx<'_>, now: bool) {
        let done = self.ok + self.failed;
        // The first result is sent at once (the apply is under way); the last once, by the
        // apply's end.
        if !now
            && (done == self.total
                || (done > 1
                    && self
                        .last_progress
                        .is_some_and(|t| t.elapsed() < PROGRESS_EVERY)))
        {
            return;
        }
        self.last_progress = Some(Instant::now());
        ctx.progress.emit(|| RunEvent::Applying {
            done,
            total: self.total,
            ok: self.ok,
            failed: self.failed,
        });
    }

    /// One result, as it arrives: counted, shown, its orchestrations queued, and audited with
    /// its batch.
    fn result(&mut self, ctx: &mut RunCtx<'_>, changes: &[Change], o: &Outcome) {
        if o.ok {
            self.ok += 1;
        } else {
            self.failed += 1;
            self.not_attempted += usize::from(!o.attempted);
        }
        ctx.ui.applied(o);
        // Lifecycle events of what succeeded: the orchestrations they trigger go to the
        // outbox at once (not with the batched audit), so a crash later in the apply cannot
        // lose them. The daemon's worker (or `hrsync orchestrate work`) runs them.
        if o.ok && !ctx.job.orchestrations.is_empty() {
            match crate::orchestrate::enqueue(
                ctx.store,
                &ctx.job.orchestrations,
                &ctx.job.mapping.spec().name,
                &[(&changes[o.index], o.dn.as_str())],
                Utc::now(),
            ) {
                Ok(n) => self.queued += n,
                Err(e) => {
                    tracing::error!(
                        target: LOG_TARGET,
                        run = ctx.run_id,
                        "cannot queue orchestrations: {e}"
                    );
                    self.queue_error.get_or_insert(e);
                }
            }
        }
        self.pending.push(o.clone());
        self.progress(ctx, false);
        // Small batches: a result not yet written is reconciled after a crash, but the
        // fewer, the less there is to reconcile.
        if self.pending.len() >= 200 {
            self.flush(ctx, changes);
        }
    }

    /// Writes the pending results in one transaction: audit rows (each settles its intent),
    /// the unique names of creates, links.
    fn flush(&mut self, ctx: &mut RunCtx<'_>, changes: &[Change]) {
        if self.pending.is_empty() {
            return;
        }
        let spec = ctx.job.mapping.spec();
        let at = Utc::now();
        let items: Vec<AppliedChange<'_>> = self
            .pending
            .iter()
            .map(|o| AppliedChange {
                seq: o.index,
                change: &changes[o.index],
                ok: o.ok,
                rc: o.rc,
                message: &o.message,
                at,
            })
            .collect();
        let deleted: Vec<String> = self
            .pending
            .iter()
            .filter(|o| o.ok && changes[o.index].kind == ChangeKind::Delete)
            .map(|o| changes[o.index].key.clone())
            .collect();
        let links: Vec<LinkRow> = self
            .pending
            .iter()
            .filter(|o| self.owns && o.ok && changes[o.index].kind != ChangeKind::Delete)
            .map(|o| {
                let c = &changes[o.index];
                LinkRow {
                    hr_key: c.key.clone(),
                    // A new entry's id from the add's answer (post-read), so the next plan has
                    // no link to complete.
                    uuid: o.uuid.clone().or_else(|| c.uuid.clone()),
                    dn: o.dn.clone(),
                    state: LinkRow::state_of(matches!(
                        c.kind,
                        ChangeKind::Disable | ChangeKind::CreateDisabled
                    )),
                }
            })
            .collect();
        let names: Vec<(String, String, String)> = self
            .pending
            .iter()
            .filter(|o| o.ok && changes[o.index].kind.creates())
            .flat_map(|o| {
                let c = &changes[o.index];
                spec.unique.iter().filter_map(move |u| {
                    c.attrs
                        .iter()
                        .find(|a| a.attr.is(&u.attr))
                        .and_then(|a| a.after.first())
                        .map(|v| (u.attr.clone(), v.clone(), c.key.clone()))
                })
            })
            .collect();
        let res = ctx.store.record_results(
            ctx.run_id,
            &spec.name,
            &hrsync_state::Results {
                changes: &items,
                names: &names,
                links: &links,
                removed_links: &deleted,
            },
            at,
        );
        if let Err(e) = res {
            tracing::error!(target: LOG_TARGET, run = ctx.run_id, "cannot write the audit: {e}");
            self.audit_error.get_or_insert(e);
        }
        self.pending.clear();
    }

    /// Stage: the apply's counts on the report. The first error writing the audit (or else
    /// queueing orchestrations) fails the run, then one settling the directory.
    pub(super) fn report(
        self,
        settled: Result<(), EngineError>,
        report: &mut RunReport,
    ) -> Result<(), EngineError> {
        if let Some(e) = self.audit_error.or(self.queue_error) {
            return Err(e.into());
        }
        settled?;
        report.applied = true;
        report.applied_ok = self.ok;
        report.applied_failed = self.failed;
        report.applied_not_attempted = self.not_attempted;
        report.queued_orchestrations = self.queued;
        report.cancelled = self.cancelled;
        Ok(())
    }
}
