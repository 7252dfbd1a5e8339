//! hrsync: HR-driven identity lifecycle engine. This library half holds the configuration
//! ([`config`]) and the engine that runs the stages in order ([`engine`]); `main.rs` is the CLI.

pub mod check;
pub mod config;
pub mod config_edit;
mod confirm;
pub mod engine;
pub mod explain;
pub mod guards;
pub mod mapping_tests;
pub mod notify;
pub mod person;
pub mod plans;
mod recover;
pub mod replay;
pub mod sensitive;
pub mod service;
pub mod statuses;
pub mod unique;
