//! POST, PUT and DELETE.

use super::*;

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
