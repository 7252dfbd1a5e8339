//! The web console (issue 16), `/console`: server-rendered HTML (minijinja templates compiled
//! into the binary) with htmx for partial updates, served by `hrsync serve`. No JavaScript
//! build and no CDN: every asset is in the binary ([`assets`]).
//!
//! The console is a client of the REST API: a page or a form asks `/api/v1` in process
//! ([`client`]) with the browser's own session cookie, so the API's roles, CSRF check,
//! validation and request audit apply to everything the console does, and the console shows
//! what the API answered (problem details included). The console also checks the session's
//! CSRF token itself on every state-changing request (an `X-CSRF-Token` header, which htmx
//! sends, or a `csrf` form field), so a forged form never reaches the API.
//!
//! Pages, one module each: [`dashboard`], [`integrations`] (catalogue, authorization,
//! endpoints, Test & Save), [`mappings`] (editor, inline format check, live preview),
//! [`plans`] (plan now, changes, approvals, apply with progress), [`audit`] (runs, audit, a
//! person's page), [`ops`] (review, orphans, outbox, deliveries), [`webhooks`]
//! (Test & Save with the users-and-groups picker), [`orchestrations`], [`automations`],
//! [`settings`] (operators, tokens, config history).

mod assets;
mod audit;
mod automations;
pub(crate) mod client;
mod dashboard;
mod form;
mod integrations;
mod mappings;
mod ops;
mod orchestrations;
pub(crate) mod page;
mod plans;
mod session;
mod settings;
mod webhooks;

use crate::Service;
use axum::Router;
use hrsync_auth::Auth;
use minijinja::Environment;
use std::sync::Arc;

/// What every console handler gets.
#[derive(Clone)]
pub struct ConsoleState {
    /// The API's router, called in process.
    pub api: Router,
    pub auth: Arc<Auth>,
    pub svc: Arc<Service>,
    pub tpl: Arc<Environment<'static>>,
    /// Served over TLS (cookies carry `Secure`).
    pub secure: bool,
}

impl axum::extract::FromRef<ConsoleState> for Arc<Auth> {
    fn from_ref(s: &ConsoleState) -> Arc<Auth> {
        s.auth.clone()
    }
}

/// Every template: `(name, source)`; each page module lists its own.
fn templates() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    page::TEMPLATES
        .iter()
        .chain(session::TEMPLATES)
        .chain(dashboard::TEMPLATES)
        .chain(integrations::TEMPLATES)
        .chain(mappings::TEMPLATES)
        .chain(plans::TEMPLATES)
        .chain(audit::TEMPLATES)
        .chain(ops::TEMPLATES)
        .chain(webhooks::TEMPLATES)
        .chain(orchestrations::TEMPLATES)
        .chain(automations::TEMPLATES)
        .chain(settings::TEMPLATES)
}

/// The template environment (HTML auto-escaping by the `.html` names; filters of [`page`]).
pub fn environment() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    page::register(&mut env);
    for (name, src) in templates() {
        env.add_template(name, src)?;
    }
    Ok(env)
}

/// The console's router (`/console/…`), given the API's.
pub fn router(
    svc: Arc<Service>,
    auth: Arc<Auth>,
    api: Router,
    secure: bool,
) -> Result<Router, minijinja::Error> {
    let state = ConsoleState {
        api,
        auth,
        svc,
        tpl: Arc::new(environment()?),
        secure,
    };
    let pages = Router::new()
        .merge(session::routes())
        .merge(dashboard::routes())
        .merge(integrations::routes())
        .merge(mappings::routes())
        .merge(plans::routes())
        .merge(audit::routes())
        .merge(ops::routes())
        .merge(webhooks::routes())
        .merge(orchestrations::routes())
        .merge(automations::routes())
        .merge(settings::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            page::require_session,
        ))
        .merge(session::public_routes())
        .with_state(state);
    Ok(Router::new()
        .merge(assets::routes())
        .merge(pages)
        .layer(axum::middleware::from_fn(page::security_headers)))
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    #[test]
    fn every_template_compiles() {
        let env = super::environment().expect("templates compile");
        assert!(env.get_template("base.html").is_ok());
    }
}
