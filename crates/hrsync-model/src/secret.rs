//! Secrets (tokens, bind passwords, API keys) as a type.
//!
//! Config never holds a secret value: it holds a [`SecretRef`] (`{ env = "VAR" }` or
//! `{ file = "path" }`) that is resolved into a [`Secret`]. A `Secret` prints as `[redacted]` in
//! `Debug` and `Display`, does not implement `Serialize`, and is zeroised on drop (secrecy).
//! A plain string in the config is rejected with a message that does not repeat the value.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// Where a secret comes from, as written in the config.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum SecretRef {
    /// `{ env = "ICEHRM_TOKEN" }`
    Env {
        /// Name of the environment variable that holds the secret.
        env: String,
    },
    /// `{ file = "/etc/hrsync/icehrm.token" }` (trailing newline removed)
    File {
        /// Path of a file that holds the secret (relative paths are relative to the config file).
        file: PathBuf,
    },
    /// A literal value in the config: always refused by [`SecretRef::resolve`].
    #[serde(skip_serializing)]
    Plain(PlainSecret),
}

/// A literal secret written into the config. Kept only to refuse it; never printed.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct PlainSecret(String);

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env { env } => write!(f, "{{ env = {env:?} }}"),
            SecretRef::File { file } => write!(f, "{{ file = {:?} }}", file.display()),
            SecretRef::Plain(_) => write!(f, "[plain value, redacted]"),
        }
    }
}

/// Why a secret could not be resolved. Never contains the secret itself.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error(
        "a secret is written in plain text; reference it instead: {{ env = \"VAR\" }} or {{ file = \"path\" }}"
    )]
    Plain,
    #[error(
        "environment variable {0} is not set (or not valid UTF-8); export it or use {{ file = \"…\" }}"
    )]
    EnvMissing(String),
    #[error("environment variable {0} is empty")]
    EnvEmpty(String),
    #[error("cannot read secret file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("secret file {0} is empty")]
    FileEmpty(String),
}

impl SecretRef {
    /// Loads the secret. `base` is the directory relative file paths are resolved against.
    pub fn resolve(&self, base: &Path) -> Result<Secret, SecretError> {
        match self {
            SecretRef::Plain(_) => Err(SecretError::Plain),
            SecretRef::Env { env } => {
                let v = std::env::var(env).map_err(|_| SecretError::EnvMissing(env.clone()))?;
                if v.is_empty() {
                    return Err(SecretError::EnvEmpty(env.clone()));
                }
                Ok(Secret::new(v))
            }
            SecretRef::File { file } => {
                let path = if file.is_absolute() {
                    file.clone()
                } else {
                    base.join(file)
                };
                let v = std::fs::read_to_string(&path).map_err(|e| SecretError::File {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                let v = v.trim_end_matches(['\n', '\r']).to_string();
                if v.is_empty() {
                    return Err(SecretError::FileEmpty(path.display().to_string()));
                }
                Ok(Secret::new(v))
            }
        }
    }
}

/// A resolved secret. Only [`Secret::expose`] gives the value, at the point of use.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(v: impl Into<String>) -> Self {
        Secret(SecretString::from(v.into()))
    }
    /// The secret value. Call it only where the value goes on the wire.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[derive(Deserialize, Debug)]
    struct C {
        token: SecretRef,
    }

    #[test]
    fn env_and_file_refs_parse_and_resolve() {
        let c: C = toml::from_str(r#"token = { env = "HRSYNC_TEST_SECRET_X" }"#).unwrap();
        // SAFETY of set_var: single test touching this variable name.
        unsafe { std::env::set_var("HRSYNC_TEST_SECRET_X", "s3cr3t-value") };
        let s = c.token.resolve(Path::new(".")).unwrap();
        assert_eq!(s.expose(), "s3cr3t-value");
        assert!(!format!("{s:?} {s}").contains("s3cr3t"));

        let dir = std::env::temp_dir().join(format!("hrsync-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tok"), "file-secret\n").unwrap();
        let c: C = toml::from_str(r#"token = { file = "tok" }"#).unwrap();
        assert_eq!(c.token.resolve(&dir).unwrap().expose(), "file-secret");
    }

    #[test]
    fn plain_secret_is_refused_without_echoing_it() {
        let c: C = toml::from_str(r#"token = "hunter2-plain""#).unwrap();
        let err = c.token.resolve(Path::new(".")).unwrap_err();
        assert_eq!(err, SecretError::Plain);
        assert!(!err.to_string().contains("hunter2"));
        assert!(!format!("{:?}", c.token).contains("hunter2"));
    }

    #[test]
    fn missing_env_names_the_variable() {
        let c: C = toml::from_str(r#"token = { env = "HRSYNC_SURELY_UNSET_VAR" }"#).unwrap();
        let err = c.token.resolve(Path::new(".")).unwrap_err();
        assert!(err.to_string().contains("HRSYNC_SURELY_UNSET_VAR"));
    }
}
