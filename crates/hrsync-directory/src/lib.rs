//! Directory access over LDAP (ldap3, async): read a snapshot of the managed entries and execute
//! a [`Plan`](hrsync_model::Plan). This crate never decides what to change; it only reads and
//! executes, and reports every result with the server's result code and diagnostic text.
//!
//! - [`dialect`]: what "disabled" and "stable id" mean on each server (OpenLDAP now).
//! - [`connect`]: connections, TLS (LDAPS/StartTLS with a configured CA), binds.
//! - [`snapshot`]: paged subtree search for entries carrying the key attribute.
//! - [`apply`]: executes changes with bounded concurrency over several connections.
//! - [`result_code`]: LDAP result codes by name, for every failure message.
//! - [`schema`]: the server's schema, and the values it would refuse, as per-record findings.

pub mod apply;
mod ber;
pub mod connect;
pub mod dialect;
pub mod lookup;
pub mod password;
pub mod probe;
pub mod result_code;
pub mod schema;
pub mod snapshot;

pub use apply::{CANCELLED, NOT_ATTEMPTED, Outcome, apply, apply_until, reset_password};
pub use connect::{Directory, DirectoryConfig, Passwords};
pub use dialect::Dialect;
pub use probe::Probed;
pub use schema::{Schema, SchemaProblem};

/// Directory failures. Never contains the bind password.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    #[error("directory {url}: cannot connect: {message}")]
    Connect { url: String, message: String },
    #[error("directory {url}: TLS setup failed: {message}")]
    Tls { url: String, message: String },
    /// The server refused the bind: `invalidCredentials (49)`, with its diagnostic text.
    #[error(
        "directory {url}: bind as {bind_dn} failed: {}; check bind_dn and the bind password reference",
        result_code::failure(*rc, "", text, "")
    )]
    Bind {
        url: String,
        bind_dn: String,
        rc: u32,
        text: String,
    },
    #[error("directory {url}: search under {base} failed: {message}")]
    Search {
        url: String,
        base: String,
        message: String,
    },
}

pub type Result<T> = std::result::Result<T, DirError>;
