#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::causes::earliest_expiry;
use super::*;
use chrono::TimeZone;

/// A CA certificate whose notAfter is 2027-01-01 16:36:47 UTC.
const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBhzCCAS2gAwIBAgIUNkIGM5fHGHqNgsz63lqEyX7qpFowCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwOaHJzeW5jIHRlc3QgQ0EwHhcNMjYxMjAyMTYzNjQ3WhcNMjcw
MTAxMTYzNjQ3WjAZMRcwFQYDVQQDDA5ocnN5bmMgdGVzdCBDQTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABDZjIqw70WZDUwTIBjUBP1Tfsl3znW0S8Y1JWorKGbc8
BYYoNlBGz54tbMjlbC2nRd9FNIg8x4tglICAijB+r5KjUzBRMB0GA1UdDgQWBBSX
+/OVth6Bl6iotDq349BME6ofUTAfBgNVHSMEGDAWgBSX+/OVth6Bl6iotDq349BM
E6ofUTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQCLBNtXYwu+
ljyoNyyEL7y+rqX05qgcGYr0GAUAdamqUAIgURukVArxynuEaf9QeKSwqyYRzQ0o
9eR5K5NXzPObA+Q=
-----END CERTIFICATE-----
";

const BASE: &str = r#"
[[integration]]
name = "hr"
kind = "csv"
path = "people.csv"

[directory]
kind = "openldap"
url = "ldap://127.0.0.1:3389"
bind_dn = "cn=admin,dc=example,dc=com"
bind_password = { env = "HRSYNC_NOTIFY_UNIT_UNSET" }
base_dn = "dc=example,dc=com"
users_ou = "ou=people,dc=example,dc=com"
object_classes = ["inetOrgPerson"]
key_attribute = "employeeNumber"
ca_cert = "ca.pem"

[[mapping]]
name = "staff"
integration = "hr"
endpoint = "rows"
primary_key = "id"
rdn_attribute = "uid"

[mapping.attributes]
uid = "{id}"
cn = "{name}"
sn = "{name}"

[[webhook]]
name = "chat"
method = "POST"
url = "http://127.0.0.1:9/hook"
body = '{"text": "{notify.subject}: {notify.command}"}'

[[webhook]]
name = "per-person"
method = "POST"
url = "http://127.0.0.1:9/hook"
body = '{"mail": "{user.mail}"}'
"#;

const MAIL: &str = r#"
[[notify]]
name = "ops-mail"
kind = "email"
smtp_host = "127.0.0.1"
username = "hrsync"
password = { env = "HRSYNC_NOTIFY_UNIT_UNSET" }
from = "hrsync <hrsync@example.com>"
to = ["ops@example.com"]
"#;

fn load(extra: &str) -> Result<Config, String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("people.csv"), "id,name\n1,A\n").unwrap();
    std::fs::write(dir.path().join("ca.pem"), CA).unwrap();
    let p = dir.path().join("hrsync.toml");
    std::fs::write(&p, format!("{BASE}\n{extra}")).unwrap();
    let r = Config::load(&p).map_err(|e| e.to_string());
    // Keep the files for the caller's expiry check.
    std::mem::forget(dir);
    r
}

#[test]
fn a_mail_channel_loads_without_its_password_and_defaults_to_starttls_587() {
    let cfg = load(MAIL).unwrap();
    let n = &cfg.raw.notify[0];
    assert_eq!(n.window_hours, 24);
    assert!(n.wants("run_failed") && n.wants("expiring"));
    // The password is loaded when a message is sent, and its absence names the key.
    let e = cfg.email_channel(0).unwrap_err().to_string();
    assert!(e.contains("notify[0].password"), "{e}");
}

#[test]
fn config_errors_name_the_key() {
    let check = |extra: String, key: &str, words: &str| {
        let e = load(&extra).err().expect("an error");
        assert!(e.contains(key) && e.contains(words), "{key}: {e}");
    };
    check(
        MAIL.replace("kind = \"email\"", "kind = \"sms\""),
        "notify[0].kind",
        "\"email\" or \"webhook\"",
    );
    check(
        format!("{MAIL}on = [\"run_faild\"]\n"),
        "notify[0].on",
        "not a cause",
    );
    check(
        format!("{MAIL}tls = \"none\"\n"),
        "notify[0].tls",
        "never sent in clear",
    );
    check(
        MAIL.replace("to = [\"ops@example.com\"]", "to = [\"not an address\"]"),
        "notify[0].to[0]",
        "not a mail address",
    );
    check(
        MAIL.replace("password = { env = \"HRSYNC_NOTIFY_UNIT_UNSET\" }\n", ""),
        "notify[0].password",
        "username is set",
    );
    check(
        format!("{MAIL}window_hours = 0\n"),
        "notify[0].window_hours",
        "out of range",
    );
    check(format!("{MAIL}{MAIL}"), "notify[1].name", "name of its own");
    check(
        "[[notify]]\nname = \"hook\"\nkind = \"webhook\"\nwebhook = \"per-person\"\n".into(),
        "notify[0].webhook",
        "{user.mail}",
    );
    check(
        "[[notify]]\nname = \"hook\"\nkind = \"webhook\"\nwebhook = \"nope\"\n".into(),
        "notify[0].webhook",
        "no [[webhook]] named",
    );
    check(
        "[[notify]]\nname = \"hook\"\nkind = \"webhook\"\nwebhook = \"chat\"\nto = [\"a@b.c\"]\n"
            .into(),
        "notify[0].to",
        "only an email channel",
    );
    load("[[notify]]\nname = \"hook\"\nkind = \"webhook\"\nwebhook = \"chat\"\n").unwrap();
}

#[test]
fn an_orchestration_webhook_cannot_use_notification_macros() {
    let e = load(
        r#"
[[orchestration]]
name = "tell"
on = ["created"]
steps = [{ action = "webhook", webhook = "chat" }]
"#,
    )
    .err()
    .expect("an error");
    assert!(
        e.contains("orchestration[0].steps[0].webhook") && e.contains("{notify."),
        "{e}"
    );
}

#[test]
fn the_directory_ca_certificate_warns_expiry_days_before_it_expires() {
    let cfg = load(MAIL).unwrap();
    let ca = cfg.base_dir().join("ca.pem");
    let not_after = Utc.with_ymd_and_hms(2027, 1, 1, 16, 36, 47).unwrap();
    assert_eq!(earliest_expiry(&ca), Some(not_after));
    let n = &cfg.raw.notify[0];
    assert_eq!(n.expiry_days, 14);

    let early = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
    let c = expiring(&cfg, early);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].key(), "expiring:directory.ca_cert");
    assert!(!c[0].due_for(n, early), "31 days before: not yet");
    let late = Utc.with_ymd_and_hms(2026, 12, 20, 0, 0, 0).unwrap();
    let c = expiring(&cfg, late);
    assert!(c[0].due_for(n, late), "12 days before: due");
    assert_eq!(
        c[0].subject,
        "the directory's CA certificate expires in 12 day(s)"
    );
    assert!(c[0].text.contains("2027-01-01 16:36 UTC"), "{}", c[0].text);
    assert!(
        c[0].command.starts_with("hrsync check -c "),
        "{}",
        c[0].command
    );
    let after = Utc.with_ymd_and_hms(2027, 2, 1, 0, 0, 0).unwrap();
    assert!(expiring(&cfg, after)[0].subject.contains("EXPIRED"));
}

#[test]
fn commands_quote_paths_for_the_shell() {
    assert_eq!(
        shell_quote("/etc/hrsync/prod.toml"),
        "/etc/hrsync/prod.toml"
    );
    assert_eq!(
        shell_quote("/srv/my configs/a.toml"),
        "'/srv/my configs/a.toml'"
    );
    assert_eq!(shell_quote("it's.toml"), "'it'\\''s.toml'");
    let c = awaiting_approval(std::path::Path::new("a b.toml"), "staff", 7, 3);
    assert_eq!(c.key(), "awaiting_approval:staff");
    let abs = std::path::absolute("a b.toml").unwrap();
    assert_eq!(
        c.command,
        format!("hrsync approvals -c '{}'", abs.display())
    );
}

fn report(status: crate::report::RunStatus, plan: hrsync_model::Plan) -> crate::report::RunReport {
    crate::report::RunReport {
        run_id: 42,
        status,
        plan,
        applied_ok: 0,
        applied_failed: 0,
        applied_not_attempted: 0,
        applied: false,
        queued_orchestrations: 0,
        timings: Default::default(),
        hr_fingerprints: Default::default(),
        foreign_plan: false,
        cancelled: false,
    }
}

fn complete_plan() -> hrsync_model::Plan {
    let mut p = hrsync_model::Plan::default();
    p.fetch.complete = true;
    p
}

#[test]
fn a_run_reports_each_of_its_causes_with_its_command() {
    use crate::report::RunStatus;
    let cfg = std::path::Path::new("/etc/hrsync/prod.toml");
    // A good run: nothing.
    assert!(causes_of_run(cfg, "staff", &report(RunStatus::Ok, complete_plan())).is_empty());

    // Failed changes.
    let mut r = report(RunStatus::Partial, complete_plan());
    r.applied_ok = 7;
    r.applied_failed = 3;
    r.applied = true;
    let c = causes_of_run(cfg, "staff", &r);
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].key(), "run_failed:staff");
    assert_eq!(
        c[0].subject,
        "staff: run 42 partial: 3 of 10 change(s) failed"
    );
    assert_eq!(
        c[0].command,
        "hrsync audit -c /etc/hrsync/prod.toml --run 42"
    );

    // Changes stopped at the approval gate: the saved plan (the run's id) and `approvals`.
    let mut p = complete_plan();
    p.awaiting_approval.push(hrsync_model::Change {
        kind: hrsync_model::ChangeKind::Disable,
        key: "E9".into(),
        dn: "uid=e9,ou=people,dc=example,dc=com".into(),
        new_dn: None,
        uuid: None,
        attrs: Vec::new(),
        reason: "leaver".into(),
    });
    let c = causes_of_run(cfg, "staff", &report(RunStatus::AwaitingApproval, p));
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].key(), "awaiting_approval:staff");
    assert!(c[0].subject.contains("plan 42"), "{}", c[0].subject);
    assert_eq!(c[0].command, "hrsync approvals -c /etc/hrsync/prod.toml");

    // Review items and orphans, each its own cause.
    let mut p = complete_plan();
    p.review.push(hrsync_model::ReviewItem {
        key: "E7".into(),
        reason: "two accounts match".into(),
        candidates: Vec::new(),
    });
    p.orphans.push(hrsync_model::Orphan {
        key: "X1".into(),
        dn: "uid=x,ou=people,dc=example,dc=com".into(),
        disabled: false,
    });
    p.leavers_withheld = 4;
    p.leavers_withheld_reason = Some("the record count dropped by 40%".into());
    let c = causes_of_run(cfg, "staff", &report(RunStatus::Held, p));
    let keys: Vec<String> = c.iter().map(Cause::key).collect();
    assert_eq!(keys, ["held:staff", "review:staff", "orphans:staff"]);
    assert!(
        c[0].text.contains("the record count dropped by 40%"),
        "{}",
        c[0].text
    );
    assert_eq!(
        c[0].command,
        "hrsync plan -c /etc/hrsync/prod.toml --mapping staff"
    );
    assert!(c[1].text.contains("E7"), "{}", c[1].text);
    assert_eq!(
        c[1].command,
        "hrsync review list -c /etc/hrsync/prod.toml --mapping staff"
    );
    assert_eq!(
        c[2].command,
        "hrsync orphans -c /etc/hrsync/prod.toml --mapping staff"
    );

    // An error before a report.
    let c = cause_of_error(cfg, "staff", "directory: cannot connect");
    assert_eq!(c.key(), "run_failed:staff");
    assert!(c.text.ends_with("directory: cannot connect"), "{}", c.text);
    assert_eq!(c.command, "hrsync runs -c /etc/hrsync/prod.toml");
}

#[test]
fn a_message_ends_before_its_claim_counts_as_dead() {
    let lease = hrsync_state::NOTIFY_CLAIM_LEASE.to_std().unwrap();
    assert!(MAX_DEADLINE < lease, "{MAX_DEADLINE:?} < {lease:?}");
}
