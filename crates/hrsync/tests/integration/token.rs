//! `hrsync token create|list|revoke|hash-password` against the configuration's state
//! database, checked through `hrsync_auth::Auth` as the API authenticates a token. No
//! directory is contacted.

use std::path::Path;
use std::process::{Command, Output};

const CONFIG: &str = r#"
[state]
path = "tokens.db"
[[integration]]
name = "hr"
kind = "icehrm"
base_url = "http://127.0.0.1:1/app/api"
token = { env = "HRSYNC_TOKEN_TEST_UNSET" }
[directory]
url = "ldaps://127.0.0.1:1"
bind_dn = "cn=admin,dc=example,dc=com"
bind_password = { env = "HRSYNC_TOKEN_TEST_UNSET" }
base_dn = "dc=example,dc=com"
users_ou = "ou=people,dc=example,dc=com"
[[mapping]]
name = "m"
integration = "hr"
primary_key = "employee_id"
attributes = { uid = "{employee_id}" }
[server.auth]
groups = { admin = ["cn=hrsync-admins,ou=groups,dc=example,dc=com"] }
"#;

fn hrsync(cfg: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_hrsync"))
        .args(args)
        .arg("-c")
        .arg(cfg)
        .env_remove("SUDO_USER")
        .env("USER", "token-test")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hrsync {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_token_is_created_shown_once_listed_without_its_secret_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("hrsync.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let out = hrsync(
        &cfg,
        &[
            "token",
            "create",
            "--name",
            "ci-deploy",
            "--role",
            "operator",
            "--expires-in-days",
            "30",
        ],
    );
    let secret = text(&out.stdout).trim().to_string();
    assert!(
        secret.starts_with("hrs_") && !secret.contains('\n'),
        "{secret}"
    );
    let notes = text(&out.stderr);
    assert!(notes.contains("cannot be shown again"), "{notes}");
    assert!(notes.contains("ci-deploy (operator)"), "{notes}");

    let settings = hrsync_config::Config::load(&cfg)
        .unwrap()
        .auth_settings()
        .unwrap()
        .unwrap();
    let state = dir.path().join("tokens.db");
    let auth = hrsync_auth::Auth::open(settings.clone(), &state).unwrap();
    let p = auth.token(&secret).unwrap();
    assert_eq!(p.audit_name(), "token:ci-deploy");
    assert_eq!(p.role, hrsync_auth::Role::Operator);
    drop(auth);

    let list = text(&hrsync(&cfg, &["token", "list"]).stdout);
    assert!(
        list.contains("ci-deploy") && list.contains("operator"),
        "{list}"
    );
    assert!(
        list.contains("active") && list.contains("token-test"),
        "{list}"
    );
    assert!(!list.contains(&secret[4..]), "no secret in: {list}");
    let json = text(&hrsync(&cfg, &["token", "list", "--json"]).stdout);
    assert!(!json.contains(&secret[4..]), "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["name"], "ci-deploy");
    assert!(
        v[0]["last_used"].is_string(),
        "the use was recorded: {json}"
    );

    let out = hrsync(&cfg, &["token", "revoke", "ci-deploy"]);
    assert!(text(&out.stdout).contains("revoked"));
    let list = text(&hrsync(&cfg, &["token", "list"]).stdout);
    assert!(
        list.contains("revoked") && !list.contains("active"),
        "{list}"
    );
    assert!(list.contains("by token-test"), "{list}");
    let auth = hrsync_auth::Auth::open(settings, &state).unwrap();
    let e = auth.token(&secret).unwrap_err();
    assert_eq!(e.kind(), "token-revoked", "{e}");

    // A second revoke, or an unknown name, is an error.
    let out = Command::new(env!("CARGO_BIN_EXE_hrsync"))
        .args(["token", "revoke", "ci-deploy", "-c"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no live API token"));
}

#[test]
fn hash_password_reads_stdin_and_prints_an_argon2id_hash() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_hrsync"))
        .args(["token", "hash-password"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let hash = text(&out.stdout).trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("correct horse"));
    let bg = hrsync_auth::BreakGlass {
        user: "root".into(),
        password_hash: hash,
    };
    hrsync_auth::break_glass::verify(&bg, &hrsync_model::Secret::new("correct horse")).unwrap();
    assert!(hrsync_auth::break_glass::verify(&bg, &hrsync_model::Secret::new("wrong")).is_err());
}
