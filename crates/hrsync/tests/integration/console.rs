//! The web console in a real browser (headless chromium through chromium-driver) against the
//! real `hrsync serve`, a real slapd (directory sign-in over LDAPS, the accounts) and the
//! IceHrm emulator. The main test plays an administrator who starts from a configuration with
//! only `[server]` and a directory and does everything on screens.

use crate::api::{Api, PASSWORD, add_ops};
use crate::common::*;
use crate::console_browser::Browser;
use std::path::Path;

/// A configuration with a directory and the daemon only (no integration, no mapping).
fn bare_config(dir: &Path, port: u16, ou: &str, ops: &str) -> std::path::PathBuf {
    let env = ldap_env();
    let ldaps = std::env::var("HRSYNC_TEST_LDAPS_URL")
        .expect("HRSYNC_TEST_LDAPS_URL: run through scripts/test.sh");
    let ca = std::env::var("HRSYNC_TEST_LDAP_CA_CERT")
        .expect("HRSYNC_TEST_LDAP_CA_CERT: run through scripts/test.sh");
    std::fs::write(dir.join("ldap.pw"), &env.password).unwrap();
    let text = format!(
        r#"# hrsync, configured from the web console (this comment must survive its edits).
[state]
path = "state.db"

[directory]
kind = "openldap"
url = "{url}"
bind_dn = "{bind_dn}"
bind_password = {{ file = "ldap.pw" }}
base_dn = "{ou}"
users_ou = "ou=people,{ou}"
object_classes = ["inetOrgPerson"]
key_attribute = "employeeNumber"

# The daemon and who may use it.
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
        url = env.url,
        bind_dn = env.bind_dn,
    );
    let path = dir.join("hrsync.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Roles on screens: a viewer sees no button that changes anything, and the server refuses
/// the POST the button would send (forged from the page's own JavaScript); a form posted
/// without the session's CSRF token is refused; sign-out ends the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_no_buttons_and_forged_posts_are_refused() {
    let fx = Fx::new("console-roles", 3, "uid", STAFF_ATTRS).await;
    let ops = format!("ou=console-ops-{},{}", std::process::id(), ldap_env().base);
    add_ops(&mut admin().await, &ops).await;
    let port = free_port();
    let cfg = bare_config(fx.dir.path(), port, &fx.ou, &ops);
    let (mut daemon, api) = Api::serve(fx.dir.path(), &cfg, port).await;
    let b = Browser::open(&api.base).await;

    // Not signed in: the sign-in page; a wrong password is explained there.
    b.goto("/console/").await;
    b.wait("#f-password").await;
    b.shot("sign-in").await;
    b.fill("f-user", "victor").await;
    b.fill("f-password", "wrong").await;
    b.click("form[action='/console/login'] button[type=submit]")
        .await;
    b.wait_text("[role=alert]", "401").await;

    b.sign_in("victor", PASSWORD).await;
    b.wait_text("header .who", "victor").await;
    assert!(b.source().await.contains("role-viewer"));
    assert!(!b.has("form[action='/console/plans/now'] button").await);
    // What a Plan-now button would post, forged with the session's CSRF token taken from the
    // page: the API refuses the viewer.
    let csrf = b
        .run_async("arguments[0](document.body.getAttribute('hx-headers'))")
        .await;
    let token =
        serde_json::from_str::<serde_json::Value>(csrf.as_str().unwrap()).unwrap()["X-CSRF-Token"]
            .as_str()
            .unwrap()
            .to_string();
    let status = b.forged_post("/console/logout", "nothing=1").await;
    assert_eq!(status, 403, "a POST without the CSRF token is refused");
    let status = b
        .run_async(&format!(
            "const done = arguments[0]; fetch('/api/v1/runs', {{method: 'POST', headers: {{'Content-Type': 'application/json', 'X-CSRF-Token': {token:?}}}, body: JSON.stringify({{mapping: 'staff', mode: 'apply'}})}}).then(r => done(r.status));"
        ))
        .await;
    assert_eq!(status, 403, "a viewer's apply is refused by the server");
    b.sign_out().await;
    b.goto("/console/").await;
    b.wait("#f-password").await;
    b.close().await;
    daemon.kill().unwrap();
    let _ = daemon.wait();
}

/// The emulator's base URL, from the fixture's config.
fn emulator_url(fx: &Fx) -> String {
    let text = std::fs::read_to_string(&fx.cfg_path).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("base_url = \""))
        .and_then(|l| l.split('"').next())
        .unwrap()
        .to_string()
}

/// The main end-to-end test: an administrator starts from a configuration with only the
/// directory and `[server]`, and on screens only adds the IceHrm integration, tests it and
/// sees its fields, builds a mapping (picking fields, one custom format, an invalid one shown
/// inline first), previews a person, saves (the TOML holds it, comments kept), plans,
/// approves, applies with progress, finds the audit under their name, adds a webhook and
/// tests it on a chosen person against a local receiver, adds an orchestration on "created"
/// using it, and watches it run for a new hire. Nothing captured holds the HR token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_does_everything_on_screens() {
    let fx = Fx::new("console-e2e", 12, "uid", STAFF_ATTRS).await;
    let ops = format!(
        "ou=console-e2e-ops-{},{}",
        std::process::id(),
        ldap_env().base
    );
    add_ops(&mut admin().await, &ops).await;
    let port = free_port();
    let emu_url = emulator_url(&fx);
    let cfg = bare_config(fx.dir.path(), port, &fx.ou, &ops);
    let (mut daemon, api) = Api::serve(fx.dir.path(), &cfg, port).await;
    let (hook_url, calls) = crate::api::receiver().await;
    let b = Browser::open(&api.base).await;
    b.sign_in("adam", PASSWORD).await;
    b.shot("dashboard-empty").await;

    // 1. The application catalogue → IceHrm → Authorization with the token (write-only).
    b.goto("/console/applications").await;
    b.shot("applications").await;
    b.goto("/console/applications/new?kind=icehrm").await;
    b.fill("f-name", "icehrm").await;
    b.fill("f-base_url", &emu_url).await;
    b.fill("f-token", &fx.token).await;
    b.click("#save-integration").await;
    b.wait("#add-endpoint").await;
    // Test & Save on the preset endpoint: the field table.
    b.click("#test-get_employees").await;
    for f in ["employee_id", "first_name", "department.display"] {
        b.wait(&format!("[data-field=\"{f}\"]")).await;
    }
    b.shot("application-test").await;
    let toml = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        toml.contains("[[integration]]") && toml.contains("name = \"icehrm\""),
        "{toml}"
    );
    assert!(
        !toml.contains(&fx.token),
        "the token is never written into the TOML"
    );

    // 2. The mapping editor: fields picked, one custom format, an invalid format first.
    b.goto("/console/mappings/new").await;
    b.fill("f-name", "staff").await;
    b.fill("f-description", "IceHrm employees to OpenLDAP")
        .await;
    b.select("f-integration", "icehrm").await;
    b.fill("f-endpoint", "get_employees").await;
    b.fill("f-primary_key", "employee_id").await;
    let rows = [
        ("uid", "{employee_id|lowr}"),
        ("cn", "{first_name} {last_name}"),
        ("sn", "{last_name}"),
        ("mail", "{work_email}"),
        ("departmentNumber", "{department.display|upper}"),
    ];
    for (i, (attr, format)) in rows.iter().enumerate() {
        if b.nth_count("input[name=attr_name]").await <= i {
            b.click("#add-attribute").await;
        }
        b.fill_nth("input[name=attr_name]", i, attr).await;
        b.fill_nth("input[name=attr_format]", i, format).await;
    }
    b.wait_text(".format-error", "lowr").await;
    b.shot("mapping-format-error").await;
    b.fill_nth("input[name=attr_format]", 0, "{employee_id|lower}")
        .await;
    let first = fx.emu.employees()[0]["employee_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Creates wait for an approval by someone else than the planner (four-eyes).
    b.click("#f-approval-create").await;
    b.click("#f-approval_four_eyes").await;
    b.fill("f-preview_key", &first).await;
    b.click("#preview").await;
    b.wait_text("#preview-result", &first.to_lowercase()).await;
    b.shot("mapping-preview").await;
    b.click("#save-mapping").await;
    b.wait_text("main", "staff").await;
    let toml = std::fs::read_to_string(&cfg).unwrap();
    assert!(toml.contains("name = \"staff\""), "{toml}");
    assert!(toml.contains("{department.display|upper}"), "{toml}");
    assert!(
        toml.contains("require = [\"create\"]") && toml.contains("four_eyes = true"),
        "{toml}"
    );
    assert!(
        toml.contains(
            "# hrsync, configured from the web console (this comment must survive its edits)."
        ),
        "comments kept: {toml}"
    );

    // 3. Plan now → the saved plan → approve → apply with live progress.
    b.goto("/console/").await;
    b.wait("tr[data-mapping=staff]").await;
    b.shot("dashboard").await;
    let plan_page = plan_now(&b, "staff").await;
    b.shot("plan").await;
    let creates = b.nth_count("[data-change-kind=create]").await;
    assert!(
        creates >= 8,
        "the plan creates the active employees: {creates}"
    );
    b.wait_text("#approvals", &format!("{creates} waiting"))
        .await;
    // adam made the plan: four-eyes refuses his approval, on the page.
    b.click("#approve").await;
    b.wait_text("[role=alert]", "four").await;
    b.shot("plan-four-eyes").await;
    approve_as_alice(&api.base, &plan_page, creates).await;
    b.goto(plan_page.trim_start_matches(&api.base)).await;
    b.wait_text("#approvals", &format!("{creates} approved"))
        .await;
    b.click("#apply").await;
    b.wait("#run-progress").await;
    b.shot("apply-progress").await;
    b.wait_text("#run-status", "ok").await;
    b.shot("apply-result").await;
    let entries = count_people(&fx).await;
    assert_eq!(
        entries, creates,
        "each create of the plan is an account (plan page {plan_page})"
    );

    // 4. The audit: every row of the apply under adam's name.
    b.goto("/console/runs").await;
    b.wait("[data-audit-row]").await;
    b.shot("runs-audit").await;
    let src = b.source().await;
    assert!(
        src.contains("data-operator=\"adam\""),
        "audit rows under adam"
    );

    // 5. A webhook, tested on a chosen person against the local receiver.
    b.goto("/console/webhooks/new").await;
    b.fill("f-name", "welcome").await;
    b.select("f-method", "POST").await;
    b.fill("f-url", &format!("{hook_url}/welcome")).await;
    b.select("f-message_type", "json").await;
    b.fill(
        "f-body",
        "{\"mail\": \"{user.mail}\", \"who\": \"{user.uid}\"}",
    )
    .await;
    // Test & Save: pick a person, make the real call, see request and response, then save.
    b.fill("picker-q", &first.to_lowercase()).await;
    b.click(&format!("tr[data-pick=\"{first}\"] input[type=checkbox]"))
        .await;
    b.click("#test-webhook").await;
    b.wait_text("#test-result", "201").await;
    b.shot("webhook-test").await;
    assert_eq!(
        calls.lock().unwrap().len(),
        1,
        "one real call for the one chosen person"
    );
    assert!(
        !std::fs::read_to_string(&cfg)
            .unwrap()
            .contains("[[webhook]]"),
        "a test saves nothing"
    );
    b.click("#save-webhook").await;
    b.wait("#saved-notice").await;
    let toml = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        toml.contains("[[webhook]]") && toml.contains("name = \"welcome\""),
        "{toml}"
    );

    // 6. An orchestration on "created" using it.
    b.goto("/console/orchestrations/new").await;
    b.fill("f-name", "onboard").await;
    b.select("f-trigger", "created").await;
    b.select("f-step_webhook", "welcome").await;
    b.click("#save-orchestration").await;
    b.wait_text("main", "onboard").await;
    b.shot("orchestration").await;

    // 7. A hire in HR → plan, approve, apply on screens → the orchestration calls the webhook.
    fx.emu.hire(
        serde_json::json!({"employee_id": "EMP09001", "first_name": "Zoë",
        "last_name": "O'Brien", "work_email": "zoe@example.test", "department": 1,
        "job_title": 1, "joined_date": "2026-11-23"}),
    );
    let second = plan_now(&b, "staff").await;
    approve_as_alice(&api.base, &second, 1).await;
    b.goto(second.trim_start_matches(&api.base)).await;
    b.wait_text("#approvals", "1 approved").await;
    b.click("#apply").await;
    b.wait_text("#run-status", "ok").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !calls
        .lock()
        .unwrap()
        .iter()
        .any(|(_, body)| body.contains("zoe@example.test"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the orchestration never called the webhook for the hire: {:?}",
            calls.lock().unwrap()
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    b.goto("/console/outbox").await;
    b.wait_text("main", "onboard").await;
    b.shot("outbox").await;

    // Nothing captured holds the HR token: pages, the daemon's output, the TOML.
    let mut everything = b.seen.lock().unwrap().clone();
    for f in ["serve.log", "serve.err", "hrsync.toml"] {
        everything.push_str(&std::fs::read_to_string(fx.dir.path().join(f)).unwrap_or_default());
    }
    assert!(!everything.contains(&fx.token), "the HR token leaked");
    b.close().await;
    daemon.kill().unwrap();
    let _ = daemon.wait();
}

/// alice (another operator) approves what waits in the plan at `url`, in her own browser.
async fn approve_as_alice(base: &str, url: &str, waiting: usize) {
    let alice = Browser::open(base).await;
    alice.sign_in("alice", PASSWORD).await;
    alice.goto(url.trim_start_matches(base)).await;
    alice
        .wait_text("#approvals", &format!("{waiting} waiting"))
        .await;
    alice.click("#approve").await;
    alice
        .wait_text("#approvals", &format!("{waiting} approved"))
        .await;
    alice.close().await;
}

/// Plan now for `mapping` from the dashboard; waits for the plan page. Its URL.
async fn plan_now(b: &Browser, mapping: &str) -> String {
    b.goto("/console/").await;
    b.click(&format!(
        "tr[data-mapping={mapping}] form[action='/console/plans/now'] button"
    ))
    .await;
    b.wait("#run-progress").await;
    b.click("a#open-plan").await;
    b.wait("#approvals").await;
    b.c.current_url().await.unwrap().to_string()
}

/// How many accounts the fixture's people OU holds.
async fn count_people(fx: &Fx) -> usize {
    let mut ldap = admin().await;
    let (rs, _) = ldap
        .search(
            &fx.people,
            ldap3::Scope::OneLevel,
            "(objectClass=inetOrgPerson)",
            vec!["1.1"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    rs.len()
}

/// Accessibility basics in the browser: the first Tab reaches "Skip to content" and a visible
/// focus ring; on a narrow window (420 px) the pages do not scroll sideways (wide tables scroll
/// inside their own box) and the navigation stays reachable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_works_by_keyboard_and_on_a_narrow_window() {
    let fx = Fx::new("console-narrow", 3, "uid", STAFF_ATTRS).await;
    let ops = format!(
        "ou=console-narrow-ops-{},{}",
        std::process::id(),
        ldap_env().base
    );
    add_ops(&mut admin().await, &ops).await;
    let port = free_port();
    let cfg = bare_config(fx.dir.path(), port, &fx.ou, &ops);
    let (mut daemon, api) = Api::serve(fx.dir.path(), &cfg, port).await;
    let b = Browser::open_sized(&api.base, 420, 900).await;
    b.sign_in("adam", PASSWORD).await;
    for page in [
        "/console/",
        "/console/applications",
        "/console/mappings/new",
        "/console/runs",
        "/console/webhooks/new",
        "/console/automations",
        "/console/settings",
    ] {
        b.goto(page).await;
        b.wait("main h1").await;
        let overflow = b
            .run_async(
                "arguments[0](document.documentElement.scrollWidth - document.documentElement.clientWidth)",
            )
            .await;
        assert!(
            overflow.as_i64().unwrap() <= 0,
            "{page} scrolls sideways by {overflow} px at 420 px"
        );
        assert!(b.has("nav.side a[href='/console/settings']").await);
    }
    b.goto("/console/").await;
    b.shot("narrow-dashboard").await;
    // Keyboard: the first Tab lands on the skip link, shown with the focus ring.
    let first = b
        .run_async("const done = arguments[0]; document.activeElement.blur(); done(null);")
        .await;
    assert!(first.is_null());
    b.c.active_element()
        .await
        .unwrap()
        .send_keys("\u{E004}")
        .await
        .unwrap();
    let focused = b
        .run_async(
            "const e = document.activeElement; arguments[0]([e.className, getComputedStyle(e).outlineStyle, e.textContent])",
        )
        .await;
    assert_eq!(focused[0], "skip", "{focused}");
    assert_ne!(focused[1], "none", "a visible focus ring: {focused}");
    b.close().await;
    daemon.kill().unwrap();
    let _ = daemon.wait();
}
