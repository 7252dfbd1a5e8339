//! Shapes of list items and single employees, against the real captures.

use super::*;

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
