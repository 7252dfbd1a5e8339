//! Settings: operators and roles, API tokens (shown once, revoke), config history with diff and restore, notifications.

use super::ConsoleState;
use axum::Router;

pub(super) const TEMPLATES: &[(&str, &str)] = &[];

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
}
