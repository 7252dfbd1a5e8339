//! The daemon's HTTP listener: hyper's HTTP/1 server over an accept loop that bounds what
//! clients can hold (issue 12 §1: 2,000 idle clients took every descriptor and `/healthz`
//! timed out).
//!
//! - **Header timeout** (`serve.header_timeout_secs`): a request head must arrive completely
//!   within it, counted from the connection's accept (first request) or from its first byte
//!   (later requests on a keep-alive connection); the body and the handling of a request are
//!   bounded by it too (`408`). A slowloris client is closed.
//! - **Idle timeout** (`serve.idle_timeout_secs`): a keep-alive connection with no request for
//!   this long is closed.
//! - **Connection cap** (`serve.max_connections`): at the cap, a new client makes room by
//!   closing the longest-idle connection (one with no request being handled), so idle clients
//!   never lock out `/healthz` or an HR event; when every connection is busy, the new one is
//!   closed. A warning says so, at most every 30 s. The cap is lowered to fit the process's
//!   open-files limit (minus [`RESERVED_FDS`]). Accept errors from running out of descriptors
//!   (EMFILE/ENFILE) close the longest-idle connection and back off for 100 ms, never spin.
//! - **TLS** (`[server.tls]`, [`tls_acceptor`]): the certificate and key are read when the
//!   service starts (so a SIGHUP, which restarts it, picks up renewed files); the handshake
//!   is part of the first request's header timeout. Plain HTTP is refused on an address that
//!   is not loopback.
//! - **Stop and reload**: the accept loop stops (new clients wait in the kept listener's
//!   backlog for the reloaded service); a request on its way on an open connection within
//!   [`DRAIN_GRACE`] is still answered, with `Connection: close`.

use hrsync_config::Config;
use hrsync_config::daemon::RawServe;
use hrsync_config::server_auth::TlsFiles;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore, watch};
pub use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why the listener cannot serve as configured.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(
        "listening on {addr} with plain HTTP: only a loopback address may serve plain HTTP; set [server.tls] cert and key (PEM files), or listen on 127.0.0.1 behind a reverse proxy with TLS"
    )]
    PlainHttp { addr: std::net::SocketAddr },
    #[error("[server.tls] {key} = {path}: {message}")]
    File {
        key: &'static str,
        path: String,
        message: String,
    },
    #[error("[server.tls]: the certificate and the key do not make a TLS configuration: {0}")]
    Config(String),
}

/// `https` with `[server.tls]`, else `http` (for the "listening on" line).
pub fn scheme(cfg: &Config) -> &'static str {
    if cfg.raw.serve.tls.is_some() {
        "https"
    } else {
        "http"
    }
}

/// What serves the connections of a listener bound to `addr`: TLS with the files of
/// `[server.tls]` (read now), or None for plain HTTP, which is refused unless `addr` is a
/// loopback address. Call it when the service starts (and each restart: SIGHUP).
pub fn tls_acceptor(
    cfg: &Config,
    addr: std::net::SocketAddr,
) -> Result<Option<TlsAcceptor>, TlsError> {
    match cfg.server_tls() {
        Some(files) => load_tls(&files).map(Some),
        None if addr.ip().is_loopback() => Ok(None),
        None => Err(TlsError::PlainHttp { addr }),
    }
}

/// A TLS acceptor for the certificate chain and key in these PEM files (HTTP/1.1 by ALPN,
/// TLS 1.2 and 1.3, the aws-lc-rs provider).
pub fn load_tls(files: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let read = |key: &'static str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| TlsError::File {
            key,
            path: path.display().to_string(),
            message: e.to_string(),
        })
    };
    let bad = |key: &'static str, path: &std::path::Path, message: String| TlsError::File {
        key,
        path: path.display().to_string(),
        message,
    };
    let pem = read("cert", &files.cert)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("cert", &files.cert, format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(bad(
            "cert",
            &files.cert,
            "no CERTIFICATE block in the file".into(),
        ));
    }
    let pem = read("key", &files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        bad(
            "key",
            &files.key,
            format!("no private key (PKCS#8, PKCS#1 or SEC1 PEM): {e}"),
        )
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Descriptors kept for everything but client connections (state database, directory and HR
/// connections, logs, the listener itself).
pub const RESERVED_FDS: u64 = 64;

/// How often a warning about the cap or the descriptor limit may repeat.
const WARN_EVERY: Duration = Duration::from_secs(30);

/// The listener's limits (from `[serve]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Limits {
    pub fn from_config(s: &RawServe) -> Limits {
        Limits {
            header_timeout: Duration::from_secs(s.header_timeout_secs),
            idle_timeout: Duration::from_secs(s.idle_timeout_secs),
            max_connections: s.max_connections,
        }
    }

    /// The cap lowered to what the open-files limit `soft` leaves for clients.
    pub fn fit_to(self, soft: Option<u64>) -> Limits {
        let Some(soft) = soft else { return self };
        let room = usize::try_from(soft.saturating_sub(RESERVED_FDS).max(16)).unwrap_or(usize::MAX);
        if self.max_connections <= room {
            return self;
        }
        tracing::warn!(
            max_connections = self.max_connections,
            open_files_limit = soft,
            "serve.max_connections does not fit the open-files limit: at most {room} connections (raise LimitNOFILE or lower serve.max_connections)"
        );
        Limits {
            max_connections: room,
            ..self
        }
    }
}

/// The soft open-files limit of this process (Linux; None elsewhere or when unlimited).
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().find_map(|w| w.parse().ok())
}

/// How long a connection with no request in progress may still send one when the daemon stops
/// or reloads (a reload waits for its connections to close before serving on).
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// "No value": the current request head has not started.
const NONE: u64 = u64::MAX;

/// What the accept loop and a connection's task share about one connection.
struct Conn {
    /// Requests being handled (not evicted, not timed out as idle).
    in_flight: AtomicUsize,
    /// When a byte was last read or written (ms on the listener's clock).
    last_activity: AtomicU64,
    /// When the current request head began (ms), or [`NONE`] between requests.
    head_since: AtomicU64,
    evicted: AtomicBool,
    close: Notify,
    /// The daemon stops (or reloads): every response says `Connection: close`.
    draining: AtomicBool,
}

struct Shared {
    started: Instant,
    limits: Limits,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    /// Closes the longest-idle connection that has no request in flight; false if none.
    fn evict_one(&self) -> bool {
        let conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        let victim = conns
            .values()
            .filter(|c| {
                c.in_flight.load(Ordering::SeqCst) == 0 && !c.evicted.load(Ordering::SeqCst)
            })
            .min_by_key(|c| c.last_activity.load(Ordering::SeqCst));
        match victim {
            Some(c) => {
                c.evicted.store(true, Ordering::SeqCst);
                c.close.notify_one();
                true
            }
            None => false,
        }
    }

    /// When this connection's current limit runs out (ms), if nothing changes; None while a
    /// request is handled (the request's own timeout bounds it).
    fn deadline(&self, c: &Conn) -> Option<u64> {
        if c.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(NONE / 2);
        Some(match c.head_since.load(Ordering::SeqCst) {
            NONE => c
                .last_activity
                .load(Ordering::SeqCst)
                .saturating_add(ms(self.limits.idle_timeout)),
            since => since.saturating_add(ms(self.limits.header_timeout)),
        })
    }
}

/// A warning that repeats at most every [`WARN_EVERY`], with how often it happened meanwhile.
#[derive(Default)]
struct RateLimited {
    last: Mutex<Option<Instant>>,
    count: AtomicU64,
}

impl RateLimited {
    /// Counts one occurrence; Some(occurrences since the last message) when one is due.
    fn hit(&self) -> Option<u64> {
        let n = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| t.elapsed() < WARN_EVERY) {
            return None;
        }
        *last = Some(Instant::now());
        self.count.store(0, Ordering::SeqCst);
        Some(n)
    }
}

/// The socket, noting when bytes move (what the timeouts are measured from).
struct Tracked {
    inner: TcpStream,
    conn: Arc<Conn>,
    shared: Arc<Shared>,
}

impl Tracked {
    fn touched(&self, read: bool) {
        let now = self.shared.now_ms();
        self.conn.last_activity.store(now, Ordering::SeqCst);
        if read && self.conn.in_flight.load(Ordering::SeqCst) == 0 {
            // The first byte of a request head starts the header timeout.
            let _ = self.conn.head_since.compare_exchange(
                NONE,
                now,
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
        }
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut me.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            me.touched(true);
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let me = self.get_mut();
        let r = Pin::new(&mut me.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            me.touched(false);
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let me = self.get_mut();
        let r = Pin::new(&mut me.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            me.touched(false);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A request being handled: the connection is busy (not idle, not evictable) until dropped.
struct Busy {
    conn: Arc<Conn>,
    shared: Arc<Shared>,
}

impl Busy {
    fn new(conn: Arc<Conn>, shared: Arc<Shared>) -> Busy {
        conn.in_flight.fetch_add(1, Ordering::SeqCst);
        conn.head_since.store(NONE, Ordering::SeqCst);
        Busy { conn, shared }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.conn
            .last_activity
            .store(self.shared.now_ms(), Ordering::SeqCst);
        self.conn.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Removes a connection from the registry when its task ends (however it ends).
struct Registered {
    id: u64,
    shared: Arc<Shared>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.shared
            .conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

/// Whether an accept error means the process or the system ran out of descriptors (or
/// kernel memory): EMFILE, ENFILE, ENOBUFS, ENOMEM on Linux.
fn out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(24 | 23 | 105 | 12))
}

/// Serves `router` on `listener` until `stop` turns true, then lets open requests finish
/// (and requests that arrive within [`DRAIN_GRACE`], answered with `Connection: close`;
/// connections with none are closed after it) and returns the listener: a reload serves on with
/// it, so clients connecting meanwhile wait in its backlog instead of being refused.
/// With `tls`, every connection is TLS (see [`tls_acceptor`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<tokio::net::TcpListener> {
    let shared = Arc::new(Shared {
        started: Instant::now(),
        limits,
        conns: Mutex::new(HashMap::new()),
    });
    let max = limits.max_connections.max(1);
    let permits = Arc::new(Semaphore::new(max));
    let at_cap = RateLimited::default();
    let no_fds = RateLimited::default();
    let mut next_id = 0u64;
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        let (stream, peer) = match accepted {
            Ok(sp) => sp,
            Err(e) if out_of_descriptors(&e) => {
                let closed = shared.evict_one();
                if let Some(n) = no_fds.hit() {
                    tracing::warn!(
                        times = n,
                        closed_idle = closed,
                        "cannot accept a connection: {e}; closing the longest-idle one and retrying in 100 ms (raise LimitNOFILE or lower serve.max_connections)"
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Err(e) => {
                // A client that gave up before its accept (ECONNABORTED) and the like.
                tracing::debug!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                let closed = shared.evict_one();
                if let Some(n) = at_cap.hit() {
                    tracing::warn!(
                        max_connections = max,
                        times = n,
                        "connection limit reached: {max} connections open (serve.max_connections); {}",
                        if closed {
                            "closing the longest-idle connection for each new client"
                        } else {
                            "every connection is handling a request: new clients are closed"
                        }
                    );
                }
                let freed = if closed {
                    tokio::time::timeout(Duration::from_secs(1), permits.clone().acquire_owned())
                        .await
                        .ok()
                        .and_then(Result::ok)
                } else {
                    None
                };
                match freed {
                    Some(p) => p,
                    None => {
                        metrics::counter!("hrsync_http_connections_closed_total", "reason" => "busy")
                            .increment(1);
                        drop(stream);
                        continue;
                    }
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let now = shared.now_ms();
        let conn = Arc::new(Conn {
            in_flight: AtomicUsize::new(0),
            last_activity: AtomicU64::new(now),
            // The first request's head is due within the header timeout of the accept.
            head_since: AtomicU64::new(now),
            evicted: AtomicBool::new(false),
            close: Notify::new(),
            draining: AtomicBool::new(false),
        });
        next_id += 1;
        shared
            .conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(next_id, conn.clone());
        metrics::gauge!("hrsync_http_connections_open").increment(1.0);
        let registered = Registered {
            id: next_id,
            shared: shared.clone(),
        };
        let (router, shared, stop) = (router.clone(), shared.clone(), stop.clone());
        let tls = tls.clone();
        tokio::spawn(async move {
            connection(stream, peer, tls, conn, shared, router, stop).await;
            drop(registered);
            metrics::gauge!("hrsync_http_connections_open").decrement(1.0);
            drop(permit);
        });
    }
    // Every connection has been told to finish: wait until all have.
    let _ = permits
        .acquire_many(u32::try_from(max).unwrap_or(u32::MAX))
        .await;
    Ok(listener)
}

/// One connection: the TLS handshake if any (within the header timeout, as part of the first
/// request), then [`http`].
async fn connection(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    tls: Option<TlsAcceptor>,
    conn: Arc<Conn>,
    shared: Arc<Shared>,
    router: axum::Router,
    stop: watch::Receiver<bool>,
) {
    let tracked = Tracked {
        inner: stream,
        conn: conn.clone(),
        shared: shared.clone(),
    };
    let Some(tls) = tls else {
        return http(tracked, peer, conn, shared, router, stop).await;
    };
    let handshake = tokio::time::timeout(shared.limits.header_timeout, tls.accept(tracked));
    let stream = tokio::select! {
        r = handshake => match r {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!("TLS handshake: {e}");
                metrics::counter!("hrsync_http_connections_closed_total", "reason" => "tls_handshake")
                    .increment(1);
                return;
            }
            Err(_) => {
                metrics::counter!("hrsync_http_connections_closed_total", "reason" => "header_timeout")
                    .increment(1);
                return;
            }
        },
        _ = conn.close.notified() => {
            metrics::counter!("hrsync_http_connections_closed_total", "reason" => "evicted")
                .increment(1);
            return;
        }
    };
    http(stream, peer, conn, shared, router, stop).await
}

/// HTTP/1 with keep-alive over `io`, closed when a limit runs out, when evicted while idle,
/// or when the daemon stops (after its request, or [`DRAIN_GRACE`] without one).
async fn http<I>(
    io: I,
    peer: std::net::SocketAddr,
    conn: Arc<Conn>,
    shared: Arc<Shared>,
    router: axum::Router,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    let tower = TowerToHyperService::new(router);
    let request_timeout = shared.limits.header_timeout;
    let (c, s) = (conn.clone(), shared.clone());
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        // The client's address, for sign-in throttling and the audit of requests.
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        let busy = Busy::new(c.clone(), s.clone());
        let handled = hyper::service::Service::call(&tower, req);
        let conn = c.clone();
        async move {
            let _busy = busy;
            let mut r = match tokio::time::timeout(request_timeout, handled).await {
                Ok(r) => r,
                Err(_) => Ok(request_timed_out()),
            };
            if conn.draining.load(Ordering::SeqCst)
                && let Ok(resp) = &mut r
            {
                // The client learns not to send another request on this connection.
                resp.headers_mut().insert(
                    axum::http::header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
            }
            r
        }
    });
    // The timeouts are this module's (hyper's header timeout also runs between keep-alive
    // requests, which would make the idle timeout the header timeout).
    let served = http1::Builder::new()
        .keep_alive(true)
        .header_read_timeout(None)
        .serve_connection(io, svc);
    tokio::pin!(served);
    // When the daemon stops: until when a connection with no request in progress may still
    // send one (ms on the listener's clock).
    let mut drain_until: Option<u64> = None;
    loop {
        let now = shared.now_ms();
        if drain_until.is_some_and(|u| now >= u) && conn.in_flight.load(Ordering::SeqCst) == 0 {
            tracing::debug!("closing a connection with no request: the daemon stops");
            return;
        }
        let deadline = shared.deadline(&conn);
        if deadline.is_some_and(|d| now >= d) {
            // A limit ran out: the socket is closed (dropped).
            let reason = if conn.head_since.load(Ordering::SeqCst) == NONE {
                "idle_timeout"
            } else {
                "header_timeout"
            };
            tracing::debug!(reason, "closing a connection");
            metrics::counter!("hrsync_http_connections_closed_total", "reason" => reason)
                .increment(1);
            return;
        }
        // Re-checked at least twice a second: bytes that arrive move the deadlines.
        // (The drain's end only while ahead: once passed, a request still in progress is
        // waited for like any other, not polled for in a loop of zero waits.)
        let wait = deadline
            .into_iter()
            .chain(drain_until.filter(|u| *u > now))
            .min()
            .map(|d| Duration::from_millis(d.saturating_sub(now)))
            .unwrap_or(Duration::MAX)
            .min(Duration::from_millis(500));
        tokio::select! {
            r = served.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!("connection: {e}");
                }
                return;
            }
            _ = tokio::time::sleep(wait) => {}
            _ = conn.close.notified() => {
                if conn.in_flight.load(Ordering::SeqCst) == 0 {
                    tracing::debug!("closing an idle connection for a new client");
                    metrics::counter!("hrsync_http_connections_closed_total", "reason" => "evicted")
                        .increment(1);
                    return;
                }
                // A request arrived meanwhile: it stays, and may be chosen again later.
                conn.evicted.store(false, Ordering::SeqCst);
            }
            _ = stop.wait_for(|s| *s), if drain_until.is_none() => {
                // Not hyper's graceful shutdown: it closes a connection with no request in
                // progress at once, dropping a request already on its way (a client that just
                // connected, or reused a kept-alive connection in that instant). Requests that
                // arrive within DRAIN_GRACE are answered with `Connection: close`; a request in
                // progress finishes so; after the grace, a connection with none is closed.
                conn.draining.store(true, Ordering::SeqCst);
                let grace = u64::try_from(DRAIN_GRACE.as_millis()).unwrap_or(1000);
                drain_until = Some(shared.now_ms().saturating_add(grace));
            }
        }
    }
}

fn request_timed_out() -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        axum::http::StatusCode::REQUEST_TIMEOUT,
        [(axum::http::header::CONNECTION, "close")],
        axum::Json(serde_json::json!({
            "error": "the request was not received in time (serve.header_timeout_secs)"
        })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::path::Path;

    /// A CA and a server certificate for localhost/127.0.0.1 signed by it, in `dir`
    /// (scripts/make-tls.sh: openssl).
    fn make_tls(dir: &Path) -> TlsFiles {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/make-tls.sh");
        let ok = std::process::Command::new(script)
            .args([
                dir.to_str().unwrap(),
                "localhost",
                "DNS:localhost,IP:127.0.0.1",
            ])
            .status()
            .unwrap()
            .success();
        assert!(ok, "make-tls.sh");
        TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }

    fn client(ca: &Path) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
        reqwest::Client::builder()
            .tls_certs_only([ca])
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }

    type Served = tokio::task::JoinHandle<std::io::Result<tokio::net::TcpListener>>;

    /// Serves `app` with `tls` on a new loopback port (5 s timeouts, 16 connections): the
    /// port, the stop switch, and the server's task (it ends with the listener).
    async fn spawn(
        app: axum::Router,
        tls: Option<TlsAcceptor>,
    ) -> (std::net::SocketAddr, watch::Sender<bool>, Served) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, rx) = watch::channel(false);
        let limits = Limits {
            header_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(5),
            max_connections: 16,
        };
        (
            addr,
            stop,
            tokio::spawn(serve(listener, app, limits, tls, rx)),
        )
    }

    /// Serves `/healthz` with `tls` on a new loopback port; the port and the stop switch.
    async fn start(tls: Option<TlsAcceptor>) -> (std::net::SocketAddr, watch::Sender<bool>) {
        let app = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
        let (addr, stop, _) = spawn(app, tls).await;
        (addr, stop)
    }

    #[tokio::test]
    async fn https_with_the_configured_certificate_and_no_plain_http_on_its_port() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let files = make_tls(&a);
        let (addr, stop) = start(Some(load_tls(&files).unwrap())).await;
        let r = client(&a.join("ca.pem"))
            .get(format!("https://localhost:{}/healthz", addr.port()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "ok");
        let plain = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{}/healthz", addr.port()))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        assert!(plain.is_err(), "plain HTTP to the TLS port: {plain:?}");
        // Renewed files (another CA here) are read by the next start, as after a SIGHUP.
        let renewed = make_tls(&b);
        std::fs::copy(&renewed.cert, &files.cert).unwrap();
        std::fs::copy(&renewed.key, &files.key).unwrap();
        let (addr2, stop2) = start(Some(load_tls(&files).unwrap())).await;
        let url = format!("https://localhost:{}/healthz", addr2.port());
        let r = client(&b.join("ca.pem")).get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(client(&a.join("ca.pem")).get(&url).send().await.is_err());
        let _ = (stop.send(true), stop2.send(true));
    }

    #[test]
    fn plain_http_only_on_loopback() {
        let text = r#"
[[integration]]
name = "hr"
kind = "icehrm"
base_url = "http://127.0.0.1:1/app/api"
token = { env = "T" }
[[mapping]]
name = "m"
integration = "hr"
primary_key = "employee_id"
attributes = { uid = "{employee_id}" }
[directory]
url = "ldap://127.0.0.1:1"
bind_dn = "cn=admin,dc=example,dc=com"
bind_password = { env = "P" }
base_dn = "dc=example,dc=com"
users_ou = "ou=people,dc=example,dc=com"
"#;
        let cfg = Config::parse(Path::new("/x/h.toml"), text.into()).unwrap();
        assert_eq!(scheme(&cfg), "http");
        assert!(
            tls_acceptor(&cfg, "127.0.0.1:8750".parse().unwrap())
                .unwrap()
                .is_none()
        );
        assert!(tls_acceptor(&cfg, "[::1]:1".parse().unwrap()).is_ok());
        // `hrsync serve --listen` is not in the file: the bound address is checked too.
        let e = tls_acceptor(&cfg, "0.0.0.0:8750".parse().unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("[server.tls]"), "{e}");
        let cfg = Config::parse(
            Path::new("/x/h.toml"),
            format!("{text}[server.tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n"),
        )
        .unwrap();
        assert_eq!(scheme(&cfg), "https");
        let e = tls_acceptor(&cfg, "0.0.0.0:8750".parse().unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(e.starts_with("[server.tls] cert = /x/c.pem: "), "{e}");
    }

    #[test]
    fn unreadable_or_wrong_files_name_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles {
            cert: dir.path().join("missing.pem"),
            key: dir.path().join("key.pem"),
        };
        let e = load_tls(&files).err().unwrap().to_string();
        assert!(e.starts_with("[server.tls] cert = "), "{e}");
        std::fs::write(&files.cert, "not a certificate").unwrap();
        let e = load_tls(&files).err().unwrap().to_string();
        assert!(e.contains("no CERTIFICATE block"), "{e}");
        let good = make_tls(&dir.path().join("t"));
        let files = TlsFiles {
            cert: good.cert.clone(),
            key: good.cert,
        };
        let e = load_tls(&files).err().unwrap().to_string();
        assert!(e.starts_with("[server.tls] key = "), "{e}");
    }

    #[test]
    fn the_cap_fits_the_open_files_limit() {
        let l = Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
        };
        assert_eq!(l.fit_to(Some(1024)), l);
        assert_eq!(l.fit_to(None), l);
        assert_eq!(l.fit_to(Some(256)).max_connections, 192);
        assert_eq!(l.fit_to(Some(10)).max_connections, 16);
    }

    /// What one HTTP/1 exchange on `s` answers: `GET /healthz` written, the response read
    /// until its body (`ok`) or the end of the stream.
    async fn exchange(s: &mut TcpStream) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let _ = s
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .await;
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !got.ends_with(b"\r\n\r\nok") {
            match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        String::from_utf8_lossy(&got).to_lowercase()
    }

    /// A reload stops the listener while a client has just connected, or between two requests
    /// on a kept-alive connection: the request sent in that instant is answered, with
    /// `connection: close`, instead of being dropped with the connection (hyper closes an HTTP/1
    /// connection with no request in progress at once on graceful shutdown; a request of the
    /// API test failed so in CI right after a configuration restore reloaded the daemon).
    #[tokio::test]
    async fn a_request_sent_as_the_daemon_reloads_is_answered() {
        let app = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
        let (addr, stop, server) = spawn(app, None).await;
        let mut fresh = TcpStream::connect(addr).await.unwrap();
        let mut kept = TcpStream::connect(addr).await.unwrap();
        let first = exchange(&mut kept).await;
        assert!(first.starts_with("http/1.1 200"), "{first}");
        assert!(!first.contains("connection: close"), "{first}");
        // Both connections accepted and idle; then the reload's stop reaches them.
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.send(true).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        for (name, s) in [("fresh", &mut fresh), ("kept-alive", &mut kept)] {
            let r = exchange(s).await;
            assert!(r.starts_with("http/1.1 200"), "{name}: {r:?}");
            assert!(r.contains("connection: close"), "{name}: {r}");
        }
        // The listener comes back for the next service once both are closed.
        let back = tokio::time::timeout(Duration::from_secs(10), server).await;
        assert!(matches!(back, Ok(Ok(Ok(_)))), "{back:?}");
    }

    /// CPU time this thread has used (Linux: utime + stime of /proc/thread-self/stat).
    fn thread_cpu() -> Duration {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // The fields after the command name (which is in parentheses and may hold spaces).
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        // utime and stime are fields 14 and 15 of the whole line: 12 and 13 of `rest`.
        Duration::from_millis((f[11] + f[12]) * 10)
    }

    /// A request still in progress when the drain's grace has run out finishes normally, and
    /// the connection waits for it without spinning (the loop's wait once fell to zero then:
    /// a busy loop for as long as the request ran, e.g. a run's event stream).
    #[tokio::test]
    async fn a_long_request_outlives_the_drain_without_spinning() {
        let app = axum::Router::new().route(
            "/healthz",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_millis(2500)).await;
                "ok"
            }),
        );
        // This test's runtime has one thread: the server's tasks run on it, so its CPU time
        // is theirs. (The 2.5 s request is within the 5 s a request may take.)
        let (addr, stop, server) = spawn(app, None).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        let client = tokio::spawn(async move { exchange(&mut s).await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let before = thread_cpu();
        stop.send(true).unwrap();
        let r = client.await.unwrap();
        let used = thread_cpu() - before;
        assert!(r.starts_with("http/1.1 200"), "{r:?}");
        assert!(r.ends_with("ok"), "{r:?}");
        // Before the fix: 80-110 ms here (the loop woke every millisecond); after: 0.
        assert!(
            used < Duration::from_millis(40),
            "{used:?} of CPU while waiting 2.3 s for one request"
        );
        let back = tokio::time::timeout(Duration::from_secs(10), server).await;
        assert!(matches!(back, Ok(Ok(Ok(_)))), "{back:?}");
    }

    #[test]
    fn warnings_are_rate_limited() {
        let r = RateLimited::default();
        assert_eq!(r.hit(), Some(1));
        for _ in 0..100 {
            assert_eq!(r.hit(), None);
        }
        *r.last.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Instant::now() - WARN_EVERY - Duration::from_secs(1));
        assert_eq!(r.hit(), Some(101), "the message counts what it skipped");
    }
}
