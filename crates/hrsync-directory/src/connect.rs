//! Connections and binds. Each connection is bound once and then shared by many in-flight
//! operations (ldap3 multiplexes requests on one connection).

use crate::{Dialect, DirError, Result};
use hrsync_model::Secret;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A resolved directory target.
#[derive(Debug, Clone)]
pub struct DirectoryConfig {
    pub dialect: Dialect,
    /// `ldap://host:port` or `ldaps://host:port`.
    pub url: String,
    /// Upgrade `ldap://` with StartTLS.
    pub starttls: bool,
    /// PEM file of the CA that signed the server certificate (default: system roots).
    pub ca_cert: Option<PathBuf>,
    /// Skip certificate verification. Loud in logs; for lab use only.
    pub insecure_skip_verify: bool,
    pub bind_dn: String,
    pub bind_password: Secret,
    /// Where the snapshot searches (entries moved elsewhere under it are still found).
    pub base_dn: String,
    /// Where new entries are created.
    pub users_ou: String,
    pub object_classes: Vec<String>,
    pub rdn_attribute: String,
    pub key_attribute: String,
    /// Attributes that match accounts without a key to joiners (secondary matching): the
    /// snapshot also returns entries that have one of these but no key.
    pub match_attributes: Vec<String>,
    /// Attributes the mapping owns (read in snapshots, written by apply).
    pub owned: Vec<String>,
    /// Connections used by apply.
    pub connections: usize,
    /// Operations in flight at once over all connections.
    pub in_flight: usize,
    pub page_size: i32,
    pub timeout: Duration,
    /// Initial passwords of new accounts (Active Directory).
    pub passwords: Option<Passwords>,
}

/// How new accounts get their initial password.
#[derive(Clone)]
pub struct Passwords {
    pub policy: crate::password::PasswordPolicy,
    pub file: Arc<crate::password::PasswordFile>,
    /// The mapping, written next to each delivered password.
    pub mapping: String,
    /// `pwdLastSet = 0`: the user must change the password at first logon (a simple bind
    /// with it then fails with AD's `data 773` until they do).
    pub must_change: bool,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Passwords({:?})", self.policy)
    }
}

impl DirectoryConfig {
    /// What plans and logs call this target (never credentials).
    pub fn label(&self) -> String {
        format!("{} ({})", self.url, self.users_ou)
    }
}

/// Bound connections to one directory.
pub struct Directory {
    pub(crate) cfg: DirectoryConfig,
    /// Replaced only when the server closed one (see [`Directory::revive`]).
    conns: std::sync::Mutex<Vec<Ldap>>,
    /// Read on first use ([`Directory::schema`]).
    pub(crate) schema: tokio::sync::OnceCell<Arc<crate::schema::Schema>>,
}

impl Directory {
    /// Opens and binds `cfg.connections` connections (at least one).
    pub async fn connect(cfg: DirectoryConfig) -> Result<Directory> {
        let n = cfg.connections.max(1);
        let mut conns = Vec::with_capacity(n);
        for _ in 0..n {
            conns.push(open(&cfg).await?);
        }
        Ok(Directory {
            cfg,
            conns: std::sync::Mutex::new(conns),
            schema: tokio::sync::OnceCell::new(),
        })
    }

    pub fn config(&self) -> &DirectoryConfig {
        &self.cfg
    }

    fn conns(&self) -> std::sync::MutexGuard<'_, Vec<Ldap>> {
        // A panic elsewhere while holding the lock leaves the handles intact.
        self.conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many connections there are.
    pub(crate) fn connections(&self) -> usize {
        self.conns().len()
    }

    /// Connection `i` (modulo their number).
    pub(crate) fn conn(&self, i: usize) -> Ldap {
        let c = self.conns();
        c[i % c.len()].clone()
    }

    /// Checks every connection with one round trip (the root DSE) and reopens, once, each that
    /// fails it: the server may have closed them since they were opened (an idle timeout while
    /// a person read the plan, a restart). Returns which connections are usable.
    pub(crate) async fn revive(&self) -> Vec<bool> {
        let n = self.connections();
        let mut usable = Vec::with_capacity(n);
        for i in 0..n {
            if alive(self.conn(i), self.cfg.timeout).await {
                usable.push(true);
                continue;
            }
            match open(&self.cfg).await {
                Ok(l) => {
                    tracing::info!(url = %self.cfg.url, "reopened a connection the directory had closed");
                    if let Some(slot) = self.conns().get_mut(i) {
                        *slot = l;
                    }
                    usable.push(true);
                }
                Err(e) => {
                    tracing::warn!(
                        "a connection to the directory is closed and cannot be reopened: {e}"
                    );
                    usable.push(false);
                }
            }
        }
        usable
    }

    /// Unbinds every connection.
    pub async fn close(self) {
        let conns = self
            .conns
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for mut c in conns {
            let _ = c.unbind().await;
        }
    }
}

/// One round trip (a base search of the root DSE, which every server answers), bounded by
/// `timeout` and by 10 s.
pub(crate) async fn alive(mut l: Ldap, timeout: Duration) -> bool {
    !l.is_closed()
        && l.with_timeout(timeout.min(Duration::from_secs(10)))
            .search("", ldap3::Scope::Base, "(objectClass=*)", vec!["1.1"])
            .await
            .is_ok_and(|r| r.1.rc == 0)
}

async fn open(cfg: &DirectoryConfig) -> Result<Ldap> {
    let mut settings = LdapConnSettings::new()
        .set_conn_timeout(cfg.timeout)
        .set_starttls(cfg.starttls);
    let tls = cfg.starttls || cfg.url.starts_with("ldaps://");
    if tls {
        if cfg.insecure_skip_verify {
            tracing::warn!(url = %cfg.url, "TLS certificate verification is DISABLED for this directory (insecure_skip_verify = true)");
            settings = settings.set_no_tls_verify(true);
        } else if let Some(ca) = &cfg.ca_cert {
            settings = settings.set_config(Arc::new(tls_config(&cfg.url, ca)?));
        }
    }
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &cfg.url)
        .await
        .map_err(|e| DirError::Connect {
            url: cfg.url.clone(),
            message: e.to_string(),
        })?;
    ldap3::drive!(conn);
    ldap.with_timeout(cfg.timeout);
    let res = ldap
        .simple_bind(&cfg.bind_dn, cfg.bind_password.expose())
        .await
        .map_err(|e| DirError::Connect {
            url: cfg.url.clone(),
            message: e.to_string(),
        })?;
    if res.rc != 0 {
        return Err(DirError::Bind {
            url: cfg.url.clone(),
            bind_dn: cfg.bind_dn.clone(),
            rc: res.rc,
            text: res.text,
        });
    }
    Ok(ldap)
}

/// A TLS client configuration that trusts only the CA certificates of the PEM file `ca`
/// (for `url`'s errors). Also used by directory sign-in of the API (hrsync-auth).
pub fn tls_config(url: &str, ca: &std::path::Path) -> Result<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let err = |message: String| DirError::Tls {
        url: url.to_string(),
        message,
    };
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca)
        .map_err(|e| err(format!("cannot read CA file {}: {e}", ca.display())))?;
    for c in certs {
        let c = c.map_err(|e| err(format!("bad PEM in {}: {e}", ca.display())))?;
        roots
            .add(c)
            .map_err(|e| err(format!("bad CA certificate in {}: {e}", ca.display())))?;
    }
    if roots.is_empty() {
        return Err(err(format!("no certificate found in {}", ca.display())));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(e.to_string()))
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}
