//! `hrsync orphans`: accounts under the directory base that carry a key this mapping's HR does
//! not have and that the mapping never created or adopted. hrsync never changes them (unless
//! `lifecycle.unlinked = "disable"`); this lists them for the admin to decide.

use anyhow::{Context, Result};
use chrono::Utc;
use hrsync_config::Config;
use hrsync_engine::{Mode, Unattended};
use hrsync_state::Store;
use std::path::Path;

/// Plans each mapping (recorded like `hrsync plan`) and prints its orphans.
pub async fn run(path: &Path, mapping: Option<&str>, json: bool) -> Result<i32> {
    let cfg = Config::load(path)?;
    let names = match mapping {
        Some(m) => vec![m.to_string()],
        None => cfg.mapping_names(),
    };
    let mut store = Store::open(&cfg.state_path())
        .with_context(|| format!("state database {}", cfg.state_path().display()))?;
    let mut all = Vec::new();
    let mut code = 0;
    for name in names {
        let job = cfg.job(&name)?;
        let report = hrsync_engine::run(&job, &mut store, Mode::Plan, Utc::now(), &mut Unattended)
            .await
            .with_context(|| format!("mapping {name:?}"))?;
        let plan = &report.plan;
        if !plan.fetch.complete {
            // Without a complete fetch nobody can tell which keys HR does not have.
            code = 4;
        }
        if json {
            all.push(serde_json::json!({
                "mapping": name,
                "run_id": report.run_id,
                "complete": plan.fetch.complete,
                "orphans": plan.orphans,
            }));
            continue;
        }
        if !plan.fetch.complete {
            println!(
                "mapping {name:?}: the HR fetch was incomplete ({}); orphans cannot be told apart from people HR did not send",
                plan.fetch
                    .error
                    .as_deref()
                    .unwrap_or("not every page arrived")
            );
            continue;
        }
        if !job.actions.owns() {
            println!(
                "mapping {name:?}: its actions ({}) only modify accounts it finds by key; it owns none, so it has no orphans (run {})",
                job.actions, report.run_id
            );
            continue;
        }
        println!(
            "mapping {name:?}: {} orphan(s) — carry {} but are not in HR and were never created or adopted by this mapping; never changed (run {})",
            plan.orphans.len(),
            job.directory.key_attribute,
            report.run_id
        );
        for o in &plan.orphans {
            println!(
                "  {}  [{}]{}",
                o.dn,
                o.key,
                if o.disabled { "  (disabled)" } else { "" }
            );
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(code)
}
