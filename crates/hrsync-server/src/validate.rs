//! What `hrsync check` checks without a network, as a library: the CLI's `check` and every
//! configuration edit of the API run this same code before anything is written.

use crate::orchestrate::compile_hooks;
use anyhow::Context;
use hrsync_config::Config;
use std::path::Path;

/// What an offline check found: one line per part checked, and the mapping test cases.
pub struct Offline {
    pub lines: Vec<String>,
    pub tests: hrsync_engine::mapping_tests::Report,
}

/// Checks a loaded configuration: every mapping's job and HR source, the state database's
/// path, event secrets, webhooks, notification channels, and the mapping test cases (run;
/// their failures are in `tests`).
pub fn offline(cfg: &Config) -> anyhow::Result<Offline> {
    let path = &cfg.path;
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
    let hooks = compile_hooks(cfg)?;
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
    // Notification channels: the mail password resolves.
    if !cfg.raw.notify.is_empty() {
        for (i, n) in cfg.raw.notify.iter().enumerate() {
            if n.kind == "email" {
                cfg.email_channel(i)?;
            }
        }
        lines.push(format!("notify: {} channel(s) ok", cfg.raw.notify.len()));
    }
    let tests = hrsync_engine::mapping_tests::run(cfg)?;
    Ok(Offline { lines, tests })
}

/// A configuration text as if saved at `path`: loads, passes [`offline`], and its mapping
/// test cases pass. The errors name the config key, as `check` does.
pub fn text(path: &Path, text: &str) -> Result<(), Vec<String>> {
    let cfg = Config::parse(path, text.to_string()).map_err(|e| vec![e.to_string()])?;
    let checked = offline(&cfg).map_err(|e| vec![format!("{e:#}")])?;
    if !checked.tests.ok() {
        return Err(checked
            .tests
            .cases
            .iter()
            .filter(|c| !c.passed)
            .map(|c| match &c.error {
                Some(e) => format!("mapping[{}]: test case {:?} cannot run: {e}", c.mapping, c.name),
                None => format!(
                    "mapping[{}]: test case {:?} fails ({} attribute(s) differ; `hrsync test` shows them)",
                    c.mapping,
                    c.name,
                    c.mismatches.len()
                ),
            })
            .collect());
    }
    Ok(())
}
