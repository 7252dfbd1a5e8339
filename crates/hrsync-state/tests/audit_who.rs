//! Audit rows record what started a write and who (issue 11 §7), and directory writes made
//! outside a run (orchestration steps) are in the same audit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use hrsync_model::{AttrChange, Change, ChangeKind};
use hrsync_state::{AppliedChange, DirectoryWrite, Store, Trigger};

fn at(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
}

fn change(kind: ChangeKind, key: &str, attr: &str, after: &str) -> Change {
    Change {
        kind,
        key: key.into(),
        dn: format!("uid={key},ou=people"),
        new_dn: None,
        uuid: None,
        attrs: vec![AttrChange {
            attr: attr.into(),
            before: vec![],
            after: vec![after.into()],
        }],
        reason: "test".into(),
    }
}

#[test]
fn runs_and_their_changes_carry_trigger_and_operator() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("state.db")).unwrap();
    let run = s
        .start_run_as("apply", "staff", Trigger::Schedule, "hrsync", at(0))
        .unwrap();
    let c = change(ChangeKind::Update, "E1", "title", "Boss");
    s.record_changes(
        run,
        &[AppliedChange {
            seq: 0,
            change: &c,
            ok: true,
            rc: Some(0),
            message: "",
            at: at(1),
        }],
    )
    .unwrap();
    let row = &s.audit(Some(run), None, 10).unwrap()[0];
    assert_eq!(row.trigger.as_deref(), Some("schedule"));
    assert_eq!(row.operator.as_deref(), Some("hrsync"));
    assert_eq!(row.mapping.as_deref(), Some("staff"));
    let r = &s.runs(1).unwrap()[0];
    assert_eq!(r.trigger.as_deref(), Some("schedule"));
    assert_eq!(r.operator.as_deref(), Some("hrsync"));
    assert_eq!(r.owner.as_deref(), Some(hrsync_state::owner_id().as_str()));
    // JSON spells the trigger as in the config.
    assert_eq!(
        serde_json::to_string(&Trigger::Orchestration).unwrap(),
        "\"orchestration\""
    );

    // The old entry point still works and names the operator of this process.
    let old = s.start_run("plan", "staff", at(2)).unwrap();
    let r = s
        .runs(5)
        .unwrap()
        .into_iter()
        .find(|r| r.id == old)
        .unwrap();
    assert_eq!(r.operator, Some(hrsync_state::operator_name()));
    assert_ne!(r.operator.as_deref(), Some("unknown"));
    assert_eq!(r.trigger, None);
}

#[test]
fn writes_outside_a_run_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("state.db")).unwrap();
    let run = s
        .start_run_as("apply", "staff", Trigger::Cli, "alice", at(0))
        .unwrap();
    let create = change(ChangeKind::Create, "E1", "uid", "e1");
    s.record_changes(
        run,
        &[AppliedChange {
            seq: 0,
            change: &create,
            ok: true,
            rc: Some(0),
            message: "",
            at: at(1),
        }],
    )
    .unwrap();
    // An orchestration step sets an attribute, later; another one disables someone.
    let set = change(ChangeKind::Update, "E1", "mail", "e1@example.com");
    let id = s
        .record_write(&DirectoryWrite {
            mapping: "staff",
            change: &set,
            ok: true,
            rc: Some(0),
            message: "",
            trigger: Trigger::Orchestration,
            operator: "hrsync",
            outbox: Some((7, 2)),
            at: at(100),
        })
        .unwrap();
    assert!(id > 0);
    let disable = change(ChangeKind::Disable, "E2", "pwdAccountLockedTime", "x");
    s.record_write(&DirectoryWrite {
        mapping: "staff",
        change: &disable,
        ok: true,
        rc: Some(0),
        message: "",
        trigger: Trigger::Orchestration,
        operator: "hrsync",
        outbox: Some((8, 0)),
        at: at(101),
    })
    .unwrap();

    // Newest first, both kinds of rows.
    let all = s.audit(None, None, 10).unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!((all[0].hr_key.as_str(), all[0].run_id), ("E2", 0));
    let step = &all[1];
    assert_eq!((step.run_id, step.seq, step.outbox_id), (0, 2, Some(7)));
    assert_eq!(step.trigger.as_deref(), Some("orchestration"));
    assert_eq!(step.operator.as_deref(), Some("hrsync"));
    assert_eq!(step.attrs[0]["after"][0], "e1@example.com");
    assert_eq!(all[2].operator.as_deref(), Some("alice"));
    // A person's history has both, newest first.
    let e1 = s.audit(None, Some("E1"), 10).unwrap();
    assert_eq!(
        e1.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>(),
        vec!["update", "create"]
    );
    // A run's audit has only the run's rows.
    assert_eq!(s.audit(Some(run), None, 10).unwrap().len(), 1);
    // Disables made by orchestration count toward the mapping's rate limits.
    assert_eq!(s.applied_since("staff", "disable", at(0)).unwrap(), 1);
    assert_eq!(s.applied_since("staff", "disable", at(200)).unwrap(), 0);
    assert_eq!(s.applied_since("other", "disable", at(0)).unwrap(), 0);
    assert_eq!(s.applied_since("staff", "create", at(0)).unwrap(), 1);
}
