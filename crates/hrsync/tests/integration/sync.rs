//! End-to-end behaviour of plan/apply against the real slapd.

use crate::common::*;
use hrsync_emulator::icehrm::Fault;
use hrsync_engine::Mode;
use hrsync_model::{ChangeKind, dn, filter};
use ldap3::LdapConnAsync;
use serde_json::json;
use std::collections::HashSet;

async fn bind_as(dn: &str, pw: &str) -> u32 {
    let env = ldap_env();
    let (conn, mut ldap) = LdapConnAsync::new(&env.url).await.unwrap();
    ldap3::drive!(conn);
    ldap.simple_bind(dn, pw).await.unwrap().rc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joiner_mover_leaver_rehire_and_idempotence() {
    let fx = Fx::new("jml", 30, "uid", STAFF_ATTRS).await;
    let first = fx.run(Mode::Apply).await;
    let creates = first
        .plan
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Create)
        .count();
    let active = fx
        .emu
        .employees()
        .iter()
        .filter(|e| e["status"] == "Active")
        .count();
    assert_eq!(
        creates, active,
        "every active employee is created, terminated ones are not"
    );
    assert_eq!(first.applied_ok, creates);
    assert_eq!(first.applied_failed, 0);
    let entries = fx.search("(employeeNumber=*)").await;
    assert_eq!(entries.len(), creates);

    // Attributes come from HR as mapped.
    let id = fx.active_ids()[3];
    let emp = fx.emu.employee(id).unwrap();
    let key = fx.emp_no(id);
    let e = &fx.search(&filter::eq("employeeNumber", &key)).await[0];
    assert_eq!(
        e.attrs["cn"],
        vec![format!(
            "{} {}",
            emp["first_name"].as_str().unwrap(),
            emp["last_name"].as_str().unwrap()
        )]
    );
    assert_eq!(
        e.attrs["mail"],
        vec![emp["work_email"].as_str().unwrap().to_string()]
    );
    assert_eq!(
        e.attrs["departmentNumber"],
        vec![emp["department"]["display"].as_str().unwrap().to_string()]
    );
    assert_eq!(e.dn, format!("uid={},{}", key.to_lowercase(), fx.people));

    // Idempotent: a second run right after plans nothing.
    let again = fx.run(Mode::Plan).await;
    assert!(
        again.plan.changes.is_empty(),
        "second plan: {:?}",
        kinds(&again)
    );
    assert_eq!(again.plan.unchanged, creates);

    // Mover: last name and department change → one update with exactly those attributes.
    let old_dept = emp["department"]["id"].as_i64().unwrap();
    let new_dept = if old_dept == 3 { 4 } else { 3 };
    fx.emu
        .update(id, json!({"last_name": "Newname", "department": new_dept}))
        .unwrap();
    let moved = fx.run(Mode::Apply).await;
    assert_eq!(kinds(&moved), vec![("update".to_string(), key.clone())]);
    let attrs: Vec<&str> = moved.plan.changes[0]
        .attrs
        .iter()
        .map(|a| a.attr.as_str())
        .collect();
    assert_eq!(attrs, vec!["cn", "departmentNumber", "sn"]);
    let sn = &moved.plan.changes[0].attrs[2];
    assert_eq!(
        sn.before,
        vec![emp["last_name"].as_str().unwrap().to_string()]
    );
    assert_eq!(sn.after, vec!["Newname".to_string()]);
    let e = &fx.search(&filter::eq("employeeNumber", &key)).await[0];
    assert_eq!(e.attrs["sn"], vec!["Newname"]);
    assert_ne!(
        e.attrs["departmentNumber"],
        vec![emp["department"]["display"].as_str().unwrap().to_string()]
    );

    // Leaver: the account gets a real ppolicy lock; binding stops working.
    let leaver = fx.active_ids()[5];
    let lkey = fx.emp_no(leaver);
    let ldn = fx.search(&filter::eq("employeeNumber", &lkey)).await[0]
        .dn
        .clone();
    let mut ldap = admin().await;
    ldap.modify(
        &ldn,
        vec![ldap3::Mod::Replace(
            "userPassword",
            HashSet::from(["Leaver-Pass-1"]),
        )],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    assert_eq!(bind_as(&ldn, "Leaver-Pass-1").await, 0);
    assert!(fx.emu.terminate(leaver, "2026-11-20"));
    let left = fx.run(Mode::Apply).await;
    assert_eq!(kinds(&left), vec![("disable".to_string(), lkey.clone())]);
    assert!(left.plan.changes[0].reason.contains("Terminated"));
    let e = &fx.search(&filter::eq("employeeNumber", &lkey)).await[0];
    assert_eq!(e.attrs["pwdAccountLockedTime"], vec!["000001010000Z"]);
    assert_eq!(
        bind_as(&ldn, "Leaver-Pass-1").await,
        49,
        "a disabled account cannot bind"
    );
    // the hand-set password is not a mapped attribute and survives
    assert!(fx.run(Mode::Plan).await.plan.changes.is_empty());

    // Rehire: back to Active → enabled again.
    fx.emu
        .update(
            leaver,
            json!({"status": "Active", "termination_date": null}),
        )
        .unwrap();
    let back = fx.run(Mode::Apply).await;
    assert_eq!(kinds(&back), vec![("enable".to_string(), lkey.clone())]);
    assert_eq!(bind_as(&ldn, "Leaver-Pass-1").await, 0);

    // Everything is in the audit with before/after.
    let audit = fx.store().audit(None, Some(&key), 10).unwrap();
    assert!(
        audit
            .iter()
            .any(|r| r.kind == "update" && r.ok && r.attrs.to_string().contains("Newname"))
    );
    let runs = fx.store().runs(100).unwrap();
    assert!(runs.iter().all(|r| r.status == "ok"), "{runs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_name_is_escaped_in_dn_and_filters() {
    let fx = Fx::new("hostile", 3, "cn", STAFF_ATTRS).await;
    let last = r"O'Brien, Jr. (Ops)*\";
    let key = "EMP-X*)(uid=*";
    fx.emu.hire(
        json!({"employee_id": key, "first_name": "Zoë Ånné", "last_name": last,
        "work_email": "zoe@example.test", "department": 2, "job_title": 5}),
    );
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", r.plan.changes);
    let cn = format!("Zoë Ånné {last}");
    let found = fx.search(&filter::eq("cn", &cn)).await;
    assert_eq!(
        found.len(),
        1,
        "the escaped filter matches exactly the hostile entry"
    );
    let parsed = dn::Dn::parse(&found[0].dn).unwrap();
    assert_eq!(parsed.leaf().unwrap().value, cn);
    assert_eq!(found[0].attrs["employeeNumber"], vec![key]);
    let by_key = fx.search(&filter::eq("employeeNumber", key)).await;
    assert_eq!(by_key.len(), 1, "the key's `*)(` did not widen the filter");
    // the engine's own lookup path escapes too
    let cfg = fx.config();
    let job = cfg.job("staff").unwrap();
    let dir = hrsync_directory::Directory::connect(job.directory.clone())
        .await
        .unwrap();
    assert_eq!(dir.find_by("cn", &cn).await.unwrap().len(), 1);
    assert_eq!(
        dir.find_by("cn", "*").await.unwrap().len(),
        0,
        "a literal * matches no one"
    );
    // and the DN as the server returns it maps back to the same person: nothing to do
    let again = fx.run(Mode::Plan).await;
    assert!(again.plan.changes.is_empty(), "{:?}", again.plan.changes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_missing_a_mapped_field_is_reported_and_the_rest_apply() {
    let fx = Fx::new("missing", 12, "uid", STAFF_ATTRS).await;
    let bad = fx.emu.hire(
        json!({"employee_id": "EMP-NOSN", "first_name": "Solo", "last_name": null,
        "work_email": "solo@example.test", "department": 2}),
    );
    assert!(bad["last_name"].is_null());
    let r = fx.run(Mode::Apply).await;
    let f: Vec<_> = r
        .plan
        .findings
        .iter()
        .filter(|f| f.subject.contains("EMP-NOSN"))
        .collect();
    assert!(!f.is_empty(), "{:?}", r.plan.findings);
    assert!(
        f.iter()
            .any(|f| f.field.as_deref() == Some("sn") && f.message.contains("last_name")),
        "{f:?}"
    );
    let active = fx
        .emu
        .employees()
        .iter()
        .filter(|e| e["status"] == "Active")
        .count();
    assert_eq!(r.applied_ok, active - 1, "everyone else was created");
    assert!(fx.search("(employeeNumber=EMP-NOSN)").await.is_empty());
    // once HR is fixed, the next run creates the person
    let id = bad["id"].as_i64().unwrap();
    fx.emu.update(id, json!({"last_name": "Fixed"})).unwrap();
    let r = fx.run(Mode::Apply).await;
    assert_eq!(
        kinds(&r),
        vec![("create".to_string(), "EMP-NOSN".to_string())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_fetch_halfway_produces_no_leavers() {
    let fx = Fx::new("halfway", 30, "uid", STAFF_ATTRS).await;
    let first = fx.run(Mode::Apply).await;
    assert!(first.plan.fetch.complete);
    // One person terminated, one deleted from HR; then page 2 of 3 fails (after retries).
    let ids = fx.active_ids();
    fx.emu.terminate(ids[2], "2026-11-20");
    assert!(fx.emu.delete(ids[ids.len() - 3]));
    fx.emu.set_fault(Fault::FailListPage {
        page: 2,
        status: 500,
    });
    let r = fx.run(Mode::Apply).await;
    assert!(!r.plan.fetch.complete);
    assert!(
        r.plan.fetch.error.as_deref().unwrap().contains("page 2"),
        "{:?}",
        r.plan.fetch.error
    );
    assert!(!r.plan.leavers_allowed);
    assert!(r.plan.leavers_withheld >= 1);
    assert!(
        r.plan.changes.iter().all(|c| c.kind != ChangeKind::Disable),
        "{:?}",
        kinds(&r)
    );
    assert!(
        fx.search("(pwdAccountLockedTime=*)").await.is_empty(),
        "nobody was disabled"
    );

    // Malformed JSON on the last page is the same: incomplete, no leavers.
    fx.emu.clear_faults();
    fx.emu.set_fault(Fault::MalformedListPage { page: 3 });
    let r = fx.run(Mode::Apply).await;
    assert!(!r.plan.fetch.complete);
    assert!(r.plan.changes.iter().all(|c| c.kind != ChangeKind::Disable));
    assert!(fx.search("(pwdAccountLockedTime=*)").await.is_empty());

    // A complete fetch then acts on both leavers.
    fx.emu.clear_faults();
    let r = fx.run(Mode::Apply).await;
    assert!(r.plan.fetch.complete);
    let mut disabled: Vec<String> = r
        .plan
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Disable)
        .map(|c| c.key.clone())
        .collect();
    disabled.sort();
    assert_eq!(disabled.len(), 2, "{:?}", kinds(&r));
    assert_eq!(fx.search("(pwdAccountLockedTime=*)").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_keeps_the_link_and_name_collisions_are_findings() {
    let attrs = STAFF_ATTRS.replace(
        r#"uid = "{employee_id|lower}""#,
        r#"uid = "{first_name|login}.{last_name|login}""#,
    );
    let fx = Fx::new("rename", 5, "uid", &attrs).await;
    fx.emu.hire(json!({"employee_id": "EMP-A1", "first_name": "Ana", "last_name": "Lima", "work_email": "a1@example.test"}));
    fx.emu.hire(json!({"employee_id": "EMP-A2", "first_name": "Ana", "last_name": "Lima", "work_email": "a2@example.test"}));
    let r = fx.run(Mode::Apply).await;
    assert!(
        r.plan
            .changes
            .iter()
            .any(|c| c.key == "EMP-A1" && c.kind == ChangeKind::Create)
    );
    assert!(!r.plan.changes.iter().any(|c| c.key == "EMP-A2"));
    assert!(
        r.plan
            .findings
            .iter()
            .any(|f| f.subject == "EMP-A2" && f.message.contains("also wanted by key EMP-A1")),
        "{:?}",
        r.plan.findings
    );

    let id = fx.active_ids()[1];
    let key = fx.emp_no(id);
    let before = fx
        .search(&filter::eq("employeeNumber", &key))
        .await
        .remove(0);
    let uuid = before.attrs["entryUUID"][0].clone();
    fx.emu
        .update(id, json!({"last_name": "Marriedname"}))
        .unwrap();
    let r = fx.run(Mode::Apply).await;
    let c = r.plan.changes.iter().find(|c| c.key == key).unwrap();
    let new_dn = c.new_dn.clone().expect("a rename");
    assert!(new_dn.contains(".marriedname,"), "{new_dn}");
    let after = fx.search(&filter::eq("entryUUID", &uuid)).await.remove(0);
    assert!(dn::same(&after.dn, &new_dn));
    assert_eq!(after.attrs["sn"], vec!["Marriedname"]);
    let links = fx.store().links("staff").unwrap();
    assert!(dn::same(&links[&key].dn, &new_dn));
    assert_eq!(links[&key].uuid.as_deref(), Some(uuid.as_str()));
    let r = fx.run(Mode::Plan).await;
    assert!(
        !r.plan.changes.iter().any(|c| c.key == key),
        "{:?}",
        kinds(&r)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_drop_in_hr_records_withholds_leavers_until_accepted() {
    let fx = Fx::new("drop", 30, "uid", STAFF_ATTRS).await;
    let first = fx.run(Mode::Apply).await;
    assert!(first.plan.leavers_allowed);
    // 10 of 30 people vanish from HR at once (33% > the default 20%).
    let gone: Vec<i64> = fx.active_ids().into_iter().rev().take(10).collect();
    for id in &gone {
        assert!(fx.emu.delete(*id));
    }
    let r = fx.run(Mode::Apply).await;
    assert!(r.plan.fetch.complete);
    assert!(!r.plan.leavers_allowed);
    assert!(
        r.plan.changes.iter().all(|c| c.kind != ChangeKind::Disable),
        "{:?}",
        kinds(&r)
    );
    assert_eq!(r.plan.leavers_withheld, 10);
    let why = r.plan.leavers_withheld_reason.clone().unwrap();
    assert!(
        why.contains("fewer than the last good fetch (30)") && why.contains("--accept-drop"),
        "{why}"
    );
    // the suspect fetch did not become the new baseline
    let again = fx.run(Mode::Plan).await;
    assert_eq!(again.plan.leavers_withheld, 10);
    // accepted: the ten are disabled, and the smaller count is the new baseline
    let ok = fx.run_accepting_drop(Mode::Apply).await;
    assert_eq!(
        ok.plan
            .changes
            .iter()
            .filter(|c| c.kind == ChangeKind::Disable)
            .count(),
        10
    );
    assert!(ok.plan.fetch.notes.iter().any(|n| n.contains("accepted")));
    assert_eq!(fx.search("(pwdAccountLockedTime=*)").await.len(), 10);
    assert!(fx.run(Mode::Plan).await.plan.leavers_allowed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ou_rule_places_and_moves_entries_keeping_the_entry_uuid() {
    let fx = Fx::new("ou-rule", 12, "uid", STAFF_ATTRS).await;
    let text = std::fs::read_to_string(&fx.cfg_path).unwrap().replace(
        "rdn_attribute = \"uid\"",
        "rdn_attribute = \"uid\"\nou = [\"{department.display}\"]",
    );
    std::fs::write(&fx.cfg_path, text).unwrap();
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0);
    let id = fx.active_ids()[0];
    let emp = fx.emu.employee(id).unwrap();
    let uid = fx.emp_no(id).to_lowercase();
    let dept = emp["department"]["display"].as_str().unwrap().to_string();
    let e = fx.search(&format!("(uid={uid})")).await.remove(0);
    let want = hrsync_model::dn::child("ou", &dept, &fx.people);
    assert!(
        hrsync_model::dn::same(
            &hrsync_model::dn::Dn::parse(&e.dn)
                .unwrap()
                .parent()
                .to_string(),
            &want
        ),
        "{} under {want}",
        e.dn
    );
    let uuid = e.attrs["entryUUID"][0].clone();
    assert!(fx.run(Mode::Plan).await.plan.changes.is_empty());

    let old_dept = emp["department"]["id"].as_i64().unwrap();
    let new_dept = if old_dept == 3 { 4 } else { 3 };
    fx.emu.update(id, json!({"department": new_dept})).unwrap();
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0);
    assert_eq!(r.plan.changes.len(), 1);
    let why = &r.plan.changes[0].reason;
    assert!(why.contains("move to"), "{why}");
    // The reason names the old and new value: "departmentNumber (Sales → Finance)".
    let new_name = fx.emu.employee(id).unwrap()["department"]["display"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        why.contains(&format!("departmentNumber ({dept} → {new_name})")),
        "{why}"
    );
    let moved = fx.search(&format!("(uid={uid})")).await.remove(0);
    assert_ne!(moved.dn.to_lowercase(), e.dn.to_lowercase());
    assert_eq!(moved.attrs["entryUUID"][0], uuid, "a move keeps the entry");
    assert!(fx.run(Mode::Plan).await.plan.changes.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_only_attributes_are_set_once_and_then_left_alone() {
    let attrs = STAFF_ATTRS.replace(
        "mail = \"{work_email}\"",
        "mail = { format = \"{work_email}\", on = \"create\" }",
    );
    assert!(attrs.contains("on = \"create\""));
    let fx = Fx::new("create-only", 6, "uid", &attrs).await;
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0);
    let id = fx.active_ids()[0];
    let uid = fx.emp_no(id).to_lowercase();
    let e = fx.search(&format!("(uid={uid})")).await.remove(0);
    let first_mail = e.attrs["mail"][0].clone();
    // HR changes the address, and IT sets another one by hand: hrsync keeps out of it.
    fx.emu
        .update(
            id,
            json!({"work_email": "changed.in.hr@example.test", "last_name": "Okafor"}),
        )
        .unwrap();
    let mut ldap = admin().await;
    ldap.modify(
        &e.dn,
        vec![ldap3::Mod::Replace(
            "mail",
            HashSet::from(["set.by.it@example.test"]),
        )],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.plan.changes.len(), 1, "{:?}", r.plan.changes);
    assert!(
        r.plan.changes[0].attrs.iter().all(|a| !a.attr.is("mail")),
        "{:?}",
        r.plan.changes[0].attrs
    );
    let e = fx.search(&format!("(uid={uid})")).await.remove(0);
    assert_eq!(e.attrs["mail"], vec!["set.by.it@example.test".to_string()]);
    assert_ne!(first_mail, "set.by.it@example.test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mass_disable_over_the_threshold_is_held_until_confirmed() {
    let fx = Fx::new("blast-radius", 20, "uid", STAFF_ATTRS).await;
    let text = std::fs::read_to_string(&fx.cfg_path).unwrap()
        + "\n[lifecycle]\nthresholds = { disable = { percent = 10 } }\n";
    std::fs::write(&fx.cfg_path, text).unwrap();
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0);
    let managed = r.plan.summary().create;
    // 40% of the accounts leave at once, plus one ordinary update.
    let ids = fx.active_ids();
    let n = (managed * 4).div_ceil(10);
    let leaving: Vec<String> = ids[..n].iter().map(|&i| fx.emp_no(i)).collect();
    for &i in &ids[..n] {
        assert!(fx.emu.terminate(i, "2026-11-20"));
    }
    fx.emu
        .update(ids[n], json!({"last_name": "Ramírez"}))
        .unwrap();
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.plan.held.len(), n, "{:?}", r.plan.held_reasons);
    assert!(r.plan.held_reasons[0].contains("over lifecycle.thresholds.disable"));
    assert_eq!(
        r.plan.changes.len(),
        1,
        "the safe part (the update) goes ahead"
    );
    assert_eq!(r.applied_ok, 1);
    let locked = fx.search("(pwdAccountLockedTime=*)").await;
    assert!(locked.is_empty(), "nobody disabled yet");
    let held_run = r.run_id;
    assert!(hrsync_plan::render_text(&r.plan, true, None).contains("= held disable"));

    // Confirmation releases exactly what that run held.
    let stored = fx.store().plan_of(held_run).unwrap().unwrap();
    let confirmed = hrsync_engine::guards::held_tokens(&stored);
    let r = fx
        .run_with(
            Mode::Apply,
            hrsync_engine::RunOptions {
                confirmed_held: confirmed,
                ..Default::default()
            },
        )
        .await;
    assert!(r.plan.held.is_empty(), "{:?}", r.plan.held_reasons);
    let disabled: HashSet<String> = r
        .plan
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Disable)
        .map(|c| c.key.clone())
        .collect();
    assert_eq!(disabled, leaving.iter().cloned().collect());
    assert_eq!(r.applied_failed, 0);
    assert_eq!(fx.search("(pwdAccountLockedTime=*)").await.len(), n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_excludes_people_and_out_of_scope_is_explicit() {
    let fx = Fx::new("scoping", 8, "uid", STAFF_ATTRS).await;
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0);
    let base = std::fs::read_to_string(&fx.cfg_path).unwrap();
    let with_scope = |action: &str| {
        base.replace(
            "rdn_attribute = \"uid\"",
            &format!(
                "rdn_attribute = \"uid\"\nscope_when = \"first_name != 'Contractor'\"\nout_of_scope = \"{action}\""
            ),
        )
    };
    let id = fx.active_ids()[0];
    let key = fx.emp_no(id);
    // Person A leaves the scope (and changes in HR); a contractor is hired.
    fx.emu
        .update(id, json!({"first_name": "Contractor"}))
        .unwrap();
    fx.emu.hire(json!({"employee_id": "EMP07777", "first_name": "Contractor", "last_name": "Temp", "work_email": "temp@example.test", "department": 3, "job_title": 2, "supervisor": 1, "joined_date": "2026-11-23"}));
    std::fs::write(&fx.cfg_path, with_scope("ignore")).unwrap();
    let r = fx.run(Mode::Apply).await;
    assert!(
        r.plan.changes.is_empty(),
        "ignored: not updated, not disabled, not created: {:?}",
        r.plan.changes
    );
    assert!(r.plan.findings.is_empty());

    std::fs::write(&fx.cfg_path, with_scope("disable")).unwrap();
    let r = fx.run(Mode::Apply).await;
    let k: Vec<(ChangeKind, &str)> = r
        .plan
        .changes
        .iter()
        .map(|c| (c.kind, c.key.as_str()))
        .collect();
    assert_eq!(
        k,
        vec![(ChangeKind::Disable, key.as_str())],
        "the contractor hire is still not created"
    );
    assert!(
        r.plan.changes[0].reason.contains("out of scope"),
        "{}",
        r.plan.changes[0].reason
    );
    assert_eq!(r.applied_failed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_hires_and_future_dated_terminations_follow_the_calendar() {
    let fx = Fx::new("effective-dates", 6, "uid", STAFF_ATTRS).await;
    let text = std::fs::read_to_string(&fx.cfg_path).unwrap().replace(
        "rdn_attribute = \"uid\"",
        "rdn_attribute = \"uid\"\nstart_date = \"{joined_date}\"\nprehire_days = 14\nend_date = \"{termination_date}\"",
    );
    std::fs::write(&fx.cfg_path, text).unwrap();
    let now = chrono::Utc::now();
    let day = |n: i64| {
        (now + chrono::Duration::days(n))
            .format("%Y-%m-%d")
            .to_string()
    };
    let r = fx.run_at(Mode::Apply, now).await;
    assert_eq!(r.applied_failed, 0);

    // A hire starting in 7 days (inside the 14-day window) and one in 30 days (outside).
    fx.emu.hire(
        json!({"employee_id": "EMP06001", "first_name": "Pre", "last_name": "Hire",
        "work_email": "pre@example.test", "department": 2, "job_title": 5, "joined_date": day(7)}),
    );
    fx.emu.hire(
        json!({"employee_id": "EMP06002", "first_name": "Far", "last_name": "Future",
        "work_email": "far@example.test", "department": 2, "job_title": 5, "joined_date": day(30)}),
    );
    // A termination dated next week.
    let leaver = fx.active_ids()[0];
    let leaver_key = fx.emp_no(leaver);
    assert!(fx.emu.terminate(leaver, &day(7)));

    let r = fx.run_at(Mode::Apply, now).await;
    let k: Vec<(ChangeKind, &str)> = r
        .plan
        .changes
        .iter()
        .map(|c| (c.kind, c.key.as_str()))
        .collect();
    assert_eq!(
        k,
        vec![(ChangeKind::CreateDisabled, "EMP06001")],
        "nothing else today"
    );
    let pre = fx.search("(employeeNumber=EMP06001)").await.remove(0);
    assert!(
        pre.attrs.contains_key("pwdAccountLockedTime"),
        "created locked"
    );
    assert!(fx.search("(employeeNumber=EMP06002)").await.is_empty());

    // In 3 days: still nothing to do.
    let r = fx
        .run_at(Mode::Apply, now + chrono::Duration::days(3))
        .await;
    assert!(r.plan.changes.is_empty(), "{:?}", r.plan.changes);

    // On the day: the pre-hire is enabled and the leaver disabled.
    let r = fx
        .run_at(Mode::Apply, now + chrono::Duration::days(7))
        .await;
    let mut k: Vec<(ChangeKind, String)> = r
        .plan
        .changes
        .iter()
        .map(|c| (c.kind, c.key.clone()))
        .collect();
    k.sort();
    assert_eq!(
        k,
        vec![
            (ChangeKind::Enable, "EMP06001".to_string()),
            (ChangeKind::Disable, leaver_key.clone())
        ]
    );
    let d = r
        .plan
        .changes
        .iter()
        .find(|c| c.kind == ChangeKind::Disable)
        .unwrap();
    assert!(
        d.reason.contains(&format!("terminated {}", day(7))),
        "{}",
        d.reason
    );
    assert_eq!(r.applied_failed, 0);
    let pre = fx.search("(employeeNumber=EMP06001)").await.remove(0);
    assert!(!pre.attrs.contains_key("pwdAccountLockedTime"));
    // The far-future hire enters the window 14 days before its start.
    let r = fx
        .run_at(Mode::Plan, now + chrono::Duration::days(16))
        .await;
    assert!(
        r.plan
            .changes
            .iter()
            .any(|c| c.kind == ChangeKind::CreateDisabled && c.key == "EMP06002")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ldif_export_applied_by_ldapmodify_gives_the_same_directory() {
    let fx = Fx::new("ldif-export", 6, "uid", STAFF_ATTRS).await;
    // A hostile name, so the export must base64 and escape.
    let id = fx.active_ids()[0];
    fx.emu
        .update(
            id,
            json!({"first_name": "Zoë", "last_name": "O'Brien, Jr. (Ops)"}),
        )
        .unwrap();
    let r = fx.run(Mode::Plan).await;
    let creates = r.plan.summary().create;
    assert!(creates > 0);
    let ldif = hrsync_plan::render_ldif(&r.plan, &["inetOrgPerson".to_string()]);
    assert!(
        ldif.contains("changetype: add") && ldif.contains("cn:: "),
        "{ldif}"
    );
    let path = fx.dir.path().join("plan.ldif");
    std::fs::write(&path, &ldif).unwrap();
    let env = ldap_env();
    let out = std::process::Command::new("ldapmodify")
        .args([
            "-x",
            "-H",
            &env.url,
            "-D",
            &env.bind_dn,
            "-w",
            &env.password,
            "-f",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // hrsync now finds everything it would have created: nothing left to do.
    let again = fx.run(Mode::Plan).await;
    assert!(again.plan.changes.is_empty(), "{:?}", again.plan.changes);
    assert_eq!(again.plan.unchanged, creates);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_uid_candidates_on_openldap() {
    let attrs = STAFF_ATTRS
        .replace(
            "uid = \"{employee_id|lower}\"",
            "uid = { format = \"{first_name|translit('de')|login}\", unique = true, candidates = [\"{first_name|translit('de')|login}.{last_name|translit('de')|login}\"], max_length = 12 }",
        )
        .replace(
            "cn = { format = \"{first_name} {last_name}\", required = true }",
            "cn = { format = \"{first_name} {last_name} {employee_id}\", required = true }",
        );
    let fx = Fx::new("unique-ldap", 2, "cn", &attrs).await;
    // Names are unique across the whole directory (and earlier test runs): a fresh first name.
    let tag: String = (0..3).map(|_| fastrand::lowercase()).collect();
    let first = format!("Jürgen{tag}");
    let base = format!("juergen{tag}");
    for n in 1..=3 {
        fx.emu.hire(json!({"employee_id": format!("EMP0710{n}"), "first_name": first,
            "last_name": "Weißmüller", "work_email": format!("j{n}@example.test"), "department": 2, "job_title": 5}));
    }
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0);
    let uid = |key: &str| {
        r.plan
            .changes
            .iter()
            .find(|c| c.key == key)
            .and_then(|c| c.attrs.iter().find(|a| a.attr.is("uid")))
            .map(|a| a.after[0].clone())
            .unwrap()
    };
    // juergenxyz, then juergenxyz.w (cut to 12), then juergenxyz.2 (the suffix within 12).
    assert_eq!(uid("EMP07101"), base);
    assert_eq!(uid("EMP07102"), format!("{base}.w"));
    assert_eq!(uid("EMP07103"), format!("{base}.2"));
    assert_eq!(fx.search(&format!("(uid={base}.2)")).await.len(), 1);
    assert!(
        fx.run(Mode::Plan).await.plan.changes.is_empty(),
        "names are kept"
    );
}

/// Issue 11 §6: the first plan right after a large apply spent its time recording the new
/// accounts' `entryUUID` links. The add now asks for the id in its answer (RFC 4527 post-read),
/// so apply stores complete links and the next plan has none to record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_links_new_accounts_by_entry_uuid_at_once() {
    let fx = Fx::new("postread", 25, "uid", STAFF_ATTRS).await;
    let first = fx.run(Mode::Apply).await;
    assert!(first.applied_ok > 0);
    assert_eq!(first.applied_failed, 0);
    let links = fx.store().links("staff").unwrap();
    let entries = fx.search("(employeeNumber=*)").await;
    assert_eq!(entries.len(), first.applied_ok);
    for e in &entries {
        let key = &e.attrs["employeeNumber"][0];
        let uuid = &e.attrs["entryUUID"][0];
        let link = links
            .get(key)
            .unwrap_or_else(|| panic!("{key} has no link"));
        assert_eq!(
            link.uuid.as_deref(),
            Some(uuid.as_str()),
            "{key}: apply recorded the entry's entryUUID"
        );
    }
    // The next plan observes the same links: nothing to record, nothing to change.
    let before = fx.store().links("staff").unwrap();
    let again = fx.run(Mode::Plan).await;
    assert!(again.plan.changes.is_empty(), "{:?}", again.plan.changes);
    assert_eq!(fx.store().links("staff").unwrap(), before);
}
