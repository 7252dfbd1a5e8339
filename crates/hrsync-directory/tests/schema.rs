//! Values the directory refuses are findings (issue 11, section 8): the schema read from a
//! real slapd predicts exactly which creates slapd refuses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Slapd;
use hrsync_directory::{Directory, apply};
use hrsync_model::{AttrChange, AttrMap, AttrName, Change, ChangeKind, DesiredEntry};

fn desired(key: &str, rdn: (&str, &str), parent: &str, attrs: &[(&str, &str)]) -> DesiredEntry {
    let mut m = AttrMap::new();
    for (a, v) in attrs {
        m.entry_or_default(AttrName::new(*a)).push(v.to_string());
    }
    DesiredEntry {
        key: key.into(),
        dn: hrsync_model::dn::child(rdn.0, rdn.1, parent),
        attrs: m,
        leaver: false,
        leaver_reason: None,
        starts: None,
    }
}

fn create(d: &DesiredEntry) -> Change {
    Change {
        kind: ChangeKind::Create,
        key: d.key.clone(),
        dn: d.dn.clone(),
        new_dn: None,
        uuid: None,
        attrs: d
            .attrs
            .iter()
            .map(|(a, v)| AttrChange {
                attr: a.clone(),
                before: vec![],
                after: v.clone(),
            })
            .collect(),
        reason: "test".into(),
    }
}

#[tokio::test]
async fn the_schema_check_predicts_what_slapd_refuses() {
    let s = Slapd::start();
    let people = s.ou("people-schema").await;
    let dir = Directory::connect(s.config(&people)).await.unwrap();
    let schema = dir.schema().await.unwrap();
    // Read once, then shared.
    assert!(std::sync::Arc::ptr_eq(
        &schema,
        &dir.schema().await.unwrap()
    ));
    assert_eq!(schema.object_classes(), ["inetOrgPerson"]);
    assert_eq!(schema.unparsed(), 0);

    let base = |key: &str| {
        vec![
            ("uid", key.to_string()),
            ("cn", format!("Person {key}")),
            ("sn", "Example".to_string()),
            ("employeeNumber", key.to_string()),
        ]
    };
    let person = |key: &str, extra: &[(&str, &str)]| {
        let mut a: Vec<(&str, String)> = base(key);
        a.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        let a: Vec<(&str, &str)> = a.iter().map(|(k, v)| (*k, v.as_str())).collect();
        desired(key, ("uid", key), &people, &a)
    };
    let cn_rdn = |key: &str, cn: &str| {
        desired(
            key,
            ("cn", cn),
            &people,
            &[("cn", cn), ("sn", "Example"), ("employeeNumber", key)],
        )
    };
    let big = "c".repeat(11 * 1024);
    let edge_ok = "e".repeat(242);
    let edge_bad = "f".repeat(243);
    // (entry, whether slapd must refuse it)
    let cases = vec![
        (
            person(
                "s-valid",
                &[("mail", "zoe.1@example.test"), ("displayName", "Zoë Ünal")],
            ),
            false,
        ),
        (person("s-mail", &[("mail", "zoë.1@exämple.test")]), true),
        (cn_rdn("s-big", &big), true),
        (cn_rdn("s-edge-ok", &edge_ok), false),
        (cn_rdn("s-edge-bad", &edge_bad), true),
        (person("s-phone", &[("telephoneNumber", "call me!")]), true),
        (person("s-manager", &[("manager", "not a dn")]), true),
        (
            desired(
                "s-two",
                ("uid", "s-two"),
                &people,
                &[
                    ("uid", "s-two"),
                    ("cn", "Two"),
                    ("sn", "x"),
                    ("displayName", "A"),
                    ("displayName", "B"),
                ],
            ),
            true,
        ),
        (
            desired(
                "s-nosn",
                ("uid", "s-nosn"),
                &people,
                &[("uid", "s-nosn"), ("cn", "No Sn")],
            ),
            true,
        ),
        (person("s-unknown", &[("mial", "x@example.test")]), true),
        (person("s-notallowed", &[("uidNumber", "1000")]), true),
        // A long telephone number: over the {32} hint, which slapd does not enforce.
        (
            person("s-longphone", &[("telephoneNumber", &"1".repeat(40))]),
            false,
        ),
    ];
    let changes: Vec<Change> = cases.iter().map(|(d, _)| create(d)).collect();
    let out = apply(&dir, &changes, |_| {}).await;
    for ((d, refused), o) in cases.iter().zip(&out) {
        let findings = schema.check_entry(d);
        let errors: Vec<_> = findings.iter().filter(|f| f.severity == "error").collect();
        assert_eq!(!o.ok, *refused, "{}: slapd said {:?}", d.key, o.message);
        assert_eq!(
            !errors.is_empty(),
            *refused,
            "{}: the check says {findings:#?} but slapd said {:?}",
            d.key,
            o.message
        );
    }
    let mail = schema.check_entry(&cases[1].0);
    assert_eq!(mail.len(), 1, "{mail:#?}");
    assert_eq!(mail[0].field.as_deref(), Some("mail"));
    assert!(
        mail[0].message.contains("IA5 String"),
        "{}",
        mail[0].message
    );
    let big = schema.check_entry(&cases[2].0);
    assert_eq!(big.len(), 1, "{big:#?}");
    assert!(
        big[0].message.contains("too long for OpenLDAP"),
        "{}",
        big[0].message
    );
    let long_phone = schema.check_entry(&cases[11].0);
    assert_eq!(long_phone.len(), 1);
    assert_eq!(long_phone[0].severity, "warning");
    dir.close().await;
}
