//! Plans: plan now, changes grouped by kind with before → after and the reason, held and approval-gated changes (approve/reject, four-eyes), apply with live progress.

use super::ConsoleState;
use axum::Router;

pub(super) const TEMPLATES: &[(&str, &str)] = &[];

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
}
