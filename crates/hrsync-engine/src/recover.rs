//! After a crash (kill -9, power loss) during an apply: the next run marks the dead run
//! `interrupted` (its changes without an answer are `unknown (interrupted)` in the audit) and
//! asks the directory what became of them, so that every change that reached it has exactly
//! one audit row.
//!
//! A server may still carry out an operation it received just before the process died, after
//! the next run has looked (Samba takes a while per add). A change not found is therefore not
//! forgotten at once: it stays `absent` (no audit row: nothing is known to have happened) and
//! is looked at again after the next applies, until it shows up (its row comes back), a later
//! run audits the same kind of change for the person (that row stands for it), or it is
//! [`LATE_LANDING`] too late for it.

use crate::report::EngineError;
use chrono::{DateTime, Utc};
use hrsync_directory::{Directory, Probed};
use hrsync_model::{Change, ChangeKind, dn};
use hrsync_state::{IntentOutcome, Store, UnresolvedIntent};

/// The attribute group memberships are planned under (applied to the groups' `member`).
const MEMBER_OF: &str = "memberOf";

/// How long after its run was found interrupted a change it sent may still show up in the
/// directory. Far longer than any server takes to finish what it received.
pub(crate) const LATE_LANDING: chrono::Duration = chrono::Duration::minutes(10);

/// Marks runs of dead processes `interrupted`. Cheap; every run calls it first.
pub(crate) fn mark_interrupted(store: &mut Store, now: DateTime<Utc>) -> Result<(), EngineError> {
    for r in store.recover_interrupted(now)? {
        tracing::warn!(
            run = r.id,
            mapping = %r.mapping,
            unknown = r.unknown,
            "run {} ({}) was interrupted: its process ({}) is gone; {} change(s) sent without an answer are reconciled with the directory",
            r.id,
            r.command,
            r.owner.as_deref().unwrap_or("unknown"),
            r.unknown
        );
    }
    Ok(())
}

/// Settles the mapping's changes of interrupted runs whose result is unknown, where the
/// directory can tell: a create took effect when its entry exists, a delete when its entry is
/// gone, an enable or disable when the account's state is the planned one, an update when the
/// entry (at its new DN) holds the planned values. Changes not found stay `absent` (see the
/// module docs). Called once the directory is connected, before planning.
pub(crate) async fn reconcile(
    store: &mut Store,
    dir: &Directory,
    mapping: &str,
) -> Result<(), EngineError> {
    let unknown: Vec<UnresolvedIntent> = store
        .unresolved_intents(mapping)?
        .into_iter()
        .filter(|u| !u.absent)
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    // A later run audited the same change for the person: that row stands for it.
    let mut settled: Vec<(i64, i64, IntentOutcome)> = unknown
        .iter()
        .filter(|u| u.superseded)
        .map(|u| (u.run_id, u.seq, IntentOutcome::NotApplied))
        .collect();
    let (mut applied, mut absent) = (0usize, 0usize);
    let look: Vec<&UnresolvedIntent> = unknown.iter().filter(|u| !u.superseded).collect();
    let seen = shows_all(dir, &look).await?;
    for (u, seen) in look.into_iter().zip(seen) {
        let outcome = match seen {
            Some(true) => {
                applied += 1;
                IntentOutcome::Applied
            }
            Some(false) => {
                absent += 1;
                not_found(u, now)
            }
            None => continue,
        };
        settled.push((u.run_id, u.seq, outcome));
    }
    store.resolve_intents(&settled)?;
    tracing::info!(
        mapping,
        applied,
        not_found = absent,
        unknown = unknown.len() - settled.len(),
        "reconciled changes of interrupted runs with the directory"
    );
    Ok(())
}

/// After an apply: the `absent` changes of interrupted runs. Those a later run audited again
/// are forgotten without asking the directory; the others are looked at again.
pub(crate) async fn settle_absent(
    store: &mut Store,
    dir: &Directory,
    mapping: &str,
) -> Result<(), EngineError> {
    let absent: Vec<UnresolvedIntent> = store
        .unresolved_intents(mapping)?
        .into_iter()
        .filter(|u| u.absent)
        .collect();
    if absent.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let mut settled: Vec<(i64, i64, IntentOutcome)> = absent
        .iter()
        .filter(|u| u.superseded)
        .map(|u| (u.run_id, u.seq, IntentOutcome::NotApplied))
        .collect();
    let look: Vec<&UnresolvedIntent> = absent.iter().filter(|u| !u.superseded).collect();
    let seen = shows_all(dir, &look).await?;
    for (u, seen) in look.into_iter().zip(seen) {
        let outcome = match seen {
            Some(true) => IntentOutcome::Applied,
            Some(false) => not_found(u, now),
            None => continue,
        };
        if outcome != IntentOutcome::NotYet {
            settled.push((u.run_id, u.seq, outcome));
        }
    }
    let n = store.resolve_intents(&settled)?;
    tracing::info!(
        mapping,
        settled = n,
        waiting = absent.len() - n,
        "settled changes of interrupted runs not found in the directory before"
    );
    Ok(())
}

/// A change the directory does not show: it may still land, until it is too late for it.
fn not_found(u: &UnresolvedIntent, now: DateTime<Utc>) -> IntentOutcome {
    match u.interrupted_at {
        Some(t) if now - t < LATE_LANDING => IntentOutcome::NotYet,
        _ => IntentOutcome::NotApplied,
    }
}

/// Whether the directory shows each change (`None`: it cannot tell); the entries are read
/// `in_flight` at a time.
async fn shows_all(
    dir: &Directory,
    intents: &[&UnresolvedIntent],
) -> Result<Vec<Option<bool>>, EngineError> {
    let requests: Vec<(&str, Vec<&str>)> =
        intents.iter().filter_map(|u| probe_of(&u.change)).collect();
    let mut answers = dir.probe_all(&requests).await?.into_iter();
    let mut out = Vec::with_capacity(intents.len());
    for u in intents {
        let c = &u.change;
        if probe_of(c).is_none() {
            out.push(None);
            continue;
        }
        let entry = answers.next().flatten();
        let seen = match c.kind {
            k if k.creates() => entry.is_some(),
            ChangeKind::Delete => entry.is_none(),
            _ => {
                let state = |e: &Probed| match c.kind {
                    ChangeKind::Enable | ChangeKind::FinishCreate => !e.disabled,
                    ChangeKind::Disable => e.disabled,
                    _ => true,
                };
                entry.is_some_and(|e| state(&e) && holds_values(&e, c))
                    && holds_groups(dir, c.new_dn.as_deref().unwrap_or(&c.dn), c).await?
            }
        };
        out.push(Some(seen));
    }
    Ok(out)
}

/// What to read to tell whether a change took effect: the entry (at its new DN) and the
/// attributes it sets; None for a change the directory cannot tell about.
fn probe_of(c: &Change) -> Option<(&str, Vec<&str>)> {
    match c.kind {
        k if k.creates() => Some((c.dn.as_str(), Vec::new())),
        ChangeKind::Delete => Some((c.dn.as_str(), Vec::new())),
        ChangeKind::Update
        | ChangeKind::Enable
        | ChangeKind::FinishCreate
        | ChangeKind::Disable => {
            let attrs = c
                .attrs
                .iter()
                .filter(|a| !a.attr.is(MEMBER_OF))
                .map(|a| a.attr.as_str())
                .collect();
            Some((c.new_dn.as_deref().unwrap_or(&c.dn), attrs))
        }
        _ => None,
    }
}

/// The entry holds every planned value (a DN value may be spelled otherwise).
fn holds_values(e: &Probed, c: &Change) -> bool {
    c.attrs.iter().filter(|a| !a.attr.is(MEMBER_OF)).all(|a| {
        let have = e.values(a.attr.as_str());
        have.len() == a.after.len()
            && a.after.iter().all(|want| {
                have.iter()
                    .any(|h| h == want || (want.contains('=') && dn::same(h, want)))
            })
    })
}

/// The planned group memberships are in place: the user is a `member` of each group added
/// and of none removed.
async fn holds_groups(dir: &Directory, user: &str, c: &Change) -> Result<bool, EngineError> {
    let Some(a) = c.attrs.iter().find(|a| a.attr.is(MEMBER_OF)) else {
        return Ok(true);
    };
    let added = a
        .after
        .iter()
        .filter(|g| !a.before.iter().any(|b| dn::same(b, g)))
        .map(|g| (g, true));
    let removed = a
        .before
        .iter()
        .filter(|g| !a.after.iter().any(|b| dn::same(b, g)))
        .map(|g| (g, false));
    for (g, member) in added.chain(removed) {
        let is = dir
            .probe(g, &["member"])
            .await?
            .is_some_and(|e| e.values("member").iter().any(|m| dn::same(m, user)));
        if is != member {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use hrsync_model::AttrChange;

    fn update(attrs: &[(&str, &[&str])]) -> Change {
        Change {
            kind: ChangeKind::Update,
            key: "7".into(),
            dn: "uid=a,ou=p,dc=x".into(),
            new_dn: None,
            uuid: None,
            attrs: attrs
                .iter()
                .map(|(a, v)| AttrChange {
                    attr: (*a).into(),
                    before: vec![],
                    after: v.iter().map(|s| s.to_string()).collect(),
                })
                .collect(),
            reason: String::new(),
        }
    }

    fn entry(attrs: &[(&str, &[&str])]) -> Probed {
        Probed {
            attrs: attrs
                .iter()
                .map(|(a, v)| {
                    (
                        a.to_ascii_lowercase(),
                        v.iter().map(|s| s.to_string()).collect(),
                    )
                })
                .collect(),
            disabled: false,
        }
    }

    #[test]
    fn an_update_shows_when_the_entry_holds_every_planned_value() {
        let c = update(&[
            ("sn", &["Smith"]),
            ("manager", &["uid=boss,ou=p,dc=x"]),
            ("description", &[]),
        ]);
        // A DN value may come back spelled otherwise; a removed attribute is absent.
        let e = entry(&[("SN", &["Smith"]), ("manager", &["UID=Boss, OU=p,DC=x"])]);
        assert!(holds_values(&e, &c));
        assert!(!holds_values(
            &entry(&[("sn", &["Smyth"]), ("manager", &["uid=boss,ou=p,dc=x"])]),
            &c
        ));
        assert!(!holds_values(
            &entry(&[
                ("sn", &["Smith"]),
                ("manager", &["uid=boss,ou=p,dc=x"]),
                ("description", &["left over"])
            ]),
            &c
        ));
        // Group memberships are read from the groups, not from the entry.
        let mut g = update(&[("sn", &["Smith"])]);
        g.attrs.push(AttrChange {
            attr: MEMBER_OF.into(),
            before: vec![],
            after: vec!["cn=g,dc=x".into()],
        });
        assert_eq!(probe_of(&g).unwrap().1, vec!["sn"]);
    }

    #[test]
    fn a_change_not_found_waits_only_while_it_could_still_land() {
        let now = Utc::now();
        let u = |mins: i64| UnresolvedIntent {
            run_id: 1,
            seq: 0,
            change: update(&[]),
            at: String::new(),
            absent: false,
            interrupted_at: Some(now - chrono::Duration::minutes(mins)),
            superseded: false,
        };
        assert_eq!(not_found(&u(1), now), IntentOutcome::NotYet);
        assert_eq!(not_found(&u(11), now), IntentOutcome::NotApplied);
    }
}
