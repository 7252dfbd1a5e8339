//! Small readers the screens share: a posted form's fields (repeated names kept in order) and
//! an API list page's items.

use serde_json::Value;

/// A posted form: every field in order (repeated names kept).
pub type Fields = Vec<(String, String)>;

/// The first value of a field as posted ("" when absent).
pub fn field<'a>(f: &'a Fields, k: &str) -> &'a str {
    f.iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

/// Every value of a repeated field, in order.
pub fn all<'a>(f: &'a Fields, k: &str) -> Vec<&'a str> {
    f.iter()
        .filter(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The items of an API list page (`{"items": […], "next_cursor": …}`).
pub fn items(v: &Value) -> Vec<Value> {
    v.get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// A string member of a JSON object ("" when absent or not a string).
pub fn text<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}
