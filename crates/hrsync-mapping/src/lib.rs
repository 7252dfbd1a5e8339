//! Mapping: turns one [`HrRecord`] into one [`DesiredEntry`] through attribute formats.
//!
//! A format is a minijinja template. The ADManager-style shorthand `{first_name}.{last_name}`
//! is rewritten to `{{ first_name }}.{{ last_name }}` (see [`shorthand`]); full Jinja (`{{ }}`,
//! `{% %}`) passes through. Filters for directory work: `ascii` (diacritics folded), `login`
//! (ascii + lower + only `[a-z0-9._-]`), `initial`, `left(n)`, plus minijinja's builtins
//! (`lower`, `upper`, `trim`, `replace`, `default`, …).
//!
//! Rules: a referenced field that is absent or null makes the attribute empty; an empty optional
//! attribute is left out, an empty required one (and the RDN attribute, and the primary key) is a
//! per-record [`Finding`] naming the record, the attribute and the field. One bad record never
//! stops the others; this crate never panics on HR data.

mod fast;
mod filters;
mod jinja;
mod names;
pub mod shorthand;
mod trace;

pub use trace::{FieldValue, FormatTrace, Outcome, Role, RuleTrace, Trace};

use hrsync_model::{AttrMap, AttrName, DesiredEntry, Finding, HrRecord, dn};
use minijinja::{Environment, UndefinedBehavior, Value};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use unicode_normalization::UnicodeNormalization;

/// One mapped attribute as configured.
#[derive(Debug, Clone)]
pub struct AttrSpec {
    pub name: String,
    pub format: String,
    pub required: bool,
}

/// A mapping configuration, resolved (the config crate builds it).
#[derive(Debug, Clone)]
pub struct MappingSpec {
    pub name: String,
    /// HR field holding the primary key (dotted path allowed).
    pub primary_key: String,
    /// HR field holding the source's own record id, for messages (IceHrm: `id`).
    pub source_id_field: Option<String>,
    /// Attribute whose value names the entry (RDN), e.g. `uid` or `cn`.
    pub rdn_attribute: String,
    /// Where new entries go.
    pub parent_dn: String,
    /// Attribute that stores the primary key on the entry (OpenLDAP: `employeeNumber`).
    pub key_attribute: String,
    pub attributes: Vec<AttrSpec>,
    /// Expression that is true for a leaver, e.g. `status == 'Terminated'`.
    pub leaver_when: Option<String>,
    /// OU rule: formats of OU names from the top down, e.g. `["{location}",
    /// "{department.display}"]` → `OU=<department>,OU=<location>,<parent_dn>`. Values are
    /// RDN-escaped; an empty one is a finding. Empty list: everyone goes to `parent_dn`.
    pub ou: Vec<String>,
    /// Group rules: who belongs to which groups (directory attribute `memberOf`).
    pub groups: Vec<GroupRule>,
    /// Expression that is true for the people this mapping manages (e.g.
    /// `employment_type != 'Contractor'`). Unset: everyone.
    pub scope_when: Option<String>,
    /// What happens to a person outside the scope.
    pub out_of_scope: OutOfScope,
    /// Attributes whose value must be unique, with their fallback formats.
    pub unique: Vec<UniqueSpec>,
    /// Effective dates (formats giving `YYYY-MM-DD…`).
    pub dates: EffectiveDates,
}

/// Effective dates: a start date with a pre-hire window, an end date with a grace period.
#[derive(Debug, Clone, Default)]
pub struct EffectiveDates {
    /// e.g. `{joined_date}`. Before `start − prehire_days` the person is not created yet; inside
    /// the window the account is created disabled and enabled on the start date.
    pub start: Option<String>,
    pub prehire_days: u32,
    /// e.g. `{termination_date}`. A leaver from `end + grace_days` on, not before, even if HR
    /// already says `Terminated`.
    pub end: Option<String>,
    pub grace_days: u32,
}

const START_ATTR: &str = "hrsync-date-start";
const END_ATTR: &str = "hrsync-date-end";

/// `YYYY-MM-DD` at the start of an HR date value (`2026-11-20`, `2026-11-20 00:00:00`,
/// `2026-11-20T…`).
fn parse_date(v: &str) -> Option<chrono::NaiveDate> {
    let head = v.trim().get(..10)?;
    chrono::NaiveDate::parse_from_str(head, "%Y-%m-%d").ok()
}

/// A unique attribute (e.g. `sAMAccountName`): the attribute's own format is the first
/// candidate, then these, then the last one with a numeric suffix.
#[derive(Debug, Clone, Default)]
pub struct UniqueSpec {
    pub attr: String,
    pub candidates: Vec<String>,
    pub max_length: Option<usize>,
}

/// The pseudo attribute carrying fallback candidate `i` (1-based) of `attr` to the plan.
pub fn candidate_attr(attr: &str, i: usize) -> String {
    format!("hrsync-cand-{}-{i}", attr.to_ascii_lowercase())
}

/// What a mapping does with a person its `scope_when` excludes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutOfScope {
    /// Not created; an existing account is left exactly as it is (and never counts as missing).
    #[default]
    Ignore,
    /// Treated as a leaver: an existing account is disabled; none is created.
    Disable,
}

/// One group rule: a fixed group (`dn`) or one named from HR data (`cn` under `under`), for
/// everyone or only where `when` is true.
#[derive(Debug, Clone, Default)]
pub struct GroupRule {
    pub dn: Option<String>,
    pub cn: Option<String>,
    pub under: Option<String>,
    pub when: Option<String>,
}

/// The attribute group memberships are planned under.
pub const MEMBER_OF: &str = "memberOf";

/// Prefix of the pseudo attributes that carry the OU rule's values through the mapper.
const OU_PREFIX: &str = "hrsync-ou-";
/// Prefix of the pseudo attributes that carry group rule results.
const GROUP_PREFIX: &str = "hrsync-grp-";

#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("mapping {mapping}: attribute {attr}: format {format:?} does not compile: {reason}")]
    Format {
        mapping: String,
        attr: String,
        format: String,
        reason: String,
    },
    #[error("mapping {mapping}: leaver_when {expr:?} does not compile: {reason}")]
    Expression {
        mapping: String,
        expr: String,
        reason: String,
    },
    #[error(
        "mapping {mapping}: the RDN attribute {attr} has no format; add `{attr} = \"…\"` to the attributes"
    )]
    NoRdn { mapping: String, attr: String },
    #[error("mapping {mapping}: attribute {attr} is mapped twice")]
    Duplicate { mapping: String, attr: String },
    #[error(
        "mapping {mapping}: attribute {attr} is the key attribute; hrsync writes it from primary_key, remove it from the attributes"
    )]
    KeyMapped { mapping: String, attr: String },
}

struct Compiled {
    spec: AttrSpec,
    /// Dotted field paths the format reads.
    fields: Vec<String>,
    /// Plain-path formats rendered without the template engine.
    fast: Option<Vec<fast::Seg>>,
    name: AttrName,
}

/// A compiled mapping, ready for many records.
pub struct Mapper {
    spec: MappingSpec,
    env: Environment<'static>,
    attrs: Vec<Compiled>,
    leaver_fields: Vec<String>,
    leaver_fast: Option<fast::Compare>,
    rdn_name: AttrName,
    key_name: AttrName,
}

const LEAVER_TEMPLATE: &str = "__leaver_when";
const SCOPE_TEMPLATE: &str = "__scope_when";

impl Mapper {
    pub fn new(mut spec: MappingSpec) -> Result<Mapper, MappingError> {
        // The OU rule's parts are mapped like required attributes, then taken out again.
        for (i, f) in spec.ou.iter().enumerate() {
            spec.attributes.push(AttrSpec {
                name: format!("{OU_PREFIX}{i}"),
                format: f.clone(),
                required: true,
            });
        }
        for (name, f) in [(START_ATTR, &spec.dates.start), (END_ATTR, &spec.dates.end)] {
            if let Some(f) = f {
                spec.attributes.push(AttrSpec {
                    name: name.into(),
                    format: f.clone(),
                    required: false,
                });
            }
        }
        // Fallback candidates of unique attributes travel as pseudo attributes to the engine,
        // which picks the first free one when it plans a create.
        for u in &spec.unique {
            for (i, f) in u.candidates.iter().enumerate() {
                spec.attributes.push(AttrSpec {
                    name: candidate_attr(&u.attr, i + 1),
                    format: f.clone(),
                    required: false,
                });
            }
        }
        // A group rule is a pseudo attribute too: non-empty = member (of `dn`, or of the
        // group named by the value under `under`).
        for (i, g) in spec.groups.iter().enumerate() {
            let body = match (&g.dn, &g.cn) {
                (Some(_), _) => "1".to_string(),
                (None, Some(cn)) => cn.clone(),
                (None, None) => String::new(),
            };
            let format = match &g.when {
                Some(w) => format!("{{% if {w} %}}{body}{{% endif %}}"),
                None => body,
            };
            spec.attributes.push(AttrSpec {
                name: format!("{GROUP_PREFIX}{i}"),
                format,
                required: false,
            });
        }
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(50_000));
        env.set_formatter(|out, state, value| {
            if value.is_none() {
                return Ok(());
            }
            minijinja::escape_formatter(out, state, value)
        });
        filters::register(&mut env);

        let mut attrs = Vec::new();
        let mut seen = BTreeSet::new();
        for a in &spec.attributes {
            if !seen.insert(AttrName::new(a.name.clone())) {
                return Err(MappingError::Duplicate {
                    mapping: spec.name.clone(),
                    attr: a.name.clone(),
                });
            }
            if a.name.eq_ignore_ascii_case(&spec.key_attribute) {
                return Err(MappingError::KeyMapped {
                    mapping: spec.name.clone(),
                    attr: a.name.clone(),
                });
            }
            let source = shorthand::expand(&a.format);
            if let Some(reason) = names::check(&env, &a.format, &source) {
                return Err(MappingError::Format {
                    mapping: spec.name.clone(),
                    attr: a.name.clone(),
                    format: a.format.clone(),
                    reason,
                });
            }
            env.add_template_owned(a.name.clone(), source)
                .map_err(|e| MappingError::Format {
                    mapping: spec.name.clone(),
                    attr: a.name.clone(),
                    format: a.format.clone(),
                    reason: e.to_string(),
                })?;
        }
        if !seen.contains(&AttrName::new(spec.rdn_attribute.clone())) {
            return Err(MappingError::NoRdn {
                mapping: spec.name.clone(),
                attr: spec.rdn_attribute.clone(),
            });
        }
        for expr in [&spec.leaver_when, &spec.scope_when].into_iter().flatten() {
            let source = format!("{{% if {expr} %}}yes{{% endif %}}");
            if let Some(reason) = names::check(&env, "", &source) {
                return Err(MappingError::Expression {
                    mapping: spec.name.clone(),
                    expr: expr.clone(),
                    reason,
                });
            }
        }
        if let Some(expr) = &spec.leaver_when {
            env.add_template_owned(
                LEAVER_TEMPLATE,
                format!("{{% if {expr} %}}yes{{% endif %}}"),
            )
            .map_err(|e| MappingError::Expression {
                mapping: spec.name.clone(),
                expr: expr.clone(),
                reason: e.to_string(),
            })?;
        }
        if let Some(expr) = &spec.scope_when {
            env.add_template_owned(SCOPE_TEMPLATE, format!("{{% if {expr} %}}yes{{% endif %}}"))
                .map_err(|e| MappingError::Expression {
                    mapping: spec.name.clone(),
                    expr: expr.clone(),
                    reason: e.to_string(),
                })?;
        }
        for a in &spec.attributes {
            let fields = env
                .get_template(&a.name)
                .map(|t| sorted(t.undeclared_variables(true)))
                .unwrap_or_default();
            attrs.push(Compiled {
                spec: a.clone(),
                fields,
                fast: fast::compile(&shorthand::expand(&a.format)),
                name: AttrName::new(a.name.clone()),
            });
        }
        let mut leaver_fields = env
            .get_template(LEAVER_TEMPLATE)
            .map(|t| sorted(t.undeclared_variables(true)))
            .unwrap_or_default();
        // The scope's fields must survive projection too.
        leaver_fields.extend(
            env.get_template(SCOPE_TEMPLATE)
                .map(|t| sorted(t.undeclared_variables(true)))
                .unwrap_or_default(),
        );
        let leaver_fast = spec.leaver_when.as_deref().and_then(fast::compile_compare);
        Ok(Mapper {
            rdn_name: AttrName::new(spec.rdn_attribute.clone()),
            key_name: AttrName::new(spec.key_attribute.clone()),
            spec,
            env,
            attrs,
            leaver_fields,
            leaver_fast,
        })
    }

    /// The same mapper rendering everything through minijinja (tests compare both paths).
    #[cfg(test)]
    pub(crate) fn without_fast_path(mut self) -> Self {
        for a in &mut self.attrs {
            a.fast = None;
        }
        self.leaver_fast = None;
        self
    }

    pub fn spec(&self) -> &MappingSpec {
        &self.spec
    }

    /// Top-level HR fields this mapping reads (so sources can drop the rest of a record).
    pub fn referenced_fields(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut add = |p: &str| {
            if let Some(top) = p.split('.').next() {
                out.insert(top.to_string());
            }
        };
        for a in &self.attrs {
            a.fields.iter().for_each(|f| add(f));
        }
        self.leaver_fields.iter().for_each(|f| add(f));
        add(&self.spec.primary_key);
        if let Some(f) = &self.spec.source_id_field {
            add(f);
        }
        out
    }

    /// Every HR field path the formats and expressions read (`department.display`), with the
    /// attributes that read it (`check --online` compares them with what HR returns).
    pub fn read_fields(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for a in &self.attrs {
            for f in &a.fields {
                out.entry(f.clone())
                    .or_default()
                    .insert(a.spec.name.clone());
            }
        }
        for f in &self.leaver_fields {
            out.entry(f.clone())
                .or_default()
                .insert("leaver_when/scope_when".into());
        }
        out.entry(self.spec.primary_key.clone())
            .or_default()
            .insert("primary_key".into());
        out
    }

    /// The primary key of a record, if it has a usable one: exactly as HR sent it (numbers as
    /// their literal text), and not one [`hrsync_model::record::key_problem`] refuses (a
    /// control character, a number that is not an integer).
    pub fn key_of(&self, rec: &HrRecord) -> Option<String> {
        let v = lookup(&rec.fields, &self.spec.primary_key)?;
        if hrsync_model::record::key_problem(v).is_some() {
            return None;
        }
        scalar(v)
    }

    /// Maps one record. Errors are findings naming the record, attribute and field.
    pub fn map(&self, rec: &HrRecord) -> Result<DesiredEntry, Vec<Finding>> {
        self.map_at(rec, chrono::Utc::now().date_naive())
    }

    /// [`Mapper::map`] on a given day (effective dates are compared with `today`).
    ///
    /// The stages, in order: the key (and the problems the source found in the record), the
    /// scope, the formats, what HR says about leaving, the effective dates, then the entry's
    /// DN and groups. The findings of the formats, the leaver expression and the dates are
    /// collected together; any of them skips the record.
    pub fn map_at(
        &self,
        rec: &HrRecord,
        today: chrono::NaiveDate,
    ) -> Result<DesiredEntry, Vec<Finding>> {
        let key = self.record_key(rec)?;
        let mut r = Mapping::new(self, rec, &key);
        r.refuse_problems()?;
        if !r.in_scope()? {
            return self.out_of_scope(key);
        }
        let mut attrs = r.attributes();
        let hr_says = r.leaver();
        let start = r.date(&mut attrs, START_ATTR, "start date");
        let end = r.date(&mut attrs, END_ATTR, "end date");
        if !r.findings.is_empty() {
            return Err(r.findings);
        }
        let (leaver, leaver_reason) = self.leaver_on(today, end, hr_says);
        let starts = self.starts(today, start, leaver)?;
        // The RDN value as its format made it, read before the key attribute is set.
        let rdn_value = attrs
            .get(&self.rdn_name)
            .and_then(|v| v.first())
            .cloned()
            .unwrap_or_default();
        attrs.insert(self.key_name.clone(), vec![key.clone()]);
        let parent = self.parent_dn(&mut attrs);
        self.member_of(&mut attrs);
        Ok(DesiredEntry {
            dn: dn::child(&self.spec.rdn_attribute, &rdn_value, &parent),
            key,
            attrs,
            leaver,
            leaver_reason,
            starts,
        })
    }

    /// Stage of [`Mapper::map_at`]: the record's primary key. A missing, empty or unusable
    /// one is a finding naming the record.
    fn record_key(&self, rec: &HrRecord) -> Result<String, Vec<Finding>> {
        if let Some(problem) =
            lookup(&rec.fields, &self.spec.primary_key).and_then(hrsync_model::record::key_problem)
        {
            let label = rec.label();
            let shown = lookup(&rec.fields, &self.spec.primary_key)
                .and_then(scalar)
                .map(|k| format!("{} ({label})", hrsync_model::record::escaped(&k)))
                .unwrap_or(label);
            return Err(vec![Finding::error(
                shown,
                Some(self.spec.primary_key.clone()),
                problem,
            )]);
        }
        let Some(key) = self.key_of(rec) else {
            return Err(vec![Finding::error(
                rec.label(),
                Some(self.spec.primary_key.clone()),
                format!(
                    "primary key field {} is missing or empty; the record is skipped (fix it in the HR system)",
                    self.spec.primary_key
                ),
            )]);
        };
        Ok(key)
    }

    /// Stage of [`Mapper::map_at`]: a person outside `scope_when` is nobody to this mapping
    /// (`ignore`) or a leaver (`disable`).
    fn out_of_scope(&self, key: String) -> Result<DesiredEntry, Vec<Finding>> {
        match self.spec.out_of_scope {
            // Present in HR, so never "missing"; no finding, nothing changes.
            OutOfScope::Ignore => Err(Vec::new()),
            OutOfScope::Disable => Ok(DesiredEntry {
                dn: String::new(),
                key,
                attrs: AttrMap::new(),
                leaver: true,
                leaver_reason: Some(format!(
                    "out of scope ({} is false)",
                    self.spec.scope_when.as_deref().unwrap_or_default()
                )),
                starts: None,
            }),
        }
    }

    /// Stage of [`Mapper::map_at`]: whether the person has left on `today`. An end date
    /// decides once its grace days are over, and a leaver dated in the future is not one yet
    /// (it acts on the date, not when HR first shows it); without one, what HR says.
    fn leaver_on(
        &self,
        today: chrono::NaiveDate,
        end: Option<chrono::NaiveDate>,
        hr_says: (bool, Option<String>),
    ) -> (bool, Option<String>) {
        let (mut leaver, mut leaver_reason) = hr_says;
        let dates = &self.spec.dates;
        if let Some(end) = end {
            let effective = end + chrono::Days::new(u64::from(dates.grace_days));
            if today >= effective {
                leaver = true;
                leaver_reason = Some(if dates.grace_days > 0 {
                    format!(
                        "terminated {end}, grace of {} day(s) over",
                        dates.grace_days
                    )
                } else {
                    format!("terminated {end}")
                });
            } else if leaver {
                // Dated in the future: acts on the date, not when HR first shows it.
                leaver = false;
                leaver_reason = None;
            }
        }
        (leaver, leaver_reason)
    }

    /// Stage of [`Mapper::map_at`]: the start date of someone who starts after `today`, inside
    /// the pre-hire window. Before the window: no entry and no finding (present in HR, so
    /// never missing; nothing created).
    fn starts(
        &self,
        today: chrono::NaiveDate,
        start: Option<chrono::NaiveDate>,
        leaver: bool,
    ) -> Result<Option<chrono::NaiveDate>, Vec<Finding>> {
        if !leaver
            && let Some(start) = start
            && today < start
        {
            let window = start - chrono::Days::new(u64::from(self.spec.dates.prehire_days));
            if today < window {
                // Not yet: present in HR (never missing), nothing created.
                return Err(Vec::new());
            }
            return Ok(Some(start));
        }
        Ok(None)
    }

    /// Stage of [`Mapper::map_at`]: the parent DN, the OU rule's parts (top down) under
    /// `parent_dn`; the parts' pseudo attributes are taken out of `attrs`.
    fn parent_dn(&self, attrs: &mut AttrMap) -> String {
        let mut parent = self.spec.parent_dn.clone();
        for i in 0..self.spec.ou.len() {
            let name = AttrName::new(format!("{OU_PREFIX}{i}"));
            let v = attrs
                .remove(&name)
                .and_then(|v| v.into_iter().next())
                .unwrap_or_default();
            parent = dn::child("OU", &v, &parent);
        }
        parent
    }

    /// Stage of [`Mapper::map_at`]: `memberOf`, the groups whose rule gave a value (sorted,
    /// each once); the rules' pseudo attributes are taken out of `attrs`. Nothing without
    /// group rules.
    fn member_of(&self, attrs: &mut AttrMap) {
        if self.spec.groups.is_empty() {
            return;
        }
        let mut groups = Vec::new();
        for (i, g) in self.spec.groups.iter().enumerate() {
            let name = AttrName::new(format!("{GROUP_PREFIX}{i}"));
            let Some(v) = attrs.remove(&name).and_then(|v| v.into_iter().next()) else {
                continue;
            };
            match (&g.dn, &g.under) {
                (Some(d), _) => groups.push(d.clone()),
                (None, Some(under)) => groups.push(dn::child("CN", &v, under)),
                (None, None) => {}
            }
        }
        groups.sort_by_key(|g| g.to_lowercase());
        groups.dedup_by(|a, b| dn::same(a, b));
        attrs.insert(AttrName::new(MEMBER_OF), groups);
    }

    fn leaver(&self, ctx: &Value) -> Result<(bool, Option<String>), minijinja::Error> {
        let Some(expr) = &self.spec.leaver_when else {
            return Ok((false, None));
        };
        let t = self.env.get_template(LEAVER_TEMPLATE)?;
        let out = t.render(ctx)?;
        let _ = expr;
        Ok(if out == "yes" {
            (true, Some(self.leaver_text()))
        } else {
            (false, None)
        })
    }

    fn leaver_text(&self) -> String {
        format!(
            "HR says {}",
            self.spec.leaver_when.as_deref().unwrap_or("left")
        )
    }
}

/// One record on its way through [`Mapper::map_at`]: what the record's stages read, and the
/// findings they collect. It borrows the record; the template engine's view of the record is
/// built only if a stage needs it (the fast paths do not).
struct Mapping<'a> {
    mapper: &'a Mapper,
    rec: &'a HrRecord,
    /// The record's primary key: findings name `KEY (HR record ID)` ([`Self::subject`]).
    key: &'a str,
    jinja: std::cell::OnceCell<Value>,
    findings: Vec<Finding>,
}

impl<'a> Mapping<'a> {
    fn new(mapper: &'a Mapper, rec: &'a HrRecord, key: &'a str) -> Self {
        Mapping {
            mapper,
            rec,
            key,
            jinja: std::cell::OnceCell::new(),
            findings: Vec::new(),
        }
    }

    /// Whom the findings name: `KEY (HR record ID)` (made only for a finding).
    fn subject(&self) -> String {
        format!("{} ({})", self.key, self.rec.label())
    }

    /// The record as the template engine sees it.
    fn jinja(&self) -> Value {
        self.jinja
            .get_or_init(|| Value::from(minijinja::value::Serde(jinja::Fields(&self.rec.fields))))
            .clone()
    }

    /// Stage: the problems the source found in the record skip it, each a finding.
    fn refuse_problems(&self) -> Result<(), Vec<Finding>> {
        if self.rec.problems.is_empty() {
            return Ok(());
        }
        Err(self
            .rec
            .problems
            .iter()
            .map(|p| Finding::error(self.subject(), None, p.clone()))
            .collect())
    }

    /// Stage: whether the person is in the mapping's scope (`scope_when`; without one,
    /// everyone is). A failed expression is a finding: the person is left unchanged.
    fn in_scope(&self) -> Result<bool, Vec<Finding>> {
        if self.mapper.spec.scope_when.is_none() {
            return Ok(true);
        }
        let in_scope = self
            .mapper
            .env
            .get_template(SCOPE_TEMPLATE)
            .and_then(|t| t.render(self.jinja()))
            .map(|out| out == "yes");
        in_scope.map_err(|e| {
            vec![Finding::error(
                self.subject(),
                None,
                format!("scope_when failed: {e}; the person is left unchanged"),
            )]
        })
    }

    /// Stage: every format in order (the pseudo attributes of the OU rule, groups, dates and
    /// candidates too); the values that are not left out.
    fn attributes(&mut self) -> AttrMap {
        let mapper = self.mapper;
        // The key attribute and group memberships come on top.
        let mut attrs = AttrMap::with_capacity(mapper.attrs.len() + 2);
        for a in &mapper.attrs {
            if let Some(value) = self.attribute(a) {
                attrs.insert(a.name.clone(), vec![value]);
            }
        }
        attrs
    }

    /// One format's value. A format that fails because a field it reads is absent or empty
    /// makes an empty value; an empty optional value is left out, and an empty required one
    /// (or the RDN attribute), like a format that failed otherwise, is a finding.
    fn attribute(&mut self, a: &Compiled) -> Option<String> {
        let rec = self.rec;
        // The fields that are absent or empty: only asked for when something went wrong.
        let empty_fields = || -> Vec<&str> {
            a.fields
                .iter()
                .filter(|f| lookup(&rec.fields, f).is_none_or(is_empty))
                .map(String::as_str)
                .collect()
        };
        let rendered = match a
            .fast
            .as_ref()
            .and_then(|segs| fast::render(segs, &rec.fields))
        {
            Some(v) => Ok(v),
            None => self
                .mapper
                .env
                .get_template(&a.spec.name)
                .and_then(|t| t.render(self.jinja())),
        };
        let value = match rendered {
            Ok(v) => clean(v),
            Err(e) if !empty_fields().is_empty() => {
                let _ = e; // the cause is the absent/null field, named below
                String::new()
            }
            Err(e) => {
                self.findings.push(Finding::error(
                    self.subject(),
                    Some(a.spec.name.clone()),
                    format!("attribute {}: format failed: {e}", a.spec.name),
                ));
                return None;
            }
        };
        let required = a.spec.required
            || a.spec
                .name
                .eq_ignore_ascii_case(&self.mapper.spec.rdn_attribute);
        if value.is_empty() {
            if required {
                let empty = empty_fields();
                let why = if empty.is_empty() {
                    "the format produced an empty value".to_string()
                } else {
                    format!("field {} is missing or empty", empty.join(", "))
                };
                self.findings.push(Finding::error(
                    self.subject(),
                    Some(a.spec.name.clone()),
                    format!(
                        "required attribute {} cannot be built: {why}; the record is skipped (fix it in the HR system or make the attribute optional)",
                        a.spec.name
                    ),
                ));
            }
            return None;
        }
        Some(value)
    }

    /// Stage: what HR says (`leaver_when`), with the reason. A failed expression is a
    /// finding (and no leaver).
    fn leaver(&mut self) -> (bool, Option<String>) {
        let mapper = self.mapper;
        let said = match mapper
            .leaver_fast
            .as_ref()
            .and_then(|c| c.eval(&self.rec.fields))
        {
            Some(b) => Ok((b, b.then(|| mapper.leaver_text()))),
            None => mapper.leaver(&self.jinja()),
        };
        match said {
            Ok(v) => v,
            Err(e) => {
                self.findings.push(Finding::error(
                    self.subject(),
                    None,
                    format!("leaver_when failed: {e}"),
                ));
                (false, None)
            }
        }
    }

    /// Stage: an effective date (`what`), its pseudo attribute `name` taken out of `attrs`.
    /// A value that is not a date is a finding.
    fn date(&mut self, attrs: &mut AttrMap, name: &str, what: &str) -> Option<chrono::NaiveDate> {
        // Most mappings have no dates: no name to allocate for them.
        if !attrs.keys().any(|k| k.is(name)) {
            return None;
        }
        let v = attrs.remove(&AttrName::new(name))?.into_iter().next()?;
        let d = parse_date(&v);
        if d.is_none() {
            self.findings.push(Finding::error(
                self.subject(),
                None,
                format!("{what} {v:?} is not a date (YYYY-MM-DD); the person is left unchanged"),
            ));
        }
        d
    }
}

fn sorted(s: std::collections::HashSet<String>) -> Vec<String> {
    let mut v: Vec<String> = s.into_iter().collect();
    v.sort();
    v
}

pub use hrsync_model::record::{lookup, scalar};

fn is_empty(v: &Json) -> bool {
    match v {
        Json::Null => true,
        Json::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// NFC, trimmed, control characters removed: what reaches LDAP. A value that is already
/// so (most are) is handed back as it is, without a copy.
fn clean(v: String) -> String {
    if v.is_ascii() && !v.bytes().any(|b| b.is_ascii_control()) {
        // ASCII is already NFC.
        return if v.trim().len() == v.len() {
            v
        } else {
            v.trim().to_string()
        };
    }
    v.nfc()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests;
