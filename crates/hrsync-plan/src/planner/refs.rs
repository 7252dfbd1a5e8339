//! Person references (`manager`): the mapping yields the other person's HR key (IceHrm's
//! `supervisor`, Paycor's manager id); the directory wants the DN of that person's account.
//! Resolved once every account's final DN is known — including accounts created, renamed or
//! moved by this very plan, so a manager hired together with their team is referenced (apply
//! orders the report's change after the manager's). A reference that cannot be resolved
//! (unknown, out of scope, a leaver, awaiting review) or that is part of a cycle leaves the
//! attribute as it is, with a finding; it is never guessed.

use super::{FastMap, FastSet, Planner};
use hrsync_model::{AttrChange, AttrName, Change, ChangeKind, DesiredEntry, DirEntry, Finding, dn};
use std::collections::{HashMap, HashSet};

/// An attribute naming another person: the mapped value is that person's HR key, or (with
/// `by`) their value of the pseudo attribute `by` (IceHrm's `supervisor.id` is the internal id,
/// not the primary key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRef {
    pub attr: AttrName,
    pub by: Option<AttrName>,
}

/// A paired person's references: what the entry has, and the keys HR wants.
pub(crate) struct RefCheck {
    key: String,
    dn: String,
    uuid: Option<String>,
    attrs: RefValues,
}

/// Per reference attribute: the name, what the entry has, the keys HR wants.
pub(crate) type RefValues = Vec<(AttrName, Vec<String>, Vec<String>)>;

impl RefCheck {
    pub(crate) fn new(key: String, dn: String, uuid: Option<String>, attrs: RefValues) -> RefCheck {
        RefCheck {
            key,
            dn,
            uuid,
            attrs,
        }
    }

    /// The reference attributes' values, taken out of the desired entry and the directory's.
    pub(crate) fn take_values(
        refs: &[PersonRef],
        d: &mut DesiredEntry,
        e: &mut DirEntry,
    ) -> RefValues {
        refs.iter()
            .map(|r| {
                (
                    r.attr.clone(),
                    e.attrs.remove(&r.attr).unwrap_or_default(),
                    d.attrs.remove(&r.attr).unwrap_or_default(),
                )
            })
            .collect()
    }
}

/// Why a reference cannot be written.
enum Unresolved {
    Cycle(String),
    Other(String),
}

impl Planner {
    pub(super) fn resolve_refs(&mut self, missing_keys: &HashSet<String>) {
        if self.o.person_refs.is_empty() {
            return;
        }
        // Every account's DN once this plan is applied: the DN each paired entry has
        // (borrowed: 100,000s of them), overridden by the creates and renames of this plan, and
        // in a targeted run (an event, which read only a few accounts) the stored links for
        // the others.
        let changed_dn: FastMap<String, String> = self
            .changes
            .iter()
            .filter_map(|c| {
                if c.kind.creates() {
                    Some((c.key.clone(), c.dn.clone()))
                } else {
                    c.new_dn.as_ref().map(|n| (c.key.clone(), n.clone()))
                }
            })
            .collect();
        let observed_dn = Planner::observed_dns(&self.links, &self.observed);
        let links = &self.links;
        let targeted = self.o.targeted;
        let final_dn = |k: &str| -> Option<String> {
            if let Some(d) = changed_dn.get(k) {
                return Some(d.clone());
            }
            if let Some(d) = observed_dn.get(k) {
                return Some((*d).to_string());
            }
            targeted
                .then(|| links.get(k).map(|t| t.link.dn.clone()))
                .flatten()
        };
        let reviewed: FastSet<&str> = self.review.iter().map(|r| r.key.as_str()).collect();
        let mut all_findings = Vec::new();
        let mut all_updates = Vec::new();

        for pref in &self.o.person_refs {
            let attr = pref.attr.clone();
            let empty = FastMap::default();
            let index = pref
                .by
                .as_ref()
                .map(|b| self.ref_index.get(b).unwrap_or(&empty));
            // The referenced person's key, or why there is none.
            let key_of = |v: &str| -> Result<String, String> {
                match index {
                    None => Ok(v.to_string()),
                    Some(ix) => ix.get(v).cloned().ok_or_else(|| {
                        if self.o.targeted {
                            format!("{attr} {v} was not read by this event run (only the named people are); the next full sync sets it")
                        } else {
                            format!("{attr} {v} matches nobody in HR (or that record could not be mapped)")
                        }
                    }),
                }
            };
            // Who HR says reports to whom (first value), for cycle detection.
            let mut boss: FastMap<&str, String> = FastMap::default();
            for r in &self.refs {
                if let Some((_, _, want)) = r.attrs.iter().find(|(a, _, _)| *a == attr)
                    && let Some(b) = want.iter().find(|v| !v.trim().is_empty())
                    && let Ok(k) = key_of(b.trim())
                {
                    boss.insert(r.key.as_str(), k);
                }
            }
            for c in self.changes.iter().filter(|c| c.kind.creates()) {
                if let Some(a) = c.attrs.iter().find(|a| a.attr == attr)
                    && let Some(b) = a.after.iter().find(|v| !v.trim().is_empty())
                    && let Ok(k) = key_of(b.trim())
                {
                    boss.insert(c.key.as_str(), k);
                }
            }
            let cycles = find_cycles(&boss);

            let resolve = |me: &str, want: &[String]| -> Result<Vec<String>, Unresolved> {
                let mut out = Vec::new();
                for v in want.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
                    if let Some(cycle) = cycles.get(me) {
                        return Err(Unresolved::Cycle(cycle.clone()));
                    }
                    let k = key_of(v).map_err(Unresolved::Other)?;
                    let k = k.as_str();
                    if k == me {
                        continue; // their own supervisor: the top of the organisation
                    }
                    let why = if self.leaver_keys.contains(k) {
                        Some("has left or is out of scope")
                    } else if self.failed.contains(k) {
                        Some("is out of scope or could not be mapped (see its findings)")
                    } else if reviewed.contains(k) {
                        Some("awaits review (hrsync review), so has no account yet")
                    } else if missing_keys.contains(k) && !observed_dn.contains_key(k) {
                        Some("is not in HR any more")
                    } else {
                        None
                    };
                    if let Some(why) = why {
                        return Err(Unresolved::Other(format!("{attr} {k} {why}")));
                    }
                    match final_dn(k) {
                        Some(d) => out.push(d),
                        None => {
                            return Err(Unresolved::Other(format!(
                                "{attr} {k} is not in HR and has no account"
                            )));
                        }
                    }
                }
                Ok(out)
            };

            let mut findings = Vec::new();
            let mut reported_cycles = FastSet::default();
            let mut finding = |key: &str, u: Unresolved, what: &str| match u {
                Unresolved::Cycle(c) => {
                    if reported_cycles.insert(c.clone()) {
                        findings.push(Finding::error(
                            key.to_string(),
                            Some(attr.to_string()),
                            format!(
                                "{attr} cycle in HR: {c}; {attr} is not changed for these people until HR fixes it"
                            ),
                        ));
                    }
                }
                Unresolved::Other(m) => findings.push(Finding::warning(
                    key.to_string(),
                    Some(attr.to_string()),
                    format!("{m}; {what}"),
                )),
            };

            // Creates: the keys become DNs, or the attribute is left out.
            for c in self.changes.iter_mut().filter(|c| c.kind.creates()) {
                let Some(pos) = c.attrs.iter().position(|a| a.attr == attr) else {
                    continue;
                };
                match resolve(&c.key, &c.attrs[pos].after) {
                    Ok(dns) if dns.is_empty() => {
                        c.attrs.remove(pos);
                    }
                    Ok(dns) => c.attrs[pos].after = dns,
                    Err(u) => {
                        c.attrs.remove(pos);
                        finding(&c.key, u, "created without it");
                    }
                }
            }

            // Existing accounts: compare the resolved DNs with what the entry has.
            let mut updates: Vec<(String, String, Option<String>, AttrChange)> = Vec::new();
            for r in &self.refs {
                let Some((_, have, want)) = r.attrs.iter().find(|(a, _, _)| *a == attr) else {
                    continue;
                };
                match resolve(&r.key, want) {
                    Ok(dns) => {
                        let same = dns.len() == have.len()
                            && dns.iter().all(|d| have.iter().any(|h| dn::same(h, d)));
                        if !same {
                            updates.push((
                                r.key.clone(),
                                r.dn.clone(),
                                r.uuid.clone(),
                                AttrChange {
                                    attr: attr.clone(),
                                    before: have.clone(),
                                    after: dns,
                                },
                            ));
                        }
                    }
                    Err(u) => finding(&r.key, u, "left unchanged"),
                }
            }
            // People reach the planner in whatever order HR pages and directory entries
            // meet; the findings read in key order, so two plans of the same data agree.
            findings.sort_by(|a, b| a.subject.cmp(&b.subject));
            all_findings.extend(findings);
            all_updates.push(updates);
        }
        // Merged once the maps above (which borrow the plan) are done with; each reference's
        // updates in turn, as before (they never add or change a create).
        self.findings.extend(all_findings);
        for updates in all_updates {
            self.merge_updates(updates);
        }
    }

    /// Adds reference changes to the person's planned update, or plans one.
    fn merge_updates(&mut self, updates: Vec<(String, String, Option<String>, AttrChange)>) {
        let mut at: HashMap<String, usize> = self
            .changes
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                matches!(
                    c.kind,
                    ChangeKind::Update | ChangeKind::Enable | ChangeKind::FinishCreate
                )
            })
            .map(|(i, c)| (c.key.clone(), i))
            .collect();
        let planned: HashSet<String> = self.changes.iter().map(|c| c.key.clone()).collect();
        for (key, cur_dn, uuid, change) in updates {
            match at.get(&key) {
                Some(&i) => {
                    self.changes[i].attrs.push(change);
                    let c = self.changes[i].clone();
                    self.changes[i] = self.with_reason(c);
                }
                // A disable, a delete: the reference does not matter any more.
                None if planned.contains(&key) => {}
                None => {
                    self.unchanged = self.unchanged.saturating_sub(1);
                    let c = self.with_reason(Change {
                        kind: ChangeKind::Update,
                        key: key.clone(),
                        dn: cur_dn,
                        new_dn: None,
                        uuid,
                        attrs: vec![change],
                        reason: String::new(),
                    });
                    at.insert(key, self.changes.len());
                    self.changes.push(c);
                }
            }
        }
    }
}

/// People in a reporting cycle (`a → b → a`), each with the cycle written out from its
/// smallest key (the same text whichever member the walk met first). A person who is their own
/// supervisor is not a cycle (the top of the organisation).
fn find_cycles<
    K: AsRef<str> + std::hash::Hash + Eq + std::borrow::Borrow<str>,
    S: std::hash::BuildHasher,
>(
    boss: &HashMap<K, String, S>,
) -> FastMap<String, String> {
    let mut out = FastMap::default();
    let mut done: FastSet<&str> = FastSet::default();
    for start in boss.keys() {
        let mut path: Vec<&str> = Vec::new();
        let mut cur: &str = start.as_ref();
        loop {
            if done.contains(cur) {
                break;
            }
            if let Some(pos) = path.iter().position(|p| *p == cur) {
                let members = &path[pos..];
                let first = (0..members.len()).min_by_key(|&i| members[i]).unwrap_or(0);
                let text = members[first..]
                    .iter()
                    .chain(&members[..first])
                    .chain(std::iter::once(&members[first]))
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" → ");
                for m in members {
                    out.insert(m.to_string(), text.clone());
                }
                break;
            }
            path.push(cur);
            match boss.get(cur) {
                Some(next) if next != cur => cur = next,
                _ => break,
            }
        }
        done.extend(path);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::find_cycles;
    use std::collections::HashMap;

    #[test]
    fn cycles_are_found_and_chains_and_self_loops_are_not_cycles() {
        let boss: HashMap<String, String> = [
            ("1", "2"),
            ("2", "3"),
            ("3", "1"),
            ("4", "1"),
            ("5", "5"),
            ("6", "7"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let c = find_cycles(&boss);
        assert_eq!(c.len(), 3, "{c:?}");
        assert_eq!(c["1"], "1 → 2 → 3 → 1");
        assert_eq!(c["2"], "1 → 2 → 3 → 1");
        assert!(!c.contains_key("4"), "reports into a cycle, not in it");
        assert!(
            !c.contains_key("5"),
            "own supervisor is the top, not a cycle"
        );
    }

    /// The cycle is written from its smallest key whichever member a walk meets first (the
    /// maps are hashed, so the walk's order is not fixed): the finding reads the same each run.
    #[test]
    fn a_cycle_reads_the_same_whichever_member_is_met_first() {
        for entry in ["a", "b", "c"] {
            let boss: HashMap<String, String> = [("b", "c"), ("c", "a"), ("a", "b"), ("0", entry)]
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            let c = find_cycles(&boss);
            for m in ["a", "b", "c"] {
                assert_eq!(c[m], "a → b → c → a", "entering at {entry}");
            }
            assert!(!c.contains_key("0"));
        }
    }
}
