//! Sending a prepared webhook: secret headers, retries only where safe, and a record of what
//! was sent and received.

use crate::{Prepared, Webhook};
use hrsync_model::Secret;
use hrsync_source::oauth::TokenProvider;
use hrsync_source::rest::Limiter;
use reqwest::header::{HeaderName, HeaderValue};
use serde::Serialize;
use std::fmt::Write;
use std::time::{Duration, Instant};

/// What a redacted header value shows.
const REDACTED: &str = "[redacted]";

/// The most response body kept in a [`Delivery`].
pub const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// The longest backoff between two attempts (a server's `Retry-After` is capped by
/// [`RetryPolicy::max_wait`] instead).
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Secret values shorter than this are not scrubbed from responses (too likely to match
/// ordinary text).
const MIN_SCRUB_LEN: usize = 6;

/// Delays between attempts, and what a server's answers allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First backoff; doubled on each retry (with jitter), at most [`MAX_BACKOFF`].
    pub base_delay: Duration,
    /// The longest wait a server's `Retry-After` may ask for; a longer one is capped.
    pub max_wait: Duration,
    /// The wait after a 429 without `Retry-After` (`None`: the backoff).
    pub wait_on_429: Option<Duration>,
    /// A server error (5xx) is retried only when the webhook sets `idempotent = true` itself,
    /// whatever the method (Paycor asks clients not to repeat PUT/POST on a 500).
    pub server_errors_need_opt_in: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_delay: Duration::from_millis(250),
            max_wait: Duration::from_secs(30),
            wait_on_429: None,
            server_errors_need_opt_in: false,
        }
    }
}

impl RetryPolicy {
    /// Webhooks that borrow a Paycor integration (`auth = "paycor"`): a 429 without
    /// `Retry-After` waits 60 s, a `Retry-After` is honoured up to 60 s (Paycor's window), and a
    /// 5xx is not retried unless the webhook says `idempotent = true`.
    pub fn paycor() -> RetryPolicy {
        RetryPolicy {
            max_wait: Duration::from_secs(60),
            wait_on_429: Some(Duration::from_secs(60)),
            server_errors_need_opt_in: true,
            ..RetryPolicy::default()
        }
    }

    /// Backoff before attempt `attempt + 1` (`attempt` ≥ 1): `base_delay · 2^(attempt-1)`,
    /// capped at [`MAX_BACKOFF`], with "equal jitter" (between half and all of it).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(20);
        let full = self.base_delay.saturating_mul(1u32 << exp).min(MAX_BACKOFF);
        let half = full / 2;
        half + half.mul_f64(fastrand::f64())
    }
}

/// The request as sent, with secret header values as `[redacted]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestRecord {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// The result of [`deliver`]: the request, the last response, the attempts and why each retry
/// happened or did not. Holds no secret: secret headers are `[redacted]`, and a secret value the
/// server echoes back is scrubbed from the response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// The webhook's name.
    pub webhook: String,
    pub request: RequestRecord,
    /// Attempts made (0 when the request could not even be built).
    pub attempts: u32,
    /// Status of the last response, if one arrived.
    pub status: Option<u16>,
    /// Headers of the last response.
    pub response_headers: Vec<(String, String)>,
    /// Body of the last response (lossy UTF-8), at most [`MAX_RESPONSE_BODY`] bytes; a note
    /// says when it was cut.
    pub response_body: String,
    /// The last response was 2xx.
    pub ok: bool,
    /// Why the delivery failed, naming the webhook; `None` when `ok`.
    pub error: Option<String>,
    /// Time taken, waits between attempts included.
    pub duration_ms: u64,
    /// One line per attempt that failed: why it was retried or why not.
    pub notes: Vec<String>,
}

/// A reqwest client suited to webhooks: redirects are not followed (a 3xx is reported as the
/// answer: following it could carry secret headers to another host or turn a POST into a
/// GET), connect timeout 10 s, `User-Agent: hrsync/<version>`. Per-attempt timeouts come from
/// each webhook.
pub fn client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("hrsync/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The credentials a webhook borrows from an integration (`auth = "<integration>"`).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// Fixed secret headers (a static bearer token, an API key, a subscription key).
    pub headers: Vec<(String, Secret)>,
    /// The integration's OAuth token provider (its cache and token store): each attempt sends
    /// `Authorization: Bearer <a valid access token>`; a 401 refreshes once and sends again
    /// (the server did not process a refused call, so any method may be resent).
    pub oauth: Option<TokenProvider>,
    /// The integration's rate limiter: every attempt waits its turn (one budget per key).
    pub limiter: Option<Limiter>,
}

impl Credentials {
    /// Fixed headers only.
    pub fn headers(headers: Vec<(String, Secret)>) -> Credentials {
        Credentials {
            headers,
            ..Credentials::default()
        }
    }
}

/// How one attempt ended.
enum Outcome {
    /// A response arrived.
    Response {
        status: reqwest::StatusCode,
        retry_after: Option<RetryAfter>,
    },
    /// The connection could not be made: the request never reached the server.
    Connect(String),
    /// The attempt timed out (possibly after the server got the request).
    Timeout(String),
    /// Another transport error after the connection was made (reset, broken body…).
    Other(String),
}

#[derive(Debug, Clone, Copy)]
enum RetryAfter {
    Seconds(u64),
    /// Present but not in the seconds form (an HTTP date, or garbage).
    Unparsed,
}

/// What to do after a failed attempt.
enum Decision {
    Retry { wait: Duration, why: String },
    Stop { why: String },
}

/// Sends `p` (rendered from `hook`) with the secret headers (sent as given, recorded as
/// `[redacted]`; they replace a config header of the same name) and, when given, an
/// `Idempotency-Key` header (replacing one from the config), retrying only where it is safe:
///
/// - connect error (the request never reached the server): retried, any method;
/// - 429, or 503 with `Retry-After`: retried, any method (the server did not process it),
///   after `Retry-After` seconds capped by [`RetryPolicy::max_wait`] (backoff without one);
/// - timeout, a connection error after sending, other 5xx: retried only when the call is
///   idempotent: the webhook's `idempotent` (default by method), or an idempotency key is sent
///   (the argument or an `Idempotency-Key` header in the config);
/// - any other status (4xx, 3xx): not retried.
///
/// At most `hook.max_attempts()` attempts, exponential backoff with jitter between them. Each
/// attempt has the webhook's timeout. Never fails: the [`Delivery`] says what happened.
pub async fn deliver(
    client: &reqwest::Client,
    hook: &Webhook,
    p: &Prepared,
    secret_headers: &[(String, Secret)],
    idempotency_key: Option<&str>,
    policy: &RetryPolicy,
) -> Delivery {
    let creds = Credentials::headers(secret_headers.to_vec());
    deliver_with(client, hook, p, &creds, idempotency_key, policy).await
}

/// [`deliver`] with credentials borrowed from an integration: its fixed headers, its OAuth token
/// provider (a fresh access token per attempt, one refresh on a 401, which does not use up an
/// attempt) and its rate limiter (waited for before every attempt).
pub async fn deliver_with(
    client: &reqwest::Client,
    hook: &Webhook,
    p: &Prepared,
    creds: &Credentials,
    idempotency_key: Option<&str>,
    policy: &RetryPolicy,
) -> Delivery {
    let secret_headers = &creds.headers[..];
    let started = Instant::now();
    let name = hook.name();
    let key_in_config = p
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("idempotency-key"));

    // Headers: the record (secrets redacted) and the map sent.
    let mut record_headers: Vec<(String, String)> = Vec::new();
    let mut map = reqwest::header::HeaderMap::new();
    let mut build_error: Option<String> = None;
    let mut add = |k: &str, v: &str, shown: &str, map: &mut reqwest::header::HeaderMap| {
        let hn = match HeaderName::from_bytes(k.as_bytes()) {
            Ok(h) => h,
            Err(_) => {
                build_error.get_or_insert(format!("{k:?} is not a valid header name"));
                return;
            }
        };
        let mut hv = match HeaderValue::from_str(v) {
            Ok(h) => h,
            Err(_) => {
                // The value is not repeated: it may be a secret.
                build_error.get_or_insert(format!(
                    "the value of header {k} holds characters a header cannot carry"
                ));
                return;
            }
        };
        if shown == REDACTED {
            hv.set_sensitive(true);
        }
        map.append(hn, hv);
        record_headers.push((k.to_string(), shown.to_string()));
    };
    if let Some(ct) = &p.content_type {
        add("Content-Type", ct, ct, &mut map);
    }
    for (k, v) in &p.headers {
        if idempotency_key.is_some() && k.eq_ignore_ascii_case("idempotency-key") {
            continue;
        }
        // A secret header of the same name (the integration's credentials) wins.
        if secret_headers
            .iter()
            .any(|(s, _)| s.eq_ignore_ascii_case(k))
        {
            continue;
        }
        add(k, v, v, &mut map);
    }
    if let Some(key) = idempotency_key {
        add("Idempotency-Key", key, key, &mut map);
    }
    for (k, s) in secret_headers {
        add(k, s.expose(), REDACTED, &mut map);
    }
    if creds.oauth.is_some() {
        // The value is set per attempt (a fresh access token); recorded once.
        record_headers.push(("Authorization".to_string(), REDACTED.to_string()));
    }

    let request = RequestRecord {
        method: p.method.as_str().to_string(),
        url: p.url.clone(),
        headers: record_headers,
        body: p.body.clone(),
    };
    let mut d = Delivery {
        webhook: name.to_string(),
        request,
        attempts: 0,
        status: None,
        response_headers: Vec::new(),
        response_body: String::new(),
        ok: false,
        error: None,
        duration_ms: 0,
        notes: Vec::new(),
    };
    if let Some(e) = build_error {
        d.error = Some(format!("webhook {name}: request not sent: {e}"));
        return d;
    }

    let url = match reqwest::Url::parse(&p.url) {
        Ok(u) => u,
        Err(e) => {
            d.error = Some(format!(
                "webhook {name}: request not sent: invalid URL: {e}"
            ));
            return d;
        }
    };
    let idempotent = hook.idempotent() || idempotency_key.is_some() || key_in_config;
    let why_safe = if hook.idempotent() {
        format!("{} is idempotent", p.method)
    } else {
        format!("{} is retried because an Idempotency-Key is sent", p.method)
    };
    let why_unsafe = format!(
        "{} is not idempotent and no Idempotency-Key is sent, so the server may have processed it",
        p.method
    );
    // A call that may have been processed is repeated only when that is safe.
    let if_safe = |attempt: u32| {
        if idempotent {
            Decision::Retry {
                wait: policy.backoff(attempt),
                why: why_safe.clone(),
            }
        } else {
            Decision::Stop {
                why: why_unsafe.clone(),
            }
        }
    };
    let mut owned_secrets: Vec<String> = scrub_candidates(secret_headers)
        .into_iter()
        .map(str::to_string)
        .collect();
    let max_attempts = hook.max_attempts().max(1);
    // The one resend after the access token was refused (not an attempt of the budget).
    let mut refreshed = false;
    // The access token the current attempt sends.
    let mut sent: Option<Secret> = None;

    loop {
        d.attempts += 1;
        let attempt = d.attempts - u32::from(refreshed);
        d.status = None;
        d.response_headers.clear();
        d.response_body.clear();

        if let Some(l) = &creds.limiter {
            l.wait().await;
        }
        if let Some(provider) = &creds.oauth {
            let header = match provider.access_token().await {
                Ok(t) => match HeaderValue::from_str(&format!("Bearer {}", t.expose())) {
                    Ok(v) => Ok((t, v)),
                    Err(_) => Err(format!(
                        "the access token of integration {} cannot be sent in a header",
                        provider.integration()
                    )),
                },
                Err(e) => Err(format!(
                    "no access token from integration {}: {e}",
                    provider.integration()
                )),
            };
            let (token, mut v) = match header {
                Ok(h) => h,
                Err(why) => {
                    d.attempts -= 1;
                    d.error = Some(format!("webhook {name}: request not sent: {why}"));
                    break;
                }
            };
            v.set_sensitive(true);
            map.insert(reqwest::header::AUTHORIZATION, v);
            if token.expose().len() >= MIN_SCRUB_LEN
                && !owned_secrets.iter().any(|s| s == token.expose())
            {
                owned_secrets.push(token.expose().to_string());
            }
            sent = Some(token);
        }
        let secrets: Vec<&str> = owned_secrets.iter().map(String::as_str).collect();

        let mut rb = client
            .request(p.method.to_reqwest(), url.clone())
            .headers(map.clone())
            .timeout(hook.timeout());
        if let Some(b) = &p.body {
            rb = rb.body(b.clone());
        }
        let outcome = match rb.send().await {
            Ok(resp) => {
                let status = resp.status();
                let retry_after =
                    resp.headers().get(reqwest::header::RETRY_AFTER).map(|v| {
                        match v.to_str().ok().and_then(|s| s.trim().parse().ok()) {
                            Some(n) => RetryAfter::Seconds(n),
                            None => RetryAfter::Unparsed,
                        }
                    });
                d.status = Some(status.as_u16());
                d.response_headers = resp
                    .headers()
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_str().to_string(),
                            scrub(&String::from_utf8_lossy(v.as_bytes()), &secrets),
                        )
                    })
                    .collect();
                let (body, note) = read_capped(resp).await;
                d.response_body = scrub(&body, &secrets);
                if d.response_body != body {
                    d.notes.push(format!(
                        "attempt {attempt}: the response repeated a secret value; shown as {REDACTED}"
                    ));
                }
                if let Some(n) = note {
                    d.notes.push(format!("attempt {attempt}: {n}"));
                }
                Outcome::Response {
                    status,
                    retry_after,
                }
            }
            Err(e) => {
                let text = scrub(&cause_text(&e), &secrets);
                if e.is_connect() {
                    Outcome::Connect(text)
                } else if e.is_timeout() {
                    Outcome::Timeout(text)
                } else {
                    Outcome::Other(text)
                }
            }
        };

        let (what, decision) = match &outcome {
            Outcome::Response { status, .. } if status.is_success() => {
                d.ok = true;
                break;
            }
            Outcome::Response { status, .. }
                if status.as_u16() == 401 && !refreshed && creds.oauth.is_some() =>
            {
                refreshed = true;
                if let (Some(provider), Some(t)) = (&creds.oauth, &sent) {
                    provider.invalidate(t).await;
                }
                d.notes.push(format!(
                    "attempt {attempt}: HTTP 401: the access token was refused; sending again with a refreshed one"
                ));
                continue;
            }
            Outcome::Response {
                status,
                retry_after,
            } => {
                let what = format!("HTTP {}", status_line(*status));
                let code = status.as_u16();
                let decision = if code == 429 || (code == 503 && retry_after.is_some()) {
                    let (wait, asked) = match retry_after {
                        Some(RetryAfter::Seconds(n)) => {
                            let asked = Duration::from_secs(*n);
                            (
                                asked.min(policy.max_wait),
                                if asked > policy.max_wait {
                                    format!(
                                        "Retry-After: {n} s, capped to {} ms",
                                        policy.max_wait.as_millis()
                                    )
                                } else {
                                    format!("Retry-After: {n} s")
                                },
                            )
                        }
                        Some(RetryAfter::Unparsed) => (
                            policy.backoff(attempt),
                            "Retry-After not in seconds, backoff used".to_string(),
                        ),
                        None => match policy.wait_on_429 {
                            Some(w) if code == 429 => {
                                (w, format!("no Retry-After, {} for this API", wait_text(w)))
                            }
                            _ => (policy.backoff(attempt), "no Retry-After".to_string()),
                        },
                    };
                    Decision::Retry {
                        wait,
                        why: format!("the server asks to come back later ({asked})"),
                    }
                } else if status.is_server_error()
                    && policy.server_errors_need_opt_in
                    && !hook.idempotent_by_config()
                {
                    Decision::Stop {
                        why: format!(
                            "this API asks clients not to repeat a call that failed with a server error (it may have been processed); set idempotent = true on webhook {name} to retry {}",
                            p.method
                        ),
                    }
                } else if status.is_server_error() {
                    if_safe(attempt)
                } else if status.is_client_error() {
                    Decision::Stop {
                        why: "a client error does not get better by repeating".into(),
                    }
                } else {
                    Decision::Stop {
                        why: "not a success; redirects are not followed".into(),
                    }
                };
                (what, decision)
            }
            Outcome::Connect(e) => (
                format!("cannot connect ({e})"),
                Decision::Retry {
                    wait: policy.backoff(attempt),
                    why: "the request never reached the server".into(),
                },
            ),
            Outcome::Timeout(e) | Outcome::Other(e) => {
                let what = if matches!(outcome, Outcome::Timeout(_)) {
                    format!("timed out after {} s ({e})", hook.timeout().as_secs_f64())
                } else {
                    format!("failed after connecting ({e})")
                };
                (what, if_safe(attempt))
            }
        };

        let attempts_text = if attempt == 1 {
            "1 attempt".to_string()
        } else {
            format!("{attempt} attempts")
        };
        match decision {
            Decision::Stop { why } => {
                d.notes
                    .push(format!("attempt {attempt}: {what}; not retried: {why}"));
                d.error = Some(format!(
                    "webhook {name}: {what} after {attempts_text} ({}, not retried)",
                    short_reason(&why, p)
                ));
                break;
            }
            Decision::Retry { wait, why } => {
                if attempt >= max_attempts {
                    d.notes.push(format!(
                        "attempt {attempt}: {what}; giving up: max_attempts = {max_attempts} of webhook {name} reached"
                    ));
                    d.error = Some(format!(
                        "webhook {name}: {what} after {attempts_text} (gave up: max_attempts = {max_attempts} of webhook {name})"
                    ));
                    break;
                }
                d.notes.push(format!(
                    "attempt {attempt}: {what}; retrying in {}: {why}",
                    wait_text(wait)
                ));
                tracing::warn!(
                    webhook = name,
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    "webhook attempt failed ({what}), retrying"
                );
                tokio::time::sleep(wait).await;
            }
        }
    }

    d.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    if d.ok {
        tracing::info!(
            webhook = name,
            status = d.status,
            attempts = d.attempts,
            duration_ms = d.duration_ms,
            "webhook delivered"
        );
    } else {
        tracing::warn!(
            webhook = name,
            status = d.status,
            attempts = d.attempts,
            duration_ms = d.duration_ms,
            error = d.error.as_deref().unwrap_or(""),
            "webhook not delivered"
        );
    }
    d
}

/// The short reason in the error line: "POST is not idempotent" rather than the whole note.
fn short_reason(why: &str, p: &Prepared) -> String {
    if why.contains("not idempotent") {
        format!("{} is not idempotent", p.method)
    } else if why.contains("client error") {
        "client error".to_string()
    } else if why.contains("asks clients not to repeat") {
        "this API asks not to repeat a call after a server error".to_string()
    } else {
        why.to_string()
    }
}

fn status_line(s: reqwest::StatusCode) -> String {
    match s.canonical_reason() {
        Some(r) => format!("{} {r}", s.as_u16()),
        None => s.as_u16().to_string(),
    }
}

/// Reads at most [`MAX_RESPONSE_BODY`] bytes of the body; the note says when it was cut or
/// broke off.
async fn read_capped(mut resp: reqwest::Response) -> (String, Option<String>) {
    let mut buf: Vec<u8> = Vec::new();
    let mut note = None;
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_RESPONSE_BODY - buf.len();
                if chunk.len() > room {
                    buf.extend_from_slice(&chunk[..room]);
                    note = Some(format!(
                        "response body cut at {MAX_RESPONSE_BODY} bytes (the rest was not read)"
                    ));
                    break;
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                note = Some(format!(
                    "response body broke off after {} bytes: {}",
                    buf.len(),
                    error_chain(&e)
                ));
                break;
            }
        }
    }
    if buf.len() == MAX_RESPONSE_BODY {
        drop_split_char(&mut buf);
    }
    (String::from_utf8_lossy(&buf).into_owned(), note)
}

/// Drops a UTF-8 character the cut split at the end of `buf`.
fn drop_split_char(buf: &mut Vec<u8>) {
    let len = buf.len();
    for back in 1..=len.min(4) {
        let b = buf[len - back];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back for the lead byte
        }
        let need = match b {
            0xF0..=0xF7 => 4,
            0xE0..=0xEF => 3,
            0xC0..=0xDF => 2,
            _ => 1,
        };
        if need > back {
            buf.truncate(len - back);
        }
        return;
    }
}

/// Why a request failed, without reqwest's "error sending request for url (…)" wrapper (the URL
/// is in the request record): "client error (Connect): tcp connect error: Connection refused".
fn cause_text(e: &reqwest::Error) -> String {
    use std::error::Error;
    match e.source() {
        Some(src) => error_chain(src),
        None => e.to_string(),
    }
}

/// A wait for a note: "250 ms", "<1 ms".
fn wait_text(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        "<1 ms".to_string()
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// An error with its causes: "error sending request…: client error (Connect): tcp connect
/// error: Connection refused".
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !out.contains(&t) {
            let _ = write!(out, ": {t}");
        }
        src = s.source();
    }
    out
}

/// Secret values (and the token of `Scheme token` values) long enough to scrub from responses.
fn scrub_candidates(secret_headers: &[(String, Secret)]) -> Vec<&str> {
    let mut out = Vec::new();
    for (_, s) in secret_headers {
        let v = s.expose();
        out.push(v);
        if let Some((_, token)) = v.trim().rsplit_once(' ') {
            out.push(token);
        }
    }
    out.retain(|v| v.len() >= MIN_SCRUB_LEN);
    // Longest first, so a whole value is replaced before its token.
    out.sort_by_key(|v| std::cmp::Reverse(v.len()));
    out
}

fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if out.contains(s) {
            out = out.replace(s, REDACTED);
        }
    }
    out
}

impl Delivery {
    /// The request and response as an HTTP transcript (`>` sent, `<` received), then the
    /// attempts, time, notes and error. Secrets show as `[redacted]`.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "webhook {}", self.webhook);
        let _ = writeln!(out, "> {} {}", self.request.method, self.request.url);
        for (k, v) in &self.request.headers {
            let _ = writeln!(out, "> {k}: {v}");
        }
        if let Some(b) = &self.request.body {
            let _ = writeln!(out, ">");
            for line in b.split('\n') {
                let _ = writeln!(out, "> {line}");
            }
        }
        let _ = writeln!(out);
        match self.status {
            Some(code) => {
                let status = reqwest::StatusCode::from_u16(code)
                    .map(status_line)
                    .unwrap_or_else(|_| code.to_string());
                let _ = writeln!(out, "< HTTP {status}");
                for (k, v) in &self.response_headers {
                    let _ = writeln!(out, "< {k}: {v}");
                }
                if !self.response_body.is_empty() {
                    let _ = writeln!(out, "<");
                    for line in self.response_body.split('\n') {
                        let _ = writeln!(out, "< {line}");
                    }
                }
            }
            None => {
                let _ = writeln!(out, "< (no response)");
            }
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{}: {} attempt{}, {} ms",
            if self.ok { "ok" } else { "failed" },
            self.attempts,
            if self.attempts == 1 { "" } else { "s" },
            self.duration_ms
        );
        for n in &self.notes {
            let _ = writeln!(out, "  - {n}");
        }
        if let Some(e) = &self.error {
            let _ = writeln!(out, "error: {e}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_wait: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        for _ in 0..50 {
            let d1 = p.backoff(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d3 = p.backoff(3);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            let d20 = p.backoff(20);
            assert!(d20 >= MAX_BACKOFF / 2 && d20 <= MAX_BACKOFF);
            assert!(p.backoff(u32::MAX) <= MAX_BACKOFF);
        }
        let d = RetryPolicy::default();
        assert_eq!(d.base_delay, Duration::from_millis(250));
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        let mut b = "aé".as_bytes()[..2].to_vec();
        drop_split_char(&mut b);
        assert_eq!(b, b"a");
        let mut b = "a€".as_bytes()[..3].to_vec();
        drop_split_char(&mut b);
        assert_eq!(b, b"a");
        let mut b = "aé".as_bytes().to_vec();
        drop_split_char(&mut b);
        assert_eq!(b, "aé".as_bytes());
        let mut b = b"abc".to_vec();
        drop_split_char(&mut b);
        assert_eq!(b, b"abc");
    }

    #[test]
    fn scrubbing_removes_whole_values_and_bearer_tokens() {
        let secrets = vec![
            (
                "Authorization".to_string(),
                Secret::new("Bearer tok-123456"),
            ),
            ("X-Short".to_string(), Secret::new("abc")),
        ];
        let c = scrub_candidates(&secrets);
        assert_eq!(c, ["Bearer tok-123456", "tok-123456"]);
        assert_eq!(
            scrub("got Bearer tok-123456 and tok-123456, abc", &c),
            "got [redacted] and [redacted], abc"
        );
    }
}
