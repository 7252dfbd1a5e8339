//! Blast-radius guards: a plan that would disable, delete, move, rename or update more
//! accounts than the configured thresholds (a count and/or a percentage of the accounts this
//! mapping manages), or remove one attribute from many accounts, applies its safe part and
//! *holds* the rest. Held changes are listed with the reason and released only by
//! `hrsync apply --confirm-held RUN`, for exactly the changes that run held (a later plan that
//! holds other people is not released by it), or by raising the threshold in the config.

use hrsync_config::{DEFAULT_CLEAR, Threshold, Thresholds};
use hrsync_model::{Change, ChangeKind, Plan};
use std::collections::{BTreeMap, BTreeSet};

/// Attributes a change removes (every value before, none after).
fn cleared(c: &Change) -> impl Iterator<Item = &str> {
    c.attrs
        .iter()
        .filter(|a| !a.before.is_empty() && a.after.iter().all(|v| v.trim().is_empty()))
        .map(|a| a.attr.as_str())
}

/// The guarded classes a change belongs to.
pub fn classes(c: &Change) -> Vec<&'static str> {
    let mut out = Vec::new();
    match c.kind {
        ChangeKind::Disable => out.push("disable"),
        ChangeKind::Delete => out.push("delete"),
        ChangeKind::Update => out.push("update"),
        _ => {}
    }
    let dc = c.dn_change();
    if dc.moves_to.is_some() && c.kind != ChangeKind::Disable {
        out.push("move");
    }
    if dc.renames {
        out.push("rename");
    }
    if !c.kind.creates() && cleared(c).next().is_some() {
        out.push("clear");
    }
    out
}

/// A confirmation token of a held change: class and key.
pub fn token(class: &str, key: &str) -> String {
    format!("{class}:{key}")
}

/// The tokens a plan held (what `--confirm-held` of its run releases).
pub fn held_tokens(plan: &Plan) -> BTreeSet<String> {
    plan.held
        .iter()
        .flat_map(|c| classes(c).into_iter().map(|k| token(k, &c.key)))
        .collect()
}

/// Moves the changes of every class over its threshold from `plan.changes` to `plan.held`,
/// except those `confirmed`. `managed` is the number of accounts this mapping manages; `run`
/// is the run whose number releases them.
pub fn hold(
    plan: &mut Plan,
    t: &Thresholds,
    managed: usize,
    confirmed: &BTreeSet<String>,
    run: i64,
) {
    hold_counting(plan, t, managed, confirmed, &[], run);
}

/// [`hold`], counting `recent` changes per class (applied lately by other runs) against the
/// thresholds too: event runs each handle a few people, and a mass termination announced one
/// event at a time must not slip under the limits run by run.
pub fn hold_counting(
    plan: &mut Plan,
    t: &Thresholds,
    managed: usize,
    confirmed: &BTreeSet<String>,
    recent: &[(&str, usize)],
    run: i64,
) {
    // (class, what is counted, limit, members)
    let mut groups: Vec<(&str, String, Threshold, Vec<&Change>)> = Vec::new();
    for (class, limit) in [
        ("disable", t.disable),
        ("delete", t.delete),
        ("move", t.moves),
        ("rename", t.rename),
        ("update", t.update),
    ] {
        let Some(limit) = limit else { continue };
        let members: Vec<&Change> = plan
            .changes
            .iter()
            .filter(|c| classes(c).contains(&class))
            .collect();
        groups.push((class, format!("{class}(s)"), limit, members));
    }
    let clear = t.clear.unwrap_or(DEFAULT_CLEAR);
    let mut by_attr: BTreeMap<String, Vec<&Change>> = BTreeMap::new();
    for c in plan.changes.iter().filter(|c| !c.kind.creates()) {
        for a in cleared(c) {
            by_attr.entry(a.to_ascii_lowercase()).or_default().push(c);
        }
    }
    for (attr, members) in by_attr {
        groups.push(("clear", format!("removal(s) of {attr}"), clear, members));
    }
    let mut hold_keys: BTreeSet<(String, String)> = BTreeSet::new();
    for (class, what, limit, members) in groups {
        let planned = members.len();
        if planned == 0 {
            continue;
        }
        let earlier = recent
            .iter()
            .find(|(c, _)| *c == class)
            .map_or(0, |(_, n)| *n);
        let n = planned + earlier;
        let pct = if managed > 0 {
            n as f64 * 100.0 / managed as f64
        } else {
            100.0
        };
        let over_count = limit.count.is_some_and(|c| n > c);
        let over_pct = limit.percent.is_some_and(|p| pct > p);
        let above_min = limit.min.is_none_or(|m| n > m);
        if !((over_count || over_pct) && above_min) {
            continue;
        }
        let unconfirmed: Vec<&&Change> = members
            .iter()
            .filter(|c| !confirmed.contains(&token(class, &c.key)))
            .collect();
        if unconfirmed.is_empty() {
            plan.held_reasons.push(format!(
                "{n} {what} ({pct:.0}% of {managed} managed accounts) are over the threshold but were confirmed"
            ));
            continue;
        }
        let mut limit_text: Vec<String> = Vec::new();
        if let Some(c) = limit.count {
            limit_text.push(format!("count {c}"));
        }
        if let Some(p) = limit.percent {
            limit_text.push(format!("{p}%"));
        }
        if let Some(m) = limit.min {
            limit_text.push(format!("min {m}"));
        }
        let configured = if class == "clear" && t.clear.is_none() {
            " (the default)"
        } else {
            ""
        };
        let with_earlier = if earlier > 0 {
            format!(" (with {earlier} applied in the last 24 h)")
        } else {
            String::new()
        };
        let hint = if class == "clear" {
            "; a misspelt field in a format clears the attribute everywhere: check the mapping"
        } else {
            ""
        };
        plan.held_reasons.push(format!(
            "{n} {what}{with_earlier} = {pct:.0}% of {managed} managed accounts, over lifecycle.thresholds.{class}{configured} ({}): {} held{hint}; review them, then run `hrsync apply --confirm-held {run}`",
            limit_text.join(" / "),
            unconfirmed.len()
        ));
        for c in unconfirmed {
            hold_keys.insert((c.kind.as_str().to_string(), c.key.clone()));
        }
    }
    if hold_keys.is_empty() {
        return;
    }
    let (held, kept): (Vec<Change>, Vec<Change>) = std::mem::take(&mut plan.changes)
        .into_iter()
        .partition(|c| hold_keys.contains(&(c.kind.as_str().to_string(), c.key.clone())));
    plan.changes = kept;
    plan.held = held;
}

#[cfg(test)]
mod tests {
    use super::*;
    use hrsync_model::FetchReport;

    fn change(kind: ChangeKind, key: &str, dn: &str, new_dn: Option<&str>) -> Change {
        Change {
            kind,
            key: key.into(),
            dn: dn.into(),
            new_dn: new_dn.map(String::from),
            uuid: None,
            attrs: vec![],
            reason: String::new(),
        }
    }

    fn plan(changes: Vec<Change>) -> Plan {
        Plan {
            mapping: "m".into(),
            target: "t".into(),
            generated_at: chrono::Utc::now(),
            fetch: FetchReport::default(),
            leavers_allowed: true,
            leavers_withheld_reason: None,
            leavers_withheld: 0,
            changes,
            held: vec![],
            held_reasons: vec![],
            unchanged: 0,
            findings: vec![],
            review: vec![],
            ..Default::default()
        }
    }

    #[test]
    fn recent_changes_count_against_the_threshold() {
        // One disable per event run: alone each is under a count of 3, but not with the ones
        // applied in the last 24 hours.
        let t = Thresholds {
            disable: Some(Threshold {
                count: Some(3),
                percent: None,
                min: None,
            }),
            ..Thresholds::default()
        };
        let one = || plan(vec![change(ChangeKind::Disable, "k1", "uid=u1,ou=p", None)]);
        let mut p = one();
        hold_counting(&mut p, &t, 100, &BTreeSet::new(), &[("disable", 2)], 1);
        assert!(p.held.is_empty(), "3 in 24 h is not over 3");
        let mut p = one();
        hold_counting(&mut p, &t, 100, &BTreeSet::new(), &[("disable", 3)], 1);
        assert_eq!(p.held.len(), 1, "the 4th in 24 h is held");
        assert!(
            p.held_reasons[0].contains("with 3 applied in the last 24 h"),
            "{:?}",
            p.held_reasons
        );
        let mut p = one();
        hold_counting(&mut p, &t, 100, &BTreeSet::new(), &[("delete", 9)], 1);
        assert!(p.held.is_empty(), "other classes do not count");
    }

    #[test]
    fn over_threshold_is_held_and_released_only_for_what_was_confirmed() {
        let mut changes: Vec<Change> = (0..4)
            .map(|i| {
                change(
                    ChangeKind::Disable,
                    &format!("k{i}"),
                    &format!("uid=u{i},ou=p"),
                    None,
                )
            })
            .collect();
        changes.push(change(
            ChangeKind::Update,
            "m1",
            "uid=m1,ou=a,ou=p",
            Some("uid=m1,ou=b,ou=p"),
        ));
        changes.push(change(ChangeKind::Create, "new", "uid=n,ou=p", None));
        let t = Thresholds {
            disable: Some(Threshold {
                count: None,
                percent: Some(10.0),
                min: None,
            }),
            moves: Some(Threshold {
                count: Some(5),
                percent: None,
                min: None,
            }),
            ..Thresholds::default()
        };
        let mut p = plan(changes.clone());
        hold(&mut p, &t, 10, &BTreeSet::new(), 1);
        assert_eq!(p.held.len(), 4, "40% disables over 10%");
        assert_eq!(
            p.changes.len(),
            2,
            "the move (1 ≤ 5) and the create go ahead"
        );
        assert!(p.held_reasons[0].contains("40% of 10"));
        let confirmed = held_tokens(&p);
        assert_eq!(confirmed.len(), 4);

        // Confirmation releases exactly those; a fifth leaver appearing later stays held.
        let mut again = changes.clone();
        again.push(change(ChangeKind::Disable, "k9", "uid=u9,ou=p", None));
        let mut p2 = plan(again);
        hold(&mut p2, &t, 10, &confirmed, 1);
        assert_eq!(
            p2.held.iter().map(|c| c.key.as_str()).collect::<Vec<_>>(),
            ["k9"]
        );
        assert_eq!(p2.changes.len(), 6);
        // Under the threshold nothing is held.
        let mut p3 = plan(changes[..1].to_vec());
        hold(&mut p3, &t, 10, &BTreeSet::new(), 1);
        assert!(p3.held.is_empty());
    }

    fn clearing(key: &str, attr: &str) -> Change {
        let mut c = change(ChangeKind::Update, key, &format!("uid={key},ou=p"), None);
        c.attrs.push(hrsync_model::AttrChange {
            attr: attr.into(),
            before: vec![format!("{key}@example.test")],
            after: vec![],
        });
        c
    }

    #[test]
    fn one_attribute_removed_from_many_accounts_is_held_by_default() {
        // A misspelt field (`{work_emial}`) plans `mail: … -> (none)` everywhere.
        let changes: Vec<Change> = (0..20)
            .map(|i| clearing(&format!("k{i}"), "mail"))
            .collect();
        let mut p = plan(changes);
        hold(&mut p, &Thresholds::default(), 100, &BTreeSet::new(), 42);
        assert_eq!(p.held.len(), 20, "{:?}", p.held_reasons);
        assert!(p.changes.is_empty());
        assert!(
            p.held_reasons[0].contains("20 removal(s) of mail"),
            "{:?}",
            p.held_reasons
        );
        assert!(
            p.held_reasons[0].contains("--confirm-held 42"),
            "{:?}",
            p.held_reasons
        );
        assert!(held_tokens(&p).contains("clear:k3"));
        // A few removals (at most `min`) go ahead even in a tiny directory.
        let mut p = plan((0..5).map(|i| clearing(&format!("k{i}"), "mail")).collect());
        hold(&mut p, &Thresholds::default(), 10, &BTreeSet::new(), 1);
        assert!(p.held.is_empty(), "{:?}", p.held_reasons);
        // Counted per attribute: 3 accounts losing each of 7 attributes is not a mass removal.
        let mut p = plan(
            (0..21)
                .map(|i| clearing(&format!("k{i}"), &format!("a{}", i % 7)))
                .collect(),
        );
        hold(&mut p, &Thresholds::default(), 100, &BTreeSet::new(), 1);
        assert!(p.held.is_empty(), "{:?}", p.held_reasons);
    }

    #[test]
    fn mass_updates_are_held_when_configured() {
        let t = Thresholds {
            update: Some(Threshold {
                count: None,
                percent: Some(20.0),
                min: None,
            }),
            ..Thresholds::default()
        };
        let mut changes: Vec<Change> = (0..30)
            .map(|i| change(ChangeKind::Update, &format!("k{i}"), "uid=x,ou=p", None))
            .collect();
        changes.push(change(ChangeKind::Create, "n", "uid=n,ou=p", None));
        let mut p = plan(changes);
        hold(&mut p, &t, 100, &BTreeSet::new(), 7);
        assert_eq!(p.held.len(), 30);
        assert_eq!(p.changes.len(), 1, "the create goes ahead");
    }
}
