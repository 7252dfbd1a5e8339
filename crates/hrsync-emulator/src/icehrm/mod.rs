//! # IceHrm v35 REST API emulator
//!
//! An in-memory stand-in for the open-source IceHrm **v35.0.0** REST API
//! (`{server}/app/api/...`), built from the upstream source and from 47
//! responses captured from a real v35 instance. It serves a deterministic,
//! seed-generated company and lets tests change it (hire, update, terminate,
//! delete) and inject faults while a client is syncing.
//!
//! ## What is emulated
//! * `GET /employees` — `limit` (default 50, no maximum), 1-based `page`,
//!   `filters` (URL-encoded JSON object of `column = value`; an array value is
//!   an OR; empty, `0`, `"0"` and `"NULL"` values are skipped; relations such
//!   as `department` compare by raw id), `search` (SQL `LIKE %term%` over
//!   `first_name`, `last_name`, `employee_id`, `other_id`, `driving_license`,
//!   `country`), `sortField` + `sortOrder`. Answer `{"data","total","nextPage"}`.
//!   As on the real v35: an empty filter array drops the filter (everyone); a
//!   filter on anything but a column of `Employees` (unknown, or computed such
//!   as `email`) and an unknown `sortField` are a 500 with an empty body.
//! * `GET /employees/{id}`, `GET /employees/me`, `POST /employees` (201),
//!   `PUT /employees/{id}` (partial, 200), `DELETE /employees/{id}` (hard delete),
//!   `GET /company/structures/{id}/details` (no token needed), `GET /echo`,
//!   `OPTIONS` on anything (200, empty).
//! * Auth: `Authorization: Bearer <jwt>`; without an `Authorization` header,
//!   `?token=`. The caller is always the **Admin** user of employee 1.
//! * Employee JSON: every column of the real list item in the real key order,
//!   relations as `{"type","id"|"code","display"}` objects, `image` (the v35
//!   DiceBear URL with `md5(first_name.last_name)`), `email`, `customFields`.
//! * Output bytes as PHP's `json_encode(.., JSON_PRETTY_PRINT)`: 4-space
//!   indent, `\/`, non-ASCII as `\uXXXX`. Every response has
//!   `Content-Type: application/json` (also the 500s and the text `404`).
//!
//! ## Quirks reproduced on purpose (all observed on the real server)
//! * `nextPage` is always `page + 1`, even past the end (`data: []`).
//! * Without `sortField` there is no ORDER BY (rows come in id order here);
//!   `sortOrder` other than empty/`ascend` means DESC (so `asc` sorts descending).
//! * The caller's own employee (id 1) is moved to the top of whatever page it is on.
//! * List items keep `null` fields; GET-one removes them and adds
//!   `current_time`, `can_login` and, for employee 1, `user_name`,
//!   `user_email`, `user_level`. GET-one also maps `nationality`, approvers and
//!   `indirect_supervisors` (which stays the raw JSON-encoded string like
//!   `"[3,4]"`), and adds the supervisor's `image`.
//! * A relation pointing to a missing row stays a raw scalar (e.g. an
//!   `approver1` of a deleted employee). Deleting an employee sets its
//!   subordinates' `supervisor` to null (`ON DELETE SET NULL`).
//! * `email` of employee 1 is the login user's e-mail: a `PUT work_email`
//!   changes `work_email` but not `email` for that employee.
//! * `timezone` is filled from the department when the column is empty.
//! * Errors are `{"error":[[{"code":C,"message":M}]]}` with HTTP status C:
//!   403 `Authorization bearer token is empty` (no token, non-Bearer scheme,
//!   bad signature, expired `expire`), 403 `... is invalid` (validly signed,
//!   unknown inner hash), HTTP 500 with an **empty body** for a token that is
//!   not a JWT and for `GET /employees/{unknown}`, 400 `Error modifying
//!   employee` for any rejected PUT (unknown id, bad enum, bad date, FK),
//!   400 with the raw MariaDB text for a rejected POST (`Duplicate entry 'X'
//!   for key 'employee_id'`, `Data truncated for column 'status' at row 1`,
//!   FK failures), and on POST or PUT for a 4-byte character such as an emoji
//!   (`Incorrect string value: '\xF0\x9F\x98\x80' for column …`: the tables
//!   are utf8mb3), 400 `Item not found` for DELETE of an unknown id, 404 with
//!   the bare text `404` for unknown routes and wrong methods.
//!   `DELETE` answers `{"id":"5"}` — the id as a **string**.
//! * Comparisons in `filters`, `search` and sorting follow MariaDB's
//!   `utf8_general_ci`: case- and accent-insensitive (`Jose` matches `José`).
//!
//! ## Faults ([`Fault`])
//! A failing or malformed list page, the "token invalidated by a password
//! change" answer (HTTP 200 with `{"error":[[{"code":null,"message":false}]]}`),
//! and employees deleted right after a given page was served (rows shift back
//! by SQL offset, so a paging client misses rows that still exist).
//!
//! ## Known gaps
//! Only the Admin view (no Manager/Employee tokens), no sub-resources
//! (`/employees/{id}/skills`, attendance, leaves…), no `rest.php?method=&url=`
//! variant, no "REST API disabled" mode; MariaDB error texts use the database
//! name `icehrm`; accent folding is an approximation of the collation;
//! the avatar initials of names starting with a multi-byte letter are the real
//! letter here (v35 took the first *byte*; its exact output is unknown).

mod auth;
mod data;
mod generate;
mod http;
mod md5;
mod model;
mod phpjson;
mod query;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::{Map, Value, json};

pub use auth::{is_jwt_shaped, make_token};

use http::ListFault;
use model::{Db, WriteError};

/// How to build the emulated instance.
#[derive(Debug, Clone)]
pub struct IceHrmConfig {
    /// Number of generated employees (ids `1..=employees`, `EMP00001`…).
    pub employees: usize,
    /// Seed of the deterministic generator.
    pub seed: u64,
    /// The admin's "Api Access" token that is accepted.
    pub token: String,
    /// Where the API lives, default `/app/api`.
    pub base_path: String,
}

impl Default for IceHrmConfig {
    fn default() -> Self {
        IceHrmConfig {
            employees: 50,
            seed: 1,
            // 2100-01-01T00:00:00Z
            token: make_token("hrsync-emulator", 4_102_444_800),
            base_path: "/app/api".to_owned(),
        }
    }
}

/// A fault to inject into the served API. Faults stay active until
/// [`IceHrmState::clear_faults`] (except `FailListPageTimes`, which wears off).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// `GET /employees` for this page answers this status with an empty body
    /// (500 = what a PHP fatal error looks like).
    FailListPage { page: u64, status: u16 },
    /// `GET /employees` for this page answers 200 with truncated, invalid JSON.
    MalformedListPage { page: u64 },
    /// Every authenticated call answers HTTP 200
    /// `{"error":[[{"code":null,"message":false}]]}` (token invalidated by a
    /// password change). A missing/invalid token still gets its 403/500 first.
    ErrorBodyWith200,
    /// Like `FailListPage`, but only for the next `times` requests of that page.
    FailListPageTimes { page: u64, status: u16, times: u32 },
    /// Right after `GET /employees` has served this page (once, then the fault is gone),
    /// these employees are hard-deleted, as if HR deleted them while a client was paging.
    /// Offset paging then shifts every later row back by one per deleted row that came
    /// before it: a client that goes on with the next page never sees those rows, and
    /// `total` drops between pages — exactly as on the real server.
    DeleteAfterPage { page: u64, ids: Vec<i64> },
    /// Right after list page `page` was served, these people are hired (`POST /employees`
    /// bodies). With [`Fault::DeleteAfterPage`] on the same page and as many hires as
    /// deletes, the total stays the same while offset paging still skips people: a fetch
    /// that looks complete and is not (what a lookup by key has to catch).
    HireAfterPage { page: u64, people: Vec<Value> },
    /// `GET /employees` whose `filters` name this value (e.g. one employee_id among those a
    /// targeted run asks for) answers this status with an empty body, every time: one
    /// person whose lookup always fails.
    FailFilterOn { value: String, status: u16 },
}

pub(crate) struct Shared {
    /// Readers (list pages, GET-one) share it; writes are exclusive.
    db: RwLock<Db>,
    /// Each employee's list item as served, until the next write (see `render_list_cached`).
    list_items: RwLock<HashMap<i64, Box<[u8]>>>,
    faults: Mutex<Vec<Fault>>,
    list_requests: AtomicU64,
    pub(crate) token: String,
}

/// The emulated instance. Cheap to clone (shared state); clones see and
/// change the same data, also while it is being served.
#[derive(Clone)]
pub struct IceHrmState {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for IceHrmState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IceHrmState")
            .field("employees", &self.len())
            .field("list_requests", &self.request_count())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn as_map(fields: Value) -> Map<String, Value> {
    match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

impl IceHrmState {
    /// Generate the company deterministically from `cfg.seed`: employee 1 is
    /// the admin (CEO, top of the supervisor tree), 2–11 head the departments,
    /// everybody else reports to an earlier employee of their department.
    pub fn generate(cfg: &IceHrmConfig) -> IceHrmState {
        IceHrmState {
            shared: Arc::new(Shared {
                db: RwLock::new(generate::generate(cfg.employees, cfg.seed)),
                list_items: RwLock::new(HashMap::new()),
                faults: Mutex::new(Vec::new()),
                list_requests: AtomicU64::new(0),
                token: cfg.token.clone(),
            }),
        }
    }

    /// Shared read access to the database.
    pub(crate) fn db(&self) -> RwLockReadGuard<'_, Db> {
        self.shared
            .db
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Exclusive access for writes. The list items kept as served are dropped: the write
    /// may change any of them (a supervisor's name shows in their reports' items).
    pub(crate) fn db_mut(&self) -> RwLockWriteGuard<'_, Db> {
        let db = self
            .shared
            .db
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.list_items_mut().clear();
        db
    }

    pub(crate) fn list_items(&self) -> RwLockReadGuard<'_, HashMap<i64, Box<[u8]>>> {
        self.shared
            .list_items
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn list_items_mut(&self) -> RwLockWriteGuard<'_, HashMap<i64, Box<[u8]>>> {
        self.shared
            .list_items
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn faults(&self) -> Vec<Fault> {
        lock(&self.shared.faults).clone()
    }

    pub(crate) fn count_list_request(&self) {
        self.shared.list_requests.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn take_list_fault(&self, page: u64) -> Option<ListFault> {
        let mut faults = lock(&self.shared.faults);
        let pos = faults.iter().position(|f| match f {
            Fault::FailListPage { page: p, .. }
            | Fault::MalformedListPage { page: p }
            | Fault::FailListPageTimes { page: p, .. } => *p == page,
            Fault::ErrorBodyWith200
            | Fault::DeleteAfterPage { .. }
            | Fault::HireAfterPage { .. }
            | Fault::FailFilterOn { .. } => false,
        })?;
        match &mut faults[pos] {
            Fault::FailListPage { status, .. } => Some(ListFault::Status(*status)),
            Fault::MalformedListPage { .. } => Some(ListFault::Malformed),
            Fault::FailListPageTimes { status, times, .. } => {
                let status = *status;
                *times = times.saturating_sub(1);
                if *times == 0 {
                    faults.remove(pos);
                }
                Some(ListFault::Status(status))
            }
            Fault::ErrorBodyWith200
            | Fault::DeleteAfterPage { .. }
            | Fault::HireAfterPage { .. }
            | Fault::FailFilterOn { .. } => None,
        }
    }

    /// The status a [`Fault::FailFilterOn`] answers for these `filters`, if one matches.
    pub(crate) fn filter_fault(&self, filters: Option<&String>) -> Option<u16> {
        let filters = filters?;
        lock(&self.shared.faults).iter().find_map(|f| match f {
            Fault::FailFilterOn { value, status } if filters.contains(value.as_str()) => {
                Some(*status)
            }
            _ => None,
        })
    }

    /// Runs the [`Fault::DeleteAfterPage`] and [`Fault::HireAfterPage`] faults of `page`
    /// (once each). Returns how many employees were deleted.
    pub(crate) fn after_list_page(&self, page: u64) -> usize {
        let (ids, hires): (Vec<i64>, Vec<Value>) = {
            let mut faults = lock(&self.shared.faults);
            let mut ids = Vec::new();
            let mut hires = Vec::new();
            faults.retain(|f| match f {
                Fault::DeleteAfterPage { page: p, ids: del } if *p == page => {
                    ids.extend_from_slice(del);
                    false
                }
                Fault::HireAfterPage { page: p, people } if *p == page => {
                    hires.extend(people.iter().cloned());
                    false
                }
                _ => true,
            });
            (ids, hires)
        };
        let deleted = if ids.is_empty() {
            0
        } else {
            let mut db = self.db_mut();
            ids.iter().filter(|id| db.delete(**id)).count()
        };
        for h in hires {
            self.hire(h);
        }
        deleted
    }

    /// Create an employee like `POST /employees` with `fields` as the body
    /// (`first_name`, `last_name`, `department` id, `job_title` id,
    /// `supervisor` id, `work_email`, `employee_id`, …). When `employee_id` is
    /// absent, `EMP<id>` is assigned. Returns the new employee in list shape,
    /// or the IceHrm error object (`{"error":[[{"code":400,"message":..}]]}`)
    /// if the database would reject it (duplicate `employee_id`, bad enum,
    /// unknown department …).
    pub fn hire(&self, fields: Value) -> Value {
        let mut map = as_map(fields);
        let mut db = self.db_mut();
        if !map.contains_key("employee_id") {
            map.insert("employee_id".into(), json!(format!("EMP{:05}", db.next_id)));
        }
        match db.insert(&map) {
            Ok(id) => db
                .rows
                .get(&id)
                .map(|row| db.render_list_item(row))
                .unwrap_or(Value::Null),
            Err(WriteError::Db(message)) => {
                json!({"error": [[{"code": 400, "message": message}]]})
            }
            Err(WriteError::NotFound) => {
                json!({"error": [[{"code": 400, "message": "Error modifying employee"}]]})
            }
        }
    }

    /// Partial update like `PUT /employees/{id}`; the updated employee in list
    /// shape, `None` if it does not exist or the update is rejected.
    pub fn update(&self, id: i64, fields: Value) -> Option<Value> {
        let map = as_map(fields);
        let mut db = self.db_mut();
        db.update(id, &map).ok()?;
        db.rows.get(&id).map(|row| db.render_list_item(row))
    }

    /// Set `status` Terminated and `termination_date` (`YYYY-MM-DD`), as the
    /// UI "Terminate Employee" action does. `false` if unknown or bad date.
    pub fn terminate(&self, id: i64, date: &str) -> bool {
        let fields = json!({"status": "Terminated", "termination_date": date});
        self.db_mut().update(id, &as_map(fields)).is_ok()
    }

    /// Hard delete (like `DELETE /employees/{id}`). `false` if unknown.
    pub fn delete(&self, id: i64) -> bool {
        self.db_mut().delete(id)
    }

    /// Add a fault (see [`Fault`]).
    pub fn set_fault(&self, fault: Fault) {
        lock(&self.shared.faults).push(fault);
    }

    /// Remove all faults.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// One employee in list shape (all keys, nulls kept).
    pub fn employee(&self, id: i64) -> Option<Value> {
        let db = self.db();
        db.rows.get(&id).map(|row| db.render_list_item(row))
    }

    /// All employees in list shape, in id order.
    pub fn employees(&self) -> Vec<Value> {
        let db = self.db();
        db.rows
            .values()
            .map(|row| db.render_list_item(row))
            .collect()
    }

    /// Number of employees currently stored.
    pub fn len(&self) -> usize {
        self.db().rows.len()
    }

    /// Whether no employee is stored.
    pub fn is_empty(&self) -> bool {
        self.db().rows.is_empty()
    }

    /// Number of `GET /employees` list requests received (including ones
    /// answered with an auth error or an injected fault).
    pub fn request_count(&self) -> u64 {
        self.shared.list_requests.load(Ordering::SeqCst)
    }

    /// The accepted token.
    pub fn token(&self) -> &str {
        &self.shared.token
    }
}

/// The axum router serving `state` under `base_path` (e.g. `/app/api`; `""`
/// or `/` serves at the root).
pub fn router(state: IceHrmState, base_path: &str) -> axum::Router {
    let app = http::App {
        state,
        base: Arc::from(http::normalize_base(base_path)),
    };
    axum::Router::new().fallback(http::dispatch).with_state(app)
}

/// Bind `addr` (port 0 allowed) and serve in a background task. Returns the
/// bound address and the task (abort it to stop serving).
pub async fn serve(
    state: IceHrmState,
    base_path: &str,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = router(state, base_path);
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("icehrm emulator stopped: {e}");
        }
    });
    Ok((local, handle))
}
