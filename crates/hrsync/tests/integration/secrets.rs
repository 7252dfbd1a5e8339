//! Tokens and bind passwords never appear in output, logs, plans, errors or the state DB.

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_leak() {
    let fx = Fx::new("secrets", 8, "uid", STAFF_ATTRS).await;
    let password = ldap_env().password;
    assert!(
        password.len() >= 12,
        "scripts/test.sh uses a long random bind password so this test can search for it"
    );
    let secrets = [fx.token.clone(), password.clone()];
    let check = |what: &str, text: &str| {
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "{what} leaks a secret:\n{text}");
        }
    };
    // The emulator runs in this process; the binary needs its own runtime, so run it on a
    // blocking thread while this runtime keeps serving.
    let fx = std::sync::Arc::new(fx);
    let run = |args: Vec<&'static str>| {
        let fx = fx.clone();
        tokio::task::spawn_blocking(move || cli(&fx.cfg_path, &args, &[("HRSYNC_LOG", "trace")]))
    };
    let (code, out) = run(vec!["check"]).await.unwrap();
    assert_eq!(code, 0, "{out}");
    check("check", &out);
    let (code, out) = run(vec!["plan"]).await.unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("+ create"), "{out}");
    check("plan (trace logs)", &out);
    let (_, out) = run(vec!["plan", "--json"]).await.unwrap();
    check("plan --json", &out);
    let (code, out) = run(vec!["apply", "--yes"]).await.unwrap();
    assert_eq!(code, 0, "{out}");
    check("apply", &out);
    let (_, out) = run(vec!["audit"]).await.unwrap();
    check("audit", &out);
    let (_, out) = run(vec!["runs"]).await.unwrap();
    check("runs", &out);
    // endpoint test: the request with the token redacted, and the fields the API really returns
    let (code, out) = run(vec!["endpoint", "test", "icehrm"]).await.unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Authorization: Bearer [redacted]"), "{out}");
    assert!(out.contains("Result: complete, 8 record(s)"), "{out}");
    assert!(
        out.contains("department.display")
            && out.contains("work_email")
            && out.contains("supervisor.id"),
        "{out}"
    );
    check("endpoint test", &out);
    let (_, out) = run(vec!["endpoint", "test", "icehrm", "--json"])
        .await
        .unwrap();
    check("endpoint test --json", &out);

    // Wrong token: the error names the integration, not the token (neither the right nor the wrong one).
    let wrong_token = hrsync_emulator::icehrm::make_token("not-the-right-one", 4_102_444_800);
    std::fs::write(fx.dir.path().join("icehrm.token"), &wrong_token).unwrap();
    let (code, out) = run(vec!["plan"]).await.unwrap();
    assert_ne!(code, 0);
    assert!(
        out.contains("integration icehrm: authorization failed (HTTP 403"),
        "{out}"
    );
    check("auth failure", &out);
    assert!(!out.contains(&wrong_token));
    std::fs::write(fx.dir.path().join("icehrm.token"), &fx.token).unwrap();

    // Wrong bind password: the error names the bind DN and result code, not the password.
    let wrong_pw = "Wrong-Password-Zq81";
    std::fs::write(fx.dir.path().join("ldap.pw"), wrong_pw).unwrap();
    let (code, out) = run(vec!["plan"]).await.unwrap();
    assert_ne!(code, 0);
    assert!(out.contains("invalidCredentials (49)"), "{out}");
    assert!(!out.contains(wrong_pw), "{out}");
    check("bind failure", &out);

    // A secret written in plain text is refused without being echoed.
    let cfg = std::fs::read_to_string(&fx.cfg_path).unwrap();
    std::fs::write(
        &fx.cfg_path,
        cfg.replace(
            r#"token = { file = "icehrm.token" }"#,
            r#"token = "Plain-Token-Value-77""#,
        ),
    )
    .unwrap();
    let (code, out) = run(vec!["check"]).await.unwrap();
    assert_ne!(code, 0);
    assert!(
        out.contains("integration[0].token") && out.contains("plain text"),
        "{out}"
    );
    assert!(!out.contains("Plain-Token-Value-77"), "{out}");
    std::fs::write(&fx.cfg_path, cfg).unwrap();

    // The state database holds no secret anywhere.
    check("state database", &fx.store().dump_text().unwrap());
}
