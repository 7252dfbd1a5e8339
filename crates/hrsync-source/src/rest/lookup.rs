//! Asking a REST HR system for given people by key, to confirm that someone missing from a
//! full fetch has really gone (and for targeted runs): either one call per key on a per-person
//! URL (`GET /employees/{key}`, a 404 = not found), or the list endpoint with a filter
//! parameter carrying the keys (`GET /employees?ids=a,b,c`, paged as the list is).
//!
//! Configured per list endpoint (`lookup = { path = "/employees/{key}" }` or
//! `lookup = { param = "ids" }`, see [`LookupConfig`]); Paycor's preset has one
//! (`GET /v1/employees/{employeeId}`).

use super::{Endpoint, FanOut, FanOutError, Paging, RestIntegration, Template};
use crate::{Result, SourceError};
use futures::StreamExt;
use hrsync_model::{FetchReport, HrRecord};
use serde_json::{Map, Value};
use serde_json_path::JsonPath;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// The macro a per-person URL carries the key in.
pub const KEY_MACRO: &str = "key";

/// Default and upper bound of keys per filtered list request (URLs stay sane).
pub const MAX_KEYS_PER_REQUEST: usize = 100;

/// How a list endpoint looks people up by key.
#[derive(Clone, Debug)]
pub struct Lookup {
    /// The field (dotted path, after the endpoint's `fields`) the looked-up values are values
    /// of; by default the endpoint's `key`.
    pub field: String,
    pub by: LookupBy,
}

#[derive(Clone, Debug)]
pub enum LookupBy {
    /// One call per key: `url` and `query` may use `{key}`. A 404, or an answer without a
    /// record, = not found. The record is located with `records` (default: the top-level
    /// object, or a top-level array's first element) and read with the endpoint's `fields`.
    PerKey {
        url: Template,
        query: Vec<(String, Template)>,
        records: Option<JsonPath>,
        records_src: Option<String>,
    },
    /// The list endpoint itself plus the query parameter `param` = up to `max_keys` keys
    /// joined by `separator` (`?ids=a,b,c`), paged as the list is.
    Filter {
        param: String,
        separator: String,
        max_keys: usize,
    },
}

/// `lookup = { … }` of a list endpoint as written in a config, e.g.
/// `lookup = { path = "/employees/{key}" }` or `lookup = { param = "ids", max_keys = 50 }`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupConfig {
    /// Per-person URL, relative to `base_url` or absolute, with `{key}` (and any macro of the
    /// integration). Alias: `url`.
    #[serde(alias = "url")]
    pub path: Option<String>,
    /// Query parameters of the per-person call (may use `{key}`).
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// JSONPath of the record in a per-person answer (default: the answer itself).
    pub records: Option<String>,
    /// Instead of `path`: a query parameter of the list endpoint that filters by key.
    pub param: Option<String>,
    /// How the keys are joined in `param` (default `,`).
    pub separator: Option<String>,
    /// Keys per filtered request (default and at most 100).
    pub max_keys: Option<usize>,
    /// The field the keys are values of (default: the endpoint's `key`).
    pub field: Option<String>,
}

impl LookupConfig {
    /// Resolves the config of an endpoint whose key is `endpoint_key`; `known_macros` are the
    /// integration's macros (`{key}` is added). Errors are `(sub-key, message)`, e.g.
    /// `("path", "…")` for the caller to report as `….endpoint[N].lookup.path`.
    pub fn resolve(
        &self,
        endpoint_key: &str,
        known_macros: &[&str],
    ) -> std::result::Result<Lookup, (String, String)> {
        let field = self
            .field
            .clone()
            .unwrap_or_else(|| endpoint_key.to_string());
        if field.trim().is_empty() {
            return Err((
                "field".into(),
                "name the field the keys are values of".into(),
            ));
        }
        let mut known: Vec<&str> = known_macros.to_vec();
        known.push(KEY_MACRO);
        let tpl = |k: &str, v: &str| {
            Template::parse(v)
                .and_then(|t| t.check(&known).map(|()| t))
                .map_err(|e| (k.to_string(), e.to_string()))
        };
        let by = match (&self.path, &self.param) {
            (Some(_), Some(_)) => {
                return Err((
                    "param".into(),
                    "set either path (one call per person) or param (a filter of the list), not both".into(),
                ));
            }
            (None, None) => {
                return Err((
                    "path".into(),
                    "set path = \"/employees/{key}\" (one call per person) or param = \"ids\" (a filter of the list endpoint)".into(),
                ));
            }
            (Some(p), None) => {
                if self.separator.is_some() || self.max_keys.is_some() {
                    return Err((
                        "separator".into(),
                        "separator and max_keys go with param, not with path".into(),
                    ));
                }
                let url = tpl("path", p)?;
                let mut query = Vec::new();
                for (k, v) in &self.query {
                    query.push((k.clone(), tpl(&format!("query.{k}"), v)?));
                }
                if !url.uses(KEY_MACRO) && !query.iter().any(|(_, t)| t.uses(KEY_MACRO)) {
                    return Err((
                        "path".into(),
                        "a per-person URL must carry {key} in its path or query".into(),
                    ));
                }
                let records = self
                    .records
                    .as_deref()
                    .map(|r| {
                        JsonPath::parse(r).map_err(|e| {
                            (
                                "records".to_string(),
                                format!("not a JSONPath (RFC 9535): {e}"),
                            )
                        })
                    })
                    .transpose()?;
                LookupBy::PerKey {
                    url,
                    query,
                    records,
                    records_src: self.records.clone(),
                }
            }
            (None, Some(param)) => {
                if !self.query.is_empty() || self.records.is_some() {
                    return Err((
                        "query".into(),
                        "query and records go with path; a filter lookup reads the list endpoint as configured".into(),
                    ));
                }
                if param.trim().is_empty() {
                    return Err(("param".into(), "name the query parameter".into()));
                }
                let max_keys = self.max_keys.unwrap_or(MAX_KEYS_PER_REQUEST);
                if !(1..=MAX_KEYS_PER_REQUEST).contains(&max_keys) {
                    return Err((
                        "max_keys".into(),
                        format!("between 1 and {MAX_KEYS_PER_REQUEST}"),
                    ));
                }
                let separator = self.separator.clone().unwrap_or_else(|| ",".into());
                if separator.is_empty() {
                    return Err(("separator".into(), "must not be empty".into()));
                }
                LookupBy::Filter {
                    param: param.clone(),
                    separator,
                    max_keys,
                }
            }
        };
        Ok(Lookup { field, by })
    }
}

/// What one per-person call said: the record, not found (`None`), or no answer.
type OneAnswer = std::result::Result<Option<Map<String, Value>>, FanOutError>;

fn top(path: &str) -> &str {
    path.split('.').next().unwrap_or(path)
}

impl RestIntegration {
    /// Whether endpoint `ep` can look people up by `field`.
    pub fn can_look_up(&self, ep: &str, field: &str) -> bool {
        self.endpoint(ep)
            .and_then(|e| e.lookup.as_ref())
            .is_some_and(|l| l.field == field)
    }

    /// Asks for exactly the records of endpoint `ep` whose `field` is one of `values`; see
    /// [`crate::Source::look_up`]. Records whose `field` is not one of `values` (a server that
    /// ignores the filter) are dropped.
    pub async fn look_up(
        &self,
        ep: &str,
        field: &str,
        values: &BTreeSet<String>,
        keep: Option<&BTreeSet<String>>,
        mut sink: impl FnMut(HrRecord),
    ) -> Result<FetchReport> {
        let started = Instant::now();
        let e = self.endpoint(ep).ok_or_else(|| SourceError::Config {
            integration: self.name.clone(),
            message: format!("no endpoint named {ep:?}"),
        })?;
        let Some(lookup) = e.lookup.as_ref().filter(|l| l.field == field) else {
            return Err(SourceError::Config {
                integration: self.name.clone(),
                message: format!(
                    "endpoint {ep} cannot look people up by {field:?} (no lookup for that field is configured)"
                ),
            });
        };
        let mut report = FetchReport {
            integration: self.name.clone(),
            endpoint: format!("{ep} (lookup)"),
            complete: true,
            ..FetchReport::default()
        };
        if values.is_empty() {
            return Ok(report);
        }
        let keep: Option<BTreeSet<String>> = keep.map(|k| {
            let mut k = k.clone();
            k.insert(top(field).to_string());
            k.insert(top(&e.key).to_string());
            k
        });
        match &lookup.by {
            LookupBy::PerKey {
                url,
                query,
                records,
                records_src,
            } => {
                let one = Endpoint {
                    name: format!("{ep} lookup"),
                    method: reqwest::Method::GET,
                    url: url.clone(),
                    headers: e.headers.clone(),
                    query: query.clone(),
                    body: None,
                    records: records.clone(),
                    records_src: records_src.clone(),
                    fields: e.fields.clone(),
                    key: e.key.clone(),
                    paging: Paging::None,
                    for_each: Some(FanOut {
                        endpoint: ep.to_string(),
                        field: field.to_string(),
                        macro_name: KEY_MACRO.to_string(),
                    }),
                    lookup: None,
                };
                self.look_up_per_key(&one, field, values, keep.as_ref(), &mut report, &mut sink)
                    .await?;
            }
            LookupBy::Filter {
                param,
                separator,
                max_keys,
            } => {
                let all: Vec<&String> = values.iter().collect();
                for (i, chunk) in all.chunks(*max_keys).enumerate() {
                    let joined = chunk
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(separator);
                    let mut filtered = e.clone();
                    filtered.query.retain(|(k, _)| k != param);
                    filtered
                        .query
                        .push((param.clone(), Template::literal(&joined)));
                    let res = self
                        .fetch_list(&filtered, keep.as_ref(), |r| {
                            let hit = crate::lookup_scalar(&r.fields, field)
                                .is_some_and(|v| values.contains(&v));
                            if hit {
                                sink(HrRecord {
                                    index: report.records,
                                    ..r
                                });
                                report.records += 1;
                            }
                        })
                        .await;
                    match res {
                        Ok(r) => report.absorb(r),
                        Err(err) if i == 0 => return Err(err),
                        Err(err) => {
                            report.error.get_or_insert(err.to_string());
                        }
                    }
                }
            }
        }
        report.complete = report.error.is_none();
        report.duration_ms = started.elapsed().as_millis() as u64;
        Ok(report)
    }

    async fn look_up_per_key(
        &self,
        one: &Endpoint,
        field: &str,
        values: &BTreeSet<String>,
        keep: Option<&BTreeSet<String>>,
        report: &mut FetchReport,
        sink: &mut impl FnMut(HrRecord),
    ) -> Result<()> {
        let client = self.client()?;
        let results: Vec<(String, OneAnswer)> = futures::stream::iter(values.iter().cloned())
            .map(|v| {
                let client = &client;
                async move {
                    let r = self.fetch_one(client, one, &v).await;
                    (v, r)
                }
            })
            .buffered(self.concurrency.max(1))
            .collect()
            .await;
        report.pages = results.len() as u64;
        let refused = results
            .iter()
            .filter(|(_, r)| matches!(r, Err(FanOutError::Auth(..))))
            .count();
        if refused == results.len()
            && let Some((_, Err(FanOutError::Auth(status, message)))) = results.first()
        {
            return Err(SourceError::Auth {
                integration: self.name.clone(),
                status: *status,
                message: format!("lookup {}: {message}", one.name),
            });
        }
        let mut failed: Vec<String> = Vec::new();
        for (v, r) in results {
            match r {
                Ok(None) => {}
                Ok(Some(fields)) => match crate::lookup_scalar(&fields, field) {
                    Some(got) if got == v => {
                        let fields = match keep {
                            Some(k) => fields.into_iter().filter(|(f, _)| k.contains(f)).collect(),
                            None => fields,
                        };
                        sink(HrRecord {
                            index: report.records,
                            source_id: crate::lookup_scalar(&fields, &one.key),
                            fields,
                            problems: Vec::new(),
                        });
                        report.records += 1;
                    }
                    // An answer that is not the person asked for proves nothing either way.
                    Some(got) => failed.push(format!(
                        "{v}: the answer is for {field} = {got:?}, not the person asked for"
                    )),
                    None => failed.push(format!(
                        "{v}: the answer has no {field}; check the lookup's records path"
                    )),
                },
                Err(FanOutError::Auth(status, message)) => {
                    failed.push(format!("{v}: HTTP {status}: {message}"))
                }
                Err(FanOutError::Failed(m)) => failed.push(format!("{v}: {m}")),
            }
        }
        if let Some(first) = failed.first() {
            report.error = Some(format!(
                "{} of {} lookups could not tell whether the person exists (first: {first})",
                failed.len(),
                report.pages
            ));
        }
        Ok(())
    }
}
