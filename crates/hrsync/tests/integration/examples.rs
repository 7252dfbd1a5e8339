//! Issue 11 §2: the README's example sequence — IceHrm, then CSV, then the custom REST
//! example — into one directory. Each example has its own OU and state file; none of them
//! touches another's accounts (they are orphans to it, listed by `hrsync orphans`).

use crate::common::*;
use hrsync_config::Config;
use hrsync_emulator::icehrm::{IceHrmConfig, IceHrmState, make_token};
use hrsync_emulator::rest::{self as acme, RestConfig, RestState, Style};
use hrsync_engine::{Mode, RunReport, Unattended};
use hrsync_model::ChangeKind;
use hrsync_state::Store;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");

/// An example config with the emulators' addresses, the test's OU as base and secrets from
/// files (what the README says to export as variables).
fn example(name: &str, ou: &str, dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let env = ldap_env();
    let text = std::fs::read_to_string(format!("{ROOT}/{name}"))
        .unwrap()
        .replace("ldap://127.0.0.1:3389", &env.url)
        .replace(
            "bind_password = { env = \"LDAP_BIND_PW\" }",
            "bind_password = { file = \"ldap.pw\" }",
        )
        // the examples' OUs, under the test's own OU instead of the suffix
        .replace("dc=example,dc=com", ou)
        .replace(&format!("cn=admin,{ou}"), &env.bind_dn);
    let path = dir.join(name);
    std::fs::write(&path, edit(text)).unwrap();
    path
}

async fn run(cfg: &Path, mode: Mode) -> RunReport {
    let cfg = Config::load(cfg).unwrap();
    let name = cfg.mapping_names()[0].clone();
    let job = cfg.job(&name).unwrap();
    let mut store = Store::open(&cfg.state_path()).unwrap();
    hrsync_engine::run(&job, &mut store, mode, chrono::Utc::now(), &mut Unattended)
        .await
        .unwrap()
}

fn disables(r: &RunReport) -> Vec<String> {
    r.plan
        .changes
        .iter()
        .chain(&r.plan.held)
        .chain(&r.plan.unconfirmed)
        .filter(|c| matches!(c.kind, ChangeKind::Disable | ChangeKind::Delete))
        .map(|c| c.key.clone())
        .collect()
}

fn orphan_keys(r: &RunReport) -> HashSet<String> {
    r.plan.orphans.iter().map(|o| o.key.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_examples_run_one_after_another_without_touching_each_others_accounts() {
    let env = ldap_env();
    let tag = format!("examples-{}", std::process::id());
    let ou = format!("ou={tag},{}", env.base);
    let mut ldap = admin().await;
    // What scripts/start-slapd.sh creates under the suffix, here under the test's OU.
    for (dn, v) in [
        (ou.clone(), tag.as_str()),
        (format!("ou=people,{ou}"), "people"),
        (format!("ou=csv,{ou}"), "csv"),
        (format!("ou=rest,{ou}"), "rest"),
    ] {
        ldap.add(
            &dn,
            vec![
                ("objectClass", HashSet::from(["organizationalUnit"])),
                ("ou", HashSet::from([v])),
            ],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ldap.pw"), &env.password).unwrap();

    // IceHrm (the demo's example).
    let token = make_token("examples", 4_102_444_800);
    let ice = IceHrmState::generate(&IceHrmConfig {
        employees: 25,
        seed: 11,
        token: token.clone(),
        base_path: "/app/api".into(),
    });
    let (ice_addr, _ice) =
        hrsync_emulator::icehrm::serve(ice.clone(), "/app/api", "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
    std::fs::write(dir.path().join("icehrm.token"), &token).unwrap();
    let icehrm = example("icehrm-openldap.toml", &ou, dir.path(), |t| {
        t.replace("http://127.0.0.1:8089", &format!("http://{ice_addr}"))
            .replace("{ env = \"ICEHRM_TOKEN\" }", "{ file = \"icehrm.token\" }")
    });
    // CSV.
    std::fs::copy(
        format!("{ROOT}/employees.csv"),
        dir.path().join("employees.csv"),
    )
    .unwrap();
    let csv = example("csv-openldap.toml", &ou, dir.path(), |t| t);
    // Custom REST (Acme HR).
    let acme_state = RestState::generate(RestConfig {
        token: "ex-token".into(),
        api_key: Some("ex-key".into()),
        style: Style::Page,
        employees: 30,
        seed: 3,
        ..RestConfig::default()
    });
    let (acme_addr, _acme) = acme::serve(acme_state.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    std::fs::write(dir.path().join("acme.token"), "ex-token").unwrap();
    std::fs::write(dir.path().join("acme.key"), "ex-key").unwrap();
    let rest = example("rest-openldap.toml", &ou, dir.path(), |t| {
        t.replace("http://127.0.0.1:8091", &format!("http://{acme_addr}"))
            .replace(
                "rate_limit_per_minute = 600",
                "rate_limit_per_minute = 60000",
            )
            .replace("{ env = \"ACME_TOKEN\" }", "{ file = \"acme.token\" }")
            .replace("{ env = \"ACME_API_KEY\" }", "{ file = \"acme.key\" }")
    });

    // 1. IceHrm into ou=people.
    let r = run(&icehrm, Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", r.plan.findings);
    let ice_keys: HashSet<String> = r.plan.changes.iter().map(|c| c.key.clone()).collect();
    assert!(ice_keys.len() > 15);

    // 2. CSV into ou=csv: IceHrm's accounts are orphans to it, never leavers. (Before issue
    // 11 every entry under the base with the key attribute counted as its own: the CSV
    // example planned a disable for each of IceHrm's accounts.)
    let r = run(&csv, Mode::Plan).await;
    assert!(disables(&r).is_empty(), "{:?}", disables(&r));
    assert_eq!(orphan_keys(&r), ice_keys);
    let r = run(&csv, Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", r.plan.findings);
    let csv_keys: HashSet<String> = r.plan.changes.iter().map(|c| c.key.clone()).collect();
    assert!(!csv_keys.is_empty());

    // 3. REST into ou=rest: both others' accounts are orphans.
    let r = run(&rest, Mode::Plan).await;
    assert!(disables(&r).is_empty(), "{:?}", disables(&r));
    assert_eq!(
        orphan_keys(&r),
        ice_keys.union(&csv_keys).cloned().collect()
    );
    let r = run(&rest, Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", r.plan.findings);
    let rest_keys: HashSet<String> = r.plan.changes.iter().map(|c| c.key.clone()).collect();

    // 4. Back to IceHrm and CSV: nothing to do, the others listed as orphans.
    let r = run(&icehrm, Mode::Plan).await;
    assert!(r.plan.changes.is_empty(), "{:?}", kinds(&r));
    assert_eq!(
        orphan_keys(&r),
        csv_keys.union(&rest_keys).cloned().collect()
    );
    let r = run(&csv, Mode::Plan).await;
    assert!(r.plan.changes.is_empty(), "{:?}", kinds(&r));

    // `hrsync orphans` lists them for the admin.
    let (code, out) = cli(&csv, &["orphans"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("{} orphan(s)", ice_keys.len() + rest_keys.len())),
        "{out}"
    );
    // Nobody anywhere was disabled.
    let locked = ldap
        .search(
            &ou,
            ldap3::Scope::Subtree,
            "(pwdAccountLockedTime=*)",
            vec!["1.1"],
        )
        .await
        .unwrap()
        .success()
        .unwrap()
        .0;
    assert!(locked.is_empty());
}
