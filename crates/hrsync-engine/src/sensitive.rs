//! Sensitive personal data in HR records (SSN, birth date, salary, bank, tax id, …): which
//! field paths hold it, and records with those values masked. `endpoint test`, `explain` and
//! `test --record … --write` show HR data masked this way unless told otherwise.

use serde_json::Value;

/// What a masked value reads.
pub const MASK: &str = "(masked: sensitive)";

/// Parts of a field path that mark it as sensitive personal data: its sample values are
/// masked unless `--show-sensitive` is given.
const SENSITIVE: &[&str] = &[
    "ssn",
    "social",
    "sin",
    "birth",
    "dob",
    "salary",
    "wage",
    "pay",
    "compensation",
    "bank",
    "iban",
    "bic",
    "routing",
    "account_number",
    "accountnumber",
    "tax",
    "tin",
    "ein",
    "nin",
    "nic",
    "national",
    "passport",
    "license",
    "licence",
];

/// Whether a field path names sensitive data (`ssn`, `birthday`, `bank.iban`, `payRate`, …).
pub fn is_sensitive(path: &str) -> bool {
    // Split camelCase and separators into lower-case words.
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in path.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    let joined = words.join("_");
    SENSITIVE.iter().any(|s| {
        if s.contains('_') {
            joined.contains(s)
        } else if s.len() <= 3 {
            // short ones only as whole words (`tin`, not `setting`)
            words.iter().any(|w| w == s)
        } else {
            words.iter().any(|w| w.starts_with(s))
        }
    })
}

/// Every value in `v` replaced by [`MASK`], keeping objects' and lists' shape (a format that
/// reads `compensation.grade` still finds a value, the mask). Nulls stay null.
pub fn mask_all(v: &Value) -> Value {
    match v {
        Value::Null => Value::Null,
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), mask_all(v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(mask_all).collect()),
        _ => Value::String(MASK.into()),
    }
}

/// `fields` with the value of every sensitive field replaced by [`MASK`] (nested objects
/// are followed: `bank.iban`; inside a sensitive object every value is masked, its shape
/// kept). Nulls stay null (nothing to hide, and a format treats both as absent).
pub fn mask(fields: &serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
    fn walk(prefix: &str, m: &serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
        m.iter()
            .map(|(k, v)| {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                let v = match v {
                    Value::Null => Value::Null,
                    _ if is_sensitive(&path) => mask_all(v),
                    Value::Object(o) => Value::Object(walk(&path, o)),
                    other => other.clone(),
                };
                (k.clone(), v)
            })
            .collect()
    }
    walk("", fields)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_values_are_masked_nested_and_others_kept() {
        let rec = serde_json::json!({
            "first_name": "Zoë", "ssn": "123-45-6789", "birthday": "1990-01-01",
            "bank": {"iban": "DE00"}, "pay": {"rate": 1}, "department": {"display": "Sales"},
            "tax_id": null
        });
        let m = mask(rec.as_object().unwrap());
        assert_eq!(m["first_name"], "Zoë");
        let nic = serde_json::json!({"nic_num": "612-31-2582"});
        assert_eq!(
            mask(nic.as_object().unwrap())["nic_num"],
            MASK,
            "IceHrm's national id card"
        );
        assert_eq!(m["ssn"], MASK);
        assert_eq!(m["birthday"], MASK);
        assert_eq!(
            m["bank"]["iban"], MASK,
            "inside a sensitive object, every value"
        );
        assert_eq!(m["pay"], serde_json::json!({"rate": MASK}));
        assert_eq!(m["department"]["display"], "Sales");
        assert!(m["tax_id"].is_null());
    }
}
