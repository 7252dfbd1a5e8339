//! Paycor connector: employees of one legal entity,
//! `GET {base}/v1/legalentities/{legalEntityId}/employees?include=All`.
//!
//! From the Paycor Public API (OpenAPI spec and clients):
//! - Two credentials on every call: `Authorization: Bearer <token>` **and**
//!   `Ocp-Apim-Subscription-Key: <key>`. 401 with a JSON message = subscription key missing or
//!   invalid; 401 with an empty body = bearer token missing/expired; 403 = the token lacks the
//!   Data Access the call needs.
//! - Continuation-token paging: `{hasMoreResults, continuationToken, additionalResultsUrl,
//!   records}`; the next page repeats the same request plus `continuationToken`. There is no
//!   page-size parameter (200 employees per page).
//! - 429 carries `Retry-After` (default budget 1000 calls/min per subscription key): waited out,
//!   at least 60 s when the header is missing, then the same page is asked again.
//! - Employees never disappear: a leaver has a separated `statusData.status`
//!   ([`SEPARATED`]); the fetch always lists every status.
//!
//! Not yet: the per-employee fan-out (person data), the department/manager lookups and the
//! OAuth refresh-token flow (issue 3 follow-ups). Department is the GUID in `department.id`.

use crate::http::{self, Attempt, RetryPolicy};
use crate::{Result, SourceError};
use hrsync_model::{FetchReport, HrRecord, Secret};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

/// The endpoint name mappings refer to.
pub const LEGAL_ENTITY_EMPLOYEES: &str = "legal_entity_employees";

/// Paycor's separated statuses (the five that require `eligibleForRehire` on a status write).
pub const SEPARATED: [&str; 5] = ["Terminated", "Resigned", "Retired", "LaidOff", "Deceased"];

/// The default leaver expression for Paycor mappings.
pub fn default_leaver_when() -> String {
    let list: Vec<String> = SEPARATED.iter().map(|s| format!("'{s}'")).collect();
    format!("statusData.status in [{}]", list.join(", "))
}

/// A resolved Paycor integration.
#[derive(Debug, Clone)]
pub struct Paycor {
    pub name: String,
    /// `https://apis.paycor.com` (sandbox: `https://apis-sandbox.paycor.com`).
    pub base_url: String,
    pub token: Secret,
    pub subscription_key: Secret,
    pub legal_entity_id: String,
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    #[serde(default)]
    has_more_results: bool,
    continuation_token: Option<String>,
    #[serde(default)]
    records: Vec<Map<String, Value>>,
}

impl Paycor {
    fn failed(&self, message: impl Into<String>) -> SourceError {
        SourceError::Failed {
            integration: self.name.clone(),
            endpoint: LEGAL_ENTITY_EMPLOYEES.into(),
            message: message.into(),
        }
    }

    /// Fetches every employee of the legal entity, handing each record to `sink` in order.
    /// Errors only when the first page fails; a later failure makes the fetch incomplete.
    pub async fn fetch_with(
        &self,
        keep: Option<&BTreeSet<String>>,
        mut sink: impl FnMut(HrRecord),
    ) -> Result<FetchReport> {
        let started = Instant::now();
        let client = http::client(self.timeout).map_err(|e| SourceError::Config {
            integration: self.name.clone(),
            message: e.to_string(),
        })?;
        let url = format!(
            "{}/v1/legalentities/{}/employees",
            self.base_url.trim_end_matches('/'),
            self.legal_entity_id
        );
        let mut report = FetchReport {
            integration: self.name.clone(),
            endpoint: LEGAL_ENTITY_EMPLOYEES.into(),
            ..FetchReport::default()
        };
        let mut token: Option<String> = None;
        let mut seen_tokens: HashSet<String> = HashSet::new();
        let mut seen_ids: HashSet<String> = HashSet::new();
        loop {
            let page = report.pages + 1;
            let res = http::with_retries(self.retry, &format!("{} page {page}", self.name), || {
                self.page(&client, &url, token.as_deref())
            })
            .await;
            let env = match res {
                Ok(e) => e,
                Err(Attempt::Permanent {
                    status: Some(s @ (401 | 403)),
                    message,
                }) if page == 1 => {
                    return Err(SourceError::Auth {
                        integration: self.name.clone(),
                        status: s,
                        message,
                    });
                }
                Err(e) if page == 1 => return Err(self.failed(format!("page 1: {}", e.message()))),
                Err(e) => {
                    report.error = Some(format!("page {page}: {}", e.message()));
                    break;
                }
            };
            report.pages += 1;
            for rec in env.records {
                let id = rec.get("id").and_then(Value::as_str).map(str::to_string);
                if let Some(id) = &id
                    && !seen_ids.insert(id.clone())
                {
                    continue;
                }
                let fields = match keep {
                    Some(k) => rec
                        .into_iter()
                        .filter(|(f, _)| k.contains(f) || f == "id")
                        .collect(),
                    None => rec,
                };
                sink(HrRecord {
                    index: report.records,
                    source_id: id,
                    fields,
                });
                report.records += 1;
            }
            if !env.has_more_results {
                break;
            }
            match env.continuation_token {
                Some(t) if seen_tokens.insert(t.clone()) => token = Some(t),
                Some(t) => {
                    report.error = Some(format!(
                        "page {page}: the continuation token {t} came back twice; stopped to avoid a loop"
                    ));
                    break;
                }
                None => {
                    report.error = Some(format!(
                        "page {page}: hasMoreResults without a continuationToken"
                    ));
                    break;
                }
            }
        }
        report.complete = report.error.is_none();
        report.duration_ms = started.elapsed().as_millis() as u64;
        tracing::info!(integration = %self.name, records = report.records, pages = report.pages, complete = report.complete, "fetched employees");
        Ok(report)
    }

    async fn page(
        &self,
        client: &reqwest::Client,
        url: &str,
        token: Option<&str>,
    ) -> std::result::Result<Envelope, Attempt> {
        let mut req = client
            .get(url)
            .bearer_auth(self.token.expose())
            .header("Ocp-Apim-Subscription-Key", self.subscription_key.expose())
            .query(&[("include", "All")]);
        if let Some(t) = token {
            req = req.query(&[("continuationToken", t)]);
        }
        let resp = req.send().await.map_err(|e| http::send_error(&e))?;
        let status = resp.status().as_u16();
        let retry_after = http::retry_after(resp.headers());
        let body = resp.bytes().await.map_err(|e| http::send_error(&e))?;
        parse_page(status, &body, retry_after)
    }
}

fn parse_page(
    status: u16,
    body: &[u8],
    retry_after: Option<Duration>,
) -> std::result::Result<Envelope, Attempt> {
    let text = || {
        String::from_utf8_lossy(body)
            .chars()
            .take(200)
            .collect::<String>()
    };
    match status {
        200 => serde_json::from_slice(body).map_err(|e| Attempt::Transient {
            message: format!("HTTP 200 but the page is not a Paycor employee list ({e})"),
            retry_after: None,
        }),
        // Paycor asks for at least a minute when it does not say.
        429 => Err(Attempt::Transient {
            message: "HTTP 429 (rate limit exceeded)".into(),
            retry_after: Some(retry_after.unwrap_or(Duration::from_secs(60))),
        }),
        401 if body.is_empty() => Err(Attempt::Permanent {
            status: Some(401),
            message: "the bearer token was refused (missing, expired or invalid); renew the access token".into(),
        }),
        401 => Err(Attempt::Permanent {
            status: Some(401),
            message: format!("the subscription key was refused: {}", text()),
        }),
        403 => Err(Attempt::Permanent {
            status: Some(403),
            message: "the token lacks the Data Access this call needs (AppCreator → Data Access: employee data for the legal entity)".into(),
        }),
        s if s >= 500 => Err(Attempt::Transient {
            message: format!("HTTP {s}{}", if body.is_empty() { String::new() } else { format!(": {}", text()) }),
            retry_after,
        }),
        s => Err(Attempt::Permanent {
            status: Some(s),
            message: format!("HTTP {s}: {}", text()),
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn envelopes_and_errors() {
        let e = parse_page(200, br#"{"hasMoreResults":true,"continuationToken":"t1","additionalResultsUrl":"/x","records":[{"id":"g1"}]}"#, None).ok().unwrap();
        assert!(
            e.has_more_results
                && e.continuation_token.as_deref() == Some("t1")
                && e.records.len() == 1
        );
        assert!(
            matches!(parse_page(429, b"{}", None), Err(Attempt::Transient { retry_after: Some(d), .. }) if d == Duration::from_secs(60))
        );
        assert!(
            matches!(parse_page(401, b"", None), Err(Attempt::Permanent { status: Some(401), message }) if message.contains("bearer"))
        );
        assert!(
            matches!(parse_page(401, br#"{"statusCode":401,"message":"Access denied due to missing subscription key."}"#, None), Err(Attempt::Permanent { message, .. }) if message.contains("subscription key"))
        );
        assert!(default_leaver_when().contains("'LaidOff'"));
    }
}
