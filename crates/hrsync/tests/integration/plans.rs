//! Saved plans applied exactly (issue 14 §1) and approvals (§2), against a real slapd and the
//! IceHrm emulator, through the real binary where the operator would type the command.

use crate::common::*;
use hrsync::engine::Mode;
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
    let err = hrsync::plans::load(&fx.store(), &job, plan, later).unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    assert!(hrsync::plans::load(&fx.store(), &job, plan, chrono::Utc::now()).is_ok());

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
