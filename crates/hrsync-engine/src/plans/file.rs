//! A saved plan as a JSON file (`hrsync plan --out FILE.json`, `hrsync apply --plan-file`),
//! for change tickets: the plan, each change's assumptions, and the fingerprint of the
//! configuration it was made with. Written mode 0600 (it holds HR values).

use super::{PlanError, SavedPlan};
use chrono::{DateTime, Utc};
use hrsync_model::Plan;
use hrsync_state::PlanItem;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What identifies the file format.
pub const FORMAT: &str = "hrsync-plan/1";

/// One change's assumptions in a plan file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileItem {
    pub part: String,
    pub idx: i64,
    pub key: String,
    pub kind: String,
    /// The HR record's fingerprint (field → hash) when planned; absent: not in HR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hr_fingerprint: Option<super::HrFingerprint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs_approval: Option<String>,
}

/// The file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanFile {
    pub format: String,
    /// The run that made the plan (its id in the state database it came from).
    pub plan_id: i64,
    pub mapping: String,
    pub planned_by: String,
    pub saved_at: String,
    pub expires_at: DateTime<Utc>,
    /// The configuration's fingerprint (per part; secrets left out).
    pub config_fingerprint: hrsync_config::plans::ConfigFingerprint,
    /// Which state database's key the HR fingerprints are hashed with (a hash of the key):
    /// only that database can check them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint_key: Option<String>,
    pub items: Vec<FileItem>,
    pub plan: Plan,
}

impl PlanFile {
    /// The file of `saved`, whose HR fingerprints were hashed with the key named `key_id`.
    pub fn of(saved: &SavedPlan, key_id: String) -> Result<PlanFile, PlanError> {
        let mut items = Vec::new();
        for i in &saved.items {
            items.push(FileItem {
                part: i.part.clone(),
                idx: i.idx,
                key: i.hr_key.clone(),
                kind: i.kind.clone(),
                hr_fingerprint: match &i.hr_fp {
                    Some(s) => {
                        Some(serde_json::from_str(s).map_err(hrsync_state::StateError::from)?)
                    }
                    None => None,
                },
                needs_approval: i.needs.clone(),
            });
        }
        Ok(PlanFile {
            format: FORMAT.into(),
            plan_id: saved.id,
            mapping: saved.plan.mapping.clone(),
            planned_by: saved.planned_by.clone(),
            saved_at: saved.saved_at.clone(),
            expires_at: saved.expires_at,
            config_fingerprint: saved.config_fingerprint.clone(),
            fingerprint_key: Some(key_id),
            items,
            plan: saved.plan.clone(),
        })
    }
}

/// Writes saved plan `saved` of `store` to `path` (0600, replacing the file).
pub fn write_plan_file(
    path: &Path,
    saved: &SavedPlan,
    store: &hrsync_state::Store,
) -> Result<(), PlanError> {
    let err = |m: String| PlanError::File {
        path: path.display().to_string(),
        message: m,
    };
    let text = serde_json::to_string_pretty(&PlanFile::of(
        saved,
        super::key_id(&store.fingerprint_key()?),
    )?)
    .map_err(|e| err(e.to_string()))?;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path).map_err(|e| err(e.to_string()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| err(e.to_string()))?;
    }
    use std::io::Write;
    f.write_all(text.as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .map_err(|e| err(e.to_string()))
}

/// Reads a plan file. When `store` has the same saved plan (same id, mapping and plan), its
/// approval decisions and outcomes are used; otherwise nothing waiting for approval applies.
pub fn read_plan_file(path: &Path, store: &hrsync_state::Store) -> Result<SavedPlan, PlanError> {
    let err = |m: String| PlanError::File {
        path: path.display().to_string(),
        message: m,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let f: PlanFile =
        serde_json::from_str(&text).map_err(|e| err(format!("not an hrsync plan file: {e}")))?;
    if f.format != FORMAT {
        return Err(err(format!(
            "format {:?}, this hrsync reads {FORMAT:?}",
            f.format
        )));
    }
    // HR fingerprints hashed with another database's key cannot be checked here: every
    // change would look stale for a wrong reason.
    let here_key = super::key_id(&store.fingerprint_key()?);
    if f.items.iter().any(|i| i.hr_fingerprint.is_some())
        && f.fingerprint_key.as_deref() != Some(here_key.as_str())
    {
        return Err(err(match &f.fingerprint_key {
            Some(_) => "made with another state database (its HR fingerprints are keyed to that database, so this one cannot check what the plan assumed about HR): apply it with the configuration and state database that made it, or make a new plan here".into(),
            None => "made by an older hrsync (unkeyed HR fingerprints): make a new plan".into(),
        }));
    }
    let mut items = Vec::new();
    for i in &f.items {
        items.push(PlanItem {
            part: i.part.clone(),
            idx: i.idx,
            hr_key: i.key.clone(),
            kind: i.kind.clone(),
            hr_fp: match &i.hr_fingerprint {
                Some(fp) => {
                    Some(serde_json::to_string(fp).map_err(hrsync_state::StateError::from)?)
                }
                None => None,
            },
            needs: i.needs_approval.clone(),
            ..Default::default()
        });
    }
    // The same plan in this state database: its decisions and what was applied count.
    let stored = match (store.saved_plan(f.plan_id)?, store.plan_of(f.plan_id)?) {
        (Some(row), Some(plan)) if row.mapping == f.mapping && plan == f.plan => {
            let here = store.plan_items(f.plan_id)?;
            for i in &mut items {
                if let Some(h) = here.iter().find(|h| h.part == i.part && h.idx == i.idx) {
                    i.decision = h.decision.clone();
                    i.decided_by = h.decided_by.clone();
                    i.decided_at = h.decided_at.clone();
                    i.comment = h.comment.clone();
                    i.applied_run = h.applied_run;
                    i.outcome = h.outcome.clone();
                }
            }
            true
        }
        _ => false,
    };
    Ok(SavedPlan {
        id: f.plan_id,
        stored,
        plan: f.plan,
        items,
        planned_by: f.planned_by,
        saved_at: f.saved_at,
        expires_at: f.expires_at,
        config_fingerprint: f.config_fingerprint,
    })
}
