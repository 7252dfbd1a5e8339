//! RFC 4512 schema descriptions (`attributeTypes`, `objectClasses`, `dITContentRules` values):
//! `( 2.5.4.3 NAME ( 'cn' 'commonName' ) SUP name )`. Active Directory quotes the syntax OID
//! (`SYNTAX '1.3.6.1.4.1.1466.115.121.1.15'`); both spellings read the same here. Unknown
//! keywords (`X-ORIGIN`, `PROPERTY-GUID`, …) are skipped with their value.

/// One parsed description: the OID, then each keyword with its values (a flag has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Description {
    pub oid: String,
    pub fields: Vec<(String, Vec<String>)>,
}

impl Description {
    /// The values of `keyword` (case-insensitive), empty when absent.
    pub fn values(&self, keyword: &str) -> &[String] {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(keyword))
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }

    pub fn first(&self, keyword: &str) -> Option<&str> {
        self.values(keyword).first().map(String::as_str)
    }

    pub fn has(&self, keyword: &str) -> bool {
        self.fields
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(keyword))
    }
}

/// Keywords that take no value.
const FLAGS: &[&str] = &[
    "OBSOLETE",
    "SINGLE-VALUE",
    "COLLECTIVE",
    "NO-USER-MODIFICATION",
    "ABSTRACT",
    "STRUCTURAL",
    "AUXILIARY",
    // Samba/AD extensions in extendedAttributeInfo.
    "INDEXED",
    "SYSTEM-ONLY",
];

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Dollar,
    Word(String),
}

fn tokens(s: &str) -> Option<Vec<Token>> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Token::Open);
            }
            ')' => {
                chars.next();
                out.push(Token::Close);
            }
            '$' => {
                chars.next();
                out.push(Token::Dollar);
            }
            '\'' => {
                chars.next();
                let mut w = String::new();
                loop {
                    match chars.next()? {
                        '\'' => break,
                        // RFC 4512 qdstring escapes: \27 (') and \5C (\).
                        '\\' => {
                            let hex: String = [chars.next()?, chars.next()?].iter().collect();
                            match u8::from_str_radix(&hex, 16).ok()? {
                                b @ (b'\'' | b'\\') => w.push(char::from(b)),
                                _ => return None,
                            }
                        }
                        c => w.push(c),
                    }
                }
                // `'1.3.6.1.4.1.1466.115.121.1.15'{64}`: a bound after a quoted OID.
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '$' | '\'') {
                        break;
                    }
                    w.push(c);
                    chars.next();
                }
                out.push(Token::Word(w));
            }
            _ => {
                let mut w = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '$' | '\'') {
                        break;
                    }
                    w.push(c);
                    chars.next();
                }
                out.push(Token::Word(w));
            }
        }
    }
    Some(out)
}

/// Parses one description; `None` when it is not one.
pub(crate) fn description(s: &str) -> Option<Description> {
    let toks = tokens(s)?;
    let mut it = toks.into_iter().peekable();
    if it.next()? != Token::Open {
        return None;
    }
    let Token::Word(oid) = it.next()? else {
        return None;
    };
    let mut fields = Vec::new();
    loop {
        match it.next()? {
            Token::Close => break,
            Token::Word(k) => {
                let k = k.to_ascii_uppercase();
                if FLAGS.contains(&k.as_str()) {
                    fields.push((k, Vec::new()));
                    continue;
                }
                let mut values = Vec::new();
                match it.next()? {
                    Token::Word(v) => values.push(v),
                    Token::Open => loop {
                        match it.next()? {
                            Token::Close => break,
                            Token::Dollar => {}
                            Token::Word(v) => values.push(v),
                            Token::Open => return None,
                        }
                    },
                    Token::Close | Token::Dollar => return None,
                }
                fields.push((k, values));
            }
            Token::Open | Token::Dollar => return None,
        }
    }
    Some(Description { oid, fields })
}

/// `1.3.6.1.4.1.1466.115.121.1.15{256}` → (the OID, Some(256)).
pub(crate) fn syntax_and_bound(s: &str) -> (String, Option<usize>) {
    match s.split_once('{') {
        Some((oid, rest)) => (
            oid.trim().to_string(),
            rest.trim_end_matches('}').trim().parse().ok(),
        ),
        None => (s.trim().to_string(), None),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn openldap_and_ad_spellings() {
        let d = description("( 0.9.2342.19200300.100.1.3 NAME ( 'mail' 'rfc822Mailbox' ) DESC 'RFC1274: RFC822 Mailbox' EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.26{256} )").unwrap();
        assert_eq!(d.oid, "0.9.2342.19200300.100.1.3");
        assert_eq!(d.values("NAME"), ["mail", "rfc822Mailbox"]);
        assert_eq!(d.first("desc"), Some("RFC1274: RFC822 Mailbox"));
        assert_eq!(
            syntax_and_bound(d.first("SYNTAX").unwrap()),
            ("1.3.6.1.4.1.1466.115.121.1.26".to_string(), Some(256))
        );
        let ad = description("( 1.2.840.113556.1.4.221 NAME 'sAMAccountName' SYNTAX '1.3.6.1.4.1.1466.115.121.1.15' SINGLE-VALUE )").unwrap();
        assert_eq!(ad.first("SYNTAX"), Some("1.3.6.1.4.1.1466.115.121.1.15"));
        assert!(ad.has("SINGLE-VALUE"));
        let oc = description("( 2.5.6.6 NAME 'person' DESC 'RFC2256: a person' SUP top STRUCTURAL MUST ( sn $ cn ) MAY ( userPassword $ telephoneNumber $ seeAlso $ description ) X-ORIGIN ( 'a' 'b' ) )").unwrap();
        assert_eq!(oc.values("MUST"), ["sn", "cn"]);
        assert_eq!(oc.values("MAY").len(), 4);
        assert!(oc.has("STRUCTURAL"));
        assert_eq!(oc.first("SUP"), Some("top"));
        // Samba's "MUST (a $ b )" without a space after the parenthesis.
        let samba = description("( 1.2.840.113556.1.5.9 NAME 'user' SUP organizationalPerson STRUCTURAL MUST (objectClass $ cn $ instanceType ) MAY (mail $ sAMAccountName ) )").unwrap();
        assert_eq!(samba.values("MUST"), ["objectClass", "cn", "instanceType"]);
        let esc = description(r"( 1.2 NAME 'x' DESC 'it\27s a \5C' )").unwrap();
        assert_eq!(esc.first("DESC"), Some(r"it's a \"));
        assert!(description("( 1.2 NAME 'x' ").is_none());
        assert!(description("not one").is_none());
    }
}
