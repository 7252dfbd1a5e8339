//! Who runs: this host and process (the owner of a run or a lock), and whether the process
//! that owns a run is gone.

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
