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
//!   ([`OAuthRefresh::initial_refresh_token`]), which therefore only matters for the first run;
//! - concurrent callers share one refresh (the cache mutex is held across it), and the refresh
//!   runs in its own task, so a caller that gives up half-way (a dropped future) cannot lose a
//!   rotated token between the server's answer and the store write;
//! - the access token lives in memory only and is reused while it has more than
//!   [`EXPIRY_MARGIN`] left;
//! - no error, log line or `Debug` output contains a secret (the token URL's query carries the
//!   subscription key, so transport errors are stripped of their URL).
//!
//! One store file belongs to one integration of one hrsync installation: two processes refreshing
//! from the same store at the same time would both present the same single-use token and one of
//! them would be refused (hrsync runs one sync per state directory at a time).

use crate::SourceError;
use crate::http::{self, Attempt, RetryPolicy};
use hrsync_model::Secret;
use serde_json::Value;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;

#[cfg(test)]
mod tests;

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
    /// exist yet.
    pub initial_refresh_token: Secret,
    /// The file holding the latest rotated refresh token (mode 0600; its directory 0700).
    pub store: PathBuf,
    /// Query parameters appended to the token URL, e.g. `("subscription-key", key)`.
    pub query_secrets: Vec<(String, Secret)>,
    /// Timeout of one token request.
    pub timeout: Duration,
}

impl OAuthRefresh {
    /// A cached, cheap-to-clone handle that hands out a valid access token.
    pub fn into_provider(self) -> TokenProvider {
        TokenProvider {
            inner: Arc::new(Inner {
                cfg: self,
                cache: Arc::new(Mutex::new(None)),
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
}

struct Cached {
    token: Secret,
    expires: Instant,
}

impl Cached {
    fn usable(&self, now: Instant) -> bool {
        self.expires.saturating_duration_since(now) > EXPIRY_MARGIN
    }
}

impl TokenProvider {
    /// A valid access token: the cached one while it has more than [`EXPIRY_MARGIN`] left,
    /// else a refresh (whose rotated refresh token is saved before this returns).
    pub async fn access_token(&self) -> Result<Secret, SourceError> {
        let mut guard = Arc::clone(&self.inner.cache).lock_owned().await;
        if let Some(c) = guard.as_ref()
            && c.usable(Instant::now())
        {
            return Ok(c.token.clone());
        }
        *guard = None;
        // The refresh owns the lock and runs in its own task: if this caller is dropped
        // mid-way, the refresh still finishes and saves the rotated token, and nobody else
        // starts a refresh with the retired one meanwhile.
        let inner = Arc::clone(&self.inner);
        let task = tokio::spawn(async move {
            let fresh = inner.refresh().await?;
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

    /// Forgets the cached access token (call after the API answered 401), so the next
    /// [`Self::access_token`] refreshes.
    pub async fn invalidate(&self) {
        *self.inner.cache.lock().await = None;
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
                        .saturating_duration_since(Instant::now())
                        .as_secs()
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

/// Where the refresh token of this refresh came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Origin {
    Store,
    Configured,
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
        let known = [&cfg.client_secret, &cfg.initial_refresh_token]
            .into_iter()
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

    /// The refresh token to present: the store's when it exists, else the configured one.
    fn current_refresh_token(&self) -> Result<(Secret, Origin), SourceError> {
        use std::os::unix::fs::PermissionsExt;
        let path = &self.cfg.store;
        let shown = self.store_display();
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok((self.cfg.initial_refresh_token.clone(), Origin::Configured));
            }
            Err(e) => {
                return Err(
                    self.config(format!("cannot read the refresh-token store {shown}: {e}"))
                );
            }
        };
        if !meta.is_file() {
            return Err(self.config(format!(
                "the refresh-token store {shown} is not a regular file"
            )));
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(self.config(format!(
                "the refresh-token store {shown} has permissions {mode:04o}: it holds a live \
                 credential and must be readable by its owner only; run `chmod 600 {shown}` \
                 (and consider re-authorizing the app if others could have read it)"
            )));
        }
        let text = fs::read_to_string(path).map_err(|e| {
            self.config(format!("cannot read the refresh-token store {shown}: {e}"))
        })?;
        let token = text.trim();
        if token.is_empty() {
            tracing::warn!(
                integration = %self.cfg.integration,
                store = %shown,
                "the refresh-token store is empty; using the configured refresh token"
            );
            return Ok((self.cfg.initial_refresh_token.clone(), Origin::Configured));
        }
        Ok((Secret::new(token), Origin::Store))
    }

    /// One refresh: read the refresh token, POST (with bounded retries), save the rotated
    /// refresh token, return the access token.
    async fn refresh(&self) -> Result<Cached, SourceError> {
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
        let (refresh_token, origin) = self.current_refresh_token()?;
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
        let started = Instant::now();
        let attempts = AtomicUsize::new(0);
        let reached = AtomicBool::new(false);
        let what = format!("{} token refresh", cfg.integration);
        let res = http::with_retries(REFRESH_RETRY, &what, || {
            attempts.fetch_add(1, Ordering::Relaxed);
            self.post(&client, &refresh_token, &reached)
        })
        .await;
        // Whether a failed attempt may have been processed (and the token rotated) server-side.
        let risky = reached.load(Ordering::Relaxed);
        let answer = match res {
            Ok(Answer::Token(t)) => t,
            Ok(Answer::Refused {
                status,
                kind,
                detail,
            }) => {
                let retried = attempts.load(Ordering::Relaxed) > 1 && risky;
                return Err(self.refused(status, kind, &detail, origin, retried));
            }
            Err(e) => {
                return Err(self.failed(format!(
                    "token refresh failed: {}{}",
                    e.message(),
                    if risky {
                        "; a failed attempt may have rotated the refresh token on the server, \
                         so if the next run is refused (invalid_grant) the app must be re-authorized"
                    } else {
                        ""
                    }
                )));
            }
        };

        let rotated = answer
            .refresh_token
            .as_ref()
            .is_some_and(|new| new.expose() != refresh_token.expose());
        if let Some(new) = answer.refresh_token.filter(|_| rotated) {
            self.save(new).await?;
        }
        tracing::info!(
            integration = %cfg.integration,
            expires_in_s = answer.expires_in.as_secs(),
            rotated,
            "access token refreshed"
        );
        let expires = started
            .checked_add(answer.expires_in)
            .unwrap_or_else(|| started + DEFAULT_EXPIRES_IN);
        Ok(Cached {
            token: answer.access_token,
            expires,
        })
    }

    /// Saves the rotated refresh token (off the async runtime: it fsyncs).
    async fn save(&self, token: Secret) -> Result<(), SourceError> {
        let path = self.cfg.store.clone();
        let saved = tokio::task::spawn_blocking(move || save_store(&path, &token)).await;
        let err = match saved {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "the write task panicked".to_owned(),
        };
        let shown = self.store_display();
        Err(SourceError::Failed {
            integration: self.cfg.integration.clone(),
            endpoint: shown.clone(),
            message: format!(
                "the token endpoint rotated the refresh token but the new one could not be saved \
                 to {shown}: {err}. The previous refresh token is retired now: fix the cause, \
                 re-authorize the app, put the fresh refresh token in the configured secret and \
                 delete {shown} if it exists"
            ),
        })
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
                     rotation (used already), revoked or has expired{retry_note}. The admin must \
                     re-authorize the app, put the fresh refresh token in the configured secret \
                     (env var or file) and delete the store file {shown} (it holds the retired \
                     token; hrsync would otherwise keep using it)"
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
        refresh_token: &Secret,
        reached: &AtomicBool,
    ) -> Result<Answer, Attempt> {
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
        let req = req.form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
            ("client_id", cfg.client_id.as_str()),
            ("client_secret", cfg.client_secret.expose()),
        ]);
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

/// Atomically replaces `path` with `token` (plus a newline): a 0600 temp file in the same
/// directory, fsync, rename, fsync of the directory. Creates the directory (0700) when missing.
fn save_store(path: &Path, token: &Secret) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the store path has no file name",
        )
    })?;
    if !dir.is_dir() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(
        ".{}.{}.{}.{nanos}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(token.expose().as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // The new token is in place; a failed directory fsync only weakens durability across a
    // power loss, which is not worth failing the run (and asking for a re-authorization) over.
    if let Err(e) = fs::File::open(&dir).and_then(|d| d.sync_all()) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot fsync the refresh-token store directory");
    }
    Ok(())
}
