//! Shared HTTP plumbing for connectors: one client per integration, bounded retries with
//! exponential backoff for transient failures (connect errors, timeouts, 5xx, 429 honouring
//! `Retry-After`), and no retry for anything that will not get better (4xx, auth).

use backon::{ExponentialBuilder, Retryable};
use std::time::Duration;

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

/// Retry settings of an integration.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_retries: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
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

/// Runs `op` with retries on transient failures. Returns the last failure when retries run out,
/// with the number of attempts in the message.
pub async fn with_retries<T, F, Fut>(policy: RetryPolicy, what: &str, op: F) -> Result<T, Attempt>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Attempt>>,
{
    let backoff = ExponentialBuilder::default()
        .with_min_delay(policy.min_delay)
        .with_max_delay(policy.max_delay)
        .with_max_times(policy.max_retries)
        .with_jitter();
    let mut attempts = 0usize;
    let res = op
        .retry(backoff)
        .when(|e: &Attempt| matches!(e, Attempt::Transient { .. }))
        .adjust(|e: &Attempt, d| match e {
            Attempt::Transient {
                retry_after: Some(r),
                ..
            } => Some(*r),
            _ => d,
        })
        .notify(|e: &Attempt, d: Duration| {
            attempts += 1;
            tracing::warn!(
                what,
                attempt = attempts,
                delay_ms = d.as_millis() as u64,
                error = e.message(),
                "retrying"
            );
        })
        .await;
    res.map_err(|e| match e {
        Attempt::Transient {
            message,
            retry_after,
        } if attempts > 0 => Attempt::Transient {
            message: format!("{message} (after {} retries)", attempts),
            retry_after,
        },
        other => other,
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
    Attempt::Transient {
        message,
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
