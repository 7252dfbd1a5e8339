//! What an HR source hands to the rest of the pipeline.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One person as the HR system reported it, reduced to the fields the mapping uses.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct HrRecord {
    /// Position in the fetch (0-based), used to name records that have no primary key.
    pub index: usize,
    /// The HR system's own id for the record (e.g. IceHrm `id`), for messages.
    pub source_id: Option<String>,
    /// The fields (nested JSON kept: `department.display` stays reachable).
    pub fields: Map<String, Value>,
    /// Why this record must not be acted on although it arrived (e.g. a joined endpoint has
    /// no data for it). The mapping turns each into a finding; the person's account is left
    /// as it is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl HrRecord {
    /// A short label for messages: `id 17` or `#17 in fetch`.
    pub fn label(&self) -> String {
        match &self.source_id {
            Some(id) => format!("HR record {id}"),
            None => format!("record #{} of the fetch", self.index + 1),
        }
    }
}

/// Follows a dotted path (`department.display`) through nested objects.
pub fn lookup<'a>(fields: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut cur = fields.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

/// A scalar as text (numbers and booleans too); None for null, empty, objects and arrays.
pub fn scalar(v: &Value) -> Option<String> {
    let s = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (!s.is_empty()).then_some(s)
}

/// The scalar at a dotted path, as keys are read (primary keys, join keys, fan-out values).
pub fn lookup_scalar(fields: &Map<String, Value>, path: &str) -> Option<String> {
    scalar(lookup(fields, path)?)
}

/// How a fetch went. Only a complete fetch may ever make the plan treat a missing person as a
/// leaver; an incomplete one still carries the records it did get.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FetchReport {
    pub integration: String,
    pub endpoint: String,
    /// True only when every page arrived and parsed.
    pub complete: bool,
    pub pages: u64,
    pub records: usize,
    /// What the server said the total was, when it says.
    pub reported_total: Option<u64>,
    /// Why the fetch is incomplete (secrets removed).
    pub error: Option<String>,
    /// Records dropped while reading pages (duplicates by id), with the reason.
    pub notes: Vec<String>,
    pub duration_ms: u64,
}

impl FetchReport {
    /// Adds what one part of a fetch (a chunk of a lookup) saw: its pages, its notes and,
    /// when there was one, its error (the first error is kept).
    pub fn absorb(&mut self, part: FetchReport) {
        self.pages += part.pages;
        self.notes.extend(part.notes);
        if let Some(e) = part.error {
            self.error.get_or_insert(e);
        }
    }
}
