//! HR records as the template engine sees them. serde_json keeps numbers exactly as the HR
//! system sent them (feature `arbitrary_precision`), which minijinja would otherwise see as
//! serde_json's private number struct. Here integers become exact minijinja integers (i64,
//! u64, i128, u128; an integer longer than that stays its literal text, so it still renders
//! as sent), other numbers f64.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Number, Value};

/// A record's fields, serialized for minijinja.
pub(crate) struct Fields<'a>(pub &'a Map<String, Value>);

struct Json<'a>(&'a Value);

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, &Json(v))?;
        }
        m.end()
    }
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Number(n) => number(n, s),
            Value::String(v) => s.serialize_str(v),
            Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(&Json(v))?;
                }
                seq.end()
            }
            Value::Object(o) => Fields(o).serialize(s),
        }
    }
}

fn number<S: Serializer>(n: &Number, s: S) -> Result<S::Ok, S::Error> {
    if let Some(i) = n.as_i64() {
        s.serialize_i64(i)
    } else if let Some(u) = n.as_u64() {
        s.serialize_u64(u)
    } else if let Some(i) = n.as_i128() {
        s.serialize_i128(i)
    } else if let Some(u) = n.as_u128() {
        s.serialize_u128(u)
    } else if let Some(text) = hrsync_model::record::integer_text(n) {
        // Longer than 128 bits: its exact text (it renders as sent).
        s.serialize_str(&text)
    } else {
        s.serialize_f64(n.as_f64().unwrap_or(f64::NAN))
    }
}
