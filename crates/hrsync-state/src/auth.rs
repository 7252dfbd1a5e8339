//! Who may do what (issue 15 §3): server-side sessions, API tokens and failed sign-ins, for
//! `hrsync-auth`, which decides; this module only stores.
//!
//! Session ids and token secrets are never stored: only their SHA-256 (the caller hashes).
//! Every time is RFC 3339 UTC with microseconds, so that times compare as text in SQL.

use crate::{Result, Store, sql};
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

/// A SHA-256 hash of a session id or token secret.
pub type SecretHash = [u8; 32];

/// A session as stored (the id itself is not: only its hash is the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionRow {
    pub user_name: String,
    pub user_dn: Option<String>,
    /// `viewer`, `operator`, `admin` (as `hrsync-auth` writes it).
    pub role: String,
    /// How the user signed in: `directory` or `break-glass`.
    pub origin: String,
    /// The session's CSRF token (useless without the session cookie).
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// The address the session was opened from.
    pub source: Option<String>,
}

/// What a session cookie's hash finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionLookup {
    /// A live session; its `last_seen` is now the time of the check.
    Valid(SessionRow),
    /// A session that was idle too long or is too old: it was deleted.
    Expired(SessionRow),
    /// No such session (never was, logged out, expired and purged).
    Unknown,
}

/// An API token as stored and listed: never its secret, nor the secret's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiTokenRow {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
}

/// A new API token to store.
#[derive(Debug, Clone)]
pub struct NewApiToken<'a> {
    pub name: &'a str,
    pub secret_hash: &'a SecretHash,
    pub role: &'a str,
    pub created_at: DateTime<Utc>,
    pub created_by: &'a str,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A new session to store.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub id_hash: &'a SecretHash,
    pub user_name: &'a str,
    pub user_dn: Option<&'a str>,
    pub role: &'a str,
    pub origin: &'a str,
    pub csrf_token: &'a str,
    pub created_at: DateTime<Utc>,
    pub source: Option<&'a str>,
}

/// What failed sign-ins are counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKey {
    /// The account name tried.
    Account,
    /// The source address.
    Address,
}

impl FailureKey {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKey::Account => "account",
            FailureKey::Address => "address",
        }
    }
}

/// Failed sign-ins of one account or address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoginFailures {
    /// Failures since `first_failure`.
    pub failures: u32,
    pub first_failure: DateTime<Utc>,
    /// Sign-ins are refused until then.
    pub locked_until: Option<DateTime<Utc>>,
}

/// How failures are counted: within `window_start ..= now`, `limit` failures lock until
/// `lock_until`.
#[derive(Debug, Clone, Copy)]
pub struct FailurePolicy {
    pub now: DateTime<Utc>,
    /// Failures before this time no longer count.
    pub window_start: DateTime<Utc>,
    /// The failure that makes `limit` locks.
    pub limit: u32,
    /// Until when a lock made now lasts.
    pub lock_until: DateTime<Utc>,
}

/// The text form of a time in these tables (fixed width, so that it compares as text).
pub fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_time(idx: usize, s: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
        })
}

fn time_at(r: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    parse_time(idx, &r.get::<_, String>(idx)?)
}

fn opt_time_at(r: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    r.get::<_, Option<String>>(idx)?
        .map(|s| parse_time(idx, &s))
        .transpose()
}

fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        user_name: r.get(0)?,
        user_dn: r.get(1)?,
        role: r.get(2)?,
        origin: r.get(3)?,
        csrf_token: r.get(4)?,
        created_at: time_at(r, 5)?,
        last_seen: time_at(r, 6)?,
        source: r.get(7)?,
    })
}

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiTokenRow> {
    Ok(ApiTokenRow {
        id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        created_at: time_at(r, 3)?,
        created_by: r.get(4)?,
        expires_at: opt_time_at(r, 5)?,
        last_used: opt_time_at(r, 6)?,
        revoked_at: opt_time_at(r, 7)?,
        revoked_by: r.get(8)?,
    })
}

fn failures_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LoginFailures> {
    Ok(LoginFailures {
        failures: u32::try_from(r.get::<_, i64>(0)?).unwrap_or(u32::MAX),
        first_failure: time_at(r, 1)?,
        locked_until: opt_time_at(r, 2)?,
    })
}

impl Store {
    // ---- sessions ---------------------------------------------------------------------------

    /// Stores a new session.
    pub fn session_insert(&self, s: &NewSession<'_>) -> Result<()> {
        self.conn
            .prepare_cached(sql::SESSION_INSERT)?
            .execute(params![
                s.id_hash.as_slice(),
                s.user_name,
                s.user_dn,
                s.role,
                s.origin,
                s.csrf_token,
                time_text(s.created_at),
                s.source
            ])?;
        Ok(())
    }

    /// Finds the session and, in one transaction, deletes it when it was last seen before
    /// `idle_since` or created before `created_since`, or else records `now` as its last use.
    pub fn session_check(
        &mut self,
        id_hash: &SecretHash,
        now: DateTime<Utc>,
        idle_since: DateTime<Utc>,
        created_since: DateTime<Utc>,
    ) -> Result<SessionLookup> {
        let tx = self.write()?;
        let row = tx
            .prepare_cached(sql::SESSION_GET)?
            .query_row(params![id_hash.as_slice()], session_row)
            .optional()?;
        let out = match row {
            None => SessionLookup::Unknown,
            Some(row) if row.last_seen < idle_since || row.created_at < created_since => {
                tx.prepare_cached(sql::SESSION_DELETE)?
                    .execute(params![id_hash.as_slice()])?;
                SessionLookup::Expired(row)
            }
            Some(mut row) => {
                tx.prepare_cached(sql::SESSION_TOUCH)?
                    .execute(params![id_hash.as_slice(), time_text(now)])?;
                row.last_seen = row.last_seen.max(now);
                SessionLookup::Valid(row)
            }
        };
        tx.commit()?;
        Ok(out)
    }

    /// Deletes the session (logout). False when there was none.
    pub fn session_delete(&self, id_hash: &SecretHash) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached(sql::SESSION_DELETE)?
            .execute(params![id_hash.as_slice()])?
            > 0)
    }

    /// Deletes every session of a user (signed out everywhere). Returns how many.
    pub fn sessions_delete_of_user(&self, user_name: &str) -> Result<usize> {
        Ok(self
            .conn
            .prepare_cached(sql::SESSIONS_DELETE_OF_USER)?
            .execute(params![user_name])?)
    }

    /// Deletes sessions last seen before `idle_since` or created before `created_since`.
    pub fn sessions_purge(
        &mut self,
        idle_since: DateTime<Utc>,
        created_since: DateTime<Utc>,
    ) -> Result<usize> {
        let tx = self.write()?;
        let n = tx
            .prepare_cached(sql::SESSIONS_PURGE_IDLE)?
            .execute(params![time_text(idle_since)])?
            + tx.prepare_cached(sql::SESSIONS_PURGE_OLD)?
                .execute(params![time_text(created_since)])?;
        tx.commit()?;
        Ok(n)
    }

    // ---- API tokens -------------------------------------------------------------------------

    /// Stores a new token. None when a token of that name exists and is not revoked.
    pub fn api_token_insert(&mut self, t: &NewApiToken<'_>) -> Result<Option<i64>> {
        let tx = self.write()?;
        let taken = tx
            .prepare_cached(sql::API_TOKEN_LIVE_BY_NAME)?
            .query_row(params![t.name], |r| r.get::<_, i64>(0))
            .optional()?;
        if taken.is_some() {
            return Ok(None);
        }
        tx.prepare_cached(sql::API_TOKEN_INSERT)?.execute(params![
            t.name,
            t.secret_hash.as_slice(),
            t.role,
            time_text(t.created_at),
            t.created_by,
            t.expires_at.map(time_text)
        ])?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(Some(id))
    }

    /// The token whose secret has this hash (revoked or expired ones too: the caller decides).
    pub fn api_token_by_hash(&self, secret_hash: &SecretHash) -> Result<Option<ApiTokenRow>> {
        Ok(self
            .conn
            .prepare_cached(sql::API_TOKEN_BY_HASH)?
            .query_row(params![secret_hash.as_slice()], token_row)
            .optional()?)
    }

    /// The id of the live (not revoked) token of this name.
    pub fn api_token_live_id(&self, name: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached(sql::API_TOKEN_LIVE_BY_NAME)?
            .query_row(params![name], |r| r.get(0))
            .optional()?)
    }

    /// Records a use of the token.
    pub fn api_token_used(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        self.conn
            .prepare_cached(sql::API_TOKEN_USED)?
            .execute(params![id, time_text(at)])?;
        Ok(())
    }

    /// Revokes the token. False when there is no such live token.
    pub fn api_token_revoke(&self, id: i64, at: DateTime<Utc>, by: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached(sql::API_TOKEN_REVOKE)?
            .execute(params![id, time_text(at), by])?
            > 0)
    }

    /// Every token, oldest first, without secrets.
    pub fn api_tokens(&self) -> Result<Vec<ApiTokenRow>> {
        let mut st = self.conn.prepare_cached(sql::API_TOKENS_LIST)?;
        let rows = st.query_map([], token_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    // ---- failed sign-ins ----------------------------------------------------------------------

    /// The failures counted for this account or address, if any.
    pub fn login_failures(&self, kind: FailureKey, key: &str) -> Result<Option<LoginFailures>> {
        Ok(self
            .conn
            .prepare_cached(sql::LOGIN_FAILURE_GET)?
            .query_row(params![kind.as_str(), key], failures_row)
            .optional()?)
    }

    /// Counts one failed sign-in, in one transaction (several processes see the same count).
    /// The count starts again at 1 when the earlier failures are older than the window or
    /// their lock has expired; the failure that reaches the limit locks until
    /// `policy.lock_until`. Returns the count after this failure.
    pub fn login_failure_record(
        &mut self,
        kind: FailureKey,
        key: &str,
        policy: &FailurePolicy,
    ) -> Result<LoginFailures> {
        let tx = self.write()?;
        let before = tx
            .prepare_cached(sql::LOGIN_FAILURE_GET)?
            .query_row(params![kind.as_str(), key], failures_row)
            .optional()?;
        let mut now = match before {
            Some(f)
                if f.first_failure >= policy.window_start
                    && f.locked_until.is_none_or(|u| u > policy.now) =>
            {
                LoginFailures {
                    failures: f.failures.saturating_add(1),
                    ..f
                }
            }
            _ => LoginFailures {
                failures: 1,
                first_failure: policy.now,
                locked_until: None,
            },
        };
        if now.failures >= policy.limit.max(1) && now.locked_until.is_none() {
            now.locked_until = Some(policy.lock_until);
        }
        tx.prepare_cached(sql::LOGIN_FAILURE_PUT)?.execute(params![
            kind.as_str(),
            key,
            i64::from(now.failures),
            time_text(now.first_failure),
            now.locked_until.map(time_text)
        ])?;
        tx.commit()?;
        Ok(now)
    }

    /// Forgets the failures of this account or address (a successful sign-in).
    pub fn login_failures_clear(&self, kind: FailureKey, key: &str) -> Result<()> {
        self.conn
            .prepare_cached(sql::LOGIN_FAILURE_CLEAR)?
            .execute(params![kind.as_str(), key])?;
        Ok(())
    }

    /// Deletes counts whose first failure is before `window_start` and that lock nothing
    /// after `now`.
    pub fn login_failures_purge(
        &self,
        window_start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        Ok(self
            .conn
            .prepare_cached(sql::LOGIN_FAILURES_PURGE)?
            .execute(params![time_text(window_start), time_text(now)])?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::Duration;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000 + s, 0).unwrap()
    }

    fn session<'a>(hash: &'a SecretHash, at: DateTime<Utc>) -> NewSession<'a> {
        NewSession {
            id_hash: hash,
            user_name: "alice",
            user_dn: Some("uid=alice,ou=people,dc=example,dc=com"),
            role: "operator",
            origin: "directory",
            csrf_token: "csrf",
            created_at: at,
            source: Some("192.0.2.1"),
        }
    }

    #[test]
    fn sessions_are_found_by_hash_touched_and_expired() {
        let mut s = Store::in_memory().unwrap();
        let h = [7u8; 32];
        s.session_insert(&session(&h, t(0))).unwrap();
        let far = t(-1000);
        match s.session_check(&h, t(10), far, far).unwrap() {
            SessionLookup::Valid(r) => {
                assert_eq!((r.created_at, r.last_seen), (t(0), t(10)));
                assert_eq!(
                    r.user_dn.as_deref(),
                    Some("uid=alice,ou=people,dc=example,dc=com")
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            s.session_check(&[8u8; 32], t(10), far, far).unwrap(),
            SessionLookup::Unknown
        );
        // Idle since 10: a check that wants activity after 11 expires and deletes it.
        assert!(matches!(
            s.session_check(&h, t(20), t(11), far).unwrap(),
            SessionLookup::Expired(_)
        ));
        assert_eq!(
            s.session_check(&h, t(20), far, far).unwrap(),
            SessionLookup::Unknown
        );
        // Too old, however busy.
        s.session_insert(&session(&h, t(0))).unwrap();
        assert!(matches!(
            s.session_check(&h, t(20), far, t(1)).unwrap(),
            SessionLookup::Expired(_)
        ));
        // Logout, purge.
        s.session_insert(&session(&h, t(0))).unwrap();
        assert!(s.session_delete(&h).unwrap());
        assert!(!s.session_delete(&h).unwrap());
        s.session_insert(&session(&h, t(0))).unwrap();
        s.session_insert(&session(&[9u8; 32], t(100))).unwrap();
        assert_eq!(s.sessions_purge(t(50), far).unwrap(), 1);
        assert_eq!(s.sessions_delete_of_user("alice").unwrap(), 1);
    }

    #[test]
    fn tokens_are_listed_without_secrets_and_revoked() {
        let mut s = Store::in_memory().unwrap();
        let h = [1u8; 32];
        let new = NewApiToken {
            name: "ci",
            secret_hash: &h,
            role: "viewer",
            created_at: t(0),
            created_by: "alice",
            expires_at: Some(t(3600)),
        };
        let id = s.api_token_insert(&new).unwrap().unwrap();
        // The name is taken while the token lives.
        let h2 = [2u8; 32];
        assert_eq!(
            s.api_token_insert(&NewApiToken {
                secret_hash: &h2,
                ..new.clone()
            })
            .unwrap(),
            None
        );
        let row = s.api_token_by_hash(&h).unwrap().unwrap();
        assert_eq!(
            (row.id, row.expires_at, row.last_used),
            (id, Some(t(3600)), None)
        );
        s.api_token_used(id, t(5)).unwrap();
        assert_eq!(s.api_tokens().unwrap()[0].last_used, Some(t(5)));
        assert_eq!(s.api_token_live_id("ci").unwrap(), Some(id));
        assert!(s.api_token_revoke(id, t(6), "bob").unwrap());
        assert!(!s.api_token_revoke(id, t(7), "bob").unwrap());
        let row = s.api_token_by_hash(&h).unwrap().unwrap();
        assert_eq!(row.revoked_at, Some(t(6)));
        assert_eq!(s.api_token_live_id("ci").unwrap(), None);
        // Revoked: the name is free again.
        assert!(
            s.api_token_insert(&NewApiToken {
                secret_hash: &h2,
                ..new
            })
            .unwrap()
            .is_some()
        );
    }

    #[test]
    fn failures_lock_at_the_limit_and_start_again_after_the_window_or_the_lock() {
        let mut s = Store::in_memory().unwrap();
        let policy = |now: DateTime<Utc>| FailurePolicy {
            now,
            window_start: now - Duration::seconds(60),
            limit: 3,
            lock_until: now + Duration::seconds(300),
        };
        let k = FailureKey::Account;
        for i in 1..=2 {
            let f = s.login_failure_record(k, "alice", &policy(t(i))).unwrap();
            assert_eq!((f.failures, f.locked_until), (i as u32, None));
        }
        let f = s.login_failure_record(k, "alice", &policy(t(3))).unwrap();
        assert_eq!((f.failures, f.locked_until), (3, Some(t(303))));
        // Another failure while locked keeps the lock as it is.
        let f = s.login_failure_record(k, "alice", &policy(t(4))).unwrap();
        assert_eq!((f.failures, f.locked_until), (4, Some(t(303))));
        assert_eq!(s.login_failures(k, "alice").unwrap(), Some(f));
        // The address count is separate.
        assert_eq!(
            s.login_failures(FailureKey::Address, "alice").unwrap(),
            None
        );
        // After the lock: counting starts again.
        let f = s.login_failure_record(k, "alice", &policy(t(400))).unwrap();
        assert_eq!((f.failures, f.locked_until), (1, None));
        // Outside the window: again.
        let f = s.login_failure_record(k, "alice", &policy(t(500))).unwrap();
        assert_eq!(f.failures, 1);
        s.login_failures_clear(k, "alice").unwrap();
        assert_eq!(s.login_failures(k, "alice").unwrap(), None);
        s.login_failure_record(k, "bob", &policy(t(0))).unwrap();
        s.login_failure_record(k, "carol", &policy(t(100))).unwrap();
        assert_eq!(s.login_failures_purge(t(50), t(100)).unwrap(), 1);
        assert!(s.login_failures(k, "carol").unwrap().is_some());
    }
}
