//! The configuration's history (issue 15 §4): every saved version of a config file, with who
//! saved it, from where, how, the hashes before and after, the diff and the full text after.
//! This module only stores; the config crate computes hashes and diffs, and redacts.
//!
//! Versions are keyed by the config file's path as the caller gives it (an absolute path).
//! Every time is RFC 3339 UTC with microseconds, so that times compare as text in SQL.

use crate::{Result, Store, sql};
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

/// How a version of the configuration came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigChangeKind {
    /// Saved through the API.
    Api,
    /// Found changed on disk: edited outside hrsync (by hand, by a deployment).
    Outside,
    /// An earlier version restored through the API.
    Restore,
    /// The first version hrsync saw of this file.
    Initial,
}

impl ConfigChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigChangeKind::Api => "api",
            ConfigChangeKind::Outside => "outside",
            ConfigChangeKind::Restore => "restore",
            ConfigChangeKind::Initial => "initial",
        }
    }

    /// The kind written as [`ConfigChangeKind::as_str`] writes it.
    pub fn parse(s: &str) -> Option<ConfigChangeKind> {
        Some(match s {
            "api" => ConfigChangeKind::Api,
            "outside" => ConfigChangeKind::Outside,
            "restore" => ConfigChangeKind::Restore,
            "initial" => ConfigChangeKind::Initial,
            _ => return None,
        })
    }
}

impl std::fmt::Display for ConfigChangeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A version to record.
#[derive(Debug, Clone)]
pub struct NewConfigVersion<'a> {
    pub at: DateTime<Utc>,
    /// Who: the operator's name (`hrsync` itself for an outside edit it found).
    pub operator: &'a str,
    /// The address the request came from, if any.
    pub source: Option<&'a str>,
    /// The config file.
    pub path: &'a str,
    /// SHA-256 hex of the file before (none for the first version).
    pub hash_before: Option<&'a str>,
    /// SHA-256 hex of the file after.
    pub hash_after: &'a str,
    pub kind: ConfigChangeKind,
    /// The unified diff from the version before (empty for the first one).
    pub diff: &'a str,
    /// The full text after.
    pub text: &'a str,
    pub comment: Option<&'a str>,
}

/// A version as listed: everything but the diff and the text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigVersionInfo {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub operator: String,
    pub source: Option<String>,
    pub path: String,
    pub hash_before: Option<String>,
    pub hash_after: String,
    pub kind: ConfigChangeKind,
    pub comment: Option<String>,
}

/// A version with its diff and full text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigVersion {
    #[serde(flatten)]
    pub info: ConfigVersionInfo,
    pub diff: String,
    pub text: String,
}

/// The text form of a time in this table (fixed width, so that it compares as text).
fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn conversion(idx: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
}

#[derive(Debug, thiserror::Error)]
#[error("unknown config change kind {0:?}")]
struct UnknownKind(String);

fn info_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ConfigVersionInfo> {
    let at: String = r.get(1)?;
    let kind: String = r.get(7)?;
    Ok(ConfigVersionInfo {
        id: r.get(0)?,
        at: DateTime::parse_from_rfc3339(&at)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| conversion(1, e))?,
        operator: r.get(2)?,
        source: r.get(3)?,
        path: r.get(4)?,
        hash_before: r.get(5)?,
        hash_after: r.get(6)?,
        kind: ConfigChangeKind::parse(&kind).ok_or_else(|| conversion(7, UnknownKind(kind)))?,
        comment: r.get(8)?,
    })
}

fn version_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ConfigVersion> {
    Ok(ConfigVersion {
        info: info_row(r)?,
        diff: r.get(9)?,
        text: r.get(10)?,
    })
}

fn insert(conn: &rusqlite::Connection, v: &NewConfigVersion<'_>) -> Result<i64> {
    conn.prepare_cached(sql::CONFIG_HISTORY_INSERT)?
        .execute(params![
            time_text(v.at),
            v.operator,
            v.source,
            v.path,
            v.hash_before,
            v.hash_after,
            v.kind.as_str(),
            v.diff,
            v.text,
            v.comment
        ])?;
    Ok(conn.last_insert_rowid())
}

impl Store {
    /// Records a version. Returns its id.
    pub fn config_history_record(&self, v: &NewConfigVersion<'_>) -> Result<i64> {
        insert(&self.conn, v)
    }

    /// Records a version only if the newest version of its path is still `expected_last`
    /// (`None`: the path has no version yet), in one transaction, so that two processes that
    /// found the same outside edit record it once. Returns the new id, or None when another
    /// version was recorded in the meantime.
    pub fn config_history_record_after(
        &mut self,
        v: &NewConfigVersion<'_>,
        expected_last: Option<i64>,
    ) -> Result<Option<i64>> {
        let tx = self.write()?;
        let last: Option<i64> = tx
            .prepare_cached(sql::CONFIG_HISTORY_LAST_ID_OF_PATH)?
            .query_row(params![v.path], |r| r.get(0))
            .optional()?;
        if last != expected_last {
            return Ok(None);
        }
        let id = insert(&tx, v)?;
        tx.commit()?;
        Ok(Some(id))
    }

    /// Versions newest first, of one path or of all, `limit` of them with an id below
    /// `before` (the cursor: the last id of the previous page; None for the first page).
    pub fn config_history_list(
        &self,
        path: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<ConfigVersionInfo>> {
        let before = before.unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match path {
            Some(p) => self
                .conn
                .prepare_cached(sql::CONFIG_HISTORY_LIST_OF_PATH)?
                .query_map(params![p, before, limit], info_row)?
                .collect::<std::result::Result<Vec<_>, _>>()?,
            None => self
                .conn
                .prepare_cached(sql::CONFIG_HISTORY_LIST)?
                .query_map(params![before, limit], info_row)?
                .collect::<std::result::Result<Vec<_>, _>>()?,
        };
        Ok(rows)
    }

    /// One version with its diff and text.
    pub fn config_history_get(&self, id: i64) -> Result<Option<ConfigVersion>> {
        Ok(self
            .conn
            .prepare_cached(sql::CONFIG_HISTORY_GET)?
            .query_row(params![id], version_row)
            .optional()?)
    }

    /// The newest version of a path.
    pub fn config_history_last_for(&self, path: &str) -> Result<Option<ConfigVersion>> {
        Ok(self
            .conn
            .prepare_cached(sql::CONFIG_HISTORY_LAST_OF_PATH)?
            .query_row(params![path], version_row)
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000 + s, 123_456_000).unwrap()
    }

    fn version<'a>(path: &'a str, after: &'a str, kind: ConfigChangeKind) -> NewConfigVersion<'a> {
        NewConfigVersion {
            at: t(0),
            operator: "alice",
            source: Some("192.0.2.7"),
            path,
            hash_before: None,
            hash_after: after,
            kind,
            diff: "",
            text: "a = 1\n",
            comment: None,
        }
    }

    #[test]
    fn versions_round_trip_and_page_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        let s = Store::open(&db).unwrap();
        let first = s
            .config_history_record(&version("/etc/a.toml", "h1", ConfigChangeKind::Initial))
            .unwrap();
        let mut ids = vec![first];
        for i in 2..=5 {
            let after = format!("h{i}");
            let before = format!("h{}", i - 1);
            ids.push(
                s.config_history_record(&NewConfigVersion {
                    at: t(i),
                    hash_before: Some(&before),
                    diff: "-a = 1\n+a = 2\n",
                    text: "a = 2\n",
                    comment: Some("why"),
                    ..version("/etc/a.toml", &after, ConfigChangeKind::Api)
                })
                .unwrap(),
            );
        }
        let other = s
            .config_history_record(&version("/etc/b.toml", "x", ConfigChangeKind::Outside))
            .unwrap();
        drop(s);
        let s = Store::open(&db).unwrap();

        let got = s.config_history_get(ids[1]).unwrap().unwrap();
        assert_eq!(got.info.at, t(2));
        assert_eq!(got.info.kind, ConfigChangeKind::Api);
        assert_eq!(
            (
                got.info.hash_before.as_deref(),
                got.info.hash_after.as_str()
            ),
            (Some("h1"), "h2")
        );
        assert_eq!(
            (got.diff.as_str(), got.text.as_str()),
            ("-a = 1\n+a = 2\n", "a = 2\n")
        );
        assert_eq!(got.info.source.as_deref(), Some("192.0.2.7"));
        assert_eq!(got.info.comment.as_deref(), Some("why"));
        assert!(s.config_history_get(other + 1).unwrap().is_none());

        let last = s.config_history_last_for("/etc/a.toml").unwrap().unwrap();
        assert_eq!(last.info.id, ids[4]);
        assert!(s.config_history_last_for("/nowhere").unwrap().is_none());

        // Paged by id: two at a time, newest first, only this path.
        let p1 = s.config_history_list(Some("/etc/a.toml"), None, 2).unwrap();
        assert_eq!(
            p1.iter().map(|v| v.id).collect::<Vec<_>>(),
            [ids[4], ids[3]]
        );
        let p2 = s
            .config_history_list(Some("/etc/a.toml"), Some(p1[1].id), 2)
            .unwrap();
        assert_eq!(
            p2.iter().map(|v| v.id).collect::<Vec<_>>(),
            [ids[2], ids[1]]
        );
        let p3 = s
            .config_history_list(Some("/etc/a.toml"), Some(p2[1].id), 2)
            .unwrap();
        assert_eq!(p3.iter().map(|v| v.id).collect::<Vec<_>>(), [ids[0]]);
        // Every path.
        let all = s.config_history_list(None, None, 100).unwrap();
        assert_eq!(all.len(), 6);
        assert_eq!(all[0].id, other);
        // The texts are part of the secret-leak dump.
        assert!(s.dump_text().unwrap().contains("+a = 2"));
    }

    #[test]
    fn recording_after_a_stale_last_version_is_refused() {
        let mut s = Store::in_memory().unwrap();
        let p = "/etc/a.toml";
        let first = s
            .config_history_record_after(&version(p, "h1", ConfigChangeKind::Initial), None)
            .unwrap()
            .unwrap();
        // A second "first version" (another process saw the file at the same time): refused.
        assert_eq!(
            s.config_history_record_after(&version(p, "h1", ConfigChangeKind::Initial), None)
                .unwrap(),
            None
        );
        let second = s
            .config_history_record_after(&version(p, "h2", ConfigChangeKind::Outside), Some(first))
            .unwrap()
            .unwrap();
        assert_eq!(
            s.config_history_record_after(
                &version(p, "h2", ConfigChangeKind::Outside),
                Some(first)
            )
            .unwrap(),
            None
        );
        assert_eq!(s.config_history_list(Some(p), None, 10).unwrap().len(), 2);
        assert_eq!(
            s.config_history_last_for(p).unwrap().unwrap().info.id,
            second
        );
    }
}
