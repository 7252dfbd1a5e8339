//! A webhook called for real for chosen people (`hrsync webhook test`, `POST
//! /api/v1/webhooks/{name}/test`): the "Test & Save" of a webhook. Each call is recorded as a
//! delivery, like the daemon's.

use crate::orchestrate::{compile_hooks, hr_record, macro_values};
use anyhow::bail;
use chrono::Utc;
use hrsync_config::Config;
use hrsync_state::Store;

/// One person's call.
#[derive(Debug, serde::Serialize)]
pub struct WebhookTest {
    /// The person's HR primary key.
    pub user: String,
    /// What was missing (no account: `user.*` empty; not in HR: `hr.*` empty).
    pub notes: Vec<String>,
    /// The request (secrets redacted) and the response.
    pub delivery: hrsync_webhook::Delivery,
}

/// Drops repeated keys, keeping the first of each.
pub fn once_each(mut users: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    users.retain(|u| seen.insert(u.clone()));
    users
}

/// Calls webhook `name` for each of `users` (HR keys) and every keyed member of `groups`
/// (DNs), each once, with the accounts and HR records of `mapping`.
pub async fn test(
    cfg: &Config,
    name: &str,
    mapping: &str,
    mut users: Vec<String>,
    groups: &[String],
) -> anyhow::Result<Vec<WebhookTest>> {
    let hooks = compile_hooks(cfg)?;
    let Some(hook) = hooks.get(name) else {
        bail!(
            "no [[webhook]] named {name:?}; there are {:?}",
            hooks.keys().collect::<Vec<_>>()
        );
    };
    let job = cfg.job(mapping)?;
    let dir = hrsync_directory::Directory::connect(job.directory.clone()).await?;
    for g in groups {
        users.extend(dir.group_member_keys(g).await?);
    }
    let users = once_each(users);
    let client = hrsync_webhook::client()?;
    let mut store = Store::open(&cfg.state_path())?;
    let mut out = Vec::new();
    for key in &users {
        let mut notes = Vec::new();
        let entry = dir
            .find_by(&job.directory.key_attribute, key)
            .await?
            .into_iter()
            .next();
        let hr = match hr_record(&job, key).await {
            Ok(Some(rec)) => Some(rec),
            Ok(None) => {
                notes.push(format!("{key} is not in HR; hr.* macros are empty"));
                None
            }
            Err(e) => {
                notes.push(e.to_string());
                None
            }
        };
        if entry.is_none() {
            notes.push(format!(
                "no account with {} = {key}; user.* macros are empty",
                job.directory.key_attribute
            ));
        }
        let values = macro_values(key, "test", entry.as_ref(), hr);
        let d = hrsync_engine::orchestrate::call(&client, hook, &values, None).await;
        store.record_delivery(
            name,
            Some(key),
            None,
            d.ok,
            d.status,
            d.attempts,
            d.duration_ms,
            &serde_json::to_value(&d)?,
            Utc::now(),
        )?;
        out.push(WebhookTest {
            user: key.clone(),
            notes,
            delivery: d,
        });
    }
    dir.close().await;
    Ok(out)
}
