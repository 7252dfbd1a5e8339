//! What is worth a message, each with the command to run next.

use crate::report::{RunReport, RunStatus};
use chrono::{DateTime, Utc};
use hrsync_config::{Config, RawNotify};
use hrsync_state::Store;
use serde::Serialize;
use std::path::Path;

/// One reason to tell someone. Messages are de-duplicated by [`Cause::key`]: the kind and what
/// it is about (a mapping, a certificate file), not the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cause {
    /// One of [`hrsync_config::CAUSES`].
    pub kind: &'static str,
    /// What it is about: a mapping's name, `orchestration`, `directory.ca_cert`.
    pub about: String,
    /// The subject line, without the channel's prefix.
    pub subject: String,
    /// The message: what happened and what it means.
    pub text: String,
    /// The command to run next.
    pub command: String,
    /// For `expiring`: when it expires (each channel warns `expiry_days` before).
    pub expires_at: Option<DateTime<Utc>>,
}

impl Cause {
    /// `kind:about`: one message per key per window.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind, self.about)
    }

    /// Whether the channel is to hear of it now (an expiry only within its `expiry_days`).
    pub(crate) fn due_for(&self, n: &RawNotify, now: DateTime<Utc>) -> bool {
        match self.expires_at {
            Some(t) => t - now <= chrono::Duration::days(i64::from(n.expiry_days)),
            None => true,
        }
    }
}

/// A path as one shell word (quoted when it needs it), for commands people paste.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The config file as the commands in a message name it: absolute (the reader is elsewhere),
/// quoted for the shell.
pub(crate) fn config_arg(config: &Path) -> String {
    let abs = std::path::absolute(config).unwrap_or_else(|_| config.to_path_buf());
    shell_quote(&abs.display().to_string())
}

fn cause(kind: &'static str, about: &str, subject: String, text: String, command: String) -> Cause {
    Cause {
        kind,
        about: about.to_string(),
        subject,
        text,
        command,
        expires_at: None,
    }
}

/// The causes a finished run reports: failed changes, an incomplete fetch, held or withheld
/// changes, people waiting for `hrsync review`, orphans.
pub fn causes_of_run(config: &Path, mapping: &str, r: &RunReport) -> Vec<Cause> {
    let cfg = config_arg(config);
    let m = shell_quote(mapping);
    let run = r.run_id;
    let plan = &r.plan;
    let mut out = Vec::new();
    if matches!(r.status, RunStatus::Failed | RunStatus::Partial) {
        out.push(cause(
            "run_failed",
            mapping,
            format!(
                "{mapping}: run {run} {}: {} of {} change(s) failed",
                r.status.as_str(),
                r.applied_failed,
                r.applied_ok + r.applied_failed
            ),
            format!(
                "Run {run} of mapping {mapping} applied {} change(s) and {} failed{}.",
                r.applied_ok,
                r.applied_failed,
                if r.applied_not_attempted > 0 {
                    format!(
                        " ({} not attempted: the connection to the directory was lost)",
                        r.applied_not_attempted
                    )
                } else {
                    String::new()
                }
            ),
            format!("hrsync audit -c {cfg} --run {run}"),
        ));
    }
    if !plan.fetch.complete {
        out.push(cause(
            "run_incomplete",
            mapping,
            format!("{mapping}: run {run} incomplete: the HR fetch did not finish"),
            format!(
                "Run {run} of mapping {mapping}: the HR fetch was incomplete ({}). Nobody was treated as a leaver; creates and updates of the people that arrived {}.",
                plan.fetch
                    .error
                    .as_deref()
                    .unwrap_or("not every page arrived"),
                if r.applied { "were applied" } else { "were planned only" }
            ),
            format!("hrsync runs -c {cfg}"),
        ));
    }
    if !plan.held.is_empty() {
        out.push(cause(
            "held",
            mapping,
            format!(
                "{mapping}: run {run} held {} change(s) (thresholds)",
                plan.held.len()
            ),
            format!(
                "Run {run} of mapping {mapping} held {} change(s) back: {}. They are not applied until someone confirms them.",
                plan.held.len(),
                if plan.held_reasons.is_empty() {
                    "a threshold was crossed".to_string()
                } else {
                    plan.held_reasons.join("; ")
                }
            ),
            format!("hrsync apply -c {cfg} --mapping {m} --confirm-held {run}"),
        ));
    } else if plan.fetch.complete && plan.leavers_withheld > 0 {
        out.push(cause(
            "held",
            mapping,
            format!(
                "{mapping}: run {run} withheld {} leaver change(s)",
                plan.leavers_withheld
            ),
            format!(
                "Run {run} of mapping {mapping} withheld {} leaver change(s): {}.",
                plan.leavers_withheld,
                plan.leavers_withheld_reason
                    .as_deref()
                    .unwrap_or("see the plan")
            ),
            format!("hrsync plan -c {cfg} --mapping {m}"),
        ));
    }
    if !plan.awaiting_approval.is_empty() {
        // The saved plan's id is the id of the run that made it.
        out.push(awaiting_approval(
            config,
            mapping,
            run,
            plan.awaiting_approval.len(),
        ));
    }
    if !plan.review.is_empty() {
        let keys: Vec<&str> = plan
            .review
            .iter()
            .take(10)
            .map(|i| i.key.as_str())
            .collect();
        out.push(cause(
            "review",
            mapping,
            format!(
                "{mapping}: {} person(s) wait for a review",
                plan.review.len()
            ),
            format!(
                "{} person(s) of mapping {mapping} may already have an account and wait for an operator's decision (nothing is done for them until then): {}{}.",
                plan.review.len(),
                keys.join(", "),
                if plan.review.len() > keys.len() { ", …" } else { "" }
            ),
            format!("hrsync review list -c {cfg} --mapping {m}"),
        ));
    }
    if !plan.orphans.is_empty() {
        out.push(cause(
            "orphans",
            mapping,
            format!(
                "{mapping}: {} orphan account(s) found",
                plan.orphans.len()
            ),
            format!(
                "{} account(s) under the directory base carry a key mapping {mapping}'s HR does not have, and this mapping never created or adopted them. They are listed, not changed.",
                plan.orphans.len()
            ),
            format!("hrsync orphans -c {cfg} --mapping {m}"),
        ));
    }
    out
}

/// A run that ended in an error before it had a report (the fetch, the directory, the
/// config): `run_failed`.
pub fn cause_of_error(config: &Path, mapping: &str, error: &str) -> Cause {
    let cfg = config_arg(config);
    cause(
        "run_failed",
        mapping,
        format!("{mapping}: run failed"),
        format!(
            "A run of mapping {mapping} stopped with an error: {}",
            hrsync_model::text::clip_message(error)
        ),
        format!("hrsync runs -c {cfg}"),
    )
}

/// Changes of a saved plan waiting at the approval gate (a run that stopped at the gate; its
/// saved plan's id is the run's).
pub fn awaiting_approval(config: &Path, mapping: &str, plan_id: i64, changes: usize) -> Cause {
    let cfg = config_arg(config);
    cause(
        "awaiting_approval",
        mapping,
        format!("{mapping}: plan {plan_id} waits for approval ({changes} change(s))"),
        format!(
            "Plan {plan_id} of mapping {mapping} has {changes} change(s) that need approval before they apply."
        ),
        format!("hrsync approvals -c {cfg}"),
    )
}

/// The orchestration dead-letter list, when it is not empty.
pub fn dead_letters(store: &Store, config: &Path) -> hrsync_state::Result<Option<Cause>> {
    let n = store.count_outbox("dead")?;
    if n == 0 {
        return Ok(None);
    }
    let cfg = config_arg(config);
    Ok(Some(cause(
        "dead_letter",
        "orchestration",
        format!("{n} orchestration instance(s) failed for good (dead letters)"),
        format!(
            "{n} orchestration instance(s) used up their attempts and wait on the dead-letter list: replay or cancel each."
        ),
        format!("hrsync orchestrate list -c {cfg} --dead"),
    )))
}

/// Certificates hrsync can read that expire: the directory's CA certificate file
/// (`[directory] ca_cert`, every certificate in it; the earliest counts). Each channel hears
/// of it `expiry_days` before. Not checked: the directory server's own certificate (only the
/// server has it; a TLS handshake is refused once it expired, and `hrsync check --online`
/// says so), and a Paycor refresh token (its store and Paycor's token answer carry no expiry).
pub fn expiring(cfg: &Config, now: DateTime<Utc>) -> Vec<Cause> {
    let mut out = Vec::new();
    let Some(ca) = &cfg.raw.directory.ca_cert else {
        return out;
    };
    let path = cfg.base_dir().join(ca);
    let Some(not_after) = earliest_expiry(&path) else {
        return out;
    };
    let cfg_q = config_arg(&cfg.path);
    let days = (not_after - now).num_days();
    let when = not_after.format("%Y-%m-%d %H:%M UTC");
    let mut c = cause(
        "expiring",
        "directory.ca_cert",
        if days < 0 {
            format!("the directory's CA certificate EXPIRED on {when}")
        } else {
            format!("the directory's CA certificate expires in {days} day(s)")
        },
        format!(
            "The CA certificate in {} (directory.ca_cert) {} {when}. Once it has expired, hrsync cannot verify the directory and every run fails: put the renewed CA certificate there.",
            path.display(),
            if days < 0 { "expired on" } else { "expires on" }
        ),
        format!("hrsync check -c {cfg_q} --online"),
    );
    c.expires_at = Some(not_after);
    out.push(c);
    out
}

/// The earliest `notAfter` of the PEM certificates in a file (None: unreadable, no certificate).
pub(crate) fn earliest_expiry(path: &Path) -> Option<DateTime<Utc>> {
    let data = std::fs::read(path).ok()?;
    let mut earliest: Option<DateTime<Utc>> = None;
    for pem in x509_parser::pem::Pem::iter_from_buffer(&data).flatten() {
        if pem.label != "CERTIFICATE" {
            continue;
        }
        let Ok(cert) = pem.parse_x509() else { continue };
        let t = cert.validity().not_after.timestamp();
        if let Some(t) = DateTime::from_timestamp(t, 0) {
            earliest = Some(earliest.map_or(t, |e| e.min(t)));
        }
    }
    earliest
}
