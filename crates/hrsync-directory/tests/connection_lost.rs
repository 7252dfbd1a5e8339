//! slapd killed mid-apply (issue 11, section 8): the changes in flight fail with "the
//! connection to the directory was lost", the rest of the batch is not sent and is reported as
//! not attempted, with how many.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Slapd, create};
use hrsync_directory::{Directory, apply};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slapd_killed_mid_apply_stops_the_batch_and_counts_what_was_not_attempted() {
    let s = Slapd::start();
    let people = s.ou("people-kill").await;
    let mut cfg = s.config(&people);
    cfg.connections = 2;
    cfg.in_flight = 16;
    let in_flight = cfg.in_flight;
    let dir = Directory::connect(cfg).await.unwrap();
    let total = 3000;
    let changes: Vec<_> = (0..total)
        .map(|i| create(&format!("k{i:05}"), &people, &[]))
        .collect();
    let mut seen = 0usize;
    let t = Instant::now();
    let out = apply(&dir, &changes, |_| {
        seen += 1;
        if seen == 300 {
            s.kill9();
        }
    })
    .await;
    let took = t.elapsed();
    assert_eq!(seen, total, "every change has exactly one outcome");
    assert_eq!(out.len(), total);
    let ok = out.iter().filter(|o| o.ok).count();
    let lost: Vec<_> = out.iter().filter(|o| !o.ok && o.attempted).collect();
    let skipped: Vec<_> = out.iter().filter(|o| !o.attempted).collect();
    eprintln!(
        "ok {ok}, failed in flight {}, not attempted {}, in {took:?}",
        lost.len(),
        skipped.len()
    );
    for o in &out {
        assert!(!o.message.contains("channel closed"), "{}", o.message);
    }
    assert!(ok >= 300 - in_flight, "{ok}");
    // Only what was in flight when slapd died failed (about `in_flight`: the changes sent
    // before the first failure showed); after that nothing more was sent.
    assert!(
        lost.len() <= 2 * in_flight,
        "{} changes were sent to a dead server: {:?}",
        lost.len(),
        lost.iter().take(3).collect::<Vec<_>>()
    );
    for o in &lost {
        assert!(
            o.message
                .contains("the connection to the directory was lost"),
            "{}",
            o.message
        );
        assert!(o.message.contains(&changes[o.index].dn), "{}", o.message);
    }
    assert_eq!(ok + lost.len() + skipped.len(), total);
    assert!(skipped.len() > total / 2, "{}", skipped.len());
    let expected = format!(
        "not attempted: the connection to the directory was lost ({} changes not attempted)",
        skipped.len()
    );
    for o in &skipped {
        assert!(!o.ok);
        assert_eq!(o.rc, None);
        assert_eq!(o.message, expected);
        assert_eq!(o.dn, changes[o.index].dn);
    }
    assert!(took < Duration::from_secs(30), "{took:?}");
}

#[tokio::test]
async fn a_directory_gone_before_apply_attempts_nothing() {
    let s = Slapd::start();
    let people = s.ou("people-gone").await;
    let dir = Directory::connect(s.config(&people)).await.unwrap();
    s.kill9();
    let changes: Vec<_> = (0..50)
        .map(|i| create(&format!("g{i:02}"), &people, &[]))
        .collect();
    let t = Instant::now();
    let out = apply(&dir, &changes, |_| {}).await;
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    assert_eq!(out.len(), 50);
    for o in &out {
        assert!(!o.ok && !o.attempted, "{o:?}");
        assert_eq!(
            o.message,
            "not attempted: the connection to the directory was lost (50 changes not attempted)"
        );
    }
}

#[tokio::test]
async fn connections_the_server_closed_before_apply_are_reopened() {
    // The server restarted (or closed idle connections) while the plan was on screen.
    let mut s = Slapd::start();
    let dir = Directory::connect(s.config(&format!("ou=people,{}", s.base)))
        .await
        .unwrap();
    s.kill9();
    s.restart();
    let people = format!("ou=people,{}", s.base);
    let changes: Vec<_> = (0..20)
        .map(|i| create(&format!("r{i:02}"), &people, &[]))
        .collect();
    let out = apply(&dir, &changes, |_| {}).await;
    for o in &out {
        assert!(o.ok, "{o:?}");
    }
    dir.close().await;
}
