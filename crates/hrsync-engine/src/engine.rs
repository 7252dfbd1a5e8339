//! The one place that knows the order of the stages:
//! fetch (source) → map (mapping) → snapshot (directory) → plan → [apply → audit] (state).
//! The CLI and the daemon enter through [`crate::run`] (run lock, run recorded, then a full
//! run, a targeted run or a saved plan); nothing else sequences stages.

use crate::progress::{RunEvent, Stage, StageState};
use crate::report::{
    EngineError, Mode, Only, Progress, RunOptions, RunReport, RunStatus, Timings, Ui,
};
use chrono::{DateTime, Utc};
use hrsync_config::Job;
use hrsync_directory::Directory;
use hrsync_model::{AttrName, Plan};
use hrsync_plan::{Link, MatchDecision, PlanOptions, Planner};
use hrsync_state::Store;
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

/// The target of the engine's log lines, its stages' included.
const LOG_TARGET: &str = module_path!();

mod stages;
use stages::RunCtx;
pub(crate) use stages::cancelled;

/// A full run: fetch + map, read the directory, plan, hold what waits for an operator, then
/// [`conclude`].
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
    progress: &Progress,
) -> Result<RunReport, EngineError> {
    let mut ctx = RunCtx {
        job,
        store,
        mode,
        now,
        ui,
        run_id,
        timings,
        progress,
    };
    if progress.cancelled() {
        return Ok(stages::cancelled(run_id, Plan::default()));
    }
    let window = stages::FetchWindow::of(&ctx, &opts)?;
    let fingerprinter = stages::fingerprinter(&ctx, &opts)?;
    // Fetch, map and snapshot overlap: they start (and finish) together.
    for stage in [Stage::Fetch, Stage::Map, Stage::Snapshot] {
        progress.stage(stage, StageState::Started, None);
    }
    // The directory first (a bind and one read of its schema, a few ms): no fetch without it,
    // and the schema checks every mapped record.
    let (dir, schema, connect_time) = open_directory(job, ctx.store).await?;
    let fetch = stages::Fetch::start(&ctx, &window, schema, fingerprinter);
    // The stored links are read while the first pages arrive (they queue on the channel).
    let planner = match ctx
        .store
        .link_rows(&job.mapping.spec().name)
        .map_err(EngineError::from)
        .and_then(|links| new_planner(job, ctx.store, links, now, window.missing(job), false))
    {
        Ok(p) => p,
        Err(e) => {
            fetch.abort();
            return Err(e);
        }
    };
    let stages::Paired {
        mut planner,
        fetched,
        dir,
        fingerprints,
        mut times,
    } = fetch.pair(planner, dir, connect_time).await?;
    let t = Instant::now();
    let mut fetch_report = fetched.keep_hr_snapshot(&window).await;
    window.note(&mut fetch_report);
    times.record(ctx.timings);
    stages::fetched(&ctx, &fetch_report);
    if progress.cancelled() {
        dir.close().await;
        let plan = Plan {
            fetch: fetch_report,
            ..Plan::default()
        };
        return Ok(stages::cancelled(run_id, plan));
    }
    progress.stage(Stage::Plan, StageState::Started, None);
    let suspect =
        stages::guard_record_count(&ctx, &opts, &window, &mut fetch_report, &mut planner)?;
    let (mut plan, observed, baseline) =
        stages::plan(&mut ctx, &window, planner, fetch_report, suspect, &dir).await?;
    stages::hold(&ctx, &opts, &mut plan);
    times.plan += t.elapsed();
    times.record(ctx.timings);
    let plan_ms = ctx.timings.plan_ms;
    progress.stage(Stage::Plan, StageState::Finished, Some(plan_ms));

    let mut report = conclude(
        job,
        ctx.store,
        mode,
        now,
        ctx.ui,
        run_id,
        ctx.timings,
        plan,
        observed,
        dir,
        baseline,
        progress,
    )
    .await?;
    report.hr_fingerprints = fingerprints;
    Ok(report)
}

/// The planner for one run of `job`, owning the mapping's stored `links` (read by the caller,
/// [`Store::link_rows`]); it hands back those that changed.
pub(crate) fn new_planner(
    job: &Job,
    store: &Store,
    links: Vec<hrsync_state::LinkRow>,
    now: DateTime<Utc>,
    missing: hrsync_plan::MissingAction,
    targeted: bool,
) -> Result<Planner, EngineError> {
    let spec = job.mapping.spec();
    let links = links.into_iter().map(|l| {
        let link = Link {
            disabled: l.disabled(),
            uuid: l.uuid,
            dn: l.dn,
        };
        (l.hr_key, link)
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
    Ok(planner)
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
    baseline: Baseline,
    progress: &Progress,
) -> Result<RunReport, EngineError> {
    let mut ctx = RunCtx {
        job,
        store,
        mode,
        now,
        ui,
        run_id,
        timings,
        progress,
    };
    stages::record_plan(&mut ctx, &plan, observed, &baseline)?;
    stages::planned(&ctx, &plan);
    let mut report = stages::unapplied(run_id, plan);
    // Cancelled before the apply (asked last, after the confirmation): nothing is applied
    // (the plan is stored).
    if mode == Mode::Plan
        || report.plan.is_empty()
        || progress.cancelled()
        || !ctx.ui.confirm(&report.plan)
        || progress.cancelled()
    {
        stages::close_unapplied(&mut ctx, dir).await?;
        report.cancelled = progress.cancelled();
        return Ok(report);
    }
    // 5. apply + audit.
    let t = Instant::now();
    progress.stage(Stage::Apply, StageState::Started, None);
    let applied = stages::apply(&mut ctx, &report.plan.changes, &dir).await?;
    let settled = stages::settle_interrupted(&mut ctx, &applied, &dir).await;
    dir.close().await;
    ctx.timings.apply_ms = t.elapsed().as_millis() as u64;
    progress.stage(
        Stage::Apply,
        StageState::Finished,
        Some(ctx.timings.apply_ms),
    );
    applied.report(settled, &mut report)?;
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
    progress: &Progress,
) -> Result<RunReport, EngineError> {
    if progress.cancelled() {
        return Ok(stages::cancelled(run_id, Plan::default()));
    }
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
    for stage in [Stage::Fetch, Stage::Map] {
        progress.stage(stage, StageState::Started, None);
    }
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
    progress.stage(Stage::Fetch, StageState::Finished, Some(timings.fetch_ms));
    progress.stage(Stage::Map, StageState::Finished, Some(timings.map_ms));
    progress.emit(|| RunEvent::Fetched {
        records: report.records,
        pages: report.pages,
        complete: report.complete,
    });
    if progress.cancelled() {
        dir.close().await;
        let plan = Plan {
            fetch: report,
            ..Plan::default()
        };
        return Ok(stages::cancelled(run_id, plan));
    }
    progress.stage(Stage::Snapshot, StageState::Started, None);

    // 3. Only their accounts: by key, and by the values secondary matching compares.
    let links = store.link_rows(&spec.name)?;
    let stored = links.len();
    let mut planner = new_planner(
        job,
        store,
        links,
        now,
        hrsync_plan::MissingAction::Ignore,
        true,
    )?;
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
    progress.stage(
        Stage::Snapshot,
        StageState::Finished,
        Some(timings.snapshot_ms),
    );
    progress.stage(Stage::Plan, StageState::Started, None);
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
        stored,
        confirmed,
        &recent,
        run_id,
    );
    crate::plans::approval::held_hint(&mut plan, job.approval.as_ref(), run_id);
    crate::plans::approval::gate(&mut plan, job.approval.as_ref());
    progress.stage(Stage::Plan, StageState::Finished, Some(timings.plan_ms));
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
        Baseline {
            records: 0,
            set: false,
            prune_review: false,
        },
        progress,
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
