//! The console's webhooks, orchestration templates, automations and the users-and-groups
//! picker, in process. The directory tests need the test slapd (scripts/test.sh starts one and
//! exports HRSYNC_TEST_LDAP_*; without HRSYNC_TEST_LDAP_URL they say so and pass): each makes
//! its own OU with people and a group.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod console_support;

use axum::http::StatusCode;
use console_support::Console;
use hrsync_auth::Role;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// A page's text with the escapes of HTML attributes undone (minijinja escapes `/`).
fn un(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The page's main part (the frame has the sign-out button).
fn main(s: &str) -> String {
    un(s).split("<main").nth(1).unwrap_or_default().to_string()
}

trait Has {
    fn has(&self, s: &str) -> bool;
}

impl Has for String {
    fn has(&self, s: &str) -> bool {
        un(self).contains(s)
    }
}

const HOOK: &[(&str, &str)] = &[
    ("name", "hello"),
    ("description", "Tell HR"),
    ("method", "post"),
    ("url", "http://127.0.0.1:9/people/{hr.id}"),
    ("message_type", "json"),
    ("headers", "X-Source: hrsync {event}"),
    ("query", "who={user.uid}"),
    ("body", r#"{"mail": "{user.mail}", "key": "{key}"}"#),
    ("auth", ""),
    ("timeout_secs", ""),
    ("max_attempts", "2"),
    ("hash", ""),
];

/// The form with `hash` set to the file's current hash (as the editor puts it); a later
/// single-valued field replaces an earlier one of the same name.
fn with_hash(c: &Console, fields: &[(&str, &str)]) -> Vec<(String, String)> {
    let hash = hrsync_config::edit::ConfigFile::read(&c.config)
        .unwrap()
        .hash;
    let repeated =
        |k: &str| k == "on" || k == "pick" || k == "pick_group" || k.starts_with("step_");
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in fields {
        let v = if *k == "hash" {
            hash.clone()
        } else {
            v.to_string()
        };
        match out.iter_mut().find(|(n, _)| n == k) {
            Some(slot) if !repeated(k) => slot.1 = v,
            _ => out.push((k.to_string(), v)),
        }
    }
    out
}

fn refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[tokio::test]
async fn an_admin_saves_a_webhook_with_the_editor_and_a_viewer_cannot() {
    let c = fixture(None);
    let admin = c.browser("adam", Role::Admin);
    let p = c.get(Some(&admin), "/console/webhooks/new").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    for hook in [
        r#"id="webhook-form""#,
        r#"id="f-name""#,
        r#"id="f-method""#,
        r#"id="f-url""#,
        r#"id="f-message_type""#,
        r#"id="f-body""#,
        r#"id="save-webhook""#,
        r#"id="test-webhook""#,
        r#"id="picker-q""#,
        r#"id="test-result""#,
    ] {
        assert!(p.body.has(hook), "{hook} missing");
    }
    // The macro picker lists the webhook's macros with the mapping's attributes and fields.
    for m in [
        "{key}",
        "{dn}",
        "{event}",
        "{webhook}",
        "{user.cn}",
        "{user.employeeNumber}",
        "{hr.first}",
        "{hr.id}",
        "{notify.subject}",
    ] {
        assert!(
            p.body
                .has(&format!(r#"data-insert="{m}" data-target="f-body""#)),
            "macro {m} missing"
        );
    }
    let form = with_hash(&c, &[HOOK, &[("action", "save")]].concat());
    let p = c
        .post_form(&admin, "/console/webhooks/new", &refs(&form), true)
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.headers["location"], "/console/webhooks/hello?saved=1");
    let toml = c.config_text();
    assert!(toml.contains("# The staff mapping."), "comments kept");
    assert!(
        toml.contains("[[webhook]]") && toml.contains(r#"name = "hello""#),
        "{toml}"
    );
    assert!(
        toml.contains(r#"method = "POST""#) && toml.contains("max_attempts = 2"),
        "{toml}"
    );
    let list = c.get(Some(&admin), "/console/webhooks").await;
    assert!(list.body.has(r#"data-webhook="hello""#), "{}", list.body);
    let p = c.get(Some(&admin), "/console/webhooks/hello?saved=1").await;
    assert!(p.body.has(r#"id="saved-notice""#));
    assert!(p.body.has("X-Source: hrsync {event}"), "headers as lines");

    // A viewer sees the webhook and no button; a forged post is refused and changes nothing.
    let viewer = c.browser("vera", Role::Viewer);
    let p = c.get(Some(&viewer), "/console/webhooks/hello").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(!main(&p.body).contains("<button"), "a viewer sees a button");
    for b in ["save-webhook", "test-webhook", "add-webhook", "picker-q"] {
        assert!(!p.body.has(b), "a viewer sees {b}");
    }
    let before = c.config_text();
    let forged = with_hash(
        &c,
        &[HOOK, &[("action", "save"), ("url", "http://evil.example/")]].concat(),
    );
    let p = c
        .post_form(&viewer, "/console/webhooks/hello", &refs(&forged), true)
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    assert_eq!(c.config_text(), before);
    // An operator may test (not save): the button says Test.
    let op = c.browser("olga", Role::Operator);
    let p = c.get(Some(&op), "/console/webhooks/hello").await;
    assert!(p.body.has(r#"id="test-webhook""#) && !p.body.has(r#"id="save-webhook""#));
    let p = c
        .post_form(&op, "/console/webhooks/hello", &refs(&forged), true)
        .await;
    assert_eq!(
        p.status,
        StatusCode::FORBIDDEN,
        "an operator may not save: {}",
        p.body
    );
    let testing = with_hash(
        &c,
        &[HOOK, &[("action", "test"), ("url", "http://evil.example/")]].concat(),
    );
    let p = c
        .post_form(&op, "/console/webhooks/hello", &refs(&testing), true)
        .await;
    assert_eq!(
        p.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "nobody chosen: {}",
        p.body
    );
    assert!(p.body.has("choose at least one person"));
    assert_eq!(c.config_text(), before, "an operator's form is never saved");
}

#[tokio::test]
async fn a_credential_typed_into_a_header_is_refused_and_never_shown_again() {
    let c = fixture(None);
    let admin = c.browser("adam", Role::Admin);
    let secret = "s3cr3t-Typed-Value-91";
    let header = format!("X-Api-Key: {secret}\nX-Source: hrsync");
    let form = with_hash(
        &c,
        &[HOOK, &[("action", "save"), ("headers", header.as_str())]].concat(),
    );
    let p = c
        .post_form(&admin, "/console/webhooks/new", &refs(&form), true)
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(
        p.body.has(r#"role="alert""#) && p.body.has("X-Api-Key"),
        "{}",
        p.body
    );
    assert!(!c.config_text().contains("hello"), "nothing saved");
    // The test button on the same form: refused before anything is called.
    let form = with_hash(
        &c,
        &[
            HOOK,
            &[
                ("action", "test"),
                ("headers", header.as_str()),
                ("pick", "1"),
            ],
        ]
        .concat(),
    );
    let p2 = c
        .post_form(&admin, "/console/webhooks/new", &refs(&form), true)
        .await;
    assert_eq!(p2.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut pages = vec![p.body, p2.body];
    for uri in [
        "/console/webhooks",
        "/console/webhooks/new",
        "/console/settings",
        "/console/orchestrations/new",
    ] {
        pages.push(c.get(Some(&admin), uri).await.body);
    }
    for (i, body) in pages.iter().enumerate() {
        assert!(!body.has(secret), "page {i} shows the secret");
    }
    assert!(!c.config_text().contains(secret));
}

#[tokio::test]
async fn an_orchestration_template_is_made_with_the_editor() {
    let c = fixture(None);
    let admin = c.browser("adam", Role::Admin);
    let form = with_hash(&c, &[HOOK, &[("action", "save")]].concat());
    let p = c
        .post_form(&admin, "/console/webhooks/new", &refs(&form), true)
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let p = c.get(Some(&admin), "/console/orchestrations/new").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    for hook in [
        r#"id="orchestration-form""#,
        r#"id="f-name""#,
        r#"<select id="f-trigger""#,
        r#"<select id="f-step_webhook""#,
        r#"id="save-orchestration""#,
        r#"<option value="hello">hello</option>"#,
    ] {
        assert!(p.body.has(hook), "{hook} missing: {}", p.body);
    }
    let step = |a: &'static str, w: &'static str, t: &'static str, when: &'static str| {
        vec![
            ("step_action", a),
            ("step_webhook", w),
            ("step_target", t),
            ("step_value", ""),
            ("step_when", when),
            ("step_on_error", "retry"),
            ("step_max_attempts", ""),
        ]
    };
    // A step without its webhook: inline error, nothing saved.
    let mut bad = vec![
        ("name", "onboard"),
        ("on", "created"),
        ("max_attempts", ""),
        ("hash", ""),
        ("action", "save"),
    ];
    bad.extend(step("add_group", "", "", "previous_ok"));
    bad.extend(step("delay", "", "", "previous_ok"));
    let bad = with_hash(&c, &bad);
    let p = c
        .post_form(&admin, "/console/orchestrations/new", &refs(&bad), true)
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(p.body.has(r#"role="alert""#));
    assert!(!c.config_text().contains("[[orchestration]]"));
    let mut good = vec![
        ("name", "onboard"),
        ("on", "created"),
        ("mapping", ""),
        ("max_attempts", "4"),
        ("hash", ""),
        ("action", "save"),
    ];
    good.extend(step("webhook", "hello", "", "previous_ok"));
    good.extend(step(
        "add_group",
        "",
        "cn=staff,ou=groups,dc=example,dc=com",
        "always",
    ));
    good.extend(step("webhook", "", "", "previous_ok"));
    let good = with_hash(&c, &good);
    let p = c
        .post_form(&admin, "/console/orchestrations/new", &refs(&good), true)
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let toml = c.config_text();
    assert!(
        toml.contains("[[orchestration]]") && toml.contains(r#"on = ["created"]"#),
        "{toml}"
    );
    assert!(
        toml.contains(r#"webhook = "hello""#) && toml.contains(r#"when = "always""#),
        "{toml}"
    );
    let p = c
        .get(Some(&admin), "/console/orchestrations/onboard?saved=1")
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.has(r#"<option value="created" selected>"#));
    assert!(p.body.has(r#"id="run-form""#), "Run on… for an operator");
    let list = c.get(Some(&admin), "/console/orchestrations").await;
    assert!(list.body.has(r#"data-orchestration="onboard""#));
    // Step 2 moved up: shown first, saved only with Save.
    let mut up: Vec<(String, String)> = good.clone();
    for (k, v) in up.iter_mut() {
        if k == "action" {
            *v = "up-2".into();
        }
    }
    let p = c
        .post_form(&admin, "/console/orchestrations/onboard", &refs(&up), true)
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.has(r#"id="moved-notice""#));
    let first_row = main(&p.body)
        .split(r#"data-step="1""#)
        .nth(1)
        .unwrap()
        .split("</tr>")
        .next()
        .unwrap()
        .to_string();
    assert!(
        first_row.contains(r#"value="add_group" selected"#),
        "{first_row}"
    );
    assert!(
        c.config_text().find(r#"webhook = "hello""#).unwrap()
            < c.config_text().find("add_group").unwrap(),
        "not saved"
    );
    // A viewer: no buttons, and a forged run is refused.
    let viewer = c.browser("vera", Role::Viewer);
    let p = c
        .get(Some(&viewer), "/console/orchestrations/onboard")
        .await;
    assert!(!main(&p.body).contains("<button"), "a viewer sees a button");
    for b in ["save-orchestration", "run-orchestration", "add-step"] {
        assert!(!p.body.has(b), "a viewer sees {b}");
    }
    let p = c
        .post_form(
            &viewer,
            "/console/orchestrations/onboard/run",
            &[("pick", "1"), ("action", "run")],
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    let p = c
        .post_form(
            &viewer,
            "/console/orchestrations/onboard/delete",
            &refs(&with_hash(&c, &[("hash", "")])),
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    // The webhook cannot go while the template uses it; the template can, then the webhook.
    let p = c
        .post_form(
            &admin,
            "/console/webhooks/hello/delete",
            &refs(&with_hash(&c, &[("hash", "")])),
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(
        p.body.has(r#"role="alert""#) && p.body.has("hello"),
        "{}",
        p.body
    );
    assert!(c.config_text().contains(r#"name = "hello""#));
    let p = c
        .post_form(
            &admin,
            "/console/orchestrations/onboard/delete",
            &refs(&with_hash(&c, &[("hash", "")])),
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let p = c
        .post_form(
            &admin,
            "/console/webhooks/hello/delete",
            &refs(&with_hash(&c, &[("hash", "")])),
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let toml = c.config_text();
    assert!(
        !toml.contains("[[orchestration]]") && !toml.contains("[[webhook]]"),
        "{toml}"
    );
    assert!(toml.contains("# The staff mapping."));
}

#[tokio::test]
async fn automations_show_their_schedule_in_words_and_pause() {
    let c = fixture(None);
    let admin = c.browser("adam", Role::Admin);
    let p = c
        .get(
            Some(&admin),
            "/console/automations/describe?schedule=*/15+*+*+*+*",
        )
        .await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.has("data-schedule-words"), "{}", p.body);
    assert_eq!(
        p.body.matches("<li>").count(),
        5,
        "the next five runs: {}",
        p.body
    );
    let p = c
        .get(
            Some(&admin),
            "/console/automations/describe?schedule=every+monday",
        )
        .await;
    assert!(p.body.has(r#"role="alert""#), "{}", p.body);
    let base = [
        ("name", "nightly"),
        ("description", ""),
        ("mapping", "staff"),
        ("mode", "plan"),
        ("fetch", "full"),
        ("missed", "skip"),
        ("enabled", "1"),
        ("hash", ""),
    ];
    let bad = with_hash(&c, &[&base[..], &[("schedule", "every monday")]].concat());
    let p = c
        .post_form(&admin, "/console/automations/new", &refs(&bad), true)
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.has("not a cron expression"), "{}", p.body);
    assert!(!c.config_text().contains("nightly"), "nothing saved");
    let good = with_hash(&c, &[&base[..], &[("schedule", "0 2 * * *")]].concat());
    let p = c
        .post_form(&admin, "/console/automations/new", &refs(&good), true)
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let toml = c.config_text();
    assert!(
        toml.contains("[[automation]]") && toml.contains(r#"schedule = "0 2 * * *""#),
        "{toml}"
    );
    let p = c.get(Some(&admin), "/console/automations/nightly").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.has(r#"id="next-five""#), "{}", p.body);
    assert_eq!(
        un(&p.body)
            .split(r#"id="next-five""#)
            .nth(1)
            .unwrap()
            .split("</ol>")
            .next()
            .unwrap()
            .matches("<li>")
            .count(),
        5
    );
    let list = c.get(Some(&admin), "/console/automations").await;
    assert!(list.body.has(r#"data-pause="nightly""#), "{}", list.body);
    let p = c
        .post_form(&admin, "/console/automations/nightly/pause", &[], true)
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert!(c.config_text().contains("enabled = false"));
    let list = c.get(Some(&admin), "/console/automations").await;
    assert!(list.body.has(r#"data-resume="nightly""#));
    // A viewer: no Run now, Pause or Save; a forged pause is refused.
    let viewer = c.browser("vera", Role::Viewer);
    let list = c.get(Some(&viewer), "/console/automations").await;
    assert!(!list.body.has("data-resume") && !list.body.has("data-run-now"));
    assert!(
        !main(&list.body).contains("<button"),
        "a viewer sees a button"
    );
    let p = c.get(Some(&viewer), "/console/automations/nightly").await;
    assert!(!main(&p.body).contains("<button"), "a viewer sees a button");
    let p = c
        .post_form(&viewer, "/console/automations/nightly/resume", &[], true)
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(c.config_text().contains("enabled = false"));
    let p = c
        .post_form(
            &admin,
            "/console/automations/nightly/delete",
            &refs(&with_hash(&c, &[("hash", "")])),
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert!(!c.config_text().contains("nightly"));
}

#[tokio::test]
async fn the_picker_is_for_operators_and_names_a_directory_failure() {
    let c = fixture(None);
    let viewer = c.browser("vera", Role::Viewer);
    let p = c
        .htmx(&viewer, "GET", "/console/picker?kind=users&q=ada", &[])
        .await;
    assert!(
        p.body.has(r#"role="alert""#) && p.body.has("Forbidden"),
        "{}",
        p.body
    );
    // The fixture's directory is not reachable: the reason, not an empty list.
    let op = c.browser("olga", Role::Operator);
    let p = c
        .htmx(&op, "GET", "/console/picker?kind=users&q=ada", &[])
        .await;
    assert!(
        p.body.has(r#"role="alert""#) && p.body.has("directory"),
        "{}",
        p.body
    );
}

// ----- against the test slapd -----

struct Ldap {
    url: String,
    bind_dn: String,
    password: String,
    ou: String,
}

static N: AtomicU32 = AtomicU32::new(0);

async fn add(l: &mut ldap3::Ldap, dn: &str, attrs: &[(&str, &[&str])]) {
    let attrs: Vec<(&str, HashSet<&str>)> = attrs
        .iter()
        .map(|(k, v)| (*k, v.iter().copied().collect()))
        .collect();
    l.add(dn, attrs)
        .await
        .unwrap()
        .success()
        .unwrap_or_else(|e| panic!("add {dn}: {e}"));
}

/// A fresh OU with people ada (key 1), alan (key 2), nokey (no key), a hostile name, and the
/// group staff (ada, alan).
async fn ldap(name: &str) -> Option<Ldap> {
    let Ok(url) = std::env::var("HRSYNC_TEST_LDAP_URL") else {
        eprintln!("HRSYNC_TEST_LDAP_URL is not set: skipped (scripts/test.sh starts a slapd)");
        return None;
    };
    let get = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    let (bind_dn, password, base) = (
        get("HRSYNC_TEST_LDAP_BIND_DN"),
        get("HRSYNC_TEST_LDAP_BIND_PW"),
        get("HRSYNC_TEST_LDAP_BASE_DN"),
    );
    let n = N.fetch_add(1, Ordering::SeqCst);
    let label = format!("console-{name}-{}-{n}", std::process::id());
    let ou = format!("ou={label},{base}");
    let (conn, mut l) = ldap3::LdapConnAsync::new(&url).await.unwrap();
    ldap3::drive!(conn);
    l.simple_bind(&bind_dn, &password)
        .await
        .unwrap()
        .success()
        .unwrap();
    add(
        &mut l,
        &ou,
        &[("objectClass", &["organizationalUnit"]), ("ou", &[&label])],
    )
    .await;
    for (uid, cn, key, mail) in [
        ("ada", "Ada Lovelace", Some("1"), "ada@example.com"),
        ("alan", "Alan Turing", Some("2"), "alan@example.com"),
        ("nokey", "No Key", None, "nokey@example.com"),
        ("star", "Star *)(uid=*", Some("9"), "star@example.com"),
    ] {
        let dn = format!("uid={uid},{ou}");
        let mut attrs: Vec<(&str, &[&str])> = vec![
            ("objectClass", &["inetOrgPerson"]),
            ("uid", std::slice::from_ref(&uid)),
            ("cn", std::slice::from_ref(&cn)),
            ("sn", std::slice::from_ref(&uid)),
            ("mail", std::slice::from_ref(&mail)),
        ];
        let k;
        if let Some(key) = key {
            k = [key];
            attrs.push(("employeeNumber", &k));
        }
        add(&mut l, &dn, &attrs).await;
    }
    let ada = format!("uid=ada,{ou}");
    let alan = format!("uid=alan,{ou}");
    add(
        &mut l,
        &format!("cn=staff,{ou}"),
        &[
            ("objectClass", &["groupOfNames"]),
            ("cn", &["staff"]),
            ("member", &[&ada, &alan]),
        ],
    )
    .await;
    let _ = l.unbind().await;
    Some(Ldap {
        url,
        bind_dn,
        password,
        ou,
    })
}

/// The console with the directory `d` (base: its OU), or the fixture's unreachable one (its
/// bind password in a file, so that saves validate).
fn fixture(d: Option<&Ldap>) -> Console {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hrsync.toml");
    std::fs::write(dir.path().join("people.csv"), console_support::PEOPLE).unwrap();
    let Some(d) = d else {
        std::fs::write(dir.path().join("bind.pw"), "nowhere").unwrap();
        let text = console_support::CONFIG.replace(
            r#"{ env = "HRSYNC_TEST_NOWHERE_PW" }"#,
            r#"{ file = "bind.pw" }"#,
        );
        return build(dir, config, &text);
    };
    std::fs::write(dir.path().join("bind.pw"), &d.password).unwrap();
    let text = console_support::CONFIG
        .replace("ldaps://127.0.0.1:1", &d.url)
        .replace("cn=admin,dc=example,dc=com", &d.bind_dn)
        .replace(
            r#"{ env = "HRSYNC_TEST_NOWHERE_PW" }"#,
            r#"{ file = "bind.pw" }"#,
        )
        .replace(
            r#"base_dn = "dc=example,dc=com""#,
            &format!("base_dn = {:?}", d.ou),
        )
        .replace(
            r#"users_ou = "ou=people,dc=example,dc=com""#,
            &format!("users_ou = {:?}", d.ou),
        )
        .replace(
            "sn = \"{last}\"",
            "sn = \"{last}\"\nmail = \"{first}@example.com\"",
        );
    build(dir, config, &text)
}

fn build(dir: tempfile::TempDir, config: std::path::PathBuf, text: &str) -> Console {
    std::fs::write(&config, text).unwrap();
    let cfg = hrsync_config::Config::load(&config).unwrap();
    let state = cfg.state_path();
    let svc = hrsync_server::Service::with_auth(cfg, Some(console_support::settings())).unwrap();
    let auth = Arc::new(hrsync_auth::Auth::open(console_support::settings(), &state).unwrap());
    let api = hrsync_server::api::router(svc.clone(), auth.clone(), false);
    let app = hrsync_server::console::router(svc, auth.clone(), api.clone(), false).unwrap();
    Console {
        app: axum::Router::new().merge(api).merge(app),
        dir,
        auth,
        state,
        config,
    }
}

#[tokio::test]
async fn the_directory_search_finds_people_and_groups_and_escapes_what_is_typed() {
    let Some(d) = ldap("search").await else {
        return;
    };
    let c = fixture(Some(&d));
    let op = c.browser("olga", Role::Operator);
    let api = |q: &str, kind: &str| {
        format!(
            "/api/v1/directory/search?kind={kind}&q={}",
            q.replace('*', "%2A")
                .replace('(', "%28")
                .replace(')', "%29")
                .replace('=', "%3D")
                .replace(' ', "%20")
        )
    };
    let get = |uri: String| {
        let c = &c;
        let op = op.clone();
        async move {
            let p = c.get(Some(&op), &uri).await;
            assert_eq!(p.status, StatusCode::OK, "{uri}: {}", p.body);
            serde_json::from_str::<serde_json::Value>(&p.body).unwrap()
        }
    };
    let v = get(api("ada", "users")).await;
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{v}");
    assert_eq!(items[0]["key"], "1");
    assert_eq!(items[0]["mail"], "ada@example.com");
    assert_eq!(items[0]["name"], "Ada Lovelace");
    assert_eq!(items[0]["login"], "ada");
    assert_eq!(v["key_attribute"], "employeeNumber");
    // By mail, by key, by a part of the name.
    assert_eq!(
        get(api("alan@example", "users")).await["items"][0]["key"],
        "2"
    );
    assert_eq!(get(api("Turing", "users")).await["items"][0]["key"], "2");
    // Everyone: four people.
    assert_eq!(
        get(api("", "users")).await["items"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    // Hostile input matches only the entry that really contains it.
    let v = get(api("*)(uid=*", "users")).await;
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{v}");
    assert_eq!(items[0]["login"], "star");
    assert!(
        get(api(r"\2a", "users")).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // A group with its members.
    let v = get(api("staf", "groups")).await;
    let g = &v["items"][0];
    assert_eq!(g["name"], "staff");
    assert_eq!(g["member_count"], 2);
    assert!(
        g["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m.as_str().unwrap().starts_with("uid=ada,"))
    );
    // A viewer may not search.
    let viewer = c.browser("vera", Role::Viewer);
    assert_eq!(
        c.get(Some(&viewer), &api("ada", "users")).await.status,
        StatusCode::FORBIDDEN
    );
    // The picker: checkboxes with the HR key; an account without one cannot be chosen.
    let p = c
        .htmx(&op, "GET", "/console/picker?kind=users&q=", &[])
        .await;
    assert!(
        p.body.has(r#"data-pick="1""#) && p.body.has(r#"name="pick" value="1""#),
        "{}",
        p.body
    );
    assert!(p.body.has(r#"data-no-key="1""#), "{}", p.body);
    let p = c
        .htmx(
            &op,
            "GET",
            "/console/picker?kind=groups&q=staff&pick=2",
            &[],
        )
        .await;
    assert!(
        p.body
            .has(&format!(r#"name="pick_group" value="cn=staff,{}""#, d.ou)),
        "{}",
        p.body
    );
    assert!(
        p.body.has(r#"name="pick" value="2" checked"#),
        "what was chosen stays chosen"
    );
}

#[tokio::test]
async fn a_directory_failure_names_the_ldap_result_and_the_dn() {
    let Some(mut d) = ldap("fail").await else {
        return;
    };
    d.ou = format!("ou=missing,{}", d.ou);
    let c = fixture(Some(&d));
    let op = c.browser("olga", Role::Operator);
    let p = c.get(Some(&op), "/api/v1/directory/search?q=ada").await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(
        p.body.has("noSuchObject (32)") && p.body.has(&d.ou),
        "{}",
        p.body
    );
}

/// A local receiver recording every request's method, path and body.
async fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let s = s.clone();
        async move {
            let line = format!("{} {}", req.method(), req.uri());
            let body = axum::body::to_bytes(req.into_body(), 1 << 20)
                .await
                .unwrap();
            s.lock()
                .unwrap()
                .push(format!("{line} {}", String::from_utf8_lossy(&body)));
            (StatusCode::CREATED, "{\"received\": true}")
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

#[tokio::test]
async fn test_and_save_calls_the_webhook_for_the_people_chosen_and_shows_both_sides() {
    let Some(d) = ldap("test").await else { return };
    let c = fixture(Some(&d));
    let (url, seen) = receiver().await;
    let admin = c.browser("adam", Role::Admin);
    let hook_url = format!("{url}/people/{{hr.id}}");
    let group = format!("cn=staff,{}", d.ou);
    let form = with_hash(
        &c,
        &[
            HOOK,
            &[
                ("url", hook_url.as_str()),
                ("body", r#"{"mail": "{user.mail}", "first": "{hr.first}"}"#),
                ("action", "test"),
                ("pick", "1"),
                ("pick_group", group.as_str()),
            ],
        ]
        .concat(),
    );
    let p = c
        .post_form(&admin, "/console/webhooks/new", &refs(&form), true)
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(
        !c.config_text().contains("hello"),
        "tested before it is saved"
    );
    assert!(p.body.has(r#"id="tested-notice""#));
    let page = un(&p.body);
    let result = page
        .split(r#"id="test-result""#)
        .nth(1)
        .expect("test result");
    assert!(
        result.contains(r#"data-test-user="1""#) && result.contains(r#"data-test-user="2""#),
        "{result}"
    );
    assert!(
        result.contains(&format!("POST {url}/people/1?who=ada")),
        "{result}"
    );
    assert!(
        result.contains("HTTP 201") && result.contains("received"),
        "{result}"
    );
    assert!(
        result.contains("ada@example.com"),
        "the request body: {result}"
    );
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "one call per person, ada once: {got:?}");
    assert!(
        got.iter().any(|l| l.starts_with("POST /people/1?who=ada")
            && l.contains(r#""first":"Ada""#)
            || l.contains(r#""first": "Ada""#)),
        "{got:?}"
    );
    // The form keeps what was typed and the people chosen; Save keeps it.
    assert!(p.body.has(r#"name="pick" value="1" checked"#));
    assert!(p.body.has(&hook_url));
    let save: Vec<(String, String)> = form
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                if k == "action" {
                    "save".into()
                } else {
                    v.clone()
                },
            )
        })
        .collect();
    let p = c
        .post_form(&admin, "/console/webhooks/new", &refs(&save), true)
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert!(c.config_text().contains(r#"name = "hello""#));
    assert_eq!(seen.lock().unwrap().len(), 2, "saving calls nobody");
    // An operator tests the saved webhook on a group.
    let op = c.browser("olga", Role::Operator);
    let form = [
        ("action", "test"),
        ("pick_group", group.as_str()),
        ("name", "ignored"),
    ];
    let p = c
        .post_form(&op, "/console/webhooks/hello", &form, true)
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.has(r#"data-test-user="2""#) && !p.body.has("tested-notice"));
    assert_eq!(seen.lock().unwrap().len(), 4);
    // The unsaved definition's API is the admin's.
    let r = axum::http::Request::builder()
        .method("POST")
        .uri("/api/v1/webhook-tests")
        .header("cookie", &op.cookie)
        .header("x-csrf-token", &op.csrf)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            serde_json::json!({"webhook": {"name": "x", "method": "POST", "url": "http://evil.example/"}, "users": ["1"]}).to_string(),
        ))
        .unwrap();
    assert_eq!(c.send(r).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn run_on_queues_the_template_for_the_people_chosen() {
    let c = console_support::console(
        r#"
[[webhook]]
name = "hello"
method = "POST"
url = "http://127.0.0.1:9/people/{hr.id}"

[[orchestration]]
name = "onboard"
on = ["created"]
steps = [{ action = "webhook", webhook = "hello" }]
"#,
    );
    let op = c.browser("olga", Role::Operator);
    let p = c.get(Some(&op), "/console/orchestrations/onboard").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.has(r#"id="run-form""#) && p.body.has(r#"id="picker-q""#));
    assert!(
        !p.body.has(r#"id="save-orchestration""#),
        "an operator does not edit"
    );
    let p = c
        .post_form(
            &op,
            "/console/orchestrations/onboard/run",
            &[
                ("action", "run"),
                ("pick", "1"),
                ("pick", "2"),
                ("pick", "1"),
            ],
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(
        p.body.has(r#"id="run-result""#) && p.body.has("Queued 2 instance(s)"),
        "{}",
        p.body
    );
    assert_eq!(p.body.matches("data-instance=").count(), 2);
    // Nobody chosen: said inline, nothing queued.
    let p = c
        .post_form(
            &op,
            "/console/orchestrations/onboard/run",
            &[("action", "run")],
            true,
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.has("choose at least one person"));
}
