//! A state path that cannot be a state database gives an error that names the path and the
//! fix, from `Store::check_path` (for `hrsync check`, which changes nothing) and from
//! `Store::open` (issue 11 §8).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hrsync_state::{StateError, Store};

fn both(path: &std::path::Path) -> (StateError, StateError) {
    let checked = Store::check_path(path).expect_err("check_path accepted it");
    let opened = Store::open(path).err().expect("open accepted it");
    (checked, opened)
}

#[test]
fn a_directory_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let (checked, opened) = both(dir.path());
    for e in [checked, opened] {
        assert!(matches!(e, StateError::IsDirectory { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
        assert!(msg.contains("[state] path"), "{msg}");
        assert!(msg.contains("state.db"), "{msg}");
    }
}

#[test]
fn a_file_that_is_not_a_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in [
        ("config.toml", b"[state]\npath = \"state.db\"\n".to_vec()),
        ("random.bin", (0..=255u8).cycle().take(5000).collect()),
        ("short", b"SQLite".to_vec()),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &content).unwrap();
        let (checked, opened) = both(&path);
        for e in [checked, opened] {
            assert!(
                matches!(e, StateError::NotADatabase { .. }),
                "{name}: {e:?}"
            );
            let msg = e.to_string();
            assert!(msg.contains(&path.display().to_string()), "{msg}");
            assert!(msg.contains("not a SQLite database"), "{msg}");
        }
        assert_eq!(std::fs::read(&path).unwrap(), content, "{name} was changed");
        assert!(!dir.path().join(format!("{name}-wal")).exists());
    }
}

#[test]
fn another_programs_sqlite_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch("CREATE TABLE runs (x); CREATE TABLE photos (y);")
        .unwrap();
    drop(c);
    let (checked, opened) = both(&path);
    for e in [checked, opened] {
        assert!(matches!(e, StateError::Foreign { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains("photos, runs"), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
    }
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    drop(Store::open(&path).unwrap());
    let c = rusqlite::Connection::open(&path).unwrap();
    c.pragma_update(None, "user_version", 9999).unwrap();
    drop(c);
    let (checked, opened) = both(&path);
    for e in [checked, opened] {
        assert!(matches!(e, StateError::TooNew { found: 9999, .. }), "{e:?}");
    }
}

#[test]
fn good_paths_pass_and_check_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("sub/dir/state.db");
    Store::check_path(&new).unwrap();
    assert!(
        !dir.path().join("sub").exists(),
        "check_path created something"
    );
    drop(Store::open(&new).unwrap());
    Store::check_path(&new).unwrap();
    // An empty file is a new database to SQLite.
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    Store::check_path(&empty).unwrap();
    drop(Store::open(&empty).unwrap());
    // Under a regular file: cannot be created.
    let file = dir.path().join("afile");
    std::fs::write(&file, b"x").unwrap();
    let e = Store::check_path(&file.join("state.db")).unwrap_err();
    assert!(matches!(e, StateError::NotInADirectory { .. }), "{e:?}");
    assert!(Store::open(&file.join("state.db")).is_err());
}
