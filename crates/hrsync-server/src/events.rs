//! Inbound HR change notifications (`POST /events/<name>`). An event is a *hint*: it is
//! authenticated (a shared secret or an HMAC-SHA256 signature, compared in constant time),
//! de-duplicated by its id, and then only names the people to re-fetch from HR and reconcile —
//! its content is never taken as data.

use hmac::{KeyInit, Mac};
use hrsync_config::daemon::{EventAuth, EventEndpoint, EventFormat};
use serde_json::Value;
use subtle::ConstantTimeEq;

/// How far a signed event's timestamp may be from now.
pub const MAX_SKEW_SECS: i64 = 300;

/// The longest employee id (or event id, event type) an event may carry, in bytes. HR keys
/// are short; a longer one is refused at the door (a 900 KB id made a 2.7 MB HR request URL
/// that failed, was retried and logged whole, and failed the events batched with it).
pub const MAX_KEY_BYTES: usize = 256;

/// `value` of `field` if it can be a key: at most [`MAX_KEY_BYTES`], no control character
/// (a key with one never reaches HR or the directory). The message never echoes the value.
fn checked(field: &str, value: String) -> Result<String, Refused> {
    if value.len() > MAX_KEY_BYTES {
        return Err(Refused::Bad(format!(
            "{field} is {} bytes long; at most {MAX_KEY_BYTES} bytes are accepted",
            value.len()
        )));
    }
    if let Some((at, c)) = value.char_indices().find(|(_, c)| c.is_control()) {
        return Err(Refused::Bad(format!(
            "{field} contains a control character (U+{:04X} at byte {at}); keys never do",
            u32::from(c)
        )));
    }
    Ok(value)
}

/// Why an event was refused. The HTTP answer never says which check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("not authenticated: {0}")]
    Auth(&'static str),
    #[error("bad event: {0}")]
    Bad(String),
}

/// What an accepted event asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    /// The event's id (de-duplication).
    pub id: String,
    /// The employee to reconcile (compared with the endpoint's match field); None when the
    /// event names nobody (e.g. Paycor's `LegalEntity.Modified`).
    pub employee: Option<String>,
    pub kind: String,
}

/// Checks the event's credentials: `Authorization` = the secret, or an HMAC signature over
/// `timestamp + "." + body` in `X-Hrsync-Signature: sha256=<hex>` with `X-Hrsync-Timestamp`
/// within [`MAX_SKEW_SECS`] of `now` (unix seconds).
pub fn authenticate(
    ep: &EventEndpoint,
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
    now: i64,
) -> Result<(), Refused> {
    let secret = ep.secret.expose().as_bytes();
    match ep.raw.auth {
        EventAuth::SharedSecret => {
            let got = header("authorization").ok_or(Refused::Auth("no Authorization header"))?;
            // Paycor's example notification secret begins with `Bearer `: configured with or
            // without it, sent with or without it, the secret itself is what is compared.
            let (got, want) = (without_bearer(got.as_bytes()), without_bearer(secret));
            if !want.is_empty() && bool::from(got.ct_eq(want)) {
                Ok(())
            } else {
                Err(Refused::Auth("wrong secret"))
            }
        }
        EventAuth::HmacSha256 => {
            let ts = header("x-hrsync-timestamp").ok_or(Refused::Auth("no timestamp"))?;
            let t: i64 = ts
                .trim()
                .parse()
                .map_err(|_| Refused::Auth("bad timestamp"))?;
            if now.abs_diff(t) > MAX_SKEW_SECS.unsigned_abs() {
                return Err(Refused::Auth("timestamp too old or in the future"));
            }
            let sig = header("x-hrsync-signature").ok_or(Refused::Auth("no signature"))?;
            let hex_sig = sig.trim().strip_prefix("sha256=").unwrap_or(sig.trim());
            let raw = hex::decode(hex_sig).map_err(|_| Refused::Auth("signature is not hex"))?;
            signed(secret, ts.trim(), body)
                .ok_or(Refused::Auth("unusable secret"))?
                .verify_slice(&raw)
                .map_err(|_| Refused::Auth("signature does not match"))
        }
    }
}

/// `s` without a leading `Bearer ` (any case) and surrounding blanks.
fn without_bearer(s: &[u8]) -> &[u8] {
    let s = s.trim_ascii();
    match (s.get(..6), s.get(6)) {
        (Some(p), None) if p.eq_ignore_ascii_case(b"bearer") => &[],
        (Some(p), Some(b)) if p.eq_ignore_ascii_case(b"bearer") && b.is_ascii_whitespace() => {
            s[6..].trim_ascii()
        }
        _ => s,
    }
}

/// `key` of a JSON object, its casing ignored (Paycor's callback casing is not documented;
/// older specs show `EventType`, `EventId`, `ItemId`). An exact match wins.
fn field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let m = v.as_object()?;
    m.get(key).or_else(|| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The HMAC-SHA256 over what a signature covers: `timestamp + "." + body`.
fn signed(secret: &[u8], timestamp: &str, body: &[u8]) -> Option<hmac::Hmac<sha2::Sha256>> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).ok()?;
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(mac)
}

/// The signature header a sender computes (for tests, the benchmark and documentation).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    signed(secret.as_bytes(), &timestamp.to_string(), body)
        .map(|m| format!("sha256={}", hex::encode(m.finalize().into_bytes())))
        .unwrap_or_default()
}

/// Reads the event. `header` gives request headers (lower-case names).
pub fn parse(
    ep: &EventEndpoint,
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<Hint, Refused> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Refused::Bad(format!("the body is not JSON: {e}")))?;
    let text = |v: &Value| match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match ep.raw.format {
        EventFormat::Paycor => {
            let id = field(&v, "eventId")
                .and_then(text)
                .ok_or_else(|| Refused::Bad("no eventId".into()))?;
            let id = checked("eventId", id)?;
            let kind = field(&v, "eventType")
                .and_then(text)
                .ok_or_else(|| Refused::Bad("no eventType".into()))?;
            let kind = checked("eventType", kind)?;
            let employee = if kind.eq_ignore_ascii_case("Employee.Modified") {
                let item = field(&v, "itemId")
                    .and_then(text)
                    .ok_or_else(|| Refused::Bad("Employee.Modified without itemId".into()))?;
                Some(checked("itemId", item)?)
            } else {
                None
            };
            Ok(Hint { id, employee, kind })
        }
        EventFormat::Generic => {
            let employee = v
                .get("employee_id")
                .and_then(text)
                .ok_or_else(|| Refused::Bad("no employee_id".into()))?;
            let employee = checked("employee_id", employee)?;
            // The id comes from the (signed) body. Without one, a signed delivery is identified
            // by what its signature covers (timestamp and body): replaying that request within
            // the 5 minutes is a duplicate, whatever its headers look like. An unsigned event
            // without an id gets a fresh id: a repeat only re-reads HR, which is harmless.
            let id = match v.get("event_id").and_then(text) {
                Some(id) => checked("event_id", id)?,
                None => match (ep.raw.auth, header("x-hrsync-timestamp")) {
                    (EventAuth::HmacSha256, Some(ts)) => {
                        use sha2::Digest;
                        let mut h = sha2::Sha256::new();
                        h.update(ts.trim().as_bytes());
                        h.update(b".");
                        h.update(body);
                        format!("sig-{}", hex::encode(h.finalize()))
                    }
                    _ => format!("anon-{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)),
                },
            };
            Ok(Hint {
                id,
                employee: Some(employee),
                kind: "employee.changed".into(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use hrsync_config::daemon::RawEvent;
    use hrsync_model::{Secret, SecretRef};

    fn ep(auth: EventAuth, format: EventFormat) -> EventEndpoint {
        EventEndpoint {
            raw: RawEvent {
                name: "hr".into(),
                mapping: "staff".into(),
                format,
                auth,
                secret: SecretRef::Env {
                    env: "UNUSED".into(),
                },
                match_field: None,
            },
            secret: Secret::new("s3cret"),
        }
    }

    #[test]
    fn signatures_and_shared_secrets_are_checked() {
        let e = ep(EventAuth::HmacSha256, EventFormat::Generic);
        let body = br#"{"employee_id": "EMP1"}"#;
        let now = 1_800_000_000;
        let sig = sign("s3cret", now, body);
        let h = |ts: i64, sig: String| {
            move |name: &str| match name {
                "x-hrsync-timestamp" => Some(ts.to_string()),
                "x-hrsync-signature" => Some(sig.clone()),
                _ => None,
            }
        };
        assert!(authenticate(&e, h(now, sig.clone()), body, now + 10).is_ok());
        assert!(authenticate(&e, h(now, sig.clone()), br#"{"employee_id": "EMP2"}"#, now).is_err());
        assert!(authenticate(&e, h(now, sign("wrong", now, body)), body, now).is_err());
        assert_eq!(
            authenticate(&e, h(now, sig.clone()), body, now + 301),
            Err(Refused::Auth("timestamp too old or in the future"))
        );
        assert!(authenticate(&e, |_| None, body, now).is_err());
        let hint = parse(&e, h(now, sig.clone()), body).unwrap();
        assert_eq!(hint.employee.as_deref(), Some("EMP1"));
        assert!(
            hint.id.starts_with("sig-"),
            "no event_id: what the signature covers identifies it"
        );
        // The same signed request with a re-spelled signature header is the same delivery.
        let upper = format!(
            "sha256={}",
            sig.trim_start_matches("sha256=").to_uppercase()
        );
        assert!(authenticate(&e, h(now, upper.clone()), body, now).is_ok());
        assert_eq!(parse(&e, h(now, upper), body).unwrap().id, hint.id);
        // A hostile timestamp does not overflow.
        assert!(authenticate(&e, h(i64::MIN, sig.clone()), body, i64::MAX).is_err());

        let p = ep(EventAuth::SharedSecret, EventFormat::Paycor);
        let auth = |v: &'static str| move |n: &str| (n == "authorization").then(|| v.to_string());
        assert!(authenticate(&p, auth("s3cret"), b"{}", now).is_ok());
        assert!(authenticate(&p, auth("s3cre"), b"{}", now).is_err());
        let body = br#"{"eventType":"Employee.Modified","eventId":"e-1","tenantId":1,"legalEntityId":2,"itemId":"abc","resource":{"id":"abc"}}"#;
        let hint = parse(&p, |_| None, body).unwrap();
        assert_eq!(
            (hint.id.as_str(), hint.employee.as_deref()),
            ("e-1", Some("abc"))
        );
        let pascal = br#"{"EventType":"Employee.Modified","EventId":"e-3","ItemId":"def"}"#;
        let hint = parse(&p, |_| None, pascal).unwrap();
        assert_eq!(
            (hint.id.as_str(), hint.employee.as_deref()),
            ("e-3", Some("def"))
        );
        for (secret, sent, ok) in [
            ("s3cret", "Bearer s3cret", true),
            ("Bearer s3cret", "s3cret", true),
            ("Bearer s3cret", "bearer  s3cret", true),
            ("Bearer s3cret", "Bearer s3cre", false),
            ("Bearer ", "Bearer ", false),
            ("s3cret", "Bearers3cret", false),
        ] {
            let mut e = ep(EventAuth::SharedSecret, EventFormat::Paycor);
            e.secret = Secret::new(secret);
            let h = move |n: &str| (n == "authorization").then(|| sent.to_string());
            assert_eq!(
                authenticate(&e, h, b"{}", now).is_ok(),
                ok,
                "{secret:?} {sent:?}"
            );
        }
        let le = br#"{"eventType":"LegalEntity.Modified","eventId":"e-2","legalEntityId":2}"#;
        assert_eq!(parse(&p, |_| None, le).unwrap().employee, None);
        assert!(parse(&p, |_| None, b"not json").is_err());
    }

    #[test]
    fn keys_and_event_ids_are_checked_at_the_door() {
        let g = ep(EventAuth::HmacSha256, EventFormat::Generic);
        let p = ep(EventAuth::SharedSecret, EventFormat::Paycor);
        let bad = |e: &EventEndpoint, body: serde_json::Value| match parse(
            e,
            |_| None,
            body.to_string().as_bytes(),
        ) {
            Err(Refused::Bad(m)) => m,
            other => panic!("{other:?}"),
        };
        let m = bad(&g, serde_json::json!({"employee_id": "E".repeat(900_000)}));
        assert_eq!(
            m,
            "employee_id is 900000 bytes long; at most 256 bytes are accepted"
        );
        let m = bad(&g, serde_json::json!({"employee_id": "K94\u{0}01"}));
        assert_eq!(
            m,
            "employee_id contains a control character (U+0000 at byte 3); keys never do"
        );
        let m = bad(
            &g,
            serde_json::json!({"employee_id": "E1", "event_id": "x\ny"}),
        );
        assert!(
            m.starts_with("event_id contains a control character"),
            "{m}"
        );
        let m = bad(
            &p,
            serde_json::json!({"eventType": "Employee.Modified", "eventId": "e", "itemId": "i".repeat(257)}),
        );
        assert!(m.starts_with("itemId is 257 bytes long"), "{m}");
        // At the limit, and non-ASCII keys, are fine.
        let ok = serde_json::json!({"employee_id": "É".repeat(128)}).to_string();
        assert!(parse(&g, |_| None, ok.as_bytes()).is_ok());
    }
}
