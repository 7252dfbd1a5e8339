//! Executes a plan. Changes run concurrently (bounded), spread over the bound connections; one
//! failed change never stops the others. Every change yields an [`Outcome`] with the server's
//! result code and text, which the caller records in the audit.

use crate::Directory;
use crate::dialect::AttrMod;
use futures::StreamExt;
use hrsync_model::{Change, ChangeKind, dn};
use ldap3::{Ldap, Mod};
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
        ChangeKind::Enable => update(&mut ldap, c, dir.cfg.dialect.enable_mods()).await,
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
    check(ldap.add(&c.dn, attrs).await)
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
