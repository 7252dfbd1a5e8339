//! Pagination, sorting, filters and search.

use super::*;

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
