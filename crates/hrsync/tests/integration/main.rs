//! Integration tests against a real slapd (started by `scripts/test.sh`, which exports
//! `HRSYNC_TEST_LDAP_*`) and the IceHrm emulator served in-process on a loopback port.
//! Each test works in its own OU and its own state database, so tests run in parallel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actions;
mod ad;
mod api;
mod api_ad;
mod common;
mod console;
mod console_browser;
mod crash;
mod csv;
mod daemon;
mod examples;
mod explain;
mod hostile;
mod hostile_hr;
mod lifecycle;
mod mapping_test;
mod notify;
mod ops;
mod paycor;
mod paycor_oauth;
mod plans;
mod progress;
mod replay;
mod rest;
mod secrets;
mod sync;
mod token;
mod trust;
