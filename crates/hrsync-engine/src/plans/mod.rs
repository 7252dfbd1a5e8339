//! Saved plans, applied exactly (issue 14 §1) and approvals (§2).
//!
//! A run's plan is already stored with the run (`hrsync-state` `save_plan`). A *saved* plan
//! is such a run's plan kept for a later `hrsync apply --plan RUN` (or written to a file with
//! `plan --out`), with what each change assumed: the entry's DN, stable id and the before
//! values of the attributes it touches (all in the change itself), and the fingerprint of the
//! person's HR record. Applying it applies exactly those changes, after checking each
//! assumption again: a change whose assumption no longer holds is skipped as *stale*, with
//! the reason; the rest applies, through the same guards, locks and write-ahead audit as any
//! apply (see [`apply`]).
//!
//! Library functions only: the CLI (and later the API) print.

pub mod apply;
pub mod approval;
mod file;
pub(crate) mod save;

pub use file::{PlanFile, read_plan_file, write_plan_file};

use chrono::{DateTime, Utc};
use hrsync_config::Job;
use hrsync_config::plans::{ConfigFingerprint, differences};
use hrsync_model::{HrRecord, Plan};
use hrsync_state::{PlanItem, SavedPlanRow, Store};
use std::collections::{BTreeMap, BTreeSet};

/// What can stop a saved plan from being used (each message says what to do).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    State(#[from] hrsync_state::StateError),
    #[error(
        "run {0} is not a saved plan: save one with `hrsync plan -c FILE --save` (or list them with `hrsync runs`)"
    )]
    NotSaved(i64),
    #[error("run {0} has no stored plan")]
    NoPlan(i64),
    #[error("plan {id} is for mapping {found:?}, not {wanted:?}")]
    OtherMapping {
        id: i64,
        found: String,
        wanted: String,
    },
    #[error(
        "plan {id} expired at {at} ([plans] expire_hours); make a new plan: hrsync plan -c FILE --save"
    )]
    Expired { id: String, at: String },
    #[error(
        "plan {id} was made with another configuration: {parts} changed since; make a new plan with this configuration"
    )]
    OtherConfig { id: String, parts: String },
    #[error("plan {id} was already applied by run {run}; make a new plan")]
    Applied { id: i64, run: i64 },
    #[error("plan file {path}: {message}")]
    File { path: String, message: String },
}

/// The fingerprint of a person's HR record: for each field the mapping reads (top level), a
/// short keyed hash of its value. Two fetches of an unchanged record give the same fingerprint;
/// a changed field is named by comparing two.
pub type HrFingerprint = BTreeMap<String, String>;

/// Takes HR fingerprints with a mapping's fields (computed once) and the state database's key
/// ([`hrsync_state::Store::fingerprint_key`]): HMAC-SHA256 of the field's name and value, so a
/// plan file's hashes cannot be matched against guessed values (a salary, a birth date) by
/// anyone without the state database.
#[derive(Clone)]
pub struct Fingerprinter {
    fields: Vec<String>,
    key: Vec<u8>,
}

impl std::fmt::Debug for Fingerprinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fingerprinter")
            .field("fields", &self.fields)
            .field("key", &"(hidden)")
            .finish()
    }
}

/// The name of a fingerprint key in plan files (a hash of it, not the key): a file from
/// another state database is told apart from one whose people all changed.
pub fn key_id(key: &[u8]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"hrsync fingerprint key id\0");
    h.update(key);
    hex::encode(&h.finalize()[..8])
}

impl Fingerprinter {
    pub fn new(job: &Job, key: Vec<u8>) -> Fingerprinter {
        Fingerprinter {
            fields: job.mapping.referenced_fields().into_iter().collect(),
            key,
        }
    }

    /// The keyed hash of one field's value.
    fn hash(&self, field: &str, value: &serde_json::Value) -> String {
        use hmac::{KeyInit, Mac};
        let mut text = String::new();
        hrsync_config::plans::canonical_json(value, &mut text);
        // HMAC takes a key of any length: this never fails; if it did, a keyed SHA-256.
        let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.key) else {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            h.update(&self.key);
            h.update(b"\0");
            h.update(field.as_bytes());
            h.update(b"\0");
            h.update(text.as_bytes());
            return hex::encode(&h.finalize()[..8]);
        };
        mac.update(field.as_bytes());
        mac.update(b"\0");
        mac.update(text.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..8])
    }

    /// The record's key and fingerprint (None without a usable key).
    pub fn of(
        &self,
        mapper: &hrsync_mapping::Mapper,
        rec: &HrRecord,
    ) -> Option<(String, HrFingerprint)> {
        let key = mapper.key_of(rec)?;
        let mut fp = HrFingerprint::new();
        for f in &self.fields {
            if let Some(v) = rec.fields.get(f) {
                fp.insert(f.clone(), self.hash(f, v));
            }
        }
        Some((key, fp))
    }
}

/// Why an HR fingerprint no longer holds: the fields that changed, or the person's
/// (dis)appearance; None when it holds.
pub fn hr_drift(then: Option<&HrFingerprint>, now: Option<&HrFingerprint>) -> Option<String> {
    match (then, now) {
        (None, None) => None,
        (Some(_), None) => Some("HR no longer returns this person".into()),
        (None, Some(_)) => Some("HR has this person again".into()),
        (Some(a), Some(b)) if a == b => None,
        (Some(a), Some(b)) => {
            let fields: BTreeSet<&String> = a
                .keys()
                .chain(b.keys())
                .filter(|k| a.get(*k) != b.get(*k))
                .collect();
            Some(format!(
                "HR changed {} since the plan",
                fields.into_iter().cloned().collect::<Vec<_>>().join(", ")
            ))
        }
    }
}

/// A plan to apply later: from the state database (`--plan ID`) or a file (`--plan-file`).
#[derive(Debug, Clone)]
pub struct SavedPlan {
    /// The run that made it (a file from another state database still names it).
    pub id: i64,
    /// Whether it is this state database's saved plan `id` (decisions and outcomes are
    /// recorded on it); false for a plan file from elsewhere.
    pub stored: bool,
    pub plan: Plan,
    pub items: Vec<PlanItem>,
    pub planned_by: String,
    pub saved_at: String,
    pub expires_at: DateTime<Utc>,
    pub config_fingerprint: ConfigFingerprint,
}

impl SavedPlan {
    /// The plan's label in messages: `12`, or `12 (file plan.json)`.
    pub fn label(&self) -> String {
        self.id.to_string()
    }

    /// The item of a change: its part and index.
    pub fn item(&self, part: &str, idx: usize) -> Option<&PlanItem> {
        self.items
            .iter()
            .find(|i| i.part == part && i.idx == idx as i64)
    }

    /// The change an item names.
    pub fn change(&self, part: &str, idx: usize) -> Option<&hrsync_model::Change> {
        match part {
            "change" => self.plan.changes.get(idx),
            "held" => self.plan.held.get(idx),
            "approval" => self.plan.awaiting_approval.get(idx),
            _ => None,
        }
    }

    /// Refuses a plan that expired or was made with another configuration than `job`'s.
    pub fn check(&self, job: &Job, now: DateTime<Utc>) -> Result<(), PlanError> {
        let wanted = &job.mapping.spec().name;
        if &self.plan.mapping != wanted {
            return Err(PlanError::OtherMapping {
                id: self.id,
                found: self.plan.mapping.clone(),
                wanted: wanted.clone(),
            });
        }
        if now > self.expires_at {
            return Err(PlanError::Expired {
                id: self.label(),
                at: self.expires_at.to_rfc3339(),
            });
        }
        let diff = differences(&self.config_fingerprint, &job.config_fingerprint);
        if !diff.is_empty() {
            return Err(PlanError::OtherConfig {
                id: self.label(),
                parts: diff.join(", "),
            });
        }
        Ok(())
    }
}

/// Saved plan `id` of this state database, checked against `job` (mapping, expiry,
/// configuration).
pub fn load(store: &Store, job: &Job, id: i64, now: DateTime<Utc>) -> Result<SavedPlan, PlanError> {
    let row = store.saved_plan(id)?.ok_or(PlanError::NotSaved(id))?;
    let plan = store.plan_of(id)?.ok_or(PlanError::NoPlan(id))?;
    let saved = from_row(&row, plan, store.plan_items(id)?)?;
    saved.check(job, now)?;
    Ok(saved)
}

fn from_row(row: &SavedPlanRow, plan: Plan, items: Vec<PlanItem>) -> Result<SavedPlan, PlanError> {
    let bad = |m: String| PlanError::File {
        path: format!("(state database, plan {})", row.run_id),
        message: m,
    };
    Ok(SavedPlan {
        id: row.run_id,
        stored: true,
        plan,
        items,
        planned_by: row.saved_by.clone(),
        saved_at: row.saved_at.clone(),
        expires_at: DateTime::parse_from_rfc3339(&row.expires_at)
            .map_err(|e| bad(format!("expires_at: {e}")))?
            .with_timezone(&Utc),
        config_fingerprint: serde_json::from_str(&row.config_fp)
            .map_err(|e| bad(format!("config fingerprint: {e}")))?,
    })
}

/// Saved plan `id` as stored, without the checks (for `approve`, `approvals`, `plan --out`).
pub fn load_unchecked(store: &Store, id: i64) -> Result<SavedPlan, PlanError> {
    let row = store.saved_plan(id)?.ok_or(PlanError::NotSaved(id))?;
    let plan = store.plan_of(id)?.ok_or(PlanError::NoPlan(id))?;
    from_row(&row, plan, store.plan_items(id)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use hrsync_config::plans::canonical_json;

    #[test]
    fn canonical_json_ignores_the_order_of_object_keys() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"id": 3, "display": "Sales", "x": [1, {"b": 1, "a": 2}]}"#)
                .unwrap();
        let b: serde_json::Value =
            serde_json::from_str(r#"{"x": [1, {"a": 2, "b": 1}], "display": "Sales", "id": 3}"#)
                .unwrap();
        let (mut sa, mut sb) = (String::new(), String::new());
        canonical_json(&a, &mut sa);
        canonical_json(&b, &mut sb);
        assert_eq!(sa, sb);
        let c: serde_json::Value =
            serde_json::from_str(r#"{"id": 4, "display": "Sales"}"#).unwrap();
        let mut sc = String::new();
        canonical_json(&c, &mut sc);
        assert_ne!(sa, sc);
    }

    #[test]
    fn hr_drift_names_the_fields_that_changed() {
        let fp = |pairs: &[(&str, &str)]| -> HrFingerprint {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let then = fp(&[("department", "1"), ("last_name", "2"), ("title", "3")]);
        assert_eq!(hr_drift(Some(&then), Some(&then)), None);
        let now = fp(&[("department", "9"), ("last_name", "2")]);
        assert_eq!(
            hr_drift(Some(&then), Some(&now)).unwrap(),
            "HR changed department, title since the plan"
        );
        assert!(
            hr_drift(Some(&then), None)
                .unwrap()
                .contains("no longer returns")
        );
        assert!(hr_drift(None, Some(&then)).unwrap().contains("again"));
        assert_eq!(hr_drift(None, None), None);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod fingerprint_tests {
    use super::*;

    fn fp(key: &[u8]) -> Fingerprinter {
        Fingerprinter {
            fields: vec!["salary".into()],
            key: key.to_vec(),
        }
    }

    /// A plan file's hashes cannot be matched against guessed values without the state
    /// database's key: before, they were the plain SHA-256 of each value.
    #[test]
    fn fingerprints_are_keyed_and_stable() {
        let v = serde_json::json!(85000);
        let a = fp(&[1; 32]).hash("salary", &v);
        assert_eq!(a, fp(&[1; 32]).hash("salary", &v), "stable under one key");
        assert_ne!(
            a,
            fp(&[2; 32]).hash("salary", &v),
            "another key, another hash"
        );
        let mut text = String::new();
        hrsync_config::plans::canonical_json(&v, &mut text);
        assert_ne!(
            a,
            hrsync_config::plans::short_hash(&text),
            "not the unkeyed hash"
        );
        assert_ne!(a, fp(&[1; 32]).hash("bonus", &v), "the field is part of it");
        assert_eq!(a.len(), 16);
        assert!(
            !format!("{:?}", fp(&[7; 32])).contains('7'),
            "the key is not printed"
        );
    }
}
