//! The console's queues, in process: the review list (adopt, new account, reopen; errors
//! inline), the outbox and its dead letters (replay, cancel), webhook deliveries (secret
//! headers never shown), orphans (a run whose page lists them); viewers see no action and
//! their forged posts are refused by the API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod console_support;

use axum::http::StatusCode;
use chrono::Utc;
use console_support::{console, serving};
use hrsync_auth::Role;
use hrsync_model::{ReviewCandidate, ReviewItem};
use hrsync_state::Store;
use serde_json::json;

const CANDIDATE: &str = "uid=ada.l,ou=people,dc=example,dc=com";

fn seed_review(state: &std::path::Path) {
    let mut store = Store::open(state).unwrap();
    let items = vec![
        ReviewItem {
            key: "1".into(),
            reason: "two accounts match on mail".into(),
            candidates: vec![
                ReviewCandidate {
                    dn: CANDIDATE.into(),
                    key: None,
                    disabled: false,
                    matched_on: vec!["mail=ada@example.com".into()],
                },
                ReviewCandidate {
                    dn: "uid=ada2,ou=people,dc=example,dc=com".into(),
                    key: None,
                    disabled: true,
                    matched_on: vec!["mail=ada@example.com".into()],
                },
            ],
        },
        ReviewItem {
            key: "2".into(),
            reason: "an account matches on name only".into(),
            candidates: vec![ReviewCandidate {
                dn: "uid=alan,ou=people,dc=example,dc=com".into(),
                key: None,
                disabled: false,
                matched_on: vec!["cn=Alan Turing".into()],
            }],
        },
    ];
    store
        .save_review("staff", &items, false, Utc::now())
        .unwrap();
}

fn status_of(state: &std::path::Path, key: &str) -> String {
    let store = Store::open(state).unwrap();
    store
        .review(Some("staff"), true)
        .unwrap()
        .into_iter()
        .find(|r| r.hr_key == key)
        .map(|r| r.status)
        .unwrap()
}

#[tokio::test]
async fn review_decisions_go_through_the_api() {
    let c = console("");
    seed_review(&c.state);
    let viewer = c.browser("vera", Role::Viewer);
    let p = c.get(Some(&viewer), "/console/review").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains(r#"data-review="1""#) && p.body.contains(r#"data-review="2""#));
    assert!(p.body.contains(CANDIDATE));
    assert!(p.body.contains("two accounts match on mail"));
    assert!(!p.body.contains("data-adopt="), "a viewer has no button");
    assert!(!p.body.contains("data-new="));
    // A viewer's forged decision.
    let p = c
        .post_form(
            &viewer,
            "/console/review/staff/1/adopt",
            &[("dn", CANDIDATE)],
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    assert_eq!(status_of(&c.state, "1"), "open");

    let op = c.browser("olga", Role::Operator);
    let p = c.get(Some(&op), "/console/review").await;
    assert!(p.body.contains(&format!(r#"data-adopt="{CANDIDATE}""#)));
    // Not a candidate: the API's 422, inline.
    let p = c
        .htmx(
            &op,
            "POST",
            "/console/review/staff/1/adopt",
            &[("dn", "uid=someone,dc=example,dc=com")],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(
        p.body.contains(r#"data-problem="not-a-candidate""#),
        "{}",
        p.body
    );
    assert_eq!(status_of(&c.state, "1"), "open");
    // Adopt, new account, then reopen.
    let p = c
        .htmx(
            &op,
            "POST",
            "/console/review/staff/1/adopt",
            &[("dn", CANDIDATE)],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!(p.headers["hx-redirect"], "/console/review?mapping=staff");
    assert_eq!(status_of(&c.state, "1"), "adopt");
    let p = c
        .post_form(&op, "/console/review/staff/2/new", &[], true)
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(status_of(&c.state, "2"), "new");
    let p = c.get(Some(&op), "/console/review?all=1").await;
    assert!(p.body.contains("by olga"), "{}", p.body);
    assert!(p.body.contains(r#"data-reopen="2""#));
    let p = c
        .post_form(&op, "/console/review/staff/2/reopen", &[], true)
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(status_of(&c.state, "2"), "open");
    // Decided people leave the default list.
    let p = c.get(Some(&op), "/console/review").await;
    assert!(!p.body.contains(r#"data-review="1""#));
    assert!(p.body.contains(r#"data-review="2""#));
}

#[tokio::test]
async fn dead_letters_are_replayed_or_cancelled_and_deliveries_hide_secrets() {
    let c = console("");
    let (dead, pending) = {
        let mut store = Store::open(&c.state).unwrap();
        let now = Utc::now();
        let dead = store
            .enqueue("welcome", "staff", "1", "uid=1,ou=people", "created", now)
            .unwrap();
        store
            .step_failed(dead, 0, "the receiver answered 500", None, now)
            .unwrap();
        let pending = store
            .enqueue("welcome", "staff", "2", "uid=2,ou=people", "created", now)
            .unwrap();
        store
            .record_delivery(
                "welcome-hook",
                Some("1"),
                Some((dead, 0)),
                false,
                Some(500),
                3,
                1234,
                &json!({
                    "webhook": "welcome-hook",
                    "request": {
                        "method": "POST",
                        "url": "https://hooks.example.com/new",
                        "headers": [["Authorization", "Bearer s3cr3t-token"], ["X-Api-Key", "k3y-value"], ["Content-Type", "application/json"]],
                        "body": "{\"key\": \"1\"}"
                    },
                    "attempts": 3,
                    "status": 500,
                    "response_headers": [["content-type", "text/plain"]],
                    "response_body": "boom",
                    "ok": false,
                    "error": "webhook welcome-hook: the receiver answered 500",
                    "duration_ms": 1234,
                    "notes": ["attempt 1: 500, retried"]
                }),
                now,
            )
            .unwrap();
        (dead, pending)
    };
    let viewer = c.browser("vera", Role::Viewer);
    let p = c.get(Some(&viewer), "/console/outbox?state=dead").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("<h1>Dead letters</h1>"));
    assert!(p.body.contains(&format!(r#"data-outbox="{dead}""#)));
    assert!(!p.body.contains(&format!(r#"data-outbox="{pending}""#)));
    assert!(p.body.contains("the receiver answered 500"));
    assert!(!p.body.contains("data-replay="), "a viewer has no button");
    let p = c
        .post_form(
            &viewer,
            &format!("/console/outbox/{dead}/replay"),
            &[],
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);

    let op = c.browser("olga", Role::Operator);
    let p = c.get(Some(&op), "/console/outbox").await;
    assert!(p.body.contains(&format!(r#"data-replay="{dead}""#)));
    assert!(p.body.contains(&format!(r#"data-cancel="{pending}""#)));
    let p = c
        .htmx(
            &op,
            "POST",
            &format!("/console/outbox/{dead}/replay"),
            &[("state", "dead")],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!(p.headers["hx-redirect"], "/console/outbox?state=dead");
    let p = c.get(Some(&op), "/console/outbox?state=dead").await;
    assert!(p.body.contains("No dead letter"), "{}", p.body);
    // Replaying again: not a dead letter any more, the API's conflict inline.
    let p = c
        .htmx(&op, "POST", &format!("/console/outbox/{dead}/replay"), &[])
        .await;
    assert_eq!(p.status, StatusCode::CONFLICT, "{}", p.body);
    assert!(p.body.contains(r#"role="alert""#));
    let p = c
        .post_form(&op, &format!("/console/outbox/{pending}/cancel"), &[], true)
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let p = c.get(Some(&op), "/console/outbox?state=cancelled").await;
    assert!(p.body.contains(&format!(r#"data-outbox="{pending}""#)));

    // Deliveries: request and response, secret header values never shown.
    let p = c.get(Some(&viewer), "/console/deliveries").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains(r#"data-webhook="welcome-hook""#));
    assert!(
        p.body
            .contains("https:&#x2f;&#x2f;hooks.example.com&#x2f;new"),
        "{}",
        p.body
    );
    assert!(p.body.contains("Authorization: [redacted]"), "{}", p.body);
    assert!(p.body.contains("X-Api-Key: [redacted]"));
    assert!(p.body.contains("Content-Type: application&#x2f;json"));
    assert!(p.body.contains("boom") && p.body.contains("HTTP 500"));
    assert!(!p.body.contains("s3cr3t") && !p.body.contains("k3y-value"));
    let p = c
        .get(Some(&viewer), "/console/deliveries?webhook=other")
        .await;
    assert!(p.body.contains("No webhook call yet"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_run_and_their_page_says_what_it_found() {
    let (c, running) = serving("").await;
    let viewer = c.browser("vera", Role::Viewer);
    let p = c.get(Some(&viewer), "/console/orphans").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(
        !p.body.contains(r#"id="find-orphans""#),
        "a viewer has no button"
    );
    let p = c
        .post_form(&viewer, "/console/orphans", &[("mapping", "staff")], true)
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);

    let op = c.browser("olga", Role::Operator);
    let p = c.get(Some(&op), "/console/orphans").await;
    assert!(p.body.contains(r#"id="find-orphans""#));
    let p = c
        .post_form(&op, "/console/orphans", &[("mapping", "staff")], true)
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let to = p.headers["location"].to_str().unwrap().to_string();
    assert!(to.starts_with("/console/runs/"), "{to}");
    let mut body = String::new();
    for _ in 0..100 {
        body = c.get(Some(&op), &to).await.body;
        if body.contains(r#"id="run-status""#) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // No directory here: the run fails and says why.
    assert!(body.contains(r#"data-status="failed""#), "{body}");
    assert!(body.contains("The run failed"), "{body}");
    running.shutdown(std::time::Duration::from_secs(10)).await;
}
