//! The API's router against its OpenAPI document, in process: every documented route exists,
//! every route but sign-in needs credentials, every state-changing route refuses a viewer
//! (so a new route without a role check fails here), the document is valid OpenAPI 3.1, and
//! a session's state-changing requests need its CSRF token.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use hrsync_auth::break_glass::hash_password;
use hrsync_auth::{Auth, AuthSettings, BreakGlass, DirectorySignIn, Role, RoleGroups};
use hrsync_model::secret::Secret;
use hrsync_server::{Service, api};
use std::path::Path;
use std::sync::Arc;
use tower::ServiceExt;

const ROOT_PASSWORD: &str = "break-glass-test-password";

/// Routes anyone may call: signing in, and signing out (which needs a session of its own).
const OPEN_ROUTES: &[(&str, &str)] = &[("POST", "/api/v1/session")];
/// State-changing routes a viewer may call: ending their own session.
const VIEWER_MAY_CHANGE: &[(&str, &str)] = &[("DELETE", "/api/v1/session")];

fn settings() -> AuthSettings {
    let mut s = AuthSettings::new(DirectorySignIn {
        url: "ldaps://127.0.0.1:1".into(),
        starttls: false,
        ca_cert: None,
        service_bind: None,
        user_base: "dc=example,dc=com".into(),
        user_attribute: "uid".into(),
        groups: RoleGroups {
            viewer: vec!["cn=viewers,dc=example,dc=com".into()],
            operator: vec!["cn=operators,dc=example,dc=com".into()],
            admin: vec!["cn=admins,dc=example,dc=com".into()],
        },
        timeout: DirectorySignIn::DEFAULT_TIMEOUT,
    });
    s.break_glass = Some(BreakGlass {
        user: "root".into(),
        password_hash: hash_password(&Secret::new(ROOT_PASSWORD)).unwrap(),
    });
    s
}

struct Api {
    _dir: tempfile::TempDir,
    router: Router,
    auth: Arc<Auth>,
}

fn api() -> Api {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/icehrm-openldap.toml");
    let text = std::fs::read_to_string(example).unwrap();
    let path = dir.path().join("hrsync.toml");
    std::fs::write(&path, &text).unwrap();
    let cfg = hrsync_config::Config::load(&path).unwrap();
    let svc = Service::with_auth(cfg, Some(settings())).unwrap();
    let auth = Arc::new(Auth::open(settings(), &dir.path().join("hrsync.db")).unwrap());
    let router = api::router(svc, auth.clone(), false);
    Api {
        _dir: dir,
        router,
        auth,
    }
}

/// Every (method, path) of the document.
fn documented() -> Vec<(String, String)> {
    let doc = serde_json::to_value(api::openapi()).unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                out.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    out.sort();
    out
}

/// A concrete path for a templated one (`{id}` → `1`).
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => in_param = true,
            '}' => {
                in_param = false;
                out.push('1');
            }
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

async fn call(
    router: &Router,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> (StatusCode, String) {
    let mut req = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json");
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = router
        .clone()
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn bearer(auth: &Auth, role: Role) -> (&'static str, String) {
    let name = format!("test-{role}-{}", std::process::id());
    let t = auth.create_token(&name, role, None, "test").unwrap();
    ("authorization", format!("Bearer {}", t.secret))
}

#[tokio::test]
async fn every_state_changing_route_refuses_a_viewer() {
    let a = api();
    let viewer = bearer(&a.auth, Role::Viewer);
    let mut checked = 0;
    for (method, path) in documented() {
        let key = (method.as_str(), path.as_str());
        if method == "GET" || OPEN_ROUTES.contains(&key) || VIEWER_MAY_CHANGE.contains(&key) {
            continue;
        }
        let (status, body) = call(
            &a.router,
            &method,
            &concrete(&path),
            std::slice::from_ref(&viewer),
            "{}",
        )
        .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{method} {path} answered a viewer with {status}: {body}\n(every state-changing route must check its role before anything else)"
        );
        assert!(
            body.contains("urn:hrsync:problem:forbidden"),
            "{method} {path}: {body}"
        );
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} state-changing routes found");
}

#[tokio::test]
async fn nothing_but_sign_in_answers_without_credentials() {
    let a = api();
    let mut checked = 0;
    for (method, path) in documented() {
        if OPEN_ROUTES.contains(&(method.as_str(), path.as_str())) {
            continue;
        }
        let (status, body) = call(&a.router, &method, &concrete(&path), &[], "{}").await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} answered without credentials with {status}: {body}"
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} routes found");
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let a = api();
    let admin = bearer(&a.auth, Role::Admin);
    for (method, path) in documented() {
        let (status, body) = call(
            &a.router,
            &method,
            &concrete(&path),
            std::slice::from_ref(&admin),
            "{}",
        )
        .await;
        // 404 only as a problem about the resource (no such id), never the router's empty one.
        assert!(
            status != StatusCode::METHOD_NOT_ALLOWED
                && !(status == StatusCode::NOT_FOUND && body.is_empty()),
            "{method} {path} is documented but not routed ({status})"
        );
    }
    // Routes are added only through utoipa_axum's routes!(), which documents them: no plain
    // axum `.route(` in the API's sources.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            !text.contains(".route("),
            "{} adds a route outside routes!(): it would be missing from the OpenAPI document",
            p.display()
        );
    }
}

/// The document passes an OpenAPI 3.1 validator (openapi-spec-validator, installed by
/// scripts/install-deps.sh; HRSYNC_OPENAPI_VALIDATOR names another command).
#[test]
fn the_document_is_valid_openapi_3_1() {
    let doc = api::openapi().to_pretty_json().unwrap();
    let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert!(
        v["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        v["openapi"]
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &doc).unwrap();
    let cmd = std::env::var("HRSYNC_OPENAPI_VALIDATOR")
        .unwrap_or_else(|_| "openapi-spec-validator".into());
    let out = std::process::Command::new(&cmd)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {cmd} ({e}): run scripts/install-deps.sh, or set HRSYNC_OPENAPI_VALIDATOR")
        });
    assert!(
        out.status.success(),
        "the OpenAPI document is not valid:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_session_needs_its_csrf_token_and_ends_at_sign_out() {
    let a = api();
    let (status, body) = call(
        &a.router,
        "POST",
        "/api/v1/session",
        &[],
        &serde_json::json!({"user": "root", "password": ROOT_PASSWORD}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["role"], "admin");
    assert!(!body.contains(ROOT_PASSWORD));
    let csrf = v["csrf_token"].as_str().unwrap().to_string();
    // The cookie as the sign-in set it.
    let resp = a
        .router
        .clone()
        .oneshot(
            Request::post("/api/v1/session")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    serde_json::json!({"user": "root", "password": ROOT_PASSWORD}).to_string(),
                ))
                .unwrap(),
        )
        .await
        .unwrap();
    let set_cookie = resp.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let csrf2 = v["csrf_token"].as_str().unwrap().to_string();
    assert_ne!(csrf, csrf2, "each sign-in is a new session");
    let cookie = ("cookie", set_cookie.split(';').next().unwrap().to_string());
    let new_token = serde_json::json!({"name": "ci", "role": "viewer"}).to_string();
    // Without the CSRF token: refused, and nothing created.
    let (status, body) = call(
        &a.router,
        "POST",
        "/api/v1/tokens",
        std::slice::from_ref(&cookie),
        &new_token,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("csrf"), "{body}");
    assert!(a.auth.tokens().unwrap().iter().all(|t| t.name != "ci"));
    // With it: created.
    let with_csrf = [cookie.clone(), ("x-csrf-token", csrf2.clone())];
    let (status, body) = call(&a.router, "POST", "/api/v1/tokens", &with_csrf, &new_token).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Reads need no CSRF token.
    let (status, _) = call(
        &a.router,
        "GET",
        "/api/v1/session",
        std::slice::from_ref(&cookie),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Sign out; the cookie stops working.
    let (status, body) = call(&a.router, "DELETE", "/api/v1/session", &with_csrf, "").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) = call(
        &a.router,
        "GET",
        "/api/v1/session",
        std::slice::from_ref(&cookie),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Every state-changing request above is in the request audit, with who and what.
    let admin = bearer(&a.auth, Role::Admin);
    let (status, body) = call(
        &a.router,
        "GET",
        "/api/v1/audit/requests?operator=break-glass:root",
        &[admin],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let rows: Vec<(String, u64, String)> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                format!(
                    "{} {}",
                    r["method"].as_str().unwrap(),
                    r["route"].as_str().unwrap()
                ),
                r["status"].as_u64().unwrap(),
                r["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        rows.iter()
            .any(|r| r.0 == "POST /api/v1/tokens" && r.1 == 201 && r.2.contains("\"ci\"")),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.0 == "POST /api/v1/tokens" && r.1 == 403),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.0 == "DELETE /api/v1/session" && r.1 == 204),
        "{rows:?}"
    );
    assert!(!body.contains(ROOT_PASSWORD));
}
