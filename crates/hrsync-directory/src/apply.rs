//! Executes a plan. Changes run concurrently (bounded), spread over the bound connections; one
//! failed change never stops the others. Every change yields an [`Outcome`] with the server's
//! result code and text, which the caller records in the audit.

use crate::Directory;
use crate::dialect::{AttrMod, Dialect, uac};
use crate::password;
use futures::StreamExt;
use hrsync_model::{Change, ChangeKind, dn};
use ldap3::{Ldap, Mod, Scope, SearchEntry};
use std::collections::HashSet;

/// The result of one change.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Index of the change in the plan.
    pub index: usize,
    pub ok: bool,
    /// LDAP result code (0 = success) when the server answered.
    pub rc: Option<u32>,
    /// Server diagnostic text or the client error.
    pub message: String,
    /// The entry's DN after the change.
    pub dn: String,
}

/// Applies `changes`, calling `on_outcome` as each finishes (in completion order).
pub async fn apply(
    dir: &Directory,
    changes: &[Change],
    mut on_outcome: impl FnMut(&Outcome),
) -> Vec<Outcome> {
    let in_flight = dir.cfg.in_flight.max(1);
    let mut stream = futures::stream::iter(changes.iter().enumerate())
        .map(|(i, c)| {
            let ldap = dir.conn(i);
            async move { apply_one(dir, ldap, i, c).await }
        })
        .buffer_unordered(in_flight);
    let mut out = Vec::with_capacity(changes.len());
    while let Some(o) = stream.next().await {
        on_outcome(&o);
        out.push(o);
    }
    out.sort_by_key(|o| o.index);
    out
}

struct Failed {
    rc: Option<u32>,
    message: String,
}

async fn apply_one(dir: &Directory, mut ldap: Ldap, index: usize, c: &Change) -> Outcome {
    let res = match c.kind {
        ChangeKind::Create => create(dir, &mut ldap, c).await.map(|_| c.dn.clone()),
        ChangeKind::Update => update(&mut ldap, c, vec![]).await,
        ChangeKind::Enable => match update(&mut ldap, c, dir.cfg.dialect.enable_mods()).await {
            Ok(dn) if dir.cfg.dialect.flags_based() => {
                set_disabled(&mut ldap, &dn, false, false).await.map(|_| dn)
            }
            other => other,
        },
        ChangeKind::Disable if dir.cfg.dialect.flags_based() => {
            set_disabled(&mut ldap, &c.dn, true, false)
                .await
                .map(|_| c.dn.clone())
        }
        ChangeKind::Disable => modify(&mut ldap, &c.dn, dir.cfg.dialect.disable_mods())
            .await
            .map(|_| c.dn.clone()),
    };
    match res {
        Ok(dn) => Outcome {
            index,
            ok: true,
            rc: Some(0),
            message: String::new(),
            dn,
        },
        Err(f) => {
            tracing::warn!(key = %c.key, dn = %c.dn, kind = c.kind.as_str(), rc = ?f.rc, "change failed: {}", f.message);
            Outcome {
                index,
                ok: false,
                rc: f.rc,
                message: f.message,
                dn: c.dn.clone(),
            }
        }
    }
}

fn check(r: ldap3::result::Result<ldap3::LdapResult>) -> Result<(), Failed> {
    match r {
        Ok(res) if res.rc == 0 => Ok(()),
        Ok(res) => Err(Failed {
            rc: Some(res.rc),
            message: if res.text.is_empty() {
                format!("result code {}", res.rc)
            } else {
                format!("result code {}: {}", res.rc, res.text)
            },
        }),
        Err(e) => Err(Failed {
            rc: None,
            message: e.to_string(),
        }),
    }
}

async fn create(dir: &Directory, ldap: &mut Ldap, c: &Change) -> Result<(), Failed> {
    let mut attrs: Vec<(Vec<u8>, HashSet<Vec<u8>>)> = vec![(
        b"objectClass".to_vec(),
        dir.cfg
            .object_classes
            .iter()
            .map(|o| o.as_bytes().to_vec())
            .collect(),
    )];
    for a in &c.attrs {
        if a.after.is_empty() {
            continue;
        }
        attrs.push((
            a.attr.as_str().as_bytes().to_vec(),
            a.after.iter().map(|v| v.as_bytes().to_vec()).collect(),
        ));
    }
    if dir.cfg.dialect != Dialect::ActiveDirectory {
        return check(ldap.add(&c.dn, attrs).await);
    }
    // AD: created disabled, then password, delivery, and only then enabled.
    let disabled = uac::NORMAL_ACCOUNT | uac::ACCOUNTDISABLE;
    attrs.push((
        b"userAccountControl".to_vec(),
        HashSet::from([disabled.to_string().into_bytes()]),
    ));
    check(ldap.add(&c.dn, attrs).await)?;
    let Some(pw) = &dir.cfg.passwords else {
        return Err(Failed {
            rc: None,
            message: "created disabled: no [directory.passwords] is configured, so the account gets no initial password".into(),
        });
    };
    let value = |name: &str| {
        c.attrs
            .iter()
            .find(|a| a.attr.is(name))
            .and_then(|a| a.after.first().cloned())
            .unwrap_or_default()
    };
    let account = value("sAMAccountName");
    let display = [value("displayName"), value("cn")]
        .into_iter()
        .find(|v| !v.is_empty())
        .unwrap_or_default();
    let left_disabled = |why: String| Failed {
        rc: None,
        message: format!("created but left disabled: {why}"),
    };
    let secret = password::generate(&pw.policy, &account, &display)
        .map_err(|e| left_disabled(e.to_string()))?;
    let set = Mod::Replace(
        b"unicodePwd".to_vec(),
        HashSet::from([password::unicode_pwd(&secret)]),
    );
    check(ldap.modify(&c.dn, vec![set]).await).map_err(|f| Failed {
        rc: f.rc,
        message: format!(
            "created but left disabled: setting the password failed: {}",
            f.message
        ),
    })?;
    pw.file
        .deliver(&password::Delivery {
            mapping: &pw.mapping,
            key: &c.key,
            dn: &c.dn,
            account: &account,
            password: &secret,
        })
        .map_err(|e| left_disabled(format!("the initial password could not be delivered: {e}")))?;
    set_disabled(ldap, &c.dn, false, true).await?;
    if pw.must_change {
        modify(ldap, &c.dn, vec![("pwdLastSet".into(), vec!["0".into()])]).await?;
    }
    Ok(())
}

/// Reads `userAccountControl`, flips only the disable bit (and, for a new account, the
/// "no password required" bit) and writes it back if it changed.
async fn set_disabled(
    ldap: &mut Ldap,
    dn: &str,
    disable: bool,
    new_account: bool,
) -> Result<(), Failed> {
    let (rs, res) = ldap
        .search(
            dn,
            Scope::Base,
            "(objectClass=*)",
            vec!["userAccountControl"],
        )
        .await
        .map_err(|e| Failed {
            rc: None,
            message: e.to_string(),
        })?
        .success()
        .map(|(rs, r)| (rs, Some(r)))
        .unwrap_or_else(|_| (Vec::new(), None));
    let current = rs
        .into_iter()
        .next()
        .map(SearchEntry::construct)
        .and_then(|e| {
            e.attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("userAccountControl"))
                .and_then(|(_, v)| v.first())
                .and_then(|v| v.trim().parse::<u32>().ok())
        })
        .ok_or_else(|| Failed {
            rc: res.as_ref().map(|r| r.rc),
            message: format!("cannot read userAccountControl of {dn}"),
        })?;
    let next = Dialect::uac_after(current, disable, new_account);
    let mut mods = Vec::new();
    if next != current {
        mods.push(("userAccountControl".to_string(), vec![next.to_string()]));
    }
    if mods.is_empty() {
        return Ok(());
    }
    modify(ldap, dn, mods).await
}

async fn update(ldap: &mut Ldap, c: &Change, extra: Vec<AttrMod>) -> Result<String, Failed> {
    let mut dn_now = c.dn.clone();
    if let Some(new_dn) = &c.new_dn {
        let parsed = dn::Dn::parse(new_dn).map_err(|e| Failed {
            rc: None,
            message: e.to_string(),
        })?;
        let leaf = parsed.leaf().ok_or_else(|| Failed {
            rc: None,
            message: format!("new DN {new_dn} has no RDN"),
        })?;
        let rdn = format!("{}={}", leaf.attr, dn::escape_value(&leaf.value));
        check(ldap.modifydn(&c.dn, &rdn, true, None).await)?;
        dn_now = new_dn.clone();
    }
    let mut mods: Vec<AttrMod> = extra;
    mods.extend(
        c.attrs
            .iter()
            .map(|a| (a.attr.to_string(), a.after.clone())),
    );
    if !mods.is_empty() {
        modify(ldap, &dn_now, mods).await?;
    }
    Ok(dn_now)
}

async fn modify(ldap: &mut Ldap, dn: &str, mods: Vec<AttrMod>) -> Result<(), Failed> {
    let mods: Vec<Mod<Vec<u8>>> = mods
        .into_iter()
        .map(|(a, vals)| {
            let set: HashSet<Vec<u8>> = vals.into_iter().map(String::into_bytes).collect();
            if set.is_empty() {
                Mod::Delete(a.into_bytes(), set)
            } else {
                Mod::Replace(a.into_bytes(), set)
            }
        })
        .collect();
    check(ldap.modify(dn, mods).await)
}
