//! The file as written: serde structs with `deny_unknown_fields` and their defaults.

use super::notify::RawNotify;
use super::plans;
use hrsync_directory::Dialect;
use hrsync_model::SecretRef;
use hrsync_plan::MissingAction;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

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
    /// The daemon (`hrsync serve`): `[serve]`, or `[server]` (the same section; not both).
    #[serde(default, alias = "server")]
    pub serve: super::daemon::RawServe,
    #[serde(default, rename = "automation")]
    pub automations: Vec<super::daemon::RawAutomation>,
    #[serde(default, rename = "event")]
    pub events: Vec<super::daemon::RawEvent>,
    #[serde(default, rename = "webhook")]
    pub webhooks: Vec<hrsync_webhook::WebhookConfig>,
    #[serde(default, rename = "orchestration")]
    pub orchestrations: Vec<super::daemon::RawOrchestration>,
    /// Notification channels (`[[notify]]`, see `config/notify.rs`).
    #[serde(default)]
    pub notify: Vec<RawNotify>,
    /// Mapping test cases (`[[test]]`; more in a `tests/` folder beside the file): see
    /// the engine's `mapping_tests`.
    #[serde(default, rename = "test")]
    pub tests: Vec<super::cases::RawCase>,
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
    pub unknown_status: Option<super::statuses::UnknownStatus>,
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
    pub thresholds: Thresholds,
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

/// One class's limit: over `count` changes or over `percent` of the managed accounts; never
/// at or below `min` changes (so that a small directory is not held for one change).
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub count: Option<usize>,
    pub percent: Option<f64>,
    #[serde(default)]
    pub min: Option<usize>,
}

/// `[lifecycle.thresholds]`.
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub disable: Option<Threshold>,
    pub delete: Option<Threshold>,
    #[serde(rename = "move")]
    pub moves: Option<Threshold>,
    pub rename: Option<Threshold>,
    /// Updates of any kind (a mass change of attributes).
    pub update: Option<Threshold>,
    /// One attribute removed (or blanked) on many accounts, counted per attribute: what a
    /// misspelt field in a format does. Default: [`DEFAULT_CLEAR`].
    pub clear: Option<Threshold>,
}

/// The `clear` guard when none is configured: more than 10% of the managed accounts (and more
/// than 5 accounts) losing the same attribute is held. `clear = { percent = 100 }` turns it off.
pub const DEFAULT_CLEAR: Threshold = Threshold {
    count: None,
    percent: Some(10.0),
    min: Some(5),
};

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
            thresholds: Thresholds::default(),
            unlinked: Unlinked::default(),
            missing_confirmations: default_missing_confirmations(),
        }
    }
}
fn default_leaver_action() -> String {
    "disable".into()
}
