//! The application catalogue and an integration's page: enable switch, authorization (secrets write-only), endpoints (preset, + Add API endpoint, macro chooser) and Test & Save with the field table.

use super::ConsoleState;
use axum::Router;

pub(super) const TEMPLATES: &[(&str, &str)] = &[];

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
}
