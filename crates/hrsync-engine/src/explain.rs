//! `hrsync explain KEY`: why one person's account looks the way it does. The HR record as
//! fetched (and from which endpoint each field came), every mapped attribute with the format
//! that produced it and the fields it read, the unique-name candidates tried, person references
//! (`manager`) resolved, the scope and leaver rules with their results, the linked entry today,
//! what a plan would do and why, and the person's audit rows and orchestration instances.
//!
//! Read-only: nothing is applied, no run is recorded. The person is fetched alone where the
//! source allows ([`crate::person`]); their entry (and their manager's) are read by key, the
//! plan is a targeted plan of this one person (as an HR event's run plans it). The JSON form
//! (field names are stable; the API serves it) is this module's [`Explanation`].

use crate::engine::{self, HrRecordResult};
use crate::report::EngineError;
use chrono::{DateTime, Utc};
use hrsync_config::Job;
use hrsync_directory::Directory;
use hrsync_mapping::{FieldValue, Role, Trace};
use hrsync_model::{AttrName, Change, DirEntry, Finding, ReviewItem};
use hrsync_state::{AuditRow, LinkRow, OutboxRow, Store};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// What to include.
#[derive(Debug, Clone)]
pub struct Options {
    /// Audit rows and orchestration instances shown, newest first.
    pub history: usize,
    /// Show sensitive HR values (SSN, birth date, salary, bank, tax id, …) instead of a mask.
    pub show_sensitive: bool,
    pub now: DateTime<Utc>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            history: 10,
            show_sensitive: false,
            now: Utc::now(),
        }
    }
}

/// Everything `explain` says about one person (see the module docs).
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub mapping: String,
    pub key: String,
    pub generated_at: DateTime<Utc>,
    pub hr: HrSide,
    /// How the mapping read the record (None when HR has no record for the key).
    pub mapping_result: Option<Mapped>,
    pub directory: DirectorySide,
    pub plan: PlanSide,
    /// The person's audit rows in this mapping, newest first.
    pub audit: Vec<AuditRow>,
    /// Their orchestration instances, newest first.
    pub orchestrations: Vec<OutboxRow>,
}

/// The HR side.
#[derive(Debug, Clone, Serialize)]
pub struct HrSide {
    pub integration: String,
    /// The field that identifies a person (the mapping's `primary_key`).
    pub primary_key: String,
    /// The endpoint the people come from, and the joined ones.
    pub endpoint: String,
    pub joins: Vec<String>,
    /// `lookup`, `filtered` or `full_fetch`.
    pub method: crate::person::Method,
    pub found: bool,
    /// False when the fetch did not complete (a person not found may still exist).
    pub complete: bool,
    pub error: Option<String>,
    /// Every top-level field with its value (sensitive ones masked) and where it came from.
    pub fields: Vec<HrField>,
    /// Why the record must not be acted on (a required join has nothing for them, …).
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HrField {
    pub field: String,
    pub value: Value,
    /// The primary endpoint's name, or `join <endpoint>`.
    pub from: String,
    pub masked: bool,
}

/// The mapping's reading of the record.
#[derive(Debug, Clone, Serialize)]
pub struct Mapped {
    /// `mapped`, `out_of_scope`, `not_yet` (before the pre-hire window), `skipped`, `held`.
    pub outcome: String,
    pub dn: Option<String>,
    pub in_scope: Option<bool>,
    pub leaver: Option<bool>,
    pub leaver_reason: Option<String>,
    /// Every format: attributes, OU parts, group rules, candidates, dates.
    pub formats: Vec<FormatExplained>,
    pub scope: Option<RuleExplained>,
    pub leaver_rule: Option<RuleExplained>,
    /// What stopped or warns about the record at mapping time.
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FormatExplained {
    pub attribute: String,
    pub role: Role,
    pub format: String,
    pub fields: Vec<FieldValue>,
    pub value: Option<String>,
    pub error: Option<String>,
    pub required: bool,
    /// Written only when the account is created (`on = "create"`, unique names).
    pub create_only: bool,
    pub unique: bool,
    /// `refers_to = "person"`: the value is another person's HR key, written as their DN.
    pub refers_to_person: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleExplained {
    pub expression: String,
    pub fields: Vec<FieldValue>,
    pub result: Option<bool>,
    pub error: Option<String>,
    /// What the result means for this person.
    pub effect: String,
}

/// The directory side today.
#[derive(Debug, Clone, Serialize)]
pub struct DirectorySide {
    /// The stored link (HR key ↔ entry), if any.
    pub link: Option<LinkRow>,
    /// The person's entry (by key, or by the link's DN), with the attributes the mapping owns.
    pub entry: Option<EntryView>,
    /// Other entries read for them (secondary matching candidates).
    pub candidates: Vec<EntryView>,
    /// Why the directory could not be read (then there is no entry and no plan).
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EntryView {
    pub dn: String,
    pub uuid: Option<String>,
    pub key: Option<String>,
    pub disabled: bool,
    pub attributes: BTreeMap<String, Vec<String>>,
}

impl From<&DirEntry> for EntryView {
    fn from(e: &DirEntry) -> Self {
        EntryView {
            dn: e.dn.clone(),
            uuid: e.uuid.clone(),
            key: e.key.clone(),
            disabled: e.disabled,
            attributes: e
                .attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }
}

/// What a plan would do for the person, and why.
#[derive(Debug, Clone, Serialize)]
pub struct PlanSide {
    /// One line: what happens and why.
    pub summary: String,
    pub changes: Vec<Change>,
    pub findings: Vec<Finding>,
    pub review: Vec<ReviewItem>,
    pub unique: Vec<crate::unique::UniqueTrace>,
    pub references: Vec<Reference>,
    /// Context that is not a change: the fetch's notes, what a full run would do differently.
    pub notes: Vec<String>,
}

/// A person reference (`manager`) resolved.
#[derive(Debug, Clone, Serialize)]
pub struct Reference {
    pub attribute: String,
    /// The mapped value (the other person's key, or their `by` value).
    pub hr_value: Option<String>,
    /// The referenced person's HR key, when found.
    pub person: Option<String>,
    /// Their account's DN (linked or found by key), when they have one.
    pub account: Option<String>,
    /// What the attribute will hold after the plan (the entry's value when unchanged).
    pub value: Vec<String>,
    /// Why it is not written, when it is not.
    pub problem: Option<String>,
}

/// Explains person `key` of `job`'s mapping (see the module docs).
pub async fn explain(
    job: &Job,
    store: &Store,
    key: &str,
    opts: &Options,
) -> Result<Explanation, EngineError> {
    let spec = job.mapping.spec();
    let today = opts.now.date_naive();
    let fetched = crate::person::fetch(job, key).await?;
    // The key as HR spells it (IceHrm matches `emp00013` to `EMP00013`): the audit, links and
    // outbox store it so.
    let canonical = fetched
        .record
        .as_ref()
        .and_then(|r| job.mapping.key_of(r))
        .unwrap_or_else(|| key.to_string());
    let key = canonical.as_str();
    // A joined endpoint named like sensitive data (`compensation`): its fields are sensitive
    // at the top level too (`grade`, copied from it).
    let secret_tops: BTreeSet<String> = fetched
        .provenance
        .iter()
        .filter(|(_, from)| {
            from.strip_prefix("join ")
                .is_some_and(crate::sensitive::is_sensitive)
        })
        .map(|(k, _)| k.clone())
        .collect();
    let mask = |path: &str, v: &Value| -> (Value, bool) {
        if opts.show_sensitive || v.is_null() {
            return (v.clone(), false);
        }
        if secret(path, &secret_tops) {
            return (Value::String(crate::sensitive::MASK.into()), true);
        }
        match v {
            Value::Object(m) => {
                let masked = prefixed_mask(path, m);
                let changed = masked != *m;
                (Value::Object(masked), changed)
            }
            other => (other.clone(), false),
        }
    };
    let hr = HrSide {
        integration: job.source.name().to_string(),
        primary_key: spec.primary_key.clone(),
        endpoint: crate::person::primary_endpoint(&job.source),
        joins: match &job.source {
            hrsync_source::Source::Joined(_, j) => {
                j.parts.iter().map(|p| p.endpoint.clone()).collect()
            }
            _ => Vec::new(),
        },
        method: fetched.method,
        found: fetched.record.is_some(),
        complete: fetched.report.complete,
        error: fetched.report.error.clone(),
        fields: fetched
            .provenance
            .iter()
            .filter_map(|(k, from)| {
                let v = fetched.record.as_ref()?.fields.get(k)?;
                let (value, masked) = mask(k, v);
                Some(HrField {
                    field: k.clone(),
                    value,
                    from: from.clone(),
                    masked,
                })
            })
            .collect(),
        problems: fetched
            .record
            .as_ref()
            .map(|r| r.problems.clone())
            .unwrap_or_default(),
    };

    // The mapping's reading, as a run reads it. Without the directory, what HR and the
    // mapping say is still worth showing: the rest says why it is missing.
    let dir = match Directory::connect(job.directory.clone()).await {
        Ok(d) => d,
        Err(e) => {
            let mapping_result = fetched.record.as_ref().map(|rec| {
                let trace = job.mapping.trace(rec, today);
                let r = engine::map_record(
                    &job.mapping,
                    job.directory.dialect,
                    None,
                    &engine::ref_attrs(job),
                    job.statuses.as_ref(),
                    rec,
                    today,
                    job.actions.allows(hrsync_model::Action::Create),
                );
                mapped(job, rec, &trace, &r, opts, &secret_tops)
            });
            let error = format!("the directory could not be read: {e}");
            return Ok(Explanation {
                mapping: spec.name.clone(),
                key: key.to_string(),
                generated_at: opts.now,
                hr,
                mapping_result,
                directory: DirectorySide {
                    link: store.links(&spec.name)?.remove(key),
                    entry: None,
                    candidates: Vec::new(),
                    error: Some(error.clone()),
                },
                plan: PlanSide {
                    summary: format!("unknown: {error}"),
                    changes: Vec::new(),
                    findings: Vec::new(),
                    review: Vec::new(),
                    unique: Vec::new(),
                    references: Vec::new(),
                    notes: fetched.report.notes.clone(),
                },
                audit: history(store, &spec.name, key, opts.history)?,
                orchestrations: store.outbox_of(&spec.name, key, opts.history)?,
            });
        }
    };
    let schema = engine::read_schema(&dir).await;
    let dialect = job.directory.dialect;
    let refs = engine::ref_attrs(job);
    let mut results = Vec::new();
    let mut mapping_result = None;
    if let Some(rec) = &fetched.record {
        let trace = job.mapping.trace(rec, today);
        let r = engine::map_record(
            &job.mapping,
            dialect,
            schema.as_deref(),
            &refs,
            job.statuses.as_ref(),
            rec,
            today,
            job.actions.allows(hrsync_model::Action::Create),
        );
        mapping_result = Some(mapped(job, rec, &trace, &r, opts, &secret_tops));
        results.push(r);
    }
    let mut notes = fetched.report.notes.clone();
    if fetched.record.is_some() {
        let mut keep = job.mapping.referenced_fields();
        keep.insert(
            spec.primary_key
                .split('.')
                .next()
                .unwrap_or_default()
                .to_string(),
        );
        match engine::referenced_people(job, &results, &keep, dialect, schema.as_deref(), today)
            .await
        {
            Ok(more) => results.extend(more),
            Err(e) => notes.push(format!(
                "the people this record refers to (managers) could not be fetched: {e}"
            )),
        }
    }

    // Their entries: by key (theirs and the people they refer to) and by the secondary-match
    // values (as a targeted run reads them).
    let stored = store.links(&job.mapping.spec().name)?;
    let mut planner = engine::new_planner(
        job,
        store,
        stored.values().cloned().collect(),
        opts.now,
        hrsync_plan::MissingAction::Ignore,
        true,
    )?;
    let mut pairs: Vec<(String, String)> = vec![(spec.key_attribute.clone(), key.to_string())];
    let mut by_values: BTreeMap<String, String> = BTreeMap::new();
    for r in &results {
        let (k, attrs) = match r {
            HrRecordResult::Mapped(d, _) => (Some(d.key.clone()), Some(&d.attrs)),
            HrRecordResult::Failed(k, _) => (k.clone(), None),
        };
        if let Some(k) = &k {
            pairs.push((spec.key_attribute.clone(), k.clone()));
        }
        for a in &job.match_on {
            for v in attrs
                .and_then(|m| m.get(&AttrName::new(a.clone())))
                .into_iter()
                .flatten()
            {
                pairs.push((a.clone(), v.clone()));
            }
        }
        // Each person's own value references name them by (`by`), for the chain.
        if let (Some(k), Some(attrs)) = (&k, attrs) {
            for p in &job.person_refs {
                if let Some(b) = &p.by
                    && let Some(v) = attrs.get(b).and_then(|v| v.first())
                {
                    by_values.insert(format!("{}\u{0}{v}", p.attr), k.clone());
                }
            }
        }
    }
    let mut entries: Vec<DirEntry> = Vec::new();
    dir.snapshot_any(&pairs, |e| {
        entries.push(e.clone());
        planner.add_entry(e);
    })
    .await?;
    for r in results {
        r.feed(&mut planner);
    }
    let (mut plan, _observed) = planner.finish(fetched.report.clone());
    let mut used = BTreeMap::new();
    for u in &spec.unique {
        used.insert(
            u.attr.to_ascii_lowercase(),
            store.used_names(&spec.name, &u.attr)?,
        );
    }
    let scope = crate::unique::scope_of(&job.directory.base_dn);
    let unique: Vec<_> = crate::unique::assign_traced(&mut plan, &spec.unique, &dir, &used, &scope)
        .await?
        .into_iter()
        .filter(|t| t.key == key || job.source.key_matches(key, &t.key))
        .collect();
    dir.close().await;

    let mine = |k: &str| k == key || job.source.key_matches(key, k);
    let link = stored.iter().find(|(k, _)| mine(k)).map(|(_, l)| l.clone());
    let entry = entries
        .iter()
        .find(|e| e.key.as_deref().is_some_and(mine))
        .or_else(|| {
            link.as_ref().and_then(|l| {
                entries
                    .iter()
                    .find(|e| hrsync_model::dn::same(&e.dn, &l.dn))
            })
        });
    let changes: Vec<Change> = plan
        .changes
        .iter()
        .chain(&plan.held)
        .filter(|c| mine(&c.key))
        .cloned()
        .collect();
    let findings: Vec<Finding> = plan
        .findings
        .iter()
        .filter(|f| mine(&f.subject) || f.subject.starts_with(&format!("{key} (")))
        .cloned()
        .collect();
    let review: Vec<ReviewItem> = plan
        .review
        .iter()
        .filter(|r| mine(&r.key))
        .cloned()
        .collect();
    let candidates: Vec<EntryView> = entries
        .iter()
        .filter(|e| Some(e.dn.as_str()) != entry.map(|x| x.dn.as_str()))
        .filter(|e| e.key.as_deref().is_none_or(mine))
        .map(EntryView::from)
        .collect();
    let references = references(
        job,
        mapping_result.as_ref(),
        &changes,
        entry,
        &findings,
        &entries,
        &stored,
        &by_values,
    );
    if !plan.not_this_mappings_job.is_empty() {
        notes.push(format!(
            "not this mapping's job (its actions: {}), left to other mappings: {}",
            job.actions,
            hrsync_plan::not_its_job(&plan)
        ));
    }
    if !fetched.report.complete && fetched.record.is_none() {
        notes.push(
            "the fetch was incomplete: HR may still have this person (a run never treats anyone as gone on an incomplete fetch)"
                .into(),
        );
    } else if fetched.record.is_none() && (entry.is_some() || link.is_some()) {
        notes.push(format!(
            "HR has no record with {} = {key:?}: a full run treats the account as missing from HR (lifecycle.missing_from_hr = {}{})",
            spec.primary_key,
            match job.missing_from_hr {
                hrsync_plan::MissingAction::Disable => "disable",
                hrsync_plan::MissingAction::Ignore => "ignore",
            },
            if job.source.can_look_up(&spec.primary_key) {
                ", once a lookup by key confirms it"
            } else {
                ", after lifecycle.missing_confirmations complete fetches miss them"
            }
        ));
    }
    let summary = summary(
        key,
        &hr,
        mapping_result.as_ref(),
        &changes,
        &review,
        entry,
        &findings,
    );
    let audit = history(store, &spec.name, key, opts.history)?;
    let orchestrations = store.outbox_of(&spec.name, key, opts.history)?;
    Ok(Explanation {
        mapping: spec.name.clone(),
        key: key.to_string(),
        generated_at: opts.now,
        hr,
        mapping_result,
        directory: DirectorySide {
            link,
            entry: entry.map(EntryView::from),
            candidates,
            error: None,
        },
        plan: PlanSide {
            summary,
            changes,
            findings,
            review,
            unique,
            references,
            notes,
        },
        audit,
        orchestrations,
    })
}

/// The person's audit rows in `mapping`, newest first.
fn history(
    store: &Store,
    mapping: &str,
    key: &str,
    limit: usize,
) -> Result<Vec<AuditRow>, EngineError> {
    Ok(store
        .audit(None, Some(key), limit.saturating_mul(4).max(limit))?
        .into_iter()
        .filter(|r| r.mapping.as_deref().is_none_or(|m| m == mapping))
        .take(limit)
        .collect())
}

/// Whether the field at `path` holds sensitive data: by its name, or because its top-level
/// field came from a sensitive joined endpoint.
fn secret(path: &str, secret_tops: &BTreeSet<String>) -> bool {
    crate::sensitive::is_sensitive(path)
        || secret_tops.contains(path.split('.').next().unwrap_or_default())
}

/// An object field's value with its sensitive sub-fields masked (paths from `prefix`).
fn prefixed_mask(
    prefix: &str,
    m: &serde_json::Map<String, Value>,
) -> serde_json::Map<String, Value> {
    let mut wrapped = serde_json::Map::new();
    wrapped.insert(prefix.to_string(), Value::Object(m.clone()));
    match crate::sensitive::mask(&wrapped).remove(prefix) {
        Some(Value::Object(o)) => o,
        _ => m.clone(),
    }
}

fn mapped(
    job: &Job,
    rec: &hrsync_model::HrRecord,
    trace: &Trace,
    r: &HrRecordResult,
    opts: &Options,
    secret_tops: &BTreeSet<String>,
) -> Mapped {
    let spec = job.mapping.spec();
    let mask_fields = |fields: &[FieldValue]| -> Vec<FieldValue> {
        fields
            .iter()
            .map(|f| FieldValue {
                field: f.field.clone(),
                value: match &f.value {
                    Some(v)
                        if !opts.show_sensitive
                            && !v.is_null()
                            && secret(&f.field, secret_tops) =>
                    {
                        Some(Value::String(crate::sensitive::MASK.into()))
                    }
                    v => v.clone(),
                },
            })
            .collect()
    };
    let refs: BTreeSet<String> = job
        .person_refs
        .iter()
        .map(|p| p.attr.as_str().to_ascii_lowercase())
        .collect();
    let formats = trace
        .formats
        .iter()
        .map(|f| {
            let sensitive = f.fields.iter().any(|x| secret(&x.field, secret_tops));
            FormatExplained {
                attribute: f.attribute.clone(),
                role: f.role,
                format: f.format.clone(),
                fields: mask_fields(&f.fields),
                value: if sensitive && !opts.show_sensitive && f.value.is_some() {
                    Some(crate::sensitive::MASK.into())
                } else {
                    f.value.clone()
                },
                error: f.error.clone(),
                required: f.required,
                create_only: job
                    .create_only
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(&f.attribute)),
                unique: spec
                    .unique
                    .iter()
                    .any(|u| u.attr.eq_ignore_ascii_case(&f.attribute)),
                refers_to_person: refs.contains(&f.attribute.to_ascii_lowercase()),
            }
        })
        .collect();
    let (outcome, dn, leaver, leaver_reason, findings) = match (r, &trace.outcome) {
        (HrRecordResult::Mapped(d, w), _) => (
            "mapped",
            Some(d.dn.clone()),
            Some(d.leaver),
            d.leaver_reason.clone(),
            w.clone(),
        ),
        (HrRecordResult::Failed(_, f), hrsync_mapping::Outcome::OutOfScope) if f.is_empty() => {
            ("out_of_scope", None, None, None, Vec::new())
        }
        (HrRecordResult::Failed(_, f), hrsync_mapping::Outcome::NotYet) if f.is_empty() => {
            ("not_yet", None, None, None, Vec::new())
        }
        (HrRecordResult::Failed(_, f), hrsync_mapping::Outcome::Mapped { entry })
            if job.statuses.as_ref().is_some_and(|s| {
                matches!(
                    s.apply(rec, entry.clone()),
                    hrsync_config::statuses::Checked::Hold(..)
                )
            }) =>
        {
            ("held", None, None, None, f.clone())
        }
        (HrRecordResult::Failed(_, f), _) => ("skipped", None, None, None, f.clone()),
    };
    let scope = trace.scope.as_ref().map(|s| RuleExplained {
        expression: s.expression.clone(),
        fields: mask_fields(&s.fields),
        result: s.result,
        error: s.error.clone(),
        effect: match s.result {
            Some(true) => "in scope: managed by this mapping".into(),
            Some(false) => match spec.out_of_scope {
                hrsync_mapping::OutOfScope::Ignore => {
                    "out of scope (out_of_scope = \"ignore\"): no account is created; an existing one is left exactly as it is".into()
                }
                hrsync_mapping::OutOfScope::Disable => {
                    "out of scope (out_of_scope = \"disable\"): treated as a leaver".into()
                }
            },
            None => "the expression failed: the person is left unchanged".into(),
        },
    });
    let leaver_rule = trace.leaver.as_ref().map(|l| RuleExplained {
        expression: l.expression.clone(),
        fields: mask_fields(&l.fields),
        result: l.result,
        error: l.error.clone(),
        effect: match (l.result, leaver) {
            (Some(true), Some(true)) => "a leaver: the account is disabled".into(),
            (Some(true), _) => {
                "HR says left, but the end date (with its grace period) is still ahead: not a leaver yet".into()
            }
            (Some(false), Some(true)) => {
                "not by this rule, but a leaver by the end date or the scope".into()
            }
            (Some(false), _) => "not a leaver".into(),
            (None, _) => "the expression failed (a finding)".into(),
        },
    });
    Mapped {
        outcome: outcome.into(),
        dn,
        in_scope: trace.in_scope(),
        leaver,
        leaver_reason,
        formats,
        scope,
        leaver_rule,
        findings,
    }
}

#[allow(clippy::too_many_arguments)]
fn references(
    job: &Job,
    mapped: Option<&Mapped>,
    changes: &[Change],
    entry: Option<&DirEntry>,
    findings: &[Finding],
    entries: &[DirEntry],
    links: &BTreeMap<String, LinkRow>,
    by_values: &BTreeMap<String, String>,
) -> Vec<Reference> {
    let Some(m) = mapped else {
        return Vec::new();
    };
    job.person_refs
        .iter()
        .map(|p| {
            let attr = p.attr.as_str();
            let hr_value = m
                .formats
                .iter()
                .find(|f| f.attribute.eq_ignore_ascii_case(attr))
                .and_then(|f| f.value.clone());
            let person = hr_value.as_ref().and_then(|v| match &p.by {
                None => Some(v.clone()),
                Some(_) => by_values.get(&format!("{attr}\u{0}{v}")).cloned(),
            });
            let account = person.as_ref().and_then(|k| {
                entries
                    .iter()
                    .find(|e| e.key.as_deref() == Some(k.as_str()))
                    .map(|e| e.dn.clone())
                    .or_else(|| links.get(k).map(|l| l.dn.clone()))
            });
            let planned = changes
                .iter()
                .flat_map(|c| &c.attrs)
                .find(|a| a.attr == p.attr)
                .map(|a| a.after.clone());
            let value = planned.unwrap_or_else(|| {
                entry
                    .and_then(|e| e.attrs.get(&p.attr).cloned())
                    .unwrap_or_default()
            });
            let problem = findings
                .iter()
                .find(|f| {
                    f.field
                        .as_deref()
                        .is_some_and(|x| x.eq_ignore_ascii_case(attr))
                })
                .map(|f| f.message.clone());
            Reference {
                attribute: attr.to_string(),
                hr_value,
                person,
                account,
                value,
                problem,
            }
        })
        .collect()
}

fn summary(
    key: &str,
    hr: &HrSide,
    m: Option<&Mapped>,
    changes: &[Change],
    review: &[ReviewItem],
    entry: Option<&DirEntry>,
    findings: &[Finding],
) -> String {
    if !changes.is_empty() {
        return changes
            .iter()
            .map(|c| format!("{} {}: {}", c.kind.as_str(), c.dn, c.reason))
            .collect::<Vec<_>>()
            .join("; ");
    }
    if let Some(r) = review.first() {
        return format!("awaits review (hrsync review): {}", r.reason);
    }
    let Some(m) = m else {
        return if !hr.complete {
            format!("nothing: HR did not answer completely, {key} was not found")
        } else if entry.is_some() {
            format!("nothing in a plan for {key} alone: HR has no record for them (see the notes)")
        } else {
            format!("nothing: HR has no record for {key} and there is no account")
        };
    };
    match m.outcome.as_str() {
        "out_of_scope" => "nothing: out of scope (scope_when is false); no account is created and an existing one is left as it is".into(),
        "not_yet" => "nothing yet: the start date's pre-hire window has not begun".into(),
        "skipped" | "held" => format!(
            "nothing: the record is {} ({})",
            m.outcome,
            findings
                .iter()
                .chain(&m.findings)
                .map(|f| f.message.as_str())
                .next()
                .unwrap_or("see the findings")
        ),
        _ if entry.is_some() => "nothing: the account already matches HR".into(),
        _ if m.leaver == Some(true) => "nothing: a leaver without an account".into(),
        _ => "nothing (see the findings)".into(),
    }
}
