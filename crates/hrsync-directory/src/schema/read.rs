//! Reads the schema: the root DSE names the subschema subentry (`cn=Subschema` on OpenLDAP,
//! `CN=Aggregate,CN=Schema,CN=Configuration,…` on AD), a base search of it returns
//! `attributeTypes`, `objectClasses` and (AD) `dITContentRules`; on AD a paged search of the
//! schema naming context adds `rangeLower`/`rangeUpper` of every attribute that has them.

use super::{Range, Schema};
use crate::{Dialect, DirError, Directory, Result};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Scope, SearchEntry};
use std::sync::Arc;

fn values(e: &SearchEntry, name: &str) -> Vec<String> {
    e.attrs
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.iter().cloned())
        .collect()
}

impl Directory {
    /// The directory's schema, read once per [`Directory`] (on first use) and shared; its
    /// [`Schema::check_entry`] uses the configured object classes.
    pub async fn schema(&self) -> Result<Arc<Schema>> {
        self.schema
            .get_or_try_init(|| async { self.read_schema().await.map(Arc::new) })
            .await
            .cloned()
    }

    /// Reads the schema from the server (no caching; see [`Self::schema`]).
    pub async fn read_schema(&self) -> Result<Schema> {
        let cfg = &self.cfg;
        let mut ldap = self.conn(0);
        let err = |base: &str, message: String| DirError::Search {
            url: cfg.url.clone(),
            base: base.to_string(),
            message,
        };
        let base_search = |base: &str, res: ldap3::result::Result<ldap3::SearchResult>| {
            let ldap3::SearchResult(rs, r) = res.map_err(|e| err(base, e.to_string()))?;
            if r.rc != 0 {
                return Err(err(
                    base,
                    crate::result_code::failure(r.rc, "", &r.text, &r.matched),
                ));
            }
            Ok(rs.into_iter().next().map(SearchEntry::construct))
        };
        let root = base_search(
            "the root DSE",
            ldap.with_timeout(cfg.timeout)
                .search(
                    "",
                    Scope::Base,
                    "(objectClass=*)",
                    vec!["subschemaSubentry", "schemaNamingContext"],
                )
                .await,
        )?
        .ok_or_else(|| err("the root DSE", "the server returned no root DSE".into()))?;
        let sub = values(&root, "subschemaSubentry")
            .into_iter()
            .next()
            .ok_or_else(|| {
                err(
                    "the root DSE",
                    "it names no subschemaSubentry, so the schema cannot be read".into(),
                )
            })?;
        let entry = base_search(
            &sub,
            ldap.with_timeout(cfg.timeout)
                .search(
                    &sub,
                    Scope::Base,
                    "(objectClass=*)",
                    vec!["attributeTypes", "objectClasses", "dITContentRules"],
                )
                .await,
        )?
        .ok_or_else(|| {
            err(
                &sub,
                "the subschema subentry is not readable by the bind DN".into(),
            )
        })?;
        let mut schema = Schema::parse(
            cfg.dialect,
            &values(&entry, "attributeTypes"),
            &values(&entry, "objectClasses"),
        )
        .with_content_rules(&values(&entry, "dITContentRules"))
        .with_object_classes(cfg.object_classes.clone());
        if schema.is_empty() {
            return Err(err(
                &sub,
                "it returned no attributeTypes (not readable by the bind DN?)".into(),
            ));
        }
        if cfg.dialect == Dialect::ActiveDirectory
            && let Some(nc) = values(&root, "schemaNamingContext").into_iter().next()
        {
            schema = schema.with_ranges(self.ad_ranges(&nc).await?);
        }
        if schema.unparsed() > 0 {
            tracing::warn!(
                url = %cfg.url,
                "{} schema definition(s) could not be parsed and are not checked",
                schema.unparsed()
            );
        }
        Ok(schema)
    }

    /// `rangeLower`/`rangeUpper` of the attributes that have them (`attributeSchema` objects).
    async fn ad_ranges(&self, nc: &str) -> Result<Vec<(String, Range)>> {
        let cfg = &self.cfg;
        let err = |message: String| DirError::Search {
            url: cfg.url.clone(),
            base: nc.to_string(),
            message,
        };
        let mut ldap = self.conn(0);
        let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(cfg.page_size.max(1))),
        ];
        let mut stream = ldap
            .with_timeout(cfg.timeout)
            .streaming_search_with(
                adapters,
                nc,
                Scope::OneLevel,
                "(&(objectClass=attributeSchema)(|(rangeLower=*)(rangeUpper=*)))",
                vec!["lDAPDisplayName", "rangeLower", "rangeUpper"],
            )
            .await
            .map_err(|e| err(e.to_string()))?;
        let mut out = Vec::new();
        while let Some(raw) = stream.next().await.map_err(|e| err(e.to_string()))? {
            let e = SearchEntry::construct(raw);
            let num = |k: &str| values(&e, k).first().and_then(|v| v.trim().parse().ok());
            if let Some(name) = values(&e, "lDAPDisplayName").into_iter().next() {
                out.push((
                    name,
                    Range {
                        lower: num("rangeLower"),
                        upper: num("rangeUpper"),
                    },
                ));
            }
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
        Ok(out)
    }
}
