//! The token store file and its cross-process lock.
//!
//! One store per integration holds the current refresh token **and** the current access token
//! with its expiry (a JSON object, mode 0600):
//!
//! ```json
//! {"refresh_token": "…", "access_token": "…", "access_token_expires_at": 1767225600}
//! ```
//!
//! Why the access token is persisted too: refresh tokens are single-use. When the daemon and a
//! CLI run (two processes) both need a token at the same moment, the one that waits on the lock
//! must not refresh again (that would be a second refresh request, and with a 30-minute access
//! token a needless rotation); it cannot see the other process's memory either. So the process
//! that refreshed writes the fresh access token next to the rotated refresh token, and the one
//! that waited reads the store after acquiring the lock and uses that access token while it is
//! valid. The access token is as sensitive as the refresh token (shorter-lived), and lives in
//! the same 0600 file.
//!
//! A store written by earlier versions (the refresh token alone, as plain text) is still read.
//!
//! The lock is an advisory `flock` on `<store>.lock` (never deleted: removing a lock file while
//! another process waits on it would let two processes hold "the" lock). It is held across
//! read store → refresh → write store, so one refresh happens at a time across processes; inside
//! a process the provider's mutex already serializes callers.

use hrsync_model::Secret;
use serde_json::{Value, json};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a process waits for another one's refresh (a refresh is bounded by its retry
/// deadline of 60 s plus one request timeout).
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(150);

/// Pause between two attempts to take the lock.
const LOCK_POLL: Duration = Duration::from_millis(20);

/// What the store holds.
#[derive(Default)]
pub(crate) struct Stored {
    pub refresh_token: Option<Secret>,
    /// The access token and when it expires (wall clock, whole seconds).
    pub access: Option<(Secret, SystemTime)>,
}

impl Stored {
    /// Reads the store's text: a JSON object, or (older versions) a bare refresh token.
    pub fn parse(text: &str) -> Result<Stored, String> {
        let text = text.trim();
        if !text.starts_with('{') {
            return Ok(Stored {
                refresh_token: (!text.is_empty()).then(|| Secret::new(text)),
                access: None,
            });
        }
        // The error names what is wrong, never the content (it holds tokens).
        let v: Value = serde_json::from_str(text).map_err(|e| {
            format!(
                "it is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            )
        })?;
        let string = |k: &str| -> Result<Option<Secret>, String> {
            match v.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(Secret::new(s.trim()))),
                Some(_) => Err(format!("{k} is not a string")),
            }
        };
        let refresh_token = string("refresh_token")?;
        let access = match (string("access_token")?, v.get("access_token_expires_at")) {
            (Some(t), Some(Value::Number(n))) => {
                n.as_u64().map(|s| (t, UNIX_EPOCH + Duration::from_secs(s)))
            }
            _ => None,
        };
        Ok(Stored {
            refresh_token,
            access,
        })
    }

    fn render(&self) -> String {
        let mut v = json!({});
        if let Some(r) = &self.refresh_token {
            v["refresh_token"] = json!(r.expose());
        }
        if let Some((t, exp)) = &self.access {
            v["access_token"] = json!(t.expose());
            v["access_token_expires_at"] = json!(
                exp.duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
            );
        }
        v.to_string()
    }
}

/// Reads the store; `Ok(None)` when it does not exist. A store readable by group or others is
/// refused (like ssh does with keys).
pub(crate) fn read_store(path: &Path) -> Result<Option<Stored>, String> {
    use std::os::unix::fs::PermissionsExt;
    let shown = path.display();
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read the token store {shown}: {e}")),
    };
    if !meta.is_file() {
        return Err(format!("the token store {shown} is not a regular file"));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "the token store {shown} has permissions {mode:04o}: it holds a live credential and \
             must be readable by its owner only; run `chmod 600 {shown}` (and consider \
             re-authorizing the app if others could have read it)"
        ));
    }
    let text = fs::read_to_string(path)
        .map_err(|e| format!("cannot read the token store {shown}: {e}"))?;
    Stored::parse(&text)
        .map(Some)
        .map_err(|why| format!("the token store {shown} is damaged: {why}; run `hrsync oauth authorize` to write a new one"))
}

/// The store's directory (created 0700 when missing) and file name.
fn dir_and_name(path: &Path) -> io::Result<(PathBuf, &std::ffi::OsStr)> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the store path has no file name",
        )
    })?;
    if !dir.is_dir() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
    }
    Ok((dir, name))
}

/// Atomically replaces the store: a 0600 temp file in the same directory, fsync, rename, fsync
/// of the directory. Creates the directory (0700) when missing.
pub(crate) fn save_store(path: &Path, stored: &Stored) -> io::Result<()> {
    write_atomic(path, stored.render().as_bytes())
}

fn write_atomic(path: &Path, content: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let (dir, name) = dir_and_name(path)?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(
        ".{}.{}.{}.{nanos}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(content)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // The new token is in place; a failed directory fsync only weakens durability across a
    // power loss, which is not worth failing the run (and asking for a re-authorization) over.
    if let Err(e) = fs::File::open(&dir).and_then(|d| d.sync_all()) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot fsync the token store directory");
    }
    Ok(())
}

/// The lock file of a store: `<store>.lock`.
pub fn lock_path(store: &Path) -> PathBuf {
    let mut s = store.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

/// An exclusive lock on a store; released when dropped (the file is closed).
pub struct StoreLock {
    _file: fs::File,
}

/// Takes the store's lock, waiting at most `wait` for another process (blocking: call it off
/// the async runtime). Bounded by attempts and the deadline.
pub fn lock_store(store: &Path, wait: Duration) -> io::Result<StoreLock> {
    use rustix::fs::{FlockOperation, flock};
    use std::os::unix::fs::OpenOptionsExt;
    dir_and_name(store)?;
    let path = lock_path(store);
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)?;
    let deadline = Instant::now() + wait;
    let max_attempts = (wait.as_millis() / LOCK_POLL.as_millis()).saturating_add(2);
    let mut attempts = 0_u128;
    loop {
        attempts += 1;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(StoreLock { _file: file }),
            Err(e) if e == rustix::io::Errno::WOULDBLOCK || e == rustix::io::Errno::INTR => {}
            Err(e) => return Err(io::Error::from(e)),
        }
        if Instant::now() >= deadline || attempts >= max_attempts {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "another process has held {} for more than {} s",
                    path.display(),
                    wait.as_secs()
                ),
            ));
        }
        std::thread::sleep(LOCK_POLL);
    }
}
