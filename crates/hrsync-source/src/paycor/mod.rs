//! Paycor connector: employees of one legal entity,
//! `GET {base}/v1/legalentities/{legalEntityId}/employees?include=All`.
//!
//! From the Paycor Public API (OpenAPI spec and clients):
//! - Two credentials on every call: `Authorization: Bearer <token>` **and**
//!   `Ocp-Apim-Subscription-Key: <key>`. 401 with a JSON message = subscription key missing or
//!   invalid; 401 with an empty body = bearer token missing/expired; 403 = the token lacks the
//!   Data Access the call needs.
//! - Continuation-token paging: `{hasMoreResults, continuationToken, additionalResultsUrl,
//!   records}`; the next page repeats the same request plus `continuationToken`. There is no
//!   page-size parameter (200 employees per page).
//! - 429 carries `Retry-After` (default budget 1000 calls/min per subscription key): waited out,
//!   at least 60 s when the header is missing, then the same page is asked again.
//! - Employees never disappear: a leaver has a separated `statusData.status`
//!   ([`SEPARATED`]); the fetch always lists every status.
//!
//! The connector is the generic REST engine ([`crate::rest`]) with Paycor's endpoints preset:
//! [`LEGAL_ENTITY_EMPLOYEES`] and the per-employee fan-out [`PERSON`]
//! (`GET /v1/employees/{employeeId}/person`, joined on the employee id), a proactive budget of
//! [`RATE_BUDGET_PER_MINUTE`] calls, and the bearer token either pasted (static) or obtained by
//! the OAuth refresh-token flow ([`crate::oauth`]). Department is the GUID in `department.id`.
//! People are looked up by employee id with `GET /v1/employees/{id}` ([`EMPLOYEE_BY_ID`]).

use crate::http::RetryPolicy;
pub use crate::paycor_hints::INCLUDE_BLOCKS;
use crate::rest::{
    Auth, Bearer, Endpoint, FanOut, Flavor, Limiter, Lookup, LookupBy, Paging, RestIntegration,
    Template,
};
use hrsync_model::Secret;
use serde_json_path::JsonPath;
use std::collections::BTreeMap;
use std::time::Duration;

/// The employees endpoint name mappings refer to.
pub const LEGAL_ENTITY_EMPLOYEES: &str = "legal_entity_employees";
/// The per-employee person endpoint (home email, phones, addresses), a fan-out. Not named
/// `person`: employee records already have a `person` field (a reference to the person).
pub const PERSON: &str = "person_data";

/// One employee by id (`{key}` = the employee GUID): the preset's lookup, used to confirm
/// that someone missing from the list has really gone.
pub const EMPLOYEE_BY_ID: &str = "/v1/employees/{key}";

/// Paycor's default budget: 1000 calls per minute per subscription key, across all APIs.
pub const RATE_BUDGET_PER_MINUTE: u32 = 1000;

/// The 13 documented `EmploymentStatus` values. Anything else (a live-validated client schema
/// also allows `Unknown`) is treated as the mapping's `unknown_status` says (default: held).
pub const STATUSES: [&str; 13] = [
    "Active",
    "Deceased",
    "LongTermDisability",
    "ShortTermDisability",
    "Fmla",
    "LaidOff",
    "LeaveWithPay",
    "LeaveWithoutPay",
    "ThirdPartyPayable",
    "Resigned",
    "Retired",
    "Terminated",
    "WorkersCompensation",
];

/// The field Paycor's status is in (with `include=All` or `Status`).
pub const STATUS_FIELD: &str = "statusData.status";

/// Paycor's separated statuses (the five that require `eligibleForRehire` on a status write).
pub const SEPARATED: [&str; 5] = ["Terminated", "Resigned", "Retired", "LaidOff", "Deceased"];

/// The default leaver expression for Paycor mappings.
pub fn default_leaver_when() -> String {
    let list: Vec<String> = SEPARATED.iter().map(|s| format!("'{s}'")).collect();
    format!("statusData.status in [{}]", list.join(", "))
}

/// What a Paycor integration is configured with.
#[derive(Debug, Clone)]
pub struct PaycorSettings {
    pub name: String,
    /// `https://apis.paycor.com` (sandbox: `https://apis-sandbox.paycor.com`).
    pub base_url: String,
    pub bearer: Bearer,
    pub subscription_key: Secret,
    pub legal_entity_id: String,
    /// Calls per minute (default [`RATE_BUDGET_PER_MINUTE`]).
    pub rate_limit_per_minute: Option<u32>,
    pub concurrency: usize,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// The most one answer may be, in bytes (`max_page_mb`).
    pub max_page_bytes: u64,
    /// The `include` blocks of the employee list and lookup (default `["All"]`).
    pub include: Vec<String>,
}

fn path(p: &str) -> Option<JsonPath> {
    JsonPath::parse(p).ok()
}

/// The preset's `include` of the employee list and lookup.
pub const DEFAULT_INCLUDE: &str = "All";

/// Paycor's preset endpoints with the default `include` ([`DEFAULT_INCLUDE`]).
pub fn preset_endpoints() -> Vec<Endpoint> {
    preset_endpoints_with(&[DEFAULT_INCLUDE.to_string()])
}

/// Paycor's preset endpoints, the employee list and lookup asking for the `include` blocks
/// given (the integration's `include`). Custom endpoints are appended by the caller.
pub fn preset_endpoints_with(include: &[String]) -> Vec<Endpoint> {
    let t = |s: &str| Template::parse(s).unwrap_or_else(|_| Template::literal(s));
    let include_all: Vec<(String, Template)> = include
        .iter()
        .map(|b| ("include".to_string(), Template::literal(b)))
        .collect();
    // Least privilege: the person blocks a directory needs, never the SSN or demographics.
    let person_blocks = ["Email", "Phones", "Addresses"]
        .map(|b| ("include".to_string(), t(b)))
        .to_vec();
    let mut out = Vec::new();
    if let (Some(next), Some(more), Some(records)) = (
        path("$.continuationToken"),
        path("$.hasMoreResults"),
        path("$.records[*]"),
    ) {
        out.push(Endpoint {
            name: LEGAL_ENTITY_EMPLOYEES.into(),
            method: reqwest::Method::GET,
            url: t("/v1/legalentities/{legalEntityId}/employees"),
            headers: Vec::new(),
            query: include_all.clone(),
            body: None,
            records: Some(records),
            records_src: Some("$.records[*]".into()),
            fields: Vec::new(),
            key: "id".into(),
            // The next page repeats the same request plus the token.
            paging: Paging::Cursor {
                param: Some("continuationToken".into()),
                next,
                has_more: Some(more),
                size_param: None,
                size: None,
            },
            for_each: None,
            // Confirming leavers: `GET /v1/employees/{employeeId}?include=All` answers the
            // same record as the list (404 = no such employee).
            lookup: Some(Lookup {
                field: "id".into(),
                by: LookupBy::PerKey {
                    url: t(EMPLOYEE_BY_ID),
                    query: include_all.clone(),
                    records: None,
                    records_src: None,
                },
            }),
        });
    }
    out.push(Endpoint {
        name: PERSON.into(),
        method: reqwest::Method::GET,
        url: t("/v1/employees/{employeeId}/person"),
        headers: Vec::new(),
        query: person_blocks,
        body: None,
        records: None,
        records_src: None,
        fields: Vec::new(),
        key: "id".into(),
        paging: Paging::None,
        for_each: Some(FanOut {
            endpoint: LEGAL_ENTITY_EMPLOYEES.into(),
            field: "id".into(),
            macro_name: "employeeId".into(),
        }),
        lookup: None,
    });
    out
}

/// A Paycor integration as a REST integration with the preset endpoints.
/// The rate limiter of a Paycor subscription key: `rate_limit_per_minute`, default
/// [`RATE_BUDGET_PER_MINUTE`]. The fetches and the webhooks that borrow the integration build
/// it here (and share one instance).
pub fn limiter(rate_limit_per_minute: Option<u32>) -> Option<Limiter> {
    Limiter::per_minute(rate_limit_per_minute.unwrap_or(RATE_BUDGET_PER_MINUTE))
}

pub fn integration(s: PaycorSettings, custom: Vec<Endpoint>) -> RestIntegration {
    let mut endpoints = if s.include.is_empty() {
        preset_endpoints()
    } else {
        preset_endpoints_with(&s.include)
    };
    endpoints.extend(custom);
    RestIntegration {
        name: s.name,
        base_url: s.base_url,
        auth: Auth {
            bearer: s.bearer,
            headers: vec![("Ocp-Apim-Subscription-Key".into(), s.subscription_key)],
        },
        macros: BTreeMap::from([("legalEntityId".to_string(), s.legal_entity_id)]),
        endpoints,
        concurrency: s.concurrency,
        timeout: s.timeout,
        retry: s.retry,
        flavor: Flavor::Paycor,
        limiter: limiter(s.rate_limit_per_minute),
        last_run_time: None,
        max_pages: 100_000,
        max_page_bytes: s.max_page_bytes,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn presets_parse_and_leavers_cover_separated_statuses() {
        let eps = preset_endpoints();
        assert_eq!(
            eps.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
            [LEGAL_ENTITY_EMPLOYEES, PERSON]
        );
        assert!(eps[0].url.uses("legalEntityId") && eps[1].url.uses("employeeId"));
        assert!(default_leaver_when().contains("'LaidOff'"));
        let eps = preset_endpoints_with(&["Status".into(), "Position".into()]);
        assert_eq!(eps[0].query.len(), 2);
    }
}
