//! `actions` and the category presets: what each mapping plans, and what it counts as not its
//! job.

use super::*;
use hrsync_model::{Action, Actions};

const STAFF: &str = "cn=staff,ou=groups,dc=example,dc=com";

/// One person for every kind of work, each account linked:
/// 1 joiner, 2 title change, 3 rename + title change, 4 HR leaver, 5 missing from HR,
/// 6 rehire, 7 leaver past retention, 8 group membership, 9 move (OU rule).
fn lifecycle(actions: Actions) -> (Plan, Vec<ObservedLink>) {
    let moved = "ou=sales,ou=people,dc=example,dc=com";
    let mut with_group = want("8", "h", "Eng", false);
    with_group
        .attrs
        .insert(MEMBER_OF_ATTR.into(), vec![STAFF.to_string()]);
    let mut mover = want("9", "i", "Eng", false);
    mover.dn = dn::child("uid", "i", moved);
    let desired = vec![
        want("1", "a", "Eng", false),
        want("2", "b", "Sales", false),
        want("3", "c2", "Ops", false),
        want("4", "d", "Eng", true),
        want("6", "f", "Eng", false),
        want("7", "g", "Eng", true),
        with_group,
        mover,
    ];
    let snapshot = vec![
        have("2", "b", "Eng", false),
        have("3", "c", "Eng", false),
        have("4", "d", "Eng", false),
        have("5", "e", "Eng", false),
        have("6", "f", "Eng", true),
        have("7", "g", "Eng", true),
        have("8", "h", "Eng", false),
        have("9", "i", "Eng", false),
    ];
    let links = snapshot
        .iter()
        .map(|e| {
            let l = Link {
                uuid: e.uuid.clone(),
                dn: e.dn.clone(),
                disabled: None,
            };
            (e.key.clone().unwrap(), l)
        })
        .collect();
    let mut p = planner_with_links(links, |o| {
        o.actions = actions;
        o.place_by_rule = true;
        o.managed_groups = vec![STAFF.into()];
        o.owned.push(MEMBER_OF_ATTR.into());
        o.delete_after = Some(chrono::Duration::days(30));
    });
    p.set_disabled_since([(
        "7".to_string(),
        chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
    )]);
    for e in snapshot {
        p.add_entry(e);
    }
    let n = desired.len();
    for d in desired {
        p.add_desired(d);
    }
    p.finish(complete(n))
}

const MEMBER_OF_ATTR: &str = "memberOf";

fn summary(p: &Plan) -> Vec<String> {
    p.changes
        .iter()
        .map(|c| {
            let dc = c.dn_change();
            let mut parts: Vec<String> = c.attrs.iter().map(|a| a.attr.to_string()).collect();
            if dc.renames {
                parts.push("rename".into());
            }
            if dc.moves_to.is_some() {
                parts.push("move".into());
            }
            format!("{} {} {}", c.kind.as_str(), c.key, parts.join("+"))
                .trim_end()
                .to_string()
        })
        .collect()
}

fn excluded(p: &Plan) -> Vec<(Action, usize)> {
    p.not_this_mappings_job
        .iter()
        .map(|(a, n)| (*a, *n))
        .collect()
}

#[test]
fn the_whole_lifecycle_excludes_nothing() {
    let (p, observed) = lifecycle(Actions::of_category("user-provisioning"));
    assert_eq!(
        summary(&p),
        [
            "create 1 employeeNumber+title+uid",
            "update 2 title",
            "update 3 title+rename",
            "update 8 memberOf",
            "update 9 move",
            "enable 6",
            "disable 4",
            "delete 7"
        ]
    );
    assert_eq!(p.unconfirmed.len(), 1, "5 is missing from HR");
    assert!(p.not_this_mappings_job.is_empty());
    assert!(p.actions.is_none());
    assert_eq!(observed.len(), 7);
}

#[test]
fn user_creation_only_creates_and_its_peoples_absence_makes_no_leaver() {
    let (p, observed) = lifecycle(Actions::of_category("user-creation"));
    assert_eq!(summary(&p), ["create 1 employeeNumber+title+uid"]);
    assert!(p.unconfirmed.is_empty(), "absence from HR is not its job");
    use Action::*;
    assert_eq!(
        excluded(&p),
        [
            (Update, 2),
            (Rename, 1),
            (Move, 1),
            (Groups, 1),
            (Disable, 2),
            (Enable, 1),
            (Delete, 1)
        ]
    );
    assert_eq!(p.actions, Some(vec![Create]));
    // It creates, so it owns: the accounts it pairs are linked.
    assert_eq!(observed.len(), 7);
    let text = render_text(&p, false, None);
    assert!(
        text.contains("Not this mapping's job (its actions: create;")
            && text.contains("2 update, 1 rename, 1 move, 1 groups, 2 disable, 1 enable, 1 delete"),
        "{text}"
    );
}

#[test]
fn user_modification_updates_without_owning() {
    let (p, observed) = lifecycle(Actions::of_category("user-modification"));
    assert_eq!(
        summary(&p),
        [
            "update 2 title",
            "update 3 title+rename",
            "update 8 memberOf",
            "update 9 move"
        ]
    );
    assert!(p.unconfirmed.is_empty() && p.orphans.is_empty());
    use Action::*;
    // 5, missing from HR, is nobody's leaver here: this mapping owns no account.
    assert_eq!(
        excluded(&p),
        [(Create, 1), (Disable, 1), (Enable, 1), (Delete, 1)]
    );
    assert!(
        observed.is_empty(),
        "no link is recorded by a mapping that does not own"
    );
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(
        json["not_this_mappings_job"],
        serde_json::json!({"create": 1, "disable": 1, "enable": 1, "delete": 1})
    );
}

#[test]
fn user_disable_only_disables() {
    let (p, _) = lifecycle(Actions::of_category("user-disable"));
    assert_eq!(summary(&p), ["disable 4"]);
    assert_eq!(p.unconfirmed.len(), 1, "5 is missing from HR");
    use Action::*;
    assert_eq!(
        excluded(&p),
        [
            (Create, 1),
            (Update, 2),
            (Rename, 1),
            (Move, 1),
            (Groups, 1),
            (Enable, 1),
            (Delete, 1)
        ]
    );
}

#[test]
fn user_deletion_only_deletes() {
    let (p, _) = lifecycle(Actions::of_category("user-deletion"));
    assert_eq!(summary(&p), ["delete 7"]);
    assert!(p.unconfirmed.is_empty());
    use Action::*;
    assert_eq!(
        excluded(&p),
        [
            (Create, 1),
            (Update, 2),
            (Rename, 1),
            (Move, 1),
            (Groups, 1),
            (Disable, 2),
            (Enable, 1)
        ]
    );
}

#[test]
fn explicit_actions_override_the_category_and_split_a_change() {
    // `category = "user-creation"` with `actions = ["update"]`: updates only; person 3's title
    // changes but the rename is left; nothing is created.
    let (p, observed) = lifecycle(Actions::resolve("user-creation", Some(&[Action::Update])));
    assert_eq!(summary(&p), ["update 2 title", "update 3 title"]);
    assert_eq!(p.changes[1].reason, "HR changed title (Eng → Ops)");
    use Action::*;
    assert_eq!(
        excluded(&p),
        [
            (Create, 1),
            (Rename, 1),
            (Move, 1),
            (Groups, 1),
            (Disable, 1),
            (Enable, 1),
            (Delete, 1)
        ]
    );
    assert!(observed.is_empty());
}

#[test]
fn an_update_only_mapping_lists_no_orphans_and_adopts_nothing() {
    // An unlinked account with a key HR does not have: an orphan of an owning mapping, but no
    // business of one that only modifies.
    let mut p = planner_with(|o| {
        o.actions = Actions::from_iter([Action::Update]);
        o.unlinked_disable = true;
        o.owned.push("mail".into());
        o.match_on = vec!["mail".into()];
    });
    p.add_entry(have("5", "e", "Eng", false));
    // A record HR has but that failed mapping: present, and still not linked by it.
    p.add_failed(Some("6".into()));
    p.add_entry(have("6", "f", "Eng", false));
    let mut keyless = entry_with_mail(have("x", "x", "Eng", false), "n@example.com");
    keyless.key = None;
    p.add_entry(keyless);
    p.add_desired(with_mail(want("9", "n", "Eng", false), "n@example.com"));
    let (plan, observed) = p.finish(complete(1));
    assert!(plan.changes.is_empty() && plan.orphans.is_empty() && plan.unconfirmed.is_empty());
    assert!(plan.review.is_empty() && observed.is_empty());
    assert_eq!(excluded(&plan), [(Action::Create, 1)]);
}

#[test]
fn a_create_only_mapping_adopts_for_a_joiner_as_a_create_would() {
    // A hand-made account without a key, found by mail for a joiner: adopted whole (its key
    // written, its title corrected), not counted as an update left to others.
    let adopt = |actions: Actions| {
        let mut p = planner_with(|o| {
            o.actions = actions;
            o.owned.push("mail".into());
            o.match_on = vec!["mail".into()];
        });
        let mut hand_made = entry_with_mail(have("x", "bob", "Ops", false), "bob@x.test");
        hand_made.key = None;
        hand_made.attrs.remove(&AttrName::from("employeeNumber"));
        p.add_entry(hand_made);
        p.add_desired(with_mail(want("3", "bob", "Eng", false), "bob@x.test"));
        p.finish(complete(1)).0
    };
    let p = adopt(Actions::of_category("user-creation"));
    assert_eq!(summary(&p), ["update 3 title+employeeNumber"]);
    assert!(p.not_this_mappings_job.is_empty());
    // A disable-only mapping neither creates nor adopts: the adoption is counted, not made.
    let p = adopt(Actions::of_category("user-disable"));
    assert!(p.changes.is_empty());
    assert_eq!(excluded(&p), [(Action::Update, 1)]);
}
