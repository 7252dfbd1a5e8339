//! Active Directory on a real Samba AD domain controller (started by `scripts/test.sh`, which
//! exports `HRSYNC_TEST_AD_*`). The DC's ports are fixed, so all tests share it; each works in
//! its own OU.

use hrsync::config::Config;
use hrsync::engine::{self, Mode, RunReport, Unattended};
use hrsync_directory::dialect::guid_text;
use hrsync_emulator::icehrm::{IceHrmConfig, IceHrmState, make_token};
use hrsync_model::ChangeKind;
use hrsync_state::Store;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

pub struct AdEnv {
    pub url: String,
    pub bind_dn: String,
    pub password: String,
    pub base: String,
    pub ca: String,
    pub realm: String,
}

pub fn ad_env() -> AdEnv {
    let get = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| {
            panic!("{k} is not set: run the tests through scripts/test.sh, which starts a Samba AD DC and exports HRSYNC_TEST_AD_*")
        })
    };
    AdEnv {
        url: get("HRSYNC_TEST_AD_LDAPS_URL"),
        bind_dn: get("HRSYNC_TEST_AD_BIND_DN"),
        password: get("HRSYNC_TEST_AD_BIND_PW"),
        base: get("HRSYNC_TEST_AD_BASE_DN"),
        ca: get("HRSYNC_TEST_AD_CA_CERT"),
        realm: get("HRSYNC_TEST_AD_REALM").to_lowercase(),
    }
}

/// An LDAPS connection for checks (the product verifies the DC's CA; these test-side
/// connections to the loopback DC skip it).
async fn connect() -> Ldap {
    let env = ad_env();
    let settings = LdapConnSettings::new().set_no_tls_verify(true);
    let (conn, ldap) = LdapConnAsync::with_settings(settings, &env.url)
        .await
        .unwrap();
    ldap3::drive!(conn);
    ldap
}

async fn admin() -> Ldap {
    let env = ad_env();
    let mut ldap = connect().await;
    ldap.simple_bind(&env.bind_dn, &env.password)
        .await
        .unwrap()
        .success()
        .unwrap();
    ldap
}

/// Binds as a user; Err is the server's diagnostic text (e.g. `… data 533 …`).
async fn bind_as(upn: &str, password: &str) -> Result<(), String> {
    let mut ldap = connect().await;
    let r = ldap.simple_bind(upn, password).await.unwrap();
    if r.rc == 0 {
        Ok(())
    } else {
        Err(format!("rc {}: {}", r.rc, r.text))
    }
}

const ATTRS: &str = r#"
cn = { format = "{first_name} {last_name}", required = true }
sAMAccountName = "PFX{employee_id|lower}"
userPrincipalName = "PFX{employee_id|lower}@REALM"
givenName = "{first_name}"
sn = { format = "{last_name}", required = true }
displayName = "{first_name} {last_name}"
mail = "{work_email}"
department = "{department.display}"
title = "{job_title.display}"
"#;

struct AdFx {
    dir: tempfile::TempDir,
    emu: IceHrmState,
    ou: String,
    people: String,
    cfg_path: PathBuf,
    /// sAMAccountName prefix: the domain is shared by every test and every earlier run.
    pfx: String,
    _server: tokio::task::JoinHandle<()>,
}

impl AdFx {
    async fn new(name: &str, employees: usize, must_change: bool) -> AdFx {
        let env = ad_env();
        let pfx = format!("{}{:04x}-", &name[3..4], fastrand::u16(..));
        let ou = format!("OU={name}-{pfx}{},{}", std::process::id(), env.base);
        let people = format!("OU=People,{ou}");
        let mut ldap = admin().await;
        for dn in [&ou, &people] {
            let r = ldap
                .add(
                    dn,
                    vec![("objectClass", HashSet::from(["organizationalUnit"]))],
                )
                .await
                .unwrap();
            assert!(r.rc == 0, "{dn}: {r:?}");
        }
        let token = make_token(&format!("seed-{name}"), 4_102_444_800);
        let emu = IceHrmState::generate(&IceHrmConfig {
            employees,
            seed: name
                .bytes()
                .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))),
            token: token.clone(),
            base_path: "/app/api".into(),
        });
        let (addr, server) =
            hrsync_emulator::icehrm::serve(emu.clone(), "/app/api", "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("icehrm.token"), &token).unwrap();
        std::fs::write(dir.path().join("ad.pw"), &env.password).unwrap();
        let cfg = format!(
            r#"
[state]
path = "state.db"

[[integration]]
name = "icehrm"
kind = "icehrm"
base_url = "http://{addr}/app/api"
token = {{ file = "icehrm.token" }}
max_retries = 1

[directory]
kind = "active_directory"
url = "{url}"
ca_cert = "{ca}"
bind_dn = "{bind_dn}"
bind_password = {{ file = "ad.pw" }}
base_dn = "{ou}"
users_ou = "{people}"

[directory.passwords]
file = "secrets/initial-passwords.jsonl"
must_change = {must_change}

[[mapping]]
name = "staff"
integration = "icehrm"
primary_key = "employee_id"
rdn_attribute = "cn"

[mapping.attributes]
{attrs}
"#,
            url = env.url,
            ca = env.ca,
            bind_dn = env.bind_dn,
            attrs = ATTRS.replace("REALM", &env.realm).replace("PFX", &pfx),
        );
        let cfg_path = dir.path().join("hrsync.toml");
        std::fs::write(&cfg_path, cfg).unwrap();
        AdFx {
            pfx,
            dir,
            emu,
            ou,
            people,
            cfg_path,
            _server: server,
        }
    }

    async fn run(&self, mode: Mode) -> RunReport {
        let cfg = Config::load(&self.cfg_path).unwrap();
        let job = cfg.job("staff").unwrap();
        let mut store = Store::open(&cfg.state_path()).unwrap();
        engine::run(&job, &mut store, mode, chrono::Utc::now(), &mut Unattended)
            .await
            .unwrap()
    }

    /// Delivered passwords by sAMAccountName.
    fn passwords(&self) -> HashMap<String, String> {
        let text = std::fs::read_to_string(self.dir.path().join("secrets/initial-passwords.jsonl"))
            .unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .map(|v| {
                (
                    v["account"].as_str().unwrap().to_string(),
                    v["password"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    async fn user(&self, sam: &str) -> Option<SearchEntry> {
        let mut ldap = admin().await;
        let (rs, _) = ldap
            .search(
                &self.ou,
                Scope::Subtree,
                &format!("(sAMAccountName={})", ldap3::ldap_escape(sam)),
                vec!["*", "objectGUID", "userAccountControl", "pwdLastSet"],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        rs.into_iter().next().map(SearchEntry::construct)
    }

    fn links(&self) -> HashMap<String, (String, String)> {
        let cfg = Config::load(&self.cfg_path).unwrap();
        let store = Store::open(&cfg.state_path()).unwrap();
        store
            .links("staff")
            .unwrap()
            .into_iter()
            .map(|(k, l)| (k, (l.uuid.unwrap_or_default(), l.dn)))
            .collect()
    }

    /// Failed changes of a run, with the server's text (for assertion messages).
    fn failures(&self, run: i64) -> Vec<String> {
        let cfg = Config::load(&self.cfg_path).unwrap();
        let store = Store::open(&cfg.state_path()).unwrap();
        store
            .audit(Some(run), None, 1000)
            .unwrap()
            .into_iter()
            .filter(|a| !a.ok)
            .map(|a| format!("{} {} {}: {}", a.kind, a.hr_key, a.dn, a.message))
            .collect()
    }

    fn active(&self) -> Vec<Value> {
        self.emu
            .employees()
            .into_iter()
            .filter(|e| {
                e["status"] == "Active" && !e["last_name"].is_null() && !e["work_email"].is_null()
            })
            .collect()
    }
}

fn uac(e: &SearchEntry) -> u32 {
    e.attrs["userAccountControl"][0].parse().unwrap()
}

fn guid(e: &SearchEntry) -> String {
    let raw = e
        .bin_attrs
        .get("objectGUID")
        .map(|v| v[0].clone())
        .or_else(|| e.attrs.get("objectGUID").map(|v| v[0].as_bytes().to_vec()))
        .unwrap();
    guid_text(&raw).unwrap()
}

fn keys(r: &RunReport, kind: ChangeKind) -> HashSet<String> {
    r.plan
        .changes
        .iter()
        .filter(|c| c.kind == kind)
        .map(|c| c.key.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ad_create_with_password_disable_rename_rehire_keep_the_guid_link() {
    let fx = AdFx::new("ad-jml", 8, false).await;
    let realm = ad_env().realm;
    let active = fx.active();
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    let expected: HashSet<String> = active
        .iter()
        .map(|e| e["employee_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys(&r, ChangeKind::Create), expected);

    // Every new account got a password through the 0600 file, enabled, and it works over LDAPS.
    let passwords = fx.passwords();
    assert_eq!(passwords.len(), expected.len());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(fx.dir.path().join("secrets/initial-passwords.jsonl"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let first = format!(
        "{}{}",
        fx.pfx,
        active[0]["employee_id"].as_str().unwrap().to_lowercase()
    );
    let upn = format!("{first}@{realm}");
    let pw = passwords[&first].clone();
    bind_as(&upn, &pw).await.unwrap();
    let u = fx.user(&first).await.unwrap();
    assert_eq!(uac(&u) & 0x2, 0, "enabled");
    assert_eq!(uac(&u) & 0x20, 0, "a password is required");
    assert!(u.dn.starts_with("CN=") && u.dn.ends_with(&fx.people));
    // The link is the objectGUID in its usual text form, read from the binary value.
    let key = active[0]["employee_id"].as_str().unwrap().to_string();
    let g = guid(&u);
    assert!(
        fx.run(Mode::Plan).await.plan.changes.is_empty(),
        "idempotent"
    );
    // The next run's snapshot records the link's objectGUID.
    assert_eq!(fx.links()[&key].0, g);

    // Terminated → disabled (only the disable bit): the bind now fails with AD's 533.
    let id = active[0]["id"].as_i64().unwrap();
    assert!(fx.emu.terminate(id, "2026-11-20"));
    let r = fx.run(Mode::Apply).await;
    assert_eq!(keys(&r, ChangeKind::Disable), HashSet::from([key.clone()]));
    assert_eq!(r.applied_failed, 0);
    let err = bind_as(&upn, &pw).await.unwrap_err();
    assert!(err.contains("data 533"), "{err}");
    let u = fx.user(&first).await.unwrap();
    assert_eq!(
        uac(&u),
        0x200 | 0x2,
        "NORMAL_ACCOUNT | ACCOUNTDISABLE, nothing else touched"
    );

    // Rehired with a new last name: renamed (cn is the RDN) and enabled, same objectGUID.
    fx.emu
        .update(
            id,
            json!({"status": "Active", "termination_date": null, "last_name": "Nakamura-Øre"}),
        )
        .unwrap();
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", r.plan.changes);
    assert_eq!(keys(&r, ChangeKind::Enable), HashSet::from([key.clone()]));
    let u = fx.user(&first).await.unwrap();
    assert!(
        u.dn.contains("Nakamura-Øre") || u.dn.contains("Nakamura-\\C3\\98re"),
        "{}",
        u.dn
    );
    assert_eq!(guid(&u), g, "rename keeps the objectGUID");
    let (link_uuid, link_dn) = fx.links()[&key].clone();
    assert_eq!(link_uuid, g);
    assert!(
        hrsync_model::dn::same(&link_dn, &u.dn),
        "the link follows: {link_dn}"
    );
    bind_as(&upn, &pw).await.unwrap();
    assert!(fx.run(Mode::Plan).await.plan.changes.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ad_must_change_hostile_names_and_sam_account_name_problems() {
    let fx = AdFx::new("ad-names", 6, true).await;
    let realm = ad_env().realm;
    let active = fx.active();
    let ids: Vec<i64> = active.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    let sam = |i: usize| {
        format!(
            "{}{}",
            fx.pfx,
            active[i]["employee_id"].as_str().unwrap().to_lowercase()
        )
    };
    // A hostile name (DN and filter metacharacters, quotes, diacritics).
    fx.emu
        .update(
            ids[0],
            json!({"first_name": "Zoë \"Z\" <x>", "last_name": "O'Brien, Jr. (Ops)*\\#+;="}),
        )
        .unwrap();
    // An account that already exists outside hrsync with the sAMAccountName of person 1.
    let mut ldap = admin().await;
    let squatter = format!("CN=Squatter,{}", fx.ou);
    let taken = sam(1);
    let r = ldap
        .add(
            &squatter,
            vec![
                ("objectClass", HashSet::from(["user"])),
                ("sAMAccountName", HashSet::from([taken.as_str()])),
            ],
        )
        .await
        .unwrap();
    assert_eq!(r.rc, 0, "{r:?}");

    let r = fx.run(Mode::Apply).await;
    // The collision is one failed change with AD's own text; everybody else is created.
    let failed: Vec<&hrsync_model::Change> = r
        .plan
        .changes
        .iter()
        .filter(|c| taken.ends_with(&c.key.to_lowercase()))
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        r.applied_failed,
        1,
        "only the collision fails: {:?}",
        fx.failures(r.run_id)
    );
    let cfg = Config::load(&fx.cfg_path).unwrap();
    let store = Store::open(&cfg.state_path()).unwrap();
    let audit = store.audit(Some(r.run_id), None, 100).unwrap();
    let row = audit
        .iter()
        .find(|a| taken.ends_with(&a.hr_key.to_lowercase()))
        .unwrap();
    assert!(!row.ok);
    assert!(
        row.message.contains("already in use") || row.message.contains("00002071"),
        "{}",
        row.message
    );

    // The hostile name was created and is found with an escaped filter.
    let z = fx.user(&sam(0)).await.unwrap();
    assert_eq!(z.attrs["sn"][0], "O'Brien, Jr. (Ops)*\\#+;=");
    assert_eq!(z.attrs["givenName"][0], "Zoë \"Z\" <x>");
    let mut ldap = admin().await;
    let (rs, _) = ldap
        .search(
            &fx.ou,
            Scope::Subtree,
            &hrsync_model::filter::eq("sn", "O'Brien, Jr. (Ops)*\\#+;="),
            vec!["cn"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(rs.len(), 1);

    // pwdLastSet = 0: the password is set, but must be changed first (AD's data 773).
    let pw = fx.passwords()[&sam(2)].clone();
    let err = bind_as(&format!("{}@{realm}", sam(2)), &pw)
        .await
        .unwrap_err();
    assert!(err.contains("data 773"), "{err}");
    let wrong = bind_as(&format!("{}@{realm}", sam(2)), "Wrong-Passw0rd!")
        .await
        .unwrap_err();
    assert!(wrong.contains("data 52e"), "{wrong}");

    // A sAMAccountName AD would refuse (over 20 characters) is a finding, not a failed add.
    let long = active[3]["employee_id"].as_str().unwrap().to_string();
    fx.emu
        .update(
            ids[3],
            json!({"employee_id": format!("{long}-with-a-very-long-suffix")}),
        )
        .unwrap();
    let r = fx.run(Mode::Plan).await;
    assert!(
        r.plan
            .findings
            .iter()
            .any(|f| f.message.contains("longer than 20")),
        "{:?}",
        r.plan.findings
    );
}
