//! Configuration in two phases: *raw* (what the TOML says, `deny_unknown_fields`) and
//! *resolved* (secrets loaded, mapping compiled, references checked). Every error names the
//! file, the key path and what to do.

use hrsync_directory::{Dialect, DirectoryConfig};
use hrsync_mapping::{AttrSpec, Mapper, MappingSpec};
use hrsync_model::SecretRef;
use hrsync_plan::MissingAction;
use hrsync_source::Source;
use hrsync_source::csv::{self as csv_source, Csv, Encoding};
use hrsync_source::http::RetryPolicy;
use hrsync_source::icehrm::{self, IceHrm};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: {key}: {message}")]
    Invalid {
        path: String,
        key: String,
        message: String,
    },
}

fn default_true() -> bool {
    true
}

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub state: RawState,
    #[serde(default, rename = "integration")]
    pub integrations: Vec<RawIntegration>,
    pub directory: RawDirectory,
    #[serde(default, rename = "mapping")]
    pub mappings: Vec<RawMapping>,
    #[serde(default)]
    pub lifecycle: RawLifecycle,
}

/// `[state]`: where runs, links and the audit are kept.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    /// SQLite file, relative to the config file. Default `hrsync.db`.
    #[serde(default = "default_state_path")]
    pub path: PathBuf,
}
impl Default for RawState {
    fn default() -> Self {
        RawState {
            path: default_state_path(),
        }
    }
}
fn default_state_path() -> PathBuf {
    PathBuf::from("hrsync.db")
}

/// `[[integration]]`: one HR system.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIntegration {
    pub name: String,
    /// `icehrm`, `paycor` or `csv`.
    pub kind: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// API base, e.g. `https://hr.example.com/app/api` (API kinds).
    pub base_url: Option<String>,
    /// Bearer token: `{ env = "VAR" }` or `{ file = "path" }` (API kinds).
    pub token: Option<SecretRef>,
    /// Paycor's APIM subscription key (`paycor`), sent with every call besides the token.
    pub subscription_key: Option<SecretRef>,
    /// The Paycor legal entity (client) whose employees are read (`paycor`).
    pub legal_entity_id: Option<u64>,
    /// The export file, relative to the config file (`csv`).
    pub path: Option<PathBuf>,
    /// Field delimiter, one character (`csv`; default `,`).
    pub delimiter: Option<String>,
    /// `utf-8` (default) or `latin-1` (`csv`).
    pub encoding: Option<String>,
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    #[serde(default = "default_retries")]
    pub max_retries: usize,
}
fn default_page_size() -> u32 {
    100
}
fn default_concurrency() -> usize {
    4
}
fn default_timeout() -> u64 {
    30
}
fn default_retries() -> usize {
    3
}

/// `[directory]`: the LDAP target.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDirectory {
    /// `openldap` (Active Directory comes with its dialect).
    #[serde(default)]
    pub kind: Dialect,
    pub url: String,
    #[serde(default)]
    pub starttls: bool,
    /// CA certificate (PEM) for LDAPS/StartTLS, relative to the config file.
    pub ca_cert: Option<PathBuf>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    pub bind_dn: String,
    pub bind_password: SecretRef,
    pub base_dn: String,
    pub users_ou: String,
    #[serde(default = "default_object_classes")]
    pub object_classes: Vec<String>,
    #[serde(default = "default_key_attribute")]
    pub key_attribute: String,
    #[serde(default = "default_connections")]
    pub connections: usize,
    #[serde(default = "default_in_flight")]
    pub in_flight: usize,
    #[serde(default = "default_ldap_page")]
    pub page_size: i32,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}
fn default_object_classes() -> Vec<String> {
    vec!["inetOrgPerson".into()]
}
fn default_key_attribute() -> String {
    "employeeNumber".into()
}
fn default_connections() -> usize {
    2
}
fn default_in_flight() -> usize {
    16
}
fn default_ldap_page() -> i32 {
    1000
}

/// An attribute format: a string, or a table with options.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum RawAttr {
    Format(String),
    Table(RawAttrTable),
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawAttrTable {
    pub format: String,
    #[serde(default)]
    pub required: bool,
}

/// `[[mapping]]`: a named mapping configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMapping {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Automation category, e.g. `user-provisioning`.
    #[serde(default = "default_category")]
    pub category: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Name of the `[[integration]]` to read from.
    pub integration: String,
    /// Endpoint of that integration (`get_employees` for IceHrm).
    /// Endpoint of the integration: `get_employees` (IceHrm, the default) or `rows` (CSV).
    pub endpoint: Option<String>,
    /// HR field that identifies a person for life (e.g. `employee_id`).
    pub primary_key: String,
    /// Attribute that names entries (`uid` or `cn`).
    #[serde(default = "default_rdn")]
    pub rdn_attribute: String,
    /// Expression that is true for a leaver. Default for IceHrm: `status == 'Terminated'`.
    pub leaver_when: Option<String>,
    /// Directory attribute → format.
    pub attributes: BTreeMap<String, RawAttr>,
}
fn default_category() -> String {
    "user-provisioning".into()
}
fn default_rdn() -> String {
    "uid".into()
}

/// `[lifecycle]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLifecycle {
    /// What happens to a leaver's account: `disable` (the only action for now).
    #[serde(default = "default_leaver_action")]
    pub leaver_action: String,
    /// What happens to an account whose person is no longer in HR at all: `disable` or `ignore`.
    #[serde(default)]
    pub missing_from_hr: MissingAction,
    /// A complete fetch with this many percent fewer records than the last good one is suspect:
    /// its leavers are withheld until accepted (`--accept-drop`). 100 turns the guard off.
    #[serde(default = "default_max_drop")]
    pub max_record_drop_percent: f64,
}
fn default_max_drop() -> f64 {
    20.0
}
impl Default for RawLifecycle {
    fn default() -> Self {
        RawLifecycle {
            leaver_action: default_leaver_action(),
            missing_from_hr: MissingAction::default(),
            max_record_drop_percent: default_max_drop(),
        }
    }
}
fn default_leaver_action() -> String {
    "disable".into()
}

/// A loaded (not yet resolved) config file.
pub struct Config {
    pub path: PathBuf,
    pub raw: RawConfig,
}

/// Everything one mapping run needs, resolved.
pub struct Job {
    pub mapping: std::sync::Arc<Mapper>,
    pub description: String,
    pub category: String,
    pub source: Source,
    pub directory: DirectoryConfig,
    pub missing_from_hr: MissingAction,
    pub max_record_drop_percent: f64,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let raw: RawConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let cfg = Config {
            path: path.to_path_buf(),
            raw,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    fn invalid(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.display().to_string(),
            key: key.into(),
            message: message.into(),
        }
    }

    /// Directory of the config file (relative paths are relative to it).
    pub fn base_dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."))
    }

    pub fn state_path(&self) -> PathBuf {
        self.base_dir().join(&self.raw.state.path)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let r = &self.raw;
        let mut names = std::collections::BTreeSet::new();
        for (i, it) in r.integrations.iter().enumerate() {
            let key = format!("integration[{i}]");
            if !names.insert(it.name.as_str()) {
                return Err(self.invalid(
                    format!("{key}.name"),
                    format!("integration {:?} is defined twice", it.name),
                ));
            }
            match it.kind.as_str() {
                "icehrm" => {
                    let url = it.base_url.as_deref().unwrap_or_default();
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(self.invalid(
                            format!("{key}.base_url"),
                            "set the API base URL; it must start with http:// or https://",
                        ));
                    }
                    if it.token.is_none() {
                        return Err(self.invalid(
                            format!("{key}.token"),
                            "set token = { env = \"VAR\" } or { file = \"path\" }",
                        ));
                    }
                }
                "paycor" => {
                    let url = it.base_url.as_deref().unwrap_or_default();
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(self.invalid(
                            format!("{key}.base_url"),
                            "set the API base, e.g. \"https://apis.paycor.com\"",
                        ));
                    }
                    for (field, missing) in [
                        ("token", it.token.is_none()),
                        ("subscription_key", it.subscription_key.is_none()),
                    ] {
                        if missing {
                            return Err(self.invalid(
                                format!("{key}.{field}"),
                                "Paycor needs both the bearer token and the subscription key: set it to { env = \"VAR\" } or { file = \"path\" }",
                            ));
                        }
                    }
                    if it.legal_entity_id.is_none() {
                        return Err(self.invalid(
                            format!("{key}.legal_entity_id"),
                            "set the Paycor legal entity (client) id, e.g. legal_entity_id = 501123",
                        ));
                    }
                }
                "csv" => {
                    if it.path.is_none() {
                        return Err(
                            self.invalid(format!("{key}.path"), "set path = \"export.csv\"")
                        );
                    }
                    if it
                        .delimiter
                        .as_deref()
                        .is_some_and(|d| d.len() != 1 && d != "\\t")
                    {
                        return Err(self.invalid(
                            format!("{key}.delimiter"),
                            "must be one ASCII character, e.g. \",\" or \";\" (\"\\t\" for tab)",
                        ));
                    }
                    if let Some(e) = &it.encoding
                        && !matches!(
                            e.to_lowercase().as_str(),
                            "utf-8" | "utf8" | "latin-1" | "latin1" | "iso-8859-1"
                        )
                    {
                        return Err(self.invalid(
                            format!("{key}.encoding"),
                            format!("unknown encoding {e:?}; supported: \"utf-8\", \"latin-1\""),
                        ));
                    }
                }
                other => {
                    return Err(self.invalid(
                        format!("{key}.kind"),
                        format!(
                            "unknown kind {other:?}; supported: \"icehrm\", \"paycor\", \"csv\""
                        ),
                    ));
                }
            }
            if it.page_size == 0 || it.page_size > 10_000 {
                return Err(self.invalid(format!("{key}.page_size"), "must be between 1 and 10000"));
            }
        }
        let d = &r.directory;
        if !(d.url.starts_with("ldap://")
            || d.url.starts_with("ldaps://")
            || d.url.starts_with("ldapi://"))
        {
            return Err(self.invalid(
                "directory.url",
                "must start with ldap://, ldaps:// or ldapi://",
            ));
        }
        if d.starttls && d.url.starts_with("ldaps://") {
            return Err(self.invalid(
                "directory.starttls",
                "StartTLS is for ldap:// URLs; ldaps:// is already TLS",
            ));
        }
        for (k, v) in [
            ("directory.base_dn", &d.base_dn),
            ("directory.users_ou", &d.users_ou),
            ("directory.bind_dn", &d.bind_dn),
        ] {
            if let Err(e) = hrsync_model::dn::Dn::parse(v) {
                return Err(self.invalid(k, e.to_string()));
            }
        }
        if !hrsync_model::dn::same(&d.users_ou, &d.base_dn)
            && !d
                .users_ou
                .to_lowercase()
                .ends_with(&format!(",{}", d.base_dn.to_lowercase()))
        {
            return Err(self.invalid(
                "directory.users_ou",
                format!("must be under base_dn {:?}", d.base_dn),
            ));
        }
        if d.object_classes.is_empty() {
            return Err(self.invalid(
                "directory.object_classes",
                "name at least one object class, e.g. [\"inetOrgPerson\"]",
            ));
        }
        for name in [&d.key_attribute] {
            if !valid_attr(name) {
                return Err(self.invalid(
                    "directory.key_attribute",
                    format!("{name:?} is not an attribute name"),
                ));
            }
        }
        if r.lifecycle.leaver_action != "disable" {
            return Err(self.invalid(
                "lifecycle.leaver_action",
                format!(
                    "unsupported {:?}; supported: \"disable\"",
                    r.lifecycle.leaver_action
                ),
            ));
        }
        if !(0.0..=100.0).contains(&r.lifecycle.max_record_drop_percent) {
            return Err(self.invalid(
                "lifecycle.max_record_drop_percent",
                "must be between 0 and 100",
            ));
        }
        if r.mappings.is_empty() {
            return Err(self.invalid("mapping", "define at least one [[mapping]]"));
        }
        let mut mnames = std::collections::BTreeSet::new();
        for (i, m) in r.mappings.iter().enumerate() {
            let key = format!("mapping[{i}] ({})", m.name);
            if !mnames.insert(m.name.as_str()) {
                return Err(self.invalid(format!("{key}.name"), "mapping name is used twice"));
            }
            let Some(it) = r.integrations.iter().find(|x| x.name == m.integration) else {
                let known: Vec<&str> = r.integrations.iter().map(|x| x.name.as_str()).collect();
                return Err(self.invalid(
                    format!("{key}.integration"),
                    format!(
                        "no [[integration]] named {:?}; defined: {known:?}",
                        m.integration
                    ),
                ));
            };
            let offered = endpoint_of(&it.kind);
            if let Some(e) = &m.endpoint
                && e != offered
            {
                return Err(self.invalid(
                    format!("{key}.endpoint"),
                    format!(
                        "a {} integration offers the endpoint {offered:?}; got {e:?}",
                        it.kind
                    ),
                ));
            }
            for a in m.attributes.keys().chain(std::iter::once(&m.rdn_attribute)) {
                if !valid_attr(a) {
                    return Err(self.invalid(
                        format!("{key}.attributes.{a}"),
                        "not a valid LDAP attribute name",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Names of the enabled mappings, in file order.
    pub fn mapping_names(&self) -> Vec<String> {
        self.raw
            .mappings
            .iter()
            .filter(|m| m.enabled)
            .map(|m| m.name.clone())
            .collect()
    }

    /// Resolves one mapping into a runnable job: loads secrets, compiles formats.
    pub fn job(&self, mapping: &str) -> Result<Job, ConfigError> {
        let r = &self.raw;
        let (i, m) = r
            .mappings
            .iter()
            .enumerate()
            .find(|(_, m)| m.name == mapping)
            .ok_or_else(|| {
                self.invalid(
                    "mapping",
                    format!(
                        "no mapping named {mapping:?}; defined: {:?}",
                        self.mapping_names()
                    ),
                )
            })?;
        let key = format!("mapping[{i}] ({})", m.name);
        let (ii, it) = r
            .integrations
            .iter()
            .enumerate()
            .find(|(_, x)| x.name == m.integration)
            .ok_or_else(|| self.invalid(format!("{key}.integration"), "unknown integration"))?;
        if !it.enabled {
            return Err(self.invalid(
                format!("integration[{ii}].enabled"),
                format!(
                    "integration {:?} is disabled; enable it or disable mapping {:?}",
                    it.name, m.name
                ),
            ));
        }
        let base = self.base_dir();
        let d = &r.directory;
        let password = d
            .bind_password
            .resolve(&base)
            .map_err(|e| self.invalid("directory.bind_password", e.to_string()))?;
        let spec = MappingSpec {
            name: m.name.clone(),
            primary_key: m.primary_key.clone(),
            source_id_field: (it.kind != "csv").then(|| "id".into()),
            rdn_attribute: m.rdn_attribute.clone(),
            parent_dn: d.users_ou.clone(),
            key_attribute: d.key_attribute.clone(),
            attributes: m
                .attributes
                .iter()
                .map(|(name, a)| match a {
                    RawAttr::Format(f) => AttrSpec {
                        name: name.clone(),
                        format: f.clone(),
                        required: false,
                    },
                    RawAttr::Table(t) => AttrSpec {
                        name: name.clone(),
                        format: t.format.clone(),
                        required: t.required,
                    },
                })
                .collect(),
            // IceHrm marks leavers with status Terminated; other kinds say it in the config.
            leaver_when: m.leaver_when.clone().or_else(|| match it.kind.as_str() {
                "icehrm" => Some("status == 'Terminated'".into()),
                "paycor" => Some(hrsync_source::paycor::default_leaver_when()),
                _ => None,
            }),
        };
        let mapper = Mapper::new(spec)
            .map_err(|e| self.invalid(format!("{key}.attributes"), e.to_string()))?;
        let source = self.source(ii, it, &base)?;
        let directory = DirectoryConfig {
            dialect: d.kind,
            url: d.url.clone(),
            starttls: d.starttls,
            ca_cert: d.ca_cert.as_ref().map(|p| base.join(p)),
            insecure_skip_verify: d.insecure_skip_verify,
            bind_dn: d.bind_dn.clone(),
            bind_password: password,
            base_dn: d.base_dn.clone(),
            users_ou: d.users_ou.clone(),
            object_classes: d.object_classes.clone(),
            rdn_attribute: m.rdn_attribute.clone(),
            key_attribute: d.key_attribute.clone(),
            owned: m.attributes.keys().cloned().collect(),
            connections: d.connections.max(1),
            in_flight: d.in_flight.max(1),
            page_size: d.page_size,
            timeout: Duration::from_secs(d.timeout_secs.max(1)),
        };
        Ok(Job {
            mapping: std::sync::Arc::new(mapper),
            description: m.description.clone(),
            category: m.category.clone(),
            source,
            directory,
            missing_from_hr: r.lifecycle.missing_from_hr,
            max_record_drop_percent: r.lifecycle.max_record_drop_percent,
        })
    }
}

/// The endpoint a kind of integration offers.
fn endpoint_of(kind: &str) -> &'static str {
    match kind {
        "csv" => csv_source::ROWS,
        "paycor" => hrsync_source::paycor::LEGAL_ENTITY_EMPLOYEES,
        _ => icehrm::GET_EMPLOYEES,
    }
}

impl Config {
    /// The source of the integration named `name` (for `hrsync endpoint test`).
    pub fn integration_source(&self, name: &str) -> Result<Source, ConfigError> {
        let (ii, it) = self
            .raw
            .integrations
            .iter()
            .enumerate()
            .find(|(_, x)| x.name == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self
                    .raw
                    .integrations
                    .iter()
                    .map(|x| x.name.as_str())
                    .collect();
                self.invalid(
                    "integration",
                    format!("no integration named {name:?}; defined: {known:?}"),
                )
            })?;
        self.source(ii, it, &self.base_dir())
    }

    /// The endpoint an integration offers.
    pub fn endpoint_of(&self, name: &str) -> Option<&'static str> {
        self.raw
            .integrations
            .iter()
            .find(|x| x.name == name)
            .map(|x| endpoint_of(&x.kind))
    }

    /// Resolves an integration into a source (secrets loaded, paths made absolute).
    fn source(&self, ii: usize, it: &RawIntegration, base: &Path) -> Result<Source, ConfigError> {
        let key = format!("integration[{ii}]");
        match it.kind.as_str() {
            "csv" => {
                let path = it
                    .path
                    .as_ref()
                    .ok_or_else(|| self.invalid(format!("{key}.path"), "set path"))?;
                let delimiter = match it.delimiter.as_deref() {
                    None => b',',
                    Some("\\t") | Some("\t") => b'\t',
                    Some(d) => *d.as_bytes().first().unwrap_or(&b','),
                };
                let encoding = match it.encoding.as_deref().map(str::to_lowercase).as_deref() {
                    Some("latin-1" | "latin1" | "iso-8859-1") => Encoding::Latin1,
                    _ => Encoding::Utf8,
                };
                Ok(Source::Csv(Csv {
                    name: it.name.clone(),
                    path: base.join(path),
                    delimiter,
                    encoding,
                }))
            }
            "paycor" => {
                let secret = |field: &str, r: &Option<SecretRef>| {
                    r.as_ref()
                        .ok_or_else(|| self.invalid(format!("{key}.{field}"), "set it"))?
                        .resolve(base)
                        .map_err(|e| self.invalid(format!("{key}.{field}"), e.to_string()))
                };
                Ok(Source::Paycor(hrsync_source::paycor::Paycor {
                    name: it.name.clone(),
                    base_url: it.base_url.clone().unwrap_or_default(),
                    token: secret("token", &it.token)?,
                    subscription_key: secret("subscription_key", &it.subscription_key)?,
                    legal_entity_id: it.legal_entity_id.unwrap_or_default().to_string(),
                    timeout: Duration::from_secs(it.timeout_secs.max(1)),
                    retry: RetryPolicy {
                        max_retries: it.max_retries,
                        ..RetryPolicy::default()
                    },
                }))
            }
            _ => {
                let token = it
                    .token
                    .as_ref()
                    .ok_or_else(|| self.invalid(format!("{key}.token"), "set token"))?
                    .resolve(base)
                    .map_err(|e| self.invalid(format!("{key}.token"), e.to_string()))?;
                Ok(Source::IceHrm(IceHrm {
                    name: it.name.clone(),
                    base_url: it.base_url.clone().unwrap_or_default(),
                    token,
                    page_size: it.page_size,
                    concurrency: it.concurrency.max(1),
                    timeout: Duration::from_secs(it.timeout_secs.max(1)),
                    retry: RetryPolicy {
                        max_retries: it.max_retries,
                        ..RetryPolicy::default()
                    },
                }))
            }
        }
    }
}

fn valid_attr(a: &str) -> bool {
    let mut chars = a.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
}
