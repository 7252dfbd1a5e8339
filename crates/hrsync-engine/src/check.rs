//! `hrsync check --online`: the directory's and HR's "Test & Save". Binds with the configured
//! credentials, checks that the DNs the config names exist (base, users OU, disabled OU,
//! groups and group bases), calls each mapping's HR source for one page and compares every
//! field the formats read with the fields that came back. Writes nothing.

use hrsync_config::{Config, Job};
use hrsync_directory::Directory;
use hrsync_source::profile::Profile;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Duration;

/// How many HR records an online check reads at most (about one page).
pub const SAMPLE: usize = 100;
/// How long an online check waits for HR.
pub const HR_DEADLINE: Duration = Duration::from_secs(60);

/// One finding of an online check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Problem {
    pub mapping: String,
    /// `directory` or `hr`.
    pub side: &'static str,
    /// The config key concerned.
    pub key: String,
    pub message: String,
}

/// What an online check saw.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Online {
    /// Lines saying what was verified (for the operator).
    pub ok: Vec<String>,
    /// Worth a look, not wrong (a field empty in every record read).
    pub warnings: Vec<Problem>,
    pub problems: Vec<Problem>,
}

/// Runs the online checks for every mapping of `cfg`.
pub async fn online(cfg: &Config) -> Result<Online, hrsync_config::ConfigError> {
    let mut out = Online::default();
    for name in cfg.mapping_names() {
        let job = cfg.job(&name)?;
        directory(&name, &job, &mut out).await;
        hr(&name, &job, &mut out).await;
    }
    Ok(out)
}

async fn directory(mapping: &str, job: &Job, out: &mut Online) {
    let d = &job.directory;
    let problem = |key: &str, message: String| Problem {
        mapping: mapping.to_string(),
        side: "directory",
        key: key.to_string(),
        message,
    };
    let dir = match Directory::connect(d.clone()).await {
        Ok(dir) => dir,
        Err(e) => {
            out.problems.push(problem("directory", e.to_string()));
            return;
        }
    };
    out.ok.push(format!(
        "mapping {mapping:?}: bound to {} as {}{}",
        d.url,
        d.bind_dn,
        if d.url.starts_with("ldaps://") || d.starttls {
            " (TLS verified)"
        } else {
            ""
        }
    ));
    let mut dns: Vec<(String, String)> = vec![
        ("directory.base_dn".into(), d.base_dn.clone()),
        ("directory.users_ou".into(), d.users_ou.clone()),
    ];
    if let Some(ou) = &job.disabled_ou {
        dns.push(("lifecycle.disabled_ou".into(), ou.clone()));
    }
    for g in &job.managed_groups {
        dns.push((format!("mapping {mapping:?} group dn"), g.clone()));
    }
    for g in &job.managed_group_bases {
        dns.push((format!("mapping {mapping:?} group under"), g.clone()));
    }
    for (key, dn) in dns {
        match dir.exists(&dn).await {
            Ok(true) => out
                .ok
                .push(format!("mapping {mapping:?}: {key} {dn} exists")),
            Ok(false) => out.problems.push(problem(
                &key,
                format!("{dn} does not exist in the directory; create it or fix {key}"),
            )),
            Err(e) => out.problems.push(problem(&key, e.to_string())),
        }
    }
    dir.close().await;
}

async fn hr(mapping: &str, job: &Job, out: &mut Online) {
    let problem = |key: String, message: String| Problem {
        mapping: mapping.to_string(),
        side: "hr",
        key,
        message,
    };
    let profile = RefCell::new(Profile::default());
    let records = RefCell::new(Vec::new());
    let enough = tokio::sync::Notify::new();
    let fetch = job.source.fetch_with(None, |rec| {
        profile.borrow_mut().add(&rec.fields);
        let mut r = records.borrow_mut();
        if r.len() < SAMPLE {
            r.push(rec);
        }
        if r.len() >= SAMPLE {
            enough.notify_one();
        }
    });
    let res = tokio::select! {
        r = tokio::time::timeout(HR_DEADLINE, fetch) => match r {
            Ok(Ok(report)) if report.complete || report.records > 0 => Ok(()),
            Ok(Ok(report)) => Err(report.error.unwrap_or_else(|| "no record arrived".into())),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("HR did not answer within {} s", HR_DEADLINE.as_secs())),
        },
        () = enough.notified() => Ok(()),
    };
    let integration = format!("integration {:?}", job.source.name());
    if let Err(e) = res {
        out.problems.push(problem(integration, e));
        return;
    }
    let records = records.into_inner();
    let profile = profile.into_inner();
    if records.is_empty() {
        out.problems.push(problem(
            integration,
            "HR returned no records, so the fields the mapping reads cannot be checked".into(),
        ));
        return;
    }
    out.ok.push(format!(
        "mapping {mapping:?}: {} answered ({} record(s) read, {} field(s))",
        job.source.name(),
        records.len(),
        profile.fields.len()
    ));
    let known: BTreeSet<&str> = profile.fields.keys().map(String::as_str).collect();
    for (path, attrs) in job.mapping.read_fields() {
        let carried = records
            .iter()
            .any(|r| hrsync_model::record::lookup(&r.fields, &path).is_some_and(|v| !v.is_null()));
        if carried {
            continue;
        }
        let closest = known
            .iter()
            .map(|k| (strsim::damerau_levenshtein(&path, k), *k))
            .min()
            .filter(|(d, _)| *d <= path.len().max(3) / 2)
            .map(|(_, k)| format!(" (closest field HR returns: `{k}`)"))
            .unwrap_or_default();
        let (what, list) = if known.contains(path.as_str()) {
            ("is empty in every record read", &mut out.warnings)
        } else {
            ("is in no record HR returned", &mut out.problems)
        };
        list.push(problem(
            format!(
                "mapping {mapping:?} attribute(s) {}",
                attrs.into_iter().collect::<Vec<_>>().join(", ")
            ),
            format!("field `{path}` {what} ({} read){closest}", records.len()),
        ));
    }
}

/// What an offline check can tell that is not wrong but likely a mistake: a webhook that
/// writes an HR field a mapping of the same integration reads (each write-back changes the
/// next sync's input: a loop that updates every new hire twice).
pub fn offline_warnings(cfg: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for w in &cfg.raw.webhooks {
        let Some(integration) = w.auth.as_deref() else {
            continue;
        };
        if !matches!(
            w.method.to_ascii_uppercase().as_str(),
            "POST" | "PUT" | "PATCH"
        ) {
            continue;
        }
        let written = body_fields(w.body.as_deref().unwrap_or_default());
        for m in cfg
            .raw
            .mappings
            .iter()
            .filter(|m| m.integration == integration)
        {
            let Ok(job) = cfg.job(&m.name) else { continue };
            let read = job.mapping.read_fields();
            for f in &written {
                let hit = read.iter().find(|(path, _)| {
                    path.split('.')
                        .next()
                        .is_some_and(|top| top.eq_ignore_ascii_case(f))
                });
                if let Some((path, attrs)) = hit {
                    out.push(format!(
                        "webhook {:?} writes HR field `{f}` back to integration {integration:?}, and mapping {:?} reads `{path}` (for {}): every write-back changes the next sync's input (a loop); write a field the mapping does not read, or map the attribute from what the webhook writes",
                        w.name,
                        m.name,
                        attrs.iter().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
    }
    // An OAuth integration without tokens yet: every run would fail until it is authorized.
    for (i, it) in cfg.raw.integrations.iter().enumerate() {
        let Ok(Some(o)) = cfg.oauth_settings(i, it) else {
            continue;
        };
        if o.initial_refresh_token.is_none() && !o.store.exists() {
            out.push(format!(
                "integration {:?} has no OAuth tokens yet (no store {} and no refresh_token): run `hrsync oauth authorize -c <config> {}` once",
                it.name,
                o.store.display(),
                it.name
            ));
        }
    }
    out
}

/// Top-level field names a webhook body sets (JSON object keys, or form `a=…&b=…` names).
fn body_fields(body: &str) -> Vec<String> {
    let t = body.trim();
    if t.starts_with('{') {
        // Macros sit inside JSON strings, so the body parses as it is.
        return serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(t)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
    }
    if t.starts_with('<') {
        return Vec::new();
    }
    t.split('&')
        .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.trim().to_string()))
        .filter(|k| !k.is_empty())
        .collect()
}
