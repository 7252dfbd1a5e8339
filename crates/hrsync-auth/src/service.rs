//! [`Auth`]: the settings and the state database together, as the server uses them. The
//! database connection sits behind a mutex that is never held across an `await` (each use is
//! one short statement or transaction); the directory is asked without it.

use crate::sessions::{self, NewSession, Session};
use crate::settings::{AuthSettings, delta};
use crate::tokens::{self, NewToken, TokenInfo};
use crate::{Principal, Result, Role, Via, break_glass, directory, throttle};
use chrono::{DateTime, Utc};
use hrsync_model::Secret;
use hrsync_state::Store;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// Where the time comes from (tests set it).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub struct Auth {
    settings: AuthSettings,
    store: Mutex<Store>,
    clock: Clock,
    /// One sign-in per account at a time in this process: parallel guesses wait for the
    /// one before, so they see its failure count (and its lock) instead of all passing the
    /// throttle at once.
    in_flight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// This process's turn to sign an account in; the map entry goes when nobody waits.
struct Turn<'a> {
    auth: &'a Auth,
    key: String,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut map = self
            .auth
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // The map's and this guard's references: nobody else waits.
        if map
            .get(&self.key)
            .is_some_and(|m| Arc::strong_count(m) <= 2)
        {
            map.remove(&self.key);
        }
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// Checks the settings (every problem, naming its key) and keeps the store.
    pub fn new(settings: AuthSettings, store: Store) -> Result<Auth> {
        settings.check()?;
        Ok(Auth {
            settings,
            store: Mutex::new(store),
            clock: Arc::new(Utc::now),
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    /// [`Auth::new`] with the state database at `path` (opened and migrated).
    pub fn open(settings: AuthSettings, state_path: &Path) -> Result<Auth> {
        Auth::new(settings, Store::open(state_path)?)
    }

    /// Uses `clock` for the time (tests).
    pub fn with_clock(mut self, clock: Clock) -> Auth {
        self.clock = clock;
        self
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        // A panic elsewhere while holding the lock leaves the connection usable.
        self.store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn turn(&self, user: &str) -> Turn<'_> {
        let key = throttle::account_key(user);
        let m = self
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(key.clone())
            .or_default()
            .clone();
        Turn {
            auth: self,
            key,
            _guard: m.lock_owned().await,
        }
    }

    /// Runs `f` with the state database (for what this type does not wrap).
    pub fn with_store<T>(&self, f: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
        f(&mut self.store())
    }

    /// Signs a user in and opens a new session: refused while the account or the address is
    /// throttled; the break-glass admin when the name is its name, else the directory. A
    /// wrong password (or unknown user) counts towards the lockout; success clears the
    /// account's count.
    ///
    /// The caller should end the session of a cookie that came with the sign-in request
    /// ([`Auth::logout`]): the new session never reuses it.
    pub async fn login(
        &self,
        user: &str,
        password: &Secret,
        source: Option<IpAddr>,
    ) -> Result<NewSession> {
        directory::check_input(user, password)?;
        let user = user.trim();
        let _turn = self.turn(user).await;
        throttle::check(&self.store(), user, source, self.now())?;
        let bg = self
            .settings
            .break_glass
            .as_ref()
            .filter(|bg| break_glass::is_break_glass_user(Some(bg), user));
        let outcome = match bg {
            Some(bg) => break_glass::verify_blocking(bg, password)
                .await
                .map(|()| Principal {
                    name: bg.user.clone(),
                    dn: None,
                    role: Role::Admin,
                    via: Via::BreakGlass,
                }),
            None => directory::sign_in(&self.settings.directory, user, password)
                .await
                .map(|u| Principal {
                    name: u.name,
                    dn: Some(u.dn),
                    role: u.role,
                    via: Via::Session,
                }),
        };
        let now = self.now();
        let mut store = self.store();
        let source_text = source.map(|a| a.to_string()).unwrap_or_default();
        match outcome {
            Ok(p) => {
                throttle::succeeded(&store, user)?;
                let s = sessions::open(&store, &self.settings.sessions, &p, source, now)?;
                // Housekeeping, at most once per sign-in: a failure here refuses nobody.
                if let Err(e) = purge_with(&mut store, &self.settings, now) {
                    tracing::warn!("cannot purge expired sessions and sign-in counts: {e}");
                }
                tracing::info!(user = %p.audit_name(), role = %p.role, source = %source_text, "signed in");
                Ok(s)
            }
            Err(e) => {
                if e.is_credential_failure() {
                    throttle::failed(&mut store, &self.settings.throttle, user, source, now)?;
                }
                tracing::info!(user = %user, source = %source_text, "sign-in refused: {e}");
                Err(e)
            }
        }
    }

    /// The live session of a cookie value (its last use becomes now).
    pub fn session(&self, cookie_value: &str) -> Result<Session> {
        let now = self.now();
        sessions::validate(
            &mut self.store(),
            &self.settings.sessions,
            cookie_value,
            now,
        )
    }

    /// Ends the session of a cookie value. False when there was none.
    pub fn logout(&self, cookie_value: &str) -> Result<bool> {
        sessions::close(&self.store(), cookie_value)
    }

    /// Ends every session of a user (signed out everywhere). Returns how many.
    pub fn logout_everywhere(&self, user_name: &str) -> Result<usize> {
        Ok(self.store().sessions_delete_of_user(user_name)?)
    }

    /// The principal of a presented API token (the `Bearer` value).
    pub fn token(&self, presented: &str) -> Result<Principal> {
        tokens::authenticate(&self.store(), presented, self.now())
    }

    pub fn create_token(
        &self,
        name: &str,
        role: Role,
        expires_at: Option<DateTime<Utc>>,
        created_by: &str,
    ) -> Result<NewToken> {
        let now = self.now();
        tokens::create(&mut self.store(), name, role, expires_at, created_by, now)
    }

    pub fn tokens(&self) -> Result<Vec<TokenInfo>> {
        tokens::list(&self.store())
    }

    /// Revokes a live token by id or name; returns its id.
    pub fn revoke_token(&self, id_or_name: &str, by: &str) -> Result<i64> {
        tokens::revoke(&self.store(), id_or_name, by, self.now())
    }

    /// Deletes expired sessions and sign-in counts that no longer count (also done at each
    /// sign-in).
    pub fn purge(&self) -> Result<()> {
        let now = self.now();
        purge_with(&mut self.store(), &self.settings, now)
    }
}

fn purge_with(store: &mut Store, settings: &AuthSettings, now: DateTime<Utc>) -> Result<()> {
    store.sessions_purge(
        now - delta(settings.sessions.idle),
        now - delta(settings.sessions.absolute),
    )?;
    throttle::purge(store, &settings.throttle, now)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::AuthError;
    use crate::settings::BreakGlass;
    use std::sync::atomic::{AtomicI64, Ordering};

    /// An `Auth` with a break-glass admin `root` (password `right-pw`), a directory that is
    /// not there, and a clock the test moves.
    fn auth() -> (Auth, Arc<AtomicI64>) {
        let mut s = crate::settings::tests::sample();
        s.directory.url = "ldaps://127.0.0.1:1".into();
        s.break_glass = Some(BreakGlass {
            user: "root".into(),
            password_hash: break_glass::tests::cheap_hash("right-pw"),
        });
        let secs = Arc::new(AtomicI64::new(1_750_000_000));
        let c = secs.clone();
        let a = Auth::new(s, Store::in_memory().unwrap())
            .unwrap()
            .with_clock(Arc::new(move || {
                DateTime::from_timestamp(c.load(Ordering::SeqCst), 0).unwrap()
            }));
        (a, secs)
    }

    #[tokio::test]
    async fn the_tenth_wrong_password_is_throttled_and_then_the_right_one_too_until_expiry() {
        let (auth, clock) = auth();
        let ip: Option<IpAddr> = Some("192.0.2.3".parse().unwrap());
        let mut kinds = Vec::new();
        for _ in 0..10 {
            let e = auth
                .login("root", &Secret::new("wrong-pw"), ip)
                .await
                .unwrap_err();
            kinds.push(e.kind());
            clock.fetch_add(1, Ordering::SeqCst);
        }
        assert_eq!(kinds[..5], ["invalid-credentials"; 5]);
        assert_eq!(kinds[5..], ["throttled"; 5], "{kinds:?}");
        let e = auth
            .login("root", &Secret::new("right-pw"), ip)
            .await
            .unwrap_err();
        assert!(matches!(e, AuthError::Throttled { .. }), "{e}");
        // After the lockout (15 minutes from the fifth failure) the right password works.
        clock.fetch_add(15 * 60, Ordering::SeqCst);
        let s = auth
            .login("root", &Secret::new("right-pw"), ip)
            .await
            .unwrap();
        assert_eq!(s.principal.via, Via::BreakGlass);
        assert_eq!(s.principal.role, Role::Admin);
        assert_eq!(
            auth.session(&s.cookie_value).unwrap().principal.name,
            "root"
        );
        // The account's count was cleared: five more failures are needed to lock it again.
        for _ in 0..4 {
            let e = auth.login("root", &Secret::new("x"), ip).await.unwrap_err();
            assert_eq!(e.kind(), "invalid-credentials");
        }
        assert!(auth.logout(&s.cookie_value).unwrap());
        assert!(matches!(
            auth.session(&s.cookie_value),
            Err(AuthError::UnknownSession)
        ));
    }

    #[tokio::test]
    async fn parallel_guesses_of_one_account_wait_for_each_other() {
        let (auth, _) = auth();
        let auth = Arc::new(auth);
        let tries: Vec<_> = (0..12)
            .map(|_| {
                let auth = auth.clone();
                tokio::spawn(async move {
                    auth.login("root", &Secret::new("wrong-pw"), None)
                        .await
                        .unwrap_err()
                        .kind()
                })
            })
            .collect();
        let mut kinds = Vec::new();
        for t in tries {
            kinds.push(t.await.unwrap());
        }
        let wrong = kinds
            .iter()
            .filter(|k| **k == "invalid-credentials")
            .count();
        assert_eq!(wrong, 5, "{kinds:?}");
        assert!(auth.in_flight.lock().unwrap().is_empty());
        // The sign-in future can be handed to axum (Send).
        fn is_send<T: Send>(_: &T) {}
        is_send(&auth.login("x", &Secret::new("y"), None));
    }

    #[tokio::test]
    async fn a_directory_that_is_down_is_not_a_wrong_password() {
        let (auth, _) = auth();
        for _ in 0..8 {
            let e = auth
                .login("alice", &Secret::new("pw"), None)
                .await
                .unwrap_err();
            assert_eq!(e.kind(), "directory-unavailable", "{e}");
            assert!(!e.to_string().contains("pw\""));
        }
        let e = auth
            .login("alice", &Secret::new(""), None)
            .await
            .unwrap_err();
        assert!(matches!(e, AuthError::EmptyPassword));
    }

    #[tokio::test]
    async fn tokens_through_auth() {
        let (auth, _) = auth();
        let t = auth.create_token("ci", Role::Viewer, None, "root").unwrap();
        assert_eq!(auth.token(&t.secret).unwrap().audit_name(), "token:ci");
        assert_eq!(auth.tokens().unwrap().len(), 1);
        auth.revoke_token("ci", "root").unwrap();
        assert!(auth.token(&t.secret).is_err());
        auth.purge().unwrap();
    }
}
