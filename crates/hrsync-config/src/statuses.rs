//! HR statuses outside the documented list (Paycor: the 13 `EmploymentStatus` values; a
//! live-validated client schema also allows `Unknown`). Such a person is a warning in the plan
//! and is treated as the mapping's `unknown_status` says: held (default), active or a leaver.

use hrsync_model::{DesiredEntry, Finding, HrRecord};

/// What a person with an undocumented status is taken for (`mapping.unknown_status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownStatus {
    /// That person's changes are held (nothing created, disabled or changed), with a warning.
    #[default]
    Hold,
    /// Not a leaver (the account is kept or created), with a warning.
    Active,
    /// A leaver (the account is disabled), with a warning.
    Leaver,
}

/// Which field carries the status and which values are documented.
#[derive(Debug, Clone)]
pub struct StatusRule {
    /// Dotted path, e.g. `statusData.status`.
    pub field: String,
    pub known: Vec<String>,
    pub unknown: UnknownStatus,
}

/// What [`StatusRule::apply`] decided.
pub enum Checked {
    /// Keep the entry (possibly with its leaver flag changed), with these warnings.
    Keep(DesiredEntry, Vec<Finding>),
    /// Hold the person: no change, this warning.
    Hold(DesiredEntry, Finding),
}

impl StatusRule {
    /// The record's status when it is present and not one of the documented values.
    fn undocumented(&self, rec: &HrRecord) -> Option<String> {
        let v = hrsync_model::record::lookup_scalar(&rec.fields, &self.field)?;
        let v = v.trim();
        (!v.is_empty() && !self.known.iter().any(|k| k.eq_ignore_ascii_case(v)))
            .then(|| v.to_string())
    }

    /// Applies the rule to a mapped person.
    pub fn apply(&self, rec: &HrRecord, mut d: DesiredEntry) -> Checked {
        let Some(v) = self.undocumented(rec) else {
            return Checked::Keep(d, Vec::new());
        };
        let shown = hrsync_model::record::escaped(&v);
        let subject = d.key.clone();
        let what = format!(
            "{} \"{shown}\" is not one of the documented statuses",
            self.field
        );
        let field = Some(self.field.clone());
        match self.unknown {
            UnknownStatus::Hold => {
                let w = Finding::warning(
                    subject,
                    field,
                    format!(
                        "{what}; this person's changes are held (nothing created, disabled or changed). Fix the status in the HR system, or set the mapping's unknown_status to \"active\" or \"leaver\""
                    ),
                );
                Checked::Hold(d, w)
            }
            UnknownStatus::Active => {
                d.leaver = false;
                d.leaver_reason = None;
                let w = Finding::warning(
                    subject,
                    field,
                    format!("{what}; treated as active (unknown_status = \"active\")"),
                );
                Checked::Keep(d, vec![w])
            }
            UnknownStatus::Leaver => {
                d.leaver = true;
                d.leaver_reason = Some(format!(
                    "HR status \"{shown}\" is undocumented (unknown_status = \"leaver\")"
                ));
                let w = Finding::warning(
                    subject,
                    field,
                    format!("{what}; treated as a leaver (unknown_status = \"leaver\")"),
                );
                Checked::Keep(d, vec![w])
            }
        }
    }
}
