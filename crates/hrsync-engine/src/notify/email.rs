//! The email channel: one message per cause over SMTP, always encrypted (STARTTLS required,
//! or implicit TLS), with AUTH when a username is set. Retries transient failures only, with
//! the webhooks' backoff ([`hrsync_webhook::RetryPolicy`]), at most `max_attempts` times.

use super::Cause;
use hrsync_config::{EmailChannel, RawNotify, SmtpTls};
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// The message text: what happened, the command to run next, and where it came from.
pub(crate) fn body(n: &RawNotify, c: &Cause) -> String {
    format!(
        "{}\n\nNext: {}\n\n-- \nhrsync notification {:?}, cause {} (at most one message per {} h for it)\n",
        c.text,
        c.command,
        n.name,
        c.key(),
        n.window_hours
    )
}

fn message(ch: &EmailChannel, n: &RawNotify, subject: &str, c: &Cause) -> Result<Message, String> {
    let from: Mailbox = ch
        .from
        .parse()
        .map_err(|e| format!("from {:?}: {e}", ch.from))?;
    // A Message-ID of our own (lettre makes one only with its `hostname` feature): mail
    // without one is often scored as spam.
    let id = format!(
        "<hrsync-{:016x}{:016x}@{}>",
        fastrand::u64(..),
        fastrand::u64(..),
        from.email.domain()
    );
    let mut b = Message::builder()
        .from(from)
        .subject(subject)
        .message_id(Some(id));
    for t in &ch.to {
        b = b.to(t.parse().map_err(|e| format!("to {t:?}: {e}"))?);
    }
    b.header(ContentType::TEXT_PLAIN)
        .body(body(n, c))
        .map_err(|e| format!("cannot build the message: {e}"))
}

fn transport(
    ch: &EmailChannel,
    n: &RawNotify,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let mut tls = TlsParameters::builder(ch.host.clone());
    if let Some(p) = &ch.ca_cert {
        let pem = std::fs::read(p).map_err(|e| format!("ca_cert {}: {e}", p.display()))?;
        let cert = Certificate::from_pem(&pem)
            .map_err(|e| format!("ca_cert {}: not a PEM certificate: {e}", p.display()))?;
        tls = tls.add_root_certificate(cert);
    }
    let tls = tls
        .build()
        .map_err(|e| format!("TLS settings for {}: {e}", ch.host))?;
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(ch.host.clone())
        .port(ch.port)
        .timeout(Some(Duration::from_secs(n.timeout_secs)))
        .tls(match ch.tls {
            SmtpTls::StartTls => Tls::Required(tls),
            SmtpTls::Implicit => Tls::Wrapper(tls),
        });
    if let (Some(u), Some(p)) = (&ch.username, &ch.password) {
        b = b.credentials(Credentials::new(u.clone(), p.expose().to_string()));
    }
    Ok(b.build())
}

/// Sends one message; `Ok` says where it went. A permanent refusal (5xx) is not retried.
pub(crate) async fn send(
    ch: &EmailChannel,
    n: &RawNotify,
    subject: &str,
    c: &Cause,
) -> Result<String, String> {
    let msg = message(ch, n, subject, c)?;
    let mailer = transport(ch, n)?;
    let policy = hrsync_webhook::RetryPolicy::default();
    let attempts = n.max_attempts.max(1);
    let mut last = String::new();
    for attempt in 1..=attempts {
        match mailer.send(msg.clone()).await {
            Ok(resp) => {
                return Ok(format!(
                    "mail to {} via {}:{} ({}), attempt {attempt}",
                    ch.to.join(", "),
                    ch.host,
                    ch.port,
                    resp.code()
                ));
            }
            Err(e) => {
                last = format!("SMTP {}:{}: {e}", ch.host, ch.port);
                if e.is_permanent() {
                    return Err(format!("{last} (refused; not retried)"));
                }
                if attempt < attempts {
                    tokio::time::sleep(policy.backoff(attempt)).await;
                }
            }
        }
    }
    Err(format!("{last} (after {attempts} attempt(s))"))
}
