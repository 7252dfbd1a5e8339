//! The HR snapshot a full run keeps for `hrsync replay`: the records it fetched (only the
//! fields the mapping reads), gzip-compressed JSON lines, 0600, beside the state database.
//!
//! Layout: `<state dir>/<state file stem>.hr-snapshots/<mapping>/run-<id>.jsonl.gz`. The first
//! line is a [`Header`] (the run, the mapping, when, and the configuration text the run used,
//! so that replay can compare a new configuration with the old one); then one
//! [`HrRecord`] per line; the last line is a [`Trailer`] with the record count, so that a
//! truncated file is told apart from a small fetch.
//!
//! Each record is serialised on the fetch task as it is mapped (the task frees it there, as it
//! would anyway), and compressed and written on a blocking thread fed by a bounded channel of
//! large chunks. A snapshot is kept only for a complete full fetch; an incomplete or incremental
//! one is deleted (replaying part of HR would show people as gone). Keeping one never fails a
//! run: a write error is a note on the fetch.

use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use hrsync_config::snapshots::SnapshotSpec;
use hrsync_model::HrRecord;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// The format name in every header.
pub const FORMAT: &str = "hrsync-hr-snapshot/1";

/// Bytes of JSON lines handed to the compressing thread at once (large: the deflater fed one
/// small write per JSON token costs several times the whole fetch).
const CHUNK: usize = 256 * 1024;
/// Chunks waiting for the compressing thread at most: the fetch waits beyond this (memory
/// stays bounded when compression is slower than HR).
const QUEUE: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("HR snapshot {path}: {what}: {source}")]
    Io {
        path: String,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "HR snapshot {path}, line {line}: {message}; the file is damaged (or not an hrsync snapshot): use another run's snapshot"
    )]
    Damaged {
        path: String,
        line: usize,
        message: String,
    },
    #[error(
        "no HR snapshot of run {run} for mapping {mapping:?} in {dir}: snapshots are kept for complete full fetches only, the last [state] keep_hr_snapshots of them ({kept} kept now: {list})"
    )]
    NotKept {
        run: i64,
        mapping: String,
        dir: String,
        kept: usize,
        list: String,
    },
}

/// What a snapshot starts with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub run_id: i64,
    pub mapping: String,
    pub fetched_at: DateTime<Utc>,
    /// The fields kept (what the mapping reads); other fields were not stored.
    pub fields: Vec<String>,
    /// The configuration file the run used, and its text (no secrets: configs name them by
    /// environment variable or file).
    pub config_path: PathBuf,
    pub config_text: String,
}

/// What a complete snapshot ends with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trailer {
    pub end: bool,
    pub records: usize,
}

fn file_for(dir: &Path, run: i64) -> PathBuf {
    dir.join(format!("run-{run}.jsonl.gz"))
}

fn io<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> SnapshotError + 'a {
    move |source| SnapshotError::Io {
        path: path.display().to_string(),
        what,
        source,
    }
}

/// Creates `dir` (and its parents), readable by the owner only.
fn private_dir(dir: &Path) -> Result<(), SnapshotError> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(io(dir, "cannot create the folder"))
}

/// A snapshot being written: records go to [`Writer::push`], then [`Writer::finish`].
pub struct Writer {
    /// JSON lines not yet handed to the compressing thread.
    buf: Vec<u8>,
    records: usize,
    /// A record that could not be serialised (the snapshot is then not kept).
    failed: Option<String>,
    tx: std::sync::mpsc::SyncSender<Vec<u8>>,
    task: tokio::task::JoinHandle<Result<(), SnapshotError>>,
    /// Set by `finish`: a writer dropped without it (the run failed) deletes its file.
    committed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    part: PathBuf,
    path: PathBuf,
    spec: SnapshotSpec,
}

impl Writer {
    /// Starts the snapshot of run `run`: creates the `.part` file (0600) and the thread that
    /// compresses and writes it. Call inside a Tokio runtime.
    pub fn start(
        spec: &SnapshotSpec,
        run: i64,
        mapping: &str,
        fetched_at: DateTime<Utc>,
        fields: Vec<String>,
    ) -> Result<Writer, SnapshotError> {
        private_dir(&spec.dir)?;
        let path = file_for(&spec.dir, run);
        let part = path.with_extension("gz.part");
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(&part).map_err(io(&part, "cannot create it"))?;
        let header = Header {
            format: FORMAT.into(),
            run_id: run,
            mapping: mapping.into(),
            fetched_at,
            fields,
            config_path: spec.config_path.clone(),
            config_text: spec.config_text.clone(),
        };
        let mut buf = Vec::with_capacity(CHUNK + 4096);
        line(&mut buf, &header).map_err(io(&part, "cannot write it"))?;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(QUEUE);
        let shown = part.clone();
        let committed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let done = committed.clone();
        let task = tokio::task::spawn_blocking(move || {
            let mut out = GzEncoder::new(file, Compression::fast());
            let wrote = |e| io(&shown, "cannot write it")(e);
            // Ends when the sender is dropped (finish, or the run gave up).
            while let Ok(chunk) = rx.recv() {
                out.write_all(&chunk).map_err(wrote)?;
            }
            if !done.load(std::sync::atomic::Ordering::SeqCst) {
                // Dropped without `finish`: the run ended on an error.
                drop(out);
                let _ = std::fs::remove_file(&shown);
                return Ok(());
            }
            let file = out.finish().map_err(wrote)?;
            file.sync_all().map_err(wrote)?;
            Ok(())
        });
        Ok(Writer {
            buf,
            records: 0,
            failed: None,
            tx,
            task,
            committed,
            part,
            path,
            spec: spec.clone(),
        })
    }

    /// Adds one record. It is serialised here, on the caller's thread (which allocated it:
    /// freeing it on another thread costs more than the serialising), into large chunks that
    /// the writing thread compresses; the caller waits when that thread is [`QUEUE`] chunks
    /// behind. After an error the rest is ignored and `finish` reports it.
    pub fn push(&mut self, rec: &HrRecord) {
        if self.failed.is_some() {
            return;
        }
        if let Err(e) = line(&mut self.buf, rec) {
            self.failed = Some(format!("record {}: {e}", rec.index));
            return;
        }
        self.records += 1;
        if self.buf.len() >= CHUNK {
            let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK + 4096));
            // The thread only goes away after a write error, which `finish` reports.
            let _ = self.tx.send(full);
        }
    }

    /// Ends the snapshot. `keep` (a complete full fetch): renamed into place and older ones
    /// beyond the retention removed; returns the file and its record count. Otherwise the
    /// partial file is deleted and `None` returned.
    pub async fn finish(self, keep: bool) -> Result<Option<(PathBuf, usize)>, SnapshotError> {
        let Writer {
            mut buf,
            records,
            failed,
            tx,
            task,
            committed,
            part,
            path,
            spec,
        } = self;
        let keep = keep && failed.is_none();
        if keep {
            let trailer = Trailer { end: true, records };
            line(&mut buf, &trailer).map_err(io(&part, "cannot write it"))?;
            let _ = tx.send(buf);
        }
        committed.store(true, std::sync::atomic::Ordering::SeqCst);
        drop(tx);
        let written = match task.await {
            Ok(r) => r,
            Err(e) => Err(SnapshotError::Io {
                path: part.display().to_string(),
                what: "the writing thread failed",
                source: std::io::Error::other(e.to_string()),
            }),
        };
        if let Some(f) = failed {
            let _ = std::fs::remove_file(&part);
            return Err(SnapshotError::Io {
                path: part.display().to_string(),
                what: "a record could not be written",
                source: std::io::Error::other(f),
            });
        }
        if !keep || written.is_err() {
            let _ = std::fs::remove_file(&part);
            return written.map(|_| None);
        }
        std::fs::rename(&part, &path).map_err(io(&path, "cannot move it into place"))?;
        prune(&spec.dir, spec.keep)?;
        Ok(Some((path, records)))
    }
}

/// The runs whose snapshots are in `dir`, oldest first.
pub fn kept(dir: &Path) -> Result<Vec<i64>, SnapshotError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir, "cannot list it")(e)),
    };
    let mut runs: Vec<i64> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix("run-")?
                .strip_suffix(".jsonl.gz")?
                .parse()
                .ok()
        })
        .collect();
    runs.sort_unstable();
    Ok(runs)
}

/// Removes the oldest snapshots beyond `keep`, and `.part` files a killed run left (a day old:
/// younger ones may be another run's, being written).
fn prune(dir: &Path, keep: usize) -> Result<(), SnapshotError> {
    if let Ok(entries) = std::fs::read_dir(dir) {
        let day = std::time::Duration::from_secs(24 * 3600);
        for e in entries.filter_map(|e| e.ok()) {
            let stale = e.file_name().to_string_lossy().ends_with(".part")
                && e.metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > day);
            if stale {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let runs = kept(dir)?;
    let extra = runs.len().saturating_sub(keep);
    for run in &runs[..extra] {
        let f = file_for(dir, *run);
        std::fs::remove_file(&f).map_err(io(&f, "cannot remove it (retention)"))?;
    }
    Ok(())
}

/// A snapshot read back.
pub struct Snapshot {
    pub path: PathBuf,
    pub header: Header,
    pub records: Vec<HrRecord>,
}

/// Reads the snapshot of `run` in `dir` whole (it was written complete; a file without its
/// trailer, or whose count disagrees, is refused).
pub fn read(dir: &Path, run: i64, mapping: &str) -> Result<Snapshot, SnapshotError> {
    let path = file_for(dir, run);
    if !path.exists() {
        let runs = kept(dir)?;
        return Err(SnapshotError::NotKept {
            run,
            mapping: mapping.into(),
            dir: dir.display().to_string(),
            kept: runs.len(),
            list: if runs.is_empty() {
                "none yet; one is written by the next complete full plan or apply".into()
            } else {
                runs.iter()
                    .map(|r| format!("run {r}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        });
    }
    read_file(&path)
}

/// Reads a snapshot file.
pub fn read_file(path: &Path) -> Result<Snapshot, SnapshotError> {
    let file = std::fs::File::open(path).map_err(io(path, "cannot open it"))?;
    let lines = BufReader::new(GzDecoder::new(file)).lines();
    let damaged = |line: usize, message: String| SnapshotError::Damaged {
        path: path.display().to_string(),
        line,
        message,
    };
    let mut header: Option<Header> = None;
    let mut records = Vec::new();
    let mut trailer: Option<Trailer> = None;
    for (i, line) in lines.enumerate() {
        let n = i + 1;
        let line = line.map_err(|e| damaged(n, format!("cannot read it ({e})")))?;
        if trailer.is_some() {
            return Err(damaged(n, "lines after the end marker".into()));
        }
        if header.is_none() {
            let h: Header = serde_json::from_str(&line)
                .map_err(|e| damaged(n, format!("not a snapshot header ({e})")))?;
            if h.format != FORMAT {
                return Err(damaged(
                    n,
                    format!("format {:?}, this hrsync reads {FORMAT:?}", h.format),
                ));
            }
            header = Some(h);
            continue;
        }
        if line.starts_with("{\"end\":") {
            let t: Trailer = serde_json::from_str(&line)
                .map_err(|e| damaged(n, format!("a bad end marker ({e})")))?;
            trailer = Some(t);
            continue;
        }
        let r: HrRecord = serde_json::from_str(&line)
            .map_err(|e| damaged(n, format!("not an HR record ({e})")))?;
        records.push(r);
    }
    let header = header.ok_or_else(|| damaged(1, "empty".into()))?;
    match trailer {
        Some(t) if t.records == records.len() => Ok(Snapshot {
            path: path.to_path_buf(),
            header,
            records,
        }),
        Some(t) => Err(damaged(
            records.len() + 2,
            format!(
                "the end marker counts {} records, {} are there",
                t.records,
                records.len()
            ),
        )),
        None => Err(damaged(
            records.len() + 2,
            "no end marker: the file was cut short".into(),
        )),
    }
}

/// Appends `v` as one JSON line to `buf`.
fn line<T: Serialize>(buf: &mut Vec<u8>, v: &T) -> std::io::Result<()> {
    serde_json::to_writer(&mut *buf, v).map_err(std::io::Error::other)?;
    buf.push(b'\n');
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn rec(i: usize, name: &str) -> HrRecord {
        let mut fields = serde_json::Map::new();
        fields.insert("employee_id".into(), format!("E{i}").into());
        fields.insert("first_name".into(), name.into());
        HrRecord {
            index: i,
            source_id: Some(i.to_string()),
            fields,
            problems: Vec::new(),
        }
    }

    fn spec(dir: &Path, keep: usize) -> SnapshotSpec {
        SnapshotSpec {
            dir: dir.join("m"),
            keep,
            config_path: "/etc/hrsync/hrsync.toml".into(),
            config_text: "[state]\n".into(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_complete_fetch_is_kept_private_and_read_back_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let s = spec(tmp.path(), 7);
        let mut w = Writer::start(&s, 3, "m", Utc::now(), vec!["first_name".into()]).unwrap();
        for i in 0..1500 {
            w.push(&rec(i, "Zoë \"O'Brien\"\n"));
        }
        let (path, n) = w.finish(true).await.unwrap().unwrap();
        assert_eq!(n, 1500);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let dmode = std::fs::metadata(&s.dir).unwrap().permissions().mode() & 0o777;
            assert_eq!(dmode, 0o700);
        }
        let back = read(&s.dir, 3, "m").unwrap();
        assert_eq!(back.header.run_id, 3);
        assert_eq!(back.header.config_text, "[state]\n");
        assert_eq!(back.records.len(), 1500);
        assert_eq!(back.records[1499].fields["employee_id"], "E1499");
        assert_eq!(back.records[7].fields["first_name"], "Zoë \"O'Brien\"\n");
        assert!(!s.dir.join("run-3.jsonl.gz.part").exists());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_incomplete_fetch_leaves_nothing_and_retention_keeps_the_newest() {
        let tmp = tempfile::tempdir().unwrap();
        let s = spec(tmp.path(), 2);
        let mut w = Writer::start(&s, 1, "m", Utc::now(), vec![]).unwrap();
        w.push(&rec(0, "a"));
        assert!(w.finish(false).await.unwrap().is_none());
        assert_eq!(kept(&s.dir).unwrap(), Vec::<i64>::new());
        assert_eq!(std::fs::read_dir(&s.dir).unwrap().count(), 0);
        for run in [4, 5, 9] {
            let mut w = Writer::start(&s, run, "m", Utc::now(), vec![]).unwrap();
            w.push(&rec(0, "a"));
            w.finish(true).await.unwrap();
        }
        assert_eq!(kept(&s.dir).unwrap(), vec![5, 9]);
        let e = read(&s.dir, 4, "m").err().unwrap().to_string();
        assert!(
            e.contains("no HR snapshot of run 4") && e.contains("run 5, run 9"),
            "{e}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cut_short_file_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let s = spec(tmp.path(), 7);
        let mut w = Writer::start(&s, 2, "m", Utc::now(), vec![]).unwrap();
        for i in 0..100 {
            w.push(&rec(i, "x"));
        }
        let (path, _) = w.finish(true).await.unwrap().unwrap();
        // Rewrite it without its last line (the end marker).
        let text = {
            let mut s = String::new();
            std::io::Read::read_to_string(
                &mut GzDecoder::new(std::fs::File::open(&path).unwrap()),
                &mut s,
            )
            .unwrap();
            s
        };
        let cut: Vec<&str> = text.lines().collect();
        let cut = cut[..cut.len() - 1].join("\n") + "\n";
        let mut enc = GzEncoder::new(std::fs::File::create(&path).unwrap(), Compression::fast());
        enc.write_all(cut.as_bytes()).unwrap();
        enc.finish().unwrap();
        let e = read_file(&path).err().unwrap().to_string();
        assert!(e.contains("no end marker"), "{e}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_writer_dropped_by_a_failed_run_leaves_no_file() {
        let tmp = tempfile::tempdir().unwrap();
        let s = spec(tmp.path(), 7);
        let mut w = Writer::start(&s, 6, "m", Utc::now(), vec![]).unwrap();
        for i in 0..2000 {
            w.push(&rec(i, "x"));
        }
        drop(w);
        // The thread removes the file when it sees the channel closed; bounded wait.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::read_dir(&s.dir).unwrap().count() > 0 && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(std::fs::read_dir(&s.dir).unwrap().count(), 0);
    }
}
