//! Event latency benchmark (run by `scripts/bench-events.sh`, which starts slapd, the IceHrm
//! emulator and `hrsync serve`): for each of N employees, change the last name in "HR"
//! (IceHrm's `PUT /employees/{id}`), send a signed event naming the employee, and time until the
//! directory entry shows the new name. Prints p50/p90/p99/max.
//!
//! Environment: HR (IceHrm API base), ICEHRM_TOKEN, LDAP_URL, LDAP_BIND_DN, LDAP_BIND_PW,
//! LDAP_BASE_DN, DAEMON (http://host:port), HRSYNC_EVENT_SECRET, EVENTS (default 200).

use anyhow::{Context, Result, bail};
use std::time::{Duration, Instant};

fn env(k: &str) -> Result<String> {
    std::env::var(k).with_context(|| format!("{k} is not set (run scripts/bench-events.sh)"))
}

#[tokio::main]
async fn main() -> Result<()> {
    let hr = env("HR")?;
    let token = env("ICEHRM_TOKEN")?;
    let daemon = env("DAEMON")?;
    let secret = env("HRSYNC_EVENT_SECRET")?;
    let events: usize = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let http = reqwest::Client::new();
    let list: serde_json::Value = http
        .get(format!("{hr}/employees"))
        .bearer_auth(&token)
        .query(&[
            ("limit", "1000"),
            ("page", "1"),
            ("filters", r#"{"status":"Active"}"#),
        ])
        .send()
        .await?
        .json()
        .await?;
    let people: Vec<(i64, String)> = list["data"]
        .as_array()
        .context("no employee list")?
        .iter()
        .filter(|e| e["last_name"].is_string() && e["work_email"].is_string())
        .filter_map(|e| {
            let id = e["id"]
                .as_i64()
                .or_else(|| e["id"].as_str().and_then(|s| s.parse().ok()))?;
            Some((id, e["employee_id"].as_str()?.to_string()))
        })
        .take(events)
        .collect();
    if people.is_empty() {
        bail!("no active employees in the emulator");
    }
    let (conn, mut ldap) = ldap3::LdapConnAsync::new(&env("LDAP_URL")?).await?;
    ldap3::drive!(conn);
    ldap.simple_bind(&env("LDAP_BIND_DN")?, &env("LDAP_BIND_PW")?)
        .await?
        .success()?;
    let base = env("LDAP_BASE_DN")?;
    let mut lat = Vec::new();
    let run = fastrand::u32(..);
    for (i, (id, key)) in people.iter().enumerate() {
        let name = format!("Bench{run}x{i}");
        let r = http
            .put(format!("{hr}/employees/{id}"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"last_name": name}))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("HR update of {id} failed: {}", r.status());
        }
        let t0 = Instant::now();
        let body = serde_json::json!({"employee_id": key, "event_id": format!("bench-{run}-{i}")})
            .to_string();
        let ts = chrono::Utc::now().timestamp();
        let r = http
            .post(format!("{daemon}/events/icehrm"))
            .header("content-type", "application/json")
            .header("x-hrsync-timestamp", ts.to_string())
            .header(
                "x-hrsync-signature",
                hrsync_server::events::sign(&secret, ts, body.as_bytes()),
            )
            .body(body)
            .send()
            .await?;
        if r.status() != 202 {
            bail!("event for {key} answered {}", r.status());
        }
        loop {
            let (rs, _) = ldap
                .search(
                    &base,
                    ldap3::Scope::Subtree,
                    &format!("(&(employeeNumber={})(sn={name}))", ldap3::ldap_escape(key)),
                    vec!["1.1"],
                )
                .await?
                .success()?;
            if !rs.is_empty() {
                break;
            }
            if t0.elapsed() > Duration::from_secs(30) {
                bail!("{key} not updated within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        lat.push(t0.elapsed());
    }
    lat.sort();
    let q = |p: f64| lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "events: {}  p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms  (event sent → directory entry updated, loopback)",
        lat.len(),
        ms(q(0.50)),
        ms(q(0.90)),
        ms(q(0.99)),
        ms(q(1.0))
    );
    Ok(())
}
