//! CSV source: an HR export file with a header row. Each row becomes one record whose fields
//! are the header names; empty cells are null (so optional attributes are left out and required
//! ones become findings, exactly as for an API source).
//!
//! A row that cannot be read (wrong number of cells, bad quoting, undecodable bytes) is not
//! silently dropped: the fetch is reported incomplete with the line number, so nobody is
//! treated as a leaver because of a broken export; the readable rows still sync.

use crate::{Result, SourceError};
use hrsync_model::{FetchReport, HrRecord};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

/// The endpoint name mappings refer to.
pub const ROWS: &str = "rows";

/// Text encoding of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    /// ISO-8859-1: every byte is the code point of the same number (old HR exports).
    Latin1,
}

/// A resolved CSV integration.
#[derive(Debug, Clone)]
pub struct Csv {
    pub name: String,
    pub path: PathBuf,
    pub delimiter: u8,
    pub encoding: Encoding,
}

impl Csv {
    fn failed(&self, message: impl Into<String>) -> SourceError {
        SourceError::Failed {
            integration: self.name.clone(),
            endpoint: ROWS.into(),
            message: message.into(),
        }
    }

    /// Reads every row, handing each record to `sink`. Errors only when the file cannot be read
    /// at all or has no usable header.
    pub fn fetch_with(
        &self,
        keep: Option<&BTreeSet<String>>,
        mut sink: impl FnMut(HrRecord),
    ) -> Result<FetchReport> {
        let started = Instant::now();
        let bytes = std::fs::read(&self.path)
            .map_err(|e| self.failed(format!("cannot read {}: {e}", self.path.display())))?;
        let text = match self.encoding {
            Encoding::Utf8 => String::from_utf8(bytes).map_err(|e| {
                self.failed(format!(
                    "{} is not valid UTF-8 (byte {}); set encoding = \"latin-1\" if the export is ISO-8859-1",
                    self.path.display(),
                    e.utf8_error().valid_up_to()
                ))
            })?,
            Encoding::Latin1 => bytes.iter().map(|&b| char::from(b)).collect(),
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(self.delimiter)
            .has_headers(true)
            .flexible(false)
            .from_reader(text.as_bytes());
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| {
                self.failed(format!(
                    "{}: cannot read the header row: {e}",
                    self.path.display()
                ))
            })?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        if headers.iter().all(String::is_empty) {
            return Err(self.failed(format!("{}: the header row is empty", self.path.display())));
        }
        let file = self
            .path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string());
        let mut report = FetchReport {
            integration: self.name.clone(),
            endpoint: ROWS.into(),
            pages: 1,
            ..FetchReport::default()
        };
        let mut bad: Vec<String> = Vec::new();
        for row in reader.records() {
            let row = match row {
                Ok(r) => r,
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(0);
                    bad.push(format!("line {line}: {e}"));
                    continue;
                }
            };
            let line = row.position().map(|p| p.line()).unwrap_or(0);
            let mut fields = Map::new();
            for (h, v) in headers.iter().zip(row.iter()) {
                if keep.is_some_and(|k| !k.contains(h)) {
                    continue;
                }
                let v = v.trim();
                fields.insert(
                    h.clone(),
                    if v.is_empty() {
                        Value::Null
                    } else {
                        Value::String(v.to_string())
                    },
                );
            }
            sink(HrRecord {
                index: report.records,
                source_id: Some(format!("{file}:{line}")),
                fields,
                problems: Vec::new(),
            });
            report.records += 1;
        }
        if !bad.is_empty() {
            report.error = Some(format!(
                "{} row(s) of {} could not be read ({}); fix the export",
                bad.len(),
                file,
                bad.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
            ));
        }
        report.complete = bad.is_empty();
        report.duration_ms = started.elapsed().as_millis() as u64;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn csv(
        name: &str,
        content: &[u8],
        delimiter: u8,
        encoding: Encoding,
    ) -> (tempfile::TempDir, Csv) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        (
            dir,
            Csv {
                name: "export".into(),
                path,
                delimiter,
                encoding,
            },
        )
    }

    #[test]
    fn rows_become_records_with_nulls_for_empty_cells() {
        let (_d, c) = csv("e.csv", "\u{feff}employee_id,first_name,last_name,mail\nE1,Zoë,\"O'Brien, Jr.\",z@x\nE2,Ana,Lima,\n".as_bytes(), b',', Encoding::Utf8);
        let mut out = Vec::new();
        let r = c.fetch_with(None, |x| out.push(x)).unwrap();
        assert!(r.complete);
        assert_eq!(r.records, 2);
        assert_eq!(out[0].fields["last_name"], "O'Brien, Jr.");
        assert_eq!(out[0].fields["first_name"], "Zoë");
        assert!(out[1].fields["mail"].is_null());
        assert_eq!(out[1].source_id.as_deref(), Some("e.csv:3"));
    }

    #[test]
    fn latin1_and_semicolons() {
        let (_d, c) = csv("l.csv", b"id;name\n1;M\xfcller\n", b';', Encoding::Latin1);
        let mut out = Vec::new();
        c.fetch_with(None, |x| out.push(x)).unwrap();
        assert_eq!(out[0].fields["name"], "Müller");
        // the same bytes as UTF-8 are refused with a hint
        let (_d, c) = csv("l.csv", b"id;name\n1;M\xfcller\n", b';', Encoding::Utf8);
        let e = c.fetch_with(None, |_| {}).unwrap_err().to_string();
        assert!(e.contains("latin-1"), "{e}");
    }

    #[test]
    fn a_broken_row_makes_the_fetch_incomplete_and_names_the_line() {
        let (_d, c) = csv(
            "b.csv",
            b"id,name\n1,A\n2,B,extra\n3,C\n",
            b',',
            Encoding::Utf8,
        );
        let mut out = Vec::new();
        let r = c.fetch_with(None, |x| out.push(x)).unwrap();
        assert!(!r.complete);
        assert!(
            r.error.as_deref().unwrap().contains("line 3"),
            "{:?}",
            r.error
        );
        assert_eq!(out.len(), 2, "the readable rows still come through");
    }

    #[test]
    fn projection_keeps_only_wanted_columns() {
        let (_d, c) = csv("p.csv", b"id,name,ssn\n1,A,123\n", b',', Encoding::Utf8);
        let keep: BTreeSet<String> = ["name".to_string()].into();
        let mut out = Vec::new();
        c.fetch_with(Some(&keep), |x| out.push(x)).unwrap();
        assert_eq!(out[0].fields.keys().collect::<Vec<_>>(), vec!["name"]);
    }
}
