//! HR sources: each connector fetches people from one HR system and hands over
//! [`HrRecord`](hrsync_model::HrRecord)s plus a [`FetchReport`](hrsync_model::FetchReport) that says
//! whether the fetch was complete. A connector never decides who left: it only reports what it got.
//!
//! - [`icehrm`]: IceHrm's REST API (`GET {base}/employees`), built against real v35 captures.
//! - [`csv`]: an HR export file (header row, delimiter, UTF-8 or Latin-1).
//! - [`Source`]: the one type the engine calls, whatever the kind.
//! - [`http`]: shared HTTP concerns (client, retries with backoff on 5xx/timeouts, error bodies).

pub mod csv;
pub mod http;
pub mod icehrm;
pub mod paycor;
pub mod profile;

use hrsync_model::{FetchReport, HrRecord};
use std::collections::BTreeSet;

/// A configured HR source of any kind.
#[derive(Debug, Clone)]
pub enum Source {
    IceHrm(icehrm::IceHrm),
    Paycor(paycor::Paycor),
    Csv(csv::Csv),
}

impl Source {
    pub fn name(&self) -> &str {
        match self {
            Source::IceHrm(s) => &s.name,
            Source::Paycor(s) => &s.name,
            Source::Csv(s) => &s.name,
        }
    }

    /// The request(s) a fetch makes, for display: secrets shown as `[redacted]`.
    pub fn describe_request(&self) -> String {
        match self {
            Source::IceHrm(s) => format!(
                "GET {}/employees?limit={}&page=1..N&sortField=id&sortOrder=ascend\nAuthorization: Bearer [redacted]",
                s.base_url.trim_end_matches('/'),
                s.page_size
            ),
            Source::Paycor(s) => format!(
                "GET {}/v1/legalentities/{}/employees?include=All[&continuationToken=…]\nAuthorization: Bearer [redacted]\nOcp-Apim-Subscription-Key: [redacted]",
                s.base_url.trim_end_matches('/'),
                s.legal_entity_id
            ),
            Source::Csv(s) => format!(
                "read {} (delimiter {:?}, {:?})",
                s.path.display(),
                char::from(s.delimiter),
                s.encoding
            ),
        }
    }

    /// Fetches every record, handing each to `sink` as it arrives; see the kinds' docs.
    pub async fn fetch_with(
        &self,
        keep: Option<&BTreeSet<String>>,
        sink: impl FnMut(HrRecord),
    ) -> Result<FetchReport> {
        match self {
            Source::IceHrm(s) => s.fetch_employees_with(keep, sink).await,
            Source::Paycor(s) => s.fetch_with(keep, sink).await,
            Source::Csv(s) => s.fetch_with(keep, sink),
        }
    }
}

/// What a fetch produced. `report.complete` is false when some page never arrived; the
/// records that did arrive are still here.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub records: Vec<HrRecord>,
    pub report: FetchReport,
}

/// A fetch that produced nothing usable. Never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "integration {integration}: authorization failed (HTTP {status}: {message}); check the token (it is read from the configured env var or file)"
    )]
    Auth {
        integration: String,
        status: u16,
        message: String,
    },
    #[error("integration {integration}: {endpoint}: {message}")]
    Failed {
        integration: String,
        endpoint: String,
        message: String,
    },
    #[error("integration {integration}: invalid configuration: {message}")]
    Config {
        integration: String,
        message: String,
    },
}

pub type Result<T> = std::result::Result<T, SourceError>;
