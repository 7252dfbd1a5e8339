//! hrsync's daemon, `hrsync serve`: the long-running process. It runs what `hrsync-engine` does
//! (runs, notifications) on schedules and events, with the configuration of `hrsync-config`.
//! One process runs
//! - the HTTP listener: `GET /healthz`, `GET /metrics` (Prometheus), `POST /events/<name>`
//!   (HR change notifications);
//! - the scheduler: `[[automation]]` cron schedules, one run at a time per automation (a lock
//!   row in the state database, so a second daemon or a CLI run is refused too), a missed-run
//!   policy after downtime, last/next run stored;
//! - the event workers: an accepted event re-fetches the people it names and reconciles only
//!   them (a targeted run); events arriving during a run are coalesced into the next one;
//! - the orchestration worker: due steps of the outbox.
//!
//! Syncs of one mapping never overlap inside the daemon (a lock per mapping shared by the
//! scheduler and the event workers). SIGTERM/SIGINT stop accepting requests, let running syncs
//! and steps finish (up to `serve.shutdown_grace_secs`), and exit.
//!
//! Modules: `listen` (the listener's connection handling), [`events`] (inbound event
//! formats and signatures) and its queue, [`orchestrate`] (the worker that runs queued
//! orchestration steps; what an apply queues is the engine's). Cron parsing and the missed-run
//! policy are `hrsync_config::schedule`.

pub mod api;
pub mod console;
mod event_queue;
pub mod events;
mod listen;
pub mod orchestrate;
pub mod validate;
pub mod webhook_test;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use hrsync_config::Config;
use hrsync_config::daemon::{EventEndpoint, RawAutomation};
use hrsync_config::schedule;
use hrsync_engine::locks::{owner_id, release_dead_locks};
use hrsync_engine::{Mode, RunOptions, RunReport, Unattended};
use hrsync_state::Store;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tokio::sync::{Mutex, Notify, mpsc, watch};

/// How long an automation's run lock is honoured before it counts as abandoned (a crash).
const STALE_LOCK_HOURS: i64 = 6;

static METRICS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus recorder (installed once).
pub fn metrics_handle() -> &'static PrometheusHandle {
    METRICS.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets(&[
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
            ])
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// One queued event: who to reconcile (None = everyone), its id, when it arrived.
struct Queued {
    employee: Option<String>,
    id: String,
    at: Instant,
}

/// What the scheduler did for one automation at one instant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TickResult {
    pub automation: String,
    /// `ran`, `refused` (another run holds the lock), `skipped` (missed runs, `missed = "skip"`).
    pub outcome: String,
    pub run_id: Option<i64>,
    pub status: Option<String>,
    pub missed: u32,
    pub next: Option<DateTime<Utc>>,
}

/// What running one automation came to ([`Service::run_automation`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AutomationRun {
    /// Another run holds its lock (its owner, when known).
    Refused { holder: Option<String> },
    /// It ran: the run's id (None when the sync failed before it was recorded) and status
    /// (`failed: …` when the sync failed).
    Ran { run_id: Option<i64>, status: String },
}

/// The daemon's shared state.
pub struct Service {
    pub cfg: Arc<Config>,
    owner: String,
    locks: std::sync::Mutex<HashMap<String, Arc<Mutex<()>>>>,
    worker: orchestrate::Worker,
    wake_worker: Notify,
    endpoints: Vec<EventEndpoint>,
    queues: std::sync::Mutex<HashMap<String, mpsc::UnboundedSender<Queued>>>,
    /// Why the daemon is degraded (a SIGHUP whose configuration was refused: the old one
    /// runs), reported by `/healthz`.
    degraded: std::sync::Mutex<Option<String>>,
    /// Where a configuration saved through the API asks `hrsync serve` to reload (as a
    /// SIGHUP does); None in-process.
    reload: std::sync::Mutex<Option<mpsc::UnboundedSender<()>>>,
    /// Sign-in, sessions and tokens of the REST API (`[server.auth]`); None: no API.
    auth: Option<Arc<hrsync_auth::Auth>>,
    /// Runs started through the API.
    pub(crate) api_runs: api::runs::Runs,
}

impl Service {
    pub fn new(cfg: Config) -> anyhow::Result<Arc<Service>> {
        let settings = api_auth_settings(&cfg)?;
        Service::with_auth(cfg, settings)
    }

    /// A service whose API signs in with `settings` (None: no API).
    pub fn with_auth(
        cfg: Config,
        settings: Option<hrsync_auth::AuthSettings>,
    ) -> anyhow::Result<Arc<Service>> {
        let endpoints = cfg.event_endpoints()?;
        let auth = match settings {
            Some(s) => Some(Arc::new(hrsync_auth::Auth::open(s, &cfg.state_path())?)),
            None => None,
        };
        let cfg = Arc::new(cfg);
        metrics_handle();
        Ok(Arc::new(Service {
            worker: orchestrate::Worker::new(cfg.clone())?,
            cfg,
            owner: owner_id(),
            locks: std::sync::Mutex::new(HashMap::new()),
            wake_worker: Notify::new(),
            endpoints,
            queues: std::sync::Mutex::new(HashMap::new()),
            degraded: std::sync::Mutex::new(None),
            reload: std::sync::Mutex::new(None),
            auth,
            api_runs: api::runs::Runs::new(),
        }))
    }

    /// Asks `hrsync serve` to take the configuration file anew, as a SIGHUP does (after the
    /// API saved it). False when nothing listens (an in-process daemon).
    pub fn request_reload(&self) -> bool {
        let r = self.reload.lock().unwrap_or_else(|p| p.into_inner());
        r.as_ref().is_some_and(|tx| tx.send(()).is_ok())
    }

    fn set_reload(&self, tx: mpsc::UnboundedSender<()>) {
        *self.reload.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
    }

    /// Marks the daemon degraded (or healthy again with `None`).
    pub fn set_degraded(&self, why: Option<String>) {
        *self.degraded.lock().unwrap_or_else(|p| p.into_inner()) = why;
    }

    /// Whether a sync of `mapping` is running in this process.
    pub(crate) fn mapping_busy(&self, mapping: &str) -> bool {
        self.mapping_lock(mapping).try_lock().is_err()
    }

    fn mapping_lock(&self, mapping: &str) -> Arc<Mutex<()>> {
        let mut l = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        l.entry(mapping.to_string()).or_default().clone()
    }

    pub(crate) fn store(&self) -> anyhow::Result<Store> {
        Ok(Store::open(&self.cfg.state_path())?)
    }

    /// One sync of a mapping; never two of one mapping at once in this process.
    pub async fn sync(
        &self,
        mapping: &str,
        mode: Mode,
        trigger: &str,
        opts: RunOptions,
        now: DateTime<Utc>,
    ) -> anyhow::Result<RunReport> {
        let lock = self.mapping_lock(mapping);
        let _guard = lock.lock().await;
        let job = self.cfg.job(mapping)?;
        let mut opts = opts;
        opts.trigger = match trigger.split(':').next() {
            Some("event") => hrsync_state::Trigger::Event,
            Some("schedule") => hrsync_state::Trigger::Schedule,
            Some("api") => hrsync_state::Trigger::Api,
            _ => hrsync_state::Trigger::Cli,
        };
        let mut store = self.store()?;
        let t = Instant::now();
        let res = hrsync_engine::run_with(&job, &mut store, mode, opts, now, &mut Unattended).await;
        let took = t.elapsed().as_secs_f64();
        let kind = trigger.split(':').next().unwrap_or(trigger).to_string();
        let labels = |status: &str| {
            [
                ("mapping", mapping.to_string()),
                ("trigger", kind.clone()),
                ("status", status.to_string()),
            ]
        };
        match &res {
            Ok(r) => {
                let status = r.status.as_str();
                metrics::counter!("hrsync_runs_total", &labels(status)).increment(1);
                metrics::histogram!("hrsync_run_duration_seconds", "mapping" => mapping.to_string(), "trigger" => kind.clone()).record(took);
                for (stage, ms) in [
                    ("fetch", r.timings.fetch_ms),
                    ("map", r.timings.map_ms),
                    ("snapshot", r.timings.snapshot_ms),
                    ("plan", r.timings.plan_ms),
                    ("apply", r.timings.apply_ms),
                ] {
                    metrics::histogram!("hrsync_stage_duration_seconds", "mapping" => mapping.to_string(), "stage" => stage).record(ms as f64 / 1000.0);
                }
                for c in &r.plan.changes {
                    metrics::counter!("hrsync_planned_changes_total", "mapping" => mapping.to_string(), "kind" => c.kind.as_str()).increment(1);
                }
                metrics::counter!("hrsync_applied_changes_total", "mapping" => mapping.to_string(), "result" => "ok").increment(r.applied_ok as u64);
                metrics::counter!("hrsync_applied_changes_total", "mapping" => mapping.to_string(), "result" => "failed").increment(r.applied_failed as u64);
                tracing::info!(
                    mapping,
                    trigger,
                    run = r.run_id,
                    changes = r.plan.changes.len(),
                    ok = r.applied_ok,
                    failed = r.applied_failed,
                    seconds = took,
                    "sync finished"
                );
            }
            Err(e) => {
                metrics::counter!("hrsync_runs_total", &labels("failed")).increment(1);
                tracing::error!(
                    mapping,
                    trigger,
                    "sync failed: {}",
                    hrsync_model::text::clip_message(&e.to_string())
                );
            }
        }
        // Notifications never fail the run: bounded per message, failures logged and recorded.
        let err = res.as_ref().err().map(|e| e.to_string());
        let result = match (&res, &err) {
            (Ok(r), _) => Ok(r),
            (Err(_), Some(e)) => Err(e.as_str()),
            (Err(_), None) => Err("the run failed"),
        };
        // Claimed now, sent by a task of its own: the next run never waits for a mail server.
        hrsync_engine::notify::after_run_in_background(
            self.cfg.clone(),
            &mut store,
            mapping,
            result,
            now,
        );
        self.wake_worker.notify_one();
        Ok(res?)
    }

    /// The scheduler at one instant: every enabled automation that is due runs (one after the
    /// other), unless another run holds its lock.
    pub async fn tick(&self, now: DateTime<Utc>) -> anyhow::Result<Vec<TickResult>> {
        let mut out = Vec::new();
        let started = Instant::now();
        let tick_now = now;
        for a in self.cfg.raw.automations.iter().filter(|a| a.enabled) {
            // Automations run one after the other: each decides at its own moment.
            let now = tick_now
                + chrono::Duration::from_std(started.elapsed())
                    .unwrap_or_else(|_| chrono::Duration::zero());
            let cron = schedule::parse(&a.schedule).map_err(anyhow::Error::msg)?;
            let mut store = self.store()?;
            let row = store.automation(&a.name)?;
            let due = schedule::decide(&cron, row.as_ref().and_then(|r| r.next_run), now, a.missed);
            if !due.run {
                if due.missed > 0 {
                    tracing::warn!(automation = %a.name, missed = due.missed + 1, "scheduled runs missed while hrsync was down; skipped (missed = \"skip\")");
                    out.push(TickResult {
                        automation: a.name.clone(),
                        outcome: "skipped".into(),
                        run_id: None,
                        status: None,
                        missed: due.missed + 1,
                        next: due.next,
                    });
                }
                if row.as_ref().and_then(|r| r.next_run) != due.next {
                    store.set_next_run(&a.name, due.next)?;
                }
                continue;
            }
            if due.missed > 0 {
                tracing::warn!(automation = %a.name, missed = due.missed, "scheduled runs missed while hrsync was down; running once now");
            }
            drop(store);
            let trigger = format!("schedule:{}", a.name);
            let ran = self
                .run_automation(a, &trigger, RunOptions::default(), now, due.next)
                .await?;
            let (outcome, run_id, status) = match ran {
                AutomationRun::Refused { .. } => {
                    self.store()?.set_next_run(&a.name, due.next)?;
                    ("refused", None, None)
                }
                AutomationRun::Ran { run_id, status } => ("ran", run_id, Some(status)),
            };
            out.push(TickResult {
                automation: a.name.clone(),
                outcome: outcome.into(),
                run_id,
                status,
                missed: due.missed,
                next: due.next,
            });
        }
        Ok(out)
    }

    /// Runs one automation once, as the scheduler does when it is due (and as "run now" of
    /// the API does): takes its lock row (refused while another run holds it), applies the
    /// mapping's approved saved plans first when it applies (`auto_apply`), runs the sync
    /// (`opts` with the automation's fetch), and stores its status and `next` as its next run,
    /// releasing the lock.
    pub(crate) async fn run_automation(
        &self,
        a: &RawAutomation,
        trigger: &str,
        opts: RunOptions,
        now: DateTime<Utc>,
        next: Option<DateTime<Utc>>,
    ) -> anyhow::Result<AutomationRun> {
        let stale = chrono::Duration::hours(STALE_LOCK_HOURS);
        let mut store = self.store()?;
        release_dead_locks(&mut store)?;
        if !store.try_lock_automation(&a.name, &self.owner, now, stale)? {
            let holder = store.automation(&a.name)?.and_then(|r| r.running_owner);
            tracing::warn!(automation = %a.name, holder = ?holder, "overlapping run refused: the previous run of this automation is still running");
            metrics::counter!("hrsync_automation_refused_total", "automation" => a.name.clone())
                .increment(1);
            return Ok(AutomationRun::Refused { holder });
        }
        drop(store);
        let mode = if a.mode == "plan" {
            Mode::Plan
        } else {
            Mode::Apply
        };
        if mode == Mode::Apply {
            self.apply_approved(&a.mapping, trigger, opts.operator.clone(), now)
                .await;
        }
        let opts = RunOptions {
            full_fetch: a.fetch == "full",
            ..opts
        };
        let res = self.sync(&a.mapping, mode, trigger, opts, now).await;
        let (status, run_id) = match &res {
            Ok(r) => (r.status.as_str().to_string(), Some(r.run_id)),
            Err(e) => (
                format!(
                    "failed: {}",
                    hrsync_model::text::clip_message(&e.to_string())
                ),
                None,
            ),
        };
        let mut store = self.store()?;
        store.finish_automation(&a.name, &status, run_id, now, Utc::now(), next)?;
        Ok(AutomationRun::Ran { run_id, status })
    }

    /// Applies the approved changes of the mapping's saved plans (`auto_apply = true`) before
    /// its scheduled run; a failure is logged and leaves them for the next run.
    async fn apply_approved(
        &self,
        mapping: &str,
        trigger: &str,
        operator: Option<String>,
        now: DateTime<Utc>,
    ) {
        let approved = self.store().and_then(|store| {
            let job = self.cfg.job(mapping)?;
            Ok(hrsync_engine::plans::approval::approved_to_apply(
                &store, &job, now,
            )?)
        });
        let plans = match approved {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(mapping, "cannot read approved plans: {e}");
                return;
            }
        };
        for saved in plans {
            let id = saved.id;
            let opts = RunOptions {
                saved: Some(Arc::new(saved)),
                operator: operator.clone(),
                ..RunOptions::default()
            };
            if let Err(e) = self.sync(mapping, Mode::Apply, trigger, opts, now).await {
                tracing::error!(mapping, plan = id, "approved changes not applied: {e:#}");
            }
        }
    }

    /// The soonest stored next run of an enabled automation.
    fn next_wake(&self) -> Option<DateTime<Utc>> {
        let store = self.store().ok()?;
        let rows = store.automations().ok()?;
        self.cfg
            .raw
            .automations
            .iter()
            .filter(|a| a.enabled)
            .filter_map(|a| {
                rows.iter()
                    .find(|r| r.name == a.name)
                    .and_then(|r| r.next_run)
            })
            .min()
    }

    /// Handles `POST /events/<name>`: authenticate, parse, de-duplicate, queue.
    pub fn accept_event(
        &self,
        name: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> (StatusCode, serde_json::Value) {
        let refuse = |code: StatusCode, why: &str| (code, serde_json::json!({ "error": why }));
        let Some(ep) = self.endpoints.iter().find(|e| e.raw.name == name) else {
            return refuse(StatusCode::NOT_FOUND, "no such event endpoint");
        };
        let header = |h: &str| {
            headers
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        if let Err(e) = events::authenticate(ep, header, body, Utc::now().timestamp()) {
            tracing::warn!(endpoint = name, "event refused: {e}");
            metrics::counter!("hrsync_events_total", "endpoint" => name.to_string(), "result" => "unauthorized").increment(1);
            // Which check failed is logged, never told to the caller.
            return refuse(StatusCode::UNAUTHORIZED, "unauthorized");
        }
        let hint = match events::parse(ep, header, body) {
            Ok(h) => h,
            Err(e) => {
                metrics::counter!("hrsync_events_total", "endpoint" => name.to_string(), "result" => "bad").increment(1);
                return refuse(StatusCode::BAD_REQUEST, &e.to_string());
            }
        };
        let fresh = self.store().and_then(|mut s| {
            Ok(s.record_event(name, &hint.id, hint.employee.as_deref(), Utc::now())?)
        });
        match fresh {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(endpoint = name, event = %hint.id, "duplicate event ignored");
                metrics::counter!("hrsync_events_total", "endpoint" => name.to_string(), "result" => "duplicate").increment(1);
                return (
                    StatusCode::OK,
                    serde_json::json!({"status": "duplicate", "event_id": hint.id}),
                );
            }
            Err(e) => {
                tracing::error!(endpoint = name, "cannot record the event: {e}");
                return refuse(StatusCode::SERVICE_UNAVAILABLE, "cannot record the event");
            }
        }
        let sent = self
            .queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .map(|q| {
                q.send(Queued {
                    employee: hint.employee.clone(),
                    id: hint.id.clone(),
                    at: Instant::now(),
                })
                .is_ok()
            })
            .unwrap_or(false);
        if !sent {
            // Not queued: forgotten, so the sender's retry is accepted, not a "duplicate".
            if let Ok(mut s) = self.store() {
                let _ = s.forget_event(name, &hint.id);
            }
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
        }
        metrics::counter!("hrsync_events_total", "endpoint" => name.to_string(), "result" => "accepted").increment(1);
        tracing::info!(endpoint = name, event = %hint.id, kind = %hint.kind, employee = ?hint.employee, "event accepted");
        (
            StatusCode::ACCEPTED,
            serde_json::json!({"status": "accepted", "event_id": hint.id}),
        )
    }

    /// Runs due orchestration steps until told to stop.
    async fn worker_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            let (failed, next) = match self.store() {
                Ok(mut store) => {
                    let failed = match self.worker.run_due(&mut store).await {
                        Ok(_) => false,
                        Err(e) => {
                            tracing::error!("orchestration worker: {e:#}");
                            true
                        }
                    };
                    if let Ok(n) = store.count_outbox("pending") {
                        metrics::gauge!("hrsync_outbox_pending").set(n as f64);
                    }
                    (failed, store.next_due().ok().flatten())
                }
                Err(e) => {
                    tracing::error!("orchestration worker: {e:#}");
                    (true, None)
                }
            };
            // Never spin: at least 100 ms between rounds, a second after an error.
            let floor = std::time::Duration::from_millis(if failed { 1000 } else { 100 });
            let wait = next
                .map(|t| (t - Utc::now()).to_std().unwrap_or_default())
                .unwrap_or(std::time::Duration::from_secs(5))
                .clamp(floor, std::time::Duration::from_secs(5));
            tokio::select! {
                _ = self.wake_worker.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }

    /// Runs the scheduler until told to stop.
    async fn scheduler_loop(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        if self.cfg.raw.automations.is_empty() {
            return;
        }
        loop {
            // A tick of its own task: a panic in a run is logged, the scheduler goes on, and
            // the locks this process held are released.
            let svc = self.clone();
            match tokio::task::spawn_local(async move { svc.tick(Utc::now()).await }).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!("scheduler: {e:#}"),
                Err(e) => {
                    tracing::error!("scheduler: a run panicked: {e}");
                    if let Ok(mut store) = self.store()
                        && let Ok(rows) = store.automations()
                    {
                        for r in rows
                            .iter()
                            .filter(|r| r.running_owner.as_deref() == Some(self.owner.as_str()))
                        {
                            let _ = store.release_lock(&r.name);
                        }
                    }
                }
            }
            let wait = self
                .next_wake()
                .map(|t| (t - Utc::now()).to_std().unwrap_or_default())
                .unwrap_or(std::time::Duration::from_secs(60))
                .clamp(
                    std::time::Duration::from_millis(200),
                    std::time::Duration::from_secs(60),
                );
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}

async fn healthz(State(service): State<Arc<Service>>) -> impl IntoResponse {
    health_response(&service)
}

/// What `/healthz` and `/api/v1/health` answer.
pub(crate) fn health_response(service: &Service) -> axum::Json<serde_json::Value> {
    let degraded = service
        .degraded
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    match degraded {
        None => axum::Json(serde_json::json!({"status": "ok"})),
        Some(reason) => axum::Json(serde_json::json!({"status": "degraded", "reason": reason})),
    }
}

async fn metrics_text() -> impl IntoResponse {
    metrics_response()
}

/// What `/metrics` and `/api/v1/metrics` answer.
pub(crate) fn metrics_response() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        metrics_handle().render(),
    )
}

/// `/api/v1/*` of a daemon without `[server.auth]`.
async fn api_off() -> api::problem::Problem {
    api::problem::Problem::new(
        axum::http::StatusCode::NOT_FOUND,
        "api-off",
        "the REST API is off: add a [server.auth] section to the configuration (see the README, \"Operators and roles\") and reload",
    )
}

/// `/console` of a daemon without `[server.auth]`.
async fn console_off() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        axum::response::Html(
            "<!doctype html><title>hrsync console: off</title><h1>The console is off</h1><p>Add a <code>[server.auth]</code> section to the configuration (README, \"Operators and roles\") and reload: the console signs operators in with their directory accounts.</p>",
        ),
    )
}

/// The API's sign-in settings from `[server.auth]` (None without one).
fn api_auth_settings(cfg: &Config) -> anyhow::Result<Option<hrsync_auth::AuthSettings>> {
    Ok(cfg.auth_settings()?)
}

async fn event(
    State(svc): State<Arc<Service>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let (code, v) = svc.accept_event(&name, &headers, &body);
    (code, axum::Json(v))
}

/// A running daemon (for `hrsync serve` and in-process tests).
pub struct Running {
    pub addr: std::net::SocketAddr,
    pub service: Arc<Service>,
    stop: watch::Sender<bool>,
    runs: std::thread::JoinHandle<()>,
    server: tokio::task::JoinHandle<std::io::Result<tokio::net::TcpListener>>,
}

impl Running {
    /// Stops accepting requests, lets running work finish (up to `grace`), and returns the
    /// listener when its requests all finished in time (a reload serves on with it).
    pub async fn shutdown(mut self, grace: std::time::Duration) -> Option<tokio::net::TcpListener> {
        let _ = self.stop.send(true);
        let listener = match tokio::time::timeout(grace, &mut self.server).await {
            Ok(Ok(Ok(l))) => Some(l),
            _ => None,
        };
        // Event queues close with the service's senders; workers finish their batch.
        self.service
            .queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        let runs = self.runs;
        let drain = tokio::task::spawn_blocking(move || runs.join());
        if tokio::time::timeout(grace, drain).await.is_err() {
            tracing::warn!("shutdown: work still running after {grace:?}; exiting anyway");
        }
        listener
    }
}

/// Starts the daemon on `listener`.
pub async fn start(cfg: Config, listener: tokio::net::TcpListener) -> anyhow::Result<Running> {
    start_service(Service::new(cfg)?, listener).await
}

/// Starts a built [`Service`] on `listener`.
pub async fn start_service(
    service: Arc<Service>,
    listener: tokio::net::TcpListener,
) -> anyhow::Result<Running> {
    let (stop, stop_rx) = watch::channel(false);
    let mut receivers = Vec::new();
    for ep in service.endpoints.clone() {
        let (tx, rx) = mpsc::unbounded_channel();
        // Events accepted before a stop but not yet processed run first.
        for (id, employee) in service.store()?.unfinished_events(&ep.raw.name)? {
            tracing::info!(endpoint = %ep.raw.name, event = %id, "resuming an accepted event");
            let _ = tx.send(Queued {
                employee,
                id,
                at: Instant::now(),
            });
        }
        service
            .queues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(ep.raw.name.clone(), tx);
        receivers.push((ep, rx));
    }
    // Syncs run on one thread of their own (the engine's run is a single-task future that
    // interleaves fetching and planning; its fetch task still uses the runtime's workers).
    let handle = tokio::runtime::Handle::current();
    let svc = service.clone();
    let rx_stop = stop_rx.clone();
    let runs = std::thread::Builder::new()
        .name("hrsync-runs".into())
        .spawn(move || {
            let local = tokio::task::LocalSet::new();
            handle.block_on(local.run_until(async move {
                let mut all = Vec::new();
                for (ep, rx) in receivers {
                    all.push(tokio::task::spawn_local(svc.clone().event_worker(ep, rx)));
                }
                all.push(tokio::task::spawn_local(
                    svc.clone().scheduler_loop(rx_stop.clone()),
                ));
                if let Some(rx) = svc.api_runs.take_receiver() {
                    all.push(tokio::task::spawn_local(api::runs::serve_requests(
                        svc.clone(),
                        rx,
                        rx_stop.clone(),
                    )));
                }
                all.push(tokio::task::spawn_local(svc.clone().worker_loop(rx_stop)));
                for h in all {
                    let _ = h.await;
                }
            }));
        })?;
    let (api, console) = match &service.auth {
        Some(auth) => {
            let secure = service.cfg.raw.serve.tls.is_some();
            let api = api::router(service.clone(), auth.clone(), secure);
            let console = console::router(service.clone(), auth.clone(), api.clone(), secure)
                .map_err(|e| anyhow::anyhow!("the console's templates do not compile: {e:#}"))?;
            (api, console)
        }
        None => (
            axum::Router::new().route("/api/v1/{*rest}", axum::routing::any(api_off)),
            axum::Router::new()
                .route("/console", axum::routing::any(console_off))
                .route("/console/{*rest}", axum::routing::any(console_off)),
        ),
    };
    // With the API on, nothing but /healthz (and the signed event endpoints) answers without
    // a session or a token: /metrics wants one too (a viewer token for a Prometheus scraper).
    let metrics = match &service.auth {
        Some(auth) => axum::routing::get(metrics_text).layer(axum::middleware::from_fn_with_state(
            auth.clone(),
            hrsync_auth::http::require_auth,
        )),
        None => axum::routing::get(metrics_text),
    };
    let app = axum::Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/metrics", metrics)
        .route("/events/{name}", axum::routing::post(event))
        .with_state(service.clone())
        .merge(api)
        .merge(console)
        .layer(axum::extract::DefaultBodyLimit::max(1024 * 1024));
    let addr = listener.local_addr()?;
    let limits =
        listen::Limits::from_config(&service.cfg.raw.serve).fit_to(listen::open_files_limit());
    let server = tokio::spawn(listen::serve(
        listener,
        app,
        limits,
        listen::tls_acceptor(&service.cfg, addr)?,
        stop_rx.clone(),
    ));
    tracing::info!(%addr, "hrsync serve listening");
    Ok(Running {
        addr,
        service,
        stop,
        runs,
        server,
    })
}

/// `hrsync serve`: runs until SIGTERM or SIGINT; reloads its configuration on SIGHUP and
/// after the API saved it.
pub async fn serve(cfg: Config, listen: Option<String>) -> anyhow::Result<()> {
    let fixed = listen.clone();
    let addr = listen.unwrap_or_else(|| cfg.raw.serve.listen.clone());
    let grace = std::time::Duration::from_secs(cfg.raw.serve.shutdown_grace_secs);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let path = cfg.path.clone();
    let (reload_tx, mut reload_rx) = mpsc::unbounded_channel();
    let svc = Service::new(cfg)?;
    svc.set_reload(reload_tx.clone());
    // The handlers are in place before anything is served: a SIGHUP sent as soon as the
    // daemon answers reloads it (the default action would end it).
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut running = start_service(svc, listener).await?;
    println!(
        "hrsync serve: listening on {}://{}",
        listen::scheme(&running.service.cfg),
        running.addr
    );
    loop {
        let why = tokio::select! {
            _ = term.recv() => {
                tracing::info!("SIGTERM: shutting down");
                break;
            }
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("SIGINT: shutting down");
                break;
            }
            _ = hup.recv() => "SIGHUP",
            Some(()) = reload_rx.recv() => "saved through the API",
        };
        // Reload: the new file must load and validate, else the running daemon keeps its
        // configuration. Then running work finishes and the daemon restarts in place with the
        // new one, on the same listener unless the address changed (clients connecting
        // meanwhile wait in its backlog). Everything that can fail (secrets, webhooks) is
        // checked before the running daemon is touched.
        let new = Config::load(&path)
            .map_err(anyhow::Error::from)
            .and_then(|c| {
                let addr = fixed.clone().unwrap_or_else(|| c.raw.serve.listen.clone());
                // Certificate files are read now: bad ones keep the running daemon.
                let bound = addr.parse().unwrap_or(running.addr);
                listen::tls_acceptor(&c, bound)?;
                Ok((Service::new(c)?, addr))
            });
        match new {
            Err(e) => {
                tracing::error!("{why}: configuration not reloaded, the old one stays: {e:#}");
                running.service.set_degraded(Some(format!(
                    "the configuration reloaded at {} was refused, the previous one is running: {e:#}",
                    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )));
            }
            Ok((svc, addr)) => {
                svc.set_reload(reload_tx.clone());
                let same = addr.parse::<std::net::SocketAddr>().ok() == Some(running.addr);
                let kept = running.shutdown(grace).await;
                let listener = match kept {
                    Some(l) if same => l,
                    _ => tokio::net::TcpListener::bind(&addr)
                        .await
                        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?,
                };
                running = start_service(svc, listener).await?;
                tracing::info!(addr = %running.addr, "{why}: configuration reloaded");
            }
        }
    }
    running.shutdown(grace).await;
    tracing::info!("stopped");
    Ok(())
}
