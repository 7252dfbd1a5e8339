//! Outbound webhooks: editor with macro picker, Test & Save on users chosen with the directory picker.

use super::ConsoleState;
use axum::Router;

pub(super) const TEMPLATES: &[(&str, &str)] = &[];

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
}
