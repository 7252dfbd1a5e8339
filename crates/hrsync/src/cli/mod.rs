//! Subcommands that grew past a few lines live here, one file each; `main.rs` parses
//! arguments and dispatches.

pub mod check;
pub mod endpoint;
pub mod orphans;
