//! The one place that knows the order of the stages:
//! fetch (source) → map (mapping) → snapshot (directory) → plan → [apply → audit] (state).
//! The CLI (and later the daemon and API) call [`run`]; nothing else sequences stages.

use crate::config::Job;
use chrono::{DateTime, Utc};
use hrsync_directory::{Directory, Outcome};
use hrsync_model::{AttrName, ChangeKind, DesiredEntry, Finding, Plan};
use hrsync_plan::{Link, PlanInput};
use hrsync_state::{AppliedChange, LinkRow, Store};
use std::collections::BTreeSet;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Source(#[from] hrsync_source::SourceError),
    #[error(transparent)]
    Directory(#[from] hrsync_directory::DirError),
    #[error(transparent)]
    State(#[from] hrsync_state::StateError),
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

/// What a run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    pub run_id: i64,
    pub plan: Plan,
    /// Applied changes that succeeded / failed (0 for a plan-only run or a declined apply).
    pub applied_ok: usize,
    pub applied_failed: usize,
    pub applied: bool,
    pub timings: Timings,
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

/// Runs one job: always plans; applies in [`Mode::Apply`] when `ui.confirm` agrees.
pub async fn run(
    job: &Job,
    store: &mut Store,
    mode: Mode,
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
    let run_id = store.start_run(command, &mapping_name, now)?;
    let result = run_inner(job, store, mode, now, ui, run_id, &mut timings).await;
    timings.total_ms = t0.elapsed().as_millis() as u64;
    match result {
        Ok(mut report) => {
            report.timings = timings;
            let status = if report.applied_failed > 0 {
                "partial"
            } else if mode == Mode::Apply && !report.applied && !report.plan.is_empty() {
                "declined"
            } else {
                "ok"
            };
            store.finish_run(run_id, status, None, Utc::now())?;
            tracing::info!(run = run_id, mapping = %mapping_name, timings = ?report.timings, "run finished: {status}");
            Ok(report)
        }
        Err(e) => {
            store.finish_run(run_id, "failed", Some(&e.to_string()), Utc::now())?;
            Err(e)
        }
    }
}

async fn run_inner(
    job: &Job,
    store: &mut Store,
    mode: Mode,
    now: DateTime<Utc>,
    ui: &mut dyn Ui,
    run_id: i64,
    timings: &mut Timings,
) -> Result<RunReport, EngineError> {
    let spec = job.mapping.spec();
    // 1-3. Fetch + map, and read the directory, at the same time. Records are mapped as their
    // page arrives, so raw HR records never pile up in memory.
    let keep = job.mapping.referenced_fields();
    let mut desired: Vec<DesiredEntry> = Vec::new();
    let mut findings: Vec<Finding> = Vec::new();
    let mut failed_keys = BTreeSet::new();
    let mut keyless = 0usize;
    let mut map_time = std::time::Duration::ZERO;
    let fetch = async {
        let t = Instant::now();
        let report = job
            .source
            .fetch_employees_with(Some(&keep), |rec| {
                let t = Instant::now();
                match job.mapping.map(&rec) {
                    Ok(d) => desired.push(d),
                    Err(f) => {
                        match job.mapping.key_of(&rec) {
                            Some(k) => {
                                failed_keys.insert(k);
                            }
                            None => keyless += 1,
                        }
                        findings.extend(f);
                    }
                }
                map_time += t.elapsed();
            })
            .await;
        (report, t.elapsed())
    };
    let read_directory = async {
        let t = Instant::now();
        let dir = Directory::connect(job.directory.clone()).await?;
        let snapshot = dir.snapshot().await?;
        Ok::<_, hrsync_directory::DirError>((dir, snapshot, t.elapsed()))
    };
    let ((fetched, fetch_time), directory) = tokio::join!(fetch, read_directory);
    let fetch_report = fetched?;
    let (dir, snapshot, snapshot_time) = directory?;
    timings.map_ms = map_time.as_millis() as u64;
    timings.fetch_ms = fetch_time.saturating_sub(map_time).as_millis() as u64;
    timings.snapshot_ms = snapshot_time.as_millis() as u64;

    // 4. plan
    let t = Instant::now();
    let links = store
        .links(&spec.name)?
        .into_iter()
        .map(|(k, l)| {
            (
                k,
                Link {
                    uuid: l.uuid,
                    dn: l.dn,
                },
            )
        })
        .collect();
    let desired_keys: BTreeSet<String> = desired.iter().map(|d| d.key.clone()).collect();
    // Links for every entry we can see that belongs to a person in HR (fills in uuids of
    // entries created by earlier runs, follows renames made outside hrsync).
    let seen_links: Vec<LinkRow> = snapshot
        .iter()
        .filter_map(|e| {
            let k = e.key.as_ref()?;
            (desired_keys.contains(k) || failed_keys.contains(k)).then(|| LinkRow {
                hr_key: k.clone(),
                uuid: e.uuid.clone(),
                dn: e.dn.clone(),
                state: if e.disabled {
                    "disabled".into()
                } else {
                    "active".into()
                },
            })
        })
        .collect();
    let plan = hrsync_plan::plan(PlanInput {
        mapping: spec.name.clone(),
        target: job.directory.label(),
        now,
        fetch: fetch_report,
        desired,
        failed_keys,
        keyless_records: keyless,
        findings,
        snapshot,
        links,
        owned: job
            .directory
            .owned
            .iter()
            .map(|a| AttrName::new(a.clone()))
            .collect(),
        rdn_attribute: spec.rdn_attribute.clone(),
        key_attribute: spec.key_attribute.clone(),
        missing_from_hr: job.missing_from_hr,
        managed_base: job.directory.users_ou.clone(),
    });
    timings.plan_ms = t.elapsed().as_millis() as u64;
    store.save_plan(run_id, &plan)?;
    store.upsert_links(&spec.name, &seen_links, now)?;

    let mut report = RunReport {
        run_id,
        plan,
        applied_ok: 0,
        applied_failed: 0,
        applied: false,
        timings: Timings::default(),
    };
    if mode == Mode::Plan || report.plan.is_empty() || !ui.confirm(&report.plan) {
        dir.close().await;
        return Ok(report);
    }

    // 5. apply + audit, written in chunks as results arrive.
    let t = Instant::now();
    let changes = &report.plan.changes;
    ui.apply_started(changes.len());
    let mut pending: Vec<Outcome> = Vec::new();
    let mut ok = 0usize;
    let mut failed = 0usize;
    let mut audit_error: Option<hrsync_state::StateError> = None;
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
            let links: Vec<LinkRow> = pending
                .iter()
                .filter(|o| o.ok)
                .map(|o| {
                    let c = &changes[o.index];
                    LinkRow {
                        hr_key: c.key.clone(),
                        uuid: c.uuid.clone(),
                        dn: o.dn.clone(),
                        state: if c.kind == ChangeKind::Disable {
                            "disabled".into()
                        } else {
                            "active".into()
                        },
                    }
                })
                .collect();
            let res = store
                .record_changes(run_id, &items)
                .and_then(|_| store.upsert_links(&spec.name, &links, at));
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
            }
            ui.applied(o);
            pending.push(o.clone());
            if pending.len() >= 1000 {
                flush(store, &mut pending);
            }
        })
        .await;
        flush(store, &mut pending);
    }
    ui.apply_finished();
    dir.close().await;
    timings.apply_ms = t.elapsed().as_millis() as u64;
    if let Some(e) = audit_error {
        return Err(e.into());
    }
    report.applied = true;
    report.applied_ok = ok;
    report.applied_failed = failed;
    Ok(report)
}
