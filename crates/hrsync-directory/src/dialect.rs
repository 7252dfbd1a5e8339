//! What differs between directory servers. The plan speaks of "disable"/"enable"; the dialect
//! says which attributes that means.
//!
//! - OpenLDAP: a disabled account is a real ppolicy lock: `pwdAccountLockedTime:
//!   000001010000Z` (the ppolicy overlay's "locked until an administrator unlocks" value). Binds
//!   then fail with invalidCredentials. Enabling deletes the attribute. The stable id is
//!   `entryUUID`.
//! - Active Directory: the `ACCOUNTDISABLE` bit (2) of `userAccountControl`, changed by
//!   read-modify-write so no other flag is ever overwritten; a bind then fails with
//!   `data 533`. The stable id is the binary `objectGUID`, shown in the usual mixed-endian text
//!   form. New accounts are created disabled, get their password (`unicodePwd`, over TLS only)
//!   and are then enabled with `pwdLastSet = 0` (change at first logon).

use hrsync_model::record::escaped;
use hrsync_model::{DesiredEntry, Finding};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    #[default]
    Openldap,
    ActiveDirectory,
}

/// A modification expressed as attribute name and values (empty = delete the attribute).
pub type AttrMod = (String, Vec<String>);

/// `userAccountControl` flags hrsync touches.
pub mod uac {
    /// The account is disabled.
    pub const ACCOUNTDISABLE: u32 = 0x2;
    /// No password required (what Samba sets on an account created without one).
    pub const PASSWD_NOTREQD: u32 = 0x20;
    /// A normal user account.
    pub const NORMAL_ACCOUNT: u32 = 0x200;
}

/// Characters AD refuses in `sAMAccountName`.
const SAM_FORBIDDEN: &[char] = &[
    '"', '/', '\\', '[', ']', ':', ';', '|', '=', ',', '+', '*', '?', '<', '>', '@',
];

impl Dialect {
    /// Attribute holding the stable id of an entry.
    pub fn uuid_attribute(self) -> &'static str {
        match self {
            Dialect::Openldap => "entryUUID",
            Dialect::ActiveDirectory => "objectGUID",
        }
    }

    /// The stable id as text, from the raw value of [`Self::uuid_attribute`].
    pub fn decode_uuid(self, raw: &[u8]) -> Option<String> {
        match self {
            Dialect::Openldap => std::str::from_utf8(raw).ok().map(str::to_string),
            Dialect::ActiveDirectory => guid_text(raw),
        }
    }

    /// Attributes to read to know whether an account is disabled.
    pub fn state_attributes(self) -> &'static [&'static str] {
        match self {
            Dialect::Openldap => &["pwdAccountLockedTime"],
            Dialect::ActiveDirectory => &["userAccountControl"],
        }
    }

    /// Whether an entry with these (lower-cased name) attributes is disabled.
    pub fn is_disabled(self, get: impl Fn(&str) -> Option<Vec<String>>) -> bool {
        match self {
            Dialect::Openldap => get("pwdaccountlockedtime").is_some_and(|v| !v.is_empty()),
            Dialect::ActiveDirectory => get("useraccountcontrol")
                .and_then(|v| v.first().and_then(|s| s.trim().parse::<u32>().ok()))
                .is_some_and(|u| u & uac::ACCOUNTDISABLE != 0),
        }
    }

    /// Modifications that disable an account (OpenLDAP; AD goes through
    /// [`Self::uac_after`]).
    pub fn disable_mods(self) -> Vec<AttrMod> {
        match self {
            Dialect::Openldap => {
                vec![("pwdAccountLockedTime".into(), vec!["000001010000Z".into()])]
            }
            Dialect::ActiveDirectory => Vec::new(),
        }
    }

    /// Modifications that enable a disabled account (OpenLDAP; AD goes through
    /// [`Self::uac_after`]).
    pub fn enable_mods(self) -> Vec<AttrMod> {
        match self {
            Dialect::Openldap => vec![("pwdAccountLockedTime".into(), vec![])],
            Dialect::ActiveDirectory => Vec::new(),
        }
    }

    /// Whether enabling and disabling is a read-modify-write of a flags attribute.
    pub fn flags_based(self) -> bool {
        self == Dialect::ActiveDirectory
    }

    /// The new `userAccountControl` after disabling (`true`) or enabling an account whose
    /// current value is `current`: only the bits hrsync owns change.
    pub fn uac_after(current: u32, disable: bool, clear_passwd_notreqd: bool) -> u32 {
        let mut v = current;
        if disable {
            v |= uac::ACCOUNTDISABLE;
        } else {
            v &= !uac::ACCOUNTDISABLE;
            if clear_passwd_notreqd {
                v &= !uac::PASSWD_NOTREQD;
            }
        }
        v
    }

    /// What this directory refuses in a desired entry, as per-record findings (checked at plan
    /// time, so one bad record never reaches the server).
    pub fn check(self, d: &DesiredEntry) -> Vec<Finding> {
        let mut out = Vec::new();
        if d.leaver {
            // A leaver (or someone out of scope) is only disabled: nothing is written from
            // the mapped attributes, which may be empty.
            return out;
        }
        // The last guard before the directory (mapped values are cleaned, keys refused, but
        // nothing with a control character is ever written, whatever built it).
        if let Some(why) = control_character(d) {
            out.push(Finding::error(
                escaped(&d.key),
                None,
                format!("{why}; the record is skipped (nothing with a control character is written to the directory)"),
            ));
            return out;
        }
        if self == Dialect::ActiveDirectory {
            let subject = || d.key.clone();
            match d.attrs.iter().find(|(a, _)| a.is("sAMAccountName")) {
                None => out.push(Finding::error(
                    subject(),
                    Some("sAMAccountName".into()),
                    "an Active Directory account needs sAMAccountName; map it (e.g. \"{first_name|login|left(20)}\")",
                )),
                Some((_, v)) => {
                    let sam = v.first().map(String::as_str).unwrap_or_default();
                    if sam.chars().count() > 20 {
                        out.push(Finding::error(
                            subject(),
                            Some("sAMAccountName".into()),
                            format!("sAMAccountName {sam:?} is longer than 20 characters; shorten the format (e.g. |left(20))"),
                        ));
                    }
                    if let Some(c) = sam.chars().find(|c| SAM_FORBIDDEN.contains(c) || c.is_control()) {
                        out.push(Finding::error(
                            subject(),
                            Some("sAMAccountName".into()),
                            format!("sAMAccountName {sam:?} contains {c:?}, which AD refuses; use |login"),
                        ));
                    }
                    if sam.ends_with('.') || sam.trim().is_empty() {
                        out.push(Finding::error(
                            subject(),
                            Some("sAMAccountName".into()),
                            format!("sAMAccountName {sam:?} is empty or ends with a dot, which AD refuses"),
                        ));
                    }
                }
            }
        }
        out
    }
}

/// Where a desired entry has a control character (its DN, key or a value), or None.
fn control_character(d: &DesiredEntry) -> Option<String> {
    if let Some(c) = d.key.chars().find(|c| c.is_control()) {
        return Some(format!("the key contains U+{:04X}", u32::from(c)));
    }
    first_control(
        std::iter::once(&d.dn),
        d.attrs
            .iter()
            .flat_map(|(a, vals)| vals.iter().map(move |v| (a, v))),
    )
}

/// Where a change would write a control character (its DN, new DN or a new value), or None:
/// the check apply makes before sending anything for a change.
pub fn change_control_character(c: &hrsync_model::Change) -> Option<String> {
    first_control(
        std::iter::once(&c.dn).chain(c.new_dn.as_ref()),
        c.attrs
            .iter()
            .flat_map(|a| a.after.iter().map(move |v| (&a.attr, v))),
    )
}

/// The first control character among these DNs, then these attribute values, said for people
/// (the text made visible), or None.
fn first_control<'a>(
    dns: impl IntoIterator<Item = &'a String>,
    values: impl IntoIterator<Item = (&'a hrsync_model::AttrName, &'a String)>,
) -> Option<String> {
    let has = |s: &str| s.chars().find(|c| c.is_control());
    for dn in dns {
        if let Some(c) = has(dn) {
            return Some(format!(
                "the DN {} contains U+{:04X}",
                escaped(dn),
                u32::from(c)
            ));
        }
    }
    values.into_iter().find_map(|(a, v)| {
        has(v).map(|c| {
            format!(
                "attribute {a} ({}) contains U+{:04X}",
                escaped(v),
                u32::from(c)
            )
        })
    })
}

/// `objectGUID` bytes → `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`. The first three groups are
/// little-endian (Microsoft's GUID layout), the last two are in byte order.
pub fn guid_text(raw: &[u8]) -> Option<String> {
    let b: &[u8; 16] = raw.try_into().ok()?;
    Some(format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[3],
        b[2],
        b[1],
        b[0],
        b[5],
        b[4],
        b[7],
        b[6],
        b[8],
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn nothing_with_a_control_character_passes_the_plan_or_the_write_guard() {
        use hrsync_model::{AttrChange, AttrMap, AttrName, Change, ChangeKind};
        let entry = |key: &str, cn: &str| {
            let mut attrs = AttrMap::new();
            attrs.insert(AttrName::new("cn"), vec![cn.to_string()]);
            attrs.insert(AttrName::new("sAMAccountName"), vec!["ann".to_string()]);
            DesiredEntry {
                dn: format!("uid={key},ou=people,dc=example,dc=com"),
                key: key.into(),
                attrs,
                leaver: false,
                leaver_reason: None,
                starts: None,
            }
        };
        for dialect in [Dialect::Openldap, Dialect::ActiveDirectory] {
            assert!(dialect.check(&entry("K9401", "Ann")).is_empty());
            for bad in [entry("K94\u{0}01", "Ann"), entry("K9401", "Ann\u{7}")] {
                let f = dialect.check(&bad);
                assert_eq!(f.len(), 1, "{f:?}");
                assert!(f[0].message.contains("control character"), "{f:?}");
                assert!(!f[0].subject.contains('\0'), "{f:?}");
            }
        }
        let change = |dn: &str, after: &str| Change {
            kind: ChangeKind::Update,
            key: "K9401".into(),
            dn: dn.into(),
            new_dn: None,
            uuid: None,
            attrs: vec![AttrChange {
                attr: AttrName::new("cn"),
                before: vec!["Ann\u{0}".into()],
                after: vec![after.into()],
            }],
            reason: String::new(),
        };
        // Only what would be written counts (a value with a NUL may be replaced).
        assert!(change_control_character(&change("uid=a,dc=x", "Ann")).is_none());
        let why = change_control_character(&change("uid=a,dc=x", "A\u{0}nn")).unwrap();
        assert!(why.contains("U+0000") && why.contains("A\\u{0}nn"), "{why}");
        assert!(change_control_character(&change("uid=a\u{1f},dc=x", "Ann")).is_some());
    }

    #[test]
    fn guid_is_mixed_endian() {
        // The example from Microsoft's docs: bytes of {6F9619FF-8B86-D011-B42D-00C04FC964FF}.
        let raw = [
            0xFF, 0x19, 0x96, 0x6F, 0x86, 0x8B, 0x11, 0xD0, 0xB4, 0x2D, 0x00, 0xC0, 0x4F, 0xC9,
            0x64, 0xFF,
        ];
        assert_eq!(
            guid_text(&raw).as_deref(),
            Some("6f9619ff-8b86-d011-b42d-00c04fc964ff")
        );
        assert_eq!(guid_text(&raw[..15]), None);
    }

    #[test]
    fn uac_changes_only_our_bits() {
        // DONT_EXPIRE_PASSWD (0x10000) and SMARTCARD_REQUIRED (0x40000) survive.
        let other = 0x10000 | 0x40000 | uac::NORMAL_ACCOUNT;
        let disabled = Dialect::uac_after(other, true, false);
        assert_eq!(disabled, other | uac::ACCOUNTDISABLE);
        assert_eq!(Dialect::uac_after(disabled, false, false), other);
        let fresh = uac::NORMAL_ACCOUNT | uac::ACCOUNTDISABLE | uac::PASSWD_NOTREQD;
        assert_eq!(Dialect::uac_after(fresh, false, true), uac::NORMAL_ACCOUNT);
        let ad = Dialect::ActiveDirectory;
        assert!(ad.is_disabled(|_| Some(vec!["514".into()])));
        assert!(!ad.is_disabled(|_| Some(vec!["512".into()])));
        assert!(!ad.is_disabled(|_| Some(vec!["junk".into()])));
    }
}
