//! Review list, orphans, outbox and dead letters (replay, cancel), webhook deliveries.

use super::ConsoleState;
use axum::Router;

pub(super) const TEMPLATES: &[(&str, &str)] = &[];

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
}
