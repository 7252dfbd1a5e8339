//! What `hrsync explain` reads about one person: their orchestration instances.

use crate::automation::outbox_row;
use crate::{OutboxRow, Result, Store, sql};
use rusqlite::params;

impl Store {
    /// One person's orchestration instances in a mapping, newest first.
    pub fn outbox_of(&self, mapping: &str, hr_key: &str, limit: usize) -> Result<Vec<OutboxRow>> {
        let rows = self
            .conn
            .prepare_cached(sql::OUTBOX_OF_PERSON)?
            .query_map(params![mapping, hr_key, limit as i64], outbox_row)?
            .collect::<std::result::Result<_, _>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_persons_instances_newest_first_and_only_theirs() {
        let mut s = Store::in_memory().unwrap();
        let now = chrono::Utc::now();
        for (m, k) in [("m", "E1"), ("m", "E2"), ("other", "E1"), ("m", "E1")] {
            s.enqueue("welcome", m, k, "uid=x", "create", now).unwrap();
        }
        let rows = s.outbox_of("m", "E1", 10).unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows[0].id > rows[1].id);
        assert!(rows.iter().all(|r| r.mapping == "m" && r.hr_key == "E1"));
        assert_eq!(s.outbox_of("m", "E1", 1).unwrap().len(), 1);
    }
}
