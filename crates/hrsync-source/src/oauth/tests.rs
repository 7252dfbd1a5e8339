#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use hrsync_emulator::paycor::{self, PaycorConfig, PaycorState};
use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::Mutex as StdMutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CLIENT_ID: &str = "hrsync-test-client";
const CLIENT_SECRET: &str = "client-secret-7f3a9d1e5b2c4a6f";
const INITIAL: &str = "initial-refresh-token-51c0ffee42";

struct Emu {
    state: PaycorState,
    addr: SocketAddr,
    handle: tokio::task::JoinHandle<()>,
}

impl Drop for Emu {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

async fn emulator(ttl: Duration) -> Emu {
    let cfg = PaycorConfig {
        employees: 5,
        client_id: CLIENT_ID.to_owned(),
        client_secret: Some(CLIENT_SECRET.to_owned()),
        refresh_token: Some(INITIAL.to_owned()),
        access_token_ttl: ttl,
        ..PaycorConfig::default()
    };
    let state = PaycorState::generate(&cfg);
    let (addr, handle) = paycor::serve(state.clone(), "", "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    Emu {
        state,
        addr,
        handle,
    }
}

fn key(emu: &Emu) -> String {
    emu.state.config().subscription_key.clone()
}

fn settings(token_url: String, key: &str, store: &Path, initial: &str) -> OAuthRefresh {
    OAuthRefresh {
        integration: "paycor-test".to_owned(),
        token_url,
        client_id: CLIENT_ID.to_owned(),
        client_secret: Secret::new(CLIENT_SECRET),
        initial_refresh_token: Some(Secret::new(initial)),
        store: store.to_path_buf(),
        query_secrets: vec![("subscription-key".to_owned(), Secret::new(key))],
        timeout: Duration::from_secs(5),
        clock: Clock::system(),
    }
}

fn provider(emu: &Emu, store: &Path, initial: &str) -> TokenProvider {
    settings(
        format!("http://{}/sts/v1/common/token", emu.addr),
        &key(emu),
        store,
        initial,
    )
    .into_provider()
}

/// A provider (another "process") on `clock`.
fn clocked(emu: &Emu, store: &Path, clock: &Clock) -> TokenProvider {
    let mut s = settings(
        format!("http://{}/sts/v1/common/token", emu.addr),
        &key(emu),
        store,
        INITIAL,
    );
    s.clock = clock.clone();
    s.into_provider()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The refresh token in the store.
fn read(path: &Path) -> String {
    let stored = Stored::parse(&fs::read_to_string(path).unwrap()).unwrap();
    stored.refresh_token.unwrap().expose().to_owned()
}

/// The access token in the store.
fn stored_access(path: &Path) -> String {
    let stored = Stored::parse(&fs::read_to_string(path).unwrap()).unwrap();
    stored.access.unwrap().0.expose().to_owned()
}

/// Status of `GET /v1/legalentities/{id}/employees` with this access token.
async fn employees_status(emu: &Emu, token: &Secret) -> u16 {
    reqwest::Client::new()
        .get(format!(
            "http://{}/v1/legalentities/{}/employees",
            emu.addr,
            emu.state.legal_entity_id()
        ))
        .bearer_auth(token.expose())
        .header("Ocp-Apim-Subscription-Key", key(emu))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A raw refresh at the emulator, outside the provider.
async fn raw_refresh_status(emu: &Emu, refresh_token: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("http://{}/sts/v1/common/token", emu.addr))
        .query(&[("subscription-key", key(emu))])
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn assert_no_secret(text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "{text:?} contains a secret");
    }
}

#[tokio::test]
async fn first_refresh_uses_configured_token_and_saves_the_rotated_one() {
    let emu = emulator(Duration::from_secs(1800)).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("paycor.refresh");
    let p = provider(&emu, &store, INITIAL);

    let access = p.access_token().await.unwrap();
    assert_eq!(employees_status(&emu, &access).await, 200);

    let rotated = read(&store);
    assert!(!rotated.is_empty());
    assert_ne!(rotated, INITIAL);
    assert_ne!(rotated, access.expose());
    // The access token is kept next to it, for another process on the same store.
    assert_eq!(stored_access(&store), access.expose());
    assert_eq!(mode(&store), 0o600);
    // Only the store and its lock file are left in the directory (no temp file).
    let mut names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            std::ffi::OsString::from("paycor.refresh"),
            std::ffi::OsString::from("paycor.refresh.lock")
        ]
    );
    assert_eq!(mode(&dir.path().join("paycor.refresh.lock")), 0o600);

    // The configured token is retired; the rotated one is live.
    assert_eq!(raw_refresh_status(&emu, INITIAL).await, 400);
    let other = tempfile::tempdir().unwrap();
    let again = provider(&emu, &other.path().join("s"), INITIAL);
    assert!(matches!(
        again.access_token().await,
        Err(SourceError::Auth { status: 400, .. })
    ));
}

#[tokio::test]
async fn missing_store_directory_is_created_0700() {
    let emu = emulator(Duration::from_secs(1800)).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("state/oauth/paycor.refresh");
    provider(&emu, &store, INITIAL)
        .access_token()
        .await
        .unwrap();
    assert_eq!(mode(&store), 0o600);
    assert_eq!(mode(store.parent().unwrap()) & 0o077, 0);
    assert_eq!(mode(&dir.path().join("state")) & 0o077, 0);
}

#[tokio::test]
async fn next_process_reads_the_store_and_rotates_again() {
    let emu = emulator(Duration::from_secs(1800)).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("paycor.refresh");
    provider(&emu, &store, INITIAL)
        .access_token()
        .await
        .unwrap();
    let first = read(&store);

    // A new process: fresh provider, same config (its configured token is retired by now).
    // While the stored access token is valid it is used as is: no token request.
    let clock = Clock::system();
    let p2 = clocked(&emu, &store, &clock);
    let before = emu.state.request_count();
    let access = p2.access_token().await.unwrap();
    assert_eq!(emu.state.request_count(), before, "no token request");
    assert_eq!(access.expose(), stored_access(&store));
    assert_eq!(read(&store), first);
    // Once it is about to expire, the process refreshes with the stored refresh token.
    clock.advance(Duration::from_secs(1800) - EXPIRY_MARGIN);
    emu.state
        .advance_clock(Duration::from_secs(1800) - EXPIRY_MARGIN);
    let access = p2.access_token().await.unwrap();
    assert_eq!(employees_status(&emu, &access).await, 200);
    let second = read(&store);
    assert_ne!(second, first);
    assert_ne!(second, INITIAL);
    assert_eq!(mode(&store), 0o600);
    assert_eq!(raw_refresh_status(&emu, &first).await, 400, "retired");

    // And once more: the chain goes on.
    clock.advance(Duration::from_secs(1800));
    emu.state.advance_clock(Duration::from_secs(1800));
    clocked(&emu, &store, &clock).access_token().await.unwrap();
    assert_ne!(read(&store), second);
}

#[tokio::test]
async fn access_token_is_cached_until_invalidated() {
    let emu = emulator(Duration::from_secs(1800)).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("paycor.refresh");
    let p = provider(&emu, &store, INITIAL);

    let before = emu.state.request_count();
    let a = p.access_token().await.unwrap();
    let b = p.clone().access_token().await.unwrap();
    assert_eq!(a.expose(), b.expose());
    assert_eq!(emu.state.request_count() - before, 1, "one token POST");

    // The API said 401: forget it, the next call refreshes (and rotates).
    let stored = read(&store);
    emu.state.expire_access_tokens();
    assert_eq!(employees_status(&emu, &a).await, 401);
    let before = emu.state.request_count();
    p.invalidate(&a).await;
    let c = p.access_token().await.unwrap();
    assert_eq!(emu.state.request_count() - before, 1);
    assert_ne!(c.expose(), a.expose());
    assert_ne!(read(&store), stored);
    assert_eq!(employees_status(&emu, &c).await, 200);
}

#[tokio::test]
async fn concurrent_callers_share_one_refresh() {
    let emu = emulator(Duration::from_secs(1800)).await;
    let dir = tempfile::tempdir().unwrap();
    let p = provider(&emu, &dir.path().join("paycor.refresh"), INITIAL);
    let q = p.clone();

    let before = emu.state.request_count();
    let (a, b) = tokio::join!(p.access_token(), q.access_token());
    assert_eq!(a.unwrap().expose(), b.unwrap().expose());
    assert_eq!(emu.state.request_count() - before, 1, "exactly one POST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tasks_on_threads_share_one_refresh() {
    let emu = emulator(Duration::from_secs(1800)).await;
    let dir = tempfile::tempdir().unwrap();
    let p = provider(&emu, &dir.path().join("paycor.refresh"), INITIAL);

    let before = emu.state.request_count();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move { p.access_token().await.unwrap().expose().to_owned() })
        })
        .collect();
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap());
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 1);
    assert_eq!(emu.state.request_count() - before, 1);
}

#[tokio::test]
async fn token_close_to_expiry_is_refreshed() {
    // 30 s tokens are always within the 60 s margin: every call refreshes, rotating each time.
    let emu = emulator(Duration::from_secs(30)).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("paycor.refresh");
    let p = provider(&emu, &store, INITIAL);
    let before = emu.state.request_count();
    p.access_token().await.unwrap();
    let first = read(&store);
    p.access_token().await.unwrap();
    assert_eq!(emu.state.request_count() - before, 2);
    assert_ne!(read(&store), first);
}

#[tokio::test]
async fn retired_or_unknown_refresh_token_is_an_auth_error_without_secrets() {
    let emu = emulator(Duration::from_secs(1800)).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("paycor.refresh");

    // Unknown token, no store yet.
    let unknown = "unknown-refresh-token-0badf00d";
    let err = provider(&emu, &store, unknown)
        .access_token()
        .await
        .unwrap_err();
    let SourceError::Auth { status, .. } = &err else {
        panic!("expected Auth, got {err:?}")
    };
    assert_eq!(*status, 400);
    let text = err.to_string();
    assert!(text.contains("paycor-test"), "{text}");
    assert!(text.contains(&store.display().to_string()), "{text}");
    assert!(text.contains("Re-authorize"), "{text}");
    assert!(text.contains("hrsync oauth authorize"), "{text}");
    assert!(text.contains("delete"), "{text}");
    assert!(text.contains("invalid_grant"), "{text}");
    assert!(!store.exists(), "nothing is written on a refusal");
    let secrets = [unknown, CLIENT_SECRET, key(&emu).leak() as &str];
    assert_no_secret(&text, &secrets);
    assert_no_secret(&format!("{err:?}"), &secrets);

    // A retired token in the store (the admin restored an old copy).
    let p = provider(&emu, &store, INITIAL);
    p.access_token().await.unwrap();
    let live = read(&store);
    fs::write(&store, format!("{INITIAL}\n")).unwrap();
    let err = provider(&emu, &store, INITIAL)
        .access_token()
        .await
        .unwrap_err();
    assert!(matches!(err, SourceError::Auth { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("read from the store"), "{text}");
    assert_no_secret(&text, &[INITIAL, &live, CLIENT_SECRET, &key(&emu)]);
}

#[tokio::test]
async fn wrong_client_secret_is_an_auth_error_naming_the_client() {
    let emu = emulator(Duration::from_secs(1800)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(
        format!("http://{}/sts/v1/common/token", emu.addr),
        &key(&emu),
        &dir.path().join("s"),
        INITIAL,
    );
    s.client_secret = Secret::new("wrong-secret-1234567");
    let err = s.into_provider().access_token().await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SourceError::Auth { .. }), "{err:?}");
    assert!(text.contains("client secret"), "{text}");
    assert_no_secret(&text, &["wrong-secret-1234567", INITIAL, &key(&emu)]);
    // The refresh token was not consumed.
    assert_eq!(raw_refresh_status(&emu, INITIAL).await, 200);
}

#[tokio::test]
async fn wrong_subscription_key_is_an_auth_error_without_the_key() {
    let emu = emulator(Duration::from_secs(1800)).await;
    let dir = tempfile::tempdir().unwrap();
    let bad_key = "ffffeeeeddddccccbbbbaaaa99998888";
    let err = settings(
        format!("http://{}/sts/v1/common/token", emu.addr),
        bad_key,
        &dir.path().join("s"),
        INITIAL,
    )
    .into_provider()
    .access_token()
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, SourceError::Auth { status: 401, .. }),
        "{err:?}"
    );
    assert!(text.contains("subscription key"), "{text}");
    assert_no_secret(&text, &[bad_key, INITIAL, CLIENT_SECRET]);
}

#[tokio::test]
async fn store_readable_by_others_is_refused_with_a_chmod_hint() {
    let emu = emulator(Duration::from_secs(1800)).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("paycor.refresh");
    fs::write(&store, format!("{INITIAL}\n")).unwrap();
    fs::set_permissions(&store, fs::Permissions::from_mode(0o644)).unwrap();

    let before = emu.state.request_count();
    let err = provider(&emu, &store, INITIAL)
        .access_token()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SourceError::Config { .. }), "{err:?}");
    assert!(
        text.contains(&format!("chmod 600 {}", store.display())),
        "{text}"
    );
    assert!(text.contains("0644"), "{text}");
    assert_no_secret(&text, &[INITIAL]);
    assert_eq!(emu.state.request_count(), before, "nothing was sent");

    // After the chmod it works (and the stored token is the one used).
    fs::set_permissions(&store, fs::Permissions::from_mode(0o600)).unwrap();
    provider(&emu, &store, "not-used-when-a-store-exists")
        .access_token()
        .await
        .unwrap();
    assert_ne!(read(&store), INITIAL);
}

#[tokio::test]
async fn debug_shows_no_secret() {
    let emu = emulator(Duration::from_secs(1800)).await;
    let dir = tempfile::tempdir().unwrap();
    let p = provider(&emu, &dir.path().join("s"), INITIAL);
    let access = p.access_token().await.unwrap();
    let live = read(&dir.path().join("s"));
    let text = format!("{p:?}");
    assert!(text.contains("paycor-test"), "{text}");
    assert!(text.contains("valid for"), "{text}");
    assert_no_secret(
        &text,
        &[INITIAL, CLIENT_SECRET, &key(&emu), access.expose(), &live],
    );
    let cfg = settings("http://x/token".into(), &key(&emu), Path::new("s"), INITIAL);
    assert_no_secret(&format!("{cfg:?}"), &[INITIAL, CLIENT_SECRET, &key(&emu)]);
}

// ---- A scripted token endpoint, for what the emulator cannot do (5xx on the token call). ----

#[derive(Default)]
struct Seen {
    requests: Vec<String>,
}

/// Serves `script` in order (the last answer repeats); records each raw request.
async fn scripted(script: Vec<(u16, &'static str)>) -> (SocketAddr, Arc<StdMutex<Seen>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(StdMutex::new(Seen::default()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        let mut n = 0;
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0_u8; 4096];
            loop {
                let r = sock.read(&mut chunk).await.unwrap_or(0);
                if r == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..r]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            log.lock()
                .unwrap()
                .requests
                .push(String::from_utf8_lossy(&buf).to_string());
            let (status, body) = script[n.min(script.len() - 1)];
            n += 1;
            let location = if status == 307 {
                "location: /elsewhere\r\n"
            } else {
                ""
            };
            let resp = format!(
                "HTTP/1.1 {status} X\r\n{location}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    (addr, seen)
}

const SCRIPT_KEY: &str = "script-subscription-key-5566";

fn scripted_provider(addr: SocketAddr, store: &Path) -> TokenProvider {
    settings(
        format!("http://{addr}/sts/v1/common/token"),
        SCRIPT_KEY,
        store,
        INITIAL,
    )
    .into_provider()
}

#[tokio::test]
async fn request_shape_and_default_expiry() {
    let (addr, seen) = scripted(vec![(
        200,
        r#"{"access_token":"at-1","token_type":"bearer","refresh_token":"rt-2"}"#,
    )])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    let p = scripted_provider(addr, &store);
    assert_eq!(p.access_token().await.unwrap().expose(), "at-1");
    assert_eq!(read(&store), "rt-2");
    let req = seen.lock().unwrap().requests[0].clone();
    assert!(
        req.starts_with(&format!(
            "POST /sts/v1/common/token?subscription-key={SCRIPT_KEY} HTTP/1.1"
        )),
        "{req}"
    );
    assert!(
        req.to_ascii_lowercase()
            .contains("content-type: application/x-www-form-urlencoded"),
        "{req}"
    );
    assert!(req.ends_with(&format!(
        "grant_type=refresh_token&refresh_token={INITIAL}&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}"
    )), "{req}");
    // No expires_in: 3600 s assumed, so the token is cached.
    p.access_token().await.unwrap();
    assert_eq!(seen.lock().unwrap().requests.len(), 1);
    let dbg = format!("{p:?}");
    assert!(dbg.contains("valid for 35"), "{dbg}");
}

#[tokio::test]
async fn no_rotation_keeps_the_refresh_token() {
    let (addr, _) = scripted(vec![(
        200,
        r#"{"access_token":"at-1","expires_in":1800,"token_type":"Bearer"}"#,
    )])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    scripted_provider(addr, &store)
        .access_token()
        .await
        .unwrap();
    assert_eq!(read(&store), INITIAL);
    assert_eq!(stored_access(&store), "at-1");
}

#[tokio::test]
async fn server_errors_are_retried_at_most_twice_then_fail_without_secrets() {
    let (addr, seen) = scripted(vec![(503, r#"{"message":"backend down"}"#)]).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    let err = scripted_provider(addr, &store)
        .access_token()
        .await
        .unwrap_err();
    assert_eq!(seen.lock().unwrap().requests.len(), 3, "1 + 2 retries");
    let text = err.to_string();
    assert!(matches!(err, SourceError::Failed { .. }), "{err:?}");
    assert!(text.contains("503"), "{text}");
    assert!(text.contains("backend down"), "{text}");
    assert!(text.contains("re-authorized"), "{text}");
    assert_no_secret(&text, &[INITIAL, CLIENT_SECRET, SCRIPT_KEY]);
    assert!(!store.exists());
}

#[tokio::test]
async fn a_server_error_then_success_saves_the_rotation() {
    let (addr, seen) = scripted(vec![
        (500, ""),
        (
            200,
            r#"{"access_token":"at-9","expires_in":"1800","token_type":"Bearer","refresh_token":"rt-9"}"#,
        ),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    let p = scripted_provider(addr, &store);
    assert_eq!(p.access_token().await.unwrap().expose(), "at-9");
    assert_eq!(seen.lock().unwrap().requests.len(), 2);
    assert_eq!(read(&store), "rt-9");
}

#[tokio::test]
async fn a_refusal_after_a_server_error_says_the_token_may_have_rotated() {
    let (addr, seen) = scripted(vec![(502, ""), (400, r#"{"error":"invalid_grant"}"#)]).await;
    let dir = tempfile::tempdir().unwrap();
    let err = scripted_provider(addr, &dir.path().join("s"))
        .access_token()
        .await
        .unwrap_err();
    assert_eq!(
        seen.lock().unwrap().requests.len(),
        2,
        "a refusal is not retried"
    );
    let text = err.to_string();
    assert!(matches!(err, SourceError::Auth { .. }), "{err:?}");
    assert!(text.contains("may have rotated"), "{text}");
}

#[tokio::test]
async fn server_text_echoing_a_secret_is_redacted() {
    let body: &'static str = format!(
        r#"{{"error":"invalid_grant","error_description":"token {INITIAL} unknown for client secret {CLIENT_SECRET}"}}"#
    )
    .leak();
    let (addr, _) = scripted(vec![(400, body)]).await;
    let dir = tempfile::tempdir().unwrap();
    let err = scripted_provider(addr, &dir.path().join("s"))
        .access_token()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("[redacted]"), "{text}");
    assert_no_secret(&text, &[INITIAL, CLIENT_SECRET, SCRIPT_KEY]);
}

#[tokio::test]
async fn unreachable_endpoint_fails_without_the_subscription_key() {
    // A port nobody listens on.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let err = scripted_provider(addr, &dir.path().join("s"))
        .access_token()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SourceError::Failed { .. }), "{err:?}");
    assert!(text.contains("cannot connect"), "{text}");
    assert!(text.contains("retries"), "{text}");
    assert!(
        !text.contains("rotated"),
        "nothing reached a server: {text}"
    );
    assert_no_secret(&text, &[SCRIPT_KEY, INITIAL, CLIENT_SECRET]);
}

#[tokio::test]
async fn a_200_without_a_token_is_a_failure_that_quotes_nothing() {
    let (addr, seen) = scripted(vec![(200, r#"{"refresh_token":"rt-secret-xyz","oops":1}"#)]).await;
    let dir = tempfile::tempdir().unwrap();
    let err = scripted_provider(addr, &dir.path().join("s"))
        .access_token()
        .await
        .unwrap_err();
    assert_eq!(seen.lock().unwrap().requests.len(), 1, "not retried");
    let text = err.to_string();
    assert!(text.contains("no access_token"), "{text}");
    assert_no_secret(&text, &["rt-secret-xyz"]);
}

#[test]
fn token_answers_parse() {
    let a = parse_token_answer(
        br#"{"access_token":"a","expires_in":1800,"token_type":"Bearer","refresh_token":"r"}"#,
    )
    .unwrap();
    assert_eq!(a.access_token.expose(), "a");
    assert_eq!(a.expires_in, Duration::from_secs(1800));
    assert_eq!(a.refresh_token.unwrap().expose(), "r");
    let a = parse_token_answer(br#"{"access_token":"a","refresh_token":""}"#).unwrap();
    assert_eq!(a.expires_in, DEFAULT_EXPIRES_IN);
    assert!(a.refresh_token.is_none());
    assert!(parse_token_answer(br#"{"access_token":"a","token_type":"mac"}"#).is_err());
    assert!(parse_token_answer(br#"{"access_token":"a","expires_in":-5}"#).is_err());
    let e = parse_token_answer(br#"{"access_token":"secret-a"#)
        .err()
        .unwrap();
    assert!(!e.contains("secret-a"), "{e}");
}

#[test]
fn error_bodies_give_code_and_short_detail() {
    let (c, d) = error_text(br#"{"error":"invalid_grant","error_description":"gone"}"#);
    assert_eq!((c.as_deref(), d.as_str()), (Some("invalid_grant"), "gone"));
    let (c, d) = error_text(
        br#"{"statusCode":401,"message":"Access denied due to invalid subscription key."}"#,
    );
    assert_eq!(c, None);
    assert!(d.contains("subscription key"));
    let (c, d) = error_text(&[b'x'; 1000]);
    assert_eq!(c, None);
    assert_eq!(d.chars().count(), MAX_DETAIL + 1);
    let (c, _) = error_text(br#"{"error":"not a code <script>"}"#);
    assert_eq!(c, None);
}

#[test]
fn save_store_replaces_atomically_with_0600() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("a/b/tok");
    let one = |t: &str| Stored {
        refresh_token: Some(Secret::new(t)),
        access: None,
    };
    store::save_store(&store, &one("one")).unwrap();
    store::save_store(&store, &one("two")).unwrap();
    assert_eq!(read(&store), "two");
    assert_eq!(mode(&store), 0o600);
    assert_eq!(mode(&dir.path().join("a/b")), 0o700);
    assert_eq!(fs::read_dir(dir.path().join("a/b")).unwrap().count(), 1);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (addr, seen) = scripted(vec![(307, "")]).await;
    let dir = tempfile::tempdir().unwrap();
    let err = scripted_provider(addr, &dir.path().join("s"))
        .access_token()
        .await
        .unwrap_err();
    assert_eq!(
        seen.lock().unwrap().requests.len(),
        1,
        "the form is not resent"
    );
    let text = err.to_string();
    assert!(matches!(err, SourceError::Failed { .. }), "{err:?}");
    assert!(text.contains("HTTP 307"), "{text}");
}

#[tokio::test]
async fn a_dropped_caller_does_not_lose_the_rotation() {
    let emu = emulator(Duration::from_secs(1800)).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("paycor.refresh");
    let p = provider(&emu, &store, INITIAL);
    // Poll the refresh once (the task starts) and drop the caller.
    let fut = p.access_token();
    let _ = tokio::time::timeout(Duration::ZERO, fut).await;
    // The next caller waits for that refresh instead of presenting the retired token.
    let access = p.access_token().await.unwrap();
    assert_eq!(employees_status(&emu, &access).await, 200);
    assert_ne!(read(&store), INITIAL);
}

// ---- Across processes: the store's lock and the shared access token. ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_refreshing_at_once_make_one_refresh_request() {
    let emu = emulator(Duration::from_secs(1800)).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("paycor.refresh");
    // Two providers on one store are two processes: separate caches and mutexes; only the
    // store's lock is shared. The lock is held (by a third party) while both start, so they
    // really do ask at the same moment.
    let held = store::lock_store(&store, Duration::from_secs(1)).unwrap();
    let a = provider(&emu, &store, INITIAL);
    let b = provider(&emu, &store, INITIAL);
    let before = emu.state.request_count();
    let ta = tokio::spawn(async move { a.access_token().await });
    let tb = tokio::spawn(async move { b.access_token().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(emu.state.request_count(), before, "both wait for the lock");
    drop(held);
    let ta = ta.await.unwrap().unwrap();
    let tb = tb.await.unwrap().unwrap();
    assert_eq!(emu.state.request_count() - before, 1, "exactly one refresh");
    assert_eq!(ta.expose(), tb.expose());
    assert_eq!(employees_status(&emu, &ta).await, 200);
    assert_eq!(
        raw_refresh_status(&emu, &read(&store)).await,
        200,
        "the saved one is live"
    );
}

#[tokio::test]
async fn a_refused_access_token_is_not_taken_from_the_store_again() {
    let emu = emulator(Duration::from_secs(1800)).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("paycor.refresh");
    let p = provider(&emu, &store, INITIAL);
    let a = p.access_token().await.unwrap();
    emu.state.expire_access_tokens();
    p.invalidate(&a).await;
    let b = p.access_token().await.unwrap();
    assert_ne!(a.expose(), b.expose());
    assert_eq!(employees_status(&emu, &b).await, 200);
}

#[tokio::test]
async fn a_late_401_for_an_old_token_keeps_the_fresh_one() {
    // Two callers sent token a; both get 401. The first invalidates and refreshes (b); the
    // second's invalidate of a must not throw b away (no second refresh).
    let emu = emulator(Duration::from_secs(1800)).await;
    let dir = tempfile::tempdir().unwrap();
    let p = provider(&emu, &dir.path().join("paycor.refresh"), INITIAL);
    let a = p.access_token().await.unwrap();
    emu.state.expire_access_tokens();
    p.invalidate(&a).await;
    let b = p.access_token().await.unwrap();
    let before = emu.state.request_count();
    p.invalidate(&a).await;
    let c = p.access_token().await.unwrap();
    assert_eq!(c.expose(), b.expose());
    assert_eq!(emu.state.request_count(), before, "no second refresh");
}

#[tokio::test]
async fn a_held_lock_is_waited_for_within_a_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    let _held = store::lock_store(&store, Duration::from_secs(1)).unwrap();
    let t = std::time::Instant::now();
    let err = store::lock_store(&store, Duration::from_millis(200))
        .err()
        .unwrap();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert!(err.to_string().contains("s.lock"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn stores_of_earlier_versions_are_read() {
    let s = Stored::parse("plain-refresh-token\n").unwrap();
    assert_eq!(s.refresh_token.unwrap().expose(), "plain-refresh-token");
    assert!(s.access.is_none());
    let bad = Stored::parse("{\"refresh_token\": 5}").err().unwrap();
    assert!(bad.contains("refresh_token"), "{bad}");
}

#[tokio::test]
async fn without_a_store_or_configured_token_the_error_says_to_authorize() {
    let emu = emulator(Duration::from_secs(1800)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(
        format!("http://{}/sts/v1/common/token", emu.addr),
        &key(&emu),
        &dir.path().join("s"),
        INITIAL,
    );
    s.initial_refresh_token = None;
    let err = s.into_provider().access_token().await.unwrap_err();
    assert!(matches!(err, SourceError::Config { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("hrsync oauth authorize -c <config> paycor-test"),
        "{err}"
    );
}

#[tokio::test]
async fn authorization_code_with_pkce_writes_the_store() {
    let emu = emulator(Duration::from_secs(1800)).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("oauth/paycor.tokens");
    let mut s = settings(
        format!("http://{}/sts/v1/common/token", emu.addr),
        &key(&emu),
        &store,
        INITIAL,
    );
    s.initial_refresh_token = None;
    let p = s.into_provider();
    let pkce = authorize::Pkce::new().unwrap();
    let redirect = "http://127.0.0.1:1/callback";
    let url = authorize::authorize_url(&authorize::AuthorizeRequest {
        authorize_url: &format!("http://{}/AppActivation/Authorize", emu.addr),
        client_id: CLIENT_ID,
        redirect_uri: redirect,
        scope: "scope-id",
        extra: &[],
        pkce: &pkce,
    })
    .unwrap();
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let code = authorize::code_from_pasted(&location, &pkce.state).unwrap();

    // A wrong verifier is refused and writes nothing.
    let wrong = authorize::Pkce::new().unwrap();
    let err = p
        .authorize_with_code(&code, &wrong.verifier, redirect)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("authorization code was refused"),
        "{err}"
    );
    assert!(!store.exists());

    // Codes are single-use; a fresh one with the right verifier works.
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&url)
        .send()
        .await
        .unwrap();
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let code = authorize::code_from_pasted(&location, &pkce.state).unwrap();
    p.authorize_with_code(&code, &pkce.verifier, redirect)
        .await
        .unwrap();
    assert_eq!(mode(&store), 0o600);
    assert_eq!(mode(store.parent().unwrap()) & 0o077, 0);
    let before = emu.state.request_count();
    let access = p.access_token().await.unwrap();
    assert_eq!(
        emu.state.request_count(),
        before,
        "the exchange's token is cached"
    );
    assert_eq!(employees_status(&emu, &access).await, 200);
    assert_eq!(raw_refresh_status(&emu, &read(&store)).await, 200);
}
