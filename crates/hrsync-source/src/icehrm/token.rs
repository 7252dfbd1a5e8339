//! IceHrm Api Access tokens are JWTs whose payload has a custom `expire` claim (unix seconds),
//! valid 180 days. Reading it needs no key; we warn before it runs out instead of failing later.

use base64::Engine;
use hrsync_model::Secret;

/// The `expire` claim of an IceHrm JWT, if the token is one.
pub fn token_expiry(token: &Secret) -> Option<i64> {
    let payload = token.expose().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("expire")?.as_i64()
}

/// A warning when the token has expired or expires within 14 days.
pub(crate) fn expiry_note(token: &Secret, now: i64) -> Option<String> {
    let exp = token_expiry(token)?;
    let days = (exp - now) / 86_400;
    if exp <= now {
        Some("the IceHrm token has expired; create a new one under Personal Information → Api Access".into())
    } else if days < 14 {
        Some(format!(
            "the IceHrm token expires in {days} day(s); create a new one soon"
        ))
    } else {
        None
    }
}
