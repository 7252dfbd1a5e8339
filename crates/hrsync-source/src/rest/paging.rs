//! Pagination styles and their stop criteria.

use serde_json::Value;
use serde_json_path::JsonPath;
use std::collections::{BTreeMap, HashSet};

/// How an endpoint pages. Each style's values are also macros (`{page}`, `{offset}`,
/// `{limit}`, `{cursor}`) so a POST search API can carry them in its body.
#[derive(Clone, Debug)]
pub enum Paging {
    /// One request.
    None,
    /// `?page=N&per_page=K`. Stops at `total_pages` / `total` when the body says them, else on
    /// the first empty page (a short page is not trusted: servers clamp page sizes).
    Page {
        page_param: Option<String>,
        size_param: Option<String>,
        size: u64,
        first: u64,
        total_pages: Option<JsonPath>,
        total: Option<JsonPath>,
    },
    /// `?offset=N&limit=K`; same stop rules as `Page`.
    Offset {
        offset_param: Option<String>,
        limit_param: Option<String>,
        limit: u64,
        total: Option<JsonPath>,
    },
    /// A continuation token found at `next` in the body, sent back as `param` (query) or in
    /// the body through `{cursor}`. Stops when it is null/empty or `has_more` is false.
    Cursor {
        param: Option<String>,
        next: JsonPath,
        has_more: Option<JsonPath>,
        size_param: Option<String>,
        size: Option<u64>,
    },
    /// The next page's URL found at `next` in the body (absolute or relative to the base).
    NextUrl {
        next: JsonPath,
        size_param: Option<String>,
        size: Option<u64>,
    },
    /// The next page's URL in the `Link` header (`rel="next"`), as GitHub and many others do.
    LinkHeader {
        size_param: Option<String>,
        size: Option<u64>,
    },
}

pub(crate) enum Next {
    More,
    Done { total: Option<u64> },
    Broken(String),
}

/// Where a fetch is.
pub(crate) struct State {
    page: u64,
    offset: u64,
    fetched: u64,
    cursor: Option<String>,
    next_url: Option<String>,
    seen: HashSet<String>,
    /// The first total (records, or pages) the server reported.
    first_total: Option<u64>,
    /// The first page that reported another total: (page, first total, its total).
    total_moved: Option<(u64, u64, u64)>,
}

impl Paging {
    /// The paging values of the first request, as macros.
    pub fn first_vars(&self, vars: &mut BTreeMap<String, String>) {
        State::new(self).vars(self, vars)
    }

    fn size(&self) -> Option<u64> {
        match self {
            Paging::None => None,
            Paging::Page { size, .. } => Some(*size),
            Paging::Offset { limit, .. } => Some(*limit),
            Paging::Cursor { size, .. }
            | Paging::NextUrl { size, .. }
            | Paging::LinkHeader { size, .. } => *size,
        }
    }

    /// Query parameters the style adds to a request built from the endpoint's own URL.
    pub fn query_params(&self, vars: &BTreeMap<String, String>) -> Vec<(String, String)> {
        let get = |k: &str| vars.get(k).cloned().unwrap_or_default();
        let mut out = Vec::new();
        let mut add = |p: &Option<String>, k: &str| {
            if let Some(p) = p {
                out.push((p.clone(), get(k)));
            }
        };
        match self {
            Paging::None => {}
            Paging::Page {
                page_param,
                size_param,
                ..
            } => {
                add(page_param, "page");
                add(size_param, "limit");
            }
            Paging::Offset {
                offset_param,
                limit_param,
                ..
            } => {
                add(offset_param, "offset");
                add(limit_param, "limit");
            }
            Paging::Cursor {
                param, size_param, ..
            } => {
                add(size_param, "limit");
                if !get("cursor").is_empty() {
                    add(param, "cursor");
                }
            }
            Paging::NextUrl { size_param, .. } | Paging::LinkHeader { size_param, .. } => {
                add(size_param, "limit")
            }
        }
        out
    }
}

impl State {
    pub(crate) fn new(p: &Paging) -> State {
        State {
            page: match p {
                Paging::Page { first, .. } => *first,
                _ => 1,
            },
            offset: 0,
            fetched: 0,
            cursor: None,
            next_url: None,
            seen: HashSet::new(),
            first_total: None,
            total_moved: None,
        }
    }

    /// Remembers a page's reported total; a change means the list moved under the fetch.
    fn note_total(&mut self, total: Option<u64>) {
        let Some(t) = total else { return };
        match self.first_total {
            None => self.first_total = Some(t),
            Some(first) if first != t && self.total_moved.is_none() => {
                self.total_moved = Some((self.page, first, t));
            }
            Some(_) => {}
        }
    }

    /// Why the fetch cannot count as complete although every page arrived: the server's
    /// total changed between pages (people added or deleted in HR meanwhile; with offset
    /// paging a delete makes someone who still exists never be served).
    pub(crate) fn total_changed(&self) -> Option<String> {
        self.total_moved.map(|(page, first, t)| {
            format!(
                "the server's total changed from {first} to {t} (page {page}): people changed in HR during the fetch; not complete"
            )
        })
    }

    pub(crate) fn vars(&self, p: &Paging, vars: &mut BTreeMap<String, String>) {
        vars.insert("page".into(), self.page.to_string());
        vars.insert("offset".into(), self.offset.to_string());
        vars.insert(
            "limit".into(),
            p.size().map(|s| s.to_string()).unwrap_or_default(),
        );
        vars.insert("cursor".into(), self.cursor.clone().unwrap_or_default());
    }

    /// The URL the server gave for the next page, if the style uses one.
    pub(crate) fn next_url(&self) -> Option<&str> {
        self.next_url.as_deref()
    }

    /// Decides what comes after a page with `count` records.
    pub(crate) fn advance(
        &mut self,
        p: &Paging,
        body: &Value,
        headers: &reqwest::header::HeaderMap,
        count: usize,
        new_records: usize,
    ) -> Next {
        // Totals are compared with distinct records; offsets move by what the server sent.
        self.fetched += new_records as u64;
        match p {
            Paging::None => Next::Done { total: None },
            Paging::Page {
                total_pages, total, ..
            } => {
                let total = total.as_ref().and_then(|t| number(t, body));
                let pages = total_pages.as_ref().and_then(|t| number(t, body));
                self.note_total(total);
                // A short page is not trusted as the last one: servers clamp page sizes.
                let done = count == 0
                    || pages.is_some_and(|tp| self.page >= tp)
                    || total.is_some_and(|t| self.fetched >= t);
                if done {
                    Next::Done { total }
                } else {
                    self.page += 1;
                    Next::More
                }
            }
            Paging::Offset { total, .. } => {
                let total = total.as_ref().and_then(|t| number(t, body));
                self.note_total(total);
                let done = count == 0 || total.is_some_and(|t| self.offset + count as u64 >= t);
                if done {
                    Next::Done { total }
                } else {
                    self.offset += count as u64;
                    Next::More
                }
            }
            Paging::Cursor { next, has_more, .. } => {
                let more = match has_more {
                    None => None,
                    Some(h) => match h.query(body).at_most_one().ok().flatten() {
                        Some(v @ (Value::Bool(_) | Value::String(_) | Value::Number(_))) => {
                            Some(truthy(v))
                        }
                        // A page without its has-more flag is not a page that says "no more".
                        _ => {
                            return Next::Broken(
                                "the page has no has_more flag (or not a boolean)".into(),
                            );
                        }
                    },
                };
                let cursor = match next_value(next, body) {
                    Ok(c) => c,
                    Err(m) => return Next::Broken(m),
                };
                match (more, cursor) {
                    (Some(false), _) | (None, None) => Next::Done { total: None },
                    (Some(true), None) => {
                        Next::Broken("the body says there is more but gives no cursor".into())
                    }
                    (_, Some(c)) => {
                        if !self.seen.insert(c.clone()) {
                            return Next::Broken(format!(
                                "the cursor {c:?} came back twice; stopped to avoid a loop"
                            ));
                        }
                        self.page += 1;
                        self.cursor = Some(c);
                        Next::More
                    }
                }
            }
            Paging::NextUrl { next, .. } => match next_value(next, body) {
                Ok(url) => self.follow(url),
                Err(m) => Next::Broken(m),
            },
            Paging::LinkHeader { .. } => {
                let mut url = None;
                for v in headers.get_all(reqwest::header::LINK) {
                    let Ok(text) = std::str::from_utf8(v.as_bytes()) else {
                        return Next::Broken("the Link header is not valid UTF-8".into());
                    };
                    match parse_links(text) {
                        Some(links) => {
                            if let Some((u, _)) = links.into_iter().find(|(_, rels)| {
                                rels.iter().any(|r| r.eq_ignore_ascii_case("next"))
                            }) {
                                url = Some(u);
                                break;
                            }
                        }
                        None => {
                            return Next::Broken(format!("cannot parse the Link header {text:?}"));
                        }
                    }
                }
                self.follow(url)
            }
        }
    }

    fn follow(&mut self, url: Option<String>) -> Next {
        match url {
            None => Next::Done { total: None },
            Some(u) => {
                if !self.seen.insert(u.clone()) {
                    return Next::Broken(format!(
                        "the next-page URL {u} came back twice; stopped to avoid a loop"
                    ));
                }
                self.page += 1;
                self.next_url = Some(u);
                Next::More
            }
        }
    }
}

fn number(p: &JsonPath, body: &Value) -> Option<u64> {
    match p.query(body).at_most_one().ok().flatten()? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The next cursor/URL at `p`: absent, null or "" = the end; a string or number = more;
/// anything else (an object, `true`) is a page we do not understand.
fn next_value(p: &JsonPath, body: &Value) -> Result<Option<String>, String> {
    match p.query(body).at_most_one() {
        Err(_) => Err("the next-page path matches several values".into()),
        Ok(None) | Ok(Some(Value::Null)) => Ok(None),
        Ok(Some(Value::String(s))) if s.is_empty() => Ok(None),
        Ok(Some(Value::String(s))) => Ok(Some(s.clone())),
        Ok(Some(Value::Number(n))) => Ok(Some(n.to_string())),
        Ok(Some(other)) => Err(format!("the next-page value is not a string: {other}")),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        Value::Number(n) => n.as_u64().is_some_and(|n| n > 0),
        _ => false,
    }
}

/// Parses a `Link` header value (RFC 8288): `<uri>; rel="next"; title="a, b", <uri2>; rel=last`.
/// Returns (target, rel values) per link, or None when it is not a Link header at all.
pub(crate) fn parse_links(header: &str) -> Option<Vec<(String, Vec<String>)>> {
    let mut out = Vec::new();
    let mut rest = header.trim_start();
    while !rest.is_empty() {
        let body = rest.strip_prefix('<')?;
        let end = body.find('>')?;
        let target = body[..end].trim().to_string();
        rest = body[end + 1..].trim_start();
        let mut rels = Vec::new();
        // Parameters: `; name = value` where value is a token or a quoted string.
        while let Some(p) = rest.strip_prefix(';') {
            let p = p.trim_start();
            let name_end = p.find(['=', ';', ',']).unwrap_or(p.len());
            let name = p[..name_end].trim().to_ascii_lowercase();
            rest = &p[name_end..];
            let mut value = String::new();
            if let Some(v) = rest.strip_prefix('=') {
                let v = v.trim_start();
                if let Some(q) = v.strip_prefix('"') {
                    let mut chars = q.char_indices();
                    let mut close = None;
                    while let Some((i, c)) = chars.next() {
                        match c {
                            '\\' => {
                                if let Some((_, n)) = chars.next() {
                                    value.push(n);
                                }
                            }
                            '"' => {
                                close = Some(i);
                                break;
                            }
                            c => value.push(c),
                        }
                    }
                    rest = &q[close? + 1..];
                } else {
                    let end = v.find([';', ',', ' ', '\t']).unwrap_or(v.len());
                    value = v[..end].trim().to_string();
                    rest = &v[end..];
                }
            }
            if name == "rel" {
                rels.extend(value.split_ascii_whitespace().map(str::to_string));
            }
            rest = rest.trim_start();
        }
        out.push((target, rels));
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
        } else if !rest.is_empty() {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
fn link_next(header: &str) -> Option<String> {
    parse_links(header)?
        .into_iter()
        .find(|(_, rels)| rels.iter().any(|r| r.eq_ignore_ascii_case("next")))
        .map(|(u, _)| u)
}

#[cfg(test)]
mod tests {
    use super::{link_next, parse_links};

    #[test]
    fn link_header_next() {
        assert_eq!(
            link_next(
                r#"<https://h/e?page=2&per_page=5>; rel="next", <https://h/e?page=9>; rel="last""#
            )
            .as_deref(),
            Some("https://h/e?page=2&per_page=5")
        );
        assert_eq!(
            link_next(r#"<https://h/e?page=9>; rel="last", <https://h/e?a=1,2>; title="x"; rel="prev next""#).as_deref(),
            Some("https://h/e?a=1,2")
        );
        assert_eq!(link_next(r#"<https://h/e?page=1>; rel="prev""#), None);
        assert_eq!(link_next("garbage"), None);
        assert_eq!(
            link_next(r#"<https://h/p?1>; REL = "next""#).as_deref(),
            Some("https://h/p?1")
        );
        assert_eq!(
            link_next(
                r#"<https://h/a>; title="a, <b>; rel=next"; rel="last", <https://h/n>; rel=next"#
            )
            .as_deref(),
            Some("https://h/n"),
            "a quoted comma or rel inside another parameter does not count"
        );
        assert!(parse_links("<https://h/a>; rel=next junk").is_none());
    }
}
