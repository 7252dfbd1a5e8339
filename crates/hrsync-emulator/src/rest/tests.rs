#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;

const HOST: &str = "hr.test:8080";
const EMPLOYEES: &str = "/api/v2/companies/acme/employees";
const COMPENSATION: &str = "/api/v2/companies/acme/compensation";

fn cfg(style: Style) -> RestConfig {
    RestConfig {
        style,
        ..RestConfig::default()
    }
}

fn setup(cfg: RestConfig) -> (RestState, Router) {
    let state = RestState::generate(cfg);
    let app = router(state.clone());
    (state, app)
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "invalid JSON ({e}) with HTTP {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

async fn send(app: &Router, method: &str, uri: &str, headers: &[(&str, &str)]) -> Resp {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", HOST);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

const AUTH: (&str, &str) = ("authorization", "Bearer test-token");

async fn get(app: &Router, uri: &str) -> Resp {
    send(app, "GET", uri, &[AUTH]).await
}

/// An absolute URL of this server → path and query.
fn relative(url: &str) -> String {
    let prefix = format!("http://{HOST}/api/v2/");
    assert!(url.starts_with(&prefix), "not absolute: {url}");
    url[prefix.len() - "/api/v2/".len()..].to_owned()
}

/// The `rel="next"` target of a Link header.
fn link_next(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let mut rels = params.split(';').map(str::trim);
        rels.any(|p| p == "rel=\"next\"").then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

fn join(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_owned()
    } else if path.contains('?') {
        format!("{path}&{query}")
    } else {
        format!("{path}?{query}")
    }
}

/// Walk every page as a client would; returns the records and the number
/// of pages fetched. `size`: the page size asked for (None = server default);
/// `extra`: more query parameters, repeated where the style requires it.
async fn walk(
    app: &Router,
    style: Style,
    path: &str,
    size: Option<usize>,
    extra: &str,
) -> (Vec<Value>, usize) {
    let mut out = Vec::new();
    let mut pages = 0;
    let size_q = |name: &str| size.map(|s| format!("{name}={s}")).unwrap_or_default();
    let first = match style {
        Style::Page | Style::Link => join(path, &size_q("per_page")),
        Style::Offset | Style::Cursor | Style::NextUrl => join(path, &size_q("limit")),
    };
    let mut uri = join(&first, extra);
    let mut page = 1u64;
    let mut offset = 0usize;
    loop {
        pages += 1;
        assert!(pages < 1000, "runaway walk");
        let r = get(app, &uri).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {:?}", r.body);
        let body = r.json();
        match style {
            Style::Page => {
                let items = body["data"]["items"].as_array().unwrap().clone();
                let meta = &body["meta"];
                let total_pages = meta["total_pages"].as_u64().unwrap();
                assert_eq!(meta["page"], json!(page));
                out.extend(items);
                if page >= total_pages {
                    break;
                }
                page += 1;
                uri = join(&join(path, &format!("page={page}")), &size_q("per_page"));
                uri = join(&uri, extra);
            }
            Style::Offset => {
                let items = body["results"].as_array().unwrap().clone();
                let count = body["count"].as_u64().unwrap() as usize;
                offset += items.len();
                let empty = items.is_empty();
                out.extend(items);
                if empty || offset >= count {
                    break;
                }
                uri = join(&join(path, &format!("offset={offset}")), &size_q("limit"));
                uri = join(&uri, extra);
            }
            Style::Cursor => {
                out.extend(body["employees"].as_array().unwrap().clone());
                let Some(next) = body["next_cursor"].as_str() else {
                    assert!(body["next_cursor"].is_null());
                    break;
                };
                uri = join(&join(path, &format!("cursor={next}")), &size_q("limit"));
                uri = join(&uri, extra);
            }
            Style::NextUrl => {
                out.extend(body["items"].as_array().unwrap().clone());
                let Some(next) = body["links"]["next"].as_str() else {
                    assert!(body["links"]["next"].is_null());
                    break;
                };
                uri = relative(next);
            }
            Style::Link => {
                assert!(r.header("x-total-count").is_some());
                out.extend(body.as_array().unwrap().clone());
                let Some(next) = r.header("link").and_then(link_next) else {
                    break;
                };
                uri = relative(&next);
            }
        }
    }
    (out, pages)
}

fn ids(items: &[Value], key: &str) -> Vec<String> {
    items
        .iter()
        .map(|v| v[key].as_str().unwrap().to_owned())
        .collect()
}

fn employee_ids(state: &RestState) -> Vec<String> {
    ids(&state.employees(), "id")
}

// ------------------------------------------------------------------ paging

#[tokio::test]
async fn every_style_walks_all_pages_once_in_id_order() {
    for style in Style::ALL {
        for (size, expected_pages) in [(None, 3), (Some(7), 9), (Some(60), 1)] {
            let (state, app) = setup(cfg(style));
            let expected = employee_ids(&state);
            assert_eq!(expected.len(), 60);
            let (items, pages) = walk(&app, style, EMPLOYEES, size, "").await;
            let got = ids(&items, "id");
            assert_eq!(got, expected, "{style} size {size:?}");
            assert_eq!(pages, expected_pages, "{style} size {size:?}");
            let unique: HashSet<&String> = got.iter().collect();
            assert_eq!(unique.len(), 60);
            let mut sorted = got.clone();
            sorted.sort();
            assert_eq!(sorted, got, "{style}: not in id order");
        }
    }
}

#[tokio::test]
async fn page_style_meta_clamp_and_past_the_end() {
    let (_state, app) = setup(RestConfig {
        employees: 150,
        ..cfg(Style::Page)
    });
    let r = get(&app, &format!("{EMPLOYEES}?page=2&per_page=10")).await;
    let b = r.json();
    assert_eq!(
        b["meta"],
        json!({"page": 2, "per_page": 10, "total": 150, "total_pages": 15})
    );
    assert_eq!(b["data"]["items"][0]["id"], "E0011");
    let r = get(&app, &format!("{EMPLOYEES}?per_page=500")).await;
    let b = r.json();
    assert_eq!(b["data"]["items"].as_array().unwrap().len(), 100);
    assert_eq!(b["meta"]["per_page"], 100);
    let r = get(&app, &format!("{EMPLOYEES}?page=99")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["data"]["items"], json!([]));
    for bad in ["page=0", "page=x", "per_page=0", "per_page=-1"] {
        let r = get(&app, &format!("{EMPLOYEES}?{bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(r.json()["error"], "bad_request");
    }
}

#[tokio::test]
async fn offset_style_counts_and_defaults() {
    let (_state, app) = setup(cfg(Style::Offset));
    let b = get(&app, EMPLOYEES).await.json();
    assert_eq!(b["count"], 60);
    assert_eq!(b["results"].as_array().unwrap().len(), 25);
    let b = get(&app, &format!("{EMPLOYEES}?offset=58&limit=5"))
        .await
        .json();
    assert_eq!(
        ids(b["results"].as_array().unwrap(), "id"),
        ["E0059", "E0060"]
    );
    let b = get(&app, &format!("{EMPLOYEES}?offset=600")).await.json();
    assert_eq!(b["results"], json!([]));
    assert_eq!(b["count"], 60);
}

#[tokio::test]
async fn cursors_are_opaque_and_checked() {
    let (_state, app) = setup(cfg(Style::Cursor));
    let b = get(&app, &format!("{EMPLOYEES}?limit=10")).await.json();
    let cursor = b["next_cursor"].as_str().unwrap().to_owned();
    // Opaque: not the offset in plain text. (Checking that "10" does not occur anywhere in 32
    // random hex digits failed about one run in nine.)
    assert!(
        cursor.len() == 32 && cursor.bytes().all(|b| b.is_ascii_hexdigit()),
        "cursor looks like a plain offset: {cursor}"
    );
    let b2 = get(&app, &format!("{EMPLOYEES}?limit=10&cursor={cursor}"))
        .await
        .json();
    assert_eq!(b2["employees"][0]["id"], "E0011");
    // Empty cursor = start.
    let b3 = get(&app, &format!("{EMPLOYEES}?cursor=&limit=10"))
        .await
        .json();
    assert_eq!(b3["employees"][0]["id"], "E0001");
    // Garbled cursors.
    let mut flipped = cursor.clone().into_bytes();
    flipped[3] = if flipped[3] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();
    for bad in ["zzz", "10", flipped.as_str(), &cursor[..31]] {
        let r = get(&app, &format!("{EMPLOYEES}?cursor={bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(r.json()["error"], "bad_request");
    }
    // Another server instance does not accept it.
    let (_other, app2) = setup(cfg(Style::Cursor));
    let r = get(&app2, &format!("{EMPLOYEES}?cursor={cursor}")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn next_url_is_absolute_and_keeps_parameters() {
    let (_state, app) = setup(cfg(Style::NextUrl));
    let since = "2025-06-01T00:00:00+00:00";
    let r = get(
        &app,
        &format!("{EMPLOYEES}?limit=5&updated_since=2025-06-01T00:00:00%2B00:00"),
    )
    .await;
    let b = r.json();
    let next = b["links"]["next"].as_str().unwrap();
    assert!(
        next.starts_with(&format!("http://{HOST}{EMPLOYEES}?")),
        "{next}"
    );
    assert!(next.contains("limit=5"), "{next}");
    assert!(next.contains("after="), "{next}");
    assert!(
        next.contains("updated_since=2025-06-01T00%3A00%3A00%2B00%3A00"),
        "{next}"
    );
    let (items, _) = walk(
        &app,
        Style::NextUrl,
        EMPLOYEES,
        Some(5),
        "updated_since=2025-06-01T00:00:00%2B00:00",
    )
    .await;
    let cutoff = chrono::DateTime::parse_from_rfc3339(since).unwrap();
    assert!(!items.is_empty());
    for e in &items {
        let at = chrono::DateTime::parse_from_rfc3339(e["updated_at"].as_str().unwrap()).unwrap();
        assert!(at >= cutoff);
    }
}

#[tokio::test]
async fn link_style_headers() {
    let (_state, app) = setup(cfg(Style::Link));
    let r = get(&app, &format!("{EMPLOYEES}?per_page=20")).await;
    assert_eq!(r.header("x-total-count"), Some("60"));
    let link = r.header("link").unwrap();
    assert_eq!(
        link,
        format!(
            "<http://{HOST}{EMPLOYEES}?page=2&per_page=20>; rel=\"next\", <http://{HOST}{EMPLOYEES}?page=3&per_page=20>; rel=\"last\""
        )
    );
    assert_eq!(r.json().as_array().unwrap().len(), 20);
    let r = get(&app, &format!("{EMPLOYEES}?page=3&per_page=20")).await;
    assert!(r.header("link").is_none());
    assert_eq!(r.header("x-total-count"), Some("60"));
    assert_eq!(r.json().as_array().unwrap().len(), 20);
    let r = get(&app, &format!("{EMPLOYEES}?page=4&per_page=20")).await;
    assert!(r.header("link").is_none());
    assert_eq!(r.json(), json!([]));
}

// ------------------------------------------------------------------ auth, routes

#[tokio::test]
async fn bearer_token_and_api_key() {
    let (_state, app) = setup(cfg(Style::Page));
    let r = send(&app, "GET", EMPLOYEES, &[]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json(),
        json!({"error":"invalid_token","message":"missing or invalid bearer token"})
    );
    for bad in [
        "Bearer wrong",
        "Bearer test-tokenX",
        "Bearer test-toke",
        "Basic dGVzdA==",
        "test-token",
    ] {
        let r = send(&app, "GET", EMPLOYEES, &[("authorization", bad)]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bad}");
    }
    // Also on the other routes, and before routing.
    for path in [
        "/api/v2/employees/E0001/details",
        COMPENSATION,
        "/api/v2/nope",
        "/",
    ] {
        let r = send(&app, "GET", path, &[]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
    }

    let (_state, app) = setup(RestConfig {
        api_key: Some("k-123".into()),
        ..cfg(Style::Page)
    });
    let r = get(&app, EMPLOYEES).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.json(),
        json!({"error":"forbidden","message":"missing or invalid X-API-Key"})
    );
    let r = send(&app, "GET", EMPLOYEES, &[AUTH, ("x-api-key", "k-12")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send(&app, "GET", EMPLOYEES, &[AUTH, ("x-api-key", "k-123")]).await;
    assert_eq!(r.status, StatusCode::OK);
    // The token is checked first.
    let r = send(&app, "GET", EMPLOYEES, &[("x-api-key", "k-123")]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[test]
fn constant_time_compare() {
    use super::http::constant_time_eq as eq;
    assert!(eq(b"abc", b"abc"));
    assert!(!eq(b"abc", b"abd"));
    assert!(!eq(b"abc", b"ab"));
    assert!(!eq(b"", b"a"));
    assert!(eq(b"", b""));
}

#[tokio::test]
async fn unknown_company_route_and_method() {
    let (_state, app) = setup(cfg(Style::Page));
    for path in [
        "/api/v2/companies/ACME/employees",
        "/api/v2/companies/other/employees",
        "/api/v2/companies/Acme/compensation",
        "/api/v2/companies/acme/people",
        "/api/v1/companies/acme/employees",
        "/companies/acme/employees",
    ] {
        let r = get(&app, path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.json(), json!({"error":"not_found"}), "{path}");
    }
    let r = send(&app, "POST", EMPLOYEES, &[AUTH]).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.header("allow"), Some("GET"));
    // A trailing slash is tolerated.
    let r = get(&app, &format!("{EMPLOYEES}/")).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn company_name_is_configurable() {
    let (_state, app) = setup(RestConfig {
        company: "globex".into(),
        ..cfg(Style::Offset)
    });
    assert_eq!(get(&app, EMPLOYEES).await.status, StatusCode::NOT_FOUND);
    let r = get(&app, "/api/v2/companies/globex/employees").await;
    assert_eq!(r.status, StatusCode::OK);
    let email = r.json()["results"][0]["personal"]["email"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(email.ends_with("@globex.example"), "{email}");
}

// ------------------------------------------------------------------ filter

#[tokio::test]
async fn updated_since_filter() {
    for style in [Style::Page, Style::Cursor, Style::Link] {
        let (state, app) = setup(cfg(style));
        let at = chrono::DateTime::parse_from_rfc3339("2026-10-01T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        for id in ["E0003", "E0040", "E0017"] {
            assert!(state.set_updated_at(id, at));
        }
        assert!(!state.set_updated_at("E9999", at));
        let since = "updated_since=2026-09-30T00:00:00Z";
        let (items, _) = walk(&app, style, EMPLOYEES, Some(2), since).await;
        assert_eq!(ids(&items, "id"), ["E0003", "E0017", "E0040"], "{style}");
        // Exactly the instant counts (>=); a later one excludes.
        let (items, _) = walk(
            &app,
            style,
            EMPLOYEES,
            None,
            "updated_since=2026-10-01T14:00:00%2B02:00",
        )
        .await;
        assert_eq!(items.len(), 3, "{style}");
        let (items, _) = walk(
            &app,
            style,
            EMPLOYEES,
            None,
            "updated_since=2026-10-01T12:00:00.001Z",
        )
        .await;
        assert!(items.is_empty(), "{style}");
        // Changes after now show up.
        let new = state.hire("Zoë", "O'Brien", "ENG");
        let (items, _) = walk(&app, style, EMPLOYEES, None, since).await;
        assert_eq!(ids(&items, "id"), ["E0003", "E0017", "E0040", new.as_str()]);
        for bad in ["yesterday", "2026-10-01", "2026-10-01T00:00:00+00:00"] {
            let r = get(&app, &format!("{EMPLOYEES}?updated_since={bad}")).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
            let b = r.json();
            assert_eq!(b["error"], "bad_request");
            assert!(b["message"].as_str().unwrap().contains("updated_since"));
        }
    }
}

// ------------------------------------------------------------------ faults

#[tokio::test]
async fn malformed_page_only_on_that_page_every_time() {
    let (state, app) = setup(cfg(Style::Page));
    state.set_fault(Fault::MalformedPage { page: 2 });
    for _ in 0..2 {
        let r = get(&app, &format!("{EMPLOYEES}?page=2")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(!r.body.is_empty());
        assert!(serde_json::from_slice::<Value>(&r.body).is_err());
    }
    for p in [1, 3] {
        let r = get(&app, &format!("{EMPLOYEES}?page={p}")).await;
        assert_eq!(
            r.json()["data"]["items"].as_array().unwrap().len(),
            if p == 1 { 25 } else { 10 }
        );
    }
    // Compensation is not affected.
    assert_eq!(
        get(&app, &format!("{COMPENSATION}?page=2")).await.json()["meta"]["page"],
        2
    );
    state.clear_faults();
    get(&app, &format!("{EMPLOYEES}?page=2")).await.json();

    // Offset style: derived from offset/limit.
    let (state, app) = setup(cfg(Style::Offset));
    state.set_fault(Fault::MalformedPage { page: 3 });
    let r = get(&app, &format!("{EMPLOYEES}?offset=20&limit=10")).await;
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
    get(&app, &format!("{EMPLOYEES}?offset=10&limit=10"))
        .await
        .json();
    get(&app, &format!("{EMPLOYEES}?offset=30&limit=10"))
        .await
        .json();

    // Cursor style: the third page of a walk.
    let (state, app) = setup(cfg(Style::Cursor));
    state.set_fault(Fault::MalformedPage { page: 3 });
    let mut uri = format!("{EMPLOYEES}?limit=10");
    for n in 1..=3 {
        let r = get(&app, &uri).await;
        if n == 3 {
            assert_eq!(r.status, StatusCode::OK);
            assert!(serde_json::from_slice::<Value>(&r.body).is_err());
        } else {
            let c = r.json()["next_cursor"].as_str().unwrap().to_owned();
            uri = format!("{EMPLOYEES}?limit=10&cursor={c}");
        }
    }

    // Link style: the body is cut, the headers stay.
    let (state, app) = setup(cfg(Style::Link));
    state.set_fault(Fault::MalformedPage { page: 1 });
    let r = get(&app, EMPLOYEES).await;
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
    assert_eq!(r.header("x-total-count"), Some("60"));
}

#[tokio::test]
async fn status_on_page_fault() {
    let (state, app) = setup(cfg(Style::NextUrl));
    state.set_fault(Fault::StatusOnPage {
        page: 2,
        status: 503,
    });
    let first = get(&app, &format!("{EMPLOYEES}?limit=20")).await.json();
    let next = relative(first["links"]["next"].as_str().unwrap());
    for _ in 0..2 {
        let r = get(&app, &next).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.json()["error"], "injected_fault");
        assert_eq!(r.header("retry-after"), Some("1"));
    }
    state.clear_faults();
    let r = get(&app, &next).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["items"][0]["id"], "E0021");

    let (state, app) = setup(cfg(Style::Page));
    state.set_fault(Fault::StatusOnPage {
        page: 1,
        status: 500,
    });
    state.set_fault(Fault::MalformedPage { page: 1 });
    let r = get(&app, EMPLOYEES).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    r.json();
    assert_eq!(
        get(&app, &format!("{EMPLOYEES}?page=2")).await.status,
        StatusCode::OK
    );
}

// ------------------------------------------------------------------ details, compensation

#[tokio::test]
async fn details_and_hidden_details() {
    let (state, app) = setup(cfg(Style::Page));
    let r = get(&app, "/api/v2/employees/E0001/details").await;
    assert_eq!(r.status, StatusCode::OK);
    let b = r.json();
    assert_eq!(b["employee_id"], "E0001");
    assert_eq!(b["phone"], "+1 555 0101");
    for key in ["office", "title", "cost_center"] {
        assert!(b[key].as_str().is_some_and(|s| !s.is_empty()), "{key}");
    }
    let keys: Vec<&String> = b.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["employee_id", "phone", "office", "title", "cost_center"]
    );

    state.hide_details("E0002");
    for id in ["E0002", "E9999", "nobody"] {
        let r = get(&app, &format!("/api/v2/employees/{id}/details")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{id}");
        assert_eq!(r.json(), json!({"error":"not_found"}));
    }
    assert_eq!(
        get(&app, "/api/v2/employees/E0003/details").await.status,
        StatusCode::OK
    );

    state.set_fault(Fault::DetailsStatus {
        id: "E0003".into(),
        status: 502,
    });
    let r = get(&app, "/api/v2/employees/E0003/details").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    r.json();
    assert_eq!(
        get(&app, "/api/v2/employees/E0004/details").await.status,
        StatusCode::OK
    );
    state.clear_faults();
    assert_eq!(
        get(&app, "/api/v2/employees/E0003/details").await.status,
        StatusCode::OK
    );

    // A removed employee has no details either.
    assert!(state.remove("E0004"));
    assert_eq!(
        get(&app, "/api/v2/employees/E0004/details").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn compensation_with_orphans_and_hidden() {
    for style in Style::ALL {
        let (state, app) = setup(cfg(style));
        state.hide_compensation("E0002");
        state.add_orphan_compensation("E0999");
        state.add_orphan_compensation("E0999");
        state.add_orphan_compensation("E00305");
        let (items, _) = walk(&app, style, COMPENSATION, Some(8), "").await;
        let got = ids(&items, "employee_id");
        assert_eq!(got.len(), 61, "{style}");
        assert!(!got.contains(&"E0002".to_owned()));
        assert_eq!(&got[got.len() - 2..], ["E0999", "E00305"]);
        assert_eq!(got[0], "E0001");
        assert_eq!(got[1], "E0003");
        for rec in &items {
            assert!(rec["grade"].as_str().unwrap().starts_with('G'));
            assert_eq!(rec["currency"].as_str().unwrap().len(), 3);
            assert_eq!(rec.as_object().unwrap().len(), 3);
        }
        assert!(state.employee("E0999").is_none());
    }
}

// ------------------------------------------------------------------ rate limit, log

#[tokio::test]
async fn rate_limit_then_ok_after_window() {
    let (state, app) = setup(RestConfig {
        rate_limit: Some(RateLimit {
            max: 3,
            window: Duration::from_millis(400),
            retry_after_secs: 2,
        }),
        ..cfg(Style::Page)
    });
    for _ in 0..3 {
        assert_eq!(get(&app, EMPLOYEES).await.status, StatusCode::OK);
    }
    for path in [EMPLOYEES, "/api/v2/employees/E0001/details"] {
        let r = get(&app, path).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.header("retry-after"), Some("2"));
        assert_eq!(r.json(), json!({"error":"rate_limited"}));
    }
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(get(&app, EMPLOYEES).await.status, StatusCode::OK);

    state.set_rate_limit(None);
    for _ in 0..10 {
        assert_eq!(get(&app, EMPLOYEES).await.status, StatusCode::OK);
    }
    state.set_rate_limit(Some(RateLimit::new(1, Duration::from_secs(60))));
    assert_eq!(state.config().rate_limit.map(|r| r.max), Some(1));
    assert_eq!(get(&app, EMPLOYEES).await.status, StatusCode::OK);
    let r = get(&app, EMPLOYEES).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.header("retry-after"), Some("1"));
}

#[tokio::test]
async fn request_log() {
    let (state, app) = setup(cfg(Style::Page));
    let t0 = std::time::Instant::now();
    send(&app, "GET", &format!("{EMPLOYEES}?page=2&per_page=5"), &[]).await;
    get(&app, &format!("{EMPLOYEES}?page=2&per_page=5")).await;
    get(&app, "/api/v2/employees/E0001/details").await;
    get(&app, "/api/v2/unknown").await;
    let log = state.requests();
    let summary: Vec<(String, String, String, u16)> = log
        .iter()
        .map(|l| (l.method.clone(), l.path.clone(), l.query.clone(), l.status))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "GET".into(),
                EMPLOYEES.into(),
                "page=2&per_page=5".into(),
                401
            ),
            (
                "GET".into(),
                EMPLOYEES.into(),
                "page=2&per_page=5".into(),
                200
            ),
            (
                "GET".into(),
                "/api/v2/employees/E0001/details".into(),
                String::new(),
                200
            ),
            ("GET".into(), "/api/v2/unknown".into(), String::new(), 404),
        ]
    );
    assert!(log.iter().all(|l| l.at >= t0));
    assert!(log.windows(2).all(|w| w[0].at <= w[1].at));
    state.clear_requests();
    assert!(state.requests().is_empty());
}

// ------------------------------------------------------------------ data and mutations

#[test]
fn generation_is_deterministic_and_realistic() {
    let big = RestConfig {
        employees: 400,
        seed: 7,
        ..RestConfig::default()
    };
    let a = RestState::generate(big.clone()).employees();
    let b = RestState::generate(big.clone()).employees();
    assert_eq!(a, b);
    let c = RestState::generate(RestConfig { seed: 8, ..big }).employees();
    assert_ne!(a, c);
    assert_eq!(a.len(), 400);

    let count = |status: &str| a.iter().filter(|e| e["status"] == status).count();
    assert!(
        (8..=40).contains(&count("terminated")),
        "{}",
        count("terminated")
    );
    assert!(
        (3..=30).contains(&count("on_leave")),
        "{}",
        count("on_leave")
    );
    let names: Vec<String> = a
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["personal"]["first_name"], e["personal"]["last_name"]
            )
        })
        .collect();
    assert!(names.iter().any(|n| n.contains('\'')), "no apostrophe");
    assert!(
        names
            .iter()
            .any(|n| n.chars().any(|c| "éüñøÉÜÑØ".contains(c))),
        "no diacritics"
    );
    let depts: HashSet<&str> = a
        .iter()
        .map(|e| e["job"]["department"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(depts.len(), 8);
    let emails: HashSet<&str> = a
        .iter()
        .map(|e| e["personal"]["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails.len(), 400, "e-mails are unique");
    assert!(
        emails
            .iter()
            .all(|e| e.is_ascii() && e.ends_with("@acme.example") && !e.contains('\''))
    );

    for (i, e) in a.iter().enumerate() {
        let id = e["id"].as_str().unwrap();
        assert_eq!(id, format!("E{:04}", i + 1));
        assert_eq!(e["employee_number"], i + 1);
        match e["manager_id"].as_str() {
            None => assert_eq!(i, 0),
            Some(m) => assert!(m < id, "{m} is not earlier than {id}"),
        }
        let terminated = e["status"] == "terminated";
        assert_eq!(e["termination_date"].is_string(), terminated, "{id}");
        let hire = e["hire_date"].as_str().unwrap();
        assert_eq!(hire.len(), 10);
        if let Some(t) = e["termination_date"].as_str() {
            assert!(t >= hire);
        }
        chrono::DateTime::parse_from_rfc3339(e["updated_at"].as_str().unwrap()).unwrap();
        assert!(
            e["personal"]["preferred_name"].is_null()
                || e["personal"]["preferred_name"].is_string()
        );
    }
    assert!(
        a.iter()
            .any(|e| e["personal"]["preferred_name"].is_string())
    );
    let keys: Vec<&String> = a[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "id",
            "employee_number",
            "personal",
            "job",
            "manager_id",
            "status",
            "hire_date",
            "termination_date",
            "updated_at"
        ]
    );
}

#[tokio::test]
async fn mutations_show_in_the_api() {
    let (state, app) = setup(cfg(Style::Offset));
    let before = chrono::Utc::now();
    let id = state.hire("Séan", "O'Brien", "SAL");
    assert_eq!(id, "E0061");
    let e = state.employee(&id).unwrap();
    assert_eq!(e["status"], "active");
    assert_eq!(e["job"]["department"], json!({"code":"SAL","name":"Sales"}));
    assert_eq!(e["personal"]["email"], "sean.obrien@acme.example");
    assert_eq!(e["manager_id"], "E0003");
    let updated = chrono::DateTime::parse_from_rfc3339(e["updated_at"].as_str().unwrap()).unwrap();
    assert!(updated >= before);
    assert_eq!(state.hire("Sean", "OBrien", "SAL"), "E0062");
    assert_eq!(
        state.employee("E0062").unwrap()["personal"]["email"],
        "sean.obrien2@acme.example"
    );

    assert!(state.terminate("E0010"));
    assert!(!state.terminate("E9999"));
    let t = state.employee("E0010").unwrap();
    assert_eq!(t["status"], "terminated");
    assert_eq!(
        t["termination_date"],
        before.date_naive().format("%Y-%m-%d").to_string()
    );

    assert!(state.set_field("E0011", "/personal/last_name", json!("Müller-Lüdenscheidt")));
    assert!(state.set_field("E0011", "/job/department/name", json!("R&D")));
    assert!(state.set_field("E0011", "/custom", json!({"x": 1})));
    assert!(!state.set_field("E0011", "/no/such/path", json!(1)));
    assert!(!state.set_field("E0011", "personal", json!(1)));
    assert!(!state.set_field("E9999", "/status", json!("active")));

    assert!(state.remove("E0012"));
    assert!(!state.remove("E0012"));

    let (items, _) = walk(&app, Style::Offset, EMPLOYEES, Some(100), "").await;
    assert_eq!(items.len(), 61);
    let find = |id: &str| items.iter().find(|e| e["id"] == id).cloned();
    assert!(find("E0012").is_none());
    assert_eq!(find("E0010").unwrap()["status"], "terminated");
    let e11 = find("E0011").unwrap();
    assert_eq!(e11["personal"]["last_name"], "Müller-Lüdenscheidt");
    assert_eq!(e11["custom"], json!({"x": 1}));
    let bumped = chrono::DateTime::parse_from_rfc3339(e11["updated_at"].as_str().unwrap()).unwrap();
    assert!(bumped >= before);
    assert_eq!(ids(&items, "id").last().map(String::as_str), Some("E0062"));
    // Hires get compensation and details.
    let (comp, _) = walk(&app, Style::Offset, COMPENSATION, None, "").await;
    assert!(comp.iter().any(|c| c["employee_id"] == "E0061"));
    assert!(!comp.iter().any(|c| c["employee_id"] == "E0012"));
    assert_eq!(
        get(&app, "/api/v2/employees/E0061/details").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn ids_beyond_9999_sort_numerically() {
    let (state, app) = setup(RestConfig {
        employees: 10_001,
        ..cfg(Style::Cursor)
    });
    let last = state.employees().last().unwrap()["id"].clone();
    assert_eq!(last, "E10001");
    let c = {
        let salt = state.salt();
        super::http::encode_cursor(9_998, salt)
    };
    let b = get(&app, &format!("{EMPLOYEES}?cursor={c}&limit=100"))
        .await
        .json();
    assert_eq!(
        ids(b["employees"].as_array().unwrap(), "id"),
        ["E9999", "E10000", "E10001"]
    );
    assert!(b["next_cursor"].is_null());
}

#[test]
fn style_names_round_trip() {
    for style in Style::ALL {
        assert_eq!(style.name().parse::<Style>(), Ok(style));
        assert_eq!(style.to_string(), style.name());
    }
    assert_eq!("next-url".parse::<Style>(), Ok(Style::NextUrl));
    assert!("pages".parse::<Style>().is_err());
}

#[tokio::test]
async fn serves_over_tcp_with_host_based_urls() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let state = RestState::generate(RestConfig {
        page_size: 50,
        ..cfg(Style::NextUrl)
    });
    let (addr, handle) = serve(state.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {EMPLOYEES} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer test-token\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains(&format!(
            "\"next\":\"http://{addr}{EMPLOYEES}?limit=50&after="
        )),
        "{text}"
    );
    assert_eq!(state.requests().len(), 1);
    handle.abort();
}

#[tokio::test]
async fn one_employee_by_id_and_an_ids_filter() {
    let (state, app) = setup(cfg(Style::Page));
    let all = state.employees();
    let id = all[3]["id"].as_str().unwrap().to_owned();
    let one = get(&app, &format!("{EMPLOYEES}/{id}")).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.json(), all[3], "the same record as in the list");
    let missing = get(&app, &format!("{EMPLOYEES}/E99999")).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json(), json!({"error": "not_found"}));
    let other = get(&app, &format!("/api/v2/companies/other/employees/{id}")).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);

    let id2 = all[7]["id"].as_str().unwrap().to_owned();
    let page = get(&app, &format!("{EMPLOYEES}?ids={id},{id2},E99999"))
        .await
        .json();
    let got: Vec<&str> = page["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, vec![id.as_str(), id2.as_str()]);
    assert_eq!(page["meta"]["total"], 2);
    let unfiltered = get(&app, &format!("{EMPLOYEES}?ids=")).await.json();
    assert_eq!(unfiltered["meta"]["total"], all.len());
}
