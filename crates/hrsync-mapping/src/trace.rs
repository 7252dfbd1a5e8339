//! Why a record maps the way it does ([`Mapper::trace`]): every format with the fields it read
//! and what it produced, the scope and leaver expressions with their results, and the mapped
//! entry (or the findings that stop it). `hrsync explain` and `hrsync test` show this; the
//! values are those [`Mapper::map_at`] produces (the trace renders through the template
//! engine, which the fast path matches; tests compare both).

use crate::{
    Compiled, END_ATTR, GROUP_PREFIX, LEAVER_TEMPLATE, Mapper, OU_PREFIX, SCOPE_TEMPLATE,
    START_ATTR, clean, lookup,
};
use hrsync_model::{DesiredEntry, Finding, HrRecord};
use minijinja::Value;
use serde::Serialize;
use serde_json::Value as Json;

/// What a format or an expression is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A directory attribute.
    Attribute,
    /// A part of the OU rule (top down).
    Ou,
    /// A group rule (non-empty = member).
    Group,
    /// A fallback candidate of a unique attribute.
    Candidate,
    /// The start date (pre-hire window).
    StartDate,
    /// The end date (grace period).
    EndDate,
    /// Each person's own value a person reference names them by (`by`).
    ReferenceKey,
}

/// One field a format or an expression read, with its value in this record (absent: None).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldValue {
    pub field: String,
    pub value: Option<Json>,
}

/// One format and what it produced for this record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FormatTrace {
    /// The attribute (for pseudo attributes, the name the engine uses, e.g.
    /// `hrsync-cand-samaccountname-1`).
    pub attribute: String,
    pub role: Role,
    pub format: String,
    pub required: bool,
    /// The fields the format reads, with their values.
    pub fields: Vec<FieldValue>,
    /// The value (cleaned as it reaches the directory); None when empty.
    pub value: Option<String>,
    /// Why the format failed (other than an absent field, which makes the value empty).
    pub error: Option<String>,
}

/// An expression (`scope_when`, `leaver_when`) and its result for this record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleTrace {
    pub expression: String,
    pub fields: Vec<FieldValue>,
    /// None when it failed (see `error`).
    pub result: Option<bool>,
    pub error: Option<String>,
}

/// What [`Mapper::map_at`] made of the record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    /// An entry (possibly a leaver's).
    Mapped { entry: DesiredEntry },
    /// Outside `scope_when` with `out_of_scope = "ignore"`: nothing created or changed.
    OutOfScope,
    /// Before the pre-hire window: nothing created yet.
    NotYet,
    /// The record is skipped: these findings say why.
    Skipped { findings: Vec<Finding> },
}

/// See the module docs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    pub formats: Vec<FormatTrace>,
    /// `scope_when`, when the mapping has one.
    pub scope: Option<RuleTrace>,
    /// `leaver_when`, when the mapping has one.
    pub leaver: Option<RuleTrace>,
    pub outcome: Outcome,
}

impl Trace {
    /// Whether the person is in the mapping's scope (no `scope_when`: everyone; a failed
    /// expression: not known, None).
    pub fn in_scope(&self) -> Option<bool> {
        match &self.scope {
            None => Some(true),
            Some(r) => r.result,
        }
    }
}

impl Mapper {
    /// Maps `rec` on `today` as [`Mapper::map_at`] does, and says how (see the module docs).
    pub fn trace(&self, rec: &HrRecord, today: chrono::NaiveDate) -> Trace {
        let ctx = Value::from(minijinja::value::Serde(crate::jinja::Fields(&rec.fields)));
        let formats = self.attrs.iter().map(|a| self.trace_format(a, rec, &ctx));
        let rule = |expr: &Option<String>, template: &str| -> Option<RuleTrace> {
            let expression = expr.clone()?;
            let fields = self
                .env
                .get_template(template)
                .map(|t| crate::sorted(t.undeclared_variables(true)))
                .unwrap_or_default();
            let (result, error) = match self.env.get_template(template).and_then(|t| t.render(&ctx))
            {
                Ok(out) => (Some(out == "yes"), None),
                Err(e) => (None, Some(e.to_string())),
            };
            Some(RuleTrace {
                expression,
                fields: field_values(&fields, rec),
                result,
                error,
            })
        };
        let outcome = match self.map_at(rec, today) {
            Ok(entry) => Outcome::Mapped { entry },
            Err(findings) if !findings.is_empty() => Outcome::Skipped { findings },
            Err(_) => {
                // No finding: out of scope (ignored) or not yet in the pre-hire window.
                let scope = rule(&self.spec.scope_when, SCOPE_TEMPLATE);
                if scope.is_some_and(|s| s.result == Some(false)) {
                    Outcome::OutOfScope
                } else {
                    Outcome::NotYet
                }
            }
        };
        Trace {
            formats: formats.collect(),
            scope: rule(&self.spec.scope_when, SCOPE_TEMPLATE),
            leaver: rule(&self.spec.leaver_when, LEAVER_TEMPLATE),
            outcome,
        }
    }

    fn trace_format(&self, a: &Compiled, rec: &HrRecord, ctx: &Value) -> FormatTrace {
        let name = a.spec.name.as_str();
        let role = if name.starts_with(OU_PREFIX) {
            Role::Ou
        } else if name.starts_with(GROUP_PREFIX) {
            Role::Group
        } else if name.starts_with("hrsync-cand-") {
            Role::Candidate
        } else if name == START_ATTR {
            Role::StartDate
        } else if name == END_ATTR {
            Role::EndDate
        } else if name.starts_with("hrsync-ref-by-") {
            Role::ReferenceKey
        } else {
            Role::Attribute
        };
        let fields = field_values(&a.fields, rec);
        let any_empty = fields
            .iter()
            .any(|f| f.value.as_ref().is_none_or(crate::is_empty));
        let (value, error) = match self
            .env
            .get_template(&a.spec.name)
            .and_then(|t| t.render(ctx))
        {
            Ok(v) => {
                let v = clean(v);
                ((!v.is_empty()).then_some(v), None)
            }
            // An absent or null field makes the value empty (not an error).
            Err(_) if any_empty => (None, None),
            Err(e) => (None, Some(e.to_string())),
        };
        FormatTrace {
            attribute: a.spec.name.clone(),
            role,
            format: a.spec.format.clone(),
            required: a.spec.required || a.spec.name.eq_ignore_ascii_case(&self.spec.rdn_attribute),
            fields,
            value,
            error,
        }
    }
}

fn field_values(fields: &[String], rec: &HrRecord) -> Vec<FieldValue> {
    fields
        .iter()
        .map(|f| FieldValue {
            field: f.clone(),
            value: lookup(&rec.fields, f).cloned(),
        })
        .collect()
}
