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

// ------------------------------------------------------------------ shapes

#[tokio::test]
async fn list_item_has_the_real_key_set_and_order() {
    let (_, app) = setup(30, 1);
    let resp = get(&app, "/app/api/employees").await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.content_type.as_deref(), Some("application/json"));
    let page = resp.json();
    let real = fixture("employees_list.json");
    assert_eq!(
        keys(&page),
        keys(&real),
        "top-level keys data,total,nextPage"
    );
    let real_item = keys(&real["data"][0]);
    for item in page["data"].as_array().unwrap() {
        assert_eq!(keys(item), real_item);
    }
    assert_eq!(page["total"], 30);
    assert_eq!(page["nextPage"], 2);
    assert_eq!(page["data"].as_array().unwrap().len(), 30);

    // Relations and the other value shapes of a list item.
    let first = &page["data"][0];
    assert_eq!(first["objectName"], Value::Null);
    assert_eq!(first["isJoinFind"], false);
    assert_eq!(first["department"]["type"], "CompanyStructure");
    assert_eq!(first["job_title"]["type"], "JobTitle");
    assert_eq!(first["country"]["type"], "Country");
    assert!(first["country"]["code"].is_string());
    assert_eq!(first["customFields"], json!([]));
    for item in page["data"].as_array().unwrap() {
        let id = item["id"].as_i64().unwrap();
        if id != 1 {
            assert_eq!(item["supervisor"]["type"], "Employee");
            assert!(
                item["supervisor"]["display"]
                    .as_str()
                    .unwrap()
                    .contains(' ')
            );
            assert_eq!(item["email"], item["work_email"]);
        }
        assert!(matches!(
            item["status"].as_str(),
            Some("Active" | "Terminated")
        ));
        assert_eq!(
            item["termination_date"].is_null(),
            item["status"] == "Active",
            "termination_date only for terminated employees"
        );
        assert!(
            item["timezone"].is_string(),
            "timezone filled from department"
        );
        assert!(
            item["image"]
                .as_str()
                .unwrap()
                .starts_with("https://api.dicebear.com/7.x/initials/svg?seed=")
        );
    }
}

#[tokio::test]
async fn responses_are_php_pretty_printed() {
    let (_, app) = setup(5, 1);
    let resp = get(&app, "/app/api/employees?limit=1").await;
    let text = String::from_utf8(resp.body).unwrap();
    assert!(text.starts_with("{\n    \"data\": [\n        {\n            \"objectName\": null,"));
    assert!(
        text.contains("https:\\/\\/api.dicebear.com\\/7.x"),
        "slashes escaped"
    );
    assert!(text.is_ascii(), "non-ASCII escaped as \\uXXXX");
    assert!(!text.ends_with('\n'));
}

#[tokio::test]
async fn get_one_removes_nulls_and_adds_user_fields() {
    let (_, app) = setup(30, 1);
    let one = get(&app, "/app/api/employees/1").await;
    assert_eq!(one.status, StatusCode::OK);
    let one = one.json();
    let real = fixture("employee_1.json");
    // Every key of ours is a key the real server can return, in the same relative order.
    let real_keys = keys(&real);
    let ours = keys(&one);
    let list_keys = keys(&fixture("employees_list.json")["data"][0]);
    for k in &ours {
        assert!(
            real_keys.contains(k) || list_keys.contains(k),
            "unexpected key {k}"
        );
    }
    let common: Vec<&String> = real_keys.iter().filter(|k| ours.contains(k)).collect();
    let ours_common: Vec<&String> = ours.iter().filter(|k| real_keys.contains(k)).collect();
    assert_eq!(common, ours_common, "relative key order");
    assert!(one.as_object().unwrap().values().all(|v| !v.is_null()));
    assert!(one.get("objectName").is_none());
    assert!(one.get("termination_date").is_none());
    assert_eq!(one["can_login"], 1);
    assert_eq!(one["user_name"], "admin");
    assert_eq!(one["user_level"], "Admin");
    assert_eq!(one["user_email"], one["email"]);
    assert_eq!(one["nationality"]["type"], "Nationality");
    assert!(one["current_time"].as_str().unwrap().len() == 19);
    // Tail of the object is fixed.
    let tail: Vec<&String> = ours.iter().rev().take(8).collect();
    assert_eq!(
        tail.into_iter().rev().cloned().collect::<Vec<_>>(),
        vec![
            "current_time",
            "image",
            "email",
            "customFields",
            "can_login",
            "user_name",
            "user_email",
            "user_level"
        ]
    );

    // Another employee: no login → can_login 0, no user fields, supervisor has an image.
    let other = get(&app, "/app/api/employees/7").await.json();
    assert_eq!(other["can_login"], 0);
    assert!(other.get("user_name").is_none());
    assert!(other["supervisor"]["image"].is_string());
    assert_eq!(keys(&other).last().unwrap(), "can_login");

    // me = the token's employee.
    let me = get(&app, "/app/api/employees/me").await.json();
    assert_eq!(me["id"], 1);
}

#[tokio::test]
async fn unknown_employee_is_a_500_with_empty_body() {
    let (_, app) = setup(10, 1);
    let resp = get(&app, "/app/api/employees/9999").await;
    assert_eq!(resp.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(resp.body.is_empty());
    assert_eq!(resp.content_type.as_deref(), Some("application/json"));
    // "0" is empty() in PHP → the endpoint's own 404.
    let zero = get(&app, "/app/api/employees/0").await;
    assert_eq!(zero.status, StatusCode::NOT_FOUND);
    assert_eq!(
        zero.json(),
        json!({"error": [[{"code": 404, "message": "Employee not found"}]]})
    );
    // Non-numeric ids are not routed at all.
    let abc = get(&app, "/app/api/employees/abc").await;
    assert_eq!(abc.status, StatusCode::NOT_FOUND);
    assert_eq!(abc.body, b"404");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_bare_404() {
    let (_, app) = setup(3, 1);
    for (method, uri) in [
        ("GET", "/app/api/nonexistent"),
        ("PATCH", "/app/api/employees/1"),
        ("POST", "/app/api/employees/1"),
        ("GET", "/app/api/employees/"),
        ("GET", "/elsewhere/employees"),
    ] {
        let resp = send(&app, method, uri, Some(&bearer()), None).await;
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "{method} {uri}");
        assert_eq!(resp.body, fixture_bytes("error_unknown_route.json"));
        assert_eq!(resp.content_type.as_deref(), Some("application/json"));
    }
    let options = send(&app, "OPTIONS", "/app/api/employees", None, None).await;
    assert_eq!(options.status, StatusCode::OK);
    assert!(options.body.is_empty());
}

#[tokio::test]
async fn echo_needs_no_token() {
    let (_, app) = setup(3, 1);
    let resp = send(&app, "GET", "/app/api/echo", None, None).await;
    assert_eq!(resp.status, StatusCode::OK);
    let text = String::from_utf8(resp.body).unwrap();
    let n = text.strip_prefix("Echo ").unwrap();
    assert!(n.parse::<u32>().is_ok(), "{text}");
}

// ------------------------------------------------------------------ pagination

#[tokio::test]
async fn pagination_and_past_the_end_page() {
    let (_, app) = setup(7, 3);
    let mut seen = Vec::new();
    for page in 1..=4 {
        let p = get(&app, &format!("/app/api/employees?limit=2&page={page}"))
            .await
            .json();
        assert_eq!(p["total"], 7);
        assert_eq!(p["nextPage"], page + 1);
        seen.extend(ids(&p));
    }
    seen.sort_unstable();
    assert_eq!(seen, vec![1, 2, 3, 4, 5, 6, 7]);

    let past = get(&app, "/app/api/employees?limit=2&page=5").await;
    assert_eq!(past.json(), json!({"data": [], "total": 7, "nextPage": 6}));

    // Same shape and bytes as the real past-the-end page of a 4-employee instance.
    let (_, four) = setup(4, 3);
    let real = get(&four, "/app/api/employees?limit=2&page=3").await;
    assert_eq!(real.body, fixture_bytes("employees_list_limit2_page3.json"));
}

#[tokio::test]
async fn limit_and_page_use_php_intval_with_defaults() {
    let (_, app) = setup(120, 1);
    let default = get(&app, "/app/api/employees").await.json();
    assert_eq!(default["data"].as_array().unwrap().len(), 50);
    assert_eq!(default["nextPage"], 2);
    let junk = get(&app, "/app/api/employees?limit=abc&page=-3")
        .await
        .json();
    assert_eq!(junk["data"].as_array().unwrap().len(), 50);
    assert_eq!(junk["nextPage"], 2);
    let prefix = get(&app, "/app/api/employees?limit=7xyz&page=2")
        .await
        .json();
    assert_eq!(ids(&prefix), (8..=14).collect::<Vec<_>>());
    let all = get(&app, "/app/api/employees?limit=100000").await.json();
    assert_eq!(all["data"].as_array().unwrap().len(), 120);
}

#[tokio::test]
async fn own_employee_is_hoisted_to_the_top_of_its_page() {
    let (_, app) = setup(4, 1);
    // Real capture: sortField=id&sortOrder=descend → 1,4,3,2.
    let page = get(&app, "/app/api/employees?sortField=id&sortOrder=descend")
        .await
        .json();
    assert_eq!(ids(&page), vec![1, 4, 3, 2]);
    let page = get(
        &app,
        "/app/api/employees?sortField=id&sortOrder=descend&limit=2",
    )
    .await
    .json();
    assert_eq!(ids(&page), vec![4, 3], "id 1 not on this page: no hoisting");
    let page = get(
        &app,
        "/app/api/employees?sortField=id&sortOrder=descend&limit=2&page=2",
    )
    .await
    .json();
    assert_eq!(ids(&page), vec![1, 2]);
    // Any sortOrder other than "ascend" is DESC.
    let page = get(
        &app,
        "/app/api/employees?sortField=id&sortOrder=asc&limit=2",
    )
    .await
    .json();
    assert_eq!(ids(&page), vec![4, 3]);
    let page = get(&app, "/app/api/employees?sortField=id&sortOrder=ascend")
        .await
        .json();
    assert_eq!(ids(&page), vec![1, 2, 3, 4]);
}

#[tokio::test]
async fn sorting_by_a_text_column_and_unknown_sort_field() {
    let (_, app) = setup(60, 5);
    let page = get(&app, "/app/api/employees?sortField=last_name&limit=100")
        .await
        .json();
    let data = page["data"].as_array().unwrap();
    // Skip the hoisted admin at index 0.
    let names: Vec<String> = data[1..]
        .iter()
        .map(|e| deunicode_lower(e["last_name"].as_str().unwrap()))
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    // A bogus sortField makes the SQL fail: PHP fatal, 500 with an empty body (real v35).
    let bad = get(&app, "/app/api/employees?sortField=nope").await;
    assert_eq!(bad.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(bad.body.is_empty());
}

fn deunicode_lower(s: &str) -> String {
    deunicode::deunicode(s).to_lowercase()
}

// ------------------------------------------------------------------ filters & search

#[tokio::test]
async fn filters_are_equality_with_or_arrays_and_skipped_empties() {
    let (state, app) = setup(400, 11);
    let all = state.employees();
    let count = |pred: &dyn Fn(&Value) -> bool| all.iter().filter(|e| pred(e)).count();

    let terminated = get(
        &app,
        &format!(
            "/app/api/employees?limit=1000&filters={}",
            encode_filters(&json!({"status": "Terminated"}))
        ),
    )
    .await
    .json();
    let expected = count(&|e| e["status"] == "Terminated");
    assert!(expected > 0);
    assert_eq!(terminated["total"], expected);
    assert!(
        terminated["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["status"] == "Terminated")
    );

    let dept2 = get(
        &app,
        &format!(
            "/app/api/employees?limit=1000&filters={}",
            encode_filters(&json!({"department": 2}))
        ),
    )
    .await
    .json();
    assert_eq!(dept2["total"], count(&|e| e["department"]["id"] == 2));
    assert!(
        dept2["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["department"]["id"] == 2)
    );

    let or = get(
        &app,
        &format!(
            "/app/api/employees?limit=1000&filters={}",
            encode_filters(&json!({"department": ["2", 3], "status": "active"}))
        ),
    )
    .await
    .json();
    assert_eq!(
        or["total"],
        count(
            &|e| (e["department"]["id"] == 2 || e["department"]["id"] == 3)
                && e["status"] == "Active"
        )
    );

    // Empty / 0 / "NULL" values are skipped.
    let skipped = get(
        &app,
        &format!(
            "/app/api/employees?filters={}",
            encode_filters(&json!({"department": 0, "status": "", "job_title": "NULL"}))
        ),
    )
    .await
    .json();
    assert_eq!(skipped["total"], 400);

    // Not JSON → no filter; an unknown or computed column → SQL error → 500, empty body.
    let junk = get(&app, "/app/api/employees?filters=nope").await.json();
    assert_eq!(junk["total"], 400);
    for column in ["no_such_column", "email", "image"] {
        let bad = get(
            &app,
            &format!(
                "/app/api/employees?filters={}",
                encode_filters(&json!({column: 1}))
            ),
        )
        .await;
        assert_eq!(bad.status, StatusCode::INTERNAL_SERVER_ERROR, "{column}");
        assert!(bad.body.is_empty(), "{column}");
    }
}

#[tokio::test]
async fn filters_behave_as_on_real_v35() {
    let (state, app) = setup(400, 11);
    let filtered = |f: Value| {
        let app = app.clone();
        async move {
            get(
                &app,
                &format!(
                    "/app/api/employees?limit=1000&filters={}",
                    encode_filters(&f)
                ),
            )
            .await
            .json()
        }
    };
    // An empty array drops the filter: everyone.
    assert_eq!(filtered(json!({"employee_id": []})).await["total"], 400);
    // Values compare case- and accent-insensitively (utf8_general_ci).
    let one = filtered(json!({"employee_id": ["emp00112"]})).await;
    assert_eq!(one["total"], 1);
    assert_eq!(one["data"][0]["employee_id"], "EMP00112");
    let hired = state.hire(json!({"first_name": "José", "last_name": "Qwertz", "department": 2}));
    let jose = filtered(json!({"last_name": "qwertz", "first_name": ["jose"]})).await;
    assert_eq!(jose["total"], 1);
    assert_eq!(jose["data"][0]["id"], hired["id"]);
    // Internal ids (a supervisor).
    let by_id = filtered(json!({"id": [3, "4"]})).await;
    assert_eq!(ids(&by_id), vec![3, 4]);
}

#[tokio::test]
async fn four_byte_characters_are_refused_on_write() {
    // The tables are utf8mb3: MariaDB refuses an emoji with the raw error, on POST and PUT.
    let (state, app) = setup(5, 1);
    let expected = "Incorrect string value: '\\xF0\\x9F\\x98\\x80' for column `icehrm`.`Employees`.`last_name` at row 1";
    let post = send(
        &app,
        "POST",
        "/app/api/employees",
        Some(&bearer()),
        Some(json!({"first_name": "Zoë", "last_name": "😀"})),
    )
    .await;
    assert_eq!(post.status, StatusCode::BAD_REQUEST);
    assert_eq!(post.json()["error"][0][0]["message"], expected);
    assert_eq!(state.len(), 5);
    let put = send(
        &app,
        "PUT",
        "/app/api/employees/3",
        Some(&bearer()),
        Some(json!({"last_name": "Smith 😀 Jones"})),
    )
    .await;
    assert_eq!(put.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        put.json()["error"][0][0]["message"],
        "Incorrect string value: '\\xF0\\x9F\\x98\\x80 J...' for column `icehrm`.`Employees`.`last_name` at row 1"
    );
    assert_ne!(state.employee(3).unwrap()["last_name"], "Smith 😀 Jones");
    // Three-byte characters are fine.
    let ok = state.update(3, json!({"last_name": "Nguyễn ☃"})).unwrap();
    assert_eq!(ok["last_name"], "Nguyễn ☃");
    let hired = state.hire(json!({"first_name": "A", "last_name": "B 🎉"}));
    assert!(
        hired["error"][0][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Incorrect string value")
    );
}

#[tokio::test]
async fn search_is_a_case_and_accent_insensitive_substring() {
    let (state, app) = setup(300, 2);
    state.hire(json!({"first_name": "José", "last_name": "Zyxwvut", "department": 2}));
    let found = get(&app, "/app/api/employees?search=zyxw").await.json();
    assert_eq!(found["total"], 1);
    assert_eq!(found["data"][0]["first_name"], "José");
    let accent = get(&app, "/app/api/employees?search=jose").await.json();
    assert!(accent["total"].as_u64().unwrap() >= 1);
    let by_id = get(&app, "/app/api/employees?search=EMP0000").await.json();
    assert_eq!(by_id["total"], 9, "EMP00001..EMP00009");
    let smith = get(&app, "/app/api/employees?search=smith&limit=1000")
        .await
        .json();
    for e in smith["data"].as_array().unwrap() {
        let hay = format!(
            "{} {} {}",
            e["first_name"], e["last_name"], e["employee_id"]
        )
        .to_lowercase();
        assert!(hay.contains("smith"), "{hay}");
    }
}

// ------------------------------------------------------------------ auth

#[tokio::test]
async fn auth_error_bodies_match_the_real_server_byte_for_byte() {
    let (_, app) = setup(3, 1);
    let uri = "/app/api/employees";

    let none = send(&app, "GET", uri, None, None).await;
    assert_eq!(none.status, StatusCode::FORBIDDEN);
    assert_eq!(none.body, fixture_bytes("error_no_token.json"));

    let basic = send(&app, "GET", uri, Some("Basic YWRtaW46YWRtaW4="), None).await;
    assert_eq!(basic.status, StatusCode::FORBIDDEN);
    assert_eq!(basic.body, fixture_bytes("error_basic_auth_scheme.json"));

    let other = format!("Bearer {}", make_token("someone-else", FAR_FUTURE));
    let unknown = send(&app, "GET", uri, Some(&other), None).await;
    assert_eq!(unknown.status, StatusCode::FORBIDDEN);
    assert_eq!(unknown.body, fixture_bytes("error_unknown_token_hash.json"));

    let expired = format!("Bearer {}", make_token("tests", 1_000_000_000));
    let resp = send(&app, "GET", uri, Some(&expired), None).await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    assert_eq!(resp.body, fixture_bytes("error_expired_token.json"));

    let t = token();
    let (signing_input, sig) = t.rsplit_once('.').unwrap();
    let mut sig = sig.as_bytes().to_vec();
    sig[3] = if sig[3] == b'x' { b'y' } else { b'x' };
    let tampered = format!("Bearer {signing_input}.{}", String::from_utf8(sig).unwrap());
    let resp = send(&app, "GET", uri, Some(&tampered), None).await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    assert_eq!(resp.body, fixture_bytes("error_bad_signature_token.json"));

    // Same inner hash, freshly minted with another expiry: accepted.
    let fresh = format!("Bearer {}", make_token("tests", FAR_FUTURE - 10));
    assert_eq!(
        send(&app, "GET", uri, Some(&fresh), None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn non_jwt_tokens_crash_with_an_empty_500() {
    let (_, app) = setup(3, 1);
    for bad in [
        "Bearer not-a-jwt-token",
        "Bearer 0123456789abcdef0123456789abcdef",
        "Bearer a.b.c",
    ] {
        let resp = send(&app, "GET", "/app/api/employees", Some(bad), None).await;
        assert_eq!(resp.status, StatusCode::INTERNAL_SERVER_ERROR, "{bad}");
        assert!(resp.body.is_empty());
        assert_eq!(resp.content_type.as_deref(), Some("application/json"));
    }
    assert!(is_jwt_shaped(&token()));
    assert!(!is_jwt_shaped("not-a-jwt-token"));
}

#[tokio::test]
async fn token_query_parameter_is_used_only_without_an_authorization_header() {
    let (_, app) = setup(3, 1);
    let uri = format!("/app/api/employees/2?token={}", token());
    let ok = send(&app, "GET", &uri, None, None).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.json()["id"], 2);
    let shadowed = send(&app, "GET", &uri, Some("Basic eDp5"), None).await;
    assert_eq!(shadowed.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn company_structure_details_need_no_token() {
    let (state, app) = setup(200, 4);
    let resp = send(
        &app,
        "GET",
        "/app/api/company/structures/2/details",
        None,
        None,
    )
    .await;
    assert_eq!(resp.status, StatusCode::OK);
    let details = resp.json();
    let real = fixture("company_structure_2_details.json");
    assert_eq!(keys(&details), keys(&real));
    assert_eq!(keys(&details["employees"][0]), keys(&real["employees"][0]));
    assert_eq!(keys(&details["children"][0]), keys(&real["children"][0]));
    assert_eq!(details["title"], "Engineering");
    assert_eq!(details["parent"], 1);
    assert_eq!(details["heads"][0]["id"], 2);
    let active_in_dept = state
        .employees()
        .iter()
        .filter(|e| e["department"]["id"] == 2 && e["status"] == "Active")
        .count();
    assert_eq!(details["employeeCount"], active_in_dept);
    assert_eq!(
        details["employees"].as_array().unwrap().len(),
        active_in_dept
    );
    assert_eq!(details["childCount"], 1);
    assert_eq!(details["children"][0]["title"], "Platform Engineering");

    let missing = send(
        &app,
        "GET",
        "/app/api/company/structures/999/details",
        None,
        None,
    )
    .await;
    assert_eq!(missing.status, StatusCode::OK);
    assert_eq!(
        missing.json(),
        json!({"error": [[{"code": null, "message": "Company structure not found"}]]})
    );
}

// ------------------------------------------------------------------ writes

fn create_body() -> Value {
    // The body of the real `employee_create_201.json` capture.
    json!({"employee_id":"EMP100","first_name":"Test","last_name":"Hire","work_email":"test.hire@example.test",
           "department":2,"job_title":5,"employment_status":3,"supervisor":2,"joined_date":"2026-11-01",
           "gender":"Female","country":"US"})
}

#[tokio::test]
async fn post_creates_with_201_like_the_real_capture() {
    let (state, app) = setup(4, 1);
    let resp = send(
        &app,
        "POST",
        "/app/api/employees",
        Some(&bearer()),
        Some(create_body()),
    )
    .await;
    assert_eq!(resp.status, StatusCode::CREATED);
    let created = resp.json();
    let real = fixture("employee_create_201.json");
    assert_eq!(keys(&created), keys(&real));
    assert_eq!(created["id"], 5, "AUTO_INCREMENT after 4 employees");
    for k in [
        "employee_id",
        "first_name",
        "last_name",
        "gender",
        "employment_status",
        "work_email",
        "joined_date",
        "status",
        "image",
        "email",
        "customFields",
        "can_login",
        "country",
    ] {
        assert_eq!(created[k], real[k], "{k}");
    }
    assert_eq!(created["job_title"]["id"], 5);
    assert_eq!(created["supervisor"]["id"], 2);
    assert!(created["supervisor"]["image"].is_string());
    assert_eq!(created["department"]["id"], 2);
    assert_eq!(state.len(), 5);

    let dup = send(
        &app,
        "POST",
        "/app/api/employees",
        Some(&bearer()),
        Some(create_body()),
    )
    .await;
    assert_eq!(dup.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        dup.body,
        fixture_bytes("error_create_duplicate_employee_id.json")
    );
    // Case-insensitive unique key, like MariaDB's collation.
    let mut lower = create_body();
    lower["employee_id"] = json!("emp100");
    let dup = send(
        &app,
        "POST",
        "/app/api/employees",
        Some(&bearer()),
        Some(lower),
    )
    .await;
    assert_eq!(dup.status, StatusCode::BAD_REQUEST);

    // Raw database errors on POST.
    let bad_enum = send(
        &app,
        "POST",
        "/app/api/employees",
        Some(&bearer()),
        Some(json!({"first_name": "X", "status": "Fired"})),
    )
    .await;
    assert_eq!(bad_enum.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        bad_enum.json()["error"][0][0]["message"],
        "Data truncated for column 'status' at row 1"
    );
    let bad_fk = send(
        &app,
        "POST",
        "/app/api/employees",
        Some(&bearer()),
        Some(json!({"first_name": "X", "department": 999})),
    )
    .await;
    assert_eq!(bad_fk.status, StatusCode::BAD_REQUEST);
    assert!(
        bad_fk.json()["error"][0][0]["message"]
            .as_str()
            .unwrap()
            .contains("Fk_Employee_CompanyStructures")
    );
    assert_eq!(state.len(), 5, "rejected inserts store nothing");
}

#[tokio::test]
async fn put_is_partial_and_errors_are_generic() {
    let (state, app) = setup(10, 1);
    let before = state.employee(3).unwrap();
    let resp = send(
        &app,
        "PUT",
        "/app/api/employees/3",
        Some(&bearer()),
        Some(json!({"work_email": "new.address@example.test", "unknown_key": 1, "id": 99})),
    )
    .await;
    assert_eq!(resp.status, StatusCode::OK);
    let updated = resp.json();
    assert_eq!(updated["id"], 3);
    assert_eq!(updated["work_email"], "new.address@example.test");
    assert_eq!(updated["email"], "new.address@example.test");
    assert!(updated.get("current_time").is_some(), "GET-one shape");
    let after = state.employee(3).unwrap();
    for k in keys(&before) {
        if k != "work_email" && k != "email" {
            assert_eq!(before[&k], after[&k], "{k} unchanged");
        }
    }

    // Employee 1's `email` is the login user's and does not follow work_email.
    let admin_email = state.employee(1).unwrap()["email"].clone();
    let admin = send(
        &app,
        "PUT",
        "/app/api/employees/1",
        Some(&bearer()),
        Some(json!({"work_email": "boss@example.test"})),
    )
    .await
    .json();
    assert_eq!(admin["work_email"], "boss@example.test");
    assert_eq!(admin["email"], admin_email);

    let missing = send(
        &app,
        "PUT",
        "/app/api/employees/9999",
        Some(&bearer()),
        Some(json!({"first_name": "X"})),
    )
    .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.body, fixture_bytes("error_put_not_found.json"));
    assert_eq!(state.len(), 10, "no record created");

    let fired = send(
        &app,
        "PUT",
        "/app/api/employees/5",
        Some(&bearer()),
        Some(json!({"status": "Fired"})),
    )
    .await;
    assert_eq!(fired.status, StatusCode::BAD_REQUEST);
    assert_eq!(fired.body, fixture_bytes("error_update_invalid_enum.json"));

    for bad in [
        json!({"birthday": "not a date"}),
        json!({"department": 999}),
        json!({"department": {"type": "CompanyStructure", "id": 2}}),
        json!({"first_name": null}),
    ] {
        let resp = send(
            &app,
            "PUT",
            "/app/api/employees/5",
            Some(&bearer()),
            Some(bad.clone()),
        )
        .await;
        assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(resp.body, fixture_bytes("error_put_not_found.json"));
    }

    let terminated = send(
        &app,
        "PUT",
        "/app/api/employees/5",
        Some(&bearer()),
        Some(json!({"status": "Terminated", "termination_date": "2026-11-22"})),
    )
    .await
    .json();
    assert_eq!(terminated["status"], "Terminated");
    assert_eq!(terminated["termination_date"], "2026-11-22");
    // Terminated employees stay in the list.
    let list = get(&app, "/app/api/employees").await.json();
    assert!(ids(&list).contains(&5));

    // "NULL" clears a column; string numbers are stored as numbers.
    let cleared = state
        .update(6, json!({"work_email": "NULL", "department": "3"}))
        .unwrap();
    assert_eq!(cleared["work_email"], Value::Null);
    assert_eq!(cleared["department"]["id"], 3);
}

#[tokio::test]
async fn delete_is_hard_and_answers_the_id_as_a_string() {
    let (state, app) = setup(30, 1);
    let subordinates: Vec<i64> = state
        .employees()
        .iter()
        .filter(|e| e["supervisor"]["id"] == 5)
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    let resp = send(
        &app,
        "DELETE",
        "/app/api/employees/5",
        Some(&bearer()),
        None,
    )
    .await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.body, fixture_bytes("employee_delete_200.json"));
    assert_eq!(state.len(), 29);
    assert_eq!(
        get(&app, "/app/api/employees/5").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    for id in subordinates {
        assert_eq!(
            state.employee(id).unwrap()["supervisor"],
            Value::Null,
            "ON DELETE SET NULL"
        );
    }
    let again = send(
        &app,
        "DELETE",
        "/app/api/employees/5",
        Some(&bearer()),
        None,
    )
    .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert_eq!(again.body, fixture_bytes("error_delete_not_found.json"));
    let missing = send(
        &app,
        "DELETE",
        "/app/api/employees/9999",
        Some(&bearer()),
        None,
    )
    .await;
    assert_eq!(missing.body, fixture_bytes("error_delete_not_found.json"));
    // Ids are never reused.
    let hired = state.hire(json!({"first_name": "New", "last_name": "Person"}));
    assert_eq!(hired["id"], 31);
}

// ------------------------------------------------------------------ library API

#[tokio::test]
async fn library_api_changes_what_is_served() {
    let (state, app) = setup(20, 9);
    assert_eq!(state.len(), 20);
    assert!(!state.is_empty());

    let hired = state.hire(json!({
        "first_name": "Zoë", "last_name": "O'Brien-Müller", "department": 3, "job_title": 4,
        "supervisor": 3, "work_email": "zoe.obrien-muller@example.test"
    }));
    assert_eq!(hired["id"], 21);
    assert_eq!(hired["employee_id"], "EMP00021");
    assert_eq!(hired["status"], "Active");
    assert_eq!(hired["department"]["display"], "Sales");
    assert_eq!(hired["supervisor"]["id"], 3);
    assert_eq!(
        keys(&hired),
        keys(&fixture("employees_list.json")["data"][0])
    );
    let served = get(&app, "/app/api/employees/21").await.json();
    assert_eq!(served["first_name"], "Zoë");

    let dup = state.hire(json!({"first_name": "A", "employee_id": "EMP00021"}));
    assert_eq!(
        dup["error"][0][0]["message"],
        "Duplicate entry 'EMP00021' for key 'employee_id'"
    );

    let updated = state.update(21, json!({"last_name": "Smith"})).unwrap();
    assert_eq!(updated["last_name"], "Smith");
    assert!(state.update(999, json!({"last_name": "x"})).is_none());
    assert!(state.update(21, json!({"status": "Fired"})).is_none());

    assert!(state.terminate(21, "2026-03-01"));
    let t = state.employee(21).unwrap();
    assert_eq!(t["status"], "Terminated");
    assert_eq!(t["termination_date"], "2026-03-01");
    assert!(!state.terminate(999, "2026-03-01"));
    assert!(!state.terminate(21, "yesterday"));

    assert!(state.delete(21));
    assert!(!state.delete(21));
    assert!(state.employee(21).is_none());
    assert_eq!(state.len(), 20);
}

#[test]
fn generation_is_deterministic_per_seed() {
    let a = IceHrmState::generate(&config(300, 42)).employees();
    let b = IceHrmState::generate(&config(300, 42)).employees();
    let c = IceHrmState::generate(&config(300, 43)).employees();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn generated_people_are_realistic() {
    let state = IceHrmState::generate(&config(3000, 7));
    let all = state.employees();
    assert_eq!(all.len(), 3000);

    let mut emails = HashSet::new();
    let mut null_emails = 0;
    let mut terminated = 0;
    let mut john_smiths = 0;
    let mut maria_garcias = 0;
    let mut names = BTreeSet::new();
    let mut departments = BTreeSet::new();
    for (i, e) in all.iter().enumerate() {
        let id = e["id"].as_i64().unwrap();
        assert_eq!(id, i as i64 + 1);
        assert_eq!(e["employee_id"], format!("EMP{id:05}"));
        let first = e["first_name"].as_str().unwrap();
        let last = e["last_name"].as_str().unwrap();
        names.insert(format!("{first} {last}"));
        if first == "John" && last == "Smith" {
            john_smiths += 1;
        }
        if first == "Maria" && last == "Garcia" {
            maria_garcias += 1;
        }
        match e["work_email"].as_str() {
            Some(mail) => {
                assert!(mail.ends_with("@example.test"));
                assert!(mail.is_ascii());
                assert_eq!(mail, mail.to_lowercase());
                assert!(emails.insert(mail.to_owned()), "unique work_email {mail}");
            }
            None => null_emails += 1,
        }
        if e["status"] == "Terminated" {
            terminated += 1;
            assert!(e["termination_date"].is_string());
        } else {
            assert_eq!(e["status"], "Active");
            assert!(e["termination_date"].is_null());
        }
        if id == 1 {
            assert!(e["supervisor"].is_null(), "employee 1 tops the tree");
            assert_eq!(e["status"], "Active");
        } else {
            let boss = e["supervisor"]["id"].as_i64().unwrap();
            assert!(boss < id, "supervisor is an earlier employee");
        }
        if let Some(ind) = e["indirect_supervisors"].as_str() {
            let parsed: Vec<i64> = serde_json::from_str(ind).unwrap();
            assert!(!parsed.is_empty());
        }
        for d in ["birthday", "joined_date"] {
            let date = e[d].as_str().unwrap();
            assert!(
                chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok(),
                "{date}"
            );
        }
        departments.insert(e["department"]["display"].as_str().unwrap().to_owned());
    }
    let rate = f64::from(terminated) / 3000.0;
    assert!((0.02..0.09).contains(&rate), "~5% terminated, got {rate}");
    assert!(
        (5..=80).contains(&null_emails),
        "~1% without work_email: {null_emails}"
    );
    assert!(john_smiths >= 3, "deliberate duplicates: {john_smiths}");
    assert!(maria_garcias >= 3, "deliberate duplicates: {maria_garcias}");
    let joined: String = names.iter().cloned().collect::<Vec<_>>().join("|");
    for needle in [
        "José",
        "Müller",
        "Łukasz",
        "Søren",
        "Nguyễn",
        "François",
        "Zoë",
        "O'Brien",
        "D'Angelo",
        "Smith-Jones",
    ] {
        assert!(joined.contains(needle), "name pool contains {needle}");
    }
    for d in [
        "Engineering",
        "Sales",
        "Finance",
        "Human Resources",
        "Support",
        "Marketing",
        "Legal",
        "Operations",
    ] {
        assert!(departments.contains(d), "{d}");
    }
    // Duplicated names get the id appended to the e-mail.
    assert!(
        emails
            .iter()
            .any(|m| m.starts_with("john.smith") && m != "john.smith@example.test")
    );
}

// ------------------------------------------------------------------ faults

#[tokio::test]
async fn faults_fail_pages_and_invalidate_the_token() {
    let (state, app) = setup(10, 1);
    state.set_fault(Fault::FailListPage {
        page: 2,
        status: 500,
    });
    let ok = get(&app, "/app/api/employees?limit=5&page=1").await;
    assert_eq!(ok.status, StatusCode::OK);
    let failed = get(&app, "/app/api/employees?limit=5&page=2").await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(failed.body.is_empty());
    assert_eq!(failed.content_type.as_deref(), Some("application/json"));
    state.clear_faults();
    assert_eq!(
        get(&app, "/app/api/employees?limit=5&page=2").await.status,
        StatusCode::OK
    );

    state.set_fault(Fault::MalformedListPage { page: 1 });
    let bad = get(&app, "/app/api/employees").await;
    assert_eq!(bad.status, StatusCode::OK);
    assert!(!bad.body.is_empty());
    assert!(serde_json::from_slice::<Value>(&bad.body).is_err());
    state.clear_faults();

    state.set_fault(Fault::FailListPageTimes {
        page: 1,
        status: 503,
        times: 2,
    });
    assert_eq!(
        get(&app, "/app/api/employees").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        get(&app, "/app/api/employees").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(get(&app, "/app/api/employees").await.status, StatusCode::OK);

    state.set_fault(Fault::ErrorBodyWith200);
    for uri in [
        "/app/api/employees",
        "/app/api/employees/me",
        "/app/api/employees/2",
    ] {
        let resp = get(&app, uri).await;
        assert_eq!(resp.status, StatusCode::OK, "{uri}");
        assert_eq!(
            resp.body,
            fixture_bytes("error_token_after_password_change.json")
        );
    }
    let put = send(
        &app,
        "PUT",
        "/app/api/employees/2",
        Some(&bearer()),
        Some(json!({"last_name": "X"})),
    )
    .await;
    assert_eq!(
        put.body,
        fixture_bytes("error_token_after_password_change.json")
    );
    assert_ne!(
        state.employee(2).unwrap()["last_name"],
        "X",
        "nothing was written"
    );
    // Without a token the 403 still comes first.
    let none = send(&app, "GET", "/app/api/employees", None, None).await;
    assert_eq!(none.status, StatusCode::FORBIDDEN);
    state.clear_faults();
    assert_eq!(
        get(&app, "/app/api/employees/me").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn rows_deleted_during_a_paged_fetch_make_it_miss_people_who_still_exist() {
    // Issue 11 §1: IceHrm pages by SQL offset; two people deleted while a client pages make
    // two other (still active) people never appear.
    let (state, app) = setup(100, 4);
    state.set_fault(Fault::DeleteAfterPage {
        page: 1,
        ids: vec![5, 6],
    });
    let mut seen: BTreeSet<i64> = BTreeSet::new();
    let mut totals = Vec::new();
    let first = get(
        &app,
        "/app/api/employees?limit=10&page=1&sortField=id&sortOrder=ascend",
    )
    .await
    .json();
    let total = first["total"].as_u64().unwrap();
    assert_eq!(total, 100);
    seen.extend(ids(&first));
    for page in 2..=total.div_ceil(10) {
        let p = get(
            &app,
            &format!("/app/api/employees?limit=10&page={page}&sortField=id&sortOrder=ascend"),
        )
        .await
        .json();
        totals.push(p["total"].as_u64().unwrap());
        seen.extend(ids(&p));
    }
    assert!(totals.iter().all(|t| *t == 98), "total dropped: {totals:?}");
    assert_eq!(state.len(), 98);
    assert!(state.employee(5).is_none() && state.employee(6).is_none());
    let existing: BTreeSet<i64> = state
        .employees()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    let missed: Vec<i64> = existing.difference(&seen).copied().collect();
    assert_eq!(
        missed,
        vec![11, 12],
        "the two rows that shifted onto page 1 were never served"
    );
    assert_eq!(seen.len(), 98, "5 and 6 were seen before they went");
    // The fault fired once: a second walk sees everyone left.
    let again = get(&app, "/app/api/employees?limit=1000").await.json();
    assert_eq!(again["data"].as_array().unwrap().len(), 98);
}

#[tokio::test]
async fn request_count_counts_list_requests() {
    let (state, app) = setup(5, 1);
    assert_eq!(state.request_count(), 0);
    get(&app, "/app/api/employees").await;
    get(&app, "/app/api/employees?page=2").await;
    get(&app, "/app/api/employees/1").await;
    send(&app, "GET", "/app/api/employees", None, None).await;
    assert_eq!(state.request_count(), 3);
}

// ------------------------------------------------------------------ serving

#[tokio::test]
async fn serve_binds_port_zero_and_answers_over_tcp() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let state = IceHrmState::generate(&config(3, 1));
    let (addr, handle) = icehrm::serve(state, "/custom/base/", "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    assert_ne!(addr.port(), 0);
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /custom/base/employees/me HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
        bearer()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(
        text.to_lowercase()
            .contains("content-type: application/json")
    );
    assert!(text.contains("\"user_level\": \"Admin\""));
    handle.abort();
}

#[tokio::test]
async fn hundred_thousand_employees_page_quickly() {
    let started = Instant::now();
    let (_, app) = setup(100_000, 5);
    let generated = started.elapsed();
    let t = Instant::now();
    let page = get(&app, "/app/api/employees?limit=1000&page=57")
        .await
        .json();
    let one_page = t.elapsed();
    assert_eq!(page["total"], 100_000);
    assert_eq!(ids(&page), (56_001..=57_000).collect::<Vec<_>>());
    let last = get(&app, "/app/api/employees?limit=1000&page=100")
        .await
        .json();
    assert_eq!(ids(&last).last(), Some(&100_000));
    let sorted = get(
        &app,
        "/app/api/employees?limit=1000&sortField=id&sortOrder=ascend&page=2",
    )
    .await
    .json();
    assert_eq!(ids(&sorted)[0], 1001);
    // Generous bounds: debug builds on a small CI machine.
    assert!(
        generated < Duration::from_secs(30),
        "generation took {generated:?}"
    );
    assert!(
        one_page < Duration::from_secs(5),
        "a 1000-item page took {one_page:?}"
    );
}

#[test]
fn default_config_is_usable() {
    let cfg = IceHrmConfig::default();
    assert_eq!(cfg.base_path, "/app/api");
    assert!(is_jwt_shaped(&cfg.token));
    let state = IceHrmState::generate(&cfg);
    assert_eq!(state.len(), cfg.employees);
    assert_eq!(state.token(), cfg.token);
}
