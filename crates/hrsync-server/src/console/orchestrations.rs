//! Orchestration templates: trigger, steps, conditions, retries; run on chosen users or groups.

use super::ConsoleState;
use axum::Router;

pub(super) const TEMPLATES: &[(&str, &str)] = &[];

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
}
