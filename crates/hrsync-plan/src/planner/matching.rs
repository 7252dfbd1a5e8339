//! Secondary matching: a joiner whose key links no account may still have one — a rehire who
//! came back under a new employee number, a contractor converted to an employee, an account
//! IT made by hand before the sync. Accounts nobody in HR claims (no key, or a key HR no longer
//! has) are compared with the joiner on the configured attributes (`employeeID`, `mail`, …).
//! Exactly one candidate, wanted by nobody else: the account is adopted (key set, re-enabled,
//! moved back). Anything else goes to the review list and nothing is done for that person —
//! not even a create — until an operator decides; the decision is remembered.

use super::Planner;
use hrsync_model::{DirEntry, ReviewCandidate, ReviewItem, dn};
use std::collections::{BTreeMap, HashMap, HashSet};

/// An operator's decision on a review item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchDecision {
    /// This account (DN) is the person's: link it (key set, re-enabled, moved back).
    Adopt(String),
    /// None of the candidates is the person: create a new account.
    New,
}

impl Planner {
    pub(super) fn match_secondary(&mut self) {
        if self.o.match_on.is_empty() && self.o.decisions.is_empty() {
            return;
        }
        // The pool: accounts no HR person claims — without a key, or with a key HR does not
        // have any more (records that failed to map still exist in HR: not in the pool).
        let mut pool: Vec<DirEntry> = std::mem::take(&mut self.unlinked);
        let mut orphan_keys: Vec<String> = self
            .pending_entries
            .keys()
            .filter(|k| !self.failed.contains(*k))
            .cloned()
            .collect();
        orphan_keys.sort();
        for k in orphan_keys {
            if let Some(e) = self.pending_entries.remove(&k) {
                pool.push(e);
            }
        }
        // Leavers' accounts too: HR systems often rehire under a new record while the old one
        // stays terminated. Entries from here on are leavers'.
        let first_leaver = pool.len();
        pool.extend(std::mem::take(&mut self.leaver_entries).into_values());
        let mut index: Vec<HashMap<String, Vec<usize>>> =
            vec![HashMap::new(); self.o.match_on.len()];
        for (i, e) in pool.iter().enumerate() {
            for (ai, a) in self.o.match_on.iter().enumerate() {
                for v in e.attrs.get(a).into_iter().flatten() {
                    let v = v.trim().to_lowercase();
                    if !v.is_empty() {
                        index[ai].entry(v).or_default().push(i);
                    }
                }
            }
        }

        let mut joiners: Vec<String> = self
            .pending_desired
            .values()
            .filter(|d| !d.leaver)
            .map(|d| d.key.clone())
            .collect();
        joiners.sort();
        let mut proposals: Vec<(String, BTreeMap<usize, Vec<String>>)> = Vec::new();
        let mut adopt: Vec<(String, usize, String)> = Vec::new();
        for k in joiners {
            let Some(d) = self.pending_desired.get(&k) else {
                continue;
            };
            let mut cands: BTreeMap<usize, Vec<String>> = BTreeMap::new();
            for (ai, a) in self.o.match_on.iter().enumerate() {
                for v in d.attrs.get(a).into_iter().flatten() {
                    for &i in index[ai]
                        .get(&v.trim().to_lowercase())
                        .into_iter()
                        .flatten()
                    {
                        cands.entry(i).or_default().push(format!("{a}={v}"));
                    }
                }
            }
            match self.o.decisions.get(&k) {
                Some(MatchDecision::New) => continue,
                Some(MatchDecision::Adopt(chosen)) => {
                    match pool.iter().position(|e| dn::same(&e.dn, chosen)) {
                        Some(i) => adopt.push((
                            k,
                            i,
                            format!("linked to {} by a review decision", pool[i].dn),
                        )),
                        None => {
                            let reason = format!(
                                "the account chosen in review ({chosen}) is not free any more (gone, or linked to someone HR still has); decide again"
                            );
                            self.put_on_review(k, reason, cands, &pool);
                        }
                    }
                    continue;
                }
                None => {}
            }
            if !cands.is_empty() && self.o.targeted {
                // Only some accounts were read: another candidate may exist unseen.
                let on: Vec<String> = cands.values().flatten().cloned().collect();
                self.findings.push(hrsync_model::Finding::warning(
                    k.clone(),
                    None,
                    format!(
                        "may already have an account (matched on {}); an event run reads only this person's accounts, so the next full sync decides",
                        on.join(", ")
                    ),
                ));
                self.pending_desired.remove(&k);
                continue;
            }
            if !cands.is_empty() {
                proposals.push((k, cands));
            }
        }
        let mut claims: HashMap<usize, usize> = HashMap::new();
        for i in proposals
            .iter()
            .flat_map(|(_, c)| c.keys().copied())
            .chain(adopt.iter().map(|(_, i, _)| *i))
        {
            *claims.entry(i).or_default() += 1;
        }
        for (k, cands) in proposals {
            let only = (cands.len() == 1)
                .then(|| cands.iter().next())
                .flatten()
                .filter(|(i, _)| claims.get(i) == Some(&1));
            match only {
                Some((&i, on)) => adopt.push((
                    k,
                    i,
                    format!("matched an existing account by {}", on.join(", ")),
                )),
                None => {
                    let reason = if cands.len() > 1 {
                        format!(
                            "{} existing accounts match; which one (if any) is this person's?",
                            cands.len()
                        )
                    } else {
                        "the matching account also matches another joiner; which person's is it?"
                            .to_string()
                    };
                    self.put_on_review(k, reason, cands, &pool);
                }
            }
        }

        let mut taken = HashSet::new();
        for (k, i, why) in adopt {
            if !self.pending_desired.contains_key(&k) {
                continue;
            }
            if !taken.insert(i) {
                let reason = format!(
                    "{} was chosen for another person too; decide again",
                    pool[i].dn
                );
                self.put_on_review(k, reason, BTreeMap::from([(i, Vec::new())]), &pool);
                continue;
            }
            let Some(d) = self.pending_desired.remove(&k) else {
                continue;
            };
            self.adopted.insert(k, why);
            if i >= first_leaver
                && let Some(old) = pool[i].key.clone()
            {
                self.forget_leaver(&old);
            }
            self.pair(d, pool[i].clone());
        }
        // Accounts not adopted go back: with a key, they are missing from HR as before
        // (leavers' accounts were planned already).
        for (i, e) in pool.into_iter().enumerate() {
            if taken.contains(&i) || i >= first_leaver {
                continue;
            }
            if let Some(k) = e.key.clone() {
                self.pending_entries.insert(k, e);
            }
        }
    }

    /// A leaver's account was adopted by a new key: the old key's leaver change (a disable, a
    /// retention delete) and link refresh are dropped.
    fn forget_leaver(&mut self, old: &str) {
        // Leaver changes are in `changes` already when leavers are allowed.
        let before = self.leavers.len() + self.changes.len();
        self.leavers.retain(|c| c.key != old);
        self.changes.retain(|c| c.key != old);
        if self.leavers.len() + self.changes.len() == before {
            self.unchanged = self.unchanged.saturating_sub(1);
        }
        self.observed.retain(|o| o.key != old);
        if let Some(t) = self.links.get_mut(old) {
            t.seen = false;
        }
    }

    /// Puts a joiner on the review list: not created, and its candidate accounts are not
    /// disabled meanwhile.
    fn put_on_review(
        &mut self,
        key: String,
        reason: String,
        cands: BTreeMap<usize, Vec<String>>,
        pool: &[DirEntry],
    ) {
        self.pending_desired.remove(&key);
        let candidates = cands
            .into_iter()
            .filter_map(|(i, on)| {
                let e = pool.get(i)?;
                if let Some(k) = &e.key {
                    self.review_hold.insert(k.clone());
                }
                Some(ReviewCandidate {
                    dn: e.dn.clone(),
                    key: e.key.clone(),
                    disabled: e.disabled,
                    matched_on: on,
                })
            })
            .collect();
        self.review.push(ReviewItem {
            key,
            reason,
            candidates,
        });
    }
}
