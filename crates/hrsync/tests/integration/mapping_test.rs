//! Issue 14 §4: `hrsync test` passes on the examples' test cases (untouched) and fails with a
//! readable diff on a broken format; `hrsync check` fails with it. Offline: no secrets set.

use crate::common::cli;
use std::path::Path;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");

#[test]
fn the_examples_test_cases_pass() {
    let mut total = 0;
    for ex in ["icehrm-openldap.toml", "csv-openldap.toml"] {
        let (code, out) = cli(&Path::new(ROOT).join(ex), &["test"], &[]);
        assert_eq!(code, 0, "{ex}: {out}");
        let line = out
            .lines()
            .find(|l| l.contains("test case(s):"))
            .unwrap_or_else(|| panic!("{out}"));
        let n: usize = line.split_whitespace().next().unwrap().parse().unwrap();
        assert!(n >= 2, "{ex} has test cases: {out}");
        assert!(line.contains(" 0 failed"), "{line}");
        total += n;
    }
    assert!(total >= 6);
}

#[test]
fn a_broken_format_fails_with_a_diff_naming_the_attribute_expected_and_actual() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(Path::new(ROOT).join("icehrm-openldap.toml")).unwrap();
    assert!(text.contains("mail = \"{work_email}\""));
    let cfg = dir.path().join("icehrm-openldap.toml");
    std::fs::write(
        &cfg,
        text.replace("mail = \"{work_email}\"", "mail = \"{work_emial}\""),
    )
    .unwrap();
    let (code, out) = cli(&cfg, &["test"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "FAIL  an active employee ({} [[test]] #1, mapping \"icehrm-staff\")",
            cfg.display()
        )),
        "{out}"
    );
    let diff = "      attribute mail:\n        expected: \"zoe.obrien@example.com\"\n        actual:   (absent)\n        from:     mail = \"{work_emial}\" ← work_emial: (absent)\n";
    assert!(out.contains(diff), "{out}");
    assert!(out.contains("4 test case(s): 3 passed, 1 failed"), "{out}");
    // JSON: the same, for a CI of the config repository.
    let (code, out) = cli(&cfg, &["test", "--json"], &[]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["failed"], 1);
    let m = &v["cases"][0]["mismatches"][0];
    assert_eq!(m["what"], "attribute mail");
    assert_eq!(m["expected"], "\"zoe.obrien@example.com\"");
    assert_eq!(m["actual"], "(absent)");
    // `check` runs the cases too, and fails.
    let token = hrsync_emulator::icehrm::make_token("mapping-test", 4_102_444_800);
    let env = [("ICEHRM_TOKEN", token.as_str()), ("LDAP_BIND_PW", "unused")];
    let (code, out) = cli(&cfg, &["check"], &env);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("attribute mail:"), "{out}");
    assert!(out.contains("1 mapping test case(s) failed"), "{out}");
    // Unbroken, the check passes.
    let ok = dir.path().join("ok.toml");
    std::fs::write(&ok, text).unwrap();
    let (code, out) = cli(&ok, &["check"], &env);
    assert_eq!(code, 0, "{out}");
}
