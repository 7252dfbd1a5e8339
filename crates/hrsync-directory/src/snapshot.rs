//! Reads the managed entries: every entry under `base_dn` that carries the key attribute, with
//! only the attributes the mapping owns plus the stable id and the account state. Paged, so
//! server size limits (slapd 500 for non-root, AD 1000) never truncate it silently.

use crate::{DirError, Directory, Result};
use hrsync_model::{AttrMap, AttrName, DirEntry, filter};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Scope, SearchEntry};
use std::collections::HashMap;

impl Directory {
    /// All managed entries.
    pub async fn snapshot(&self) -> Result<Vec<DirEntry>> {
        let oc = self
            .cfg
            .object_classes
            .first()
            .map(String::as_str)
            .unwrap_or("*");
        let f = format!(
            "(&(objectClass={})({}=*))",
            if oc == "*" {
                "*".to_string()
            } else {
                filter::escape(oc)
            },
            self.cfg.key_attribute
        );
        self.search(&f).await
    }

    /// Entries whose `attr` equals `value` (the value is escaped, RFC 4515).
    pub async fn find_by(&self, attr: &str, value: &str) -> Result<Vec<DirEntry>> {
        self.search(&filter::eq(attr, value)).await
    }

    async fn search(&self, f: &str) -> Result<Vec<DirEntry>> {
        let cfg = &self.cfg;
        let err = |message: String| DirError::Search {
            url: cfg.url.clone(),
            base: cfg.base_dn.clone(),
            message,
        };
        let mut wanted: Vec<String> = cfg.owned.clone();
        wanted.push(cfg.key_attribute.clone());
        wanted.push(cfg.rdn_attribute.clone());
        wanted.push(cfg.dialect.uuid_attribute().to_string());
        wanted.extend(cfg.dialect.state_attributes().iter().map(|s| s.to_string()));
        let mut ldap = self.conn(0);
        let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(cfg.page_size.max(1))),
        ];
        let mut stream = ldap
            .streaming_search_with(adapters, &cfg.base_dn, Scope::Subtree, f, wanted)
            .await
            .map_err(|e| err(e.to_string()))?;
        let owned: Vec<AttrName> = cfg.owned.iter().map(|a| AttrName::new(a.clone())).collect();
        let key_name = AttrName::new(cfg.key_attribute.clone());
        let key_lc = cfg.key_attribute.to_lowercase();
        let uuid_lc = cfg.dialect.uuid_attribute().to_lowercase();
        let mut out = Vec::new();
        while let Some(raw) = stream.next().await.map_err(|e| err(e.to_string()))? {
            let e = SearchEntry::construct(raw);
            // Attribute names come back in the server's spelling: index them lower-cased, and
            // read both maps (a value that is not UTF-8 lands in bin_attrs).
            let mut lc: HashMap<String, Vec<String>> = HashMap::new();
            for (k, v) in e.attrs {
                lc.entry(k.to_lowercase()).or_default().extend(v);
            }
            for (k, v) in e.bin_attrs {
                lc.entry(k.to_lowercase()).or_default().extend(
                    v.into_iter()
                        .map(|b| String::from_utf8_lossy(&b).into_owned()),
                );
            }
            let mut attrs = AttrMap::new();
            for a in owned.iter().chain(std::iter::once(&key_name)) {
                if let Some(v) = lc.get(&a.as_str().to_lowercase()) {
                    let mut v = v.clone();
                    hrsync_model::attr::normalize_values(&mut v);
                    attrs.insert(a.clone(), v);
                }
            }
            let disabled = cfg.dialect.is_disabled(|n| lc.get(n).cloned());
            out.push(DirEntry {
                dn: e.dn,
                uuid: lc.get(&uuid_lc).and_then(|v| v.first().cloned()),
                key: lc.get(&key_lc).and_then(|v| v.first().cloned()),
                attrs,
                disabled,
            });
        }
        let res = stream.finish().await;
        if res.rc != 0 {
            return Err(err(format!("result code {}: {}", res.rc, res.text)));
        }
        Ok(out)
    }
}
