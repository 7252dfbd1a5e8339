//! Where full runs keep their HR snapshots for `hrsync replay` (`[state] keep_hr_snapshots`):
//! one folder per mapping beside the state database. Writing and reading them is the engine's.

use std::path::{Path, PathBuf};

/// Where and how many snapshots a job keeps.
#[derive(Debug, Clone)]
pub struct SnapshotSpec {
    /// `<state dir>/<stem>.hr-snapshots/<mapping>`.
    pub dir: PathBuf,
    /// How many to keep (`[state] keep_hr_snapshots`, at least 1 here: 0 means no spec).
    pub keep: usize,
    pub config_path: PathBuf,
    pub config_text: String,
}

/// The folder of one mapping's snapshots for a state database.
pub fn dir_for(state_path: &Path, mapping: &str) -> PathBuf {
    let stem = state_path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "hrsync.db".into());
    let parent = state_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    parent
        .join(format!("{stem}.hr-snapshots"))
        .join(safe_name(mapping))
}

/// A mapping name as one path component: letters, digits, `-`, `_` and `.` kept, anything
/// else as `%XX` (so two names never share a folder and nothing escapes it).
fn safe_name(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || (b == b'.' && !out.is_empty()) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_names_stay_one_folder() {
        assert_eq!(safe_name("icehrm-users"), "icehrm-users");
        assert_eq!(safe_name("../x y"), "%2E.%2Fx%20y");
        assert_eq!(safe_name(""), "%00");
    }
}
