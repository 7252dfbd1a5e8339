//! IceHrm's "Api Access" token handling: a HS256-shaped JWT whose payload is
//! `{"token":"<32 hex>","expire":<unix seconds>}` (`JwtTokenService`), and the
//! server-side outcomes observed on a real v35 instance.
//!
//! The emulator cannot know the real instance secret, so it signs with its own
//! fixed key (an MD5-based construction, not HMAC: this is a test double, not
//! security). The configured token is always accepted verbatim (unless its
//! payload is expired), whoever signed it.

use serde_json::{Map, Value};

use super::md5;

/// The emulator's own signing key (stands in for `APP_SEC . APP_PASSWORD`).
const SIGNING_KEY: &[u8] = b"hrsync-emulator/icehrm/signing-key/v1";

/// Outcome of validating the presented bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenCheck {
    /// Accepted: the request runs as the admin user (employee 1).
    Ok,
    /// 403 `Authorization bearer token is empty` (no token, non-Bearer scheme,
    /// bad signature, expired `expire`).
    Empty,
    /// 403 `Authorization bearer token is invalid` (validly signed, unknown hash).
    Invalid,
    /// HTTP 500 with an empty body (not a JWT at all: the JWT library throws an
    /// exception IceHrm does not catch).
    Crash,
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// base64url without padding (what `firebase/php-jwt` emits).
pub(crate) fn b64url_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let idx = (n >> (18 - 6 * i)) & 0x3f;
            out.push(B64[idx as usize] as char);
        }
    }
    out
}

/// Decode base64url (also accepts the standard alphabet and `=` padding, as
/// php-jwt's `urlsafeB64Decode` does). `None` on any other character.
pub(crate) fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for c in s.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

fn sign(signing_input: &str) -> Vec<u8> {
    let mut first = SIGNING_KEY.to_vec();
    first.push(b'.');
    first.extend_from_slice(signing_input.as_bytes());
    let mut second = signing_input.as_bytes().to_vec();
    second.push(b'.');
    second.extend_from_slice(SIGNING_KEY);
    let mut sig = md5::digest(&first).to_vec();
    sig.extend_from_slice(&md5::digest(&second));
    sig
}

/// Make a realistic IceHrm "Api Access" token: a JWT-shaped
/// `base64url({"typ":"JWT","alg":"HS256"}).base64url({"token":"<32 hex>","expire":N}).base64url(sig)`.
///
/// The inner 32-hex hash is derived from `secret_seed` (same seed → same hash,
/// so two tokens minted from one seed with different `expire` are both
/// accepted by an emulator configured with either, like two page views of the
/// real "Api Access" tab). A token minted from another seed is validly signed
/// but has an unknown hash → 403 `Authorization bearer token is invalid`; an
/// `expire` in the past → 403 `Authorization bearer token is empty`.
pub fn make_token(secret_seed: &str, expire_unix: i64) -> String {
    let inner = md5::hex(format!("hrsync-emulator/icehrm/token/{secret_seed}").as_bytes());
    let header = b64url_encode(br#"{"typ":"JWT","alg":"HS256"}"#);
    let payload =
        b64url_encode(format!(r#"{{"token":"{inner}","expire":{expire_unix}}}"#).as_bytes());
    let signing_input = format!("{header}.{payload}");
    let sig = b64url_encode(&sign(&signing_input));
    format!("{signing_input}.{sig}")
}

/// A token that parsed as a JWT (three segments, JSON-object header and payload).
struct Jwt<'a> {
    header: Map<String, Value>,
    payload: Map<String, Value>,
    signing_input: &'a str,
    sig_segment: &'a str,
}

fn parse(token: &str) -> Option<Jwt<'_>> {
    let mut parts = token.split('.');
    let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Value = serde_json::from_slice(&b64url_decode(h)?).ok()?;
    let payload: Value = serde_json::from_slice(&b64url_decode(p)?).ok()?;
    let (Value::Object(header), Value::Object(payload)) = (header, payload) else {
        return None;
    };
    Some(Jwt {
        header,
        payload,
        signing_input: &token[..h.len() + 1 + p.len()],
        sig_segment: s,
    })
}

/// Whether `token` has the shape the JWT library accepts without throwing
/// (used by the binary to warn about a configured token that would make every
/// request answer HTTP 500).
pub fn is_jwt_shaped(token: &str) -> bool {
    parse(token).is_some_and(|jwt| jwt.header.get("alg").and_then(Value::as_str) == Some("HS256"))
}

/// PHP `intval()` of a decoded JSON value.
fn php_intval(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .unwrap_or(0),
        Some(Value::String(s)) => super::model::php_intval_str(s),
        Some(Value::Bool(true)) => 1,
        _ => 0,
    }
}

/// Registered claims php-jwt checks after the signature: violations throw
/// exceptions IceHrm does not catch → HTTP 500.
fn registered_claims_fail(payload: &Map<String, Value>, now: i64) -> bool {
    let num = |k: &str| payload.get(k).and_then(Value::as_f64);
    if num("nbf").is_some_and(|nbf| nbf > now as f64) {
        return true;
    }
    if num("iat").is_some_and(|iat| iat > now as f64) {
        return true;
    }
    num("exp").is_some_and(|exp| now as f64 >= exp)
}

/// Validate `presented` (already extracted from the request) against the
/// configured token. `now` is unix seconds.
pub(crate) fn check(presented: Option<&str>, configured: &str, now: i64) -> TokenCheck {
    let Some(presented) = presented.filter(|t| !t.is_empty()) else {
        return TokenCheck::Empty;
    };
    let Some(jwt) = parse(presented) else {
        return TokenCheck::Crash;
    };
    match jwt.header.get("alg").and_then(Value::as_str) {
        Some("HS256") => {}
        _ => return TokenCheck::Crash,
    }
    let is_configured = presented == configured;
    let signed_by_us =
        b64url_decode(jwt.sig_segment).is_some_and(|sig| sig == sign(jwt.signing_input));
    if !is_configured && !signed_by_us {
        // SignatureInvalidException is caught → null token → "empty".
        return TokenCheck::Empty;
    }
    if registered_claims_fail(&jwt.payload, now) {
        return TokenCheck::Crash;
    }
    if now > php_intval(jwt.payload.get("expire")) {
        return TokenCheck::Empty;
    }
    let Some(inner) = jwt.payload.get("token").and_then(Value::as_str) else {
        return TokenCheck::Empty;
    };
    if is_configured {
        return TokenCheck::Ok;
    }
    let configured_inner = parse(configured).and_then(|c| {
        c.payload
            .get("token")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    if configured_inner.as_deref() == Some(inner) {
        TokenCheck::Ok
    } else {
        TokenCheck::Invalid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trip() {
        for len in 0..40 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(b64url_decode(&b64url_encode(&data)), Some(data));
        }
        assert_eq!(b64url_encode(b"{\"a\":1}"), "eyJhIjoxfQ");
    }

    #[test]
    fn token_outcomes() {
        let now = 1_800_000_000;
        let good = make_token("seed", now + 100);
        assert!(is_jwt_shaped(&good));
        assert_eq!(check(Some(&good), &good, now), TokenCheck::Ok);
        // Same inner hash, other expiry: accepted.
        assert_eq!(
            check(Some(&make_token("seed", now + 5)), &good, now),
            TokenCheck::Ok
        );
        assert_eq!(
            check(Some(&make_token("other", now + 5)), &good, now),
            TokenCheck::Invalid
        );
        assert_eq!(
            check(Some(&make_token("seed", now - 5)), &good, now),
            TokenCheck::Empty
        );
        assert_eq!(check(None, &good, now), TokenCheck::Empty);
        assert_eq!(
            check(Some("not-a-jwt-token"), &good, now),
            TokenCheck::Crash
        );
        assert_eq!(
            check(Some("0123456789abcdef0123456789abcdef"), &good, now),
            TokenCheck::Crash
        );
        // Flip one character in the middle of the signature segment.
        let dot = good.rfind('.').unwrap_or(0) + 5;
        let mut tampered = good.clone().into_bytes();
        tampered[dot] = if tampered[dot] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap_or_default();
        assert_eq!(check(Some(&tampered), &good, now), TokenCheck::Empty);
        // The configured token is valid until its own `expire`.
        assert_eq!(check(Some(&good), &good, now + 101), TokenCheck::Empty);
    }
}
