//! Secrets resolution: a `{ env = "VAR" }` or `{ file = "path" }` reference read into a
//! [`Secret`](hrsync_model::Secret), the error naming the key and what to set.

use super::{Config, ConfigError};
use hrsync_model::SecretRef;
use std::path::Path;

impl Config {
    pub(crate) fn secret(
        &self,
        key: &str,
        field: &str,
        r: Option<&SecretRef>,
        base: &Path,
    ) -> Result<hrsync_model::Secret, ConfigError> {
        r.ok_or_else(|| {
            self.invalid(
                format!("{key}.{field}"),
                "set it to { env = \"VAR\" } or { file = \"path\" }",
            )
        })?
        .resolve(base)
        .map_err(|e| self.invalid(format!("{key}.{field}"), e.to_string()))
    }
}
