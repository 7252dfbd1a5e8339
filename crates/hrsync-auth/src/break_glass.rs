//! The local break-glass admin: one user whose password is checked against an argon2 PHC
//! string from the configuration, for when the directory is down. Off unless configured.
//!
//! argon2 (RustCrypto `argon2`): the password-hashing function recommended for stored
//! passwords (RFC 9106, OWASP); the hash compares in constant time (`password-hash`'s
//! `Output` uses `subtle`). Verification is CPU- and memory-heavy by design: run it off the
//! async threads ([`verify_blocking`]).

use crate::settings::BreakGlass;
use crate::{AuthError, Result};
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use hrsync_model::Secret;

pub use crate::settings::parse_hash;

/// True when `user` is the break-glass user and `password` its password. False for any other
/// user (the directory is asked then). The user name is compared exactly.
pub fn is_break_glass_user(cfg: Option<&BreakGlass>, user: &str) -> bool {
    cfg.is_some_and(|bg| bg.user == user.trim())
}

/// Checks the password against the hash (slow on purpose: call from a blocking thread).
pub fn verify(cfg: &BreakGlass, password: &Secret) -> Result<()> {
    let hash = parse_hash(&cfg.password_hash)
        .map_err(|e| AuthError::Settings(format!("break_glass.password_hash: {e}")))?;
    if password.expose().is_empty() {
        return Err(AuthError::EmptyPassword);
    }
    match Argon2::default().verify_password(password.expose().as_bytes(), &hash) {
        Ok(()) => Ok(()),
        Err(argon2::password_hash::Error::PasswordInvalid) => Err(AuthError::InvalidCredentials),
        Err(e) => Err(AuthError::Settings(format!(
            "break_glass.password_hash cannot be checked: {e}"
        ))),
    }
}

/// [`verify`] on tokio's blocking threads.
pub async fn verify_blocking(cfg: &BreakGlass, password: &Secret) -> Result<()> {
    let (cfg, password) = (cfg.clone(), password.clone());
    tokio::task::spawn_blocking(move || verify(&cfg, &password))
        .await
        .map_err(|e| AuthError::Settings(format!("break-glass check did not finish: {e}")))?
}

/// A PHC string for `password` (argon2id, default parameters, random salt): what
/// `break_glass.password_hash` holds. For a CLI command that makes one.
pub fn hash_password(password: &Secret) -> Result<String> {
    if password.expose().is_empty() {
        return Err(AuthError::EmptyPassword);
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| AuthError::Random(e.to_string()))?;
    Argon2::default()
        .hash_password_with_salt(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Settings(format!("cannot hash the password: {e}")))
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use argon2::{Algorithm, Params, Version};

    /// A PHC string with tiny parameters (fast in debug builds); verification reads the
    /// parameters from the string.
    pub(crate) fn cheap_hash(password: &str) -> String {
        let a = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(64, 1, 1, None).unwrap(),
        );
        a.hash_password_with_salt(password.as_bytes(), b"0123456789abcdef")
            .unwrap()
            .to_string()
    }

    #[test]
    fn verifies_the_right_password_only() {
        let bg = BreakGlass {
            user: "root".into(),
            password_hash: cheap_hash("correct horse"),
        };
        assert!(verify(&bg, &Secret::new("correct horse")).is_ok());
        let e = verify(&bg, &Secret::new("correct horsE")).unwrap_err();
        assert!(matches!(e, AuthError::InvalidCredentials), "{e}");
        assert!(matches!(
            verify(&bg, &Secret::new("")),
            Err(AuthError::EmptyPassword)
        ));
        assert!(is_break_glass_user(Some(&bg), "root"));
        assert!(!is_break_glass_user(Some(&bg), "Root"));
        assert!(!is_break_glass_user(None, "root"));
    }

    #[test]
    fn made_hashes_verify_and_bad_ones_are_refused() {
        let h = hash_password(&Secret::new("s3cret-pw")).unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains("s3cret-pw"));
        assert!(parse_hash(&h).is_ok());
        assert!(parse_hash("s3cret-pw").unwrap_err().contains("not a PHC"));
        let e = parse_hash("$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo").unwrap_err();
        assert!(e.contains("not argon2"), "{e}");
    }
}
