//! # Paycor Public API emulator
//!
//! An in-memory stand-in for the Paycor Public API (`https://apis.paycor.com`,
//! `/v1/...`) serving one tenant with one legal entity, built from Paycor's
//! OpenAPI document and the behaviour of clients that talk to the live API
//! (`shared/research/paycor.md`). It serves a deterministic, seed-generated
//! workforce and lets tests change it (hire, update, terminate), revoke
//! data-access permissions and inject faults while a client is syncing.
//!
//! ## What is emulated
//! * **Gateway (Azure APIM)**: every call except the activation redirect
//!   needs the subscription key (`Ocp-Apim-Subscription-Key` header or
//!   `subscription-key` query parameter): missing → 401
//!   `{"statusCode":401,"message":"Access denied due to missing subscription
//!   key. …"}`, unknown → 401 `… invalid subscription key. …`. Then the
//!   per-key **rate limit** (default 1000 calls per sliding 60 s window,
//!   counted across all APIs, also counting calls that then fail the token
//!   check) → 429 `{"statusCode":429,"message":"Rate limit is exceeded. Try
//!   again in N seconds."}` with `Retry-After: N`.
//! * **Bearer token**: `Authorization: Bearer <token>` on every API call;
//!   missing, unknown or expired → 401 with an **empty body** (and
//!   `WWW-Authenticate: Bearer`). Accepted: the configured static token
//!   (for `static_token_ttl`, 1800 s, after the emulator starts) and tokens
//!   minted by the STS (expire after `access_token_ttl`, 1800 s). Lifetimes
//!   run on the emulator's clock, which a test moves forward with
//!   [`PaycorState::advance_clock`]; [`PaycorState::expired_token_requests`]
//!   counts calls that came with an expired token.
//! * **Data-access permissions**: all granted until
//!   [`PaycorState::revoke`]; a missing one → 403 with an empty body, also
//!   for an `include=` block whose permission is missing (configurable:
//!   [`PaycorConfig::forbid_ungranted_includes`]). A legal entity or tenant
//!   id other than the emulated one → 403 (the token does not cover it).
//! * **STS**: `POST /sts/v1/common/token` (form-encoded; client credentials
//!   in the body or HTTP Basic) with `authorization_code` (+ PKCE `S256` or
//!   `plain`) and `refresh_token` (the refresh token **rotates**: the old one
//!   is retired and reusing it → 400 `{"error":"invalid_grant"}`), optionally
//!   `client_credentials`. Answer `{"access_token","expires_in":1800,
//!   "token_type":"Bearer","refresh_token"}`. `GET /AppActivation/Authorize`
//!   redirects (302) to `redirect_uri?code=<64 hex>[&state=]`.
//! * **Reads**: `GET /v1/legalentities/ActivatedLegalEntityTenantList`;
//!   `/v1/legalentities/{id}` and `/v1/tenants/{id}`;
//!   `/v1/legalentities/{id}/employees` (`include` = `All`,
//!   `EmploymentDates`, `Position`, `Status`, `WorkLocation`, repeated;
//!   `emailType`, `statusFilter`, `employeeNumber`, `lastName`,
//!   `departmentCode`, `workLocationName`); `/v1/employees/{id}` (`include`,
//!   `emailType`); `/v1/employees/{id}/person`; `/v1/tenants/{id}/employees`
//!   (EmployeeList records); `/v1/legalentities/{id}/employeesIdentifyingData`;
//!   `/v1/legalEntities/{id}/persons`, `/v1/tenants/{id}/persons[/{personId}]`;
//!   departments, work locations and job titles of the legal entity (and
//!   the tenant's work locations and job titles). `/v2` mirrors of the
//!   employee list, the single employee and the identifying data (v2 drops
//!   `alternateEmployeeNumber`/`badgeNumber`, adds `lastName2`,
//!   `workCountryCode`, `workerCategory`).
//! * **Paging**: `{"hasMoreResults","continuationToken","additionalResultsUrl",
//!   "records"}`; 200 records per page for the legal entity's employees, 100
//!   elsewhere (both configurable); the next page is the same request plus
//!   `continuationToken=<guid>` (`continuationTokenId` is accepted too) or a
//!   GET of `additionalResultsUrl` (which repeats the original parameters).
//!   Tokens are bound to the path and parameters: a mismatch or an unknown
//!   token → 400. The last page has `hasMoreResults: false` and nulls.
//!   Employees keep their position (creation order), so hires during a
//!   walk show up on a later page and nobody is returned twice.
//! * **Employee JSON**: camelCase, GUID ids, `employeeNumber` a string,
//!   enums as strings, dates `YYYY-MM-DDT00:00:00Z` (`leaveStartDate`
//!   date-only), blocks not included are `null`; the manager only as
//!   `positionData.manager` `{id, employeeNumber, employee: {id, url}}`;
//!   the department only as the `department` reference (GUID; code and name
//!   via the departments endpoint); the work e-mail (or the home one with
//!   `emailType=Home`); statuses of all 13 `EmploymentStatus` values (and
//!   `Unknown`, outside them, set only with [`PaycorState::update`]).
//! * **Writes** (apply at once, answer 201 `{"resourceUrl":{"id","url"}}`):
//!   `PUT /v1/employees/{id}` (EmployeeContact: `homeEmail`, `workEmail`,
//!   `phones` (Home/Mobile/Work, one each, only the types sent change),
//!   `primaryAddress`; omitted fields keep their value), `…/position`,
//!   `…/status` (`eligibleForRehire` + `isVoluntaryByEmployee` required for
//!   the five separated statuses), `…/positionandstatus` (rehire, only
//!   `Active`). Bad input → 400 `PaycorError`
//!   `{"correlationId","title","detail","source":{field: message}}`;
//!   a body that is not JSON → 415 (content type) or 400.
//! * **Events**: `POST /v1/events/mockevent` (201 with the `Event`) and
//!   [`PaycorState::subscribe_events`]; every change (API write or library
//!   mutation) records an `Employee.Modified` event ([`PaycorState::events`])
//!   and POSTs it to the subscribed `http://` URLs with the secret as the
//!   `Authorization` header (keys camelCase, or PascalCase for a subscription
//!   made with [`PaycorState::subscribe_events_pascal_case`]).
//! * Routing is case-insensitive (`legalEntities` = `legalentities`); unknown
//!   routes and unknown ids → 404 `PaycorError`; a known route with another
//!   method → 405.
//!
//! ## Faults ([`Fault`])
//! A failing, malformed or slow employee-list page, 429 bursts with a
//! chosen `Retry-After`, "expired" tokens (401) for the next N calls, and
//! failures of any path.
//!
//! ## Not emulated / inferred
//! Onboarding, payroll, time, ATS, custom fields, status reasons,
//! `identifyingdata`/`PersonalData`/`Paygroup` writes, `POST /v1/employees`
//! (use [`PaycorState::hire`]), multiple legal entities or tenants,
//! v2-only endpoints beyond the three mirrors, token signatures (JWTs are
//! not verifiable), `https://` webhook URLs and webhook retries, legacy
//! `api.paycor.com` paths. Guessed (the research notes mark them inferred):
//! the 403 body (empty), the 404/500 `PaycorError` texts, which permission
//! gates persons/lookups, an unknown continuation token → 400, `lastName`
//! filter = case-insensitive equality, `Person.firstName` = the name the
//! person goes by (`legalFirstName` may differ), rehired employees keep
//! their old `terminationDate`, and the sub-resource URLs in references.

mod data;
mod events;
mod generate;
mod http;
mod model;
mod sts;
mod writes;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

pub use model::EmploymentStatus;

use model::{EmailType, Includes, PersonIncludes, Store};

/// How to build the emulated legal entity.
#[derive(Debug, Clone)]
pub struct PaycorConfig {
    /// Number of generated employees.
    pub employees: usize,
    /// Seed of the deterministic generator.
    pub seed: u64,
    /// The legal entity (client) id, an int32.
    pub legal_entity_id: i64,
    /// The tenant (company) id, an int32.
    pub tenant_id: i64,
    /// A static bearer token (a pasted token), accepted for [`Self::static_token_ttl`] after
    /// the emulator starts, like a live access token pasted into a config.
    pub access_token: String,
    /// Lifetime of the static token on the emulator's clock ([`PaycorState::advance_clock`]);
    /// 1800 s, the `expires_in` of live Paycor access tokens.
    pub static_token_ttl: Duration,
    /// The accepted APIM subscription key (more: [`PaycorState::add_subscription_key`]).
    pub subscription_key: String,
    /// Calls per subscription key per [`Self::rate_limit_window`]; 0 = unlimited.
    pub rate_limit_per_minute: u32,
    /// The sliding window of the rate limit (60 s on the real API).
    pub rate_limit_window: Duration,
    /// Records per page of `GET /v1/legalentities/{id}/employees` (200).
    pub employees_page_size: usize,
    /// Records per page of the other lists (100).
    pub page_size: usize,
    /// OAuth client id accepted by the STS.
    pub client_id: String,
    /// OAuth client secret; `None` disables the STS grants (invalid_client).
    pub client_secret: Option<String>,
    /// A refresh token the STS accepts once (then it rotates).
    pub refresh_token: Option<String>,
    /// Lifetime of minted access tokens (`expires_in`, 1800 s).
    pub access_token_ttl: Duration,
    /// Whether the STS accepts `grant_type=client_credentials` (unknown on the real one).
    pub allow_client_credentials: bool,
    /// A missing permission for an `include=` block → 403 (`true`) or the block is `null`.
    pub forbid_ungranted_includes: bool,
    /// The app's "Scope (Version) Identifier" put into minted tokens.
    pub scope_identifier: String,
}

impl Default for PaycorConfig {
    fn default() -> Self {
        PaycorConfig {
            employees: 50,
            seed: 1,
            legal_entity_id: 501_123,
            tenant_id: 678_556,
            access_token: "hrsync-emulator-access-token".to_owned(),
            static_token_ttl: Duration::from_secs(1800),
            subscription_key: "0123456789abcdef0123456789abcdef".to_owned(),
            rate_limit_per_minute: 1000,
            rate_limit_window: Duration::from_secs(60),
            employees_page_size: 200,
            page_size: 100,
            client_id: "hrsync-emulator-client".to_owned(),
            client_secret: None,
            refresh_token: None,
            access_token_ttl: Duration::from_secs(1800),
            allow_client_credentials: false,
            forbid_ungranted_includes: true,
            scope_identifier: "a1b2c3d4e5f60718293a4b5c6d7e8f90".to_owned(),
        }
    }
}

/// Paycor data-access permissions (AppCreator "Data Access" screen) that
/// gate the emulated endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    ViewLegalEntityEmployees,
    ViewLegalEntityEmployeesEmploymentDates,
    ViewLegalEntityEmployeesStatus,
    ViewLegalEntityEmployeesPosition,
    ViewLegalEntityEmployeesWorkLocation,
    ViewEmployeeInformation,
    ViewEmployeeEmploymentDates,
    ViewEmployeeStatus,
    ViewEmployeePosition,
    ViewEmployeeWorkLocation,
    ViewTenantEmployees,
    ViewLegalEntityEmployeesIdentifyingData,
    ViewLegalEntityEmployeesSsnAndBirthDate,
    ViewEmployeePerson,
    ViewLegalEntityPersons,
    ViewLegalEntityDepartmentsInformation,
    ViewLegalEntityWorkLocations,
    ViewLegalEntityJobTitles,
    ViewTenantJobTitles,
    UpdateEmployeeContact,
    UpdateEmployeePosition,
    UpdateEmployeeStatusData,
    UpdateEmployeePositionAndStatus,
}

impl Permission {
    /// The name on Paycor's Data Access screen.
    pub fn name(self) -> &'static str {
        match self {
            Permission::ViewLegalEntityEmployees => "View Legal Entity Employees",
            Permission::ViewLegalEntityEmployeesEmploymentDates => {
                "View Legal Entity Employees Employment Dates"
            }
            Permission::ViewLegalEntityEmployeesStatus => "View Legal Entity Employees Status",
            Permission::ViewLegalEntityEmployeesPosition => "View Legal Entity Employees Position",
            Permission::ViewLegalEntityEmployeesWorkLocation => {
                "View Legal Entity Employees Work Location"
            }
            Permission::ViewEmployeeInformation => "View Employee Information",
            Permission::ViewEmployeeEmploymentDates => "View Employee Employment Dates",
            Permission::ViewEmployeeStatus => "View Employee Status",
            Permission::ViewEmployeePosition => "View Employee Position",
            Permission::ViewEmployeeWorkLocation => "View Employee Work Location",
            Permission::ViewTenantEmployees => "View Tenant Employees",
            Permission::ViewLegalEntityEmployeesIdentifyingData => {
                "View Legal Entity Employees Identifying Data"
            }
            Permission::ViewLegalEntityEmployeesSsnAndBirthDate => {
                "View Legal Entity Employees SSN and BirthDate"
            }
            Permission::ViewEmployeePerson => "View Employee Person",
            Permission::ViewLegalEntityPersons => "View Legal Entity Persons",
            Permission::ViewLegalEntityDepartmentsInformation => {
                "View Legal Entity Departments Information"
            }
            Permission::ViewLegalEntityWorkLocations => "View Legal Entity Work Locations",
            Permission::ViewLegalEntityJobTitles => "View Legal Entity Job Titles",
            Permission::ViewTenantJobTitles => "View Tenant Job Titles",
            Permission::UpdateEmployeeContact => "Update Employee Contact",
            Permission::UpdateEmployeePosition => "Update Employee Position",
            Permission::UpdateEmployeeStatusData => "Update Employee Status Data",
            Permission::UpdateEmployeePositionAndStatus => "Update Employee Position And Status",
        }
    }
}

/// A fault to inject into the served API. Faults stay until
/// [`PaycorState::clear_faults`], except those with a count, which wear off.
/// "List page" = `GET /v{1,2}/legalentities/{id}/employees`; page 1 is the
/// request without a continuation token, page N the (N-1)th continuation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// That page answers this status (a `PaycorError` body; 401: empty).
    FailListPage { page: u32, status: u16 },
    /// Like `FailListPage`, for the next `times` requests of that page.
    FailListPageTimes { page: u32, status: u16, times: u32 },
    /// That page answers 200 with truncated, invalid JSON.
    MalformedListPage { page: u32 },
    /// That page is answered after `delay`.
    SlowListPage { page: u32, delay: Duration },
    /// The next `calls` calls (with a valid subscription key, any path)
    /// answer 429 with `Retry-After: retry_after_secs`.
    RateLimited { calls: u32, retry_after_secs: u64 },
    /// The next `calls` authenticated calls answer 401 (empty body) as if
    /// the access token had expired.
    ExpiredToken { calls: u32 },
    /// Calls whose path contains `path_contains` (case-insensitive) answer
    /// `status` after authentication; `times` 0 = until cleared.
    FailRequests {
        path_contains: String,
        status: u16,
        times: u32,
    },
}

/// Calls per subscription key within the window.
#[derive(Default)]
pub(crate) struct RateLimiter {
    hits: std::collections::HashMap<String, std::collections::VecDeque<Instant>>,
}

impl RateLimiter {
    /// `Err(retry_after_secs)` when the budget of `key` is used up.
    pub(crate) fn check(
        &mut self,
        key: &str,
        limit: u32,
        window: Duration,
        now: Instant,
    ) -> Result<(), u64> {
        if limit == 0 {
            return Ok(());
        }
        let q = self.hits.entry(key.to_owned()).or_default();
        while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
            q.pop_front();
        }
        if q.len() >= limit as usize {
            let oldest = q.front().copied().unwrap_or(now);
            let wait = window.saturating_sub(now.duration_since(oldest));
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Err(secs.max(1));
        }
        q.push_back(now);
        Ok(())
    }
}

/// Continuation tokens handed out (token → binding, next position, page).
#[derive(Default)]
pub(crate) struct PageTokens {
    map: std::collections::HashMap<String, PageToken>,
    order: std::collections::VecDeque<String>,
}

#[derive(Clone)]
pub(crate) struct PageToken {
    pub binding: String,
    pub start: usize,
    pub page: u32,
}

const PAGE_TOKEN_LIMIT: usize = 100_000;

impl PageTokens {
    pub(crate) fn insert(&mut self, token: String, value: PageToken) {
        if self.order.len() >= PAGE_TOKEN_LIMIT
            && let Some(old) = self.order.pop_front()
        {
            self.map.remove(&old);
        }
        self.order.push_back(token.clone());
        self.map.insert(token, value);
    }

    pub(crate) fn get(&self, token: &str) -> Option<PageToken> {
        self.map.get(&token.trim().to_ascii_lowercase()).cloned()
    }
}

pub(crate) struct Shared {
    pub(crate) cfg: PaycorConfig,
    store: RwLock<Store>,
    faults: Mutex<Vec<Fault>>,
    keys: Mutex<Vec<String>>,
    pub(crate) limiter: Mutex<RateLimiter>,
    pub(crate) sts: Mutex<sts::Tokens>,
    pub(crate) pages: Mutex<PageTokens>,
    denied: Mutex<HashSet<Permission>>,
    events: Mutex<events::Events>,
    requests: AtomicU64,
    list_requests: AtomicU64,
    /// How far [`PaycorState::advance_clock`] moved the emulator's clock, in milliseconds.
    clock_offset_ms: AtomicU64,
    /// When the static token expires (emulator clock).
    pub(crate) static_expires: Instant,
    /// API calls that carried a token this emulator issued (or the static one) after it expired.
    expired_token_requests: AtomicU64,
    /// Successful `grant_type=refresh_token` calls.
    pub(crate) refresh_grants: AtomicU64,
}

/// The emulated Paycor API. Cheap to clone (shared state); clones see and
/// change the same data, also while it is being served.
#[derive(Clone)]
pub struct PaycorState {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for PaycorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaycorState")
            .field("legal_entity_id", &self.shared.cfg.legal_entity_id)
            .field("employees", &self.len())
            .field("requests", &self.request_count())
            .finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn as_map(fields: Value) -> Map<String, Value> {
    match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

/// A `PaycorError` body.
pub(crate) fn paycor_error_value(title: &str, detail: &str, source: Value) -> Value {
    json!({
        "correlationId": model::guid(&mut fastrand::Rng::new()),
        "title": title,
        "detail": detail,
        "source": source,
    })
}

pub(crate) enum ListFault {
    Status(u16),
    Malformed,
    Slow(Duration),
}

impl PaycorState {
    /// Generate the legal entity deterministically from `cfg.seed`: the
    /// first employee is the CEO (no manager), the next ones head the
    /// departments, everybody else reports to an earlier member of their
    /// department. About 83 % Active, 6 % on leave, 11 % separated; with
    /// 40 or more employees every `EmploymentStatus` occurs.
    pub fn generate(cfg: &PaycorConfig) -> PaycorState {
        let store = generate::generate(cfg.employees, cfg.seed, cfg.legal_entity_id, cfg.tenant_id);
        let mut tokens = sts::Tokens::default();
        if let Some(rt) = &cfg.refresh_token {
            tokens.refresh.insert(rt.clone(), true);
        }
        PaycorState {
            shared: Arc::new(Shared {
                cfg: cfg.clone(),
                store: RwLock::new(store),
                faults: Mutex::new(Vec::new()),
                keys: Mutex::new(vec![cfg.subscription_key.clone()]),
                limiter: Mutex::new(RateLimiter::default()),
                sts: Mutex::new(tokens),
                pages: Mutex::new(PageTokens::default()),
                denied: Mutex::new(HashSet::new()),
                events: Mutex::new(events::Events::default()),
                requests: AtomicU64::new(0),
                list_requests: AtomicU64::new(0),
                clock_offset_ms: AtomicU64::new(0),
                static_expires: Instant::now() + cfg.static_token_ttl,
                expired_token_requests: AtomicU64::new(0),
                refresh_grants: AtomicU64::new(0),
            }),
        }
    }

    /// The configuration it was generated from.
    pub fn config(&self) -> &PaycorConfig {
        &self.shared.cfg
    }

    pub(crate) fn store(&self) -> RwLockReadGuard<'_, Store> {
        self.shared
            .store
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn store_mut(&self) -> RwLockWriteGuard<'_, Store> {
        self.shared
            .store
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn count_request(&self) {
        self.shared.requests.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn count_list_request(&self) {
        self.shared.list_requests.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn is_key(&self, key: &str) -> bool {
        lock(&self.shared.keys).iter().any(|k| k == key)
    }

    pub(crate) fn is_granted(&self, p: Permission) -> bool {
        !lock(&self.shared.denied).contains(&p)
    }

    /// Consumes one call of a `RateLimited` fault.
    pub(crate) fn take_rate_limit_fault(&self) -> Option<u64> {
        let mut faults = lock(&self.shared.faults);
        let pos = faults
            .iter()
            .position(|f| matches!(f, Fault::RateLimited { .. }))?;
        let Fault::RateLimited {
            calls,
            retry_after_secs,
        } = &mut faults[pos]
        else {
            return None;
        };
        let secs = *retry_after_secs;
        *calls = calls.saturating_sub(1);
        if *calls == 0 {
            faults.remove(pos);
        }
        Some(secs)
    }

    /// Consumes one call of an `ExpiredToken` fault.
    pub(crate) fn take_expired_token_fault(&self) -> bool {
        let mut faults = lock(&self.shared.faults);
        let Some(pos) = faults
            .iter()
            .position(|f| matches!(f, Fault::ExpiredToken { .. }))
        else {
            return false;
        };
        if let Fault::ExpiredToken { calls } = &mut faults[pos] {
            *calls = calls.saturating_sub(1);
            if *calls == 0 {
                faults.remove(pos);
            }
        }
        true
    }

    /// The status of a `FailRequests` fault matching `path` (lower-case).
    pub(crate) fn take_request_fault(&self, path: &str) -> Option<u16> {
        let mut faults = lock(&self.shared.faults);
        let pos = faults.iter().position(|f| match f {
            Fault::FailRequests { path_contains, .. } => {
                path.contains(&path_contains.to_ascii_lowercase())
            }
            _ => false,
        })?;
        let Fault::FailRequests { status, times, .. } = &mut faults[pos] else {
            return None;
        };
        let status = *status;
        if *times > 0 {
            *times -= 1;
            if *times == 0 {
                faults.remove(pos);
            }
        }
        Some(status)
    }

    pub(crate) fn take_list_fault(&self, page: u32) -> Option<ListFault> {
        let mut faults = lock(&self.shared.faults);
        let pos = faults.iter().position(|f| match f {
            Fault::FailListPage { page: p, .. }
            | Fault::MalformedListPage { page: p }
            | Fault::SlowListPage { page: p, .. }
            | Fault::FailListPageTimes { page: p, .. } => *p == page,
            _ => false,
        })?;
        match &mut faults[pos] {
            Fault::FailListPage { status, .. } => Some(ListFault::Status(*status)),
            Fault::MalformedListPage { .. } => Some(ListFault::Malformed),
            Fault::SlowListPage { delay, .. } => Some(ListFault::Slow(*delay)),
            Fault::FailListPageTimes { status, times, .. } => {
                let status = *status;
                *times = times.saturating_sub(1);
                if *times == 0 {
                    faults.remove(pos);
                }
                Some(ListFault::Status(status))
            }
            _ => None,
        }
    }

    /// Records an `Employee.Modified` event for `employee_id` and sends it
    /// to the subscriptions.
    pub(crate) fn employee_modified(&self, employee_id: &str) {
        let cfg = &self.shared.cfg;
        let event = events::event(
            "Employee.Modified",
            cfg.tenant_id,
            Some(cfg.legal_entity_id),
            Some(employee_id),
        );
        self.emit(event, None);
    }

    /// Records `event`; sends it to `target` (url, secret) if given, else to
    /// every subscription.
    pub(crate) fn emit(&self, event: Value, target: Option<(String, String)>) {
        let mut ev = lock(&self.shared.events);
        ev.record(event.clone());
        let targets: Vec<(String, String, bool)> = match target {
            _ if ev.paused => Vec::new(),
            Some((url, secret)) => vec![(url, secret, false)],
            None => ev
                .subscriptions
                .iter()
                .map(|s| (s.url.clone(), s.secret.clone(), s.pascal))
                .collect(),
        };
        drop(ev);
        for (url, secret, pascal) in targets {
            let body = if pascal {
                events::pascal_case(&event)
            } else {
                event.clone()
            };
            events::deliver(url, secret, body);
        }
    }

    fn render_all(&self, store: &Store, idx: usize) -> Value {
        store.render_employee(&store.employees[idx], Includes::ALL, EmailType::Work, false)
    }

    /// Hire an employee (what HR does in Paycor's UI). `fields` (camelCase):
    /// `firstName` and `lastName` required; optional `middleName`,
    /// `legalFirstName`, `workEmail` (default `first.last@…`; `null` for
    /// none), `homeEmail`, `hireDate`, `departmentCode` or `departmentId`,
    /// `jobTitle`, `workLocation` (name), `managerId` (default: the
    /// department's head), `status`, `employeeNumber`, `isFullTime`, `flsa`,
    /// `type`. Returns the employee as `GET /v1/employees/{id}?include=All`
    /// shows it, or a `PaycorError` object (`{"correlationId","title",
    /// "detail","source"}`) if rejected.
    pub fn hire(&self, fields: Value) -> Value {
        let map = as_map(fields);
        let mut store = self.store_mut();
        match writes::hire(&mut store, &map, today()) {
            Ok(idx) => {
                let value = self.render_all(&store, idx);
                let id = store.employees[idx].id.clone();
                drop(store);
                self.employee_modified(&id);
                value
            }
            Err(invalid) => paycor_error_value(
                "Validation Error",
                "A validation error occurred. See the source for more information about specific errors.",
                invalid.source(),
            ),
        }
    }

    /// Change an employee as HR would: any field [`PaycorState::hire`]
    /// accepts plus `legalLastName`, `alternateEmployeeNumber`, `jobCode`,
    /// `status` (with `statusDate`, default today; `terminationReason` /
    /// `leaveReason`, `eligibleForRehire`), `terminationDate`, `reHireDate`;
    /// `null` clears optional fields (`managerId: null` removes the manager).
    /// The employee with `include=All`, or `None` if unknown or rejected.
    pub fn update(&self, id: &str, fields: Value) -> Option<Value> {
        let map = as_map(fields);
        let mut store = self.store_mut();
        let idx = store.index_of(id)?;
        writes::admin_update(&mut store, idx, &map, today()).ok()?;
        let value = self.render_all(&store, idx);
        let id = store.employees[idx].id.clone();
        drop(store);
        self.employee_modified(&id);
        Some(value)
    }

    /// Set status `Terminated` with `terminationDate` = `date`
    /// (`YYYY-MM-DD`), `eligibleForRehire` "Yes". `false` if unknown or bad
    /// date.
    pub fn terminate(&self, id: &str, date: &str) -> bool {
        self.set_status(id, EmploymentStatus::Terminated, date)
    }

    /// Set any status effective `date` (`YYYY-MM-DD`) with the fields that
    /// go with it (termination date / leave start). `false` if unknown or
    /// bad date.
    pub fn set_status(&self, id: &str, status: EmploymentStatus, date: &str) -> bool {
        let Some(date) = model::parse_date(date) else {
            return false;
        };
        let mut store = self.store_mut();
        let Some(idx) = store.index_of(id) else {
            return false;
        };
        let rehire = status.is_separated().then(|| "Yes".to_owned());
        model::apply_status(&mut store.employees[idx], status, date, None, rehire);
        let id = store.employees[idx].id.clone();
        drop(store);
        self.employee_modified(&id);
        true
    }

    /// One employee as `GET /v1/employees/{id}?include=All` shows it.
    pub fn employee(&self, id: &str) -> Option<Value> {
        let store = self.store();
        let idx = store.index_of(id)?;
        Some(self.render_all(&store, idx))
    }

    /// All employees (`include=All`), in list order.
    pub fn employees(&self) -> Vec<Value> {
        let store = self.store();
        (0..store.employees.len())
            .map(|i| self.render_all(&store, i))
            .collect()
    }

    /// All employee ids, in list order.
    pub fn employee_ids(&self) -> Vec<String> {
        self.store()
            .employees
            .iter()
            .map(|e| e.id.clone())
            .collect()
    }

    /// The person of an employee as `GET /v1/employees/{id}/person?include=All` shows it.
    pub fn person(&self, employee_id: &str) -> Option<Value> {
        let store = self.store();
        let e = store.employee(employee_id)?;
        Some(store.render_person(e, PersonIncludes::ALL, true))
    }

    /// Number of employees (all statuses; Paycor never deletes).
    pub fn len(&self) -> usize {
        self.store().employees.len()
    }

    /// Whether there is no employee.
    pub fn is_empty(&self) -> bool {
        self.store().employees.is_empty()
    }

    /// Requests received on any path (including rejected ones).
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Authenticated requests of the legal entity's employee list (v1 and
    /// v2), including ones answered with a fault or a 4xx.
    pub fn list_request_count(&self) -> u64 {
        self.shared.list_requests.load(Ordering::SeqCst)
    }

    /// Add a fault (see [`Fault`]).
    pub fn set_fault(&self, fault: Fault) {
        lock(&self.shared.faults).push(fault);
    }

    /// Remove all faults.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Take a data-access permission away from the app (→ 403).
    pub fn revoke(&self, p: Permission) {
        lock(&self.shared.denied).insert(p);
    }

    /// Give a revoked permission back.
    pub fn grant(&self, p: Permission) {
        lock(&self.shared.denied).remove(&p);
    }

    /// Accept another subscription key (it has its own rate-limit budget).
    pub fn add_subscription_key(&self, key: &str) {
        let mut keys = lock(&self.shared.keys);
        if !keys.iter().any(|k| k == key) {
            keys.push(key.to_owned());
        }
    }

    /// Forget the rate-limit history of every key.
    pub fn reset_rate_limit(&self) {
        *lock(&self.shared.limiter) = RateLimiter::default();
    }

    /// A new refresh token the STS accepts (once; it rotates).
    pub fn issue_refresh_token(&self) -> String {
        let token = sts::random_hex(32);
        lock(&self.shared.sts).refresh.insert(token.clone(), true);
        token
    }

    /// A new access token like the STS mints (expires after
    /// `access_token_ttl`).
    pub fn issue_access_token(&self) -> String {
        http::mint(self)
    }

    /// The emulator's clock: the monotonic clock plus every [`Self::advance_clock`]. Token
    /// lifetimes (static, minted, authorization codes) and the rate-limit window run on it.
    pub fn now(&self) -> Instant {
        Instant::now() + self.clock_offset()
    }

    /// How far the clock has been advanced in total.
    pub fn clock_offset(&self) -> Duration {
        Duration::from_millis(self.shared.clock_offset_ms.load(Ordering::SeqCst))
    }

    /// Moves the emulator's clock forward (a test simulates hours without waiting): tokens
    /// older than their lifetime are refused from then on.
    pub fn advance_clock(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.shared.clock_offset_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// API calls refused because their bearer token (the static one, or one the STS minted)
    /// had expired. A client that renews in time never makes one.
    pub fn expired_token_requests(&self) -> u64 {
        self.shared.expired_token_requests.load(Ordering::SeqCst)
    }

    /// Successful refresh-token grants so far (each one rotated the refresh token).
    pub fn refresh_grants(&self) -> u64 {
        self.shared.refresh_grants.load(Ordering::SeqCst)
    }

    pub(crate) fn count_expired_token(&self) {
        self.shared
            .expired_token_requests
            .fetch_add(1, Ordering::SeqCst);
    }

    /// Make every STS-minted access token invalid (the static one stays).
    pub fn expire_access_tokens(&self) {
        lock(&self.shared.sts).access.clear();
    }

    /// Send every future `Employee.Modified` event to `url` (`http://` only)
    /// with `secret` as the `Authorization` header.
    pub fn subscribe_events(&self, url: &str, secret: &str) {
        self.subscribe(url, secret, false);
    }

    /// Like [`Self::subscribe_events`], the event's keys PascalCase (`EventType`, `EventId`,
    /// `ItemId`, …) as older Paycor specs show them (the casing is not documented).
    pub fn subscribe_events_pascal_case(&self, url: &str, secret: &str) {
        self.subscribe(url, secret, true);
    }

    /// While paused, events are recorded ([`Self::events`]) but not delivered (a test
    /// changes data quietly, then sends its own event).
    pub fn set_events_paused(&self, paused: bool) {
        lock(&self.shared.events).paused = paused;
    }

    fn subscribe(&self, url: &str, secret: &str, pascal: bool) {
        lock(&self.shared.events)
            .subscriptions
            .push(events::Subscription {
                url: url.to_owned(),
                secret: secret.to_owned(),
                pascal,
            });
    }

    /// Every event emitted so far (oldest first).
    pub fn events(&self) -> Vec<Value> {
        lock(&self.shared.events).outbox.clone()
    }

    /// The emulated legal entity id.
    pub fn legal_entity_id(&self) -> i64 {
        self.shared.cfg.legal_entity_id
    }

    /// The emulated tenant id.
    pub fn tenant_id(&self) -> i64 {
        self.shared.cfg.tenant_id
    }
}

/// The axum router serving `state` under `base_path` (`""` or `/` = at the
/// root, like `https://apis.paycor.com`).
pub fn router(state: PaycorState, base_path: &str) -> axum::Router {
    let app = http::App {
        state,
        base: Arc::from(http::normalize_base(base_path)),
    };
    axum::Router::new().fallback(http::dispatch).with_state(app)
}

/// Bind `addr` (port 0 allowed) and serve in a background task. Returns the
/// bound address and the task (abort it to stop serving).
pub async fn serve(
    state: PaycorState,
    base_path: &str,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = router(state, base_path);
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("paycor emulator stopped: {e}");
        }
    });
    Ok((local, handle))
}
