//! Reads the managed entries: every entry under `base_dn` that carries the key attribute, with
//! only the attributes the mapping owns plus the stable id and the account state. Paged, so
//! server size limits (slapd 500 for non-root, AD 1000) never truncate it silently.

use crate::ber::RawAttr;
use crate::{DirError, Directory, Result};
use hrsync_model::{AttrMap, AttrName, DirEntry, filter};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Scope, SearchEntry};

impl Directory {
    /// All managed entries.
    pub async fn snapshot(&self) -> Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        self.snapshot_with(|e| out.push(e)).await?;
        Ok(out)
    }

    /// All managed entries, handed to `sink` as they arrive (nothing is accumulated here).
    pub async fn snapshot_with(&self, sink: impl FnMut(DirEntry)) -> Result<usize> {
        self.snapshot_paced(sink, None).await
    }

    /// [`Directory::snapshot_with`], taking one permit of `pace` before each entry is handed
    /// on: the caller adds permits as the other side of the pairing (HR) makes progress, so the
    /// read never runs more than the permits ahead of it, and closes `pace` to let the rest
    /// through. Entries that wait in memory for their HR record are what a run's footprint is
    /// made of. A closed semaphore (or none) never waits.
    pub async fn snapshot_paced(
        &self,
        sink: impl FnMut(DirEntry),
        pace: Option<&tokio::sync::Semaphore>,
    ) -> Result<usize> {
        let oc = self
            .cfg
            .object_classes
            .first()
            .map(String::as_str)
            .unwrap_or("*");
        // Entries with the key, and (for secondary matching) entries with a match attribute.
        let has: Vec<String> = std::iter::once(&self.cfg.key_attribute)
            .chain(&self.cfg.match_attributes)
            .map(|a| format!("({}=*)", filter::escape(a)))
            .collect();
        let f = format!(
            "(&(objectClass={}){})",
            if oc == "*" {
                "*".to_string()
            } else {
                filter::escape(oc)
            },
            if has.len() == 1 {
                has.concat()
            } else {
                format!("(|{})", has.concat())
            }
        );
        self.search(&f, sink, pace).await
    }

    /// The managed entries (object class) having any of these `attr = value` pairs (values
    /// escaped, RFC 4515): the accounts a targeted run needs. None for no pairs.
    pub async fn snapshot_any(
        &self,
        pairs: &[(String, String)],
        sink: impl FnMut(DirEntry),
    ) -> Result<usize> {
        if pairs.is_empty() {
            return Ok(0);
        }
        let oc = self
            .cfg
            .object_classes
            .first()
            .map(|o| filter::escape(o))
            .unwrap_or_else(|| "*".to_string());
        let any: String = pairs.iter().map(|(a, v)| filter::eq(a, v)).collect();
        self.search(&format!("(&(objectClass={oc})(|{any}))"), sink, None)
            .await
    }

    /// The HR keys (key attribute) of a group's members (`member` / `uniqueMember`); members
    /// without a key are skipped.
    pub async fn group_member_keys(&self, group_dn: &str) -> Result<Vec<String>> {
        let mut ldap = self.conn(0);
        let err = |message: String| DirError::Search {
            url: self.cfg.url.clone(),
            base: group_dn.to_string(),
            message,
        };
        let ldap3::SearchResult(rs, res) = ldap
            .search(
                group_dn,
                Scope::Base,
                "(objectClass=*)",
                vec!["member", "uniqueMember"],
            )
            .await
            .map_err(|e| err(e.to_string()))?;
        if res.rc != 0 {
            return Err(err(crate::result_code::failure(
                res.rc,
                "",
                &res.text,
                &res.matched,
            )));
        }
        let members: Vec<String> = rs
            .into_iter()
            .map(SearchEntry::construct)
            .flat_map(|e| e.attrs.into_iter())
            .filter(|(k, _)| {
                k.eq_ignore_ascii_case("member") || k.eq_ignore_ascii_case("uniqueMember")
            })
            .flat_map(|(_, v)| v)
            .collect();
        let key = self.cfg.key_attribute.clone();
        let mut keys = Vec::new();
        for m in members {
            let Ok((rs, _)) = ldap
                .search(&m, Scope::Base, "(objectClass=*)", vec![key.as_str()])
                .await
                .map_err(|e| err(e.to_string()))?
                .success()
            else {
                continue;
            };
            keys.extend(
                rs.into_iter()
                    .map(SearchEntry::construct)
                    .flat_map(|e| e.attrs.into_iter())
                    .filter(|(k, _)| k.eq_ignore_ascii_case(&key))
                    .filter_map(|(_, v)| v.into_iter().next()),
            );
        }
        Ok(keys)
    }

    /// Entries whose `attr` equals `value` (the value is escaped, RFC 4515).
    pub async fn find_by(&self, attr: &str, value: &str) -> Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        self.search(&filter::eq(attr, value), |e| out.push(e), None)
            .await?;
        Ok(out)
    }

    /// Whether any entry under `base` has `attr` = `value` (value escaped, RFC 4515). Used for
    /// unique names, which AD checks domain-wide, beyond the managed entries.
    pub async fn value_taken(&self, base: &str, attr: &str, value: &str) -> Result<bool> {
        let mut ldap = self.conn(0);
        let err = |message: String| DirError::Search {
            url: self.cfg.url.clone(),
            base: base.to_string(),
            message,
        };
        let res = ldap
            .with_search_options(ldap3::SearchOptions::new().sizelimit(1))
            .search(base, Scope::Subtree, &filter::eq(attr, value), vec!["1.1"])
            .await
            .map_err(|e| err(e.to_string()))?;
        match res.1.rc {
            // 4 = sizeLimitExceeded: more than one, so taken.
            0 | 4 => Ok(res.0.iter().any(|r| !r.is_ref() && !r.is_intermediate())),
            rc => Err(err(crate::result_code::failure(
                rc,
                "",
                &res.1.text,
                &res.1.matched,
            ))),
        }
    }

    async fn search(
        &self,
        f: &str,
        mut sink: impl FnMut(DirEntry),
        pace: Option<&tokio::sync::Semaphore>,
    ) -> Result<usize> {
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
        let uuid_attr = cfg.dialect.uuid_attribute();
        let state_attrs = cfg.dialect.state_attributes();
        let mut n = 0usize;
        while let Some(raw) = stream.next().await.map_err(|e| err(e.to_string()))? {
            // Read straight from the protocol structure (not via `SearchEntry`, which copies
            // every value into hash maps and panics on a malformed entry).
            let Some((dn, parts)) = entry_parts(raw.0) else {
                return Err(err(
                    "the server sent a malformed search result entry".to_string()
                ));
            };
            let mut uuid = None;
            let mut attrs = AttrMap::new();
            let mut key = None;
            let mut state: Vec<(String, Vec<String>)> = Vec::new();
            // Attribute names come back in the server's spelling: match them case-insensitively.
            // The stable id may be binary (AD objectGUID), so it is decoded from the bytes.
            for (k, vals) in parts {
                if k.eq_ignore_ascii_case(uuid_attr) {
                    uuid = vals.first().and_then(|b| cfg.dialect.decode_uuid(b));
                } else if let Some(s) = state_attrs.iter().find(|s| s.eq_ignore_ascii_case(&k)) {
                    state.push((s.to_lowercase(), text_values(vals)));
                } else if let Some(a) = owned
                    .iter()
                    .chain(std::iter::once(&key_name))
                    .find(|a| a.is(&k))
                {
                    let mut v = text_values(vals);
                    if a == &key_name {
                        key = v.first().cloned();
                    }
                    hrsync_model::attr::normalize_values(&mut v);
                    attrs.entry_or_default(a.clone()).extend(v);
                }
            }
            let disabled = cfg
                .dialect
                .is_disabled(|n| state.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()));
            n += 1;
            if let Some(p) = pace
                && let Ok(permit) = p.acquire().await
            {
                permit.forget();
            }
            sink(DirEntry {
                dn,
                uuid,
                key,
                attrs,
                disabled,
            });
        }
        let res = stream.finish().await;
        if res.rc != 0 {
            return Err(err(crate::result_code::failure(
                res.rc,
                "",
                &res.text,
                &res.matched,
            )));
        }
        Ok(n)
    }
}

/// A search result entry's DN and its attributes; None when the structure is not an entry (a
/// broken server). The LDAP client hands a search entry without controls over as its raw
/// content (a primitive [APPLICATION 4]), others as a tag tree.
pub(crate) fn entry_parts(tag: ldap3::asn1::StructureTag) -> Option<(String, Vec<RawAttr>)> {
    use ldap3::asn1::{PL, StructureTag, TagClass};
    if let StructureTag {
        class: TagClass::Application,
        id: 4,
        payload: PL::P(content),
    } = &tag
    {
        return crate::ber::entry_content(content);
    }
    let mut tags = tag.match_id(4)?.expect_constructed()?.into_iter();
    let dn = String::from_utf8(tags.next()?.expect_primitive()?).ok()?;
    let mut out = Vec::new();
    for a_v in tags.next()?.expect_constructed()? {
        let mut part = a_v.expect_constructed()?.into_iter();
        let name = String::from_utf8(part.next()?.expect_primitive()?).ok()?;
        let vals = part
            .next()?
            .expect_constructed()?
            .into_iter()
            .map(|t| t.expect_primitive())
            .collect::<Option<Vec<_>>>()?;
        out.push((name, vals));
    }
    Some((dn, out))
}

/// Values as text; bytes that are not UTF-8 are replaced (only the stable id is binary).
fn text_values(vals: Vec<Vec<u8>>) -> Vec<String> {
    vals.into_iter()
        .map(|b| match String::from_utf8(b) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
        .collect()
}
