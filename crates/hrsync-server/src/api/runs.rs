//! Runs through the API: `POST /api/v1/runs` starts a plan or an apply of a mapping and
//! answers its run id at once (202); `GET /api/v1/runs/{id}` is its state (the stored run and,
//! while it runs, its progress); `GET /api/v1/runs/{id}/events` streams its progress as
//! server-sent events (what happened so far first, then live, until `finished`);
//! `POST /api/v1/runs/{id}/cancel` stops it (changes in flight complete, the rest are not
//! attempted). Runs execute on the daemon's run thread, one per mapping at a time, as the
//! operator who asked.

use super::problem::Problem;
use super::record::Changed;
use super::{ApiState, blocking};
use crate::Service;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use futures_util::stream::{self, Stream};
use hrsync_auth::http::{AsOperator, AsViewer};
use hrsync_engine::progress::{CancelToken, EventSink, RunEvent};
use hrsync_engine::{Mode, RunOptions};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// How long `POST /api/v1/runs` waits for the run to be recorded (its id) before answering.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Events kept per receiver of a run's channel.
const CHANNEL: usize = 1024;

/// A run the API started, while it is known to this process.
pub(crate) struct Live {
    sink: EventSink,
    cancel: CancelToken,
    /// What happened so far (the latest `applying` only), for late watchers.
    history: Mutex<Vec<RunEvent>>,
    /// The orphans an orphans run found, once it is over.
    orphans: Mutex<Option<OrphanList>>,
}

impl Live {
    pub(crate) fn new(sink: EventSink, cancel: CancelToken) -> Live {
        Live {
            sink,
            cancel,
            history: Mutex::new(Vec::new()),
            orphans: Mutex::new(None),
        }
    }

    fn orphans(&self) -> Option<OrphanList> {
        self.orphans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_orphans(&self, o: OrphanList) {
        *self.orphans.lock().unwrap_or_else(|p| p.into_inner()) = Some(o);
    }

    fn record(&self, e: &RunEvent) {
        let mut h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(e, RunEvent::Applying { .. })
            && matches!(h.last(), Some(RunEvent::Applying { .. }))
        {
            h.pop();
        }
        h.push(e.clone());
    }

    fn history(&self) -> Vec<RunEvent> {
        self.history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn finished(&self) -> bool {
        // `finished` is the last event recorded: no need to copy the history to see it.
        matches!(
            self.history
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .last(),
            Some(RunEvent::Finished { .. })
        )
    }
}

/// What a run started through the API is.
pub(crate) enum RunWhat {
    /// A plan or an apply of a mapping.
    Mapping { mapping: String, mode: Mode },
    /// A plan of a mapping, its orphans kept for `GET /api/v1/runs/{id}`.
    Orphans { mapping: String },
    /// A configured automation, run now as the scheduler runs it.
    Automation { name: String },
}

/// A run to start on the run thread.
pub(crate) struct RunRequest {
    pub what: RunWhat,
    pub opts: RunOptions,
    /// Where the run's outcome is kept for its watchers.
    pub live: Arc<Live>,
}

/// The `status` of the `finished` event of an automation run refused because another run
/// holds its lock.
pub(crate) const REFUSED: &str = "refused";

/// A mapping's orphans, found by a plan run (`POST /api/v1/mappings/{name}/orphans`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrphanList {
    pub mapping: String,
    /// Whether the HR fetch was complete: without it orphans cannot be told apart from people
    /// HR did not send, and the list is empty.
    pub complete: bool,
    /// Whether the mapping owns accounts at all (its `actions` create or adopt them); one that
    /// only modifies accounts it finds has no orphans.
    pub owns_accounts: bool,
    /// The directory attribute the key is read from.
    pub key_attribute: String,
    /// Accounts that carry a key this mapping's HR does not have and that it never created
    /// or adopted: listed, never changed.
    #[schema(value_type = Vec<Object>)]
    pub orphans: Vec<hrsync_model::Orphan>,
}

/// The runs the API started (by run id), and the way to the run thread.
pub(crate) struct Runs {
    live: Mutex<HashMap<i64, Arc<Live>>>,
    tx: mpsc::UnboundedSender<RunRequest>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<RunRequest>>>,
}

impl Runs {
    pub(crate) fn new() -> Runs {
        let (tx, rx) = mpsc::unbounded_channel();
        Runs {
            live: Mutex::new(HashMap::new()),
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }

    /// The receiving end, for the run thread (once).
    pub(crate) fn take_receiver(&self) -> Option<mpsc::UnboundedReceiver<RunRequest>> {
        self.rx.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn get(&self, id: i64) -> Option<Arc<Live>> {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    fn insert(&self, id: i64, live: Arc<Live>) {
        let mut m = self.live.lock().unwrap_or_else(|p| p.into_inner());
        // Finished runs are forgotten once there are many (their state is in the database).
        if m.len() > 256 {
            m.retain(|_, l| !l.finished());
        }
        m.insert(id, live);
    }
}

/// The run thread's side: each request runs as its own task, through [`Service::sync`], until
/// the daemon stops; then the runs in progress finish before this returns (a shutdown waits
/// for them as for the scheduler's).
pub(crate) async fn serve_requests(
    svc: Arc<Service>,
    mut rx: mpsc::UnboundedReceiver<RunRequest>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut running: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    loop {
        let req = tokio::select! {
            r = rx.recv() => match r {
                Some(r) => r,
                None => break,
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        running.retain(|h| !h.is_finished());
        let svc = svc.clone();
        running.push(tokio::task::spawn_local(async move {
            let sink = req.opts.events.clone();
            let failed = match run_one(&svc, req).await {
                Ok(()) => None,
                Err(e) => Some(("failed", format!("{e:#}"))),
            };
            // A run that failed before it was recorded still ends its watchers' wait.
            if let (Some((status, e)), Some(sink)) = (failed, sink) {
                sink.send(RunEvent::Finished {
                    status,
                    applied_ok: 0,
                    applied_failed: 0,
                    not_attempted: 0,
                    error: Some(hrsync_model::text::clip_message(&e).into_owned()),
                    cancelled_by: None,
                });
            }
        }));
    }
    for h in running {
        let _ = h.await;
    }
}

/// One request on the run thread. An automation refused (its lock is held) ends with a
/// `finished` event of status [`REFUSED`].
async fn run_one(svc: &Service, req: RunRequest) -> anyhow::Result<()> {
    let now = Utc::now();
    match req.what {
        RunWhat::Mapping { mapping, mode } => {
            svc.sync(&mapping, mode, "api", req.opts, now).await?;
        }
        RunWhat::Orphans { mapping } => {
            let job = svc.cfg.job(&mapping)?;
            // The run's `finished` is held back until its orphans are kept: a client that saw
            // it finds them.
            let (inner, mut rx) = EventSink::channel(CHANNEL);
            let outer = req.opts.events.clone();
            let forward = tokio::task::spawn_local(async move {
                while let Some(e) = next_event(&mut rx).await {
                    if matches!(e, RunEvent::Finished { .. }) {
                        return Some(e);
                    }
                    if let Some(o) = &outer {
                        o.send(e);
                    }
                }
                None
            });
            let outer = req.opts.events.clone();
            let opts = RunOptions {
                events: Some(inner),
                ..req.opts
            };
            let res = svc.sync(&mapping, Mode::Plan, "api", opts, now).await;
            if let Ok(r) = &res {
                req.live.set_orphans(OrphanList {
                    mapping,
                    complete: r.plan.fetch.complete,
                    owns_accounts: job.actions.owns(),
                    key_attribute: job.directory.key_attribute.clone(),
                    orphans: r.plan.orphans.clone(),
                });
            }
            if let (Ok(Some(fin)), Some(o)) = (forward.await, outer) {
                o.send(fin);
            }
            res?;
        }
        RunWhat::Automation { name } => {
            let a = svc
                .cfg
                .raw
                .automations
                .iter()
                .find(|a| a.name == name)
                .ok_or_else(|| anyhow::anyhow!("no automation named {name:?}"))?;
            // Its next run stays the scheduler's: the stored one, or the schedule's next.
            let stored = svc.store()?.automation(&name)?.and_then(|r| r.next_run);
            let cron = hrsync_config::schedule::parse(&a.schedule).map_err(anyhow::Error::msg)?;
            let next = stored
                .filter(|t| *t > now)
                .or_else(|| hrsync_config::schedule::next_after(&cron, now));
            let sink = req.opts.events.clone();
            let trigger = format!("api:{name}");
            let ran = svc.run_automation(a, &trigger, req.opts, now, next).await?;
            match ran {
                crate::AutomationRun::Refused { holder } => {
                    if let Some(sink) = sink {
                        sink.send(RunEvent::Finished {
                            status: REFUSED,
                            applied_ok: 0,
                            applied_failed: 0,
                            not_attempted: 0,
                            error: Some(format!(
                                "a run of automation {name:?} is in progress{}",
                                holder
                                    .map(|h| format!(" (held by {h})"))
                                    .unwrap_or_default()
                            )),
                            cancelled_by: None,
                        });
                    }
                }
                crate::AutomationRun::Ran {
                    run_id: None,
                    status,
                } => anyhow::bail!("{}", status.strip_prefix("failed: ").unwrap_or(&status)),
                crate::AutomationRun::Ran { .. } => {}
            }
        }
    }
    Ok(())
}

/// A run to start.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StartRun {
    pub mapping: String,
    /// `plan` (show what would change) or `apply`.
    pub mode: String,
    /// Accept a drop of the HR record count beyond the mapping's limit (you checked that
    /// these people really left).
    #[serde(default)]
    pub accept_record_drop: bool,
    /// Fetch everyone even when the endpoint fetches only changes since the last sync.
    #[serde(default)]
    pub full_fetch: bool,
    /// Store the plan as a saved plan (to approve, then apply exactly).
    #[serde(default)]
    pub save: bool,
    /// Apply this saved plan (exactly its changes, each checked for drift).
    pub plan: Option<i64>,
}

/// A started run.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Started {
    pub run_id: i64,
    pub mapping: String,
    pub mode: String,
    /// Its state: `GET` this.
    pub status_url: String,
    /// Its progress as server-sent events.
    pub events_url: String,
}

/// Starts a plan or an apply; answers once the run is recorded, with its id.
#[utoipa::path(
    post,
    path = "/api/v1/runs",
    tag = "runs",
    request_body = StartRun,
    responses(
        (status = 202, description = "Started", body = Started),
        (status = 400, description = "Bad mode", body = Problem),
        (status = 403, description = "Below operator", body = Problem),
        (status = 404, description = "No such mapping", body = Problem),
        (status = 409, description = "A run of this mapping is in progress", body = Problem),
        (status = 422, description = "The run failed before it started (the reason is given)", body = Problem),
    )
)]
pub async fn start(
    State(st): State<ApiState>,
    AsOperator(p): AsOperator,
    Json(req): Json<StartRun>,
) -> Result<Response, Problem> {
    let mode = match req.mode.as_str() {
        "plan" => Mode::Plan,
        "apply" => Mode::Apply,
        other => {
            return Err(Problem::bad_request(format!(
                "mode {other:?}: use \"plan\" or \"apply\""
            )));
        }
    };
    if !st.svc.cfg.mapping_names().contains(&req.mapping) {
        return Err(Problem::not_found(format!(
            "no enabled mapping {:?} (mappings: {})",
            req.mapping,
            st.svc.cfg.mapping_names().join(", ")
        )));
    }
    if st.svc.mapping_busy(&req.mapping) {
        return Err(Problem::conflict(format!(
            "a run of mapping {:?} is in progress: wait for it, or cancel it",
            req.mapping
        )));
    }
    let saved = match req.plan {
        Some(id) => {
            let (svc, mapping) = (st.svc.clone(), req.mapping.clone());
            Some(blocking(move || load_saved(&svc, &mapping, id)).await?)
        }
        None => None,
    };
    let opts = RunOptions {
        accept_record_drop: req.accept_record_drop,
        full_fetch: req.full_fetch,
        save: req.save,
        saved,
        operator: Some(p.audit_name()),
        trigger: hrsync_state::Trigger::Api,
        ..RunOptions::default()
    };
    let what = RunWhat::Mapping {
        mapping: req.mapping.clone(),
        mode,
    };
    let (run_id, _) = launch(&st, what, opts).await?;
    let mut resp = (
        StatusCode::ACCEPTED,
        Json(Started {
            run_id,
            mapping: req.mapping.clone(),
            mode: req.mode.clone(),
            status_url: format!("/api/v1/runs/{run_id}"),
            events_url: format!("/api/v1/runs/{run_id}/events"),
        }),
    )
        .into_response();
    resp.extensions_mut().insert(Changed(format!(
        "started run {run_id}: {} of mapping {:?}",
        req.mode, req.mapping
    )));
    Ok(resp)
}

/// Sends a run to the run thread (with an event sink and a cancel token of its own) and
/// answers once it is recorded: its id and mode. A run that failed before it was recorded is
/// a 422; an automation whose lock another run holds, a 409.
pub(crate) async fn launch(
    st: &ApiState,
    what: RunWhat,
    opts: RunOptions,
) -> Result<(i64, &'static str), Problem> {
    let (sink, mut rx) = EventSink::channel(CHANNEL);
    let cancel = CancelToken::new();
    let opts = RunOptions {
        events: Some(sink.clone()),
        cancel: Some(cancel.clone()),
        ..opts
    };
    let live = Arc::new(Live::new(sink, cancel));
    st.svc
        .api_runs
        .tx
        .send(RunRequest {
            what,
            opts,
            live: live.clone(),
        })
        .map_err(|_| Problem::internal("the run thread is gone (the daemon is stopping)"))?;
    // The run's id comes with its first event.
    let first = tokio::time::timeout(START_TIMEOUT, next_event(&mut rx))
        .await
        .map_err(|_| Problem::internal("the run was not recorded within a minute"))?;
    let (run_id, mode) = match &first {
        Some(RunEvent::Started { run_id, mode, .. }) => (*run_id, *mode),
        Some(RunEvent::Finished { status, error, .. }) if *status == REFUSED => {
            return Err(Problem::conflict(
                error
                    .clone()
                    .unwrap_or_else(|| "another run holds the lock".into()),
            ));
        }
        Some(RunEvent::Finished { error, .. }) => {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "run-failed",
                error
                    .clone()
                    .unwrap_or_else(|| "the run failed before it started".into()),
            ));
        }
        _ => return Err(Problem::internal("the run ended before it was recorded")),
    };
    if let Some(e) = &first {
        live.record(e);
    }
    st.svc.api_runs.insert(run_id, live.clone());
    // Keeps the run's history for late watchers, until it finishes.
    tokio::spawn(async move {
        while let Some(e) = next_event(&mut rx).await {
            live.record(&e);
            if matches!(e, RunEvent::Finished { .. }) {
                break;
            }
        }
    });
    Ok((run_id, mode))
}

fn load_saved(
    svc: &Service,
    mapping: &str,
    id: i64,
) -> Result<Arc<hrsync_engine::plans::SavedPlan>, Problem> {
    use hrsync_engine::plans;
    let store = svc.store().map_err(Problem::internal)?;
    let row = store
        .saved_plan(id)
        .map_err(Problem::internal)?
        .ok_or_else(|| Problem::not_found(format!("no saved plan {id}")))?;
    if row.mapping != mapping {
        return Err(Problem::bad_request(format!(
            "saved plan {id} is of mapping {:?}, not {mapping:?}",
            row.mapping
        )));
    }
    if row.status == "applied" {
        return Err(Problem::conflict(format!(
            "saved plan {id} was applied already (run {})",
            row.applied_run.unwrap_or_default()
        )));
    }
    let job = svc.cfg.job(mapping).map_err(Problem::internal)?;
    let saved = plans::load(&store, &job, id, Utc::now()).map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "saved-plan",
            e.to_string(),
        )
    })?;
    Ok(Arc::new(saved))
}

/// The next event, skipping the ones a slow receiver lost; None when the channel closed.
async fn next_event(rx: &mut broadcast::Receiver<RunEvent>) -> Option<RunEvent> {
    loop {
        match rx.recv().await {
            Ok(e) => return Some(e),
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

/// A run's state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunView {
    /// The stored run (status, counts, times, who started it).
    #[schema(value_type = Object)]
    pub run: hrsync_state::RunRow,
    /// While this daemon runs it: what happened so far (`started`, `stage`, `fetched`,
    /// `planned`, the latest `applying`, `finished`).
    #[schema(value_type = Vec<Object>)]
    pub progress: Vec<RunEvent>,
    /// For an orphans run (`POST /api/v1/mappings/{name}/orphans`) this daemon ran: the
    /// orphans it found, once it is over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orphans: Option<OrphanList>,
}

/// A run: its stored state and, while it runs here, its progress.
#[utoipa::path(
    get,
    path = "/api/v1/runs/{id}",
    operation_id = "get_run",
    tag = "runs",
    params(("id" = i64, Path, description = "The run id")),
    responses(
        (status = 200, description = "The run", body = RunView),
        (status = 404, description = "No such run", body = Problem),
    )
)]
pub async fn get(
    State(st): State<ApiState>,
    _viewer: AsViewer,
    Path(id): Path<i64>,
) -> Result<Json<RunView>, Problem> {
    let svc = st.svc.clone();
    let run = blocking(move || {
        let store = svc.store().map_err(Problem::internal)?;
        store
            .run(id)
            .map_err(Problem::internal)?
            .ok_or_else(|| Problem::not_found(format!("no run {id}")))
    })
    .await?;
    let live = st.svc.api_runs.get(id);
    let progress = live.as_ref().map(|l| l.history()).unwrap_or_default();
    let orphans = live.and_then(|l| l.orphans());
    Ok(Json(RunView {
        run,
        progress,
        orphans,
    }))
}

/// A run's progress as server-sent events: each event's name is its kind (`started`,
/// `stage`, `fetched`, `planned`, `applying`, `finished`) and its data the JSON of the event.
/// What happened so far comes first; the stream ends after `finished`. For a run this daemon
/// is not running, one `finished` event from the stored run.
#[utoipa::path(
    get,
    path = "/api/v1/runs/{id}/events",
    tag = "runs",
    params(("id" = i64, Path, description = "The run id")),
    responses(
        (status = 200, description = "The event stream", content_type = "text/event-stream"),
        (status = 404, description = "No such run", body = Problem),
    )
)]
pub async fn events(
    State(st): State<ApiState>,
    _viewer: AsViewer,
    Path(id): Path<i64>,
) -> Result<Response, Problem> {
    let live = st.svc.api_runs.get(id);
    let (past, rx) = match &live {
        // Subscribed before the history is read: nothing falls between the two.
        Some(l) => {
            let rx = l.sink.subscribe();
            let past: Vec<serde_json::Value> = l
                .history()
                .iter()
                .map(|e| serde_json::to_value(e).unwrap_or_default())
                .collect();
            (past, Some(rx))
        }
        None => {
            let svc = st.svc.clone();
            let run = blocking(move || {
                let store = svc.store().map_err(Problem::internal)?;
                store
                    .run(id)
                    .map_err(Problem::internal)?
                    .ok_or_else(|| Problem::not_found(format!("no run {id}")))
            })
            .await?;
            (vec![finished_of(&run)], None)
        }
    };
    let done = past.iter().any(|e| e["event"] == "finished");
    let rx = if done { None } else { rx };
    Ok(Sse::new(event_stream(past, rx))
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// A `finished` event from a stored run.
fn finished_of(run: &hrsync_state::RunRow) -> serde_json::Value {
    serde_json::json!({
        "event": "finished",
        "status": run.status,
        "error": run.error,
        "run": run,
    })
}

fn sse_event(v: &impl Serialize) -> Event {
    let json = serde_json::to_value(v).unwrap_or_default();
    let name = json
        .get("event")
        .and_then(|n| n.as_str())
        .unwrap_or("message")
        .to_string();
    Event::default()
        .event(name)
        .json_data(&json)
        .unwrap_or_default()
}

fn event_stream<P: Serialize + Send + 'static>(
    past: Vec<P>,
    rx: Option<broadcast::Receiver<RunEvent>>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let first = stream::iter(past.into_iter().map(|e| Ok(sse_event(&e))));
    let live = stream::unfold(rx, |rx| async move {
        let mut rx = rx?;
        let e = next_event(&mut rx).await?;
        let last = matches!(e, RunEvent::Finished { .. });
        Some((Ok(sse_event(&e)), if last { None } else { Some(rx) }))
    });
    futures_util::StreamExt::chain(first, live)
}

/// Cancels a run this daemon is running: changes in flight complete, the rest are not
/// attempted; the run ends `cancelled`, with who cancelled it.
#[utoipa::path(
    post,
    path = "/api/v1/runs/{id}/cancel",
    operation_id = "cancel_run",
    tag = "runs",
    params(("id" = i64, Path, description = "The run id")),
    responses(
        (status = 202, description = "Cancelling: watch the run for `finished`"),
        (status = 403, description = "Below operator", body = Problem),
        (status = 404, description = "No such run running here", body = Problem),
        (status = 409, description = "The run is over", body = Problem),
    )
)]
pub async fn cancel(
    State(st): State<ApiState>,
    AsOperator(p): AsOperator,
    Path(id): Path<i64>,
) -> Result<Response, Problem> {
    let live = st
        .svc
        .api_runs
        .get(id)
        .ok_or_else(|| Problem::not_found(format!("run {id} is not running in this daemon")))?;
    if live.finished() {
        return Err(Problem::conflict(format!("run {id} is over")));
    }
    live.cancel.cancel_by(&p.audit_name());
    let mut resp = StatusCode::ACCEPTED.into_response();
    resp.extensions_mut()
        .insert(Changed(format!("cancelled run {id}")));
    Ok(resp)
}
