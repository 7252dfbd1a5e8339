//! `[plans]` (saved plans: how long they stay valid) and `[mapping.approval]` (which changes
//! need an operator's approval), and the configuration's fingerprint that a saved plan is
//! checked against (issue 14 §1-2).

use serde::Deserialize;
use sha2::Digest;
use std::collections::BTreeMap;

/// `[plans]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawPlans {
    /// A saved plan (`plan --save`, `plan --out`, a plan waiting for approval) may be applied
    /// for this many hours after it was made. Default 24.
    #[serde(default = "default_expire_hours")]
    pub expire_hours: f64,
}

fn default_expire_hours() -> f64 {
    24.0
}

impl Default for RawPlans {
    fn default() -> Self {
        RawPlans {
            expire_hours: default_expire_hours(),
        }
    }
}

impl RawPlans {
    /// How long a saved plan stays valid (`None`: the value is not a positive number of hours).
    pub fn expiry(&self) -> Option<chrono::Duration> {
        (self.expire_hours.is_finite() && self.expire_hours > 0.0 && self.expire_hours < 1e6)
            .then(|| chrono::Duration::seconds((self.expire_hours * 3600.0) as i64))
    }
}

/// The change classes an approval can be required for.
pub const APPROVAL_CLASSES: &[&str] = &[
    "create",
    "update",
    "enable",
    "disable",
    "delete",
    "move",
    "rename",
    "group-removal",
    "held",
];

/// `[mapping.approval]`.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct RawApproval {
    /// Change classes that need an approval: `create`, `update`, `enable`, `disable`,
    /// `delete`, `move`, `rename`, `group-removal`, `held` (anything a threshold held).
    #[serde(default)]
    pub require: Vec<String>,
    /// The approver must be someone else than the operator who made the plan.
    #[serde(default)]
    pub four_eyes: bool,
    /// The daemon applies approved changes of this mapping's plans in its next run of the
    /// mapping (otherwise: `hrsync apply --plan ID`).
    #[serde(default)]
    pub auto_apply: bool,
}

impl RawApproval {
    /// The first class in `require` that is not one hrsync knows.
    pub fn unknown_class(&self) -> Option<&str> {
        self.require
            .iter()
            .map(String::as_str)
            .find(|c| !APPROVAL_CLASSES.contains(c))
    }
}

/// A configuration's fingerprint for one mapping: a short hash of each part a plan depends on
/// (`mapping`, `integration`, `directory`, `lifecycle`), secrets left out (a rotated password
/// does not invalidate a plan; nothing secret is hashed into a plan file).
pub type ConfigFingerprint = BTreeMap<String, String>;

/// Keys whose values are secrets (or references to them): left out of the fingerprint.
fn is_secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "api_key",
        "bind_pw",
        "credential",
        "private_key",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// JSON text with object keys sorted (`serde_json` keeps the server's order here): the text
/// hashed into fingerprints, so equal values hash equally whatever their key order.
pub fn canonical_json(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String((*k).clone()).to_string());
                out.push(':');
                canonical_json(&m[k.as_str()], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Removes the keys whose values are secrets (or references to them), at any depth.
fn strip_secrets(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|k, _| !is_secret_key(k));
            m.values_mut().for_each(strip_secrets);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_secrets),
        _ => {}
    }
}

/// A short hex hash of `text` (the first 16 hex digits of its SHA-256).
pub fn short_hash(text: &str) -> String {
    let d = sha2::Sha256::digest(text.as_bytes());
    hex::encode(&d[..8])
}

fn hash_of(v: Option<&toml::Value>) -> String {
    let mut s = String::new();
    // TOML as JSON (a TOML value always converts), secrets left out, keys sorted.
    match v.and_then(|v| serde_json::to_value(v).ok()) {
        Some(mut j) => {
            strip_secrets(&mut j);
            canonical_json(&j, &mut s);
        }
        None => s.push_str("null"),
    }
    short_hash(&s)
}

/// The fingerprint of mapping `mapping` in the configuration text `text` (TOML).
pub fn fingerprint(text: &str, mapping: &str) -> Result<ConfigFingerprint, String> {
    let doc: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    let find = |list: &str, name: &str| -> Option<&toml::Value> {
        doc.get(list)?
            .as_array()?
            .iter()
            .find(|m| m.get("name").and_then(|n| n.as_str()) == Some(name))
    };
    let m = find("mapping", mapping);
    let integration = m
        .and_then(|m| m.get("integration"))
        .and_then(|i| i.as_str())
        .and_then(|i| find("integration", i));
    let mut fp = ConfigFingerprint::new();
    fp.insert("mapping".into(), hash_of(m));
    fp.insert("integration".into(), hash_of(integration));
    fp.insert("directory".into(), hash_of(doc.get("directory")));
    fp.insert("lifecycle".into(), hash_of(doc.get("lifecycle")));
    Ok(fp)
}

/// The parts two fingerprints disagree on, named as the config names them.
pub fn differences(then: &ConfigFingerprint, now: &ConfigFingerprint) -> Vec<String> {
    let mut parts: Vec<&String> = then.keys().chain(now.keys()).collect();
    parts.sort();
    parts.dedup();
    parts
        .into_iter()
        .filter(|p| then.get(*p) != now.get(*p))
        .map(|p| match p.as_str() {
            "mapping" => "the [[mapping]]".to_string(),
            "integration" => "its [[integration]]".to_string(),
            other => format!("[{other}]"),
        })
        .collect()
}

impl super::Config {
    /// `[plans]` and every `[mapping.approval]`.
    pub(crate) fn validate_plans(&self) -> Result<(), super::ConfigError> {
        if self.raw.plans.expiry().is_none() {
            return Err(self.invalid(
                "plans.expire_hours",
                format!(
                    "{} is not a positive number of hours; set e.g. expire_hours = 24",
                    self.raw.plans.expire_hours
                ),
            ));
        }
        for (i, m) in self.raw.mappings.iter().enumerate() {
            if let Some(c) = m.approval.as_ref().and_then(|a| a.unknown_class()) {
                return Err(self.invalid(
                    format!("mapping[{i}] ({}).approval.require", m.name),
                    format!(
                        "unknown change class {c:?}; use any of {}",
                        APPROVAL_CLASSES.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const CFG: &str = r#"
[directory]
url = "ldap://x"
bind_password = "one"
[[integration]]
name = "hr"
kind = "icehrm"
api_key = "k1"
[[mapping]]
name = "m"
integration = "hr"
primary_key = "id"
attributes = { uid = "{id}" }
"#;

    #[test]
    fn the_fingerprint_follows_what_a_plan_depends_on_but_not_secrets_or_comments() {
        let a = fingerprint(CFG, "m").unwrap();
        // Comments, key order and secrets do not count.
        let b = fingerprint(
            &CFG.replace(
                "bind_password = \"one\"",
                "bind_password = \"two\" # rotated",
            )
            .replace("api_key = \"k1\"", "api_key = \"k2\""),
            "m",
        )
        .unwrap();
        assert_eq!(a, b);
        let c = fingerprint(&CFG.replace("{id}", "{id|lower}"), "m").unwrap();
        assert_eq!(differences(&a, &c), vec!["the [[mapping]]".to_string()]);
        let d = fingerprint(&CFG.replace("ldap://x", "ldap://y"), "m").unwrap();
        assert_eq!(differences(&a, &d), vec!["[directory]".to_string()]);
    }

    #[test]
    fn approval_classes_are_checked() {
        let a = RawApproval {
            require: vec!["disable".into(), "groups".into()],
            ..Default::default()
        };
        assert_eq!(a.unknown_class(), Some("groups"));
    }
}
