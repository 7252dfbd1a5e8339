//! The configuration as JSON for an API to show: the elements of an array of tables
//! (`[[mapping]]`, `[[integration]]`…) with every secret-looking key shown only as whether it
//! is set (`{"set": true}`), plus its reference when it is one (`{"set": true, "env": "VAR"}`:
//! a variable's or file's name is not the secret). A literal value is never shown.

use super::EditError;
use super::doc::parse;
use super::secrets::is_secret_key;
use serde_json::{Map, Value as Json};
use toml_edit::{Item, Table, Value};

/// The elements of the top-level array of tables `key` (`"mapping"` for `[[mapping]]`), in
/// file order, as JSON with secrets masked ([`mask`]). None of them: an empty list.
pub fn elements(text: &str, key: &str) -> Result<Vec<Json>, EditError> {
    let doc = parse(text)?;
    Ok(match doc.as_table().get(key) {
        Some(Item::ArrayOfTables(a)) => a.iter().map(|t| mask(table_json(t))).collect(),
        Some(Item::Value(Value::Array(a))) => a.iter().map(|v| mask(value_json(v))).collect(),
        _ => Vec::new(),
    })
}

fn table_json(t: &Table) -> Json {
    let mut m = Map::new();
    for (k, item) in t.iter() {
        if let Some(v) = item_json(item) {
            m.insert(k.to_string(), v);
        }
    }
    Json::Object(m)
}

fn item_json(item: &Item) -> Option<Json> {
    match item {
        Item::None => None,
        Item::Value(v) => Some(value_json(v)),
        Item::Table(t) => Some(table_json(t)),
        Item::ArrayOfTables(a) => Some(Json::Array(a.iter().map(table_json).collect())),
    }
}

fn value_json(v: &Value) -> Json {
    match v {
        Value::String(s) => Json::String(s.value().clone()),
        Value::Integer(i) => Json::from(*i.value()),
        Value::Float(f) => serde_json::Number::from_f64(*f.value())
            .map(Json::Number)
            .unwrap_or(Json::Null),
        Value::Boolean(b) => Json::Bool(*b.value()),
        Value::Datetime(d) => Json::String(d.value().to_string()),
        Value::Array(a) => Json::Array(a.iter().map(value_json).collect()),
        Value::InlineTable(t) => Json::Object(
            t.iter()
                .map(|(k, v)| (k.to_string(), value_json(v)))
                .collect(),
        ),
    }
}

/// A secret's value as shown: `{"set": false}` for an empty string, the reference with
/// `"set": true` for `{ env }`/`{ file }`, `{"set": true}` for anything else.
fn masked_secret(v: &Json) -> Json {
    match v {
        Json::String(s) if s.is_empty() => serde_json::json!({ "set": false }),
        Json::Object(o)
            if o.len() == 1
                && o.iter()
                    .all(|(k, v)| (k == "env" || k == "file") && v.is_string()) =>
        {
            let mut m = o.clone();
            m.insert("set".into(), Json::Bool(true));
            Json::Object(m)
        }
        _ => serde_json::json!({ "set": true }),
    }
}

/// The JSON with the value of every secret-looking key replaced by what [`elements`] shows.
pub fn mask(v: Json) -> Json {
    match v {
        Json::Object(o) => Json::Object(
            o.into_iter()
                .map(|(k, v)| {
                    let v = if is_secret_key(&k) {
                        masked_secret(&v)
                    } else {
                        mask(v)
                    };
                    (k, v)
                })
                .collect(),
        ),
        Json::Array(a) => Json::Array(a.into_iter().map(mask).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn secrets_show_only_whether_they_are_set() {
        let text = r#"
[[integration]]
name = "a"
token = { env = "A_TOKEN" }
page_size = 100
[[integration.endpoint]]
name = "e"
headers = { "X-Api-Key" = "x" }
api_key = "literal-value"
client_secret = ""

[[integration]]
name = "b"
password = "hunter2"
"#;
        let all = elements(text, "integration").unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(
            all[0]["token"],
            serde_json::json!({"set": true, "env": "A_TOKEN"})
        );
        assert_eq!(all[0]["page_size"], 100);
        let ep = &all[0]["endpoint"][0];
        assert_eq!(ep["name"], "e");
        assert_eq!(ep["api_key"], serde_json::json!({"set": true}));
        assert_eq!(ep["client_secret"], serde_json::json!({"set": false}));
        assert_eq!(all[1]["password"], serde_json::json!({"set": true}));
        let shown = serde_json::to_string(&all).unwrap();
        assert!(!shown.contains("hunter2") && !shown.contains("literal-value"));
        assert!(elements(text, "mapping").unwrap().is_empty());
    }
}
