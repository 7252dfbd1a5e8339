#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use serde_json::json;

fn spec() -> MappingSpec {
    MappingSpec {
        name: "staff".into(),
        primary_key: "employee_id".into(),
        source_id_field: Some("id".into()),
        rdn_attribute: "uid".into(),
        parent_dn: "ou=people,dc=example,dc=com".into(),
        key_attribute: "employeeNumber".into(),
        attributes: vec![
            AttrSpec {
                name: "uid".into(),
                format: "{first_name|login}.{last_name|login}".into(),
                required: true,
            },
            AttrSpec {
                name: "cn".into(),
                format: "{first_name} {last_name}".into(),
                required: true,
            },
            AttrSpec {
                name: "sn".into(),
                format: "{last_name}".into(),
                required: true,
            },
            AttrSpec {
                name: "mail".into(),
                format: "{work_email}".into(),
                required: false,
            },
            AttrSpec {
                name: "departmentNumber".into(),
                format: "{department.display}".into(),
                required: false,
            },
        ],
        leaver_when: Some("status == 'Terminated'".into()),
        ou: Vec::new(),
        groups: Vec::new(),
        scope_when: None,
        out_of_scope: OutOfScope::Ignore,
        unique: Vec::new(),
        dates: Default::default(),
    }
}

fn rec(v: serde_json::Value) -> HrRecord {
    HrRecord {
        index: 0,
        source_id: v.get("id").map(|x| x.to_string()),
        fields: v.as_object().unwrap().clone(),
        problems: Vec::new(),
    }
}

#[test]
fn maps_a_full_record() {
    let m = Mapper::new(spec()).unwrap();
    let e = m
        .map(&rec(json!({"id": 7, "employee_id": "EMP7", "first_name": "José", "last_name": "Müller",
            "work_email": "jose@example.test", "department": {"type":"CompanyStructure","id":2,"display":"Sales"},
            "status": "Active"})))
        .unwrap();
    assert_eq!(e.key, "EMP7");
    assert_eq!(e.dn, "uid=jose.muller,ou=people,dc=example,dc=com");
    assert_eq!(e.attrs[&AttrName::from("cn")], vec!["José Müller"]);
    assert_eq!(e.attrs[&AttrName::from("departmentNumber")], vec!["Sales"]);
    assert_eq!(e.attrs[&AttrName::from("employeeNumber")], vec!["EMP7"]);
    assert!(!e.leaver);
}

#[test]
fn null_optional_field_is_left_out_and_terminated_is_leaver() {
    let m = Mapper::new(spec()).unwrap();
    let e = m
        .map(&rec(
            json!({"id": 8, "employee_id": "EMP8", "first_name": "A", "last_name": "B",
            "work_email": null, "department": null, "status": "Terminated"}),
        ))
        .unwrap();
    assert!(!e.attrs.contains_key(&AttrName::from("mail")));
    assert!(!e.attrs.contains_key(&AttrName::from("departmentNumber")));
    assert!(e.leaver);
    assert!(e.leaver_reason.unwrap().contains("Terminated"));
}

#[test]
fn missing_required_field_is_a_finding_naming_record_attribute_and_field() {
    let m = Mapper::new(spec()).unwrap();
    let f = m
        .map(&rec(json!({"id": 9, "employee_id": "EMP9", "first_name": "A", "last_name": null, "status": "Active"})))
        .unwrap_err();
    assert!(f.iter().any(|x| x.field.as_deref() == Some("sn")
        && x.subject.contains("EMP9")
        && x.message.contains("last_name")));
    // a field absent from the record altogether (not just null)
    let f = m
        .map(&rec(
            json!({"id": 10, "employee_id": "EMP10", "first_name": "A", "status": "Active"}),
        ))
        .unwrap_err();
    assert!(f.iter().any(|x| x.message.contains("last_name")));
}

#[test]
fn missing_primary_key_is_a_finding() {
    let m = Mapper::new(spec()).unwrap();
    let f = m
        .map(&rec(
            json!({"id": 11, "employee_id": null, "first_name": "A", "last_name": "B"}),
        ))
        .unwrap_err();
    assert!(f[0].subject.contains("11") && f[0].message.contains("employee_id"));
}

#[test]
fn hostile_values_reach_the_dn_escaped() {
    let mut s = spec();
    s.rdn_attribute = "cn".into();
    let m = Mapper::new(s).unwrap();
    let e = m
        .map(&rec(json!({"id": 12, "employee_id": "E*)(x", "first_name": "Zoë", "last_name": "O'Brien, Jr. (Ops)*\\", "status": "Active"})))
        .unwrap();
    assert_eq!(
        e.dn,
        r"cn=Zoë O'Brien\, Jr. (Ops)*\\,ou=people,dc=example,dc=com"
    );
    let parsed = dn::Dn::parse(&e.dn).unwrap();
    assert_eq!(parsed.leaf().unwrap().value, r"Zoë O'Brien, Jr. (Ops)*\");
}

#[test]
fn config_errors_name_the_attribute() {
    let mut s = spec();
    s.attributes.push(AttrSpec {
        name: "title".into(),
        format: "{job_title.display|nosuchfilter}".into(),
        required: false,
    });
    // minijinja finds unknown filters only when it renders; the mapper finds them now
    let err = Mapper::new(s).err().unwrap().to_string();
    assert!(err.contains("attribute title"), "{err}");
    assert!(err.contains("unknown filter `nosuchfilter`"), "{err}");
    let mut s = spec();
    s.attributes.push(AttrSpec {
        name: "o".into(),
        format: "{{ broken ".into(),
        required: false,
    });
    let err = Mapper::new(s).err().unwrap().to_string();
    assert!(err.contains("attribute o"), "{err}");
    // a misspelt filter gets the closest name; an unclosed brace would render literally
    for (format, says) in [
        ("{employee_id|lowr}", "did you mean `lower`"),
        ("{employee_id", "is not closed"),
        ("{{ nofunc(employee_id) }}", "unknown function `nofunc`"),
        (
            "{% if a is nodefined %}x{% endif %}",
            "unknown test `nodefined`",
        ),
    ] {
        let mut s = spec();
        s.attributes.push(AttrSpec {
            name: "o".into(),
            format: format.into(),
            required: false,
        });
        let err = Mapper::new(s).err().unwrap().to_string();
        assert!(err.contains(says), "{format}: {err}");
    }
    let mut s = spec();
    s.leaver_when = Some("status|lowr == 'terminated'".into());
    let err = Mapper::new(s).err().unwrap().to_string();
    assert!(err.contains("unknown filter `lowr`"), "{err}");

    let mut s = spec();
    s.attributes.retain(|a| a.name != "uid");
    assert!(matches!(Mapper::new(s), Err(MappingError::NoRdn { .. })));
}

#[test]
fn referenced_fields_are_the_top_level_names() {
    let m = Mapper::new(spec()).unwrap();
    let f: Vec<_> = m.referenced_fields().into_iter().collect();
    assert_eq!(
        f,
        vec![
            "department",
            "employee_id",
            "first_name",
            "id",
            "last_name",
            "status",
            "work_email"
        ]
    );
}

/// Numbers reach templates exactly as HR sent them (serde_json `arbitrary_precision`):
/// integers beyond 64 bits are neither rounded nor rendered as floats, on the fast path and
/// through full Jinja, and numbers still compare as numbers.
#[test]
fn numbers_render_as_sent_and_compare_as_numbers() {
    let mut s = spec();
    s.primary_key = "id".into();
    s.attributes.push(AttrSpec {
        name: "employeeType".into(),
        format: "{badge}".into(),
        required: false,
    });
    s.attributes.push(AttrSpec {
        name: "description".into(),
        format: "{{ badge }} {{ id }} {{ small + 1 }} {{ 'big' if id > 10 else 'small' }}".into(),
        required: false,
    });
    s.leaver_when = Some("small > 5".into());
    let body = r#"{"id": 18446744073709551617, "badge": 98765432109876543210123456789012345678901,
        "small": 7, "first_name": "Ann", "last_name": "Big", "status": "Active"}"#;
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    for m in [
        Mapper::new(s.clone()).unwrap(),
        Mapper::new(s.clone()).unwrap().without_fast_path(),
    ] {
        let e = m.map(&rec(v.clone())).unwrap();
        assert_eq!(e.key, "18446744073709551617");
        assert_eq!(
            e.attrs[&AttrName::from("employeeNumber")],
            vec!["18446744073709551617"]
        );
        assert_eq!(
            e.attrs[&AttrName::from("employeeType")],
            vec!["98765432109876543210123456789012345678901"]
        );
        assert_eq!(
            e.attrs[&AttrName::from("description")],
            vec!["98765432109876543210123456789012345678901 18446744073709551617 8 big"],
            "a 41-digit integer stays its text (a string to Jinja); the others are numbers"
        );
        assert!(e.leaver);
    }
}

/// The trace says which format produced each value from which fields, and its values are
/// the mapped entry's; scope and leaver expressions come with their results.
#[test]
fn a_trace_names_formats_fields_values_and_rule_results() {
    let mut s = spec();
    s.scope_when = Some("kind != 'Contractor'".into());
    let m = Mapper::new(s).unwrap();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
    let r = rec(
        json!({"id": 1, "employee_id": "E1", "first_name": "Zoë", "last_name": "O'Brien",
        "work_email": null, "department": {"display": "Sales"}, "status": "Terminated", "kind": "Employee"}),
    );
    let t = m.trace(&r, today);
    let uid = t.formats.iter().find(|f| f.attribute == "uid").unwrap();
    assert_eq!(uid.format, "{first_name|login}.{last_name|login}");
    assert_eq!(uid.value.as_deref(), Some("zoe.obrien"));
    assert_eq!(
        uid.fields,
        vec![
            FieldValue {
                field: "first_name".into(),
                value: Some(json!("Zoë"))
            },
            FieldValue {
                field: "last_name".into(),
                value: Some(json!("O'Brien"))
            },
        ]
    );
    assert!(uid.required);
    let mail = t.formats.iter().find(|f| f.attribute == "mail").unwrap();
    assert_eq!(
        (mail.value.clone(), mail.error.clone()),
        (None, None),
        "null: empty, no error"
    );
    let dept = t
        .formats
        .iter()
        .find(|f| f.attribute == "departmentNumber")
        .unwrap();
    assert_eq!(dept.fields[0].field, "department.display");
    let leaver = t.leaver.as_ref().unwrap();
    assert_eq!(leaver.result, Some(true));
    assert_eq!(
        leaver.fields[0],
        FieldValue {
            field: "status".into(),
            value: Some(json!("Terminated"))
        }
    );
    assert_eq!(t.in_scope(), Some(true));
    let Outcome::Mapped { entry } = &t.outcome else {
        panic!("{:?}", t.outcome)
    };
    assert!(entry.leaver);
    for f in t.formats.iter().filter(|f| f.role == Role::Attribute) {
        assert_eq!(
            entry
                .attrs
                .get(&AttrName::new(f.attribute.clone()))
                .and_then(|v| v.first()),
            f.value.as_ref(),
            "{}",
            f.attribute
        );
    }
    // Out of scope, ignored: said so, with the expression's result.
    let out = m.trace(
        &rec(
            json!({"employee_id": "E2", "first_name": "A", "last_name": "B", "kind": "Contractor"}),
        ),
        today,
    );
    assert_eq!(out.outcome, Outcome::OutOfScope);
    assert_eq!(out.in_scope(), Some(false));
    assert_eq!(out.scope.unwrap().expression, "kind != 'Contractor'");
}
