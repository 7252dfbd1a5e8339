//! The REST API through HTTP only, against `hrsync serve` (the real binary), a real slapd
//! (directory sign-in over LDAPS, the accounts) and the IceHrm emulator: operators sign in
//! with directory accounts and act by their roles; a mapping is created by API, planned,
//! approved by a second person, applied with progress as server-sent events, and audited
//! under the operator's name; the configuration is edited with If-Match, keeps its comments,
//! and restores; sessions, CSRF, throttling and tokens hold; nothing captured holds a secret.

use crate::common::*;
use ldap3::Ldap;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;

pub(crate) const PASSWORD: &str = "Op3rator-pass-Λ";

pub(crate) async fn add_ops(ldap: &mut Ldap, ops: &str) {
    let add = |dn: String, attrs: Vec<(&'static str, Vec<String>)>| {
        let attrs: Vec<(String, HashSet<String>)> = attrs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.into_iter().collect()))
            .collect();
        (dn, attrs)
    };
    let mut entries = vec![add(
        ops.to_string(),
        vec![
            ("objectClass", vec!["organizationalUnit".into()]),
            ("ou", vec![ops.split(',').next().unwrap()[3..].to_string()]),
        ],
    )];
    for u in ["alice", "adam", "victor", "tess"] {
        entries.push(add(
            format!("uid={u},{ops}"),
            vec![
                ("objectClass", vec!["inetOrgPerson".into()]),
                ("uid", vec![u.into()]),
                ("cn", vec![u.into()]),
                ("sn", vec![u.into()]),
                ("userPassword", vec![PASSWORD.into()]),
            ],
        ));
    }
    for (g, members) in [
        ("operators", vec!["alice", "tess"]),
        ("admins", vec!["adam"]),
        ("viewers", vec!["victor"]),
    ] {
        entries.push(add(
            format!("cn=hrsync-{g},{ops}"),
            vec![
                ("objectClass", vec!["groupOfNames".into()]),
                ("cn", vec![format!("hrsync-{g}")]),
                (
                    "member",
                    members.iter().map(|m| format!("uid={m},{ops}")).collect(),
                ),
            ],
        ));
    }
    for (dn, attrs) in entries {
        let attrs: Vec<(&str, HashSet<&str>)> = attrs
            .iter()
            .map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect()))
            .collect();
        ldap.add(&dn, attrs).await.unwrap().success().unwrap();
    }
}

/// A receiver of webhook calls: each call's path and body; answers 201.
pub(crate) async fn receiver() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
) {
    let seen: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>> = Default::default();
    let s = seen.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri, body: String| {
        let s = s.clone();
        async move {
            s.lock().unwrap().push((uri.path().to_string(), body));
            (axum::http::StatusCode::CREATED, "{\"received\":true}")
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{addr}"), seen)
}

/// A daemon a test started: killed and reaped when dropped, so a failing assertion never
/// leaves an `hrsync serve` running.
pub(crate) struct Daemon(pub(crate) std::process::Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for Daemon {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Daemon {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

/// A signed-in client: its cookie and CSRF token, or a bearer token.
#[derive(Clone)]
pub(crate) struct Who {
    pub(crate) cookie: Option<String>,
    pub(crate) csrf: Option<String>,
    pub(crate) bearer: Option<String>,
}

pub(crate) struct Api {
    pub(crate) http: Client,
    pub(crate) base: String,
}

impl Api {
    pub(crate) async fn call(
        &self,
        who: Option<&Who>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        self.call_with(who, method, path, body, &[]).await
    }

    pub(crate) async fn call_with(
        &self,
        who: Option<&Who>,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, String)],
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        if let Some(w) = who {
            if let Some(c) = &w.cookie {
                rb = rb.header("cookie", c);
            }
            if let Some(c) = &w.csrf {
                rb = rb.header("x-csrf-token", c);
            }
            if let Some(b) = &w.bearer {
                rb = rb.bearer_auth(b);
            }
        }
        for (k, v) in headers {
            rb = rb.header(*k, v);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v, headers)
    }

    pub(crate) async fn sign_in(
        &self,
        user: &str,
        password: &str,
    ) -> (StatusCode, Option<Who>, Value) {
        let resp = self
            .http
            .post(format!("{}/api/v1/session", self.base))
            .json(&json!({"user": user, "password": password}))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let cookie = resp
            .headers()
            .get("set-cookie")
            .map(|c| c.to_str().unwrap().split(';').next().unwrap().to_string());
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        let who = cookie.map(|cookie| Who {
            cookie: Some(cookie),
            csrf: v["csrf_token"].as_str().map(str::to_string),
            bearer: None,
        });
        (status, who, v)
    }

    /// Starts `hrsync serve -c cfg` listening on `port` (its output in `dir`/serve.log and
    /// serve.err) and waits until it answers `/healthz`.
    pub(crate) async fn serve(
        dir: &std::path::Path,
        cfg: &std::path::Path,
        port: u16,
    ) -> (Daemon, Api) {
        let err = dir.join("serve.err");
        let mut daemon = std::process::Command::new(env!("CARGO_BIN_EXE_hrsync"))
            .args(["serve", "-c"])
            .arg(cfg)
            .env("HRSYNC_LOG", "info")
            .stdout(std::fs::File::create(dir.join("serve.log")).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        // A new connection per request: a saved configuration makes the daemon reload, which
        // closes idle keep-alive connections; a request sent on a pooled one at that instant
        // fails with the connection closed (HTTP/1.1 keep-alive's race, which browsers absorb
        // by retrying), while a new connection waits in the kept listener's backlog (or, accepted
        // just before the reload, is still answered: listen::DRAIN_GRACE).
        let api = Api {
            http: Client::builder().pool_max_idle_per_host(0).build().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
        };
        let mut waited = 0;
        while api
            .http
            .get(format!("{}/healthz", api.base))
            .send()
            .await
            .is_err()
        {
            assert!(
                waited < 150 && daemon.try_wait().unwrap().is_none(),
                "the daemon did not start: {}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
            waited += 1;
        }
        (Daemon(daemon), api)
    }

    /// Starts a saved plan of `mapping` as `who` once the daemon has reloaded the config that
    /// added it (a 404 until then): the run id.
    pub(crate) async fn plan_once_loaded(&self, who: &Who, mapping: &str) -> i64 {
        let mut waited = 0;
        loop {
            let (s, v, _) = self
                .call(
                    Some(who),
                    Method::POST,
                    "/api/v1/runs",
                    Some(json!({"mapping": mapping, "mode": "plan", "save": true})),
                )
                .await;
            if s == StatusCode::ACCEPTED {
                return v["run_id"].as_i64().unwrap();
            }
            assert!(
                waited < 100,
                "the new mapping never became runnable: {s} {v}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
            waited += 1;
        }
    }

    pub(crate) async fn etag(&self, who: &Who) -> String {
        let (s, v, h) = self
            .call(Some(who), Method::GET, "/api/v1/config", None)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        h["etag"].to_str().unwrap().to_string()
    }

    /// The run's server-sent events until `finished`: their names and the last data.
    pub(crate) async fn events(&self, who: &Who, run: i64) -> (Vec<String>, Value) {
        let mut resp = self
            .http
            .get(format!("{}/api/v1/runs/{run}/events", self.base))
            .header("cookie", who.cookie.clone().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let mut buf = String::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        while let Ok(Some(chunk)) = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .unwrap_or(Ok(None))
        {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            if buf.contains("event: finished") && buf.ends_with("\n\n") {
                break;
            }
        }
        let mut names = Vec::new();
        let mut last = Value::Null;
        for block in buf.split("\n\n") {
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    names.push(n.to_string());
                }
                if let Some(d) = line.strip_prefix("data: ") {
                    last = serde_json::from_str(d).unwrap_or(Value::Null);
                }
            }
        }
        (names, last)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_drive_a_mapping_from_plan_to_audit_through_the_api() {
    let fx = Fx::new("api", 12, "uid", STAFF_ATTRS).await;
    let env = ldap_env();
    let ldaps = std::env::var("HRSYNC_TEST_LDAPS_URL")
        .expect("HRSYNC_TEST_LDAPS_URL: run through scripts/test.sh");
    let ca = std::env::var("HRSYNC_TEST_LDAP_CA_CERT")
        .expect("HRSYNC_TEST_LDAP_CA_CERT: run through scripts/test.sh");
    let ops = format!("ou=api-ops-{},{}", std::process::id(), env.base);
    add_ops(&mut admin().await, &ops).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The fixture's mapping is switched off: the one that runs is created through the API.
    let text = std::fs::read_to_string(&fx.cfg_path)
        .unwrap()
        .replace("name = \"staff\"\n", "name = \"staff\"\nenabled = false\n");
    let text = text
        + &format!(
            r#"
# The daemon and who may use its API (this comment must survive API edits).
[server]
listen = "127.0.0.1:{port}"

[server.auth]
url = "{ldaps}"
ca_cert = "{ca}"
bind_dn = "{bind_dn}"
bind_password = {{ file = "ldap.pw" }}
user_base = "{ops}"
groups = {{ viewer = ["cn=hrsync-viewers,{ops}"], operator = ["cn=hrsync-operators,{ops}"], admin = ["cn=hrsync-admins,{ops}"] }}
"#,
            bind_dn = env.bind_dn
        );
    std::fs::write(&fx.cfg_path, &text).unwrap();
    let log = fx.dir.path().join("serve.log");
    let (mut daemon, api) = Api::serve(fx.dir.path(), &fx.cfg_path, port).await;
    let mut captured = String::new();

    // Directory accounts sign in with the role of their group.
    let (s, alice, v) = api.sign_in("alice", PASSWORD).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["role"], "operator");
    let alice = alice.unwrap();
    let (s, adam, v) = api.sign_in("adam", PASSWORD).await;
    assert_eq!(
        (s, v["role"].as_str()),
        (StatusCode::CREATED, Some("admin")),
        "{v}"
    );
    let adam = adam.unwrap();
    let (_, victor, v) = api.sign_in("victor", PASSWORD).await;
    assert_eq!(v["role"], "viewer");
    let victor = victor.unwrap();

    // The tenth wrong password is throttled (429), and then even the right one is.
    let mut last = StatusCode::OK;
    for _ in 0..10 {
        last = api.sign_in("tess", "wrong-password").await.0;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        api.sign_in("tess", PASSWORD).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );

    // An operator cannot edit the configuration; an admin can, with If-Match.
    let mapping = json!({
        "name": "api-staff",
        "description": "made through the API",
        "category": "user-provisioning",
        "integration": "icehrm",
        "endpoint": "get_employees",
        "primary_key": "employee_id",
        "rdn_attribute": "uid",
        "approval": {"require": ["create"], "four_eyes": true},
        "attributes": {
            "uid": "{employee_id|lower}",
            "cn": {"format": "{first_name} {last_name}", "required": true},
            "sn": {"format": "{last_name}", "required": true},
            "mail": "{work_email}",
            "departmentNumber": "{department.display}"
        }
    });
    let edit = json!({"edits": [{"op": "append", "path": "mapping", "value": mapping}], "comment": "first mapping"});
    let etag = api.etag(&adam).await;
    let (s, v, _) = api
        .call_with(
            Some(&alice),
            Method::POST,
            "/api/v1/config/edits",
            Some(edit.clone()),
            &[("if-match", etag.clone())],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    // A broken format is refused with the key, and nothing is written.
    let mut broken = edit.clone();
    broken["edits"][0]["value"]["attributes"]["mail"] = json!("{work_email|nosuchfilter}");
    let (s, v, _) = api
        .call_with(
            Some(&adam),
            Method::POST,
            "/api/v1/config/edits",
            Some(broken),
            &[("if-match", etag.clone())],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(
        std::fs::read_to_string(&fx.cfg_path).unwrap(),
        text,
        "nothing written"
    );
    // Two editors with the same If-Match: one saves, the other gets 412.
    let rename = json!({"edits": [{"op": "set", "path": "state.keep_hr_snapshots", "value": 3}]});
    let im = [("if-match", etag.clone())];
    let (a, b) = tokio::join!(
        api.call_with(
            Some(&adam),
            Method::POST,
            "/api/v1/config/edits",
            Some(edit.clone()),
            &im
        ),
        api.call_with(
            Some(&adam),
            Method::POST,
            "/api/v1/config/edits",
            Some(rename),
            &im
        ),
    );
    let mut codes = [a.0, b.0];
    codes.sort();
    assert_eq!(
        codes,
        [StatusCode::OK, StatusCode::PRECONDITION_FAILED],
        "{} / {}",
        a.1,
        b.1
    );
    if a.0 != StatusCode::OK {
        // The mapping lost the race: add it again on the current hash.
        let etag = api.etag(&adam).await;
        let (s, v, _) = api
            .call_with(
                Some(&adam),
                Method::POST,
                "/api/v1/config/edits",
                Some(edit.clone()),
                &[("if-match", etag)],
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let saved = std::fs::read_to_string(&fx.cfg_path).unwrap();
    assert!(saved.contains("api-staff"), "{saved}");
    assert!(
        saved.contains(
            "# The daemon and who may use its API (this comment must survive API edits)."
        )
    );
    // The daemon reloads the saved file (as on SIGHUP): wait until the mapping can run.
    let run = api.plan_once_loaded(&alice, "api-staff").await;
    // (Sessions live in the state database: they outlive the reload.)
    let (names, last) = api.events(&alice, run).await;
    assert_eq!(
        names.first().map(String::as_str),
        Some("started"),
        "{names:?}"
    );
    assert_eq!(
        names.last().map(String::as_str),
        Some("finished"),
        "{names:?}"
    );
    assert!(
        ["ok", "awaiting_approval"].contains(&last["status"].as_str().unwrap_or("")),
        "{last}"
    );
    // A viewer cannot approve; the planner cannot approve her own plan; an admin can.
    let approve = format!("/api/v1/plans/{run}/approve");
    let (s, _, _) = api
        .call(Some(&victor), Method::POST, &approve, Some(json!({})))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v, _) = api
        .call(Some(&alice), Method::POST, &approve, Some(json!({})))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(v["type"].as_str().unwrap().contains("four-eyes"), "{v}");
    let (s, v, _) = api
        .call(
            Some(&adam),
            Method::POST,
            &approve,
            Some(json!({"comment": "checked"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // A viewer token cannot apply; the operator applies the approved plan, watching it.
    let viewer_token = {
        let (s, v, _) = api
            .call(
                Some(&adam),
                Method::POST,
                "/api/v1/tokens",
                Some(json!({"name": "dashboard", "role": "viewer"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        captured.push_str(&v.to_string());
        Who {
            cookie: None,
            csrf: None,
            bearer: Some(v["token"].as_str().unwrap().to_string()),
        }
    };
    let apply = json!({"mapping": "api-staff", "mode": "apply", "plan": run});
    let (s, _, _) = api
        .call(
            Some(&viewer_token),
            Method::POST,
            "/api/v1/runs",
            Some(apply.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v, _) = api
        .call(Some(&alice), Method::POST, "/api/v1/runs", Some(apply))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let applied = v["run_id"].as_i64().unwrap();
    let (names, last) = api.events(&alice, applied).await;
    assert!(names.iter().any(|n| n == "applying"), "{names:?}");
    assert_eq!(last["status"], "ok", "{last}");
    let created = last["applied_ok"].as_u64().unwrap();
    assert!(created >= 5, "{last}");
    assert_eq!(
        fx.search("(objectClass=inetOrgPerson)").await.len() as u64,
        created
    );
    // The audit has every change under Alice's name.
    let (s, v, _) = api
        .call(
            Some(&victor),
            Method::GET,
            "/api/v1/audit?mapping=api-staff&kind=create&limit=500",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let rows = v["items"].as_array().unwrap();
    assert_eq!(rows.len() as u64, created, "{v}");
    assert!(rows.iter().all(|r| r["operator"] == "alice"), "{v}");
    // The run's state: who, how.
    let (_, v, _) = api
        .call(
            Some(&victor),
            Method::GET,
            &format!("/api/v1/runs/{applied}"),
            None,
        )
        .await;
    assert_eq!(
        (v["run"]["operator"].as_str(), v["run"]["trigger"].as_str()),
        (Some("alice"), Some("api")),
        "{v}"
    );

    // An integration created by API, its secret sent write-only; its endpoint tested for real.
    let etag = api.etag(&adam).await;
    let base_url = {
        let t = std::fs::read_to_string(&fx.cfg_path).unwrap();
        let l = t
            .lines()
            .find(|l| l.starts_with("base_url"))
            .unwrap()
            .to_string();
        l.split('"').nth(1).unwrap().to_string()
    };
    let (s, v, _) = api
        .call_with(
            Some(&adam),
            Method::POST,
            "/api/v1/integrations",
            Some(json!({"name": "icehrm-b", "kind": "icehrm", "base_url": base_url, "token": {"secret": fx.token}, "page_size": 5})),
            &[("if-match", etag)],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    captured.push_str(&v.to_string());
    let (s, v, _) = api
        .call(
            Some(&victor),
            Method::GET,
            "/api/v1/integrations/icehrm-b",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["token"]["set"], true, "{v}");
    captured.push_str(&v.to_string());
    assert!(
        !std::fs::read_to_string(&fx.cfg_path)
            .unwrap()
            .contains(&fx.token),
        "the secret is not in the TOML"
    );
    let (s, v, _) = api
        .call(
            Some(&alice),
            Method::POST,
            "/api/v1/integrations/icehrm-b/endpoints/default/test",
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    captured.push_str(&v.to_string());
    let fields = v["profile"]["fields"]
        .as_object()
        .unwrap_or_else(|| panic!("{v}"));
    for f in ["employee_id", "first_name", "department.display"] {
        assert!(
            fields.contains_key(f),
            "{f} missing from the field table: {:?}",
            fields.keys().collect::<Vec<_>>()
        );
    }
    // Preview one person: what `hrsync explain` shows.
    let key = fx.emp_no(fx.active_ids()[0]);
    let (s, v, _) = api
        .call(
            Some(&alice),
            Method::POST,
            "/api/v1/mappings/api-staff/preview",
            Some(json!({"person": key})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let preview = v.to_string();
    assert!(
        preview.contains(&key) && preview.contains("departmentNumber"),
        "{preview}"
    );
    assert_eq!(
        v["plan"]["summary"], "nothing: the account already matches HR",
        "{v}"
    );
    // A webhook created by API and tested on a chosen person against a local receiver.
    let (hook_url, seen) = receiver().await;
    let etag = api.etag(&adam).await;
    let (s, v, _) = api
        .call_with(
            Some(&adam),
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({"name": "hello", "method": "POST", "url": format!("{hook_url}/people"), "message_type": "json", "body": "{\"mail\": \"{user.mail}\", \"dept\": \"{hr.department.display}\"}"})),
            &[("if-match", etag)],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v, _) = api
        .call(
            Some(&alice),
            Method::POST,
            "/api/v1/webhooks/hello/test",
            Some(json!({"users": [key], "mapping": "api-staff"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v.to_string().contains("201"), "the response is shown: {v}");
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "one call for the one person chosen");
    assert!(got[0].0 == "/people" && got[0].1.contains('@'), "{got:?}");
    captured.push_str(&v.to_string());

    // Restore the version before the mapping: the file is as it was, comments and all.
    let (_, v, _) = api
        .call(Some(&adam), Method::GET, "/api/v1/config/history", None)
        .await;
    let versions = v["items"].as_array().unwrap().clone();
    let first = versions
        .iter()
        .find(|x| x["kind"] == "initial")
        .unwrap_or_else(|| panic!("{v}"));
    let etag = api.etag(&adam).await;
    let (s, v, _) = api
        .call_with(
            Some(&adam),
            Method::POST,
            &format!("/api/v1/config/history/{}/restore", first["id"]),
            None,
            &[("if-match", etag)],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(std::fs::read_to_string(&fx.cfg_path).unwrap(), text);

    // Every state-changing request above is in the request audit with its operator.
    let (_, v, _) = api
        .call(
            Some(&adam),
            Method::GET,
            "/api/v1/audit/requests?limit=500",
            None,
        )
        .await;
    let reqs = v.to_string();
    assert!(
        reqs.contains("\"operator\":\"adam\"") && reqs.contains("config saved"),
        "{reqs}"
    );
    assert!(
        reqs.contains("\"operator\":\"alice\"") && reqs.contains("started run"),
        "{reqs}"
    );
    captured.push_str(&reqs);

    // A state-changing request of a session without its CSRF token is refused, over the wire.
    let no_csrf = Who {
        cookie: adam.cookie.clone(),
        csrf: None,
        bearer: None,
    };
    let (s, v, _) = api
        .call(
            Some(&no_csrf),
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "forged", "role": "admin"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(v["type"].as_str().unwrap_or("").contains("csrf"), "{v}");
    // Nothing but /healthz answers without credentials; /metrics takes a token.
    let get = |path: &'static str, who: Option<Who>| {
        let (http, base) = (api.http.clone(), api.base.clone());
        async move {
            let mut rb = http.get(format!("{base}{path}"));
            if let Some(b) = who.and_then(|w| w.bearer) {
                rb = rb.bearer_auth(b);
            }
            rb.send().await.unwrap().status()
        }
    };
    assert_eq!(get("/healthz", None).await, StatusCode::OK);
    assert_eq!(get("/metrics", None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get("/metrics", Some(viewer_token.clone())).await,
        StatusCode::OK
    );
    assert_eq!(get("/api/v1/session", None).await, StatusCode::UNAUTHORIZED);

    // A stolen cookie stops working at sign-out.
    let stolen = Who {
        cookie: alice.cookie.clone(),
        csrf: None,
        bearer: None,
    };
    let (s, _, _) = api
        .call(Some(&alice), Method::DELETE, "/api/v1/session", None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = api
        .call(Some(&stolen), Method::GET, "/api/v1/session", None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let _ = std::process::Command::new("kill")
        .arg(daemon.id().to_string())
        .status();
    let _ = daemon.wait();
    // No password, bind secret or token hash anywhere in what was captured.
    captured.push_str(&std::fs::read_to_string(&log).unwrap_or_default());
    captured
        .push_str(&std::fs::read_to_string(fx.dir.path().join("serve.err")).unwrap_or_default());
    for secret in [PASSWORD, env.password.as_str(), fx.token.as_str()] {
        assert!(!captured.contains(secret), "a secret was captured");
    }
}

#[test]
fn a_dropped_daemon_is_killed_and_reaped() {
    let child = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let pid = child.id();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    drop(Daemon(child));
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the process is still there after the guard was dropped"
    );
}
