//! Initial passwords for new Active Directory accounts.
//!
//! AD accounts are created disabled, get `unicodePwd` over LDAPS ([`unicode_pwd`]) and are then
//! enabled. The password must satisfy the domain's complexity policy, so [`generate`] produces
//! one that meets a [`PasswordPolicy`] (config: `[directory.passwords]`) and AD's name rule: it
//! must not contain the account name (when that is at least 3 characters long) nor any part of
//! the display name of at least 3 characters (split on `, . - _ #`, tab and space), compared
//! case-insensitively.
//!
//! Generation uses the operating system's CSPRNG (`getrandom`): every character is a uniform
//! choice made by rejection sampling (no modulo bias); one character of each required class is
//! placed first and the whole password is then shuffled (Fisher–Yates, same CSPRNG). A candidate
//! that breaks the name rule is discarded and a new one drawn, a bounded number of times.
//!
//! The password reaches the user only through a [`PasswordFile`]: one JSON line per new account
//! in a file readable by its owner only. It is never logged and never written to the audit; no
//! [`PasswordError`] ever contains it.

use chrono::{SecondsFormat, Utc};
use hrsync_model::Secret;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Characters easily confused with one another when read or typed.
const AMBIGUOUS: &[u8] = b"0Oo1lI";

/// Default symbol set: nothing that needs quoting in a shell, XML or JSON.
pub const DEFAULT_SYMBOLS: &str = "!#%+-.:=?@_~";

/// Candidates drawn before giving up on the name rule (a candidate breaks it with a probability
/// far below 1% for real names, so this is never reached in practice).
const MAX_ATTEMPTS: usize = 1000;

/// Separators AD splits the display name on before checking its parts.
const DISPLAY_NAME_DELIMITERS: &[char] = &[',', '.', '-', '_', '#', '\t', ' '];

/// Name parts shorter than this are ignored (as AD does).
const MIN_NAME_PART: usize = 3;

/// Complexity policy for generated passwords (config: `[directory.passwords]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordPolicy {
    /// Number of characters, 8..=128.
    #[serde(default = "default_length")]
    pub length: usize,
    /// How many of the classes upper, lower, digit, symbol must appear: 1..=4. Classes are
    /// guaranteed in that order (e.g. 3 = at least one upper, one lower and one digit); any
    /// position may still hold a character of any class.
    #[serde(default = "default_min_classes")]
    pub min_classes: usize,
    /// The symbols that may appear: distinct printable ASCII punctuation. May be empty (then
    /// `min_classes` is at most 3).
    #[serde(default = "default_symbols")]
    pub symbols: String,
    /// Leave out `0 O o 1 l I`.
    #[serde(default = "default_exclude_ambiguous")]
    pub exclude_ambiguous: bool,
}

fn default_length() -> usize {
    16
}
fn default_min_classes() -> usize {
    4
}
fn default_symbols() -> String {
    DEFAULT_SYMBOLS.to_string()
}
fn default_exclude_ambiguous() -> bool {
    true
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            length: default_length(),
            min_classes: default_min_classes(),
            symbols: default_symbols(),
            exclude_ambiguous: default_exclude_ambiguous(),
        }
    }
}

impl PasswordPolicy {
    /// Checks the policy; every message names the offending key.
    pub fn validate(&self) -> Result<(), String> {
        const SECTION: &str = "[directory.passwords]";
        if !(8..=128).contains(&self.length) {
            return Err(format!(
                "{SECTION} length = {}: must be between 8 and 128",
                self.length
            ));
        }
        if !(1..=4).contains(&self.min_classes) {
            return Err(format!(
                "{SECTION} min_classes = {}: must be between 1 and 4 (classes: upper, lower, digit, symbol)",
                self.min_classes
            ));
        }
        let mut seen = Vec::with_capacity(self.symbols.len());
        for c in self.symbols.chars() {
            if !c.is_ascii_punctuation() {
                return Err(format!(
                    "{SECTION} symbols: {c:?} is not allowed; use printable ASCII punctuation only \
                     (no letters, digits, spaces or non-ASCII characters)"
                ));
            }
            if seen.contains(&c) {
                return Err(format!(
                    "{SECTION} symbols: {c:?} appears more than once; list each symbol once"
                ));
            }
            seen.push(c);
        }
        if self.symbols.is_empty() && self.min_classes > 3 {
            return Err(format!(
                "{SECTION} symbols is empty, so only 3 character classes are available but \
                 min_classes = {}; set min_classes to 3 or less, or list some symbols",
                self.min_classes
            ));
        }
        Ok(())
    }

    /// The character classes in guarantee order: upper, lower, digit, symbol (when any).
    fn classes(&self) -> Vec<Vec<u8>> {
        let keep = |c: &u8| !(self.exclude_ambiguous && AMBIGUOUS.contains(c));
        let mut classes: Vec<Vec<u8>> = vec![
            (b'A'..=b'Z').filter(keep).collect(),
            (b'a'..=b'z').filter(keep).collect(),
            (b'0'..=b'9').filter(keep).collect(),
        ];
        if !self.symbols.is_empty() {
            classes.push(self.symbols.bytes().collect());
        }
        classes
    }
}

/// Why a password could not be generated or delivered. Never contains a password.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("invalid password policy: {0}")]
    Policy(String),
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
    #[error(
        "could not generate a password for account {account} that avoids the account and display \
         names after {attempts} attempts"
    )]
    NameRule { account: String, attempts: usize },
    #[error("password file {path}: cannot {action}: {message}")]
    Io {
        path: String,
        action: &'static str,
        message: String,
    },
    #[error("{what} {path} is a symbolic link; refusing to follow it, use the real path")]
    Symlink { what: &'static str, path: String },
    #[error("{what} {path} is not {expected}")]
    NotRegular {
        what: &'static str,
        path: String,
        expected: &'static str,
    },
    #[error(
        "{what} {path} has mode {mode:04o}, so group/others can read or write it; \
         it must be private to its owner: run `{fix} {path}`"
    )]
    Insecure {
        what: &'static str,
        path: String,
        mode: u32,
        fix: &'static str,
    },
}

// ---------------------------------------------------------------------------------------------
// Randomness

/// A source of uniformly random bytes.
trait ByteSource {
    fn byte(&mut self) -> Result<u8, PasswordError>;
}

/// The OS CSPRNG, read in blocks; the buffer is wiped on drop.
struct OsRng {
    buf: [u8; 64],
    pos: usize,
}

impl OsRng {
    fn new() -> Self {
        OsRng {
            buf: [0; 64],
            pos: 64,
        }
    }
}

impl ByteSource for OsRng {
    fn byte(&mut self) -> Result<u8, PasswordError> {
        if self.pos >= self.buf.len() {
            getrandom::fill(&mut self.buf).map_err(|e| PasswordError::Random(e.to_string()))?;
            self.pos = 0;
        }
        let b = self.buf[self.pos];
        self.buf[self.pos] = 0;
        self.pos += 1;
        Ok(b)
    }
}

impl Drop for OsRng {
    fn drop(&mut self) {
        wipe(&mut self.buf);
    }
}

/// A uniform integer in `0..n` (1 <= n <= 256) by rejection sampling: bytes at or above the
/// largest multiple of `n` are discarded, so every value is exactly equally likely.
fn below(src: &mut impl ByteSource, n: usize) -> Result<usize, PasswordError> {
    if n == 0 || n > 256 {
        return Err(PasswordError::Policy(format!(
            "internal: cannot choose uniformly among {n} values"
        )));
    }
    let limit = 256 - 256 % n;
    loop {
        let b = usize::from(src.byte()?);
        if b < limit {
            return Ok(b % n);
        }
    }
}

/// Best-effort erasure of a buffer that held a password.
fn wipe(buf: &mut [u8]) {
    buf.fill(0);
    std::hint::black_box(&*buf);
}

// ---------------------------------------------------------------------------------------------
// Generation

/// The lowercased strings a password must not contain (AD's rule): the account name when it has
/// at least 3 characters, and every part of the display name of at least 3 characters.
fn forbidden_parts(account: &str, display_name: &str) -> Vec<String> {
    std::iter::once(account)
        .chain(display_name.split(DISPLAY_NAME_DELIMITERS))
        .filter(|p| p.chars().count() >= MIN_NAME_PART)
        .map(str::to_lowercase)
        .collect()
}

fn contains_any(candidate: &[u8], forbidden: &[String]) -> bool {
    let mut lower = candidate.to_ascii_lowercase();
    let hit = forbidden.iter().any(|f| {
        let f = f.as_bytes();
        lower.windows(f.len()).any(|w| w == f)
    });
    wipe(&mut lower);
    hit
}

/// One candidate: one character of each of the first `min_classes` classes, the rest from all
/// classes, then a Fisher–Yates shuffle.
fn candidate(
    policy: &PasswordPolicy,
    classes: &[Vec<u8>],
    all: &[u8],
    src: &mut impl ByteSource,
) -> Result<Vec<u8>, PasswordError> {
    let mut pw = Vec::with_capacity(policy.length);
    for class in classes.iter().take(policy.min_classes) {
        pw.push(class[below(src, class.len())?]);
    }
    while pw.len() < policy.length {
        pw.push(all[below(src, all.len())?]);
    }
    for i in (1..pw.len()).rev() {
        let j = below(src, i + 1)?;
        pw.swap(i, j);
    }
    Ok(pw)
}

fn generate_with(
    policy: &PasswordPolicy,
    forbidden: &[String],
    account: &str,
    max_attempts: usize,
    src: &mut impl ByteSource,
) -> Result<Secret, PasswordError> {
    policy.validate().map_err(PasswordError::Policy)?;
    let classes = policy.classes();
    let all: Vec<u8> = classes.concat();
    for _ in 0..max_attempts {
        let mut pw = candidate(policy, &classes, &all, src)?;
        if contains_any(&pw, forbidden) {
            wipe(&mut pw);
            continue;
        }
        return match String::from_utf8(pw) {
            Ok(s) => Ok(Secret::new(s)),
            // Unreachable: every byte comes from the ASCII classes above.
            Err(e) => {
                let mut bytes = e.into_bytes();
                wipe(&mut bytes);
                Err(PasswordError::Policy(
                    "internal: generated password is not ASCII".to_string(),
                ))
            }
        };
    }
    Err(PasswordError::NameRule {
        account: account.to_string(),
        attempts: max_attempts,
    })
}

/// Generates a password meeting `policy` and AD's rule that it must not contain the account name
/// or any part (at least 3 characters, split on `, . - _ #`, tab and space) of the display name,
/// case-insensitively.
pub fn generate(
    policy: &PasswordPolicy,
    account: &str,
    display_name: &str,
) -> Result<Secret, PasswordError> {
    let forbidden = forbidden_parts(account, display_name);
    generate_with(policy, &forbidden, account, MAX_ATTEMPTS, &mut OsRng::new())
}

/// The `unicodePwd` attribute value: the password in double quotes, encoded UTF-16LE.
pub fn unicode_pwd(password: &Secret) -> Vec<u8> {
    "\"".encode_utf16()
        .chain(password.expose().encode_utf16())
        .chain("\"".encode_utf16())
        .flat_map(u16::to_le_bytes)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Delivery

/// One new account's password, as handed to a [`PasswordFile`].
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub mapping: &'a str,
    pub key: &'a str,
    pub dn: &'a str,
    pub account: &'a str,
    pub password: &'a Secret,
}

#[derive(Serialize)]
struct Line<'a> {
    at: String,
    mapping: &'a str,
    key: &'a str,
    dn: &'a str,
    account: &'a str,
    password: &'a str,
}

/// Appends one JSON line per new account to a file readable by its owner (root) only:
/// `{"at": RFC 3339, "mapping", "key", "dn", "account", "password"}`.
#[derive(Debug)]
pub struct PasswordFile {
    path: PathBuf,
    file: Mutex<File>,
}

fn io_err(path: &Path, action: &'static str, e: &io::Error) -> PasswordError {
    PasswordError::Io {
        path: path.display().to_string(),
        action,
        message: e.to_string(),
    }
}

/// Refuses a symlink, a non-directory, or a directory group/others can read or write.
fn check_dir(path: &Path, m: &Metadata) -> Result<(), PasswordError> {
    check_entry(path, m, true)
}

/// Refuses a symlink, a non-regular file, or a file group/others can read or write.
fn check_file(path: &Path, m: &Metadata) -> Result<(), PasswordError> {
    check_entry(path, m, false)
}

fn check_entry(path: &Path, m: &Metadata, dir: bool) -> Result<(), PasswordError> {
    let shown = || path.display().to_string();
    let what = if dir {
        "password file directory"
    } else {
        "password file"
    };
    if m.file_type().is_symlink() {
        return Err(PasswordError::Symlink {
            what,
            path: shown(),
        });
    }
    if dir != m.is_dir() || (!dir && !m.is_file()) {
        return Err(PasswordError::NotRegular {
            what,
            path: shown(),
            expected: if dir { "a directory" } else { "a regular file" },
        });
    }
    let mode = m.permissions().mode() & 0o7777;
    if mode & 0o066 != 0 {
        return Err(PasswordError::Insecure {
            what,
            path: shown(),
            mode,
            fix: if dir { "chmod 700" } else { "chmod 600" },
        });
    }
    Ok(())
}

impl PasswordFile {
    /// Opens `path` for appending. Creates it with mode 0600 when missing (and its parent
    /// directory with mode 0700). Refuses an existing file or parent directory that group/others
    /// can read or write, or that is a symbolic link.
    pub fn open(path: &Path) -> Result<PasswordFile, PasswordError> {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        match fs::symlink_metadata(parent) {
            Ok(m) => check_dir(parent, &m)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .map_err(|e| io_err(parent, "create its directory", &e))?;
                // The umask may have removed bits; never added any. Make it exactly 0700.
                fs::set_permissions(parent, fs::Permissions::from_mode(0o700))
                    .map_err(|e| io_err(parent, "set its directory's mode", &e))?;
                let m = fs::symlink_metadata(parent)
                    .map_err(|e| io_err(parent, "inspect its directory", &e))?;
                check_dir(parent, &m)?;
            }
            Err(e) => return Err(io_err(parent, "inspect its directory", &e)),
        }

        let file = match fs::symlink_metadata(path) {
            Ok(before) => {
                check_file(path, &before)?;
                let file = OpenOptions::new()
                    .append(true)
                    .open(path)
                    .map_err(|e| io_err(path, "open", &e))?;
                // What was opened must be what was checked (no swap for a symlink in between).
                let after = file.metadata().map_err(|e| io_err(path, "inspect", &e))?;
                if after.dev() != before.dev() || after.ino() != before.ino() {
                    return Err(PasswordError::Symlink {
                        what: "password file",
                        path: path.display().to_string(),
                    });
                }
                check_file(path, &after)?;
                file
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // O_CREAT|O_EXCL: fails on anything already there, including a dangling symlink.
                let file = OpenOptions::new()
                    .append(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|e| io_err(path, "create", &e))?;
                file.set_permissions(fs::Permissions::from_mode(0o600))
                    .map_err(|e| io_err(path, "set its mode", &e))?;
                // Make the new directory entry durable too.
                if let Ok(d) = File::open(parent) {
                    let _ = d.sync_all();
                }
                file
            }
            Err(e) => return Err(io_err(path, "inspect", &e)),
        };
        Ok(PasswordFile {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one JSON line for `d` and fsyncs it. Safe to call concurrently: lines never
    /// interleave.
    pub fn deliver(&self, d: &Delivery<'_>) -> Result<(), PasswordError> {
        let line = Line {
            at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
            mapping: d.mapping,
            key: d.key,
            dn: d.dn,
            account: d.account,
            password: d.password.expose(),
        };
        let mut buf = Vec::with_capacity(256);
        let result = serde_json::to_writer(&mut buf, &line)
            .map_err(|e| PasswordError::Io {
                path: self.path.display().to_string(),
                action: "encode a line",
                message: e.to_string(),
            })
            .and_then(|()| {
                buf.push(b'\n');
                // A panic elsewhere while holding the lock cannot leave the handle unusable.
                let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
                file.write_all(&buf)
                    .map_err(|e| io_err(&self.path, "append", &e))?;
                file.sync_data()
                    .map_err(|e| io_err(&self.path, "fsync", &e))
            });
        wipe(&mut buf);
        result
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::collections::HashSet;
    use std::sync::Arc;

    const RUNS: usize = 2000;

    fn class_count(pw: &str, symbols: &str) -> usize {
        [
            pw.bytes().any(|c| c.is_ascii_uppercase()),
            pw.bytes().any(|c| c.is_ascii_lowercase()),
            pw.bytes().any(|c| c.is_ascii_digit()),
            pw.chars().any(|c| symbols.contains(c)),
        ]
        .iter()
        .filter(|&&b| b)
        .count()
    }

    #[test]
    fn generated_passwords_meet_the_policy_and_the_name_rule() {
        let policy = PasswordPolicy::default();
        let (account, display) = ("alee", "Ann Lee-Smith");
        let mut seen = HashSet::new();
        for _ in 0..RUNS {
            let s = generate(&policy, account, display).unwrap();
            let pw = s.expose();
            assert_eq!(pw.chars().count(), 16);
            assert!(pw.bytes().any(|c| c.is_ascii_uppercase()), "no upper");
            assert!(pw.bytes().any(|c| c.is_ascii_lowercase()), "no lower");
            assert!(pw.bytes().any(|c| c.is_ascii_digit()), "no digit");
            assert!(pw.chars().any(|c| DEFAULT_SYMBOLS.contains(c)), "no symbol");
            for c in pw.chars() {
                assert!(
                    c.is_ascii_alphanumeric() || DEFAULT_SYMBOLS.contains(c),
                    "character {c:?} is not allowed"
                );
                assert!(!"0Oo1lI".contains(c), "ambiguous character {c:?}");
            }
            let lower = pw.to_lowercase();
            for part in ["alee", "ann", "lee", "smith"] {
                assert!(!lower.contains(part), "contains {part}");
            }
            assert!(seen.insert(pw.to_string()), "a password repeated");
        }
        assert_eq!(seen.len(), RUNS);
    }

    #[test]
    fn other_policies_are_honoured() {
        let policy = PasswordPolicy {
            length: 8,
            min_classes: 3,
            symbols: String::new(),
            exclude_ambiguous: false,
        };
        let mut chars = HashSet::new();
        for _ in 0..RUNS {
            let s = generate(&policy, "bob", "Bob Jones").unwrap();
            let pw = s.expose();
            assert_eq!(pw.len(), 8);
            assert!(pw.bytes().all(|c| c.is_ascii_alphanumeric()));
            assert!(pw.bytes().any(|c| c.is_ascii_uppercase()));
            assert!(pw.bytes().any(|c| c.is_ascii_lowercase()));
            assert!(pw.bytes().any(|c| c.is_ascii_digit()));
            chars.extend(pw.chars());
        }
        // Ambiguous characters are allowed here and do show up.
        for c in "0Oo1lI".chars() {
            assert!(chars.contains(&c), "{c:?} never generated");
        }

        let long = PasswordPolicy {
            length: 128,
            min_classes: 2,
            symbols: "@".into(),
            exclude_ambiguous: true,
        };
        for _ in 0..200 {
            let s = generate(&long, "x", "").unwrap();
            let pw = s.expose();
            assert_eq!(pw.len(), 128);
            assert!(class_count(pw, "@") >= 2);
            assert!(pw.chars().all(|c| c.is_ascii_alphanumeric() || c == '@'));
        }
    }

    /// Many short name parts, so that random candidates collide with them often: without the
    /// name rule most of these passwords would contain one.
    #[test]
    fn name_parts_are_avoided_even_when_collisions_are_likely() {
        let letters = ["a", "b", "c", "d", "e", "f", "g", "h"];
        let mut parts = Vec::new();
        for x in letters {
            for y in letters {
                for z in letters {
                    parts.push(format!("{x}{y}{z}"));
                }
            }
        }
        let display = parts.join(" ");
        let policy = PasswordPolicy {
            length: 128,
            ..PasswordPolicy::default()
        };
        let forbidden = forbidden_parts("kdef", &display);
        assert_eq!(forbidden.len(), 1 + parts.len());
        for _ in 0..100 {
            let s = generate(&policy, "KDEF", &display).unwrap();
            let lower = s.expose().to_lowercase();
            for f in &forbidden {
                assert!(!lower.contains(f.as_str()), "contains {f}");
            }
        }
    }

    #[test]
    fn name_parts_follow_ad_rules() {
        assert_eq!(
            forbidden_parts("alee", "Ann Lee-Smith"),
            ["alee", "ann", "lee", "smith"]
        );
        // Short parts and short account names are ignored; every delimiter splits.
        assert_eq!(
            forbidden_parts("al", "Jo,Ann.Ma-Rie_Zoë#Tab\tX Y"),
            ["ann", "rie", "zoë", "tab"]
        );
        assert!(contains_any(b"xxANNxx", &forbidden_parts("q", "Ann")));
        assert!(contains_any(b"xxaLeExx", &forbidden_parts("alee", "")));
        assert!(!contains_any(b"xxanxxee", &forbidden_parts("alee", "Ann")));
    }

    #[test]
    fn giving_up_on_the_name_rule_is_an_error_without_the_password() {
        // Forbid every lowercase letter: min_classes = 4 always places one.
        let forbidden: Vec<String> = ('a'..='z').map(String::from).collect();
        let err = generate_with(
            &PasswordPolicy::default(),
            &forbidden,
            "alee",
            5,
            &mut OsRng::new(),
        )
        .unwrap_err();
        assert!(matches!(err, PasswordError::NameRule { attempts: 5, .. }));
        assert!(err.to_string().contains("alee"), "{err}");
    }

    struct Scripted(Vec<u8>);
    impl ByteSource for Scripted {
        fn byte(&mut self) -> Result<u8, PasswordError> {
            if self.0.is_empty() {
                return Err(PasswordError::Random("script exhausted".into()));
            }
            Ok(self.0.remove(0))
        }
    }

    #[test]
    fn choices_reject_bytes_that_would_bias_them() {
        // n = 10: 250..=255 would over-represent 0..=5, so they are skipped.
        let mut src = Scripted(vec![255, 250, 249, 3]);
        assert_eq!(below(&mut src, 10).unwrap(), 9);
        assert_eq!(below(&mut src, 10).unwrap(), 3);
        // n = 3: limit 255.
        let mut src = Scripted(vec![255, 254]);
        assert_eq!(below(&mut src, 3).unwrap(), 2);
        // Powers of two never reject.
        let mut src = Scripted(vec![255]);
        assert_eq!(below(&mut src, 64).unwrap(), 63);
        assert!(below(&mut Scripted(vec![1]), 0).is_err());
        assert!(below(&mut Scripted(vec![1]), 257).is_err());
    }

    #[test]
    fn required_classes_are_shuffled_into_every_position() {
        // The guaranteed characters are placed first (upper, lower, digit, symbol); after the
        // shuffle every class must show up at every position.
        let policy = PasswordPolicy {
            length: 8,
            min_classes: 4,
            symbols: "@".into(),
            exclude_ambiguous: true,
        };
        let class_of = |c: char| match c {
            'A'..='Z' => 0,
            'a'..='z' => 1,
            '0'..='9' => 2,
            _ => 3,
        };
        let mut seen = [[false; 4]; 8];
        for _ in 0..RUNS {
            let s = generate(&policy, "", "").unwrap();
            for (i, c) in s.expose().chars().enumerate() {
                seen[i][class_of(c)] = true;
            }
        }
        assert_eq!(seen, [[true; 4]; 8]);
    }

    #[test]
    fn unicode_pwd_is_quoted_utf16le() {
        let v = unicode_pwd(&Secret::new("ab"));
        let expected: Vec<u8> = "\"ab\"".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(v, expected);
        assert_eq!(v, [0x22, 0, b'a', 0, b'b', 0, 0x22, 0]);
        // Outside the BMP: a surrogate pair, little-endian.
        assert_eq!(
            unicode_pwd(&Secret::new("😀")),
            [0x22, 0, 0x3D, 0xD8, 0x00, 0xDE, 0x22, 0]
        );
    }

    #[test]
    fn policy_validation_names_the_key() {
        assert_eq!(PasswordPolicy::default().validate(), Ok(()));
        let p = |f: fn(&mut PasswordPolicy)| {
            let mut p = PasswordPolicy::default();
            f(&mut p);
            p.validate().unwrap_err()
        };
        let e = p(|p| p.length = 4);
        assert!(e.contains("length") && e.contains('4'), "{e}");
        let e = p(|p| p.length = 129);
        assert!(e.contains("length"), "{e}");
        let e = p(|p| p.min_classes = 5);
        assert!(e.contains("min_classes"), "{e}");
        let e = p(|p| p.min_classes = 0);
        assert!(e.contains("min_classes"), "{e}");
        let e = p(|p| p.symbols = String::new());
        assert!(e.contains("symbols") && e.contains("min_classes"), "{e}");
        let e = p(|p| p.symbols = "!a".into());
        assert!(e.contains("symbols"), "{e}");
        let e = p(|p| p.symbols = "! ".into());
        assert!(e.contains("symbols"), "{e}");
        let e = p(|p| p.symbols = "!!".into());
        assert!(e.contains("symbols"), "{e}");
        let ok = PasswordPolicy {
            symbols: String::new(),
            min_classes: 3,
            ..PasswordPolicy::default()
        };
        assert_eq!(ok.validate(), Ok(()));

        let err = generate(
            &PasswordPolicy {
                length: 4,
                ..PasswordPolicy::default()
            },
            "a",
            "b",
        )
        .unwrap_err();
        assert!(matches!(err, PasswordError::Policy(ref m) if m.contains("length")));
    }

    #[test]
    fn policy_deserializes_with_defaults_and_rejects_unknown_keys() {
        let p: PasswordPolicy = serde_json::from_str("{}").unwrap();
        assert_eq!(p, PasswordPolicy::default());
        assert_eq!(p.length, 16);
        assert_eq!(p.min_classes, 4);
        assert_eq!(p.symbols, "!#%+-.:=?@_~");
        assert!(p.exclude_ambiguous);
        let p: PasswordPolicy =
            serde_json::from_str(r#"{"length": 20, "exclude_ambiguous": false}"#).unwrap();
        assert_eq!((p.length, p.exclude_ambiguous), (20, false));
        assert!(serde_json::from_str::<PasswordPolicy>(r#"{"lenght": 20}"#).is_err());
    }

    /// A temporary directory private to its owner (tempfile's mode depends on the umask).
    fn private_tmp() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o700)).unwrap();
        tmp
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn delivery<'a>(account: &'a str, password: &'a Secret) -> Delivery<'a> {
        Delivery {
            mapping: "staff",
            key: "E42",
            dn: "CN=Ann Lee-Smith,OU=Staff,DC=example,DC=org",
            account,
            password,
        }
    }

    #[test]
    fn password_file_is_private_and_holds_one_json_line_per_delivery() {
        let tmp = private_tmp();
        let dir = tmp.path().join("secrets");
        let path = dir.join("passwords.jsonl");
        let pf = PasswordFile::open(&path).unwrap();
        assert_eq!(pf.path(), path);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&path), 0o600);

        let (a, b) = (Secret::new("Pa\"ss\\1"), Secret::new("Zz9@second"));
        pf.deliver(&delivery("alee", &a)).unwrap();
        pf.deliver(&delivery("bob", &b)).unwrap();
        drop(pf);

        let text = fs::read_to_string(&path).unwrap();
        assert!(text.ends_with('\n'));
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["account"], "alee");
        assert_eq!(lines[0]["password"], "Pa\"ss\\1");
        assert_eq!(lines[0]["mapping"], "staff");
        assert_eq!(lines[0]["key"], "E42");
        assert_eq!(
            lines[0]["dn"],
            "CN=Ann Lee-Smith,OU=Staff,DC=example,DC=org"
        );
        assert_eq!(lines[1]["account"], "bob");
        assert_eq!(lines[1]["password"], "Zz9@second");
        let at = lines[0]["at"].as_str().unwrap();
        chrono::DateTime::parse_from_rfc3339(at).unwrap();
        let keys: Vec<&str> = lines[0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["at", "mapping", "key", "dn", "account", "password"]);

        // Reopening an existing private file appends.
        let pf = PasswordFile::open(&path).unwrap();
        pf.deliver(&delivery("carol", &a)).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 3);
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn concurrent_deliveries_never_interleave() {
        let tmp = private_tmp();
        let path = tmp.path().join("passwords.jsonl");
        let pf = Arc::new(PasswordFile::open(&path).unwrap());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let pf = Arc::clone(&pf);
                std::thread::spawn(move || {
                    for i in 0..25 {
                        let pw = Secret::new("x".repeat(3000));
                        let account = format!("u{t}-{i}");
                        pf.deliver(&delivery(&account, &pw)).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = fs::read_to_string(&path).unwrap();
        let accounts: HashSet<String> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["account"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(accounts.len(), 100);
    }

    #[test]
    fn readable_file_or_directory_is_refused_with_the_chmod_hint() {
        let tmp = private_tmp();
        let path = tmp.path().join("passwords.jsonl");
        fs::write(&path, "").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = PasswordFile::open(&path).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, PasswordError::Insecure { .. }), "{msg}");
        assert!(msg.contains("chmod 600"), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("0644"), "{msg}");
        // Not silently "fixed".
        assert_eq!(mode(&path), 0o644);

        fs::set_permissions(&path, fs::Permissions::from_mode(0o620)).unwrap();
        assert!(matches!(
            PasswordFile::open(&path),
            Err(PasswordError::Insecure { .. })
        ));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        PasswordFile::open(&path).unwrap();

        let open_dir = tmp.path().join("shared");
        fs::create_dir(&open_dir).unwrap();
        fs::set_permissions(&open_dir, fs::Permissions::from_mode(0o755)).unwrap();
        let in_open = open_dir.join("passwords.jsonl");
        let msg = PasswordFile::open(&in_open).unwrap_err().to_string();
        assert!(
            msg.contains("chmod 700")
                && msg.contains("directory")
                && msg.contains(&open_dir.display().to_string()),
            "{msg}"
        );
        assert!(!in_open.exists());
    }

    #[test]
    fn symlinks_are_refused() {
        let tmp = private_tmp();
        let target = tmp.path().join("real.jsonl");
        fs::write(&target, "").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).unwrap();
        let link = tmp.path().join("passwords.jsonl");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = PasswordFile::open(&link).unwrap_err();
        assert!(matches!(err, PasswordError::Symlink { .. }), "{err}");
        assert!(err.to_string().contains("passwords.jsonl"), "{err}");

        // A dangling symlink is not followed to create its target.
        let dangling = tmp.path().join("dangling.jsonl");
        std::os::unix::fs::symlink(tmp.path().join("nowhere"), &dangling).unwrap();
        assert!(matches!(
            PasswordFile::open(&dangling),
            Err(PasswordError::Symlink { .. })
        ));
        assert!(!tmp.path().join("nowhere").exists());

        // A symlinked parent directory is refused too.
        let real_dir = tmp.path().join("real-dir");
        fs::create_dir(&real_dir).unwrap();
        fs::set_permissions(&real_dir, fs::Permissions::from_mode(0o700)).unwrap();
        let dir_link = tmp.path().join("dir-link");
        std::os::unix::fs::symlink(&real_dir, &dir_link).unwrap();
        assert!(matches!(
            PasswordFile::open(&dir_link.join("p.jsonl")),
            Err(PasswordError::Symlink { .. })
        ));

        // A directory where the file should be.
        let d = tmp.path().join("a-dir");
        fs::create_dir(&d).unwrap();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).unwrap();
        assert!(matches!(
            PasswordFile::open(&d),
            Err(PasswordError::NotRegular { .. })
        ));
    }

    #[test]
    fn secrets_do_not_leak_through_debug() {
        let pw = Secret::new("Sup3r-Secret!");
        let d = delivery("alee", &pw);
        assert!(!format!("{d:?}").contains("Sup3r"));
    }
}
