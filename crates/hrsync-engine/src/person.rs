//! One person's HR record, fetched as cheaply as the source allows: a lookup by key where the
//! source has one (a REST endpoint's `lookup`, Paycor's per-employee call), a server-side
//! filter where it can filter (IceHrm; a joined source's per-person calls), otherwise the full
//! fetch with everyone else dropped. `hrsync explain` and `hrsync test --record` use it.

use hrsync_config::Job;
use hrsync_model::{FetchReport, HrRecord};
use hrsync_source::Source;
use serde::Serialize;
use std::collections::BTreeSet;

/// How the record was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Looked up by key (one request or a few).
    Lookup,
    /// The fetch, filtered server-side to this person.
    Filtered,
    /// Everyone fetched, the others dropped here (CSV; REST without a lookup).
    FullFetch,
}

/// What [`fetch`] found.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The person's record (every field, not only those the mapping reads); None when HR has
    /// nobody with that key.
    pub record: Option<HrRecord>,
    pub method: Method,
    pub report: FetchReport,
    /// Where each top-level field came from: the primary endpoint, or a joined one.
    pub provenance: Vec<(String, String)>,
}

impl Fetched {
    /// The record's fields with sensitive values masked ([`crate::sensitive::mask`]), and
    /// every field a sensitive joined endpoint (`compensation`) brought, at the top level too.
    pub fn masked_fields(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        let rec = self.record.as_ref()?;
        let mut out = crate::sensitive::mask(&rec.fields);
        for (k, from) in &self.provenance {
            if from
                .strip_prefix("join ")
                .is_some_and(crate::sensitive::is_sensitive)
                && let Some(v) = out.get_mut(k)
                && !v.is_null()
            {
                *v = crate::sensitive::mask_all(v);
            }
        }
        Some(out)
    }
}

/// The record of the person whose primary key is `key` (compared as the source compares keys).
pub async fn fetch(job: &Job, key: &str) -> Result<Fetched, hrsync_source::SourceError> {
    let spec = job.mapping.spec();
    let pk = spec.primary_key.as_str();
    let values = BTreeSet::from([key.to_string()]);
    let mut found: Vec<HrRecord> = Vec::new();
    let mut source = job.source.clone();
    // A joined source's lookup returns the primary's fields only: its data comes from the
    // (restricted) fetch, which calls the joined endpoints for this person alone.
    let lookup =
        !matches!(source, Source::Joined(..) | Source::IceHrm(_)) && source.can_look_up(pk);
    let (method, report) = if lookup {
        let r = source.look_up(pk, &values, None, |r| found.push(r)).await?;
        (Method::Lookup, r)
    } else {
        let filtered = source.restrict(pk, &values);
        let r = source
            .fetch_with(None, |r| {
                let k = hrsync_model::record::lookup_scalar(&r.fields, pk);
                if k.is_some_and(|k| job.source.key_matches(key, &k)) {
                    found.push(r);
                }
            })
            .await?;
        let m = if filtered {
            Method::Filtered
        } else {
            Method::FullFetch
        };
        (m, r)
    };
    let record = found.into_iter().next();
    let provenance = record
        .as_ref()
        .map(|r| provenance(&job.source, r))
        .unwrap_or_default();
    Ok(Fetched {
        record,
        method,
        report,
        provenance,
    })
}

/// Each top-level field with the endpoint it came from: a joined endpoint's fields are under
/// its name and copied to the top level (see `hrsync_source::rest::join`); the rest are the
/// primary endpoint's.
fn provenance(source: &Source, rec: &HrRecord) -> Vec<(String, String)> {
    let primary = primary_endpoint(source);
    let parts: Vec<String> = match source {
        Source::Joined(_, j) => j.parts.iter().map(|p| p.endpoint.clone()).collect(),
        _ => Vec::new(),
    };
    rec.fields
        .iter()
        .map(|(k, v)| {
            let from = parts
                .iter()
                .find(|p| {
                    *p == k
                        || rec
                            .fields
                            .get(p.as_str())
                            .and_then(|o| o.as_object())
                            .and_then(|o| o.get(k))
                            .is_some_and(|x| x == v)
                })
                .map(|p| format!("join {p}"))
                .unwrap_or_else(|| primary.clone());
            (k.clone(), from)
        })
        .collect()
}

/// The name of the endpoint a source's people come from.
pub fn primary_endpoint(source: &Source) -> String {
    match source {
        Source::IceHrm(_) => "get_employees".into(),
        Source::Csv(_) => "rows".into(),
        Source::Rest(_, ep) => ep.clone(),
        Source::Joined(p, _) => primary_endpoint(p),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A joined `compensation` endpoint's fields are copied to the top level (`grade`): they
    /// are masked there too, keeping their shape under the endpoint's name.
    #[test]
    fn fields_of_a_sensitive_join_are_masked_at_the_top_level_too() {
        let fields = serde_json::json!({
            "id": "E1", "phone": "1", "grade": "G7",
            "compensation": {"grade": "G7"}, "details": {"phone": "1"}
        });
        let f = Fetched {
            record: Some(HrRecord {
                fields: fields.as_object().unwrap().clone(),
                ..Default::default()
            }),
            method: Method::FullFetch,
            report: FetchReport::default(),
            provenance: vec![
                ("id".into(), "employees".into()),
                ("phone".into(), "join details".into()),
                ("grade".into(), "join compensation".into()),
                ("compensation".into(), "join compensation".into()),
                ("details".into(), "join details".into()),
            ],
        };
        let m = f.masked_fields().unwrap();
        assert_eq!(m["grade"], crate::sensitive::MASK);
        assert_eq!(m["compensation"]["grade"], crate::sensitive::MASK);
        assert_eq!(m["phone"], "1");
        assert_eq!(m["details"]["phone"], "1");
        assert_eq!(m["id"], "E1");
    }
}
