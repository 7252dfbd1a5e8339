//! The IceHrm connector against the emulator served in-process on a loopback port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hrsync_emulator::icehrm::{self, Fault, IceHrmConfig, IceHrmState, make_token};
use hrsync_model::Secret;
use hrsync_source::SourceError;
use hrsync_source::http::RetryPolicy;
use hrsync_source::icehrm::IceHrm;
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
        Err(e @ SourceError::Auth { .. }) => assert!(
            e.to_string().contains("integration hr") && e.to_string().contains("invalidated"),
            "{e}"
        ),
        other => panic!("expected an auth error, got {other:?}"),
    }
    state.clear_faults();
    let wrong = make_token("someone-else", 4_102_444_800);
    src.token = Secret::new(wrong.clone());
    let err = src.fetch_employees(None).await.unwrap_err().to_string();
    assert!(err.contains("HTTP 403") && err.contains("invalid"), "{err}");
    assert!(!err.contains(&wrong));
    // a non-JWT token is a 500 with an empty body on IceHrm: reported, not retried forever
    src.token = Secret::new("not-a-jwt");
    let err = src.fetch_employees(None).await.unwrap_err().to_string();
    assert!(err.contains("page 1") && err.contains("HTTP 500"), "{err}");
}
