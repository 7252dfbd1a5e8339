//! The console's plans, runs and audit, in process: a saved plan's changes grouped by kind
//! with before → after and filtered on the server, approve/reject with four-eyes (refused
//! inline), viewers without buttons and their forged posts refused, the audit's filters and
//! cursor paging, a run's page (live while it runs, its status and failures when over), a
//! person's page, and plan now / apply through the daemon's run thread.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod console_support;

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use console_support::{Console, console, serving};
use hrsync_auth::Role;
use hrsync_model::{AttrChange, AttrName, Change, ChangeKind, Plan};
use hrsync_state::{AppliedChange, DirectoryWrite, PlanItem, SavedPlanRow, Store, Trigger};

const FOUR_EYES: &str = "[mapping.approval]\nrequire = [\"disable\"]\nfour_eyes = true\n";

fn change(kind: ChangeKind, key: &str) -> Change {
    Change {
        kind,
        key: key.into(),
        dn: format!("uid={key},ou=people,dc=example,dc=com"),
        new_dn: None,
        uuid: None,
        attrs: Vec::new(),
        reason: format!("reason of {key}"),
    }
}

fn attr(name: &str, before: &[&str], after: &[&str]) -> AttrChange {
    AttrChange {
        attr: AttrName::new(name),
        before: before.iter().map(|s| s.to_string()).collect(),
        after: after.iter().map(|s| s.to_string()).collect(),
    }
}

/// A saved plan of `planner`: a create (p1), an update that moves (p2), and a disable
/// waiting for approval (p3).
fn seed_plan(c: &Console, planner: &str) -> i64 {
    let mut store = Store::open(&c.state).unwrap();
    let run = store
        .start_run_as("plan", "staff", Trigger::Api, planner, Utc::now())
        .unwrap();
    let mut create = change(ChangeKind::Create, "p1");
    create.attrs = vec![attr("cn", &[], &["Ada Lovelace"])];
    let mut update = change(ChangeKind::Update, "p2");
    update.new_dn = Some("uid=p2,ou=moved,dc=example,dc=com".into());
    update.attrs = vec![attr("sn", &["Turing-Old"], &["Turing-New"])];
    let plan = Plan {
        mapping: "staff".into(),
        changes: vec![create, update],
        awaiting_approval: vec![change(ChangeKind::Disable, "p3")],
        ..Default::default()
    };
    store.save_plan(run, &plan).unwrap();
    let item = |part: &str, idx: i64, key: &str, kind: &str, needs: Option<&str>| PlanItem {
        part: part.into(),
        idx,
        hr_key: key.into(),
        kind: kind.into(),
        needs: needs.map(str::to_string),
        ..Default::default()
    };
    store
        .save_saved_plan(
            &SavedPlanRow {
                run_id: run,
                mapping: "staff".into(),
                config_fp: "{}".into(),
                saved_by: planner.into(),
                saved_at: Utc::now().to_rfc3339(),
                expires_at: (Utc::now() + Duration::days(1)).to_rfc3339(),
                status: "open".into(),
                applied_run: None,
            },
            &[
                item("change", 0, "p1", "create", None),
                item("change", 1, "p2", "update", None),
                item("approval", 0, "p3", "disable", Some("disable")),
            ],
        )
        .unwrap();
    store.finish_run(run, "ok", None, Utc::now()).unwrap();
    run
}

fn count(body: &str, needle: &str) -> usize {
    body.matches(needle).count()
}

#[tokio::test]
async fn a_plan_shows_its_changes_by_kind_and_filters_them_on_the_server() {
    let c = console(FOUR_EYES);
    let id = seed_plan(&c, "alice");
    let viewer = c.browser("vera", Role::Viewer);
    let p = c.get(Some(&viewer), &format!("/console/plans/{id}")).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    for (kind, key) in [("create", "p1"), ("update", "p2"), ("disable", "p3")] {
        assert!(
            p.body
                .contains(&format!(r#"data-change-kind="{kind}" data-key="{key}""#)),
            "{kind} {key}: {}",
            p.body
        );
    }
    // Grouped: creates before updates before disables, whatever the plan's parts.
    let pos = |s: &str| p.body.find(s).unwrap();
    assert!(pos(r#"id="kind-create""#) < pos(r#"id="kind-update""#));
    assert!(pos(r#"id="kind-update""#) < pos(r#"id="kind-disable""#));
    // Before → after per attribute, the move, the reason.
    assert!(p.body.contains(r#"<del class="change-before">Turing-Old</del> → <ins class="change-after">Turing-New</ins>"#), "{}", p.body);
    assert!(p.body.contains(
        r#"<del class="change-before">∅</del> → <ins class="change-after">Ada Lovelace</ins>"#
    ));
    assert!(
        p.body
            .contains("move → <code>uid=p2,ou=moved,dc=example,dc=com</code>")
    );
    assert!(p.body.contains("reason of p2"));
    // Four-eyes shown; a viewer has no button.
    assert!(
        p.body.contains("an operator or admin other than alice"),
        "{}",
        p.body
    );
    for b in [r#"id="approve""#, r#"id="reject""#, r#"id="apply""#] {
        assert!(!p.body.contains(b), "a viewer sees {b}");
    }

    // Filters go to the API: by kind, by person (any case), by the DN after a move.
    let only = |body: &str| -> Vec<String> {
        ["p1", "p2", "p3"]
            .iter()
            .filter(|k| body.contains(&format!(r#"data-key="{k}""#)))
            .map(|k| k.to_string())
            .collect()
    };
    for (q, want) in [
        ("kind=update", vec!["p2"]),
        ("q=P3", vec!["p3"]),
        ("q=ou%3Dmoved", vec!["p2"]),
        ("status=waiting", vec!["p3"]),
        ("kind=delete", vec![]),
    ] {
        let p = c
            .get(Some(&viewer), &format!("/console/plans/{id}?{q}"))
            .await;
        assert_eq!(p.status, StatusCode::OK, "{q}: {}", p.body);
        assert_eq!(only(&p.body), want, "{q}");
    }

    // The list, and the dashboard's "awaiting approval" view of it.
    let p = c.get(Some(&viewer), "/console/plans").await;
    assert!(
        p.body.contains(&format!(r#"data-plan="{id}""#)),
        "{}",
        p.body
    );
    let p = c
        .get(Some(&viewer), "/console/plans?awaiting=1&mapping=staff")
        .await;
    assert!(
        p.body.contains(&format!(r#"data-plan="{id}""#)),
        "{}",
        p.body
    );
    assert!(p.body.contains("disable 1"), "{}", p.body);
    let p = c
        .get(Some(&viewer), "/console/plans?awaiting=1&mapping=other")
        .await;
    assert!(p.body.contains("Nothing awaits an approval"), "{}", p.body);
}

#[tokio::test]
async fn approvals_follow_four_eyes_and_a_viewer_is_refused() {
    let c = console(FOUR_EYES);
    let id = seed_plan(&c, "alice");
    let uri = format!("/console/plans/{id}/decide");
    let waiting = || async {
        let p = c
            .get(
                Some(&c.browser("vera", Role::Viewer)),
                &format!("/console/plans/{id}?status=waiting"),
            )
            .await;
        p.body.contains(r#"data-key="p3""#)
    };

    // A viewer's forged post (with a valid CSRF token) is refused by the API.
    let viewer = c.browser("vera", Role::Viewer);
    let p = c
        .post_form(&viewer, &uri, &[("decision", "approve")], true)
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    assert!(waiting().await, "nothing was approved");

    // The planner sees the buttons, is warned, and the API's four-eyes refusal shows inline.
    let alice = c.browser("alice", Role::Operator);
    let p = c.get(Some(&alice), &format!("/console/plans/{id}")).await;
    for b in [r#"id="approve""#, r#"id="reject""#, r#"id="apply""#] {
        assert!(p.body.contains(b), "an operator sees {b}: {}", p.body);
    }
    assert!(p.body.contains("You made this plan"), "{}", p.body);
    let p = c
        .htmx(&alice, "POST", &uri, &[("decision", "approve")])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    assert!(p.body.contains(r#"data-problem="four-eyes""#), "{}", p.body);
    assert!(p.body.contains(r#"role="alert""#));
    assert!(!p.body.contains("<html"), "a fragment, not a page");
    assert!(waiting().await);

    // Another operator approves (with a comment): the page shows who did.
    let bob = c.browser("bob", Role::Operator);
    let p = c
        .htmx(
            &bob,
            "POST",
            &uri,
            &[("decision", "approve"), ("comment", "checked with HR")],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!(p.headers["hx-redirect"], format!("/console/plans/{id}"));
    assert!(!waiting().await);
    let p = c.get(Some(&bob), &format!("/console/plans/{id}")).await;
    assert!(
        p.body.contains("approved by bob: “checked with HR”"),
        "{}",
        p.body
    );
    assert!(p.body.contains("0 waiting, 1 approved"), "{}", p.body);
    assert!(
        !p.body.contains(r#"id="approve""#),
        "nothing left to approve"
    );
    // A plain form (no htmx) comes back to the plan with a 303.
    let p = c
        .post_form(&bob, &uri, &[("decision", "reject")], true)
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.headers["location"], format!("/console/plans/{id}"));
}

/// Audit rows: 120 changes of p0..p9 by alice and bob, every tenth failed (noSuchObject).
fn seed_audit(c: &Console) -> DateTime<Utc> {
    let mut store = Store::open(&c.state).unwrap();
    let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    for i in 0..120i64 {
        let kind = if i % 3 == 0 {
            ChangeKind::Disable
        } else {
            ChangeKind::Update
        };
        let ch = change(kind, &format!("p{}", i % 10));
        store
            .record_write(&DirectoryWrite {
                mapping: "staff",
                change: &ch,
                ok: i % 10 != 7,
                rc: (i % 10 == 7).then_some(32),
                message: "no such entry",
                trigger: Trigger::Api,
                operator: if i % 2 == 0 { "alice" } else { "bob" },
                outbox: None,
                at: t0 + Duration::hours(i),
            })
            .unwrap();
    }
    t0
}

fn row_ids(body: &str) -> Vec<String> {
    body.split(r#"data-audit-row=""#)
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_audit_is_searched_and_paged_by_the_api() {
    let c = console("");
    let t0 = seed_audit(&c);
    let viewer = c.browser("vera", Role::Viewer);
    let p = c.get(Some(&viewer), "/console/runs").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    for id in [
        r#"id="audit-filter""#,
        r#"id="f-person""#,
        r#"id="f-kind""#,
        r#"id="f-result""#,
        r#"id="f-mapping""#,
        r#"id="f-since""#,
        r#"id="f-until""#,
    ] {
        assert!(p.body.contains(id), "{id}");
    }
    let first = row_ids(&p.body);
    assert_eq!(first.len(), 50, "one page");
    assert!(p.body.contains(r#"data-operator="alice""#));
    // "Next page" carries the cursor: the next 50, none repeated, then the last 20.
    let next = p
        .body
        .split(r#"<a href=""#)
        .find_map(|s| {
            let href = s.split('"').next().unwrap();
            let href = href.replace("&amp;", "&").replace("&#x2f;", "/");
            let href = href.split('#').next().unwrap();
            href.contains("cursor=c").then(|| href.to_string())
        })
        .unwrap_or_else(|| panic!("a next page link: {}", p.body));
    let p2 = c.get(Some(&viewer), &next).await;
    let second = row_ids(&p2.body);
    assert_eq!(second.len(), 50, "{next}");
    assert!(second.iter().all(|i| !first.contains(i)));
    assert!(
        second[0].parse::<i64>().unwrap() < first[49].parse::<i64>().unwrap(),
        "newest first"
    );

    // Filters: person, kind, result (the LDAP result by name), operator shown, dates.
    let p = c.get(Some(&viewer), "/console/runs?person=p7").await;
    assert_eq!(row_ids(&p.body).len(), 12);
    assert_eq!(count(&p.body, r#"data-key="p7""#), 12);
    let p = c.get(Some(&viewer), "/console/runs?result=failed").await;
    assert_eq!(row_ids(&p.body).len(), 12);
    assert!(p.body.contains("noSuchObject (32)"), "{}", p.body);
    let p = c
        .get(Some(&viewer), "/console/runs?kind=disable&mapping=staff")
        .await;
    assert_eq!(row_ids(&p.body).len(), 40);
    assert_eq!(count(&p.body, r#"data-kind="disable""#), 40);
    // 2027-01-15 08:00 UTC + i hours: the 16th holds i = 16..=39.
    assert_eq!(t0.to_rfc3339(), "2027-01-15T08:00:00+00:00");
    let p = c
        .get(
            Some(&viewer),
            "/console/runs?since=2027-01-16&until=2027-01-16",
        )
        .await;
    assert_eq!(row_ids(&p.body).len(), 24, "{}", p.body);
    let p = c.get(Some(&viewer), "/console/runs?since=yesterday").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains(r#"role="alert""#) && p.body.contains("is not a date"));

    // A person's page: their history; the HR record only for operators.
    let p = c.get(Some(&viewer), "/console/people/staff/p7").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert_eq!(row_ids(&p.body).len(), 12);
    assert!(!p.body.contains(r#"id="person-load""#));
    let op = c.browser("olga", Role::Operator);
    let p = c.get(Some(&op), "/console/people/staff/p7").await;
    assert!(p.body.contains(r#"id="person-load""#));
    let p = c.get(Some(&viewer), "/console/people/staff/nobody").await;
    assert_eq!(
        p.status,
        StatusCode::OK,
        "an unknown person's page still opens"
    );
    assert!(p.body.contains("No account linked"));
}

#[tokio::test]
async fn a_run_page_follows_a_running_run_and_explains_a_finished_one() {
    let c = console("");
    let mut store = Store::open(&c.state).unwrap();
    let running = store
        .start_run_as("apply", "staff", Trigger::Api, "alice", Utc::now())
        .unwrap();
    let viewer = c.browser("vera", Role::Viewer);
    let p = c
        .get(Some(&viewer), &format!("/console/runs/{running}"))
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains(r#"id="run-progress""#));
    assert!(p.body.contains(&format!(
        r#"data-run-events="/api/v1/runs/{running}/events" data-run-done="/console/runs/{running}/result""#
    )));
    assert!(
        !p.body.contains(r#"id="run-status""#),
        "no final status while it runs"
    );
    assert!(
        !p.body.contains(r#"id="cancel-run""#),
        "a viewer cannot cancel"
    );
    let op = c.browser("olga", Role::Operator);
    let p = c.get(Some(&op), &format!("/console/runs/{running}")).await;
    assert!(p.body.contains(r#"id="cancel-run""#));
    // Not a run of this daemon: the API's answer, inline.
    let p = c
        .htmx(&op, "POST", &format!("/console/runs/{running}/cancel"), &[])
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND, "{}", p.body);
    assert!(p.body.contains(r#"role="alert""#));
    // The apply is over: two changes, one failed.
    let ok = change(ChangeKind::Update, "p1");
    let bad = change(ChangeKind::Disable, "p2");
    store
        .record_changes(
            running,
            &[
                AppliedChange {
                    seq: 0,
                    change: &ok,
                    ok: true,
                    rc: None,
                    message: "",
                    at: Utc::now(),
                },
                AppliedChange {
                    seq: 1,
                    change: &bad,
                    ok: false,
                    rc: Some(50),
                    message: "no write access",
                    at: Utc::now(),
                },
            ],
        )
        .unwrap();
    store
        .finish_run(running, "partial", None, Utc::now())
        .unwrap();
    // Another run's change is not this run's.
    let other = store
        .start_run_as("apply", "staff", Trigger::Api, "bob", Utc::now())
        .unwrap();
    store
        .record_changes(
            other,
            &[AppliedChange {
                seq: 0,
                change: &change(ChangeKind::Update, "p9"),
                ok: true,
                rc: None,
                message: "",
                at: Utc::now(),
            }],
        )
        .unwrap();
    // What the live progress loads when it sees `finished`.
    let p = c
        .htmx(
            &viewer,
            "GET",
            &format!("/console/runs/{running}/result"),
            &[],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.starts_with("") && !p.body.contains("<html"));
    assert!(p.body.contains(r#"id="run-progress""#));
    assert!(
        p.body
            .contains(r#"<span id="run-status" data-status="partial">partial</span>"#),
        "{}",
        p.body
    );
    assert!(
        p.body.contains("insufficientAccessRights (50)"),
        "{}",
        p.body
    );
    assert!(p.body.contains("no write access"));
    assert_eq!(row_ids(&p.body).len(), 2, "{}", p.body);
    assert!(p.body.contains(r#"data-operator="alice""#), "{}", p.body);
    assert!(!p.body.contains(r#"data-key="p9""#), "another run's change");
    let p = c
        .get(Some(&viewer), &format!("/console/runs/{running}"))
        .await;
    assert!(p.body.contains(r#"id="run-status""#));
    assert!(p.body.contains(r#"id="run-operator">alice"#), "{}", p.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_now_and_apply_start_runs_through_the_api() {
    let (c, running) = serving(FOUR_EYES).await;
    let viewer = c.browser("vera", Role::Viewer);
    let op = c.browser("olga", Role::Operator);
    // A viewer's forged "plan now" is refused.
    let p = c
        .post_form(&viewer, "/console/plans/now", &[("mapping", "staff")], true)
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    // An unknown mapping: the API's 404, shown.
    let p = c
        .post_form(&op, "/console/plans/now", &[("mapping", "nope")], true)
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND, "{}", p.body);
    assert!(p.body.contains(r#"role="alert""#));
    // Plan now: to the run's page, which shows the run (here it fails: no directory).
    let p = c
        .post_form(&op, "/console/plans/now", &[("mapping", "staff")], true)
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let to = p.headers["location"].to_str().unwrap().to_string();
    let id: i64 = to.strip_prefix("/console/runs/").unwrap().parse().unwrap();
    // Its events, as the page's script reads them, with the browser's session.
    let ev = c
        .get(Some(&viewer), &format!("/api/v1/runs/{id}/events"))
        .await;
    assert_eq!(ev.status, StatusCode::OK);
    assert!(ev.body.contains("event: finished"), "{}", ev.body);
    let mut body = String::new();
    for _ in 0..100 {
        body = c.get(Some(&op), &to).await.body;
        if body.contains(r#"id="run-status""#) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        body.contains(r#"<span id="run-status" data-status="failed">failed</span>"#),
        "{body}"
    );
    assert!(body.contains("The run failed"), "{body}");
    assert!(body.contains(r#"id="run-operator">olga"#), "{body}");

    // Apply of a saved plan made under another configuration: the API's refusal, inline.
    let plan = seed_plan(&c, "alice");
    let p = c
        .htmx(&op, "POST", &format!("/console/plans/{plan}/apply"), &[])
        .await;
    assert!(p.status.is_client_error(), "{}: {}", p.status, p.body);
    assert!(p.body.contains(r#"role="alert""#), "{}", p.body);
    // A viewer's forged apply is refused before any run starts.
    let p = c
        .post_form(&viewer, &format!("/console/plans/{plan}/apply"), &[], true)
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    running.shutdown(std::time::Duration::from_secs(10)).await;
}
