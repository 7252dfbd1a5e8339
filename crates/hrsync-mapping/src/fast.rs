//! A fast path for the common formats, `{first_name} {last_name}` and `{department.display}`:
//! literal text and plain field paths, no filters or logic. They are rendered by direct lookup,
//! with the same result minijinja gives (absent/null → empty), which matters at 100k records.
//! Anything else (filters, blocks, non-scalar values, floats) goes through minijinja.

use serde_json::{Map, Value};

#[derive(Debug, Clone)]
pub(crate) enum Seg {
    Lit(String),
    /// A field path and argument-less filters applied in order.
    Path(String, Vec<Filter>),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Filter {
    Lower,
    Upper,
    Trim,
    Ascii,
    Login,
    Initial,
}

impl Filter {
    fn parse(name: &str) -> Option<Filter> {
        Some(match name {
            "lower" => Filter::Lower,
            "upper" => Filter::Upper,
            "trim" => Filter::Trim,
            "ascii" => Filter::Ascii,
            "login" => Filter::Login,
            "initial" => Filter::Initial,
            _ => return None,
        })
    }
    /// Same results as the registered minijinja filters and builtins of the same name.
    fn apply(self, v: String) -> String {
        match self {
            Filter::Lower => v.to_lowercase(),
            Filter::Upper => v.to_uppercase(),
            Filter::Trim => v.trim().to_string(),
            Filter::Ascii => crate::filters::ascii(&v),
            Filter::Login => crate::filters::login(&v),
            Filter::Initial => v.chars().next().map(String::from).unwrap_or_default(),
        }
    }
}

fn is_path(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|p| {
            let mut c = p.chars();
            c.next()
                .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
                && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
        })
}

/// Segments of an expanded (Jinja) template, when it is only literals and plain paths.
pub(crate) fn compile(expanded: &str) -> Option<Vec<Seg>> {
    if expanded.contains("{%") || expanded.contains("{#") {
        return None;
    }
    let mut segs = Vec::new();
    let mut rest = expanded;
    while let Some(start) = rest.find("{{") {
        let lit = &rest[..start];
        if lit.contains('}') || lit.contains('{') {
            return None;
        }
        if !lit.is_empty() {
            segs.push(Seg::Lit(lit.to_string()));
        }
        let end = rest[start..].find("}}")? + start;
        let mut parts = rest[start + 2..end].split('|').map(str::trim);
        let expr = parts.next()?;
        if !is_path(expr) || ["true", "false", "none", "True", "False", "None"].contains(&expr) {
            return None;
        }
        let filters = parts.map(Filter::parse).collect::<Option<Vec<_>>>()?;
        segs.push(Seg::Path(expr.to_string(), filters));
        rest = &rest[end + 2..];
    }
    if rest.contains('{') || rest.contains('}') {
        return None;
    }
    if !rest.is_empty() {
        segs.push(Seg::Lit(rest.to_string()));
    }
    Some(segs)
}

/// Renders segments; `None` when a value needs minijinja's formatting (objects, floats).
pub(crate) fn render(segs: &[Seg], fields: &Map<String, Value>) -> Option<String> {
    // One allocation for the usual format (a plain field, or two joined by a literal):
    // values without filters are copied straight into the result.
    let mut out = String::new();
    for s in segs {
        match s {
            Seg::Lit(l) => out.push_str(l),
            Seg::Path(p, filters) => {
                let value = crate::lookup(fields, p);
                if filters.is_empty() {
                    match value {
                        None | Some(Value::Null) => {}
                        Some(Value::String(v)) => out.push_str(v),
                        // Integers exactly as sent, at any length (as the template engine
                        // renders them); other numbers are left to minijinja.
                        Some(Value::Number(n)) => {
                            out.push_str(&hrsync_model::record::integer_text(n)?)
                        }
                        Some(Value::Bool(b)) => out.push_str(if *b { "true" } else { "false" }),
                        Some(_) => return None,
                    }
                    continue;
                }
                let text = match value {
                    // A filter on an absent/null value: leave minijinja's semantics to minijinja.
                    None | Some(Value::Null) => return None,
                    Some(Value::String(v)) => v.clone(),
                    Some(Value::Number(n)) => hrsync_model::record::integer_text(n)?,
                    Some(_) => return None,
                };
                out.push_str(&filters.iter().fold(text, |v, f| f.apply(v)));
            }
        }
    }
    Some(out)
}

/// `field == 'literal'` (or `"literal"`, or `!=`), the usual leaver test.
#[derive(Debug, Clone)]
pub(crate) struct Compare {
    path: String,
    value: String,
    negate: bool,
}

pub(crate) fn compile_compare(expr: &str) -> Option<Compare> {
    let (op, negate) = if expr.contains("!=") {
        ("!=", true)
    } else {
        ("==", false)
    };
    let (l, r) = expr.split_once(op)?;
    let (l, r) = (l.trim(), r.trim());
    if !is_path(l) || r.len() < 2 {
        return None;
    }
    let q = r.chars().next()?;
    if !(q == '\'' || q == '"') || !r.ends_with(q) {
        return None;
    }
    let value = &r[1..r.len() - 1];
    if value.contains(['\'', '"', '\\']) {
        return None;
    }
    Some(Compare {
        path: l.to_string(),
        value: value.to_string(),
        negate,
    })
}

impl Compare {
    /// `None` when the field is absent (minijinja would fail: strict undefined).
    pub(crate) fn eval(&self, fields: &Map<String, Value>) -> Option<bool> {
        let v = crate::lookup(fields, &self.path)?;
        let eq = matches!(v, Value::String(s) if *s == self.value);
        Some(eq != self.negate)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn simple_formats_compile_and_others_do_not() {
        assert!(compile("{{ a }} {{ b.c }}").is_some());
        assert!(compile("{{ a|lower|login }}").is_some());
        assert!(compile("{{ a|left(3) }}").is_none());
        assert!(compile("{{ a|nosuch }}").is_none());
        assert!(compile("{% if a %}x{% endif %}").is_none());
        assert!(compile("{{ none }}").is_none());
        let segs = compile("{{ first }}.{{ dep.display }}!").unwrap();
        let f = json!({"first": "Zoë", "dep": {"display": "Sales"}});
        assert_eq!(render(&segs, f.as_object().unwrap()).unwrap(), "Zoë.Sales!");
        let f = json!({"first": null, "dep": {"display": 7}});
        assert_eq!(render(&segs, f.as_object().unwrap()).unwrap(), ".7!");
        let f = json!({"first": {"x": 1}});
        assert!(render(&segs, f.as_object().unwrap()).is_none());
    }

    #[test]
    fn comparisons() {
        let c = compile_compare("status == 'Terminated'").unwrap();
        assert_eq!(
            c.eval(json!({"status": "Terminated"}).as_object().unwrap()),
            Some(true)
        );
        assert_eq!(
            c.eval(json!({"status": "Active"}).as_object().unwrap()),
            Some(false)
        );
        assert_eq!(c.eval(json!({}).as_object().unwrap()), None);
        assert!(compile_compare("status == 'A' or x").is_none());
        assert!(compile_compare("status|lower == 'a'").is_none());
    }
}

#[cfg(test)]
mod same_as_minijinja {
    #![allow(clippy::unwrap_used)]
    use crate::{AttrSpec, Mapper, MappingSpec, OutOfScope};
    use hrsync_model::{AttrName, HrRecord};
    use serde_json::json;

    /// The fast path and minijinja agree on every filter for awkward inputs.
    #[test]
    fn fast_path_matches_the_template_engine() {
        let formats = [
            "{v|lower}",
            "{v|upper}",
            "{v|trim}",
            "{v|ascii}",
            "{v|login}",
            "{v|initial}",
            "{v|ascii|lower}.{n}",
            "{n}",
        ];
        for v in [
            "José Müller",
            "  ŁUKASZ  ",
            "O'Brien, Jr.",
            "ß",
            "",
            "İstanbul",
            "Nguyễn Văn",
        ] {
            for f in formats {
                let mk = |format: String| {
                    Mapper::new(MappingSpec {
                        name: "m".into(),
                        primary_key: "k".into(),
                        source_id_field: None,
                        rdn_attribute: "cn".into(),
                        parent_dn: "ou=p".into(),
                        key_attribute: "employeeNumber".into(),
                        attributes: vec![
                            AttrSpec {
                                name: "cn".into(),
                                format: "{k}".into(),
                                required: true,
                            },
                            AttrSpec {
                                name: "x".into(),
                                format,
                                required: false,
                            },
                        ],
                        leaver_when: None,
                        ou: Vec::new(),
                        groups: Vec::new(),
                        scope_when: None,
                        out_of_scope: OutOfScope::Ignore,
                        unique: Vec::new(),
                        dates: Default::default(),
                    })
                    .unwrap()
                };
                let fields = json!({"k": "K1", "v": v, "n": 42})
                    .as_object()
                    .unwrap()
                    .clone();
                let rec = HrRecord {
                    index: 0,
                    source_id: None,
                    fields,
                    problems: Vec::new(),
                };
                let fast = mk(f.to_string()).map(&rec).unwrap();
                let slow = mk(f.to_string()).without_fast_path().map(&rec).unwrap();
                let x = AttrName::from("x");
                assert_eq!(
                    fast.attrs.get(&x),
                    slow.attrs.get(&x),
                    "format {f} on {v:?}"
                );
            }
        }
    }
}
