//! Accounts whose create did not finish (issue 11 §8). On Active Directory a create adds the
//! account disabled with its password, delivers the password, then enables the account: a
//! process killed in between (or a delivery that failed) leaves a disabled account whose
//! password nobody may have. Such an account is finished as a create would be: a new password
//! is generated and delivered first, then set, and the account enabled in the same modify with
//! `pwdLastSet = 0` when the user must change it. An account is never enabled unless its
//! current password was delivered.
//!
//! The same applies to a create that finds its entry already there with the person's key (the
//! add of a killed run that the server carried out only after the next run had looked).

use super::{Conn, Failed, check};
use crate::Directory;
use crate::dialect::Dialect;
use crate::password;
use hrsync_model::Change;
use ldap3::{Mod, Scope, SearchEntry};
use std::collections::HashSet;

/// The note of a create that found its entry already added (by an interrupted run).
pub(super) const ALREADY_ADDED: &str =
    "already in the directory with this key (added by an interrupted run)";

/// What a finish needs to know of an existing account.
pub(super) struct Existing {
    key: Option<String>,
    account: String,
    display: String,
    uac: Option<u32>,
}

impl Existing {
    fn disabled(&self) -> bool {
        self.uac
            .is_some_and(|u| u & crate::dialect::uac::ACCOUNTDISABLE != 0)
    }
}

/// Reads the account at `dn`; None when there is none.
pub(super) async fn read(
    dir: &Directory,
    ldap: &mut Conn,
    dn: &str,
) -> Result<Option<Existing>, Failed> {
    let key_attr = dir.cfg.key_attribute.as_str();
    let ldap3::SearchResult(rs, res) = ldap
        .op()
        .search(
            dn,
            Scope::Base,
            "(objectClass=*)",
            vec![
                key_attr,
                "sAMAccountName",
                "displayName",
                "cn",
                "userAccountControl",
            ],
        )
        .await
        .map_err(|e| Failed::client(&e, dn).context("reading the account"))?;
    if res.rc == 32 {
        return Ok(None);
    }
    if res.rc != 0 {
        return Err(Failed::ldap(&res, dn).context("reading the account"));
    }
    let Some(e) = rs.into_iter().next().map(SearchEntry::construct) else {
        return Ok(None);
    };
    let get = |name: &str| {
        e.attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.first().cloned())
    };
    Ok(Some(Existing {
        key: get(key_attr),
        account: get("sAMAccountName").unwrap_or_default(),
        display: get("displayName").or_else(|| get("cn")).unwrap_or_default(),
        uac: get("userAccountControl").and_then(|v| v.trim().parse().ok()),
    }))
}

/// A `FinishCreate` on Active Directory, after its rename and attribute changes: the account at
/// `dn` gets a new password (delivered first) and is enabled. One already enabled meanwhile
/// (by someone else) keeps its password.
pub(super) async fn finish(
    dir: &Directory,
    ldap: &mut Conn,
    c: &Change,
    dn: &str,
) -> Result<(), Failed> {
    let Some(existing) = read(dir, ldap, dn).await? else {
        return Err(Failed::local(format!(
            "{dn}: not finished: the account is not there any more"
        )));
    };
    if !existing.disabled() {
        return Ok(());
    }
    new_password(dir, ldap, c, dn, &existing, true).await
}

/// A create whose add found the entry already there (`entryAlreadyExists`): when it carries
/// the person's key, it is the account an interrupted run added. On Active Directory a
/// disabled one gets a new password (delivered first) and is enabled, unless it is a pre-hire's
/// (enabled on the start date). Returns the note for the audit; an entry of someone else is
/// the failure `refused`.
pub(super) async fn found(
    dir: &Directory,
    ldap: &mut Conn,
    c: &Change,
    refused: Failed,
) -> Result<Option<String>, Failed> {
    let existing = match read(dir, ldap, &c.dn).await {
        Ok(Some(e)) if e.key.as_deref() == Some(c.key.as_str()) => e,
        _ => return Err(refused),
    };
    if dir.cfg.dialect != Dialect::ActiveDirectory || !existing.disabled() {
        return Ok(Some(ALREADY_ADDED.to_string()));
    }
    let enable = c.kind != hrsync_model::ChangeKind::CreateDisabled;
    new_password(dir, ldap, c, &c.dn, &existing, enable).await?;
    Ok(Some(format!(
        "{ALREADY_ADDED}: a new initial password was delivered{}",
        if enable {
            " and the account enabled"
        } else {
            ""
        }
    )))
}

/// Generates a new password, delivers it (fsynced), then sets it in one modify with
/// `pwdLastSet = 0` (when the user must change it) and, with `enable`, the enabled
/// `userAccountControl`. Nothing is set when the delivery fails: the account stays as it is.
async fn new_password(
    dir: &Directory,
    ldap: &mut Conn,
    c: &Change,
    dn: &str,
    existing: &Existing,
    enable: bool,
) -> Result<(), Failed> {
    let Some(pw) = &dir.cfg.passwords else {
        return Err(Failed::local(format!(
            "{dn}: left disabled: no [directory.passwords] is configured to deliver a new initial password"
        )));
    };
    let secret = password::generate(&pw.policy, &existing.account, &existing.display)
        .map_err(|e| Failed::local(format!("{dn}: left disabled: {e}")))?;
    pw.file
        .deliver(&password::Delivery {
            mapping: &pw.mapping,
            key: &c.key,
            dn,
            account: &existing.account,
            password: &secret,
        })
        .map_err(|e| {
            Failed::local(format!(
                "{dn}: left disabled: the new initial password could not be delivered: {e}"
            ))
        })?;
    let mut mods = vec![Mod::Replace(
        b"unicodePwd".to_vec(),
        HashSet::from([password::unicode_pwd(&secret)]),
    )];
    if pw.must_change {
        mods.push(Mod::Replace(
            b"pwdLastSet".to_vec(),
            HashSet::from([b"0".to_vec()]),
        ));
    }
    if enable {
        let current = existing.uac.ok_or_else(|| {
            Failed::local(format!(
                "{dn}: cannot read userAccountControl (not in the entry, or not readable by the bind DN)"
            ))
        })?;
        let next = Dialect::uac_after(current, false, true);
        if next != current {
            mods.push(Mod::Replace(
                b"userAccountControl".to_vec(),
                HashSet::from([next.to_string().into_bytes()]),
            ));
        }
    }
    check(ldap.op().modify(dn, mods).await, dn)
        .map_err(|f| f.context("new password delivered but not set"))
}
