//! Planning: a pure function of (desired entries, directory snapshot, links, options) → [`Plan`].
//! It never performs I/O and never writes; `apply` executes what it returns.
//!
//! [`Planner`] takes desired entries and directory entries one at a time, in any interleaving,
//! and pairs them by key as they meet, so neither side has to be held whole in memory (the
//! engine streams the HR fetch and the directory search into it at the same time). [`plan`]
//! is the same thing for inputs already in memory.
//!
//! Safety rules that live here:
//! - Leavers (disables) are planned only from a complete fetch in which every record had a
//!   primary key; otherwise they are counted as withheld and the plan says why.
//! - A person whose HR record failed mapping is still "present": a bad record never makes its
//!   owner look like a leaver.
//! - Two people mapping to one DN: the second is a finding, never an overwrite.

mod planner;
mod render;

pub use planner::{MatchDecision, ObservedLink, PersonRef, PlanOptions, Planner};

pub use render::{not_its_job, render_ldif, render_text};

use hrsync_model::{AttrName, DesiredEntry, DirEntry, FetchReport, Finding, Plan};
use std::collections::{BTreeMap, BTreeSet};

/// What to do with a managed entry whose person is not in the HR data at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MissingAction {
    /// Leave it alone (report nothing).
    Ignore,
    /// Disable it (only after a complete fetch).
    #[default]
    Disable,
}

/// A remembered link from an HR key to a directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub uuid: Option<String>,
    pub dn: String,
    /// Whether the account was disabled when last seen (None: not known). With the uuid and
    /// the DN, what tells the planner that the link needs no refresh.
    pub disabled: Option<bool>,
}

/// Everything planning needs; all of it already read.
#[derive(Debug, Clone)]
pub struct PlanInput {
    pub mapping: String,
    pub target: String,
    pub now: chrono::DateTime<chrono::Utc>,
    pub fetch: FetchReport,
    pub desired: Vec<DesiredEntry>,
    /// Keys of HR records that exist but could not be mapped (they are not leavers).
    pub failed_keys: BTreeSet<String>,
    /// Records that had no primary key at all (makes "missing from HR" unknowable).
    pub keyless_records: usize,
    /// Findings from earlier stages (mapping), carried into the plan.
    pub findings: Vec<Finding>,
    pub snapshot: Vec<DirEntry>,
    pub links: BTreeMap<String, Link>,
    /// The attributes the mapping owns; only these are compared and changed.
    pub owned: Vec<AttrName>,
    pub rdn_attribute: String,
    pub key_attribute: String,
    pub missing_from_hr: MissingAction,
    /// Unlinked entries count as managed (and so can be disabled when missing from HR) only
    /// under this DN, the users OU; linked entries are managed wherever they were moved.
    pub managed_base: String,
}

/// Builds the plan from inputs in memory. Deterministic: same input, same plan.
pub fn plan(input: PlanInput) -> Plan {
    let PlanInput {
        mapping,
        target,
        now,
        fetch,
        mut desired,
        failed_keys,
        keyless_records,
        findings,
        mut snapshot,
        links,
        owned,
        rdn_attribute,
        key_attribute,
        missing_from_hr,
        managed_base,
    } = input;
    let mut p = Planner::new(
        PlanOptions {
            mapping,
            target,
            now,
            owned,
            rdn_attribute,
            key_attribute,
            missing_from_hr,
            managed_base,
            place_by_rule: false,
            managed_groups: Vec::new(),
            managed_group_bases: Vec::new(),
            leaver_removes_groups: false,
            disabled_ou: None,
            create_only: Vec::new(),
            delete_after: None,
            match_on: Vec::new(),
            decisions: Default::default(),
            person_refs: Vec::new(),
            targeted: false,
            unlinked_disable: false,
            unfinished_creates: Default::default(),
            actions: hrsync_model::Actions::all(),
        },
        links,
    );
    p.add_findings(findings);
    for k in failed_keys {
        p.add_failed(Some(k));
    }
    for _ in 0..keyless_records {
        p.add_failed(None);
    }
    snapshot.sort_by(|a, b| a.dn.cmp(&b.dn));
    desired.sort_by(|a, b| a.key.cmp(&b.key));
    for e in snapshot {
        p.add_entry(e);
    }
    for d in desired {
        p.add_desired(d);
    }
    p.finish(fetch).0
}

#[cfg(test)]
mod tests;
