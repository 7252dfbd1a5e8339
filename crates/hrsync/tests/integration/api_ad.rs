//! The REST API on Active Directory (issue 15), through HTTP only, against `hrsync serve`
//! (the real binary) with `[directory] kind = "active_directory"` on the Samba DC and
//! `[server.auth]` on the same DC (LDAPS, the DC's CA): AD accounts sign in with their
//! sAMAccountName and get the role of their group (`member` / `memberOf`), an account in no
//! role group, a disabled one and a wrong password are refused with their problem types (the
//! daemon's log says what AD said); an admin adds an AD mapping by `POST /api/v1/mappings`
//! (If-Match), the operator plans it, the admin approves, the operator applies it watching
//! the server-sent events; the accounts are on the DC and the audit has them under the
//! operator's sAMAccountName.
//!
//! Needs `HRSYNC_TEST_AD_*` (scripts/test.sh starts the DC); panics without it like the other
//! AD tests.

use crate::ad::{AdFx, ad_env, admin};
use crate::api::Api;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::collections::HashSet;

/// Meets AD's complexity rules (upper, lower, digit, symbol; no part of the account name).
const PASSWORD: &str = "Ad-0perator-pass-Λ";

/// `unicodePwd`: the password in double quotes, UTF-16LE (set over LDAPS only).
fn unicode_pwd(pw: &str) -> Vec<u8> {
    format!("\"{pw}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// An OU of operators under the test's OU: enabled users with a password (and one disabled),
/// and the three role groups with their `member`s. Returns the users' DNs by short name.
async fn add_ops(ou: &str, pfx: &str) -> std::collections::HashMap<&'static str, String> {
    let realm = ad_env().realm;
    let ops = format!("OU=Ops,{ou}");
    let mut ldap = admin().await;
    let r = ldap
        .add(
            &ops,
            vec![("objectClass", HashSet::from(["organizationalUnit"]))],
        )
        .await
        .unwrap();
    assert_eq!(r.rc, 0, "{ops}: {r:?}");
    let mut dns = std::collections::HashMap::new();
    // 512 = NORMAL_ACCOUNT (enabled), 514 = NORMAL_ACCOUNT | ACCOUNTDISABLE.
    for (u, uac) in [
        ("alice", "512"),
        ("adam", "512"),
        ("victor", "512"),
        ("nora", "512"),
        ("dora", "514"),
    ] {
        let sam = format!("{pfx}{u}");
        let dn = format!("CN={sam},{ops}");
        let b = |s: &str| s.as_bytes().to_vec();
        let attrs: Vec<(Vec<u8>, HashSet<Vec<u8>>)> = vec![
            (b("objectClass"), HashSet::from([b("user")])),
            (b("sAMAccountName"), HashSet::from([b(&sam)])),
            (
                b("userPrincipalName"),
                HashSet::from([b(&format!("{sam}@{realm}"))]),
            ),
            (b("unicodePwd"), HashSet::from([unicode_pwd(PASSWORD)])),
            (b("userAccountControl"), HashSet::from([b(uac)])),
        ];
        let r = ldap.add(&dn, attrs).await.unwrap();
        assert_eq!(r.rc, 0, "{dn}: {r:?}");
        dns.insert(u, dn);
    }
    // Nora is in a group, just not one of [server.auth]'s; Dora is an operator, but disabled.
    for (g, members) in [
        ("operators", vec!["alice", "dora"]),
        ("admins", vec!["adam"]),
        ("viewers", vec!["victor"]),
        ("others", vec!["nora"]),
    ] {
        let dn = format!("CN=hrsync-{g},{ops}");
        let members: HashSet<&str> = members.iter().map(|m| dns[m].as_str()).collect();
        let r = ldap
            .add(
                &dn,
                vec![
                    ("objectClass", HashSet::from(["group"])),
                    ("member", members),
                ],
            )
            .await
            .unwrap();
        assert_eq!(r.rc, 0, "{dn}: {r:?}");
    }
    dns
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ad_api_operators_sign_in_by_group_and_drive_an_ad_mapping_to_the_audit() {
    let started = std::time::Instant::now();
    let env = ad_env();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // [server.auth] on the same DC: user_attribute is left out (sAMAccountName for AD); users
    // are looked up from the domain's root, as usually configured (the search crosses the
    // DC's referrals to its other partitions); the group DNs are spelled in lower case.
    let tail = format!(
        r#"
[server]
listen = "127.0.0.1:{port}"

[server.auth]
url = "{url}"
ca_cert = "{ca}"
bind_dn = "{bind_dn}"
bind_password = {{ file = "ad.pw" }}
user_base = "{base}"
groups = {{ viewer = ["cn=hrsync-viewers,ou=ops,{{OU}}"], operator = ["cn=hrsync-operators,ou=ops,{{OU}}"], admin = ["cn=hrsync-admins,ou=ops,{{OU}}"] }}
"#,
        url = env.url,
        ca = env.ca,
        bind_dn = env.bind_dn,
        base = env.base,
    );
    let fx = AdFx::with("ad-api", 5, false, "", &tail, &[]).await;
    let pfx = fx.pfx.clone();
    let dns = add_ops(&fx.ou, &pfx).await;
    // The fixture's mapping is switched off: the one that runs is created through the API.
    let text = std::fs::read_to_string(&fx.cfg_path)
        .unwrap()
        .replace("name = \"staff\"\n", "name = \"staff\"\nenabled = false\n");
    assert!(text.contains("enabled = false") && text.contains("[server.auth]"));
    std::fs::write(&fx.cfg_path, &text).unwrap();

    let log = fx.dir.path().join("serve.log");
    let err = fx.dir.path().join("serve.err");
    let (mut daemon, api) = Api::serve(fx.dir.path(), &fx.cfg_path, port).await;
    let daemon_log = || {
        format!(
            "{}{}",
            std::fs::read_to_string(&log).unwrap_or_default(),
            std::fs::read_to_string(&err).unwrap_or_default()
        )
    };
    let sam = |u: &str| format!("{pfx}{u}");

    // AD accounts sign in with their sAMAccountName (any case: the session has AD's
    // spelling) and get the role of their group.
    let (s, alice, v) = api.sign_in(&sam("alice").to_uppercase(), PASSWORD).await;
    assert_eq!(s, StatusCode::CREATED, "{v}\n{}", daemon_log());
    assert_eq!(
        (v["role"].as_str(), v["user"].as_str(), v["dn"].as_str()),
        (
            Some("operator"),
            Some(sam("alice").as_str()),
            Some(dns["alice"].as_str())
        ),
        "{v}"
    );
    let alice = alice.unwrap();
    let (s, adam, v) = api.sign_in(&sam("adam"), PASSWORD).await;
    assert_eq!(
        (s, v["role"].as_str()),
        (StatusCode::CREATED, Some("admin")),
        "{v}"
    );
    let adam = adam.unwrap();
    let (s, victor, v) = api.sign_in(&sam("victor"), PASSWORD).await;
    assert_eq!(
        (s, v["role"].as_str()),
        (StatusCode::CREATED, Some("viewer")),
        "{v}"
    );
    let victor = victor.unwrap();
    // In no role group: 403 not-an-operator, no session.
    let (s, who, v) = api.sign_in(&sam("nora"), PASSWORD).await;
    assert_eq!(
        (s, v["type"].as_str()),
        (
            StatusCode::FORBIDDEN,
            Some("urn:hrsync:problem:not-an-operator")
        ),
        "{v}"
    );
    assert!(who.is_none(), "no cookie for a refused sign-in");
    // A wrong password (AD's 49 / data 52e), an unknown account and a disabled account
    // (49 / data 533, even in the operators group): 401 invalid-credentials.
    for (user, pw) in [
        (sam("adam"), "Wr0ng-password!"),
        (sam("nobody"), PASSWORD),
        (sam("dora"), PASSWORD),
    ] {
        let (s, who, v) = api.sign_in(&user, pw).await;
        assert_eq!(
            (s, v["type"].as_str()),
            (
                StatusCode::UNAUTHORIZED,
                Some("urn:hrsync:problem:invalid-credentials")
            ),
            "{user}: {v}"
        );
        assert!(who.is_none());
    }
    // The client is not told why; the daemon's log says what AD said (its `data` sub-code).
    let logged = daemon_log();
    let refused = |user: &str| {
        logged
            .lines()
            .filter(|l| l.contains("directory sign-in") && l.contains(&sam(user)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(refused("dora").contains("account disabled"), "{logged}");
    assert!(
        refused("adam").contains("wrong user name or password"),
        "{logged}"
    );

    // An AD mapping by API: the operator may not add it; the admin does, with If-Match.
    let realm = env.realm.clone();
    let mapping = json!({
        "name": "api-ad",
        "description": "made through the API, on Active Directory",
        "integration": "icehrm",
        "endpoint": "get_employees",
        "primary_key": "employee_id",
        "rdn_attribute": "cn",
        "approval": {"require": ["create"], "four_eyes": true},
        "attributes": {
            "cn": {"format": "{first_name} {last_name}", "required": true},
            "sAMAccountName": format!("{pfx}{{employee_id|lower}}"),
            "userPrincipalName": format!("{pfx}{{employee_id|lower}}@{realm}"),
            "givenName": "{first_name}",
            "sn": {"format": "{last_name}", "required": true},
            "displayName": "{first_name} {last_name}",
            "mail": "{work_email}",
            "department": "{department.display}"
        }
    });
    let etag = api.etag(&adam).await;
    let (s, v, _) = api
        .call_with(
            Some(&alice),
            Method::POST,
            "/api/v1/mappings",
            Some(mapping.clone()),
            &[("if-match", etag.clone())],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, v, _) = api
        .call_with(
            Some(&adam),
            Method::POST,
            "/api/v1/mappings",
            Some(mapping.clone()),
            &[("if-match", etag)],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let saved = std::fs::read_to_string(&fx.cfg_path).unwrap();
    assert!(saved.contains("name = \"api-ad\""), "{saved}");

    // The operator plans it (once the daemon reloaded the file) and watches the run.
    let run = api.plan_once_loaded(&alice, "api-ad").await;
    let (names, last) = api.events(&alice, run).await;
    assert_eq!(
        (
            names.first().map(String::as_str),
            names.last().map(String::as_str)
        ),
        (Some("started"), Some("finished")),
        "{names:?}\n{}",
        daemon_log()
    );
    assert_eq!(last["status"], "awaiting_approval", "{last}");
    let active = fx.active();
    assert!(!active.is_empty());

    // Four eyes: the planner cannot approve her own plan; the admin does.
    let approve = format!("/api/v1/plans/{run}/approve");
    let (s, v, _) = api
        .call(Some(&alice), Method::POST, &approve, Some(json!({})))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, v, _) = api
        .call(
            Some(&adam),
            Method::POST,
            &approve,
            Some(json!({"comment": "checked on AD"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // The operator applies the approved plan, watching it to the end.
    let apply = json!({"mapping": "api-ad", "mode": "apply", "plan": run});
    let (s, v, _) = api
        .call(
            Some(&victor),
            Method::POST,
            "/api/v1/runs",
            Some(apply.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a viewer cannot apply: {v}");
    let (s, v, _) = api
        .call(Some(&alice), Method::POST, "/api/v1/runs", Some(apply))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let applied = v["run_id"].as_i64().unwrap();
    let (names, last) = api.events(&alice, applied).await;
    assert!(names.iter().any(|n| n == "applying"), "{names:?}");
    assert_eq!(last["status"], "ok", "{last}\n{:?}", fx.failures(applied));
    assert_eq!(
        last["applied_ok"].as_u64(),
        Some(active.len() as u64),
        "{last}"
    );

    // The accounts are on the DC: enabled, under the users OU, in the mapping's form.
    let mut created = HashSet::new();
    for e in &active {
        let account = sam(&e["employee_id"].as_str().unwrap().to_lowercase());
        let u = fx
            .user(&account)
            .await
            .unwrap_or_else(|| panic!("{account} is not on the DC"));
        assert!(u.dn.ends_with(&format!("OU=People,{}", fx.ou)), "{}", u.dn);
        assert_eq!(
            u.attrs["userPrincipalName"],
            vec![format!("{account}@{realm}")]
        );
        let uac: u32 = u.attrs["userAccountControl"][0].parse().unwrap();
        assert_eq!(uac & 0x2, 0, "{account} is enabled");
        created.insert(u.dn.clone());
    }
    assert_eq!(created.len(), active.len());

    // The audit has every create under Alice's sAMAccountName, and the run is hers.
    let (s, v, _) = api
        .call(
            Some(&victor),
            Method::GET,
            "/api/v1/audit?mapping=api-ad&kind=create&limit=500",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let rows = v["items"].as_array().unwrap();
    assert_eq!(rows.len(), active.len(), "{v}");
    assert!(rows.iter().all(|r| r["operator"] == sam("alice")), "{v}");
    for dn in &created {
        assert!(
            rows.iter()
                .any(|r| hrsync_model::dn::same(r["dn"].as_str().unwrap_or_default(), dn)),
            "{dn} is not audited: {v}"
        );
    }
    let (_, v, _) = api
        .call(
            Some(&victor),
            Method::GET,
            &format!("/api/v1/runs/{applied}"),
            None,
        )
        .await;
    assert_eq!(
        (v["run"]["operator"].as_str(), v["run"]["trigger"].as_str()),
        (Some(sam("alice").as_str()), Some("api")),
        "{v}"
    );

    let _ = std::process::Command::new("kill")
        .arg(daemon.id().to_string())
        .status();
    let _ = daemon.wait();
    // Neither the operators' password nor the DC's bind password is in the daemon's output.
    let out = daemon_log();
    for secret in [PASSWORD, env.password.as_str()] {
        assert!(!out.contains(secret), "a secret was logged");
    }
    eprintln!("ad_api: {:?}", started.elapsed());
}
