//! What differs between directory servers. The plan speaks of "disable"/"enable"; the dialect
//! says which attributes that means.
//!
//! OpenLDAP: a disabled account is a real ppolicy lock: `pwdAccountLockedTime: 000001010000Z`
//! (the ppolicy overlay's "locked until an administrator unlocks" value). Binds then fail with
//! invalidCredentials. Enabling deletes the attribute. The stable id is `entryUUID`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    #[default]
    Openldap,
}

/// A modification expressed as attribute name and values (empty = delete the attribute).
pub type AttrMod = (String, Vec<String>);

impl Dialect {
    /// Attribute holding the stable id of an entry.
    pub fn uuid_attribute(self) -> &'static str {
        match self {
            Dialect::Openldap => "entryUUID",
        }
    }
    /// Attributes to read to know whether an account is disabled.
    pub fn state_attributes(self) -> &'static [&'static str] {
        match self {
            Dialect::Openldap => &["pwdAccountLockedTime"],
        }
    }
    /// Whether an entry with these (lower-cased name) attributes is disabled.
    pub fn is_disabled(self, get: impl Fn(&str) -> Option<Vec<String>>) -> bool {
        match self {
            Dialect::Openldap => get("pwdaccountlockedtime").is_some_and(|v| !v.is_empty()),
        }
    }
    /// Modifications that disable an account.
    pub fn disable_mods(self) -> Vec<AttrMod> {
        match self {
            Dialect::Openldap => {
                vec![("pwdAccountLockedTime".into(), vec!["000001010000Z".into()])]
            }
        }
    }
    /// Modifications that enable a disabled account.
    pub fn enable_mods(self) -> Vec<AttrMod> {
        match self {
            Dialect::Openldap => vec![("pwdAccountLockedTime".into(), vec![])],
        }
    }
}
