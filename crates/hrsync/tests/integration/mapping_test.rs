//! Issue 14 §4: `hrsync test` passes on the examples' test cases (untouched) and fails with a
//! readable diff on a broken format; `hrsync check` fails with it. Offline: no secrets set.

use crate::common::cli;
use std::path::Path;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");

#[test]
fn the_examples_test_cases_pass() {
    let mut total = 0;
    for ex in [
        "icehrm-openldap.toml",
        "csv-openldap.toml",
        "paycor-openldap.toml",
    ] {
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
    assert!(total >= 9);
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

/// `--record KEY --write` snapshots a real person (from the IceHrm emulator) into
/// tests/KEY.json, sensitive fields masked; the new case passes, and a second write refuses
/// to overwrite it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_record_is_snapshotted_masked_into_a_passing_case() {
    use crate::common::{Fx, STAFF_ATTRS, cli_async};
    // A format that reads a sensitive field: its value is masked in the case, and so is
    // what the case expects of it.
    let attrs = format!("{STAFF_ATTRS}description = \"{{birthday}}\"\n");
    let fx = Fx::new("test-record", 3, "uid", &attrs).await;
    let r = fx.emu.hire(
        serde_json::json!({"employee_id": "EMP09600", "first_name": "Zoë",
        "last_name": "O'Brien", "work_email": "zoe@example.test", "department": 2, "job_title": 5,
        "birthday": "1990-04-01", "ssn_num": "123-45-6789"}),
    );
    assert!(r["id"].is_i64(), "{r}");
    let (code, out) = cli_async(
        &fx.cfg_path,
        &["test", "--record", "EMP09600", "--write"],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let file = fx.dir.path().join("tests").join("EMP09600.json");
    assert!(out.contains(&format!("wrote {}", file.display())), "{out}");
    let case: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(case["name"], "EMP09600");
    assert_eq!(case["mapping"], "staff");
    assert_eq!(case["record"]["first_name"], "Zoë");
    assert_eq!(case["record"]["birthday"], hrsync_engine::sensitive::MASK);
    assert_eq!(
        case["expect"]["attributes"]["description"],
        hrsync_engine::sensitive::MASK
    );
    assert!(
        case["record"].get("ssn_num").is_none(),
        "only the fields the mapping reads"
    );
    assert!(case["record"].get("address1").is_none());
    assert!(
        !std::fs::read_to_string(&file)
            .unwrap()
            .contains("123-45-6789")
    );
    assert_eq!(case["expect"]["attributes"]["cn"], "Zoë O'Brien");
    assert_eq!(case["expect"]["attributes"]["mail"], "zoe@example.test");
    assert_eq!(case["expect"]["leaver"], false);
    assert_eq!(case["expect"]["findings"], serde_json::json!([]));
    let (code, out) = cli_async(&fx.cfg_path, &["test"], &[]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 test case(s): 1 passed, 0 failed"), "{out}");
    let (code, out) = cli_async(
        &fx.cfg_path,
        &["test", "--record", "EMP09600", "--write"],
        &[],
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("a case for this person exists"), "{out}");
    // Nobody with that key: said so, nothing written.
    let (code, out) = cli_async(&fx.cfg_path, &["test", "--record", "NOBODY"], &[]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("HR has nobody with employee_id = \"NOBODY\""),
        "{out}"
    );
}
