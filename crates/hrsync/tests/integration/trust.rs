//! Issue 11: the promises an admin checks before trusting hrsync — accounts a mapping never
//! owned are never touched, mass changes are held, `check` catches what would break, and exit
//! codes tell the truth. Real slapd, IceHrm emulator in-process, the real binary where the
//! exit code or the printed text is the point.

use crate::common::*;
use hrsync_emulator::icehrm::Fault;
use hrsync_engine::{Mode, RunStatus};
use hrsync_model::ChangeKind;
use std::collections::HashSet;

/// Entries another mapping (or an admin) made under the users OU: a key this mapping's HR
/// never had.
async fn add_foreign(fx: &Fx, n: usize) -> Vec<String> {
    let mut ldap = admin().await;
    let mut keys = Vec::new();
    for i in 0..n {
        let key = format!("OTHER{i:03}");
        let dn = format!("uid=other{i},{}", fx.people);
        ldap.add(
            &dn,
            vec![
                ("objectClass", HashSet::from(["inetOrgPerson"])),
                ("uid", HashSet::from([format!("other{i}").as_str()])),
                ("cn", HashSet::from(["Other Person"])),
                ("sn", HashSet::from(["Person"])),
                ("employeeNumber", HashSet::from([key.as_str()])),
            ],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
        keys.push(key);
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_a_mapping_never_owned_are_orphans_and_never_disabled() {
    let fx = Fx::new("orphans", 20, "uid", STAFF_ATTRS).await;
    let first = fx.run(Mode::Apply).await;
    assert_eq!(first.applied_failed, 0);
    let managed = first.applied_ok;
    let foreign = add_foreign(&fx, 6).await;

    // Before issue 11 every entry under the users OU with a key counted as this mapping's:
    // these six were planned as disables ("not in HR any more").
    let r = fx.run(Mode::Apply).await;
    assert!(
        r.plan.changes.iter().all(|c| c.kind != ChangeKind::Disable),
        "{:?}",
        kinds(&r)
    );
    assert!(r.plan.unconfirmed.is_empty());
    let mut orphans: Vec<String> = r.plan.orphans.iter().map(|o| o.key.clone()).collect();
    orphans.sort();
    assert_eq!(orphans, foreign);
    assert_eq!(
        r.plan.managed, managed,
        "thresholds count only this mapping's accounts"
    );
    assert!(fx.search("(pwdAccountLockedTime=*)").await.is_empty());

    // `hrsync orphans` lists them, as text and JSON.
    let (code, out) = cli(&fx.cfg_path, &["orphans"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("6 orphan(s)"), "{out}");
    assert!(out.contains(&format!("uid=other3,{}", fx.people)), "{out}");
    let (code, out) = cli(&fx.cfg_path, &["orphans", "--json"], &[]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v[0]["orphans"].as_array().unwrap().len(), 6, "{v}");

    // Opting in (the first adoption of an existing directory) makes them this mapping's:
    // missing from HR, so leavers (after the lookup confirms HR has nobody with those keys).
    let text = std::fs::read_to_string(&fx.cfg_path).unwrap();
    std::fs::write(
        &fx.cfg_path,
        text + "\n[lifecycle]\nunlinked = \"disable\"\nmissing_confirmations = 1\n",
    )
    .unwrap();
    let r = fx.run(Mode::Plan).await;
    assert!(r.plan.orphans.is_empty());
    assert_eq!(
        keys(&r, ChangeKind::Disable),
        foreign.iter().cloned().collect::<HashSet<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelt_field_that_would_clear_mail_everywhere_is_held_with_the_run_id() {
    let fx = Fx::new("clear-held", 30, "uid", STAFF_ATTRS).await;
    assert_eq!(fx.run(Mode::Apply).await.applied_failed, 0);
    let text = std::fs::read_to_string(&fx.cfg_path).unwrap();
    std::fs::write(
        &fx.cfg_path,
        text.replace("mail = \"{work_email}\"", "mail = \"{work_emial}\""),
    )
    .unwrap();
    // check passes offline (no HR at hand to know the field) ...
    let (code, out) = cli(&fx.cfg_path, &["check"], &[]);
    assert_eq!(code, 0, "{out}");
    // ... the online check names the field and the closest one HR has.
    let (code, out) = cli(&fx.cfg_path, &["check", "--online"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("`work_emial` is in no record"), "{out}");
    assert!(out.contains("`work_email`"), "closest name: {out}");

    // The plan would remove mail from every account: held, not applied; exit code 5.
    let (code, out) = cli(&fx.cfg_path, &["apply", "--yes"], &[]);
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("removal(s) of mail"), "{out}");
    let runs = fx.store().runs(1).unwrap();
    let run = runs[0].id;
    assert_eq!(runs[0].status, "held", "{runs:?}");
    assert!(out.contains(&format!("--confirm-held {run}")), "{out}");
    assert!(!out.contains("--confirm-held RUN"), "{out}");
    assert!(!out.contains("nothing to do"), "{out}");
    let with_mail = fx.search("(&(employeeNumber=*)(mail=*))").await.len();
    let all = fx.search("(employeeNumber=*)").await.len();
    assert_eq!(with_mail, all, "no mail was removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incomplete_fetch_exits_4_with_status_incomplete() {
    let fx = Fx::new("exit-incomplete", 30, "uid", STAFF_ATTRS).await;
    let (code, out) = cli(&fx.cfg_path, &["apply", "--yes"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(": ok"), "{out}");
    fx.emu.set_fault(Fault::FailListPage {
        page: 2,
        status: 500,
    });
    let id = fx.emu.hire(serde_json::json!({
        "first_name": "Nia", "last_name": "New", "work_email": "nia@example.test",
        "department": 2, "job_title": 5
    }))["id"]
        .as_i64()
        .unwrap();
    let (code, out) = cli(&fx.cfg_path, &["apply", "--yes"], &[]);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("INCOMPLETE"), "{out}");
    let runs = fx.store().runs(1).unwrap();
    assert_eq!(runs[0].status, "incomplete", "{runs:?}");
    let _ = id;
    // The same through the engine: the status a daemon records.
    let r = fx.run(Mode::Plan).await;
    assert_eq!(r.status, RunStatus::Incomplete);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_refuses_what_would_break_offline_and_online() {
    let fx = Fx::new("check", 5, "uid", STAFF_ATTRS).await;
    let good = std::fs::read_to_string(&fx.cfg_path).unwrap();
    let expect_offline = |text: String, says: &str| {
        std::fs::write(&fx.cfg_path, text).unwrap();
        let (code, out) = cli(&fx.cfg_path, &["check"], &[]);
        assert_eq!(code, 1, "{says}: {out}");
        assert!(out.contains(says), "{says}: {out}");
    };
    expect_offline(
        good.replace("{employee_id|lower}", "{employee_id|lowr}"),
        "did you mean `lower`",
    );
    expect_offline(
        good.replace("uid = \"{employee_id|lower}\"", "uid = \"{employee_id\""),
        "is not closed",
    );
    expect_offline(
        good.replace(
            "key_attribute = \"employeeNumber\"",
            "key_attribute = \"employeeNumber\"\nca_cert = \"no-such-ca.pem\"",
        ),
        "directory.ca_cert",
    );

    // Online: a users OU that does not exist, and a wrong bind password.
    std::fs::write(&fx.cfg_path, &good).unwrap();
    let (code, out) = cli(&fx.cfg_path, &["check", "--online"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("users_ou"), "{out}");
    std::fs::write(
        &fx.cfg_path,
        good.replace(
            &format!("users_ou = \"{}\"", fx.people),
            &format!("users_ou = \"ou=missing,{}\"", fx.ou),
        ),
    )
    .unwrap();
    let (code, out) = cli(&fx.cfg_path, &["check", "--online"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ou=missing"), "{out}");
    assert!(out.contains("does not exist"), "{out}");
    std::fs::write(&fx.cfg_path, &good).unwrap();
    std::fs::write(fx.dir.path().join("ldap.pw"), "wrong-password").unwrap();
    let (code, out) = cli(&fx.cfg_path, &["check", "--online"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("invalidCredentials (49)"), "{out}");
    assert!(
        out.contains(&ldap_env().bind_dn),
        "names the bind DN: {out}"
    );
    assert!(!out.contains("wrong-password"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_the_directory_refuses_are_findings_at_plan_time() {
    // uid from the key keeps the RDN short; cn is not the RDN here, so an 11 KB cn goes into
    // a value and the 11 KB RDN case is checked with a second mapping below.
    let fx = Fx::new("schema", 6, "uid", STAFF_ATTRS).await;
    assert_eq!(fx.run(Mode::Apply).await.applied_failed, 0);
    // mail is IA5String: a non-ASCII address is refused by slapd (invalidAttributeSyntax).
    let zoe = fx.emu.hire(serde_json::json!({
        "first_name": "Zoë", "last_name": "Umlaut", "work_email": "zoë.1@exämple.test",
        "department": 2, "job_title": 5
    }));
    let zoe_key = zoe["employee_id"].as_str().unwrap().to_string();
    let (code, out) = cli(&fx.cfg_path, &["apply", "--yes"], &[]);
    // Before issue 11 this failed at apply with `result code 21` on every run (exit 3).
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&zoe_key), "{out}");
    assert!(out.contains("mail"), "{out}");
    let r = fx.run(Mode::Plan).await;
    assert!(r.plan.changes.is_empty(), "a no-op: {:?}", kinds(&r));
    let f = r
        .plan
        .findings
        .iter()
        .find(|f| f.subject == zoe_key)
        .unwrap();
    assert_eq!(f.severity, "error");
    assert_eq!(f.field.as_deref(), Some("mail"), "{f:?}");

    // An RDN value longer than slapd takes (other (80) / invalidDNSyntax (34) at apply before;
    // a finding now). IceHrm keeps 100 characters a name, so four fields make it long.
    let text = std::fs::read_to_string(&fx.cfg_path).unwrap();
    std::fs::write(
        &fx.cfg_path,
        text.replace(
            "rdn_attribute = \"uid\"",
            "rdn_attribute = \"cn\"",
        )
        .replace(
            "cn = { format = \"{first_name} {last_name}\", required = true }",
            "cn = { format = \"{first_name} {last_name} {address1} {address2} ({employee_id})\", required = true }",
        ),
    )
    .unwrap();
    let long = fx.emu.hire(serde_json::json!({
        "first_name": "L".repeat(100), "last_name": "O".repeat(100), "work_email": "long@example.test",
        "address1": "N".repeat(100), "address2": "G".repeat(100), "department": 2, "job_title": 5
    }));
    let long_key = long["employee_id"].as_str().unwrap().to_string();
    let r = fx.run(Mode::Plan).await;
    assert!(
        r.plan.changes.iter().all(|c| c.kind != ChangeKind::Create),
        "{:?}",
        kinds(&r)
    );
    assert!(
        r.plan.findings.iter().any(|f| f.subject == long_key
            && f.severity == "error"
            && f.message.to_lowercase().contains("rdn")),
        "{:?}",
        r.plan.findings
    );
    assert!(!r.plan.changes.iter().any(|c| c.key == long_key));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_runs_match_keys_as_icehrm_does_and_fetch_the_new_hires_manager() {
    let attrs = format!(
        "{STAFF_ATTRS}manager = {{ format = \"{{supervisor.id}}\", refers_to = \"person\", by = \"{{id}}\" }}\n"
    );
    let fx = Fx::new("event-keys", 10, "uid", &attrs).await;
    assert_eq!(fx.run(Mode::Apply).await.applied_failed, 0);
    let ids = fx.active_ids();
    let target = |values: &[&str]| hrsync_engine::RunOptions {
        only: Some(hrsync_engine::Only {
            field: None,
            values: values.iter().map(|v| v.to_string()).collect(),
        }),
        ..Default::default()
    };

    // IceHrm matches `emp…` to EMP… (case- and accent-insensitively); before issue 11 hrsync's
    // own exact filter dropped the record and nothing changed, with no warning.
    let a = ids[0];
    let ka = fx.emp_no(a);
    fx.emu
        .update(a, serde_json::json!({"last_name": "Lowercased"}))
        .unwrap();
    let r = fx
        .run_with(Mode::Apply, target(&[ka.to_lowercase().as_str()]))
        .await;
    assert_eq!(kinds(&r), vec![("update".to_string(), ka.clone())]);
    let e = &fx.search(&format!("(employeeNumber={ka})")).await[0];
    assert_eq!(e.attrs["sn"], vec!["Lowercased"]);

    // A person HR does not have: a warning, not silence.
    let r = fx.run_with(Mode::Plan, target(&["EMP99999"])).await;
    assert!(r.plan.changes.is_empty());
    assert!(
        r.plan
            .findings
            .iter()
            .any(|f| f.subject == "EMP99999" && f.message.contains("nobody")),
        "{:?}",
        r.plan.findings
    );

    // A new hire announced by an event gets their manager in the same run: the supervisor is
    // fetched (filters={"id":[…]}) with them.
    let boss = *ids
        .iter()
        .skip(1)
        .find(|id| {
            fx.emu.employee(**id).unwrap()["employee_id"]
                .as_str()
                .is_some()
        })
        .unwrap();
    let found = fx
        .search(&format!("(employeeNumber={})", fx.emp_no(boss)))
        .await;
    assert_eq!(
        found.len(),
        1,
        "boss {} {:?}",
        fx.emp_no(boss),
        fx.emu.employee(boss)
    );
    let boss_dn = found[0].dn.clone();
    let hire = fx.emu.hire(serde_json::json!({
        "first_name": "Mia", "last_name": "Managed", "work_email": "mia@example.test",
        "department": 2, "job_title": 5, "supervisor": boss
    }));
    let kn = hire["employee_id"].as_str().unwrap().to_string();
    let r = fx.run_with(Mode::Apply, target(&[kn.as_str()])).await;
    assert_eq!(r.applied_failed, 0, "{:?}", r.plan.findings);
    let e = &fx.search(&format!("(employeeNumber={kn})")).await[0];
    assert_eq!(
        e.attrs.get("manager"),
        Some(&vec![boss_dn]),
        "{:?}",
        r.plan.findings
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_refuses_credentials_in_base_url_and_a_token_that_is_not_a_jwt() {
    let fx = Fx::new("check-source", 3, "uid", STAFF_ATTRS).await;
    let good = std::fs::read_to_string(&fx.cfg_path).unwrap();
    let with_creds = good.replace(
        "base_url = \"http://",
        "base_url = \"http://admin:pw-in-url@",
    );
    std::fs::write(&fx.cfg_path, with_creds).unwrap();
    let (code, out) = cli(&fx.cfg_path, &["check"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("base_url"), "{out}");
    assert!(
        !out.contains("pw-in-url"),
        "the password is not echoed: {out}"
    );
    std::fs::write(&fx.cfg_path, &good).unwrap();
    // The raw 32-hex hash instead of the JWT: real IceHrm answers HTTP 500 with an empty body.
    std::fs::write(
        fx.dir.path().join("icehrm.token"),
        "0123456789abcdef0123456789abcdef\n",
    )
    .unwrap();
    let (code, out) = cli(&fx.cfg_path, &["check"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.to_lowercase().contains("jwt"), "{out}");
    assert!(!out.contains("0123456789abcdef"), "{out}");
}

/// Issue 11 §1, as observed on a real IceHrm: people deleted while hrsync pages by SQL offset
/// make the next rows shift back, so people who are still there are never seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_deleted_during_a_paged_fetch_never_make_others_leavers() {
    let fx = Fx::new("shifting", 40, "uid", STAFF_ATTRS).await;
    let first = fx.run(Mode::Apply).await;
    assert_eq!(first.applied_failed, 0);
    let with_account: HashSet<String> = fx
        .search("(employeeNumber=*)")
        .await
        .iter()
        .map(|e| e.attrs["employeeNumber"][0].clone())
        .collect();
    // A real leaver: deleted from HR before the run.
    let ids = fx.active_ids();
    let real = *ids.last().unwrap();
    let real_key = fx.emp_no(real);
    assert!(fx.emu.delete(real));
    // IceHrm lists by id, 10 a page. Two people on page 1 are deleted right after page 1 was
    // served, and two are hired: the total stays the same, but page 2 (offset 10) now
    // starts two rows later, so the two after page 1 are never seen although they exist.
    let mut all: Vec<i64> = fx
        .emu
        .employees()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    all.sort();
    // Two people of page 1 with accounts.
    let deleted_now: Vec<i64> = all[..10]
        .iter()
        .copied()
        .filter(|id| with_account.contains(&fx.emp_no(*id)))
        .take(2)
        .collect();
    assert_eq!(deleted_now.len(), 2);
    let deleted_keys: HashSet<String> = deleted_now.iter().map(|id| fx.emp_no(*id)).collect();
    let skipped: HashSet<String> = [all[10], all[11]]
        .iter()
        .map(|id| fx.emp_no(*id))
        .filter(|k| with_account.contains(k))
        .collect();
    assert!(!skipped.is_empty(), "the shifted rows have accounts");
    fx.emu.set_fault(Fault::DeleteAfterPage {
        page: 1,
        ids: deleted_now.clone(),
    });
    fx.emu.set_fault(Fault::HireAfterPage {
        page: 1,
        people: vec![
            serde_json::json!({"first_name": "Ann", "last_name": "Shift", "work_email": "ann.shift@example.test", "department": 2, "job_title": 5}),
            serde_json::json!({"first_name": "Bob", "last_name": "Shift", "work_email": "bob.shift@example.test", "department": 2, "job_title": 5}),
        ],
    });
    let r = fx.run(Mode::Apply).await;
    // The list looked complete (same total, every page arrived) ...
    assert!(r.plan.fetch.complete, "{:?}", r.plan.fetch);
    // ... and missed the shifted people: without the lookup they were planned as disables
    // ("not in HR any more (complete fetch)"). The lookup by key found them in HR.
    let found: HashSet<String> = r
        .plan
        .findings
        .iter()
        .filter(|f| f.message.contains("a lookup by key found"))
        .map(|f| f.subject.clone())
        .collect();
    assert_eq!(found, skipped, "{:?}", r.plan.findings);
    // Only the real leaver is disabled.
    assert_eq!(
        keys(&r, ChangeKind::Disable),
        HashSet::from([real_key.clone()]),
        "{:?}",
        kinds(&r)
    );
    assert!(
        r.plan.changes[..]
            .iter()
            .any(|c| c.key == real_key && c.reason.contains("a lookup by key found nobody"))
    );
    let locked: HashSet<String> = fx
        .search("(pwdAccountLockedTime=*)")
        .await
        .iter()
        .map(|e| e.attrs["employeeNumber"][0].clone())
        .collect();
    assert_eq!(locked, HashSet::from([real_key]), "0 false leavers");

    // The two deleted during the fetch were seen on page 1; the next run finds them gone
    // (confirmed by the lookup) and disables exactly them.
    let r = fx.run(Mode::Apply).await;
    assert_eq!(
        keys(&r, ChangeKind::Disable),
        deleted_keys,
        "{:?}",
        kinds(&r)
    );
}

/// With plain deletes during the fetch the total drops between pages: the fetch is incomplete
/// and nobody is a leaver (exit 4), and the next complete fetch acts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_during_a_fetch_make_it_incomplete_and_withhold_leavers() {
    let fx = Fx::new("deleting", 40, "uid", STAFF_ATTRS).await;
    assert_eq!(fx.run(Mode::Apply).await.applied_failed, 0);
    let mut all: Vec<i64> = fx
        .emu
        .employees()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    all.sort();
    fx.emu.set_fault(Fault::DeleteAfterPage {
        page: 1,
        ids: vec![all[20], all[21]],
    });
    let r = fx.run(Mode::Apply).await;
    assert!(!r.plan.fetch.complete, "{:?}", r.plan.fetch);
    assert_eq!(r.status, RunStatus::Incomplete);
    assert!(r.plan.changes.iter().all(|c| c.kind != ChangeKind::Disable));
    assert!(fx.search("(pwdAccountLockedTime=*)").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_warns_about_a_write_back_loop_and_refuses_a_state_path_that_is_a_directory() {
    let fx = Fx::new("check-loop", 3, "uid", STAFF_ATTRS).await;
    let good = std::fs::read_to_string(&fx.cfg_path).unwrap();
    // The old icehrm-service example: the webhook writes work_email, the mapping reads it.
    std::fs::write(
        &fx.cfg_path,
        good.clone()
            + "\n[[webhook]]\nname = \"writeback\"\nmethod = \"PUT\"\nurl = \"http://127.0.0.1:9/employees/{hr.id}\"\nmessage_type = \"json\"\nbody = '{\"work_email\": \"{user.uid}@example.com\"}'\nauth = \"icehrm\"\n",
    )
    .unwrap();
    let (code, out) = cli(&fx.cfg_path, &["check"], &[]);
    assert_eq!(code, 0, "a warning, not an error: {out}");
    assert!(
        out.contains("warning: webhook \"writeback\" writes HR field `work_email`"),
        "{out}"
    );
    assert!(out.contains("(for mail)"), "{out}");
    // A state path that is a directory.
    std::fs::create_dir(fx.dir.path().join("state-dir")).unwrap();
    std::fs::write(
        &fx.cfg_path,
        good.replace("path = \"state.db\"", "path = \"state-dir\""),
    )
    .unwrap();
    let (code, out) = cli(&fx.cfg_path, &["check"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("state-dir"), "{out}");
    assert!(out.contains("[state].path"), "{out}");
}

/// Two applies on a fresh state database: one runs, the other is told that another apply of
/// the mapping is running — never `database is locked` or `table runs already exists`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_applies_on_a_fresh_state_database() {
    let fx = Fx::new("fresh-db", 60, "uid", STAFF_ATTRS).await;
    for round in 0..3 {
        let _ = std::fs::remove_file(fx.dir.path().join("state.db"));
        let cfg = fx.cfg_path.clone();
        let spawn = || {
            let cfg = cfg.clone();
            std::thread::spawn(move || cli(&cfg, &["apply", "--yes"], &[]))
        };
        let (a, b) = (spawn(), spawn());
        for (code, out) in [a.join().unwrap(), b.join().unwrap()] {
            assert!(
                code == 0 || out.contains("another apply of mapping \"staff\" is running"),
                "round {round}: {code} {out}"
            );
            assert!(!out.contains("database is locked"), "{out}");
            assert!(!out.contains("already exists"), "{out}");
        }
    }
}
