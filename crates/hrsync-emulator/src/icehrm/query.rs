//! `GET /employees` parameters (`limit`, `page`, `filters`, `search`,
//! `sortField`, `sortOrder`) with the semantics of IceHrm's
//! `EmployeeRestEndPoint::listAll` / `BaseService::getData` on MariaDB.

use std::cmp::Ordering;
use std::collections::HashMap;

use serde_json::Value;

use super::model::{
    COLS, Cell, Db, Kind, Row, c, col_index, fold, fold_keep_spaces, mysql_num, php_intval_str,
};

/// `RestEndPoint::DEFAULT_LIMIT`.
pub(crate) const DEFAULT_LIMIT: i64 = 50;

/// Columns of the `search` LIKE (the other names IceHrm lists, `ssn_number`
/// and `nic_number`, are not columns of `Employees` and are dropped).
const SEARCH_COLS: &[usize] = &[
    c::FIRST_NAME,
    c::LAST_NAME,
    c::EMPLOYEE_ID,
    c::OTHER_ID,
    c::DRIVING_LICENSE,
    c::COUNTRY,
];

#[derive(Debug, Clone)]
enum Filters {
    None,
    /// A filter names something that is not a column: the SQL fails and the
    /// page comes back empty with `total` 0.
    BadColumn,
    /// AND of (column, OR of values).
    Conds(Vec<(usize, Vec<Value>)>),
}

#[derive(Debug, Clone)]
pub(crate) struct ListQuery {
    pub page: i64,
    pub limit: i64,
    filters: Filters,
    search: Option<String>,
    /// (sortField, descending)
    sort: Option<(String, bool)>,
}

/// PHP's `empty()`.
fn php_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty() || s == "0",
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn parse_filters(raw: Option<&String>) -> Filters {
    let Some(raw) = raw.filter(|s| !s.is_empty() && s.as_str() != "0") else {
        return Filters::None;
    };
    // json_decode failure → null → no filter. A JSON list is treated as no filter.
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(raw) else {
        return Filters::None;
    };
    let mut conds = Vec::new();
    for (k, v) in map {
        if php_empty(&v) {
            continue;
        }
        let values = match v {
            Value::Array(items) => items,
            Value::String(ref s) if s == "NULL" => continue,
            other => vec![other],
        };
        let Some(ci) = col_index(&k) else {
            return Filters::BadColumn;
        };
        conds.push((ci, values));
    }
    if conds.is_empty() {
        Filters::None
    } else {
        Filters::Conds(conds)
    }
}

impl ListQuery {
    /// Whether the data query fails in SQL: a filter on something that is not a column of
    /// `Employees`, or a `sortField` that is not one.
    pub(crate) fn fails_in_sql(&self) -> bool {
        matches!(self.filters, Filters::BadColumn)
            || self
                .sort
                .as_ref()
                .is_some_and(|(field, _)| col_index(field).is_none())
    }

    pub(crate) fn from_params(params: &HashMap<String, String>) -> ListQuery {
        let positive = |k: &str| params.get(k).map(|v| php_intval_str(v)).filter(|n| *n > 0);
        let page = positive("page").unwrap_or(1);
        let limit = positive("limit").unwrap_or(DEFAULT_LIMIT);
        let search = params
            .get("search")
            .filter(|s| !s.is_empty() && s.as_str() != "0")
            .cloned();
        let sort = params
            .get("sortField")
            .filter(|s| !s.is_empty() && s.as_str() != "0")
            .map(|field| {
                let order = params.get("sortOrder").map(String::as_str).unwrap_or("");
                // `empty($sortOrder) || $sortOrder === 'ascend' ? 'ASC' : 'DESC'`
                let desc = !(order.is_empty() || order == "0" || order == "ascend");
                (field.clone(), desc)
            });
        ListQuery {
            page,
            limit,
            filters: parse_filters(params.get("filters")),
            search,
            sort,
        }
    }
}

/// MySQL `col = value` for one stored cell.
fn cell_eq(cell: &Cell, value: &Value, current_profile: Option<i64>) -> bool {
    let value = match value {
        Value::String(s) if s == "__myid__" => match current_profile {
            Some(id) => Value::from(id),
            None => return false,
        },
        other => other.clone(),
    };
    match (cell, &value) {
        (Cell::Null, _) | (_, Value::Null) | (_, Value::Array(_)) | (_, Value::Object(_)) => false,
        (Cell::Int(n), Value::Number(f)) => f.as_f64() == Some(*n as f64),
        (Cell::Int(n), Value::String(s)) => mysql_num(s) == *n as f64,
        (Cell::Int(n), Value::Bool(b)) => *n == i64::from(*b),
        (Cell::Str(s), Value::String(t)) => fold(s) == fold(t),
        (Cell::Str(s), Value::Number(f)) => f.as_f64() == Some(mysql_num(s)),
        (Cell::Str(s), Value::Bool(b)) => mysql_num(s) == f64::from(u8::from(*b)),
    }
}

/// SQL `LIKE` (case/accent-insensitive via [`fold`]); `%`, `_`, `\` escape.
fn like(text: &[char], pattern: &[char]) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum Tok {
        Any,
        One,
        Lit(char),
    }
    let mut toks = Vec::with_capacity(pattern.len());
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            '%' => toks.push(Tok::Any),
            '_' => toks.push(Tok::One),
            '\\' if i + 1 < pattern.len() => {
                i += 1;
                toks.push(Tok::Lit(pattern[i]));
            }
            ch => toks.push(Tok::Lit(ch)),
        }
        i += 1;
    }
    // Classic wildcard matching with backtracking to the last `%`.
    let (mut t, mut p) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < toks.len() {
            match toks[p] {
                Tok::Any => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                Tok::One => {
                    t += 1;
                    p += 1;
                    continue;
                }
                Tok::Lit(ch) if ch == text[t] => {
                    t += 1;
                    p += 1;
                    continue;
                }
                Tok::Lit(_) => {}
            }
        }
        match star {
            Some((sp, st)) => {
                p = sp + 1;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    toks[p..].iter().all(|tok| *tok == Tok::Any)
}

#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum SortKey {
    Null,
    Num(f64),
    Text(String),
}

fn sort_key(ci: usize, cell: &Cell) -> SortKey {
    match cell {
        Cell::Null => SortKey::Null,
        Cell::Int(n) => SortKey::Num(*n as f64),
        Cell::Str(s) => match COLS[ci].kind {
            // ENUM columns sort by their index, not alphabetically.
            Kind::Enum(values) => SortKey::Num(
                values
                    .iter()
                    .position(|v| v == &&**s)
                    .map(|p| p as f64 + 1.0)
                    .unwrap_or(0.0),
            ),
            _ => SortKey::Text(fold(s)),
        },
    }
}

/// Result of running a list query: the page rows (in response order, the
/// caller's own record hoisted) and `total`.
pub(crate) struct ListResult<'a> {
    pub rows: Vec<&'a Row>,
    pub total: usize,
}

fn page_bounds(q: &ListQuery) -> (usize, usize) {
    let offset = usize::try_from((q.page - 1).saturating_mul(q.limit)).unwrap_or(usize::MAX);
    let limit = usize::try_from(q.limit).unwrap_or(usize::MAX);
    (offset, limit)
}

pub(crate) fn run<'a>(db: &'a Db, q: &ListQuery) -> ListResult<'a> {
    // No WHERE and ORDER BY id (or no ORDER BY, which is id order here): the
    // page is a slice of the id-ordered rows, no need to collect them all.
    let by_id = match &q.sort {
        None => Some(false),
        Some((field, desc)) if field == "id" => Some(*desc),
        Some(_) => None,
    };
    if let (Filters::None, None, Some(desc)) = (&q.filters, &q.search, by_id) {
        let (offset, limit) = page_bounds(q);
        let page = db.rows_by_position(offset, limit, desc);
        return ListResult {
            rows: hoist(page, db.current_profile_id()),
            total: db.rows.len(),
        };
    }
    run_scan(db, q)
}

/// The general path: filter every row, sort, then cut the page. [`run`]
/// gives the same result; kept separate as its reference in tests.
pub(crate) fn run_scan<'a>(db: &'a Db, q: &ListQuery) -> ListResult<'a> {
    let me = db.current_profile_id();
    let conds = match &q.filters {
        Filters::BadColumn => {
            return ListResult {
                rows: Vec::new(),
                total: 0,
            };
        }
        Filters::None => &[][..],
        Filters::Conds(conds) => conds.as_slice(),
    };
    let pattern: Option<Vec<char>> = q
        .search
        .as_ref()
        .map(|s| format!("%{}%", fold_keep_spaces(s)).chars().collect());

    let mut matched: Vec<&Row> = db
        .rows
        .values()
        .filter(|row| {
            conds
                .iter()
                .all(|(ci, values)| values.iter().any(|v| cell_eq(row.get(*ci), v, me)))
        })
        .filter(|row| match &pattern {
            None => true,
            Some(p) => SEARCH_COLS.iter().any(|ci| {
                row.get(*ci)
                    .as_str()
                    .is_some_and(|s| like(&fold_keep_spaces(s).chars().collect::<Vec<_>>(), p))
            }),
        })
        .collect();
    let total = matched.len();

    if let Some((field, desc)) = &q.sort
        && field == "id"
    {
        // Rows are kept in id order (BTreeMap): ORDER BY id is the identity or its reverse.
        if *desc {
            matched.reverse();
        }
    } else if let Some((field, desc)) = &q.sort {
        let Some(ci) = col_index(field) else {
            // Unknown ORDER BY column: the data query fails, the count does not.
            return ListResult {
                rows: Vec::new(),
                total,
            };
        };
        let mut keyed: Vec<(SortKey, &Row)> = matched
            .iter()
            .map(|r| (sort_key(ci, r.get(ci)), *r))
            .collect();
        keyed.sort_by(|a, b| {
            let ord = a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal);
            if *desc { ord.reverse() } else { ord }
        });
        matched = keyed.into_iter().map(|(_, r)| r).collect();
    }

    let (offset, limit) = page_bounds(q);
    let page: Vec<&Row> = matched.into_iter().skip(offset).take(limit).collect();
    ListResult {
        rows: hoist(page, me),
        total,
    }
}

/// Admin caller: move the caller's own employee to the top of the page.
fn hoist(mut page: Vec<&Row>, me: Option<i64>) -> Vec<&Row> {
    if let Some(me) = me
        && let Some(pos) = page.iter().position(|r| r.id() == me)
    {
        let own = page.remove(pos);
        page.insert(0, own);
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn like_semantics() {
        assert!(like(&chars("sofia"), &chars("%sof%")));
        assert!(like(&chars("sofia"), &chars("%f_a%")));
        assert!(!like(&chars("sofia"), &chars("%x%")));
        assert!(like(&chars("a%b"), &chars("%\\%%")));
        assert!(!like(&chars("ab"), &chars("%\\%%")));
        assert!(like(&chars(""), &chars("%%")));
    }

    #[test]
    fn empty_values_are_skipped() {
        let p = |s: &str| parse_filters(Some(&s.to_owned()));
        assert!(matches!(p(r#"{"status":""}"#), Filters::None));
        assert!(matches!(p(r#"{"department":0}"#), Filters::None));
        assert!(matches!(p(r#"{"department":"NULL"}"#), Filters::None));
        assert!(matches!(p(r#"{"department":[]}"#), Filters::None));
        assert!(matches!(p("not json"), Filters::None));
        assert!(matches!(p(r#"{"nope":1}"#), Filters::BadColumn));
        assert!(matches!(p(r#"{"department":[2,3]}"#), Filters::Conds(_)));
    }
}
