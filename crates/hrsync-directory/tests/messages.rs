//! LDAP failures name the result code and the DN (issue 11, section 4), against a real slapd.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Slapd, create};
use hrsync_directory::{Directory, apply};
use hrsync_model::Secret;

#[tokio::test]
async fn a_failed_change_names_the_result_code_and_the_dn() {
    let s = Slapd::start();
    let people = s.ou("people-msg").await;
    let dir = Directory::connect(s.config(&people)).await.unwrap();
    let missing = format!("ou=missing,{}", s.base);
    let changes = vec![
        create("m1", &missing, &[]),
        create("m2", &people, &[("mail", "zoë.1@exämple.test")]),
        create("m3", &people, &[]),
    ];
    let out = apply(&dir, &changes, |_| {}).await;
    eprintln!("{}\n{}", out[0].message, out[1].message);
    assert_eq!(out[0].rc, Some(32));
    let dn = format!("uid=m1,{missing}");
    assert!(
        out[0]
            .message
            .starts_with(&format!("noSuchObject (32): {dn}")),
        "{}",
        out[0].message
    );
    // slapd names the nearest entry that exists.
    assert!(out[0].message.contains(&s.base), "{}", out[0].message);
    assert_eq!(out[1].rc, Some(21));
    assert_eq!(
        out[1].message,
        format!("invalidAttributeSyntax (21): uid=m2,{people}: mail: value #0 invalid per syntax")
    );
    assert!(out[2].ok, "{:?}", out[2]);
    assert_eq!(out[2].message, "");
    dir.close().await;
}

#[tokio::test]
async fn a_refused_bind_names_the_result_code_and_the_bind_dn() {
    let s = Slapd::start();
    let mut cfg = s.config(&s.base);
    cfg.bind_password = Secret::new("wrong-password");
    let err = Directory::connect(cfg)
        .await
        .err()
        .expect("the bind must fail");
    let text = err.to_string();
    eprintln!("{text}");
    assert!(
        text.contains(&format!(
            "bind as {} failed: invalidCredentials (49)",
            s.bind_dn
        )),
        "{text}"
    );
    assert!(!text.contains("result code"), "{text}");
    assert!(!text.contains(": ;"), "{text}");
    assert!(!text.contains("wrong-password"), "{text}");
}
