//! `actions = [...]` per mapping and the automation categories that stand for a set of them
//! (issue 14 §7): what a mapping's automation does.

use hrsync_model::{Action, Actions};

impl super::RawMapping {
    /// The mapping's actions: an explicit `actions` list, else its category's preset (the
    /// whole lifecycle for a category that is only a label).
    pub fn actions(&self) -> Actions {
        Actions::resolve(&self.category, self.actions.as_deref())
    }
}

impl super::Config {
    pub(crate) fn validate_actions(&self) -> Result<(), super::ConfigError> {
        for (i, m) in self.raw.mappings.iter().enumerate() {
            let key = format!("mapping[{i}] ({})", m.name);
            if m.actions.as_ref().is_some_and(Vec::is_empty) {
                return Err(self.invalid(
                    format!("{key}.actions"),
                    format!(
                        "is empty: the mapping would do nothing; list what it does (any of {}) or set enabled = false",
                        names()
                    ),
                ));
            }
            let actions = m.actions();
            if !actions.owns() && !m.match_on.is_empty() {
                return Err(self.invalid(
                    format!("{key}.match_on"),
                    format!(
                        "adopts existing accounts, but this mapping's actions ({actions}) only modify accounts it matches by key and never make one its own; remove match_on, or add create to actions"
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn names() -> String {
    Action::ALL.map(Action::as_str).join(", ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::Config;

    const CFG: &str = r#"
[[integration]]
name = "hr"
kind = "icehrm"
base_url = "http://127.0.0.1:1/app/api"
token = { env = "T" }
[directory]
url = "ldap://127.0.0.1:1"
bind_dn = "cn=admin,dc=example,dc=com"
bind_password = { env = "P" }
base_dn = "dc=example,dc=com"
users_ou = "ou=people,dc=example,dc=com"
key_attribute = "employeeNumber"
[[mapping]]
name = "m"
integration = "hr"
primary_key = "employee_id"
[mapping.attributes]
uid = "{employee_id}"
mail = "{work_email}"
"#;

    fn load(extra: &str) -> Result<Config, crate::ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        let text = CFG.replace(
            "primary_key = \"employee_id\"",
            &format!("primary_key = \"employee_id\"\n{extra}"),
        );
        std::fs::write(&p, text).unwrap();
        Config::load(&p)
    }

    #[test]
    fn categories_are_presets_and_actions_override_them() {
        let a = |extra: &str| load(extra).unwrap().raw.mappings[0].actions().to_string();
        assert_eq!(
            a(""),
            "create, update, rename, move, groups, disable, enable, delete"
        );
        assert_eq!(a("category = \"user-creation\""), "create");
        assert_eq!(
            a("category = \"user-modification\""),
            "update, rename, move, groups"
        );
        assert_eq!(a("category = \"user-disable\""), "disable");
        assert_eq!(a("category = \"user-deletion\""), "delete");
        // A category that is only a label keeps meaning everything.
        assert_eq!(
            a("category = \"nightly HR import\""),
            "create, update, rename, move, groups, disable, enable, delete"
        );
        assert_eq!(
            a("category = \"user-creation\"\nactions = [\"update\", \"groups\"]"),
            "update, groups"
        );
    }

    #[test]
    fn bad_actions_are_refused_with_the_fix() {
        let e = load("actions = []").err().unwrap().to_string();
        assert!(
            e.contains("mapping[0] (m).actions") && e.contains("is empty"),
            "{e}"
        );
        let e = load("actions = [\"provision\"]").err().unwrap().to_string();
        assert!(e.contains("provision") && e.contains("create"), "{e}");
        let e = load("actions = [\"update\"]\nmatch_on = [\"mail\"]")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("match_on") && e.contains("add create"), "{e}");
    }
}
