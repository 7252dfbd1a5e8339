//! Who may use the API (issue 15 §3), as a library the HTTP server stands on.
//!
//! - [`Role`] (`viewer` < `operator` < `admin`) and the [`Principal`] a request acts as.
//! - [`directory`]: sign-in with a directory account: LDAPS or StartTLS only, the user found
//!   by an escaped filter, a bind as the user, the role from the groups of `[server.auth]`.
//! - [`break_glass`]: a local admin (argon2 hash in the config, off by default) for when the
//!   directory is down.
//! - [`sessions`]: server-side sessions (only a SHA-256 of the id is stored), idle and
//!   absolute timeouts, CSRF tokens, the cookie's header.
//! - [`throttle`]: failed sign-ins counted per account and per source address in the state
//!   database (every process sees them), with a lockout that expires.
//! - [`tokens`]: API tokens for automation: random 256-bit, shown once, stored hashed.
//! - [`Auth`]: the above together, as the server uses them; [`http`]: axum extractors.
//!
//! Nothing here logs or returns a password, a session id or a token secret.

pub mod break_glass;
pub mod directory;
pub mod http;
mod random;
pub mod service;
pub mod sessions;
pub mod settings;
pub mod throttle;
pub mod tokens;

pub use service::{Auth, Clock};
pub use sessions::{NewSession, Session};
pub use settings::{
    AuthSettings, BreakGlass, DirectorySignIn, RoleGroups, ServiceBind, SessionLimits,
    ThrottleLimits,
};
pub use tokens::{NewToken, TokenInfo};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a signed-in operator or a token may do. Ordered: each role may do what the roles
/// below it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything except secrets.
    Viewer,
    /// Plan, apply, approve, review, replay, run now.
    Operator,
    /// Everything, including the configuration and API tokens.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is none of `viewer`, `operator`, `admin`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: use viewer, operator or admin")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> std::result::Result<Role, UnknownRole> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            _ => Err(UnknownRole(s.to_string())),
        }
    }
}

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    /// A session opened by a directory sign-in.
    Session,
    /// An API token.
    Token,
    /// A session opened by the local break-glass admin.
    BreakGlass,
}

/// Who a request acts as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// The directory user name, the token's name, or the break-glass user.
    pub name: String,
    /// The directory entry of the user (directory sign-ins only).
    pub dn: Option<String>,
    pub role: Role,
    pub via: Via,
}

impl Principal {
    /// True when the principal's role is `need` or above.
    pub fn allows(&self, need: Role) -> bool {
        self.role >= need
    }

    /// `Forbidden` unless the principal's role is `need` or above.
    pub fn require(&self, need: Role) -> Result<()> {
        if self.allows(need) {
            Ok(())
        } else {
            Err(AuthError::Forbidden {
                who: self.audit_name(),
                have: self.role,
                need,
            })
        }
    }

    /// The name the audit records: `alice`, `token:ci-deploy`, `break-glass:root`.
    pub fn audit_name(&self) -> String {
        match self.via {
            Via::Session => self.name.clone(),
            Via::Token => format!("token:{}", self.name),
            Via::BreakGlass => format!("break-glass:{}", self.name),
        }
    }
}

/// Why a sign-in or a request was refused, or what failed. Never contains a password, a
/// session id or a token secret.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("sign-in refused: wrong user name or password")]
    InvalidCredentials,
    #[error("sign-in refused: a password is required")]
    EmptyPassword,
    #[error("sign-in refused: a user name is required")]
    EmptyUser,
    #[error("sign-in refused: the user name or the password is too long")]
    TooLong,
    #[error("sign-in refused: too many failed sign-ins; try again after {until}")]
    Throttled { until: DateTime<Utc> },
    #[error(
        "sign-in refused: {user} is not an operator (a member of none of the groups named in [server.auth])"
    )]
    NotAnOperator { user: String },
    #[error(
        "sign-in refused: the user name matches {count} directory entries; ask an administrator to check [server.auth] user_attribute"
    )]
    Ambiguous { count: usize },
    #[error(
        "directory sign-in needs TLS: {url} is plain LDAP; use ldaps:// or StartTLS (starttls = true)"
    )]
    PlainLdap { url: String },
    #[error("directory {url}: {message}")]
    Directory { url: String, message: String },
    #[error("directory {url} did not answer within {secs} s")]
    Timeout { url: String, secs: u64 },
    #[error("not signed in: send the session cookie or an API token (Authorization: Bearer)")]
    Unauthenticated,
    #[error("the session has expired: sign in again")]
    SessionExpired,
    #[error("unknown session: sign in again")]
    UnknownSession,
    #[error("the CSRF token (header X-CSRF-Token) is missing or wrong")]
    Csrf,
    #[error("API token refused")]
    InvalidToken,
    #[error("API token {name} has expired")]
    TokenExpired { name: String },
    #[error("API token {name} was revoked")]
    TokenRevoked { name: String },
    #[error("{who} has the role {have}; this needs {need}")]
    Forbidden { who: String, have: Role, need: Role },
    #[error("a live API token is named {0}: revoke it first or choose another name")]
    TokenNameTaken(String),
    #[error("no live API token {0}")]
    NoSuchToken(String),
    #[error("[server.auth]: {0}")]
    Settings(String),
    #[error("the operating system's random generator failed: {0}")]
    Random(String),
    #[error(transparent)]
    State(#[from] hrsync_state::StateError),
}

impl AuthError {
    /// The HTTP status the API answers with.
    pub fn status(&self) -> u16 {
        use AuthError::*;
        match self {
            InvalidCredentials
            | EmptyPassword
            | EmptyUser
            | TooLong
            | Unauthenticated
            | SessionExpired
            | UnknownSession
            | InvalidToken
            | TokenExpired { .. }
            | TokenRevoked { .. } => 401,
            NotAnOperator { .. } | Csrf | Forbidden { .. } => 403,
            NoSuchToken(_) => 404,
            TokenNameTaken(_) => 409,
            Throttled { .. } => 429,
            Directory { .. } | Timeout { .. } => 503,
            Ambiguous { .. } | PlainLdap { .. } | Settings(_) | Random(_) | State(_) => 500,
        }
    }

    /// A stable name of the kind of error (for problem+json `type`s and metrics).
    pub fn kind(&self) -> &'static str {
        use AuthError::*;
        match self {
            InvalidCredentials => "invalid-credentials",
            EmptyPassword => "empty-password",
            EmptyUser => "empty-user",
            TooLong => "too-long",
            Throttled { .. } => "throttled",
            NotAnOperator { .. } => "not-an-operator",
            Ambiguous { .. } => "ambiguous-user",
            PlainLdap { .. } => "plain-ldap",
            Directory { .. } => "directory-unavailable",
            Timeout { .. } => "directory-timeout",
            Unauthenticated => "unauthenticated",
            SessionExpired => "session-expired",
            UnknownSession => "unknown-session",
            Csrf => "csrf",
            InvalidToken => "invalid-token",
            TokenExpired { .. } => "token-expired",
            TokenRevoked { .. } => "token-revoked",
            Forbidden { .. } => "forbidden",
            TokenNameTaken(_) => "token-name-taken",
            NoSuchToken(_) => "no-such-token",
            Settings(_) => "auth-settings",
            Random(_) => "random",
            State(_) => "state",
        }
    }

    /// A wrong password or an unknown user: what the login throttle counts.
    pub fn is_credential_failure(&self) -> bool {
        matches!(self, AuthError::InvalidCredentials)
    }
}

pub type Result<T> = std::result::Result<T, AuthError>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn roles_are_ordered_and_parse_and_print_lowercase() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        for r in Role::ALL {
            assert_eq!(r.to_string().parse::<Role>().unwrap(), r);
            assert_eq!(r.to_string(), r.to_string().to_lowercase());
        }
        assert_eq!(" Admin ".parse::<Role>().unwrap(), Role::Admin);
        assert!("root".parse::<Role>().is_err());
        let p = Principal {
            name: "ci".into(),
            dn: None,
            role: Role::Operator,
            via: Via::Token,
        };
        assert!(p.allows(Role::Viewer) && p.allows(Role::Operator) && !p.allows(Role::Admin));
        let e = p.require(Role::Admin).unwrap_err();
        assert_eq!(e.status(), 403);
        assert_eq!(
            e.to_string(),
            "token:ci has the role operator; this needs admin"
        );
        assert!(p.require(Role::Operator).is_ok());
    }
}
