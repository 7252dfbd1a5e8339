//! Cron schedules (croner: the 5-field crontab admins type, or 6 fields with seconds; UTC) and
//! the decision, at a given instant, whether an automation runs — including after downtime,
//! when runs were missed. Time is a parameter, so tests drive it.

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};
use serde::Deserialize;

/// What a scheduled automation does after downtime, when runs were missed.
#[derive(Debug, Deserialize, serde::Serialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Missed {
    /// Run once now for all the missed runs, then follow the schedule.
    #[default]
    RunOnce,
    /// Skip them; the next run is the next scheduled time.
    Skip,
}

/// Parses a schedule; the error says what is wrong in words.
pub fn parse(expr: &str) -> Result<Cron, String> {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .build()
        .parse(expr)
        .map_err(|e| format!("{expr:?} is not a cron expression: {e} (e.g. \"*/15 * * * *\")"))
}

/// The first occurrence strictly after `t`.
pub fn next_after(cron: &Cron, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(&t, false).ok()
}

/// What an automation does at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// Run now.
    pub run: bool,
    /// When it runs next (after this run, if any).
    pub next: Option<DateTime<Utc>>,
    /// Scheduled runs that passed while hrsync was not running.
    pub missed: u32,
}

/// Decides for an automation whose stored next run is `stored_next` (None: never scheduled).
/// A run that is due is run once however late; earlier occurrences that also passed (downtime)
/// are `missed`: with [`Missed::RunOnce`] they are covered by this one run, with
/// [`Missed::Skip`] nothing runs until the next scheduled time.
pub fn decide(
    cron: &Cron,
    stored_next: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    policy: Missed,
) -> Due {
    let following = next_after(cron, now);
    let Some(due) = stored_next else {
        return Due {
            run: false,
            next: following,
            missed: 0,
        };
    };
    if due > now {
        return Due {
            run: false,
            next: Some(due),
            missed: 0,
        };
    }
    // Occurrences after the due one and not after now were missed too.
    let mut missed = 0u32;
    let mut t = due;
    while let Some(n) = next_after(cron, t) {
        if n > now || missed >= 10_000 {
            break;
        }
        missed += 1;
        t = n;
    }
    Due {
        run: missed == 0 || policy == Missed::RunOnce,
        next: following,
        missed,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn schedules_fire_when_due_and_missed_runs_follow_the_policy() {
        let c = parse("*/15 * * * *").unwrap();
        assert_eq!(
            next_after(&c, t("2026-11-23T10:07:00Z")),
            Some(t("2026-11-23T10:15:00Z"))
        );
        // First start: nothing runs, the next time is stored.
        let d = decide(&c, None, t("2026-11-23T10:07:00Z"), Missed::RunOnce);
        assert_eq!((d.run, d.next), (false, Some(t("2026-11-23T10:15:00Z"))));
        // Not yet due.
        let d = decide(&c, d.next, t("2026-11-23T10:14:59Z"), Missed::RunOnce);
        assert!(!d.run);
        // Due (a little late is fine).
        let d = decide(&c, d.next, t("2026-11-23T10:15:02Z"), Missed::Skip);
        assert_eq!((d.run, d.missed), (true, 0));
        assert_eq!(d.next, Some(t("2026-11-23T10:30:00Z")));
        // Down from 10:20 to 11:05: 10:30, 10:45 and 11:00 passed.
        for (policy, runs) in [(Missed::RunOnce, true), (Missed::Skip, false)] {
            let d = decide(
                &c,
                Some(t("2026-11-23T10:30:00Z")),
                t("2026-11-23T11:05:00Z"),
                policy,
            );
            assert_eq!(d.missed, 2, "10:45 and 11:00 after the due 10:30");
            assert_eq!(d.run, runs, "{policy:?}");
            assert_eq!(d.next, Some(t("2026-11-23T11:15:00Z")));
        }
        assert!(parse("every monday").is_err());
        assert!(parse("*/10 * * * * *").is_ok(), "seconds are allowed");
    }
}
