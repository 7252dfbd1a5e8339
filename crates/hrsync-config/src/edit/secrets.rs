//! Secrets stay out of the TOML: the config references them (`{ env = "VAR" }` or
//! `{ file = "/etc/hrsync/secret" }`), an edit that would write one as a literal is refused,
//! a value sent to the API goes to a 0600 file that the config then references, and texts
//! kept in the history have any literal secret (a hand edit) redacted.

use super::doc::{Edit, parse};
use super::path::{KeyPath, Segment};
use super::{EditError, io_error};
use serde_json::Value as Json;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use toml_edit::{Item, Table, Value};

/// What a literal secret is replaced with in texts kept in the history.
pub const REDACTED: &str = "[redacted]";

/// Keys that hold secrets in hrsync's configuration (every `SecretRef` of the config:
/// `token`, `subscription_key`, `api_key`, `client_secret`, `refresh_token`,
/// `bind_password`, `password`, `secret`) and the same words as suffixes, so that a new
/// secret key is covered by its name. Case-insensitive. `password_hash` (a break-glass
/// argon2 hash), `token_url` or `api_key_header` are not secrets.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    const EXACT: &[&str] = &[
        "password",
        "passphrase",
        "secret",
        "token",
        "api_key",
        "apikey",
        "private_key",
        "subscription_key",
    ];
    const SUFFIXES: &[&str] = &[
        "_password",
        "_passphrase",
        "_secret",
        "_token",
        "_api_key",
        "_private_key",
        "_subscription_key",
    ];
    EXACT.contains(&k.as_str()) || SUFFIXES.iter().any(|s| k.ends_with(s))
}

/// Whether a JSON value is a secret reference: `{"env": "VAR"}` or `{"file": "path"}`.
fn is_reference(v: &Json) -> bool {
    match v {
        Json::Object(o) if o.len() == 1 => o
            .iter()
            .all(|(k, v)| (k == "env" || k == "file") && v.is_string()),
        _ => false,
    }
}

/// The reference to a secret file, as the value of a secret key: `{"file": "<path>"}`.
pub fn file_reference(path: &std::path::Path) -> Json {
    serde_json::json!({ "file": path.display().to_string() })
}

/// Refuses an edit that would write a secret-looking key with a literal value (anything but
/// a `{ env }` or `{ file }` reference), in its path or anywhere in its value. The error
/// names the key's path, never the value.
pub fn check_edit(edit: &Edit) -> Result<(), EditError> {
    let (path, value) = match edit {
        Edit::Remove { .. } => return Ok(()),
        Edit::Set { path, value } => (path, value),
        Edit::Append { path, value } => (path, value),
    };
    let segs = path.segments();
    let refused = |n: usize| EditError::LiteralSecret {
        path: path.prefix(n).to_string(),
    };
    for (i, seg) in segs.iter().enumerate() {
        let Segment::Key(k) = seg else { continue };
        if !is_secret_key(k) {
            continue;
        }
        let rest = &segs[i + 1..];
        let ok = match (edit, rest) {
            (Edit::Set { .. }, []) => is_reference(value),
            (Edit::Set { .. }, [Segment::Key(r)]) => {
                (r == "env" || r == "file") && value.is_string()
            }
            _ => false,
        };
        if !ok {
            return Err(refused(i + 1));
        }
        return Ok(());
    }
    check_value(value, path)
}

fn check_value(value: &Json, at: &KeyPath) -> Result<(), EditError> {
    match value {
        Json::Object(o) => {
            for (k, v) in o {
                let here = at.clone().then_key(k.clone());
                if is_secret_key(k) {
                    if !is_reference(v) {
                        return Err(EditError::LiteralSecret {
                            path: here.to_string(),
                        });
                    }
                } else {
                    check_value(v, &here)?;
                }
            }
            Ok(())
        }
        Json::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                check_value(v, &at.clone().then_index(i))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

// ---- redaction of texts kept in the history --------------------------------------------------

fn value_is_reference(v: &Value) -> bool {
    match v {
        Value::InlineTable(t) => {
            t.len() == 1
                && t.iter()
                    .all(|(k, v)| (k == "env" || k == "file") && v.is_str())
        }
        _ => false,
    }
}

fn item_is_reference(item: &Item) -> bool {
    match item {
        Item::Value(v) => value_is_reference(v),
        Item::Table(t) => {
            t.len() == 1
                && t.iter().all(|(k, v)| {
                    (k == "env" || k == "file") && v.as_value().is_some_and(Value::is_str)
                })
        }
        _ => false,
    }
}

fn redacted_value(old: &Value) -> Value {
    let mut v = Value::from(REDACTED);
    *v.decor_mut() = old.decor().clone();
    v
}

fn redact_value(v: &mut Value) -> bool {
    let mut any = false;
    match v {
        Value::InlineTable(t) => {
            for (k, x) in t.iter_mut() {
                if is_secret_key(k.get()) && !value_is_reference(x) {
                    *x = redacted_value(x);
                    any = true;
                } else {
                    any |= redact_value(x);
                }
            }
        }
        Value::Array(a) => {
            for x in a.iter_mut() {
                any |= redact_value(x);
            }
        }
        _ => {}
    }
    any
}

fn redact_table(t: &mut Table) -> bool {
    let mut any = false;
    for (k, item) in t.iter_mut() {
        if is_secret_key(k.get()) && !item_is_reference(item) {
            match item {
                Item::Value(v) => *v = redacted_value(v),
                other => *other = Item::Value(Value::from(REDACTED)),
            }
            any = true;
            continue;
        }
        any |= match item {
            Item::Table(t) => redact_table(t),
            Item::ArrayOfTables(a) => {
                let mut any = false;
                for t in a.iter_mut() {
                    any |= redact_table(t);
                }
                any
            }
            Item::Value(v) => redact_value(v),
            Item::None => false,
        };
    }
    any
}

/// The text with every literal secret (a secret-looking key whose value is not a reference)
/// replaced by [`REDACTED`]; the same text when there is none. A text that is not TOML is
/// redacted line by line (`key = …` lines whose key is secret-looking).
pub fn redact(text: &str) -> String {
    match parse(text) {
        Ok(mut doc) => {
            if redact_table(doc.as_table_mut()) {
                doc.to_string()
            } else {
                text.to_string()
            }
        }
        Err(_) => redact_lines(text),
    }
}

fn redact_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let secret = line.split_once('=').and_then(|(key, rest)| {
            let last = key
                .trim()
                .rsplit('.')
                .next()?
                .trim()
                .trim_matches(['"', '\'']);
            let rest = rest.trim_start();
            (is_secret_key(last) && !rest.starts_with('{')).then_some(key)
        });
        match secret {
            Some(key) => {
                out.push_str(key);
                out.push_str("= \"");
                out.push_str(REDACTED);
                out.push('"');
                if line.ends_with('\n') {
                    out.push('\n');
                }
            }
            None => out.push_str(line),
        }
    }
    out
}

// ---- secret files ------------------------------------------------------------------------------

fn valid_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Writes a secret value to `dir/name` with mode 0600, atomically (a 0600 temp file in `dir`,
/// fsync, rename over the old file, fsync of `dir`), creating `dir` (0700) if needed. Returns
/// the file's path, for a `{ file = "…" }` reference ([`file_reference`]). `name` is letters,
/// digits, `.`, `_`, `-` and does not start with `.`.
pub fn write_secret_file(
    dir: &std::path::Path,
    name: &str,
    value: &str,
) -> Result<std::path::PathBuf, EditError> {
    if !valid_file_name(name) {
        return Err(EditError::BadSecretName {
            name: name.to_string(),
        });
    }
    if !dir.is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io_error(dir, "cannot create the secrets directory", e))?;
    }
    let target = dir.join(name);
    let (tmp, mut file) = super::fsio::create_temp(dir, name, 0o600)?;
    let written = (|| {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(value.as_bytes())?;
        file.sync_all()
    })();
    drop(file);
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, &target)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error(&target, "cannot write the secret file", e));
    }
    super::fsio::sync_dir(dir)?;
    Ok(target)
}
