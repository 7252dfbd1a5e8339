//! Offline checks of a format that the template engine only finds when it renders: unknown
//! filters (`{employee_id|lowr}`), tests and functions, and an unclosed single brace
//! (`{employee_id`, which would otherwise render literally into a DN).

use minijinja::{Environment, ErrorKind, Value};

/// Names that may stand before `(` in an expression without being function calls.
const KEYWORDS: &[&str] = &[
    "if", "elif", "else", "not", "and", "or", "in", "is", "for", "set", "with", "return",
];

/// Finds the first problem in `source` (the expanded template) that rendering would hit.
pub(crate) fn check(env: &Environment<'static>, format: &str, source: &str) -> Option<String> {
    if let Some(p) = unclosed_brace(format) {
        return Some(p);
    }
    let tmpl = env.template_from_str("").ok()?;
    let mut state = tmpl.new_state();
    for block in expression_blocks(source) {
        let code = strip_strings(block);
        for (kind, name) in names(&code) {
            match kind {
                Kind::Filter => {
                    if let Err(e) = state.apply_filter(name, &[Value::from("")])
                        && e.kind() == ErrorKind::UnknownFilter
                    {
                        return Some(unknown("filter", name, FILTERS));
                    }
                }
                Kind::Test => {
                    if let Err(e) = state.perform_test(name, &[Value::from("")])
                        && e.kind() == ErrorKind::UnknownTest
                    {
                        return Some(unknown("test", name, TESTS));
                    }
                }
                Kind::Function => {
                    if !env.globals().any(|(g, _)| g == name) {
                        let known: Vec<&str> = env.globals().map(|(g, _)| g).collect();
                        return Some(unknown("function", name, &known));
                    }
                }
            }
        }
    }
    None
}

/// Filters and tests offered (minijinja's built-ins and hrsync's), for "did you mean".
const FILTERS: &[&str] = &[
    "ascii",
    "login",
    "initial",
    "translit",
    "left",
    "lower",
    "upper",
    "title",
    "capitalize",
    "trim",
    "replace",
    "default",
    "d",
    "length",
    "join",
    "split",
    "first",
    "last",
    "int",
    "float",
    "string",
    "round",
    "abs",
    "urlencode",
    "escape",
    "safe",
    "list",
    "sort",
    "unique",
    "min",
    "max",
    "sum",
    "select",
    "reject",
    "map",
    "attr",
    "items",
    "lines",
    "format",
    "bool",
];
const TESTS: &[&str] = &[
    "defined",
    "undefined",
    "none",
    "number",
    "string",
    "sequence",
    "mapping",
    "true",
    "false",
    "eq",
    "ne",
    "in",
    "lower",
    "upper",
    "odd",
    "even",
    "startingwith",
    "endingwith",
    "containing",
];

fn unknown(what: &str, name: &str, known: &[&str]) -> String {
    let best = known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(name, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min();
    match best {
        Some((_, k)) => format!("unknown {what} `{name}` (did you mean `{k}`?)"),
        None => format!("unknown {what} `{name}`"),
    }
}

/// `{employee_id` with no `}` (outside `{{ }}`/`{% %}`/`{# #}` blocks).
fn unclosed_brace(format: &str) -> Option<String> {
    let mut rest = format;
    while let Some(pos) = rest.find('{') {
        let tail = &rest[pos..];
        let close = match tail.as_bytes().get(1) {
            Some(b'{') => "}}",
            Some(b'%') => "%}",
            Some(b'#') => "#}",
            _ => "}",
        };
        let open = if close == "}" { 1 } else { 2 };
        match tail[open..].find(close) {
            Some(end) => rest = &tail[open + end + close.len()..],
            None => {
                let shown: String = tail.chars().take(30).collect();
                return Some(format!(
                    "`{shown}` is not closed: add `{}` (a literal brace cannot be part of a format)",
                    close
                ));
            }
        }
    }
    None
}

/// The insides of `{{ … }}` and `{% … %}` blocks.
fn expression_blocks(source: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(pos) = rest.find('{') {
        let tail = &rest[pos..];
        let close = match tail.as_bytes().get(1) {
            Some(b'{') => "}}",
            Some(b'%') => "%}",
            _ => {
                rest = &tail[1..];
                continue;
            }
        };
        match tail[2..].find(close) {
            Some(end) => {
                out.push(&tail[2..2 + end]);
                rest = &tail[2 + end + 2..];
            }
            None => break,
        }
    }
    out
}

/// The code with string literals blanked (names inside strings are not calls).
fn strip_strings(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in code.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                    out.push(c);
                }
            }
            None => {
                if c == '\'' || c == '"' {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
    }
    out
}

#[derive(Debug, PartialEq)]
enum Kind {
    Filter,
    Test,
    Function,
}

/// Filter, test and function names used in an expression.
fn names(code: &str) -> Vec<(Kind, &str)> {
    let bytes = code.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    // (start, end) of each identifier, in order
    let mut idents: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if (bytes[i].is_ascii_alphabetic() || bytes[i] == b'_')
            && (i == 0 || !is_ident(bytes[i - 1]))
        {
            let s = i;
            while i < bytes.len() && is_ident(bytes[i]) {
                i += 1;
            }
            idents.push((s, i));
        } else {
            i += 1;
        }
    }
    let prev_char = |at: usize| code[..at].trim_end().chars().last();
    let next_char = |at: usize| code[at..].trim_start().chars().next();
    let mut out = Vec::new();
    for (n, &(s, e)) in idents.iter().enumerate() {
        let name = &code[s..e];
        let prev_word = n
            .checked_sub(1)
            .map(|p| &code[idents[p].0..idents[p].1])
            .filter(|_| {
                code[..s]
                    .trim_end()
                    .ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            });
        let prev_prev_word = n.checked_sub(2).map(|p| &code[idents[p].0..idents[p].1]);
        if prev_char(s) == Some('|') {
            out.push((Kind::Filter, name));
        } else if (prev_word == Some("is") && name != "not")
            || (prev_word == Some("not") && prev_prev_word == Some("is"))
        {
            out.push((Kind::Test, name));
        } else if next_char(e) == Some('(')
            && prev_char(s) != Some('.')
            && !KEYWORDS.contains(&name)
        {
            out.push((Kind::Function, name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_filters_tests_and_functions() {
        let k = names("a|lower|translit('de') is not defined and range(3) and x.get(1)");
        assert_eq!(
            k,
            vec![
                (Kind::Filter, "lower"),
                (Kind::Filter, "translit"),
                (Kind::Test, "defined"),
                (Kind::Function, "range"),
            ]
        );
        assert!(names(&strip_strings("a|replace('x|lowr', 'y')")).len() == 1);
    }

    #[test]
    fn unclosed_braces() {
        assert!(unclosed_brace("{employee_id").is_some());
        assert!(unclosed_brace("uid={a}-{b}").is_none());
        assert!(unclosed_brace("{{ a }").is_some());
        assert!(unclosed_brace("{% if a %}x{% endif %}").is_none());
    }
}
