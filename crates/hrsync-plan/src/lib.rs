//! Planning: a pure function of (desired entries, directory snapshot, links, options) → [`Plan`].
//! It never performs I/O and never writes; `apply` executes what it returns.
//!
//! Safety rules that live here:
//! - Leavers (disables) are planned only from a complete fetch in which every record had a
//!   primary key; otherwise they are counted as withheld and the plan says why.
//! - A person whose HR record failed mapping is still "present": a bad record never makes its
//!   owner look like a leaver.
//! - Two people mapping to one DN: the second is a finding, never an overwrite.

mod render;

pub use render::render_text;

use hrsync_model::attr::normalize_values;
use hrsync_model::{
    AttrChange, AttrName, Change, ChangeKind, DesiredEntry, DirEntry, FetchReport, Finding, Plan,
    dn,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What to do with a managed entry whose person is not in the HR data at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MissingAction {
    /// Leave it alone (report nothing).
    Ignore,
    /// Disable it (only after a complete fetch).
    #[default]
    Disable,
}

/// A remembered link from an HR key to a directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub uuid: Option<String>,
    pub dn: String,
}

/// Everything planning needs; all of it already read.
#[derive(Debug, Clone)]
pub struct PlanInput {
    pub mapping: String,
    pub target: String,
    pub now: chrono::DateTime<chrono::Utc>,
    pub fetch: FetchReport,
    pub desired: Vec<DesiredEntry>,
    /// Keys of HR records that exist but could not be mapped (they are not leavers).
    pub failed_keys: BTreeSet<String>,
    /// Records that had no primary key at all (makes "missing from HR" unknowable).
    pub keyless_records: usize,
    /// Findings from earlier stages (mapping), carried into the plan.
    pub findings: Vec<Finding>,
    pub snapshot: Vec<DirEntry>,
    pub links: BTreeMap<String, Link>,
    /// The attributes the mapping owns; only these are compared and changed.
    pub owned: Vec<AttrName>,
    pub rdn_attribute: String,
    pub key_attribute: String,
    pub missing_from_hr: MissingAction,
    /// Unlinked entries count as managed (and so can be disabled when missing from HR) only
    /// under this DN, the users OU; linked entries are managed wherever they were moved.
    pub managed_base: String,
}

/// Builds the plan. Deterministic: same input, same plan.
pub fn plan(input: PlanInput) -> Plan {
    let PlanInput {
        mapping,
        target,
        now,
        fetch,
        desired,
        failed_keys,
        keyless_records,
        mut findings,
        snapshot,
        links,
        owned,
        rdn_attribute,
        key_attribute,
        missing_from_hr,
        managed_base,
    } = input;
    let managed_base = norm(&managed_base);

    let (leavers_allowed, withheld_reason) = if !fetch.complete {
        (
            false,
            Some(format!(
                "the HR fetch was incomplete ({}); nobody is treated as a leaver until a complete fetch",
                fetch.error.as_deref().unwrap_or("not every page arrived")
            )),
        )
    } else if keyless_records > 0 {
        (
            false,
            Some(format!(
                "{keyless_records} HR record(s) had no primary key, so absence from HR proves nothing; leavers are withheld"
            )),
        )
    } else {
        (true, None)
    };

    // Index the snapshot.
    let mut by_uuid: HashMap<&str, usize> = HashMap::new();
    let mut by_key: HashMap<&str, usize> = HashMap::new();
    let mut by_dn: HashMap<String, usize> = HashMap::new();
    let mut order: Vec<usize> = (0..snapshot.len()).collect();
    order.sort_by(|&a, &b| snapshot[a].dn.cmp(&snapshot[b].dn));
    for &i in &order {
        let e = &snapshot[i];
        if let Some(u) = &e.uuid {
            by_uuid.insert(u, i);
        }
        if let Some(k) = &e.key {
            if let Some(&other) = by_key.get(k.as_str()) {
                findings.push(Finding::warning(
                    k.clone(),
                    Some(key_attribute.clone()),
                    format!(
                        "two directory entries carry this key: {} and {}; only the first is managed, fix the other by hand",
                        snapshot[other].dn, e.dn
                    ),
                ));
            } else {
                by_key.insert(k, i);
            }
        }
        by_dn.insert(norm(&e.dn), i);
    }

    let mut desired = desired;
    desired.sort_by(|a, b| a.key.cmp(&b.key));
    let mut seen_keys: BTreeSet<String> = BTreeSet::new();
    let mut claimed_dns: HashMap<String, String> = HashMap::new(); // dn → key
    let mut matched: BTreeSet<usize> = BTreeSet::new();
    let mut changes = Vec::new();
    let mut unchanged = 0usize;
    let mut withheld = 0usize;
    let rdn_name = AttrName::new(rdn_attribute.clone());

    // First pass: find each person's entry, so DN claims by existing entries are known.
    let mut found: Vec<Option<usize>> = Vec::with_capacity(desired.len());
    for d in &desired {
        let via_link = links.get(&d.key).and_then(|l| {
            l.uuid
                .as_deref()
                .and_then(|u| by_uuid.get(u).copied())
                .filter(|&i| snapshot[i].key.as_deref().is_none_or(|k| k == d.key))
        });
        let idx = via_link.or_else(|| by_key.get(d.key.as_str()).copied());
        found.push(idx);
    }

    for (d, idx) in desired.into_iter().zip(found) {
        if !seen_keys.insert(d.key.clone()) {
            findings.push(Finding::error(
                d.key.clone(),
                None,
                "the HR data has this primary key twice; the second record is skipped",
            ));
            continue;
        }
        let Some(i) = idx else {
            if d.leaver {
                // A leaver without an account: nothing to do.
                continue;
            }
            let n = norm(&d.dn);
            if let Some(&j) = by_dn.get(&n) {
                findings.push(Finding::error(
                    d.key.clone(),
                    Some(rdn_attribute.clone()),
                    format!(
                        "the DN {} is already taken by an entry with key {}; not created (make the {rdn_attribute} format unique)",
                        d.dn,
                        snapshot[j].key.as_deref().unwrap_or("(none)")
                    ),
                ));
                continue;
            }
            if let Some(other) = claimed_dns.get(&n) {
                findings.push(Finding::error(
                    d.key.clone(),
                    Some(rdn_attribute.clone()),
                    format!(
                        "the DN {} is also wanted by key {other} in this run; not created (make the {rdn_attribute} format unique)",
                        d.dn
                    ),
                ));
                continue;
            }
            claimed_dns.insert(n, d.key.clone());
            let attrs = d
                .attrs
                .into_iter()
                .map(|(k, v)| AttrChange {
                    attr: k,
                    before: vec![],
                    after: v,
                })
                .collect();
            changes.push(Change {
                kind: ChangeKind::Create,
                key: d.key.clone(),
                dn: d.dn.clone(),
                new_dn: None,
                uuid: None,
                attrs,
                reason: "new in HR (joiner)".into(),
            });
            continue;
        };
        matched.insert(i);
        let e = &snapshot[i];

        if d.leaver {
            if e.disabled {
                unchanged += 1;
            } else if leavers_allowed {
                changes.push(Change {
                    kind: ChangeKind::Disable,
                    key: d.key.clone(),
                    dn: e.dn.clone(),
                    new_dn: None,
                    uuid: e.uuid.clone(),
                    attrs: vec![],
                    reason: format!(
                        "leaver: {}",
                        d.leaver_reason
                            .as_deref()
                            .unwrap_or("HR marks the person as left")
                    ),
                });
            } else {
                withheld += 1;
                unchanged += 1;
            }
            continue;
        }

        // Rename when the RDN value changed.
        let wanted_rdn = d.attrs.get(&rdn_name).and_then(|v| v.first()).cloned();
        let mut new_dn = None;
        if let (Some(wanted), Ok(cur)) = (&wanted_rdn, dn::Dn::parse(&e.dn)) {
            let same_rdn = cur.leaf().is_some_and(|a| {
                a.attr.eq_ignore_ascii_case(&rdn_attribute)
                    && a.value.to_lowercase() == wanted.to_lowercase()
            });
            if !same_rdn {
                let candidate = dn::child(&rdn_attribute, wanted, &cur.parent().to_string());
                let n = norm(&candidate);
                let taken = by_dn.get(&n).is_some_and(|&j| j != i) || claimed_dns.contains_key(&n);
                if taken {
                    findings.push(Finding::error(
                        d.key.clone(),
                        Some(rdn_attribute.clone()),
                        format!("cannot rename {} to {candidate}: that DN is taken; other attributes are still updated", e.dn),
                    ));
                } else {
                    claimed_dns.insert(n, d.key.clone());
                    new_dn = Some(candidate);
                }
            }
        }

        let mut diffs = Vec::new();
        for a in owned
            .iter()
            .chain(std::iter::once(&AttrName::new(key_attribute.clone())))
        {
            if a == &rdn_name {
                // The RDN value changes through the rename (or cannot change at all).
                continue;
            }
            let mut want = d.attrs.get(a).cloned().unwrap_or_default();
            let mut have = e.attrs.get(a).cloned().unwrap_or_default();
            normalize_values(&mut want);
            normalize_values(&mut have);
            if want != have {
                diffs.push(AttrChange {
                    attr: a.clone(),
                    before: have,
                    after: want,
                });
            }
        }
        let kind = if e.disabled {
            ChangeKind::Enable
        } else if diffs.is_empty() && new_dn.is_none() {
            unchanged += 1;
            continue;
        } else {
            ChangeKind::Update
        };
        let reason = match kind {
            ChangeKind::Enable => "active in HR but the account is disabled (rehire)".to_string(),
            _ => {
                let mut parts: Vec<String> = diffs.iter().map(|c| c.attr.to_string()).collect();
                if new_dn.is_some() {
                    parts.insert(0, format!("{rdn_attribute} (rename)"));
                }
                format!("HR changed {}", parts.join(", "))
            }
        };
        changes.push(Change {
            kind,
            key: d.key.clone(),
            dn: e.dn.clone(),
            new_dn,
            uuid: e.uuid.clone(),
            attrs: diffs,
            reason,
        });
    }

    // Entries whose person is gone from HR.
    if missing_from_hr == MissingAction::Disable {
        for &i in &order {
            let e = &snapshot[i];
            let Some(k) = &e.key else { continue };
            if matched.contains(&i)
                || seen_keys.contains(k)
                || failed_keys.contains(k)
                || e.disabled
            {
                continue;
            }
            if by_key.get(k.as_str()) != Some(&i) {
                continue; // duplicate key entry, reported above
            }
            let under_base = norm(&e.dn).ends_with(&format!(",{managed_base}"));
            if !links.contains_key(k) && !under_base {
                continue; // not ours: never created or linked by hrsync
            }
            if leavers_allowed {
                changes.push(Change {
                    kind: ChangeKind::Disable,
                    key: k.clone(),
                    dn: e.dn.clone(),
                    new_dn: None,
                    uuid: e.uuid.clone(),
                    attrs: vec![],
                    reason: "not in HR any more (complete fetch)".into(),
                });
            } else {
                withheld += 1;
            }
        }
    }

    changes.sort_by(|a, b| (a.kind, &a.key).cmp(&(b.kind, &b.key)));
    Plan {
        mapping,
        target,
        generated_at: now,
        fetch,
        leavers_allowed,
        leavers_withheld_reason: withheld_reason,
        leavers_withheld: withheld,
        changes,
        unchanged,
        findings,
    }
}

fn norm(d: &str) -> String {
    dn::Dn::parse(d)
        .map(|x| x.normalized())
        .unwrap_or_else(|_| d.to_lowercase())
}

#[cfg(test)]
mod tests;
