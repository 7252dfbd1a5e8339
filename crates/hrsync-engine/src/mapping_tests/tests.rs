use super::*;

const BASE: &str = r#"
[[integration]]
name = "hr"
kind = "csv"
path = "people.csv"

[directory]
kind = "openldap"
url = "ldap://127.0.0.1:1"
bind_dn = "cn=admin,dc=example,dc=com"
bind_password = { env = "HRSYNC_MAPPING_TESTS_NEVER_SET" }
base_dn = "dc=example,dc=com"
users_ou = "ou=people,dc=example,dc=com"

[[mapping]]
name = "staff"
integration = "hr"
primary_key = "employee_id"
leaver_when = "status == 'Terminated'"
scope_when = "kind != 'Contractor'"

[mapping.attributes]
uid = "{first_name|login}.{last_name|login}"
cn = { format = "{first_name} {last_name}", required = true }
sn = { format = "{last_name}", required = true }
mail = "{first_name|ascii|lower}.{last_name|login}@example.com"
description = "{joined}"

[[test]]
name = "base"
[test.record]
employee_id = "E1"
first_name = "Zoë"
last_name = "O'Brien"
status = "Active"
kind = "Employee"
"#;

fn config(extra: &str, files: &[(&str, &str)]) -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hrsync.toml");
    std::fs::write(&path, format!("{BASE}{extra}")).unwrap();
    for (name, text) in files {
        let p = dir.path().join("tests").join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let cfg = Config::load(&path).unwrap();
    (dir, cfg)
}

#[test]
fn a_case_passes_when_the_mapping_produces_what_it_states() {
    let (_d, cfg) = config(
        r#"
[[test]]
name = "joiner"
template = "base"
[test.expect]
dn = "uid=zoe.obrien,ou=people,dc=example,dc=com"
in_scope = true
leaver = false
findings = []
outcome = "mapped"
[test.expect.attributes]
mail = "zoe.obrien@example.com"
cn = "Zoë O'Brien"
title = ""
"#,
        &[],
    );
    let r = run(&cfg).unwrap();
    assert_eq!(r.failed, 0, "{:#?}", r.cases);
    assert_eq!(r.passed, 2, "base (nothing stated) and joiner");
}

/// The secrets are never read: the bind password's variable is unset.
#[test]
fn cases_run_without_secrets() {
    let (_d, cfg) = config("", &[]);
    assert!(cfg.job("staff").is_err(), "a job needs the bind password");
    assert!(run(&cfg).unwrap().ok());
}

#[test]
fn a_broken_expectation_names_the_attribute_expected_actual_and_the_fields() {
    let (_d, cfg) = config(
        r#"
[[test]]
name = "joiner"
template = "base"
[test.expect.attributes]
mail = "zoe.o-brien@example.com"
"#,
        &[],
    );
    let r = run(&cfg).unwrap();
    assert_eq!(r.failed, 1);
    let c = r.cases.iter().find(|c| c.name == "joiner").unwrap();
    assert_eq!(
        c.mismatches,
        vec![Mismatch {
            what: "attribute mail".into(),
            expected: "\"zoe.o-brien@example.com\"".into(),
            actual: "\"zoe.obrien@example.com\"".into(),
            because: Some(
                "mail = \"{first_name|ascii|lower}.{last_name|login}@example.com\" ← first_name: \"Zoë\", last_name: \"O'Brien\"".into()
            ),
        }]
    );
}

#[test]
fn scope_leaver_and_findings_are_compared() {
    let (_d, cfg) = config(
        r#"
[[test]]
name = "contractor"
template = "base"
record = { kind = "Contractor" }
expect = { in_scope = false, outcome = "out_of_scope" }

[[test]]
name = "leaver"
template = "base"
record = { status = "Terminated" }
expect = { leaver = true }

[[test]]
name = "no last name"
template = "base"
record = { last_name = "" }
expect = { outcome = "skipped", findings = ["required attribute sn"] }

[[test]]
name = "wrong: a leaver said active"
template = "leaver"
expect = { leaver = false, findings = [] }
"#,
        &[],
    );
    let r = run(&cfg).unwrap();
    let failed: Vec<&str> = r
        .cases
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        failed,
        vec!["wrong: a leaver said active"],
        "{:#?}",
        r.cases
    );
    let c = r.cases.iter().find(|c| !c.passed).unwrap();
    assert_eq!(
        c.mismatches.len(),
        1,
        "no findings, as stated: {:?}",
        c.mismatches
    );
    assert_eq!(c.mismatches[0].what, "leaver");
    assert_eq!(
        c.mismatches[0].because.as_deref(),
        Some("leaver_when = \"status == 'Terminated'\" ← status: \"Terminated\"")
    );
}

#[test]
fn the_tests_folder_adds_cases_and_skips_other_configurations_mappings() {
    let (_d, cfg) = config(
        "",
        &[
            (
                "a.toml",
                r#"
[[test]]
name = "from toml"
template = "base"
today = 2026-01-05
record = { first_name = "Ann", joined = 2020-02-01 }
expect = { attributes = { uid = "ann.obrien", description = "2020-02-01" } }

[[test]]
name = "someone else's"
mapping = "other"
"#,
            ),
            (
                "b.json",
                r#"{"name": "from json", "template": "from toml", "expect": {"attributes": {"sn": ["O'Brien"]}}}"#,
            ),
        ],
    );
    let r = run(&cfg).unwrap();
    assert!(r.ok(), "{:#?}", r.cases);
    assert_eq!(r.passed, 3);
    assert_eq!(r.skipped_other_mappings, 1);
}

#[test]
fn unknown_templates_cycles_and_duplicate_names_fail_with_the_reason() {
    let (_d, cfg) = config(
        r#"
[[test]]
name = "orphan"
template = "nobody"

[[test]]
name = "a"
template = "b"
[[test]]
name = "b"
template = "a"

[[test]]
name = "base"
"#,
        &[],
    );
    let r = run(&cfg).unwrap();
    let err = |n: &str| {
        r.cases
            .iter()
            .find(|c| c.name == n && c.error.is_some())
            .and_then(|c| c.error.clone())
            .unwrap()
    };
    assert!(err("orphan").contains("template \"nobody\" is not the name of a case"));
    assert!(
        err("a").contains("template cycle: a → b → a"),
        "{}",
        err("a")
    );
    assert!(err("base").contains("names must be unique"));
    assert_eq!(r.failed, 4);
}

#[test]
fn a_snapshot_masks_sensitive_fields_and_passes_as_written() {
    let (_d, cfg) = config("", &[]);
    let runner = Runner::new(&cfg, "staff").unwrap();
    let rec = serde_json::json!({
        "employee_id": "E7", "first_name": "Zoë", "last_name": "O'Brien", "status": "Active",
        "kind": "Employee", "ssn": "123-45-6789"
    });
    let today = chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
    let case = snapshot(&runner, "E7", "staff", rec.as_object().unwrap(), today);
    assert!(
        !case.record.contains_key("ssn"),
        "only the fields the mapping reads"
    );
    assert_eq!(case.record.len(), 5, "{:?}", case.record);
    assert_eq!(case.expect.leaver, Some(false));
    // Written and read back as JSON, it passes.
    let text = serde_json::to_string_pretty(&case).unwrap();
    let back: RawCase = serde_json::from_str(&text).unwrap();
    assert_eq!(back, case);
    let c = Case {
        raw: back,
        source: "x".into(),
        mapping: "staff".into(),
        record: case.record.clone(),
    };
    let res = run_case(&c, Ok(&runner));
    assert!(res.passed, "{res:#?}");
}
