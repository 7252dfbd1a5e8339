//! hrsync's daemon ([`service`]: `hrsync serve`); the engine is `hrsync-engine`, the
//! configuration `hrsync-config`; `main.rs` is the CLI.

pub mod service;
