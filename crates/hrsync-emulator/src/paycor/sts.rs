//! The token service (`POST /sts/v1/common/token`) and the activation
//! redirect stub (`GET /AppActivation/Authorize`): authorization-code (with
//! optional PKCE) and refresh-token grants, refresh-token rotation,
//! optionally client credentials. Access tokens are RS256-shaped JWTs with
//! the claims seen on real tokens and a random (unverifiable) signature;
//! connectors must treat them as opaque.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;

/// Authorization codes live this long.
pub(crate) const CODE_TTL: Duration = Duration::from_secs(600);

pub(crate) struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub challenge: Option<(String, String)>,
    pub expires: Instant,
}

#[derive(Default)]
pub(crate) struct Tokens {
    /// Minted access token → expiry.
    pub access: HashMap<String, Instant>,
    /// Refresh token → still usable (rotated ones stay, as `false`).
    pub refresh: HashMap<String, bool>,
    pub codes: HashMap<String, AuthCode>,
}

pub(crate) fn random_hex(n_bytes: usize) -> String {
    let mut rng = fastrand::Rng::new();
    (0..n_bytes)
        .map(|_| format!("{:02x}", rng.u8(..)))
        .collect()
}

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Base64url without padding.
pub(crate) fn base64url(data: &[u8]) -> String {
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
            out.push(char::from(B64URL[((n >> (18 - 6 * i)) & 0x3F) as usize]));
        }
    }
    out
}

/// SHA-256 (FIPS 180-4), for PKCE `S256`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0_u32; 64];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (slot, v) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *slot = slot.wrapping_add(v);
        }
    }
    let mut out = [0_u8; 32];
    for (i, v) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&v.to_be_bytes());
    }
    out
}

/// Whether `verifier` matches the stored PKCE challenge.
pub(crate) fn pkce_ok(challenge: &(String, String), verifier: Option<&str>) -> bool {
    let Some(verifier) = verifier else {
        return false;
    };
    let (value, method) = challenge;
    if method.eq_ignore_ascii_case("plain") {
        return value == verifier;
    }
    base64url(&sha256(verifier.as_bytes())) == *value
}

/// What goes into a minted access token.
pub(crate) struct Claims<'a> {
    pub client_id: &'a str,
    pub scope_identifier: &'a str,
    pub legal_entity_id: i64,
    pub tenant_id: i64,
    pub ttl: Duration,
    /// The emulator's clock as wall time (`iat`, `nbf`, `exp`).
    pub now: chrono::DateTime<chrono::Utc>,
}

/// An RS256-shaped JWT with the claims seen on real Paycor access tokens.
pub(crate) fn mint_access_token(c: &Claims<'_>) -> String {
    let now = c.now.timestamp();
    let ttl = i64::try_from(c.ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let header = json!({"alg": "RS256", "kid": "hrsync-emulator", "typ": "JWT"});
    let claims = json!({
        "iss": "https://api-demo.paycor.com/sts/v2/common",
        "nbf": now,
        "iat": now,
        "exp": now.saturating_add(ttl),
        "client_id": c.client_id,
        "sub": "5b1f3c1e-7d0a-4c4e-9a57-2f0b8e6d1c11",
        "scope": [c.scope_identifier, "offline_access"],
        "paycor_clients": {"C": [{"ClientId": c.legal_entity_id, "CompanyId": c.tenant_id}]},
        "name": "HR Admin",
        "email": "hr.admin@buckeyeprecision.example",
        "amr": ["pwd"],
        "jti": random_hex(16),
    });
    let mut sig = [0_u8; 256];
    let mut rng = fastrand::Rng::new();
    for b in &mut sig {
        *b = rng.u8(..);
    }
    format!(
        "{}.{}.{}",
        base64url(header.to_string().as_bytes()),
        base64url(claims.to_string().as_bytes()),
        base64url(&sig)
    )
}
