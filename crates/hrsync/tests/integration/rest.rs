//! A custom REST HR system (`examples/rest-openldap.toml`: page/per_page paging, a fan-out endpoint and
//! a joined list) end to end into the real slapd, against the Acme HR test server.

use crate::common::*;
use hrsync_config::Config;
use hrsync_emulator::rest::{self as acme, Fault, RestConfig, RestState, Style};
use hrsync_engine::{Mode, RunReport, Unattended};
use hrsync_model::ChangeKind;
use hrsync_state::Store;
use ldap3::SearchEntry;
use std::collections::HashSet;

const TOKEN: &str = "acme-e2e-token-5d1f0c";
const KEY: &str = "acme-e2e-key-88a2e1";

struct RestFx {
    dir: tempfile::TempDir,
    emu: RestState,
    ou: String,
    _server: tokio::task::JoinHandle<()>,
}

impl RestFx {
    async fn new() -> RestFx {
        RestFx::with("rest", |t| t).await
    }

    async fn with(tag: &str, edit: impl Fn(String) -> String) -> RestFx {
        let env = ldap_env();
        let tag = format!("{tag}-{}", std::process::id());
        let ou = format!("ou={tag},{}", env.base);
        let people = format!("ou=people,{ou}");
        let mut ldap = admin().await;
        for (dn, v) in [(&ou, tag.as_str()), (&people, "people")] {
            ldap.add(
                dn,
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
        let emu = RestState::generate(RestConfig {
            token: TOKEN.into(),
            api_key: Some(KEY.into()),
            style: Style::Page,
            employees: 140,
            seed: 5,
            ..RestConfig::default()
        });
        let (addr, server) = acme::serve(emu.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), TOKEN).unwrap();
        std::fs::write(dir.path().join("key"), KEY).unwrap();
        std::fs::write(dir.path().join("ldap.pw"), &env.password).unwrap();
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
        let text = std::fs::read_to_string(format!("{root}/rest-openldap.toml"))
            .unwrap()
            .replace("http://127.0.0.1:8091", &format!("http://{addr}"))
            // 60 per page: three pages of the 140 people.
            .replace("size = 100", "size = 60")
            // The example's 600/min budget would make each run take ~12 s here.
            .replace(
                "rate_limit_per_minute = 600",
                "rate_limit_per_minute = 60000",
            )
            .replace("{ env = \"ACME_TOKEN\" }", "{ file = \"token\" }")
            .replace("{ env = \"ACME_API_KEY\" }", "{ file = \"key\" }")
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
                "users_ou = \"ou=rest,dc=example,dc=com\"",
                &format!("users_ou = \"{people}\""),
            );
        std::fs::write(dir.path().join("hrsync.toml"), edit(text)).unwrap();
        RestFx {
            dir,
            emu,
            ou,
            _server: server,
        }
    }

    async fn run(&self, mode: Mode) -> Result<RunReport, String> {
        let cfg = Config::load(&self.dir.path().join("hrsync.toml")).unwrap();
        let job = cfg.job("acme-staff").unwrap();
        let mut store = Store::open(&cfg.state_path()).unwrap();
        hrsync_engine::run(&job, &mut store, mode, chrono::Utc::now(), &mut Unattended)
            .await
            .map_err(|e| e.to_string())
    }

    async fn entry(&self, uid: &str) -> Option<SearchEntry> {
        let mut ldap = admin().await;
        let (rs, _) = ldap
            .search(
                &self.ou,
                ldap3::Scope::Subtree,
                &format!("(uid={})", ldap3::ldap_escape(uid)),
                vec!["*", "pwdAccountLockedTime"],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        rs.into_iter().next().map(SearchEntry::construct)
    }
}

fn ids_where(emu: &RestState, f: impl Fn(&serde_json::Value) -> bool) -> Vec<String> {
    emu.employees()
        .iter()
        .filter(|e| f(e))
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_rest_syncs_with_fan_out_join_and_safety() {
    let fx = RestFx::new().await;
    let not_leaving = ids_where(&fx.emu, |e| e["status"] != "terminated");
    // One person's details are missing in HR: held back, not created half-filled.
    let held = not_leaving[7].clone();
    fx.emu.hide_details(&held);
    // One person has no pay grade: the compensation join is optional, so they are created.
    let no_grade = not_leaving[8].clone();
    fx.emu.hide_compensation(&no_grade);

    let r = fx.run(Mode::Apply).await.unwrap();
    assert!(r.plan.fetch.complete, "{:?}", r.plan.fetch);
    assert_eq!(r.plan.fetch.records, 140);
    let mut expected: HashSet<String> = not_leaving.iter().cloned().collect();
    expected.remove(&held);
    assert_eq!(keys(&r, ChangeKind::Create), expected);
    assert_eq!(r.applied_failed, 0);
    assert!(
        r.plan
            .findings
            .iter()
            .any(|f| f.subject.starts_with(&held) && f.message.contains("details has nothing")),
        "{:?}",
        r.plan.findings
    );

    // Joined data landed: the fan-out's phone/office/title, the list's grade.
    let someone = &not_leaving[0];
    let e = fx.entry(&someone.to_lowercase()).await.unwrap();
    let hr = fx.emu.employee(someone).unwrap();
    assert_eq!(
        e.attrs["cn"][0],
        format!(
            "{} {}",
            hr["personal"]["first_name"].as_str().unwrap(),
            hr["personal"]["last_name"].as_str().unwrap()
        )
    );
    assert!(e.attrs["telephoneNumber"][0].starts_with('+'));
    assert!(!e.attrs["roomNumber"][0].is_empty());
    assert!(e.attrs["employeeType"][0].starts_with('G'));
    assert!(e.attrs.contains_key("title"));
    let ng = fx.entry(&no_grade.to_lowercase()).await.unwrap();
    assert!(!ng.attrs.contains_key("employeeType"));
    assert!(fx.run(Mode::Plan).await.unwrap().plan.changes.is_empty());

    // A hire → created; a termination → disabled; a department move → updated. The held-back
    // person stays held back (a finding again), and nobody else changes.
    let leaver = not_leaving[20].clone();
    let mover = not_leaving[21].clone();
    assert!(fx.emu.terminate(&leaver));
    assert!(
        fx.emu
            .set_field(&mover, "/job/department/code", serde_json::json!("FIN"))
    );
    let hire = fx.emu.hire("Zoë", "O'Brien-Ñúñez", "ENG");
    let r = fx.run(Mode::Apply).await.unwrap();
    assert_eq!(keys(&r, ChangeKind::Create), HashSet::from([hire.clone()]));
    assert_eq!(
        keys(&r, ChangeKind::Disable),
        HashSet::from([leaver.clone()])
    );
    assert_eq!(keys(&r, ChangeKind::Update), HashSet::from([mover.clone()]));
    let z = fx.entry(&hire.to_lowercase()).await.unwrap();
    assert_eq!(z.attrs["sn"][0], "O'Brien-Ñúñez");

    // Malformed JSON on page 3 (and someone gone from HR): incomplete → no leavers at all.
    let gone = not_leaving[30].clone();
    assert!(fx.emu.remove(&gone));
    fx.emu.set_fault(Fault::MalformedPage { page: 3 });
    let r = fx.run(Mode::Apply).await.unwrap();
    assert!(!r.plan.fetch.complete);
    assert!(r.plan.fetch.error.as_deref().unwrap().contains("page 3"));
    assert!(
        keys(&r, ChangeKind::Disable).is_empty(),
        "{:?}",
        r.plan.changes
    );
    assert!(r.plan.leavers_withheld >= 1);
    let g = fx.entry(&gone.to_lowercase()).await.unwrap();
    assert!(!g.attrs.contains_key("pwdAccountLockedTime"));
    fx.emu.clear_faults();

    // Wrong API key / token: a clear error naming the integration, nothing changed.
    for (file, bad, status) in [
        ("key", "wrong-key-x1", "403"),
        ("token", "wrong-token-x2", "401"),
    ] {
        std::fs::write(fx.dir.path().join(file), bad).unwrap();
        let before = fx.emu.requests().len();
        let err = fx.run(Mode::Apply).await.unwrap_err();
        assert!(
            err.contains("integration acme: authorization failed (HTTP")
                && err.contains(status)
                && err.contains("endpoint employees"),
            "{err}"
        );
        assert!(!err.contains(bad) && !err.contains(TOKEN) && !err.contains(KEY));
        // Stopped at the first page: no fan-out calls.
        assert_eq!(fx.emu.requests().len(), before + 1);
        std::fs::write(
            fx.dir.path().join(file),
            if file == "key" { KEY } else { TOKEN },
        )
        .unwrap();
    }
    // Still nobody disabled for being missing from a failed fetch; the next good run does it.
    let r = fx.run(Mode::Apply).await.unwrap();
    assert!(r.plan.fetch.complete);
    assert_eq!(keys(&r, ChangeKind::Disable), HashSet::from([gone.clone()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_fetch_with_last_run_time_never_means_everyone_left() {
    let fx = RestFx::with("rest-incr", |t| {
        t.replace(
            "headers = { Accept = \"application/json\" }",
            "headers = { Accept = \"application/json\" }\nquery = { updated_since = \"{lastRunTime}\" }",
        )
    })
    .await;
    // First run: no earlier sync, so {lastRunTime} is the epoch and everyone comes.
    let r = fx.run(Mode::Apply).await.unwrap();
    assert_eq!(r.plan.fetch.records, 140);
    let created = keys(&r, ChangeKind::Create).len();
    assert!(created > 100);
    assert!(
        fx.emu.requests()[0]
            .query
            .contains("updated_since=1970-01-01T00%3A00%3A00Z")
    );

    // Later: one person changed, one terminated; the fetch holds just them.
    let ids = ids_where(&fx.emu, |e| e["status"] == "active");
    let (mover, leaver) = (ids[0].clone(), ids[1].clone());
    assert!(
        fx.emu
            .set_field(&mover, "/personal/last_name", serde_json::json!("Nakamura"))
    );
    assert!(fx.emu.terminate(&leaver));
    fx.emu.clear_requests();
    let r = fx.run(Mode::Apply).await.unwrap();
    assert!(r.plan.fetch.complete);
    assert_eq!(r.plan.fetch.records, 2, "{:?}", r.plan.fetch);
    assert_eq!(keys(&r, ChangeKind::Update), HashSet::from([mover.clone()]));
    assert_eq!(keys(&r, ChangeKind::Disable), HashSet::from([leaver]));
    assert_eq!(r.plan.changes.len(), 2, "the other 138 are not leavers");
    assert!(
        r.plan
            .fetch
            .notes
            .iter()
            .any(|n| n.contains("incremental fetch"))
    );
    let q = &fx.emu.requests()[0].query;
    assert!(q.contains("updated_since=20") && !q.contains("1970"), "{q}");
    // Nothing changed since: an empty plan. (The window starts at the last sync's start,
    // rounded down to the second, so people changed just before it may come again: harmless.)
    let r = fx.run(Mode::Apply).await.unwrap();
    assert!(r.plan.fetch.records <= 2);
    assert!(r.plan.changes.is_empty(), "{:?}", r.plan.changes);

    // Someone is deleted from HR: an incremental fetch cannot see it; a scheduled full sync
    // (`fetch = "full"`) can, and disables the account.
    let gone = ids[2].clone();
    assert!(fx.emu.remove(&gone));
    let r = fx.run(Mode::Apply).await.unwrap();
    assert!(r.plan.changes.is_empty(), "{:?}", r.plan.changes);
    let path = fx.dir.path().join("hrsync.toml");
    let text = std::fs::read_to_string(&path).unwrap()
        + "\n[[automation]]\nname = \"weekly-full\"\nmapping = \"acme-staff\"\nschedule = \"0 3 * * 0\"\nfetch = \"full\"\n";
    std::fs::write(&path, text).unwrap();
    let svc = hrsync_server::Service::new(Config::load(&path).unwrap()).unwrap();
    let t = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    assert!(
        svc.tick(t("2026-11-28T00:00:00Z"))
            .await
            .unwrap()
            .is_empty()
    );
    let ticked = svc.tick(t("2026-11-29T03:00:00Z")).await.unwrap();
    assert_eq!(ticked[0].outcome, "ran");
    let store = Store::open(&Config::load(&path).unwrap().state_path()).unwrap();
    let plan = store.plan_of(ticked[0].run_id.unwrap()).unwrap().unwrap();
    assert_eq!(plan.fetch.records, 139, "everyone but the deleted person");
    let disabled: Vec<&str> = plan
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Disable)
        .map(|c| c.key.as_str())
        .collect();
    assert_eq!(disabled, vec![gone.as_str()]);
}
