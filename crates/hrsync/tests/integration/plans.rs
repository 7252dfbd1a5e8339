//! Saved plans applied exactly (issue 14 §1) and approvals (§2), against a real slapd and the
//! IceHrm emulator, through the real binary where the operator would type the command.

use crate::common::*;
use hrsync_engine::Mode;
use hrsync_model::filter;
use serde_json::json;
use std::collections::HashSet;

/// The plan id printed by `plan --save`.
fn saved_id(out: &str) -> i64 {
    let at = out
        .find("Saved plan ")
        .unwrap_or_else(|| panic!("no saved plan id in:\n{out}"));
    out[at + "Saved plan ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

async fn dept_of(fx: &Fx, key: &str) -> Vec<String> {
    let e = fx.search(&filter::eq("employeeNumber", key)).await;
    e[0].attrs
        .get("departmentNumber")
        .cloned()
        .unwrap_or_default()
}

fn other_dept(old: i64, avoid: i64) -> i64 {
    (2..=11).find(|d| *d != old && *d != avoid).unwrap()
}

fn dept_id(fx: &Fx, id: i64) -> i64 {
    fx.emu.employee(id).unwrap()["department"]["id"]
        .as_i64()
        .unwrap()
}

/// Acceptance (issue 14): a saved plan applied after HR changed one person's department and
/// someone edited another entry by hand: the other changes apply, those two are skipped as
/// stale with reasons, nothing else changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_applies_exactly_its_changes_and_skips_the_stale_ones() {
    let fx = Fx::new("plans-stale", 20, "uid", STAFF_ATTRS).await;
    let first = fx.run(Mode::Apply).await;
    assert_eq!(first.applied_failed, 0);
    let ids = fx.active_ids();
    let (a, b, c, d, e) = (ids[0], ids[1], ids[2], ids[3], ids[4]);
    let b_first = dept_id(&fx, b);
    // Four movers in HR: the saved plan updates their departmentNumber.
    for id in [a, b, c, d] {
        let old = dept_id(&fx, id);
        fx.emu
            .update(id, json!({"department": other_dept(old, old)}))
            .unwrap();
    }
    let (code, out) = cli_async(&fx.cfg_path, &["plan", "--save"], &[]).await;
    assert_eq!(code, 0, "{out}");
    let plan = saved_id(&out);
    let planned: HashSet<String> = fx
        .store()
        .plan_of(plan)
        .unwrap()
        .unwrap()
        .changes
        .iter()
        .map(|c| c.key.clone())
        .collect();
    let key = |id| fx.emp_no(id);
    assert_eq!(
        planned,
        HashSet::from([key(a), key(b), key(c), key(d)]),
        "{out}"
    );
    let before_a = dept_of(&fx, &key(a)).await;

    // After the plan: HR moves B once more, someone edits C's entry by hand, and HR moves E,
    // who is not in the plan.
    let b_now = dept_id(&fx, b);
    fx.emu
        .update(b, json!({"department": other_dept(b_now, b_first)}))
        .unwrap();
    let e_dept = dept_id(&fx, e);
    fx.emu
        .update(e, json!({"department": other_dept(e_dept, e_dept)}))
        .unwrap();
    let c_dn = fx.search(&filter::eq("employeeNumber", &key(c))).await[0]
        .dn
        .clone();
    let mut ldap = admin().await;
    ldap.modify(
        &c_dn,
        vec![ldap3::Mod::Replace(
            "departmentNumber",
            HashSet::from(["Edited by hand"]),
        )],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    let b_before = dept_of(&fx, &key(b)).await;
    let e_before = dept_of(&fx, &key(e)).await;

    let (code, out) = cli_async(
        &fx.cfg_path,
        &["apply", "--yes", "--plan", &plan.to_string()],
        &[],
    )
    .await;
    // Not "ok": something of the plan was not done.
    assert_eq!(code, 6, "{out}");
    assert!(out.contains("2 change(s) of saved plan"), "{out}");
    assert!(out.contains("STALE"), "{out}");
    assert!(
        out.contains(&format!(
            "[{}]  HR changed department since the plan",
            key(b)
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("[{}]  changed by hand since the plan: departmentNumber is \"Edited by hand\" in the directory", key(c))),
        "{out}"
    );
    assert!(out.contains("make a new plan"), "{out}");

    // A and D moved; B, C and E are as they were.
    assert_ne!(dept_of(&fx, &key(a)).await, before_a);
    let hr_dept = |id| {
        fx.emu.employee(id).unwrap()["department"]["display"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(dept_of(&fx, &key(a)).await, vec![hr_dept(a)]);
    assert_eq!(dept_of(&fx, &key(d)).await, vec![hr_dept(d)]);
    assert_eq!(dept_of(&fx, &key(b)).await, b_before);
    assert_eq!(
        dept_of(&fx, &key(c)).await,
        vec!["Edited by hand".to_string()]
    );
    assert_eq!(dept_of(&fx, &key(e)).await, e_before);

    // The run applied exactly two changes, and says which plan it applied.
    let store = fx.store();
    let run = store.runs(1).unwrap()[0].clone();
    assert_eq!(run.status, "stale");
    let audit = store.audit(Some(run.id), None, 100).unwrap();
    let applied: HashSet<String> = audit.iter().map(|r| r.hr_key.clone()).collect();
    assert_eq!(applied, HashSet::from([key(a), key(d)]));
    assert!(audit.iter().all(|r| r.ok));
    let applied_plan = store.plan_of(run.id).unwrap().unwrap();
    assert_eq!(applied_plan.from_plan, Some(plan));
    assert_eq!(applied_plan.stale.len(), 2);
    // The saved plan records each outcome, and is done: applying it again is refused.
    let items = store.plan_items(plan).unwrap();
    assert!(
        items.iter().all(|i| i.applied_run == Some(run.id)),
        "{items:?}"
    );
    assert_eq!(
        items
            .iter()
            .filter(|i| i
                .outcome
                .as_deref()
                .is_some_and(|o| o.starts_with("stale: ")))
            .count(),
        2
    );
    let (code, out) = cli_async(
        &fx.cfg_path,
        &["apply", "--yes", "--plan", &plan.to_string()],
        &[],
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("already applied"), "{out}");
    // A new plan picks up what is left (B's new department, E's; C back to HR's value).
    let again = fx.run(Mode::Plan).await;
    let left: HashSet<String> = again.plan.changes.iter().map(|c| c.key.clone()).collect();
    assert_eq!(
        left,
        HashSet::from([key(b), key(c), key(e)]),
        "{}",
        hrsync_plan::render_text(&again.plan, true, None)
    );
}

/// A saved plan expires; a plan file is refused by another configuration (naming the part
/// that differs) and applies with the same one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_plans_expire_and_plan_files_are_bound_to_their_configuration() {
    let fx = Fx::new("plans-file", 8, "uid", STAFF_ATTRS).await;
    fx.run(Mode::Apply).await;
    let id = fx.active_ids()[0];
    let old = dept_id(&fx, id);
    fx.emu
        .update(id, json!({"department": other_dept(old, old)}))
        .unwrap();
    let file = fx.dir.path().join("change-4711.json");
    let (code, out) = cli_async(
        &fx.cfg_path,
        &["plan", "--out", file.to_str().unwrap()],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let plan = saved_id(&out);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Expired a day later (the default: 24 h).
    let cfg = fx.config();
    let job = cfg.job("staff").unwrap();
    let later = chrono::Utc::now() + chrono::Duration::hours(25);
    let err = hrsync_engine::plans::load(&fx.store(), &job, plan, later).unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    assert!(hrsync_engine::plans::load(&fx.store(), &job, plan, chrono::Utc::now()).is_ok());

    // Another configuration (a changed format) refuses the file, naming what differs.
    let text = std::fs::read_to_string(&fx.cfg_path).unwrap();
    let other = fx.dir.path().join("other.toml");
    std::fs::write(
        &other,
        text.replace(
            "title = \"{job_title.display}\"",
            "title = \"{job_title.display|upper}\"",
        ),
    )
    .unwrap();
    let (code, out) = cli_async(
        &other,
        &["apply", "--yes", "--plan-file", file.to_str().unwrap()],
        &[],
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("was made with another configuration: the [[mapping]] changed since"),
        "{out}"
    );
    let key = fx.emp_no(id);
    let before = dept_of(&fx, &key).await;
    // The same configuration applies it.
    let (code, out) = cli_async(
        &fx.cfg_path,
        &["apply", "--yes", "--plan-file", file.to_str().unwrap()],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert_ne!(dept_of(&fx, &key).await, before);
}

fn require_approval(fx: &Fx, extra: &str) {
    let text = std::fs::read_to_string(&fx.cfg_path).unwrap();
    std::fs::write(
        &fx.cfg_path,
        format!("{text}\n[mapping.approval]\nrequire = [\"disable\"]\nfour_eyes = true\n{extra}\n"),
    )
    .unwrap();
}

async fn disabled(fx: &Fx, key: &str) -> bool {
    fx.search(&filter::eq("employeeNumber", key)).await[0]
        .attrs
        .contains_key("pwdAccountLockedTime")
}

/// Acceptance (issue 14): four-eyes: the planner cannot approve; a second operator can;
/// rejected changes never apply (not by `apply --plan`, not by a plain apply).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_eyes_the_planner_cannot_approve_and_rejected_changes_never_apply() {
    let fx = Fx::new("plans-4eyes", 10, "uid", STAFF_ATTRS).await;
    fx.run(Mode::Apply).await;
    require_approval(&fx, "");
    let ids = fx.active_ids();
    let (x, y, z) = (ids[0], ids[1], ids[2]);
    let (kx, ky, kz) = (fx.emp_no(x), fx.emp_no(y), fx.emp_no(z));
    assert!(fx.emu.terminate(x, "2026-11-20"));
    assert!(fx.emu.terminate(y, "2026-11-20"));
    // A mover too: it needs no approval and applies at once.
    let old = dept_id(&fx, z);
    fx.emu
        .update(z, json!({"department": other_dept(old, old)}))
        .unwrap();
    let alice = [("SUDO_USER", "alice"), ("USER", "alice")];
    let bob = [("SUDO_USER", "bob"), ("USER", "bob")];
    let (code, out) = cli_async(&fx.cfg_path, &["apply", "--yes"], &alice).await;
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("2 change(s) AWAIT APPROVAL"), "{out}");
    assert!(out.contains("! approve disable"), "{out}");
    assert!(!disabled(&fx, &kx).await && !disabled(&fx, &ky).await);
    let plan = fx.store().runs(1).unwrap()[0].id;
    assert_ne!(dept_of(&fx, &kz).await, Vec::<String>::new());

    let (code, out) = cli_async(&fx.cfg_path, &["approvals", "--json"], &bob).await;
    assert_eq!(code, 0, "{out}");
    let waiting: serde_json::Value = serde_json::from_str(&out).unwrap();
    let keys: HashSet<&str> = waiting
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, HashSet::from([kx.as_str(), ky.as_str()]));
    assert!(
        waiting
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["plan"] == plan && w["planned_by"] == "alice")
    );

    // The planner cannot approve.
    let (code, out) = cli_async(&fx.cfg_path, &["approve", &plan.to_string()], &alice).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("four-eyes approval: alice made plan"), "{out}");
    // Nothing approved: apply --plan applies nothing.
    let (code, out) = cli_async(
        &fx.cfg_path,
        &["apply", "--yes", "--plan", &plan.to_string()],
        &bob,
    )
    .await;
    assert_eq!(code, 5, "{out}");
    assert!(!disabled(&fx, &kx).await && !disabled(&fx, &ky).await);

    // Bob approves X and rejects Y.
    let (code, out) = cli_async(
        &fx.cfg_path,
        &[
            "approve",
            &plan.to_string(),
            "--only",
            &kx,
            "--reject",
            &ky,
            "--comment",
            "checked with HR (ticket 4711)",
        ],
        &bob,
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("approved disable") && out.contains("1 approved, 1 rejected"),
        "{out}"
    );
    let (code, out) = cli_async(
        &fx.cfg_path,
        &["apply", "--yes", "--plan", &plan.to_string()],
        &bob,
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(disabled(&fx, &kx).await, "{out}");
    assert!(!disabled(&fx, &ky).await, "{out}");
    // The decision is in the audit, with who made it and why.
    let store = fx.store();
    let run = store.runs(1).unwrap()[0].id;
    let audit = store.audit(Some(run), None, 10).unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].hr_key, kx);
    assert_eq!(audit[0].operator.as_deref(), Some("bob"));
    assert!(
        audit[0].reason.contains("approved by bob at")
            && audit[0].reason.contains("(checked with HR (ticket 4711))"),
        "{}",
        audit[0].reason
    );
    let items = store.plan_items(plan).unwrap();
    let y_item = items.iter().find(|i| i.hr_key == ky).unwrap();
    assert_eq!(y_item.decision.as_deref(), Some("rejected"));
    assert_eq!(y_item.decided_by.as_deref(), Some("bob"));
    // Every decision shows in `runs` and `audit`.
    let (code, out) = cli_async(&fx.cfg_path, &["runs"], &bob).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "approved disable [{kx}] by bob (checked with HR (ticket 4711))"
        )) && out.contains(&format!("rejected disable [{ky}] by bob")),
        "{out}"
    );
    let (code, out) = cli_async(&fx.cfg_path, &["runs", "--json"], &bob).await;
    assert_eq!(code, 0, "{out}");
    let runs: serde_json::Value = serde_json::from_str(&out).unwrap();
    let saved = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == plan)
        .unwrap();
    assert_eq!(saved["saved_plan"]["approved"], 1);
    assert_eq!(saved["saved_plan"]["rejected"], 1);
    let (code, out) = cli_async(&fx.cfg_path, &["audit", "--run", &plan.to_string()], &bob).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("plan {plan} decision rejected disable [{ky}]"))
            && out.contains("-- by bob at"),
        "{out}"
    );

    // A plain apply (by anyone) does not disable Y either: it waits for approval again.
    let (code, out) = cli_async(&fx.cfg_path, &["apply", "--yes"], &bob).await;
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("1 change(s) AWAIT APPROVAL"), "{out}");
    assert!(!disabled(&fx, &ky).await);
}

/// Acceptance (issue 14): a scheduled automation with approval configured plans, stores and
/// stops at the approval gate; the approved plan applies in the daemon's next run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_run_stops_at_the_approval_gate_and_the_next_run_applies_the_approved_plan() {
    use chrono::Timelike;
    let fx = Fx::new("plans-daemon", 8, "uid", STAFF_ATTRS).await;
    fx.run(Mode::Apply).await;
    require_approval(
        &fx,
        "auto_apply = true\n\n[[automation]]\nname = \"hourly\"\nmapping = \"staff\"\nschedule = \"0 * * * *\"\n",
    );
    let x = fx.active_ids()[0];
    let kx = fx.emp_no(x);
    assert!(fx.emu.terminate(x, "2026-11-20"));
    let svc = hrsync_server::Service::new(fx.config()).unwrap();
    // Times near the real clock (plans expire 24 h after they are made).
    let now = chrono::Utc::now();
    let hour = now
        .with_minute(0)
        .unwrap()
        .with_second(0)
        .unwrap()
        .with_nanosecond(0)
        .unwrap();
    assert!(svc.tick(now).await.unwrap().is_empty());
    let r = svc
        .tick(hour + chrono::Duration::hours(1) + chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].status.as_deref(), Some("awaiting_approval"));
    let plan = r[0].run_id.unwrap();
    assert!(!disabled(&fx, &kx).await, "stopped at the gate");
    let (code, out) = cli_async(&fx.cfg_path, &["approvals"], &[]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("plan {plan} [staff]")) && out.contains(&kx),
        "{out}"
    );
    // The daemon ran as the service user; an operator approves.
    let (code, out) = cli_async(
        &fx.cfg_path,
        &["approve", &plan.to_string(), "--only", "disable"],
        &[("SUDO_USER", "carol"), ("USER", "carol")],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("the daemon applies them in its next run"),
        "{out}"
    );
    let r = svc
        .tick(hour + chrono::Duration::hours(2) + chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(disabled(&fx, &kx).await, "applied in the next run");
    let store = fx.store();
    let applied = store
        .runs(5)
        .unwrap()
        .into_iter()
        .find(|run| store.plan_of(run.id).unwrap().unwrap().from_plan == Some(plan))
        .expect("a run applied the approved plan");
    assert_eq!(applied.trigger.as_deref(), Some("schedule"));
    assert_eq!(store.saved_plan(plan).unwrap().unwrap().status, "applied");
    let (_, out) = cli_async(&fx.cfg_path, &["approvals"], &[]).await;
    assert!(out.contains("nothing waits for approval"), "{out}");
}

/// `held` in `approval.require`: changes a threshold held wait for an approval, and an
/// approval releases exactly them (the thresholds are checked again when they apply).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_releases_changes_held_by_a_threshold() {
    let fx = Fx::new("plans-held", 10, "uid", STAFF_ATTRS).await;
    fx.run(Mode::Apply).await;
    let text = std::fs::read_to_string(&fx.cfg_path).unwrap();
    std::fs::write(
        &fx.cfg_path,
        format!(
            "{text}\n[mapping.approval]\nrequire = [\"held\"]\n\n[lifecycle]\nthresholds = {{ disable = {{ count = 1 }} }}\n"
        ),
    )
    .unwrap();
    let ids = fx.active_ids();
    let (kx, ky) = (fx.emp_no(ids[0]), fx.emp_no(ids[1]));
    assert!(fx.emu.terminate(ids[0], "2026-11-20"));
    assert!(fx.emu.terminate(ids[1], "2026-11-20"));
    let (code, out) = cli_async(&fx.cfg_path, &["apply", "--yes"], &[]).await;
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("2 change(s) HELD"), "{out}");
    let plan = fx.store().runs(1).unwrap()[0].id;
    let (code, out) = cli_async(&fx.cfg_path, &["approvals", "--json"], &[]).await;
    assert_eq!(code, 0, "{out}");
    let waiting: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(waiting.as_array().unwrap().len(), 2, "{out}");
    assert!(
        waiting
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["needs"] == "held" && w["plan"] == plan)
    );
    assert!(!disabled(&fx, &kx).await && !disabled(&fx, &ky).await);
    // Approving only one releases only that one.
    let (code, out) = cli_async(
        &fx.cfg_path,
        &["approve", &plan.to_string(), "--only", &kx],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = cli_async(
        &fx.cfg_path,
        &["apply", "--yes", "--plan", &plan.to_string()],
        &[],
    )
    .await;
    assert_eq!(code, 5, "{out}");
    assert!(disabled(&fx, &kx).await, "{out}");
    assert!(!disabled(&fx, &ky).await, "{out}");
    let (code, out) = cli_async(&fx.cfg_path, &["approve", &plan.to_string()], &[]).await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = cli_async(
        &fx.cfg_path,
        &["apply", "--yes", "--plan", &plan.to_string()],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(disabled(&fx, &ky).await, "{out}");
}

/// A saved create whose unique name someone took since the plan (here: an entry made by
/// hand) is stale; a create whose key someone took is stale too; the others are created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_create_is_stale_when_its_unique_name_or_key_was_taken() {
    let tag = format!("plans-uniq-{}", std::process::id());
    let attrs = format!(
        "{STAFF_ATTRS}displayName = {{ format = \"{{first_name}} {{last_name}} {tag}\", unique = true }}\n"
    );
    let fx = Fx::new("plans-unique", 4, "uid", &attrs).await;
    fx.run(Mode::Apply).await;
    for (key, first) in [("EMP-U1", "Una"), ("EMP-U2", "Ugo"), ("EMP-U3", "Uma")] {
        fx.emu.hire(
            json!({"employee_id": key, "first_name": first, "last_name": "Lind",
            "work_email": format!("{}@example.test", first.to_lowercase()), "department": 2}),
        );
    }
    let (code, out) = cli_async(&fx.cfg_path, &["plan", "--save"], &[]).await;
    assert_eq!(code, 0, "{out}");
    let plan = saved_id(&out);
    // Since the plan: someone made an entry with Una's display name, and one with Ugo's key.
    let mut ldap = admin().await;
    let taken = format!("Una Lind {tag}");
    for (uid, key, name) in [
        ("hand-made-1", "EMP-OTHER", taken.as_str()),
        ("hand-made-2", "EMP-U2", "Someone Else"),
    ] {
        ldap.add(
            &format!("uid={uid},{}", fx.people),
            vec![
                ("objectClass", HashSet::from(["inetOrgPerson"])),
                ("uid", HashSet::from([uid])),
                ("cn", HashSet::from(["Hand Made"])),
                ("sn", HashSet::from(["Made"])),
                ("employeeNumber", HashSet::from([key])),
                ("displayName", HashSet::from([name])),
            ],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    }
    let (code, out) = cli_async(
        &fx.cfg_path,
        &["apply", "--yes", "--plan", &plan.to_string()],
        &[],
    )
    .await;
    assert_eq!(code, 6, "{out}");
    assert!(
        out.contains(&format!(
            "[EMP-U1]  displayName \"{taken}\" is taken in the directory now"
        )),
        "{out}"
    );
    assert!(
        out.contains("[EMP-U2]  an entry with key EMP-U2 exists now"),
        "{out}"
    );
    assert_eq!(fx.search("(employeeNumber=EMP-U3)").await.len(), 1);
    assert!(fx.search("(employeeNumber=EMP-U1)").await.is_empty());
    assert_eq!(
        fx.search("(employeeNumber=EMP-U2)").await.len(),
        1,
        "only the hand-made one"
    );
}

/// A rejection is final: a later `approve` of the same plan (another operator, no `--only`)
/// approves what still waits, never what was rejected; naming the rejected change is refused
/// with the reason. The rejected change never applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_approval_does_not_overturn_a_rejection() {
    let fx = Fx::new("plans-final", 8, "uid", STAFF_ATTRS).await;
    fx.run(Mode::Apply).await;
    require_approval(&fx, "");
    let ids = fx.active_ids();
    let (kx, ky) = (fx.emp_no(ids[0]), fx.emp_no(ids[1]));
    assert!(fx.emu.terminate(ids[0], "2026-11-20"));
    assert!(fx.emu.terminate(ids[1], "2026-11-20"));
    let alice = [("SUDO_USER", "alice"), ("USER", "alice")];
    let bob = [("SUDO_USER", "bob"), ("USER", "bob")];
    let carol = [("SUDO_USER", "carol"), ("USER", "carol")];
    let (code, out) = cli_async(&fx.cfg_path, &["apply", "--yes"], &alice).await;
    assert_eq!(code, 5, "{out}");
    let plan = fx.store().runs(1).unwrap()[0].id.to_string();
    // Bob rejects Y (and so approves X).
    let (code, out) = cli_async(&fx.cfg_path, &["approve", &plan, "--reject", &ky], &bob).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 approved, 1 rejected"), "{out}");
    // Carol approves "the plan": X only.
    let (code, out) = cli_async(&fx.cfg_path, &["approve", &plan], &carol).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 approved, 0 rejected"), "{out}");
    assert!(!out.contains(&format!("[{ky}]")), "{out}");
    // Naming Y is refused.
    let (code, out) = cli_async(&fx.cfg_path, &["approve", &plan, "--only", &ky], &carol).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("was rejected"), "{out}");
    let items = fx.store().plan_items(plan.parse().unwrap()).unwrap();
    let y = items.iter().find(|i| i.hr_key == ky).unwrap();
    assert_eq!(y.decision.as_deref(), Some("rejected"));
    assert_eq!(y.decided_by.as_deref(), Some("bob"));
    let (code, out) = cli_async(&fx.cfg_path, &["apply", "--yes", "--plan", &plan], &carol).await;
    assert_eq!(code, 0, "{out}");
    assert!(disabled(&fx, &kx).await, "{out}");
    assert!(!disabled(&fx, &ky).await, "{out}");
}

/// With `held` in `approval.require` and four-eyes, `--confirm-held` releases nothing: what a
/// threshold held applies only once another operator approved it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_held_does_not_bypass_the_approval_of_held_changes() {
    let fx = Fx::new("plans-heldgate", 10, "uid", STAFF_ATTRS).await;
    fx.run(Mode::Apply).await;
    let text = std::fs::read_to_string(&fx.cfg_path).unwrap();
    std::fs::write(
        &fx.cfg_path,
        format!(
            "{text}\n[mapping.approval]\nrequire = [\"held\"]\nfour_eyes = true\n\n[lifecycle]\nthresholds = {{ disable = {{ count = 1 }} }}\n"
        ),
    )
    .unwrap();
    let ids = fx.active_ids();
    let (kx, ky) = (fx.emp_no(ids[0]), fx.emp_no(ids[1]));
    assert!(fx.emu.terminate(ids[0], "2026-11-20"));
    assert!(fx.emu.terminate(ids[1], "2026-11-20"));
    let alice = [("SUDO_USER", "alice"), ("USER", "alice")];
    let bob = [("SUDO_USER", "bob"), ("USER", "bob")];
    let (code, out) = cli_async(&fx.cfg_path, &["apply", "--yes"], &alice).await;
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("2 change(s) HELD"), "{out}");
    let plan = fx.store().runs(1).unwrap()[0].id.to_string();
    // The way out it shows is the approval, not --confirm-held.
    assert!(
        out.contains(&format!(
            "hrsync approve -c {} {plan}",
            fx.cfg_path.display()
        )),
        "{out}"
    );
    // The planner confirms the held changes herself: nothing is released.
    let (code, out) = cli_async(
        &fx.cfg_path,
        &["apply", "--yes", "--confirm-held", &plan],
        &alice,
    )
    .await;
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("approval.require"), "{out}");
    assert!(
        !disabled(&fx, &kx).await && !disabled(&fx, &ky).await,
        "{out}"
    );
    // Bob approves: they apply.
    let (code, out) = cli_async(&fx.cfg_path, &["approve", &plan], &bob).await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = cli_async(&fx.cfg_path, &["apply", "--yes", "--plan", &plan], &bob).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        disabled(&fx, &kx).await && disabled(&fx, &ky).await,
        "{out}"
    );
}

/// A plan file applied with another state database is refused: its HR fingerprints are keyed
/// to the database that made it (this one cannot check them), and its approvals live there.
/// Nothing applies, and the way out shown is not `hrsync approve` of the file's plan id, which
/// in this database is another plan or none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_file_from_another_state_database_never_points_to_a_local_plan() {
    let fx = Fx::new("plans-otherdb", 8, "uid", STAFF_ATTRS).await;
    fx.run(Mode::Apply).await;
    require_approval(&fx, "");
    let x = fx.active_ids()[0];
    let kx = fx.emp_no(x);
    assert!(fx.emu.terminate(x, "2026-11-20"));
    let file = fx.dir.path().join("ticket.json");
    let (code, out) = cli_async(
        &fx.cfg_path,
        &["plan", "--out", file.to_str().unwrap()],
        &[("SUDO_USER", "alice"), ("USER", "alice")],
    )
    .await;
    assert_eq!(code, 5, "{out}");
    let plan = saved_id(&out);
    let text = std::fs::read_to_string(&fx.cfg_path).unwrap();
    assert!(text.contains("path = \"state.db\""));
    let other = fx.dir.path().join("other.toml");
    std::fs::write(
        &other,
        text.replace("path = \"state.db\"", "path = \"other.db\""),
    )
    .unwrap();
    let (code, out) = cli_async(
        &other,
        &["apply", "--yes", "--plan-file", file.to_str().unwrap()],
        &[("SUDO_USER", "bob"), ("USER", "bob")],
    )
    .await;
    assert_eq!(code, 1, "{out}");
    assert!(!disabled(&fx, &kx).await, "{out}");
    assert!(
        !out.contains(&format!("hrsync approve -c {} {plan}", other.display())),
        "{out}"
    );
    assert!(out.contains("another state database"), "{out}");
}

/// A plan file applied with the state database it came from uses the approvals given there
/// (and records what it applied: the same file again applies nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_file_applied_where_it_was_made_uses_its_approvals() {
    let fx = Fx::new("plans-samedb", 8, "uid", STAFF_ATTRS).await;
    fx.run(Mode::Apply).await;
    require_approval(&fx, "");
    let x = fx.active_ids()[0];
    let kx = fx.emp_no(x);
    assert!(fx.emu.terminate(x, "2026-11-20"));
    let file = fx.dir.path().join("ticket.json");
    let (code, out) = cli_async(
        &fx.cfg_path,
        &["plan", "--out", file.to_str().unwrap()],
        &[("SUDO_USER", "alice"), ("USER", "alice")],
    )
    .await;
    assert_eq!(code, 5, "{out}");
    let plan = saved_id(&out).to_string();
    let bob = [("SUDO_USER", "bob"), ("USER", "bob")];
    let (code, out) = cli_async(&fx.cfg_path, &["approve", &plan], &bob).await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = cli_async(
        &fx.cfg_path,
        &["apply", "--yes", "--plan-file", file.to_str().unwrap()],
        &bob,
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(disabled(&fx, &kx).await, "{out}");
    let store = fx.store();
    assert_eq!(
        store
            .saved_plan(plan.parse().unwrap())
            .unwrap()
            .unwrap()
            .status,
        "applied"
    );
}
