//! Random secrets, their hashes, and constant-time comparison.

use crate::{AuthError, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// 256 random bits from the operating system, as base64url without padding (43 characters).
pub(crate) fn secret_256() -> Result<String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| AuthError::Random(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(b))
}

/// True when `s` looks like [`secret_256`]'s output (43 base64url characters that decode to
/// 32 bytes). Checked before any lookup, so that junk never reaches the database.
pub(crate) fn is_secret_256(s: &str) -> bool {
    s.len() == 43
        && URL_SAFE_NO_PAD
            .decode(s.as_bytes())
            .is_ok_and(|b| b.len() == 32)
}

/// SHA-256 of a secret's text: what is stored in its place. A plain hash is enough for
/// 256-bit random secrets (nothing to guess); passwords are never hashed this way.
pub(crate) fn sha256(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// Equal, in time that depends only on the lengths.
pub(crate) fn ct_eq(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn secrets_are_256_bit_and_distinct() {
        let a = secret_256().unwrap();
        let b = secret_256().unwrap();
        assert_ne!(a, b);
        assert!(is_secret_256(&a) && is_secret_256(&b));
        assert!(!is_secret_256(&a[1..]) && !is_secret_256("*)(uid=*"));
        assert_ne!(sha256(&a), sha256(&b));
        assert!(ct_eq(&a, &a.clone()) && !ct_eq(&a, &b) && !ct_eq(&a, ""));
    }
}
