//! Desired entries (what the mapping says should exist) and directory entries (what a snapshot
//! found).

use crate::attrmap::AttrMap;
use serde::{Deserialize, Serialize};

/// What one HR person should look like in the directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DesiredEntry {
    /// The primary key value (stored on the entry and in the link table).
    pub key: String,
    /// Full DN (escaped).
    pub dn: String,
    /// Mapped attributes, including the RDN attribute and the key attribute.
    pub attrs: AttrMap,
    /// The HR record says this person has left.
    pub leaver: bool,
    /// Why the person counts as a leaver (e.g. `status == 'Terminated'`, termination date).
    pub leaver_reason: Option<String>,
    /// A pre-hire: inside the pre-hire window before the start date; the account is created
    /// disabled and not enabled before the start date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts: Option<chrono::NaiveDate>,
}

/// An entry as read from the directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DirEntry {
    pub dn: String,
    /// Stable id (OpenLDAP `entryUUID`, AD `objectGUID`).
    pub uuid: Option<String>,
    /// Value of the key attribute, if present.
    pub key: Option<String>,
    /// The attributes the mapping owns (others are never read or touched).
    pub attrs: AttrMap,
    /// The account is disabled (OpenLDAP: ppolicy lock; AD: UAC bit).
    pub disabled: bool,
}
