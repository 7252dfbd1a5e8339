//! The console's settings, in process: roles, API tokens (shown once, revoked), the
//! configuration's history with its diff and Restore, notifications; a viewer sees no button
//! and a forged post is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod console_support;

use axum::http::StatusCode;
use console_support::console;
use hrsync_auth::Role;

fn un(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

const NOTIFY: &str = r#"
[[webhook]]
name = "chat"
method = "POST"
url = "http://127.0.0.1:9/hook"
body = '{"text": "{notify.text}"}'

[[notify]]
name = "ops-chat"
kind = "webhook"
webhook = "chat"
on = ["run_incomplete"]
"#;

#[tokio::test]
async fn an_api_token_is_shown_once_and_revoked() {
    let c = console("");
    let admin = c.browser("adam", Role::Admin);
    let p = c.get(Some(&admin), "/console/settings").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains(r#"id="token-form""#));
    let p = c
        .post_form(
            &admin,
            "/console/settings/tokens",
            &[
                ("name", "nightly-script"),
                ("role", "operator"),
                ("expires_in_days", "30"),
            ],
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!(p.headers["cache-control"], "no-store");
    let token = un(&p.body)
        .split(r#"id="new-token" readonly value=""#)
        .nth(1)
        .and_then(|r| r.split('"').next().map(str::to_string))
        .expect("the token on the answer page");
    assert!(token.len() > 20, "{token}");
    // It works, and is never shown again.
    let me = axum::http::Request::builder()
        .uri("/api/v1/session")
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(c.send(me).await.status, StatusCode::OK);
    let p = c.get(Some(&admin), "/console/settings").await;
    assert!(un(&p.body).contains(r#"data-token="nightly-script""#));
    for uri in ["/console/settings", "/console/", "/console/webhooks"] {
        assert!(
            !c.get(Some(&admin), uri).await.body.contains(&token),
            "{uri} shows the token"
        );
    }
    // A bad name: the API's reason inline.
    let p = c
        .post_form(
            &admin,
            "/console/settings/tokens",
            &[("name", "nightly-script"), ("role", "operator")],
            true,
        )
        .await;
    assert!(p.status.is_client_error(), "{}", p.body);
    assert!(p.body.contains(r#"role="alert""#));
    // A viewer sees no tokens and no form; a forged create is refused.
    let viewer = c.browser("vera", Role::Viewer);
    let p = c.get(Some(&viewer), "/console/settings").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(!p.body.contains("token-form") && !p.body.contains("nightly-script"));
    assert!(
        !un(&p.body)
            .split("<main")
            .nth(1)
            .unwrap()
            .contains("<button")
    );
    let p = c
        .post_form(
            &viewer,
            "/console/settings/tokens",
            &[("name", "mine"), ("role", "admin")],
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    let p = c
        .post_form(
            &viewer,
            "/console/settings/tokens/nightly-script/revoke",
            &[],
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    // Without the CSRF token, not even an admin.
    let p = c
        .post_form(
            &admin,
            "/console/settings/tokens/nightly-script/revoke",
            &[],
            false,
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    let p = c
        .post_form(
            &admin,
            "/console/settings/tokens/nightly-script/revoke",
            &[],
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let p = c.get(Some(&admin), "/console/settings").await;
    assert!(p.body.contains("revoked"), "{}", p.body);
    let me = axum::http::Request::builder()
        .uri("/api/v1/session")
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(c.send(me).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn roles_and_notifications_are_shown() {
    let c = console(NOTIFY);
    let op = c.browser("olga", Role::Operator);
    let p = c.get(Some(&op), "/console/settings").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let body = un(&p.body);
    assert!(body.contains(r#"data-signed-in="olga""#), "{body}");
    assert!(
        body.contains("cn=viewers,dc=example,dc=com"),
        "the role groups"
    );
    assert!(body.contains("root"), "the break-glass admin is named");
    assert!(
        body.contains(r#"data-notify="ops-chat""#) && body.contains("run_incomplete"),
        "{body}"
    );
    assert!(!body.contains("token-form"), "tokens are the admin's");
    assert!(!body.contains("data-notify-form"), "editing is the admin's");
    let p = c
        .post_form(
            &op,
            "/console/settings/notify/ops-chat",
            &[("on", "held"), ("hash", "x")],
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    // An admin chooses the causes; the TOML changes, its comments kept.
    std::fs::write(c.dir.path().join("bind.pw"), "nowhere").unwrap();
    let text = c.config_text().replace(
        r#"{ env = "HRSYNC_TEST_NOWHERE_PW" }"#,
        r#"{ file = "bind.pw" }"#,
    );
    std::fs::write(&c.config, &text).unwrap();
    let admin = c.browser("adam", Role::Admin);
    let p = c.get(Some(&admin), "/console/settings").await;
    let body = un(&p.body);
    assert!(body.contains(r#"data-notify-form="ops-chat""#), "{body}");
    let hash = body
        .split(r#"name="hash" value=""#)
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let p = c
        .post_form(
            &admin,
            "/console/settings/notify/ops-chat",
            &[
                ("hash", &hash),
                ("had_on", "1"),
                ("on", "held"),
                ("on", "dead_letter"),
                ("window_hours", "6"),
            ],
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let toml = c.config_text();
    assert!(
        toml.contains(r#"on = ["held", "dead_letter"]"#) && toml.contains("window_hours = 6"),
        "{toml}"
    );
    assert!(toml.contains("# The staff mapping."));
}

#[tokio::test]
async fn a_config_version_shows_its_diff_and_is_restored() {
    let c = console("");
    let admin = c.browser("adam", Role::Admin);
    // The bind password in a file, so that edits validate (a hand edit, recorded as one).
    std::fs::write(c.dir.path().join("bind.pw"), "nowhere").unwrap();
    let text = c.config_text().replace(
        r#"{ env = "HRSYNC_TEST_NOWHERE_PW" }"#,
        r#"{ file = "bind.pw" }"#,
    );
    std::fs::write(&c.config, &text).unwrap();
    let p = c.get(Some(&admin), "/console/settings").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let original = c.config_text();
    // An edit through the API (a pause needs no If-Match): one version in the history.
    let hash = hrsync_config::edit::ConfigFile::read(&c.config)
        .unwrap()
        .hash;
    let edit = serde_json::json!({"edits": [{"op": "set", "path": "lifecycle.max_record_drop_percent", "value": 12.5}], "comment": "tighter"});
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/api/v1/config/edits")
        .header("cookie", &admin.cookie)
        .header("x-csrf-token", &admin.csrf)
        .header("if-match", format!("\"{hash}\""))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(edit.to_string()))
        .unwrap();
    let r = c.send(req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(c.config_text().contains("12.5"));
    let p = c.get(Some(&admin), "/console/settings").await;
    let body = un(&p.body);
    let ids: Vec<String> = body
        .split(r#"data-version=""#)
        .skip(1)
        .filter_map(|s| s.split('"').next().map(str::to_string))
        .collect();
    assert!(!ids.is_empty(), "{body}");
    let newest = &ids[0];
    let p = c
        .get(Some(&admin), &format!("/console/settings/history/{newest}"))
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let body = un(&p.body);
    assert!(
        body.contains(r#"<span class="diff-add">+max_record_drop_percent = 12.5</span>"#),
        "{body}"
    );
    assert!(
        body.contains("This is the configuration as it is now"),
        "{body}"
    );
    // The version before: Restore (with the current hash), and the file is as it was.
    let older = ids.get(1).cloned().expect("the hand edit before");
    let p = c
        .get(Some(&admin), &format!("/console/settings/history/{older}"))
        .await;
    let body = un(&p.body);
    assert!(body.contains(r#"id="restore-form""#), "{body}");
    let hash = body
        .split(r#"name="hash" value=""#)
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    // A viewer cannot.
    let viewer = c.browser("vera", Role::Viewer);
    let vp = c
        .get(Some(&viewer), &format!("/console/settings/history/{older}"))
        .await;
    assert!(!vp.body.contains("restore-form"));
    let vp = c
        .post_form(
            &viewer,
            &format!("/console/settings/history/{older}/restore"),
            &[("hash", &hash)],
            true,
        )
        .await;
    assert_eq!(vp.status, StatusCode::FORBIDDEN);
    // A stale hash: refused inline, nothing changed.
    let p = c
        .post_form(
            &admin,
            &format!("/console/settings/history/{older}/restore"),
            &[("hash", "0000")],
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::PRECONDITION_FAILED, "{}", p.body);
    assert!(p.body.contains(r#"role="alert""#));
    let p = c
        .post_form(
            &admin,
            &format!("/console/settings/history/{older}/restore"),
            &[("hash", &hash)],
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(c.config_text(), original);
}
