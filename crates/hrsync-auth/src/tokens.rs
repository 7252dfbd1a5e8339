//! API tokens for automation: `hrs_` and 256 random bits (base64url), shown once when made;
//! the state database keeps only the secret's SHA-256 (enough for a 256-bit random secret:
//! there is nothing to guess, so no slow hash is needed), the token's name, role, optional
//! expiry, who made it, when it was last used, and whether it was revoked.
//!
//! A token is looked up by the hash of what was presented: the lookup's timing tells nothing
//! about a secret that hashes differently.

use crate::random::{is_secret_256, secret_256, sha256};
use crate::{AuthError, Principal, Result, Role, Via};
use chrono::{DateTime, Utc};
use hrsync_state::Store;
use hrsync_state::auth::{ApiTokenRow, NewApiToken};
use serde::Serialize;
use std::fmt;

/// What every token starts with (so that secret scanners and people recognise one).
pub const TOKEN_PREFIX: &str = "hrs_";
/// Longest token name.
pub const MAX_NAME_LEN: usize = 64;

/// A token just made. `secret` is shown once and never stored.
#[derive(Clone)]
pub struct NewToken {
    pub secret: String,
    pub info: TokenInfo,
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewToken")
            .field("secret", &"[redacted]")
            .field("info", &self.info)
            .finish()
    }
}

/// A token as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<String>,
}

/// Where a token is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenStatus {
    Active,
    Expired,
    Revoked,
}

impl TokenInfo {
    pub fn status(&self, now: DateTime<Utc>) -> TokenStatus {
        if self.revoked_at.is_some() {
            TokenStatus::Revoked
        } else if self.expires_at.is_some_and(|e| e <= now) {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        }
    }
}

fn info(row: ApiTokenRow) -> TokenInfo {
    TokenInfo {
        id: row.id,
        name: row.name,
        // A role this version does not know gives no right at all.
        role: row.role.parse().unwrap_or(Role::Viewer),
        created_at: row.created_at,
        created_by: row.created_by,
        expires_at: row.expires_at,
        last_used: row.last_used,
        revoked_at: row.revoked_at,
        revoked_by: row.revoked_by,
    }
}

/// A token name: a letter, then letters, digits, `.`, `_`, `-` (so that an id and a name
/// never look alike).
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(AuthError::Settings(format!(
            "token name {name:?}: use a letter, then letters, digits, '.', '_' or '-' (at most {MAX_NAME_LEN})"
        )))
    }
}

/// Makes a token. The name must not be a live token's.
pub fn create(
    store: &mut Store,
    name: &str,
    role: Role,
    expires_at: Option<DateTime<Utc>>,
    created_by: &str,
    now: DateTime<Utc>,
) -> Result<NewToken> {
    check_name(name)?;
    if let Some(e) = expires_at
        && e <= now
    {
        return Err(AuthError::Settings(format!(
            "token {name}: the expiry {e} is not in the future"
        )));
    }
    let secret = format!("{TOKEN_PREFIX}{}", secret_256()?);
    let id = store
        .api_token_insert(&NewApiToken {
            name,
            secret_hash: &sha256(&secret),
            role: role.as_str(),
            created_at: now,
            created_by,
            expires_at,
        })?
        .ok_or_else(|| AuthError::TokenNameTaken(name.to_string()))?;
    tracing::info!(token = %name, id, role = %role, by = %created_by, "API token created");
    Ok(NewToken {
        secret,
        info: TokenInfo {
            id,
            name: name.to_string(),
            role,
            created_at: now,
            created_by: created_by.to_string(),
            expires_at,
            last_used: None,
            revoked_at: None,
            revoked_by: None,
        },
    })
}

/// Every token (revoked and expired ones too), oldest first.
pub fn list(store: &Store) -> Result<Vec<TokenInfo>> {
    Ok(store.api_tokens()?.into_iter().map(info).collect())
}

/// Revokes the live token with this id (digits) or name. Returns its id.
pub fn revoke(store: &Store, id_or_name: &str, by: &str, now: DateTime<Utc>) -> Result<i64> {
    let id = match id_or_name.parse::<i64>() {
        Ok(id) => id,
        Err(_) => store
            .api_token_live_id(id_or_name)?
            .ok_or_else(|| AuthError::NoSuchToken(id_or_name.to_string()))?,
    };
    if !store.api_token_revoke(id, now, by)? {
        return Err(AuthError::NoSuchToken(id_or_name.to_string()));
    }
    tracing::info!(token = %id_or_name, id, by = %by, "API token revoked");
    Ok(id)
}

/// The principal of a presented token (`Authorization: Bearer hrs_…`): refused when unknown,
/// expired or revoked. Records the use.
pub fn authenticate(store: &Store, presented: &str, now: DateTime<Utc>) -> Result<Principal> {
    let presented = presented.trim();
    let well_formed = presented
        .strip_prefix(TOKEN_PREFIX)
        .is_some_and(is_secret_256);
    if !well_formed {
        return Err(AuthError::InvalidToken);
    }
    let row = store
        .api_token_by_hash(&sha256(presented))?
        .ok_or(AuthError::InvalidToken)?;
    let t = info(row);
    match t.status(now) {
        TokenStatus::Revoked => return Err(AuthError::TokenRevoked { name: t.name }),
        TokenStatus::Expired => return Err(AuthError::TokenExpired { name: t.name }),
        TokenStatus::Active => {}
    }
    store.api_token_used(t.id, now)?;
    Ok(Principal {
        name: t.name,
        dn: None,
        role: t.role,
        via: Via::Token,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000 + s, 0).unwrap()
    }

    #[test]
    fn a_token_is_shown_once_and_stored_as_a_hash_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut store = Store::open(&path).unwrap();
        let new = create(&mut store, "ci-deploy", Role::Operator, None, "alice", t(0)).unwrap();
        assert!(new.secret.starts_with("hrs_") && new.secret.len() == 4 + 43);
        assert!(!format!("{new:?}").contains(&new.secret));
        let listed = list(&store).unwrap();
        assert_eq!(listed, vec![new.info.clone()]);
        assert!(!format!("{listed:?}").contains(&new.secret[4..]));
        drop(store);
        let mut all = std::fs::read(&path).unwrap();
        all.extend(std::fs::read(dir.path().join("state.db-wal")).unwrap_or_default());
        let text = String::from_utf8_lossy(&all);
        assert!(
            !text.contains(&new.secret[4..]),
            "the secret is not in the database"
        );
        let hash = sha256(&new.secret);
        assert!(all.windows(32).any(|w| w == hash), "its hash is");
    }

    #[test]
    fn a_token_authenticates_with_its_role_and_records_the_use() {
        let mut store = Store::in_memory().unwrap();
        let new = create(&mut store, "ci", Role::Viewer, Some(t(100)), "alice", t(0)).unwrap();
        let p = authenticate(&store, &new.secret, t(10)).unwrap();
        assert_eq!(
            (p.name.as_str(), p.role, p.via),
            ("ci", Role::Viewer, Via::Token)
        );
        assert!(
            p.require(Role::Operator).is_err(),
            "a viewer token cannot apply"
        );
        assert_eq!(list(&store).unwrap()[0].last_used, Some(t(10)));
        // Expired at 100.
        let e = authenticate(&store, &new.secret, t(100)).unwrap_err();
        assert!(matches!(e, AuthError::TokenExpired { .. }), "{e}");
        assert_eq!(
            list(&store).unwrap()[0].status(t(100)),
            TokenStatus::Expired
        );
        // Junk, a guess of the right shape, the secret without its prefix.
        let guess = format!("hrs_{}", secret_256().unwrap());
        for bad in ["", "hrs_", "Bearer x", "*)(uid=*", &guess, &new.secret[4..]] {
            let e = authenticate(&store, bad, t(10)).unwrap_err();
            assert!(matches!(e, AuthError::InvalidToken), "{bad}: {e}");
            assert_eq!(e.status(), 401);
        }
    }

    #[test]
    fn a_revoked_token_is_refused_and_its_name_is_free() {
        let mut store = Store::in_memory().unwrap();
        let a = create(&mut store, "ci", Role::Admin, None, "alice", t(0)).unwrap();
        let e = create(&mut store, "ci", Role::Admin, None, "alice", t(0)).unwrap_err();
        assert!(matches!(e, AuthError::TokenNameTaken(_)), "{e}");
        assert_eq!(revoke(&store, "ci", "bob", t(5)).unwrap(), a.info.id);
        let e = authenticate(&store, &a.secret, t(6)).unwrap_err();
        assert!(matches!(e, AuthError::TokenRevoked { .. }), "{e}");
        assert!(matches!(
            revoke(&store, "ci", "bob", t(7)),
            Err(AuthError::NoSuchToken(_))
        ));
        let b = create(&mut store, "ci", Role::Viewer, None, "alice", t(8)).unwrap();
        assert_eq!(
            revoke(&store, &b.info.id.to_string(), "bob", t(9)).unwrap(),
            b.info.id
        );
        let l = list(&store).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].revoked_by.as_deref(), Some("bob"));
        assert!(
            l.iter()
                .all(|t| t.status(t.created_at) == TokenStatus::Revoked)
        );
    }

    #[test]
    fn names_and_expiries_are_checked() {
        let mut store = Store::in_memory().unwrap();
        for bad in ["", "12", "a b", "x;y", &"a".repeat(65)] {
            assert!(
                create(&mut store, bad, Role::Viewer, None, "a", t(0)).is_err(),
                "{bad}"
            );
        }
        assert!(create(&mut store, "ci", Role::Viewer, Some(t(0)), "a", t(0)).is_err());
    }
}
