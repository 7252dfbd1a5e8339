//! axum glue: a request's [`Principal`] from `Authorization: Bearer hrs_…` (an API token) or
//! the session cookie (with the CSRF token on every state-changing request), as an extractor
//! or a middleware; role-checking extractors ([`AsViewer`], [`AsOperator`], [`AsAdmin`]); and
//! [`AuthError`] as an RFC 9457 problem response (401, 403, 429 …).
//!
//! The router's state must give an `Arc<Auth>` (`FromRef`).

use crate::sessions::{self, CSRF_HEADER};
use crate::{Auth, AuthError, Principal, Result, Role};
use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// What problem `type`s start with; the error's [`AuthError::kind`] follows.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:hrsync:problem:";

/// Methods that change nothing: no CSRF token needed.
pub fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Who the request is: an API token when it has `Authorization`, else the session of its
/// cookie (refused without the session's `X-CSRF-Token` unless the method is safe), else
/// `Unauthenticated`. Uses the state database: call it off the async threads, or through
/// the extractor, which does.
pub fn authenticate(auth: &Auth, method: &Method, headers: &HeaderMap) -> Result<Principal> {
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let v = v.to_str().map_err(|_| AuthError::InvalidToken)?;
        let (scheme, token) = v.trim().split_once(' ').ok_or(AuthError::InvalidToken)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::InvalidToken);
        }
        return auth.token(token);
    }
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(sessions::cookie_value)
        .ok_or(AuthError::Unauthenticated)?;
    let session = auth.session(cookie)?;
    if !is_safe(method) {
        let csrf = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        sessions::check_csrf(&session, csrf)?;
    }
    Ok(session.principal)
}

/// [`authenticate`] on a blocking thread (the state database may wait for a lock).
pub async fn authenticate_async(
    auth: Arc<Auth>,
    method: Method,
    headers: HeaderMap,
) -> Result<Principal> {
    tokio::task::spawn_blocking(move || authenticate(&auth, &method, &headers))
        .await
        .map_err(|e| AuthError::Settings(format!("authentication did not finish: {e}")))?
}

/// Middleware (`axum::middleware::from_fn_with_state`): refuses requests that are not
/// authenticated, and puts the [`Principal`] into the request's extensions (where the
/// extractors find it without asking again).
pub async fn require_auth(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    let found = authenticate_async(auth, req.method().clone(), req.headers().clone()).await;
    match found {
        Ok(p) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

impl<S> FromRequestParts<S> for Principal
where
    Arc<Auth>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(p.clone());
        }
        let p = authenticate_async(
            Arc::<Auth>::from_ref(state),
            parts.method.clone(),
            parts.headers.clone(),
        )
        .await?;
        parts.extensions.insert(p.clone());
        Ok(p)
    }
}

macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $name(pub Principal);

        impl<S> FromRequestParts<S> for $name
        where
            Arc<Auth>: FromRef<S>,
            S: Send + Sync,
        {
            type Rejection = AuthError;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
                let p = Principal::from_request_parts(parts, state).await?;
                p.require($role)?;
                Ok($name(p))
            }
        }
    };
}

role_extractor!(
    /// A principal with at least the viewer role (401 without one).
    AsViewer,
    Role::Viewer
);
role_extractor!(
    /// A principal with at least the operator role (401 without one, 403 below operator).
    AsOperator,
    Role::Operator
);
role_extractor!(
    /// An admin (401 without a principal, 403 below admin).
    AsAdmin,
    Role::Admin
);

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        // What went wrong inside stays in the log; the client is told that it did.
        let detail = if status.is_server_error() {
            tracing::error!(kind = self.kind(), "{self}");
            "the server could not check who you are; see its log".to_string()
        } else {
            self.to_string()
        };
        let body = serde_json::json!({
            "type": format!("{PROBLEM_TYPE_PREFIX}{}", self.kind()),
            "title": status.canonical_reason().unwrap_or("error"),
            "status": status.as_u16(),
            "detail": detail,
        });
        let mut resp = (status, body.to_string()).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"hrsync\""),
            );
        }
        if let AuthError::Throttled { until } = &self {
            let secs = (*until - chrono::Utc::now()).num_seconds().max(1);
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                h.insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{Via, settings::tests::sample};
    use axum::Router;
    use axum::body::Body;
    use axum::routing::{get, post};
    use hrsync_state::Store;
    use tower::ServiceExt;

    fn auth() -> Arc<Auth> {
        Arc::new(Auth::new(sample(), Store::in_memory().unwrap()).unwrap())
    }

    fn app(auth: Arc<Auth>) -> Router {
        Router::new()
            .route("/read", get(|AsViewer(p): AsViewer| async move { p.name }))
            .route(
                "/apply",
                post(|AsOperator(p): AsOperator| async move { p.audit_name() }),
            )
            .route("/config", post(|AsAdmin(p): AsAdmin| async move { p.name }))
            .with_state(auth)
    }

    async fn call(app: &Router, req: axum::http::Request<Body>) -> (u16, String, HeaderMap) {
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned(), headers)
    }

    fn req(method: &str, path: &str, headers: &[(&str, &str)]) -> axum::http::Request<Body> {
        let mut b = axum::http::Request::builder().method(method).uri(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn tokens_and_sessions_reach_routes_by_role() {
        let auth = auth();
        let app = app(auth.clone());
        // Nobody.
        let (s, body, h) = call(&app, req("GET", "/read", &[])).await;
        assert_eq!(s, 401, "{body}");
        assert!(
            body.contains("urn:hrsync:problem:unauthenticated"),
            "{body}"
        );
        assert_eq!(h[header::CONTENT_TYPE], "application/problem+json");
        assert!(h.contains_key(header::WWW_AUTHENTICATE));
        // A viewer token reads but cannot apply.
        let viewer = auth
            .create_token("dash", Role::Viewer, None, "root")
            .unwrap();
        let bearer = format!("Bearer {}", viewer.secret);
        let (s, body, _) = call(&app, req("GET", "/read", &[("authorization", &bearer)])).await;
        assert_eq!((s, body.as_str()), (200, "dash"));
        let (s, body, _) = call(&app, req("POST", "/apply", &[("authorization", &bearer)])).await;
        assert_eq!(s, 403, "{body}");
        assert!(body.contains("needs operator"), "{body}");
        // A wrong token.
        let (s, _, _) = call(
            &app,
            req("GET", "/read", &[("authorization", "Bearer hrs_x")]),
        )
        .await;
        assert_eq!(s, 401);
        // An operator's session: reads; applies only with the CSRF token.
        let op = Principal {
            name: "alice".into(),
            dn: Some("uid=alice,dc=example,dc=com".into()),
            role: Role::Operator,
            via: Via::Session,
        };
        let new = auth
            .with_store(|s| {
                crate::sessions::open(s, &auth.settings().sessions, &op, None, auth.now())
            })
            .unwrap();
        let cookie = format!("theme=dark; hrsync_session={}", new.cookie_value);
        let (s, _, _) = call(&app, req("GET", "/read", &[("cookie", &cookie)])).await;
        assert_eq!(s, 200);
        let (s, body, _) = call(&app, req("POST", "/apply", &[("cookie", &cookie)])).await;
        assert_eq!(s, 403, "{body}");
        assert!(body.contains("urn:hrsync:problem:csrf"), "{body}");
        let (s, _, _) = call(
            &app,
            req(
                "POST",
                "/apply",
                &[("cookie", &cookie), ("x-csrf-token", "nope")],
            ),
        )
        .await;
        assert_eq!(s, 403);
        let with_csrf = [
            ("cookie", cookie.as_str()),
            ("x-csrf-token", &new.csrf_token),
        ];
        let (s, body, _) = call(&app, req("POST", "/apply", &with_csrf)).await;
        assert_eq!((s, body.as_str()), (200, "alice"));
        let (s, _, _) = call(&app, req("POST", "/config", &with_csrf)).await;
        assert_eq!(s, 403, "an operator is not an admin");
        // After logout the cookie is refused.
        auth.logout(&new.cookie_value).unwrap();
        let (s, body, _) = call(&app, req("GET", "/read", &[("cookie", &cookie)])).await;
        assert_eq!(s, 401);
        assert!(body.contains("unknown-session"), "{body}");
    }

    #[tokio::test]
    async fn the_middleware_refuses_and_hands_the_principal_on() {
        let auth = auth();
        let app = Router::new()
            .route("/x", get(|p: Principal| async move { p.audit_name() }))
            .layer(axum::middleware::from_fn_with_state(
                auth.clone(),
                require_auth,
            ))
            .with_state(auth.clone());
        let (s, _, _) = call(&app, req("GET", "/x", &[])).await;
        assert_eq!(s, 401);
        let t = auth.create_token("ci", Role::Admin, None, "root").unwrap();
        let bearer = format!("bearer {}", t.secret);
        let (s, body, _) = call(&app, req("GET", "/x", &[("authorization", &bearer)])).await;
        assert_eq!((s, body.as_str()), (200, "token:ci"));
        let last = auth.tokens().unwrap()[0].last_used;
        assert!(last.is_some(), "the use was recorded");
    }

    #[test]
    fn throttled_answers_say_when_to_come_back() {
        let until = chrono::Utc::now() + chrono::TimeDelta::seconds(120);
        let resp = AuthError::Throttled { until }.into_response();
        assert_eq!(resp.status(), 429);
        let after: i64 = resp.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((100..=120).contains(&after), "{after}");
        let resp = AuthError::Random("boom".into()).into_response();
        assert_eq!(resp.status(), 500);
    }
}
