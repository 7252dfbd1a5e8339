//! What an edit is ([`Edit`], as data an HTTP API receives) and how a configuration's text is
//! read for editing: the bottom of the edit module, used by the operations, the secret checks
//! and the saving.

use super::EditError;
use super::path::KeyPath;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use toml_edit::DocumentMut;

/// One change to the configuration, as an HTTP API receives it:
/// `{"op": "set", "path": "mapping[users].description", "value": "All staff"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Edit {
    /// Sets the value at `path`, creating missing tables on the way. A JSON object set on an
    /// existing table is merged into it key by key (keys it lacks are removed, kept keys keep
    /// their comments); an array on an existing array element by element.
    Set { path: KeyPath, value: Json },
    /// Removes a key (`mapping[users].ou`) or an element of an array or array of tables
    /// (`mapping[users]`, `mapping[users].group[#0]`).
    Remove { path: KeyPath },
    /// Appends an element to the array or array of tables at `path` (created if missing): a
    /// JSON object becomes a new `[[…]]` table.
    Append { path: KeyPath, value: Json },
}

impl Edit {
    pub fn path(&self) -> &KeyPath {
        match self {
            Edit::Set { path, .. } | Edit::Remove { path } | Edit::Append { path, .. } => path,
        }
    }
}

/// Parses a configuration's text for editing. The error names the line, never its text (a
/// hand-edited file may hold a secret on a broken line).
pub(crate) fn parse(text: &str) -> Result<DocumentMut, EditError> {
    text.parse::<DocumentMut>().map_err(|e| {
        let line = e.span().map(|s| {
            text.as_bytes()[..s.start.min(text.len())]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1
        });
        EditError::Parse {
            line,
            message: e.message().trim().to_string(),
        }
    })
}
