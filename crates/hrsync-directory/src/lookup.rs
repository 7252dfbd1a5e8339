//! Looking people and groups up by what an administrator types (the console's users-and-groups
//! picker): a bounded subtree search under the base DN, every typed value escaped (RFC 4515,
//! [`hrsync_model::filter::escape`]), a small size limit and a time limit, so a search never
//! reads more than a screenful and a hostile `*)(uid=*` matches only itself.

use crate::{Dialect, DirError, Directory, Result};
use hrsync_model::filter;
use ldap3::{Scope, SearchOptions};
use std::time::Duration;

/// What to look for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupKind {
    Users,
    Groups,
}

/// One entry found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Found {
    pub dn: String,
    /// `displayName`, else `cn`, else the DN.
    pub name: String,
    /// The key attribute's value (the person's HR key), when the entry has one.
    pub key: Option<String>,
    pub mail: Option<String>,
    /// The sign-in name (`uid`, or AD's `sAMAccountName`).
    pub login: Option<String>,
    /// A group's members (`member`, `uniqueMember`), at most [`MAX_MEMBERS`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<String>>,
    /// How many members the group has (all of them, even past [`MAX_MEMBERS`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_count: Option<usize>,
}

/// What a lookup found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Lookup {
    pub items: Vec<Found>,
    /// The server stopped at the size or time limit: there are more (type more to narrow).
    pub truncated: bool,
}

/// Members listed per group at most.
pub const MAX_MEMBERS: usize = 200;

/// The filter of a lookup: entries of the kind whose naming, mail or key attributes contain
/// `q` (every value escaped); an empty `q` matches every entry of the kind.
pub fn lookup_filter(dialect: Dialect, key_attribute: &str, kind: LookupKind, q: &str) -> String {
    let q = q.trim();
    let class = match (kind, dialect) {
        (LookupKind::Users, Dialect::ActiveDirectory) => {
            "(objectCategory=person)(objectClass=user)"
        }
        (LookupKind::Users, Dialect::Openldap) => "(objectClass=person)",
        (LookupKind::Groups, Dialect::ActiveDirectory) => "(objectClass=group)",
        (LookupKind::Groups, Dialect::Openldap) => {
            "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))"
        }
    };
    if q.is_empty() {
        return format!("(&{class})");
    }
    let v = filter::escape(q);
    let attrs: Vec<&str> = match (kind, dialect) {
        (LookupKind::Users, Dialect::ActiveDirectory) => {
            vec!["sAMAccountName", "cn", "displayName", "mail", key_attribute]
        }
        (LookupKind::Users, Dialect::Openldap) => {
            vec!["uid", "cn", "displayName", "mail", key_attribute]
        }
        (LookupKind::Groups, _) => vec!["cn"],
    };
    let mut any = String::new();
    let mut seen: Vec<String> = Vec::new();
    for a in attrs {
        if seen.iter().any(|s| s.eq_ignore_ascii_case(a)) {
            continue;
        }
        seen.push(a.to_string());
        any.push_str(&format!("({}=*{v}*)", filter::escape(a)));
    }
    format!("(&{class}(|{any}))")
}

impl Directory {
    /// Users or groups under the base DN matching `q` (see [`lookup_filter`]): at most `limit`
    /// entries, within `time_limit`. A size or time limit reached is not an error: what came
    /// back is returned with `truncated`.
    pub async fn lookup(
        &self,
        kind: LookupKind,
        q: &str,
        limit: usize,
        time_limit: Duration,
    ) -> Result<Lookup> {
        let cfg = &self.cfg;
        let f = lookup_filter(cfg.dialect, &cfg.key_attribute, kind, q);
        let err = |message: String| DirError::Search {
            url: cfg.url.clone(),
            base: cfg.base_dn.clone(),
            message,
        };
        let login = match cfg.dialect {
            Dialect::ActiveDirectory => "sAMAccountName",
            Dialect::Openldap => "uid",
        };
        let attrs: Vec<&str> = match kind {
            LookupKind::Users => vec!["displayName", "cn", "mail", login, &cfg.key_attribute],
            LookupKind::Groups => vec!["displayName", "cn", "mail", "member", "uniqueMember"],
        };
        let secs = time_limit.as_secs().clamp(1, 60) as i32;
        let mut ldap = self.conn(0);
        let res = ldap
            .with_timeout(time_limit + Duration::from_secs(2))
            .with_search_options(
                SearchOptions::new()
                    .sizelimit(limit.clamp(1, 1000) as i32)
                    .timelimit(secs),
            )
            .search(&cfg.base_dn, Scope::Subtree, &f, attrs)
            .await
            .map_err(|e| err(e.to_string()))?;
        let ldap3::SearchResult(entries, result) = res;
        // 3 = timeLimitExceeded, 4 = sizeLimitExceeded: a partial answer.
        let truncated = match result.rc {
            0 => false,
            3 | 4 => true,
            rc => {
                return Err(err(crate::result_code::failure(
                    rc,
                    &cfg.base_dn,
                    &result.text,
                    &result.matched,
                )));
            }
        };
        let mut items = Vec::new();
        for e in entries {
            if e.is_ref() || e.is_intermediate() {
                continue;
            }
            let Some((dn, parts)) = crate::snapshot::entry_parts(e.0) else {
                return Err(err(
                    "the server sent a malformed search result entry".to_string()
                ));
            };
            let first = |name: &str| -> Option<String> {
                parts
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .and_then(|(_, v)| v.first())
                    .map(|b| String::from_utf8_lossy(b).into_owned())
            };
            let name = first("displayName")
                .or_else(|| first("cn"))
                .unwrap_or_else(|| dn.clone());
            let (members, member_count) = match kind {
                LookupKind::Users => (None, None),
                LookupKind::Groups => {
                    let all: Vec<String> = parts
                        .iter()
                        .filter(|(k, _)| {
                            k.eq_ignore_ascii_case("member")
                                || k.eq_ignore_ascii_case("uniqueMember")
                        })
                        .flat_map(|(_, v)| v.iter())
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .collect();
                    let n = all.len();
                    (Some(all.into_iter().take(MAX_MEMBERS).collect()), Some(n))
                }
            };
            items.push(Found {
                key: match kind {
                    LookupKind::Users => first(&cfg.key_attribute),
                    LookupKind::Groups => None,
                },
                mail: first("mail"),
                login: match kind {
                    LookupKind::Users => first(login),
                    LookupKind::Groups => None,
                },
                dn,
                name,
                members,
                member_count,
            });
        }
        Ok(Lookup { items, truncated })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_values_are_escaped_and_attributes_follow_the_dialect() {
        let f = lookup_filter(
            Dialect::Openldap,
            "employeeNumber",
            LookupKind::Users,
            "*)(uid=*",
        );
        assert_eq!(
            f,
            r"(&(objectClass=person)(|(uid=*\2a\29\28uid=\2a*)(cn=*\2a\29\28uid=\2a*)(displayName=*\2a\29\28uid=\2a*)(mail=*\2a\29\28uid=\2a*)(employeeNumber=*\2a\29\28uid=\2a*)))"
        );
        let f = lookup_filter(Dialect::ActiveDirectory, "cn", LookupKind::Users, r"a\b");
        assert!(
            f.starts_with("(&(objectCategory=person)(objectClass=user)(|(sAMAccountName=*a\\5cb*)")
        );
        assert_eq!(
            f.matches("(cn=").count(),
            1,
            "a key attribute already listed once: {f}"
        );
        assert_eq!(
            lookup_filter(Dialect::Openldap, "employeeNumber", LookupKind::Groups, " "),
            "(&(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup)))"
        );
        assert_eq!(
            lookup_filter(
                Dialect::ActiveDirectory,
                "employeeID",
                LookupKind::Groups,
                "hr"
            ),
            "(&(objectClass=group)(|(cn=*hr*)))"
        );
    }
}
