//! HTTP layer: one fallback handler doing what APIM + the API do in order:
//! subscription key → rate limit → bearer token → route → permission →
//! endpoint.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::model::{
    EmailType, Employee, EmploymentStatus, Includes, Invalid, PersonIncludes, Store, guid, is_guid,
};
use super::sts::{self, AuthCode, Claims};
use super::{
    ListFault, PageToken, PaycorState, Permission, events, lock, paycor_error_value, writes,
};

#[derive(Clone)]
pub(crate) struct App {
    pub state: PaycorState,
    /// Normalized base path: "" or "/something" (no trailing slash).
    pub base: Arc<str>,
}

pub(crate) fn normalize_base(base_path: &str) -> String {
    let trimmed = base_path.trim().trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

/// An early answer.
type Reply = Box<Response>;

// ------------------------------------------------------------------ responses

fn respond(status: StatusCode, content_type: Option<&'static str>, body: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    if let Some(ct) = content_type {
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    resp
}

fn status_code(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The API's JSON (ASP.NET Core).
fn json_response(status: StatusCode, value: &Value) -> Response {
    respond(
        status,
        Some("application/json; charset=utf-8"),
        serde_json::to_vec(value).unwrap_or_default(),
    )
}

fn empty(status: StatusCode) -> Response {
    respond(status, None, Vec::new())
}

/// APIM's own JSON errors.
fn apim(status: u16, message: &str) -> Response {
    respond(
        status_code(status),
        Some("application/json"),
        serde_json::to_vec(&json!({"statusCode": status, "message": message})).unwrap_or_default(),
    )
}

fn rate_limited(secs: u64) -> Response {
    let mut resp = apim(
        429,
        &format!("Rate limit is exceeded. Try again in {secs} seconds."),
    );
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

fn unauthorized() -> Response {
    let mut resp = empty(StatusCode::UNAUTHORIZED);
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

fn forbidden() -> Response {
    empty(StatusCode::FORBIDDEN)
}

fn paycor_error(status: u16, title: &str, detail: &str, source: Value) -> Response {
    json_response(
        status_code(status),
        &paycor_error_value(title, detail, source),
    )
}

fn validation(invalid: &Invalid) -> Response {
    paycor_error(
        400,
        "Validation Error",
        "A validation error occurred. See the source for more information about specific errors.",
        invalid.source(),
    )
}

fn bad_param(name: &str, value: &str) -> Reply {
    Box::new(validation(&Invalid::one(
        name,
        format!("The value '{value}' is not valid."),
    )))
}

fn not_found(detail: &str) -> Response {
    paycor_error(404, "Not Found", detail, Value::Null)
}

fn not_found_id(what: &str, id: &str) -> Response {
    not_found(&format!(
        "{what} '{id}' does not exist or is not in a valid state."
    ))
}

/// The answer of a `Fault` status: 401 empty, anything else a `PaycorError`.
fn fault_response(status: u16) -> Response {
    match status {
        401 => unauthorized(),
        403 => forbidden(),
        429 => rate_limited(60),
        _ => paycor_error(
            status,
            status_code(status)
                .canonical_reason()
                .unwrap_or("Internal Server Error"),
            "An unexpected error occurred. Please try again later.",
            Value::Null,
        ),
    }
}

// ------------------------------------------------------------------ requests

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decoded query parameters in order; keys compare case-insensitively.
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
    /// The raw `k=v` pairs, for `additionalResultsUrl`.
    raw: Vec<(String, String)>,
}

impl Query {
    fn parse(q: Option<&str>) -> Query {
        let mut pairs = Vec::new();
        let mut raw = Vec::new();
        for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            pairs.push((percent_decode(k), percent_decode(v)));
            raw.push((k.to_owned(), v.to_owned()));
        }
        Query { pairs, raw }
    }

    fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.pairs
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The first non-empty value (ASP.NET binds the first for scalars).
    fn get(&self, key: &str) -> Option<&str> {
        self.all(key).find(|v| !v.trim().is_empty())
    }

    fn is_paging_key(k: &str) -> bool {
        k.eq_ignore_ascii_case("continuationToken")
            || k.eq_ignore_ascii_case("continuationTokenId")
            || k.eq_ignore_ascii_case("subscription-key")
    }

    /// Path + the sorted parameters except paging and key: what a
    /// continuation token is bound to.
    fn binding(&self, path: &str) -> String {
        let mut params: Vec<String> = self
            .pairs
            .iter()
            .filter(|(k, _)| !Query::is_paging_key(k))
            .map(|(k, v)| format!("{}={}", k.to_ascii_lowercase(), v.to_ascii_lowercase()))
            .collect();
        params.sort();
        format!("{}?{}", path.to_ascii_lowercase(), params.join("&"))
    }

    /// The original query without paging/key parameters, plus the token.
    fn next_url(&self, path: &str, token: &str) -> String {
        let mut parts: Vec<String> = self
            .raw
            .iter()
            .filter(|(k, _)| !Query::is_paging_key(&percent_decode(k)))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        parts.push(format!("continuationToken={token}"));
        format!("{path}?{}", parts.join("&"))
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

fn subscription_key(headers: &HeaderMap, q: &Query) -> Option<String> {
    headers
        .get("ocp-apim-subscription-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .or_else(|| q.get("subscription-key").map(|v| v.trim().to_owned()))
}

/// Whether `token` is live; a known but expired token is counted
/// ([`PaycorState::expired_token_requests`]).
fn token_ok(state: &PaycorState, token: &str) -> bool {
    let now = state.now();
    let expires = if token == state.shared.cfg.access_token {
        Some(state.shared.static_expires)
    } else {
        lock(&state.shared.sts).access.get(token).copied()
    };
    match expires {
        Some(exp) if now < exp => true,
        Some(_) => {
            state.count_expired_token();
            false
        }
        None => false,
    }
}

pub(crate) fn mint(state: &PaycorState) -> String {
    let cfg = &state.shared.cfg;
    let token = sts::mint_access_token(&Claims {
        client_id: &cfg.client_id,
        scope_identifier: &cfg.scope_identifier,
        legal_entity_id: cfg.legal_entity_id,
        tenant_id: cfg.tenant_id,
        ttl: cfg.access_token_ttl,
        now: chrono::Utc::now()
            + chrono::Duration::from_std(state.clock_offset()).unwrap_or_default(),
    });
    let expires = state.now() + cfg.access_token_ttl;
    lock(&state.shared.sts)
        .access
        .insert(token.clone(), expires);
    token
}

// ------------------------------------------------------------------ routing

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

#[derive(Debug)]
enum Route {
    ActivatedList,
    LegalEntity,
    LeEmployees(Version),
    LeIdentifying,
    LePersons,
    LeDepartments,
    LeDepartment(String),
    LeWorkLocations,
    LeWorkLocation(String),
    LeJobTitles,
    Tenant,
    TenantEmployees,
    TenantPersons,
    TenantPerson(String),
    TenantWorkLocations,
    TenantJobTitles,
    Employee(String, Version),
    PutContact(String),
    EmployeePerson(String),
    PutPosition(String),
    PutStatus(String),
    PutPositionAndStatus(String),
    MockEvent,
}

enum Scope {
    None,
    LegalEntity(String),
    Tenant(String),
}

enum RouteError {
    NotFound,
    MethodNotAllowed,
}

fn route(method: &Method, segs: &[&str], raw: &[&str]) -> Result<(Route, Scope), RouteError> {
    use RouteError::{MethodNotAllowed, NotFound};
    let get = *method == Method::GET;
    let put = *method == Method::PUT;
    let only = |ok: bool, r: Route, s: Scope| {
        if ok {
            Ok((r, s))
        } else {
            Err(MethodNotAllowed)
        }
    };
    let le = |i: usize| Scope::LegalEntity(raw[i].to_owned());
    let tn = |i: usize| Scope::Tenant(raw[i].to_owned());
    let version = match segs.first() {
        Some(&"v1") => Version::V1,
        Some(&"v2") => Version::V2,
        _ => return Err(NotFound),
    };
    let v1 = version == Version::V1;
    match &segs[1..] {
        ["legalentities", "activatedlegalentitytenantlist"] if v1 => {
            only(get, Route::ActivatedList, Scope::None)
        }
        ["legalentities", _] if v1 => only(get, Route::LegalEntity, le(2)),
        ["legalentities", _, "employees"] => only(get, Route::LeEmployees(version), le(2)),
        ["legalentities", _, "employeesidentifyingdata"] => only(get, Route::LeIdentifying, le(2)),
        ["legalentities", _, "persons"] if v1 => only(get, Route::LePersons, le(2)),
        ["legalentities", _, "departments"] if v1 => only(get, Route::LeDepartments, le(2)),
        ["legalentities", _, "departments", _] if v1 => {
            only(get, Route::LeDepartment(raw[4].to_owned()), le(2))
        }
        ["legalentities", _, "worklocations"] if v1 => only(get, Route::LeWorkLocations, le(2)),
        ["legalentities", _, "worklocations", _] if v1 => {
            only(get, Route::LeWorkLocation(raw[4].to_owned()), le(2))
        }
        ["legalentities", _, "jobtitles"] if v1 => only(get, Route::LeJobTitles, le(2)),
        ["tenants", _] if v1 => only(get, Route::Tenant, tn(2)),
        ["tenants", _, "employees"] if v1 => only(get, Route::TenantEmployees, tn(2)),
        ["tenants", _, "persons"] if v1 => only(get, Route::TenantPersons, tn(2)),
        ["tenants", _, "persons", _] if v1 => {
            only(get, Route::TenantPerson(raw[4].to_owned()), tn(2))
        }
        ["tenants", _, "worklocations"] if v1 => only(get, Route::TenantWorkLocations, tn(2)),
        ["tenants", _, "jobtitles"] if v1 => only(get, Route::TenantJobTitles, tn(2)),
        ["employees", _] => {
            let id = raw[2].to_owned();
            match (method, version) {
                (&Method::GET, _) => Ok((Route::Employee(id, version), Scope::None)),
                (&Method::PUT, Version::V1) => Ok((Route::PutContact(id), Scope::None)),
                _ => Err(MethodNotAllowed),
            }
        }
        ["employees", _, "person"] if v1 => {
            only(get, Route::EmployeePerson(raw[2].to_owned()), Scope::None)
        }
        ["employees", _, "position"] if v1 => {
            only(put, Route::PutPosition(raw[2].to_owned()), Scope::None)
        }
        ["employees", _, "status"] if v1 => {
            only(put, Route::PutStatus(raw[2].to_owned()), Scope::None)
        }
        ["employees", _, "positionandstatus"] if v1 => only(
            put,
            Route::PutPositionAndStatus(raw[2].to_owned()),
            Scope::None,
        ),
        ["events", "mockevent"] if v1 => {
            only(*method == Method::POST, Route::MockEvent, Scope::None)
        }
        _ => Err(NotFound),
    }
}

pub(crate) async fn dispatch(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let state = &app.state;
    state.count_request();
    let path = uri.path();
    let rest = if app.base.is_empty() {
        Some(path)
    } else {
        path.strip_prefix(&*app.base)
            .filter(|r| r.is_empty() || r.starts_with('/'))
    };
    let Some(rest) = rest else {
        return apim(404, "Resource not found");
    };
    let rest = rest.trim_end_matches('/');
    let raw: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let lower: Vec<String> = raw.iter().map(|s| s.to_ascii_lowercase()).collect();
    let segs: Vec<&str> = lower.iter().map(String::as_str).collect();
    let q = Query::parse(uri.query());

    // The activation page lives on hcm.paycor.com, outside APIM.
    if segs == ["appactivation", "authorize"] {
        return authorize(state, &q);
    }

    // APIM: subscription key, then the rate limit.
    let Some(key) = subscription_key(&headers, &q) else {
        return apim(
            401,
            "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.",
        );
    };
    if !state.is_key(&key) {
        return apim(
            401,
            "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription.",
        );
    }
    if let Some(secs) = state.take_rate_limit_fault() {
        return rate_limited(secs);
    }
    let cfg = &state.shared.cfg;
    let verdict = lock(&state.shared.limiter).check(
        &key,
        cfg.rate_limit_per_minute,
        cfg.rate_limit_window,
        state.now(),
    );
    if let Err(secs) = verdict {
        return rate_limited(secs);
    }

    if segs == ["sts", "v1", "common", "token"] {
        if method != Method::POST {
            return empty(StatusCode::METHOD_NOT_ALLOWED);
        }
        return token_endpoint(state, &headers, &body);
    }

    // The API: bearer token.
    let token_valid = bearer(&headers).is_some_and(|t| token_ok(state, &t));
    if !token_valid || state.take_expired_token_fault() {
        return unauthorized();
    }

    let lower_path = lower.join("/");
    let (route, scope) = match route(&method, &segs, &raw) {
        Ok(r) => r,
        Err(RouteError::NotFound) => {
            return not_found(&format!("No resource matches {} {rest}.", method.as_str()));
        }
        Err(RouteError::MethodNotAllowed) => return empty(StatusCode::METHOD_NOT_ALLOWED),
    };
    if is_list_route(&route) {
        state.count_list_request();
    }
    // Route constraints ({id:int}) and what the token covers.
    match &scope {
        Scope::None => {}
        Scope::LegalEntity(id) => match id.parse::<i32>() {
            Ok(id) if i64::from(id) == cfg.legal_entity_id => {}
            Ok(_) => return forbidden(),
            Err(_) => {
                return not_found(&format!("No resource matches {} {rest}.", method.as_str()));
            }
        },
        Scope::Tenant(id) => match id.parse::<i32>() {
            Ok(id) if i64::from(id) == cfg.tenant_id => {}
            Ok(_) => return forbidden(),
            Err(_) => {
                return not_found(&format!("No resource matches {} {rest}.", method.as_str()));
            }
        },
    }
    if let Some(status) = state.take_request_fault(&format!("/{lower_path}")) {
        return fault_response(status);
    }
    let ctx = Ctx {
        state,
        q: &q,
        path: rest,
    };
    let result = match route {
        Route::ActivatedList => Ok(json_response(
            StatusCode::OK,
            &json!({"userLegalEntities": [{
                "legalEntityId": cfg.legal_entity_id,
                "tenantId": cfg.tenant_id,
            }]}),
        )),
        Route::LegalEntity => Ok(json_response(
            StatusCode::OK,
            &state.store().render_legal_entity(),
        )),
        Route::Tenant => Ok(json_response(
            StatusCode::OK,
            &state.store().render_tenant(),
        )),
        Route::LeEmployees(v) => le_employees(&ctx, v).await,
        Route::LeIdentifying => identifying(&ctx),
        Route::LePersons => persons(&ctx, Permission::ViewLegalEntityPersons),
        Route::TenantPersons => persons(&ctx, Permission::ViewLegalEntityPersons),
        Route::TenantPerson(id) => tenant_person(&ctx, &id),
        Route::LeDepartments => departments(&ctx),
        Route::LeDepartment(id) => department(&ctx, &id),
        Route::LeWorkLocations | Route::TenantWorkLocations => work_locations(&ctx),
        Route::LeWorkLocation(id) => work_location(&ctx, &id),
        Route::LeJobTitles => job_titles(&ctx, Permission::ViewLegalEntityJobTitles),
        Route::TenantJobTitles => job_titles(&ctx, Permission::ViewTenantJobTitles),
        Route::TenantEmployees => tenant_employees(&ctx),
        Route::Employee(id, v) => employee(&ctx, &id, v),
        Route::EmployeePerson(id) => employee_person(&ctx, &id),
        Route::PutContact(id) => write(&ctx, &headers, &body, &id, Write::Contact),
        Route::PutPosition(id) => write(&ctx, &headers, &body, &id, Write::Position),
        Route::PutStatus(id) => write(&ctx, &headers, &body, &id, Write::Status),
        Route::PutPositionAndStatus(id) => {
            write(&ctx, &headers, &body, &id, Write::PositionAndStatus)
        }
        Route::MockEvent => mock_event(&ctx, &headers, &body),
    };
    result.unwrap_or_else(|r| *r)
}

fn is_list_route(r: &Route) -> bool {
    matches!(r, Route::LeEmployees(_))
}

struct Ctx<'a> {
    state: &'a PaycorState,
    q: &'a Query,
    /// The request path below the base (for `additionalResultsUrl`).
    path: &'a str,
}

impl Ctx<'_> {
    fn require(&self, p: Permission) -> Result<(), Reply> {
        if self.state.is_granted(p) {
            Ok(())
        } else {
            Err(Box::new(forbidden()))
        }
    }

    /// An include permission: 403, or `false` (block becomes null).
    fn include_allowed(&self, p: Permission) -> Result<bool, Reply> {
        if self.state.is_granted(p) {
            Ok(true)
        } else if self.state.shared.cfg.forbid_ungranted_includes {
            Err(Box::new(forbidden()))
        } else {
            Ok(false)
        }
    }
}

// ------------------------------------------------------------------ parameters

fn employee_includes(q: &Query) -> Result<Includes, Reply> {
    let mut inc = Includes::default();
    for v in q.all("include") {
        match v.trim().to_ascii_lowercase().as_str() {
            "" => {}
            "all" => inc = Includes::ALL,
            "employmentdates" => inc.dates = true,
            "position" => inc.position = true,
            "status" => inc.status = true,
            "worklocation" => inc.work_location = true,
            _ => return Err(bad_param("include", v)),
        }
    }
    Ok(inc)
}

fn person_includes(q: &Query, emergency_allowed: bool) -> Result<PersonIncludes, Reply> {
    let mut inc = PersonIncludes::default();
    for v in q.all("include") {
        match v.trim().to_ascii_lowercase().as_str() {
            "" => {}
            "all" => {
                inc = PersonIncludes::ALL;
                inc.emergency_contact = emergency_allowed;
            }
            "demographic" => inc.demographic = true,
            "benefit" => inc.benefit = true,
            "military" => inc.military = true,
            "socialmedia" => inc.social_media = true,
            "addresses" => inc.addresses = true,
            "employeeassignments" => inc.employee_assignments = true,
            "emergencycontact" if emergency_allowed => inc.emergency_contact = true,
            "socialsecuritynumber" => inc.ssn = true,
            "phones" => inc.phones = true,
            "email" => inc.email = true,
            _ => return Err(bad_param("include", v)),
        }
    }
    Ok(inc)
}

fn email_type(q: &Query) -> Result<EmailType, Reply> {
    match q.get("emailType") {
        None => Ok(EmailType::Work),
        Some(v) if v.trim().eq_ignore_ascii_case("work") => Ok(EmailType::Work),
        Some(v) if v.trim().eq_ignore_ascii_case("home") => Ok(EmailType::Home),
        Some(v) => Err(bad_param("emailType", v)),
    }
}

/// The list filters of R2/R4.
struct Filters {
    status: Option<EmploymentStatus>,
    employee_number: Option<i32>,
    last_name: Option<String>,
    department_code: Option<i64>,
    work_location: Option<String>,
    job_code: Option<String>,
}

impl Filters {
    fn parse(q: &Query, with_job_code: bool) -> Result<Filters, Reply> {
        let status = match q.get("statusFilter") {
            None => None,
            Some(v) => {
                Some(EmploymentStatus::parse(v).ok_or_else(|| bad_param("statusFilter", v))?)
            }
        };
        let employee_number = match q.get("employeeNumber") {
            None => None,
            Some(v) => Some(
                v.trim()
                    .parse::<i32>()
                    .map_err(|_| bad_param("employeeNumber", v))?,
            ),
        };
        let department_code = match q.get("departmentCode") {
            None => None,
            Some(v) => Some(
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| bad_param("departmentCode", v))?,
            ),
        };
        Ok(Filters {
            status,
            employee_number,
            last_name: q.get("lastName").map(|s| s.trim().to_lowercase()),
            department_code,
            work_location: q.get("workLocationName").map(|s| s.trim().to_lowercase()),
            job_code: if with_job_code {
                q.get("jobCode").map(|s| s.trim().to_lowercase())
            } else {
                None
            },
        })
    }

    fn matches(&self, store: &Store, e: &Employee) -> bool {
        if self.status.is_some_and(|s| s != e.status) {
            return false;
        }
        if let Some(n) = self.employee_number
            && e.employee_number.trim().parse::<i64>().ok() != Some(i64::from(n))
        {
            return false;
        }
        if let Some(l) = &self.last_name
            && e.last_name.to_lowercase() != *l
        {
            return false;
        }
        if let Some(code) = self.department_code {
            let dept_code = store
                .departments
                .get(e.department)
                .and_then(|d| d.code.parse::<i64>().ok());
            if dept_code != Some(code) {
                return false;
            }
        }
        if let Some(w) = &self.work_location {
            let name = store
                .work_locations
                .get(e.work_location)
                .map(|l| l.name.to_lowercase());
            if name.as_deref() != Some(w.as_str()) {
                return false;
            }
        }
        if let Some(j) = &self.job_code
            && e.job_code.as_deref().map(str::to_lowercase).as_deref() != Some(j.as_str())
        {
            return false;
        }
        true
    }
}

// ------------------------------------------------------------------ paging

struct PageReq {
    binding: String,
    start: usize,
    page: u32,
}

fn page_request(ctx: &Ctx<'_>) -> Result<PageReq, Reply> {
    let binding = ctx.q.binding(ctx.path);
    let token = ctx
        .q
        .get("continuationToken")
        .or_else(|| ctx.q.get("continuationTokenId"));
    let Some(token) = token else {
        return Ok(PageReq {
            binding,
            start: 0,
            page: 1,
        });
    };
    if !is_guid(token) {
        return Err(bad_param("continuationToken", token));
    }
    let Some(t) = lock(&ctx.state.shared.pages).get(token) else {
        return Err(Box::new(validation(&Invalid::one(
            "continuationToken",
            "The continuation token is invalid or has expired.",
        ))));
    };
    if t.binding != binding {
        return Err(Box::new(validation(&Invalid::one(
            "continuationToken",
            "The continuation token does not match the request parameters.",
        ))));
    }
    Ok(PageReq {
        binding,
        start: t.start,
        page: t.page,
    })
}

/// Takes up to `size` items at positions ≥ `start`; also the position of
/// the next one, if any.
fn take_page<T>(
    items: impl Iterator<Item = (usize, T)>,
    start: usize,
    size: usize,
) -> (Vec<T>, Option<usize>) {
    let mut out = Vec::new();
    for (pos, item) in items.filter(|(p, _)| *p >= start) {
        if out.len() >= size.max(1) {
            return (out, Some(pos));
        }
        out.push(item);
    }
    (out, None)
}

fn envelope(ctx: &Ctx<'_>, req: &PageReq, records: Vec<Value>, next: Option<usize>) -> Value {
    match next {
        Some(start) => {
            let token = guid(&mut fastrand::Rng::new());
            lock(&ctx.state.shared.pages).insert(
                token.clone(),
                PageToken {
                    binding: req.binding.clone(),
                    start,
                    page: req.page + 1,
                },
            );
            json!({
                "hasMoreResults": true,
                "continuationToken": token,
                "additionalResultsUrl": ctx.q.next_url(ctx.path, &token),
                "records": records,
            })
        }
        None => json!({
            "hasMoreResults": false,
            "continuationToken": Value::Null,
            "additionalResultsUrl": Value::Null,
            "records": records,
        }),
    }
}

// ------------------------------------------------------------------ reads

async fn le_employees(ctx: &Ctx<'_>, version: Version) -> Result<Response, Reply> {
    ctx.require(Permission::ViewLegalEntityEmployees)?;
    let mut inc = employee_includes(ctx.q)?;
    if inc.dates {
        inc.dates = ctx.include_allowed(Permission::ViewLegalEntityEmployeesEmploymentDates)?;
    }
    if inc.position {
        inc.position = ctx.include_allowed(Permission::ViewLegalEntityEmployeesPosition)?;
    }
    if inc.status {
        inc.status = ctx.include_allowed(Permission::ViewLegalEntityEmployeesStatus)?;
    }
    if inc.work_location {
        inc.work_location =
            ctx.include_allowed(Permission::ViewLegalEntityEmployeesWorkLocation)?;
    }
    let email = email_type(ctx.q)?;
    let filters = Filters::parse(ctx.q, false)?;
    let req = page_request(ctx)?;
    let mut malformed = false;
    match ctx.state.take_list_fault(req.page) {
        Some(ListFault::Status(s)) => return Ok(fault_response(s)),
        Some(ListFault::Malformed) => malformed = true,
        Some(ListFault::Slow(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    let size = ctx.state.shared.cfg.employees_page_size;
    let (records, next) = {
        let store = ctx.state.store();
        let items = store
            .employees
            .iter()
            .enumerate()
            .filter(|(_, e)| filters.matches(&store, e));
        let (page, next) = take_page(items, req.start, size);
        let records: Vec<Value> = page
            .into_iter()
            .map(|e| store.render_employee(e, inc, email, version == Version::V2))
            .collect();
        (records, next)
    };
    let body = envelope(ctx, &req, records, next);
    if malformed {
        let mut bytes = serde_json::to_vec(&body).unwrap_or_default();
        bytes.truncate(bytes.len() / 2);
        return Ok(respond(
            StatusCode::OK,
            Some("application/json; charset=utf-8"),
            bytes,
        ));
    }
    Ok(json_response(StatusCode::OK, &body))
}

fn employee(ctx: &Ctx<'_>, id: &str, version: Version) -> Result<Response, Reply> {
    ctx.require(Permission::ViewEmployeeInformation)?;
    let mut inc = employee_includes(ctx.q)?;
    if inc.dates {
        inc.dates = ctx.include_allowed(Permission::ViewEmployeeEmploymentDates)?;
    }
    if inc.position {
        inc.position = ctx.include_allowed(Permission::ViewEmployeePosition)?;
    }
    if inc.status {
        inc.status = ctx.include_allowed(Permission::ViewEmployeeStatus)?;
    }
    if inc.work_location {
        inc.work_location = ctx.include_allowed(Permission::ViewEmployeeWorkLocation)?;
    }
    let email = email_type(ctx.q)?;
    let store = ctx.state.store();
    let Some(e) = store.employee(id) else {
        return Ok(not_found_id("Employee", id));
    };
    let value = store.render_employee(e, inc, email, version == Version::V2);
    Ok(json_response(StatusCode::OK, &value))
}

fn employee_person(ctx: &Ctx<'_>, id: &str) -> Result<Response, Reply> {
    ctx.require(Permission::ViewEmployeePerson)?;
    let inc = person_includes(ctx.q, true)?;
    let store = ctx.state.store();
    let Some(e) = store.employee(id) else {
        return Ok(not_found_id("Employee", id));
    };
    Ok(json_response(
        StatusCode::OK,
        &store.render_person(e, inc, true),
    ))
}

fn persons(ctx: &Ctx<'_>, p: Permission) -> Result<Response, Reply> {
    ctx.require(p)?;
    let inc = person_includes(ctx.q, false)?;
    let req = page_request(ctx)?;
    let (records, next) = {
        let store = ctx.state.store();
        let (page, next) = take_page(
            store.employees.iter().enumerate(),
            req.start,
            ctx.state.shared.cfg.page_size,
        );
        let records: Vec<Value> = page
            .into_iter()
            .map(|e| store.render_person(e, inc, false))
            .collect();
        (records, next)
    };
    Ok(json_response(
        StatusCode::OK,
        &envelope(ctx, &req, records, next),
    ))
}

fn tenant_person(ctx: &Ctx<'_>, id: &str) -> Result<Response, Reply> {
    ctx.require(Permission::ViewLegalEntityPersons)?;
    let inc = person_includes(ctx.q, true)?;
    let store = ctx.state.store();
    let Some(e) = store
        .employees
        .iter()
        .find(|e| e.person_id.eq_ignore_ascii_case(id.trim()))
    else {
        return Ok(not_found_id("Person", id));
    };
    Ok(json_response(
        StatusCode::OK,
        &store.render_person(e, inc, true),
    ))
}

fn tenant_employees(ctx: &Ctx<'_>) -> Result<Response, Reply> {
    ctx.require(Permission::ViewTenantEmployees)?;
    let filters = Filters::parse(ctx.q, true)?;
    let req = page_request(ctx)?;
    let (records, next) = {
        let store = ctx.state.store();
        let items = store
            .employees
            .iter()
            .enumerate()
            .filter(|(_, e)| filters.matches(&store, e));
        let (page, next) = take_page(items, req.start, ctx.state.shared.cfg.page_size);
        let records: Vec<Value> = page
            .into_iter()
            .map(|e| store.render_employee_list_item(e))
            .collect();
        (records, next)
    };
    Ok(json_response(
        StatusCode::OK,
        &envelope(ctx, &req, records, next),
    ))
}

fn identifying(ctx: &Ctx<'_>) -> Result<Response, Reply> {
    ctx.require(Permission::ViewLegalEntityEmployeesIdentifyingData)?;
    let ssn = ctx
        .state
        .is_granted(Permission::ViewLegalEntityEmployeesSsnAndBirthDate);
    let (mut active, mut inactive) = (false, false);
    for v in ctx.q.all("include") {
        match v.trim().to_ascii_lowercase().as_str() {
            "" => {}
            "active" => active = true,
            "inactive" => inactive = true,
            _ => return Err(bad_param("include", v)),
        }
    }
    if !active && !inactive {
        (active, inactive) = (true, true);
    }
    let req = page_request(ctx)?;
    let (records, next) = {
        let store = ctx.state.store();
        let items = store.employees.iter().enumerate().filter(|(_, e)| {
            if e.status.is_separated() {
                inactive
            } else {
                active
            }
        });
        let (page, next) = take_page(items, req.start, ctx.state.shared.cfg.page_size);
        let records: Vec<Value> = page
            .into_iter()
            .map(|e| store.render_identifying(e, ssn))
            .collect();
        (records, next)
    };
    Ok(json_response(
        StatusCode::OK,
        &envelope(ctx, &req, records, next),
    ))
}

fn departments(ctx: &Ctx<'_>) -> Result<Response, Reply> {
    ctx.require(Permission::ViewLegalEntityDepartmentsInformation)?;
    let req = page_request(ctx)?;
    let store = ctx.state.store();
    let (page, next) = take_page(
        store.departments.iter().enumerate(),
        req.start,
        ctx.state.shared.cfg.page_size,
    );
    let records = page
        .into_iter()
        .map(|d| store.render_department(d))
        .collect();
    drop(store);
    Ok(json_response(
        StatusCode::OK,
        &envelope(ctx, &req, records, next),
    ))
}

fn department(ctx: &Ctx<'_>, id: &str) -> Result<Response, Reply> {
    ctx.require(Permission::ViewLegalEntityDepartmentsInformation)?;
    let store = ctx.state.store();
    match store.department_by_id(id) {
        Some(i) => Ok(json_response(
            StatusCode::OK,
            &store.render_department(&store.departments[i]),
        )),
        None => Ok(not_found_id("Department", id)),
    }
}

fn work_locations(ctx: &Ctx<'_>) -> Result<Response, Reply> {
    ctx.require(Permission::ViewLegalEntityWorkLocations)?;
    let req = page_request(ctx)?;
    let store = ctx.state.store();
    let (page, next) = take_page(
        store.work_locations.iter().enumerate(),
        req.start,
        ctx.state.shared.cfg.page_size,
    );
    let records = page
        .into_iter()
        .map(|l| store.render_work_location(l))
        .collect();
    drop(store);
    Ok(json_response(
        StatusCode::OK,
        &envelope(ctx, &req, records, next),
    ))
}

fn work_location(ctx: &Ctx<'_>, id: &str) -> Result<Response, Reply> {
    ctx.require(Permission::ViewLegalEntityWorkLocations)?;
    let store = ctx.state.store();
    match store
        .work_locations
        .iter()
        .find(|l| l.id.eq_ignore_ascii_case(id.trim()))
    {
        Some(l) => Ok(json_response(
            StatusCode::OK,
            &store.render_work_location(l),
        )),
        None => Ok(not_found_id("Work Location", id)),
    }
}

fn job_titles(ctx: &Ctx<'_>, p: Permission) -> Result<Response, Reply> {
    ctx.require(p)?;
    let req = page_request(ctx)?;
    let store = ctx.state.store();
    let (page, next) = take_page(
        store.job_titles.iter().enumerate(),
        req.start,
        ctx.state.shared.cfg.page_size,
    );
    let records = page
        .into_iter()
        .map(|j| store.render_job_title(j))
        .collect();
    drop(store);
    Ok(json_response(
        StatusCode::OK,
        &envelope(ctx, &req, records, next),
    ))
}

// ------------------------------------------------------------------ writes

#[derive(Clone, Copy)]
enum Write {
    Contact,
    Position,
    Status,
    PositionAndStatus,
}

/// The JSON object of a write body: 415 without a JSON content type,
/// 400 for invalid JSON or a non-object.
fn json_body(headers: &HeaderMap, body: &Bytes) -> Result<Map<String, Value>, Reply> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
    if !is_json {
        return Err(Box::new(empty(StatusCode::UNSUPPORTED_MEDIA_TYPE)));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Box::new(validation(&Invalid::one(
            "$",
            "The JSON value could not be converted to the request model.",
        )))),
        Err(e) => Err(Box::new(validation(&Invalid::one(
            "$",
            format!("The request body is not valid JSON: {e}"),
        )))),
    }
}

fn write(
    ctx: &Ctx<'_>,
    headers: &HeaderMap,
    body: &Bytes,
    id: &str,
    kind: Write,
) -> Result<Response, Reply> {
    ctx.require(match kind {
        Write::Contact => Permission::UpdateEmployeeContact,
        Write::Position => Permission::UpdateEmployeePosition,
        Write::Status => Permission::UpdateEmployeeStatusData,
        Write::PositionAndStatus => Permission::UpdateEmployeePositionAndStatus,
    })?;
    let map = json_body(headers, body)?;
    let mut store = ctx.state.store_mut();
    let Some(idx) = store.index_of(id) else {
        return Ok(not_found_id("Employee", id));
    };
    let result = match kind {
        Write::Contact => writes::contact(&mut store, idx, &map),
        Write::Position => writes::position(&mut store, idx, &map),
        Write::Status => writes::status(&mut store, idx, &map),
        Write::PositionAndStatus => writes::position_and_status(&mut store, idx, &map),
    };
    let employee_id = store.employees[idx].id.clone();
    drop(store);
    match result {
        Ok(()) => {
            ctx.state.employee_modified(&employee_id);
            Ok(json_response(
                StatusCode::CREATED,
                &json!({"resourceUrl": {
                    "id": employee_id,
                    "url": format!("/v1/employees/{employee_id}"),
                }}),
            ))
        }
        Err(invalid) => Ok(validation(&invalid)),
    }
}

struct MockCommand {
    url: String,
    secret: String,
    event_type: &'static str,
    item: Option<String>,
    le: Option<i64>,
    tenant: i64,
}

impl MockCommand {
    fn parse(f: &super::model::Fields<'_>) -> Result<MockCommand, Invalid> {
        let app = f
            .text("applicationId")?
            .ok_or_else(|| Invalid::one("applicationId", "The ApplicationId field is required."))?;
        if !is_guid(app) {
            return Err(Invalid::one(
                "applicationId",
                format!("The value '{app}' is not valid."),
            ));
        }
        let url = f.text("notificationURL")?.ok_or_else(|| {
            Invalid::one("notificationURL", "The NotificationURL field is required.")
        })?;
        let secret = f.text("notificationSecret")?.ok_or_else(|| {
            Invalid::one(
                "notificationSecret",
                "The NotificationSecret field is required.",
            )
        })?;
        let event_type = f
            .enum_of("eventType", &["Employee.Modified", "LegalEntity.Modified"])?
            .ok_or_else(|| Invalid::one("eventType", "The EventType field is required."))?;
        let tenant = f
            .value("tenantId")
            .and_then(Value::as_i64)
            .ok_or_else(|| Invalid::one("tenantId", "The TenantId field is required."))?;
        let item = f.text("itemId")?.map(str::to_owned);
        let le = f.value("legalEntityId").and_then(Value::as_i64);
        if event_type == "Employee.Modified" && item.is_none() {
            return Err(Invalid::one(
                "itemId",
                "ItemId is required for the Employee.Modified event.",
            ));
        }
        if event_type == "LegalEntity.Modified" && le.is_none() {
            return Err(Invalid::one(
                "legalEntityId",
                "LegalEntityId is required for the LegalEntity.Modified event.",
            ));
        }
        Ok(MockCommand {
            url: url.to_owned(),
            secret: secret.to_owned(),
            event_type,
            item,
            le,
            tenant,
        })
    }
}

/// `POST /v1/events/mockevent`: validates the `Command`, answers 201 with
/// the `Event` and sends it to `notificationURL`.
fn mock_event(ctx: &Ctx<'_>, headers: &HeaderMap, body: &Bytes) -> Result<Response, Reply> {
    let map = json_body(headers, body)?;
    let command = match MockCommand::parse(&super::model::Fields(&map)) {
        Ok(c) => c,
        Err(invalid) => return Ok(validation(&invalid)),
    };
    let MockCommand {
        url,
        secret,
        event_type,
        item,
        le,
        tenant,
    } = command;
    let event = events::event(event_type, tenant, le, item.as_deref());
    ctx.state.emit(event.clone(), Some((url, secret)));
    Ok(json_response(StatusCode::CREATED, &event))
}

// ------------------------------------------------------------------ STS

fn form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn oauth_error(error: &str) -> Response {
    let mut resp = respond(
        StatusCode::BAD_REQUEST,
        Some("application/json; charset=UTF-8"),
        serde_json::to_vec(&json!({"error": error})).unwrap_or_default(),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// HTTP Basic `client_id:client_secret`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, b64) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64_decode(b64.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((percent_decode(id), percent_decode(secret)))
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xFF) as u8);
        }
    }
    Some(out)
}

fn token_endpoint(state: &PaycorState, headers: &HeaderMap, body: &Bytes) -> Response {
    let params = form(body);
    let param = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let cfg = &state.shared.cfg;
    let (client_id, client_secret) = match basic_credentials(headers) {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (
            param("client_id").map(str::to_owned),
            param("client_secret").map(str::to_owned),
        ),
    };
    let client_ok = cfg.client_secret.as_deref().is_some_and(|expected| {
        client_id.as_deref() == Some(cfg.client_id.as_str())
            && client_secret.as_deref() == Some(expected)
    });
    let Some(grant) = param("grant_type") else {
        return oauth_error("unsupported_grant_type");
    };
    if !client_ok {
        return oauth_error("invalid_client");
    }
    let with_refresh = match grant {
        "refresh_token" => {
            let Some(rt) = param("refresh_token") else {
                return oauth_error("invalid_request");
            };
            let mut tokens = lock(&state.shared.sts);
            match tokens.refresh.get_mut(rt) {
                Some(valid) if *valid => *valid = false,
                _ => return oauth_error("invalid_grant"),
            }
            state
                .shared
                .refresh_grants
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            true
        }
        "authorization_code" => {
            let Some(code) = param("code") else {
                return oauth_error("invalid_request");
            };
            let Some(stored) = lock(&state.shared.sts).codes.remove(code) else {
                return oauth_error("invalid_grant");
            };
            let redirect_ok = param("redirect_uri") == Some(stored.redirect_uri.as_str());
            let pkce_ok = stored
                .challenge
                .as_ref()
                .is_none_or(|c| sts::pkce_ok(c, param("code_verifier")));
            if state.now() > stored.expires
                || stored.client_id != cfg.client_id
                || !redirect_ok
                || !pkce_ok
            {
                return oauth_error("invalid_grant");
            }
            true
        }
        "client_credentials" if cfg.allow_client_credentials => false,
        "client_credentials" => return oauth_error("unauthorized_client"),
        _ => return oauth_error("unsupported_grant_type"),
    };
    let access = mint(state);
    let mut body = json!({
        "access_token": access,
        "expires_in": cfg.access_token_ttl.as_secs(),
        "token_type": "Bearer",
    });
    if with_refresh {
        let rt = sts::random_hex(32);
        lock(&state.shared.sts).refresh.insert(rt.clone(), true);
        body["refresh_token"] = json!(rt);
    }
    let mut resp = json_response(StatusCode::OK, &body);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

fn authorize(state: &PaycorState, q: &Query) -> Response {
    let cfg = &state.shared.cfg;
    let text = |status: StatusCode, msg: &str| {
        respond(
            status,
            Some("text/plain; charset=utf-8"),
            msg.as_bytes().to_vec(),
        )
    };
    if q.get("client_id") != Some(cfg.client_id.as_str()) {
        return text(StatusCode::BAD_REQUEST, "Unknown client_id.");
    }
    let Some(redirect) = q.get("redirect_uri") else {
        return text(StatusCode::BAD_REQUEST, "redirect_uri is required.");
    };
    if q.get("response_type").is_some_and(|r| r != "code") {
        return text(
            StatusCode::BAD_REQUEST,
            "Only response_type=code is supported.",
        );
    }
    let challenge = q.get("code_challenge").map(|c| {
        (
            c.to_owned(),
            q.get("code_challenge_method").unwrap_or("plain").to_owned(),
        )
    });
    let code = sts::random_hex(32).to_ascii_uppercase();
    lock(&state.shared.sts).codes.insert(
        code.clone(),
        AuthCode {
            client_id: cfg.client_id.clone(),
            redirect_uri: redirect.to_owned(),
            challenge,
            expires: state.now() + sts::CODE_TTL,
        },
    );
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let mut location = format!("{redirect}{sep}code={code}");
    if let Some(s) = q.get("state") {
        location.push_str("&state=");
        location.push_str(&encode_component(s));
    }
    let mut resp = empty(StatusCode::FOUND);
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

fn encode_component(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
