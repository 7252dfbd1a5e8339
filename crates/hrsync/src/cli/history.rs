//! `hrsync runs`, `hrsync audit` and `hrsync deliveries`: what happened, from the state database.

use anyhow::Result;
use hrsync_config::Config;
use hrsync_state::{AuditRow, Store};
use std::path::Path;

/// `hrsync runs`: past runs, newest first.
pub fn runs(config: &Path, limit: usize, json: bool) -> Result<i32> {
    let cfg = Config::load(config)?;
    let store = Store::open(&cfg.state_path())?;
    let runs = store.runs(limit)?;
    if json {
        // Each run, with its saved plan and the approval decisions on it (when it is one).
        #[derive(serde::Serialize)]
        struct Row<'a> {
            #[serde(flatten)]
            run: &'a hrsync_state::RunRow,
            #[serde(skip_serializing_if = "Option::is_none")]
            saved_plan: Option<serde_json::Value>,
        }
        let rows: Vec<Row<'_>> = runs
            .iter()
            .map(|r| Row {
                run: r,
                saved_plan: super::plans::saved_plan_summary(&store, r.id),
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(0);
    }
    println!(
        "{:>5}  {:<7} {:<20} {:<25} {:<9} {:>7}  changes (c/u/e/d)  findings",
        "run", "command", "mapping", "started", "status", "records"
    );
    for r in runs {
        let s = r.summary.unwrap_or_default();
        println!(
            "{:>5}  {:<7} {:<20} {:<25} {:<9} {:>7}  {}/{}/{}/{}{}  {}{}",
            r.id,
            r.command,
            r.mapping,
            r.started_at.get(..19).unwrap_or(&r.started_at),
            r.status,
            r.records.map(|n| n.to_string()).unwrap_or_default(),
            s.create,
            s.update,
            s.enable,
            s.disable,
            if r.fetch_complete == Some(false) {
                " (fetch incomplete)"
            } else {
                ""
            },
            s.findings,
            r.error.map(|e| format!("  error: {e}")).unwrap_or_default()
        );
        if let Some(v) = super::plans::saved_plan_summary(&store, r.id) {
            println!("{}", super::plans::saved_plan_line(&v));
        }
    }
    Ok(0)
}

/// Where an audited write came from: `run 12 #3`, or `orchestration #5 step 2` for a write an
/// orchestration step made outside a run.
fn origin(r: &AuditRow) -> String {
    match (r.run_id, r.outbox_id) {
        (0, Some(id)) => format!("orchestration #{id} step {}", r.seq + 1),
        (0, None) => format!("outside a run #{}", r.seq),
        (run, _) => format!("run {run} #{}", r.seq),
    }
}

/// `hrsync audit`: audited changes, newest first, with who and what started them.
pub fn audit(
    config: &Path,
    run: Option<i64>,
    key: Option<&str>,
    limit: usize,
    json: bool,
) -> Result<i32> {
    let cfg = Config::load(config)?;
    let store = Store::open(&cfg.state_path())?;
    let rows = store.audit(run, key, limit)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(0);
    }
    // The approval decisions on the run's saved plan (the changes they let through carry
    // `approved by …` in their reason).
    if let Some(run) = run {
        for line in super::plans::decision_lines(&store, run) {
            println!("{line}");
        }
    }
    for r in rows {
        let res = if r.ok {
            "ok".to_string()
        } else {
            format!("FAILED: {}", r.message)
        };
        println!(
            "{} {} {} [{}] {} -- {}  (trigger: {}, operator: {})",
            origin(&r),
            r.at.get(..19).unwrap_or(&r.at),
            r.kind,
            r.hr_key,
            r.dn,
            res,
            r.trigger.as_deref().unwrap_or("-"),
            r.operator.as_deref().unwrap_or("-"),
        );
        if let Some(n) = &r.new_dn {
            println!("    renamed -> {n}");
        }
        if let Some(list) = r.attrs.as_array() {
            for a in list {
                println!(
                    "    {}: {} -> {}",
                    a["attr"].as_str().unwrap_or("?"),
                    a["before"],
                    a["after"]
                );
            }
        }
    }
    Ok(0)
}

/// `hrsync deliveries`: the webhook delivery log, newest first, as stored (secret headers
/// `[redacted]`, echoed secrets scrubbed).
pub fn deliveries(config: &Path, webhook: Option<&str>, limit: usize, json: bool) -> Result<i32> {
    let cfg = Config::load(config)?;
    let store = Store::open(&cfg.state_path())?;
    let rows = store.deliveries(webhook, limit)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(0);
    }
    if rows.is_empty() {
        println!(
            "no deliveries{}",
            webhook
                .map(|w| format!(" of webhook {w:?}"))
                .unwrap_or_default()
        );
    }
    for r in rows {
        let d = &r.delivery;
        println!(
            "#{} {} webhook {}{}{}: {}{}, {} attempt(s), {} ms",
            r.id,
            r.at.get(..19).unwrap_or(&r.at),
            r.webhook,
            r.hr_key
                .as_deref()
                .map(|k| format!(" for {k}"))
                .unwrap_or_default(),
            match (r.outbox_id, r.step) {
                (Some(id), Some(step)) => format!(" (orchestration #{id} step {})", step + 1),
                _ => " (webhook test)".to_string(),
            },
            if r.ok { "ok" } else { "FAILED" },
            r.status.map(|s| format!(" HTTP {s}")).unwrap_or_default(),
            r.attempts,
            r.duration_ms,
        );
        println!(
            "    > {} {}",
            d["request"]["method"].as_str().unwrap_or("?"),
            d["request"]["url"].as_str().unwrap_or("?")
        );
        if let Some(headers) = d["request"]["headers"].as_array() {
            for h in headers {
                if let (Some(k), Some(v)) = (h[0].as_str(), h[1].as_str()) {
                    println!("    > {k}: {v}");
                }
            }
        }
        if let Some(e) = d["error"].as_str() {
            println!("    error: {e}");
        }
    }
    Ok(0)
}
