//! Server-side sessions: the cookie carries a random 256-bit id; the state database has only
//! its SHA-256, who signed in, their role, a CSRF token, and when the session was opened and
//! last used. Every sign-in opens a new session (a fresh id: rotation at login, so an id
//! planted before sign-in is worth nothing). A session ends at logout, after `idle` without a
//! request, or `absolute` after sign-in.
//!
//! The role is the one found at sign-in: a change of groups in the directory takes effect at
//! the next sign-in (at the latest after the absolute timeout).

use crate::random::{ct_eq, is_secret_256, secret_256, sha256};
use crate::settings::{SessionLimits, delta};
use crate::{AuthError, Principal, Result, Role, Via};
use chrono::{DateTime, Utc};
use hrsync_state::Store;
use hrsync_state::auth::{NewSession as NewRow, SessionLookup, SessionRow};
use std::fmt;
use std::net::IpAddr;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "hrsync_session";
/// The request header that carries the CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

const ORIGIN_DIRECTORY: &str = "directory";
const ORIGIN_BREAK_GLASS: &str = "break-glass";

/// A session just opened. `cookie_value` is given out once (in the `Set-Cookie` header) and
/// never stored.
#[derive(Clone)]
pub struct NewSession {
    pub cookie_value: String,
    /// For the console to send back in `X-CSRF-Token`.
    pub csrf_token: String,
    pub principal: Principal,
    pub created_at: DateTime<Utc>,
    /// When the session ends at the latest (the absolute timeout).
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for NewSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSession")
            .field("cookie_value", &"[redacted]")
            .field("principal", &self.principal)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl NewSession {
    /// The `Set-Cookie` header value that hands the session to the browser.
    pub fn set_cookie(&self, secure: bool) -> String {
        set_cookie(&self.cookie_value, secure)
    }
}

/// A live session, as a request found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub principal: Principal,
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// The address the session was opened from.
    pub source: Option<String>,
}

/// Opens a session for a principal that just signed in (a directory user or the break-glass
/// admin): a new random id and CSRF token.
pub fn open(
    store: &Store,
    limits: &SessionLimits,
    principal: &Principal,
    source: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<NewSession> {
    let cookie_value = secret_256()?;
    let csrf_token = secret_256()?;
    let origin = match principal.via {
        Via::BreakGlass => ORIGIN_BREAK_GLASS,
        Via::Session => ORIGIN_DIRECTORY,
        Via::Token => {
            return Err(AuthError::Settings(
                "an API token cannot open a session".into(),
            ));
        }
    };
    let source = source.map(|a| a.to_string());
    store.session_insert(&NewRow {
        id_hash: &sha256(&cookie_value),
        user_name: &principal.name,
        user_dn: principal.dn.as_deref(),
        role: principal.role.as_str(),
        origin,
        csrf_token: &csrf_token,
        created_at: now,
        source: source.as_deref(),
    })?;
    Ok(NewSession {
        cookie_value,
        csrf_token,
        principal: principal.clone(),
        created_at: now,
        expires_at: now + delta(limits.absolute),
    })
}

fn session_of(row: SessionRow) -> Result<Session> {
    let role: Role = row.role.parse().map_err(|_| AuthError::UnknownSession)?;
    Ok(Session {
        principal: Principal {
            name: row.user_name,
            dn: row.user_dn,
            role,
            via: if row.origin == ORIGIN_BREAK_GLASS {
                Via::BreakGlass
            } else {
                Via::Session
            },
        },
        csrf_token: row.csrf_token,
        created_at: row.created_at,
        last_seen: row.last_seen,
        source: row.source,
    })
}

/// The session of a cookie value, if it is live: not idle longer than `limits.idle`, not
/// older than `limits.absolute`. A live session's last use becomes `now`; an expired one is
/// deleted.
pub fn validate(
    store: &mut Store,
    limits: &SessionLimits,
    cookie_value: &str,
    now: DateTime<Utc>,
) -> Result<Session> {
    if !is_secret_256(cookie_value) {
        return Err(AuthError::UnknownSession);
    }
    match store.session_check(
        &sha256(cookie_value),
        now,
        now - delta(limits.idle),
        now - delta(limits.absolute),
    )? {
        SessionLookup::Valid(row) => session_of(row),
        SessionLookup::Expired(_) => Err(AuthError::SessionExpired),
        SessionLookup::Unknown => Err(AuthError::UnknownSession),
    }
}

/// Ends the session (logout): its cookie is refused from now on. False when there was none.
pub fn close(store: &Store, cookie_value: &str) -> Result<bool> {
    if !is_secret_256(cookie_value) {
        return Ok(false);
    }
    Ok(store.session_delete(&sha256(cookie_value))?)
}

/// Refuses a state-changing request of a session whose `X-CSRF-Token` header is missing or
/// not the session's token (compared in constant time).
pub fn check_csrf(session: &Session, header: Option<&str>) -> Result<()> {
    match header {
        Some(h) if !h.is_empty() && ct_eq(h.trim(), &session.csrf_token) => Ok(()),
        _ => Err(AuthError::Csrf),
    }
}

/// The `Set-Cookie` value for a session: not readable by scripts, never sent with requests
/// from other sites, and only over TLS when the server serves TLS.
pub fn set_cookie(cookie_value: &str, secure: bool) -> String {
    let mut s = format!("{COOKIE_NAME}={cookie_value}; HttpOnly; SameSite=Strict; Path=/");
    if secure {
        s.push_str("; Secure");
    }
    s
}

/// The `Set-Cookie` value that removes the session cookie (logout).
pub fn clear_cookie(secure: bool) -> String {
    let mut s = format!("{COOKIE_NAME}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    if secure {
        s.push_str("; Secure");
    }
    s
}

/// The session cookie's value in a `Cookie` request header, if there is one.
pub fn cookie_value(cookie_header: &str) -> Option<&str> {
    cookie_header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name.trim() == COOKIE_NAME).then(|| value.trim().trim_matches('"'))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000 + s, 0).unwrap()
    }

    fn alice() -> Principal {
        Principal {
            name: "alice".into(),
            dn: Some("uid=alice,ou=people,dc=example,dc=com".into()),
            role: Role::Operator,
            via: Via::Session,
        }
    }

    const LIMITS: SessionLimits = SessionLimits {
        idle: Duration::from_secs(600),
        absolute: Duration::from_secs(3600),
    };

    #[test]
    fn a_session_lives_while_used_and_ends_when_idle() {
        let mut store = Store::in_memory().unwrap();
        let new = open(
            &store,
            &LIMITS,
            &alice(),
            Some("192.0.2.7".parse().unwrap()),
            t(0),
        )
        .unwrap();
        assert_eq!(new.expires_at, t(3600));
        assert!(!format!("{new:?}").contains(&new.cookie_value));
        // Used every 9 minutes: still valid at 45 minutes, idle limit never reached.
        for m in 1..=5 {
            let s = validate(&mut store, &LIMITS, &new.cookie_value, t(m * 540)).unwrap();
            assert_eq!(s.principal, alice());
            assert_eq!(s.last_seen, t(m * 540), "touched");
            assert_eq!(s.csrf_token, new.csrf_token);
            assert_eq!(s.source.as_deref(), Some("192.0.2.7"));
        }
        // Then 10 minutes and a second of silence: expired, and gone.
        let e = validate(&mut store, &LIMITS, &new.cookie_value, t(5 * 540 + 601)).unwrap_err();
        assert!(matches!(e, AuthError::SessionExpired), "{e}");
        let e = validate(&mut store, &LIMITS, &new.cookie_value, t(5 * 540 + 602)).unwrap_err();
        assert!(matches!(e, AuthError::UnknownSession), "{e}");
        assert_eq!(e.status(), 401);
    }

    #[test]
    fn a_session_ends_at_the_absolute_timeout_however_busy() {
        let mut store = Store::in_memory().unwrap();
        let new = open(&store, &LIMITS, &alice(), None, t(0)).unwrap();
        let mut at = 0;
        while at + 300 < 3600 {
            at += 300;
            validate(&mut store, &LIMITS, &new.cookie_value, t(at)).unwrap();
        }
        let e = validate(&mut store, &LIMITS, &new.cookie_value, t(3601)).unwrap_err();
        assert!(matches!(e, AuthError::SessionExpired), "{e}");
    }

    #[test]
    fn every_sign_in_gets_a_new_id_and_logout_ends_the_session() {
        let mut store = Store::in_memory().unwrap();
        let a = open(&store, &LIMITS, &alice(), None, t(0)).unwrap();
        let b = open(&store, &LIMITS, &alice(), None, t(1)).unwrap();
        assert_ne!(a.cookie_value, b.cookie_value, "rotated at sign-in");
        assert_ne!(a.csrf_token, b.csrf_token);
        assert!(close(&store, &a.cookie_value).unwrap());
        // A stolen copy of the cookie stops working after logout.
        let e = validate(&mut store, &LIMITS, &a.cookie_value, t(2)).unwrap_err();
        assert!(matches!(e, AuthError::UnknownSession), "{e}");
        assert!(!close(&store, &a.cookie_value).unwrap());
        // The other session is untouched.
        validate(&mut store, &LIMITS, &b.cookie_value, t(2)).unwrap();
        // Junk and hostile values are unknown sessions, not errors of the database.
        for junk in ["", "x", "*)(uid=*", &"A".repeat(44)] {
            let e = validate(&mut store, &LIMITS, junk, t(2)).unwrap_err();
            assert!(matches!(e, AuthError::UnknownSession), "{junk}: {e}");
        }
    }

    #[test]
    fn only_the_hash_of_the_id_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let store = Store::open(&path).unwrap();
        let new = open(&store, &LIMITS, &alice(), None, t(0)).unwrap();
        drop(store);
        let bytes = std::fs::read(&path).unwrap();
        let wal = std::fs::read(dir.path().join("state.db-wal")).unwrap_or_default();
        for b in [&bytes, &wal] {
            let text = String::from_utf8_lossy(b);
            assert!(!text.contains(&new.cookie_value));
        }
    }

    #[test]
    fn csrf_tokens_must_match() {
        let mut store = Store::in_memory().unwrap();
        let a = open(&store, &LIMITS, &alice(), None, t(0)).unwrap();
        let b = open(&store, &LIMITS, &alice(), None, t(0)).unwrap();
        let s = validate(&mut store, &LIMITS, &a.cookie_value, t(1)).unwrap();
        assert!(check_csrf(&s, Some(&a.csrf_token)).is_ok());
        for wrong in [
            None,
            Some(""),
            Some(b.csrf_token.as_str()),
            Some(&a.cookie_value),
        ] {
            let e = check_csrf(&s, wrong).unwrap_err();
            assert!(matches!(e, AuthError::Csrf));
            assert_eq!(e.status(), 403);
        }
    }

    #[test]
    fn break_glass_sessions_say_so_and_tokens_open_none() {
        let mut store = Store::in_memory().unwrap();
        let root = Principal {
            name: "root".into(),
            dn: None,
            role: Role::Admin,
            via: Via::BreakGlass,
        };
        let new = open(&store, &LIMITS, &root, None, t(0)).unwrap();
        let s = validate(&mut store, &LIMITS, &new.cookie_value, t(1)).unwrap();
        assert_eq!(s.principal, root);
        let token = Principal {
            via: Via::Token,
            ..root
        };
        assert!(open(&store, &LIMITS, &token, None, t(0)).is_err());
    }

    #[test]
    fn cookie_headers() {
        let v = "abc";
        assert_eq!(
            set_cookie(v, false),
            "hrsync_session=abc; HttpOnly; SameSite=Strict; Path=/"
        );
        assert!(set_cookie(v, true).ends_with("; Secure"));
        assert!(clear_cookie(true).contains("Max-Age=0"));
        assert_eq!(cookie_value("a=1; hrsync_session=abc; b=2"), Some("abc"));
        assert_eq!(cookie_value("hrsync_session_x=abc"), None);
        assert_eq!(cookie_value("other=1"), None);
    }
}
