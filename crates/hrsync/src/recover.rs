//! After a crash (kill -9, power loss) during an apply: the next run marks the dead run
//! `interrupted` (its changes without an answer are `unknown (interrupted)` in the audit) and
//! asks the directory what became of them, so that every change that reached it has exactly
//! one audit row.

use crate::engine::EngineError;
use chrono::{DateTime, Utc};
use hrsync_directory::Directory;
use hrsync_model::ChangeKind;
use hrsync_state::{IntentOutcome, Store};

/// Marks runs of dead processes `interrupted`. Cheap; every run calls it first.
pub(crate) fn mark_interrupted(store: &mut Store, now: DateTime<Utc>) -> Result<(), EngineError> {
    for r in store.recover_interrupted(now)? {
        tracing::warn!(
            run = r.id,
            mapping = %r.mapping,
            unknown = r.unknown,
            "run {} ({}) was interrupted: its process ({}) is gone; {} change(s) sent without an answer are reconciled with the directory",
            r.id,
            r.command,
            r.owner.as_deref().unwrap_or("unknown"),
            r.unknown
        );
    }
    Ok(())
}

/// Settles the mapping's changes of interrupted runs whose result is unknown, where the
/// directory can tell: a create took effect when its entry exists, a delete when its entry is
/// gone. Other changes keep `unknown (interrupted)`; the next plan compares again anyway.
pub(crate) async fn reconcile(
    store: &mut Store,
    dir: &Directory,
    mapping: &str,
) -> Result<(), EngineError> {
    let unresolved = store.unresolved_intents(mapping)?;
    if unresolved.is_empty() {
        return Ok(());
    }
    let mut settled = Vec::new();
    for u in &unresolved {
        let c = &u.change;
        let outcome = match c.kind {
            k if k.creates() => {
                if dir.exists(&c.dn).await? {
                    IntentOutcome::Applied
                } else {
                    IntentOutcome::NotApplied
                }
            }
            ChangeKind::Delete => {
                if dir.exists(&c.dn).await? {
                    IntentOutcome::NotApplied
                } else {
                    IntentOutcome::Applied
                }
            }
            _ => continue,
        };
        settled.push((u.run_id, u.seq, outcome));
    }
    let n = store.resolve_intents(&settled)?;
    tracing::info!(
        mapping,
        settled = n,
        unknown = unresolved.len() - n,
        "reconciled changes of interrupted runs with the directory"
    );
    Ok(())
}
