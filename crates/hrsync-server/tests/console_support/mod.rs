//! In-process console tests' fixture: a configuration in a temporary directory (a CSV
//! integration and a mapping, a directory that is never reached), the whole HTTP app of
//! `hrsync serve` (API + console) as one router, and signed-in browser sessions of any role
//! (opened in the state database as a directory sign-in would open them).
//!
//! Use from a test file with `mod console_support;`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use hrsync_auth::{
    Auth, AuthSettings, BreakGlass, DirectorySignIn, Principal, Role, RoleGroups, Via,
};
use hrsync_model::Secret;
use std::path::PathBuf;
use std::sync::Arc;
use tower::ServiceExt;

pub const CONFIG: &str = r#"
[state]
path = "state.db"

[[integration]]
name = "hr"
kind = "csv"
path = "people.csv"

[directory]
kind = "openldap"
url = "ldaps://127.0.0.1:1"
bind_dn = "cn=admin,dc=example,dc=com"
bind_password = { env = "HRSYNC_TEST_NOWHERE_PW" }
base_dn = "dc=example,dc=com"
users_ou = "ou=people,dc=example,dc=com"
object_classes = ["inetOrgPerson"]
key_attribute = "employeeNumber"

# The staff mapping.
[[mapping]]
name = "staff"
integration = "hr"
endpoint = "rows"
primary_key = "id"
rdn_attribute = "uid"

[mapping.attributes]
uid = "{id}"
cn = "{first} {last}"
sn = "{last}"
"#;

pub const PEOPLE: &str = "id,first,last\n1,Ada,Lovelace\n2,Alan,Turing\n";

pub struct Console {
    pub dir: tempfile::TempDir,
    pub app: axum::Router,
    pub auth: Arc<Auth>,
    pub state: PathBuf,
    pub config: PathBuf,
}

/// A signed-in browser: its cookie and the session's CSRF token.
#[derive(Clone)]
pub struct Browser {
    pub cookie: String,
    pub csrf: String,
}

pub fn settings() -> AuthSettings {
    let mut s = AuthSettings::new(DirectorySignIn {
        url: "ldaps://127.0.0.1:1".into(),
        starttls: false,
        ca_cert: None,
        service_bind: None,
        user_base: "ou=people,dc=example,dc=com".into(),
        user_attribute: "uid".into(),
        groups: RoleGroups {
            viewer: vec!["cn=viewers,dc=example,dc=com".into()],
            ..Default::default()
        },
        timeout: DirectorySignIn::DEFAULT_TIMEOUT,
    });
    s.break_glass = Some(BreakGlass {
        user: "root".into(),
        password_hash: hrsync_auth::break_glass::hash_password(&Secret::new("correct horse"))
            .unwrap(),
    });
    s
}

/// The fixture with [`CONFIG`] (plus `extra` TOML appended) and [`PEOPLE`].
pub fn console(extra: &str) -> Console {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hrsync.toml");
    std::fs::write(dir.path().join("people.csv"), PEOPLE).unwrap();
    std::fs::write(&config, format!("{CONFIG}\n{extra}")).unwrap();
    let cfg = hrsync_config::Config::load(&config).unwrap();
    let state = cfg.state_path();
    let svc = hrsync_server::Service::with_auth(cfg, Some(settings())).unwrap();
    let auth = Arc::new(Auth::open(settings(), &state).unwrap());
    let api = hrsync_server::api::router(svc.clone(), auth.clone(), false);
    let console = hrsync_server::console::router(svc, auth.clone(), api.clone(), false).unwrap();
    Console {
        app: axum::Router::new().merge(api).merge(console),
        dir,
        auth,
        state,
        config,
    }
}

/// An answer: status, headers, body text.
pub struct Page {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Console {
    /// A browser signed in as `user` with `role` (a directory session).
    pub fn browser(&self, user: &str, role: Role) -> Browser {
        let store = hrsync_state::Store::open(&self.state).unwrap();
        let p = Principal {
            name: user.into(),
            dn: Some(format!("uid={user},ou=people,dc=example,dc=com")),
            role,
            via: Via::Session,
        };
        let s =
            hrsync_auth::sessions::open(&store, &Default::default(), &p, None, chrono::Utc::now())
                .unwrap();
        Browser {
            cookie: format!("{}={}", hrsync_auth::sessions::COOKIE_NAME, s.cookie_value),
            csrf: s.csrf_token,
        }
    }

    pub async fn send(&self, req: Request<Body>) -> Page {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20)
            .await
            .unwrap();
        Page {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// `GET` as a browser (None: not signed in).
    pub async fn get(&self, who: Option<&Browser>, uri: &str) -> Page {
        let mut r = Request::builder().uri(uri);
        if let Some(b) = who {
            r = r.header(header::COOKIE, &b.cookie);
        }
        self.send(r.body(Body::empty()).unwrap()).await
    }

    /// A plain form post (`csrf` added unless `with_csrf` is false).
    pub async fn post_form(
        &self,
        who: &Browser,
        uri: &str,
        fields: &[(&str, &str)],
        with_csrf: bool,
    ) -> Page {
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        if with_csrf {
            all.push(("csrf", &who.csrf));
        }
        let body = serde_urlencoded::to_string(&all).unwrap();
        let req = Request::builder()
            .method("POST")
            .uri(uri)
            .header(header::COOKIE, &who.cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(req).await
    }

    /// An htmx request (`HX-Request`, the CSRF token in its header).
    pub async fn htmx(
        &self,
        who: &Browser,
        method: &str,
        uri: &str,
        fields: &[(&str, &str)],
    ) -> Page {
        let body = serde_urlencoded::to_string(fields).unwrap();
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::COOKIE, &who.cookie)
            .header("hx-request", "true")
            .header("x-csrf-token", &who.csrf)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(req).await
    }

    pub fn config_text(&self) -> String {
        std::fs::read_to_string(&self.config).unwrap()
    }
}

/// The fixture with the daemon's run thread, scheduler and worker running (as `hrsync serve`
/// runs them), so that runs the console starts really run (the directory is unreachable:
/// they are recorded, then fail). The bind password is read from a file. Stop it with
/// `Running::shutdown`.
pub async fn serving(extra: &str) -> (Console, hrsync_server::Running) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hrsync.toml");
    std::fs::write(dir.path().join("people.csv"), PEOPLE).unwrap();
    std::fs::write(dir.path().join("bind.pw"), "nowhere").unwrap();
    let base = CONFIG.replace(
        r#"bind_password = { env = "HRSYNC_TEST_NOWHERE_PW" }"#,
        r#"bind_password = { file = "bind.pw" }"#,
    );
    std::fs::write(&config, format!("{base}\n{extra}")).unwrap();
    let cfg = hrsync_config::Config::load(&config).unwrap();
    let state = cfg.state_path();
    let svc = hrsync_server::Service::with_auth(cfg, Some(settings())).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = hrsync_server::start_service(svc.clone(), listener)
        .await
        .unwrap();
    let auth = Arc::new(Auth::open(settings(), &state).unwrap());
    let api = hrsync_server::api::router(svc.clone(), auth.clone(), false);
    let console = hrsync_server::console::router(svc, auth.clone(), api.clone(), false).unwrap();
    (
        Console {
            app: axum::Router::new().merge(api).merge(console),
            dir,
            auth,
            state,
            config,
        },
        running,
    )
}
