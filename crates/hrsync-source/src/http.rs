//! Shared HTTP plumbing for connectors: one client per integration, bounded retries with
//! exponential backoff for transient failures (connect errors, timeouts, 5xx, 429 honouring
//! `Retry-After`), and no retry for anything that will not get better (4xx, auth).
//!
//! Every retry loop of the connectors (IceHrm pages, REST pages and fan-out calls, Paycor, the
//! OAuth token refresh) is [`with_retries`]: one policy, bounded by attempts
//! ([`RetryPolicy::max_retries`]) **and** by a total deadline ([`RetryPolicy::deadline`]),
//! whatever delay the server asks for.

use std::time::{Duration, Instant};

/// How one request attempt failed.
#[derive(Debug, Clone)]
pub enum Attempt {
    /// Worth retrying (network, timeout, 5xx, 429), with an optional server-given delay.
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Not worth retrying.
    Permanent {
        status: Option<u16>,
        message: String,
    },
}

impl Attempt {
    pub fn message(&self) -> &str {
        match self {
            Attempt::Transient { message, .. } | Attempt::Permanent { message, .. } => message,
        }
    }
}

/// The default [`RetryPolicy::deadline`]: 5 minutes for one request and all its retries.
pub const DEFAULT_RETRY_DEADLINE: Duration = Duration::from_secs(300);

/// Retry settings of an integration.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so at most `max_retries + 1` requests), also when the
    /// server sends `Retry-After`.
    pub max_retries: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// The longest one request may take with all its retries and waits, from the first attempt
    /// to giving up. A wait (backoff or `Retry-After`) that would pass it is not started: the
    /// request fails at once, naming this limit. An attempt still running at the deadline is
    /// cut off.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            deadline: DEFAULT_RETRY_DEADLINE,
        }
    }
}

/// Builds the HTTP client for an integration. Redirects are followed only within the same
/// origin: reqwest drops `Authorization` on a cross-host redirect, but not API-key headers such
/// as `X-API-Key` or `Ocp-Apim-Subscription-Key`.
pub fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if !same {
            attempt.stop()
        } else if attempt.previous().len() >= 5 {
            attempt.error("more than 5 redirects")
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .redirect(policy)
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("hrsync/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Checks an integration's `base_url` before anything is sent: an `http://` or `https://` URL
/// without credentials in it. A URL such as `http://admin:pw@host/app/api` would make the
/// HTTP client send `Authorization: Basic …` and silently drop the configured bearer token.
/// The message names `base_url` and the fix, and never repeats the user name or password.
pub fn check_base_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url.trim()).map_err(|e| {
        format!("base_url is not a URL ({e}); it must start with http:// or https://")
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "base_url must start with http:// or https://, not {}://",
            parsed.scheme()
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "base_url contains a user name or password (user:password@host): remove them from the URL;              the server would receive them as HTTP Basic authorization instead of the configured token.              Credentials go in token = { env = \"VAR\" } or { file = \"path\" } (and api_key / oauth)"
                .into(),
        );
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("base_url has no host".into());
    }
    Ok(())
}

/// A duration for messages: `300 s`, `1.5 s`, `250 ms`.
pub fn human(d: Duration) -> String {
    if d >= Duration::from_secs(10) || d.subsec_millis() == 0 && d >= Duration::from_secs(1) {
        format!("{} s", d.as_secs())
    } else if d >= Duration::from_secs(1) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// Runs `op` with retries on transient failures, bounded by `policy.max_retries` and by
/// `policy.deadline` (also when the server asks for a delay with `Retry-After`). When it gives
/// up, the last failure comes back with the number of retries and the limit that ended them in
/// its message (`… (gave up after 2 retries: max_retries = 2)`).
pub async fn with_retries<T, F, Fut>(
    policy: RetryPolicy,
    what: &str,
    mut op: F,
) -> Result<T, Attempt>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Attempt>>,
{
    let started = Instant::now();
    let mut retries = 0usize;
    let mut backoff = policy.min_delay;
    loop {
        let remaining = policy.deadline.saturating_sub(started.elapsed());
        let res = match tokio::time::timeout(remaining, op()).await {
            Ok(r) => r,
            Err(_) => {
                return Err(Attempt::Transient {
                    message: format!(
                        "no answer within the retry deadline of {} (after {retries} retries)",
                        human(policy.deadline)
                    ),
                    retry_after: None,
                });
            }
        };
        let (message, retry_after) = match res {
            Ok(v) => return Ok(v),
            Err(e @ Attempt::Permanent { .. }) => return Err(e),
            Err(Attempt::Transient {
                message,
                retry_after,
            }) => (message, retry_after),
        };
        let give_up = |limit: String| Attempt::Transient {
            message: format!("{message} (gave up after {retries} retries: {limit})"),
            retry_after,
        };
        if retries >= policy.max_retries {
            return Err(give_up(format!("max_retries = {}", policy.max_retries)));
        }
        // The server's delay is honoured (never shortened), the backoff's is jittered.
        let delay = match retry_after {
            Some(d) => d,
            None => backoff.mul_f64(0.5 + fastrand::f64() / 2.0),
        };
        if started.elapsed() + delay >= policy.deadline {
            return Err(give_up(format!(
                "the next wait of {} would pass the retry deadline of {}",
                human(delay),
                human(policy.deadline)
            )));
        }
        retries += 1;
        tracing::warn!(
            what,
            attempt = retries,
            delay_ms = delay.as_millis() as u64,
            error = message.as_str(),
            "retrying"
        );
        tokio::time::sleep(delay).await;
        backoff = backoff.saturating_mul(2).min(policy.max_delay);
    }
}

/// The default per-page byte limit of an integration (`max_page_mb`).
pub const DEFAULT_MAX_PAGE_MB: u64 = 256;

/// Why a body could not be read.
#[derive(Debug)]
enum BodyError {
    /// The connection failed while the body arrived.
    Transport(reqwest::Error),
    /// The body is larger than the limit (in bytes); reading stopped there.
    TooLarge(u64),
}

/// Reads a response body, at most `max` bytes: chunk by chunk as it arrives, counting, and
/// stopping at the limit, so a server that streams gigabytes costs at most `max` bytes of
/// memory (a `Content-Length` over the limit is refused before anything is read).
///
/// No more copies than reading the whole body at once: with a `Content-Length` the chunks go
/// straight into one buffer of that size; without one they are kept as they arrived and
/// joined once at the end. (Never a buffer that doubles as it grows: each doubling copies the
/// body so far, and the allocator keeps the old blocks for a while.)
async fn read_limited(mut resp: reqwest::Response, max: u64) -> Result<Vec<u8>, BodyError> {
    let too_large = |n: usize| n as u64 > max;
    if let Some(announced) = resp.content_length() {
        if announced > max {
            return Err(BodyError::TooLarge(max));
        }
        // The server cannot send more than it announced (the HTTP client ends the body there).
        let mut body = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
        while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
            if too_large(body.len() + chunk.len()) {
                return Err(BodyError::TooLarge(max));
            }
            body.extend_from_slice(&chunk);
        }
        return Ok(body);
    }
    // Copied into blocks of 1 MB: the chunks the client hands over are freed at once, and
    // memory is the body plus less than one block.
    const BLOCK: usize = 1 << 20;
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
        total += chunk.len();
        if too_large(total) {
            return Err(BodyError::TooLarge(max));
        }
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            match blocks.last_mut() {
                Some(b) if b.len() < b.capacity() => {
                    let n = (b.capacity() - b.len()).min(rest.len());
                    b.extend_from_slice(&rest[..n]);
                    rest = &rest[n..];
                }
                _ => blocks.push(Vec::with_capacity(BLOCK)),
            }
        }
    }
    if blocks.len() <= 1 {
        return Ok(blocks.pop().unwrap_or_default());
    }
    let mut body = Vec::with_capacity(total);
    for b in blocks {
        body.extend_from_slice(&b);
    }
    Ok(body)
}

/// A size for messages: `256 MB`, `1.5 MB`, `512 kB`, `300 bytes`.
pub fn human_bytes(n: u64) -> String {
    const MB: u64 = 1 << 20;
    if n >= MB && n.is_multiple_of(MB) {
        format!("{} MB", n / MB)
    } else if n >= MB {
        format!("{:.1} MB", n as f64 / MB as f64)
    } else if n >= 1024 {
        format!("{} kB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

/// Reads one page of an integration's list (or any other call's answer), at most
/// `max_page_bytes`. A page over the limit is a permanent failure of that page (retrying
/// would read it again), naming the limit and the config key that raises it.
pub async fn read_page(resp: reqwest::Response, max_page_bytes: u64) -> Result<Vec<u8>, Attempt> {
    read_limited(resp, max_page_bytes).await.map_err(|e| match e {
        BodyError::Transport(e) => send_error(&e),
        BodyError::TooLarge(max) => Attempt::Permanent {
            status: None,
            message: format!(
                "the answer is larger than the page limit of {} (max_page_mb = {}); hrsync stopped reading it. If the HR system's pages really are this large, raise max_page_mb for this integration, or ask for smaller pages (page_size / the endpoint's size)",
                human_bytes(max),
                max.div_ceil(1 << 20)
            ),
        },
    })
}

/// A response that is a redirect hrsync did not follow (the client follows redirects only
/// within the same origin): a permanent failure naming where the server wanted to go, so
/// `HTTP 302` alone never leaves the operator guessing. The target is shown without its
/// query string and user info (they may carry secrets).
pub fn refused_redirect(resp: &reqwest::Response) -> Option<Attempt> {
    let status = resp.status();
    if !status.is_redirection() {
        return None;
    }
    let from = resp.url();
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok());
    let message = match location.map(|l| from.join(l)) {
        Some(Ok(mut to)) => {
            to.set_query(None);
            to.set_fragment(None);
            let _ = to.set_username("");
            let _ = to.set_password(None);
            format!(
                "HTTP {}: the server redirects to {to}; hrsync does not follow redirects to other origins (only within {}), so nothing was read. If the HR system moved, set base_url to its new address",
                status.as_u16(),
                from.origin().ascii_serialization()
            )
        }
        _ => format!(
            "HTTP {}: a redirect without a usable Location header; hrsync does not follow it",
            status.as_u16()
        ),
    };
    Some(Attempt::Permanent {
        status: Some(status.as_u16()),
        message,
    })
}

/// Classifies a reqwest send error.
pub fn send_error(e: &reqwest::Error) -> Attempt {
    // reqwest's Display includes the URL; connectors never put secrets in URLs.
    let message = if e.is_timeout() {
        format!("timed out: {e}")
    } else if e.is_connect() {
        format!("cannot connect: {e}")
    } else {
        e.to_string()
    };
    // The URL can be huge (a filter naming many or long keys): logged and stored cut.
    Attempt::Transient {
        message: hrsync_model::text::clip_message(&message).into_owned(),
        retry_after: None,
    }
}

/// Parses `Retry-After` (seconds form).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn rate_limited(after: Duration) -> Attempt {
        Attempt::Transient {
            message: "HTTP 429 (rate limit exceeded)".into(),
            retry_after: Some(after),
        }
    }

    #[tokio::test]
    async fn retry_after_does_not_lift_max_retries() {
        let calls = AtomicUsize::new(0);
        let policy = RetryPolicy {
            max_retries: 2,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            ..RetryPolicy::default()
        };
        // A server answering 429 + `Retry-After: 0` forever.
        let res = tokio::time::timeout(
            Duration::from_secs(10),
            with_retries(policy, "storm", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(rate_limited(Duration::ZERO))
            }),
        )
        .await
        .expect("a 429 storm must end after max_retries, not run forever");
        let err = res.unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 3, "1 attempt + 2 retries");
        assert!(
            err.message().contains("after 2 retries") && err.message().contains("max_retries = 2"),
            "{}",
            err.message()
        );
    }

    #[tokio::test]
    async fn the_deadline_ends_retries_before_max_retries() {
        let calls = AtomicUsize::new(0);
        let policy = RetryPolicy {
            max_retries: 1000,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            deadline: Duration::from_millis(400),
        };
        let t = Instant::now();
        let err = with_retries(policy, "storm", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(rate_limited(Duration::from_millis(100)))
        })
        .await
        .unwrap_err();
        assert!(
            t.elapsed() < Duration::from_millis(400),
            "{:?}",
            t.elapsed()
        );
        let n = calls.load(Ordering::SeqCst);
        assert!((3..=5).contains(&n), "{n} attempts");
        assert!(
            err.message().contains("retry deadline of 400 ms"),
            "{}",
            err.message()
        );

        // A server delay longer than what is left is not waited out at all.
        let t = Instant::now();
        let err = with_retries(policy, "slow", || async {
            Err::<(), _>(rate_limited(Duration::from_secs(3600)))
        })
        .await
        .unwrap_err();
        assert!(t.elapsed() < Duration::from_millis(100));
        assert!(
            err.message().contains("next wait of 3600 s")
                && err.message().contains("after 0 retries"),
            "{}",
            err.message()
        );

        // An attempt that hangs is cut off at the deadline.
        let t = Instant::now();
        let err = with_retries(policy, "hang", || async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<(), Attempt>(())
        })
        .await
        .unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(2));
        assert!(
            err.message().contains("retry deadline"),
            "{}",
            err.message()
        );
    }

    #[tokio::test]
    async fn permanent_failures_are_not_retried_and_success_ends_the_loop() {
        let calls = AtomicUsize::new(0);
        let err = with_retries(RetryPolicy::default(), "x", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Attempt::Permanent {
                status: Some(404),
                message: "HTTP 404".into(),
            })
        })
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(err.message(), "HTTP 404");
        let calls = AtomicUsize::new(0);
        let policy = RetryPolicy {
            min_delay: Duration::from_millis(1),
            ..RetryPolicy::default()
        };
        let v = with_retries(policy, "x", || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(rate_limited(Duration::ZERO)),
                n => Ok(n),
            }
        })
        .await
        .unwrap();
        assert_eq!(v, 2);
    }

    #[test]
    fn base_urls_with_credentials_are_refused_without_repeating_them() {
        for ok in [
            "http://127.0.0.1:8080/app/api",
            "https://hr.example.com/app/api/",
            "https://apis.paycor.com",
        ] {
            assert!(check_base_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://admin:S3cretPw@hr.example.com/app/api",
            "https://admin@hr.example.com/",
            "https://:S3cretPw@hr.example.com/",
        ] {
            let e = check_base_url(bad).unwrap_err();
            assert!(e.contains("base_url") && e.contains("remove them"), "{e}");
            assert!(!e.contains("S3cretPw") && !e.contains("admin"), "{e}");
        }
        assert!(
            check_base_url("ftp://hr.example.com")
                .unwrap_err()
                .contains("http://")
        );
        assert!(
            check_base_url("hr.example.com/app/api")
                .unwrap_err()
                .contains("not a URL")
        );
    }
}
