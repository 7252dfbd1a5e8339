//! A deterministic guard against quadratic state writes: `EXPLAIN QUERY PLAN` of every
//! statement the store prepares (`sql::ALL`), on the migrated schema, must not read a table
//! that grows with the number of people or changes in full where a lookup is meant.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::Store;
use crate::sql::{self, Access};
use std::collections::{BTreeMap, BTreeSet};

/// Tables that grow with people, changes, runs or events, and their coarse columns: a search
/// by these alone still reads a whole partition (every link of a mapping, every change of a
/// run), so a per-person statement must also use a selective column.
const GROWING: &[(&str, &[&str])] = &[
    (
        "runs",
        &[
            "mapping", "command", "status", "trigger", "operator", "owner",
        ],
    ),
    (
        "changes",
        &["run_id", "kind", "ok", "mapping", "trigger", "operator"],
    ),
    ("plan_changes", &["run_id"]),
    ("saved_plans", &["mapping", "status"]),
    ("plan_items", &["part", "kind", "decision"]),
    ("intents", &["run_id", "mapping", "status"]),
    ("links", &["mapping", "state"]),
    ("names", &["mapping", "attr"]),
    ("review", &["mapping", "status"]),
    ("missing", &["mapping"]),
    ("hr_events", &["integration", "status"]),
    ("outbox", &["status", "orchestration", "mapping", "event"]),
    ("step_log", &[]),
    ("deliveries", &["webhook", "ok"]),
    ("auth_sessions", &["role", "origin"]),
    ("login_failures", &["kind"]),
    ("config_history", &["path", "kind"]),
    ("api_requests", &["via", "method", "route", "status"]),
];

/// Small tables whose size follows the configuration, not the people: a full read is fine.
const SMALL: &[(&str, &str)] = &[
    (
        "automations",
        "one row per configured automation and per mapping lock",
    ),
    ("sqlite_master", "the schema: one row per table and index"),
    ("meta", "a few named values of the database"),
    ("api_tokens", "one row per API token an admin created"),
];

/// The table a plan line reads (`SCAN t …`, `SEARCH t …`), if any.
fn table_of(detail: &str) -> Option<&str> {
    let rest = detail
        .strip_prefix("SCAN ")
        .or_else(|| detail.strip_prefix("SEARCH "))?;
    let name = rest.split_whitespace().next()?;
    (name != "CONSTANT").then_some(name)
}

/// The columns a `SEARCH … (a=? AND b>?)` line constrains.
fn constrained(detail: &str) -> Vec<String> {
    let Some(open) = detail.rfind('(') else {
        return Vec::new();
    };
    detail[open + 1..]
        .trim_end_matches(')')
        .split(" AND ")
        .map(|c| {
            c.split(|ch: char| "=<>!".contains(ch) || ch.is_whitespace())
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .filter(|c| !c.is_empty())
        .collect()
}

fn plan(store: &Store, sql: &str) -> Vec<String> {
    let mut st = store
        .conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap_or_else(|e| panic!("cannot prepare {sql}: {e}"));
    // Dummy parameters (the plan does not depend on them without STAT4, but a statement with
    // a parameter must be executable as written).
    for i in 1..=st.parameter_count() {
        st.raw_bind_parameter(i, "x").unwrap();
    }
    let mut rows = st.raw_query();
    let mut out = Vec::new();
    while let Some(r) = rows.next().unwrap() {
        out.push(r.get::<_, String>(3).unwrap());
    }
    out
}

/// What is wrong with a statement's plan, if anything.
fn problems(name: &str, access: Access, sql: &str, plan: &[String]) -> Vec<String> {
    let growing: BTreeMap<&str, &[&str]> = GROWING.iter().copied().collect();
    let small: BTreeSet<&str> = SMALL.iter().map(|(t, _)| *t).collect();
    let mut out = Vec::new();
    let has_where = sql.contains("WHERE");
    for line in plan {
        if line.contains("AUTOMATIC") {
            out.push(format!(
                "{name}: builds a transient index (a full scan): {line}"
            ));
        }
        if line.starts_with("USE TEMP B-TREE") && line.contains("ORDER BY") {
            if matches!(access, Access::Newest) {
                out.push(format!(
                    "{name}: sorts instead of reading in index order: {line}"
                ));
            }
            continue;
        }
        let Some(table) = table_of(line) else {
            continue;
        };
        if small.contains(table) {
            continue;
        }
        let Some(coarse) = growing.get(table) else {
            out.push(format!(
                "{name}: reads `{table}`, which the test does not know: add it to GROWING or \
                 SMALL (and write statements without aliases): {line}"
            ));
            continue;
        };
        if let Access::All(why) = access {
            assert!(!why.is_empty(), "{name}: say why it reads everything");
            continue;
        }
        if line.starts_with("SCAN ") {
            let bounded = matches!(access, Access::Newest) && !has_where;
            if !bounded {
                out.push(format!("{name}: full scan of `{table}`: {line}"));
            }
            continue;
        }
        // A SEARCH: a per-person statement needs a selective column.
        if matches!(access, Access::Point) {
            let cols = constrained(line);
            if cols.iter().all(|c| coarse.contains(&c.as_str())) {
                out.push(format!(
                    "{name}: reads every row of `{table}` with the same {} (a per-person \
                     statement needs an index on a selective column): {line}",
                    cols.join(", ")
                ));
            }
        }
    }
    out
}

#[test]
fn no_statement_scans_a_growing_table() {
    let store = Store::in_memory().unwrap();
    let mut all = Vec::new();
    let mut names = BTreeSet::new();
    for (name, access, sql) in sql::ALL {
        assert!(names.insert(*name), "{name} twice");
        let plan = plan(&store, sql);
        if std::env::var_os("HRSYNC_SHOW_PLANS").is_some() {
            println!("{name}: {plan:?}");
        }
        all.extend(problems(name, *access, sql, &plan));
    }
    assert!(
        all.is_empty(),
        "statements that read a growing table in full:\n{}",
        all.join("\n")
    );
}

/// The guard itself: it catches what it is meant to catch.
#[test]
fn the_guard_flags_scans_and_partition_reads() {
    let store = Store::in_memory().unwrap();
    let scan = "SELECT * FROM changes WHERE message = ?1";
    assert!(!problems("t", Access::Bulk, scan, &plan(&store, scan)).is_empty());
    // A search by the mapping alone is a partition read: fine in bulk, not per person.
    let partition = "SELECT * FROM links WHERE mapping = ?1 AND dn = ?2";
    let p = plan(&store, partition);
    assert!(
        problems("t", Access::Bulk, partition, &p).is_empty(),
        "{p:?}"
    );
    assert!(
        !problems("t", Access::Point, partition, &p).is_empty(),
        "{p:?}"
    );
    let sorted = "SELECT * FROM changes WHERE hr_key = ?1 ORDER BY message LIMIT 3";
    assert!(!problems("t", Access::Newest, sorted, &plan(&store, sorted)).is_empty());
    let unknown = "SELECT * FROM links l WHERE l.mapping = ?1";
    assert!(!problems("t", Access::Bulk, unknown, &plan(&store, unknown)).is_empty());
}

/// Every statement is in `sql.rs` (so the test above sees it): no SQL anywhere else.
#[test]
fn no_sql_outside_sql_rs() {
    for (file, src) in [
        ("lib.rs", include_str!("lib.rs")),
        ("runs.rs", include_str!("runs.rs")),
        ("audit.rs", include_str!("audit.rs")),
        ("people.rs", include_str!("people.rs")),
        ("automation.rs", include_str!("automation.rs")),
        ("intents.rs", include_str!("intents.rs")),
        ("missing.rs", include_str!("missing.rs")),
        ("unfinished.rs", include_str!("unfinished.rs")),
        ("process.rs", include_str!("process.rs")),
        ("auth.rs", include_str!("auth.rs")),
        ("config_history.rs", include_str!("config_history.rs")),
        ("schema.rs", include_str!("schema.rs")),
    ] {
        // Migrations are DDL run once, not statements of the store.
        let code = src.split("#[cfg(test)]").next().unwrap_or_default();
        let code = code.split("const MIGRATIONS").next().unwrap_or_default();
        for kw in [
            "SELECT ", "INSERT ", "UPDATE ", "DELETE ", "REPLACE ", "WITH ",
        ] {
            for quote in ["\"", "r#\"", "(\"", "!(\""] {
                assert!(
                    !code.contains(&format!("{quote}{kw}")),
                    "{file} has an SQL statement (`{kw}`): put it in sql.rs"
                );
            }
        }
    }
}
