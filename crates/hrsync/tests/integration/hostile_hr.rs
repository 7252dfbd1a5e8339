//! A hostile or broken HR system (issue 12, points 3–5 and refused redirects): a tiny HTTP
//! server written here answers exactly the bytes each test needs (a 2 GB page streamed on the
//! fly, integer keys beyond 64 bits, a NUL byte in a key, a redirect to another origin), and
//! hrsync runs against the real slapd.

use crate::common::*;
use hrsync_config::Config;
use hrsync_engine::{Mode, RunReport, Unattended};
use hrsync_model::ChangeKind;
use hrsync_state::Store;
use ldap3::{Scope, SearchEntry};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the tiny HR server answers to one request.
#[derive(Clone)]
pub enum Reply {
    /// `200` with this JSON text, exactly as written.
    Json(String),
    /// `200` with `prefix`, then records repeated until `bytes` were sent (or the client went
    /// away), then `suffix`: a huge page generated on the fly, never held in memory.
    Huge {
        prefix: String,
        record: String,
        bytes: u64,
        suffix: String,
    },
    /// `302` to `location`.
    Redirect(String),
}

/// How the server answers, changeable while it runs.
type Route = Arc<Mutex<Box<dyn Fn(&str) -> Reply + Send>>>;

/// A loopback HTTP/1.1 server answering each request (path and query) with `route`.
pub struct TinyHr {
    pub addr: SocketAddr,
    /// Body bytes written by `Reply::Huge` answers, all requests together.
    pub huge_sent: Arc<AtomicU64>,
    route: Route,
}

impl TinyHr {
    pub async fn start(route: impl Fn(&str) -> Reply + Send + 'static) -> TinyHr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let route: Route = Arc::new(Mutex::new(Box::new(route)));
        let huge_sent = Arc::new(AtomicU64::new(0));
        let (r, sent) = (route.clone(), huge_sent.clone());
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let (r, sent) = (r.clone(), sent.clone());
                tokio::spawn(async move {
                    let _ = answer(sock, r, sent).await;
                });
            }
        });
        TinyHr {
            addr,
            huge_sent,
            route,
        }
    }

    /// Changes the answers from now on.
    pub fn set(&self, route: impl Fn(&str) -> Reply + Send + 'static) {
        *self.route.lock().unwrap() = Box::new(route);
    }
}

/// Reads one request head and writes the answer; the connection is then closed.
async fn answer(
    mut sock: tokio::net::TcpStream,
    route: Route,
    sent: Arc<AtomicU64>,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut buf).await?;
        if n == 0 || head.len() > 64 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let target = text.split_whitespace().nth(1).unwrap_or("/").to_string();
    let reply = (route.lock().unwrap())(&target);
    match reply {
        Reply::Json(body) => {
            let h = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            sock.write_all(h.as_bytes()).await?;
            sock.write_all(body.as_bytes()).await?;
        }
        Reply::Redirect(location) => {
            let h = format!(
                "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            sock.write_all(h.as_bytes()).await?;
        }
        Reply::Huge {
            prefix,
            record,
            bytes,
            suffix,
        } => {
            // No Content-Length: the body ends when the connection closes, as a streaming
            // server's would.
            sock.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
            )
            .await?;
            sock.write_all(prefix.as_bytes()).await?;
            let mut chunk = String::with_capacity(64 * 1024 + record.len() + 1);
            while chunk.len() < 64 * 1024 {
                chunk.push_str(&record);
                chunk.push(',');
            }
            let mut written = 0u64;
            while written < bytes {
                sock.write_all(chunk.as_bytes()).await?;
                written += chunk.len() as u64;
                sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
            sock.write_all(record.as_bytes()).await?;
            sock.write_all(suffix.as_bytes()).await?;
        }
    }
    sock.shutdown().await
}

static N: AtomicU32 = AtomicU32::new(0);

/// A test OU (with `ou=people`) and a directory holding a REST config pointed at `hr`.
pub struct HostileFx {
    /// Holds the config and state database for the test's life.
    pub _dir: tempfile::TempDir,
    pub ou: String,
    pub cfg_path: std::path::PathBuf,
}

/// The REST endpoint the tests serve: `GET /people?page=N&per_page=2`, records in
/// `$.items`, the total in `$.total`.
const ENDPOINT: &str = r#"
[[integration.endpoint]]
name = "people"
path = "/people"
records = "$.items[*]"
key = "id"
pagination = { style = "page", page_param = "page", size_param = "per_page", size = 2, total = "$.total" }
"#;

impl HostileFx {
    pub async fn new(tag: &str, hr: SocketAddr, integration_extra: &str, attrs: &str) -> Self {
        let env = ldap_env();
        let tag = format!(
            "{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let ou = format!("ou={tag},{}", env.base);
        let people = format!("ou=people,{ou}");
        let mut ldap = admin().await;
        for (dn, v) in [(&ou, tag.as_str()), (&people, "people")] {
            ldap.add(
                dn,
                vec![
                    ("objectClass", HashSet::from(["organizationalUnit"])),
                    ("ou", HashSet::from([v])),
                ],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ldap.pw"), &env.password).unwrap();
        std::fs::write(dir.path().join("hr.token"), "tiny-hr-token-4711").unwrap();
        let cfg = format!(
            r#"
[state]
path = "state.db"

[[integration]]
name = "hr"
kind = "rest"
base_url = "http://{hr}"
token = {{ file = "hr.token" }}
max_retries = 0
{integration_extra}
{ENDPOINT}

[directory]
kind = "openldap"
url = "{url}"
bind_dn = "{bind_dn}"
bind_password = {{ file = "ldap.pw" }}
base_dn = "{ou}"
users_ou = "{people}"
object_classes = ["inetOrgPerson"]
key_attribute = "employeeNumber"

[[mapping]]
name = "staff"
integration = "hr"
endpoint = "people"
primary_key = "id"
rdn_attribute = "uid"

[mapping.attributes]
{attrs}
"#,
            url = env.url,
            bind_dn = env.bind_dn,
        );
        let cfg_path = dir.path().join("hrsync.toml");
        std::fs::write(&cfg_path, cfg).unwrap();
        HostileFx {
            _dir: dir,
            ou,
            cfg_path,
        }
    }

    pub async fn run(&self, mode: Mode) -> Result<RunReport, String> {
        let cfg = Config::load(&self.cfg_path).unwrap();
        let job = cfg.job("staff").unwrap();
        let mut store = Store::open(&cfg.state_path()).unwrap();
        hrsync_engine::run(&job, &mut store, mode, chrono::Utc::now(), &mut Unattended)
            .await
            .map_err(|e| format!("{e:#}"))
    }

    /// Every entry under the test OU, all user attributes, values as raw bytes.
    pub async fn entries(&self) -> Vec<(String, Vec<(String, Vec<u8>)>)> {
        let mut ldap = admin().await;
        let (rs, _) = ldap
            .search(&self.ou, Scope::Subtree, "(objectClass=*)", vec!["*"])
            .await
            .unwrap()
            .success()
            .unwrap();
        rs.into_iter()
            .map(|r| {
                let e = SearchEntry::construct(r);
                let mut vals = Vec::new();
                for (a, vs) in e.attrs {
                    vals.extend(vs.into_iter().map(|v| (a.clone(), v.into_bytes())));
                }
                for (a, vs) in e.bin_attrs {
                    vals.extend(vs.into_iter().map(|v| (a.clone(), v)));
                }
                (e.dn, vals)
            })
            .collect()
    }

    /// The entry whose `employeeNumber` is exactly `key`.
    pub async fn by_key(&self, key: &str) -> Vec<SearchEntry> {
        let mut ldap = admin().await;
        let (rs, _) = ldap
            .search(
                &self.ou,
                Scope::Subtree,
                &format!("(employeeNumber={})", ldap3::ldap_escape(key)),
                vec!["*"],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        rs.into_iter().map(SearchEntry::construct).collect()
    }
}

const ATTRS: &str = r#"
uid = "{login}"
cn = { format = "{first} {last}", required = true }
sn = { format = "{last}", required = true }
givenName = "{first}"
mail = "{mail}"
"#;

fn person(id: &str, first: &str, last: &str) -> String {
    format!(
        r#"{{"id": {id}, "login": "{login}", "first": "{first}", "last": "{last}", "mail": "{login}@example.test"}}"#,
        login = format!("{first}.{last}").to_lowercase()
    )
}

fn page(items: &[String], total: usize) -> String {
    format!(r#"{{"items": [{}], "total": {total}}}"#, items.join(", "))
}

/// The `page` query parameter of a request target.
fn page_no(target: &str) -> u64 {
    target
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("page="))
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
}

/// Peak RSS (`VmHWM`) of a running process in kB, or None once it has exited.
fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Point 3: a page that streams a 2 GB JSON array fails at the page limit (default 256 MB),
/// the real `hrsync plan` process stays under 400 MB, and the fetch is incomplete: nobody
/// becomes a leaver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2gb_page_fails_at_the_limit_with_bounded_memory_and_no_leavers() {
    let people = [
        person(r#""P1""#, "Ann", "One"),
        person(r#""P2""#, "Bob", "Two"),
        person(r#""P3""#, "Cat", "Three"),
    ];
    let all = people.clone();
    let hr = TinyHr::start(move |t| match page_no(t) {
        1 => Reply::Json(page(&all[..2], 3)),
        2 => Reply::Json(page(&all[2..], 3)),
        _ => Reply::Json(page(&[], 3)),
    })
    .await;
    let fx = HostileFx::new("bigpage", hr.addr, "", ATTRS).await;
    let r = fx.run(Mode::Apply).await.unwrap();
    assert_eq!(r.plan.changes.len(), 3, "{:?}", kinds(&r));
    assert_eq!(r.applied_failed, 0);

    // Page 2 (P3's) is now 2 GB of records, sent as fast as loopback goes.
    let first = people[0].clone();
    let second = people[1].clone();
    hr.set(move |t| match page_no(t) {
        1 => Reply::Json(page(&[first.clone(), second.clone()], 3)),
        _ => Reply::Huge {
            prefix: r#"{"total": 3, "items": ["#.into(),
            record: person(r#""PX""#, "Xavier", "Flood"),
            bytes: 2 << 30,
            suffix: "]}".into(),
        },
    });
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hrsync"))
        .args(["plan", "-c"])
        .arg(&fx.cfg_path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak_kb = 0u64;
    let started = std::time::Instant::now();
    let limit_kb = 400 * 1024;
    // Polled until it ends (bounded: 5 minutes); killed as soon as it passes 400 MB, so a
    // regression fails the test instead of the machine.
    let status = loop {
        if let Some(kb) = vm_hwm_kb(pid) {
            peak_kb = peak_kb.max(kb);
        }
        if peak_kb > limit_kb || started.elapsed() > std::time::Duration::from_secs(300) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "hrsync plan reached {} MB of RSS after {:?} ({} MB of the page sent); it must stop reading at the page limit",
                peak_kb / 1024,
                started.elapsed(),
                hr.huge_sent.load(Ordering::Relaxed) >> 20
            );
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "hrsync plan: peak RSS {} MB, {} MB of the page sent",
        peak_kb / 1024,
        hr.huge_sent.load(Ordering::Relaxed) >> 20
    );
    assert!(peak_kb > 0, "no RSS reading");
    assert!(peak_kb < limit_kb, "peak RSS {} MB", peak_kb / 1024);
    // Incomplete fetch: exit code 4, the page's failure names the limit and the key to
    // raise, and nobody is a leaver.
    assert_eq!(status.code(), Some(4), "{text}");
    assert!(
        text.contains("256 MB") && text.contains("max_page_mb"),
        "the failure must name the limit and its config key:\n{text}"
    );
    let sent = hr.huge_sent.load(Ordering::Relaxed);
    assert!(
        sent < 1 << 30,
        "hrsync read {} MB of the page, far past the limit",
        sent >> 20
    );
    // The same in-process: the plan says why leavers are withheld, and P3 is not disabled.
    let r = fx.run(Mode::Plan).await.unwrap();
    assert!(!r.plan.fetch.complete);
    assert!(!r.plan.leavers_allowed);
    assert!(keys(&r, ChangeKind::Disable).is_empty(), "{:?}", kinds(&r));
    assert!(
        r.plan
            .fetch
            .error
            .as_deref()
            .is_some_and(|e| e.contains("max_page_mb")),
        "{:?}",
        r.plan.fetch
    );
}

/// Point 4: HR ids beyond 64 bits, sent as JSON numbers, are kept exactly: two people whose ids
/// differ only in the last digit get two accounts, each with its exact key, and when the first
/// leaves HR the second's run never touches the first's account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn integer_keys_beyond_64_bits_never_share_or_move_an_account() {
    const A: &str = "18446744073709551616";
    const B: &str = "18446744073709551617";
    let ann = format!(
        r#"{{"id": {A}, "first": "Ann", "last": "Big", "badge": 98765432109876543210, "floor": 1.50}}"#
    );
    let bob = format!(
        r#"{{"id": {B}, "first": "Bob", "last": "Big", "badge": 98765432109876543211, "floor": 2.50}}"#
    );
    let both = page(&[ann.clone(), bob.clone()], 2);
    let hr = TinyHr::start(move |t| match page_no(t) {
        1 => Reply::Json(both.clone()),
        _ => Reply::Json(page(&[], 2)),
    })
    .await;
    // uid straight from the id (the issue's `uid=18446744073709552000.0`), a non-key number
    // through the fast path and one through full Jinja.
    let attrs = r#"
uid = "{id}"
cn = { format = "{first} {last}", required = true }
sn = { format = "{last}", required = true }
employeeType = "{badge}"
description = "{{ badge }} {{ id }}"
roomNumber = "{{ floor }}"
"#;
    let fx = HostileFx::new("bigint", hr.addr, "", attrs).await;
    let r = fx.run(Mode::Apply).await.unwrap();
    assert_eq!(
        keys(&r, ChangeKind::Create),
        HashSet::from([A.to_string(), B.to_string()]),
        "{:?} {:?}",
        kinds(&r),
        r.plan.findings
    );
    assert_eq!(r.applied_failed, 0);
    for (key, first, badge) in [
        (A, "Ann", "98765432109876543210"),
        (B, "Bob", "98765432109876543211"),
    ] {
        let e = fx.by_key(key).await;
        assert_eq!(e.len(), 1, "one account carries {key}");
        assert_eq!(e[0].attrs["uid"], vec![key.to_string()]);
        assert_eq!(e[0].attrs["cn"], vec![format!("{first} Big")]);
        assert_eq!(e[0].attrs["employeeType"], vec![badge.to_string()]);
        assert_eq!(e[0].attrs["description"], vec![format!("{badge} {key}")]);
    }
    let ann_dn = fx.by_key(A).await[0].dn.clone();
    let ann_room = fx.by_key(A).await[0].attrs["roomNumber"].clone();
    assert!(
        ann_room == vec!["1.50".to_string()] || ann_room == vec!["1.5".to_string()],
        "{ann_room:?}"
    );
    assert!(fx.run(Mode::Plan).await.unwrap().plan.changes.is_empty());

    // Ann leaves HR (absent from the list): Bob's run must neither update Ann's account nor
    // move Bob into it.
    let only_bob = page(std::slice::from_ref(&bob), 1);
    hr.set(move |t| match page_no(t) {
        1 => Reply::Json(only_bob.clone()),
        _ => Reply::Json(page(&[], 1)),
    });
    for _ in 0..2 {
        let r = fx.run(Mode::Apply).await.unwrap();
        for c in &r.plan.changes {
            assert!(
                !(c.kind == ChangeKind::Update && c.key == B),
                "Bob's run updates an account: {c:?}"
            );
            assert!(c.dn != ann_dn || c.key == A, "{c:?}");
        }
        let a = fx.by_key(A).await;
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].dn, ann_dn);
        assert_eq!(a[0].attrs["cn"], vec!["Ann Big".to_string()]);
        let b = fx.by_key(B).await;
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].attrs["cn"], vec!["Bob Big".to_string()]);
    }
}

/// Point 4: a numeric key with a fraction or exponent is not an exact identifier (`1e3`,
/// `1000` and `1000.0` are the same number): a per-record finding, the others go ahead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_integer_numeric_key_is_a_finding() {
    let body = page(
        &[
            person("1e3", "Fay", "Float"),
            person(r#""P2""#, "Gus", "Good"),
        ],
        2,
    );
    let hr = TinyHr::start(move |t| match page_no(t) {
        1 => Reply::Json(body.clone()),
        _ => Reply::Json(page(&[], 2)),
    })
    .await;
    let fx = HostileFx::new("floatkey", hr.addr, "", ATTRS).await;
    let r = fx.run(Mode::Apply).await.unwrap();
    assert_eq!(
        keys(&r, ChangeKind::Create),
        HashSet::from(["P2".to_string()])
    );
    assert!(
        r.plan
            .findings
            .iter()
            .any(|f| f.message.contains("1e3") && f.message.contains("integer")),
        "{:?}",
        r.plan.findings
    );
    assert!(!r.plan.leavers_allowed, "an unusable key withholds leavers");
}

/// Point 5: a control character in a key makes the record a finding (never written, and
/// leavers are withheld: who it is cannot be known); nothing in the directory ever carries a
/// control character.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_character_in_a_key_is_a_finding_and_never_reaches_the_directory() {
    let first = page(
        &[
            person(r#""K9402""#, "Ann", "Two"),
            person(r#""K9403""#, "Bob", "Three"),
        ],
        2,
    );
    let hr = TinyHr::start(move |t| match page_no(t) {
        1 => Reply::Json(first.clone()),
        _ => Reply::Json(page(&[], 2)),
    })
    .await;
    let fx = HostileFx::new("nulkey", hr.addr, "", ATTRS).await;
    let r = fx.run(Mode::Apply).await.unwrap();
    assert_eq!(keys(&r, ChangeKind::Create).len(), 2);

    // K94<NUL>01 arrives, K9403 is gone; a name carries a bell and a tab.
    let second = page(
        &[
            person(r#""K94\u000001""#, "Nul", "Key"),
            person(r#""K9402""#, "Ann\\u0007", "Two\\tX"),
            person(r#""K94\u001f04""#, "Unit", "Sep"),
        ],
        3,
    );
    hr.set(move |t| match page_no(t) {
        1 => Reply::Json(second.clone()),
        _ => Reply::Json(page(&[], 3)),
    });
    for _ in 0..2 {
        let r = fx.run(Mode::Apply).await.unwrap();
        assert!(
            keys(&r, ChangeKind::Create).is_empty(),
            "{:?} {:?}",
            kinds(&r),
            r.plan.findings
        );
        assert!(keys(&r, ChangeKind::Disable).is_empty(), "{:?}", kinds(&r));
        assert!(!r.plan.leavers_allowed);
        assert!(
            r.plan
                .findings
                .iter()
                .filter(|f| f.message.contains("control character"))
                .count()
                >= 2,
            "{:?}",
            r.plan.findings
        );
        assert!(
            r.plan
                .findings
                .iter()
                .any(|f| f.subject.contains("K94\\u{0}01") || f.subject.contains("K94\\0")),
            "the finding names the key with the control character shown: {:?}",
            r.plan.findings
        );
    }
    let entries = fx.entries().await;
    assert!(entries.len() >= 4, "{entries:?}");
    for (dn, vals) in &entries {
        assert!(!dn.chars().any(char::is_control), "{dn:?}");
        for (a, v) in vals {
            assert!(
                !v.iter().any(|b| *b < 0x20 || *b == 0x7f),
                "{dn}: {a} has a control character: {:?}",
                String::from_utf8_lossy(v)
            );
        }
    }
    assert!(fx.by_key("K9401").await.is_empty());
    assert!(fx.by_key("K9404").await.is_empty());
}

/// A redirect to another origin is refused, and the error says so and names the target
/// (not just `HTTP 302:`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_redirect_names_its_target() {
    let hr =
        TinyHr::start(|_| Reply::Redirect("http://evil.example.test:8443/steal?x=1".into())).await;
    let fx = HostileFx::new("redirect", hr.addr, "", ATTRS).await;
    let e = fx.run(Mode::Plan).await.unwrap_err();
    assert!(
        e.contains("redirect")
            && e.contains("http://evil.example.test:8443/steal")
            && e.contains("other origin"),
        "{e}"
    );
}
