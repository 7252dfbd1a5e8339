//! Several processes and threads opening (creating, migrating) one state database at once
//! all succeed (issue 11 §8: the loser printed `database is locked` or `table runs already
//! exists`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hrsync_state::Store;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};

const CHILD_ENV: &str = "HRSYNC_STATE_TEST_CHILD_DB";

/// Opens the database named in the environment: the body of each child process of
/// `processes_open_a_fresh_database_at_once` (does nothing when run on its own).
#[test]
fn child_opens_the_database() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let path = PathBuf::from(path);
    // Start together: wait for the go file (bounded).
    let go = path.with_extension("go");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !go.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let s = Store::open(&path).unwrap_or_else(|e| panic!("open failed: {e}"));
    s.start_run("apply", "m", chrono::Utc::now())
        .unwrap_or_else(|e| panic!("start_run failed: {e}"));
}

fn open_in_threads(path: &Path, n: usize) -> Vec<Result<(), String>> {
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let path = path.to_path_buf();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let mut s = Store::open(&path).map_err(|e| e.to_string())?;
                s.start_run("apply", "m", chrono::Utc::now())
                    .map_err(|e| e.to_string())?;
                s.try_lock_automation(
                    "mapping:m",
                    &format!("thread {i}"),
                    chrono::Utc::now(),
                    chrono::Duration::hours(1),
                )
                .map(|_| ())
                .map_err(|e| e.to_string())
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn threads_open_a_fresh_database_at_once() {
    for round in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let results = open_in_threads(&path, 8);
        for r in &results {
            assert!(r.is_ok(), "round {round}: {r:?}");
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.runs(100).unwrap().len(), 8);
        assert!(
            s.automation("mapping:m")
                .unwrap()
                .unwrap()
                .running_owner
                .is_some()
        );
    }
}

#[test]
fn processes_open_a_fresh_database_at_once() {
    let exe = std::env::current_exe().unwrap();
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let children: Vec<_> = (0..6)
            .map(|_| {
                std::process::Command::new(&exe)
                    .args(["--exact", "child_opens_the_database", "--nocapture"])
                    .env(CHILD_ENV, &path)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        // Let them all start, then release them together.
        std::thread::sleep(std::time::Duration::from_millis(300));
        std::fs::write(path.with_extension("go"), b"").unwrap();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round}: a child failed:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.runs(100).unwrap().len(), 6);
    }
}

/// `check_path` (run by every `open`, before it migrates) looking at a database that another
/// thread is creating never takes the half-made database for another program's. Before the
/// fix it read the version and the table list as two snapshots: version 0 from before the
/// migration's commit, the tables from after it.
#[test]
fn checking_a_database_while_it_is_being_created_never_calls_it_foreign() {
    for round in 0..40 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let checker = {
            let path = path.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut checks = 0u32;
                // Bounded: the creator ends within seconds; the loop ends with it, or after
                // a million checks.
                while !done.load(std::sync::atomic::Ordering::SeqCst) && checks < 1_000_000 {
                    checks += 1;
                    if let Err(e) = Store::check_path(&path) {
                        return Err(format!("check {checks}: {e}"));
                    }
                }
                Ok(checks)
            })
        };
        let opened = Store::open(&path).map(|_| ());
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        let checked = checker.join().unwrap();
        assert!(opened.is_ok(), "round {round}: open: {opened:?}");
        assert!(checked.is_ok(), "round {round}: {checked:?}");
    }
}
