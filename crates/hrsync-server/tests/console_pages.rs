//! The console's frame, in process: sign-in, the session layer (no session → the sign-in
//! page), the CSRF check of every state-changing request, security headers, roles in what a
//! page shows, and the dashboard.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod console_support;

use axum::http::StatusCode;
use console_support::console;
use hrsync_auth::Role;

#[tokio::test]
async fn without_a_session_every_page_sends_to_sign_in() {
    let c = console("");
    let p = c.get(None, "/console/?x=1").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(
        p.headers["location"],
        "/console/login?next=%2Fconsole%2F%3Fx%3D1"
    );
    let p = c.get(None, "/console/login").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(
        p.body
            .contains(r#"<label for="f-password">Password</label>"#)
    );
    // Assets need no session.
    let p = c.get(None, "/console/assets/console.css").await;
    assert_eq!(p.status, StatusCode::OK);
}

#[tokio::test]
async fn break_glass_sign_in_sets_the_api_cookie_and_comes_back() {
    let c = console("");
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/console/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(
            "user=root&password=correct+horse&next=%2Fconsole%2Fmappings",
        ))
        .unwrap();
    let p = c.send(req).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.headers["location"], "/console/mappings");
    let cookie = p.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    // A wrong password: the form again, with the API's reason and its status.
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/console/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(
            "user=root&password=nope&next=https%3A%2F%2Fevil.example",
        ))
        .unwrap();
    let p = c.send(req).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(p.body.contains(r#"role="alert""#), "{}", p.body);
    assert!(
        !p.body.contains("evil.example"),
        "an outside next is dropped: {}",
        p.body
    );
    assert!(
        !p.body.contains("nope"),
        "the typed password is never echoed"
    );
}

#[tokio::test]
async fn a_post_without_the_csrf_token_is_refused_before_the_api() {
    let c = console("");
    let admin = c.browser("adam", Role::Admin);
    let p = c.post_form(&admin, "/console/logout", &[], false).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    assert!(p.body.contains("CSRF"), "{}", p.body);
    // A wrong token is no better than none.
    let forged = console_support::Browser {
        csrf: "forged".into(),
        ..admin.clone()
    };
    let p = c.post_form(&forged, "/console/logout", &[], true).await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = c.get(Some(&admin), "/console/").await;
    assert_eq!(
        p.status,
        StatusCode::OK,
        "still signed in after refused sign-outs"
    );
    // With it, sign-out ends the session: the cookie no longer opens a page.
    let p = c.post_form(&admin, "/console/logout", &[], true).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let p = c.get(Some(&admin), "/console/").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn pages_carry_security_headers_and_the_dashboard_shows_mappings_by_role() {
    let c = console("");
    let viewer = c.browser("vera", Role::Viewer);
    let p = c.get(Some(&viewer), "/console/").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let csp = p.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(p.headers["cache-control"], "no-store");
    assert!(p.body.contains(r#"data-mapping="staff""#), "{}", p.body);
    assert!(p.body.contains("vera"));
    assert!(!p.body.contains("Plan now"), "a viewer sees no plan button");
    let op = c.browser("otto", Role::Operator);
    let p = c.get(Some(&op), "/console/").await;
    assert!(p.body.contains("Plan now"), "{}", p.body);
}
