//! What a run is asked and what it reports: [`Mode`], [`RunOptions`], the [`Ui`] hooks, the
//! [`RunReport`] with its [`RunStatus`] and [`Timings`], and [`EngineError`]. The bottom of the
//! engine: every other module may use these; they use none of the engine's stages (only
//! `progress`, whose events and cancel token the options carry).

use crate::progress::{CancelToken, EventSink, RunEvent, Stage, StageState};
use hrsync_directory::Outcome;
use hrsync_model::Plan;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Source(#[from] hrsync_source::SourceError),
    #[error(transparent)]
    Directory(#[from] hrsync_directory::DirError),
    #[error(transparent)]
    State(#[from] hrsync_state::StateError),
    #[error("internal error: the fetch task failed: {0}")]
    Task(String),
    #[error(
        "another apply of mapping {mapping:?} is running ({holder}); try again when it is done"
    )]
    Busy { mapping: String, holder: String },
    #[error(transparent)]
    Plan(#[from] crate::plans::PlanError),
}

/// Plan only, or plan and apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plan,
    Apply,
}

impl Mode {
    /// `plan` or `apply` (the run's command).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Plan => "plan",
            Mode::Apply => "apply",
        }
    }
}

/// Time spent per stage, for logs and the benchmark.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Timings {
    pub fetch_ms: u64,
    pub map_ms: u64,
    pub snapshot_ms: u64,
    pub plan_ms: u64,
    pub apply_ms: u64,
    pub total_ms: u64,
}

/// How a run ended, worst first in [`RunStatus::exit_code`]'s order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Everything planned was done (or, for a plan, can be).
    Ok,
    /// The operator said no.
    Declined,
    /// Changes were held (blast-radius thresholds, the record-count guard, leavers withheld):
    /// they wait for `--confirm-held RUN` or `--accept-drop`.
    Held,
    /// The HR fetch was incomplete: leavers were withheld; creates and updates of the people
    /// that arrived may have been applied.
    Incomplete,
    /// Some applied changes failed.
    Partial,
    /// Every applied change failed.
    Failed,
    /// Changes wait for an operator's approval (`[mapping.approval]`): `hrsync approve`.
    AwaitingApproval,
    /// A saved plan was applied, and some of its changes were skipped as stale (what they
    /// assumed no longer holds): make a new plan.
    Stale,
    /// The run was cancelled ([`RunOptions::cancel`]) before it finished: cancelled before the
    /// apply, nothing was applied; during it, the changes not yet sent were not attempted (the
    /// next run plans them again).
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Declined => "declined",
            RunStatus::Held => "held",
            RunStatus::Incomplete => "incomplete",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
            RunStatus::AwaitingApproval => "awaiting_approval",
            RunStatus::Stale => "stale",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// The process exit code (README, "Exit codes"): 0 ok or declined, 3 changes failed,
    /// 4 incomplete fetch, 5 changes held or awaiting approval, 6 changes of a saved plan
    /// skipped as stale, 7 cancelled. (1 is an error before anything was applied.)
    pub fn exit_code(self) -> i32 {
        match self {
            RunStatus::Ok | RunStatus::Declined => 0,
            RunStatus::Partial | RunStatus::Failed => 3,
            RunStatus::Incomplete => 4,
            RunStatus::Held | RunStatus::AwaitingApproval => 5,
            RunStatus::Stale => 6,
            RunStatus::Cancelled => 7,
        }
    }

    /// What a run report says.
    pub fn of(report: &RunReport, mode: Mode) -> RunStatus {
        let plan = &report.plan;
        if report.cancelled {
            RunStatus::Cancelled
        } else if report.applied_failed > 0 {
            if report.applied_ok == 0 {
                RunStatus::Failed
            } else {
                RunStatus::Partial
            }
        } else if !plan.fetch.complete {
            RunStatus::Incomplete
        } else if !plan.stale.is_empty() {
            RunStatus::Stale
        } else if !plan.held.is_empty() || plan.leavers_withheld > 0 {
            RunStatus::Held
        } else if !plan.awaiting_approval.is_empty() {
            RunStatus::AwaitingApproval
        } else if mode == Mode::Apply && !report.applied && !plan.is_empty() {
            RunStatus::Declined
        } else {
            RunStatus::Ok
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    pub run_id: i64,
    pub status: RunStatus,
    pub plan: Plan,
    /// Applied changes that succeeded / failed (0 for a plan-only run or a declined apply).
    pub applied_ok: usize,
    pub applied_failed: usize,
    /// Of the failed ones, those never sent (the connection to the directory was lost).
    pub applied_not_attempted: usize,
    pub applied: bool,
    /// Orchestration instances the applied changes queued (run by `hrsync serve` or
    /// `hrsync orchestrate work`).
    pub queued_orchestrations: usize,
    pub timings: Timings,
    /// The HR fingerprints of the people fetched, when the plan is saved (`--save`, or
    /// changes await approval): what each saved change assumed about HR.
    #[serde(skip)]
    pub hr_fingerprints: std::collections::BTreeMap<String, crate::plans::HrFingerprint>,
    /// The run applied a plan file from another state database (`plan.from_plan` is that
    /// database's id; the approvals of its changes are there, not here).
    #[serde(skip)]
    pub foreign_plan: bool,
    /// The run was cancelled ([`RunOptions::cancel`]): its status is
    /// [`RunStatus::Cancelled`].
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cancelled: bool,
}

/// Hooks for the caller: confirmation before apply, and progress while applying.
pub trait Ui {
    /// Called with the plan before applying; return false to stop without changing anything.
    fn confirm(&mut self, plan: &Plan) -> bool;
    fn apply_started(&mut self, _total: usize) {}
    fn applied(&mut self, _outcome: &Outcome) {}
    fn apply_finished(&mut self) {}
}

/// A UI that always says yes and shows nothing (tests, `--yes` without a terminal).
pub struct Unattended;
impl Ui for Unattended {
    fn confirm(&mut self, _plan: &Plan) -> bool {
        true
    }
}

/// How a run should behave beyond plan-or-apply.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Accept a record-count drop beyond `lifecycle.max_record_drop_percent` for this run (the
    /// operator checked that the people really left).
    pub accept_record_drop: bool,
    /// Held changes confirmed for release (`guards::held_tokens` of the confirmed run).
    pub confirmed_held: std::collections::BTreeSet<String>,
    /// A targeted run: only these people (an HR event names them). Nobody else is read,
    /// planned or treated as missing.
    pub only: Option<Only>,
    /// Fetch everyone even when the endpoint asks only for changes since the last sync
    /// (`{lastRunTime}`): a full sync, which can also find leavers.
    pub full_fetch: bool,
    /// What started the run (recorded with the run and each audit row, with the operator).
    pub trigger: hrsync_state::Trigger,
    /// Store the plan as a saved plan (`hrsync plan --save`), with each change's assumptions.
    pub save: bool,
    /// Apply this saved plan (exactly its changes, each checked for drift) instead of
    /// planning anew (`hrsync apply --plan ID`).
    pub saved: Option<std::sync::Arc<crate::plans::SavedPlan>>,
    /// Who runs it (an API user), recorded with the run, each of its audit rows and a plan
    /// it saves; None = this process's user (`hrsync_state::operator_name`).
    pub operator: Option<String>,
    /// Where the run sends its progress ([`RunEvent`]s); None = nowhere.
    pub events: Option<EventSink>,
    /// Stops the run: checked between stages and between changes while applying.
    pub cancel: Option<CancelToken>,
}

/// The people of a targeted run.
#[derive(Debug, Clone, Default)]
pub struct Only {
    /// HR field the values are compared with (dotted path); None = the primary key.
    pub field: Option<String>,
    pub values: std::collections::BTreeSet<String>,
}

/// A run's events, cancellation and operator, as its stages use them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Progress {
    events: Option<EventSink>,
    cancel: Option<CancelToken>,
    /// The operator the run is recorded with.
    pub(crate) operator: String,
    /// The operator was given (an API user), not this process's user.
    pub(crate) operator_given: bool,
}

impl Progress {
    pub(crate) fn of(opts: &crate::report::RunOptions) -> Progress {
        Progress {
            events: opts.events.clone(),
            cancel: opts.cancel.clone(),
            operator: opts
                .operator
                .clone()
                .unwrap_or_else(hrsync_state::operator_name),
            operator_given: opts.operator.is_some(),
        }
    }

    pub(crate) fn emit(&self, event: impl FnOnce() -> RunEvent) {
        if let Some(s) = &self.events {
            s.send(event());
        }
    }

    pub(crate) fn stage(&self, stage: Stage, state: StageState, ms: Option<u64>) {
        self.emit(|| RunEvent::Stage { stage, state, ms });
    }

    pub(crate) fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(CancelToken::is_cancelled)
    }

    /// Who cancelled the run: the one the token names, else the run's operator when it was
    /// given (an API user cancelling their own run).
    pub(crate) fn cancelled_by(&self) -> Option<String> {
        self.cancel
            .as_ref()
            .and_then(CancelToken::cancelled_by)
            .or_else(|| self.operator_given.then(|| self.operator.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hrsync_model::ChangeKind;

    fn report(ok: usize, failed: usize, complete: bool, held: usize) -> RunReport {
        let mut plan = Plan::default();
        plan.fetch.complete = complete;
        plan.held = (0..held)
            .map(|i| hrsync_model::Change {
                kind: ChangeKind::Disable,
                key: i.to_string(),
                dn: String::new(),
                new_dn: None,
                uuid: None,
                attrs: vec![],
                reason: String::new(),
            })
            .collect();
        RunReport {
            run_id: 1,
            status: RunStatus::Ok,
            plan,
            applied_ok: ok,
            applied_failed: failed,
            applied_not_attempted: 0,
            queued_orchestrations: 0,
            applied: ok + failed > 0,
            timings: Timings::default(),
            hr_fingerprints: Default::default(),
            foreign_plan: false,
            cancelled: false,
        }
    }

    #[test]
    fn statuses_and_exit_codes_tell_the_truth() {
        let s = |r: &RunReport| RunStatus::of(r, Mode::Apply);
        assert_eq!(s(&report(3, 0, true, 0)), RunStatus::Ok);
        assert_eq!(s(&report(2, 1, true, 0)), RunStatus::Partial);
        // Everything failed: failed, not partial.
        assert_eq!(s(&report(0, 4, true, 0)), RunStatus::Failed);
        assert_eq!(s(&report(3, 0, false, 0)), RunStatus::Incomplete);
        assert_eq!(s(&report(3, 0, true, 2)), RunStatus::Held);
        assert_eq!(RunStatus::Failed.exit_code(), 3);
        assert_eq!(RunStatus::Incomplete.exit_code(), 4);
        assert_eq!(RunStatus::Held.exit_code(), 5);
        assert_eq!(RunStatus::Ok.exit_code(), 0);
        // Cancelled wins over what the apply did before it stopped.
        let mut r = report(2, 3, true, 0);
        r.cancelled = true;
        assert_eq!(s(&r), RunStatus::Cancelled);
        assert_eq!(RunStatus::Cancelled.as_str(), "cancelled");
        assert_ne!(RunStatus::Cancelled.exit_code(), 0);
    }
}
