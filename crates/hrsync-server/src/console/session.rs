//! Sign-in and sign-out pages: the form posts to `/console/login`, which asks
//! `POST /api/v1/session` in process and hands its cookie to the browser.

use super::ConsoleState;
use super::client::{self, Caller};
use super::page::{self, Ctx};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Form, Router};
use minijinja::context;
use serde::Deserialize;
use std::net::SocketAddr;

pub(super) const TEMPLATES: &[(&str, &str)] = &[(
    "login.html",
    include_str!("../../console/templates/login.html"),
)];

/// Routes that need no session (the sign-in page); sign-out is under the session layer.
pub(super) fn public_routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/login", get(form).post(login))
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
}

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new().route("/console/logout", axum::routing::post(logout))
}

#[derive(Deserialize, Default)]
pub(super) struct Next {
    #[serde(default)]
    next: String,
    #[serde(default)]
    signed_out: Option<String>,
}

/// Only a console path is a place to come back to (never another site).
fn safe_next(next: &str) -> String {
    if next.starts_with("/console/") && !next.starts_with("//") && !next.contains('\\') {
        next.to_string()
    } else {
        "/console/".to_string()
    }
}

async fn form(State(st): State<ConsoleState>, Query(q): Query<Next>) -> Response {
    page::render(
        &st.tpl,
        "login.html",
        context! { next => safe_next(&q.next), signed_out => q.signed_out.is_some(), user => "" },
    )
}

#[derive(Deserialize)]
pub(super) struct Login {
    user: String,
    password: String,
    #[serde(default)]
    next: String,
}

async fn login(
    State(st): State<ConsoleState>,
    addr: Option<Extension<ConnectInfo<SocketAddr>>>,
    Form(f): Form<Login>,
) -> Response {
    let who = Caller {
        cookie: String::new(),
        csrf: String::new(),
        addr: addr.map(|Extension(ConnectInfo(a))| a),
    };
    let body = serde_json::json!({"user": f.user, "password": f.password});
    match client::call(
        &st.api,
        &who,
        Method::POST,
        "/api/v1/session",
        Some(&body),
        None,
    )
    .await
    {
        Ok(reply) => {
            let mut r = Redirect::to(&safe_next(&f.next)).into_response();
            if let Some(c) = reply.headers.get(header::SET_COOKIE) {
                r.headers_mut().insert(header::SET_COOKIE, c.clone());
            }
            r
        }
        Err(e) => {
            let mut r = page::render(
                &st.tpl,
                "login.html",
                context! {
                    next => safe_next(&f.next),
                    user => f.user,
                    problem => page::tpl(&e.problem),
                    status => e.status.as_u16(),
                },
            );
            *r.status_mut() = e.status;
            if let Some(h) = e
                .problem
                .get("retry_after")
                .and_then(|v| HeaderValue::from_str(&v.to_string()).ok())
            {
                r.headers_mut().insert(header::RETRY_AFTER, h);
            }
            r
        }
    }
}

async fn logout(ctx: Ctx) -> Response {
    let _ = ctx
        .call(Method::DELETE, "/api/v1/session", None, None)
        .await;
    let mut r = Redirect::to("/console/login?signed_out=1").into_response();
    if let Ok(v) = HeaderValue::from_str(&hrsync_auth::sessions::clear_cookie(ctx.st.secure)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    *r.status_mut() = StatusCode::SEE_OTHER;
    r
}
