//! Configuration in two phases: *raw* (what the TOML says, `deny_unknown_fields`) and
//! *resolved* (secrets loaded, mapping compiled, references checked). Every error names the
//! file, the key path and what to do.

use hrsync_directory::password::PasswordFile;
use hrsync_directory::{Dialect, DirectoryConfig, Passwords};
use hrsync_mapping::{AttrSpec, Mapper, MappingSpec};
use hrsync_model::SecretRef;
use hrsync_plan::MissingAction;
use hrsync_source::Source;
use hrsync_source::csv::{self as csv_source, Csv, Encoding};
use hrsync_source::http::RetryPolicy;
use hrsync_source::icehrm::{self, IceHrm};
use hrsync_source::rest::join::{JoinPart, JoinSpec};
use hrsync_source::rest::{
    Auth, Bearer, BodyTemplate, Endpoint, FanOut, Flavor, Limiter, Paging, RestIntegration,
    Template,
};
use serde::Deserialize;
use serde_json_path::JsonPath;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod actions;
mod notify;
pub mod plans;
mod shared;
pub use notify::{CAUSES, EmailChannel, RawNotify, SmtpTls};
use shared::Shared;

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

/// The header an integration's `api_key` goes in when `api_key_header` is not set.
pub(crate) const DEFAULT_API_KEY_HEADER: &str = "X-API-Key";

pub(crate) fn default_true() -> bool {
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
    /// The daemon (`hrsync serve`).
    #[serde(default)]
    pub serve: crate::service::config::RawServe,
    #[serde(default, rename = "automation")]
    pub automations: Vec<crate::service::config::RawAutomation>,
    #[serde(default, rename = "event")]
    pub events: Vec<crate::service::config::RawEvent>,
    #[serde(default, rename = "webhook")]
    pub webhooks: Vec<hrsync_webhook::WebhookConfig>,
    #[serde(default, rename = "orchestration")]
    pub orchestrations: Vec<crate::service::config::RawOrchestration>,
    /// Notification channels (`[[notify]]`, see `config/notify.rs`).
    #[serde(default)]
    pub notify: Vec<RawNotify>,
    /// Mapping test cases (`[[test]]`; more in a `tests/` folder beside the file): see
    /// [`crate::mapping_tests`].
    #[serde(default, rename = "test")]
    pub tests: Vec<crate::mapping_tests::RawCase>,
    /// Saved plans (`plan --save`, approvals).
    #[serde(default)]
    pub plans: plans::RawPlans,
}

/// `[state]`: where runs, links and the audit are kept.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    /// SQLite file, relative to the config file. Default `hrsync.db`.
    #[serde(default = "default_state_path")]
    pub path: PathBuf,
    /// How many HR snapshots of complete full fetches each mapping keeps for `hrsync replay`
    /// (gzip JSON lines, 0600, in `<state file>.hr-snapshots/`). 0 keeps none. Default 7.
    #[serde(default = "default_keep_hr_snapshots")]
    pub keep_hr_snapshots: usize,
}
impl Default for RawState {
    fn default() -> Self {
        RawState {
            path: default_state_path(),
            keep_hr_snapshots: default_keep_hr_snapshots(),
        }
    }
}
fn default_keep_hr_snapshots() -> usize {
    7
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
    /// Paycor: the `include` blocks of the employee list and lookup, instead of the preset's
    /// `["All"]` (each block needs its own Data Access permission), e.g.
    /// `["Status", "Position", "EmploymentDates"]`. `Status` (or `All`) is required: leavers
    /// are read from `statusData.status`.
    pub include: Option<Vec<String>>,
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
    /// An API key sent as a header with every call (`rest`), besides the bearer token.
    pub api_key: Option<SecretRef>,
    /// The API key's header (default `X-API-Key`).
    pub api_key_header: Option<String>,
    /// Macros usable in endpoint URLs, headers, query and body (`{companyName}`).
    #[serde(default)]
    pub macros: BTreeMap<String, String>,
    /// Proactive budget: at most this many calls per minute (Paycor: 1000 by default).
    pub rate_limit_per_minute: Option<u32>,
    /// Page cap per endpoint and fetch (loop protection).
    #[serde(default = "default_max_pages")]
    pub max_pages: u64,
    /// The most one page (one HTTP answer) may be, in MB: reading stops there and the page
    /// fails, so the fetch is incomplete (default 256).
    #[serde(default = "default_max_page_mb")]
    pub max_page_mb: u64,
    /// OAuth refresh-token flow instead of a static `token` (`paycor`, `rest`).
    pub oauth: Option<RawOAuth>,
    /// Custom endpoints (`rest`; extra endpoints to join for the other API kinds).
    #[serde(default, rename = "endpoint")]
    pub endpoints: Vec<RawEndpoint>,
}
fn default_max_pages() -> u64 {
    100_000
}
fn default_max_page_mb() -> u64 {
    hrsync_source::http::DEFAULT_MAX_PAGE_MB
}

impl RawIntegration {
    /// `max_page_mb` in bytes (at least 1 MB).
    pub fn max_page_bytes(&self) -> u64 {
        self.max_page_mb.clamp(1, u64::MAX >> 20) << 20
    }
}

/// `oauth = { … }`: the refresh-token grant, with rotation stored in a 0600 file.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawOAuth {
    /// Token endpoint, e.g. `https://apis.paycor.com/sts/v1/common/token`.
    pub token_url: String,
    pub client_id: String,
    pub client_secret: SecretRef,
    /// A first refresh token obtained elsewhere; optional: `hrsync oauth authorize` writes the
    /// store instead. Used only while the store does not exist.
    pub refresh_token: Option<SecretRef>,
    /// Where the rotated refresh token and the current access token are kept (default:
    /// `<state dir>/<integration>.refresh-token`; mode 0600, locked through `<store>.lock`).
    pub store: Option<PathBuf>,
    /// `hrsync oauth authorize`: the authorize page (Paycor default:
    /// `https://hcm.paycor.com/AppActivation/Authorize`).
    pub authorize_url: Option<String>,
    /// `hrsync oauth authorize`: the app's scope (Paycor: the "Scope (Version) Identifier" of
    /// the app's Data Access); `offline_access` is added.
    pub scope: Option<String>,
    /// `hrsync oauth authorize`: the redirect URI registered with the app. A loopback one
    /// (`http://127.0.0.1:PORT/…`) is answered by hrsync itself.
    pub redirect_uri: Option<String>,
}

/// `[[integration.endpoint]]`: one REST endpoint.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawEndpoint {
    /// Name used by mappings (`endpoint`, `join`) and in joined field paths (`{details.phone}`).
    pub name: String,
    #[serde(default = "default_method")]
    pub method: String,
    /// Path relative to `base_url`, or an absolute URL; macros allowed.
    pub path: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// JSON body (macros are JSON-escaped).
    pub body: Option<String>,
    /// JSONPath of the records (default: a top-level array's elements, or the object).
    pub records: Option<String>,
    /// Fields to pick out of each record: name → JSONPath relative to the record.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Dotted path of the record's key (default `id`).
    #[serde(default = "default_key")]
    pub key: String,
    #[serde(default)]
    pub pagination: RawPaging,
    /// Fan-out: call once per record of another endpoint.
    pub for_each: Option<RawForEach>,
    /// How to ask for given people by key (a per-person URL `path = "/employees/{key}"`, or a
    /// filter `param = "ids"` of this list endpoint): confirms that someone missing from a
    /// complete fetch has really gone before they become a leaver.
    pub lookup: Option<hrsync_source::rest::LookupConfig>,
}
fn default_method() -> String {
    "GET".into()
}
fn default_key() -> String {
    "id".into()
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawForEach {
    pub endpoint: String,
    /// Field of that endpoint's records (dotted path).
    pub field: String,
    /// Macro name for the value (e.g. `employeeId`).
    #[serde(rename = "as")]
    pub as_macro: String,
}

/// `pagination = { style = "…", … }`.
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(tag = "style", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawPaging {
    #[default]
    None,
    Page {
        #[serde(default = "default_page_param")]
        page_param: String,
        size_param: Option<String>,
        #[serde(default = "default_api_page")]
        size: u64,
        #[serde(default = "default_first_page")]
        first: u64,
        total_pages: Option<String>,
        total: Option<String>,
    },
    Offset {
        #[serde(default = "default_offset_param")]
        offset_param: String,
        limit_param: Option<String>,
        #[serde(default = "default_api_page")]
        limit: u64,
        total: Option<String>,
    },
    Cursor {
        /// Query parameter that carries the cursor back; omit it to send `{cursor}` in the body.
        param: Option<String>,
        /// JSONPath of the next cursor in the body.
        next: String,
        has_more: Option<String>,
        size_param: Option<String>,
        size: Option<u64>,
    },
    NextUrl {
        /// JSONPath of the next page's URL in the body.
        next: String,
        size_param: Option<String>,
        size: Option<u64>,
    },
    LinkHeader {
        size_param: Option<String>,
        size: Option<u64>,
    },
}
fn default_page_param() -> String {
    "page".into()
}
fn default_offset_param() -> String {
    "offset".into()
}
fn default_api_page() -> u64 {
    100
}
fn default_first_page() -> u64 {
    1
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
    /// Classes of new entries (default: `inetOrgPerson`; AD: `top, person,
    /// organizationalPerson, user`).
    pub object_classes: Option<Vec<String>>,
    /// Attribute storing the HR key (default: `employeeNumber`; AD: `employeeID`).
    pub key_attribute: Option<String>,
    /// Initial passwords of new accounts (required for Active Directory).
    pub passwords: Option<RawPasswords>,
    #[serde(default = "default_connections")]
    pub connections: usize,
    #[serde(default = "default_in_flight")]
    pub in_flight: usize,
    #[serde(default = "default_ldap_page")]
    pub page_size: i32,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}
/// `[directory.passwords]`: where initial passwords go, and how they are made.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPasswords {
    /// A file readable by root only (0600; created if missing), one JSON line per new account.
    pub file: PathBuf,
    #[serde(default)]
    pub policy: Option<hrsync_directory::password::PasswordPolicy>,
    /// The user must change the password at first logon (`pwdLastSet = 0`).
    #[serde(default = "default_true")]
    pub must_change: bool,
}

impl RawDirectory {
    pub fn object_classes(&self) -> Vec<String> {
        self.object_classes
            .clone()
            .unwrap_or_else(|| match self.kind {
                Dialect::ActiveDirectory => ["top", "person", "organizationalPerson", "user"]
                    .map(String::from)
                    .to_vec(),
                Dialect::Openldap => vec!["inetOrgPerson".into()],
            })
    }
    pub fn key_attribute(&self) -> String {
        self.key_attribute
            .clone()
            .unwrap_or_else(|| match self.kind {
                Dialect::ActiveDirectory => "employeeID".into(),
                Dialect::Openldap => "employeeNumber".into(),
            })
    }
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
    /// `always` (default): kept in line with HR; `create`: set when the account is created,
    /// then left to its owner (e.g. a mail address IT may change).
    #[serde(default)]
    pub on: AttrWhen,
    /// The value must be unique (directory-wide, in this run, and never a name used before):
    /// `format` is the first candidate, then `candidates`, then the last with 2, 3, … appended.
    #[serde(default)]
    pub unique: bool,
    #[serde(default)]
    pub candidates: Vec<String>,
    /// Values are cut to this many characters (AD sAMAccountName: 20) before the check.
    pub max_length: Option<usize>,
    /// `"person"`: the format yields another person's HR primary key (a supervisor id), and
    /// the attribute gets the DN of that person's account (`manager`).
    pub refers_to: Option<String>,
    /// With `refers_to`: the format that gives each person's own value the reference names
    /// (`"{id}"` when the supervisor is given by IceHrm's internal id). Default: the primary key.
    pub by: Option<String>,
}

/// When a mapped attribute is written.
#[derive(Debug, Deserialize, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AttrWhen {
    #[default]
    Always,
    Create,
}

/// `[[mapping]]`: a named mapping configuration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMapping {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Automation category, e.g. `user-provisioning`; the categories in
    /// `hrsync_model::actions::CATEGORY_PRESETS` stand for a set of actions.
    #[serde(default = "default_category")]
    pub category: String,
    /// What this mapping's automation does (`create`, `update`, …); default: its category's
    /// preset (see `config/actions.rs`).
    pub actions: Option<Vec<hrsync_model::Action>>,
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
    /// Effective dates: start (pre-hire window) and end (grace) as formats, e.g.
    /// `"{joined_date}"` and `"{termination_date}"`.
    pub start_date: Option<String>,
    #[serde(default)]
    pub prehire_days: u32,
    pub end_date: Option<String>,
    #[serde(default)]
    pub grace_days: u32,
    /// Who this mapping manages: an expression over the HR record (default: everyone).
    pub scope_when: Option<String>,
    /// A person outside the scope: `ignore` (default; not created, an existing account is left
    /// alone) or `disable` (treated as a leaver).
    #[serde(default)]
    pub out_of_scope: hrsync_mapping::OutOfScope,
    /// OU rule: OU names from the top down under `users_ou`, e.g. `["{department.display}"]`
    /// puts each person in `OU=<department>,<users_ou>` (values RDN-escaped) and moves them
    /// when it changes.
    #[serde(default)]
    pub ou: Vec<String>,
    /// Group rules (`[[mapping.group]]`).
    #[serde(default, rename = "group")]
    pub groups: Vec<RawGroup>,
    /// Endpoints joined into each person record on the primary key (or by fan-out).
    #[serde(default)]
    pub join: Vec<RawJoin>,
    /// Expression that is true for a leaver. Default for IceHrm: `status == 'Terminated'`.
    pub leaver_when: Option<String>,
    /// Paycor: what a person whose status is not one of the 13 documented values is taken
    /// for (`hold`, the default; `active`; `leaver`). Always a warning in the plan.
    pub unknown_status: Option<crate::statuses::UnknownStatus>,
    /// Mapped attributes that find an existing account for a joiner whose key links none (a
    /// rehire under a new key, a converted contractor, a hand-made account), e.g.
    /// `["employeeID", "mail"]`. One candidate: adopted; several: `hrsync review`.
    #[serde(default)]
    pub match_on: Vec<String>,
    /// Directory attribute → format.
    pub attributes: BTreeMap<String, RawAttr>,
    /// Which changes need an operator's approval (`[mapping.approval]`).
    pub approval: Option<plans::RawApproval>,
}
/// `[[mapping.group]]`: a fixed group (`dn`) or one named from HR data (`cn` + `under`), for
/// everyone or where `when` is true. hrsync owns these memberships (and every group directly
/// under an `under`): it adds and removes them.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawGroup {
    pub dn: Option<String>,
    pub cn: Option<String>,
    pub under: Option<String>,
    pub when: Option<String>,
}

/// A joined endpoint: `"details"` or `{ endpoint = "compensation", required = false }`.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum RawJoin {
    Name(String),
    Table {
        endpoint: String,
        #[serde(default = "default_true")]
        required: bool,
    },
}
impl RawJoin {
    pub fn endpoint(&self) -> &str {
        match self {
            RawJoin::Name(n) | RawJoin::Table { endpoint: n, .. } => n,
        }
    }
    pub fn required(&self) -> bool {
        match self {
            RawJoin::Name(_) => true,
            RawJoin::Table { required, .. } => *required,
        }
    }
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
    /// A leaver keeps (`keep`) or loses (`remove`) the memberships of the mapping's groups.
    #[serde(default = "default_leaver_groups")]
    pub leaver_groups: String,
    /// Disabled leavers are moved to this OU (it must exist, under `directory.base_dn`).
    pub disabled_ou: Option<String>,
    /// Disabled leavers are deleted this many days after hrsync disabled them (AD keeps a
    /// tombstone for its deleted-object lifetime). Unset: never deleted.
    pub delete_after_days: Option<u32>,
    /// Blast-radius guards per change class.
    #[serde(default)]
    pub thresholds: crate::guards::Thresholds,
    /// An account under `users_ou` with a key this mapping never created or adopted, whose key
    /// HR does not have: `ignore` (an orphan: listed, never changed) or `disable` (treat it as
    /// this mapping's, e.g. on the first adoption of an existing directory).
    #[serde(default)]
    pub unlinked: Unlinked,
    /// Where the source cannot look people up by key, a person missing from HR (and not marked
    /// as left) becomes a leaver only after this many consecutive complete fetches miss them.
    #[serde(default = "default_missing_confirmations")]
    pub missing_confirmations: u32,
}

/// `lifecycle.unlinked`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unlinked {
    #[default]
    Ignore,
    Disable,
}
fn default_missing_confirmations() -> u32 {
    2
}
fn default_leaver_groups() -> String {
    "keep".into()
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
            leaver_groups: default_leaver_groups(),
            disabled_ou: None,
            delete_after_days: None,
            thresholds: crate::guards::Thresholds::default(),
            unlinked: Unlinked::default(),
            missing_confirmations: default_missing_confirmations(),
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
    /// The file's text (for the fingerprint saved plans are checked against).
    text: String,
    /// What every job, webhook and orchestration step built from this config shares.
    shared: Shared,
}

/// Everything one mapping run needs, resolved.
pub struct Job {
    pub mapping: std::sync::Arc<Mapper>,
    pub description: String,
    pub category: String,
    /// `actions`, or the category's preset.
    pub actions: hrsync_model::Actions,
    pub source: Source,
    pub directory: DirectoryConfig,
    pub missing_from_hr: MissingAction,
    pub max_record_drop_percent: f64,
    pub managed_groups: Vec<String>,
    pub managed_group_bases: Vec<String>,
    pub leaver_removes_groups: bool,
    /// Attributes written only when an account is created.
    pub create_only: Vec<String>,
    pub disabled_ou: Option<String>,
    pub delete_after_days: Option<u32>,
    pub thresholds: crate::guards::Thresholds,
    /// `lifecycle.unlinked`.
    pub unlinked: Unlinked,
    /// `lifecycle.missing_confirmations`.
    pub missing_confirmations: u32,
    /// Attributes for secondary matching of joiners to existing accounts.
    pub match_on: Vec<String>,
    /// Attributes whose value names a person, written as that person's DN.
    pub person_refs: Vec<hrsync_plan::PersonRef>,
    /// Per person reference: the HR field the referenced value is a value of (`id` for IceHrm's
    /// supervisor with `by = "{id}"`; the primary key without `by`), when `by` is a plain
    /// field. A targeted run fetches the people named this way (a new hire's manager).
    pub ref_fields: Vec<(hrsync_model::AttrName, String)>,
    /// Orchestration templates: an applied change puts the ones it triggers in the outbox.
    pub orchestrations: Vec<crate::service::config::RawOrchestration>,
    /// Documented HR statuses and what an undocumented one means (Paycor).
    pub statuses: Option<crate::statuses::StatusRule>,
    /// `[mapping.approval]`: changes that need an approval before they apply.
    pub approval: Option<plans::RawApproval>,
    /// The configuration's fingerprint for this mapping (saved plans are checked against it).
    pub config_fingerprint: plans::ConfigFingerprint,
    /// `[plans] expire_hours`.
    pub plan_expiry: chrono::Duration,
    /// Where full runs keep their HR snapshot for `hrsync replay` (`None`: keep_hr_snapshots
    /// = 0).
    pub hr_snapshots: Option<crate::replay::snapshot::SnapshotSpec>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::parse(path, text)
    }

    /// A configuration from its text, as if read from `path` (relative paths resolve beside
    /// it): `hrsync replay` reads back the text a run used.
    pub fn parse(path: &Path, text: String) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let cfg = Config {
            path: path.to_path_buf(),
            raw,
            text,
            shared: Shared::default(),
        };
        cfg.validate()?;
        Ok(cfg)
    }

    pub(crate) fn invalid(
        &self,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
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
        self.validate_service()?;
        self.validate_notify()?;
        self.validate_plans()?;
        self.validate_actions()?;
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
                    if it.token.is_none() && it.oauth.is_none() {
                        return Err(self.invalid(
                            format!("{key}.oauth"),
                            "Paycor needs a bearer token: configure [integration.oauth] (token_url, client_id, client_secret, scope, redirect_uri; then `hrsync oauth authorize` once), see the README \"Sources: Paycor\" (a pasted token = { env = \"VAR\" } expires after 30 minutes)",
                        ));
                    }
                    if it.subscription_key.is_none() {
                        return Err(self.invalid(
                            format!("{key}.subscription_key"),
                            "Paycor needs both the bearer token and the subscription key: set it to { env = \"VAR\" } or { file = \"path\" }",
                        ));
                    }
                    if it.legal_entity_id.is_none() {
                        return Err(self.invalid(
                            format!("{key}.legal_entity_id"),
                            "set the Paycor legal entity (client) id, e.g. legal_entity_id = 501123",
                        ));
                    }
                    if let Some(include) = &it.include {
                        let known: Vec<&str> = std::iter::once("All")
                            .chain(hrsync_source::paycor::INCLUDE_BLOCKS.iter().map(|b| b.0))
                            .collect();
                        if let Some(b) = include
                            .iter()
                            .find(|b| !known.iter().any(|k| k.eq_ignore_ascii_case(b)))
                        {
                            return Err(self.invalid(
                                format!("{key}.include"),
                                format!("{b:?} is not an include block of Paycor's employee list; choose from {known:?}"),
                            ));
                        }
                        if !include.iter().any(|b| {
                            b.eq_ignore_ascii_case("All") || b.eq_ignore_ascii_case("Status")
                        }) {
                            return Err(self.invalid(
                                format!("{key}.include"),
                                "include must contain \"Status\" (or \"All\"): leavers are read from statusData.status; without it nobody would ever leave",
                            ));
                        }
                    }
                }
                "rest" => {
                    let url = it.base_url.as_deref().unwrap_or_default();
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(self.invalid(
                            format!("{key}.base_url"),
                            "set the API base URL; it must start with http:// or https://",
                        ));
                    }
                    if it.token.is_none() && it.oauth.is_none() && it.api_key.is_none() {
                        return Err(self.invalid(
                            format!("{key}.token"),
                            "set token = { env = \"VAR\" } (bearer), oauth = { … } or api_key = { env = \"VAR\" }",
                        ));
                    }
                    if it.endpoints.is_empty() {
                        return Err(self.invalid(
                            format!("{key}.endpoint"),
                            "define at least one [[integration.endpoint]] with name and path",
                        ));
                    }
                }
                "csv" => {
                    if !it.endpoints.is_empty() {
                        return Err(self.invalid(
                            format!("{key}.endpoint"),
                            "a csv integration has no HTTP endpoints",
                        ));
                    }
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
                            "unknown kind {other:?}; supported: \"icehrm\", \"paycor\", \"rest\", \"csv\""
                        ),
                    ));
                }
            }
            if it.rate_limit_per_minute == Some(0) {
                return Err(self.invalid(
                    format!("{key}.rate_limit_per_minute"),
                    "must be at least 1 (leave it out for no limit)",
                ));
            }
            self.endpoints(&key, it)?;
            if it.page_size == 0 || it.page_size > 10_000 {
                return Err(self.invalid(format!("{key}.page_size"), "must be between 1 and 10000"));
            }
            if it.max_page_mb == 0 || it.max_page_mb > 1_048_576 {
                return Err(self.invalid(
                    format!("{key}.max_page_mb"),
                    "must be between 1 and 1048576 (MB of one page)",
                ));
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
        if let Some(ca) = &d.ca_cert {
            let path = self.base_dir().join(ca);
            if !path.is_file() {
                return Err(self.invalid(
                    "directory.ca_cert",
                    format!(
                        "{} is not a readable file; point ca_cert at the PEM file of the CA that signed the directory's certificate",
                        path.display()
                    ),
                ));
            }
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
        if d.kind == Dialect::ActiveDirectory {
            if !(d.url.starts_with("ldaps://") || d.starttls) {
                return Err(self.invalid(
                    "directory.url",
                    "Active Directory takes passwords only over TLS: use ldaps:// or starttls = true",
                ));
            }
            match &d.passwords {
                None => {
                    return Err(self.invalid(
                        "directory.passwords",
                        "Active Directory accounts are created with an initial password: set [directory.passwords] file = \"/var/lib/hrsync/initial-passwords.jsonl\"",
                    ));
                }
                Some(p) => {
                    if let Some(pol) = &p.policy
                        && let Err(e) = pol.validate()
                    {
                        return Err(self.invalid("directory.passwords.policy", e));
                    }
                }
            }
        }
        if d.object_classes().is_empty() {
            return Err(self.invalid(
                "directory.object_classes",
                "name at least one object class, e.g. [\"inetOrgPerson\"]",
            ));
        }
        for name in [&d.key_attribute()] {
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
        if let Some(ou) = &r.lifecycle.disabled_ou {
            let under = ou
                .to_lowercase()
                .ends_with(&format!(",{}", r.directory.base_dn.to_lowercase()));
            if hrsync_model::dn::Dn::parse(ou).is_err() || !under {
                return Err(self.invalid(
                    "lifecycle.disabled_ou",
                    format!("must be a DN under directory.base_dn {:?} (so disabled accounts stay in view)", r.directory.base_dn),
                ));
            }
        }
        if r.lifecycle.delete_after_days == Some(0) {
            return Err(self.invalid(
                "lifecycle.delete_after_days",
                "0 would delete at once; use at least 1 (or leave it out to never delete)",
            ));
        }
        if r.lifecycle.missing_confirmations == 0 {
            return Err(self.invalid(
                "lifecycle.missing_confirmations",
                "use at least 1 (1 = act on the first complete fetch that misses a person; 2, the default, waits for the next one)",
            ));
        }
        if !matches!(r.lifecycle.leaver_groups.as_str(), "keep" | "remove") {
            return Err(self.invalid("lifecycle.leaver_groups", "\"keep\" or \"remove\""));
        }
        for (i, m) in r.mappings.iter().enumerate() {
            for (j, g) in m.groups.iter().enumerate() {
                let key = format!("mapping[{i}] ({}).group[{j}]", m.name);
                match (&g.dn, &g.cn, &g.under) {
                    (Some(d), None, None) => {
                        if let Err(e) = hrsync_model::dn::Dn::parse(d) {
                            return Err(self.invalid(format!("{key}.dn"), e.to_string()));
                        }
                    }
                    (None, Some(_), Some(u)) => {
                        if let Err(e) = hrsync_model::dn::Dn::parse(u) {
                            return Err(self.invalid(format!("{key}.under"), e.to_string()));
                        }
                    }
                    _ => {
                        return Err(self.invalid(
                            key,
                            "set either dn = \"CN=…\" or cn = \"{department.display} Team\" with under = \"OU=Groups,…\"",
                        ));
                    }
                }
            }
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
            let (lists, fan_outs) = self.endpoint_names(it);
            let primary = self.primary_endpoint(it, m.endpoint.as_deref());
            if !lists.contains(&primary) {
                return Err(self.invalid(
                    format!("{key}.endpoint"),
                    if fan_outs.contains(&primary) {
                        format!("{primary:?} is a fan-out endpoint (for_each); a mapping reads a list endpoint: {lists:?}")
                    } else {
                        format!("integration {:?} has no endpoint {primary:?}; it offers {lists:?}", it.name)
                    },
                ));
            }
            let mut joined = std::collections::BTreeSet::new();
            for (j, join) in m.join.iter().enumerate() {
                let name = join.endpoint().to_string();
                let jkey = format!("{key}.join[{j}]");
                if it.kind == "csv" {
                    return Err(self.invalid(jkey, "a csv integration has nothing to join"));
                }
                if name == primary || !joined.insert(name.clone()) {
                    return Err(self.invalid(
                        jkey,
                        format!("{name:?} is joined twice or is the mapping's own endpoint"),
                    ));
                }
                let eps = self.endpoints(&format!("integration[{}]", m.integration), it)?;
                if let Some(e) = eps.iter().find(|e| e.name == name) {
                    let t = hrsync_source::rest::LAST_RUN_TIME;
                    if e.url.uses(t)
                        || e.query.iter().any(|(_, v)| v.uses(t))
                        || e.body.as_ref().is_some_and(|b| b.uses(t))
                    {
                        return Err(self.invalid(
                            jkey,
                            format!("{name:?} uses {{lastRunTime}}; a joined endpoint must return everyone (only the mapping's own endpoint may be incremental)"),
                        ));
                    }
                }
                if fan_outs.contains(&name) {
                    let from = eps
                        .iter()
                        .find(|e| e.name == name)
                        .and_then(|e| e.for_each.as_ref())
                        .map(|f| f.endpoint.clone())
                        .unwrap_or_default();
                    if from != primary {
                        return Err(self.invalid(jkey, format!("{name:?} fans out over {from:?}, but this mapping reads {primary:?}")));
                    }
                } else if !lists.contains(&name) {
                    return Err(self.invalid(
                        jkey,
                        format!(
                            "integration {:?} has no endpoint {name:?}; it offers {:?}",
                            it.name,
                            lists.iter().chain(&fan_outs).collect::<Vec<_>>()
                        ),
                    ));
                }
            }
            for (a, spec) in &m.attributes {
                if let RawAttr::Table(t) = spec {
                    if t.unique && a.eq_ignore_ascii_case(&m.rdn_attribute) {
                        return Err(self.invalid(
                            format!("{key}.attributes.{a}.unique"),
                            "the RDN attribute cannot be unique-by-candidates yet; make another attribute unique (e.g. sAMAccountName or uid with rdn_attribute = \"cn\")",
                        ));
                    }
                    if !t.unique && (!t.candidates.is_empty() || t.max_length.is_some()) {
                        return Err(self.invalid(
                            format!("{key}.attributes.{a}"),
                            "candidates and max_length need unique = true",
                        ));
                    }
                    if let Some(r) = &t.refers_to {
                        if r != "person" {
                            return Err(self.invalid(
                                format!("{key}.attributes.{a}.refers_to"),
                                format!("{r:?} is not supported; the one kind is \"person\" (the value is an HR primary key)"),
                            ));
                        }
                        if t.unique || a.eq_ignore_ascii_case(&m.rdn_attribute) {
                            return Err(self.invalid(
                                format!("{key}.attributes.{a}.refers_to"),
                                "a person reference cannot be unique or the RDN attribute",
                            ));
                        }
                    }
                    if t.by.is_some() && t.refers_to.is_none() {
                        return Err(self.invalid(
                            format!("{key}.attributes.{a}.by"),
                            "by needs refers_to = \"person\"",
                        ));
                    }
                    if t.max_length == Some(0) {
                        return Err(self.invalid(
                            format!("{key}.attributes.{a}.max_length"),
                            "must be at least 1",
                        ));
                    }
                }
            }
            for a in &m.match_on {
                if !m.attributes.keys().any(|k| k.eq_ignore_ascii_case(a)) {
                    return Err(self.invalid(
                        format!("{key}.match_on"),
                        format!("{a:?} is not a mapped attribute; match_on compares the mapped value with the account's"),
                    ));
                }
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

    /// The mapping named `mapping`, with its index in the file; an error names the ones defined.
    fn find_mapping(&self, mapping: &str) -> Result<(usize, &RawMapping), ConfigError> {
        self.raw
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
            })
    }

    /// The offline half of [`Config::job`]: the mapping compiled and the status rule, without
    /// secrets, HR or the directory (`hrsync test` runs mapping test cases with only this).
    pub fn mapper(
        &self,
        mapping: &str,
    ) -> Result<(Mapper, Option<crate::statuses::StatusRule>), ConfigError> {
        let r = &self.raw;
        let (i, m) = self.find_mapping(mapping)?;
        let key = format!("mapping[{i}] ({})", m.name);
        let it = r
            .integrations
            .iter()
            .find(|x| x.name == m.integration)
            .ok_or_else(|| self.invalid(format!("{key}.integration"), "unknown integration"))?;
        let (spec, statuses) = self.mapping_spec(i, m, it)?;
        let mapper = Mapper::new(spec)
            .map_err(|e| self.invalid(format!("{key}.attributes"), e.to_string()))?;
        Ok((mapper, statuses))
    }

    /// Mapping `i` (`m`, reading integration `it`) as the mapping crate takes it, and its
    /// status rule.
    fn mapping_spec(
        &self,
        i: usize,
        m: &RawMapping,
        it: &RawIntegration,
    ) -> Result<(MappingSpec, Option<crate::statuses::StatusRule>), ConfigError> {
        let key = format!("mapping[{i}] ({})", m.name);
        let d = &self.raw.directory;
        let statuses = match (it.kind.as_str(), m.unknown_status) {
            ("paycor", u) => Some(crate::statuses::StatusRule {
                field: hrsync_source::paycor::STATUS_FIELD.into(),
                known: hrsync_source::paycor::STATUSES
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                unknown: u.unwrap_or_default(),
            }),
            (_, None) => None,
            (kind, Some(_)) => {
                return Err(self.invalid(
                    format!("{key}.unknown_status"),
                    format!(
                        "unknown_status applies to Paycor mappings (its documented statuses); integration {:?} is {kind:?}: remove it",
                        it.name
                    ),
                ));
            }
        };
        let spec = MappingSpec {
            name: m.name.clone(),
            primary_key: m.primary_key.clone(),
            source_id_field: matches!(it.kind.as_str(), "icehrm" | "paycor").then(|| "id".into()),
            rdn_attribute: m.rdn_attribute.clone(),
            parent_dn: d.users_ou.clone(),
            key_attribute: d.key_attribute(),
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
                // Each person's own value for references `by` another field travels as a
                // pseudo attribute to the planner (never to the directory).
                .chain(m.attributes.iter().filter_map(|(name, a)| match a {
                    RawAttr::Table(t) => t.by.as_ref().map(|by| AttrSpec {
                        name: ref_by_attr(name),
                        format: by.clone(),
                        required: false,
                    }),
                    RawAttr::Format(_) => None,
                }))
                .collect(),
            // IceHrm marks leavers with status Terminated; other kinds say it in the config.
            leaver_when: m.leaver_when.clone().or_else(|| match it.kind.as_str() {
                "icehrm" => Some("status == 'Terminated'".into()),
                "paycor" => Some(hrsync_source::paycor::default_leaver_when()),
                _ => None,
            }),
            ou: m.ou.clone(),
            scope_when: m.scope_when.clone(),
            dates: hrsync_mapping::EffectiveDates {
                start: m.start_date.clone(),
                prehire_days: m.prehire_days,
                end: m.end_date.clone(),
                grace_days: m.grace_days,
            },
            out_of_scope: m.out_of_scope,
            unique: m
                .attributes
                .iter()
                .filter_map(|(n, a)| match a {
                    RawAttr::Table(t) if t.unique => Some(hrsync_mapping::UniqueSpec {
                        attr: n.clone(),
                        candidates: t.candidates.clone(),
                        max_length: t.max_length,
                    }),
                    _ => None,
                })
                .collect(),
            groups: m
                .groups
                .iter()
                .map(|g| hrsync_mapping::GroupRule {
                    dn: g.dn.clone(),
                    cn: g.cn.clone(),
                    under: g.under.clone(),
                    when: g.when.clone(),
                })
                .collect(),
        };
        Ok((spec, statuses))
    }

    /// Resolves one mapping into a runnable job: loads secrets, compiles formats.
    pub fn job(&self, mapping: &str) -> Result<Job, ConfigError> {
        let r = &self.raw;
        let (i, m) = self.find_mapping(mapping)?;
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
        let (spec, statuses) = self.mapping_spec(i, m, it)?;
        let base = self.base_dir();
        let d = &r.directory;
        let password = d
            .bind_password
            .resolve(&base)
            .map_err(|e| self.invalid("directory.bind_password", e.to_string()))?;
        let mapper = Mapper::new(spec)
            .map_err(|e| self.invalid(format!("{key}.attributes"), e.to_string()))?;
        let primary = self.primary_endpoint(it, m.endpoint.as_deref());
        let mut source = self.source(ii, it, &base, &primary)?;
        if !m.join.is_empty() {
            source = Source::Joined(
                Box::new(source),
                JoinSpec {
                    rest: self.rest_integration(ii, it, &base)?,
                    primary_key: m.primary_key.clone(),
                    parts: m
                        .join
                        .iter()
                        .map(|j| JoinPart {
                            endpoint: j.endpoint().to_string(),
                            required: j.required(),
                        })
                        .collect(),
                    fan_out_limit: None,
                    only: None,
                },
            );
        }
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
            object_classes: d.object_classes(),
            rdn_attribute: m.rdn_attribute.clone(),
            key_attribute: d.key_attribute(),
            match_attributes: m.match_on.clone(),
            owned: m
                .attributes
                .keys()
                .cloned()
                .chain((!m.groups.is_empty()).then(|| hrsync_mapping::MEMBER_OF.to_string()))
                .collect(),
            connections: d.connections.max(1),
            in_flight: d.in_flight.max(1),
            page_size: d.page_size,
            timeout: Duration::from_secs(d.timeout_secs.max(1)),
            passwords: match &d.passwords {
                None => None,
                Some(p) => Some(Passwords {
                    policy: p.policy.clone().unwrap_or_default(),
                    file: std::sync::Arc::new(
                        PasswordFile::open(&base.join(&p.file))
                            .map_err(|e| self.invalid("directory.passwords.file", e.to_string()))?,
                    ),
                    mapping: m.name.clone(),
                    must_change: p.must_change,
                }),
            },
        };
        Ok(Job {
            mapping: std::sync::Arc::new(mapper),
            description: m.description.clone(),
            category: m.category.clone(),
            actions: m.actions(),
            source,
            directory,
            missing_from_hr: r.lifecycle.missing_from_hr,
            max_record_drop_percent: r.lifecycle.max_record_drop_percent,
            unlinked: r.lifecycle.unlinked,
            missing_confirmations: r.lifecycle.missing_confirmations,
            managed_groups: m.groups.iter().filter_map(|g| g.dn.clone()).collect(),
            managed_group_bases: m.groups.iter().filter_map(|g| g.under.clone()).collect(),
            leaver_removes_groups: r.lifecycle.leaver_groups == "remove",
            create_only: m
                .attributes
                .iter()
                // A unique name is chosen once, at creation; it never follows later HR changes.
                .filter(
                    |(_, a)| matches!(a, RawAttr::Table(t) if t.on == AttrWhen::Create || t.unique),
                )
                .map(|(n, _)| n.clone())
                .collect(),
            disabled_ou: r.lifecycle.disabled_ou.clone(),
            delete_after_days: r.lifecycle.delete_after_days,
            thresholds: r.lifecycle.thresholds,
            match_on: m.match_on.clone(),
            orchestrations: r.orchestrations.clone(),
            statuses,
            approval: m.approval.clone().filter(|a| !a.require.is_empty()),
            config_fingerprint: plans::fingerprint(&self.text, &m.name)
                .map_err(|e| self.invalid("mapping", e))?,
            hr_snapshots: (r.state.keep_hr_snapshots > 0).then(|| {
                crate::replay::snapshot::SnapshotSpec {
                    dir: crate::replay::snapshot::dir_for(&self.state_path(), &m.name),
                    keep: r.state.keep_hr_snapshots,
                    config_path: self.path.clone(),
                    config_text: self.text.clone(),
                }
            }),
            plan_expiry: r.plans.expiry().ok_or_else(|| {
                self.invalid(
                    "plans.expire_hours",
                    "must be a positive number of hours, e.g. 24",
                )
            })?,
            ref_fields: m
                .attributes
                .iter()
                .filter_map(|(n, a)| match a {
                    RawAttr::Table(t) if t.refers_to.is_some() => {
                        let field = match &t.by {
                            None => Some(m.primary_key.clone()),
                            Some(by) => plain_field(by),
                        };
                        field.map(|f| (hrsync_model::AttrName::new(n.clone()), f))
                    }
                    _ => None,
                })
                .collect(),
            person_refs: m
                .attributes
                .iter()
                .filter_map(|(n, a)| match a {
                    RawAttr::Table(t) if t.refers_to.is_some() => Some(hrsync_plan::PersonRef {
                        attr: hrsync_model::AttrName::new(n.clone()),
                        by: t
                            .by
                            .as_ref()
                            .map(|_| hrsync_model::AttrName::new(ref_by_attr(n))),
                    }),
                    _ => None,
                })
                .collect(),
        })
    }
}

impl Config {
    /// The endpoints of an integration, resolved and checked: Paycor's presets, then the
    /// custom `[[integration.endpoint]]`s. IceHrm's `get_employees` and CSV's `rows` are not
    /// REST endpoints and are not listed.
    pub fn endpoints(&self, key: &str, it: &RawIntegration) -> Result<Vec<Endpoint>, ConfigError> {
        let mut out = if it.kind == "paycor" {
            match &it.include {
                Some(include) => hrsync_source::paycor::preset_endpoints_with(include),
                None => hrsync_source::paycor::preset_endpoints(),
            }
        } else {
            Vec::new()
        };
        let builtin = [icehrm::GET_EMPLOYEES, csv_source::ROWS];
        let reserved = hrsync_source::rest::RESERVED_MACROS;
        if let Some(m) = it.macros.keys().find(|m| {
            reserved.contains(&m.as_str()) || (it.kind == "paycor" && *m == "legalEntityId")
        }) {
            return Err(self.invalid(
                format!("{key}.macros.{m}"),
                format!("{m:?} is set by hrsync itself ({reserved:?}); choose another name"),
            ));
        }
        if let Some(h) = &it.api_key_header
            && reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err()
        {
            return Err(self.invalid(
                format!("{key}.api_key_header"),
                format!("{h:?} is not a header name"),
            ));
        }
        let mut known: Vec<&str> = it.macros.keys().map(String::as_str).collect();
        known.push(hrsync_source::rest::LAST_RUN_TIME);
        if it.kind == "paycor" {
            known.push("legalEntityId");
        }
        for (n, e) in it.endpoints.iter().enumerate() {
            let ekey = format!("{key}.endpoint[{n}] ({})", e.name);
            let bad = |k: &str, m: String| self.invalid(format!("{ekey}.{k}"), m);
            let mut chars = e.name.chars();
            if !(chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
            {
                return Err(bad(
                    "name",
                    "use letters, digits and _ (it becomes a field name: {name.field})".into(),
                ));
            }
            if out.iter().any(|x: &Endpoint| x.name == e.name) || builtin.contains(&e.name.as_str())
            {
                return Err(bad(
                    "name",
                    format!("endpoint {:?} is defined twice (or is a preset)", e.name),
                ));
            }
            // hrsync only reads from HR here: GET, or POST for search APIs.
            let method = match e.method.to_uppercase().as_str() {
                "GET" => reqwest::Method::GET,
                "POST" => reqwest::Method::POST,
                other => {
                    return Err(bad(
                        "method",
                        format!(
                            "{other:?}: endpoints read from HR with GET (or POST for search APIs)"
                        ),
                    ));
                }
            };
            if !e.fields.is_empty()
                && !e
                    .fields
                    .contains_key(e.key.split('.').next().unwrap_or_default())
            {
                return Err(bad(
                    "key",
                    format!(
                        "with `fields`, the key must be one of them; {:?} is not",
                        e.key
                    ),
                ));
            }
            let mut allowed = known.clone();
            allowed.extend(["page", "offset", "limit", "cursor"]);
            let for_each = match &e.for_each {
                None => None,
                Some(f) => {
                    let src = it.endpoints.iter().find(|x| x.name == f.endpoint);
                    let preset_list = it.kind == "paycor"
                        && f.endpoint == hrsync_source::paycor::LEGAL_ENTITY_EMPLOYEES
                        || it.kind == "icehrm" && f.endpoint == icehrm::GET_EMPLOYEES;
                    if !preset_list && src.is_none_or(|x| x.for_each.is_some()) {
                        return Err(bad(
                            "for_each.endpoint",
                            format!(
                                "{:?} is not a list endpoint of this integration",
                                f.endpoint
                            ),
                        ));
                    }
                    if reserved.contains(&f.as_macro.as_str())
                        || it.macros.contains_key(&f.as_macro)
                    {
                        return Err(bad(
                            "for_each.as",
                            format!("{:?} is already a macro; choose another name", f.as_macro),
                        ));
                    }
                    if f.as_macro.is_empty()
                        || !f
                            .as_macro
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        return Err(bad(
                            "for_each.as",
                            "a macro name: letters, digits and _".into(),
                        ));
                    }
                    Some(FanOut {
                        endpoint: f.endpoint.clone(),
                        field: f.field.clone(),
                        macro_name: f.as_macro.clone(),
                    })
                }
            };
            if let Some(f) = &for_each {
                allowed.push(f.macro_name.as_str());
            }
            let tpl = |k: &str, v: &str| {
                Template::parse(v)
                    .and_then(|t| t.check(&allowed).map(|()| t))
                    .map_err(|err| bad(k, err.to_string()))
            };
            let url = tpl("path", &e.path)?;
            let body = match e.body.as_deref() {
                None => None,
                Some(b) => {
                    let t = BodyTemplate::parse(b).map_err(|m| bad("body", m))?;
                    t.check(&allowed).map_err(|m| bad("body", m.to_string()))?;
                    Some(t)
                }
            };
            if for_each.as_ref().is_some_and(|f| {
                !url.uses(&f.macro_name)
                    && !e
                        .query
                        .values()
                        .any(|q| q.contains(&format!("{{{}}}", f.macro_name)))
                    && !body.as_ref().is_some_and(|b| b.uses(&f.macro_name))
            }) {
                return Err(bad(
                    "path",
                    "a fan-out endpoint must use its for_each macro in the path, query or body"
                        .into(),
                ));
            }
            let mut headers = Vec::new();
            for (h, v) in &e.headers {
                if reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err() {
                    return Err(bad("headers", format!("{h:?} is not a header name")));
                }
                headers.push((h.clone(), tpl(&format!("headers.{h}"), v)?));
            }
            let mut query = Vec::new();
            for (q, v) in &e.query {
                query.push((q.clone(), tpl(&format!("query.{q}"), v)?));
            }

            let jp = |k: &str, v: &str| {
                JsonPath::parse(v).map_err(|err| {
                    bad(
                        k,
                        format!("not a JSONPath (RFC 9535), e.g. \"$.data.items[*]\": {err}"),
                    )
                })
            };
            let records = e.records.as_deref().map(|r| jp("records", r)).transpose()?;
            let mut fields = Vec::new();
            for (f, v) in &e.fields {
                fields.push((f.clone(), jp(&format!("fields.{f}"), v)?));
            }
            let opt = |k: &str, v: &Option<String>| v.as_deref().map(|x| jp(k, x)).transpose();
            let sizes = match &e.pagination {
                RawPaging::Page { size, .. } => Some(*size),
                RawPaging::Offset { limit, .. } => Some(*limit),
                RawPaging::Cursor { size, .. }
                | RawPaging::NextUrl { size, .. }
                | RawPaging::LinkHeader { size, .. } => *size,
                RawPaging::None => None,
            };
            if sizes == Some(0) {
                return Err(bad(
                    "pagination.size",
                    "a page size must be at least 1".into(),
                ));
            }
            let paging = match &e.pagination {
                RawPaging::None => Paging::None,
                RawPaging::Page {
                    page_param,
                    size_param,
                    size,
                    first,
                    total_pages,
                    total,
                } => Paging::Page {
                    page_param: Some(page_param.clone()),
                    size_param: size_param.clone(),
                    size: *size,
                    first: *first,
                    total_pages: opt("pagination.total_pages", total_pages)?,
                    total: opt("pagination.total", total)?,
                },
                RawPaging::Offset {
                    offset_param,
                    limit_param,
                    limit,
                    total,
                } => Paging::Offset {
                    offset_param: Some(offset_param.clone()),
                    limit_param: limit_param.clone(),
                    limit: *limit,
                    total: opt("pagination.total", total)?,
                },
                RawPaging::Cursor {
                    param,
                    next,
                    has_more,
                    size_param,
                    size,
                } => {
                    if param.is_none() && !body.as_ref().is_some_and(|b| b.uses("cursor")) {
                        return Err(bad("pagination.param", "name the query parameter that carries the cursor, or put {cursor} in the body".into()));
                    }
                    Paging::Cursor {
                        param: param.clone(),
                        next: jp("pagination.next", next)?,
                        has_more: opt("pagination.has_more", has_more)?,
                        size_param: size_param.clone(),
                        size: *size,
                    }
                }
                RawPaging::NextUrl {
                    next,
                    size_param,
                    size,
                } => Paging::NextUrl {
                    next: jp("pagination.next", next)?,
                    size_param: size_param.clone(),
                    size: *size,
                },
                RawPaging::LinkHeader { size_param, size } => Paging::LinkHeader {
                    size_param: size_param.clone(),
                    size: *size,
                },
            };
            // A query parameter the pagination also sends would go out twice.
            let mut vars = BTreeMap::new();
            paging.first_vars(&mut vars);
            vars.insert("cursor".into(), "x".into());
            if let Some((q, _)) = paging
                .query_params(&vars)
                .into_iter()
                .find(|(q, _)| e.query.contains_key(q))
            {
                return Err(bad(
                    &format!("query.{q}"),
                    "the pagination sends this parameter itself; remove it from query".into(),
                ));
            }
            if for_each.is_some() && !matches!(paging, Paging::None) {
                return Err(bad(
                    "pagination",
                    "a fan-out endpoint is called once per record; it cannot page".into(),
                ));
            }
            if e.lookup.is_some() && for_each.is_some() {
                return Err(bad(
                    "lookup",
                    "a fan-out endpoint is not a list of people; put lookup on the list endpoint"
                        .into(),
                ));
            }
            let lookup = e
                .lookup
                .as_ref()
                .map(|l| l.resolve(&e.key, &known))
                .transpose()
                .map_err(|(k, m)| bad(&format!("lookup.{k}"), m))?;
            out.push(Endpoint {
                name: e.name.clone(),
                method,
                url,
                headers,
                query,
                body,
                records,
                records_src: e.records.clone(),
                fields,
                key: e.key.clone(),
                paging,
                for_each,
                lookup,
            });
        }
        Ok(out)
    }

    /// An integration's list endpoints and fan-out endpoints, by name.
    pub fn endpoint_names(&self, it: &RawIntegration) -> (Vec<String>, Vec<String>) {
        let mut lists = Vec::new();
        let mut fan_outs = Vec::new();
        match it.kind.as_str() {
            "icehrm" => lists.push(icehrm::GET_EMPLOYEES.to_string()),
            "csv" => lists.push(csv_source::ROWS.to_string()),
            _ => {}
        }
        for e in self.endpoints("", it).unwrap_or_default() {
            if e.for_each.is_some() {
                fan_outs.push(e.name);
            } else {
                lists.push(e.name);
            }
        }
        (lists, fan_outs)
    }

    /// The endpoint a mapping reads: the one it names, else the integration's first list
    /// endpoint (IceHrm `get_employees`, Paycor `legal_entity_employees`, CSV `rows`).
    pub fn primary_endpoint(&self, it: &RawIntegration, named: Option<&str>) -> String {
        match named {
            Some(n) => n.to_string(),
            None => self
                .endpoint_names(it)
                .0
                .into_iter()
                .next()
                .unwrap_or_default(),
        }
    }

    fn find_integration(&self, name: &str) -> Result<(usize, &RawIntegration), ConfigError> {
        self.raw
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
            })
    }

    /// All endpoint names of an integration (for `endpoint test`).
    pub fn integration_endpoints(
        &self,
        name: &str,
    ) -> Result<(Vec<String>, Vec<String>), ConfigError> {
        let (_, it) = self.find_integration(name)?;
        Ok(self.endpoint_names(it))
    }

    /// The source of one endpoint of an integration (for `endpoint test`). A fan-out endpoint
    /// is called for the first `fan_out_sample` records of the endpoint it fans out over; its
    /// data is under the endpoint's name in each record.
    pub fn endpoint_source(
        &self,
        integration: &str,
        endpoint: Option<&str>,
        fan_out_sample: usize,
    ) -> Result<(Source, String), ConfigError> {
        let (ii, it) = self.find_integration(integration)?;
        let base = self.base_dir();
        let name = self.primary_endpoint(it, endpoint);
        let (lists, fan_outs) = self.endpoint_names(it);
        if lists.contains(&name) {
            return Ok((self.source(ii, it, &base, &name)?, name));
        }
        if !fan_outs.contains(&name) {
            return Err(self.invalid(
                "endpoint",
                format!(
                    "integration {integration:?} has no endpoint {name:?}; it offers {:?}",
                    lists.iter().chain(&fan_outs).collect::<Vec<_>>()
                ),
            ));
        }
        let rest = self.rest_integration(ii, it, &base)?;
        let from = rest
            .endpoint(&name)
            .and_then(|e| e.for_each.as_ref())
            .map(|f| f.endpoint.clone())
            .unwrap_or_default();
        let primary = self.source(ii, it, &base, &from)?;
        let key = rest
            .endpoint(&from)
            .map(|e| e.key.clone())
            .unwrap_or_else(|| "id".into());
        Ok((
            Source::Joined(
                Box::new(primary),
                JoinSpec {
                    rest,
                    primary_key: key,
                    parts: vec![JoinPart {
                        endpoint: name.clone(),
                        required: false,
                    }],
                    fan_out_limit: Some(fan_out_sample),
                    only: None,
                },
            ),
            name,
        ))
    }

    pub(crate) fn secret(
        &self,
        key: &str,
        field: &str,
        r: Option<&SecretRef>,
        base: &Path,
    ) -> Result<hrsync_model::Secret, ConfigError> {
        r.ok_or_else(|| {
            self.invalid(
                format!("{key}.{field}"),
                "set it to { env = \"VAR\" } or { file = \"path\" }",
            )
        })?
        .resolve(base)
        .map_err(|e| self.invalid(format!("{key}.{field}"), e.to_string()))
    }

    /// The bearer of an API integration: OAuth when configured, else the static token (also
    /// what a webhook borrowing the integration sends).
    pub(crate) fn bearer(
        &self,
        ii: usize,
        key: &str,
        it: &RawIntegration,
        base: &Path,
    ) -> Result<Bearer, ConfigError> {
        if let Some(p) = self.token_provider(ii, it)? {
            return Ok(Bearer::OAuth(p));
        }
        match &it.token {
            Some(t) => Ok(Bearer::Static(self.secret(key, "token", Some(t), base)?)),
            None => Ok(Bearer::None),
        }
    }

    /// An API integration (icehrm, paycor, rest) as a REST integration: authorization, limits
    /// and its endpoints (for custom endpoints and joins).
    fn rest_integration(
        &self,
        ii: usize,
        it: &RawIntegration,
        base: &Path,
    ) -> Result<RestIntegration, ConfigError> {
        let key = format!("integration[{ii}]");
        let endpoints = self.endpoints(&key, it)?;
        let retry = RetryPolicy {
            max_retries: it.max_retries,
            ..RetryPolicy::default()
        };
        let timeout = Duration::from_secs(it.timeout_secs.max(1));
        if it.kind == "paycor" {
            let subscription_key =
                self.secret(&key, "subscription_key", it.subscription_key.as_ref(), base)?;
            let bearer = self.bearer(ii, &key, it, base)?;
            let custom = endpoints
                .into_iter()
                .filter(|e| it.endpoints.iter().any(|r| r.name == e.name))
                .collect();
            let mut rest = hrsync_source::paycor::integration(
                hrsync_source::paycor::PaycorSettings {
                    name: it.name.clone(),
                    base_url: it.base_url.clone().unwrap_or_default(),
                    bearer,
                    subscription_key,
                    legal_entity_id: it.legal_entity_id.unwrap_or_default().to_string(),
                    rate_limit_per_minute: it.rate_limit_per_minute,
                    concurrency: it.concurrency.max(1),
                    timeout,
                    retry,
                    max_page_bytes: it.max_page_bytes(),
                    include: it.include.clone().unwrap_or_default(),
                },
                custom,
            );
            rest.max_pages = it.max_pages.max(1);
            rest.macros.extend(it.macros.clone());
            rest.limiter = self.shared_limiter(&it.name, rest.limiter.take());
            return Ok(rest);
        }
        let mut headers = Vec::new();
        if let Some(k) = &it.api_key {
            headers.push((
                it.api_key_header
                    .clone()
                    .unwrap_or_else(|| DEFAULT_API_KEY_HEADER.into()),
                self.secret(&key, "api_key", Some(k), base)?,
            ));
        }
        Ok(RestIntegration {
            name: it.name.clone(),
            base_url: it.base_url.clone().unwrap_or_default(),
            auth: Auth {
                bearer: self.bearer(ii, &key, it, base)?,
                headers,
            },
            macros: it.macros.clone(),
            endpoints,
            concurrency: it.concurrency.max(1),
            timeout,
            retry,
            flavor: Flavor::Generic,
            limiter: self.shared_limiter(
                &it.name,
                it.rate_limit_per_minute.and_then(Limiter::per_minute),
            ),
            last_run_time: None,
            max_pages: it.max_pages.max(1),
            max_page_bytes: it.max_page_bytes(),
        })
    }

    /// Resolves one endpoint of an integration into a source (secrets loaded, paths absolute).
    fn source(
        &self,
        ii: usize,
        it: &RawIntegration,
        base: &Path,
        endpoint: &str,
    ) -> Result<Source, ConfigError> {
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
            "icehrm" if endpoint == icehrm::GET_EMPLOYEES => {
                let token = self.secret(&key, "token", it.token.as_ref(), base)?;
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
                    max_page_bytes: it.max_page_bytes(),
                    only: None,
                }))
            }
            _ => Ok(Source::Rest(
                self.rest_integration(ii, it, base)?,
                endpoint.to_string(),
            )),
        }
    }
}

fn valid_attr(a: &str) -> bool {
    let mut chars = a.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// `"{id}"` → `id`: the field a format is, when it is nothing but one field.
fn plain_field(format: &str) -> Option<String> {
    let inner = format.trim().strip_prefix('{')?.strip_suffix('}')?.trim();
    (!inner.is_empty()
        && inner
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.'))
    .then(|| inner.to_string())
}

/// The pseudo attribute carrying each person's own value for the reference `attr` (`by`).
fn ref_by_attr(attr: &str) -> String {
    format!("hrsync-ref-by-{}", attr.to_ascii_lowercase())
}
