//! Login throttling: failed sign-ins are counted per account name and per source address in
//! the state database (every process of the server sees the same counts). `account_failures`
//! failures of one name (or `address_failures` from one address) within `window` lock it for
//! `lockout`: every sign-in of it is refused as throttled, even with the right password,
//! without asking the directory. A successful sign-in clears its account's count (not the
//! address's: one valid account must not reset an address that guesses others).

use crate::settings::{ThrottleLimits, delta};
use crate::{AuthError, Result};
use chrono::{DateTime, Utc};
use hrsync_state::Store;
use hrsync_state::auth::{FailureKey, FailurePolicy};
use std::net::IpAddr;

/// The key an account name is counted by (user names match case-insensitively).
pub fn account_key(user: &str) -> String {
    user.trim().to_lowercase()
}

/// The key an address is counted by: an IPv4 address, or the /64 of an IPv6 address (one
/// host usually has a whole /64). IPv4-mapped IPv6 addresses count as IPv4.
pub fn address_key(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = a.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Refuses the sign-in when the account or the address is locked now.
pub fn check(store: &Store, user: &str, address: Option<IpAddr>, now: DateTime<Utc>) -> Result<()> {
    let mut until: Option<DateTime<Utc>> = None;
    let keys = [
        Some((FailureKey::Account, account_key(user))),
        address.map(|a| (FailureKey::Address, address_key(a))),
    ];
    for (kind, key) in keys.into_iter().flatten() {
        if let Some(f) = store.login_failures(kind, &key)?
            && let Some(u) = f.locked_until
            && u > now
        {
            until = Some(until.map_or(u, |x| x.max(u)));
        }
    }
    match until {
        Some(until) => Err(AuthError::Throttled { until }),
        None => Ok(()),
    }
}

/// Counts a failed sign-in (a wrong password or an unknown user) for the account and the
/// address. Returns when they are locked until, if this failure locked either.
pub fn failed(
    store: &mut Store,
    limits: &ThrottleLimits,
    user: &str,
    address: Option<IpAddr>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>> {
    let policy = |limit: u32| FailurePolicy {
        now,
        window_start: now - delta(limits.window),
        limit,
        lock_until: now + delta(limits.lockout),
    };
    let mut locked = None;
    let account = account_key(user);
    let f = store.login_failure_record(
        FailureKey::Account,
        &account,
        &policy(limits.account_failures),
    )?;
    if let Some(u) = f.locked_until {
        tracing::warn!(account = %account, failures = f.failures, until = %u, "sign-in locked for the account: too many failures");
        locked = Some(u);
    }
    if let Some(a) = address {
        let key = address_key(a);
        let f = store.login_failure_record(
            FailureKey::Address,
            &key,
            &policy(limits.address_failures),
        )?;
        if let Some(u) = f.locked_until {
            tracing::warn!(address = %key, failures = f.failures, until = %u, "sign-in locked for the address: too many failures");
            locked = Some(locked.map_or(u, |x: DateTime<Utc>| x.max(u)));
        }
    }
    Ok(locked)
}

/// Clears the account's count after a successful sign-in.
pub fn succeeded(store: &Store, user: &str) -> Result<()> {
    Ok(store.login_failures_clear(FailureKey::Account, &account_key(user))?)
}

/// Forgets counts that neither count nor lock any more.
pub fn purge(store: &Store, limits: &ThrottleLimits, now: DateTime<Utc>) -> Result<usize> {
    Ok(store.login_failures_purge(now - delta(limits.window), now)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000 + s, 0).unwrap()
    }

    const LIMITS: ThrottleLimits = ThrottleLimits {
        account_failures: 3,
        address_failures: 5,
        window: Duration::from_secs(600),
        lockout: Duration::from_secs(900),
    };

    #[test]
    fn an_account_locks_after_its_failures_until_the_lockout_ends() {
        let mut s = hrsync_state::Store::in_memory().unwrap();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for i in 0..2 {
            check(&s, "alice", Some(ip), t(i)).unwrap();
            assert_eq!(
                failed(&mut s, &LIMITS, "alice", Some(ip), t(i)).unwrap(),
                None
            );
        }
        assert_eq!(
            failed(&mut s, &LIMITS, "Alice ", Some(ip), t(2)).unwrap(),
            Some(t(902)),
            "the third failure locks (names match case-insensitively)"
        );
        // Locked: refused, from any address, until the lockout ends.
        let other: IpAddr = "198.51.100.9".parse().unwrap();
        for at in [3, 500, 901] {
            let e = check(&s, "alice", Some(other), t(at)).unwrap_err();
            assert!(
                matches!(e, AuthError::Throttled { until } if until == t(902)),
                "{e}"
            );
            assert_eq!(e.status(), 429);
        }
        check(&s, "bob", Some(other), t(3)).unwrap();
        check(&s, "alice", Some(other), t(902)).unwrap();
        // After the lock, a failure counts from 1 again.
        assert_eq!(
            failed(&mut s, &LIMITS, "alice", None, t(903)).unwrap(),
            None
        );
        assert_eq!(
            s.login_failures(FailureKey::Account, "alice")
                .unwrap()
                .unwrap()
                .failures,
            1
        );
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let mut s = hrsync_state::Store::in_memory().unwrap();
        for i in 0..10 {
            // One failure every 11 minutes (window 10): never three in a window.
            assert_eq!(
                failed(&mut s, &LIMITS, "alice", None, t(i * 660)).unwrap(),
                None
            );
        }
        check(&s, "alice", None, t(6600)).unwrap();
    }

    #[test]
    fn success_clears_the_account_but_not_the_address() {
        let mut s = hrsync_state::Store::in_memory().unwrap();
        let ip: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        let next: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        for (i, user) in ["a", "b", "c", "d"].iter().enumerate() {
            assert_eq!(
                failed(&mut s, &LIMITS, user, Some(ip), t(i as i64)).unwrap(),
                None
            );
        }
        succeeded(&s, "a").unwrap();
        assert!(
            s.login_failures(FailureKey::Account, "a")
                .unwrap()
                .is_none()
        );
        // The fifth failure from the /64 locks the address, for every account.
        assert!(
            failed(&mut s, &LIMITS, "e", Some(next), t(5))
                .unwrap()
                .is_some()
        );
        let e = check(&s, "zed", Some(ip), t(6)).unwrap_err();
        assert!(matches!(e, AuthError::Throttled { .. }));
        check(&s, "zed", Some("192.0.2.1".parse().unwrap()), t(6)).unwrap();
        assert_eq!(
            address_key("::ffff:192.0.2.1".parse().unwrap()),
            "192.0.2.1"
        );
        assert_eq!(address_key(ip), "2001:db8:1:2::/64");
        // Purged once neither counting nor locking.
        assert_eq!(purge(&s, &LIMITS, t(2000)).unwrap(), 5);
    }
}
