//! Unique names for new accounts: each unique attribute (e.g. `sAMAccountName`) tries its
//! candidate formats in order (`{first}.{last}`, `{first}.{middle_initial}.{last}`,
//! `{first_initial}{last}`, …), then the last one with 2, 3, … appended, each cut to
//! `max_length`. A candidate is taken when another entry in the directory has it (searched
//! domain-wide, not only the managed entries), when an earlier create of this run chose it, or
//! when hrsync ever gave it to anyone (the ledger: a leaver's name is never recycled). The
//! chain of tried candidates is written into the change's reason.

use hrsync_directory::{DirError, Directory};
use hrsync_mapping::{UniqueSpec, candidate_attr};
use hrsync_model::{Finding, Plan, dn};
use std::collections::{BTreeMap, BTreeSet};

/// The highest numeric suffix tried.
const MAX_SUFFIX: usize = 99;

/// Where uniqueness is checked: the domain root (`DC=…` part) of `base_dn`, or `base_dn`.
pub fn scope_of(base_dn: &str) -> String {
    let dcs: Vec<String> = dn::Dn::parse(base_dn)
        .map(|d| d.to_string())
        .unwrap_or_else(|_| base_dn.to_string())
        .split(',')
        .map(str::trim)
        .skip_while(|p| !p.to_ascii_lowercase().starts_with("dc="))
        .map(str::to_string)
        .collect();
    if dcs.is_empty() {
        base_dn.to_string()
    } else {
        dcs.join(",")
    }
}

fn cut(v: &str, max: Option<usize>) -> String {
    match max {
        Some(m) => v.chars().take(m).collect(),
        None => v.to_string(),
    }
}

/// One candidate value tried for a unique attribute, and why it was refused (None: taken).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Tried {
    pub value: String,
    /// `in the directory`, `used before` (the ledger), `another joiner in this run`.
    pub refused: Option<String>,
}

/// How one create's unique attribute got its value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UniqueTrace {
    pub key: String,
    pub attribute: String,
    /// In order; the last is the chosen one unless none was free.
    pub tried: Vec<Tried>,
    pub chosen: Option<String>,
}

/// Picks a free value for every unique attribute of every create in `plan`.
pub async fn assign(
    plan: &mut Plan,
    specs: &[UniqueSpec],
    dir: &Directory,
    used: &BTreeMap<String, BTreeSet<String>>,
    base: &str,
) -> Result<(), DirError> {
    assign_traced(plan, specs, dir, used, base).await.map(drop)
}

/// [`assign`], saying which candidates each create tried and why each was refused.
pub async fn assign_traced(
    plan: &mut Plan,
    specs: &[UniqueSpec],
    dir: &Directory,
    used: &BTreeMap<String, BTreeSet<String>>,
    base: &str,
) -> Result<Vec<UniqueTrace>, DirError> {
    let mut traces = Vec::new();
    if specs.is_empty() {
        return Ok(traces);
    }
    let mut claimed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut dropped: BTreeSet<usize> = BTreeSet::new();
    for (idx, c) in plan.changes.iter_mut().enumerate() {
        if !c.kind.creates() {
            continue;
        }
        let mut chains = Vec::new();
        for u in specs {
            let attr_l = u.attr.to_ascii_lowercase();
            let value_of = |name: &str| {
                c.attrs
                    .iter()
                    .find(|a| a.attr.is(name))
                    .and_then(|a| a.after.first().cloned())
            };
            let mut candidates: Vec<String> = Vec::new();
            let first = value_of(&u.attr);
            for v in first.iter().cloned().chain(
                (1..=u.candidates.len()).filter_map(|i| value_of(&candidate_attr(&u.attr, i))),
            ) {
                let v = cut(&v, u.max_length);
                if !v.is_empty() && !candidates.iter().any(|x| x.eq_ignore_ascii_case(&v)) {
                    candidates.push(v);
                }
            }
            let Some(last) = candidates.last().cloned() else {
                continue; // nothing mapped: the attribute's own rules apply
            };
            // Then the last candidate with a numeric suffix, still within max_length.
            for n in 2..=MAX_SUFFIX {
                let suffix = n.to_string();
                let room = u.max_length.map(|m| m.saturating_sub(suffix.len()));
                candidates.push(format!("{}{suffix}", cut(&last, room)));
            }
            let mut tried = Vec::new();
            let mut chosen = None;
            for v in candidates {
                let low = v.to_lowercase();
                let why = if claimed.get(&attr_l).is_some_and(|s| s.contains(&low)) {
                    Some("another joiner in this run")
                } else if used.get(&attr_l).is_some_and(|s| s.contains(&low)) {
                    Some("used before")
                } else if dir.value_taken(base, &u.attr, &v).await? {
                    Some("in the directory")
                } else {
                    None
                };
                match why {
                    Some(w) => tried.push((v, Some(w.to_string()))),
                    None => {
                        tried.push((v.clone(), None));
                        chosen = Some(v);
                        break;
                    }
                }
            }
            traces.push(UniqueTrace {
                key: c.key.clone(),
                attribute: u.attr.clone(),
                tried: tried
                    .iter()
                    .map(|(value, refused)| Tried {
                        value: value.clone(),
                        refused: refused.clone(),
                    })
                    .collect(),
                chosen: chosen.clone(),
            });
            let tried: Vec<String> = tried
                .into_iter()
                .filter_map(|(v, w)| w.map(|w| format!("{v} ({w})")))
                .collect();
            match chosen {
                Some(v) => {
                    claimed.entry(attr_l).or_default().insert(v.to_lowercase());
                    if let Some(a) = c.attrs.iter_mut().find(|a| a.attr.is(&u.attr)) {
                        a.after = vec![v.clone()];
                    }
                    if !tried.is_empty() {
                        chains.push(format!("{}: {} taken → {v}", u.attr, tried.join(", ")));
                    }
                }
                None => {
                    plan.findings.push(Finding::error(
                        c.key.clone(),
                        Some(u.attr.clone()),
                        format!(
                            "no free {} among the candidates and suffixes up to {MAX_SUFFIX}; add a candidate format",
                            u.attr
                        ),
                    ));
                    dropped.insert(idx);
                }
            }
        }
        if !chains.is_empty() {
            c.reason = format!("{}; {}", c.reason, chains.join("; "));
        }
    }
    // The candidates' pseudo attributes never reach the directory.
    for c in &mut plan.changes {
        c.attrs
            .retain(|a| !a.attr.as_str().starts_with("hrsync-cand-"));
    }
    for i in dropped.into_iter().rev() {
        plan.changes.remove(i);
    }
    Ok(traces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniqueness_is_checked_domain_wide() {
        assert_eq!(
            scope_of("OU=People,OU=HR,DC=example,DC=test"),
            "DC=example,DC=test"
        );
        assert_eq!(scope_of("ou=people,o=acme"), "ou=people,o=acme");
        assert_eq!(cut("abcdef", Some(3)), "abc");
    }
}
