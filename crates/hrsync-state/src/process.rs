//! Who runs: this host and process (the owner of a run or a lock), whether the process that
//! owns a run is gone, and the operator the audit names.

use std::path::Path;

/// This host's name (`/proc/sys/kernel/hostname`; `localhost` when unknown).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The owner of what this process runs: `<host> pid <pid>` (the format of the run locks).
pub fn owner_id() -> String {
    format!("{} pid {}", host_name(), std::process::id())
}

/// True when `owner` (as made by [`owner_id`]) is a process of this host that is gone: no
/// `/proc/<pid>`, or a zombie. False when it lives, when it is this process, when it is of
/// another host or when this cannot be known (no `/proc`).
pub fn owner_is_dead(owner: &str) -> bool {
    let mine = format!("{} pid ", host_name());
    let Some(pid) = owner
        .strip_prefix(&mine)
        .and_then(|p| p.trim().parse::<u32>().ok())
    else {
        return false;
    };
    if pid == std::process::id() || !Path::new("/proc/self").exists() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the command name, which ends with the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
        Err(_) => !Path::new(&format!("/proc/{pid}")).exists(),
    }
}

/// The operator, for the audit: `SUDO_USER` (the person behind `sudo`), else `USER`, else
/// `LOGNAME`, else the name of this process's user in `/etc/passwd`, else `uid <n>`; `unknown`
/// only when none of these can be found.
pub fn operator_name() -> String {
    operator_from(
        |k| std::env::var(k).ok(),
        uid(),
        std::fs::read_to_string("/etc/passwd").ok().as_deref(),
    )
}

/// The real user id of this process (`/proc/self/status`).
fn uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn operator_from(
    env: impl Fn(&str) -> Option<String>,
    uid: Option<u32>,
    passwd: Option<&str>,
) -> String {
    for var in ["SUDO_USER", "USER", "LOGNAME"] {
        if let Some(v) = env(var).map(|v| v.trim().to_string())
            && !v.is_empty()
        {
            return v;
        }
    }
    let Some(uid) = uid else {
        return "unknown".into();
    };
    passwd
        .and_then(|p| {
            p.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                let id = f.nth(1)?;
                (id.parse::<u32>().ok() == Some(uid) && !name.is_empty()).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_finished_process_is_dead_and_this_one_is_not() {
        assert!(!owner_is_dead(&owner_id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(owner_is_dead(&format!("{} pid {pid}", host_name())));
        // Another host, or not an owner at all: cannot tell, so not dead.
        assert!(!owner_is_dead(&format!("elsewhere.example pid {pid}")));
        assert!(!owner_is_dead("garbage"));
    }

    #[test]
    fn the_operator_is_whoever_can_be_found_first() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let passwd = "root:x:0:0:root:/root:/bin/bash\nhrsync:x:998:998::/var/lib/hrsync:/usr/sbin/nologin\n";
        assert_eq!(
            operator_from(
                env(&[("SUDO_USER", "alice"), ("USER", "root")]),
                Some(0),
                Some(passwd)
            ),
            "alice"
        );
        assert_eq!(
            operator_from(
                env(&[("SUDO_USER", ""), ("USER", "bob")]),
                Some(0),
                Some(passwd)
            ),
            "bob"
        );
        assert_eq!(
            operator_from(env(&[("LOGNAME", "carol")]), None, None),
            "carol"
        );
        // A daemon under systemd: no USER, the service account from the user id.
        assert_eq!(operator_from(env(&[]), Some(998), Some(passwd)), "hrsync");
        assert_eq!(
            operator_from(env(&[]), Some(1234), Some(passwd)),
            "uid 1234"
        );
        assert_eq!(operator_from(env(&[]), None, Some(passwd)), "unknown");
        // This process: never unknown on Linux.
        assert_ne!(operator_name(), "unknown");
    }

    #[test]
    fn a_zombie_is_dead() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Not reaped yet: a zombie once it exits (bounded wait).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !owner_is_dead(&format!("{} pid {pid}", host_name()))
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(owner_is_dead(&format!("{} pid {pid}", host_name())));
        child.wait().unwrap();
    }
}
