//! The snapshot of a full run is paced by the HR side (issue 11, section 6: memory of the 100k
//! no-op): it hands on no more entries than the permits it was given, and once the semaphore
//! is closed (the fetch is over) it reads the rest without waiting.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Slapd, create};
use hrsync_directory::{Directory, apply};
use std::cell::Cell;
use std::time::Duration;
use tokio::sync::Semaphore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paced_snapshot_stops_at_its_permits_and_reads_the_rest_once_closed() {
    let s = Slapd::start();
    let people = s.ou("people-paced").await;
    let mut cfg = s.config(&people);
    cfg.base_dn = people.clone();
    cfg.page_size = 40;
    let dir = Directory::connect(cfg).await.unwrap();
    let total = 300;
    let changes: Vec<_> = (0..total)
        .map(|i| create(&format!("p{i:04}"), &people, &[]))
        .collect();
    let out = apply(&dir, &changes, |_| {}).await;
    assert!(out.iter().all(|o| o.ok), "{:?}", out.iter().find(|o| !o.ok));

    let pace = Semaphore::new(50);
    let seen = Cell::new(0usize);
    let read = dir.snapshot_paced(|_| seen.set(seen.get() + 1), Some(&pace));
    let drive = async {
        let settle = || tokio::time::sleep(Duration::from_millis(300));
        settle().await;
        assert_eq!(seen.get(), 50, "no more entries than permits");
        pace.add_permits(100);
        settle().await;
        assert_eq!(seen.get(), 150, "each permit lets one more entry through");
        pace.close();
    };
    let (n, ()) = tokio::join!(read, drive);
    assert_eq!(n.unwrap(), total);
    assert_eq!(seen.get(), total, "closed: the rest without waiting");
}
