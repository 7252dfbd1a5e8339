//! Write-ahead audit (issue 11 §8: kill -9 during apply lost up to 999 audit rows, and the
//! killed run stayed `running` forever): every change that reached the directory has exactly
//! one audit row after the next run recovered, whenever the process was killed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Utc};
use hrsync_model::{AttrChange, Change, ChangeKind};
use hrsync_state::{
    APPLIED_AFTER_INTERRUPTION, AppliedChange, IntentOutcome, LinkRow, Results, Store,
    UNKNOWN_INTERRUPTED,
};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

const CHILD_ENV: &str = "HRSYNC_STATE_TEST_APPLY_DIR";
const CHANGES: usize = 600;

fn at(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
}

fn create(i: usize) -> Change {
    Change {
        kind: ChangeKind::Create,
        key: format!("E{i}"),
        dn: format!("uid=e{i},ou=people"),
        new_dn: None,
        uuid: None,
        attrs: vec![AttrChange {
            attr: "uid".into(),
            before: vec![],
            after: vec![format!("e{i}")],
        }],
        reason: "new in HR".into(),
    }
}

/// The directory of the simulated apply: one line per change that took effect.
fn directory(dir: &Path) -> BTreeSet<i64> {
    std::fs::read_to_string(dir.join("directory"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.len() == 6)
        .map(|l| l.parse().unwrap())
        .collect()
}

/// An apply as the engine does it: intents of a batch committed before the batch is sent,
/// results recorded every 7 answers (links and names in the same transaction). Run as a
/// child process by `sigkill_at_random_points_loses_no_audit_row`, which kills it.
#[test]
fn child_applies_until_killed() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let mut store = Store::open(&dir.join("state.db")).unwrap();
    let run = store.start_run("apply", "m", Utc::now()).unwrap();
    std::fs::write(dir.join("run"), run.to_string()).unwrap();
    let changes: Vec<Change> = (0..CHANGES).map(create).collect();
    // The plan is saved before the apply (as the engine does): intents refer to it.
    store
        .save_plan(
            run,
            &hrsync_model::Plan {
                mapping: "m".into(),
                target: "t".into(),
                generated_at: Utc::now(),
                fetch: Default::default(),
                leavers_allowed: true,
                leavers_withheld_reason: None,
                leavers_withheld: 0,
                changes: changes.clone(),
                held: vec![],
                held_reasons: vec![],
                unchanged: 0,
                findings: vec![],
                review: vec![],
                ..Default::default()
            },
        )
        .unwrap();
    let mut ldap = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("directory"))
        .unwrap();
    let mut answered: Vec<usize> = Vec::new();
    let flush = |store: &mut Store, answered: &mut Vec<usize>| {
        let items: Vec<AppliedChange<'_>> = answered
            .iter()
            .map(|&i| AppliedChange {
                seq: i,
                change: &changes[i],
                ok: true,
                rc: Some(0),
                message: "",
                at: Utc::now(),
            })
            .collect();
        let links: Vec<LinkRow> = answered
            .iter()
            .map(|&i| LinkRow {
                hr_key: changes[i].key.clone(),
                uuid: None,
                dn: changes[i].dn.clone(),
                state: "active".into(),
            })
            .collect();
        let names: Vec<(String, String, String)> = answered
            .iter()
            .map(|&i| ("uid".into(), format!("e{i}"), changes[i].key.clone()))
            .collect();
        store
            .record_results(
                run,
                "m",
                &Results {
                    changes: &items,
                    names: &names,
                    links: &links,
                    removed_links: &[],
                },
                Utc::now(),
            )
            .unwrap();
        answered.clear();
    };
    for (b, batch) in changes.chunks(50).enumerate() {
        let intents: Vec<(usize, &Change)> = batch
            .iter()
            .enumerate()
            .map(|(j, c)| (b * 50 + j, c))
            .collect();
        store.record_intents(run, &intents, Utc::now()).unwrap();
        for (i, _) in intents {
            // The directory write, then its answer.
            ldap.write_all(format!("{i:06}\n").as_bytes()).unwrap();
            answered.push(i);
            if answered.len() == 7 {
                flush(&mut store, &mut answered);
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    flush(&mut store, &mut answered);
    store.finish_run(run, "ok", None, Utc::now()).unwrap();
}

fn random_ms(max: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    u64::from(nanos) % max
}

#[test]
fn sigkill_at_random_points_loses_no_audit_row() {
    let exe = std::env::current_exe().unwrap();
    let mut with_unknown = 0;
    for trial in 0..6 {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        // Create the database first, so that the kill can land anywhere in the apply.
        drop(Store::open(&dir.join("state.db")).unwrap());
        let mut child = std::process::Command::new(&exe)
            .args(["--exact", "child_applies_until_killed", "--nocapture"])
            .env(CHILD_ENV, dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait until it runs (bounded), then SIGKILL it somewhere in the apply.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while directory(dir).is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        std::thread::sleep(std::time::Duration::from_millis(random_ms(500)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let run: i64 = std::fs::read_to_string(dir.join("run"))
            .unwrap()
            .parse()
            .unwrap();
        let applied = directory(dir);
        assert!(
            !applied.is_empty(),
            "trial {trial}: the child never applied"
        );

        // The next run: recovers, then reconciles the unknown changes with the directory.
        let mut store = Store::open(&dir.join("state.db")).unwrap();
        let interrupted = store.recover_interrupted(Utc::now()).unwrap();
        let status = &store.runs(10).unwrap()[0].status;
        if applied.len() < CHANGES {
            assert_eq!(interrupted.len(), 1, "trial {trial}");
            assert_eq!(status, "interrupted", "trial {trial}");
        }
        let unknown = store.unresolved_intents("m").unwrap();
        if !unknown.is_empty() {
            with_unknown += 1;
        }
        assert_eq!(
            unknown.len(),
            interrupted.first().map_or(0, |r| r.unknown),
            "trial {trial}"
        );
        let settle: Vec<(i64, i64, IntentOutcome)> = unknown
            .iter()
            .map(|u| {
                assert_eq!(u.change, create(u.seq as usize));
                let outcome = if applied.contains(&u.seq) {
                    IntentOutcome::Applied
                } else {
                    IntentOutcome::NotApplied
                };
                (u.run_id, u.seq, outcome)
            })
            .collect();
        assert_eq!(store.resolve_intents(&settle).unwrap(), settle.len());
        assert!(store.unresolved_intents("m").unwrap().is_empty());

        // Exactly one successful audit row per change that reached the directory, none for
        // the others, and no run left `running`.
        let rows = store.audit(Some(run), None, 10 * CHANGES).unwrap();
        let mut per_seq: BTreeMap<i64, usize> = BTreeMap::new();
        for r in &rows {
            assert!(r.ok, "trial {trial}: {r:?}");
            *per_seq.entry(r.seq).or_default() += 1;
        }
        assert!(
            per_seq.values().all(|&n| n == 1),
            "trial {trial}: duplicates"
        );
        assert_eq!(
            per_seq.keys().copied().collect::<BTreeSet<_>>(),
            applied,
            "trial {trial}: audit != directory ({} unknown settled)",
            settle.len()
        );
        assert!(
            store
                .runs(10)
                .unwrap()
                .iter()
                .all(|r| r.status != "running"),
            "trial {trial}"
        );
        // Links and names were written with their audit rows: none without the other.
        let links = store.links("m").unwrap();
        let names = store.used_names("m", "uid").unwrap();
        let audited_plain = rows
            .iter()
            .filter(|r| r.message != APPLIED_AFTER_INTERRUPTION)
            .count();
        assert_eq!(links.len(), audited_plain, "trial {trial}");
        assert_eq!(names.len(), audited_plain, "trial {trial}");
        // A second recovery finds nothing more.
        assert!(store.recover_interrupted(Utc::now()).unwrap().is_empty());
    }
    assert!(
        with_unknown >= 3,
        "the kills should land mid-apply: {with_unknown} of 6 left unknown changes"
    );
}

/// A run owned by a process that is gone.
fn dead_owner() -> String {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    format!("{} pid {pid}", hrsync_state::process::host_name())
}

#[test]
fn live_runs_are_left_alone_and_late_results_settle_the_unknown_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("state.db")).unwrap();
    let run = s.start_run("apply", "m", at(0)).unwrap();
    let changes: Vec<Change> = (0..3).map(create).collect();
    let intents: Vec<(usize, &Change)> = changes.iter().enumerate().collect();
    s.record_intents(run, &intents, at(1)).unwrap();
    assert_eq!(s.pending_intents(run).unwrap().len(), 3);
    // This process owns the run: alive, whatever the test says.
    assert!(
        s.recover_interrupted_with(at(2), &|_| true)
            .unwrap()
            .is_empty()
    );
    let ok = |i: usize| AppliedChange {
        seq: i,
        change: &changes[i],
        ok: true,
        rc: Some(0),
        message: "",
        at: at(3),
    };
    s.record_changes(run, &[ok(0)]).unwrap();
    // A result recorded twice is audited once.
    s.record_changes(run, &[ok(0)]).unwrap();
    assert_eq!(s.audit(Some(run), None, 10).unwrap().len(), 1);
    // An intent for a change that has its result is not recorded again.
    s.record_intents(run, &intents[..1], at(4)).unwrap();
    assert_eq!(s.pending_intents(run).unwrap().len(), 2);
    drop(s);

    // Another process takes this run for dead (a wrong guess): its unknown rows are settled
    // by the results that arrive late, not duplicated.
    let dead = dead_owner();
    let c = rusqlite::Connection::open(dir.path().join("state.db")).unwrap();
    c.execute("UPDATE runs SET owner = ?1", [&dead]).unwrap();
    drop(c);
    let mut s = Store::open(&dir.path().join("state.db")).unwrap();
    let r = s.recover_interrupted(at(5)).unwrap();
    assert_eq!((r.len(), r[0].unknown), (1, 2));
    assert!(r[0].owner.as_deref() == Some(dead.as_str()));
    let rows = s.audit(Some(run), None, 10).unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows.iter()
            .filter(|r| r.message == UNKNOWN_INTERRUPTED && !r.ok)
            .count(),
        2
    );
    s.record_changes(run, &[ok(1)]).unwrap();
    let rows = s.audit(Some(run), None, 10).unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows[1].ok && rows[1].message.is_empty(), "{:?}", rows[1]);
    // Without a saved plan, the intent kept the change itself.
    let u = s.unresolved_intents("m").unwrap();
    assert_eq!((u.len(), u[0].seq), (1, 2));
    assert_eq!(u[0].change, changes[2]);
    assert_eq!(s.unresolved_intents("other").unwrap().len(), 0);
    let err = s.runs(1).unwrap()[0].error.clone().unwrap();
    assert!(
        err.contains(&dead) && err.contains(UNKNOWN_INTERRUPTED),
        "{err}"
    );
}

#[test]
fn ownerless_runs_are_interrupted_after_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let s = Store::open(&path).unwrap();
    let old = s.start_run("plan", "m", at(0)).unwrap();
    let recent = s.start_run("plan", "m", at(3600 * 23)).unwrap();
    drop(s);
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute("UPDATE runs SET owner = NULL", []).unwrap();
    drop(c);
    let mut s = Store::open(&path).unwrap();
    let r = s.recover_interrupted(at(3600 * 25)).unwrap();
    assert_eq!(r.iter().map(|r| r.id).collect::<Vec<_>>(), vec![old]);
    let runs = s.runs(10).unwrap();
    let status = |id| runs.iter().find(|r| r.id == id).unwrap().status.clone();
    assert_eq!(status(old), "interrupted");
    assert_eq!(status(recent), "running");
}
