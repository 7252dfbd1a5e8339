//! `[[test]]`: mapping test cases as written (in the configuration or in the `tests/` folder
//! beside it). Running them is the engine's `mapping_tests`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One `[[test]]` as written.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawCase {
    /// Unique among the configuration's cases; what failures and templates name.
    pub name: String,
    /// The mapping (needed when the configuration has more than one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<String>,
    /// Another case whose (merged) record this case's `record` is merged over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The day effective dates are compared with (`"YYYY-MM-DD"` or a TOML date; default:
    /// today).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub today: Option<Day>,
    /// The HR record (or the fields that differ from the template's).
    #[serde(default)]
    pub record: Map<String, Value>,
    /// What the mapping must produce; only what is stated is compared.
    #[serde(default)]
    pub expect: Expect,
}

/// A day as text (`"2026-12-01"`, JSON) or a TOML date (`2026-12-01`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Day {
    Text(String),
    Toml(toml::value::Datetime),
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Day::Text(t) => f.write_str(t.trim()),
            Day::Toml(d) => write!(f, "{d}"),
        }
    }
}

/// An expected attribute: one value, or several (order does not matter); `""` or `[]`: the
/// attribute must be absent.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Values {
    One(String),
    Many(Vec<String>),
}

impl Values {
    pub fn list(&self) -> Vec<String> {
        match self {
            Values::One(v) if v.is_empty() => Vec::new(),
            Values::One(v) => vec![v.clone()],
            Values::Many(v) => v.clone(),
        }
    }
}

/// What a case expects.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `mapped`, `out_of_scope`, `not_yet` (before the pre-hire window), `skipped` (findings
    /// stop the record) or `held` (an undocumented status held).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_scope: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaver: Option<bool>,
    /// Attribute → value(s); attributes not listed are not compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, Values>>,
    /// Every finding, each as a piece of its text (case-insensitive): each must match a
    /// finding, and each finding must match one. `[]`: no findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings: Option<Vec<String>>,
}
