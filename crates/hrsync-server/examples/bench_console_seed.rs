//! Seeds a state database for `scripts/bench-console.sh`: PEOPLE people (default 100,000)
//! created by apply runs of 1,000 changes each over three mappings (`staff`, `contractors`,
//! `interns`), one in a hundred failed (`insufficientAccessRights`), then one person in five updated
//! by further runs, every row written through hrsync-state's own API as a run writes it.
//!
//! `cargo run --release -p hrsync-server --example bench_console_seed -- STATE.db [PEOPLE]`

use chrono::{DateTime, Duration, Utc};
use hrsync_model::{AttrChange, AttrName, Change, ChangeKind};
use hrsync_state::{AppliedChange, Store, Trigger};

const MAPPINGS: [&str; 3] = ["staff", "contractors", "interns"];
const PER_RUN: usize = 1000;

fn person(i: usize, kind: ChangeKind) -> Change {
    let attr = |name: &str, before: Vec<String>, after: String| AttrChange {
        attr: AttrName::new(name),
        before,
        after: vec![after],
    };
    let (cn, title) = (format!("Person {i}"), format!("Title {}", i % 40));
    let attrs = match kind {
        ChangeKind::Update => vec![attr("title", vec![title], format!("Title {}", i % 41))],
        _ => vec![
            attr("cn", Vec::new(), cn),
            attr("sn", Vec::new(), format!("Surname{i}")),
            attr("mail", Vec::new(), format!("p{i}@example.com")),
            attr("title", Vec::new(), title),
        ],
    };
    Change {
        kind,
        key: format!("E{i:06}"),
        dn: format!("uid=e{i:06},ou=people,dc=example,dc=com"),
        new_dn: None,
        uuid: None,
        attrs,
        reason: match kind {
            ChangeKind::Update => "title changed in HR".into(),
            _ => "joiner: in HR, no account yet".into(),
        },
    }
}

/// One apply run of `mapping` that made `changes` at `at`.
fn run(
    store: &mut Store,
    mapping: &str,
    changes: &[Change],
    at: DateTime<Utc>,
) -> Result<(), Box<dyn std::error::Error>> {
    let id = store.start_run_as("apply", mapping, Trigger::Schedule, "bench", at)?;
    let items: Vec<AppliedChange<'_>> = changes
        .iter()
        .enumerate()
        .map(|(seq, c)| {
            let failed = c.key.ends_with("97");
            AppliedChange {
                seq,
                change: c,
                ok: !failed,
                rc: failed.then_some(50),
                message: if failed {
                    "no write access to the entry"
                } else {
                    ""
                },
                at,
            }
        })
        .collect();
    store.record_changes(id, &items)?;
    store.finish_run(id, "ok", None, at + Duration::seconds(30))?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: bench_console_seed STATE.db [PEOPLE]")?;
    let people: usize = args
        .next()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(100_000);
    let mut store = Store::open(std::path::Path::new(&path))?;
    let t0 = Utc::now() - Duration::days(30);
    let mut at = t0;
    let all: Vec<usize> = (1..=people).collect();
    for (r, chunk) in all.chunks(PER_RUN).enumerate() {
        let changes: Vec<Change> = chunk
            .iter()
            .map(|i| person(*i, ChangeKind::Create))
            .collect();
        run(&mut store, MAPPINGS[r % MAPPINGS.len()], &changes, at)?;
        at += Duration::minutes(10);
    }
    let movers: Vec<usize> = (1..=people).filter(|i| i % 5 == 0).collect();
    for (r, chunk) in movers.chunks(PER_RUN).enumerate() {
        let changes: Vec<Change> = chunk
            .iter()
            .map(|i| person(*i, ChangeKind::Update))
            .collect();
        run(&mut store, MAPPINGS[r % MAPPINGS.len()], &changes, at)?;
        at += Duration::minutes(10);
    }
    println!(
        "seeded {people} people: {} audit rows in {} runs",
        people + movers.len(),
        people.div_ceil(PER_RUN) + movers.len().div_ceil(PER_RUN)
    );
    Ok(())
}
