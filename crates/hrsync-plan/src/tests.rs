#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use hrsync_model::AttrMap;
use hrsync_model::{AttrChange, Change, ChangeKind, dn};

mod actions;

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

/// Every entry of `snapshot` linked, as accounts this mapping created or adopted are.
fn input(desired: Vec<DesiredEntry>, snapshot: Vec<DirEntry>, complete: bool) -> PlanInput {
    let links = snapshot
        .iter()
        .filter_map(|e| {
            let link = Link {
                uuid: e.uuid.clone(),
                dn: e.dn.clone(),
                disabled: None,
            };
            e.key.clone().map(|k| (k, link))
        })
        .collect();
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
        links,
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
            (ChangeKind::Disable, "3".into())
        ]
    );
    // Missing from HR is evidence, not proof: the caller confirms "4" (lookup or a second
    // fetch) before it becomes a change.
    assert_eq!(
        p.unconfirmed
            .iter()
            .map(|c| (c.kind, c.key.as_str()))
            .collect::<Vec<_>>(),
        [(ChangeKind::Disable, "4")]
    );
    assert!(p.unconfirmed[0].reason.contains("not in HR"));
    assert_eq!(p.managed, 3, "2 and 3 paired, 4 linked");
    let upd = &p.changes[1];
    assert_eq!(
        upd.attrs,
        vec![AttrChange {
            attr: "title".into(),
            before: vec!["Eng".into()],
            after: vec!["Boss".into()]
        }]
    );
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
            disabled: None,
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
    assert!(text.contains("? missing uid=e,ou=people"), "{text}");
    assert!(text.contains("1 missing, unconfirmed"), "{text}");
    assert!(
        text.contains("Summary: 2 create, 0 update, 0 enable, 0 disable"),
        "{text}"
    );
}

#[test]
fn unlinked_entries_outside_the_users_ou_are_never_disabled() {
    let mut outside = have("7", "svc", "Eng", false);
    outside.dn = "uid=svc,ou=services,dc=example,dc=com".into();
    let mut i = input(vec![], vec![outside.clone()], true);
    i.links.clear();
    let p = plan(i);
    assert!(p.changes.is_empty() && p.unconfirmed.is_empty());
    assert_eq!(p.orphans.len(), 1);
    let mut i = input(vec![], vec![outside], true);
    i.links.insert(
        "7".into(),
        Link {
            uuid: Some("uuid-7".into()),
            dn: "x".into(),
            disabled: None,
        },
    );
    let p = plan(i);
    assert_eq!(p.unconfirmed.len(), 1, "linked: ours wherever it was moved");
}

/// Running a second mapping against a directory another one fills: the accounts it never
/// created or adopted are orphans, listed and never changed, even under its users OU.
#[test]
fn accounts_a_mapping_never_owned_are_orphans_not_leavers() {
    let mut p = planner_with(|_| {});
    p.add_desired(want("1", "a", "Eng", false));
    p.add_entry(have("1", "a", "Eng", false));
    for k in ["8", "9"] {
        p.add_entry(have(k, &format!("o{k}"), "Eng", k == "9"));
    }
    let (plan, _) = p.finish(input(vec![], vec![], true).fetch);
    assert!(plan.changes.is_empty() && plan.unconfirmed.is_empty());
    assert_eq!(
        plan.orphans
            .iter()
            .map(|o| (o.key.as_str(), o.disabled))
            .collect::<Vec<_>>(),
        [("8", false), ("9", true)]
    );
    assert_eq!(
        plan.managed, 1,
        "thresholds count only this mapping's accounts"
    );
    let text = render_text(&plan, false, None);
    assert!(text.contains("2 orphan(s)"), "{text}");

    // Opting in (the first adoption of an existing directory): unlinked accounts under the
    // users OU are this mapping's, and the one missing from HR is a (yet unconfirmed) leaver.
    let mut p = planner_with(|o| o.unlinked_disable = true);
    p.add_entry(have("8", "o8", "Eng", false));
    let (plan, _) = p.finish(input(vec![], vec![], true).fetch);
    assert!(plan.orphans.is_empty());
    assert_eq!(plan.unconfirmed.len(), 1);
    assert!(
        plan.unconfirmed[0].reason.contains("unlinked"),
        "{:?}",
        plan.unconfirmed
    );

    // An incomplete fetch cannot tell who HR does not have: no orphans listed.
    let mut p = planner_with(|_| {});
    p.add_entry(have("8", "o8", "Eng", false));
    let (plan, _) = p.finish(input(vec![], vec![], false).fetch);
    assert!(plan.orphans.is_empty() && plan.unconfirmed.is_empty());
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
        let mut p = planner_with(|_| {});
        order(&mut p, desired.clone(), snapshot.clone());
        p.finish(input(vec![], vec![], true).fetch).0
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
            (ChangeKind::Disable, "3".into())
        ]
    );
    // 4 and 7 were never linked: orphans, whatever the order.
    assert_eq!(entries_first.orphans.len(), 2);
    assert!(entries_first.findings.iter().any(|f| f.subject == "6"));
}

/// A planner with the test defaults, adjusted by `f`.
fn planner_with(f: impl FnOnce(&mut PlanOptions)) -> Planner {
    planner_with_links(BTreeMap::new(), f)
}

/// [`planner_with`], with links remembered from earlier runs.
fn planner_with_links(links: BTreeMap<String, Link>, f: impl FnOnce(&mut PlanOptions)) -> Planner {
    let i = input(vec![], vec![], true);
    let mut o = PlanOptions {
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
        match_on: Vec::new(),
        decisions: Default::default(),
        person_refs: Vec::new(),
        targeted: false,
        unlinked_disable: false,
        unfinished_creates: Default::default(),
        actions: hrsync_model::Actions::all(),
    };
    f(&mut o);
    Planner::new(o, links)
}

fn complete(records: usize) -> FetchReport {
    FetchReport {
        complete: true,
        records,
        ..Default::default()
    }
}

fn with_mail(mut x: DesiredEntry, mail: &str) -> DesiredEntry {
    x.attrs.insert("mail".into(), vec![mail.to_string()]);
    x
}

fn entry_with_mail(mut e: DirEntry, mail: &str) -> DirEntry {
    e.attrs.insert("mail".into(), vec![mail.to_string()]);
    e
}

fn matching_planner(decisions: &[(&str, MatchDecision)]) -> Planner {
    planner_with(|o| {
        o.owned.push("mail".into());
        o.match_on = vec!["mail".into()];
        o.decisions = decisions
            .iter()
            .map(|(k, d)| (k.to_string(), d.clone()))
            .collect();
    })
}

#[test]
fn a_rehire_under_a_new_key_reuses_the_disabled_account() {
    let mut p = matching_planner(&[]);
    // Account of old key 7, disabled, not in HR any more; the person is back as key 12.
    p.add_entry(entry_with_mail(have("7", "ann", "Eng", true), "ann@x.test"));
    p.add_desired(with_mail(want("12", "ann", "Lead", false), "Ann@X.test"));
    let (plan, observed) = p.finish(complete(1));
    assert_eq!(kinds(&plan), vec![(ChangeKind::Enable, "12".into())]);
    let c = &plan.changes[0];
    assert_eq!(
        c.dn,
        dn::child("uid", "ann", OU),
        "the old account, not a new one"
    );
    assert!(
        c.attrs
            .iter()
            .any(|a| a.attr.is("employeeNumber") && a.after == ["12"] && a.before == ["7"]),
        "the account takes the new key: {:?}",
        c.attrs
    );
    assert!(
        c.attrs
            .iter()
            .any(|a| a.attr.is("title") && a.after == ["Lead"])
    );
    assert!(c.reason.contains("mail=Ann@X.test"), "{}", c.reason);
    assert!(c.reason.starts_with("rehire"), "{}", c.reason);
    assert!(
        observed.iter().all(|o| o.key != "12"),
        "the new key is linked when the change is applied, not by a plan"
    );
    assert!(plan.review.is_empty());

    // The old record may stay in HR as a leaver: its account is still the one reused, and
    // its own leaver change is dropped.
    for disabled in [true, false] {
        let mut p = matching_planner(&[]);
        p.add_entry(entry_with_mail(
            have("7", "ann", "Eng", disabled),
            "ann@x.test",
        ));
        p.add_desired(with_mail(want("7", "ann", "Eng", true), "ann@x.test"));
        p.add_desired(with_mail(want("12", "ann12", "Lead", false), "ann@x.test"));
        let (plan, _) = p.finish(complete(2));
        let expect = if disabled {
            ChangeKind::Enable
        } else {
            ChangeKind::Update
        };
        assert_eq!(kinds(&plan), vec![(expect, "12".into())], "{disabled}");
        assert_eq!(plan.unchanged, 0);
    }
}

#[test]
fn an_account_without_a_key_is_adopted_by_its_only_match() {
    let mut p = matching_planner(&[]);
    let mut hand_made = entry_with_mail(have("x", "bob", "Eng", false), "bob@x.test");
    hand_made.key = None;
    hand_made.attrs.remove(&AttrName::from("employeeNumber"));
    p.add_entry(hand_made);
    p.add_desired(with_mail(want("3", "bob", "Eng", false), "bob@x.test"));
    let (plan, _) = p.finish(complete(1));
    assert_eq!(kinds(&plan), vec![(ChangeKind::Update, "3".into())]);
    assert!(
        plan.changes[0]
            .reason
            .contains("matched an existing account by mail=bob@x.test")
    );
}

#[test]
fn ambiguous_matches_go_to_review_and_nothing_is_created_or_disabled() {
    // Two accounts share the joiner's mail: review, no create, neither account disabled.
    let mut p = matching_planner(&[]);
    p.add_entry(entry_with_mail(
        have("7", "ann", "Eng", false),
        "ann@x.test",
    ));
    p.add_entry(entry_with_mail(
        have("8", "ann2", "Eng", true),
        "ann@x.test",
    ));
    p.add_desired(with_mail(want("12", "ann3", "Eng", false), "ann@x.test"));
    let (plan, _) = p.finish(complete(1));
    assert!(plan.changes.is_empty(), "{:?}", kinds(&plan));
    assert_eq!(plan.review.len(), 1);
    assert_eq!(plan.review[0].key, "12");
    assert_eq!(plan.review[0].candidates.len(), 2);
    assert_eq!(plan.review[0].candidates[0].matched_on, ["mail=ann@x.test"]);

    // Two joiners want the one account: both reviewed, nothing created.
    let mut p = matching_planner(&[]);
    p.add_entry(entry_with_mail(
        have("7", "ann", "Eng", true),
        "shared@x.test",
    ));
    p.add_desired(with_mail(want("12", "a1", "Eng", false), "shared@x.test"));
    p.add_desired(with_mail(want("13", "a2", "Eng", false), "shared@x.test"));
    let (plan, _) = p.finish(complete(2));
    assert!(plan.changes.is_empty(), "{:?}", kinds(&plan));
    assert_eq!(plan.review.len(), 2);

    // The operator's decisions are followed next time: 12 adopts, 13 gets a new account.
    let mut p = matching_planner(&[
        ("12", MatchDecision::Adopt(dn::child("uid", "ann", OU))),
        ("13", MatchDecision::New),
    ]);
    p.add_entry(entry_with_mail(
        have("7", "ann", "Eng", true),
        "shared@x.test",
    ));
    p.add_desired(with_mail(want("12", "a1", "Eng", false), "shared@x.test"));
    p.add_desired(with_mail(want("13", "a2", "Eng", false), "shared@x.test"));
    let (plan, _) = p.finish(complete(2));
    assert!(plan.review.is_empty(), "{:?}", plan.review);
    assert_eq!(
        kinds(&plan),
        vec![
            (ChangeKind::Create, "13".into()),
            (ChangeKind::Enable, "12".into())
        ]
    );
    assert!(plan.changes[1].reason.contains("review decision"));
}

fn with_boss(mut x: DesiredEntry, boss: &str) -> DesiredEntry {
    x.attrs.insert("manager".into(), vec![boss.to_string()]);
    x
}

fn manager_planner() -> Planner {
    planner_with(|o| {
        o.owned.push("manager".into());
        o.person_refs = vec![PersonRef {
            attr: "manager".into(),
            by: None,
        }];
    })
}

#[test]
fn managers_resolve_to_dns_including_accounts_created_in_the_same_run() {
    let mut p = manager_planner();
    // 1 exists; 2 (new) reports to 3 (new, hired the same day) who reports to 1.
    let mut one = have("1", "boss", "CEO", false);
    one.attrs.insert("manager".into(), vec![]);
    p.add_entry(one);
    let mut four = have("4", "dev", "Eng", false);
    four.attrs
        .insert("manager".into(), vec![dn::child("uid", "old", OU)]);
    p.add_entry(four);
    p.add_desired(with_boss(want("1", "boss", "CEO", false), "1"));
    p.add_desired(with_boss(want("2", "new", "Eng", false), "3"));
    p.add_desired(with_boss(want("3", "lead", "Lead", false), "1"));
    p.add_desired(with_boss(want("4", "dev", "Eng", false), "3"));
    let (plan, _) = p.finish(complete(4));
    let get = |k: &str| plan.changes.iter().find(|c| c.key == k).unwrap();
    let mgr = |c: &Change| {
        c.attrs
            .iter()
            .find(|a| a.attr.is("manager"))
            .map(|a| a.after.clone())
    };
    assert_eq!(mgr(get("2")), Some(vec![dn::child("uid", "lead", OU)]));
    assert_eq!(mgr(get("3")), Some(vec![dn::child("uid", "boss", OU)]));
    // An existing account moves to the new manager: an update naming old and new.
    assert_eq!(get("4").kind, ChangeKind::Update);
    assert_eq!(mgr(get("4")), Some(vec![dn::child("uid", "lead", OU)]));
    // The CEO is their own supervisor: no manager, no change, no finding.
    assert!(
        plan.changes.iter().all(|c| c.key != "1"),
        "{:?}",
        kinds(&plan)
    );
    assert!(plan.findings.is_empty(), "{:?}", plan.findings);
}

/// The manager's account is found exactly as its link remembers it (the usual re-run): it is
/// not handed back as a changed link, and still resolves to its DN.
#[test]
fn a_manager_whose_link_is_unchanged_still_resolves() {
    let boss = have("1", "boss", "CEO", false);
    let links = BTreeMap::from([(
        "1".to_string(),
        Link {
            uuid: boss.uuid.clone(),
            dn: boss.dn.clone(),
            disabled: Some(false),
        },
    )]);
    let mut p = planner_with_links(links, |o| {
        o.owned.push("manager".into());
        o.person_refs = vec![PersonRef {
            attr: "manager".into(),
            by: None,
        }];
    });
    let mut boss = boss;
    boss.attrs.insert("manager".into(), vec![]);
    p.add_entry(boss);
    let mut four = have("4", "dev", "Eng", false);
    four.attrs
        .insert("manager".into(), vec![dn::child("uid", "old", OU)]);
    p.add_entry(four);
    p.add_desired(with_boss(want("1", "boss", "CEO", false), "1"));
    p.add_desired(with_boss(want("4", "dev", "Eng", false), "1"));
    let (plan, observed) = p.finish(complete(2));
    assert!(plan.findings.is_empty(), "{:?}", plan.findings);
    let four = plan.changes.iter().find(|c| c.key == "4").unwrap();
    let after = four.attrs.iter().find(|a| a.attr.is("manager")).unwrap();
    assert_eq!(after.after, vec![dn::child("uid", "boss", OU)]);
    // 4 had no link: handed back; 1's is as stored: not.
    let keys: Vec<&str> = observed.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, vec!["4"]);
}

#[test]
fn manager_cycles_and_unknown_managers_are_findings_and_change_nothing() {
    let mut p = manager_planner();
    let mut a = have("1", "a", "Eng", false);
    a.attrs
        .insert("manager".into(), vec![dn::child("uid", "z", OU)]);
    p.add_entry(a);
    p.add_desired(with_boss(want("1", "a", "Eng", false), "2"));
    p.add_desired(with_boss(want("2", "b", "Eng", false), "1"));
    p.add_desired(with_boss(want("5", "e", "Eng", false), "99"));
    let (plan, _) = p.finish(complete(3));
    // 1 keeps its manager (no update), 2 is created without one, 5 too.
    assert!(
        plan.changes.iter().all(|c| c.key != "1"),
        "{:?}",
        kinds(&plan)
    );
    for k in ["2", "5"] {
        let c = plan.changes.iter().find(|c| c.key == k).unwrap();
        assert!(
            c.attrs.iter().all(|a| !a.attr.is("manager")),
            "{k}: {:?}",
            c.attrs
        );
    }
    let cycle: Vec<_> = plan
        .findings
        .iter()
        .filter(|f| f.message.contains("cycle"))
        .collect();
    assert_eq!(cycle.len(), 1, "one finding per cycle: {:?}", plan.findings);
    assert!(
        cycle[0].message.contains("1 → 2 → 1"),
        "{}",
        cycle[0].message
    );
    assert!(
        plan.findings
            .iter()
            .any(|f| f.subject == "5" && f.message.contains("manager 99 is not in HR")),
        "{:?}",
        plan.findings
    );
}

#[test]
fn a_targeted_run_never_creates_an_account_for_a_linked_key() {
    // The account of key 5 lost its key attribute, so a targeted run (which reads accounts by
    // key) did not see it; its link says it exists.
    let links = BTreeMap::from([(
        "5".to_string(),
        Link {
            uuid: Some("uuid-5".into()),
            dn: dn::child("uid", "e", OU),
            disabled: None,
        },
    )]);
    let mut p = planner_with_links(links.clone(), |o| o.targeted = true);
    p.add_desired(want("5", "e", "Eng", false));
    let (plan, _) = p.finish(complete(1));
    assert!(plan.changes.is_empty(), "{:?}", kinds(&plan));
    assert!(
        plan.findings[0].message.contains("linked account"),
        "{:?}",
        plan.findings
    );
    // A full run reads every account: not finding it means it is really gone, so it creates.
    let mut p = planner_with_links(links, |_| {});
    p.add_desired(want("5", "e", "Eng", false));
    assert_eq!(
        kinds(&p.finish(complete(1)).0),
        vec![(ChangeKind::Create, "5".into())]
    );
}

/// Issue 11 §8: an account whose create did not finish (a run killed between adding it
/// disabled and enabling it) is finished, never enabled as a rehire; a real rehire stays one;
/// a pre-hire's unfinished account is finished on the start date, not before.
#[test]
fn unfinished_creates_are_finished_not_rehired() {
    let unfinished: std::collections::HashSet<String> =
        ["1", "3", "4"].iter().map(|k| k.to_string()).collect();
    let mut p = planner_with(|o| o.unfinished_creates = unfinished);
    // 1: unfinished, disabled → finish (with its attribute changes).
    p.add_entry(have("1", "a", "Eng", true));
    p.add_desired(want("1", "a", "Ops", false));
    // 2: a real rehire.
    p.add_entry(have("2", "b", "Eng", true));
    p.add_desired(want("2", "b", "Eng", false));
    // 3: unfinished but enabled (its enable step ran): nothing to do.
    p.add_entry(have("3", "c", "Eng", false));
    p.add_desired(want("3", "c", "Eng", false));
    // 4: an unfinished pre-hire before the start date stays disabled, untouched.
    p.add_entry(have("4", "d", "Eng", true));
    let mut pre = want("4", "d", "Eng", false);
    pre.starts = Some(chrono::NaiveDate::from_ymd_opt(2030, 1, 1).unwrap());
    p.add_desired(pre.clone());
    let (plan, _) = p.finish(complete(4));
    assert_eq!(
        kinds(&plan),
        vec![
            (ChangeKind::Enable, "2".into()),
            (ChangeKind::FinishCreate, "1".into())
        ]
    );
    let fin = &plan.changes[1];
    assert_eq!(fin.attrs.len(), 1, "{fin:?}");
    assert!(fin.reason.contains("did not finish"), "{}", fin.reason);
    assert!(plan.changes[0].reason.contains("rehire"));
    assert_eq!(plan.summary().enable, 2);

    // On the start date the pre-hire's account is finished too.
    let mut p = planner_with(|o| o.unfinished_creates = ["4".to_string()].into());
    p.add_entry(have("4", "d", "Eng", true));
    pre.starts = None;
    p.add_desired(pre);
    let (plan, _) = p.finish(complete(1));
    assert_eq!(kinds(&plan), vec![(ChangeKind::FinishCreate, "4".into())]);
    assert!(render_text(&plan, false, None).contains("^ finish"));

    // An account adopted under a new key: its create, for the old key, did not finish.
    let mut p = planner_with(|o| {
        o.owned.push("mail".into());
        o.match_on = vec!["mail".into()];
        o.unfinished_creates = ["7".to_string()].into();
    });
    p.add_entry(entry_with_mail(have("7", "ann", "Eng", true), "ann@x.test"));
    p.add_desired(with_mail(want("12", "ann", "Lead", false), "ann@x.test"));
    let (plan, _) = p.finish(complete(1));
    assert_eq!(kinds(&plan), vec![(ChangeKind::FinishCreate, "12".into())]);
}

/// An account whose key attribute was removed by hand is still found through its link's
/// `entryUUID` (the index is built only when such an entry shows up): the plan restores the
/// key instead of creating a second account for the person.
#[test]
fn an_entry_that_lost_its_key_is_paired_by_its_linked_uuid() {
    let mut lost = have("1", "a", "Eng", false);
    lost.key = None;
    lost.attrs.remove(&AttrName::from("employeeNumber"));
    let mut i = input(
        vec![want("1", "a", "Eng", false), want("2", "b", "Eng", false)],
        vec![have("2", "b", "Eng", false), lost],
        true,
    );
    i.links.insert(
        "1".into(),
        Link {
            uuid: Some("uuid-1".into()),
            dn: dn::child("uid", "a", OU),
            disabled: None,
        },
    );
    let p = plan(i);
    assert_eq!(kinds(&p), vec![(ChangeKind::Update, "1".into())]);
    let c = &p.changes[0];
    assert_eq!(c.dn, dn::child("uid", "a", OU));
    assert_eq!(c.attrs.len(), 1);
    assert!(c.attrs[0].attr.is("employeeNumber"));
    assert_eq!(c.attrs[0].after, vec!["1".to_string()]);
}

#[test]
fn reference_findings_read_the_same_whatever_order_people_arrive() {
    // 9 has left; 1, 2 and 3 report to 9: one finding each, in key order either way.
    let people = ["1", "2", "3"];
    let run = |entries_first: bool| {
        let mut p = manager_planner();
        let mut entries: Vec<DirEntry> = people
            .iter()
            .map(|k| have(k, &format!("u{k}"), "Eng", false))
            .collect();
        entries.push(have("9", "boss", "CEO", false));
        let mut desired: Vec<DesiredEntry> = people
            .iter()
            .map(|k| with_boss(want(k, &format!("u{k}"), "Eng", false), "9"))
            .collect();
        desired.push(want("9", "boss", "CEO", true));
        if entries_first {
            entries.into_iter().for_each(|e| p.add_entry(e));
            desired.into_iter().for_each(|d| p.add_desired(d));
        } else {
            for (d, e) in desired.into_iter().rev().zip(entries.into_iter().rev()) {
                p.add_desired(d);
                p.add_entry(e);
            }
        }
        p.finish(complete(4)).0.findings
    };
    let a = run(true);
    let subjects: Vec<&str> = a.iter().map(|f| f.subject.as_str()).collect();
    assert_eq!(subjects, ["1", "2", "3"], "{a:?}");
    assert_eq!(a, run(false));
}

/// Only links that differ from the stored ones come back to be written: a no-op run of
/// 100,000 people rewrites none, while a rename made outside hrsync, a changed disabled state,
/// a uuid learnt for the first time or a state not known are refreshed.
#[test]
fn only_changed_links_are_handed_back() {
    let link = |key: &str, uid: &str, uuid: Option<&str>, disabled: Option<bool>| {
        (
            key.to_string(),
            Link {
                uuid: uuid.map(str::to_string),
                dn: dn::child("uid", uid, OU),
                disabled,
            },
        )
    };
    let links: BTreeMap<String, Link> = [
        link("1", "a", Some("uuid-1"), Some(false)),
        link("2", "b", Some("uuid-2"), Some(false)),
        link("3", "c", Some("uuid-3"), Some(false)),
        link("4", "d", None, Some(false)),
        link("5", "e", Some("uuid-5"), None),
    ]
    .into_iter()
    .collect();
    let mut p = planner_with_links(links, |_| {});
    // 1 as stored; 2 renamed outside hrsync (the rename is kept, the link follows it);
    // 3 disabled by hand (HR says active: a rehire); 4's uuid is new; 5's state not known.
    let entries = [
        have("1", "a", "Eng", false),
        have("2", "b2", "Eng", false),
        have("3", "c", "Eng", true),
        have("4", "d", "Eng", false),
        have("5", "e", "Eng", false),
    ];
    for e in entries {
        p.add_entry(e);
    }
    for (k, uid) in [("1", "a"), ("2", "b2"), ("3", "c"), ("4", "d"), ("5", "e")] {
        p.add_desired(want(k, uid, "Eng", false));
    }
    let (plan, observed) = p.finish(complete(5));
    assert_eq!(kinds(&plan), vec![(ChangeKind::Enable, "3".into())]);
    let keys: Vec<&str> = observed.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["2", "3", "4", "5"], "{observed:?}");
    let b = observed.iter().find(|o| o.key == "2").unwrap();
    assert_eq!(b.dn, dn::child("uid", "b2", OU));
    assert!(observed.iter().find(|o| o.key == "3").unwrap().disabled);
}
