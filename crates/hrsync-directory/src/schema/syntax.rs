//! Value checks for the common LDAP syntaxes (RFC 4517), by OID, as the servers apply them:
//! a value that fails here is refused with invalidAttributeSyntax (21). Syntaxes not listed
//! are not checked.

/// The RFC 4517 syntax OIDs start with this.
const L: &str = "1.3.6.1.4.1.1466.115.121.1.";

/// What kind of length a syntax's bounds count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Measure {
    /// Characters (for AD: UTF-16 code units, which is what it counts).
    Chars,
    Bytes,
    /// The value is a number: bounds limit the number itself.
    Number,
    /// Not measured (DNs and other structured values).
    None,
}

/// The syntax's name, for messages.
pub(crate) fn name(oid: &str) -> Option<&'static str> {
    let n = match oid.strip_prefix(L) {
        Some(rest) => match rest {
            "5" => "Binary",
            "6" => "Bit String",
            "7" => "Boolean",
            "11" => "Country String",
            "12" => "DN",
            "15" => "Directory String",
            "22" => "Facsimile Telephone Number",
            "24" => "Generalized Time",
            "26" => "IA5 String",
            "27" => "Integer",
            "28" => "JPEG",
            "34" => "Name And Optional UID",
            "36" => "Numeric String",
            "38" => "OID",
            "40" => "Octet String",
            "41" => "Postal Address",
            "44" => "Printable String",
            "50" => "Telephone Number",
            "53" => "UTC Time",
            _ => return None,
        },
        None => match oid {
            "1.3.6.1.1.16.1" => "UUID",
            "1.2.840.113556.1.4.906" => "Large Integer",
            "1.2.840.113556.1.4.905" => "Case-Insensitive String",
            "1.2.840.113556.1.4.907" => "NT Security Descriptor",
            "1.2.840.113556.1.4.903" => "DN-Binary",
            "1.2.840.113556.1.4.904" => "DN-String",
            _ => return None,
        },
    };
    Some(n)
}

pub(crate) fn measure(oid: &str) -> Measure {
    match oid.strip_prefix(L) {
        Some("11" | "15" | "22" | "26" | "36" | "41" | "44" | "50") => Measure::Chars,
        Some("5" | "28" | "40") => Measure::Bytes,
        Some("27") => Measure::Number,
        Some(_) => Measure::None,
        None => match oid {
            "1.2.840.113556.1.4.905" => Measure::Chars,
            "1.2.840.113556.1.4.906" => Measure::Number,
            "1.2.840.113556.1.4.907" => Measure::Bytes,
            _ => Measure::None,
        },
    }
}

fn printable(c: char) -> bool {
    c.is_ascii_alphanumeric() || " '()+,-./:?=".contains(c)
}

fn integer(v: &str) -> bool {
    let digits = v.strip_prefix('-').unwrap_or(v);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (v == "0" || !digits.starts_with('0'))
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// `YYYYMMDDHH[MM[SS]][(.|,)fraction](Z|(+|-)HHMM)`.
fn generalized_time(v: &str) -> bool {
    let (body, tz) = if let Some(b) = v.strip_suffix('Z') {
        (b, true)
    } else if v.len() > 5 && matches!(v.as_bytes()[v.len() - 5], b'+' | b'-') {
        (&v[..v.len() - 5], digits(&v[v.len() - 4..], 4))
    } else {
        return false;
    };
    if !tz {
        return false;
    }
    let (main, frac) = match body.find(['.', ',']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    matches!(main.len(), 10 | 12 | 14)
        && digits(main, main.len())
        && frac.is_none_or(|f| !f.is_empty() && digits(f, f.len()))
}

/// `YYMMDDHHMM[SS](Z|(+|-)HHMM)`.
fn utc_time(v: &str) -> bool {
    let body = if let Some(b) = v.strip_suffix('Z') {
        b
    } else if v.len() > 5 && matches!(v.as_bytes()[v.len() - 5], b'+' | b'-') {
        if !digits(&v[v.len() - 4..], 4) {
            return false;
        }
        &v[..v.len() - 5]
    } else {
        return false;
    };
    matches!(body.len(), 10 | 12) && digits(body, body.len())
}

fn oid_value(v: &str) -> bool {
    let numeric = !v.is_empty()
        && v.split('.').all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p == "0" || !p.starts_with('0'))
        });
    let descr = v.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    numeric || descr
}

fn uuid(v: &str) -> bool {
    let parts: Vec<&str> = v.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Why `v` is not a valid value of syntax `oid`, or `None` when it is (or the syntax is not
/// checked here).
pub(crate) fn invalid(oid: &str, v: &str) -> Option<String> {
    let rest = oid.strip_prefix(L);
    let bad = |why: &str| Some(why.to_string());
    match rest {
        Some("7") => (v != "TRUE" && v != "FALSE").then(|| "only TRUE or FALSE".to_string()),
        Some("11") => (v.chars().count() != 2 || !v.chars().all(printable))
            .then(|| "two letters (ISO 3166 country code)".to_string()),
        Some("12") => match hrsync_model::dn::Dn::parse(v) {
            Ok(_) => None,
            Err(e) => bad(&format!("not a DN: {}", e.reason)),
        },
        Some("15" | "41") => v.is_empty().then(|| "empty".to_string()),
        Some("22" | "44" | "50") => {
            if v.is_empty() {
                return bad("empty");
            }
            let text = if rest == Some("22") {
                v.split('$').next().unwrap_or_default()
            } else {
                v
            };
            text.chars().find(|c| !printable(*c)).map(|c| {
                format!(
                    "{c:?} is not allowed (only letters A-Z a-z, digits, space and ' ( ) + , - . / : ? =)"
                )
            })
        }
        Some("24") => {
            (!generalized_time(v)).then(|| "not a generalized time (YYYYMMDDHHMMSSZ)".to_string())
        }
        Some("26") => v
            .chars()
            .find(|c| !c.is_ascii())
            .map(|c| format!("{c:?} is not ASCII (IA5 String allows ASCII only)")),
        Some("27") => (!integer(v)).then(|| {
            "not an integer (digits, an optional minus sign, no leading zeros)".to_string()
        }),
        Some("36") => (v.is_empty() || !v.chars().all(|c| c.is_ascii_digit() || c == ' '))
            .then(|| "only digits and spaces".to_string()),
        Some("38") => (!oid_value(v)).then(|| "not an OID or a name".to_string()),
        Some("53") => (!utc_time(v)).then(|| "not a UTC time (YYMMDDHHMMSSZ)".to_string()),
        Some("34") => {
            let dn = v.split("#'").next().unwrap_or(v);
            hrsync_model::dn::Dn::parse(dn)
                .err()
                .map(|e| format!("not a DN: {}", e.reason))
        }
        Some(_) => None,
        None => match oid {
            "1.3.6.1.1.16.1" => (!uuid(v)).then(|| "not a UUID".to_string()),
            "1.2.840.113556.1.4.906" => {
                let d = v.strip_prefix('-').unwrap_or(v);
                (d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| "not an integer".to_string())
            }
            "1.2.840.113556.1.4.905" => v.is_empty().then(|| "empty".to_string()),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: &str) -> String {
        format!("{L}{n}")
    }

    #[test]
    fn values_as_slapd_judges_them() {
        // Each pair was checked against slapd 2.5 (ldapadd): refused with 21 or accepted.
        assert!(invalid(&s("26"), "zoë.1@exämple.test").is_some());
        assert!(invalid(&s("26"), "zoe.1@example.test").is_none());
        assert!(invalid(&s("27"), "12a").is_some());
        assert!(invalid(&s("27"), "0012").is_some());
        assert!(invalid(&s("27"), "-0").is_some());
        assert!(invalid(&s("27"), "-12").is_none());
        assert!(invalid(&s("27"), "0").is_none());
        for bad in ["a#b", "a_b", "ä1", "a@b", "x*y", "a;b", "a\"b", "!"] {
            assert!(invalid(&s("50"), bad).is_some(), "{bad}");
        }
        assert!(invalid(&s("50"), "+49 (0)30 1234").is_none());
        assert!(invalid(&s("50"), "abc").is_none());
        assert!(invalid(&s("11"), "DEU").is_some());
        assert!(invalid(&s("11"), "DE").is_none());
        assert!(invalid(&s("12"), "not a dn").is_some());
        assert!(invalid(&s("12"), "uid=a,ou=people,dc=x").is_none());
        assert!(invalid(&s("15"), "").is_some());
        assert!(invalid(&s("15"), "   ").is_none());
        assert!(invalid(&s("7"), "true").is_some());
        assert!(invalid(&s("7"), "TRUE").is_none());
        assert!(invalid(&s("24"), "20240101120000Z").is_none());
        assert!(invalid(&s("24"), "20240101120000.5+0100").is_none());
        assert!(invalid(&s("24"), "2024-01-01").is_some());
        assert!(invalid(&s("36"), "12 34").is_none());
        assert!(invalid(&s("36"), "12a").is_some());
        assert!(invalid(&s("44"), "Hello, World (1)").is_none());
        assert!(invalid(&s("44"), "a&b").is_some());
        assert!(invalid(&s("38"), "1.2.840").is_none());
        assert!(invalid(&s("38"), "inetOrgPerson").is_none());
        assert!(invalid(&s("38"), "1.02").is_some());
        assert!(invalid("1.3.6.1.1.16.1", "6f9619ff-8b86-d011-b42d-00c04fc964ff").is_none());
        assert!(invalid("1.2.840.113556.1.4.906", "-9223372036854775808").is_none());
        assert!(invalid("1.2.3.4", "anything").is_none());
        assert!(invalid(&s("40"), "").is_none());
        assert_eq!(measure(&s("26")), Measure::Chars);
        assert_eq!(measure(&s("27")), Measure::Number);
        assert_eq!(name(&s("26")), Some("IA5 String"));
    }
}
