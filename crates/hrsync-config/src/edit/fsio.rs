//! Files written safely: a temporary file created exclusively beside its target, and the
//! fsync of a directory after a rename. Used by saves and by secret files.

use super::{EditError, io_error};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A new file `.<name>.tmp.<pid>.<n>` in `dir`, created exclusively with `mode`.
pub(crate) fn create_temp(dir: &Path, name: &str, mode: u32) -> Result<(PathBuf, File), EditError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut last = None;
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.tmp.{}.{n}", std::process::id()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(io_error(dir, "cannot create a temporary file", e)),
        }
    }
    Err(io_error(
        dir,
        "cannot create a temporary file",
        last.unwrap_or_else(|| std::io::Error::other("no free name")),
    ))
}

/// fsync of a directory (a rename in it is durable).
pub(crate) fn sync_dir(dir: &Path) -> Result<(), EditError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, "cannot sync the directory", e))
}
