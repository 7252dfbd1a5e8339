//! Emulators of HR systems' REST APIs for testing and demonstrating hrsync
//! without the real systems.
//!
//! * [`icehrm`] — IceHrm v35 (open source) REST API: employees list/get/
//!   create/update/delete, company structures, JWT "Api Access" tokens, the
//!   real server's quirks (always-`page+1` `nextPage`, self-hoisting, HTTP 500
//!   with empty bodies, doubly nested error arrays, PHP-style JSON escaping)
//!   and injectable faults. See the module docs for the full list.
//!
//! Use it in-process (`icehrm::router` with `tower::ServiceExt::oneshot`, or
//! `icehrm::serve` on port 0) or through the `hrsync-emulator` binary.

pub mod icehrm;
