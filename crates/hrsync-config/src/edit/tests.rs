#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use hrsync_state::Store;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Barrier};

const ICEHRM: &str = include_str!("../../../../examples/icehrm-openldap.toml");
const REST: &str = include_str!("../../../../examples/rest-openldap.toml");

/// Two mappings and two integrations, with comments and blank lines everywhere.
const TWO: &str = r#"# top comment

[state]
path = "x.db"   # the database

[[integration]]
name = "a"
kind = "csv"
path = "a.csv"

# the second one
[[integration]]
name = "b"
kind = "rest"
token = { env = "B_TOKEN" }

[[integration.endpoint]]
name = "people"     # the list
path = "/people"

[[integration.endpoint]]
name = "details"
path = "/people/{id}"

[[mapping]]
name = "users"
description = "Users"   # shown in plans
match_on = ["mail"]

[mapping.attributes]
cn = "{first} {last}"

[[mapping]]
name = "staff"
description = "Staff"

[[mapping.group]]
dn = "cn=all,ou=groups"

[[mapping.group]]
dn = "cn=other,ou=groups"
"#;

fn set(path: &str, value: serde_json::Value) -> Edit {
    Edit::Set {
        path: path.parse().unwrap(),
        value,
    }
}

fn remove(path: &str) -> Edit {
    Edit::Remove {
        path: path.parse().unwrap(),
    }
}

fn append(path: &str, value: serde_json::Value) -> Edit {
    Edit::Append {
        path: path.parse().unwrap(),
        value,
    }
}

/// The stand-in for `check`: valid TOML.
fn toml_ok(text: &str) -> Result<(), Vec<String>> {
    text.parse::<toml::Table>()
        .map(|_| ())
        .map_err(|e| vec![e.to_string()])
}

/// `text` with the one line `from` replaced by `to`.
fn one_line(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?}");
    text.replacen(from, to, 1)
}

fn config_in(dir: &std::path::Path, text: &str, mode: u32) -> PathBuf {
    let p = dir.join("hrsync.toml");
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

fn mode_of(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Files in `dir` other than the config and the lock (temp files left behind).
fn strays(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp."))
        .collect()
}

// ---- apply ----------------------------------------------------------------------------------

#[test]
fn comments_blank_lines_and_layout_survive_an_edit() {
    let out = apply(ICEHRM, &[set("integration[icehrm].page_size", json!(250))]).unwrap();
    // Exactly one line differs, and its own comment stays.
    assert_eq!(
        out,
        one_line(
            ICEHRM,
            "page_size = 100                                  # IceHrm has no maximum",
            "page_size = 250                                  # IceHrm has no maximum",
        )
    );
    // Through a table below an array-of-tables element, and a string with its comment.
    let out = apply(
        ICEHRM,
        &[set(
            "mapping[icehrm-staff].attributes.title",
            json!("{job_title.display|upper}"),
        )],
    )
    .unwrap();
    assert_eq!(
        out,
        one_line(
            ICEHRM,
            "title = \"{job_title.display}\"",
            "title = \"{job_title.display|upper}\"",
        )
    );
    // A value inside an inline table keeps the table's layout.
    let out = apply(
        ICEHRM,
        &[set("lifecycle.thresholds.delete.count", json!(3))],
    )
    .unwrap();
    assert_eq!(
        out,
        one_line(ICEHRM, "delete = { count = 10 }", "delete = { count = 3 }")
    );
}

#[test]
fn an_element_named_in_the_path_is_the_only_one_changed() {
    let out = apply(
        TWO,
        &[set("mapping[staff].description", json!("All staff"))],
    )
    .unwrap();
    assert_eq!(
        out,
        one_line(
            TWO,
            "description = \"Staff\"",
            "description = \"All staff\""
        )
    );
    let out = apply(
        TWO,
        &[set(
            "integration[b].endpoint[details].path",
            json!("/p/{id}"),
        )],
    )
    .unwrap();
    assert_eq!(
        out,
        one_line(TWO, "path = \"/people/{id}\"", "path = \"/p/{id}\"")
    );
    // By position where elements have no name.
    let out = apply(TWO, &[set("mapping[staff].group[#1].dn", json!("cn=x"))]).unwrap();
    assert_eq!(
        out,
        one_line(TWO, "dn = \"cn=other,ou=groups\"", "dn = \"cn=x\"")
    );
    // The same with the real example's endpoints.
    let out = apply(
        REST,
        &[set(
            "integration[acme].endpoint[compensation].key",
            json!("employee"),
        )],
    )
    .unwrap();
    let parsed: toml::Table = out.parse().unwrap();
    let eps = parsed["integration"][0]["endpoint"].as_array().unwrap();
    let keys: Vec<_> = eps.iter().map(|e| e.get("key").cloned()).collect();
    let before: toml::Table = REST.parse().unwrap();
    let old: Vec<_> = before["integration"][0]["endpoint"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.get("key").cloned())
        .collect();
    assert_eq!(keys[..2], old[..2]);
    assert_eq!(keys[2], Some(toml::Value::String("employee".into())));
    assert_eq!(
        unified_diff(REST, &out, "x").matches("\n+").count(),
        2,
        "one line added (and the +++ header)"
    );
}

#[test]
fn set_merges_creates_and_keeps_neighbours() {
    // A new key in an element, and a new table below it.
    let out = apply(
        TWO,
        &[
            set("mapping[staff].enabled", json!(false)),
            set("mapping[users].approval.four_eyes", json!(true)),
        ],
    )
    .unwrap();
    let t: toml::Table = out.parse().unwrap();
    assert_eq!(t["mapping"][1]["enabled"].as_bool(), Some(false));
    assert_eq!(
        t["mapping"][0]["approval"]["four_eyes"].as_bool(),
        Some(true)
    );
    assert_eq!(t["mapping"][1].get("approval"), None);
    assert!(out.contains("description = \"Users\"   # shown in plans"));
    // An object set on an existing table: kept keys keep their comments, others go.
    let out = apply(
        TWO,
        &[set(
            "mapping[users]",
            json!({"name": "users", "description": "Users", "attributes": {"cn": "{last}"}}),
        )],
    )
    .unwrap();
    assert!(
        out.contains("description = \"Users\"   # shown in plans"),
        "{out}"
    );
    let t: toml::Table = out.parse().unwrap();
    assert_eq!(t["mapping"][0].get("match_on"), None);
    assert_eq!(t["mapping"][0]["attributes"]["cn"].as_str(), Some("{last}"));
    // Arrays: element by element, new ones laid out like the last.
    let out = apply(
        TWO,
        &[set("mapping[users].match_on", json!(["mail", "uid"]))],
    )
    .unwrap();
    assert!(out.contains("match_on = [\"mail\", \"uid\"]"), "{out}");
    // JSON that TOML cannot hold.
    assert!(matches!(
        apply(TWO, &[set("state.path", json!(null))]),
        Err(EditError::BadValue { .. })
    ));
    let huge: serde_json::Value = serde_json::from_str("18446744073709551617").unwrap();
    assert!(matches!(
        apply(TWO, &[set("state.x", huge)]),
        Err(EditError::BadValue { .. })
    ));
}

#[test]
fn append_and_remove_elements() {
    let out = apply(
        TWO,
        &[append(
            "integration[b].endpoint",
            json!({"name": "comp", "path": "/comp", "pagination": {"style": "none"}}),
        )],
    )
    .unwrap();
    let t: toml::Table = out.parse().unwrap();
    let eps = t["integration"][1]["endpoint"].as_array().unwrap();
    assert_eq!(eps.len(), 3);
    assert_eq!(eps[2]["pagination"]["style"].as_str(), Some("none"));
    // Written as a [[…]] table after the integration's other endpoints, before [[mapping]].
    let at = out.find("name = \"comp\"").unwrap();
    assert!(out[..at].ends_with("[[integration.endpoint]]\n"), "{out}");
    assert!(at > out.find("name = \"details\"").unwrap());
    assert!(at < out.find("[[mapping]]").unwrap());
    // A new array of tables where there was none, and into an inline array.
    let out = apply(
        TWO,
        &[
            append(
                "mapping[users].group",
                json!({"dn": "cn=g,ou=groups", "when": "x == 'y'"}),
            ),
            append("mapping[users].match_on", json!("employeeNumber")),
        ],
    )
    .unwrap();
    let t: toml::Table = out.parse().unwrap();
    assert_eq!(
        t["mapping"][0]["group"][0]["dn"].as_str(),
        Some("cn=g,ou=groups")
    );
    assert_eq!(
        t["mapping"][0]["match_on"][1].as_str(),
        Some("employeeNumber")
    );
    assert_eq!(t["mapping"][1]["group"].as_array().unwrap().len(), 2);

    // Remove: a key, an element by name, an element by position.
    let out = apply(
        TWO,
        &[
            remove("mapping[users].match_on"),
            remove("integration[b].endpoint[people]"),
            remove("mapping[staff].group[#0]"),
        ],
    )
    .unwrap();
    let t: toml::Table = out.parse().unwrap();
    assert_eq!(t["mapping"][0].get("match_on"), None);
    let eps = t["integration"][1]["endpoint"].as_array().unwrap();
    assert_eq!((eps.len(), eps[0]["name"].as_str()), (1, Some("details")));
    assert_eq!(
        t["mapping"][1]["group"][0]["dn"].as_str(),
        Some("cn=other,ou=groups")
    );
    assert!(out.starts_with("# top comment\n\n[state]\npath = \"x.db\"   # the database\n"));

    // Missing, ambiguous and mistyped paths are typed errors.
    assert!(matches!(
        apply(TWO, &[set("mapping[nobody].description", json!("x"))]),
        Err(EditError::NotFound { .. })
    ));
    assert!(matches!(
        apply(TWO, &[remove("mapping[users].nothing")]),
        Err(EditError::NotFound { .. })
    ));
    let twice = format!("{TWO}\n[[mapping]]\nname = \"users\"\n");
    assert!(matches!(
        apply(&twice, &[set("mapping[users].description", json!("x"))]),
        Err(EditError::Ambiguous { count: 2, .. })
    ));
    assert!(matches!(
        apply(TWO, &[set("state.path.deeper", json!(1))]),
        Err(EditError::WrongType { .. })
    ));
    assert!(matches!(
        apply("a = [", &[set("b", json!(1))]),
        Err(EditError::Parse { line: Some(1), .. })
    ));
}

#[test]
fn edits_travel_as_json() {
    let edits: Vec<Edit> = serde_json::from_value(json!([
        {"op": "set", "path": "mapping[users].description", "value": "U"},
        {"op": "remove", "path": "mapping[staff].group[#0]"},
        {"op": "append", "path": "mapping[users].match_on", "value": "uid"}
    ]))
    .unwrap();
    assert_eq!(edits[0], set("mapping[users].description", json!("U")));
    assert!(apply(TWO, &edits).is_ok());
    assert!(
        serde_json::from_value::<Edit>(json!({"op": "set", "path": "a..b", "value": 1})).is_err()
    );
}

// ---- secrets --------------------------------------------------------------------------------

#[test]
fn a_literal_secret_is_refused_and_a_reference_is_not() {
    for e in [
        set("directory.bind_password", json!("hunter2")),
        set("integration[b].token", json!("abc")),
        set("integration[b].token", json!({"env": "X", "extra": "y"})),
        set("integration[b].token.value", json!("abc")),
        set(
            "integration[b].oauth",
            json!({"client_secret": "s3cr3t", "client_id": "c"}),
        ),
        set("notify[mail].password", json!(12345)),
        set("server.auth.bind.Password", json!("p")),
        append("integration", json!({"name": "c", "api_key": "k"})),
        append(
            "integration[b].endpoint",
            json!({"name": "x", "x": [{"secret": "k"}]}),
        ),
    ] {
        match apply(TWO, std::slice::from_ref(&e)) {
            Err(EditError::LiteralSecret { path }) => {
                let shown = EditError::LiteralSecret { path }.to_string();
                for v in ["hunter2", "abc", "s3cr3t", "12345", "\"k\""] {
                    assert!(!shown.contains(v), "{shown}");
                }
            }
            other => panic!("{e:?}: {other:?}"),
        }
    }
    for ok in [
        set(
            "integration[b].token",
            json!({"file": "/etc/hrsync/b.token"}),
        ),
        set("integration[b].token.env", json!("B2")),
        set(
            "server.auth.break_glass.password_hash",
            json!("$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA"),
        ),
        set(
            "integration[b].oauth",
            json!({"client_secret": {"env": "S"}, "token_url": "https://x"}),
        ),
        set("integration[b].api_key_header", json!("X-Key")),
        remove("integration[b].token"),
    ] {
        assert!(apply(TWO, std::slice::from_ref(&ok)).is_ok(), "{ok:?}");
    }
    for k in [
        "token",
        "bind_password",
        "client_secret",
        "refresh_token",
        "subscription_key",
        "api_key",
        "password",
        "secret",
        "SMTP_PASSWORD",
    ] {
        assert!(is_secret_key(k), "{k}");
    }
    for k in [
        "password_hash",
        "token_url",
        "api_key_header",
        "primary_key",
        "passwords",
        "key",
        "token_env",
        "password_file",
    ] {
        assert!(!is_secret_key(k), "{k}");
    }
}

#[test]
fn literal_secrets_are_redacted_in_kept_texts() {
    let text = "[directory]\nbind_password = \"hunter2\"   # oops\nbind_dn = \"cn=a\"\n\n[[integration]]\nname = \"b\"\ntoken = { env = \"T\" }\noauth = { client_secret = \"s3cr3t\" }\n";
    let r = redact(text);
    assert!(!r.contains("hunter2") && !r.contains("s3cr3t"), "{r}");
    assert!(r.contains("bind_password = \"[redacted]\"   # oops"), "{r}");
    assert!(r.contains("token = { env = \"T\" }"));
    // Not TOML (a hand edit half done): line by line.
    let broken = "bind_password = \"hunter2\"\n[[[\ntoken = 'abc'\n";
    let r = redact(broken);
    assert!(!r.contains("hunter2") && !r.contains("abc"), "{r}");
    assert_eq!(redact(ICEHRM), ICEHRM);
}

#[test]
fn a_secret_file_is_0600_and_its_value_stays_out_of_the_toml_and_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_in(dir.path(), TWO, 0o640);
    let mut store = Store::open(&dir.path().join("state.db")).unwrap();
    let secret = "s3cr3t-VALUE-9f8e";
    let secrets_dir = dir.path().join("secrets");
    let file = write_secret_file(&secrets_dir, "b.token", secret).unwrap();
    assert_eq!(mode_of(&file), 0o600);
    assert_eq!(mode_of(&secrets_dir), 0o700);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), secret);
    // Replaced in place: still 0600, new value, no temp file left.
    let file2 = write_secret_file(&secrets_dir, "b.token", secret).unwrap();
    assert_eq!((file2 == file, mode_of(&file)), (true, 0o600));
    assert!(strays(&secrets_dir).is_empty());
    assert!(matches!(
        write_secret_file(&secrets_dir, "../x", secret),
        Err(EditError::BadSecretName { .. })
    ));

    let hash = ConfigFile::read(&cfg).unwrap().hash;
    let p = prepare(
        &cfg,
        &[set("integration[b].token", file_reference(&file))],
        &hash,
        toml_ok,
    )
    .unwrap();
    save_and_record(
        &mut store,
        &cfg,
        &p,
        "alice",
        None,
        ConfigChangeKind::Api,
        None,
    )
    .unwrap();
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        text.contains(&format!("token = {{ file = \"{}\" }}", file.display())),
        "{text}"
    );
    assert!(!text.contains(secret));
    assert!(!p.diff.contains(secret));
    assert!(!store.dump_text().unwrap().contains(secret));
}

// ---- prepare and save -----------------------------------------------------------------------

#[test]
fn a_stale_if_match_is_a_conflict_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_in(dir.path(), TWO, 0o644);
    let stale = hash_of(b"an older text");
    match prepare(&cfg, &[set("state.path", json!("y.db"))], &stale, toml_ok) {
        Err(EditError::Conflict { current_hash }) => {
            assert_eq!(current_hash, hash_of(TWO.as_bytes()))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), TWO);
    // An HTTP-quoted If-Match of the current hash is fine.
    let quoted = format!("\"{}\"", hash_of(TWO.as_bytes()));
    let p = prepare(&cfg, &[set("state.path", json!("y.db"))], &quoted, toml_ok).unwrap();
    assert!(p.changes_anything());
    assert!(
        p.diff
            .contains("-path = \"x.db\"   # the database\n+path = \"y.db\"   # the database"),
        "{}",
        p.diff
    );
    assert_eq!(p.hash_after, hash_of(p.after.as_bytes()));
    // The file changes between prepare and save (a hand edit): the save is a conflict.
    std::fs::write(&cfg, format!("{TWO}\n# touched\n")).unwrap();
    assert!(matches!(
        save_atomic(&cfg, &p),
        Err(EditError::Conflict { .. })
    ));
    assert!(
        std::fs::read_to_string(&cfg)
            .unwrap()
            .ends_with("# touched\n")
    );
    assert!(strays(dir.path()).is_empty());
}

#[test]
fn an_invalid_edit_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_in(dir.path(), TWO, 0o644);
    let hash = hash_of(TWO.as_bytes());
    let refuse = |text: &str| {
        if text.contains("nope") {
            Err(vec![
                "mapping[users].description: nope".to_string(),
                "second".into(),
            ])
        } else {
            Ok(())
        }
    };
    match prepare(
        &cfg,
        &[set("mapping[users].description", json!("nope"))],
        &hash,
        refuse,
    ) {
        Err(EditError::Invalid(errors)) => assert_eq!(errors.len(), 2),
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), TWO);
    assert!(strays(dir.path()).is_empty());
}

#[test]
fn a_save_replaces_the_file_atomically_keeping_its_mode_and_its_link() {
    let dir = tempfile::tempdir().unwrap();
    let real_dir = dir.path().join("checkout");
    std::fs::create_dir(&real_dir).unwrap();
    let real = config_in(&real_dir, TWO, 0o640);
    let link = dir.path().join("hrsync.toml");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let hash = ConfigFile::read(&link).unwrap().hash;
    let p = prepare(
        &link,
        &[set("mapping[users].description", json!("U"))],
        &hash,
        toml_ok,
    )
    .unwrap();
    save_atomic(&link, &p).unwrap();
    assert_eq!(std::fs::read_to_string(&real).unwrap(), p.after);
    assert_eq!(mode_of(&real), 0o640);
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(ConfigFile::read(&link).unwrap().hash, p.hash_after);
    assert!(strays(&real_dir).is_empty());
    // A second save from the same If-Match: the file moved on.
    assert!(matches!(
        save_atomic(&link, &p),
        Err(EditError::Conflict { .. })
    ));
}

#[test]
fn two_saves_with_the_same_if_match_one_wins_one_conflicts() {
    for round in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config_in(dir.path(), TWO, 0o600);
        let hash = hash_of(TWO.as_bytes());
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = ["first", "second"]
            .into_iter()
            .map(|who| {
                let (cfg, hash, barrier) = (cfg.clone(), hash.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let p = prepare(
                        &cfg,
                        &[set("mapping[users].description", json!(who))],
                        &hash,
                        toml_ok,
                    )
                    .unwrap();
                    barrier.wait();
                    save_atomic(&cfg, &p).map(|()| p.after)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let won: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        let conflicts = results
            .iter()
            .filter(|r| matches!(r, Err(EditError::Conflict { .. })))
            .count();
        assert_eq!((won.len(), conflicts), (1, 1), "round {round}: {results:?}");
        assert_eq!(&std::fs::read_to_string(&cfg).unwrap(), won[0]);
        assert!(strays(dir.path()).is_empty());
    }
}

#[test]
fn a_save_waits_for_the_lock_and_then_sees_the_change_made_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_in(dir.path(), TWO, 0o644);
    let p = prepare(
        &cfg,
        &[set("state.path", json!("y.db"))],
        &hash_of(TWO.as_bytes()),
        toml_ok,
    )
    .unwrap();
    // Another saver holds the lock and changes the file under it.
    let held = super::save::FileLock::exclusive(&cfg.canonicalize().unwrap()).unwrap();
    let saver = {
        let (cfg, p) = (cfg.clone(), p.clone());
        std::thread::spawn(move || save_atomic(&cfg, &p))
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!saver.is_finished(), "the save waits for the lock");
    std::fs::write(&cfg, "[state]\npath = \"z.db\"\n").unwrap();
    drop(held);
    assert!(matches!(
        saver.join().unwrap(),
        Err(EditError::Conflict { .. })
    ));
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        "[state]\npath = \"z.db\"\n"
    );
}

// ---- history --------------------------------------------------------------------------------

#[test]
fn outside_edits_are_recorded_once_and_saves_with_who_and_diff() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_in(dir.path(), TWO, 0o644);
    let mut store = Store::open(&dir.path().join("state.db")).unwrap();
    let key = history_key(&cfg).unwrap();

    // First sight: the initial version, once.
    let first = detect_outside_edit(&mut store, &cfg).unwrap().unwrap();
    assert_eq!(detect_outside_edit(&mut store, &cfg).unwrap(), None);
    let v = store.config_history_get(first).unwrap().unwrap();
    assert_eq!(
        (v.info.kind, v.text.as_str()),
        (ConfigChangeKind::Initial, TWO)
    );

    // A hand edit: recorded as outside with the diff from the last known text, once.
    let edited = TWO.replace("description = \"Staff\"", "description = \"Hand\"");
    std::fs::write(&cfg, &edited).unwrap();
    let outside = detect_outside_edit(&mut store, &cfg).unwrap().unwrap();
    assert_eq!(detect_outside_edit(&mut store, &cfg).unwrap(), None);
    let v = store.config_history_get(outside).unwrap().unwrap();
    assert_eq!(v.info.kind, ConfigChangeKind::Outside);
    assert_eq!(v.info.comment.as_deref(), Some(OUTSIDE_COMMENT));
    assert_eq!(v.info.operator, FOUND_BY);
    assert_eq!(
        v.info.hash_before.as_deref(),
        Some(hash_of(TWO.as_bytes()).as_str())
    );
    assert_eq!(v.info.hash_after, hash_of(edited.as_bytes()));
    assert!(
        v.diff
            .contains("-description = \"Staff\"\n+description = \"Hand\"\n"),
        "{}",
        v.diff
    );
    assert_eq!(v.text, edited);

    // An API save: who, from where, the diff, the hashes.
    let p = prepare(
        &cfg,
        &[set("mapping[staff].description", json!("API"))],
        &hash_of(edited.as_bytes()),
        toml_ok,
    )
    .unwrap();
    let id = save_and_record(
        &mut store,
        &cfg,
        &p,
        "alice",
        Some("192.0.2.9"),
        ConfigChangeKind::Api,
        Some("rename"),
    )
    .unwrap();
    assert_eq!(
        detect_outside_edit(&mut store, &cfg).unwrap(),
        None,
        "a save is not an outside edit"
    );
    let v = store.config_history_get(id).unwrap().unwrap();
    assert_eq!(
        (
            v.info.operator.as_str(),
            v.info.source.as_deref(),
            v.info.comment.as_deref()
        ),
        ("alice", Some("192.0.2.9"), Some("rename"))
    );
    assert_eq!(
        (v.diff.as_str(), v.text.as_str()),
        (p.diff.as_str(), p.after.as_str())
    );
    let listed = store.config_history_list(Some(&key), None, 10).unwrap();
    assert_eq!(
        listed.iter().map(|v| v.id).collect::<Vec<_>>(),
        [id, outside, first]
    );
}

#[test]
fn a_first_save_records_the_version_it_started_from() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_in(dir.path(), TWO, 0o644);
    let mut store = Store::open(&dir.path().join("state.db")).unwrap();
    let p = prepare(
        &cfg,
        &[remove("mapping[staff]")],
        &hash_of(TWO.as_bytes()),
        toml_ok,
    )
    .unwrap();
    save_atomic(&cfg, &p).unwrap();
    let id = record_save(
        &mut store,
        &cfg,
        &p,
        "bob",
        None,
        ConfigChangeKind::Api,
        None,
    )
    .unwrap();
    let all = store.config_history_list(None, None, 10).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!((all[0].id, all[1].kind), (id, ConfigChangeKind::Initial));
    assert_eq!(
        store.config_history_get(all[1].id).unwrap().unwrap().text,
        TWO
    );
}

#[test]
fn restore_brings_back_an_old_version_and_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_in(dir.path(), TWO, 0o640);
    let mut store = Store::open(&dir.path().join("state.db")).unwrap();
    let first = detect_outside_edit(&mut store, &cfg).unwrap().unwrap();
    let p = prepare(
        &cfg,
        &[set("state.path", json!("other.db"))],
        &hash_of(TWO.as_bytes()),
        toml_ok,
    )
    .unwrap();
    save_and_record(
        &mut store,
        &cfg,
        &p,
        "alice",
        None,
        ConfigChangeKind::Api,
        None,
    )
    .unwrap();

    // A stale If-Match or a failing validation restores nothing.
    assert!(matches!(
        restore(
            &mut store,
            &cfg,
            first,
            &hash_of(TWO.as_bytes()),
            toml_ok,
            "bob",
            None
        ),
        Err(EditError::Conflict { .. })
    ));
    assert!(matches!(
        restore(
            &mut store,
            &cfg,
            first,
            &p.hash_after,
            |_: &str| Err(vec!["no".into()]),
            "bob",
            None
        ),
        Err(EditError::Invalid(_))
    ));
    assert!(matches!(
        restore(
            &mut store,
            &cfg,
            first + 100,
            &p.hash_after,
            toml_ok,
            "bob",
            None
        ),
        Err(EditError::VersionNotFound { .. })
    ));
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), p.after);

    let (r, id) = restore(
        &mut store,
        &cfg,
        first,
        &p.hash_after,
        toml_ok,
        "bob",
        Some("198.51.100.1"),
    )
    .unwrap();
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), TWO);
    assert_eq!(mode_of(&cfg), 0o640);
    assert_eq!(r.hash_after, hash_of(TWO.as_bytes()));
    let v = store.config_history_get(id).unwrap().unwrap();
    assert_eq!(v.info.kind, ConfigChangeKind::Restore);
    assert_eq!(v.info.operator, "bob");
    assert_eq!(v.info.comment, Some(format!("restore of version {first}")));
    assert!(v.diff.contains("-path = \"other.db\""), "{}", v.diff);
    assert_eq!(detect_outside_edit(&mut store, &cfg).unwrap(), None);
    // A version of another file cannot be restored here.
    let elsewhere = dir.path().join("elsewhere.toml");
    std::fs::write(&elsewhere, "a = 1\n").unwrap();
    let foreign = detect_outside_edit(&mut store, &elsewhere)
        .unwrap()
        .unwrap();
    assert!(matches!(
        restore(
            &mut store,
            &cfg,
            foreign,
            &r.hash_after,
            toml_ok,
            "bob",
            None
        ),
        Err(EditError::VersionNotFound { .. })
    ));
}
