//! Runs watched and stopped from outside (what the REST API builds on), on OpenLDAP: the
//! events a run sends, cancelling before and during the apply, and the API operator recorded
//! instead of this process's user.

use crate::common::*;
use hrsync_engine::{
    CancelToken, EventSink, Mode, RunEvent, RunOptions, RunStatus, Stage, StageState, Ui,
};
use hrsync_model::ChangeKind;
use std::collections::HashSet;

/// Every event received so far.
fn drain(rx: &mut tokio::sync::broadcast::Receiver<RunEvent>) -> Vec<RunEvent> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

/// The runs table's row of run `id`.
fn run_row(store: &hrsync_state::Store, id: i64) -> hrsync_state::RunRow {
    store
        .runs(10_000)
        .unwrap()
        .into_iter()
        .find(|r| r.id == id)
        .unwrap()
}

fn creates(r: &hrsync_engine::RunReport) -> usize {
    r.plan
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Create)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_reports_its_id_stages_progress_and_end() {
    let fx = Fx::new("events", 25, "uid", STAFF_ATTRS).await;
    let (sink, mut rx) = EventSink::channel(10_000);
    let r = fx
        .run_with(
            Mode::Apply,
            RunOptions {
                events: Some(sink),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(r.status, RunStatus::Ok);
    let total = r.plan.changes.len();
    assert!(total > 10, "{total}");
    let events = drain(&mut rx);
    let names: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_value(e).unwrap()["event"].to_string())
        .collect();

    // The run id first.
    assert_eq!(
        events.first(),
        Some(&RunEvent::Started {
            run_id: r.run_id,
            mapping: "staff".into(),
            mode: "apply",
        }),
        "{names:?}"
    );
    // Every stage starts, then finishes, in order.
    let stages: Vec<(Stage, StageState)> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Stage { stage, state, .. } => Some((*stage, *state)),
            _ => None,
        })
        .collect();
    use Stage::*;
    use StageState::*;
    assert_eq!(
        stages,
        vec![
            (Fetch, Started),
            (Map, Started),
            (Snapshot, Started),
            (Fetch, Finished),
            (Map, Finished),
            (Snapshot, Finished),
            (Plan, Started),
            (Plan, Finished),
            (Apply, Started),
            (Apply, Finished),
        ]
    );
    let finished_ms = events.iter().all(|e| match e {
        RunEvent::Stage { state, ms, .. } => (*state == Finished) == ms.is_some(),
        _ => true,
    });
    assert!(finished_ms, "a finished stage says how long it took");
    let pos = |f: &dyn Fn(&RunEvent) -> bool| events.iter().position(f).unwrap();
    let fetched = pos(&|e| matches!(e, RunEvent::Fetched { .. }));
    let planned = pos(&|e| matches!(e, RunEvent::Planned { .. }));
    let apply_started = pos(&|e| {
        matches!(
            e,
            RunEvent::Stage {
                stage: Apply,
                state: Started,
                ..
            }
        )
    });
    assert!(fetched < planned && planned < apply_started, "{names:?}");
    match &events[fetched] {
        RunEvent::Fetched {
            records, complete, ..
        } => {
            assert_eq!(*records, r.plan.fetch.records);
            assert!(complete);
        }
        e => panic!("{e:?}"),
    }
    match &events[planned] {
        RunEvent::Planned {
            total: t, by_kind, ..
        } => {
            assert_eq!(*t, total);
            assert_eq!(by_kind.get("create"), Some(&creates(&r)));
        }
        e => panic!("{e:?}"),
    }
    // Progress while applying: from 0 to every change, never backwards.
    let applying: Vec<(usize, usize, usize, usize)> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Applying {
                done,
                total,
                ok,
                failed,
            } => Some((*done, *total, *ok, *failed)),
            _ => None,
        })
        .collect();
    assert_eq!(applying.first(), Some(&(0, total, 0, 0)));
    assert_eq!(applying.last(), Some(&(total, total, r.applied_ok, 0)));
    assert!(applying.windows(2).all(|w| w[0].0 <= w[1].0));
    assert!(applying.iter().all(|a| a.0 == a.2 + a.3));
    // And the end, last.
    assert_eq!(
        events.last(),
        Some(&RunEvent::Finished {
            status: "ok",
            applied_ok: total,
            applied_failed: 0,
            not_attempted: 0,
            error: None,
            cancelled_by: None,
        }),
        "{names:?}"
    );
    let json = serde_json::to_value(events.last().unwrap()).unwrap();
    assert_eq!(json["event"], "finished");
    assert_eq!(json["status"], "ok");
}

/// A caller who confirms the apply and cancels the run at that moment: the cancel arrives
/// after the plan, before anything is applied.
struct CancelOnConfirm(CancelToken);
impl Ui for CancelOnConfirm {
    fn confirm(&mut self, _plan: &hrsync_model::Plan) -> bool {
        self.0.cancel_by("bob");
        true
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cancelled_before_the_apply_applies_nothing() {
    let fx = Fx::new("cancel-before", 20, "uid", STAFF_ATTRS).await;
    let cfg = fx.config();
    let job = cfg.job("staff").unwrap();

    // Cancelled before it started: nothing fetched, nothing applied.
    let token = CancelToken::new();
    token.cancel();
    let (sink, mut rx) = EventSink::channel(1000);
    let mut store = fx.store();
    let r = hrsync_engine::run_with(
        &job,
        &mut store,
        Mode::Apply,
        RunOptions {
            cancel: Some(token),
            events: Some(sink),
            operator: Some("api:alice".into()),
            ..Default::default()
        },
        chrono::Utc::now(),
        &mut hrsync_engine::Unattended,
    )
    .await
    .unwrap();
    assert_eq!(r.status, RunStatus::Cancelled);
    assert!(!r.applied && r.plan.changes.is_empty());
    let events = drain(&mut rx);
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(matches!(events[0], RunEvent::Started { run_id, .. } if run_id == r.run_id));
    assert_eq!(
        events[1],
        RunEvent::Finished {
            status: "cancelled",
            applied_ok: 0,
            applied_failed: 0,
            not_attempted: 0,
            error: None,
            // Nobody named by the token: the run's own (API) operator.
            cancelled_by: Some("api:alice".into()),
        }
    );
    let row = run_row(&store, r.run_id);
    assert_eq!(row.status, "cancelled");
    assert_eq!(row.error.as_deref(), Some("cancelled by api:alice"));

    // Cancelled once the plan is made, as the apply is confirmed: planned, stored, not applied.
    let token = CancelToken::new();
    let r = hrsync_engine::run_with(
        &job,
        &mut store,
        Mode::Apply,
        RunOptions {
            cancel: Some(token.clone()),
            ..Default::default()
        },
        chrono::Utc::now(),
        &mut CancelOnConfirm(token),
    )
    .await
    .unwrap();
    assert_eq!(r.status, RunStatus::Cancelled);
    assert!(creates(&r) > 10, "the plan was made");
    assert!(!r.applied);
    assert_eq!((r.applied_ok, r.applied_failed), (0, 0));
    assert!(
        fx.search("(employeeNumber=*)").await.is_empty(),
        "nothing applied"
    );
    assert!(store.audit(Some(r.run_id), None, 1000).unwrap().is_empty());
    let row = run_row(&store, r.run_id);
    assert_eq!(row.status, "cancelled");
    assert_eq!(row.error.as_deref(), Some("cancelled by bob"));
    assert_eq!(
        RunStatus::Cancelled.exit_code(),
        7,
        "a cancelled run is not ok"
    );

    // The next run does it all.
    let again = fx.run(Mode::Apply).await;
    assert_eq!(again.status, RunStatus::Ok);
    assert_eq!(again.applied_ok, creates(&r));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cancelled_while_applying_leaves_the_rest_not_attempted_and_audited() {
    let fx = Fx::new("cancel-during", 300, "uid", STAFF_ATTRS).await;
    let token = CancelToken::new();
    let (sink, mut rx) = EventSink::channel(100_000);
    // Another task cancels as soon as the apply reports its first result.
    let canceller = {
        let token = token.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                match rx.recv().await {
                    Ok(e) => {
                        if matches!(e, RunEvent::Applying { done, .. } if done > 0)
                            && !token.is_cancelled()
                        {
                            token.cancel_by("bob");
                        }
                        let end = matches!(e, RunEvent::Finished { .. });
                        seen.push(e);
                        if end {
                            return seen;
                        }
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        })
    };
    let r = fx
        .run_with(
            Mode::Apply,
            RunOptions {
                cancel: Some(token),
                events: Some(sink),
                ..Default::default()
            },
        )
        .await;
    let events = canceller.await.unwrap();
    let total = r.plan.changes.len();
    assert!(total >= 200, "{total}");
    assert_eq!(r.status, RunStatus::Cancelled);
    assert!(r.applied);
    assert!(r.applied_not_attempted > 0, "some changes were left");
    assert!(r.applied_ok > 0, "the first result came before the cancel");
    // Nothing failed: what is not ok was not attempted.
    assert_eq!(r.applied_failed, r.applied_not_attempted);
    assert_eq!(r.applied_ok + r.applied_failed, total);
    eprintln!(
        "cancelled while applying: {} ok, {} not attempted of {total}",
        r.applied_ok, r.applied_not_attempted
    );

    // The audit has every change once: the ones applied are in the directory, the others
    // are not, and say why and who.
    let store = fx.store();
    let audit = store.audit(Some(r.run_id), None, 10_000).unwrap();
    assert_eq!(audit.len(), total);
    let in_dir: HashSet<String> = fx
        .search("(employeeNumber=*)")
        .await
        .into_iter()
        .map(|e| e.dn.to_lowercase())
        .collect();
    assert_eq!(in_dir.len(), r.applied_ok, "none half-applied");
    let mut left = 0;
    for a in &audit {
        assert_eq!(a.kind, "create");
        if a.ok {
            assert!(in_dir.contains(&a.dn.to_lowercase()), "{}", a.dn);
        } else {
            left += 1;
            assert!(!in_dir.contains(&a.dn.to_lowercase()), "{}", a.dn);
            assert_eq!(a.rc, None);
            assert_eq!(
                a.message,
                format!(
                    "not attempted: the run was cancelled by bob ({} changes not attempted)",
                    r.applied_not_attempted
                )
            );
        }
    }
    assert_eq!(left, r.applied_not_attempted);
    let row = run_row(&store, r.run_id);
    assert_eq!(row.status, "cancelled");
    assert_eq!(row.error.as_deref(), Some("cancelled by bob"));
    assert_eq!(
        events.last(),
        Some(&RunEvent::Finished {
            status: "cancelled",
            applied_ok: r.applied_ok,
            applied_failed: r.applied_failed,
            not_attempted: r.applied_not_attempted,
            error: None,
            cancelled_by: Some("bob".into()),
        })
    );
    // The last progress says where the apply stopped.
    let last_applying = events
        .iter()
        .rev()
        .find(|e| matches!(e, RunEvent::Applying { .. }));
    assert_eq!(
        last_applying,
        Some(&RunEvent::Applying {
            done: total,
            total,
            ok: r.applied_ok,
            failed: r.applied_failed,
        })
    );

    // The next run applies exactly the rest.
    let again = fx.run(Mode::Apply).await;
    assert_eq!(again.status, RunStatus::Ok);
    assert_eq!(creates(&again), r.applied_not_attempted);
    assert_eq!(again.applied_ok, r.applied_not_attempted);
    assert_eq!(fx.search("(employeeNumber=*)").await.len(), total);
    let settled = fx.run(Mode::Plan).await;
    assert!(settled.plan.changes.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_operator_is_recorded_instead_of_the_os_user() {
    let fx = Fx::new("api-operator", 12, "uid", STAFF_ATTRS).await;
    let me = hrsync_state::operator_name();
    assert_ne!(me, "api:carol");
    // A saved plan made through the API is the API user's.
    let planned = fx
        .run_with(
            Mode::Plan,
            RunOptions {
                operator: Some("api:carol".into()),
                save: true,
                ..Default::default()
            },
        )
        .await;
    let store = fx.store();
    let saved = store.saved_plan(planned.run_id).unwrap().unwrap();
    assert_eq!(saved.saved_by, "api:carol");
    // An apply: the run and each of its audit rows.
    let r = fx
        .run_with(
            Mode::Apply,
            RunOptions {
                operator: Some("api:carol".into()),
                ..Default::default()
            },
        )
        .await;
    assert!(r.applied_ok > 5);
    let row = run_row(&store, r.run_id);
    assert_eq!(row.operator.as_deref(), Some("api:carol"));
    assert_eq!(row.status, "ok");
    assert_eq!(row.error, None);
    let audit = store.audit(Some(r.run_id), None, 1000).unwrap();
    assert_eq!(audit.len(), r.applied_ok);
    assert!(
        audit
            .iter()
            .all(|a| a.operator.as_deref() == Some("api:carol")),
        "{:?}",
        audit.iter().map(|a| &a.operator).collect::<Vec<_>>()
    );
    // Without it, this process's user, as before.
    let fx2 = Fx::new("os-operator", 5, "uid", STAFF_ATTRS).await;
    let r = fx2.run(Mode::Apply).await;
    let store = fx2.store();
    assert!(
        store
            .audit(Some(r.run_id), None, 100)
            .unwrap()
            .iter()
            .all(|a| a.operator.as_deref() == Some(me.as_str()))
    );
}
