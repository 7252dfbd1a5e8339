//! The Paycor source end to end into the real slapd, against the Paycor emulator.

use crate::common::*;
use hrsync_config::Config;
use hrsync_emulator::paycor::{self, Fault, PaycorConfig, PaycorState, Permission};
use hrsync_engine::{Mode, RunReport, Unattended};
use hrsync_model::{AttrName, ChangeKind};
use hrsync_state::Store;
use std::collections::HashSet;

const SEPARATED: [&str; 5] = ["Terminated", "Resigned", "Retired", "LaidOff", "Deceased"];

pub(crate) struct PaycorFx {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) emu: PaycorState,
    _server: tokio::task::JoinHandle<()>,
}

/// The OAuth client secret and first refresh token the fixture's emulator accepts (unless the
/// test's `PaycorConfig` sets its own).
pub(crate) const FX_CLIENT_SECRET: &str = "fx-client-secret-41d7c0";
pub(crate) const FX_REFRESH_TOKEN: &str = "fx-initial-refresh-8e2b55";

/// The example with a pasted token instead of its `[integration.oauth]` table.
pub(crate) fn with_static_token(text: String) -> String {
    let start = text.find("[integration.oauth]").unwrap();
    let end = text.find("[directory]").unwrap();
    format!(
        "{}token = {{ file = \"token\" }}\n\n{}",
        &text[..start],
        &text[end..]
    )
}

impl PaycorFx {
    async fn new() -> PaycorFx {
        let cfg = PaycorConfig {
            employees: 450,
            seed: 11,
            ..PaycorConfig::default()
        };
        PaycorFx::with("paycor", cfg, |t| t).await
    }

    /// A fixture in its own OU `tag`, the example config edited by `edit`.
    pub(crate) async fn with(
        tag: &str,
        mut cfg: PaycorConfig,
        edit: impl Fn(String) -> String,
    ) -> PaycorFx {
        cfg.client_secret
            .get_or_insert_with(|| FX_CLIENT_SECRET.to_string());
        cfg.refresh_token
            .get_or_insert_with(|| FX_REFRESH_TOKEN.to_string());
        let env = ldap_env();
        let ou = format!("ou={tag}-{},{}", std::process::id(), env.base);
        let people = format!("ou=people,{ou}");
        let mut ldap = admin().await;
        for (dn, v) in [
            (&ou, format!("{tag}-{}", std::process::id())),
            (&people, "people".to_string()),
        ] {
            ldap.add(
                dn,
                vec![
                    ("objectClass", HashSet::from(["organizationalUnit"])),
                    ("ou", HashSet::from([v.as_str()])),
                ],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        }
        let emu = PaycorState::generate(&cfg);
        let (addr, server) = paycor::serve(emu.clone(), "/", "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), &cfg.access_token).unwrap();
        std::fs::write(dir.path().join("cs"), cfg.client_secret.as_deref().unwrap()).unwrap();
        std::fs::write(dir.path().join("rt"), cfg.refresh_token.as_deref().unwrap()).unwrap();
        std::fs::write(dir.path().join("key"), &cfg.subscription_key).unwrap();
        std::fs::write(dir.path().join("ldap.pw"), &env.password).unwrap();
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
        let text = std::fs::read_to_string(format!("{root}/paycor-openldap.toml"))
            .unwrap()
            .replace("http://127.0.0.1:8092", &format!("http://{addr}"))
            .replace("{ env = \"PAYCOR_CLIENT_SECRET\" }", "{ file = \"cs\" }")
            .replace("{ env = \"PAYCOR_REFRESH_TOKEN\" }", "{ file = \"rt\" }")
            .replace(
                "{ env = \"PAYCOR_SUBSCRIPTION_KEY\" }",
                "{ file = \"key\" }",
            )
            .replace("ldap://127.0.0.1:3389", &env.url)
            .replace("cn=admin,dc=example,dc=com", &env.bind_dn)
            .replace(
                "bind_password = { env = \"LDAP_BIND_PW\" }",
                "bind_password = { file = \"ldap.pw\" }",
            )
            .replace(
                "base_dn = \"dc=example,dc=com\"",
                &format!("base_dn = \"{ou}\""),
            )
            .replace(
                "users_ou = \"ou=paycor,dc=example,dc=com\"",
                &format!("users_ou = \"{people}\""),
            )
            // The example's mapping test case expects its DN under the users OU moved above.
            .replace(
                "dn = \"uid=1042,ou=paycor,dc=example,dc=com\"",
                &format!("dn = \"uid=1042,{people}\""),
            );
        let text = edit(text).replace("{addr}", &addr.to_string());
        std::fs::write(dir.path().join("hrsync.toml"), text).unwrap();
        PaycorFx {
            dir,
            emu,
            _server: server,
        }
    }

    pub(crate) async fn run(&self, mode: Mode) -> Result<RunReport, String> {
        let cfg = Config::load(&self.dir.path().join("hrsync.toml")).unwrap();
        let job = cfg.job("paycor-staff").unwrap();
        let mut store = Store::open(&cfg.state_path()).unwrap();
        hrsync_engine::run(&job, &mut store, mode, chrono::Utc::now(), &mut Unattended)
            .await
            .map_err(|e| e.to_string())
    }
}

fn status(e: &serde_json::Value) -> &str {
    e["statusData"]["status"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paycor_syncs_end_to_end_with_paging_429s_and_leavers() {
    let fx = PaycorFx::new().await;
    let employees = fx.emu.employees();
    let staying: Vec<&serde_json::Value> = employees
        .iter()
        .filter(|e| !SEPARATED.contains(&status(e)))
        .collect();
    assert!(staying.len() > 200, "more than one page of 200");

    // 429 with Retry-After on the first calls: waited out, the run completes.
    fx.emu.set_fault(Fault::RateLimited {
        calls: 2,
        retry_after_secs: 1,
    });
    let t = std::time::Instant::now();
    let r = fx.run(Mode::Apply).await.unwrap();
    assert!(
        t.elapsed() >= std::time::Duration::from_secs(2),
        "Retry-After was honoured"
    );
    assert!(r.plan.fetch.complete, "{:?}", r.plan.fetch);
    assert!(r.plan.fetch.pages >= 3);
    assert_eq!(r.plan.fetch.records, employees.len());
    let created: HashSet<&str> = r
        .plan
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Create)
        .map(|c| c.key.as_str())
        .collect();
    let expected: HashSet<&str> = staying
        .iter()
        .filter(|e| e["employeeNumber"].is_string())
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        created, expected,
        "everyone not separated is created, keyed by the Paycor GUID"
    );
    assert_eq!(r.applied_failed, 0);
    assert!(fx.run(Mode::Plan).await.unwrap().plan.changes.is_empty());

    // A separated status disables the account.
    let leaver = staying.iter().find(|e| status(e) == "Active").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(fx.emu.terminate(&leaver, "2026-11-20"));
    let r = fx.run(Mode::Apply).await.unwrap();
    let k: Vec<(ChangeKind, &str)> = r
        .plan
        .changes
        .iter()
        .map(|c| (c.kind, c.key.as_str()))
        .collect();
    assert_eq!(k, vec![(ChangeKind::Disable, leaver.as_str())]);
    assert!(r.plan.changes[0].reason.contains("statusData.status"));

    // A wrong subscription key: a clear error naming the integration, nothing changed.
    std::fs::write(fx.dir.path().join("key"), "not-the-key").unwrap();
    let err = fx.run(Mode::Apply).await.unwrap_err();
    assert!(
        err.contains("integration paycor: authorization failed (HTTP 401")
            && err.contains("subscription key"),
        "{err}"
    );
    assert!(!err.contains("not-the-key"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paycor_oauth_rotation_person_join_and_endpoint_test() {
    const SECRET: &str = "client-secret-6b1d93e0";
    const INITIAL: &str = "initial-refresh-0f4c2a77b9";
    let cfg = PaycorConfig {
        employees: 30,
        seed: 3,
        client_secret: Some(SECRET.into()),
        refresh_token: Some(INITIAL.into()),
        ..PaycorConfig::default()
    };
    let client_id = cfg.client_id.clone();
    assert_eq!(
        client_id, "hrsync-emulator-client",
        "the example's client id"
    );
    // The example itself uses OAuth.
    let fx = PaycorFx::with("paycor-oauth", cfg.clone(), move |t| {
        t.replace("# join = [\"person_data\"]", "join = [\"person_data\"]")
        .replace(
            "l = \"{workLocation.city}\"",
            "l = \"{workLocation.city}\"\ndescription = \"home: {person_data.email.emailAddress}\"",
        )
    })
    .await;
    let path = fx.dir.path().join("hrsync.toml");
    std::fs::write(fx.dir.path().join("cs"), SECRET).unwrap();
    std::fs::write(fx.dir.path().join("rt"), INITIAL).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("[integration.oauth]")
            && !text.contains("\ntoken = {")
            && text.contains("\njoin = [\"person_data\"]"),
        "{text}"
    );

    let r = fx.run(Mode::Apply).await.unwrap();
    assert!(r.plan.fetch.complete, "{:?}", r.plan.fetch);
    assert_eq!(r.plan.fetch.endpoint, "legal_entity_employees+person_data");
    assert!(r.plan.findings.is_empty(), "{:?}", r.plan.findings);
    let created = r
        .plan
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Create)
        .count();
    assert!(created > 20, "{created}");
    // The person join filled the home e-mail in.
    let with_home = r
        .plan
        .changes
        .iter()
        .filter(|c| {
            c.attrs.iter().any(|a| {
                a.attr == AttrName::from("description")
                    && a.after
                        .iter()
                        .any(|v| v.starts_with("home: ") && v.contains('@'))
            })
        })
        .count();
    assert!(with_home > 0, "{:?}", r.plan.changes.first());

    // The refresh token rotated into the 0600 store; the next run (new provider) uses it.
    let store = fx.dir.path().join("paycor.refresh-token");
    let refresh_of = |text: &str| {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        v["refresh_token"].as_str().unwrap().to_string()
    };
    let first = std::fs::read_to_string(&store).unwrap();
    assert_ne!(refresh_of(&first), INITIAL);
    assert_eq!(fx.emu.refresh_grants(), 1);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&store).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let r = fx.run(Mode::Plan).await.unwrap();
    assert!(r.plan.changes.is_empty(), "{:?}", r.plan.changes);
    let second = std::fs::read_to_string(&store).unwrap();
    assert_eq!(
        first, second,
        "the next run used the stored access token: no refresh while it is valid"
    );
    assert_eq!(fx.emu.refresh_grants(), 1);
    let access = serde_json::from_str::<serde_json::Value>(&second).unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    // endpoint test on both endpoints, through the binary: fields shown, no secret anywhere.
    let secrets = [
        SECRET.to_string(),
        INITIAL.to_string(),
        cfg.subscription_key.clone(),
        refresh_of(&second),
        access,
    ];
    let cfg = fx.dir.path().join("hrsync.toml");
    let run = |args: &'static [&'static str]| {
        let cfg = cfg.clone();
        async move { crate::common::cli_async(&cfg, args, &[("HRSYNC_LOG", "trace")]).await }
    };
    let (code, out) = run(&["endpoint", "test", "paycor"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Ocp-Apim-Subscription-Key: [redacted]")
            && out.contains("Authorization: Bearer [redacted]")
            && out.contains("Result: complete, 30 record(s)")
            && out.contains("statusData.status")
            && out.contains("positionData.manager.id"),
        "{out}"
    );
    let (code, out2) = run(&["endpoint", "test", "paycor", "person_data"]).await;
    assert_eq!(code, 0, "{out2}");
    assert!(
        out2.contains("email.emailAddress") && out2.contains("phones[].phoneNumber"),
        "{out2}"
    );
    let third = refresh_of(&std::fs::read_to_string(&store).unwrap());
    for text in [&out, &out2] {
        for s in secrets.iter().chain([&third]) {
            assert!(!text.contains(s.as_str()), "a secret leaked:\n{text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_accounts_are_written_back_to_paycor() {
    let cfg = PaycorConfig {
        employees: 12,
        seed: 5,
        ..PaycorConfig::default()
    };
    let fx = PaycorFx::with("paycor-writeback", cfg, |t| t).await;
    let r = fx.run(Mode::Apply).await.unwrap();
    assert_eq!(r.applied_failed, 0);
    let created: Vec<String> = r
        .plan
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Create)
        .map(|c| c.key.clone())
        .collect();
    assert!(!created.is_empty());
    let config = Config::load(&fx.dir.path().join("hrsync.toml")).unwrap();
    let mut store = Store::open(&config.state_path()).unwrap();
    let worker = hrsync_server::orchestrate::Worker::new(std::sync::Arc::new(config)).unwrap();
    let ran = worker.run_due(&mut store).await.unwrap();
    assert_eq!(ran, created.len());
    assert!(store.outbox(Some("dead"), 10).unwrap().is_empty());
    for id in &created {
        let uid = r
            .plan
            .changes
            .iter()
            .find(|c| &c.key == id)
            .and_then(|c| c.attrs.iter().find(|a| a.attr == AttrName::from("uid")))
            .map(|a| a.after[0].clone())
            .unwrap();
        let e = fx.emu.employee(id).unwrap();
        let text = e.to_string();
        assert!(
            text.contains(&format!("{uid}@example.com")),
            "{id}: Paycor has the new work email: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paycor_events_reach_the_daemon_and_update_that_employee() {
    let cfg = PaycorConfig {
        employees: 30,
        seed: 8,
        ..PaycorConfig::default()
    };
    // With the per-employee person join, to count its calls.
    let fx = PaycorFx::with("paycor-events", cfg, |t| {
        // (without the example's write-back orchestration: only the event's calls count)
        let t = without_write_back(&t);
        t.replace("# join = [\"person_data\"]", "join = [\"person_data\"]") + EVENT
    })
    .await;
    std::fs::write(
        fx.dir.path().join("event.secret"),
        "Bearer WREX-notification-secret\n",
    )
    .unwrap();
    let r = fx.run(Mode::Apply).await.unwrap();
    assert_eq!(r.applied_failed, 0);
    let config = Config::load(&fx.dir.path().join("hrsync.toml")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = hrsync_server::start(config, listener).await.unwrap();
    // Paycor sends Employee.Modified with the subscription's secret as Authorization.
    fx.emu.subscribe_events(
        &format!("http://{}/events/paycor", running.addr),
        "Bearer WREX-notification-secret",
    );
    let active: Vec<String> = r
        .plan
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Create)
        .map(|c| c.key.clone())
        .collect();
    let (a, b) = (active[0].clone(), active[1].clone());
    let sn = |id: String| sn_in("paycor-events", id);
    let b_before = sn(b.clone()).await;
    assert!(b_before.is_some());
    assert_ne!(sn(a.clone()).await.as_deref(), Some("Eventful"));
    let calls_before = fx.emu.request_count();
    fx.emu
        .update(&a, serde_json::json!({"lastName": "Eventful"}))
        .unwrap();
    let mut waited = 0;
    while sn(a.clone()).await.as_deref() != Some("Eventful") {
        assert!(waited < 100, "the Paycor event was not applied within 10 s");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(
        sn(b.clone()).await,
        b_before,
        "only the employee the event names"
    );
    // The employee list is read, but the per-person call is made for the named one only
    // (not for all 30).
    let calls = fx.emu.request_count() - calls_before;
    assert!(calls <= 4, "{calls} Paycor calls for one event");
    // A forged event (wrong secret) is refused.
    let forged = reqwest::Client::new()
        .post(format!("http://{}/events/paycor", running.addr))
        .header("authorization", "Bearer guess")
        .body(r#"{"eventType":"Employee.Modified","eventId":"x-1","itemId":"nobody"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    running.shutdown(std::time::Duration::from_secs(10)).await;
}

/// Paycor's callback casing is not documented (older specs show PascalCase) and its example
/// notification secret begins with `Bearer `: either casing, with or without the prefix on
/// either side, is accepted; a wrong secret is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paycor_events_in_either_casing_with_or_without_the_bearer_prefix() {
    let cfg = PaycorConfig {
        employees: 12,
        seed: 21,
        ..PaycorConfig::default()
    };
    let fx = PaycorFx::with("paycor-casing", cfg, |t| {
        let t = without_write_back(&t);
        t + EVENT
    })
    .await;
    // Configured without the prefix; Paycor's portal shows (and sends) it with.
    std::fs::write(
        fx.dir.path().join("event.secret"),
        "WREX-notification-secret\n",
    )
    .unwrap();
    let r = fx.run(Mode::Apply).await.unwrap();
    assert_eq!(r.applied_failed, 0);
    let config = Config::load(&fx.dir.path().join("hrsync.toml")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = hrsync_server::start(config, listener).await.unwrap();
    let url = format!("http://{}/events/paycor", running.addr);
    // Paycor delivers PascalCase keys with `Bearer ` before the secret.
    fx.emu
        .subscribe_events_pascal_case(&url, "Bearer WREX-notification-secret");
    let created: Vec<String> = r
        .plan
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Create)
        .map(|c| c.key.clone())
        .collect();
    let sn = |id: String| sn_in("paycor-casing", id);
    let wait_for = |id: String, want: &'static str| async move {
        let mut waited = 0;
        while sn(id.clone()).await.as_deref() != Some(want) {
            assert!(waited < 100, "{id}: the event was not applied within 10 s");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            waited += 1;
        }
    };
    // 1. Delivered by the emulator: PascalCase, `Bearer ` prefix.
    let a = created[0].clone();
    fx.emu
        .update(&a, serde_json::json!({"lastName": "Pascalcase"}))
        .unwrap();
    let pascal = fx.emu.events().last().cloned().unwrap();
    assert_eq!(pascal["eventType"], "Employee.Modified");
    wait_for(a, "Pascalcase").await;
    // 2./3. Posted directly: camelCase without the prefix, PascalCase with a lower-case one.
    let post = |auth: &'static str, body: String| {
        let url = url.clone();
        async move {
            reqwest::Client::new()
                .post(url)
                .header("authorization", auth)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for (i, (auth, pascal_keys, last)) in [
        ("WREX-notification-secret", false, "Camelcase"),
        ("bearer WREX-notification-secret", true, "Lowerbearer"),
    ]
    .into_iter()
    .enumerate()
    {
        let id = created[i + 1].clone();
        // Change the data quietly (no event), then send the event by hand.
        fx.emu.set_events_paused(true);
        fx.emu
            .update(&id, serde_json::json!({"lastName": last}))
            .unwrap();
        fx.emu.set_events_paused(false);
        let body = if pascal_keys {
            serde_json::json!({"EventType": "Employee.Modified", "EventId": format!("manual-{i}"), "ItemId": id})
        } else {
            serde_json::json!({"eventType": "Employee.Modified", "eventId": format!("manual-{i}"), "itemId": id})
        };
        assert_eq!(post(auth, body.to_string()).await, 202, "{auth}");
        wait_for(id, last).await;
    }
    // A wrong secret is refused, with or without the prefix.
    for auth in [
        "Bearer WREX-notification-secreT",
        "WREX-notification",
        "Bearer ",
        "",
    ] {
        let body = r#"{"EventType":"Employee.Modified","EventId":"x-1","ItemId":"nobody"}"#;
        assert_eq!(post(auth, body.into()).await, 401, "{auth:?}");
    }
    running.shutdown(std::time::Duration::from_secs(10)).await;
}

/// The example config without its write-back section (webhook and orchestration).
fn without_write_back(t: &str) -> String {
    t.split("# Write-back")
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The Paycor event endpoint the event tests add (shared secret in `event.secret`).
const EVENT: &str = "\n[[event]]\nname = \"paycor\"\nmapping = \"paycor-staff\"\nformat = \"paycor\"\nauth = \"shared_secret\"\nsecret = { file = \"event.secret\" }\n";

/// A status outside Paycor's 13 documented values (`Unknown`) is a warning; by default that
/// person's changes are held (nothing disabled); `unknown_status = "leaver"` disables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paycor_unknown_status_is_held_with_a_warning_unless_configured() {
    let cfg = PaycorConfig {
        employees: 15,
        seed: 31,
        ..PaycorConfig::default()
    };
    let fx = PaycorFx::with("paycor-unknown", cfg, |t| without_write_back(&t)).await;
    let r = fx.run(Mode::Apply).await.unwrap();
    assert_eq!(r.applied_failed, 0);
    let created: Vec<String> = r
        .plan
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Create)
        .map(|c| c.key.clone())
        .collect();
    let a = created[0].clone();
    fx.emu
        .update(
            &a,
            serde_json::json!({"status": "Unknown", "lastName": "Held"}),
        )
        .unwrap();
    assert_eq!(
        fx.emu.employee(&a).unwrap()["statusData"]["status"],
        "Unknown"
    );
    let held = |r: &RunReport| {
        r.plan
            .findings
            .iter()
            .find(|f| f.subject == a)
            .cloned()
            .unwrap_or_else(|| panic!("no finding about {a}: {:?}", r.plan.findings))
    };
    let r = fx.run(Mode::Apply).await.unwrap();
    let w = held(&r);
    assert_eq!(w.severity, "warning");
    assert!(
        w.message.contains("\"Unknown\"") && w.message.contains("held"),
        "{}",
        w.message
    );
    assert!(
        !r.plan.changes.iter().any(|c| c.key == a),
        "held: no change for {a}: {:?}",
        r.plan.changes
    );
    // Configured: active (the other changes go ahead, never a leaver), or a leaver.
    let path = fx.dir.path().join("hrsync.toml");
    let original = std::fs::read_to_string(&path).unwrap();
    let treat = |how: &str| {
        let text = original.replace(
            "rdn_attribute = \"uid\"",
            &format!("rdn_attribute = \"uid\"\nunknown_status = \"{how}\""),
        );
        std::fs::write(&path, text).unwrap();
    };
    treat("active");
    let r = fx.run(Mode::Plan).await.unwrap();
    assert!(held(&r).message.contains("active"));
    let mine: Vec<_> = r.plan.changes.iter().filter(|c| c.key == a).collect();
    assert!(
        mine.len() == 1 && mine[0].kind == ChangeKind::Update,
        "{mine:?}"
    );
    treat("leaver");
    let r = fx.run(Mode::Plan).await.unwrap();
    assert!(held(&r).message.contains("leaver"));
    assert!(
        r.plan
            .changes
            .iter()
            .any(|c| c.key == a && c.kind == ChangeKind::Disable),
        "{:?}",
        r.plan.changes
    );
}

/// A 403 for an `include` block whose Data Access permission is not granted names that
/// permission; with `include` overridden to the granted blocks, the run completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paycor_403_names_the_missing_permission_and_include_can_be_overridden() {
    let cfg = PaycorConfig {
        employees: 10,
        seed: 41,
        ..PaycorConfig::default()
    };
    let fx = PaycorFx::with("paycor-include", cfg, |t| without_write_back(&t)).await;
    fx.emu
        .revoke(Permission::ViewLegalEntityEmployeesWorkLocation);
    let e = fx.run(Mode::Plan).await.unwrap_err();
    assert!(
        e.contains("\"View Legal Entity Employees Work Location\"") && e.contains("include"),
        "{e}"
    );
    let path = fx.dir.path().join("hrsync.toml");
    let original = std::fs::read_to_string(&path).unwrap();
    // Without Status nobody could ever leave; an unknown block is a typo.
    for (include, says) in [
        ("[\"Position\"]", "include must contain \"Status\""),
        (
            "[\"Status\", \"Positions\"]",
            "\"Positions\" is not an include block",
        ),
    ] {
        let text = original.replace(
            "legal_entity_id = 501123",
            &format!("legal_entity_id = 501123\ninclude = {include}"),
        );
        std::fs::write(&path, text).unwrap();
        let e = match Config::load(&path) {
            Err(e) => e.to_string(),
            Ok(c) => c.job("paycor-staff").err().unwrap().to_string(),
        };
        assert!(e.contains(says) && e.contains(".include"), "{e}");
    }
    let text = original.replace(
        "legal_entity_id = 501123",
        "legal_entity_id = 501123\ninclude = [\"EmploymentDates\", \"Status\", \"Position\"]",
    );
    std::fs::write(&path, text).unwrap();
    let r = fx.run(Mode::Apply).await.unwrap();
    assert_eq!(r.applied_failed, 0);
    assert!(
        r.plan.changes.iter().any(|c| c.kind == ChangeKind::Create),
        "{:?}",
        r.plan.changes
    );
}

/// The `sn` of the entry with this employee number in the test's own OU (`ou=NAME-PID`): the
/// seeded GUIDs repeat across runs on a reused server, so the search never leaves that OU.
async fn sn_in(name: &'static str, id: String) -> Option<String> {
    let mut ldap = admin().await;
    let ou = format!("ou={name}-{},{}", std::process::id(), ldap_env().base);
    let (rs, _) = ldap
        .search(
            &ou,
            ldap3::Scope::Subtree,
            &format!("(employeeNumber={id})"),
            vec!["sn"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    rs.into_iter()
        .next()
        .map(ldap3::SearchEntry::construct)
        .and_then(|e| e.attrs.get("sn").and_then(|v| v.first().cloned()))
}
