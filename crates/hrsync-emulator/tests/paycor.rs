//! Behaviour of the Paycor Public API emulator against the research notes
//! (`shared/research/paycor.md`): gateway auth, rate limit, paging, shapes,
//! writes, STS, events and faults.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use hrsync_emulator::paycor::{
    self, EmploymentStatus, Fault, PaycorConfig, PaycorState, Permission,
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const KEY: &str = "5e0c8c3f2b4a4d6e9f1a2b3c4d5e6f70";
const TOKEN: &str = "test-static-access-token";
const LE: i64 = 501_123;
const TENANT: i64 = 678_556;

fn config(employees: usize, seed: u64) -> PaycorConfig {
    PaycorConfig {
        employees,
        seed,
        legal_entity_id: LE,
        tenant_id: TENANT,
        access_token: TOKEN.into(),
        subscription_key: KEY.into(),
        ..PaycorConfig::default()
    }
}

fn setup_with(cfg: &PaycorConfig) -> (PaycorState, Router) {
    let state = PaycorState::generate(cfg);
    let app = paycor::router(state.clone(), "");
    (state, app)
}

fn setup(employees: usize, seed: u64) -> (PaycorState, Router) {
    setup_with(&config(employees, seed))
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "invalid JSON ({e}) with HTTP {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Resp {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = body.map_or_else(Body::empty, Body::from);
    let resp = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

async fn get(app: &Router, uri: &str) -> Resp {
    let auth = bearer();
    send(
        app,
        "GET",
        uri,
        &[("Authorization", &auth), ("Ocp-Apim-Subscription-Key", KEY)],
        None,
    )
    .await
}

async fn put(app: &Router, uri: &str, body: &Value) -> Resp {
    let auth = bearer();
    send(
        app,
        "PUT",
        uri,
        &[
            ("Authorization", &auth),
            ("Ocp-Apim-Subscription-Key", KEY),
            ("Content-Type", "application/json"),
        ],
        Some(serde_json::to_vec(body).unwrap()),
    )
    .await
}

fn employees_uri(query: &str) -> String {
    if query.is_empty() {
        format!("/v1/legalentities/{LE}/employees")
    } else {
        format!("/v1/legalentities/{LE}/employees?{query}")
    }
}

/// Follows `continuationToken` (re-sending the same query) to the end.
async fn walk(app: &Router, path: &str, query: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut q = query.to_owned();
        if let Some(t) = &token {
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str(&format!("continuationToken={t}"));
        }
        let uri = if q.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{q}")
        };
        let resp = get(app, &uri).await;
        assert_eq!(resp.status, StatusCode::OK, "{uri}");
        let page = resp.json();
        let more = page["hasMoreResults"].as_bool().unwrap();
        token = page["continuationToken"].as_str().map(str::to_owned);
        pages.push(page);
        if !more {
            assert!(token.is_none());
            break;
        }
        assert!(pages.len() < 1000, "paging does not end");
    }
    pages
}

fn records(pages: &[Value]) -> Vec<Value> {
    pages
        .iter()
        .flat_map(|p| p["records"].as_array().unwrap().clone())
        .collect()
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

// ------------------------------------------------------------------ gateway

#[tokio::test]
async fn auth_matrix_key_then_token_then_permission() {
    let (state, app) = setup(20, 1);
    let uri = employees_uri("include=All");
    let auth = bearer();

    // No subscription key: APIM's JSON 401, whatever the token.
    let resp = send(&app, "GET", &uri, &[("Authorization", &auth)], None).await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.json(),
        json!({"statusCode": 401, "message": "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."})
    );
    let resp = send(&app, "GET", &uri, &[], None).await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    assert!(
        resp.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("Access denied due to missing subscription key")
    );

    // Bad key.
    let resp = send(
        &app,
        "GET",
        &uri,
        &[
            ("Authorization", &auth),
            ("Ocp-Apim-Subscription-Key", "not-the-key"),
        ],
        None,
    )
    .await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        resp.json(),
        json!({"statusCode": 401, "message": "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."})
    );

    // Key but no token / bad token / wrong scheme: 401 with an empty body.
    for auth_header in [
        None,
        Some("Bearer nope"),
        Some("Basic Zm9vOmJhcg=="),
        Some("Bearer"),
    ] {
        let mut headers = vec![("Ocp-Apim-Subscription-Key", KEY)];
        if let Some(a) = auth_header {
            headers.push(("Authorization", a));
        }
        let resp = send(&app, "GET", &uri, &headers, None).await;
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED, "{auth_header:?}");
        assert!(resp.body.is_empty(), "{auth_header:?}");
        assert_eq!(resp.header("www-authenticate"), Some("Bearer"));
    }

    // Key in the query string instead of the header.
    let resp = send(
        &app,
        "GET",
        &format!("{uri}&subscription-key={KEY}"),
        &[("Authorization", &auth)],
        None,
    )
    .await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(
        resp.header("content-type"),
        Some("application/json; charset=utf-8")
    );

    // Both: OK. Revoked data access: 403, empty body.
    assert_eq!(get(&app, &uri).await.status, StatusCode::OK);
    state.revoke(Permission::ViewLegalEntityEmployees);
    let resp = get(&app, &uri).await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    assert!(resp.body.is_empty());
    state.grant(Permission::ViewLegalEntityEmployees);
    assert_eq!(get(&app, &uri).await.status, StatusCode::OK);

    // An include whose permission is missing: 403 (default) …
    state.revoke(Permission::ViewLegalEntityEmployeesPosition);
    assert_eq!(get(&app, &uri).await.status, StatusCode::FORBIDDEN);
    let resp = get(&app, &employees_uri("include=Status")).await;
    assert_eq!(resp.status, StatusCode::OK);

    // … or a null block when configured so.
    let mut cfg = config(5, 1);
    cfg.forbid_ungranted_includes = false;
    let (lenient, lenient_app) = setup_with(&cfg);
    lenient.revoke(Permission::ViewLegalEntityEmployeesPosition);
    let page = get(&lenient_app, &uri).await.json();
    assert!(page["records"][0]["positionData"].is_null());
    assert!(page["records"][0]["statusData"].is_object());

    // A legal entity / tenant the token does not cover: 403; not an int: 404.
    let resp = get(&app, "/v1/legalentities/999/employees").await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    let resp = get(&app, "/v1/tenants/999/employees").await;
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    let resp = get(&app, "/v1/legalentities/abc/employees").await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);

    // Every call was counted, the rejected ones too.
    assert!(state.request_count() >= 14);
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let (_, app) = setup(3, 1);
    let resp = get(&app, "/v1/nothing/here").await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    let err = resp.json();
    assert_eq!(keys(&err), ["correlationId", "title", "detail", "source"]);
    assert!(is_guid(err["correlationId"].as_str().unwrap()));

    let auth = bearer();
    let resp = send(
        &app,
        "DELETE",
        "/v1/employees/8d1f2c3a-5b6e-4f70-9a81-b2c3d4e5f601",
        &[("Authorization", &auth), ("Ocp-Apim-Subscription-Key", KEY)],
        None,
    )
    .await;
    assert_eq!(resp.status, StatusCode::METHOD_NOT_ALLOWED);

    // Unknown employee: 404 PaycorError.
    let resp = get(&app, "/v1/employees/8d1f2c3a-5b6e-4f70-9a81-b2c3d4e5f601").await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    assert!(
        resp.json()["detail"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );

    // Paths are case-insensitive (the spec itself mixes legalentities/legalEntities).
    let resp = get(&app, &format!("/V1/LegalEntities/{LE}/Employees")).await;
    assert_eq!(resp.status, StatusCode::OK);
    let resp = get(&app, &format!("/v1/legalEntities/{LE}/persons")).await;
    assert_eq!(resp.status, StatusCode::OK);
}

#[tokio::test]
async fn rate_limit_per_subscription_key_with_retry_after() {
    let mut cfg = config(5, 1);
    cfg.rate_limit_per_minute = 5;
    let (state, app) = setup_with(&cfg);
    let uri = employees_uri("");
    for i in 0..5 {
        assert_eq!(get(&app, &uri).await.status, StatusCode::OK, "call {i}");
    }
    let resp = get(&app, &uri).await;
    assert_eq!(resp.status, StatusCode::TOO_MANY_REQUESTS);
    let secs: u64 = resp.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&secs), "{secs}");
    assert_eq!(
        resp.json(),
        json!({"statusCode": 429, "message": format!("Rate limit is exceeded. Try again in {secs} seconds.")})
    );
    // Counted across all APIs, also for calls with a bad token.
    assert_eq!(
        get(&app, "/v1/legalentities/ActivatedLegalEntityTenantList")
            .await
            .status,
        StatusCode::TOO_MANY_REQUESTS
    );

    // Another key has its own budget.
    state.add_subscription_key("second-key");
    let auth = bearer();
    let other = send(
        &app,
        "GET",
        &uri,
        &[
            ("Authorization", &auth),
            ("Ocp-Apim-Subscription-Key", "second-key"),
        ],
        None,
    )
    .await;
    assert_eq!(other.status, StatusCode::OK);

    state.reset_rate_limit();
    assert_eq!(get(&app, &uri).await.status, StatusCode::OK);
}

#[tokio::test]
async fn rate_limit_window_slides() {
    let mut cfg = config(2, 1);
    cfg.rate_limit_per_minute = 2;
    cfg.rate_limit_window = Duration::from_millis(400);
    let (_, app) = setup_with(&cfg);
    let uri = "/v1/legalentities/ActivatedLegalEntityTenantList";
    assert_eq!(get(&app, uri).await.status, StatusCode::OK);
    assert_eq!(get(&app, uri).await.status, StatusCode::OK);
    let resp = get(&app, uri).await;
    assert_eq!(resp.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.header("retry-after"), Some("1"));
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(get(&app, uri).await.status, StatusCode::OK);
}

// ------------------------------------------------------------------ paging

#[tokio::test]
async fn pagination_walks_every_employee_exactly_once() {
    let (state, app) = setup(450, 3);
    let pages = walk(&app, &employees_uri(""), "include=All").await;
    assert_eq!(pages.len(), 3);
    assert_eq!(pages[0]["records"].as_array().unwrap().len(), 200);
    assert_eq!(pages[1]["records"].as_array().unwrap().len(), 200);
    assert_eq!(pages[2]["records"].as_array().unwrap().len(), 50);
    for p in &pages[..2] {
        assert_eq!(
            keys(p),
            [
                "hasMoreResults",
                "continuationToken",
                "additionalResultsUrl",
                "records"
            ]
        );
        assert_eq!(p["hasMoreResults"], true);
        let token = p["continuationToken"].as_str().unwrap();
        assert!(is_guid(token));
        let url = p["additionalResultsUrl"].as_str().unwrap();
        assert!(url.starts_with(&format!("/v1/legalentities/{LE}/employees?")));
        assert!(url.contains("include=All"));
        assert!(url.ends_with(&format!("continuationToken={token}")));
    }
    let last = &pages[2];
    assert_eq!(last["hasMoreResults"], false);
    assert!(last["continuationToken"].is_null());
    assert!(last["additionalResultsUrl"].is_null());

    let ids: Vec<String> = records(&pages)
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), 450);
    assert_eq!(unique.len(), 450);
    assert_eq!(ids, state.employee_ids());
    assert_eq!(state.list_request_count(), 3);
}

#[tokio::test]
async fn additional_results_url_and_token_alias_lead_to_the_same_pages() {
    let (_, app) = setup(250, 4);
    let first = get(&app, &employees_uri("include=Status&emailType=Work"))
        .await
        .json();
    let url = first["additionalResultsUrl"].as_str().unwrap();
    let token = first["continuationToken"].as_str().unwrap();
    let by_url = get(&app, url).await.json();
    let by_alias = get(
        &app,
        &employees_uri(&format!(
            "include=Status&emailType=Work&continuationTokenId={token}"
        )),
    )
    .await
    .json();
    assert_eq!(by_url["records"], by_alias["records"]);
    assert_eq!(by_url["records"].as_array().unwrap().len(), 50);
    assert_eq!(by_url["hasMoreResults"], false);
    // Tokens can be used again (no single use documented).
    let again = get(&app, url).await.json();
    assert_eq!(again["records"], by_url["records"]);
}

#[tokio::test]
async fn continuation_tokens_are_bound_to_the_query() {
    let (_, app) = setup(250, 4);
    let first = get(&app, &employees_uri("include=All")).await.json();
    let token = first["continuationToken"].as_str().unwrap();
    // Other parameters → 400.
    let resp = get(
        &app,
        &employees_uri(&format!("include=Position&continuationToken={token}")),
    )
    .await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    let err = resp.json();
    assert_eq!(err["title"], "Validation Error");
    assert!(err["source"]["continuationToken"].is_string());
    // Unknown token → 400; not a GUID → 400.
    let resp = get(
        &app,
        &employees_uri("include=All&continuationToken=3ac2fca9-09f2-49fb-86d7-b1b84ed6ca74"),
    )
    .await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    let resp = get(&app, &employees_uri("include=All&continuationToken=abc")).await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn hires_during_a_walk_appear_once_at_the_end() {
    let (state, app) = setup(230, 5);
    let first = get(&app, &employees_uri("")).await.json();
    let hired = state.hire(json!({"firstName": "Zoë", "lastName": "O'Brien-Nguyễn"}));
    let hired_id = hired["id"].as_str().unwrap().to_owned();
    let second = get(&app, first["additionalResultsUrl"].as_str().unwrap())
        .await
        .json();
    let all = records(&[first, second]);
    assert_eq!(all.len(), 231);
    assert_eq!(all.last().unwrap()["id"], hired_id.as_str());
    let unique: HashSet<&str> = all.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(unique.len(), 231);
}

#[tokio::test]
async fn page_sizes_are_configurable_and_other_lists_use_100() {
    let mut cfg = config(230, 6);
    cfg.employees_page_size = 7;
    let (_, app) = setup_with(&cfg);
    let pages = walk(&app, &employees_uri(""), "").await;
    assert_eq!(pages.len(), 33); // 230 / 7 rounded up
    let persons = walk(&app, &format!("/v1/legalEntities/{LE}/persons"), "").await;
    assert_eq!(persons.len(), 3);
    assert_eq!(persons[0]["records"].as_array().unwrap().len(), 100);
    let tenant = walk(&app, &format!("/v1/tenants/{TENANT}/employees"), "").await;
    assert_eq!(records(&tenant).len(), 230);
}

#[tokio::test]
async fn empty_legal_entity_has_one_empty_last_page() {
    let (_, app) = setup(0, 1);
    let page = get(&app, &employees_uri("include=All")).await.json();
    assert_eq!(
        page,
        json!({"hasMoreResults": false, "continuationToken": null, "additionalResultsUrl": null, "records": []})
    );
}

// ------------------------------------------------------------------ shapes

const EMPLOYEE_KEYS: [&str; 18] = [
    "id",
    "employeeNumber",
    "alternateEmployeeNumber",
    "badgeNumber",
    "firstName",
    "middleName",
    "lastName",
    "email",
    "employmentDateData",
    "positionData",
    "statusData",
    "workLocation",
    "earnings",
    "deductions",
    "taxes",
    "directDeposits",
    "payRates",
    "legalEntity",
];

#[tokio::test]
async fn employee_shape_matches_the_spec() {
    let (_, app) = setup(60, 7);
    let all = records(&walk(&app, &employees_uri(""), "include=All").await);
    for r in &all {
        let k = keys(r);
        assert_eq!(&k[..18], &EMPLOYEE_KEYS[..]);
        assert_eq!(&k[18..], ["person", "department"]);
        assert!(is_guid(r["id"].as_str().unwrap()));
        assert!(
            r["employeeNumber"].is_string(),
            "employeeNumber is a string"
        );
        assert!(r["badgeNumber"].is_null());
        if !r["email"].is_null() {
            assert_eq!(keys(&r["email"]), ["type", "emailAddress"]);
            assert_eq!(r["email"]["type"], "Work");
        }
        let d = &r["employmentDateData"];
        assert_eq!(
            keys(d),
            [
                "hireDate",
                "adjustedHireDate",
                "terminationDate",
                "terminationReason",
                "reHireDate",
                "seniorityDate"
            ]
        );
        let hire = d["hireDate"].as_str().unwrap();
        assert_eq!(hire.len(), 20);
        assert!(hire.ends_with("T00:00:00Z"));
        let p = &r["positionData"];
        assert_eq!(
            keys(p),
            [
                "jobTitle",
                "jobCode",
                "effectiveStartDate",
                "effectiveEndDate",
                "payGroupId",
                "manager"
            ]
        );
        assert!(p["effectiveStartDate"].is_null());
        assert!(is_guid(p["payGroupId"].as_str().unwrap()));
        if !p["manager"].is_null() {
            assert_eq!(keys(&p["manager"]), ["id", "employeeNumber", "employee"]);
            assert_eq!(keys(&p["manager"]["employee"]), ["id", "url"]);
        }
        let s = &r["statusData"];
        assert_eq!(
            keys(s),
            [
                "isFullTime",
                "status",
                "flsa",
                "type",
                "eligibleForRehire",
                "leaveStartDate",
                "leaveReason"
            ]
        );
        let w = &r["workLocation"];
        assert_eq!(
            keys(w),
            [
                "id",
                "name",
                "streetLine1",
                "type",
                "city",
                "county",
                "state",
                "zipCode",
                "country"
            ]
        );
        assert_eq!(
            r["legalEntity"],
            json!({"id": LE.to_string(), "url": format!("/v1/legalentities/{LE}")})
        );
        assert!(is_guid(r["person"]["id"].as_str().unwrap()));
        assert!(is_guid(r["department"]["id"].as_str().unwrap()));
        for link in [
            "earnings",
            "deductions",
            "taxes",
            "directDeposits",
            "payRates",
        ] {
            assert_eq!(keys(&r[link]), ["id", "url"]);
        }
    }
    // Employee numbers are unique.
    let numbers: HashSet<&str> = all
        .iter()
        .map(|r| r["employeeNumber"].as_str().unwrap())
        .collect();
    assert_eq!(numbers.len(), all.len());
}

#[tokio::test]
async fn includes_select_the_blocks_and_email_type_switches() {
    let (state, app) = setup(30, 8);
    let none = get(&app, &employees_uri("")).await.json();
    let r = &none["records"][0];
    for block in [
        "employmentDateData",
        "positionData",
        "statusData",
        "workLocation",
    ] {
        assert!(r[block].is_null(), "{block} without include");
    }
    let some = get(&app, &employees_uri("include=Position&include=Status"))
        .await
        .json();
    let r = &some["records"][0];
    assert!(r["positionData"].is_object());
    assert!(r["statusData"].is_object());
    assert!(r["employmentDateData"].is_null());
    assert!(r["workLocation"].is_null());
    // Enum binding is case-insensitive; unknown values are a 400.
    let resp = get(&app, &employees_uri("include=workLocation")).await;
    assert!(resp.json()["records"][0]["workLocation"].is_object());
    let resp = get(&app, &employees_uri("include=Position,Status")).await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    assert!(resp.json()["source"]["include"].is_string());

    let home = get(&app, &employees_uri("emailType=Home")).await.json();
    let ids = state.employee_ids();
    let mut seen_home = 0;
    for r in home["records"].as_array().unwrap() {
        if !r["email"].is_null() {
            assert_eq!(r["email"]["type"], "Home");
            let person = state.person(r["id"].as_str().unwrap()).unwrap();
            assert_eq!(r["email"]["emailAddress"], person["email"]["emailAddress"]);
            seen_home += 1;
        }
    }
    assert!(seen_home > 10);
    assert_eq!(ids.len(), 30);
    assert_eq!(
        get(&app, &employees_uri("emailType=Fax")).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn managers_resolve_to_employees_and_departments_to_codes() {
    let (_, app) = setup(300, 9);
    let all = records(&walk(&app, &employees_uri(""), "include=All").await);
    let by_id: HashMap<&str, &Value> = all.iter().map(|r| (r["id"].as_str().unwrap(), r)).collect();
    let mut without_manager = 0;
    let mut separated_managers = 0;
    for r in &all {
        let m = &r["positionData"]["manager"];
        if m.is_null() {
            without_manager += 1;
            continue;
        }
        let mid = m["id"].as_str().unwrap();
        assert_ne!(mid, r["id"].as_str().unwrap());
        let mgr = by_id
            .get(mid)
            .unwrap_or_else(|| panic!("manager {mid} is not an employee"));
        assert_eq!(m["employeeNumber"], mgr["employeeNumber"]);
        assert_eq!(m["employee"]["id"], mid);
        assert_eq!(m["employee"]["url"], format!("/v1/employees/{mid}"));
        if mgr["statusData"]["status"] != "Active" {
            separated_managers += 1;
        }
    }
    assert_eq!(without_manager, 1, "only the CEO has no manager");
    assert!(separated_managers > 0, "stale manager references exist");

    // No cycles: every chain ends at the CEO.
    for r in &all {
        let mut cur = r;
        let mut hops = 0;
        while let Some(mid) = cur["positionData"]["manager"]["id"].as_str() {
            cur = by_id[mid];
            hops += 1;
            assert!(hops < 50, "manager cycle");
        }
    }

    // Departments: the reference id resolves to a department with a numeric code.
    let depts = get(&app, &format!("/v1/legalentities/{LE}/departments"))
        .await
        .json();
    let depts = depts["records"].as_array().unwrap();
    let dept_ids: HashMap<&str, &Value> = depts
        .iter()
        .map(|d| (d["id"].as_str().unwrap(), d))
        .collect();
    for d in depts {
        assert_eq!(
            keys(d),
            [
                "id",
                "code",
                "description",
                "parentId",
                "level",
                "payrollId",
                "payrollDescription",
                "workLocationId",
                "workLocationName"
            ]
        );
        assert!(d["code"].as_str().unwrap().parse::<i64>().is_ok());
        assert!(d["level"].as_i64().unwrap() >= 2);
        assert_eq!(d["parentId"].is_null(), d["level"] == 2);
    }
    for r in &all {
        assert!(dept_ids.contains_key(r["department"]["id"].as_str().unwrap()));
    }
    let r = &all[0];
    let did = r["department"]["id"].as_str().unwrap();
    let one = get(&app, r["department"]["url"].as_str().unwrap()).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.json()["id"], did);
    // The departmentCode filter uses the code.
    let eng = records(&walk(&app, &employees_uri(""), "departmentCode=400&include=All").await);
    assert!(!eng.is_empty());
    let eng_dept = depts.iter().find(|d| d["code"] == "400").unwrap();
    assert!(eng.iter().all(|r| r["department"]["id"] == eng_dept["id"]));
}

#[tokio::test]
async fn statuses_include_leave_and_separated_ones() {
    let (_, app) = setup(120, 10);
    let all = records(&walk(&app, &employees_uri(""), "include=All").await);
    let statuses: BTreeSet<&str> = all
        .iter()
        .map(|r| r["statusData"]["status"].as_str().unwrap())
        .collect();
    for s in EmploymentStatus::ALL {
        assert!(statuses.contains(s.as_str()), "{} missing", s.as_str());
    }
    for r in &all {
        let status = EmploymentStatus::parse(r["statusData"]["status"].as_str().unwrap()).unwrap();
        let dates = &r["employmentDateData"];
        if status.is_separated() {
            assert!(dates["terminationDate"].is_string(), "{r}");
            assert!(r["positionData"]["effectiveEndDate"].is_string());
        } else {
            assert!(r["positionData"]["effectiveEndDate"].is_null());
        }
        if status.is_leave() {
            let d = r["statusData"]["leaveStartDate"].as_str().unwrap();
            assert_eq!(d.len(), 10, "leaveStartDate is date-only: {d}");
        } else {
            assert!(r["statusData"]["leaveStartDate"].is_null());
        }
    }
    // statusFilter.
    let terminated = records(
        &walk(
            &app,
            &employees_uri(""),
            "statusFilter=Terminated&include=Status",
        )
        .await,
    );
    assert!(!terminated.is_empty());
    assert!(
        terminated
            .iter()
            .all(|r| r["statusData"]["status"] == "Terminated")
    );
    assert_eq!(
        get(&app, &employees_uri("statusFilter=Gone")).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn names_are_realistic() {
    let (state, _) = setup(1500, 11);
    let all = state.employees();
    let non_ascii = all
        .iter()
        .filter(|e| {
            let n = format!("{} {}", e["firstName"], e["lastName"]);
            !n.is_ascii()
        })
        .count();
    let apostrophes = all
        .iter()
        .filter(|e| e["lastName"].as_str().unwrap().contains('\''))
        .count();
    assert!(non_ascii > 50, "{non_ascii}");
    assert!(apostrophes > 10, "{apostrophes}");
    let mut names: HashMap<String, usize> = HashMap::new();
    for e in &all {
        *names
            .entry(format!("{} {}", e["firstName"], e["lastName"]))
            .or_default() += 1;
    }
    assert!(names.values().any(|n| *n > 2), "duplicate names exist");
    // Work e-mails are unique (case-insensitively) even for duplicate names.
    let emails: Vec<String> = all
        .iter()
        .filter_map(|e| e["email"]["emailAddress"].as_str())
        .map(str::to_lowercase)
        .collect();
    let unique: HashSet<&String> = emails.iter().collect();
    assert_eq!(unique.len(), emails.len());
    assert!(emails.iter().all(|e| e.is_ascii()));
    assert!(emails.len() < all.len(), "some have no work e-mail");
}

#[tokio::test]
async fn single_employee_and_person_endpoints() {
    let (state, app) = setup(40, 12);
    let id = state.employee_ids()[5].clone();
    let resp = get(&app, &format!("/v1/employees/{id}?include=All")).await;
    assert_eq!(resp.status, StatusCode::OK);
    let one = resp.json();
    assert_eq!(one, state.employee(&id).unwrap());
    // Upper-case ids work too.
    let upper = get(&app, &format!("/v1/employees/{}", id.to_uppercase())).await;
    assert_eq!(upper.json()["id"], id.as_str());

    // v2 mirror.
    let v2 = get(&app, &format!("/v2/employees/{id}?include=All"))
        .await
        .json();
    assert!(v2.get("alternateEmployeeNumber").is_none());
    assert!(v2.get("badgeNumber").is_none());
    assert!(v2.get("lastName2").is_some());
    assert!(v2.get("workCountryCode").is_some());

    let person = get(&app, &format!("/v1/employees/{id}/person?include=All"))
        .await
        .json();
    assert_eq!(
        keys(&person),
        [
            "id",
            "prefix",
            "firstName",
            "middleName",
            "lastName",
            "suffix",
            "legalFirstName",
            "legalLastName",
            "socialSecurityNumber",
            "email",
            "demographicData",
            "benefitData",
            "emergencyContactData",
            "militaryData",
            "socialMediaData",
            "employeeAssignments",
            "addresses",
            "phones",
            "tenants"
        ]
    );
    assert_eq!(person["id"], one["person"]["id"]);
    assert_eq!(
        person["employeeAssignments"][0]["employees"]["id"],
        id.as_str()
    );
    assert!(person["emergencyContactData"].is_array());
    assert_eq!(person["addresses"][0]["type"], "Primary");
    for p in person["phones"].as_array().unwrap() {
        assert_eq!(keys(p), ["countryCode", "areaCode", "phoneNumber", "type"]);
    }
    // Without include only the names.
    let bare = get(&app, &format!("/v1/employees/{id}/person"))
        .await
        .json();
    assert!(bare["phones"].is_null());
    assert!(bare["socialSecurityNumber"].is_null());
    assert!(bare["email"].is_null());
    // The person URL of the employee resolves; lists never carry emergency contacts.
    let by_url = get(
        &app,
        &format!("{}?include=Phones", one["person"]["url"].as_str().unwrap()),
    )
    .await;
    assert_eq!(by_url.status, StatusCode::OK);
    assert_eq!(by_url.json()["phones"], person["phones"]);
    let list = get(&app, &format!("/v1/legalEntities/{LE}/persons?include=All"))
        .await
        .json();
    assert!(list["records"][0]["emergencyContactData"].is_null());
    let resp = get(
        &app,
        &format!("/v1/legalEntities/{LE}/persons?include=EmergencyContact"),
    )
    .await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);

    state.revoke(Permission::ViewEmployeePerson);
    assert_eq!(
        get(&app, &format!("/v1/employees/{id}/person"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn lookups_discovery_and_identifying_data() {
    let (state, app) = setup(50, 13);
    let list = get(&app, "/v1/legalentities/ActivatedLegalEntityTenantList")
        .await
        .json();
    assert_eq!(
        list,
        json!({"userLegalEntities": [{"legalEntityId": LE, "tenantId": TENANT}]})
    );
    let le = get(&app, &format!("/v1/legalentities/{LE}")).await.json();
    assert_eq!(le["id"], LE);
    assert_eq!(le["isLost"], false);
    let tenant = get(&app, &format!("/v1/tenants/{TENANT}")).await.json();
    assert_eq!(tenant["legalEntities"][0]["id"], LE.to_string());

    let locs = get(&app, &format!("/v1/legalentities/{LE}/worklocations"))
        .await
        .json();
    let locs = locs["records"].as_array().unwrap();
    assert!(locs.len() >= 3);
    let loc_id = locs[0]["id"].as_str().unwrap();
    assert_eq!(
        get(
            &app,
            &format!("/v1/legalentities/{LE}/worklocations/{loc_id}")
        )
        .await
        .json()["name"],
        locs[0]["name"]
    );
    let titles = get(&app, &format!("/v1/tenants/{TENANT}/jobtitles"))
        .await
        .json();
    assert_eq!(
        keys(&titles["records"][0]),
        [
            "jobTitleId",
            "jobTitle",
            "jobCode",
            "jobCategory",
            "isArchived",
            "tenant"
        ]
    );

    let ident = records(
        &walk(
            &app,
            &format!("/v1/legalentities/{LE}/employeesIdentifyingData"),
            "",
        )
        .await,
    );
    assert_eq!(ident.len(), 50);
    assert_eq!(
        keys(&ident[0]),
        [
            "employeeId",
            "employeeNumber",
            "firstName",
            "lastName",
            "socialSecurityNumber",
            "birthDate",
            "status"
        ]
    );
    assert!(ident.iter().any(|r| r["status"] == "Inactive"));
    assert!(ident.iter().all(|r| r["socialSecurityNumber"].is_string()));
    let inactive = records(
        &walk(
            &app,
            &format!("/v1/legalentities/{LE}/employeesIdentifyingData"),
            "include=Inactive",
        )
        .await,
    );
    assert!(inactive.iter().all(|r| r["status"] == "Inactive"));
    state.revoke(Permission::ViewLegalEntityEmployeesSsnAndBirthDate);
    let masked = get(
        &app,
        &format!("/v1/legalentities/{LE}/employeesIdentifyingData"),
    )
    .await
    .json();
    assert!(masked["records"][0]["socialSecurityNumber"].is_null());

    let tenant_list = get(&app, &format!("/v1/tenants/{TENANT}/employees"))
        .await
        .json();
    let first = &tenant_list["records"][0];
    assert_eq!(
        keys(first),
        [
            "id",
            "employeeNumber",
            "firstName",
            "middleName",
            "lastName",
            "employee"
        ]
    );
    assert_eq!(first["employee"]["id"], first["id"]);
}

// ------------------------------------------------------------------ determinism

#[tokio::test]
async fn generation_is_deterministic_by_seed() {
    let (a, app_a) = setup(200, 42);
    let (b, app_b) = setup(200, 42);
    let (c, _) = setup(200, 43);
    assert_eq!(a.employees(), b.employees());
    assert_ne!(a.employees(), c.employees());
    let pa = records(&walk(&app_a, &employees_uri(""), "include=All").await);
    let pb = records(&walk(&app_b, &employees_uri(""), "include=All").await);
    assert_eq!(pa, pb);
    for id in a.employee_ids().iter().take(5) {
        assert_eq!(a.person(id), b.person(id));
    }
    // Hires continue the seeded sequence.
    let ha = a.hire(json!({"firstName": "Ana", "lastName": "Núñez"}));
    let hb = b.hire(json!({"firstName": "Ana", "lastName": "Núñez"}));
    assert_eq!(ha["id"], hb["id"]);
}

// ------------------------------------------------------------------ writes

#[tokio::test]
async fn put_contact_changes_what_get_returns() {
    let (state, app) = setup(30, 14);
    let id = state.employee_ids()[7].clone();
    let before = state.employee(&id).unwrap();
    let person_before = state.person(&id).unwrap();
    let resp = put(
        &app,
        &format!("/v1/employees/{id}"),
        &json!({
            "workEmail": "renee.cote@buckeyeprecision.example",
            "phones": [{"countryCode": "1", "areaCode": "513", "phoneNumber": "5550199", "type": "Mobile"}],
        }),
    )
    .await;
    assert_eq!(resp.status, StatusCode::CREATED);
    assert_eq!(
        resp.json(),
        json!({"resourceUrl": {"id": id, "url": format!("/v1/employees/{id}")}})
    );
    let after = get(&app, &format!("/v1/employees/{id}?include=All"))
        .await
        .json();
    assert_eq!(
        after["email"],
        json!({"type": "Work", "emailAddress": "renee.cote@buckeyeprecision.example"})
    );
    // Everything else kept.
    assert_eq!(after["firstName"], before["firstName"]);
    assert_eq!(after["positionData"], before["positionData"]);
    let person = get(&app, &format!("/v1/employees/{id}/person?include=All"))
        .await
        .json();
    let mobiles: Vec<&Value> = person["phones"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == "Mobile")
        .collect();
    assert_eq!(mobiles.len(), 1);
    assert_eq!(mobiles[0]["phoneNumber"], "5550199");
    // Other phone types and the home e-mail untouched.
    for p in person_before["phones"].as_array().unwrap() {
        if p["type"] != "Mobile" {
            assert!(person["phones"].as_array().unwrap().contains(p));
        }
    }
    assert_eq!(person["email"], person_before["email"]);
    // The list shows it too.
    let all = records(&walk(&app, &employees_uri(""), "").await);
    let row = all.iter().find(|r| r["id"] == id.as_str()).unwrap();
    assert_eq!(
        row["email"]["emailAddress"],
        "renee.cote@buckeyeprecision.example"
    );

    // Address replaced; home e-mail; an Employee.Modified event per write.
    let resp = put(
        &app,
        &format!("/v1/employees/{id}"),
        &json!({"homeEmail": "me@example.net", "primaryAddress": {"streetLine1": "1 New St", "zipCode": "45202", "city": "Cincinnati", "state": "OH"}}),
    )
    .await;
    assert_eq!(resp.status, StatusCode::CREATED);
    let person = state.person(&id).unwrap();
    assert_eq!(person["email"]["emailAddress"], "me@example.net");
    assert_eq!(person["addresses"][0]["streetLine1"], "1 New St");
    let events = state.events();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["eventType"], "Employee.Modified");
    assert_eq!(events[0]["itemId"], id.as_str());
    assert!(events[0]["changedFields"].is_null());
}

#[tokio::test]
async fn put_contact_validation() {
    let (state, app) = setup(10, 15);
    let id = state.employee_ids()[3].clone();
    let before = state.employee(&id).unwrap();
    let uri = format!("/v1/employees/{id}");

    let resp = put(&app, &uri, &json!({"workEmail": "not an email"})).await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    let err = resp.json();
    assert_eq!(err["title"], "Validation Error");
    assert_eq!(
        err["source"],
        json!({"workEmail": "Email address is invalid"})
    );

    let two_mobiles = json!({"phones": [
        {"areaCode": "513", "phoneNumber": "5550101", "type": "Mobile"},
        {"areaCode": "513", "phoneNumber": "5550102", "type": "Mobile"}]});
    assert_eq!(
        put(&app, &uri, &two_mobiles).await.status,
        StatusCode::BAD_REQUEST
    );
    let pager = json!({"phones": [{"areaCode": "513", "phoneNumber": "5550101", "type": "Pager"}]});
    assert_eq!(
        put(&app, &uri, &pager).await.status,
        StatusCode::BAD_REQUEST
    );
    let no_zip =
        json!({"workEmail": "ok@example.com", "primaryAddress": {"streetLine1": "1 Main St"}});
    let resp = put(&app, &uri, &no_zip).await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    assert!(resp.json()["source"]["primaryAddress.zipCode"].is_string());
    // Nothing of a rejected body was applied.
    assert_eq!(state.employee(&id).unwrap(), before);

    // Not JSON / no content type / unknown employee / no permission.
    let auth = bearer();
    let resp = send(
        &app,
        "PUT",
        &uri,
        &[("Authorization", &auth), ("Ocp-Apim-Subscription-Key", KEY)],
        Some(b"{}".to_vec()),
    )
    .await;
    assert_eq!(resp.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let resp = send(
        &app,
        "PUT",
        &uri,
        &[
            ("Authorization", &auth),
            ("Ocp-Apim-Subscription-Key", KEY),
            ("Content-Type", "application/json"),
        ],
        Some(b"{nope".to_vec()),
    )
    .await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    let resp = put(
        &app,
        "/v1/employees/00000000-0000-4000-8000-000000000000",
        &json!({"workEmail": "a@b.co"}),
    )
    .await;
    assert_eq!(resp.status, StatusCode::NOT_FOUND);
    state.revoke(Permission::UpdateEmployeeContact);
    assert_eq!(
        put(&app, &uri, &json!({"workEmail": "a@b.co"}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // An empty body changes nothing and succeeds.
    state.grant(Permission::UpdateEmployeeContact);
    assert_eq!(
        put(&app, &uri, &json!({})).await.status,
        StatusCode::CREATED
    );
    assert_eq!(state.employee(&id).unwrap(), before);
}

#[tokio::test]
async fn status_position_and_rehire_writes() {
    let (state, app) = setup(60, 16);
    let all = state.employees();
    let active = all
        .iter()
        .find(|e| e["statusData"]["status"] == "Active" && !e["positionData"]["manager"].is_null())
        .unwrap();
    let id = active["id"].as_str().unwrap().to_owned();

    // Separation needs eligibleForRehire and isVoluntaryByEmployee.
    let resp = put(
        &app,
        &format!("/v1/employees/{id}/status"),
        &json!({"effectiveDate": "2026-02-01T00:00:00Z", "employeeStatus": "Terminated"}),
    )
    .await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    let source = resp.json()["source"].clone();
    assert!(source["eligibleForRehire"].is_string());
    assert!(source["isVoluntaryByEmployee"].is_string());

    let resp = put(
        &app,
        &format!("/v1/employees/{id}/status"),
        &json!({"effectiveDate": "2026-02-01T00:00:00Z", "employeeStatus": "Resigned",
                "eligibleForRehire": "true", "isVoluntaryByEmployee": true}),
    )
    .await;
    assert_eq!(resp.status, StatusCode::CREATED);
    let e = get(&app, &format!("/v1/employees/{id}?include=All"))
        .await
        .json();
    assert_eq!(e["statusData"]["status"], "Resigned");
    assert_eq!(
        e["employmentDateData"]["terminationDate"],
        "2026-02-01T00:00:00Z"
    );
    assert_eq!(
        e["positionData"]["effectiveEndDate"],
        "2026-02-01T00:00:00Z"
    );

    // Back to Active only through positionandstatus (rehire).
    let resp = put(
        &app,
        &format!("/v1/employees/{id}/status"),
        &json!({"effectiveDate": "2026-03-01", "employeeStatus": "Active"}),
    )
    .await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    let resp = put(
        &app,
        &format!("/v1/employees/{id}/positionandstatus"),
        &json!({"employmentStatus": "Terminated", "rehireDate": "2026-03-01",
                "employmentType": "Regular", "workLocation": "Columbus Plant"}),
    )
    .await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    let resp = put(
        &app,
        &format!("/v1/employees/{id}/positionandstatus"),
        &json!({"employmentStatus": "Active", "rehireDate": "2026-03-01",
                "employmentType": "Regular", "workLocation": "columbus plant"}),
    )
    .await;
    assert_eq!(resp.status, StatusCode::CREATED);
    let e = state.employee(&id).unwrap();
    assert_eq!(e["statusData"]["status"], "Active");
    assert_eq!(
        e["employmentDateData"]["reHireDate"],
        "2026-03-01T00:00:00Z"
    );
    assert_eq!(e["workLocation"]["name"], "Columbus Plant");

    // Leave: leaveStartDate.
    let resp = put(
        &app,
        &format!("/v1/employees/{id}/status"),
        &json!({"effectiveDate": "2026-04-01", "employeeStatus": "fmla"}),
    )
    .await;
    assert_eq!(resp.status, StatusCode::CREATED);
    let e = state.employee(&id).unwrap();
    assert_eq!(e["statusData"]["status"], "Fmla");
    assert_eq!(e["statusData"]["leaveStartDate"], "2026-04-01");

    // Position: manager and department by GUID, work location by name.
    let new_manager = state.employee_ids()[0].clone();
    let depts = get(&app, &format!("/v1/legalentities/{LE}/departments"))
        .await
        .json();
    let sales = depts["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["description"] == "Sales")
        .unwrap()["id"]
        .clone();
    let resp = put(
        &app,
        &format!("/v1/employees/{id}/position"),
        &json!({"employmentType": "Regular", "workLocation": "Chicago Sales Office",
                "jobTitle": "Account Executive", "managerId": new_manager, "departmentId": sales}),
    )
    .await;
    assert_eq!(resp.status, StatusCode::CREATED);
    let e = state.employee(&id).unwrap();
    assert_eq!(e["positionData"]["manager"]["id"], new_manager.as_str());
    assert_eq!(e["positionData"]["jobTitle"], "Account Executive");
    assert_eq!(e["positionData"]["jobCode"], "AE2");
    assert_eq!(e["department"]["id"], sales);
    // Required fields and unknown references.
    let resp = put(
        &app,
        &format!("/v1/employees/{id}/position"),
        &json!({"jobTitle": "Account Executive"}),
    )
    .await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    assert!(resp.json()["source"]["employmentType"].is_string());
    let resp = put(
        &app,
        &format!("/v1/employees/{id}/position"),
        &json!({"employmentType": "Regular", "workLocation": "Mars Base"}),
    )
    .await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    assert!(resp.json()["source"]["workLocation"].is_string());
    let resp = put(
        &app,
        &format!("/v1/employees/{id}/position"),
        &json!({"employmentType": "Regular", "workLocation": "Chicago Sales Office", "managerId": id}),
    )
    .await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn library_mutations_show_up_in_the_api() {
    let (state, app) = setup(25, 17);
    let n = state.len();
    let hired = state.hire(json!({
        "firstName": "Siobhán", "lastName": "Ní Bhriain", "departmentCode": 300,
        "jobTitle": "Recruiter", "hireDate": "2026-02-02"
    }));
    let id = hired["id"].as_str().unwrap().to_owned();
    assert!(is_guid(&id));
    assert_eq!(state.len(), n + 1);
    assert_eq!(
        hired["email"]["emailAddress"],
        "siobhan.nibhriain@buckeyeprecision.example"
    );
    assert_eq!(hired["positionData"]["jobCode"], "HR3");
    assert!(!hired["positionData"]["manager"].is_null());
    let via_api = get(&app, &format!("/v1/employees/{id}?include=All"))
        .await
        .json();
    assert_eq!(via_api, hired);

    let bad = state.hire(json!({"firstName": "No last name"}));
    assert_eq!(bad["title"], "Validation Error");
    assert!(bad["source"]["lastName"].is_string());
    assert_eq!(state.len(), n + 1);

    let updated = state
        .update(
            &id,
            json!({"lastName": "O'Brien", "managerId": null, "isFullTime": false}),
        )
        .unwrap();
    assert_eq!(updated["lastName"], "O'Brien");
    assert!(updated["positionData"]["manager"].is_null());
    assert!(state.update(&id, json!({"flsa": "Sometimes"})).is_none());
    assert!(
        state
            .update("00000000-0000-4000-8000-000000000000", json!({}))
            .is_none()
    );

    assert!(state.terminate(&id, "2026-06-30"));
    let e = get(&app, &format!("/v1/employees/{id}?include=All"))
        .await
        .json();
    assert_eq!(e["statusData"]["status"], "Terminated");
    assert_eq!(
        e["employmentDateData"]["terminationDate"],
        "2026-06-30T00:00:00Z"
    );
    assert!(!state.terminate(&id, "30/06/2026"));
    assert!(state.set_status(&id, EmploymentStatus::LeaveWithoutPay, "2026-07-01"));
    assert_eq!(
        state.employee(&id).unwrap()["statusData"]["status"],
        "LeaveWithoutPay"
    );

    // Each change was an Employee.Modified event.
    let events = state.events();
    assert_eq!(events.len(), 4);
    assert!(events.iter().all(|e| e["itemId"] == id.as_str()));
}

// ------------------------------------------------------------------ faults

#[tokio::test]
async fn fault_fail_and_malformed_pages() {
    let (state, app) = setup(450, 18);
    state.set_fault(Fault::FailListPage {
        page: 2,
        status: 500,
    });
    let first = get(&app, &employees_uri("include=All")).await;
    assert_eq!(first.status, StatusCode::OK);
    let next = first.json()["additionalResultsUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = get(&app, &next).await;
    assert_eq!(resp.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        keys(&resp.json()),
        ["correlationId", "title", "detail", "source"]
    );
    // Stays until cleared; the token stays valid.
    assert_eq!(
        get(&app, &next).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    state.clear_faults();
    assert_eq!(get(&app, &next).await.status, StatusCode::OK);

    state.set_fault(Fault::MalformedListPage { page: 1 });
    let resp = get(&app, &employees_uri("include=All")).await;
    assert_eq!(resp.status, StatusCode::OK);
    assert!(serde_json::from_slice::<Value>(&resp.body).is_err());
    state.clear_faults();

    state.set_fault(Fault::FailListPageTimes {
        page: 1,
        status: 503,
        times: 2,
    });
    assert_eq!(
        get(&app, &employees_uri("")).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        get(&app, &employees_uri("")).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(get(&app, &employees_uri("")).await.status, StatusCode::OK);

    state.set_fault(Fault::SlowListPage {
        page: 1,
        delay: Duration::from_millis(150),
    });
    let t = std::time::Instant::now();
    assert_eq!(get(&app, &employees_uri("")).await.status, StatusCode::OK);
    assert!(t.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn fault_rate_limited_burst_and_expired_token() {
    let (state, app) = setup(10, 19);
    state.set_fault(Fault::RateLimited {
        calls: 2,
        retry_after_secs: 7,
    });
    for _ in 0..2 {
        let resp = get(&app, &employees_uri("")).await;
        assert_eq!(resp.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.header("retry-after"), Some("7"));
        assert_eq!(
            resp.json()["message"],
            "Rate limit is exceeded. Try again in 7 seconds."
        );
    }
    assert_eq!(get(&app, &employees_uri("")).await.status, StatusCode::OK);

    state.set_fault(Fault::ExpiredToken { calls: 1 });
    let resp = get(&app, &employees_uri("")).await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    assert!(resp.body.is_empty());
    assert_eq!(get(&app, &employees_uri("")).await.status, StatusCode::OK);

    let id = state.employee_ids()[1].clone();
    state.set_fault(Fault::FailRequests {
        path_contains: "/Person".into(),
        status: 500,
        times: 1,
    });
    assert_eq!(
        get(&app, &format!("/v1/employees/{id}/person"))
            .await
            .status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        get(&app, &format!("/v1/employees/{id}/person"))
            .await
            .status,
        StatusCode::OK
    );
}

// ------------------------------------------------------------------ STS

fn form_headers() -> Vec<(&'static str, &'static str)> {
    vec![("Content-Type", "application/x-www-form-urlencoded")]
}

async fn token_call(app: &Router, body: &str) -> Resp {
    send(
        app,
        "POST",
        &format!("/sts/v1/common/token?subscription-key={KEY}"),
        &form_headers(),
        Some(body.as_bytes().to_vec()),
    )
    .await
}

#[tokio::test]
async fn sts_refresh_token_rotates() {
    let mut cfg = config(5, 20);
    cfg.client_secret = Some("s3cret".into());
    cfg.refresh_token = Some("initial-refresh".into());
    let (state, app) = setup_with(&cfg);
    let creds = format!("client_id={}&client_secret=s3cret", cfg.client_id);

    // The subscription key is required on the token call too.
    let resp = send(
        &app,
        "POST",
        "/sts/v1/common/token",
        &form_headers(),
        Some(b"grant_type=refresh_token".to_vec()),
    )
    .await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);

    let resp = token_call(
        &app,
        &format!("grant_type=refresh_token&refresh_token=initial-refresh&{creds}"),
    )
    .await;
    assert_eq!(resp.status, StatusCode::OK);
    let body = resp.json();
    assert_eq!(
        keys(&body),
        ["access_token", "expires_in", "token_type", "refresh_token"]
    );
    assert_eq!(body["expires_in"], 1800);
    assert_eq!(body["token_type"], "Bearer");
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(access.split('.').count(), 3, "JWT-shaped");
    let rotated = body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(rotated.len(), 64);

    // The minted token works; the old refresh token is retired.
    let auth = format!("Bearer {access}");
    let resp = send(
        &app,
        "GET",
        &employees_uri(""),
        &[("Authorization", &auth), ("Ocp-Apim-Subscription-Key", KEY)],
        None,
    )
    .await;
    assert_eq!(resp.status, StatusCode::OK);
    let resp = token_call(
        &app,
        &format!("grant_type=refresh_token&refresh_token=initial-refresh&{creds}"),
    )
    .await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    assert_eq!(resp.json(), json!({"error": "invalid_grant"}));
    let resp = token_call(
        &app,
        &format!("grant_type=refresh_token&refresh_token={rotated}&{creds}"),
    )
    .await;
    assert_eq!(resp.status, StatusCode::OK);

    // Bad client / unknown grant.
    let resp = token_call(
        &app,
        &format!(
            "grant_type=refresh_token&refresh_token={rotated}&client_id={}&client_secret=wrong",
            cfg.client_id
        ),
    )
    .await;
    assert_eq!(resp.json(), json!({"error": "invalid_client"}));
    let resp = token_call(&app, &format!("grant_type=password&{creds}")).await;
    assert_eq!(resp.json(), json!({"error": "unsupported_grant_type"}));
    let resp = token_call(&app, &format!("grant_type=client_credentials&{creds}")).await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);

    // Expiring minted tokens → 401; the static token is unaffected.
    state.expire_access_tokens();
    let resp = send(
        &app,
        "GET",
        &employees_uri(""),
        &[("Authorization", &auth), ("Ocp-Apim-Subscription-Key", KEY)],
        None,
    )
    .await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&app, &employees_uri("")).await.status, StatusCode::OK);

    // Library-issued refresh tokens work the same.
    let rt = state.issue_refresh_token();
    let resp = token_call(
        &app,
        &format!("grant_type=refresh_token&refresh_token={rt}&{creds}"),
    )
    .await;
    assert_eq!(resp.status, StatusCode::OK);
}

#[tokio::test]
async fn sts_access_tokens_expire() {
    let mut cfg = config(3, 21);
    cfg.access_token_ttl = Duration::from_millis(200);
    let (state, app) = setup_with(&cfg);
    let token = state.issue_access_token();
    let auth = format!("Bearer {token}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Ocp-Apim-Subscription-Key", KEY),
    ];
    assert_eq!(
        send(&app, "GET", &employees_uri(""), &headers, None)
            .await
            .status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        send(&app, "GET", &employees_uri(""), &headers, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn sts_authorization_code_with_pkce() {
    let mut cfg = config(3, 22);
    cfg.client_secret = Some("s3cret".into());
    let (_, app) = setup_with(&cfg);
    // RFC 7636 appendix B.
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let redirect = "http://localhost:8765/callback";
    let authorize = format!(
        "/AppActivation/Authorize?client_id={}&scope=abc%20offline_access&response_type=code&redirect_uri={redirect}&code_challenge={challenge}&code_challenge_method=S256&state=xyz",
        cfg.client_id
    );
    let resp = send(&app, "GET", &authorize, &[], None).await;
    assert_eq!(resp.status, StatusCode::FOUND);
    let location = resp.header("location").unwrap().to_owned();
    assert!(location.starts_with(&format!("{redirect}?code=")));
    assert!(location.ends_with("&state=xyz"));
    let code = location
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(code.len(), 64);
    let creds = format!("client_id={}&client_secret=s3cret", cfg.client_id);

    // Wrong verifier → invalid_grant, and the code is used up.
    let resp = token_call(&app, &format!("grant_type=authorization_code&code={code}&redirect_uri={redirect}&code_verifier=wrong&{creds}")).await;
    assert_eq!(resp.json(), json!({"error": "invalid_grant"}));
    let resp = token_call(&app, &format!("grant_type=authorization_code&code={code}&redirect_uri={redirect}&code_verifier={verifier}&{creds}")).await;
    assert_eq!(resp.json(), json!({"error": "invalid_grant"}));

    // A fresh code with the right verifier.
    let resp = send(&app, "GET", &authorize, &[], None).await;
    let location = resp.header("location").unwrap().to_owned();
    let code = location
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let resp = token_call(&app, &format!("grant_type=authorization_code&code={code}&redirect_uri={redirect}&code_verifier={verifier}&{creds}")).await;
    assert_eq!(resp.status, StatusCode::OK);
    let body = resp.json();
    assert!(body["refresh_token"].is_string());
    let auth = format!("Bearer {}", body["access_token"].as_str().unwrap());
    let resp = send(
        &app,
        "GET",
        "/v1/legalentities/ActivatedLegalEntityTenantList",
        &[("Authorization", &auth), ("Ocp-Apim-Subscription-Key", KEY)],
        None,
    )
    .await;
    assert_eq!(resp.status, StatusCode::OK);
}

// ------------------------------------------------------------------ events

#[tokio::test]
async fn mock_event_is_returned_and_delivered_with_the_secret() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (state, app) = setup(5, 23);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let receiver = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0_u8; 4096];
        loop {
            let n = sock.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .unwrap()
                    .parse()
                    .unwrap();
                if body.len() >= len {
                    sock.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                        .await
                        .unwrap();
                    return (head.to_owned(), body.to_owned());
                }
            }
            if n == 0 {
                panic!("connection closed early");
            }
        }
    });
    let id = state.employee_ids()[2].clone();
    let auth = bearer();
    let command = json!({
        "applicationId": "0b7d3a52-0f1e-4e55-9b8a-1c2d3e4f5a6b",
        "notificationURL": format!("http://127.0.0.1:{port}/paycor/hook"),
        "notificationSecret": "Bearer WREX-secret",
        "eventType": "Employee.Modified",
        "tenantId": TENANT,
        "itemId": id,
    });
    let resp = send(
        &app,
        "POST",
        "/v1/events/mockevent",
        &[
            ("Authorization", &auth),
            ("Ocp-Apim-Subscription-Key", KEY),
            ("Content-Type", "application/json"),
        ],
        Some(serde_json::to_vec(&command).unwrap()),
    )
    .await;
    assert_eq!(resp.status, StatusCode::CREATED);
    let event = resp.json();
    assert_eq!(
        keys(&event),
        [
            "eventType",
            "eventId",
            "tenantId",
            "legalEntityId",
            "itemId",
            "extendedProperties",
            "changedFields",
            "resource"
        ]
    );
    assert_eq!(event["itemId"], id.as_str());
    assert_eq!(event["resource"]["url"], format!("/v1/employees/{id}"));
    let (head, body) = tokio::time::timeout(Duration::from_secs(5), receiver)
        .await
        .unwrap()
        .unwrap();
    assert!(head.starts_with("POST /paycor/hook HTTP/1.1"));
    assert!(head.contains("Authorization: Bearer WREX-secret"));
    let delivered: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(delivered, event);

    // Missing itemId for Employee.Modified → 400.
    let mut bad = command.clone();
    bad.as_object_mut().unwrap().remove("itemId");
    let resp = send(
        &app,
        "POST",
        "/v1/events/mockevent",
        &[
            ("Authorization", &auth),
            ("Ocp-Apim-Subscription-Key", KEY),
            ("Content-Type", "application/json"),
        ],
        Some(serde_json::to_vec(&bad).unwrap()),
    )
    .await;
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
    assert!(resp.json()["source"]["itemId"].is_string());
}

#[tokio::test]
async fn serve_binds_a_port() {
    let (state, _) = setup(3, 24);
    let (addr, handle) = paycor::serve(state, "/", "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    sock.write_all(
        format!(
            "GET /v1/legalentities/ActivatedLegalEntityTenantList HTTP/1.1\r\nHost: x\r\nOcp-Apim-Subscription-Key: {KEY}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    sock.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("userLegalEntities"));
    handle.abort();
}

#[tokio::test]
async fn static_token_expires_after_its_lifetime_on_the_emulator_clock() {
    // Default lifetime: 1800 s, like a live Paycor access token pasted into a config.
    assert_eq!(
        PaycorConfig::default().static_token_ttl,
        Duration::from_secs(1800)
    );
    let (state, app) = setup(3, 23);
    assert_eq!(get(&app, &employees_uri("")).await.status, StatusCode::OK);
    state.advance_clock(Duration::from_secs(1799));
    assert_eq!(get(&app, &employees_uri("")).await.status, StatusCode::OK);
    state.advance_clock(Duration::from_secs(1));
    let resp = get(&app, &employees_uri("")).await;
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    assert!(resp.body.is_empty(), "an expired token: 401, empty body");
}

#[tokio::test]
async fn minted_tokens_expire_on_the_emulator_clock() {
    let (state, app) = setup(3, 24);
    let token = state.issue_access_token();
    let auth = format!("Bearer {token}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Ocp-Apim-Subscription-Key", KEY),
    ];
    state.advance_clock(Duration::from_secs(1799));
    let status = |h| {
        let app = app.clone();
        async move { send(&app, "GET", &employees_uri(""), h, None).await.status }
    };
    assert_eq!(status(&headers).await, StatusCode::OK);
    assert_eq!(state.expired_token_requests(), 0);
    state.advance_clock(Duration::from_secs(1));
    assert_eq!(status(&headers).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        state.expired_token_requests(),
        1,
        "counted: it was minted here"
    );
    // An unknown token is not counted as expired.
    let unknown = [
        ("Authorization", "Bearer nope"),
        ("Ocp-Apim-Subscription-Key", KEY),
    ];
    assert_eq!(status(&unknown).await, StatusCode::UNAUTHORIZED);
    assert_eq!(state.expired_token_requests(), 1);
}
