//! `hrsync check [--online]`.

use anyhow::{Context, Result};
use hrsync_config::Config;
use std::path::Path;

/// Validates the configuration; with `online`, also tests the directory and HR for real.
pub async fn run(path: &Path, online: bool, json: bool) -> Result<i32> {
    let cfg = Config::load(path)?;
    let mut lines = Vec::new();
    for name in cfg.mapping_names() {
        let job = cfg.job(&name)?;
        // What the HR side can tell without a request: credentials in base_url (they would
        // replace the configured token), an IceHrm token that is not the "Api Access" JWT.
        job.source
            .check()
            .with_context(|| format!("{}: mapping {name:?}", path.display()))?;
        lines.push(format!(
            "mapping {name:?} ({}{}): {} -> {} ok; reads HR fields {:?}",
            job.category,
            if job.actions.is_all() {
                String::new()
            } else {
                format!("; actions: {}", job.actions)
            },
            job.source.name(),
            job.directory.label(),
            job.mapping.referenced_fields()
        ));
    }
    // The state database: a directory, or a file that is not hrsync's database, is refused.
    hrsync_state::Store::check_path(&cfg.state_path())
        .with_context(|| format!("{}: [state].path", path.display()))?;
    // The daemon's parts: event secrets resolve, webhooks compile with their credentials.
    let events = cfg.event_endpoints()?;
    let hooks = hrsync_server::orchestrate::compile_hooks(&cfg)?;
    if !cfg.raw.automations.is_empty() || !events.is_empty() || !hooks.is_empty() {
        lines.push(format!(
            "service: {} automation(s), {} event endpoint(s), {} webhook(s), {} orchestration(s) ok",
            cfg.raw.automations.len(),
            events.len(),
            hooks.len(),
            cfg.raw.orchestrations.len()
        ));
    }
    // [server.auth]: the search account's password resolves, the CA file is there.
    if let Some(a) = cfg.auth_settings()? {
        let g = &a.directory.groups;
        lines.push(format!(
            "server.auth: sign-in at {} as {} under {}; groups: {} viewer, {} operator, {} admin; break-glass {}",
            a.directory.url,
            a.directory.user_attribute,
            a.directory.user_base,
            g.viewer.len(),
            g.operator.len(),
            g.admin.len(),
            if a.break_glass.is_some() { "on" } else { "off" }
        ));
    }
    if let Some(t) = cfg.server_tls() {
        lines.push(format!(
            "server.tls: {} and {} (read when hrsync serve starts)",
            t.cert.display(),
            t.key.display()
        ));
    }
    let mut warnings = hrsync_engine::check::offline_warnings(&cfg);
    // Notification channels: the mail password resolves; certificates about to expire.
    if !cfg.raw.notify.is_empty() {
        for (i, n) in cfg.raw.notify.iter().enumerate() {
            if n.kind == "email" {
                cfg.email_channel(i)?;
            }
        }
        lines.push(format!("notify: {} channel(s) ok", cfg.raw.notify.len()));
        warnings.extend(hrsync_engine::notify::check_warnings(
            &cfg,
            chrono::Utc::now(),
        ));
    }
    // The mapping's test cases (`hrsync test`): a failing one fails the check.
    let tests = hrsync_engine::mapping_tests::run(&cfg)?;
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
