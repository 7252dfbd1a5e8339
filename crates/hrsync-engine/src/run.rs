//! The entry of a run: one apply of a mapping at a time (the run lock), interrupted runs
//! settled, the run recorded, then a full run, a targeted run or a saved plan applied
//! ([`crate::engine`], [`crate::plans::apply`]), and the plan saved when asked or when changes
//! wait for approval. The CLI and the daemon call [`run`] or [`run_with`].

use crate::engine::{run_inner, run_targeted};
use crate::progress::RunEvent;
use crate::report::{EngineError, Mode, Progress, RunOptions, RunReport, RunStatus, Timings, Ui};
use chrono::{DateTime, Utc};
use hrsync_config::Job;
use hrsync_state::Store;
use std::time::Instant;

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
    let command = mode.as_str();
    // One apply of a mapping at a time, whoever starts it (CLI, schedule, event, a second
    // daemon): two would plan the same joiners and create them twice.
    let lock = format!("mapping:{mapping_name}");
    if mode == Mode::Apply {
        crate::locks::release_dead_locks(store)?;
        let me = crate::locks::owner_id();
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
    // The API's user when it runs the run, else this process's user.
    let progress = Progress::of(&opts);
    let operator = progress.operator.clone();
    let save = opts.save;
    let applying_saved = opts.saved.is_some();
    let result = match store.start_run_as(command, &mapping_name, opts.trigger, &operator, now) {
        Ok(run_id) => {
            progress.emit(|| RunEvent::Started {
                run_id,
                mapping: mapping_name.clone(),
                mode: command,
            });
            let p = &progress;
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
                        p,
                    )
                    .await
                }
                (None, Some(only)) => {
                    run_targeted(
                        job,
                        store,
                        mode,
                        opts,
                        only,
                        now,
                        ui,
                        run_id,
                        &mut timings,
                        p,
                    )
                    .await
                }
                (None, None) => {
                    run_inner(job, store, mode, opts, now, ui, run_id, &mut timings, p).await
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
            // A cancelled run says so, and by whom when that is known.
            let cancelled_by = report.cancelled.then(|| progress.cancelled_by()).flatten();
            let note = report.cancelled.then(|| match &cancelled_by {
                Some(by) => format!("cancelled by {by}"),
                None => "cancelled".to_string(),
            });
            let finished = store
                .finish_run(run_id, status, note.as_deref(), Utc::now())
                .map_err(EngineError::from)
                .and_then(|()| {
                    // A plan to apply later: saved on request, and whenever changes wait for
                    // approval; never by a cancelled run.
                    if !applying_saved
                        && !report.cancelled
                        && (save || crate::plans::approval::needs_saving(&report.plan, job))
                    {
                        let fps = std::mem::take(&mut report.hr_fingerprints);
                        crate::plans::save::record(store, job, &report, &fps, &operator, now)?;
                    }
                    Ok(())
                });
            progress.emit(|| RunEvent::Finished {
                status,
                applied_ok: report.applied_ok,
                applied_failed: report.applied_failed,
                not_attempted: report.applied_not_attempted,
                error: finished.as_ref().err().map(|e| e.to_string()),
                cancelled_by,
            });
            finished?;
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
            progress.emit(|| RunEvent::Finished {
                status: RunStatus::Failed.as_str(),
                applied_ok: 0,
                applied_failed: 0,
                not_attempted: 0,
                error: Some(e.to_string()),
                cancelled_by: None,
            });
            store.finish_run(run_id, "failed", Some(&e.to_string()), Utc::now())?;
            Err(e)
        }
    }
}
