//! Mapping test cases: an HR record (or a partial one merged over a template case's record)
//! and what the mapping must make of it: attributes, DN, scope, leaver, findings. Only what a
//! case states is compared. They run offline (no HR, no directory, no secrets): `hrsync test`
//! and `hrsync check` run them; `hrsync test --record KEY --write` snapshots a real person.
//!
//! Cases come from `[[test]]` in the configuration and from the `tests/` folder beside it
//! (`*.toml` files with `[[test]]` tables, `*.json` files with one case or a list). A case in
//! the folder that names a mapping this configuration does not have is for another
//! configuration in the same folder: it is skipped (and counted).

use hrsync_config::Config;
use hrsync_config::cases::{Day, Expect, RawCase, Values};
use hrsync_mapping::{Mapper, Outcome, Trace};
use hrsync_model::{Finding, HrRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How deep templates may nest (a case over a case over …).
const MAX_TEMPLATE_DEPTH: usize = 16;

/// A case with where it came from and its record merged over its templates.
#[derive(Debug, Clone)]
pub struct Case {
    pub raw: RawCase,
    /// The file, and for `[[test]]` tables their position (`examples/x.toml [[test]] #2`).
    pub source: String,
    /// The mapping it runs against.
    pub mapping: String,
    pub record: Map<String, Value>,
}

/// What the mapping made of a case's record.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Actual {
    pub outcome: String,
    pub key: Option<String>,
    pub dn: Option<String>,
    /// None when the scope expression failed.
    pub in_scope: Option<bool>,
    /// None when the record was not mapped (skipped, not yet, out of scope and ignored).
    pub leaver: Option<bool>,
    pub leaver_reason: Option<String>,
    /// The entry's attributes (never the engine's pseudo attributes).
    pub attributes: BTreeMap<String, Vec<String>>,
    pub findings: Vec<Finding>,
}

/// One difference between a case and what the mapping did.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Mismatch {
    /// `outcome`, `dn`, `in_scope`, `leaver`, `attribute mail`, `findings`.
    pub what: String,
    pub expected: String,
    pub actual: String,
    /// For an attribute: its format and the fields it read (`first_name: "Zoë"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub because: Option<String>,
}

/// One case's result.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub name: String,
    pub source: String,
    pub mapping: String,
    pub passed: bool,
    /// The case could not run (an unknown template or mapping, a bad date).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub mismatches: Vec<Mismatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<Actual>,
}

/// Every case's result.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub cases: Vec<CaseResult>,
    pub passed: usize,
    pub failed: usize,
    /// Cases in `tests/` for mappings this configuration does not have.
    pub skipped_other_mappings: usize,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.failed == 0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TestError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error(transparent)]
    Config(#[from] hrsync_config::ConfigError),
}

/// A `tests/*.toml` file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    test: Vec<RawCase>,
}

/// The folder of test case files beside the configuration.
pub fn tests_dir(cfg: &Config) -> PathBuf {
    cfg.base_dir().join("tests")
}

/// A case ready to run, or one that cannot run: the case, where it is, and why.
pub type Loaded = Result<Case, (RawCase, String, String)>;

/// Every case of `cfg` (the `[[test]]` tables, then the folder's files in name order), with
/// templates merged; cases of the folder for other configurations' mappings are counted in
/// the second value.
pub fn load(cfg: &Config) -> Result<(Vec<Loaded>, usize), TestError> {
    let config_path = cfg.path.display().to_string();
    let mut raw: Vec<(RawCase, String, bool)> = cfg
        .raw
        .tests
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                c.clone(),
                format!("{config_path} [[test]] #{}", i + 1),
                true,
            )
        })
        .collect();
    let dir = tests_dir(cfg);
    if dir.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| TestError::File {
                path: dir.display().to_string(),
                message: e.to_string(),
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("toml" | "json")
                    )
            })
            .collect();
        files.sort();
        for f in files {
            for (i, c) in read_file(&f)?.into_iter().enumerate() {
                raw.push((c, format!("{} #{}", f.display(), i + 1), false));
            }
        }
    }
    let names = cfg.mapping_names();
    // Records by case name, for templates (cases of every mapping: a template is just data).
    let by_name: BTreeMap<&str, &RawCase> =
        raw.iter().map(|(c, _, _)| (c.name.as_str(), c)).collect();
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    let mut other = 0;
    for (c, source, inline) in &raw {
        let mapping = match (&c.mapping, names.as_slice()) {
            (Some(m), _) if names.contains(m) => Ok(m.clone()),
            (Some(_), _) if !inline => {
                other += 1;
                continue;
            }
            (Some(m), _) => Err(format!(
                "no enabled mapping {m:?} in this configuration (it has {names:?})"
            )),
            (None, [one]) => Ok(one.clone()),
            (None, _) => Err(format!(
                "the configuration has several mappings ({names:?}): say which with mapping = \"…\""
            )),
        };
        let dup = !seen.insert(c.name.clone());
        let case = mapping.and_then(|mapping| {
            if dup {
                return Err(format!(
                    "another case is named {:?}: names must be unique (templates name them)",
                    c.name
                ));
            }
            let record = merged(c, &by_name)?;
            Ok(Case {
                raw: c.clone(),
                source: source.clone(),
                mapping,
                record,
            })
        });
        out.push(case.map_err(|e| (c.clone(), source.clone(), e)));
    }
    Ok((out, other))
}

fn read_file(path: &Path) -> Result<Vec<RawCase>, TestError> {
    let err = |message: String| TestError::File {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    if path.extension().is_some_and(|e| e == "json") {
        let v: Value = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        let v = match v {
            Value::Array(a) => a,
            one => vec![one],
        };
        v.into_iter()
            .map(|c| serde_json::from_value(c).map_err(|e| err(e.to_string())))
            .collect()
    } else {
        let f: TestFile = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        Ok(f.test)
    }
}

/// A case's record over its templates' (nearest last), TOML dates as their text.
fn merged(c: &RawCase, by_name: &BTreeMap<&str, &RawCase>) -> Result<Map<String, Value>, String> {
    let mut chain = vec![c];
    let mut cur = c;
    while let Some(t) = &cur.template {
        if chain.len() > MAX_TEMPLATE_DEPTH {
            return Err(format!(
                "templates nest deeper than {MAX_TEMPLATE_DEPTH} (a cycle?)"
            ));
        }
        let Some(next) = by_name.get(t.as_str()) else {
            return Err(format!("template {t:?} is not the name of a case"));
        };
        if chain.iter().any(|x| x.name == next.name) {
            let names: Vec<&str> = chain.iter().map(|x| x.name.as_str()).collect();
            return Err(format!(
                "template cycle: {} → {}",
                names.join(" → "),
                next.name
            ));
        }
        chain.push(next);
        cur = next;
    }
    let mut out = Map::new();
    for c in chain.iter().rev() {
        merge(&mut out, &c.record);
    }
    Ok(out.into_iter().map(|(k, v)| (k, toml_dates(v))).collect())
}

/// `over` merged into `base`: objects field by field, anything else replaced.
fn merge(base: &mut Map<String, Value>, over: &Map<String, Value>) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(Value::Object(b)), Value::Object(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// A TOML date (`joined_date = 2026-01-05`, unquoted) arrives as a one-key object; HR sends
/// dates as text, so it becomes its text.
fn toml_dates(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            if m.len() == 1
                && let Some(Value::String(s)) = m.get("$__toml_private_datetime")
            {
                return Value::String(s.clone());
            }
            Value::Object(m.into_iter().map(|(k, v)| (k, toml_dates(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(toml_dates).collect()),
        other => other,
    }
}

/// What one mapping needs to run cases: compiled, with its status rule and directory dialect.
pub struct Runner {
    pub mapper: Mapper,
    pub statuses: Option<hrsync_config::statuses::StatusRule>,
    pub dialect: hrsync_directory::Dialect,
}

impl Runner {
    pub fn new(cfg: &Config, mapping: &str) -> Result<Runner, TestError> {
        let (mapper, statuses) = cfg.mapper(mapping)?;
        Ok(Runner {
            mapper,
            statuses,
            dialect: cfg.raw.directory.kind,
        })
    }

    /// Maps `rec` on `today` as a run does (the mapping, the status rule, the directory's
    /// dialect rules; not the live schema), with the trace.
    pub fn actual(&self, rec: &HrRecord, today: chrono::NaiveDate) -> (Actual, Trace) {
        let trace = self.mapper.trace(rec, today);
        let mut a = Actual {
            outcome: String::new(),
            key: self.mapper.key_of(rec),
            dn: None,
            in_scope: trace.in_scope(),
            leaver: None,
            leaver_reason: None,
            attributes: BTreeMap::new(),
            findings: Vec::new(),
        };
        a.outcome = match &trace.outcome {
            Outcome::OutOfScope => "out_of_scope".into(),
            Outcome::NotYet => "not_yet".into(),
            Outcome::Skipped { findings } => {
                a.findings = findings.clone();
                "skipped".into()
            }
            Outcome::Mapped { entry } => {
                let mut d = entry.clone();
                let mut outcome = "mapped";
                if let Some(s) = &self.statuses {
                    match s.apply(rec, d) {
                        hrsync_config::statuses::Checked::Keep(kept, w) => {
                            d = kept;
                            a.findings.extend(w);
                        }
                        hrsync_config::statuses::Checked::Hold(kept, w) => {
                            d = kept;
                            a.findings.push(w);
                            outcome = "held";
                        }
                    }
                }
                // A held person is not checked further (as in a run).
                let refused = if outcome == "held" {
                    Vec::new()
                } else {
                    self.dialect.check(&d)
                };
                if !refused.is_empty() {
                    outcome = "skipped";
                }
                a.findings.extend(refused);
                a.dn = Some(d.dn.clone());
                a.leaver = Some(d.leaver);
                a.leaver_reason = d.leaver_reason.clone();
                a.attributes = d
                    .attrs
                    .iter()
                    .filter(|(k, _)| !k.as_str().starts_with("hrsync-"))
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect();
                outcome.into()
            }
        };
        (a, trace)
    }
}

/// Runs every case of `cfg` (see the module docs).
pub fn run(cfg: &Config) -> Result<Report, TestError> {
    let (cases, other) = load(cfg)?;
    let mut runners: BTreeMap<String, Result<Runner, String>> = BTreeMap::new();
    let mut report = Report {
        skipped_other_mappings: other,
        ..Default::default()
    };
    for case in cases {
        let result = match case {
            Err((raw, source, error)) => CaseResult {
                name: raw.name,
                source,
                mapping: raw.mapping.unwrap_or_default(),
                passed: false,
                error: Some(error),
                mismatches: Vec::new(),
                actual: None,
            },
            Ok(case) => {
                let runner = runners
                    .entry(case.mapping.clone())
                    .or_insert_with(|| Runner::new(cfg, &case.mapping).map_err(|e| e.to_string()));
                run_case(&case, runner.as_ref().map_err(Clone::clone))
            }
        };
        if result.passed {
            report.passed += 1;
        } else {
            report.failed += 1;
        }
        report.cases.push(result);
    }
    Ok(report)
}

fn run_case(case: &Case, runner: Result<&Runner, String>) -> CaseResult {
    let mut result = CaseResult {
        name: case.raw.name.clone(),
        source: case.source.clone(),
        mapping: case.mapping.clone(),
        passed: false,
        error: None,
        mismatches: Vec::new(),
        actual: None,
    };
    let today = match &case.raw.today {
        None => Ok(chrono::Utc::now().date_naive()),
        Some(t) => chrono::NaiveDate::parse_from_str(&t.to_string(), "%Y-%m-%d")
            .map_err(|_| format!("today = {:?} is not a date (YYYY-MM-DD)", t.to_string())),
    };
    let (runner, today) = match (runner, today) {
        (Ok(r), Ok(t)) => (r, t),
        (Err(e), _) | (_, Err(e)) => {
            result.error = Some(e);
            return result;
        }
    };
    let rec = HrRecord {
        index: 0,
        source_id: None,
        fields: case.record.clone(),
        problems: Vec::new(),
    };
    let (actual, trace) = runner.actual(&rec, today);
    result.mismatches = compare(&case.raw.expect, &actual, &trace);
    result.passed = result.mismatches.is_empty();
    result.actual = Some(actual);
    result
}

fn shown<T: Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn shown_values(v: &[String]) -> String {
    match v {
        [] => "(absent)".into(),
        [one] => shown(one),
        many => shown(&many),
    }
}

/// The differences between what a case expects and what the mapping did.
pub fn compare(expect: &Expect, actual: &Actual, trace: &Trace) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let mut differ = |what: &str, expected: String, actual: String, because: Option<String>| {
        out.push(Mismatch {
            what: what.into(),
            expected,
            actual,
            because,
        })
    };
    if let Some(o) = &expect.outcome
        && *o != actual.outcome
    {
        differ(
            "outcome",
            o.clone(),
            actual.outcome.clone(),
            findings_text(actual),
        );
    }
    if let Some(d) = &expect.dn {
        match &actual.dn {
            Some(a) if hrsync_model::dn::same(a, d) => {}
            a => differ(
                "dn",
                shown(d),
                a.as_deref()
                    .map(shown)
                    .unwrap_or_else(|| format!("none ({})", actual.outcome)),
                findings_text(actual),
            ),
        }
    }
    if let Some(s) = expect.in_scope
        && actual.in_scope != Some(s)
    {
        differ(
            "in_scope",
            s.to_string(),
            actual
                .in_scope
                .map(|b| b.to_string())
                .unwrap_or_else(|| "unknown (scope_when failed)".into()),
            trace.scope.as_ref().map(|r| {
                format!(
                    "scope_when = {} ← {}",
                    shown(&r.expression),
                    fields_text(&r.fields)
                )
            }),
        );
    }
    if let Some(l) = expect.leaver
        && actual.leaver != Some(l)
    {
        differ(
            "leaver",
            l.to_string(),
            actual
                .leaver
                .map(|b| b.to_string())
                .unwrap_or_else(|| format!("none ({})", actual.outcome)),
            trace.leaver.as_ref().map(|r| {
                format!(
                    "leaver_when = {} ← {}",
                    shown(&r.expression),
                    fields_text(&r.fields)
                )
            }),
        );
    }
    for (attr, want) in expect.attributes.iter().flatten() {
        let want = want.list();
        let got = actual
            .attributes
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(attr))
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let mut a = want.clone();
        let mut b = got.clone();
        a.sort();
        b.sort();
        if a != b {
            let because = trace
                .formats
                .iter()
                .find(|f| f.attribute.eq_ignore_ascii_case(attr))
                .map(|f| {
                    format!(
                        "{attr} = {} ← {}{}",
                        shown(&f.format),
                        fields_text(&f.fields),
                        f.error
                            .as_deref()
                            .map(|e| format!(" (format failed: {e})"))
                            .unwrap_or_default()
                    )
                })
                .or_else(|| {
                    (actual.outcome != "mapped").then(|| format!("no entry ({})", actual.outcome))
                });
            differ(
                &format!("attribute {attr}"),
                shown_values(&want),
                shown_values(&got),
                because,
            );
        }
    }
    if let Some(want) = &expect.findings {
        let text = |f: &Finding| f.message.to_lowercase();
        let missing: Vec<&String> = want
            .iter()
            .filter(|w| {
                !actual
                    .findings
                    .iter()
                    .any(|f| text(f).contains(&w.to_lowercase()))
            })
            .collect();
        let extra: Vec<&Finding> = actual
            .findings
            .iter()
            .filter(|f| !want.iter().any(|w| text(f).contains(&w.to_lowercase())))
            .collect();
        if !missing.is_empty() || !extra.is_empty() {
            differ(
                "findings",
                shown(want),
                shown(
                    &actual
                        .findings
                        .iter()
                        .map(|f| format!("{}: {}", f.severity, f.message))
                        .collect::<Vec<_>>(),
                ),
                None,
            );
        }
    }
    out
}

fn fields_text(fields: &[hrsync_mapping::FieldValue]) -> String {
    if fields.is_empty() {
        return "(no fields)".into();
    }
    fields
        .iter()
        .map(|f| {
            format!(
                "{}: {}",
                f.field,
                f.value
                    .as_ref()
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "(absent)".into())
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn findings_text(a: &Actual) -> Option<String> {
    (!a.findings.is_empty()).then(|| {
        a.findings
            .iter()
            .map(|f| f.message.clone())
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// A new case from a real record: the fields the mapping reads (sensitive ones masked) and, as
/// expectations,
/// what the mapping makes of it now (on `today`). The operator reviews and keeps it.
pub fn snapshot(
    runner: &Runner,
    name: &str,
    mapping: &str,
    record: &Map<String, Value>,
    today: chrono::NaiveDate,
) -> RawCase {
    // Only what the mapping reads (a test case lives in a repository: no more personal data
    // than it needs), sensitive values masked.
    let read = runner.mapper.referenced_fields();
    let mut record = crate::sensitive::mask(record);
    record.retain(|k, _| read.contains(k));
    let rec = HrRecord {
        index: 0,
        source_id: None,
        fields: record.clone(),
        problems: Vec::new(),
    };
    let (a, _) = runner.actual(&rec, today);
    RawCase {
        name: name.to_string(),
        mapping: Some(mapping.to_string()),
        template: None,
        today: Some(Day::Text(today.format("%Y-%m-%d").to_string())),
        record,
        expect: Expect {
            outcome: Some(a.outcome.clone()),
            dn: a.dn.clone(),
            in_scope: a.in_scope,
            leaver: a.leaver,
            attributes: (!a.attributes.is_empty()).then(|| {
                a.attributes
                    .iter()
                    .map(|(k, v)| {
                        let v = match v.as_slice() {
                            [one] => Values::One(one.clone()),
                            many => Values::Many(many.to_vec()),
                        };
                        (k.clone(), v)
                    })
                    .collect()
            }),
            findings: Some(a.findings.iter().map(|f| f.message.clone()).collect()),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
