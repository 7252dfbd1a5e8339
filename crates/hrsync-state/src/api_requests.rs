//! The audit of the REST API's state-changing requests (issue 15 §3): one row per request
//! that could change something (sign-ins included), whatever its answer, with the operator,
//! the source address and what changed. Append-only.
//!
//! Times are RFC 3339 UTC with microseconds (fixed width, so that they compare as text).

use crate::{Result, Store, sql};
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::params;
use serde::Serialize;

/// A request to record.
#[derive(Debug, Clone)]
pub struct NewApiRequest<'a> {
    pub at: DateTime<Utc>,
    /// The operator's audit name, or `anonymous` (a refused request, a sign-in attempt).
    pub operator: &'a str,
    /// How they were known: `session`, `token`, `break_glass`, or `none`.
    pub via: &'a str,
    pub source: Option<&'a str>,
    pub method: &'a str,
    /// The route as declared (`/api/v1/mappings/{name}`).
    pub route: &'a str,
    /// The path as requested (`/api/v1/mappings/users`).
    pub path: &'a str,
    pub status: u16,
    /// What changed, in words (a config edit's diff, redacted), or why it was refused.
    pub detail: &'a str,
}

/// A recorded request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiRequestRow {
    pub id: i64,
    pub at: String,
    pub operator: String,
    pub via: String,
    pub source: Option<String>,
    pub method: String,
    pub route: String,
    pub path: String,
    pub status: u16,
    pub detail: String,
}

/// Which rows to list.
#[derive(Debug, Clone, Default)]
pub struct ApiRequestFilter<'a> {
    pub operator: Option<&'a str>,
    /// Rows at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Rows before this time.
    pub until: Option<DateTime<Utc>>,
}

fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl Store {
    /// Records a request. Returns its id.
    pub fn api_request_record(&self, r: &NewApiRequest<'_>) -> Result<i64> {
        self.conn
            .prepare_cached(sql::API_REQUEST_INSERT)?
            .execute(params![
                time_text(r.at),
                r.operator,
                r.via,
                r.source,
                r.method,
                r.route,
                r.path,
                r.status,
                r.detail
            ])?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Requests newest first, `limit` of them with an id below `before` (the cursor).
    pub fn api_requests(
        &self,
        filter: &ApiRequestFilter<'_>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<ApiRequestRow>> {
        let rows = self
            .conn
            .prepare_cached(sql::API_REQUESTS_LIST)?
            .query_map(
                params![
                    before.unwrap_or(i64::MAX),
                    filter.operator,
                    filter.since.map(time_text),
                    filter.until.map(time_text),
                    i64::try_from(limit).unwrap_or(i64::MAX)
                ],
                |r| {
                    Ok(ApiRequestRow {
                        id: r.get(0)?,
                        at: r.get(1)?,
                        operator: r.get(2)?,
                        via: r.get(3)?,
                        source: r.get(4)?,
                        method: r.get(5)?,
                        route: r.get(6)?,
                        path: r.get(7)?,
                        status: r.get(8)?,
                        detail: r.get(9)?,
                    })
                },
            )?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn requests_are_listed_newest_first_by_operator_and_paged() {
        let s = Store::in_memory().unwrap();
        let at = Utc::now();
        for (i, who) in ["alice", "bob", "alice"].iter().enumerate() {
            s.api_request_record(&NewApiRequest {
                at,
                operator: who,
                via: "session",
                source: Some("127.0.0.1"),
                method: "POST",
                route: "/api/v1/runs",
                path: "/api/v1/runs",
                status: 202,
                detail: &format!("run {i}"),
            })
            .unwrap();
        }
        let f = ApiRequestFilter {
            operator: Some("alice"),
            ..Default::default()
        };
        let rows = s.api_requests(&f, None, 10).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].detail, "run 2");
        let next = s.api_requests(&f, Some(rows[0].id), 10).unwrap();
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].detail, "run 0");
        let all = s
            .api_requests(&ApiRequestFilter::default(), None, 1)
            .unwrap();
        assert_eq!(all.len(), 1);
    }
}
