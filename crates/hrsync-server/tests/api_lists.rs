//! The REST API's lists and decisions, in process: the audit's filters and paging, roles on
//! the decisions, and four-eyes approval with the API operator as the identity.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, Duration, Utc};
use hrsync_auth::{Auth, AuthSettings, BreakGlass, DirectorySignIn, Role, RoleGroups};
use hrsync_model::{Change, ChangeKind, Plan, Secret};
use hrsync_state::{DirectoryWrite, PlanItem, SavedPlanRow, Store, Trigger};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use tower::ServiceExt;

struct Fx {
    _dir: tempfile::TempDir,
    router: axum::Router,
    auth: Arc<Auth>,
    state: std::path::PathBuf,
}

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
bind_password = { env = "HRSYNC_TEST_NOWHERE_PW" }
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

[mapping.approval]
require = ["disable"]
four_eyes = true
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

fn fixture() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hrsync.toml");
    std::fs::write(dir.path().join("people.csv"), "id\n1\n").unwrap();
    std::fs::write(&path, CONFIG).unwrap();
    let cfg = hrsync_config::Config::load(&path).unwrap();
    let state = cfg.state_path();
    let svc = hrsync_server::Service::with_auth(cfg, Some(settings())).unwrap();
    let auth = Arc::new(Auth::open(settings(), &state).unwrap());
    let router = hrsync_server::api::router(svc, auth.clone(), false);
    Fx {
        _dir: dir,
        router,
        auth,
        state,
    }
}

impl Fx {
    fn token(&self, name: &str, role: Role) -> String {
        self.auth
            .create_token(name, role, None, "test")
            .unwrap()
            .secret
    }

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
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, v)
    }

    /// Every item of a list, page after page (each id once).
    async fn all(&self, uri: &str, token: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let sep = if uri.contains('?') { '&' } else { '?' };
            let u = match &cursor {
                Some(c) => format!("{uri}{sep}limit=3&cursor={c}"),
                None => format!("{uri}{sep}limit=3"),
            };
            let (s, v) = self.call("GET", &u, token, None).await;
            assert_eq!(s, StatusCode::OK, "{u}: {v}");
            out.extend(v["items"].as_array().unwrap().iter().cloned());
            match v["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
        }
    }
}

fn change(kind: ChangeKind, key: &str) -> Change {
    Change {
        kind,
        key: key.into(),
        dn: format!("uid={key},ou=people,dc=example,dc=com"),
        new_dn: None,
        uuid: None,
        attrs: Vec::new(),
        reason: "test".into(),
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

/// 20 audit rows: persons p0..p3, kinds update/disable, every fifth failed, one minute apart.
fn seed_audit(state: &std::path::Path) {
    let mut store = Store::open(state).unwrap();
    for i in 0..20i64 {
        let kind = if i % 2 == 0 {
            ChangeKind::Update
        } else {
            ChangeKind::Disable
        };
        let c = change(kind, &format!("p{}", i % 4));
        store
            .record_write(&DirectoryWrite {
                mapping: if i < 10 { "staff" } else { "other" },
                change: &c,
                ok: i % 5 != 0,
                rc: (i % 5 == 0).then_some(50),
                message: "",
                trigger: Trigger::Cli,
                operator: "alice",
                outbox: None,
                at: t0() + Duration::minutes(i),
            })
            .unwrap();
    }
}

fn ids(items: &[Value]) -> Vec<i64> {
    items.iter().map(|v| v["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn audit_filters_return_exactly_the_matching_rows_and_paging_walks_each_once() {
    let fx = fixture();
    seed_audit(&fx.state);
    let viewer = fx.token("v", Role::Viewer);

    let all = fx.all("/api/v1/audit", &viewer).await;
    assert_eq!(all.len(), 20);
    let got = ids(&all);
    let mut sorted = got.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(got, sorted, "newest first");
    assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), 20, "each once");

    // Expected sets, computed from the seed: row i has id i + 1.
    let expect = |f: &dyn Fn(i64) -> bool| -> Vec<i64> {
        (0..20).rev().filter(|i| f(*i)).map(|i| i + 1).collect()
    };
    let cases: Vec<(&str, Vec<i64>)> = vec![
        ("person=p1", expect(&|i| i % 4 == 1)),
        ("kind=disable", expect(&|i| i % 2 == 1)),
        ("result=failed", expect(&|i| i % 5 == 0)),
        ("result=ok", expect(&|i| i % 5 != 0)),
        ("mapping=other", expect(&|i| i >= 10)),
        (
            "kind=update&result=failed",
            expect(&|i| i % 2 == 0 && i % 5 == 0),
        ),
        ("person=p2&mapping=staff", expect(&|i| i % 4 == 2 && i < 10)),
        (
            "since=2027-01-15T08:05:00Z&until=2027-01-15T08:09:00Z",
            expect(&|i| (5..9).contains(&i)),
        ),
    ];
    assert_eq!(
        t0().to_rfc3339(),
        "2027-01-15T08:00:00+00:00",
        "the since/until case above assumes this start"
    );
    for (q, want) in cases {
        let rows = fx.all(&format!("/api/v1/audit?{q}"), &viewer).await;
        assert_eq!(ids(&rows), want, "{q}");
    }
    let (s, v) = fx
        .call("GET", "/api/v1/audit?result=maybe", &viewer, None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    let (s, v) = fx
        .call("GET", "/api/v1/people/staff/p1", &viewer, None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["history"].as_array().unwrap().len(), 3, "{v}");
    let (s, _) = fx
        .call("GET", "/api/v1/people/staff/nobody", &viewer, None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// A saved plan made by `planner` with one disable waiting for approval.
fn seed_plan(state: &std::path::Path, planner: &str) -> i64 {
    let mut store = Store::open(state).unwrap();
    let run = store
        .start_run_as("plan", "staff", Trigger::Cli, planner, Utc::now())
        .unwrap();
    let plan = Plan {
        mapping: "staff".into(),
        awaiting_approval: vec![change(ChangeKind::Disable, "p9")],
        ..Default::default()
    };
    store.save_plan(run, &plan).unwrap();
    store
        .save_saved_plan(
            &SavedPlanRow {
                run_id: run,
                mapping: "staff".into(),
                config_fp: "{}".into(),
                saved_by: planner.into(),
                saved_at: Utc::now().to_rfc3339(),
                expires_at: (Utc::now() + Duration::days(1)).to_rfc3339(),
                status: "open".into(),
                applied_run: None,
            },
            &[PlanItem {
                part: "approval".into(),
                idx: 0,
                hr_key: "p9".into(),
                kind: "disable".into(),
                needs: Some("disable".into()),
                ..Default::default()
            }],
        )
        .unwrap();
    store.finish_run(run, "ok", None, Utc::now()).unwrap();
    run
}

#[tokio::test]
async fn roles_and_four_eyes_on_decisions() {
    let fx = fixture();
    let viewer = fx.token("v", Role::Viewer);
    let op = fx.token("op", Role::Operator);
    // Planned by this operator (their API name) and by someone else.
    let own = seed_plan(&fx.state, "token:op");
    let other = seed_plan(&fx.state, "alice");

    let (s, v) = fx
        .call(
            "POST",
            &format!("/api/v1/plans/{other}/approve"),
            &viewer,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, _) = fx
        .call("POST", "/api/v1/outbox/1/replay", &viewer, None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, v) = fx
        .call("POST", &format!("/api/v1/plans/{own}/approve"), &op, None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["type"], "urn:hrsync:problem:four-eyes", "{v}");

    let (s, v) = fx
        .call(
            "POST",
            &format!("/api/v1/plans/{other}/approve"),
            &op,
            Some(json!({"comment": "ok by me"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v[0]["decision"], "approved", "{v}");
    assert_eq!(v[0]["key"], "p9");

    let (s, v) = fx
        .call(
            "GET",
            &format!("/api/v1/plans/{other}/changes?status=approved"),
            &viewer,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["items"][0]["decided_by"], "token:op", "{v}");
    let (s, v) = fx
        .call("GET", &format!("/api/v1/plans/{other}"), &viewer, None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["approved"], 1, "{v}");
    let plans = fx.all("/api/v1/plans", &viewer).await;
    assert_eq!(ids(&plans), vec![other, own]);
    // What still waits: the operator's own plan's change (listed once, in the newest plan
    // that has it undecided).
    let (s, v) = fx.call("GET", "/api/v1/approvals", &viewer, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["items"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["items"][0]["plan"], own, "{v}");

    // The request audit names the operator and what changed.
    let admin = fx.token("adm", Role::Admin);
    let (s, v) = fx.call("GET", "/api/v1/audit/requests", &admin, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(
        v["items"].as_array().unwrap().iter().any(|r| r["detail"]
            .as_str()
            .unwrap()
            .contains("1 change(s) approved")),
        "{v}"
    );
}
