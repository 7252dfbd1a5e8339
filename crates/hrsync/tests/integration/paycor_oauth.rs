//! Issue 13 §1–3, §7: Paycor in production. Pasted tokens expire after 30 minutes; with OAuth a
//! daemon keeps syncing and writing back for hours (controlled clocks), webhooks borrow the
//! integration's token provider, two processes share one refresh, and `hrsync oauth authorize`
//! obtains the first tokens from the emulator's authorize/code/PKCE endpoints.

use crate::paycor::{FX_CLIENT_SECRET, FX_REFRESH_TOKEN, PaycorFx, with_static_token};
use chrono::{DateTime, Utc};
use hrsync_config::Config;
use hrsync_emulator::paycor::PaycorConfig;
use hrsync_engine::Mode;
use hrsync_model::{AttrName, ChangeKind};
use hrsync_server::Service;
use hrsync_source::oauth::Clock;
use hrsync_state::Store;
use std::io::{BufRead, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn cfg(employees: usize, seed: u64) -> PaycorConfig {
    PaycorConfig {
        employees,
        seed,
        ..PaycorConfig::default()
    }
}

fn store_json(fx: &PaycorFx) -> serde_json::Value {
    let text = std::fs::read_to_string(fx.dir.path().join("paycor.refresh-token")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Runs the hrsync binary (blocking, on a thread); exit code and stdout+stderr.
/// The real binary with `args` against the fixture's config.
async fn hrsync(fx: &PaycorFx, args: &[&str]) -> (i32, String) {
    crate::common::cli_async(&fx.dir.path().join("hrsync.toml"), args, &[]).await
}

fn cfg_path(fx: &PaycorFx) -> String {
    fx.dir.path().join("hrsync.toml").display().to_string()
}

fn assert_no_secret(text: &str, secrets: &[String]) {
    for s in secrets {
        assert!(
            !s.is_empty() && !text.contains(s.as_str()),
            "a secret leaked:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pasted_token_fails_after_its_lifetime_with_the_explanation() {
    let fx = PaycorFx::with("pc-static", cfg(8, 31), with_static_token).await;
    let text = std::fs::read_to_string(fx.dir.path().join("hrsync.toml")).unwrap();
    assert!(
        text.contains("\ntoken = { file = \"token\" }") && !text.contains("[integration.oauth]")
    );
    let r = fx.run(Mode::Plan).await.unwrap();
    assert!(r.plan.fetch.complete);
    // Half an hour later the pasted token is refused, and the error says what to do.
    fx.emu.advance_clock(Duration::from_secs(1800));
    let err = fx.run(Mode::Plan).await.unwrap_err();
    assert!(
        err.contains("the Paycor access token expired")
            && err.contains("configure `oauth` so hrsync refreshes it"),
        "{err}"
    );
    assert!(err.contains("integration paycor"), "{err}");
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_hour_daemon_session_keeps_syncing_and_writing_back_with_rotations() {
    let fx = PaycorFx::with("pc-3h", cfg(10, 32), |t| {
        t + "\n[[automation]]\nname = \"every10\"\nmapping = \"paycor-staff\"\nschedule = \"*/10 * * * *\"\n"
    })
    .await;
    let mut config = Config::load(&fx.dir.path().join("hrsync.toml")).unwrap();
    // One clock for hrsync's token expiry, moved with the emulator's.
    let clock = Clock::system();
    config.set_oauth_clock(clock.clone());
    let svc = Service::new(config).unwrap();
    let worker = hrsync_server::orchestrate::Worker::new(svc.cfg.clone()).unwrap();
    let mut store = Store::open(&svc.cfg.state_path()).unwrap();

    let start = t("2026-12-01T08:05:00Z");
    assert!(svc.tick(start).await.unwrap().is_empty(), "nothing due yet");
    let mut hires = Vec::new();
    let mut refresh_tokens = std::collections::BTreeSet::new();
    let mut runs = 0;
    let step = Duration::from_secs(600);
    for k in 1..=18_u32 {
        // Ten minutes pass, for the daemon's tokens and for Paycor's.
        clock.advance(step);
        fx.emu.advance_clock(step);
        let hired = fx.emu.hire(serde_json::json!({
            "firstName": "Hour",
            "lastName": format!("Worker{k}"),
        }));
        let id = hired["id"].as_str().unwrap().to_string();
        assert!(hired["employeeNumber"].is_string(), "{hired}");
        hires.push(id);
        let now = start + chrono::Duration::minutes(i64::from(k) * 10)
            - chrono::Duration::minutes(5)
            + chrono::Duration::seconds(3);
        let r = svc.tick(now).await.unwrap();
        assert_eq!(r.len(), 1, "step {k}: {r:?}");
        assert_eq!(
            (r[0].outcome.as_str(), r[0].status.as_deref()),
            ("ran", Some("ok")),
            "step {k}: {r:?}"
        );
        runs += 1;
        // The write-back of the new account (orchestration on "created").
        let ran = worker.run_due(&mut store).await.unwrap();
        assert!(ran >= 1, "step {k}: the write-back step ran");
        assert!(
            store.outbox(Some("dead"), 10).unwrap().is_empty(),
            "step {k}"
        );
        refresh_tokens.insert(
            store_json(&fx)["refresh_token"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(runs, 18, "three hours of ten-minute syncs");
    // Never an expired token on the wire; the token was renewed about every 30 minutes and
    // each rotation saved.
    assert_eq!(fx.emu.expired_token_requests(), 0);
    let grants = fx.emu.refresh_grants();
    assert!((6..=8).contains(&grants), "{grants} refreshes in 3 hours");
    assert!(refresh_tokens.len() >= 6, "{}", refresh_tokens.len());
    assert_eq!(mode(&fx.dir.path().join("paycor.refresh-token")), 0o600);
    // Everyone hired was created and got the directory's address back in Paycor.
    for id in &hires {
        let e = fx.emu.employee(id).unwrap();
        let uid = e["employeeNumber"].as_str().unwrap();
        assert!(
            e.to_string().contains(&format!("{uid}@example.com")),
            "{id}: {e}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_test_and_orchestration_write_back_through_an_oauth_integration() {
    let fx = PaycorFx::with("pc-hook", cfg(10, 33), |t| t).await;
    let r = fx.run(Mode::Apply).await.unwrap();
    assert_eq!(r.applied_failed, 0);
    let created: Vec<(String, String)> = r
        .plan
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Create)
        .map(|c| {
            let uid = c
                .attrs
                .iter()
                .find(|a| a.attr == AttrName::from("uid"))
                .unwrap()
                .after[0]
                .clone();
            (c.key.clone(), uid)
        })
        .collect();
    assert!(created.len() >= 2);
    let grants = fx.emu.refresh_grants();

    // `webhook test` (another process) borrows the integration's stored access token; Paycor
    // refuses it on the PUT: 401, one refresh, the PUT again.
    let (id, uid) = created[0].clone();
    fx.emu
        .set_fault(hrsync_emulator::paycor::Fault::FailRequests {
            path_contains: format!("v1/employees/{id}"),
            status: 401,
            times: 1,
        });
    let (code, out) = hrsync(&fx, &["webhook", "test", "paycor-writeback", "--user", &id]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Authorization: [redacted]"), "{out}");
    assert!(
        out.contains("HTTP 401: the access token was refused; sending again with a refreshed one"),
        "the refused token is noted: {out}"
    );
    assert!(out.contains("2 attempts"), "{out}");
    assert_eq!(fx.emu.refresh_grants(), grants + 1, "one refresh");
    let e = fx.emu.employee(&id).unwrap();
    assert!(e.to_string().contains(&format!("{uid}@example.com")), "{e}");
    let stored = store_json(&fx);
    assert_no_secret(
        &out,
        &[
            FX_CLIENT_SECRET.into(),
            FX_REFRESH_TOKEN.into(),
            stored["refresh_token"].as_str().unwrap().into(),
            stored["access_token"].as_str().unwrap().into(),
            fx.emu.config().subscription_key.clone(),
        ],
    );

    // The orchestration step (the example's paycor-welcome) through the same integration,
    // after Paycor stopped accepting every token it had issued: one refresh, shared by the
    // step's HR lookup and its webhooks.
    fx.emu.expire_access_tokens();
    let config = Config::load(&fx.dir.path().join("hrsync.toml")).unwrap();
    let mut store = Store::open(&config.state_path()).unwrap();
    let worker = hrsync_server::orchestrate::Worker::new(std::sync::Arc::new(config)).unwrap();
    let ran = worker.run_due(&mut store).await.unwrap();
    assert_eq!(ran, created.len());
    assert!(store.outbox(Some("dead"), 10).unwrap().is_empty());
    for (id, uid) in &created {
        let e = fx.emu.employee(id).unwrap();
        assert!(e.to_string().contains(&format!("{uid}@example.com")), "{e}");
    }
    assert_eq!(
        fx.emu.refresh_grants(),
        grants + 2,
        "one refresh for all the worker's steps"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_and_a_cli_run_refreshing_at_once_make_one_refresh_request() {
    let fx = PaycorFx::with("pc-two", cfg(8, 34), |t| {
        t + "\n[[automation]]\nname = \"hourly\"\nmapping = \"paycor-staff\"\nschedule = \"0 * * * *\"\n"
    })
    .await;
    let store_path = fx.dir.path().join("paycor.refresh-token");
    assert!(!store_path.exists(), "both start without tokens");
    // The daemon starts (its first tick creates the state database: two processes creating
    // a fresh database at the same instant is not what this test is about).
    let svc = Service::new(Config::load(&fx.dir.path().join("hrsync.toml")).unwrap()).unwrap();
    assert!(
        svc.tick(t("2026-12-01T08:30:00Z"))
            .await
            .unwrap()
            .is_empty()
    );
    // Both processes will need a token at the same moment: hold the store's lock while they
    // start, so neither can be first by accident.
    let held =
        hrsync_source::oauth::store::lock_store(&store_path, Duration::from_secs(1)).unwrap();
    let cfg = fx.dir.path().join("hrsync.toml");
    let cli =
        tokio::spawn(
            async move { crate::common::cli_async(&cfg, &["plan", "--summary"], &[]).await },
        );
    // The lock is let go half a second later (the daemon's tick runs here meanwhile).
    let emu = fx.emu.clone();
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = emu.refresh_grants();
        drop(held);
        before
    });
    let r = svc
        .tick(t("2026-12-01T09:00:02Z"))
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(release.await.unwrap(), 0, "both waited on the lock");
    let (code, out) = cli.await.unwrap();
    assert_eq!(code, 0, "{out}");
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].outcome.as_str(), r[0].status.as_deref()),
        ("ran", Some("ok")),
        "{r:?}"
    );
    assert_eq!(fx.emu.refresh_grants(), 1, "exactly one refresh request");
    assert_eq!(fx.emu.expired_token_requests(), 0);
    assert_eq!(mode(&store_path), 0o600);
}

/// `hrsync oauth authorize` as a child process: its stdout lines and its stdin.
struct Authorize {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    out: std::sync::Arc<std::sync::Mutex<String>>,
}

fn start_authorize(config: &str) -> Authorize {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hrsync"))
        .args([
            "oauth",
            "authorize",
            "-c",
            config,
            "paycor",
            "--timeout",
            "60",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let stdout = child.stdout.take().unwrap();
    let log = out.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            log.lock().unwrap().push_str(&format!("{line}\n"));
            let _ = tx.send(line);
        }
    });
    let stderr = child.stderr.take().unwrap();
    let log = out.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            log.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
    Authorize {
        child,
        lines: rx,
        out,
    }
}

impl Authorize {
    /// The authorize URL it printed.
    fn url(&self) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no URL printed: {}", self.out.lock().unwrap()));
            if line.starts_with("http://") {
                return line;
            }
        }
    }

    fn wait(mut self) -> (i32, String) {
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let out = self.out.lock().unwrap().clone();
        (status.code().unwrap_or(-1), out)
    }
}

/// The `Location` the emulator's authorize page redirects to (the admin approved).
async fn approve(url: &str) -> String {
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 302, "{url}");
    resp.headers()["location"].to_str().unwrap().to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The fixture without a configured refresh token, with `redirect_uri` set.
async fn authorize_fx(tag: &str, redirect: String) -> PaycorFx {
    PaycorFx::with(tag, cfg(8, 35), move |t| {
        let t = t
            .lines()
            .filter(|l| !l.starts_with("refresh_token ="))
            .collect::<Vec<_>>()
            .join("\n");
        t.replace("http://127.0.0.1:8765/callback", &redirect)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_authorize_with_a_loopback_redirect_writes_the_store_0600() {
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let fx = authorize_fx("pc-authz", redirect.clone()).await;
    let store = fx.dir.path().join("paycor.refresh-token");
    // Before: no refresh token anywhere; check warns and the run says how to get one.
    let (code, out) = hrsync(&fx, &["check"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: integration \"paycor\" has no OAuth tokens yet")
            && out.contains("hrsync oauth authorize -c <config> paycor"),
        "{out}"
    );
    let err = fx.run(Mode::Plan).await.unwrap_err();
    assert!(err.contains("hrsync oauth authorize"), "{err}");

    let cfg_file = cfg_path(&fx);
    let a = tokio::task::spawn_blocking(move || {
        let a = start_authorize(&cfg_file);
        let url = a.url();
        (a, url)
    })
    .await
    .unwrap();
    let (a, url) = a;
    let u = reqwest::Url::parse(&url).unwrap();
    let q: std::collections::HashMap<String, String> = u.query_pairs().into_owned().collect();
    assert_eq!(u.path(), "/AppActivation/Authorize");
    assert_eq!(q["client_id"], "hrsync-emulator-client");
    assert_eq!(
        q["scope"],
        format!("{} offline_access", fx.emu.config().scope_identifier)
    );
    assert_eq!(q["redirect_uri"], redirect);
    assert_eq!(q["subscription-key"], fx.emu.config().subscription_key);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(!q["state"].is_empty());

    // A stray request and a forged redirect (wrong state) do not end the wait.
    let location = approve(&url).await;
    assert!(location.starts_with(&redirect), "{location}");
    let stray = reqwest::get(format!("http://127.0.0.1:{port}/favicon.ico"))
        .await
        .unwrap();
    assert_eq!(stray.status().as_u16(), 404);
    let forged = location.replace(&format!("state={}", q["state"]), "state=forged");
    let forged = reqwest::get(forged).await.unwrap();
    assert_eq!(forged.status().as_u16(), 400);
    // The browser comes back: hrsync answers and exchanges the code.
    let page = reqwest::get(&location).await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("You can close this window")
    );
    let (code, out) = tokio::task::spawn_blocking(move || a.wait()).await.unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Authorized"), "{out}");
    assert_eq!(mode(&store), 0o600);
    let stored = store_json(&fx);
    assert_no_secret(
        &out,
        &[
            FX_CLIENT_SECRET.into(),
            stored["refresh_token"].as_str().unwrap().into(),
            stored["access_token"].as_str().unwrap().into(),
        ],
    );
    // The sync now works from the store, with the access token the exchange gave.
    let r = fx.run(Mode::Apply).await.unwrap();
    assert!(r.plan.fetch.complete);
    assert_eq!(fx.emu.refresh_grants(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_authorize_takes_a_pasted_redirect_address() {
    let redirect = "https://hrsync.example.com/callback".to_string();
    let fx = authorize_fx("pc-paste", redirect.clone()).await;
    let cfg_file = cfg_path(&fx);
    let (mut a, url) = tokio::task::spawn_blocking(move || {
        let a = start_authorize(&cfg_file);
        let url = a.url();
        (a, url)
    })
    .await
    .unwrap();
    let location = approve(&url).await;
    assert!(location.starts_with(&redirect), "{location}");
    let mut stdin = a.child.stdin.take().unwrap();
    writeln!(stdin, "{location}").unwrap();
    drop(stdin);
    let (code, out) = tokio::task::spawn_blocking(move || a.wait()).await.unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("paste the code"), "{out}");
    let store: PathBuf = fx.dir.path().join("paycor.refresh-token");
    assert_eq!(mode(&store), 0o600);
    let r = fx.run(Mode::Plan).await.unwrap();
    assert!(r.plan.fetch.complete);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paycor_webhooks_share_the_fetch_s_provider_and_budget_and_do_not_repeat_a_500() {
    let fx = PaycorFx::with("pc-manners", cfg(6, 36), |t| t).await;
    let config = Config::load(&fx.dir.path().join("hrsync.toml")).unwrap();
    let job = config.job("paycor-staff").unwrap();
    let hooks = hrsync_server::orchestrate::compile_hooks(&config).unwrap();
    let hook = &hooks["paycor-writeback"];
    let hrsync_source::Source::Rest(rest, _) = &job.source else {
        panic!("the Paycor source is a REST integration")
    };
    let hrsync_source::rest::Bearer::OAuth(fetch_provider) = &rest.auth.bearer else {
        panic!("the example uses OAuth")
    };
    assert!(
        hook.creds
            .oauth
            .as_ref()
            .unwrap()
            .is_shared_with(fetch_provider),
        "one token provider per integration"
    );
    assert!(
        hook.creds
            .limiter
            .as_ref()
            .unwrap()
            .is_shared_with(rest.limiter.as_ref().unwrap()),
        "one rate budget per integration"
    );
    assert_eq!(hook.policy, hrsync_webhook::RetryPolicy::paycor());

    // A 500 on the PUT: not sent again (Paycor asks so), the test says why.
    let r = fx.run(Mode::Apply).await.unwrap();
    let id = r
        .plan
        .changes
        .iter()
        .find(|c| c.kind == ChangeKind::Create)
        .unwrap()
        .key
        .clone();
    let before = fx.emu.request_count();
    fx.emu
        .set_fault(hrsync_emulator::paycor::Fault::FailRequests {
            path_contains: format!("v1/employees/{id}"),
            status: 500,
            times: 0,
        });
    let (code, out) = hrsync(&fx, &["webhook", "test", "paycor-writeback", "--user", &id]).await;
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("HTTP 500") && out.contains("1 attempt"),
        "{out}"
    );
    assert!(out.contains("set idempotent = true"), "{out}");
    // The list read for the macros and one PUT; no second PUT.
    assert!(
        fx.emu.request_count() - before <= 3,
        "{}",
        fx.emu.request_count() - before
    );
}
