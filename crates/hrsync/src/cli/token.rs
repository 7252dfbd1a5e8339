//! `hrsync token create|list|revoke|hash-password`: API tokens for automation, kept in the
//! configuration's state database (only a hash of each), and the break-glass password hash.

use crate::Common;
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::Subcommand;
use hrsync_auth::Role;
use hrsync_auth::tokens::{self, TokenInfo};
use hrsync_config::Config;
use hrsync_model::Secret;
use hrsync_state::Store;
use std::io::{BufRead, IsTerminal, Write};

#[derive(Subcommand)]
pub(crate) enum TokenCmd {
    /// Make an API token (`Authorization: Bearer hrs_…`) and print it, once: only its hash
    /// is kept.
    Create {
        #[command(flatten)]
        common: Common,
        /// The token's name (a letter, then letters, digits, '.', '_', '-'): unique among
        /// live tokens, shown in the audit as token:NAME.
        #[arg(long)]
        name: String,
        /// What it may do: viewer (read), operator (plan, apply, approve, review, replay, run
        /// now) or admin (everything, including the configuration and tokens).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// The token stops working this many days from now (default: never).
        #[arg(long, value_name = "D", value_parser = clap::value_parser!(u32).range(1..=36_600))]
        expires_in_days: Option<u32>,
    },
    /// Every token: name, role, created (when, by whom), expiry, last use, revocation. Never
    /// the token itself.
    List {
        #[command(flatten)]
        common: Common,
        /// Print the tokens as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a live token (by name, or by id): it stops working at once.
    Revoke {
        #[command(flatten)]
        common: Common,
        /// The token's name or id.
        name: String,
    },
    /// Read a password (from the terminal without echo, asked twice; or the first line of
    /// stdin) and print its argon2id hash for [server.auth] break_glass.password_hash.
    HashPassword,
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse::<Role>().map_err(|e| e.to_string())
}

pub(crate) fn token(cmd: TokenCmd) -> Result<i32> {
    match cmd {
        TokenCmd::Create {
            common,
            name,
            role,
            expires_in_days,
        } => {
            let mut store = open(&common)?;
            let now = Utc::now();
            let expires = expires_in_days.map(|d| now + chrono::Duration::days(i64::from(d)));
            let by = hrsync_state::operator_name();
            let new = tokens::create(&mut store, &name, role, expires, &by, now)?;
            eprintln!(
                "API token {} ({}), {}:",
                new.info.name,
                new.info.role,
                match new.info.expires_at {
                    Some(e) => format!("expires {}", time(Some(e))),
                    None => "does not expire".into(),
                }
            );
            println!("{}", new.secret);
            eprintln!(
                "It cannot be shown again (only its hash is kept): store it now. Send it as `Authorization: Bearer <token>`."
            );
            Ok(0)
        }
        TokenCmd::List { common, json } => {
            let store = open(&common)?;
            let all = tokens::list(&store)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                print!("{}", render(&all, Utc::now()));
            }
            Ok(0)
        }
        TokenCmd::Revoke { common, name } => {
            let store = open(&common)?;
            let by = hrsync_state::operator_name();
            let id = tokens::revoke(&store, &name, &by, Utc::now())?;
            println!("API token {name} (id {id}) revoked");
            Ok(0)
        }
        TokenCmd::HashPassword => {
            let password = read_password()?;
            println!("{}", hrsync_auth::break_glass::hash_password(&password)?);
            Ok(0)
        }
    }
}

fn open(common: &Common) -> Result<Store> {
    let cfg = Config::load(&common.config)?;
    Store::open(&cfg.state_path())
        .with_context(|| format!("state database {}", cfg.state_path().display()))
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "-".into())
}

/// The tokens as a table.
fn render(all: &[TokenInfo], now: DateTime<Utc>) -> String {
    if all.is_empty() {
        return "no API tokens (hrsync token create)\n".into();
    }
    let mut out = format!(
        "{:<4} {:<24} {:<8} {:<8} {:<20} {:<16} {:<20} {:<20} revoked\n",
        "id", "name", "role", "status", "created", "by", "expires", "last used"
    );
    for t in all {
        let status = format!("{:?}", t.status(now)).to_lowercase();
        let revoked = match (&t.revoked_at, &t.revoked_by) {
            (Some(at), Some(by)) => format!("{} by {by}", time(Some(*at))),
            (Some(at), None) => time(Some(*at)),
            _ => "-".into(),
        };
        out.push_str(&format!(
            "{:<4} {:<24} {:<8} {:<8} {:<20} {:<16} {:<20} {:<20} {revoked}\n",
            t.id,
            t.name,
            t.role,
            status,
            time(Some(t.created_at)),
            t.created_by,
            time(t.expires_at),
            time(t.last_used),
        ));
    }
    out
}

/// The password to hash: typed twice without echo on a terminal, else stdin's first line.
fn read_password() -> Result<Secret> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        let p = line.trim_end_matches(['\n', '\r']);
        if p.is_empty() {
            bail!("no password on stdin");
        }
        return Ok(Secret::new(p));
    }
    let first = prompt("Password: ")?;
    let second = prompt("Again: ")?;
    if first.expose() != second.expose() {
        bail!("the two passwords differ");
    }
    if first.expose().is_empty() {
        bail!("empty password");
    }
    Ok(first)
}

/// One line from the terminal with echo off (restored however the read ends).
fn prompt(label: &str) -> Result<Secret> {
    eprint!("{label}");
    std::io::stderr().flush()?;
    let fd = libc::STDIN_FILENO;
    // SAFETY: termios is plain data; tcgetattr fills it for a terminal (checked above).
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: fd 0 is a terminal; `saved` is a valid termios to fill.
    if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
        bail!(
            "cannot read the terminal's settings: {}",
            std::io::Error::last_os_error()
        );
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // SAFETY: as above, with a copy of the terminal's own settings.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    // SAFETY: restores what tcgetattr returned.
    unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    read?;
    Ok(Secret::new(line.trim_end_matches(['\n', '\r'])))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_table_shows_no_secret_and_says_revoked() {
        let mut store = Store::in_memory().unwrap();
        let t0 = DateTime::from_timestamp(1_750_000_000, 0).unwrap();
        let new = tokens::create(&mut store, "ci", Role::Operator, None, "alice", t0).unwrap();
        tokens::revoke(&store, "ci", "bob", t0).unwrap();
        let text = render(&tokens::list(&store).unwrap(), t0);
        assert!(text.contains("ci ") && text.contains("operator") && text.contains("alice"));
        assert!(
            text.contains("revoked") && text.contains("by bob"),
            "{text}"
        );
        assert!(!text.contains(&new.secret[4..]), "{text}");
        assert_eq!(parse_role("Admin").unwrap(), Role::Admin);
        assert!(parse_role("root").is_err());
    }
}
