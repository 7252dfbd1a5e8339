//! What every console page shares: the signed-in [`Ctx`] (put into the request by
//! [`require_session`], which also checks the CSRF token of every state-changing request),
//! rendering with the base layout, problem pages and fragments, template filters, and the
//! security headers.

use super::ConsoleState;
use super::client::{self, ApiError, Caller, Reply};
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use hrsync_auth::{Role, sessions};
use minijinja::{Environment, Value as Tpl, context};
use serde_json::Value;

pub(super) const TEMPLATES: &[(&str, &str)] = &[
    (
        "base.html",
        include_str!("../../console/templates/base.html"),
    ),
    (
        "error.html",
        include_str!("../../console/templates/error.html"),
    ),
    (
        "problem.html",
        include_str!("../../console/templates/problem.html"),
    ),
    (
        "macros.html",
        include_str!("../../console/templates/macros.html"),
    ),
];

/// The largest form the console reads.
const MAX_FORM: usize = 1024 * 1024;

/// A signed-in console request.
#[derive(Clone)]
pub struct Ctx {
    pub user: String,
    pub role: Role,
    pub caller: Caller,
    /// The request's path and query (where a sign-in comes back to).
    pub path: String,
    /// An htmx request (answer with a fragment, not a page).
    pub htmx: bool,
    pub st: ConsoleState,
}

impl Ctx {
    pub fn can_operate(&self) -> bool {
        self.role >= Role::Operator
    }
    pub fn can_admin(&self) -> bool {
        self.role >= Role::Admin
    }

    /// `GET` of an API path; its JSON body.
    pub async fn get(&self, path: &str) -> Result<Value, ApiError> {
        Ok(self.call(Method::GET, path, None, None).await?.body)
    }

    /// Any API call.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<Reply, ApiError> {
        client::call(&self.st.api, &self.caller, method, path, body, if_match).await
    }

    /// What every template sees: `me`, `csrf`, `path`, `htmx`.
    fn base(&self) -> Tpl {
        context! {
            me => context! {
                user => self.user.clone(),
                role => self.role.as_str(),
                can_operate => self.can_operate(),
                can_admin => self.can_admin(),
            },
            csrf => self.caller.csrf.clone(),
            path => self.path.clone(),
            htmx => self.htmx,
        }
    }

    /// Renders a template with the base context and `extra` (200).
    pub fn render(&self, name: &str, extra: Tpl) -> Response {
        render(&self.st.tpl, name, context! { ..extra, ..self.base() })
    }

    /// Renders with a status.
    pub fn render_status(&self, status: StatusCode, name: &str, extra: Tpl) -> Response {
        let mut r = self.render(name, extra);
        *r.status_mut() = status;
        r
    }

    /// The API's refusal as a page (or, to htmx, a fragment), with the API's status.
    pub fn problem(&self, e: &ApiError) -> Response {
        let name = if self.htmx {
            "problem.html"
        } else {
            "error.html"
        };
        self.render_status(
            e.status,
            name,
            context! { problem => tpl(&e.problem), status => e.status.as_u16() },
        )
    }
}

/// Renders a template; a template error is a 500 page naming the template (never a panic).
pub fn render(env: &Environment<'static>, name: &str, ctx: Tpl) -> Response {
    match env.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(template = name, "console template failed: {e:#}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html(format!(
                    "<!doctype html><title>hrsync: error</title><p>The page {} could not be rendered; the server's log says why.</p>",
                    html_escape(name)
                )),
            )
                .into_response()
        }
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl FromRequestParts<ConsoleState> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Ctx>().cloned().ok_or_else(|| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "console route outside the session layer",
            )
                .into_response()
        })
    }
}

/// Middleware of every console page but sign-in and assets: no session → the sign-in page
/// (htmx: `HX-Redirect`); a state-changing request must carry the session's CSRF token in
/// `X-CSRF-Token` or, for a plain form, in its `csrf` field (403 otherwise).
pub async fn require_session(State(st): State<ConsoleState>, req: Request, next: Next) -> Response {
    let htmx = req.headers().contains_key("hx-request");
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/console/".into());
    let cookie = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(sessions::cookie_value)
        .map(str::to_string);
    let session = match cookie.clone() {
        None => None,
        Some(c) => {
            let auth = st.auth.clone();
            tokio::task::spawn_blocking(move || auth.session(&c))
                .await
                .ok()
                .and_then(Result::ok)
        }
    };
    let (Some(session), Some(cookie)) = (session, cookie) else {
        return to_sign_in(&path, htmx);
    };
    let (mut parts, body) = req.into_parts();
    let mut req = if hrsync_auth::http::is_safe(&parts.method) {
        Request::from_parts(parts, body)
    } else {
        let header_token = parts
            .headers
            .get(sessions::CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = match axum::body::to_bytes(body, MAX_FORM).await {
            Ok(b) => b,
            Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response(),
        };
        let token = header_token.or_else(|| form_field(&parts, &bytes, "csrf"));
        if sessions::check_csrf(&session, token.as_deref()).is_err() {
            tracing::warn!(user = %session.principal.audit_name(), path = %path, "console: refused a request without the session's CSRF token");
            return csrf_refused(&st, htmx);
        }
        parts.extensions.remove::<Ctx>();
        Request::from_parts(parts, Body::from(bytes))
    };
    let addr = crate::api::client_address(req.extensions());
    let ctx = Ctx {
        user: session.principal.audit_name(),
        role: session.principal.role,
        caller: Caller {
            cookie: format!("{}={cookie}", sessions::COOKIE_NAME),
            csrf: session.csrf_token.clone(),
            addr,
        },
        path,
        htmx,
        st,
    };
    req.extensions_mut().insert(ctx);
    next.run(req).await
}

fn form_field(parts: &Parts, body: &[u8], name: &str) -> Option<String> {
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return None;
    }
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn csrf_refused(st: &ConsoleState, htmx: bool) -> Response {
    let problem = serde_json::json!({
        "type": "urn:hrsync:problem:csrf",
        "title": "Forbidden",
        "status": 403,
        "detail": "this form did not carry the session's CSRF token: reload the page and try again",
    });
    let name = if htmx { "problem.html" } else { "error.html" };
    let mut r = render(
        &st.tpl,
        name,
        context! { problem => tpl(&problem), status => 403, me => Tpl::UNDEFINED },
    );
    *r.status_mut() = StatusCode::FORBIDDEN;
    r
}

/// Where a request without a session goes.
pub fn to_sign_in(path: &str, htmx: bool) -> Response {
    let target = format!("/console/login?next={}", client::enc(path));
    if htmx {
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        if let Ok(v) = HeaderValue::from_str(&target) {
            r.headers_mut().insert("hx-redirect", v);
        }
        r
    } else {
        Redirect::to(&target).into_response()
    }
}

/// Security headers of every console answer: a strict Content-Security-Policy (scripts and
/// styles only from hrsync itself; htmx runs without eval), no framing, no sniffing, no
/// referrer, and pages never cached.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let is_asset = req.uri().path().starts_with("/console/assets/");
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !is_asset {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

/// Template filters: `when` (an RFC 3339 time as `2026-12-03 11:45:32 UTC`), `pretty` (JSON,
/// indented), `enc` (a path segment).
pub fn register(env: &mut Environment<'static>) {
    env.add_filter("when", |v: Tpl| -> String {
        let s = v.as_str().map(str::to_string).unwrap_or_else(|| {
            if v.is_undefined() || v.is_none() {
                String::new()
            } else {
                v.to_string()
            }
        });
        match chrono::DateTime::parse_from_rfc3339(&s) {
            Ok(t) => t
                .with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string(),
            Err(_) => s,
        }
    });
    env.add_filter("pretty", |v: Tpl| -> String {
        serde_json::to_value(&v)
            .ok()
            .and_then(|j| serde_json::to_string_pretty(&j).ok())
            .unwrap_or_default()
    });
    env.add_filter("enc", |v: String| -> String { client::enc(&v) });
}

/// Shorthand for handlers: an API error as the page's answer.
pub type PageResult = Result<Response, Response>;

/// A JSON value for a template.
///
/// Numbers become the template's integers or floats: the workspace builds serde_json with
/// `arbitrary_precision`, whose numbers a template would otherwise see as maps (and as true).
pub fn tpl(v: &Value) -> Tpl {
    match v {
        Value::Null => Tpl::from(()),
        Value::Bool(b) => Tpl::from(*b),
        Value::Number(n) => n
            .as_i64()
            .map(Tpl::from)
            .or_else(|| n.as_u64().map(Tpl::from))
            .or_else(|| n.as_f64().map(Tpl::from))
            .unwrap_or_else(|| Tpl::from(n.to_string())),
        Value::String(s) => Tpl::from(s.as_str()),
        Value::Array(a) => Tpl::from(a.iter().map(tpl).collect::<Vec<_>>()),
        Value::Object(o) => Tpl::from(
            o.iter()
                .map(|(k, v)| (k.clone(), tpl(v)))
                .collect::<std::collections::BTreeMap<String, Tpl>>(),
        ),
    }
}
