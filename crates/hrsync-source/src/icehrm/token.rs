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

/// Where an admin gets the token IceHrm accepts.
pub const WHERE_TO_GET_IT: &str = "IceHrm v29+ accepts only its \"Api Access\" token: log in as an Admin user, open Personal Information → Basic Information → the \"Api Access\" tab, and copy the token shown there (a JWT: three dot-separated parts starting with eyJ, valid 180 days)";

/// Checks that `token` has the shape of an IceHrm Api Access token (a JWT signed HS256),
/// before any request: IceHrm answers anything else (the raw 32-hex hash of older docs and of
/// the `Api: REST Api Token` setting included) with HTTP 500 and an empty body, which says
/// nothing. The error explains what is wrong and what IceHrm wants; it never contains the
/// token.
pub fn check_token(token: &Secret) -> Result<(), String> {
    let t = token.expose();
    let problem = token_problem(t);
    match problem {
        None => Ok(()),
        Some(p) => Err(format!(
            "the IceHrm token is not a JWT ({p}); IceHrm answers such a token with HTTP 500 and an empty body. {WHERE_TO_GET_IT}"
        )),
    }
}

fn token_problem(t: &str) -> Option<String> {
    // Surrounding whitespace is harmless (IceHrm reads `Bearer\s(\S+)`).
    let t = t.trim();
    if t.is_empty() {
        return Some("it is empty".into());
    }
    if t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(
            "it is 32 hex digits: the raw token hash of older IceHrm versions, which v29+ no longer accepts"
                .into(),
        );
    }
    if t.to_ascii_lowercase().starts_with("bearer ") {
        return Some("it starts with \"Bearer \"; give the token alone".into());
    }
    if t.chars().any(char::is_whitespace) {
        return Some("it contains spaces or line breaks".into());
    }
    let parts: Vec<&str> = t.split('.').collect();
    if parts.len() != 3 {
        return Some(format!(
            "it has {} dot-separated part{}, a JWT has 3",
            parts.len(),
            if parts.len() == 1 { "" } else { "s" }
        ));
    }
    let json = |i: usize| -> Result<serde_json::Map<String, serde_json::Value>, String> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[i].trim_end_matches('='))
            .map_err(|_| format!("part {} is not base64url", i + 1))?;
        match serde_json::from_slice(&bytes) {
            Ok(serde_json::Value::Object(m)) => Ok(m),
            _ => Err(format!("part {} is not a JSON object", i + 1)),
        }
    };
    let header = match json(0) {
        Ok(h) => h,
        Err(e) => return Some(e),
    };
    if let Err(e) = json(1) {
        return Some(e);
    }
    match header.get("alg").and_then(|a| a.as_str()) {
        Some("HS256") => None,
        Some(other) => Some(format!("it is signed {other}, IceHrm signs HS256")),
        None => Some("its header names no algorithm (IceHrm signs HS256)".into()),
    }
}
