//! The one place that knows the order of the stages:
//! fetch (source) → map (mapping) → snapshot (directory) → plan → [apply → audit] (state).
//! The CLI and the daemon enter through [`crate::run`] (run lock, run recorded, then a full
//! run, a targeted run or a saved plan); nothing else sequences stages.

use crate::report::{EngineError, Mode, Only, RunOptions, RunReport, RunStatus, Timings, Ui};
use chrono::{DateTime, Utc};
use hrsync_config::Job;
use hrsync_directory::{Directory, Outcome};
use hrsync_model::{AttrName, ChangeKind, Plan};
use hrsync_plan::{Link, MatchDecision, PlanOptions, Planner};
use hrsync_state::{AppliedChange, LinkRow, Store};
use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

/// One HR record after mapping, as the fetch task hands it to the planner.
pub(crate) enum HrRecordResult {
    /// Mapped, with warnings about values the directory may not keep as they are.
    Mapped(hrsync_model::DesiredEntry, Vec<hrsync_model::Finding>),
    Failed(Option<String>, Vec<hrsync_model::Finding>),
}

impl HrRecordResult {
    /// Hands the record's outcome to the planner: the desired entry, or the failed key (no
    /// leaver is made of a person whose record could not be mapped), with their findings.
    pub(crate) fn feed(self, planner: &mut Planner) {
        match self {
            HrRecordResult::Mapped(d, warnings) => {
                planner.add_findings(warnings);
                planner.add_desired(d);
            }
            HrRecordResult::Failed(key, f) => {
                planner.add_failed(key);
                planner.add_findings(f);
            }
        }
    }
}

/// Maps one HR record; what the directory would refuse (its dialect's rules and, when it could
/// be read, its schema: syntaxes, single values, required attributes, lengths) is a finding
/// now, not a failed apply on every run.
#[allow(clippy::too_many_arguments)]
pub(crate) fn map_record(
    mapper: &hrsync_mapping::Mapper,
    dialect: hrsync_directory::Dialect,
    schema: Option<&hrsync_directory::Schema>,
    refs: &[AttrName],
    statuses: Option<&hrsync_config::statuses::StatusRule>,
    rec: &hrsync_model::HrRecord,
    today: chrono::NaiveDate,
    creates: bool,
) -> HrRecordResult {
    match mapper.map_at(rec, today) {
        Ok(d) => {
            // A status outside the documented ones: a warning, and held unless configured.
            let (d, mut status_warnings) = match statuses {
                None => (d, Vec::new()),
                Some(s) => match s.apply(rec, d) {
                    hrsync_config::statuses::Checked::Keep(d, w) => (d, w),
                    hrsync_config::statuses::Checked::Hold(d, w) => {
                        return HrRecordResult::Failed(Some(d.key), vec![w]);
                    }
                },
            };
            let mut refused = dialect.check(&d);
            let mut warnings = Vec::new();
            if refused.is_empty()
                && let Some(schema) = schema
            {
                // Person references hold the other person's HR value until the planner turns
                // them into DNs: checked then, not here.
                // A mapping that never creates need not map what only a new entry must have.
                let found = if creates {
                    schema.check_entry_except(&d, refs)
                } else {
                    schema.check_update_except(&d, refs)
                };
                let (errors, warn): (Vec<_>, Vec<_>) =
                    found.into_iter().partition(|f| f.severity == "error");
                refused = errors;
                warnings = warn;
            }
            if refused.is_empty() {
                warnings.append(&mut status_warnings);
                HrRecordResult::Mapped(d, warnings)
            } else {
                HrRecordResult::Failed(Some(d.key.clone()), refused)
            }
        }
        Err(f) => HrRecordResult::Failed(mapper.key_of(rec), f),
    }
}

/// The attributes that name other people (checked against the schema once they are DNs).
pub(crate) fn ref_attrs(job: &Job) -> Vec<AttrName> {
    job.person_refs.iter().map(|r| r.attr.clone()).collect()
}

/// A run's directory: connected and bound, the changes of interrupted runs reconciled with
/// it, and its schema read (with how long that took, counted as snapshot time).
pub(crate) async fn open_directory(
    job: &Job,
    store: &mut Store,
) -> Result<
    (
        Directory,
        Option<std::sync::Arc<hrsync_directory::Schema>>,
        Duration,
    ),
    EngineError,
> {
    let t = Instant::now();
    let dir = Directory::connect(job.directory.clone()).await?;
    crate::recover::reconcile(store, &dir, &job.mapping.spec().name).await?;
    let schema = read_schema(&dir).await;
    Ok((dir, schema, t.elapsed()))
}

/// The directory's schema for plan-time checks; a server that does not let hrsync read it
/// only loses the checks (the run goes on, and says so in the log).
pub(crate) async fn read_schema(
    dir: &Directory,
) -> Option<std::sync::Arc<hrsync_directory::Schema>> {
    match dir.schema().await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(
                "cannot read the directory schema ({e}); values the server refuses are found only when applied"
            );
            None
        }
    }
}

/// How many directory entries a full run reads ahead of the HR records received.
const READ_AHEAD: usize = 10_000;

#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_inner(
    job: &Job,
    store: &mut Store,
    mode: Mode,
    opts: RunOptions,
    now: DateTime<Utc>,
    ui: &mut dyn Ui,
    run_id: i64,
    timings: &mut Timings,
) -> Result<RunReport, EngineError> {
    let spec = job.mapping.spec();
    // Incremental fetch (`{lastRunTime}`): only people changed since the last successful sync
    // come back, so absence from HR means nothing and the count guard does not apply. The
    // first run (no earlier sync) asks from the epoch: a full fetch.
    let mut source = job.source.clone();
    // Five minutes of overlap absorb clock differences between HR and this host; records
    // fetched twice are harmless (the plan is idempotent).
    let since = if source.uses_last_run_time() && !opts.full_fetch {
        store
            .last_sync_start(&spec.name)?
            .map(|d| d - chrono::Duration::minutes(5))
    } else {
        None
    };
    let incremental = since.is_some();
    source.set_last_run_time(since.map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
    // 1-4. Fetch + map, and read the directory, at the same time, both feeding the planner,
    // which pairs people with entries as they meet. Neither the HR records nor the directory
    // snapshot is ever held whole in memory.
    let map_time = Cell::new(Duration::ZERO);
    let plan_time = Cell::new(Duration::ZERO);
    // Fetching (HTTP + JSON) and mapping run on their own task, so they use the other core
    // while this task reads the directory and plans; results come over a channel.
    type Fp = Option<(String, crate::plans::HrFingerprint)>;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(HrRecordResult, Duration, Fp)>();
    let mapper = job.mapping.clone();
    // Saved plans keep each person's HR fingerprint (what the change assumed about HR).
    let fingerprinter = if opts.save || job.approval.is_some() {
        Some(crate::plans::Fingerprinter::new(
            job,
            store.fingerprint_key()?,
        ))
    } else {
        None
    };
    let fingerprints = RefCell::new(std::collections::BTreeMap::new());
    let refs = ref_attrs(job);
    let statuses = job.statuses.clone();
    let today = now.date_naive();
    let dialect = job.directory.dialect;
    let creates = job.actions.allows(hrsync_model::Action::Create);
    // The directory first (a bind and one read of its schema, a few ms): no fetch without it,
    // and the schema checks every mapped record.
    let (dir, schema, connect_time) = open_directory(job, store).await?;
    let keep = mapper.referenced_fields();
    // A full run keeps what it fetched for `hrsync replay` (written on a blocking thread; kept
    // only if the fetch turns out complete).
    let mut snapshot_note = None;
    let mut snapshot = match &job.hr_snapshots {
        Some(s) if !incremental => {
            match crate::replay::snapshot::Writer::start(
                s,
                run_id,
                &spec.name,
                now,
                keep.iter().cloned().collect(),
            ) {
                Ok(w) => Some(w),
                Err(e) => {
                    snapshot_note = Some(e.to_string());
                    None
                }
            }
        }
        _ => None,
    };
    let fetch_task = tokio::spawn(async move {
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
    // The stored links are read while the first pages arrive (they queue on the channel).
    let planner = new_planner(
        job,
        store,
        now,
        if incremental {
            hrsync_plan::MissingAction::Ignore
        } else {
            job.missing_from_hr
        },
        false,
    );
    let (planner, stored) = match planner {
        Ok(p) => p,
        Err(e) => {
            fetch_task.abort();
            return Err(e);
        }
    };
    let planner = RefCell::new(planner);
    // The two futures below run on this task (join!), never at the same instant, and each
    // borrow of the planner ends inside its own synchronous step, so the RefCell never sees
    // two borrows.
    // The directory is usually read faster than HR pages arrive, and every entry read ahead
    // waits in memory for its person (about 1 KB each): the read may run at most
    // READ_AHEAD entries ahead of the HR records received, until the fetch ends.
    let pace = tokio::sync::Semaphore::new(READ_AHEAD);
    let plan_records = async {
        while let Some((r, mapping_took, fp)) = rx.recv().await {
            pace.add_permits(1);
            map_time.set(map_time.get() + mapping_took);
            if let Some((k, f)) = fp {
                fingerprints.borrow_mut().insert(k, f);
            }
            let t = Instant::now();
            r.feed(&mut planner.borrow_mut());
            plan_time.set(plan_time.get() + t.elapsed());
        }
        // The fetch is over (done, failed or cancelled): the rest of the directory unpaced.
        pace.close();
    };
    let stop_fetch = fetch_task.abort_handle();
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
    let (fetched, fetch_time, snapshot) = fetch_task
        .await
        .map_err(|e| EngineError::Task(e.to_string()))?;
    let fetch_report = fetched?;
    let t = Instant::now();
    let mut fetch_report = fetch_report;
    if let Some(w) = snapshot {
        match w.finish(fetch_report.complete && !incremental).await {
            Ok(Some((path, n))) => tracing::info!(
                path = %path.display(),
                records = n,
                "HR snapshot kept for hrsync replay"
            ),
            Ok(None) => {}
            Err(e) => snapshot_note = Some(e.to_string()),
        }
    }
    if let Some(e) = snapshot_note {
        fetch_report
            .notes
            .push(format!("HR snapshot for `hrsync replay` not kept: {e}"));
    }
    let mut planner = planner.into_inner();
    // Record-count guard: a complete fetch with far fewer people than the last good one is more
    // likely an HR-side filter or permission change than a mass exodus.
    let mut suspect = false;
    if let Some(d) = since {
        fetch_report.notes.push(format!(
            "incremental fetch: people changed since {} (the last successful sync); nobody is treated as missing from HR",
            d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    if fetch_report.complete
        && !incremental
        && let Some(baseline) = store.baseline(&spec.name)?
        && baseline > 0
    {
        let drop = (baseline as f64 - fetch_report.records as f64) / baseline as f64 * 100.0;
        if drop > job.max_record_drop_percent {
            let what = format!(
                "the HR fetch has {} records, {drop:.0}% fewer than the last good fetch ({baseline})",
                fetch_report.records
            );
            if opts.accept_record_drop {
                fetch_report
                    .notes
                    .push(format!("{what}; accepted with --accept-drop"));
            } else {
                suspect = true;
                planner.withhold_leavers(format!(
                    "{what}, beyond lifecycle.max_record_drop_percent = {}; check HR, then run again with --accept-drop if these people really left",
                    job.max_record_drop_percent
                ));
            }
        }
    }
    let records = fetch_report.records;
    let complete = fetch_report.complete;
    let (mut plan, observed) = planner.finish(fetch_report);
    // People who are leavers only because the list missed them are confirmed first.
    let full = complete && !incremental && plan.leavers_allowed;
    crate::confirm::confirm_missing(job, store, &mut plan, run_id, now, full).await?;
    assign_unique(job, store, &dir, &mut plan).await?;
    let managed = plan.managed;
    let confirmed = crate::plans::approval::confirmable(
        &mut plan,
        job.approval.as_ref(),
        &opts.confirmed_held,
        run_id,
    );
    crate::guards::hold(&mut plan, &job.thresholds, managed, confirmed, run_id);
    crate::plans::approval::held_hint(&mut plan, job.approval.as_ref(), run_id);
    crate::plans::approval::gate(&mut plan, job.approval.as_ref());
    let plan_time = plan_time.get() + t.elapsed();
    timings.map_ms = map_time.get().as_millis() as u64;
    timings.plan_ms = plan_time.as_millis() as u64;
    timings.fetch_ms = fetch_time.saturating_sub(map_time.get()).as_millis() as u64;
    timings.snapshot_ms = snapshot_time.as_millis() as u64;

    let mut report = conclude(
        job,
        store,
        mode,
        now,
        ui,
        run_id,
        timings,
        plan,
        observed,
        dir,
        &stored,
        Baseline {
            records,
            set: complete && !suspect && !incremental,
            prune_review: complete && !incremental,
        },
    )
    .await?;
    report.hr_fingerprints = fingerprints.into_inner();
    Ok(report)
}

/// The planner for one run of `job`, with the stored links (also returned, to refresh them).
pub(crate) fn new_planner(
    job: &Job,
    store: &Store,
    now: DateTime<Utc>,
    missing: hrsync_plan::MissingAction,
    targeted: bool,
) -> Result<(Planner, std::collections::BTreeMap<String, LinkRow>), EngineError> {
    let spec = job.mapping.spec();
    let stored = store.links(&spec.name)?;
    let links = stored.iter().map(|(k, l)| {
        let link = Link {
            uuid: l.uuid.clone(),
            dn: l.dn.clone(),
        };
        (k.clone(), link)
    });
    let mut planner = Planner::new(
        PlanOptions {
            mapping: spec.name.clone(),
            target: job.directory.label(),
            now,
            owned: job
                .directory
                .owned
                .iter()
                .map(|a| AttrName::new(a.clone()))
                .collect(),
            rdn_attribute: spec.rdn_attribute.clone(),
            key_attribute: spec.key_attribute.clone(),
            missing_from_hr: missing,
            managed_base: job.directory.users_ou.clone(),
            place_by_rule: !spec.ou.is_empty(),
            managed_groups: job.managed_groups.clone(),
            managed_group_bases: job.managed_group_bases.clone(),
            leaver_removes_groups: job.leaver_removes_groups,
            disabled_ou: job.disabled_ou.clone(),
            create_only: job
                .create_only
                .iter()
                .map(|a| AttrName::new(a.clone()))
                .collect(),
            delete_after: job
                .delete_after_days
                .map(|d| chrono::Duration::days(i64::from(d))),
            match_on: job
                .match_on
                .iter()
                .map(|a| AttrName::new(a.clone()))
                .collect(),
            decisions: store
                .decisions(&spec.name)?
                .into_iter()
                .filter_map(|(k, (status, chosen))| match (status.as_str(), chosen) {
                    ("adopt", Some(d)) => Some((k, MatchDecision::Adopt(d))),
                    ("new", _) => Some((k, MatchDecision::New)),
                    _ => None,
                })
                .collect(),
            person_refs: job.person_refs.clone(),
            targeted,
            unlinked_disable: job.unlinked == hrsync_config::Unlinked::Disable,
            // Only where accounts get an initial password (AD) does an unfinished create
            // differ from a rehire: it needs a new password, delivered before it is enabled.
            actions: job.actions,
            unfinished_creates: if job.directory.dialect
                == hrsync_directory::Dialect::ActiveDirectory
                && job.directory.passwords.is_some()
            {
                store.unfinished_creates(&spec.name)?.into_iter().collect()
            } else {
                Default::default()
            },
        },
        links,
    );
    if job.delete_after_days.is_some() {
        planner.set_disabled_since(store.disabled_since(&spec.name)?);
    }
    Ok((planner, stored))
}

/// What a run may record about its fetch.
pub(crate) struct Baseline {
    pub(crate) records: usize,
    /// The fetch was complete and full: its record count is the new baseline.
    pub(crate) set: bool,
    /// The fetch saw everyone: review items not in this plan are dropped.
    pub(crate) prune_review: bool,
}

/// Stores the plan and links, then (in [`Mode::Apply`], confirmed) applies it and writes the
/// audit as results arrive.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn conclude(
    job: &Job,
    store: &mut Store,
    mode: Mode,
    now: DateTime<Utc>,
    ui: &mut dyn Ui,
    run_id: i64,
    timings: &mut Timings,
    plan: Plan,
    observed: Vec<hrsync_plan::ObservedLink>,
    dir: Directory,
    stored: &std::collections::BTreeMap<String, LinkRow>,
    baseline: Baseline,
) -> Result<RunReport, EngineError> {
    let spec = job.mapping.spec();
    // Links for every entry seen for a person in HR (fills in uuids of entries created by
    // earlier runs, follows renames made outside hrsync). Only what changed is written.
    let seen_links: Vec<LinkRow> = observed
        .into_iter()
        .map(|o| LinkRow {
            hr_key: o.key,
            uuid: o.uuid,
            dn: o.dn,
            state: if o.disabled {
                "disabled".into()
            } else {
                "active".into()
            },
        })
        .filter(|row| stored.get(&row.hr_key) != Some(row))
        .collect();
    // A mapping that only modifies owns no account: it writes no links, now or when applying.
    let owns = job.actions.owns();
    store.save_plan(run_id, &plan)?;
    store.save_review(&spec.name, &plan.review, baseline.prune_review, now)?;
    if baseline.set {
        store.set_baseline(run_id, baseline.records)?;
    }
    store.upsert_links(&spec.name, &seen_links, now)?;

    let mut report = RunReport {
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
    };
    if mode == Mode::Plan || report.plan.is_empty() || !ui.confirm(&report.plan) {
        if mode == Mode::Apply {
            crate::recover::settle_absent(store, &dir, &spec.name).await?;
        }
        dir.close().await;
        return Ok(report);
    }

    // 5. apply + audit. Write-ahead: every change is recorded as an intent (committed) before
    // anything is sent, and each result settles its intent in the batch that audits it; a
    // process killed in between leaves intents that the next run reconciles with the
    // directory, so every change that reached it has exactly one audit row.
    let t = Instant::now();
    let changes = &report.plan.changes;
    let intents: Vec<(usize, &hrsync_model::Change)> = changes.iter().enumerate().collect();
    store.record_intents(run_id, &intents, Utc::now())?;
    ui.apply_started(changes.len());
    let mut pending: Vec<Outcome> = Vec::new();
    let mut ok = 0usize;
    let mut failed = 0usize;
    let mut not_attempted = 0usize;
    let mut queued = 0usize;
    let mut audit_error: Option<hrsync_state::StateError> = None;
    let mut queue_error: Option<hrsync_state::StateError> = None;
    {
        let mut flush = |store: &mut Store, pending: &mut Vec<Outcome>| {
            if pending.is_empty() {
                return;
            }
            let at = Utc::now();
            let items: Vec<AppliedChange<'_>> = pending
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
            let deleted: Vec<String> = pending
                .iter()
                .filter(|o| o.ok && changes[o.index].kind == ChangeKind::Delete)
                .map(|o| changes[o.index].key.clone())
                .collect();
            let links: Vec<LinkRow> = pending
                .iter()
                .filter(|o| owns && o.ok && changes[o.index].kind != ChangeKind::Delete)
                .map(|o| {
                    let c = &changes[o.index];
                    LinkRow {
                        hr_key: c.key.clone(),
                        // A new entry's id from the add's answer (post-read), so the
                        // next plan has no link to complete.
                        uuid: o.uuid.clone().or_else(|| c.uuid.clone()),
                        dn: o.dn.clone(),
                        state: if matches!(c.kind, ChangeKind::Disable | ChangeKind::CreateDisabled)
                        {
                            "disabled".into()
                        } else {
                            "active".into()
                        },
                    }
                })
                .collect();
            let names: Vec<(String, String, String)> = pending
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
            // One transaction: audit rows (each settles its intent), names, links.
            let res = store.record_results(
                run_id,
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
                tracing::error!(run = run_id, "cannot write the audit: {e}");
                audit_error.get_or_insert(e);
            }
            pending.clear();
        };
        hrsync_directory::apply(&dir, changes, |o| {
            if o.ok {
                ok += 1;
            } else {
                failed += 1;
                not_attempted += usize::from(!o.attempted);
            }
            ui.applied(o);
            // Lifecycle events of what succeeded: the orchestrations they trigger go to the
            // outbox at once (not with the batched audit), so a crash later in the apply cannot
            // lose them. The daemon's worker (or `hrsync orchestrate work`) runs them.
            if o.ok && !job.orchestrations.is_empty() {
                match crate::orchestrate::enqueue(
                    store,
                    &job.orchestrations,
                    &spec.name,
                    &[(&changes[o.index], o.dn.as_str())],
                    Utc::now(),
                ) {
                    Ok(n) => queued += n,
                    Err(e) => {
                        tracing::error!(run = run_id, "cannot queue orchestrations: {e}");
                        queue_error.get_or_insert(e);
                    }
                }
            }
            pending.push(o.clone());
            // Small batches: a result not yet written is reconciled after a crash, but
            // the fewer, the less there is to reconcile.
            if pending.len() >= 200 {
                flush(store, &mut pending);
            }
        })
        .await;
        flush(store, &mut pending);
    }
    ui.apply_finished();
    // Changes of interrupted runs not found before: this apply may have done them again.
    let settled = if audit_error.is_none() {
        crate::recover::settle_absent(store, &dir, &spec.name).await
    } else {
        Ok(())
    };
    dir.close().await;
    timings.apply_ms = t.elapsed().as_millis() as u64;
    if let Some(e) = audit_error.or(queue_error) {
        return Err(e.into());
    }
    settled?;
    report.applied = true;
    report.applied_ok = ok;
    report.applied_failed = failed;
    report.applied_not_attempted = not_attempted;
    report.queued_orchestrations = queued;
    Ok(report)
}

/// A targeted run: fetch only the named people (server-side filtered where the source can),
/// read only their accounts (by key, and by the secondary-match values), plan and apply. The
/// rest of the directory is neither read nor touched; nobody is "missing from HR".
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_targeted(
    job: &Job,
    store: &mut Store,
    mode: Mode,
    opts: RunOptions,
    only: Only,
    now: DateTime<Utc>,
    ui: &mut dyn Ui,
    run_id: i64,
    timings: &mut Timings,
) -> Result<RunReport, EngineError> {
    let spec = job.mapping.spec();
    let field = only
        .field
        .clone()
        .unwrap_or_else(|| spec.primary_key.clone());
    let mut source = job.source.clone();
    let filtered = source.restrict(&field, &only.values);
    // 1-2. Fetch and map the named people.
    let t = Instant::now();
    let keep = {
        let mut k = job.mapping.referenced_fields();
        k.insert(field.split('.').next().unwrap_or_default().to_string());
        k
    };
    let today = now.date_naive();
    let dialect = job.directory.dialect;
    let (dir, schema, connect_time) = open_directory(job, store).await?;
    let mut results = Vec::new();
    let mut map_time = Duration::ZERO;
    // Keys are compared as the source compares them: IceHrm answers a filter for `emp112`
    // with EMP112 (case- and accent-insensitive).
    let mut found: std::collections::BTreeSet<String> = Default::default();
    let fingerprinter = if opts.save || job.approval.is_some() {
        Some(crate::plans::Fingerprinter::new(
            job,
            store.fingerprint_key()?,
        ))
    } else {
        None
    };
    let mut fingerprints = std::collections::BTreeMap::new();
    let mut report = source
        .fetch_with(Some(&keep), |rec| {
            let value = hrsync_model::record::lookup_scalar(&rec.fields, &field);
            let Some(wanted) = value.and_then(|v| {
                only.values
                    .iter()
                    .find(|w| job.source.key_matches(w, &v))
                    .cloned()
            }) else {
                return;
            };
            found.insert(wanted);
            if let Some((k, f)) = fingerprinter
                .as_ref()
                .and_then(|f| f.of(&job.mapping, &rec))
            {
                fingerprints.insert(k, f);
            }
            let t = Instant::now();
            results.push(map_record(
                &job.mapping,
                dialect,
                schema.as_deref(),
                &ref_attrs(job),
                job.statuses.as_ref(),
                &rec,
                today,
                job.actions.allows(hrsync_model::Action::Create),
            ));
            map_time += t.elapsed();
        })
        .await?;
    let mut event_findings: Vec<hrsync_model::Finding> = only
        .values
        .iter()
        .filter(|w| !found.contains(*w))
        .map(|w| {
            hrsync_model::Finding::warning(
                w.clone(),
                Some(field.clone()),
                format!(
                    "named by the event, but HR has nobody with {field} = {w:?}; nothing was changed for them"
                ),
            )
        })
        .collect();
    // The people they reference (a new hire's manager) are fetched too, so the reference
    // resolves in this run instead of at the next full sync.
    let extra = referenced_people(job, &results, &keep, dialect, schema.as_deref(), today).await;
    match extra {
        Ok(more) => results.extend(more),
        Err(e) => event_findings.push(hrsync_model::Finding::warning(
            "(references)",
            None,
            format!("the people this event's records refer to (managers) could not be fetched: {e}; their references wait for the next full sync"),
        )),
    }
    timings.fetch_ms = t.elapsed().saturating_sub(map_time).as_millis() as u64;
    timings.map_ms = map_time.as_millis() as u64;
    report.records = results.len();
    report.notes.push(format!(
        "targeted run for {} = {:?}{}",
        field,
        only.values,
        if filtered {
            ""
        } else {
            " (this source cannot filter server-side: everyone was fetched, the others ignored)"
        }
    ));

    // 3. Only their accounts: by key, and by the values secondary matching compares.
    let (mut planner, stored) =
        new_planner(job, store, now, hrsync_plan::MissingAction::Ignore, true)?;
    planner.add_findings(event_findings);
    let mut pairs: Vec<(String, String)> = Vec::new();
    for r in &results {
        let (key, attrs) = match r {
            HrRecordResult::Mapped(d, _) => (Some(d.key.clone()), Some(&d.attrs)),
            HrRecordResult::Failed(k, _) => (k.clone(), None),
        };
        if let Some(k) = key {
            pairs.push((spec.key_attribute.clone(), k));
        }
        for a in &job.match_on {
            for v in attrs
                .and_then(|m| m.get(&AttrName::new(a.clone())))
                .into_iter()
                .flatten()
            {
                pairs.push((a.clone(), v.clone()));
            }
        }
    }
    let t = Instant::now();
    dir.snapshot_any(&pairs, |e| planner.add_entry(e)).await?;
    timings.snapshot_ms = (t.elapsed() + connect_time).as_millis() as u64;
    let t = Instant::now();
    for r in results {
        r.feed(&mut planner);
    }
    let (plan, observed) = planner.finish(report);
    timings.plan_ms = t.elapsed().as_millis() as u64;
    let mut plan = plan;
    assign_unique(job, store, &dir, &mut plan).await?;
    // Percentages are of every account hrsync manages, not of the few read here; and what
    // runs applied in the last 24 hours counts too.
    let since = now - chrono::Duration::hours(24);
    let recent = [
        (
            "disable",
            store.applied_since(&spec.name, "disable", since)?,
        ),
        ("delete", store.applied_since(&spec.name, "delete", since)?),
    ];
    let confirmed = crate::plans::approval::confirmable(
        &mut plan,
        job.approval.as_ref(),
        &opts.confirmed_held,
        run_id,
    );
    crate::guards::hold_counting(
        &mut plan,
        &job.thresholds,
        stored.len(),
        confirmed,
        &recent,
        run_id,
    );
    crate::plans::approval::held_hint(&mut plan, job.approval.as_ref(), run_id);
    crate::plans::approval::gate(&mut plan, job.approval.as_ref());
    let mut report = conclude(
        job,
        store,
        mode,
        now,
        ui,
        run_id,
        timings,
        plan,
        observed,
        dir,
        &stored,
        Baseline {
            records: 0,
            set: false,
            prune_review: false,
        },
    )
    .await?;
    report.hr_fingerprints = fingerprints;
    Ok(report)
}

/// The HR records of the people `results` refer to (`manager` ← `supervisor.id`) that are not
/// among them, fetched by the field the reference names, mapped like the others.
pub(crate) async fn referenced_people(
    job: &Job,
    results: &[HrRecordResult],
    keep: &std::collections::BTreeSet<String>,
    dialect: hrsync_directory::Dialect,
    schema: Option<&hrsync_directory::Schema>,
    today: chrono::NaiveDate,
) -> Result<Vec<HrRecordResult>, EngineError> {
    let have: std::collections::BTreeSet<String> = results
        .iter()
        .filter_map(|r| match r {
            HrRecordResult::Mapped(d, _) => Some(d.key.clone()),
            HrRecordResult::Failed(k, _) => k.clone(),
        })
        .collect();
    let mut out = Vec::new();
    for (attr, field) in &job.ref_fields {
        let values: std::collections::BTreeSet<String> = results
            .iter()
            .filter_map(|r| match r {
                HrRecordResult::Mapped(d, _) => d.attrs.get(attr).and_then(|v| v.first()),
                HrRecordResult::Failed(..) => None,
            })
            .filter(|v| !v.trim().is_empty())
            .cloned()
            .collect();
        // Never an empty filter: IceHrm drops it and returns everyone.
        if values.is_empty() || !job.source.can_look_up(field) {
            continue;
        }
        let mut keep = keep.clone();
        keep.insert(field.split('.').next().unwrap_or_default().to_string());
        let mut recs = Vec::new();
        job.source
            .look_up(field, &values, Some(&keep), |rec| recs.push(rec))
            .await?;
        for rec in recs {
            if job.mapping.key_of(&rec).is_some_and(|k| have.contains(&k)) {
                continue;
            }
            out.push(map_record(
                &job.mapping,
                dialect,
                schema,
                &ref_attrs(job),
                job.statuses.as_ref(),
                &rec,
                today,
                job.actions.allows(hrsync_model::Action::Create),
            ));
        }
    }
    Ok(out)
}

/// Picks unique names (e.g. `sAMAccountName`) for the plan's creates: checked against the
/// directory, this run and the ledger of names hrsync ever gave.
pub(crate) async fn assign_unique(
    job: &Job,
    store: &Store,
    dir: &Directory,
    plan: &mut Plan,
) -> Result<(), EngineError> {
    let spec = job.mapping.spec();
    if spec.unique.is_empty() || !plan.changes.iter().any(|c| c.kind.creates()) {
        return Ok(());
    }
    let mut used = std::collections::BTreeMap::new();
    for u in &spec.unique {
        used.insert(
            u.attr.to_ascii_lowercase(),
            store.used_names(&spec.name, &u.attr)?,
        );
    }
    let scope = crate::unique::scope_of(&job.directory.base_dn);
    crate::unique::assign(plan, &spec.unique, dir, &used, &scope).await?;
    Ok(())
}
