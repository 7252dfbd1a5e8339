//! Active Directory on a real Samba AD domain controller (started by `scripts/test.sh`, which
//! exports `HRSYNC_TEST_AD_*`). The DC's ports are fixed, so all tests share it; each works in
//! its own OU.

use crate::common::{cli, keys};
use hrsync_config::Config;
use hrsync_directory::dialect::guid_text;
use hrsync_emulator::icehrm::{IceHrmConfig, IceHrmState, make_token};
use hrsync_engine::{Mode, RunReport, Unattended};
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
pub(crate) async fn connect() -> Ldap {
    let env = ad_env();
    let settings = LdapConnSettings::new().set_no_tls_verify(true);
    let (conn, ldap) = LdapConnAsync::with_settings(settings, &env.url)
        .await
        .unwrap();
    ldap3::drive!(conn);
    ldap
}

pub(crate) async fn admin() -> Ldap {
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
pub(crate) async fn bind_as(upn: &str, password: &str) -> Result<(), String> {
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

pub(crate) struct AdFx {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) emu: IceHrmState,
    pub(crate) ou: String,
    people: String,
    pub(crate) cfg_path: PathBuf,
    /// sAMAccountName prefix: the domain is shared by every test and every earlier run.
    pub(crate) pfx: String,
    _server: tokio::task::JoinHandle<()>,
}

impl AdFx {
    pub(crate) async fn new(name: &str, employees: usize, must_change: bool) -> AdFx {
        AdFx::with(name, employees, must_change, "", "", &[]).await
    }

    /// `mapping_keys` go into `[[mapping]]`, `tail` after the attributes (`{OU}` = the test's
    /// OU); `groups` are created first (under the test's OU).
    pub(crate) async fn with(
        name: &str,
        employees: usize,
        must_change: bool,
        mapping_keys: &str,
        tail: &str,
        groups: &[&str],
    ) -> AdFx {
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
        for g in groups {
            let dn = g.replace("{OU}", &ou);
            let parent = hrsync_model::dn::Dn::parse(&dn)
                .unwrap()
                .parent()
                .to_string();
            let _ = ldap
                .add(
                    &parent,
                    vec![("objectClass", HashSet::from(["organizationalUnit"]))],
                )
                .await;
            let r = ldap
                .add(&dn, vec![("objectClass", HashSet::from(["group"]))])
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
{mapping_keys}

[mapping.attributes]
{attrs}

{tail}
"#,
            tail = tail.replace("{OU}", &ou),
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

    pub(crate) async fn run(&self, mode: Mode) -> RunReport {
        self.run_at(mode, chrono::Utc::now()).await
    }

    pub(crate) async fn run_at(&self, mode: Mode, now: chrono::DateTime<chrono::Utc>) -> RunReport {
        let cfg = Config::load(&self.cfg_path).unwrap();
        let job = cfg.job("staff").unwrap();
        let mut store = Store::open(&cfg.state_path()).unwrap();
        hrsync_engine::run(&job, &mut store, mode, now, &mut Unattended)
            .await
            .unwrap()
    }

    /// Delivered passwords by sAMAccountName.
    pub(crate) fn passwords(&self) -> HashMap<String, String> {
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

    pub(crate) async fn user(&self, sam: &str) -> Option<SearchEntry> {
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
    pub(crate) fn failures(&self, run: i64) -> Vec<String> {
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

    pub(crate) fn active(&self) -> Vec<Value> {
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

async fn members(group: &str) -> HashSet<String> {
    let mut ldap = admin().await;
    let (rs, _) = ldap
        .search(group, Scope::Base, "(objectClass=*)", vec!["member"])
        .await
        .unwrap()
        .success()
        .unwrap();
    rs.into_iter()
        .next()
        .map(SearchEntry::construct)
        .and_then(|e| e.attrs.get("member").cloned())
        .unwrap_or_default()
        .into_iter()
        .map(|m| m.to_lowercase())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ad_ou_rule_moves_and_group_rules_add_and_remove() {
    let fx = AdFx::with(
        "ad-moves",
        10,
        false,
        r#"ou = ["{department.display}"]"#,
        r#"
[[mapping.group]]
dn = "CN=staff-all,OU=Groups,{OU}"

[[mapping.group]]
dn = "CN=sales-crm,OU=Groups,{OU}"
when = "department.display == 'Sales'"

[[mapping.group]]
cn = "team {department.id}"
under = "OU=Teams,{OU}"

[lifecycle]
leaver_groups = "remove"
"#,
        &[
            "CN=staff-all,OU=Groups,{OU}",
            "CN=sales-crm,OU=Groups,{OU}",
            "CN=team 3,OU=Teams,{OU}",
            "CN=team 4,OU=Teams,{OU}",
            "CN=team 5,OU=Teams,{OU}",
            "CN=team 6,OU=Teams,{OU}",
            "CN=team 7,OU=Teams,{OU}",
            "CN=team 8,OU=Teams,{OU}",
            "CN=team 9,OU=Teams,{OU}",
            "CN=team 10,OU=Teams,{OU}",
            "CN=team 1,OU=Teams,{OU}",
            "CN=team 2,OU=Teams,{OU}",
        ],
    )
    .await;
    // A hand-made membership in an unmanaged group must survive everything below.
    let mut ldap = admin().await;
    let other = format!("CN=not-ours,{}", fx.ou);
    assert_eq!(
        ldap.add(&other, vec![("objectClass", HashSet::from(["group"]))])
            .await
            .unwrap()
            .rc,
        0
    );
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    let active = fx.active();
    let sales: Vec<&Value> = active
        .iter()
        .filter(|e| e["department"]["display"] == "Sales")
        .collect();
    let staff = members(&format!("CN=staff-all,OU=Groups,{}", fx.ou)).await;
    assert_eq!(staff.len(), active.len(), "everyone is in staff-all");
    assert_eq!(
        members(&format!("CN=sales-crm,OU=Groups,{}", fx.ou))
            .await
            .len(),
        sales.len()
    );
    // Placed by the OU rule (the OU was created), and in the team of its department.
    let p = &active[0];
    let sam = |e: &Value| {
        format!(
            "{}{}",
            fx.pfx,
            e["employee_id"].as_str().unwrap().to_lowercase()
        )
    };
    let u = fx.user(&sam(p)).await.unwrap();
    let dept = p["department"]["display"].as_str().unwrap();
    let expected_parent = format!("OU={dept},{}", fx.people).to_lowercase();
    assert!(u.dn.to_lowercase().ends_with(&expected_parent), "{}", u.dn);
    let team = |id: i64| format!("CN=team {id},OU=Teams,{}", fx.ou);
    let old_dept = p["department"]["id"].as_i64().unwrap();
    assert!(
        members(&team(old_dept))
            .await
            .contains(&u.dn.to_lowercase())
    );
    let g = guid(&u);
    let mut ldap = admin().await;
    ldap.modify(
        &other,
        vec![ldap3::Mod::Add("member", HashSet::from([u.dn.as_str()]))],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    assert!(
        fx.run(Mode::Plan).await.plan.changes.is_empty(),
        "idempotent"
    );

    // Department change: moved to the new OU (modrdn with a new superior), team swapped, the
    // objectGUID link kept, the unmanaged membership untouched.
    let id = p["id"].as_i64().unwrap();
    let new_dept = if old_dept == 3 { 4 } else { 3 };
    fx.emu.update(id, json!({"department": new_dept})).unwrap();
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    assert_eq!(r.plan.changes.len(), 1, "{:?}", r.plan.changes);
    let c = &r.plan.changes[0];
    assert!(c.new_dn.is_some() && c.attrs.iter().any(|a| a.attr.is("memberOf")));
    let u2 = fx.user(&sam(p)).await.unwrap();
    assert_eq!(guid(&u2), g, "the move keeps the objectGUID");
    assert_ne!(u2.dn.to_lowercase(), u.dn.to_lowercase());
    assert!(
        members(&team(new_dept))
            .await
            .contains(&u2.dn.to_lowercase())
    );
    assert!(
        !members(&team(old_dept))
            .await
            .contains(&u2.dn.to_lowercase())
    );
    assert!(
        members(&other).await.contains(&u2.dn.to_lowercase()),
        "not ours: kept"
    );
    let (link_uuid, link_dn) = fx.links()[p["employee_id"].as_str().unwrap()].clone();
    assert_eq!(link_uuid, g);
    assert!(hrsync_model::dn::same(&link_dn, &u2.dn));
    assert!(fx.run(Mode::Plan).await.plan.changes.is_empty());

    // Leaver with leaver_groups = "remove": disabled and out of every managed group only.
    assert!(fx.emu.terminate(id, "2026-11-20"));
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    let u3 = fx.user(&sam(p)).await.unwrap();
    assert_eq!(uac(&u3) & 2, 2);
    let dn3 = u3.dn.to_lowercase();
    assert!(
        !members(&format!("CN=staff-all,OU=Groups,{}", fx.ou))
            .await
            .contains(&dn3)
    );
    assert!(!members(&team(new_dept)).await.contains(&dn3));
    assert!(members(&other).await.contains(&dn3), "not ours: kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ad_leavers_move_to_the_disabled_ou_and_are_deleted_after_retention() {
    let fx = AdFx::with(
        "ad-retention",
        6,
        false,
        "",
        "[lifecycle]\ndisabled_ou = \"OU=Disabled,{OU}\"\ndelete_after_days = 30\n",
        &[],
    )
    .await;
    let disabled_ou = format!("OU=Disabled,{}", fx.ou);
    let mut ldap = admin().await;
    assert_eq!(
        ldap.add(
            &disabled_ou,
            vec![("objectClass", HashSet::from(["organizationalUnit"]))]
        )
        .await
        .unwrap()
        .rc,
        0
    );
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    let active = fx.active();
    let sam = |e: &Value| {
        format!(
            "{}{}",
            fx.pfx,
            e["employee_id"].as_str().unwrap().to_lowercase()
        )
    };
    let (gone, back) = (&active[0], &active[1]);
    for p in [gone, back] {
        assert!(fx.emu.terminate(p["id"].as_i64().unwrap(), "2026-11-20"));
    }
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    assert_eq!(keys(&r, ChangeKind::Disable).len(), 2);
    let u = fx.user(&sam(gone)).await.unwrap();
    assert!(
        u.dn.to_lowercase().ends_with(&disabled_ou.to_lowercase()),
        "{}",
        u.dn
    );
    assert_eq!(uac(&u) & 2, 2);
    let g = guid(&u);

    // A rehire comes back out of the disabled OU, enabled.
    fx.emu
        .update(
            back["id"].as_i64().unwrap(),
            json!({"status": "Active", "termination_date": null}),
        )
        .unwrap();
    let r = fx.run(Mode::Apply).await;
    assert_eq!(
        keys(&r, ChangeKind::Enable).len(),
        1,
        "{:?}",
        r.plan.changes
    );
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    let b = fx.user(&sam(back)).await.unwrap();
    assert!(
        b.dn.to_lowercase().ends_with(&fx.people.to_lowercase()),
        "{}",
        b.dn
    );
    assert_eq!(uac(&b) & 2, 0);

    // Within the retention period nothing is deleted; after it, the account is.
    let now = chrono::Utc::now();
    let r = fx
        .run_at(Mode::Plan, now + chrono::Duration::days(10))
        .await;
    assert!(r.plan.changes.is_empty(), "{:?}", r.plan.changes);
    let r = fx
        .run_at(Mode::Apply, now + chrono::Duration::days(31))
        .await;
    let key = gone["employee_id"].as_str().unwrap().to_string();
    assert_eq!(keys(&r, ChangeKind::Delete), HashSet::from([key.clone()]));
    assert!(
        r.plan.changes[0].reason.contains("retention"),
        "{}",
        r.plan.changes[0].reason
    );
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    assert!(
        fx.user(&sam(gone)).await.is_none(),
        "gone from the live tree"
    );
    assert!(!fx.links().contains_key(&key), "and from the links");

    // AD keeps a tombstone: visible with the Show Deleted control, same objectGUID.
    let mut ldap = admin().await;
    let (rs, _) = ldap
        .with_controls(ldap3::controls::RawControl {
            ctype: "1.2.840.113556.1.4.417".into(),
            crit: true,
            val: None,
        })
        .search(
            &ad_env().base,
            Scope::Subtree,
            &format!(
                "(&(isDeleted=TRUE)(sAMAccountName={}))",
                ldap3::ldap_escape(sam(gone))
            ),
            vec!["isDeleted", "objectGUID"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    let t = rs
        .into_iter()
        .next()
        .map(SearchEntry::construct)
        .expect("a tombstone");
    assert!(t.dn.contains("Deleted Objects"), "{}", t.dn);
    assert_eq!(guid(&t), g);
    assert!(
        fx.run_at(Mode::Plan, now + chrono::Duration::days(32))
            .await
            .plan
            .changes
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ad_starttls_works_and_the_dc_certificate_is_verified() {
    let fx = AdFx::new("ad-tls", 3, false).await;
    let original = std::fs::read_to_string(&fx.cfg_path).unwrap();
    let env = ad_env();
    let plain = env.url.replace("ldaps://", "ldap://");
    let try_run = |text: String| {
        let path = fx.cfg_path.clone();
        async move {
            std::fs::write(&path, text).unwrap();
            let cfg = Config::load(&path).map_err(|e| e.to_string())?;
            let job = cfg.job("staff").map_err(|e| e.to_string())?;
            let mut store = Store::open(&cfg.state_path()).unwrap();
            hrsync_engine::run(
                &job,
                &mut store,
                Mode::Apply,
                chrono::Utc::now(),
                &mut Unattended,
            )
            .await
            .map_err(|e| e.to_string())
        }
    };
    // StartTLS on ldap:// (the DC refuses simple binds without TLS): works, passwords included.
    let r = try_run(original.replace(
        &format!("url = \"{}\"", env.url),
        &format!("url = \"{plain}\"\nstarttls = true"),
    ))
    .await
    .unwrap();
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    assert!(r.plan.summary().create > 0);
    // Plain LDAP without TLS is refused before anything is sent.
    let e = try_run(original.replace(
        &format!("url = \"{}\"", env.url),
        &format!("url = \"{plain}\""),
    ))
    .await
    .unwrap_err();
    assert!(e.contains("only over TLS"), "{e}");
    // Another CA than the DC's: the certificate is not trusted, nothing happens.
    let other_ca = std::env::var("HRSYNC_TEST_LDAP_CA_CERT").unwrap();
    let e = try_run(original.replace(&env.ca, &other_ca))
        .await
        .unwrap_err();
    assert!(e.to_lowercase().contains("certificate"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ad_unique_names_for_three_jose_muellers_and_no_recycled_leaver_names() {
    let fx = AdFx::new("ad-unique", 3, false).await;
    let p = fx.pfx.clone();
    let tl = "translit('de')|login";
    let text = std::fs::read_to_string(&fx.cfg_path)
        .unwrap()
        .replace(
            &format!("sAMAccountName = \"{p}{{employee_id|lower}}\""),
            &format!(
                "sAMAccountName = {{ format = \"{p}{{first_name|{tl}}}.{{last_name|{tl}}}\", unique = true, max_length = 20, candidates = [\"{p}{{first_name|{tl}}}.{{middle_name|initial|{tl}}}.{{last_name|{tl}}}\", \"{p}{{first_name|initial|{tl}}}{{last_name|{tl}}}\"] }}"
            ),
        )
        .replace(
            "cn = { format = \"{first_name} {last_name}\", required = true }",
            "cn = { format = \"{first_name} {last_name} ({employee_id})\", required = true }",
        );
    assert!(text.contains("unique = true") && text.contains("({employee_id})"));
    std::fs::write(&fx.cfg_path, text).unwrap();
    let jose = |n: u32| {
        json!({"employee_id": format!("EMP0800{n}"), "first_name": "José", "middle_name": "Maria",
               "last_name": "Müller", "work_email": format!("jose{n}@example.test"), "department": 2, "job_title": 5})
    };
    for n in 1..=3 {
        fx.emu.hire(jose(n));
    }
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    let sam_of = |key: &str| {
        r.plan
            .changes
            .iter()
            .find(|c| c.key == key)
            .and_then(|c| c.attrs.iter().find(|a| a.attr.is("sAMAccountName")))
            .map(|a| a.after[0].clone())
            .unwrap()
    };
    // German folding (ü → ue), then the middle initial, then the initial + last name.
    assert_eq!(sam_of("EMP08001"), format!("{p}jose.mueller"));
    assert_eq!(sam_of("EMP08002"), format!("{p}jose.m.mueller"));
    assert_eq!(sam_of("EMP08003"), format!("{p}jmueller"));
    let c3 = r.plan.changes.iter().find(|c| c.key == "EMP08003").unwrap();
    assert!(
        c3.reason
            .contains("jose.mueller (another joiner in this run)")
            && c3.reason.contains("→"),
        "the chain is in the plan: {}",
        c3.reason
    );
    assert!(
        r.plan.changes.iter().all(|c| c
            .attrs
            .iter()
            .all(|a| !a.attr.as_str().starts_with("hrsync-"))),
        "candidates never reach the directory"
    );
    assert!(fx.user(&format!("{p}jose.m.mueller")).await.is_some());

    // The first José leaves and his account is removed; his name is never given again.
    let first = fx
        .emu
        .employees()
        .into_iter()
        .find(|e| e["employee_id"] == "EMP08001")
        .unwrap();
    assert!(
        fx.emu
            .terminate(first["id"].as_i64().unwrap(), "2026-11-20")
    );
    fx.run(Mode::Apply).await;
    let gone = fx.user(&format!("{p}jose.mueller")).await.unwrap();
    let mut ldap = admin().await;
    assert_eq!(ldap.delete(&gone.dn).await.unwrap().rc, 0);
    fx.emu.hire(jose(4));
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    let c4 = r.plan.changes.iter().find(|c| c.key == "EMP08004").unwrap();
    let sam4 = c4
        .attrs
        .iter()
        .find(|a| a.attr.is("sAMAccountName"))
        .map(|a| a.after[0].clone())
        .unwrap();
    assert_eq!(sam4, format!("{p}jmueller2"), "{}", c4.reason);
    assert!(
        c4.reason.contains("jose.mueller (used before)"),
        "{}",
        c4.reason
    );
    assert!(
        c4.reason.contains("jmueller (used before)"),
        "{}",
        c4.reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ad_pre_hire_is_created_disabled_with_a_password_and_enabled_on_the_start_date() {
    let fx = AdFx::with(
        "ad-prehire",
        2,
        false,
        "start_date = \"{joined_date}\"\nprehire_days = 14\nend_date = \"{termination_date}\"",
        "[lifecycle]\nthresholds = { disable = { count = 0 } }\n",
        &[],
    )
    .await;
    let realm = ad_env().realm;
    let now = chrono::Utc::now();
    let day = |n: i64| {
        (now + chrono::Duration::days(n))
            .format("%Y-%m-%d")
            .to_string()
    };
    let r = fx.run_at(Mode::Apply, now).await;
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    fx.emu.hire(json!({"employee_id": "EMP05001", "first_name": "Paula", "last_name": "Pre",
        "work_email": "paula@example.test", "department": 2, "job_title": 5, "joined_date": day(5)}));
    let r = fx.run_at(Mode::Apply, now).await;
    assert_eq!(r.plan.changes.len(), 1, "{:?}", r.plan.changes);
    assert_eq!(r.plan.changes[0].kind, ChangeKind::CreateDisabled);
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    let sam = format!("{}emp05001", fx.pfx);
    let u = fx.user(&sam).await.unwrap();
    assert_eq!(uac(&u) & 2, 2, "disabled until the start date");
    let pw = fx.passwords()[&sam].clone();
    let upn = format!("{sam}@{realm}");
    assert!(bind_as(&upn, &pw).await.unwrap_err().contains("data 533"));
    // On the start date: enabled, and the delivered password works.
    let r = fx
        .run_at(Mode::Apply, now + chrono::Duration::days(5))
        .await;
    assert_eq!(
        keys(&r, ChangeKind::Enable),
        HashSet::from(["EMP05001".to_string()])
    );
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    bind_as(&upn, &pw).await.unwrap();

    // A termination: with a disable threshold of 0 it is held, not applied, until confirmed.
    let id = fx.active()[0]["id"].as_i64().unwrap();
    assert!(fx.emu.terminate(id, &day(5)));
    let r = fx
        .run_at(Mode::Apply, now + chrono::Duration::days(6))
        .await;
    assert_eq!(r.plan.held.len(), 1, "{:?}", r.plan.held_reasons);
    assert!(r.plan.changes.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ad_managers_hired_with_their_team_rehire_under_a_new_key_and_hand_set_attributes() {
    let fx = AdFx::with("ad-lifecycle", 3, false, "match_on = [\"mail\"]", "", &[]).await;
    let text = std::fs::read_to_string(&fx.cfg_path).unwrap().replace(
        "title = \"{job_title.display}\"",
        "title = \"{job_title.display}\"\nmanager = { format = \"{supervisor.id}\", refers_to = \"person\", by = \"{id}\" }",
    );
    assert!(text.contains("refers_to"));
    std::fs::write(&fx.cfg_path, text).unwrap();
    let p = fx.pfx.clone();
    let person = |key: &str, first: &str, sup: Option<i64>| {
        let mut v = json!({"employee_id": key, "first_name": first, "last_name": "Lind",
            "work_email": format!("{first}.{p}@example.test"), "department": 2, "job_title": 5});
        if let Some(s) = sup {
            v["supervisor"] = json!(s);
        }
        v
    };
    // The manager's key sorts after the reports', so plan order puts the reports first; AD
    // refuses a manager that does not exist yet, so apply must wait for the manager's create.
    let boss = fx.emu.hire(person("EMP09199", "Maja", None))["id"]
        .as_i64()
        .unwrap();
    let rolf = fx.emu.hire(person("EMP09101", "Rolf", Some(boss)))["id"]
        .as_i64()
        .unwrap();
    fx.emu.hire(person("EMP09102", "Rita", Some(boss)));
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    let boss_e = fx.user(&format!("{p}emp09199")).await.unwrap();
    for sam in ["emp09101", "emp09102"] {
        let e = fx.user(&format!("{p}{sam}")).await.unwrap();
        let m = &e.attrs["manager"][0];
        assert!(hrsync_model::dn::same(m, &boss_e.dn), "{sam}: {m}");
    }
    // AD maintains the back link: the manager's directReports.
    let mut ldap = admin().await;
    let (rs, _) = ldap
        .search(
            &boss_e.dn,
            Scope::Base,
            "(objectClass=*)",
            vec!["directReports"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    let reports = SearchEntry::construct(rs.into_iter().next().unwrap());
    assert_eq!(reports.attrs["directReports"].len(), 2, "{reports:?}");

    // A hand-set, unmapped attribute.
    let rolf_e = fx.user(&format!("{p}emp09101")).await.unwrap();
    let guid_before = guid(&rolf_e);
    let r = ldap
        .modify(
            &rolf_e.dn,
            vec![ldap3::Mod::Replace(
                "telephoneNumber",
                HashSet::from(["+49 30 1234"]),
            )],
        )
        .await
        .unwrap();
    assert_eq!(r.rc, 0, "{r:?}");

    // Rolf leaves; later HR rehires him under a new record with the same address: the old
    // account is re-enabled and takes the new key (no second account).
    assert!(fx.emu.terminate(rolf, "2026-11-20"));
    let r = fx.run(Mode::Apply).await;
    assert_eq!(
        keys(&r, ChangeKind::Disable),
        HashSet::from(["EMP09101".to_string()])
    );
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    fx.emu.hire(person("EMP09301", "Rolf", Some(boss)));
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    assert_eq!(
        r.plan
            .changes
            .iter()
            .map(|c| (c.kind, c.key.as_str()))
            .collect::<Vec<_>>(),
        vec![(ChangeKind::Enable, "EMP09301")]
    );
    let e = fx.user(&format!("{p}emp09301")).await.unwrap();
    assert_eq!(guid(&e), guid_before, "the same account");
    assert_eq!(uac(&e) & 2, 0, "enabled");
    assert_eq!(e.attrs["employeeID"], vec!["EMP09301".to_string()]);
    assert_eq!(e.attrs["telephoneNumber"], vec!["+49 30 1234".to_string()]);
    assert!(hrsync_model::dn::same(&e.attrs["manager"][0], &boss_e.dn));
    assert!(fx.user(&format!("{p}emp09101")).await.is_none());
    let r = fx.run(Mode::Plan).await;
    assert!(r.plan.changes.is_empty(), "converged: {:?}", r.plan.changes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ad_orchestration_directory_actions_and_group_targets() {
    let group = "CN=Onboarding,OU=Groups,{OU}";
    let fx = AdFx::with(
        "ad-orchestrate",
        3,
        false,
        "",
        &format!(
            r#"
[[orchestration]]
name = "onboard"
steps = [
  {{ action = "add_group", group = "{group}" }},
  {{ action = "set_attribute", attribute = "description", value = "onboarded {{key}} ({{event}})" }},
  {{ action = "reset_password" }},
]

[[orchestration]]
name = "lock-out"
steps = [{{ action = "disable" }}]
"#
        ),
        &[group],
    )
    .await;
    let group = group.replace("{OU}", &fx.ou);
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    let who = fx.active()[0]["employee_id"].as_str().unwrap().to_string();
    let sam = format!("{}{}", fx.pfx, who.to_lowercase());
    let first_pw = fx.passwords()[&sam].clone();
    let cfg = std::sync::Arc::new(Config::load(&fx.cfg_path).unwrap());
    let mut store = Store::open(&cfg.state_path()).unwrap();
    store
        .enqueue("onboard", "staff", &who, "", "manual", chrono::Utc::now())
        .unwrap();
    let worker = hrsync_server::orchestrate::Worker::new(cfg.clone()).unwrap();
    assert_eq!(worker.run_due(&mut store).await.unwrap(), 3);
    assert!(
        store.outbox(Some("dead"), 10).unwrap().is_empty(),
        "{:?}",
        store.outbox(None, 10)
    );
    let u = fx.user(&sam).await.unwrap();
    assert!(members(&group).await.contains(&u.dn.to_lowercase()));
    assert_eq!(
        u.attrs["description"],
        vec![format!("onboarded {who} (manual)")]
    );
    // A new password was delivered, then set: it works, the first one does not.
    let new_pw = fx.passwords()[&sam].clone();
    assert_ne!(new_pw, first_pw);
    let upn = format!("{sam}@{}", ad_env().realm);
    bind_as(&upn, &new_pw).await.unwrap();
    assert!(bind_as(&upn, &first_pw).await.is_err());

    // On demand for a group's members, through the CLI.
    let (rc, text) = cli(
        &fx.cfg_path,
        &["orchestrate", "run", "lock-out", "--group", &group],
        &[],
    );
    assert_eq!(rc, 0, "{text}");
    assert!(
        text.contains(&format!("lock-out for {who}: done")),
        "{text}"
    );
    assert_eq!(uac(&fx.user(&sam).await.unwrap()) & 2, 2, "disabled");
    let other = fx.active()[1]["employee_id"]
        .as_str()
        .unwrap()
        .to_lowercase();
    let o = fx.user(&format!("{}{other}", fx.pfx)).await.unwrap();
    assert_eq!(uac(&o) & 2, 0, "not a member: untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ad_scope_excludes_contractors_and_out_of_scope_disables() {
    let fx = AdFx::with(
        "ad-scope",
        4,
        false,
        "scope_when = \"first_name != 'Contractor'\"\nout_of_scope = \"disable\"",
        "",
        &[],
    )
    .await;
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    // A contractor is hired: never created.
    fx.emu.hire(
        json!({"employee_id": "EMP07777", "first_name": "Contractor", "last_name": "Temp",
        "work_email": "temp@example.test", "department": 3, "job_title": 2}),
    );
    // An employee becomes a contractor: out of scope, so disabled (with the reason).
    let who = fx.active()[0].clone();
    let key = who["employee_id"].as_str().unwrap().to_string();
    fx.emu
        .update(
            who["id"].as_i64().unwrap(),
            json!({"first_name": "Contractor"}),
        )
        .unwrap();
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    let k: Vec<(ChangeKind, &str)> = r
        .plan
        .changes
        .iter()
        .map(|c| (c.kind, c.key.as_str()))
        .collect();
    assert_eq!(k, vec![(ChangeKind::Disable, key.as_str())]);
    assert!(
        r.plan.changes[0].reason.contains("out of scope"),
        "{}",
        r.plan.changes[0].reason
    );
    assert!(fx.user(&format!("{}emp07777", fx.pfx)).await.is_none());
    assert!(r.plan.findings.is_empty(), "{:?}", r.plan.findings);
    let e = fx
        .user(&format!("{}{}", fx.pfx, key.to_lowercase()))
        .await
        .unwrap();
    assert_eq!(uac(&e) & 2, 2, "disabled in AD");
}

/// Issue 12, point 5 on AD: a control character in an HR key makes the record a finding (no
/// account, leavers withheld), and no attribute of any entry in the test's OU has a control
/// character. (Written without a DC at hand: not run by its author.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ad_a_control_character_in_a_key_never_reaches_the_directory() {
    let fx = AdFx::new("ad-nulkey", 2, false).await;
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    fx.emu.hire(
        json!({"employee_id": "EMP94\u{0}01", "first_name": "Nul", "last_name": "Key",
        "work_email": "nul@example.test", "department": 2, "job_title": 5}),
    );
    fx.emu.hire(
        json!({"employee_id": "EMP09402", "first_name": "Bell\u{7}", "last_name": "Tab\tX",
        "work_email": "bell@example.test", "department": 2, "job_title": 5}),
    );
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    assert!(!r.plan.leavers_allowed);
    assert!(
        r.plan
            .findings
            .iter()
            .any(|f| f.message.contains("control character") && f.subject.contains("\\u{0}")),
        "{:?}",
        r.plan.findings
    );
    assert!(
        keys(&r, ChangeKind::Create).contains("EMP09402"),
        "{:?}",
        r.plan.changes
    );
    assert!(fx.user(&format!("{}emp9401", fx.pfx)).await.is_none());
    let mut ldap = admin().await;
    let (rs, _) = ldap
        .search(&fx.ou, Scope::Subtree, "(objectClass=*)", vec!["*"])
        .await
        .unwrap()
        .success()
        .unwrap();
    for e in rs.into_iter().map(SearchEntry::construct) {
        assert!(!e.dn.chars().any(char::is_control), "{:?}", e.dn);
        for (a, vs) in &e.attrs {
            for v in vs {
                assert!(!v.chars().any(char::is_control), "{}: {a} = {v:?}", e.dn);
            }
        }
    }
}

/// Issue 11 §8 on AD: the schema is read from the DC, so what the DC would refuse is a finding at
/// plan time and what it accepts is not. A `cn` (the RDN) over AD's 64 characters is a finding
/// for that person only (no account, no failed add, the others created); a non-ASCII `mail`,
/// which slapd refuses (IA5String) but AD keeps (Unicode string), is no finding and is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ad_values_the_dc_would_refuse_are_findings_and_values_it_keeps_are_not() {
    let fx = AdFx::new("ad-schema", 2, false).await;
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    let long_name = "L".repeat(70);
    fx.emu.hire(
        json!({"employee_id": "EMP09501", "first_name": "Ann", "last_name": long_name,
        "work_email": "ann@example.test", "department": 2, "job_title": 5}),
    );
    fx.emu.hire(
        json!({"employee_id": "EMP09502", "first_name": "Zoë", "last_name": "Ümlaut",
        "work_email": "zoë.1@exämple.test", "department": 2, "job_title": 5}),
    );
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    let about = |key: &str| -> Vec<String> {
        r.plan
            .findings
            .iter()
            .filter(|f| f.subject.contains(key))
            .map(|f| f.message.clone())
            .collect()
    };
    // The DC's own rangeUpper for cn (read from its schema naming context) names the limit.
    let long = about("EMP09501");
    assert!(
        long.iter()
            .any(|m| m.starts_with("cn value") && m.contains("the 64 Active Directory allows")),
        "{:?}",
        r.plan.findings
    );
    assert!(about("EMP09502").is_empty(), "{:?}", r.plan.findings);
    let created = keys(&r, ChangeKind::Create);
    assert!(created.contains("EMP09502"), "{:?}", r.plan.changes);
    assert!(!created.contains("EMP09501"), "{:?}", r.plan.changes);
    assert!(fx.user(&format!("{}emp09501", fx.pfx)).await.is_none());
    let zoe = fx.user(&format!("{}emp09502", fx.pfx)).await.unwrap();
    assert_eq!(zoe.attrs["mail"], vec!["zoë.1@exämple.test".to_string()]);
    // The next run is a no-op for both: the finding stays a finding, not a failure.
    let r = fx.run(Mode::Apply).await;
    assert_eq!(
        (r.applied_ok, r.applied_failed),
        (0, 0),
        "{:?}",
        r.plan.changes
    );
}

/// Issue 14 §3 on AD: `explain --json` for a joiner whose sAMAccountName an earlier José got:
/// the candidates tried, why the first was refused, the create it would plan. (Not run by the
/// helper that wrote it: no Samba AD on its machine.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ad_explain_shows_the_sam_account_name_candidates_of_a_joiner() {
    let fx = AdFx::new("ad-explain", 2, false).await;
    let p = fx.pfx.clone();
    let tl = "translit('de')|login";
    let text = std::fs::read_to_string(&fx.cfg_path)
        .unwrap()
        .replace(
            &format!("sAMAccountName = \"{p}{{employee_id|lower}}\""),
            &format!(
                "sAMAccountName = {{ format = \"{p}{{first_name|{tl}}}.{{last_name|{tl}}}\", unique = true, max_length = 20, candidates = [\"{p}{{first_name|{tl}}}.{{middle_name|initial|{tl}}}.{{last_name|{tl}}}\"] }}"
            ),
        )
        .replace(
            "cn = { format = \"{first_name} {last_name}\", required = true }",
            "cn = { format = \"{first_name} {last_name} ({employee_id})\", required = true }",
        );
    assert!(text.contains("unique = true"));
    std::fs::write(&fx.cfg_path, text).unwrap();
    let jose = |n: u32| {
        json!({"employee_id": format!("EMP0810{n}"), "first_name": "José", "middle_name": "Maria",
               "last_name": "Müller", "work_email": format!("jose{n}@example.test"), "department": 2, "job_title": 5})
    };
    fx.emu.hire(jose(1));
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    fx.emu.hire(jose(2));
    let cfg = fx.cfg_path.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_hrsync"))
            .args(["explain", "-c"])
            .arg(&cfg)
            .args(["EMP08102", "--json"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e: Value = serde_json::from_slice(&out.stdout).unwrap();
    let sam = e["mapping_result"]["formats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["attribute"] == "sAMAccountName")
        .unwrap();
    assert_eq!(sam["value"], format!("{p}jose.mueller"));
    assert_eq!(sam["unique"], true);
    assert_eq!(sam["create_only"], true);
    assert_eq!(
        e["plan"]["unique"],
        json!([{"key": "EMP08102", "attribute": "sAMAccountName",
                "chosen": format!("{p}jose.m.mueller"),
                // hrsync gave it to the first José: the ledger refuses it before the directory.
                "tried": [{"value": format!("{p}jose.mueller"), "refused": "used before"},
                          {"value": format!("{p}jose.m.mueller"), "refused": null}]}])
    );
    let changes = e["plan"]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{e:#}");
    assert_eq!(changes[0]["kind"], "create");
    assert_eq!(e["directory"]["entry"], Value::Null);
    assert!(
        fx.user(&format!("{p}jose.m.mueller")).await.is_none(),
        "nothing applied"
    );
}

/// Issue 14 §2: the approval of a disable with a move (to the disabled OU). The scheduled or
/// plain run stops at the gate (the account stays enabled where it is); the planner cannot
/// approve (four-eyes); once another operator approved, `apply --plan` disables and moves it,
/// keeping its objectGUID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ad_a_disable_with_a_move_waits_for_approval_and_applies_once_approved() {
    let fx = AdFx::with(
        "ad-approval",
        5,
        false,
        "",
        "[mapping.approval]\nrequire = [\"disable\", \"move\"]\nfour_eyes = true\n\n[lifecycle]\ndisabled_ou = \"OU=Disabled,{OU}\"\n",
        &[],
    )
    .await;
    let disabled_ou = format!("OU=Disabled,{}", fx.ou);
    let mut ldap = admin().await;
    assert_eq!(
        ldap.add(
            &disabled_ou,
            vec![("objectClass", HashSet::from(["organizationalUnit"]))]
        )
        .await
        .unwrap()
        .rc,
        0
    );
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    let leaver = fx.active()[0].clone();
    let sam = format!(
        "{}{}",
        fx.pfx,
        leaver["employee_id"].as_str().unwrap().to_lowercase()
    );
    let before = fx.user(&sam).await.unwrap();
    let g = guid(&before);
    assert!(
        fx.emu
            .terminate(leaver["id"].as_i64().unwrap(), "2026-11-20")
    );

    // The run stops at the gate: nothing happens to the account.
    let r = fx.run(Mode::Apply).await;
    assert_eq!(r.status, hrsync_engine::RunStatus::AwaitingApproval);
    assert_eq!(r.plan.awaiting_approval.len(), 1);
    let waiting = &r.plan.awaiting_approval[0];
    assert_eq!(waiting.kind, ChangeKind::Disable);
    assert!(
        waiting
            .new_dn
            .as_deref()
            .is_some_and(|d| d.to_lowercase().ends_with(&disabled_ou.to_lowercase()))
    );
    let u = fx.user(&sam).await.unwrap();
    assert_eq!(uac(&u) & 2, 0, "still enabled");
    assert_eq!(u.dn, before.dn, "not moved");
    let plan = r.run_id;

    // Four-eyes: the operator who made the plan (this process's) cannot approve it.
    let cfg = Config::load(&fx.cfg_path).unwrap();
    let job = cfg.job("staff").unwrap();
    let mut store = Store::open(&cfg.state_path()).unwrap();
    let me = hrsync_state::operator_name();
    let req = hrsync_engine::plans::approval::Request {
        only: vec!["move".into()],
        comment: Some("leaver confirmed".into()),
        ..Default::default()
    };
    let err = hrsync_engine::plans::approval::approve(
        &mut store,
        job.approval.as_ref(),
        plan,
        &req,
        &me,
        chrono::Utc::now(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("four-eyes"), "{err}");
    let other = format!("{me}-second-operator");
    let decided = hrsync_engine::plans::approval::approve(
        &mut store,
        job.approval.as_ref(),
        plan,
        &req,
        &other,
        chrono::Utc::now(),
    )
    .unwrap();
    assert_eq!(decided.len(), 1);
    assert_eq!(decided[0].decision, "approved");

    // Approved: `apply --plan` disables and moves it, the same object.
    let saved = hrsync_engine::plans::load(&store, &job, plan, chrono::Utc::now()).unwrap();
    let r = hrsync_engine::run_with(
        &job,
        &mut store,
        Mode::Apply,
        hrsync_engine::RunOptions {
            saved: Some(std::sync::Arc::new(saved)),
            ..Default::default()
        },
        chrono::Utc::now(),
        &mut Unattended,
    )
    .await
    .unwrap();
    assert_eq!(r.applied_failed, 0, "{:?}", fx.failures(r.run_id));
    assert_eq!(r.applied_ok, 1);
    let u = fx.user(&sam).await.unwrap();
    assert_eq!(uac(&u) & 2, 2, "disabled");
    assert!(
        u.dn.to_lowercase().ends_with(&disabled_ou.to_lowercase()),
        "{}",
        u.dn
    );
    assert_eq!(guid(&u), g);
    let audit = store.audit(Some(r.run_id), None, 10).unwrap();
    assert!(
        audit[0].reason.contains(&format!("approved by {other}")),
        "{}",
        audit[0].reason
    );
}
