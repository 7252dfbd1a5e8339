//! Custom REST endpoints: any HR system with a JSON API, described in the config rather than in
//! code. An endpoint has a method, a URL (relative to the integration's base or absolute),
//! headers, query parameters and a JSON body, all of which may use macros (`{companyName}`,
//! `{lastRunTime}`, a fan-out value such as `{employeeId}`, the paging values `{page}`,
//! `{offset}`, `{limit}`, `{cursor}`). Records are located with JSONPath (RFC 9535) and fields
//! can be picked out of them with JSONPath too.
//!
//! Pagination styles ([`Paging`]): page/size, offset/limit, a continuation token found in the
//! body, a next URL found in the body, and the `Link: <…>; rel="next"` header. Each has a stop
//! criterion and loop protection (a cursor or URL seen twice, a page cap). A fetch is complete
//! only when the last page was reached; a page that fails after retries makes it incomplete,
//! and the first page failing (401/403 included) is an error: nothing is planned from it.
//!
//! The integration carries the authorization (bearer token, static or from the OAuth refresh
//! flow, plus API-key headers such as Paycor's `Ocp-Apim-Subscription-Key`), a proactive rate
//! limit (requests per minute) and a concurrency bound for fan-out calls. A 429 is waited out
//! for `Retry-After` seconds (or the flavour's default) and the same page is asked again, within
//! the integration's `max_retries` and retry deadline ([`crate::http::RetryPolicy`]).
//!
//! Several endpoints are joined into one person record by [`join`].

pub mod join;
pub mod lookup;
mod paging;
pub mod template;

use crate::http::{self, Attempt, RetryPolicy};
use crate::oauth::TokenProvider;
use crate::{Result, SourceError};
use hrsync_model::{FetchReport, HrRecord, Secret};
pub use lookup::{Lookup, LookupBy, LookupConfig};
pub use paging::Paging;
use serde_json::{Map, Value};
use serde_json_path::JsonPath;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
pub use template::{BodyTemplate, Context, Template, TemplateError};

/// The longest `Retry-After` hrsync waits; a server asking for more fails the page.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Macro names the engine sets itself; configs cannot define them.
pub const RESERVED_MACROS: [&str; 5] = ["page", "offset", "limit", "cursor", LAST_RUN_TIME];

/// The built-in macro holding the start of the last successful run (RFC 3339, UTC).
pub const LAST_RUN_TIME: &str = "lastRunTime";
/// What `{lastRunTime}` is before the first successful run: everything.
pub const EPOCH: &str = "1970-01-01T00:00:00Z";

/// How the bearer token is obtained.
#[derive(Clone, Debug)]
pub enum Bearer {
    None,
    Static(Secret),
    /// OAuth refresh-token flow; a 401 makes it refresh once and ask again.
    OAuth(TokenProvider),
}

/// Authorization sent with every call of an integration.
#[derive(Clone, Debug)]
pub struct Auth {
    pub bearer: Bearer,
    /// Secret headers, e.g. `X-API-Key` or `Ocp-Apim-Subscription-Key`.
    pub headers: Vec<(String, Secret)>,
}

/// Which HR system's error conventions to explain errors with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Generic,
    /// 401 with an empty body = bearer refused, 401 with JSON = subscription key refused,
    /// 403 = Data Access missing; 429 without `Retry-After` waits 60 s.
    Paycor,
}

/// Fan-out: the endpoint is called once per record of another endpoint.
#[derive(Clone, Debug)]
pub struct FanOut {
    /// The endpoint whose records drive the calls.
    pub endpoint: String,
    /// Field (dotted path) of those records whose value is passed on.
    pub field: String,
    /// The macro name the value is available as (e.g. `employeeId`).
    pub macro_name: String,
}

/// One configured endpoint.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub name: String,
    pub method: reqwest::Method,
    /// Path relative to the integration's `base_url` (`/employees`) or an absolute URL.
    pub url: Template,
    pub headers: Vec<(String, Template)>,
    pub query: Vec<(String, Template)>,
    /// A JSON body (template; values JSON-escaped).
    pub body: Option<BodyTemplate>,
    /// Where the records are in the response (`$.data.items[*]`). `None`: the elements of a
    /// top-level array, or the top-level object itself.
    pub records: Option<JsonPath>,
    pub records_src: Option<String>,
    /// Fields picked out of each record (name → JSONPath relative to the record). Empty: the
    /// whole record.
    pub fields: Vec<(String, JsonPath)>,
    /// Dotted path of the record's key (after `fields`), used to join and de-duplicate.
    pub key: String,
    pub paging: Paging,
    pub for_each: Option<FanOut>,
    /// How to ask for given people by key (per-person URL or a filter of this list), to
    /// confirm leavers; `None`: this endpoint cannot look people up.
    pub lookup: Option<Lookup>,
}

/// Sends no more than N requests per minute, proactively (GCRA), so a budget such as Paycor's
/// 1000 calls/min is not hit in the first place.
#[derive(Clone)]
pub struct Limiter {
    inner: Arc<governor::DefaultDirectRateLimiter>,
    per_minute: u32,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Limiter({}/min)", self.per_minute)
    }
}

impl Limiter {
    /// At most `per_minute` requests in any 60-second window. GCRA allows `burst + rate × 60 s`
    /// in a window, so the steady rate is `per_minute − burst` per minute.
    pub fn per_minute(per_minute: u32) -> Option<Limiter> {
        if per_minute == 0 {
            return None;
        }
        let burst = (per_minute / 20).max(1);
        let steady = per_minute
            .checked_sub(burst)
            .filter(|s| *s > 0)
            .unwrap_or(1);
        let quota = governor::Quota::with_period(Duration::from_secs(60) / steady)?
            .allow_burst(std::num::NonZeroU32::new(burst)?);
        Some(Limiter {
            inner: Arc::new(governor::RateLimiter::direct(quota)),
            per_minute,
        })
    }

    /// Whether `other` is this very limiter (one budget), not just one with the same rate.
    pub fn is_shared_with(&self, other: &Limiter) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Waits until the next call is within the budget.
    pub async fn wait(&self) {
        self.inner.until_ready().await;
    }
}

/// A resolved REST integration (custom, or a preset such as Paycor's).
#[derive(Clone, Debug)]
pub struct RestIntegration {
    pub name: String,
    pub base_url: String,
    pub auth: Auth,
    /// Static macros (`companyName`, `legalEntityId`, …).
    pub macros: BTreeMap<String, String>,
    pub endpoints: Vec<Endpoint>,
    /// Parallel fan-out calls.
    pub concurrency: usize,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub flavor: Flavor,
    pub limiter: Option<Limiter>,
    /// Value of `{lastRunTime}` for this fetch.
    pub last_run_time: Option<String>,
    /// Page cap per endpoint (loop protection).
    pub max_pages: u64,
    /// The most one answer (a page, a fan-out or lookup call) may be, in bytes
    /// (`max_page_mb`): reading stops there and the call fails ([`http::read_page`]).
    pub max_page_bytes: u64,
}

/// One response, parsed.
struct Response {
    body: Value,
    headers: reqwest::header::HeaderMap,
}

impl RestIntegration {
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.name == name)
    }

    /// Macro names every template of this integration may use, besides fan-out and paging.
    pub fn known_macros(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.macros.keys().map(String::as_str).collect();
        v.push(LAST_RUN_TIME);
        v
    }

    fn failed(&self, endpoint: &str, message: impl Into<String>) -> SourceError {
        SourceError::Failed {
            integration: self.name.clone(),
            endpoint: endpoint.into(),
            message: message.into(),
        }
    }

    fn vars(&self) -> BTreeMap<String, String> {
        let mut v = self.macros.clone();
        v.insert(
            LAST_RUN_TIME.into(),
            self.last_run_time.clone().unwrap_or_else(|| EPOCH.into()),
        );
        v
    }

    /// What can be known to be wrong without a request: a `base_url` that is not an http(s)
    /// URL or carries credentials. Every fetch and lookup runs it first.
    pub fn check(&self) -> Result<()> {
        http::check_base_url(&self.base_url).map_err(|message| SourceError::Config {
            integration: self.name.clone(),
            message,
        })
    }

    pub(crate) fn client(&self) -> Result<reqwest::Client> {
        self.check()?;
        http::client(self.timeout).map_err(|e| SourceError::Config {
            integration: self.name.clone(),
            message: e.to_string(),
        })
    }

    /// The request an endpoint's first page makes, for display (secrets `[redacted]`).
    pub fn describe(&self, ep: &Endpoint) -> String {
        let mut vars = self.vars();
        if let Some(f) = &ep.for_each {
            vars.insert(
                f.macro_name.clone(),
                format!("<{}.{}>", f.endpoint, f.field),
            );
        }
        ep.paging.first_vars(&mut vars);
        let url = ep
            .url
            .render(&vars, Context::Raw)
            .unwrap_or_else(|_| ep.url.source());
        let mut out = format!("{} {}", ep.method, self.absolute(&url));
        let query: Vec<String> = ep
            .query
            .iter()
            .map(|(k, t)| {
                format!(
                    "{k}={}",
                    t.render(&vars, Context::Raw).unwrap_or_else(|_| t.source())
                )
            })
            .chain(
                ep.paging
                    .query_params(&vars)
                    .into_iter()
                    .map(|(k, v)| format!("{k}={v}")),
            )
            .collect();
        if !query.is_empty() {
            out.push('?');
            out.push_str(&query.join("&"));
        }
        if !matches!(self.auth.bearer, Bearer::None) {
            out.push_str("\nAuthorization: Bearer [redacted]");
        }
        for (h, _) in &self.auth.headers {
            out.push_str(&format!("\n{h}: [redacted]"));
        }
        for (h, t) in &ep.headers {
            out.push_str(&format!(
                "\n{h}: {}",
                t.render(&vars, Context::Raw).unwrap_or_else(|_| t.source())
            ));
        }
        if let Some(b) = &ep.body {
            out.push_str(&format!(
                "\n\n{}",
                b.render(&vars).unwrap_or_else(|_| b.source())
            ));
        }
        if let Some(f) = &ep.for_each {
            out.push_str(&format!(
                "\n(called once per record of {}, with {{{}}} = its {})",
                f.endpoint, f.macro_name, f.field
            ));
        }
        out
    }

    /// Resolves a next-page URL from the server against the page it came from (RFC 3986), and
    /// refuses one on another scheme, host or port than the endpoint's first page: our
    /// credentials go only where the config sends them.
    fn resolve_next(&self, prev: &str, next: &str) -> std::result::Result<String, String> {
        let base = reqwest::Url::parse(prev)
            .or_else(|_| reqwest::Url::parse(&self.base_url))
            .map_err(|e| format!("base_url is not a URL: {e}"))?;
        let prev = reqwest::Url::parse(prev).unwrap_or_else(|_| base.clone());
        let url = prev
            .join(next)
            .map_err(|e| format!("the next-page URL {next:?} is not a URL: {e}"))?;
        if url.origin() != base.origin() {
            return Err(format!(
                "the next-page URL points to {}, not to {}; not following it with the integration's credentials",
                url.origin().ascii_serialization(),
                base.origin().ascii_serialization()
            ));
        }
        Ok(url.into())
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with("http://") || url.starts_with("https://") {
            url.to_string()
        } else {
            format!(
                "{}/{}",
                self.base_url.trim_end_matches('/'),
                url.trim_start_matches('/')
            )
        }
    }

    /// One HTTP call with retries (transient failures, 429 with `Retry-After`, one token
    /// refresh on 401 with OAuth). `url` is absolute with the query already in it when
    /// `query` is empty.
    async fn call(
        &self,
        client: &reqwest::Client,
        ep: &Endpoint,
        url: &str,
        query: &[(String, String)],
        parts: &Rendered,
        what: &str,
    ) -> std::result::Result<Response, Attempt> {
        let headers = &parts.headers;
        let body = parts.body.as_deref();
        let refreshed = AtomicBool::new(false);
        // A refused OAuth access token is refreshed once and the call made again; that second
        // round is not a retry of a failure, so it does not use up `max_retries`.
        for round in 0..2 {
            let res = self
                .call_once(client, ep, url, query, headers, body, &refreshed, what)
                .await;
            match res {
                Err(Attempt::Permanent {
                    status: Some(401), ..
                }) if round == 0 && refreshed.load(Ordering::SeqCst) => continue,
                other => return other,
            }
        }
        Err(Attempt::Permanent {
            status: Some(401),
            message: "HTTP 401: the access token was refused, also after a refresh".into(),
        })
    }

    /// [`RestIntegration::call`] with one bounded retry loop.
    #[allow(clippy::too_many_arguments)]
    async fn call_once(
        &self,
        client: &reqwest::Client,
        ep: &Endpoint,
        url: &str,
        query: &[(String, String)],
        headers: &[(String, String)],
        body: Option<&str>,
        refreshed: &AtomicBool,
        what: &str,
    ) -> std::result::Result<Response, Attempt> {
        http::with_retries(self.retry, what, || async {
            if let Some(l) = &self.limiter {
                l.wait().await;
            }
            let mut req = client.request(ep.method.clone(), url);
            // The OAuth access token this attempt sends (to invalidate exactly it on a 401).
            let mut sent: Option<Secret> = None;
            if !query.is_empty() {
                req = req.query(query);
            }
            match &self.auth.bearer {
                Bearer::None => {}
                Bearer::Static(s) => req = req.bearer_auth(s.expose()),
                Bearer::OAuth(p) => {
                    let t = p.access_token().await.map_err(|e| Attempt::Permanent {
                        status: None,
                        message: e.to_string(),
                    })?;
                    req = req.bearer_auth(t.expose());
                    sent = Some(t);
                }
            }
            for (h, s) in &self.auth.headers {
                req = req.header(h.as_str(), s.expose());
            }
            for (h, v) in headers {
                req = req.header(h.as_str(), v.as_str());
            }
            if let Some(b) = body {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(b.to_string());
            }
            let resp = req.send().await.map_err(|e| http::send_error(&e))?;
            if let Some(refused) = http::refused_redirect(&resp) {
                return Err(refused);
            }
            let status = resp.status().as_u16();
            let resp_headers = resp.headers().clone();
            let retry_after = http::retry_after(&resp_headers);
            let bytes = http::read_page(resp, self.max_page_bytes).await?;
            if status == 401
                && let Bearer::OAuth(p) = &self.auth.bearer
                && let Some(t) = &sent
                && !refreshed.swap(true, Ordering::SeqCst)
            {
                p.invalidate(t).await;
                return Err(Attempt::Permanent {
                    status: Some(401),
                    message: "HTTP 401: the access token was refused; refreshing it".into(),
                });
            }
            // A pasted Paycor token: a refusal is almost always its 30-minute lifetime.
            if status == 401
                && self.flavor == Flavor::Paycor
                && bytes.iter().all(u8::is_ascii_whitespace)
                && let Bearer::Static(t) = &self.auth.bearer
            {
                return Err(Attempt::Permanent {
                    status: Some(401),
                    message: crate::paycor_hints::static_token_refused(t),
                });
            }
            let body = match classify(self.flavor, status, &bytes, retry_after) {
                // Name the Data Access permission the call probably lacks.
                Err(Attempt::Permanent {
                    status: Some(403), ..
                }) if self.flavor == Flavor::Paycor => {
                    let path = reqwest::Url::parse(url)
                        .map(|u| u.path().to_string())
                        .unwrap_or_default();
                    return Err(Attempt::Permanent {
                        status: Some(403),
                        message: crate::paycor_hints::forbidden_hint(&path, query),
                    });
                }
                other => other?,
            };
            Ok(Response {
                body,
                headers: resp_headers,
            })
        })
        .await
    }

    /// Renders the request parts of one call.
    fn render(
        &self,
        ep: &Endpoint,
        vars: &BTreeMap<String, String>,
    ) -> std::result::Result<Rendered, TemplateError> {
        let url = self.absolute(&ep.url.render(vars, Context::Path)?);
        let mut query = Vec::new();
        for (k, t) in &ep.query {
            query.push((k.clone(), t.render(vars, Context::Raw)?));
        }
        let mut headers = Vec::new();
        for (k, t) in &ep.headers {
            headers.push((k.clone(), t.render(vars, Context::Header)?));
        }
        let body = ep.body.as_ref().map(|b| b.render(vars)).transpose()?;
        Ok(Rendered {
            url,
            query,
            headers,
            body,
        })
    }

    /// Fetches every page of a list endpoint, handing each record to `sink`. Errors only when
    /// the first page fails; a later failure makes the report incomplete.
    pub async fn fetch_list(
        &self,
        ep: &Endpoint,
        keep: Option<&BTreeSet<String>>,
        mut sink: impl FnMut(HrRecord),
    ) -> Result<FetchReport> {
        let started = Instant::now();
        let client = self.client()?;
        let mut report = FetchReport {
            integration: self.name.clone(),
            endpoint: ep.name.clone(),
            ..FetchReport::default()
        };
        let base_vars = self.vars();
        let mut state = paging::State::new(&ep.paging);
        // Key → a hash of the record, to tell a repeated record from a different one.
        let mut seen_keys: HashMap<String, u64> = HashMap::new();
        let mut duplicates = 0usize;
        let mut differing = 0usize;
        let mut prev_url = String::new();
        loop {
            let page = report.pages + 1;
            if page > self.max_pages {
                report.error = Some(format!(
                    "stopped after {} pages (max_pages); the server keeps offering more",
                    self.max_pages
                ));
                break;
            }
            let mut vars = base_vars.clone();
            state.vars(&ep.paging, &mut vars);
            let rendered = self
                .render(ep, &vars)
                .map_err(|e| self.failed(&ep.name, e.to_string()))?;
            let (url, query) = match state.next_url() {
                // A next URL from the server already carries its query.
                Some(u) => match self.resolve_next(&prev_url, u) {
                    Ok(u) => (u, Vec::new()),
                    Err(msg) => {
                        report.error = Some(format!("page {page}: {msg}"));
                        break;
                    }
                },
                None => {
                    let mut q = rendered.query.clone();
                    q.extend(ep.paging.query_params(&vars));
                    (rendered.url.clone(), q)
                }
            };
            prev_url = reqwest::Url::parse_with_params(&url, &query)
                .map(String::from)
                .unwrap_or_else(|_| url.clone());
            let what = format!("{} {} page {page}", self.name, ep.name);
            let res = self.call(&client, ep, &url, &query, &rendered, &what).await;
            let resp = match res {
                Ok(r) => r,
                Err(Attempt::Permanent {
                    status: Some(s @ (401 | 403)),
                    message,
                }) if page == 1 => {
                    return Err(SourceError::Auth {
                        integration: self.name.clone(),
                        status: s,
                        message: format!("endpoint {}: {message}", ep.name),
                    });
                }
                Err(e) if page == 1 => {
                    return Err(self.failed(&ep.name, format!("page 1: {}", e.message())));
                }
                Err(e) => {
                    report.error = Some(format!("page {page}: {}", e.message()));
                    break;
                }
            };
            report.pages += 1;
            let records = match locate(ep, &resp.body) {
                Ok(r) => r,
                Err(msg) => {
                    report.error = Some(format!("page {page}: {msg}"));
                    break;
                }
            };
            let count = records.len();
            let mut new_records = 0usize;
            let mut bad = None;
            for (i, rec) in records.into_iter().enumerate() {
                let fields = match extract(ep, rec) {
                    Ok(f) => f,
                    Err(msg) => {
                        bad.get_or_insert(format!("page {page}, record {}: {msg}", i + 1));
                        continue;
                    }
                };
                let key = crate::lookup_scalar(&fields, &ep.key);
                if let Some(k) = &key {
                    let h = hash_of(&fields);
                    match seen_keys.get(k) {
                        // The same record again (pages shifting under us): drop it.
                        Some(prev) if *prev == h => {
                            duplicates += 1;
                            continue;
                        }
                        // A different record with the same key: passed on, so the plan shows
                        // the conflict instead of an arbitrary one winning silently.
                        Some(_) => differing += 1,
                        None => {
                            seen_keys.insert(k.clone(), h);
                        }
                    }
                }
                new_records += 1;
                let fields = match keep {
                    Some(keep) => fields
                        .into_iter()
                        .filter(|(f, _)| {
                            keep.contains(f) || ep.key.split('.').next() == Some(f.as_str())
                        })
                        .collect(),
                    None => fields,
                };
                sink(HrRecord {
                    index: report.records,
                    source_id: key,
                    fields,
                    problems: Vec::new(),
                });
                report.records += 1;
            }
            if let Some(b) = bad {
                // A record we cannot read might be anyone: absence proves nothing any more.
                report.error = Some(format!("{b}; the record was skipped"));
            }
            if page > 1 && count > 0 && new_records == 0 {
                report.error = Some(format!(
                    "page {page} repeated only records already received; the server seems to ignore the paging parameters"
                ));
                break;
            }
            match state.advance(&ep.paging, &resp.body, &resp.headers, count, new_records) {
                paging::Next::More => {}
                paging::Next::Done { total } => {
                    report.reported_total = total;
                    break;
                }
                paging::Next::Broken(msg) => {
                    report.error = Some(format!("page {page}: {msg}"));
                    break;
                }
            }
        }
        if duplicates > 0 {
            report.notes.push(format!(
                "{duplicates} record(s) arrived twice (identical) and were counted once"
            ));
        }
        if differing > 0 {
            report.notes.push(format!(
                "{differing} record(s) share a key with a different record; the plan reports them"
            ));
        }
        if let Some(t) = report.reported_total
            && report.error.is_none()
            && (seen_keys.len().max(report.records - differing) as u64) < t
        {
            report.error = Some(format!(
                "server reported total {t} but {} different records arrived: people changed in HR during the fetch (or the server pages inconsistently); not complete",
                seen_keys.len().max(report.records - differing)
            ));
        }
        if report.error.is_none() {
            report.error = state.total_changed();
        }
        report.complete = report.error.is_none();
        report.duration_ms = started.elapsed().as_millis() as u64;
        tracing::info!(integration = %self.name, endpoint = %ep.name, records = report.records, pages = report.pages, complete = report.complete, "fetched");
        Ok(report)
    }

    /// Calls a fan-out endpoint for one value. `Ok(None)` = the server has nothing for it (404
    /// or no record in the answer).
    pub async fn fetch_one(
        &self,
        client: &reqwest::Client,
        ep: &Endpoint,
        value: &str,
    ) -> std::result::Result<Option<Map<String, Value>>, FanOutError> {
        let mut vars = self.vars();
        if let Some(f) = &ep.for_each {
            vars.insert(f.macro_name.clone(), value.to_string());
        }
        ep.paging.first_vars(&mut vars);
        let r = self
            .render(ep, &vars)
            .map_err(|e| FanOutError::Failed(e.to_string()))?;
        let what = format!("{} {} for {value}", self.name, ep.name);
        match self.call(client, ep, &r.url, &r.query, &r, &what).await {
            Ok(resp) => {
                let recs = locate(ep, &resp.body).map_err(FanOutError::Failed)?;
                match recs.into_iter().next() {
                    None => Ok(None),
                    Some(rec) => extract(ep, rec).map(Some).map_err(FanOutError::Failed),
                }
            }
            Err(Attempt::Permanent {
                status: Some(404), ..
            }) => Ok(None),
            Err(Attempt::Permanent {
                status: Some(s @ (401 | 403)),
                message,
            }) => Err(FanOutError::Auth(s, message)),
            Err(e) => Err(FanOutError::Failed(e.message().to_string())),
        }
    }
}

/// How a fan-out call failed.
#[derive(Debug, Clone)]
pub enum FanOutError {
    Auth(u16, String),
    Failed(String),
}

struct Rendered {
    url: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

/// The records of one response.
fn locate<'a>(ep: &Endpoint, body: &'a Value) -> std::result::Result<Vec<&'a Value>, String> {
    if body.is_null() {
        // An empty 200 is a failing server far more often than "no people".
        return Err("the response body is empty or null".into());
    }
    match &ep.records {
        Some(p) => {
            let nodes = p.query(body).all();
            // `$.data.items[*]` on a body without `data.items` is not "no records": the page
            // is not what the config says it is.
            if nodes.is_empty() && !path_parent_exists(ep, body) {
                return Err(format!(
                    "the response has nothing at {} (records); check the endpoint's `records` path",
                    ep.records_src.as_deref().unwrap_or("?")
                ));
            }
            // `$.data.items` (without `[*]`) pointing at the array itself: use its elements.
            if let [Value::Array(a)] = nodes.as_slice() {
                return Ok(a.iter().collect());
            }
            Ok(nodes)
        }
        None => Ok(match body {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        }),
    }
}

/// For `$.a.b[*]`: does `$.a.b` exist (so an empty result means an empty page)?
fn path_parent_exists(ep: &Endpoint, body: &Value) -> bool {
    let Some(src) = ep.records_src.as_deref() else {
        return true;
    };
    let parent = src
        .strip_suffix("[*]")
        .or_else(|| src.strip_suffix(".*"))
        .unwrap_or(src);
    if parent == "$" {
        return true;
    }
    // The parent must be there and be a container: `"items": null` is a failing page.
    JsonPath::parse(parent).is_ok_and(|p| {
        let nodes = p.query(body).all();
        !nodes.is_empty() && nodes.iter().all(|n| n.is_array() || n.is_object())
    })
}

/// The fields of one record.
fn extract(ep: &Endpoint, rec: &Value) -> std::result::Result<Map<String, Value>, String> {
    let Value::Object(obj) = rec else {
        return Err(format!(
            "expected a JSON object, got {}",
            match rec {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            }
        ));
    };
    if ep.fields.is_empty() {
        return Ok(obj.clone());
    }
    let mut out = Map::new();
    for (name, path) in &ep.fields {
        let v = match path.query(rec).at_most_one() {
            Ok(v) => v.cloned().unwrap_or(Value::Null),
            // Several matches: keep them all as an array.
            Err(_) => Value::Array(path.query(rec).all().into_iter().cloned().collect()),
        };
        out.insert(name.clone(), v);
    }
    Ok(out)
}

/// Turns a response into its JSON body or a classified failure.
fn classify(
    flavor: Flavor,
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
) -> std::result::Result<Value, Attempt> {
    let text = || {
        String::from_utf8_lossy(body)
            .chars()
            .take(200)
            .collect::<String>()
    };
    match (flavor, status) {
        (_, 200..=299) => {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Value::Null);
            }
            serde_json::from_slice(body).map_err(|e| Attempt::Transient {
                message: format!("HTTP {status} but the body is not valid JSON ({e})"),
                retry_after: None,
            })
        }
        (_, 429) if retry_after.is_some_and(|d| d > MAX_RETRY_AFTER) => Err(Attempt::Permanent {
            status: Some(429),
            message: format!(
                "HTTP 429 asking to wait {} s, more than the {} s hrsync waits; the run gives up on this page",
                retry_after.unwrap_or_default().as_secs(),
                MAX_RETRY_AFTER.as_secs()
            ),
        }),
        (f, 429) => Err(Attempt::Transient {
            message: "HTTP 429 (rate limit exceeded)".into(),
            retry_after: Some(retry_after.unwrap_or(match f {
                Flavor::Paycor => Duration::from_secs(60),
                Flavor::Generic => Duration::from_secs(30),
            })),
        }),
        (Flavor::Paycor, 401) if body.is_empty() => Err(Attempt::Permanent {
            status: Some(401),
            message: "the bearer token was refused (missing, expired or invalid); renew the access token".into(),
        }),
        (Flavor::Paycor, 401) => Err(Attempt::Permanent {
            status: Some(401),
            message: format!("the subscription key was refused: {}", text()),
        }),
        (Flavor::Paycor, 403) => Err(Attempt::Permanent {
            status: Some(403),
            message: "the token lacks the Data Access this call needs (AppCreator → Data Access: employee data for the legal entity)".into(),
        }),
        (Flavor::Generic, s @ (401 | 403)) => Err(Attempt::Permanent {
            status: Some(s),
            message: format!(
                "HTTP {s}{}; check the token and API key",
                if body.is_empty() { String::new() } else { format!(": {}", text()) }
            ),
        }),
        (_, s) if s >= 500 => Err(Attempt::Transient {
            message: format!(
                "HTTP {s}{}",
                if body.is_empty() { String::new() } else { format!(": {}", text()) }
            ),
            retry_after,
        }),
        (_, s) => Err(Attempt::Permanent {
            status: Some(s),
            message: format!("HTTP {s}: {}", text()),
        }),
    }
}

fn hash_of(fields: &Map<String, Value>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(fields)
        .unwrap_or_default()
        .hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests;
