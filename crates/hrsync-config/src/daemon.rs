//! Configuration of the daemon: `[serve]`, `[[automation]]` (schedules), `[[event]]` (inbound
//! HR change notifications), `[[orchestration]]` (templates run on lifecycle events). Webhooks
//! (`[[webhook]]`) are `hrsync_webhook::WebhookConfig`.

use super::schedule::{self, Missed};
use super::{Config, ConfigError};
use hrsync_model::{Secret, SecretRef};
use serde::Deserialize;

/// `[serve]` (or `[server]`).
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawServe {
    /// Address of the HTTP listener (health, metrics, events, the API). Loopback by default.
    /// Plain HTTP is allowed on a loopback address only: any other address needs
    /// `[server.tls]` (or a reverse proxy with TLS in front, listening on loopback).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Seconds a shutdown waits for running syncs and steps before giving up.
    #[serde(default = "default_grace")]
    pub shutdown_grace_secs: u64,
    /// Seconds a client has to send a request head (from the accept, or from the first byte
    /// of a later request on a keep-alive connection), and then its body.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_secs: u64,
    /// Seconds a keep-alive connection may stay without a request before it is closed.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: u64,
    /// Client connections open at once; at the cap the longest-idle one is closed for a new
    /// client. Keep it well below the open-files limit (`LimitNOFILE`).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// `[server.tls]`: serve HTTPS with this certificate.
    pub tls: Option<super::server_auth::RawServerTls>,
    /// `[server.auth]`: who may use the API (directory sign-in, roles). None: no sign-in.
    pub auth: Option<super::server_auth::RawServerAuth>,
}

impl Default for RawServe {
    fn default() -> Self {
        RawServe {
            listen: default_listen(),
            shutdown_grace_secs: default_grace(),
            header_timeout_secs: default_header_timeout(),
            idle_timeout_secs: default_idle_timeout(),
            max_connections: default_max_connections(),
            tls: None,
            auth: None,
        }
    }
}

fn default_header_timeout() -> u64 {
    10
}
fn default_idle_timeout() -> u64 {
    60
}
fn default_max_connections() -> usize {
    512
}

fn default_listen() -> String {
    "127.0.0.1:8750".into()
}
fn default_grace() -> u64 {
    60
}

/// `[[automation]]`: a mapping synced on a cron schedule.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawAutomation {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The `[[mapping]]` to run.
    pub mapping: String,
    /// Cron expression, 5 fields (`*/15 * * * *`) or 6 with seconds; UTC.
    pub schedule: String,
    /// `apply` (default) or `plan` (plan only: the plan is stored for review).
    #[serde(default = "default_mode")]
    pub mode: String,
    /// `incremental` (default: as the endpoint asks — only changes since the last sync when it
    /// uses `{lastRunTime}`) or `full` (everyone, so people who left HR are found too).
    #[serde(default = "default_fetch")]
    pub fetch: String,
    #[serde(default)]
    pub missed: Missed,
    #[serde(default = "crate::default_true")]
    pub enabled: bool,
}

fn default_mode() -> String {
    "apply".into()
}
fn default_fetch() -> String {
    "incremental".into()
}

/// How an inbound event proves it comes from the HR system.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EventAuth {
    /// The `Authorization` header carries the shared secret verbatim (what Paycor sends: the
    /// subscription's notification secret).
    SharedSecret,
    /// `X-Hrsync-Timestamp: <unix seconds>` and `X-Hrsync-Signature: sha256=<hex>` =
    /// HMAC-SHA256(secret, timestamp + "." + body); the timestamp must be within 5 minutes.
    HmacSha256,
}

/// The shape of an inbound event.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EventFormat {
    /// Paycor's thin event `{eventType, eventId, tenantId, legalEntityId, itemId, resource}`;
    /// `Employee.Modified` names the employee by `itemId`.
    Paycor,
    /// `{"employee_id": "…", "event_id": "…"}` (`event_id` optional).
    Generic,
}

/// `[[event]]`: an inbound endpoint `POST /events/{name}`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawEvent {
    /// The endpoint's name (the URL path segment).
    pub name: String,
    /// The mapping an event reconciles.
    pub mapping: String,
    pub format: EventFormat,
    pub auth: EventAuth,
    pub secret: SecretRef,
    /// HR field the event's employee id is compared with (default: Paycor `id`, generic: the
    /// mapping's primary key).
    pub match_field: Option<String>,
}

/// When a step of an orchestration runs, given the previous step's result.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum When {
    #[default]
    PreviousOk,
    PreviousFailed,
    Always,
}

/// What a failed step does.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Retry with backoff up to `max_attempts`, then the dead-letter list.
    #[default]
    Retry,
    /// Record the failure and go on (a later `when = "previous_failed"` step can react).
    Continue,
}

/// One step of an orchestration template.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    /// `webhook`, `enable`, `disable`, `move`, `add_group`, `remove_group`, `set_attribute`,
    /// `reset_password`, `delay`.
    pub action: String,
    pub webhook: Option<String>,
    /// `move`: the new parent DN.
    pub to: Option<String>,
    /// `add_group` / `remove_group`: the group's DN.
    pub group: Option<String>,
    /// `set_attribute`: attribute and value (macros `{user.…}`, `{hr.…}`, `{key}` …).
    pub attribute: Option<String>,
    pub value: Option<String>,
    /// `delay`: seconds.
    pub seconds: Option<u64>,
    #[serde(default)]
    pub when: When,
    #[serde(default)]
    pub on_error: OnError,
    /// Attempts of this step before the instance goes to the dead-letter list (default: the
    /// orchestration's `max_attempts`).
    pub max_attempts: Option<u32>,
}

/// The largest `max_attempts` of an orchestration or a step.
pub const MAX_STEP_ATTEMPTS: u32 = 100;

/// The longest delay step (a year).
pub const MAX_DELAY_SECS: u64 = 366 * 24 * 3600;

/// `[[orchestration]]`: ordered steps run for a person on lifecycle events, or on demand.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawOrchestration {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Only events of this mapping (default: every mapping).
    pub mapping: Option<String>,
    /// `created`, `updated`, `updated:<attribute>`, `moved`, `disabled`, `deleted`, `enabled`
    /// (also `rehired`). Empty: on demand only (`hrsync orchestrate run`).
    #[serde(default)]
    pub on: Vec<String>,
    pub steps: Vec<RawStep>,
    /// Attempts per step before the orchestration goes to the dead-letter list.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
}

fn default_attempts() -> u32 {
    5
}

/// The lifecycle events an orchestration can be triggered by.
pub const EVENTS: &[&str] = &[
    "created", "updated", "moved", "disabled", "deleted", "enabled", "rehired",
];

/// The actions a step can take.
pub const ACTIONS: &[&str] = &[
    "webhook",
    "enable",
    "disable",
    "move",
    "add_group",
    "remove_group",
    "set_attribute",
    "reset_password",
    "delay",
];

/// A resolved `[[event]]`.
#[derive(Clone)]
pub struct EventEndpoint {
    pub raw: RawEvent,
    pub secret: Secret,
}

impl Config {
    /// The `[[event]]` endpoints with their secrets resolved.
    pub fn event_endpoints(&self) -> Result<Vec<EventEndpoint>, ConfigError> {
        let base = self.base_dir();
        self.raw
            .events
            .iter()
            .enumerate()
            .map(|(i, e)| {
                Ok(EventEndpoint {
                    raw: e.clone(),
                    secret: self.secret(
                        &format!("event[{i}]"),
                        "secret",
                        Some(&e.secret),
                        &base,
                    )?,
                })
            })
            .collect()
    }

    /// Checks `[[automation]]`, `[[event]]`, `[[webhook]]` and `[[orchestration]]`.
    pub(crate) fn validate_service(&self) -> Result<(), ConfigError> {
        let r = &self.raw;
        for (key, v, max) in [
            (
                "serve.header_timeout_secs",
                r.serve.header_timeout_secs,
                3600,
            ),
            ("serve.idle_timeout_secs", r.serve.idle_timeout_secs, 86_400),
            (
                "serve.max_connections",
                r.serve.max_connections as u64,
                1_000_000,
            ),
        ] {
            if !(1..=max).contains(&v) {
                return Err(self.invalid(key, format!("{v} is out of range (1 to {max})")));
            }
        }
        let mappings: Vec<&str> = r.mappings.iter().map(|m| m.name.as_str()).collect();
        let mut names = std::collections::BTreeSet::new();
        for (i, a) in r.automations.iter().enumerate() {
            let key = format!("automation[{i}]");
            if !names.insert(a.name.clone()) {
                return Err(self.invalid(key, format!("a second automation named {:?}", a.name)));
            }
            if !mappings.contains(&a.mapping.as_str()) {
                return Err(self.invalid(
                    format!("{key}.mapping"),
                    format!(
                        "no [[mapping]] named {:?}; there are {mappings:?}",
                        a.mapping
                    ),
                ));
            }
            if let Err(e) = schedule::parse(&a.schedule) {
                return Err(self.invalid(format!("{key}.schedule"), e));
            }
            if a.mode != "apply" && a.mode != "plan" {
                return Err(self.invalid(format!("{key}.mode"), "\"apply\" or \"plan\""));
            }
            if a.fetch != "incremental" && a.fetch != "full" {
                return Err(self.invalid(format!("{key}.fetch"), "\"incremental\" or \"full\""));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, e) in r.events.iter().enumerate() {
            let key = format!("event[{i}]");
            if !names.insert(e.name.clone())
                || e.name.is_empty()
                || !e
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(self.invalid(
                    format!("{key}.name"),
                    format!("{:?}: names are unique and use letters, digits, - and _ (the URL is /events/<name>)", e.name),
                ));
            }
            if !mappings.contains(&e.mapping.as_str()) {
                return Err(self.invalid(
                    format!("{key}.mapping"),
                    format!("no [[mapping]] named {:?}", e.mapping),
                ));
            }
        }
        let mut hooks = std::collections::BTreeSet::new();
        for (i, w) in r.webhooks.iter().enumerate() {
            if !hooks.insert(w.name.clone()) {
                return Err(self.invalid(
                    format!("webhook[{i}].name"),
                    format!("a second webhook named {:?}", w.name),
                ));
            }
            if let Err(e) = hrsync_webhook::Webhook::compile(w) {
                return Err(self.invalid(format!("webhook[{i}]"), e.to_string()));
            }
            if let Some(a) = &w.auth
                && !r.integrations.iter().any(|it| &it.name == a)
            {
                return Err(self.invalid(
                    format!("webhook[{i}].auth"),
                    format!("no [[integration]] named {a:?} to take credentials from"),
                ));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, o) in r.orchestrations.iter().enumerate() {
            let key = format!("orchestration[{i}]");
            if !names.insert(o.name.clone()) {
                return Err(self.invalid(key, format!("a second orchestration named {:?}", o.name)));
            }
            if let Some(m) = &o.mapping
                && !mappings.contains(&m.as_str())
            {
                return Err(self.invalid(
                    format!("{key}.mapping"),
                    format!("no [[mapping]] named {m:?}"),
                ));
            }
            for ev in &o.on {
                let base = ev.split(':').next().unwrap_or_default();
                if !EVENTS.contains(&base) || (ev.contains(':') && base != "updated") {
                    return Err(self.invalid(
                        format!("{key}.on"),
                        format!("{ev:?} is not an event; use {EVENTS:?} or updated:<attribute>"),
                    ));
                }
            }
            if o.steps.is_empty() {
                return Err(self.invalid(format!("{key}.steps"), "an orchestration needs steps"));
            }
            let attempts_in_range = |n: u32| (1..=MAX_STEP_ATTEMPTS).contains(&n);
            if !attempts_in_range(o.max_attempts) {
                return Err(self.invalid(
                    format!("{key}.max_attempts"),
                    format!(
                        "{} is out of range (1 to {MAX_STEP_ATTEMPTS})",
                        o.max_attempts
                    ),
                ));
            }
            if let Some((j, n)) = o.steps.iter().enumerate().find_map(|(j, s)| {
                s.max_attempts
                    .filter(|n| !attempts_in_range(*n))
                    .map(|n| (j, n))
            }) {
                return Err(self.invalid(
                    format!("{key}.steps[{j}].max_attempts"),
                    format!("{n} is out of range (1 to {MAX_STEP_ATTEMPTS})"),
                ));
            }
            for (j, s) in o.steps.iter().enumerate() {
                let skey = format!("{key}.steps[{j}]");
                let need = |v: bool, what: &str| {
                    if v {
                        Ok(())
                    } else {
                        Err(self
                            .invalid(skey.clone(), format!("action {:?} needs {what}", s.action)))
                    }
                };
                match s.action.as_str() {
                    "webhook" => {
                        need(s.webhook.is_some(), "webhook = \"<name>\"")?;
                        if let Some(w) = &s.webhook
                            && !hooks.contains(w)
                        {
                            return Err(self.invalid(
                                format!("{skey}.webhook"),
                                format!("no [[webhook]] named {w:?}"),
                            ));
                        }
                    }
                    "move" => need(s.to.is_some(), "to = \"<parent DN>\"")?,
                    "add_group" | "remove_group" => need(s.group.is_some(), "group = \"<DN>\"")?,
                    "set_attribute" => need(
                        s.attribute.is_some() && s.value.is_some(),
                        "attribute and value",
                    )?,
                    "delay" => need(
                        s.seconds.is_some_and(|x| x <= MAX_DELAY_SECS),
                        "seconds (at most a year)",
                    )?,
                    "enable" | "disable" | "reset_password" => {}
                    other => {
                        return Err(self.invalid(
                            format!("{skey}.action"),
                            format!("{other:?} is not an action; use one of {ACTIONS:?}"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

impl Config {
    /// The credentials a webhook borrows from an integration (`auth = "<name>"`), and the retry
    /// manners of that API: its static bearer token or **its OAuth token provider** (the one the
    /// fetches use: same cache, same token store, one refresh at a time), Paycor's subscription
    /// key, a REST API key, and the integration's rate limiter (one budget per subscription
    /// key). Paycor webhooks get [`hrsync_webhook::RetryPolicy::paycor`].
    pub fn webhook_credentials(
        &self,
        integration: &str,
    ) -> Result<(hrsync_webhook::Credentials, hrsync_webhook::RetryPolicy), ConfigError> {
        let base = self.base_dir();
        let Some((i, it)) = self
            .raw
            .integrations
            .iter()
            .enumerate()
            .find(|(_, it)| it.name == integration)
        else {
            return Err(self.invalid(
                "webhook.auth",
                format!("no [[integration]] named {integration:?}"),
            ));
        };
        let key = format!("integration[{i}]");
        // The integration's own bearer, as its fetches send it (OAuth wins over a token).
        let mut creds = hrsync_webhook::Credentials::default();
        match self.bearer(i, &key, it, &base)? {
            hrsync_source::rest::Bearer::OAuth(p) => creds.oauth = Some(p),
            hrsync_source::rest::Bearer::Static(t) => creds.headers.push((
                "Authorization".to_string(),
                Secret::new(format!("Bearer {}", t.expose())),
            )),
            hrsync_source::rest::Bearer::None => {}
        }
        if let Some(k) = &it.subscription_key {
            creds.headers.push((
                "Ocp-Apim-Subscription-Key".to_string(),
                self.secret(&key, "subscription_key", Some(k), &base)?,
            ));
        }
        if let Some(k) = &it.api_key {
            creds.headers.push((
                it.api_key_header
                    .clone()
                    .unwrap_or_else(|| super::DEFAULT_API_KEY_HEADER.to_string()),
                self.secret(&key, "api_key", Some(k), &base)?,
            ));
        }
        let policy = if it.kind == "paycor" {
            creds.limiter = self.shared_limiter(
                &it.name,
                hrsync_source::paycor::limiter(it.rate_limit_per_minute),
            );
            hrsync_webhook::RetryPolicy::paycor()
        } else {
            if it.kind == "rest" {
                creds.limiter = self.shared_limiter(
                    &it.name,
                    it.rate_limit_per_minute
                        .and_then(hrsync_source::rest::Limiter::per_minute),
                );
            }
            hrsync_webhook::RetryPolicy::default()
        };
        Ok((creds, policy))
    }
}
