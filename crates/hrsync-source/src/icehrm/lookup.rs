//! Asking IceHrm for given people: `GET /employees?filters={"<column>":[…]}`, for confirming
//! that someone missing from a full fetch has really gone, for targeted runs, and for fetching
//! a new hire's supervisor by internal `id`.
//!
//! What the real v35 does with filters (see `shared/research/icehrm.md`):
//! - an array value is an OR of `=`; the column's collation (`utf8_general_ci`) makes text
//!   comparisons case- and accent-insensitive (`emp112` finds `EMP112`, `jose` finds `José`);
//! - an **empty array drops the filter: everyone comes back** — so we never send one;
//! - a filter on something that is not a column of `Employees` (an unknown name, or a computed
//!   field such as `email`) is a 500 with an empty body — so only [`COLUMNS`] are filtered on.

use super::IceHrm;
use crate::{Result, SourceError};
use hrsync_model::{FetchReport, HrRecord};
use std::collections::BTreeSet;
use std::time::Instant;

/// Values per lookup request (`filters` goes into the URL).
pub const LOOKUP_CHUNK: usize = 100;

/// The columns of IceHrm v35's `Employees` table: the only fields a `filters` may name.
/// Computed fields of the answer (`email`, `image`, `customFields`, …) are not among them.
pub const COLUMNS: &[&str] = &[
    "id",
    "employee_id",
    "first_name",
    "middle_name",
    "last_name",
    "nationality",
    "birthday",
    "gender",
    "marital_status",
    "ssn_num",
    "nic_num",
    "other_id",
    "driving_license",
    "driving_license_exp_date",
    "employment_status",
    "job_title",
    "pay_grade",
    "work_station_id",
    "address1",
    "address2",
    "city",
    "country",
    "province",
    "postal_code",
    "home_phone",
    "mobile_phone",
    "work_phone",
    "work_email",
    "private_email",
    "joined_date",
    "confirmation_date",
    "supervisor",
    "indirect_supervisors",
    "department",
    "name_preferred",
    "name_pronunciation",
    "pronouns",
    "custom4",
    "custom5",
    "custom6",
    "custom7",
    "custom8",
    "custom9",
    "custom10",
    "termination_date",
    "notes",
    "status",
    "ethnicity",
    "immigration_status",
    "approver1",
    "approver2",
    "approver3",
    "tax_id",
    "health_insurance",
    "timezone",
];

/// Whether `field` can be filtered on (a column of `Employees`, not a computed field).
pub fn is_column(field: &str) -> bool {
    COLUMNS.contains(&field)
}

/// A value as IceHrm's database compares it (`utf8_general_ci`, approximately): lower case,
/// accents removed, trailing spaces ignored. Two values match when their normal forms are
/// equal.
pub fn normalize(value: &str) -> String {
    let v = value.trim_end_matches(' ');
    if v.is_ascii() {
        return v.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(v.len());
    for ch in v.chars() {
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

impl IceHrm {
    /// Asks for exactly the employees whose column `field` is one of `values` (matched as
    /// IceHrm matches: see [`normalize`]), [`LOOKUP_CHUNK`] values per request. Records whose
    /// `field` matches none of `values` are dropped. No values: no request, nobody.
    ///
    /// Errors when `field` is not a column, or when the first request fails (nothing usable);
    /// a later request failing makes the report incomplete (the records before it were
    /// delivered).
    pub async fn look_up(
        &self,
        field: &str,
        values: &BTreeSet<String>,
        keep: Option<&BTreeSet<String>>,
        mut sink: impl FnMut(HrRecord),
    ) -> Result<FetchReport> {
        let started = Instant::now();
        if !is_column(field) {
            return Err(SourceError::Config {
                integration: self.name.clone(),
                message: format!(
                    "cannot look employees up by {field:?}: IceHrm filters only on columns of Employees (e.g. employee_id, id, work_email), and answers 500 for anything else"
                ),
            });
        }
        let mut report = FetchReport {
            integration: self.name.clone(),
            endpoint: format!("{} (lookup)", super::GET_EMPLOYEES),
            complete: true,
            ..FetchReport::default()
        };
        let wanted: BTreeSet<String> = values.iter().map(|v| normalize(v)).collect();
        let keep: Option<BTreeSet<String>> = keep.map(|k| {
            let mut k = k.clone();
            k.insert(field.to_string());
            k
        });
        let all: Vec<String> = values
            .iter()
            .filter(|v| !v.trim().is_empty())
            .cloned()
            .collect();
        let mut dropped = 0usize;
        for (i, chunk) in all.chunks(LOOKUP_CHUNK).enumerate() {
            let mut one = self.clone();
            one.only = Some((field.to_string(), chunk.to_vec()));
            // One page per chunk (100 records is far below what IceHrm can serve).
            one.page_size = one.page_size.max(LOOKUP_CHUNK as u32);
            let res = one
                .fetch_employees_with(keep.as_ref(), |r| {
                    let hit = crate::lookup_scalar(&r.fields, field)
                        .is_some_and(|v| wanted.contains(&normalize(&v)));
                    if hit {
                        sink(HrRecord {
                            index: report.records,
                            ..r
                        });
                        report.records += 1;
                    } else {
                        dropped += 1;
                    }
                })
                .await;
            match res {
                Ok(r) => report.absorb(r),
                Err(e) if i == 0 => return Err(e),
                Err(e) => {
                    report.error.get_or_insert(e.to_string());
                }
            }
        }
        if dropped > 0 {
            report.notes.push(format!(
                "{dropped} record(s) the server returned did not match any {field} asked for; dropped"
            ));
        }
        report.complete = report.error.is_none();
        report.duration_ms = started.elapsed().as_millis() as u64;
        Ok(report)
    }
}
