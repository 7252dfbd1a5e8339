//! The library API, injected faults and serving over TCP.

use super::*;

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
