//! Work started on demand through the API, in process with the daemon's run thread and
//! worker: an automation run now (202 with the run id, its result stored like the
//! scheduler's, 409 while its lock is held, 404 unknown), a mapping's orphans (a plan run,
//! watchable like any), an orchestration queued for people (its instances in the outbox).
//! The directory is unreachable here: runs are recorded, then fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use hrsync_auth::{Auth, AuthSettings, BreakGlass, DirectorySignIn, Role, RoleGroups};
use hrsync_model::Secret;
use hrsync_state::Store;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const CONFIG: &str = r#"
[state]
path = "state.db"

[[integration]]
name = "hr"
kind = "csv"
path = "people.csv"

[directory]
kind = "openldap"
url = "ldaps://127.0.0.1:1"
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
cn = "{id}"
sn = "{id}"

[[automation]]
name = "nightly"
mapping = "staff"
schedule = "0 3 * * *"
mode = "plan"

[[webhook]]
name = "ping"
method = "POST"
url = "http://127.0.0.1:1/ping/{key}"
message_type = "json"
body = '{"key": "{key}"}'

[[orchestration]]
name = "later"
steps = [{ action = "delay", seconds = 3600 }, { action = "webhook", webhook = "ping" }]
"#;

fn settings() -> AuthSettings {
    let mut s = AuthSettings::new(DirectorySignIn {
        url: "ldaps://127.0.0.1:1".into(),
        starttls: false,
        ca_cert: None,
        service_bind: None,
        user_base: "ou=people,dc=example,dc=com".into(),
        user_attribute: "uid".into(),
        groups: RoleGroups {
            viewer: vec!["cn=viewers,dc=example,dc=com".into()],
            ..Default::default()
        },
        timeout: DirectorySignIn::DEFAULT_TIMEOUT,
    });
    s.break_glass = Some(BreakGlass {
        user: "root".into(),
        password_hash: hrsync_auth::break_glass::hash_password(&Secret::new("correct horse"))
            .unwrap(),
    });
    s
}

struct Fx {
    _dir: tempfile::TempDir,
    router: axum::Router,
    running: Option<hrsync_server::Running>,
    state: std::path::PathBuf,
    operator: String,
    viewer: String,
}

async fn fixture() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hrsync.toml");
    std::fs::write(dir.path().join("people.csv"), "id\n1\n2\n").unwrap();
    std::fs::write(dir.path().join("bind.pw"), "nowhere").unwrap();
    std::fs::write(&path, CONFIG).unwrap();
    let cfg = hrsync_config::Config::load(&path).unwrap();
    let state = cfg.state_path();
    let svc = hrsync_server::Service::with_auth(cfg, Some(settings())).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    // The run thread, the scheduler and the worker, as `hrsync serve` runs them.
    let running = hrsync_server::start_service(svc.clone(), listener)
        .await
        .unwrap();
    let auth = Arc::new(Auth::open(settings(), &state).unwrap());
    let token = |name: &str, role| auth.create_token(name, role, None, "test").unwrap().secret;
    let (operator, viewer) = (token("ops", Role::Operator), token("look", Role::Viewer));
    let router = hrsync_server::api::router(svc, auth.clone(), false);
    Fx {
        _dir: dir,
        router,
        running: Some(running),
        state,
        operator,
        viewer,
    }
}

impl Fx {
    async fn call(
        &self,
        method: &str,
        uri: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {token}"));
        let body = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Body::from(b.to_string())
            }
            None => Body::empty(),
        };
        let resp = self
            .router
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// The run's state once it is over.
    async fn finished(&self, run: i64) -> Value {
        for _ in 0..200 {
            let (s, v) = self
                .call("GET", &format!("/api/v1/runs/{run}"), &self.viewer, None)
                .await;
            assert_eq!(s, StatusCode::OK, "{v}");
            if v["run"]["status"] != "running"
                && v["progress"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["event"] == "finished")
            {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("run {run} did not finish");
    }

    async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown(Duration::from_secs(10)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_automation_runs_now_as_the_scheduler_runs_it() {
    let fx = fixture().await;
    let (s, v) = fx
        .call("POST", "/api/v1/automations/nightly/run", &fx.viewer, None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, v) = fx
        .call("POST", "/api/v1/automations/nobody/run", &fx.operator, None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");

    let (s, v) = fx
        .call(
            "POST",
            "/api/v1/automations/nightly/run",
            &fx.operator,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let run = v["run_id"].as_i64().unwrap();
    assert_eq!(v["mapping"], "staff");
    assert_eq!(v["mode"], "plan");
    assert_eq!(v["events_url"], format!("/api/v1/runs/{run}/events"));
    let done = fx.finished(run).await;
    assert_eq!(done["run"]["operator"], "token:ops", "{done}");
    assert_eq!(done["run"]["trigger"], "api", "{done}");
    assert_eq!(done["run"]["status"], "failed", "{done}");

    // Stored as the scheduler stores its runs: last status, lock released, next run kept.
    let mut row = None;
    for _ in 0..100 {
        let r = Store::open(&fx.state)
            .unwrap()
            .automation("nightly")
            .unwrap()
            .unwrap();
        if r.last_status.is_some() {
            row = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let row = row.expect("the automation's run is stored");
    assert_eq!(row.last_run_id, None, "the sync failed: no run id stored");
    assert!(row.last_status.as_deref().unwrap().starts_with("failed"));
    assert!(row.running_since.is_none());
    assert!(row.next_run.unwrap() > chrono::Utc::now());

    // The automation's lock held by another run: refused, nothing started.
    let mut store = Store::open(&fx.state).unwrap();
    assert!(
        store
            .try_lock_automation(
                "nightly",
                &hrsync_state::owner_id(),
                chrono::Utc::now(),
                chrono::Duration::hours(6)
            )
            .unwrap()
    );
    let runs_before = store.runs(100).unwrap().len();
    let (s, v) = fx
        .call(
            "POST",
            "/api/v1/automations/nightly/run",
            &fx.operator,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("in progress"), "{v}");
    assert_eq!(store.runs(100).unwrap().len(), runs_before);
    store.release_lock("nightly").unwrap();

    // The request is in the audit, under the operator.
    let (_, v) = fx
        .call("GET", "/api/v1/audit/requests", &fx.viewer, None)
        .await;
    let ran = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["status"] == 202)
        .unwrap();
    assert_eq!(ran["operator"], "token:ops");
    assert!(
        ran["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("run {run}"))
    );
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_are_found_by_a_plan_run_watched_like_any() {
    let fx = fixture().await;
    let (s, _) = fx
        .call("POST", "/api/v1/mappings/staff/orphans", &fx.viewer, None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = fx
        .call(
            "POST",
            "/api/v1/mappings/nobody/orphans",
            &fx.operator,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = fx
        .call("POST", "/api/v1/mappings/staff/orphans", &fx.operator, None)
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["mode"], "plan");
    let run = v["run_id"].as_i64().unwrap();
    let done = fx.finished(run).await;
    assert_eq!(done["run"]["command"], "plan", "{done}");
    // The directory cannot be read: no list (a run that could would carry `orphans`).
    assert_eq!(done["run"]["status"], "failed", "{done}");
    assert!(done.get("orphans").is_none(), "{done}");
    // Its events end with `finished`.
    let resp = fx
        .router
        .clone()
        .oneshot(
            Request::get(format!("/api/v1/runs/{run}/events"))
                .header("authorization", format!("Bearer {}", fx.viewer))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let text = String::from_utf8(
        axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(text.contains("event: started"), "{text}");
    assert!(text.contains("event: finished"), "{text}");
    fx.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orchestration_is_queued_for_people_and_shows_in_the_outbox() {
    let fx = fixture().await;
    let body = json!({"users": ["1", "2", "1"]});
    let (s, _) = fx
        .call(
            "POST",
            "/api/v1/orchestrations/later/run",
            &fx.viewer,
            Some(body.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = fx
        .call(
            "POST",
            "/api/v1/orchestrations/nothing/run",
            &fx.operator,
            Some(body.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, v) = fx
        .call(
            "POST",
            "/api/v1/orchestrations/later/run",
            &fx.operator,
            Some(json!({"users": []})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    let (s, v) = fx
        .call(
            "POST",
            "/api/v1/orchestrations/later/run",
            &fx.operator,
            Some(body),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["mapping"], "staff");
    let instances = v["instances"].as_array().unwrap();
    // Each person once.
    let keys: Vec<&str> = instances
        .iter()
        .map(|i| i["hr_key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["1", "2"]);
    let ids: Vec<i64> = instances
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();

    let (s, v) = fx.call("GET", "/api/v1/outbox", &fx.viewer, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let items = v["items"].as_array().unwrap();
    for id in &ids {
        let item = items.iter().find(|i| i["id"] == *id).expect("queued");
        assert_eq!(item["orchestration"], "later");
        assert_eq!(item["event"], "manual");
    }
    // The worker took them at once: the first step (the delay) ran.
    let mut ran = false;
    for _ in 0..100 {
        let store = Store::open(&fx.state).unwrap();
        if ids
            .iter()
            .all(|id| store.outbox_item(*id).unwrap().unwrap().step >= 1)
        {
            ran = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ran, "the worker did not run the first steps");
    fx.stop().await;
}
