//! OAuth 2.0 refresh-token flow with refresh-token rotation, for HR APIs that hand out
//! short-lived access tokens (Paycor: `POST /sts/v1/common/token?subscription-key=…`, 30-minute
//! access tokens, single-use refresh tokens).
//!
//! A scheduled sync holds a refresh token, not an access token. Every refresh answers a new
//! access token and (on a rotating server) a **new refresh token, retiring the old one**. Losing
//! the new one means the next run fails until an admin re-authorizes the app, so:
//!
//! - the rotated refresh token is saved to [`OAuthRefresh::store`] **before** the access token is
//!   used: temp file (mode 0600) in the same directory, fsync, rename over the store, fsync of the
//!   directory. The store's directory is created with mode 0700 when missing;
//! - a store readable by group or others is refused (like ssh does with keys): `chmod 600` it;
//! - the refresh token is read from the store when it exists, else from the configured secret
//!   ([`OAuthRefresh::initial_refresh_token`]), which therefore only matters for the first run
//!   (`hrsync oauth authorize` writes the store directly: [`TokenProvider::authorize_with_code`]);
//! - concurrent callers of one provider share one refresh (the cache mutex is held across it),
//!   and the refresh runs in its own task, so a caller that gives up half-way (a dropped future)
//!   cannot lose a rotated token between the server's answer and the store write;
//! - **across processes** (the daemon and a CLI run on the same store) an advisory lock on
//!   `<store>.lock` is held across read store → refresh → write store, and the store also holds
//!   the current access token and its expiry, so the process that waited on the lock uses the
//!   access token the other one just obtained instead of refreshing a second time (see
//!   [`store`] for why);
//! - an access token is reused while it has more than [`EXPIRY_MARGIN`] left on the provider's
//!   [`Clock`]; one the API refused ([`TokenProvider::invalidate`]) is never taken from the store
//!   again;
//! - no error, log line or `Debug` output contains a secret (the token URL's query carries the
//!   subscription key, so transport errors are stripped of their URL).

use crate::SourceError;
use crate::http::{self, Attempt, RetryPolicy};
use hrsync_model::Secret;
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};
use tokio::sync::Mutex;

pub mod authorize;
pub mod store;
#[cfg(test)]
mod tests;

use store::{LOCK_WAIT, Stored};

/// The wall clock token expiry is judged by: the system clock, moved forward by
/// [`Clock::advance`] (tests simulate hours of a daemon's life without waiting). Clones share
/// the offset.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicU64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    pub fn now(&self) -> SystemTime {
        SystemTime::now() + Duration::from_millis(self.offset_ms.load(Ordering::SeqCst))
    }

    /// Moves this clock (and its clones) forward.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

/// A cached access token with less than this left is refreshed before it is handed out.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// Access-token lifetime assumed when the token answer has no `expires_in`.
pub const DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(3600);

/// Upper bound on a believed `expires_in` (a garbage value must not pin a token for years).
const MAX_EXPIRES_IN: Duration = Duration::from_secs(30 * 86_400);

/// Upper bound on a `Retry-After` waited out during a refresh.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Retries of one refresh: at most 2, only when no answer arrived or on 429/5xx.
///
/// Risk, accepted knowingly: the refresh is not idempotent. A 5xx (or a connection that dies
/// after the request went out) may come *after* the server already rotated the token; the retry
/// then presents a retired token and is refused with `invalid_grant`, and the admin has to
/// re-authorize. Not retrying would not save that token either (we never received it), while a
/// 5xx that happened before the rotation (the common case: gateway/back-end hiccup) is fixed by
/// the retry. The refusal message says when an earlier attempt failed this way.
const REFRESH_RETRY: RetryPolicy = RetryPolicy {
    max_retries: 2,
    min_delay: Duration::from_millis(500),
    max_delay: Duration::from_secs(5),
    deadline: Duration::from_secs(60),
};

/// Longest excerpt of a server's error text put into an error message.
const MAX_DETAIL: usize = 200;

/// Where the current refresh token lives between runs, and how to use it.
#[derive(Debug, Clone)]
pub struct OAuthRefresh {
    /// The integration's name, for error messages.
    pub integration: String,
    /// The token endpoint, e.g. `https://apis.paycor.com/sts/v1/common/token`.
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// The refresh token from the config (env or file); used only while [`Self::store`] does not
    /// exist yet. `None`: the store must exist (written by `hrsync oauth authorize`).
    pub initial_refresh_token: Option<Secret>,
    /// The file holding the latest rotated refresh token and the current access token (mode
    /// 0600; its directory 0700), locked through `<store>.lock`.
    pub store: PathBuf,
    /// Query parameters appended to the token URL, e.g. `("subscription-key", key)`.
    pub query_secrets: Vec<(String, Secret)>,
    /// Timeout of one token request.
    pub timeout: Duration,
    /// The clock expiry is judged by.
    pub clock: Clock,
}

impl OAuthRefresh {
    /// A cached, cheap-to-clone handle that hands out a valid access token.
    pub fn into_provider(self) -> TokenProvider {
        TokenProvider {
            inner: Arc::new(Inner {
                cfg: self,
                cache: Arc::new(Mutex::new(None)),
                refused: std::sync::Mutex::new(None),
            }),
        }
    }
}

/// Hands out a valid access token, refreshing (and rotating) when needed. Clones share the
/// cache; `Debug` shows no secret.
#[derive(Clone)]
pub struct TokenProvider {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: OAuthRefresh,
    cache: Arc<Mutex<Option<Cached>>>,
    /// The last access token the API refused: never taken from the store again.
    refused: std::sync::Mutex<Option<Secret>>,
}

struct Cached {
    token: Secret,
    expires: SystemTime,
}

/// Whether a token expiring at `expires` has more than [`EXPIRY_MARGIN`] left at `now`.
fn usable(expires: SystemTime, now: SystemTime) -> bool {
    expires
        .duration_since(now)
        .is_ok_and(|left| left > EXPIRY_MARGIN)
}

/// What a token request presents.
enum Grant<'a> {
    Refresh(&'a Secret),
    Code {
        code: &'a Secret,
        verifier: &'a Secret,
        redirect_uri: &'a str,
    },
}

impl Grant<'_> {
    /// The single-use secret of this grant (redacted from messages).
    fn secret(&self) -> &Secret {
        match self {
            Grant::Refresh(s) => s,
            Grant::Code { code, .. } => code,
        }
    }
}

impl TokenProvider {
    /// A valid access token: the cached one while it has more than [`EXPIRY_MARGIN`] left,
    /// else a refresh (whose rotated refresh token is saved before this returns).
    pub async fn access_token(&self) -> Result<Secret, SourceError> {
        let mut guard = Arc::clone(&self.inner.cache).lock_owned().await;
        if let Some(c) = guard.as_ref()
            && usable(c.expires, self.inner.cfg.clock.now())
        {
            return Ok(c.token.clone());
        }
        *guard = None;
        // The refresh owns the lock and runs in its own task: if this caller is dropped
        // mid-way, the refresh still finishes and saves the rotated token, and nobody else
        // starts a refresh with the retired one meanwhile.
        let inner = Arc::clone(&self.inner);
        let task = tokio::spawn(async move {
            let fresh = inner.obtain().await?;
            let token = fresh.token.clone();
            *guard = Some(fresh);
            Ok(token)
        });
        match task.await {
            Ok(res) => res,
            Err(_) => Err(self.inner.failed(
                "the token refresh task panicked or was cancelled; the refresh token store may need checking",
            )),
        }
    }

    /// The API answered 401 to `refused`: forget it (when it is still the cached one: another
    /// caller may have refreshed meanwhile, and that fresh token is kept), so the next
    /// [`Self::access_token`] refreshes; `refused` is not taken from the store again either.
    pub async fn invalidate(&self, refused: &Secret) {
        let mut cache = self.inner.cache.lock().await;
        if cache
            .as_ref()
            .is_some_and(|c| c.token.expose() == refused.expose())
        {
            *cache = None;
        }
        *self
            .inner
            .refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(refused.clone());
    }

    /// Exchanges an authorization code (`grant_type=authorization_code`, with the PKCE
    /// verifier) for the first tokens and writes the store (mode 0600), replacing what it
    /// held. Fails when the answer carries no refresh token (`offline_access` not granted).
    pub async fn authorize_with_code(
        &self,
        code: &Secret,
        verifier: &Secret,
        redirect_uri: &str,
    ) -> Result<(), SourceError> {
        let mut guard = Arc::clone(&self.inner.cache).lock_owned().await;
        *guard = None;
        let inner = Arc::clone(&self.inner);
        let (code, verifier, redirect_uri) =
            (code.clone(), verifier.clone(), redirect_uri.to_owned());
        let task = tokio::spawn(async move {
            let fresh = inner.exchange_code(&code, &verifier, &redirect_uri).await?;
            *guard = Some(fresh);
            Ok(())
        });
        match task.await {
            Ok(res) => res,
            Err(_) => Err(self
                .inner
                .failed("the code exchange task panicked or was cancelled")),
        }
    }

    /// Whether `other` is this very provider (one cache, one refresh at a time).
    pub fn is_shared_with(&self, other: &TokenProvider) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The integration this provider belongs to.
    pub fn integration(&self) -> &str {
        &self.inner.cfg.integration
    }

    /// The refresh-token store file.
    pub fn store(&self) -> &Path {
        &self.inner.cfg.store
    }
}

impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = match self.inner.cache.try_lock() {
            Ok(g) => match g.as_ref() {
                Some(c) => format!(
                    "access token valid for {}s",
                    c.expires
                        .duration_since(self.inner.cfg.clock.now())
                        .map(|d| d.as_secs())
                        .unwrap_or(0)
                ),
                None => "none".to_owned(),
            },
            Err(_) => "refresh in progress".to_owned(),
        };
        f.debug_struct("TokenProvider")
            .field("integration", &self.inner.cfg.integration)
            .field("token_url", &self.inner.endpoint())
            .field("store", &self.inner.cfg.store)
            .field("cached", &cached)
            .finish_non_exhaustive()
    }
}

/// Where the refresh token of this refresh came from (or that it was a code).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Origin {
    Store,
    Configured,
    Code,
}

/// A successful token answer.
struct TokenAnswer {
    access_token: Secret,
    expires_in: Duration,
    refresh_token: Option<Secret>,
}

/// Why the token endpoint refused (not retried).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Refusal {
    /// `invalid_grant`: the refresh token is used (rotated), revoked or expired.
    Grant,
    /// `invalid_client` / `unauthorized_client`: client id or secret.
    Client,
    /// Any other 401/403 (e.g. the API gateway's subscription-key check).
    Other,
}

/// What one token request produced, short of a retryable failure.
enum Answer {
    Token(TokenAnswer),
    Refused {
        status: u16,
        kind: Refusal,
        detail: String,
    },
}

impl Inner {
    /// The token URL without its query, for messages.
    fn endpoint(&self) -> String {
        let url = &self.cfg.token_url;
        url.split(['?', '#']).next().unwrap_or(url).to_owned()
    }

    fn store_display(&self) -> String {
        self.cfg.store.display().to_string()
    }

    fn failed(&self, message: impl Into<String>) -> SourceError {
        SourceError::Failed {
            integration: self.cfg.integration.clone(),
            endpoint: self.endpoint(),
            message: message.into(),
        }
    }

    fn config(&self, message: impl Into<String>) -> SourceError {
        SourceError::Config {
            integration: self.cfg.integration.clone(),
            message: message.into(),
        }
    }

    fn auth(&self, status: u16, message: String) -> SourceError {
        SourceError::Auth {
            integration: self.cfg.integration.clone(),
            status,
            message,
        }
    }

    /// `text` with every secret this refresh knows replaced by `[redacted]`.
    fn redact(&self, text: &str, extra: &[&Secret]) -> String {
        let cfg = &self.cfg;
        let mut out = text.to_owned();
        let known = std::iter::once(&cfg.client_secret)
            .chain(cfg.initial_refresh_token.as_ref())
            .chain(cfg.query_secrets.iter().map(|(_, s)| s))
            .chain(extra.iter().copied());
        for s in known {
            let v = s.expose();
            if !v.is_empty() && out.contains(v) {
                out = out.replace(v, "[redacted]");
            }
        }
        out
    }

    /// A transport failure (no answer, or the answer broke off): retryable. The URL is removed
    /// from the error because its query carries the subscription key. Anything but a failed
    /// connect may have reached the server (and rotated the token there): noted in `reached`.
    fn transport(
        &self,
        e: reqwest::Error,
        refresh_token: &Secret,
        reached: &AtomicBool,
    ) -> Attempt {
        let e = e.without_url();
        if !e.is_connect() {
            reached.store(true, Ordering::Relaxed);
        }
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "cannot connect"
        } else {
            "request failed"
        };
        let mut message = format!("{kind}: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        Attempt::Transient {
            message: self.redact(&message, &[refresh_token]),
            retry_after: None,
        }
    }

    /// Runs `f` (blocking file work) off the async runtime.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, SourceError> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|_| self.failed("a token store task panicked"))
    }

    /// Takes the store's cross-process lock (waiting at most [`LOCK_WAIT`]).
    async fn lock(&self) -> Result<store::StoreLock, SourceError> {
        let path = self.cfg.store.clone();
        self.blocking(move || store::lock_store(&path, LOCK_WAIT))
            .await?
            .map_err(|e| {
                self.failed(format!(
                    "cannot lock the token store {}: {e}",
                    self.store_display()
                ))
            })
    }

    /// The store's content; `None` when there is no store yet.
    async fn read(&self) -> Result<Option<Stored>, SourceError> {
        let path = self.cfg.store.clone();
        self.blocking(move || store::read_store(&path))
            .await?
            .map_err(|m| self.config(m))
    }

    fn is_refused(&self, token: &Secret) -> bool {
        self.refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .is_some_and(|r| r.expose() == token.expose())
    }

    /// A valid access token: the store's when another process (or an earlier run) obtained one
    /// that is still usable and not refused, else a refresh. Holds the store's lock throughout.
    async fn obtain(&self) -> Result<Cached, SourceError> {
        let cfg = &self.cfg;
        let _lock = self.lock().await?;
        let stored = self.read().await?.unwrap_or_default();
        if let Some((token, expires)) = &stored.access
            && usable(*expires, cfg.clock.now())
            && !self.is_refused(token)
        {
            tracing::debug!(integration = %cfg.integration, "access token taken from the token store");
            return Ok(Cached {
                token: token.clone(),
                expires: *expires,
            });
        }
        let (refresh_token, origin) = match (stored.refresh_token, &cfg.initial_refresh_token) {
            (Some(t), _) => (t, Origin::Store),
            (None, Some(t)) if !t.expose().trim().is_empty() => (t.clone(), Origin::Configured),
            (None, _) => {
                return Err(self.config(format!(
                    "no refresh token yet: the token store {} does not exist and no \
                     refresh_token is configured; run `hrsync oauth authorize -c <config> {}` \
                     once to authorize the app",
                    self.store_display(),
                    cfg.integration
                )));
            }
        };
        let started = cfg.clock.now();
        let answer = self
            .request(&Grant::Refresh(&refresh_token), origin)
            .await?;
        let rotated = answer
            .refresh_token
            .as_ref()
            .is_some_and(|new| new.expose() != refresh_token.expose());
        let expires = started + answer.expires_in;
        let saved = self
            .save(Stored {
                refresh_token: Some(answer.refresh_token.unwrap_or(refresh_token)),
                access: Some((answer.access_token.clone(), expires)),
            })
            .await;
        match saved {
            Ok(()) => {}
            Err(e) if rotated => return Err(self.lost_rotation(&e)),
            // Nothing rotated: the refresh token in the store (or config) is still good; only
            // the other processes miss this access token.
            Err(e) => tracing::warn!(
                integration = %cfg.integration,
                store = %self.store_display(),
                error = %e,
                "cannot save the access token to the token store"
            ),
        }
        tracing::info!(
            integration = %cfg.integration,
            expires_in_s = answer.expires_in.as_secs(),
            rotated,
            "access token refreshed"
        );
        Ok(Cached {
            token: answer.access_token,
            expires,
        })
    }

    /// The authorization-code grant: the first tokens, written to the store.
    async fn exchange_code(
        &self,
        code: &Secret,
        verifier: &Secret,
        redirect_uri: &str,
    ) -> Result<Cached, SourceError> {
        let cfg = &self.cfg;
        let _lock = self.lock().await?;
        let started = cfg.clock.now();
        let grant = Grant::Code {
            code,
            verifier,
            redirect_uri,
        };
        let answer = self.request(&grant, Origin::Code).await?;
        let Some(refresh_token) = answer.refresh_token else {
            return Err(self.failed(
                "the token endpoint answered no refresh token: the authorization must include \
                 the offline_access scope (hrsync adds it to the URL; check the app's settings)",
            ));
        };
        let expires = started + answer.expires_in;
        self.save(Stored {
            refresh_token: Some(refresh_token),
            access: Some((answer.access_token.clone(), expires)),
        })
        .await
        .map_err(|e| {
            self.failed(format!(
                "the app was authorized but the tokens could not be saved to {}: {e}; fix the \
                 cause and run `hrsync oauth authorize` again",
                self.store_display()
            ))
        })?;
        tracing::info!(integration = %cfg.integration, "authorized; token store written");
        Ok(Cached {
            token: answer.access_token,
            expires,
        })
    }

    /// One token request (with bounded retries), its failures turned into errors.
    async fn request(&self, grant: &Grant<'_>, origin: Origin) -> Result<TokenAnswer, SourceError> {
        let cfg = &self.cfg;
        if let Err(e) = reqwest::Url::parse(&cfg.token_url) {
            return Err(self.config(format!(
                "token_url {:?} is not a valid URL: {e}",
                self.endpoint()
            )));
        }
        if cfg.client_id.trim().is_empty() {
            return Err(self.config("client_id is empty"));
        }
        // No redirects: a 307/308 would resend the form (refresh token, client secret) elsewhere.
        let client = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("hrsync/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                self.config(format!(
                    "cannot build the HTTP client: {}",
                    self.redact(&e.without_url().to_string(), &[])
                ))
            })?;
        let attempts = AtomicUsize::new(0);
        let reached = AtomicBool::new(false);
        let what = format!("{} token refresh", cfg.integration);
        let res = http::with_retries(REFRESH_RETRY, &what, || {
            attempts.fetch_add(1, Ordering::Relaxed);
            self.post(&client, grant, &reached)
        })
        .await;
        // Whether a failed attempt may have been processed (and the token rotated) server-side.
        let risky = reached.load(Ordering::Relaxed);
        match res {
            Ok(Answer::Token(t)) => Ok(t),
            Ok(Answer::Refused {
                status,
                kind,
                detail,
            }) => {
                let retried = attempts.load(Ordering::Relaxed) > 1 && risky;
                Err(self.refused(status, kind, &detail, origin, retried))
            }
            Err(e) => Err(self.failed(format!(
                "token {} failed: {}{}",
                if origin == Origin::Code {
                    "exchange"
                } else {
                    "refresh"
                },
                e.message(),
                if risky && origin != Origin::Code {
                    "; a failed attempt may have rotated the refresh token on the server, \
                     so if the next run is refused (invalid_grant) the app must be re-authorized"
                } else {
                    ""
                }
            ))),
        }
    }

    /// Writes the store (off the async runtime: it fsyncs).
    async fn save(&self, stored: Stored) -> Result<(), String> {
        let path = self.cfg.store.clone();
        match tokio::task::spawn_blocking(move || store::save_store(&path, &stored)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the write task panicked".to_owned()),
        }
    }

    /// The error when a rotated refresh token could not be saved.
    fn lost_rotation(&self, err: &str) -> SourceError {
        let shown = self.store_display();
        SourceError::Failed {
            integration: self.cfg.integration.clone(),
            endpoint: shown.clone(),
            message: format!(
                "the token endpoint rotated the refresh token but the new one could not be saved \
                 to {shown}: {err}. The previous refresh token is retired now: fix the cause, \
                 run `hrsync oauth authorize` again (or put a fresh refresh token in the \
                 configured secret and delete {shown} if it exists)"
            ),
        }
    }

    /// The error for a refusal.
    fn refused(
        &self,
        status: u16,
        kind: Refusal,
        detail: &str,
        origin: Origin,
        retried: bool,
    ) -> SourceError {
        let shown = self.store_display();
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!(" ({detail})")
        };
        let message = match kind {
            Refusal::Grant => {
                let from = match origin {
                    Origin::Store => format!("read from the store {shown}"),
                    Origin::Configured => {
                        format!("from the configured secret (no usable store {shown} yet)")
                    }
                    Origin::Code => {
                        return self.auth(
                            status,
                            format!(
                                "the authorization code was refused{detail}: it was used \
                                 already, is older than 10 minutes, or the redirect URI or \
                                 PKCE verifier does not match the authorization; run \
                                 `hrsync oauth authorize` again"
                            ),
                        );
                    }
                };
                let retry_note = if retried {
                    "; an earlier attempt of this refresh failed without an answer or with a \
                     server error, so the server may have rotated the token without hrsync \
                     receiving the new one"
                } else {
                    ""
                };
                format!(
                    "the refresh token {from} was refused{detail}: it has been retired by a \
                     rotation (used already), revoked or has expired{retry_note}. Re-authorize \
                     the app: `hrsync oauth authorize -c <config> {}` writes a new store {shown} \
                     (or put a fresh refresh token in the configured secret and delete {shown}: \
                     it holds the retired token, which hrsync would otherwise keep using)",
                    self.cfg.integration
                )
            }
            Refusal::Client => format!(
                "the client id or client secret was refused{detail}; check client_id and the \
                 configured client secret"
            ),
            Refusal::Other => format!(
                "the token endpoint refused the request{detail}; check the subscription key and \
                 the client credentials"
            ),
        };
        self.auth(status, message)
    }

    /// One token request.
    async fn post(
        &self,
        client: &reqwest::Client,
        grant: &Grant<'_>,
        reached: &AtomicBool,
    ) -> Result<Answer, Attempt> {
        let refresh_token = grant.secret();
        let cfg = &self.cfg;
        let mut req = client
            .post(&cfg.token_url)
            .header(reqwest::header::ACCEPT, "application/json");
        if !cfg.query_secrets.is_empty() {
            let query: Vec<(&str, &str)> = cfg
                .query_secrets
                .iter()
                .map(|(k, v)| (k.as_str(), v.expose()))
                .collect();
            req = req.query(&query);
        }
        let req = match grant {
            Grant::Refresh(t) => req.form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", t.expose()),
                ("client_id", cfg.client_id.as_str()),
                ("client_secret", cfg.client_secret.expose()),
            ]),
            Grant::Code {
                code,
                verifier,
                redirect_uri,
            } => req.form(&[
                ("grant_type", "authorization_code"),
                ("code", code.expose()),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier.expose()),
                ("client_id", cfg.client_id.as_str()),
                ("client_secret", cfg.client_secret.expose()),
            ]),
        };
        let resp = req
            .send()
            .await
            .map_err(|e| self.transport(e, refresh_token, reached))?;
        let status = resp.status().as_u16();
        let retry_after = http::retry_after(resp.headers()).map(|d| d.min(MAX_RETRY_AFTER));
        if status >= 500 {
            reached.store(true, Ordering::Relaxed);
        }
        // A body that breaks off after a 200 loses a token the server may have rotated; the
        // retry is then refused and says so.
        let body = resp
            .bytes()
            .await
            .map_err(|e| self.transport(e, refresh_token, reached))?;
        self.classify(status, &body, retry_after, refresh_token)
    }

    /// Turns a token endpoint's answer into an [`Answer`] or a failed [`Attempt`].
    fn classify(
        &self,
        status: u16,
        body: &[u8],
        retry_after: Option<Duration>,
        refresh_token: &Secret,
    ) -> Result<Answer, Attempt> {
        if (200..300).contains(&status) {
            return parse_token_answer(body)
                .map(Answer::Token)
                .map_err(|why| Attempt::Permanent {
                    status: Some(status),
                    message: format!(
                        "HTTP {status} but {why}; the refresh token may have been rotated by this \
                         call, so if the next run is refused (invalid_grant) the app must be \
                         re-authorized"
                    ),
                });
        }
        let (code, detail) = error_text(body);
        let detail = self.redact(&detail, &[refresh_token]);
        let shown = match (&code, detail.is_empty()) {
            (Some(c), true) => c.clone(),
            (Some(c), false) => format!("{c}: {detail}"),
            (None, _) => detail.clone(),
        };
        match status {
            400 | 401 | 403 => {
                let kind = match code.as_deref() {
                    Some("invalid_grant") => Refusal::Grant,
                    Some("invalid_client" | "unauthorized_client") => Refusal::Client,
                    _ if status != 400 => Refusal::Other,
                    _ => {
                        return Err(Attempt::Permanent {
                            status: Some(status),
                            message: format!("HTTP {status}: {shown}"),
                        });
                    }
                };
                Ok(Answer::Refused {
                    status,
                    kind,
                    detail: shown,
                })
            }
            429 | 500..=599 => Err(Attempt::Transient {
                message: if shown.is_empty() {
                    format!("HTTP {status}")
                } else {
                    format!("HTTP {status}: {shown}")
                },
                retry_after,
            }),
            _ => Err(Attempt::Permanent {
                status: Some(status),
                message: if shown.is_empty() {
                    format!("HTTP {status}")
                } else {
                    format!("HTTP {status}: {shown}")
                },
            }),
        }
    }
}

/// Parses `{access_token, expires_in?, token_type?, refresh_token?}`. The error says what is
/// wrong without quoting the body (it holds tokens).
fn parse_token_answer(body: &[u8]) -> Result<TokenAnswer, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "the body is not JSON ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        )
    })?;
    let access_token = match v.get("access_token") {
        Some(Value::String(s)) if !s.trim().is_empty() => Secret::new(s.trim()),
        _ => return Err("the answer has no access_token".to_owned()),
    };
    if let Some(t) = v.get("token_type").and_then(Value::as_str)
        && !t.eq_ignore_ascii_case("bearer")
    {
        return Err(format!(
            "the token_type is {:?}, not Bearer",
            t.chars().take(20).collect::<String>()
        ));
    }
    let expires_in = match v.get("expires_in") {
        None | Some(Value::Null) => DEFAULT_EXPIRES_IN,
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
            .map(Duration::from_secs)
            .ok_or("expires_in is not a non-negative number")?,
        Some(Value::String(s)) => s
            .trim()
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| "expires_in is not a number".to_owned())?,
        Some(_) => return Err("expires_in is not a number".to_owned()),
    }
    .min(MAX_EXPIRES_IN);
    let refresh_token = match v.get("refresh_token") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(Secret::new(s.trim())),
        Some(_) => return Err("refresh_token is not a string".to_owned()),
    };
    Ok(TokenAnswer {
        access_token,
        expires_in,
        refresh_token,
    })
}

/// The OAuth `error` code (when it looks like one) and a short, printable description from an
/// error body (`error_description`, `message`, `title`/`detail`, or the text itself). Callers
/// redact it.
fn error_text(body: &[u8]) -> (Option<String>, String) {
    let looks_like_code = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    };
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        let text = String::from_utf8_lossy(body);
        return (None, excerpt(&text));
    };
    let code = v
        .get("error")
        .and_then(Value::as_str)
        .filter(|s| looks_like_code(s))
        .map(str::to_owned);
    let detail = ["error_description", "message", "detail", "title"]
        .iter()
        .find_map(|k| {
            v.get(*k)
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
        })
        .map(excerpt)
        .unwrap_or_default();
    (code, detail)
}

/// At most [`MAX_DETAIL`] characters on one line.
fn excerpt(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= MAX_DETAIL {
        one_line
    } else {
        let mut s: String = one_line.chars().take(MAX_DETAIL).collect();
        s.push('…');
        s
    }
}
