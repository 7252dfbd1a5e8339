//! Cursor paging, the same on every list: `?limit=N&cursor=C`, answered with
//! `{"items": [...], "next_cursor": "..."}`. The cursor is opaque to clients (today the id
//! of the last item seen, lists being newest first), so a list that grows while it is paged
//! neither repeats nor skips an item.

use super::problem::Problem;
use serde::{Deserialize, Serialize};

/// Items per page when the client does not say.
pub const DEFAULT_LIMIT: usize = 50;
/// The most a client may ask for at once.
pub const MAX_LIMIT: usize = 500;

/// The paging part of a list's query string.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page (1-500, default 50).
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page; absent for the first page.
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
    }

    /// The id the page starts below (None: from the newest).
    pub fn before(&self) -> Result<Option<i64>, Problem> {
        match self.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => Ok(None),
            Some(c) => decode(c).map(Some).ok_or_else(|| {
                Problem::bad_request(format!(
                    "cursor {c:?} is not one this server gave: use next_cursor of the previous page, or no cursor for the first"
                ))
            }),
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page from `limit + 1` fetched rows (the extra one only says there is more), newest
    /// first, with `id` the cursor key of a row.
    pub fn from_rows(mut rows: Vec<T>, limit: usize, id: impl Fn(&T) -> i64) -> Page<T> {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more {
            rows.last().map(|r| encode(id(r)))
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }

    /// A page of a list that is whole in memory (small lists: tokens, integrations), paged
    /// by position.
    pub fn of_all(all: Vec<T>, q: &PageQuery) -> Result<Page<T>, Problem> {
        let start = q.before()?.map(|p| p.max(0) as usize).unwrap_or(0);
        let limit = q.limit();
        let total = all.len();
        let items: Vec<T> = all.into_iter().skip(start).take(limit).collect();
        let end = start + items.len();
        Ok(Page {
            items,
            next_cursor: (end < total).then(|| encode(end as i64)),
        })
    }
}

/// A list filter from the query string: absent and empty (`?mapping=`) both mean "any".
pub(crate) fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

fn encode(id: i64) -> String {
    format!("c{id:x}")
}

fn decode(c: &str) -> Option<i64> {
    i64::from_str_radix(c.strip_prefix('c')?, 16).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_page_says_where_the_next_starts_and_the_last_says_nothing() {
        let rows: Vec<i64> = (1..=6).rev().collect(); // newest first, 5 asked + 1
        let p = Page::from_rows(rows, 5, |r| *r);
        assert_eq!(p.items, vec![6, 5, 4, 3, 2]);
        let q = PageQuery {
            limit: Some(5),
            cursor: p.next_cursor.clone(),
        };
        assert_eq!(q.before().unwrap(), Some(2));
        let last = Page::from_rows(vec![1i64], 5, |r| *r);
        assert!(last.next_cursor.is_none());
    }

    #[test]
    fn a_forged_cursor_is_a_bad_request() {
        let q = PageQuery {
            limit: None,
            cursor: Some("'; drop table".into()),
        };
        assert_eq!(q.before().unwrap_err().status, 400);
        assert_eq!(PageQuery::default().limit(), DEFAULT_LIMIT);
        let huge = PageQuery {
            limit: Some(1_000_000),
            cursor: None,
        };
        assert_eq!(huge.limit(), MAX_LIMIT);
    }

    #[test]
    fn an_in_memory_list_pages_by_position() {
        let q = PageQuery {
            limit: Some(2),
            cursor: None,
        };
        let p = Page::of_all(vec!['a', 'b', 'c'], &q).unwrap();
        assert_eq!(p.items, vec!['a', 'b']);
        let q2 = PageQuery {
            limit: Some(2),
            cursor: p.next_cursor,
        };
        let p2 = Page::of_all(vec!['a', 'b', 'c'], &q2).unwrap();
        assert_eq!(p2.items, vec!['c']);
        assert!(p2.next_cursor.is_none());
    }
}
