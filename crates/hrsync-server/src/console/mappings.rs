//! Mappings: the list and the "Data Source – LDAP Attribute Mapping" editor (attribute ← field rows from the discovered fields, custom formats checked as you type), live preview on a chosen person.

use super::ConsoleState;
use axum::Router;

pub(super) const TEMPLATES: &[(&str, &str)] = &[];

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
}
