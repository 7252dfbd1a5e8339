//! `hrsync apply --plan ID` / `--plan-file`: applies exactly the changes of a saved plan,
//! each only if what it assumed still holds.
//!
//! Per change, before anything is written: the entry carrying the person's key is still the
//! planned one (same DN, same stable id), the attributes the change touches still have the
//! values the plan saw, the account state is still the one it changes (a disable of an
//! account that is disabled already is stale, a delete of one enabled again too), nobody has
//! the key of a planned create nor its unique names (`sAMAccountName`: the ledger and the
//! directory), and the person's HR record (the fields the mapping reads) is unchanged. A
//! change that fails a check is skipped as *stale* with the reason. The others go through
//! what every apply goes through: the mapping's apply lock (taken by the engine), the
//! thresholds again (an approved held change is released, nothing else), changes that need an
//! approval and have none stay out, the write-ahead audit and the last check before each write.

use super::{SavedPlan, approval::classes_needing, hr_drift};
use crate::engine::Baseline;
use crate::progress::{Stage, StageState};
use crate::report::{EngineError, Mode, Progress, RunReport, Timings, Ui};
use chrono::{DateTime, Utc};
use hrsync_config::Job;
use hrsync_model::{AttrChange, Change, ChangeKind, DirEntry, Plan, StaleChange, dn};
use std::collections::{BTreeMap, BTreeSet};

/// How many keys one directory search asks for.
const KEYS_PER_SEARCH: usize = 200;

/// One change of the saved plan that may apply.
struct Candidate {
    part: String,
    idx: i64,
    change: Change,
    hr_fp: Option<super::HrFingerprint>,
}

/// Applies `saved` in run `run_id` (started by the engine, which holds the mapping's lock).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run(
    job: &Job,
    store: &mut hrsync_state::Store,
    mode: Mode,
    saved: &SavedPlan,
    now: DateTime<Utc>,
    ui: &mut dyn Ui,
    run_id: i64,
    timings: &mut Timings,
    progress: &Progress,
) -> Result<RunReport, EngineError> {
    saved.check(job, now)?;
    if progress.cancelled() {
        return Ok(crate::engine::cancelled(run_id, Plan::default()));
    }
    let spec = job.mapping.spec();
    // Decisions and outcomes as they are now, under the mapping's lock: a change rejected or
    // applied (by another apply of the same plan) since the plan was loaded is not applied.
    let fresh;
    let saved = if saved.stored {
        let mut s = saved.clone();
        s.items = store.plan_items(saved.id)?;
        fresh = s;
        &fresh
    } else {
        saved
    };
    // Which items may apply: not done yet, not rejected, approved where an approval is needed
    // (by the plan, or by the configuration now).
    let mut candidates = Vec::new();
    let mut waiting = Vec::new();
    let mut held_left = Vec::new();
    let mut rejected = 0usize;
    let mut approved_held = BTreeSet::new();
    for item in &saved.items {
        if item.applied_run.is_some() {
            continue;
        }
        let Some(change) = saved.change(&item.part, item.idx.max(0) as usize) else {
            continue;
        };
        let mut needs = classes_needing(change, &item.part, job.approval.as_ref());
        if let Some(n) = item.needs.as_deref().filter(|n| !n.is_empty()) {
            needs.extend(n.split(',').map(str::to_string));
        }
        let approved = item.decision.as_deref() == Some("approved");
        if item.decision.as_deref() == Some("rejected") {
            rejected += 1;
            continue;
        }
        if !approved && (!needs.is_empty() || item.part == "held") {
            if item.part == "held" {
                held_left.push(change.clone());
            } else {
                waiting.push(change.clone());
            }
            continue;
        }
        if item.part == "held" {
            approved_held.extend(
                crate::guards::classes(change)
                    .into_iter()
                    .map(|c| crate::guards::token(c, &change.key)),
            );
        }
        let mut change = change.clone();
        if approved {
            // The decision travels with the change: plan output and audit show it.
            change.reason = format!(
                "{}; approved by {} at {}{}",
                change.reason,
                item.decided_by.as_deref().unwrap_or("?"),
                item.decided_at.as_deref().unwrap_or("?"),
                item.comment
                    .as_deref()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default()
            );
        }
        let hr_fp = match &item.hr_fp {
            Some(s) => Some(serde_json::from_str(s).map_err(hrsync_state::StateError::from)?),
            None => None,
        };
        candidates.push(Candidate {
            part: item.part.clone(),
            idx: item.idx,
            change,
            hr_fp,
        });
    }

    // The stages of a saved plan: HR and the directory read for the plan's people (no
    // mapping), the plan checked for drift.
    progress.stage(Stage::Snapshot, StageState::Started, None);
    let (dir, _schema, connect_time) = crate::engine::open_directory(job, store).await?;
    // What HR says now about these people, and what the directory has under their keys.
    progress.stage(Stage::Fetch, StageState::Started, None);
    let t = std::time::Instant::now();
    let keys: BTreeSet<String> = candidates.iter().map(|c| c.change.key.clone()).collect();
    let hr_now = hr_fingerprints(job, &keys, store.fingerprint_key()?).await;
    timings.fetch_ms = t.elapsed().as_millis() as u64;
    progress.stage(Stage::Fetch, StageState::Finished, Some(timings.fetch_ms));
    let t = std::time::Instant::now();
    let mut entries: BTreeMap<String, Vec<DirEntry>> = BTreeMap::new();
    let key_list: Vec<&String> = keys.iter().collect();
    for chunk in key_list.chunks(KEYS_PER_SEARCH) {
        let pairs: Vec<(String, String)> = chunk
            .iter()
            .map(|k| (spec.key_attribute.clone(), (*k).clone()))
            .collect();
        dir.snapshot_any(&pairs, |e| {
            if let Some(k) = e.key.clone() {
                entries.entry(k.to_lowercase()).or_default().push(e);
            }
        })
        .await?;
    }
    // Unique names (`sAMAccountName`, …) the plan's creates were given: still free?
    let mut name_drift: BTreeMap<String, String> = BTreeMap::new();
    if candidates.iter().any(|c| c.change.kind.creates()) && !spec.unique.is_empty() {
        let scope = crate::unique::scope_of(&job.directory.base_dn);
        for u in &spec.unique {
            let ledger = store.used_names(&spec.name, &u.attr)?;
            for c in candidates.iter().filter(|c| c.change.kind.creates()) {
                let Some(v) = c
                    .change
                    .attrs
                    .iter()
                    .find(|a| a.attr.is(&u.attr))
                    .and_then(|a| a.after.first())
                else {
                    continue;
                };
                let why = if ledger.contains(&v.to_lowercase()) {
                    Some(format!(
                        "{} {v:?} was given to someone else since the plan",
                        u.attr
                    ))
                } else if dir.value_taken(&scope, &u.attr, v).await? {
                    Some(format!("{} {v:?} is taken in the directory now", u.attr))
                } else {
                    None
                };
                if let Some(w) = why {
                    name_drift.insert(c.change.key.clone(), w);
                }
            }
        }
    }
    timings.snapshot_ms = (t.elapsed() + connect_time).as_millis() as u64;
    progress.stage(
        Stage::Snapshot,
        StageState::Finished,
        Some(timings.snapshot_ms),
    );

    progress.stage(Stage::Plan, StageState::Started, None);
    let t = std::time::Instant::now();
    let mut kept = Vec::new();
    let mut kept_items = Vec::new();
    let mut stale = Vec::new();
    let mut stale_items = Vec::new();
    for c in candidates {
        let found = entries
            .get(&c.change.key.to_lowercase())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut reasons: Vec<String> = directory_drift(&c.change, found).into_iter().collect();
        if let Some(w) = name_drift.get(&c.change.key) {
            reasons.push(w.clone());
        }
        match &hr_now {
            Err(e) => reasons.push(format!("HR could not be read to check the person ({e})")),
            Ok(now_fps) => {
                if let Some(r) = hr_drift(c.hr_fp.as_ref(), now_fps.get(&c.change.key)) {
                    reasons.push(r);
                }
            }
        }
        if reasons.is_empty() {
            kept_items.push((c.part, c.idx, c.change.kind, c.change.key.clone()));
            kept.push(c.change);
        } else {
            let reason = reasons.join("; ");
            stale_items.push((c.part, c.idx, format!("stale: {reason}")));
            stale.push(StaleChange {
                change: c.change,
                reason,
            });
        }
    }
    let mut fetch = saved.plan.fetch.clone();
    fetch.notes.push(format!(
        "applying saved plan {} (made {} by {}): {} change(s) checked, {} stale{}",
        saved.label(),
        saved.saved_at,
        saved.planned_by,
        kept.len() + stale.len(),
        stale.len(),
        if rejected > 0 {
            format!(", {rejected} rejected by approval (never applied)")
        } else {
            String::new()
        }
    ));
    if !saved.stored {
        fetch.notes.push(
            "a plan file from another state database: its approvals are not here, so nothing of it that needs an approval applies".into(),
        );
    }
    let mut plan = Plan {
        mapping: saved.plan.mapping.clone(),
        target: saved.plan.target.clone(),
        generated_at: saved.plan.generated_at,
        fetch,
        leavers_allowed: saved.plan.leavers_allowed,
        changes: kept,
        held: held_left,
        managed: saved.plan.managed,
        awaiting_approval: waiting,
        stale,
        from_plan: Some(saved.id),
        ..Plan::default()
    };
    if !plan.held.is_empty() {
        plan.held_reasons.push(format!(
            "{} change(s) the saved plan held over a threshold stay held (not approved); release them with a new run: hrsync apply --confirm-held {}",
            plan.held.len(),
            saved.id
        ));
    }
    // The thresholds again, on what is about to apply (only approved held changes pass).
    let managed = plan.managed;
    crate::guards::hold(&mut plan, &job.thresholds, managed, &approved_held, run_id);
    timings.plan_ms = t.elapsed().as_millis() as u64;
    progress.stage(Stage::Plan, StageState::Finished, Some(timings.plan_ms));

    let mut report = crate::engine::conclude(
        job,
        store,
        mode,
        now,
        ui,
        run_id,
        timings,
        plan,
        Vec::new(),
        dir,
        Baseline {
            records: 0,
            set: false,
            prune_review: false,
        },
        progress,
    )
    .await?;
    if saved.stored {
        record_outcomes(store, saved, &report, &kept_items, stale_items)?;
    }
    report.foreign_plan = !saved.stored;
    Ok(report)
}

/// Records on the saved plan what run `report` did with its items, and closes the plan when
/// nothing of it is left to apply.
fn record_outcomes(
    store: &mut hrsync_state::Store,
    saved: &SavedPlan,
    report: &RunReport,
    kept: &[(String, i64, ChangeKind, String)],
    stale: Vec<(String, i64, String)>,
) -> Result<(), EngineError> {
    let mut outcomes = stale;
    if report.applied {
        let audit = store.audit(Some(report.run_id), None, usize::MAX / 2)?;
        for (seq, c) in report.plan.changes.iter().enumerate() {
            let Some((part, idx, _, _)) = kept
                .iter()
                .find(|(_, _, kind, key)| *kind == c.kind && *key == c.key)
            else {
                continue;
            };
            let outcome = match audit.iter().find(|a| a.seq == seq as i64) {
                Some(a) if a.ok => "applied".to_string(),
                Some(a) => format!("failed: {}", a.message),
                None => "not recorded".to_string(),
            };
            outcomes.push((part.clone(), *idx, outcome));
        }
    }
    store.mark_items(saved.id, &outcomes, report.run_id)?;
    let left = store
        .plan_items(saved.id)?
        .into_iter()
        .filter(|i| i.applied_run.is_none() && i.decision.as_deref() != Some("rejected"))
        .count();
    if left == 0 {
        store.set_saved_plan_status(saved.id, "applied", Some(report.run_id))?;
    } else if report.applied {
        store.set_saved_plan_status(saved.id, "open", Some(report.run_id))?;
    }
    Ok(())
}

/// The HR fingerprints of these people now (people HR does not return are absent); an error
/// when the fetch was incomplete (nothing about them can be concluded).
async fn hr_fingerprints(
    job: &Job,
    keys: &BTreeSet<String>,
    fingerprint_key: Vec<u8>,
) -> Result<BTreeMap<String, super::HrFingerprint>, String> {
    let mut out = BTreeMap::new();
    if keys.is_empty() {
        return Ok(out);
    }
    let spec = job.mapping.spec();
    let mut source = job.source.clone();
    source.restrict(&spec.primary_key, keys);
    let fp = super::Fingerprinter::new(job, fingerprint_key);
    let mut keep = job.mapping.referenced_fields();
    keep.insert(
        spec.primary_key
            .split('.')
            .next()
            .unwrap_or_default()
            .to_string(),
    );
    let report = source
        .fetch_with(Some(&keep), |rec| {
            let Some((key, f)) = fp.of(&job.mapping, &rec) else {
                return;
            };
            let wanted = if keys.contains(&key) {
                Some(key)
            } else {
                keys.iter()
                    .find(|w| job.source.key_matches(w, &key))
                    .cloned()
            };
            if let Some(w) = wanted {
                out.insert(w, f);
            }
        })
        .await
        .map_err(|e| e.to_string())?;
    if !report.complete {
        return Err(report
            .error
            .unwrap_or_else(|| "the HR fetch was incomplete".into()));
    }
    Ok(out)
}

fn values(e: &DirEntry, attr: &AttrChange) -> Vec<String> {
    e.attrs
        .iter()
        .find(|(k, _)| k.is(attr.attr.as_str()))
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn same_values(a: &[String], b: &[String]) -> bool {
    let mut x: Vec<&String> = a.iter().collect();
    let mut y: Vec<&String> = b.iter().collect();
    x.sort();
    y.sort();
    x == y
}

/// Why the directory no longer is what `c` assumed (`found`: the entries carrying its key).
pub(crate) fn directory_drift(c: &Change, found: &[DirEntry]) -> Option<String> {
    if c.kind.creates() {
        return found.first().map(|e| {
            format!(
                "an entry with key {} exists now ({}): created since the plan",
                c.key, e.dn
            )
        });
    }
    let Some(first) = found.first() else {
        return Some(format!(
            "no entry carries key {} any more (it was {})",
            c.key, c.dn
        ));
    };
    let e = match &c.uuid {
        Some(u) => match found.iter().find(|e| e.uuid.as_deref() == Some(u.as_str())) {
            Some(e) => e,
            None => {
                return Some(format!(
                    "the entry with key {} is another one now ({}, stable id {}; the plan's was {u})",
                    c.key,
                    first.dn,
                    first.uuid.as_deref().unwrap_or("unknown")
                ));
            }
        },
        None => match found.iter().find(|e| dn::same(&e.dn, &c.dn)) {
            Some(e) => e,
            None => first,
        },
    };
    if !dn::same(&e.dn, &c.dn) {
        return Some(format!(
            "the entry was moved or renamed since the plan: it was {}, it is {} now",
            c.dn, e.dn
        ));
    }
    match c.kind {
        ChangeKind::Disable if e.disabled => {
            return Some("the account was disabled since the plan".into());
        }
        ChangeKind::Enable | ChangeKind::FinishCreate if !e.disabled => {
            return Some("the account was enabled since the plan".into());
        }
        // A (retention) delete is planned for a disabled account only.
        ChangeKind::Delete if !e.disabled => {
            return Some(
                "the account was enabled since the plan (a delete is for a disabled account only)"
                    .into(),
            );
        }
        _ => {}
    }
    let mut changed = Vec::new();
    for a in &c.attrs {
        let now = values(e, a);
        let same = if a.attr.is("memberOf") {
            // Only the groups this change is about.
            let about = |g: &String| a.before.iter().chain(&a.after).any(|x| dn::same(x, g));
            let now_about: Vec<String> = now.iter().filter(|g| about(g)).cloned().collect();
            now_about.len() == a.before.len()
                && a.before
                    .iter()
                    .all(|b| now_about.iter().any(|x| dn::same(x, b)))
        } else {
            same_values(&now, &a.before)
        };
        if !same {
            changed.push(format!(
                "{} is {} in the directory, the plan expected {}",
                a.attr,
                show(&now),
                show(&a.before)
            ));
        }
    }
    (!changed.is_empty()).then(|| format!("changed by hand since the plan: {}", changed.join(", ")))
}

fn show(v: &[String]) -> String {
    match v.len() {
        0 => "(none)".into(),
        1 => format!("{:?}", v[0]),
        _ => format!("{v:?}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use hrsync_model::AttrName;

    fn entry(dn: &str, uuid: &str, title: &str, disabled: bool) -> DirEntry {
        let mut attrs = hrsync_model::AttrMap::new();
        attrs.insert(AttrName::new("title".to_string()), vec![title.to_string()]);
        DirEntry {
            dn: dn.into(),
            uuid: Some(uuid.into()),
            key: Some("E1".into()),
            attrs,
            disabled,
        }
    }

    fn update(before: &str) -> Change {
        Change {
            kind: ChangeKind::Update,
            key: "E1".into(),
            dn: "uid=e1,ou=p".into(),
            new_dn: None,
            uuid: Some("u1".into()),
            attrs: vec![AttrChange {
                attr: AttrName::new("title".to_string()),
                before: vec![before.into()],
                after: vec!["New".into()],
            }],
            reason: String::new(),
        }
    }

    #[test]
    fn a_change_is_stale_exactly_when_its_entry_is_not_as_planned() {
        let e = entry("uid=e1,ou=p", "u1", "Old", false);
        assert_eq!(
            directory_drift(&update("Old"), std::slice::from_ref(&e)),
            None
        );
        let r = directory_drift(&update("Other"), std::slice::from_ref(&e)).unwrap();
        assert!(
            r.contains("title is \"Old\" in the directory, the plan expected \"Other\""),
            "{r}"
        );
        let moved = entry("uid=e1,ou=q", "u1", "Old", false);
        assert!(
            directory_drift(&update("Old"), &[moved])
                .unwrap()
                .contains("moved or renamed")
        );
        let other = entry("uid=e1,ou=p", "u2", "Old", false);
        assert!(
            directory_drift(&update("Old"), &[other])
                .unwrap()
                .contains("another one")
        );
        assert!(
            directory_drift(&update("Old"), &[])
                .unwrap()
                .contains("no entry carries key E1")
        );
        let mut disable = update("Old");
        disable.kind = ChangeKind::Disable;
        disable.attrs.clear();
        let off = entry("uid=e1,ou=p", "u1", "Old", true);
        assert!(
            directory_drift(&disable, &[off])
                .unwrap()
                .contains("disabled since")
        );
        assert_eq!(directory_drift(&disable, &[e]), None);
    }

    /// A retention delete is planned for a disabled account only: one enabled again since the
    /// plan (by hand: the person is still working) is not deleted.
    #[test]
    fn a_delete_of_an_account_enabled_since_the_plan_is_stale() {
        let mut delete = update("Old");
        delete.kind = ChangeKind::Delete;
        delete.attrs.clear();
        let off = entry("uid=e1,ou=p", "u1", "Old", true);
        assert_eq!(directory_drift(&delete, &[off]), None);
        let on = entry("uid=e1,ou=p", "u1", "Old", false);
        let r = directory_drift(&delete, &[on]).unwrap();
        assert!(r.contains("enabled since the plan"), "{r}");
    }
}
