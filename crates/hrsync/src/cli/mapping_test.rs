//! `hrsync test`: the mapping's test cases (see `hrsync_engine::mapping_tests`), and `--record KEY`
//! to snapshot a real person into a new case.

use anyhow::{Context, Result, bail};
use hrsync_config::Config;
use hrsync_engine::mapping_tests::{self, Report};
use std::fmt::Write as _;
use std::path::Path;

/// Runs every case; exit code 1 when one fails.
pub fn run(config: &Path, json: bool) -> Result<i32> {
    let cfg = Config::load(config)?;
    let report = mapping_tests::run(&cfg)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report, true));
        if report.cases.is_empty() {
            println!(
                "no test cases: add [[test]] to {} or files to {}",
                config.display(),
                mapping_tests::tests_dir(&cfg).display()
            );
        }
    }
    Ok(if report.ok() { 0 } else { 1 })
}

/// The report as text: each failure with its differences, then the count. `passes`: also a
/// line per passed case.
pub fn render(report: &Report, passes: bool) -> String {
    let mut out = String::new();
    for c in &report.cases {
        if c.passed {
            if passes {
                let _ = writeln!(out, "ok    {} ({})", c.name, c.source);
            }
            continue;
        }
        let _ = writeln!(
            out,
            "FAIL  {} ({}, mapping {:?})",
            c.name, c.source, c.mapping
        );
        if let Some(e) = &c.error {
            let _ = writeln!(out, "      cannot run: {e}");
        }
        for m in &c.mismatches {
            let _ = writeln!(out, "      {}:", m.what);
            let _ = writeln!(out, "        expected: {}", m.expected);
            let _ = writeln!(out, "        actual:   {}", m.actual);
            if let Some(b) = &m.because {
                let _ = writeln!(out, "        from:     {b}");
            }
        }
    }
    let _ = writeln!(
        out,
        "{} test case(s): {} passed, {} failed{}",
        report.cases.len(),
        report.passed,
        report.failed,
        if report.skipped_other_mappings > 0 {
            format!(
                " ({} in tests/ are for mappings this configuration does not have)",
                report.skipped_other_mappings
            )
        } else {
            String::new()
        }
    );
    out
}

/// `hrsync test --record KEY [--write]`: fetches the person, and prints (or writes to
/// `tests/<key>.json`) a case with their record, sensitive fields masked, and what the mapping
/// makes of it today as the expectations.
pub async fn snapshot(
    config: &Path,
    mapping: Option<String>,
    key: &str,
    write: bool,
) -> Result<i32> {
    let cfg = Config::load(config)?;
    let mapping = crate::one_mapping(&cfg, mapping)?;
    let job = cfg.job(&mapping)?;
    let fetched = hrsync_engine::person::fetch(&job, key)
        .await
        .with_context(|| format!("fetching {key:?} from HR"))?;
    let Some(fields) = fetched.masked_fields() else {
        bail!(
            "HR has nobody with {} = {key:?} (mapping {mapping:?}){}",
            job.mapping.spec().primary_key,
            if fetched.report.complete {
                ""
            } else {
                "; the fetch was incomplete, try again"
            }
        );
    };
    let runner = mapping_tests::Runner::new(&cfg, &mapping)?;
    let today = chrono::Utc::now().date_naive();
    let case = mapping_tests::snapshot(&runner, key, &mapping, &fields, today);
    let text = serde_json::to_string_pretty(&case)? + "\n";
    if !write {
        print!("{text}");
        return Ok(0);
    }
    let dir = mapping_tests::tests_dir(&cfg);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let file: String = key
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = dir.join(format!("{}.json", file.trim_start_matches('.')));
    // Never over an existing case (the operator may have edited it).
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| {
            format!(
                "cannot create {} (a case for this person exists? remove or rename it)",
                path.display()
            )
        })?;
    std::io::Write::write_all(&mut f, text.as_bytes())?;
    println!(
        "wrote {} (sensitive fields masked; the expectations are what the mapping makes of the record today: review them)",
        path.display()
    );
    Ok(0)
}
