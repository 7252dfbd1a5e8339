//! `hrsync check [--online]`.

use anyhow::Result;
use hrsync_config::Config;
use std::path::Path;

/// Validates the configuration; with `online`, also tests the directory and HR for real.
pub async fn run(path: &Path, online: bool, json: bool) -> Result<i32> {
    let cfg = Config::load(path)?;
    // The same checks as every configuration edit of the API.
    let checked = hrsync_server::validate::offline(&cfg)?;
    let lines = checked.lines;
    let mut warnings = hrsync_engine::check::offline_warnings(&cfg);
    // Notification channels: the mail password resolves; certificates about to expire.
    if !cfg.raw.notify.is_empty() {
        warnings.extend(hrsync_engine::notify::check_warnings(
            &cfg,
            chrono::Utc::now(),
        ));
    }
    // The mapping's test cases (`hrsync test`): a failing one fails the check.
    let tests = checked.tests;
    if !tests.cases.is_empty() && !json {
        print!("{}", super::mapping_test::render(&tests, false));
    }
    let tests_code = if tests.ok() { 0 } else { 1 };
    if !online {
        if json {
            println!(
                "{}",
                serde_json::json!({"valid": tests.ok(), "checked": lines, "warnings": warnings, "tests": tests})
            );
        } else {
            for l in &lines {
                println!("{l}");
            }
            for w in &warnings {
                println!("warning: {w}");
            }
            if tests.ok() {
                println!(
                    "{}: configuration is valid (offline; `--online` also tests the directory and HR)",
                    path.display()
                );
            } else {
                println!(
                    "{}: {} mapping test case(s) failed (see above; `hrsync test` runs them alone)",
                    path.display(),
                    tests.failed
                );
            }
        }
        return Ok(tests_code);
    }
    let report = hrsync_engine::check::online(&cfg).await?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "valid": report.problems.is_empty() && tests.ok(),
                "tests": tests,
                "checked": lines.iter().chain(&report.ok).collect::<Vec<_>>(),
                "warnings": warnings,
                "online_warnings": report.warnings,
                "problems": report.problems,
            })
        );
    } else {
        for l in lines.iter().chain(&report.ok) {
            println!("{l}");
        }
        for w in &warnings {
            println!("warning: {w}");
        }
        for w in &report.warnings {
            println!(
                "warning: [{}] {}: {}: {}",
                w.mapping, w.side, w.key, w.message
            );
        }
        for p in &report.problems {
            println!(
                "PROBLEM [{}] {}: {}: {}",
                p.mapping, p.side, p.key, p.message
            );
        }
        if report.problems.is_empty() {
            println!(
                "{}: configuration is valid; the directory and HR answered as configured (nothing was written)",
                path.display()
            );
        } else {
            println!(
                "{}: {} problem(s) found online (nothing was written)",
                path.display(),
                report.problems.len()
            );
        }
    }
    Ok(if report.problems.is_empty() {
        tests_code
    } else {
        1
    })
}
