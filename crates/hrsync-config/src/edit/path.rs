//! Where an edit applies: a path of keys and array elements, written as text
//! (`integration[icehrm].endpoint[get_employees].page_size`) or built in code.
//!
//! - `key`: a key of a table (a bare TOML key: letters, digits, `_`, `-`), or `"any key"` in
//!   JSON string quotes;
//! - `[name]`: the element of an array (of tables) whose `name` key is this (`[[mapping]]
//!   name = "users"` → `mapping[users]`); everything up to `]` is the name, or `["a ] name"]`
//!   in JSON string quotes;
//! - `[#2]`: the element at this position (from 0), for arrays whose elements have no name
//!   (`[[mapping.group]]`, `match_on`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One step of a [`KeyPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A key of a table.
    Key(String),
    /// The element of an array whose `name` is this.
    Name(String),
    /// The element at this position.
    Index(usize),
}

/// A path into the configuration. Serialized as its text form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyPath(Vec<Segment>);

/// Why a path's text is not a path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad path {text:?}: {reason}")]
pub struct PathSyntaxError {
    pub text: String,
    pub reason: &'static str,
}

impl KeyPath {
    /// A path of one key.
    pub fn key(key: impl Into<String>) -> KeyPath {
        KeyPath(vec![Segment::Key(key.into())])
    }

    /// This path, then a key.
    pub fn then_key(mut self, key: impl Into<String>) -> KeyPath {
        self.0.push(Segment::Key(key.into()));
        self
    }

    /// This path, then the element named `name`.
    pub fn then_name(mut self, name: impl Into<String>) -> KeyPath {
        self.0.push(Segment::Name(name.into()));
        self
    }

    /// This path, then the element at `index`.
    pub fn then_index(mut self, index: usize) -> KeyPath {
        self.0.push(Segment::Index(index));
        self
    }

    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// The first `n` segments, as a path (for messages).
    pub(crate) fn prefix(&self, n: usize) -> KeyPath {
        KeyPath(self.0[..n.min(self.0.len())].to_vec())
    }
}

fn is_bare_key(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn needs_quoted_name(s: &str) -> bool {
    s.is_empty()
        || s.starts_with('#')
        || s.starts_with('"')
        || s.contains(']')
        || s.trim() != s
        || s.chars().any(char::is_control)
}

fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Segment::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if is_bare_key(k) {
                        f.write_str(k)?;
                    } else {
                        f.write_str(&quoted(k))?;
                    }
                }
                Segment::Name(n) if needs_quoted_name(n) => write!(f, "[{}]", quoted(n))?,
                Segment::Name(n) => write!(f, "[{n}]")?,
                Segment::Index(i) => write!(f, "[#{i}]")?,
            }
        }
        Ok(())
    }
}

impl From<KeyPath> for String {
    fn from(p: KeyPath) -> String {
        p.to_string()
    }
}

impl TryFrom<String> for KeyPath {
    type Error = PathSyntaxError;
    fn try_from(s: String) -> Result<KeyPath, PathSyntaxError> {
        s.parse()
    }
}

/// A JSON string starting at `s[0] == '"'`: its value and its length in bytes.
fn json_string(s: &str) -> Option<(String, usize)> {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => {
                let end = i + 1;
                return serde_json::from_str::<String>(&s[..end])
                    .ok()
                    .map(|v| (v, end));
            }
            _ => {}
        }
    }
    None
}

impl FromStr for KeyPath {
    type Err = PathSyntaxError;

    fn from_str(text: &str) -> Result<KeyPath, PathSyntaxError> {
        let err = |reason| PathSyntaxError {
            text: text.to_string(),
            reason,
        };
        let mut out = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('[') {
                if out.is_empty() {
                    return Err(err("a path starts with a key"));
                }
                if let Some(digits) = after.strip_prefix('#') {
                    let end = digits.find(']').ok_or(err("`[` without `]`"))?;
                    let index = digits[..end]
                        .parse::<usize>()
                        .map_err(|_| err("`[#…]` needs a position (0, 1, …)"))?;
                    out.push(Segment::Index(index));
                    rest = &digits[end + 1..];
                } else if after.starts_with('"') {
                    let (name, len) = json_string(after).ok_or(err("bad quoted name"))?;
                    rest = after[len..]
                        .strip_prefix(']')
                        .ok_or(err("a quoted name must be followed by `]`"))?;
                    out.push(Segment::Name(name));
                } else {
                    let end = after.find(']').ok_or(err("`[` without `]`"))?;
                    let name = &after[..end];
                    if name.is_empty() || name.trim() != name {
                        return Err(err(
                            "an element's name is empty or has spaces around it (quote it)",
                        ));
                    }
                    out.push(Segment::Name(name.to_string()));
                    rest = &after[end + 1..];
                }
                continue;
            }
            if !out.is_empty() {
                rest = rest
                    .strip_prefix('.')
                    .ok_or(err("expected `.` or `[` after a key or element"))?;
            }
            if rest.starts_with('"') {
                let (key, len) = json_string(rest).ok_or(err("bad quoted key"))?;
                out.push(Segment::Key(key));
                rest = &rest[len..];
            } else {
                let end = rest.find(['.', '[']).unwrap_or(rest.len());
                let key = &rest[..end];
                if !is_bare_key(key) {
                    return Err(err(
                        "a key is letters, digits, `_` and `-` (quote any other key)",
                    ));
                }
                out.push(Segment::Key(key.to_string()));
                rest = &rest[end..];
            }
        }
        if out.is_empty() {
            return Err(err("empty path"));
        }
        Ok(KeyPath(out))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn paths_parse_and_print_back() {
        let p: KeyPath = "integration[icehrm].endpoint[get_employees].page_size"
            .parse()
            .unwrap();
        assert_eq!(
            p,
            KeyPath::key("integration")
                .then_name("icehrm")
                .then_key("endpoint")
                .then_name("get_employees")
                .then_key("page_size")
        );
        for text in [
            "mapping[users].description",
            "mapping[x].group[#1].dn",
            "test[no last name: the record is skipped, not half-made].expect",
            r#"test["a ] b"].record."odd key.x""#,
            "lifecycle.thresholds.disable.count",
            r##"x["#1"]"##,
        ] {
            let p: KeyPath = text.parse().unwrap();
            assert_eq!(p.to_string(), text);
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<KeyPath>(&json).unwrap(), p);
        }
        for bad in [
            "", "[x]", "a.", "a..b", "a[x", "a[#x]", "a[]", "a b", "a[ x]", "a[x]b",
        ] {
            assert!(bad.parse::<KeyPath>().is_err(), "{bad:?}");
        }
    }
}
