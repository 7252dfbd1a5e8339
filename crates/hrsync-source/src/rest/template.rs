//! Macros in endpoint URLs, headers, query parameters and bodies: `{companyName}`,
//! `{legalEntityId}`, `{employeeId}` (fan-out), `{lastRunTime}`, `{cursor}`… `{{` and `}}` are
//! literal braces. A template is checked when the config is loaded (unknown macro names are
//! errors), and every value is escaped for the place it lands in: percent-encoded in a URL path,
//! JSON-escaped in a JSON body, refused in a header when it holds a line break.
//!
//! [`Template::parse_dotted`] and [`BodyTemplate::parse_dotted`] also accept `.` and `-` in macro
//! names (`{user.mail}`, `{hr.department.display}`), for outbound webhooks whose macros name
//! directory attributes and HR fields; [`Context::Xml`] and [`Context::Form`] escape for XML text
//! and `application/x-www-form-urlencoded` bodies.

use std::collections::BTreeMap;
use std::fmt::Write;

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Macro(String),
}

/// Where an expanded value goes, which decides its escaping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// A URL path: values are percent-encoded (a `/` or `?` in an id never changes the path).
    Path,
    /// A query value or form field (the HTTP client encodes the whole value).
    Raw,
    /// A header value: a value with a control character is refused.
    Header,
    /// Inside a JSON string literal: `"` `\` and control characters are escaped.
    Json,
    /// XML text or a quoted attribute value: `& < > " '` become entities, tab, CR and LF become
    /// character references (`&#9;` `&#13;` `&#10;`, so they survive attribute-value and line-end
    /// normalisation), and any other control character (not allowed in XML 1.0, or invisible) is
    /// refused.
    Xml,
    /// A component (name or value) of an `application/x-www-form-urlencoded` body: space becomes
    /// `+`, everything but ASCII letters, digits and `* - . _` is percent-encoded (so `&`, `=`,
    /// `+`, `%` and non-ASCII UTF-8 bytes never change the fields).
    Form,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unclosed '{{' at byte {0}; write '{{{{' for a literal brace")]
    Unclosed(usize),
    #[error("single '}}' at byte {0}; write '}}}}' for a literal brace")]
    StrayClose(usize),
    #[error("empty or invalid macro name {0:?} (letters, digits and _ only)")]
    BadName(String),
    #[error("unknown macro {{{name}}}; known here: {known}")]
    Unknown { name: String, known: String },
    #[error("macro {{{0}}} has no value for this call")]
    NoValue(String),
    #[error(
        "macro {{{0}}} expands to a value with a line break or control character, refused in a header"
    )]
    ControlInHeader(String),
    #[error(
        "macro {{{0}}} expands to {1:?}, a dot segment that would change the URL path; refused"
    )]
    DotSegment(String, String),
    #[error("empty or invalid macro name {0:?} (letters, digits, _, . and - only)")]
    BadDottedName(String),
    #[error(
        "macro {{{name}}} expands to a value with the control character U+{code:04X}, which XML cannot carry; refused"
    )]
    ControlInXml { name: String, code: u32 },
}

impl Template {
    /// Parses a template whose macro names are letters, digits and `_`.
    pub fn parse(s: &str) -> Result<Template, TemplateError> {
        Template::parse_with(s, false)
    }

    /// Parses a template whose macro names may also contain `.` and `-`: `{user.mail}`,
    /// `{hr.department.display}`, `{hr.first-name}`.
    pub fn parse_dotted(s: &str) -> Result<Template, TemplateError> {
        Template::parse_with(s, true)
    }

    fn parse_with(s: &str, dotted: bool) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let bytes = s.as_bytes();
        let mut i = 0;
        while i < s.len() {
            let c = bytes[i];
            if c == b'{' {
                if bytes.get(i + 1) == Some(&b'{') {
                    text.push('{');
                    i += 2;
                    continue;
                }
                let end = s[i + 1..].find('}').ok_or(TemplateError::Unclosed(i))? + i + 1;
                let name = &s[i + 1..end];
                if dotted {
                    if name.is_empty()
                        || !name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
                    {
                        return Err(TemplateError::BadDottedName(name.to_string()));
                    }
                } else if name.is_empty()
                    || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    return Err(TemplateError::BadName(name.to_string()));
                }
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(Part::Macro(name.to_string()));
                i = end + 1;
            } else if c == b'}' {
                if bytes.get(i + 1) == Some(&b'}') {
                    text.push('}');
                    i += 2;
                    continue;
                }
                return Err(TemplateError::StrayClose(i));
            } else {
                // Copy the whole UTF-8 character.
                let ch_len = s[i..].chars().next().map_or(1, char::len_utf8);
                text.push_str(&s[i..i + ch_len]);
                i += ch_len;
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Template { parts })
    }

    /// A template without macros.
    pub fn literal(s: &str) -> Template {
        Template {
            parts: vec![Part::Text(s.to_string())],
        }
    }

    /// Macro names used, in order (duplicates kept).
    pub fn macros(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Macro(m) => Some(m.as_str()),
            Part::Text(_) => None,
        })
    }

    pub fn uses(&self, name: &str) -> bool {
        self.macros().any(|m| m == name)
    }

    /// Checks that every macro is one of `known`.
    pub fn check(&self, known: &[&str]) -> Result<(), TemplateError> {
        for m in self.macros() {
            if !known.contains(&m) {
                return Err(TemplateError::Unknown {
                    name: m.to_string(),
                    known: if known.is_empty() {
                        "none".into()
                    } else {
                        known
                            .iter()
                            .map(|k| format!("{{{k}}}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                });
            }
        }
        Ok(())
    }

    /// Expands the template with `values`, escaping each value for `ctx`.
    pub fn render(
        &self,
        values: &BTreeMap<String, String>,
        ctx: Context,
    ) -> Result<String, TemplateError> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Macro(m) => {
                    let v = values
                        .get(m)
                        .ok_or_else(|| TemplateError::NoValue(m.clone()))?;
                    match ctx {
                        Context::Raw => out.push_str(v),
                        Context::Path => {
                            // `.` and `..` stay dot segments even when percent-encoded.
                            if !v.is_empty() && v.chars().all(|c| c == '.') {
                                return Err(TemplateError::DotSegment(m.clone(), v.clone()));
                            }
                            percent_encode(v, &mut out)
                        }
                        Context::Header => {
                            if v.chars().any(char::is_control) {
                                return Err(TemplateError::ControlInHeader(m.clone()));
                            }
                            out.push_str(v)
                        }
                        Context::Json => json_escape(v, &mut out),
                        Context::Xml => xml_escape(m, v, &mut out)?,
                        Context::Form => form_encode(v, &mut out),
                    }
                }
            }
        }
        Ok(out)
    }

    /// The template as written (for display; macros shown as `{name}`).
    pub fn source(&self) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(&t.replace('{', "{{").replace('}', "}}")),
                Part::Macro(m) => {
                    let _ = write!(out, "{{{m}}}");
                }
            }
        }
        out
    }
}

/// A JSON request body whose string values are templates: `{"id": "{employeeId}"}`. Macros
/// live only inside JSON strings, so an HR value can never add a field or change the shape: it
/// is always one JSON string. A string that is exactly `{page}`, `{offset}` or `{limit}` becomes
/// a JSON number.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyTemplate {
    json: serde_json::Value,
    /// Macro names may contain `.` and `-` ([`BodyTemplate::parse_dotted`]).
    dotted: bool,
}

const NUMERIC: [&str; 3] = ["page", "offset", "limit"];

impl BodyTemplate {
    /// Parses the body: it must be valid JSON, and every string in it a valid template.
    pub fn parse(s: &str) -> Result<BodyTemplate, String> {
        BodyTemplate::parse_with(s, false)
    }

    /// Like [`BodyTemplate::parse`], with macro names that may contain `.` and `-`
    /// (`{"work_email": "{user.mail}"}`).
    pub fn parse_dotted(s: &str) -> Result<BodyTemplate, String> {
        BodyTemplate::parse_with(s, true)
    }

    fn parse_with(s: &str, dotted: bool) -> Result<BodyTemplate, String> {
        let json: serde_json::Value = serde_json::from_str(s).map_err(|e| {
            format!(
                "the body must be JSON with macros inside strings, e.g. {{\"id\": \"{{employeeId}}\"}}: {e}"
            )
        })?;
        let t = BodyTemplate { json, dotted };
        t.templates().map(|_| t)
    }

    fn parse_part(&self, s: &str) -> Result<Template, TemplateError> {
        if self.dotted {
            Template::parse_dotted(s)
        } else {
            Template::parse(s)
        }
    }

    /// Macro names used in the body's strings, in document order (duplicates kept).
    pub fn macros(&self) -> Vec<String> {
        self.templates()
            .unwrap_or_default()
            .iter()
            .flat_map(|t| t.macros().map(str::to_string).collect::<Vec<_>>())
            .collect()
    }

    fn templates(&self) -> Result<Vec<Template>, String> {
        fn walk(
            b: &BodyTemplate,
            v: &serde_json::Value,
            out: &mut Vec<Template>,
        ) -> Result<(), String> {
            match v {
                serde_json::Value::String(s) => {
                    out.push(b.parse_part(s).map_err(|e| format!("in {s:?}: {e}"))?)
                }
                serde_json::Value::Array(a) => {
                    for x in a {
                        walk(b, x, out)?
                    }
                }
                serde_json::Value::Object(m) => {
                    for x in m.values() {
                        walk(b, x, out)?
                    }
                }
                _ => {}
            }
            Ok(())
        }
        let mut out = Vec::new();
        walk(self, &self.json, &mut out)?;
        Ok(out)
    }

    pub fn uses(&self, name: &str) -> bool {
        self.templates()
            .is_ok_and(|ts| ts.iter().any(|t| t.uses(name)))
    }

    pub fn check(&self, known: &[&str]) -> Result<(), TemplateError> {
        for t in self.templates().unwrap_or_default() {
            t.check(known)?;
        }
        Ok(())
    }

    /// The body with every macro expanded.
    pub fn render(&self, values: &BTreeMap<String, String>) -> Result<String, TemplateError> {
        fn walk(
            b: &BodyTemplate,
            v: &serde_json::Value,
            values: &BTreeMap<String, String>,
        ) -> Result<serde_json::Value, TemplateError> {
            Ok(match v {
                serde_json::Value::String(s) => {
                    let t = b.parse_part(s)?;
                    let out = t.render(values, Context::Raw)?;
                    let whole: Vec<&str> = t.macros().collect();
                    if let [m] = whole.as_slice()
                        && NUMERIC.contains(m)
                        && s.len() == m.len() + 2
                        && let Ok(n) = out.parse::<u64>()
                    {
                        serde_json::Value::from(n)
                    } else {
                        serde_json::Value::String(out)
                    }
                }
                serde_json::Value::Array(a) => serde_json::Value::Array(
                    a.iter()
                        .map(|x| walk(b, x, values))
                        .collect::<Result<_, _>>()?,
                ),
                serde_json::Value::Object(m) => {
                    let mut o = serde_json::Map::new();
                    for (k, x) in m {
                        o.insert(k.clone(), walk(b, x, values)?);
                    }
                    serde_json::Value::Object(o)
                }
                other => other.clone(),
            })
        }
        Ok(walk(self, &self.json, values)?.to_string())
    }

    /// The body as configured.
    pub fn source(&self) -> String {
        self.json.to_string()
    }
}

/// RFC 3986 percent-encoding of everything but unreserved characters.
fn percent_encode(v: &str, out: &mut String) {
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// Escapes for the inside of a JSON string literal.
fn json_escape(v: &str, out: &mut String) {
    let quoted = serde_json::Value::String(v.to_string()).to_string();
    // `to_string` of a JSON string is always `"…"`.
    out.push_str(&quoted[1..quoted.len() - 1]);
}

/// Escapes for XML text and quoted attribute values; refuses characters XML cannot carry.
fn xml_escape(name: &str, v: &str, out: &mut String) -> Result<(), TemplateError> {
    for c in v.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if c.is_control() || matches!(c, '\u{FFFE}' | '\u{FFFF}') => {
                return Err(TemplateError::ControlInXml {
                    name: name.to_string(),
                    code: u32::from(c),
                });
            }
            c => out.push(c),
        }
    }
    Ok(())
}

/// `application/x-www-form-urlencoded` byte serializer (WHATWG URL standard).
fn form_encode(v: &str, out: &mut String) {
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'*' | b'-' | b'.' | b'_') {
            out.push(char::from(b));
        } else if b == b' ' {
            out.push('+');
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn vals(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_expands_and_escapes_per_context() {
        let t = Template::parse("/companies/{companyName}/employees/{id}").unwrap();
        assert_eq!(t.macros().collect::<Vec<_>>(), ["companyName", "id"]);
        let v = vals(&[("companyName", "acme"), ("id", "a/b?c=d é")]);
        assert_eq!(
            t.render(&v, Context::Path).unwrap(),
            "/companies/acme/employees/a%2Fb%3Fc%3Dd%20%C3%A9"
        );
        let body = Template::parse(r#"{{"id": "{id}"}}"#).unwrap();
        let v = vals(&[("id", "x\"}, \"admin\": true, \"y\": \"\n")]);
        let out = body.render(&v, Context::Json).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed["id"], "x\"}, \"admin\": true, \"y\": \"\n");
        assert!(parsed.get("admin").is_none());
        assert_eq!(
            Template::parse("{id}")
                .unwrap()
                .render(&vals(&[("id", "a\r\nX-Evil: 1")]), Context::Header),
            Err(TemplateError::ControlInHeader("id".into()))
        );
    }

    #[test]
    fn json_bodies_keep_values_inside_strings() {
        let b =
            BodyTemplate::parse(r#"{"company": "{c}", "page": "{page}", "ids": ["{id}"], "n": 3}"#)
                .unwrap();
        let out = b
            .render(&vals(&[
                ("c", "acme\", \"admin\": true, \"x"),
                ("page", "2"),
                ("id", "E1"),
            ]))
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["company"], "acme\", \"admin\": true, \"x");
        assert!(v.get("admin").is_none());
        assert_eq!(v["page"], 2, "a whole paging macro is a number");
        assert_eq!(v["ids"][0], "E1");
        assert!(BodyTemplate::parse(r#"{"id": {employeeId}}"#).is_err());
        assert!(b.uses("page") && !b.uses("cursor"));
    }

    #[test]
    fn dot_segments_are_refused_in_paths() {
        let t = Template::parse("/employees/{id}/details").unwrap();
        for v in [".", "..", "..."] {
            assert!(matches!(
                t.render(&vals(&[("id", v)]), Context::Path),
                Err(TemplateError::DotSegment(..))
            ));
        }
        assert_eq!(
            t.render(&vals(&[("id", "a.b")]), Context::Path).unwrap(),
            "/employees/a.b/details"
        );
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(Template::parse("/x/{id"), Err(TemplateError::Unclosed(3)));
        assert_eq!(Template::parse("/x/}"), Err(TemplateError::StrayClose(3)));
        assert!(matches!(
            Template::parse("/x/{a-b}"),
            Err(TemplateError::BadName(_))
        ));
        let t = Template::parse("/{companyNme}").unwrap();
        let e = t.check(&["companyName", "lastRunTime"]).unwrap_err();
        assert!(e.to_string().contains("{companyNme}") && e.to_string().contains("{companyName}"));
        assert_eq!(
            t.render(&BTreeMap::new(), Context::Raw),
            Err(TemplateError::NoValue("companyNme".into()))
        );
        assert_eq!(Template::parse("a{{b}}").unwrap().source(), "a{{b}}");
    }

    #[test]
    fn dotted_names_are_accepted_only_by_parse_dotted() {
        let t = Template::parse_dotted("/e/{hr.id}/{user.mail}/{hr.first-name}/{key}").unwrap();
        assert_eq!(
            t.macros().collect::<Vec<_>>(),
            ["hr.id", "user.mail", "hr.first-name", "key"]
        );
        assert!(matches!(
            Template::parse("{user.mail}"),
            Err(TemplateError::BadName(_))
        ));
        for bad in ["{}", "{a b}", "{a/b}", "{a{b}"] {
            assert!(
                matches!(
                    Template::parse_dotted(bad),
                    Err(TemplateError::BadDottedName(_))
                ),
                "{bad}"
            );
        }
        assert_eq!(
            Template::parse_dotted("{{x}} {user.mail}")
                .unwrap()
                .source(),
            "{{x}} {user.mail}"
        );
        let b = BodyTemplate::parse_dotted(
            r#"{"mail": "{user.mail}", "d": ["{hr.department.display}"]}"#,
        )
        .unwrap();
        assert_eq!(b.macros(), ["user.mail", "hr.department.display"]);
        assert!(b.uses("user.mail"));
        let out = b
            .render(&vals(&[
                ("user.mail", "a\"b"),
                ("hr.department.display", "R&D"),
            ]))
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["mail"], "a\"b");
        assert_eq!(v["d"][0], "R&D");
        assert!(BodyTemplate::parse(r#"{"mail": "{user.mail}"}"#).is_err());
    }

    #[test]
    fn xml_context_escapes_markup_and_refuses_control_characters() {
        let t = Template::parse("<a x=\"{v}\">{v}</a>").unwrap();
        let out = t
            .render(
                &vals(&[("v", "Zoë \"Z\" O'Brien <x>&y\t\r\n")]),
                Context::Xml,
            )
            .unwrap();
        let esc = "Zoë &quot;Z&quot; O&apos;Brien &lt;x&gt;&amp;y&#9;&#13;&#10;";
        assert_eq!(out, format!("<a x=\"{esc}\">{esc}</a>"));
        for bad in ["a\u{0}b", "a\u{1b}b", "a\u{7f}", "a\u{85}", "\u{FFFF}"] {
            let e = t.render(&vals(&[("v", bad)]), Context::Xml).unwrap_err();
            assert!(matches!(e, TemplateError::ControlInXml { ref name, .. } if name == "v"));
            assert!(e.to_string().contains("{v}") && e.to_string().contains("U+"));
        }
    }

    #[test]
    fn form_context_encodes_a_whole_component() {
        let t = Template::parse("a={v}&b=x").unwrap();
        let hostile = "Zoë \"Z\" O'Brien <x>&y=1+2%3\n}";
        let out = t.render(&vals(&[("v", hostile)]), Context::Form).unwrap();
        assert!(out.starts_with("a=Zo%C3%AB+%22Z%22+O%27Brien+%3Cx%3E%26y%3D1%2B2%253%0A%7D&b=x"));
        let url = reqwest::Url::parse(&format!("http://h/?{out}")).unwrap();
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            [
                ("a".to_string(), hostile.to_string()),
                ("b".into(), "x".into())
            ]
        );
    }
}
