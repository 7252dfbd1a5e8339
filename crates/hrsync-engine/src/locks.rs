//! Run locks: one apply of a mapping (and one run of an automation) at a time, whoever starts
//! it: the CLI, a schedule, an event, a second daemon. A lock names its owner (host and
//! process); locks of processes that are gone are released.

use hrsync_state::Store;

/// Who holds a run lock: this host and process (the format the state records runs with).
pub fn owner_id() -> String {
    hrsync_state::owner_id()
}

/// Releases run locks held by processes of this host that are gone (a crash, a restart that
/// outlived the shutdown grace, a zombie), so their automations and mappings are not blocked
/// for hours. One test of "gone" for locks and for interrupted runs.
pub fn release_dead_locks(store: &mut Store) -> hrsync_state::Result<()> {
    for row in store.automations()? {
        let Some(owner) = row.running_owner.as_deref() else {
            continue;
        };
        if hrsync_state::process::owner_is_dead(owner) {
            tracing::warn!(lock = %row.name, owner, "releasing the run lock of a process that is gone");
            store.release_lock(&row.name)?;
        }
    }
    Ok(())
}
