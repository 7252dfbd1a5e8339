//! Crash safety (issue 11 §8): the real `hrsync` binary is killed with SIGKILL at random points
//! of an apply and run again; every change that reached the directory must have exactly one
//! audit row, no run may stay `running`, and the directory must end up as HR says.

use crate::common::{Fx, STAFF_ATTRS, admin, keys, kinds as common_kinds};
use hrsync_state::Store;
use ldap3::{Scope, SearchEntry};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `hrsync` binary of this build, linked (or copied) under the test's own name: cargo may
/// relink the original while a long test runs (a build in another shell), and every run of a
/// test must be the same program.
pub(crate) struct Binary(std::path::PathBuf);

impl Binary {
    pub(crate) fn new(test: &str) -> Binary {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(format!("hrsync-{test}-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let original = Path::new(env!("CARGO_BIN_EXE_hrsync"));
        if std::fs::hard_link(original, &path).is_err() {
            std::fs::copy(original, &path).unwrap();
        }
        Binary(path)
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Starts `hrsync apply --yes --summary -c cfg`, its output appended to `log`.
pub(crate) fn spawn_apply(bin: &Binary, cfg: &Path, log: &Path) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let err = out.try_clone().unwrap();
    Command::new(&bin.0)
        .args(["apply", "--yes", "--summary", "-c"])
        .env("HRSYNC_LOG", "info")
        .arg(cfg)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap()
}

/// Waits (bounded by `limit`) for the child to exit; its exit code.
pub(crate) async fn wait_exit(child: &mut Child, limit: Duration) -> i32 {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("hrsync did not finish within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the newest run of the state database has saved its plan (its apply starts
/// right after: intents, then the directory) or the child exited; bounded by `limit`. Returns
/// the run once its apply started. Polls cheaply (the child needs the CPU).
pub(crate) async fn wait_apply_start(
    state: &Path,
    child: &mut Child,
    after_run: i64,
    limit: Duration,
) -> Option<hrsync_state::RunRow> {
    let deadline = Instant::now() + limit;
    let mut store = None;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return None;
        }
        if store.is_none() && state.exists() {
            store = Store::open(state).ok();
        }
        if let Some(store) = &store
            && let Some(run) = store.runs(1).unwrap().into_iter().next()
            && run.id > after_run
            && run.command == "apply"
            && run.summary.is_some()
        {
            return Some(run);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    None
}

/// The newest run's id (0 without any).
pub(crate) fn last_run(state: &Path) -> i64 {
    if !state.exists() {
        return 0;
    }
    Store::open(state)
        .unwrap()
        .runs(1)
        .unwrap()
        .first()
        .map_or(0, |r| r.id)
}

/// Entries under `base` carrying the key attribute `key_attr`: key → entry.
async fn entries_by_key(base: &str, key_attr: &str) -> BTreeMap<String, SearchEntry> {
    let mut ldap = admin().await;
    let (rs, _) = ldap
        .search(
            base,
            Scope::Subtree,
            &format!("({key_attr}=*)"),
            vec![key_attr],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    rs.into_iter()
        .map(SearchEntry::construct)
        .map(|e| (e.attrs[key_attr][0].clone(), e))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_of_a_10k_apply_loses_no_audit_row() {
    const EMPLOYEES: usize = 10_000;
    const KILLS: usize = 20;
    const SEED: u64 = 0x1108_2025;
    let t0 = Instant::now();
    let bin = Binary::new("crash10k");
    let fx = Fx::new("crash10k", EMPLOYEES, "uid", STAFF_ATTRS).await;
    // Bigger HR pages keep the 21 fetches of 10,000 people short.
    let cfg = std::fs::read_to_string(&fx.cfg_path).unwrap();
    std::fs::write(
        &fx.cfg_path,
        cfg.replacen("page_size = 10\n", "page_size = 1000\n", 1),
    )
    .unwrap();
    let state = fx.dir.path().join("state.db");
    let log = fx.dir.path().join("hrsync.log");
    let mut rng = fastrand::Rng::with_seed(SEED);
    // Creates per second of an apply, measured as it goes. The first guess errs high: too low a
    // guess puts the first kill after nearly every create (seen at 1,600 creates/s with a guess
    // of 800: 9,414 of 9,492 created by kill 1, and a later trial found no apply left to kill).
    let mut rate = 3000.0f64;
    let mut killed_during_apply = 0usize;
    // How many people the first plan creates (a guess until it is known).
    let mut total = EMPLOYEES;
    let mut count = 0usize;
    println!("seed {SEED:#x}");
    for trial in 1..=KILLS {
        let before = count;
        let after_run = last_run(&state);
        let mut child = spawn_apply(&bin, &fx.cfg_path, &log);
        let spawned = Instant::now();
        // Most kills land inside the apply at a random point of what is left of it; a few
        // right after the start (while the interrupted run is recovered and reconciled).
        let early = rng.f64() < 0.15;
        let mut applying_for = None;
        let (delay, in_apply) = if early {
            let d = Duration::from_secs_f64(0.3 + rng.f64() * 0.4);
            tokio::time::sleep(d).await;
            (d, false)
        } else {
            let run = wait_apply_start(&state, &mut child, after_run, Duration::from_secs(120))
                .await
                .unwrap_or_else(|| panic!("trial {trial}: the apply never started; see {log:?}"));
            if before == 0 {
                total = run.summary.map_or(total, |s| s.create);
            }
            let left = total.saturating_sub(before) as f64;
            // A random point of the first half of what is left, so that every trial finds work.
            let d = Duration::from_secs_f64(rng.f64() * 0.5 * left / rate);
            let t = Instant::now();
            tokio::time::sleep(d).await;
            applying_for = Some(t.elapsed());
            (spawned.elapsed(), true)
        };
        let exited = child.try_wait().unwrap();
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        let now = entries_by_key(&fx.ou, "employeeNumber").await.len();
        count = now;
        if in_apply && exited.is_none() {
            killed_during_apply += 1;
            if let Some(t) = applying_for.filter(|t| t.as_secs_f64() > 0.5)
                && now > before
            {
                rate = (now - before) as f64 / t.as_secs_f64();
            }
        }
        println!(
            "kill {trial:>2}: {:>6.3} s after start{}{}, entries {before} -> {now}",
            delay.as_secs_f64(),
            if early { " (early)" } else { "" },
            match exited {
                Some(s) => format!(" (had already exited: {s})"),
                None => String::new(),
            }
        );
    }
    // The final re-run completes the apply.
    let mut child = spawn_apply(&bin, &fx.cfg_path, &log);
    let code = wait_exit(&mut child, Duration::from_secs(300)).await;
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        code,
        0,
        "the final run: {}",
        &log_text[log_text.len().saturating_sub(3000)..]
    );
    println!(
        "{killed_during_apply} of {KILLS} kills during an apply; total {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    assert!(killed_during_apply >= KILLS / 2, "{killed_during_apply}");

    // Whom HR wants in the directory: the creates of the first plan.
    let first = Store::open(&state)
        .unwrap()
        .runs(1000)
        .unwrap()
        .into_iter()
        .filter(|r| r.command == "apply" && r.summary.is_some())
        .map(|r| r.id)
        .min()
        .unwrap();
    let plan = Store::open(&state)
        .unwrap()
        .plan_of(first)
        .unwrap()
        .unwrap();
    let expected: HashSet<String> = plan
        .changes
        .iter()
        .filter(|c| c.kind == hrsync_model::ChangeKind::Create)
        .map(|c| c.key.clone())
        .collect();
    assert!(expected.len() > 9_000, "{}", expected.len());
    // The directory equals HR: everyone active has an entry, nobody else does, and a new plan
    // has nothing to do.
    let entries = entries_by_key(&fx.ou, "employeeNumber").await;
    let keys: HashSet<String> = entries.keys().cloned().collect();
    assert_eq!(keys.len(), expected.len());
    assert!(keys == expected, "the directory's people differ from HR's");
    let r = fx.run(hrsync_engine::Mode::Plan).await;
    assert!(
        r.plan.changes.is_empty(),
        "a plan after the final run changes {:?}",
        &r.plan.changes[..r.plan.changes.len().min(5)]
    );

    // Every created entry has exactly one audit row for its create, and it says ok.
    let store = Store::open(&state).unwrap();
    let audit = store.audit(None, None, 1_000_000).unwrap();
    let mut creates: BTreeMap<&str, Vec<&hrsync_state::AuditRow>> = BTreeMap::new();
    for a in &audit {
        assert_ne!(
            a.message,
            hrsync_state::UNKNOWN_INTERRUPTED,
            "an unreconciled row: {a:?}"
        );
        if a.kind == "create" {
            creates.entry(a.hr_key.as_str()).or_default().push(a);
        }
    }
    let mut problems = Vec::new();
    for k in &expected {
        match creates.get(k.as_str()).map(Vec::as_slice) {
            Some([one]) if one.ok => {}
            other => problems.push(format!(
                "{k}: {:?}",
                other
                    .unwrap_or_default()
                    .iter()
                    .map(|a| (a.run_id, a.ok, a.message.as_str()))
                    .collect::<Vec<_>>()
            )),
        }
    }
    assert!(
        problems.is_empty(),
        "{} created entries without exactly one ok create row, e.g. {:?}",
        problems.len(),
        &problems[..problems.len().min(10)]
    );
    assert_eq!(creates.len(), expected.len(), "create rows of other keys");

    // No run stays `running`; the killed ones are `interrupted`.
    let runs = store.runs(1000).unwrap();
    assert!(
        runs.iter().all(|r| r.status != "running"),
        "{:?}",
        runs.iter()
            .map(|r| (r.id, r.status.as_str()))
            .collect::<Vec<_>>()
    );
    let found_late = audit
        .iter()
        .filter(|a| a.message == hrsync_state::APPLIED_AFTER_INTERRUPTION)
        .count();
    let already = audit
        .iter()
        .filter(|a| a.message.starts_with("already in the directory"))
        .count();
    println!(
        "create rows: {found_late} found in the directory after an interruption, {already} already added by an interrupted run"
    );
    let interrupted = runs.iter().filter(|r| r.status == "interrupted").count();
    assert!(interrupted >= killed_during_apply, "{interrupted}");
    println!(
        "runs: {} ({interrupted} interrupted); audit rows: {}; {:.1} s",
        runs.len(),
        audit.len(),
        t0.elapsed().as_secs_f64()
    );
}

/// Updates and disables killed mid-flight are reconciled too (the entry holds the planned
/// values, the account is locked): each changed person has exactly one audit row for the change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_updates_and_disables_loses_no_audit_row() {
    const KILLS: usize = 5;
    const SEED: u64 = 0x1108_0002;
    let t0 = Instant::now();
    let bin = Binary::new("crashupd");
    let fx = Fx::new("crashupd", 3_000, "uid", STAFF_ATTRS).await;
    let cfg = std::fs::read_to_string(&fx.cfg_path).unwrap();
    std::fs::write(
        &fx.cfg_path,
        cfg.replacen("page_size = 10\n", "page_size = 1000\n", 1),
    )
    .unwrap();
    let state = fx.dir.path().join("state.db");
    let log = fx.dir.path().join("hrsync.log");
    let r = fx.run(hrsync_engine::Mode::Apply).await;
    assert_eq!(r.applied_failed, 0);
    let created = r.run_id;
    // HR changes a third of the people's names and terminates a sixth.
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let (mut renamed, mut left) = (HashSet::new(), HashSet::new());
    for (i, id) in fx.active_ids().into_iter().enumerate() {
        if i % 6 == 0 {
            assert!(fx.emu.terminate(id, &yesterday));
            left.insert(fx.emp_no(id));
        } else if i % 3 != 0 {
            fx.emu
                .update(id, serde_json::json!({"last_name": format!("Renamed{i}")}))
                .unwrap();
            renamed.insert(fx.emp_no(id));
        }
    }
    let total = renamed.len() + left.len();
    println!(
        "seed {SEED:#x}: {} renamed, {} leavers",
        renamed.len(),
        left.len()
    );
    let done = || async {
        let mut ldap = admin().await;
        let (rs, _) = ldap
            .search(
                &fx.ou,
                Scope::Subtree,
                "(|(sn=Renamed*)(pwdAccountLockedTime=*))",
                vec!["1.1"],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        rs.len()
    };
    let mut rng = fastrand::Rng::with_seed(SEED);
    let mut rate = 1000.0f64;
    let mut killed_during_apply = 0;
    for trial in 1..=KILLS {
        let before = done().await;
        let after_run = last_run(&state);
        let mut child = spawn_apply(&bin, &fx.cfg_path, &log);
        let started =
            wait_apply_start(&state, &mut child, after_run, Duration::from_secs(120)).await;
        assert!(started.is_some(), "trial {trial}: see {log:?}");
        let d =
            Duration::from_secs_f64(rng.f64() * 0.5 * total.saturating_sub(before) as f64 / rate);
        let t = Instant::now();
        tokio::time::sleep(d).await;
        let exited = child.try_wait().unwrap();
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        let now = done().await;
        if exited.is_none() {
            killed_during_apply += 1;
            if now > before && t.elapsed().as_secs_f64() > 0.3 {
                rate = (now - before) as f64 / t.elapsed().as_secs_f64();
            }
        }
        println!(
            "kill {trial}: {:.3} s into the apply, changed {before} -> {now} of {total}",
            d.as_secs_f64()
        );
    }
    let mut child = spawn_apply(&bin, &fx.cfg_path, &log);
    assert_eq!(wait_exit(&mut child, Duration::from_secs(300)).await, 0);
    assert!(killed_during_apply >= KILLS - 1);
    let r = fx.run(hrsync_engine::Mode::Plan).await;
    assert!(r.plan.changes.is_empty(), "{:?}", r.plan.changes.first());

    // One ok audit row per change that reached the directory, none left unknown.
    let store = Store::open(&state).unwrap();
    let audit = store.audit(None, None, 100_000).unwrap();
    let mut rows: HashMap<(&str, &str), Vec<&hrsync_state::AuditRow>> = HashMap::new();
    let unknown = audit
        .iter()
        .filter(|a| a.message == hrsync_state::UNKNOWN_INTERRUPTED)
        .count();
    for a in audit.iter().filter(|a| a.run_id > created) {
        rows.entry((a.kind.as_str(), a.hr_key.as_str()))
            .or_default()
            .push(a);
    }
    let mut problems = Vec::new();
    for (kind, keys) in [("update", &renamed), ("disable", &left)] {
        for k in keys {
            match rows.get(&(kind, k.as_str())).map(Vec::as_slice) {
                Some([one]) if one.ok => {}
                other => problems.push(format!(
                    "{kind} {k}: {:?}",
                    other
                        .unwrap_or_default()
                        .iter()
                        .map(|a| (a.run_id, a.ok, a.message.as_str()))
                        .collect::<Vec<_>>()
                )),
            }
        }
    }
    println!(
        "{} changed people without exactly one ok row; {unknown} rows left unknown",
        problems.len()
    );
    assert!(
        problems.is_empty() && unknown == 0,
        "{} changed people without exactly one ok row ({unknown} rows left unknown), e.g. {:?}",
        problems.len(),
        &problems[..problems.len().min(10)]
    );
    assert_eq!(rows.len(), total, "rows of other changes");
    assert!(
        store
            .runs(100)
            .unwrap()
            .iter()
            .all(|r| r.status != "running"),
        "a run stayed running"
    );
    println!("{:.1} s", t0.elapsed().as_secs_f64());
}

// ---- Active Directory ------------------------------------------------------------------------

/// An AD account as the password checks need it.
#[derive(Debug)]
struct AdAccount {
    sam: String,
    uac: u32,
    pwd_last_set: String,
}

impl AdAccount {
    fn enabled(&self) -> bool {
        self.uac & 0x2 == 0
    }
}

/// Every user account under the test's OU.
async fn ad_accounts(ou: &str) -> Vec<AdAccount> {
    let mut ldap = crate::ad::admin().await;
    let (rs, _) = ldap
        .search(
            ou,
            Scope::Subtree,
            "(&(objectClass=user)(employeeID=*))",
            vec!["sAMAccountName", "userAccountControl", "pwdLastSet"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    rs.into_iter()
        .map(SearchEntry::construct)
        .map(|e| AdAccount {
            sam: e.attrs["sAMAccountName"][0].clone(),
            uac: e.attrs["userAccountControl"][0].parse().unwrap(),
            pwd_last_set: e.attrs["pwdLastSet"][0].clone(),
        })
        .collect()
}

/// What is wrong with the enabled accounts (must_change = true): an enabled account whose
/// password was never delivered, or whose initial password does not have to be changed.
fn ad_problems(accounts: &[AdAccount], passwords: &HashMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for a in accounts.iter().filter(|a| a.enabled()) {
        if !passwords.contains_key(&a.sam) {
            out.push(format!(
                "{}: enabled, but no password was delivered for it",
                a.sam
            ));
        }
        if a.pwd_last_set != "0" {
            out.push(format!(
                "{}: enabled with pwdLastSet = {} although must_change = true",
                a.sam, a.pwd_last_set
            ));
        }
    }
    out
}

/// Binds as every enabled account with its last delivered password (one connection, one bind
/// after the other): the bind succeeds or answers `data 773` (must change the password).
async fn ad_bind_problems(
    accounts: &[AdAccount],
    passwords: &HashMap<String, String>,
    realm: &str,
) -> Vec<String> {
    let mut ldap = crate::ad::connect().await;
    let mut out = Vec::new();
    for a in accounts.iter().filter(|a| a.enabled()) {
        let Some(pw) = passwords.get(&a.sam) else {
            continue;
        };
        let r = ldap
            .simple_bind(&format!("{}@{realm}", a.sam), pw)
            .await
            .unwrap();
        if r.rc != 0 && !r.text.contains("data 773") {
            out.push(format!(
                "{}: its delivered password does not bind: rc {} {}",
                a.sam, r.rc, r.text
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ad_sigkill_during_creates_never_enables_an_account_without_its_delivered_password() {
    const KILLS: usize = 5;
    const SEED: u64 = 0x00AD_0811;
    let t0 = Instant::now();
    let bin = Binary::new("ad-crash");
    let fx = crate::ad::AdFx::new("ad-crash", 400, true).await;
    let realm = crate::ad::ad_env().realm;
    let state = fx.dir.path().join("state.db");
    let log = fx.dir.path().join("hrsync.log");
    let expected = keys(
        &fx.run(hrsync_engine::Mode::Plan).await,
        hrsync_model::ChangeKind::Create,
    );
    assert!(expected.len() > 300, "{}", expected.len());
    println!("seed {SEED:#x}, {} accounts to create", expected.len());
    let mut rng = fastrand::Rng::with_seed(SEED);
    let mut rate = 20.0f64; // creates per second, measured as it goes
    let mut problems = Vec::new();
    let mut killed_during_apply = 0;
    for trial in 1..=KILLS {
        let before = ad_accounts(&fx.ou).await.len();
        let after_run = last_run(&state);
        let mut child = spawn_apply(&bin, &fx.cfg_path, &log);
        let started =
            wait_apply_start(&state, &mut child, after_run, Duration::from_secs(120)).await;
        assert!(
            started.is_some(),
            "trial {trial}: the apply never started; see {log:?}"
        );
        let left = expected.len().saturating_sub(before) as f64;
        let d = Duration::from_secs_f64(0.2 + rng.f64() * 0.5 * left / rate);
        let t = Instant::now();
        tokio::time::sleep(d).await;
        let exited = child.try_wait().unwrap();
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        let applying = t.elapsed();
        let accounts = ad_accounts(&fx.ou).await;
        let enabled = accounts.iter().filter(|a| a.enabled()).count();
        if exited.is_none() {
            killed_during_apply += 1;
            if accounts.len() > before && applying.as_secs_f64() > 0.5 {
                rate = (accounts.len() - before) as f64 / applying.as_secs_f64();
            }
        }
        let found = ad_problems(&accounts, &fx.passwords());
        println!(
            "kill {trial}: {:.3} s into the apply{}: accounts {before} -> {} ({enabled} enabled), {} problem(s)",
            d.as_secs_f64(),
            match exited {
                Some(s) => format!(" (had already exited: {s})"),
                None => String::new(),
            },
            accounts.len(),
            found.len()
        );
        problems.extend(
            found
                .into_iter()
                .map(|p| format!("after kill {trial}: {p}")),
        );
    }
    let mut child = spawn_apply(&bin, &fx.cfg_path, &log);
    let code = wait_exit(&mut child, Duration::from_secs(600)).await;
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let accounts = ad_accounts(&fx.ou).await;
    let passwords = fx.passwords();
    problems.extend(ad_problems(&accounts, &passwords));
    problems.extend(ad_bind_problems(&accounts, &passwords, &realm).await);
    let disabled = accounts.iter().filter(|a| !a.enabled()).count();
    let count = |what: &str| problems.iter().filter(|p| p.contains(what)).count();
    println!(
        "enabled without a delivered password: {}; enabled with pwdLastSet != 0: {}; delivered password does not bind: {}",
        count("no password was delivered"),
        count("pwdLastSet ="),
        count("does not bind")
    );
    println!(
        "final run: exit {code}; {} accounts, {disabled} disabled; {} problem(s); {:.1} s",
        accounts.len(),
        problems.len(),
        t0.elapsed().as_secs_f64()
    );
    assert!(
        problems.is_empty(),
        "{} problem(s), e.g. {:#?}",
        problems.len(),
        &problems[..problems.len().min(12)]
    );
    assert!(killed_during_apply >= KILLS - 1, "{killed_during_apply}");
    assert_eq!(
        code,
        0,
        "the final run: {}",
        &log_text[log_text.len().saturating_sub(3000)..]
    );
    // The accounts the kills left unfinished were finished (a new password each), none was
    // enabled as a rehire (nobody in this test is one).
    let store = Store::open(&state).unwrap();
    let audit = store.audit(None, None, 100_000).unwrap();
    let count = |kind: &str| audit.iter().filter(|a| a.kind == kind && a.ok).count();
    println!(
        "audit: {} create ({} found after an interruption, {} already added), {} finish-create, {} enable",
        count("create"),
        audit
            .iter()
            .filter(|a| a.message == hrsync_state::APPLIED_AFTER_INTERRUPTION)
            .count(),
        audit
            .iter()
            .filter(|a| a.message.starts_with("already in the directory"))
            .count(),
        count("finish-create"),
        count("enable")
    );
    assert_eq!(count("enable"), 0, "rehires planned for unfinished creates");
    assert!(
        count("finish-create") > 0,
        "no kill left an unfinished account"
    );
    assert!(
        store
            .runs(100)
            .unwrap()
            .iter()
            .all(|r| r.status != "running"),
        "a run stayed running"
    );
    // Everyone HR has is there and enabled, and nothing is left to do.
    assert_eq!(accounts.len(), expected.len());
    assert_eq!(disabled, 0);
    let r = fx.run(hrsync_engine::Mode::Plan).await;
    assert!(r.plan.changes.is_empty(), "{:?}", r.plan.changes);
}

/// Adds the account a create that did not finish leaves (disabled, with a password nobody
/// was given) and audits the create as failed, as a delivery that failed does.
async fn leave_unfinished(fx: &crate::ad::AdFx, c: &hrsync_model::Change) {
    use std::collections::HashSet as Set;
    let mut attrs: Vec<(Vec<u8>, Set<Vec<u8>>)> = vec![
        (b"objectClass".to_vec(), Set::from([b"user".to_vec()])),
        (b"userAccountControl".to_vec(), Set::from([b"514".to_vec()])),
        (
            b"unicodePwd".to_vec(),
            Set::from([hrsync_directory::password::unicode_pwd(
                &hrsync_model::Secret::new(format!("Lost-{:x}!Aa9", fastrand::u64(..))),
            )]),
        ),
    ];
    for a in c.attrs.iter().filter(|a| !a.after.is_empty()) {
        attrs.push((
            a.attr.as_str().as_bytes().to_vec(),
            a.after.iter().map(|v| v.as_bytes().to_vec()).collect(),
        ));
    }
    let r = crate::ad::admin().await.add(&c.dn, attrs).await.unwrap();
    assert_eq!(r.rc, 0, "{r:?}");
    let cfg = hrsync_config::Config::load(&fx.cfg_path).unwrap();
    let mut store = Store::open(&cfg.state_path()).unwrap();
    let now = chrono::Utc::now();
    let run = store.start_run("apply", "staff", now).unwrap();
    store
        .record_changes(
            run,
            &[hrsync_state::AppliedChange {
                seq: 0,
                change: c,
                ok: false,
                rc: None,
                message: "created but left disabled: the initial password could not be delivered: (simulated)",
                at: now,
            }],
        )
        .unwrap();
    store.finish_run(run, "failed", None, now).unwrap();
}

/// The account is enabled, its last delivered password is its password (the bind answers
/// `data 773`: it must be changed) and `pwdLastSet` is 0.
async fn assert_must_change(fx: &crate::ad::AdFx, sam: &str, realm: &str) {
    let pw = fx.passwords()[sam].clone();
    let err = crate::ad::bind_as(&format!("{sam}@{realm}"), &pw)
        .await
        .unwrap_err();
    assert!(err.contains("data 773"), "{sam}: {err}");
    let u = fx.user(sam).await.unwrap();
    assert_eq!(u.attrs["pwdLastSet"][0], "0", "{sam}");
    let uac: u32 = u.attrs["userAccountControl"][0].parse().unwrap();
    assert_eq!(uac & 2, 0, "{sam} enabled");
}

/// Deliveries in the password file per account.
fn deliveries(fx: &crate::ad::AdFx) -> HashMap<String, usize> {
    let text =
        std::fs::read_to_string(fx.dir.path().join("secrets/initial-passwords.jsonl")).unwrap();
    let mut out = HashMap::new();
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        *out.entry(v["account"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    out
}

/// Issue 11 §8 without a kill: an account whose create did not finish (its password was never
/// delivered) is finished with a new password, delivered first, and `pwdLastSet = 0`; a
/// pre-hire's is finished on the start date, not before; a real rehire stays a rehire (no new
/// password, the delivered one still works).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ad_unfinished_creates_are_finished_with_a_new_password_and_rehires_stay_rehires() {
    use hrsync_engine::Mode;
    use hrsync_model::ChangeKind;
    let fx = crate::ad::AdFx::with(
        "ad-finish",
        3,
        true,
        "start_date = \"{joined_date}\"\nprehire_days = 14",
        "",
        &[],
    )
    .await;
    let realm = crate::ad::ad_env().realm;
    let now = chrono::Utc::now();
    let day = |n: i64| {
        (now + chrono::Duration::days(n))
            .format("%Y-%m-%d")
            .to_string()
    };
    let r = fx.run_at(Mode::Apply, now).await;
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    let sam = |key: &str| format!("{}{}", fx.pfx, key.to_lowercase());
    // A real rehire: disabled as a leaver, enabled again with the password it had.
    let rehired = fx.active()[0].clone();
    let (id, key) = (
        rehired["id"].as_i64().unwrap(),
        rehired["employee_id"].as_str().unwrap().to_string(),
    );
    assert!(fx.emu.terminate(id, &day(-1)));
    let r = fx.run_at(Mode::Apply, now).await;
    assert_eq!(keys(&r, ChangeKind::Disable), HashSet::from([key.clone()]));
    fx.emu
        .update(
            id,
            serde_json::json!({"status": "Active", "termination_date": null}),
        )
        .unwrap();
    let r = fx.run_at(Mode::Apply, now).await;
    assert_eq!(keys(&r, ChangeKind::Enable), HashSet::from([key.clone()]));
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    assert_eq!(
        deliveries(&fx)[&sam(&key)],
        1,
        "a rehire gets no new password"
    );
    assert_must_change(&fx, &sam(&key), &realm).await;

    // A joiner whose create did not finish, and a pre-hire's.
    for (k, joined) in [("EMP07001", day(-2)), ("EMP07002", day(5))] {
        fx.emu.hire(
            serde_json::json!({"employee_id": k, "first_name": "Una", "last_name": k,
            "work_email": format!("{k}@example.test"), "department": 2, "job_title": 5,
            "joined_date": joined}),
        );
    }
    let plan = fx.run_at(Mode::Plan, now).await.plan;
    for (k, kind) in [
        ("EMP07001", ChangeKind::Create),
        ("EMP07002", ChangeKind::CreateDisabled),
    ] {
        let c = plan.changes.iter().find(|c| c.key == k).unwrap();
        assert_eq!(c.kind, kind);
        leave_unfinished(&fx, c).await;
    }
    let r = fx.run_at(Mode::Apply, now).await;
    assert_eq!(
        common_kinds(&r),
        vec![("finish-create".to_string(), "EMP07001".to_string())],
        "the joiner is finished, the pre-hire waits for the start date"
    );
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    assert!(r.plan.changes[0].reason.contains("did not finish"));
    assert_must_change(&fx, &sam("EMP07001"), &realm).await;
    let d = deliveries(&fx);
    assert_eq!(d[&sam("EMP07001")], 1);
    assert!(!d.contains_key(&sam("EMP07002")));
    assert!(fx.run_at(Mode::Plan, now).await.plan.changes.is_empty());

    // On the start date: the pre-hire's account is finished too.
    let later = now + chrono::Duration::days(5);
    let r = fx.run_at(Mode::Apply, later).await;
    assert_eq!(
        common_kinds(&r),
        vec![("finish-create".to_string(), "EMP07002".to_string())]
    );
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    assert_must_change(&fx, &sam("EMP07002"), &realm).await;
    assert_eq!(deliveries(&fx)[&sam("EMP07002")], 1);
    assert!(fx.run_at(Mode::Plan, later).await.plan.changes.is_empty());
    // The rehire again: still one password, still a rehire's.
    assert_eq!(deliveries(&fx)[&sam(&key)], 1);
}
