//! Issue 12 §1-2: hostile peers of the daemon's listener. A real `hrsync serve` process (with
//! the open-files limit systemd gives the README's unit), real slapd, the IceHrm emulator.
//! - idle keep-alive clients and half-sent (slowloris) requests never lock `/healthz` out;
//! - a signed event with a hostile `employee_id` is refused at the door (400), and the people
//!   of a coalesced event run are isolated: one who fails never fails the others.

use crate::common::*;
use chrono::Utc;
use hrsync_engine::Mode;
use serde_json::json;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SECRET: &str = "hostile-s3cret-value";

struct Daemon {
    child: Child,
    url: String,
    addr: String,
    log: PathBuf,
}

impl Daemon {
    /// `hrsync serve` with `serve` (lines of `[serve]` besides `listen`), under
    /// `prlimit --nofile=N:N` when `nofile` is given. Waits until `/healthz` answers.
    async fn start(fx: &Fx, serve: &str, nofile: Option<u64>) -> Daemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cfg = std::fs::read_to_string(&fx.cfg_path).unwrap()
            + &format!("\n[serve]\nlisten = \"127.0.0.1:{port}\"\n{serve}\n");
        std::fs::write(&fx.cfg_path, cfg).unwrap();
        let log = fx.dir.path().join("daemon.log");
        let bin = env!("CARGO_BIN_EXE_hrsync");
        let mut cmd = match nofile {
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg("--").arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let child = cmd
            .args(["serve", "-c"])
            .arg(&fx.cfg_path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("prlimit (util-linux) runs the daemon with a 1024-descriptor limit");
        let addr = format!("127.0.0.1:{port}");
        let d = Daemon {
            child,
            url: format!("http://{addr}"),
            addr,
            log,
        };
        let http = fresh_client(Duration::from_secs(1));
        let mut waited = 0;
        while http.get(format!("{}/healthz", d.url)).send().await.is_err() {
            assert!(waited < 100, "the daemon did not start: {}", d.log_text());
            tokio::time::sleep(Duration::from_millis(100)).await;
            waited += 1;
        }
        d
    }

    fn log_text(&self) -> String {
        let mut s = String::new();
        let _ = std::fs::File::open(&self.log).and_then(|mut f| f.read_to_string(&mut s));
        s
    }

    /// SIGTERM; the daemon must exit cleanly.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status:?}: {}", self.log_text());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client that never reuses a connection (each request opens its own).
fn fresh_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// (soft, hard) open-files limit of this process.
fn nofile_limits() -> (u64, u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let n: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (n[0], n[1])
}

/// The test process itself holds 2,000 client sockets: raise its soft limit if it is low.
fn raise_own_nofile(need: u64) {
    let (soft, hard) = nofile_limits();
    if soft >= need {
        return;
    }
    assert!(
        hard >= need,
        "this test needs {need} open files; the hard limit is {hard}"
    );
    let ok = Command::new("prlimit")
        .args([
            "--pid",
            &std::process::id().to_string(),
            &format!("--nofile={need}:{hard}"),
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok && nofile_limits().0 >= need, "could not raise the limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_with_2000_idle_clients_at_a_1024_descriptor_limit() {
    raise_own_nofile(4096);
    let fx = Fx::new("idle-clients", 3, "uid", STAFF_ATTRS).await;
    // The unit's limit (systemd's default soft limit), and the default listener settings.
    let d = Daemon::start(&fx, "", Some(1024)).await;
    let pid = d.child.id();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    assert!(
        limits
            .lines()
            .any(|l| l.starts_with("Max open files") && l.contains("1024")),
        "{limits}"
    );
    // 2,000 keep-alive clients: each sends one request and then stays connected, idle.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut clients = Vec::new();
    for i in 0..2000 {
        assert!(
            Instant::now() < deadline,
            "only {i} clients connected in 60 s"
        );
        let mut s = tokio::time::timeout(
            Duration::from_secs(10),
            tokio::net::TcpStream::connect(&d.addr),
        )
        .await
        .unwrap_or_else(|_| panic!("client {i} could not connect within 10 s"))
        .unwrap();
        let _ = s
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: hrsync\r\n\r\n")
            .await;
        clients.push(s);
    }
    // /healthz keeps answering, within 1 s, on a new connection each time.
    let http = fresh_client(Duration::from_secs(1));
    for attempt in 0..5 {
        let t = Instant::now();
        let r = http
            .get(format!("{}/healthz", d.url))
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "attempt {attempt}: /healthz did not answer within 1 s with 2,000 idle clients: {e}\n{}",
                    tail(&d.log_text())
                )
            });
        assert_eq!(r.status(), 200);
        assert!(t.elapsed() < Duration::from_secs(1));
    }
    // The cap was hit and said so, in a few lines (rate-limited), not one per connection.
    let log = d.log_text();
    let lines = log
        .lines()
        .filter(|l| l.contains("connection limit reached"))
        .count();
    assert!(
        (1..=5).contains(&lines),
        "{lines} cap lines:\n{}",
        tail(&log)
    );
    assert!(
        !log.contains("Too many open files"),
        "the descriptors ran out:\n{}",
        tail(&log)
    );
    drop(clients);
    d.stop();
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Whether the server closed `s` (EOF or reset) within `within`; writes `trickle` every 300 ms
/// meanwhile (a slowloris sending one more header line at a time).
async fn closed_within(s: &mut tokio::net::TcpStream, within: Duration, trickle: bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 4096];
    loop {
        let tick = tokio::time::sleep(Duration::from_millis(300));
        tokio::select! {
            r = s.read(&mut buf) => match r {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            },
            _ = tick => {
                if trickle && s.write_all(b"X-Slow: 1\r\n").await.is_err() {
                    return true;
                }
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_and_idle_keep_alive_connections_are_closed() {
    let fx = Fx::new("slowloris", 3, "uid", STAFF_ATTRS).await;
    let d = Daemon::start(
        &fx,
        "header_timeout_secs = 2\nidle_timeout_secs = 10\n",
        None,
    )
    .await;
    // 50 half-sent requests, one more header line every 300 ms: each is closed once the head
    // has taken longer than the header timeout (2 s; bound 7 s).
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let addr = d.addr.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: hrsync\r\n")
                .await
                .unwrap();
            closed_within(&mut s, Duration::from_secs(7), true).await
        }));
    }
    // A client that connects and sends nothing is closed by the header timeout too.
    let mut silent = tokio::net::TcpStream::connect(&d.addr).await.unwrap();
    // A keep-alive client after a complete request: kept past the header timeout (it is not
    // sending a request), closed by the idle timeout (10 s; bound 20 s).
    let mut idle = tokio::net::TcpStream::connect(&d.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: hrsync\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let closed: Vec<bool> = futures_join(tasks).await;
    assert!(
        closed.iter().all(|c| *c),
        "{} of 50 slowloris connections still open after 7 s",
        closed.iter().filter(|c| !**c).count()
    );
    assert!(
        closed_within(&mut silent, Duration::from_secs(1), false).await,
        "a silent connection is closed by the header timeout"
    );
    assert!(
        !closed_within(&mut idle, Duration::from_millis(500), false).await,
        "an idle keep-alive connection outlives the header timeout"
    );
    assert!(
        closed_within(&mut idle, Duration::from_secs(17), false).await,
        "an idle keep-alive connection is closed by the idle timeout"
    );
    // And the daemon still answers, and counts what it closed.
    let http = fresh_client(Duration::from_secs(1));
    let r = http.get(format!("{}/healthz", d.url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let m = http
        .get(format!("{}/metrics", d.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let closed = |reason: &str| -> f64 {
        m.lines()
            .find(|l| {
                l.starts_with("hrsync_http_connections_closed_total")
                    && l.contains(&format!("reason=\"{reason}\""))
            })
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    assert!(closed("header_timeout") >= 51.0, "{m}");
    assert!(closed("idle_timeout") >= 1.0, "{m}");
    d.stop();
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<bool>>) -> Vec<bool> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn sn_of(fx: &Fx, key: &str) -> Option<String> {
    fx.search(&format!("(employeeNumber={key})"))
        .await
        .into_iter()
        .next()
        .and_then(|e| e.attrs.get("sn").and_then(|v| v.first().cloned()))
}

fn with_event_endpoint(fx: &Fx) {
    std::fs::write(fx.dir.path().join("event.secret"), format!("{SECRET}\n")).unwrap();
    let cfg = std::fs::read_to_string(&fx.cfg_path).unwrap()
        + "\n[[event]]\nname = \"icehrm\"\nmapping = \"staff\"\nformat = \"generic\"\nauth = \"hmac_sha256\"\nsecret = { file = \"event.secret\" }\n";
    std::fs::write(&fx.cfg_path, cfg).unwrap();
}

async fn send_signed(url: &str, body: String) -> (u16, String) {
    let now = Utc::now().timestamp();
    let sig = hrsync_server::events::sign(SECRET, now, body.as_bytes());
    let r = reqwest::Client::new()
        .post(format!("{url}/events/icehrm"))
        .header("content-type", "application/json")
        .header("x-hrsync-timestamp", now.to_string())
        .header("x-hrsync-signature", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Waits (up to `secs`) until the event's stored status is no longer `received`.
async fn event_outcome(fx: &Fx, id: &str, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some((status, _)) = fx.store().event_status("icehrm", id).unwrap()
            && status != "received"
        {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "event {id} not finished within {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_event_gets_400_and_a_valid_one_sent_with_it_is_applied() {
    let fx = Fx::new("hostile-event", 6, "uid", STAFF_ATTRS).await;
    with_event_endpoint(&fx);
    assert_eq!(fx.run(Mode::Apply).await.applied_failed, 0);
    let a = fx.active_ids()[0];
    let ka = fx.emp_no(a);
    fx.emu
        .update(a, json!({"last_name": "Undisturbed"}))
        .unwrap();
    let d = Daemon::start(&fx, "", None).await;
    // Signed (the sender holds the secret), sent together.
    let huge = json!({"employee_id": "E".repeat(900_000), "event_id": "huge"}).to_string();
    let nul = json!({"employee_id": "K94\u{0}01", "event_id": "nul"}).to_string();
    let valid = json!({"employee_id": ka, "event_id": "valid"}).to_string();
    let (h, n, v) = tokio::join!(
        send_signed(&d.url, huge),
        send_signed(&d.url, nul),
        send_signed(&d.url, valid)
    );
    assert_eq!(h.0, 400, "{}", &h.1[..h.1.len().min(300)]);
    assert!(
        h.1.contains("employee_id") && h.1.contains("256"),
        "names the field and the limit: {}",
        &h.1[..h.1.len().min(300)]
    );
    assert!(h.1.len() < 1000, "the answer does not echo the value");
    assert_eq!(n.0, 400, "{}", n.1);
    assert!(n.1.contains("control character"), "{}", n.1);
    assert_eq!(v.0, 202, "{}", v.1);
    assert_eq!(event_outcome(&fx, "valid", 15).await, "applied");
    assert_eq!(sn_of(&fx, &ka).await.as_deref(), Some("Undisturbed"));
    // The refused ones were never recorded (a corrected re-delivery is accepted).
    assert!(fx.store().event_status("icehrm", "huge").unwrap().is_none());
    assert!(fx.store().event_status("icehrm", "nul").unwrap().is_none());
    let log = d.log_text();
    assert!(
        log.len() < 100_000,
        "the log is not flooded: {} bytes",
        log.len()
    );
    d.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_person_in_a_coalesced_event_run_does_not_fail_the_others() {
    let fx = Fx::new("coalesced", 6, "uid", STAFF_ATTRS).await;
    with_event_endpoint(&fx);
    assert_eq!(fx.run(Mode::Apply).await.applied_failed, 0);
    let ids = fx.active_ids();
    let (a, b) = (ids[0], ids[1]);
    let (ka, kb) = (fx.emp_no(a), fx.emp_no(b));
    assert!(!ka.contains(&kb) && !kb.contains(&ka));
    let sn_b = sn_of(&fx, &kb).await.unwrap();
    fx.emu.update(a, json!({"last_name": "Isolated"})).unwrap();
    fx.emu
        .update(b, json!({"last_name": "Unreachable"}))
        .unwrap();
    // HR fails every lookup that names B (B alone, or B with anyone else).
    fx.emu
        .set_fault(hrsync_emulator::icehrm::Fault::FailFilterOn {
            value: kb.clone(),
            status: 500,
        });
    // Both events were accepted (by a daemon that then stopped): the next daemon queues them
    // together before its worker starts, so they are one coalesced run.
    let now = Utc::now();
    let mut store = fx.store();
    assert!(
        store
            .record_event("icehrm", "ev-b", Some(&kb), now)
            .unwrap()
    );
    assert!(
        store
            .record_event("icehrm", "ev-a", Some(&ka), now)
            .unwrap()
    );
    drop(store);
    let d = Daemon::start(&fx, "", None).await;
    assert_eq!(
        event_outcome(&fx, "ev-a", 15).await,
        "applied",
        "A is applied although B fails:\n{}",
        tail(&d.log_text())
    );
    assert_eq!(sn_of(&fx, &ka).await.as_deref(), Some("Isolated"));
    // B alone is retried (1, 5, 20 s), then fails — with a message of sane length.
    let b_status = event_outcome(&fx, "ev-b", 60).await;
    assert!(b_status.starts_with("failed"), "{b_status}");
    assert!(b_status.len() < 5000, "{} bytes", b_status.len());
    assert_eq!(sn_of(&fx, &kb).await, Some(sn_b));
    let log = d.log_text();
    assert!(
        log.contains("a coalesced event run failed")
            && log.contains("running each person on their own"),
        "the two were one run first:\n{}",
        tail(&log)
    );
    // Only B's runs were retried: one coalesced run, A's, and B's four attempts.
    let runs = fx.store().runs(20).unwrap();
    let event_runs = runs
        .iter()
        .filter(|r| r.trigger.as_deref() == Some("event"))
        .count();
    assert!(
        (3..=6).contains(&event_runs),
        "{event_runs} event runs: {runs:?}"
    );
    d.stop();
}
