//! Emulators of HR systems' REST APIs for testing and demonstrating hrsync
//! without the real systems.
//!
//! * [`icehrm`] — IceHrm v35 (open source) REST API: employees list/get/
//!   create/update/delete, company structures, JWT "Api Access" tokens, the
//!   real server's quirks (always-`page+1` `nextPage`, self-hoisting, HTTP 500
//!   with empty bodies, doubly nested error arrays, PHP-style JSON escaping)
//!   and injectable faults. See the module docs for the full list.
//! * [`paycor`] — Paycor Public API (v1, one tenant / legal entity): APIM
//!   subscription key + bearer token on every call, per-key rate limit (429 +
//!   `Retry-After`), continuation-token paging, employees / persons / lookups,
//!   contact, position and status writes, STS with rotating refresh tokens,
//!   mock events and injectable faults. See the module docs.
//!
//! Use it in-process (`icehrm::router` / `paycor::router` with
//! `tower::ServiceExt::oneshot`, or `serve` on port 0) or through the
//! `hrsync-emulator` binary.

pub mod icehrm;
pub mod paycor;
pub mod rest;
