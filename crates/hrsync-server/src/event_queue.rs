//! The event worker of one `[[event]]` endpoint: reconciles the people queued events name.
//!
//! - Events that are waiting when a run can start are **coalesced** into one targeted run (at
//!   most [`MAX_BATCH`] people).
//! - A coalesced run that fails (an error, or changes that failed) is **isolated**: each of
//!   its people runs again on their own, so one failing person never fails the others.
//! - A person's own run that fails is **retried** per [`EVENT_RETRY_SECS`] (the one retry
//!   policy of event runs) without holding up the queue: other events run meanwhile. Retries
//!   still waiting when the daemon stops are resumed at the next start (their events are
//!   stored as `received`).

use super::{Queued, Service};
use chrono::Utc;
use hrsync_config::daemon::{EventEndpoint, EventFormat};
use hrsync_engine::{EngineError, Mode, Only, RunOptions, RunReport, RunStatus};
use hrsync_model::text::clip_message;
use std::collections::BTreeSet;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Waits after the failed attempts of a person's event run (None: the last attempt).
pub const EVENT_RETRY_SECS: [Option<u64>; 4] = [Some(1), Some(5), Some(20), None];

/// The most people one coalesced event run reconciles.
pub const MAX_BATCH: usize = 100;

/// A queued event and where it stands.
struct Pending {
    q: Queued,
    /// Failed attempts of a run of this person on their own.
    attempt: usize,
    due: Instant,
    /// Runs on its own (it was in a coalesced run that failed, or is being retried).
    solo: bool,
}

impl Pending {
    fn new(q: Queued) -> Pending {
        Pending {
            q,
            attempt: 0,
            due: Instant::now(),
            solo: false,
        }
    }
}

/// Whether a run's outcome means some of its people were not reconciled.
fn failed(res: &anyhow::Result<RunReport>) -> bool {
    match res {
        Ok(r) => matches!(
            r.status,
            RunStatus::Failed | RunStatus::Partial | RunStatus::Incomplete
        ),
        Err(_) => true,
    }
}

/// Another apply of the mapping holds it: nobody in particular is at fault.
fn busy(res: &anyhow::Result<RunReport>) -> bool {
    matches!(res, Err(e) if matches!(e.downcast_ref::<EngineError>(), Some(EngineError::Busy { .. })))
}

/// Takes the next unit of work from the due items: a solo person (with every due event
/// naming them), or the due coalescable events of up to [`MAX_BATCH`] people.
fn next_unit(waiting: &mut Vec<Pending>, now: Instant) -> Vec<Pending> {
    let due = |p: &Pending| p.due <= now;
    let pick: Box<dyn Fn(&Pending) -> bool> =
        if let Some(solo) = waiting.iter().find(|p| p.solo && due(p)) {
            let who = solo.q.employee.clone();
            Box::new(move |p: &Pending| p.due <= now && p.q.employee == who)
        } else {
            let mut people = BTreeSet::new();
            for p in waiting.iter().filter(|p| due(p)) {
                if people.len() < MAX_BATCH || people.contains(&p.q.employee) {
                    people.insert(p.q.employee.clone());
                }
            }
            Box::new(move |p: &Pending| p.due <= now && !p.solo && people.contains(&p.q.employee))
        };
    let (unit, rest): (Vec<Pending>, Vec<Pending>) = waiting.drain(..).partition(|p| pick(p));
    *waiting = rest;
    unit
}

impl Service {
    /// Reconciles the people queued events name until the queue closes (daemon stop).
    pub(super) async fn event_worker(
        self: Arc<Self>,
        ep: EventEndpoint,
        mut rx: mpsc::UnboundedReceiver<Queued>,
    ) {
        let mut waiting: Vec<Pending> = Vec::new();
        let mut open = true;
        loop {
            while let Ok(q) = rx.try_recv() {
                waiting.push(Pending::new(q));
            }
            let now = Instant::now();
            match waiting.iter().map(|p| p.due).min() {
                None if !open => return,
                None => match rx.recv().await {
                    Some(q) => {
                        waiting.push(Pending::new(q));
                        continue;
                    }
                    None => return,
                },
                // Stopping: retries not yet due are resumed at the next start.
                Some(_) if !open => {
                    waiting.retain(|p| p.due <= now);
                    if waiting.is_empty() {
                        return;
                    }
                }
                Some(next) if next > now => {
                    tokio::select! {
                        q = rx.recv() => match q {
                            Some(q) => waiting.push(Pending::new(q)),
                            None => open = false,
                        },
                        _ = tokio::time::sleep_until(next) => {}
                    }
                    continue;
                }
                Some(_) => {}
            }
            let unit = next_unit(&mut waiting, now);
            if unit.is_empty() {
                continue;
            }
            let res = self.event_run(&ep, &unit).await;
            let people: BTreeSet<Option<String>> =
                unit.iter().map(|p| p.q.employee.clone()).collect();
            if people.len() > 1 && failed(&res) && !busy(&res) {
                let why = match &res {
                    Ok(r) => format!("status {}", r.status.as_str()),
                    Err(e) => format!("{e:#}"),
                };
                tracing::warn!(
                    endpoint = %ep.raw.name,
                    people = people.len(),
                    "a coalesced event run failed ({}); running each person on their own",
                    clip_message(&why)
                );
                for mut p in unit {
                    p.solo = true;
                    p.due = Instant::now();
                    waiting.push(p);
                }
                continue;
            }
            // One person (or a busy mapping): the retry policy, only for errors.
            let attempt = unit.iter().map(|p| p.attempt).max().unwrap_or(0);
            if let (Err(e), Some(Some(wait))) = (&res, EVENT_RETRY_SECS.get(attempt)) {
                tracing::warn!(
                    endpoint = %ep.raw.name,
                    attempt = attempt + 1,
                    employee = ?people.iter().next().cloned().flatten(),
                    "event run failed, retrying in {wait} s: {}",
                    clip_message(&format!("{e:#}"))
                );
                for mut p in unit {
                    p.attempt = attempt + 1;
                    p.due = Instant::now() + std::time::Duration::from_secs(*wait);
                    p.solo = p.solo || people.len() == 1;
                    waiting.push(p);
                }
                continue;
            }
            self.finish(&ep, &unit, &res);
        }
    }

    /// One targeted run of the people `unit` names (everyone if one of its events names
    /// nobody).
    async fn event_run(&self, ep: &EventEndpoint, unit: &[Pending]) -> anyhow::Result<RunReport> {
        let everyone = unit.iter().any(|p| p.q.employee.is_none());
        let values: BTreeSet<String> = unit.iter().filter_map(|p| p.q.employee.clone()).collect();
        let field = ep.raw.match_field.clone().or_else(|| match ep.raw.format {
            EventFormat::Paycor => Some("id".to_string()),
            EventFormat::Generic => None,
        });
        let opts = RunOptions {
            only: (!everyone).then_some(Only { field, values }),
            ..RunOptions::default()
        };
        self.sync(
            &ep.raw.mapping,
            Mode::Apply,
            &format!("event:{}", ep.raw.name),
            opts,
            Utc::now(),
        )
        .await
    }

    /// Stores the outcome of the events of `unit`.
    fn finish(&self, ep: &EventEndpoint, unit: &[Pending], res: &anyhow::Result<RunReport>) {
        let (status, run) = match res {
            Ok(r) if r.status == RunStatus::Ok => ("applied".to_string(), Some(r.run_id)),
            Ok(r) => (r.status.as_str().to_string(), Some(r.run_id)),
            Err(e) => (format!("failed: {}", clip_message(&format!("{e:#}"))), None),
        };
        if let Ok(mut store) = self.store() {
            for p in unit {
                let _ = store.finish_event(&ep.raw.name, &p.q.id, &status, run);
                metrics::histogram!("hrsync_event_latency_seconds", "endpoint" => ep.raw.name.clone())
                    .record(p.q.at.elapsed().as_secs_f64());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(employee: Option<&str>, solo: bool, due_in_ms: i64, now: Instant) -> Pending {
        let due = if due_in_ms >= 0 {
            now + std::time::Duration::from_millis(due_in_ms as u64)
        } else {
            now - std::time::Duration::from_millis((-due_in_ms) as u64)
        };
        Pending {
            q: Queued {
                employee: employee.map(str::to_string),
                id: format!("{employee:?}"),
                at: std::time::Instant::now(),
            },
            attempt: 0,
            due,
            solo,
        }
    }

    fn who(unit: &[Pending]) -> Vec<Option<String>> {
        unit.iter().map(|p| p.q.employee.clone()).collect()
    }

    #[test]
    fn solo_people_run_alone_and_the_rest_is_coalesced_up_to_the_cap() {
        let now = Instant::now();
        let mut w = vec![
            p(Some("A"), false, 0, now),
            p(Some("B"), true, 0, now),
            p(Some("B"), false, 0, now),
            p(Some("C"), true, 5000, now),
            p(Some("D"), false, -10, now),
        ];
        // B is isolated: its due events run alone (also the newer, coalescable one).
        assert_eq!(who(&next_unit(&mut w, now)), vec![Some("B".into()); 2]);
        // Then A and D together; C waits for its retry.
        assert_eq!(
            who(&next_unit(&mut w, now)),
            vec![Some("A".into()), Some("D".into())]
        );
        assert!(next_unit(&mut w, now).is_empty());
        assert_eq!(who(&w), vec![Some("C".into())]);
        let mut many: Vec<Pending> = (0..150)
            .map(|i| p(Some(&format!("E{i:03}")), false, 0, now))
            .collect();
        assert_eq!(next_unit(&mut many, now).len(), MAX_BATCH);
        assert_eq!(many.len(), 50);
    }
}
