//! JSON output byte-compatible with PHP's `json_encode($x, JSON_PRETTY_PRINT)`,
//! which is what IceHrm's `RestEndPoint::printResponse` emits: four-space
//! indentation, `"key": value`, `/` escaped as `\/`, every non-ASCII character
//! escaped as `\uXXXX` (lower-case hex, UTF-16 surrogate pairs), no trailing
//! newline.

use serde_json::Value;

/// Encode `value` the way PHP's `json_encode(.., JSON_PRETTY_PRINT)` does.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_value(value, 0, &mut out);
    out
}

fn indent(level: usize, out: &mut Vec<u8>) {
    for _ in 0..level {
        out.extend_from_slice(b"    ");
    }
}

fn write_value(value: &Value, level: usize, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            if items.is_empty() {
                out.extend_from_slice(b"[]");
                return;
            }
            out.extend_from_slice(b"[\n");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b",\n");
                }
                indent(level + 1, out);
                write_value(item, level + 1, out);
            }
            out.push(b'\n');
            indent(level, out);
            out.push(b']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.extend_from_slice(b"{}");
                return;
            }
            out.extend_from_slice(b"{\n");
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b",\n");
                }
                indent(level + 1, out);
                write_string(k, out);
                out.extend_from_slice(b": ");
                write_value(v, level + 1, out);
            }
            out.push(b'\n');
            indent(level, out);
            out.push(b'}');
        }
    }
}

fn push_u_escape(unit: u16, out: &mut Vec<u8>) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\u");
    for shift in [12u16, 8, 4, 0] {
        out.push(DIGITS[((unit >> shift) & 0xf) as usize]);
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '/' => out.extend_from_slice(b"\\/"),
            '\u{08}' => out.extend_from_slice(b"\\b"),
            '\u{0c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => push_u_escape(c as u16, out),
            c if c.is_ascii() => out.push(c as u8),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    push_u_escape(*unit, out);
                }
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::encode;
    use serde_json::json;

    #[test]
    fn matches_php_pretty_print() {
        let v = json!({"error": [[{"code": 403, "message": "a/b"}]], "e": [], "o": {}});
        let expected = "{\n    \"error\": [\n        [\n            {\n                \"code\": 403,\n                \"message\": \"a\\/b\"\n            }\n        ]\n    ],\n    \"e\": [],\n    \"o\": {}\n}";
        assert_eq!(String::from_utf8_lossy(&encode(&v)), expected);
    }

    #[test]
    fn escapes_unicode_like_php() {
        let v = json!("José Nguyễn 😀\n\u{1}");
        assert_eq!(
            String::from_utf8_lossy(&encode(&v)),
            "\"Jos\\u00e9 Nguy\\u1ec5n \\ud83d\\ude00\\n\\u0001\""
        );
    }
}
