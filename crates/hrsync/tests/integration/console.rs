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
