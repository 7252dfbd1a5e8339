//! The ADManager-style single-brace shorthand: `{first_name}.{last_name|lower}` means
//! `{{ first_name }}.{{ last_name|lower }}`. Full Jinja blocks (`{{ }}`, `{% %}`, `{# #}`) are
//! copied unchanged, so both styles can be mixed.

/// Rewrites single-brace placeholders into Jinja expressions.
pub fn expand(format: &str) -> String {
    let mut out = String::with_capacity(format.len() + 16);
    let mut rest = format;
    while let Some(pos) = rest.find('{') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        let close = match tail.as_bytes().get(1) {
            Some(b'{') => Some("}}"),
            Some(b'%') => Some("%}"),
            Some(b'#') => Some("#}"),
            _ => None,
        };
        match close {
            Some(c) => match tail[2..].find(c) {
                Some(end) => {
                    let n = 2 + end + 2;
                    out.push_str(&tail[..n]);
                    rest = &tail[n..];
                }
                None => {
                    out.push_str(tail);
                    rest = "";
                }
            },
            None => match tail.find('}') {
                Some(end) => {
                    out.push_str("{{ ");
                    out.push_str(tail[1..end].trim());
                    out.push_str(" }}");
                    rest = &tail[end + 1..];
                }
                None => {
                    out.push_str(tail);
                    rest = "";
                }
            },
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::expand;
    #[test]
    fn shorthand_and_jinja_mix() {
        assert_eq!(expand("{first}.{last}"), "{{ first }}.{{ last }}");
        assert_eq!(expand("{ a|lower }x"), "{{ a|lower }}x");
        assert_eq!(expand("{{ a }}-{b}"), "{{ a }}-{{ b }}");
        assert_eq!(
            expand("{% if x %}{y}{% endif %}"),
            "{% if x %}{{ y }}{% endif %}"
        );
        assert_eq!(expand("plain"), "plain");
        assert_eq!(expand("{unclosed"), "{unclosed");
    }
}
