//! What fields an endpoint really returns: every flattened path (`department.display`,
//! `customFields[].value`), its JSON types, how many records have a value there, and a few
//! sample values — so an admin can write mappings from the data, not the docs ("Test & Save").

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// One field across all records.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FieldStats {
    /// JSON types seen (`string`, `number`, `bool`, `null`, `object`, `array`).
    pub types: BTreeSet<&'static str>,
    /// Records with a non-null, non-empty value here.
    pub present: usize,
    /// Up to [`SAMPLES`] distinct example values (shortened).
    pub samples: Vec<String>,
}

/// How many sample values are kept per field.
pub const SAMPLES: usize = 3;

/// Field statistics over many records.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Profile {
    pub records: usize,
    pub fields: BTreeMap<String, FieldStats>,
}

impl Profile {
    /// Adds one record.
    pub fn add(&mut self, fields: &serde_json::Map<String, Value>) {
        self.records += 1;
        let mut seen = BTreeSet::new();
        for (k, v) in fields {
            self.walk(k.clone(), v, &mut seen);
        }
    }

    fn walk(&mut self, path: String, v: &Value, seen: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                self.note(&path, "object", None, seen);
                for (k, x) in m {
                    self.walk(format!("{path}.{k}"), x, seen);
                }
            }
            Value::Array(a) if !a.is_empty() => {
                self.note(&path, "array", None, seen);
                for x in a {
                    self.walk(format!("{path}[]"), x, seen);
                }
            }
            Value::Object(_) => self.note(&path, "object", None, seen),
            Value::Array(_) => self.note(&path, "array", None, seen),
            Value::Null => self.note(&path, "null", None, seen),
            Value::String(s) if s.trim().is_empty() => self.note(&path, "string", None, seen),
            Value::String(s) => self.note(&path, "string", Some(s.clone()), seen),
            Value::Number(n) => self.note(&path, "number", Some(n.to_string()), seen),
            Value::Bool(b) => self.note(&path, "bool", Some(b.to_string()), seen),
        }
    }

    fn note(
        &mut self,
        path: &str,
        ty: &'static str,
        sample: Option<String>,
        seen: &mut BTreeSet<String>,
    ) {
        let f = self.fields.entry(path.to_string()).or_default();
        f.types.insert(ty);
        let Some(sample) = sample else { return };
        if seen.insert(path.to_string()) {
            f.present += 1;
        }
        let short: String = if sample.chars().count() > 40 {
            sample
                .chars()
                .take(39)
                .chain(std::iter::once('…'))
                .collect()
        } else {
            sample
        };
        if f.samples.len() < SAMPLES && !f.samples.contains(&short) {
            f.samples.push(short);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn flattens_counts_and_samples() {
        let mut p = Profile::default();
        for v in [
            json!({"id": 1, "name": "A", "department": {"id": 2, "display": "Sales"}, "tags": ["x", "y"], "mail": null}),
            json!({"id": 2, "name": "B", "department": null, "tags": [], "mail": "b@x"}),
            json!({"id": "3", "name": "", "department": {"id": 3, "display": "Finance"}}),
        ] {
            p.add(v.as_object().unwrap());
        }
        assert_eq!(p.records, 3);
        let d = &p.fields["department.display"];
        assert_eq!(
            (d.present, d.samples.clone()),
            (2, vec!["Sales".to_string(), "Finance".to_string()])
        );
        assert_eq!(
            p.fields["department"].types,
            BTreeSet::from(["null", "object"])
        );
        assert_eq!(p.fields["id"].types, BTreeSet::from(["number", "string"]));
        assert_eq!(
            p.fields["name"].present, 2,
            "an empty string is not a value"
        );
        assert_eq!(p.fields["tags[]"].present, 1, "counted once per record");
        assert_eq!(p.fields["mail"].present, 1);
    }
}
