//! `hrsync-emulator`: serve an emulated HR system REST API.
//!
//! ```text
//! export ICEHRM_TOKEN=$(hrsync-emulator icehrm-token --secret demo --days 180)
//! hrsync-emulator icehrm --port 8089 --employees 1000 --seed 7 --token-env ICEHRM_TOKEN
//!
//! export PAYCOR_KEY=0123456789abcdef0123456789abcdef
//! export PAYCOR_CLIENT_SECRET=demo-secret PAYCOR_REFRESH_TOKEN=demo-refresh
//! hrsync-emulator paycor --port 8090 --employees 1000 --seed 7 --legal-entity-id 501123 \
//!     --key-env PAYCOR_KEY --client-secret-env PAYCOR_CLIENT_SECRET \
//!     --refresh-token-env PAYCOR_REFRESH_TOKEN
//!
//! export ACME_TOKEN=demo-token
//! hrsync-emulator rest --port 8091 --employees 500 --seed 7 --style cursor --token-env ACME_TOKEN
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{ArgGroup, Args, Parser, Subcommand};
use hrsync_emulator::icehrm::{self, IceHrmConfig, IceHrmState};
use hrsync_emulator::paycor::{self, PaycorConfig, PaycorState};
use hrsync_emulator::rest::{self, RateLimit, RestConfig, RestState, Style};

#[derive(Debug, Parser)]
#[command(
    name = "hrsync-emulator",
    version,
    about = "Serve an emulated HR system REST API for testing hrsync"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Emulate the IceHrm v35 (open source) REST API.
    Icehrm(IceHrmArgs),
    /// Print a realistic IceHrm "Api Access" token (a JWT) for demos and tests.
    IcehrmToken(IceHrmTokenArgs),
    /// Emulate the Paycor Public API (v1) for one tenant / legal entity.
    Paycor(PaycorArgs),
    /// Serve "Acme HR", a generic REST HR API (one pagination style per run).
    Rest(RestArgs),
}

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("token_source")
        .required(true)
        .args(["token_env", "token_file"])
))]
#[command(group(ArgGroup::new("api_key_source").args(["api_key_env", "api_key_file"])))]
struct RestArgs {
    /// TCP port to listen on (0 = any free port; the log line shows which).
    #[arg(long)]
    port: u16,
    /// Address to bind (loopback by default).
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// Number of generated employees.
    #[arg(long)]
    employees: usize,
    /// Seed of the deterministic data generator.
    #[arg(long)]
    seed: u64,
    /// Pagination style of the list endpoints: page, offset, cursor, next_url or link.
    #[arg(long, value_parser = parse_style)]
    style: Style,
    /// Default page size (clients may ask for up to 100).
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..=100))]
    page_size: u32,
    /// The company path segment served (/api/v2/companies/{company}/...).
    #[arg(long, default_value = "acme")]
    company: String,
    /// Read the accepted bearer token from this environment variable.
    #[arg(long, value_name = "VAR")]
    token_env: Option<String>,
    /// Read the accepted bearer token from this file.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Require this X-API-Key, read from this environment variable.
    #[arg(long, value_name = "VAR")]
    api_key_env: Option<String>,
    /// Require this X-API-Key, read from this file.
    #[arg(long, value_name = "FILE")]
    api_key_file: Option<PathBuf>,
    /// At most this many requests per window (all routes), then 429.
    #[arg(long, value_name = "MAX", value_parser = clap::value_parser!(u32).range(1..))]
    rate_limit: Option<u32>,
    /// The rate-limit window in seconds.
    #[arg(long, default_value_t = 1, requires = "rate_limit", value_parser = clap::value_parser!(u64).range(1..))]
    rate_window_secs: u64,
    /// Retry-After of a 429, in seconds.
    #[arg(long, default_value_t = 1, requires = "rate_limit")]
    retry_after_secs: u64,
}

fn parse_style(s: &str) -> Result<Style, String> {
    s.parse()
}

async fn run_rest(args: RestArgs) -> anyhow::Result<()> {
    let token = read_secret(
        args.token_env.as_deref(),
        args.token_file.as_deref(),
        "bearer token",
    )?
    .context("the bearer token is required")?;
    let api_key = read_secret(
        args.api_key_env.as_deref(),
        args.api_key_file.as_deref(),
        "API key",
    )?;
    let rate_limit = args.rate_limit.map(|max| RateLimit {
        max,
        window: std::time::Duration::from_secs(args.rate_window_secs),
        retry_after_secs: args.retry_after_secs,
    });
    let cfg = RestConfig {
        company: args.company.clone(),
        token,
        api_key,
        style: args.style,
        page_size: args.page_size as usize,
        employees: args.employees,
        seed: args.seed,
        rate_limit,
    };
    let has_key = cfg.api_key.is_some();
    let state = RestState::generate(cfg);
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.bind, args.port))
        .await
        .with_context(|| format!("cannot bind {}:{}", args.bind, args.port))?;
    let addr = listener.local_addr()?;
    let limit = match rate_limit {
        Some(r) => format!("{}/{}s", r.max, args.rate_window_secs),
        None => "none".to_owned(),
    };
    tracing::info!(
        "Acme HR REST emulator listening on http://{addr}/api/v2 (company {}, style {}, {} employees, seed {}, page size {}, API key {}, rate limit {limit})",
        args.company,
        args.style,
        args.employees,
        args.seed,
        args.page_size,
        if has_key { "required" } else { "not required" },
    );
    axum::serve(listener, rest::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server error")?;
    Ok(())
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("token_source").args(["token_env", "token_file"])))]
#[command(group(
    ArgGroup::new("key_source")
        .required(true)
        .args(["key_env", "key_file"])
))]
#[command(group(ArgGroup::new("secret_source").args(["client_secret_env", "client_secret_file"])))]
#[command(group(ArgGroup::new("refresh_source").args(["refresh_token_env", "refresh_token_file"])))]
struct PaycorArgs {
    /// TCP port to listen on (0 = any free port; the log line shows which).
    #[arg(long)]
    port: u16,
    /// Address to bind (loopback by default).
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// Number of generated employees.
    #[arg(long)]
    employees: usize,
    /// Seed of the deterministic data generator.
    #[arg(long)]
    seed: u64,
    /// The legal entity (client) id served (an int32).
    #[arg(long, default_value_t = 501_123, value_parser = clap::value_parser!(i64).range(1..=i64::from(i32::MAX)))]
    legal_entity_id: i64,
    /// The tenant (company) id served (an int32).
    #[arg(long, default_value_t = 678_556, value_parser = clap::value_parser!(i64).range(1..=i64::from(i32::MAX)))]
    tenant_id: i64,
    /// Read the accepted static bearer token (a pasted access token) from this environment
    /// variable. Without a static token, only tokens from the token endpoint are accepted.
    #[arg(long, value_name = "VAR")]
    token_env: Option<String>,
    /// Read the accepted static bearer token from this file.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Seconds the static token is accepted after the emulator starts (live Paycor access
    /// tokens: 1800).
    #[arg(long, default_value_t = 1800, value_name = "SECS")]
    static_token_ttl_secs: u64,
    /// Read the accepted APIM subscription key from this environment variable.
    #[arg(long, value_name = "VAR")]
    key_env: Option<String>,
    /// Read the accepted APIM subscription key from this file.
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// Calls per subscription key per minute before 429 (0 = unlimited).
    #[arg(long, default_value_t = 1000)]
    rate_limit_per_minute: u32,
    /// Records per page of the legal entity's employee list.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    employees_page_size: u32,
    /// OAuth client id accepted by the token endpoint (/sts/v1/common/token).
    #[arg(long, default_value = "hrsync-emulator-client")]
    client_id: String,
    /// Read the OAuth client secret from this environment variable (enables the token endpoint).
    #[arg(long, value_name = "VAR")]
    client_secret_env: Option<String>,
    /// Read the OAuth client secret from this file (enables the token endpoint).
    #[arg(long, value_name = "FILE")]
    client_secret_file: Option<PathBuf>,
    /// Read an initial refresh token (usable once, then it rotates) from this environment variable.
    #[arg(long, value_name = "VAR")]
    refresh_token_env: Option<String>,
    /// Read an initial refresh token from this file.
    #[arg(long, value_name = "FILE")]
    refresh_token_file: Option<PathBuf>,
    /// Base path of the API (the real one is at the root).
    #[arg(long, default_value = "/")]
    base_path: String,
}

/// A secret from an environment variable or a file (trimmed, non-empty).
fn read_secret(
    env: Option<&str>,
    file: Option<&std::path::Path>,
    what: &str,
) -> anyhow::Result<Option<String>> {
    let value = if let Some(var) = env {
        std::env::var(var)
            .with_context(|| format!("environment variable {var} ({what}) is not set"))?
    } else if let Some(path) = file {
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the {what} file {}", path.display()))?
    } else {
        return Ok(None);
    };
    let value = value.trim().to_owned();
    if value.is_empty() {
        bail!("the {what} is empty");
    }
    Ok(Some(value))
}

async fn run_paycor(args: PaycorArgs) -> anyhow::Result<()> {
    let required =
        |v: Option<String>, what: &str| v.with_context(|| format!("the {what} is required"));
    // Without a static token, an unguessable one nobody is told: only the STS's tokens work.
    let token = read_secret(
        args.token_env.as_deref(),
        args.token_file.as_deref(),
        "access token",
    )?
    .unwrap_or_else(|| format!("unset-{:032x}", fastrand::u128(..)));
    let key = required(
        read_secret(
            args.key_env.as_deref(),
            args.key_file.as_deref(),
            "subscription key",
        )?,
        "subscription key",
    )?;
    let client_secret = read_secret(
        args.client_secret_env.as_deref(),
        args.client_secret_file.as_deref(),
        "client secret",
    )?;
    let refresh_token = read_secret(
        args.refresh_token_env.as_deref(),
        args.refresh_token_file.as_deref(),
        "refresh token",
    )?;
    let sts_enabled = client_secret.is_some();
    let cfg = PaycorConfig {
        employees: args.employees,
        seed: args.seed,
        legal_entity_id: args.legal_entity_id,
        tenant_id: args.tenant_id,
        access_token: token,
        static_token_ttl: std::time::Duration::from_secs(args.static_token_ttl_secs),
        subscription_key: key,
        rate_limit_per_minute: args.rate_limit_per_minute,
        employees_page_size: args.employees_page_size as usize,
        client_id: args.client_id.clone(),
        client_secret,
        refresh_token,
        ..PaycorConfig::default()
    };
    let state = PaycorState::generate(&cfg);
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.bind, args.port))
        .await
        .with_context(|| format!("cannot bind {}:{}", args.bind, args.port))?;
    let addr = listener.local_addr()?;
    let base = args.base_path.trim().trim_matches('/');
    let base = if base.is_empty() {
        String::new()
    } else {
        format!("/{base}")
    };
    tracing::info!(
        "Paycor Public API emulator listening on http://{addr}{base} ({} employees, seed {}, legal entity {}, tenant {}, rate limit {}/min, token endpoint {})",
        args.employees,
        args.seed,
        args.legal_entity_id,
        args.tenant_id,
        args.rate_limit_per_minute,
        if sts_enabled { "enabled" } else { "disabled" },
    );
    axum::serve(listener, paycor::router(state, &args.base_path))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server error")?;
    Ok(())
}

#[derive(Debug, Args)]
struct IceHrmTokenArgs {
    /// Secret seed of the token's inner hash: tokens minted from the same
    /// secret are interchangeable, others are "invalid" for the emulator.
    #[arg(long, default_value = "hrsync-demo")]
    secret: String,
    /// Days until the token's `expire` (negative: already expired). IceHrm mints 180.
    #[arg(long, default_value_t = 180, allow_hyphen_values = true)]
    days: i64,
}

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("token_source")
        .required(true)
        .args(["token", "token_env", "token_file"])
))]
struct IceHrmArgs {
    /// TCP port to listen on (0 = any free port; the log line shows which).
    #[arg(long)]
    port: u16,
    /// Address to bind (loopback by default).
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// Number of generated employees.
    #[arg(long)]
    employees: usize,
    /// Seed of the deterministic data generator.
    #[arg(long)]
    seed: u64,
    /// The accepted "Api Access" token (visible in the process list: prefer --token-env/--token-file).
    #[arg(long)]
    token: Option<String>,
    /// Read the accepted token from this environment variable.
    #[arg(long, value_name = "VAR")]
    token_env: Option<String>,
    /// Read the accepted token from this file (surrounding whitespace is ignored).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Base path of the API.
    #[arg(long, default_value = "/app/api")]
    base_path: String,
}

impl IceHrmArgs {
    fn token(&self) -> anyhow::Result<String> {
        let token = if let Some(t) = &self.token {
            t.clone()
        } else if let Some(var) = &self.token_env {
            std::env::var(var).with_context(|| format!("environment variable {var} is not set"))?
        } else if let Some(path) = &self.token_file {
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read token file {}", path.display()))?
        } else {
            bail!("one of --token, --token-env, --token-file is required");
        };
        let token = token.trim().to_owned();
        if token.is_empty() {
            bail!("the token is empty");
        }
        Ok(token)
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

async fn run_icehrm(args: IceHrmArgs) -> anyhow::Result<()> {
    let token = args.token()?;
    if !icehrm::is_jwt_shaped(&token) {
        tracing::warn!(
            "the configured token is not an HS256 JWT: like a real IceHrm v35, every authenticated call will answer HTTP 500"
        );
    }
    let cfg = IceHrmConfig {
        employees: args.employees,
        seed: args.seed,
        token,
        base_path: args.base_path.clone(),
    };
    let state = IceHrmState::generate(&cfg);
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.bind, args.port))
        .await
        .with_context(|| format!("cannot bind {}:{}", args.bind, args.port))?;
    let addr = listener.local_addr()?;
    let base = cfg.base_path.trim().trim_matches('/');
    let base = if base.is_empty() {
        String::new()
    } else {
        format!("/{base}")
    };
    tracing::info!(
        "IceHrm v35 emulator listening on http://{addr}{base} ({} employees, seed {})",
        args.employees,
        args.seed
    );
    axum::serve(listener, icehrm::router(state, &cfg.base_path))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server error")?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Icehrm(args) => run_icehrm(args).await,
        Command::Paycor(args) => run_paycor(args).await,
        Command::Rest(args) => run_rest(args).await,
        Command::IcehrmToken(args) => {
            let expire = chrono::Utc::now().timestamp() + args.days.saturating_mul(86_400);
            println!("{}", icehrm::make_token(&args.secret, expire));
            Ok(())
        }
    }
}
