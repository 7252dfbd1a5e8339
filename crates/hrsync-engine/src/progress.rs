//! A run watched and stopped from outside (the REST API): the [`RunEvent`]s a run sends to an
//! [`EventSink`] as it goes, and the [`CancelToken`] that stops it. Neither changes what a run
//! does when unset (the CLI sets neither). Below `report` (which names these in
//! `RunOptions`): the run's mode and status travel as their names.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A stage of a run. Fetch, map and snapshot overlap (HR records are mapped as they arrive
/// while the directory is read): they start together and finish together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Fetch,
    Map,
    Snapshot,
    Plan,
    Apply,
}

/// Whether a stage starts or finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageState {
    Started,
    Finished,
}

/// What a run reports as it goes, in this order: `started`, the stages (`stage`, with
/// `fetched` after the fetch and `planned` once the plan is stored), `applying` while changes
/// are applied, `finished`. Serialised with an `event` tag: `{"event":"applying","done":10,…}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    /// The run is recorded: its id is known. `mode`: `plan` or `apply`.
    Started {
        run_id: i64,
        mapping: String,
        mode: &'static str,
    },
    /// A stage started or finished (`ms`: how long it took, when finished).
    Stage {
        stage: Stage,
        state: StageState,
        #[serde(skip_serializing_if = "Option::is_none")]
        ms: Option<u64>,
    },
    /// The HR fetch is over.
    Fetched {
        records: usize,
        pages: u64,
        complete: bool,
    },
    /// The plan is made and stored: `total` changes to apply (per kind), `held` held by
    /// thresholds, `awaiting_approval` waiting for an approval (neither is applied).
    Planned {
        total: usize,
        by_kind: BTreeMap<String, usize>,
        held: usize,
        awaiting_approval: usize,
    },
    /// Changes applied so far: sent with `done` 0 when the apply starts, with the first
    /// result, then at most about ten times a second, and last (once) when the apply is over
    /// (`done == total`).
    Applying {
        done: usize,
        total: usize,
        ok: usize,
        failed: usize,
    },
    /// The run is over. `status`: `RunStatus::as_str` (`ok`, `partial`, `cancelled`, …).
    /// `error` when it failed before it could finish (status `failed`); `cancelled_by` who
    /// cancelled it (status `cancelled`), when known.
    Finished {
        status: &'static str,
        applied_ok: usize,
        applied_failed: usize,
        not_attempted: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cancelled_by: Option<String>,
    },
}

/// Where a run sends its [`RunEvent`]s: a broadcast channel. Sending never waits and never
/// fails the run; with no receiver the events are dropped, and a receiver that lags loses the
/// oldest ones (`RecvError::Lagged`), never the run's time.
#[derive(Clone)]
pub struct EventSink {
    tx: tokio::sync::broadcast::Sender<RunEvent>,
}

impl EventSink {
    /// A sink sending on `tx`.
    pub fn new(tx: tokio::sync::broadcast::Sender<RunEvent>) -> Self {
        EventSink { tx }
    }

    /// A new channel holding up to `capacity` events per receiver, and its first receiver.
    pub fn channel(capacity: usize) -> (Self, tokio::sync::broadcast::Receiver<RunEvent>) {
        let (tx, rx) = tokio::sync::broadcast::channel(capacity.max(1));
        (EventSink { tx }, rx)
    }

    /// Another receiver, of the events sent from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<RunEvent> {
        self.tx.subscribe()
    }

    /// Sends `event` to every receiver there is (none is fine).
    pub fn send(&self, event: RunEvent) {
        let _ = self.tx.send(event);
    }
}

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSink")
            .field("receivers", &self.tx.receiver_count())
            .finish()
    }
}

/// Stops a run from outside. Checked between stages (cancelled before the apply, the run
/// applies nothing) and between changes while applying (a change in flight completes; the
/// rest are recorded as not attempted, as after a lost connection). The run ends with status
/// `cancelled`. Clones share the token.
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    flag: Arc<AtomicBool>,
    by: Arc<std::sync::Mutex<Option<String>>>,
}

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the run to stop.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::Release);
    }

    /// Asks the run to stop, saying who asked (recorded with the run and its audit rows).
    pub fn cancel_by(&self, who: &str) {
        if let Ok(mut by) = self.by.lock() {
            by.get_or_insert_with(|| who.to_string());
        }
        self.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Who cancelled, when [`CancelToken::cancel_by`] said.
    pub fn cancelled_by(&self) -> Option<String> {
        self.by.lock().ok().and_then(|b| b.clone())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn events_serialise_with_their_tag_and_a_sink_without_receivers_is_fine() {
        let e = RunEvent::Stage {
            stage: Stage::Snapshot,
            state: StageState::Finished,
            ms: Some(12),
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"event":"stage","stage":"snapshot","state":"finished","ms":12}"#
        );
        let e = RunEvent::Started {
            run_id: 7,
            mapping: "staff".into(),
            mode: "apply",
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"event":"started","run_id":7,"mapping":"staff","mode":"apply"}"#
        );
        let (sink, rx) = EventSink::channel(4);
        drop(rx);
        sink.send(e.clone());
        let mut rx = sink.subscribe();
        sink.send(e.clone());
        assert_eq!(rx.try_recv().unwrap(), e);
        assert!(format!("{sink:?}").contains("receivers"));
    }

    #[test]
    fn a_cancel_token_is_shared_by_its_clones_and_names_who_cancelled() {
        let t = CancelToken::new();
        let c = t.clone();
        assert!(!t.is_cancelled());
        c.cancel_by("bob");
        c.cancel_by("carol");
        assert!(t.is_cancelled());
        assert_eq!(t.cancelled_by().as_deref(), Some("bob"));
    }
}
