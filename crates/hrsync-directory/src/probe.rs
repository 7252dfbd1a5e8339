//! Read-only probes for `hrsync check --online`: does an entry exist.

use crate::{DirError, Directory, Result};
use ldap3::Scope;

impl Directory {
    /// Whether the entry `dn` exists (a base-scope read; noSuchObject means no).
    pub async fn exists(&self, dn: &str) -> Result<bool> {
        let mut ldap = self.conn(0);
        let res = ldap
            .search(dn, Scope::Base, "(objectClass=*)", vec!["1.1"])
            .await
            .map_err(|e| DirError::Search {
                url: self.cfg.url.clone(),
                base: dn.to_string(),
                message: e.to_string(),
            })?;
        match res.1.rc {
            0 => Ok(res.0.iter().any(|r| !r.is_ref() && !r.is_intermediate())),
            32 => Ok(false),
            rc => Err(DirError::Search {
                url: self.cfg.url.clone(),
                base: dn.to_string(),
                message: crate::result_code::failure(rc, dn, &res.1.text, &res.1.matched),
            }),
        }
    }
}
