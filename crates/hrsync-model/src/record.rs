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
            Some(id) => format!("HR record {}", escaped(id)),
            None => format!("record #{} of the fetch", self.index + 1),
        }
    }
}

/// Follows a dotted path (`department.display`) through nested objects.
pub fn lookup<'a>(fields: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut cur = get(fields, parts.next()?)?;
    for p in parts {
        cur = get(cur.as_object()?, p)?;
    }
    Some(cur)
}

/// A field of an object. Records read for a mapping keep only the fields it uses (about a
/// dozen), and nested objects have a few: scanning them, comparing lengths first, is cheaper
/// than hashing the name (measured: hashed lookups were ~4% of a 100k no-op plan).
fn get<'a>(m: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if m.len() > 16 {
        return m.get(name);
    }
    m.iter().find(|(k, _)| k.as_str() == name).map(|(_, v)| v)
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

/// Why a primary key value cannot identify a person as it is, or None when it can. A key with
/// a control character (`K94\u{0}01`) would be written to the directory, where nobody can type
/// or match it, or reach it cleaned as another person's key; a number with a fraction or an
/// exponent (`1e3`) is one number with several spellings (`1000`, `1000.0`), so it is not an
/// exact identifier. Keys are otherwise kept exactly as the HR system sent them (numbers as
/// their literal text).
pub fn key_problem(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) if integer_text(n).is_none() => {
            let text = n.to_string();
            Some(format!(
                "the primary key is the number {text}, which is not an integer: a number with a fraction or an exponent has several spellings (1e3, 1000, 1000.0), so it cannot identify a person exactly; the record is skipped and leavers are withheld until it is fixed in the HR system (send the key as an integer or a string)"
            ))
        }
        Value::String(s) => s.chars().find(|c| c.is_control()).map(|c| {
            format!(
                "the primary key {} contains the control character U+{:04X}; the record is skipped (never written to the directory) and leavers are withheld until it is fixed in the HR system",
                escaped(s.trim()),
                u32::from(c)
            )
        }),
        _ => None,
    }
}

/// An integer's text as the HR system sent it (`None` for a number with a fraction or an
/// exponent). Exact at any length: serde_json keeps numbers' literal text
/// (`arbitrary_precision`).
pub fn integer_text(n: &serde_json::Number) -> Option<String> {
    if let Some(i) = n.as_i64() {
        return Some(i.to_string());
    }
    if let Some(u) = n.as_u64() {
        return Some(u.to_string());
    }
    let text = n.to_string();
    let digits = text.strip_prefix('-').unwrap_or(&text);
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(text)
}

/// Text for messages with control characters made visible (`K94\u{0}01`).
pub fn escaped(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
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
