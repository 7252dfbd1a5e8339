//! The IceHrm connector against the emulator served in-process on a loopback port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hrsync_emulator::icehrm::{self, Fault, IceHrmConfig, IceHrmState, make_token};
use hrsync_model::Secret;
use hrsync_source::http::RetryPolicy;
use hrsync_source::icehrm::IceHrm;
use hrsync_source::{Source, SourceError};
use std::collections::BTreeSet;
use std::time::Duration;

async fn setup(employees: usize) -> (IceHrmState, IceHrm) {
    let token = make_token("source-tests", 4_102_444_800);
    let state = IceHrmState::generate(&IceHrmConfig {
        employees,
        seed: 3,
        token: token.clone(),
        base_path: "/app/api".into(),
    });
    let (addr, _task) = icehrm::serve(state.clone(), "/app/api", "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let src = IceHrm {
        name: "hr".into(),
        base_url: format!("http://{addr}/app/api/"),
        token: Secret::new(token),
        page_size: 40,
        concurrency: 3,
        timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_retries: 2,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            ..RetryPolicy::default()
        },
        max_page_bytes: hrsync_source::http::DEFAULT_MAX_PAGE_MB << 20,
        only: None,
    };
    (state, src)
}

#[tokio::test]
async fn fetches_every_page_in_order_with_only_the_kept_fields() {
    let (state, src) = setup(250).await;
    let keep: BTreeSet<String> = ["first_name".to_string(), "department".to_string()].into();
    let f = src.fetch_employees(Some(&keep)).await.unwrap();
    assert!(f.report.complete, "{:?}", f.report);
    assert_eq!(f.report.records, 250);
    assert_eq!(
        f.report.pages, 7,
        "ceil(250/40) pages, no request past the end"
    );
    assert_eq!(state.request_count(), 7);
    let ids: Vec<String> = f
        .records
        .iter()
        .map(|r| r.source_id.clone().unwrap())
        .collect();
    let mut sorted: Vec<i64> = ids.iter().map(|i| i.parse().unwrap()).collect();
    sorted.dedup();
    assert_eq!(sorted.len(), 250, "no duplicates");
    for r in &f.records {
        let keys: BTreeSet<&str> = r.fields.keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["department", "first_name", "id"]));
    }
    assert!(f.records[10].fields["department"]["display"].is_string());
}

#[tokio::test]
async fn a_transient_500_is_retried_and_the_fetch_completes() {
    let (state, src) = setup(100).await;
    state.set_fault(Fault::FailListPageTimes {
        page: 2,
        status: 500,
        times: 1,
    });
    let f = src.fetch_employees(None).await.unwrap();
    assert!(f.report.complete, "{:?}", f.report);
    assert_eq!(f.report.records, 100);
}

#[tokio::test]
async fn a_persistent_failure_on_a_later_page_is_an_incomplete_fetch() {
    let (state, src) = setup(100).await;
    state.set_fault(Fault::FailListPage {
        page: 3,
        status: 500,
    });
    let f = src.fetch_employees(None).await.unwrap();
    assert!(!f.report.complete);
    let err = f.report.error.unwrap();
    assert!(
        err.contains("page 3") && err.contains("HTTP 500") && err.contains("after 2 retries"),
        "{err}"
    );
    assert_eq!(f.records.len(), 80, "the pages that arrived are kept");
}

#[tokio::test]
async fn auth_failures_name_the_integration_and_not_the_token() {
    let (state, mut src) = setup(10).await;
    state.set_fault(Fault::ErrorBodyWith200);
    match src.fetch_employees(None).await {
        // What happened is an HTTP 200 with an error body, not a 403.
        Err(e @ SourceError::Auth { status: 200, .. }) => {
            let e = e.to_string();
            assert!(
                e.contains("integration hr")
                    && e.contains("invalidated")
                    && e.contains("HTTP 200")
                    && !e.contains("403"),
                "{e}"
            )
        }
        other => panic!("expected an auth error, got {other:?}"),
    }
    state.clear_faults();
    let wrong = make_token("someone-else", 4_102_444_800);
    src.token = Secret::new(wrong.clone());
    let err = src.fetch_employees(None).await.unwrap_err().to_string();
    assert!(err.contains("HTTP 403") && err.contains("invalid"), "{err}");
    assert!(!err.contains(&wrong));
    // A non-JWT token (or the raw 32-hex hash) is a 500 with an empty body on IceHrm: it is
    // refused up front, with what IceHrm wants instead, before any request.
    for bad in ["not-a-jwt", "0123456789abcdef0123456789abcdef"] {
        src.token = Secret::new(bad);
        let before = state.request_count();
        let err = src.fetch_employees(None).await.unwrap_err();
        assert!(matches!(err, SourceError::Config { .. }), "{err:?}");
        let err = err.to_string();
        assert!(
            err.contains("not a JWT") && err.contains("Api Access") && !err.contains(bad),
            "{err}"
        );
        assert_eq!(state.request_count(), before, "no request with {bad}");
    }
}

#[tokio::test]
async fn a_500_on_a_large_page_suggests_a_smaller_page_size() {
    let (state, mut src) = setup(10).await;
    state.set_fault(Fault::FailListPage {
        page: 1,
        status: 500,
    });
    src.page_size = 5000;
    let err = src.fetch_employees(None).await.unwrap_err().to_string();
    assert!(
        err.contains("HTTP 500") && err.contains("page_size") && err.contains("5000"),
        "{err}"
    );
    src.page_size = 100;
    let err = src.fetch_employees(None).await.unwrap_err().to_string();
    assert!(
        err.contains("HTTP 500") && !err.contains("page_size"),
        "{err}"
    );
}

#[tokio::test]
async fn people_deleted_during_the_fetch_make_it_incomplete() {
    // Issue 11 §1: two people deleted while hrsync pages; two others (still active) are never
    // served. Fewer records than the reported total is not a complete fetch.
    let (state, src) = setup(100).await;
    state.set_fault(Fault::DeleteAfterPage {
        page: 1,
        ids: vec![5, 6],
    });
    let f = src.fetch_employees(None).await.unwrap();
    assert_eq!(f.report.records, 98);
    let got: BTreeSet<String> = f
        .records
        .iter()
        .filter_map(|r| r.source_id.clone())
        .collect();
    assert!(
        !got.contains("41") && !got.contains("42"),
        "41 and 42 shifted onto page 1"
    );
    assert!(state.employee(41).is_some(), "and still exist");
    assert!(!f.report.complete, "{:?}", f.report);
    let err = f.report.error.unwrap();
    assert!(
        err.contains("server reported total 100 but 98 records arrived")
            && err.contains("not complete"),
        "{err}"
    );
}

/// Serves IceHrm list pages from a script: `(total, ids)` per page number (1-based).
async fn scripted_icehrm(pages: Vec<(u64, Vec<u64>)>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/app/api", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(
        move |q: axum::extract::Query<std::collections::HashMap<String, String>>| {
            let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
            let (total, ids) = pages.get(page - 1).cloned().unwrap_or((0, Vec::new()));
            let data: Vec<serde_json::Value> = ids
                .iter()
                .map(|i| serde_json::json!({"id": i, "employee_id": format!("E{i}")}))
                .collect();
            async move {
                axum::Json(serde_json::json!({"data": data, "total": total, "nextPage": page + 1}))
            }
        },
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

#[tokio::test]
async fn a_total_that_changes_between_pages_is_not_a_complete_fetch() {
    // Someone hired during the fetch: every record arrived, but the list moved under us.
    let base = scripted_icehrm(vec![(4, vec![1, 2]), (5, vec![3, 4])]).await;
    let (_, mut src) = setup(1).await;
    src.base_url = base;
    src.page_size = 2;
    let f = src.fetch_employees(None).await.unwrap();
    assert_eq!(f.report.records, 4);
    assert!(!f.report.complete, "{:?}", f.report);
    let err = f.report.error.unwrap();
    assert!(
        err.contains("total changed from 4 to 5") && err.contains("not complete"),
        "{err}"
    );
}

fn set(values: &[&str]) -> BTreeSet<String> {
    values.iter().map(|v| v.to_string()).collect()
}

#[tokio::test]
async fn look_up_asks_for_exactly_the_keys_and_matches_them_as_icehrm_does() {
    let (state, src) = setup(250).await;
    assert!(state.delete(7));
    let source = Source::IceHrm(src);
    assert!(source.can_look_up("employee_id") && source.can_look_up("id"));
    assert!(
        !source.can_look_up("email") && !source.can_look_up("department.display"),
        "computed fields and paths are not columns (IceHrm answers 500)"
    );

    let before = state.request_count();
    let mut got = Vec::new();
    let r = source
        .look_up(
            "employee_id",
            &set(&["emp00005", "EMP00007", "Emp00009", "NOPE"]),
            None,
            |rec| got.push(rec),
        )
        .await
        .unwrap();
    assert!(r.complete, "{r:?}");
    let keys: BTreeSet<String> = got
        .iter()
        .map(|r| r.fields["employee_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys, set(&["EMP00005", "EMP00009"]), "7 was deleted");
    assert_eq!(r.records, 2);
    assert_eq!(state.request_count() - before, 1, "one filtered request");
    assert!(source.key_matches("emp00005", "EMP00005"));
    assert!(source.key_matches("Jose", "José") && !source.key_matches("Jose", "Josef"));

    // No values: no request, nobody (an empty filter would return everyone).
    let before = state.request_count();
    let r = source
        .look_up("employee_id", &BTreeSet::new(), None, |_| panic!("nobody"))
        .await
        .unwrap();
    assert!(r.complete && r.records == 0);
    assert_eq!(state.request_count(), before);

    // Long key lists are chunked: 250 keys, 100 per request.
    let many: BTreeSet<String> = (1..=250).map(|i| format!("EMP{i:05}")).collect();
    let before = state.request_count();
    let mut n = 0;
    let r = source
        .look_up("employee_id", &many, None, |_| n += 1)
        .await
        .unwrap();
    assert!(r.complete);
    assert_eq!(n, 249);
    assert_eq!(state.request_count() - before, 3);

    // By internal id (a new hire's supervisor), keeping only some fields.
    let keep = set(&["first_name"]);
    let mut got = Vec::new();
    source
        .look_up("id", &set(&["3", "4"]), Some(&keep), |rec| got.push(rec))
        .await
        .unwrap();
    let ids: Vec<&str> = got
        .iter()
        .map(|r| r.source_id.as_deref().unwrap())
        .collect();
    assert_eq!(ids, vec!["3", "4"]);
    assert!(got[0].fields.contains_key("first_name") && !got[0].fields.contains_key("last_name"));

    let err = source
        .look_up("email", &set(&["x@y"]), None, |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("columns"), "{err}");
}

#[tokio::test]
async fn people_missed_by_a_shifting_fetch_are_found_by_a_lookup_and_leavers_are_not() {
    // Issue 11 §1, end to end at the source: the fetch misses 41 and 42 (incomplete); asking for
    // everyone it did not return finds 41 and 42, not the deleted 5 and 6.
    let (state, src) = setup(100).await;
    state.set_fault(Fault::DeleteAfterPage {
        page: 1,
        ids: vec![5, 6],
    });
    let source = Source::IceHrm(src);
    let mut fetched = BTreeSet::new();
    let report = source
        .fetch_with(None, |r| {
            fetched.insert(r.fields["employee_id"].as_str().unwrap().to_string());
        })
        .await
        .unwrap();
    assert!(!report.complete);
    // Everyone known before (from the directory's links) that the fetch did not return.
    let known: BTreeSet<String> = (1..=100).map(|i| format!("EMP{i:05}")).collect();
    let missing: BTreeSet<String> = known.difference(&fetched).cloned().collect();
    assert_eq!(
        missing,
        set(&["EMP00041", "EMP00042"]),
        "5 and 6 arrived before they went"
    );
    let gone = set(&["EMP00005", "EMP00006", "EMP00041", "EMP00042"]);
    let mut found = BTreeSet::new();
    let r = source
        .look_up("employee_id", &gone, None, |rec| {
            found.insert(rec.fields["employee_id"].as_str().unwrap().to_string());
        })
        .await
        .unwrap();
    assert!(r.complete);
    assert_eq!(
        found,
        set(&["EMP00041", "EMP00042"]),
        "still in HR: not leavers"
    );
}

#[tokio::test]
async fn a_targeted_run_matches_keys_as_icehrm_does_and_never_sends_an_empty_filter() {
    use hrsync_source::rest::join::JoinSpec;
    use hrsync_source::rest::{Auth, Bearer, Flavor, RestIntegration};
    let (state, src) = setup(30).await;
    let rest = RestIntegration {
        name: "hr".into(),
        base_url: src.base_url.clone(),
        auth: Auth {
            bearer: Bearer::None,
            headers: Vec::new(),
        },
        macros: Default::default(),
        endpoints: Vec::new(),
        concurrency: 1,
        timeout: Duration::from_secs(5),
        retry: RetryPolicy::default(),
        flavor: Flavor::Generic,
        limiter: None,
        last_run_time: None,
        max_pages: 10,
        max_page_bytes: hrsync_source::http::DEFAULT_MAX_PAGE_MB << 20,
    };
    // An event names `emp00012`; IceHrm returns EMP00012, and hrsync must keep it.
    let mut joined = Source::Joined(
        Box::new(Source::IceHrm(src.clone())),
        JoinSpec {
            rest,
            primary_key: "employee_id".into(),
            parts: Vec::new(),
            fan_out_limit: None,
            only: None,
        },
    );
    assert!(joined.restrict("employee_id", &set(&["emp00012"])));
    let mut got = Vec::new();
    let r = joined.fetch_with(None, |rec| got.push(rec)).await.unwrap();
    assert!(r.complete);
    assert_eq!(
        got.len(),
        1,
        "hrsync's own filter must match as IceHrm does"
    );
    assert_eq!(got[0].fields["employee_id"], "EMP00012");

    // No values: nobody, and no request (IceHrm would drop `[]` and return everyone).
    let mut plain = Source::IceHrm(src);
    assert!(plain.restrict("employee_id", &BTreeSet::new()));
    let before = state.request_count();
    let r = plain.fetch_with(None, |_| panic!("nobody")).await.unwrap();
    assert!(r.complete && r.records == 0);
    assert_eq!(state.request_count(), before);
    // A computed field is filtered by the caller, never sent (IceHrm: 500).
    assert!(!plain.restrict("email", &set(&["x@example.com"])));
}

#[tokio::test]
async fn a_base_url_with_credentials_is_refused_before_any_request() {
    // Issue 11 §8: `http://admin:pw@host/…` would send Basic auth and drop the bearer token.
    let (state, mut src) = setup(5).await;
    let url = src.base_url.clone();
    src.base_url = url.replace("http://", "http://admin:Pw-9qX@");
    let source = Source::IceHrm(src.clone());
    let err = source.check().unwrap_err();
    assert!(matches!(err, SourceError::Config { .. }));
    let err = source
        .fetch_with(None, |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("base_url") && err.contains("remove them"),
        "{err}"
    );
    assert!(!err.contains("Pw-9qX") && !err.contains("admin"), "{err}");
    assert!(
        source
            .look_up("id", &set(&["1"]), None, |_| {})
            .await
            .is_err()
    );
    assert_eq!(state.request_count(), 0, "nothing was sent");
    src.base_url = url;
    assert!(Source::IceHrm(src).check().is_ok());
}
