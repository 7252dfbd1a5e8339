//! Issue 11 §7, operating it: the real `hrsync` binary against the IceHrm emulator and a real
//! slapd. `apply` says what it queued, orchestration steps' directory writes are in the audit,
//! the delivery log is listed, instances can be cancelled, and a failure names the limit that
//! applied.

use crate::common::*;
use std::sync::{Arc, Mutex};

fn append(fx: &Fx, text: &str) {
    let cfg = std::fs::read_to_string(&fx.cfg_path).unwrap() + text;
    std::fs::write(&fx.cfg_path, cfg).unwrap();
}

/// A local receiver that records the paths it gets and answers `status`.
async fn receiver(status: u16) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s = seen.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let s = s.clone();
        async move {
            s.lock().unwrap().push(uri.path().to_string());
            (
                axum::http::StatusCode::from_u16(status).unwrap(),
                "{\"received\":true}",
            )
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{addr}"), seen)
}

/// `cli` on a blocking thread (the emulator and the receiver run on this runtime).
async fn run(fx: &Fx, args: &[&str]) -> (i32, String) {
    let cfg = fx.cfg_path.clone();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&cfg, &a, &[])
    })
    .await
    .unwrap()
}

fn json_of(out: &str) -> serde_json::Value {
    // stdout comes first in `cli`'s output; the JSON document starts at the first `[` or `{`.
    let start = out.find(['[', '{']).unwrap();
    let mut de = serde_json::Deserializer::from_str(&out[start..]).into_iter();
    de.next().unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_says_what_it_queued_and_orchestration_writes_are_audited() {
    let fx = Fx::new("ops-audit", 4, "uid", STAFF_ATTRS).await;
    append(
        &fx,
        r#"
[[orchestration]]
name = "welcome"
on = ["created"]
steps = [
  { action = "set_attribute", attribute = "description", value = "welcomed ({event})" },
]
"#,
    );
    let (rc, out) = run(&fx, &["apply", "--yes"]).await;
    assert_eq!(rc, 0, "{out}");
    let created = fx.search("(objectClass=inetOrgPerson)").await.len();
    assert!(created > 0);
    assert_eq!(
        fx.store().outbox(Some("pending"), 100).unwrap().len(),
        created
    );
    // 1. apply says how many instances it queued and what runs them.
    assert!(
        out.contains(&format!("Queued {created} orchestration instance(s)")),
        "{out}"
    );
    assert!(
        out.contains("hrsync serve") && out.contains("hrsync orchestrate work"),
        "{out}"
    );
    // ... and so does --json (a hire queues one more).
    let id = fx.emu.hire(
        serde_json::json!({"employee_id": "EMP08001", "first_name": "Ada", "last_name": "Audit",
            "work_email": "ada@example.test", "department": 2, "job_title": 5}),
    )["id"]
        .as_i64()
        .unwrap();
    let (rc, out) = run(&fx, &["apply", "--yes", "--json"]).await;
    assert_eq!(rc, 0, "{out}");
    assert_eq!(json_of(&out)["queued_orchestrations"], 1, "{out}");
    let key = fx.emp_no(id);

    // The steps run: counted, and every one of their writes is in the audit.
    let (rc, out) = run(&fx, &["orchestrate", "work"]).await;
    assert_eq!(rc, 0, "{out}");
    assert!(
        out.contains(&format!(
            "{n} step(s) run: {n} ok, 0 failed, 0 skipped",
            n = created + 1
        )),
        "{out}"
    );
    let e = fx
        .search(&format!("(employeeNumber={key})"))
        .await
        .remove(0);
    assert_eq!(
        e.attrs["description"],
        vec!["welcomed (created)".to_string()]
    );
    let (rc, out) = run(&fx, &["audit", "--key", &key, "--json"]).await;
    assert_eq!(rc, 0, "{out}");
    let rows = json_of(&out);
    let rows = rows.as_array().unwrap();
    let step = rows
        .iter()
        .find(|r| r["trigger"] == "orchestration")
        .unwrap_or_else(|| panic!("no orchestration write audited for {key}: {out}"));
    assert_eq!(step["kind"], "update");
    assert_eq!(step["ok"], true);
    assert_eq!(step["dn"].as_str(), Some(e.dn.as_str()));
    assert_eq!(step["attrs"][0]["attr"], "description");
    assert_eq!(step["attrs"][0]["after"][0], "welcomed (created)");
    assert!(step["outbox_id"].as_i64().is_some(), "{step}");
    let op = step["operator"].as_str().unwrap();
    assert!(!op.is_empty() && op != "unknown", "{step}");
    // The run's create of the same person says it came from the command line.
    let create = rows.iter().find(|r| r["kind"] == "create").unwrap();
    assert_eq!(create["trigger"], "cli", "{create}");
    // Text: the write's origin, trigger and operator are visible.
    let (rc, out) = run(&fx, &["audit", "--key", &key]).await;
    assert_eq!(rc, 0, "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("orchestration #"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains(" step 1 "), "{line}");
    assert!(
        line.contains(&format!("(trigger: orchestration, operator: {op})")),
        "{line}"
    );
    assert!(
        out.contains("description: [] -> [\"welcomed (created)\"]"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_listed_newest_first_with_secrets_redacted() {
    let fx = Fx::new("ops-deliveries", 3, "uid", STAFF_ATTRS).await;
    let (hook_url, seen) = receiver(201).await;
    append(
        &fx,
        &format!(
            r#"
[[webhook]]
name = "hello"
method = "POST"
url = "{hook_url}/hello/{{key}}"
body = '{{"mail": "{{user.mail}}"}}'
auth = "icehrm"

[[webhook]]
name = "other"
method = "PUT"
url = "{hook_url}/other/{{key}}"
body = '{{}}'
"#
        ),
    );
    let (rc, out) = run(&fx, &["apply", "--yes"]).await;
    assert_eq!(rc, 0, "{out}");
    let (rc, out) = run(&fx, &["deliveries"]).await;
    assert_eq!((rc, out.trim()), (0, "no deliveries"));
    let ids = fx.active_ids();
    let (a, b) = (fx.emp_no(ids[0]), fx.emp_no(ids[1]));
    for (hook, key) in [("hello", &a), ("other", &a), ("hello", &b)] {
        let (rc, out) = run(&fx, &["webhook", "test", hook, "--user", key]).await;
        assert_eq!(rc, 0, "{out}");
    }
    assert_eq!(seen.lock().unwrap().len(), 3);

    let (rc, out) = run(&fx, &["deliveries", "--json"]).await;
    assert_eq!(rc, 0, "{out}");
    let all = json_of(&out);
    let all = all.as_array().unwrap();
    let order: Vec<(&str, &str)> = all
        .iter()
        .map(|d| {
            (
                d["webhook"].as_str().unwrap(),
                d["hr_key"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        order,
        vec![
            ("hello", b.as_str()),
            ("other", a.as_str()),
            ("hello", a.as_str())
        ],
        "newest first"
    );
    assert!(out.contains("[redacted]"), "{out}");
    assert!(!out.contains(&fx.token), "the token never shows");
    assert_eq!(all[0]["status"], 201);
    assert_eq!(all[0]["delivery"]["response_body"], "{\"received\":true}");

    // --webhook and --limit.
    let (rc, out) = run(
        &fx,
        &["deliveries", "--webhook", "hello", "--limit", "1", "--json"],
    )
    .await;
    assert_eq!(rc, 0, "{out}");
    let one = json_of(&out);
    assert_eq!(one.as_array().unwrap().len(), 1, "{out}");
    assert_eq!(one[0]["hr_key"].as_str(), Some(b.as_str()));
    let (rc, out) = run(&fx, &["deliveries", "--webhook", "other"]).await;
    assert_eq!(rc, 0, "{out}");
    assert!(
        out.contains(&format!(
            "webhook other for {a} (webhook test): ok HTTP 201, 1 attempt(s)"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("> PUT {hook_url}/other/{a}")),
        "{out}"
    );
    assert!(!out.contains("webhook hello"), "{out}");
    // Text of an authenticated one: the header is there, its value is not.
    let (_, out) = run(&fx, &["deliveries", "--webhook", "hello"]).await;
    assert!(out.contains("> Authorization: [redacted]"), "{out}");
    assert!(!out.contains(&fx.token), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_instance_never_runs_and_a_finished_one_cannot_be_cancelled() {
    let fx = Fx::new("ops-cancel", 3, "uid", STAFF_ATTRS).await;
    let (hook_url, seen) = receiver(200).await;
    append(
        &fx,
        &format!(
            r#"
[[webhook]]
name = "notify"
method = "PUT"
url = "{hook_url}/notify/{{key}}"
body = '{{}}'

[[orchestration]]
name = "welcome"
on = ["created"]
steps = [ {{ action = "webhook", webhook = "notify" }} ]
"#
        ),
    );
    let (rc, out) = run(&fx, &["apply", "--yes"]).await;
    assert_eq!(rc, 0, "{out}");
    let pending = fx.store().outbox(Some("pending"), 100).unwrap();
    assert!(pending.len() >= 2, "{pending:?}");
    let victim = &pending[0];
    let id = victim.id.to_string();
    let (rc, out) = run(&fx, &["orchestrate", "cancel", &id]).await;
    assert_eq!(rc, 0, "{out}");
    assert!(
        out.contains(&format!(
            "#{id} welcome for {} cancelled before step 1",
            victim.hr_key
        )),
        "{out}"
    );
    let (rc, out) = run(&fx, &["orchestrate", "work"]).await;
    assert_eq!(rc, 0, "{out}");
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), pending.len() - 1, "{got:?}");
    assert!(
        !got.contains(&format!("/notify/{}", victim.hr_key)),
        "the cancelled instance ran: {got:?}"
    );
    let store = fx.store();
    assert_eq!(
        store.outbox_item(victim.id).unwrap().unwrap().status,
        "cancelled"
    );
    let log = store.step_log(victim.id).unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(log[0].4.starts_with("cancelled by "), "{log:?}");
    let (rc, out) = run(&fx, &["orchestrate", "list"]).await;
    assert_eq!(rc, 0);
    assert!(
        out.contains(&format!("#{id} welcome")) && out.contains("cancelled"),
        "{out}"
    );

    // A finished one, the same one again, and one that does not exist: refused, saying why.
    let done = pending[1].id.to_string();
    let (rc, out) = run(&fx, &["orchestrate", "cancel", &done]).await;
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains(&format!(
            "#{done} has finished (done): there is nothing left to cancel"
        )),
        "{out}"
    );
    let (rc, out) = run(&fx, &["orchestrate", "cancel", &id]).await;
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("was already cancelled"), "{out}");
    let (rc, out) = run(&fx, &["orchestrate", "cancel", "99999"]).await;
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("no orchestration instance #99999"), "{out}");
    assert_eq!(seen.lock().unwrap().len(), pending.len() - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lettered_step_names_the_limit_that_applied_and_work_counts_it() {
    let fx = Fx::new("ops-limit", 2, "uid", STAFF_ATTRS).await;
    let (hook_url, seen) = receiver(500).await;
    append(
        &fx,
        &format!(
            r#"
[[webhook]]
name = "flaky"
method = "PUT"
url = "{hook_url}/flaky/{{key}}"
body = '{{}}'
max_attempts = 3

[[orchestration]]
name = "welcome"
max_attempts = 2
steps = [ {{ action = "webhook", webhook = "flaky" }} ]

[[orchestration]]
name = "once"
max_attempts = 5
steps = [ {{ action = "webhook", webhook = "flaky", max_attempts = 1 }} ]
"#
        ),
    );
    let (rc, out) = run(&fx, &["apply", "--yes"]).await;
    assert_eq!(rc, 0, "{out}");
    let key = fx.emp_no(fx.active_ids()[0]);
    let cfg = Arc::new(fx.config());
    let mut store = fx.store();
    let welcome = store
        .enqueue("welcome", "staff", &key, "", "manual", chrono::Utc::now())
        .unwrap();
    // The template's limit (2), not the webhook's (3): retried at once here.
    let mut worker = hrsync_server::orchestrate::Worker::new(cfg).unwrap();
    worker.retry_base = chrono::Duration::zero();
    let r = worker.run_due_report(&mut store).await.unwrap();
    assert_eq!(
        (r.ran, r.ok, r.failed, r.failed_retrying, r.dead),
        (2, 0, 2, 1, 1),
        "{r:?}"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        2 * 3,
        "2 step attempts of 3 calls each"
    );
    let row = store.outbox_item(welcome).unwrap().unwrap();
    assert_eq!(row.status, "dead");
    let err = row.last_error.unwrap();
    assert!(
        err.starts_with(
            "gave up after 2 attempt(s) of step 1/1 (webhook flaky): max_attempts = 2 of orchestration \"welcome\""
        ),
        "{err}"
    );
    assert!(
        err.contains("after 3 attempts (gave up: max_attempts = 3 of webhook flaky)"),
        "{err}"
    );
    let (rc, out) = run(&fx, &["orchestrate", "list", "--dead"]).await;
    assert_eq!(rc, 0);
    assert!(
        out.contains("max_attempts = 2 of orchestration \"welcome\""),
        "{out}"
    );

    // A step's own limit wins over its template's, and `orchestrate work` counts the failure
    // apart (exit 3: an instance went to the dead-letter list).
    let once = store
        .enqueue("once", "staff", &key, "", "manual", chrono::Utc::now())
        .unwrap();
    let (rc, out) = run(&fx, &["orchestrate", "work"]).await;
    assert_eq!(rc, 3, "{out}");
    assert!(
        out.contains("1 step(s) run: 0 ok, 1 failed (1 dead-lettered), 0 skipped"),
        "{out}"
    );
    let err = store
        .outbox_item(once)
        .unwrap()
        .unwrap()
        .last_error
        .unwrap();
    assert!(
        err.starts_with(
            "gave up after 1 attempt(s) of step 1/1 (webhook flaky): max_attempts = 1 of step 1 of orchestration \"once\""
        ),
        "{err}"
    );
    let (rc, out) = run(&fx, &["orchestrate", "work", "--json"]).await;
    assert_eq!(rc, 0, "nothing due: {out}");
    assert_eq!(json_of(&out)["ran"], 0);

    // A limit of 0 attempts is refused by `check`, naming the key.
    append(
        &fx,
        "\n[[orchestration]]\nname = \"never\"\nsteps = [ { action = \"enable\", max_attempts = 0 } ]\n",
    );
    let (rc, out) = run(&fx, &["check"]).await;
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains("orchestration[2].steps[0].max_attempts"),
        "{out}"
    );
}

/// `hrsync … | head`: the reader going away ends the command quietly (SIGPIPE, as Unix tools
/// do), not with a Rust panic and exit code 101.
#[test]
fn a_closed_output_pipe_ends_a_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hrsync"))
        .args(["test", "-c"])
        .arg(root.join("examples/icehrm-openldap.toml"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the command writes anything.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // 13 = SIGPIPE on Linux.
    assert_eq!(out.status.signal(), Some(13), "{:?} {stderr}", out.status);
}
