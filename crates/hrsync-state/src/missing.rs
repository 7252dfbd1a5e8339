//! People missing from complete fetches of a source that cannot look people up: a person
//! missing once is recorded ("missing since" run and date); the engine acts only when the
//! person is still missing on a later consecutive complete fetch (issue 11 §1).

use crate::{Result, Store, sql};
use chrono::{DateTime, Utc};
use rusqlite::params;
use std::collections::{BTreeMap, BTreeSet};

/// When a person was first missing: (the run whose fetch first lacked them, when that was,
/// how many complete fetches in a row lacked them, counting that first one).
pub type MissingSince = (i64, DateTime<Utc>, u32);

impl Store {
    /// The mapping's people missing from its last complete fetches, by HR key.
    pub fn missing_since(&self, mapping: &str) -> Result<BTreeMap<String, MissingSince>> {
        let mut st = self.conn.prepare_cached(sql::MISSING_OF_MAPPING)?;
        let rows = st.query_map(params![mapping], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (key, run, since, fetches) = row?;
            let Ok(since) = DateTime::parse_from_rfc3339(&since) else {
                continue;
            };
            out.insert(
                key,
                (
                    run,
                    since.with_timezone(&Utc),
                    u32::try_from(fetches).unwrap_or(u32::MAX),
                ),
            );
        }
        Ok(out)
    }

    /// Records who a complete full fetch lacked (call it only after one): new keys start
    /// at 1 fetch with this run and `now`, keys still missing count one more fetch (once per
    /// run: calling it twice for one run counts once), keys no longer missing are dropped
    /// (the person is back: the next absence starts again at 1).
    pub fn update_missing(
        &mut self,
        mapping: &str,
        run_id: i64,
        missing_now: &BTreeSet<String>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now = now.to_rfc3339();
        let tx = self.write()?;
        {
            let known: Vec<String> = tx
                .prepare_cached(sql::MISSING_OF_MAPPING)?
                .query_map(params![mapping], |r| r.get::<_, String>(0))?
                .collect::<std::result::Result<_, _>>()?;
            let mut seen = tx.prepare_cached(sql::MISSING_SEEN)?;
            for k in missing_now {
                seen.execute(params![mapping, k, run_id, now])?;
            }
            let mut delete = tx.prepare_cached(sql::MISSING_DELETE)?;
            for k in known.iter().filter(|k| !missing_now.contains(*k)) {
                delete.execute(params![mapping, k])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Forgets missing people (their accounts are gone, or they were dealt with otherwise).
    pub fn forget_missing(&mut self, mapping: &str, keys: &[String]) -> Result<()> {
        let tx = self.write()?;
        {
            let mut delete = tx.prepare_cached(sql::MISSING_DELETE)?;
            for k in keys {
                delete.execute(params![mapping, k])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn keys(k: &[&str]) -> BTreeSet<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn missing_people_are_counted_per_consecutive_complete_fetch() {
        let mut s = Store::in_memory().unwrap();
        let r1 = s.start_run("apply", "m", at(0)).unwrap();
        s.update_missing("m", r1, &keys(&["A", "B"]), at(0))
            .unwrap();
        // Counted once per run, whatever the number of calls.
        s.update_missing("m", r1, &keys(&["A", "B"]), at(1))
            .unwrap();
        let m = s.missing_since("m").unwrap();
        assert_eq!(m["A"], (r1, at(0), 1));
        assert_eq!(m["B"], (r1, at(0), 1));

        // Second complete fetch: A still missing (now 2: act), B back, C new.
        let r2 = s.start_run("apply", "m", at(100)).unwrap();
        s.update_missing("m", r2, &keys(&["A", "C"]), at(100))
            .unwrap();
        let m = s.missing_since("m").unwrap();
        assert_eq!(m["A"], (r1, at(0), 2), "first run and date kept");
        assert_eq!(m["C"], (r2, at(100), 1));
        assert!(!m.contains_key("B"), "back in HR: forgotten");

        // B missing again later starts again at 1.
        let r3 = s.start_run("apply", "m", at(200)).unwrap();
        s.update_missing("m", r3, &keys(&["A", "B"]), at(200))
            .unwrap();
        let m = s.missing_since("m").unwrap();
        assert_eq!(m["B"], (r3, at(200), 1));
        assert_eq!(m["A"].2, 3);
        assert!(!m.contains_key("C"));

        // Other mappings are separate; forgetting works; an empty set clears the mapping.
        assert!(s.missing_since("other").unwrap().is_empty());
        s.forget_missing("m", &["A".to_string()]).unwrap();
        assert_eq!(s.missing_since("m").unwrap().len(), 1);
        let r4 = s.start_run("apply", "m", at(300)).unwrap();
        s.update_missing("m", r4, &BTreeSet::new(), at(300))
            .unwrap();
        assert!(s.missing_since("m").unwrap().is_empty());
    }

    #[test]
    fn missing_state_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut s = Store::open(&path).unwrap();
        let r1 = s.start_run("apply", "m", at(0)).unwrap();
        s.update_missing("m", r1, &keys(&["A"]), at(0)).unwrap();
        drop(s);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.missing_since("m").unwrap()["A"], (r1, at(0), 1));
    }
}
