//! Subcommands that grew past a few lines live here, one file each; `main.rs` parses
//! arguments and dispatches.

pub mod check;
pub mod endpoint;
pub mod explain;
pub mod history;
pub mod mapping_test;
pub mod notify;
pub mod oauth;
pub mod orchestrate;
pub mod orphans;
pub mod plans;
pub mod replay;
pub mod token;

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod help_tests;
