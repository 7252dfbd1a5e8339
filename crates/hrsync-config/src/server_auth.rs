//! `[server.tls]` (the daemon's certificate) and `[server.auth]` (who may use the API: sign-in
//! with directory accounts, roles from groups, sessions, throttling, the break-glass admin),
//! resolved into [`hrsync_auth::AuthSettings`]. Defaults of the limits are `hrsync-auth`'s.

use super::{Config, ConfigError};
use hrsync_auth::{
    AuthSettings, BreakGlass, DirectorySignIn, RoleGroups, ServiceBind, SessionLimits,
    ThrottleLimits,
};
use hrsync_directory::Dialect;
use hrsync_model::{Secret, SecretRef};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// `[server.tls]`: HTTPS for `hrsync serve`. Both files are PEM, relative to the config file,
/// read when the service starts (and again on SIGHUP, which restarts it).
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawServerTls {
    /// The certificate chain: the server's certificate first, then its intermediates.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// `[server.tls]` with its paths made absolute (relative to the config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `[server.auth]`. Unset directory keys default to `[directory]`'s.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawServerAuth {
    /// `ldaps://host:636`, or `ldap://host:389` with `starttls = true` (default: `[directory]
    /// url`). Plain LDAP is refused: passwords travel in the bind.
    pub url: Option<String>,
    /// Default: `[directory] starttls`.
    pub starttls: Option<bool>,
    /// CA (PEM) of the directory's certificate, relative to the config file (default:
    /// `[directory] ca_cert`; none: the system's roots).
    pub ca_cert: Option<PathBuf>,
    /// The account that searches for users and reads groups (default: anonymous searches).
    pub bind_dn: Option<String>,
    /// Its password: `{ env = "VAR" }` or `{ file = "path" }`.
    pub bind_password: Option<SecretRef>,
    /// Where users are searched, subtree (default: `[directory] base_dn`).
    pub user_base: Option<String>,
    /// The attribute a sign-in name is matched against (default: `uid`; Active Directory:
    /// `sAMAccountName`).
    pub user_attribute: Option<String>,
    /// Group DNs per role; a user gets the highest role of the groups they are a member of.
    #[serde(default)]
    pub groups: RawRoleGroups,
    /// A whole sign-in must be done within this (default 10).
    pub timeout_secs: Option<u64>,
    /// A session ends after this long without a request (default 30).
    pub session_idle_minutes: Option<u64>,
    /// A session ends this long after sign-in, however busy (default 720 = 12 h).
    pub session_absolute_minutes: Option<u64>,
    /// Failed sign-ins of one account name within the window that lock it (default 5).
    pub account_failures: Option<u32>,
    /// Failed sign-ins from one source address (IPv6: /64) within the window that lock it
    /// (default 20).
    pub address_failures: Option<u32>,
    /// Default 15.
    pub throttle_window_minutes: Option<u64>,
    /// How long a lock lasts (default 15).
    pub lockout_minutes: Option<u64>,
    /// A local admin for when the directory is down. Off unless set.
    pub break_glass: Option<RawBreakGlass>,
}

/// `groups = { viewer = [...], operator = [...], admin = [...] }`.
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct RawRoleGroups {
    #[serde(default)]
    pub viewer: Vec<String>,
    #[serde(default)]
    pub operator: Vec<String>,
    #[serde(default)]
    pub admin: Vec<String>,
}

/// `break_glass = { user = "…", password_hash = "$argon2id$…" }` (`hrsync token
/// hash-password` makes the hash).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBreakGlass {
    pub user: String,
    pub password_hash: String,
}

impl std::fmt::Debug for RawBreakGlass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawBreakGlass")
            .field("user", &self.user)
            .field("password_hash", &"[redacted]")
            .finish()
    }
}

/// True when `listen` (`host:port`) is a loopback address: `127.0.0.0/8`, `[::1]`,
/// `localhost`. Plain HTTP is allowed there only.
pub fn is_loopback(listen: &str) -> bool {
    if let Ok(a) = listen.parse::<std::net::SocketAddr>() {
        return a.ip().is_loopback();
    }
    let host = listen.rsplit_once(':').map_or(listen, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The config key of a problem [`AuthSettings::problems`] reports (its keys are the
/// settings', some of which are spelt with a unit here).
fn config_key(problem_key: &str) -> String {
    let k = match problem_key {
        "timeout" => "timeout_secs",
        "session_idle" => "session_idle_minutes",
        "session_absolute" => "session_absolute_minutes",
        "throttle_window" => "throttle_window_minutes",
        "lockout" => "lockout_minutes",
        other => other,
    };
    format!("server.auth.{k}")
}

fn minutes(m: u64) -> Duration {
    Duration::from_secs(m.saturating_mul(60))
}

impl Config {
    /// `[server.tls]`, its paths relative to the config file.
    pub fn server_tls(&self) -> Option<TlsFiles> {
        self.raw.serve.tls.as_ref().map(|t| TlsFiles {
            cert: self.base_dir().join(&t.cert),
            key: self.base_dir().join(&t.key),
        })
    }

    /// `[server.auth]` resolved: None when there is none. Reads the bind password and checks
    /// that the CA file is readable.
    pub fn auth_settings(&self) -> Result<Option<AuthSettings>, ConfigError> {
        let Some(a) = &self.raw.serve.auth else {
            return Ok(None);
        };
        let s = self.build_auth(a, true)?;
        if let Some(ca) = &s.directory.ca_cert
            && std::fs::metadata(ca).map(|m| !m.is_file()).unwrap_or(true)
        {
            return Err(self.invalid(
                "server.auth.ca_cert",
                format!(
                    "{} is not a readable file; point ca_cert at the PEM file of the CA that signed the directory's certificate",
                    ca.display()
                ),
            ));
        }
        self.auth_problems(a, &s)?;
        Ok(Some(s))
    }

    /// The settings of `[server.auth]`; the bind password read only with `resolve` (else a
    /// placeholder: validation reads no secret).
    fn build_auth(&self, a: &RawServerAuth, resolve: bool) -> Result<AuthSettings, ConfigError> {
        let d = &self.raw.directory;
        let service_bind = match (&a.bind_dn, &a.bind_password) {
            (None, None) => None,
            (Some(dn), Some(pw)) => Some(ServiceBind {
                dn: dn.clone(),
                password: if resolve {
                    self.secret("server.auth", "bind_password", Some(pw), &self.base_dir())?
                } else {
                    Secret::new("")
                },
            }),
            (Some(_), None) => {
                return Err(self.invalid(
                    "server.auth.bind_password",
                    "bind_dn is set: set its password to { env = \"VAR\" } or { file = \"path\" }",
                ));
            }
            (None, Some(_)) => {
                return Err(self.invalid(
                    "server.auth.bind_dn",
                    "bind_password is set: set the DN of the account that searches for users",
                ));
            }
        };
        let sessions = SessionLimits::default();
        let throttle = ThrottleLimits::default();
        Ok(AuthSettings {
            directory: DirectorySignIn {
                url: a.url.clone().unwrap_or_else(|| d.url.clone()),
                starttls: a.starttls.unwrap_or(d.starttls),
                ca_cert: a
                    .ca_cert
                    .as_ref()
                    .or(d.ca_cert.as_ref())
                    .map(|p| self.base_dir().join(p)),
                service_bind,
                user_base: a.user_base.clone().unwrap_or_else(|| d.base_dn.clone()),
                user_attribute: a.user_attribute.clone().unwrap_or_else(|| {
                    match d.kind {
                        Dialect::ActiveDirectory => "sAMAccountName",
                        Dialect::Openldap => "uid",
                    }
                    .into()
                }),
                groups: RoleGroups {
                    viewer: a.groups.viewer.clone(),
                    operator: a.groups.operator.clone(),
                    admin: a.groups.admin.clone(),
                },
                timeout: a
                    .timeout_secs
                    .map(Duration::from_secs)
                    .unwrap_or(DirectorySignIn::DEFAULT_TIMEOUT),
            },
            sessions: SessionLimits {
                idle: a.session_idle_minutes.map(minutes).unwrap_or(sessions.idle),
                absolute: a
                    .session_absolute_minutes
                    .map(minutes)
                    .unwrap_or(sessions.absolute),
            },
            throttle: ThrottleLimits {
                account_failures: a.account_failures.unwrap_or(throttle.account_failures),
                address_failures: a.address_failures.unwrap_or(throttle.address_failures),
                window: a
                    .throttle_window_minutes
                    .map(minutes)
                    .unwrap_or(throttle.window),
                lockout: a.lockout_minutes.map(minutes).unwrap_or(throttle.lockout),
            },
            break_glass: a.break_glass.as_ref().map(|b| BreakGlass {
                user: b.user.clone(),
                password_hash: b.password_hash.clone(),
            }),
        })
    }

    /// Every problem of the settings, each with its config key; the first one's key is the
    /// error's.
    fn auth_problems(&self, a: &RawServerAuth, s: &AuthSettings) -> Result<(), ConfigError> {
        let problems: Vec<(String, String)> = s
            .problems()
            .into_iter()
            .map(|p| {
                let (k, m) = p.split_once(": ").unwrap_or(("", p.as_str()));
                let mut m = m.to_string();
                if k == "url" && a.url.is_none() {
                    m.push_str(
                        " (the url is [directory]'s: set server.auth.url to an ldaps:// URL, or use StartTLS)",
                    );
                }
                (config_key(k), m)
            })
            .collect();
        let Some((key, first)) = problems.first() else {
            return Ok(());
        };
        let mut message = first.clone();
        for (k, m) in &problems[1..] {
            message.push_str(&format!("; {k}: {m}"));
        }
        Err(self.invalid(key.clone(), message))
    }

    /// `[server]`: a listener that is not on loopback needs `[server.tls]`; `[server.auth]`
    /// is checked without reading its secret.
    pub(crate) fn validate_server(&self) -> Result<(), ConfigError> {
        let s = &self.raw.serve;
        if s.tls.is_none() && !is_loopback(&s.listen) {
            return Err(self.invalid(
                "server.listen",
                format!(
                    "{} is not a loopback address and [server.tls] is not set: plain HTTP would carry passwords and session cookies over the network; set [server.tls] cert and key (PEM files), or listen on 127.0.0.1 behind a reverse proxy with TLS",
                    s.listen
                ),
            ));
        }
        if let Some(t) = &s.tls {
            for (k, p) in [("cert", &t.cert), ("key", &t.key)] {
                if p.as_os_str().is_empty() {
                    return Err(
                        self.invalid(format!("server.tls.{k}"), "set the path of the PEM file")
                    );
                }
            }
        }
        if let Some(a) = &s.auth {
            let settings = self.build_auth(a, false)?;
            self.auth_problems(a, &settings)?;
            // Active Directory refuses anonymous searches (every sign-in would fail).
            if self.raw.directory.kind == Dialect::ActiveDirectory && a.bind_dn.is_none() {
                return Err(self.invalid(
                    "server.auth.bind_dn",
                    "Active Directory refuses anonymous searches, so no one could sign in: set bind_dn and bind_password (an account that may read users and groups)",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::path::Path;

    const BASE: &str = r#"
[[integration]]
name = "hr"
kind = "icehrm"
base_url = "http://127.0.0.1:1/app/api"
token = { env = "T" }
[[mapping]]
name = "m"
integration = "hr"
primary_key = "employee_id"
attributes = { uid = "{employee_id}" }
[directory]
kind = "openldap"
url = "ldaps://ldap.example.com"
bind_dn = "cn=admin,dc=example,dc=com"
bind_password = { env = "NOT_SET_ANYWHERE_HRSYNC" }
base_dn = "dc=example,dc=com"
users_ou = "ou=people,dc=example,dc=com"
"#;

    fn parse(extra: &str) -> Result<Config, ConfigError> {
        Config::parse(
            Path::new("/etc/hrsync/hrsync.toml"),
            format!("{BASE}{extra}"),
        )
    }

    fn err(extra: &str) -> String {
        match parse(extra) {
            Ok(_) => panic!("accepted: {extra}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_console_configuration_may_start_without_mappings() {
        let dir = r#"
[directory]
kind = "openldap"
url = "ldaps://ldap.example.com"
bind_dn = "cn=admin,dc=example,dc=com"
bind_password = { env = "NOT_SET_ANYWHERE_HRSYNC" }
base_dn = "dc=example,dc=com"
users_ou = "ou=people,dc=example,dc=com"
"#;
        let path = Path::new("/etc/hrsync/hrsync.toml");
        let e = match Config::parse(path, dir.to_string()) {
            Ok(_) => panic!("a configuration without mappings and without [server.auth] loaded"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains("define at least one [[mapping]]"), "{e}");
        let with_auth = format!(
            "{dir}[server.auth]\nurl = \"ldaps://ldap.example.com\"\nbind_dn = \"cn=reader,dc=example,dc=com\"\nbind_password = {{ env = \"NOT_SET_ANYWHERE_HRSYNC\" }}\nuser_base = \"ou=people,dc=example,dc=com\"\ngroups = {{ admin = [\"cn=admins,dc=example,dc=com\"] }}\n"
        );
        let c = Config::parse(path, with_auth).unwrap();
        assert!(c.raw.mappings.is_empty() && c.raw.integrations.is_empty());
    }

    #[test]
    fn server_is_serve_and_not_both() {
        let c = parse("[server]\nlisten = \"127.0.0.1:9000\"\n").unwrap();
        assert_eq!(c.raw.serve.listen, "127.0.0.1:9000");
        let c = parse("[serve]\nlisten = \"127.0.0.1:9001\"\n").unwrap();
        assert_eq!(c.raw.serve.listen, "127.0.0.1:9001");
        let e = err("[serve]\nlisten = \"127.0.0.1:9000\"\n[server]\nmax_connections = 3\n");
        assert!(
            e.contains("[serve] and [server] are the same section"),
            "{e}"
        );
        assert!(c.auth_settings().unwrap().is_none());
        assert!(c.server_tls().is_none());
    }

    #[test]
    fn plain_http_only_on_loopback() {
        for l in [
            "127.0.0.1:1",
            "127.1.2.3:80",
            "[::1]:8750",
            "localhost:8750",
        ] {
            assert!(is_loopback(l), "{l}");
        }
        for l in [
            "0.0.0.0:8750",
            "[::]:8750",
            "10.0.0.1:80",
            "hrsync.example.com:443",
        ] {
            assert!(!is_loopback(l), "{l}");
        }
        let e = err("[server]\nlisten = \"0.0.0.0:8750\"\n");
        assert!(
            e.contains("server.listen") && e.contains("[server.tls]"),
            "{e}"
        );
        let c = parse(
            "[server]\nlisten = \"0.0.0.0:8750\"\n[server.tls]\ncert = \"tls/cert.pem\"\nkey = \"/k.pem\"\n",
        )
        .unwrap();
        assert_eq!(
            c.server_tls().unwrap(),
            TlsFiles {
                cert: "/etc/hrsync/tls/cert.pem".into(),
                key: "/k.pem".into()
            }
        );
    }

    #[test]
    fn auth_defaults_come_from_the_directory() {
        let c = parse(
            "[server.auth]\ngroups = { admin = [\"cn=admins,ou=groups,dc=example,dc=com\"] }\n",
        )
        .unwrap();
        let s = c.auth_settings().unwrap().unwrap();
        assert_eq!(s.directory.url, "ldaps://ldap.example.com");
        assert_eq!(s.directory.user_base, "dc=example,dc=com");
        assert_eq!(s.directory.user_attribute, "uid");
        assert!(s.directory.service_bind.is_none() && s.break_glass.is_none());
        assert_eq!(s.sessions, SessionLimits::default());
        assert_eq!(s.throttle, ThrottleLimits::default());
        assert_eq!(s.directory.groups.admin.len(), 1);
        let ad = format!(
            "{}\n[directory.passwords]\nfile = \"p.jsonl\"\n[server.auth]\ngroups = {{ viewer = [\"cn=v,dc=example,dc=com\"] }}\nsession_idle_minutes = 5\nlockout_minutes = 60\nbind_dn = \"cn=search,dc=example,dc=com\"\nbind_password = {{ env = \"HRSYNC_TEST_UNSET_VAR_42\" }}\n",
            BASE.replace("\"openldap\"", "\"active_directory\"")
        );
        let c = Config::parse(Path::new("/etc/hrsync/hrsync.toml"), ad).unwrap();
        // Validation reads no secret; resolving does (and names the key).
        let e = c.auth_settings().unwrap_err().to_string();
        assert!(e.contains("server.auth.bind_password"), "{e}");
        let s = c
            .build_auth(c.raw.serve.auth.as_ref().unwrap(), false)
            .unwrap();
        assert_eq!(s.directory.user_attribute, "sAMAccountName");
        assert_eq!(s.sessions.idle, Duration::from_secs(300));
        assert_eq!(s.throttle.lockout, Duration::from_secs(3600));
    }

    #[test]
    fn sign_in_against_active_directory_needs_a_search_account() {
        let ad = format!(
            "{}\n[directory.passwords]\nfile = \"p.jsonl\"\n[server.auth]\ngroups = {{ viewer = [\"cn=v,dc=example,dc=com\"] }}\n",
            BASE.replace("\"openldap\"", "\"active_directory\"")
        );
        let e = Config::parse(Path::new("/x/h.toml"), ad.clone())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("server.auth.bind_dn") && e.contains("anonymous"),
            "{e}"
        );
        let with = ad.replace(
            "[server.auth]\n",
            "[server.auth]\nbind_dn = \"cn=search,dc=example,dc=com\"\nbind_password = { env = \"UNSET_HRSYNC_X\" }\n",
        );
        assert!(Config::parse(Path::new("/x/h.toml"), with).is_ok());
    }

    #[test]
    fn auth_problems_name_their_keys() {
        let plain = BASE.replace("ldaps://ldap.example.com", "ldap://ldap.example.com");
        let c = Config::parse(
            Path::new("/x/h.toml"),
            format!(
                "{plain}\n[server.auth]\ngroups = {{ operator = [\"cn=ops,dc=example,dc=com\"] }}\n"
            ),
        );
        let e = c.err().unwrap().to_string();
        assert!(
            e.contains("server.auth.url:") && e.contains("[directory]'s"),
            "{e}"
        );
        // StartTLS makes it acceptable.
        let c = Config::parse(
            Path::new("/x/h.toml"),
            format!(
                "{plain}\n[server.auth]\nstarttls = true\ngroups = {{ operator = [\"cn=ops,dc=example,dc=com\"] }}\n"
            ),
        );
        assert!(c.is_ok());
        let e = err(
            "[server.auth]\nsession_idle_minutes = 0\nbreak_glass = { user = \"root\", password_hash = \"secret-text\" }\n",
        );
        assert!(
            e.contains(": server.auth.groups: "),
            "first problem's key: {e}"
        );
        for k in [
            "server.auth.session_idle_minutes:",
            "server.auth.break_glass.password_hash:",
        ] {
            assert!(e.contains(k), "{k} in {e}");
        }
        assert!(!e.contains("secret-text"), "{e}");
        let e = err("[server.auth]\nbind_dn = \"cn=x\"\ngroups = { admin = [\"cn=a\"] }\n");
        assert!(e.contains("server.auth.bind_password"), "{e}");
        let e = err("[server.auth]\nusers = 1\n");
        assert!(e.contains("users"), "{e}");
    }
}
