//! Saving a run's plan for a later `hrsync apply --plan RUN`: its changes, held changes and
//! those waiting for approval, each with what it assumed about HR.

use super::{HrFingerprint, PlanError, approval};
use crate::report::RunReport;
use chrono::{DateTime, Utc};
use hrsync_config::Job;
use hrsync_state::{PlanItem, SavedPlanRow, Store};
use std::collections::BTreeMap;

/// Makes the plan of run `report.run_id` a saved plan: its changes, held changes and those
/// waiting for approval, each with the HR fingerprint of its person (from `fingerprints`)
/// and, for those waiting, why. Changes the run applied are recorded as applied by it.
pub fn record(
    store: &mut Store,
    job: &Job,
    report: &RunReport,
    fingerprints: &BTreeMap<String, HrFingerprint>,
    operator: &str,
    now: DateTime<Utc>,
) -> Result<(), PlanError> {
    let plan = &report.plan;
    let fp = |k: &str| -> Result<Option<String>, PlanError> {
        Ok(match fingerprints.get(k) {
            Some(f) => Some(serde_json::to_string(f).map_err(hrsync_state::StateError::from)?),
            None => None,
        })
    };
    let mut items = Vec::new();
    for (part, list) in [
        ("change", &plan.changes),
        ("held", &plan.held),
        ("approval", &plan.awaiting_approval),
    ] {
        for (i, c) in list.iter().enumerate() {
            let classes = approval::classes_needing(c, part, job.approval.as_ref());
            let needs = (part != "change" && !classes.is_empty()).then(|| classes.join(","));
            items.push(PlanItem {
                part: part.into(),
                idx: i as i64,
                hr_key: c.key.clone(),
                kind: c.kind.as_str().into(),
                hr_fp: fp(&c.key)?,
                needs,
                ..Default::default()
            });
        }
    }
    let row = SavedPlanRow {
        run_id: report.run_id,
        mapping: plan.mapping.clone(),
        config_fp: serde_json::to_string(&job.config_fingerprint)
            .map_err(hrsync_state::StateError::from)?,
        saved_by: operator.to_string(),
        saved_at: now.to_rfc3339(),
        expires_at: (now + job.plan_expiry).to_rfc3339(),
        status: "open".into(),
        applied_run: None,
    };
    store.save_saved_plan(&row, &items)?;
    if report.applied && !plan.changes.is_empty() {
        let done: Vec<(String, i64, String)> = (0..plan.changes.len())
            .map(|i| {
                (
                    "change".to_string(),
                    i as i64,
                    format!("sent by run {} (see its audit)", report.run_id),
                )
            })
            .collect();
        store.mark_items(report.run_id, &done, report.run_id)?;
    }
    Ok(())
}
