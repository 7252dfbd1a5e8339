//! What the store knows per person: links (HR key ↔ directory entry), the name ledger and
//! the review list.

use crate::{LinkRow, Result, ReviewRow, Store, sql};
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use std::collections::{BTreeMap, BTreeSet, HashSet};

fn review_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(ReviewRow, String)> {
    Ok((
        ReviewRow {
            mapping: r.get(0)?,
            hr_key: r.get(1)?,
            status: r.get(2)?,
            reason: r.get(3)?,
            candidates: Vec::new(),
            chosen_dn: r.get(5)?,
            first_seen: r.get(6)?,
            updated_at: r.get(7)?,
            decided_by: r.get(8)?,
        },
        r.get::<_, String>(4)?,
    ))
}

impl Store {
    /// The links of a mapping, in no particular order (what a run's planner starts from:
    /// no map built here, no value copied there).
    pub fn link_rows(&self, mapping: &str) -> Result<Vec<LinkRow>> {
        let mut st = self.conn.prepare_cached(sql::LINKS_OF_MAPPING)?;
        let rows = st.query_map(params![mapping], |r| {
            Ok(LinkRow {
                hr_key: r.get(0)?,
                uuid: r.get(1)?,
                dn: r.get(2)?,
                state: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
    }

    /// The links of a mapping, by HR key.
    pub fn links(&self, mapping: &str) -> Result<BTreeMap<String, LinkRow>> {
        Ok(self
            .link_rows(mapping)?
            .into_iter()
            .map(|r| (r.hr_key.clone(), r))
            .collect())
    }

    /// When each disabled account of the mapping was disabled (for retention deletes).
    /// One person's link, if any.
    pub fn link(&self, mapping: &str, hr_key: &str) -> Result<Option<LinkRow>> {
        Ok(self
            .conn
            .prepare_cached(sql::LINK_OF_PERSON)?
            .query_row(params![mapping, hr_key], |r| {
                Ok(LinkRow {
                    hr_key: r.get(0)?,
                    uuid: r.get(1)?,
                    dn: r.get(2)?,
                    state: r.get(3)?,
                })
            })
            .optional()?)
    }

    pub fn disabled_since(&self, mapping: &str) -> Result<BTreeMap<String, DateTime<Utc>>> {
        let mut st = self.conn.prepare_cached(sql::LINKS_DISABLED_SINCE)?;
        let rows = st.query_map(params![mapping], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (k, at) = row?;
            if let Ok(d) = DateTime::parse_from_rfc3339(&at) {
                out.insert(k, d.with_timezone(&Utc));
            }
        }
        Ok(out)
    }

    /// Every value of a unique attribute hrsync ever gave an account (lower-cased): a leaver's
    /// name is never given to someone else, even after the account is deleted.
    pub fn used_names(&self, mapping: &str, attr: &str) -> Result<BTreeSet<String>> {
        let mut st = self.conn.prepare_cached(sql::NAMES_USED)?;
        let rows = st.query_map(params![mapping, attr.to_lowercase()], |r| {
            r.get::<_, String>(0)
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Stores a plan's review list: new items are added, items seen again are refreshed (an
    /// `adopt` decision whose account is gone is reopened), and open items the plan no longer
    /// has (the person was matched or left) are dropped when `prune` (a full fetch; an
    /// incremental one only sees some people). Decisions are kept.
    pub fn save_review(
        &mut self,
        mapping: &str,
        items: &[hrsync_model::ReviewItem],
        prune: bool,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let at = at.to_rfc3339();
        let tx = self.write()?;
        {
            let mut st = tx.prepare_cached(sql::REVIEW_UPSERT)?;
            for i in items {
                st.execute(params![
                    mapping,
                    i.key,
                    i.reason,
                    serde_json::to_string(&i.candidates)?,
                    at
                ])?;
            }
            if prune {
                let keys: HashSet<&str> = items.iter().map(|i| i.key.as_str()).collect();
                let stale: Vec<String> = tx
                    .prepare_cached(sql::REVIEW_OPEN_KEYS)?
                    .query_map(params![mapping], |r| r.get::<_, String>(0))?
                    .collect::<std::result::Result<Vec<_>, _>>()?
                    .into_iter()
                    .filter(|k| !keys.contains(k.as_str()))
                    .collect();
                let mut del = tx.prepare_cached(sql::REVIEW_DELETE)?;
                for k in stale {
                    del.execute(params![mapping, k])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The review list: open items, or every item with `all`.
    pub fn review(&self, mapping: Option<&str>, all: bool) -> Result<Vec<ReviewRow>> {
        let rows: Vec<(ReviewRow, String)> = match (mapping, all) {
            (None, false) => self
                .conn
                .prepare_cached(sql::REVIEW_OPEN)?
                .query_map([], review_row)?
                .collect::<std::result::Result<_, _>>()?,
            (None, true) => self
                .conn
                .prepare_cached(sql::REVIEW_EVERY)?
                .query_map([], review_row)?
                .collect::<std::result::Result<_, _>>()?,
            (Some(m), false) => self
                .conn
                .prepare_cached(sql::REVIEW_OPEN_OF_MAPPING)?
                .query_map(params![m], review_row)?
                .collect::<std::result::Result<_, _>>()?,
            (Some(m), true) => self
                .conn
                .prepare_cached(sql::REVIEW_EVERY_OF_MAPPING)?
                .query_map(params![m], review_row)?
                .collect::<std::result::Result<_, _>>()?,
        };
        let mut out = Vec::with_capacity(rows.len());
        for (mut row, cands) in rows {
            row.candidates = serde_json::from_str(&cands)?;
            out.push(row);
        }
        Ok(out)
    }

    /// Records an operator's decision on a review item: `adopt` with the chosen DN, `new`, or
    /// `open` (undo). Returns false when the mapping has no such item.
    pub fn decide(
        &mut self,
        mapping: &str,
        key: &str,
        status: &str,
        chosen_dn: Option<&str>,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(sql::REVIEW_DECIDE)?
            .execute(params![
                mapping,
                key,
                status,
                chosen_dn,
                by,
                at.to_rfc3339()
            ])?;
        Ok(n > 0)
    }

    /// Decisions of a mapping's review items: key → (`adopt`|`new`, chosen DN).
    pub fn decisions(&self, mapping: &str) -> Result<BTreeMap<String, (String, Option<String>)>> {
        let mut st = self.conn.prepare_cached(sql::REVIEW_DECISIONS)?;
        let rows = st.query_map(params![mapping], |r| {
            Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?)))
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Records names given to new accounts: (attribute, value, HR key).
    pub fn record_names(
        &mut self,
        mapping: &str,
        names: &[(String, String, String)],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self.write()?;
        insert_names(&tx, mapping, names, at)?;
        tx.commit()?;
        Ok(())
    }

    /// Forgets links (accounts deleted by a retention delete).
    pub fn remove_links(&mut self, mapping: &str, keys: &[String]) -> Result<()> {
        let tx = self.write()?;
        delete_links(&tx, mapping, keys)?;
        tx.commit()?;
        Ok(())
    }

    /// Inserts or refreshes links (keeps `first_seen`; a known uuid is never replaced by NULL).
    pub fn upsert_links(
        &mut self,
        mapping: &str,
        rows: &[LinkRow],
        at: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self.write()?;
        upsert_links(&tx, mapping, rows, at)?;
        tx.commit()?;
        Ok(())
    }
}

pub(crate) fn insert_names(
    tx: &rusqlite::Transaction<'_>,
    mapping: &str,
    names: &[(String, String, String)],
    at: DateTime<Utc>,
) -> Result<()> {
    let mut st = tx.prepare_cached(sql::NAME_INSERT)?;
    for (attr, value, key) in names {
        st.execute(params![
            mapping,
            attr.to_lowercase(),
            value.to_lowercase(),
            key,
            at.to_rfc3339()
        ])?;
    }
    Ok(())
}

pub(crate) fn delete_links(
    tx: &rusqlite::Transaction<'_>,
    mapping: &str,
    keys: &[String],
) -> Result<()> {
    let mut st = tx.prepare_cached(sql::LINK_DELETE)?;
    for k in keys {
        st.execute(params![mapping, k])?;
    }
    Ok(())
}

pub(crate) fn upsert_links(
    tx: &rusqlite::Transaction<'_>,
    mapping: &str,
    rows: &[LinkRow],
    at: DateTime<Utc>,
) -> Result<()> {
    let now = at.to_rfc3339();
    let mut st = tx.prepare_cached(sql::LINK_UPSERT)?;
    // One account, one person: an account adopted by a new key (a rehire under a new
    // employee number) is no longer linked to the old one.
    let mut other = tx.prepare_cached(sql::LINK_DELETE_OTHER_OWNER)?;
    for r in rows {
        if let Some(u) = &r.uuid {
            other.execute(params![mapping, u, r.hr_key])?;
        }
        st.execute(params![mapping, r.hr_key, r.uuid, r.dn, r.state, now])?;
    }
    Ok(())
}
