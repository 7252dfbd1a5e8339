//! Events (webhooks): the `Event` payload, the outbox tests can read, and
//! delivery to `http://` notification URLs with the configured secret sent
//! verbatim as the `Authorization` header (research notes §10, inferred).

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::model::guid;

/// Kept events (oldest dropped beyond this).
const OUTBOX_LIMIT: usize = 10_000;

#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub url: String,
    pub secret: String,
    /// Send the keys PascalCase (`EventType`, `EventId`, …), as older Paycor specs show.
    pub pascal: bool,
}

#[derive(Default)]
pub(crate) struct Events {
    pub outbox: Vec<Value>,
    pub subscriptions: Vec<Subscription>,
    /// Record events but deliver none (see [`super::PaycorState::set_events_paused`]).
    pub paused: bool,
}

impl Events {
    pub(crate) fn record(&mut self, event: Value) {
        if self.outbox.len() >= OUTBOX_LIMIT {
            self.outbox.remove(0);
        }
        self.outbox.push(event);
    }
}

/// The `Event` model (camelCase). `changedFields` is always null.
pub(crate) fn event(
    event_type: &str,
    tenant_id: i64,
    legal_entity_id: Option<i64>,
    item_id: Option<&str>,
) -> Value {
    let mut rng = fastrand::Rng::new();
    let resource = match (event_type, item_id, legal_entity_id) {
        ("Employee.Modified", Some(id), _) => {
            json!({"id": id, "url": format!("/v1/employees/{id}")})
        }
        (_, _, Some(le)) => json!({"id": le.to_string(), "url": format!("/v1/legalentities/{le}")}),
        _ => Value::Null,
    };
    json!({
        "eventType": event_type,
        "eventId": guid(&mut rng),
        "tenantId": tenant_id,
        "legalEntityId": legal_entity_id,
        "itemId": item_id,
        "extendedProperties": {},
        "changedFields": Value::Null,
        "resource": resource,
    })
}

/// `event` with its top-level keys PascalCase (`eventType` → `EventType`).
pub(crate) fn pascal_case(event: &Value) -> Value {
    match event {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let mut c = k.chars();
                    let key = match c.next() {
                        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                        None => String::new(),
                    };
                    (key, v.clone())
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// POST `event` to `url` in the background (needs a Tokio runtime; without
/// one nothing is sent). Only `http://host[:port][/path]` URLs are supported.
pub(crate) fn deliver(url: String, secret: String, event: Value) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        tracing::debug!("no Tokio runtime: event to {url} not delivered");
        return;
    };
    handle.spawn(async move {
        match tokio::time::timeout(Duration::from_secs(10), post(&url, &secret, &event)).await {
            Ok(Ok(status)) => tracing::debug!("event delivered to {url}: HTTP {status}"),
            Ok(Err(e)) => tracing::warn!("event delivery to {url} failed: {e}"),
            Err(_) => tracing::warn!("event delivery to {url} timed out"),
        }
    });
}

async fn post(url: &str, secret: &str, event: &Value) -> std::io::Result<u16> {
    let invalid = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, m.to_owned());
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| invalid("only http:// notification URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let body = serde_json::to_vec(event).map_err(|e| invalid(&e.to_string()))?;
    let mut stream = tokio::net::TcpStream::connect(&addr).await?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json; charset=utf-8\r\nAuthorization: {secret}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body).await?;
    stream.flush().await?;
    let mut buf = vec![0_u8; 1024];
    let n = stream.read(&mut buf).await?;
    let line = String::from_utf8_lossy(&buf[..n]);
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .unwrap_or(0);
    Ok(status)
}
