#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;

#[test]
fn page_shapes_from_real_captures() {
    let body = br#"{"data":[{"id":1,"first_name":"A"},{"id":2}],"total":4,"nextPage":2}"#;
    let p = parse_page(200, body, None, None).ok().unwrap();
    assert_eq!(p.records.len(), 2);
    assert_eq!(p.total, Some(4));
    let past_end = br#"{"data":[],"total":4,"nextPage":4}"#;
    assert!(
        parse_page(200, past_end, None, None)
            .ok()
            .unwrap()
            .records
            .is_empty()
    );
}

#[test]
fn error_bodies_are_failures_even_with_200() {
    let forbidden =
        br#"{"error":[[{"code":403,"message":"Authorization bearer token is invalid"}]]}"#;
    match parse_page(403, forbidden, None, None) {
        Err(Attempt::Permanent {
            status: Some(403),
            message,
        }) => assert!(message.contains("invalid")),
        _ => panic!("expected permanent 403"),
    }
    let invalidated = br#"{"error":[[{"code":null,"message":false}]]}"#;
    match parse_page(200, invalidated, None, None) {
        Err(Attempt::Permanent {
            status: Some(200),
            message,
        }) => assert!(message.contains("invalidated") && message.contains("HTTP 200")),
        _ => panic!("expected permanent auth failure"),
    }
}

#[test]
fn server_errors_and_garbage_are_transient() {
    assert!(matches!(
        parse_page(500, b"", None, None),
        Err(Attempt::Transient { .. })
    ));
    assert!(matches!(
        parse_page(200, b"{\"data\":[{\"id\":1", None, None),
        Err(Attempt::Transient { .. })
    ));
    assert!(matches!(
        parse_page(429, b"", Some(Duration::from_secs(2)), None),
        Err(Attempt::Transient {
            retry_after: Some(_),
            ..
        })
    ));
}

#[test]
fn token_expiry_is_read_from_the_jwt() {
    use base64::Engine;
    let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let t = Secret::new(format!(
        "{}.{}.{}",
        enc("{}"),
        enc(r#"{"token":"ab","expire":1000}"#),
        enc("sig")
    ));
    assert_eq!(token_expiry(&t), Some(1000));
    assert!(token::expiry_note(&t, 2000).unwrap().contains("expired"));
    assert!(
        token::expiry_note(&t, 1000 - 86_400 * 3)
            .unwrap()
            .contains("3 day")
    );
    assert!(token_expiry(&Secret::new("not-a-jwt")).is_none());
}

#[test]
fn projection_keeps_only_wanted_fields_and_falls_back_on_errors() {
    let keep: BTreeSet<String> = ["first_name".to_string()].into();
    let body = br#"{"data":[{"id":1,"first_name":"A","ssn_num":"x","department":{"id":2}}],"total":1,"nextPage":2}"#;
    let p = parse_page(200, body, None, Some(&keep)).ok().unwrap();
    let keys: Vec<&String> = p.records[0].keys().collect();
    assert_eq!(keys, vec!["id", "first_name"]);
    // an error body with 200 still takes the slow path and is reported
    let invalidated = br#"{"error":[[{"code":null,"message":false}]]}"#;
    assert!(parse_page(200, invalidated, None, Some(&keep)).is_err());
}

#[test]
fn token_shape_is_checked_without_printing_the_token() {
    use base64::Engine;
    let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let jwt = format!(
        "{}.{}.{}",
        enc(r#"{"typ":"JWT","alg":"HS256"}"#),
        enc(r#"{"token":"ab","expire":1000}"#),
        enc("sig")
    );
    assert!(check_token(&Secret::new(jwt.clone())).is_ok());
    assert!(check_token(&Secret::new(format!(" {jwt}\n"))).is_ok());
    assert!(
        check_token(&Secret::new(format!("{jwt} x")))
            .unwrap_err()
            .contains("spaces")
    );
    let hash = "0123456789abcdef0123456789ABCDEF";
    let e = check_token(&Secret::new(hash)).unwrap_err();
    assert!(
        e.contains("32 hex digits") && e.contains("Api Access") && !e.contains(hash),
        "{e}"
    );
    for (bad, why) in [
        ("", "empty"),
        ("not-a-jwt", "1 dot-separated part"),
        ("a.b", "2 dot-separated parts"),
        (&format!("Bearer {jwt}") as &str, "Bearer"),
        (&format!("{}.{}.x", enc("{}"), enc("{}")) as &str, "HS256"),
        (
            &format!("{}.{}.x", enc(r#"{"alg":"RS256"}"#), enc("{}")) as &str,
            "RS256",
        ),
        (
            &format!("{}.!!.x", enc(r#"{"alg":"HS256"}"#)) as &str,
            "part 2",
        ),
    ] {
        let e = check_token(&Secret::new(bad)).unwrap_err();
        assert!(e.contains(why) && e.contains("not a JWT"), "{bad:?}: {e}");
        assert!(bad.len() < 4 || !e.contains(bad), "{e}");
    }
}
