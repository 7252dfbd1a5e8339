//! Notifications (`[[notify]]`): one message per channel and cause per window, whoever runs
//! (a CLI run, the daemon), and a log of every attempt.
//!
//! A *cause* is a string such as `run_incomplete:people` (the kind and what it is about). The
//! caller asks [`Store::notify_claim`] before sending: it answers whether the window since the
//! last message of that cause on that channel has passed and, when it has, takes the new
//! window at once (two processes asking together: one sends); when it has not, it counts the
//! suppressed message. [`Store::notify_sent`] records the message; a failed delivery
//! ([`Store::notify_failed`]) gives the window back, so the next run tries again.

use crate::{Result, Store};
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

/// One row of the notification log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotificationRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub channel: String,
    pub cause: String,
    /// `sent`, `failed` or `suppressed`.
    pub outcome: String,
    pub subject: String,
    /// Why it failed, or where it went; never a secret.
    pub detail: String,
}

/// The longest a send may take (hrsync bounds each message below this): a claim still marked
/// as sending after it belongs to a process that died, and counts as not sent.
pub const NOTIFY_CLAIM_LEASE: chrono::Duration = chrono::Duration::minutes(6);

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl Store {
    /// Whether `channel` may send a message for `cause` at `now`: never sent, or the last one
    /// is at least `window` old (a last time in the future, from a clock set back, counts as
    /// passed). When it may, the window is taken at once, in one write transaction, so that of
    /// two processes (a CLI run and the daemon) asking together only one sends; a failed send
    /// gives it back ([`Store::notify_failed`]). When it may not, the suppression is counted
    /// and logged with `subject`.
    pub fn notify_claim(
        &mut self,
        channel: &str,
        cause: &str,
        subject: &str,
        window: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let row: Option<(String, Option<String>, bool)> = tx
            .query_row(
                "SELECT last_sent, previous, sending FROM notify_state WHERE channel = ?1 AND cause = ?2",
                params![channel, cause],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        // The last message really sent: a claim still sending is another process's send under
        // way; one older than the lease never finished (its process died): not sent.
        let (last, in_flight) = match &row {
            None => (None, false),
            Some((claimed, previous, true)) => match parse(claimed) {
                Some(t) if t <= now && now - t < NOTIFY_CLAIM_LEASE => {
                    (Some(claimed.clone()), true)
                }
                _ => (previous.clone(), false),
            },
            Some((sent, _, false)) => (Some(sent.clone()), false),
        };
        let due = !in_flight
            && match last.as_deref().and_then(parse) {
                None => true,
                Some(t) => t > now || now - t >= window,
            };
        if due {
            tx.execute(
                "INSERT INTO notify_state (channel, cause, last_sent, previous, sending, suppressed) VALUES (?1, ?2, ?3, ?4, 1, 0)
                 ON CONFLICT (channel, cause) DO UPDATE SET previous = excluded.previous, last_sent = excluded.last_sent, sending = 1",
                params![channel, cause, ts(now), last],
            )?;
        } else {
            tx.execute(
                "UPDATE notify_state SET suppressed = suppressed + 1 WHERE channel = ?1 AND cause = ?2",
                params![channel, cause],
            )?;
            let why = if in_flight {
                "being sent by another run".to_string()
            } else {
                format!("already sent within the window ({} h)", window.num_hours())
            };
            tx.execute(
                "INSERT INTO notify_log (at, channel, cause, outcome, subject, detail) VALUES (?1, ?2, ?3, 'suppressed', ?4, ?5)",
                params![ts(now), channel, cause, subject, why],
            )?;
        }
        tx.commit()?;
        Ok(due)
    }

    /// Records a message sent at `now` (claimed with [`Store::notify_claim`]): its window runs.
    pub fn notify_sent(
        &mut self,
        channel: &str,
        cause: &str,
        subject: &str,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO notify_state (channel, cause, last_sent, previous, suppressed) VALUES (?1, ?2, ?3, NULL, 0)
             ON CONFLICT (channel, cause) DO UPDATE SET last_sent = excluded.last_sent, previous = NULL, sending = 0, suppressed = 0",
            params![channel, cause, ts(now)],
        )?;
        tx.execute(
            "INSERT INTO notify_log (at, channel, cause, outcome, subject, detail) VALUES (?1, ?2, ?3, 'sent', ?4, ?5)",
            params![ts(now), channel, cause, subject, detail],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Records a delivery claimed at `now` that failed (after its attempts): logged, and the
    /// window given back, so the next run tries again.
    pub fn notify_failed(
        &mut self,
        channel: &str,
        cause: &str,
        subject: &str,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        // Only the claim made at `now` is given back.
        tx.execute(
            "DELETE FROM notify_state WHERE channel = ?1 AND cause = ?2 AND last_sent = ?3 AND previous IS NULL AND sending = 1",
            params![channel, cause, ts(now)],
        )?;
        tx.execute(
            "UPDATE notify_state SET last_sent = previous, previous = NULL, sending = 0 WHERE channel = ?1 AND cause = ?2 AND last_sent = ?3 AND previous IS NOT NULL",
            params![channel, cause, ts(now)],
        )?;
        tx.execute(
            "INSERT INTO notify_log (at, channel, cause, outcome, subject, detail) VALUES (?1, ?2, ?3, 'failed', ?4, ?5)",
            params![ts(now), channel, cause, subject, error],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Logs an attempt outside any window (`hrsync notify test`).
    pub fn notify_log_only(
        &mut self,
        channel: &str,
        cause: &str,
        outcome: &str,
        subject: &str,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO notify_log (at, channel, cause, outcome, subject, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![ts(now), channel, cause, outcome, subject, detail],
        )?;
        Ok(())
    }

    /// The notification log, newest first.
    pub fn notify_log(&self, limit: usize) -> Result<Vec<NotificationRow>> {
        let mut st = self.conn.prepare(
            "SELECT id, at, channel, cause, outcome, subject, detail FROM notify_log ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = st.query_map(params![i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, at, channel, cause, outcome, subject, detail) = row?;
            out.push(NotificationRow {
                id,
                at: parse(&at).unwrap_or_default(),
                channel,
                cause,
                outcome,
                subject,
                detail,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    fn at(h: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_767_225_600 + h * 3600, 0).unwrap()
    }

    #[test]
    fn one_message_per_cause_per_window_and_failures_do_not_start_a_window() {
        let mut s = Store::in_memory().unwrap();
        let day = chrono::Duration::hours(24);
        // A failed delivery does not use up the window.
        assert!(
            s.notify_claim("mail", "run_incomplete:people", "x", day, at(0))
                .unwrap()
        );
        s.notify_failed(
            "mail",
            "run_incomplete:people",
            "x",
            "connection refused",
            at(0),
        )
        .unwrap();
        assert!(
            s.notify_claim("mail", "run_incomplete:people", "x", day, at(1))
                .unwrap()
        );
        // A second process asking while the first one sends is told no.
        assert!(
            !s.notify_claim("mail", "run_incomplete:people", "x", day, at(1))
                .unwrap()
        );
        s.notify_sent("mail", "run_incomplete:people", "x", "to ops", at(1))
            .unwrap();
        // Within the window: suppressed (twice), for this channel and cause only.
        assert!(
            !s.notify_claim("mail", "run_incomplete:people", "x", day, at(2))
                .unwrap()
        );
        assert!(
            !s.notify_claim("mail", "run_incomplete:people", "x", day, at(24))
                .unwrap()
        );
        assert!(
            s.notify_claim("mail", "held:people", "y", day, at(2))
                .unwrap()
        );
        assert!(
            s.notify_claim("hook", "run_incomplete:people", "x", day, at(2))
                .unwrap()
        );
        // After the window: again.
        assert!(
            s.notify_claim("mail", "run_incomplete:people", "x", day, at(25))
                .unwrap()
        );
        // A clock set back does not silence a cause for ever.
        s.notify_sent("mail", "held:people", "y", "", at(100))
            .unwrap();
        assert!(
            s.notify_claim("mail", "held:people", "y", day, at(50))
                .unwrap()
        );

        let log = s.notify_log(10).unwrap();
        let outcomes: Vec<&str> = log.iter().rev().map(|r| r.outcome.as_str()).collect();
        assert_eq!(
            outcomes,
            [
                "failed",
                "suppressed",
                "sent",
                "suppressed",
                "suppressed",
                "sent"
            ]
        );
        assert_eq!(log.last().unwrap().detail, "connection refused");
    }

    #[test]
    fn a_failed_send_gives_back_the_earlier_window() {
        let mut s = Store::in_memory().unwrap();
        let day = chrono::Duration::hours(24);
        assert!(s.notify_claim("mail", "held:p", "x", day, at(0)).unwrap());
        s.notify_sent("mail", "held:p", "x", "", at(0)).unwrap();
        // 30 h later: due; the send fails; the window is the one of hour 0 again, so the next
        // run (hour 31) tries again, and a success then starts a window at 31.
        assert!(s.notify_claim("mail", "held:p", "x", day, at(30)).unwrap());
        s.notify_failed("mail", "held:p", "x", "timeout", at(30))
            .unwrap();
        assert!(s.notify_claim("mail", "held:p", "x", day, at(31)).unwrap());
        s.notify_sent("mail", "held:p", "x", "", at(31)).unwrap();
        assert!(!s.notify_claim("mail", "held:p", "x", day, at(54)).unwrap());
        assert!(s.notify_claim("mail", "held:p", "x", day, at(55)).unwrap());
    }

    #[test]
    fn a_send_in_flight_holds_the_window_and_one_that_never_finished_gives_it_back() {
        let mut s = Store::in_memory().unwrap();
        let day = chrono::Duration::hours(24);
        let min = |m: i64| at(0) + chrono::Duration::minutes(m);
        assert!(s.notify_claim("mail", "held:p", "x", day, min(0)).unwrap());
        // Another process, while the first sends: not due (the window is held).
        assert!(!s.notify_claim("mail", "held:p", "x", day, min(1)).unwrap());
        let log = s.notify_log(1).unwrap();
        assert!(log[0].detail.contains("being sent"), "{log:?}");
        // The first process died mid-send (killed, or a daemon stopped): after the longest a
        // send may take, the claim counts as not sent, and the cause is due again.
        assert!(s.notify_claim("mail", "held:p", "x", day, min(10)).unwrap());
        s.notify_sent("mail", "held:p", "x", "", min(10)).unwrap();
        assert!(!s.notify_claim("mail", "held:p", "x", day, min(30)).unwrap());
        let log = s.notify_log(1).unwrap();
        assert!(log[0].detail.contains("already sent"), "{log:?}");
    }
}
