//! HTTP layer: one fallback handler doing, in order: rate limit → bearer
//! token → API key → route → method → endpoint; then it logs the request.

use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{MAX_PAGE_SIZE, RequestLog, RestState, Style};

const BASE: &str = "/api/v2";

pub(crate) enum PageFault {
    Status(u16),
    Malformed,
}

// ------------------------------------------------------------------ responses

fn status_code(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn raw_json(status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    raw_json(status, serde_json::to_vec(value).unwrap_or_default())
}

fn error(status: StatusCode, code: &str, message: Option<&str>) -> Response {
    let body = match message {
        Some(m) => json!({"error": code, "message": m}),
        None => json!({"error": code}),
    };
    json_response(status, &body)
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not_found", None)
}

fn bad_request(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "bad_request", Some(message))
}

fn set_header(resp: &mut Response, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

fn rate_limited(secs: u64) -> Response {
    let mut resp = error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", None);
    set_header(&mut resp, header::RETRY_AFTER, &secs.to_string());
    resp
}

/// An injected failure.
fn injected(status: u16, what: &str) -> Response {
    let mut resp = error(
        status_code(status),
        "injected_fault",
        Some(&format!("injected HTTP {status} on {what}")),
    );
    if matches!(status, 429 | 503) {
        set_header(&mut resp, header::RETRY_AFTER, "1");
    }
    resp
}

// ------------------------------------------------------------------ helpers

/// Equality without an early exit on the first differing byte.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().max(b.len());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..n {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    diff == 0
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decoding (`+` → space when `form`).
fn decode(s: &str, form: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if form => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encoding of a query value (everything but unreserved characters).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The query parameters (first occurrence of each name wins).
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: Option<&str>) -> Query {
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k, true), decode(v, true))
            })
            .collect();
        Query(pairs)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A positive integer parameter.
    fn positive(&self, name: &str) -> Result<Option<u64>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if n > 0 => Ok(Some(n)),
                _ => Err(format!("invalid {name} '{v}': expected a positive integer")),
            },
        }
    }

    /// A non-negative integer parameter.
    fn natural(&self, name: &str) -> Result<Option<u64>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .map(Some)
                .map_err(|_| format!("invalid {name} '{v}': expected a non-negative integer")),
        }
    }
}

/// SplitMix64's finalizer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// An opaque cursor for the next offset.
pub(crate) fn encode_cursor(offset: u64, salt: u64) -> String {
    format!(
        "{:016x}{:016x}",
        offset ^ salt,
        mix(offset ^ salt.rotate_left(17))
    )
}

/// The offset of a cursor made by [`encode_cursor`] with the same salt.
pub(crate) fn decode_cursor(cursor: &str, salt: u64) -> Option<u64> {
    if cursor.len() != 32 || !cursor.bytes().all(|b| hex_val(b).is_some()) {
        return None;
    }
    let masked = u64::from_str_radix(cursor.get(..16)?, 16).ok()?;
    let check = u64::from_str_radix(cursor.get(16..)?, 16).ok()?;
    let offset = masked ^ salt;
    (mix(offset ^ salt.rotate_left(17)) == check).then_some(offset)
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

// ------------------------------------------------------------------ dispatch

pub(crate) async fn dispatch(
    State(state): State<RestState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let at = Instant::now();
    let resp = handle(&state, &method, &uri, &headers, at);
    state.record_request(RequestLog {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        at,
        status: resp.status().as_u16(),
    });
    resp
}

fn handle(
    state: &RestState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    now: Instant,
) -> Response {
    if let Err(secs) = state.check_rate(now) {
        return rate_limited(secs);
    }
    let cfg = state.config();

    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        });
    let token_ok = bearer
        .as_deref()
        .is_some_and(|t| constant_time_eq(t.as_bytes(), cfg.token.as_bytes()));
    if !token_ok {
        let mut resp = error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            Some("missing or invalid bearer token"),
        );
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return resp;
    }
    if let Some(key) = &cfg.api_key {
        let given = headers
            .get("x-api-key")
            .map(HeaderValue::as_bytes)
            .unwrap_or_default();
        if !constant_time_eq(given, key.as_bytes()) {
            return error(
                StatusCode::FORBIDDEN,
                "forbidden",
                Some("missing or invalid X-API-Key"),
            );
        }
    }

    let Some(rest) = uri
        .path()
        .strip_prefix(BASE)
        .filter(|r| r.is_empty() || r.starts_with('/'))
    else {
        return not_found();
    };
    let segs: Vec<String> = rest
        .trim_end_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| decode(s, false))
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let route = match segs.as_slice() {
        ["companies", company, "employees"] => Route::Employees(company),
        ["companies", company, "employees", id] => Route::Employee(company, id),
        ["companies", company, "compensation"] => Route::Compensation(company),
        ["employees", id, "details"] => Route::Details(id),
        _ => return not_found(),
    };
    if method != Method::GET {
        let mut resp = error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None);
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return resp;
    }
    let query = Query::parse(uri.query());
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.as_str().to_owned()))
        .unwrap_or_else(|| "localhost".to_owned());
    let ctx = ListContext {
        state,
        style: cfg.style,
        page_size: cfg.page_size.clamp(1, MAX_PAGE_SIZE),
        query: &query,
        url_base: format!("http://{host}{}", uri.path()),
    };
    match route {
        Route::Employees(company) | Route::Compensation(company) | Route::Employee(company, _)
            if company != cfg.company =>
        {
            not_found()
        }
        Route::Employee(_, id) => match state.employee(id) {
            Some(v) => json_response(StatusCode::OK, &v),
            None => not_found(),
        },
        Route::Employees(_) => list(&ctx, true),
        Route::Compensation(_) => list(&ctx, false),
        Route::Details(id) => details(state, id),
    }
}

enum Route<'a> {
    Employees(&'a str),
    /// (company, employee id)
    Employee(&'a str, &'a str),
    Compensation(&'a str),
    Details(&'a str),
}

fn details(state: &RestState, id: &str) -> Response {
    if let Some(status) = state.details_fault(id) {
        return injected(status, &format!("the details of {id}"));
    }
    match state.details(id) {
        Some(v) => json_response(StatusCode::OK, &v),
        None => not_found(),
    }
}

struct ListContext<'a> {
    state: &'a RestState,
    style: Style,
    page_size: usize,
    query: &'a Query,
    /// `http://{host}{path}` of the request.
    url_base: String,
}

impl ListContext<'_> {
    fn size(&self, name: &str) -> Result<usize, String> {
        Ok(self
            .query
            .positive(name)?
            .map_or(self.page_size, |n| to_usize(n).min(MAX_PAGE_SIZE)))
    }

    /// The opaque cursor parameter (`cursor` or `after`) → offset.
    fn cursor(&self, name: &str, salt: u64) -> Result<u64, String> {
        match self.query.get(name) {
            None | Some("") => Ok(0),
            Some(c) => decode_cursor(c.trim(), salt).ok_or_else(|| format!("invalid {name} '{c}'")),
        }
    }
}

/// A page of a list endpoint. `employees`: the employees list (filters and
/// faults) rather than compensation.
fn list(ctx: &ListContext<'_>, employees: bool) -> Response {
    list_page(ctx, employees).unwrap_or_else(|message| bad_request(&message))
}

/// `Err`: the message of a 400.
fn list_page(ctx: &ListContext<'_>, employees: bool) -> Result<Response, String> {
    let state = ctx.state;
    let salt = state.salt();
    let since = match (employees, ctx.query.get("updated_since")) {
        (true, Some(v)) => Some(
            DateTime::parse_from_rfc3339(v.trim())
                .map(|d| d.with_timezone(&Utc))
                .map_err(|e| {
                    let hint = if v.contains(' ') {
                        " (a '+' in the query must be sent as %2B)"
                    } else {
                        ""
                    };
                    format!(
                        "invalid updated_since '{v}': {e}; expected an RFC 3339 timestamp{hint}"
                    )
                })?,
        ),
        _ => None,
    };
    // (offset, limit, page number; for page styles the 1-based page)
    let (offset, limit, page_no) = match ctx.style {
        Style::Page | Style::Link => {
            let page = ctx.query.positive("page")?.unwrap_or(1);
            let per_page = ctx.size("per_page")?;
            let offset = (page - 1).saturating_mul(per_page as u64);
            (offset, per_page, page)
        }
        Style::Offset => {
            let offset = ctx.query.natural("offset")?.unwrap_or(0);
            let limit = ctx.size("limit")?;
            (offset, limit, offset / limit as u64 + 1)
        }
        Style::Cursor | Style::NextUrl => {
            let name = if ctx.style == Style::Cursor {
                "cursor"
            } else {
                "after"
            };
            let offset = ctx.cursor(name, salt)?;
            let limit = ctx.size("limit")?;
            (offset, limit, offset / limit as u64 + 1)
        }
    };
    let fault = if employees {
        state.page_fault(page_no)
    } else {
        None
    };
    if let Some(PageFault::Status(status)) = fault {
        return Ok(injected(status, &format!("page {page_no}")));
    }
    // `ids=E0001,E0002`: only these employees (exact ids); empty = no filter.
    let ids: Option<Vec<&str>> = match (employees, ctx.query.get("ids")) {
        (true, Some(v)) if !v.trim().is_empty() => Some(
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect(),
        ),
        _ => None,
    };
    let (total, items) = if employees {
        state.employee_page(since, ids.as_deref(), to_usize(offset), limit)
    } else {
        state.compensation_page(to_usize(offset), limit)
    };
    let next_offset = offset + items.len() as u64;
    let has_next = !items.is_empty() && next_offset < total as u64;
    let since_param = since
        .and(ctx.query.get("updated_since"))
        .map(|v| format!("&updated_since={}", encode(v)))
        .unwrap_or_default();
    let mut extra_headers: Vec<(HeaderName, String)> = Vec::new();
    let body = match ctx.style {
        Style::Page => {
            let total_pages = total.div_ceil(limit);
            json!({
                "data": {"items": items},
                "meta": {"page": page_no, "per_page": limit, "total": total, "total_pages": total_pages},
            })
        }
        Style::Offset => json!({"results": items, "count": total}),
        Style::Cursor => {
            let next = has_next.then(|| encode_cursor(next_offset, salt));
            json!({"employees": items, "next_cursor": next})
        }
        Style::NextUrl => {
            let next = has_next.then(|| {
                format!(
                    "{}?limit={limit}&after={}{since_param}",
                    ctx.url_base,
                    encode_cursor(next_offset, salt)
                )
            });
            json!({"items": items, "links": {"next": next}})
        }
        Style::Link => {
            let total_pages = total.div_ceil(limit) as u64;
            extra_headers.push((HeaderName::from_static("x-total-count"), total.to_string()));
            if page_no < total_pages {
                let url =
                    |p: u64| format!("{}?page={p}&per_page={limit}{since_param}", ctx.url_base);
                extra_headers.push((
                    header::LINK,
                    format!(
                        "<{}>; rel=\"next\", <{}>; rel=\"last\"",
                        url(page_no + 1),
                        url(total_pages)
                    ),
                ));
            }
            Value::Array(items)
        }
    };
    let mut bytes = serde_json::to_vec(&body).unwrap_or_default();
    if matches!(fault, Some(PageFault::Malformed)) {
        bytes.truncate(bytes.len() / 2);
    }
    let mut resp = raw_json(StatusCode::OK, bytes);
    for (name, value) in extra_headers {
        set_header(&mut resp, name, &value);
    }
    Ok(resp)
}
