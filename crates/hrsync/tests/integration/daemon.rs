//! Issue 6: the daemon. Schedules on a controlled clock, signed HR events, webhooks and
//! orchestration write-back to the IceHrm emulator, and a daemon killed with SIGKILL in the
//! middle of an orchestration.

use crate::common::*;
use chrono::{DateTime, Utc};
use hrsync_engine::Mode;
use hrsync_server::{self as service, Service};
use serde_json::json;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn append(fx: &Fx, text: &str) {
    let cfg = std::fs::read_to_string(&fx.cfg_path).unwrap() + text;
    std::fs::write(&fx.cfg_path, cfg).unwrap();
}

/// The emulator's base URL (from the config the fixture wrote).
fn icehrm_url(fx: &Fx) -> String {
    let cfg = std::fs::read_to_string(&fx.cfg_path).unwrap();
    let line = cfg
        .lines()
        .find(|l| l.starts_with("base_url"))
        .unwrap()
        .to_string();
    line.split('"').nth(1).unwrap().to_string()
}

async fn sn_of(fx: &Fx, key: &str) -> Option<String> {
    fx.search(&format!("(employeeNumber={key})"))
        .await
        .into_iter()
        .next()
        .and_then(|e| e.attrs.get("sn").and_then(|v| v.first().cloned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_fires_on_a_controlled_clock_and_an_overlapping_run_is_refused() {
    let fx = Fx::new("schedule", 6, "uid", STAFF_ATTRS).await;
    append(
        &fx,
        "\n[[automation]]\nname = \"nightly\"\nmapping = \"staff\"\nschedule = \"0 2 * * *\"\n",
    );
    let svc = Service::new(fx.config()).unwrap();
    // Started at 01:00: nothing runs; the next run (02:00) is stored.
    let r = svc.tick(t("2026-11-23T01:00:00Z")).await.unwrap();
    assert!(r.is_empty(), "{r:?}");
    let row = fx.store().automation("nightly").unwrap().unwrap();
    assert_eq!(row.next_run, Some(t("2026-11-23T02:00:00Z")));
    assert!(
        svc.tick(t("2026-11-23T01:59:59Z"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(fx.search("(objectClass=inetOrgPerson)").await.is_empty());
    // 02:00: it fires, syncs, and is scheduled for tomorrow.
    let r = svc.tick(t("2026-11-23T02:00:03Z")).await.unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].outcome.as_str(), r[0].status.as_deref()),
        ("ran", Some("ok"))
    );
    assert!(!fx.search("(objectClass=inetOrgPerson)").await.is_empty());
    let row = fx.store().automation("nightly").unwrap().unwrap();
    assert_eq!(row.next_run, Some(t("2026-11-24T02:00:00Z")));
    assert_eq!(row.last_run_id, r[0].run_id);
    assert!(row.running_since.is_none());
    let runs_before = fx.store().runs(100).unwrap().len();

    // Another process (a second daemon) holds the run: the next firing is refused.
    assert!(
        fx.store()
            .try_lock_automation(
                "nightly",
                "pid 99999",
                t("2026-11-24T01:59:00Z"),
                chrono::Duration::hours(6)
            )
            .unwrap()
    );
    let r = svc.tick(t("2026-11-24T02:00:01Z")).await.unwrap();
    assert_eq!(r[0].outcome, "refused");
    assert_eq!(
        fx.store().runs(100).unwrap().len(),
        runs_before,
        "no run started"
    );
    let row = fx.store().automation("nightly").unwrap().unwrap();
    assert_eq!(
        row.running_owner.as_deref(),
        Some("pid 99999"),
        "the holder's lock is kept"
    );
    assert_eq!(row.next_run, Some(t("2026-11-25T02:00:00Z")));
    fx.store()
        .finish_automation(
            "nightly",
            "ok",
            None,
            t("2026-11-24T01:59:00Z"),
            t("2026-11-24T02:10:00Z"),
            Some(t("2026-11-25T02:00:00Z")),
        )
        .unwrap();

    // Down for three days: the missed runs are covered by one run (missed = "run_once").
    let r = svc.tick(t("2026-11-27T09:00:00Z")).await.unwrap();
    assert_eq!((r[0].outcome.as_str(), r[0].missed), ("ran", 2));
    assert_eq!(fx.store().runs(100).unwrap().len(), runs_before + 1);
    assert_eq!(r[0].next, Some(t("2026-11-28T02:00:00Z")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_event_updates_only_that_employee_and_bad_events_change_nothing() {
    let fx = Fx::new("events", 8, "uid", STAFF_ATTRS).await;
    std::fs::write(fx.dir.path().join("event.secret"), "ev-s3cret-value\n").unwrap();
    append(
        &fx,
        "\n[[event]]\nname = \"icehrm\"\nmapping = \"staff\"\nformat = \"generic\"\nauth = \"hmac_sha256\"\nsecret = { file = \"event.secret\" }\n",
    );
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0);
    let ids = fx.active_ids();
    let (a, b) = (ids[0], ids[1]);
    let (ka, kb) = (fx.emp_no(a), fx.emp_no(b));
    let sn_b = sn_of(&fx, &kb).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = service::start(fx.config(), listener).await.unwrap();
    let url = format!("http://{}/events/icehrm", running.addr);
    let http = reqwest::Client::new();
    let send = |body: String, ts: i64, sig: Option<String>| {
        let mut req = http
            .post(&url)
            .header("content-type", "application/json")
            .header("x-hrsync-timestamp", ts.to_string())
            .body(body);
        if let Some(s) = sig {
            req = req.header("x-hrsync-signature", s);
        }
        req.send()
    };
    // Both change in HR; only A's change is announced.
    fx.emu.update(a, json!({"last_name": "Eventson"})).unwrap();
    fx.emu
        .update(b, json!({"last_name": "Unannounced"}))
        .unwrap();
    let now = Utc::now().timestamp();
    let body = json!({"employee_id": ka, "event_id": "evt-1"}).to_string();
    let sig = hrsync_server::events::sign("ev-s3cret-value", now, body.as_bytes());
    let resp = send(body.clone(), now, Some(sig.clone())).await.unwrap();
    assert_eq!(resp.status(), 202);
    let mut waited = 0;
    while sn_of(&fx, &ka).await.as_deref() != Some("Eventson") {
        assert!(waited < 100, "the event was not applied within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(
        sn_of(&fx, &kb).await,
        Some(sn_b.clone()),
        "only the named employee"
    );

    // Unsigned, forged, stale, and replayed events: refused or ignored, nothing changes.
    let body_b = json!({"employee_id": kb, "event_id": "evt-2"}).to_string();
    let resp = send(body_b.clone(), now, None).await.unwrap();
    assert_eq!(resp.status(), 401);
    let forged = hrsync_server::events::sign("not-the-secret", now, body_b.as_bytes());
    assert_eq!(
        send(body_b.clone(), now, Some(forged))
            .await
            .unwrap()
            .status(),
        401
    );
    let old = now - 3600;
    let stale = hrsync_server::events::sign("ev-s3cret-value", old, body_b.as_bytes());
    assert_eq!(
        send(body_b.clone(), old, Some(stale))
            .await
            .unwrap()
            .status(),
        401
    );
    let text = send(body_b.clone(), now, None)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !text.contains("signature") && !text.contains("secret"),
        "{text}"
    );
    fx.emu.update(a, json!({"last_name": "Replayson"})).unwrap();
    let resp = send(body.clone(), now, Some(sig)).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("duplicate"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        sn_of(&fx, &ka).await.as_deref(),
        Some("Eventson"),
        "the replay did nothing"
    );
    assert_eq!(
        sn_of(&fx, &kb).await,
        Some(sn_b),
        "refused events did nothing"
    );
    // Metrics count them.
    let m = http
        .get(format!("http://{}/metrics", running.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("hrsync_events_total"), "{m}");
    assert!(m.contains("result=\"unauthorized\""), "{m}");
    assert!(m.contains("hrsync_stage_duration_seconds"), "{m}");
    let h = http
        .get(format!("http://{}/healthz", running.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(h.status(), 200);
    // The event's run was targeted: one record fetched, by IceHrm's server-side filter.
    let runs = fx.store().runs(5).unwrap();
    assert_eq!(runs[0].records, Some(1), "{runs:?}");
    running.shutdown(Duration::from_secs(10)).await;
}

/// A local receiver that records what it gets and answers `status`.
async fn receiver(status: u16) -> (String, Arc<Mutex<Vec<(String, String, String)>>>) {
    let seen: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
    let s = seen.clone();
    let app = axum::Router::new().fallback(
        move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: String| {
            let s = s.clone();
            async move {
                let key = headers
                    .get("idempotency-key")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                s.lock().unwrap().push((uri.path().to_string(), key, body));
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    "{\"received\":true}",
                )
            }
        },
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{addr}"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orchestration_on_created_writes_the_new_address_back_to_icehrm() {
    let fx = Fx::new("writeback", 4, "uid", STAFF_ATTRS).await;
    let base = icehrm_url(&fx);
    let (hook_url, seen) = receiver(200).await;
    append(
        &fx,
        &format!(
            r#"
[[webhook]]
name = "icehrm-writeback"
description = "the account's address back into IceHrm"
method = "PUT"
url = "{base}/employees/{{hr.id}}"
message_type = "json"
body = '{{"work_email": "{{user.uid}}@corp.example.test"}}'
auth = "icehrm"

[[webhook]]
name = "notify"
method = "POST"
url = "{hook_url}/hooks/{{key}}"
message_type = "xml"
body = "<user><name>{{user.cn}}</name><event>{{event}}</event></user>"

[[orchestration]]
name = "welcome"
on = ["created"]
steps = [
  {{ action = "webhook", webhook = "icehrm-writeback" }},
  {{ action = "set_attribute", attribute = "description", value = "written back to IceHrm ({{event}})" }},
  {{ action = "webhook", webhook = "notify" }},
]
"#
        ),
    );
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0);
    let created = r.plan.summary().create;
    let mut store = fx.store();
    assert_eq!(store.outbox(Some("pending"), 100).unwrap().len(), created);
    // A hostile new hire: the XML notification must stay well-formed.
    let id = fx.emu.hire(json!({"employee_id": "EMP07001", "first_name": "Zoë <b>&amp;", "last_name": "O'Brien \"Z\"",
        "work_email": "zoe@example.test", "department": 2, "job_title": 5}))["id"]
        .as_i64()
        .unwrap();
    fx.run(Mode::Apply).await;
    let worker = hrsync_server::orchestrate::Worker::new(Arc::new(fx.config())).unwrap();
    let ran = worker.run_due(&mut store).await.unwrap();
    assert_eq!(ran, 3 * (created + 1), "three steps each");
    assert!(store.outbox(Some("dead"), 10).unwrap().is_empty());
    // IceHrm now has the address hrsync made, for every created account.
    assert_eq!(
        fx.emu.employee(id).unwrap()["work_email"],
        json!("emp07001@corp.example.test")
    );
    let e = fx.search("(employeeNumber=EMP07001)").await.remove(0);
    assert_eq!(
        e.attrs["description"],
        vec!["written back to IceHrm (created)".to_string()]
    );
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), created + 1);
    let zoe = got.iter().find(|(p, _, _)| p == "/hooks/EMP07001").unwrap();
    assert_eq!(
        zoe.2,
        "<user><name>Zoë &lt;b&gt;&amp;amp; O&apos;Brien &quot;Z&quot;</name><event>created</event></user>"
    );
    assert!(
        zoe.1.starts_with("hrsync-"),
        "idempotency key sent: {zoe:?}"
    );
    // The delivery log keeps the request with the token redacted.
    let d = store.deliveries(Some("icehrm-writeback"), 10).unwrap();
    assert!(!d.is_empty());
    let text = d[0].delivery.to_string();
    assert!(
        text.contains("[redacted]") && !text.contains(&fx.token),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_test_shows_request_and_response() {
    let fx = Fx::new("webhook-test", 3, "uid", STAFF_ATTRS).await;
    let (hook_url, seen) = receiver(201).await;
    append(
        &fx,
        &format!(
            r#"
[[webhook]]
name = "hello"
method = "POST"
url = "{hook_url}/people"
message_type = "form"
body = "mail={{user.mail}}&name={{user.cn}}&dept={{hr.department.display}}"
auth = "icehrm"
"#
        ),
    );
    fx.run(Mode::Apply).await;
    let key = fx.emp_no(fx.active_ids()[0]);
    let (rc, out) = cli(
        &fx.cfg_path,
        &["webhook", "test", "hello", "--user", &key],
        &[],
    );
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains(&format!("> POST {hook_url}/people")), "{out}");
    assert!(out.contains("Authorization: [redacted]"), "{out}");
    assert!(!out.contains(&fx.token), "the token never shows");
    assert!(out.contains("< HTTP 201"), "{out}");
    assert!(out.contains("{\"received\":true}"), "{out}");
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let form: Vec<(String, String)> = url::form_urlencoded::parse(got[0].2.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(form[0].0, "mail");
    assert!(form[0].1.contains('@'), "{form:?}");
    assert!(!form[2].1.is_empty(), "HR macro filled: {form:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_mid_orchestration_finishes_the_rest_without_repeating_steps() {
    let fx = Fx::new("sigkill", 2, "uid", STAFF_ATTRS).await;
    let (hook_url, seen) = receiver(200).await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    append(
        &fx,
        &format!(
            r#"
[serve]
listen = "127.0.0.1:{port}"

[[webhook]]
name = "first"
method = "POST"
url = "{hook_url}/first/{{key}}"
body = '{{"step": "first"}}'

[[webhook]]
name = "second"
method = "POST"
url = "{hook_url}/second/{{key}}"
body = '{{"step": "second"}}'

[[orchestration]]
name = "onboarding"
on = ["created"]
steps = [
  {{ action = "webhook", webhook = "first" }},
  {{ action = "delay", seconds = 3 }},
  {{ action = "webhook", webhook = "second" }},
]
"#
        ),
    );
    let r = fx.run(Mode::Apply).await;
    let created: HashSet<String> = r.plan.changes.iter().map(|c| c.key.clone()).collect();
    assert!(!created.is_empty());
    let start = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_hrsync"))
            .args(["serve", "-c"])
            .arg(&fx.cfg_path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut daemon = start();
    // Wait until every first step is done, then kill it during the delay.
    let mut waited = 0;
    while seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.0.starts_with("/first/"))
        .count()
        < created.len()
    {
        assert!(waited < 100, "first steps not run within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    // Let the first steps' completion commit (the delay step then waits 3 s).
    tokio::time::sleep(Duration::from_millis(500)).await;
    daemon.kill().unwrap(); // SIGKILL
    daemon.wait().unwrap();
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .all(|s| s.0.starts_with("/first/")),
        "killed before the second steps"
    );
    let mut daemon = start();
    let mut waited = 0;
    while seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.0.starts_with("/second/"))
        .count()
        < created.len()
    {
        assert!(
            waited < 150,
            "second steps not run within 15 s of the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    // SIGTERM: a clean stop.
    let _ = std::process::Command::new("kill")
        .arg(daemon.id().to_string())
        .status();
    let status = daemon.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let got = seen.lock().unwrap().clone();
    for k in &created {
        let firsts = got.iter().filter(|s| s.0 == format!("/first/{k}")).count();
        let seconds = got.iter().filter(|s| s.0 == format!("/second/{k}")).count();
        assert_eq!((firsts, seconds), (1, 1), "{k}: {got:?}");
    }
    let store = fx.store();
    assert_eq!(
        store.outbox(Some("done"), 100).unwrap().len(),
        created.len()
    );
}

#[test]
fn the_service_example_loads_and_validates() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["icehrm.token", "ldap.pw", "event.secret"] {
        std::fs::write(dir.path().join(f), "x-secret-value").unwrap();
    }
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let text = std::fs::read_to_string(format!("{root}/icehrm-service.toml"))
        .unwrap()
        .replace("{ env = \"ICEHRM_TOKEN\" }", "{ file = \"icehrm.token\" }")
        .replace("{ env = \"LDAP_BIND_PW\" }", "{ file = \"ldap.pw\" }")
        .replace(
            "{ env = \"HRSYNC_EVENT_SECRET\" }",
            "{ file = \"event.secret\" }",
        );
    assert!(!text.contains("{ env ="), "every secret replaced");
    let path = dir.path().join("hrsync.toml");
    std::fs::write(&path, text).unwrap();
    let cfg = hrsync_config::Config::load(&path).unwrap();
    assert_eq!(cfg.event_endpoints().unwrap().len(), 1);
    let hooks = hrsync_server::orchestrate::compile_hooks(&cfg).unwrap();
    assert_eq!(
        hooks["icehrm-writeback"].creds.headers.len(),
        1,
        "the integration's bearer"
    );
    assert_eq!(cfg.raw.automations.len(), 1);
    assert!(cfg.job("icehrm-staff").unwrap().orchestrations.len() == 1);
    // A real [server.auth]: LDAPS, a group per role, no break-glass admin.
    let auth = cfg.auth_settings().unwrap().unwrap();
    assert!(auth.directory.url.starts_with("ldaps://"));
    assert!(
        hrsync_auth::Role::ALL
            .iter()
            .all(|r| auth.directory.groups.of(*r).len() == 1)
    );
    assert!(auth.break_glass.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_apply_per_mapping_at_a_time() {
    let fx = Fx::new("mapping-lock", 3, "uid", STAFF_ATTRS).await;
    // Another host's process is applying this mapping.
    assert!(
        fx.store()
            .try_lock_automation(
                "mapping:staff",
                "otherhost pid 4242",
                Utc::now(),
                chrono::Duration::hours(6)
            )
            .unwrap()
    );
    let cfg = fx.config();
    let job = cfg.job("staff").unwrap();
    let mut store = fx.store();
    let err = hrsync_engine::run(
        &job,
        &mut store,
        Mode::Apply,
        Utc::now(),
        &mut hrsync_engine::Unattended,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("another apply of mapping \"staff\" is running (otherhost pid 4242)"),
        "{err}"
    );
    assert!(fx.search("(objectClass=inetOrgPerson)").await.is_empty());
    // A plan is still possible; and once the holder is done, apply works.
    let r = hrsync_engine::run(
        &job,
        &mut store,
        Mode::Plan,
        Utc::now(),
        &mut hrsync_engine::Unattended,
    )
    .await
    .unwrap();
    assert!(!r.plan.changes.is_empty());
    store.release_lock("mapping:staff").unwrap();
    // A lock left by a dead process of this host is released by itself.
    let dead = format!(
        "{} pid 999999999",
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap()
            .trim()
    );
    assert!(
        store
            .try_lock_automation(
                "mapping:staff",
                &dead,
                Utc::now(),
                chrono::Duration::hours(6)
            )
            .unwrap()
    );
    let r = hrsync_engine::run(
        &job,
        &mut store,
        Mode::Apply,
        Utc::now(),
        &mut hrsync_engine::Unattended,
    )
    .await
    .unwrap();
    assert_eq!(r.applied_failed, 0);
    assert!(r.applied_ok > 0);
    assert!(
        store
            .automation("mapping:staff")
            .unwrap()
            .unwrap()
            .running_since
            .is_none(),
        "released after the run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_a_valid_configuration_and_keeps_the_old_one_otherwise() {
    let fx = Fx::new("reload", 2, "uid", STAFF_ATTRS).await;
    std::fs::write(fx.dir.path().join("event.secret"), "reload-secret\n").unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    append(&fx, &format!("\n[serve]\nlisten = \"127.0.0.1:{port}\"\n"));
    let base = std::fs::read_to_string(&fx.cfg_path).unwrap();
    let mut daemon = std::process::Command::new(env!("CARGO_BIN_EXE_hrsync"))
        .args(["serve", "-c"])
        .arg(&fx.cfg_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}");
    let status = |path: &'static str| {
        let http = http.clone();
        let url = url.clone();
        async move {
            http.post(format!("{url}{path}"))
                .body("{}")
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    let mut waited = 0;
    while http.get(format!("{url}/healthz")).send().await.is_err() {
        assert!(waited < 100, "the daemon did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(status("/events/hr").await, 404, "no such endpoint yet");
    let pid = daemon.id().to_string();
    let hup = || {
        std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
    };
    // A configuration whose secret file is missing is refused; the daemon keeps running.
    std::fs::write(
        &fx.cfg_path,
        base.clone()
            + "\n[[event]]\nname = \"hr\"\nmapping = \"staff\"\nformat = \"generic\"\nauth = \"hmac_sha256\"\nsecret = { file = \"missing.secret\" }\n",
    )
    .unwrap();
    assert!(hup().success());
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(status("/events/hr").await, 404, "old configuration kept");
    assert!(daemon.try_wait().unwrap().is_none(), "still running");
    // ... and /healthz says so, with the reason.
    let health: serde_json::Value = http
        .get(format!("{url}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(
        health["reason"]
            .as_str()
            .unwrap()
            .contains("missing.secret"),
        "{health}"
    );
    // A valid one is taken: the new endpoint exists (and refuses an unsigned event).
    std::fs::write(
        &fx.cfg_path,
        base + "\n[[event]]\nname = \"hr\"\nmapping = \"staff\"\nformat = \"generic\"\nauth = \"hmac_sha256\"\nsecret = { file = \"event.secret\" }\n",
    )
    .unwrap();
    assert!(hup().success());
    let mut waited = 0;
    while status("/events/hr").await != 401 {
        assert!(waited < 100, "not reloaded within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    let health: serde_json::Value = http
        .get(format!("{url}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        health["status"], "ok",
        "healthy again after a good reload: {health}"
    );
    let _ = std::process::Command::new("kill")
        .arg(daemon.id().to_string())
        .status();
    assert!(daemon.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_during_an_hr_outage_is_applied_when_hr_answers_again() {
    let fx = Fx::new("event-retry", 4, "uid", STAFF_ATTRS).await;
    std::fs::write(fx.dir.path().join("event.secret"), "retry-secret\n").unwrap();
    append(
        &fx,
        "\n[[event]]\nname = \"icehrm\"\nmapping = \"staff\"\nformat = \"generic\"\nauth = \"hmac_sha256\"\nsecret = { file = \"event.secret\" }\n",
    );
    assert_eq!(fx.run(Mode::Apply).await.applied_failed, 0);
    let id = fx.active_ids()[0];
    let key = fx.emp_no(id);
    fx.emu.update(id, json!({"last_name": "Patient"})).unwrap();
    // HR answers 500 to the next three list calls: the first event run (a call and its one
    // retry) fails; the second run gets through.
    fx.emu
        .set_fault(hrsync_emulator::icehrm::Fault::FailListPageTimes {
            page: 1,
            status: 500,
            times: 3,
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = service::start(fx.config(), listener).await.unwrap();
    let now = Utc::now().timestamp();
    let body = json!({"employee_id": key, "event_id": "outage-1"}).to_string();
    let resp = reqwest::Client::new()
        .post(format!("http://{}/events/icehrm", running.addr))
        .header("x-hrsync-timestamp", now.to_string())
        .header(
            "x-hrsync-signature",
            hrsync_server::events::sign("retry-secret", now, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let mut waited = 0;
    while sn_of(&fx, &key).await.as_deref() != Some("Patient") {
        assert!(waited < 150, "not applied within 15 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    let runs = fx.store().runs(10).unwrap();
    assert!(
        runs.iter().any(|r| r.status == "failed"),
        "the first attempt failed: {runs:?}"
    );
    running.shutdown(Duration::from_secs(10)).await;
}

/// `[serve.tls]`: HTTPS with the configured files; renewed files are served after a SIGHUP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_serves_renewed_tls_files() {
    let fx = Fx::new("tls-reload", 1, "uid", STAFF_ATTRS).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/make-tls.sh");
    for d in ["a", "b"] {
        let dir = fx.dir.path().join(d);
        let ok = std::process::Command::new(script)
            .arg(&dir)
            .args(["localhost", "DNS:localhost,IP:127.0.0.1"])
            .status()
            .unwrap();
        assert!(ok.success());
    }
    let (a, b) = (fx.dir.path().join("a"), fx.dir.path().join("b"));
    std::fs::copy(a.join("cert.pem"), fx.dir.path().join("cert.pem")).unwrap();
    std::fs::copy(a.join("key.pem"), fx.dir.path().join("key.pem")).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    append(
        &fx,
        &format!(
            "\n[serve]\nlisten = \"127.0.0.1:{port}\"\nshutdown_grace_secs = 5\n[serve.tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n"
        ),
    );
    let daemon = std::process::Command::new(env!("CARGO_BIN_EXE_hrsync"))
        .args(["serve", "-c"])
        .arg(&fx.cfg_path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let client = |ca: &std::path::Path| {
        let ca =
            reqwest::Certificate::from_pem(&std::fs::read(ca.join("ca.pem")).unwrap()).unwrap();
        reqwest::Client::builder()
            .tls_certs_only([ca])
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap()
    };
    let url = format!("https://localhost:{port}/healthz");
    let ok = |c: reqwest::Client| {
        let url = url.clone();
        async move {
            for _ in 0..100 {
                if let Ok(r) = c.get(&url).send().await {
                    return r.status().as_u16();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            0
        }
    };
    assert_eq!(
        ok(client(&a)).await,
        200,
        "HTTPS with the first certificate"
    );
    assert!(
        reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
            .await
            .is_err(),
        "no plain HTTP on the TLS port"
    );
    std::fs::copy(b.join("cert.pem"), fx.dir.path().join("cert.pem")).unwrap();
    std::fs::copy(b.join("key.pem"), fx.dir.path().join("key.pem")).unwrap();
    let pid = daemon.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(
        ok(client(&b)).await,
        200,
        "the renewed certificate after SIGHUP"
    );
    assert!(
        client(&a).get(&url).send().await.is_err(),
        "not the old one"
    );
    let _ = std::process::Command::new("kill").arg(&pid).status();
    let out = daemon.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("listening on"), "{stdout}");
}
