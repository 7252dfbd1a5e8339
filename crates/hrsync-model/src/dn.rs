//! Distinguished names (RFC 4514). The only place an HR value becomes part of a DN.
//!
//! [`escape_value`] makes an attribute value safe as an RDN value; [`Dn::parse`] reads a DN as a
//! server returns it (any valid escaping) so two spellings of the same DN compare equal.

use std::fmt;

/// Escapes an RDN value: `"` `+` `,` `;` `<` `>` `\` `=` anywhere, `#` or space at the start, a
/// space at the end, and NUL (as `\00`). Non-ASCII characters are kept as UTF-8.
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    let n = value.chars().count();
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i + 1 == n => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

/// `attr=value,parent` with the value escaped.
pub fn child(attr: &str, value: &str, parent: &str) -> String {
    format!("{attr}={},{parent}", escape_value(value))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid DN {dn:?}: {reason}")]
pub struct DnError {
    pub dn: String,
    pub reason: &'static str,
}

/// One attribute-value assertion of an RDN, with the value unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ava {
    pub attr: String,
    pub value: String,
}

/// A parsed DN: RDNs from the leaf to the root; each RDN has one or more AVAs.
#[derive(Debug, Clone)]
pub struct Dn {
    pub rdns: Vec<Vec<Ava>>,
}

impl Dn {
    pub fn parse(dn: &str) -> Result<Dn, DnError> {
        Dn::parse_keeping(dn, usize::MAX)
    }

    /// The leaf RDN's first AVA of a DN that parses ([`Dn::parse`]'s errors), `None` for the
    /// empty DN. The rest of the DN is checked, not kept: no allocation per RDN (a plan checks
    /// every mapped DN).
    pub fn parse_leaf(dn: &str) -> Result<Option<Ava>, DnError> {
        let mut d = Dn::parse_keeping(dn, 1)?;
        Ok(d.rdns.pop().and_then(|r| r.into_iter().next()))
    }

    /// Parses `dn`, keeping its first `keep` RDNs (the others are checked the same way).
    fn parse_keeping(dn: &str, keep: usize) -> Result<Dn, DnError> {
        let err = |reason| DnError {
            dn: dn.to_string(),
            reason,
        };
        let mut rdns = Vec::new();
        if dn.trim().is_empty() {
            return Ok(Dn { rdns });
        }
        let mut rdn: Vec<Ava> = Vec::new();
        let mut attr = String::new();
        let mut value: Vec<u8> = Vec::new();
        let mut in_value = false;
        let bytes = dn.as_bytes();
        let mut i = 0;
        // Every AVA is checked; only those of kept RDNs are copied out, and the buffers are
        // reused.
        let finish = |attr: &mut String, value: &mut Vec<u8>, rdn: &mut Vec<Ava>, kept: bool| {
            let v = std::str::from_utf8(value).map_err(|_| err("value is not UTF-8"))?;
            let a = attr.trim();
            if a.is_empty() {
                return Err(err("empty attribute type"));
            }
            if kept {
                rdn.push(Ava {
                    attr: a.to_string(),
                    value: v.to_string(),
                });
            }
            value.clear();
            attr.clear();
            Ok(())
        };
        while i < bytes.len() {
            let c = bytes[i];
            if !in_value {
                match c {
                    b'=' => in_value = true,
                    b',' | b'+' => return Err(err("attribute type without a value")),
                    _ => attr.push(c as char),
                }
                i += 1;
                continue;
            }
            match c {
                b'\\' => {
                    let next = *bytes.get(i + 1).ok_or_else(|| err("dangling backslash"))?;
                    if next.is_ascii_hexdigit() {
                        let hex = bytes
                            .get(i + 1..i + 3)
                            .ok_or_else(|| err("short hex escape"))?;
                        let hex = std::str::from_utf8(hex).map_err(|_| err("bad hex escape"))?;
                        let b = u8::from_str_radix(hex, 16).map_err(|_| err("bad hex escape"))?;
                        value.push(b);
                        i += 3;
                    } else {
                        value.push(next);
                        i += 2;
                    }
                }
                b',' | b';' => {
                    trim_unescaped_trailing_space(&mut value, bytes, i);
                    finish(&mut attr, &mut value, &mut rdn, rdns.len() < keep)?;
                    if rdns.len() < keep {
                        rdns.push(std::mem::take(&mut rdn));
                    }
                    in_value = false;
                    i += 1;
                    while bytes.get(i) == Some(&b' ') {
                        i += 1;
                    }
                }
                b'+' => {
                    finish(&mut attr, &mut value, &mut rdn, rdns.len() < keep)?;
                    in_value = false;
                    i += 1;
                }
                b' ' if value.is_empty() => i += 1,
                _ => {
                    value.push(c);
                    i += 1;
                }
            }
        }
        if !in_value {
            return Err(err("attribute type without a value"));
        }
        trim_unescaped_trailing_space(&mut value, bytes, bytes.len());
        finish(&mut attr, &mut value, &mut rdn, rdns.len() < keep)?;
        if rdns.len() < keep {
            rdns.push(rdn);
        }
        Ok(Dn { rdns })
    }

    /// The leaf RDN's first AVA.
    pub fn leaf(&self) -> Option<&Ava> {
        self.rdns.first().and_then(|r| r.first())
    }

    /// The parent DN in canonical escaped form.
    pub fn parent(&self) -> Dn {
        Dn {
            rdns: self.rdns.iter().skip(1).cloned().collect(),
        }
    }

    /// Normalised form for comparison: attribute types and values lower-cased, canonical escaping.
    /// Right for the case-insensitive naming attributes (cn, uid, ou, dc, o) used in user DNs.
    pub fn normalized(&self) -> String {
        let mut s = String::new();
        for (i, rdn) in self.rdns.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            for (j, ava) in rdn.iter().enumerate() {
                if j > 0 {
                    s.push('+');
                }
                s.push_str(&ava.attr.to_lowercase());
                s.push('=');
                s.push_str(&escape_value(&ava.value.to_lowercase()));
            }
        }
        s
    }
}

impl fmt::Display for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rdn) in self.rdns.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            for (j, ava) in rdn.iter().enumerate() {
                if j > 0 {
                    f.write_str("+")?;
                }
                write!(f, "{}={}", ava.attr, escape_value(&ava.value))?;
            }
        }
        Ok(())
    }
}

/// A trailing space in a value is only data when escaped (`\ `); an unescaped one is padding.
fn trim_unescaped_trailing_space(value: &mut Vec<u8>, bytes: &[u8], end: usize) {
    let mut j = end;
    while j > 0 && bytes[j - 1] == b' ' && value.last() == Some(&b' ') {
        if j >= 2 && bytes[j - 2] == b'\\' {
            break;
        }
        value.pop();
        j -= 1;
    }
}

/// True when both strings name the same entry (case-insensitive, any escaping). Unparsable DNs
/// compare by their lower-cased text.
pub fn same(a: &str, b: &str) -> bool {
    if a == b {
        return true; // the common case, without parsing either
    }
    match (Dn::parse(a), Dn::parse(b)) {
        (Ok(x), Ok(y)) => x.normalized() == y.normalized(),
        _ => a.eq_ignore_ascii_case(b),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_leaf_alone_is_the_full_parse_s_leaf() {
        for dn in [
            "",
            "uid=emp00017,ou=people,dc=example,dc=com",
            r"cn=O'Brien\, Jr.\2C (Ops)\20,ou=people,dc=example,dc=com",
            "cn=a+sn=b,ou=x",
            " uid = x , ou=y",
            r"uid=x,ou=bad\",
            "uid=x,=y",
            "uid=x,ou",
            r"uid=x,ou=\ff",
            "uid,ou=y",
            r"uid=\ff,ou=y",
        ] {
            let full = Dn::parse(dn).map(|d| d.leaf().cloned());
            assert_eq!(Dn::parse_leaf(dn), full, "{dn:?}");
        }
    }

    proptest! {
        #[test]
        fn the_leaf_alone_agrees_on_any_text(dn in r"[a-z=,+ \\0-9#;fF]{0,24}") {
            let full = Dn::parse(&dn).map(|d| d.leaf().cloned());
            prop_assert_eq!(Dn::parse_leaf(&dn), full);
        }
    }

    #[test]
    fn hostile_name_escapes_and_parses_back() {
        let v = r#"O'Brien, Jr. (Ops)*\ Zoë"#;
        let dn = child("cn", v, "ou=people,dc=example,dc=com");
        assert_eq!(
            dn,
            r#"cn=O'Brien\, Jr. (Ops)*\\ Zoë,ou=people,dc=example,dc=com"#
        );
        let p = Dn::parse(&dn).unwrap();
        assert_eq!(p.leaf().unwrap().value, v);
        assert_eq!(p.parent().to_string(), "ou=people,dc=example,dc=com");
    }

    #[test]
    fn server_hex_escapes_compare_equal() {
        assert!(same(
            r"cn=O\27Brien\2C Jr.,ou=People,dc=example,dc=com",
            r"CN=o'brien\, jr., ou=people,dc=example,dc=com"
        ));
        assert!(!same("cn=a,ou=people", "cn=b,ou=people"));
    }

    #[test]
    fn leading_and_trailing_specials() {
        assert_eq!(escape_value(" #x "), r"\ #x\ ");
        assert_eq!(escape_value("#x"), r"\#x");
        assert_eq!(escape_value("a+b=c;<>\""), r#"a\+b\=c\;\<\>\""#);
        let p = Dn::parse(r"cn=\ x\ ,dc=a").unwrap();
        assert_eq!(p.leaf().unwrap().value, " x ");
    }

    #[test]
    fn broken_dns_are_errors() {
        assert!(Dn::parse("cn=a\\").is_err());
        assert!(Dn::parse("cn").is_err());
        assert!(Dn::parse(",dc=a").is_err());
    }

    proptest! {
        #[test]
        fn escape_then_parse_round_trips(v in "\\PC{1,30}", parent in "[a-z]{1,8}") {
            let dn = child("cn", &v, &format!("ou={parent},dc=example"));
            let p = Dn::parse(&dn).unwrap();
            prop_assert_eq!(&p.leaf().unwrap().value, &v);
            prop_assert_eq!(p.rdns.len(), 3);
            prop_assert!(same(&dn, &p.to_string()));
        }
    }
}
