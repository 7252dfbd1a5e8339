//! Directory sign-in against a real slapd (scripts/test.sh starts one and exports
//! HRSYNC_TEST_LDAP_*; without HRSYNC_TEST_LDAP_URL every test here says so and passes).
//! Each test makes its own OU with users (userPassword) and groups: an operator group and a
//! viewer group (groupOfNames, `member`), an admin group (posixGroup, `memberUid`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hrsync_auth::directory::{self, DirectoryUser};
use hrsync_auth::{
    Auth, AuthError, AuthSettings, DirectorySignIn, Role, RoleGroups, ServiceBind, Via,
};
use hrsync_model::Secret;
use ldap3::{Ldap, LdapConnAsync};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

struct Env {
    url: String,
    ldaps_url: Option<String>,
    bind_dn: String,
    password: String,
    base: String,
    ca: Option<PathBuf>,
}

fn env() -> Option<Env> {
    let Ok(url) = std::env::var("HRSYNC_TEST_LDAP_URL") else {
        eprintln!("HRSYNC_TEST_LDAP_URL is not set: skipped (scripts/test.sh starts a slapd)");
        return None;
    };
    let get = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    Some(Env {
        url,
        ldaps_url: std::env::var("HRSYNC_TEST_LDAPS_URL").ok(),
        bind_dn: get("HRSYNC_TEST_LDAP_BIND_DN"),
        password: get("HRSYNC_TEST_LDAP_BIND_PW"),
        base: get("HRSYNC_TEST_LDAP_BASE_DN"),
        ca: std::env::var("HRSYNC_TEST_LDAP_CA_CERT")
            .ok()
            .map(PathBuf::from),
    })
}

const OP_PW: &str = "operator-pw-1";
const VIEW_PW: &str = "viewer-pw-22";
const ADMIN_PW: &str = "admin-pw-333";
const NOBODY_PW: &str = "nobody-pw-4444";

/// A fresh OU: users op, view, adm, nobody, locky (under ou=people) and groups (ou=groups).
struct Fixture {
    env: Env,
    people: String,
    groups: RoleGroups,
}

static N: AtomicU32 = AtomicU32::new(0);

async fn admin(env: &Env) -> Ldap {
    // Setting up the fixture only: the sign-ins under test use TLS.
    let (conn, mut ldap) = LdapConnAsync::new(&env.url).await.unwrap();
    ldap3::drive!(conn);
    ldap.simple_bind(&env.bind_dn, &env.password)
        .await
        .unwrap()
        .success()
        .unwrap();
    ldap
}

async fn add(ldap: &mut Ldap, dn: &str, attrs: &[(&str, &[&str])]) {
    let attrs: Vec<(&str, HashSet<&str>)> = attrs
        .iter()
        .map(|(k, v)| (*k, v.iter().copied().collect()))
        .collect();
    ldap.add(dn, attrs)
        .await
        .unwrap()
        .success()
        .unwrap_or_else(|e| panic!("add {dn}: {e}"));
}

impl Fixture {
    async fn new(name: &str) -> Option<Fixture> {
        let env = env()?;
        let n = N.fetch_add(1, Ordering::SeqCst);
        let ou = format!("ou=auth-{name}-{}-{n},{}", std::process::id(), env.base);
        let people = format!("ou=people,{ou}");
        let groups_ou = format!("ou=groups,{ou}");
        let mut ldap = admin(&env).await;
        let label = format!("auth-{name}-{}-{n}", std::process::id());
        add(
            &mut ldap,
            &ou,
            &[("objectClass", &["organizationalUnit"]), ("ou", &[&label])],
        )
        .await;
        for (dn, v) in [(&people, "people"), (&groups_ou, "groups")] {
            add(
                &mut ldap,
                dn,
                &[("objectClass", &["organizationalUnit"]), ("ou", &[v])],
            )
            .await;
        }
        for (uid, pw) in [
            ("op", OP_PW),
            ("view", VIEW_PW),
            ("adm", ADMIN_PW),
            ("nobody", NOBODY_PW),
            ("locky", OP_PW),
        ] {
            add(
                &mut ldap,
                &format!("uid={uid},{people}"),
                &[
                    ("objectClass", &["inetOrgPerson"]),
                    ("uid", &[uid]),
                    ("cn", &[uid]),
                    ("sn", &[uid]),
                    ("userPassword", &[pw]),
                ],
            )
            .await;
        }
        let ops = format!("cn=hrsync-operators,{groups_ou}");
        let viewers = format!("cn=hrsync-viewers,{groups_ou}");
        let admins = format!("cn=hrsync-admins,{groups_ou}");
        let op_dn = format!("uid=op,{people}");
        let locky_dn = format!("uid=locky,{people}");
        let view_dn = format!("uid=view,{people}");
        add(
            &mut ldap,
            &ops,
            &[
                ("objectClass", &["groupOfNames"]),
                ("cn", &["hrsync-operators"]),
                ("member", &[&op_dn, &locky_dn]),
            ],
        )
        .await;
        add(
            &mut ldap,
            &viewers,
            &[
                ("objectClass", &["groupOfNames"]),
                ("cn", &["hrsync-viewers"]),
                // The operator is a viewer too: the highest role wins.
                ("member", &[&view_dn, &op_dn]),
            ],
        )
        .await;
        add(
            &mut ldap,
            &admins,
            &[
                ("objectClass", &["posixGroup"]),
                ("cn", &["hrsync-admins"]),
                ("gidNumber", &["5000"]),
                ("memberUid", &["adm"]),
            ],
        )
        .await;
        let _ = ldap.unbind().await;
        Some(Fixture {
            env,
            people,
            groups: RoleGroups {
                viewer: vec![viewers],
                operator: vec![ops],
                admin: vec![admins],
            },
        })
    }

    /// StartTLS on the plain port, with the test CA and the admin as service account.
    fn directory(&self) -> DirectorySignIn {
        DirectorySignIn {
            url: self.env.url.clone(),
            starttls: true,
            ca_cert: self.env.ca.clone(),
            service_bind: Some(ServiceBind {
                dn: self.env.bind_dn.clone(),
                password: Secret::new(self.env.password.clone()),
            }),
            user_base: self.people.clone(),
            user_attribute: "uid".into(),
            groups: self.groups.clone(),
            timeout: Duration::from_secs(10),
        }
    }

    async fn sign_in(&self, user: &str, pw: &str) -> Result<DirectoryUser, AuthError> {
        directory::sign_in(&self.directory(), user, &Secret::new(pw)).await
    }
}

#[tokio::test]
async fn roles_come_from_the_groups_over_starttls() {
    let Some(fx) = Fixture::new("roles").await else {
        return;
    };
    let op = fx.sign_in("op", OP_PW).await.unwrap();
    assert_eq!(op.role, Role::Operator, "operator and viewer: the highest");
    assert_eq!(op.dn, format!("uid=op,{}", fx.people));
    assert_eq!(op.name, "op");
    let view = fx.sign_in("view", VIEW_PW).await.unwrap();
    assert_eq!(view.role, Role::Viewer);
    let adm = fx.sign_in("adm", ADMIN_PW).await.unwrap();
    assert_eq!(adm.role, Role::Admin, "memberUid of a posixGroup");
    // Names match as the directory matches them (uid is case-insensitive).
    let op2 = fx.sign_in("OP", OP_PW).await.unwrap();
    assert_eq!((op2.name.as_str(), op2.role), ("op", Role::Operator));

    let e = fx.sign_in("nobody", NOBODY_PW).await.unwrap_err();
    assert!(
        matches!(&e, AuthError::NotAnOperator { user } if user == "nobody"),
        "{e}"
    );
    assert_eq!(e.status(), 403);
}

#[tokio::test]
async fn wrong_empty_and_hostile_credentials_are_refused() {
    let Some(fx) = Fixture::new("refused").await else {
        return;
    };
    let e = fx.sign_in("view", "not-the-password").await.unwrap_err();
    assert!(matches!(e, AuthError::InvalidCredentials), "{e}");
    assert!(!e.to_string().contains("not-the-password"));
    let e = fx.sign_in("nosuchuser", "whatever-pw").await.unwrap_err();
    assert!(
        matches!(e, AuthError::InvalidCredentials),
        "unknown user looks the same: {e}"
    );
    // An empty password would be an unauthenticated bind: refused before the directory.
    let e = fx.sign_in("view", "").await.unwrap_err();
    assert!(matches!(e, AuthError::EmptyPassword), "{e}");
    // Filter metacharacters in the name find nobody (they are escaped), whatever password.
    for hostile in ["*)(uid=*", "*", "op)(|(uid=*", "op\\", "op\0"] {
        let e = fx.sign_in(hostile, OP_PW).await.unwrap_err();
        assert!(
            matches!(e, AuthError::InvalidCredentials),
            "{hostile:?}: {e}"
        );
    }
}

#[tokio::test]
async fn plain_ldap_is_refused_and_tls_is_verified() {
    let Some(fx) = Fixture::new("tls").await else {
        return;
    };
    let mut plain = fx.directory();
    plain.starttls = false;
    let e = directory::sign_in(&plain, "op", &Secret::new(OP_PW))
        .await
        .unwrap_err();
    assert!(matches!(e, AuthError::PlainLdap { .. }), "{e}");
    assert!(e.to_string().contains("use ldaps:// or StartTLS"), "{e}");
    let e = Auth::new(
        AuthSettings::new(plain),
        hrsync_state::Store::in_memory().unwrap(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("url: directory sign-in needs TLS"),
        "{e}"
    );

    // Without the test CA the server's certificate is not trusted: no sign-in.
    let mut untrusted = fx.directory();
    untrusted.ca_cert = None;
    let e = directory::sign_in(&untrusted, "op", &Secret::new(OP_PW))
        .await
        .unwrap_err();
    assert!(matches!(e, AuthError::Directory { .. }), "{e}");
    assert!(!e.to_string().contains(OP_PW) && !e.to_string().contains(&fx.env.password));

    // LDAPS works too.
    if let Some(ldaps) = &fx.env.ldaps_url {
        let mut cfg = fx.directory();
        cfg.url = ldaps.clone();
        cfg.starttls = false;
        let u = directory::sign_in(&cfg, "view", &Secret::new(VIEW_PW))
            .await
            .unwrap();
        assert_eq!(u.role, Role::Viewer);
    }
}

#[tokio::test]
async fn the_tenth_wrong_password_is_throttled_through_auth() {
    let Some(fx) = Fixture::new("throttle").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.db");
    let auth = Auth::open(AuthSettings::new(fx.directory()), &state).unwrap();
    let ip = Some("192.0.2.44".parse().unwrap());

    // A sign-in opens a session with the directory role.
    let s = auth.login("op", &Secret::new(OP_PW), ip).await.unwrap();
    assert_eq!(s.principal.role, Role::Operator);
    assert_eq!(s.principal.via, Via::Session);
    assert_eq!(
        auth.session(&s.cookie_value)
            .unwrap()
            .principal
            .dn
            .as_deref(),
        Some(format!("uid=op,{}", fx.people).as_str())
    );

    let mut kinds = Vec::new();
    for _ in 0..10 {
        let e = auth
            .login("locky", &Secret::new("wrong-password"), ip)
            .await
            .unwrap_err();
        kinds.push(e.kind());
    }
    assert_eq!(kinds[9], "throttled", "{kinds:?}");
    assert_eq!(kinds[..5], ["invalid-credentials"; 5], "{kinds:?}");
    // The right password is refused too until the lockout ends, by another process as well
    // (the count is in the state database).
    let e = auth
        .login("locky", &Secret::new(OP_PW), ip)
        .await
        .unwrap_err();
    assert!(matches!(e, AuthError::Throttled { .. }), "{e}");
    let other = Auth::open(AuthSettings::new(fx.directory()), &state).unwrap();
    let e = other
        .login("locky", &Secret::new(OP_PW), None)
        .await
        .unwrap_err();
    assert!(matches!(e, AuthError::Throttled { .. }), "{e}");
    // Another account from the same address is not locked (5 failures < 20 per address).
    auth.login("view", &Secret::new(VIEW_PW), ip).await.unwrap();
}
