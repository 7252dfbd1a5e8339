//! hrsync's engine: one run of a mapping, the stages in order — fetch (source) → map (mapping)
//! → snapshot (directory) → plan → [apply → audit] (state) — and what is built on runs. The
//! CLI and the daemon (`hrsync-server`) call [`run`] / [`run_with`]; the configuration a run
//! reads is `hrsync-config`'s [`Job`](hrsync_config::Job).
//!
//! Modules from the bottom up (each uses only modules listed before it):
//! - [`guards`] (blast-radius thresholds), `unique` (unique names), [`locks`] (run locks),
//!   [`sensitive`] (masking), [`orchestrate`] (what an apply queues; the webhook call),
//!   [`replay::snapshot`] (the HR snapshot a full run keeps), [`plans`] (saved plans, their
//!   files, approvals).
//! - [`progress`]: what a run reports as it goes ([`RunEvent`] to an [`EventSink`]) and the
//!   [`CancelToken`] that stops it.
//! - `report`: what a run is asked and reports ([`Mode`], [`RunOptions`], [`Ui`], [`RunReport`],
//!   [`RunStatus`], [`EngineError`]).
//! - `confirm` (people missing from HR confirmed by lookup), `recover` (interrupted runs
//!   settled).
//! - `engine`: the stages of a full or a targeted run and their conclusion (store, apply,
//!   audit).
//! - [`plans::apply`] (a saved plan applied exactly), `plans::save`; `run`: the entry
//!   ([`run`], [`run_with`]: run lock, run recorded, dispatch, plan saved).
//! - On top: [`explain`] (one person through every stage), [`endpoint_test`] (an HR endpoint
//!   called and its fields profiled), [`person`], [`mapping_tests`],
//!   [`replay`] (a configuration against a past run's HR snapshot), [`notify`] (who is told
//!   what after a run), [`check`] (`hrsync check`, offline and online).

pub mod check;
mod confirm;
pub mod endpoint_test;
mod engine;
pub mod explain;
pub mod guards;
pub mod locks;
pub mod mapping_tests;
pub mod notify;
pub mod orchestrate;
pub mod person;
pub mod plans;
pub mod progress;
mod recover;
pub mod replay;
mod report;
mod run;
pub mod sensitive;
mod unique;

pub use progress::{CancelToken, EventSink, RunEvent, Stage, StageState};
pub use report::{
    EngineError, Mode, Only, RunOptions, RunReport, RunStatus, Timings, Ui, Unattended,
};
pub use run::{run, run_with};
