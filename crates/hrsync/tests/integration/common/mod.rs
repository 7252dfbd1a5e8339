use hrsync_config::Config;
use hrsync_emulator::icehrm::{IceHrmConfig, IceHrmState, make_token};
use hrsync_engine::{Mode, RunReport, Unattended};
use hrsync_state::Store;
use ldap3::{Ldap, LdapConnAsync, Scope, SearchEntry};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

pub struct LdapEnv {
    pub url: String,
    pub bind_dn: String,
    pub password: String,
    pub base: String,
}

pub fn ldap_env() -> LdapEnv {
    let get = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| {
            panic!("{k} is not set: run the tests through scripts/test.sh, which starts a real slapd and exports HRSYNC_TEST_LDAP_*")
        })
    };
    LdapEnv {
        url: get("HRSYNC_TEST_LDAP_URL"),
        bind_dn: get("HRSYNC_TEST_LDAP_BIND_DN"),
        password: get("HRSYNC_TEST_LDAP_BIND_PW"),
        base: get("HRSYNC_TEST_LDAP_BASE_DN"),
    }
}

pub async fn admin() -> Ldap {
    let env = ldap_env();
    let (conn, mut ldap) = LdapConnAsync::new(&env.url).await.unwrap();
    ldap3::drive!(conn);
    ldap.simple_bind(&env.bind_dn, &env.password)
        .await
        .unwrap()
        .success()
        .unwrap();
    ldap
}

/// The default mapping used by most tests (RDN from the employee number, like the example).
pub const STAFF_ATTRS: &str = r#"
uid = "{employee_id|lower}"
cn = { format = "{first_name} {last_name}", required = true }
sn = { format = "{last_name}", required = true }
givenName = "{first_name}"
mail = "{work_email}"
title = "{job_title.display}"
departmentNumber = "{department.display}"
"#;

pub struct Fx {
    pub dir: tempfile::TempDir,
    pub emu: IceHrmState,
    pub token: String,
    pub ou: String,
    pub people: String,
    pub cfg_path: PathBuf,
    _server: tokio::task::JoinHandle<()>,
}

static N: AtomicU32 = AtomicU32::new(0);

impl Fx {
    /// An emulator with `employees` people and a config whose directory scope is a fresh OU.
    pub async fn new(name: &str, employees: usize, rdn: &str, attrs: &str) -> Fx {
        let env = ldap_env();
        let n = N.fetch_add(1, Ordering::SeqCst);
        let ou = format!("ou={name}-{}-{n},{}", std::process::id(), env.base);
        let people = format!("ou=people,{ou}");
        let mut ldap = admin().await;
        for (dn, v) in [
            (&ou, format!("{name}-{}-{n}", std::process::id())),
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
        let token = make_token(&format!("seed-{name}"), 4_102_444_800);
        let emu = IceHrmState::generate(&IceHrmConfig {
            employees,
            // from the test's name, so each test sees the same people whatever the run order
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
        std::fs::write(dir.path().join("icehrm.token"), format!("{token}\n")).unwrap();
        std::fs::write(dir.path().join("ldap.pw"), &env.password).unwrap();
        let cfg = format!(
            r#"
[state]
path = "state.db"

[[integration]]
name = "icehrm"
kind = "icehrm"
base_url = "http://{addr}/app/api"
token = {{ file = "icehrm.token" }}
page_size = 10
max_retries = 1

[directory]
kind = "openldap"
url = "{url}"
bind_dn = "{bind_dn}"
bind_password = {{ file = "ldap.pw" }}
base_dn = "{ou}"
users_ou = "{people}"
object_classes = ["inetOrgPerson"]
key_attribute = "employeeNumber"

[[mapping]]
name = "staff"
description = "IceHrm employees to OpenLDAP"
category = "user-provisioning"
integration = "icehrm"
endpoint = "get_employees"
primary_key = "employee_id"
rdn_attribute = "{rdn}"

[mapping.attributes]
{attrs}
"#,
            url = env.url,
            bind_dn = env.bind_dn,
        );
        let cfg_path = dir.path().join("hrsync.toml");
        std::fs::write(&cfg_path, cfg).unwrap();
        Fx {
            dir,
            emu,
            token,
            ou,
            people,
            cfg_path,
            _server: server,
        }
    }

    pub fn config(&self) -> Config {
        Config::load(&self.cfg_path).unwrap()
    }

    pub async fn run(&self, mode: Mode) -> RunReport {
        self.run_at(mode, chrono::Utc::now()).await
    }

    pub async fn run_accepting_drop(&self, mode: Mode) -> RunReport {
        let opts = hrsync_engine::RunOptions {
            accept_record_drop: true,
            ..Default::default()
        };
        self.run_with(mode, opts).await
    }

    pub async fn run_at(&self, mode: Mode, now: chrono::DateTime<chrono::Utc>) -> RunReport {
        let cfg = self.config();
        let job = cfg.job("staff").unwrap();
        let mut store = Store::open(&cfg.state_path()).unwrap();
        hrsync_engine::run(&job, &mut store, mode, now, &mut Unattended)
            .await
            .unwrap()
    }

    pub async fn run_with(&self, mode: Mode, opts: hrsync_engine::RunOptions) -> RunReport {
        let cfg = self.config();
        let job = cfg.job("staff").unwrap();
        let mut store = Store::open(&cfg.state_path()).unwrap();
        hrsync_engine::run_with(
            &job,
            &mut store,
            mode,
            opts,
            chrono::Utc::now(),
            &mut Unattended,
        )
        .await
        .unwrap()
    }

    pub fn store(&self) -> Store {
        Store::open(&self.config().state_path()).unwrap()
    }

    /// Entries under the test OU matching `filter`, with all user and the named operational attributes.
    pub async fn search(&self, filter: &str) -> Vec<SearchEntry> {
        let mut ldap = admin().await;
        let (rs, _) = ldap
            .search(
                &self.ou,
                Scope::Subtree,
                filter,
                vec!["*", "entryUUID", "pwdAccountLockedTime"],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        rs.into_iter().map(SearchEntry::construct).collect()
    }

    /// The IceHrm `employee_id` of the employee with internal id `id`.
    pub fn emp_no(&self, id: i64) -> String {
        self.emu.employee(id).unwrap()["employee_id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn active_ids(&self) -> Vec<i64> {
        self.emu
            .employees()
            .iter()
            .filter(|e| {
                e["status"] == "Active" && !e["last_name"].is_null() && !e["work_email"].is_null()
            })
            .map(|e| e["id"].as_i64().unwrap())
            .collect()
    }
}

pub fn kinds(r: &RunReport) -> Vec<(String, String)> {
    r.plan
        .changes
        .iter()
        .map(|c| (c.kind.as_str().to_string(), c.key.clone()))
        .collect()
}

/// Keys of the plan's changes of one kind.
pub fn keys(r: &RunReport, kind: hrsync_model::ChangeKind) -> HashSet<String> {
    r.plan
        .changes
        .iter()
        .filter(|c| c.kind == kind)
        .map(|c| c.key.clone())
        .collect()
}

/// [`cli`] on a blocking thread, for tests that run the binary while they serve something
/// (an emulator, a lock) on the runtime.
pub async fn cli_async(
    cfg: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String) {
    let cfg = cfg.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        cli(&cfg, &args, &env)
    })
    .await
    .unwrap()
}

/// Runs the real `hrsync` binary with `args -c cfg` (and `env`); exit code and stdout+stderr.
pub fn cli(cfg: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hrsync"))
        .args(args)
        .arg("-c")
        .arg(cfg)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}
