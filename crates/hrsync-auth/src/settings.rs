//! What `[server.auth]` says, resolved (secrets loaded). Plain structs: the config crate
//! fills them; [`AuthSettings::check`] says what is wrong, naming the key.

use crate::{AuthError, Result, Role};
use argon2::PasswordHash;
use hrsync_model::Secret;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the security model needs to know.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub directory: DirectorySignIn,
    pub sessions: SessionLimits,
    pub throttle: ThrottleLimits,
    /// The local admin for when the directory is down. None (the default): there is none.
    pub break_glass: Option<BreakGlass>,
}

/// Sign-in with directory accounts.
#[derive(Debug, Clone)]
pub struct DirectorySignIn {
    /// `ldaps://host:636`, or `ldap://host:389` with `starttls`. Plain LDAP is refused.
    pub url: String,
    /// Upgrade an `ldap://` URL with StartTLS (required for `ldap://`).
    pub starttls: bool,
    /// PEM file of the CA that signed the directory's certificate (default: system roots).
    pub ca_cert: Option<PathBuf>,
    /// The account that searches for users (and reads groups). None: anonymous searches.
    pub service_bind: Option<ServiceBind>,
    /// Where users are searched (subtree).
    pub user_base: String,
    /// The attribute a user name is matched against: `uid` (OpenLDAP), `sAMAccountName` (AD).
    pub user_attribute: String,
    /// The groups that give each role.
    pub groups: RoleGroups,
    /// A whole sign-in (connect, search, bind, groups) must be done within this.
    pub timeout: Duration,
}

impl DirectorySignIn {
    /// The default of [`DirectorySignIn::timeout`].
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
}

/// A bind DN and its password.
#[derive(Debug, Clone)]
pub struct ServiceBind {
    pub dn: String,
    pub password: Secret,
}

/// Group DNs per role. A user gets the highest role of the groups they are a member of
/// (`member`/`uniqueMember` = the user's DN, `memberUid` = the user name, or the user's
/// `memberOf`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleGroups {
    pub viewer: Vec<String>,
    pub operator: Vec<String>,
    pub admin: Vec<String>,
}

impl RoleGroups {
    pub fn of(&self, role: Role) -> &[String] {
        match role {
            Role::Viewer => &self.viewer,
            Role::Operator => &self.operator,
            Role::Admin => &self.admin,
        }
    }
}

/// How long a session lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Ended after this long without a request.
    pub idle: Duration,
    /// Ended this long after sign-in, however busy.
    pub absolute: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3600),
        }
    }
}

/// Failed sign-ins before a lockout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimits {
    /// Failures of one account name within `window` that lock it.
    pub account_failures: u32,
    /// Failures from one source address (an IPv6 /64) within `window` that lock it. Higher
    /// than per account: several people may sign in through one proxy.
    pub address_failures: u32,
    pub window: Duration,
    /// How long a lock lasts.
    pub lockout: Duration,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        ThrottleLimits {
            account_failures: 5,
            address_failures: 20,
            window: Duration::from_secs(15 * 60),
            lockout: Duration::from_secs(15 * 60),
        }
    }
}

/// The local admin.
#[derive(Clone)]
pub struct BreakGlass {
    /// Its user name (it takes precedence over a directory account of the same name).
    pub user: String,
    /// Its password as an argon2 PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
    pub password_hash: String,
}

impl std::fmt::Debug for BreakGlass {
    /// Without the hash: a log line should not let anyone try passwords offline.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BreakGlass")
            .field("user", &self.user)
            .field("password_hash", &"[redacted]")
            .finish()
    }
}

/// Longest duration accepted for a timeout or a window (one year): keeps time arithmetic
/// far from overflow.
const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// A std duration as a chrono one (durations are checked to be at most a year).
pub(crate) fn delta(d: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(d.min(MAX_DURATION)).unwrap_or(chrono::TimeDelta::zero())
}

impl AuthSettings {
    /// Settings with the default limits and no break-glass admin.
    pub fn new(directory: DirectorySignIn) -> AuthSettings {
        AuthSettings {
            directory,
            sessions: SessionLimits::default(),
            throttle: ThrottleLimits::default(),
            break_glass: None,
        }
    }

    /// What is wrong, each problem naming its key under `[server.auth]`.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let d = &self.directory;
        if let Err(e) = tls_mode(&d.url, d.starttls) {
            out.push(format!("url: {e}"));
        }
        if d.user_base.trim().is_empty() {
            out.push("user_base: must name where users are searched".into());
        }
        if d.user_attribute.is_empty()
            || !d
                .user_attribute
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
            || !d
                .user_attribute
                .starts_with(|c: char| c.is_ascii_alphabetic())
        {
            out.push(format!(
                "user_attribute: {:?} is not an attribute name (uid, sAMAccountName …)",
                d.user_attribute
            ));
        }
        if Role::ALL.iter().all(|r| d.groups.of(*r).is_empty()) {
            out.push(
                "groups: name at least one group (viewer, operator or admin): nobody could sign in"
                    .into(),
            );
        }
        for r in Role::ALL {
            for g in d.groups.of(r) {
                if hrsync_model::dn::Dn::parse(g).is_err() || g.trim().is_empty() {
                    out.push(format!("groups.{r}: {g:?} is not a DN"));
                }
            }
        }
        if let Some(s) = &d.service_bind
            && s.dn.trim().is_empty()
        {
            out.push("bind_dn: empty".into());
        }
        for (key, v) in [
            ("timeout", d.timeout),
            ("session_idle", self.sessions.idle),
            ("session_absolute", self.sessions.absolute),
            ("throttle_window", self.throttle.window),
            ("lockout", self.throttle.lockout),
        ] {
            if v.is_zero() || v > MAX_DURATION {
                out.push(format!("{key}: must be more than 0 and at most a year"));
            }
        }
        if self.sessions.idle > self.sessions.absolute {
            out.push("session_idle: longer than session_absolute".into());
        }
        if self.throttle.account_failures == 0 || self.throttle.address_failures == 0 {
            out.push("account_failures, address_failures: must be at least 1".into());
        }
        if let Some(bg) = &self.break_glass {
            if bg.user.trim().is_empty() {
                out.push("break_glass.user: empty".into());
            }
            if let Err(e) = parse_hash(&bg.password_hash) {
                out.push(format!("break_glass.password_hash: {e}"));
            }
        }
        out
    }

    /// `Settings` with every problem, or Ok.
    pub fn check(&self) -> Result<()> {
        let p = self.problems();
        if p.is_empty() {
            Ok(())
        } else {
            Err(AuthError::Settings(p.join("; ")))
        }
    }
}

/// How TLS is had: `ldaps://` (TLS from the start) or `ldap://` with StartTLS. Anything
/// else (plain `ldap://`, `ldapi://`, no scheme) is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Ldaps,
    StartTls,
}

pub fn tls_mode(url: &str, starttls: bool) -> Result<TlsMode> {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("ldaps://") {
        Ok(TlsMode::Ldaps)
    } else if lower.starts_with("ldap://") && starttls {
        Ok(TlsMode::StartTls)
    } else {
        Err(AuthError::PlainLdap {
            url: url.to_string(),
        })
    }
}

/// Parses a PHC string and checks that it is an argon2 hash.
pub fn parse_hash(phc: &str) -> std::result::Result<PasswordHash, String> {
    let h = PasswordHash::new(phc.trim())
        .map_err(|e| format!("not a PHC hash string ({e}); make one with an argon2 tool"))?;
    let alg = h.algorithm.as_str();
    if !alg.starts_with("argon2") {
        return Err(format!(
            "algorithm {alg} is not argon2 (argon2id, argon2i, argon2d)"
        ));
    }
    if h.salt.is_none() || h.hash.is_none() {
        return Err("the PHC string has no salt or no hash".into());
    }
    Ok(h)
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    pub(crate) fn sample() -> AuthSettings {
        AuthSettings::new(DirectorySignIn {
            url: "ldaps://ldap.example.com".into(),
            starttls: false,
            ca_cert: None,
            service_bind: None,
            user_base: "ou=people,dc=example,dc=com".into(),
            user_attribute: "uid".into(),
            groups: RoleGroups {
                operator: vec!["cn=ops,ou=groups,dc=example,dc=com".into()],
                ..Default::default()
            },
            timeout: DirectorySignIn::DEFAULT_TIMEOUT,
        })
    }

    #[test]
    fn settings_problems_name_their_keys() {
        assert_eq!(sample().problems(), Vec::<String>::new());
        let mut s = sample();
        s.directory.url = "ldap://ldap.example.com".into();
        s.directory.user_attribute = "uid)(x".into();
        s.directory.groups = RoleGroups::default();
        s.sessions.idle = Duration::from_secs(100 * 3600);
        s.break_glass = Some(BreakGlass {
            user: "root".into(),
            password_hash: "plain-text".into(),
        });
        let p = s.problems().join("\n");
        for key in [
            "url: directory sign-in needs TLS",
            "user_attribute:",
            "groups:",
            "session_idle:",
            "break_glass.password_hash:",
        ] {
            assert!(p.contains(key), "{key} in {p}");
        }
        assert!(!p.contains("plain-text"), "{p}");
        assert!(
            !format!("{s:?}").contains("plain-text"),
            "Debug shows no hash"
        );
        s.directory.url = "ldap://ldap.example.com".into();
        s.directory.starttls = true;
        assert!(!s.problems().join("\n").contains("url:"));
    }
}
