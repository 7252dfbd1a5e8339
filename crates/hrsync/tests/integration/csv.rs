//! The CSV source end to end into the real slapd, with the shipped example config.

use crate::common::*;
use hrsync_config::Config;
use hrsync_engine::{Mode, RunReport, Unattended};
use hrsync_model::{ChangeKind, filter};
use hrsync_state::Store;
use std::collections::HashSet;

struct CsvFx {
    dir: tempfile::TempDir,
    ou: String,
}

impl CsvFx {
    async fn new() -> CsvFx {
        let env = ldap_env();
        let ou = format!("ou=csv-{},{}", std::process::id(), env.base);
        let people = format!("ou=people,{ou}");
        let mut ldap = admin().await;
        for (dn, v) in [
            (&ou, format!("csv-{}", std::process::id())),
            (&people, "people".to_string()),
        ] {
            ldap.add(
                dn,
                vec![
                    ("objectClass", HashSet::from(["organizationalUnit"])),
                    ("ou", HashSet::from([v.as_str()])),
                ],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
        std::fs::copy(
            format!("{root}/employees.csv"),
            dir.path().join("employees.csv"),
        )
        .unwrap();
        std::fs::write(dir.path().join("ldap.pw"), &env.password).unwrap();
        let cfg = std::fs::read_to_string(format!("{root}/csv-openldap.toml"))
            .unwrap()
            .replace("ldap://127.0.0.1:3389", &env.url)
            .replace("cn=admin,dc=example,dc=com", &env.bind_dn)
            .replace(
                "bind_password = { env = \"LDAP_BIND_PW\" }",
                "bind_password = { file = \"ldap.pw\" }",
            )
            .replace(
                "base_dn = \"dc=example,dc=com\"",
                &format!("base_dn = \"{ou}\""),
            )
            .replace(
                "users_ou = \"ou=csv,dc=example,dc=com\"",
                &format!("users_ou = \"{people}\""),
            );
        std::fs::write(dir.path().join("hrsync.toml"), cfg).unwrap();
        CsvFx { dir, ou }
    }

    async fn run(&self, mode: Mode) -> RunReport {
        let cfg = Config::load(&self.dir.path().join("hrsync.toml")).unwrap();
        let job = cfg.job("csv-staff").unwrap();
        let mut store = Store::open(&cfg.state_path()).unwrap();
        hrsync_engine::run(&job, &mut store, mode, chrono::Utc::now(), &mut Unattended)
            .await
            .unwrap()
    }

    fn edit_csv(&self, f: impl FnOnce(String) -> String) {
        let p = self.dir.path().join("employees.csv");
        let s = std::fs::read_to_string(&p).unwrap();
        std::fs::write(p, f(s)).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_export_syncs_end_to_end() {
    let fx = CsvFx::new().await;
    let r = fx.run(Mode::Apply).await;
    assert!(r.plan.fetch.complete);
    let created: Vec<&str> = r
        .plan
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Create)
        .map(|c| c.key.as_str())
        .collect();
    assert_eq!(
        created,
        vec!["E1001", "E1002", "E1003", "E1004"],
        "the Terminated row is not created"
    );
    assert_eq!(r.applied_failed, 0);
    let mut ldap = admin().await;
    let (rs, _) = ldap
        .search(
            &fx.ou,
            ldap3::Scope::Subtree,
            &filter::eq("employeeNumber", "E1003"),
            vec!["uid", "cn", "mail"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    let e = ldap3::SearchEntry::construct(rs.into_iter().next().unwrap());
    assert_eq!(e.attrs["uid"], vec!["lukasz.zolc"]);
    assert_eq!(e.attrs["cn"], vec!["Łukasz Żółć"]);
    assert!(fx.run(Mode::Plan).await.plan.changes.is_empty());

    // A broken row: the export is incomplete, so the row that disappeared is not a leaver.
    fx.edit_csv(|s| {
        s.replace(
            "E1002,José,Müller,jose.muller@example.test,Sales,Account Manager,Active\n",
            "",
        ) + "E1009,Broken,Row,too,many,cells,here,x\n"
    });
    let r = fx.run(Mode::Apply).await;
    assert!(!r.plan.fetch.complete);
    assert!(
        r.plan.fetch.error.as_deref().unwrap().contains("line 6"),
        "{:?}",
        r.plan.fetch.error
    );
    assert!(r.plan.changes.is_empty(), "{:?}", r.plan.changes);
    assert_eq!(r.plan.leavers_withheld, 1);

    // Fixed export: the missing row is evidence, not proof. A file cannot be asked for one
    // person, so the first complete export that misses E1002 records it as missing ...
    fx.edit_csv(|s| {
        s.lines()
            .filter(|l| !l.starts_with("E1009"))
            .map(|l| format!("{l}\n"))
            .collect()
    });
    let r = fx.run(Mode::Apply).await;
    assert!(r.plan.fetch.complete);
    assert!(r.plan.changes.is_empty(), "{:?}", r.plan.changes);
    assert_eq!(r.plan.unconfirmed.len(), 1);
    assert!(
        r.plan.unconfirmed[0].reason.contains("1 of 2"),
        "{}",
        r.plan.unconfirmed[0].reason
    );
    // ... and the next complete export that still misses it makes it a leaver (disabled).
    let r = fx.run(Mode::Apply).await;
    let k: Vec<(ChangeKind, &str)> = r
        .plan
        .changes
        .iter()
        .map(|c| (c.kind, c.key.as_str()))
        .collect();
    assert_eq!(k, vec![(ChangeKind::Disable, "E1002")]);
    assert!(
        r.plan.changes[0]
            .reason
            .contains("2 consecutive complete fetches"),
        "{}",
        r.plan.changes[0].reason
    );
}
