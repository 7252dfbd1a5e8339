//! Tokens and auth errors.

use super::*;

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
