//! HR sources: each connector fetches people from one HR system and hands over
//! [`HrRecord`](hrsync_model::HrRecord)s plus a [`FetchReport`](hrsync_model::FetchReport) that says
//! whether the fetch was complete. A connector never decides who left: it only reports what it got.
//!
//! - [`icehrm`]: IceHrm's REST API (`GET {base}/employees`), built against real v35 captures.
//! - [`paycor`]: Paycor's Public API, as [`rest`] endpoints preset (employees of a legal entity,
//!   person data per employee), OAuth refresh flow ([`oauth`]), 1000 calls/min budget.
//! - [`rest`]: custom REST endpoints (macros, JSONPath, five pagination styles, fan-out) and
//!   joins of several endpoints into one person record ([`rest::join`]).
//! - [`csv`]: an HR export file (header row, delimiter, UTF-8 or Latin-1).
//! - [`Source`]: the one type the engine calls, whatever the kind.
//! - [`http`]: shared HTTP concerns (client, retries with backoff on 5xx/timeouts, error bodies).

pub mod csv;
pub mod http;
pub mod icehrm;
pub mod oauth;
pub mod paycor;
mod paycor_hints;
pub mod profile;
pub mod rest;

use hrsync_model::{FetchReport, HrRecord};
use std::collections::BTreeSet;

/// A configured HR source of any kind.
#[derive(Debug, Clone)]
pub enum Source {
    IceHrm(icehrm::IceHrm),
    Csv(csv::Csv),
    /// A custom REST endpoint (a list endpoint of a `rest` integration).
    Rest(rest::RestIntegration, String),
    /// A primary source with joined endpoints.
    Joined(Box<Source>, rest::join::JoinSpec),
}

impl Source {
    pub fn name(&self) -> &str {
        match self {
            Source::IceHrm(s) => &s.name,
            Source::Csv(s) => &s.name,
            Source::Rest(s, _) => &s.name,
            Source::Joined(p, _) => p.name(),
        }
    }

    /// Checks what can be known to be wrong without a network (for `hrsync check`): a
    /// `base_url` that is not an http(s) URL or carries credentials (`http://admin:pw@host`),
    /// an IceHrm token that is not a JWT. The error is [`SourceError::Config`] naming the key
    /// (`base_url`, the token) and the fix; it never contains a secret. Fetches and lookups
    /// run it too, before any request.
    pub fn check(&self) -> Result<()> {
        match self {
            Source::IceHrm(s) => s.check(),
            Source::Csv(_) => Ok(()),
            Source::Rest(r, _) => r.check(),
            Source::Joined(p, j) => {
                p.check()?;
                j.rest.check()
            }
        }
    }

    /// Whether a fetch depends on `{lastRunTime}` (an incremental fetch: people missing from
    /// it have not left).
    pub fn uses_last_run_time(&self) -> bool {
        let uses = |r: &rest::RestIntegration, ep: &str| {
            r.endpoint(ep).is_some_and(|e| {
                let t = rest::LAST_RUN_TIME;
                e.url.uses(t)
                    || e.query.iter().any(|(_, v)| v.uses(t))
                    || e.headers.iter().any(|(_, v)| v.uses(t))
                    || e.body.as_ref().is_some_and(|b| b.uses(t))
            })
        };
        match self {
            Source::Rest(r, ep) => uses(r, ep),
            Source::Joined(p, _) => p.uses_last_run_time(),
            _ => false,
        }
    }

    /// Asks the source for only the records whose `field` is one of `values` (a targeted run).
    /// Returns whether the source filters server-side; otherwise it fetches everything and the
    /// caller filters (correct, only slower) — with [`Source::key_matches`], as the source
    /// would. No values = nobody (IceHrm is never sent an empty filter).
    pub fn restrict(&mut self, field: &str, values: &BTreeSet<String>) -> bool {
        match self {
            // IceHrm filters on a column (a computed field would be a 500).
            Source::IceHrm(s) if icehrm::is_column(field) => {
                s.only = Some((field.to_string(), values.iter().cloned().collect()));
                true
            }
            // Joins drop the others before their per-person calls.
            Source::Joined(p, j) => {
                j.only = Some((field.to_string(), values.clone()));
                p.restrict(field, values)
            }
            _ => false,
        }
    }

    /// Whether [`Source::look_up`] can ask the HR system for people by `field`: IceHrm for
    /// any column of `Employees` (the primary key `employee_id`, the internal `id` of a
    /// supervisor, …); a REST endpoint with a `lookup` for that field (Paycor's preset: `id`);
    /// a joined source when its primary can. CSV never.
    pub fn can_look_up(&self, field: &str) -> bool {
        match self {
            Source::IceHrm(_) => icehrm::is_column(field),
            Source::Csv(_) => false,
            Source::Rest(r, ep) => r.can_look_up(ep, field),
            Source::Joined(p, _) => p.can_look_up(field),
        }
    }

    /// Asks the HR system for exactly the people whose `field` (the mapping's primary key, or
    /// IceHrm's internal `id`) is one of `values`, and hands each record found to `sink`:
    /// anyone returned still exists in HR. Values are matched as the source matches them
    /// ([`Source::key_matches`]: `emp112` asked, `EMP112` returned); records matching none of
    /// `values` are dropped. No values: no request, nobody.
    ///
    /// IceHrm: `filters={"<field>":[…]}`, 100 values per request. REST: the endpoint's
    /// `lookup` (one call per key on a per-person URL, 404 = not found; or the list with a
    /// filter parameter). Paycor: `GET /v1/employees/{id}`. Joined sources: the primary only
    /// (records carry the primary endpoint's fields, no joined data).
    ///
    /// `report.complete` is true only when every value got an answer (found or not found).
    /// When it is false, a value not returned may still exist: do not treat anyone as gone on
    /// the strength of it. Errors when the source cannot look up by `field`
    /// ([`Source::can_look_up`]) or when nothing usable arrived (auth refused, first request
    /// failed); records already handed to `sink` before a later failure are real.
    pub async fn look_up(
        &self,
        field: &str,
        values: &BTreeSet<String>,
        keep: Option<&BTreeSet<String>>,
        mut sink: impl FnMut(HrRecord),
    ) -> Result<FetchReport> {
        match self {
            Source::IceHrm(s) => s.look_up(field, values, keep, sink).await,
            Source::Csv(s) => Err(SourceError::Config {
                integration: s.name.clone(),
                message: "a CSV export cannot look people up; missing people are confirmed by a second complete fetch".into(),
            }),
            Source::Rest(r, ep) => r.look_up(ep, field, values, keep, sink).await,
            Source::Joined(p, _) => {
                let mut found = Vec::new();
                let report = p
                    .look_up_boxed(field, values, keep, &mut |r| found.push(r))
                    .await?;
                found.into_iter().for_each(&mut sink);
                Ok(report)
            }
        }
    }

    /// [`Source::look_up`] with a type-erased sink (what a joined source calls its primary
    /// with, so the recursion ends).
    pub fn look_up_boxed<'a>(
        &'a self,
        field: &'a str,
        values: &'a BTreeSet<String>,
        keep: Option<&'a BTreeSet<String>>,
        sink: &'a mut (dyn FnMut(HrRecord) + Send),
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<FetchReport>> + Send + 'a>> {
        Box::pin(self.look_up(field, values, keep, sink))
    }

    /// A key as the source compares keys: IceHrm's database is case- and accent-insensitive
    /// (`EMP112` = `emp112`, `José` = `jose`), so its keys are lower-cased and folded; the
    /// other kinds compare exactly (the key unchanged). Equal normal forms = the same person.
    pub fn normalize_key(&self, key: &str) -> String {
        match self {
            Source::IceHrm(_) => icehrm::normalize(key),
            Source::Joined(p, _) => p.normalize_key(key),
            Source::Csv(_) | Source::Rest(..) => key.to_string(),
        }
    }

    /// Whether the key `got` (in a returned record) is the key `wanted` (from an event, a
    /// link, a lookup) as the source compares them; see [`Source::normalize_key`].
    pub fn key_matches(&self, wanted: &str, got: &str) -> bool {
        self.normalize_key(wanted) == self.normalize_key(got)
    }

    /// Sets `{lastRunTime}` (RFC 3339) for the next fetch; `None` = the epoch (everything).
    pub fn set_last_run_time(&mut self, at: Option<String>) {
        match self {
            Source::Rest(r, _) => r.last_run_time = at,
            Source::Joined(p, j) => {
                j.rest.last_run_time = at.clone();
                p.set_last_run_time(at);
            }
            _ => {}
        }
    }

    /// The request(s) a fetch makes, for display: secrets shown as `[redacted]`.
    pub fn describe_request(&self) -> String {
        match self {
            Source::IceHrm(s) => format!(
                "GET {}/employees?limit={}&page=1..N&sortField=id&sortOrder=ascend\nAuthorization: Bearer [redacted]",
                s.base_url.trim_end_matches('/'),
                s.page_size
            ),
            Source::Csv(s) => format!(
                "read {} (delimiter {:?}, {:?})",
                s.path.display(),
                char::from(s.delimiter),
                s.encoding
            ),
            Source::Rest(s, ep) => match s.endpoint(ep) {
                Some(e) => s.describe(e),
                None => format!("(no endpoint {ep:?})"),
            },
            Source::Joined(p, j) => {
                let mut out = p.describe_request();
                for part in &j.parts {
                    if let Some(e) = j.rest.endpoint(&part.endpoint) {
                        out.push_str(&format!(
                            "\n\njoined{}: {}",
                            if part.required { "" } else { " (optional)" },
                            j.rest.describe(e)
                        ));
                    }
                }
                out
            }
        }
    }

    /// [`Source::fetch_with`] with a type-erased sink (what a joined source calls its primary
    /// with: a concrete type, so the generic recursion ends).
    pub fn fetch_boxed<'a>(
        &'a self,
        keep: Option<&'a BTreeSet<String>>,
        sink: &'a mut (dyn FnMut(HrRecord) + Send),
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<FetchReport>> + Send + 'a>> {
        Box::pin(self.fetch_with(keep, sink))
    }

    /// Fetches every record, handing each to `sink` as it arrives; see the kinds' docs.
    pub async fn fetch_with(
        &self,
        keep: Option<&BTreeSet<String>>,
        sink: impl FnMut(HrRecord),
    ) -> Result<FetchReport> {
        match self {
            Source::IceHrm(s) => s.fetch_employees_with(keep, sink).await,
            Source::Csv(s) => s.fetch_with(keep, sink),
            Source::Rest(s, ep) => {
                let e = s.endpoint(ep).ok_or_else(|| SourceError::Config {
                    integration: s.name.clone(),
                    message: format!("no endpoint named {ep:?}"),
                })?;
                s.fetch_list(e, keep, sink).await
            }
            Source::Joined(p, j) => j.fetch_with(p, keep, sink).await,
        }
    }
}

/// What a fetch produced. `report.complete` is false when some page never arrived; the
/// records that did arrive are still here.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub records: Vec<HrRecord>,
    pub report: FetchReport,
}

/// A fetch that produced nothing usable. Never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "integration {integration}: authorization failed (HTTP {status}: {message}); check the token (it is read from the configured env var or file)"
    )]
    Auth {
        integration: String,
        status: u16,
        message: String,
    },
    #[error("integration {integration}: {endpoint}: {message}")]
    Failed {
        integration: String,
        endpoint: String,
        message: String,
    },
    #[error("integration {integration}: invalid configuration: {message}")]
    Config {
        integration: String,
        message: String,
    },
}

pub type Result<T> = std::result::Result<T, SourceError>;

pub(crate) use hrsync_model::record::lookup_scalar;
