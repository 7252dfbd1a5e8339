//! `hrsync oauth authorize`: the one-time authorization that gives hrsync its first refresh
//! token (authorization-code grant with PKCE). Prints the authorize URL, takes the code back
//! (a one-shot loopback listener when the redirect URI is `http://127.0.0.1:PORT/…`, else the
//! pasted code or redirect address), exchanges it and writes the token store (0600).

use crate::Common;
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use hrsync_config::Config;
use hrsync_model::Secret;
use hrsync_source::oauth::authorize::{self, AuthorizeRequest, PAYCOR_AUTHORIZE_URL, Pkce};
use std::io::Write;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Subcommand)]
pub(crate) enum OAuthCmd {
    /// Authorizes hrsync with an OAuth integration once (Paycor: an admin approves the app):
    /// prints the authorize URL, takes the code back (a loopback redirect URI is answered by
    /// hrsync itself; otherwise paste the code or the address the browser was sent to),
    /// exchanges it and writes the token store (mode 0600). Prints no client secret and no token
    /// (the URL carries the subscription key, which Paycor's authorize page requires).
    Authorize {
        #[command(flatten)]
        common: Common,
        /// Name of the [[integration]] (it needs oauth = { … } with redirect_uri, and for
        /// Paycor scope = the app's Scope Identifier).
        integration: String,
        /// How long to wait for the redirect or the pasted code, in seconds.
        #[arg(long, default_value_t = 300, value_name = "SECS")]
        timeout: u64,
    },
}

pub(crate) async fn oauth(cmd: OAuthCmd) -> Result<i32> {
    match cmd {
        OAuthCmd::Authorize {
            common,
            integration,
            timeout,
        } => authorize_cmd(&common, &integration, Duration::from_secs(timeout.max(1))).await,
    }
}

/// The most connections the loopback listener answers before giving up (stray requests such
/// as `/favicon.ico` are answered 404 and waited past).
const MAX_CONNECTIONS: usize = 20;

/// The longest request head the loopback listener reads.
const MAX_REQUEST: usize = 16 * 1024;

async fn authorize_cmd(common: &Common, name: &str, timeout: Duration) -> Result<i32> {
    let cfg = Config::load(&common.config)?;
    let Some((ii, it)) = cfg
        .raw
        .integrations
        .iter()
        .enumerate()
        .find(|(_, it)| it.name == name)
    else {
        bail!(
            "no [[integration]] named {name:?} in {}",
            common.config.display()
        );
    };
    let key = format!("integration[{ii}].oauth");
    let Some(o) = &it.oauth else {
        bail!(
            "{}: {key}: integration {name:?} has no oauth = {{ … }}; see the README (\"Sources: Paycor\")",
            common.config.display()
        );
    };
    let paycor = it.kind == "paycor";
    let redirect_uri = o.redirect_uri.clone().with_context(|| {
        format!(
            "{}: {key}.redirect_uri: set the redirect URI registered with the app, e.g. \
             \"http://127.0.0.1:8765/callback\" (answered by hrsync itself)",
            common.config.display()
        )
    })?;
    let authorize_url = match (&o.authorize_url, paycor) {
        (Some(u), _) => u.clone(),
        (None, true) => PAYCOR_AUTHORIZE_URL.to_string(),
        (None, false) => bail!(
            "{}: {key}.authorize_url: set the authorization server's authorize page",
            common.config.display()
        ),
    };
    let scope = match (&o.scope, paycor) {
        (Some(s), _) => s.clone(),
        (None, true) => bail!(
            "{}: {key}.scope: set the app's Scope (Version) Identifier (Paycor developer portal → \
             the application → Data Access, shown after saving)",
            common.config.display()
        ),
        (None, false) => String::new(),
    };
    let settings = cfg
        .oauth_settings(ii, it)?
        .context("the integration has no oauth settings")?;
    let store = settings.store.clone();
    let subscription_key = settings
        .query_secrets
        .iter()
        .find(|(k, _)| k == "subscription-key")
        .map(|(_, v)| v.expose().to_string());
    let provider = settings.into_provider();

    let pkce = Pkce::new().map_err(anyhow::Error::msg)?;
    let extra: Vec<(&str, &str)> = subscription_key
        .as_deref()
        .map(|k| ("subscription-key", k))
        .into_iter()
        .collect();
    let url = authorize::authorize_url(&AuthorizeRequest {
        authorize_url: &authorize_url,
        client_id: &o.client_id,
        redirect_uri: &redirect_uri,
        scope: &scope,
        extra: &extra,
        pkce: &pkce,
    })
    .map_err(|e| anyhow::anyhow!("{}: {key}.authorize_url: {e}", common.config.display()))?;

    let loopback = loopback_port(&redirect_uri);
    // Bind before printing the URL: the browser may come back at once.
    let listener = match loopback {
        Some((port, _)) => Some(
            tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .with_context(|| {
                    format!("cannot listen on 127.0.0.1:{port} for the redirect {redirect_uri}")
                })?,
        ),
        None => None,
    };
    let mut out = std::io::stdout();
    writeln!(
        out,
        "Open this address in a browser, sign in as an administrator of the HR system and approve hrsync:\n"
    )?;
    writeln!(out, "{url}\n")?;
    let code = match (listener, loopback) {
        (Some(l), Some((_, path))) => {
            writeln!(
                out,
                "Waiting up to {} s for the browser to come back to {redirect_uri} …",
                timeout.as_secs()
            )?;
            out.flush()?;
            catch_redirect(l, &path, &pkce.state, timeout).await?
        }
        _ => {
            writeln!(
                out,
                "Then paste the code, or the whole address the browser was sent to, and press Enter (within {} s):",
                timeout.as_secs()
            )?;
            out.flush()?;
            let line = read_line(timeout).await?;
            authorize::code_from_pasted(&line, &pkce.state).map_err(anyhow::Error::msg)?
        }
    };
    provider
        .authorize_with_code(&code, &pkce.verifier, &redirect_uri)
        .await?;
    writeln!(
        out,
        "Authorized: the tokens are in {} (mode 0600). hrsync refreshes them from now on; the \
         configured refresh_token (if any) is no longer used.",
        store.display()
    )?;
    Ok(0)
}

/// `(port, path)` when the redirect URI is `http://127.0.0.1:PORT/…` (or `localhost`): hrsync
/// answers it itself, listening on 127.0.0.1 only.
fn loopback_port(redirect_uri: &str) -> Option<(u16, String)> {
    let u = reqwest::Url::parse(redirect_uri).ok()?;
    if u.scheme() != "http" {
        return None;
    }
    let host = u.host_str()?;
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback());
    let port = u.port()?;
    loopback.then(|| (port, u.path().to_string()))
}

/// Reads one line from stdin, within `timeout`.
async fn read_line(timeout: Duration) -> Result<String> {
    let read = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    });
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(Ok(line))) => Ok(line),
        Ok(Ok(Err(e))) => bail!("cannot read the code from standard input: {e}"),
        Ok(Err(_)) => bail!("reading the code failed"),
        Err(_) => bail!(
            "no code was pasted within {} s; run the command again (codes expire after 10 minutes)",
            timeout.as_secs()
        ),
    }
}

/// Answers the browser's redirect once: the first request to `path` with the right `state`
/// gives the code. Bounded by `timeout` and [`MAX_CONNECTIONS`].
async fn catch_redirect(
    listener: tokio::net::TcpListener,
    path: &str,
    state: &str,
    timeout: Duration,
) -> Result<Secret> {
    let deadline = Instant::now() + timeout;
    let mut last_error = None;
    for _ in 0..MAX_CONNECTIONS {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(accepted) = tokio::time::timeout(left, listener.accept()).await else {
            break;
        };
        let Ok((mut sock, _)) = accepted else {
            continue;
        };
        let per_request = left.min(Duration::from_secs(10));
        let Ok(Some(target)) = tokio::time::timeout(per_request, request_target(&mut sock)).await
        else {
            let _ = respond(&mut sock, 400, "Bad request.").await;
            continue;
        };
        let (req_path, query) = target.split_once('?').unwrap_or((&target, ""));
        if req_path != path {
            let _ = respond(&mut sock, 404, "Not found.").await;
            continue;
        }
        match authorize::code_from_query(query, state) {
            Ok(code) => {
                let _ = respond(
                    &mut sock,
                    200,
                    "hrsync is authorized. You can close this window.",
                )
                .await;
                return Ok(code);
            }
            Err(why) => {
                let _ = respond(&mut sock, 400, &format!("hrsync: {why}")).await;
                // A declined authorization ends the wait; a stray or stale redirect does not.
                if why.contains("not granted") {
                    bail!("{why}");
                }
                last_error = Some(why);
            }
        }
    }
    match last_error {
        Some(why) => bail!("no usable redirect arrived: {why}"),
        None => bail!(
            "the browser did not come back within {} s; run the command again",
            timeout.as_secs()
        ),
    }
}

/// The request target (`/callback?code=…`) of a GET, from at most [`MAX_REQUEST`] bytes.
async fn request_target(sock: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut chunk = [0_u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_REQUEST {
            return None;
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let mut parts = text.lines().next()?.split_whitespace();
    (parts.next()? == "GET").then_some(())?;
    parts.next().map(str::to_string)
}

async fn respond(sock: &mut tokio::net::TcpStream, status: u16, text: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>hrsync</title></head><body><p>{escaped}</p></body></html>"
    );
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n",
        body.len()
    );
    sock.write_all(head.as_bytes()).await?;
    sock.write_all(body.as_bytes()).await?;
    sock.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_are_recognised() {
        assert_eq!(
            loopback_port("http://127.0.0.1:8765/callback"),
            Some((8765, "/callback".to_string()))
        );
        assert_eq!(
            loopback_port("http://localhost:9000/cb"),
            Some((9000, "/cb".to_string()))
        );
        assert_eq!(loopback_port("https://127.0.0.1:8765/callback"), None);
        assert_eq!(loopback_port("http://example.com:8765/callback"), None);
        assert_eq!(loopback_port("http://127.0.0.1/callback"), None, "no port");
    }
}
