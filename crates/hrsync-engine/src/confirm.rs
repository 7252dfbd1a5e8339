//! Absence from an HR list is evidence, not proof. A person who is a leaver only because the
//! list did not have them (IceHrm pages by SQL offset: a delete during the fetch shifts the
//! next rows back and one person per delete is never seen) is confirmed before anything
//! happens to them:
//! - where the source can look people up by key, hrsync asks for exactly those keys, and
//!   anyone the lookup returns is not a leaver;
//! - elsewhere, they become leavers only when `lifecycle.missing_confirmations` consecutive
//!   complete fetches missed them (the first run records them as "missing since").

use crate::report::EngineError;
use chrono::{DateTime, Utc};
use hrsync_config::Job;
use hrsync_model::{ChangeKind, Finding, Plan};
use hrsync_state::Store;
use std::collections::BTreeSet;

/// Moves the confirmed leavers of `plan.unconfirmed` into `plan.changes`; the others stay
/// listed there with why. `full` is true for a complete, full (not incremental) fetch whose
/// leavers were allowed: only such a fetch counts towards `missing_confirmations`.
pub(crate) async fn confirm_missing(
    job: &Job,
    store: &mut Store,
    plan: &mut Plan,
    run_id: i64,
    now: DateTime<Utc>,
    full: bool,
) -> Result<(), EngineError> {
    let mapping = job.mapping.spec().name.clone();
    if plan.unconfirmed.is_empty() {
        if full {
            store.update_missing(&mapping, run_id, &BTreeSet::new(), now)?;
        }
        return Ok(());
    }
    if job.source.can_look_up(&job.mapping.spec().primary_key) {
        look_up(job, plan).await;
        if full {
            // Nobody waits for a second fetch where a lookup decides.
            store.update_missing(&mapping, run_id, &BTreeSet::new(), now)?;
        }
        return Ok(());
    }
    let missing_now: BTreeSet<String> = plan.unconfirmed.iter().map(|c| c.key.clone()).collect();
    let before = store.missing_since(&mapping)?;
    let needed = job.missing_confirmations;
    let mut waiting = Vec::new();
    for mut c in std::mem::take(&mut plan.unconfirmed) {
        let (count, since) = match before.get(&c.key) {
            Some(&(_first_run, since, count)) => (count + 1, since),
            None => (1, now),
        };
        if count >= needed {
            c.reason = if needed == 1 {
                format!("{} (missing_confirmations = 1)", c.reason)
            } else {
                format!(
                    "not in HR any more: missing from {count} consecutive complete fetches since {}",
                    since.format("%Y-%m-%d %H:%M UTC")
                )
            };
            plan.changes.push(c);
        } else {
            c.reason = format!(
                "missing from HR since {} ({count} of {needed} consecutive complete fetches; {} cannot look people up by key): a leaver if the next complete fetch misses them too",
                since.format("%Y-%m-%d %H:%M UTC"),
                job.source.name()
            );
            waiting.push(c);
        }
    }
    plan.unconfirmed = waiting;
    if full {
        store.update_missing(&mapping, run_id, &missing_now, now)?;
    }
    plan.changes
        .sort_by(|a, b| (a.kind, &a.key).cmp(&(b.kind, &b.key)));
    Ok(())
}

/// Asks HR for exactly the missing keys; who comes back is not a leaver.
async fn look_up(job: &Job, plan: &mut Plan) {
    let spec = job.mapping.spec();
    let keys: BTreeSet<String> = plan.unconfirmed.iter().map(|c| c.key.clone()).collect();
    let keep = BTreeSet::from([spec
        .primary_key
        .split('.')
        .next()
        .unwrap_or_default()
        .to_string()]);
    let mut found: Vec<String> = Vec::new();
    let mapper = job.mapping.clone();
    let res = job
        .source
        .look_up(&spec.primary_key, &keys, Some(&keep), |rec| {
            if let Some(k) = mapper.key_of(&rec) {
                found.push(k);
            }
        })
        .await;
    let failure = match res {
        Ok(report) if report.complete => None,
        Ok(report) => Some(
            report
                .error
                .unwrap_or_else(|| "not every request answered".into()),
        ),
        Err(e) => Some(e.to_string()),
    };
    if let Some(why) = failure {
        let n = plan.unconfirmed.len();
        for c in &mut plan.unconfirmed {
            c.reason = format!(
                "missing from the HR list, but the lookup that confirms it failed: {why}; not a leaver until a lookup succeeds"
            );
        }
        plan.leavers_withheld += n;
        plan.leavers_withheld_reason.get_or_insert_with(|| {
            format!(
                "{n} person(s) missing from the HR list could not be confirmed by a lookup by key ({why}); nobody is treated as a leaver for being missing until a lookup succeeds"
            )
        });
        return;
    }
    let mut confirmed = Vec::new();
    for mut c in std::mem::take(&mut plan.unconfirmed) {
        if let Some(got) = found.iter().find(|f| job.source.key_matches(&c.key, f)) {
            plan.findings.push(Finding::warning(
                c.key.clone(),
                None,
                format!(
                    "missing from the HR list, but a lookup by key found {got} in HR: the list changed while it was read; not a leaver ({})",
                    c.dn
                ),
            ));
            plan.unchanged += 1;
            continue;
        }
        debug_assert_eq!(c.kind, ChangeKind::Disable);
        c.reason = format!("{}; a lookup by key found nobody", c.reason);
        confirmed.push(c);
    }
    plan.changes.extend(confirmed);
    plan.changes
        .sort_by(|a, b| (a.kind, &a.key).cmp(&(b.kind, &b.key)));
}
