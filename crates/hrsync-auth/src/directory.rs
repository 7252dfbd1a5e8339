//! Sign-in with a directory account (LDAP simple bind), over LDAPS or StartTLS only.
//!
//! 1. Connect with TLS (the CA of `ca_cert`), bind as the service account (or stay
//!    anonymous).
//! 2. Find the user: `(user_attribute=NAME)` with NAME escaped (RFC 4515) under `user_base`;
//!    no entry is a wrong user name or password, several are refused.
//! 3. Bind as the user's DN with the password. An empty password is refused before anything
//!    is sent: LDAP takes a simple bind with an empty password as an *unauthenticated* bind,
//!    which succeeds (RFC 4513 §5.1.2).
//! 4. The role: the highest role whose groups have the user as `member`/`uniqueMember` (the
//!    DN), `memberUid` (the name), or in the user's `memberOf`. No role: not an operator.
//!
//! All of it within `timeout`. Errors never contain the password.

use crate::settings::DirectorySignIn;
use crate::{AuthError, Result, Role};
use hrsync_directory::result_code;
use hrsync_model::Secret;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry, SearchOptions};
use std::sync::Arc;

/// Longest user name accepted (before anything is sent to the directory).
pub const MAX_USER_LEN: usize = 256;
/// Longest password accepted.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// A user the directory vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    /// The user name as the directory spells it (the `user_attribute` value).
    pub name: String,
    pub dn: String,
    pub role: Role,
}

pub use crate::settings::{TlsMode, tls_mode};

/// Checks the user name and password before anything is sent.
pub fn check_input(user: &str, password: &Secret) -> Result<()> {
    if user.trim().is_empty() {
        return Err(AuthError::EmptyUser);
    }
    if password.expose().is_empty() {
        return Err(AuthError::EmptyPassword);
    }
    if user.len() > MAX_USER_LEN || password.expose().len() > MAX_PASSWORD_LEN {
        return Err(AuthError::TooLong);
    }
    Ok(())
}

/// Signs `user` in against the directory: who they are and their role.
pub async fn sign_in(
    cfg: &DirectorySignIn,
    user: &str,
    password: &Secret,
) -> Result<DirectoryUser> {
    check_input(user, password)?;
    let mode = tls_mode(&cfg.url, cfg.starttls)?;
    match tokio::time::timeout(
        cfg.timeout,
        sign_in_within(cfg, mode, user.trim(), password),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Err(AuthError::Timeout {
            url: cfg.url.clone(),
            secs: cfg.timeout.as_secs().max(1),
        }),
    }
}

fn dir_err(cfg: &DirectorySignIn, message: impl Into<String>) -> AuthError {
    AuthError::Directory {
        url: cfg.url.clone(),
        message: message.into(),
    }
}

async fn connect(cfg: &DirectorySignIn, mode: TlsMode) -> Result<Ldap> {
    let mut settings = LdapConnSettings::new()
        .set_conn_timeout(cfg.timeout)
        .set_starttls(mode == TlsMode::StartTls);
    if let Some(ca) = &cfg.ca_cert {
        let tls = hrsync_directory::connect::tls_config(&cfg.url, ca)
            .map_err(|e| dir_err(cfg, e.to_string()))?;
        settings = settings.set_config(Arc::new(tls));
    }
    let (conn, ldap) = LdapConnAsync::with_settings(settings, cfg.url.trim())
        .await
        .map_err(|e| dir_err(cfg, format!("cannot connect: {e}")))?;
    ldap3::drive!(conn);
    Ok(ldap)
}

/// Binds as the service account; an error names the account, never its password.
async fn service_bind(cfg: &DirectorySignIn, ldap: &mut Ldap) -> Result<()> {
    let Some(svc) = &cfg.service_bind else {
        return Ok(());
    };
    let r = ldap
        .simple_bind(&svc.dn, svc.password.expose())
        .await
        .map_err(|e| dir_err(cfg, format!("bind as {}: {e}", svc.dn)))?;
    if r.rc != 0 {
        return Err(dir_err(
            cfg,
            format!(
                "bind as {} failed: {}; check [server.auth] bind_dn and its password",
                svc.dn,
                result_code::failure(r.rc, "", &r.text, "")
            ),
        ));
    }
    Ok(())
}

async fn sign_in_within(
    cfg: &DirectorySignIn,
    mode: TlsMode,
    user: &str,
    password: &Secret,
) -> Result<DirectoryUser> {
    let mut ldap = connect(cfg, mode).await?;
    let out = sign_in_on(cfg, &mut ldap, user, password).await;
    let _ = ldap.unbind().await;
    out
}

async fn sign_in_on(
    cfg: &DirectorySignIn,
    ldap: &mut Ldap,
    user: &str,
    password: &Secret,
) -> Result<DirectoryUser> {
    service_bind(cfg, ldap).await?;
    let entry = find_user(cfg, ldap, user).await?;
    let dn = entry.dn.clone();
    if dn.trim().is_empty() {
        return Err(AuthError::InvalidCredentials);
    }
    let name = values(&entry, &cfg.user_attribute)
        .into_iter()
        .find(|v| v.eq_ignore_ascii_case(user))
        .unwrap_or_else(|| user.to_string());

    // The password: a bind as the user.
    let r = ldap
        .simple_bind(&dn, password.expose())
        .await
        .map_err(|e| dir_err(cfg, format!("bind as {dn}: {e}")))?;
    match r.rc {
        0 => {}
        49 => {
            // The client only learns "invalid credentials"; the log says what the directory
            // said (on AD a disabled, locked or expired account is also a 49).
            let reason = refusal_reason(&r.text);
            tracing::info!(user = %name, dn = %dn, reason, "directory sign-in: {reason}");
            return Err(AuthError::InvalidCredentials);
        }
        rc => {
            return Err(dir_err(
                cfg,
                format!(
                    "bind as {dn} refused: {}",
                    result_code::failure(rc, "", &r.text, "")
                ),
            ));
        }
    }

    // Groups are read as the service account when there is one (a user may not be allowed
    // to read groups), else as the user.
    service_bind(cfg, ldap).await?;
    let member_of = values(&entry, "memberOf");
    for role in [Role::Admin, Role::Operator, Role::Viewer] {
        for group in cfg.groups.of(role) {
            if member_of.iter().any(|m| hrsync_model::dn::same(m, group))
                || in_group(cfg, ldap, group, &dn, &name).await?
            {
                return Ok(DirectoryUser { name, dn, role });
            }
        }
    }
    tracing::warn!(user = %name, dn = %dn, "directory sign-in: in none of the groups of [server.auth]");
    Err(AuthError::NotAnOperator { user: name })
}

/// Why a bind as the user was refused with invalidCredentials (49), for the log: Active
/// Directory's `data NNN` sub-code when there is one (`account disabled`, `password expired`,
/// …), else a wrong password.
fn refusal_reason(text: &str) -> &'static str {
    result_code::ad_hint(text).unwrap_or("wrong password")
}

/// The attribute's values (attribute names compare case-insensitively).
fn values(entry: &SearchEntry, attr: &str) -> Vec<String> {
    entry
        .attrs
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(attr))
        .flat_map(|(_, v)| v.iter().cloned())
        .collect()
}

async fn find_user(cfg: &DirectorySignIn, ldap: &mut Ldap, user: &str) -> Result<SearchEntry> {
    let filter = hrsync_model::filter::eq(&cfg.user_attribute, user);
    let res = ldap
        .with_search_options(SearchOptions::new().sizelimit(2))
        .search(
            &cfg.user_base,
            Scope::Subtree,
            &filter,
            vec![cfg.user_attribute.as_str(), "memberOf"],
        )
        .await
        .map_err(|e| dir_err(cfg, format!("search under {}: {e}", cfg.user_base)))?;
    let entries: Vec<SearchEntry> = res
        .0
        .into_iter()
        .filter(|e| !e.is_ref() && !e.is_intermediate())
        .map(SearchEntry::construct)
        .collect();
    match res.1.rc {
        0 => {}
        // More than the size limit: more than one.
        4 => {
            return Err(AuthError::Ambiguous {
                count: entries.len().max(2),
            });
        }
        rc => {
            return Err(dir_err(
                cfg,
                format!(
                    "search for users failed: {}",
                    result_code::failure(rc, &cfg.user_base, &res.1.text, &res.1.matched)
                ),
            ));
        }
    }
    match entries.len() {
        0 => {
            tracing::info!(user = %user, "directory sign-in: no such user");
            Err(AuthError::InvalidCredentials)
        }
        1 => entries
            .into_iter()
            .next()
            .ok_or(AuthError::InvalidCredentials),
        n => Err(AuthError::Ambiguous { count: n }),
    }
}

/// True when the group names the user: `member` or `uniqueMember` is the user's DN, or
/// `memberUid` is the name. A group that does not exist names nobody (and is logged).
async fn in_group(
    cfg: &DirectorySignIn,
    ldap: &mut Ldap,
    group: &str,
    dn: &str,
    name: &str,
) -> Result<bool> {
    use hrsync_model::filter::escape;
    let filter = format!(
        "(|(member={dn})(uniqueMember={dn})(memberUid={name}))",
        dn = escape(dn),
        name = escape(name)
    );
    let res = ldap
        .search(group, Scope::Base, &filter, vec!["1.1"])
        .await
        .map_err(|e| dir_err(cfg, format!("reading group {group}: {e}")))?;
    match res.1.rc {
        0 => Ok(res.0.iter().any(|e| !e.is_ref() && !e.is_intermediate())),
        32 => {
            tracing::warn!(group = %group, "[server.auth] names a group that does not exist");
            Ok(false)
        }
        rc => Err(dir_err(
            cfg,
            format!(
                "reading group {group} failed: {}",
                result_code::failure(rc, group, &res.1.text, &res.1.matched)
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_ldaps_or_starttls() {
        assert_eq!(tls_mode("ldaps://h", false).unwrap(), TlsMode::Ldaps);
        assert_eq!(tls_mode("LDAP://h:389", true).unwrap(), TlsMode::StartTls);
        for (url, starttls) in [("ldap://h", false), ("ldapi:///x", true), ("h:389", true)] {
            let e = tls_mode(url, starttls).unwrap_err();
            assert!(matches!(e, AuthError::PlainLdap { .. }), "{url}");
        }
    }

    #[test]
    fn empty_and_oversized_input_is_refused_before_the_directory() {
        let pw = Secret::new("pw");
        assert!(matches!(check_input(" ", &pw), Err(AuthError::EmptyUser)));
        assert!(matches!(
            check_input("alice", &Secret::new("")),
            Err(AuthError::EmptyPassword)
        ));
        assert!(matches!(
            check_input(&"a".repeat(MAX_USER_LEN + 1), &pw),
            Err(AuthError::TooLong)
        ));
        assert!(check_input("alice", &pw).is_ok());
    }

    #[test]
    fn a_refused_bind_is_logged_with_the_reason_ad_gives() {
        let ad = |code: &str| {
            format!(
                "80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data {code}, v4563"
            )
        };
        assert_eq!(refusal_reason(&ad("533")), "account disabled");
        assert_eq!(refusal_reason(&ad("775")), "account locked out");
        assert_eq!(
            refusal_reason(&ad("773")),
            "the user must change the password at the next logon"
        );
        assert_eq!(refusal_reason(&ad("52e")), "wrong user name or password");
        // OpenLDAP says nothing more.
        assert_eq!(refusal_reason(""), "wrong password");
    }

    #[tokio::test]
    async fn plain_ldap_and_empty_passwords_never_reach_the_network() {
        // Port 9 of a TEST-NET address: a connection attempt would hang or fail differently.
        let mut cfg = crate::settings::tests::sample().directory;
        cfg.url = "ldap://192.0.2.1:9".into();
        let e = sign_in(&cfg, "alice", &Secret::new("pw"))
            .await
            .unwrap_err();
        assert!(matches!(e, AuthError::PlainLdap { .. }), "{e}");
        cfg.starttls = true;
        let e = sign_in(&cfg, "alice", &Secret::new("")).await.unwrap_err();
        assert!(matches!(e, AuthError::EmptyPassword), "{e}");
    }
}
