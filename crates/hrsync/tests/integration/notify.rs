//! Notifications (issue 14 §6) against a real SMTP server on loopback (scripts/start-smtp.sh:
//! Debian's aiosmtpd, STARTTLS and AUTH required; scripts/test.sh exports HRSYNC_TEST_SMTP_*)
//! and a local HTTP receiver for the webhook channel.

use crate::common::{Fx, STAFF_ATTRS, admin, cli};
use hrsync_emulator::icehrm::Fault;
use hrsync_engine::{Mode, RunStatus};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

struct Smtp {
    host: String,
    port: String,
    tls_port: String,
    user: String,
    password_file: String,
    ca_cert: String,
    maildir: std::path::PathBuf,
}

/// The SMTP server of scripts/start-smtp.sh; a clear failure (never a silent pass) without it.
fn smtp() -> Smtp {
    let get = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| {
            panic!("{k} is not set: the notification tests need the SMTP server of scripts/start-smtp.sh; run them through scripts/test.sh, or start it and export HRSYNC_TEST_SMTP_* from its env file")
        })
    };
    let s = Smtp {
        host: get("HRSYNC_TEST_SMTP_HOST"),
        port: get("HRSYNC_TEST_SMTP_PORT"),
        tls_port: get("HRSYNC_TEST_SMTP_TLS_PORT"),
        user: get("HRSYNC_TEST_SMTP_USER"),
        password_file: get("HRSYNC_TEST_SMTP_PASSWORD_FILE"),
        ca_cert: get("HRSYNC_TEST_SMTP_CA_CERT"),
        maildir: get("HRSYNC_TEST_SMTP_MAILDIR").into(),
    };
    assert!(
        s.maildir.is_dir(),
        "HRSYNC_TEST_SMTP_MAILDIR {} is not a directory: is the SMTP server of scripts/start-smtp.sh running?",
        s.maildir.display()
    );
    s
}

/// One message the server accepted.
#[derive(Debug)]
struct Received {
    listener: String,
    tls: bool,
    auth_user: Option<String>,
    rcpt_tos: Vec<String>,
    subject: String,
    message_id: String,
    data: String,
}

/// The messages to `rcpt` (each test has its own recipient: tests share the server).
fn inbox(s: &Smtp, rcpt: &str) -> Vec<Received> {
    let mut files: Vec<_> = std::fs::read_dir(&s.maildir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let rcpt_tos: Vec<String> = v["rcpt_tos"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect();
        if !rcpt_tos.iter().any(|r| r == rcpt) {
            continue;
        }
        // The sink decodes headers and text (quoted-printable) as a mail reader does.
        let data = format!(
            "From: {}\nTo: {}\n\n{}",
            v["from"].as_str().unwrap(),
            v["to"].as_str().unwrap(),
            v["body"].as_str().unwrap().replace("\r\n", "\n")
        );
        let subject = v["subject"].as_str().unwrap().to_string();
        let message_id = v["message_id"].as_str().unwrap().to_string();
        out.push(Received {
            listener: v["listener"].as_str().unwrap().to_string(),
            tls: v["tls"].as_bool().unwrap(),
            auth_user: v["auth_user"].as_str().map(str::to_string),
            rcpt_tos,
            subject,
            message_id,
            data,
        });
    }
    out
}

/// A `[[notify]]` email channel for this server, appended to the fixture's config.
fn add_mail_channel(fx: &Fx, s: &Smtp, rcpt: &str, extra: &str) {
    let mut text = std::fs::read_to_string(&fx.cfg_path).unwrap();
    text.push_str(&format!(
        r#"
[[notify]]
name = "ops-mail"
kind = "email"
smtp_host = "{host}"
smtp_port = {port}
tls = "starttls"
username = "{user}"
password = {{ file = "{pw}" }}
ca_cert = "{ca}"
from = "hrsync <hrsync@example.test>"
to = ["{rcpt}"]
max_attempts = 2
timeout_secs = 5
{extra}
"#,
        host = s.host,
        port = s.port,
        user = s.user,
        pw = s.password_file,
        ca = s.ca_cert,
    ));
    std::fs::write(&fx.cfg_path, text).unwrap();
}

fn with_subject<'a>(mail: &'a [Received], part: &str) -> Vec<&'a Received> {
    mail.iter().filter(|m| m.subject.contains(part)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_arrive_once_per_cause_not_once_per_run() {
    let s = smtp();
    let fx = Fx::new("notify-mail", 30, "uid", STAFF_ATTRS).await;
    let rcpt = format!("ops-{}@example.test", std::process::id());
    add_mail_channel(&fx, &s, &rcpt, "");
    let cfg = fx.cfg_path.display().to_string();

    // A good run: nothing to say.
    let (code, out) = cli(&fx.cfg_path, &["apply", "--yes"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(inbox(&s, &rcpt).is_empty(), "{out}");

    // Three incomplete runs: one message.
    fx.emu.set_fault(Fault::FailListPage {
        page: 2,
        status: 500,
    });
    let mut runs = Vec::new();
    for i in 0..3 {
        let (code, out) = cli(&fx.cfg_path, &["apply", "--yes"], &[]);
        assert_eq!(code, 4, "run {i}: {out}");
        if i == 0 {
            assert!(
                out.contains("Notified ops-mail of run_incomplete:staff"),
                "{out}"
            );
        } else {
            assert!(!out.contains("Notified"), "run {i}: {out}");
        }
        runs.push(fx.store().runs(1).unwrap()[0].id);
    }
    let mail = inbox(&s, &rcpt);
    assert_eq!(mail.len(), 1, "{mail:#?}");
    let m = &mail[0];
    assert_eq!(
        m.subject,
        format!(
            "[hrsync] staff: run {} incomplete: the HR fetch did not finish",
            runs[0]
        )
    );
    assert_eq!(m.rcpt_tos, vec![rcpt.clone()]);
    assert!(m.data.contains(&format!("To: {rcpt}")), "{}", m.data);
    assert!(
        m.data.contains("From: hrsync <hrsync@example.test>"),
        "{}",
        m.data
    );
    assert!(
        m.data.contains(&format!("Next: hrsync runs -c {cfg}")),
        "{}",
        m.data
    );
    assert!(
        m.data.contains("Nobody was treated as a leaver"),
        "{}",
        m.data
    );
    assert!(
        m.message_id.starts_with("<hrsync-") && m.message_id.ends_with("@example.test>"),
        "{m:?}"
    );
    // STARTTLS and AUTH were used (the server requires both; it says so per message).
    assert_eq!(m.listener, "starttls");
    assert!(m.tls);
    assert_eq!(m.auth_user.as_deref(), Some(s.user.as_str()));
    // The password is in no message and no output.
    let pw = std::fs::read_to_string(&s.password_file).unwrap();
    assert!(!m.data.contains(pw.trim()));

    // A different cause: an account under the base that HR does not know (an orphan).
    fx.emu.clear_faults();
    let mut ldap = admin().await;
    ldap.add(
        &format!("uid=stray,{}", fx.people),
        vec![
            ("objectClass", HashSet::from(["inetOrgPerson"])),
            ("uid", HashSet::from(["stray"])),
            ("cn", HashSet::from(["Stray Account"])),
            ("sn", HashSet::from(["Account"])),
            ("employeeNumber", HashSet::from(["NOT-IN-HR-1"])),
        ],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    for _ in 0..2 {
        let (code, out) = cli(&fx.cfg_path, &["apply", "--yes"], &[]);
        assert_eq!(code, 0, "{out}");
    }
    let mail = inbox(&s, &rcpt);
    assert_eq!(mail.len(), 2, "{mail:#?}");
    let orphans = with_subject(&mail, "orphan");
    assert_eq!(orphans.len(), 1, "{mail:#?}");
    assert_eq!(
        orphans[0].subject,
        "[hrsync] staff: 1 orphan account(s) found"
    );
    assert!(
        orphans[0]
            .data
            .contains(&format!("Next: hrsync orphans -c {cfg} --mapping staff")),
        "{}",
        orphans[0].data
    );

    // After the window (24 h later, by the library's clock): the incomplete fetch again.
    fx.emu.set_fault(Fault::FailListPage {
        page: 2,
        status: 500,
    });
    let later = chrono::Utc::now() + chrono::Duration::hours(25);
    let report = fx.run_at(Mode::Plan, later).await;
    assert_eq!(report.status, RunStatus::Incomplete);
    let config = fx.config();
    let mut store = fx.store();
    let sent =
        hrsync_engine::notify::after_run(&config, &mut store, "staff", Ok(&report), later).await;
    let incomplete: Vec<_> = sent
        .iter()
        .filter(|n| n.cause == "run_incomplete:staff")
        .collect();
    assert_eq!(incomplete.len(), 1, "{sent:?}");
    assert_eq!(incomplete[0].outcome, "sent", "{sent:?}");
    let mail = inbox(&s, &rcpt);
    assert_eq!(with_subject(&mail, "incomplete").len(), 2, "{mail:#?}");

    // The log says what was sent and what was suppressed.
    let (code, out) = cli(&fx.cfg_path, &["notify", "log"], &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches("suppressed").count(), 3, "{out}");
    assert!(!out.contains(pw.trim()), "{out}");
    // Nor in the state database (its file and write-ahead log).
    for f in ["state.db", "state.db-wal"] {
        if let Ok(bytes) = std::fs::read(fx.dir.path().join(f)) {
            let hay = String::from_utf8_lossy(&bytes);
            assert!(!hay.contains(pw.trim()), "the SMTP password is in {f}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_notification_is_recorded_and_never_fails_the_run() {
    let s = smtp();
    let fx = Fx::new("notify-fail", 15, "uid", STAFF_ATTRS).await;
    let rcpt = format!("nobody-{}@example.test", std::process::id());
    add_mail_channel(&fx, &s, &rcpt, "");
    // The wrong password: the server refuses AUTH (535, permanent: not retried).
    let wrong = fx.dir.path().join("wrong.pw");
    std::fs::write(&wrong, "not-the-password\n").unwrap();
    let text = std::fs::read_to_string(&fx.cfg_path)
        .unwrap()
        .replace(&s.password_file, &wrong.display().to_string());
    std::fs::write(&fx.cfg_path, text).unwrap();

    fx.emu.set_fault(Fault::FailListPage {
        page: 2,
        status: 500,
    });
    let t = std::time::Instant::now();
    let (code, out) = cli(&fx.cfg_path, &["apply", "--yes"], &[]);
    // The run's own status (incomplete), not an error of the notification.
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains("Notification ops-mail of run_incomplete:staff FAILED"),
        "{out}"
    );
    assert!(
        out.contains("535") || out.to_lowercase().contains("auth"),
        "{out}"
    );
    assert!(t.elapsed() < std::time::Duration::from_secs(60), "bounded");
    assert!(inbox(&s, &rcpt).is_empty());
    // Recorded, and not counted as sent: the next run tries again.
    let log = fx.store().notify_log(10).unwrap();
    assert_eq!(log[0].outcome, "failed", "{log:?}");
    let (_, out) = cli(&fx.cfg_path, &["apply", "--yes"], &[]);
    assert!(out.contains("FAILED"), "{out}");
    assert!(!out.contains("not-the-password"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_and_the_test_command() {
    let s = smtp();
    let fx = Fx::new("notify-tls", 5, "uid", STAFF_ATTRS).await;
    let rcpt = format!("tls-{}@example.test", std::process::id());
    add_mail_channel(&fx, &s, &rcpt, "");
    let text = std::fs::read_to_string(&fx.cfg_path).unwrap().replace(
        &format!("smtp_port = {}\ntls = \"starttls\"", s.port),
        &format!("smtp_port = {}\ntls = \"tls\"", s.tls_port),
    );
    std::fs::write(&fx.cfg_path, text).unwrap();
    let (code, out) = cli(&fx.cfg_path, &["notify", "test", "ops-mail"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("ops-mail sent: mail to "), "{out}");
    let mail = inbox(&s, &rcpt);
    assert_eq!(mail.len(), 1, "{mail:#?}");
    assert_eq!(mail[0].listener, "tls");
    assert!(mail[0].tls);
    assert_eq!(mail[0].auth_user.as_deref(), Some(s.user.as_str()));
    assert_eq!(
        mail[0].subject,
        "[hrsync] test message of notification \"ops-mail\""
    );
    // A test message starts no window.
    assert!(fx.store().notify_log(5).unwrap()[0].cause == "test:ops-mail");
}

/// A local receiver that records each request body and answers `status`.
async fn receiver(status: u16) -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let s = seen.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap, body: String| {
        let s = s.clone();
        async move {
            let key = headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            s.lock().unwrap().push((key, body));
            (axum::http::StatusCode::from_u16(status).unwrap(), "ok")
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{addr}"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_channel_uses_the_webhook_machinery_once_per_cause() {
    let fx = Fx::new("notify-hook", 15, "uid", STAFF_ATTRS).await;
    let (url, seen) = receiver(200).await;
    let mut text = std::fs::read_to_string(&fx.cfg_path).unwrap();
    text.push_str(&format!(
        r#"
[[webhook]]
name = "chat"
method = "POST"
url = "{url}/hooks/hrsync"
body = '{{"text": "{{notify.subject}}", "next": "{{notify.command}}", "cause": "{{notify.cause}}", "about": "{{notify.about}}"}}'

[[notify]]
name = "chat"
kind = "webhook"
webhook = "chat"
on = ["run_incomplete", "held"]
"#
    ));
    std::fs::write(&fx.cfg_path, text).unwrap();
    fx.emu.set_fault(Fault::FailListPage {
        page: 2,
        status: 500,
    });
    for _ in 0..3 {
        let (code, out) = cli(&fx.cfg_path, &["plan"], &[]);
        assert_eq!(code, 4, "{out}");
    }
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    let body: serde_json::Value = serde_json::from_str(&got[0].1).unwrap();
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .starts_with("[hrsync] staff: run "),
        "{body}"
    );
    assert_eq!(
        body["next"],
        format!("hrsync runs -c {}", fx.cfg_path.display())
    );
    assert_eq!(body["cause"], "run_incomplete");
    assert_eq!(body["about"], "staff");
    // An idempotency key makes the POST safe to retry (the webhooks' rule).
    assert!(
        got[0]
            .0
            .starts_with("hrsync-notify-chat-run_incomplete:staff-"),
        "{got:?}"
    );
    // The daemon shares the window (state in the database): its run within the window sends
    // nothing; its run after the window sends again (from a task of its own: the run does not
    // wait for it).
    let svc = hrsync_server::Service::new(fx.config()).unwrap();
    let now = chrono::Utc::now();
    let r = svc
        .sync(
            "staff",
            Mode::Plan,
            "schedule:nightly",
            Default::default(),
            now,
        )
        .await
        .unwrap();
    assert_eq!(r.status, RunStatus::Incomplete);
    assert_eq!(seen.lock().unwrap().len(), 1);
    let later = now + chrono::Duration::hours(25);
    svc.sync(
        "staff",
        Mode::Plan,
        "schedule:nightly",
        Default::default(),
        later,
    )
    .await
    .unwrap();
    for _ in 0..100 {
        if seen.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(seen.lock().unwrap().len(), 2, "delivered within 10 s");
    let body: serde_json::Value = serde_json::from_str(&seen.lock().unwrap()[1].1).unwrap();
    assert_eq!(body["cause"], "run_incomplete");
    // Causes the channel does not want are not sent: awaiting approval (the approval gate's
    // hook) goes to no one here.
    let c = hrsync_engine::notify::awaiting_approval(&fx.cfg_path, "staff", 9, 2);
    let config = fx.config();
    let mut store = fx.store();
    let sent = hrsync_engine::notify::send(&config, &mut store, &[c], chrono::Utc::now()).await;
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!(seen.lock().unwrap().len(), 2);
}

/// Runs a message's "next" command as written (the real binary), with `extra` arguments.
fn run_next(command: &str, extra: &[&str]) -> (i32, String) {
    let mut words = command.split_whitespace();
    assert_eq!(words.next(), Some("hrsync"), "{command}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hrsync"))
        .args(words)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_cause_carries_a_command_that_runs() {
    let ca = std::env::var("HRSYNC_TEST_LDAP_CA_CERT")
        .expect("HRSYNC_TEST_LDAP_CA_CERT is not set: run the tests through scripts/test.sh");
    let fx = Fx::new("notify-causes", 12, "uid", STAFF_ATTRS).await;
    let (url, seen) = receiver(200).await;
    let mut text = std::fs::read_to_string(&fx.cfg_path).unwrap().replace(
        "key_attribute = \"employeeNumber\"",
        &format!("key_attribute = \"employeeNumber\"\nca_cert = \"{ca}\""),
    );
    text.push_str(&format!(
        r#"
[[webhook]]
name = "chat"
method = "POST"
url = "{url}/hooks/hrsync"
body = '{{"subject": "{{notify.subject}}", "next": "{{notify.command}}", "cause": "{{notify.cause}}"}}'

[[notify]]
name = "chat"
kind = "webhook"
webhook = "chat"
expiry_days = 3660
"#
    ));
    std::fs::write(&fx.cfg_path, text).unwrap();
    let cfg = fx.cfg_path.display().to_string();
    let messages = || -> Vec<serde_json::Value> {
        seen.lock()
            .unwrap()
            .iter()
            .map(|(_, b)| serde_json::from_str(b).unwrap())
            .collect()
    };

    // The directory's CA (scripts/make-tls.sh: 10 years) expires within 3660 days.
    let (code, out) = cli(&fx.cfg_path, &["apply", "--yes"], &[]);
    assert_eq!(code, 0, "{out}");
    let m = messages();
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(m[0]["cause"], "expiring");
    assert!(
        m[0]["subject"]
            .as_str()
            .unwrap()
            .starts_with("[hrsync] the directory's CA certificate expires in "),
        "{m:?}"
    );
    assert_eq!(m[0]["next"], format!("hrsync check -c {cfg} --online"));
    let (code, out) = run_next(m[0]["next"].as_str().unwrap(), &[]);
    assert_eq!(code, 0, "{out}");

    // Held by the guard (a misspelt field would clear mail everywhere).
    let text = std::fs::read_to_string(&fx.cfg_path).unwrap();
    std::fs::write(
        &fx.cfg_path,
        text.replace("mail = \"{work_email}\"", "mail = \"{work_emial}\""),
    )
    .unwrap();
    let (code, out) = cli(&fx.cfg_path, &["apply", "--yes"], &[]);
    assert_eq!(code, 5, "{out}");
    let run = fx.store().runs(1).unwrap()[0].id;
    let m = messages();
    assert_eq!(m.len(), 2, "{m:?}");
    assert_eq!(m[1]["cause"], "held");
    assert!(
        m[1]["subject"]
            .as_str()
            .unwrap()
            .starts_with(&format!("[hrsync] staff: run {run} held ")),
        "{m:?}"
    );
    assert_eq!(
        m[1]["next"],
        format!("hrsync apply -c {cfg} --mapping staff --confirm-held {run}")
    );
    // The command releases exactly what was held.
    let (code, out) = run_next(m[1]["next"].as_str().unwrap(), &["--yes"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(": ok"), "{out}");

    // A dead-lettered orchestration instance.
    {
        let mut store = fx.store();
        let now = chrono::Utc::now();
        let id = store
            .enqueue("welcome", "staff", "7", "uid=a", "created", now)
            .unwrap();
        store.step_failed(id, 0, "HTTP 500", None, now).unwrap();
    }
    let (code, out) = cli(&fx.cfg_path, &["plan"], &[]);
    assert_eq!(code, 0, "{out}");
    let m = messages();
    assert_eq!(m.len(), 3, "{m:?}");
    assert_eq!(m[2]["cause"], "dead_letter");
    assert_eq!(
        m[2]["next"],
        format!("hrsync orchestrate list -c {cfg} --dead")
    );
    let (code, out) = run_next(m[2]["next"].as_str().unwrap(), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("welcome") && out.contains("HTTP 500"), "{out}");

    // Nothing new: nothing sent (every cause is within its window).
    let (code, out) = cli(&fx.cfg_path, &["plan"], &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(messages().len(), 3);
}
