//! Behaviour of the IceHrm v35 emulator, checked against responses captured
//! from a real v35 instance (`tests/fixtures/`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use hrsync_emulator::icehrm::{self, Fault, IceHrmConfig, IceHrmState, is_jwt_shaped, make_token};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const FAR_FUTURE: i64 = 4_102_444_800; // 2100-01-01

fn fixture_bytes(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture(name: &str) -> Value {
    serde_json::from_slice(&fixture_bytes(name)).unwrap()
}

fn token() -> String {
    make_token("tests", FAR_FUTURE)
}

fn bearer() -> String {
    format!("Bearer {}", token())
}

fn config(employees: usize, seed: u64) -> IceHrmConfig {
    IceHrmConfig {
        employees,
        seed,
        token: token(),
        base_path: "/app/api".into(),
    }
}

fn setup(employees: usize, seed: u64) -> (IceHrmState, Router) {
    let state = IceHrmState::generate(&config(employees, seed));
    let app = icehrm::router(state.clone(), "/app/api");
    (state, app)
}

struct Resp {
    status: StatusCode,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "invalid JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> Resp {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    let body = match body {
        Some(v) => Body::from(serde_json::to_vec(&v).unwrap()),
        None => Body::empty(),
    };
    let resp = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Resp {
        status,
        content_type,
        body,
    }
}

async fn get(app: &Router, uri: &str) -> Resp {
    send(app, "GET", uri, Some(&bearer()), None).await
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn ids(page: &Value) -> Vec<i64> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect()
}

fn encode_filters(v: &Value) -> String {
    let mut out = String::new();
    for b in v.to_string().bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

mod auth;
mod library;
mod paging;
mod shapes;
mod writes;
