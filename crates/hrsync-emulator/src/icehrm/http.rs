//! HTTP layer: one fallback handler that routes like IceHrm's `Macaw` router
//! (exact regex routes, everything else → 404 `404`), so method mismatches,
//! trailing slashes and non-numeric ids behave as on the real server.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::auth::{self, TokenCheck};
use super::model::{Db, Row, WriteError, php_intval_str};
use super::phpjson::{Arr, Obj};
use super::query::{self, ListQuery};
use super::{Fault, IceHrmState, phpjson};

#[derive(Clone)]
pub(crate) struct App {
    pub state: IceHrmState,
    /// Normalized base path: "" or "/app/api" (no trailing slash).
    pub base: Arc<str>,
}

pub(crate) fn normalize_base(base_path: &str) -> String {
    let trimmed = base_path.trim().trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

fn respond(status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("DELETE, POST, GET, OPTIONS"),
    );
    resp
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    respond(status, phpjson::encode(value))
}

/// `{"error":[[{"code":C,"message":M}]]}` with HTTP status C.
fn error(code: u16, message: &str) -> Response {
    json_response(
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &json!({"error": [[{"code": code, "message": message}]]}),
    )
}

/// A PHP fatal error: HTTP 500, `Content-Type: application/json`, empty body.
fn php_fatal() -> Response {
    respond(StatusCode::INTERNAL_SERVER_ERROR, Vec::new())
}

fn not_found_route() -> Response {
    respond(StatusCode::NOT_FOUND, b"404".to_vec())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// PHP `$_GET` (last value wins).
fn query_params(uri: &Uri) -> HashMap<String, String> {
    let mut params = HashMap::new();
    for pair in uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.insert(percent_decode(k), percent_decode(v));
    }
    params
}

/// `RestEndPoint::getBearerToken`: when an `Authorization` header is present
/// only `/Bearer\s(\S+)/` counts (any other scheme → no token); without the
/// header the `token` query parameter is used.
fn presented_token(headers: &HeaderMap, params: &HashMap<String, String>) -> Option<String> {
    let header_value = headers
        .get(header::AUTHORIZATION)
        .map(|h| String::from_utf8_lossy(h.as_bytes()).trim().to_owned())
        .filter(|h| !h.is_empty());
    match header_value {
        Some(h) => {
            let is_ws = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c');
            let mut from = 0;
            while let Some(pos) = h[from..].find("Bearer") {
                let after = &h[from + pos + "Bearer".len()..];
                let mut chars = after.chars();
                if chars.next().is_some_and(is_ws) {
                    let rest = chars.as_str();
                    let token: String = rest.chars().take_while(|c| !is_ws(*c)).collect();
                    if !token.is_empty() {
                        return Some(token);
                    }
                }
                from += pos + 1;
            }
            None
        }
        None => params.get("token").cloned(),
    }
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

fn current_time() -> String {
    chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Token validation shared by all authenticated endpoints. `Some` is the
/// response to send instead of running the endpoint.
fn authenticate(
    app: &App,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Option<Response> {
    let token = presented_token(headers, params);
    match auth::check(token.as_deref(), &app.state.shared.token, now_unix()) {
        TokenCheck::Ok => {}
        TokenCheck::Empty => return Some(error(403, "Authorization bearer token is empty")),
        TokenCheck::Invalid => return Some(error(403, "Authorization bearer token is invalid")),
        TokenCheck::Crash => return Some(php_fatal()),
    }
    if app
        .state
        .faults()
        .iter()
        .any(|f| matches!(f, Fault::ErrorBodyWith200))
    {
        // RestApiManager::validateAccessTokenInner fails after a password change.
        return Some(json_response(
            StatusCode::OK,
            &json!({"error": [[{"code": null, "message": false}]]}),
        ));
    }
    None
}

fn is_num(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn body_object(body: &Bytes) -> Map<String, Value> {
    // `json_decode(file_get_contents('php://input'), true)`; anything that is
    // not a JSON object assigns nothing.
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

pub(crate) async fn dispatch(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let rest = if app.base.is_empty() {
        path.strip_prefix('/')
    } else {
        path.strip_prefix(&*app.base)
            .and_then(|r| r.strip_prefix('/'))
    };
    let Some(rest) = rest else {
        return not_found_route();
    };
    if method == Method::OPTIONS {
        return respond(StatusCode::OK, Vec::new());
    }
    let params = query_params(&uri);
    let segs: Vec<&str> = rest.split('/').collect();
    match (&method, segs.as_slice()) {
        (&Method::GET, ["echo"]) => respond(
            StatusCode::OK,
            format!("Echo {}", fastrand::u32(..i32::MAX as u32)).into_bytes(),
        ),
        (&Method::GET, ["employees"]) => list(&app, &headers, &params),
        (&Method::POST, ["employees"]) => create(&app, &headers, &params, &body),
        (&Method::GET, ["employees", "me"]) => get_one(&app, &headers, &params, None),
        (&Method::GET, ["employees", id]) if is_num(id) => {
            get_one(&app, &headers, &params, Some(id))
        }
        (&Method::PUT, ["employees", id]) if is_num(id) => {
            update(&app, &headers, &params, id, &body)
        }
        (&Method::DELETE, ["employees", id]) if is_num(id) => delete(&app, &headers, &params, id),
        (&Method::GET, ["company", "structures", id, "details"]) if is_num(id) => {
            structure(&app, id)
        }
        _ => not_found_route(),
    }
}

fn list(app: &App, headers: &HeaderMap, params: &HashMap<String, String>) -> Response {
    app.state.count_list_request();
    if let Some(resp) = authenticate(app, headers, params) {
        return resp;
    }
    let q = ListQuery::from_params(params);
    let page = u64::try_from(q.page).unwrap_or(0);
    if let Some(status) = app.state.filter_fault(params.get("filters")) {
        return respond(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Vec::new(),
        );
    }
    match app.state.take_list_fault(page) {
        Some(ListFault::Status(status)) => {
            return respond(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                Vec::new(),
            );
        }
        Some(ListFault::Malformed) => {
            let mut full = render_list(&app.state.db(), &q);
            full.truncate(full.len() / 2);
            return respond(StatusCode::OK, full);
        }
        None => {}
    }
    if q.fails_in_sql() {
        // A filter on something that is not a column (unknown, or computed like `email`), or
        // an unknown sortField: the SQL fails and PHP dies (real v35: 500, empty body).
        return php_fatal();
    }
    let body = render_list_cached(&app.state, &q);
    app.state.after_list_page(page);
    respond(StatusCode::OK, body)
}

pub(crate) enum ListFault {
    Status(u16),
    Malformed,
}

/// The list body: `phpjson::encode` of
/// `{"data": [list items], "total": N, "nextPage": page + 1}`, written
/// directly (no `Value` tree) under a shared read lock.
pub(crate) fn render_list(db: &Db, q: &ListQuery) -> Vec<u8> {
    render_with(db, q, |row, out| db.write_list_item(row, 2, out))
}

/// [`render_list`] with each employee's list item kept as bytes until the next write to the
/// data ([`IceHrmState::db_mut`] empties the cache): an item only changes when the data does,
/// so serving a large instance again (every re-run of a sync) costs copying, not rendering.
/// The bytes are the same (tested). The emulator stands in for a server on another machine;
/// here its CPU time competes with the client's on the same cores.
fn render_list_cached(state: &IceHrmState, q: &ListQuery) -> Vec<u8> {
    // The read lock is held until the new items are in the cache: a write (which empties
    // it) cannot come in between rendering an item and keeping it.
    let db = state.db();
    let mut misses: Vec<(i64, std::ops::Range<usize>)> = Vec::new();
    let body = {
        let cache = state.list_items();
        render_with(&db, q, |row, out| match cache.get(&row.id()) {
            Some(item) => out.extend_from_slice(item),
            None => {
                let start = out.len();
                db.write_list_item(row, 2, out);
                misses.push((row.id(), start..out.len()));
            }
        })
    };
    if !misses.is_empty() {
        let mut cache = state.list_items_mut();
        for (id, range) in misses {
            cache.insert(id, body[range].into());
        }
    }
    body
}

fn render_with(db: &Db, q: &ListQuery, mut item: impl FnMut(&Row, &mut Vec<u8>)) -> Vec<u8> {
    let result = query::run(db, q);
    // A generated list item is about 3 KB.
    let mut out = Vec::with_capacity(64 + result.rows.len() * 3200);
    let mut obj = Obj::begin(0, &mut out);
    obj.key("data", &mut out);
    let mut data = Arr::begin(1, &mut out);
    for row in &result.rows {
        data.item(&mut out);
        item(row, &mut out);
    }
    data.end(&mut out);
    obj.key("total", &mut out);
    phpjson::write_u64(result.total as u64, &mut out);
    obj.key("nextPage", &mut out);
    phpjson::write_i64(q.page.saturating_add(1), &mut out);
    obj.end(&mut out);
    out
}

/// The list body as it was built before [`render_list`] wrote it directly:
/// the general query path, a `Value` per item, then `phpjson::encode`. The
/// reference the fast path must match byte for byte.
#[cfg(test)]
pub(crate) fn render_list_reference(db: &Db, q: &ListQuery) -> Vec<u8> {
    let result = query::run_scan(db, q);
    let data: Vec<Value> = result.rows.iter().map(|r| db.render_list_item(r)).collect();
    phpjson::encode(
        &json!({"data": data, "total": result.total, "nextPage": q.page.saturating_add(1)}),
    )
}

fn get_one(
    app: &App,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    id: Option<&str>,
) -> Response {
    if let Some(resp) = authenticate(app, headers, params) {
        return resp;
    }
    let db = app.state.db();
    let id = match id {
        // `if (empty($parameter))`: "0" is empty in PHP.
        Some(raw) if php_intval_str(raw) == 0 => return error(404, "Employee not found"),
        Some(raw) => raw.parse::<i64>().ok(),
        None => db.current_profile_id(),
    };
    // Unknown id: PHP fatal "Attempt to assign property on null" → 500, no body.
    let Some(row) = id.and_then(|id| db.rows.get(&id)) else {
        return php_fatal();
    };
    let value = db.render_one(row, &current_time());
    drop(db);
    json_response(StatusCode::OK, &value)
}

fn create(
    app: &App,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    body: &Bytes,
) -> Response {
    if let Some(resp) = authenticate(app, headers, params) {
        return resp;
    }
    let fields = body_object(body);
    let mut db = app.state.db_mut();
    match db.insert(&fields) {
        Ok(id) => match db.rows.get(&id) {
            Some(row) => {
                let value = db.render_one(row, &current_time());
                drop(db);
                json_response(StatusCode::CREATED, &value)
            }
            None => php_fatal(),
        },
        Err(WriteError::Db(message)) => error(400, &message),
        Err(WriteError::NotFound) => error(400, "Error modifying employee"),
    }
}

fn update(
    app: &App,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    raw_id: &str,
    body: &Bytes,
) -> Response {
    if let Some(resp) = authenticate(app, headers, params) {
        return resp;
    }
    let fields = body_object(body);
    let id = raw_id.parse::<i64>().unwrap_or(-1);
    let mut db = app.state.db_mut();
    match db.update(id, &fields) {
        Ok(()) => match db.rows.get(&id) {
            Some(row) => {
                let value = db.render_one(row, &current_time());
                drop(db);
                json_response(StatusCode::OK, &value)
            }
            None => php_fatal(),
        },
        // A string the utf8mb3 table cannot hold fails the statement itself: the raw text.
        Err(WriteError::Db(m)) if m.starts_with("Incorrect string value") => error(400, &m),
        // Otherwise EmployeeRestEndPoint::put answers the generic message.
        Err(_) => error(400, "Error modifying employee"),
    }
}

fn delete(
    app: &App,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    raw_id: &str,
) -> Response {
    if let Some(resp) = authenticate(app, headers, params) {
        return resp;
    }
    let id = raw_id.parse::<i64>().unwrap_or(-1);
    if app.state.db_mut().delete(id) {
        // `['id' => $parameter]`: the raw path segment, a string.
        json_response(StatusCode::OK, &json!({"id": raw_id}))
    } else {
        error(400, "Item not found")
    }
}

fn structure(app: &App, raw_id: &str) -> Response {
    let id = raw_id.parse::<i64>().unwrap_or(-1);
    let value = app.state.db().render_structure(id);
    match value {
        Some(v) => json_response(StatusCode::OK, &v),
        // IceResponse without a code → http_response_code(null) keeps 200.
        None => json_response(
            StatusCode::OK,
            &json!({"error": [[{"code": null, "message": "Company structure not found"}]]}),
        ),
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;
    use crate::icehrm::generate;
    use crate::icehrm::model::c;

    fn list_query(raw: &str) -> ListQuery {
        let params: HashMap<String, String> = raw
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect();
        ListQuery::from_params(&params)
    }

    /// The fast body equals the previous rendering for many kinds of query.
    fn assert_same_bodies(db: &Db, step: &str) {
        let n = db.rows.len();
        let mut queries: Vec<String> = Vec::new();
        let sorts = [
            "sortField=id&sortOrder=ascend",
            "sortField=id&sortOrder=descend",
            "sortField=id&sortOrder=asc",
            "sortField=id",
            "",
        ];
        for limit in [1, 7, 50, 1000] {
            let last = n.div_ceil(limit).max(1);
            // Big pages are slow to render the old way in a debug build.
            let sorts = if limit < 1000 {
                &sorts[..]
            } else {
                &sorts[..2]
            };
            for page in [1, 2, 3, last, last + 1] {
                for sort in sorts {
                    queries.push(format!("limit={limit}&page={page}&{sort}"));
                }
            }
        }
        queries.extend(
            [
                "",
                "limit=0&page=-3",
                "limit=100000",
                "limit=20&sortField=last_name&sortOrder=descend",
                "limit=20&page=3&sortField=status",
                "limit=20&sortField=nope",
                "limit=20&search=an",
                "limit=20&search=zo&sortField=id",
                r#"limit=20&filters={"department":[2,3]}&sortField=id"#,
                r#"limit=20&filters={"status":"Terminated"}"#,
                r#"limit=20&filters={"nope":1}"#,
                r#"limit=20&filters={"supervisor":"__myid__"}&sortField=id&sortOrder=descend"#,
            ]
            .map(str::to_owned),
        );
        for raw in &queries {
            let q = list_query(raw);
            let fast = render_list(db, &q);
            let reference = render_list_reference(db, &q);
            assert!(
                fast == reference,
                "{step}: `{raw}` differs from the reference rendering\nfast:      {}\nreference: {}",
                String::from_utf8_lossy(&fast[..fast.len().min(2000)]),
                String::from_utf8_lossy(&reference[..reference.len().min(2000)]),
            );
        }
    }

    fn fields(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    /// A supervisor with subordinates (not the admin).
    fn some_supervisor(db: &Db) -> i64 {
        db.rows
            .values()
            .filter_map(|r| r.get(c::SUPERVISOR).as_int())
            .find(|s| *s > 1)
            .expect("a supervisor")
    }

    fn some_subordinate_free_employee(db: &Db) -> i64 {
        let supervisors: Vec<i64> = db
            .rows
            .values()
            .filter_map(|r| r.get(c::SUPERVISOR).as_int())
            .collect();
        *db.rows
            .keys()
            .rev()
            .find(|id| !supervisors.contains(id))
            .expect("an employee nobody reports to")
    }

    #[test]
    fn kept_list_items_are_dropped_by_every_write() {
        let state = IceHrmState::generate(&crate::icehrm::IceHrmConfig {
            employees: 300,
            ..Default::default()
        });
        let pages: Vec<ListQuery> = [
            "limit=100&page=1",
            "limit=100&page=2",
            "limit=100&page=3",
            "limit=7&page=5&sortField=id&sortOrder=descend",
        ]
        .into_iter()
        .map(list_query)
        .collect();
        let same = |step: &str| {
            for q in &pages {
                // Twice: the first fills the cache, the second is served from it.
                for _ in 0..2 {
                    let served = render_list_cached(&state, q);
                    assert!(
                        served == render_list(&state.db(), q),
                        "{step}: a page served from kept items differs from a fresh rendering"
                    );
                }
            }
        };
        same("generated");
        assert!(!state.list_items().is_empty(), "items are kept once served");
        // A supervisor renamed: their reports' items show the new name.
        let sup = some_supervisor(&state.db());
        state
            .update(sup, json!({"first_name": "Ève", "last_name": "Renamed"}))
            .expect("rename");
        same("supervisor renamed");
        state.terminate(sup, "2026-11-02");
        same("supervisor terminated");
        state.hire(json!({"first_name": "New", "last_name": "Hire", "supervisor": sup}));
        same("hired");
        assert!(state.delete(sup));
        same("supervisor deleted");
    }

    #[test]
    fn fast_list_bodies_are_byte_identical_to_the_reference() {
        let mut db = generate::generate(2500, 7);
        assert_same_bodies(&db, "generated");

        // An employee nobody reports to: update (names that need escaping), terminate, delete.
        let plain = some_subordinate_free_employee(&db);
        db.update(
            plain,
            &fields(json!({"first_name": "Zoë \"Q\" a/b\\c\t", "last_name": "Nguyễn ☃", "timezone": ""})),
        )
        .expect("update");
        assert_same_bodies(&db, "employee updated");
        db.update(
            plain,
            &fields(json!({"status": "Terminated", "termination_date": "2026-11-01"})),
        )
        .expect("terminate");
        assert_same_bodies(&db, "employee terminated");
        assert!(db.delete(plain));
        assert_same_bodies(&db, "employee deleted");

        // A supervisor: renamed (subordinates show the new display), terminated, deleted
        // (subordinates' supervisor becomes null).
        let sup = some_supervisor(&db);
        db.update(
            sup,
            &fields(json!({"first_name": "Ève", "last_name": "O'Brien/Smith"})),
        )
        .expect("rename supervisor");
        assert_same_bodies(&db, "supervisor renamed");
        db.update(
            sup,
            &fields(json!({"status": "Terminated", "termination_date": "2026-11-02"})),
        )
        .expect("terminate supervisor");
        assert_same_bodies(&db, "supervisor terminated");
        assert!(db.delete(sup));
        assert_same_bodies(&db, "supervisor deleted");

        // A hire reporting to itself and to another supervisor, then the admin
        // (the caller, hoisted to the top of its page) changes and goes away.
        let next = db.next_id;
        db.insert(&fields(json!({"employee_id": "NEW1", "first_name": "Self", "last_name": "", "supervisor": next, "country": "de"})))
            .expect("insert");
        db.insert(&fields(json!({"employee_id": "NEW2", "first_name": "", "last_name": "Only", "supervisor": next, "department": 3})))
            .expect("insert");
        assert_same_bodies(&db, "hired");
        db.update(
            1,
            &fields(json!({"work_email": "new@example.test", "last_name": "Boss"})),
        )
        .expect("update admin");
        assert_same_bodies(&db, "admin updated");
        assert!(db.delete(1));
        assert_same_bodies(&db, "admin deleted");
    }

    #[test]
    fn empty_instance_matches_the_reference() {
        let db = generate::generate(0, 1);
        assert_same_bodies(&db, "empty");
    }
}
