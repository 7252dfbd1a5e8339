//! The directory's schema, read from its subschema subentry, and what it refuses: values a
//! server would answer with invalidAttributeSyntax (21), constraintViolation (19),
//! objectClassViolation (65), undefinedAttributeType (17) or a refused RDN, checked before
//! anything is sent, so each becomes a finding on its record at plan time instead of a failed
//! change on every run.
//!
//! [`Schema::check_entry`] sits next to [`Dialect::check`](crate::Dialect::check): both turn a
//! [`DesiredEntry`] into per-record [`Finding`]s. What is checked, per attribute:
//! - the attribute type exists, may be written (not NO-USER-MODIFICATION), and the object
//!   classes allow it (OpenLDAP; on AD a warning, and only where its dITContentRules say which
//!   auxiliary classes a class has);
//! - each value is valid for the syntax (IA5 String is ASCII, Integer, Boolean, DN, Printable
//!   String, Telephone Number, … see `syntax`);
//! - one value at most for SINGLE-VALUE;
//! - the `{N}` upper bound of the syntax (`…121.1.15{256}`): a warning only, because RFC 4512
//!   makes it a hint and OpenLDAP does not enforce it;
//! - AD's `rangeLower`/`rangeUpper` (from `attributeSchema` in the schema naming context),
//!   which AD enforces: string lengths in UTF-16 code units, integers by value;
//! - the attributes the object classes MUST have (except those the server fills itself);
//! - the RDN: slapd's back-mdb keeps an RDN's stored and normalized forms in one key of at most
//!   [`OPENLDAP_MAX_RDN_BYTES`] bytes (measured against slapd 2.5: a longer one is refused
//!   with other (80), past 8 KB with invalidDNSyntax (34)); AD's naming attribute `cn` holds
//!   at most [`AD_MAX_RDN_CHARS`] characters.

mod parse;
mod read;
mod syntax;

use crate::Dialect;
use hrsync_model::{AttrMap, DesiredEntry, Finding};
use std::collections::{HashMap, HashSet};

/// The most bytes slapd (back-mdb) takes for an RDN's stored form and normalized form together
/// (`cn=` + 242 ASCII characters twice is 490). Special characters count three bytes (slapd
/// stores `,` as `\2C`), runs of spaces one in the normalized form.
pub const OPENLDAP_MAX_RDN_BYTES: usize = 491;

/// The most characters of an Active Directory RDN value (`cn` has rangeUpper 64).
pub const AD_MAX_RDN_CHARS: usize = 64;

/// One attribute type of the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeType {
    pub oid: String,
    /// The names, the first one primary (`cn`, `commonName`).
    pub names: Vec<String>,
    /// The supertype, whose syntax it inherits when it names none.
    pub sup: Option<String>,
    /// The syntax OID it names itself (see [`Schema::syntax`] for the inherited one).
    pub syntax: Option<String>,
    /// The `{N}` after the syntax OID.
    pub bound: Option<usize>,
    pub single_value: bool,
    /// Only the server writes it.
    pub no_user_modification: bool,
    /// `USAGE` other than userApplications: outside the object classes' rules.
    pub operational: bool,
}

/// An object class: `ABSTRACT`, `STRUCTURAL` or `AUXILIARY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassKind {
    Abstract,
    Structural,
    Auxiliary,
}

/// One object class of the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectClass {
    pub oid: String,
    pub names: Vec<String>,
    pub sup: Vec<String>,
    pub kind: ClassKind,
    pub must: Vec<String>,
    pub may: Vec<String>,
}

/// AD's bounds of an attribute (`rangeLower`, `rangeUpper` of its `attributeSchema`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Range {
    pub lower: Option<i64>,
    pub upper: Option<i64>,
}

/// What is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    UnknownObjectClass,
    UnknownAttribute,
    /// The object classes do not allow the attribute.
    NotAllowed,
    /// NO-USER-MODIFICATION: only the server writes it.
    ReadOnly,
    /// More than one value of a SINGLE-VALUE attribute.
    TooManyValues,
    InvalidSyntax,
    /// Longer than the syntax's `{N}` or AD's rangeUpper.
    TooLong,
    /// Shorter than AD's rangeLower.
    TooShort,
    /// A number outside AD's rangeLower..rangeUpper.
    OutOfRange,
    /// An attribute the object classes MUST have is missing.
    MissingRequired,
    RdnTooLong,
}

/// One thing the directory would refuse (or, when not `refused`, may not keep as written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaProblem {
    /// The attribute concerned, as the caller spelt it.
    pub attr: Option<String>,
    pub kind: ProblemKind,
    /// The server refuses it. `false`: a warning (the `{N}` bound, which OpenLDAP ignores).
    pub refused: bool,
    /// For people: what, why, and what to do.
    pub message: String,
}

/// The schema of one directory.
#[derive(Debug, Clone)]
pub struct Schema {
    dialect: Dialect,
    attrs: Vec<AttributeType>,
    /// Lower-cased names and OIDs → index in `attrs`.
    attr_index: foldhash::HashMap<String, usize>,
    classes: Vec<ObjectClass>,
    class_index: HashMap<String, usize>,
    /// AD dITContentRules by the lower-cased structural class name/OID: (aux classes, must, may).
    content_rules: HashMap<String, ContentRule>,
    /// AD ranges by lower-cased attribute name.
    ranges: HashMap<String, Range>,
    /// The object classes new entries get (the directory's configuration).
    object_classes: Vec<String>,
    /// Definitions that could not be parsed (skipped).
    unparsed: usize,
    /// The class closure and allowed attributes of `object_classes`, computed on first use:
    /// every record of a run is checked against the same classes.
    configured: std::sync::OnceLock<ClassInfo>,
}

/// The classes an entry's object classes stand for (with their superclasses), the names
/// that are not in the schema, and the attributes they allow (None: unknown classes).
#[derive(Debug, Clone)]
struct ClassInfo {
    names: Vec<String>,
    unknown: Vec<String>,
    allowed: Option<HashSet<usize>>,
    /// The attributes the classes MUST have, with their index in the schema (worked out once:
    /// the check runs for every record).
    required: Vec<(String, Option<usize>)>,
}

#[derive(Debug, Clone, Default)]
struct ContentRule {
    aux: Vec<String>,
    must: Vec<String>,
    may: Vec<String>,
}

/// Attributes the planner uses that are not attributes of the entry.
fn not_an_attribute(name: &str) -> bool {
    name.eq_ignore_ascii_case("memberOf") || name.to_ascii_lowercase().starts_with("hrsync-")
}

/// Attributes the server fills in itself even when the object classes MUST have them.
fn server_filled(dialect: Dialect, name: &str) -> bool {
    let filled: &[&str] = match dialect {
        Dialect::Openldap => &["objectClass"],
        Dialect::ActiveDirectory => &[
            "objectClass",
            "instanceType",
            "nTSecurityDescriptor",
            "objectCategory",
            "objectSid",
            "sAMAccountName",
        ],
    };
    filled.iter().any(|f| f.eq_ignore_ascii_case(name))
}

/// A value as messages show it: at most 40 characters, then how long it is.
fn show(v: &str) -> String {
    let n = v.chars().count();
    if n <= 40 {
        format!("{v:?}")
    } else {
        let head: String = v.chars().take(30).collect();
        format!("\"{}…\" ({n} characters)", head.escape_debug())
    }
}

/// Bytes of an RDN value as slapd writes it: `,+"\<>;=` and a leading `#` or space, a trailing
/// space and NUL as `\XX`.
fn slapd_escaped_len(v: &str) -> usize {
    let n = v.chars().count();
    v.chars()
        .enumerate()
        .map(|(i, c)| match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' | '\0' => 3,
            '#' if i == 0 => 3,
            ' ' if i == 0 || i + 1 == n => 3,
            c => c.len_utf8(),
        })
        .sum()
}

/// What slapd's back-mdb stores for an RDN: its written form plus its normalized form (the
/// attribute's primary name, the value lower-cased with runs of spaces collapsed and the ends
/// trimmed).
pub fn openldap_rdn_bytes(attr_as_written: &str, primary_name: &str, value: &str) -> usize {
    // Usually the value is ASCII with single spaces between words: its normalized form then
    // differs only in letter case, which escaping ignores.
    let plain = value.is_ascii()
        && !value.starts_with(|c: char| c.is_whitespace())
        && !value.ends_with(|c: char| c.is_whitespace())
        && !value.contains("  ")
        && !value.contains(|c: char| c.is_whitespace() && c != ' ');
    if plain {
        let escaped = slapd_escaped_len(value);
        return attr_as_written.len() + 1 + escaped + primary_name.len() + 1 + escaped;
    }
    openldap_rdn_bytes_normalizing(attr_as_written, primary_name, value)
}

/// [`openldap_rdn_bytes`] by building the normalized form (any value).
fn openldap_rdn_bytes_normalizing(attr_as_written: &str, primary_name: &str, value: &str) -> usize {
    let normalized = value
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    attr_as_written.len()
        + 1
        + slapd_escaped_len(value)
        + primary_name.len()
        + 1
        + slapd_escaped_len(&normalized)
}

impl Schema {
    /// A schema from the subschema subentry's `attributeTypes` and `objectClasses` values
    /// (RFC 4512 descriptions; definitions that do not parse are skipped and counted).
    pub fn parse<S: AsRef<str>>(
        dialect: Dialect,
        attribute_types: &[S],
        object_classes: &[S],
    ) -> Schema {
        let mut s = Schema {
            dialect,
            attrs: Vec::new(),
            attr_index: foldhash::HashMap::default(),
            classes: Vec::new(),
            class_index: HashMap::new(),
            content_rules: HashMap::new(),
            ranges: HashMap::new(),
            object_classes: Vec::new(),
            unparsed: 0,
            configured: std::sync::OnceLock::new(),
        };
        for d in attribute_types {
            let Some(d) = parse::description(d.as_ref()) else {
                s.unparsed += 1;
                continue;
            };
            let (syntax, bound) = match d.first("SYNTAX").map(parse::syntax_and_bound) {
                Some((o, b)) => (Some(o), b),
                None => (None, None),
            };
            let a = AttributeType {
                oid: d.oid.clone(),
                names: d.values("NAME").to_vec(),
                sup: d.first("SUP").map(str::to_string),
                syntax,
                bound,
                single_value: d.has("SINGLE-VALUE"),
                no_user_modification: d.has("NO-USER-MODIFICATION"),
                operational: d
                    .first("USAGE")
                    .is_some_and(|u| !u.eq_ignore_ascii_case("userApplications")),
            };
            // AD/Samba extendedAttributeInfo style, should a caller pass those.
            let num = |k: &str| d.first(k).and_then(|v| v.parse::<i64>().ok());
            let range = Range {
                lower: num("RANGE-LOWER"),
                upper: num("RANGE-UPPER"),
            };
            let i = s.attrs.len();
            for key in a.names.iter().chain(std::iter::once(&a.oid)) {
                s.attr_index.insert(key.to_lowercase(), i);
                // Also as the schema spells it: mappings mostly do, so the check of every
                // record finds it without lowercasing (an allocation) per attribute.
                s.attr_index.entry(key.clone()).or_insert(i);
            }
            if range != Range::default() {
                for n in &a.names {
                    s.ranges.insert(n.to_lowercase(), range);
                }
            }
            s.attrs.push(a);
        }
        for d in object_classes {
            let Some(d) = parse::description(d.as_ref()) else {
                s.unparsed += 1;
                continue;
            };
            let kind = if d.has("ABSTRACT") {
                ClassKind::Abstract
            } else if d.has("AUXILIARY") {
                ClassKind::Auxiliary
            } else {
                ClassKind::Structural
            };
            let c = ObjectClass {
                oid: d.oid.clone(),
                names: d.values("NAME").to_vec(),
                sup: d.values("SUP").to_vec(),
                kind,
                must: d.values("MUST").to_vec(),
                may: d.values("MAY").to_vec(),
            };
            let i = s.classes.len();
            for key in c.names.iter().chain(std::iter::once(&c.oid)) {
                s.class_index.insert(key.to_lowercase(), i);
            }
            s.classes.push(c);
        }
        s
    }

    /// Adds `dITContentRules` (AD: the auxiliary classes of each structural class, and their
    /// attributes). With one for a class, [`Self::check`] also knows what AD allows on it.
    pub fn with_content_rules<S: AsRef<str>>(mut self, rules: &[S]) -> Schema {
        for r in rules {
            let Some(d) = parse::description(r.as_ref()) else {
                self.unparsed += 1;
                continue;
            };
            let rule = ContentRule {
                aux: d.values("AUX").to_vec(),
                must: d.values("MUST").to_vec(),
                may: d.values("MAY").to_vec(),
            };
            for key in d.values("NAME").iter().chain(std::iter::once(&d.oid)) {
                self.content_rules.insert(key.to_lowercase(), rule.clone());
            }
        }
        self
    }

    /// Adds AD's `rangeLower`/`rangeUpper` by attribute name.
    pub fn with_ranges(mut self, ranges: impl IntoIterator<Item = (String, Range)>) -> Schema {
        for (name, r) in ranges {
            self.ranges.insert(name.to_lowercase(), r);
        }
        self
    }

    /// The object classes new entries get, which [`Self::check_entry`] checks against.
    pub fn with_object_classes(mut self, classes: Vec<String>) -> Schema {
        self.object_classes = classes;
        self.configured = std::sync::OnceLock::new();
        self
    }

    fn class_info(&self, object_classes: &[String]) -> ClassInfo {
        let (classes, unknown) = self.closure(object_classes);
        let allowed = if unknown.is_empty() {
            self.allowed(&classes, object_classes)
        } else {
            None
        };
        let required = self
            .required(&classes)
            .into_iter()
            .map(|m| (m.to_string(), self.attr_idx(m)))
            .collect();
        ClassInfo {
            names: object_classes.to_vec(),
            unknown,
            allowed,
            required,
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The object classes [`Self::check_entry`] uses.
    pub fn object_classes(&self) -> &[String] {
        &self.object_classes
    }

    /// How many definitions could not be parsed (and are unknown to the checks).
    pub fn unparsed(&self) -> usize {
        self.unparsed
    }

    /// How many attribute types and object classes were read.
    pub fn len(&self) -> (usize, usize) {
        (self.attrs.len(), self.classes.len())
    }

    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty()
    }

    fn attr_idx(&self, name: &str) -> Option<usize> {
        match self.attr_index.get(name) {
            Some(&i) => Some(i),
            None => self.attr_index.get(&name.to_lowercase()).copied(),
        }
    }

    /// The attribute type by any of its names or its OID (case-insensitive).
    pub fn attribute(&self, name: &str) -> Option<&AttributeType> {
        self.attr_idx(name).map(|i| &self.attrs[i])
    }

    /// The object class by any of its names or its OID (case-insensitive).
    pub fn object_class(&self, name: &str) -> Option<&ObjectClass> {
        self.class_index
            .get(&name.to_lowercase())
            .map(|&i| &self.classes[i])
    }

    /// The attribute's syntax OID and `{N}` bound, inherited from its supertypes when it names
    /// none itself.
    pub fn syntax(&self, attr: &str) -> Option<(&str, Option<usize>)> {
        self.syntax_at(self.attr_idx(attr)?)
    }

    /// [`Self::syntax`] of the attribute type at `ai`.
    fn syntax_at(&self, ai: usize) -> Option<(&str, Option<usize>)> {
        let mut cur = Some(ai);
        for _ in 0..16 {
            let a = &self.attrs[cur?];
            if let Some(s) = &a.syntax {
                return Some((s.as_str(), a.bound));
            }
            cur = a.sup.as_deref().and_then(|s| self.attr_idx(s));
        }
        None
    }

    /// AD's bounds of the attribute, when it has any.
    pub fn range(&self, attr: &str) -> Option<Range> {
        if let Some(r) = self.ranges.get(&attr.to_lowercase()) {
            return Some(*r);
        }
        // Read by the primary name; the caller may use another one.
        let a = self.attribute(attr)?;
        a.names
            .iter()
            .find_map(|n| self.ranges.get(&n.to_lowercase()).copied())
    }

    /// The classes named and all their superclasses; the names not in the schema.
    fn closure(&self, names: &[String]) -> (Vec<usize>, Vec<String>) {
        let mut seen: Vec<usize> = Vec::new();
        let mut unknown = Vec::new();
        let mut stack: Vec<(String, bool)> = names.iter().map(|n| (n.clone(), true)).collect();
        while let Some((n, named)) = stack.pop() {
            match self.class_index.get(&n.to_lowercase()) {
                Some(&i) if !seen.contains(&i) => {
                    seen.push(i);
                    stack.extend(self.classes[i].sup.iter().map(|s| (s.clone(), false)));
                }
                Some(_) => {}
                None if named => unknown.push(n),
                None => {}
            }
        }
        (seen, unknown)
    }

    /// The attribute types the classes allow (MUST and MAY, through superclasses and, on AD,
    /// the content rules' auxiliary classes); `None` when that cannot be known here (an
    /// unknown class, `extensibleObject`, or AD without a content rule for the class).
    fn allowed(&self, classes: &[usize], names: &[String]) -> Option<HashSet<usize>> {
        let mut all: Vec<usize> = classes.to_vec();
        let mut extra: Vec<&String> = Vec::new();
        if self.dialect == Dialect::ActiveDirectory {
            let rules: Vec<&ContentRule> = classes
                .iter()
                .filter(|&&i| self.classes[i].kind == ClassKind::Structural)
                .filter_map(|&i| {
                    let c = &self.classes[i];
                    c.names
                        .iter()
                        .chain(std::iter::once(&c.oid))
                        .find_map(|k| self.content_rules.get(&k.to_lowercase()))
                })
                .collect();
            if rules.is_empty() {
                return None;
            }
            for r in rules {
                let (aux, _) = self.closure(&r.aux);
                all.extend(aux);
                extra.extend(r.must.iter().chain(&r.may));
            }
        }
        if all.iter().any(|&i| {
            self.classes[i]
                .names
                .iter()
                .any(|n| n.eq_ignore_ascii_case("extensibleObject"))
        }) || names
            .iter()
            .any(|n| n.eq_ignore_ascii_case("extensibleObject"))
        {
            return None;
        }
        Some(
            all.iter()
                .flat_map(|&i| self.classes[i].must.iter().chain(&self.classes[i].may))
                .chain(extra)
                .filter_map(|n| self.attr_idx(n))
                .collect(),
        )
    }

    /// The attribute types the classes MUST have, as the class spells them.
    fn required(&self, classes: &[usize]) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for &i in classes {
            for m in &self.classes[i].must {
                if !out.iter().any(|o| o.eq_ignore_ascii_case(m)) {
                    out.push(m);
                }
            }
        }
        out
    }

    /// What the directory would refuse in an entry with this DN, these object classes and these
    /// attributes (the planner's `memberOf` and `hrsync-*` are not attributes and are skipped).
    pub fn check(
        &self,
        dn: &str,
        object_classes: &[String],
        attrs: &AttrMap,
    ) -> Vec<SchemaProblem> {
        let info = self.class_info(object_classes);
        self.check_with(dn, &info, attrs, &[])
    }

    /// [`Self::check`] with the classes worked out, leaving out the attributes in `skip`.
    fn check_with(
        &self,
        dn: &str,
        info: &ClassInfo,
        attrs: &AttrMap,
        skip: &[hrsync_model::AttrName],
    ) -> Vec<SchemaProblem> {
        let mut out = Vec::new();
        let problem = |attr: Option<&str>, kind, refused, message: String| SchemaProblem {
            attr: attr.map(str::to_string),
            kind,
            refused,
            message,
        };
        let unknown = &info.unknown;
        let object_classes = &info.names;
        for c in unknown {
            out.push(problem(
                None,
                ProblemKind::UnknownObjectClass,
                true,
                format!("object class {c} is not in the directory's schema"),
            ));
        }
        let allowed = &info.allowed;
        let ad = self.dialect == Dialect::ActiveDirectory;
        // A handful per entry: a vector beats a hash set here.
        let mut present: Vec<usize> = Vec::with_capacity(attrs.len());
        for (name, values) in attrs.iter().filter(|(a, _)| !skip.contains(a)) {
            let name = name.as_str();
            if not_an_attribute(name) {
                continue;
            }
            let Some(ai) = self.attr_idx(name) else {
                out.push(problem(
                    Some(name),
                    ProblemKind::UnknownAttribute,
                    true,
                    format!(
                        "{name} is not an attribute type of the directory's schema (undefinedAttributeType (17)); check its spelling in the mapping"
                    ),
                ));
                continue;
            };
            present.push(ai);
            let a = &self.attrs[ai];
            if a.no_user_modification {
                out.push(problem(
                    Some(name),
                    ProblemKind::ReadOnly,
                    true,
                    format!("{name} is set by the directory itself and cannot be written (NO-USER-MODIFICATION); remove it from the mapping"),
                ));
                continue;
            }
            if let Some(allowed) = &allowed
                && !a.operational
                && !allowed.contains(&ai)
            {
                // On AD only a warning: what its content rules allow (auxiliary classes of
                // superclasses, dynamic ones) has not been checked against a live DC.
                out.push(problem(
                    Some(name),
                    ProblemKind::NotAllowed,
                    !ad,
                    format!(
                        "the object classes {} do not allow {name} (objectClassViolation (65)); add an object class that does, or remove it from the mapping",
                        object_classes.join(", ")
                    ),
                ));
            }
            if a.single_value && values.len() > 1 {
                out.push(problem(
                    Some(name),
                    ProblemKind::TooManyValues,
                    true,
                    format!(
                        "{name} takes one value (SINGLE-VALUE) and would get {}",
                        values.len()
                    ),
                ));
            }
            let (syn, bound) = self.syntax_at(ai).unwrap_or(("", None));
            let measure = syntax::measure(syn);
            let syn_name = syntax::name(syn).unwrap_or(syn);
            let range = if ad { self.range(name) } else { None };
            for v in values {
                if let Some(why) = syntax::invalid(syn, v) {
                    let hint = if syn.ends_with(".26") {
                        "; transliterate it in the mapping (|ascii) or correct it in HR"
                    } else {
                        "; correct it in HR or in the mapping"
                    };
                    out.push(problem(
                        Some(name),
                        ProblemKind::InvalidSyntax,
                        true,
                        format!(
                            "{name} value {} is not a valid {syn_name}: {why}; the directory refuses it (invalidAttributeSyntax (21)){hint}",
                            show(v)
                        ),
                    ));
                    continue;
                }
                let chars = || {
                    if ad {
                        v.encode_utf16().count()
                    } else {
                        v.chars().count()
                    }
                };
                let len = match measure {
                    Measure::Chars => Some(chars()),
                    Measure::Bytes => Some(v.len()),
                    Measure::Number | Measure::None => None,
                };
                if let (Some(n), Some(len)) = (bound, len)
                    && len > n
                    && range.and_then(|r| r.upper).is_none()
                {
                    out.push(problem(
                        Some(name),
                        ProblemKind::TooLong,
                        false,
                        format!(
                            "{name} value {} is longer than the {n} characters its syntax names ({syn}{{{n}}}); OpenLDAP keeps it, other servers may not",
                            show(v)
                        ),
                    ));
                }
                let Some(r) = range else { continue };
                if measure == Measure::Number {
                    if let Ok(x) = v.parse::<i64>()
                        && (r.lower.is_some_and(|l| x < l) || r.upper.is_some_and(|u| x > u))
                    {
                        out.push(problem(
                            Some(name),
                            ProblemKind::OutOfRange,
                            true,
                            format!(
                                "{name} value {x} is outside {}..{} (rangeLower..rangeUpper); Active Directory refuses it (constraintViolation (19))",
                                r.lower.map(|l| l.to_string()).unwrap_or_default(),
                                r.upper.map(|u| u.to_string()).unwrap_or_default()
                            ),
                        ));
                    }
                } else if let Some(len) = len {
                    let unit = if measure == Measure::Bytes {
                        "bytes"
                    } else {
                        "characters"
                    };
                    if let Some(u) = r.upper
                        && len as i64 > u
                    {
                        out.push(problem(
                            Some(name),
                            ProblemKind::TooLong,
                            true,
                            format!(
                                "{name} value {} has {len} {unit}, more than the {u} Active Directory allows (rangeUpper); shorten it in the mapping (e.g. |left({u}))",
                                show(v)
                            ),
                        ));
                    } else if let Some(l) = r.lower
                        && (len as i64) < l
                    {
                        out.push(problem(
                            Some(name),
                            ProblemKind::TooShort,
                            true,
                            format!(
                                "{name} value {} has {len} {unit}, fewer than the {l} Active Directory requires (rangeLower)",
                                show(v)
                            ),
                        ));
                    }
                }
            }
        }
        let rdn = hrsync_model::dn::Dn::parse_leaf(dn).ok().flatten();
        let rdn_attr = rdn.as_ref().and_then(|l| self.attr_idx(&l.attr));
        for (m, mi) in &info.required {
            let (m, Some(mi)) = (m.as_str(), *mi) else {
                continue;
            };
            if present.contains(&mi) || Some(mi) == rdn_attr || server_filled(self.dialect, m) {
                continue;
            }
            out.push(problem(
                Some(m),
                ProblemKind::MissingRequired,
                true,
                format!(
                    "{m} is required by the object classes {} and the record has none (objectClassViolation (65)); map it, or make it required so the record is named",
                    object_classes.join(", ")
                ),
            ));
        }
        if let Some(leaf) = rdn {
            let shown = || format!("{}={}", leaf.attr, show(&leaf.value));
            match self.dialect {
                Dialect::Openldap => {
                    let primary = rdn_attr
                        .and_then(|i| self.attrs[i].names.first())
                        .map(String::as_str)
                        .unwrap_or(&leaf.attr);
                    let n = openldap_rdn_bytes(&leaf.attr, primary, &leaf.value);
                    if n > OPENLDAP_MAX_RDN_BYTES {
                        out.push(problem(
                            Some(&leaf.attr),
                            ProblemKind::RdnTooLong,
                            true,
                            format!(
                                "the RDN {} is too long for OpenLDAP: stored with its normalized form it takes {n} bytes, and at most {OPENLDAP_MAX_RDN_BYTES} fit (about 240 ASCII characters); slapd refuses the entry (other (80), or invalidDNSyntax (34) past 8 KB); shorten the RDN attribute's format (e.g. |left(64))",
                                shown()
                            ),
                        ));
                    }
                }
                Dialect::ActiveDirectory => {
                    let n = leaf.value.encode_utf16().count();
                    let reported = out.iter().any(|p| {
                        p.kind == ProblemKind::TooLong
                            && p.attr
                                .as_deref()
                                .is_some_and(|a| a.eq_ignore_ascii_case(&leaf.attr))
                    });
                    if n > AD_MAX_RDN_CHARS && !reported {
                        out.push(problem(
                            Some(&leaf.attr),
                            ProblemKind::RdnTooLong,
                            true,
                            format!(
                                "the RDN {} has {n} characters; Active Directory allows {AD_MAX_RDN_CHARS} (constraintViolation or namingViolation); shorten the RDN attribute's format (e.g. |left({AD_MAX_RDN_CHARS}))",
                                shown()
                            ),
                        ));
                    }
                }
            }
        }
        out
    }

    /// [`Self::check`] of a desired entry with the configured object classes, as per-record
    /// findings: errors for what the directory refuses, warnings for the rest. Nothing for a
    /// leaver, who is only disabled.
    pub fn check_entry(&self, d: &DesiredEntry) -> Vec<Finding> {
        self.check_entry_except(d, &[])
    }

    /// [`Self::check_entry`] leaving out the attributes in `skip` (values that are not final
    /// yet, such as person references the planner turns into DNs).
    pub fn check_entry_except(
        &self,
        d: &DesiredEntry,
        skip: &[hrsync_model::AttrName],
    ) -> Vec<Finding> {
        self.check_desired(d, skip, true)
    }

    /// [`Self::check_entry_except`] for a mapping that never creates (its `actions` exclude
    /// `create`): it only modifies existing entries, so the attributes the object classes MUST
    /// have are not its to map.
    pub fn check_update_except(
        &self,
        d: &DesiredEntry,
        skip: &[hrsync_model::AttrName],
    ) -> Vec<Finding> {
        self.check_desired(d, skip, false)
    }

    fn check_desired(
        &self,
        d: &DesiredEntry,
        skip: &[hrsync_model::AttrName],
        creates: bool,
    ) -> Vec<Finding> {
        if d.leaver {
            return Vec::new();
        }
        let info = self
            .configured
            .get_or_init(|| self.class_info(&self.object_classes));
        self.check_with(&d.dn, info, &d.attrs, skip)
            .into_iter()
            .filter(|p| creates || p.kind != ProblemKind::MissingRequired)
            .map(|p| {
                if p.refused {
                    Finding::error(d.key.clone(), p.attr, p.message)
                } else {
                    Finding::warning(d.key.clone(), p.attr, p.message)
                }
            })
            .collect()
    }

    /// Whether a mapping fits the schema, without any record: the object classes exist, every
    /// attribute it writes exists, may be written and is allowed, and every attribute the
    /// classes MUST have is written (for `hrsync check --online`). `rdn_attribute` is filled
    /// from the DN by the server.
    pub fn check_mapping(
        &self,
        object_classes: &[String],
        rdn_attribute: &str,
        attributes: &[String],
    ) -> Vec<SchemaProblem> {
        // A placeholder value per attribute: only the names are checked, so value problems
        // (and the RDN) are dropped below.
        let attrs: AttrMap = attributes
            .iter()
            .map(|a| (hrsync_model::AttrName::new(a.clone()), Vec::new()))
            .collect();
        let dn = format!("{rdn_attribute}=x");
        self.check(&dn, object_classes, &attrs)
            .into_iter()
            .filter(|p| {
                matches!(
                    p.kind,
                    ProblemKind::UnknownObjectClass
                        | ProblemKind::UnknownAttribute
                        | ProblemKind::NotAllowed
                        | ProblemKind::ReadOnly
                        | ProblemKind::MissingRequired
                )
            })
            .collect()
    }
}

use syntax::Measure;

#[cfg(test)]
mod tests;
