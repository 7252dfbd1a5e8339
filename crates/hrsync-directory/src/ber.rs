//! A search result entry read straight from its BER content (RFC 4511 §4.5.2), as the patched
//! LDAP client hands it over for search results without controls: the DN and each attribute's
//! name and values, without a tag tree of a vector per attribute and per value (at 100,000s of
//! entries that tree was most of the directory read's allocations).

/// An attribute's name and raw values, as the server sent them.
pub(crate) type RawAttr = (String, Vec<Vec<u8>>);

/// One element: (identifier octet, content, what follows). Definite lengths of at most 8
/// octets only, as LDAP requires (RFC 4511 §5.1).
fn element(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 8 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
        (usize::try_from(len).ok()?, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

const CONSTRUCTED: u8 = 0x20;

/// The next element if it is primitive (a string): (content, what follows).
fn primitive(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let (tag, content, rest) = element(b)?;
    (tag & CONSTRUCTED == 0).then_some((content, rest))
}

/// The next element if it is constructed (a sequence or set): (content, what follows).
fn constructed(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let (tag, content, rest) = element(b)?;
    (tag & CONSTRUCTED != 0).then_some((content, rest))
}

/// The DN and attributes of an entry's content (`objectName`, then `attributes`); None when
/// it is not shaped so. Tag numbers are not checked beyond primitive/constructed, as the tree
/// reader did not check them either.
pub(crate) fn entry_content(b: &[u8]) -> Option<(String, Vec<RawAttr>)> {
    let (dn, rest) = primitive(b)?;
    let dn = String::from_utf8(dn.to_vec()).ok()?;
    let (mut attrs, _) = constructed(rest)?;
    let mut out = Vec::new();
    while !attrs.is_empty() {
        let (attr, rest) = constructed(attrs)?;
        attrs = rest;
        let (name, rest) = primitive(attr)?;
        let name = String::from_utf8(name.to_vec()).ok()?;
        let (mut vals, _) = constructed(rest)?;
        let mut values = Vec::new();
        while !vals.is_empty() {
            let (v, rest) = primitive(vals)?;
            vals = rest;
            values.push(v.to_vec());
        }
        out.push((name, values));
    }
    Some((dn, out))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::snapshot::entry_parts;
    use ldap3::asn1::{PL, StructureTag, TagClass, write};
    use ldap3::{ResultEntry, SearchEntry};

    fn prim(id: u64, v: &[u8]) -> StructureTag {
        StructureTag {
            class: TagClass::Universal,
            id,
            payload: PL::P(v.to_vec()),
        }
    }

    fn cons(class: TagClass, id: u64, v: Vec<StructureTag>) -> StructureTag {
        StructureTag {
            class,
            id,
            payload: PL::C(v),
        }
    }

    /// An entry as the general parser reads it: [APPLICATION 4] { DN, { { type, SET { values } } } }.
    fn tree(dn: &str, attrs: &[(&str, Vec<Vec<u8>>)]) -> StructureTag {
        let attrs = attrs
            .iter()
            .map(|(name, vals)| {
                cons(
                    TagClass::Universal,
                    16,
                    vec![
                        prim(4, name.as_bytes()),
                        cons(
                            TagClass::Universal,
                            17,
                            vals.iter().map(|v| prim(4, v)).collect(),
                        ),
                    ],
                )
            })
            .collect();
        cons(
            TagClass::Application,
            4,
            vec![prim(4, dn.as_bytes()), cons(TagClass::Universal, 16, attrs)],
        )
    }

    /// The same entry as the patched client hands it over: its content, BER-encoded.
    fn raw(t: StructureTag) -> (StructureTag, Vec<u8>) {
        let PL::C(parts) = t.payload else {
            panic!("constructed")
        };
        let mut content = Vec::new();
        for p in parts {
            let mut b = bytes::BytesMut::new();
            write::encode_into(&mut b, p).unwrap();
            content.extend_from_slice(&b);
        }
        let tag = StructureTag {
            class: TagClass::Application,
            id: 4,
            payload: PL::P(content.clone()),
        };
        (tag, content)
    }

    type Case = (String, Vec<(&'static str, Vec<Vec<u8>>)>);

    fn cases() -> Vec<Case> {
        vec![
            (
                "uid=emp00017,ou=people,dc=example,dc=com".into(),
                vec![
                    ("uid", vec![b"emp00017".to_vec()]),
                    ("cn", vec!["Zoë O'Brien".as_bytes().to_vec()]),
                    (
                        "entryUUID",
                        vec![b"5f0c8f4e-0000-4000-8000-000000000017".to_vec()],
                    ),
                ],
            ),
            (
                r"cn=O'Brien\, Jr.\2C (Ops)*,ou=people,dc=example,dc=com".into(),
                vec![
                    // Binary (AD objectGUID), a long value (two-octet length), a huge one
                    // (three octets), several values, and none.
                    ("objectGUID", vec![(0u8..16).map(|i| i * 17).collect()]),
                    ("description", vec![vec![b'x'; 300]]),
                    ("jpegPhoto", vec![vec![0xff; 70_000]]),
                    ("mail", vec![b"a@x.test".to_vec(), b"b@x.test".to_vec()]),
                    ("memberOf", vec![]),
                ],
            ),
            ("".into(), vec![]),
        ]
    }

    #[test]
    fn raw_entries_read_as_their_tag_trees() {
        for (dn, attrs) in cases() {
            let t = tree(&dn, &attrs);
            let (r, _) = raw(t.clone());
            let from_raw = entry_parts(r.clone()).unwrap();
            assert_eq!(Some(from_raw.clone()), entry_parts(t.clone()), "{dn}");
            assert_eq!(from_raw.0, dn);
            assert_eq!(from_raw.1.len(), attrs.len());
            // The client's own reader expands the raw form to the same entry.
            let a = SearchEntry::construct(ResultEntry::new(r));
            let b = SearchEntry::construct(ResultEntry::new(t));
            assert_eq!((a.dn, a.attrs, a.bin_attrs), (b.dn, b.attrs, b.bin_attrs));
        }
    }

    #[test]
    fn a_cut_or_misshapen_entry_is_refused() {
        let (dn, attrs) = cases().remove(0);
        let (_, content) = raw(tree(&dn, &attrs));
        for cut in 0..content.len() {
            assert_eq!(entry_content(&content[..cut]), None, "cut at {cut}");
        }
        // A constructed DN, an indefinite length.
        let mut bad = content.clone();
        bad[0] |= CONSTRUCTED;
        assert_eq!(entry_content(&bad), None);
        let mut bad = content;
        bad[1] = 0x80;
        assert_eq!(entry_content(&bad), None);
    }
}
