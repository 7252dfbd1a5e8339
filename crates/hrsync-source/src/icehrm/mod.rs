//! IceHrm connector: the preconfigured "Get Employees" endpoint, `GET {base}/employees`.
//!
//! Built against captures of a real IceHrm v35 (see `tests/` of the emulator crate), not the
//! vendor docs, which disagree with the server:
//! - Auth is `Authorization: Bearer <JWT>`; failures are 403 with
//!   `{"error":[[{"code":403,"message":"…"}]]}`, but an invalidated token answers **HTTP 200**
//!   with an `error` body, and a non-JWT token answers 500 with an empty body.
//! - Pagination is `limit` + 1-based `page`; `nextPage` is always `page + 1`, even past the end,
//!   so we stop on an empty `data` or when `page × limit ≥ total`. Without `sortField` there is
//!   no ORDER BY, so we always send `sortField=id&sortOrder=ascend`.
//! - The caller's own employee is hoisted to the top of its page: records are de-duplicated by
//!   `id` and never assumed sorted.
//! - Paging is by SQL offset: a person deleted during the fetch shifts later rows back and
//!   someone who still exists is never served. Fewer records than `total`, or a `total` that
//!   changes between pages, makes the fetch incomplete (no leavers from it).
//! - Related objects come as `{type, id, display}`; they are kept as nested JSON for the mapping.

mod lookup;
mod projected;
mod token;

use crate::http::{self, Attempt, RetryPolicy};
use crate::{Fetched, Result, SourceError};
use futures::StreamExt;
use hrsync_model::{FetchReport, HrRecord, Secret};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

pub use lookup::{COLUMNS, LOOKUP_CHUNK, is_column, normalize};
pub use token::{WHERE_TO_GET_IT, check_token, token_expiry};

/// The endpoint name mappings refer to.
pub const GET_EMPLOYEES: &str = "get_employees";

/// A resolved IceHrm integration.
#[derive(Debug, Clone)]
pub struct IceHrm {
    pub name: String,
    /// e.g. `https://hr.example.com/app/api` (no trailing slash needed).
    pub base_url: String,
    pub token: Secret,
    pub page_size: u32,
    pub concurrency: usize,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// The most one page may be, in bytes (`max_page_mb`): reading stops there and the page
    /// fails ([`http::read_page`]).
    pub max_page_bytes: u64,
    /// Only these people: `filters={"<field>": [values]}` (IceHrm's list filter), for a
    /// targeted run (an HR event names one employee). `field` must be one of [`COLUMNS`]. No
    /// values (or only blank ones) = nobody, without a request: IceHrm would drop an empty
    /// filter and return everyone.
    pub only: Option<(String, Vec<String>)>,
}

struct Page {
    records: Vec<Map<String, Value>>,
    total: Option<u64>,
}

impl IceHrm {
    fn employees_url(&self) -> String {
        format!("{}/employees", self.base_url.trim_end_matches('/'))
    }

    /// What can be known to be wrong without a request: a `base_url` that is not an http(s)
    /// URL or carries credentials, a token that is not an IceHrm Api Access token (a JWT;
    /// IceHrm answers anything else with an unexplained 500). Every fetch and lookup runs it
    /// first.
    pub fn check(&self) -> Result<()> {
        let config = |message| SourceError::Config {
            integration: self.name.clone(),
            message,
        };
        http::check_base_url(&self.base_url).map_err(config)?;
        token::check_token(&self.token).map_err(config)
    }

    fn failed(&self, message: impl Into<String>) -> SourceError {
        SourceError::Failed {
            integration: self.name.clone(),
            endpoint: GET_EMPLOYEES.into(),
            message: message.into(),
        }
    }

    /// Fetches every employee into a Vec. See [`IceHrm::fetch_employees_with`].
    pub async fn fetch_employees(&self, keep: Option<&BTreeSet<String>>) -> Result<Fetched> {
        let mut records = Vec::new();
        let report = self.fetch_employees_with(keep, |r| records.push(r)).await?;
        Ok(Fetched { records, report })
    }

    /// Fetches every employee, handing each record to `sink` as its page arrives (pages in
    /// order), so a caller can map records without ever holding all of them. `keep` names the
    /// top-level fields to keep (the rest is skipped while parsing); `None` keeps everything.
    ///
    /// Errors only when nothing usable arrived (auth refused, first page failed). A failure on a
    /// later page returns the report with `complete == false`; the records before it were
    /// delivered.
    pub async fn fetch_employees_with(
        &self,
        keep: Option<&BTreeSet<String>>,
        mut sink: impl FnMut(HrRecord),
    ) -> Result<FetchReport> {
        let started = Instant::now();
        self.check()?;
        let client = http::client(self.timeout).map_err(|e| SourceError::Config {
            integration: self.name.clone(),
            message: e.to_string(),
        })?;
        let mut report = FetchReport {
            integration: self.name.clone(),
            endpoint: GET_EMPLOYEES.into(),
            ..FetchReport::default()
        };
        if let Some(note) = token::expiry_note(&self.token, chrono_now()) {
            tracing::warn!(integration = %self.name, "{note}");
            report.notes.push(note);
        }
        let limit = u64::from(self.page_size.max(1));
        if let Some((field, values)) = &self.only
            && values.iter().all(|v| v.trim().is_empty())
        {
            // Never send an empty filter: IceHrm drops it and returns everyone.
            report.complete = true;
            report.notes.push(format!(
                "no {field} values asked for: nobody fetched (no request sent)"
            ));
            return Ok(report);
        }

        let first = match self.page(&client, 1, limit, keep).await {
            Ok(p) => p,
            // 200: an error body instead of employees (an invalidated token).
            Err(Attempt::Permanent {
                status: Some(s @ (200 | 401 | 403)),
                message,
            }) => {
                return Err(SourceError::Auth {
                    integration: self.name.clone(),
                    status: s,
                    message,
                });
            }
            Err(e) => return Err(self.failed(format!("page 1: {}", e.message()))),
        };
        report.pages = 1;
        let total = first.total;
        report.reported_total = total;

        // De-duplicate by id across pages (the admin's own record is hoisted; pages can shift
        // while HR changes during the fetch) and hand records over in order.
        let mut seen: HashSet<String> = HashSet::new();
        let mut delivered = 0usize;
        let mut dupes = 0usize;
        let mut deliver = |records: Vec<Map<String, Value>>| {
            for rec in records {
                let id = rec.get("id").and_then(id_text);
                if let Some(id) = &id
                    && !seen.insert(id.clone())
                {
                    dupes += 1;
                    continue;
                }
                sink(HrRecord {
                    index: delivered,
                    source_id: id,
                    fields: rec,
                    problems: Vec::new(),
                });
                delivered += 1;
            }
        };
        let first_empty = first.records.is_empty();
        deliver(first.records);

        let mut error: Option<String> = None;
        let mut shrank = false;
        // The first page whose total differs from page 1's: (page, its total).
        let mut moved: Option<(u64, u64)> = None;
        if !first_empty {
            match total {
                Some(total) => {
                    // The total is known: fetch the remaining pages concurrently, in order.
                    let last = total.div_ceil(limit);
                    let mut stream = futures::stream::iter(2..=last)
                        .map(|p| {
                            let client = &client;
                            async move { (p, self.page(client, p, limit, keep).await) }
                        })
                        .buffered(self.concurrency.max(1));
                    while let Some((p, res)) = stream.next().await {
                        match res {
                            Ok(page) => {
                                report.pages += 1;
                                if let Some(t) = page.total
                                    && t != total
                                    && moved.is_none()
                                {
                                    moved = Some((p, t));
                                }
                                if page.records.is_empty() && !shrank {
                                    // Fewer people than `total` said: the list shrank meanwhile.
                                    shrank = true;
                                    report.notes.push(format!(
                                        "page {p} was empty before the reported total {total}"
                                    ));
                                }
                                deliver(page.records);
                            }
                            Err(e) => {
                                error = Some(format!("page {p}: {}", e.message()));
                                break;
                            }
                        }
                    }
                }
                None => {
                    // No total: walk pages until an empty one (nextPage never ends).
                    let mut p = 2u64;
                    loop {
                        match self.page(&client, p, limit, keep).await {
                            Ok(page) if page.records.is_empty() => {
                                report.pages += 1;
                                break;
                            }
                            Ok(page) => {
                                report.pages += 1;
                                let short = (page.records.len() as u64) < limit;
                                deliver(page.records);
                                if short {
                                    break;
                                }
                                p += 1;
                            }
                            Err(e) => {
                                error = Some(format!("page {p}: {}", e.message()));
                                break;
                            }
                        }
                    }
                }
            }
        }

        if dupes > 0 {
            report.notes.push(format!(
                "{dupes} record(s) appeared twice across pages (same id); kept the first"
            ));
        }
        report.records = delivered;
        // Offset paging: a person deleted during the fetch shifts every later row back by one,
        // so someone who still exists is never served. Fewer records than the total, or a total
        // that moved, means the list changed under us: not complete, so nobody is a leaver
        // for being missing from it.
        if error.is_none()
            && let Some(t) = total
        {
            if (delivered as u64) < t {
                error = Some(format!(
                    "server reported total {t} but {delivered} records arrived: people changed in HR during the fetch; not complete"
                ));
            } else if let Some((p, t2)) = moved {
                error = Some(format!(
                    "the server's total changed from {t} to {t2} (page {p}): people changed in HR during the fetch; not complete"
                ));
            }
        }
        report.complete = error.is_none();
        report.error = error;
        report.duration_ms = started.elapsed().as_millis() as u64;
        tracing::info!(
            integration = %self.name,
            records = report.records,
            pages = report.pages,
            complete = report.complete,
            ms = report.duration_ms,
            "fetched employees"
        );
        Ok(report)
    }

    async fn page(
        &self,
        client: &reqwest::Client,
        page: u64,
        limit: u64,
        keep: Option<&BTreeSet<String>>,
    ) -> std::result::Result<Page, Attempt> {
        let url = self.employees_url();
        let what = format!("{} page {page}", self.name);
        http::with_retries(self.retry, &what, || async {
            let mut query = vec![
                ("limit", limit.to_string()),
                ("page", page.to_string()),
                ("sortField", "id".to_string()),
                ("sortOrder", "ascend".to_string()),
            ];
            if let Some((field, values)) = &self.only {
                let values: Vec<&String> = values.iter().filter(|v| !v.trim().is_empty()).collect();
                query.push((
                    "filters",
                    serde_json::json!({ field.as_str(): values }).to_string(),
                ));
            }
            let resp = client
                .get(&url)
                .bearer_auth(self.token.expose())
                .query(&query)
                .send()
                .await
                .map_err(|e| http::send_error(&e))?;
            if let Some(refused) = http::refused_redirect(&resp) {
                return Err(refused);
            }
            let status = resp.status().as_u16();
            let retry_after = http::retry_after(resp.headers());
            let body = http::read_page(resp, self.max_page_bytes).await?;
            // Parsed on a blocking thread: the task fetching pages goes on handing the
            // previous page's records over (they are mapped on it) meanwhile. A 1,000-person
            // page is ~3 MB of JSON.
            let keep = keep.cloned();
            tokio::task::spawn_blocking(move || {
                parse_page(status, &body, retry_after, keep.as_ref())
            })
            .await
            .map_err(|e| Attempt::Permanent {
                status: None,
                message: format!("reading the page failed: {e}"),
            })?
        })
        .await
        .map_err(|e| large_page_hint(e, limit))
    }
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Interprets one response of `GET /employees`.
fn parse_page(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
    keep: Option<&BTreeSet<String>>,
) -> std::result::Result<Page, Attempt> {
    if status == 429 || status >= 500 {
        let detail = if body.is_empty() {
            "empty body".to_string()
        } else {
            snippet(body)
        };
        return Err(Attempt::Transient {
            message: format!("HTTP {status} ({detail})"),
            retry_after,
        });
    }
    // Fast path: a well-formed page, read straight into the kept fields only (the rest of
    // each record is skipped without being built, which keeps 100k-employee fetches lean).
    if status == 200
        && let Ok(page) = projected::parse(body, keep)
    {
        return Ok(page);
    }
    let json: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) if status == 200 => {
            return Err(Attempt::Transient {
                message: format!(
                    "HTTP 200 but the body is not JSON ({e}): {}; if this persists, check that the REST API is enabled and the base URL ends in /app/api",
                    snippet(body)
                ),
                retry_after: None,
            });
        }
        Err(_) => {
            return Err(Attempt::Permanent {
                status: Some(status),
                message: format!("HTTP {status}: {}", snippet(body)),
            });
        }
    };
    // IceHrm reports some failures (an invalidated token) as HTTP 200 with an error body:
    // reported as what it is (HTTP 200), not as a 403 that never happened.
    if let Some(err) = json.get("error") {
        let msg = error_message(err);
        let message = if status == 200 {
            format!(
                "IceHrm answered HTTP 200 with an error body instead of employees ({msg}): the token was invalidated, e.g. its user's password changed after the token was made; create a new Api Access token"
            )
        } else {
            msg
        };
        return Err(Attempt::Permanent {
            status: Some(status),
            message,
        });
    }
    if status != 200 {
        return Err(Attempt::Permanent {
            status: Some(status),
            message: format!("HTTP {status}: {}", snippet(body)),
        });
    }
    let Value::Object(mut obj) = json else {
        return Err(Attempt::Permanent {
            status: None,
            message: format!(
                "HTTP {status}: expected an object with data/total, got {}",
                snippet(body)
            ),
        });
    };
    let total = obj.get("total").and_then(|t| match t {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    });
    let data = match obj.remove("data") {
        Some(Value::Array(a)) => a,
        _ => {
            return Err(Attempt::Permanent {
                status: None,
                message: format!("HTTP {status}: the response has no `data` array"),
            });
        }
    };
    let records = data
        .into_iter()
        .filter_map(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .collect();
    Ok(Page { records, total })
}

/// Page sizes from which a 500 suggests a smaller `page_size`.
pub const LARGE_PAGE: u64 = 1000;

/// A 500 on a large page is most likely PHP running out of memory (real IceHrm at the default
/// 64 MB `memory_limit` fails between 2,500 and 5,000 records a page): say so.
fn large_page_hint(e: Attempt, limit: u64) -> Attempt {
    match e {
        Attempt::Transient {
            message,
            retry_after,
        } if limit >= LARGE_PAGE && message.starts_with("HTTP 500") => Attempt::Transient {
            message: format!(
                "{message}; with page_size = {limit} this is most likely PHP running out of memory (IceHrm at a 64 MB memory_limit fails between 2,500 and 5,000 records a page): set a smaller page_size, e.g. 500, or raise PHP's memory_limit"
            ),
            retry_after,
        },
        other => other,
    }
}

/// `{"error":[[{"code":403,"message":"…"}]]}` → the message.
fn error_message(err: &Value) -> String {
    let inner = err.get(0).and_then(|x| x.get(0)).unwrap_or(err);
    match inner.get("message") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(false)) | Some(Value::Null) | None => "error without a message".into(),
        Some(other) => other.to_string(),
    }
}

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let s: String = s.chars().take(200).collect();
    s.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests;
