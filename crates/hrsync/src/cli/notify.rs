//! `hrsync notify test|log`, and what `plan`/`apply` say about the notifications a run sent.

use crate::Common;
use anyhow::Result;
use chrono::Utc;
use clap::Subcommand;
use hrsync_config::Config;
use hrsync_engine::RunReport;
use hrsync_state::Store;

#[derive(Subcommand)]
pub(crate) enum NotifyCmd {
    /// Sends a test message on a [[notify]] channel now (whatever its window and causes) and
    /// says where it went or why it failed.
    Test {
        #[command(flatten)]
        common: Common,
        /// Name of the [[notify]] channel.
        name: String,
    },
    /// Notifications sent, suppressed (already sent within the window) and failed, newest first.
    Log {
        #[command(flatten)]
        common: Common,
        /// Show at most this many rows.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print the rows as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn notify(cmd: NotifyCmd) -> Result<i32> {
    match cmd {
        NotifyCmd::Test { common, name } => {
            let cfg = Config::load(&common.config)?;
            let mut store = Store::open(&cfg.state_path())?;
            let n = hrsync_engine::notify::send_test(&cfg, &mut store, &name, Utc::now()).await;
            println!("{} {}: {}", n.channel, n.outcome, n.detail);
            Ok(if n.outcome == "sent" { 0 } else { 1 })
        }
        NotifyCmd::Log {
            common,
            limit,
            json,
        } => {
            let cfg = Config::load(&common.config)?;
            let store = Store::open(&cfg.state_path())?;
            let rows = store.notify_log(limit)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(0);
            }
            println!(
                "{:<20} {:<14} {:<10} {:<28} subject / detail",
                "at", "channel", "outcome", "cause"
            );
            for r in rows {
                println!(
                    "{:<20} {:<14} {:<10} {:<28} {}\n{:>74}{}",
                    r.at.format("%Y-%m-%d %H:%M:%S"),
                    r.channel,
                    r.outcome,
                    r.cause,
                    r.subject,
                    "",
                    r.detail
                );
            }
            Ok(0)
        }
    }
}

/// After a run of `mapping` (or its error): the notifications it calls for. Never fails the
/// run; what was sent or failed is said on stderr (stdout stays the plan or its JSON).
pub(crate) async fn after_run(
    cfg: &Config,
    store: &mut Store,
    mapping: &str,
    result: std::result::Result<&RunReport, &str>,
) {
    if cfg.raw.notify.is_empty() {
        return;
    }
    for n in hrsync_engine::notify::after_run(cfg, store, mapping, result, Utc::now()).await {
        match n.outcome.as_str() {
            "sent" => eprintln!("Notified {} of {}: {}", n.channel, n.cause, n.detail),
            "failed" => eprintln!(
                "Notification {} of {} FAILED (the run is not affected; see `hrsync notify log`): {}",
                n.channel, n.cause, n.detail
            ),
            _ => {}
        }
    }
}
