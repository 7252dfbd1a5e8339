//! Read-only probes: does an entry exist (`hrsync check --online`), and what does it hold now
//! (reconciling the changes of an interrupted run with the directory).

use crate::{DirError, Directory, Result};
use ldap3::{Scope, SearchEntry};
use std::collections::BTreeMap;

/// An entry as a probe read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probed {
    /// The requested attributes present on the entry, by lower-cased name (values as the
    /// server returned them).
    pub attrs: BTreeMap<String, Vec<String>>,
    /// The account is disabled (the dialect's meaning).
    pub disabled: bool,
}

impl Probed {
    /// The values of `attr` (none when absent).
    pub fn values(&self, attr: &str) -> &[String] {
        self.attrs
            .get(&attr.to_ascii_lowercase())
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

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

    /// [`Directory::probe`] of many entries, `in_flight` at a time over every connection; the
    /// answers in the order of `requests`.
    pub async fn probe_all(&self, requests: &[(&str, Vec<&str>)]) -> Result<Vec<Option<Probed>>> {
        use futures::StreamExt;
        futures::stream::iter(requests.iter().enumerate())
            .map(|(i, (dn, attrs))| self.probe_on(i, dn, attrs))
            .buffered(self.cfg.in_flight.max(1))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }

    /// The entry `dn` with `attrs` and its account state (a base-scope read); None when there
    /// is no such entry.
    pub async fn probe(&self, dn: &str, attrs: &[&str]) -> Result<Option<Probed>> {
        self.probe_on(0, dn, attrs).await
    }

    /// [`Directory::probe`] over connection `conn` (modulo their number).
    async fn probe_on(&self, conn: usize, dn: &str, attrs: &[&str]) -> Result<Option<Probed>> {
        let mut wanted: Vec<&str> = attrs.to_vec();
        wanted.extend(self.cfg.dialect.state_attributes());
        if wanted.is_empty() {
            wanted.push("1.1");
        }
        let mut ldap = self.conn(conn);
        let err = |message: String| DirError::Search {
            url: self.cfg.url.clone(),
            base: dn.to_string(),
            message,
        };
        let ldap3::SearchResult(rs, res) = ldap
            .with_timeout(self.cfg.timeout)
            .search(dn, Scope::Base, "(objectClass=*)", wanted)
            .await
            .map_err(|e| err(e.to_string()))?;
        match res.rc {
            0 => {}
            32 => return Ok(None),
            rc => {
                return Err(err(crate::result_code::failure(
                    rc,
                    dn,
                    &res.text,
                    &res.matched,
                )));
            }
        }
        let Some(e) = rs.into_iter().next().map(SearchEntry::construct) else {
            return Ok(None);
        };
        let bin = e.bin_attrs.into_iter().map(|(k, v)| {
            let v = v
                .into_iter()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .collect();
            (k, v)
        });
        let mut all: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in e.attrs.into_iter().chain(bin) {
            all.entry(k.to_ascii_lowercase()).or_default().extend(v);
        }
        let disabled = self.cfg.dialect.is_disabled(|n| all.get(n).cloned());
        Ok(Some(Probed {
            attrs: all,
            disabled,
        }))
    }
}
