//! The fields an HR endpoint's last "Test & Save" discovered (`POST
//! /api/v1/integrations/{name}/endpoints/{endpoint}/test`), kept so that the console's mapping
//! editor can offer them. Only names, JSON types and fill counts: never a value.

use crate::{Result, Store};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// One discovered field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveredField {
    /// Dotted path (`department.display`).
    pub field: String,
    /// JSON types seen (`string`, `number`, …).
    pub types: Vec<String>,
    /// Records with a non-empty value.
    pub present: u64,
}

/// What the last test of one endpoint found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovered {
    pub integration: String,
    pub endpoint: String,
    /// RFC 3339 UTC.
    pub tested_at: String,
    pub tested_by: String,
    pub records: u64,
    pub complete: bool,
    pub fields: Vec<DiscoveredField>,
}

impl Store {
    /// Keeps what a test found, replacing the endpoint's previous result.
    pub fn save_discovered(&mut self, d: &Discovered) -> Result<()> {
        let json = serde_json::to_string(&d.fields)?;
        let tx = self.write()?;
        tx.execute(
            "INSERT INTO discovered_fields (integration, endpoint, tested_at, tested_by, records, complete, fields_json)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (integration, endpoint) DO UPDATE SET tested_at = excluded.tested_at,
               tested_by = excluded.tested_by, records = excluded.records,
               complete = excluded.complete, fields_json = excluded.fields_json",
            params![
                d.integration,
                d.endpoint,
                d.tested_at,
                d.tested_by,
                i64::try_from(d.records).unwrap_or(i64::MAX),
                d.complete,
                json
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// What the last test of `endpoint` of `integration` found, if it was tested.
    pub fn discovered(&self, integration: &str, endpoint: &str) -> Result<Option<Discovered>> {
        let row = self
            .conn
            .query_row(
                "SELECT tested_at, tested_by, records, complete, fields_json FROM discovered_fields
                 WHERE integration = ?1 AND endpoint = ?2",
                params![integration, endpoint],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, bool>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                },
            )
            .optional()?;
        let Some((tested_at, tested_by, records, complete, json)) = row else {
            return Ok(None);
        };
        Ok(Some(Discovered {
            integration: integration.to_string(),
            endpoint: endpoint.to_string(),
            tested_at,
            tested_by,
            records: u64::try_from(records).unwrap_or(0),
            complete,
            fields: serde_json::from_str(&json)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_test_result_is_kept_and_replaced() {
        let mut s = Store::in_memory().unwrap();
        assert!(s.discovered("hr", "rows").unwrap().is_none());
        let mut d = Discovered {
            integration: "hr".into(),
            endpoint: "rows".into(),
            tested_at: "2026-12-03T12:00:00Z".into(),
            tested_by: "adam".into(),
            records: 2,
            complete: true,
            fields: vec![DiscoveredField {
                field: "id".into(),
                types: vec!["string".into()],
                present: 2,
            }],
        };
        s.save_discovered(&d).unwrap();
        assert_eq!(s.discovered("hr", "rows").unwrap().unwrap(), d);
        d.records = 3;
        d.fields.clear();
        s.save_discovered(&d).unwrap();
        assert_eq!(s.discovered("hr", "rows").unwrap().unwrap(), d);
        assert!(s.discovered("hr", "other").unwrap().is_none());
    }
}
