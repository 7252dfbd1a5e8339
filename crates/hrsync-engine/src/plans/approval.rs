//! Approval (issue 14 §2): `[mapping.approval] require = [...]` names the change classes that
//! need an operator's approval. A run moves such changes out of the plan's changes into
//! `awaiting_approval` (never applied by it), and stores the plan as a saved plan; an operator
//! approves or rejects them (`hrsync approve`); approved ones apply with
//! `hrsync apply --plan RUN`, or in the daemon's next run with `auto_apply = true`.

use super::{PlanError, SavedPlan};
use hrsync_config::plans::RawApproval;
use hrsync_model::{Change, ChangeKind, Plan};
use hrsync_state::{Decision, PlanItem, Store};
use serde::Serialize;
use std::collections::BTreeSet;

/// The classes of `approval.require` that `c` (sitting in `part` of its plan) belongs to.
pub fn classes_needing(c: &Change, part: &str, approval: Option<&RawApproval>) -> Vec<String> {
    let Some(a) = approval else {
        return Vec::new();
    };
    let mut mine: Vec<&str> = Vec::new();
    match c.kind {
        ChangeKind::Create | ChangeKind::CreateDisabled => mine.push("create"),
        ChangeKind::Update => mine.push("update"),
        ChangeKind::Enable | ChangeKind::FinishCreate => mine.push("enable"),
        ChangeKind::Disable => mine.push("disable"),
        ChangeKind::Delete => mine.push("delete"),
    }
    let dc = c.dn_change();
    if dc.moves_to.is_some() {
        mine.push("move");
    }
    if dc.renames {
        mine.push("rename");
    }
    let removes_group = c.attrs.iter().any(|x| {
        x.attr.is("memberOf")
            && x.before
                .iter()
                .any(|g| !x.after.iter().any(|h| hrsync_model::dn::same(g, h)))
    });
    if removes_group {
        mine.push("group-removal");
    }
    if part == "held" {
        mine.push("held");
    }
    mine.into_iter()
        .filter(|m| a.require.iter().any(|r| r == m))
        .map(str::to_string)
        .collect()
}

/// Moves the changes that need an approval from `plan.changes` to `plan.awaiting_approval`.
/// Held changes stay held (an approval of a held change releases it when `held` is required).
pub fn gate(plan: &mut Plan, approval: Option<&RawApproval>) {
    if approval.is_none() {
        return;
    }
    let (wait, go): (Vec<Change>, Vec<Change>) = std::mem::take(&mut plan.changes)
        .into_iter()
        .partition(|c| !classes_needing(c, "change", approval).is_empty());
    plan.changes = go;
    plan.awaiting_approval.extend(wait);
}

/// Whether what a threshold held needs an approval (`require` has `held`).
pub fn held_needs_approval(approval: Option<&RawApproval>) -> bool {
    approval.is_some_and(|a| a.require.iter().any(|r| r == "held"))
}

/// The `--confirm-held` tokens run `run` may release held changes with: none when what a
/// threshold held needs an approval (only `hrsync approve`, four-eyes where configured,
/// releases it); the plan then says so.
pub fn confirmable<'a>(
    plan: &mut Plan,
    approval: Option<&RawApproval>,
    confirmed: &'a BTreeSet<String>,
    run: i64,
) -> &'a BTreeSet<String> {
    static NONE: BTreeSet<String> = BTreeSet::new();
    if confirmed.is_empty() || !held_needs_approval(approval) {
        return confirmed;
    }
    plan.held_reasons.push(format!(
        "--confirm-held releases nothing here: approval.require has \"held\", so what a threshold held applies only once approved: hrsync approve {run}, then hrsync apply --plan {run}"
    ));
    &NONE
}

/// Where held changes need an approval, the way out the plan shows for them is the approval,
/// not `--confirm-held` (which releases nothing then).
pub fn held_hint(plan: &mut Plan, approval: Option<&RawApproval>, run: i64) {
    if !held_needs_approval(approval) {
        return;
    }
    let confirm = format!("`hrsync apply --confirm-held {run}`");
    let approve = format!("`hrsync approve {run}`, then `hrsync apply --plan {run}`");
    for r in &mut plan.held_reasons {
        *r = r.replace(&confirm, &approve);
    }
}

/// One change of a saved plan that waits for a decision, or was decided.
#[derive(Debug, Clone, Serialize)]
pub struct Waiting {
    pub plan: i64,
    pub mapping: String,
    pub planned_by: String,
    pub saved_at: String,
    pub expires_at: String,
    pub part: String,
    pub idx: i64,
    pub key: String,
    pub kind: String,
    pub dn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_dn: Option<String>,
    pub reason: String,
    /// The classes that need the approval.
    pub needs: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

fn waiting_of(saved: &SavedPlan, i: &PlanItem) -> Option<Waiting> {
    let needs = i.needs.clone().filter(|n| !n.is_empty())?;
    let c = saved.change(&i.part, i.idx.max(0) as usize)?;
    Some(Waiting {
        plan: saved.id,
        mapping: saved.plan.mapping.clone(),
        planned_by: saved.planned_by.clone(),
        saved_at: saved.saved_at.clone(),
        expires_at: saved.expires_at.to_rfc3339(),
        part: i.part.clone(),
        idx: i.idx,
        key: c.key.clone(),
        kind: c.kind.as_str().into(),
        dn: c.dn.clone(),
        new_dn: c.new_dn.clone(),
        reason: c.reason.clone(),
        needs,
        decision: i.decision.clone(),
        decided_by: i.decided_by.clone(),
        decided_at: i.decided_at.clone(),
        comment: i.comment.clone(),
    })
}

/// Every change of a saved plan that needs an approval, applied or not, with its decision.
pub fn of_plan_all(saved: &SavedPlan) -> Vec<Waiting> {
    saved
        .items
        .iter()
        .filter_map(|i| waiting_of(saved, i))
        .collect()
}

/// Every change of a saved plan that needs an approval and was not applied yet, with its
/// decision (if any).
pub fn of_plan(saved: &SavedPlan) -> Vec<Waiting> {
    saved
        .items
        .iter()
        .filter(|i| i.applied_run.is_none())
        .filter_map(|i| waiting_of(saved, i))
        .collect()
}

/// Whether a saved plan's row says it expired (told before its plan is loaded: expired plans
/// stay `open` and pile up). A row whose time cannot be read is not taken as expired here:
/// loading it reports the problem.
fn expired(row: &hrsync_state::SavedPlanRow, now: chrono::DateTime<chrono::Utc>) -> bool {
    chrono::DateTime::parse_from_rfc3339(&row.expires_at).is_ok_and(|t| now > t)
}

/// What waits for a decision in the open saved plans (not expired, not applied), oldest plan
/// first; `mapping` narrows it.
pub fn pending(
    store: &Store,
    mapping: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Waiting>, PlanError> {
    let mut out = Vec::new();
    // Each scheduled run plans the same waiting change again: only the newest plan's is
    // listed (an older plan can still be approved by its id).
    let mut seen = std::collections::BTreeSet::new();
    let mut rows = store.saved_plans("open")?;
    rows.reverse();
    for row in rows {
        if mapping.is_some_and(|m| m != row.mapping) || expired(&row, now) {
            continue;
        }
        let saved = super::load_unchecked(store, row.run_id)?;
        let mine: Vec<Waiting> = of_plan(&saved)
            .into_iter()
            .filter(|w| {
                w.decision.is_none()
                    && seen.insert((
                        w.mapping.clone(),
                        w.key.clone(),
                        w.kind.clone(),
                        w.dn.clone(),
                    ))
            })
            .collect();
        out.push(mine);
    }
    out.reverse();
    Ok(out.into_iter().flatten().collect())
}

/// What an approval decides.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Approve only these (a class such as `disable`, or an HR key); empty: every change
    /// waiting that is not rejected.
    pub only: Vec<String>,
    /// Reject these (a class or an HR key).
    pub reject: Vec<String>,
    pub comment: Option<String>,
}

/// Why an approval was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApproveError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(
        "four-eyes approval: {operator} made plan {plan} and cannot approve it; another operator must (approval.four_eyes = true in mapping {mapping:?})"
    )]
    FourEyes {
        operator: String,
        plan: i64,
        mapping: String,
    },
    #[error("plan {0} has no change waiting for approval")]
    NothingWaiting(i64),
    #[error("{0:?} matches no change of plan {1} that waits for approval (by class or HR key)")]
    NoMatch(String, i64),
    #[error(
        "{sel:?} was rejected on plan {plan} by {by}: a rejection is final; a new plan (the next run) plans the change again, approve it there"
    )]
    Rejected { sel: String, plan: i64, by: String },
    #[error("plan {plan} expired at {at}; make a new plan")]
    Expired { plan: i64, at: String },
}

/// What an approval decided: (key, kind, decision).
#[derive(Debug, Clone, Serialize)]
pub struct Decided {
    pub key: String,
    pub kind: String,
    pub dn: String,
    pub decision: String,
}

fn matches(w: &Waiting, sel: &str) -> bool {
    w.key == sel || w.kind == sel || w.needs.split(',').any(|n| n == sel)
}

/// Records `operator`'s decisions on saved plan `plan` (see [`Request`]); refuses the plan's
/// own maker under four-eyes, and decisions on an expired plan.
pub fn approve(
    store: &mut Store,
    approval: Option<&RawApproval>,
    plan: i64,
    req: &Request,
    operator: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Decided>, ApproveError> {
    let saved = super::load_unchecked(store, plan)?;
    if now > saved.expires_at {
        return Err(ApproveError::Expired {
            plan,
            at: saved.expires_at.to_rfc3339(),
        });
    }
    if approval.is_some_and(|a| a.four_eyes) && saved.planned_by == operator {
        return Err(ApproveError::FourEyes {
            operator: operator.to_string(),
            plan,
            mapping: saved.plan.mapping.clone(),
        });
    }
    // A rejection is final ("rejected changes never apply"): a later decision never turns
    // it into an approval; a later run plans the change again, to decide there.
    let (rejected, waiting): (Vec<Waiting>, Vec<Waiting>) = of_plan(&saved)
        .into_iter()
        .partition(|w| w.decision.as_deref() == Some("rejected"));
    for sel in &req.only {
        if waiting.iter().any(|w| matches(w, sel)) {
            continue;
        }
        return Err(match rejected.iter().find(|w| matches(w, sel)) {
            Some(w) => ApproveError::Rejected {
                sel: sel.clone(),
                plan,
                by: w.decided_by.clone().unwrap_or_else(|| "?".into()),
            },
            None => ApproveError::NoMatch(sel.clone(), plan),
        });
    }
    for sel in &req.reject {
        if !waiting.iter().chain(&rejected).any(|w| matches(w, sel)) {
            return Err(ApproveError::NoMatch(sel.clone(), plan));
        }
    }
    if waiting.is_empty() {
        return Err(ApproveError::NothingWaiting(plan));
    }
    let mut decided = Vec::new();
    for w in &waiting {
        let decision = if req.reject.iter().any(|s| matches(w, s)) {
            "rejected"
        } else if req.only.is_empty() || req.only.iter().any(|s| matches(w, s)) {
            "approved"
        } else {
            continue;
        };
        decided.push((w, decision));
    }
    let rows: Vec<Decision<'_>> = decided
        .iter()
        .map(|(w, d)| Decision {
            part: &w.part,
            idx: w.idx,
            decision: d,
            by: operator,
            comment: req.comment.as_deref(),
        })
        .collect();
    store
        .decide_items(plan, &rows, now)
        .map_err(PlanError::from)?;
    Ok(decided
        .into_iter()
        .map(|(w, d)| Decided {
            key: w.key.clone(),
            kind: w.kind.clone(),
            dn: w.dn.clone(),
            decision: d.to_string(),
        })
        .collect())
}

/// Whether a run's plan must be kept as a saved plan for approvals: changes wait for one,
/// or held changes can be approved (`held` required).
pub fn needs_saving(plan: &Plan, job: &hrsync_config::Job) -> bool {
    !plan.awaiting_approval.is_empty()
        || (!plan.held.is_empty()
            && job
                .approval
                .as_ref()
                .is_some_and(|a| a.require.iter().any(|r| r == "held")))
}

/// The open saved plans of `job`'s mapping with approved changes not applied yet (not
/// expired, made with this configuration), oldest first: what the daemon applies in its next
/// run of the mapping when `auto_apply = true`.
pub fn approved_to_apply(
    store: &Store,
    job: &hrsync_config::Job,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<SavedPlan>, PlanError> {
    if !job.approval.as_ref().is_some_and(|a| a.auto_apply) {
        return Ok(Vec::new());
    }
    let mapping = &job.mapping.spec().name;
    let mut out = Vec::new();
    for row in store.saved_plans("open")? {
        if &row.mapping != mapping || expired(&row, now) {
            continue;
        }
        let saved = super::load_unchecked(store, row.run_id)?;
        let ready = saved
            .items
            .iter()
            .any(|i| i.applied_run.is_none() && i.decision.as_deref() == Some("approved"));
        if !ready {
            continue;
        }
        match saved.check(job, now) {
            Ok(()) => out.push(saved),
            Err(e) => tracing::warn!(plan = saved.id, "approved changes not applied: {e}"),
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use hrsync_state::SavedPlanRow;

    /// Plans waiting for approval pile up (a scheduled run saves one each time while nobody
    /// decides) and stay `open`: the daemon's every tick and `approvals` must not load the
    /// expired ones (here one whose plan is not even readable any more: loading it fails).
    #[test]
    fn expired_plans_are_not_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let now = chrono::Utc::now();
        let run = store.start_run("apply", "m", now).unwrap();
        let row = SavedPlanRow {
            run_id: run,
            mapping: "m".into(),
            config_fp: "{}".into(),
            saved_by: "alice".into(),
            saved_at: (now - chrono::Duration::hours(30)).to_rfc3339(),
            expires_at: (now - chrono::Duration::hours(6)).to_rfc3339(),
            status: "open".into(),
            applied_run: None,
        };
        store.save_saved_plan(&row, &[]).unwrap();
        assert!(pending(&store, None, now).unwrap().is_empty());
        assert!(pending(&store, Some("m"), now).unwrap().is_empty());
    }
}
