//! LDAP search filter values (RFC 4515). The only place an HR value becomes part of a filter.

/// Escapes a value for use inside a filter assertion: `*`, `(`, `)`, `\` and NUL become `\2a`,
/// `\28`, `\29`, `\5c` and `\00`. Everything else (including UTF-8) passes unchanged.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '*' => out.push_str("\\2a"),
            '(' => out.push_str("\\28"),
            ')' => out.push_str("\\29"),
            '\\' => out.push_str("\\5c"),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

/// `(attr=value)` with the value escaped. `attr` must be a config-checked attribute name.
pub fn eq(attr: &str, value: &str) -> String {
    format!("({attr}={})", escape(value))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hostile_values_are_escaped() {
        assert_eq!(
            escape(r"O'Brien, Jr. (Ops)*\"),
            r"O'Brien, Jr. \28Ops\29\2a\5c"
        );
        assert_eq!(eq("cn", "*)(uid=*"), r"(cn=\2a\29\28uid=\2a)");
    }

    proptest! {
        #[test]
        fn escaped_value_has_no_filter_metacharacters(s in ".*") {
            let e = escape(&s);
            prop_assert!(!e.contains('*') && !e.contains('(') && !e.contains(')') && !e.contains('\0'));
            // every backslash starts a two-hex-digit escape
            let b = e.as_bytes();
            for (i, &c) in b.iter().enumerate() {
                if c == b'\\' {
                    prop_assert!(i + 2 < b.len() + 1 && b.get(i+1).is_some_and(u8::is_ascii_hexdigit) && b.get(i+2).is_some_and(u8::is_ascii_hexdigit));
                }
            }
            // round trip
            let mut back = String::new();
            let mut i = 0;
            while i < e.len() {
                if e.as_bytes()[i] == b'\\' {
                    back.push(u8::from_str_radix(&e[i+1..i+3], 16).unwrap() as char);
                    i += 3;
                } else {
                    let ch = e[i..].chars().next().unwrap();
                    back.push(ch);
                    i += ch.len_utf8();
                }
            }
            prop_assert_eq!(back, s);
        }
    }
}
