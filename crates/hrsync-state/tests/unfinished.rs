//! Creates that did not finish (issue 11 §8: on Active Directory a run killed between adding an
//! account disabled and enabling it left accounts the next run enabled as "rehires", without a
//! delivered password), and changes an interrupted run sent that the directory carried out only
//! after the next run had looked (`absent`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use hrsync_model::{Change, ChangeKind};
use hrsync_state::{APPLIED_AFTER_INTERRUPTION, AppliedChange, IntentOutcome, Store};
use std::collections::BTreeSet;
use std::path::Path;

fn at(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
}

fn change(kind: ChangeKind, key: &str) -> Change {
    Change {
        kind,
        key: key.into(),
        dn: format!("CN={key},OU=People"),
        new_dn: None,
        uuid: None,
        attrs: vec![],
        reason: "test".into(),
    }
}

/// A finished run of `mapping` with these results: (change, ok, message).
fn run_with(s: &mut Store, mapping: &str, results: &[(Change, bool, &str)]) -> i64 {
    let run = s.start_run("apply", mapping, at(0)).unwrap();
    let items: Vec<AppliedChange<'_>> = results
        .iter()
        .enumerate()
        .map(|(i, (c, ok, m))| AppliedChange {
            seq: i,
            change: c,
            ok: *ok,
            rc: None,
            message: m,
            at: at(1),
        })
        .collect();
    s.record_changes(run, &items).unwrap();
    s.finish_run(run, "ok", None, at(2)).unwrap();
    run
}

/// A run of `mapping` killed after sending `changes` (intents written, no results): found
/// interrupted, its changes are `unknown (interrupted)`.
fn killed_run(path: &Path, mapping: &str, changes: &[Change]) -> i64 {
    let mut s = Store::open(path).unwrap();
    let run = s.start_run("apply", mapping, at(0)).unwrap();
    let intents: Vec<(usize, &Change)> = changes.iter().enumerate().collect();
    s.record_intents(run, &intents, at(1)).unwrap();
    drop(s);
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute(
        "UPDATE runs SET owner = 'gone.invalid pid 1' WHERE id = ?1",
        [run],
    )
    .unwrap();
    drop(c);
    let mut s = Store::open(path).unwrap();
    let r = s.recover_interrupted_with(at(3), &|_| true).unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].unknown, changes.len());
    run
}

fn keys(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|k| k.to_string()).collect()
}

#[test]
fn unfinished_creates_are_those_no_later_change_finished() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut s = Store::open(&path).unwrap();
    use ChangeKind::*;
    run_with(
        &mut s,
        "m",
        &[
            (change(Create, "ok"), true, ""),
            // The account was added, the password could not be delivered.
            (
                change(Create, "undelivered"),
                false,
                "created but left disabled: the initial password could not be delivered",
            ),
            (change(CreateDisabled, "prehire-failed"), false, "x"),
            (change(CreateDisabled, "prehire-ok"), true, ""),
            (change(Create, "failed-then-created"), false, "x"),
            (change(Enable, "rehire"), true, ""),
        ],
    );
    // Another mapping's unfinished create is not this mapping's.
    run_with(
        &mut s,
        "other",
        &[(change(Create, "elsewhere"), false, "x")],
    );
    drop(s);
    // A run killed with four creates sent: two found in the directory, one not (yet), one
    // still unknown.
    let killed = killed_run(
        &path,
        "m",
        &[
            change(Create, "found"),
            change(Create, "found-then-finished"),
            change(Create, "absent"),
            change(Create, "unknown"),
            change(Create, "found-then-left"),
        ],
    );
    let mut s = Store::open(&path).unwrap();
    s.resolve_intents(&[
        (killed, 0, IntentOutcome::Applied),
        (killed, 1, IntentOutcome::Applied),
        (killed, 2, IntentOutcome::NotYet),
        (killed, 4, IntentOutcome::Applied),
    ])
    .unwrap();
    run_with(
        &mut s,
        "m",
        &[
            (change(Create, "failed-then-created"), true, ""),
            (change(FinishCreate, "found-then-finished"), true, ""),
            // Disabled by hrsync: it was enabled by then, so its create had finished.
            (change(Disable, "found-then-left"), true, ""),
        ],
    );
    assert_eq!(
        s.unfinished_creates("m").unwrap(),
        keys(&[
            "absent",
            "found",
            "prehire-failed",
            "undelivered",
            "unknown"
        ])
    );
    assert_eq!(s.unfinished_creates("other").unwrap(), keys(&["elsewhere"]));

    // A finish that fails leaves the account unfinished; one that succeeds finishes it.
    run_with(
        &mut s,
        "m",
        &[
            (change(FinishCreate, "found"), false, "x"),
            (change(FinishCreate, "undelivered"), true, ""),
        ],
    );
    let u = s.unfinished_creates("m").unwrap();
    assert!(u.contains("found") && !u.contains("undelivered"), "{u:?}");
    // An `absent` create the directory never showed is forgotten: nothing was created.
    s.resolve_intents(&[(killed, 2, IntentOutcome::NotApplied)])
        .unwrap();
    assert!(!s.unfinished_creates("m").unwrap().contains("absent"));
}

#[test]
fn a_change_found_after_the_next_run_looked_gets_its_audit_row_back_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let killed = killed_run(
        &path,
        "m",
        &[
            change(ChangeKind::Create, "late"),
            change(ChangeKind::Create, "recreated"),
            change(ChangeKind::Create, "never"),
        ],
    );
    let mut s = Store::open(&path).unwrap();
    // The next run does not find them: no audit row (nothing is known to have happened), but
    // they stay to be checked again.
    let settled = s
        .resolve_intents(&[
            (killed, 0, IntentOutcome::NotYet),
            (killed, 1, IntentOutcome::NotYet),
            (killed, 2, IntentOutcome::NotYet),
        ])
        .unwrap();
    assert_eq!(settled, 0);
    assert!(s.audit(Some(killed), None, 10).unwrap().is_empty());
    let u = s.unresolved_intents("m").unwrap();
    assert_eq!(u.len(), 3);
    assert!(u.iter().all(|u| u.absent), "{u:?}");
    assert_eq!(u[0].interrupted_at, Some(at(3)));
    // That run created "recreated" again (the directory had not carried out the old add yet).
    let next = run_with(
        &mut s,
        "m",
        &[(change(ChangeKind::Create, "recreated"), true, "")],
    );
    let u = s.unresolved_intents("m").unwrap();
    assert_eq!(
        u.iter()
            .map(|u| (u.change.key.as_str(), u.superseded))
            .collect::<Vec<_>>(),
        vec![("late", false), ("recreated", true), ("never", false)]
    );
    // Later both show up; "never" never does.
    let settled = s
        .resolve_intents(&[
            (killed, 0, IntentOutcome::Applied),
            (killed, 1, IntentOutcome::Applied),
            (killed, 2, IntentOutcome::NotApplied),
        ])
        .unwrap();
    assert_eq!(settled, 3);
    assert!(s.unresolved_intents("m").unwrap().is_empty());
    let rows = s.audit(None, None, 100).unwrap();
    let of = |k: &str| {
        rows.iter()
            .filter(|r| r.hr_key == k)
            .map(|r| (r.run_id, r.ok, r.message.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        of("late"),
        vec![(killed, true, APPLIED_AFTER_INTERRUPTION.to_string())]
    );
    assert_eq!(of("recreated"), vec![(next, true, String::new())]);
    assert!(of("never").is_empty());
    // Settling again changes nothing.
    assert_eq!(
        s.resolve_intents(&[(killed, 0, IntentOutcome::Applied)])
            .unwrap(),
        0
    );
    assert_eq!(s.audit(None, None, 100).unwrap().len(), 2);
}
