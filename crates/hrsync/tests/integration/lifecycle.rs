//! Issue 5 on OpenLDAP: rehires under a new key (secondary matching), the review list with
//! remembered decisions, managers resolved from HR supervisor ids (including managers hired in
//! the same run) and reporting cycles; an unmapped attribute set by hand survives it all.

use crate::common::*;
use hrsync_engine::Mode;
use hrsync_model::ChangeKind;
use serde_json::json;
use std::collections::HashSet;

const ATTRS: &str = r#"
manager = { format = "{supervisor.id}", refers_to = "person", by = "{id}" }
"#;

async fn lifecycle_fx(name: &str) -> Fx {
    let fx = Fx::new(name, 10, "uid", &format!("{STAFF_ATTRS}{ATTRS}")).await;
    let text = std::fs::read_to_string(&fx.cfg_path).unwrap().replace(
        "rdn_attribute = \"uid\"",
        "rdn_attribute = \"uid\"\nmatch_on = [\"mail\"]",
    );
    std::fs::write(&fx.cfg_path, text).unwrap();
    fx
}

/// The entry of HR key `key` (employeeNumber).
async fn entry(fx: &Fx, key: &str) -> Option<ldap3::SearchEntry> {
    fx.search(&format!("(employeeNumber={key})"))
        .await
        .into_iter()
        .next()
}

fn hire(fx: &Fx, key: &str, first: &str, mail: &str, supervisor: Option<i64>) -> i64 {
    let mut v = json!({"employee_id": key, "first_name": first, "last_name": "Lind",
        "work_email": mail, "department": 2, "job_title": 5, "joined_date": "2026-11-01"});
    if let Some(s) = supervisor {
        v["supervisor"] = json!(s);
    }
    let r = fx.emu.hire(v);
    r["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("hire {key}: {r}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managers_are_resolved_in_the_same_run_and_cycles_are_findings() {
    let fx = lifecycle_fx("managers").await;
    // A manager and two reports hired together; the reports' rows come first in HR.
    let boss = hire(&fx, "EMP09100", "Maja", "maja@example.test", None);
    let r1 = hire(&fx, "EMP09101", "Rolf", "rolf@example.test", Some(boss));
    hire(&fx, "EMP09102", "Rita", "rita@example.test", Some(boss));
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", r.plan.findings);
    let boss_dn = entry(&fx, "EMP09100").await.unwrap().dn;
    for k in ["EMP09101", "EMP09102"] {
        let e = entry(&fx, k).await.unwrap();
        assert_eq!(e.attrs["manager"], vec![boss_dn.clone()], "{k}");
    }
    // Everyone generated with a supervisor who is also in the directory has them as manager.
    let mut checked = 0;
    for emp in fx.emu.employees() {
        let (Some(key), Some(sup)) = (
            emp["employee_id"].as_str(),
            emp["supervisor"]["id"].as_i64(),
        ) else {
            continue;
        };
        let (Some(e), Some(m)) = (entry(&fx, key).await, entry(&fx, &fx.emp_no(sup)).await) else {
            continue;
        };
        assert_eq!(e.attrs.get("manager"), Some(&vec![m.dn.clone()]), "{key}");
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} people with managers checked");

    // A hand-set, unmapped attribute survives syncs that change the entry.
    let rolf = entry(&fx, "EMP09101").await.unwrap();
    let mut ldap = admin().await;
    ldap.modify(
        &rolf.dn,
        vec![ldap3::Mod::Replace(
            "telephoneNumber",
            HashSet::from(["+49 30 1234"]),
        )],
    )
    .await
    .unwrap()
    .success()
    .unwrap();

    // Rolf and Maja now report to each other: a cycle. Reported once, nobody's manager
    // changes; Rita moves to Rolf's team in the same run.
    fx.emu
        .update(boss, json!({"supervisor": r1, "last_name": "Lind-Berg"}))
        .unwrap();
    let rita = fx
        .emu
        .employees()
        .into_iter()
        .find(|e| e["employee_id"] == "EMP09102")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    fx.emu.update(rita, json!({"supervisor": r1})).unwrap();
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0);
    let cycles: Vec<_> = r
        .plan
        .findings
        .iter()
        .filter(|f| f.message.contains("cycle"))
        .collect();
    assert_eq!(cycles.len(), 1, "{:?}", r.plan.findings);
    assert!(
        cycles[0].message.contains("EMP09100 → EMP09101 → EMP09100"),
        "{}",
        cycles[0].message
    );
    let maja = r.plan.changes.iter().find(|c| c.key == "EMP09100").unwrap();
    assert!(
        maja.attrs.iter().all(|a| !a.attr.is("manager")),
        "the cycle changes no manager: {:?}",
        maja.attrs
    );
    let rita_change = r.plan.changes.iter().find(|c| c.key == "EMP09102").unwrap();
    assert!(
        rita_change.reason.contains("manager"),
        "{}",
        rita_change.reason
    );
    let rolf = entry(&fx, "EMP09101").await.unwrap();
    assert_eq!(
        entry(&fx, "EMP09102").await.unwrap().attrs["manager"],
        vec![rolf.dn.clone()]
    );
    assert_eq!(
        rolf.attrs["telephoneNumber"],
        vec!["+49 30 1234".to_string()]
    );
    assert_eq!(
        rolf.attrs["manager"],
        vec![boss_dn],
        "unchanged by the cycle"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rehire_under_a_new_key_reuses_the_account_and_ambiguity_goes_to_review() {
    let fx = lifecycle_fx("rehire-review").await;
    let ann = hire(&fx, "EMP09200", "Ann", "ann@example.test", None);
    let bea = hire(&fx, "EMP09201", "Bea", "bea@example.test", None);
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0);
    let ann_uuid = entry(&fx, "EMP09200").await.unwrap().attrs["entryUUID"][0].clone();
    // Both leave; the old records stay in HR as terminated.
    assert!(fx.emu.terminate(ann, "2026-11-20"));
    assert!(fx.emu.terminate(bea, "2026-11-20"));
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.plan.summary().disable, 2);

    // Ann comes back under a new employee number: her old account is re-enabled and takes
    // the new key — no second account.
    hire(&fx, "EMP09300", "Ann", "ann@example.test", None);
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0);
    let k: Vec<(ChangeKind, &str)> = r
        .plan
        .changes
        .iter()
        .map(|c| (c.kind, c.key.as_str()))
        .collect();
    assert_eq!(k, vec![(ChangeKind::Enable, "EMP09300")]);
    assert!(
        r.plan.changes[0].reason.contains("mail=ann@example.test"),
        "{}",
        r.plan.changes[0].reason
    );
    let e = entry(&fx, "EMP09300").await.unwrap();
    assert_eq!(e.attrs["entryUUID"][0], ann_uuid, "the same account");
    assert!(!e.attrs.contains_key("pwdAccountLockedTime"), "re-enabled");
    assert!(entry(&fx, "EMP09200").await.is_none());
    assert_eq!(fx.search("(givenName=Ann)").await.len(), 1);
    let links = fx.store().links("staff").unwrap();
    assert!(links.contains_key("EMP09300") && !links.contains_key("EMP09200"));
    let r = fx.run(Mode::Apply).await;
    assert!(r.plan.changes.is_empty(), "converged: {:?}", r.plan.changes);

    // Bea's old account and another disabled account both carry her address (set by hand):
    // her rehire is ambiguous — reviewed, nothing created, nothing changed.
    let other = entry(&fx, &fx.emp_no(fx.active_ids()[0])).await.unwrap();
    let mut ldap = admin().await;
    ldap.modify(
        &other.dn,
        vec![ldap3::Mod::Replace(
            "mail",
            HashSet::from(["bea@example.test"]),
        )],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    let other_key = other.attrs["employeeNumber"][0].clone();
    // (that person leaves HR, so their account is unclaimed)
    let other_id = fx
        .emu
        .employees()
        .into_iter()
        .find(|e| e["employee_id"] == other_key.as_str())
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert!(fx.emu.delete(other_id));
    let before = fx.search("(objectClass=inetOrgPerson)").await.len();
    hire(&fx, "EMP09301", "Bea", "bea@example.test", None);
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.plan.review.len(), 1, "{:?}", r.plan.review);
    assert_eq!(r.plan.review[0].key, "EMP09301");
    assert_eq!(r.plan.review[0].candidates.len(), 2);
    assert!(
        r.plan
            .changes
            .iter()
            .all(|c| c.key != "EMP09301" && c.key != other_key),
        "nothing for the reviewed person, and the candidate is not disabled meanwhile: {:?}",
        r.plan.changes
    );
    assert_eq!(fx.search("(objectClass=inetOrgPerson)").await.len(), before);
    assert!(hrsync_plan::render_text(&r.plan, true, None).contains("? review EMP09301"));

    // The operator lists and decides with the CLI; the decision is remembered and followed.
    let (rc, out) = cli(&fx.cfg_path, &["review", "list"], &[]);
    assert_eq!(rc, 0, "{out}");
    assert!(
        out.contains("EMP09301") && out.contains("bea@example.test"),
        "{out}"
    );
    let bea_dn = entry(&fx, "EMP09201").await.unwrap().dn;
    let (rc, out) = cli(
        &fx.cfg_path,
        &["review", "adopt", "EMP09301", "uid=nobody,o=x"],
        &[],
    );
    assert_ne!(rc, 0, "only a candidate can be adopted: {out}");
    let (rc, out) = cli(&fx.cfg_path, &["review", "adopt", "EMP09301", &bea_dn], &[]);
    assert_eq!(rc, 0, "{out}");
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0);
    assert!(r.plan.review.is_empty());
    let bea_change = r.plan.changes.iter().find(|c| c.key == "EMP09301").unwrap();
    assert_eq!(bea_change.kind, ChangeKind::Enable);
    assert!(bea_change.reason.contains("review decision"));
    assert_eq!(
        entry(&fx, "EMP09301").await.unwrap().attrs["givenName"],
        ["Bea"]
    );
    let (_, out) = cli(&fx.cfg_path, &["review", "list", "--all"], &[]);
    assert!(out.contains("EMP09301") && out.contains("adopt"), "{out}");
}
