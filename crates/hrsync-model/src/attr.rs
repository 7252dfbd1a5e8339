//! LDAP attribute names compare case-insensitively (`mail` = `Mail`); maps keyed by them are
//! ordered, so plans and diffs are byte-identical for the same inputs.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

/// An attribute name that keeps its spelling but compares and orders case-insensitively.
/// Shared (`Arc<str>`): 100k entries with the same ten attributes hold ten names, not a million.
#[derive(Clone)]
pub struct AttrName(Arc<str>);

impl Serialize for AttrName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for AttrName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(AttrName::new)
    }
}

impl AttrName {
    pub fn new(s: impl Into<String>) -> Self {
        AttrName(Arc::from(s.into()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn is(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

impl PartialEq for AttrName {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.eq_ignore_ascii_case(&other.0)
    }
}
impl Eq for AttrName {}
impl PartialOrd for AttrName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for AttrName {
    fn cmp(&self, other: &Self) -> Ordering {
        // The same shared name (the mapping's and the snapshot's attribute names are shared).
        if Arc::ptr_eq(&self.0, &other.0) {
            return Ordering::Equal;
        }
        let a = self.0.bytes().map(|b| b.to_ascii_lowercase());
        let b = other.0.bytes().map(|b| b.to_ascii_lowercase());
        a.cmp(b)
    }
}
impl std::hash::Hash for AttrName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for b in self.0.bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
    }
}
impl fmt::Display for AttrName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for AttrName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}
impl From<&str> for AttrName {
    fn from(s: &str) -> Self {
        AttrName(Arc::from(s))
    }
}

/// Sorts and de-duplicates values so two maps compare as sets.
pub fn normalize_values(values: &mut Vec<String>) {
    values.sort();
    values.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrmap::AttrMap;
    #[test]
    fn names_compare_case_insensitively() {
        let mut m = AttrMap::new();
        m.insert("Mail".into(), vec!["a".into()]);
        assert!(m.contains_key(&AttrName::from("mail")));
        assert_eq!(
            AttrName::from("employeeNumber"),
            AttrName::from("EMPLOYEENUMBER")
        );
        assert!(AttrName::from("cn") < AttrName::from("Mail"));
    }
}
