//! A plan: the changes a run proposes against the directory, each with its reason. Plans are
//! data (serde), produced by the pure planning stage and executed unchanged by `apply`.

use crate::attr::AttrName;
use crate::record::FetchReport;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What happens to one entry.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A joiner: the entry is added.
    Create,
    /// A pre-hire: the entry is added disabled; it is enabled on the start date.
    CreateDisabled,
    /// A mover/changer: attributes replaced, possibly renamed.
    Update,
    /// A rehire: the account is unlocked (and updated).
    Enable,
    /// The end of a create that did not finish (a run killed, or a password that could not be
    /// delivered, between adding the account disabled and enabling it): on a directory with
    /// initial passwords (Active Directory), a new password is generated and delivered first,
    /// then set, and the account enabled with `pwdLastSet = 0` when the user must change it,
    /// as a create would; elsewhere, a plain enable. Never a rehire: an account is not enabled
    /// unless its current password was delivered.
    FinishCreate,
    /// A leaver: the account is locked.
    Disable,
    /// A leaver past the retention period: the entry is deleted (AD keeps a tombstone).
    Delete,
}

impl ChangeKind {
    /// A create, enabled or not (a pre-hire).
    pub fn creates(self) -> bool {
        matches!(self, ChangeKind::Create | ChangeKind::CreateDisabled)
    }

    /// The kind whose [`ChangeKind::as_str`] is `s`.
    pub fn parse(s: &str) -> Option<ChangeKind> {
        use ChangeKind::*;
        [
            Create,
            CreateDisabled,
            Update,
            Enable,
            FinishCreate,
            Disable,
            Delete,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Create => "create",
            ChangeKind::CreateDisabled => "create-disabled",
            ChangeKind::Update => "update",
            ChangeKind::Enable => "enable",
            ChangeKind::FinishCreate => "finish-create",
            ChangeKind::Disable => "disable",
            ChangeKind::Delete => "delete",
        }
    }
}

/// One attribute's values before and after. An empty `after` removes the attribute.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AttrChange {
    pub attr: AttrName,
    pub before: Vec<String>,
    pub after: Vec<String>,
}

/// One change to one entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Change {
    pub kind: ChangeKind,
    /// The HR primary key of the person.
    pub key: String,
    /// The entry's DN now (for a create: the DN it will get).
    pub dn: String,
    /// Set when the entry must be renamed or moved first.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub new_dn: Option<String>,
    /// The entry's stable id when known (links survive renames).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub uuid: Option<String>,
    /// Attribute-level changes (for a create: every attribute, before empty).
    pub attrs: Vec<AttrChange>,
    /// Why, in words an operator understands.
    pub reason: String,
}

/// What a change's `new_dn` does to the entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DnChange {
    /// The new parent, when the entry moves to another one.
    pub moves_to: Option<String>,
    /// The RDN value changes.
    pub renames: bool,
}

impl Change {
    /// The move and/or rename that `new_dn` means (nothing without `new_dn`).
    pub fn dn_change(&self) -> DnChange {
        let Some(new) = &self.new_dn else {
            return DnChange::default();
        };
        let (Ok(a), Ok(b)) = (crate::dn::Dn::parse(&self.dn), crate::dn::Dn::parse(new)) else {
            return DnChange::default();
        };
        let (pa, pb) = (a.parent().to_string(), b.parent().to_string());
        DnChange {
            moves_to: (!crate::dn::same(&pa, &pb)).then_some(pb),
            renames: match (a.leaf(), b.leaf()) {
                (Some(x), Some(y)) => x.value.to_lowercase() != y.value.to_lowercase(),
                _ => false,
            },
        }
    }
}

/// Something about one record or entry that the operator should know and that was not acted on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Finding {
    /// `error` (the record was skipped) or `warning`.
    pub severity: String,
    /// The HR key, or a label such as `HR record 17` when the key itself is missing.
    pub subject: String,
    /// The field or attribute concerned, when there is one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub field: Option<String>,
    pub message: String,
}

impl Finding {
    pub fn error(
        subject: impl Into<String>,
        field: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            severity: "error".into(),
            subject: subject.into(),
            field,
            message: message.into(),
        }
    }
    pub fn warning(
        subject: impl Into<String>,
        field: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            severity: "warning".into(),
            subject: subject.into(),
            field,
            message: message.into(),
        }
    }
}

/// Counts per kind.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PlanSummary {
    pub create: usize,
    pub update: usize,
    pub enable: usize,
    pub disable: usize,
    #[serde(default)]
    pub delete: usize,
    pub unchanged: usize,
    pub findings: usize,
}

/// Everything a run proposes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    /// The mapping configuration this plan is for.
    pub mapping: String,
    /// The directory target (URL and users OU; never credentials).
    pub target: String,
    pub generated_at: DateTime<Utc>,
    pub fetch: FetchReport,
    /// Whether leavers (disables) could be planned; false after an incomplete fetch.
    pub leavers_allowed: bool,
    /// Why leavers were not planned, when they were not.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub leavers_withheld_reason: Option<String>,
    /// Leaver changes that were withheld because leavers were not allowed.
    pub leavers_withheld: usize,
    pub changes: Vec<Change>,
    /// Changes held back by a blast-radius threshold: listed, not applied, until confirmed
    /// (`hrsync apply --confirm-held RUN`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held: Vec<Change>,
    /// Why each class of changes was held.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_reasons: Vec<String>,
    pub unchanged: usize,
    pub findings: Vec<Finding>,
    /// People who may already have an account their key does not link (a rehire under a new
    /// key, a contractor converted to an employee) with more than one candidate: nothing is
    /// done for them until an operator decides (`hrsync review`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub review: Vec<ReviewItem>,
    /// Leavers only because they are missing from the HR list, not yet confirmed (absence is
    /// evidence, not proof): a lookup by key, or the next consecutive complete fetch, decides.
    /// Nothing is done to them in this run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unconfirmed: Vec<Change>,
    /// Accounts under the directory base that carry a key this mapping's HR does not have and
    /// that this mapping never created or adopted: listed, never changed (unless the mapping
    /// opts in with `unlinked = "disable"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub orphans: Vec<Orphan>,
    /// Accounts this mapping manages: the ones paired with an HR person and the linked ones
    /// HR no longer has. Thresholds' percentages are of this number.
    #[serde(default)]
    pub managed: usize,
    /// Changes that need an operator's approval (`[mapping.approval]`): stored with the run,
    /// never applied until approved (`hrsync approve`), then by `hrsync apply --plan RUN` or
    /// the daemon's next run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub awaiting_approval: Vec<Change>,
    /// Changes of a saved plan skipped when it was applied, because what they assumed (the
    /// entry, its values, the HR record) no longer holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stale: Vec<StaleChange>,
    /// The saved plan this run applied (`hrsync apply --plan ID`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_plan: Option<i64>,
    /// The mapping's `actions` when they are not the whole lifecycle (`None`: everything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<crate::Action>>,
    /// Changes the rules call for that the mapping's `actions` exclude, counted per kind of
    /// work ("not this mapping's job"): never applied, held or counted by thresholds.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub not_this_mappings_job: BTreeMap<crate::Action, usize>,
}

/// A change of a saved plan that was not applied because its assumptions changed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StaleChange {
    pub change: Change,
    /// What no longer holds, e.g. `HR changed department since the plan`.
    pub reason: String,
}

/// An account a mapping does not own (see [`Plan::orphans`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Orphan {
    /// The key the account carries.
    pub key: String,
    pub dn: String,
    pub disabled: bool,
}

/// A person whose existing account could not be chosen automatically.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReviewItem {
    /// The HR primary key of the person.
    pub key: String,
    pub reason: String,
    pub candidates: Vec<ReviewCandidate>,
}

/// An account that matched a person on a secondary attribute.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReviewCandidate {
    pub dn: String,
    /// The key the account carries now (another person's, or none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub disabled: bool,
    /// `attr=value` pairs that matched.
    pub matched_on: Vec<String>,
}

impl Plan {
    pub fn summary(&self) -> PlanSummary {
        let mut s = PlanSummary {
            unchanged: self.unchanged,
            findings: self.findings.len(),
            ..PlanSummary::default()
        };
        for c in &self.changes {
            match c.kind {
                ChangeKind::Create | ChangeKind::CreateDisabled => s.create += 1,
                ChangeKind::Update => s.update += 1,
                ChangeKind::Enable | ChangeKind::FinishCreate => s.enable += 1,
                ChangeKind::Disable => s.disable += 1,
                ChangeKind::Delete => s.delete += 1,
            }
        }
        s
    }
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}
