//! Creates that did not finish (issue 11 §8). On Active Directory a create is three steps:
//! the account is added disabled with its password, the password is delivered, and only then
//! is the account enabled (with `pwdLastSet = 0` when the user must change it). A run killed
//! in between, or a delivery that failed, leaves a disabled account whose password nobody may
//! have: it must be finished (a new password delivered first), never enabled as a rehire.

use crate::{Result, Store, sql};
use rusqlite::params;
use std::collections::{BTreeMap, BTreeSet};

impl Store {
    /// HR keys of the mapping whose account hrsync began to create without finishing it: the
    /// newest create (or finish) of the person failed, has no known result (`unknown
    /// (interrupted)`, or not found in the directory yet after an interruption), or was found
    /// in the directory only after its run was interrupted; and no later change finished the
    /// account (a create or finish that succeeded as planned, or an enable or disable, which
    /// only happen to an account that was enabled). A person whose create failed before the
    /// account existed is in the set too: the set matters only for disabled accounts.
    pub fn unfinished_creates(&self, mapping: &str) -> Result<BTreeSet<String>> {
        let mut newest: BTreeMap<String, i64> = BTreeMap::new();
        for statement in [sql::UNFINISHED_CREATE_ROWS, sql::UNFINISHED_CREATE_INTENTS] {
            let mut st = self.conn.prepare_cached(statement)?;
            let rows = st.query_map(params![mapping], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?))
            })?;
            for row in rows {
                let (key, run) = row?;
                if let Some(run) = run {
                    let e = newest.entry(key).or_insert(run);
                    *e = (*e).max(run);
                }
            }
        }
        let mut finished = self.conn.prepare_cached(sql::CREATE_FINISHED_AFTER)?;
        let mut out = BTreeSet::new();
        for (key, run) in newest {
            if !finished.exists(params![key, run, mapping])? {
                out.insert(key);
            }
        }
        Ok(out)
    }
}
