//! Several endpoints joined into one person record.
//!
//! The mapping's endpoint gives the people (the *primary* records); each joined endpoint adds
//! data to them, either as a list matched on the primary key (`key` of the joined endpoint
//! against the mapping's `primary_key`) or by a fan-out call per person (`for_each`).
//!
//! - A joined endpoint's fields are always reachable namespaced, as `{endpoint.field}`; they are
//!   also copied to the top level unless that name is already taken (a collision, reported
//!   once per field), so `{phone}` works until two endpoints both have a `phone`.
//! - A person missing from a required joined endpoint is **not** merged with half its data: the
//!   record carries a problem, the mapping turns it into a finding, and the person's account is
//!   left as it is. The same happens when a fan-out call for that person failed.
//! - Keys a list endpoint has but the primary endpoint does not are reported.
//! - The fetch is complete only when the primary and every joined endpoint are complete.

use super::{FanOutError, RestIntegration};
use crate::{Result, Source, SourceError};
use futures::StreamExt;
use hrsync_model::{FetchReport, HrRecord};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

/// A joined endpoint of a mapping.
#[derive(Clone, Debug)]
pub struct JoinPart {
    pub endpoint: String,
    /// A person without a record here is held back (true) or synced without it (false).
    pub required: bool,
}

/// The joins of one mapping.
#[derive(Clone, Debug)]
pub struct JoinSpec {
    /// The integration whose endpoints are joined (authorization, limits).
    pub rest: RestIntegration,
    /// Dotted path of the primary key in the primary records.
    pub primary_key: String,
    pub parts: Vec<JoinPart>,
    /// Call fan-out endpoints for the first N people only (`endpoint test`); the others get no
    /// data and no problem.
    pub fan_out_limit: Option<usize>,
    /// Only records whose field (dotted path) is one of these values are kept — before the
    /// fan-out calls, so a targeted run (an HR event) makes one call per named person, not one
    /// per employee.
    pub only: Option<(String, BTreeSet<String>)>,
}

/// What one joined endpoint produced.
enum PartData {
    List {
        by_key: HashMap<String, Map<String, Value>>,
        report: FetchReport,
    },
    FanOut {
        field: String,
        by_value: HashMap<String, std::result::Result<Option<Map<String, Value>>, String>>,
        calls: usize,
        failed: usize,
    },
}

/// How many keys a note lists before "…".
const LIST_IN_NOTES: usize = 10;

fn top(path: &str) -> String {
    path.split('.').next().unwrap_or(path).to_string()
}

impl JoinSpec {
    /// Fetches the primary records, then every joined endpoint, and hands merged records to
    /// `sink` in the primary order.
    pub async fn fetch_with(
        &self,
        primary: &Source,
        keep: Option<&BTreeSet<String>>,
        mut sink: impl FnMut(HrRecord),
    ) -> Result<FetchReport> {
        let started = Instant::now();
        let rest = &self.rest;
        // What the primary fetch must keep: the mapping's fields, the join keys.
        let need = keep.map(|k| {
            let mut n: BTreeSet<String> = k.clone();
            n.insert(top(&self.primary_key));
            if let Some((f, _)) = &self.only {
                n.insert(top(f));
            }
            for p in &self.parts {
                if let Some(f) = rest.endpoint(&p.endpoint).and_then(|e| e.for_each.as_ref()) {
                    n.insert(top(&f.field));
                }
            }
            n
        });
        let mut records = Vec::new();
        // Keys compared as the primary source compares them (IceHrm: `emp112` = `EMP112`).
        let only: Option<(&String, BTreeSet<String>)> = self
            .only
            .as_ref()
            .map(|(f, values)| (f, values.iter().map(|v| primary.normalize_key(v)).collect()));
        let mut report = primary
            .fetch_boxed(need.as_ref(), &mut |r| {
                let wanted = only.as_ref().is_none_or(|(f, values)| {
                    crate::lookup_scalar(&r.fields, f)
                        .is_some_and(|v| values.contains(&primary.normalize_key(&v)))
                });
                if wanted {
                    records.push(r);
                }
            })
            .await?;
        let client = rest.client()?;
        let mut datas = Vec::new();
        for p in &self.parts {
            let ep = rest
                .endpoint(&p.endpoint)
                .ok_or_else(|| SourceError::Config {
                    integration: rest.name.clone(),
                    message: format!("no endpoint named {:?} to join", p.endpoint),
                })?;
            let data = match &ep.for_each {
                None => {
                    let mut by_key = HashMap::new();
                    let r = rest
                        .fetch_list(ep, None, |rec| {
                            if let Some(k) = rec.source_id.clone() {
                                by_key.entry(k).or_insert(rec.fields);
                            }
                        })
                        .await?;
                    PartData::List { by_key, report: r }
                }
                Some(f) => {
                    let values: BTreeSet<String> = records
                        .iter()
                        .filter_map(|r| crate::lookup_scalar(&r.fields, &f.field))
                        .take(self.fan_out_limit.unwrap_or(usize::MAX))
                        .collect();
                    let calls = values.len();
                    let results: Vec<(String, std::result::Result<_, FanOutError>)> =
                        futures::stream::iter(values)
                            .map(|v| {
                                let client = &client;
                                async move {
                                    let r = rest.fetch_one(client, ep, &v).await;
                                    (v, r)
                                }
                            })
                            .buffer_unordered(rest.concurrency.max(1))
                            .collect()
                            .await;
                    // Refused for everyone: the credentials are wrong; stop before planning.
                    // Refused for some: those people are held back, the others go on.
                    let refused = results
                        .iter()
                        .filter(|(_, r)| matches!(r, Err(FanOutError::Auth(..))))
                        .count();
                    if refused > 0
                        && refused == results.len()
                        && let Some((_, Err(FanOutError::Auth(status, message)))) = results.first()
                    {
                        return Err(SourceError::Auth {
                            integration: rest.name.clone(),
                            status: *status,
                            message: format!("endpoint {}: {message}", ep.name),
                        });
                    }
                    let mut by_value = HashMap::new();
                    let mut failed = 0;
                    for (v, r) in results {
                        match r {
                            Err(FanOutError::Auth(status, message)) => {
                                failed += 1;
                                by_value.insert(v, Err(format!("HTTP {status}: {message}")));
                            }
                            Err(FanOutError::Failed(m)) => {
                                failed += 1;
                                by_value.insert(v, Err(m));
                            }
                            Ok(x) => {
                                by_value.insert(v, Ok(x));
                            }
                        }
                    }
                    PartData::FanOut {
                        field: f.field.clone(),
                        by_value,
                        calls,
                        failed,
                    }
                }
            };
            datas.push(data);
        }

        // Completeness and notes per joined endpoint.
        let mut errors: Vec<String> = report.error.iter().cloned().collect();
        for (p, d) in self.parts.iter().zip(&datas) {
            match d {
                PartData::List { report: r, .. } => {
                    report.pages += r.pages;
                    report
                        .notes
                        .extend(r.notes.iter().map(|n| format!("{}: {n}", p.endpoint)));
                    if let Some(e) = &r.error {
                        errors.push(format!("joined endpoint {}: {e}", p.endpoint));
                    }
                }
                PartData::FanOut { calls, failed, .. } => {
                    report.pages += *calls as u64;
                    if *failed > 0 {
                        errors.push(format!(
                            "joined endpoint {}: {failed} of {calls} calls failed",
                            p.endpoint
                        ));
                    }
                }
            }
        }

        // Merge.
        let mut used: Vec<BTreeSet<String>> = vec![BTreeSet::new(); datas.len()];
        let mut collisions: BTreeMap<(String, String), usize> = BTreeMap::new();
        let mut clashes: BTreeMap<String, usize> = BTreeMap::new();
        let mut missing: Vec<(String, usize)> =
            self.parts.iter().map(|p| (p.endpoint.clone(), 0)).collect();
        let names: BTreeSet<&str> = self.parts.iter().map(|p| p.endpoint.as_str()).collect();
        for mut rec in records {
            let key = crate::lookup_scalar(&rec.fields, &self.primary_key);
            let mut flat_from: BTreeMap<String, String> = BTreeMap::new();
            for (i, (p, d)) in self.parts.iter().zip(&datas).enumerate() {
                let (found, problem) = match d {
                    PartData::List { by_key, report: r } => match &key {
                        None => (None, None),
                        Some(k) => match by_key.get(k) {
                            Some(f) => {
                                used[i].insert(k.clone());
                                (Some(f.clone()), None)
                            }
                            None if !r.complete => (
                                None,
                                Some(format!(
                                    "joined endpoint {} was fetched incompletely and has no record for key {k}",
                                    p.endpoint
                                )),
                            ),
                            None if p.required => (
                                None,
                                Some(format!(
                                    "key {k} is missing from joined endpoint {}; the person is left unchanged until it is there (or make the join optional)",
                                    p.endpoint
                                )),
                            ),
                            None => (None, None),
                        },
                    },
                    PartData::FanOut {
                        field, by_value, ..
                    } => match crate::lookup_scalar(&rec.fields, field) {
                        None => (
                            None,
                            p.required.then(|| {
                                format!(
                                    "field {field} is empty, so joined endpoint {} cannot be called for this person",
                                    p.endpoint
                                )
                            }),
                        ),
                        Some(v) => match by_value.get(&v) {
                            Some(Ok(Some(f))) => (Some(f.clone()), None),
                            Some(Err(m)) => (
                                None,
                                Some(format!(
                                    "joined endpoint {} failed for {v}: {m}",
                                    p.endpoint
                                )),
                            ),
                            None if self.fan_out_limit.is_some() => (None, None),
                            _ => (
                                None,
                                p.required.then(|| {
                                    format!(
                                        "joined endpoint {} has nothing for {v} (HTTP 404 or no record); the person is left unchanged until it does",
                                        p.endpoint
                                    )
                                }),
                            ),
                        },
                    },
                };
                if let Some(m) = problem {
                    missing[i].1 += 1;
                    rec.problems.push(m);
                }
                let Some(fields) = found else { continue };
                for (k, v) in &fields {
                    let taken = rec.fields.contains_key(k) || names.contains(k.as_str());
                    if taken {
                        *collisions
                            .entry((p.endpoint.clone(), k.clone()))
                            .or_default() += 1;
                        continue;
                    }
                    flat_from.insert(k.clone(), p.endpoint.clone());
                    rec.fields.insert(k.clone(), v.clone());
                }
                if rec.fields.contains_key(&p.endpoint) && !flat_from.contains_key(&p.endpoint) {
                    *clashes.entry(p.endpoint.clone()).or_default() += 1;
                } else {
                    rec.fields.insert(p.endpoint.clone(), Value::Object(fields));
                }
            }
            if let Some(keep) = keep {
                rec.fields.retain(|f, _| keep.contains(f));
            }
            sink(rec);
        }
        for (ep, n) in clashes {
            report.notes.push(format!(
                "{n} primary record(s) have a field named like joined endpoint {ep}; its data is not reachable as {{{ep}.…}}: rename the endpoint"
            ));
        }
        for ((ep, field), n) in collisions {
            report.notes.push(format!(
                "field {field} of joined endpoint {ep} collides with a field of another endpoint ({n} records); it is available as {{{ep}.{field}}}"
            ));
        }
        for ((p, d), used) in self.parts.iter().zip(&datas).zip(&used) {
            if let PartData::List { by_key, .. } = d {
                let mut orphans: Vec<&String> =
                    by_key.keys().filter(|k| !used.contains(*k)).collect();
                if !orphans.is_empty() {
                    orphans.sort();
                    let n = orphans.len();
                    let shown: Vec<&str> = orphans
                        .iter()
                        .take(LIST_IN_NOTES)
                        .map(|s| s.as_str())
                        .collect();
                    report.notes.push(format!(
                        "joined endpoint {} has {n} key(s) that no {} record has: {}{}",
                        p.endpoint,
                        report.endpoint,
                        shown.join(", "),
                        if n > LIST_IN_NOTES { ", …" } else { "" }
                    ));
                }
            }
        }
        for (ep, n) in missing {
            if n > 0 {
                report.notes.push(format!(
                    "{n} person(s) held back: no usable record in joined endpoint {ep}"
                ));
            }
        }
        report.endpoint = std::iter::once(report.endpoint.clone())
            .chain(self.parts.iter().map(|p| p.endpoint.clone()))
            .collect::<Vec<_>>()
            .join("+");
        report.error = (!errors.is_empty()).then(|| errors.join("; "));
        report.complete = report.error.is_none();
        report.duration_ms = started.elapsed().as_millis() as u64;
        Ok(report)
    }
}
