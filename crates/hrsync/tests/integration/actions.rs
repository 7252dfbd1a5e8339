//! `actions` (issue 14 §7): two mappings over one IceHrm integration split the work. The full
//! one creates and disables; an update-only one keeps phones and titles current on every
//! account it matches by key, including one made by hand, without owning any.

use crate::common::*;
use hrsync_engine::{Mode, RunReport, Unattended};
use hrsync_model::{Action, ChangeKind, filter};
use hrsync_state::Store;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};

async fn run(fx: &Fx, mapping: &str, mode: Mode) -> RunReport {
    let cfg = fx.config();
    let job = cfg.job(mapping).unwrap();
    let mut store = Store::open(&cfg.state_path()).unwrap();
    hrsync_engine::run(&job, &mut store, mode, chrono::Utc::now(), &mut Unattended)
        .await
        .unwrap()
}

async fn attr(fx: &Fx, key: &str, a: &str) -> Vec<String> {
    let e = fx.search(&filter::eq("employeeNumber", key)).await;
    assert_eq!(e.len(), 1, "one account carries {key}");
    e[0].attrs.get(a).cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_only_mapping_updates_by_key_and_leaves_the_lifecycle_to_the_other() {
    let fx = Fx::new("actions", 8, "uid", STAFF_ATTRS).await;
    let ids = fx.active_ids();
    let (hand, phone, leaver) = (ids[0], ids[1], ids[2]);
    let (hand_key, phone_key, leaver_key) = (fx.emp_no(hand), fx.emp_no(phone), fx.emp_no(leaver));
    // The full mapping manages everyone but `hand`, whose account an admin made by hand.
    let text = std::fs::read_to_string(&fx.cfg_path).unwrap();
    let text = text.replace(
        "rdn_attribute = \"uid\"\n",
        &format!("rdn_attribute = \"uid\"\nscope_when = \"employee_id != '{hand_key}'\"\n"),
    );
    let phones = r#"
[[mapping]]
name = "phones"
description = "Phones and titles of every account, whoever made it"
category = "nightly"
actions = ["update"]
integration = "icehrm"
endpoint = "get_employees"
primary_key = "employee_id"
rdn_attribute = "uid"

[mapping.attributes]
uid = "{employee_id|lower}"
telephoneNumber = "{work_phone}"
title = "{job_title.display}"
"#;
    std::fs::write(&fx.cfg_path, format!("{text}{phones}")).unwrap();

    let first = run(&fx, "staff", Mode::Apply).await;
    assert_eq!(first.applied_failed, 0);
    assert!(!keys(&first, ChangeKind::Create).contains(&hand_key));
    // The hand-made account: the key attribute, a wrong title, no phone, a description.
    let hand_uid = hand_key.to_lowercase();
    let hand_dn = format!("uid={hand_uid},{}", fx.people);
    let mut ldap = admin().await;
    ldap.add(
        &hand_dn,
        vec![
            ("objectClass", HashSet::from(["inetOrgPerson"])),
            ("uid", HashSet::from([hand_uid.as_str()])),
            ("cn", HashSet::from(["Made By Hand"])),
            ("sn", HashSet::from(["Hand"])),
            ("employeeNumber", HashSet::from([hand_key.as_str()])),
            ("title", HashSet::from(["Wrong title"])),
            ("description", HashSet::from(["made by hand"])),
        ],
    )
    .await
    .unwrap()
    .success()
    .unwrap();

    // HR: new phones, a leaver, a joiner.
    fx.emu
        .update(hand, json!({"work_phone": "+49 30 1111"}))
        .unwrap();
    fx.emu
        .update(phone, json!({"work_phone": "+49 30 2222"}))
        .unwrap();
    assert!(fx.emu.terminate(leaver, "2026-11-20"));
    let joiner = fx
        .emu
        .hire(json!({"employee_id": "EMP09001", "first_name": "Jo",
        "last_name": "Iner", "work_email": "jo@example.test", "department": 2, "job_title": 5}));
    assert!(joiner.get("error").is_none(), "{joiner}");

    let staff_before = run(&fx, "staff", Mode::Plan).await;
    let staff_links = fx.store().links("staff").unwrap();
    let phone_before = attr(&fx, &phone_key, "mail").await;

    let r = run(&fx, "phones", Mode::Apply).await;
    assert_eq!(r.applied_failed, 0);
    // Only updates, and only of the attributes it maps.
    assert!(
        r.plan.changes.iter().all(|c| c.kind == ChangeKind::Update
            && c.new_dn.is_none()
            && c.attrs
                .iter()
                .all(|a| a.attr.is("telephoneNumber") || a.attr.is("title"))),
        "{:#?}",
        r.plan.changes
    );
    let updated = keys(&r, ChangeKind::Update);
    assert!(
        updated.contains(&hand_key) && updated.contains(&phone_key),
        "{updated:?}"
    );
    assert_eq!(
        r.plan.not_this_mappings_job,
        BTreeMap::from([(Action::Create, 1), (Action::Disable, 1)]),
        "the joiner and the leaver are left to the full mapping"
    );
    assert!(r.plan.orphans.is_empty() && r.plan.unconfirmed.is_empty());

    // The directory: the hand-made account updated, its other attributes as they were; the
    // joiner not created, the leaver not disabled.
    assert_eq!(
        attr(&fx, &hand_key, "telephoneNumber").await,
        ["+49 30 1111"]
    );
    let hand_title = attr(&fx, &hand_key, "title").await;
    assert!(
        !hand_title.is_empty() && hand_title != ["Wrong title"],
        "{hand_title:?}"
    );
    assert_eq!(attr(&fx, &hand_key, "description").await, ["made by hand"]);
    assert_eq!(attr(&fx, &hand_key, "cn").await, ["Made By Hand"]);
    assert_eq!(
        attr(&fx, &phone_key, "telephoneNumber").await,
        ["+49 30 2222"]
    );
    assert_eq!(attr(&fx, &phone_key, "mail").await, phone_before);
    assert!(fx.search("(employeeNumber=EMP09001)").await.is_empty());
    assert!(
        attr(&fx, &leaver_key, "pwdAccountLockedTime")
            .await
            .is_empty()
    );

    // It owns nothing: no link of its own, the full mapping's links and orphans as they were.
    let store = fx.store();
    assert!(store.links("phones").unwrap().is_empty());
    assert_eq!(store.links("staff").unwrap(), staff_links);
    let staff_after = run(&fx, "staff", Mode::Plan).await;
    assert_eq!(staff_after.plan.orphans, staff_before.plan.orphans);
    assert!(!staff_after.plan.orphans.iter().any(|o| o.key == hand_key));

    // The text plan and --json say what it left to the other mapping.
    let (code, out) = cli(&fx.cfg_path, &["plan", "--mapping", "phones"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Not this mapping's job (its actions: update;")
            && out.contains("  1 create, 1 disable")
            && out.contains("2 not this mapping's job"),
        "{out}"
    );
    let (code, out) = cli(
        &fx.cfg_path,
        &["plan", "--mapping", "phones", "--json"],
        &[],
    );
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let plan = &v["plan"];
    assert_eq!(
        plan["not_this_mappings_job"],
        json!({"create": 1, "disable": 1}),
        "{out}"
    );
    assert_eq!(plan["actions"], json!(["update"]));

    let (code, out) = cli(&fx.cfg_path, &["check"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("mapping \"phones\" (nightly; actions: update)")
            && out.contains("mapping \"staff\" (user-provisioning)"),
        "{out}"
    );
    // `explain` says it for one person: the joiner is not this mapping's to create.
    let (code, out) = cli(
        &fx.cfg_path,
        &["explain", "--mapping", "phones", "EMP09001", "--json"],
        &[],
    );
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["plan"]["changes"].as_array().unwrap().is_empty(), "{out}");
    assert!(
        v["plan"]["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains(
                "not this mapping's job (its actions: update), left to other mappings: 1 create"
            )),
        "{out}"
    );
    let (code, out) = cli(&fx.cfg_path, &["orphans", "--mapping", "phones"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("it owns none, so it has no orphans"), "{out}");

    // The full mapping does the rest: creates the joiner, disables the leaver.
    let full = run(&fx, "staff", Mode::Apply).await;
    assert_eq!(full.applied_failed, 0);
    assert!(keys(&full, ChangeKind::Create).contains("EMP09001"));
    assert!(keys(&full, ChangeKind::Disable).contains(&leaver_key));
    assert!(full.plan.not_this_mappings_job.is_empty());
}
