//! The REST engine against the Acme HR test server (`hrsync_emulator::rest`), one server per
//! test on a free loopback port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::join::{JoinPart, JoinSpec};
use super::*;
use crate::Source;
use hrsync_emulator::rest::{self as acme, Fault, RateLimit, RestConfig, RestState, Style};
use std::sync::atomic::Ordering;

const TOKEN: &str = "acme-test-token-7f3e";
const KEY: &str = "acme-api-key-91bc";

fn jp(s: &str) -> JsonPath {
    JsonPath::parse(s).unwrap()
}

async fn server(style: Style, employees: usize) -> (RestState, String) {
    let state = RestState::generate(RestConfig {
        token: TOKEN.into(),
        api_key: Some(KEY.into()),
        style,
        page_size: 25,
        employees,
        seed: 11,
        ..RestConfig::default()
    });
    let (addr, _task) = acme::serve(state.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    (state, format!("http://{addr}/api/v2"))
}

/// The employees endpoint as an admin would configure it for each style.
fn employees(style: Style) -> Endpoint {
    let (records, paging) = match style {
        Style::Page => (
            Some("$.data.items[*]"),
            Paging::Page {
                page_param: Some("page".into()),
                size_param: Some("per_page".into()),
                size: 10,
                first: 1,
                total_pages: Some(jp("$.meta.total_pages")),
                total: Some(jp("$.meta.total")),
            },
        ),
        Style::Offset => (
            Some("$.results"),
            Paging::Offset {
                offset_param: Some("offset".into()),
                limit_param: Some("limit".into()),
                limit: 10,
                total: Some(jp("$.count")),
            },
        ),
        Style::Cursor => (
            Some("$.employees[*]"),
            Paging::Cursor {
                param: Some("cursor".into()),
                next: jp("$.next_cursor"),
                has_more: None,
                size_param: Some("limit".into()),
                size: Some(10),
            },
        ),
        Style::NextUrl => (
            Some("$.items[*]"),
            Paging::NextUrl {
                next: jp("$.links.next"),
                size_param: Some("limit".into()),
                size: Some(10),
            },
        ),
        Style::Link => (
            None,
            Paging::LinkHeader {
                size_param: Some("per_page".into()),
                size: Some(10),
            },
        ),
    };
    Endpoint {
        name: "employees".into(),
        method: reqwest::Method::GET,
        url: Template::parse("/companies/{companyName}/employees").unwrap(),
        headers: vec![(
            "Accept".into(),
            Template::parse("application/json").unwrap(),
        )],
        query: Vec::new(),
        body: None,
        records: records.map(jp),
        records_src: records.map(str::to_string),
        fields: Vec::new(),
        key: "id".into(),
        paging,
        for_each: None,
        lookup: None,
    }
}

fn details() -> Endpoint {
    Endpoint {
        name: "details".into(),
        method: reqwest::Method::GET,
        url: Template::parse("/employees/{employeeId}/details").unwrap(),
        headers: Vec::new(),
        query: Vec::new(),
        body: None,
        records: None,
        records_src: None,
        fields: Vec::new(),
        key: "employee_id".into(),
        paging: Paging::None,
        for_each: Some(FanOut {
            endpoint: "employees".into(),
            field: "id".into(),
            macro_name: "employeeId".into(),
        }),
        lookup: None,
    }
}

fn compensation(style: Style) -> Endpoint {
    let mut e = employees(style);
    e.name = "compensation".into();
    e.url = Template::parse("/companies/{companyName}/compensation").unwrap();
    e.key = "employee_id".into();
    e
}

fn integration(base: &str, style: Style) -> RestIntegration {
    RestIntegration {
        name: "acme".into(),
        base_url: base.into(),
        auth: Auth {
            bearer: Bearer::Static(Secret::new(TOKEN.to_string())),
            headers: vec![("X-API-Key".into(), Secret::new(KEY.to_string()))],
        },
        macros: BTreeMap::from([("companyName".to_string(), "acme".to_string())]),
        endpoints: vec![employees(style), details(), compensation(style)],
        concurrency: 4,
        timeout: Duration::from_secs(10),
        retry: RetryPolicy {
            max_retries: 3,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            ..RetryPolicy::default()
        },
        flavor: Flavor::Generic,
        limiter: None,
        last_run_time: None,
        max_pages: 1000,
        max_page_bytes: crate::http::DEFAULT_MAX_PAGE_MB << 20,
    }
}

async fn fetch(it: &RestIntegration, ep: &str) -> Result<(Vec<HrRecord>, FetchReport)> {
    let mut out = Vec::new();
    let report = it
        .fetch_list(it.endpoint(ep).unwrap(), None, |r| out.push(r))
        .await?;
    Ok((out, report))
}

fn ids(records: &[HrRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| r.fields["id"].as_str().unwrap().to_string())
        .collect()
}

fn emulator_ids(state: &RestState) -> Vec<String> {
    state
        .employees()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn every_pagination_style_fetches_everyone_once() {
    for style in [
        Style::Page,
        Style::Offset,
        Style::Cursor,
        Style::NextUrl,
        Style::Link,
    ] {
        let (state, base) = server(style, 47).await;
        let it = integration(&base, style);
        let (records, report) = fetch(&it, "employees").await.unwrap();
        assert!(report.complete, "{style:?}: {report:?}");
        assert_eq!(ids(&records), emulator_ids(&state), "{style:?}");
        // 47 people in pages of 10; every style knows where the end is.
        assert_eq!(report.pages, 5, "{style:?}");
        // The nested fields came through untouched, for `{personal.first_name}`.
        assert!(records[0].fields["personal"]["first_name"].is_string());
        // The server saw the macro expanded and both credentials (else 401/403).
        let log = state.requests();
        assert!(
            log.iter()
                .all(|r| r.path == "/api/v2/companies/acme/employees" && r.status == 200),
            "{style:?}: {log:?}"
        );
    }
}

#[tokio::test]
async fn malformed_page_three_makes_the_fetch_incomplete() {
    for style in [Style::Page, Style::Cursor, Style::Link] {
        let (state, base) = server(style, 60).await;
        state.set_fault(Fault::MalformedPage { page: 3 });
        let it = integration(&base, style);
        let (records, report) = fetch(&it, "employees").await.unwrap();
        assert!(!report.complete, "{style:?}");
        assert_eq!(records.len(), 20, "pages 1 and 2 arrived");
        let err = report.error.unwrap();
        assert!(
            err.contains("page 3") && err.contains("not valid JSON") && err.contains("retries"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn auth_failures_are_errors_naming_the_integration() {
    let (_state, base) = server(Style::Page, 10).await;
    let mut it = integration(&base, Style::Page);
    it.auth.bearer = Bearer::Static(Secret::new("wrong-token-123".to_string()));
    let e = fetch(&it, "employees").await.unwrap_err().to_string();
    assert!(
        e.contains("integration acme") && e.contains("HTTP 401"),
        "{e}"
    );
    assert!(!e.contains("wrong-token-123") && !e.contains(KEY));
    let mut it = integration(&base, Style::Page);
    it.auth.headers.clear();
    let e = fetch(&it, "employees").await.unwrap_err().to_string();
    assert!(
        e.contains("HTTP 403") && e.contains("endpoint employees"),
        "{e}"
    );
}

#[tokio::test]
async fn rate_limit_429_waits_for_retry_after_and_completes() {
    let (state, base) = server(Style::Offset, 60).await;
    state.set_rate_limit(Some(RateLimit {
        max: 3,
        window: Duration::from_secs(1),
        retry_after_secs: 1,
    }));
    let it = integration(&base, Style::Offset);
    let (records, report) = fetch(&it, "employees").await.unwrap();
    assert!(report.complete, "{report:?}");
    assert_eq!(records.len(), 60);
    let log = state.requests();
    let limited: Vec<usize> = (0..log.len()).filter(|&i| log[i].status == 429).collect();
    assert!(!limited.is_empty(), "the server did rate-limit");
    for i in limited {
        let next = log[i + 1..].iter().find(|r| r.status != 429).unwrap();
        assert!(
            next.at.duration_since(log[i].at) >= Duration::from_millis(950),
            "asked again {:?} after a 429 with Retry-After: 1",
            next.at.duration_since(log[i].at)
        );
    }
}

#[tokio::test]
async fn proactive_limiter_paces_requests() {
    // 600/min: a burst of 30, then one request every 60 s / 570.
    let l = Limiter::per_minute(600).unwrap();
    let t = Instant::now();
    for _ in 0..40 {
        l.wait().await;
    }
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(Limiter::per_minute(0).is_none(), "a zero budget is refused");
}

#[tokio::test]
async fn fan_out_and_list_joins_merge_namespace_and_hold_back() {
    let (state, base) = server(Style::Cursor, 30).await;
    let all = emulator_ids(&state);
    let (no_details, no_comp, failing) = (&all[3], &all[4], &all[5]);
    state.hide_details(no_details);
    state.hide_compensation(no_comp);
    state.add_orphan_compensation("E9990");
    state.set_fault(Fault::DetailsStatus {
        id: failing.clone(),
        status: 500,
    });
    let it = integration(&base, Style::Cursor);
    let spec = JoinSpec {
        rest: it.clone(),
        primary_key: "id".into(),
        parts: vec![
            JoinPart {
                endpoint: "details".into(),
                required: true,
            },
            JoinPart {
                endpoint: "compensation".into(),
                required: true,
            },
        ],
        fan_out_limit: None,
        only: None,
    };
    let source = Source::Joined(Box::new(Source::Rest(it.clone(), "employees".into())), spec);
    let mut recs = Vec::new();
    let report = source.fetch_with(None, |r| recs.push(r)).await.unwrap();
    assert_eq!(ids(&recs), all, "every person once, in HR order");
    let by_id = |id: &str| recs.iter().find(|r| r.fields["id"] == id).unwrap();

    let ok = by_id(&all[0]);
    assert!(ok.problems.is_empty(), "{:?}", ok.problems);
    // Namespaced always; flat when the name is free.
    assert_eq!(ok.fields["details"]["employee_id"], all[0].as_str());
    assert!(ok.fields["phone"].is_string());
    assert_eq!(ok.fields["phone"], ok.fields["details"]["phone"]);
    assert_eq!(ok.fields["grade"], ok.fields["compensation"]["grade"]);
    // `employee_id` is in both joined endpoints: the first keeps the flat name.
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("employee_id of joined endpoint compensation collides")),
        "{:?}",
        report.notes
    );

    assert!(by_id(no_details).problems[0].contains("details has nothing for"));
    assert!(by_id(no_comp).problems[0].contains("missing from joined endpoint compensation"));
    assert!(by_id(failing).problems[0].contains("failed for"));
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("compensation has 1 key(s) that no") && n.contains("E9990")),
        "{:?}",
        report.notes
    );
    // A failed fan-out call means absence proves nothing: the fetch is incomplete.
    assert!(!report.complete);
    assert!(report.error.unwrap().contains("1 of 30 calls failed"));
    assert_eq!(report.endpoint, "employees+details+compensation");
}

#[tokio::test]
async fn incremental_fetch_sends_last_run_time_and_fan_out_escapes_values() {
    let (state, base) = server(Style::Page, 12).await;
    let mut it = integration(&base, Style::Page);
    it.endpoints[0].query = vec![(
        "updated_since".into(),
        Template::parse("{lastRunTime}").unwrap(),
    )];
    it.last_run_time = Some("2026-01-01T00:00:00+00:00".into());
    let (records, report) = fetch(&it, "employees").await.unwrap();
    assert!(report.complete);
    let expected = state
        .employees()
        .iter()
        .filter(|e| e["updated_at"].as_str().unwrap() >= "2026-01-01")
        .count();
    assert_eq!(records.len(), expected);
    assert!(
        state.requests()[0]
            .query
            .contains("updated_since=2026-01-01T00%3A00%3A00%2B00%3A00")
    );

    // A hostile id never changes the path of a fan-out call.
    state.clear_requests();
    let client = it.client().unwrap();
    let r = it
        .fetch_one(
            &client,
            it.endpoint("details").unwrap(),
            "../../companies/acme/employees?x=",
        )
        .await
        .unwrap();
    assert!(r.is_none());
    let log = state.requests();
    assert_eq!(log.len(), 1);
    assert!(
        log[0]
            .path
            .starts_with("/api/v2/employees/..%2F..%2Fcompanies"),
        "{log:?}"
    );
    assert_eq!(log[0].status, 404);
}

#[test]
fn records_path_that_does_not_match_is_an_error_not_an_empty_page() {
    let mut ep = employees(Style::Page);
    let body: Value = serde_json::json!({"data": {"rows": [{"id": 1}]}});
    assert!(locate(&ep, &body).unwrap_err().contains("$.data.items[*]"));
    let empty: Value = serde_json::json!({"data": {"items": []}});
    assert!(locate(&ep, &empty).unwrap().is_empty());
    ep.fields = vec![
        ("first".into(), jp("$.personal.first_name")),
        ("dept".into(), jp("$.job.department.code")),
    ];
    let rec = serde_json::json!({"id": "E1", "personal": {"first_name": "Zoë"}, "job": {"department": {"code": "ENG"}}});
    let f = extract(&ep, &rec).unwrap();
    assert_eq!(f["first"], "Zoë");
    assert_eq!(f["dept"], "ENG");
    assert!(
        extract(&ep, &serde_json::json!([1]))
            .unwrap_err()
            .contains("array")
    );
}

#[test]
fn next_urls_resolve_relative_and_never_leave_the_origin() {
    let it = integration("http://127.0.0.1:9000/api/v2", Style::NextUrl);
    let prev = "http://127.0.0.1:9000/api/v2/companies/acme/employees?limit=10";
    assert_eq!(
        it.resolve_next(prev, "/api/v2/companies/acme/employees?after=ab")
            .unwrap(),
        "http://127.0.0.1:9000/api/v2/companies/acme/employees?after=ab"
    );
    assert_eq!(
        it.resolve_next(prev, "?after=cd").unwrap(),
        "http://127.0.0.1:9000/api/v2/companies/acme/employees?after=cd"
    );
    assert_eq!(
        it.resolve_next(prev, "employees?after=ef").unwrap(),
        "http://127.0.0.1:9000/api/v2/companies/acme/employees?after=ef"
    );
    for evil in [
        "http://attacker.example/api/v2/x",
        "https://127.0.0.1:9000/api/v2/x",
        "http://127.0.0.1:9001/api/v2/x",
        "//attacker.example/x",
    ] {
        let e = it.resolve_next(prev, evil).unwrap_err();
        assert!(e.contains("not following"), "{evil}: {e}");
    }
}

// ---- A scripted server for what no well-behaved emulator does. ----

type Answer = (u16, Vec<(&'static str, String)>, String);

/// Serves `script` in order (the last answer repeats). `{base}` in bodies/headers becomes the
/// server's URL.
async fn scripted(script: Vec<Answer>) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::AtomicUsize;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let n = std::sync::Arc::new(AtomicUsize::new(0));
    let count = n.clone();
    let b = base.clone();
    let app = axum::Router::new().fallback(move || {
        let i = count.fetch_add(1, Ordering::SeqCst);
        let (status, headers, body) = script[i.min(script.len() - 1)].clone();
        let b = b.clone();
        async move {
            let mut resp = axum::response::Response::builder().status(status);
            for (k, v) in headers {
                resp = resp.header(k, v.replace("{base}", &b));
            }
            resp.body(axum::body::Body::from(body.replace("{base}", &b)))
                .unwrap()
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, n)
}

fn plain(base: &str, paging: Paging, records: Option<&str>) -> RestIntegration {
    let mut it = integration(base, Style::Page);
    let mut ep = employees(Style::Page);
    ep.url = Template::parse("/people").unwrap();
    ep.records = records.map(jp);
    ep.records_src = records.map(str::to_string);
    ep.paging = paging;
    it.endpoints = vec![ep];
    it
}

fn page_paging() -> Paging {
    Paging::Page {
        page_param: Some("page".into()),
        size_param: None,
        size: 2,
        first: 1,
        total_pages: None,
        total: None,
    }
}

fn ok(body: &str) -> Answer {
    (200, vec![], body.to_string())
}

#[tokio::test]
async fn misbehaving_servers_never_look_like_a_complete_fetch() {
    // A server that ignores the page parameter: the same page forever.
    let (base, _) = scripted(vec![ok(r#"{"items":[{"id":1},{"id":2}]}"#)]).await;
    let (recs, r) = fetch(
        &plain(&base, page_paging(), Some("$.items[*]")),
        "employees",
    )
    .await
    .unwrap();
    assert_eq!(recs.len(), 2);
    assert!(!r.complete && r.error.unwrap().contains("ignore the paging"));

    // Duplicates do not count towards the reported total.
    let mut p = page_paging();
    if let Paging::Page { total, .. } = &mut p {
        *total = Some(jp("$.total"));
    }
    let (base, _) = scripted(vec![
        ok(r#"{"items":[{"id":1},{"id":2}],"total":4}"#),
        ok(r#"{"items":[{"id":2},{"id":3}],"total":4}"#),
        ok(r#"{"items":[],"total":4}"#),
    ])
    .await;
    let (recs, r) = fetch(&plain(&base, p, Some("$.items[*]")), "employees")
        .await
        .unwrap();
    assert_eq!(recs.len(), 3);
    assert!(
        !r.complete
            && r.error
                .unwrap()
                .contains("reported total 4 but 3 different records"),
        "3 different of 4"
    );

    // An empty 200 body, or `items: null`, on page 2 is a failure, not the end.
    for bad in ["", r#"{"items":null,"error":"db timeout"}"#] {
        let (base, _) = scripted(vec![ok(r#"{"items":[{"id":1},{"id":2}]}"#), ok(bad)]).await;
        let (_, r) = fetch(
            &plain(&base, page_paging(), Some("$.items[*]")),
            "employees",
        )
        .await
        .unwrap();
        assert!(!r.complete, "{bad:?}");
    }

    // A cursor page without its has-more flag.
    let cursor = Paging::Cursor {
        param: Some("c".into()),
        next: jp("$.next"),
        has_more: Some(jp("$.more")),
        size_param: None,
        size: None,
    };
    let (base, _) = scripted(vec![
        ok(r#"{"items":[{"id":1}],"next":"a","more":true}"#),
        ok(r#"{"items":[{"id":2}],"next":"b"}"#),
    ])
    .await;
    let (_, r) = fetch(
        &plain(&base, cursor.clone(), Some("$.items[*]")),
        "employees",
    )
    .await
    .unwrap();
    assert!(!r.complete && r.error.unwrap().contains("has_more"));
    // A next cursor that is an object.
    let (base, _) = scripted(vec![ok(
        r#"{"items":[{"id":1}],"next":{"x":1},"more":true}"#,
    )])
    .await;
    let (_, r) = fetch(&plain(&base, cursor, Some("$.items[*]")), "employees")
        .await
        .unwrap();
    assert!(!r.complete);

    // Link headers in other legal spellings are followed; the last page has none.
    let link = Paging::LinkHeader {
        size_param: None,
        size: None,
    };
    let (base, n) = scripted(vec![
        (
            200,
            vec![(
                "link",
                r#"<{base}/people?p=2>; REL = "next", <{base}/people?p=3>; rel="last""#.into(),
            )],
            r#"[{"id":1}]"#.into(),
        ),
        (
            200,
            vec![(
                "link",
                r#"<{base}/people?p=3>; title="a, b"; rel=next"#.into(),
            )],
            r#"[{"id":2}]"#.into(),
        ),
        ok(r#"[{"id":3}]"#),
    ])
    .await;
    let (recs, r) = fetch(&plain(&base, link, None), "employees").await.unwrap();
    assert!(r.complete, "{r:?}");
    assert_eq!(recs.len(), 3);
    assert_eq!(n.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn an_absurd_retry_after_fails_the_page_instead_of_sleeping() {
    let (base, n) = scripted(vec![
        ok(r#"{"items":[{"id":1}]}"#),
        (429, vec![("retry-after", "86400".into())], "{}".into()),
    ])
    .await;
    let t = Instant::now();
    let (_, r) = fetch(
        &plain(&base, page_paging(), Some("$.items[*]")),
        "employees",
    )
    .await
    .unwrap();
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(!r.complete && r.error.unwrap().contains("86400"));
    assert_eq!(n.load(Ordering::SeqCst), 2, "not retried");
}

#[tokio::test]
async fn a_429_storm_with_retry_after_ends_after_max_retries() {
    // Issue 11 §8: `max_retries` was ignored whenever the server sent `Retry-After`.
    let (base, n) = scripted(vec![(429, vec![("retry-after", "0".into())], "{}".into())]).await;
    let mut it = plain(&base, page_paging(), Some("$.items[*]"));
    it.retry.max_retries = 2;
    let t = Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(20), fetch(&it, "employees"))
        .await
        .expect("the fetch must end")
        .unwrap_err()
        .to_string();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(n.load(Ordering::SeqCst), 3, "1 request + max_retries");
    assert!(
        err.contains("HTTP 429") && err.contains("max_retries = 2"),
        "{err}"
    );

    // With a deadline shorter than the server's delay, the deadline ends it.
    let (base, n) = scripted(vec![(429, vec![("retry-after", "1".into())], "{}".into())]).await;
    let mut it = plain(&base, page_paging(), Some("$.items[*]"));
    it.retry.max_retries = 100;
    it.retry.deadline = Duration::from_millis(2500);
    let t = Instant::now();
    let err = fetch(&it, "employees").await.unwrap_err().to_string();
    assert!(
        t.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(
        n.load(Ordering::SeqCst),
        3,
        "waited 1 s twice, then the deadline"
    );
    assert!(err.contains("retry deadline of 2.5 s"), "{err}");
}

#[tokio::test]
async fn a_total_that_changes_between_pages_is_not_a_complete_fetch() {
    // Issue 11 §1: id 1 deleted after page 1; offset paging shifts id 3 onto page 1 and it is
    // never seen. The final total (3) matches the records (3): only the change shows it.
    let mut page = page_paging();
    if let Paging::Page { total, .. } = &mut page {
        *total = Some(jp("$.total"));
    }
    let offset = Paging::Offset {
        offset_param: Some("offset".into()),
        limit_param: Some("limit".into()),
        limit: 2,
        total: Some(jp("$.total")),
    };
    for paging in [page, offset] {
        let (base, _) = scripted(vec![
            ok(r#"{"items":[{"id":1},{"id":2}],"total":4}"#),
            ok(r#"{"items":[{"id":4}],"total":3}"#),
            ok(r#"{"items":[],"total":3}"#),
        ])
        .await;
        let (recs, r) = fetch(
            &plain(&base, paging.clone(), Some("$.items[*]")),
            "employees",
        )
        .await
        .unwrap();
        assert_eq!(recs.len(), 3);
        assert!(!r.complete, "{paging:?}: {r:?}");
        let err = r.error.unwrap();
        assert!(
            err.contains("total changed from 4 to 3") && err.contains("not complete"),
            "{err}"
        );
    }
}

fn with_lookup(base: &str, cfg: LookupConfig) -> RestIntegration {
    let mut it = integration(base, Style::Page);
    let known = it.known_macros();
    let lookup = cfg.resolve("id", &known).unwrap();
    it.endpoints[0].lookup = Some(lookup);
    it
}

fn keys(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn look_up_by_a_per_person_url_finds_who_is_still_there() {
    let (state, base) = server(Style::Page, 30).await;
    let ids = emulator_ids(&state);
    assert!(state.remove(&ids[4]));
    let it = with_lookup(
        &base,
        LookupConfig {
            path: Some("/companies/{companyName}/employees/{key}".into()),
            ..LookupConfig::default()
        },
    );
    let source = Source::Rest(it, "employees".into());
    assert!(source.can_look_up("id") && !source.can_look_up("employee_id"));
    state.clear_requests();
    let keep: BTreeSet<String> = keys(&["status"]);
    let mut got = Vec::new();
    let r = source
        .look_up(
            "id",
            &keys(&[&ids[2], &ids[4], "E99999"]),
            Some(&keep),
            |rec| got.push(rec),
        )
        .await
        .unwrap();
    assert!(r.complete, "{r:?}");
    assert_eq!(
        got.len(),
        1,
        "removed and unknown ids answer 404 = not found"
    );
    assert_eq!(got[0].source_id.as_deref(), Some(ids[2].as_str()));
    let fields: Vec<&String> = got[0].fields.keys().collect();
    assert_eq!(fields, vec!["id", "status"], "kept fields and the key");
    let log = state.requests();
    assert_eq!(log.len(), 3, "one call per key: {log:?}");
    assert!(
        log.iter()
            .all(|l| l.path.starts_with("/api/v2/companies/acme/employees/"))
    );

    // Not a lookup field, and a key exactly as REST compares it.
    assert!(
        source
            .look_up("email", &keys(&["x"]), None, |_| {})
            .await
            .is_err()
    );
    assert!(source.key_matches("E0001", "E0001") && !source.key_matches("e0001", "E0001"));
}

#[tokio::test]
async fn look_up_by_a_list_filter_is_chunked_and_drops_records_not_asked_for() {
    let (state, base) = server(Style::Page, 30).await;
    let ids = emulator_ids(&state);
    let it = with_lookup(
        &base,
        LookupConfig {
            param: Some("ids".into()),
            max_keys: Some(2),
            ..LookupConfig::default()
        },
    );
    state.clear_requests();
    let mut got = BTreeSet::new();
    let r = it
        .look_up(
            "employees",
            "id",
            &keys(&[&ids[1], &ids[3], &ids[5], "E99999"]),
            None,
            |rec| {
                got.insert(rec.source_id.unwrap());
            },
        )
        .await
        .unwrap();
    assert!(r.complete, "{r:?}");
    assert_eq!(got, keys(&[&ids[1], &ids[3], &ids[5]]));
    assert_eq!(state.requests().len(), 2, "4 keys, 2 per request");

    // A server that ignores the filter returns everyone: only the keys asked for come back.
    let it = with_lookup(
        &base,
        LookupConfig {
            param: Some("nonsense".into()),
            ..LookupConfig::default()
        },
    );
    let mut n = 0;
    it.look_up("employees", "id", &keys(&[&ids[1]]), None, |_| n += 1)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_failing_per_person_lookup_is_incomplete_not_not_found() {
    let (base, _) = scripted(vec![
        (404, vec![], r#"{"error":"not_found"}"#.into()),
        (500, vec![], "boom".into()),
    ])
    .await;
    let mut it = with_lookup(
        &base,
        LookupConfig {
            path: Some("/people/{key}".into()),
            ..LookupConfig::default()
        },
    );
    it.concurrency = 1;
    it.retry.max_retries = 0;
    let r = it
        .look_up("employees", "id", &keys(&["a", "b"]), None, |_| {})
        .await
        .unwrap();
    assert!(!r.complete);
    assert!(
        r.error.as_deref().unwrap().contains("1 of 2 lookups"),
        "{r:?}"
    );
}

#[test]
fn lookup_configs_are_checked() {
    let known = ["companyName"];
    let bad = |c: LookupConfig| c.resolve("id", &known).unwrap_err().0;
    assert_eq!(bad(LookupConfig::default()), "path");
    assert_eq!(
        bad(LookupConfig {
            path: Some("/employees/all".into()),
            ..LookupConfig::default()
        }),
        "path",
        "no {{key}}"
    );
    assert_eq!(
        bad(LookupConfig {
            path: Some("/employees/{key}/{nope}".into()),
            ..LookupConfig::default()
        }),
        "path"
    );
    assert_eq!(
        bad(LookupConfig {
            path: Some("/e/{key}".into()),
            param: Some("ids".into()),
            ..LookupConfig::default()
        }),
        "param"
    );
    assert_eq!(
        bad(LookupConfig {
            param: Some("ids".into()),
            max_keys: Some(1000),
            ..LookupConfig::default()
        }),
        "max_keys"
    );
    let ok = LookupConfig {
        path: Some("/employees".into()),
        query: BTreeMap::from([("id".to_string(), "{key}".to_string())]),
        field: Some("employee_id".into()),
        ..LookupConfig::default()
    }
    .resolve("id", &known)
    .unwrap();
    assert_eq!(ok.field, "employee_id");
    // As a config file writes it (`url` is an alias of `path`).
    let c: LookupConfig = serde_json::from_str(r#"{"url": "/e/{key}"}"#).unwrap();
    assert!(c.resolve("id", &known).is_ok());
    assert!(serde_json::from_str::<LookupConfig>(r#"{"pth": "/e/{key}"}"#).is_err());
}

#[tokio::test]
async fn a_rest_base_url_with_credentials_is_refused_before_any_request() {
    let (state, base) = server(Style::Page, 5).await;
    let it = integration(
        &base.replace("http://", "http://admin:Pw-9qX@"),
        Style::Page,
    );
    let err = fetch(&it, "employees").await.unwrap_err().to_string();
    assert!(err.contains("base_url") && !err.contains("Pw-9qX"), "{err}");
    assert!(state.requests().is_empty(), "nothing was sent");
    assert!(Source::Rest(it, "employees".into()).check().is_err());
}
