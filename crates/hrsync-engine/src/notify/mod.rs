//! Notifications (`[[notify]]`, issue 14 §6): after a run (CLI or daemon), the causes that
//! need someone (a failed or incomplete run, held changes, new review items, orphans,
//! dead-lettered orchestration steps, a certificate about to expire) are sent to each channel
//! that wants them, once per cause per window (state in the database, so the window holds
//! across CLI runs, daemon restarts and both at once), each with the command to run next.
//!
//! Delivery never fails or blocks a run: each message is bounded by its attempts and a
//! deadline; a failure is logged and recorded in `notify_log`, and the next run tries again.
//! Library code: nothing here prints.

mod causes;
mod email;

pub use causes::{
    Cause, awaiting_approval, cause_of_error, causes_of_run, dead_letters, expiring, shell_quote,
};

use chrono::{DateTime, Utc};
use hrsync_config::{Config, RawNotify};
use hrsync_state::Store;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// What happened to one (channel, cause).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notified {
    pub channel: String,
    /// `kind:about`, e.g. `run_incomplete:people`.
    pub cause: String,
    /// `sent`, `suppressed` (already sent in the window) or `failed`.
    pub outcome: String,
    /// Where it went, why it was suppressed, or why it failed (never a secret).
    pub detail: String,
}

/// The longest one message may take, whatever its channel's attempts say: below the state's
/// claim lease, so a send still under way is never taken for one that died.
pub const MAX_DEADLINE: Duration = Duration::from_secs(300);

/// The deadline of one message on one channel.
fn deadline(n: &RawNotify) -> Duration {
    let per = Duration::from_secs(n.timeout_secs);
    (per * n.max_attempts.max(1) + hrsync_webhook::MAX_BACKOFF * n.max_attempts.max(1))
        .min(MAX_DEADLINE)
}

/// What `hrsync check` warns of: a certificate that some channel would already warn about.
pub fn check_warnings(cfg: &Config, now: DateTime<Utc>) -> Vec<String> {
    expiring(cfg, now)
        .into_iter()
        .filter(|c| cfg.raw.notify.iter().any(|n| c.due_for(n, now)))
        .map(|c| c.subject)
        .collect()
}

/// The causes a run's end reports: the run's own (or its error), the dead-letter list, and
/// the certificates that expire soon.
pub fn causes_after_run(
    cfg: &Config,
    store: &Store,
    mapping: &str,
    result: Result<&crate::report::RunReport, &str>,
    now: DateTime<Utc>,
) -> Vec<Cause> {
    let mut causes = match result {
        Ok(r) => causes_of_run(&cfg.path, mapping, r),
        Err(e) => vec![cause_of_error(&cfg.path, mapping, e)],
    };
    match dead_letters(store, &cfg.path) {
        Ok(Some(c)) => causes.push(c),
        Ok(None) => {}
        Err(e) => tracing::warn!("notify: cannot count dead-lettered orchestration steps: {e}"),
    }
    causes.extend(expiring(cfg, now));
    causes
}

/// [`causes_after_run`], then [`send`]: what the CLI does after each run. A config without
/// `[[notify]]` costs nothing.
pub async fn after_run(
    cfg: &Config,
    store: &mut Store,
    mapping: &str,
    result: Result<&crate::report::RunReport, &str>,
    now: DateTime<Utc>,
) -> Vec<Notified> {
    if cfg.raw.notify.is_empty() {
        return Vec::new();
    }
    let causes = causes_after_run(cfg, store, mapping, result, now);
    send(cfg, store, &causes, now).await
}

/// What the daemon does after each run: the causes are worked out and claimed now (so the
/// next run already sees their windows), and the messages are sent by a task of their own,
/// so a slow or unreachable mail server never holds the mapping's next run. A send cut off
/// (the daemon stopped) gives its window back after [`hrsync_state::NOTIFY_CLAIM_LEASE`].
pub fn after_run_in_background(
    cfg: std::sync::Arc<Config>,
    store: &mut Store,
    mapping: &str,
    result: Result<&crate::report::RunReport, &str>,
    now: DateTime<Utc>,
) -> Option<tokio::task::JoinHandle<Vec<Notified>>> {
    if cfg.raw.notify.is_empty() {
        return None;
    }
    let causes = causes_after_run(&cfg, store, mapping, result, now);
    let (claimed, _) = claim(&cfg, store, &causes, now);
    if claimed.is_empty() {
        return None;
    }
    Some(tokio::spawn(async move {
        match Store::open(&cfg.state_path()) {
            Ok(mut store) => deliver_claimed(&cfg, &mut store, claimed, now).await,
            Err(e) => {
                tracing::warn!("notify: state database: {e}");
                Vec::new()
            }
        }
    }))
}

/// A message claimed for sending: channel `i`'s window for the cause is taken.
#[derive(Debug, Clone)]
pub struct Claimed {
    channel: usize,
    cause: Cause,
    subject: String,
}

/// Claims, for each channel that wants a cause, the cause's window (see
/// [`Store::notify_claim`]); the suppressed ones are answered at once.
pub fn claim(
    cfg: &Config,
    store: &mut Store,
    causes: &[Cause],
    now: DateTime<Utc>,
) -> (Vec<Claimed>, Vec<Notified>) {
    let mut claimed = Vec::new();
    let mut out = Vec::new();
    for (i, n) in cfg.raw.notify.iter().enumerate() {
        for c in causes
            .iter()
            .filter(|c| n.wants(c.kind) && c.due_for(n, now))
        {
            let key = c.key();
            let subject = format!("{} {}", n.subject_prefix(), c.subject);
            match store.notify_claim(&n.name, &key, &subject, n.window(), now) {
                Ok(true) => claimed.push(Claimed {
                    channel: i,
                    cause: c.clone(),
                    subject,
                }),
                Ok(false) => out.push(notified(
                    n,
                    &key,
                    "suppressed",
                    format!("already sent (or being sent) within {} h", n.window_hours),
                )),
                Err(e) => {
                    // Without the state a message could repeat on every run: do not send.
                    tracing::warn!(channel = %n.name, cause = %key, "notify: state database: {e}");
                    out.push(notified(n, &key, "failed", format!("state database: {e}")));
                }
            }
        }
    }
    (claimed, out)
}

/// Sends claimed messages, each bounded by its channel's attempts and deadline, and records
/// each as sent or failed (a failure gives the window back).
pub async fn deliver_claimed(
    cfg: &Config,
    store: &mut Store,
    claimed: Vec<Claimed>,
    now: DateTime<Utc>,
) -> Vec<Notified> {
    let mut out = Vec::new();
    let mut client: Option<reqwest::Client> = None;
    for m in claimed {
        let Some(n) = cfg.raw.notify.get(m.channel) else {
            continue;
        };
        let key = m.cause.key();
        let sent = deliver(cfg, m.channel, &m.subject, &m.cause, now, &mut client).await;
        let (outcome, detail) = match sent {
            Ok(d) => {
                tracing::info!(channel = %n.name, cause = %key, "notification sent: {d}");
                if let Err(e) = store.notify_sent(&n.name, &key, &m.subject, &d, now) {
                    tracing::warn!(channel = %n.name, "notify: cannot record: {e}");
                }
                ("sent", d)
            }
            Err(e) => {
                let e = hrsync_model::text::clip_message(&e).into_owned();
                tracing::warn!(channel = %n.name, cause = %key, "notification failed: {e}");
                if let Err(e2) = store.notify_failed(&n.name, &key, &m.subject, &e, now) {
                    tracing::warn!(channel = %n.name, "notify: cannot record: {e2}");
                }
                ("failed", e)
            }
        };
        out.push(notified(n, &key, outcome, detail));
    }
    out
}

/// Sends each cause to each channel that wants it, unless that channel already sent that
/// cause within its window ([`claim`], then [`deliver_claimed`]). Never fails: what happened
/// is in the answer, the log and `notify_log`.
pub async fn send(
    cfg: &Config,
    store: &mut Store,
    causes: &[Cause],
    now: DateTime<Utc>,
) -> Vec<Notified> {
    if cfg.raw.notify.is_empty() || causes.is_empty() {
        return Vec::new();
    }
    let (claimed, mut out) = claim(cfg, store, causes, now);
    out.extend(deliver_claimed(cfg, store, claimed, now).await);
    out
}

/// One message on channel `i`, bounded by the channel's attempts and deadline.
async fn deliver(
    cfg: &Config,
    i: usize,
    subject: &str,
    c: &Cause,
    now: DateTime<Utc>,
    client: &mut Option<reqwest::Client>,
) -> Result<String, String> {
    let Some(n) = cfg.raw.notify.get(i) else {
        return Err(format!("no [[notify]] number {i}"));
    };
    if n.kind == "email" {
        let ch = cfg.email_channel(i).map_err(|e| e.to_string())?;
        return tokio::time::timeout(deadline(n), email::send(&ch, n, subject, c))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "no answer within the deadline ({} s)",
                    deadline(n).as_secs()
                ))
            });
    }
    let name = n.webhook.as_deref().unwrap_or_default();
    let h = hook(cfg, name)?;
    let cl = match client {
        Some(c) => c.clone(),
        None => {
            let c = hrsync_webhook::client().map_err(|e| format!("no HTTP client: {e}"))?;
            *client = Some(c.clone());
            c
        }
    };
    webhook(&cl, &h, n, subject, c, now).await
}

/// The `[[webhook]]` named `name`, compiled, with the credentials of its `auth` integration
/// and that integration's retry rules (the same as an orchestration step's).
fn hook(cfg: &Config, name: &str) -> Result<crate::orchestrate::Hook, String> {
    let w = cfg
        .raw
        .webhooks
        .iter()
        .find(|w| w.name == name)
        .ok_or_else(|| format!("no [[webhook]] named {name:?}"))?;
    let hook = hrsync_webhook::Webhook::compile(w).map_err(|e| e.to_string())?;
    let (creds, policy) = match &w.auth {
        Some(i) => cfg.webhook_credentials(i).map_err(|e| e.to_string())?,
        None => Default::default(),
    };
    Ok(crate::orchestrate::Hook {
        hook,
        creds,
        policy,
    })
}

/// `hrsync notify test`: a test message on the channel named `name`, now, whatever its window
/// and causes (recorded in the log, not in the window).
pub async fn send_test(
    cfg: &Config,
    store: &mut Store,
    name: &str,
    now: DateTime<Utc>,
) -> Notified {
    let Some((i, n)) = cfg
        .raw
        .notify
        .iter()
        .enumerate()
        .find(|(_, n)| n.name == name)
    else {
        return Notified {
            channel: name.to_string(),
            cause: "test".into(),
            outcome: "failed".into(),
            detail: format!("no [[notify]] named {name:?}"),
        };
    };
    let cfg_q = causes::config_arg(&cfg.path);
    let c = Cause {
        kind: "test",
        about: n.name.clone(),
        subject: format!("test message of notification {:?}", n.name),
        text: format!(
            "This is a test of the notification channel {:?} of {}. If you read it, the channel works.",
            n.name,
            cfg.path.display()
        ),
        command: format!("hrsync notify log -c {cfg_q}"),
        expires_at: None,
    };
    let subject = format!("{} {}", n.subject_prefix(), c.subject);
    let key = c.key();
    let sent = deliver(cfg, i, &subject, &c, now, &mut None).await;
    let (outcome, detail) = match sent {
        Ok(d) => ("sent", d),
        Err(e) => ("failed", hrsync_model::text::clip_message(&e).into_owned()),
    };
    let logged = store.notify_log_only(&n.name, &key, outcome, &subject, &detail, now);
    if let Err(e) = logged {
        tracing::warn!(channel = %n.name, "notify: cannot record: {e}");
    }
    notified(n, &key, outcome, detail)
}

fn notified(n: &RawNotify, cause: &str, outcome: &str, detail: String) -> Notified {
    Notified {
        channel: n.name.clone(),
        cause: cause.to_string(),
        outcome: outcome.to_string(),
        detail,
    }
}

/// The `{notify.*}` values of a message.
pub fn macro_values(n: &RawNotify, subject: &str, c: &Cause) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("notify.cause".to_string(), c.kind.to_string()),
        ("notify.about".to_string(), c.about.clone()),
        ("notify.subject".to_string(), subject.to_string()),
        ("notify.text".to_string(), c.text.clone()),
        ("notify.command".to_string(), c.command.clone()),
        ("notify.channel".to_string(), n.name.clone()),
        ("event".to_string(), c.kind.to_string()),
    ])
}

/// A webhook channel: the `[[webhook]]`'s own rendering, credentials and retry rules; an
/// idempotency key per message makes a POST safe to retry.
async fn webhook(
    client: &reqwest::Client,
    h: &crate::orchestrate::Hook,
    n: &RawNotify,
    subject: &str,
    c: &Cause,
    now: DateTime<Utc>,
) -> Result<String, String> {
    let values = macro_values(n, subject, c);
    let key = format!("hrsync-notify-{}-{}-{}", n.name, c.key(), now.timestamp());
    let d = match tokio::time::timeout(
        deadline(n)
            .max(h.hook.timeout() * h.hook.max_attempts())
            .min(MAX_DEADLINE),
        crate::orchestrate::call(client, h, &values, Some(&key)),
    )
    .await
    {
        Ok(d) => d,
        Err(_) => return Err("no answer within the deadline".to_string()),
    };
    if d.ok {
        Ok(format!(
            "webhook {}: HTTP {} after {} attempt(s)",
            d.webhook,
            d.status.unwrap_or_default(),
            d.attempts
        ))
    } else {
        Err(d
            .error
            .unwrap_or_else(|| format!("webhook {}: not delivered", d.webhook)))
    }
}

#[cfg(test)]
mod tests;
