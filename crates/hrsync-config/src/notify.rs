//! `[[notify]]`: where hrsync tells people that something needs them (issue 14 §6). Checked
//! when the config loads; the sending is the engine's (`hrsync_engine::notify`).

use super::{Config, ConfigError};
use hrsync_model::{Secret, SecretRef};
use serde::Deserialize;
use std::path::PathBuf;

/// Every cause a channel can be told about, in the order the README lists them.
pub const CAUSES: [&str; 8] = [
    "run_failed",
    "run_incomplete",
    "held",
    "awaiting_approval",
    "review",
    "orphans",
    "dead_letter",
    "expiring",
];

/// The most attempts a channel may configure (as for webhooks).
pub const MAX_ATTEMPTS: u32 = hrsync_webhook::MAX_ATTEMPTS_LIMIT;

/// One `[[notify]]` table.
///
/// ```toml
/// [[notify]]
/// name = "ops-mail"
/// kind = "email"                       # email | webhook
/// on = ["run_failed", "run_incomplete", "held"]   # default: every cause
/// window_hours = 24                    # one message per cause per window
/// smtp_host = "smtp.example.com"
/// smtp_port = 587                      # default 587 (starttls), 465 (tls)
/// tls = "starttls"                     # starttls | tls
/// username = "hrsync"
/// password = { env = "SMTP_PASSWORD" }
/// from = "hrsync <hrsync@example.com>"
/// to = ["identity-team@example.com"]
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    /// Unique name (logs, `hrsync notify log`, `hrsync notify test NAME`).
    pub name: String,
    /// `email` or `webhook`.
    pub kind: String,
    /// The causes this channel is told about; default every one of [`CAUSES`].
    #[serde(default)]
    pub on: Vec<String>,
    /// One message per cause (kind and what it is about) per this many hours. Default 24.
    #[serde(default = "default_window_hours")]
    pub window_hours: u64,
    /// `expiring`: warn this many days before a certificate expires. Default 14.
    #[serde(default = "default_expiry_days")]
    pub expiry_days: u32,
    /// Per attempt (connect to the end of the answer), seconds. Default 10.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Attempts at most per message (email; a webhook channel uses the webhook's own).
    /// Default 3.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Put before every subject. Default `[hrsync]`.
    pub subject_prefix: Option<String>,

    // --- email ---
    pub smtp_host: Option<String>,
    /// Default 587 with `starttls`, 465 with `tls`.
    pub smtp_port: Option<u16>,
    /// `starttls` (default: the connection must upgrade, or nothing is sent) or `tls`
    /// (implicit TLS, "SMTPS").
    pub tls: Option<String>,
    pub username: Option<String>,
    /// `{ env = "VAR" }` or `{ file = "path" }`; never in the config itself.
    pub password: Option<SecretRef>,
    /// The sender, `name <address>` or `address`.
    pub from: Option<String>,
    #[serde(default)]
    pub to: Vec<String>,
    /// PEM file of a CA to trust besides the system's (a private mail relay), relative to the
    /// config file.
    pub ca_cert: Option<PathBuf>,

    // --- webhook ---
    /// A `[[webhook]]` by name: its URL, headers, body, message type, credentials (`auth`)
    /// and retry rules, with the `{notify.*}` macros.
    pub webhook: Option<String>,
}

fn default_window_hours() -> u64 {
    24
}
fn default_expiry_days() -> u32 {
    14
}
fn default_timeout_secs() -> u64 {
    10
}
fn default_max_attempts() -> u32 {
    3
}

/// How an email channel secures its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS; refused if the server does not offer it.
    StartTls,
    /// TLS from the first byte (port 465).
    Implicit,
}

/// An email channel, resolved: the password loaded.
#[derive(Debug, Clone)]
pub struct EmailChannel {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
    pub to: Vec<String>,
    pub ca_cert: Option<PathBuf>,
}

impl RawNotify {
    /// The causes this channel wants.
    pub fn wants(&self, cause: &str) -> bool {
        self.on.is_empty() || self.on.iter().any(|c| c == cause)
    }

    pub fn window(&self) -> chrono::Duration {
        chrono::Duration::hours(i64::try_from(self.window_hours).unwrap_or(i64::MAX / 3600))
    }

    pub fn subject_prefix(&self) -> &str {
        self.subject_prefix.as_deref().unwrap_or("[hrsync]")
    }

    fn tls(&self) -> Option<SmtpTls> {
        match self.tls.as_deref().unwrap_or("starttls") {
            "starttls" => Some(SmtpTls::StartTls),
            "tls" => Some(SmtpTls::Implicit),
            _ => None,
        }
    }
}

impl Config {
    /// Checks every `[[notify]]`: unique names, kind, causes, bounds, the email fields (with
    /// parsable addresses) or the webhook it names, and that the webhook of a notification uses
    /// no person's macros (and an orchestration's webhook no notification macros).
    pub(crate) fn validate_notify(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::BTreeSet::new();
        for (i, n) in self.raw.notify.iter().enumerate() {
            let key = format!("notify[{i}]");
            if n.name.trim().is_empty() || !names.insert(n.name.as_str()) {
                return Err(self.invalid(
                    format!("{key}.name"),
                    format!("{:?}: every [[notify]] needs a name of its own", n.name),
                ));
            }
            for c in &n.on {
                if !CAUSES.contains(&c.as_str()) {
                    return Err(self.invalid(
                        format!("{key}.on"),
                        format!("{c:?} is not a cause; use some of {CAUSES:?}"),
                    ));
                }
            }
            if n.window_hours == 0 || n.window_hours > 24 * 366 {
                return Err(self.invalid(
                    format!("{key}.window_hours"),
                    format!("{} is out of range (1 to 8784 hours)", n.window_hours),
                ));
            }
            if n.timeout_secs == 0 || n.timeout_secs > 300 {
                return Err(self.invalid(
                    format!("{key}.timeout_secs"),
                    format!("{} is out of range (1 to 300 seconds)", n.timeout_secs),
                ));
            }
            if n.max_attempts == 0 || n.max_attempts > MAX_ATTEMPTS {
                return Err(self.invalid(
                    format!("{key}.max_attempts"),
                    format!("{} is out of range (1 to {MAX_ATTEMPTS})", n.max_attempts),
                ));
            }
            let email_keys = [
                ("smtp_host", n.smtp_host.is_some()),
                ("smtp_port", n.smtp_port.is_some()),
                ("tls", n.tls.is_some()),
                ("username", n.username.is_some()),
                ("password", n.password.is_some()),
                ("from", n.from.is_some()),
                ("to", !n.to.is_empty()),
                ("ca_cert", n.ca_cert.is_some()),
            ];
            match n.kind.as_str() {
                "email" => {
                    if n.webhook.is_some() {
                        return Err(self.invalid(
                            format!("{key}.webhook"),
                            "an email channel sends mail; use kind = \"webhook\" for a webhook",
                        ));
                    }
                    self.email_channel_with(i, false)?;
                }
                "webhook" => {
                    if let Some((k, _)) = email_keys.iter().find(|(_, set)| *set) {
                        return Err(self.invalid(
                            format!("{key}.{k}"),
                            "only an email channel has it; a webhook channel takes webhook = \"<name>\"",
                        ));
                    }
                    let Some(w) = &n.webhook else {
                        return Err(self.invalid(
                            format!("{key}.webhook"),
                            "a webhook channel needs webhook = \"<name of a [[webhook]]>\"",
                        ));
                    };
                    let Some(cfg) = self.raw.webhooks.iter().find(|h| &h.name == w) else {
                        return Err(self.invalid(
                            format!("{key}.webhook"),
                            format!("no [[webhook]] named {w:?}"),
                        ));
                    };
                    let hook = hrsync_webhook::Webhook::compile(cfg)
                        .map_err(|e| self.invalid(format!("{key}.webhook"), e.to_string()))?;
                    if let Some(m) = hook
                        .macros()
                        .into_iter()
                        .find(|m| !(m.starts_with("notify.") || m == "event" || m == "webhook"))
                    {
                        return Err(self.invalid(
                            format!("{key}.webhook"),
                            format!(
                                "webhook {w:?} uses {{{m}}}, which a notification cannot fill (it is about no one person); use {{notify.subject}}, {{notify.text}}, {{notify.command}}, {{notify.cause}}, {{notify.about}}, {{event}}"
                            ),
                        ));
                    }
                }
                other => {
                    return Err(self.invalid(
                        format!("{key}.kind"),
                        format!("{other:?} is not a channel; use \"email\" or \"webhook\""),
                    ));
                }
            }
        }
        // An orchestration step's webhook cannot fill the notification macros.
        for (i, o) in self.raw.orchestrations.iter().enumerate() {
            for (j, s) in o.steps.iter().enumerate() {
                let Some(w) = &s.webhook else { continue };
                let Some(cfg) = self.raw.webhooks.iter().find(|h| &h.name == w) else {
                    continue;
                };
                let Ok(hook) = hrsync_webhook::Webhook::compile(cfg) else {
                    continue;
                };
                if let Some(m) = hook.macros().into_iter().find(|m| m.starts_with("notify.")) {
                    return Err(self.invalid(
                        format!("orchestration[{i}].steps[{j}].webhook"),
                        format!(
                            "webhook {w:?} uses {{{m}}}, which only a notification fills; give the orchestration a webhook of its own"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The email channel of `[[notify]]` number `i`, its password loaded. Errors name the key.
    pub fn email_channel(&self, i: usize) -> Result<EmailChannel, ConfigError> {
        self.email_channel_with(i, true)
    }

    /// [`Config::email_channel`]; the password is loaded only with `load_secret` (loading the
    /// config does not need the mail password).
    fn email_channel_with(&self, i: usize, load_secret: bool) -> Result<EmailChannel, ConfigError> {
        let key = format!("notify[{i}]");
        let Some(n) = self.raw.notify.get(i) else {
            return Err(self.invalid(key, "no such [[notify]]"));
        };
        let need = |v: Option<&String>, field: &str, example: &str| {
            v.filter(|s| !s.trim().is_empty()).cloned().ok_or_else(|| {
                self.invalid(
                    format!("{key}.{field}"),
                    format!("an email channel needs {field}, e.g. {example}"),
                )
            })
        };
        let host = need(n.smtp_host.as_ref(), "smtp_host", "\"smtp.example.com\"")?;
        let from = need(n.from.as_ref(), "from", "\"hrsync <hrsync@example.com>\"")?;
        let tls = n.tls().ok_or_else(|| {
            self.invalid(
                format!("{key}.tls"),
                format!(
                    "{:?}: use \"starttls\" (port 587) or \"tls\" (implicit TLS, port 465); mail is never sent in clear",
                    n.tls.as_deref().unwrap_or_default()
                ),
            )
        })?;
        if from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(self.invalid(
                format!("{key}.from"),
                format!(
                    "{from:?} is not a mail address; write \"name <user@host>\" or \"user@host\""
                ),
            ));
        }
        if n.to.is_empty() {
            return Err(self.invalid(
                format!("{key}.to"),
                "an email channel needs to = [\"someone@example.com\", …]",
            ));
        }
        for (j, t) in n.to.iter().enumerate() {
            if t.parse::<lettre::message::Mailbox>().is_err() {
                return Err(self.invalid(
                    format!("{key}.to[{j}]"),
                    format!("{t:?} is not a mail address"),
                ));
            }
        }
        let password = match (&n.username, &n.password) {
            (Some(_), Some(p)) if load_secret => {
                Some(self.secret(&key, "password", Some(p), &self.base_dir())?)
            }
            (Some(_), Some(_)) => None,
            (None, None) => None,
            (Some(_), None) => {
                return Err(self.invalid(
                    format!("{key}.password"),
                    "username is set: set password = { env = \"VAR\" } or { file = \"path\" }",
                ));
            }
            (None, Some(_)) => {
                return Err(self.invalid(
                    format!("{key}.username"),
                    "password is set: set the username it goes with",
                ));
            }
        };
        let ca_cert = n.ca_cert.as_ref().map(|p| self.base_dir().join(p));
        if let Some(p) = &ca_cert
            && !p.is_file()
        {
            return Err(self.invalid(
                format!("{key}.ca_cert"),
                format!(
                    "{} is not a readable file; point ca_cert at the PEM file of the CA that signed the mail server's certificate",
                    p.display()
                ),
            ));
        }
        Ok(EmailChannel {
            host,
            port: n.smtp_port.unwrap_or(match tls {
                SmtpTls::StartTls => 587,
                SmtpTls::Implicit => 465,
            }),
            tls,
            username: n.username.clone(),
            password,
            from,
            to: n.to.clone(),
            ca_cert,
        })
    }
}
