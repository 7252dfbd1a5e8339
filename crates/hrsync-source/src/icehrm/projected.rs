//! Reads a `GET /employees` page straight into the fields the mapping needs.
//!
//! A page is `{"data":[{…}, …], "total": N, "nextPage": N}`. Each record is read key by key;
//! keys the mapping does not use are skipped with `IgnoredAny` (no allocation). Anything else
//! (an `error` key, a missing `data`) is refused so the caller's full parser reports it.

use super::Page;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::fmt;

pub(super) fn parse(
    body: &[u8],
    keep: Option<&BTreeSet<String>>,
) -> Result<Page, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let page = PageSeed { keep }.deserialize(&mut de)?;
    de.end()?;
    Ok(page)
}

struct PageSeed<'a> {
    keep: Option<&'a BTreeSet<String>>,
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_> {
    type Value = Page;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Page, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_> {
    type Value = Page;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an IceHrm list page")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Page, A::Error> {
        let mut records = None;
        let mut total = None;
        while let Some(k) = m.next_key::<String>()? {
            match k.as_str() {
                "data" => records = Some(m.next_value_seed(RecordsSeed { keep: self.keep })?),
                "total" => {
                    total = match m.next_value::<Value>()? {
                        Value::Number(n) => n.as_u64(),
                        Value::String(s) => s.parse().ok(),
                        _ => None,
                    }
                }
                "error" => return Err(de::Error::custom("error body")),
                _ => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        let records = records.ok_or_else(|| de::Error::custom("no data"))?;
        Ok(Page { records, total })
    }
}

struct RecordsSeed<'a> {
    keep: Option<&'a BTreeSet<String>>,
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_> {
    type Value = Vec<Map<String, Value>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_> {
    type Value = Vec<Map<String, Value>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of employees")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(s.size_hint().unwrap_or(0));
        while let Some(r) = s.next_element_seed(RecordSeed { keep: self.keep })? {
            out.push(r);
        }
        Ok(out)
    }
}

struct RecordSeed<'a> {
    keep: Option<&'a BTreeSet<String>>,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = Map<String, Value>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = Map<String, Value>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an employee object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
        // Sized for the kept fields (and `id`): a page holds 1,000s of records.
        let mut out = Map::with_capacity(self.keep.map_or(0, |k| k.len() + 1));
        // Keys are borrowed from the page where they have no escapes: most of a record's keys
        // are skipped, so allocating each one would cost more than the skipping.
        while let Some(Key(k)) = m.next_key::<Key<'de>>()? {
            let wanted = k == "id" || self.keep.is_none_or(|keep| keep.contains(k.as_ref()));
            if wanted {
                let v: Value = m.next_value()?;
                out.insert(k.into_owned(), v);
            } else {
                m.next_value::<IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

/// A record's key, borrowed from the page when it can be.
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}
