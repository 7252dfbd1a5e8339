//! What a mapping's automation does: the kinds of change it may plan (`actions = [...]`), and
//! the automation categories that stand for a set of them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One kind of work a mapping may do to accounts.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Add accounts for joiners (and pre-hires), and finish creates that did not finish.
    Create,
    /// Change mapped attributes of existing accounts.
    Update,
    /// Change an account's RDN (the naming attribute's value).
    Rename,
    /// Move an account to another OU (the OU rule, a rehire out of the disabled OU).
    Move,
    /// Change memberships of managed groups.
    Groups,
    /// Disable leavers (by HR status, or missing from HR), with their group removal and move
    /// to the disabled OU.
    Disable,
    /// Enable the disabled account of a person HR has as active (a rehire).
    Enable,
    /// Delete disabled accounts whose retention period is over.
    Delete,
}

impl Action {
    pub const ALL: [Action; 8] = [
        Action::Create,
        Action::Update,
        Action::Rename,
        Action::Move,
        Action::Groups,
        Action::Disable,
        Action::Enable,
        Action::Delete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Rename => "rename",
            Action::Move => "move",
            Action::Groups => "groups",
            Action::Disable => "disable",
            Action::Enable => "enable",
            Action::Delete => "delete",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of [`Action`]s.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Actions(u8);

/// The automation categories with a meaning, and the actions each stands for. Any other
/// category is a label and means the whole lifecycle.
pub const CATEGORY_PRESETS: [(&str, &[Action]); 5] = [
    ("user-provisioning", &Action::ALL),
    ("user-creation", &[Action::Create]),
    (
        "user-modification",
        &[Action::Update, Action::Rename, Action::Move, Action::Groups],
    ),
    ("user-disable", &[Action::Disable]),
    ("user-deletion", &[Action::Delete]),
];

impl Actions {
    /// The whole lifecycle.
    pub fn all() -> Actions {
        Actions::from_iter(Action::ALL)
    }

    /// The preset of an automation category; the whole lifecycle for a category that is only
    /// a label.
    pub fn of_category(category: &str) -> Actions {
        CATEGORY_PRESETS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(category.trim()))
            .map(|(_, a)| Actions::from_iter(a.iter().copied()))
            .unwrap_or_else(Actions::all)
    }

    /// The category's preset, overridden by an explicit list.
    pub fn resolve(category: &str, explicit: Option<&[Action]>) -> Actions {
        match explicit {
            Some(list) => Actions::from_iter(list.iter().copied()),
            None => Actions::of_category(category),
        }
    }

    pub fn allows(self, a: Action) -> bool {
        self.0 & a.bit() != 0
    }

    pub fn is_all(self) -> bool {
        self == Actions::all()
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether the mapping takes accounts as its own: it remembers the account it paired with
    /// each person (links), may adopt existing accounts for joiners (`match_on`), and may treat
    /// its accounts' absence from HR as leaving. True when it does any lifecycle work (create,
    /// disable, enable, delete); a mapping that only modifies (update, rename, move, groups)
    /// changes the accounts it matches by key without owning them.
    pub fn owns(self) -> bool {
        [
            Action::Create,
            Action::Disable,
            Action::Enable,
            Action::Delete,
        ]
        .into_iter()
        .any(|a| self.allows(a))
    }

    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |a| self.allows(*a))
    }
}

impl Default for Actions {
    fn default() -> Self {
        Actions::all()
    }
}

impl FromIterator<Action> for Actions {
    fn from_iter<I: IntoIterator<Item = Action>>(it: I) -> Self {
        Actions(it.into_iter().fold(0, |m, a| m | a.bit()))
    }
}

impl fmt::Debug for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl fmt::Display for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Action::as_str).collect();
        f.write_str(&names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_and_labels() {
        assert!(Actions::of_category("user-provisioning").is_all());
        assert!(Actions::of_category("Sales onboarding").is_all());
        let c = Actions::of_category("user-creation");
        assert!(c.allows(Action::Create) && !c.allows(Action::Disable) && c.owns());
        let m = Actions::of_category("user-modification");
        assert_eq!(m.to_string(), "update, rename, move, groups");
        assert!(!m.owns());
        assert_eq!(
            Actions::resolve("user-creation", Some(&[Action::Update])).to_string(),
            "update"
        );
    }
}
