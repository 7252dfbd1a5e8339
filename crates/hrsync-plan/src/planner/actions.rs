//! A mapping's `actions`: the kinds of work it does. Changes the rules call for that the
//! actions exclude are dropped here and counted per kind ("not this mapping's job"), so the
//! plan says what was left to another mapping instead of saying nothing. A change that is
//! partly excluded keeps its other parts (an update-only mapping still updates a person HR
//! also moved; the move is counted as not its job).
//!
//! What the actions mean for ownership (see [`Actions::owns`]): a mapping that does no
//! lifecycle work (only update, rename, move, groups) changes the accounts it matches by key
//! without making them its own: it records no links, adopts nothing by `match_on`, and an
//! account whose key HR does not have is neither its leaver nor its orphan. An account a
//! mapping with `create` adopts for a joiner (`match_on`) stands for the create.

use super::{MEMBER_OF, Planner};
use hrsync_model::{Action, Change, ChangeKind, dn};

impl Planner {
    pub(super) fn allows(&self, a: Action) -> bool {
        self.o.actions.allows(a)
    }

    pub(super) fn owns(&self) -> bool {
        self.o.actions.owns()
    }

    /// Counts one change of kind `a` that is not this mapping's job.
    pub(super) fn exclude(&mut self, a: Action) {
        *self.excluded.entry(a).or_default() += 1;
    }

    /// `c` with what the mapping's actions exclude taken out (and counted), or None when
    /// nothing is left. Idempotent: a restricted change passes unchanged.
    pub(super) fn restrict(&mut self, mut c: Change) -> Option<Change> {
        if self.o.actions.is_all() {
            return Some(c);
        }
        // An existing account adopted for a joiner (`match_on`) is what a create would have
        // made: it is made the person's as a whole (key, attributes, enabled, placed).
        if self.adopted.contains_key(&c.key) && self.allows(Action::Create) {
            return Some(c);
        }
        let whole = match c.kind {
            ChangeKind::Create | ChangeKind::CreateDisabled => Some(Action::Create),
            ChangeKind::Disable => Some(Action::Disable),
            ChangeKind::Delete => Some(Action::Delete),
            _ => None,
        };
        if let Some(a) = whole {
            if self.allows(a) {
                return Some(c);
            }
            self.exclude(a);
            return None;
        }
        let mut touched = false;
        // An enable (a rehire), or the end of hrsync's own create: without that action the
        // account stays disabled and only the rest of the change remains.
        let own = match c.kind {
            ChangeKind::Enable => Some(Action::Enable),
            ChangeKind::FinishCreate => Some(Action::Create),
            _ => None,
        };
        if let Some(a) = own
            && !self.allows(a)
        {
            self.exclude(a);
            c.kind = ChangeKind::Update;
            touched = true;
        }
        // Attributes: group memberships are `groups`, the rest `update`.
        let before = c.attrs.len();
        let (mut groups_out, mut update_out) = (false, false);
        let (allow_groups, allow_update) =
            (self.allows(Action::Groups), self.allows(Action::Update));
        c.attrs.retain(|a| {
            if a.attr.is(MEMBER_OF) {
                groups_out |= !allow_groups;
                allow_groups
            } else {
                update_out |= !allow_update;
                allow_update
            }
        });
        if groups_out {
            self.exclude(Action::Groups);
        }
        if update_out {
            self.exclude(Action::Update);
        }
        touched |= c.attrs.len() != before;
        // The new DN: its RDN value is `rename`, its parent `move`.
        let dc = c.dn_change();
        let rename_out = dc.renames && !self.allows(Action::Rename);
        let move_out = dc.moves_to.is_some() && !self.allows(Action::Move);
        if rename_out {
            self.exclude(Action::Rename);
        }
        if move_out {
            self.exclude(Action::Move);
        }
        if (rename_out || move_out)
            && let Some(new) = c.new_dn.take()
        {
            touched = true;
            c.new_dn = partial_dn(&c.dn, &new, !rename_out, !move_out);
        }
        if c.kind == ChangeKind::Update && c.attrs.is_empty() && c.new_dn.is_none() {
            return None;
        }
        Some(if touched { self.with_reason(c) } else { c })
    }
}

/// The DN `from` gets when only the allowed half of its change to `to` is made: the new RDN
/// value (`rename`) and/or the new parent (`move`); None when that is `from` itself.
fn partial_dn(from: &str, to: &str, rename: bool, moves: bool) -> Option<String> {
    let (Ok(a), Ok(b)) = (dn::Dn::parse(from), dn::Dn::parse(to)) else {
        return None;
    };
    let leaf = if rename { b.leaf()? } else { a.leaf()? };
    let parent = if moves { b.parent() } else { a.parent() }.to_string();
    let out = dn::child(&leaf.attr, &leaf.value, &parent);
    (!dn::same(&out, from)).then_some(out)
}
