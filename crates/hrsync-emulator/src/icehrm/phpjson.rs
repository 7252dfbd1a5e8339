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

/// Four spaces per nesting level.
pub(crate) fn indent(level: usize, out: &mut Vec<u8>) {
    const SPACES: &[u8; 64] = &[b' '; 64];
    let mut n = level * 4;
    while n > 0 {
        let chunk = n.min(SPACES.len());
        out.extend_from_slice(&SPACES[..chunk]);
        n -= chunk;
    }
}

/// An integer as `json_encode` writes it (plain decimal).
pub(crate) fn write_i64(n: i64, out: &mut Vec<u8>) {
    if n < 0 {
        out.push(b'-');
    }
    write_u64(n.unsigned_abs(), out);
}

/// An unsigned integer in plain decimal.
pub(crate) fn write_u64(mut n: u64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 20];
    let mut pos = buf.len();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[pos..]);
}

/// Streaming writer of one pretty-printed object at nesting `level`, byte for
/// byte what [`encode`] writes for an object value at that level: call
/// [`Obj::key`] before writing each value (the value itself is written at
/// `level + 1`), then [`Obj::end`].
pub(crate) struct Obj {
    level: usize,
    empty: bool,
}

impl Obj {
    pub(crate) fn begin(level: usize, out: &mut Vec<u8>) -> Obj {
        out.push(b'{');
        Obj { level, empty: true }
    }

    /// Separator, indentation and `"key": `.
    pub(crate) fn key(&mut self, key: &str, out: &mut Vec<u8>) {
        if self.empty {
            out.push(b'\n');
            self.empty = false;
        } else {
            out.extend_from_slice(b",\n");
        }
        indent(self.level + 1, out);
        write_string(key, out);
        out.extend_from_slice(b": ");
    }

    pub(crate) fn end(self, out: &mut Vec<u8>) {
        if !self.empty {
            out.push(b'\n');
            indent(self.level, out);
        }
        out.push(b'}');
    }
}

/// Streaming writer of one pretty-printed array at nesting `level` (see [`Obj`]).
pub(crate) struct Arr {
    level: usize,
    empty: bool,
}

impl Arr {
    pub(crate) fn begin(level: usize, out: &mut Vec<u8>) -> Arr {
        out.push(b'[');
        Arr { level, empty: true }
    }

    /// Separator and indentation before the next item (written at `level + 1`).
    pub(crate) fn item(&mut self, out: &mut Vec<u8>) {
        if self.empty {
            out.push(b'\n');
            self.empty = false;
        } else {
            out.extend_from_slice(b",\n");
        }
        indent(self.level + 1, out);
    }

    pub(crate) fn end(self, out: &mut Vec<u8>) {
        if !self.empty {
            out.push(b'\n');
            indent(self.level, out);
        }
        out.push(b']');
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

/// Bytes [`write_string`] does not copy as they are: control characters,
/// `"`, `\\`, `/` and every byte of a non-ASCII character.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = b < 0x20
            || b >= 0x80
            || b == b'"' as usize
            || b == b'\\' as usize
            || b == b'/' as usize;
        b += 1;
    }
    table
};

/// Eight bytes at `i` as one little-endian word.
fn load_u64(bytes: &[u8], i: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[i..i + 8]);
    u64::from_le_bytes(word)
}

/// Whether none of the eight bytes of `x` needs escaping (SWAR, see
/// "Bit Twiddling Hacks": `hasless`/`haszero`, exact for "any byte").
fn plain_chunk(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let non_ascii = x & HIGH != 0;
    let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH != 0;
    !(non_ascii
        || control
        || has_zero(x ^ (ONES * u64::from(b'"')))
        || has_zero(x ^ (ONES * u64::from(b'\\')))
        || has_zero(x ^ (ONES * u64::from(b'/'))))
}

/// A JSON string the PHP way (`\/`, non-ASCII as `\uXXXX`).
pub(crate) fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let len = bytes.len();
    let mut start = 0;
    let mut i = 0;
    loop {
        // Skip bytes that are copied as they are: eight at a time, then one
        // at a time up to the byte to escape (within the chunk that failed).
        while i + 8 <= len && plain_chunk(load_u64(bytes, i)) {
            i += 8;
        }
        while i < len && !NEEDS_ESCAPE[usize::from(bytes[i])] {
            i += 1;
        }
        if i >= len {
            break;
        }
        out.extend_from_slice(&bytes[start..i]);
        let b = bytes[i];
        if b < 0x80 {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'/' => out.extend_from_slice(b"\\/"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                _ => push_u_escape(u16::from(b), out),
            }
            i += 1;
        } else {
            // `i` is on a char boundary: only whole ASCII bytes and whole chars are consumed.
            let c = s[i..].chars().next().unwrap_or('\u{fffd}');
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                push_u_escape(*unit, out);
            }
            i += c.len_utf8();
        }
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
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

#[cfg(test)]
mod stream_tests {
    use super::*;
    use serde_json::json;

    /// The straightforward char-by-char escaper `write_string` replaced.
    fn reference_string(s: &str) -> Vec<u8> {
        let mut out = vec![b'"'];
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
                c if (c as u32) < 0x20 => push_u_escape(c as u16, &mut out),
                c if c.is_ascii() => out.push(c as u8),
                c => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        push_u_escape(*unit, &mut out);
                    }
                }
            }
        }
        out.push(b'"');
        out
    }

    #[test]
    fn string_escaping_matches_the_char_by_char_reference() {
        let mut all_ascii = String::new();
        for b in 0u8..0x80 {
            all_ascii.push(char::from(b));
        }
        for s in [
            "",
            "plain",
            &all_ascii,
            "José Nguyễn 😀\n\u{1}",
            "é",
            "a/b\\c\"d",
            "\u{7f}\u{80}\u{ffff}\u{10000}\u{10ffff}x",
            "😀😀/é",
            "a plain ascii string longer than eight bytes/with a slash",
            "0123456\u{1f}89abcdef\"0123456789abcdef\\x",
        ] {
            let mut out = Vec::new();
            write_string(s, &mut out);
            assert_eq!(out, reference_string(s), "{s:?}");
        }
    }

    #[test]
    fn every_character_at_every_chunk_offset_matches_the_reference() {
        let specials = [
            '\u{0}', '\u{8}', '\u{1f}', ' ', '"', '\\', '/', '\u{7f}', 'é', '😀',
        ];
        let mut chars: Vec<char> = (0u8..0x80).map(char::from).collect();
        chars.extend(specials);
        // Fillers next to the special byte values, so borrows in the word
        // arithmetic cannot hide or invent a match.
        let fillers = ['x', ' ', '!', '#', '.', '0', '[', ']', '~'];
        for ch in chars {
            for filler in fillers {
                for pos in 0..18 {
                    for len in [pos + 1, pos + 9, 24] {
                        let s: String = (0..len)
                            .map(|k| if k == pos { ch } else { filler })
                            .collect();
                        let mut out = Vec::new();
                        write_string(&s, &mut out);
                        assert_eq!(out, reference_string(&s), "{s:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn integers_match_serde_json() {
        for n in [0, 1, -1, 9, 10, 12345, -98765, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            write_i64(n, &mut out);
            assert_eq!(out, encode(&json!(n)));
        }
        let mut out = Vec::new();
        write_u64(u64::MAX, &mut out);
        assert_eq!(out, encode(&json!(u64::MAX)));
    }

    #[test]
    fn streaming_writers_match_encode() {
        for level in [0, 1, 2, 5, 17] {
            let mut out = Vec::new();
            let mut obj = Obj::begin(level, &mut out);
            obj.key("a", &mut out);
            let mut arr = Arr::begin(level + 1, &mut out);
            arr.item(&mut out);
            out.extend_from_slice(b"1");
            arr.item(&mut out);
            Obj::begin(level + 2, &mut out).end(&mut out);
            arr.end(&mut out);
            obj.key("b/", &mut out);
            Arr::begin(level + 1, &mut out).end(&mut out);
            obj.end(&mut out);

            let mut expected = Vec::new();
            write_value(&json!({"a": [1, {}], "b/": []}), level, &mut expected);
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&expected)
            );
        }
    }
}
