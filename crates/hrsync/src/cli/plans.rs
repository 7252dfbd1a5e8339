//! `plan --save` / `--out`, `apply --plan` / `--plan-file`, `approve` and `approvals`
//! (issue 14 §1-2): the CLI's side; the work is in `hrsync_engine::plans`.

use anyhow::{Context, Result, bail};
use chrono::Utc;
use hrsync_config::Config;
use hrsync_engine::RunReport;
use hrsync_engine::plans::{self, approval};
use hrsync_state::Store;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `hrsync plan` options of saved plans.
#[derive(clap::Args, Default)]
pub(crate) struct SaveArgs {
    /// Store the plan as a saved plan (its id is printed) for `hrsync apply --plan ID`.
    #[arg(long)]
    pub(crate) save: bool,
    /// Also write the saved plan to this JSON file (mode 0600), for `apply --plan-file`.
    #[arg(long, value_name = "FILE.json")]
    pub(crate) out: Option<PathBuf>,
}

/// `hrsync apply` options of saved plans.
#[derive(clap::Args, Default)]
pub(crate) struct FromArgs {
    /// Apply exactly the changes of saved plan ID (each checked for drift), not a new plan.
    #[arg(long, value_name = "ID", conflicts_with_all = ["plan_file", "confirm_held", "accept_drop"])]
    pub(crate) plan: Option<i64>,
    /// Apply exactly the changes of the plan in this file (`plan --out`), checked against
    /// this configuration's fingerprint.
    #[arg(long, value_name = "FILE.json", conflicts_with_all = ["confirm_held", "accept_drop"])]
    pub(crate) plan_file: Option<PathBuf>,
}

/// The saved plan `apply` should apply (checked: mapping, expiry, configuration), and its
/// mapping.
pub(crate) fn saved_for_apply(
    cfg: &Config,
    store: &Store,
    from: &FromArgs,
    mapping: Option<&str>,
) -> Result<Option<Arc<plans::SavedPlan>>> {
    let saved = match (&from.plan, &from.plan_file) {
        (Some(id), _) => {
            let row = store
                .saved_plan(*id)?
                .ok_or(plans::PlanError::NotSaved(*id))?;
            let job = cfg.job(&row.mapping)?;
            let saved = plans::load(store, &job, *id, Utc::now())?;
            if row.status == "applied"
                && let Some(run) = row.applied_run
            {
                bail!(plans::PlanError::Applied { id: *id, run });
            }
            saved
        }
        (None, Some(path)) => {
            let saved = plans::read_plan_file(path, store)?;
            let job = cfg.job(&saved.plan.mapping).with_context(|| {
                format!(
                    "plan file {} is for mapping {:?}",
                    path.display(),
                    saved.plan.mapping
                )
            })?;
            saved
                .check(&job, Utc::now())
                .map_err(|e| anyhow::anyhow!("{e} (plan file {})", path.display()))?;
            saved
        }
        (None, None) => return Ok(None),
    };
    if let Some(m) = mapping
        && m != saved.plan.mapping
    {
        bail!(
            "plan {} is for mapping {:?}, not {m:?}",
            saved.id,
            saved.plan.mapping
        );
    }
    Ok(Some(Arc::new(saved)))
}

/// After `plan --save`: the id to apply, and the file when `--out`.
pub(crate) fn after_save(
    store: &Store,
    report: &RunReport,
    args: &SaveArgs,
    config: &Path,
    json: bool,
) -> Result<()> {
    let saved = plans::load_unchecked(store, report.run_id)?;
    if let Some(out) = &args.out {
        plans::write_plan_file(out, &saved, store)?;
    }
    if json {
        return Ok(());
    }
    println!(
        "Saved plan {} (expires {}): apply exactly these changes with `hrsync apply -c {} --plan {}`{}",
        saved.id,
        saved
            .expires_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        config.display(),
        saved.id,
        match &args.out {
            Some(o) => format!(
                ", or `hrsync apply -c {} --plan-file {}`",
                config.display(),
                o.display()
            ),
            None => String::new(),
        }
    );
    Ok(())
}

/// Status lines about stale and waiting changes (after the run's status line).
pub(crate) fn print_status(report: &RunReport, config: &Path) {
    let plan = &report.plan;
    let cfg = config.display();
    if !plan.stale.is_empty() {
        println!(
            "  {} change(s) of saved plan {} were STALE and skipped (what they assumed no longer holds); make a new plan: hrsync plan -c {cfg} --save",
            plan.stale.len(),
            plan.from_plan.map(|p| p.to_string()).unwrap_or_default()
        );
    }
    if !plan.awaiting_approval.is_empty() && report.foreign_plan {
        // Its id names another plan (or none) in this state database: never point there.
        println!(
            "  {} change(s) AWAIT APPROVAL (not applied): the plan file comes from another state database, where its approvals are; approve them there, or make a plan with this one: hrsync plan -c {cfg} --save",
            plan.awaiting_approval.len()
        );
    } else if !plan.awaiting_approval.is_empty() {
        let id = plan.from_plan.unwrap_or(report.run_id);
        println!(
            "  {} change(s) AWAIT APPROVAL (not applied); review them, then: hrsync approve -c {cfg} {id}, and hrsync apply -c {cfg} --plan {id}",
            plan.awaiting_approval.len()
        );
    }
}

/// `hrsync approve`.
pub(crate) fn approve(
    config: &Path,
    plan: i64,
    only: Vec<String>,
    reject: Vec<String>,
    comment: Option<String>,
    json: bool,
) -> Result<i32> {
    let cfg = Config::load(config)?;
    let mut store = Store::open(&cfg.state_path())?;
    let row = store
        .saved_plan(plan)?
        .ok_or(plans::PlanError::NotSaved(plan))?;
    let job = cfg.job(&row.mapping)?;
    let operator = hrsync_state::operator_name();
    let decided = approval::approve(
        &mut store,
        job.approval.as_ref(),
        plan,
        &approval::Request {
            only,
            reject,
            comment,
        },
        &operator,
        Utc::now(),
    )?;
    if json {
        println!("{}", serde_json::to_string_pretty(&decided)?);
        return Ok(0);
    }
    for d in &decided {
        println!(
            "{} {} {}  [{}]  by {operator}",
            d.decision, d.kind, d.dn, d.key
        );
    }
    let approved = decided.iter().filter(|d| d.decision == "approved").count();
    println!(
        "{approved} approved, {} rejected; {}",
        decided.len() - approved,
        if approved == 0 {
            "nothing to apply".to_string()
        } else if job.approval.as_ref().is_some_and(|a| a.auto_apply) {
            format!(
                "the daemon applies them in its next run of {:?}, or now: hrsync apply -c {} --plan {plan}",
                row.mapping,
                config.display()
            )
        } else {
            format!(
                "apply them: hrsync apply -c {} --plan {plan}",
                config.display()
            )
        }
    );
    Ok(0)
}

/// `hrsync approvals`: what waits for approval.
pub(crate) fn approvals(config: &Path, mapping: Option<&str>, json: bool) -> Result<i32> {
    let cfg = Config::load(config)?;
    let store = Store::open(&cfg.state_path())?;
    let waiting = approval::pending(&store, mapping, Utc::now())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&waiting)?);
        return Ok(0);
    }
    if waiting.is_empty() {
        println!("nothing waits for approval");
        return Ok(0);
    }
    let mut last = None;
    for w in &waiting {
        if last != Some(w.plan) {
            println!(
                "plan {} [{}] by {} at {} (expires {}):",
                w.plan, w.mapping, w.planned_by, w.saved_at, w.expires_at
            );
            last = Some(w.plan);
        }
        println!(
            "  ! {} {}{}  [{}]  {}  (needs approval: {})",
            w.kind,
            w.dn,
            w.new_dn
                .as_deref()
                .map(|n| format!(" -> {n}"))
                .unwrap_or_default(),
            w.key,
            w.reason,
            w.needs
        );
    }
    println!(
        "approve: hrsync approve -c {} PLAN [--only KIND|KEY…] [--reject KIND|KEY…] [--comment TEXT]",
        config.display()
    );
    Ok(0)
}

/// For `hrsync runs`: what a run's saved plan is and what was decided on it (None: the run's
/// plan is not a saved plan).
pub(crate) fn saved_plan_summary(store: &Store, run: i64) -> Option<serde_json::Value> {
    let row = store.saved_plan(run).ok()??;
    let saved = plans::load_unchecked(store, run).ok()?;
    let decisions = approval::of_plan_all(&saved);
    let count = |d: Option<&str>| {
        decisions
            .iter()
            .filter(|w| w.decision.as_deref() == d)
            .count()
    };
    Some(serde_json::json!({
        "status": row.status,
        "saved_by": row.saved_by,
        "expires_at": row.expires_at,
        "applied_run": row.applied_run,
        "waiting": count(None),
        "approved": count(Some("approved")),
        "rejected": count(Some("rejected")),
        "decisions": decisions.iter().filter(|w| w.decision.is_some()).collect::<Vec<_>>(),
    }))
}

/// The line `hrsync runs` prints under a run whose plan is a saved plan.
pub(crate) fn saved_plan_line(v: &serde_json::Value) -> String {
    let by: Vec<String> = v["decisions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            format!(
                "{} {} [{}] by {}{}",
                d["decision"].as_str().unwrap_or("?"),
                d["kind"].as_str().unwrap_or("?"),
                d["key"].as_str().unwrap_or("?"),
                d["decided_by"].as_str().unwrap_or("?"),
                d["comment"]
                    .as_str()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default()
            )
        })
        .collect();
    format!(
        "       saved plan ({}, by {}, expires {}{}): {} waiting for approval, {} approved, {} rejected{}",
        v["status"].as_str().unwrap_or("?"),
        v["saved_by"].as_str().unwrap_or("?"),
        v["expires_at"].as_str().unwrap_or("?"),
        v["applied_run"]
            .as_i64()
            .map(|r| format!(", applied by run {r}"))
            .unwrap_or_default(),
        v["waiting"],
        v["approved"],
        v["rejected"],
        if by.is_empty() {
            String::new()
        } else {
            format!(": {}", by.join("; "))
        }
    )
}

/// For `hrsync audit --run PLAN`: the approval decisions on that saved plan, one line each.
pub(crate) fn decision_lines(store: &Store, run: i64) -> Vec<String> {
    let Ok(saved) = plans::load_unchecked(store, run) else {
        return Vec::new();
    };
    approval::of_plan_all(&saved)
        .into_iter()
        .filter_map(|w| {
            let d = w.decision.as_deref()?;
            Some(format!(
                "plan {} decision {} {} [{}] {} -- by {} at {}{}",
                w.plan,
                d,
                w.kind,
                w.key,
                w.dn,
                w.decided_by.as_deref().unwrap_or("?"),
                w.decided_at.as_deref().unwrap_or("?"),
                w.comment
                    .as_deref()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default()
            ))
        })
        .collect()
}
