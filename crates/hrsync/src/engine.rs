//! The one place that knows the order of the stages:
//! fetch (source) → map (mapping) → snapshot (directory) → plan → [apply → audit] (state).
//! The CLI (and later the daemon and API) call [`run`]; nothing else sequences stages.

use crate::config::Job;
use chrono::{DateTime, Utc};
use hrsync_directory::{Directory, Outcome};
use hrsync_model::{AttrName, Plan};
use hrsync_plan::{Link, MatchDecision, PlanOptions, Planner};
use hrsync_state::{LinkRow, Store};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Source(#[from] hrsync_source::SourceError),
    #[error(transparent)]
    Directory(#[from] hrsync_directory::DirError),
    #[error(transparent)]
    State(#[from] hrsync_state::StateError),
    #[error("internal error: the fetch task failed: {0}")]
    Task(String),
    #[error(
        "another apply of mapping {mapping:?} is running ({holder}); try again when it is done"
    )]
    Busy { mapping: String, holder: String },
    #[error(transparent)]
    Plan(#[from] crate::plans::PlanError),
}

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
    statuses: Option<&crate::statuses::StatusRule>,
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
                    crate::statuses::Checked::Keep(d, w) => (d, w),
                    crate::statuses::Checked::Hold(d, w) => {
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

/// Plan only, or plan and apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plan,
    Apply,
}

/// Time spent per stage, for logs and the benchmark.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Timings {
    pub fetch_ms: u64,
    pub map_ms: u64,
    pub snapshot_ms: u64,
    pub plan_ms: u64,
    pub apply_ms: u64,
    pub total_ms: u64,
}

/// How a run ended, worst first in [`RunStatus::exit_code`]'s order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Everything planned was done (or, for a plan, can be).
    Ok,
    /// The operator said no.
    Declined,
    /// Changes were held (blast-radius thresholds, the record-count guard, leavers withheld):
    /// they wait for `--confirm-held RUN` or `--accept-drop`.
    Held,
    /// The HR fetch was incomplete: leavers were withheld; creates and updates of the people
    /// that arrived may have been applied.
    Incomplete,
    /// Some applied changes failed.
    Partial,
    /// Every applied change failed.
    Failed,
    /// Changes wait for an operator's approval (`[mapping.approval]`): `hrsync approve`.
    AwaitingApproval,
    /// A saved plan was applied, and some of its changes were skipped as stale (what they
    /// assumed no longer holds): make a new plan.
    Stale,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Declined => "declined",
            RunStatus::Held => "held",
            RunStatus::Incomplete => "incomplete",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
            RunStatus::AwaitingApproval => "awaiting_approval",
            RunStatus::Stale => "stale",
        }
    }

    /// The process exit code (README, "Exit codes"): 0 ok or declined, 3 changes failed,
    /// 4 incomplete fetch, 5 changes held or awaiting approval, 6 changes of a saved plan
    /// skipped as stale. (1 is an error before anything was applied.)
    pub fn exit_code(self) -> i32 {
        match self {
            RunStatus::Ok | RunStatus::Declined => 0,
            RunStatus::Partial | RunStatus::Failed => 3,
            RunStatus::Incomplete => 4,
            RunStatus::Held | RunStatus::AwaitingApproval => 5,
            RunStatus::Stale => 6,
        }
    }

    /// What a run report says.
    pub fn of(report: &RunReport, mode: Mode) -> RunStatus {
        let plan = &report.plan;
        if report.applied_failed > 0 {
            if report.applied_ok == 0 {
                RunStatus::Failed
            } else {
                RunStatus::Partial
            }
        } else if !plan.fetch.complete {
            RunStatus::Incomplete
        } else if !plan.stale.is_empty() {
            RunStatus::Stale
        } else if !plan.held.is_empty() || plan.leavers_withheld > 0 {
            RunStatus::Held
        } else if !plan.awaiting_approval.is_empty() {
            RunStatus::AwaitingApproval
        } else if mode == Mode::Apply && !report.applied && !plan.is_empty() {
            RunStatus::Declined
        } else {
            RunStatus::Ok
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    pub run_id: i64,
    pub status: RunStatus,
    pub plan: Plan,
    /// Applied changes that succeeded / failed (0 for a plan-only run or a declined apply).
    pub applied_ok: usize,
    pub applied_failed: usize,
    /// Of the failed ones, those never sent (the connection to the directory was lost).
    pub applied_not_attempted: usize,
    pub applied: bool,
    /// Orchestration instances the applied changes queued (run by `hrsync serve` or
    /// `hrsync orchestrate work`).
    pub queued_orchestrations: usize,
    pub timings: Timings,
    /// The HR fingerprints of the people fetched, when the plan is saved (`--save`, or
    /// changes await approval): what each saved change assumed about HR.
    #[serde(skip)]
    pub hr_fingerprints: std::collections::BTreeMap<String, crate::plans::HrFingerprint>,
    /// The run applied a plan file from another state database (`plan.from_plan` is that
    /// database's id; the approvals of its changes are there, not here).
    #[serde(skip)]
    pub foreign_plan: bool,
}

/// Hooks for the caller: confirmation before apply, and progress while applying.
pub trait Ui {
    /// Called with the plan before applying; return false to stop without changing anything.
    fn confirm(&mut self, plan: &Plan) -> bool;
    fn apply_started(&mut self, _total: usize) {}
    fn applied(&mut self, _outcome: &Outcome) {}
    fn apply_finished(&mut self) {}
}

/// A UI that always says yes and shows nothing (tests, `--yes` without a terminal).
pub struct Unattended;
impl Ui for Unattended {
    fn confirm(&mut self, _plan: &Plan) -> bool {
        true
    }
}

/// How a run should behave beyond plan-or-apply.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Accept a record-count drop beyond `lifecycle.max_record_drop_percent` for this run (the
    /// operator checked that the people really left).
    pub accept_record_drop: bool,
    /// Held changes confirmed for release (`guards::held_tokens` of the confirmed run).
    pub confirmed_held: std::collections::BTreeSet<String>,
    /// A targeted run: only these people (an HR event names them). Nobody else is read,
    /// planned or treated as missing.
    pub only: Option<Only>,
    /// Fetch everyone even when the endpoint asks only for changes since the last sync
    /// (`{lastRunTime}`): a full sync, which can also find leavers.
    pub full_fetch: bool,
    /// What started the run (recorded with the run and each audit row, with the operator).
    pub trigger: hrsync_state::Trigger,
    /// Store the plan as a saved plan (`hrsync plan --save`), with each change's assumptions.
    pub save: bool,
    /// Apply this saved plan (exactly its changes, each checked for drift) instead of
    /// planning anew (`hrsync apply --plan ID`).
    pub saved: Option<std::sync::Arc<crate::plans::SavedPlan>>,
}

/// The people of a targeted run.
#[derive(Debug, Clone, Default)]
pub struct Only {
    /// HR field the values are compared with (dotted path); None = the primary key.
    pub field: Option<String>,
    pub values: std::collections::BTreeSet<String>,
}

/// Runs one job: always plans; applies in [`Mode::Apply`] when `ui.confirm` agrees.
pub async fn run(
    job: &Job,
    store: &mut Store,
    mode: Mode,
    now: DateTime<Utc>,
    ui: &mut dyn Ui,
) -> Result<RunReport, EngineError> {
    run_with(job, store, mode, RunOptions::default(), now, ui).await
}

/// [`run`] with options.
pub async fn run_with(
    job: &Job,
    store: &mut Store,
    mode: Mode,
    opts: RunOptions,
    now: DateTime<Utc>,
    ui: &mut dyn Ui,
) -> Result<RunReport, EngineError> {
    let t0 = Instant::now();
    let mut timings = Timings::default();
    let mapping_name = job.mapping.spec().name.clone();
    let command = match mode {
        Mode::Plan => "plan",
        Mode::Apply => "apply",
    };
    // One apply of a mapping at a time, whoever starts it (CLI, schedule, event, a second
    // daemon): two would plan the same joiners and create them twice.
    let lock = format!("mapping:{mapping_name}");
    if mode == Mode::Apply {
        crate::service::release_dead_locks(store)?;
        let me = crate::service::owner_id();
        if !store.try_lock_automation(&lock, &me, Utc::now(), chrono::Duration::hours(6))? {
            let holder = store
                .automation(&lock)?
                .and_then(|r| r.running_owner)
                .unwrap_or_default();
            return Err(EngineError::Busy {
                mapping: mapping_name,
                holder,
            });
        }
    }
    // Runs of dead processes are `interrupted`, never `running` for ever.
    crate::recover::mark_interrupted(store, Utc::now())?;
    let operator = hrsync_state::operator_name();
    let save = opts.save;
    let applying_saved = opts.saved.is_some();
    let result = match store.start_run_as(command, &mapping_name, opts.trigger, &operator, now) {
        Ok(run_id) => {
            let r = match (opts.saved.clone(), opts.only.clone()) {
                (Some(saved), _) => {
                    crate::plans::apply::run(
                        job,
                        store,
                        mode,
                        &saved,
                        now,
                        ui,
                        run_id,
                        &mut timings,
                    )
                    .await
                }
                (None, Some(only)) => {
                    run_targeted(job, store, mode, opts, only, now, ui, run_id, &mut timings).await
                }
                (None, None) => {
                    run_inner(job, store, mode, opts, now, ui, run_id, &mut timings).await
                }
            };
            Ok((run_id, r))
        }
        Err(e) => Err(e),
    };
    if mode == Mode::Apply {
        let _ = store.release_lock(&lock);
    }
    let (run_id, result) = result?;
    timings.total_ms = t0.elapsed().as_millis() as u64;
    match result {
        Ok(mut report) => {
            report.timings = timings;
            report.status = RunStatus::of(&report, mode);
            let status = report.status.as_str();
            store.finish_run(run_id, status, None, Utc::now())?;
            // A plan to apply later: saved on request, and whenever changes wait for approval.
            if !applying_saved && (save || crate::plans::approval::needs_saving(&report.plan, job))
            {
                let fps = std::mem::take(&mut report.hr_fingerprints);
                crate::plans::record(store, job, &report, &fps, &operator, now)?;
            }
            let t = &report.timings;
            tracing::info!(
                run = run_id,
                mapping = %mapping_name,
                status,
                fetch_ms = t.fetch_ms,
                map_ms = t.map_ms,
                snapshot_ms = t.snapshot_ms,
                plan_ms = t.plan_ms,
                apply_ms = t.apply_ms,
                total_ms = t.total_ms,
                "run finished: {status}"
            );
            Ok(report)
        }
        Err(e) => {
            store.finish_run(run_id, "failed", Some(&e.to_string()), Utc::now())?;
            Err(e)
        }
    }
}

/// How many directory entries a full run reads ahead of the HR records received.
const READ_AHEAD: usize = 10_000;

/// The target of the engine's log lines, its stages' included.
const LOG_TARGET: &str = module_path!();

mod stages;
use stages::RunCtx;

/// A full run: fetch + map, read the directory, plan, hold what waits for an operator, then
/// [`conclude`].
#[allow(clippy::too_many_arguments)]
async fn run_inner(
    job: &Job,
    store: &mut Store,
    mode: Mode,
    opts: RunOptions,
    now: DateTime<Utc>,
    ui: &mut dyn Ui,
    run_id: i64,
    timings: &mut Timings,
) -> Result<RunReport, EngineError> {
    let mut ctx = RunCtx {
        job,
        store,
        mode,
        now,
        ui,
        run_id,
        timings,
    };
    let window = stages::FetchWindow::of(&ctx, &opts)?;
    let fingerprinter = stages::fingerprinter(&ctx, &opts)?;
    // The directory first (a bind and one read of its schema, a few ms): no fetch without it,
    // and the schema checks every mapped record.
    let (dir, schema, connect_time) = open_directory(job, ctx.store).await?;
    let fetch = stages::Fetch::start(&ctx, &window, schema, fingerprinter);
    // The stored links are read while the first pages arrive (they queue on the channel).
    let (planner, stored) = match new_planner(job, ctx.store, now, window.missing(job), false) {
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
    let suspect =
        stages::guard_record_count(&ctx, &opts, &window, &mut fetch_report, &mut planner)?;
    let (mut plan, observed, baseline) =
        stages::plan(&mut ctx, &window, planner, fetch_report, suspect, &dir).await?;
    stages::hold(&ctx, &opts, &mut plan);
    times.plan += t.elapsed();
    times.record(ctx.timings);

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
        &stored,
        baseline,
    )
    .await?;
    report.hr_fingerprints = fingerprints;
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
            unlinked_disable: job.unlinked == crate::config::Unlinked::Disable,
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
    let mut ctx = RunCtx {
        job,
        store,
        mode,
        now,
        ui,
        run_id,
        timings,
    };
    stages::record_plan(&mut ctx, &plan, observed, stored, &baseline)?;
    let mut report = stages::unapplied(run_id, plan);
    if mode == Mode::Plan || report.plan.is_empty() || !ctx.ui.confirm(&report.plan) {
        stages::close_unapplied(&mut ctx, dir).await?;
        return Ok(report);
    }
    // 5. apply + audit.
    let t = Instant::now();
    let applied = stages::apply(&mut ctx, &report.plan.changes, &dir).await?;
    let settled = stages::settle_interrupted(&mut ctx, &applied, &dir).await;
    dir.close().await;
    ctx.timings.apply_ms = t.elapsed().as_millis() as u64;
    applied.report(settled, &mut report)?;
    Ok(report)
}

/// A targeted run: fetch only the named people (server-side filtered where the source can),
/// read only their accounts (by key, and by the secondary-match values), plan and apply. The
/// rest of the directory is neither read nor touched; nobody is "missing from HR".
#[allow(clippy::too_many_arguments)]
async fn run_targeted(
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

#[cfg(test)]
mod tests {
    use super::*;
    use hrsync_model::ChangeKind;

    fn report(ok: usize, failed: usize, complete: bool, held: usize) -> RunReport {
        let mut plan = Plan::default();
        plan.fetch.complete = complete;
        plan.held = (0..held)
            .map(|i| hrsync_model::Change {
                kind: ChangeKind::Disable,
                key: i.to_string(),
                dn: String::new(),
                new_dn: None,
                uuid: None,
                attrs: vec![],
                reason: String::new(),
            })
            .collect();
        RunReport {
            run_id: 1,
            status: RunStatus::Ok,
            plan,
            applied_ok: ok,
            applied_failed: failed,
            applied_not_attempted: 0,
            queued_orchestrations: 0,
            applied: ok + failed > 0,
            timings: Timings::default(),
            hr_fingerprints: Default::default(),
            foreign_plan: false,
        }
    }

    #[test]
    fn statuses_and_exit_codes_tell_the_truth() {
        let s = |r: &RunReport| RunStatus::of(r, Mode::Apply);
        assert_eq!(s(&report(3, 0, true, 0)), RunStatus::Ok);
        assert_eq!(s(&report(2, 1, true, 0)), RunStatus::Partial);
        // Everything failed: failed, not partial.
        assert_eq!(s(&report(0, 4, true, 0)), RunStatus::Failed);
        assert_eq!(s(&report(3, 0, false, 0)), RunStatus::Incomplete);
        assert_eq!(s(&report(3, 0, true, 2)), RunStatus::Held);
        assert_eq!(RunStatus::Failed.exit_code(), 3);
        assert_eq!(RunStatus::Incomplete.exit_code(), 4);
        assert_eq!(RunStatus::Held.exit_code(), 5);
        assert_eq!(RunStatus::Ok.exit_code(), 0);
    }
}
