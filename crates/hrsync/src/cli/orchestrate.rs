//! `hrsync webhook test` and `hrsync orchestrate …`: webhooks called for chosen people, and the
//! orchestration outbox (run, work, list, replay, cancel).

use crate::Common;
use anyhow::{Result, bail};
use chrono::Utc;
use clap::Subcommand;
use hrsync_config::Config;
use hrsync_state::{Cancelled, Store};

/// Whom a webhook test or an on-demand orchestration is for.
#[derive(clap::Args)]
pub(crate) struct People {
    /// HR primary key of a person (repeat for several).
    #[arg(long = "user", required_unless_present = "groups")]
    users: Vec<String>,
    /// DN of a group: every member with a key (repeat for several).
    #[arg(long = "group")]
    groups: Vec<String>,
    /// The mapping whose accounts and HR records are used (needed with several).
    #[arg(short, long)]
    mapping: Option<String>,
}

#[derive(Subcommand)]
pub(crate) enum WebhookCmd {
    /// Calls the webhook for real for the chosen people and shows request (secrets redacted)
    /// and response: the "Test & Save" of a webhook.
    Test {
        #[command(flatten)]
        common: Common,
        /// Name of the [[webhook]].
        name: String,
        #[command(flatten)]
        who: People,
        /// Print requests and responses as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum OrchestrateCmd {
    /// Applies a template to chosen people now (and runs its steps until done or delayed).
    Run {
        #[command(flatten)]
        common: Common,
        /// Name of the [[orchestration]] template.
        template: String,
        #[command(flatten)]
        who: People,
    },
    /// Runs every due step once (what the daemon does continuously) and counts the steps
    /// that succeeded, failed (retried later, or dead-lettered) and were skipped. Exit code 3
    /// when an instance went to the dead-letter list.
    Work {
        #[command(flatten)]
        common: Common,
        /// Print the counts as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The outbox: every instance with its step and status; --dead for the dead-letter list.
    List {
        #[command(flatten)]
        common: Common,
        /// Only dead-lettered instances (steps that failed for good).
        #[arg(long)]
        dead: bool,
        /// Show at most this many instances, newest first.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print the instances as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Puts a dead instance back in the queue at the step that failed.
    Replay {
        #[command(flatten)]
        common: Common,
        /// Instance id (from `orchestrate list --dead`).
        id: i64,
    },
    /// Cancels a pending or dead instance: none of its steps runs any more (recorded in its
    /// step log). A finished one cannot be cancelled.
    Cancel {
        #[command(flatten)]
        common: Common,
        /// Instance id (from `orchestrate list`).
        id: i64,
    },
}

pub(crate) async fn webhook(cmd: WebhookCmd) -> Result<i32> {
    let WebhookCmd::Test {
        common,
        name,
        who: People {
            users,
            groups,
            mapping,
        },
        json,
    } = cmd;
    let cfg = Config::load(&common.config)?;
    let mapping = crate::one_mapping(&cfg, mapping)?;
    let tests = hrsync_server::webhook_test::test(&cfg, &name, &mapping, users, &groups).await?;
    let code = if tests.iter().all(|t| t.delivery.ok) {
        0
    } else {
        3
    };
    if json {
        let all: Vec<_> = tests
            .iter()
            .map(|t| serde_json::json!({"user": t.user, "delivery": t.delivery}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else {
        for t in &tests {
            for n in &t.notes {
                eprintln!("note: {n}");
            }
            println!("=== webhook {name} for {}", t.user);
            println!("{}", t.delivery.render_text());
        }
    }
    Ok(code)
}

pub(crate) async fn orchestrate(cmd: OrchestrateCmd) -> Result<i32> {
    match cmd {
        OrchestrateCmd::Run {
            common,
            template,
            who:
                People {
                    users,
                    groups,
                    mapping,
                },
        } => {
            let cfg = std::sync::Arc::new(Config::load(&common.config)?);
            let Some(t) = cfg.raw.orchestrations.iter().find(|o| o.name == template) else {
                bail!("no [[orchestration]] named {template:?}");
            };
            let mapping = match (&t.mapping, mapping) {
                (Some(m), _) => m.clone(),
                (None, m) => crate::one_mapping(&cfg, m)?,
            };
            let queued =
                hrsync_server::orchestrate::enqueue_for(&cfg, &template, &mapping, users, &groups)
                    .await?;
            let ids: Vec<i64> = queued.iter().map(|q| q.id).collect();
            let mut store = Store::open(&cfg.state_path())?;
            let worker = hrsync_server::orchestrate::Worker::new(cfg.clone())?;
            worker.run_due(&mut store).await?;
            let mut code = 0;
            for id in ids {
                if let Some(r) = store.outbox_item(id)? {
                    println!(
                        "#{id} {} for {}: {} at step {}/{}{}",
                        r.orchestration,
                        r.hr_key,
                        r.status,
                        r.step,
                        t.steps.len(),
                        r.last_error.map(|e| format!(" ({e})")).unwrap_or_default()
                    );
                    for (step, attempt, at, ok, detail) in store.step_log(id)? {
                        println!(
                            "    step {} attempt {attempt} {at} {}: {detail}",
                            step + 1,
                            if ok { "ok" } else { "FAILED" }
                        );
                    }
                    if r.status == "dead" {
                        code = 3;
                    }
                }
            }
            Ok(code)
        }
        OrchestrateCmd::Work { common, json } => {
            let cfg = std::sync::Arc::new(Config::load(&common.config)?);
            let mut store = Store::open(&cfg.state_path())?;
            let worker = hrsync_server::orchestrate::Worker::new(cfg.clone())?;
            let r = worker.run_due_report(&mut store).await?;
            let code = if r.dead > 0 { 3 } else { 0 };
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
                return Ok(code);
            }
            println!("{}", work_summary(&r));
            if r.failed > 0 {
                println!(
                    "  see `hrsync orchestrate list -c {}`{}",
                    common.config.display(),
                    if r.dead > 0 { " --dead" } else { "" }
                );
            }
            Ok(code)
        }
        OrchestrateCmd::Cancel { common, id } => {
            let cfg = Config::load(&common.config)?;
            let mut store = Store::open(&cfg.state_path())?;
            let by = hrsync_state::operator_name();
            match store.cancel(id, &by, Utc::now())? {
                Cancelled::Done { step } => {
                    let item = store.outbox_item(id)?;
                    let (name, key) = item
                        .map(|r| (r.orchestration, r.hr_key))
                        .unwrap_or_default();
                    println!(
                        "#{id} {name} for {key} cancelled before step {}: none of its steps runs any more",
                        step + 1
                    );
                    Ok(0)
                }
                Cancelled::NotFound => {
                    bail!("no orchestration instance #{id} (see `hrsync orchestrate list`)")
                }
                Cancelled::Finished { status } if status == "cancelled" => {
                    bail!("#{id} was already cancelled")
                }
                Cancelled::Finished { status } => {
                    bail!("#{id} has finished ({status}): there is nothing left to cancel")
                }
                Cancelled::Running { until } => bail!(
                    "#{id}: a worker is running one of its steps now{}; try again when it is done",
                    until
                        .map(|t| format!(
                            " (until {} at the latest)",
                            t.format("%Y-%m-%d %H:%M:%S UTC")
                        ))
                        .unwrap_or_default()
                ),
            }
        }
        OrchestrateCmd::List {
            common,
            dead,
            limit,
            json,
        } => {
            let cfg = Config::load(&common.config)?;
            let store = Store::open(&cfg.state_path())?;
            let rows = store.outbox(dead.then_some("dead"), limit)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(0);
            }
            for r in rows {
                println!(
                    "#{} {} [{}] {} {}: {} step {} attempts {}{}",
                    r.id,
                    r.orchestration,
                    r.mapping,
                    r.hr_key,
                    r.event,
                    r.status,
                    r.step,
                    r.attempts,
                    r.last_error.map(|e| format!(" — {e}")).unwrap_or_default()
                );
            }
            Ok(0)
        }
        OrchestrateCmd::Replay { common, id } => {
            let cfg = Config::load(&common.config)?;
            let mut store = Store::open(&cfg.state_path())?;
            if !store.replay(id, Utc::now())? {
                bail!(
                    "#{id} is not on the dead-letter list (see `hrsync orchestrate list --dead`)"
                );
            }
            println!("#{id} is queued again at the step that failed");
            Ok(0)
        }
    }
}

/// `5 step(s) run: 3 ok, 2 failed (1 to be retried, 1 dead-lettered), 0 skipped`.
fn work_summary(r: &hrsync_server::orchestrate::WorkReport) -> String {
    let mut failed = Vec::new();
    if r.failed_retrying > 0 {
        failed.push(format!("{} to be retried", r.failed_retrying));
    }
    if r.dead > 0 {
        failed.push(format!("{} dead-lettered", r.dead));
    }
    if r.failed_continued > 0 {
        failed.push(format!(
            "{} went on (on_error = \"continue\")",
            r.failed_continued
        ));
    }
    let mut text = format!(
        "{} step(s) run: {} ok, {} failed{}, {} skipped",
        r.ran - r.claimed_elsewhere,
        r.ok,
        r.failed,
        if failed.is_empty() {
            String::new()
        } else {
            format!(" ({})", failed.join(", "))
        },
        r.skipped
    );
    if r.claimed_elsewhere > 0 {
        text.push_str(&format!(
            "; {} taken by another worker",
            r.claimed_elsewhere
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_counts_failed_steps_apart_from_the_others() {
        let r = hrsync_server::orchestrate::WorkReport {
            ran: 6,
            ok: 2,
            failed: 3,
            failed_continued: 0,
            failed_retrying: 2,
            dead: 1,
            skipped: 1,
            claimed_elsewhere: 0,
        };
        assert_eq!(
            work_summary(&r),
            "6 step(s) run: 2 ok, 3 failed (2 to be retried, 1 dead-lettered), 1 skipped"
        );
    }
}
