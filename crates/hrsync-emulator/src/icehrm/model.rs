//! The emulated `Employees` table: column definitions (order = the key order of
//! a real v35 list item), compact row storage, MySQL-like write validation and
//! the two JSON renderings (list item, GET-one).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::data;
use super::md5;
use super::phpjson::{self, Obj};

/// One stored value of a row (the raw DB column value).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Str(Arc<str>),
}

impl Cell {
    pub(crate) fn str(s: &str) -> Cell {
        Cell::Str(Arc::from(s))
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Cell::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_int(&self) -> Option<i64> {
        match self {
            Cell::Int(n) => Some(*n),
            _ => None,
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Cell::Null)
    }

    pub(crate) fn to_json(&self) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::Int(n) => json!(n),
            Cell::Str(s) => Value::String(s.to_string()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    /// `bigint(20)`
    Int,
    /// `varchar(n)` / `char(n)` / `text`
    Str(usize),
    /// `date`
    Date,
    /// `enum(...)`
    Enum(&'static [&'static str]),
}

/// Foreign keys of the `Employees` table (all `ON DELETE SET NULL`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Fk {
    Nationality,
    JobTitle,
    EmploymentStatus,
    Country,
    Province,
    Supervisor,
    CompanyStructure,
    PayGrade,
}

impl Fk {
    fn constraint(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Fk::Nationality => (
                "Fk_Employee_Nationality",
                "nationality",
                "Nationality",
                "id",
            ),
            Fk::JobTitle => ("Fk_Employee_JobTitle", "job_title", "JobTitles", "id"),
            Fk::EmploymentStatus => (
                "Fk_Employee_EmploymentStatus",
                "employment_status",
                "EmploymentStatus",
                "id",
            ),
            Fk::Country => ("Fk_Employee_Country", "country", "Country", "code"),
            Fk::Province => ("Fk_Employee_Province", "province", "Province", "id"),
            Fk::Supervisor => ("Fk_Employee_Supervisor", "supervisor", "Employees", "id"),
            Fk::CompanyStructure => (
                "Fk_Employee_CompanyStructures",
                "department",
                "CompanyStructures",
                "id",
            ),
            Fk::PayGrade => ("Fk_Employee_PayGrades", "pay_grade", "PayGrades", "id"),
        }
    }

    fn error_message(self) -> String {
        let (name, col, table, key) = self.constraint();
        format!(
            "Cannot add or update a child row: a foreign key constraint fails (`{DB_NAME}`.`Employees`, \
             CONSTRAINT `{name}` FOREIGN KEY (`{col}`) REFERENCES `{table}` (`{key}`) ON DELETE SET NULL ON UPDATE CASCADE)"
        )
    }
}

/// Database name used in MariaDB error texts.
const DB_NAME: &str = "icehrm";

pub(crate) struct Col {
    pub name: &'static str,
    pub kind: Kind,
    pub fk: Option<Fk>,
    pub not_null: bool,
}

const fn col(name: &'static str, kind: Kind) -> Col {
    Col {
        name,
        kind,
        fk: None,
        not_null: false,
    }
}

const fn fk(name: &'static str, kind: Kind, fk: Fk) -> Col {
    Col {
        name,
        kind,
        fk: Some(fk),
        not_null: false,
    }
}

const GENDERS: &[&str] = &["Male", "Female"];
const STATUSES: &[&str] = &["Active", "Terminated"];

/// The `Employees` columns in the order a real v35 instance returns them.
pub(crate) const COLS: &[Col] = &[
    col("id", Kind::Int),
    col("employee_id", Kind::Str(50)),
    Col {
        name: "first_name",
        kind: Kind::Str(100),
        fk: None,
        not_null: true,
    },
    col("middle_name", Kind::Str(100)),
    col("last_name", Kind::Str(100)),
    fk("nationality", Kind::Int, Fk::Nationality),
    col("birthday", Kind::Date),
    col("gender", Kind::Enum(GENDERS)),
    col("marital_status", Kind::Enum(data::MARITAL_STATUSES)),
    col("ssn_num", Kind::Str(100)),
    col("nic_num", Kind::Str(100)),
    col("other_id", Kind::Str(100)),
    col("driving_license", Kind::Str(100)),
    col("driving_license_exp_date", Kind::Date),
    fk("employment_status", Kind::Int, Fk::EmploymentStatus),
    fk("job_title", Kind::Int, Fk::JobTitle),
    fk("pay_grade", Kind::Int, Fk::PayGrade),
    col("work_station_id", Kind::Str(100)),
    col("address1", Kind::Str(100)),
    col("address2", Kind::Str(100)),
    col("city", Kind::Str(150)),
    fk("country", Kind::Str(2), Fk::Country),
    fk("province", Kind::Int, Fk::Province),
    col("postal_code", Kind::Str(20)),
    col("home_phone", Kind::Str(50)),
    col("mobile_phone", Kind::Str(50)),
    col("work_phone", Kind::Str(50)),
    col("work_email", Kind::Str(100)),
    col("private_email", Kind::Str(100)),
    col("joined_date", Kind::Date),
    col("confirmation_date", Kind::Date),
    fk("supervisor", Kind::Int, Fk::Supervisor),
    col("indirect_supervisors", Kind::Str(250)),
    fk("department", Kind::Int, Fk::CompanyStructure),
    col("name_preferred", Kind::Str(100)),
    col("name_pronunciation", Kind::Str(100)),
    col("pronouns", Kind::Str(100)),
    col("custom4", Kind::Str(250)),
    col("custom5", Kind::Str(250)),
    col("custom6", Kind::Str(250)),
    col("custom7", Kind::Str(250)),
    col("custom8", Kind::Str(250)),
    col("custom9", Kind::Str(250)),
    col("custom10", Kind::Str(250)),
    col("termination_date", Kind::Date),
    col("notes", Kind::Str(65535)),
    col("status", Kind::Enum(STATUSES)),
    col("ethnicity", Kind::Int),
    col("immigration_status", Kind::Int),
    col("approver1", Kind::Int),
    col("approver2", Kind::Int),
    col("approver3", Kind::Int),
    col("tax_id", Kind::Str(100)),
    col("health_insurance", Kind::Str(100)),
    col("timezone", Kind::Str(100)),
];

pub(crate) const NCOLS: usize = 55;
const _: () = assert!(COLS.len() == NCOLS);

/// Column indices into [`COLS`].
#[allow(dead_code)]
pub(crate) mod c {
    pub const ID: usize = 0;
    pub const EMPLOYEE_ID: usize = 1;
    pub const FIRST_NAME: usize = 2;
    pub const MIDDLE_NAME: usize = 3;
    pub const LAST_NAME: usize = 4;
    pub const NATIONALITY: usize = 5;
    pub const BIRTHDAY: usize = 6;
    pub const GENDER: usize = 7;
    pub const MARITAL_STATUS: usize = 8;
    pub const SSN_NUM: usize = 9;
    pub const NIC_NUM: usize = 10;
    pub const OTHER_ID: usize = 11;
    pub const DRIVING_LICENSE: usize = 12;
    pub const DRIVING_LICENSE_EXP_DATE: usize = 13;
    pub const EMPLOYMENT_STATUS: usize = 14;
    pub const JOB_TITLE: usize = 15;
    pub const PAY_GRADE: usize = 16;
    pub const WORK_STATION_ID: usize = 17;
    pub const ADDRESS1: usize = 18;
    pub const ADDRESS2: usize = 19;
    pub const CITY: usize = 20;
    pub const COUNTRY: usize = 21;
    pub const PROVINCE: usize = 22;
    pub const POSTAL_CODE: usize = 23;
    pub const HOME_PHONE: usize = 24;
    pub const MOBILE_PHONE: usize = 25;
    pub const WORK_PHONE: usize = 26;
    pub const WORK_EMAIL: usize = 27;
    pub const PRIVATE_EMAIL: usize = 28;
    pub const JOINED_DATE: usize = 29;
    pub const CONFIRMATION_DATE: usize = 30;
    pub const SUPERVISOR: usize = 31;
    pub const INDIRECT_SUPERVISORS: usize = 32;
    pub const DEPARTMENT: usize = 33;
    pub const NAME_PREFERRED: usize = 34;
    pub const NAME_PRONUNCIATION: usize = 35;
    pub const PRONOUNS: usize = 36;
    pub const TERMINATION_DATE: usize = 44;
    pub const NOTES: usize = 45;
    pub const STATUS: usize = 46;
    pub const ETHNICITY: usize = 47;
    pub const IMMIGRATION_STATUS: usize = 48;
    pub const APPROVER1: usize = 49;
    pub const APPROVER2: usize = 50;
    pub const APPROVER3: usize = 51;
    pub const TAX_ID: usize = 52;
    pub const HEALTH_INSURANCE: usize = 53;
    pub const TIMEZONE: usize = 54;
}

pub(crate) fn col_index(name: &str) -> Option<usize> {
    COLS.iter().position(|c| c.name == name)
}

/// One employee row.
#[derive(Debug, Clone)]
pub(crate) struct Row(pub Box<[Cell]>);

impl Row {
    pub(crate) fn empty() -> Row {
        Row(vec![Cell::Null; NCOLS].into_boxed_slice())
    }

    pub(crate) fn get(&self, i: usize) -> &Cell {
        &self.0[i]
    }

    pub(crate) fn set(&mut self, i: usize, v: Cell) {
        self.0[i] = v;
    }

    pub(crate) fn id(&self) -> i64 {
        self.0[c::ID].as_int().unwrap_or(0)
    }

    fn text(&self, i: usize) -> &str {
        self.0[i].as_str().unwrap_or("")
    }
}

/// The login account linked to employee 1 (the admin whose token is served).
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub employee: Option<i64>,
    pub username: String,
    pub email: String,
    pub level: &'static str,
}

/// The emulated database.
#[derive(Debug)]
pub(crate) struct Db {
    pub rows: BTreeMap<i64, Row>,
    /// The keys of `rows` in ascending order (kept by insert/delete), to find
    /// the rows of a page by position without walking the map.
    pub ids: Vec<i64>,
    /// AUTO_INCREMENT: ids of deleted rows are never reused.
    pub next_id: i64,
    pub user: User,
    /// `CompanyStructures.heads` (JSON list of employee ids) per structure id.
    pub heads: BTreeMap<i64, Vec<i64>>,
}

// ---------------------------------------------------------------- PHP/MySQL helpers

/// PHP 8 `intval()` of a string: optional leading whitespace and sign, then
/// digits; anything else stops the number. Saturates on overflow.
pub(crate) fn php_intval_str(s: &str) -> i64 {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut n: i64 = 0;
    for b in digits.bytes() {
        if !b.is_ascii_digit() {
            break;
        }
        let d = i64::from(b - b'0');
        n = if neg {
            n.saturating_mul(10).saturating_sub(d)
        } else {
            n.saturating_mul(10).saturating_add(d)
        };
    }
    n
}

/// MySQL's string → number conversion: the longest numeric prefix, 0 if none.
pub(crate) fn mysql_num(s: &str) -> f64 {
    let t = s.trim_start();
    let b = t.as_bytes();
    let mut end = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        end = 1;
    }
    let digits_start = end;
    while end < b.len() && b[end].is_ascii_digit() {
        end += 1;
    }
    if end < b.len() && b[end] == b'.' {
        end += 1;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
    }
    if end == digits_start {
        return 0.0;
    }
    let mantissa_end = end;
    if end < b.len() && (b[end] == b'e' || b[end] == b'E') {
        let mut e = end + 1;
        if matches!(b.get(e), Some(b'+' | b'-')) {
            e += 1;
        }
        let exp_digits = e;
        while e < b.len() && b[e].is_ascii_digit() {
            e += 1;
        }
        if e > exp_digits {
            end = e;
        }
    }
    t[..end]
        .parse::<f64>()
        .or_else(|_| t[..mantissa_end].parse::<f64>())
        .unwrap_or(0.0)
}

/// Fold a string the way MariaDB's `utf8_general_ci` compares: case- and
/// (approximately) accent-insensitive, trailing spaces ignored (PAD SPACE).
pub(crate) fn fold(s: &str) -> String {
    fold_keep_spaces(s.trim_end_matches(' '))
}

/// [`fold`] without the trailing-space trimming (`LIKE` does not pad).
pub(crate) fn fold_keep_spaces(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if ch.is_ascii() {
            out.push(ch.to_ascii_lowercase());
        } else {
            match deunicode::deunicode_char(ch) {
                Some(rep) if !rep.is_empty() => out.push_str(&rep.to_lowercase()),
                _ => out.extend(ch.to_lowercase()),
            }
        }
    }
    out
}

/// `ASCII-folded lowercase` for e-mail local parts: letters, digits and `-` only.
pub(crate) fn email_part(s: &str) -> String {
    deunicode::deunicode(s)
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

/// Parse a MySQL `DATE` literal; returns the normalized `YYYY-MM-DD`.
pub(crate) fn parse_date(s: &str) -> Option<String> {
    let t = s.trim();
    if t == "0000-00-00" || t == "0000-00-00 00:00:00" {
        return Some("0000-00-00".to_owned());
    }
    for fmt in ["%Y-%m-%d", "%Y/%m/%d", "%Y%m%d"] {
        if let Ok(d) = chrono::NaiveDate::parse_from_str(t, fmt) {
            return Some(d.format("%Y-%m-%d").to_string());
        }
    }
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(t, fmt) {
            return Some(d.date().format("%Y-%m-%d").to_string());
        }
    }
    None
}

/// What PHP/ADOdb sends to MySQL for a decoded JSON value (arrays become `Array`).
fn php_string(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(true) => "1".to_owned(),
        Value::Bool(false) => String::new(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => "Array".to_owned(),
    }
}

/// The tables are `utf8mb3`: a character outside the BMP (4 UTF-8 bytes, an emoji) is refused
/// with MariaDB's raw error, which shows up to 6 bytes from the first bad one (`\xHH` for
/// non-printable bytes, `...` when cut).
fn incorrect_string_value(s: &str, column: &str) -> Option<String> {
    use std::fmt::Write as _;
    let (pos, _) = s.char_indices().find(|(_, ch)| ch.len_utf8() == 4)?;
    let bytes = &s.as_bytes()[pos..];
    let mut shown = String::new();
    for b in bytes.iter().take(6) {
        if (0x20..0x7f).contains(b) {
            shown.push(char::from(*b));
        } else {
            let _ = write!(shown, "\\x{b:02X}");
        }
    }
    if bytes.len() > 6 {
        shown.push_str("...");
    }
    Some(format!(
        "Incorrect string value: '{shown}' for column `{DB_NAME}`.`Employees`.`{column}` at row 1"
    ))
}

/// Convert one incoming value for column `ci` (MariaDB strict mode rules).
/// `Err` carries the raw MariaDB error text.
pub(crate) fn convert(ci: usize, v: &Value) -> Result<Cell, String> {
    let col = &COLS[ci];
    // BaseService::addElement: `if ($v == "NULL") $v = null;` (loose comparison:
    // the string "NULL" and `true` both compare equal).
    let is_null = match v {
        Value::Null | Value::Bool(true) => true,
        Value::String(s) => s == "NULL",
        _ => false,
    };
    if is_null {
        if col.not_null {
            return Err(format!("Column '{}' cannot be null", col.name));
        }
        return Ok(Cell::Null);
    }
    let name = col.name;
    match col.kind {
        Kind::Int => match v {
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Ok(Cell::Int(i))
                } else {
                    let f = n.as_f64().unwrap_or(0.0);
                    Ok(Cell::Int(f.round() as i64))
                }
            }
            _ => {
                let s = php_string(v);
                let t = s.trim();
                if let Ok(i) = t.parse::<i64>() {
                    return Ok(Cell::Int(i));
                }
                if let Ok(f) = t.parse::<f64>()
                    && f.is_finite()
                {
                    return Ok(Cell::Int(f.round() as i64));
                }
                if mysql_num(t) != 0.0 || t.starts_with('0') {
                    Err(format!("Data truncated for column '{name}' at row 1"))
                } else {
                    Err(format!(
                        "Incorrect integer value: '{s}' for column `{DB_NAME}`.`Employees`.`{name}` at row 1"
                    ))
                }
            }
        },
        Kind::Str(max) => {
            let s = php_string(v);
            if let Some(message) = incorrect_string_value(&s, name) {
                return Err(message);
            }
            if s.chars().count() > max {
                return Err(format!("Data too long for column '{name}' at row 1"));
            }
            Ok(Cell::str(&s))
        }
        Kind::Date => {
            let s = php_string(v);
            parse_date(&s).map(|d| Cell::str(&d)).ok_or_else(|| {
                format!(
                    "Incorrect date value: '{s}' for column `{DB_NAME}`.`Employees`.`{name}` at row 1"
                )
            })
        }
        Kind::Enum(values) => {
            let s = php_string(v);
            let f = fold(&s);
            if let Some(canon) = values.iter().find(|e| fold(e) == f) {
                return Ok(Cell::str(canon));
            }
            if let Ok(idx) = s.trim().parse::<usize>()
                && (1..=values.len()).contains(&idx)
            {
                return Ok(Cell::str(values[idx - 1]));
            }
            Err(format!("Data truncated for column '{name}' at row 1"))
        }
    }
}

/// Why a write was rejected.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum WriteError {
    /// The target row does not exist.
    NotFound,
    /// The database rejected the statement; the raw MariaDB message.
    Db(String),
}

/// A resolved relation (`{"type","id"|"code","display"}` object).
struct Relation<'a> {
    type_name: &'static str,
    /// `id`, or `code` for countries.
    key: &'static str,
    display: Cow<'a, str>,
    /// The referenced employee, for employee relations.
    target: Option<&'a Row>,
}

/// Columns a list item maps to relation objects.
const LIST_MAP: &[usize] = &[
    c::JOB_TITLE,
    c::COUNTRY,
    c::PROVINCE,
    c::DEPARTMENT,
    c::SUPERVISOR,
    c::EMPLOYMENT_STATUS,
    c::PAY_GRADE,
];

/// A raw cell as `phpjson::encode(&cell.to_json())` writes it.
fn write_cell(cell: &Cell, out: &mut Vec<u8>) {
    match cell {
        Cell::Null => out.extend_from_slice(b"null"),
        Cell::Int(n) => phpjson::write_i64(*n, out),
        Cell::Str(s) => phpjson::write_string(s, out),
    }
}

impl Db {
    /// Apply a POST/PUT body onto `row` (which has id `id`): only real
    /// columns are assigned, `id` is never assigned, unknown keys are ignored
    /// (`BaseService::addElement`). Then the constraints are checked.
    fn apply(&self, row: &mut Row, id: i64, body: &Map<String, Value>) -> Result<(), String> {
        let mut touched: Vec<usize> = Vec::new();
        for (k, v) in body {
            if k == "id" || k == "t" || k == "a" {
                continue;
            }
            let Some(ci) = col_index(k) else { continue };
            let cell = convert(ci, v)?;
            row.set(ci, cell);
            if !touched.contains(&ci) {
                touched.push(ci);
            }
        }
        if touched.contains(&c::EMPLOYEE_ID)
            && let Some(new) = row.get(c::EMPLOYEE_ID).as_str()
        {
            let key = fold(new);
            let dup = self.rows.iter().any(|(oid, r)| {
                *oid != id
                    && r.get(c::EMPLOYEE_ID)
                        .as_str()
                        .is_some_and(|e| fold(e) == key)
            });
            if dup {
                return Err(format!("Duplicate entry '{new}' for key 'employee_id'"));
            }
        }
        for ci in touched {
            let Some(fk) = COLS[ci].fk else { continue };
            let cell = row.get(ci).clone();
            if cell.is_null() {
                continue;
            }
            let ok = match fk {
                Fk::Nationality => cell
                    .as_int()
                    .is_some_and(|n| data::lookup_name(data::NATIONALITIES, n).is_some()),
                Fk::JobTitle => cell
                    .as_int()
                    .is_some_and(|n| data::lookup_name(data::JOB_TITLES, n).is_some()),
                Fk::EmploymentStatus => cell
                    .as_int()
                    .is_some_and(|n| data::lookup_name(data::EMPLOYMENT_STATUSES, n).is_some()),
                Fk::PayGrade => cell
                    .as_int()
                    .is_some_and(|n| data::lookup_name(data::PAY_GRADES, n).is_some()),
                Fk::Province => cell
                    .as_int()
                    .is_some_and(|n| data::lookup_name(data::PROVINCES, n).is_some()),
                Fk::CompanyStructure => cell
                    .as_int()
                    .is_some_and(|n| data::company_structure(n).is_some()),
                Fk::Supervisor => cell
                    .as_int()
                    .is_some_and(|n| n == id || self.rows.contains_key(&n)),
                Fk::Country => match cell.as_str().and_then(data::country_name) {
                    Some((code, _)) => {
                        row.set(ci, Cell::str(code));
                        true
                    }
                    None => false,
                },
            };
            if !ok {
                return Err(fk.error_message());
            }
        }
        Ok(())
    }

    /// INSERT (POST /employees). Returns the new id.
    pub(crate) fn insert(&mut self, body: &Map<String, Value>) -> Result<i64, WriteError> {
        let id = self.next_id;
        let mut row = Row::empty();
        row.set(c::ID, Cell::Int(id));
        row.set(c::FIRST_NAME, Cell::str(""));
        row.set(c::STATUS, Cell::str("Active"));
        self.apply(&mut row, id, body).map_err(WriteError::Db)?;
        self.rows.insert(id, row);
        // AUTO_INCREMENT ids only grow, so this is normally a push.
        if let Err(pos) = self.ids.binary_search(&id) {
            self.ids.insert(pos, id);
        }
        self.next_id += 1;
        Ok(id)
    }

    /// UPDATE (PUT /employees/{id}), partial.
    pub(crate) fn update(&mut self, id: i64, body: &Map<String, Value>) -> Result<(), WriteError> {
        let Some(existing) = self.rows.get(&id) else {
            return Err(WriteError::NotFound);
        };
        let mut row = existing.clone();
        self.apply(&mut row, id, body).map_err(WriteError::Db)?;
        self.rows.insert(id, row);
        Ok(())
    }

    /// Hard DELETE; `ON DELETE SET NULL` for subordinates' `supervisor` and
    /// for the login user's `employee`.
    pub(crate) fn delete(&mut self, id: i64) -> bool {
        if self.rows.remove(&id).is_none() {
            return false;
        }
        if let Ok(pos) = self.ids.binary_search(&id) {
            self.ids.remove(pos);
        }
        for row in self.rows.values_mut() {
            if row.get(c::SUPERVISOR).as_int() == Some(id) {
                row.set(c::SUPERVISOR, Cell::Null);
            }
        }
        if self.user.employee == Some(id) {
            self.user.employee = None;
        }
        true
    }

    /// Up to `limit` rows from position `offset` in id order (descending
    /// when `desc`), like `values().skip(offset).take(limit)` without the walk.
    pub(crate) fn rows_by_position(&self, offset: usize, limit: usize, desc: bool) -> Vec<&Row> {
        debug_assert_eq!(self.ids.len(), self.rows.len());
        debug_assert!(self.ids.iter().eq(self.rows.keys()));
        let n = self.ids.len();
        let start = offset.min(n);
        let count = limit.min(n - start);
        let ids = if desc {
            &self.ids[n - start - count..n - start]
        } else {
            &self.ids[start..start + count]
        };
        let lookup = |id: &i64| self.rows.get(id);
        if desc {
            ids.iter().rev().filter_map(lookup).collect()
        } else {
            ids.iter().filter_map(lookup).collect()
        }
    }

    /// Employee id of the token's user (`BaseService::getCurrentProfileId`).
    pub(crate) fn current_profile_id(&self) -> Option<i64> {
        self.user.employee
    }

    // ------------------------------------------------------------ rendering

    fn employee_display(&self, raw: &Cell) -> Option<(&Row, String)> {
        let id = match raw {
            Cell::Int(n) => *n,
            Cell::Str(s) => {
                let f = mysql_num(s);
                if f.fract() != 0.0 {
                    return None;
                }
                f as i64
            }
            Cell::Null => return None,
        };
        let row = self.rows.get(&id)?;
        // RestEndPoint::getCombinedValue("first_name+last_name")
        let mut display = String::new();
        for part in [row.text(c::FIRST_NAME), row.text(c::LAST_NAME)] {
            if !display.is_empty() {
                display.push(' ');
            }
            display.push_str(part);
        }
        Some((row, display))
    }

    /// The relation `raw` (a value of column `ci`) points to, when the
    /// referenced row exists; `None` keeps the raw scalar.
    fn relation<'a>(&'a self, ci: usize, raw: &Cell) -> Option<Relation<'a>> {
        let int = || raw.as_int();
        let (type_name, key, display): (&'static str, &'static str, &'static str) = match ci {
            c::NATIONALITY => (
                "Nationality",
                "id",
                data::lookup_name(data::NATIONALITIES, int()?)?,
            ),
            c::EMPLOYMENT_STATUS => (
                "EmploymentStatus",
                "id",
                data::lookup_name(data::EMPLOYMENT_STATUSES, int()?)?,
            ),
            c::JOB_TITLE => (
                "JobTitle",
                "id",
                data::lookup_name(data::JOB_TITLES, int()?)?,
            ),
            c::PAY_GRADE => (
                "PayGrade",
                "id",
                data::lookup_name(data::PAY_GRADES, int()?)?,
            ),
            c::PROVINCE => (
                "Province",
                "id",
                data::lookup_name(data::PROVINCES, int()?)?,
            ),
            c::DEPARTMENT => (
                "CompanyStructure",
                "id",
                data::company_structure(int()?)?.title,
            ),
            c::COUNTRY => ("Country", "code", data::country_name(raw.as_str()?)?.1),
            c::SUPERVISOR
            | c::INDIRECT_SUPERVISORS
            | c::APPROVER1
            | c::APPROVER2
            | c::APPROVER3 => {
                let (target, display) = self.employee_display(raw)?;
                return Some(Relation {
                    type_name: "Employee",
                    key: "id",
                    display: Cow::Owned(display),
                    target: Some(target),
                });
            }
            // Ethnicity / ImmigrationStatus tables are empty in this instance.
            _ => return None,
        };
        Some(Relation {
            type_name,
            key,
            display: Cow::Borrowed(display),
            target: None,
        })
    }

    /// `{"type":T,"id":raw,"display":D}` when the referenced row exists,
    /// otherwise `None` (the raw scalar stays).
    fn enrich(&self, ci: usize, raw: &Cell, with_supervisor_image: bool) -> Option<Value> {
        let rel = self.relation(ci, raw)?;
        let mut obj = Map::new();
        obj.insert("type".into(), json!(rel.type_name));
        obj.insert(rel.key.into(), raw.to_json());
        obj.insert("display".into(), json!(rel.display));
        if with_supervisor_image
            && ci == c::SUPERVISOR
            && let Some(target) = rel.target
        {
            obj.insert("image".into(), json!(image_url(target)));
        }
        Some(Value::Object(obj))
    }

    /// `timezone` is filled from the department when empty.
    fn timezone(&self, row: &Row) -> Cell {
        match row.get(c::TIMEZONE) {
            Cell::Str(s) if !s.is_empty() => Cell::Str(s.clone()),
            other => row
                .get(c::DEPARTMENT)
                .as_int()
                .and_then(data::company_structure)
                .map(|d| Cell::str(d.timezone))
                .unwrap_or_else(|| other.clone()),
        }
    }

    /// `email`: the linked login user's e-mail if there is one, else `work_email`.
    fn email(&self, row: &Row) -> Value {
        if self.user.employee == Some(row.id()) {
            json!(self.user.email)
        } else {
            row.get(c::WORK_EMAIL).to_json()
        }
    }

    /// A `GET /employees` list item: every column (nulls kept), the list
    /// relation mapping, then `image`, `email`, `customFields`.
    pub(crate) fn render_list_item(&self, row: &Row) -> Value {
        let mut obj = Map::with_capacity(NCOLS + 5);
        obj.insert("objectName".into(), Value::Null);
        obj.insert("isJoinFind".into(), Value::Bool(false));
        for (ci, col) in COLS.iter().enumerate() {
            let raw = if ci == c::TIMEZONE {
                self.timezone(row)
            } else {
                row.get(ci).clone()
            };
            let value = if LIST_MAP.contains(&ci) {
                self.enrich(ci, &raw, false)
                    .unwrap_or_else(|| raw.to_json())
            } else {
                raw.to_json()
            };
            obj.insert(col.name.into(), value);
        }
        obj.insert("image".into(), json!(image_url(row)));
        obj.insert("email".into(), self.email(row));
        obj.insert("customFields".into(), json!([]));
        Value::Object(obj)
    }

    /// Append the list item of `row` to `out` exactly as
    /// `phpjson::encode` writes [`Db::render_list_item`] at nesting `level`
    /// (2 inside `{"data":[...]}`), without building a `Value`.
    pub(crate) fn write_list_item(&self, row: &Row, level: usize, out: &mut Vec<u8>) {
        let mut obj = Obj::begin(level, out);
        obj.key("objectName", out);
        out.extend_from_slice(b"null");
        obj.key("isJoinFind", out);
        out.extend_from_slice(b"false");
        for (ci, col) in COLS.iter().enumerate() {
            obj.key(col.name, out);
            let timezone;
            let raw = if ci == c::TIMEZONE {
                timezone = self.timezone(row);
                &timezone
            } else {
                row.get(ci)
            };
            match LIST_MAP
                .contains(&ci)
                .then(|| self.relation(ci, raw))
                .flatten()
            {
                Some(rel) => {
                    let mut inner = Obj::begin(level + 1, out);
                    inner.key("type", out);
                    phpjson::write_string(rel.type_name, out);
                    inner.key(rel.key, out);
                    write_cell(raw, out);
                    inner.key("display", out);
                    phpjson::write_string(&rel.display, out);
                    inner.end(out);
                }
                None => write_cell(raw, out),
            }
        }
        obj.key("image", out);
        phpjson::write_string(&image_url(row), out);
        obj.key("email", out);
        if self.user.employee == Some(row.id()) {
            phpjson::write_string(&self.user.email, out);
        } else {
            write_cell(row.get(c::WORK_EMAIL), out);
        }
        obj.key("customFields", out);
        out.extend_from_slice(b"[]");
        obj.end(out);
    }

    /// `GET /employees/{id}`: GET-one relation mapping (incl. nationality,
    /// approvers, supervisor image), null fields removed, `current_time`,
    /// `can_login` and the login user's fields.
    pub(crate) fn render_one(&self, row: &Row, current_time: &str) -> Value {
        const GET_MAP: &[usize] = &[
            c::NATIONALITY,
            c::ETHNICITY,
            c::IMMIGRATION_STATUS,
            c::EMPLOYMENT_STATUS,
            c::JOB_TITLE,
            c::PAY_GRADE,
            c::COUNTRY,
            c::PROVINCE,
            c::DEPARTMENT,
            c::SUPERVISOR,
            c::INDIRECT_SUPERVISORS,
            c::APPROVER1,
            c::APPROVER2,
            c::APPROVER3,
        ];
        let mut obj = Map::with_capacity(NCOLS + 8);
        obj.insert("isJoinFind".into(), Value::Bool(false));
        for (ci, col) in COLS.iter().enumerate() {
            let raw = if ci == c::TIMEZONE {
                self.timezone(row)
            } else {
                row.get(ci).clone()
            };
            if raw.is_null() {
                continue;
            }
            let value = if GET_MAP.contains(&ci) {
                self.enrich(ci, &raw, true).unwrap_or_else(|| raw.to_json())
            } else {
                raw.to_json()
            };
            obj.insert(col.name.into(), value);
        }
        obj.insert("current_time".into(), json!(current_time));
        obj.insert("image".into(), json!(image_url(row)));
        let email = self.email(row);
        if !email.is_null() {
            obj.insert("email".into(), email);
        }
        obj.insert("customFields".into(), json!([]));
        if self.user.employee == Some(row.id()) {
            obj.insert("can_login".into(), json!(1));
            obj.insert("user_name".into(), json!(self.user.username));
            obj.insert("user_email".into(), json!(self.user.email));
            obj.insert("user_level".into(), json!(self.user.level));
        } else {
            obj.insert("can_login".into(), json!(0));
        }
        Value::Object(obj)
    }

    /// `GET /company/structures/{id}/details` body, or `None` if unknown.
    pub(crate) fn render_structure(&self, id: i64) -> Option<Value> {
        let s = data::company_structure(id)?;
        let brief = |row: &Row| {
            json!({
                "id": row.id(),
                "employee_id": row.get(c::EMPLOYEE_ID).to_json(),
                "first_name": row.get(c::FIRST_NAME).to_json(),
                "last_name": row.get(c::LAST_NAME).to_json(),
                "job_title": row.get(c::JOB_TITLE).to_json(),
                "work_email": row.get(c::WORK_EMAIL).to_json(),
                "image": image_url(row),
            })
        };
        let heads: Vec<Value> = self
            .heads
            .get(&id)
            .map(|ids| {
                ids.iter()
                    .filter_map(|h| self.rows.get(h))
                    .map(brief)
                    .collect()
            })
            .unwrap_or_default();
        let children: Vec<Value> = data::COMPANY_STRUCTURES
            .iter()
            .filter(|child| child.parent == Some(id))
            .map(|child| {
                json!({"id": child.id, "title": child.title, "type": child.kind, "timezone": child.timezone})
            })
            .collect();
        let employees: Vec<Value> = self
            .rows
            .values()
            .filter(|r| {
                r.get(c::DEPARTMENT).as_int() == Some(id)
                    && r.get(c::STATUS)
                        .as_str()
                        .is_some_and(|st| fold(st) == "active")
            })
            .map(brief)
            .collect();
        let (employee_count, child_count) = (employees.len(), children.len());
        Some(json!({
            "id": s.id,
            "title": s.title,
            "description": s.description,
            "address": s.address,
            "type": s.kind,
            "country": s.country,
            "timezone": s.timezone,
            "parent": s.parent,
            "heads": heads,
            "children": children,
            "employees": employees,
            "employeeCount": employee_count,
            "childCount": child_count,
        }))
    }
}

/// The v35 placeholder avatar: DiceBear initials with
/// `seed = strtoupper(first[0] . last[0]) . md5(first_name . last_name)`.
pub(crate) fn image_url(row: &Row) -> String {
    let first = row.text(c::FIRST_NAME);
    let last = row.text(c::LAST_NAME);
    let mut seed = String::new();
    for part in [first, last] {
        if let Some(ch) = part.chars().next() {
            seed.extend(ch.to_uppercase());
        }
    }
    seed.push_str(&md5::hex(format!("{first}{last}").as_bytes()));
    format!("https://api.dicebear.com/7.x/initials/svg?seed={seed}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn php_and_mysql_number_parsing() {
        assert_eq!(php_intval_str("12abc"), 12);
        assert_eq!(php_intval_str("  -3"), -3);
        assert_eq!(php_intval_str("abc"), 0);
        assert_eq!(php_intval_str("99999999999999999999999"), i64::MAX);
        assert_eq!(mysql_num("2"), 2.0);
        assert_eq!(mysql_num("[3,4]"), 0.0);
        assert_eq!(mysql_num(" 5abc"), 5.0);
        assert_eq!(mysql_num("1.5e1x"), 15.0);
    }

    #[test]
    fn folding_and_email_parts() {
        assert_eq!(fold("José "), "jose");
        assert_eq!(fold("MÜLLER"), "muller");
        assert_eq!(email_part("O'Brien"), "obrien");
        assert_eq!(email_part("Nguyễn"), "nguyen");
        assert_eq!(email_part("Łukasz"), "lukasz");
        assert_eq!(email_part("Smith-Jones"), "smith-jones");
        assert_eq!(email_part("Ó Súilleabháin"), "osuilleabhain");
    }

    #[test]
    fn conversions_follow_mariadb_strict_mode() {
        let status = col_index("status").unwrap_or(0);
        assert_eq!(
            convert(status, &json!("terminated")),
            Ok(Cell::str("Terminated"))
        );
        assert_eq!(
            convert(status, &json!("Fired")),
            Err("Data truncated for column 'status' at row 1".to_owned())
        );
        let dep = col_index("department").unwrap_or(0);
        assert_eq!(convert(dep, &json!("2")), Ok(Cell::Int(2)));
        assert!(convert(dep, &json!("abc")).is_err());
        assert_eq!(convert(dep, &json!("NULL")), Ok(Cell::Null));
        let bday = col_index("birthday").unwrap_or(0);
        assert_eq!(
            convert(bday, &json!("2020-1-5")),
            Ok(Cell::str("2020-01-05"))
        );
        assert!(convert(bday, &json!("2020-02-30")).is_err());
        let first = col_index("first_name").unwrap_or(0);
        assert_eq!(
            convert(first, &Value::Null),
            Err("Column 'first_name' cannot be null".to_owned())
        );
    }
}
