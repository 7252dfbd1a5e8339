//! The incremental planner: desired entries (from HR) and directory entries (from a search)
//! arrive one at a time in any interleaving and are paired by key as they meet. What is left at
//! the end is decided then: unpaired desired entries are joiners, unpaired directory entries are
//! people missing from HR. Decisions that need the whole picture (DN collisions for creates and
//! renames, whether leavers are allowed) wait for [`Planner::finish`].

mod actions;
mod matching;
mod refs;

pub use matching::MatchDecision;
pub use refs::PersonRef;

use crate::{Link, MissingAction};
use hrsync_model::attr::normalize_values;
use hrsync_model::{
    Action, Actions, AttrChange, AttrName, Change, ChangeKind, DesiredEntry, DirEntry, FetchReport,
    Finding, Plan, ReviewItem, dn,
};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The planner's own maps and sets, keyed by HR keys and DNs (100,000s of them): foldhash
/// hashes short strings several times faster than std's SipHash and is still seeded per
/// process (HR data cannot precompute collisions).
type FastMap<K, V> = foldhash::HashMap<K, V>;
type FastSet<K> = foldhash::HashSet<K>;

/// Options of one plan.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub mapping: String,
    pub target: String,
    pub now: chrono::DateTime<chrono::Utc>,
    /// The attributes the mapping owns; only these are compared and changed.
    pub owned: Vec<AttrName>,
    pub rdn_attribute: String,
    pub key_attribute: String,
    pub missing_from_hr: MissingAction,
    /// Unlinked entries count as managed (and so can be disabled when missing from HR) only
    /// under this DN, the users OU; linked entries are managed wherever they were moved.
    pub managed_base: String,
    /// The mapping places entries by an OU rule: an entry whose parent differs from the rule's
    /// is moved. Without a rule, entries keep the parent they have (an admin may have moved
    /// them).
    pub place_by_rule: bool,
    /// Groups hrsync owns the membership of: these DNs, and every group directly under these
    /// bases. Memberships of other groups are never changed.
    pub managed_groups: Vec<String>,
    pub managed_group_bases: Vec<String>,
    /// A leaver is also removed from the managed groups.
    pub leaver_removes_groups: bool,
    /// Attributes set only at creation (`on = "create"`): never compared afterwards.
    pub create_only: Vec<AttrName>,
    /// Leavers' accounts are moved here when disabled (and back out when rehired).
    pub disabled_ou: Option<String>,
    /// Disabled accounts of leavers are deleted this long after they were disabled.
    pub delete_after: Option<chrono::Duration>,
    /// Attributes that find an existing account for a joiner whose key links none (a rehire
    /// under a new key, a contractor converted to an employee): `employeeID`, `mail`, …
    pub match_on: Vec<AttrName>,
    /// Operators' decisions on earlier review items, by HR key.
    pub decisions: HashMap<String, MatchDecision>,
    /// Attributes whose mapped value names another person (their HR key, or another field),
    /// written as the DN of that person's account (`manager`).
    pub person_refs: Vec<PersonRef>,
    /// A targeted run (an HR event about some people): only their records and accounts were
    /// read, so secondary matching cannot see every candidate; a joiner with any candidate is
    /// left to the next full run.
    pub targeted: bool,
    /// `unlinked = "disable"`: an account under the users OU that carries a key but was never
    /// created or adopted by this mapping is treated as this mapping's when its key is missing
    /// from HR (the first adoption of an existing directory). Default: such accounts are
    /// orphans, listed and never changed.
    pub unlinked_disable: bool,
    /// HR keys whose account hrsync began to create without finishing it (see
    /// `Store::unfinished_creates`): added disabled, perhaps without a delivered password. A
    /// disabled one is finished ([`ChangeKind::FinishCreate`]: a new password delivered, then
    /// enabled as a create would be), never enabled as a rehire. Empty where accounts get no
    /// initial password (OpenLDAP).
    pub unfinished_creates: HashSet<String>,
    /// `actions`: the kinds of work this mapping does (see `planner/actions.rs`); the rest is
    /// counted in the plan as not this mapping's job.
    pub actions: Actions,
}

/// A directory entry seen for a person HR knows whose link is new or differs from the stored
/// one (uuid, DN or disabled state), for refreshing the link table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedLink {
    pub key: String,
    pub uuid: Option<String>,
    pub dn: String,
    pub disabled: bool,
}

/// A stored link, and whether this run found its account as stored ([`Planner::observe`]).
struct Tracked {
    link: Link,
    seen: bool,
}

/// See the module docs.
pub struct Planner {
    o: PlanOptions,
    rdn_name: AttrName,
    key_name: AttrName,
    links: FastMap<String, Tracked>,
    /// Links by `entryUUID`, built on first need (an entry that lost its key attribute): a
    /// run where every entry carries its key never pays for it.
    uuid_to_key: Option<FastMap<String, String>>,
    pending_desired: FastMap<String, DesiredEntry>,
    pending_entries: FastMap<String, DirEntry>,
    seen_desired: FastSet<String>,
    seen_entries: FastMap<String, String>,
    /// DN and key of the directory entries beyond the first with their key (the first ones
    /// are in `seen_entries`); normalised into an index with those only when a create or a
    /// rename needs a collision check (a no-op run never pays for it).
    dup_dns: Vec<(String, String)>,
    failed: FastSet<String>,
    keyless: usize,
    changes: Vec<Change>,
    /// Updates that also rename; the new DN is checked for collisions at the end.
    renames: Vec<Change>,
    /// Disables of HR leavers; kept only if leavers turn out to be allowed.
    leavers: Vec<Change>,
    unchanged: usize,
    findings: Vec<Finding>,
    observed: Vec<ObservedLink>,
    /// Set by the caller when the fetch looks wrong although it completed (e.g. far fewer
    /// people than last time): leavers are withheld with this reason.
    suspect: Option<String>,
    /// When each disabled account was disabled (retention deletes).
    disabled_since: FastMap<String, chrono::DateTime<chrono::Utc>>,
    /// Entries without a key, kept only for secondary matching.
    unlinked: Vec<DirEntry>,
    /// Joiners linked to an existing account by a secondary match, with why.
    adopted: FastMap<String, String>,
    /// Person references of paired entries, resolved once every account's DN is known.
    refs: Vec<refs::RefCheck>,
    /// Per person reference with `by`: each person's own value → their key.
    ref_index: FastMap<AttrName, FastMap<String, String>>,
    /// Keys HR marks as leavers (or out of scope).
    leaver_keys: FastSet<String>,
    /// Leavers' accounts, for secondary matching (a rehire under a new key while the old
    /// record stays terminated).
    leaver_entries: BTreeMap<String, DirEntry>,
    review: Vec<ReviewItem>,
    /// Keys of accounts that are candidates of a review item: not disabled meanwhile.
    review_hold: FastSet<String>,
    /// Directory entries paired with a person HR has (managed accounts).
    paired: usize,
    /// Changes the rules call for that `actions` exclude, per kind.
    excluded: BTreeMap<Action, usize>,
}

impl Planner {
    /// When each disabled account was disabled, from the state database.
    pub fn set_disabled_since(
        &mut self,
        m: impl IntoIterator<Item = (String, chrono::DateTime<chrono::Utc>)>,
    ) {
        self.disabled_since = m.into_iter().collect();
    }

    /// A delete for a disabled account whose retention period is over.
    fn retention_delete(&self, key: &str, e: &DirEntry, why: &str) -> Option<Change> {
        let after = self.o.delete_after?;
        let since = *self.disabled_since.get(key)?;
        (e.disabled && since + after <= self.o.now).then(|| Change {
            kind: ChangeKind::Delete,
            key: key.to_string(),
            dn: e.dn.clone(),
            new_dn: None,
            uuid: e.uuid.clone(),
            attrs: vec![],
            reason: format!(
                "{why}; disabled since {}, retention of {} day(s) is over",
                since.format("%Y-%m-%d"),
                after.num_days()
            ),
        })
    }

    /// Where a leaver's account goes when disabled: the disabled OU, same RDN.
    fn disabled_target(&self, e: &DirEntry) -> Option<String> {
        let ou = self.o.disabled_ou.as_ref()?;
        let cur = dn::Dn::parse(&e.dn).ok()?;
        if dn::same(&cur.parent().to_string(), ou) {
            return None;
        }
        let leaf = cur.leaf()?;
        Some(dn::child(&leaf.attr, &leaf.value, ou))
    }
    pub fn new<L>(o: PlanOptions, links: L) -> Planner
    where
        L: IntoIterator<Item = (String, Link)>,
        L::IntoIter: ExactSizeIterator,
    {
        let mut o = o;
        if !o.actions.owns() {
            // A mapping that only modifies owns nothing: it adopts no account for a joiner
            // and takes over no unlinked account.
            o.match_on.clear();
            o.decisions.clear();
            o.unlinked_disable = false;
        }
        let links = links.into_iter();
        // Sized for the people linked last time: a no-op run then never grows these maps.
        let n = links.len();
        Planner {
            rdn_name: AttrName::new(o.rdn_attribute.clone()),
            key_name: AttrName::new(o.key_attribute.clone()),
            o,
            links: links
                .map(|(k, link)| (k, Tracked { link, seen: false }))
                .collect(),
            uuid_to_key: None,
            // Not sized: only those waiting for their other half are here at any time, and
            // a table sized for everyone would be touched all over (~20 MB each at 100k).
            pending_desired: FastMap::default(),
            pending_entries: FastMap::default(),
            seen_desired: FastSet::with_capacity_and_hasher(n, Default::default()),
            seen_entries: FastMap::with_capacity_and_hasher(n, Default::default()),
            dup_dns: Vec::new(),
            failed: FastSet::default(),
            keyless: 0,
            changes: Vec::new(),
            renames: Vec::new(),
            leavers: Vec::new(),
            unchanged: 0,
            findings: Vec::new(),
            observed: Vec::new(),
            suspect: None,
            disabled_since: FastMap::default(),
            unlinked: Vec::new(),
            adopted: FastMap::default(),
            refs: Vec::new(),
            ref_index: FastMap::default(),
            leaver_keys: FastSet::default(),
            leaver_entries: BTreeMap::new(),
            review: Vec::new(),
            review_hold: FastSet::default(),
            paired: 0,
            excluded: BTreeMap::new(),
        }
    }

    /// Withholds every leaver of this plan, with the reason shown in the plan (a suspect fetch).
    pub fn withhold_leavers(&mut self, reason: impl Into<String>) {
        self.suspect = Some(reason.into());
    }

    /// Findings from earlier stages, carried into the plan.
    pub fn add_findings(&mut self, f: impl IntoIterator<Item = Finding>) {
        self.findings.extend(f);
    }

    /// An HR record that exists but could not be mapped: its key (if it has one) is present in
    /// HR, so its account is never treated as missing. A record without a key makes absence
    /// from HR unknowable.
    pub fn add_failed(&mut self, key: Option<String>) {
        match key {
            Some(k) => {
                self.failed.insert(k);
            }
            None => self.keyless += 1,
        }
    }

    /// A person as the mapping wants them.
    pub fn add_desired(&mut self, mut d: DesiredEntry) {
        for r in &self.o.person_refs {
            if let Some(by) = &r.by
                && let Some(v) = d.attrs.remove(by)
                && let Some(v) = v.into_iter().find(|v| !v.trim().is_empty())
            {
                self.ref_index
                    .entry(by.clone())
                    .or_default()
                    .insert(v.trim().to_string(), d.key.clone());
            }
        }
        if d.leaver {
            self.leaver_keys.insert(d.key.clone());
        }
        if !self.seen_desired.insert(d.key.clone()) {
            self.findings.push(Finding::error(
                d.key.clone(),
                None,
                "the HR data has this primary key twice; the second record is skipped",
            ));
            return;
        }
        match self.pending_entries.remove(&d.key) {
            Some(e) => self.pair(d, e),
            None => {
                self.pending_desired.insert(d.key.clone(), d);
            }
        }
    }

    /// An entry as the directory has it.
    pub fn add_entry(&mut self, e: DirEntry) {
        // Correlate by the key attribute, or by the remembered link when the entry lost it.
        let key = match (&e.key, &e.uuid) {
            (Some(k), _) => Some(k.clone()),
            (None, Some(u)) => {
                let links = &self.links;
                self.uuid_to_key
                    .get_or_insert_with(|| {
                        links
                            .iter()
                            .filter_map(|(k, t)| t.link.uuid.clone().map(|u| (u, k.clone())))
                            .collect()
                    })
                    .get(u)
                    .cloned()
            }
            (None, None) => None,
        };
        let Some(key) = key else {
            if !self.o.match_on.is_empty() {
                self.unlinked.push(e);
            }
            return;
        };
        if let Some(first) = self.seen_entries.get(&key) {
            self.dup_dns.push((e.dn.clone(), key.clone()));
            self.findings.push(Finding::warning(
                key.clone(),
                Some(self.o.key_attribute.clone()),
                format!(
                    "two directory entries carry this key: {first} and {}; only the first is managed, fix the other by hand",
                    e.dn
                ),
            ));
            return;
        }
        self.seen_entries.insert(key.clone(), e.dn.clone());
        match self.pending_desired.remove(&key) {
            Some(d) => self.pair(d, e),
            None => {
                self.pending_entries.insert(key, e);
            }
        }
    }

    fn pair(&mut self, mut d: DesiredEntry, mut e: DirEntry) {
        self.paired += 1;
        // An adopted account is linked to its new key when the change is applied, not before.
        if self.owns() && !self.adopted.contains_key(&d.key) {
            self.observe(&d.key, &e);
        }
        if d.leaver {
            if !self.o.match_on.is_empty() {
                self.leaver_entries.insert(d.key.clone(), e.clone());
            }
            if e.disabled {
                match self
                    .retention_delete(&d.key, &e, "leaver")
                    .and_then(|c| self.restrict(c))
                {
                    Some(c) => self.leavers.push(c),
                    None => self.unchanged += 1,
                }
            } else if !self.allows(Action::Disable) {
                self.exclude(Action::Disable);
                self.unchanged += 1;
            } else {
                let attrs = self.leaver_group_removal(&e);
                self.leavers.push(Change {
                    kind: ChangeKind::Disable,
                    key: d.key.clone(),
                    dn: e.dn.clone(),
                    new_dn: self.disabled_target(&e),
                    uuid: e.uuid.clone(),
                    attrs,
                    reason: format!(
                        "leaver: {}",
                        d.leaver_reason
                            .as_deref()
                            .unwrap_or("HR marks the person as left")
                    ),
                });
            }
            return;
        }

        // A rename when the RDN value changed, a move when the OU rule says another parent
        // (fast path: the DN is exactly the mapped one).
        let mut new_dn = None;
        let wanted = d.attrs.get(&self.rdn_name).and_then(|v| v.first());
        // (Parsed only when the DN differs: a no-op run pairs 100,000s of identical DNs.)
        if let (false, Some(wanted)) = (e.dn == d.dn, wanted)
            && let Ok(cur) = dn::Dn::parse(&e.dn)
        {
            let same = cur.leaf().is_some_and(|a| {
                a.attr.eq_ignore_ascii_case(&self.o.rdn_attribute)
                    && a.value.to_lowercase() == wanted.to_lowercase()
            });
            // A rehire comes back out of the disabled OU to where the mapping puts people.
            let in_disabled_ou = self
                .o
                .disabled_ou
                .as_ref()
                .is_some_and(|ou| dn::same(ou, &cur.parent().to_string()));
            let parent = if self.o.place_by_rule || in_disabled_ou {
                dn::Dn::parse(&d.dn)
                    .map(|p| p.parent().to_string())
                    .unwrap_or_else(|_| cur.parent().to_string())
            } else {
                cur.parent().to_string()
            };
            let moved = !dn::same(&parent, &cur.parent().to_string());
            if !same || moved {
                new_dn = Some(dn::child(&self.o.rdn_attribute, wanted, &parent));
            }
        }

        let mut diffs = Vec::new();
        for a in self.o.owned.iter().chain(std::iter::once(&self.key_name)) {
            if a == &self.rdn_name {
                continue; // the RDN value changes through the rename
            }
            if self.o.person_refs.iter().any(|r| &r.attr == a) {
                continue; // resolved to DNs at the end, when every account is known
            }
            if self.o.create_only.contains(a) {
                continue; // set once at creation, then owned by someone else
            }
            if a.is(MEMBER_OF) {
                if let Some(c) = self.group_change(
                    e.attrs.get(a).map(Vec::as_slice).unwrap_or_default(),
                    d.attrs.get(a).map(Vec::as_slice).unwrap_or_default(),
                ) {
                    diffs.push(c);
                }
                continue;
            }
            let want = d.attrs.get(a).map(Vec::as_slice).unwrap_or_default();
            let have = e.attrs.get(a).map(Vec::as_slice).unwrap_or_default();
            if want == have {
                continue;
            }
            // values are sets: compare normalised before calling it a change
            let mut want = want.to_vec();
            let mut have = have.to_vec();
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
        // The references' values, taken out of both sides (nothing below reads them).
        let ref_values = (!self.o.person_refs.is_empty())
            .then(|| refs::RefCheck::take_values(&self.o.person_refs, &mut d, &mut e));
        // A pre-hire's account stays disabled until the start date. An account whose create
        // did not finish is finished then (a new password first), not enabled as a rehire.
        let kind = if e.disabled && d.starts.is_none() {
            // The account's own key says whose create made it (an account adopted under a
            // new key was created for the old one).
            let unfinished = |k: &str| self.o.unfinished_creates.contains(k);
            let adopted = self.adopted.contains_key(&d.key);
            if (!adopted && unfinished(&d.key)) || e.key.as_deref().is_some_and(unfinished) {
                ChangeKind::FinishCreate
            } else {
                ChangeKind::Enable
            }
        } else if diffs.is_empty() && new_dn.is_none() {
            // The usual case by far: the person's key, DN and id move into the reference
            // check rather than being copied.
            if let Some(values) = ref_values {
                self.refs
                    .push(refs::RefCheck::new(d.key, e.dn, e.uuid, values));
            }
            self.unchanged += 1;
            return;
        } else {
            ChangeKind::Update
        };
        if let Some(values) = ref_values {
            self.refs.push(refs::RefCheck::new(
                d.key.clone(),
                e.dn.clone(),
                e.uuid.clone(),
                values,
            ));
        }
        let change = Change {
            kind,
            key: d.key,
            dn: e.dn,
            new_dn,
            uuid: e.uuid,
            attrs: diffs,
            reason: String::new(),
        };
        let Some(change) = self.restrict(change) else {
            self.unchanged += 1;
            return;
        };
        if change.new_dn.is_some() {
            self.renames.push(change);
        } else {
            self.changes.push(self.with_reason(change));
        }
    }

    fn with_reason(&self, mut c: Change) -> Change {
        let adopted = self.adopted.get(&c.key);
        c.reason = match (c.kind, adopted) {
            (ChangeKind::Enable, None) => {
                "active in HR but the account is disabled (rehire)".to_string()
            }
            (ChangeKind::Enable, Some(why)) => format!("rehire: {why}; re-enabled"),
            (ChangeKind::FinishCreate, _) => {
                "hrsync created this account but the create did not finish (interrupted, or failed before the account was enabled): a new initial password is delivered, then it is enabled".to_string()
            }
            _ => {
                // `department (Sales → Finance)` for single values; the name alone otherwise.
                let mut parts: Vec<String> = c
                    .attrs
                    .iter()
                    .map(|a| match (a.before.as_slice(), a.after.as_slice()) {
                        ([b], [x]) if b.chars().count() <= 40 && x.chars().count() <= 40 => {
                            format!("{} ({b} → {x})", a.attr)
                        }
                        ([], [x]) if x.chars().count() <= 40 => format!("{} (→ {x})", a.attr),
                        ([b], []) if b.chars().count() <= 40 => format!("{} ({b} → none)", a.attr),
                        _ => a.attr.to_string(),
                    })
                    .collect();
                let dc = c.dn_change();
                if let Some(to) = dc.moves_to {
                    parts.insert(0, format!("OU (move to {to})"));
                }
                if dc.renames {
                    parts.insert(0, format!("{} (rename)", self.o.rdn_attribute));
                }
                let what = if parts.is_empty() {
                    String::new()
                } else {
                    format!("HR changed {}", parts.join(", "))
                };
                match adopted {
                    Some(why) if what.is_empty() => why.clone(),
                    Some(why) => format!("{why}; {what}"),
                    None => what,
                }
            }
        };
        c
    }

    /// Everything has arrived: decide joiners, renames, leavers and people missing from HR.
    /// Returns the plan and the entries seen for people HR knows whose links changed (to
    /// refresh them).
    pub fn finish(mut self, fetch: FetchReport) -> (Plan, Vec<ObservedLink>) {
        let (allowed, withheld_reason) = if !fetch.complete {
            (
                false,
                Some(format!(
                    "the HR fetch was incomplete ({}); nobody is treated as a leaver until a complete fetch",
                    fetch.error.as_deref().unwrap_or("not every page arrived")
                )),
            )
        } else if let Some(reason) = self.suspect.take() {
            (false, Some(reason))
        } else if self.keyless > 0 {
            (
                false,
                Some(format!(
                    "{} HR record(s) had no primary key, so absence from HR proves nothing; leavers are withheld",
                    self.keyless
                )),
            )
        } else {
            (true, None)
        };
        let mut withheld = 0usize;
        if allowed {
            let leavers = std::mem::take(&mut self.leavers);
            self.changes.extend(leavers);
        } else {
            withheld += self.leavers.len();
            self.unchanged += self.leavers.len();
        }

        // Joiners that may already have an account (before renames: an adopted account may
        // move).
        self.match_secondary();

        let mut claimed: HashMap<String, String> = HashMap::new();
        let needs_index =
            !self.renames.is_empty() || self.pending_desired.values().any(|d| !d.leaver);
        let dns: HashMap<String, String> = if needs_index {
            let mut m = HashMap::with_capacity(self.seen_entries.len() + self.dup_dns.len());
            for (k, d) in &self.seen_entries {
                m.entry(norm(d)).or_insert_with(|| k.clone());
            }
            for (d, k) in std::mem::take(&mut self.dup_dns) {
                m.entry(norm(&d)).or_insert(k);
            }
            m
        } else {
            HashMap::new()
        };
        // Renames, in key order: the new DN must be free.
        let mut renames = std::mem::take(&mut self.renames);
        renames.sort_by(|a, b| a.key.cmp(&b.key));
        for mut c in renames {
            let Some(target) = c.new_dn.clone() else {
                continue;
            };
            let n = norm(&target);
            let taken = dns.get(&n).is_some_and(|k| *k != c.key) || claimed.contains_key(&n);
            if taken {
                self.findings.push(Finding::error(
                    c.key.clone(),
                    Some(self.o.rdn_attribute.clone()),
                    format!("cannot rename {} to {target}: that DN is taken; other attributes are still updated", c.dn),
                ));
                c.new_dn = None;
                if c.attrs.is_empty() && c.kind == ChangeKind::Update {
                    self.unchanged += 1;
                    continue;
                }
            } else {
                claimed.insert(n, c.key.clone());
            }
            let c = self.with_reason(c);
            self.changes.push(c);
        }

        // Joiners: desired entries no directory entry claimed.
        let mut joiners: Vec<DesiredEntry> = std::mem::take(&mut self.pending_desired)
            .into_values()
            .collect();
        joiners.sort_by(|a, b| a.key.cmp(&b.key));
        for d in joiners {
            if d.leaver {
                continue; // a leaver without an account: nothing to do
            }
            if !self.allows(Action::Create) {
                // Not created, and no DN checks: this mapping does not name new accounts.
                self.exclude(Action::Create);
                continue;
            }
            if self.o.targeted
                && let Some(Tracked { link: l, .. }) = self.links.get(&d.key)
            {
                // A linked account not found by its key (the key attribute was cleared by
                // hand) was not read by a targeted run: creating would duplicate it. The next
                // full sync finds it by its link.
                self.findings.push(Finding::warning(
                    d.key.clone(),
                    None,
                    format!(
                        "has a linked account ({}) that was not found by its key; not created by an event run, the next full sync decides",
                        l.dn
                    ),
                ));
                continue;
            }
            let n = norm(&d.dn);
            if let Some(owner) = dns.get(&n) {
                self.findings.push(Finding::error(
                    d.key.clone(),
                    Some(self.o.rdn_attribute.clone()),
                    format!(
                        "the DN {} is already taken by an entry with key {owner}; not created (make the {} format unique)",
                        d.dn, self.o.rdn_attribute
                    ),
                ));
                continue;
            }
            if let Some(other) = claimed.get(&n) {
                self.findings.push(Finding::error(
                    d.key.clone(),
                    Some(self.o.rdn_attribute.clone()),
                    format!(
                        "the DN {} is also wanted by key {other} in this run; not created (make the {} format unique)",
                        d.dn, self.o.rdn_attribute
                    ),
                ));
                continue;
            }
            claimed.insert(n, d.key.clone());
            self.changes.push(Change {
                kind: if d.starts.is_some() {
                    ChangeKind::CreateDisabled
                } else {
                    ChangeKind::Create
                },
                key: d.key,
                dn: d.dn,
                new_dn: None,
                uuid: None,
                attrs: d
                    .attrs
                    .into_iter()
                    .map(|(attr, after)| AttrChange {
                        attr,
                        before: vec![],
                        after,
                    })
                    .collect(),
                reason: "new in HR (joiner)".into(),
            });
        }

        // Directory entries whose person is not in HR.
        let base = norm(&self.o.managed_base);
        let mut missing: Vec<(String, DirEntry)> = std::mem::take(&mut self.pending_entries)
            .into_iter()
            .collect();
        missing.sort_by(|a, b| a.1.dn.cmp(&b.1.dn));
        let mut missing_keys = HashSet::new();
        let mut orphans = Vec::new();
        let mut unconfirmed = Vec::new();
        let mut managed = self.paired;
        for (k, e) in missing {
            missing_keys.insert(k.clone());
            // A mapping that only modifies has no accounts of its own (links left from an
            // earlier configuration included): absence from HR is the owners' business.
            if !self.owns() {
                continue;
            }
            let linked = self.links.contains_key(&k);
            if self.review_hold.contains(&k) {
                managed += usize::from(linked);
                continue; // a candidate of a review item: nothing until an operator decides
            }
            if self.failed.contains(&k) {
                managed += 1;
                self.observe(&k, &e);
                continue;
            }
            let under_base = norm(&e.dn).ends_with(&format!(",{base}"));
            // Absence from HR concerns only accounts this mapping created or adopted (its
            // links); an account it never owned is an orphan, listed and left alone. Only a
            // complete, full fetch can tell that HR does not have the key.
            let ours = linked || (self.o.unlinked_disable && under_base);
            if !ours {
                if allowed && self.o.missing_from_hr == MissingAction::Disable {
                    orphans.push(hrsync_model::Orphan {
                        key: k,
                        dn: e.dn,
                        disabled: e.disabled,
                    });
                }
                continue;
            }
            managed += 1;
            if self.o.missing_from_hr != MissingAction::Disable {
                continue;
            }
            // Not this mapping's job (a create-only mapping): its people's absence from HR
            // makes no leaver; counted when a full mapping would have planned something.
            let what = if e.disabled {
                Action::Delete
            } else {
                Action::Disable
            };
            if !self.allows(what) {
                if allowed
                    && (what == Action::Disable || self.retention_delete(&k, &e, "").is_some())
                {
                    self.exclude(what);
                }
                continue;
            }
            if e.disabled {
                // Only accounts hrsync itself disabled have a date, so only those are deleted.
                if let Some(c) = self.retention_delete(&k, &e, "not in HR any more") {
                    if allowed {
                        self.changes.push(c);
                    } else {
                        withheld += 1;
                    }
                }
                continue;
            }
            if allowed {
                // A leaver only because they are missing: confirmed by the caller (a lookup by
                // key, or the next consecutive complete fetch) before anything happens.
                let attrs = self.leaver_group_removal(&e);
                let new_dn = self.disabled_target(&e);
                unconfirmed.push(Change {
                    kind: ChangeKind::Disable,
                    key: k,
                    dn: e.dn,
                    new_dn,
                    uuid: e.uuid,
                    attrs,
                    reason: if linked {
                        "not in HR any more (complete fetch)".into()
                    } else {
                        "not in HR any more (complete fetch); never linked, taken over by unlinked = \"disable\"".into()
                    },
                });
            } else {
                withheld += 1;
            }
        }

        self.resolve_refs(&missing_keys);
        // Changes planned after pairing (person references) pass the same filter.
        if !self.o.actions.is_all() {
            let changes = std::mem::take(&mut self.changes);
            self.changes = changes
                .into_iter()
                .filter_map(|c| self.restrict(c))
                .collect();
        }
        self.changes
            .sort_by(|a, b| (a.kind, &a.key).cmp(&(b.kind, &b.key)));
        let plan = Plan {
            mapping: self.o.mapping,
            target: self.o.target,
            generated_at: self.o.now,
            fetch,
            leavers_allowed: allowed,
            leavers_withheld_reason: withheld_reason,
            leavers_withheld: withheld,
            changes: self.changes,
            held: Vec::new(),
            held_reasons: Vec::new(),
            unchanged: self.unchanged,
            findings: self.findings,
            review: self.review,
            unconfirmed,
            orphans,
            managed,
            actions: (!self.o.actions.is_all()).then(|| self.o.actions.iter().collect()),
            not_this_mappings_job: self.excluded,
            ..Plan::default()
        };
        // Only links that changed are handed on ([`Self::observe`]): a no-op run of 100,000
        // people writes none.
        (plan, self.observed)
    }

    /// The account `key` is linked to, as this run found it: kept to be handed back by
    /// [`Self::finish`] when it differs from the stored link, else only marked seen (no copy
    /// of its key, DN and id for each of 100,000s of unchanged people).
    fn observe(&mut self, key: &str, e: &DirEntry) {
        match self.links.get_mut(key) {
            Some(t)
                if t.link.uuid == e.uuid
                    && t.link.dn == e.dn
                    && t.link.disabled == Some(e.disabled) =>
            {
                t.seen = true;
            }
            _ => self.observed.push(ObservedLink {
                key: key.to_string(),
                uuid: e.uuid.clone(),
                dn: e.dn.clone(),
                disabled: e.disabled,
            }),
        }
    }

    /// Every account found this run (linked to a person, or a person who could not be
    /// mapped), by key: its DN.
    fn observed_dns<'a>(
        links: &'a FastMap<String, Tracked>,
        observed: &'a [ObservedLink],
    ) -> FastMap<&'a str, &'a str> {
        links
            .iter()
            .filter(|(_, t)| t.seen)
            .map(|(k, t)| (k.as_str(), t.link.dn.as_str()))
            .chain(observed.iter().map(|o| (o.key.as_str(), o.dn.as_str())))
            .collect()
    }
}

/// The attribute group memberships are planned under (read from AD's `memberOf`, applied to
/// the groups' `member`).
pub const MEMBER_OF: &str = "memberOf";

impl Planner {
    fn is_managed_group(&self, g: &str) -> bool {
        self.o.managed_groups.iter().any(|m| dn::same(m, g))
            || dn::Dn::parse(g).is_ok_and(|p| {
                let parent = p.parent().to_string();
                self.o
                    .managed_group_bases
                    .iter()
                    .any(|b| dn::same(b, &parent))
            })
    }

    /// The membership change of managed groups from `have` (all groups) to `want` (the rules'
    /// groups), or None when they agree.
    fn group_change(&self, have: &[String], want: &[String]) -> Option<AttrChange> {
        let mut before: Vec<String> = have
            .iter()
            .filter(|g| self.is_managed_group(g))
            .cloned()
            .collect();
        let mut after: Vec<String> = want.to_vec();
        let key = |v: &mut Vec<String>| {
            v.sort_by_key(|g| norm(g));
            v.dedup_by(|a, b| dn::same(a, b));
        };
        key(&mut before);
        key(&mut after);
        let same =
            before.len() == after.len() && before.iter().zip(&after).all(|(a, b)| dn::same(a, b));
        (!same).then(|| AttrChange {
            attr: AttrName::new(MEMBER_OF),
            before,
            after,
        })
    }

    /// A leaver's removal from every managed group, when configured.
    fn leaver_group_removal(&self, e: &DirEntry) -> Vec<AttrChange> {
        if !self.o.leaver_removes_groups {
            return Vec::new();
        }
        let have = e
            .attrs
            .iter()
            .find(|(a, _)| a.is(MEMBER_OF))
            .map(|(_, v)| v.as_slice())
            .unwrap_or_default();
        self.group_change(have, &[]).into_iter().collect()
    }
}

fn norm(d: &str) -> String {
    dn::Dn::parse(d)
        .map(|x| x.normalized())
        .unwrap_or_else(|_| d.to_lowercase())
}
