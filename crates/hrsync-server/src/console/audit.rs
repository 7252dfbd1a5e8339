//! Runs and audit: searchable by person, kind, result and date; a person's page.

use super::ConsoleState;
use axum::Router;

pub(super) const TEMPLATES: &[(&str, &str)] = &[];

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
}
