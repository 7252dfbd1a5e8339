//! Issue 14 §3: `hrsync explain KEY --json`, field by field, for a joiner whose unique mail
//! falls back to its second candidate, a mover with a manager, a leaver by status and a
//! person out of scope. Read-only: no run is recorded, nothing is written.

use crate::common::*;
use hrsync_engine::Mode;
use hrsync_model::dn;
use serde_json::{Value, json};
use std::collections::HashSet;

/// `hrsync explain -c CFG KEY --json` (the real binary; stdout only), parsed.
async fn explain(fx: &Fx, key: &str) -> Value {
    let cfg = fx.cfg_path.clone();
    let key = key.to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_hrsync"))
            .args(["explain", "-c"])
            .arg(&cfg)
            .args([key.as_str(), "--json"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "explain failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn format<'a>(e: &'a Value, attr: &str) -> &'a Value {
    e["mapping_result"]["formats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["attribute"] == attr)
        .unwrap_or_else(|| panic!("no format for {attr}: {e:#}"))
}

fn hr_field<'a>(e: &'a Value, field: &str) -> &'a Value {
    e["hr"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == field)
        .unwrap_or_else(|| panic!("no HR field {field}: {e:#}"))
}

fn hire(fx: &Fx, fields: Value) -> i64 {
    let mut v = json!({"department": 2, "job_title": 5, "joined_date": "2026-11-01"});
    for (k, x) in fields.as_object().unwrap() {
        v[k] = x.clone();
    }
    let r = fx.emu.hire(v);
    r["id"].as_i64().unwrap_or_else(|| panic!("hire: {r}"))
}

fn runs(fx: &Fx) -> usize {
    fx.store().runs(1000).unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_shows_the_unique_mail_candidates_and_why_the_first_was_refused() {
    let attrs = STAFF_ATTRS.replace(
        "mail = \"{work_email}\"",
        "mail = { format = \"{first_name|ascii|lower}.{last_name|login}@example.test\", unique = true, candidates = [\"{first_name|initial|lower}{last_name|login}@example.test\"] }",
    );
    let fx = Fx::new("explain-joiner", 3, "uid", &attrs).await;
    // Someone made an account by hand with the first candidate.
    let mut ldap = admin().await;
    ldap.add(
        &format!("uid=handmade,{}", fx.ou),
        vec![
            ("objectClass", HashSet::from(["inetOrgPerson"])),
            ("uid", HashSet::from(["handmade"])),
            ("cn", HashSet::from(["Hand Made"])),
            ("sn", HashSet::from(["Made"])),
            (
                "mail",
                HashSet::from(["quintessa.vandermolen@example.test"]),
            ),
        ],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    hire(
        &fx,
        json!({"employee_id": "EMP09200", "first_name": "Quintessa", "last_name": "Vandermolen",
               "birthday": "1990-04-01"}),
    );
    let before = runs(&fx);
    let e = explain(&fx, "EMP09200").await;

    assert_eq!(e["key"], "EMP09200");
    assert_eq!(e["mapping"], "staff");
    // The HR record, as fetched: one filtered request, fields with where they came from.
    assert_eq!(e["hr"]["found"], true);
    assert_eq!(e["hr"]["complete"], true);
    assert_eq!(e["hr"]["method"], "filtered");
    assert_eq!(e["hr"]["integration"], "icehrm");
    assert_eq!(e["hr"]["endpoint"], "get_employees");
    assert_eq!(
        *hr_field(&e, "first_name"),
        json!({"field": "first_name", "value": "Quintessa", "from": "get_employees", "masked": false})
    );
    // A birth date is sensitive: masked.
    assert_eq!(
        hr_field(&e, "birthday")["value"],
        hrsync_engine::sensitive::MASK
    );
    assert_eq!(hr_field(&e, "birthday")["masked"], true);
    // The mapping: the mail format, the fields it read, the first candidate's value.
    let m = &e["mapping_result"];
    assert_eq!(m["outcome"], "mapped");
    assert_eq!(m["in_scope"], true);
    assert_eq!(m["leaver"], false);
    assert!(dn::same(
        m["dn"].as_str().unwrap(),
        &format!("uid=emp09200,{}", fx.people)
    ));
    let mail = format(&e, "mail");
    assert_eq!(
        mail["format"],
        "{first_name|ascii|lower}.{last_name|login}@example.test"
    );
    assert_eq!(
        mail["fields"],
        json!([{"field": "first_name", "value": "Quintessa"}, {"field": "last_name", "value": "Vandermolen"}])
    );
    assert_eq!(mail["value"], "quintessa.vandermolen@example.test");
    assert_eq!(mail["unique"], true);
    assert_eq!(mail["create_only"], true);
    assert_eq!(mail["role"], "attribute");
    let cand = format(&e, "hrsync-cand-mail-1");
    assert_eq!(cand["role"], "candidate");
    assert_eq!(cand["value"], "qvandermolen@example.test");
    // The candidates tried, and why the first was refused.
    assert_eq!(
        e["plan"]["unique"],
        json!([{"key": "EMP09200", "attribute": "mail", "chosen": "qvandermolen@example.test",
                "tried": [
                    {"value": "quintessa.vandermolen@example.test", "refused": "in the directory"},
                    {"value": "qvandermolen@example.test", "refused": null}]}])
    );
    // What a plan would do: create, with the second candidate.
    let changes = e["plan"]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{e:#}");
    assert_eq!(changes[0]["kind"], "create");
    let mail_change = changes[0]["attrs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["attr"] == "mail")
        .unwrap();
    assert_eq!(mail_change["after"], json!(["qvandermolen@example.test"]));
    assert!(
        e["plan"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("create uid=emp09200"),
        "{}",
        e["plan"]["summary"]
    );
    // No account, no link, no history yet.
    assert_eq!(e["directory"]["entry"], Value::Null);
    assert_eq!(e["directory"]["link"], Value::Null);
    assert_eq!(e["directory"]["error"], Value::Null);
    assert_eq!(e["audit"], json!([]));
    assert_eq!(e["orchestrations"], json!([]));
    // Read-only: no run recorded, nothing created.
    assert_eq!(runs(&fx), before);
    assert!(fx.search("(employeeNumber=EMP09200)").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mover_shows_the_move_the_manager_chain_and_the_audit() {
    let attrs = format!(
        "{STAFF_ATTRS}manager = {{ format = \"{{supervisor.id}}\", refers_to = \"person\", by = \"{{id}}\" }}\n"
    );
    let fx = Fx::new("explain-mover", 3, "uid", &attrs).await;
    let text = std::fs::read_to_string(&fx.cfg_path).unwrap().replace(
        "rdn_attribute = \"uid\"",
        "rdn_attribute = \"uid\"\nou = [\"{department.display}\"]",
    );
    std::fs::write(&fx.cfg_path, text).unwrap();
    let boss = hire(
        &fx,
        json!({"employee_id": "EMP09300", "first_name": "Maja", "last_name": "Lind", "work_email": "maja@example.test"}),
    );
    let report = hire(
        &fx,
        json!({"employee_id": "EMP09301", "first_name": "Rolf", "last_name": "Lind",
               "work_email": "rolf@example.test", "supervisor": boss}),
    );
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", r.plan.findings);
    let boss_dn = fx.search("(employeeNumber=EMP09300)").await.remove(0).dn;
    let old_dn = fx.search("(employeeNumber=EMP09301)").await.remove(0).dn;
    let old_dept = fx.emu.employee(report).unwrap()["department"]["display"]
        .as_str()
        .unwrap()
        .to_string();
    fx.emu.update(report, json!({"department": 3})).unwrap();
    let new_dept = fx.emu.employee(report).unwrap()["department"]["display"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(old_dept, new_dept);
    // An orchestration instance of theirs (and one of their manager's, not shown).
    let mut store = fx.store();
    let now = chrono::Utc::now();
    let mine = store
        .enqueue("welcome", "staff", "EMP09301", &old_dn, "create", now)
        .unwrap();
    store
        .enqueue("welcome", "staff", "EMP09300", &boss_dn, "create", now)
        .unwrap();
    let before = runs(&fx);
    let e = explain(&fx, "EMP09301").await;
    let orch = e["orchestrations"].as_array().unwrap();
    assert_eq!(orch.len(), 1, "{e:#}");
    assert_eq!(orch[0]["id"], mine);
    assert_eq!(orch[0]["orchestration"], "welcome");
    assert_eq!(orch[0]["event"], "create");
    assert_eq!(orch[0]["status"], "pending");

    // The mapping: the department and the OU rule read department.display.
    let dept = format(&e, "departmentNumber");
    assert_eq!(dept["format"], "{department.display}");
    assert_eq!(
        dept["fields"],
        json!([{"field": "department.display", "value": new_dept}])
    );
    assert_eq!(dept["value"], new_dept);
    let ou = format(&e, "hrsync-ou-0");
    assert_eq!(ou["role"], "ou");
    assert_eq!(ou["value"], new_dept);
    let new_dn = dn::child("uid", "emp09301", &dn::child("OU", &new_dept, &fx.people));
    assert!(dn::same(
        e["mapping_result"]["dn"].as_str().unwrap(),
        &new_dn
    ));
    // The manager: the supervisor's IceHrm id → that person → their account's DN.
    let manager = format(&e, "manager");
    assert_eq!(manager["refers_to_person"], true);
    assert_eq!(manager["value"], boss.to_string());
    assert_eq!(
        manager["fields"],
        json!([{"field": "supervisor.id", "value": boss}])
    );
    let refs = e["plan"]["references"].as_array().unwrap();
    assert_eq!(refs.len(), 1, "{e:#}");
    assert_eq!(refs[0]["attribute"], "manager");
    assert_eq!(refs[0]["hr_value"], boss.to_string());
    assert_eq!(refs[0]["person"], "EMP09300");
    assert!(dn::same(refs[0]["account"].as_str().unwrap(), &boss_dn));
    assert_eq!(refs[0]["value"].as_array().unwrap().len(), 1);
    assert!(dn::same(refs[0]["value"][0].as_str().unwrap(), &boss_dn));
    assert_eq!(refs[0]["problem"], Value::Null);
    // The entry today and its link: where it still is.
    assert!(dn::same(
        e["directory"]["entry"]["dn"].as_str().unwrap(),
        &old_dn
    ));
    assert_eq!(e["directory"]["entry"]["disabled"], false);
    assert_eq!(
        e["directory"]["entry"]["attributes"]["departmentNumber"],
        json!([old_dept])
    );
    assert!(dn::same(
        e["directory"]["link"]["dn"].as_str().unwrap(),
        &old_dn
    ));
    assert_eq!(e["directory"]["link"]["state"], "active");
    // What a plan would do: move to the new department's OU, and why.
    let changes = e["plan"]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{e:#}");
    assert!(dn::same(changes[0]["dn"].as_str().unwrap(), &old_dn));
    assert!(dn::same(changes[0]["new_dn"].as_str().unwrap(), &new_dn));
    let why = changes[0]["reason"].as_str().unwrap();
    assert!(why.contains("move to"), "{why}");
    assert!(
        why.contains(&format!("departmentNumber ({old_dept} → {new_dept})")),
        "{why}"
    );
    // The audit: the create of the apply.
    let audit = e["audit"].as_array().unwrap();
    assert_eq!(audit.len(), 1, "{e:#}");
    assert_eq!(audit[0]["kind"], "create");
    assert_eq!(audit[0]["hr_key"], "EMP09301");
    assert_eq!(audit[0]["ok"], true);
    assert_eq!(audit[0]["run_id"], r.run_id);
    assert_eq!(runs(&fx), before, "explain records no run");
    assert!(
        dn::same(
            &fx.search("(employeeNumber=EMP09301)").await.remove(0).dn,
            &old_dn
        ),
        "nothing applied"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaver_by_status_shows_the_rule_its_result_and_the_disable() {
    let fx = Fx::new("explain-leaver", 5, "uid", STAFF_ATTRS).await;
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0);
    let id = fx.active_ids()[0];
    let key = fx.emp_no(id);
    assert!(fx.emu.terminate(id, "2026-11-30"));
    let e = explain(&fx, &key).await;

    let m = &e["mapping_result"];
    assert_eq!(m["outcome"], "mapped");
    assert_eq!(m["leaver"], true);
    assert_eq!(m["leaver_reason"], "HR says status == 'Terminated'");
    assert_eq!(m["leaver_rule"]["expression"], "status == 'Terminated'");
    assert_eq!(m["leaver_rule"]["result"], true);
    assert_eq!(
        m["leaver_rule"]["fields"],
        json!([{"field": "status", "value": "Terminated"}])
    );
    assert_eq!(
        m["leaver_rule"]["effect"],
        "a leaver: the account is disabled"
    );
    assert_eq!(m["scope"], Value::Null, "no scope_when");
    assert_eq!(hr_field(&e, "status")["value"], "Terminated");
    let changes = e["plan"]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{e:#}");
    assert_eq!(changes[0]["kind"], "disable");
    assert_eq!(changes[0]["key"], key);
    assert!(
        e["plan"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("disable "),
        "{}",
        e["plan"]["summary"]
    );
    assert_eq!(e["directory"]["entry"]["disabled"], false, "not yet");
    assert_eq!(e["directory"]["link"]["state"], "active");
    assert_eq!(e["audit"][0]["kind"], "create");
    assert!(
        fx.search("(pwdAccountLockedTime=*)").await.is_empty(),
        "nothing applied"
    );
    // IceHrm matches keys case-insensitively: the key as HR spells it finds the history.
    let lower = explain(&fx, &key.to_lowercase()).await;
    assert_eq!(lower["key"], key);
    assert_eq!(lower["audit"][0]["kind"], "create");
    assert_eq!(lower["directory"]["link"]["hr_key"], key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_out_of_scope_shows_the_scope_rule_and_that_nothing_happens() {
    let fx = Fx::new("explain-scope", 3, "uid", STAFF_ATTRS).await;
    let text = std::fs::read_to_string(&fx.cfg_path).unwrap().replace(
        "rdn_attribute = \"uid\"",
        "rdn_attribute = \"uid\"\nscope_when = \"last_name != 'Contractor'\"",
    );
    std::fs::write(&fx.cfg_path, text).unwrap();
    hire(
        &fx,
        json!({"employee_id": "EMP09500", "first_name": "Cora", "last_name": "Contractor", "work_email": "cora@example.test"}),
    );
    let e = explain(&fx, "EMP09500").await;

    assert_eq!(e["hr"]["found"], true);
    let m = &e["mapping_result"];
    assert_eq!(m["outcome"], "out_of_scope");
    assert_eq!(m["in_scope"], false);
    assert_eq!(m["dn"], Value::Null);
    assert_eq!(m["leaver"], Value::Null);
    assert_eq!(m["scope"]["expression"], "last_name != 'Contractor'");
    assert_eq!(m["scope"]["result"], false);
    assert_eq!(
        m["scope"]["fields"],
        json!([{"field": "last_name", "value": "Contractor"}])
    );
    assert!(
        m["scope"]["effect"]
            .as_str()
            .unwrap()
            .starts_with("out of scope (out_of_scope = \"ignore\")"),
        "{}",
        m["scope"]["effect"]
    );
    // Every attribute is still explained (what it would be).
    assert_eq!(format(&e, "sn")["value"], "Contractor");
    assert_eq!(e["plan"]["changes"], json!([]));
    assert!(
        e["plan"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("nothing: out of scope"),
        "{}",
        e["plan"]["summary"]
    );
    assert_eq!(e["directory"]["entry"], Value::Null);
    assert_eq!(e["directory"]["link"], Value::Null);
    // The text form says the same.
    let (code, text) = cli_async(&fx.cfg_path, &["explain", "EMP09500"], &[]).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Plan: nothing: out of scope"), "{text}");
    assert!(
        text.contains(
            "scope_when = \"last_name != 'Contractor'\" → false ← last_name: \"Contractor\""
        ),
        "{text}"
    );
}

/// Someone HR no longer has: the account today, no mapping, and what a full run would do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_gone_from_hr_shows_the_account_and_what_a_full_run_does() {
    let fx = Fx::new("explain-gone", 4, "uid", STAFF_ATTRS).await;
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0);
    let id = fx.active_ids()[0];
    let key = fx.emp_no(id);
    assert!(fx.emu.delete(id));
    let e = explain(&fx, &key).await;
    assert_eq!(e["hr"]["found"], false);
    assert_eq!(e["hr"]["complete"], true);
    assert_eq!(e["hr"]["fields"], json!([]));
    assert_eq!(e["mapping_result"], Value::Null);
    assert_eq!(e["directory"]["entry"]["key"], key);
    assert_eq!(e["plan"]["changes"], json!([]));
    let notes = e["plan"]["notes"].as_array().unwrap();
    assert!(
        notes.iter().any(|n| n.as_str().unwrap().contains(&format!(
            "HR has no record with employee_id = \"{key}\": a full run treats the account as missing from HR (lifecycle.missing_from_hr = disable, once a lookup by key confirms it)"
        ))),
        "{notes:?}"
    );
    assert_eq!(e["audit"][0]["kind"], "create");
}

/// The directory down: HR and the mapping are still explained; the directory side says why
/// it is missing, and no plan is guessed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_directory_hr_and_the_mapping_are_still_explained() {
    let fx = Fx::new("explain-nodir", 2, "uid", STAFF_ATTRS).await;
    let url = ldap_env().url;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let text = std::fs::read_to_string(&fx.cfg_path)
        .unwrap()
        .replace(&url, &format!("ldap://127.0.0.1:{closed}"));
    std::fs::write(&fx.cfg_path, text).unwrap();
    let id = fx.active_ids()[0];
    let key = fx.emp_no(id);
    let e = explain(&fx, &key).await;
    assert_eq!(e["hr"]["found"], true);
    assert_eq!(e["mapping_result"]["outcome"], "mapped");
    assert_eq!(format(&e, "uid")["value"], key.to_lowercase());
    let err = e["directory"]["error"].as_str().unwrap();
    assert!(
        err.starts_with("the directory could not be read: "),
        "{err}"
    );
    assert_eq!(e["directory"]["entry"], Value::Null);
    assert_eq!(e["plan"]["changes"], json!([]));
    assert!(
        e["plan"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("unknown: the directory could not be read"),
        "{}",
        e["plan"]["summary"]
    );
}
