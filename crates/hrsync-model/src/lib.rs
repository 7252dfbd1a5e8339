//! The vocabulary of hrsync. Every stage (source → records → mapping → desired state → plan →
//! apply → audit) speaks these types; this crate does no I/O and never decides anything.
//!
//! - [`secret`]: secrets as a type, referenced from config by env var or file, never printed.
//! - [`dn`] and [`filter`]: the one place where values become LDAP syntax (RFC 4514 / RFC 4515).
//! - [`attr`]: case-insensitive attribute names and attribute maps.
//! - [`record`]: what an HR source hands over, with the fetch report that says if it was complete.
//! - [`entry`]: desired entries (from mapping) and directory entries (from a snapshot).
//! - [`plan`]: the changes a run proposes, with the reasons; what `apply` executes.
//! - [`text`]: messages for logs and storage, cut to a sane length.

pub mod actions;
pub mod attr;
pub mod attrmap;
pub mod dn;
pub mod entry;
pub mod filter;
pub mod plan;
pub mod record;
pub mod secret;
pub mod text;

pub use actions::{Action, Actions};
pub use attr::AttrName;
pub use attrmap::AttrMap;
pub use entry::{DesiredEntry, DirEntry};
pub use plan::{
    AttrChange, Change, ChangeKind, DnChange, Finding, Orphan, Plan, PlanSummary, ReviewCandidate,
    ReviewItem, StaleChange,
};
pub use record::{FetchReport, HrRecord};
pub use secret::{Secret, SecretError, SecretRef};
