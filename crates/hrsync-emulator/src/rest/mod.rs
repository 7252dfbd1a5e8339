//! # Generic REST HR test server ("Acme HR")
//!
//! A small, made-up but realistic HR REST API for testing hrsync's custom
//! REST endpoint connector against every common pagination style. One
//! company, a deterministic seed-generated workforce, runtime mutations
//! (hire, terminate, remove, edit any field) and injectable faults.
//!
//! ## API (base path `/api/v2`)
//! * **Auth** on every route: `Authorization: Bearer <token>` must equal the
//!   configured token, else 401 `{"error":"invalid_token","message":…}`
//!   (with `WWW-Authenticate: Bearer`); with an API key configured,
//!   `X-API-Key` must equal it, else 403 `{"error":"forbidden",…}`. Secrets
//!   are compared in constant time.
//! * **Rate limit** (optional, checked first, before auth): at most `max`
//!   requests per sliding `window`, counted across all routes (requests it
//!   rejects do not count); beyond it 429 `{"error":"rate_limited"}` with
//!   `Retry-After: <retry_after_secs>`. `max == 0` means no limit.
//! * `GET /api/v2/companies/{company}/employees` — `{company}` must equal the
//!   configured name (case-sensitive) else 404 `{"error":"not_found"}`;
//!   `updated_since=<RFC 3339>` keeps employees with `updated_at` >= it (400
//!   `{"error":"bad_request","message":…}` when unparsable; a literal `+` in
//!   the query decodes to a space, so it must be sent as `%2B`). Ordered by
//!   id (`E0001` < `E0002` < … < `E10000`). Paged by [`Style`]; page sizes
//!   default to [`RestConfig::page_size`], at most 100 (larger → 100), 0 or
//!   a non-number → 400.
//!   `ids=E0001,E0002` keeps only those employees (exact ids; empty = all).
//! * `GET /api/v2/companies/{company}/employees/{id}` — one employee, the same
//!   record as in the list; unknown id → 404 `{"error":"not_found"}`.
//! * `GET /api/v2/companies/{company}/compensation` — records
//!   `{"employee_id","grade","currency"}` of every employee (minus
//!   [`RestState::hide_compensation`], plus
//!   [`RestState::add_orphan_compensation`]), ordered by employee id, paged
//!   with exactly the same envelope as the employees list (in the `cursor`
//!   style the array key is `employees` there too). No `updated_since`.
//! * `GET /api/v2/employees/{id}/details` —
//!   `{"employee_id","phone","office","title","cost_center"}`; unknown or
//!   hidden id → 404 `{"error":"not_found"}`.
//! * Unknown paths → 404 `{"error":"not_found"}` (after auth); a method
//!   other than GET → 405 `{"error":"method_not_allowed"}`.
//!
//! ## Pagination styles
//! | style | request | body |
//! |---|---|---|
//! | `page` | `page` (1-based), `per_page` | `{"data":{"items":[…]},"meta":{"page","per_page","total","total_pages"}}` |
//! | `offset` | `offset`, `limit` | `{"results":[…],"count":total}` |
//! | `cursor` | `cursor` (absent or empty = start), `limit` | `{"employees":[…],"next_cursor":"…"\|null}` |
//! | `next_url` | `after` (absent or empty = start), `limit` | `{"items":[…],"links":{"next":"http://{Host}/api/v2/…?limit=K&after=…"\|null}}` |
//! | `link` | `page`, `per_page` | bare array; `X-Total-Count: N`; `Link: <…>; rel="next", <…>; rel="last"` only when there is a next page |
//!
//! Cursors are opaque (hex of the next offset, masked with a salt random per
//! server instance, plus a check value): a garbled or foreign cursor → 400.
//! A cursor does not carry `limit` or `updated_since`: repeat them (the
//! `next_url` and `Link` URLs already do). Pages past the end are empty.
//!
//! ## Faults ([`Fault`], employees list only for the page faults)
//! The page number N is `page` in the `page`/`link` styles and
//! `offset / limit + 1` in the others. [`Fault::MalformedPage`] answers 200
//! with the page's JSON cut in half; [`Fault::StatusOnPage`] answers the
//! status with `{"error":"injected_fault","message":…}` (plus `Retry-After`
//! for 429/503); [`Fault::DetailsStatus`] does the same for one id's
//! details. Faults stay until [`RestState::clear_faults`].
//!
//! Every request (also rejected ones) is recorded ([`RestState::requests`],
//! the most recent 100 000).

mod generate;
mod http;
#[cfg(test)]
mod tests;

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use generate::{Emails, Record};

/// The largest page a client may ask for.
pub const MAX_PAGE_SIZE: usize = 100;

/// Request-log entries kept (the oldest are dropped).
const LOG_CAPACITY: usize = 100_000;

/// How the list endpoints are paged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// `page` + `per_page`, `{"data":{"items"}, "meta":{…}}`.
    Page,
    /// `offset` + `limit`, `{"results","count"}`.
    Offset,
    /// `cursor` + `limit`, `{"employees","next_cursor"}`.
    Cursor,
    /// `after` + `limit`, `{"items","links":{"next"}}` (absolute URL).
    NextUrl,
    /// `page` + `per_page`, bare array, `Link` + `X-Total-Count` headers.
    Link,
}

impl Style {
    /// All styles.
    pub const ALL: [Style; 5] = [
        Style::Page,
        Style::Offset,
        Style::Cursor,
        Style::NextUrl,
        Style::Link,
    ];

    /// The CLI name: `page`, `offset`, `cursor`, `next_url`, `link`.
    pub fn name(self) -> &'static str {
        match self {
            Style::Page => "page",
            Style::Offset => "offset",
            Style::Cursor => "cursor",
            Style::NextUrl => "next_url",
            Style::Link => "link",
        }
    }
}

impl std::fmt::Display for Style {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Style {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "page" => Ok(Style::Page),
            "offset" => Ok(Style::Offset),
            "cursor" => Ok(Style::Cursor),
            "next_url" | "nexturl" => Ok(Style::NextUrl),
            "link" => Ok(Style::Link),
            _ => Err(format!(
                "unknown pagination style '{s}' (expected page, offset, cursor, next_url or link)"
            )),
        }
    }
}

/// A sliding-window rate limit across all routes.
#[derive(Clone, Copy, Debug)]
pub struct RateLimit {
    /// Requests allowed per window (0 = unlimited).
    pub max: u32,
    /// The sliding window.
    pub window: Duration,
    /// The `Retry-After` of a 429, in seconds.
    pub retry_after_secs: u64,
}

impl RateLimit {
    /// `max` requests per `window`, `Retry-After: 1`.
    pub fn new(max: u32, window: Duration) -> RateLimit {
        RateLimit {
            max,
            window,
            retry_after_secs: 1,
        }
    }
}

/// What to serve.
#[derive(Clone, Debug)]
pub struct RestConfig {
    /// The `{company}` path segment accepted (case-sensitive); also the
    /// e-mail domain (`{company}.example`).
    pub company: String,
    /// The accepted bearer token.
    pub token: String,
    /// When set, `X-API-Key` must equal it.
    pub api_key: Option<String>,
    /// Pagination style of the list endpoints.
    pub style: Style,
    /// Default page size (clamped to 1..=100).
    pub page_size: usize,
    /// Number of generated employees.
    pub employees: usize,
    /// Seed of the deterministic generator.
    pub seed: u64,
    /// Optional rate limit.
    pub rate_limit: Option<RateLimit>,
}

impl Default for RestConfig {
    fn default() -> Self {
        RestConfig {
            company: "acme".to_owned(),
            token: "test-token".to_owned(),
            api_key: None,
            style: Style::Page,
            page_size: 25,
            employees: 60,
            seed: 1,
            rate_limit: None,
        }
    }
}

/// An injectable failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The Nth page (1-based) of the employees list answers 200 with a
    /// truncated JSON body, every time.
    MalformedPage { page: u64 },
    /// The Nth page of the employees list answers `status` with a small
    /// JSON error body, every time.
    StatusOnPage { page: u64, status: u16 },
    /// The details of `id` answer `status`.
    DetailsStatus { id: String, status: u16 },
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct RequestLog {
    pub method: String,
    pub path: String,
    /// The raw query string ("" when none).
    pub query: String,
    pub at: Instant,
    pub status: u16,
}

struct Inner {
    cfg: RestConfig,
    /// Ordered by id.
    records: Vec<Record>,
    emails: Emails,
    next_number: u64,
    hidden_details: HashSet<String>,
    hidden_compensation: HashSet<String>,
    orphans: Vec<String>,
    faults: Vec<Fault>,
    hits: VecDeque<Instant>,
    log: VecDeque<RequestLog>,
    /// Masks cursors; random per instance.
    salt: u64,
}

/// The emulated server. Cheap to clone; clones share the data, also while
/// it is being served.
#[derive(Clone)]
pub struct RestState {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for RestState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("RestState")
            .field("company", &inner.cfg.company)
            .field("style", &inner.cfg.style)
            .field("employees", &inner.records.len())
            .finish_non_exhaustive()
    }
}

/// Sort key giving numeric order to `E` + zero-padded ids.
fn id_key(id: &str) -> (usize, &str) {
    (id.len(), id)
}

fn set_pointer(doc: &mut Value, pointer: &str, value: Value) -> bool {
    if !pointer.starts_with('/') {
        return false;
    }
    if let Some(slot) = doc.pointer_mut(pointer) {
        *slot = value;
        return true;
    }
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return false;
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    match doc.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.insert(key, value);
            true
        }
        _ => false,
    }
}

impl Inner {
    fn find(&mut self, id: &str) -> Option<&mut Record> {
        self.records.iter_mut().find(|r| r.id() == id)
    }

    fn sort(&mut self) {
        self.records
            .sort_by(|a, b| id_key(a.id()).cmp(&id_key(b.id())));
    }
}

fn now_string() -> String {
    generate::timestamp(Utc::now())
}

impl RestState {
    /// Generate the workforce deterministically from `cfg.seed` (see the
    /// module docs).
    pub fn generate(cfg: RestConfig) -> RestState {
        let domain = format!("{}.example", cfg.company.to_ascii_lowercase());
        let (records, emails) = generate::generate(cfg.employees, cfg.seed, &domain);
        RestState {
            inner: Arc::new(Mutex::new(Inner {
                next_number: records.len() as u64 + 1,
                records,
                emails,
                cfg,
                hidden_details: HashSet::new(),
                hidden_compensation: HashSet::new(),
                orphans: Vec::new(),
                faults: Vec::new(),
                hits: VecDeque::new(),
                log: VecDeque::new(),
                salt: fastrand::Rng::new().u64(..),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The configuration (with the current rate limit).
    pub fn config(&self) -> RestConfig {
        self.lock().cfg.clone()
    }

    /// Every employee, ordered by id.
    pub fn employees(&self) -> Vec<Value> {
        self.lock()
            .records
            .iter()
            .map(|r| r.employee.clone())
            .collect()
    }

    /// One employee.
    pub fn employee(&self, id: &str) -> Option<Value> {
        self.lock().find(id).map(|r| r.employee.clone())
    }

    /// Hire someone (status active, hired today, `updated_at` now) into the
    /// department with this code (an unknown code is used as its name too);
    /// the manager is the department's first employee. Returns the new id.
    pub fn hire(&self, first: &str, last: &str, department_code: &str) -> String {
        let mut inner = self.lock();
        let number = inner.next_number;
        inner.next_number += 1;
        let dept = generate::department(department_code);
        let dept_name = dept.map_or(department_code, |d| d.name);
        let title = dept
            .and_then(|d| d.titles.first())
            .copied()
            .unwrap_or("Employee");
        let cost_center = dept.map_or("CC-000", |d| d.cost_center);
        let manager = inner
            .records
            .iter()
            .find(|r| {
                r.employee
                    .pointer("/job/department/code")
                    .and_then(Value::as_str)
                    == Some(department_code)
            })
            .or_else(|| inner.records.first())
            .map(|r| r.id().to_owned());
        let domain = format!("{}.example", inner.cfg.company.to_ascii_lowercase());
        let email = inner.emails.take(first, last, &domain);
        let location = generate::first_location();
        let now = Utc::now();
        let employee = generate::employee_json(&generate::NewEmployee {
            number,
            first,
            last,
            preferred: None,
            email,
            title,
            department_code,
            department_name: dept_name,
            location,
            manager,
            status: "active",
            hire_date: now.date_naive(),
            termination_date: None,
            updated_at: now,
        });
        let details = generate::details_json(number, "", title, cost_center, 1);
        inner.records.push(Record {
            employee,
            details,
            grade: "G1".to_owned(),
            currency: generate::currency_of(location).to_owned(),
        });
        inner.sort();
        generate::employee_id(number)
    }

    /// Terminate (status `terminated`, termination date today, `updated_at`
    /// now). False for an unknown id.
    pub fn terminate(&self, id: &str) -> bool {
        let mut inner = self.lock();
        let Some(r) = inner.find(id) else {
            return false;
        };
        let now = Utc::now();
        let e = &mut r.employee;
        set_pointer(e, "/status", json!("terminated"));
        set_pointer(
            e,
            "/termination_date",
            json!(generate::date(now.date_naive())),
        );
        set_pointer(e, "/updated_at", json!(generate::timestamp(now)));
        true
    }

    /// Delete from HR entirely (with its details and compensation).
    pub fn remove(&self, id: &str) -> bool {
        let mut inner = self.lock();
        let before = inner.records.len();
        inner.records.retain(|r| r.id() != id);
        inner.records.len() != before
    }

    /// Set the value at a JSON pointer (`/personal/last_name`; a missing last
    /// key is added to an existing object) and bump `updated_at` to now
    /// (unless the pointer is `/updated_at`). False for an unknown id or an
    /// unreachable pointer.
    pub fn set_field(&self, id: &str, pointer: &str, value: Value) -> bool {
        let mut inner = self.lock();
        let Some(r) = inner.find(id) else {
            return false;
        };
        if !set_pointer(&mut r.employee, pointer, value) {
            return false;
        }
        if pointer != "/updated_at" {
            set_pointer(&mut r.employee, "/updated_at", json!(now_string()));
        }
        if pointer == "/id" {
            inner.sort();
        }
        true
    }

    /// Set `updated_at` exactly.
    pub fn set_updated_at(&self, id: &str, at: DateTime<Utc>) -> bool {
        let mut inner = self.lock();
        match inner.find(id) {
            Some(r) => set_pointer(
                &mut r.employee,
                "/updated_at",
                json!(generate::timestamp(at)),
            ),
            None => false,
        }
    }

    /// Make the details of `id` answer 404.
    pub fn hide_details(&self, id: &str) {
        self.lock().hidden_details.insert(id.to_owned());
    }

    /// Leave `id` out of the compensation list.
    pub fn hide_compensation(&self, id: &str) {
        self.lock().hidden_compensation.insert(id.to_owned());
    }

    /// Add a compensation record for an id that need not be an employee
    /// (`grade` `G0`, `currency` `EUR`).
    pub fn add_orphan_compensation(&self, id: &str) {
        let mut inner = self.lock();
        if !inner.orphans.iter().any(|o| o == id) {
            inner.orphans.push(id.to_owned());
        }
    }

    /// Inject a fault (it stays until [`RestState::clear_faults`]).
    pub fn set_fault(&self, f: Fault) {
        self.lock().faults.push(f);
    }

    /// Remove every fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Change (or remove) the rate limit; the window starts afresh.
    pub fn set_rate_limit(&self, r: Option<RateLimit>) {
        let mut inner = self.lock();
        inner.cfg.rate_limit = r;
        inner.hits.clear();
    }

    /// The requests served so far, oldest first.
    pub fn requests(&self) -> Vec<RequestLog> {
        self.lock().log.iter().cloned().collect()
    }

    /// Forget the recorded requests.
    pub fn clear_requests(&self) {
        self.lock().log.clear();
    }

    // ---------------------------------------------------------- for http.rs

    pub(crate) fn record_request(&self, entry: RequestLog) {
        let mut inner = self.lock();
        if inner.log.len() >= LOG_CAPACITY {
            inner.log.pop_front();
        }
        inner.log.push_back(entry);
    }

    /// `Err(retry_after_secs)` when the budget is used up; else the request
    /// is counted.
    pub(crate) fn check_rate(&self, now: Instant) -> Result<(), u64> {
        let mut inner = self.lock();
        let Some(rl) = inner.cfg.rate_limit else {
            return Ok(());
        };
        if rl.max == 0 {
            return Ok(());
        }
        while inner
            .hits
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= rl.window)
        {
            inner.hits.pop_front();
        }
        if inner.hits.len() >= rl.max as usize {
            return Err(rl.retry_after_secs);
        }
        inner.hits.push_back(now);
        Ok(())
    }

    pub(crate) fn page_fault(&self, page: u64) -> Option<http::PageFault> {
        let inner = self.lock();
        inner
            .faults
            .iter()
            .find_map(|f| match f {
                Fault::StatusOnPage { page: p, status } if *p == page => {
                    Some(http::PageFault::Status(*status))
                }
                _ => None,
            })
            .or_else(|| {
                inner.faults.iter().find_map(|f| match f {
                    Fault::MalformedPage { page: p } if *p == page => {
                        Some(http::PageFault::Malformed)
                    }
                    _ => None,
                })
            })
    }

    pub(crate) fn details_fault(&self, id: &str) -> Option<u16> {
        self.lock().faults.iter().find_map(|f| match f {
            Fault::DetailsStatus { id: i, status } if i == id => Some(*status),
            _ => None,
        })
    }

    /// The details of a visible employee.
    pub(crate) fn details(&self, id: &str) -> Option<Value> {
        let mut inner = self.lock();
        if inner.hidden_details.contains(id) {
            return None;
        }
        inner.find(id).map(|r| r.details.clone())
    }

    /// Total and one slice of the employees updated at or after `since`.
    pub(crate) fn employee_page(
        &self,
        since: Option<DateTime<Utc>>,
        ids: Option<&[&str]>,
        offset: usize,
        limit: usize,
    ) -> (usize, Vec<Value>) {
        let inner = self.lock();
        let keep = |r: &&Record| match since {
            _ if ids.is_some_and(|ids| !ids.contains(&r.id())) => false,
            None => true,
            Some(since) => r
                .employee
                .get("updated_at")
                .and_then(Value::as_str)
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                // An unparsable updated_at (set by a test) is never filtered out.
                .is_none_or(|at| at.with_timezone(&Utc) >= since),
        };
        let total = inner.records.iter().filter(keep).count();
        let items = inner
            .records
            .iter()
            .filter(keep)
            .skip(offset)
            .take(limit)
            .map(|r| r.employee.clone())
            .collect();
        (total, items)
    }

    /// Total and one slice of the compensation records.
    pub(crate) fn compensation_page(&self, offset: usize, limit: usize) -> (usize, Vec<Value>) {
        let inner = self.lock();
        let mut all: Vec<(String, Value)> = inner
            .records
            .iter()
            .filter(|r| !inner.hidden_compensation.contains(r.id()))
            .map(|r| {
                let id = r.id().to_owned();
                let v = json!({"employee_id": id, "grade": r.grade, "currency": r.currency});
                (id, v)
            })
            .collect();
        for o in &inner.orphans {
            all.push((
                o.clone(),
                json!({"employee_id": o, "grade": "G0", "currency": "EUR"}),
            ));
        }
        all.sort_by(|a, b| id_key(&a.0).cmp(&id_key(&b.0)));
        let total = all.len();
        let items = all
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|(_, v)| v)
            .collect();
        (total, items)
    }

    pub(crate) fn salt(&self) -> u64 {
        self.lock().salt
    }
}

/// The axum router serving `state` under `/api/v2`.
pub fn router(state: RestState) -> axum::Router {
    axum::Router::new()
        .fallback(http::dispatch)
        .with_state(state)
}

/// Bind `addr` (port 0 allowed) and serve in a background task. Returns the
/// bound address and the task (abort it to stop serving).
pub async fn serve(
    state: RestState,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = router(state);
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("rest emulator stopped: {e}");
        }
    });
    Ok((local, handle))
}
