//! hrsync: HR-driven identity lifecycle engine. This library half holds the engine that runs
//! the stages in order ([`engine`], entered through [`run`]) and the daemon ([`service`]); the
//! configuration is `hrsync-config`; `main.rs` is the CLI.

pub mod check;
mod confirm;
pub mod engine;
pub mod explain;
pub mod guards;
mod locks;
pub mod mapping_tests;
pub mod notify;
pub mod orchestrate;
pub mod person;
pub mod plans;
mod recover;
pub mod replay;
pub mod report;
mod run;
pub mod sensitive;
pub mod service;
pub mod unique;

pub use report::{
    EngineError, Mode, Only, RunOptions, RunReport, RunStatus, Timings, Ui, Unattended,
};
pub use run::{run, run_with};
