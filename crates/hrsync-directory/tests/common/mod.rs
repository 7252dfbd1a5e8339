//! A throwaway slapd per test (scripts/start-slapd.sh on a free loopback port), stopped by PID
//! when dropped; and directory configs pointing at it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hrsync_directory::{Dialect, DirectoryConfig};
use hrsync_model::Secret;
use ldap3::{Ldap, LdapConnAsync};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub struct Slapd {
    pub work: tempfile::TempDir,
    pub url: String,
    pub port: String,
    pub bind_dn: String,
    pub password: String,
    pub base: String,
    pub pid: u32,
}

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts")
}

impl Slapd {
    /// Starts one (three attempts: two tests may pick the same free port at once).
    pub fn start() -> Slapd {
        let mut last = String::new();
        for _ in 0..3 {
            let work = tempfile::Builder::new().prefix("hdir").tempdir().unwrap();
            let port = Command::new("bash")
                .arg("-c")
                .arg(format!(". {}/lib.sh; free_port", scripts().display()))
                .output()
                .unwrap();
            let port = String::from_utf8_lossy(&port.stdout).trim().to_string();
            let password = format!("pw-{}-{}", std::process::id(), port);
            match run_slapd(work.path(), &port, &password) {
                Ok(pid) => {
                    return Slapd {
                        url: format!("ldap://127.0.0.1:{port}"),
                        port,
                        bind_dn: "cn=admin,dc=example,dc=com".into(),
                        password,
                        base: "dc=example,dc=com".into(),
                        pid,
                        work,
                    };
                }
                Err(e) => last = e,
            }
        }
        panic!("slapd did not start: {last}");
    }

    /// A fresh slapd (empty database) on the same port, after [`Self::kill9`].
    pub fn restart(&mut self) {
        // The killed one may linger as a zombie, which the script would take for a live slapd.
        let _ = std::fs::remove_file(self.work.path().join("s/slapd.pid"));
        self.pid = run_slapd(self.work.path(), &self.port, &self.password).unwrap();
    }

    /// SIGKILL, by PID; returns when the process is gone (at most 10 s).
    pub fn kill9(&self) {
        let _ = Command::new("kill")
            .args(["-9", &self.pid.to_string()])
            .status();
        let proc = PathBuf::from(format!("/proc/{}", self.pid));
        for _ in 0..200 {
            let zombie_or_gone = std::fs::read_to_string(proc.join("stat"))
                .map(|s| s.split_whitespace().nth(2) == Some("Z"))
                .unwrap_or(true);
            if zombie_or_gone {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("slapd {} did not die", self.pid);
    }

    pub fn config(&self, users_ou: &str) -> DirectoryConfig {
        DirectoryConfig {
            dialect: Dialect::Openldap,
            url: self.url.clone(),
            starttls: false,
            ca_cert: None,
            insecure_skip_verify: false,
            bind_dn: self.bind_dn.clone(),
            bind_password: Secret::new(self.password.clone()),
            base_dn: self.base.clone(),
            users_ou: users_ou.to_string(),
            object_classes: vec!["inetOrgPerson".into()],
            rdn_attribute: "uid".into(),
            key_attribute: "employeeNumber".into(),
            match_attributes: vec![],
            owned: vec![
                "uid".into(),
                "cn".into(),
                "sn".into(),
                "mail".into(),
                "employeeNumber".into(),
            ],
            connections: 2,
            in_flight: 16,
            page_size: 500,
            timeout: Duration::from_secs(10),
            passwords: None,
        }
    }

    pub async fn admin(&self) -> Ldap {
        let (conn, mut ldap) = LdapConnAsync::new(&self.url).await.unwrap();
        ldap3::drive!(conn);
        ldap.simple_bind(&self.bind_dn, &self.password)
            .await
            .unwrap()
            .success()
            .unwrap();
        ldap
    }

    /// Adds an OU under the base and returns its DN.
    pub async fn ou(&self, name: &str) -> String {
        let dn = format!("ou={name},{}", self.base);
        self.admin()
            .await
            .add(
                &dn,
                vec![
                    ("objectClass", HashSet::from(["organizationalUnit"])),
                    ("ou", HashSet::from([name])),
                ],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        dn
    }
}

fn run_slapd(work: &Path, port: &str, password: &str) -> Result<u32, String> {
    let out = Command::new(scripts().join("start-slapd.sh"))
        .arg(work.join("s"))
        .arg(port)
        .env("NOSYNC", "1")
        .env("ROOTPW", password)
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(std::fs::read_to_string(work.join("s/slapd.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap())
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = Command::new(scripts().join("stop-slapd.sh"))
            .arg(self.work.path().join("s"))
            .output();
    }
}

/// A create of a person under `parent`.
pub fn create(key: &str, parent: &str, extra: &[(&str, &str)]) -> hrsync_model::Change {
    let mut attrs = vec![
        ("uid", key.to_string()),
        ("cn", format!("Person {key}")),
        ("sn", key.to_string()),
        ("employeeNumber", key.to_string()),
    ];
    attrs.extend(extra.iter().map(|(a, v)| (*a, v.to_string())));
    hrsync_model::Change {
        kind: hrsync_model::ChangeKind::Create,
        key: key.to_string(),
        dn: format!("uid={key},{parent}"),
        new_dn: None,
        uuid: None,
        attrs: attrs
            .into_iter()
            .map(|(a, v)| hrsync_model::AttrChange {
                attr: a.into(),
                before: vec![],
                after: vec![v],
            })
            .collect(),
        reason: "test".into(),
    }
}
