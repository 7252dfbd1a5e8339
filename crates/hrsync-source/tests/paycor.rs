//! The Paycor preset against the Paycor emulator: lookups by employee id, and a 429 storm.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hrsync_emulator::paycor::{self, Fault, PaycorConfig, PaycorState};
use hrsync_model::Secret;
use hrsync_source::Source;
use hrsync_source::http::RetryPolicy;
use hrsync_source::oauth::OAuthRefresh;
use hrsync_source::paycor::{LEGAL_ENTITY_EMPLOYEES, PaycorSettings};
use hrsync_source::rest::Bearer;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

async fn setup(employees: usize) -> (PaycorState, Source) {
    setup_with(employees, None).await
}

/// With `store`: the bearer comes from the OAuth refresh flow against the emulator's STS.
async fn setup_with(employees: usize, store: Option<&std::path::Path>) -> (PaycorState, Source) {
    let cfg = PaycorConfig {
        employees,
        client_secret: Some("client-secret-3c1f".into()),
        refresh_token: Some("initial-refresh-9a7e".into()),
        ..PaycorConfig::default()
    };
    let state = PaycorState::generate(&cfg);
    let (addr, _task) = paycor::serve(state.clone(), "", "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let bearer = match store {
        None => Bearer::Static(Secret::new(cfg.access_token.clone())),
        Some(store) => Bearer::OAuth(
            OAuthRefresh {
                integration: "paycor".into(),
                token_url: format!("http://{addr}/sts/v1/common/token"),
                client_id: cfg.client_id.clone(),
                client_secret: Secret::new("client-secret-3c1f"),
                initial_refresh_token: Some(Secret::new("initial-refresh-9a7e")),
                store: store.to_path_buf(),
                query_secrets: vec![(
                    "subscription-key".into(),
                    Secret::new(cfg.subscription_key.clone()),
                )],
                timeout: Duration::from_secs(5),
                clock: hrsync_source::oauth::Clock::system(),
            }
            .into_provider(),
        ),
    };
    let rest = hrsync_source::paycor::integration(
        PaycorSettings {
            name: "paycor".into(),
            base_url: format!("http://{addr}"),
            bearer,
            subscription_key: Secret::new(cfg.subscription_key.clone()),
            legal_entity_id: cfg.legal_entity_id.to_string(),
            rate_limit_per_minute: None,
            concurrency: 4,
            timeout: Duration::from_secs(5),
            retry: RetryPolicy {
                max_retries: 2,
                min_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(50),
                ..RetryPolicy::default()
            },
            max_page_bytes: hrsync_source::http::DEFAULT_MAX_PAGE_MB << 20,
            include: Vec::new(),
        },
        Vec::new(),
    );
    (state, Source::Rest(rest, LEGAL_ENTITY_EMPLOYEES.into()))
}

#[tokio::test]
async fn the_preset_looks_employees_up_by_id() {
    let (state, source) = setup(12).await;
    assert!(source.can_look_up("id") && !source.can_look_up("employeeNumber"));
    let ids = state.employee_ids();
    let unknown = "00000000-0000-0000-0000-000000000000".to_string();
    let wanted: BTreeSet<String> = [ids[1].clone(), ids[6].clone(), unknown].into();
    let before = state.request_count();
    let mut got = Vec::new();
    let r = source
        .look_up("id", &wanted, None, |rec| got.push(rec))
        .await
        .unwrap();
    assert!(r.complete, "{r:?}");
    assert_eq!(
        state.request_count() - before,
        3,
        "GET /v1/employees/{{id}} per key"
    );
    let mut found: Vec<String> = got.iter().map(|r| r.source_id.clone().unwrap()).collect();
    found.sort();
    let mut expected = vec![ids[1].clone(), ids[6].clone()];
    expected.sort();
    assert_eq!(found, expected, "the unknown id is a 404: not found");

    // The record is the one the list gives (same shape for the mapping).
    let mut listed = Vec::new();
    source.fetch_with(None, |r| listed.push(r)).await.unwrap();
    let from_list = listed
        .iter()
        .find(|r| r.source_id.as_deref() == Some(ids[1].as_str()))
        .unwrap();
    let looked_up = got
        .iter()
        .find(|r| r.source_id.as_deref() == Some(ids[1].as_str()))
        .unwrap();
    assert_eq!(looked_up.fields, from_list.fields);
}

#[tokio::test]
async fn a_429_storm_ends_after_max_retries() {
    // Issue 11 §8: every call answers 429 with Retry-After; the fetch must end.
    let (state, source) = setup(5).await;
    state.set_fault(Fault::RateLimited {
        calls: u32::MAX,
        retry_after_secs: 0,
    });
    let t = Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(30), source.fetch_with(None, |_| {}))
        .await
        .expect("the fetch must end")
        .unwrap_err()
        .to_string();
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(
        err.contains("429") && err.contains("max_retries = 2"),
        "{err}"
    );
}

#[tokio::test]
async fn a_refused_access_token_is_refreshed_once_without_using_up_max_retries() {
    let dir = tempfile::tempdir().unwrap();
    let (state, mut source) = setup_with(7, Some(&dir.path().join("paycor.refresh"))).await;
    if let Source::Rest(r, _) = &mut source {
        r.retry.max_retries = 0;
    }
    let mut n = 0;
    source.fetch_with(None, |_| n += 1).await.unwrap();
    assert_eq!(n, 7);
    // The token expires: the next call gets a 401, refreshes and asks again.
    state.set_fault(Fault::ExpiredToken { calls: 1 });
    let mut n = 0;
    let r = source.fetch_with(None, |_| n += 1).await.unwrap();
    assert!(r.complete, "{r:?}");
    assert_eq!(n, 7);
    // Refused again after the refresh: an auth error, not a loop.
    state.set_fault(Fault::ExpiredToken { calls: 10 });
    let err = source
        .fetch_with(None, |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("401"), "{err}");
}
