#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use hrsync_model::AttrMap;
use hrsync_model::{AttrChange, ChangeKind, dn};

const OU: &str = "ou=people,dc=example,dc=com";

fn attrs(pairs: &[(&str, &str)]) -> AttrMap {
    pairs
        .iter()
        .map(|(k, v)| (AttrName::from(*k), vec![v.to_string()]))
        .collect()
}

fn want(key: &str, uid: &str, title: &str, leaver: bool) -> DesiredEntry {
    DesiredEntry {
        key: key.into(),
        dn: dn::child("uid", uid, OU),
        attrs: attrs(&[("uid", uid), ("title", title), ("employeeNumber", key)]),
        leaver,
        starts: None,
        leaver_reason: leaver.then(|| "HR says status == 'Terminated'".into()),
    }
}

fn have(key: &str, uid: &str, title: &str, disabled: bool) -> DirEntry {
    DirEntry {
        dn: dn::child("uid", uid, OU),
        uuid: Some(format!("uuid-{key}")),
        key: Some(key.into()),
        attrs: attrs(&[("uid", uid), ("title", title), ("employeeNumber", key)]),
        disabled,
    }
}

fn input(desired: Vec<DesiredEntry>, snapshot: Vec<DirEntry>, complete: bool) -> PlanInput {
    PlanInput {
        mapping: "m".into(),
        target: "t".into(),
        now: chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
        fetch: FetchReport {
            complete,
            records: desired.len(),
            error: (!complete).then(|| "page 3: HTTP 500".into()),
            ..Default::default()
        },
        desired,
        failed_keys: BTreeSet::new(),
        keyless_records: 0,
        findings: vec![],
        snapshot,
        links: BTreeMap::new(),
        owned: vec!["uid".into(), "title".into()],
        rdn_attribute: "uid".into(),
        key_attribute: "employeeNumber".into(),
        missing_from_hr: MissingAction::Disable,
        managed_base: OU.into(),
    }
}

fn kinds(p: &Plan) -> Vec<(ChangeKind, String)> {
    p.changes.iter().map(|c| (c.kind, c.key.clone())).collect()
}

#[test]
fn joiner_mover_leaver_and_missing() {
    let p = plan(input(
        vec![
            want("1", "a", "Eng", false),
            want("2", "b", "Boss", false),
            want("3", "c", "Eng", true),
        ],
        vec![
            have("2", "b", "Eng", false),
            have("3", "c", "Eng", false),
            have("4", "d", "Eng", false),
        ],
        true,
    ));
    assert_eq!(
        kinds(&p),
        vec![
            (ChangeKind::Create, "1".into()),
            (ChangeKind::Update, "2".into()),
            (ChangeKind::Disable, "3".into()),
            (ChangeKind::Disable, "4".into())
        ]
    );
    let upd = &p.changes[1];
    assert_eq!(
        upd.attrs,
        vec![AttrChange {
            attr: "title".into(),
            before: vec!["Eng".into()],
            after: vec!["Boss".into()]
        }]
    );
    assert!(p.changes[3].reason.contains("not in HR"));
}

#[test]
fn incomplete_fetch_plans_no_leavers() {
    let p = plan(input(
        vec![want("1", "a", "Eng", false), want("3", "c", "Eng", true)],
        vec![have("3", "c", "Eng", false), have("4", "d", "Eng", false)],
        false,
    ));
    assert_eq!(kinds(&p), vec![(ChangeKind::Create, "1".into())]);
    assert!(!p.leavers_allowed);
    assert_eq!(p.leavers_withheld, 2);
    assert!(p.leavers_withheld_reason.unwrap().contains("incomplete"));
}

#[test]
fn failed_record_is_not_a_leaver_and_keyless_records_withhold_leavers() {
    let mut i = input(vec![], vec![have("4", "d", "Eng", false)], true);
    i.failed_keys.insert("4".into());
    assert!(plan(i).changes.is_empty());
    let mut i = input(vec![], vec![have("4", "d", "Eng", false)], true);
    i.keyless_records = 1;
    let p = plan(i);
    assert!(p.changes.is_empty() && p.leavers_withheld == 1);
}

#[test]
fn converged_state_plans_nothing_and_rehire_enables() {
    let p = plan(input(
        vec![want("2", "b", "Eng", false)],
        vec![have("2", "b", "Eng", false)],
        true,
    ));
    assert!(p.is_empty());
    assert_eq!(p.unchanged, 1);
    let p = plan(input(
        vec![want("2", "b", "Eng", false)],
        vec![have("2", "b", "Eng", true)],
        true,
    ));
    assert_eq!(kinds(&p), vec![(ChangeKind::Enable, "2".into())]);
    // already disabled leaver: nothing
    let p = plan(input(
        vec![want("2", "b", "Eng", true)],
        vec![have("2", "b", "Eng", true)],
        true,
    ));
    assert!(p.is_empty());
}

#[test]
fn rename_keeps_the_link_and_dn_collisions_are_findings() {
    let mut i = input(
        vec![want("2", "b2", "Eng", false)],
        vec![have("2", "b", "Eng", false)],
        true,
    );
    i.links.insert(
        "2".into(),
        Link {
            uuid: Some("uuid-2".into()),
            dn: "uid=b,ou=people,dc=example,dc=com".into(),
        },
    );
    let p = plan(i);
    assert_eq!(p.changes.len(), 1);
    assert_eq!(
        p.changes[0].new_dn.as_deref(),
        Some("uid=b2,ou=people,dc=example,dc=com")
    );
    assert!(p.changes[0].attrs.is_empty());

    let p = plan(input(
        vec![want("1", "x", "Eng", false), want("2", "x", "Eng", false)],
        vec![],
        true,
    ));
    assert_eq!(kinds(&p), vec![(ChangeKind::Create, "1".into())]);
    assert!(p.findings[0].message.contains("also wanted by key 1"));

    let p = plan(input(
        vec![want("1", "b", "Eng", false)],
        vec![have("2", "b", "Eng", false)],
        true,
    ));
    assert!(p.changes.iter().all(|c| c.kind != ChangeKind::Create));
    assert!(
        p.findings
            .iter()
            .any(|f| f.message.contains("already taken"))
    );
}

#[test]
fn plan_is_deterministic_and_renders() {
    let mk = || {
        input(
            vec![want("9", "z", "Eng", false), want("1", "a", "Eng", false)],
            vec![have("5", "e", "Eng", false)],
            true,
        )
    };
    let a = plan(mk());
    let b = plan(mk());
    assert_eq!(a, b);
    let text = render_text(&a, true, None);
    assert!(
        text.contains("+ create  uid=a,ou=people,dc=example,dc=com  [1]"),
        "{text}"
    );
    assert!(
        text.contains("Summary: 2 create, 0 update, 0 enable, 1 disable"),
        "{text}"
    );
}

#[test]
fn unlinked_entries_outside_the_users_ou_are_never_disabled() {
    let mut outside = have("7", "svc", "Eng", false);
    outside.dn = "uid=svc,ou=services,dc=example,dc=com".into();
    let p = plan(input(vec![], vec![outside.clone()], true));
    assert!(p.changes.is_empty());
    let mut i = input(vec![], vec![outside], true);
    i.links.insert(
        "7".into(),
        Link {
            uuid: Some("uuid-7".into()),
            dn: "x".into(),
        },
    );
    assert_eq!(kinds(&plan(i)), vec![(ChangeKind::Disable, "7".into())]);
}

#[test]
fn arrival_order_does_not_change_the_plan() {
    let desired = vec![
        want("1", "a", "Eng", false),
        want("2", "b", "Boss", false),
        want("3", "c", "Eng", true),
        want("5", "x", "Eng", false),
        want("6", "x", "Eng", false),
    ];
    let snapshot = vec![
        have("2", "b", "Eng", false),
        have("3", "c", "Eng", false),
        have("4", "d", "Eng", false),
        have("7", "x2", "Eng", false),
    ];
    type Feed<'a> = &'a dyn Fn(&mut Planner, Vec<DesiredEntry>, Vec<DirEntry>);
    let run = |order: Feed<'_>| {
        let i = input(vec![], vec![], true);
        let mut p = Planner::new(
            PlanOptions {
                mapping: i.mapping,
                target: i.target,
                now: i.now,
                owned: i.owned,
                rdn_attribute: i.rdn_attribute,
                key_attribute: i.key_attribute,
                missing_from_hr: i.missing_from_hr,
                managed_base: i.managed_base,
                place_by_rule: false,
                managed_groups: Vec::new(),
                managed_group_bases: Vec::new(),
                leaver_removes_groups: false,
                disabled_ou: None,
                create_only: Vec::new(),
                delete_after: None,
            },
            BTreeMap::new(),
        );
        order(&mut p, desired.clone(), snapshot.clone());
        p.finish(i.fetch).0
    };
    let entries_first = run(&|p, d, s| {
        s.into_iter().for_each(|e| p.add_entry(e));
        d.into_iter().for_each(|x| p.add_desired(x));
    });
    let desired_first = run(&|p, d, s| {
        d.into_iter().rev().for_each(|x| p.add_desired(x));
        s.into_iter().rev().for_each(|e| p.add_entry(e));
    });
    let interleaved = run(&|p, d, s| {
        let mut s = s.into_iter();
        for x in d {
            p.add_desired(x);
            if let Some(e) = s.next() {
                p.add_entry(e);
            }
        }
        s.for_each(|e| p.add_entry(e));
    });
    assert_eq!(entries_first, desired_first);
    assert_eq!(entries_first, interleaved);
    assert_eq!(
        kinds(&entries_first),
        vec![
            (ChangeKind::Create, "1".into()),
            (ChangeKind::Create, "5".into()),
            (ChangeKind::Update, "2".into()),
            (ChangeKind::Disable, "3".into()),
            (ChangeKind::Disable, "4".into()),
            (ChangeKind::Disable, "7".into())
        ]
    );
    assert!(entries_first.findings.iter().any(|f| f.subject == "6"));
}
