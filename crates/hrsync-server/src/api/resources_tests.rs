//! The resource routes in process: a break-glass admin signs in and edits mappings and
//! integrations through the router, with `If-Match`, secrets and roles.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::Service;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use hrsync_auth::Role;
use hrsync_auth::settings::{AuthSettings, BreakGlass, DirectorySignIn, RoleGroups};
use hrsync_model::secret::Secret;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use tower::ServiceExt;

pub(crate) const BASE: &str = r#"[state]
path = "hrsync.db"

[[integration]]
name = "hr"
kind = "csv"
path = "people.csv"

[directory]
kind = "openldap"
url = "ldap://127.0.0.1:9"
bind_dn = "cn=admin,dc=example,dc=com"
bind_password = { file = "bind.pw" }
base_dn = "dc=example,dc=com"
users_ou = "ou=people,dc=example,dc=com"
object_classes = ["inetOrgPerson"]
key_attribute = "employeeNumber"

[[mapping]]
name = "staff"
integration = "hr"
endpoint = "rows"
primary_key = "id"
rdn_attribute = "uid"

[mapping.attributes]
uid = "{id}"
# the common name, as HR spells it
cn = "{name}"
sn = "{name}"
"#;

pub(crate) struct Api {
    pub dir: tempfile::TempDir,
    pub router: axum::Router,
    pub auth: std::sync::Arc<hrsync_auth::Auth>,
    cookie: String,
    csrf: String,
}

pub(crate) fn settings() -> AuthSettings {
    let mut s = AuthSettings::new(DirectorySignIn {
        url: "ldaps://127.0.0.1:9".into(),
        starttls: false,
        ca_cert: None,
        service_bind: None,
        user_base: "ou=people,dc=example,dc=com".into(),
        user_attribute: "uid".into(),
        groups: RoleGroups {
            admin: vec!["cn=admins,dc=example,dc=com".into()],
            ..Default::default()
        },
        timeout: DirectorySignIn::DEFAULT_TIMEOUT,
    });
    s.break_glass = Some(BreakGlass {
        user: "root".into(),
        password_hash: hrsync_auth::break_glass::hash_password(&Secret::new("pw".to_string()))
            .unwrap(),
    });
    s
}

impl Api {
    pub(crate) async fn start(text: &str) -> Api {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("people.csv"), "id,name\n1,Ann\n").unwrap();
        std::fs::write(dir.path().join("bind.pw"), "pw").unwrap();
        let path = dir.path().join("hrsync.toml");
        std::fs::write(&path, text).unwrap();
        let cfg = hrsync_config::Config::load(&path).unwrap();
        let svc = Service::with_auth(cfg, Some(settings())).unwrap();
        let auth = svc.auth.clone().unwrap();
        let router = super::router(svc, auth.clone(), false);
        let mut api = Api {
            dir,
            router,
            auth,
            cookie: String::new(),
            csrf: String::new(),
        };
        let resp = api
            .router
            .clone()
            .oneshot(
                Request::post("/api/v1/session")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(
                        json!({"user": "root", "password": "pw"}).to_string(),
                    ))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        let cookie = resp.headers()[header::SET_COOKIE].to_str().unwrap();
        api.cookie = cookie.split(';').next().unwrap().to_string();
        let body = body_json(resp).await;
        api.csrf = body["csrf_token"].as_str().unwrap().to_string();
        api
    }

    pub(crate) fn config_path(&self) -> std::path::PathBuf {
        self.dir.path().join("hrsync.toml")
    }

    pub(crate) fn text(&self) -> String {
        std::fs::read_to_string(self.config_path()).unwrap()
    }

    /// A request as the signed-in admin (`if_match`: the `If-Match` header).
    pub(crate) async fn send(
        &self,
        method: &str,
        uri: &str,
        if_match: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let mut b = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::COOKIE, &self.cookie)
            .header("x-csrf-token", &self.csrf);
        if let Some(m) = if_match {
            b = b.header(header::IF_MATCH, m);
        }
        self.call(b, body).await
    }

    pub(crate) async fn call(
        &self,
        b: axum::http::request::Builder,
        body: Option<Value>,
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let req = match body {
            Some(v) => b
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(v.to_string())),
            None => b.body(Body::empty()),
        }
        .unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        (status, headers, body_json(resp).await)
    }

    /// The file's hash (as `GET /api/v1/config` gives it).
    pub(crate) async fn hash(&self) -> String {
        let (s, h, _) = self.send("GET", "/api/v1/config", None, None).await;
        assert_eq!(s, StatusCode::OK);
        h[header::ETAG].to_str().unwrap().to_string()
    }
}

pub(crate) async fn body_json(resp: axum::response::Response) -> Value {
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

fn mode_of(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn a_mapping_is_created_read_replaced_and_deleted_with_if_match() {
    let api = Api::start(BASE).await;
    let (s, _, list) = api.send("GET", "/api/v1/mappings", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["items"][0]["name"], "staff");

    let new = json!({
        "name": "contractors", "integration": "hr", "endpoint": "rows",
        "primary_key": "id", "rdn_attribute": "uid",
        "attributes": {"uid": "{id}", "cn": "{name}", "sn": "{name}"}
    });
    // Without If-Match: 428; with a stale one: 412 with the current hash.
    let (s, _, _) = api
        .send("POST", "/api/v1/mappings", None, Some(new.clone()))
        .await;
    assert_eq!(s, StatusCode::PRECONDITION_REQUIRED);
    let (s, _, p) = api
        .send(
            "POST",
            "/api/v1/mappings",
            Some("\"0000\""),
            Some(new.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED);
    let hash = api.hash().await;
    assert_eq!(format!("\"{}\"", p["current_etag"].as_str().unwrap()), hash);

    let (s, h, r) = api
        .send("POST", "/api/v1/mappings", Some(&hash), Some(new.clone()))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["saved"], true);
    assert!(
        r["diff"]
            .as_str()
            .unwrap()
            .contains("+name = \"contractors\"")
    );
    let hash = h[header::ETAG].to_str().unwrap().to_string();
    // The same name again: 409.
    let (s, _, _) = api
        .send("POST", "/api/v1/mappings", Some(&hash), Some(new.clone()))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    let (s, h, one) = api
        .send("GET", "/api/v1/mappings/contractors", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(one["attributes"]["cn"], "{name}");
    assert_eq!(h[header::ETAG].to_str().unwrap(), hash);

    // A PUT of the existing mapping keeps the comment of a kept key.
    let mut staff = api
        .send("GET", "/api/v1/mappings/staff", None, None)
        .await
        .2;
    staff["description"] = json!("Everyone");
    let (s, h, r) = api
        .send("PUT", "/api/v1/mappings/staff", Some(&hash), Some(staff))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let text = api.text();
    assert!(
        text.contains("# the common name, as HR spells it\ncn = \"{name}\""),
        "{text}"
    );
    assert!(text.contains("description = \"Everyone\""));
    let hash = h[header::ETAG].to_str().unwrap().to_string();

    // An invalid mapping: 422 naming the problem, nothing written.
    let bad = json!({"name": "contractors", "integration": "nope", "endpoint": "rows",
        "primary_key": "id", "rdn_attribute": "uid", "attributes": {"uid": "{id}"}});
    let (s, _, p) = api
        .send(
            "PUT",
            "/api/v1/mappings/contractors",
            Some(&hash),
            Some(bad),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(api.hash().await, hash);

    let (s, _, r) = api
        .send("DELETE", "/api/v1/mappings/contractors", Some(&hash), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (s, _, _) = api
        .send("GET", "/api/v1/mappings/contractors", None, None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Each save is in the history and in the request audit.
    let (_, _, hist) = api.send("GET", "/api/v1/config/history", None, None).await;
    assert!(hist["items"].as_array().unwrap().len() >= 3);
    let (_, _, audit) = api.send("GET", "/api/v1/audit/requests", None, None).await;
    let details: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["detail"].as_str())
        .collect();
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("created mapping \"contractors\"")),
        "{details:?}"
    );
    assert!(
        details
            .iter()
            .any(|d| d.starts_with("deleted mapping \"contractors\""))
    );
}

#[tokio::test]
async fn a_secret_goes_to_a_0600_file_and_nowhere_else() {
    let api = Api::start(BASE).await;
    let hash = api.hash().await;
    let ice = json!({"name": "ice", "kind": "icehrm", "base_url": "http://127.0.0.1:9/app/api",
        "token": {"secret": "s3cr3t"}});
    let (s, h, r) = api
        .send("POST", "/api/v1/integrations", Some(&hash), Some(ice))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let hash = h[header::ETAG].to_str().unwrap().to_string();
    let mut seen = r.to_string();
    let text = api.text();
    assert!(!text.contains("s3cr3t"));
    let secrets = api.dir.path().join("secrets");
    let files: Vec<_> = std::fs::read_dir(&secrets)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    assert_eq!(std::fs::read_to_string(&files[0]).unwrap(), "s3cr3t");
    assert_eq!(mode_of(&files[0]), 0o600);
    assert!(
        text.contains(&format!("token = {{ file = \"{}\" }}", files[0].display())),
        "{text}"
    );

    // Shown as set, with its reference; sent back as shown, it is kept.
    let (_, _, one) = api
        .send("GET", "/api/v1/integrations/ice", None, None)
        .await;
    assert_eq!(one["token"]["set"], true);
    seen.push_str(&one.to_string());
    let mut back = one.clone();
    back["timeout_secs"] = json!(20);
    back["token"] = json!({"set": true});
    let (s, h, r) = api
        .send("PUT", "/api/v1/integrations/ice", Some(&hash), Some(back))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    seen.push_str(&r.to_string());
    let hash = h[header::ETAG].to_str().unwrap().to_string();
    assert!(api.text().contains(&files[0].display().to_string()));

    // A new value replaces the file; the old one is removed.
    let mut again = one.clone();
    again["token"] = json!({"secret": "n3w-s3cr3t"});
    let (s, h, r) = api
        .send("PUT", "/api/v1/integrations/ice", Some(&hash), Some(again))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    seen.push_str(&r.to_string());
    let hash = h[header::ETAG].to_str().unwrap().to_string();
    assert!(!files[0].exists());
    let files: Vec<_> = std::fs::read_dir(&secrets)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    assert_eq!(std::fs::read_to_string(&files[0]).unwrap(), "n3w-s3cr3t");

    // A literal secret: 422, nothing written, no file left behind.
    let mut literal = one.clone();
    literal["token"] = json!("plain-s3cr3t");
    let (s, _, p) = api
        .send(
            "PUT",
            "/api/v1/integrations/ice",
            Some(&hash),
            Some(literal),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["type"], "urn:hrsync:problem:literal-secret");
    seen.push_str(&p.to_string());
    // A refused save (stale hash) leaves no secret file.
    let mut stale = one.clone();
    stale["token"] = json!({"secret": "st4le"});
    let (s, _, _) = api
        .send(
            "PUT",
            "/api/v1/integrations/ice",
            Some("\"0\""),
            Some(stale),
        )
        .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED);
    assert_eq!(std::fs::read_dir(&secrets).unwrap().count(), 1);

    for uri in [
        "/api/v1/integrations",
        "/api/v1/config",
        "/api/v1/config/history",
        "/api/v1/audit/requests",
    ] {
        seen.push_str(&api.send("GET", uri, None, None).await.2.to_string());
    }
    let (_, _, hist) = api.send("GET", "/api/v1/config/history", None, None).await;
    for v in hist["items"].as_array().unwrap() {
        let id = v["id"].as_i64().unwrap();
        seen.push_str(
            &api.send("GET", &format!("/api/v1/config/history/{id}"), None, None)
                .await
                .2
                .to_string(),
        );
    }
    for s in ["s3cr3t", "n3w-s3cr3t", "plain-s3cr3t", "st4le"] {
        assert!(
            !seen.contains(&format!("\"{s}\"")) && !seen.contains(&format!("= \\\"{s}")),
            "{s} shown"
        );
    }
    assert!(!seen.contains("s3cr3t\""), "a secret value was shown");
}

#[tokio::test]
async fn a_viewer_reads_but_never_writes() {
    let api = Api::start(BASE).await;
    let token = api
        .auth
        .create_token("ro", Role::Viewer, None, "test")
        .unwrap();
    let hash = api.hash().await;
    let bearer = format!("Bearer {}", token.secret);
    let as_viewer = |method: &str, uri: &str| {
        Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, &bearer)
            .header(header::IF_MATCH, &hash)
    };
    let (s, _, _) = api
        .call(as_viewer("GET", "/api/v1/mappings/staff"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = api
        .call(as_viewer("DELETE", "/api/v1/mappings/staff"), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = api
        .call(
            as_viewer("POST", "/api/v1/webhooks"),
            Some(json!({"name": "x", "method": "POST", "url": "http://127.0.0.1:9/"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(api.text(), BASE);
}

#[tokio::test]
async fn every_resource_route_is_in_the_openapi_document() {
    let doc = super::openapi();
    let paths: Vec<&String> = doc.paths.paths.keys().collect();
    for p in [
        "/api/v1/integrations",
        "/api/v1/integrations/{name}",
        "/api/v1/integrations/{name}/endpoints",
        "/api/v1/integrations/{name}/endpoints/{endpoint}",
        "/api/v1/mappings/{name}",
        "/api/v1/webhooks",
        "/api/v1/orchestrations/{name}",
        "/api/v1/automations",
    ] {
        assert!(
            paths.iter().any(|x| x.as_str() == p),
            "{p} missing: {paths:?}"
        );
    }
}

#[tokio::test]
async fn an_automation_is_paused_resumed_and_its_next_runs_shown() {
    let text = format!(
        "{BASE}\n[[automation]]\nname = \"nightly\"\nmapping = \"staff\"\nschedule = \"0 2 * * *\"\n"
    );
    let api = Api::start(&text).await;
    let (s, _, n) = api
        .send(
            "GET",
            "/api/v1/automations/nightly/next?count=3",
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{n}");
    assert_eq!(n["next"].as_array().unwrap().len(), 3);
    assert!(n["next"][0].as_str().unwrap().contains("T02:00:00"));
    assert!(!n["description"].as_str().unwrap().is_empty());
    assert_eq!(n["enabled"], true);
    // No If-Match needed for a pause.
    let (s, _, r) = api
        .send("POST", "/api/v1/automations/nightly/pause", None, None)
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert!(api.text().contains("enabled = false"));
    let (_, _, n) = api
        .send("GET", "/api/v1/automations/nightly/next", None, None)
        .await;
    assert_eq!(n["enabled"], false);
    let (s, _, _) = api
        .send("POST", "/api/v1/automations/nightly/resume", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(api.text().contains("enabled = true"));
    let (s, _, _) = api
        .send("POST", "/api/v1/automations/nope/pause", None, None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_csv_endpoint_is_tested_for_real() {
    let api = Api::start(BASE).await;
    let (s, _, t) = api
        .send(
            "POST",
            "/api/v1/integrations/hr/endpoints/default/test",
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["fetch"]["records"], 1);
    assert_eq!(t["fetch"]["complete"], true);
    assert!(t["profile"]["fields"]["name"].is_object(), "{t}");
}

#[tokio::test]
async fn an_endpoint_of_an_integration_is_added_read_replaced_and_removed() {
    let api = Api::start(BASE).await;
    // A custom REST integration with its first endpoint, the token sent write-only.
    let acme = json!({
        "name": "acme", "kind": "rest", "base_url": "http://127.0.0.1:9/api",
        "token": {"secret": "acme-token-value-123"},
        "endpoint": [{"name": "employees", "path": "/employees", "records": "$.items[*]", "key": "id"}]
    });
    let (s, _, r) = api
        .send(
            "POST",
            "/api/v1/integrations",
            Some(&api.hash().await),
            Some(acme),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    // "+ Add API endpoint".
    let details = json!({"name": "details", "path": "/employees/{employeeId}", "key": "employee_id",
        "for_each": {"endpoint": "employees", "field": "id", "as": "employeeId"}});
    let (s, _, r) = api
        .send(
            "POST",
            "/api/v1/integrations/acme/endpoints",
            Some(&api.hash().await),
            Some(details),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let (s, _, list) = api
        .send("GET", "/api/v1/integrations/acme/endpoints", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["employees", "details"], "{list}");
    // Replaced: the path changes in the file.
    let (s, _, r) = api
        .send(
            "PUT",
            "/api/v1/integrations/acme/endpoints/details",
            Some(&api.hash().await),
            Some(
                json!({"name": "details", "path": "/people/{employeeId}", "key": "employee_id",
                "for_each": {"endpoint": "employees", "field": "id", "as": "employeeId"}}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert!(api.text().contains("/people/{employeeId}"));
    let (s, _, one) = api
        .send(
            "GET",
            "/api/v1/integrations/acme/endpoints/details",
            None,
            None,
        )
        .await;
    assert_eq!(
        (s, one["path"].as_str()),
        (StatusCode::OK, Some("/people/{employeeId}")),
        "{one}"
    );
    // Removed.
    let (s, _, r) = api
        .send(
            "DELETE",
            "/api/v1/integrations/acme/endpoints/details",
            Some(&api.hash().await),
            None,
        )
        .await;
    assert!(s.is_success(), "{s} {r}");
    let (s, _, _) = api
        .send(
            "GET",
            "/api/v1/integrations/acme/endpoints/details",
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(
        !api.text().contains("acme-token-value-123"),
        "the token never enters the file"
    );
}
