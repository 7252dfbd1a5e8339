//! Outbound webhooks: "webhooks back to the HR system" and other notifications from the daemon
//! and orchestration.
//!
//! A webhook is configured as a `[[webhook]]` table ([`WebhookConfig`]): method, URL, headers,
//! query parameters, message type (JSON, XML or form) and a body, all with macros such as
//! `{user.mail}` (a directory attribute), `{hr.department.display}` (an HR field), `{key}`,
//! `{dn}`, `{event}` and `{webhook}`. [`Webhook::compile`] checks it once when the config is
//! loaded; [`Webhook::render`] expands it for one person into a [`Prepared`] request, escaping
//! every value for the place it lands in, so a hostile HR or directory value can never change
//! the shape of the message:
//!
//! | where | escaping |
//! | --- | --- |
//! | URL path | percent-encoded (`/`, `?`, `#` stay inside the segment; `.`/`..` refused) |
//! | query value | added as a query pair, form-encoded by the URL serializer |
//! | header | a value with a line break or control character is refused |
//! | JSON body | macros live only inside JSON strings: a value is always one string |
//! | XML body | `& < > " '` as entities, tab/CR/LF as character references, other control characters refused |
//! | form body | each value percent-encoded as one form component |
//!
//! [`deliver`] sends a prepared request with secret headers (shown as `[redacted]`), retrying
//! only where it is safe (see [`deliver`]), and returns a [`Delivery`]: the request as sent, the
//! response, the attempts and why each retry happened or did not. [`Delivery::render_text`]
//! shows it as an HTTP transcript (`hrsync webhook test`).

mod deliver;

pub use deliver::{
    Credentials, Delivery, MAX_BACKOFF, RequestRecord, RetryPolicy, client, deliver, deliver_with,
};

use hrsync_source::rest::{BodyTemplate, Context, Template, TemplateError};
use reqwest::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

/// Macros every webhook knows besides `user.*` (directory attributes) and `hr.*` (HR fields).
pub const FIXED_MACROS: [&str; 4] = ["key", "dn", "event", "webhook"];

/// The most attempts a webhook may configure.
pub const MAX_ATTEMPTS_LIMIT: u32 = 10;

/// Macros of a webhook used as a notification channel (`[[notify]] webhook = "<name>"`): the
/// cause (`run_incomplete`, …), what it is about (a mapping, a certificate), the subject line,
/// the message text and the command to run next. Only notifications fill them in.
pub const NOTIFY_MACROS: [&str; 6] = [
    "notify.cause",
    "notify.about",
    "notify.subject",
    "notify.text",
    "notify.command",
    "notify.channel",
];

/// Whether `name` is a macro a webhook may use: `user.<attribute>`, `hr.<field>[.<sub>…]`, or
/// one of [`FIXED_MACROS`] or [`NOTIFY_MACROS`].
pub fn is_known_macro(name: &str) -> bool {
    if FIXED_MACROS.contains(&name) || NOTIFY_MACROS.contains(&name) {
        return true;
    }
    let rest = name
        .strip_prefix("user.")
        .or_else(|| name.strip_prefix("hr."));
    rest.is_some_and(|r| !r.is_empty() && r.split('.').all(|seg| !seg.is_empty()))
}

const KNOWN_DESCRIPTION: &str = "{user.<attribute>}, {hr.<field>}, {key}, {dn}, {event}, {webhook}, and in a notification {notify.cause}, {notify.about}, {notify.subject}, {notify.text}, {notify.command}, {notify.channel}";

/// One `[[webhook]]` table.
///
/// ```toml
/// [[webhook]]
/// name = "icehrm-writeback"
/// description = "Send the new mail back to IceHrm"
/// method = "PUT"                      # GET POST PUT PATCH DELETE
/// url = "http://127.0.0.1:8080/app/api/employees/{hr.id}"
/// headers = { "X-Source" = "hrsync {event}" }
/// query = { notify = "{user.uid}" }
/// message_type = "json"               # json | xml | form
/// body = '{"work_email": "{user.mail}", "note": "by hrsync"}'
/// auth = "icehrm"                     # optional: integration whose credentials are sent
/// timeout_secs = 10                   # default 10
/// max_attempts = 3                    # default 3
/// idempotent = true                   # default: true for GET/PUT/DELETE, false for POST/PATCH
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Unique name, used in errors, logs, `hrsync webhook test NAME` and as `{webhook}`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE` (any case).
    pub method: String,
    /// Absolute `http` or `https` URL; macros only in the path (and query), never in the
    /// scheme, host or port.
    pub url: String,
    /// Header name → value template.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Query parameter name → value template (values are encoded by the URL serializer).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    #[serde(default)]
    pub message_type: MessageType,
    /// The body template (JSON with macros inside strings, an XML text, or `a={x}&b=y`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Name of an integration whose credentials are sent (resolved into secret headers by the
    /// caller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    /// Per-attempt timeout (connect to end of response), seconds.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Attempts at most, retries included (1–10).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Whether repeating the call is harmless. Default: by method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent: Option<bool>,
}

fn default_timeout_secs() -> u64 {
    10
}

fn default_max_attempts() -> u32 {
    3
}

/// The body's format, which decides its escaping and `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    #[default]
    Json,
    Xml,
    Form,
}

impl MessageType {
    /// The `Content-Type` sent with a body of this type.
    pub fn content_type(self) -> &'static str {
        match self {
            MessageType::Json => "application/json",
            MessageType::Xml => "application/xml",
            MessageType::Form => "application/x-www-form-urlencoded",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Json => "json",
            MessageType::Xml => "xml",
            MessageType::Form => "form",
        }
    }
}

/// The HTTP methods a webhook may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    /// Parses a method name, any case.
    pub fn parse(s: &str) -> Option<Method> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// Whether the method is idempotent by definition (RFC 9110 §9.2.2).
    pub fn is_idempotent(self) -> bool {
        matches!(self, Method::Get | Method::Put | Method::Delete)
    }

    pub(crate) fn to_reqwest(self) -> reqwest::Method {
        match self {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a webhook could not be compiled or rendered. Every variant names the webhook and the
/// config field (`url`, `headers.X-Source`, `query.notify`, `body`, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// A template in the config is malformed or uses an unknown macro.
    #[error("webhook {webhook}: {field}: {source}")]
    Template {
        webhook: String,
        field: String,
        source: TemplateError,
    },
    /// A config value is invalid.
    #[error("webhook {webhook}: {field}: {message}")]
    Invalid {
        webhook: String,
        field: String,
        message: String,
    },
    /// Expanding the webhook for one call failed (a missing value, a value refused where it
    /// lands).
    #[error("webhook {webhook}: cannot render {field}: {source}")]
    Render {
        webhook: String,
        field: String,
        source: TemplateError,
    },
    /// The expanded request is not valid (e.g. a header value HTTP cannot carry).
    #[error("webhook {webhook}: cannot render {field}: {message}")]
    RenderInvalid {
        webhook: String,
        field: String,
        message: String,
    },
}

/// Header names the config may not set: computed by the HTTP client, or secrets (which come
/// from `auth`, never from the config).
const RESERVED_HEADERS: [(&str, &str); 6] = [
    ("content-length", "computed from the body"),
    ("transfer-encoding", "set by the HTTP client"),
    ("host", "taken from the URL"),
    ("connection", "set by the HTTP client"),
    (
        "authorization",
        "credentials never go in the config; use auth = \"<integration>\"",
    ),
    (
        "proxy-authorization",
        "credentials never go in the config; use auth = \"<integration>\"",
    ),
];

#[derive(Debug, Clone)]
enum Body {
    Json(BodyTemplate),
    Text(Template),
}

/// A compiled webhook: every template parsed and checked.
#[derive(Debug, Clone)]
pub struct Webhook {
    name: String,
    description: Option<String>,
    method: Method,
    url: Template,
    /// Scheme, host and port every rendered URL must keep.
    origin: String,
    headers: Vec<(String, Template)>,
    query: Vec<(String, Template)>,
    message_type: MessageType,
    body: Option<Body>,
    /// A `Content-Type` header from the config, which wins over the message type's.
    content_type_override: Option<Template>,
    auth: Option<String>,
    timeout: Duration,
    max_attempts: u32,
    idempotent: bool,
    /// Whether the config set `idempotent` itself.
    idempotent_configured: bool,
}

/// A request ready to send: every macro expanded and escaped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prepared {
    pub method: Method,
    /// The full URL, query included.
    pub url: String,
    /// Headers from the config (not `Content-Type`, not secrets).
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// `Content-Type` of the body (`None` without a body).
    pub content_type: Option<String>,
}

impl Webhook {
    /// Checks a `[[webhook]]` table: method, URL (absolute http/https after a trial render,
    /// macros not in the scheme, host or port), header names and values, templates and their
    /// macros, body against the message type, timeout and attempts.
    pub fn compile(cfg: &WebhookConfig) -> Result<Webhook, WebhookError> {
        let name = cfg.name.trim().to_string();
        let invalid = |field: &str, message: String| WebhookError::Invalid {
            webhook: if name.is_empty() {
                "(unnamed)".to_string()
            } else {
                name.clone()
            },
            field: field.to_string(),
            message,
        };
        if name.is_empty() || name.chars().any(|c| c.is_control()) {
            return Err(invalid(
                "name",
                "a webhook needs a name without control characters".into(),
            ));
        }
        let template = |field: &str, s: &str| -> Result<Template, WebhookError> {
            let t = Template::parse_dotted(s).map_err(|source| WebhookError::Template {
                webhook: name.clone(),
                field: field.to_string(),
                source,
            })?;
            check_macros(&name, field, t.macros())?;
            Ok(t)
        };

        let method = Method::parse(&cfg.method).ok_or_else(|| {
            invalid(
                "method",
                format!(
                    "{:?} is not a webhook method; use GET, POST, PUT, PATCH or DELETE",
                    cfg.method
                ),
            )
        })?;

        if cfg.timeout_secs == 0 || cfg.timeout_secs > 3600 {
            return Err(invalid(
                "timeout_secs",
                format!("{} is out of range (1–3600 seconds)", cfg.timeout_secs),
            ));
        }
        if cfg.max_attempts == 0 || cfg.max_attempts > MAX_ATTEMPTS_LIMIT {
            return Err(invalid(
                "max_attempts",
                format!(
                    "{} is out of range (1–{MAX_ATTEMPTS_LIMIT}, retries included)",
                    cfg.max_attempts
                ),
            ));
        }

        // URL: parse, then render twice with different stand-in values: both must be absolute
        // http(s) URLs with the same origin, so no macro can pick the host.
        let url = template("url", &cfg.url)?;
        let mut origins = Vec::new();
        for stand_in in ["a", "b"] {
            let vals: BTreeMap<String, String> = url
                .macros()
                .map(|m| (m.to_string(), stand_in.to_string()))
                .collect();
            let rendered =
                url.render(&vals, Context::Path)
                    .map_err(|source| WebhookError::Template {
                        webhook: name.clone(),
                        field: "url".into(),
                        source,
                    })?;
            let parsed = reqwest::Url::parse(&rendered).map_err(|e| {
                invalid(
                    "url",
                    format!(
                        "{:?} is not an absolute URL ({e}); write http(s)://host[:port]/path",
                        cfg.url
                    ),
                )
            })?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(invalid(
                    "url",
                    format!(
                        "scheme {:?} is not supported; use http or https",
                        parsed.scheme()
                    ),
                ));
            }
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(invalid("url", format!("{:?} has no host", cfg.url)));
            }
            if !parsed.username().is_empty() || parsed.password().is_some() {
                return Err(invalid(
                    "url",
                    "credentials in the URL are not allowed; use auth = \"<integration>\"".into(),
                ));
            }
            origins.push(parsed.origin().ascii_serialization());
        }
        let origin = origins.first().cloned().unwrap_or_default();
        if origins.iter().any(|o| *o != origin) {
            return Err(invalid(
                "url",
                "macros may appear only in the path and query, not in the scheme, host or port"
                    .into(),
            ));
        }

        let mut headers = Vec::new();
        let mut content_type_override = None;
        for (k, v) in &cfg.headers {
            let field = format!("headers.{k}");
            let hn = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| invalid(&field, format!("{k:?} is not a valid header name")))?;
            if let Some((_, why)) = RESERVED_HEADERS.iter().find(|(n, _)| *n == hn.as_str()) {
                return Err(invalid(&field, format!("{k} cannot be set here: {why}")));
            }
            let t = template(&field, v)?;
            // The literal parts must be a valid header value on their own.
            let vals: BTreeMap<String, String> =
                t.macros().map(|m| (m.to_string(), "x".into())).collect();
            let trial = t.render(&vals, Context::Header).unwrap_or_default();
            if HeaderValue::from_str(&trial).is_err() {
                return Err(invalid(
                    &field,
                    "the value holds characters a header cannot carry (line breaks, control characters)"
                        .into(),
                ));
            }
            if hn == reqwest::header::CONTENT_TYPE {
                content_type_override = Some(t);
            } else {
                headers.push((k.clone(), t));
            }
        }

        let mut query = Vec::new();
        for (k, v) in &cfg.query {
            let field = format!("query.{k}");
            if k.is_empty() {
                return Err(invalid("query", "a query parameter needs a name".into()));
            }
            query.push((k.clone(), template(&field, v)?));
        }

        let body = match &cfg.body {
            None => None,
            Some(_) if method == Method::Get => {
                return Err(invalid(
                    "body",
                    "a GET request carries no body; put the values in query or url".into(),
                ));
            }
            Some(b) => Some(match cfg.message_type {
                MessageType::Json => {
                    let t = BodyTemplate::parse_dotted(b)
                        .map_err(|e| invalid("body", format!("message_type = \"json\": {e}")))?;
                    check_macros(&name, "body", t.macros().iter().map(String::as_str))?;
                    Body::Json(t)
                }
                MessageType::Xml | MessageType::Form => Body::Text(template("body", b)?),
            }),
        };

        Ok(Webhook {
            description: cfg.description.clone(),
            method,
            url,
            origin,
            headers,
            query,
            message_type: cfg.message_type,
            body,
            content_type_override,
            auth: cfg.auth.clone(),
            timeout: Duration::from_secs(cfg.timeout_secs),
            max_attempts: cfg.max_attempts,
            idempotent: cfg.idempotent.unwrap_or(method.is_idempotent()),
            idempotent_configured: cfg.idempotent.is_some(),
            name,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    pub fn method(&self) -> Method {
        self.method
    }

    pub fn message_type(&self) -> MessageType {
        self.message_type
    }

    /// The integration whose credentials go with each call, if any.
    pub fn auth(&self) -> Option<&str> {
        self.auth.as_deref()
    }

    /// Per-attempt timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Whether repeating the call is harmless (config `idempotent`, else the method's default).
    /// An `Idempotency-Key` sent with the call also makes retries safe (see [`deliver`]).
    pub fn idempotent(&self) -> bool {
        self.idempotent
    }

    /// Whether the config says `idempotent = true` itself (not the method's default).
    pub fn idempotent_by_config(&self) -> bool {
        self.idempotent_configured && self.idempotent
    }

    /// Whether the config sets an `Idempotency-Key` header itself.
    pub fn has_idempotency_header(&self) -> bool {
        self.headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("idempotency-key"))
    }

    /// Every macro the webhook uses (URL, headers, query, body): the attributes and HR fields
    /// the caller must supply to [`Webhook::render`]. `{webhook}` is filled in by `render`.
    pub fn macros(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = BTreeSet::new();
        out.extend(self.url.macros().map(str::to_string));
        for (_, t) in self.headers.iter().chain(&self.query) {
            out.extend(t.macros().map(str::to_string));
        }
        if let Some(t) = &self.content_type_override {
            out.extend(t.macros().map(str::to_string));
        }
        match &self.body {
            Some(Body::Json(b)) => out.extend(b.macros()),
            Some(Body::Text(t)) => out.extend(t.macros().map(str::to_string)),
            None => {}
        }
        out
    }

    /// Expands the webhook for one call. `values` maps macro names (`user.mail`, `hr.id`,
    /// `key`, `dn`, `event`) to values; `webhook` defaults to the webhook's name. A missing
    /// value, a line break in a header value, or a dot segment in the path is an error.
    pub fn render(&self, values: &BTreeMap<String, String>) -> Result<Prepared, WebhookError> {
        let values: Cow<'_, BTreeMap<String, String>> = if values.contains_key("webhook") {
            Cow::Borrowed(values)
        } else {
            let mut v = values.clone();
            v.insert("webhook".into(), self.name.clone());
            Cow::Owned(v)
        };
        let values = values.as_ref();
        let render_err = |field: &str, source: TemplateError| WebhookError::Render {
            webhook: self.name.clone(),
            field: field.to_string(),
            source,
        };
        let invalid = |field: &str, message: String| WebhookError::RenderInvalid {
            webhook: self.name.clone(),
            field: field.to_string(),
            message,
        };

        let rendered = self
            .url
            .render(values, Context::Path)
            .map_err(|e| render_err("url", e))?;
        let mut url = reqwest::Url::parse(&rendered)
            .map_err(|e| invalid("url", format!("{rendered:?} is not a valid URL: {e}")))?;
        if url.origin().ascii_serialization() != self.origin {
            return Err(invalid(
                "url",
                format!("{rendered:?} does not keep the configured scheme, host and port"),
            ));
        }
        if !self.query.is_empty() {
            let mut rendered_query = Vec::with_capacity(self.query.len());
            for (k, t) in &self.query {
                let v = t
                    .render(values, Context::Raw)
                    .map_err(|e| render_err(&format!("query.{k}"), e))?;
                rendered_query.push((k, v));
            }
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &rendered_query {
                pairs.append_pair(k, v);
            }
        }

        let mut headers = Vec::with_capacity(self.headers.len());
        for (k, t) in &self.headers {
            let field = format!("headers.{k}");
            let v = t
                .render(values, Context::Header)
                .map_err(|e| render_err(&field, e))?;
            if HeaderValue::from_str(&v).is_err() {
                return Err(invalid(
                    &field,
                    "the value holds characters a header cannot carry".into(),
                ));
            }
            headers.push((k.clone(), v));
        }

        let body = match &self.body {
            None => None,
            Some(Body::Json(b)) => Some(b.render(values).map_err(|e| render_err("body", e))?),
            Some(Body::Text(t)) => {
                let ctx = match self.message_type {
                    MessageType::Xml => Context::Xml,
                    MessageType::Form => Context::Form,
                    // A JSON body is always a `BodyTemplate`.
                    MessageType::Json => Context::Json,
                };
                Some(t.render(values, ctx).map_err(|e| render_err("body", e))?)
            }
        };
        let content_type = match (&body, &self.content_type_override) {
            (None, _) => None,
            (Some(_), Some(t)) => {
                let v = t
                    .render(values, Context::Header)
                    .map_err(|e| render_err("headers.Content-Type", e))?;
                if HeaderValue::from_str(&v).is_err() {
                    return Err(invalid(
                        "headers.Content-Type",
                        "the value holds characters a header cannot carry".into(),
                    ));
                }
                Some(v)
            }
            (Some(_), None) => Some(self.message_type.content_type().to_string()),
        };

        Ok(Prepared {
            method: self.method,
            url: url.to_string(),
            headers,
            body,
            content_type,
        })
    }
}

fn check_macros<'a>(
    webhook: &str,
    field: &str,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<(), WebhookError> {
    for m in names {
        if !is_known_macro(m) {
            return Err(WebhookError::Template {
                webhook: webhook.to_string(),
                field: field.to_string(),
                source: TemplateError::Unknown {
                    name: m.to_string(),
                    known: KNOWN_DESCRIPTION.to_string(),
                },
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const HOSTILE: &str = "Zoë \"Z\" O'Brien <x>&y=1\n}";

    fn cfg(toml_text: &str) -> WebhookConfig {
        #[derive(Deserialize)]
        struct File {
            webhook: Vec<WebhookConfig>,
        }
        let f: File = toml::from_str(toml_text).unwrap();
        f.webhook.into_iter().next().unwrap()
    }

    fn vals(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const EXAMPLE: &str = r#"
[[webhook]]
name = "icehrm-writeback"
description = "Send the new mail back to IceHrm"
method = "PUT"
url = "http://127.0.0.1:8080/app/api/employees/{hr.id}"
headers = { "X-Source" = "hrsync {event}" }
query = { notify = "{user.uid}" }
message_type = "json"
body = '{"work_email": "{user.mail}", "note": "by hrsync"}'
auth = "icehrm"
timeout_secs = 10
max_attempts = 3
idempotent = true
"#;

    #[test]
    fn the_documented_example_compiles_and_renders() {
        let c = cfg(EXAMPLE);
        let h = Webhook::compile(&c).unwrap();
        assert_eq!(h.name(), "icehrm-writeback");
        assert_eq!(h.method(), Method::Put);
        assert_eq!(h.auth(), Some("icehrm"));
        assert_eq!(h.timeout(), Duration::from_secs(10));
        assert_eq!(h.max_attempts(), 3);
        assert!(h.idempotent());
        assert_eq!(
            h.macros().into_iter().collect::<Vec<_>>(),
            ["event", "hr.id", "user.mail", "user.uid"]
        );
        let p = h
            .render(&vals(&[
                ("hr.id", "42"),
                ("event", "joiner"),
                ("user.uid", "zoe & co"),
                ("user.mail", "zoe@example.org"),
            ]))
            .unwrap();
        assert_eq!(p.method, Method::Put);
        assert_eq!(
            p.url,
            "http://127.0.0.1:8080/app/api/employees/42?notify=zoe+%26+co"
        );
        assert_eq!(p.headers, [("X-Source".into(), "hrsync joiner".into())]);
        assert_eq!(p.content_type.as_deref(), Some("application/json"));
        let body: serde_json::Value = serde_json::from_str(p.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["work_email"], "zoe@example.org");
        assert_eq!(body["note"], "by hrsync");
    }

    #[test]
    fn defaults_follow_the_method() {
        let minimal = |method: &str| {
            cfg(&format!(
                "[[webhook]]\nname = \"n\"\nmethod = \"{method}\"\nurl = \"https://h/x\"\n"
            ))
        };
        let c = minimal("post");
        assert_eq!(c.timeout_secs, 10);
        assert_eq!(c.max_attempts, 3);
        assert_eq!(c.message_type, MessageType::Json);
        for (m, idem) in [
            ("GET", true),
            ("post", false),
            ("PUT", true),
            ("Patch", false),
            ("DELETE", true),
        ] {
            assert_eq!(
                Webhook::compile(&minimal(m)).unwrap().idempotent(),
                idem,
                "{m}"
            );
        }
        let mut c = minimal("POST");
        c.idempotent = Some(true);
        assert!(Webhook::compile(&c).unwrap().idempotent());
    }

    #[test]
    fn unknown_fields_are_refused() {
        #[derive(Deserialize, Debug)]
        struct File {
            #[allow(dead_code)]
            webhook: Vec<WebhookConfig>,
        }
        let e = toml::from_str::<File>(
            "[[webhook]]\nname = \"n\"\nmethod = \"GET\"\nurl = \"http://h/\"\nretries = 3\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("retries"), "{e}");
    }

    #[test]
    fn unknown_macro_is_an_error_naming_webhook_field_and_macro() {
        let mut c = cfg(EXAMPLE);
        c.body = Some(r#"{"work_email": "{usr.mail}"}"#.into());
        let e = Webhook::compile(&c).unwrap_err().to_string();
        assert!(
            e.contains("icehrm-writeback") && e.contains("body") && e.contains("{usr.mail}"),
            "{e}"
        );
        assert!(e.contains("{user.<attribute>}"), "{e}");

        let mut c = cfg(EXAMPLE);
        c.headers.insert("X-Who".into(), "{whoami}".into());
        let e = Webhook::compile(&c).unwrap_err().to_string();
        assert!(e.contains("headers.X-Who") && e.contains("{whoami}"), "{e}");

        for bad in ["{user.}", "{hr}", "{hr..x}", "{users.mail}"] {
            let mut c = cfg(EXAMPLE);
            c.query.insert("q".into(), bad.into());
            let e = Webhook::compile(&c).unwrap_err().to_string();
            assert!(e.contains("query.q"), "{bad}: {e}");
        }
        for good in [
            "{key}",
            "{dn}",
            "{event}",
            "{webhook}",
            "{hr.department.display}",
        ] {
            let mut c = cfg(EXAMPLE);
            c.query.insert("q".into(), good.into());
            Webhook::compile(&c).unwrap();
        }
    }

    #[test]
    fn config_errors_name_the_field() {
        let check = |edit: &dyn Fn(&mut WebhookConfig), field: &str, words: &str| {
            let mut c = cfg(EXAMPLE);
            edit(&mut c);
            let e = Webhook::compile(&c).unwrap_err().to_string();
            assert!(
                e.starts_with("webhook icehrm-writeback: ") && e.contains(field),
                "{field}: {e}"
            );
            assert!(e.contains(words), "{field}: {e}");
        };
        check(&|c| c.method = "FETCH".into(), "method", "GET, POST");
        check(&|c| c.url = "/relative/{hr.id}".into(), "url", "absolute");
        check(&|c| c.url = "ftp://h/{hr.id}".into(), "url", "scheme");
        check(&|c| c.url = "http://{hr.host}/x".into(), "url", "");
        check(
            &|c| c.url = "http://h{hr.x}.example/x".into(),
            "url",
            "host",
        );
        check(&|c| c.url = "http://u:p@h/x".into(), "url", "credentials");
        check(&|c| c.url = "http://h/{hr.id".into(), "url", "unclosed");
        check(&|c| c.timeout_secs = 0, "timeout_secs", "range");
        check(&|c| c.max_attempts = 0, "max_attempts", "range");
        check(&|c| c.max_attempts = 11, "max_attempts", "range");
        check(
            &|c| {
                c.headers
                    .insert("Authorization".into(), "Bearer abc".into());
            },
            "headers.Authorization",
            "auth =",
        );
        check(
            &|c| {
                c.headers.insert("Bad Name".into(), "x".into());
            },
            "headers.Bad Name",
            "header name",
        );
        check(
            &|c| {
                c.headers.insert("X-A".into(), "a\nb".into());
            },
            "headers.X-A",
            "line breaks",
        );
        check(
            &|c| c.body = Some("{\"a\": {user.mail}}".into()),
            "body",
            "JSON",
        );
        check(
            &|c| {
                c.method = "GET".into();
            },
            "body",
            "GET",
        );
        let mut c = cfg(EXAMPLE);
        c.name = " ".into();
        assert!(
            Webhook::compile(&c)
                .unwrap_err()
                .to_string()
                .contains("name")
        );
    }

    #[test]
    fn render_errors_name_the_macro_and_field() {
        let h = Webhook::compile(&cfg(EXAMPLE)).unwrap();
        let e = h
            .render(&vals(&[("hr.id", "1"), ("event", "x"), ("user.uid", "u")]))
            .unwrap_err();
        assert!(
            matches!(&e, WebhookError::Render { field, source: TemplateError::NoValue(m), .. } if field == "body" && m == "user.mail"),
            "{e:?}"
        );
        let e = h
            .render(&vals(&[
                ("hr.id", "1"),
                ("event", HOSTILE),
                ("user.uid", "u"),
                ("user.mail", "m"),
            ]))
            .unwrap_err();
        assert!(
            matches!(&e, WebhookError::Render { field, source: TemplateError::ControlInHeader(_), .. } if field == "headers.X-Source"),
            "{e:?}"
        );
        assert!(e.to_string().contains("icehrm-writeback"));
        let e = h
            .render(&vals(&[
                ("hr.id", ".."),
                ("event", "e"),
                ("user.uid", "u"),
                ("user.mail", "m"),
            ]))
            .unwrap_err();
        assert!(
            matches!(
                &e,
                WebhookError::Render {
                    source: TemplateError::DotSegment(..),
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn hostile_values_keep_the_shape_of_every_message_type() {
        let base = "[[webhook]]\nname = \"n\"\nmethod = \"POST\"\nurl = \"http://h/p/{hr.id}\"\n";
        let v = vals(&[("hr.id", "../x/y?z#w"), ("user.mail", HOSTILE)]);

        let h = Webhook::compile(&cfg(&format!(
            "{base}message_type = \"json\"\nbody = '{{\"a\": \"{{user.mail}}\", \"b\": [\"<{{user.mail}}>\"]}}'\n"
        )))
        .unwrap();
        let p = h.render(&v).unwrap();
        assert_eq!(p.url, "http://h/p/..%2Fx%2Fy%3Fz%23w");
        let j: serde_json::Value = serde_json::from_str(p.body.as_deref().unwrap()).unwrap();
        assert_eq!(j["a"], HOSTILE);
        assert_eq!(j["b"][0], format!("<{HOSTILE}>"));
        assert_eq!(j.as_object().unwrap().len(), 2);

        let h = Webhook::compile(&cfg(&format!(
            "{base}message_type = \"xml\"\nbody = '<u><mail a=\"{{user.mail}}\">{{user.mail}}</mail></u>'\n"
        )))
        .unwrap();
        let p = h.render(&v).unwrap();
        assert_eq!(p.content_type.as_deref(), Some("application/xml"));
        let body = p.body.unwrap();
        assert_eq!(body.matches('<').count(), 4, "{body}");
        assert_eq!(body.matches('>').count(), 4, "{body}");

        let h = Webhook::compile(&cfg(&format!(
            "{base}message_type = \"form\"\nbody = 'mail={{user.mail}}&note=x'\n"
        )))
        .unwrap();
        let p = h.render(&v).unwrap();
        assert_eq!(
            p.content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(p.body.as_deref().unwrap().as_bytes())
                .into_owned()
                .collect();
        assert_eq!(
            pairs,
            [
                ("mail".to_string(), HOSTILE.to_string()),
                ("note".into(), "x".into())
            ]
        );
    }

    #[test]
    fn content_type_header_overrides_the_message_type() {
        let mut c = cfg(EXAMPLE);
        c.headers
            .insert("content-type".into(), "application/vnd.api+json".into());
        let h = Webhook::compile(&c).unwrap();
        let p = h
            .render(&vals(&[
                ("hr.id", "1"),
                ("event", "e"),
                ("user.uid", "u"),
                ("user.mail", "m"),
            ]))
            .unwrap();
        assert_eq!(p.content_type.as_deref(), Some("application/vnd.api+json"));
        assert!(
            p.headers
                .iter()
                .all(|(k, _)| !k.eq_ignore_ascii_case("content-type"))
        );
    }

    #[test]
    fn webhook_macro_defaults_to_the_name() {
        let h = Webhook::compile(&cfg(
            "[[webhook]]\nname = \"hook-1\"\nmethod = \"DELETE\"\nurl = \"http://h/{webhook}/{key}\"\n",
        ))
        .unwrap();
        let p = h.render(&vals(&[("key", "E 1")])).unwrap();
        assert_eq!(p.url, "http://h/hook-1/E%201");
        assert_eq!(p.body, None);
        assert_eq!(p.content_type, None);
    }
}
