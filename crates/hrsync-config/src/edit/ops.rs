//! Edits as data, applied with `toml_edit`: only the edited spot changes; comments, blank
//! lines, key order and layout elsewhere stay byte for byte.

use super::EditError;
use super::doc::{Edit, parse};
use super::path::{KeyPath, Segment};
use super::secrets;
use serde_json::Value as Json;
use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, Value};

/// Applies the edits in order to the text. Refuses (nothing applied) an edit that would put a
/// literal secret into the file (see [`secrets::check_edit`]).
pub fn apply(text: &str, edits: &[Edit]) -> Result<String, EditError> {
    for e in edits {
        secrets::check_edit(e)?;
    }
    let mut doc = parse(text)?;
    for e in edits {
        apply_one(&mut doc, e)?;
    }
    let out = doc.to_string();
    // toml_edit writes what it holds; an edit that would make a document TOML refuses (a key
    // defined twice through dotted keys) is caught here rather than by the validation.
    if let Err(e) = parse(&out) {
        return Err(EditError::BadValue {
            path: edits
                .last()
                .map(|e| e.path().to_string())
                .unwrap_or_default(),
            reason: format!("the edited file would not be valid TOML ({e})"),
        });
    }
    Ok(out)
}

fn apply_one(doc: &mut DocumentMut, edit: &Edit) -> Result<(), EditError> {
    let root = doc.as_table_mut();
    match edit {
        Edit::Set { path, value } => set(root, path, value),
        Edit::Remove { path } => remove(root, path),
        Edit::Append { path, value } => append(root, path, value),
    }
}

/// Where a walk along a path stands.
enum Node<'a> {
    /// The value of a key of a standard table.
    Item(&'a mut Item),
    /// A standard table: the root, or an element of an array of tables.
    Table(&'a mut Table),
    /// A value inside an inline table or an array.
    Value(&'a mut Value),
}

fn kind_of_item(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
        Item::Value(v) => kind_of_value(v),
    }
}

fn kind_of_value(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::InlineTable(_) => "an inline table",
    }
}

impl Node<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Node::Item(i) => kind_of_item(i),
            Node::Table(_) => "a table",
            Node::Value(v) => kind_of_value(v),
        }
    }
}

/// The element of an array of tables selected by a name or a position.
fn aot_index(a: &ArrayOfTables, seg: &Segment, at: &KeyPath) -> Result<usize, EditError> {
    select(
        a.len(),
        a.iter()
            .map(|t| t.get("name").and_then(|n| n.as_str()).map(str::to_string)),
        seg,
        at,
    )
}

fn array_index(a: &Array, seg: &Segment, at: &KeyPath) -> Result<usize, EditError> {
    select(
        a.len(),
        a.iter().map(|v| {
            v.as_inline_table()
                .and_then(|t| t.get("name"))
                .and_then(|n| n.as_str())
                .map(str::to_string)
        }),
        seg,
        at,
    )
}

fn select(
    len: usize,
    names: impl Iterator<Item = Option<String>>,
    seg: &Segment,
    at: &KeyPath,
) -> Result<usize, EditError> {
    match seg {
        Segment::Index(i) if *i < len => Ok(*i),
        Segment::Index(_) => Err(EditError::NotFound {
            path: at.to_string(),
        }),
        Segment::Name(want) => {
            let found: Vec<usize> = names
                .enumerate()
                .filter(|(_, n)| n.as_deref() == Some(want.as_str()))
                .map(|(i, _)| i)
                .collect();
            match found.as_slice() {
                [i] => Ok(*i),
                [] => Err(EditError::NotFound {
                    path: at.to_string(),
                }),
                many => Err(EditError::Ambiguous {
                    path: at.to_string(),
                    count: many.len(),
                }),
            }
        }
        Segment::Key(_) => Err(EditError::BadPath {
            path: at.to_string(),
            reason: "not an element".into(),
        }),
    }
}

/// One step of a walk. With `create`, a missing key followed by another key becomes a new
/// table (standard under a standard table, inline under an inline one).
fn step<'a>(
    node: Node<'a>,
    seg: &Segment,
    next: Option<&Segment>,
    create: bool,
    path: &KeyPath,
    depth: usize,
) -> Result<Node<'a>, EditError> {
    let at = path.prefix(depth + 1);
    let wrong = |node: &Node<'_>, expected: &'static str| EditError::WrongType {
        path: path.prefix(depth).to_string(),
        expected,
        found: node.kind(),
    };
    let missing = || EditError::NotFound {
        path: at.to_string(),
    };
    let creatable = create && matches!(next, Some(Segment::Key(_)));
    match seg {
        Segment::Key(k) => match node {
            Node::Table(t) | Node::Item(Item::Table(t)) => {
                if !t.contains_key(k) {
                    if !creatable {
                        return Err(missing());
                    }
                    t.insert(k, Item::Table(Table::new()));
                }
                t.get_mut(k).map(Node::Item).ok_or_else(missing)
            }
            Node::Item(Item::Value(Value::InlineTable(t))) | Node::Value(Value::InlineTable(t)) => {
                if !t.contains_key(k) {
                    if !creatable {
                        return Err(missing());
                    }
                    t.insert(k, Value::InlineTable(InlineTable::new()));
                }
                t.get_mut(k).map(Node::Value).ok_or_else(missing)
            }
            other => Err(wrong(&other, "a table")),
        },
        Segment::Name(_) | Segment::Index(_) => match node {
            Node::Item(Item::ArrayOfTables(a)) => {
                let i = aot_index(a, seg, &at)?;
                a.get_mut(i).map(Node::Table).ok_or_else(missing)
            }
            Node::Item(Item::Value(Value::Array(a))) | Node::Value(Value::Array(a)) => {
                let i = array_index(a, seg, &at)?;
                a.get_mut(i).map(Node::Value).ok_or_else(missing)
            }
            other => Err(wrong(&other, "an array")),
        },
    }
}

/// Walks the first `n` segments of `path` (creating missing tables with `create`, see
/// [`step`]).
fn walk<'a>(
    root: &'a mut Table,
    path: &KeyPath,
    n: usize,
    create: bool,
) -> Result<Node<'a>, EditError> {
    let segs = path.segments();
    let mut node = Node::Table(root);
    for i in 0..n {
        node = step(node, &segs[i], segs.get(i + 1), create, path, i)?;
    }
    Ok(node)
}

fn split_last(path: &KeyPath) -> Result<(usize, &Segment), EditError> {
    match path.segments() {
        [] => Err(EditError::BadPath {
            path: String::new(),
            reason: "empty path".into(),
        }),
        segs => Ok((segs.len() - 1, &segs[segs.len() - 1])),
    }
}

fn set(root: &mut Table, path: &KeyPath, value: &Json) -> Result<(), EditError> {
    let (n, last) = split_last(path)?;
    let shown = path.to_string();
    let Segment::Key(k) = last else {
        return match walk(root, path, n + 1, false)? {
            Node::Table(t) | Node::Item(Item::Table(t)) => match value {
                Json::Object(o) => merge_table(t, o, &shown),
                _ => Err(EditError::BadValue {
                    path: shown,
                    reason: "an element of an array of tables is set to a JSON object".into(),
                }),
            },
            Node::Item(item) => assign_item(item, value, &shown),
            Node::Value(v) => assign_value(v, value, &shown),
        };
    };
    // The parent: missing tables on the way are created when the last key is a key.
    let parent = walk(root, path, n, true)?;
    match parent {
        Node::Table(t) | Node::Item(Item::Table(t)) => match t.get_mut(k) {
            Some(item) => assign_item(item, value, &shown),
            None => {
                t.insert(k, table_item(value, &shown)?);
                Ok(())
            }
        },
        Node::Item(Item::Value(Value::InlineTable(t))) | Node::Value(Value::InlineTable(t)) => {
            match t.get_mut(k) {
                Some(v) => assign_value(v, value, &shown),
                None => {
                    t.insert(k, to_value(value, &shown)?);
                    Ok(())
                }
            }
        }
        other => Err(EditError::WrongType {
            path: path.prefix(n).to_string(),
            expected: "a table",
            found: other.kind(),
        }),
    }
}

fn remove(root: &mut Table, path: &KeyPath) -> Result<(), EditError> {
    let (n, last) = split_last(path)?;
    let missing = || EditError::NotFound {
        path: path.to_string(),
    };
    let parent = walk(root, path, n, false)?;
    match (parent, last) {
        (Node::Table(t) | Node::Item(Item::Table(t)), Segment::Key(k)) => {
            t.remove(k).map(|_| ()).ok_or_else(missing)
        }
        (
            Node::Item(Item::Value(Value::InlineTable(t))) | Node::Value(Value::InlineTable(t)),
            Segment::Key(k),
        ) => t.remove(k).map(|_| ()).ok_or_else(missing),
        (Node::Item(Item::ArrayOfTables(a)), seg @ (Segment::Name(_) | Segment::Index(_))) => {
            let i = aot_index(a, seg, path)?;
            a.remove(i);
            Ok(())
        }
        (
            Node::Item(Item::Value(Value::Array(a))) | Node::Value(Value::Array(a)),
            seg @ (Segment::Name(_) | Segment::Index(_)),
        ) => {
            let i = array_index(a, seg, path)?;
            a.remove(i);
            Ok(())
        }
        (other, Segment::Key(_)) => Err(EditError::WrongType {
            path: path.prefix(n).to_string(),
            expected: "a table",
            found: other.kind(),
        }),
        (other, _) => Err(EditError::WrongType {
            path: path.prefix(n).to_string(),
            expected: "an array",
            found: other.kind(),
        }),
    }
}

fn append(root: &mut Table, path: &KeyPath, value: &Json) -> Result<(), EditError> {
    let (n, last) = split_last(path)?;
    let shown = path.to_string();
    // A missing array is created under its table.
    if let Segment::Key(k) = last {
        let parent = walk(root, path, n, true)?;
        match parent {
            Node::Table(t) | Node::Item(Item::Table(t)) => {
                if !t.contains_key(k) {
                    let item = match value {
                        Json::Object(_) => Item::ArrayOfTables(ArrayOfTables::new()),
                        _ => Item::Value(Value::Array(Array::new())),
                    };
                    t.insert(k, item);
                }
                let item = t.get_mut(k).ok_or_else(|| EditError::NotFound {
                    path: shown.clone(),
                })?;
                return push(Node::Item(item), value, &shown);
            }
            Node::Item(Item::Value(Value::InlineTable(t))) | Node::Value(Value::InlineTable(t)) => {
                if !t.contains_key(k) {
                    t.insert(k, Value::Array(Array::new()));
                }
                let v = t.get_mut(k).ok_or_else(|| EditError::NotFound {
                    path: shown.clone(),
                })?;
                return push(Node::Value(v), value, &shown);
            }
            other => {
                return Err(EditError::WrongType {
                    path: path.prefix(n).to_string(),
                    expected: "a table",
                    found: other.kind(),
                });
            }
        }
    }
    let node = walk(root, path, n + 1, false)?;
    push(node, value, &shown)
}

fn push(node: Node<'_>, value: &Json, path: &str) -> Result<(), EditError> {
    match node {
        Node::Item(Item::ArrayOfTables(a)) => match value {
            Json::Object(o) => {
                a.push(new_table(o, path)?);
                Ok(())
            }
            _ => Err(EditError::BadValue {
                path: path.to_string(),
                reason: "an element of an array of tables is a JSON object".into(),
            }),
        },
        Node::Item(Item::Value(Value::Array(a))) | Node::Value(Value::Array(a)) => {
            push_like_last(a, to_value(value, path)?);
            Ok(())
        }
        other => Err(EditError::WrongType {
            path: path.to_string(),
            expected: "an array",
            found: other.kind(),
        }),
    }
}

/// Appends to an array laid out like its last element (one a line in a multi-line array).
fn push_like_last(a: &mut Array, mut v: Value) {
    let n = a.len();
    if let Some(last) = n.checked_sub(1).and_then(|i| a.get(i)) {
        let multi_line = last
            .decor()
            .prefix()
            .and_then(|p| p.as_str())
            .is_some_and(|p| p.contains('\n'));
        if n >= 2 || multi_line {
            *v.decor_mut() = last.decor().clone();
        }
    }
    a.push_formatted(v);
}

// ---- assigning JSON to what is there, keeping its formatting ---------------------------------

fn assign_item(item: &mut Item, value: &Json, path: &str) -> Result<(), EditError> {
    match (item, value) {
        (Item::Table(t), Json::Object(o)) => merge_table(t, o, path),
        (Item::ArrayOfTables(a), Json::Array(arr)) if arr.iter().all(Json::is_object) => {
            for (i, v) in arr.iter().enumerate() {
                let Json::Object(o) = v else { continue };
                match a.get_mut(i) {
                    Some(t) => merge_table(t, o, path)?,
                    None => a.push(new_table(o, path)?),
                }
            }
            while a.len() > arr.len() {
                a.remove(a.len() - 1);
            }
            Ok(())
        }
        (Item::Value(v), _) => assign_value(v, value, path),
        (item, _) => {
            *item = table_item(value, path)?;
            Ok(())
        }
    }
}

fn merge_table(
    t: &mut Table,
    o: &serde_json::Map<String, Json>,
    path: &str,
) -> Result<(), EditError> {
    let gone: Vec<String> = t
        .iter()
        .map(|(k, _)| k.to_string())
        .filter(|k| !o.contains_key(k))
        .collect();
    for k in gone {
        t.remove(&k);
    }
    for (k, v) in o {
        match t.get_mut(k) {
            Some(item) => assign_item(item, v, path)?,
            None => {
                t.insert(k, table_item(v, path)?);
            }
        }
    }
    Ok(())
}

fn assign_value(v: &mut Value, value: &Json, path: &str) -> Result<(), EditError> {
    match (v, value) {
        (Value::InlineTable(t), Json::Object(o)) => {
            let gone: Vec<String> = t
                .iter()
                .map(|(k, _)| k.to_string())
                .filter(|k| !o.contains_key(k))
                .collect();
            for k in gone {
                t.remove(&k);
            }
            for (k, x) in o {
                match t.get_mut(k) {
                    Some(old) => assign_value(old, x, path)?,
                    None => {
                        t.insert(k, to_value(x, path)?);
                    }
                }
            }
            Ok(())
        }
        (Value::Array(a), Json::Array(arr)) => {
            for (i, x) in arr.iter().enumerate() {
                match a.get_mut(i) {
                    Some(old) => assign_value(old, x, path)?,
                    None => push_like_last(a, to_value(x, path)?),
                }
            }
            while a.len() > arr.len() {
                a.remove(a.len() - 1);
            }
            Ok(())
        }
        (v, _) => {
            let decor = v.decor().clone();
            *v = to_value(value, path)?;
            *v.decor_mut() = decor;
            Ok(())
        }
    }
}

// ---- JSON → TOML ----------------------------------------------------------------------------

/// Above this length (as an inline table) an object under a standard table becomes a table
/// of its own.
const INLINE_MAX: usize = 80;

/// Whether a JSON object is written as a `[table]` rather than `{ inline }` under a standard
/// table: when it holds objects itself, or is long.
fn wants_table(o: &serde_json::Map<String, Json>) -> bool {
    o.values().any(|v| match v {
        Json::Object(_) => true,
        Json::Array(a) => !a.is_empty() && a.iter().all(Json::is_object),
        _ => false,
    }) || Json::Object(o.clone()).to_string().len() > INLINE_MAX
}

/// A JSON value as the value of a key of a standard table.
fn table_item(value: &Json, path: &str) -> Result<Item, EditError> {
    Ok(match value {
        Json::Object(o) if wants_table(o) => Item::Table(new_table(o, path)?),
        Json::Array(a)
            if !a.is_empty()
                && a.iter().all(|v| match v {
                    Json::Object(o) => wants_table(o),
                    _ => false,
                }) =>
        {
            let mut aot = ArrayOfTables::new();
            for v in a {
                if let Json::Object(o) = v {
                    aot.push(new_table(o, path)?);
                }
            }
            Item::ArrayOfTables(aot)
        }
        _ => Item::Value(to_value(value, path)?),
    })
}

fn new_table(o: &serde_json::Map<String, Json>, path: &str) -> Result<Table, EditError> {
    let mut t = Table::new();
    for (k, v) in o {
        t.insert(k, table_item(v, path)?);
    }
    Ok(t)
}

/// A JSON value as a TOML value (objects as inline tables).
pub(crate) fn to_value(value: &Json, path: &str) -> Result<Value, EditError> {
    let bad = |reason: &str| EditError::BadValue {
        path: path.to_string(),
        reason: reason.to_string(),
    };
    Ok(match value {
        Json::Null => return Err(bad("TOML has no null: remove the key instead")),
        Json::Bool(b) => Value::from(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                let text = n.to_string();
                if !text.contains(['.', 'e', 'E']) {
                    return Err(bad("an integer beyond the 64-bit range TOML allows"));
                }
                match n.as_f64() {
                    Some(f) if f.is_finite() => Value::from(f),
                    _ => return Err(bad("a number TOML cannot hold")),
                }
            }
        }
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(a) => {
            let mut arr = Array::new();
            for v in a {
                arr.push_formatted(to_value(v, path)?);
            }
            Value::Array(arr)
        }
        Json::Object(o) => {
            let mut t = InlineTable::new();
            for (k, v) in o {
                t.insert(k, to_value(v, path)?);
            }
            Value::InlineTable(t)
        }
    })
}
